//! The admin listener: `/metrics` (Prometheus), `/healthz`, `/readyz`, `POST /admin/v1/reload`
//! and `GET /admin/v1/status` (resolved policy order per API and flow, upstream health).
//!
//! It does not know the proxy: the composition root hands it a [`Control`]. Bind it to
//! loopback or a private network; authenticated admin users arrive with the management plane.

use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use portcullis_config::ConfigErrors;
use portcullis_core::{GatewayError, PROBLEM_CONTENT_TYPE, problem_body};
use serde_json::json;

/// What the admin API can ask of the running gateway.
#[async_trait]
pub trait Control: Send + Sync + 'static {
    /// Re-reads and applies the config file; returns the new config generation.
    async fn reload(&self) -> Result<u64, ConfigErrors>;
    /// True once the gateway serves traffic (config loaded, listeners bound, credentials loaded).
    fn ready(&self) -> bool;
    /// A JSON description of the running config: APIs, flows, resolved policy order, upstreams.
    fn status(&self) -> serde_json::Value;
}

#[derive(Clone)]
struct AdminState {
    control: Arc<dyn Control>,
    metrics: Option<PrometheusHandle>,
}

/// Builds the admin router.
pub fn router(control: Arc<dyn Control>, metrics: Option<PrometheusHandle>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route("/admin/v1/reload", post(reload))
        .route("/admin/v1/status", get(status))
        .with_state(AdminState { control, metrics })
}

async fn metrics_text(State(s): State<AdminState>) -> Response {
    let body = s
        .metrics
        .as_ref()
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn readyz(State(s): State<AdminState>) -> Response {
    if s.control.ready() {
        Json(json!({"status": "ready"})).into_response()
    } else {
        problem(&GatewayError::service_unavailable().with_detail("not ready"))
    }
}

async fn reload(State(s): State<AdminState>) -> Response {
    match s.control.reload().await {
        Ok(generation) => {
            Json(json!({"status": "reloaded", "generation": generation})).into_response()
        }
        Err(errors) => {
            let list: Vec<_> = errors
                .0
                .iter()
                .map(|e| json!({"path": e.path, "line": e.line, "message": e.message}))
                .collect();
            let err = GatewayError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "config.invalid",
                "Configuration rejected; the running configuration is unchanged",
                portcullis_core::ErrorSource::Client,
            )
            .with_extra("errors", list.into());
            problem(&err)
        }
    }
}

async fn status(State(s): State<AdminState>) -> Json<serde_json::Value> {
    Json(s.control.status())
}

fn problem(err: &GatewayError) -> Response {
    let mut resp = (err.status(), problem_body(err, "admin")).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
    );
    resp
}

/// Serves the admin router until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
