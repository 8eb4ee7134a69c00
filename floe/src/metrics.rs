//! The /metrics, /healthz and /readyz endpoint of `run`, `coordinator` and
//! `worker`, at `KAFSCALE_METRICS_ADDR` as the seed processor had it.

use std::net::SocketAddr;

use anyhow::Context;
use floe_metrics::Health;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// Serves the endpoint at `address` (`HOST:PORT`, `:PORT`, or `off`) for
/// the life of the process; the returned handle sets what /readyz says.
pub async fn start(address: &str) -> anyhow::Result<Health> {
    let health = Health::default();
    if address == "off" {
        return Ok(health);
    }
    let parsed: SocketAddr = match address.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}").parse(),
        None => address.parse(),
    }
    .with_context(|| {
        format!(
            "metrics address `{address}` (KAFSCALE_METRICS_ADDR or --metrics-addr): expected HOST:PORT, :PORT or off"
        )
    })?;
    let listener = TcpListener::bind(parsed).await.with_context(|| {
        format!("metrics endpoint {parsed} (KAFSCALE_METRICS_ADDR or --metrics-addr): set another address, or `off`")
    })?;
    info!(address = %listener.local_addr().unwrap_or(parsed), "serving /metrics, /healthz and /readyz");
    tokio::spawn(floe_metrics::serve(listener, health.clone(), CancellationToken::new()));
    Ok(health)
}
