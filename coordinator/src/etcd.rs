//! Reaching etcd, and where floe keeps things there.
//!
//! Key layout, under `{offsets.key_prefix}` (default `processors`):
//!
//! | key | value |
//! |---|---|
//! | `{p}/leader/{lease id}` | the leading coordinator's id (etcd election) |
//! | `{p}/epochs/{topic}/{partition}` | the partition lease's latest epoch |
//! | `{p}/files/{data file URL}` | `{"table": .., "created_ms": ..}`: a file a worker may have written, not known committed |
//! | `{p}/offsets/{table}/{topic}/{partition}` | the table's next offset to read, mirrored after each commit (the tables stay the source of truth) |
//! | `{p}/cursors/{table}/{topic}/{partition}` | the `.kfs` key of the table's last wholly committed segment: discovery lists after the lowest of a topic's tables |
//!
//! KafScale's own `/kafscale/metadata/snapshot` is read for topic and
//! partition lists (discovery modes `auto` and `etcd`).

use std::time::Duration;

use etcd_client::{Certificate, Client, Compare, CompareOp, ConnectOptions, Identity, TlsOptions};
use floe_config::TlsFiles;

use crate::feed::{Feed, Tp};

/// How to reach etcd, from the `etcd` and `offsets` sections.
#[derive(Debug, Clone)]
pub struct EtcdSettings {
    pub endpoints: Vec<String>,
    pub username: String,
    pub password: String,
    pub tls: TlsFiles,
    pub layout: EtcdLayout,
}

#[derive(Debug, thiserror::Error)]
#[error("etcd {endpoints}: {message}")]
pub struct EtcdError {
    pub endpoints: String,
    pub message: String,
}

impl EtcdSettings {
    fn error(&self, message: impl std::fmt::Display) -> EtcdError {
        EtcdError { endpoints: self.endpoints.join(","), message: message.to_string() }
    }

    /// Connects and checks that etcd answers, so a wrong endpoint, TLS
    /// setting or password is one clear error at start.
    pub async fn connect(&self) -> Result<Client, EtcdError> {
        // No per-request timeout: a standby's campaign call waits as long as
        // the leader lives. HTTP/2 keep-alives notice a dead connection.
        let mut options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_keep_alive(Duration::from_secs(5), Duration::from_secs(5));
        if !self.username.is_empty() {
            options = options.with_user(self.username.clone(), self.password.clone());
        }
        if self.tls.is_set() {
            options = options.with_tls(self.tls_options()?);
        }
        let mut client = Client::connect(&self.endpoints, Some(options)).await.map_err(|e| {
            self.error(format!("cannot connect: {e} (check etcd.endpoints, etcd.tls and etcd.username/password)"))
        })?;
        client
            .status()
            .await
            .map_err(|e| self.error(format!("does not answer: {e} (check etcd.endpoints and etcd.tls)")))?;
        Ok(client)
    }

    fn tls_options(&self) -> Result<TlsOptions, EtcdError> {
        let read = |key: &str, path: &std::path::Path| {
            std::fs::read(path).map_err(|e| self.error(format!("etcd.tls.{key} {}: {e}", path.display())))
        };
        let mut tls = TlsOptions::new();
        if let Some(ca) = &self.tls.ca_file {
            tls = tls.ca_certificate(Certificate::from_pem(read("ca_file", ca)?));
        }
        if let (Some(cert), Some(key)) = (&self.tls.cert_file, &self.tls.key_file) {
            tls = tls.identity(Identity::from_pem(read("cert_file", cert)?, read("key_file", key)?));
        }
        Ok(tls)
    }
}

/// floe's keys in etcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdLayout {
    prefix: String,
}

impl EtcdLayout {
    pub fn new(key_prefix: &str) -> Self {
        Self { prefix: key_prefix.trim_end_matches('/').to_string() }
    }

    pub fn election(&self) -> String {
        format!("{}/leader", self.prefix)
    }

    pub fn epoch(&self, tp: &Tp) -> String {
        format!("{}/epochs/{}/{}", self.prefix, tp.topic, tp.partition)
    }

    pub fn files(&self) -> String {
        format!("{}/files/", self.prefix)
    }

    pub fn file(&self, path: &str) -> String {
        format!("{}{path}", self.files())
    }

    pub fn offset(&self, feed: &Feed) -> String {
        format!("{}/offsets/{}/{}/{}", self.prefix, feed.table, feed.tp.topic, feed.tp.partition)
    }

    pub fn cursors(&self) -> String {
        format!("{}/cursors/", self.prefix)
    }

    pub fn cursor(&self, feed: &Feed) -> String {
        format!("{}{}/{}/{}", self.cursors(), feed.table, feed.tp.topic, feed.tp.partition)
    }

    pub fn pauses(&self) -> String {
        format!("{}/paused/", self.prefix)
    }

    /// An operator pause: `table/NAME`, `topic/NAME` or `partition/TOPIC/N`.
    pub fn pause(&self, target: &str) -> String {
        format!("{}{target}", self.pauses())
    }

    /// The partition of a cursor key. Keys of earlier versions, without
    /// the table, are not read: discovery then lists from the start once.
    pub fn cursor_feed(&self, key: &str) -> Option<Feed> {
        let mut parts = key.strip_prefix(&self.cursors())?.split('/');
        let (table, topic, partition) = (parts.next()?, parts.next()?, parts.next()?);
        match parts.next() {
            Some(_) => None,
            None => Some(Feed::new(table, Tp::new(topic, partition.parse().ok()?))),
        }
    }
}

/// The leader key this coordinator was elected with. A write compared
/// against it lands only while the key still exists as created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub key: Vec<u8>,
    pub create_revision: i64,
}

impl Fence {
    pub fn compare(&self) -> Compare {
        Compare::create_revision(self.key.clone(), CompareOp::Equal, self.create_revision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_documented_layout() {
        let layout = EtcdLayout::new("processors/");
        let tp = Tp::new("orders", 3);
        assert_eq!(layout.election(), "processors/leader");
        assert_eq!(layout.epoch(&tp), "processors/epochs/orders/3");
        let feed = Feed::new("prod.orders", tp.clone());
        assert_eq!(layout.offset(&feed), "processors/offsets/prod.orders/orders/3");
        assert_eq!(layout.cursor(&feed), "processors/cursors/prod.orders/orders/3");
        assert_eq!(layout.cursor_feed("processors/cursors/prod.orders/orders/3"), Some(feed));
        assert_eq!(layout.cursor_feed("processors/cursors/prod.orders/orders/x"), None);
        assert_eq!(layout.cursor_feed("processors/cursors/orders/3"), None, "an earlier version's key");
        assert_eq!(layout.pause("partition/orders/3"), "processors/paused/partition/orders/3");
        assert_eq!(layout.file("s3://w/t/data/a.parquet"), "processors/files/s3://w/t/data/a.parquet");
    }
}
