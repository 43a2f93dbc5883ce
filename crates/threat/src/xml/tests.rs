//! Unit tests for the XML engine: well-formedness, each limit, exact codes and paths.

use std::ops::ControlFlow;

use super::*;

fn limits() -> XmlLimits {
    XmlLimits::unlimited()
}

fn violation(body: &str, limits: &XmlLimits) -> Violation {
    match check(body.as_bytes(), limits) {
        Err(v) => v,
        Ok(stats) => panic!("expected a violation for {body}, got {stats:?}"),
    }
}

fn assert_violation(body: &str, limits: &XmlLimits, code: &str, path: &str, limit: Option<u64>) {
    let v = violation(body, limits);
    assert_eq!(
        (v.code, v.path.as_str(), v.limit),
        (code, path, limit),
        "{v}"
    );
}

#[test]
fn accepts_ordinary_documents() {
    let body = "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- c -->\n<order xmlns=\"urn:o\" \
                xmlns:x=\"urn:x\" id=\"1\"><x:item sku=\"a&amp;b\">A &lt; B &#x41;&#66;<![CDATA[<raw>]]></x:item>\
                <?pi data?><empty/></order>\n";
    let stats = check(body.as_bytes(), &XmlLimits::default()).unwrap();
    assert_eq!(
        (
            stats.elements,
            stats.attributes,
            stats.text_nodes,
            stats.max_depth
        ),
        (3, 4, 1, 2)
    );
}

#[test]
fn rejects_malformed_documents() {
    for bad in [
        "",
        "   ",
        "<a>",
        "<a></b>",
        "<a/><b/>",
        "text<a/>",
        "<a/>text",
        "<a>&unterminated</a>",
        "<a>x & y</a>",
        "<a x=\"1\" x=\"2\"/>",
        "<a x=\"<\"/>",
        "<a>&#xZZ;</a>",
        " <?xml version=\"1.0\"?><a/>",
        "<a/><?xml version=\"1.0\"?>",
        "<a><!-- a -- b --></a>",
        "<a/><!DOCTYPE a>",
        "</a>",
    ] {
        assert_eq!(violation(bad, &limits()).code, "xml.invalid", "{bad:?}");
    }
    let v = violation("<order><item></order>", &limits());
    assert_eq!(v.path, "/order/item");
    assert!(v.detail.contains("at byte"), "{}", v.detail);
    assert_eq!(
        check(b"<a>\xff</a>", &limits()).unwrap_err().detail,
        "malformed XML at byte 3: invalid UTF-8"
    );
}

#[test]
fn depth_violation_names_the_element() {
    let l = XmlLimits {
        max_depth: Some(2),
        ..limits()
    };
    assert!(check(b"<a><b/><b/></a>", &l).is_ok());
    assert_violation(
        "<a><b/><b><c/></b></a>",
        &l,
        "xml.depth_exceeded",
        "/a/b[2]/c",
        Some(2),
    );
    let deep = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
    assert_eq!(
        violation(&deep, &XmlLimits::default()).code,
        "xml.depth_exceeded"
    );
}

#[test]
fn attribute_and_namespace_counts() {
    let l = XmlLimits {
        max_attributes_per_element: Some(2),
        max_namespaces_per_element: Some(1),
        ..limits()
    };
    assert!(check(b"<a x='1' xmlns='u'><b y='1' z='2'/></a>", &l).is_ok());
    assert_violation(
        "<a><b x='1' y='2' z='3'/></a>",
        &l,
        "xml.attributes_exceeded",
        "/a/b",
        Some(2),
    );
    assert_violation(
        "<a xmlns='u' xmlns:p='v'/>",
        &l,
        "xml.namespaces_exceeded",
        "/a",
        Some(1),
    );
}

#[test]
fn children_count_elements_comments_pis_and_text() {
    let l = XmlLimits {
        max_children_per_element: Some(3),
        ..limits()
    };
    assert!(check(b"<a>\n  <b/>\n  <b/>\n  <b/>\n</a>", &l).is_ok());
    assert_violation(
        "<r><a><b/><b/><b/><b/></a></r>",
        &l,
        "xml.children_exceeded",
        "/r/a",
        Some(3),
    );
    assert_violation(
        "<a><b/>text<!--c--><?p?></a>",
        &l,
        "xml.children_exceeded",
        "/a",
        Some(3),
    );
}

#[test]
fn name_and_prefix_lengths() {
    let l = XmlLimits {
        max_element_name_length: Some(5),
        max_attribute_name_length: Some(3),
        max_namespace_prefix_length: Some(2),
        ..limits()
    };
    assert!(check(b"<ab:cd abc='1'/>", &l).is_ok());
    assert_violation(
        "<a><abcdef/></a>",
        &l,
        "xml.name_length_exceeded",
        "/a",
        Some(5),
    );
    assert_violation(
        "<a><b abcd='1'/></a>",
        &l,
        "xml.name_length_exceeded",
        "/a/b",
        Some(3),
    );
    assert_violation(
        "<a xmlns:abc='u'/>",
        &XmlLimits {
            max_namespace_prefix_length: Some(2),
            ..limits()
        },
        "xml.name_length_exceeded",
        "/a",
        Some(2),
    );
    assert_violation(
        "<a><abc:b/></a>",
        &l,
        "xml.name_length_exceeded",
        "/a",
        Some(2),
    );
}

#[test]
fn value_lengths() {
    let l = XmlLimits {
        max_text_length: Some(5),
        max_attribute_value_length: Some(3),
        max_comment_length: Some(4),
        max_pi_data_length: Some(6),
        ..limits()
    };
    // References and CDATA count once resolved; a text node is everything between markup.
    assert!(check(b"<a x='&lt;&lt;&lt;'>&amp;&amp;<![CDATA[abc]]></a>", &l).is_ok());
    assert_violation(
        "<a><b/><b>abc<![CDATA[def]]></b></a>",
        &l,
        "xml.text_length_exceeded",
        "/a/b[2]/text()",
        Some(5),
    );
    assert_violation(
        "<a><b sku='abcd'/></a>",
        &l,
        "xml.attribute_value_length_exceeded",
        "/a/b/@sku",
        Some(3),
    );
    assert_violation(
        "<a><!--abcde--></a>",
        &l,
        "xml.comment_length_exceeded",
        "/a/comment()",
        Some(4),
    );
    assert_violation(
        "<a><?tgt abcd?></a>",
        &l,
        "xml.pi_length_exceeded",
        "/a/processing-instruction('tgt')",
        Some(6),
    );
}

#[test]
fn body_size_is_checked_first() {
    let l = XmlLimits {
        max_body_bytes: Some(4),
        ..limits()
    };
    assert!(check(b"<a/>", &l).is_ok());
    assert_violation("<ab/>", &l, "xml.body_too_large", "/", Some(4));
}

#[test]
fn doctype_and_entity_policy() {
    assert_violation(
        "<!DOCTYPE a><a/>",
        &limits(),
        "xml.doctype_forbidden",
        "/",
        None,
    );
    let dtd = XmlLimits {
        allow_doctype: true,
        ..limits()
    };
    assert!(check(b"<!DOCTYPE a><a/>", &dtd).is_ok());
    let body = "<!DOCTYPE a [<!ENTITY e \"x\">]><a k='&e;'><b>&e;</b></a>";
    assert_violation(body, &dtd, "xml.entity_reference_forbidden", "/a/@k", None);
    assert_violation(
        "<a><b>&e;</b></a>",
        &limits(),
        "xml.entity_reference_forbidden",
        "/a/b/text()",
        None,
    );
    // Allowed references are passed on as written, never expanded.
    let both = XmlLimits {
        allow_entity_references: true,
        ..dtd
    };
    let mut seen = Vec::new();
    scan(
        body.as_bytes(),
        &both,
        &mut |p: &XmlPath<'_>, e: XmlEvent<'_>| {
            seen.push(format!("{p} {e:?}"));
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    assert_eq!(
        seen,
        [
            r#"/a/@k Attribute { name: "k", value: "&e;" }"#,
            r#"/a/b/text() Text("&e;")"#
        ]
    );
    // Even with a DTD allowed, external resources are refused.
    let xxe = "<!DOCTYPE a [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><a>&e;</a>";
    assert_violation(xxe, &both, "xml.doctype_forbidden", "/", None);
}

#[test]
fn defaults_are_the_documented_ones() {
    let d = XmlLimits::default();
    assert_eq!(
        (
            d.max_depth,
            d.max_attributes_per_element,
            d.max_children_per_element
        ),
        (Some(32), Some(64), Some(10_000))
    );
    assert_eq!(d.max_namespaces_per_element, Some(16));
    assert_eq!(
        (
            d.max_element_name_length,
            d.max_attribute_name_length,
            d.max_namespace_prefix_length
        ),
        (Some(256), Some(256), Some(256))
    );
    assert_eq!(
        (d.max_text_length, d.max_attribute_value_length),
        (Some(65_536), Some(8_192))
    );
    assert_eq!(
        (d.max_comment_length, d.max_pi_data_length, d.max_body_bytes),
        (Some(8_192), Some(8_192), Some(10 << 20))
    );
    assert!(!d.allow_doctype && !d.allow_entity_references);
}

#[test]
fn visitor_sees_text_and_attributes_with_paths() {
    let body = "<order id='7'><item sku='a&quot;1'>one</item><item sku='b'>t&amp;o<![CDATA[!]]></item>\n</order>";
    let mut seen = Vec::new();
    let stats = scan(
        body.as_bytes(),
        &XmlLimits::default(),
        &mut |p: &XmlPath<'_>, e: XmlEvent<'_>| {
            seen.push(format!("{p} {e:?}"));
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    assert_eq!(
        seen,
        [
            r#"/order/@id Attribute { name: "id", value: "7" }"#,
            r#"/order/item/@sku Attribute { name: "sku", value: "a\"1" }"#,
            r#"/order/item/text() Text("one")"#,
            r#"/order/item[2]/@sku Attribute { name: "sku", value: "b" }"#,
            r#"/order/item[2]/text() Text("t&o!")"#,
        ]
    );
    assert!(!stats.stopped_by_visitor);
    let mut n = 0;
    let stats = scan(
        body.as_bytes(),
        &XmlLimits::default(),
        &mut |_: &XmlPath<'_>, _: XmlEvent<'_>| {
            n += 1;
            ControlFlow::Break(())
        },
    )
    .unwrap();
    assert!(stats.stopped_by_visitor);
    assert_eq!(n, 1);
}

/// The declaration's `encoding` decides how a back end decodes the bytes; a check of the bytes
/// read as UTF-8 says nothing about a document decoded otherwise.
#[test]
fn only_encodings_that_read_as_checked_are_accepted() {
    // In UTF-7 (libxml2 decodes it through iconv) the comment closes early, a DOCTYPE with an
    // external entity follows, and `+ACY-x+ADs-` is `&x;`; read as UTF-8 it is a comment and
    // plain text.
    let utf7 = "<?xml version=\"1.0\" encoding=\"UTF-7\"?><!-- +AC0ALQA+ADwAIQ-DOCTYPE r \
                +AFsAPAAh-ENTITY x SYSTEM +ACI-file:///etc/passwd+ACIAPgBdAD4APAAhAC0ALQ- -->\
                <r>+ACY-x+ADs-</r>";
    for body in [
        utf7.to_owned(),
        utf7.replace("UTF-7", "utf-7"),
        "<?xml version='1.0' encoding='Shift_JIS'?><a/>".to_owned(),
        "<?xml version=\"1.0\" encoding=\"UTF-16\"?><a/>".to_owned(),
        "<?xml version=\"1.0\" encoding=\"ISO-2022-JP\"?><a/>".to_owned(),
        "<?xml version=\"1.0\" encoding=\"IBM037\"?><a/>".to_owned(),
    ] {
        let v = violation(&body, &limits());
        assert_eq!(v.code, "xml.invalid", "{body}: {v}");
        assert!(v.detail.contains("encoding"), "{v}");
    }
    for body in [
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><a/>",
        "<?xml version=\"1.0\" encoding=\"utf-8\" standalone=\"yes\"?><a/>",
        "<?xml version=\"1.0\" encoding='US-ASCII'?><a/>",
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>caf\u{e9}</a>",
        "<?xml version=\"1.0\" encoding=\"windows-1252\"?><a/>",
        "<?xml version=\"1.0\"?><a/>",
    ] {
        check(body.as_bytes(), &limits()).unwrap_or_else(|v| panic!("{body}: {v}"));
    }
}

/// UTF-16 bytes that happen to be valid UTF-8 (ASCII characters with a `NUL` after each) and
/// any other `NUL`: XML has no such character (XML 1.0 §2.2).
#[test]
fn nul_characters_are_refused() {
    let wide: Vec<u8> = "<a><!DOCTYPE x></a>".bytes().flat_map(|b| [b, 0]).collect();
    assert_eq!(check(&wide, &limits()).unwrap_err().code, "xml.invalid");
    let v = violation("<a>x\0y</a>", &limits());
    assert_eq!(v.code, "xml.invalid", "{v}");
    let v = violation("<a b=\"\0\"/>", &limits());
    assert_eq!(v.code, "xml.invalid", "{v}");
}
