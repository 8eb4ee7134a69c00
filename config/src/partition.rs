//! How a mapping partitions its table (`partition_by`), in Iceberg's
//! transforms: `column` or `identity(column)`, `year(c)`, `month(c)`,
//! `day(c)`, `hour(c)`, `bucket(N, c)` and `truncate(W, c)` (Spark's
//! spelling) or `bucket[N](c)` and `truncate[W](c)` (Iceberg's).

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use serde::de::{self, Deserializer, Unexpected, Visitor};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartitionTransform {
    Identity,
    Year,
    Month,
    Day,
    Hour,
    /// Hash of the value into N buckets.
    Bucket(u32),
    /// Values cut to width W (strings to W characters, numbers down to a
    /// multiple of W).
    Truncate(u32),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartitionField {
    pub column: String,
    pub transform: PartitionTransform,
}

const EXPECTED: &str = "a column, or identity(c), year(c), month(c), day(c), hour(c), bucket(N, c) or truncate(W, c)";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a partition field: expected {EXPECTED}")]
pub struct InvalidPartitionField(pub String);

impl PartitionField {
    /// The partition field's name in the table, as Spark names them.
    pub fn name(&self) -> String {
        let c = &self.column;
        match self.transform {
            PartitionTransform::Identity => c.clone(),
            PartitionTransform::Year => format!("{c}_year"),
            PartitionTransform::Month => format!("{c}_month"),
            PartitionTransform::Day => format!("{c}_day"),
            PartitionTransform::Hour => format!("{c}_hour"),
            PartitionTransform::Bucket(_) => format!("{c}_bucket"),
            PartitionTransform::Truncate(_) => format!("{c}_trunc"),
        }
    }
}

impl FromStr for PartitionField {
    type Err = InvalidPartitionField;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidPartitionField(text.to_string());
        let text = text.trim();
        let Some(open) = text.find(['(', '[']) else {
            return valid_column(text).map(|column| Self { column, transform: PartitionTransform::Identity });
        };
        let name = text[..open].trim().to_ascii_lowercase();
        let rest = text[open..].strip_suffix(')').ok_or_else(invalid)?;
        // bucket[16](c) is bucket(16, c).
        let arguments = match rest.strip_prefix('[') {
            Some(bracketed) => {
                let (width, column) = bracketed.split_once("](").ok_or_else(invalid)?;
                format!("{width},{column}")
            }
            None => rest.strip_prefix('(').ok_or_else(invalid)?.to_string(),
        };
        let parts: Vec<&str> = arguments.split(',').map(str::trim).collect();
        let width = || parts[0].parse::<u32>().ok().filter(|w| *w > 0).ok_or_else(invalid);
        let (transform, column) = match (name.as_str(), parts.len()) {
            ("identity", 1) => (PartitionTransform::Identity, parts[0]),
            ("year" | "years", 1) => (PartitionTransform::Year, parts[0]),
            ("month" | "months", 1) => (PartitionTransform::Month, parts[0]),
            ("day" | "days", 1) => (PartitionTransform::Day, parts[0]),
            ("hour" | "hours", 1) => (PartitionTransform::Hour, parts[0]),
            ("bucket", 2) => (PartitionTransform::Bucket(width()?), parts[1]),
            ("truncate", 2) => (PartitionTransform::Truncate(width()?), parts[1]),
            _ => return Err(invalid()),
        };
        Ok(Self { column: valid_column(column).map_err(|_| invalid())?, transform })
    }
}

fn valid_column(text: &str) -> Result<String, InvalidPartitionField> {
    let ok = !text.is_empty() && text.chars().all(|c| c.is_alphanumeric() || c == '_');
    if ok { Ok(text.to_string()) } else { Err(InvalidPartitionField(text.to_string())) }
}

impl fmt::Display for PartitionField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.column;
        match self.transform {
            PartitionTransform::Identity => write!(f, "{c}"),
            PartitionTransform::Year => write!(f, "year({c})"),
            PartitionTransform::Month => write!(f, "month({c})"),
            PartitionTransform::Day => write!(f, "day({c})"),
            PartitionTransform::Hour => write!(f, "hour({c})"),
            PartitionTransform::Bucket(n) => write!(f, "bucket({n}, {c})"),
            PartitionTransform::Truncate(w) => write!(f, "truncate({w}, {c})"),
        }
    }
}

impl<'de> Deserialize<'de> for PartitionField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = PartitionField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<PartitionField, E> {
                text.parse().map_err(|_| E::invalid_value(Unexpected::Str(text), &EXPECTED))
            }
        }
        deserializer.deserialize_str(FieldVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(text: &str) -> PartitionField {
        text.parse().unwrap()
    }

    #[test]
    fn reads_spark_and_iceberg_spellings() {
        assert_eq!(
            field("status"),
            PartitionField { column: "status".into(), transform: PartitionTransform::Identity }
        );
        assert_eq!(field("day(record_time)").transform, PartitionTransform::Day);
        assert_eq!(field("HOUR(created_at)").name(), "created_at_hour");
        assert_eq!(field("bucket(16, customer_id)").transform, PartitionTransform::Bucket(16));
        assert_eq!(field("bucket[16](customer_id)"), field("bucket(16, customer_id)"));
        assert_eq!(field("truncate[4](status)").name(), "status_trunc");
        assert_eq!(field("truncate(4,status)").to_string(), "truncate(4, status)");
        for bad in ["", "day()", "bucket(0, c)", "bucket(c)", "weeks(c)", "day(a b)", "truncate[4(c)"] {
            assert!(bad.parse::<PartitionField>().is_err(), "{bad}");
        }
    }
}
