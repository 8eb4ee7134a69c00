//! What every segment store offers, whatever holds the objects: listings by
//! partition, ranged reads, and local copies for the synchronous decoder.

use std::fmt::Debug;
use std::ops::Range;
use std::path::PathBuf;

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::Result;

/// An object found by a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Key relative to the bucket, e.g. `production/orders/0/segment-00000000000000000000.kfs`.
    pub key: String,
    pub size: u64,
}

/// A file on local disk holding an object's bytes from `start` on, for the
/// synchronous segment decoder. For a local directory store it is the object
/// itself; for remote stores it is a spooled copy of the requested range that
/// is deleted when dropped.
#[derive(Debug)]
pub struct LocalObject {
    path: PathBuf,
    /// The object position the local bytes start at.
    pub start: u64,
    /// The whole object's length.
    pub len: u64,
    /// Whether the file holds the whole object (a local store) or only the
    /// bytes from `start` (a spooled range).
    whole_object: bool,
}

impl LocalObject {
    pub fn borrowed(path: PathBuf, start: u64, len: u64) -> Self {
        Self { path, start, len, whole_object: true }
    }

    pub fn spooled(path: PathBuf, start: u64, len: u64) -> Self {
        Self { path, start, len, whole_object: false }
    }

    /// Opens the file positioned at object position `start`.
    pub fn open(&self) -> std::io::Result<std::fs::File> {
        use std::io::{Seek, SeekFrom};
        let mut file = std::fs::File::open(&self.path)?;
        if self.whole_object {
            file.seek(SeekFrom::Start(self.start))?;
        }
        Ok(file)
    }
}

impl Drop for LocalObject {
    fn drop(&mut self) {
        if !self.whole_object {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Read access to KafScale segment objects.
///
/// Keys are relative to the bucket. Listings are per partition and
/// incremental (`start_after`), so a poll never re-lists what it has seen.
#[async_trait]
pub trait SegmentStore: Debug + Send + Sync {
    /// Checks once, quickly, that the store answers and may be read, so a
    /// wrong endpoint, bucket or credential is one clear error at start.
    async fn probe(&self) -> Result<()> {
        Ok(())
    }

    /// Partition numbers that have a folder under `{prefix}{topic}/`.
    async fn list_partitions(&self, topic: &str) -> Result<Vec<i32>>;

    /// The topics with a folder under the prefix, sorted.
    async fn list_topics(&self) -> Result<Vec<String>>;

    /// Objects under `{prefix}{topic}/{partition}/` whose key sorts after
    /// `start_after`, in key order.
    async fn list_partition(&self, topic: &str, partition: i32, start_after: Option<&str>) -> Result<Vec<ObjectMeta>>;

    /// Size of an object, or `None` when it does not exist.
    async fn size(&self, key: &str) -> Result<Option<u64>>;

    /// A byte range of an object (clamped to its end).
    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes>;

    /// A whole (small) object, such as a `.index`.
    async fn get(&self, key: &str) -> Result<Bytes>;

    /// The object's bytes from `start` to its end as a local file: a
    /// streamed copy for remote stores (a ranged GET), so memory stays flat
    /// whatever the segment size.
    async fn local_copy(&self, key: &str, start: u64) -> Result<LocalObject>;
}

/// `{prefix}{topic}/{partition}/`: the folder of one partition's segments.
pub fn partition_prefix(prefix: &str, topic: &str, partition: i32) -> String {
    format!("{prefix}{topic}/{partition}/")
}
