//! JSONTestSuite through a real gateway with `json-threat-protection`: every file that must be
//! accepted (`y_`) reaches the upstream byte for byte, every file that must be rejected (`n_`)
//! is answered 400 with a `json.*` code before the upstream sees it, and no
//! implementation-defined file (`i_`) makes the gateway fail (5xx) or hang.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Method, Request};
use http_body_util::Full;
use portcullis_test_support::{Recorder, Reply, TestGateway, send};

const SUITE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/corpora/json-test-suite/test_parsing"
);

/// Requests in flight at once: enough to overlap the client and the gateway on two cores.
const CONCURRENCY: usize = 8;

fn files() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(SUITE)
        .expect("the JSONTestSuite corpus is present")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    out.sort();
    out
}

async fn post(url: String, body: Vec<u8>) -> Result<Reply, String> {
    let req = Request::builder()
        .method(Method::POST)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    tokio::time::timeout(Duration::from_secs(10), send(req, false))
        .await
        .map_err(|_| "timed out".to_owned())?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_test_suite_through_the_gateway() {
    let up = Recorder::start("json").await;
    // Only structure is under test: every size limit is off, nesting keeps its default (32),
    // which the suite's deliberately deep `n_`/`i_` files exceed.
    let gw = TestGateway::start(&format!(
        r#"
listeners: [ {{ name: public, address: "127.0.0.1:0" }} ]
apis:
  - name: json
    base_path: /
    max_body: 16MiB
    upstream: {{ targets: ["{}"] }}
    policies:
      request:
        - json-threat-protection:
            max_object_entries: null
            max_array_elements: null
            max_name_length: null
            max_string_length: null
            max_number_length: null
            max_body_bytes: null
"#,
        up.url()
    ))
    .await;

    let started = Instant::now();
    let cases: Vec<(String, Vec<u8>)> = files()
        .into_iter()
        .map(|p| {
            let name = p
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&p).expect("corpus file readable"))
        })
        .collect();
    assert!(cases.len() > 300, "corpus has {} files", cases.len());
    let url = gw.url("/parse");
    let results: Vec<(String, usize, Result<Reply, String>)> =
        futures_util::stream::iter(cases.into_iter().map(|(name, body)| {
            let url = url.clone();
            async move {
                let len = body.len();
                (name, len, post(url, body).await)
            }
        }))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;

    let (mut y, mut n, mut i) = ((0, 0), (0, 0), (0, 0));
    let mut failures = Vec::new();
    let mut empty = 0;
    for (name, len, result) in &results {
        let reply = match result {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let status = reply.status.as_u16();
        let code = serde_json::from_slice::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|v| v["code"].as_str().map(str::to_owned))
            .unwrap_or_default();
        match &name[..2] {
            "y_" => {
                y.1 += 1;
                let reached = status == 200
                    && reply.header("content-type") == Some("application/json")
                    && reply.json()["upstream"] == "json"
                    && reply.json()["body_bytes"] == *len;
                if reached {
                    y.0 += 1;
                } else {
                    failures.push(format!("{name}: must pass, got {status} {code}"));
                }
            }
            // An empty body is no body at all (HTTP cannot tell it from an absent one), so the
            // policy lets it through by design; the suite's only empty file is counted apart.
            "n_" if *len == 0 => {
                empty += 1;
                if status != 200 {
                    failures.push(format!("{name}: empty body, got {status} {code}"));
                }
            }
            "n_" => {
                n.1 += 1;
                if status == 400 && code.starts_with("json.") {
                    n.0 += 1;
                } else {
                    failures.push(format!("{name}: must be rejected, got {status} {code}"));
                }
            }
            _ => {
                i.1 += 1;
                if status < 500 {
                    i.0 += 1;
                } else {
                    failures.push(format!(
                        "{name}: implementation-defined, got {status} {code}"
                    ));
                }
            }
        }
    }
    let upstream_saw = up.count();
    println!(
        "JSONTestSuite through the gateway in {:.1} s: y_ passed {}/{}, n_ rejected {}/{}, \
         i_ without 5xx {}/{}, empty n_ passed {empty}; upstream saw {upstream_saw} requests",
        started.elapsed().as_secs_f64(),
        y.0,
        y.1,
        n.0,
        n.1,
        i.0,
        i.1
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Nothing rejected reached the upstream: it saw the `y_` files, the empty body and the
    // accepted `i_` ones.
    assert!(
        upstream_saw >= y.1 + empty && upstream_saw <= y.1 + empty + i.1,
        "upstream saw {upstream_saw}"
    );
    gw.stop().await;
}
