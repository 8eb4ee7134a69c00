//! floe's coordinator.
//!
//! - [`discovery`] finds complete segments, incrementally;
//! - [`assignment`] spreads partition leases over workers;
//! - the control loop ([`control`]) owns leases, accepts staged files and
//!   runs one serialized commit cycle per table;
//! - [`models`] holds what the loop and the code around it say to each
//!   other (its events, operators' commands, loaded tables);
//! - [`commit`] is the exactly-once protocol: report admission, the
//!   classify rule, the catalog guard, the offsets recorded in snapshot
//!   summaries, and one file per commit kind (append, rollback);
//! - [`gc`] deletes staged files that never got committed;
//! - [`service`] is the gRPC endpoint workers connect to, [`admin`] the
//!   operators' one (status, [`pause`], skips);
//! - [`loader`] loads (or creates) mapped tables, at start and as a
//!   mapping's topic pattern matches new topics;
//! - [`schema_source`] fetches tables' columns from a schema registry (a
//!   JSON Schema one, or a Confluent one for wire-format mappings), at
//!   start and every `cache_seconds`;
//! - [`store`] keeps lease epochs and file intents; with etcd, [`leader`]
//!   elects the one active coordinator and [`metadata`] reads KafScale's
//!   topic list.

pub mod admin;
pub mod assignment;
pub mod catalog;
pub mod commit;
pub mod control;
pub mod discovery;
pub mod etcd;
pub mod feed;
pub mod gc;
pub mod leader;
pub mod loader;
pub mod metadata;
pub mod models;
pub mod pause;
pub mod schema_source;
pub mod service;
pub mod settings;
mod startup;
pub mod store;
pub mod summary;
pub mod tail;
pub mod tls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use floe_proto::admin::admin_server::AdminServer;
use floe_proto::worker::coordination_server::CoordinationServer;
use floe_registry::RegistryClient;
use floe_registry::confluent::ConfluentRegistry;
use floe_storage::open_segment_store;
use iceberg::Catalog;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

use crate::admin::{AdminService, TokenCheck};
use crate::catalog::connect_catalog;
use crate::control::{Control, ControlOptions};
use crate::discovery::{Discovery, PartitionLister, TopicChoice};
use crate::feed::{Feed, lowest_over_tables};
use crate::leader::{LeaderState, Resignation, campaign};
use crate::loader::TableLoader;
use crate::metadata::KafscaleMetadata;
use crate::models::Event;
use crate::pause::Pauses;
use crate::settings::{PartitionSource, StoreSettings};
pub use crate::settings::{Settings, SettingsError};
use crate::store::{EtcdStore, MemoryStore, SqlStore, StateStore};
pub use crate::summary::RunSummary;
use crate::tail::{TailService, TailTables};

/// What `/readyz` checks on a leading coordinator.
#[derive(Clone)]
struct Readiness {
    catalog: Arc<dyn Catalog>,
    store: Arc<dyn StateStore>,
    segments: Arc<dyn floe_storage::SegmentStore>,
}

impl Readiness {
    async fn check(&self) -> Result<String, String> {
        let timeout = std::time::Duration::from_secs(5);
        let within = |what: &'static str| move |_| format!("{what}: no answer within {timeout:?}");
        tokio::time::timeout(timeout, self.catalog.list_namespaces(None))
            .await
            .map_err(within("catalog"))?
            .map_err(|e| format!("catalog: {e}"))?;
        tokio::time::timeout(timeout, self.store.pauses())
            .await
            .map_err(within("state store"))?
            .map_err(|e| e.to_string())?;
        tokio::time::timeout(timeout, self.segments.probe())
            .await
            .map_err(within("segment storage"))?
            .map_err(|e| format!("segment storage: {e}"))?;
        Ok("leading: catalog, state store and segment storage answer".into())
    }
}

/// Why the coordinator could not start: one clear line naming what failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("state store: {0}")]
    Store(#[from] store::StoreError),
    #[error("{0}")]
    Etcd(#[from] etcd::EtcdError),
    #[error("Iceberg catalog `{name}`: {source}")]
    Catalog { name: String, source: Box<iceberg::Error> },
    #[error(transparent)]
    Table(#[from] loader::LoadError),
    #[error("schema.confluent_registry: {0}")]
    ConfluentRegistry(floe_registry::RegistryError),
    #[error("segment source: {0}")]
    Source(#[from] floe_storage::StorageError),
    #[error("worker endpoint {address}: {source}")]
    Listen { address: SocketAddr, source: std::io::Error },
    #[error("worker endpoint TLS: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("admin endpoint {address} (admin.listen, or FLOE_ADMIN_LISTEN): {source}")]
    AdminListen { address: SocketAddr, source: std::io::Error },
    #[error("admin endpoint TLS: {0}")]
    AdminTls(tls::TlsError),
    #[error("schema registry (schema.registry.base_url): {0}")]
    Registry(#[from] floe_registry::RegistryError),
}

/// Serves `router` on `listener`, with TLS when `tls` is set, until `stop`.
fn serve(
    what: &'static str,
    router: tonic::transport::server::Router,
    listener: TcpListener,
    tls: Option<Arc<tls::TlsReloader>>,
    stop: CancellationToken,
) {
    async fn run<IO, E>(
        what: &'static str,
        router: tonic::transport::server::Router,
        incoming: impl tokio_stream::Stream<Item = Result<IO, E>>,
        stop: CancellationToken,
    ) where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + tonic::transport::server::Connected + Unpin + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if let Err(e) = router.serve_with_incoming_shutdown(incoming, stop.cancelled()).await {
            tracing::error!("{what} stopped: {e}");
        }
    }
    match tls {
        Some(reloader) => tokio::spawn(run(what, router, tls::incoming(listener, reloader), stop)),
        None => tokio::spawn(run(what, router, TcpListenerStream::new(listener), stop)),
    };
}

/// The coordinator's state store, and, with etcd, its leadership.
pub struct State {
    /// This coordinator's name (host-pid-role).
    id: String,
    store: Arc<dyn StateStore>,
    leadership: Option<watch::Receiver<LeaderState>>,
    resign: Option<Resignation>,
    etcd: Option<etcd_client::Client>,
}

impl State {
    /// Opens the state store. With etcd, this coordinator campaigns to lead
    /// and waits, standing by, until it does; `None` when `cancel` fires
    /// first.
    pub async fn open(settings: &Settings, id: &str, cancel: &CancellationToken) -> Result<Option<Self>, StartError> {
        let store: Arc<dyn StateStore> = match &settings.store {
            StoreSettings::Sql { uri } => Arc::new(SqlStore::connect(uri).await?),
            StoreSettings::Memory => Arc::new(MemoryStore::default()),
            StoreSettings::Etcd(etcd) => {
                let client = etcd.connect().await?;
                tracing::info!(coordinator = id, "campaigning to lead (standing by while another coordinator leads)");
                let Some(leadership) = campaign(&client, &etcd.layout, settings.lease_ttl, id, cancel).await? else {
                    return Ok(None);
                };
                tracing::info!(coordinator = id, "leading");
                let name = format!("etcd {}", etcd.endpoints.join(","));
                let store = EtcdStore::new(client.clone(), etcd.layout.clone(), leadership.fence, name);
                return Ok(Some(Self {
                    id: id.to_string(),
                    store: Arc::new(store),
                    leadership: Some(leadership.state),
                    resign: Some(leadership.resign),
                    etcd: Some(client),
                }));
            }
        };
        let etcd = match &settings.etcd {
            Some(etcd) if settings.partitions != PartitionSource::Listing => Some(etcd.connect().await?),
            _ => None,
        };
        Ok(Some(Self { id: id.to_string(), store, leadership: None, resign: None, etcd }))
    }
}

/// Asks a coordinator to stop cleanly: open files are closed and committed
/// first, then the control loop ends.
#[derive(Clone)]
pub struct Drainer {
    events: mpsc::Sender<Event>,
}

impl Drainer {
    pub async fn drain(&self) {
        let _ = self.events.send(Event::Drain).await;
    }
}

/// A running coordinator.
pub struct Coordinator {
    address: SocketAddr,
    admin_address: SocketAddr,
    status: watch::Receiver<Arc<floe_proto::admin::ClusterStatus>>,
    readiness: Readiness,
    events: mpsc::Sender<Event>,
    control: JoinHandle<RunSummary>,
    resign: Option<Resignation>,
}

impl Coordinator {
    /// Connects to the catalog, loads (or creates) every mapped table with
    /// its committed offsets, then starts discovery, the control loop and
    /// the worker endpoint on `listener`.
    ///
    /// With `once`, it reads what storage holds now, commits it and stops.
    pub async fn start(
        settings: Settings,
        state: State,
        listener: TcpListener,
        once: bool,
    ) -> Result<Self, StartError> {
        let address =
            listener.local_addr().map_err(|source| StartError::Listen { address: settings.listen, source })?;
        // The source first: its endpoint is usually the warehouse's too, and
        // a listing says plainly what is wrong where a table write would not.
        let segments = open_segment_store(&settings.source).await;
        startup::probe_segments(segments.as_ref(), once).await?;
        let catalog = connect_catalog(&settings.catalog)
            .await
            .map_err(|source| StartError::Catalog { name: settings.catalog.name.clone(), source: Box::new(source) })?;

        let registry = match &settings.registry {
            Some(registry) => {
                Some(Arc::new(RegistryClient::new(&registry.base_url, registry.timeout, registry.cache)?))
            }
            None => None,
        };
        let confluent_registry = settings
            .confluent_registry
            .as_ref()
            .map(ConfluentRegistry::from_spec)
            .transpose()
            .map_err(StartError::ConfluentRegistry)?
            .map(Arc::new);
        let (events, inbox) = mpsc::channel(8192);
        let stop = CancellationToken::new();
        let loader = TableLoader {
            catalog: catalog.clone(),
            registry,
            confluent_registry: confluent_registry.clone(),
            events: events.clone(),
            refresh_period: settings.registry.as_ref().map_or(Duration::ZERO, |r| r.cache),
            stop: stop.clone(),
        };
        let mut tables = Vec::new();
        let mut committed = Vec::new();
        for mapping in &settings.mappings {
            let loaded = loader.load(mapping).await?;
            for (tp, position) in loaded.offsets.iter() {
                committed.push((Feed::new(&loaded.name, tp.clone()), position.resume_from()));
            }
            let resume: Vec<String> =
                loaded.offsets.iter().map(|(tp, p)| format!("{tp}@{}", p.resume_from())).collect();
            tracing::info!(table = %mapping.table, "resuming from the table's offsets: {}", resume.join(" "));
            tables.push(loaded);
        }

        let topics = TopicChoice {
            // Mappings of one topic start alike (settings checked it).
            named: settings
                .mappings
                .iter()
                .map(|m| (m.topic.clone(), m.start))
                .collect::<HashMap<_, _>>()
                .into_iter()
                .collect(),
            patterns: settings.routes.iter().map(|r| r.selector.clone()).collect(),
        };
        let partitions = match (&settings.partitions, &state.etcd) {
            (PartitionSource::Metadata { strict }, Some(client)) => {
                PartitionLister::Metadata { metadata: Box::new(KafscaleMetadata::new(client.clone())), strict: *strict }
            }
            _ => PartitionLister::Listing,
        };
        // A topic feeding several tables is listed once, from the lowest
        // point any of them resumes at.
        let tables_of = |topic: &str| settings.tables_of(topic);
        let start_offsets = lowest_over_tables(committed, tables_of);
        let resume_after = lowest_over_tables(state.store.discovery_cursors().await?, tables_of);
        let readiness = Readiness { catalog: catalog.clone(), store: state.store.clone(), segments: segments.clone() };
        let tail_tables = TailTables::default();
        let tail = TailService::new(segments.clone(), tail_tables.clone(), confluent_registry);
        let max_skip = (settings.idle_poll_interval.as_millis() / settings.poll_interval.as_millis().max(1))
            .saturating_sub(1)
            .min(u32::MAX as u128) as u32;
        let discovery = Discovery::new(
            segments,
            partitions,
            settings.source.prefix.clone(),
            topics,
            start_offsets,
            resume_after,
            max_skip,
        );

        let settings = Arc::new(settings);

        let (found_tx, mut found) = mpsc::channel(1024);
        let (rescans, rescan_rx) = mpsc::unbounded_channel();
        tokio::spawn(discovery.run(found_tx, rescan_rx, settings.poll_interval, once, stop.clone()));
        let forward = events.clone();
        tokio::spawn(async move {
            while let Some(event) = found.recv().await {
                if forward.send(Event::Discovery(event)).await.is_err() {
                    return;
                }
            }
        });

        let service = CoordinationServer::new(service::WorkerService::new(events.clone()))
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20);
        let router = tonic::transport::Server::builder().add_service(service);
        let worker_tls = settings.tls.clone().map(tls::TlsReloader::load).transpose()?.map(Arc::new);
        serve("worker endpoint", router, listener, worker_tls, stop.clone());

        let (status_tx, status) = watch::channel(Arc::default());
        let admin_address = settings.admin.listen;
        let admin_listener = TcpListener::bind(admin_address)
            .await
            .map_err(|source| StartError::AdminListen { address: admin_address, source })?;
        let admin_address =
            admin_listener.local_addr().map_err(|source| StartError::AdminListen { address: admin_address, source })?;
        if !admin_address.ip().is_loopback() && settings.admin.token.is_none() {
            tracing::warn!(
                %admin_address,
                "the admin API is reachable from other hosts without a token: anyone who can connect can pause \
                 or skip data; set admin.token"
            );
        }
        let admin_tls = settings.admin.tls.clone().map(tls::TlsReloader::load).transpose();
        let admin_tls = admin_tls.map_err(StartError::AdminTls)?.map(Arc::new);
        let admin = AdminServer::with_interceptor(
            AdminService::new(events.clone(), status.clone()),
            TokenCheck::new(settings.admin.token.clone()),
        );
        let flight = FlightServiceServer::with_interceptor(tail, TokenCheck::new(settings.admin.token.clone()));
        let router = tonic::transport::Server::builder().add_service(admin).add_service(flight);
        serve("admin endpoint", router, admin_listener, admin_tls, stop.clone());
        tracing::info!(%admin_address, "admin API listening");

        let pauses = Pauses::from_keys(&state.store.pauses().await?);
        let options = ControlOptions {
            once,
            coordinator_id: state.id.clone(),
            pauses,
            status: status_tx,
            rescans,
            loader,
            tail: tail_tables,
        };
        let control = Control::new(settings, catalog, state.store, state.leadership, events.clone(), tables, options);
        let control = tokio::spawn(async move {
            let summary = control.run(inbox).await;
            stop.cancel();
            summary
        });
        Ok(Self { address, admin_address, status, readiness, events, control, resign: state.resign })
    }

    /// The address workers connect to.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The address of the admin API.
    pub fn admin_address(&self) -> SocketAddr {
        self.admin_address
    }

    /// The cluster's status, updated every second (for metrics).
    pub fn status(&self) -> watch::Receiver<Arc<floe_proto::admin::ClusterStatus>> {
        self.status.clone()
    }

    /// Keeps `health` up to date: ready while the catalog, the state store
    /// and the segment storage answer (checked every few seconds), with
    /// the per-partition gauges taken from this coordinator's status.
    pub fn report_health(&self, health: floe_metrics::Health) {
        health.follow_status(self.status.clone());
        let readiness = self.readiness.clone();
        let events = self.events.clone();
        tokio::spawn(async move {
            while !events.is_closed() {
                health.set_ready(readiness.check().await);
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            }
            health.set_ready(Err("the coordinator stopped".into()));
        });
    }

    /// A handle that asks for a clean stop, usable after [`Coordinator::finished`] took the coordinator.
    pub fn drainer(&self) -> Drainer {
        Drainer { events: self.events.clone() }
    }

    /// Waits for the control loop to end and says what the run committed.
    pub async fn finished(self) -> RunSummary {
        let summary = self.control.await.unwrap_or_default();
        // A lost lease has nothing left to give up.
        if let (Some(resign), None) = (self.resign, &summary.leadership_lost) {
            resign.resign().await;
        }
        summary
    }
}
