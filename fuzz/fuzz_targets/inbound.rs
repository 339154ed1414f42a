//! The whole inbound entry point over arbitrary bytes: it never panics, it
//! always classifies, and its JSON always renders.
#![no_main]
use std::sync::Once;

use calinvite_core::inbound::{AuthVerdict, InboundEnvelope, InboundLimits, parse_inbound};
use libfuzzer_sys::fuzz_target;

static HOOK: Once = Once::new();

fuzz_target!(|raw: &[u8]| {
    // parse_inbound contains a debug assertion inside mail-parser (a panic in
    // debug builds only); every other panic is still a crash.
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.location().is_some_and(|l| l.file().contains("mail-parser")) {
                return;
            }
            previous(info);
            std::process::abort();
        }));
    });
    let m = parse_inbound(raw, &InboundEnvelope::default(), &AuthVerdict::default(), &InboundLimits::default());
    let json = m.to_json();
    assert!(json.contains(m.kind.name()));
});
