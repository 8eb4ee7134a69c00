//! The Confluent wire format of a record value: a magic byte 0, the writer
//! schema's id in the registry (4 bytes, big-endian), then the payload
//! (for Avro, the datum alone).

use crate::dead_letters::{Rejection, RejectionCode};

const MAGIC: u8 = 0;
const HEADER_LEN: usize = 5;

/// The writer schema's id and the payload of a wire-format value.
pub fn split(value: &[u8]) -> Result<(u32, &[u8]), Rejection> {
    let not_wire = |what: String| {
        Rejection::new(RejectionCode::NotWireFormat, format!("value is not in the Confluent wire format: {what}"))
    };
    let Some((header, payload)) = value.split_first_chunk::<HEADER_LEN>() else {
        return Err(not_wire(format!("{} bytes, shorter than the 5-byte header", value.len())));
    };
    if header[0] != MAGIC {
        return Err(not_wire(format!("its first byte is {:#04x}, not the magic byte 0x00", header[0])));
    }
    let id = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    Ok((id, payload))
}

/// The schema id of a wire-format value, `None` for any other value.
pub fn schema_id(value: &[u8]) -> Option<u32> {
    split(value).ok().map(|(id, _)| id)
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
