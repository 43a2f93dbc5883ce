//! Property test: on generated documents (valid ones, and mutated ones that are often invalid)
//! `check` accepts exactly what `serde_json` accepts.

use portcullis_threat::json::{JsonLimits, check};
use proptest::prelude::*;
use serde_json::Value;

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn limits() -> JsonLimits {
    // serde_json refuses nesting beyond 128; stay below so the two only differ on syntax.
    JsonLimits {
        max_depth: Some(100),
        ..JsonLimits::unlimited()
    }
}

/// serde_json's verdict, or `None` when it refused a number beyond f64 range (e.g. `1e400`):
/// RFC 8259 allows those and we accept them, and serde_json reports the overflow before it has
/// finished checking the syntax, so such cases say nothing about agreement. Deserialises into
/// `Value` (not `IgnoredAny`) because serde_json skips ignored strings without validating UTF-8.
fn serde_accepts(body: &[u8]) -> Option<bool> {
    match serde_json::from_slice::<Value>(body) {
        Ok(_) => Some(true),
        Err(e) if e.to_string().starts_with("number out of range") => None,
        Err(_) => Some(false),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn valid_documents_are_accepted(v in arb_value(), pretty in any::<bool>()) {
        let body = if pretty { serde_json::to_vec_pretty(&v) } else { serde_json::to_vec(&v) };
        let body = body.expect("serialisable value");
        prop_assert!(check(&body, &limits()).is_ok(), "{}", String::from_utf8_lossy(&body));
    }

    #[test]
    fn mutated_documents_agree_with_serde(v in arb_value(), at in any::<prop::sample::Index>(), byte in prop::sample::select(b"{}[]:,\"\\ 0-.eE+tfnu\x01\xff".to_vec()), delete in any::<bool>()) {
        let mut body = serde_json::to_vec(&v).expect("serialisable value");
        let i = at.index(body.len());
        if delete { body.remove(i); } else { body.insert(i, byte); }
        let theirs = serde_accepts(&body);
        prop_assume!(theirs.is_some());
        let ours = check(&body, &limits()).is_ok();
        prop_assert_eq!(Some(ours), theirs, "{}", String::from_utf8_lossy(&body));
    }
}
