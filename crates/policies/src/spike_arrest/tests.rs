use std::time::Duration;

use parking_lot::Mutex;
use portcullis_core::Identity;
use portcullis_policy::{Mode, Pipeline, PipelineEntry, RequestOutcome};
use serde_json::json;

use super::*;
use crate::PolicyDeps;
use crate::test_util::{
    Done, compile_errors, compile_in, enforcing, entry, err, exchange, from_ip, request_pipeline,
    run,
};

/// A clock that only moves when told to.
struct FakeClock {
    start: Instant,
    offset: Mutex<Duration>,
}

impl FakeClock {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            offset: Mutex::new(Duration::ZERO),
        })
    }
    fn advance(&self, by: Duration) {
        *self.offset.lock() += by;
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        self.start + *self.offset.lock()
    }
}

fn limiter(config: serde_json::Value) -> (Arc<SpikeArrest>, Arc<FakeClock>) {
    let config: SpikeArrestConfig = serde_json::from_value(config).unwrap();
    let clock = FakeClock::new();
    let deps = PolicyDeps::default();
    let ctx = CompileCtx {
        phase: Phase::Request,
        deps: &deps,
        base_dir: std::path::Path::new("."),
    };
    (config.build(&ctx, clock.clone()).unwrap(), clock)
}

fn pipeline(policy: &Arc<SpikeArrest>) -> Pipeline {
    request_pipeline(vec![enforcing(policy.clone())])
}

async fn call(p: &Pipeline, ip: &str) -> Done {
    run(p, &mut from_ip(ip), 200).await
}

fn assert_admitted(done: &Done, ratelimit: &str) {
    assert!(matches!(done.outcome, RequestOutcome::Forward), "{done:?}");
    assert_eq!(done.response.status, 200);
    assert_eq!(done.header("ratelimit"), ratelimit);
}

fn assert_rejected(done: &Done, retry_after: &str, ratelimit: &str) {
    assert_eq!(done.code(), Some("rate.exceeded"), "{done:?}");
    assert_eq!(done.response.status, 429);
    assert_eq!(done.header("retry-after"), retry_after);
    assert_eq!(done.header("ratelimit"), ratelimit);
}

#[test]
fn valid_config_compiles_with_defaults() {
    crate::test_util::assert_schema_documented::<SpikeArrestConfig>();
    let entry = entry("spike-arrest", json!({ "rate": "100/s" }));
    assert_eq!(entry.policy.kind(), "spike-arrest");
    assert!(entry.policy.has_response_phase());
    let full =
        json!({ "rate": "10/m", "burst": 3, "identifier": "header:X-Client", "max_tracked": 50 });
    assert!(compile_in("spike-arrest", full, Phase::Request).is_ok());
}

#[test]
fn invalid_configs_name_the_field() {
    let cases = [
        (json!({}), err("", "missing field `rate`")),
        (
            json!({ "rate": "fast" }),
            err(
                "rate",
                "invalid rate 'fast': expected e.g. 100/s, 10/m, 1000/h",
            ),
        ),
        (
            json!({ "rate": "1/s", "burst": 0 }),
            err("burst", "must be at least 1"),
        ),
        (
            json!({ "rate": "1/s", "max_tracked": 0 }),
            err("max_tracked", "must be between 1 and 10000000"),
        ),
        (
            json!({ "rate": "1/s", "max_tracked": 10_000_001 }),
            err("max_tracked", "must be between 1 and 10000000"),
        ),
        (
            json!({ "rate": "1/s", "identifier": "ip" }),
            err(
                "identifier",
                "unknown identifier 'ip': use client_ip, app, key or header:<name>",
            ),
        ),
        (
            json!({ "rate": "1/s", "identifier": "header:bad name" }),
            err("identifier", "invalid header name 'bad name'"),
        ),
    ];
    for (config, expected) in cases {
        assert_eq!(compile_errors("spike-arrest", config), [expected]);
    }
    let unknown = compile_errors("spike-arrest", json!({ "rate": "1/s", "rat": 1 }));
    assert_eq!(unknown[0].path, "rat");
    assert!(
        unknown[0].message.starts_with("unknown field `rat`"),
        "{unknown:?}"
    );
    let in_response = compile_in("spike-arrest", json!({ "rate": "1/s" }), Phase::Response);
    assert_eq!(
        in_response.unwrap_err(),
        [err(
            "",
            "spike-arrest guards requests; place it in a request list"
        )]
    );
}

#[tokio::test]
async fn ten_per_second_admits_one_per_100ms() {
    let (policy, clock) = limiter(json!({ "rate": "10/s" }));
    let p = pipeline(&policy);
    let first = call(&p, "192.0.2.1").await;
    assert_admitted(&first, "\"spike\";r=0;t=1");
    assert_eq!(first.header("ratelimit-policy"), "\"spike\";q=10;w=1");
    for _ in 0..9 {
        clock.advance(Duration::from_millis(10));
        assert_rejected(&call(&p, "192.0.2.1").await, "1", "\"spike\";r=0;t=1");
    }
    assert_admitted(&call(&p, "192.0.2.2").await, "\"spike\";r=0;t=1");
    clock.advance(Duration::from_millis(10));
    assert_admitted(&call(&p, "192.0.2.1").await, "\"spike\";r=0;t=1");
}

#[tokio::test]
async fn burst_admits_back_to_back_then_smooths() {
    let (policy, clock) = limiter(json!({ "rate": "10/s", "burst": 5 }));
    let p = pipeline(&policy);
    for remaining in (0..5).rev() {
        let done = call(&p, "192.0.2.1").await;
        assert_admitted(&done, &format!("\"spike\";r={remaining};t=1"));
    }
    assert_rejected(&call(&p, "192.0.2.1").await, "1", "\"spike\";r=0;t=1");
    clock.advance(Duration::from_millis(100));
    assert_admitted(&call(&p, "192.0.2.1").await, "\"spike\";r=0;t=1");
    assert!(matches!(
        call(&p, "192.0.2.1").await.outcome,
        RequestOutcome::Fail(_)
    ));
}

#[tokio::test]
async fn retry_after_and_reset_are_exact_seconds() {
    // 6/m: one every 10 s; burst 3 tolerates 20 s of debt.
    let (policy, clock) = limiter(json!({ "rate": "6/m", "burst": 3 }));
    let p = pipeline(&policy);
    let first = call(&p, "2001:db8::1").await;
    assert_eq!(first.header("ratelimit-policy"), "\"spike\";q=6;w=60");
    assert_admitted(&first, "\"spike\";r=2;t=10");
    assert_admitted(&call(&p, "2001:db8::1").await, "\"spike\";r=1;t=20");
    assert_admitted(&call(&p, "2001:db8::1").await, "\"spike\";r=0;t=30");
    let rejected = call(&p, "2001:db8::1").await;
    assert_rejected(&rejected, "10", "\"spike\";r=0;t=30");
    assert_eq!(rejected.header("ratelimit-policy"), "\"spike\";q=6;w=60");
    clock.advance(Duration::from_millis(9_500));
    assert_rejected(&call(&p, "2001:db8::1").await, "1", "\"spike\";r=0;t=21");
    clock.advance(Duration::from_millis(500));
    assert_admitted(&call(&p, "2001:db8::1").await, "\"spike\";r=0;t=30");
}

#[tokio::test]
async fn ipv4_mapped_ipv6_shares_the_ipv4_budget() {
    let (policy, _clock) = limiter(json!({ "rate": "1/s" }));
    let p = pipeline(&policy);
    assert_admitted(&call(&p, "192.0.2.7").await, "\"spike\";r=0;t=1");
    assert_rejected(
        &call(&p, "::ffff:192.0.2.7").await,
        "1",
        "\"spike\";r=0;t=1",
    );
}

fn identity(app: &str, key: &str) -> Identity {
    Identity {
        app_id: app.into(),
        app_name: app.into(),
        developer_id: "dev".into(),
        developer_email: "dev@example.com".into(),
        credential: key.into(),
    }
}

#[tokio::test]
async fn app_identifier_groups_by_app_and_falls_back_to_ip() {
    let (policy, _clock) = limiter(json!({ "rate": "1/s", "identifier": "app" }));
    let p = pipeline(&policy);
    let from_app = |ip: &str, key: &str| {
        let mut ex = from_ip(ip);
        ex.ctx.identity = Some(identity("app-1", key));
        ex
    };
    assert!(
        run(&p, &mut from_app("192.0.2.1", "k1"), 200)
            .await
            .code()
            .is_none()
    );
    // Same app from another IP with another key: same budget.
    assert_eq!(
        run(&p, &mut from_app("192.0.2.2", "k2"), 200).await.code(),
        Some("rate.exceeded")
    );
    // No identity: budgeted by IP, independently of the app.
    assert!(call(&p, "192.0.2.1").await.code().is_none());
    assert_eq!(call(&p, "192.0.2.1").await.code(), Some("rate.exceeded"));
}

#[tokio::test]
async fn header_identifier_uses_the_header_value() {
    let (policy, _clock) = limiter(json!({ "rate": "1/s", "identifier": "header:x-tenant" }));
    let p = pipeline(&policy);
    let tenant = |t: &str| exchange("GET", "/", &[("x-tenant", t)]);
    assert!(run(&p, &mut tenant("a"), 200).await.code().is_none());
    assert!(run(&p, &mut tenant("b"), 200).await.code().is_none());
    assert_eq!(
        run(&p, &mut tenant("a"), 200).await.code(),
        Some("rate.exceeded")
    );
}

#[tokio::test]
async fn monitor_mode_forwards_and_records_an_event() {
    let (policy, _clock) = limiter(json!({ "rate": "1/s" }));
    let p = request_pipeline(vec![PipelineEntry {
        policy,
        mode: Mode::Monitor,
    }]);
    let mut ex = from_ip("192.0.2.1");
    assert!(run(&p, &mut ex, 200).await.code().is_none());
    assert!(ex.ctx.events.is_empty());
    let mut ex = from_ip("192.0.2.1");
    let done = run(&p, &mut ex, 200).await;
    assert!(matches!(done.outcome, RequestOutcome::Forward));
    assert_eq!(done.header("ratelimit"), "\"spike\";r=0;t=1");
    assert_eq!(ex.ctx.events.len(), 1);
    assert_eq!(ex.ctx.events[0].code, "rate.exceeded");
    assert_eq!(ex.ctx.events[0].policy, "spike-arrest");
}

#[tokio::test]
async fn two_limits_report_the_most_restrictive() {
    let (loose, _c1) = limiter(json!({ "rate": "100/s", "burst": 10 }));
    let (tight, _c2) = limiter(json!({ "rate": "1/s", "burst": 2 }));
    let p = request_pipeline(vec![enforcing(loose), enforcing(tight)]);
    let done = call(&p, "192.0.2.1").await;
    assert_eq!(done.header("ratelimit"), "\"spike\";r=1;t=1");
    assert_eq!(done.header("ratelimit-policy"), "\"spike\";q=1;w=1");
}

#[tokio::test]
async fn a_million_distinct_identifiers_stay_bounded() {
    let (policy, clock) = limiter(json!({ "rate": "1/h" }));
    let mut ex = from_ip("10.0.0.0");
    for i in 0..1_000_000u32 {
        ex.ctx.client_ip = std::net::Ipv4Addr::from(0x0a00_0000 + i).into();
        let decision = policy.on_request(&mut ex).await;
        assert!(decision.is_ok(), "a first request is always admitted");
        if i % 100_000 == 0 {
            clock.advance(Duration::from_millis(1));
        }
    }
    let tracked = policy.tracked();
    assert!(tracked <= 100_000, "tracked {tracked}");
    assert!(
        tracked >= 80_000,
        "eviction should keep most of the table, kept {tracked}"
    );
}
