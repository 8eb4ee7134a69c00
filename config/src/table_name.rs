//! Iceberg table identifiers as written in mappings: `namespace.table`.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use serde::de::{self, Deserializer, Unexpected, Visitor};

/// `prod.orders` is namespace `["prod"]`, name `orders`; `a.b.events` is
/// namespace `["a", "b"]`, name `events`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    pub namespace: Vec<String>,
    pub name: String,
}

const EXPECTED: &str = "namespace.table with no empty parts, e.g. prod.orders";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a table name: expected {EXPECTED}")]
pub struct InvalidTableName(pub String);

impl FromStr for TableName {
    type Err = InvalidTableName;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidTableName(text.to_owned());
        let (namespace, name) = text.rsplit_once('.').ok_or_else(invalid)?;
        let namespace: Vec<String> = namespace.split('.').map(str::to_owned).collect();
        if name.is_empty() || namespace.iter().any(String::is_empty) {
            return Err(invalid());
        }
        Ok(Self { namespace, name: name.to_owned() })
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.namespace {
            write!(f, "{part}.")?;
        }
        f.write_str(&self.name)
    }
}

impl<'de> Deserialize<'de> for TableName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TableNameVisitor)
    }
}

struct TableNameVisitor;

impl Visitor<'_> for TableNameVisitor {
    type Value = TableName;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    // Failing inside the visitor, not after it, keeps the value's position.
    fn visit_str<E: de::Error>(self, text: &str) -> Result<TableName, E> {
        text.parse().map_err(|_| E::invalid_value(Unexpected::Str(text), &self))
    }
}
