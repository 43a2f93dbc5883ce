//! Validation and compilation: file text → [`Snapshot`], or every error with its path and line.
//! Nothing is half-applied: the snapshot exists only if the whole file is valid.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use ipnet::IpNet;
use portcullis_policies::{CompileCtx, PolicyDeps, compile_policy};
use portcullis_policy::{Phase, Pipeline, PipelineEntry};
use serde_json::Value;

use crate::error::{Collector, ConfigError, ConfigErrors, relative_pointer};
use crate::model::{self, FileConfig, PolicySpec};
use crate::snapshot::{
    ApiRoute, EdgeLimits, FlowRoute, HealthSpec, HostPattern, ListenerSpec, ServerSettings,
    Snapshot, StoreSpec, TargetSpec, UpstreamSpec,
};
use crate::template::PathTemplate;
use crate::{schema, yaml};

/// Reads, validates and compiles a config file. Relative paths in it (TLS files, SQLite) are
/// resolved against the file's directory.
pub fn load_file(path: &Path, deps: &PolicyDeps) -> Result<Snapshot, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            path: String::new(),
            line: None,
            message: format!("cannot read {}: {e}", path.display()),
        }])
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    compile_str(&text, base, deps)
}

/// Validates and compiles config text.
pub fn compile_str(text: &str, base: &Path, deps: &PolicyDeps) -> Result<Snapshot, ConfigErrors> {
    let (value, lines) = yaml::parse(text).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            path: String::new(),
            line: Some(e.line),
            message: format!("invalid YAML: {}", e.message),
        }])
    })?;
    let mut errs = Collector::new(&lines);
    check_structure(&value, &mut errs);
    errs.finish()?;
    let mut errs = Collector::new(&lines);
    let file: FileConfig = match serde_path_to_error::deserialize(value) {
        Ok(f) => f,
        Err(e) => {
            let pointer = relative_pointer(&e.path().to_string());
            errs.at(&pointer, e.into_inner().to_string());
            return Err(errs.finish().expect_err("an error was just recorded"));
        }
    };
    let snapshot = Compiler {
        errs: &mut errs,
        deps,
        base,
    }
    .compile(&file);
    errs.finish()?;
    Ok(snapshot)
}

fn structural_validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        jsonschema::validator_for(&schema::structural())
            .expect("the generated config schema should be a valid JSON Schema")
    })
}

fn check_structure(value: &Value, errs: &mut Collector<'_>) {
    for e in structural_validator().iter_errors(value) {
        errs.at(e.instance_path().as_str(), e.to_string());
    }
}

struct Compiler<'c, 'l> {
    errs: &'c mut Collector<'l>,
    deps: &'c PolicyDeps,
    base: &'c Path,
}

impl Compiler<'_, '_> {
    fn compile(&mut self, f: &FileConfig) -> Snapshot {
        let declared = self.declared_environments(f);
        let server = self.server(f, declared.as_deref());
        let trusted_proxies = f
            .trusted_proxies
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                parse_net(s)
                    .map_err(|m| self.errs.at(&format!("/trusted_proxies/{i}"), m))
                    .ok()
            })
            .collect();
        let pre = self.policies(&f.hooks.pre_api, "/hooks/pre_api", Phase::Request);
        let post = self.policies(&f.hooks.post_api, "/hooks/post_api", Phase::Response);
        let mut names = HashSet::new();
        let mut routes = RouteKeys::default();
        let mut apis = Vec::new();
        for (i, api) in f.apis.iter().enumerate() {
            let at = format!("/apis/{i}");
            if !names.insert(api.name.as_str()) {
                self.errs.at(
                    &format!("{at}/name"),
                    format!("duplicate API name '{}'", api.name),
                );
            }
            let environments = self.api_environments(api, &at, declared.as_deref());
            if let Some(route) = self.api(api, &at, f, &pre, &post, environments) {
                if let Some(other) = routes.claim(&route, &api.hosts) {
                    self.errs.at(
                        &format!("{at}/base_path"),
                        format!(
                            "another API ('{other}') already serves base path '{}' for the same hosts in {}",
                            route.base_path,
                            if route.environments.is_some() {
                                "an overlapping environment"
                            } else {
                                "every environment"
                            }
                        ),
                    );
                }
                apis.push(route);
            }
        }
        apis.sort_by(|a: &ApiRoute, b| {
            b.base_path
                .len()
                .cmp(&a.base_path.len())
                .then(b.hosts.is_empty().cmp(&a.hosts.is_empty()).reverse())
        });
        let apis = apis
            .into_iter()
            .enumerate()
            .map(|(index, api)| Arc::new(ApiRoute { index, ..api }))
            .collect();
        let l = &f.limits;
        Snapshot {
            server,
            limits: EdgeLimits {
                header_read_timeout: l.header_read_timeout.0,
                max_uri_length: to_usize(l.max_uri_length.0),
                max_header_bytes: to_usize(l.max_header_bytes.0),
                max_headers: l.max_headers as usize,
                reject_underscore_headers: !l.allow_underscores_in_headers,
                reject_method_override: !l.allow_method_override,
                shutdown_grace: l.shutdown_grace.0,
            },
            trusted_proxies,
            access_log: f.access_log.enabled,
            apis,
            environments: declared,
        }
    }

    fn server(&mut self, f: &FileConfig, declared: Option<&[Arc<str>]>) -> ServerSettings {
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        if f.listeners.is_empty() {
            self.errs
                .at("/listeners", "at least one listener is required");
        }
        let mut names = HashSet::new();
        let mut addrs = HashSet::new();
        let mut listeners = Vec::new();
        for (i, l) in f.listeners.iter().enumerate() {
            let at = format!("/listeners/{i}");
            if !names.insert(l.name.as_str()) {
                self.errs.at(
                    &format!("{at}/name"),
                    format!("duplicate listener name '{}'", l.name),
                );
            }
            let address = self.addr(&l.address, &format!("{at}/address"));
            if let Some(a) = address
                && a.port() != 0
                && !addrs.insert(a)
            {
                self.errs.at(
                    &format!("{at}/address"),
                    format!("address {a} is used twice"),
                );
            }
            self.environment_ref(&l.environment, &format!("{at}/environment"), declared);
            let mut spec = ListenerSpec::from_model(l, address.unwrap_or(unspecified), self.base);
            if let Some(t) = &l.tls {
                spec.client_certs = crate::client_certs::compile(
                    t.client_ca.as_deref(),
                    t.client_auth,
                    self.base,
                    &format!("{at}/tls"),
                    self.errs,
                );
            }
            if let Some((cert, key)) = &spec.tls {
                for (file, field) in [(cert, "cert"), (key, "key")] {
                    if !file.is_file() {
                        self.errs.at(
                            &format!("{at}/tls/{field}"),
                            format!("file not found: {}", file.display()),
                        );
                    }
                }
            }
            listeners.push(spec);
        }
        let admin = self
            .addr(&f.admin.address, "/admin/address")
            .unwrap_or(unspecified);
        let authorization_server = f
            .authorization_server
            .as_ref()
            .and_then(|a| crate::authorization_server::compile(a, self.base, self.errs));
        ServerSettings {
            listeners,
            admin,
            authorization_server,
            store: match &f.store {
                model::Store::Sqlite(path) => StoreSpec::Sqlite(self.base.join(path)),
                model::Store::Postgres(url) => {
                    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                        self.errs.at("/store/postgres", "must be a postgres:// URL");
                    }
                    StoreSpec::Postgres(url.clone())
                }
            },
        }
    }

    fn addr(&mut self, s: &str, at: &str) -> Option<SocketAddr> {
        s.parse()
            .map_err(|_| {
                self.errs
                    .at(at, format!("invalid address '{s}': expected IP:port"))
            })
            .ok()
    }

    fn policies(&mut self, specs: &[PolicySpec], at: &str, phase: Phase) -> Vec<PipelineEntry> {
        let ctx = CompileCtx {
            phase,
            deps: self.deps,
            base_dir: self.base,
        };
        let mut out = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let item = format!("{at}/{i}");
            let mut entries = spec.iter();
            let (Some((kind, config)), None) = (entries.next(), entries.next()) else {
                self.errs
                    .at(&item, "a policy is a map with exactly one key: its kind");
                continue;
            };
            match compile_policy(kind, config.clone(), &ctx) {
                Ok(entry) => out.push(entry),
                Err(errors) => {
                    for e in errors {
                        let sub = relative_pointer(&e.path);
                        let at = if e.message.starts_with("unknown policy kind") {
                            item.clone()
                        } else {
                            format!("{item}/{kind}{sub}")
                        };
                        self.errs.at(&at, e.message);
                    }
                }
            }
        }
        out
    }

    fn api(
        &mut self,
        api: &model::Api,
        at: &str,
        f: &FileConfig,
        pre: &[PipelineEntry],
        post: &[PipelineEntry],
        environments: Option<Vec<Arc<str>>>,
    ) -> Option<ApiRoute> {
        if api.name.is_empty()
            || !api
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            self.errs.at(
                &format!("{at}/name"),
                "must be non-empty and use only letters, digits, '-' and '_'",
            );
        }
        let base_path = self.base_path(&api.base_path, &format!("{at}/base_path"));
        let hosts = self.hosts(&api.hosts, &format!("{at}/hosts"));
        let upstream = self.upstream(&api.upstream, &format!("{at}/upstream"));
        let api_req = self.policies(
            &api.policies.request,
            &format!("{at}/policies/request"),
            Phase::Request,
        );
        let api_resp = self.policies(
            &api.policies.response,
            &format!("{at}/policies/response"),
            Phase::Response,
        );
        let pipeline = Arc::new(Pipeline::new(
            concat(&[pre, &api_req]),
            concat(&[&api_resp, post]),
        ));
        let mut flow_names = HashSet::new();
        let mut flows = Vec::new();
        for (j, flow) in api.flows.iter().enumerate() {
            let fat = format!("{at}/flows/{j}");
            if !flow_names.insert(flow.name.as_str()) {
                self.errs.at(
                    &format!("{fat}/name"),
                    format!("duplicate flow name '{}'", flow.name),
                );
            }
            let methods = flow.matcher.method.as_ref().map(|m| {
                m.to_vec()
                    .iter()
                    .filter_map(|s| {
                        let upper = s.to_ascii_uppercase();
                        http::Method::from_bytes(upper.as_bytes())
                            .map_err(|_| {
                                self.errs.at(
                                    &format!("{fat}/match/method"),
                                    format!("invalid method '{s}'"),
                                )
                            })
                            .ok()
                    })
                    .collect()
            });
            let path = flow.matcher.path.as_ref().and_then(|p| {
                PathTemplate::parse(p)
                    .map_err(|m| self.errs.at(&format!("{fat}/match/path"), m))
                    .ok()
            });
            let req = self.policies(
                &flow.policies.request,
                &format!("{fat}/policies/request"),
                Phase::Request,
            );
            let resp = self.policies(
                &flow.policies.response,
                &format!("{fat}/policies/response"),
                Phase::Response,
            );
            flows.push(FlowRoute {
                name: flow.name.as_str().into(),
                methods,
                path,
                pipeline: Arc::new(Pipeline::new(
                    concat(&[pre, &api_req, &req]),
                    concat(&[&resp, &api_resp, post]),
                )),
            });
        }
        Some(ApiRoute {
            index: 0,
            name: api.name.as_str().into(),
            hosts,
            base_path: base_path?.into(),
            environments,
            strip_base_path: api.strip_base_path,
            max_body: api.max_body.unwrap_or(f.limits.max_body).0,
            upstream: Arc::new(upstream?),
            pipeline,
            flows,
        })
    }

    fn base_path(&mut self, raw: &str, at: &str) -> Option<String> {
        if !raw.starts_with('/') || raw.contains(['?', '#', '%', '\\']) || raw.contains("//") {
            self.errs.at(at, format!("base path '{raw}' must start with '/' and contain no '?', '#', '%', '\\' or '//'"));
            return None;
        }
        if raw.split('/').any(|s| s == "." || s == "..") {
            self.errs.at(
                at,
                format!("base path '{raw}' must not contain dot segments"),
            );
            return None;
        }
        let trimmed = raw.trim_end_matches('/');
        Some(if trimmed.is_empty() {
            "/".into()
        } else {
            trimmed.into()
        })
    }

    fn hosts(&mut self, hosts: &[String], at: &str) -> Vec<HostPattern> {
        hosts
            .iter()
            .enumerate()
            .filter_map(|(i, h)| {
                let h = h.to_ascii_lowercase();
                let (pattern, name) = match h.strip_prefix("*.") {
                    Some(rest) => (HostPattern::Suffix(format!(".{rest}")), rest.to_owned()),
                    None => (HostPattern::Exact(h.clone()), h.clone()),
                };
                let valid = !name.is_empty()
                    && name.split('.').all(|l| {
                        !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    });
                if valid {
                    Some(pattern)
                } else {
                    self.errs.at(
                        &format!("{at}/{i}"),
                        format!("invalid host '{h}' (use a name or *.name, without port)"),
                    );
                    None
                }
            })
            .collect()
    }

    fn upstream(&mut self, u: &model::Upstream, at: &str) -> Option<UpstreamSpec> {
        if u.targets.is_empty() {
            self.errs
                .at(&format!("{at}/targets"), "at least one target is required");
        }
        let mut seen = HashMap::new();
        let mut targets = Vec::new();
        for (i, raw) in u.targets.iter().enumerate() {
            match parse_target(raw) {
                Ok(t) => {
                    if let Some(j) = seen.insert(t.origin(), i) {
                        self.errs.at(
                            &format!("{at}/targets/{i}"),
                            format!("duplicate of targets[{j}]"),
                        );
                    }
                    targets.push(t);
                }
                Err(m) => self.errs.at(&format!("{at}/targets/{i}"), m),
            }
        }
        for (field, d) in [
            ("connect", u.timeouts.connect),
            ("request", u.timeouts.request),
        ] {
            if d.0.is_zero() {
                self.errs.at(
                    &format!("{at}/timeouts/{field}"),
                    "must be greater than zero",
                );
            }
        }
        let health = u.health_check.as_ref().map(|h| {
            if !h.path.starts_with('/') {
                self.errs
                    .at(&format!("{at}/health_check/path"), "must start with '/'");
            }
            if h.interval.0.is_zero() {
                self.errs.at(
                    &format!("{at}/health_check/interval"),
                    "must be greater than zero",
                );
            }
            HealthSpec {
                path: h.path.clone(),
                interval: h.interval.0,
                timeout: h.timeout.0,
                unhealthy_threshold: h.unhealthy_threshold.max(1),
                healthy_threshold: h.healthy_threshold.max(1),
            }
        });
        if targets.len() != u.targets.len() || targets.is_empty() {
            return None;
        }
        Some(UpstreamSpec {
            targets,
            connect_timeout: u.timeouts.connect.0,
            request_timeout: u.timeouts.request.0,
            health,
            eject_after_failures: u.passive.failures.max(1),
            ejection: u.passive.ejection.0,
            retries: u.retries,
            max_idle_per_target: u.max_idle_per_target,
        })
    }
}

fn concat(parts: &[&[PipelineEntry]]) -> Vec<PipelineEntry> {
    parts.iter().flat_map(|p| p.iter().cloned()).collect()
}

fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// Parses `10.0.0.0/8`, `10.1.2.3` or `::1` as a network.
pub(crate) fn parse_net(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("invalid IP or CIDR '{s}'"))
}

fn parse_target(raw: &str) -> Result<TargetSpec, String> {
    let uri: http::Uri = raw
        .parse()
        .map_err(|_| format!("invalid target URL '{raw}'"))?;
    let scheme = uri
        .scheme()
        .filter(|s| **s == http::uri::Scheme::HTTP || **s == http::uri::Scheme::HTTPS)
        .ok_or_else(|| format!("target '{raw}' must start with http:// or https://"))?
        .clone();
    let authority = uri
        .authority()
        .ok_or_else(|| format!("target '{raw}' has no host"))?
        .clone();
    if authority.as_str().contains('@') {
        return Err(format!("target '{raw}' must not contain credentials"));
    }
    if uri.query().is_some() {
        return Err(format!("target '{raw}' must not contain a query"));
    }
    let authority = if authority.port().is_some() {
        authority
    } else {
        let port = if scheme == http::uri::Scheme::HTTPS {
            443
        } else {
            80
        };
        format!("{}:{port}", authority.host())
            .parse()
            .map_err(|_| format!("invalid target host in '{raw}'"))?
    };
    Ok(TargetSpec {
        scheme,
        authority,
        base_path: uri.path().trim_end_matches('/').to_owned(),
    })
}

mod environments;
use environments::RouteKeys;

#[cfg(test)]
mod tests;
