//! The control loop: the one owner of leases, staged files and commit
//! cycles. Everything that changes coordinator state arrives here as an
//! [`Event`] and is handled in order, so no state is shared or locked.
//! Slow work (commits, file deletion) runs in tasks that report back as
//! events.
//!
//! Each job keeps the state it alone changes in a type of its own, in its
//! own file, with the loop's handlers for its events beside it:
//!
//! - [`workers`]: the connected workers, their queues and heartbeats;
//! - [`reports`]: what workers report (heartbeats, file paths, staged
//!   files, failures); staged files are admitted by
//!   [`crate::commit::admission`];
//! - [`segments`]: what discovery finds, per partition ([`partition`]);
//! - [`leases`]: granting, balancing and taking back partition leases;
//! - [`commits`]: each table's commit cycle ([`cycle`], in [`table`]);
//! - [`orphans`], [`orphan_scans`]: deleting files that were never
//!   committed (the rules, and the loop's part);
//! - [`admin`], [`routing`], [`schema`]: operators' commands, topics a
//!   pattern matches, schema sources;
//! - [`ending`]: when the loop may end; [`status`] and [`summary`] what it
//!   shows while running and when done.

mod admin;
mod commits;
mod cycle;
mod ending;
mod leases;
mod orphan_scans;
mod orphans;
mod partition;
mod reports;
mod routing;
mod schema;
mod segments;
mod status;
mod summary;
mod table;
mod workers;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use floe_proto::admin::ClusterStatus;
use floe_proto::worker::Welcome;
use floe_proto::worker::coordinator_message::Body as ToWorker;
use iceberg::Catalog;
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, warn};

use self::ending::{Ending, committed_to_end, read_to_end};
use self::orphans::Orphans;
use self::partition::{Failure, Partition};
use self::table::TableState;
use self::workers::Workers;
use crate::commit::{Position, SessionId};
use crate::discovery::Rescan;
use crate::feed::{Feed, Tp};
use crate::leader::LeaderState;
use crate::loader::TableLoader;
use crate::models::{Event, LoadedTable, Outbox};
use crate::pause::Pauses;
use crate::settings::Settings;
use crate::store::StateStore;
use crate::summary::RunSummary;
use crate::tail::{TailTable, TailTables};

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
    workers: Workers,
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
    orphans: Orphans,
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
            workers: Workers::default(),
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
            orphans: Orphans::default(),
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
        self.workers.connect(session, worker_id, outbox, Instant::now());
        self.send(session, welcome);
        self.rebalance_needed = true;
    }

    /// Queues a message for a worker; a worker whose queue is full or closed
    /// is dropped (its leases move).
    fn send(&mut self, session: SessionId, body: ToWorker) {
        if let Err(reason) = self.workers.send(session, body) {
            self.drop_session(session, reason);
        }
    }

    /// Forgets a worker: its leases become free, its unreported rows are
    /// lost (they will be read again), its accepted files stay staged.
    fn drop_session(&mut self, session: SessionId, reason: &str) {
        let Some(worker) = self.workers.remove(session) else { return };
        let mut released = 0;
        for partition in self.partitions.values_mut() {
            if partition.lease.as_ref().is_some_and(|l| l.session == session) {
                partition.lease = None;
                released += 1;
            }
        }
        for table in self.tables.values_mut() {
            table.cycle.forget(session);
        }
        warn!(worker = %worker.worker_id, %session, released, "worker dropped: {reason}");
        self.rebalance_needed = true;
    }

    async fn on_tick(&mut self) {
        let now = Instant::now();
        for session in self.workers.silent(now, self.settings.lease_ttl) {
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
            let cycle = &table.cycle;
            if cycle.flush_overdue(now) {
                warn!(table = %name, "flush timed out; committing what is staged");
                self.after_flush(&name);
                continue;
            }
            if !cycle.is_idle() {
                continue;
            }
            let stopped = table.stopped.is_some();
            if table.rewind.is_some() {
                self.start_rollback(&name);
            } else if table.sourced.as_ref().is_some_and(|s| s.pending.is_some()) {
                self.apply_schema(&name).await;
            } else if !stopped && cycle.staged_bytes() >= self.settings.max_staged_bytes {
                self.commit_now(&name);
            } else if !stopped && cycle.is_due(now) {
                self.start_cycle(&name);
            }
        }

        if self.orphans.is_due(now) {
            self.start_orphan_scan();
        }

        if now.duration_since(self.last_progress_log) >= Duration::from_secs(5) {
            self.last_progress_log = now;
            self.log_progress();
        }
    }

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
            if self.tables.get(&name).is_some_and(|t| t.cycle.is_idle()) {
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
                read_to_end(p, || {
                    self.pauses.of(tp, table).is_some()
                        || self.stuck_on_schema(table).is_some()
                        || self.invalid_record_of(table).is_some()
                })
            })
    }

    fn is_finished(&self) -> bool {
        self.finishing
            && !self.orphans.is_scanning()
            && self.tables.values().all(|t| t.cycle.is_idle() && (t.cycle.staged().is_empty() || t.stopped.is_some()))
            && self.partitions.iter().all(|(Feed { table, .. }, p)| {
                let stopped = self.tables.get(table).is_some_and(|t| t.stopped.is_some())
                    || self.stuck_on_schema(table).is_some();
                committed_to_end(p, self.ending, stopped)
            })
            && (self.ending == Ending::Never || self.caught_up())
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
