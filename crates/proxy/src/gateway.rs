//! The gateway's live state: the current snapshot plus its per-API runtime objects, swapped
//! atomically on reload. A request loads it once and keeps that version to its end, so a reload
//! never changes the rules under an in-flight request, and nothing is dropped.

use std::sync::Arc;

use arc_swap::ArcSwap;
use portcullis_config::Snapshot;

use crate::api_metrics::ApiMetrics;
use crate::observe::Observer;
use crate::upstream::{UpstreamGroup, Upstreams};

/// One config version with its runtime companions.
pub struct Runtime {
    /// The compiled config.
    pub snapshot: Arc<Snapshot>,
    /// Upstream groups, parallel to `snapshot.apis` (by `ApiRoute::index`).
    pub groups: Vec<Arc<UpstreamGroup>>,
    /// Metric handles, parallel to `snapshot.apis`.
    pub metrics: Vec<Arc<ApiMetrics>>,
    /// Metric handles for requests no API matched.
    pub unrouted: Arc<ApiMetrics>,
}

/// Shared by every listener and connection.
pub struct Gateway {
    runtime: ArcSwap<Runtime>,
    upstreams: Arc<Upstreams>,
    observer: Arc<Observer>,
}

impl Gateway {
    /// A gateway serving `snapshot`.
    pub fn new(snapshot: Snapshot, observer: Arc<Observer>) -> Arc<Self> {
        let upstreams = Upstreams::new();
        let runtime = build(&upstreams, snapshot);
        observer.set_enabled(runtime.snapshot.access_log);
        Arc::new(Self {
            runtime: ArcSwap::from_pointee(runtime),
            upstreams,
            observer,
        })
    }

    /// Atomically replaces the running config. In-flight requests finish on the old one.
    pub fn install(&self, snapshot: Snapshot) {
        let runtime = build(&self.upstreams, snapshot);
        self.observer.set_enabled(runtime.snapshot.access_log);
        let live: Vec<_> = runtime
            .snapshot
            .apis
            .iter()
            .map(|a| a.upstream.clone())
            .collect();
        self.runtime.store(Arc::new(runtime));
        self.upstreams.retain(&live);
    }

    /// The current version.
    pub fn current(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.runtime.load().snapshot.clone()
    }

    /// The observer (metrics and access log).
    pub fn observer(&self) -> &Arc<Observer> {
        &self.observer
    }
}

fn build(upstreams: &Arc<Upstreams>, snapshot: Snapshot) -> Runtime {
    let groups = snapshot
        .apis
        .iter()
        .map(|api| upstreams.group(&api.upstream))
        .collect();
    let metrics = snapshot
        .apis
        .iter()
        .map(|api| ApiMetrics::new(api.name.clone()))
        .collect();
    Runtime {
        snapshot: Arc::new(snapshot),
        groups,
        metrics,
        unrouted: ApiMetrics::new("-".into()),
    }
}
