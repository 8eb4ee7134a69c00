//! The long-running commands: `floe run` (a coordinator and its workers in
//! one process, talking gRPC over loopback exactly as they do across a
//! cluster), `floe coordinator` and `floe worker` (one role per process).

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use floe_config::{Config, TlsFiles};
use floe_coordinator::{Coordinator, RunSummary, Settings, State};
use floe_metrics::Health;

use crate::metrics;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// How long a drain may take before floe stops anyway (rows not committed
/// are read again on the next start: nothing is lost).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the pipeline of `config_path` with `workers` in-process workers.
/// With `once`, returns after everything storage holds now is committed;
/// otherwise runs until Ctrl-C or SIGTERM, then drains. `None` when stopped
/// before it led.
pub async fn run_pipeline(
    config_path: &Path,
    once: bool,
    workers: usize,
    metrics_addr: Option<&str>,
) -> anyhow::Result<Option<RunSummary>> {
    let (settings, health) = load(config_path, metrics_addr).await?;
    let id = process_id("run");
    health.set_ready(Ok("standing by: waiting to lead".into()));
    let Some(state) = open_state(&settings, &id).await? else { return Ok(None) };
    let listener = TcpListener::bind("127.0.0.1:0").await.context("binding the loopback worker endpoint")?;
    let Some(coordinator) = start(settings, state, listener, once, &health).await? else { return Ok(None) };
    coordinator.report_health(health.clone());
    let endpoint = format!("http://{}", coordinator.address());
    let stop_workers = CancellationToken::new();
    for i in 0..workers.max(1) {
        let worker_id = format!("{id}-worker-{i}");
        tokio::spawn(floe_worker::run(vec![endpoint.clone()], None, worker_id, stop_workers.clone()));
    }
    info!(workers, %endpoint, "floe is running");
    let summary = if once { Ok(coordinator.finished().await) } else { serve_until_stopped(coordinator).await };
    stop_workers.cancel();
    summary.map(Some)
}

/// `floe coordinator`: leads (or stands by until it can), serving workers on
/// `coordinator.listen`, until stopped or no longer the leader. `None` when
/// stopped before it led.
pub async fn run_coordinator(config_path: &Path, metrics_addr: Option<&str>) -> anyhow::Result<Option<RunSummary>> {
    let (settings, health) = load(config_path, metrics_addr).await?;
    let id = process_id("coordinator");
    // A standby is healthy: it takes over when the leader goes.
    health.set_ready(Ok("standing by: waiting to lead".into()));
    let address = settings.listen;
    // A standby binds only when it comes to lead: try the port now, so that
    // a taken one is an error at start rather than at a takeover.
    drop(bind_worker_endpoint(address, config_path).await?);
    let Some(state) = open_state(&settings, &id).await? else { return Ok(None) };
    let listener = bind_worker_endpoint(address, config_path).await?;
    let Some(coordinator) = start(settings, state, listener, false, &health).await? else { return Ok(None) };
    coordinator.report_health(health.clone());
    info!(%address, "coordinator serving workers");
    serve_until_stopped(coordinator).await.map(Some)
}

/// Starts leading; `None` when stopped first (start-up waits out a segment
/// storage outage, however long it lasts). Not ready meanwhile: it serves
/// nothing yet.
async fn start(
    settings: Settings,
    state: State,
    listener: TcpListener,
    once: bool,
    health: &Health,
) -> anyhow::Result<Option<Coordinator>> {
    health.set_ready(Err("starting to lead: checking segment storage, loading the tables".into()));
    tokio::select! {
        started = Coordinator::start(settings, state, listener, once) => Ok(Some(started?)),
        _ = shutdown_signal() => {
            info!("stopped while starting to lead");
            Ok(None)
        }
    }
}

async fn bind_worker_endpoint(address: std::net::SocketAddr, config_path: &Path) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address).await.with_context(|| {
        format!("binding the worker endpoint {address} (coordinator.listen in {})", config_path.display())
    })
}

/// `floe worker`: works for whichever of `endpoints` leads, until stopped.
pub async fn run_worker(endpoints: Vec<String>, tls: TlsFiles) {
    let stop = CancellationToken::new();
    let tls = tls.is_set().then_some(tls);
    let worker = tokio::spawn(floe_worker::run(endpoints, tls, process_id("worker"), stop.clone()));
    shutdown_signal().await;
    info!("stopping: rows not yet committed will be read again by the partitions' next holders");
    stop.cancel();
    let _ = worker.await;
}

/// Loads the config, then serves metrics where the command line or the file
/// says.
async fn load(config_path: &Path, metrics_addr: Option<&str>) -> anyhow::Result<(Settings, Health)> {
    let config = Config::load(config_path)?;
    let settings = settings_of(&config, config_path)?;
    let health = metrics::start(metrics::address(metrics_addr, Some(config.metrics.listen))?).await?;
    Ok((settings, health))
}

fn settings_of(config: &Config, config_path: &Path) -> anyhow::Result<Settings> {
    let mut settings = Settings::from_config(config).with_context(|| format!("in {}", config_path.display()))?;
    // Several processes on one host (tests, a laptop) each need their own port.
    if let Ok(listen) = std::env::var("FLOE_ADMIN_LISTEN") {
        settings.admin.listen =
            listen.parse().with_context(|| format!("FLOE_ADMIN_LISTEN `{listen}`: expected HOST:PORT"))?;
    }
    Ok(settings)
}

/// `host-pid-role`: names this process in logs and in the leader election.
fn process_id(role: &str) -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
    format!("{host}-{}-{role}", std::process::id())
}

/// Opens the state store; with etcd, stands by until this process leads.
/// `None` when stopped while standing by.
async fn open_state(settings: &Settings, id: &str) -> anyhow::Result<Option<State>> {
    let cancel = CancellationToken::new();
    let open = State::open(settings, id, &cancel);
    tokio::select! {
        state = open => Ok(state?),
        _ = shutdown_signal() => {
            cancel.cancel();
            info!("stopped while standing by");
            Ok(None)
        }
    }
}

/// Runs until the coordinator ends on its own (leadership lost) or a
/// signal asks to stop; then drains: open files are closed and committed.
async fn serve_until_stopped(coordinator: Coordinator) -> anyhow::Result<RunSummary> {
    let drainer = coordinator.drainer();
    let finished = coordinator.finished();
    tokio::pin!(finished);
    tokio::select! {
        summary = &mut finished => Ok(summary),
        _ = shutdown_signal() => {
            info!("stopping: closing open files and committing them (Ctrl-C again to stop at once)");
            drainer.drain().await;
            tokio::select! {
                summary = &mut finished => Ok(summary),
                _ = shutdown_signal() => anyhow::bail!("stopped before the drain finished; uncommitted rows will be read again"),
                _ = tokio::time::sleep(DRAIN_TIMEOUT) => anyhow::bail!("the drain took over {DRAIN_TIMEOUT:?}; uncommitted rows will be read again"),
            }
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                warn!("cannot listen for SIGTERM: {e}");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
