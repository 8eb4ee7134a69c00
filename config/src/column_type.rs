//! Column types a mapping can declare.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use serde::de::{self, Deserializer, Unexpected, Visitor};

/// The Iceberg type of a mapped column. Written in lowercase; the seed's
/// types plus `timestamptz` and `decimal(p,s)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    Boolean,
    Int,
    Long,
    Float,
    Double,
    String,
    Binary,
    /// Microseconds, no time zone; values are normalised to UTC.
    Timestamp,
    /// Microseconds, UTC.
    TimestampTz,
    Date,
    Decimal {
        precision: u8,
        scale: u8,
    },
}

/// Iceberg's limit, which is also what fits in 16 bytes.
pub const MAX_DECIMAL_PRECISION: u8 = 38;

const EXPECTED_TYPE: &str = "one of boolean, int, long, float, double, string, binary, \
     timestamp, timestamptz, date, decimal(p,s)";
const EXPECTED_DECIMAL: &str = "decimal(p,s) with precision p from 1 to 38 and scale s from 0 to p";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a column type: expected {expected}")]
pub struct InvalidColumnType {
    pub text: String,
    pub expected: &'static str,
}

impl FromStr for ColumnType {
    type Err = InvalidColumnType;

    /// Case-insensitive, as the seed processor reads types.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = |expected| InvalidColumnType { text: text.to_owned(), expected };
        let lower = text.trim().to_ascii_lowercase();
        Ok(match lower.as_str() {
            "boolean" => Self::Boolean,
            "int" => Self::Int,
            "long" => Self::Long,
            "float" => Self::Float,
            "double" => Self::Double,
            "string" => Self::String,
            "binary" => Self::Binary,
            "timestamp" => Self::Timestamp,
            "timestamptz" => Self::TimestampTz,
            "date" => Self::Date,
            other => {
                let arguments = other
                    .strip_prefix("decimal(")
                    .and_then(|rest| rest.strip_suffix(')'))
                    .ok_or_else(|| invalid(EXPECTED_TYPE))?;
                let (precision, scale) = parse_decimal(arguments).ok_or_else(|| invalid(EXPECTED_DECIMAL))?;
                Self::Decimal { precision, scale }
            }
        })
    }
}

fn parse_decimal(arguments: &str) -> Option<(u8, u8)> {
    let (precision, scale) = arguments.split_once(',')?;
    let precision: u8 = precision.trim().parse().ok()?;
    let scale: u8 = scale.trim().parse().ok()?;
    let valid = (1..=MAX_DECIMAL_PRECISION).contains(&precision) && scale <= precision;
    valid.then_some((precision, scale))
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Boolean => "boolean",
            Self::Int => "int",
            Self::Long => "long",
            Self::Float => "float",
            Self::Double => "double",
            Self::String => "string",
            Self::Binary => "binary",
            Self::Timestamp => "timestamp",
            Self::TimestampTz => "timestamptz",
            Self::Date => "date",
            Self::Decimal { precision, scale } => return write!(f, "decimal({precision},{scale})"),
        };
        f.write_str(name)
    }
}

impl<'de> Deserialize<'de> for ColumnType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(ColumnTypeVisitor)
    }
}

struct ColumnTypeVisitor;

impl Visitor<'_> for ColumnTypeVisitor {
    type Value = ColumnType;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED_TYPE)
    }

    // Failing inside the visitor, not after it, keeps the value's position.
    fn visit_str<E: de::Error>(self, text: &str) -> Result<ColumnType, E> {
        text.parse().map_err(|error: InvalidColumnType| E::invalid_value(Unexpected::Str(text), &error.expected))
    }
}
