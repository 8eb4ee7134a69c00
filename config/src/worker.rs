//! Limits of one worker process (`worker`).

use serde::Deserialize;

use crate::error::Problem;
use crate::value;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Segment fetches in flight at once.
    #[serde(deserialize_with = "value::positive")]
    pub fetch_concurrency: usize,
    /// Records of open transactions held while waiting for their commit or
    /// abort marker.
    #[serde(deserialize_with = "value::positive")]
    pub max_pending_txn_bytes: u64,
    /// Budget for decoded batches buffered in the worker.
    #[serde(deserialize_with = "value::positive")]
    pub memory_limit_bytes: u64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self { fetch_concurrency: 4, max_pending_txn_bytes: 64 * 1024 * 1024, memory_limit_bytes: 256 * 1024 * 1024 }
    }
}

impl WorkerConfig {
    pub(crate) fn validate(&self) -> Result<(), Problem> {
        // Pending transactions are buffered batches too.
        if self.max_pending_txn_bytes > self.memory_limit_bytes {
            return Err(Problem::invalid(
                "worker.max_pending_txn_bytes",
                format!(
                    "({}) is larger than worker.memory_limit_bytes ({})",
                    self.max_pending_txn_bytes, self.memory_limit_bytes
                ),
                "lower max_pending_txn_bytes or raise memory_limit_bytes",
            ));
        }
        Ok(())
    }
}
