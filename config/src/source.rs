//! The segment source: the bucket KafScale brokers write segments to (`s3`).

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;
use serde::de::{self, Deserializer, Unexpected, Visitor};

use crate::error::Problem;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    pub bucket: String,
    /// Key prefix of the segments inside the bucket; empty means none.
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub endpoint: S3Endpoint,
    #[serde(default = "default_region")]
    pub region: String,
    #[serde(default)]
    pub path_style: bool,
    /// The read_* keys describe a replica (cross-region replication) read
    /// before the primary. There is a replica when any of them is set; each
    /// one left empty takes the primary's value.
    #[serde(default)]
    pub read_bucket: String,
    #[serde(default)]
    pub read_region: String,
    /// An http(s) URL; `None` is written as "".
    #[serde(default, deserialize_with = "optional_endpoint")]
    pub read_endpoint: Option<String>,
}

fn default_region() -> String {
    "us-east-1".to_owned()
}

/// Where the bucket is served from, parsed from `s3.endpoint`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum S3Endpoint {
    /// `""`: AWS S3, endpoint chosen by region.
    #[default]
    Aws,
    /// `http(s)://host:port`: an S3-compatible service such as MinIO.
    Custom(String),
    /// `file:///DIR`: bucket `B` is the directory `DIR/B`.
    LocalDirectory(PathBuf),
}

/// The resolved place segments are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceLocation {
    /// Segments under `root` (`DIR/bucket`) in the bucket's layout.
    Local { root: PathBuf },
    S3 {
        bucket: String,
        region: String,
        /// `None` for AWS.
        endpoint: Option<String>,
        path_style: bool,
        read_replica: Option<ReadReplica>,
    },
}

/// A replica bucket read first, with the primary as fallback on a miss.
/// Whatever the config leaves empty is the primary's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadReplica {
    pub bucket: String,
    pub region: String,
    /// `None` for AWS.
    pub endpoint: Option<String>,
}

impl S3Config {
    /// Where segments are read from, resolved from the endpoint.
    pub fn location(&self) -> SourceLocation {
        let endpoint = match &self.endpoint {
            S3Endpoint::LocalDirectory(dir) => {
                return SourceLocation::Local { root: dir.join(&self.bucket) };
            }
            S3Endpoint::Aws => None,
            S3Endpoint::Custom(url) => Some(url.clone()),
        };
        SourceLocation::S3 {
            bucket: self.bucket.clone(),
            region: self.region.clone(),
            endpoint: endpoint.clone(),
            path_style: self.path_style,
            read_replica: self.has_read_replica().then(|| ReadReplica {
                bucket: inherit(&self.read_bucket, &self.bucket),
                region: inherit(&self.read_region, &self.region),
                endpoint: self.read_endpoint.clone().or(endpoint),
            }),
        }
    }

    /// The object key prefix for segments: the namespace and a slash, or ""
    /// when there is no namespace.
    pub fn prefix(&self) -> String {
        match self.namespace.trim_matches('/') {
            "" => String::new(),
            namespace => format!("{namespace}/"),
        }
    }

    fn has_read_replica(&self) -> bool {
        !self.read_bucket.is_empty() || !self.read_region.is_empty() || self.read_endpoint.is_some()
    }

    pub(crate) fn validate(&self) -> Result<(), Problem> {
        if self.bucket.is_empty() {
            return Err(Problem::invalid(
                "s3.bucket",
                "is empty",
                "set it to the bucket the KafScale brokers write segments to",
            ));
        }
        if self.bucket.contains('/') {
            return Err(Problem::invalid(
                "s3.bucket",
                format!("is `{}`, which contains a slash", self.bucket),
                "give the bucket name alone and put any key prefix in s3.namespace",
            ));
        }
        if let S3Endpoint::LocalDirectory(_) = self.endpoint {
            let replica_keys = [
                ("s3.read_bucket", !self.read_bucket.is_empty()),
                ("s3.read_region", !self.read_region.is_empty()),
                ("s3.read_endpoint", self.read_endpoint.is_some()),
            ];
            if let Some((key, _)) = replica_keys.into_iter().find(|(_, set)| *set) {
                return Err(Problem::invalid(
                    key,
                    "is set, but a local directory source (file://) has no read replica",
                    "remove the read_* keys, or point s3.endpoint at an S3 service",
                ));
            }
            return Ok(());
        }
        if self.region.is_empty() {
            return Err(Problem::invalid(
                "s3.region",
                "is empty",
                "set the bucket's region, e.g. us-east-1 (S3-compatible services accept any region)",
            ));
        }
        Ok(())
    }
}

fn inherit(value: &str, primary: &str) -> String {
    match value {
        "" => primary.to_owned(),
        value => value.to_owned(),
    }
}

impl<'de> Deserialize<'de> for S3Endpoint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(EndpointVisitor)
    }
}

struct EndpointVisitor;

impl Visitor<'_> for EndpointVisitor {
    type Value = S3Endpoint;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "\"\" for AWS, an http(s)://host:port URL of an S3-compatible service, \
             or file:///ABSOLUTE/DIR for a local directory",
        )
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<S3Endpoint, E> {
        let invalid = || E::invalid_value(Unexpected::Str(text), &self);
        if text.is_empty() {
            return Ok(S3Endpoint::Aws);
        }
        // Three slashes: in `file://dir`, `dir` would be a host name.
        if text.starts_with("file:///") {
            let url = url::Url::parse(text).map_err(|_| invalid())?;
            let dir = url.to_file_path().map_err(|()| invalid())?;
            return Ok(S3Endpoint::LocalDirectory(dir));
        }
        match is_http_url(text) {
            true => Ok(S3Endpoint::Custom(text.to_owned())),
            false => Err(invalid()),
        }
    }
}

/// An endpoint that may be left empty to inherit another: `""` is `None`.
pub(crate) fn optional_endpoint<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    deserializer.deserialize_str(OptionalEndpointVisitor)
}

struct OptionalEndpointVisitor;

impl Visitor<'_> for OptionalEndpointVisitor {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"\" for the primary endpoint, or an http(s)://host:port URL")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Option<String>, E> {
        match text {
            "" => Ok(None),
            url if is_http_url(url) => Ok(Some(url.to_owned())),
            _ => Err(E::invalid_value(Unexpected::Str(text), &self)),
        }
    }
}

pub(crate) fn is_http_url(text: &str) -> bool {
    url::Url::parse(text).is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
}
