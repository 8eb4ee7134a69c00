//! One session with the coordinator: register, then follow its messages
//! (tables, grants, segments, revokes, flushes) until the stream ends.
//! Anything held when a session ends unexpectedly is dropped; the
//! coordinator grants the partitions again from what it accepted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use floe_config::TlsFiles;
use floe_proto::worker::coordination_client::CoordinationClient;
use floe_proto::worker::coordinator_message::Body as FromCoordinator;
use floe_proto::worker::worker_message::Body as ToCoordinator;
use floe_proto::worker::{
    Feed, Flushed, Grant, Heartbeat, PartitionFailed, ReadProgress, Register, Released, SegmentRef, WorkerMessage,
    WriterSpec,
};
use floe_registry::confluent::ConfluentRegistry;
use floe_storage::{SegmentStore, open_segment_store};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::Streaming;
use tracing::{info, warn};

use crate::lfs::LfsFetcher;
use crate::link::CoordinatorLink;
use crate::memory::MemoryBudget;
use crate::reader::{PartitionReader, ReaderSignal};
use crate::table::{TableDef, writer_properties};
use crate::tls::{client_config, error_chain, refusal_hint};
use crate::writer::{TableWriter, WriteError, WriterCommand};

/// Commands queued per table writer: enough to keep it busy while readers
/// decode, few enough to bound memory.
const WRITER_QUEUE: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot reach the coordinator at {endpoint}: {message}")]
    Connect { endpoint: String, message: String },
    #[error("the coordinator ended the session: {0}")]
    Status(#[from] tonic::Status),
    #[error("the coordinator at {endpoint} did not accept the session: {message}")]
    NotAccepted { endpoint: String, message: String },
    #[error("the coordinator's first message was not Welcome")]
    NoWelcome,
    #[error("TLS: {0}")]
    Tls(String),
    #[error("the coordinator refused a staged file: {0}")]
    Refused(String),
    #[error("{0}")]
    Write(#[from] WriteError),
}

/// How a session ended without error.
#[derive(Debug, PartialEq, Eq)]
pub enum SessionEnd {
    /// The worker was asked to stop; open files were reported first.
    Stopped,
    /// The coordinator closed the stream.
    Closed,
}

struct Lease {
    epoch: u64,
    table: String,
    segments: mpsc::UnboundedSender<Vec<SegmentRef>>,
    stop: CancellationToken,
    task: JoinHandle<()>,
    read_to: Arc<AtomicI64>,
    /// Why the reader is held up, "" when it is not.
    waiting: Arc<Mutex<String>>,
}

struct Writer {
    commands: mpsc::Sender<WriterCommand>,
}

/// Which read positions a heartbeat carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Report {
    All,
    Changed,
}

struct Session {
    link: Arc<CoordinatorLink>,
    store: Arc<dyn SegmentStore>,
    spec: WriterSpec,
    tables: HashMap<String, Arc<TableDef>>,
    writers: HashMap<String, Writer>,
    leases: HashMap<LeaseKey, Lease>,
    /// The read position last reported of each lease (epoch, offset).
    reported: HashMap<LeaseKey, (u64, i64)>,
    decode_permits: Arc<Semaphore>,
    memory: MemoryBudget,
    /// Reads LFS blobs, when a table resolves them.
    lfs: Option<Arc<LfsFetcher>>,
    signals: mpsc::Sender<ReaderSignal>,
    write_errors: mpsc::Sender<WriteError>,
    /// The writer schemas of wire-format tables, shared by their readers.
    registry: Option<Arc<ConfluentRegistry>>,
}

/// Connects, registers and serves one session until it ends.
pub async fn run_session(
    endpoint: &str,
    tls: Option<&TlsFiles>,
    worker_id: &str,
    stop: &CancellationToken,
) -> Result<SessionEnd, SessionError> {
    let connect_error = |message: String| SessionError::Connect { endpoint: endpoint.to_string(), message };
    let mut channel = tonic::transport::Endpoint::from_shared(endpoint.to_string())
        .map_err(|e| connect_error(e.to_string()))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true);
    if let Some(tls) = tls {
        // Read at every connection: rotated certificates are used from the next one.
        channel = channel
            .tls_config(client_config(tls).map_err(SessionError::Tls)?)
            .map_err(|e| connect_error(error_chain(&e)))?;
    }
    let channel = channel.connect().await.map_err(|e| connect_error(error_chain(&e)))?;
    let mut client =
        CoordinationClient::new(channel).max_decoding_message_size(64 << 20).max_encoding_message_size(64 << 20);
    let (outbound, outgoing) = mpsc::channel::<WorkerMessage>(4096);
    let register = Register { worker_id: worker_id.to_string(), version: env!("CARGO_PKG_VERSION").to_string() };
    let _ = outbound.send(WorkerMessage { body: Some(ToCoordinator::Register(register)) }).await;
    // With TLS 1.3 a refused client certificate shows up here, as a closed
    // connection, not at connect: say what to check.
    let not_accepted = |status: tonic::Status| SessionError::NotAccepted {
        endpoint: endpoint.to_string(),
        message: format!("{}{}", status.message(), tls.map_or("", refusal_hint)),
    };
    let mut inbound = client.session(ReceiverStream::new(outgoing)).await.map_err(not_accepted)?.into_inner();
    let first = inbound.message().await.map_err(not_accepted)?;
    let Some(FromCoordinator::Welcome(welcome)) = first.and_then(|m| m.body) else {
        return Err(SessionError::NoWelcome);
    };
    let store = open_segment_store(&welcome.source.unwrap_or_default()).await;
    let spec = welcome.writer.unwrap_or_default();
    // Without it, readers of wire-format tables stop with the reason.
    let registry = welcome.confluent_registry.as_ref().and_then(|spec| match ConfluentRegistry::from_spec(spec) {
        Ok(registry) => Some(Arc::new(registry)),
        Err(e) => {
            warn!("schema registry {}: {e}", spec.url);
            None
        }
    });
    let lfs = match &welcome.lfs {
        Some(service) => Some(Arc::new(LfsFetcher::connect(service).await)),
        None => None,
    };
    info!(worker = worker_id, session = %welcome.session_id, "registered with the coordinator");
    floe_metrics::set_connected(true);
    let (signals, signal_rx) = mpsc::channel(1024);
    let (write_errors, write_error_rx) = mpsc::channel(16);
    let session = Session {
        link: Arc::new(CoordinatorLink::new(outbound)),
        store,
        decode_permits: Arc::new(Semaphore::new(spec.fetch_concurrency.max(1) as usize)),
        memory: MemoryBudget::new(spec.memory_limit_bytes),
        lfs,
        spec,
        tables: HashMap::new(),
        writers: HashMap::new(),
        leases: HashMap::new(),
        reported: HashMap::new(),
        signals,
        write_errors,
        registry,
    };
    let heartbeat = Duration::from_millis(u64::from(welcome.heartbeat_interval_ms.max(100)));
    session.serve(inbound, signal_rx, write_error_rx, heartbeat, stop).await
}

impl Session {
    async fn serve(
        mut self,
        mut inbound: Streaming<floe_proto::worker::CoordinatorMessage>,
        mut signals: mpsc::Receiver<ReaderSignal>,
        mut write_errors: mpsc::Receiver<WriteError>,
        heartbeat: Duration,
        stop: &CancellationToken,
    ) -> Result<SessionEnd, SessionError> {
        let mut ticks = tokio::time::interval(heartbeat);
        let result = loop {
            tokio::select! {
                _ = stop.cancelled() => {
                    self.stop_gracefully().await;
                    break Ok(SessionEnd::Stopped);
                }
                message = inbound.message() => match message {
                    Ok(Some(message)) => {
                        let Some(body) = message.body else { continue };
                        if let Err(e) = self.handle(body).await {
                            break Err(e);
                        }
                    }
                    Ok(None) => break Ok(SessionEnd::Closed),
                    Err(status) => break Err(status.into()),
                },
                Some(signal) = signals.recv() => self.on_signal(signal).await,
                Some(error) = write_errors.recv() => break Err(error.into()),
                _ = ticks.tick() => self.send_heartbeat(Report::All).await,
            }
        };
        self.end();
        result
    }

    async fn handle(&mut self, body: FromCoordinator) -> Result<(), SessionError> {
        match body {
            FromCoordinator::Welcome(_) => {}
            FromCoordinator::DefineTable(define) => match TableDef::from_proto(&define, &self.tables) {
                Ok(table) => {
                    // A new definition (the table's schema evolved): the
                    // coordinator took back its leases first, so the old
                    // writer has nothing left to report; the next grant
                    // starts one with the new schema.
                    if let Some(old) = self.writers.remove(&define.table) {
                        tokio::spawn(async move { flush_writer(&old.commands).await });
                    }
                    self.tables.insert(define.table.clone(), Arc::new(table));
                }
                Err(e) => warn!("cannot use table definition: {e}"),
            },
            FromCoordinator::Grant(grant) => self.on_grant(grant).await,
            FromCoordinator::Segments(segments) => {
                let key = key_of(segments.feed.as_ref());
                if let Some(lease) = self.leases.get(&key).filter(|l| l.epoch == segments.epoch) {
                    let _ = lease.segments.send(segments.segments);
                }
            }
            FromCoordinator::Revoke(revoke) => {
                let key = key_of(revoke.feed.as_ref());
                if let Some(lease) = self.leases.remove(&key).filter(|l| l.epoch == revoke.epoch) {
                    let flush = self.writers.get(&lease.table).map(|w| w.commands.clone());
                    let link = self.link.clone();
                    let feed = revoke.feed.clone();
                    tokio::spawn(async move {
                        // Stop reading, report every row read, then let go.
                        lease.stop.cancel();
                        let _ = lease.task.await;
                        if let Some(commands) = flush {
                            flush_writer(&commands).await;
                        }
                        let _ = link.send(ToCoordinator::Released(Released { feed, epoch: lease.epoch })).await;
                    });
                }
            }
            FromCoordinator::Flush(flush) => {
                let writers: Vec<_> = self
                    .writers
                    .iter()
                    .filter(|(name, _)| flush.tables.is_empty() || flush.tables.contains(name))
                    .map(|(_, w)| w.commands.clone())
                    .collect();
                let link = self.link.clone();
                tokio::spawn(async move {
                    for commands in writers {
                        flush_writer(&commands).await;
                    }
                    let _ = link.send(ToCoordinator::Flushed(Flushed { flush_id: flush.flush_id })).await;
                });
            }
            FromCoordinator::FileOpened(answer) => self.link.file_opened(answer),
            FromCoordinator::StagedAck(ack) => {
                if !ack.accepted {
                    return Err(SessionError::Refused(format!("{} ({})", ack.reason, ack.path)));
                }
            }
        }
        Ok(())
    }

    async fn on_grant(&mut self, grant: Grant) {
        let Some(feed) = grant.feed.clone() else { return };
        let key = key_of(Some(&feed));
        if let Some(old) = self.leases.remove(&key) {
            old.stop.cancel();
            let _ = old.task.await;
        }
        let Some(table) = self.tables.get(&feed.table).cloned() else {
            let failed = PartitionFailed {
                message: format!("no usable definition of table {}", feed.table),
                feed: Some(feed),
                epoch: grant.epoch,
                object: String::new(),
                offset: grant.resume_from,
                pauses_table: false,
            };
            let _ = self.link.send(ToCoordinator::PartitionFailed(failed)).await;
            return;
        };
        let writer = self.writer_for(&table);
        let (segments, segment_rx) = mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let read_to = Arc::new(AtomicI64::new(grant.consumed_to));
        let waiting = Arc::new(Mutex::new(String::new()));
        let lease_table = feed.table.clone();
        let reader = PartitionReader {
            feed,
            epoch: grant.epoch,
            table,
            store: self.store.clone(),
            writer,
            signals: self.signals.clone(),
            permits: self.decode_permits.clone(),
            memory: self.memory.clone(),
            lfs: self.lfs.clone(),
            max_pending_txn_bytes: self.spec.max_pending_txn_bytes as usize,
            dead_letters_from: grant.dead_letters_from,
            read_to: read_to.clone(),
            registry: self.registry.clone(),
            waiting: waiting.clone(),
            stop: stop.clone(),
        };
        let task = tokio::spawn(reader.run(segment_rx, grant.resume_from, grant.consumed_to));
        let lease = Lease { epoch: grant.epoch, table: lease_table, segments, stop, task, read_to, waiting };
        self.leases.insert(key, lease);
    }

    /// The table's writer, started on first use.
    fn writer_for(&mut self, table: &Arc<TableDef>) -> mpsc::Sender<WriterCommand> {
        if let Some(writer) = self.writers.get(&table.name) {
            return writer.commands.clone();
        }
        let spec = &self.spec;
        let props = writer_properties(&spec.compression, spec.compression_level, spec.row_group_bytes, &table.schema);
        let writer = TableWriter::new(table.clone(), self.link.clone(), props, self.spec.target_file_size_bytes);
        let (commands, command_rx) = mpsc::channel(WRITER_QUEUE);
        let errors = self.write_errors.clone();
        tokio::spawn(async move {
            let ran = match writer {
                Ok(writer) => writer.run(command_rx).await,
                Err(e) => Err(e),
            };
            if let Err(e) = ran {
                let _ = errors.send(e).await;
            }
        });
        self.writers.insert(table.name.clone(), Writer { commands: commands.clone() });
        commands
    }

    async fn on_signal(&mut self, signal: ReaderSignal) {
        match signal {
            // The coordinator learns of it at once (`--once` waits on it).
            ReaderSignal::CaughtUp => self.send_heartbeat(Report::Changed).await,
            ReaderSignal::Failed { feed, epoch, object, offset, message, pauses_table } => {
                warn!(partition = %feed, %object, offset, "partition stopped: {message}");
                let failed = PartitionFailed { feed: Some(feed), epoch, object, offset, message, pauses_table };
                let _ = self.link.send(ToCoordinator::PartitionFailed(failed)).await;
            }
        }
    }

    /// Reports read positions: every lease's on the heartbeat tick, only
    /// those that moved when a partition catches up. (A full list on every
    /// catch-up made a worker holding thousands of partitions send
    /// thousands of thousand-entry heartbeats while catching up, queueing
    /// gigabytes in the coordinator.)
    async fn send_heartbeat(&mut self, report: Report) {
        let mut progress = Vec::new();
        for (key, lease) in &self.leases {
            let now = (lease.epoch, lease.read_to.load(Ordering::Acquire));
            let last = self.reported.insert(key.clone(), now);
            if report == Report::All || last != Some(now) {
                let (table, topic, partition) = key.clone();
                progress.push(ReadProgress {
                    feed: Some(Feed { topic, partition, table }),
                    epoch: now.0,
                    read_to: now.1,
                    waiting: lease.waiting.lock().unwrap().clone(),
                });
            }
        }
        self.reported.retain(|key, _| self.leases.contains_key(key));
        if report == Report::Changed && progress.is_empty() {
            return;
        }
        let _ = self.link.send(ToCoordinator::Heartbeat(Heartbeat { progress })).await;
    }

    /// Asked to stop: stop reading, report every open file, then end.
    async fn stop_gracefully(&mut self) {
        for lease in self.leases.values() {
            lease.stop.cancel();
        }
        for (_, lease) in self.leases.drain() {
            let _ = lease.task.await;
        }
        for writer in self.writers.values() {
            flush_writer(&writer.commands).await;
        }
    }

    /// Drops everything this session held. Writers delete files they never
    /// reported once their command channel closes.
    fn end(&mut self) {
        for lease in self.leases.values() {
            lease.stop.cancel();
        }
        self.leases.clear();
        self.writers.clear();
    }
}

async fn flush_writer(commands: &mpsc::Sender<WriterCommand>) {
    let (done, flushed) = oneshot::channel();
    if commands.send(WriterCommand::Flush(done)).await.is_ok() {
        let _ = flushed.await;
    }
}

/// A lease's table, topic and partition.
type LeaseKey = (String, String, i32);

fn key_of(feed: Option<&Feed>) -> LeaseKey {
    feed.map_or_else(|| (String::new(), String::new(), -1), |f| (f.table.clone(), f.topic.clone(), f.partition))
}

#[cfg(test)]
mod tests {
    use floe_proto::worker::{Segments, StagedAck};
    use floe_storage::LocalDirStore;

    use super::*;
    use crate::testing::orders_feed;

    /// A session with nothing defined or leased yet, and what it sends the
    /// coordinator.
    fn session() -> (Session, mpsc::Receiver<WorkerMessage>) {
        let (outbound, sent) = mpsc::channel(16);
        let session = Session {
            link: Arc::new(CoordinatorLink::new(outbound)),
            store: Arc::new(LocalDirStore::new(std::env::temp_dir(), String::new())),
            spec: WriterSpec::default(),
            tables: HashMap::new(),
            writers: HashMap::new(),
            leases: HashMap::new(),
            reported: HashMap::new(),
            decode_permits: Arc::new(Semaphore::new(1)),
            memory: MemoryBudget::new(1 << 20),
            lfs: None,
            signals: mpsc::channel(1).0,
            write_errors: mpsc::channel(1).0,
            registry: None,
        };
        (session, sent)
    }

    /// A lease of epoch 1 read up to `read_to`, with no reader behind it.
    fn lease(read_to: i64) -> Lease {
        Lease {
            epoch: 1,
            table: "orders".into(),
            segments: mpsc::unbounded_channel().0,
            stop: CancellationToken::new(),
            task: tokio::spawn(async {}),
            read_to: Arc::new(AtomicI64::new(read_to)),
            waiting: Arc::default(),
        }
    }

    fn partition(partition: i32) -> LeaseKey {
        key_of(Some(&Feed { partition, ..orders_feed() }))
    }

    /// The partitions and read positions of a heartbeat.
    fn reported(message: Option<WorkerMessage>) -> Vec<(i32, i64)> {
        let Some(ToCoordinator::Heartbeat(heartbeat)) = message.and_then(|m| m.body) else { panic!("no heartbeat") };
        let mut positions: Vec<_> =
            heartbeat.progress.iter().map(|p| (p.feed.as_ref().map_or(-1, |f| f.partition), p.read_to)).collect();
        positions.sort();
        positions
    }

    #[tokio::test]
    async fn catching_up_reports_the_positions_that_moved_and_the_tick_reports_them_all() {
        let (mut session, mut sent) = session();
        session.leases.insert(partition(0), lease(10));
        session.leases.insert(partition(1), lease(10));
        session.send_heartbeat(Report::Changed).await;
        assert_eq!(reported(sent.recv().await), [(0, 10), (1, 10)], "never reported before");
        session.leases[&partition(1)].read_to.store(20, Ordering::Release);
        session.send_heartbeat(Report::Changed).await;
        assert_eq!(reported(sent.recv().await), [(1, 20)]);
        session.send_heartbeat(Report::Changed).await;
        assert!(sent.try_recv().is_err(), "nothing moved, nothing sent");
        session.send_heartbeat(Report::All).await;
        assert_eq!(reported(sent.recv().await), [(0, 10), (1, 20)]);
    }

    #[tokio::test]
    async fn a_grant_of_a_table_never_defined_fails_its_partition() {
        let (mut session, mut sent) = session();
        let grant = Grant { feed: Some(orders_feed()), epoch: 3, resume_from: 42, ..Grant::default() };
        session.handle(FromCoordinator::Grant(grant)).await.unwrap();
        let Some(ToCoordinator::PartitionFailed(failed)) = sent.try_recv().ok().and_then(|m| m.body) else {
            panic!("the partition was not failed")
        };
        assert_eq!(
            (failed.epoch, failed.offset, failed.message.as_str()),
            (3, 42, "no usable definition of table orders")
        );
        assert!(session.leases.is_empty());
    }

    #[tokio::test]
    async fn segments_go_only_to_the_lease_of_their_epoch() {
        let (mut session, _sent) = session();
        let (segments, mut received) = mpsc::unbounded_channel();
        session.leases.insert(partition(0), Lease { segments, ..lease(0) });
        for (epoch, kfs_key) in [(2, "of epoch 2"), (1, "of epoch 1")] {
            let segments = vec![SegmentRef { kfs_key: kfs_key.into(), ..SegmentRef::default() }];
            let message = Segments { feed: Some(orders_feed()), epoch, segments };
            session.handle(FromCoordinator::Segments(message)).await.unwrap();
        }
        assert_eq!(received.try_recv().unwrap()[0].kfs_key, "of epoch 1");
        assert!(received.try_recv().is_err(), "the old epoch's segments are dropped");
    }

    #[tokio::test]
    async fn a_refused_staged_file_ends_the_session() {
        let (mut session, _sent) = session();
        let ack = StagedAck { table: "orders".into(), path: "a.parquet".into(), accepted: false, reason: "gap".into() };
        let ended = session.handle(FromCoordinator::StagedAck(ack)).await.unwrap_err();
        assert_eq!(ended.to_string(), "the coordinator refused a staged file: gap (a.parquet)");
    }
}
