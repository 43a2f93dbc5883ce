//! Active health checks: a background probe per target that takes a failing backend out of
//! rotation before clients pay for it, and puts it back once it answers again.
//!
//! Thresholds on both sides stop one lost probe from flapping a target. A probe is a GET of
//! `health.path` on the target origin (the target's base path is not prepended: health
//! endpoints usually live at the root); 2xx and 3xx count as healthy.

use std::sync::Arc;

use http::uri::PathAndQuery;
use http::{HeaderValue, Method, Request, Uri, header};
use http_body_util::{BodyExt, Limited};
use portcullis_config::{HealthSpec, TargetSpec};
use tokio::time::MissedTickBehavior;

use super::body::UpstreamBody;
use super::pool::{SendError, TargetPool};
use super::target::TargetState;

/// Health endpoints answer small bodies; read at most this much so the connection can be
/// reused, and never buffer a misconfigured endpoint's large answer.
const MAX_PROBE_BODY: usize = 64 * 1024;

/// Everything a checker task needs; owned by the task.
pub(crate) struct Checker {
    pub(crate) pool: Arc<TargetPool>,
    pub(crate) target: TargetSpec,
    pub(crate) host: HeaderValue,
    pub(crate) spec: HealthSpec,
    pub(crate) state: Arc<TargetState>,
}

// === impl Checker ===

impl Checker {
    /// Probes forever; the task is aborted by `Upstreams::retain` or when `Upstreams` drops.
    pub(crate) async fn run(self) {
        // Origin-form: the pool's connection already points at the target.
        let uri = match PathAndQuery::try_from(self.spec.path.as_str()) {
            Ok(pq) => Uri::from(pq),
            Err(err) => {
                tracing::error!(
                    target_origin = self.state.origin(),
                    error = %err,
                    "invalid health-check URI; active checks disabled for this target"
                );
                return;
            }
        };
        let unhealthy_after = self.spec.unhealthy_threshold.max(1);
        let healthy_after = self.spec.healthy_threshold.max(1);
        let mut ticker = tokio::time::interval(self.spec.interval);
        // A slow probe delays the next one instead of causing a burst.
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let (mut successes, mut failures) = (0u32, 0u32);
        loop {
            ticker.tick().await;
            if self.probe(&uri).await {
                successes = successes.saturating_add(1);
                failures = 0;
                if successes >= healthy_after {
                    self.state.set_healthy(true);
                }
            } else {
                failures = failures.saturating_add(1);
                successes = 0;
                if failures >= unhealthy_after {
                    self.state.set_healthy(false);
                }
            }
        }
    }

    async fn probe(&self, uri: &Uri) -> bool {
        let mut req = Request::new(UpstreamBody::Empty);
        *req.method_mut() = Method::GET;
        *req.uri_mut() = uri.clone();
        req.headers_mut().insert(header::HOST, self.host.clone());
        req.headers_mut().insert(
            header::USER_AGENT,
            HeaderValue::from_static("portcullis-health-check"),
        );
        let exchange = async {
            let response = self.pool.send(req).await?;
            let status = response.status();
            // Drain so the pooled connection is reused; a too-large body only costs the reuse.
            let _ = Limited::new(response.into_body(), MAX_PROBE_BODY)
                .collect()
                .await;
            Ok::<_, SendError>(status)
        };
        match tokio::time::timeout(self.spec.timeout, exchange).await {
            Ok(Ok(status)) if status.is_success() || status.is_redirection() => true,
            Ok(Ok(status)) => {
                tracing::debug!(target_origin = self.state.origin(), %status, "health probe failed");
                false
            }
            Ok(Err(err)) => {
                tracing::debug!(target_origin = self.state.origin(), error = ?err, "health probe failed");
                false
            }
            Err(_) => {
                tracing::debug!(
                    target_origin = self.state.origin(),
                    "health probe timed out"
                );
                false
            }
        }
    }
}
