//! The SMTP relay client's reading of a relay's replies: arbitrary bytes from
//! the server (codes, continuations, EHLO keywords, overlong lines) never
//! panic it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    let complete = calinvite_smtp::relay::read_replies_for_fuzzing(raw);
    assert!(complete <= raw.len() / 3 + 1);
});
