//! floe's worker.
//!
//! A worker connects to the coordinator ([`session`]), receives partition
//! leases with the segments to read, and for each lease runs a
//! [`reader`]: fetch, verify, decode, read-committed filter, LFS envelopes
//! ([`lfs`]), Arrow rows. The
//! rows of every partition of a table go to that table's [`writer`], which
//! rolls Parquet files and reports each one with the exact offset ranges it
//! holds. The coordinator commits them.

mod backoff;
mod dictionary;
mod halt;
mod lfs;
mod link;
mod lookup;
mod memory;
mod outage;
mod reader;
mod session;
mod table;
#[cfg(test)]
mod testing;
mod tls;
mod writer;

use std::time::Duration;

use floe_config::TlsFiles;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::backoff::Backoff;
pub use crate::session::{SessionEnd, SessionError};

/// Runs a worker until `stop` is cancelled, reconnecting (with backoff) when
/// the coordinator goes away or a session fails. With several coordinator
/// endpoints, each failure moves on to the next: standbys refuse or do not
/// listen, so the worker settles on the leader.
pub async fn run(endpoints: Vec<String>, tls: Option<TlsFiles>, worker_id: String, stop: CancellationToken) {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let mut unreachable = 0;
    for endpoint in endpoints.iter().cycle() {
        let ended = session::run_session(endpoint, tls.as_ref(), &worker_id, &stop).await;
        floe_metrics::set_connected(false);
        match ended {
            Ok(SessionEnd::Stopped) => return,
            Ok(SessionEnd::Closed) => {
                info!(worker = %worker_id, "the coordinator closed the session");
                backoff.reset();
                unreachable = 0;
            }
            // A standby listens only once it leads: one not answering is
            // normal, every coordinator in a row is not.
            Err(e @ SessionError::Connect { .. }) => {
                unreachable += 1;
                match unreachable % endpoints.len() {
                    0 if endpoints.len() > 1 => {
                        warn!(worker = %worker_id, "none of the {} coordinators answers; the last: {e}", endpoints.len())
                    }
                    0 => warn!(worker = %worker_id, "{e}"),
                    _ => debug!(worker = %worker_id, "{e}; trying the next coordinator"),
                }
            }
            Err(e) => {
                unreachable = 0;
                warn!(worker = %worker_id, "session ended: {e}");
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(backoff.next_pause()) => {}
        }
    }
}
