//! Per-API metric handles, resolved once per config version instead of per request: looking up a
//! labelled metric builds and hashes its key, which showed up in profiles of the hot path.

use std::sync::{Arc, OnceLock};

use metrics::{Counter, Histogram};

use crate::observe::names;

/// Statuses with a cached counter; others are looked up per request.
const COMMON: [u16; 20] = [
    200, 201, 202, 204, 301, 302, 304, 400, 401, 403, 404, 405, 413, 414, 429, 431, 500, 502, 503,
    504,
];

/// Metric handles of one API (or of unrouted requests, as api `-`).
pub struct ApiMetrics {
    api: Arc<str>,
    // Registered on first use, so /metrics lists only statuses that occurred.
    requests: [OnceLock<Counter>; COMMON.len()],
    duration: Histogram,
    upstream: Histogram,
}

impl ApiMetrics {
    /// Handles for `api`.
    pub fn new(api: Arc<str>) -> Arc<Self> {
        Arc::new(Self {
            duration: metrics::histogram!(names::DURATION, "api" => api.clone()),
            upstream: metrics::histogram!(names::UPSTREAM_DURATION, "api" => api.clone()),
            requests: Default::default(),
            api,
        })
    }

    fn counter(&self, status: u16) -> Counter {
        metrics::counter!(names::REQUESTS, "api" => self.api.clone(), "status" => status.to_string())
    }

    /// Records one finished request.
    pub fn record(&self, status: u16, total_secs: f64, upstream_secs: Option<f64>) {
        match COMMON.binary_search(&status) {
            Ok(i) => self.requests[i]
                .get_or_init(|| self.counter(status))
                .increment(1),
            Err(_) => self.counter(status).increment(1),
        }
        self.duration.record(total_secs);
        if let Some(up) = upstream_secs {
            self.upstream.record(up);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_statuses_are_sorted_for_binary_search() {
        assert!(COMMON.windows(2).all(|w| w[0] < w[1]));
    }
}
