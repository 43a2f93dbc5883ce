use std::ops::ControlFlow;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::json::{JsonEvent, JsonLimits, check, scan};

/// Every event `scan` reports, with its rendered path.
fn scanned(body: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    scan(
        body,
        &JsonLimits::unlimited(),
        &mut |p: &JsonPath<'_>, e| {
            out.push((p.render(), format!("{e:?}")));
            ControlFlow::Continue(())
        },
    )
    .expect("valid body");
    out
}

/// The same from the tape.
fn walked(body: &[u8]) -> Vec<(String, String)> {
    let doc = JsonDoc::parse(body, &JsonLimits::unlimited()).expect("valid body");
    let mut out = Vec::new();
    doc.view(body)
        .expect("same body")
        .visit(&mut |p: &JsonPath<'_>, e| {
            out.push((p.render(), format!("{e:?}")));
            ControlFlow::Continue(())
        });
    out
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e9f64..1e9).prop_map(|f| json!(f)),
        "[a-z \"\\\\/é\u{1F600}\t]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-c\"' .é]{0,3}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    /// The tape walk is a drop-in for the streaming scan: same events, same paths.
    #[test]
    fn visit_reports_what_scan_reports(v in arb_json()) {
        let body = serde_json::to_vec(&v).expect("serialises");
        prop_assert_eq!(walked(&body), scanned(&body));
    }

    /// `texts` reports the keys and strings `visit` reports, in the same order, and `path_at`
    /// renders the location `visit` gives each of them.
    #[test]
    fn texts_and_their_paths_are_what_visit_reports(v in arb_json()) {
        let body = serde_json::to_vec(&v).expect("serialises");
        let doc = JsonDoc::parse(&body, &JsonLimits::unlimited()).expect("valid body");
        let view = doc.view(&body).expect("same body");
        let from_texts: Vec<(String, String)> = view
            .texts()
            .map(|(i, t)| {
                let event = match t {
                    JsonText::Key(k) => JsonEvent::Key(k.into()),
                    JsonText::String(s) => JsonEvent::String(s.into()),
                };
                (view.path_at(i).expect("a text's index"), format!("{event:?}"))
            })
            .collect();
        let visited: Vec<(String, String)> = walked(&body)
            .into_iter()
            .filter(|(_, e)| !e.starts_with("Number"))
            .collect();
        prop_assert_eq!(from_texts, visited);
    }

    /// Reading the tape back gives what `serde_json` parses from the same bytes.
    #[test]
    fn to_value_agrees_with_serde_json(v in arb_json()) {
        let body = serde_json::to_vec(&v).expect("serialises");
        let doc = JsonDoc::parse(&body, &JsonLimits::unlimited()).expect("valid body");
        let parsed: Value = serde_json::from_slice(&body).expect("valid body");
        prop_assert_eq!(doc.view(&body).expect("same body").root().to_value(), parsed);
    }
}

#[test]
fn escapes_paths_and_stops() {
    let body = br#"{"a\u0062":["x\ny",{"k":1.5e3}],"":null,"t":true}"#;
    assert_eq!(walked(body), scanned(body));
    let doc = JsonDoc::parse(body, &JsonLimits::unlimited()).unwrap();
    let root = doc.view(body).unwrap().root();
    assert_eq!(root.kind(), DocKind::Object);
    assert_eq!(root.len(), 3);
    let ab = root.get("ab").unwrap();
    assert_eq!(ab.len(), 2);
    assert_eq!(ab.elements().next().unwrap().as_str(), Some("x\ny"));
    assert!(doc.has_wide_numbers());
    assert_eq!(root.get("t").unwrap().as_bool(), Some(true));
    // A visitor that breaks stops the walk.
    let mut seen = 0;
    doc.view(body).unwrap().visit(&mut |_: &JsonPath<'_>, _| {
        seen += 1;
        ControlFlow::Break(())
    });
    assert_eq!(seen, 1);
}

#[test]
fn same_violations_as_check() {
    let limits = JsonLimits {
        max_depth: Some(2),
        max_string_length: Some(3),
        ..JsonLimits::default()
    };
    for body in [
        &br#"{"a":[[1]]}"#[..],
        br#"{"a":"long"}"#,
        br#"{"a":1,}"#,
        b"[1] x",
        br#"["\ud800"]"#,
        b"\xef\xbb\xbf{}",
        &[b'"', 0xff, b'"'],
    ] {
        assert_eq!(
            JsonDoc::parse(body, &limits).map(|d| d.stats().clone()),
            check(body, &limits),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn duplicate_keys_are_noticed_and_the_last_one_wins() {
    let body = br#"{"a":1,"b":{"x":1,"\u0078":2},"a":3}"#;
    let doc = JsonDoc::parse(body, &JsonLimits::unlimited()).unwrap();
    let view = doc.view(body).unwrap();
    assert!(view.has_duplicate_keys());
    assert_eq!(view.root().get("a").unwrap().number_text(), Some("3"));
    let serde: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(view.root().to_value(), serde);
    let body = br#"{"a":1,"b":{"a":1}}"#;
    let doc = JsonDoc::parse(body, &JsonLimits::unlimited()).unwrap();
    assert!(!doc.view(body).unwrap().has_duplicate_keys());
    // A view of another body is refused.
    assert!(doc.view(b"{}").is_none());
}

#[test]
fn keys_alike_in_length_and_first_bytes_are_still_told_apart() {
    let dup = |body: &[u8]| {
        let doc = JsonDoc::parse(body, &JsonLimits::unlimited()).unwrap();
        doc.view(body).unwrap().has_duplicate_keys()
    };
    assert!(!dup(br#"{"unit_price_a":1,"unit_price_b":2}"#));
    assert!(dup(br#"{"unit_price_a":1,"x":0,"unit_price_a":2}"#));
    // Long keys that differ only in the middle.
    let a = format!("k{}k", "x".repeat(300));
    let b = format!("k{}y{}k", "x".repeat(150), "x".repeat(149));
    assert!(!dup(format!(r#"{{"{a}":1,"{b}":2}}"#).as_bytes()));
    assert!(dup(format!(r#"{{"{a}":1,"{a}":2}}"#).as_bytes()));
}

/// Whether some object of `body` repeats a key, the plain way (a set of decoded keys per
/// object): the reference for the screening done while parsing.
fn repeats_a_key(body: &[u8]) -> bool {
    fn walk(node: DocNode<'_>) -> bool {
        let mut seen = std::collections::HashSet::new();
        node.members().any(|(k, v)| !seen.insert(k) || walk(v)) || node.elements().any(walk)
    }
    let doc = JsonDoc::parse(body, &JsonLimits::unlimited()).expect("valid body");
    walk(doc.view(body).expect("same body").root())
}

proptest! {
    /// Objects written key by key, with repeats, escapes (`\u0061` is `a`) and keys alike in
    /// length and ends: the parse-time screening never misses a repeated key.
    #[test]
    fn duplicate_screening_agrees_with_a_set_of_keys(
        objects in prop::collection::vec(
            prop::collection::vec(
                prop::sample::select(vec![
                    "a", "b", r"\u0061", "ab", "ba", "abcdefgh", "abcdXfgh", "abcdefgX", "x1",
                    "x2", "k", "kk", "",
                ]),
                0..20,
            ),
            1..4,
        ),
    ) {
        let inner: Vec<String> = objects
            .iter()
            .map(|keys| {
                let members: Vec<String> = keys.iter().map(|k| format!(r#""{k}":0"#)).collect();
                format!("{{{}}}", members.join(","))
            })
            .collect();
        let body = format!(r#"{{"first":[{}],"last":1}}"#, inner.join(","));
        let doc = JsonDoc::parse(body.as_bytes(), &JsonLimits::unlimited()).expect("valid body");
        prop_assert_eq!(
            doc.view(body.as_bytes()).expect("same body").has_duplicate_keys(),
            repeats_a_key(body.as_bytes()),
            "{}",
            body
        );
    }
}
