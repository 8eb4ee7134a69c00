//! Partition leases: granted to the connected workers so each holds its
//! share, taken back to balance them, for an operator's command, or when
//! the table must stop being read. A grant carries a new epoch from the
//! state store, the fencing token every report is checked against
//! ([`crate::commit::admission`]); a lease being taken back still reports
//! its last rows, then the worker releases it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use floe_metrics::Stage;
use floe_proto::worker::coordinator_message::Body as ToWorker;
use floe_proto::worker::{Grant, Revoke};
use tracing::{error, info};

use super::Control;
use super::ending::Ending;
use super::partition::{Lease, LeaseState};
use crate::assignment;
use crate::commit::SessionId;
use crate::feed::{Feed, Tp};

impl Control {
    /// Grants free partitions and takes back excess ones so every worker
    /// holds its share.
    pub(super) async fn rebalance(&mut self) {
        if !self.workers.settled(Instant::now()) {
            return; // the next tick tries again
        }
        self.rebalance_needed = false;
        self.apply_pending_skips();
        if self.finishing && self.ending == Ending::Never {
            return; // draining: no new work
        }
        let workers = self.workers.sessions();
        let holders: BTreeMap<Feed, Option<SessionId>> = self
            .partitions
            .iter()
            .filter(|(_, p)| p.staged.is_some())
            // A table whose commits stopped gets no more readers, nor one
            // whose schema source has no usable schema.
            .filter(|(f, _)| self.tables.get(&f.table).is_none_or(|t| t.stopped.is_none() && t.held.is_none()))
            // Neither is a partition an operator paused or is skipping, nor
            // one whose table strict validation paused.
            .filter(|(f, p)| p.pending_skip.is_none() && self.pauses.of(&f.tp, &f.table).is_none())
            .filter(|(f, _)| self.invalid_record_of(&f.table).is_none())
            .filter(|(f, _)| self.tables.get(&f.table).is_none_or(|t| t.rewind.is_none()))
            .map(|(feed, p)| (feed.clone(), p.lease.as_ref().map(|l| l.session)))
            .collect();
        let plan = assignment::plan(&workers, &holders);
        for (feed, session) in plan.revokes {
            let lease = self.partitions.get(&feed).and_then(|p| p.lease.as_ref());
            if lease.is_some_and(|l| l.state == LeaseState::Active) {
                info!(partition = %feed, %session, "moving partition to balance workers");
                self.take_back(&feed);
            }
        }
        if plan.grants.is_empty() {
            return;
        }
        // Epochs are counted per topic-partition: the tables it feeds may
        // share one, as each lease is checked against its own.
        let tps: Vec<Tp> =
            plan.grants.iter().map(|(feed, _)| feed.tp.clone()).collect::<BTreeSet<_>>().into_iter().collect();
        let epochs = match self.store.next_epochs(&tps).await {
            Ok(epochs) => tps.into_iter().zip(epochs).collect::<HashMap<Tp, u64>>(),
            Err(e) => {
                floe_metrics::count_error(Stage::Store);
                error!("cannot grant leases: {e}");
                self.rebalance_needed = true;
                return;
            }
        };
        for (feed, session) in plan.grants {
            let Some(&epoch) = epochs.get(&feed.tp) else { continue };
            self.grant(feed, session, epoch);
        }
    }

    fn grant(&mut self, feed: Feed, session: SessionId, epoch: u64) {
        let Some(partition) = self.partitions.get_mut(&feed) else { return };
        let Some(staged) = partition.staged else { return };
        if !self.workers.contains(session) {
            self.rebalance_needed = true;
            return;
        }
        let table = &feed.table;
        partition.lease = Some(Lease {
            session,
            epoch,
            state: LeaseState::Active,
            sent_to: staged.resume_from(),
            read_to: staged.next,
            waiting: None,
        });
        let dead_letters_from = partition.dead_letters_committed;
        // A table's dead-letter table is defined first: the table names it.
        let defines: Vec<_> = self
            .tables
            .get(table)
            .into_iter()
            .flat_map(|state| state.dead_letters.iter().chain([table]))
            .filter_map(|name| self.tables.get(name))
            .map(|state| state.define.clone())
            .collect();
        for define in defines {
            if self.workers.needs_definition(session, &define.table) {
                self.send(session, ToWorker::DefineTable(define));
            }
        }
        let grant = Grant {
            feed: Some(feed.to_proto()),
            epoch,
            resume_from: staged.resume_from(),
            consumed_to: staged.next,
            dead_letters_from,
        };
        self.send(session, ToWorker::Grant(grant));
        self.send_segments(&feed);
    }

    /// Asks the holder of a partition to release it; true if a revoke was sent.
    pub(super) fn take_back(&mut self, feed: &Feed) -> bool {
        let Some(lease) = self.partitions.get_mut(feed).and_then(|p| p.lease.as_mut()) else { return false };
        if lease.state == LeaseState::Revoking {
            return true;
        }
        lease.state = LeaseState::Revoking;
        let (session, epoch) = (lease.session, lease.epoch);
        self.send(session, ToWorker::Revoke(Revoke { feed: Some(feed.to_proto()), epoch }));
        true
    }

    /// Takes back every lease of the table; they are granted again when
    /// the table may be read.
    pub(super) fn revoke_table(&mut self, name: &str) {
        let feeds: Vec<Feed> = self.partitions.keys().filter(|feed| feed.table == name).cloned().collect();
        for feed in feeds {
            self.take_back(&feed);
        }
        self.rebalance_needed = true;
    }
}
