//! Coordinator state that must outlive a coordinator process: lease epochs
//! (fencing tokens) and the data files workers were allowed to write (so
//! files never committed can be collected).
//!
//! Offsets are NOT kept here: the tables are their source of truth (etcd
//! mirrors them for watchers).

mod etcd;
mod memory;
mod sql;

use std::collections::HashMap;

use async_trait::async_trait;
pub use etcd::EtcdStore;
pub use memory::MemoryStore;
pub use sql::{SqlStore, numbered_params};

use crate::feed::{Feed, Tp};

#[derive(Debug, thiserror::Error)]
#[error("state store {store}: {operation}: {message}")]
pub struct StoreError {
    pub store: String,
    pub operation: &'static str,
    pub message: String,
}

/// A data file a worker was given a path for and that is not known to be
/// committed yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileIntent {
    pub table: String,
    pub path: String,
    pub created_ms: i64,
}

#[async_trait]
pub trait StateStore: std::fmt::Debug + Send + Sync {
    /// Allocates the next epoch of each partition's lease, persisted before
    /// returning, so epochs only grow, across coordinator restarts too.
    /// Each partition appears once.
    async fn next_epochs(&self, tps: &[Tp]) -> Result<Vec<u64>, StoreError>;

    /// Remembers a data file path before a worker writes it.
    async fn record_file_intent(&self, intent: &FileIntent) -> Result<(), StoreError>;

    /// Forgets files that were committed or deleted.
    async fn forget_files(&self, paths: &[String]) -> Result<(), StoreError>;

    /// File intents created before `before_ms` (Unix ms), oldest first.
    async fn file_intents_before(&self, before_ms: i64) -> Result<Vec<FileIntent>, StoreError>;

    /// Records what a commit made of each partition: the next offset, for
    /// those who watch the store (never read back: the tables are the
    /// truth), and the discovery cursor, so the next coordinator lists only
    /// segments not wholly committed.
    async fn record_progress(&self, _progress: &[Progress]) -> Result<(), StoreError> {
        Ok(())
    }

    /// Keys of the operator pauses in force ([`crate::pause::PauseTarget::key`]).
    async fn pauses(&self) -> Result<Vec<String>, StoreError>;

    /// Records a pause, or removes it.
    async fn set_pause(&self, key: &str, paused: bool) -> Result<(), StoreError>;

    /// Forgets the discovery cursors of partitions whose table went back
    /// to an earlier snapshot.
    async fn forget_discovery_cursors(&self, _feeds: &[Feed]) -> Result<(), StoreError> {
        Ok(())
    }

    /// The discovery cursors recorded so far.
    async fn discovery_cursors(&self) -> Result<HashMap<Feed, String>, StoreError> {
        Ok(HashMap::new())
    }
}

/// A partition of a table after a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub feed: Feed,
    pub next_offset: i64,
    /// The `.kfs` key of the last wholly committed segment, if known.
    pub discovery_cursor: Option<String>,
}
