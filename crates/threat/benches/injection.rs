//! Cost of injection inspection: a typical 10-parameter GET request with ordinary headers, a
//! ~1 KB JSON body of prose and identifiers, single values (clean and malicious), and detector
//! compilation.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use portcullis_threat::injection::{Detector, DetectorConfig, Location};

const QUERY: &str = "q=rust%20async%20book&page=2&limit=25&sort=-created_at&lang=en-GB\
&category=books&min_price=10.50&max_price=99&in_stock=true&ref=newsletter%2Fspring";

const HEADERS: [(&str, &[u8]); 6] = [
    ("Host", b"api.example.com"),
    (
        "User-Agent",
        b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    ),
    ("Accept", b"application/json"),
    ("Accept-Language", b"en-GB,en;q=0.9"),
    ("Referer", b"https://shop.example.com/cart?coupon=SAVE10&utm_source=mail"),
    ("Cookie", b"session=5f2b9c1e8a7d4e3f; theme=dark; lang=en-GB"),
];

fn json_body() -> String {
    let prose = "Please select the blue or the green option before you drop off the package; \
                 it's 10:30 (room B) and I'd like to order by phone, or online if that's easier.";
    format!(
        r#"{{"order_id":"ord_8f3a9c2e","customer":{{"name":"Zoë O'Brien","email":"zoe@example.com","address":"12 Rue de l'Église, 75004 Paris"}},"notes":"{prose}","items":[{{"sku":"SKU-00012","name":"Widget \"M\" – blue","qty":2}},{{"sku":"SKU-00013","name":"Cable 2m","qty":1}}],"comment":"{prose}","tags":["gift","express","fragile"],"coupon":"SPRING50"}}"#
    )
}

fn bench(c: &mut Criterion) {
    let det = Detector::compile(&DetectorConfig::default()).expect("default config compiles");

    let mut g = c.benchmark_group("injection");
    g.bench_function("request_10_params_6_headers", |b| {
        b.iter(|| {
            black_box(det.inspect_request(
                black_box("/v1/products/search"),
                Some(black_box(QUERY)),
                HEADERS,
                None,
                None,
            ))
        })
    });

    let body = json_body();
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("json_body_1kb", |b| {
        b.iter(|| {
            black_box(det.inspect_request(
                "/v1/orders",
                None,
                [("Host", b"api.example.com".as_slice())],
                Some("application/json"),
                Some(black_box(body.as_bytes())),
            ))
        })
    });
    g.throughput(Throughput::Elements(1));

    let loc = Location::QueryParam("q".into());
    g.bench_function("value_clean_prose", |b| {
        b.iter(|| {
            black_box(det.inspect(
                &loc,
                black_box("How do I export my data as CSV? I only see PDF."),
            ))
        })
    });
    g.bench_function("value_identifier", |b| {
        b.iter(|| black_box(det.inspect(&loc, black_box("SKU-000123"))))
    });
    g.bench_function("value_sqli", |b| {
        b.iter(|| {
            black_box(det.inspect(&loc, black_box("-1' UNION/**/SELECT password FROM users--")))
        })
    });
    g.bench_function("value_encoded_xss", |b| {
        b.iter(|| {
            black_box(det.inspect(
                &loc,
                black_box("%253Cimg%2520src%253Dx%2520onerror%253Dalert(1)%253E"),
            ))
        })
    });
    g.finish();

    c.bench_function("injection/compile_default", |b| {
        b.iter(|| black_box(Detector::compile(&DetectorConfig::default())))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
