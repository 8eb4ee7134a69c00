//! The control loop: the one owner of leases, staged files and commit
//! cycles. Everything that changes coordinator state arrives here as an
//! [`Event`] and is handled in order, so no state is shared or locked.
//! Slow work (commits, file deletion) runs in tasks that report back as
//! events.

mod admin;
mod partition;
mod routing;
mod schema;
mod status;
mod table;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use floe_kfs::naming::parse_object_name;
use floe_metrics::{CommitMetrics, Stage};
use floe_proto::admin::{ClusterStatus, Commit};
use floe_proto::worker::coordinator_message::Body as ToWorker;
use floe_proto::worker::worker_message::Body as FromWorker;
use floe_proto::worker::{
    CoordinatorMessage, Feed as ProtoFeed, FileOpened, Flush, Grant, Revoke, Segments, Staged, StagedAck, Welcome,
};
use iceberg::Catalog;
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, warn};

use self::partition::{Failure, Lease, LeaseState, Partition};
use self::table::{Cycle, TableState};
use crate::assignment;
use crate::commit::{
    CommitError, Committed, DeadLettersCommitted, Position, Refusal, SessionId, StagedDeadLetters, StagedFile,
    StagedRange, admit_ranges, commit_staged, read_data_file,
};
use crate::discovery::{DiscoveryEvent, Rescan};
use crate::feed::{Feed, Tp};
use crate::gc::{OrphanScan, scan_orphans};
use crate::leader::LeaderState;
use crate::loader::TableLoader;
use crate::models::{Event, LoadedTable, Outbox};
use crate::pause::Pauses;
use crate::settings::Settings;
use crate::store::{FileIntent, Progress, StateStore};
use crate::summary::{PartitionIssue, RunSummary, TableSummary};
use crate::tail::{TailTable, TailTables};

/// How long after the first worker connects leases start being granted.
const ASSIGNMENT_SETTLE: Duration = Duration::from_millis(250);

struct WorkerSession {
    worker_id: String,
    outbox: Outbox,
    last_seen: Instant,
    /// Tables this worker has a definition of.
    defined: HashSet<String>,
}

/// What the control loop starts from besides its tables.
pub struct ControlOptions {
    /// `--once`: read what storage holds now, commit, stop.
    pub once: bool,
    /// This coordinator's name (host-pid-role), shown in status.
    pub coordinator_id: String,
    /// Operator pauses recorded in the state store.
    pub pauses: Pauses,
    /// Where the status is published for the admin API and metrics.
    pub status: watch::Sender<std::sync::Arc<ClusterStatus>>,
    /// Asks discovery to list partitions again (a table rolled back).
    pub rescans: mpsc::UnboundedSender<Vec<Rescan>>,
    /// Loads the tables of topics a mapping's pattern matches.
    pub loader: TableLoader,
    /// What `floe tail` knows of each followed topic.
    pub tail: TailTables,
}

/// How the loop ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Runs until drained.
    Never,
    /// `--once`: read what storage holds now, commit, stop.
    WhenCaughtUp,
}

pub struct Control {
    settings: Arc<Settings>,
    catalog: Arc<dyn Catalog>,
    store: Arc<dyn StateStore>,
    /// With etcd: whether this coordinator still leads. While unsure, no
    /// commit starts and no lease is granted.
    leadership: Option<watch::Receiver<LeaderState>>,
    /// Why commits and grants are paused, as last logged.
    paused: Option<String>,
    events: mpsc::Sender<Event>,
    ending: Ending,
    /// Set once the final flush and commit have started (drain or `--once`).
    finishing: bool,
    workers: BTreeMap<SessionId, WorkerSession>,
    /// Every topic-partition of every table it feeds.
    partitions: BTreeMap<Feed, Partition>,
    tables: BTreeMap<String, TableState>,
    /// The tables each followed topic feeds.
    topic_tables: HashMap<String, BTreeSet<String>>,
    committed_at_start: HashMap<Feed, Position>,
    dead_letters_at_start: HashMap<Feed, i64>,
    discovery_passes: u64,
    /// Locations the last complete discovery pass could not list, and why.
    list_failures: BTreeMap<String, String>,
    list_failures_this_pass: BTreeMap<String, String>,
    rebalance_needed: bool,
    next_flush_id: u64,
    last_progress_log: Instant,
    /// No lease is granted before this: workers starting together all get
    /// a share instead of the first one getting everything, then moving half.
    assign_after: Option<Instant>,
    next_orphan_scan: Instant,
    /// While an orphan scan runs: the files committed since it started. The
    /// scan read the tables before they were, and would call them orphans.
    orphan_scan: Option<HashSet<String>>,
    /// Orphans being deleted: a late report of one of them is refused.
    condemned: HashSet<String>,
    coordinator_id: String,
    pauses: Pauses,
    status: watch::Sender<Arc<ClusterStatus>>,
    rescans: mpsc::UnboundedSender<Vec<Rescan>>,
    next_status_at: Instant,
    watermarks_at_start: HashMap<Feed, i64>,
    loader: TableLoader,
    tail: TailTables,
    /// Tables being loaded for topics a pattern matched, with the topics
    /// waiting for them.
    loading: HashMap<String, routing::Loading>,
    /// Topics a pattern matched, waiting for their tables to load.
    awaiting: HashMap<String, routing::Awaiting>,
    /// Topics a pattern matched that are not followed, and why.
    unfollowed: BTreeMap<String, String>,
    /// The mapping (its position in the config) each table was loaded for.
    table_mappings: HashMap<String, usize>,
}

impl Control {
    pub fn new(
        settings: Arc<Settings>,
        catalog: Arc<dyn Catalog>,
        store: Arc<dyn StateStore>,
        leadership: Option<watch::Receiver<LeaderState>>,
        events: mpsc::Sender<Event>,
        tables: Vec<LoadedTable>,
        options: ControlOptions,
    ) -> Self {
        let mut control = Self {
            settings: settings.clone(),
            catalog,
            store,
            leadership,
            paused: None,
            events,
            ending: if options.once { Ending::WhenCaughtUp } else { Ending::Never },
            finishing: false,
            workers: BTreeMap::new(),
            partitions: BTreeMap::new(),
            tables: BTreeMap::new(),
            topic_tables: HashMap::new(),
            committed_at_start: HashMap::new(),
            dead_letters_at_start: HashMap::new(),
            discovery_passes: 0,
            list_failures: BTreeMap::new(),
            list_failures_this_pass: BTreeMap::new(),
            rebalance_needed: false,
            next_flush_id: 1,
            last_progress_log: Instant::now(),
            assign_after: None,
            next_orphan_scan: Instant::now(),
            orphan_scan: None,
            condemned: HashSet::new(),
            coordinator_id: options.coordinator_id,
            pauses: options.pauses,
            status: options.status,
            rescans: options.rescans,
            next_status_at: Instant::now(),
            watermarks_at_start: HashMap::new(),
            loader: options.loader,
            tail: options.tail,
            loading: HashMap::new(),
            awaiting: HashMap::new(),
            unfollowed: BTreeMap::new(),
            table_mappings: HashMap::new(),
        };
        for loaded in tables {
            control.add_table(loaded);
        }
        control
    }

    /// Takes a loaded table (and its dead-letter table) under control.
    fn add_table(&mut self, loaded: LoadedTable) {
        for (tp, position) in loaded.offsets.iter() {
            let feed = Feed::new(&loaded.name, tp.clone());
            if let Some(ms) = loaded.offsets.max_timestamp(tp) {
                self.watermarks_at_start.insert(feed.clone(), ms);
            }
            self.committed_at_start.insert(feed, *position);
        }
        self.topic_tables.entry(loaded.topic.clone()).or_default().insert(loaded.name.clone());
        let props = &self.settings.catalog.file_io_props;
        let mut state = TableState::new(loaded.name.clone(), loaded.table, props.clone());
        state.stopped = loaded.paused;
        state.columns = loaded.columns;
        state.format = loaded.format;
        state.sourced = loaded.sourced;
        state.held = loaded.held;
        state.lfs = loaded.lfs;
        state.validation = loaded.validation;
        if let Some(dead) = loaded.dead_letters {
            for (tp, position) in dead.offsets.iter() {
                self.dead_letters_at_start.insert(Feed::new(&loaded.name, tp.clone()), position.next);
            }
            state.dead_letters = Some(dead.name.clone());
            let mut dead_state = TableState::new(dead.name.clone(), dead.table, props.clone());
            dead_state.dead_letters_of = Some(loaded.name.clone());
            self.tables.insert(dead.name, dead_state);
        }
        state.redefine(props.clone());
        self.table_mappings.insert(loaded.name.clone(), loaded.mapping);
        self.tail_tables().insert(loaded.topic, loaded.tail);
        self.tables.insert(loaded.name, state);
    }

    /// The topics feeding a table, sorted and joined by commas (empty for a
    /// dead-letter table).
    fn topics_feeding(&self, table: &str) -> String {
        let feeding = self.topic_tables.iter().filter(|(_, tables)| tables.contains(table));
        let mut topics: Vec<&str> = feeding.map(|(topic, _)| topic.as_str()).collect();
        topics.sort_unstable();
        topics.join(",")
    }

    fn tail_tables(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, TailTable>> {
        self.tail.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs until drained (or, with `--once`, until caught up) and says what
    /// was committed.
    pub async fn run(mut self, mut events: mpsc::Receiver<Event>) -> RunSummary {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => self.handle(event).await,
                    None => break,
                },
                _ = tick.tick() => self.on_tick().await,
            }
            if let Some(LeaderState::Lost(reason)) = self.leadership.as_ref().map(|l| l.borrow().clone()) {
                // Another coordinator may lead: stop at once, commit nothing.
                error!("stopping: {reason}");
                return RunSummary { leadership_lost: Some(reason), ..self.summary() };
            }
            if self.rebalance_needed && self.pause_reason().is_none() {
                self.rebalance().await;
            }
            if self.is_finished() {
                break;
            }
        }
        self.summary()
    }

    /// Why commits and lease grants must wait, if they must: etcd does not
    /// answer, so this coordinator cannot be sure it still leads.
    fn pause_reason(&self) -> Option<String> {
        match &*self.leadership.as_ref()?.borrow() {
            LeaderState::Leading => None,
            LeaderState::Unsure { since, error } => {
                Some(format!("etcd unreachable for {}s: {error}", since.elapsed().as_secs()))
            }
            LeaderState::Lost(reason) => Some(reason.clone()),
        }
    }

    async fn handle(&mut self, event: Event) {
        match event {
            Event::Connected { session, worker_id, outbox } => self.on_connected(session, worker_id, outbox),
            Event::FromWorker { session, body } => self.on_worker_message(session, body).await,
            Event::Disconnected { session } => self.drop_session(session, "disconnected"),
            Event::Discovery(event) => self.on_discovery(event),
            Event::Committed { table, files, result } => self.on_committed(&table, files, result).await,
            Event::OrphansScanned(scan) => self.on_orphans_scanned(scan).await,
            Event::Admin { command, reply } => self.on_admin(command, reply).await,
            Event::RolledBack { table, result } => self.on_rolled_back(&table, result).await,
            Event::TableLoaded { mapping, result } => self.on_table_loaded(&mapping, result),
            Event::SchemaFetched { table, result } => self.on_schema_fetched(&table, result),
            Event::Drain => self.start_finishing("drain requested"),
        }
    }

    // ------------------------------------------------------------ workers

    fn on_connected(&mut self, session: SessionId, worker_id: String, outbox: Outbox) {
        info!(worker = %worker_id, %session, "worker connected");
        let welcome = ToWorker::Welcome(Welcome {
            session_id: session.to_string(),
            heartbeat_interval_ms: self.settings.heartbeat.as_millis() as u32,
            source: Some(self.settings.source.clone()),
            writer: Some(self.settings.writer.clone()),
            confluent_registry: self.settings.confluent_registry.clone(),
            lfs: self.settings.lfs.clone(),
        });
        self.assign_after.get_or_insert_with(|| Instant::now() + ASSIGNMENT_SETTLE);
        self.workers
            .insert(session, WorkerSession { worker_id, outbox, last_seen: Instant::now(), defined: HashSet::new() });
        self.send(session, welcome);
        self.rebalance_needed = true;
    }

    /// Queues a message for a worker; a worker whose queue is full or closed
    /// is dropped (its leases move).
    fn send(&mut self, session: SessionId, body: ToWorker) {
        let Some(worker) = self.workers.get(&session) else { return };
        let message = CoordinatorMessage { body: Some(body) };
        if let Err(e) = worker.outbox.try_send(Ok(message)) {
            let reason = match e {
                mpsc::error::TrySendError::Full(_) => "not reading its messages",
                mpsc::error::TrySendError::Closed(_) => "disconnected",
            };
            self.drop_session(session, reason);
        }
    }

    /// Forgets a worker: its leases become free, its unreported rows are
    /// lost (they will be read again), its accepted files stay staged.
    fn drop_session(&mut self, session: SessionId, reason: &str) {
        let Some(worker) = self.workers.remove(&session) else { return };
        let mut released = 0;
        for partition in self.partitions.values_mut() {
            if partition.lease.as_ref().is_some_and(|l| l.session == session) {
                partition.lease = None;
                released += 1;
            }
        }
        for table in self.tables.values_mut() {
            if let Cycle::Flushing { waiting, .. } = &mut table.cycle {
                waiting.remove(&session);
            }
        }
        warn!(worker = %worker.worker_id, %session, released, "worker dropped: {reason}");
        self.rebalance_needed = true;
    }

    async fn on_worker_message(&mut self, session: SessionId, body: FromWorker) {
        let Some(worker) = self.workers.get_mut(&session) else { return };
        worker.last_seen = Instant::now();
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
                let mut done = Vec::new();
                for table in self.tables.values_mut() {
                    if let Cycle::Flushing { flush_id, waiting, .. } = &mut table.cycle
                        && *flush_id == flushed.flush_id
                    {
                        waiting.remove(&session);
                        if waiting.is_empty() {
                            done.push(table.name.clone());
                        }
                    }
                }
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
                    table.staged.push(file);
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
        if staged_paths(staged).iter().any(|p| self.condemned.contains(p)) {
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

    // ------------------------------------------------------------ discovery

    fn on_discovery(&mut self, event: DiscoveryEvent) {
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
                        table.staged.push(StagedFile::marker(range));
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
                    let had_start = partition.staged.is_some();
                    partition.settle_start();
                    partition.prune_committed_segments();
                    if !had_start {
                        self.rebalance_needed = true;
                    }
                    self.send_segments(&feed);
                }
            }
            DiscoveryEvent::Damaged { tp, object, message } => {
                warn!(partition = %tp, %object, "damaged segment: {message}");
                let Some((base, _)) = parse_object_name(&object) else { return };
                for feed in self.feeds_of(&tp) {
                    let Some(partition) = self.partitions.get_mut(&feed) else { continue };
                    partition.damaged.insert(base, (object.clone(), message.clone()));
                    let had_start = partition.staged.is_some();
                    partition.settle_start();
                    if !had_start {
                        self.rebalance_needed = true;
                    }
                    self.send_segments(&feed);
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

    /// The partitions, one per table, that read this topic-partition.
    fn feeds_of(&self, tp: &Tp) -> Vec<Feed> {
        let tables = self.topic_tables.get(&tp.topic).into_iter().flatten();
        tables.map(|table| Feed::new(table, tp.clone())).filter(|feed| self.partitions.contains_key(feed)).collect()
    }

    /// Sends the holder of a partition the segments it can read next.
    fn send_segments(&mut self, feed: &Feed) {
        let Some(partition) = self.partitions.get_mut(feed) else { return };
        let segments = partition.next_segments();
        let Some(lease) = &partition.lease else { return };
        if segments.is_empty() {
            return;
        }
        let (session, epoch) = (lease.session, lease.epoch);
        self.send(session, ToWorker::Segments(Segments { feed: Some(feed.to_proto()), epoch, segments }));
    }

    // ------------------------------------------------------------ leases

    /// Grants free partitions and takes back excess ones so every worker
    /// holds its share.
    async fn rebalance(&mut self) {
        if self.assign_after.is_none_or(|at| Instant::now() < at) {
            return; // the next tick tries again
        }
        self.rebalance_needed = false;
        self.apply_pending_skips();
        if self.finishing && self.ending == Ending::Never {
            return; // draining: no new work
        }
        let workers: Vec<SessionId> = self.workers.keys().copied().collect();
        let holders: BTreeMap<Feed, Option<SessionId>> = self
            .partitions
            .iter()
            .filter(|(_, p)| p.staged.is_some())
            // A table whose commits stopped gets no more readers, nor one
            // whose schema source has no usable schema.
            .filter(|(f, _)| self.tables.get(&f.table).is_none_or(|t| t.stopped.is_none() && t.held.is_none()))
            // Neither is a partition an operator paused or is skipping, nor
            // one whose table strict validation paused.
            .filter(|(f, p)| p.pending_skip.is_none() && self.pauses.of(&f.tp, &f.table).is_none())
            .filter(|(f, _)| self.invalid_record_of(&f.table).is_none())
            .filter(|(f, _)| self.tables.get(&f.table).is_none_or(|t| t.rewind.is_none()))
            .map(|(feed, p)| (feed.clone(), p.lease.as_ref().map(|l| l.session)))
            .collect();
        let plan = assignment::plan(&workers, &holders);
        for (feed, session) in plan.revokes {
            let Some(lease) = self.partitions.get_mut(&feed).and_then(|p| p.lease.as_mut()) else { continue };
            if lease.state == LeaseState::Revoking {
                continue;
            }
            lease.state = LeaseState::Revoking;
            let epoch = lease.epoch;
            info!(partition = %feed, %session, "moving partition to balance workers");
            self.send(session, ToWorker::Revoke(Revoke { feed: Some(feed.to_proto()), epoch }));
        }
        if plan.grants.is_empty() {
            return;
        }
        // Epochs are counted per topic-partition: the tables it feeds may
        // share one, as each lease is checked against its own.
        let tps: Vec<Tp> =
            plan.grants.iter().map(|(feed, _)| feed.tp.clone()).collect::<BTreeSet<_>>().into_iter().collect();
        let epochs = match self.store.next_epochs(&tps).await {
            Ok(epochs) => tps.into_iter().zip(epochs).collect::<HashMap<Tp, u64>>(),
            Err(e) => {
                floe_metrics::count_error(Stage::Store);
                error!("cannot grant leases: {e}");
                self.rebalance_needed = true;
                return;
            }
        };
        for (feed, session) in plan.grants {
            let Some(&epoch) = epochs.get(&feed.tp) else { continue };
            self.grant(feed, session, epoch);
        }
    }

    fn grant(&mut self, feed: Feed, session: SessionId, epoch: u64) {
        let Some(partition) = self.partitions.get_mut(&feed) else { return };
        let Some(staged) = partition.staged else { return };
        if !self.workers.contains_key(&session) {
            self.rebalance_needed = true;
            return;
        }
        let table = &feed.table;
        partition.lease = Some(Lease {
            session,
            epoch,
            state: LeaseState::Active,
            sent_to: staged.resume_from(),
            read_to: staged.next,
            waiting: None,
        });
        let dead_letters_from = partition.dead_letters_committed;
        // A table's dead-letter table is defined first: the table names it.
        let defines: Vec<_> = self
            .tables
            .get(table)
            .into_iter()
            .flat_map(|state| state.dead_letters.iter().chain([table]))
            .filter_map(|name| self.tables.get(name))
            .map(|state| state.define.clone())
            .collect();
        for define in defines {
            if let Some(worker) = self.workers.get_mut(&session)
                && worker.defined.insert(define.table.clone())
            {
                self.send(session, ToWorker::DefineTable(define));
            }
        }
        let grant = Grant {
            feed: Some(feed.to_proto()),
            epoch,
            resume_from: staged.resume_from(),
            consumed_to: staged.next,
            dead_letters_from,
        };
        self.send(session, ToWorker::Grant(grant));
        self.send_segments(&feed);
    }

    // ------------------------------------------------------------ commits

    async fn on_tick(&mut self) {
        let now = Instant::now();
        let ttl = self.settings.lease_ttl;
        let silent: Vec<SessionId> =
            self.workers.iter().filter(|(_, w)| now.duration_since(w.last_seen) > ttl).map(|(s, _)| *s).collect();
        for session in silent {
            self.drop_session(session, "no heartbeat within the lease TTL");
        }

        if self.ending == Ending::WhenCaughtUp && !self.finishing && self.caught_up() {
            self.start_finishing("every partition read");
        }

        let pause = self.pause_reason();
        if pause.is_some() != self.paused.is_some() {
            match &pause {
                Some(reason) => warn!("commits and lease grants paused: {reason}"),
                None => info!("commits and lease grants resumed"),
            }
        }
        self.paused = pause;
        // Published while paused too: that is when operators look.
        if now >= self.next_status_at {
            self.next_status_at = now + Duration::from_secs(1);
            self.status.send_replace(Arc::new(self.status()));
        }

        if self.paused.is_some() {
            return;
        }

        let names: Vec<String> = self.tables.keys().cloned().collect();
        for name in names {
            let Some(table) = self.tables.get(&name) else { continue };
            match &table.cycle {
                Cycle::Flushing { deadline, .. } if now >= *deadline => {
                    warn!(table = %name, "flush timed out; committing what is staged");
                    self.after_flush(&name);
                }
                Cycle::Idle if table.rewind.is_some() => self.start_rollback(&name),
                Cycle::Idle if table.sourced.as_ref().is_some_and(|s| s.pending.is_some()) => {
                    self.apply_schema(&name).await
                }
                Cycle::Idle if table.stopped.is_some() => {}
                Cycle::Idle if table.staged_bytes() >= self.settings.max_staged_bytes => self.commit_now(&name),
                Cycle::Idle if now >= table.next_cycle_at => self.start_cycle(&name),
                _ => {}
            }
        }

        if now >= self.next_orphan_scan && self.orphan_scan.is_none() {
            self.start_orphan_scan();
        }

        if now.duration_since(self.last_progress_log) >= Duration::from_secs(5) {
            self.last_progress_log = now;
            self.log_progress();
        }
    }

    /// Starts a commit cycle: workers writing the table close their files.
    fn start_cycle(&mut self, name: &str) {
        let holders: HashSet<SessionId> = self
            .partitions
            .iter()
            .filter(|(feed, _)| feed.table == name)
            .filter_map(|(_, p)| p.lease.as_ref().map(|l| l.session))
            .collect();
        let interval = self.settings.commit_interval;
        let Some(table) = self.tables.get_mut(name) else { return };
        if holders.is_empty() {
            if table.staged.is_empty() {
                table.next_cycle_at = Instant::now() + interval;
            } else {
                self.commit_now(name);
            }
            return;
        }
        let flush_id = self.next_flush_id;
        self.next_flush_id += 1;
        table.cycle = Cycle::Flushing {
            flush_id,
            waiting: holders.clone(),
            deadline: Instant::now() + interval.max(Duration::from_secs(30)),
        };
        table.next_cycle_at = Instant::now() + interval;
        for session in holders {
            self.send(session, ToWorker::Flush(Flush { flush_id, tables: vec![name.to_string()] }));
        }
    }

    fn after_flush(&mut self, name: &str) {
        let Some(table) = self.tables.get_mut(name) else { return };
        if table.staged.is_empty() {
            table.cycle = Cycle::Idle;
        } else {
            self.commit_now(name);
        }
    }

    fn commit_now(&mut self, name: &str) {
        let dead_letters = self.tables.get(name).and_then(|t| t.dead_letters.as_ref());
        let dead_letters = dead_letters.and_then(|d| self.tables.get(d)).map(|d| d.ident.clone());
        let Some(table) = self.tables.get_mut(name) else { return };
        let files = table.staged.clone();
        table.cycle = Cycle::Committing;
        table.commit_started = Some(Instant::now());
        let (catalog, events, ident) = (self.catalog.clone(), self.events.clone(), table.ident.clone());
        let name = name.to_string();
        tokio::spawn(async move {
            let result = commit_staged(catalog.as_ref(), &ident, dead_letters.as_ref(), &files).await.map(Box::new);
            let _ = events.send(Event::Committed { table: name, files: files.len(), result }).await;
        });
    }

    async fn on_committed(&mut self, name: &str, files: usize, result: Result<Box<Committed>, CommitError>) {
        let interval = self.settings.commit_interval;
        let topic = self.topics_feeding(name);
        let once = self.ending == Ending::WhenCaughtUp;
        let Some(table) = self.tables.get_mut(name) else { return };
        table.cycle = Cycle::Idle;
        let committed = match result {
            Ok(committed) => committed,
            Err(e) => {
                floe_metrics::count_error(Stage::Commit);
                table.failures = table.failures.saturating_add(1);
                table.last_error = Some(e.to_string());
                if e.is_retryable() && !(once && table.failures >= 5) {
                    table.next_cycle_at = Instant::now() + table.backoff();
                    warn!(table = %name, attempt = table.failures, "commit failed, will retry: {e}");
                } else {
                    // Retrying cannot fix this: the table stops until an
                    // operator looks; the other tables go on.
                    error!(table = %name, "commits stopped: {e}");
                    table.stopped = Some(e.to_string());
                }
                return;
            }
        };
        let bytes: u64 = table.staged[..files].iter().map(|f| f.file_size_bytes).sum();
        let paths: Vec<String> =
            table.staged.drain(..files).flat_map(|f| f.paths().map(str::to_string).collect::<Vec<_>>()).collect();
        let duration = table.commit_started.take().map_or(Duration::ZERO, |at| at.elapsed());
        table.failures = 0;
        table.last_error = None;
        table.table = committed.table.clone();
        table.next_cycle_at = table.next_cycle_at.max(Instant::now() + interval / 2);
        if let Some(snapshot_id) = committed.snapshot_id {
            table.totals.commits += 1;
            table.totals.files += committed.appended_files as u64;
            table.totals.records += committed.appended_records;
            table.totals.last_snapshot_id = Some(snapshot_id);
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
        if let Some(committed_meanwhile) = self.orphan_scan.as_mut() {
            committed_meanwhile.extend(paths.iter().cloned());
        }
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
            state.totals.commits += 1;
            state.totals.files += dead.appended_files as u64;
            state.totals.records += dead.appended_records;
            state.totals.last_snapshot_id = Some(snapshot_id);
        }
        let Some(rows_table) = state.dead_letters_of.clone() else { return };
        for (tp, position) in dead.offsets.iter() {
            if let Some(partition) = self.partitions.get_mut(&Feed::new(&rows_table, tp.clone())) {
                partition.dead_letters_committed = partition.dead_letters_committed.max(position.next);
            }
        }
    }

    // ------------------------------------------------------------ orphans

    fn start_orphan_scan(&mut self) {
        let grace = self.settings.orphan_grace;
        self.orphan_scan = Some(HashSet::new());
        self.next_orphan_scan = Instant::now() + (grace / 4).clamp(Duration::from_secs(10), Duration::from_secs(600));
        let before_ms = now_ms() - grace.as_millis() as i64;
        let tables: BTreeMap<String, iceberg::TableIdent> =
            self.tables.iter().map(|(name, t)| (name.clone(), t.ident.clone())).collect();
        let (catalog, store, events) = (self.catalog.clone(), self.store.clone(), self.events.clone());
        tokio::spawn(async move {
            let scan = scan_orphans(catalog.as_ref(), store.as_ref(), &tables, before_ms).await;
            let _ = events.send(Event::OrphansScanned(scan)).await;
        });
    }

    /// Deletes the orphans that are not staged right now.
    async fn on_orphans_scanned(&mut self, scan: BTreeMap<String, OrphanScan>) {
        let committed_meanwhile = self.orphan_scan.take().unwrap_or_default();
        for (name, found) in scan {
            let Some(table) = self.tables.get(&name) else { continue };
            if let Err(e) = self.store.forget_files(&found.committed).await {
                warn!(table = %name, "could not forget committed files: {e}");
            }
            // A dead-letter table's files are staged with its table's.
            let staged: HashSet<&str> =
                self.tables.values().flat_map(|t| &t.staged).flat_map(StagedFile::paths).collect();
            let doomed: Vec<String> = found
                .orphans
                .into_iter()
                .filter(|p| !staged.contains(p.as_str()) && !committed_meanwhile.contains(p))
                .collect();
            if doomed.is_empty() {
                continue;
            }
            info!(table = %name, files = doomed.len(), "deleting orphan data files");
            self.condemned.extend(doomed.iter().cloned());
            // Orphans are rare (a crash's worth of files): deleting them here
            // keeps the bookkeeping in one place and lets `--once` finish clean.
            let file_io = table.table.file_io().clone();
            let mut deleted = Vec::with_capacity(doomed.len());
            for path in doomed {
                match file_io.delete(&path).await {
                    Ok(()) => deleted.push(path),
                    Err(e) => warn!(%path, "could not delete orphan data file: {e}"),
                }
            }
            if let Err(e) = self.store.forget_files(&deleted).await {
                warn!(table = %name, "could not forget deleted orphans: {e}");
            }
        }
    }

    // ------------------------------------------------------------ ending

    fn start_finishing(&mut self, why: &str) {
        if self.finishing {
            return;
        }
        info!("final flush and commit: {why}");
        for (feed, p) in &self.partitions {
            let read_to = p.lease.as_ref().map(|l| l.read_to);
            debug!(partition = %feed, staged = ?p.staged, readable_end = ?p.readable_end(), storage_end = ?p.storage_end,
                ?read_to, segments = p.segments.len(), "where the partition stands at the final flush");
        }
        self.finishing = true;
        let names: Vec<String> = self.tables.keys().cloned().collect();
        for name in names {
            if self.tables.get(&name).is_some_and(TableState::is_idle) {
                self.start_cycle(&name);
            }
        }
    }

    /// The partition of `table` whose record strict validation refused,
    /// which pauses the whole table, and its failure.
    fn invalid_record_of(&self, table: &str) -> Option<(&Tp, &Failure)> {
        self.partitions
            .iter()
            .filter(|(feed, _)| feed.table == table)
            .find_map(|(feed, p)| p.failure.as_ref().filter(|f| f.pauses_table).map(|f| (&feed.tp, f)))
    }

    /// Why the partitions of `table` are not read, when strict validation
    /// paused it.
    fn table_paused_message(&self, table: &str) -> Option<String> {
        let (tp, failure) = self.invalid_record_of(table)?;
        Some(format!(
            "table {table} is paused: partition {tp} stopped at offset {}: {}",
            failure.offset, failure.message
        ))
    }

    /// `--once`: every partition read to the end of what storage held, or
    /// stopped.
    fn caught_up(&self) -> bool {
        self.discovery_passes > 0
            && self.partitions.iter().all(|(Feed { table, tp }, p)| {
                let Some(end) = p.readable_end() else { return true };
                p.failure.is_some()
                    || (p.lease.is_none() && self.pauses.of(tp, table).is_some())
                    || (p.lease.is_none() && self.stuck_on_schema(table).is_some())
                    || (p.lease.is_none() && self.invalid_record_of(table).is_some())
                    || p.staged.is_some_and(|s| s.next >= end)
                    || p.lease.as_ref().is_some_and(|l| l.read_to >= end)
            })
    }

    fn is_finished(&self) -> bool {
        self.finishing
            && self.orphan_scan.is_none()
            && self.tables.values().all(|t| t.is_idle() && (t.staged.is_empty() || t.stopped.is_some()))
            && self.partitions.iter().all(|(Feed { table, .. }, p)| {
                p.failure.is_some()
                    || self.tables.get(table).is_some_and(|t| t.stopped.is_some())
                    || self.stuck_on_schema(table).is_some()
                    || (p.staged.is_none_or(|s| p.committed.is_some_and(|c| c.next >= s.next))
                        // `--once`: read to the end is not committed to the
                        // end, as a flush under way when the holder read the
                        // rest did not stage it. (A drain leaves such rows to
                        // be read again: its holders go on reading.)
                        && (self.ending == Ending::Never || !p.holds_unstaged_reads()))
            })
            && (self.ending == Ending::Never || self.caught_up())
    }

    fn log_progress(&self) {
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

    fn summary(&self) -> RunSummary {
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

/// Every data file a report names, its dead letters' included.
fn staged_paths(staged: &Staged) -> Vec<String> {
    let dead_letters = staged.dead_letters.iter().flat_map(|d| &d.files);
    staged.files.iter().chain(dead_letters).map(|f| f.path.clone()).collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
