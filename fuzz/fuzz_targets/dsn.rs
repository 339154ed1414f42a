//! The delivery-status field reader over arbitrary text.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = calinvite_core::inbound::fuzzing::parse_delivery_status(text);
});
