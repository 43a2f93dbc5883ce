//! A remote JWKS, fetched over HTTP(S) and cached.
//!
//! - The current [`KeySet`] lives in an `ArcSwap`: the hot path is one atomic load.
//! - Freshness follows the response's `Cache-Control: max-age`, clamped to
//!   [`JwksOptions::min_ttl`]..[`JwksOptions::max_ttl`]. A stale set keeps serving while one
//!   background fetch replaces it.
//! - A token with an unknown `kid` may trigger a refresh, but fetches are at least
//!   [`JwksOptions::refresh_interval`] apart, whatever triggered them: spraying random kids costs
//!   the issuer at most one request per interval, and concurrent requests share one fetch.
//! - A failed fetch (network, status, size, timeout, parse, or a set without usable keys) keeps
//!   the last good set.
//! - Redirects are not followed; responses are bounded in size and time.

mod fetch;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;

pub use self::fetch::parse_max_age;
use crate::error::{KeyError, VerifyError};
use crate::keys::KeySet;

/// Tuning of a [`JwksCache`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JwksOptions {
    /// Shortest time a fetched set is considered fresh (also used for `no-cache`/`no-store`).
    pub min_ttl: Duration,
    /// Longest time a fetched set is considered fresh, whatever `max-age` says.
    pub max_ttl: Duration,
    /// Freshness when the response has no `max-age`.
    pub default_ttl: Duration,
    /// Least time between two fetches (unknown-kid refreshes, retries after failures).
    pub refresh_interval: Duration,
    /// Limit for the whole fetch: connect, TLS, headers and body.
    pub timeout: Duration,
    /// Largest accepted response body.
    pub max_bytes: usize,
}

impl Default for JwksOptions {
    fn default() -> Self {
        Self {
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(24 * 3600),
            default_ttl: Duration::from_secs(600),
            refresh_interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            max_bytes: 256 * 1024,
        }
    }
}

impl JwksOptions {
    fn ttl(&self, max_age: Option<Duration>) -> Duration {
        max_age
            .unwrap_or(self.default_ttl)
            .clamp(self.min_ttl, self.max_ttl.max(self.min_ttl))
    }
}

#[derive(Debug, Default)]
struct Schedule {
    /// When the current set goes stale.
    fresh_until: Option<Instant>,
    /// Start of the last fetch attempt, successful or not.
    last_attempt: Option<Instant>,
    /// A background refresh is running.
    refreshing: bool,
}

/// A cached remote JWKS. Cheap to share (`Arc`).
pub struct JwksCache {
    url: http::Uri,
    options: JwksOptions,
    client: fetch::Client,
    keys: ArcSwapOption<KeySet>,
    schedule: parking_lot::Mutex<Schedule>,
    /// Serialises fetches (single flight).
    fetch_lock: tokio::sync::Mutex<()>,
    fetches: AtomicU64,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("url", &self.url)
            .field("options", &self.options)
            .field("keys", &self.keys.load().as_ref().map(|k| k.len()))
            .finish_non_exhaustive()
    }
}

type Registry = parking_lot::Mutex<HashMap<(String, JwksOptions), Weak<JwksCache>>>;

impl JwksCache {
    /// A cache for `url` (http or https; https is verified against the Mozilla roots). Nothing is
    /// fetched until keys are first needed.
    pub fn new(url: &str, options: JwksOptions) -> Result<Arc<Self>, KeyError> {
        let client = fetch::Client::webpki()?;
        Self::with_client(url, options, client)
    }

    /// A cache whose https connections trust `tls` (e.g. a private CA) instead of the Mozilla
    /// roots.
    pub fn with_tls_config(
        url: &str,
        options: JwksOptions,
        tls: rustls::ClientConfig,
    ) -> Result<Arc<Self>, KeyError> {
        Self::with_client(url, options, fetch::Client::with_tls(tls))
    }

    /// The process-wide cache for `url` and `options`, created on first use. Config reloads
    /// compile policies anew; sharing the cache keeps the fetched keys (and the refresh rate
    /// limit) across them.
    pub fn shared(url: &str, options: JwksOptions) -> Result<Arc<Self>, KeyError> {
        static REGISTRY: OnceLock<Registry> = OnceLock::new();
        let registry = REGISTRY.get_or_init(Default::default);
        let mut map = registry.lock();
        map.retain(|_, weak| weak.strong_count() > 0);
        let key = (url.to_owned(), options);
        if let Some(cache) = map.get(&key).and_then(Weak::upgrade) {
            return Ok(cache);
        }
        let cache = Self::new(url, key.1.clone())?;
        map.insert(key, Arc::downgrade(&cache));
        Ok(cache)
    }

    fn with_client(
        url: &str,
        options: JwksOptions,
        client: fetch::Client,
    ) -> Result<Arc<Self>, KeyError> {
        let url: http::Uri = url
            .parse()
            .map_err(|e| KeyError::Fetch(format!("invalid URL: {e}")))?;
        if !matches!(url.scheme_str(), Some("http" | "https")) || url.host().is_none() {
            return Err(KeyError::Fetch("URL must be http(s)://host/...".into()));
        }
        Ok(Arc::new(Self {
            url,
            options,
            client,
            keys: ArcSwapOption::empty(),
            schedule: parking_lot::Mutex::new(Schedule::default()),
            fetch_lock: tokio::sync::Mutex::new(()),
            fetches: AtomicU64::new(0),
        }))
    }

    /// The JWKS URL.
    pub fn url(&self) -> &http::Uri {
        &self.url
    }

    /// Number of fetch attempts so far (metrics, tests).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// The last good set, if any, without fetching.
    pub fn current(&self) -> Option<Arc<KeySet>> {
        self.keys.load_full()
    }

    /// The key set to verify with. The first call fetches (and waits); later calls return the
    /// cached set at once and, if it is stale, start one background refresh.
    pub async fn keys(self: &Arc<Self>) -> Result<Arc<KeySet>, VerifyError> {
        if let Some(keys) = self.keys.load_full() {
            self.refresh_in_background_if_stale();
            return Ok(keys);
        }
        let _guard = self.fetch_lock.lock().await;
        if let Some(keys) = self.keys.load_full() {
            return Ok(keys);
        }
        if self.may_fetch() {
            let _ = self.fetch_now().await;
        }
        self.keys.load_full().ok_or(VerifyError::KeysUnavailable)
    }

    /// Called when a token names a kid the current set lacks: refetches unless a fetch started
    /// less than `refresh_interval` ago, then returns the (possibly new) set.
    pub async fn refresh_for_unknown_kid(&self) -> Option<Arc<KeySet>> {
        let _guard = self.fetch_lock.lock().await;
        if self.may_fetch() {
            let _ = self.fetch_now().await;
        }
        self.keys.load_full()
    }

    /// Fetches now (waiting for any running fetch first), ignoring the refresh interval.
    pub async fn refresh(&self) -> Result<Arc<KeySet>, KeyError> {
        let _guard = self.fetch_lock.lock().await;
        self.fetch_now().await
    }

    fn may_fetch(&self) -> bool {
        let schedule = self.schedule.lock();
        schedule
            .last_attempt
            .is_none_or(|t| t.elapsed() >= self.options.refresh_interval)
    }

    fn refresh_in_background_if_stale(self: &Arc<Self>) {
        let now = Instant::now();
        {
            let mut schedule = self.schedule.lock();
            let stale = schedule.fresh_until.is_none_or(|t| now >= t);
            let recently_tried = schedule
                .last_attempt
                .is_some_and(|t| now.duration_since(t) < self.options.refresh_interval);
            if !stale || recently_tried || schedule.refreshing {
                return;
            }
            schedule.refreshing = true;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.schedule.lock().refreshing = false;
            return;
        };
        let cache = self.clone();
        runtime.spawn(async move {
            {
                let _guard = cache.fetch_lock.lock().await;
                if cache.may_fetch() {
                    let _ = cache.fetch_now().await;
                }
            }
            cache.schedule.lock().refreshing = false;
        });
    }

    /// One fetch; the caller holds `fetch_lock`. Keeps the old set on failure.
    async fn fetch_now(&self) -> Result<Arc<KeySet>, KeyError> {
        let started = Instant::now();
        self.schedule.lock().last_attempt = Some(started);
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let result = tokio::time::timeout(
            self.options.timeout,
            self.client.get(&self.url, self.options.max_bytes),
        )
        .await
        .unwrap_or_else(|_| Err(KeyError::Fetch("timed out".into())))
        .and_then(|(body, max_age)| {
            let keys = KeySet::from_jwks_json(&body)?;
            if keys.is_empty() {
                return Err(KeyError::InvalidJwks("no usable signing key".into()));
            }
            Ok((keys, max_age))
        });
        match result {
            Ok((keys, max_age)) => {
                let ttl = self.options.ttl(max_age);
                tracing::debug!(url = %self.url, keys = keys.len(), skipped = keys.skipped(),
                    ttl_secs = ttl.as_secs(), "JWKS fetched");
                let keys = Arc::new(keys);
                self.keys.store(Some(keys.clone()));
                self.schedule.lock().fresh_until = Some(started + ttl);
                Ok(keys)
            }
            Err(e) => {
                tracing::warn!(url = %self.url, error = %e,
                    "JWKS fetch failed; keeping the last good key set");
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests;
