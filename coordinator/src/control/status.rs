//! The cluster's state as the admin API shows it: built by the control loop
//! once a second and published on a watch channel, so any number of
//! `Status` streams (and the metrics endpoint) read it without locking the
//! loop.

use floe_proto::admin::{ClusterStatus, PartitionStatus, TableStatus, WorkerStatus};

use std::collections::HashMap;

use super::partition::{LeaseState, Partition};
use super::{Control, SessionId, now_ms};
use crate::feed::Feed;

impl Control {
    pub(super) fn status(&self) -> ClusterStatus {
        let now = now_ms();
        let partitions: Vec<PartitionStatus> =
            self.partitions.iter().map(|(feed, p)| self.partition_status(feed, p, now)).collect();
        // One pass over the partitions for what tables and workers sum up
        // (at 10,000 partitions, not one pass per table and per worker).
        // A table's watermark is unknown while one of its partitions' is.
        let mut watermarks: HashMap<&str, Option<i64>> = HashMap::new();
        let mut leases: HashMap<SessionId, u32> = HashMap::new();
        for ((feed, p), status) in self.partitions.iter().zip(&partitions) {
            let watermark = watermarks.entry(feed.table.as_str()).or_insert(status.watermark_ms);
            *watermark = (*watermark).min(status.watermark_ms);
            if let Some(lease) = &p.lease {
                *leases.entry(lease.session).or_default() += 1;
            }
        }
        let tables = self
            .tables
            .values()
            .map(|t| {
                let watermark_ms = watermarks.get(t.name.as_str()).copied().flatten();
                TableStatus {
                    table: t.name.clone(),
                    topic: self.topics_feeding(&t.name),
                    dead_letters_of: t.dead_letters_of.clone().unwrap_or_default(),
                    paused: self.pauses.contains(&crate::pause::PauseTarget::Table(t.name.clone()))
                        || self.invalid_record_of(&t.name).is_some(),
                    error: t
                        .stopped
                        .clone()
                        .or_else(|| self.table_paused_message(&t.name))
                        .or_else(|| t.held.as_ref().map(ToString::to_string))
                        .or_else(|| t.last_error.clone())
                        .unwrap_or_default(),
                    watermark_ms,
                    recent_commits: t.recent_commits.iter().cloned().collect(),
                    staged_files: t.cycle.staged_files(),
                    staged_bytes: t.cycle.staged_bytes(),
                    commits: t.totals.commits,
                    records: t.totals.records,
                    files: t.totals.files,
                    snapshot_id: t.table.metadata().current_snapshot_id(),
                }
            })
            .collect();
        let workers = self
            .workers
            .iter()
            .map(|(session, w)| WorkerStatus {
                worker_id: w.worker_id.clone(),
                session: session.to_string(),
                leases: leases.get(session).copied().unwrap_or(0),
                silent_ms: w.last_seen.elapsed().as_millis().min(u32::MAX as u128) as u32,
            })
            .collect();
        ClusterStatus {
            coordinator: self.coordinator_id.clone(),
            time_ms: now,
            halted: self.paused.clone().unwrap_or_default(),
            workers,
            tables,
            partitions,
            list_failures: self
                .list_failures
                .iter()
                .map(|(location, error)| format!("{location}: {error}"))
                .chain(self.unfollowed.iter().map(|(topic, problem)| format!("topic {topic}: {problem}")))
                .collect(),
        }
    }

    fn partition_status(&self, feed: &Feed, p: &Partition, now: i64) -> PartitionStatus {
        let Feed { table, tp } = feed;
        let committed = p.committed.map(|c| c.next);
        // Discovery resumes after the last wholly committed segment, so a
        // partition committed to its end finds nothing newer to report:
        // storage then ends where the table does.
        let storage_end = p.storage_end.or(committed);
        // Lag counts from what the table holds, or, before the first commit,
        // from where reading starts.
        let from = committed.or_else(|| p.staged.map(|s| s.next)).or_else(|| p.segments.keys().next().copied());
        let lag_records = match (from, storage_end) {
            (Some(from), Some(end)) => (end - from).max(0),
            _ => 0,
        };
        let behind = p.segments.values().filter(|s| from.is_none_or(|from| s.last_offset >= from));
        let lag_bytes = behind.clone().map(|s| s.kfs_size).sum();
        let oldest = behind.map(|s| s.created_ms).filter(|ms| *ms > 0).min();
        let lag_seconds = match (lag_records, oldest) {
            (1.., Some(created)) => (now - created).max(0) as f64 / 1000.0,
            _ => 0.0,
        };
        let pause = self.pauses.of(tp, table);
        let (state, message, object) = if let Some(failure) = &p.failure {
            ("failed", failure.message.clone(), failure.object.clone())
        } else if let Some(skip) = &p.pending_skip {
            ("skipping", format!("skipping to offset {}: {}", skip.to, skip.reason), String::new())
        } else if let Some(paused) = self.table_paused_message(table).filter(|_| p.lease.is_none()) {
            ("paused", paused, String::new())
        } else if let Some(held) = self.tables.get(table).and_then(|t| t.held.as_ref()).filter(|_| p.lease.is_none()) {
            let state = if held.is_outage() { "waiting" } else { "stopped" };
            (state, held.to_string(), String::new())
        } else if let Some(pause) = pause {
            ("paused", format!("paused by an operator ({pause})"), String::new())
        } else if let Some(waiting) = p.waiting_reason() {
            ("waiting", waiting.clone(), String::new())
        } else {
            let state = match &p.lease {
                None => "unassigned",
                Some(lease) if lease.state == LeaseState::Revoking => "releasing",
                Some(lease) if storage_end.is_none_or(|end| lease.read_to >= end) => "idle",
                Some(_) => "reading",
            };
            (state, String::new(), String::new())
        };
        let worker = p.lease.as_ref().and_then(|l| self.workers.get(&l.session)).map(|w| w.worker_id.clone());
        PartitionStatus {
            topic: tp.topic.clone(),
            partition: tp.partition,
            table: table.clone(),
            committed,
            storage_end,
            lag_records,
            lag_bytes,
            lag_seconds,
            watermark_ms: p.watermark_ms,
            worker: worker.unwrap_or_default(),
            epoch: p.lease.as_ref().map_or(0, |l| l.epoch),
            state: state.to_string(),
            message,
            object,
        }
    }
}
