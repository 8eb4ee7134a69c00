//! Operators' commands (the admin API's pause, resume, skips and rewinds),
//! their replies, and what the loop keeps of a command while it waits for
//! leases to come back.

use tokio::sync::oneshot;

use crate::commit::{OffsetMap, RollbackTarget};
use crate::feed::Tp;
use crate::pause::PauseTarget;

/// Why a command was refused; maps to a gRPC status code.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unavailable(String),
}

pub type AdminReply = oneshot::Sender<Result<String, AdminError>>;

#[derive(Debug)]
pub enum AdminCommand {
    Pause(PauseTarget),
    Resume(PauseTarget),
    /// Move a partition forward to `offset`: in `table`, or in the one
    /// table it feeds.
    SkipTo {
        tp: Tp,
        table: Option<String>,
        offset: i64,
        reason: String,
    },
    /// Go on after a damaged segment object.
    SkipSegment {
        object: String,
        reason: String,
    },
    /// Take a table back to an earlier snapshot.
    RewindTable {
        table: String,
        target: RollbackTarget,
        reason: String,
    },
}

/// A table's rewind, waiting for its leases and commit cycle.
#[derive(Debug)]
pub struct PendingRewind {
    pub target: RollbackTarget,
    pub reason: String,
    /// Answered once the rollback is done.
    pub reply: Option<AdminReply>,
    pub started: bool,
}

/// The table after a rollback, and the offsets its snapshot records.
#[derive(Debug)]
pub struct RolledBack {
    pub snapshot_id: i64,
    pub table: iceberg::table::Table,
    pub offsets: OffsetMap,
}

/// A skip waiting for the partition's lease to come back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSkip {
    pub to: i64,
    pub reason: String,
}
