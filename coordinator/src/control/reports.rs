//! What workers report: heartbeats with their read progress, requests for
//! data file paths, staged files, failed partitions, released leases and
//! finished flushes. Reports count only under the lease they name; staged
//! files are admitted by the rules of [`crate::commit::admission`].

use std::time::Instant;

use floe_metrics::Stage;
use floe_proto::worker::coordinator_message::Body as ToWorker;
use floe_proto::worker::worker_message::Body as FromWorker;
use floe_proto::worker::{Feed as ProtoFeed, FileOpened, Staged, StagedAck};
use tracing::{error, warn};

use super::partition::{Failure, Lease};
use super::{Control, now_ms};
use crate::commit::{Position, Refusal, SessionId, StagedDeadLetters, StagedFile, admit_ranges, read_data_file};
use crate::feed::Feed;
use crate::store::FileIntent;

impl Control {
    pub(super) async fn on_worker_message(&mut self, session: SessionId, body: FromWorker) {
        if !self.workers.heard_from(session, Instant::now()) {
            return;
        }
        match body {
            FromWorker::Register(_) => warn!(%session, "ignoring a second Register"),
            FromWorker::Heartbeat(heartbeat) => {
                for progress in heartbeat.progress {
                    if let Some(lease) = self.lease_of(session, progress.feed.as_ref(), progress.epoch) {
                        lease.read_to = lease.read_to.max(progress.read_to);
                        lease.waiting = Some(progress.waiting).filter(|w| !w.is_empty());
                    }
                }
            }
            FromWorker::OpenFile(request) => {
                self.on_open_file(session, request.request_id, &request.table, &request.partition_path).await
            }
            FromWorker::Staged(staged) => self.on_staged(session, staged),
            FromWorker::PartitionFailed(failed) => {
                let Some(feed) = failed.feed.as_ref().map(Feed::from_proto) else { return };
                if self.lease_of(session, failed.feed.as_ref(), failed.epoch).is_none() {
                    return; // a report from a lease that has moved on
                }
                error!(partition = %feed, object = %failed.object, offset = failed.offset, "partition stopped: {}", failed.message);
                floe_metrics::count_error(Stage::Decode);
                let Some(partition) = self.partitions.get_mut(&feed) else { return };
                partition.failure = Some(Failure {
                    object: failed.object,
                    offset: failed.offset,
                    message: failed.message,
                    pauses_table: failed.pauses_table,
                });
                if failed.pauses_table {
                    // Strict validation: no more of the table is read until
                    // an operator deals with the record.
                    error!(table = %feed.table, partition = %feed.tp, "table paused: strict validation refused a record");
                    self.revoke_table(&feed.table);
                }
            }
            FromWorker::Released(released) => {
                let Some(feed) = released.feed.as_ref().map(Feed::from_proto) else { return };
                if let Some(partition) = self.partitions.get_mut(&feed) {
                    let ours =
                        partition.lease.as_ref().is_some_and(|l| l.session == session && l.epoch == released.epoch);
                    if ours {
                        partition.lease = None;
                        self.rebalance_needed = true;
                    }
                }
            }
            FromWorker::Flushed(flushed) => {
                let done: Vec<String> = self
                    .tables
                    .values_mut()
                    .filter_map(|table| table.cycle.flushed(flushed.flush_id, session).then(|| table.name.clone()))
                    .collect();
                for name in done {
                    self.after_flush(&name);
                }
            }
        }
    }

    /// The lease a report refers to, if it is still the current one.
    fn lease_of(&mut self, session: SessionId, feed: Option<&ProtoFeed>, epoch: u64) -> Option<&mut Lease> {
        let feed = Feed::from_proto(feed?);
        self.partitions.get_mut(&feed)?.lease.as_mut().filter(|lease| lease.session == session && lease.epoch == epoch)
    }

    async fn on_open_file(&mut self, session: SessionId, request_id: u64, table: &str, partition_path: &str) {
        let refused = |error: String| FileOpened { request_id, path: String::new(), error };
        let reply = match self.tables.get(table) {
            None => refused(format!("unknown table {table}")),
            Some(_) if partition_path.split('/').any(|part| part == "..") => {
                refused(format!("partition path {partition_path} leaves the table's folder"))
            }
            Some(state) => {
                let folder = match partition_path {
                    "" => format!("{}/data", state.define.location),
                    partition => format!("{}/data/{partition}", state.define.location),
                };
                let path = format!("{folder}/{}.parquet", uuid::Uuid::now_v7());
                let intent = FileIntent { table: table.to_string(), path: path.clone(), created_ms: now_ms() };
                match self.store.record_file_intent(&intent).await {
                    Ok(()) => FileOpened { request_id, path, error: String::new() },
                    Err(e) => FileOpened { request_id, path: String::new(), error: e.to_string() },
                }
            }
        };
        self.send(session, ToWorker::FileOpened(reply));
    }

    /// Accepts a staged file when every range continues its partition under
    /// the current lease; otherwise refuses it and drops the worker, which
    /// starts over from what was accepted.
    fn on_staged(&mut self, session: SessionId, staged: Staged) {
        match self.check_staged(session, &staged) {
            Ok(file) => {
                for range in &file.ranges {
                    if let Some(partition) = self.partitions.get_mut(&Feed::new(&staged.table, range.tp.clone())) {
                        partition.staged = Some(Position { next: range.to, open_txn_start: range.open_txn_start });
                        partition.refusals = 0;
                    }
                }
                if let Some(table) = self.tables.get_mut(&staged.table) {
                    table.cycle.stage(file);
                }
                let path = staged_paths(&staged).join(", ");
                let ack = StagedAck { table: staged.table, path, accepted: true, reason: String::new() };
                self.send(session, ToWorker::StagedAck(ack));
            }
            Err(reason) => {
                let path = staged_paths(&staged).join(", ");
                warn!(%session, table = %staged.table, %path, "refused staged files: {reason}");
                floe_metrics::count_error(Stage::Report);
                let ack = StagedAck { table: staged.table.clone(), path, accepted: false, reason: reason.to_string() };
                self.send(session, ToWorker::StagedAck(ack));
                self.delete_refused(&staged);
                self.count_refusal(&staged, &reason);
                self.drop_session(session, "its staged file was refused");
            }
        }
    }

    /// A partition whose reports keep being refused stops with the reason:
    /// a worker that starts over would only make the same report again.
    fn count_refusal(&mut self, staged: &Staged, reason: &Refusal) {
        const MAX_REFUSALS: u32 = 3;
        for range in &staged.ranges {
            let Some(feed) = range.feed.as_ref().map(Feed::from_proto) else { continue };
            let Some(partition) = self.partitions.get_mut(&feed) else { continue };
            partition.refusals += 1;
            if partition.refusals >= MAX_REFUSALS && partition.failure.is_none() {
                error!(partition = %feed, "partition stopped: its reports were refused {MAX_REFUSALS} times in a row");
                partition.failure = Some(Failure {
                    object: staged_paths(staged).join(", "),
                    offset: partition.staged.map_or(range.from, |p| p.next),
                    message: format!("reports refused {MAX_REFUSALS} times in a row, last: {reason}"),
                    pauses_table: false,
                });
            }
        }
    }

    fn check_staged(&self, session: SessionId, staged: &Staged) -> Result<StagedFile, Refusal> {
        let table = self.tables.get(&staged.table).ok_or_else(|| Refusal::UnknownTable(staged.table.clone()))?;
        if staged_paths(staged).iter().any(|p| self.orphans.is_condemned(p)) {
            return Err(Refusal::Deleted);
        }
        let ranges =
            admit_ranges(&staged.table, session, &staged.ranges, |feed| Some(self.partitions.get(feed)?.admitting()))?;
        let data_files = staged
            .files
            .iter()
            .map(|f| read_data_file(&table.table, &f.path, &f.data_file_json))
            .collect::<Result<Vec<_>, _>>()?;
        let dead_letters = match &staged.dead_letters {
            Some(dead) if !dead.files.is_empty() => {
                let dead_table = table
                    .dead_letters
                    .as_ref()
                    .filter(|name| **name == dead.table)
                    .and_then(|name| self.tables.get(name))
                    .ok_or_else(|| Refusal::NotDeadLetterTable {
                        dead_letters: dead.table.clone(),
                        table: staged.table.clone(),
                    })?;
                let data_files = dead
                    .files
                    .iter()
                    .map(|f| read_data_file(&dead_table.table, &f.path, &f.data_file_json))
                    .collect::<Result<Vec<_>, _>>()?;
                let record_count = dead.files.iter().map(|f| f.record_count).sum();
                let reasons = dead.reasons.iter().map(|(r, n)| (r.clone(), *n)).collect();
                Some(StagedDeadLetters { data_files, record_count, reasons })
            }
            _ => None,
        };
        Ok(StagedFile {
            data_files,
            dead_letters,
            ranges,
            record_count: staged.files.iter().map(|f| f.record_count).sum(),
            file_size_bytes: staged.files.iter().map(|f| f.file_size_bytes).sum(),
        })
    }

    /// Deletes a refused report's files now rather than after the orphan
    /// grace period.
    fn delete_refused(&self, staged: &Staged) {
        let Some(state) = self.tables.get(&staged.table) else { return };
        let paths = staged_paths(staged);
        let file_io = state.table.file_io().clone();
        let store = self.store.clone();
        tokio::spawn(async move {
            for path in paths {
                if file_io.delete(&path).await.is_ok() {
                    let _ = store.forget_files(&[path]).await;
                }
            }
        });
    }
}

/// Every data file a report names, its dead letters' included.
fn staged_paths(staged: &Staged) -> Vec<String> {
    let dead_letters = staged.dead_letters.iter().flat_map(|d| &d.files);
    staged.files.iter().chain(dead_letters).map(|f| f.path.clone()).collect()
}
