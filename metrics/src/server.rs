//! The HTTP endpoint: `/metrics` (Prometheus text format), `/healthz`
//! (the process runs) and `/readyz` (it can do its work right now).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use floe_proto::admin::ClusterStatus;
use prometheus::{Encoder, TextEncoder};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::observe_status;

/// What `/readyz` answers, set by the process as its state changes, and the
/// status the gauges are taken from (a leading coordinator's).
#[derive(Clone)]
pub struct Health(Arc<Mutex<HealthState>>);

struct HealthState {
    ready: Result<String, String>,
    /// Asked at each request instead of `ready`, when set.
    check: Option<fn() -> Result<String, String>>,
    status: Option<watch::Receiver<Arc<ClusterStatus>>>,
}

impl Default for Health {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(HealthState { ready: Err("starting".into()), check: None, status: None })))
    }
}

impl Health {
    fn state(&self) -> std::sync::MutexGuard<'_, HealthState> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Ok(what)` when ready (200 with `what`), `Err(why)` when not (503).
    pub fn set_ready(&self, ready: Result<String, String>) {
        self.state().ready = ready;
    }

    /// Readiness comes from `check` from now on.
    pub fn set_check(&self, check: fn() -> Result<String, String>) {
        self.state().check = Some(check);
    }

    /// Per-partition gauges come from this status from now on.
    pub fn follow_status(&self, status: watch::Receiver<Arc<ClusterStatus>>) {
        self.state().status = Some(status);
    }

    fn readiness(&self) -> Result<String, String> {
        let state = self.state();
        match state.check {
            Some(check) => check(),
            None => state.ready.clone(),
        }
    }

    fn latest_status(&self) -> Option<Arc<ClusterStatus>> {
        self.state().status.as_ref().map(|s| s.borrow().clone())
    }
}

/// Serves the endpoint on `listener` until `stop`.
pub async fn serve(listener: TcpListener, health: Health, stop: CancellationToken) {
    let metrics = {
        let health = health.clone();
        move || async move { metrics(&health) }
    };
    let ready = {
        let health = health.clone();
        move || async move {
            match health.readiness() {
                Ok(what) => (StatusCode::OK, what),
                Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
            }
        }
    };
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready));
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned()).await {
        tracing::error!("metrics endpoint stopped: {e}");
    }
}

fn metrics(health: &Health) -> impl IntoResponse + use<> {
    if let Some(status) = health.latest_status() {
        observe_status(&status);
    }
    let mut body = Vec::new();
    let encoder = TextEncoder::new();
    match encoder.encode(&prometheus::gather(), &mut body) {
        Ok(()) => (StatusCode::OK, [(CONTENT_TYPE, encoder.format_type().to_string())], body),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, [(CONTENT_TYPE, "text/plain".to_string())], e.to_string().into()),
    }
}
