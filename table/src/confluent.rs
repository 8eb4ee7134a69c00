//! The Confluent wire format of a record value: a magic byte 0, the writer
//! schema's id in the registry (4 bytes, big-endian), then the payload
//! (for Avro, the datum alone).

use std::sync::Arc;

use crate::dead_letters::{Rejection, RejectionCode};

/// A schema as a Confluent registry holds it, parsed by its `schemaType`.
#[derive(Debug, Clone)]
pub enum RegisteredSchema {
    Avro(Arc<apache_avro::Schema>),
    /// A JSON Schema document.
    Json(Arc<serde_json::Value>),
    /// A compiled `.proto` file.
    Protobuf(prost_reflect::FileDescriptor),
}

impl RegisteredSchema {
    /// Parses a registry's `schema` text; `schema_type` is its `schemaType`
    /// (absent for Avro). `imports` are the `.proto` files a Protobuf
    /// schema imports, by name (its references). The error says what the
    /// text is instead.
    pub fn parse(schema_type: Option<&str>, text: &str, imports: &[(String, String)]) -> Result<Self, String> {
        match schema_type.unwrap_or("AVRO") {
            "AVRO" => apache_avro::Schema::parse_str(text)
                .map(|schema| Self::Avro(Arc::new(schema)))
                .map_err(|e| format!("not a valid Avro schema: {e}")),
            "JSON" => match serde_json::from_str::<serde_json::Value>(text) {
                Ok(document @ (serde_json::Value::Object(_) | serde_json::Value::Bool(_))) => {
                    Ok(Self::Json(Arc::new(document)))
                }
                Ok(_) => Err("not a valid JSON Schema: neither an object nor a boolean".to_string()),
                Err(e) => Err(format!("not a valid JSON Schema: not JSON ({e})")),
            },
            "PROTOBUF" => crate::protobuf::compile(text, imports).map(Self::Protobuf),
            other => Err(format!("is a {other} schema, which floe does not read (it reads AVRO, JSON and PROTOBUF)")),
        }
    }

    /// What it is, for messages: "an Avro schema".
    pub fn describe(&self) -> &'static str {
        match self {
            Self::Avro(_) => "an Avro schema",
            Self::Json(_) => "a JSON Schema",
            Self::Protobuf(_) => "a Protobuf schema",
        }
    }
}

const MAGIC: u8 = 0;
const HEADER_LEN: usize = 5;

/// The writer schema's id and the payload of a wire-format value.
pub fn split(value: &[u8]) -> Result<(u32, &[u8]), Rejection> {
    split_header(value).ok_or_else(|| {
        let what = match value.first() {
            Some(&first) if value.len() >= HEADER_LEN => {
                format!("its first byte is {first:#04x}, not the magic byte 0x00")
            }
            _ => format!("{} bytes, shorter than the 5-byte header", value.len()),
        };
        Rejection::new(RejectionCode::NotWireFormat, format!("value is not in the Confluent wire format: {what}"))
    })
}

/// The schema id of a wire-format value, `None` for any other value.
pub fn schema_id(value: &[u8]) -> Option<u32> {
    split_header(value).map(|(id, _)| id)
}

fn split_header(value: &[u8]) -> Option<(u32, &[u8])> {
    let (header, payload) = value.split_first_chunk::<HEADER_LEN>()?;
    (header[0] == MAGIC).then(|| (u32::from_be_bytes([header[1], header[2], header[3], header[4]]), payload))
}

/// `payload` framed in the wire format under schema `id`.
pub fn frame(id: u32, payload: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(HEADER_LEN + payload.len());
    value.push(MAGIC);
    value.extend_from_slice(&id.to_be_bytes());
    value.extend_from_slice(payload);
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_header_from_the_payload() {
        assert_eq!(split(&[0, 0, 0, 1, 2, 0xaa, 0xbb]).unwrap(), (258, &[0xaa, 0xbb][..]));
        assert_eq!(split(&frame(7, b"")).unwrap(), (7, &[][..]));
        assert_eq!(schema_id(&frame(u32::MAX, b"x")), Some(u32::MAX));
    }

    #[test]
    fn parses_schemas_by_their_type() {
        let avro = RegisteredSchema::parse(None, r#""long""#, &[]).unwrap();
        assert!(matches!(&avro, RegisteredSchema::Avro(s) if **s == apache_avro::Schema::Long));
        let json = RegisteredSchema::parse(Some("JSON"), r#"{"type": "object"}"#, &[]).unwrap();
        assert!(matches!(&json, RegisteredSchema::Json(d) if d["type"] == "object"));
        assert_eq!((avro.describe(), json.describe()), ("an Avro schema", "a JSON Schema"));
        let imports =
            [("common.proto".to_string(), "syntax = \"proto3\"; message Money { int64 cents = 1; }".to_string())];
        let proto = "syntax = \"proto3\"; import \"common.proto\"; message Order { Money total = 1; }";
        let protobuf = RegisteredSchema::parse(Some("PROTOBUF"), proto, &imports).unwrap();
        assert!(matches!(&protobuf, RegisteredSchema::Protobuf(f) if f.messages().next().unwrap().name() == "Order"));
        let refused = |schema_type, text| RegisteredSchema::parse(schema_type, text, &[]).unwrap_err();
        assert_eq!(
            refused(Some("XML"), "<schema/>"),
            "is a XML schema, which floe does not read (it reads AVRO, JSON and PROTOBUF)"
        );
        let missing_import = refused(Some("PROTOBUF"), proto);
        assert!(missing_import.starts_with("not a valid Protobuf schema: "), "{missing_import}");
        assert!(missing_import.contains("common.proto"), "{missing_import}");
        assert!(refused(Some("AVRO"), r#"{"type": "nope"}"#).starts_with("not a valid Avro schema"));
        assert_eq!(refused(Some("JSON"), "[1]"), "not a valid JSON Schema: neither an object nor a boolean");
        assert!(refused(Some("JSON"), "{").starts_with("not a valid JSON Schema: not JSON ("));
    }

    #[test]
    fn refuses_other_values_and_says_why() {
        let short = split(&[0, 0, 1]).unwrap_err();
        assert_eq!(short.code, RejectionCode::NotWireFormat);
        assert_eq!(short.message, "value is not in the Confluent wire format: 3 bytes, shorter than the 5-byte header");
        let json = split(br#"{"id": 1}"#).unwrap_err();
        assert_eq!(
            json.message,
            "value is not in the Confluent wire format: its first byte is 0x7b, not the magic byte 0x00"
        );
        assert_eq!(schema_id(b""), None);
    }
}
