//! The external configuration model: exactly what the YAML file may contain. Only this module
//! knows the file's serde shape; everything else works on the compiled [`crate::Snapshot`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use portcullis_core::{ByteSize, DurationSpec};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Where the gateway accepts API traffic. At least one.
    pub listeners: Vec<Listener>,
    /// The admin listener (metrics, health, reload). Defaults to 127.0.0.1:9080.
    #[serde(default)]
    pub admin: Admin,
    /// Where apps and API keys are stored. Defaults to `sqlite: data/portcullis.db`.
    #[serde(default)]
    pub store: Store,
    /// Safe limits applied at the edge, before routing.
    #[serde(default)]
    pub limits: Limits,
    /// Peers (load balancers, CDNs) whose `X-Forwarded-For` / `Forwarded` / `X-Request-Id`
    /// headers are trusted. Client-supplied forwarding headers from anyone else are replaced.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// JSON access log, one line per request.
    #[serde(default)]
    pub access_log: AccessLog,
    /// Policies run around every API (shared flows / flow hooks).
    #[serde(default)]
    pub hooks: Hooks,
    /// The APIs (proxies) this gateway serves.
    #[serde(default)]
    pub apis: Vec<Api>,
    /// Declares the environments (e.g. `[test, prod]`). Optional: when present, every
    /// environment a listener or an API names must be listed here, so a typo cannot deploy an
    /// API nowhere. Names: lower-case letters, digits and `-`, starting with a letter or
    /// digit, at most 63 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environments: Option<Vec<String>>,
    /// The built-in OAuth 2.0 / OpenID Connect authorization server (absent: not started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_server: Option<crate::authorization_server::AuthorizationServer>,
}

/// A listening socket for API traffic.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// Unique name, used in logs and metrics.
    pub name: String,
    /// `IP:port` to bind, e.g. `0.0.0.0:8080`.
    pub address: String,
    /// Terminate TLS here (HTTP/2 and HTTP/1.1 negotiated by ALPN). Without it the listener
    /// speaks HTTP/1.1 and HTTP/2 with prior knowledge (h2c).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ListenerTls>,
    /// The environment this listener serves: only APIs deployed to it are routed here, and API
    /// products are checked against it. Changing it needs a restart.
    #[serde(default = "default_environment")]
    pub environment: String,
}

/// The environment of a listener that does not name one.
pub const DEFAULT_ENVIRONMENT: &str = "default";

fn default_environment() -> String {
    DEFAULT_ENVIRONMENT.into()
}

/// TLS certificate files of a listener (PEM). Relative paths are relative to the config file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListenerTls {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM bundle of the CAs trusted for client certificates (mutual TLS). When set, clients
    /// are asked for a certificate, a presented one must chain to these CAs, and its SHA-256
    /// thumbprint is available to policies (certificate-bound OAuth tokens, RFC 8705).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
    /// `optional` (default when `client_ca` is set: connections without a certificate are
    /// accepted) or `required` (the handshake fails without one). Needs `client_ca`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_auth: Option<crate::client_certs::ClientAuthMode>,
}

/// The admin listener.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    /// `IP:port` to bind. Keep it on loopback or a private network.
    #[serde(default = "default_admin_address")]
    pub address: String,
}

impl Default for Admin {
    fn default() -> Self {
        Self {
            address: default_admin_address(),
        }
    }
}

fn default_admin_address() -> String {
    "127.0.0.1:9080".into()
}

/// The store backend: exactly one of `sqlite: <file>` (default `data/portcullis.db`, relative to
/// the config file, created on first run) or `postgres: <url>` (several nodes sharing one store).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum Store {
    /// SQLite database file (created on first run), relative to the config file. The embedded
    /// default: one node.
    Sqlite(PathBuf),
    /// PostgreSQL connection URL (`postgres://user@host:5432/db`), for several gateway nodes
    /// sharing one store. Changes reach every node through LISTEN/NOTIFY.
    Postgres(String),
}

impl Default for Store {
    fn default() -> Self {
        Self::Sqlite(PathBuf::from("data/portcullis.db"))
    }
}

/// Edge limits, checked on every request before routing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Time allowed to receive the whole request head (slowloris defence). The clock also runs
    /// while a keep-alive connection waits for its next request, so it is the idle keep-alive
    /// timeout too.
    pub header_read_timeout: DurationSpec,
    /// Longest request target (path + query), answered with 414.
    pub max_uri_length: ByteSize,
    /// Largest request header block, answered with 431.
    pub max_header_bytes: ByteSize,
    /// Most request header fields, answered with 431.
    pub max_headers: u32,
    /// Default body limit of every API (an API's `max_body` overrides it), answered with 413.
    pub max_body: ByteSize,
    /// Accept header names containing `_` (rejected by default: they are a header-smuggling
    /// vector through proxies that map `_` and `-` to the same CGI variable).
    pub allow_underscores_in_headers: bool,
    /// Accept `X-HTTP-Method-Override`, `X-HTTP-Method` and `X-Method-Override` naming another
    /// method than the request's, and a `POST`'s `_method` query parameter (refused by
    /// default: flows, API products and scopes judge the request's method, while back ends that
    /// honour them run the other one, so a `POST` allowed to a key would delete with
    /// `X-HTTP-Method-Override: DELETE`). One naming the request's own method is always
    /// accepted.
    pub allow_method_override: bool,
    /// Time allowed for in-flight requests to finish on shutdown.
    pub shutdown_grace: DurationSpec,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: DurationSpec(std::time::Duration::from_secs(10)),
            max_uri_length: ByteSize(8 << 10),
            max_header_bytes: ByteSize(64 << 10),
            max_headers: 100,
            max_body: ByteSize(10 << 20),
            allow_underscores_in_headers: false,
            allow_method_override: false,
            shutdown_grace: DurationSpec(std::time::Duration::from_secs(30)),
        }
    }
}

/// Access log settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AccessLog {
    /// Write one JSON line per request to standard output.
    pub enabled: bool,
}

impl Default for AccessLog {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// One policy: a map with exactly one key, the policy kind, whose value is its config
/// (which may include `mode: enforce | monitor`). See docs/configuration.md for every kind.
pub type PolicySpec = BTreeMap<String, serde_json::Value>;

/// Policies run before and after every API.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    /// Request-phase policies run before any API's own.
    #[serde(default)]
    pub pre_api: Vec<PolicySpec>,
    /// Response-phase policies run after any API's own.
    #[serde(default)]
    pub post_api: Vec<PolicySpec>,
}

/// Request and response policy lists.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policies {
    /// Run in order on the request, before it goes upstream.
    #[serde(default)]
    pub request: Vec<PolicySpec>,
    /// Run in order on the response, before it goes to the client.
    #[serde(default)]
    pub response: Vec<PolicySpec>,
}

/// An API (an Apigee "proxy", a Kong "service + route").
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Api {
    /// Unique name (letters, digits, `-`, `_`).
    pub name: String,
    /// Path prefix that selects this API, e.g. `/orders/v1`. The longest matching prefix wins.
    pub base_path: String,
    /// Host names this API answers for (exact, or `*.example.com`), matched without case, port or
    /// a trailing dot; an absolute-form request target's host wins over `Host`. Empty: any host.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Environments this API is deployed to (e.g. `[test, prod]`): it is routed only on
    /// listeners of these environments. Absent: every environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environments: Option<Vec<String>>,
    /// Remove the base path before forwarding (`/orders/v1/x` → target path + `/x`).
    #[serde(default = "yes")]
    pub strip_base_path: bool,
    /// Body limit for this API (default: `limits.max_body`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body: Option<ByteSize>,
    /// Where requests go.
    pub upstream: Upstream,
    /// The API's own policies.
    #[serde(default)]
    pub policies: Policies,
    /// Conditional flows: the first whose `match` fits runs its policies after the API's.
    #[serde(default)]
    pub flows: Vec<Flow>,
}

fn yes() -> bool {
    true
}

/// A conditional flow.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    /// Name, shown in logs and metrics.
    pub name: String,
    /// When this flow applies.
    #[serde(rename = "match")]
    pub matcher: FlowMatch,
    /// Policies of this flow.
    #[serde(default)]
    pub policies: Policies,
}

/// Flow condition: method(s) and a path template relative to the base path.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowMatch {
    /// One method or a list (`GET`, `[GET, HEAD]`). Absent: any method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<OneOrMany>,
    /// Path template: literal segments, `{name}` for one segment, `*` for one segment,
    /// `**` (last) for any remainder. Absent: any path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// A string or a list of strings.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl OneOrMany {
    /// As a list.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s.clone()],
            Self::Many(v) => v.clone(),
        }
    }
}

/// Upstream targets and how to talk to them.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    /// Target base URLs (`http://host:port[/path]` or `https://...`), balanced round robin.
    pub targets: Vec<String>,
    /// Timeouts.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Active health checks (off unless set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// Passive health: eject a target after consecutive connect failures.
    #[serde(default)]
    pub passive: Passive,
    /// How many other targets to try when retrying is safe (connect failure; or an idempotent
    /// method whose request could be replayed and got no response).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Idle keep-alive connections kept per target.
    #[serde(default = "default_pool")]
    pub max_idle_per_target: usize,
}

fn default_retries() -> u32 {
    1
}

fn default_pool() -> usize {
    256
}

/// Upstream timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// TCP (and TLS) connect timeout: failure → 502 or retry on another target.
    pub connect: DurationSpec,
    /// Time until the upstream's response headers arrive: exceeded → 504.
    pub request: DurationSpec,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: DurationSpec(std::time::Duration::from_secs(2)),
            request: DurationSpec(std::time::Duration::from_secs(30)),
        }
    }
}

/// Active health check.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// Path requested with GET on each target; 2xx/3xx is healthy.
    pub path: String,
    /// Time between checks.
    #[serde(default = "default_hc_interval")]
    pub interval: DurationSpec,
    /// Timeout of one check.
    #[serde(default = "default_hc_timeout")]
    pub timeout: DurationSpec,
    /// Consecutive failures that mark a target down.
    #[serde(default = "default_threshold")]
    pub unhealthy_threshold: u32,
    /// Consecutive successes that mark it up again.
    #[serde(default = "default_threshold")]
    pub healthy_threshold: u32,
}

fn default_hc_interval() -> DurationSpec {
    DurationSpec(std::time::Duration::from_secs(5))
}
fn default_hc_timeout() -> DurationSpec {
    DurationSpec(std::time::Duration::from_secs(2))
}
fn default_threshold() -> u32 {
    2
}

/// Passive health settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Passive {
    /// Consecutive connect failures before ejection.
    pub failures: u32,
    /// How long an ejected target is skipped.
    pub ejection: DurationSpec,
}

impl Default for Passive {
    fn default() -> Self {
        Self {
            failures: 3,
            ejection: DurationSpec(std::time::Duration::from_secs(30)),
        }
    }
}
