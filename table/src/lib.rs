//! What a floe table looks like.
//!
//! - [`columns`]: the columns every record fills (the seed processor's defaults:
//!   `record_id`, `topic`, `partition`, `offset`, `timestamp_ms`, `key`,
//!   `value`, `headers`), the mapping's typed columns, and the Iceberg
//!   schemas made of them (a table's, and its dead-letter table's).
//! - [`json`]: typed values read exactly from a record's JSON value.
//! - [`rows`]: turns decoded Kafka records into Arrow record batches of a
//!   table's schema, ready for the Parquet writer, and says which records
//!   cannot become rows.
//! - [`confluent`]: the Confluent wire format of a record value and the
//!   schemas a registry holds; [`avro`] and [`protobuf`]: the columns of a
//!   writer schema and the cells of a value.
//! - [`dead_letters`]: why a record could not become a row.
//! - [`json_schema`]: typed columns from a topic's JSON Schema.
//! - [`lfs`]: KafScale LFS envelopes, what a table's LFS mode does with them,
//!   and the check of a fetched blob.
//! - [`partitioning`]: a mapping's `partition_by` as an Iceberg partition spec.
//!
//! The coordinator creates tables from these schemas; workers fill them. Both
//! sides use this crate so they cannot disagree on a column.

pub mod avro;
mod avro_binary;
pub mod columns;
pub mod confluent;
pub mod dead_letters;
pub mod json;
mod json_scanner;
pub mod json_schema;
pub mod lfs;
pub mod partitioning;
pub mod protobuf;
pub mod rows;
pub mod validation;

pub use columns::{MappedColumn, SourceColumn, dead_letter_schema, iceberg_type, source_schema, table_schema};
pub use dead_letters::{Rejection, RejectionCode};
pub use json_schema::{SchemaColumnsError, columns_from_json_schema};
pub use lfs::{Envelope, LfsAction, LfsRecord};
pub use partitioning::partition_spec;
pub use rows::{Rejected, RowBuilder, RowError};
pub use validation::RecordValidator;
