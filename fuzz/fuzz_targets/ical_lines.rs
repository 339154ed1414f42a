//! The iCalendar content-line reader over arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    let _ = calinvite_core::inbound::fuzzing::read_calendar(raw);
});
