//! Where floe reads segments from and writes tables to.
//!
//! - [`SegmentStore`]: the KafScale segment objects (`{prefix}{topic}/{partition}/segment-*.kfs`),
//!   listed incrementally and read by key. [`LocalDirStore`] serves the embedded default
//!   (`s3.endpoint: file:///DIR`), [`S3Store`] AWS S3 and S3-compatible services.
//! - [`BlobStore`]: whole objects of any bucket of one S3 service, with a size limit (LFS blobs).
//! - [`warehouse_file_io`]: the Iceberg FileIO for the warehouse, resolved by URL scheme
//!   (`file://` and `s3://`), and the [`WarehouseStorageFactory`] catalogs build theirs with.

mod blobs;
mod error;
mod local;
mod open;
mod s3;
mod store;
mod warehouse;

pub use blobs::{Blob, BlobStore};
pub use error::{Result, StorageError, StorageErrorKind};
pub use local::LocalDirStore;
pub use open::open_segment_store;
pub use s3::{BucketLocation, S3Store, ServiceLocation, aws_http_client};
pub use store::{LocalObject, ObjectMeta, SegmentStore, partition_prefix};
pub use warehouse::{WarehouseStorageFactory, warehouse_file_io};
