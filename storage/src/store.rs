use std::fmt::Debug;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use floe_proto::worker::SourceSpec;

use crate::error::{Result, StorageError, StorageErrorKind};
use crate::local::LocalDirStore;

/// An object found by a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Key relative to the bucket, e.g. `production/orders/0/segment-00000000000000000000.kfs`.
    pub key: String,
    pub size: u64,
}

/// A file on local disk holding an object's bytes, for the synchronous
/// segment decoder. For a local directory store it is the object itself; for
/// remote stores it is a spooled copy that is deleted when dropped.
#[derive(Debug)]
pub struct LocalObject {
    pub path: PathBuf,
    pub len: u64,
    delete_on_drop: bool,
}

impl LocalObject {
    pub fn borrowed(path: PathBuf, len: u64) -> Self {
        Self { path, len, delete_on_drop: false }
    }

    pub fn spooled(path: PathBuf, len: u64) -> Self {
        Self { path, len, delete_on_drop: true }
    }
}

impl Drop for LocalObject {
    fn drop(&mut self) {
        if self.delete_on_drop {
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
    /// Partition numbers that have a folder under `{prefix}{topic}/`.
    async fn list_partitions(&self, topic: &str) -> Result<Vec<i32>>;

    /// Objects under `{prefix}{topic}/{partition}/` whose key sorts after
    /// `start_after`, in key order.
    async fn list_partition(&self, topic: &str, partition: i32, start_after: Option<&str>) -> Result<Vec<ObjectMeta>>;

    /// Size of an object, or `None` when it does not exist.
    async fn size(&self, key: &str) -> Result<Option<u64>>;

    /// A byte range of an object (clamped to its end).
    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes>;

    /// A whole (small) object, such as a `.index`.
    async fn get(&self, key: &str) -> Result<Bytes>;

    /// The object as a local file, starting at byte 0.
    async fn local_copy(&self, key: &str) -> Result<LocalObject>;
}

/// `{prefix}{topic}/{partition}/`: the folder of one partition's segments.
pub fn partition_prefix(prefix: &str, topic: &str, partition: i32) -> String {
    format!("{prefix}{topic}/{partition}/")
}

/// Opens the segment store a source spec describes.
pub fn open_segment_store(spec: &SourceSpec) -> Result<Arc<dyn SegmentStore>> {
    if let Some(dir) = spec.endpoint.strip_prefix("file://") {
        let root = PathBuf::from(dir).join(&spec.bucket);
        return Ok(Arc::new(LocalDirStore::new(root, spec.prefix.clone())));
    }
    Err(StorageError::new(
        StorageErrorKind::Permanent,
        "open",
        if spec.endpoint.is_empty() { "s3 (AWS)" } else { spec.endpoint.as_str() },
        "only local directory sources (s3.endpoint: file:///DIR) are supported by this build",
    ))
}
