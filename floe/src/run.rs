//! `floe run`: a coordinator and its workers in one process, talking gRPC
//! over loopback exactly as they do across a cluster.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use floe_config::Config;
use floe_coordinator::{Coordinator, RunSummary, Settings};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// How long a drain may take before floe stops anyway (rows not committed
/// are read again on the next start: nothing is lost).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the pipeline of `config_path` with `workers` in-process workers.
/// With `once`, returns after everything storage holds now is committed;
/// otherwise runs until Ctrl-C or SIGTERM, then drains.
pub async fn run_pipeline(config_path: &Path, once: bool, workers: usize) -> anyhow::Result<RunSummary> {
    let config = Config::load(config_path)?;
    let settings = Settings::from_config(&config).with_context(|| format!("in {}", config_path.display()))?;
    let listener = TcpListener::bind("127.0.0.1:0").await.context("binding the loopback worker endpoint")?;
    let coordinator = Coordinator::start(settings, listener, once).await?;
    let endpoint = format!("http://{}", coordinator.address());
    let stop_workers = CancellationToken::new();
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
    for i in 0..workers.max(1) {
        let id = format!("{host}-{}-worker-{i}", std::process::id());
        tokio::spawn(floe_worker::run(endpoint.clone(), id, stop_workers.clone()));
    }
    info!(workers, %endpoint, "floe is running");

    let summary = if once {
        coordinator.finished().await
    } else {
        let drainer = coordinator.drainer();
        let finished = coordinator.finished();
        tokio::pin!(finished);
        tokio::select! {
            summary = &mut finished => summary,
            _ = shutdown_signal() => {
                info!("stopping: closing open files and committing them (Ctrl-C again to stop at once)");
                drainer.drain().await;
                tokio::select! {
                    summary = &mut finished => summary,
                    _ = shutdown_signal() => anyhow::bail!("stopped before the drain finished; uncommitted rows will be read again"),
                    _ = tokio::time::sleep(DRAIN_TIMEOUT) => anyhow::bail!("the drain took over {DRAIN_TIMEOUT:?}; uncommitted rows will be read again"),
                }
            }
        }
    };
    stop_workers.cancel();
    Ok(summary)
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
