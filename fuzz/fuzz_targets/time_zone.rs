//! Any string: resolving a time-zone name never panics; a resolved zone's
//! IANA name resolves to the same zone.
#![no_main]
use calinvite_core::TimeZone;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    if let Ok(z) = TimeZone::parse(input) {
        assert_eq!(TimeZone::parse(z.name()).expect("an IANA name resolves"), z);
    }
});
