//! The places and readings of a request that `inspect_request` inspects beyond plain
//! parameters: multipart parts, parameters of URLs carried in headers, JSON carried inside a
//! value, bodies without a content type, bodies that only look like XML; and the decoding
//! steps that turn evasions back into the syntax the rules look for.

use portcullis_threat::injection::{AttackClass, Detector, DetectorConfig, Finding, Location};

fn det() -> Detector {
    Detector::compile(&DetectorConfig::default()).expect("default config compiles")
}

fn body(d: &Detector, content_type: Option<&str>, body: &str) -> Vec<Finding> {
    d.inspect_request("/upload", None, [], content_type, Some(body.as_bytes()))
}

fn header(d: &Detector, name: &str, value: &str) -> Vec<Finding> {
    d.inspect_request("/", None, [(name, value.as_bytes())], None, None)
}

/// The class and location of the first finding, if any.
fn first(f: &[Finding]) -> Option<(AttackClass, &str)> {
    f.first().map(|f| (f.class, f.location.as_str()))
}

fn value(d: &Detector, v: &str) -> Option<Finding> {
    d.inspect(&Location::QueryParam("q".into()), v)
}

const BOUNDARY: &str = "----WebKitFormBoundaryABC123";

fn multipart(parts: &[(&str, Option<&str>, Option<&str>, &str)]) -> String {
    let mut out = String::new();
    for (name, filename, ctype, content) in parts {
        out.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\""
        ));
        if let Some(f) = filename {
            out.push_str(&format!("; filename=\"{f}\""));
        }
        out.push_str("\r\n");
        if let Some(t) = ctype {
            out.push_str(&format!("Content-Type: {t}\r\n"));
        }
        out.push_str(&format!("\r\n{content}\r\n"));
    }
    out.push_str(&format!("--{BOUNDARY}--\r\n"));
    out
}

#[test]
fn multipart_parts_are_inspected_one_by_one() {
    let d = det();
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    let benign = multipart(&[
        (
            "title",
            None,
            None,
            "Holiday photos (2024) — O'Brien's album",
        ),
        (
            "photo",
            Some("IMG 0042.jpg"),
            Some("image/jpeg"),
            "\u{ff}\u{d8}binary",
        ),
    ]);
    assert!(body(&d, Some(&ct), &benign).is_empty());

    let sqli = multipart(&[("user", None, None, "admin' or '1'='1")]);
    let f = body(&d, Some(&ct), &sqli);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        (f[0].class, f[0].location.as_str()),
        (AttackClass::Sqli, "form.user")
    );

    let name = multipart(&[("file", Some("../../../etc/passwd"), Some("text/plain"), "x")]);
    let f = body(&d, Some(&ct), &name);
    assert_eq!(f[0].class, AttackClass::PathTraversal);
    assert_eq!(f[0].location, "form.file.filename");

    // `filename*` (RFC 8187), which Spring and Go prefer to `filename`, is read decoded.
    let ext = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"; \
         filename*=UTF-8''..%2F..%2F..%2Fetc%2Fpasswd\r\nContent-Type: image/png\r\n\r\nx\r\n\
         --{BOUNDARY}--\r\n"
    );
    let f = body(&d, Some(&ct), &ext);
    assert_eq!(
        first(&f),
        Some((AttackClass::PathTraversal, "form.file.filename")),
        "{f:?}"
    );

    // Binary uploads are the back end's files, not values: their bytes are not read as text.
    let image = multipart(&[(
        "img",
        Some("a.png"),
        Some("image/png"),
        "<script>alert(1)</script>",
    )]);
    assert!(body(&d, Some(&ct), &image).is_empty());
    let text = multipart(&[(
        "note",
        Some("a.txt"),
        Some("text/plain"),
        "<script>alert(1)</script>",
    )]);
    assert_eq!(body(&d, Some(&ct), &text)[0].class, AttackClass::Xss);
    // A part without a file name is a field to the back end (PHP's `$_POST`, a servlet's
    // parameters) whatever content type it claims: a binary label does not hide it.
    for label in ["application/octet-stream", "image/png"] {
        let field = multipart(&[("user", None, Some(label), "admin' or '1'='1")]);
        let f = body(&d, Some(&ct), &field);
        assert_eq!(first(&f), Some((AttackClass::Sqli, "form.user")), "{label}");
    }

    // Go's reader decodes quoted-printable parts for the application: `=27` is a quote there.
    let qp = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"user\"\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\r\n\
         admin=27 o=\r\nr =271=27=3D=271\r\n--{BOUNDARY}--\r\n"
    );
    let f = body(&d, Some(&ct), &qp);
    assert_eq!(first(&f), Some((AttackClass::Sqli, "form.user")), "{f:?}");
    let plain = qp.replace(
        "admin=27 o=\r\nr =271=27=3D=271",
        "O=27Brien, caf=C3=A9 owner",
    );
    assert!(body(&d, Some(&ct), &plain).is_empty());

    // A multipart type whose boundary never occurs is still inspected, as one raw value.
    let f = body(
        &d,
        Some("multipart/form-data; boundary=nope"),
        "x=<script>alert(1)</script>",
    );
    assert_eq!(f[0].location, "body");
}

#[test]
fn urls_in_headers_are_read_parameter_by_parameter() {
    let d = det();
    // `IS NOT NULL` is an SQL fragment only when it is the whole value, so it takes the query
    // parameter of the Referer to see it.
    let f = header(
        &d,
        "Referer",
        "https://shop.example/list?op=IS%20NOT%20NULL&page=2",
    );
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].class, AttackClass::Sqli);
    assert_eq!(f[0].location, "header.referer");
    let f = header(
        &d,
        "Referer",
        "https://app.example/#/x?cmd=foo;cat$u+/etc$u/passwd",
    );
    assert!(!f.is_empty());
    assert!(
        header(
            &d,
            "Referer",
            "https://www.google.com/search?q=rust+async+book"
        )
        .is_empty()
    );
    assert!(
        header(
            &d,
            "X-Original-URL",
            "/v1/orders?status=open&sort=-created_at"
        )
        .is_empty()
    );
}

#[test]
fn json_carried_in_a_value_is_read_through_its_strings() {
    let d = det();
    let f = d.inspect_request(
        "/",
        Some("filter=%7B%22name%22%3A%22x%27%20or%20%271%27%3D%271%22%7D"),
        [],
        None,
        None,
    );
    assert_eq!(f[0].class, AttackClass::Sqli);
    assert_eq!(f[0].location, "query.filter");
    // Escaped quotes of the inner document are JSON syntax, not a break-out.
    let nested = r#"{"note": "{\"query\": \"name:\\\"O'Brien\\\" AND city:Dublin\"}"}"#;
    assert!(body(&d, Some("application/json"), nested).is_empty());
}

#[test]
fn untyped_bodies_are_read_as_a_form_and_as_text() {
    let d = det();
    // As a form this is a name `'admin', '1'` and a value `'1'`; as text, a tautology.
    let f = body(&d, None, "'admin', '1'='1'");
    assert_eq!(
        f.iter().find(|f| f.location == "body").map(|f| f.class),
        Some(AttackClass::Sqli)
    );
    assert!(body(&d, None, "name=Mary-Kate+O%27Brien&city=Dublin").is_empty());
}

#[test]
fn bodies_that_only_look_like_xml_are_also_read_raw() {
    let d = det();
    let f = body(&d, None, "<>");
    assert_eq!(
        f.first().map(|f| f.location.as_str()),
        Some("body"),
        "{f:?}"
    );
    assert!(
        body(
            &d,
            Some("application/xml"),
            "<order><item sku=\"A-1\">2</item></order>"
        )
        .is_empty()
    );
}

#[test]
fn decoding_undoes_evasions() {
    let d = det();
    for v in [
        // Typographic quotes become real quotes in some drivers and code pages.
        "1’ OR ’1’=’1",
        // `+` is a space inside double-encoded form data.
        "%22+WAITFOR+DELAY+%270:0:5%27",
        // `\xHH` runs are UTF-8 (`¼script¾`, a high-bit ASCII tag).
        "\\xc2\\xbcscript\\xc2\\xbealert(1)\\xc2\\xbc/script\\xc2\\xbe",
        // Unset variables and special parameters split words for filters, not for shells.
        "host;c$_at /et$!c/pas$?swd",
        "x;una$$me -a",
    ] {
        assert!(value(&d, v).is_some(), "{v:?} not detected");
    }
}

#[test]
fn rich_text_and_code_that_look_like_attacks_pass() {
    let d = det();
    for v in [
        "<span style=\"color: #d73a49\">red text</span> and <b>bold</b>",
        "<p align=\"center\"><img src=\"https://example.com/logo.png\" alt=\"Logo\"></p>",
        "The \"or\" operator returns true if either side is true.",
        "if (x > 0 && y > 0) { quadrant = 1; }",
        "query GetUser($id: ID!) { user(id: $id) { name } }",
        "=SUM(A1:A10)",
        "Drop table tennis practice on Thursdays, please.",
        "H<sub>2</sub>O and E = mc<sup>2</sup>",
        "fn main() -> Result<(), Box<dyn Error>> { Ok(()) }",
        "Who's on call this weekend -- you or Sam?",
        "/home/dashboard",
        "const greeting = `Hello, ${name}!`;",
    ] {
        assert!(value(&d, v).is_none(), "{v:?} -> {:?}", value(&d, v));
    }
    // CSS that can carry script is still judged.
    assert!(
        value(
            &d,
            "<div style=\"background:url(javascript:alert(1))\">x</div>"
        )
        .is_some()
    );
}

#[test]
fn repeated_parameters_are_also_judged_joined() {
    let d = det();
    let query = |q: &str| d.inspect_request("/", Some(q), [], None, None);
    // ASP.NET reads `?q=select 1&q=2 from users` as `select 1,2 from users`: neither half is
    // an attack, the whole is (HTTP parameter pollution).
    assert!(query("q=select%201").is_empty());
    assert!(query("q=2%20from%20users").is_empty());
    let f = query("q=select%201&q=2%20from%20users");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        (f[0].class, f[0].location.as_str()),
        (AttackClass::Sqli, "query.q")
    );
    // The same in a form body, with another parameter in between.
    let f = body(
        &d,
        Some("application/x-www-form-urlencoded"),
        "q=select+1&page=2&q=2+from+users",
    );
    assert_eq!(
        (f[0].class, f[0].location.as_str()),
        (AttackClass::Sqli, "form.q")
    );
    // Repeats of ordinary values stay ordinary.
    assert!(query("tag=red&tag=blue&tag=O%27Brien&tag=rock,%20paper&tag=or").is_empty());
}
