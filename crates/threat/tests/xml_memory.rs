//! A ~5 MB quadratic blow-up document (one 50 KB entity referenced 100 000 times: about 5 GB
//! once expanded) is scanned quickly and without the process growing. Alone in its own test
//! binary so that no concurrent test disturbs the RSS measurement.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use portcullis_threat::xml::{XmlEvent, XmlLimits, XmlPath, check, scan};

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

#[test]
fn five_megabyte_quadratic_blowup_is_cheap() {
    let entity = "a".repeat(50_000);
    // One reference per element, so the document stays under the text limits even when
    // references are allowed; with defaults it is refused at the DOCTYPE anyway.
    let body = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE kaboom [<!ENTITY a \"{entity}\">]><kaboom>{}</kaboom>",
        "<r>&a;</r>".repeat(500_000)
    );
    assert!(body.len() > 5_000_000, "{}", body.len());

    let before = rss_kib();
    let started = Instant::now();
    let refused = check(body.as_bytes(), &XmlLimits::default()).unwrap_err();
    assert_eq!(refused.code, "xml.doctype_forbidden");

    // The expensive case: DTD and references allowed, so the whole 5 MB is walked.
    let permissive = XmlLimits {
        allow_doctype: true,
        allow_entity_references: true,
        max_children_per_element: None,
        ..XmlLimits::default()
    };
    let mut text_bytes = 0;
    let stats = scan(
        body.as_bytes(),
        &permissive,
        &mut |_: &XmlPath<'_>, e: XmlEvent<'_>| {
            if let XmlEvent::Text(t) = e {
                text_bytes += t.len();
            }
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    let elapsed = started.elapsed();
    let grown = rss_kib().saturating_sub(before);
    println!(
        "scanned {} bytes in {elapsed:?}, RSS grew by {grown} KiB",
        body.len()
    );

    assert_eq!(stats.elements, 500_001);
    assert_eq!(text_bytes, 3 * 500_000, "references must stay unexpanded");
    // Generous for debug builds on a busy box; expanding 5 GB would never finish at all.
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    // Expansion would need gigabytes; a streaming scan needs next to nothing.
    assert!(grown < 8 * 1024, "RSS grew by {grown} KiB");
}
