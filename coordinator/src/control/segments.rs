//! What discovery finds, as the control loop keeps it per partition of
//! each table: partitions, where a never-committed one starts, complete,
//! damaged and incomplete segments, and what could not be listed. A
//! partition's holder is sent the segments it can read next as they come.

use floe_kfs::naming::parse_object_name;
use floe_metrics::Stage;
use floe_proto::worker::Segments;
use floe_proto::worker::coordinator_message::Body as ToWorker;
use tracing::{info, warn};

use super::Control;
use super::partition::{Failure, Partition};
use crate::commit::{Position, StagedFile, StagedRange};
use crate::discovery::DiscoveryEvent;
use crate::feed::{Feed, Tp};

impl Control {
    pub(super) fn on_discovery(&mut self, event: DiscoveryEvent) {
        match event {
            DiscoveryEvent::TopicFound { topic, reply } => self.on_topic_found(topic, reply),
            DiscoveryEvent::Partitions { topic, partitions } => {
                let tables = self.topic_tables.get(&topic).cloned().unwrap_or_default();
                for (table, partition) in tables.iter().flat_map(|t| partitions.iter().map(move |p| (t, *p))) {
                    let feed = Feed::new(table, Tp::new(topic.clone(), partition));
                    if !self.partitions.contains_key(&feed) {
                        self.add_partition(feed);
                    }
                }
            }
            DiscoveryEvent::Start { tp, offset, why } => {
                for feed in self.feeds_of(&tp) {
                    let Some(partition) = self.partitions.get_mut(&feed) else { continue };
                    if partition.staged.is_some() {
                        continue;
                    }
                    info!(partition = %feed, offset, "starts at offset {offset}: {why}");
                    partition.staged = Some(Position { next: offset, open_txn_start: None });
                    self.rebalance_needed = true;
                    // Committed at once (a snapshot without files), so a
                    // restart resumes there instead of deciding again.
                    let range = StagedRange {
                        tp: tp.clone(),
                        from: offset,
                        to: offset,
                        open_txn_start: None,
                        record_count: 0,
                        max_timestamp_ms: None,
                        skipped: None,
                    };
                    if let Some(table) = self.tables.get_mut(&feed.table) {
                        table.cycle.stage(StagedFile::marker(range));
                    }
                }
            }
            DiscoveryEvent::Segments { tp, segments } => {
                for feed in self.feeds_of(&tp) {
                    let Some(partition) = self.partitions.get_mut(&feed) else { continue };
                    for segment in &segments {
                        partition.storage_end = partition.storage_end.max(Some(segment.last_offset + 1));
                        partition.damaged.remove(&segment.base_offset);
                        partition.segments.insert(segment.base_offset, segment.clone());
                    }
                    partition.prune_committed_segments();
                    self.after_segment_news(&feed);
                }
            }
            DiscoveryEvent::Damaged { tp, object, message } => {
                warn!(partition = %tp, %object, "damaged segment: {message}");
                let Some((base, _)) = parse_object_name(&object) else { return };
                for feed in self.feeds_of(&tp) {
                    let Some(partition) = self.partitions.get_mut(&feed) else { continue };
                    partition.damaged.insert(base, (object.clone(), message.clone()));
                    self.after_segment_news(&feed);
                }
            }
            DiscoveryEvent::Incomplete { tp, object, reason } => {
                info!(partition = %tp, %object, "waiting for segment: {reason}");
                for feed in self.feeds_of(&tp) {
                    if let Some(partition) = self.partitions.get_mut(&feed) {
                        partition.waiting.get_or_insert(reason.clone());
                    }
                }
            }
            DiscoveryEvent::ListFailed { location, error } => {
                warn!(%location, "listing failed: {error}");
                floe_metrics::count_error(Stage::List);
                self.list_failures_this_pass.insert(location, error);
            }
            DiscoveryEvent::PassComplete { pass } => {
                self.discovery_passes = pass;
                self.list_failures = std::mem::take(&mut self.list_failures_this_pass);
            }
        }
    }

    /// A partition of a table, as discovery found it: it starts where the
    /// table says, or is stopped with its table.
    fn add_partition(&mut self, feed: Feed) {
        let committed = self.committed_at_start.get(&feed).copied();
        let mut partition = Partition::new(committed);
        partition.dead_letters_committed = self.dead_letters_at_start.get(&feed).copied().unwrap_or(0);
        partition.watermark_ms = self.watermarks_at_start.get(&feed).copied();
        if let Some(reason) = self.tables.get(&feed.table).and_then(|t| t.stopped.as_ref()) {
            partition.failure = Some(Failure {
                object: feed.table.clone(),
                offset: committed.map_or(0, |c| c.resume_from()),
                message: format!("table {} is paused: {reason}", feed.table),
                pauses_table: false,
            });
        }
        self.partitions.insert(feed, partition);
        self.rebalance_needed = true;
    }

    /// A partition's segments changed: one never committed learns where it
    /// starts (and may be granted), its holder gets what it can read next.
    fn after_segment_news(&mut self, feed: &Feed) {
        let Some(partition) = self.partitions.get_mut(feed) else { return };
        if partition.staged.is_none() {
            partition.settle_start();
            self.rebalance_needed = true;
        }
        self.send_segments(feed);
    }

    /// The partitions, one per table, that read this topic-partition.
    pub(super) fn feeds_of(&self, tp: &Tp) -> Vec<Feed> {
        let tables = self.topic_tables.get(&tp.topic).into_iter().flatten();
        tables.map(|table| Feed::new(table, tp.clone())).filter(|feed| self.partitions.contains_key(feed)).collect()
    }

    /// Sends the holder of a partition the segments it can read next.
    pub(super) fn send_segments(&mut self, feed: &Feed) {
        let Some(partition) = self.partitions.get_mut(feed) else { return };
        let segments = partition.next_segments();
        let Some(lease) = &partition.lease else { return };
        if segments.is_empty() {
            return;
        }
        let (session, epoch) = (lease.session, lease.epoch);
        self.send(session, ToWorker::Segments(Segments { feed: Some(feed.to_proto()), epoch, segments }));
    }
}
