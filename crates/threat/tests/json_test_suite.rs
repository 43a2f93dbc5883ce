//! Runs the JSON engine over every file of nst/JSONTestSuite (`test_parsing/`): `y_*` must be
//! accepted, `n_*` rejected, `i_*` may go either way but must terminate without panicking.

use std::collections::BTreeMap;
use std::path::Path;

use portcullis_threat::json::{JsonLimits, check};

const SUITE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/corpora/json-test-suite/test_parsing"
);

/// High enough never to interfere with the suite, except the depth limit, which is what keeps
/// `n_structure_100000_opening_arrays` and friends cheap.
fn suite_limits() -> JsonLimits {
    JsonLimits {
        max_depth: Some(500),
        ..JsonLimits::unlimited()
    }
}

#[test]
fn json_test_suite_parsing() {
    let mut entries: Vec<_> = std::fs::read_dir(Path::new(SUITE))
        .expect("JSONTestSuite corpus present under /work/shared/corpora")
        .map(|e| e.expect("readable directory entry").path())
        .collect();
    entries.sort();
    assert!(
        entries.len() > 300,
        "suite looks truncated: {}",
        entries.len()
    );

    let mut failures = Vec::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for path in &entries {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let body = std::fs::read(path).expect("readable test file");
        let result = check(&body, &suite_limits());
        let outcome = match &result {
            Ok(_) => "accepted".to_owned(),
            Err(v) => v.code.to_owned(),
        };
        let prefix = &name[..1];
        *counts.entry(format!("{prefix} {outcome}")).or_default() += 1;
        match (prefix, &result) {
            ("y", Err(v)) => failures.push(format!("{name}: rejected: {v}")),
            ("n", Ok(_)) => failures.push(format!("{name}: accepted")),
            ("i", _) => println!("{name}: {outcome}"),
            _ => {}
        }
    }
    for (outcome, n) in &counts {
        println!("{outcome}: {n}");
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
