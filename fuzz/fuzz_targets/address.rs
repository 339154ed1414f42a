//! Any string: parsing an address never panics, and a parsed address is a
//! fixed point (its normalised form parses to itself).
#![no_main]
use calinvite_core::EmailAddress;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    if let Ok(a) = EmailAddress::parse(input) {
        let again = EmailAddress::parse(a.as_str()).expect("a normalised address parses");
        assert_eq!(again, a);
        assert!(a.as_str().bytes().all(|b| b.is_ascii_graphic()));
    }
});
