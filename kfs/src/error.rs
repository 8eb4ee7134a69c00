//! One error type for everything that reads segment data. Every error names the
//! object and the absolute byte position, so an operator can find the damage.

use std::fmt;

use crate::compression::Compression;

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
#[error("{} {object} at byte {position}: {kind}", object_word(object))]
pub struct Error {
    /// Object key (or name) the bytes came from.
    pub object: String,
    /// Absolute byte position in that object where the problem was found.
    pub position: u64,
    pub kind: ErrorKind,
}

/// `.index` objects are called what they are; everything else is a segment.
fn object_word(object: &str) -> &'static str {
    if object.ends_with(".index") { "index" } else { "segment" }
}

impl Error {
    pub fn new(object: impl Into<String>, position: u64, kind: ErrorKind) -> Self {
        Error { object: object.into(), position, kind }
    }

    /// True when the bytes themselves are wrong, so reading them again gives the
    /// same error. False for failures of the source and for the caller's own
    /// size limits, which a retry or a larger limit may overcome.
    pub fn is_corrupt(&self) -> bool {
        !matches!(
            self.kind,
            ErrorKind::Read(_)
                | ErrorKind::AfterError
                | ErrorKind::BatchTooLarge { .. }
                | ErrorKind::DecompressedTooLarge { .. }
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    #[error("bad {what} magic \"{}\" (expected \"{}\")", found.escape_ascii(), expected.escape_ascii())]
    BadMagic { what: &'static str, expected: [u8; 4], found: [u8; 4] },
    #[error("unsupported {what} version {version} (version 1 is known)")]
    UnsupportedVersion { what: &'static str, version: u16 },
    #[error("unexpected end of data in {what}: {needed} bytes needed, {available} available")]
    Truncated { what: &'static str, needed: u64, available: u64 },
    #[error("{field} {value} out of bounds (limit {limit})")]
    LengthOutOfBounds { field: &'static str, value: i64, limit: u64 },
    #[error("batch length {length} exceeds the caller's limit max_batch_bytes = {limit}")]
    BatchTooLarge { length: u64, limit: usize },
    #[error("{count} bytes left before the footer, too few for a batch")]
    TrailingBytes { count: u64 },
    #[error("batch CRC-32C mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    BatchCrcMismatch { stored: u32, computed: u32 },
    #[error("segment body CRC-32C mismatch (footer {stored:#010x}, computed {computed:#010x})")]
    SegmentCrcMismatch { stored: u32, computed: u32 },
    #[error("batch magic {found}, expected 2 (only Kafka v2 record batches are supported)")]
    BadBatchMagic { found: i8 },
    #[error("malformed batch: {reason}")]
    MalformedBatch { reason: &'static str },
    #[error("{}: batch base offset {found}, expected {expected}", gap_or_overlap(*expected, *found))]
    OffsetDiscontinuity { expected: i64, found: i64 },
    #[error("footer last offset {footer} does not match the last batch's last offset {last_batch}")]
    FooterLastOffsetMismatch { footer: i64, last_batch: i64 },
    #[error("{scope} record count mismatch: header declares {declared}, found {actual}")]
    RecordCountMismatch { scope: &'static str, declared: i64, actual: i64 },
    #[error("unknown compression codec id {id}")]
    UnknownCodec { id: u8 },
    #[error("{codec} decompression failed: {message}")]
    Decompression { codec: Compression, message: String },
    #[error("{codec} batch decompresses to more than the caller's limit max_decompressed_bytes = {limit}")]
    DecompressedTooLarge { codec: Compression, limit: usize },
    #[error("malformed record {index} of the batch: {field} {problem}")]
    MalformedRecord { index: usize, field: &'static str, problem: RecordProblem },
    #[error("index declares {declared} entries but holds {entry_bytes} bytes of 12-byte entries")]
    IndexEntryCount { declared: i32, entry_bytes: u64 },
    #[error("malformed index: {reason}")]
    MalformedIndex { reason: &'static str },
    #[error("the reader stopped at an earlier error")]
    AfterError,
    #[error("read failed: {0}")]
    Read(#[source] std::io::Error),
}

fn gap_or_overlap(expected: i64, found: i64) -> &'static str {
    if found > expected { "offset gap" } else { "offset overlap" }
}

/// What is wrong with a record field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordProblem {
    /// The data ends inside the field.
    Truncated,
    /// A varint longer than its type allows.
    VarintTooLong,
    /// A negative length other than -1 (null), or a length past the record's end.
    OutOfBounds,
    /// The value overflows when added to the batch's base value.
    Overflow,
    /// Offsets inside a batch must increase and stay within the batch's range.
    OffsetOutOfOrder,
    /// The record's fields do not fill its declared length exactly.
    LengthMismatch,
}

impl fmt::Display for RecordProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordProblem::Truncated => "is truncated",
            RecordProblem::VarintTooLong => "is a varint longer than its type allows",
            RecordProblem::OutOfBounds => "is out of bounds",
            RecordProblem::Overflow => "overflows",
            RecordProblem::OffsetOutOfOrder => "is not after the previous record's and within the batch",
            RecordProblem::LengthMismatch => "does not match the bytes its fields take",
        })
    }
}
