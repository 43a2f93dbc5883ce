use portcullis_policy::{Mode, RequestOutcome};
use serde_json::json;

use super::*;
use crate::test_util::{compile_errors, compile_in, entry, err, from_ip, request_pipeline, run};

fn policy(config: serde_json::Value) -> AccessControl {
    let config: AccessControlConfig = serde_json::from_value(config).unwrap();
    let mut errors = Vec::new();
    let allow = AddrSet::parse("allow", &config.allow, &mut errors);
    let deny = AddrSet::parse("deny", &config.deny, &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    AccessControl { allow, deny }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn valid_config_compiles() {
    crate::test_util::assert_schema_documented::<AccessControlConfig>();
    let config = json!({ "allow": ["10.0.0.0/8", "2001:db8::/32", "198.51.100.7"], "deny": ["10.9.0.0/16"] });
    assert_eq!(
        entry("access-control", config).policy.kind(),
        "access-control"
    );
}

#[test]
fn invalid_entries_are_reported_with_their_index() {
    let errors = compile_errors(
        "access-control",
        json!({ "allow": ["10.0.0.0/8", "1.2.3.4", "hello"], "deny": ["10.0.0.0/33", "::1"] }),
    );
    assert_eq!(
        errors,
        [
            err("allow[2]", "invalid IP or CIDR 'hello'"),
            err("deny[0]", "invalid IP or CIDR '10.0.0.0/33'"),
        ]
    );
    assert_eq!(
        compile_errors("access-control", json!({})),
        [err("", "give at least one network in allow or deny")]
    );
    assert_eq!(
        compile_errors("access-control", json!({ "allow": "10.0.0.0/8" }))[0].path,
        "allow"
    );
    let in_response = compile_in(
        "access-control",
        json!({ "deny": ["::1"] }),
        Phase::Response,
    );
    assert_eq!(
        in_response.unwrap_err(),
        [err(
            "",
            "access-control guards requests; place it in a request list"
        )]
    );
}

#[test]
fn deny_wins_and_allow_restricts() {
    let p = policy(
        json!({ "allow": ["10.0.0.0/8", "2001:db8::/32"], "deny": ["10.9.0.0/16", "2001:db8:bad::1"] }),
    );
    assert!(p.permits(ip("10.1.2.3")));
    assert!(
        !p.permits(ip("10.9.255.255")),
        "denied inside an allowed network"
    );
    assert!(!p.permits(ip("11.0.0.0")), "outside allow");
    assert!(p.permits(ip("2001:db8::42")));
    assert!(!p.permits(ip("2001:db8:bad::1")));
    assert!(
        p.permits(ip("2001:db8:bad::2")),
        "a bare IPv6 address is a /128"
    );
    assert!(!p.permits(ip("2001:db9::1")));
}

#[test]
fn deny_only_lets_everyone_else_in() {
    let p = policy(json!({ "deny": ["203.0.113.5"] }));
    assert!(!p.permits(ip("203.0.113.5")));
    assert!(p.permits(ip("203.0.113.6")), "a bare IPv4 address is a /32");
    assert!(p.permits(ip("::1")));
}

#[test]
fn ipv4_mapped_clients_and_rules_match_as_ipv4() {
    let p = policy(json!({ "allow": ["192.0.2.0/24", "::ffff:198.51.100.0/120"] }));
    assert!(p.permits(ip("::ffff:192.0.2.9")));
    assert!(p.permits(ip("198.51.100.200")));
    assert!(!p.permits(ip("::ffff:203.0.113.1")));
    let deny = policy(json!({ "deny": ["192.0.2.1"] }));
    assert!(
        !deny.permits(ip("::ffff:192.0.2.1")),
        "no bypass through the mapped form"
    );
}

#[test]
fn large_lists_are_merged_and_searched() {
    // 10.0.0.0/24, 10.0.2.0/24, ... plus overlapping and adjacent entries.
    let mut allow: Vec<String> = (0..=255u32)
        .step_by(2)
        .map(|i| format!("10.0.{i}.0/24"))
        .collect();
    allow.push("10.0.0.128/25".into());
    allow.push("10.0.1.0/24".into());
    allow.push("0.0.0.0/32".into());
    allow.push("255.255.255.255".into());
    let p = policy(json!({ "allow": allow }));
    assert_eq!(
        p.allow.v4.len(),
        128 - 1 + 2,
        "10.0.0/24 and 10.0.1/24 and 10.0.2/24 merge"
    );
    assert!(p.permits(ip("10.0.1.77")));
    assert!(p.permits(ip("10.0.254.1")));
    assert!(!p.permits(ip("10.0.3.1")));
    assert!(!p.permits(ip("10.0.255.1")));
    assert!(p.permits(ip("0.0.0.0")));
    assert!(p.permits(ip("255.255.255.255")));
    assert!(!p.permits(ip("255.255.255.254")));
}

#[tokio::test]
async fn behaviour_through_the_pipeline() {
    let p = request_pipeline(vec![entry(
        "access-control",
        json!({ "allow": ["192.0.2.0/24"] }),
    )]);
    let done = run(&p, &mut from_ip("192.0.2.10"), 200).await;
    assert!(matches!(done.outcome, RequestOutcome::Forward));
    let done = run(&p, &mut from_ip("203.0.113.1"), 200).await;
    assert_eq!(done.code(), Some("access.denied"));
    assert_eq!(done.response.status, 403);
}

#[tokio::test]
async fn monitor_mode_forwards_and_records_an_event() {
    let monitored = entry(
        "access-control",
        json!({ "deny": ["203.0.113.0/24"], "mode": "monitor" }),
    );
    assert_eq!(monitored.mode, Mode::Monitor);
    let p = request_pipeline(vec![monitored]);
    let mut ex = from_ip("203.0.113.1");
    let done = run(&p, &mut ex, 200).await;
    assert!(matches!(done.outcome, RequestOutcome::Forward));
    assert_eq!(ex.ctx.events.len(), 1);
    assert_eq!(ex.ctx.events[0].code, "access.denied");
    assert_eq!(ex.ctx.events[0].mode, Mode::Monitor);
}
