//! What a floe table looks like.
//!
//! - [`columns`]: the columns every record fills (the seed processor's defaults:
//!   `record_id`, `topic`, `partition`, `offset`, `timestamp_ms`, `key`,
//!   `value`, `headers`) and the Iceberg schema made of them.
//! - [`rows`]: turns decoded Kafka records into Arrow record batches of a
//!   table's schema, ready for the Parquet writer.
//!
//! The coordinator creates tables from this schema; workers fill it. Both
//! sides use this crate so they cannot disagree on a column.

pub mod columns;
pub mod rows;

pub use columns::{SourceColumn, source_schema};
pub use rows::{RowBuilder, RowError};
