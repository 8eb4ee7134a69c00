//! A mapped table as the loader hands it to the control loop: the table,
//! the offsets its snapshots record, and how workers are to fill it.

use floe_config::{Column, PayloadFormat};
use floe_proto::worker::{LfsPolicy, Validation};
use iceberg::table::Table;

use super::schema::{FetchError, FetchedSchema};
use crate::commit::OffsetMap;
use crate::settings::TableMapping;
use crate::tail::TailTable;

/// A table as loaded at start, with the offsets recorded in it.
#[derive(Debug)]
pub struct LoadedTable {
    pub name: String,
    /// The position of its mapping in the config's `mappings`.
    pub mapping: usize,
    pub topic: String,
    /// How record values are encoded.
    pub format: PayloadFormat,
    pub table: Table,
    pub offsets: OffsetMap,
    /// Typed columns workers read from the record's value.
    pub columns: Vec<Column>,
    pub dead_letters: Option<LoadedDeadLetters>,
    /// Why the table cannot be written as the mapping asks; its
    /// partitions wait, the other tables go on.
    pub paused: Option<String>,
    /// Set when the columns come from a schema source.
    pub sourced: Option<Sourced>,
    /// Why the schema source gave nothing usable at start.
    pub held: Option<FetchError>,
    /// What workers do with LFS envelopes; `None` when the mode is off.
    pub lfs: Option<LfsPolicy>,
    /// What workers check values against; `None` when they do not.
    pub validation: Option<Validation>,
    /// The table as `floe tail` shows the topic's records.
    pub tail: TailTable,
}

/// A typed table's dead-letter table, with the offsets its snapshots record.
#[derive(Debug)]
pub struct LoadedDeadLetters {
    pub name: String,
    pub table: Table,
    pub offsets: OffsetMap,
}

/// What a table takes from its schema source.
#[derive(Debug, Clone)]
pub struct Sourced {
    /// The table's mapping: its `columns` (`event_time`) come after the
    /// source's.
    pub mapping: TableMapping,
    /// A newer schema, applied when no commit of the table is running.
    pub pending: Option<FetchedSchema>,
}
