//! Observability of every exchange: Prometheus metrics (recorded inline, lock-free) and the JSON
//! access log (serialised and written by a dedicated thread behind a bounded queue — when the
//! queue is full the line is dropped and counted, so logging never slows the proxy).

use std::io::Write;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, SystemTime};

use crate::api_metrics::ApiMetrics;

mod log_line;

/// Metric names (documented in docs/observability.md).
pub mod names {
    /// Counter: requests by `api` and `status`.
    pub const REQUESTS: &str = "portcullis_requests_total";
    /// Histogram: total request duration by `api`.
    pub const DURATION: &str = "portcullis_request_duration_seconds";
    /// Histogram: upstream duration (to response headers) by `api`.
    pub const UPSTREAM_DURATION: &str = "portcullis_upstream_duration_seconds";
    /// Counter: access log lines dropped because the writer fell behind.
    pub const LOG_DROPPED: &str = "portcullis_access_log_dropped_total";
    /// Counter: would-be blocks of monitor-mode policies, by `policy` and `code`.
    pub const MONITOR_EVENTS: &str = "portcullis_policy_monitor_events_total";
}

/// One access log line (a JSON object of these fields in this order; absent values are
/// `null`, `events` appears only when there are some; see [`log_line`]).
#[derive(Debug)]
pub struct LogRecord {
    /// RFC 3339 time the request arrived.
    pub time: SystemTime,
    /// Request id.
    pub request_id: Arc<str>,
    /// Listener name.
    pub listener: Arc<str>,
    /// Environment the listener serves.
    pub environment: Arc<str>,
    /// API name (absent when routing failed).
    pub api: Option<Arc<str>>,
    /// Flow name.
    pub flow: Option<Arc<str>>,
    /// Method.
    pub method: http::Method,
    /// Normalised path (query omitted: it may carry credentials).
    pub path: String,
    /// Status sent.
    pub status: u16,
    /// Error code, when the gateway produced an error.
    pub code: Option<&'static str>,
    /// Total time in milliseconds, until the last response byte.
    pub total_ms: f64,
    /// Upstream time in milliseconds, until response headers.
    pub upstream_ms: Option<f64>,
    /// Request body bytes received.
    pub bytes_in: u64,
    /// Response body bytes sent.
    pub bytes_out: u64,
    /// Real client IP.
    pub client_ip: IpAddr,
    /// App id, when a credential identified the caller.
    pub app_id: Option<Arc<str>>,
    /// Developer id of that app.
    pub developer_id: Option<Arc<str>>,
    /// API product that admitted the request (`verify-api-key`).
    pub product: Option<Arc<str>>,
    /// Whether the response body was sent completely.
    pub completed: bool,
    /// Codes of events recorded by policies (monitor-mode blocks, detections).
    pub events: Vec<&'static str>,
}

impl LogRecord {
    /// A record for a request that just arrived; the rest is filled in as it progresses.
    pub fn new(
        request_id: Arc<str>,
        listener: Arc<str>,
        environment: Arc<str>,
        method: &http::Method,
        client_ip: IpAddr,
    ) -> Self {
        Self {
            time: SystemTime::now(),
            request_id,
            listener,
            environment,
            api: None,
            flow: None,
            method: method.clone(),
            path: String::new(),
            status: 0,
            code: None,
            total_ms: 0.0,
            upstream_ms: None,
            bytes_in: 0,
            bytes_out: 0,
            client_ip,
            app_id: None,
            developer_id: None,
            product: None,
            completed: false,
            events: Vec::new(),
        }
    }
}

/// Records metrics and queues access log lines.
pub struct Observer {
    enabled: AtomicBool,
    tx: SyncSender<LogRecord>,
}

/// Lines the log queue holds before dropping (about 200k lines/s at the flush interval).
const QUEUE: usize = 4 * 1024;

impl Observer {
    /// Starts the writer thread (writing to standard output).
    pub fn new(enabled: bool) -> Arc<Self> {
        Self::with_writer(enabled, Box::new(std::io::stdout()))
    }

    /// Starts the writer thread over any writer (tests capture lines this way).
    pub fn with_writer(enabled: bool, out: Box<dyn Write + Send>) -> Arc<Self> {
        let (tx, rx) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_loop(&rx, out))
            .expect("spawning the access log thread should not fail at startup");
        Arc::new(Self {
            enabled: AtomicBool::new(enabled),
            tx,
        })
    }

    /// Turns the access log on or off (config reload).
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    /// Whether access log lines are written (fields only the line shows need not be filled
    /// otherwise).
    pub fn logging(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Records one finished exchange: metrics through the API's cached handles, then the log line.
    pub fn record(&self, rec: LogRecord, metrics: &ApiMetrics) {
        metrics.record(
            rec.status,
            rec.total_ms / 1000.0,
            rec.upstream_ms.map(|ms| ms / 1000.0),
        );
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        if let Err(TrySendError::Full(_)) = self.tx.try_send(rec) {
            metrics::counter!(names::LOG_DROPPED).increment(1);
        }
    }
}

/// How often the writer thread wakes to drain the queue.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(20);

/// Empty drains in a row after which the writer blocks on the queue instead of polling it.
const IDLE_ROUNDS: u32 = 5;

/// Drains the queue in batches. While lines come, the thread sleeps between batches instead of
/// blocking on the channel: a blocked receiver would be woken (a futex call and a context
/// switch) by nearly every request, which profiling showed cost more than the proxying itself.
/// Lines appear within [`FLUSH_EVERY`]; the queue holds far more than one interval's worth at
/// any realistic rate. A batch's lines are written into one buffer and handed to `out` in one
/// call. After [`IDLE_ROUNDS`] empty drains (an idle gateway, or the log turned off) it blocks
/// until the next line, so a quiet gateway has no thread waking fifty times a second; only the
/// first line after a quiet spell pays a wake-up.
fn write_loop(rx: &Receiver<LogRecord>, mut out: Box<dyn Write + Send>) {
    let mut batch: Vec<u8> = Vec::with_capacity(BATCH_BYTES + 4096);
    let mut clock = log_line::Clock::default();
    let mut empty_rounds = 0;
    loop {
        let mut received = false;
        let disconnected = loop {
            match rx.try_recv() {
                Ok(rec) => {
                    received = true;
                    rec.write_json(&mut clock, &mut batch);
                    batch.push(b'\n');
                    if batch.len() >= BATCH_BYTES {
                        let _ = out.write_all(&batch);
                        batch.clear();
                    }
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => break false,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => break true,
            }
        };
        if !batch.is_empty() {
            let _ = out.write_all(&batch);
            batch.clear();
        }
        let _ = out.flush();
        if disconnected {
            return;
        }
        empty_rounds = if received { 0 } else { empty_rounds + 1 };
        if empty_rounds < IDLE_ROUNDS {
            std::thread::sleep(FLUSH_EVERY);
            continue;
        }
        // Quiet: wait for the next line, then drain and write at once and poll again.
        match rx.recv() {
            Ok(rec) => {
                rec.write_json(&mut clock, &mut batch);
                batch.push(b'\n');
                empty_rounds = 0;
            }
            Err(_) => return,
        }
    }
}

/// Bytes of lines gathered before they are written (about 150 lines).
const BATCH_BYTES: usize = 64 * 1024;

/// Milliseconds as a float, for log lines.
pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Keeps what the writer wrote and counts its flushes (one per drain).
    #[derive(Clone, Default)]
    struct Counting {
        lines: Arc<Mutex<Vec<u8>>>,
        flushes: Arc<std::sync::atomic::AtomicUsize>,
    }
    impl Write for Counting {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.lines.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.flushes.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    fn record(request_id: &str) -> LogRecord {
        LogRecord::new(
            request_id.into(),
            "public".into(),
            "prod".into(),
            &http::Method::GET,
            [127, 0, 0, 1].into(),
        )
    }

    /// Waits (up to 5 s) until `done` holds.
    fn eventually(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_quiet_writer_stops_polling_and_wakes_for_the_next_line() {
        let out = Counting::default();
        let obs = Observer::with_writer(true, Box::new(out.clone()));
        let metrics = ApiMetrics::new("orders".into());
        obs.record(record("r1"), &metrics);
        let written = |id: &str| String::from_utf8_lossy(&out.lines.lock().unwrap()).contains(id);
        eventually("the first line is written", || written("r1"));
        // Quiet: the writer stops draining (a polling writer flushes every 20 ms).
        let mut last = (
            out.flushes.load(Ordering::SeqCst),
            std::time::Instant::now(),
        );
        eventually("the writer still polls after a quiet spell", || {
            let now = out.flushes.load(Ordering::SeqCst);
            if now != last.0 {
                last = (now, std::time::Instant::now());
            }
            last.1.elapsed() >= FLUSH_EVERY * 10
        });
        // The next line wakes it, and is written.
        obs.record(record("r2"), &metrics);
        eventually("the line after the quiet spell is written", || {
            written("r2")
        });
        assert!(out.flushes.load(Ordering::SeqCst) > last.0);
    }

    #[test]
    fn writes_one_json_line_per_record() {
        let cap = Counting::default();
        let obs = Observer::with_writer(true, Box::new(cap.clone()));
        obs.record(
            LogRecord {
                time: SystemTime::now(),
                request_id: "r1".into(),
                listener: "public".into(),
                environment: "prod".into(),
                api: Some("orders".into()),
                flow: None,
                method: http::Method::GET,
                path: "/orders/v1/x".into(),
                status: 200,
                code: None,
                total_ms: 1.5,
                upstream_ms: Some(1.0),
                bytes_in: 0,
                bytes_out: 12,
                client_ip: [127, 0, 0, 1].into(),
                app_id: Some("app_1".into()),
                developer_id: Some("dev_1".into()),
                product: Some("gold".into()),
                completed: true,
                events: vec![],
            },
            &ApiMetrics::new("orders".into()),
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let text = String::from_utf8(cap.lines.lock().unwrap().clone()).unwrap();
            if let Some(line) = text.lines().next() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                assert_eq!(v["request_id"], "r1");
                assert_eq!(v["api"], "orders");
                assert_eq!(v["environment"], "prod");
                assert_eq!(v["status"], 200);
                assert_eq!(v["bytes_out"], 12);
                assert_eq!(v["app_id"], "app_1");
                assert_eq!(v["developer_id"], "dev_1");
                assert_eq!(v["product"], "gold");
                assert!(v["time"].as_str().unwrap().ends_with('Z'));
                break;
            }
            assert!(std::time::Instant::now() < deadline, "no log line written");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
