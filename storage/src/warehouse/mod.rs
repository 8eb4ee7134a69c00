//! The Iceberg FileIO floe writes tables through.
//!
//! iceberg-rust leaves storage to a pluggable [`StorageFactory`]. floe's
//! resolves every path by its scheme:
//! - `file://` and bare paths: iceberg-rust's own local-filesystem storage
//!   (the embedded default, tests and benches);
//! - `s3://`, `s3a://`, `s3n://`: [`S3Warehouse`], on the same AWS SDK
//!   client that reads segments. One HTTP and TLS stack serves both, with
//!   the same retries, timeouts and credential chain, and error messages
//!   that say what to check.
//!
//! The S3 client is built on first use (the SDK loads its configuration
//! asynchronously, FileIOs are built synchronously), from the FileIO properties
//! (`s3.endpoint`, `s3.region`, `s3.path-style-access`, `s3.sse.*`, and
//! credentials when a catalog vends them; otherwise the default AWS chain).

mod s3;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use iceberg::io::{
    FileIO, FileIOBuilder, FileMetadata, FileRead, FileWrite, InputFile, LocalFsStorage, OutputFile, Storage,
    StorageConfig, StorageFactory,
};
use iceberg::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};

pub use self::s3::S3Warehouse;

/// The FileIO that reads and writes under a warehouse or table location.
pub fn warehouse_file_io(props: &HashMap<String, String>) -> FileIO {
    FileIOBuilder::new(Arc::new(WarehouseStorageFactory)).with_props(props.clone()).build()
}

/// Builds a [`WarehouseStorage`] for a FileIO's properties; catalogs take it
/// through `with_storage_factory`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct WarehouseStorageFactory;

#[typetag::serde]
impl StorageFactory for WarehouseStorageFactory {
    fn build(&self, config: &StorageConfig) -> Result<Arc<dyn Storage>> {
        let s3 = S3Warehouse::new(config.props().clone());
        Ok(Arc::new(WarehouseStorage { local: LocalFsStorage, s3 }))
    }
}

/// A FileIO's storage: local paths and S3 objects, by scheme.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WarehouseStorage {
    local: LocalFsStorage,
    s3: S3Warehouse,
}

impl WarehouseStorage {
    fn backend(&self, path: &str) -> Result<&dyn Storage> {
        match path.split_once("://").map(|(scheme, _)| scheme) {
            None | Some("file") => Ok(&self.local),
            Some("s3" | "s3a" | "s3n") => Ok(&self.s3),
            Some(other) => Err(Error::new(
                ErrorKind::FeatureUnsupported,
                format!("{path}: floe writes tables to file:// or s3:// locations, not {other}://"),
            )),
        }
    }
}

#[async_trait]
#[typetag::serde]
impl Storage for WarehouseStorage {
    async fn exists(&self, path: &str) -> Result<bool> {
        self.backend(path)?.exists(path).await
    }

    async fn metadata(&self, path: &str) -> Result<FileMetadata> {
        self.backend(path)?.metadata(path).await
    }

    async fn read(&self, path: &str) -> Result<Bytes> {
        self.backend(path)?.read(path).await
    }

    async fn reader(&self, path: &str) -> Result<Box<dyn FileRead>> {
        self.backend(path)?.reader(path).await
    }

    async fn write(&self, path: &str, bs: Bytes) -> Result<()> {
        self.backend(path)?.write(path, bs).await
    }

    async fn writer(&self, path: &str) -> Result<Box<dyn FileWrite>> {
        self.backend(path)?.writer(path).await
    }

    async fn delete(&self, path: &str) -> Result<()> {
        self.backend(path)?.delete(path).await
    }

    async fn delete_prefix(&self, path: &str) -> Result<()> {
        self.backend(path)?.delete_prefix(path).await
    }

    async fn delete_stream(&self, mut paths: BoxStream<'static, String>) -> Result<()> {
        while let Some(path) = paths.next().await {
            self.delete(&path).await?;
        }
        Ok(())
    }

    /// Input and output files hold this storage, not the backend, so a
    /// FileIO keeps one S3 client for all its files.
    fn new_input(&self, path: &str) -> Result<InputFile> {
        self.backend(path)?;
        Ok(InputFile::new(Arc::new(self.clone()), path.to_string()))
    }

    fn new_output(&self, path: &str) -> Result<OutputFile> {
        self.backend(path)?;
        Ok(OutputFile::new(Arc::new(self.clone()), path.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_paths_round_trip_with_and_without_a_scheme() {
        let dir = tempfile::tempdir().unwrap();
        let io = warehouse_file_io(&HashMap::new());
        let plain = format!("{}/t/data/a.parquet", dir.path().display());
        let url = format!("file://{plain}");

        let mut out = io.new_output(&url).unwrap().writer().await.unwrap();
        out.write(Bytes::from_static(b"hello ")).await.unwrap();
        out.write(Bytes::from_static(b"world")).await.unwrap();
        out.close().await.unwrap();

        let input = io.new_input(&plain).unwrap();
        assert_eq!(input.read().await.unwrap(), Bytes::from_static(b"hello world"));
        assert_eq!(input.reader().await.unwrap().read(6..11).await.unwrap(), Bytes::from_static(b"world"));
        assert_eq!(input.metadata().await.unwrap().size, 11);
        io.delete(&url).await.unwrap();
        assert!(!io.exists(&plain).await.unwrap());
    }

    #[test]
    fn other_schemes_are_refused_with_what_is_supported() {
        let io = warehouse_file_io(&HashMap::new());
        let err = io.new_output("gs://bucket/t/a.parquet").unwrap_err().to_string();
        assert!(err.contains("file:// or s3://"), "{err}");
    }
}
