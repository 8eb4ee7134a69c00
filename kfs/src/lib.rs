//! floe-kfs: the KafScale segment codec.
//!
//! Reads and writes `.kfs` segments and their `.index`, decodes the Kafka v2
//! record batches inside (every codec, both snappy framings), checks every
//! CRC, offset and count, and filters read-committed. Pure: the caller does
//! the I/O through `std::io::Read`; nothing here is async.

pub mod batch;
pub mod codec;
mod compression;
pub mod error;
pub mod index;
pub mod naming;
pub mod reader;
pub mod record;
pub mod segment;
pub mod txn;
mod varint;
pub mod writer;

pub use batch::{BatchHeader, Compression};
pub use error::{Error, ErrorKind, RecordProblem, Result};
pub use index::{IndexEntry, SegmentIndex};
pub use naming::{ObjectKind, index_object_name, parse_object_name, segment_object_name};
pub use reader::{Batch, ControlMarker, ReaderOptions, SegmentReader};
pub use record::{Header, Record};
pub use segment::{Completeness, SegmentFooter, SegmentHeader, check_completeness};
pub use txn::{PendingLimit, ReadCommitted};
pub use writer::{BatchBuilder, NewRecord, SegmentWriter, control_batch};
