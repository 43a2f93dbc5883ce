//! Upstream pools, target selection, retries, passive ejection and active health checks.
//!
//! [`Upstreams`] outlives config versions on purpose: it owns the connection pools and what is
//! known about each target's health, so a reload neither drops warm connections nor sends
//! traffic back to a backend that was just ejected. Each compiled [`UpstreamSpec`] gets a
//! cheap [`UpstreamGroup`] view over that shared state.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use hyper_rustls::ConfigBuilderExt;
use hyper_util::client::legacy::connect::HttpConnector;
use parking_lot::Mutex;
use portcullis_config::{HealthSpec, TargetSpec, UpstreamSpec};
use tokio::task::AbortHandle;
use tokio::time::Instant;

mod body;
mod error;
mod group;
mod health;
mod pool;
mod target;

pub use error::UpstreamError;
pub use group::{TargetHealth, UpstreamGroup};
pub use pool::ResponseBody;

use health::Checker;
use pool::{Connector, TargetPool};
use target::{Target, TargetState};

/// Counter of failed upstream attempts, labelled `kind`: `connect` (refused, unreachable,
/// connect timeout, TLS handshake), `failed` (reset or protocol error after connecting) or
/// `timeout` (no response headers within the request timeout).
const ERRORS_COUNTER: &str = "portcullis_upstream_errors_total";

/// Connection pools are shared by upstreams with the same connect timeout and idle pool size.
type ClientKey = (Duration, usize);
/// One pool per target origin and client settings.
type PoolKey = (String, ClientKey);
/// Health is shared by target origin and health-check path.
type StateKey = (String, Option<String>);
/// One checker task per target origin, health-check settings and client (a changed connect
/// timeout restarts the checker with the new client).
type CheckKey = (String, HealthSpec, ClientKey);

/// Runtime upstream state that survives config reloads: pools, target health, health checks.
pub struct Upstreams {
    tls: rustls::ClientConfig,
    epoch: Instant,
    registry: Mutex<Registry>,
}

#[derive(Default)]
struct Registry {
    connectors: HashMap<Duration, Connector>,
    pools: HashMap<PoolKey, Arc<TargetPool>>,
    states: HashMap<StateKey, Arc<TargetState>>,
    checkers: HashMap<CheckKey, AbortHandle>,
}

// === impl Upstreams ===

impl Upstreams {
    /// Empty state; https targets are verified against the Mozilla (webpki) roots.
    pub fn new() -> Arc<Self> {
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports rustls' default protocol versions")
        .with_webpki_roots()
        .with_no_client_auth();
        Self::with_tls_config(tls)
    }

    /// Empty state with a custom TLS client config for https targets (a private CA, client
    /// certificates). Any ALPN list in `tls` is ignored: upstreams are spoken to in HTTP/1.1.
    pub fn with_tls_config(mut tls: rustls::ClientConfig) -> Arc<Self> {
        // The https connector sets ALPN from the enabled protocols and panics on a preset list.
        tls.alpn_protocols.clear();
        Arc::new(Self {
            tls,
            epoch: Instant::now(),
            registry: Mutex::new(Registry::default()),
        })
    }

    /// The runtime group for a compiled spec. Equal targets share health state, and equal
    /// targets with equal client settings share one connection pool, so calling this again
    /// after a reload keeps both.
    /// Starts the spec's active health checks on the current tokio runtime unless already
    /// running; they run until [`Upstreams::retain`] drops them or this `Upstreams` is dropped.
    pub fn group(&self, spec: &Arc<UpstreamSpec>) -> Arc<UpstreamGroup> {
        let mut registry = self.registry.lock();
        let key = client_key(spec);
        let health_path = spec.health.as_ref().map(|h| h.path.clone());
        let mut targets = Vec::with_capacity(spec.targets.len());
        for target in &spec.targets {
            let origin = target.origin();
            let state = Arc::clone(
                registry
                    .states
                    .entry((origin.clone(), health_path.clone()))
                    .or_insert_with(|| Arc::new(TargetState::new(origin.clone(), self.epoch))),
            );
            let pool = self.pool(&mut registry, target, key);
            let host = HeaderValue::from_str(target.authority.as_str())
                .expect("an http::uri::Authority is a valid header value");
            if let Some(health) = &spec.health {
                registry.start_checker(
                    key,
                    Checker {
                        pool: Arc::clone(&pool),
                        target: target.clone(),
                        host: host.clone(),
                        spec: health.clone(),
                        state: Arc::clone(&state),
                    },
                );
            }
            targets.push(Target {
                spec: target.clone(),
                host,
                state,
                pool,
            });
        }
        Arc::new(UpstreamGroup::new(
            Arc::clone(spec),
            targets.into_boxed_slice(),
        ))
    }

    /// After a reload: stops health checks, and forgets health and pools, that none of `live`
    /// uses. Groups still serving in-flight requests keep their own references.
    pub fn retain(&self, live: &[Arc<UpstreamSpec>]) {
        let mut checks = HashSet::new();
        let mut states = HashSet::new();
        let mut pools = HashSet::new();
        let mut timeouts = HashSet::new();
        for spec in live {
            timeouts.insert(spec.connect_timeout);
            let health_path = spec.health.as_ref().map(|h| h.path.clone());
            for target in &spec.targets {
                let origin = target.origin();
                pools.insert((origin.clone(), client_key(spec)));
                if let Some(health) = &spec.health {
                    checks.insert((origin.clone(), health.clone(), client_key(spec)));
                }
                states.insert((origin, health_path.clone()));
            }
        }
        let mut registry = self.registry.lock();
        registry.checkers.retain(|key, task| {
            let keep = checks.contains(key);
            if !keep {
                task.abort();
            }
            keep
        });
        registry.states.retain(|key, _| states.contains(key));
        registry.pools.retain(|key, _| pools.contains(key));
        registry
            .connectors
            .retain(|timeout, _| timeouts.contains(timeout));
    }

    /// Number of running health-check tasks (admin API, tests).
    pub fn health_checks(&self) -> usize {
        self.registry.lock().checkers.len()
    }

    /// The shared pool for `target` under the given client settings.
    fn pool(
        &self,
        registry: &mut Registry,
        target: &TargetSpec,
        (connect_timeout, max_idle): ClientKey,
    ) -> Arc<TargetPool> {
        let origin = target.origin();
        if let Some(pool) = registry
            .pools
            .get(&(origin.clone(), (connect_timeout, max_idle)))
        {
            return Arc::clone(pool);
        }
        let connector = registry
            .connectors
            .entry(connect_timeout)
            .or_insert_with(|| self.build_connector(connect_timeout))
            .clone();
        let mut dial = http::uri::Parts::default();
        dial.scheme = Some(target.scheme.clone());
        dial.authority = Some(target.authority.clone());
        dial.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
        let dial = http::Uri::from_parts(dial).expect("scheme and authority make a valid URI");
        let pool = TargetPool::new(connector, dial, max_idle);
        registry
            .pools
            .insert((origin, (connect_timeout, max_idle)), Arc::clone(&pool));
        pool
    }

    fn build_connector(&self, connect_timeout: Duration) -> Connector {
        let mut http = HttpConnector::new();
        // The https connector below decides the scheme; this one only dials TCP.
        http.enforce_http(false);
        http.set_connect_timeout(Some(connect_timeout));
        http.set_nodelay(true);
        hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(self.tls.clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(http)
    }
}

impl Drop for Upstreams {
    fn drop(&mut self) {
        for task in self.registry.get_mut().checkers.values() {
            task.abort();
        }
    }
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let registry = self.registry.lock();
        f.debug_struct("Upstreams")
            .field("pools", &registry.pools.len())
            .field("targets", &registry.states.len())
            .field("health_checks", &registry.checkers.len())
            .finish()
    }
}

// === impl Registry ===

impl Registry {
    fn start_checker(&mut self, client: ClientKey, checker: Checker) {
        let key = (checker.target.origin(), checker.spec.clone(), client);
        if self.checkers.contains_key(&key) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(
                target_origin = checker.state.origin(),
                "no tokio runtime: active health checks not started"
            );
            return;
        };
        let task = runtime.spawn(checker.run());
        self.checkers.insert(key, task.abort_handle());
    }
}

fn client_key(spec: &UpstreamSpec) -> ClientKey {
    (spec.connect_timeout, spec.max_idle_per_target)
}

fn count_error(kind: &'static str) {
    metrics::counter!(ERRORS_COUNTER, "kind" => kind).increment(1);
}

#[cfg(test)]
mod tests;
