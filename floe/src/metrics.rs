//! The /metrics, /healthz and /readyz endpoint of `run`, `coordinator` and
//! `worker`: at `KAFSCALE_METRICS_ADDR` as the seed processor had it, else
//! the config's `metrics.listen`.

use anyhow::Context;
use floe_config::MetricsAddress;
use floe_metrics::Health;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// The address: KAFSCALE_METRICS_ADDR (or `--metrics-addr`) when given,
/// else the config file's `metrics.listen`, else `:9093`.
pub fn address(given: Option<&str>, config: Option<MetricsAddress>) -> anyhow::Result<MetricsAddress> {
    match given {
        Some(text) => text.parse().map_err(|e| anyhow::anyhow!("KAFSCALE_METRICS_ADDR (or --metrics-addr): {e}")),
        None => Ok(config.unwrap_or_default()),
    }
}

/// Serves the endpoint at `address` for the life of the process; the
/// returned handle sets what /readyz says.
pub async fn start(address: MetricsAddress) -> anyhow::Result<Health> {
    let health = Health::default();
    let MetricsAddress::At(at) = address else { return Ok(health) };
    let listener = TcpListener::bind(at).await.with_context(|| {
        format!("metrics endpoint {at} (metrics.listen, or KAFSCALE_METRICS_ADDR): set another address, or `off`")
    })?;
    info!(address = %listener.local_addr().unwrap_or(at), "serving /metrics, /healthz and /readyz");
    tokio::spawn(floe_metrics::serve(listener, health.clone(), CancellationToken::new()));
    Ok(health)
}
