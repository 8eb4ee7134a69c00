//! Table files in S3 (AWS or any S3-compatible service), for the Iceberg
//! FileIO.
//!
//! Files are written whole or, past [`PART_SIZE`], as a multipart upload,
//! so a writer holds at most one part in memory; an upload that fails is
//! aborted, and one never closed is left to the bucket's lifecycle rule for
//! incomplete uploads (floe deletes the path it failed to write either way).
//! Errors are classified and worded as the segment store's are.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use iceberg::io::{FileMetadata, FileRead, FileWrite, InputFile, OutputFile, Storage};
use iceberg::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::error::StorageError;
use crate::s3::{ServiceLocation, range_header, s3_client, sdk_error, transient};

/// Bytes a writer gathers before it uploads them as one part (S3 wants at
/// least 5 MiB for every part but the last).
const PART_SIZE: usize = 8 << 20;
/// Deletes in flight when a whole prefix is removed.
const CONCURRENT_DELETES: usize = 16;

/// S3 objects named by `s3://bucket/key` URLs (`s3a://` and `s3n://` too).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct S3Warehouse {
    props: HashMap<String, String>,
    #[serde(skip)]
    connected: Arc<OnceCell<Connected>>,
}

/// The client, and what every write and read of this FileIO carries.
#[derive(Debug, Clone)]
struct Connected {
    client: Client,
    encryption: Encryption,
    /// Where the service is, for messages.
    service: String,
}

/// Server-side encryption of the objects floe creates, from `s3.sse.type`
/// (`none`, `s3`, `kms`) and `s3.sse.key`.
#[derive(Debug, Clone, PartialEq)]
enum Encryption {
    None,
    S3Managed,
    Kms { key_id: Option<String> },
}

impl Encryption {
    /// The encryption and KMS key headers of a request that creates an object.
    fn headers(&self) -> (Option<ServerSideEncryption>, Option<String>) {
        match self {
            Encryption::None => (None, None),
            Encryption::S3Managed => (Some(ServerSideEncryption::Aes256), None),
            Encryption::Kms { key_id } => (Some(ServerSideEncryption::AwsKms), key_id.clone()),
        }
    }
}

/// The service, credentials and encryption a FileIO's properties name.
#[derive(Debug, PartialEq)]
struct WarehouseConfig {
    service: ServiceLocation,
    credentials: Option<(String, String, Option<String>)>,
    encryption: Encryption,
}

fn config_error(message: String) -> Error {
    Error::new(ErrorKind::DataInvalid, message)
}

impl WarehouseConfig {
    fn from_props(props: &HashMap<String, String>) -> Result<Self> {
        let get = |key: &str| props.get(key).filter(|v| !v.is_empty()).cloned();
        for unsupported in ["client.assume-role.arn", "s3.allow-anonymous"] {
            if get(unsupported).is_some() {
                return Err(config_error(format!(
                    "the warehouse FileIO property {unsupported} is not supported: give floe credentials through \
                     the AWS environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, or a web-identity role)"
                )));
            }
        }
        let region = get("s3.region").or_else(|| get("client.region")).unwrap_or_else(|| "us-east-1".to_string());
        let path_style = match get("s3.path-style-access").as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(config_error(format!("s3.path-style-access is {other:?}: expected true or false")));
            }
        };
        let credentials = match (get("s3.access-key-id"), get("s3.secret-access-key")) {
            (Some(id), Some(secret)) => Some((id, secret, get("s3.session-token"))),
            (None, None) => None,
            _ => {
                return Err(config_error(
                    "the warehouse FileIO properties give only one of s3.access-key-id and s3.secret-access-key: \
                     give both, or neither to use the AWS environment"
                        .to_string(),
                ));
            }
        };
        let encryption = match get("s3.sse.type").map(|t| t.to_ascii_lowercase()).as_deref() {
            None | Some("none") => Encryption::None,
            Some("s3") => Encryption::S3Managed,
            Some("kms") => Encryption::Kms { key_id: get("s3.sse.key") },
            Some(other) => {
                return Err(config_error(format!(
                    "s3.sse.type is {other:?}: floe writes with none, s3 or kms (customer-provided keys are not \
                     supported)"
                )));
            }
        };
        Ok(Self {
            service: ServiceLocation { region, endpoint: get("s3.endpoint"), path_style },
            credentials,
            encryption,
        })
    }
}

/// `s3://bucket/some/key` to `("bucket", "some/key")`.
fn bucket_and_key(path: &str) -> Result<(&str, &str)> {
    let rest = ["s3://", "s3a://", "s3n://"].iter().find_map(|scheme| path.strip_prefix(scheme));
    match rest.and_then(|rest| rest.split_once('/')) {
        Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => Ok((bucket, key)),
        _ => Err(config_error(format!("{path} is not an s3://bucket/key location"))),
    }
}

fn iceberg_error(err: StorageError) -> Error {
    let kind = match err.kind {
        crate::StorageErrorKind::Permanent => ErrorKind::DataInvalid,
        crate::StorageErrorKind::NotFound | crate::StorageErrorKind::Transient => ErrorKind::Unexpected,
    };
    let retryable = err.kind == crate::StorageErrorKind::Transient;
    Error::new(kind, err.to_string()).with_retryable(retryable)
}

impl S3Warehouse {
    pub(crate) fn new(props: HashMap<String, String>) -> Self {
        Self { props, connected: Arc::default() }
    }

    async fn connected(&self) -> Result<&Connected> {
        self.connected
            .get_or_try_init(|| async {
                let config = WarehouseConfig::from_props(&self.props)?;
                let credentials = config
                    .credentials
                    .map(|(id, secret, token)| Credentials::new(id, secret, token, None, "floe warehouse properties"));
                Ok(Connected {
                    client: s3_client(&config.service, credentials).await,
                    encryption: config.encryption,
                    service: config.service.describe(),
                })
            })
            .await
    }

    /// The client, bucket and key for `path`, and the URL errors name.
    async fn object(&self, path: &str) -> Result<Object> {
        let (bucket, key) = bucket_and_key(path)?;
        let connected = self.connected().await?.clone();
        let url = format!("s3://{bucket}/{key} at {}", connected.service);
        Ok(Object { connected, bucket: bucket.to_string(), key: key.to_string(), url })
    }

    async fn head(&self, path: &str) -> Result<Option<u64>> {
        let object = self.object(path).await?;
        let head = object.client().head_object().bucket(&object.bucket).key(&object.key).send().await;
        match head.map_err(|e| sdk_error("head", &object.url, e)) {
            Ok(head) => Ok(Some(head.content_length().and_then(|l| u64::try_from(l).ok()).unwrap_or(0))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(iceberg_error(e)),
        }
    }
}

/// One object of a request, with the settings of its FileIO.
struct Object {
    connected: Connected,
    bucket: String,
    key: String,
    url: String,
}

impl Object {
    fn client(&self) -> &Client {
        &self.connected.client
    }

    async fn get(&self, range: Option<&Range<u64>>) -> Result<Bytes> {
        let request = self.client().get_object().bucket(&self.bucket).key(&self.key);
        let request = match range {
            Some(range) => request.range(range_header(range)),
            None => request,
        };
        let output = request.send().await.map_err(|e| iceberg_error(sdk_error("get", &self.url, e)))?;
        let body = output.body.collect().await.map_err(|e| iceberg_error(transient("get", &self.url, e)))?;
        Ok(body.into_bytes())
    }

    async fn put(&self, bytes: Bytes) -> Result<()> {
        let (sse, kms_key) = self.connected.encryption.headers();
        let request = self.client().put_object().bucket(&self.bucket).key(&self.key).body(ByteStream::from(bytes));
        request
            .set_server_side_encryption(sse)
            .set_ssekms_key_id(kms_key)
            .send()
            .await
            .map(drop)
            .map_err(|e| iceberg_error(sdk_error("put", &self.url, e)))
    }

    async fn delete(&self) -> Result<()> {
        let deleted = self.client().delete_object().bucket(&self.bucket).key(&self.key).send().await;
        match deleted.map_err(|e| sdk_error("delete", &self.url, e)) {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(iceberg_error(e)),
        }
    }
}

#[async_trait]
#[typetag::serde]
impl Storage for S3Warehouse {
    async fn exists(&self, path: &str) -> Result<bool> {
        Ok(self.head(path).await?.is_some())
    }

    async fn metadata(&self, path: &str) -> Result<FileMetadata> {
        match self.head(path).await? {
            Some(size) => Ok(FileMetadata { size }),
            None => Err(Error::new(ErrorKind::DataInvalid, format!("head {path}: no such object"))),
        }
    }

    async fn read(&self, path: &str) -> Result<Bytes> {
        self.object(path).await?.get(None).await
    }

    async fn reader(&self, path: &str) -> Result<Box<dyn FileRead>> {
        Ok(Box::new(S3Reader { object: self.object(path).await? }))
    }

    async fn write(&self, path: &str, bs: Bytes) -> Result<()> {
        self.object(path).await?.put(bs).await
    }

    async fn writer(&self, path: &str) -> Result<Box<dyn FileWrite>> {
        let object = self.object(path).await?;
        Ok(Box::new(S3Writer { object, buffer: BytesMut::new(), upload: None, closed: false }))
    }

    async fn delete(&self, path: &str) -> Result<()> {
        self.object(path).await?.delete().await
    }

    async fn delete_prefix(&self, path: &str) -> Result<()> {
        let object = self.object(path).await?;
        let prefix = if object.key.ends_with('/') { object.key.to_string() } else { format!("{}/", object.key) };
        let mut pages =
            object.client().list_objects_v2().bucket(&object.bucket).prefix(&prefix).into_paginator().send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| iceberg_error(sdk_error("list", &object.url, e)))?;
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
        }
        let bucket = object.bucket;
        let paths = keys.into_iter().map(move |key| format!("s3://{bucket}/{key}"));
        self.delete_stream(futures::stream::iter(paths).boxed()).await
    }

    async fn delete_stream(&self, paths: BoxStream<'static, String>) -> Result<()> {
        paths
            .map(|path| async move { self.delete(&path).await })
            .buffer_unordered(CONCURRENT_DELETES)
            .try_collect::<()>()
            .await
    }

    fn new_input(&self, path: &str) -> Result<InputFile> {
        bucket_and_key(path)?;
        Ok(InputFile::new(Arc::new(self.clone()), path.to_string()))
    }

    fn new_output(&self, path: &str) -> Result<OutputFile> {
        bucket_and_key(path)?;
        Ok(OutputFile::new(Arc::new(self.clone()), path.to_string()))
    }
}

/// Ranged reads of one object (Parquet footers and column chunks).
struct S3Reader {
    object: Object,
}

#[async_trait]
impl FileRead for S3Reader {
    async fn read(&self, range: Range<u64>) -> Result<Bytes> {
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        self.object.get(Some(&range)).await
    }
}

/// A multipart upload under way: its id and the parts sent so far.
struct Upload {
    id: String,
    parts: Vec<CompletedPart>,
}

/// Writes one object: whole when it stays under a part, else in parts.
struct S3Writer {
    object: Object,
    buffer: BytesMut,
    upload: Option<Upload>,
    closed: bool,
}

impl S3Writer {
    /// Sends the buffer as the next part, starting the upload with the first.
    async fn send_part(&mut self) -> Result<()> {
        let (client, url) = (self.object.connected.client.clone(), self.object.url.clone());
        let upload = match &mut self.upload {
            Some(upload) => upload,
            None => {
                let (sse, kms_key) = self.object.connected.encryption.headers();
                let request = client.create_multipart_upload().bucket(&self.object.bucket).key(&self.object.key);
                let request = request.set_server_side_encryption(sse).set_ssekms_key_id(kms_key);
                let created = request.send().await.map_err(|e| iceberg_error(sdk_error("start upload", &url, e)))?;
                let id = created.upload_id().unwrap_or_default().to_string();
                self.upload.insert(Upload { id, parts: Vec::new() })
            }
        };
        let number = i32::try_from(upload.parts.len() + 1).expect("S3 allows 10,000 parts");
        let body = ByteStream::from(self.buffer.split().freeze());
        let request = client.upload_part().bucket(&self.object.bucket).key(&self.object.key).upload_id(&upload.id);
        let sent = request.part_number(number).body(body).send().await;
        let sent = sent.map_err(|e| iceberg_error(sdk_error("upload part", &url, e)))?;
        upload
            .parts
            .push(CompletedPart::builder().part_number(number).set_e_tag(sent.e_tag().map(str::to_owned)).build());
        Ok(())
    }

    async fn finish(&mut self) -> Result<()> {
        if self.upload.is_none() {
            let whole = self.buffer.split().freeze();
            return self.object.put(whole).await;
        }
        if !self.buffer.is_empty() {
            self.send_part().await?;
        }
        let upload = self.upload.as_ref().expect("a multipart upload was started above");
        let parts = CompletedMultipartUpload::builder().set_parts(Some(upload.parts.clone())).build();
        let request =
            self.object.connected.client.complete_multipart_upload().bucket(&self.object.bucket).key(&self.object.key);
        let completed = request.upload_id(&upload.id).multipart_upload(parts).send().await;
        completed.map(drop).map_err(|e| iceberg_error(sdk_error("complete upload", &self.object.url, e)))
    }

    /// Best effort: a failed upload's parts would otherwise be billed until
    /// the bucket's lifecycle rule removes them.
    async fn abort(&mut self) {
        if let Some(upload) = self.upload.take() {
            let request =
                self.object.connected.client.abort_multipart_upload().bucket(&self.object.bucket).key(&self.object.key);
            if let Err(e) = request.upload_id(upload.id).send().await {
                let e = sdk_error("abort upload", &self.object.url, e);
                tracing::warn!(object = %self.object.url, "a failed multipart upload was left behind: {e}");
            }
        }
    }
}

#[async_trait]
impl FileWrite for S3Writer {
    async fn write(&mut self, bs: Bytes) -> Result<()> {
        if self.closed {
            return Err(Error::new(ErrorKind::Unexpected, format!("write {}: the file is closed", self.object.url)));
        }
        self.buffer.extend_from_slice(&bs);
        if self.buffer.len() >= PART_SIZE
            && let Err(e) = self.send_part().await
        {
            self.abort().await;
            return Err(e);
        }
        Ok(())
    }

    async fn close(&mut self) -> Result<()> {
        if self.closed {
            return Err(Error::new(
                ErrorKind::Unexpected,
                format!("close {}: the file is closed already", self.object.url),
            ));
        }
        self.closed = true;
        let finished = self.finish().await;
        if finished.is_err() {
            self.abort().await;
        }
        finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn properties_name_the_service_and_encryption() {
        let config = WarehouseConfig::from_props(&props(&[
            ("s3.endpoint", "http://127.0.0.1:9000"),
            ("s3.region", "eu-west-1"),
            ("s3.path-style-access", "true"),
            ("s3.sse.type", "kms"),
            ("s3.sse.key", "arn:aws:kms:key/1"),
        ]))
        .unwrap();
        assert_eq!(
            config,
            WarehouseConfig {
                service: ServiceLocation {
                    region: "eu-west-1".into(),
                    endpoint: Some("http://127.0.0.1:9000".into()),
                    path_style: true
                },
                credentials: None,
                encryption: Encryption::Kms { key_id: Some("arn:aws:kms:key/1".into()) },
            }
        );
        let defaults = WarehouseConfig::from_props(&HashMap::new()).unwrap();
        assert_eq!(defaults.service, ServiceLocation { region: "us-east-1".into(), endpoint: None, path_style: false });
        assert_eq!(defaults.encryption, Encryption::None);
    }

    #[test]
    fn vended_credentials_are_used_whole() {
        let config = WarehouseConfig::from_props(&props(&[
            ("s3.access-key-id", "AKIA"),
            ("s3.secret-access-key", "secret"),
            ("s3.session-token", "token"),
        ]))
        .unwrap();
        assert_eq!(config.credentials, Some(("AKIA".into(), "secret".into(), Some("token".into()))));
        let half = WarehouseConfig::from_props(&props(&[("s3.access-key-id", "AKIA")])).unwrap_err().to_string();
        assert!(half.contains("give both"), "{half}");
    }

    #[test]
    fn bad_properties_say_what_is_expected() {
        let err = |pairs: &[(&str, &str)]| WarehouseConfig::from_props(&props(pairs)).unwrap_err().to_string();
        assert!(err(&[("s3.sse.type", "aes")]).contains("none, s3 or kms"));
        assert!(err(&[("s3.sse.type", "custom")]).contains("customer-provided keys are not supported"));
        assert!(err(&[("s3.path-style-access", "yes")]).contains("expected true or false"));
        assert!(err(&[("client.assume-role.arn", "arn:aws:iam::1:role/x")]).contains("AWS environment"));
    }

    #[test]
    fn locations_split_into_bucket_and_key() {
        assert_eq!(bucket_and_key("s3://wh/db/t/data/a.parquet").unwrap(), ("wh", "db/t/data/a.parquet"));
        assert_eq!(bucket_and_key("s3a://wh/k").unwrap(), ("wh", "k"));
        assert!(bucket_and_key("s3://wh").is_err());
        assert!(bucket_and_key("s3:///key").is_err());
    }
}
