//! What a table's schema source answers: the columns and validation
//! document it describes, or why it gave none.

use floe_config::Column;

/// What a source says now.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedSchema {
    /// The columns the schema describes (none when the table lists its own).
    pub columns: Vec<Column>,
    /// The JSON Schema document values are checked against, when they are.
    pub validation: Option<String>,
}

/// Why a source gave no schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The source did not answer; it may later.
    #[error("waiting for schema registry: {0}")]
    Outage(String),
    /// The source answered with something floe cannot use.
    #[error("{0}")]
    Unusable(String),
}

impl FetchError {
    pub fn is_outage(&self) -> bool {
        matches!(self, FetchError::Outage(_))
    }
}
