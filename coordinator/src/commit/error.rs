//! Why a commit attempt committed nothing, and the load every attempt
//! starts with: the table fresh from the catalog and the offsets its
//! snapshots record.

use iceberg::table::Table;
use iceberg::{Catalog, TableIdent};

use super::offsets::{OffsetMap, OffsetsError};
use crate::feed::Tp;

/// Why a commit attempt committed nothing. An outage is tried again after a
/// backoff; what retrying cannot fix stops the table's commits until an
/// operator looks, and the other tables go on.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The catalog did not give the table: an outage, tried again.
    #[error("loading table {table}: {source}")]
    Load { table: TableIdent, source: Box<iceberg::Error> },
    /// A snapshot's offsets cannot be read: commits stop.
    #[error("table {table}: {source}")]
    Offsets { table: TableIdent, source: OffsetsError },
    /// The staged ranges do not fit the offsets the table records:
    /// someone else committed floe offsets, or the table went back.
    /// Commits stop.
    #[error(
        "table {table}: staged range {tp} [{from}, {to}) does not continue the committed offset {committed}; \
         another writer is committing floe offsets to this table, or its snapshots were rolled back"
    )]
    Conflict { table: TableIdent, tp: Tp, from: i64, to: i64, committed: i64 },
    /// The catalog refused the commit (a snapshot landed since the check)
    /// or could not be reached: tried again, after checking again.
    #[error("committing to table {table}: {source}")]
    Commit { table: TableIdent, source: Box<iceberg::Error> },
}

impl CommitError {
    /// Worth another attempt later (the catalog or storage may recover).
    pub fn is_retryable(&self) -> bool {
        matches!(self, CommitError::Load { .. } | CommitError::Commit { .. })
    }
}

/// The table, fresh from the catalog, and the offsets its snapshots record.
pub async fn load(catalog: &dyn Catalog, ident: &TableIdent) -> Result<(Table, OffsetMap), CommitError> {
    let table = catalog
        .load_table(ident)
        .await
        .map_err(|source| CommitError::Load { table: ident.clone(), source: Box::new(source) })?;
    let recorded = OffsetMap::committed(table.metadata())
        .map_err(|source| CommitError::Offsets { table: ident.clone(), source })?;
    Ok((table, recorded))
}
