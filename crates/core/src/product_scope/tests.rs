use http::Method;
use proptest::prelude::*;

use super::*;

fn pat(s: &str) -> ResourcePattern {
    ResourcePattern::parse(s).unwrap_or_else(|e| panic!("{e}"))
}

/// (pattern, path suffix, expected). The suffix is what follows the base path; "" is the base
/// path itself. Examples from the Apigee reference use base path `/weather`.
const MATCH_TABLE: &[(&str, &str, bool)] = &[
    // `/`: the base path itself plus everything below, any depth.
    ("/", "", true),
    ("/", "/", true),
    ("/", "/forecastrss", true),
    ("/", "/region/CA", true),
    ("/", "/a/b/c/d/e", true),
    // `/**`: everything below, any depth, but not the base path itself.
    ("/**", "", false),
    ("/**", "/", false),
    ("/**", "/forecastrss", true),
    ("/**", "/region/CA", true),
    ("/**", "/a/b/c/d/e", true),
    ("/**", "/a/b/", true),
    // `/*`: exactly one level below.
    ("/*", "", false),
    ("/*", "/", false),
    ("/*", "/forecastrss", true),
    ("/*", "/forecastrss/", true),
    ("/*", "/region/CA", false),
    ("/*", "/a/b/c", false),
    // Literal: only that resource (a trailing slash is the same resource).
    ("/forecastrss", "/forecastrss", true),
    ("/forecastrss", "/forecastrss/", true),
    ("/forecastrss", "", false),
    ("/forecastrss", "/forecastrss/x", false),
    ("/forecastrss", "/forecast", false),
    ("/forecastrss", "/forecastrssx", false),
    ("/forecastrss", "/x/forecastrss", false),
    // Case-sensitive.
    ("/forecastrss", "/ForecastRSS", false),
    ("/Users", "/users", false),
    // `*` inside a path: exactly one segment there.
    ("/users/*/orders", "/users/7/orders", true),
    ("/users/*/orders", "/users/7/orders/", true),
    ("/users/*/orders", "/users/orders", false),
    ("/users/*/orders", "/users/7/8/orders", false),
    ("/users/*/orders", "/users/7/orders/1", false),
    ("/users/*/orders", "/customers/7/orders", false),
    ("/users/*", "/users/7", true),
    ("/users/*", "/users", false),
    ("/users/*", "/users/7/orders", false),
    ("/*/orders", "/users/orders", true),
    ("/*/orders", "/orders", false),
    ("/*/*", "/a/b", true),
    ("/*/*", "/a", false),
    ("/*/*", "/a/b/c", false),
    // `**` at the end: one or more segments below that prefix.
    ("/users/**", "/users/7", true),
    ("/users/**", "/users/7/orders/1", true),
    ("/users/**", "/users", false),
    ("/users/**", "/users/", false),
    ("/users/**", "/usersx/7", false),
    // `**` in the middle: one or more segments between.
    ("/users/**/orders", "/users/7/orders", true),
    ("/users/**/orders", "/users/7/a/b/orders", true),
    ("/users/**/orders", "/users/orders", false),
    ("/users/**/orders", "/users/7/orders/1", false),
    ("/users/**/orders", "/users/orders/orders", true),
    ("/**/orders", "/a/orders", true),
    ("/**/orders", "/orders", false),
    ("/**/*/x", "/a/b/x", true),
    ("/**/*/x", "/a/x", false),
    ("/**/a/**/b", "/x/a/y/b", true),
    ("/**/a/**/b", "/x/a/b", false),
    ("/**/a/**/b", "/a/a/a/b", true),
    // A pattern's trailing slash is dropped.
    ("/users/", "/users", true),
    ("/users/*/", "/users/7", true),
    // Percent-encoding: patterns are canonicalised like request paths.
    ("/~user", "/~user", true),
    ("/%7Euser", "/~user", true),
    ("/%7euser", "/~user", true),
    ("/a%2fb", "/a%2Fb", true),
    ("/a%2Fb", "/a/b", false),
    ("/*", "/a%2Fb", true),
    ("/caf%C3%A9", "/caf%C3%A9", true),
    ("/café", "/caf%C3%A9", true),
    // Un-normalised suffixes: only `/` matches them.
    ("/**", "/a//b", false),
    ("/*", "//", false),
    ("/a", "a", false),
    ("/", "/a//b", true),
];

#[test]
fn resource_pattern_table() {
    let mut failures = Vec::new();
    for &(pattern, suffix, expected) in MATCH_TABLE {
        if pat(pattern).matches(suffix) != expected {
            failures.push(format!("{pattern:?} vs {suffix:?}: expected {expected}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(MATCH_TABLE.len() >= 40);
}

#[test]
fn patterns_are_canonicalised() {
    for (raw, canonical) in [
        ("/", "/"),
        ("/**", "/**"),
        ("/users/", "/users"),
        ("/%7Euser/%41", "/~user/A"),
        ("/a%2fb", "/a%2Fb"),
        ("/café", "/caf%C3%A9"),
        ("/users/*/orders", "/users/*/orders"),
    ] {
        assert_eq!(pat(raw).as_str(), canonical, "{raw}");
        assert_eq!(pat(raw).to_string(), canonical, "{raw}");
        // The canonical form parses to the same pattern.
        assert_eq!(pat(canonical), pat(raw), "{raw}");
    }
}

#[test]
fn invalid_patterns_are_rejected_with_a_reason() {
    for (raw, reason) in [
        ("", "must not be empty"),
        ("forecastrss", "must start with '/'"),
        ("*", "must start with '/'"),
        ("//", "empty segment"),
        ("/a//b", "empty segment"),
        ("/a/b//", "empty segment"),
        ("/a/./b", "dot segment"),
        ("/..", "dot segment"),
        ("/%2E%2E", "decodes to a dot segment"),
        ("/v1**", "whole segment"),
        ("/users/*.json", "whole segment"),
        ("/***", "whole segment"),
        ("/users/{id}", "path templates"),
        ("/a?b=1", "query"),
        ("/a#frag", "fragment"),
        ("/a\\b", "'\\'"),
        ("/a b", "whitespace"),
        ("/a\tb", "whitespace"),
        ("/a%2", "malformed percent-escape"),
        ("/a%zz", "malformed percent-escape"),
        ("/a%00", "control character"),
        ("/a%5C", "control character or '\\'"),
    ] {
        let err = ResourcePattern::parse(raw).expect_err(raw);
        assert_eq!(err.pattern, raw);
        assert!(
            err.reason.contains(reason),
            "{raw:?}: {:?} lacks {reason:?}",
            err.reason
        );
        assert!(err.to_string().starts_with("invalid resource path '"));
    }
}

#[test]
fn serde_uses_the_canonical_string_and_validates() {
    let p: ResourcePattern = serde_json::from_str("\"/users/\"").unwrap();
    assert_eq!(serde_json::to_string(&p).unwrap(), "\"/users\"");
    let err = serde_json::from_str::<ResourcePattern>("\"users\"").unwrap_err();
    assert!(err.to_string().contains("must start with '/'"), "{err}");
}

fn scope(apis: &[&str], paths: &[&str], methods: &[Method], envs: &[&str]) -> ProductScope {
    ProductScope {
        apis: apis.iter().map(|s| (*s).to_owned()).collect(),
        paths: paths.iter().map(|p| pat(p)).collect(),
        methods: methods.to_vec(),
        environments: envs.iter().map(|s| (*s).to_owned()).collect(),
    }
}

#[test]
fn product_scope_table() {
    use ScopeMiss::{Api, Environment, Method as M, Path};
    let open = ProductScope::default();
    let weather = scope(
        &["weather"],
        &["/forecastrss", "/region/*"],
        &[Method::GET],
        &["test", "prod"],
    );
    let test_only = scope(&[], &[], &[], &["test"]);
    let writes = scope(&[], &["/**"], &[Method::POST, Method::PUT], &[]);
    type Row<'a> = (
        &'a ProductScope,
        &'a str,
        &'a str,
        &'a str,
        Method,
        Result<(), ScopeMiss>,
    );
    let rows: &[Row<'_>] = &[
        // Empty lists: no restriction in that dimension.
        (&open, "prod", "anything", "", Method::DELETE, Ok(())),
        (&open, "x", "y", "/a/b/c", Method::PATCH, Ok(())),
        (
            &weather,
            "prod",
            "weather",
            "/forecastrss",
            Method::GET,
            Ok(()),
        ),
        (
            &weather,
            "test",
            "weather",
            "/region/CA",
            Method::GET,
            Ok(()),
        ),
        // Each dimension refuses on its own.
        (
            &weather,
            "dev",
            "weather",
            "/forecastrss",
            Method::GET,
            Err(Environment),
        ),
        (
            &weather,
            "Prod",
            "weather",
            "/forecastrss",
            Method::GET,
            Err(Environment),
        ),
        (
            &weather,
            "prod",
            "news",
            "/forecastrss",
            Method::GET,
            Err(Api),
        ),
        (
            &weather,
            "prod",
            "weather",
            "/region",
            Method::GET,
            Err(Path),
        ),
        (&weather, "prod", "weather", "", Method::GET, Err(Path)),
        (
            &weather,
            "prod",
            "weather",
            "/region/CA/x",
            Method::GET,
            Err(Path),
        ),
        (
            &weather,
            "prod",
            "weather",
            "/forecastrss",
            Method::POST,
            Err(M),
        ),
        // GET does not imply HEAD.
        (
            &weather,
            "prod",
            "weather",
            "/forecastrss",
            Method::HEAD,
            Err(M),
        ),
        // The first failing dimension is reported, in the order env, api, path, method.
        (
            &weather,
            "dev",
            "news",
            "/nope",
            Method::POST,
            Err(Environment),
        ),
        (&weather, "prod", "news", "/nope", Method::POST, Err(Api)),
        (
            &weather,
            "prod",
            "weather",
            "/nope",
            Method::POST,
            Err(Path),
        ),
        // Environments only.
        (&test_only, "test", "any", "/x", Method::GET, Ok(())),
        (
            &test_only,
            "prod",
            "any",
            "/x",
            Method::GET,
            Err(Environment),
        ),
        // `/**` excludes the base path itself; methods list.
        (&writes, "prod", "any", "/x", Method::POST, Ok(())),
        (&writes, "prod", "any", "", Method::POST, Err(Path)),
        (&writes, "prod", "any", "/x", Method::GET, Err(M)),
    ];
    for (i, (scope, env, api, suffix, method, want)) in rows.iter().enumerate() {
        assert_eq!(
            scope.check(env, api, suffix, method),
            *want,
            "row {i}: {env} {api} {method} {suffix:?}"
        );
    }
}

#[test]
fn misses_order_by_how_far_the_check_got() {
    let misses = [
        ScopeMiss::Path,
        ScopeMiss::Environment,
        ScopeMiss::Method,
        ScopeMiss::Api,
    ];
    assert_eq!(misses.iter().max(), Some(&ScopeMiss::Method));
    assert_eq!(misses.iter().min(), Some(&ScopeMiss::Environment));
    let names: Vec<_> = [
        ScopeMiss::Environment,
        ScopeMiss::Api,
        ScopeMiss::Path,
        ScopeMiss::Method,
    ]
    .map(ScopeMiss::dimension)
    .to_vec();
    assert_eq!(names, ["environment", "api", "path", "method"]);
}

/// A normalised segment without `*`: what can appear between slashes after the gateway's
/// normalisation.
fn literal_segment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9._~-]{1,8}".prop_filter("not a dot segment", |s| s != "." && s != ".."),
        // Escapes that survive normalisation (reserved or non-ASCII bytes, upper-case hex).
        (
            "[a-z]{0,3}",
            prop::sample::select(vec!["%2F", "%20", "%3F", "%25", "%C3%A9"]),
            "[a-z]{0,3}"
        )
            .prop_map(|(a, e, b)| format!("{a}{e}{b}")),
    ]
}

/// Any normalised segment; a request path may contain a literal `*` too.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => literal_segment(),
        1 => prop::sample::select(vec!["*".to_owned(), "**".to_owned()]),
    ]
}

/// Joins segments into a suffix, maybe with a trailing slash.
fn join(segs: &[String], slash: bool) -> String {
    let mut s = String::new();
    for seg in segs {
        s.push('/');
        s.push_str(seg);
    }
    if slash {
        s.push('/');
    }
    s
}

/// A non-empty normalised suffix: 1..6 segments, maybe a trailing slash.
fn suffix() -> impl Strategy<Value = (Vec<String>, String)> {
    (prop::collection::vec(segment(), 1..6), any::<bool>())
        .prop_map(|(segs, slash)| (segs.clone(), join(&segs, slash)))
}

/// Like [`suffix`] but without `*` segments, so it can be written as a literal pattern.
fn literal_suffix() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(literal_segment(), 1..6),
        any::<bool>(),
    )
        .prop_map(|(segs, slash)| join(&segs, slash))
}

proptest! {
    #[test]
    fn double_star_and_slash_agree_below_the_base_path((_, s) in suffix()) {
        prop_assert!(pat("/").matches(&s));
        prop_assert!(pat("/**").matches(&s));
    }

    #[test]
    fn single_star_matches_exactly_one_level((segs, s) in suffix()) {
        prop_assert_eq!(pat("/*").matches(&s), segs.len() == 1);
        if segs.len() >= 2 {
            prop_assert!(!pat("/*").matches(&s));
        }
    }

    #[test]
    fn literal_pattern_matches_its_own_path(s in literal_suffix()) {
        // Written without wildcards, a suffix is a pattern matching itself (and its twin with
        // or without the trailing slash).
        let p = pat(&s);
        prop_assert!(p.matches(&s));
        prop_assert!(p.matches(s.trim_end_matches('/')));
        let with_slash = format!("{}/", s.trim_end_matches('/'));
        prop_assert!(p.matches(&with_slash));
        prop_assert!(!p.matches(""));
    }

    #[test]
    fn prefix_double_star_matches_deeper_paths_only(s in literal_suffix(), (_, below) in suffix()) {
        let base = s.trim_end_matches('/');
        let p = pat(&format!("{base}/**"));
        prop_assert!(!p.matches(base));
        let deeper = format!("{base}{}", below.trim_end_matches('/'));
        prop_assert!(p.matches(&deeper));
    }
}

proptest! {
    #[test]
    fn a_trailing_slash_never_changes_the_outcome(
        (segs, pattern) in suffix(),
        s in literal_suffix(),
        fill in literal_segment(),
    ) {
        let p = pat(&pattern);
        // A suffix the pattern must match: each `*` filled with one segment, each `**` with two.
        let instance: Vec<String> = segs
            .iter()
            .map(|seg| match seg.as_str() {
                "*" => fill.clone(),
                "**" => format!("{fill}/{fill}"),
                _ => seg.clone(),
            })
            .collect();
        let instance = join(&instance, false);
        prop_assert!(p.matches(&instance), "{} vs {}", pattern, instance);
        // Any pattern against that instance and an arbitrary suffix, with and without slash.
        for suffix in [instance.as_str(), s.as_str()] {
            let bare = suffix.trim_end_matches('/');
            let slashed = format!("{bare}/");
            prop_assert_eq!(p.matches(bare), p.matches(&slashed));
        }
    }
}

#[test]
fn only_slash_matches_the_empty_suffix() {
    for suffix in ["", "/"] {
        assert!(pat("/").matches(suffix));
        for p in ["/**", "/*", "/a", "/*/**", "/**/a"] {
            assert!(!pat(p).matches(suffix), "{p} vs {suffix:?}");
        }
    }
}
