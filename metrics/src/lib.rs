//! Every metric floe exports, in one place, and the HTTP endpoint that
//! serves them with the health checks.
//!
//! The seed processor's names are kept (`kafscale_processor_*`); what it
//! did not have is named `floe_*`. Counters and histograms are updated where
//! things happen (a commit, a decoded batch); per-partition gauges are set
//! from the coordinator's status snapshot at scrape time, so they always
//! agree with `floe ctl status`.

mod coordinator;
mod server;
mod worker;

pub use coordinator::{CommitMetrics, count_error, observe_status};
pub use server::{Health, serve};
pub use worker::{count_batch, count_decoded, count_lfs, set_connected, worker_readiness};

/// Where errors happened, for `kafscale_processor_errors_total{stage}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Listing segments.
    List,
    /// Reading or decoding a segment (a partition stopped).
    Decode,
    /// A worker's staged files refused.
    Report,
    /// An Iceberg commit failed.
    Commit,
    /// The state store did not answer.
    Store,
}

impl Stage {
    fn label(self) -> &'static str {
        match self {
            Stage::List => "list",
            Stage::Decode => "decode",
            Stage::Report => "report",
            Stage::Commit => "commit",
            Stage::Store => "store",
        }
    }
}
