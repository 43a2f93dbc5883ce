//! Fuzzes the JSON tape (`JsonDoc`) that openapi-validation and injection-protection read in
//! place of a `serde_json::Value`. On any bytes: the tape parse gives the same verdict and
//! statistics as the streaming check; reading it back gives what `serde_json` parses; its walk
//! reports what the streaming scan reports, and its texts are the walk's keys and strings; its
//! duplicate-key screening never misses a repeat.
#![no_main]

use std::collections::HashSet;
use std::ops::ControlFlow;

use libfuzzer_sys::fuzz_target;
use portcullis_threat::json::{
    DocNode, JsonDoc, JsonEvent, JsonLimits, JsonPath, JsonText, check, scan,
};

fuzz_target!(|data: &[u8]| {
    // serde_json stops at 128 levels; below that, only syntax can make the two differ.
    let limits = JsonLimits {
        max_depth: Some(100),
        ..JsonLimits::unlimited()
    };
    let doc = JsonDoc::parse(data, &limits);
    match (&doc, check(data, &limits)) {
        (Ok(doc), Ok(stats)) => assert_eq!(doc.stats(), &stats, "statistics differ"),
        (Err(a), Err(b)) => assert_eq!(a, &b, "violations differ"),
        (a, b) => panic!("tape parse {a:?} but streaming check {b:?}"),
    }
    let Ok(doc) = doc else { return };
    let view = doc.view(data).expect("a parsed body is valid UTF-8");

    if let Ok(expected) = serde_json::from_slice::<serde_json::Value>(data) {
        assert_eq!(
            view.root().to_value(),
            expected,
            "tape reads back differently"
        );
    }

    let mut walked = Vec::new();
    view.visit(&mut |p: &JsonPath<'_>, e| {
        walked.push((p.render(), format!("{e:?}")));
        ControlFlow::Continue(())
    });
    let mut scanned = Vec::new();
    scan(data, &limits, &mut |p: &JsonPath<'_>, e| {
        scanned.push((p.render(), format!("{e:?}")));
        ControlFlow::Continue(())
    })
    .expect("the streaming check accepted it");
    assert_eq!(walked, scanned, "tape walk and streaming scan differ");

    // The keys and strings alone, located on demand, as injection-protection reads them.
    let texts: Vec<(String, String)> = view
        .texts()
        .map(|(i, t)| {
            let event = match t {
                JsonText::Key(k) => JsonEvent::Key(k.into()),
                JsonText::String(s) => JsonEvent::String(s.into()),
            };
            (
                view.path_at(i).expect("a text's index"),
                format!("{event:?}"),
            )
        })
        .collect();
    walked.retain(|(_, e)| !e.starts_with("Number"));
    assert_eq!(texts, walked, "texts and walk differ");

    assert_eq!(
        view.has_duplicate_keys(),
        repeats_a_key(view.root()),
        "duplicate-key screening is wrong"
    );
});

/// Whether some object repeats a (decoded) key, the plain way.
fn repeats_a_key(node: DocNode<'_>) -> bool {
    let mut seen = HashSet::new();
    node.members()
        .any(|(k, v)| !seen.insert(k) || repeats_a_key(v))
        || node.elements().any(repeats_a_key)
}
