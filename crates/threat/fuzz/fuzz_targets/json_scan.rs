//! Fuzzes the JSON engine: it must never panic or hang, and it must agree with serde_json on
//! what is valid JSON (serde_json is the differential oracle).
#![no_main]

use std::ops::ControlFlow;

use libfuzzer_sys::fuzz_target;
use portcullis_threat::json::{JsonEvent, JsonLimits, JsonPath, check, scan};

fuzz_target!(|data: &[u8]| {
    // Rendering every tenth path exercises key quoting and escape decoding too.
    let mut events = 0usize;
    let _ = scan(
        data,
        &JsonLimits::default(),
        &mut |p: &JsonPath<'_>, e: JsonEvent<'_>| {
            events += 1;
            if events % 10 == 0 {
                std::hint::black_box(p.render());
            }
            std::hint::black_box(e);
            ControlFlow::Continue(())
        },
    );

    // serde_json stops at 128 levels; below that, only syntax can make the two differ.
    let limits = JsonLimits {
        max_depth: Some(100),
        ..JsonLimits::unlimited()
    };
    let ours = check(data, &limits);
    match (ours, serde_json::from_slice::<serde_json::Value>(data)) {
        (Ok(_), Err(e)) if !e.to_string().starts_with("number out of range") => {
            panic!("accepted what serde_json rejects: {e}")
        }
        (Err(v), Ok(_)) if v.code == "json.invalid" => {
            panic!("rejected what serde_json accepts: {v}")
        }
        _ => {}
    }
});
