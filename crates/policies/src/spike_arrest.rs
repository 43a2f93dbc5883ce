//! `spike-arrest`: protects upstreams from traffic spikes by smoothing each caller's request rate.
//!
//! Apigee semantics: the rate is spread evenly over its period, so `10/s` admits at most one
//! request per 100 ms per identifier (not ten at once); `burst` relaxes that to N back-to-back
//! requests (GCRA, see [`gcra`]). Runs in the request phase (admit or reject with 429
//! `rate.exceeded`, `Retry-After` and the IETF `RateLimit`/`RateLimit-Policy` headers) and in the
//! response phase (the same `RateLimit` headers on admitted requests).
//!
//! State is local to this gateway instance and to this compiled instance: a config reload starts
//! every identifier afresh, which at worst admits one extra burst per identifier.

mod gcra;

use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use http::{HeaderName, HeaderValue};
use portcullis_core::{GatewayError, Rate};
use portcullis_policy::{Decision, Exchange, Phase, Policy};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::registry::{CompileCtx, CompileError, PolicyConfig};
use gcra::{Gcra, Verdict};

/// `RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers).
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit` (draft-ietf-httpapi-ratelimit-headers).
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

const KIND: &str = "spike-arrest";
const NANOS_PER_SEC: u64 = 1_000_000_000;
/// Caps state at a few hundred MB (about 20-40 bytes per identifier); the default of 100 000
/// takes a few MB.
const MAX_TRACKED_LIMIT: u32 = 10_000_000;

/// Config of `spike-arrest`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct SpikeArrestConfig {
    /// Allowed rate per identifier, spread evenly over the period: `10/s` admits one request
    /// every 100 ms, `30/m` one every 2 s.
    pub rate: Rate,
    /// Requests admitted back to back before smoothing applies; 1 (the default) means perfectly
    /// smoothed.
    #[serde(default = "default_burst")]
    #[schemars(range(min = 1))]
    pub burst: u32,
    /// Whose requests share a budget: `client_ip` (default), `app` or `key` (the app or credential
    /// found by `verify-api-key`; requests without one fall back to the client IP), or
    /// `header:<name>` (requests without the header fall back to the client IP; the value is
    /// client-controlled, so use it only when a trusted hop sets the header).
    #[serde(default = "default_identifier")]
    #[schemars(regex(pattern = r"^(client_ip|app|key|header:[!#$%&'*+.^_`|~0-9A-Za-z-]+)$"))]
    pub identifier: String,
    /// Most identifiers remembered at once, bounding memory under floods of distinct callers.
    /// Beyond it the identifiers closest to their full budget are forgotten, which may admit them
    /// up to `burst` requests early.
    #[serde(default = "default_max_tracked")]
    #[schemars(range(min = 1, max = MAX_TRACKED_LIMIT))]
    pub max_tracked: u32,
}

/// Source of time; injectable so tests never sleep.
pub trait Clock: Send + Sync + 'static {
    /// The current instant (monotonic).
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

/// The compiled policy.
pub struct SpikeArrest {
    identifier: Identifier,
    limiter: Gcra,
    hasher: foldhash::quality::RandomState,
    clock: Arc<dyn Clock>,
    base: Instant,
    policy_header: HeaderValue,
    detail: String,
}

/// Who shares a budget.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Identifier {
    ClientIp,
    App,
    Key,
    Header(HeaderName),
}

/// What an admitted (or, in monitor mode, rejected) request reports in its response headers.
/// Several spike arrests on one request keep the most restrictive (fewest remaining).
#[derive(Debug, Clone)]
struct RateLimitScratch {
    policy: HeaderValue,
    remaining: u64,
    reset_secs: u64,
}

fn default_burst() -> u32 {
    1
}
fn default_identifier() -> String {
    "client_ip".to_owned()
}
fn default_max_tracked() -> u32 {
    100_000
}

// === impl SpikeArrestConfig ===

impl PolicyConfig for SpikeArrestConfig {
    fn compile(self, ctx: &CompileCtx<'_>) -> Result<Arc<dyn Policy>, Vec<CompileError>> {
        Ok(self.build(ctx, Arc::new(SystemClock))?)
    }
}

impl SpikeArrestConfig {
    /// Compiles with an explicit clock (tests use a fake one).
    pub fn build(
        self,
        ctx: &CompileCtx<'_>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<SpikeArrest>, Vec<CompileError>> {
        let mut errors = Vec::new();
        if ctx.phase == Phase::Response {
            errors.push(CompileError::at(
                "",
                "spike-arrest guards requests; place it in a request list",
            ));
        }
        if self.burst == 0 {
            errors.push(CompileError::at("burst", "must be at least 1"));
        }
        if !(1..=MAX_TRACKED_LIMIT).contains(&self.max_tracked) {
            let message = format!("must be between 1 and {MAX_TRACKED_LIMIT}");
            errors.push(CompileError::at("max_tracked", message));
        }
        let identifier = parse_identifier(&self.identifier)
            .map_err(|message| errors.push(CompileError::at("identifier", message)))
            .ok();
        let per_ns = u64::try_from(self.rate.per.as_nanos()).unwrap_or(u64::MAX);
        let interval = per_ns / self.rate.count.max(1);
        let limiter = Gcra::new(interval, self.burst, self.max_tracked as usize);
        if limiter.is_none() {
            errors.push(CompileError::at("burst", "too large for this rate"));
        }
        let (Some(identifier), Some(limiter), true) = (identifier, limiter, errors.is_empty())
        else {
            return Err(errors);
        };
        let window = self.rate.per.as_secs().max(1);
        let policy_header =
            HeaderValue::try_from(format!("\"spike\";q={};w={window}", self.rate.count))
                .map_err(|_| vec![CompileError::at("rate", "cannot be rendered as a header")])?;
        Ok(Arc::new(SpikeArrest {
            identifier,
            limiter,
            hasher: foldhash::quality::RandomState::default(),
            base: clock.now(),
            clock,
            policy_header,
            detail: format!("limit: {} requests per {window}s", self.rate.count),
        }))
    }
}

fn parse_identifier(s: &str) -> Result<Identifier, String> {
    match s {
        "client_ip" => Ok(Identifier::ClientIp),
        "app" => Ok(Identifier::App),
        "key" => Ok(Identifier::Key),
        _ => match s.strip_prefix("header:") {
            Some(name) => HeaderName::try_from(name)
                .map(Identifier::Header)
                .map_err(|_| format!("invalid header name '{name}'")),
            None => Err(format!(
                "unknown identifier '{s}': use client_ip, app, key or header:<name>"
            )),
        },
    }
}

// === impl Clock ===

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

// === impl SpikeArrest ===

impl SpikeArrest {
    /// Identifiers currently remembered (bounded by `max_tracked`).
    pub fn tracked(&self) -> usize {
        self.limiter.tracked()
    }

    /// A well-mixed 64-bit key for the caller; each identifier kind is tagged so an app id can
    /// never share a budget with an equal header value. Hashes in place: no allocation.
    fn key(&self, ex: &Exchange) -> u64 {
        let mut h = self.hasher.build_hasher();
        let by_ip = |h: &mut foldhash::quality::FoldHasher<'_>, ip: IpAddr| {
            0u8.hash(h);
            ip.to_canonical().hash(h);
        };
        let identity = ex.ctx.identity.as_ref();
        match (&self.identifier, identity) {
            (Identifier::App, Some(id)) => (1u8, &*id.app_id).hash(&mut h),
            (Identifier::Key, Some(id)) => (2u8, &*id.credential).hash(&mut h),
            (Identifier::Header(name), _) => match ex.request.headers.get(name) {
                Some(value) => (3u8, value.as_bytes()).hash(&mut h),
                None => by_ip(&mut h, ex.ctx.client_ip),
            },
            _ => by_ip(&mut h, ex.ctx.client_ip),
        }
        h.finish()
    }

    fn now_ns(&self) -> u64 {
        let elapsed = self.clock.now().saturating_duration_since(self.base);
        u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
    }

    fn record(&self, ex: &mut Exchange, verdict: &Verdict) -> RateLimitScratch {
        let scratch = RateLimitScratch {
            policy: self.policy_header.clone(),
            remaining: verdict.remaining,
            reset_secs: ceil_secs(verdict.reset_ns),
        };
        let keep_existing = ex
            .request
            .extensions
            .get::<RateLimitScratch>()
            .is_some_and(|s| s.remaining <= scratch.remaining);
        if !keep_existing {
            ex.request.extensions.insert(scratch.clone());
        }
        scratch
    }
}

/// Whole seconds, rounded up, at least 1 (a `Retry-After: 0` invites an immediate retry storm).
fn ceil_secs(ns: u64) -> u64 {
    ns.div_ceil(NANOS_PER_SEC).max(1)
}

impl RateLimitScratch {
    /// `"spike";r=<remaining>;t=<reset>`, written into a stack buffer: `format!` and its
    /// `String` ran on every admitted request and showed in profiles.
    fn ratelimit_value(&self) -> HeaderValue {
        let mut buf = [0u8; 64];
        let mut len = 0;
        let mut put = |bytes: &[u8]| {
            buf[len..len + bytes.len()].copy_from_slice(bytes);
            len += bytes.len();
        };
        let mut digits = itoa::Buffer::new();
        put(b"\"spike\";r=");
        put(digits.format(self.remaining).as_bytes());
        put(b";t=");
        put(digits.format(self.reset_secs).as_bytes());
        HeaderValue::from_bytes(&buf[..len]).expect("digits and quotes are valid header bytes")
    }
}

#[async_trait]
impl Policy for SpikeArrest {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn on_request(&self, ex: &mut Exchange) -> Result<Decision, GatewayError> {
        let verdict = self.limiter.check(self.key(ex), self.now_ns());
        let scratch = self.record(ex, &verdict);
        if verdict.admitted {
            return Ok(Decision::Continue);
        }
        Err(GatewayError::rate_exceeded()
            .with_detail(self.detail.clone())
            .with_header(
                http::header::RETRY_AFTER,
                ceil_secs(verdict.retry_ns).into(),
            )
            .with_header(RATELIMIT_POLICY, scratch.policy.clone())
            .with_header(RATELIMIT, scratch.ratelimit_value()))
    }

    async fn on_response(&self, ex: &mut Exchange) -> Result<Decision, GatewayError> {
        let Some(scratch) = ex.request.extensions.get::<RateLimitScratch>() else {
            return Ok(Decision::Continue);
        };
        let (policy, value) = (scratch.policy.clone(), scratch.ratelimit_value());
        if let Some(response) = ex.response.as_mut() {
            response.headers.insert(RATELIMIT_POLICY, policy);
            response.headers.insert(RATELIMIT, value);
        }
        Ok(Decision::Continue)
    }

    fn has_response_phase(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests;
