//! Finds complete segments, incrementally.
//!
//! Per partition it lists only keys after the last one it has seen, and
//! remembers segments that are not complete yet (one of the two objects
//! missing, or no footer yet) to check them again by key. A segment is
//! reported once, when it becomes complete; it is never downloaded here:
//! completeness takes the first 32 and last 16 bytes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use floe_config::{StartPosition, TopicSelector};
use floe_kfs::naming::{ObjectKind, index_object_name, parse_object_name, segment_object_name};
use floe_kfs::reader::{ReaderOptions, SegmentReader};
use floe_kfs::segment::{Completeness, FOOTER_LEN, HEADER_LEN, check_completeness};
use floe_proto::worker::SegmentRef;
use floe_storage::{SegmentStore, StorageError, StorageErrorKind, partition_prefix};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::feed::Tp;
use crate::metadata::{KafscaleMetadata, SNAPSHOT_KEY};

/// Partitions listed at once; the store bounds its own requests too.
const LIST_CONCURRENCY: usize = 16;

/// What discovery tells the control loop.
#[derive(Debug)]
pub enum DiscoveryEvent {
    /// A topic a mapping's pattern matches, not followed yet: the control
    /// loop loads its table, then says how to follow it (`None`: not now,
    /// it is offered again at the next topic listing).
    TopicFound { topic: String, reply: oneshot::Sender<Option<FollowTopic>> },
    /// The partitions a topic has now.
    Partitions { topic: String, partitions: Vec<i32> },
    /// Where a partition never committed starts, when not at its first
    /// segment (`start_offset` latest or timestamp). Sent before its segments.
    Start { tp: Tp, offset: i64, why: String },
    /// Newly complete segments of a partition, in offset order.
    Segments { tp: Tp, segments: Vec<SegmentRef> },
    /// A segment object that can never be read as it is.
    Damaged { tp: Tp, object: String, message: String },
    /// A segment seen but not complete yet (still uploading).
    Incomplete { tp: Tp, object: String, reason: String },
    /// Listing failed; discovery tries again at the next poll.
    ListFailed { location: String, error: String },
    /// One pass over every topic is done (the `ListFailed` sent during it
    /// are what it could not list).
    PassComplete { pass: u64 },
}

/// The topics to follow.
pub struct TopicChoice {
    /// The mappings' named topics, with where their partitions start.
    pub named: Vec<(String, StartPosition)>,
    /// The mappings' topic patterns.
    pub patterns: Vec<TopicSelector>,
}

/// How to follow a topic found by a pattern.
#[derive(Debug)]
pub struct FollowTopic {
    /// Where its partitions never committed start.
    pub start: StartPosition,
    /// Where its committed partitions resume.
    pub committed: Vec<(Tp, i64)>,
}

/// A partition to list again from the start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rescan {
    pub tp: Tp,
    /// Its committed offset, if any.
    pub from: Option<i64>,
}

#[derive(Debug, Default)]
struct PendingSegment {
    has_kfs: bool,
    has_index: bool,
    /// Last problem reported, so a waiting or damaged segment is reported once.
    reported: Option<String>,
}

#[derive(Debug, Default)]
struct PartitionCursor {
    start_after: Option<String>,
    pending: BTreeMap<i64, PendingSegment>,
    /// Listings in a row that found nothing new.
    quiet: u32,
    /// Passes left before the partition is listed again.
    skip: u32,
}

impl PartitionCursor {
    /// After a listing: a partition that stays quiet is listed ever less
    /// often (1, 2, 4... passes apart, up to `max_skip` + 1), so thousands
    /// of idle partitions do not cost thousands of listings a second; one
    /// with news, or with a segment still uploading, every pass.
    fn listed(&mut self, news: bool, max_skip: u32) {
        if news || !self.pending.is_empty() {
            self.quiet = 0;
            self.skip = 0;
        } else {
            self.quiet = self.quiet.saturating_add(1);
            self.skip = (1u32 << self.quiet.min(16)).saturating_sub(1).min(max_skip);
        }
    }
}

/// Where the partitions of a topic come from.
pub enum PartitionLister {
    /// Folders in the segment store.
    Listing,
    /// KafScale's metadata snapshot; unless `strict`, the store's folders
    /// while the snapshot is missing or unreadable.
    Metadata { metadata: Box<KafscaleMetadata>, strict: bool },
}

pub struct Discovery {
    store: Arc<dyn SegmentStore>,
    partitions: PartitionLister,
    prefix: String,
    /// The topics followed: the mappings' named ones, and those found by
    /// `patterns`.
    topics: Vec<String>,
    /// The mappings' topic patterns.
    patterns: Vec<TopicSelector>,
    /// Offsets already committed: segments wholly below them are not checked.
    start_offsets: HashMap<Tp, i64>,
    /// Where each topic's partitions start when never committed.
    start_rules: HashMap<String, StartPosition>,
    /// Partitions whose start is known (committed, or decided at their
    /// first listing).
    started: HashSet<Tp>,
    cursors: HashMap<Tp, PartitionCursor>,
    pass: u64,
    /// Passes a quiet partition may be skipped (idle poll / poll - 1).
    max_skip: u32,
}

impl Discovery {
    pub fn new(
        store: Arc<dyn SegmentStore>,
        partitions: PartitionLister,
        prefix: String,
        topics: TopicChoice,
        start_offsets: HashMap<Tp, i64>,
        resume_after: HashMap<Tp, String>,
        max_skip: u32,
    ) -> Self {
        let started = start_offsets.keys().cloned().collect();
        let TopicChoice { named, patterns } = topics;
        let start_rules = named.iter().cloned().collect();
        let topics = named.into_iter().map(|(topic, _)| topic).collect();
        let cursors = resume_after
            .into_iter()
            .map(|(tp, key)| {
                tracing::info!(partition = %tp, "listing after {key}, the last wholly committed segment");
                (tp, PartitionCursor { start_after: Some(key), ..PartitionCursor::default() })
            })
            .collect();
        Self {
            store,
            partitions,
            prefix,
            topics,
            patterns,
            start_offsets,
            start_rules,
            started,
            cursors,
            pass: 0,
            max_skip,
        }
    }

    /// Polls until cancelled; with `once`, stops after the first pass.
    /// A rescan (a table rolled back) lists its partitions again from the
    /// start, at once.
    pub async fn run(
        mut self,
        events: mpsc::Sender<DiscoveryEvent>,
        mut rescans: mpsc::UnboundedReceiver<Vec<Rescan>>,
        interval: Duration,
        once: bool,
        cancel: CancellationToken,
    ) {
        loop {
            if self.poll(&events).await.is_err() || once {
                return; // the control loop is gone, or one pass was asked for
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
                Some(rescan) = rescans.recv() => self.rescan(rescan),
            }
        }
    }

    /// Forgets what was listed of these partitions; they start at `from`
    /// (or by their topic's start rule when `None`).
    fn rescan(&mut self, partitions: Vec<Rescan>) {
        for Rescan { tp, from } in partitions {
            self.cursors.remove(&tp);
            match from {
                Some(offset) => {
                    self.start_offsets.insert(tp.clone(), offset);
                    self.started.insert(tp);
                }
                None => {
                    self.start_offsets.remove(&tp);
                    self.started.remove(&tp);
                }
            }
        }
    }

    /// One pass over every topic and partition.
    pub async fn poll(
        &mut self,
        events: &mpsc::Sender<DiscoveryEvent>,
    ) -> Result<(), mpsc::error::SendError<DiscoveryEvent>> {
        let snapshot = match &self.partitions {
            PartitionLister::Listing => None,
            PartitionLister::Metadata { metadata, strict } => match metadata.topic_partitions().await {
                Ok(Some(snapshot)) => Some(snapshot),
                Ok(None) if !strict => None,
                // No partition list at all: the pass ends here, having
                // found nothing, so `--once` ends and says why.
                Ok(None) => {
                    let error = "no KafScale metadata snapshot (discovery.mode is etcd): check that the brokers \
                                 publish it to this etcd, or set discovery.mode to auto"
                        .to_string();
                    events.send(DiscoveryEvent::ListFailed { location: SNAPSHOT_KEY.into(), error }).await?;
                    return self.end_pass(events).await;
                }
                Err(error) if *strict => {
                    events.send(DiscoveryEvent::ListFailed { location: SNAPSHOT_KEY.into(), error }).await?;
                    return self.end_pass(events).await;
                }
                Err(error) => {
                    tracing::warn!("listing S3 for partitions: {error}");
                    None
                }
            },
        };
        // New topics are looked for at the idle poll interval: topics come
        // and go far less often than segments.
        if !self.patterns.is_empty() && self.pass.is_multiple_of(u64::from(self.max_skip) + 1) {
            self.follow_new_topics(snapshot.as_ref(), events).await?;
        }
        for topic in self.topics.clone() {
            let listed = match &snapshot {
                Some(snapshot) => Ok(snapshot.get(&topic).cloned().unwrap_or_default()),
                None => self.store.list_partitions(&topic).await,
            };
            let partitions = match listed {
                Ok(partitions) => partitions,
                Err(e) => {
                    events.send(list_failed(format!("{}{topic}/", self.prefix), e)).await?;
                    continue;
                }
            };
            events.send(DiscoveryEvent::Partitions { topic: topic.clone(), partitions: partitions.clone() }).await?;
            // Partitions are listed concurrently (bounded): a topic with
            // thousands of them must not take thousands of round trips per poll.
            let rule = self.start_rules.get(&topic).copied().unwrap_or(StartPosition::Earliest);
            let mut work: Vec<(Tp, PartitionCursor, StartPosition)> = Vec::with_capacity(partitions.len());
            for p in partitions {
                let tp = Tp::new(topic.clone(), p);
                let mut cursor = self.cursors.remove(&tp).unwrap_or_default();
                if cursor.skip > 0 {
                    cursor.skip -= 1;
                    self.cursors.insert(tp, cursor);
                    continue;
                }
                let rule = if self.started.contains(&tp) { StartPosition::Earliest } else { rule };
                work.push((tp, cursor, rule));
            }
            let max_skip = self.max_skip;
            let (store, prefix, start_offsets) = (&self.store, &self.prefix, &self.start_offsets);
            let polled: Vec<_> = futures::stream::iter(work)
                .map(|(tp, mut cursor, rule)| async move {
                    let start = start_offsets.get(&tp).copied().unwrap_or(0);
                    let before = cursor.start_after.clone();
                    let sent = poll_partition(store.as_ref(), prefix, &tp, start, rule, &mut cursor, events).await;
                    cursor.listed(cursor.start_after != before, max_skip);
                    (tp, cursor, sent)
                })
                .buffer_unordered(LIST_CONCURRENCY)
                .collect()
                .await;
            let mut result = Ok(());
            for (tp, cursor, sent) in polled {
                self.cursors.insert(tp.clone(), cursor);
                match sent {
                    Ok(true) => {
                        self.started.insert(tp);
                    }
                    Ok(false) => {}
                    Err(e) => result = Err(e),
                }
            }
            result?;
        }
        self.end_pass(events).await
    }

    /// Offers the control loop the topics a pattern matches that are not
    /// followed yet, and follows those whose tables it loaded.
    async fn follow_new_topics(
        &mut self,
        snapshot: Option<&crate::metadata::TopicPartitions>,
        events: &mpsc::Sender<DiscoveryEvent>,
    ) -> Result<(), mpsc::error::SendError<DiscoveryEvent>> {
        let listed = match snapshot {
            Some(snapshot) => Ok(snapshot.keys().cloned().collect()),
            None => self.store.list_topics().await,
        };
        let names = match listed {
            Ok(names) => names,
            Err(e) => return events.send(list_failed(self.prefix.clone(), e)).await,
        };
        let mut offered = Vec::new();
        for topic in names {
            if self.topics.contains(&topic) || !self.patterns.iter().any(|p| p.matches(&topic)) {
                continue;
            }
            let (reply, answer) = oneshot::channel();
            events.send(DiscoveryEvent::TopicFound { topic: topic.clone(), reply }).await?;
            offered.push((topic, answer));
        }
        for (topic, answer) in offered {
            // No answer: the table could not be loaded (the control loop
            // says why); the topic is offered again next time.
            let Ok(Some(follow)) = answer.await else { continue };
            tracing::info!(%topic, "following a topic a mapping's pattern matches");
            for (tp, offset) in follow.committed {
                self.start_offsets.insert(tp.clone(), offset);
                self.started.insert(tp);
            }
            self.start_rules.insert(topic.clone(), follow.start);
            self.topics.push(topic);
        }
        Ok(())
    }

    async fn end_pass(
        &mut self,
        events: &mpsc::Sender<DiscoveryEvent>,
    ) -> Result<(), mpsc::error::SendError<DiscoveryEvent>> {
        self.pass += 1;
        events.send(DiscoveryEvent::PassComplete { pass: self.pass }).await
    }
}

/// Lists one partition after its cursor and reports the segments that
/// became complete (or the problems of those that are not). A partition
/// never committed and ruled by `start` other than earliest gets its start
/// decided first. `Ok(true)` when the partition was listed (and its start,
/// if it needed one, decided).
async fn poll_partition(
    store: &dyn SegmentStore,
    prefix: &str,
    tp: &Tp,
    start: i64,
    rule: StartPosition,
    cursor: &mut PartitionCursor,
    events: &mpsc::Sender<DiscoveryEvent>,
) -> Result<bool, mpsc::error::SendError<DiscoveryEvent>> {
    let listed = match store.list_partition(&tp.topic, tp.partition, cursor.start_after.as_deref()).await {
        Ok(listed) => listed,
        Err(e) => {
            events.send(list_failed(partition_prefix(prefix, &tp.topic, tp.partition), e)).await?;
            return Ok(false);
        }
    };
    if let Some(last) = listed.last() {
        cursor.start_after = Some(last.key.clone());
    }
    for object in &listed {
        let Some((base, kind)) = parse_object_name(&object.key) else { continue };
        let entry = cursor.pending.entry(base).or_default();
        match kind {
            ObjectKind::Segment => entry.has_kfs = true,
            ObjectKind::Index => entry.has_index = true,
        }
    }

    // Segments wholly below the committed offset need no check: a
    // segment ends where the next one starts.
    let bases: Vec<i64> = cursor.pending.keys().copied().collect();
    for pair in bases.windows(2) {
        if pair[1] <= start {
            cursor.pending.remove(&pair[0]);
        }
    }

    let folder = partition_prefix(prefix, &tp.topic, tp.partition);
    let mut complete: Vec<SegmentRef> = Vec::new();
    let bases: Vec<i64> = cursor.pending.keys().copied().collect();
    for base in bases {
        let kfs_key = format!("{folder}{}", segment_object_name(base));
        let index_key = format!("{folder}{}", index_object_name(base));
        let Some(entry) = cursor.pending.get_mut(&base) else { continue };
        let checked = check_segment(store, entry, &kfs_key, &index_key).await;
        let problem = match checked {
            Ok(Check::Complete(segment)) => {
                cursor.pending.remove(&base);
                complete.push(segment);
                continue;
            }
            Ok(Check::Waiting(reason)) => DiscoveryEvent::Incomplete { tp: tp.clone(), object: kfs_key, reason },
            Ok(Check::Damaged(message)) => DiscoveryEvent::Damaged { tp: tp.clone(), object: kfs_key, message },
            Err(e) => list_failed(kfs_key, e),
        };
        let text = format!("{problem:?}");
        if entry.reported.as_deref() != Some(text.as_str()) {
            entry.reported = Some(text);
            events.send(problem).await?;
        }
    }
    match resolve_start(store, rule, &complete).await {
        Ok(None) => {}
        // The segments before the start are still reported: another table
        // of the topic may have committed below it. A partition that starts
        // there reads from its start, and forgets them at its first commit.
        Ok(Some((offset, why))) => events.send(DiscoveryEvent::Start { tp: tp.clone(), offset, why }).await?,
        Err(e) => {
            // Undecided: nothing is reported, the segments are checked again.
            for segment in &complete {
                let again = PendingSegment { has_kfs: true, has_index: true, reported: None };
                cursor.pending.insert(segment.base_offset, again);
            }
            events.send(list_failed(partition_prefix(prefix, &tp.topic, tp.partition), e)).await?;
            return Ok(false);
        }
    }
    tracing::debug!(
        partition = %tp,
        listed = listed.len(),
        complete = complete.len(),
        first = ?complete.first().map(|s| s.base_offset),
        last = ?complete.last().map(|s| s.last_offset),
        "listed"
    );
    if !complete.is_empty() {
        events.send(DiscoveryEvent::Segments { tp: tp.clone(), segments: complete }).await?;
    }
    Ok(true)
}

/// Where a partition never committed starts under `rule`, given its
/// complete segments in offset order; `None` for its first segment.
async fn resolve_start(
    store: &dyn SegmentStore,
    rule: StartPosition,
    complete: &[SegmentRef],
) -> Result<Option<(i64, String)>, StorageError> {
    let Some(last) = complete.last() else { return Ok(None) };
    let end = last.last_offset + 1;
    let at = match rule {
        StartPosition::Earliest => return Ok(None),
        StartPosition::Latest => (end, "start_offset is latest: after the segments already in storage".to_string()),
        StartPosition::Timestamp(ms) => {
            // A segment's creation time is when the broker flushed it, so
            // every record of a segment created earlier was appended
            // before `ms`: only one segment needs reading.
            match complete.iter().find(|s| s.created_ms >= ms) {
                None => (end, "every segment in storage was written before start_timestamp".to_string()),
                Some(segment) => {
                    let offset = first_batch_since(store, segment, ms).await?.unwrap_or(segment.last_offset + 1);
                    (offset, format!("first batch at or after start_timestamp, in {}", segment.kfs_key))
                }
            }
        }
    };
    Ok(Some(at))
}

/// The base offset of the segment's first batch holding a record at or
/// after `ms` (by the batch's max timestamp), reading batch headers only.
async fn first_batch_since(
    store: &dyn SegmentStore,
    segment: &SegmentRef,
    ms: i64,
) -> Result<Option<i64>, StorageError> {
    let local = store.local_copy(&segment.kfs_key, 0).await?;
    let key = segment.kfs_key.clone();
    let scan = move || -> Result<Option<i64>, String> {
        let file = std::io::BufReader::new(local.open().map_err(|e| e.to_string())?);
        let options = ReaderOptions { decode_records: false, ..ReaderOptions::default() };
        let mut reader = SegmentReader::new(file, &key, local.len, options).map_err(|e| e.to_string())?;
        while let Some(batch) = reader.next_batch().map_err(|e| e.to_string())? {
            if batch.header.max_timestamp >= ms {
                return Ok(Some(batch.header.base_offset));
            }
        }
        Ok(None)
    };
    let found = tokio::task::spawn_blocking(scan).await.map_err(|e| e.to_string()).and_then(|r| r);
    found.map_err(|message| {
        StorageError::new(StorageErrorKind::Permanent, "looking for start_timestamp in", &segment.kfs_key, message)
    })
}

enum Check {
    Complete(SegmentRef),
    Waiting(String),
    Damaged(String),
}

/// Checks one segment by key: both objects present and the `.kfs` footer
/// written. Objects missing from a listing are looked up by key, since an
/// object uploaded late can sort before the listing cursor.
async fn check_segment(
    store: &dyn SegmentStore,
    entry: &mut PendingSegment,
    kfs_key: &str,
    index_key: &str,
) -> Result<Check, StorageError> {
    if !entry.has_index {
        entry.has_index = store.size(index_key).await?.is_some();
        if !entry.has_index {
            return Ok(Check::Waiting(format!("{index_key} does not exist yet")));
        }
    }
    let Some(len) = store.size(kfs_key).await? else {
        entry.has_kfs = false;
        return Ok(Check::Waiting(format!("{kfs_key} does not exist yet")));
    };
    entry.has_kfs = true;
    let head = store.get_range(kfs_key, 0..HEADER_LEN as u64).await?;
    let tail = store.get_range(kfs_key, len.saturating_sub(FOOTER_LEN as u64)..len).await?;
    Ok(match check_completeness(&head, &tail, len, kfs_key) {
        Ok(Completeness::Complete(footer)) => match floe_kfs::segment::SegmentHeader::parse(&head, kfs_key) {
            Ok(header) if footer.last_offset >= header.base_offset => Check::Complete(SegmentRef {
                kfs_key: kfs_key.to_string(),
                index_key: index_key.to_string(),
                base_offset: header.base_offset,
                last_offset: footer.last_offset,
                kfs_size: len,
                created_ms: header.created_ms,
            }),
            Ok(header) => Check::Damaged(format!(
                "footer last offset {} is below the header base offset {}",
                footer.last_offset, header.base_offset
            )),
            Err(e) => Check::Damaged(e.to_string()),
        },
        Ok(Completeness::Incomplete) => Check::Waiting(format!("{kfs_key} has no footer yet (upload in progress)")),
        Err(e) => Check::Damaged(e.to_string()),
    })
}

fn list_failed(location: String, e: StorageError) -> DiscoveryEvent {
    DiscoveryEvent::ListFailed { location, error: e.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_partition_is_listed_ever_less_often_until_news() {
        let mut cursor = PartitionCursor::default();
        let skips: Vec<u32> = (0..6)
            .map(|_| {
                cursor.listed(false, 29);
                cursor.skip
            })
            .collect();
        assert_eq!(skips, [1, 3, 7, 15, 29, 29]);
        cursor.listed(true, 29);
        assert_eq!((cursor.quiet, cursor.skip), (0, 0));
        cursor.pending.insert(100, PendingSegment::default());
        cursor.listed(false, 29);
        assert_eq!(cursor.skip, 0, "a segment still uploading is looked at every pass");
    }
}
