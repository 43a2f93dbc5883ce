//! The compiled, immutable configuration the data plane runs on. Built once per config version
//! and swapped atomically; a request sees one snapshot from start to end.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use ipnet::IpNet;
use portcullis_policy::Pipeline;

use crate::model::Listener;
use crate::template::PathTemplate;

/// Edge limits in runtime units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeLimits {
    /// Whole request head must arrive within this.
    pub header_read_timeout: Duration,
    /// Longest request target.
    pub max_uri_length: usize,
    /// Largest header block (sum of name + value + 4 per field).
    pub max_header_bytes: usize,
    /// Most header fields.
    pub max_headers: usize,
    /// Reject header names containing `_`.
    pub reject_underscore_headers: bool,
    /// Reject method-override headers naming another method than the request's.
    pub reject_method_override: bool,
    /// Grace period on shutdown.
    pub shutdown_grace: Duration,
}

/// Process-level settings that a reload cannot change (they need a restart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// API listeners.
    pub listeners: Vec<ListenerSpec>,
    /// Admin listener address.
    pub admin: SocketAddr,
    /// The store.
    pub store: StoreSpec,
    /// The built-in authorization server, if configured.
    pub authorization_server: Option<crate::AuthorizationServerSpec>,
}

/// Where credentials live.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreSpec {
    /// SQLite file (absolute or relative to the working directory).
    Sqlite(PathBuf),
    /// PostgreSQL URL (may carry a password: never printed).
    Postgres(String),
}

impl std::fmt::Debug for StoreSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(p) => write!(f, "Sqlite({})", p.display()),
            Self::Postgres(_) => f.write_str("Postgres(<url redacted>)"),
        }
    }
}

/// A listener with resolved paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSpec {
    /// Name.
    pub name: String,
    /// Bind address.
    pub address: SocketAddr,
    /// Certificate and key paths, resolved against the config file's directory.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Client certificates (mutual TLS), when `tls.client_ca` is set.
    pub client_certs: Option<crate::client_certs::ClientCertSpec>,
    /// The environment it serves (`default` unless configured).
    pub environment: Arc<str>,
}

impl ListenerSpec {
    pub(crate) fn from_model(l: &Listener, address: SocketAddr, base: &std::path::Path) -> Self {
        Self {
            name: l.name.clone(),
            address,
            tls: l
                .tls
                .as_ref()
                .map(|t| (base.join(&t.cert), base.join(&t.key))),
            // Filled in by the compiler, which validates the CA bundle.
            client_certs: None,
            environment: l.environment.as_str().into(),
        }
    }
}

/// The compiled configuration.
#[derive(Debug)]
pub struct Snapshot {
    /// Settings that need a restart to change.
    pub server: ServerSettings,
    /// Edge limits.
    pub limits: EdgeLimits,
    /// Peers whose forwarding headers are trusted.
    pub trusted_proxies: Vec<IpNet>,
    /// Whether to write access log lines.
    pub access_log: bool,
    /// APIs in routing order (longest base path first; host-specific before host-less).
    pub apis: Vec<Arc<ApiRoute>>,
    /// The top-level `environments` declaration, if the file has one.
    pub environments: Option<Vec<Arc<str>>>,
}

/// One upstream target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetSpec {
    /// `http` or `https`.
    pub scheme: http::uri::Scheme,
    /// `host:port`.
    pub authority: http::uri::Authority,
    /// Path prefix prepended to forwarded paths (no trailing slash; empty for none).
    pub base_path: String,
}

impl TargetSpec {
    /// `scheme://authority` (used as a stable key for health state).
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }
}

/// Active health-check settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HealthSpec {
    /// Path to GET.
    pub path: String,
    /// Interval.
    pub interval: Duration,
    /// Per-check timeout.
    pub timeout: Duration,
    /// Failures to mark down.
    pub unhealthy_threshold: u32,
    /// Successes to mark up.
    pub healthy_threshold: u32,
}

/// An upstream: targets and how to reach them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSpec {
    /// Targets, balanced round robin.
    pub targets: Vec<TargetSpec>,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Time to response headers.
    pub request_timeout: Duration,
    /// Active checks.
    pub health: Option<HealthSpec>,
    /// Consecutive connect failures before passive ejection.
    pub eject_after_failures: u32,
    /// Ejection duration.
    pub ejection: Duration,
    /// Extra targets to try when safe.
    pub retries: u32,
    /// Idle connections per target.
    pub max_idle_per_target: usize,
}

/// Host condition of an API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// Exact host (lower case, no port).
    Exact(String),
    /// `*.example.com`: stored as `.example.com`.
    Suffix(String),
}

impl HostPattern {
    fn matches(&self, host: &str) -> bool {
        match self {
            Self::Exact(h) => h == host,
            Self::Suffix(s) => host.len() > s.len() && host.ends_with(s.as_str()),
        }
    }
}

/// A compiled API.
#[derive(Debug)]
pub struct ApiRoute {
    /// Position in [`Snapshot::apis`], so per-API runtime state can live in a parallel vector.
    pub index: usize,
    /// Name.
    pub name: Arc<str>,
    /// Hosts (empty: any).
    pub hosts: Vec<HostPattern>,
    /// Base path, normalised, without trailing slash (`/` alone for the root).
    pub base_path: Arc<str>,
    /// Environments the API is deployed to (None: every environment).
    pub environments: Option<Vec<Arc<str>>>,
    /// Strip the base path before forwarding.
    pub strip_base_path: bool,
    /// Body limit in bytes.
    pub max_body: u64,
    /// Upstream.
    pub upstream: Arc<UpstreamSpec>,
    /// Policies when no flow matches (hooks + API).
    pub pipeline: Arc<Pipeline>,
    /// Flows in order.
    pub flows: Vec<FlowRoute>,
}

/// A compiled flow.
#[derive(Debug)]
pub struct FlowRoute {
    /// Name.
    pub name: Arc<str>,
    /// Methods (None: any).
    pub methods: Option<Vec<Method>>,
    /// Path template relative to the base path (None: any).
    pub path: Option<PathTemplate>,
    /// Policies (hooks + API + flow).
    pub pipeline: Arc<Pipeline>,
}

impl Snapshot {
    /// Finds the API deployed to `environment` (the listener's) for a host (lower case, without
    /// port) and a normalised path. APIs of other environments are invisible: the request gets
    /// the same "no route" answer as for a path no API serves.
    pub fn route(
        &self,
        environment: &str,
        host: Option<&str>,
        path: &str,
    ) -> Option<&Arc<ApiRoute>> {
        self.apis.iter().find(|api| {
            let host_ok = api.hosts.is_empty()
                || host.is_some_and(|h| api.hosts.iter().any(|p| p.matches(h)));
            host_ok && api.deployed_to(environment) && api.remainder(path).is_some()
        })
    }
}

impl ApiRoute {
    /// Whether the API is deployed to `environment`.
    pub fn deployed_to(&self, environment: &str) -> bool {
        self.environments
            .as_ref()
            .is_none_or(|envs| envs.iter().any(|e| &**e == environment))
    }

    /// The path below the base path (`/orders/v1/a` → `/a`, `/orders/v1` → ``), if it matches
    /// on a segment boundary.
    pub fn remainder<'p>(&self, path: &'p str) -> Option<&'p str> {
        if &*self.base_path == "/" {
            return Some(path);
        }
        let rest = path.strip_prefix(&*self.base_path)?;
        (rest.is_empty() || rest.starts_with('/')).then_some(rest)
    }

    /// First flow matching the method and the path relative to the base path.
    pub fn flow(&self, method: &Method, relative: &str) -> Option<&FlowRoute> {
        let relative = if relative.is_empty() { "/" } else { relative };
        self.flows.iter().find(|f| {
            f.methods.as_ref().is_none_or(|m| m.contains(method))
                && f.path.as_ref().is_none_or(|t| t.matches(relative))
        })
    }
}
