//! Fuzzes the XML engine: it must never panic or hang, under strict and permissive limits.
#![no_main]

use std::ops::ControlFlow;

use libfuzzer_sys::fuzz_target;
use portcullis_threat::xml::{XmlEvent, XmlLimits, XmlPath, scan};

fuzz_target!(|data: &[u8]| {
    let permissive = XmlLimits {
        allow_doctype: true,
        allow_entity_references: true,
        ..XmlLimits::default()
    };
    for limits in [XmlLimits::default(), permissive] {
        let mut events = 0usize;
        let result = scan(data, &limits, &mut |p: &XmlPath<'_>, e: XmlEvent<'_>| {
            events += 1;
            if events % 10 == 0 {
                std::hint::black_box(p.render());
            }
            std::hint::black_box(e);
            ControlFlow::Continue(())
        });
        if let Err(v) = result {
            assert!(v.code.starts_with("xml."), "{v}");
        }
    }
});
