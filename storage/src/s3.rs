use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, SharedHttpClient};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls;
use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;

use crate::error::{Result, StorageError, StorageErrorKind};
use crate::store::{LocalObject, ObjectMeta, SegmentStore, partition_prefix};

/// Attempts per request, the first included. The SDK's standard retry mode
/// backs off exponentially with jitter on throttling, 5xx, timeouts and
/// connection failures; after that the caller decides (workers and discovery
/// wait and try again, they never skip).
const MAX_ATTEMPTS: u32 = 6;
/// Requests in flight per store, so a large backlog cannot open hundreds of
/// connections at once.
const MAX_CONCURRENT_REQUESTS: usize = 16;

/// Where one bucket is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketLocation {
    pub bucket: String,
    pub region: String,
    /// An S3-compatible service's URL; `None` for AWS.
    pub endpoint: Option<String>,
    pub path_style: bool,
}

/// An S3 service, whatever the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceLocation {
    pub region: String,
    /// An S3-compatible service's URL; `None` for AWS.
    pub endpoint: Option<String>,
    pub path_style: bool,
}

impl ServiceLocation {
    /// Where the service is, for messages.
    pub(crate) fn describe(&self) -> String {
        self.endpoint.clone().unwrap_or_else(|| format!("AWS {}", self.region))
    }
}

/// The HTTP client of every AWS SDK client floe makes: rustls on ring, the
/// one TLS stack in floe (gRPC uses it too), rather than the SDK's default
/// of a second crypto library built from C.
pub fn aws_http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https()
}

/// A client of `service` with floe's retries and timeouts. Credentials are
/// `credentials` when given, else from the default AWS chain (environment,
/// profile, web identity, container and instance roles), resolved on the
/// first request.
pub(crate) async fn s3_client(service: &ServiceLocation, credentials: Option<Credentials>) -> Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(aws_http_client())
        .region(Region::new(service.region.clone()));
    if let Some(credentials) = credentials {
        loader = loader.credentials_provider(credentials);
    }
    let shared = loader.load().await;
    let mut config = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(service.path_style)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(200))
                .with_max_backoff(Duration::from_secs(10)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(60))
                .build(),
        );
    if let Some(endpoint) = &service.endpoint {
        config = config.endpoint_url(endpoint);
    }
    Client::from_conf(config.build())
}

#[derive(Debug, Clone)]
struct Bucket {
    client: Client,
    name: String,
    /// Where the bucket is served, for messages.
    endpoint: String,
}

impl Bucket {
    async fn connect(location: &BucketLocation) -> Self {
        let service = ServiceLocation {
            region: location.region.clone(),
            endpoint: location.endpoint.clone(),
            path_style: location.path_style,
        };
        Self { client: s3_client(&service, None).await, name: location.bucket.clone(), endpoint: service.describe() }
    }

    /// `s3://bucket/key at endpoint`: errors say which service was asked.
    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key} at {}", self.name, self.endpoint)
    }
}

/// KafScale segments in an S3 bucket (AWS or any S3-compatible service),
/// optionally read through a replica bucket first (cross-region
/// replication), falling back to the primary when the replica misses.
///
/// Listings always come from the primary: it is where brokers write, so it
/// is the one that knows which segments exist.
#[derive(Debug)]
pub struct S3Store {
    primary: Bucket,
    replica: Option<Bucket>,
    prefix: String,
    requests: Arc<Semaphore>,
    spool_dir: PathBuf,
}

impl S3Store {
    /// Builds the clients; credentials come from the default AWS chain
    /// (environment, profile, web identity, container and instance roles)
    /// and are resolved on the first request.
    pub async fn connect(
        primary: &BucketLocation,
        replica: Option<&BucketLocation>,
        prefix: String,
        spool_dir: PathBuf,
    ) -> Self {
        let replica = match replica {
            Some(location) => Some(Bucket::connect(location).await),
            None => None,
        };
        Self {
            primary: Bucket::connect(primary).await,
            replica,
            prefix,
            requests: Arc::new(Semaphore::new(MAX_CONCURRENT_REQUESTS)),
            spool_dir,
        }
    }

    async fn permit(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.requests.acquire().await.expect("the request semaphore is never closed")
    }

    /// Keys and common prefixes (sub-folders) directly under `prefix`, after
    /// `start_after`, every page of them.
    async fn list(&self, prefix: &str, start_after: Option<&str>) -> Result<(Vec<ObjectMeta>, Vec<String>)> {
        let _permit = self.permit().await;
        let bucket = &self.primary;
        let mut pages = bucket
            .client
            .list_objects_v2()
            .bucket(&bucket.name)
            .prefix(prefix)
            .delimiter("/")
            .set_start_after(start_after.map(str::to_owned))
            .into_paginator()
            .send();
        let (mut objects, mut folders) = (Vec::new(), Vec::new());
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error("list", bucket.url(prefix), e))?;
            for object in page.contents() {
                if let Some(key) = object.key() {
                    let size = object.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
                    objects.push(ObjectMeta { key: key.to_string(), size });
                }
            }
            folders.extend(page.common_prefixes().iter().filter_map(|p| p.prefix().map(str::to_owned)));
        }
        Ok((objects, folders))
    }

    /// Runs a read on the replica, then on the primary if the replica
    /// misses or fails.
    async fn read<T, F, Fut>(&self, key: &str, op: F) -> Result<T>
    where
        F: Fn(Bucket) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        if let Some(replica) = &self.replica {
            match op(replica.clone()).await {
                Ok(found) => return Ok(found),
                Err(e) if e.is_not_found() => {}
                Err(e) => tracing::warn!(object = %replica.url(key), "replica read failed, reading the primary: {e}"),
            }
        }
        op(self.primary.clone()).await
    }
}

/// `bytes=a-b` (inclusive end) for `range`; `bytes=a-` to the end.
pub(crate) fn range_header(range: &Range<u64>) -> String {
    if range.end == u64::MAX {
        format!("bytes={}-", range.start)
    } else {
        format!("bytes={}-{}", range.start, range.end - 1)
    }
}

/// The object's total length from `Content-Range: bytes a-b/total`.
fn total_length(content_range: Option<&str>) -> Option<u64> {
    content_range?.rsplit_once('/')?.1.parse().ok()
}

#[async_trait]
impl SegmentStore for S3Store {
    async fn probe(&self) -> Result<()> {
        let bucket = &self.primary;
        let quick = aws_sdk_s3::config::Builder::default().retry_config(RetryConfig::standard().with_max_attempts(2));
        let listed = bucket
            .client
            .list_objects_v2()
            .bucket(&bucket.name)
            .prefix(&self.prefix)
            .max_keys(1)
            .customize()
            .config_override(quick)
            .send()
            .await;
        listed.map(drop).map_err(|e| sdk_error("list", bucket.url(&self.prefix), e))
    }

    async fn list_partitions(&self, topic: &str) -> Result<Vec<i32>> {
        let folder = format!("{}{topic}/", self.prefix);
        let (_, folders) = self.list(&folder, None).await?;
        let mut partitions: Vec<i32> = folders
            .iter()
            .filter_map(|f| f.strip_prefix(&folder)?.trim_end_matches('/').parse().ok())
            .filter(|p: &i32| *p >= 0)
            .collect();
        partitions.sort_unstable();
        Ok(partitions)
    }

    async fn list_topics(&self) -> Result<Vec<String>> {
        let (_, folders) = self.list(&self.prefix, None).await?;
        let mut topics: Vec<String> = folders
            .iter()
            .filter_map(|f| Some(f.strip_prefix(&self.prefix)?.trim_end_matches('/').to_string()))
            .collect();
        topics.sort_unstable();
        Ok(topics)
    }

    async fn list_partition(&self, topic: &str, partition: i32, start_after: Option<&str>) -> Result<Vec<ObjectMeta>> {
        let folder = partition_prefix(&self.prefix, topic, partition);
        let (mut objects, _) = self.list(&folder, start_after).await?;
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }

    async fn size(&self, key: &str) -> Result<Option<u64>> {
        let _permit = self.permit().await;
        let head = self
            .read(key, |bucket| async move {
                let head = bucket.client.head_object().bucket(&bucket.name).key(key).send().await;
                head.map_err(|e| sdk_error("head", bucket.url(key), e))
            })
            .await;
        match head {
            Ok(head) => Ok(Some(head.content_length().and_then(|l| u64::try_from(l).ok()).unwrap_or(0))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes> {
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        let _permit = self.permit().await;
        let range = &range;
        self.read(key, |bucket| async move {
            let url = bucket.url(key);
            let get = bucket.client.get_object().bucket(&bucket.name).key(key).range(range_header(range)).send().await;
            let output = match get {
                Ok(output) => output,
                // Starting at or past the end: nothing there, as for a file.
                Err(e) if e.code() == Some("InvalidRange") => return Ok(Bytes::new()),
                Err(e) => return Err(sdk_error("get", url, e)),
            };
            let body = output.body.collect().await.map_err(|e| transient("get", &url, e))?;
            Ok(body.into_bytes())
        })
        .await
    }

    async fn get(&self, key: &str) -> Result<Bytes> {
        self.get_range(key, 0..u64::MAX).await
    }

    async fn local_copy(&self, key: &str, start: u64) -> Result<LocalObject> {
        let _permit = self.permit().await;
        let spool_dir = &self.spool_dir;
        self.read(key, |bucket| async move {
            let url = bucket.url(key);
            let get = bucket.client.get_object().bucket(&bucket.name).key(key);
            let get = if start > 0 { get.range(range_header(&(start..u64::MAX))) } else { get };
            let mut output = get.send().await.map_err(|e| sdk_error("get", &url, e))?;
            let received = output.content_length().and_then(|l| u64::try_from(l).ok()).unwrap_or(0);
            let len = total_length(output.content_range()).unwrap_or(start + received);

            let (file, path) = tempfile::Builder::new()
                .prefix("floe-segment-")
                .tempfile_in(spool_dir)
                .and_then(|f| f.keep().map_err(|e| e.error))
                .map_err(|e| StorageError::from_io("spool", spool_dir.display(), e))?;
            // Owned from here: dropping it (on any error below) deletes the file.
            let local = LocalObject::spooled(path, start, len);
            let mut file = tokio::io::BufWriter::with_capacity(1 << 20, tokio::fs::File::from_std(file));
            let mut written = 0u64;
            while let Some(chunk) = output.body.try_next().await.map_err(|e| transient("get", &url, e))? {
                file.write_all(&chunk).await.map_err(|e| StorageError::from_io("spool", &url, e))?;
                written += chunk.len() as u64;
            }
            file.flush().await.map_err(|e| StorageError::from_io("spool", &url, e))?;
            if start + written != len {
                return Err(transient("get", &url, format!("received {written} bytes from {start}, object is {len}")));
            }
            Ok(local)
        })
        .await
    }
}

pub(crate) fn transient(op: &'static str, url: &str, err: impl std::fmt::Display) -> StorageError {
    StorageError::new(StorageErrorKind::Transient, op, url, err)
}

/// Classifies an SDK error after the SDK's own retries: what is worth
/// retrying later, what is missing, and what needs a config change.
pub(crate) fn sdk_error<E>(op: &'static str, url: impl Into<String>, err: SdkError<E, HttpResponse>) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use StorageErrorKind::*;
    let url = url.into();
    let (kind, hint) = match &err {
        SdkError::ServiceError(service) => match (service.raw().status().as_u16(), err.code()) {
            (_, Some("NoSuchBucket")) => (Permanent, "check s3.bucket (or s3.read_bucket) and s3.endpoint"),
            (404, _) => (NotFound, ""),
            (301 | 400, _) => (Permanent, "check s3.region, s3.endpoint and s3.path_style"),
            (401 | 403, _) => (
                Permanent,
                "check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profile or role) and that they may read the bucket",
            ),
            (408 | 429 | 500..=599, _) => (Transient, ""),
            _ => (Permanent, ""),
        },
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            (Transient, "is s3.endpoint reachable?")
        }
        _ => (Permanent, ""),
    };
    let detail = match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => DisplayErrorContext(&err).to_string(),
    };
    let message = if hint.is_empty() { detail } else { format!("{detail} ({hint})") };
    StorageError::new(kind, op, url, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_headers_are_inclusive() {
        assert_eq!(range_header(&(0..10)), "bytes=0-9");
        assert_eq!(range_header(&(7..u64::MAX)), "bytes=7-");
        assert_eq!(total_length(Some("bytes 7-99/100")), Some(100));
        assert_eq!(total_length(None), None);
    }
}
