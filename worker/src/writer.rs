//! One table's writer: appends the rows of every partition this worker reads
//! for the table to one open Parquet file per partition value of the
//! table's spec, rolls them at the target size, and
//! reports each closed file with the exact offset range of every partition
//! in it. Records that could not become rows go to a second file, in the
//! table's dead-letter table, reported with the same ranges. Closing on the
//! coordinator's Flush keeps files few and large: one per table and worker
//! per commit.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use floe_proto::worker::worker_message::Body;
use floe_proto::worker::{DataFileRef, DeadLetterFile, Feed, OffsetRange, Staged};
use floe_table::columns::DEAD_LETTER_REASON_CODE;
use iceberg::arrow::RecordBatchPartitionSplitter;
use iceberg::spec::{DataContentType, Struct, serialize_data_file_to_json};
use iceberg::writer::CurrentFileStatus;
use iceberg::writer::file_writer::{FileWriter, FileWriterBuilder, ParquetWriter, ParquetWriterBuilder};
use parquet::file::properties::WriterProperties;
use tokio::sync::{mpsc, oneshot};

use crate::backoff::Backoff;
use crate::dictionary::DictionaryChoice;
use crate::link::{CoordinatorLink, SessionClosed};
use crate::memory::Reservation;
use crate::table::TableDef;

/// Rows read from one partition, covering source offsets `[from, to)`.
#[derive(Debug)]
pub struct Chunk {
    pub feed: Feed,
    pub epoch: u64,
    pub from: i64,
    pub to: i64,
    pub open_txn_start: Option<i64>,
    /// `None` when the offsets produced no row (control or aborted records).
    pub rows: Option<RecordBatch>,
    /// Records of the range that could not become rows.
    pub dead_letters: Option<RecordBatch>,
    pub max_timestamp_ms: Option<i64>,
    /// This chunk's share of the worker's memory budget, returned once
    /// the rows are written.
    pub reserved: Option<Reservation>,
}

pub enum WriterCommand {
    Chunk(Chunk),
    /// Close the open file and report it (and any row-less progress).
    Flush(oneshot::Sender<Result<(), WriteError>>),
}

#[derive(Debug, thiserror::Error, Clone)]
pub enum WriteError {
    #[error("table {table}: writing {path}: {message}")]
    Write { table: String, path: String, message: String },
    #[error("table {table}: rows of {tp} do not continue: open range ends at {open_to}, chunk starts at {from}")]
    Gap { table: String, tp: String, open_to: i64, from: i64 },
    #[error("the session with the coordinator has ended")]
    SessionClosed,
}

impl From<SessionClosed> for WriteError {
    fn from(_: SessionClosed) -> Self {
        WriteError::SessionClosed
    }
}

/// The offsets of one partition inside the open file.
#[derive(Debug)]
struct OpenRange {
    epoch: u64,
    from: i64,
    to: i64,
    open_txn_start: Option<i64>,
    records: u64,
    max_timestamp_ms: Option<i64>,
}

struct OpenFile {
    path: String,
    writer: ParquetWriter,
    /// The partition value of every row in the file.
    partition: Option<Struct>,
}

/// A data file written and closed, ready to report.
struct ClosedFile {
    path: String,
    data_file_json: String,
    record_count: u64,
    file_size_bytes: u64,
}

impl From<ClosedFile> for DataFileRef {
    fn from(closed: ClosedFile) -> Self {
        let ClosedFile { path, data_file_json, record_count, file_size_bytes } = closed;
        DataFileRef { path, data_file_json, record_count, file_size_bytes }
    }
}

/// The open files of one table, one per partition value, and how to open
/// more.
struct FileSlot {
    table: Arc<TableDef>,
    /// Properties of the files opened next.
    props: WriterProperties,
    dictionary: DictionaryChoice,
    /// Splits rows by partition value; `None` for an unpartitioned table.
    splitter: Option<RecordBatchPartitionSplitter>,
    /// By partition path ("" when unpartitioned).
    files: BTreeMap<String, OpenFile>,
}

impl FileSlot {
    fn new(table: Arc<TableDef>, props: WriterProperties) -> Result<Self, WriteError> {
        let dictionary = DictionaryChoice::new(&table.arrow_schema, &props);
        let splitter = match table.partition_spec.is_unpartitioned() {
            true => None,
            false => Some(
                RecordBatchPartitionSplitter::try_new_with_computed_values(
                    table.schema.clone(),
                    Arc::new(table.partition_spec.clone()),
                )
                .map_err(|e| write_error(&table, "", format!("partition spec: {e}")))?,
            ),
        };
        Ok(Self { table, props, dictionary, splitter, files: BTreeMap::new() })
    }

    async fn write(&mut self, link: &CoordinatorLink, rows: &RecordBatch) -> Result<(), WriteError> {
        self.dictionary.observe(rows);
        let parts = match &self.splitter {
            None => vec![(String::new(), None, rows.clone())],
            Some(splitter) => splitter
                .split(rows)
                .map_err(|e| write_error(&self.table, "", format!("partitioning rows: {e}")))?
                .into_iter()
                .map(|(key, rows)| (key.to_path(), Some(key.data().clone()), rows))
                .collect(),
        };
        for (partition_path, partition, rows) in parts {
            if !self.files.contains_key(&partition_path) {
                if let Some(props) = self.dictionary.apply(&self.props) {
                    self.props = props;
                }
                let builder = ParquetWriterBuilder::new(self.props.clone(), self.table.schema.clone());
                let file = open_file(&self.table, link, &builder, &partition_path, partition).await?;
                self.files.insert(partition_path.clone(), file);
            }
            let Some(file) = self.files.get_mut(&partition_path) else { continue };
            file.writer.write(&rows).await.map_err(|e| write_error(&self.table, &file.path, e))?;
        }
        Ok(())
    }

    fn written_size(&self) -> u64 {
        self.files.values().map(|f| f.writer.current_written_size() as u64).sum()
    }

    async fn close(&mut self) -> Result<Vec<ClosedFile>, WriteError> {
        let mut closed = Vec::with_capacity(self.files.len());
        for (_, file) in std::mem::take(&mut self.files) {
            // Only the table is captured: the slot is not `Sync` across the await.
            let table = &self.table;
            let failed = |message: String| write_error(table, &file.path, message);
            let builders = file.writer.close().await.map_err(|e| failed(e.to_string()))?;
            let mut builder = builders.into_iter().next().ok_or_else(|| failed("no data file came out".into()))?;
            builder.content(DataContentType::Data).partition_spec_id(table.partition_spec.spec_id());
            if let Some(partition) = file.partition {
                builder.partition(partition);
            }
            let data_file = builder.build().map_err(|e| failed(e.to_string()))?;
            let (record_count, file_size_bytes) = (data_file.record_count(), data_file.file_size_in_bytes());
            let data_file_json = serialize_data_file_to_json(data_file, &table.partition_type, table.format_version)
                .map_err(|e| failed(e.to_string()))?;
            closed.push(ClosedFile { path: file.path, data_file_json, record_count, file_size_bytes });
        }
        Ok(closed)
    }

    /// The files will never be reported: delete them now rather than leave
    /// them to orphan collection.
    async fn abandon(&mut self) {
        for (_, file) in std::mem::take(&mut self.files) {
            let path = file.path.clone();
            drop(file.writer.close().await);
            let _ = self.table.file_io.delete(&path).await;
        }
    }
}

pub struct TableWriter {
    table: Arc<TableDef>,
    link: Arc<CoordinatorLink>,
    target_file_size: u64,
    rows: FileSlot,
    /// The dead-letter table's file, closed and reported with the rows'.
    dead_letters: Option<FileSlot>,
    /// How many dead letters the open file holds for each reason code.
    dead_letter_reasons: BTreeMap<String, u64>,
    ranges: BTreeMap<(String, i32), OpenRange>,
}

impl TableWriter {
    pub fn new(
        table: Arc<TableDef>,
        link: Arc<CoordinatorLink>,
        props: WriterProperties,
        target_file_size: u64,
    ) -> Result<Self, WriteError> {
        let dead_letters = table.dead_letters.clone().map(|d| FileSlot::new(d, props.clone())).transpose()?;
        let rows = FileSlot::new(table.clone(), props)?;
        Ok(Self {
            table,
            link,
            target_file_size,
            rows,
            dead_letters,
            dead_letter_reasons: BTreeMap::new(),
            ranges: BTreeMap::new(),
        })
    }

    /// Runs until the command channel closes. An error ends the writer: the
    /// rows it held are lost to this session, which must start over.
    pub async fn run(mut self, mut commands: mpsc::Receiver<WriterCommand>) -> Result<(), WriteError> {
        while let Some(command) = commands.recv().await {
            match command {
                WriterCommand::Chunk(chunk) => self.append(chunk).await?,
                WriterCommand::Flush(done) => {
                    let result = self.close_and_report().await;
                    let failed = result.clone().err();
                    let _ = done.send(result);
                    if let Some(e) = failed {
                        return Err(e);
                    }
                }
            }
        }
        self.rows.abandon().await;
        if let Some(dead_letters) = self.dead_letters.as_mut() {
            dead_letters.abandon().await;
        }
        Ok(())
    }

    async fn append(&mut self, chunk: Chunk) -> Result<(), WriteError> {
        let Chunk { feed, epoch, from, to, open_txn_start, rows, dead_letters, max_timestamp_ms, reserved } = chunk;
        let records = rows.as_ref().map_or(0, |r| r.num_rows() as u64);
        match self.ranges.get_mut(&(feed.topic.clone(), feed.partition)) {
            Some(open) if open.epoch == epoch => {
                if open.to != from {
                    let (table, tp) = (self.table.name.clone(), format!("{}/{}", feed.topic, feed.partition));
                    return Err(WriteError::Gap { table, tp, open_to: open.to, from });
                }
                open.to = to;
                open.open_txn_start = open_txn_start;
                open.records += records;
                open.max_timestamp_ms = open.max_timestamp_ms.max(max_timestamp_ms);
            }
            _ => {
                // A new lease (epoch) of a partition starts a new range; the
                // old lease's rows were reported when it was revoked.
                let open = OpenRange { epoch, from, to, open_txn_start, records, max_timestamp_ms };
                self.ranges.insert((feed.topic, feed.partition), open);
            }
        }
        if let Some(dead) = dead_letters.filter(|d| d.num_rows() > 0) {
            let Some(slot) = self.dead_letters.as_mut() else {
                return Err(write_error(&self.table, "", "dead letters came for a table without a dead-letter table"));
            };
            count_reasons(&dead, &mut self.dead_letter_reasons);
            slot.write(&self.link, &dead).await?;
        }
        if let Some(rows) = rows.filter(|r| r.num_rows() > 0) {
            self.rows.write(&self.link, &rows).await?;
        }
        // The rows now sit in the Parquet writers' (bounded) row groups.
        drop(reserved);
        if self.rows.written_size() >= self.target_file_size {
            self.close_and_report().await?;
        }
        Ok(())
    }

    /// Closes the open files and reports them with every range they hold;
    /// with no file open, reports row-less progress so offsets still advance.
    async fn close_and_report(&mut self) -> Result<(), WriteError> {
        if self.ranges.is_empty() {
            return Ok(());
        }
        let dead_letters = match self.dead_letters.as_mut() {
            Some(slot) => {
                let files: Vec<DataFileRef> = slot.close().await?.into_iter().map(DataFileRef::from).collect();
                let reasons = std::mem::take(&mut self.dead_letter_reasons).into_iter().collect();
                (!files.is_empty()).then(|| DeadLetterFile { table: slot.table.name.clone(), files, reasons })
            }
            None => None,
        };
        let files = self.rows.close().await?.into_iter().map(DataFileRef::from).collect();
        let ranges = std::mem::take(&mut self.ranges)
            .into_iter()
            .map(|((topic, partition), open)| OffsetRange {
                feed: Some(Feed { topic, partition, table: self.table.name.clone() }),
                epoch: open.epoch,
                from: open.from,
                to: open.to,
                open_txn_start: open.open_txn_start,
                record_count: open.records,
                max_timestamp_ms: open.max_timestamp_ms,
            })
            .collect();
        let staged = Staged { table: self.table.name.clone(), files, ranges, dead_letters };
        self.link.send(Body::Staged(staged)).await?;
        Ok(())
    }
}

/// Adds up a dead-letter batch's `reason_code` column.
fn count_reasons(dead: &RecordBatch, counts: &mut BTreeMap<String, u64>) {
    let Some(codes) = dead.column_by_name(DEAD_LETTER_REASON_CODE) else { return };
    let Some(codes) = codes.as_string_opt::<i32>() else { return };
    for code in codes.iter().flatten() {
        *counts.entry(code.to_string()).or_default() += 1;
    }
}

/// Gets a path from the coordinator and opens a Parquet writer there. (A
/// free function: the open writer in `TableWriter` is not `Sync`, so `&self`
/// cannot be held across the await.)
async fn open_file(
    table: &TableDef,
    link: &CoordinatorLink,
    builder: &ParquetWriterBuilder,
    partition_path: &str,
    partition: Option<Struct>,
) -> Result<OpenFile, WriteError> {
    // The coordinator cannot hand out paths while its state store is
    // unreachable: wait (rows queue up to the memory budget, then readers
    // pause) rather than end the session and read everything again.
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
    let path = loop {
        match link.open_file(&table.name, partition_path).await? {
            Ok(path) => break path,
            Err(message) => {
                let pause = backoff.next_pause();
                tracing::warn!(table = %table.name, "no data file path yet, asking again in {pause:?}: {message}");
                tokio::time::sleep(pause).await;
            }
        }
    };
    let output = table.file_io.new_output(&path).map_err(|e| write_error(table, &path, e))?;
    let writer = builder.build(output).await.map_err(|e| write_error(table, &path, e))?;
    Ok(OpenFile { path, writer, partition })
}

fn write_error(table: &TableDef, path: &str, message: impl std::fmt::Display) -> WriteError {
    WriteError::Write { table: table.name.clone(), path: path.to_string(), message: message.to_string() }
}

#[cfg(test)]
mod tests {
    use floe_proto::worker::{FileOpened, Heartbeat, WorkerMessage};
    use floe_table::RowBuilder;
    use tokio::task::JoinHandle;

    use super::*;
    use crate::memory::MemoryBudget;
    use crate::table::writer_properties;
    use crate::testing::{Scratch, orders_feed, orders_table, records};

    /// A writer of table `orders`, with a stand-in coordinator that hands
    /// out data file paths in a scratch folder and passes on everything
    /// else the writer sends.
    struct Harness {
        table: Arc<TableDef>,
        link: Arc<CoordinatorLink>,
        commands: mpsc::Sender<WriterCommand>,
        sent: mpsc::UnboundedReceiver<Body>,
        writer: JoinHandle<Result<(), WriteError>>,
        _files: Scratch,
    }

    impl Harness {
        fn start(target_file_size: u64) -> Self {
            let files = Scratch::new();
            let table = orders_table();
            let (outbound, mut outgoing) = mpsc::channel::<WorkerMessage>(16);
            let link = Arc::new(CoordinatorLink::new(outbound));
            let (pass_on, sent) = mpsc::unbounded_channel();
            let (coordinator, dir) = (link.clone(), files.path().to_path_buf());
            tokio::spawn(async move {
                while let Some(WorkerMessage { body: Some(body) }) = outgoing.recv().await {
                    match body {
                        Body::OpenFile(open) => coordinator.file_opened(FileOpened {
                            request_id: open.request_id,
                            path: format!("file://{}/{}.parquet", dir.display(), open.request_id),
                            error: String::new(),
                        }),
                        other => {
                            let _ = pass_on.send(other);
                        }
                    }
                }
            });
            let props = writer_properties("zstd", 1, 8 << 20, &table.schema);
            let writer = TableWriter::new(table.clone(), link.clone(), props, target_file_size).unwrap();
            let (commands, received) = mpsc::channel(4);
            let writer = tokio::spawn(writer.run(received));
            Self { table, link, commands, sent, writer, _files: files }
        }

        /// Hands the writer the rows of offsets `[from, to)` of lease epoch 1.
        async fn chunk(&self, from: i64, to: i64, reserved: Option<Reservation>) {
            let mut rows = RowBuilder::new(self.table.arrow_schema.clone(), &self.table.columns).unwrap();
            rows.append("orders", 0, &records(from..to), &[]).unwrap();
            let chunk = Chunk {
                feed: orders_feed(),
                epoch: 1,
                from,
                to,
                open_txn_start: None,
                rows: Some(rows.finish().unwrap()),
                dead_letters: None,
                max_timestamp_ms: Some(to - 1),
                reserved,
            };
            self.commands.send(WriterCommand::Chunk(chunk)).await.unwrap();
        }

        async fn flush(&self) -> Result<(), WriteError> {
            let (done, flushed) = oneshot::channel();
            self.commands.send(WriterCommand::Flush(done)).await.unwrap();
            flushed.await.unwrap()
        }

        /// What the writer staged so far: a marker sent after it comes back
        /// once everything before it has.
        async fn staged(&mut self) -> Vec<Staged> {
            self.link.send(Body::Heartbeat(Heartbeat::default())).await.unwrap();
            let mut staged = Vec::new();
            while let Some(body) = self.sent.recv().await {
                match body {
                    Body::Staged(one) => staged.push(one),
                    _ => return staged,
                }
            }
            staged
        }
    }

    fn range(from: i64, to: i64) -> OffsetRange {
        OffsetRange {
            feed: Some(orders_feed()),
            epoch: 1,
            from,
            to,
            open_txn_start: None,
            record_count: (to - from) as u64,
            max_timestamp_ms: Some(to - 1),
        }
    }

    #[tokio::test]
    async fn rows_stay_in_one_open_file_until_a_flush() {
        let mut harness = Harness::start(1 << 30);
        harness.chunk(0, 2, None).await;
        harness.chunk(2, 5, None).await;
        harness.flush().await.unwrap();
        let staged = harness.staged().await;
        assert_eq!(staged.len(), 1, "{staged:?}");
        assert_eq!(staged[0].ranges, [range(0, 5)], "one range across both chunks");
        assert_eq!(staged[0].files.iter().map(|f| f.record_count).collect::<Vec<_>>(), [5]);
        let path = staged[0].files[0].path.strip_prefix("file://").unwrap();
        assert!(std::path::Path::new(path).exists(), "{path}");
    }

    #[tokio::test]
    async fn a_file_at_the_target_size_is_reported_without_waiting_for_a_flush() {
        let mut harness = Harness::start(1);
        harness.chunk(0, 2, None).await;
        harness.chunk(2, 4, None).await;
        harness.flush().await.unwrap();
        let staged = harness.staged().await;
        let ranges: Vec<_> = staged.iter().map(|s| (s.ranges.clone(), s.files.len())).collect();
        assert_eq!(ranges, [(vec![range(0, 2)], 1), (vec![range(2, 4)], 1)], "a file per chunk, none at the flush");
    }

    #[tokio::test]
    async fn a_flush_with_nothing_read_reports_nothing() {
        let mut harness = Harness::start(1 << 30);
        harness.flush().await.unwrap();
        assert!(harness.staged().await.is_empty());
    }

    #[tokio::test]
    async fn a_chunk_that_does_not_continue_its_partition_ends_the_writer() {
        let harness = Harness::start(1 << 30);
        harness.chunk(0, 2, None).await;
        harness.chunk(3, 4, None).await;
        // Without the refusal, the writer would end cleanly once its commands do.
        let Harness { commands, writer, .. } = harness;
        drop(commands);
        let ended = writer.await.unwrap().unwrap_err();
        assert_eq!(
            ended.to_string(),
            "table orders: rows of orders/0 do not continue: open range ends at 2, chunk starts at 3"
        );
    }

    #[tokio::test]
    async fn a_chunks_share_of_the_memory_budget_returns_once_it_is_written() {
        let harness = Harness::start(1 << 30);
        let budget = MemoryBudget::new(10 * 1024);
        let whole = budget.reserve(10 * 1024).await;
        harness.chunk(0, 2, whole).await;
        let again = tokio::time::timeout(Duration::from_secs(10), budget.reserve(10 * 1024)).await;
        assert!(matches!(again, Ok(Some(_))), "the budget is free again once the rows are written");
    }
}
