//! Finds complete segments, incrementally.
//!
//! Per partition it lists only keys after the last one it has seen, and
//! remembers segments that are not complete yet (one of the two objects
//! missing, or no footer yet) to check them again by key. A segment is
//! reported once, when it becomes complete; it is never downloaded here:
//! completeness takes the first 32 and last 16 bytes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use floe_kfs::naming::{ObjectKind, index_object_name, parse_object_name, segment_object_name};
use floe_kfs::segment::{Completeness, FOOTER_LEN, HEADER_LEN, check_completeness};
use floe_proto::worker::SegmentRef;
use floe_storage::{SegmentStore, StorageError, partition_prefix};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::metadata::{KafscaleMetadata, SNAPSHOT_KEY};
use crate::offsets::Tp;

/// Partitions listed at once; the store bounds its own requests too.
const LIST_CONCURRENCY: usize = 16;

/// What discovery tells the control loop.
#[derive(Debug)]
pub enum DiscoveryEvent {
    /// The partitions a topic has now.
    Partitions { topic: String, partitions: Vec<i32> },
    /// Newly complete segments of a partition, in offset order.
    Segments { tp: Tp, segments: Vec<SegmentRef> },
    /// A segment object that can never be read as it is.
    Damaged { tp: Tp, object: String, message: String },
    /// A segment seen but not complete yet (still uploading).
    Incomplete { tp: Tp, object: String, reason: String },
    /// Listing failed; discovery tries again at the next poll.
    ListFailed { location: String, error: String },
    /// One pass over every topic is done.
    PassComplete { pass: u64 },
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
    topics: Vec<String>,
    /// Offsets already committed: segments wholly below them are not checked.
    start_offsets: HashMap<Tp, i64>,
    cursors: HashMap<Tp, PartitionCursor>,
    pass: u64,
}

impl Discovery {
    pub fn new(
        store: Arc<dyn SegmentStore>,
        partitions: PartitionLister,
        prefix: String,
        topics: Vec<String>,
        start_offsets: HashMap<Tp, i64>,
        resume_after: HashMap<Tp, String>,
    ) -> Self {
        let cursors = resume_after
            .into_iter()
            .map(|(tp, key)| {
                tracing::info!(partition = %tp, "listing after {key}, the last wholly committed segment");
                (tp, PartitionCursor { start_after: Some(key), ..PartitionCursor::default() })
            })
            .collect();
        Self { store, partitions, prefix, topics, start_offsets, cursors, pass: 0 }
    }

    /// Polls until cancelled; with `once`, stops after the first pass.
    pub async fn run(
        mut self,
        events: mpsc::Sender<DiscoveryEvent>,
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
                Ok(None) => {
                    let error = "no KafScale metadata snapshot (discovery.mode is etcd)".to_string();
                    events.send(DiscoveryEvent::ListFailed { location: SNAPSHOT_KEY.into(), error }).await?;
                    return Ok(());
                }
                Err(error) if *strict => {
                    events.send(DiscoveryEvent::ListFailed { location: SNAPSHOT_KEY.into(), error }).await?;
                    return Ok(());
                }
                Err(error) => {
                    tracing::warn!("listing S3 for partitions: {error}");
                    None
                }
            },
        };
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
            let work: Vec<(Tp, PartitionCursor)> = partitions
                .into_iter()
                .map(|p| {
                    let tp = Tp::new(topic.clone(), p);
                    let cursor = self.cursors.remove(&tp).unwrap_or_default();
                    (tp, cursor)
                })
                .collect();
            let (store, prefix, start_offsets) = (&self.store, &self.prefix, &self.start_offsets);
            let polled: Vec<_> = futures::stream::iter(work)
                .map(|(tp, mut cursor)| async move {
                    let start = start_offsets.get(&tp).copied().unwrap_or(0);
                    let sent = poll_partition(store.as_ref(), prefix, &tp, start, &mut cursor, events).await;
                    (tp, cursor, sent)
                })
                .buffer_unordered(LIST_CONCURRENCY)
                .collect()
                .await;
            let mut result = Ok(());
            for (tp, cursor, sent) in polled {
                self.cursors.insert(tp, cursor);
                result = result.and(sent);
            }
            result?;
        }
        self.pass += 1;
        events.send(DiscoveryEvent::PassComplete { pass: self.pass }).await
    }
}

/// Lists one partition after its cursor and reports the segments that
/// became complete (or the problems of those that are not).
async fn poll_partition(
    store: &dyn SegmentStore,
    prefix: &str,
    tp: &Tp,
    start: i64,
    cursor: &mut PartitionCursor,
    events: &mpsc::Sender<DiscoveryEvent>,
) -> Result<(), mpsc::error::SendError<DiscoveryEvent>> {
    let listed = match store.list_partition(&tp.topic, tp.partition, cursor.start_after.as_deref()).await {
        Ok(listed) => listed,
        Err(e) => {
            return events.send(list_failed(partition_prefix(prefix, &tp.topic, tp.partition), e)).await;
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
    let mut complete = Vec::new();
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
    if !complete.is_empty() {
        events.send(DiscoveryEvent::Segments { tp: tp.clone(), segments: complete }).await?;
    }
    Ok(())
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
        Ok(Completeness::Complete(footer)) => {
            let base = floe_kfs::segment::SegmentHeader::parse(&head, kfs_key).map(|h| h.base_offset);
            match base {
                Ok(base) if footer.last_offset >= base => Check::Complete(SegmentRef {
                    kfs_key: kfs_key.to_string(),
                    index_key: index_key.to_string(),
                    base_offset: base,
                    last_offset: footer.last_offset,
                    kfs_size: len,
                }),
                Ok(base) => Check::Damaged(format!(
                    "footer last offset {} is below the header base offset {base}",
                    footer.last_offset
                )),
                Err(e) => Check::Damaged(e.to_string()),
            }
        }
        Ok(Completeness::Incomplete) => Check::Waiting(format!("{kfs_key} has no footer yet (upload in progress)")),
        Err(e) => Check::Damaged(e.to_string()),
    })
}

fn list_failed(location: String, e: StorageError) -> DiscoveryEvent {
    DiscoveryEvent::ListFailed { location, error: e.to_string() }
}
