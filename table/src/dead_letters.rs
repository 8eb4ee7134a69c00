//! Why a record could not become a row. Such a record is never dropped: it
//! goes to the table's dead-letter table with its reason, committed with the
//! same offsets as the rows around it.

use std::fmt;

/// A stable, groupable name for each kind of reason (the `reason_code`
/// column, and the label of the dead-letter metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectionCode {
    /// A tombstone: the record has no value to read columns from.
    NoValue,
    NotJson,
    /// Valid JSON, but not an object.
    NotObject,
    MissingRequired,
    /// A field whose value does not convert to its column's type.
    TypeMismatch,
    /// The table reads the Confluent wire format; the value is not in it.
    NotWireFormat,
    /// The registry has no schema with the value's id.
    UnknownSchemaId,
    /// The payload does not decode with its writer schema.
    Undecodable,
    /// An LFS envelope that is not valid JSON or lacks a required field.
    LfsEnvelope,
    /// The blob an LFS envelope names does not exist.
    LfsMissing,
    /// The blob's length is not the envelope's `size`.
    LfsSize,
    /// The blob's sha256 is not the envelope's.
    LfsChecksum,
    /// The blob is over the mapping's `lfs.max_blob_bytes`.
    LfsTooLarge,
    /// The value does not match the topic's JSON Schema (`schema.mode`).
    SchemaInvalid,
}

impl RejectionCode {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectionCode::NoValue => "no_value",
            RejectionCode::NotJson => "not_json",
            RejectionCode::NotObject => "not_object",
            RejectionCode::MissingRequired => "missing_required",
            RejectionCode::TypeMismatch => "type_mismatch",
            RejectionCode::NotWireFormat => "not_wire_format",
            RejectionCode::UnknownSchemaId => "unknown_schema_id",
            RejectionCode::Undecodable => "undecodable",
            RejectionCode::LfsEnvelope => "lfs_envelope",
            RejectionCode::LfsMissing => "lfs_missing",
            RejectionCode::LfsSize => "lfs_size",
            RejectionCode::LfsChecksum => "lfs_checksum",
            RejectionCode::LfsTooLarge => "lfs_too_large",
            RejectionCode::SchemaInvalid => "schema_invalid",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: RejectionCode,
    /// For people: names the column and the value at fault.
    pub message: String,
}

impl Rejection {
    pub fn new(code: RejectionCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

/// Why a wire-format payload gave no cells. The two kinds are two
/// dead-letter reasons: bytes their writer schema does not describe, or a
/// field that does not fit its column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The payload is not a datum (or message) of its writer schema.
    #[error("{0}")]
    Undecodable(String),
    /// Mapped column `index`'s field does not convert to the column's type.
    #[error("mapped column {index}: {reason}")]
    Column { index: usize, reason: String },
}

impl PayloadError {
    /// The dead-letter reason; `name` gives a mapped column's name by index.
    pub fn rejection<'n>(self, name: impl FnOnce(usize) -> &'n str) -> Rejection {
        match self {
            PayloadError::Undecodable(reason) => Rejection::new(RejectionCode::Undecodable, reason),
            PayloadError::Column { index, reason } => {
                Rejection::new(RejectionCode::TypeMismatch, format!("column `{}`: {reason}", name(index)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_error_is_the_dead_letter_reason_of_its_kind() {
        let name = |index: usize| ["id", "amount"][index];
        let undecodable = PayloadError::Undecodable("3 bytes are left".into()).rejection(name);
        assert_eq!(undecodable, Rejection::new(RejectionCode::Undecodable, "3 bytes are left"));
        let column = PayloadError::Column { index: 1, reason: "\"x\" does not convert to long".into() }.rejection(name);
        let expected = "column `amount`: \"x\" does not convert to long";
        assert_eq!(column, Rejection::new(RejectionCode::TypeMismatch, expected));
    }
}
