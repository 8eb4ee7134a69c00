//! KafScale LFS envelopes: record values the LFS proxy moved to S3 and
//! replaced by a JSON envelope naming the blob.
//!
//! What a table does with them is the mapping's `lfs` block ([`LfsConfig`]);
//! where the blobs are served from and how many are fetched at once is the
//! top-level `lfs` section ([`LfsService`]), shared by every mapping.

use serde::Deserialize;

use crate::error::Problem;
use crate::keyword::keyword_enum;
use crate::source::{S3Config, S3Endpoint, optional_endpoint};
use crate::value;

keyword_enum! {
    #[derive(Default)]
    pub enum LfsMode {
        /// Envelopes are stored as they are, like any value. YAML 1.1
        /// readers turn a bare `off` into `false`, so `false` is accepted too.
        #[default]
        Off => "off" | "false",
        /// The blob is fetched, checked, and becomes the record's value.
        Resolve => "resolve",
        /// The envelope stays the value; its fields fill `lfs_*` columns.
        Reference => "reference",
        /// Envelope records produce no row (counted, not dead letters).
        Skip => "skip",
        /// Resolve blobs up to `max_inline_bytes`, reference larger ones.
        Hybrid => "hybrid",
    }
}

impl LfsMode {
    /// The mode reads blobs from S3.
    pub fn fetches(self) -> bool {
        matches!(self, LfsMode::Resolve | LfsMode::Hybrid)
    }

    /// The table has the `lfs_*` columns.
    pub fn has_columns(self) -> bool {
        matches!(self, LfsMode::Reference | LfsMode::Hybrid)
    }
}

/// A mapping's `lfs` block.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LfsConfig {
    pub mode: LfsMode,
    /// With `hybrid`: blobs up to this size are resolved, larger ones referenced.
    #[serde(deserialize_with = "value::positive")]
    pub max_inline_bytes: u64,
    /// A blob larger than this is never fetched: with `resolve` it is a dead
    /// letter (`lfs_too_large`).
    #[serde(deserialize_with = "value::positive")]
    pub max_blob_bytes: u64,
}

impl Default for LfsConfig {
    fn default() -> Self {
        Self { mode: LfsMode::Off, max_inline_bytes: 1 << 20, max_blob_bytes: 64 << 20 }
    }
}

impl LfsConfig {
    pub(crate) fn validate(&self, key: &str) -> Result<(), Problem> {
        if self.mode == LfsMode::Hybrid && self.max_inline_bytes > self.max_blob_bytes {
            return Err(Problem::invalid(
                format!("{key}.max_inline_bytes"),
                format!("({}) is larger than {key}.max_blob_bytes ({})", self.max_inline_bytes, self.max_blob_bytes),
                "lower max_inline_bytes or raise max_blob_bytes",
            ));
        }
        Ok(())
    }
}

/// The top-level `lfs` section: where blobs are fetched from. Each key left
/// empty takes the `s3` section's value; the bucket is each envelope's own.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LfsService {
    /// An http(s) URL; `None` (written "") is the `s3` section's endpoint.
    #[serde(deserialize_with = "optional_endpoint")]
    pub endpoint: Option<String>,
    pub region: String,
    pub path_style: Option<bool>,
    /// Blob fetches in flight at once on one worker.
    #[serde(deserialize_with = "value::positive")]
    pub max_concurrent_fetches: usize,
}

impl Default for LfsService {
    fn default() -> Self {
        Self { endpoint: None, region: String::new(), path_style: None, max_concurrent_fetches: 8 }
    }
}

/// Where blobs are fetched from, resolved against the `s3` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LfsLocation {
    /// `None` for AWS.
    pub endpoint: Option<String>,
    pub region: String,
    pub path_style: bool,
}

impl LfsService {
    /// The S3 service of the blobs: this section's keys, else the `s3`
    /// section's. `None` when the segments are a local directory and no
    /// `lfs.endpoint` is set (validation refuses that for fetching modes).
    pub fn location(&self, s3: &S3Config) -> Option<LfsLocation> {
        let endpoint = match (&self.endpoint, &s3.endpoint) {
            (Some(url), _) => Some(url.clone()),
            (None, S3Endpoint::Custom(url)) => Some(url.clone()),
            (None, S3Endpoint::Aws) => None,
            (None, S3Endpoint::LocalDirectory(_)) => return None,
        };
        let region = if self.region.is_empty() { s3.region.clone() } else { self.region.clone() };
        Some(LfsLocation { endpoint, region, path_style: self.path_style.unwrap_or(s3.path_style) })
    }

    /// Fetching modes need an S3 service to fetch from.
    pub(crate) fn validate(&self, s3: &S3Config, modes: impl Iterator<Item = (usize, LfsMode)>) -> Result<(), Problem> {
        if self.location(s3).is_some() {
            return Ok(());
        }
        match modes.into_iter().find(|(_, mode)| mode.fetches()) {
            Some((index, mode)) => Err(Problem::invalid(
                "lfs.endpoint",
                format!(
                    "is empty and s3.endpoint is a local directory, but mappings[{index}].lfs.mode is {mode}, \
                     which fetches blobs from S3"
                ),
                "set lfs.endpoint to the S3 service holding the LFS blobs (e.g. http://minio:9000), \
                 or set the mapping's lfs.mode to reference, skip or off",
            )),
            None => Ok(()),
        }
    }
}
