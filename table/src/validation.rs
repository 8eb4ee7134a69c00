//! Records checked against the topic's JSON Schema (`schema.mode`).
//!
//! A schema is compiled once per table definition; each record's JSON
//! value is then checked before it becomes a row. A record without a value
//! (a tombstone) carries no JSON to check and is not validated. The
//! schema's `$ref`s must stay inside the document: nothing is fetched while
//! compiling, so a worker never blocks on another server.

use serde_json::Value;

use crate::dead_letters::{Rejection, RejectionCode};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the JSON Schema cannot be used for validation: {0}")]
pub struct InvalidSchema(String);

/// A compiled JSON Schema.
pub struct RecordValidator {
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for RecordValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordValidator")
    }
}

impl RecordValidator {
    pub fn compile(document: &str) -> Result<Self, InvalidSchema> {
        let schema: Value = serde_json::from_str(document).map_err(|e| InvalidSchema(format!("not JSON: {e}")))?;
        // Formats are checked too: a `date-time` that is not one would not
        // convert to its column either.
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .map_err(|e| InvalidSchema(e.to_string()))?;
        Ok(Self { validator })
    }

    /// Why a record's value does not match, naming where in the value and
    /// which keyword; `None` when it matches or has no value.
    pub fn check(&self, value: Option<&[u8]>) -> Option<Rejection> {
        let instance: Value = match serde_json::from_slice(value?) {
            Ok(instance) => instance,
            Err(e) => return Some(invalid(format!("value is not JSON: {e}"))),
        };
        let error = self.validator.iter_errors(&instance).next()?;
        let path = error.instance_path().to_string();
        let at = if path.is_empty() { "the value".to_string() } else { format!("`{path}`") };
        Some(invalid(format!("{at} fails keyword `{}`: {error}", error.kind().keyword())))
    }
}

fn invalid(message: String) -> Rejection {
    Rejection::new(RejectionCode::SchemaInvalid, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDERS: &str = r#"{
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": {"type": "integer"},
            "customer": {"type": "object", "properties": {"tier": {"enum": ["gold", "silver"]}}},
            "at": {"type": "string", "format": "date-time"}
        }
    }"#;

    fn check(value: &str) -> Option<String> {
        RecordValidator::compile(ORDERS).unwrap().check(Some(value.as_bytes())).map(|r| {
            assert_eq!(r.code, RejectionCode::SchemaInvalid);
            r.message
        })
    }

    #[test]
    fn names_the_instance_path_and_the_keyword() {
        assert_eq!(check(r#"{"id": 7, "customer": {"tier": "gold"}, "at": "2026-01-01T00:00:00Z"}"#), None);
        assert_eq!(check(r#"{"id": "7"}"#).unwrap(), r#"`/id` fails keyword `type`: "7" is not of type "integer""#);
        assert_eq!(
            check(r#"{"note": 1}"#).unwrap(),
            r#"the value fails keyword `required`: "id" is a required property"#
        );
        assert_eq!(
            check(r#"{"id": 1, "customer": {"tier": "bronze"}}"#).unwrap(),
            r#"`/customer/tier` fails keyword `enum`: "bronze" is not one of "gold" or "silver""#
        );
        assert_eq!(
            check(r#"{"id": 1, "at": "yesterday"}"#).unwrap(),
            r#"`/at` fails keyword `format`: "yesterday" is not a "date-time""#
        );
        assert!(check("{nope").unwrap().starts_with("value is not JSON: "));
    }

    #[test]
    fn tombstones_are_not_checked_and_bad_schemas_are_refused() {
        assert_eq!(RecordValidator::compile(ORDERS).unwrap().check(None), None);
        assert!(RecordValidator::compile("{").unwrap_err().to_string().contains("not JSON"));
        let remote = r#"{"properties": {"a": {"$ref": "https://example.com/a.json"}}}"#;
        assert!(RecordValidator::compile(remote).is_err());
        assert!(RecordValidator::compile(r#"{"type": 12}"#).is_err());
    }
}
