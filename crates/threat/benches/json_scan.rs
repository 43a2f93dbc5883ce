//! Cost of the JSON threat check on a realistic 10 KB API body, with and without a visitor
//! that touches every string (as the injection detector would).

use std::fmt::Write;
use std::hint::black_box;
use std::ops::ControlFlow;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use portcullis_threat::json::{JsonEvent, JsonLimits, JsonPath, check, scan};

/// A deterministic order document of about 10 KB: nested objects, an array of line items,
/// numbers, booleans, nulls, escapes and non-ASCII text.
fn body() -> String {
    let mut items = String::new();
    // Line items until the document reaches about 10 KB.
    for i in 0.. {
        if items.len() > 9_900 {
            break;
        }
        if i > 0 {
            items.push(',');
        }
        write!(
            items,
            r#"{{"sku":"SKU-{i:05}","name":"Widget \"{i}\" – größe M","quantity":{q},"unit_price":{p}.{c:02},"discount":null,"tags":["blue","sale","n{i}"],"gift":{g},"attrs":{{"weight_kg":0.{i},"origin":"DE"}}}}"#,
            q = i % 7 + 1,
            p = 10 + i * 3,
            c = i * 7 % 100,
            g = i % 2 == 0,
        )
        .expect("writing to a String cannot fail");
    }
    let body = format!(
        r#"{{"order_id":"ord_8f3a9c2e","created_at":"2026-11-23T16:33:44Z","customer":{{"id":48213,"name":"Zoë O'Brien","email":"zoe@example.com","address":{{"line1":"12 Rue de l\u2019Église","city":"Paris","postcode":"75004","country":"FR"}}}},"items":[{items}],"notes":"Leave at the door.\nRing twice.","totals":{{"subtotal":1234.56,"tax":246.91,"currency":"EUR"}}}}"#
    );
    assert!(
        (10_000..11_000).contains(&body.len()),
        "body is {} bytes",
        body.len()
    );
    body
}

fn bench(c: &mut Criterion) {
    let body = body();
    let limits = JsonLimits::default();
    check(body.as_bytes(), &limits).expect("bench body is valid JSON within limits");

    let mut group = c.benchmark_group("json_scan");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("check_10k", |b| {
        b.iter(|| check(black_box(body.as_bytes()), &limits))
    });
    group.bench_function("scan_10k_visit_strings", |b| {
        b.iter(|| {
            let mut chars = 0usize;
            let stats = scan(black_box(body.as_bytes()), &limits, &mut |_: &JsonPath<
                '_,
            >,
                                                                        e: JsonEvent<
                '_,
            >| {
                if let JsonEvent::String(s) | JsonEvent::Key(s) = e {
                    chars += s.len();
                }
                ControlFlow::Continue(())
            });
            (stats, chars)
        })
    });
    group.bench_function("scan_10k_render_paths", |b| {
        b.iter(|| {
            let mut len = 0usize;
            let stats = scan(black_box(body.as_bytes()), &limits, &mut |p: &JsonPath<
                '_,
            >,
                                                                        _: JsonEvent<
                '_,
            >| {
                len += p.render().len();
                ControlFlow::Continue(())
            });
            (stats, len)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
