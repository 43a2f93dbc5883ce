//! The three body checks of an API that takes JSON, on one realistic 10 KB order
//! (`benches/data/order-10k.json`, contract `benches/data/orders-openapi.yaml`):
//!
//! - `json_limits`: `json-threat-protection` (structural limits, strict RFC 8259);
//! - `injection`: `injection-protection` on the request (path, Host, every JSON string and key);
//! - `openapi`: `openapi-validation` (route, content type, parse, schema);
//! - `separate`: the three one after the other, each parsing the body itself;
//! - `shared`: the three on one parse, as the gateway runs them: `JsonDoc::parse` (the limit
//!   check) keeps a tape that the injection detector and the schema validator read.
//!
//! Times are this thread's CPU time (wall time on the shared 2-core machine mostly measures the
//! other processes). For instruction counts, `THREE_CHECKS_CASE=<name> THREE_CHECKS_ITERS=<n>`
//! runs one case n times without criterion, for `valgrind --tool=callgrind` (see
//! docs/benchmarks.md, "Threat checks on a 10 KB JSON body").

use std::hint::black_box;
use std::time::Instant;

use cpu_time::ThreadTime;
use criterion::{Bencher, Criterion, Throughput};
use http::HeaderMap;
use portcullis_threat::injection::{Detector, DetectorConfig};
use portcullis_threat::json::{self, JsonDoc, JsonLimits};
use portcullis_threat::openapi::{OpenApiOptions, OpenApiValidator, RequestView};

const BODY: &[u8] = include_bytes!("data/order-10k.json");
const SPEC: &str = include_str!("data/orders-openapi.yaml");
const PATH: &str = "/orders";
const CONTENT_TYPE: &str = "application/json";
const HOST: (&str, &[u8]) = ("host", b"api.example.com");

/// Everything compiled once, as the gateway does at configuration time.
struct Checks {
    limits: JsonLimits,
    detector: Detector,
    validator: OpenApiValidator,
    headers: HeaderMap,
}

impl Checks {
    fn new() -> Self {
        let mut headers = HeaderMap::new();
        headers.insert("host", HOST.1.try_into().expect("valid header"));
        headers.insert(
            "content-type",
            CONTENT_TYPE.try_into().expect("valid header"),
        );
        Checks {
            limits: JsonLimits::default(),
            detector: Detector::compile(&DetectorConfig::default()).expect("default detector"),
            validator: OpenApiValidator::load(SPEC, &OpenApiOptions::default())
                .expect("bench contract loads"),
            headers,
        }
    }

    fn request(&self) -> RequestView<'_> {
        RequestView {
            method: "POST",
            path: PATH,
            query: None,
            headers: &self.headers,
            content_type: Some(CONTENT_TYPE),
            body: Some(BODY),
        }
    }

    fn json_limits(&self) -> bool {
        json::check(black_box(BODY), &self.limits).is_ok()
    }

    fn injection(&self) -> bool {
        self.detector
            .inspect_request(
                PATH,
                None,
                [HOST],
                Some(CONTENT_TYPE),
                Some(black_box(BODY)),
            )
            .is_empty()
    }

    fn openapi(&self) -> bool {
        self.validator
            .validate_request(black_box(&self.request()))
            .is_ok()
    }

    fn separate(&self) -> bool {
        self.json_limits() & self.injection() & self.openapi()
    }

    fn shared(&self) -> bool {
        let body = black_box(BODY);
        let Ok(doc) = JsonDoc::parse(body, &self.limits) else {
            return false;
        };
        let Some(view) = doc.view(body) else {
            return false;
        };
        let clean = self
            .detector
            .inspect_request_with_doc(PATH, None, [HOST], Some(CONTENT_TYPE), Some(body), view)
            .is_empty();
        let valid = self
            .validator
            .validate_request_with_doc(&self.request(), view)
            .is_ok();
        clean & valid
    }

    fn case(&self, name: &str) -> Option<fn(&Checks) -> bool> {
        Some(match name {
            "json_limits" => Checks::json_limits,
            "injection" => Checks::injection,
            "openapi" => Checks::openapi,
            "separate" => Checks::separate,
            "shared" => Checks::shared,
            _ => return None,
        })
    }
}

const CASES: [&str; 5] = ["json_limits", "injection", "openapi", "separate", "shared"];

/// Runs `f` `iters` times and reports the CPU time this thread spent.
fn cpu_iter(b: &mut Bencher<'_>, f: impl Fn() -> bool) {
    b.iter_custom(|iters| {
        let (cpu, wall) = (ThreadTime::try_now(), Instant::now());
        for _ in 0..iters {
            black_box(f());
        }
        cpu.and_then(|t| t.try_elapsed())
            .unwrap_or_else(|_| wall.elapsed())
    });
}

/// The loop `valgrind --tool=callgrind --toggle-collect=three_checks::measured_loop` counts.
#[inline(never)]
fn measured_loop(checks: &Checks, f: fn(&Checks) -> bool, iters: u64) {
    for _ in 0..iters {
        black_box(f(checks));
    }
}

fn main() {
    let checks = Checks::new();
    for name in CASES {
        let f = checks.case(name).expect("known case");
        assert!(f(&checks), "{name}: the bench body must pass every check");
    }
    if let Ok(name) = std::env::var("THREE_CHECKS_CASE") {
        let f = checks
            .case(&name)
            .unwrap_or_else(|| panic!("unknown case {name}; one of {CASES:?}"));
        let iters: u64 = std::env::var("THREE_CHECKS_ITERS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        // Everything ran once above (lazy DFA caches are warm, as in a running gateway).
        measured_loop(&checks, f, iters);
        return;
    }
    let mut c = Criterion::default()
        .sample_size(30)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
        .configure_from_args();
    let mut g = c.benchmark_group("three_checks_10kb");
    g.throughput(Throughput::Bytes(BODY.len() as u64));
    for name in CASES {
        let f = checks.case(name).expect("known case");
        g.bench_function(name, |b| cpu_iter(b, || f(&checks)));
    }
    g.finish();
    c.final_summary();
}
