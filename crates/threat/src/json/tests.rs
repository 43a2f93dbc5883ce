//! Unit tests for the JSON engine: each limit, with exact codes and paths.

use std::ops::ControlFlow;

use super::*;

fn limits() -> JsonLimits {
    JsonLimits::unlimited()
}

fn violation(body: &str, limits: &JsonLimits) -> Violation {
    match check(body.as_bytes(), limits) {
        Err(v) => v,
        Ok(stats) => panic!("expected a violation for {body}, got {stats:?}"),
    }
}

fn assert_violation(body: &str, limits: &JsonLimits, code: &str, path: &str, limit: Option<u64>) {
    let v = violation(body, limits);
    assert_eq!(
        (v.code, v.path.as_str(), v.limit),
        (code, path, limit),
        "{v}"
    );
}

#[test]
fn depth_violation_names_the_container() {
    let l = JsonLimits {
        max_depth: Some(3),
        ..limits()
    };
    let body = r#"{"a":{"b":[0,1,2,{"c":1}]}}"#;
    assert_violation(body, &l, "json.depth_exceeded", "$.a.b[3]", Some(3));
    // Exactly at the limit is fine.
    let stats = check(br#"{"a":{"b":[0,1,2,3]}}"#, &l).unwrap();
    assert_eq!(stats.max_depth, 3);
    // The root container itself counts.
    let l1 = JsonLimits {
        max_depth: Some(0),
        ..limits()
    };
    assert_violation("[]", &l1, "json.depth_exceeded", "$", Some(0));
    assert!(check(b"\"scalar\"", &l1).is_ok());
}

#[test]
fn depth_limit_stops_deep_nesting_without_recursion() {
    let body = "[".repeat(200_000);
    let l = JsonLimits {
        max_depth: Some(500),
        ..limits()
    };
    assert_eq!(violation(&body, &l).code, "json.depth_exceeded");
    // Even unlimited, the explicit stack means no stack overflow.
    let balanced = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        check(balanced.as_bytes(), &limits()).unwrap().max_depth,
        100_000
    );
}

#[test]
fn object_entries_violation_names_the_object() {
    let l = JsonLimits {
        max_object_entries: Some(2),
        ..limits()
    };
    assert!(check(br#"{"x":{"a":1,"b":2}}"#, &l).is_ok());
    assert_violation(
        r#"{"x":{"a":1,"b":2,"c":3}}"#,
        &l,
        "json.object_entries_exceeded",
        "$.x",
        Some(2),
    );
    // Duplicate keys are allowed, and each one counts.
    assert!(check(br#"{"a":1,"a":2}"#, &l).is_ok());
    assert_violation(
        r#"{"a":1,"a":2,"a":3}"#,
        &l,
        "json.object_entries_exceeded",
        "$",
        Some(2),
    );
}

#[test]
fn array_elements_violation_names_the_array() {
    let l = JsonLimits {
        max_array_elements: Some(3),
        ..limits()
    };
    assert!(check(b"[[1,2,3],[]]", &l).is_ok());
    assert_violation(
        r#"{"list":[[1,2,3],[1,2,3,4]]}"#,
        &l,
        "json.array_elements_exceeded",
        "$.list[1]",
        Some(3),
    );
}

#[test]
fn name_length_counts_characters_after_unescaping() {
    let l = JsonLimits {
        max_name_length: Some(3),
        ..limits()
    };
    assert!(check(r#"{"\u00e9té":1}"#.as_bytes(), &l).is_ok());
    assert_violation(
        r#"{"a":{"abcd":1}}"#,
        &l,
        "json.name_length_exceeded",
        "$.a",
        Some(3),
    );
}

#[test]
fn string_length_violation_names_the_value() {
    let l = JsonLimits {
        max_string_length: Some(4),
        ..limits()
    };
    assert!(check(r#"["\n\n\n😀", "abcd"]"#.as_bytes(), &l).is_ok());
    assert_violation(
        r#"{"a b":["ok","too long"]}"#,
        &l,
        "json.string_length_exceeded",
        "$['a b'][1]",
        Some(4),
    );
    // Keys are governed by the name limit, not the string limit.
    assert!(check(br#"{"long key":1}"#, &l).is_ok());
}

#[test]
fn number_length_violation_names_the_value() {
    let l = JsonLimits {
        max_number_length: Some(5),
        ..limits()
    };
    assert!(check(b"[-1e3, 12345]", &l).is_ok());
    assert_violation(
        r#"{"n":[1, 123456]}"#,
        &l,
        "json.number_length_exceeded",
        "$.n[1]",
        Some(5),
    );
}

#[test]
fn body_size_is_checked_first() {
    let l = JsonLimits {
        max_body_bytes: Some(4),
        ..limits()
    };
    assert!(check(b"[1] ", &l).is_ok());
    assert_violation(
        "[1, ",
        &JsonLimits {
            max_body_bytes: Some(3),
            ..limits()
        },
        "json.body_too_large",
        "$",
        Some(3),
    );
}

#[test]
fn invalid_json_reports_offset_and_path() {
    let v = violation(r#"{"a":[1,2,}"#, &limits());
    assert_eq!(
        (v.code, v.path.as_str(), v.limit),
        ("json.invalid", "$.a[2]", None)
    );
    assert!(v.detail.contains("byte 10"), "{}", v.detail);
    for bad in [
        "",
        " ",
        "{",
        "[1,]",
        r#"{"a":1,}"#,
        "[1 2]",
        "{'a':1}",
        "01",
        "[1]x",
        "nul",
        "\u{feff}{}",
        "[\"\\ud800\"]",
    ] {
        assert_eq!(violation(bad, &limits()).code, "json.invalid", "{bad:?}");
    }
}

#[test]
fn defaults_are_the_documented_ones() {
    let d = JsonLimits::default();
    assert_eq!(d.max_depth, Some(32));
    assert_eq!(d.max_object_entries, Some(1000));
    assert_eq!(d.max_array_elements, Some(10_000));
    assert_eq!(d.max_name_length, Some(256));
    assert_eq!(d.max_string_length, Some(65_536));
    assert_eq!(d.max_number_length, Some(64));
    assert_eq!(d.max_body_bytes, Some(10 * 1024 * 1024));
}

#[test]
fn visitor_sees_every_key_string_and_number_with_paths() {
    let body = r#"{"user":{"name":"a\"b","tags":["x",{"k y":"v"}]},"n":-1.5,"ok":true}"#;
    let mut seen = Vec::new();
    let stats = scan(
        body.as_bytes(),
        &JsonLimits::default(),
        &mut |p: &JsonPath<'_>, e: JsonEvent<'_>| {
            seen.push(format!("{p} {e:?}"));
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    assert_eq!(
        seen,
        [
            r#"$.user Key("user")"#,
            r#"$.user.name Key("name")"#,
            r#"$.user.name String("a\"b")"#,
            r#"$.user.tags Key("tags")"#,
            r#"$.user.tags[0] String("x")"#,
            r#"$.user.tags[1]['k y'] Key("k y")"#,
            r#"$.user.tags[1]['k y'] String("v")"#,
            r#"$.n Key("n")"#,
            r#"$.n Number("-1.5")"#,
            r#"$.ok Key("ok")"#,
        ]
    );
    assert_eq!(
        (
            stats.objects,
            stats.arrays,
            stats.keys,
            stats.strings,
            stats.numbers
        ),
        (3, 1, 6, 3, 1)
    );
    assert!(!stats.stopped_by_visitor);
}

#[test]
fn visitor_can_stop_the_scan() {
    let mut visited = 0;
    let stats = scan(br#"["a","b","c", oops"#, &limits(), &mut |_: &JsonPath<
        '_,
    >,
                                                                _: JsonEvent<
        '_,
    >| {
        visited += 1;
        if visited == 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap();
    assert!(stats.stopped_by_visitor);
    assert_eq!((visited, stats.strings), (2, 2));
}

#[test]
fn visitor_can_be_a_trait_object() {
    let mut count = 0;
    let visit: &mut dyn FnMut(&JsonPath<'_>, JsonEvent<'_>) -> ControlFlow<()> = &mut |_, _| {
        count += 1;
        ControlFlow::Continue(())
    };
    scan(br#"{"a":"b"}"#, &limits(), visit).unwrap();
    assert_eq!(count, 2);
}
