//! Coordinator leader election through etcd.
//!
//! Every coordinator holds an etcd lease (TTL `offsets.lease_ttl_seconds`)
//! and campaigns on `{prefix}/leader`; the one whose key is oldest leads,
//! the others wait in the campaign call. The leader keeps its lease alive:
//!
//! - while keep-alives fail (etcd unreachable) it is *unsure*: it stops
//!   committing and granting leases until etcd answers again; when etcd
//!   restarts, it extends existing leases, so the leader carries on;
//! - when etcd says the lease expired, leadership is *lost* for good: a
//!   standby may lead already, and this coordinator must stop.
//!
//! Two leaders at once cannot duplicate data anyway: every commit checks
//! the table's recorded offsets first, and state writes are fenced on the
//! leader key.

use std::time::{Duration, Instant};

use etcd_client::Client;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::etcd::{EtcdError, EtcdLayout, Fence};

/// What the leader knows of its own leadership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaderState {
    Leading,
    /// etcd did not answer the last keep-alive.
    Unsure {
        since: Instant,
        error: String,
    },
    /// The lease is gone; another coordinator may lead.
    Lost(String),
}

/// An elected leader: its fence and a view of whether it still leads.
pub struct Leadership {
    pub fence: Fence,
    pub state: watch::Receiver<LeaderState>,
    pub resign: Resignation,
}

/// Gives leadership up at once on a clean stop, so a standby (or this
/// coordinator restarted) leads without waiting for the lease to expire.
pub struct Resignation {
    client: Client,
    lease: i64,
    keep_alive: CancellationToken,
}

impl Resignation {
    pub async fn resign(self) {
        self.keep_alive.cancel();
        if let Err(e) = self.client.lease_client().revoke(self.lease).await {
            tracing::warn!("could not give up leadership (a standby leads once the lease expires): {e}");
        }
    }
}

/// Waits until this coordinator leads (or `cancel` fires: `None`).
pub async fn campaign(
    client: &Client,
    layout: &EtcdLayout,
    ttl: Duration,
    id: &str,
    cancel: &CancellationToken,
) -> Result<Option<Leadership>, EtcdError> {
    let error = |message: String| EtcdError { endpoints: "election".into(), message };
    let ttl_seconds = i64::try_from(ttl.as_secs().max(2)).unwrap_or(i64::MAX);
    let lease = client.lease_client().grant(ttl_seconds, None).await.map_err(|e| error(format!("lease: {e}")))?.id();
    let (state_tx, state) = watch::channel(LeaderState::Leading);
    // Keep the lease alive while waiting too: a standby's candidacy must
    // survive as long as the process does.
    let keep_alive_stop = cancel.child_token();
    tokio::spawn(keep_alive(client.clone(), lease, ttl, state_tx, keep_alive_stop.clone()));
    let mut election = client.election_client();
    let campaign = election.campaign(layout.election(), id, lease);
    let mut lease_state = state.clone();
    let lease_lost = lease_state.wait_for(|s| matches!(s, LeaderState::Lost(_)));
    let response = tokio::select! {
        _ = cancel.cancelled() => return Ok(None),
        _ = lease_lost => return Err(error("the lease expired while standing by".into())),
        response = campaign => response.map_err(|e| error(format!("campaign: {e}")))?,
    };
    let leader = response.leader().ok_or_else(|| error("campaign: no leader key in the answer".into()))?;
    let fence = Fence { key: leader.key().to_vec(), create_revision: leader.rev() };
    let resign = Resignation { client: client.clone(), lease, keep_alive: keep_alive_stop };
    Ok(Some(Leadership { fence, state, resign }))
}

/// Renews the lease every third of its TTL until cancelled or expired.
async fn keep_alive(
    client: Client,
    lease: i64,
    ttl: Duration,
    state: watch::Sender<LeaderState>,
    cancel: CancellationToken,
) {
    let period = (ttl / 3).max(Duration::from_millis(500));
    let mut unsure_since = None;
    loop {
        let renewed = async {
            let (mut keeper, mut responses) = client.lease_client().keep_alive(lease).await?;
            keeper.keep_alive().await?;
            Ok::<_, etcd_client::Error>(responses.message().await?.map(|r| r.ttl()))
        };
        let renewed = tokio::select! {
            _ = cancel.cancelled() => return,
            renewed = tokio::time::timeout(period, renewed) => renewed,
        };
        match renewed {
            Ok(Ok(Some(ttl))) if ttl > 0 => {
                if unsure_since.take().is_some() {
                    tracing::info!("etcd answers again: still the leader");
                }
                state.send_replace(LeaderState::Leading);
            }
            Ok(Ok(_)) => {
                let message = "the coordinator's etcd lease expired".to_string();
                tracing::error!("{message}: another coordinator may lead now");
                state.send_replace(LeaderState::Lost(message));
                return;
            }
            Ok(Err(e)) => mark_unsure(&state, &mut unsure_since, e.to_string()),
            Err(_) => mark_unsure(&state, &mut unsure_since, format!("no answer within {period:?}")),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
    }
}

fn mark_unsure(state: &watch::Sender<LeaderState>, since: &mut Option<Instant>, error: String) {
    let since = *since.get_or_insert_with(Instant::now);
    tracing::warn!("etcd unreachable, commits and lease grants paused until it answers: {error}");
    state.send_replace(LeaderState::Unsure { since, error });
}
