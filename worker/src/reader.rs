//! One leased partition: reads the segments the coordinator sends, in order,
//! and hands rows to the table writer in chunks that each cover an exact
//! offset range.
//!
//! Each segment is read twice from a local file (the object itself, or a
//! spooled copy): first a verification pass over every byte (segment and
//! batch CRCs, lengths, offsets), then the decoding pass. Nothing of a
//! damaged segment ever reaches a table, and memory stays at one batch.
//! Resuming mid-segment, the `.index` gives the batch to start at and only
//! the bytes from there are fetched (a ranged GET on S3); the whole-body CRC
//! then cannot be checked, every batch CRC still is.

use std::collections::VecDeque;
use std::io::BufReader;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use floe_kfs::index::SegmentIndex;
use floe_kfs::reader::{ReaderOptions, SegmentReader};
use floe_kfs::record::Record;
use floe_kfs::txn::ReadCommitted;
use floe_proto::worker::{Feed, SegmentRef};
use floe_registry::confluent::ConfluentRegistry;
use floe_storage::{LocalObject, SegmentStore, StorageErrorKind};
use floe_table::{Rejected, RowBuilder};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::halt::Halt;
use crate::lfs::{self, LfsFetcher};
use crate::lookup::{self, Lookups, Resolver};
use crate::memory::MemoryBudget;
use crate::outage::Waiter;
use crate::table::TableDef;
use crate::writer::{Chunk, WriterCommand};

/// Rows per chunk handed to the writer, and the payload bytes that cut a
/// chunk earlier: big enough for efficient Parquet pages, small enough to
/// bound memory per partition.
const CHUNK_ROWS: usize = 8 * 1024;
const CHUNK_BYTES: usize = 2 << 20;
const READ_BUFFER: usize = 256 << 10;

/// What a reader tells its session.
#[derive(Debug)]
pub enum ReaderSignal {
    /// Every segment received so far has been read.
    CaughtUp,
    /// The partition cannot go on; the reader has stopped. `pauses_table`:
    /// strict validation refused a record, so the whole table pauses.
    Failed { feed: Feed, epoch: u64, object: String, offset: i64, message: String, pauses_table: bool },
}

/// Everything a reader needs, fixed for the lease.
pub struct PartitionReader {
    pub feed: Feed,
    pub epoch: u64,
    pub table: Arc<TableDef>,
    pub store: Arc<dyn SegmentStore>,
    pub writer: mpsc::Sender<WriterCommand>,
    pub signals: mpsc::Sender<ReaderSignal>,
    /// Bounds how many segments are decoded at once on this worker.
    pub permits: Arc<Semaphore>,
    /// Bounds the rows in flight to writers.
    pub memory: MemoryBudget,
    /// Reads LFS blobs, when the table resolves them.
    pub lfs: Option<Arc<LfsFetcher>>,
    pub max_pending_txn_bytes: usize,
    /// Dead letters decided by batches ending at or below this offset are
    /// committed already: not written again.
    pub dead_letters_from: i64,
    /// Offsets below this have been handed to the writer.
    pub read_to: Arc<AtomicI64>,
    /// The writer schemas of wire-format records.
    pub registry: Option<Arc<ConfluentRegistry>>,
    /// Why reading is held up, "" when it is not; sent with heartbeats.
    pub waiting: Arc<Mutex<String>>,
    pub stop: CancellationToken,
}

/// Reading state carried from one segment to the next.
struct Cursor {
    /// Next offset to read.
    position: i64,
    /// End of the offsets already handed to the writer (or consumed before
    /// this lease): the next chunk's range starts here, even when reading
    /// restarts earlier to pick up an open transaction.
    reported_to: i64,
    txn: ReadCommitted,
}

/// How a segment pass ended.
enum Outcome {
    Done(Cursor),
    Stopped,
    Failed { object: String, offset: i64, message: String, pauses_table: bool },
}

impl PartitionReader {
    /// Reads until stopped or failed. `resume_from` is where reading starts;
    /// offsets below `consumed_to` were consumed before (only records of
    /// transactions still open there come out again).
    pub async fn run(self, mut segments: mpsc::UnboundedReceiver<Vec<SegmentRef>>, resume_from: i64, consumed_to: i64) {
        let mut cursor = Cursor {
            position: resume_from,
            reported_to: consumed_to.max(resume_from),
            txn: ReadCommitted::new(consumed_to, self.max_pending_txn_bytes),
        };
        let mut queue: VecDeque<SegmentRef> = VecDeque::new();
        let this = Arc::new(self);
        loop {
            if queue.is_empty() {
                let _ = this.signals.send(ReaderSignal::CaughtUp).await;
                tokio::select! {
                    _ = this.stop.cancelled() => return,
                    received = segments.recv() => match received {
                        Some(more) => queue.extend(more),
                        None => return,
                    },
                }
                continue;
            }
            while let Ok(more) = segments.try_recv() {
                queue.extend(more);
            }
            let Some(segment) = queue.pop_front() else { continue };
            if segment.last_offset < cursor.position {
                continue;
            }
            if segment.base_offset > cursor.position {
                this.fail(
                    &segment.kfs_key,
                    cursor.position,
                    format!(
                        "offsets {}..{} are missing: the next segment starts at {}",
                        cursor.position,
                        segment.base_offset - 1,
                        segment.base_offset
                    ),
                    false,
                )
                .await;
                return;
            }
            let Ok(_permit) = this.permits.acquire().await else { return };
            if this.stop.is_cancelled() {
                return;
            }
            match this.clone().read_segment(segment, cursor).await {
                Outcome::Done(next) => cursor = next,
                Outcome::Stopped => return,
                Outcome::Failed { object, offset, message, pauses_table } => {
                    this.fail(&object, offset, message, pauses_table).await;
                    return;
                }
            }
        }
    }

    async fn fail(&self, object: &str, offset: i64, message: String, pauses_table: bool) {
        let signal = ReaderSignal::Failed {
            feed: self.feed.clone(),
            epoch: self.epoch,
            object: object.to_string(),
            offset,
            message,
            pauses_table,
        };
        let _ = self.signals.send(signal).await;
    }

    /// Fetches one segment, from the batch holding the cursor when an index
    /// allows a ranged read, then verifies and decodes it on a blocking
    /// thread, answering its lookups here meanwhile.
    async fn read_segment(self: Arc<Self>, segment: SegmentRef, cursor: Cursor) -> Outcome {
        let failed = |message| Outcome::Failed {
            object: segment.kfs_key.clone(),
            offset: cursor.position,
            message,
            pauses_table: false,
        };
        let start = if cursor.position > segment.base_offset {
            match self.retrying(&segment.index_key, || self.store.get(&segment.index_key)).await {
                Some(Ok(bytes)) => match SegmentIndex::parse(&bytes, &segment.index_key) {
                    Ok(index) => index.seek(cursor.position).map_or(0, |entry| u64::from(entry.position)),
                    // The index only saves work: without it, read from the start.
                    Err(e) => {
                        tracing::warn!(object = %segment.index_key, "ignoring unreadable index: {e}");
                        0
                    }
                },
                Some(Err(e)) => return failed(e.to_string()),
                None => return Outcome::Stopped,
            }
        } else {
            0
        };
        let local = match self.retrying(&segment.kfs_key, || self.store.local_copy(&segment.kfs_key, start)).await {
            Some(Ok(local)) => local,
            Some(Err(e)) => return failed(e.to_string()),
            None => return Outcome::Stopped,
        };
        let (lookups, requests) = lookup::channel();
        let reader = self.clone();
        let decode = tokio::task::spawn_blocking(move || reader.verify_and_decode(&segment, &local, cursor, &lookups));
        // Ends when the decode thread is done with its lookups.
        self.resolver().serve(requests).await;
        decode.await.unwrap_or_else(|e| Outcome::Failed {
            object: String::new(),
            offset: 0,
            message: format!("reader task: {e}"),
            pauses_table: false,
        })
    }

    /// Runs a storage read until it succeeds or fails for good: transient
    /// failures (the store unreachable, throttling) are waited out, never
    /// turned into skipped data. `None` when the lease stops meanwhile.
    async fn retrying<T, F, Fut>(&self, object: &str, read: F) -> Option<floe_storage::Result<T>>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = floe_storage::Result<T>>,
    {
        let attempt = || async {
            match read().await {
                Err(e) if e.kind == StorageErrorKind::Transient => Err(e.to_string()),
                answer => Ok(answer),
            }
        };
        self.waiter().wait_out(&format!("storage ({object})"), attempt).await
    }

    /// How this partition waits out outages.
    fn waiter(&self) -> Waiter<'_> {
        Waiter { feed: &self.feed, stop: &self.stop, waiting: &self.waiting }
    }

    /// What answers the decode thread's lookups.
    fn resolver(&self) -> Resolver<'_> {
        Resolver {
            table: &self.table.name,
            registry: self.registry.as_deref(),
            lfs: self.lfs.as_deref(),
            memory: &self.memory,
            waiter: self.waiter(),
        }
    }

    /// Runs on a blocking thread: what it needs from the runtime, it asks
    /// through `lookups`.
    fn verify_and_decode(
        &self,
        segment: &SegmentRef,
        local: &LocalObject,
        mut cursor: Cursor,
        lookups: &Lookups,
    ) -> Outcome {
        let key = segment.kfs_key.as_str();
        let failed = |offset: i64, message: String| Outcome::Failed {
            object: key.to_string(),
            offset,
            message,
            pauses_table: false,
        };
        let open = |opts: ReaderOptions| {
            let file = local.open().map(|f| BufReader::with_capacity(READ_BUFFER, f)).map_err(|e| e.to_string())?;
            let reader = if local.start == 0 {
                SegmentReader::new(file, key, local.len, opts)
            } else {
                SegmentReader::at_position(file, key, local.len, local.start, opts)
            };
            reader.map_err(|e| e.to_string())
        };

        // Pass 1: every byte, every CRC; nothing is emitted.
        let checked =
            open(ReaderOptions { decode_records: false, ..ReaderOptions::default() }).and_then(|mut reader| {
                while reader.next_batch().map_err(|e| e.to_string())?.is_some() {}
                Ok(())
            });
        if let Err(message) = checked {
            return failed(cursor.position, message);
        }

        // Pass 2: decode.
        let reader = open(ReaderOptions::default());
        let mut reader = match reader {
            Ok(reader) => reader,
            Err(message) => return failed(cursor.position, message),
        };
        // Lenient validation makes invalid values dead letters as rows are
        // built; strict validation checks a batch before (`check_strict`).
        let lenient = self.table.validation.as_ref().filter(|v| !v.strict).map(|v| v.validator.clone());
        let rows = RowBuilder::new(self.table.arrow_schema.clone(), &self.table.columns)
            .map(|rows| rows.with_format(self.table.format))
            .map(|rows| rows.with_validator(lenient));
        let builders = rows.and_then(|rows| {
            let dead = self.table.dead_letters.as_ref().map(|d| RowBuilder::for_dead_letters(d.arrow_schema.clone()));
            Ok((rows, dead.transpose()?))
        });
        let (mut rows, mut dead) = match builders {
            Ok(builders) => builders,
            Err(e) => return failed(cursor.position, e.to_string()),
        };
        let mut decided: Vec<Record> = Vec::new();
        let mut max_timestamp_ms = None;
        loop {
            if self.stop.is_cancelled() {
                // Hand over what was read: the writer reports it on release.
                return match self.emit(lookups, &mut max_timestamp_ms, &mut rows, &mut dead, &mut cursor) {
                    Ok(()) => Outcome::Stopped,
                    Err(message) => failed(cursor.position, message),
                };
            }
            let batch = match reader.next_batch() {
                Ok(Some(batch)) => batch,
                Ok(None) => break,
                Err(e) => return failed(cursor.position, e.to_string()),
            };
            let next = batch.header.last_offset() + 1;
            if next <= cursor.position {
                continue; // before the resume point
            }
            floe_metrics::count_batch(&self.feed.topic);
            floe_metrics::count_decoded(&self.feed.topic, batch.header.record_count.max(0) as u64);
            let pushed = cursor
                .txn
                .push(batch, &mut decided)
                .map_err(|e| Halt::Failed(format!("{e}; raise worker.max_pending_txn_bytes or check the producer")));
            // What the rows need from elsewhere (writer schemas, LFS blobs)
            // is fetched first. A lease that ends meanwhile hands nothing of
            // the chunk over: the next holder reads it again from the last
            // chunk's end, with the transactions open there.
            let prepared = pushed.and_then(|()| add_writer_schemas(lookups, &mut rows, &decided)).and_then(|()| {
                lfs::prepare(&self.table.lfs, &self.table.name, &mut decided, |wanted| lookups.blobs(wanted))
            });
            let appended = prepared
                .and_then(|(lfs, _blobs_reserved)| {
                    self.check_strict(&decided)?;
                    rows.append(&self.feed.topic, self.feed.partition, &decided, &lfs)
                        .map_err(|e| Halt::Failed(e.to_string()))
                })
                .and_then(|rejected| {
                    self.keep_dead_letters(&decided, rejected, next, dead.as_mut()).map_err(Halt::Failed)
                });
            if let Err(halt) = appended {
                let (message, pauses_table) = match halt {
                    Halt::Stopped => return Outcome::Stopped,
                    Halt::Failed(message) => (message, false),
                    Halt::Invalid(message) => (message, true),
                };
                // Rows before this batch are good: hand them over first.
                decided.clear();
                return match self.emit(lookups, &mut max_timestamp_ms, &mut rows, &mut dead, &mut cursor) {
                    Ok(()) => {
                        Outcome::Failed { object: key.to_string(), offset: cursor.position, message, pauses_table }
                    }
                    Err(emit_error) => failed(cursor.position, emit_error),
                };
            }
            max_timestamp_ms = decided.iter().map(|r| r.timestamp_ms).max().max(max_timestamp_ms);
            decided.clear();
            cursor.position = next;
            if (rows.len() >= CHUNK_ROWS || rows.pending_bytes() >= CHUNK_BYTES)
                && let Err(message) = self.emit(lookups, &mut max_timestamp_ms, &mut rows, &mut dead, &mut cursor)
            {
                return failed(cursor.position, message);
            }
        }
        match self.emit(lookups, &mut max_timestamp_ms, &mut rows, &mut dead, &mut cursor) {
            Ok(()) => Outcome::Done(cursor),
            Err(message) => failed(cursor.position, message),
        }
    }

    /// With `schema.mode` strict, the first value that does not match the
    /// topic's JSON Schema stops the partition, before any row of its batch
    /// is built; the message names its offset.
    fn check_strict(&self, records: &[Record]) -> Result<(), Halt> {
        let Some(validation) = self.table.validation.as_ref().filter(|v| v.strict) else { return Ok(()) };
        for record in records {
            if let Some(invalid) = validation.validator.check(record.value.as_deref()) {
                let (topic, partition, offset) = (&self.feed.topic, self.feed.partition, record.offset);
                return Err(Halt::Invalid(format!(
                    "record at offset {offset} does not match the JSON Schema of topic `{topic}` and schema.mode is \
                     strict: {}; go on past it with `floe ctl rewind --partition {topic}/{partition} --offset {}`, \
                     or set schema.mode to lenient to keep such records as dead letters",
                    invalid.message,
                    offset + 1
                )));
            }
        }
        Ok(())
    }

    /// Sends the records that could not become rows to the dead-letter
    /// table, except those committed there already. `decided_to` ends the
    /// batch that decided them (their own, or a transaction's marker): they
    /// were emitted in the range ending there, so they are in the
    /// dead-letter table when its offset reached that far. Their own offset
    /// would not do: a transaction's records sit below offsets committed
    /// while it was still open. Without a dead-letter table there is
    /// nowhere to keep them: the partition stops.
    fn keep_dead_letters(
        &self,
        records: &[Record],
        rejected: Vec<Rejected>,
        decided_to: i64,
        dead: Option<&mut RowBuilder>,
    ) -> Result<(), String> {
        let Some(first) = rejected.first() else { return Ok(()) };
        let Some(dead) = dead else {
            let record = &records[first.index];
            return Err(format!("record at offset {} cannot become a row: {}", record.offset, first.rejection));
        };
        if decided_to <= self.dead_letters_from {
            return Ok(());
        }
        for Rejected { index, rejection } in rejected {
            dead.append_dead_letter(&self.feed.topic, self.feed.partition, &records[index], &rejection)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Hands the rows (and dead letters) read since the last chunk to the
    /// writer, waiting when the writer is behind, then publishes the new
    /// read position.
    fn emit(
        &self,
        lookups: &Lookups,
        max_timestamp_ms: &mut Option<i64>,
        rows: &mut RowBuilder,
        dead: &mut Option<RowBuilder>,
        cursor: &mut Cursor,
    ) -> Result<(), String> {
        if cursor.position <= cursor.reported_to {
            // Still re-reading offsets consumed before: only open
            // transactions' records are held, nothing is due yet.
            return Ok(());
        }
        let dead = dead.as_mut().filter(|d| !d.is_empty());
        let reserved = lookups.memory(rows.pending_bytes() + dead.as_ref().map_or(0, |d| d.pending_bytes()));
        let batch = if rows.is_empty() { None } else { Some(rows.finish().map_err(|e| e.to_string())?) };
        let dead_letters = dead.map(RowBuilder::finish).transpose().map_err(|e| e.to_string())?;
        let command = WriterCommand::Chunk(Chunk {
            feed: self.feed.clone(),
            epoch: self.epoch,
            from: cursor.reported_to,
            to: cursor.position,
            open_txn_start: cursor.txn.open_txn_start(),
            rows: batch,
            dead_letters,
            max_timestamp_ms: max_timestamp_ms.take(),
            reserved,
        });
        self.writer.blocking_send(command).map_err(|_| "the table writer has stopped".to_string())?;
        cursor.reported_to = cursor.position;
        self.read_to.store(cursor.position, Ordering::Release);
        Ok(())
    }
}

/// Gives the row builder the writer schemas of `records` it has not seen.
/// An id the registry does not have is recorded as such, and its records
/// become dead letters.
fn add_writer_schemas(lookups: &Lookups, rows: &mut RowBuilder, records: &[Record]) -> Result<(), Halt> {
    for id in rows.unknown_schema_ids(records) {
        rows.add_writer_schema(id, lookups.writer_schema(id)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use floe_kfs::Compression;
    use floe_kfs::naming::{index_object_name, segment_object_name};
    use floe_kfs::writer::{BatchBuilder, NewRecord, SegmentWriter};
    use floe_storage::LocalDirStore;
    use floe_table::{Rejection, RejectionCode};

    use super::*;
    use crate::testing::{Scratch, orders_feed, orders_table, records};

    /// A reader of partition `orders/0` over a scratch folder, and what
    /// comes out of it.
    struct Harness {
        segments: mpsc::UnboundedSender<Vec<SegmentRef>>,
        chunks: mpsc::Receiver<WriterCommand>,
        signals: mpsc::Receiver<ReaderSignal>,
        folder: Scratch,
    }

    /// A reader over `folder` whose output goes to the returned receivers.
    fn reader(folder: &Path) -> (PartitionReader, mpsc::Receiver<WriterCommand>, mpsc::Receiver<ReaderSignal>) {
        let (writer, chunks) = mpsc::channel(4);
        let (signals, signaled) = mpsc::channel(16);
        let reader = PartitionReader {
            feed: orders_feed(),
            epoch: 1,
            table: orders_table(),
            store: Arc::new(LocalDirStore::new(folder.to_path_buf(), String::new())),
            writer,
            signals,
            permits: Arc::new(Semaphore::new(1)),
            memory: MemoryBudget::new(1 << 20),
            lfs: None,
            max_pending_txn_bytes: 1 << 20,
            dead_letters_from: -1,
            read_to: Arc::new(AtomicI64::new(0)),
            registry: None,
            waiting: Arc::default(),
            stop: CancellationToken::new(),
        };
        (reader, chunks, signaled)
    }

    impl Harness {
        fn start(resume_from: i64, consumed_to: i64) -> Self {
            let folder = Scratch::new();
            let (reader, chunks, signals) = reader(folder.path());
            let (segments, received) = mpsc::unbounded_channel();
            tokio::spawn(reader.run(received, resume_from, consumed_to));
            Self { segments, chunks, signals, folder }
        }

        /// Writes a segment of `batches` batches of three records each from
        /// offset 0, with an index entry per batch, and hands it over.
        fn segment(&self, batches: usize) {
            let mut segment = SegmentWriter::new(0, 0, 1);
            for _ in 0..batches {
                let mut batch = BatchBuilder::new(Compression::None);
                for _ in 0..3 {
                    batch.push(NewRecord { value: Some(b"{}".to_vec()), ..NewRecord::default() });
                }
                segment.push_batch(&batch.encode(segment.next_offset()).unwrap()).unwrap();
            }
            let last_offset = segment.next_offset() - 1;
            let (kfs, index) = segment.finish();
            let partition = self.folder.path().join("orders/0");
            std::fs::create_dir_all(&partition).unwrap();
            std::fs::write(partition.join(segment_object_name(0)), &kfs).unwrap();
            std::fs::write(partition.join(index_object_name(0)), index).unwrap();
            self.hand_over(SegmentRef {
                kfs_key: format!("orders/0/{}", segment_object_name(0)),
                index_key: format!("orders/0/{}", index_object_name(0)),
                base_offset: 0,
                last_offset,
                kfs_size: kfs.len() as u64,
                created_ms: 0,
            });
        }

        fn hand_over(&self, segment: SegmentRef) {
            self.segments.send(vec![segment]).unwrap();
        }

        async fn chunk(&mut self) -> Chunk {
            match self.chunks.recv().await {
                Some(WriterCommand::Chunk(chunk)) => chunk,
                _ => panic!("no chunk came"),
            }
        }

        async fn signal(&mut self) -> ReaderSignal {
            self.signals.recv().await.expect("the reader signals")
        }
    }

    #[tokio::test]
    async fn a_segment_becomes_one_chunk_of_exactly_the_offsets_not_read_before() {
        for resume_from in [0, 3] {
            let mut harness = Harness::start(resume_from, resume_from);
            harness.segment(2);
            let chunk = harness.chunk().await;
            let rows = chunk.rows.map(|r| r.num_rows() as i64);
            assert_eq!((chunk.from, chunk.to, rows), (resume_from, 6, Some(6 - resume_from)), "from {resume_from}");
            assert!(chunk.reserved.is_some(), "the rows are counted in the memory budget");
        }
    }

    #[tokio::test]
    async fn a_segment_wholly_read_before_is_passed_over_unread() {
        let mut harness = Harness::start(10, 10);
        // Not on disk: reading it would fail the partition.
        harness.hand_over(SegmentRef { kfs_key: "orders/0/gone.kfs".into(), last_offset: 9, ..SegmentRef::default() });
        let signals = (harness.signal().await, harness.signal().await);
        assert!(matches!(signals, (ReaderSignal::CaughtUp, ReaderSignal::CaughtUp)), "{signals:?}");
    }

    #[tokio::test]
    async fn offsets_missing_before_the_next_segment_stop_the_partition() {
        let mut harness = Harness::start(0, 0);
        harness.hand_over(SegmentRef {
            kfs_key: "orders/0/segment-00000000000000000005.kfs".into(),
            base_offset: 5,
            last_offset: 9,
            ..SegmentRef::default()
        });
        assert!(matches!(harness.signal().await, ReaderSignal::CaughtUp));
        let ReaderSignal::Failed { offset, message, pauses_table, .. } = harness.signal().await else {
            panic!("the partition goes on")
        };
        let missing = "offsets 0..4 are missing: the next segment starts at 5";
        assert_eq!((offset, message.as_str(), pauses_table), (0, missing, false));
    }

    #[test]
    fn dead_letters_committed_before_are_not_written_again_and_without_a_table_they_stop_the_partition() {
        let folder = Scratch::new();
        let (reader, _, _) = reader(folder.path());
        let reader = PartitionReader { dead_letters_from: 5, ..reader };
        let records = records(0..2);
        let rejected = || vec![Rejected { index: 1, rejection: Rejection::new(RejectionCode::NotObject, "a list") }];
        let schema = iceberg::arrow::schema_to_arrow_schema(&floe_table::dead_letter_schema()).unwrap();
        let mut dead = RowBuilder::for_dead_letters(Arc::new(schema)).unwrap();

        reader.keep_dead_letters(&records, rejected(), 5, Some(&mut dead)).unwrap();
        assert!(dead.is_empty(), "decided by a batch ending at or below 5: in the dead-letter table already");
        reader.keep_dead_letters(&records, rejected(), 6, Some(&mut dead)).unwrap();
        assert_eq!(dead.len(), 1);
        let stopped = reader.keep_dead_letters(&records, rejected(), 6, None).unwrap_err();
        assert_eq!(stopped, "record at offset 1 cannot become a row: not_object: a list");
    }
}
