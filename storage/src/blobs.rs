//! Whole objects of any bucket of one S3 service, read with a size limit:
//! the blobs KafScale's LFS proxy stores, each envelope naming its bucket.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use bytes::{Bytes, BytesMut};

use crate::error::{Result, StorageError, StorageErrorKind};
use crate::s3::{ServiceLocation, s3_client, sdk_error, transient};

/// A fetched object, or how large it was when over the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blob {
    Complete(Bytes),
    /// Not read past the limit: `size` is its length, or at least the bytes
    /// received when the service did not say.
    TooLarge {
        size: u64,
    },
}

/// Reads blobs from one S3 service. Errors are classified like segment
/// reads: `NotFound` for a missing key, `Transient` for what is worth waiting
/// out (after the SDK's own retries with backoff on throttling, 5xx and
/// connection failures), `Permanent` for what needs a config change.
#[derive(Debug, Clone)]
pub struct BlobStore {
    client: Client,
    service: String,
}

impl BlobStore {
    pub async fn connect(service: &ServiceLocation) -> Self {
        Self { client: s3_client(service, None).await, service: service.describe() }
    }

    /// The object `bucket/key`, unless it is over `limit` bytes.
    pub async fn get(&self, bucket: &str, key: &str, limit: u64) -> Result<Blob> {
        let url = format!("s3://{bucket}/{key} at {}", self.service);
        let get = self.client.get_object().bucket(bucket).key(key).send().await;
        let mut output = match get {
            Ok(output) => output,
            Err(e) if e.code() == Some("NoSuchBucket") => {
                let message = format!("the bucket does not exist (check lfs.endpoint): {}", e.message().unwrap_or(""));
                return Err(StorageError::new(StorageErrorKind::Permanent, "get", url, message));
            }
            Err(e) => return Err(sdk_error("get", url, e)),
        };
        let declared = output.content_length().and_then(|l| u64::try_from(l).ok());
        if let Some(size) = declared.filter(|size| *size > limit) {
            return Ok(Blob::TooLarge { size });
        }
        let mut body = BytesMut::with_capacity(declared.unwrap_or(0) as usize);
        while let Some(chunk) = output.body.try_next().await.map_err(|e| transient("get", &url, e))? {
            body.extend_from_slice(&chunk);
            if body.len() as u64 > limit {
                return Ok(Blob::TooLarge { size: declared.unwrap_or(body.len() as u64) });
            }
        }
        if let Some(size) = declared.filter(|size| *size != body.len() as u64) {
            return Err(transient("get", &url, format!("received {} bytes of {size}", body.len())));
        }
        Ok(Blob::Complete(body.freeze()))
    }
}
