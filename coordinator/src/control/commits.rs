//! The loop's side of each table's commit cycle ([`super::cycle`]):
//! flushes asked of the workers writing the table, commits run in tasks
//! ([`crate::commit::commit_staged`]), and what a landed commit moves: the
//! partitions' committed offsets, the progress mirrored in the state
//! store, the files no longer to be collected, the metrics.

use std::collections::HashSet;
use std::time::Instant;

use floe_metrics::{CommitMetrics, Stage};
use floe_proto::admin::Commit;
use floe_proto::worker::Flush;
use floe_proto::worker::coordinator_message::Body as ToWorker;
use tracing::{error, info, warn};

use super::cycle::{AfterFailure, Landed};
use super::ending::Ending;
use super::{Control, now_ms};
use crate::commit::{CommitError, Committed, DeadLettersCommitted, SessionId, StagedFile, commit_staged};
use crate::feed::Feed;
use crate::models::Event;
use crate::store::Progress;

impl Control {
    /// Starts a commit cycle: workers writing the table close their files.
    pub(super) fn start_cycle(&mut self, name: &str) {
        let holders: HashSet<SessionId> = self
            .partitions
            .iter()
            .filter(|(feed, _)| feed.table == name)
            .filter_map(|(_, p)| p.lease.as_ref().map(|l| l.session))
            .collect();
        let interval = self.settings.commit_interval;
        let Some(table) = self.tables.get_mut(name) else { return };
        if holders.is_empty() {
            if table.cycle.staged().is_empty() {
                table.cycle.wait(Instant::now(), interval);
            } else {
                self.commit_now(name);
            }
            return;
        }
        let flush_id = self.next_flush_id;
        self.next_flush_id += 1;
        table.cycle.start_flush(flush_id, holders.clone(), Instant::now(), interval);
        for session in holders {
            self.send(session, ToWorker::Flush(Flush { flush_id, tables: vec![name.to_string()] }));
        }
    }

    /// The table's writers closed their files (or the flush timed out):
    /// what is staged is committed.
    pub(super) fn after_flush(&mut self, name: &str) {
        if self.tables.get_mut(name).is_some_and(|table| table.cycle.end_flush()) {
            self.commit_now(name);
        }
    }

    pub(super) fn commit_now(&mut self, name: &str) {
        let dead_letters = self.tables.get(name).and_then(|t| t.dead_letters.as_ref());
        let dead_letters = dead_letters.and_then(|d| self.tables.get(d)).map(|d| d.ident.clone());
        let Some(table) = self.tables.get_mut(name) else { return };
        let files = table.cycle.begin_commit(Instant::now());
        let (catalog, events, ident) = (self.catalog.clone(), self.events.clone(), table.ident.clone());
        let name = name.to_string();
        tokio::spawn(async move {
            let result = commit_staged(catalog.as_ref(), &ident, dead_letters.as_ref(), &files).await.map(Box::new);
            let _ = events.send(Event::Committed { table: name, files: files.len(), result }).await;
        });
    }

    pub(super) async fn on_committed(&mut self, name: &str, files: usize, result: Result<Box<Committed>, CommitError>) {
        let interval = self.settings.commit_interval;
        let topic = self.topics_feeding(name);
        let once = self.ending == Ending::WhenCaughtUp;
        let Some(table) = self.tables.get_mut(name) else { return };
        let committed = match result {
            Ok(committed) => committed,
            Err(e) => {
                floe_metrics::count_error(Stage::Commit);
                table.last_error = Some(e.to_string());
                match table.cycle.failed(&e, once, Instant::now()) {
                    AfterFailure::Retry { attempt } => {
                        warn!(table = %name, attempt, "commit failed, will retry: {e}")
                    }
                    AfterFailure::Stop => {
                        // Retrying cannot fix this: the table stops until an
                        // operator looks; the other tables go on.
                        error!(table = %name, "commits stopped: {e}");
                        table.stopped = Some(e.to_string());
                    }
                }
                return;
            }
        };
        let Landed { files, duration } = table.cycle.landed(files, Instant::now(), interval);
        let bytes: u64 = files.iter().map(|f| f.file_size_bytes).sum();
        let paths: Vec<String> = files.iter().flat_map(StagedFile::paths).map(str::to_string).collect();
        table.last_error = None;
        table.table = committed.table.clone();
        if let Some(snapshot_id) = committed.snapshot_id {
            table.totals.count(snapshot_id, committed.appended_files, committed.appended_records);
            table.remember_commit(Commit {
                snapshot_id,
                time_ms: now_ms(),
                files: committed.appended_files as u64,
                records: committed.appended_records,
                bytes,
                duration_ms: duration.as_millis().min(u32::MAX as u128) as u32,
            });
            info!(
                table = %name,
                snapshot_id,
                files = committed.appended_files,
                records = committed.appended_records,
                "committed"
            );
        }
        if committed.already_committed_files > 0 {
            info!(table = %name, files = committed.already_committed_files, "files were already committed by an earlier attempt");
        }
        let dead_letters: Vec<(String, u64)> =
            committed.dead_letters.iter().flat_map(|d| d.reasons.iter().map(|(r, n)| (r.clone(), *n))).collect();
        CommitMetrics {
            table: name,
            topic: &topic,
            seconds: duration.as_secs_f64(),
            files: committed.appended_files as u64,
            bytes,
            records: committed.appended_records,
            dead_letter_table: table.dead_letters.as_deref().unwrap_or(""),
            dead_letters: &dead_letters,
        }
        .record();
        let dead_letters_name = table.dead_letters.clone();
        if let (Some(dead), Some(dead_name)) = (committed.dead_letters, dead_letters_name) {
            self.on_dead_letters_committed(&dead_name, *dead);
        }
        let mut progress = Vec::new();
        for (tp, position) in committed.offsets.iter() {
            let feed = Feed::new(name, tp.clone());
            if let Some(partition) = self.partitions.get_mut(&feed) {
                partition.committed = Some(*position);
                partition.watermark_ms = committed.offsets.max_timestamp(tp).or(partition.watermark_ms);
                partition.prune_committed_segments();
                let discovery_cursor = partition.discovery_cursor.clone();
                progress.push(Progress { feed, next_offset: position.next, discovery_cursor });
            }
        }
        if let Err(e) = self.store.record_progress(&progress).await {
            warn!(table = %name, "could not record progress in the state store: {e}");
        }
        self.orphans.committed(&paths);
        if let Err(e) = self.store.forget_files(&paths).await {
            // Harmless: orphan collection finds them committed and forgets them.
            warn!(table = %name, "could not forget committed files: {e}");
        }
    }

    fn on_dead_letters_committed(&mut self, name: &str, dead: DeadLettersCommitted) {
        if let Some(snapshot_id) = dead.snapshot_id {
            warn!(
                table = %name,
                snapshot_id,
                records = dead.appended_records,
                "committed records that could not become rows to the dead-letter table"
            );
        }
        let Some(state) = self.tables.get_mut(name) else { return };
        state.table = dead.table;
        if let Some(snapshot_id) = dead.snapshot_id {
            state.totals.count(snapshot_id, dead.appended_files, dead.appended_records);
        }
        let Some(rows_table) = state.dead_letters_of.clone() else { return };
        for (tp, position) in dead.offsets.iter() {
            if let Some(partition) = self.partitions.get_mut(&Feed::new(&rows_table, tp.clone())) {
                partition.dead_letters_committed = partition.dead_letters_committed.max(position.next);
            }
        }
    }
}
