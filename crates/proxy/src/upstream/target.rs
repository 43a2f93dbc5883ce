//! Per-target health: the active-check verdict and passive ejection after consecutive connect
//! failures.
//!
//! A dead backend must stop costing every request a failed connect, yet a reload must not
//! forget what was learnt about it, so this state lives in [`super::Upstreams`] and is shared by
//! every group naming the same target. Everything here is atomics: the hot path reads two of
//! them per candidate and writes nothing on success unless a failure was recorded before.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use http::HeaderValue;
use portcullis_config::TargetSpec;
use tokio::time::Instant;

/// Gauge: 1 when a target takes traffic (healthy and not ejected), 0 otherwise.
const HEALTHY_GAUGE: &str = "portcullis_upstream_target_healthy";

/// Health of one target origin, shared across groups and config versions.
#[derive(Debug)]
pub(crate) struct TargetState {
    origin: String,
    /// Reference point for `ejected_until`, so it fits in one atomic.
    epoch: Instant,
    /// Verdict of active health checks; targets start healthy (Kong's choice) so a fresh
    /// config serves traffic before the first probe returns.
    healthy: AtomicBool,
    consecutive_connect_failures: AtomicU32,
    /// Milliseconds since `epoch` until which the target is ejected; 0 when never ejected.
    ejected_until: AtomicU64,
}

/// A target as one group sees it: where to send, and the shared state.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) spec: TargetSpec,
    /// Host header value, built once instead of per request.
    pub(crate) host: HeaderValue,
    pub(crate) state: std::sync::Arc<TargetState>,
    /// This target's connections, shared with other groups naming it with the same settings.
    pub(crate) pool: std::sync::Arc<super::pool::TargetPool>,
}

// === impl TargetState ===

impl TargetState {
    pub(crate) fn new(origin: String, epoch: Instant) -> Self {
        let state = Self {
            origin,
            epoch,
            healthy: AtomicBool::new(true),
            consecutive_connect_failures: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
        };
        state.publish();
        state
    }

    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    /// Milliseconds since the epoch, never 0 so that 0 can mean "not ejected".
    pub(crate) fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }

    pub(crate) fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    pub(crate) fn is_ejected(&self, now_ms: u64) -> bool {
        now_ms < self.ejected_until.load(Ordering::Relaxed)
    }

    /// Whether the balancer should pick this target outside panic mode.
    pub(crate) fn is_available(&self, now_ms: u64) -> bool {
        self.is_healthy() && !self.is_ejected(now_ms)
    }

    /// Records a failed connect; ejects once `threshold` failures in a row are reached
    /// (0 disables passive ejection). The count is not reset on ejection, so a target that
    /// still refuses after its ejection ends is ejected again by its first failure instead of
    /// costing `threshold` more failed connects.
    pub(crate) fn record_connect_failure(&self, threshold: u32, ejection: Duration) {
        let failures = self
            .consecutive_connect_failures
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if threshold == 0 || failures < threshold || ejection.is_zero() {
            return;
        }
        let now = self.now_ms();
        let until = now.saturating_add(u64::try_from(ejection.as_millis()).unwrap_or(u64::MAX));
        let previous = self.ejected_until.swap(until, Ordering::Relaxed);
        if now >= previous {
            tracing::warn!(
                target_origin = %self.origin,
                failures,
                ejection_ms = ejection.as_millis(),
                "upstream target ejected after consecutive connect failures"
            );
            self.publish();
        }
    }

    /// Records a response: the target is reachable again. Reads first so the common case
    /// (nothing to reset) writes no shared cache line.
    pub(crate) fn record_success(&self) {
        if self.consecutive_connect_failures.load(Ordering::Relaxed) != 0 {
            self.consecutive_connect_failures
                .store(0, Ordering::Relaxed);
        }
        if self.ejected_until.load(Ordering::Relaxed) != 0 {
            self.ejected_until.store(0, Ordering::Relaxed);
            self.publish();
        }
    }

    /// Sets the active-check verdict; logs and publishes only on a change.
    pub(crate) fn set_healthy(&self, healthy: bool) {
        if self.healthy.swap(healthy, Ordering::Relaxed) == healthy {
            return;
        }
        if healthy {
            tracing::info!(target_origin = %self.origin, "upstream target healthy again");
        } else {
            tracing::warn!(target_origin = %self.origin, "upstream target failed health checks");
        }
        self.publish();
    }

    fn publish(&self) {
        let up = self.is_available(self.now_ms());
        metrics::gauge!(HEALTHY_GAUGE, "target" => self.origin.clone()).set(if up {
            1.0
        } else {
            0.0
        });
    }
}
