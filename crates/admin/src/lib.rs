//! The admin listener: `/metrics` (Prometheus), `/healthz`, `/readyz`, and the management
//! REST API under `/admin/v1` (environments, developers, apps, credentials, products, KVMs,
//! audit log, admin users and tokens, login with TOTP, reload, status) with its OpenAPI 3.1
//! document at `/admin/v1/openapi.json`. See docs/admin-api.md.
//!
//! It does not know the proxy: the composition root hands it a [`Control`] and the store.
//! `/metrics`, `/healthz` and `/readyz` are unauthenticated (probes and scrapers carry no
//! credentials and learn nothing secret); everything under `/admin/v1` but login needs a token.

mod apply;
mod auth;
mod body;
mod error;
mod http_util;
mod v1;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use portcullis_config::ConfigErrors;
use portcullis_core::GatewayError;
use portcullis_store::Store;
use serde_json::json;

pub use apply::{
    ApplyOutcome, CatalogApp, CatalogAppStatus, CatalogApproval, CatalogChange, CatalogChangeOp,
    CatalogDeveloper, CatalogDeveloperStatus, CatalogDocument, CatalogEnvironment, CatalogProduct,
    CatalogQuota, CatalogQuotaUnit,
};
pub use auth::Caller;
pub use error::{ApiError, FieldError, Problem};
pub use http_util::etag;
pub use v1::{DEFAULT_SESSION_TTL, openapi_json};

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

/// What the admin router is built from.
pub struct AdminDeps {
    /// The running gateway.
    pub control: Arc<dyn Control>,
    /// Prometheus recorder handle, if metrics are installed.
    pub metrics: Option<PrometheusHandle>,
    /// The management-plane store.
    pub store: Arc<dyn Store>,
    /// Lifetime of login sessions.
    pub session_ttl: Duration,
}

#[derive(Clone)]
struct ProbeState {
    control: Arc<dyn Control>,
    metrics: Option<PrometheusHandle>,
}

/// Builds the admin router.
pub fn router(deps: AdminDeps) -> Router {
    let probes = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .with_state(ProbeState {
            control: deps.control.clone(),
            metrics: deps.metrics,
        });
    probes
        .merge(v1::router(deps.store, deps.control, deps.session_ttl))
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError(GatewayError::admin_method_not_allowed())
        })
        .layer(axum::extract::DefaultBodyLimit::max(body::MAX_BODY))
}

async fn metrics_text(State(s): State<ProbeState>) -> Response {
    let body = s
        .metrics
        .as_ref()
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn readyz(State(s): State<ProbeState>) -> Response {
    if s.control.ready() {
        Json(json!({"status": "ready"})).into_response()
    } else {
        ApiError(GatewayError::service_unavailable().with_detail("not ready")).into_response()
    }
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
