//! What the loop says of its progress: a progress line in the log every
//! few seconds, and, when it ends, the run's summary (what each table got,
//! and every partition that could not be read to the end, with why).

use tracing::info;

use super::Control;
use crate::feed::Feed;
use crate::summary::{PartitionIssue, RunSummary, TableSummary};

impl Control {
    pub(super) fn log_progress(&self) {
        let total = self.partitions.len();
        let read = self
            .partitions
            .values()
            .filter(|p| p.readable_end().is_none_or(|end| p.committed.is_some_and(|c| c.next >= end)))
            .count();
        let records: u64 = self.tables.values().map(|t| t.totals.records).sum();
        info!(
            partitions = total,
            caught_up = read,
            workers = self.workers.len(),
            records_committed = records,
            "progress"
        );
    }

    /// What the run committed and what held it back, as `--once` prints it.
    pub(super) fn summary(&self) -> RunSummary {
        let tables = self
            .tables
            .values()
            .map(|t| TableSummary {
                table: t.name.clone(),
                records: t.totals.records,
                files: t.totals.files,
                commits: t.totals.commits,
                snapshot_id: t.table.metadata().current_snapshot_id(),
                metadata_location: t.table.metadata_location().map(str::to_string),
                error: t
                    .stopped
                    .clone()
                    .or_else(|| t.held.as_ref().map(ToString::to_string))
                    .or_else(|| t.last_error.clone()),
            })
            .collect();
        let mut issues = Vec::new();
        for (feed, p) in &self.partitions {
            let Feed { table, tp } = feed;
            if let Some(failure) = &p.failure {
                issues.push(PartitionIssue {
                    partition: feed.to_string(),
                    object: Some(failure.object.clone()),
                    offset: Some(failure.offset),
                    message: failure.message.clone(),
                    stuck: true,
                });
            } else if let Some(paused) = self.table_paused_message(table) {
                issues.push(PartitionIssue {
                    partition: feed.to_string(),
                    object: None,
                    offset: p.committed.map(|c| c.next),
                    message: paused,
                    stuck: true,
                });
            } else if let Some(held) = self.tables.get(table).and_then(|t| t.held.as_ref()) {
                issues.push(PartitionIssue {
                    partition: feed.to_string(),
                    object: None,
                    offset: p.committed.map(|c| c.next),
                    message: held.to_string(),
                    stuck: !held.is_outage(),
                });
            } else if let Some(pause) = self.pauses.of(tp, table) {
                issues.push(PartitionIssue {
                    partition: feed.to_string(),
                    object: None,
                    offset: p.committed.map(|c| c.next),
                    message: format!("paused by an operator ({pause}): `floe ctl resume` reads it again"),
                    stuck: true,
                });
            } else if let Some(waiting) = &p.waiting {
                let gap = p.segments.values().any(|s| p.readable_end().is_some_and(|end| s.base_offset > end));
                issues.push(PartitionIssue {
                    partition: feed.to_string(),
                    object: None,
                    offset: p.readable_end(),
                    message: waiting.clone(),
                    stuck: gap,
                });
            }
        }
        // What could not be listed may hold data: the run is not complete.
        for (location, error) in &self.list_failures {
            issues.push(PartitionIssue {
                partition: location.clone(),
                object: None,
                offset: None,
                message: format!("could not be listed: {error}"),
                stuck: true,
            });
        }
        for (topic, problem) in &self.unfollowed {
            issues.push(PartitionIssue {
                partition: format!("topic {topic}"),
                object: None,
                offset: None,
                message: problem.clone(),
                stuck: true,
            });
        }
        RunSummary { tables, issues, leadership_lost: None }
    }
}
