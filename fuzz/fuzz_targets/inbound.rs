//! The whole inbound entry point over arbitrary bytes: it never panics, it
//! always classifies, and its JSON always renders.
#![no_main]
use calinvite_core::inbound::{AuthVerdict, InboundEnvelope, InboundLimits, parse_inbound};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    let m = parse_inbound(raw, &InboundEnvelope::default(), &AuthVerdict::default(), &InboundLimits::default());
    let json = m.to_json();
    assert!(json.contains(m.kind.name()));
});
