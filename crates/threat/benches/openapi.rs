//! OpenAPI request validation on the hot path: a small GET with coerced query, header and
//! cookie parameters, and a 10 KB JSON order checked against a realistic schema. The raw
//! `serde_json` parse of the same body is measured alongside, to separate parsing (paid by
//! any JSON-inspecting policy) from schema validation.
//!
//! Times are this thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall time: on
//! the shared 2-core machine wall time mostly measures the other processes, while CPU time
//! per request is the steady figure (see shared/design/benchmarking.md).

use std::hint::black_box;
use std::time::Instant;

use cpu_time::ThreadTime;
use criterion::{Bencher, Criterion, Throughput, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue};
use portcullis_threat::openapi::{OpenApiOptions, OpenApiValidator, RequestView};

const DOC: &str = include_str!("../tests/data/openapi/petstore-3.0.yaml");

/// About 10 KB: an order of 140 line items with SKUs, quantities, prices and flags.
fn order_body() -> Vec<u8> {
    let items: Vec<String> = (0..140)
        .map(|i| {
            format!(
                r#"{{"sku": "ABC-{:04}", "qty": {}, "price": {}.5, "gift": {}}}"#,
                i,
                i % 50 + 1,
                i,
                i % 2 == 0
            )
        })
        .collect();
    format!(
        r#"{{"items": [{}], "note": "leave at the door"}}"#,
        items.join(", ")
    )
    .into_bytes()
}

/// Runs `f` `iters` times and reports the CPU time this thread spent (wall time where the
/// platform has no thread clock).
fn cpu_iter<R>(b: &mut Bencher<'_>, mut f: impl FnMut() -> R) {
    b.iter_custom(|iters| {
        let (cpu, wall) = (ThreadTime::try_now(), Instant::now());
        for _ in 0..iters {
            black_box(f());
        }
        cpu.and_then(|t| t.try_elapsed())
            .unwrap_or_else(|_| wall.elapsed())
    });
}

fn bench(c: &mut Criterion) {
    let validator =
        OpenApiValidator::load(DOC, &OpenApiOptions::default()).expect("bench document loads");
    let empty = HeaderMap::new();
    let mut headers = HeaderMap::new();
    headers.insert("x-rate", HeaderValue::from_static("2.5"));
    headers.insert("cookie", HeaderValue::from_static("session=deadbeef"));
    let body = order_body();

    let mut group = c.benchmark_group("openapi");
    group.bench_function("load_petstore", |b| {
        cpu_iter(b, || {
            OpenApiValidator::load(black_box(DOC), &OpenApiOptions::default())
                .map(|v| v.operation_count())
        })
    });
    group.bench_function("get_with_params", |b| {
        let req = RequestView {
            method: "GET",
            path: "/pets",
            query: Some("limit=20&tags=a&tags=b&status=available,sold"),
            headers: &headers,
            content_type: None,
            body: None,
        };
        cpu_iter(b, || validator.validate_request(black_box(&req)).is_ok())
    });
    group.bench_function("path_not_found", |b| {
        let req = RequestView {
            method: "GET",
            path: "/admin/debug",
            query: None,
            headers: &empty,
            content_type: None,
            body: None,
        };
        cpu_iter(b, || validator.validate_request(black_box(&req)).is_err())
    });
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("post_10kb_json", |b| {
        let req = RequestView {
            method: "POST",
            path: "/orders",
            query: None,
            headers: &empty,
            content_type: Some("application/json"),
            body: Some(&body),
        };
        assert!(
            validator.validate_request(&req).is_ok(),
            "bench body must be valid"
        );
        cpu_iter(b, || validator.validate_request(black_box(&req)).is_ok())
    });
    group.bench_function("post_10kb_json_preparsed", |b| {
        let req = RequestView {
            method: "POST",
            path: "/orders",
            query: None,
            headers: &empty,
            content_type: Some("application/json"),
            body: Some(&body),
        };
        let parsed: serde_json::Value = serde_json::from_slice(&body).expect("bench body is JSON");
        cpu_iter(b, || {
            validator
                .validate_request_with_json(black_box(&req), &parsed)
                .is_ok()
        })
    });
    group.bench_function("serde_json_parse_10kb_only", |b| {
        cpu_iter(b, || {
            serde_json::from_slice::<serde_json::Value>(black_box(&body)).is_ok()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
