//! The DURATION parser over arbitrary text: never panics, never overflows.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Some(seconds) = calinvite_core::inbound::fuzzing::parse_duration(text) {
        assert!(seconds.unsigned_abs() < u64::MAX / 2);
    }
});
