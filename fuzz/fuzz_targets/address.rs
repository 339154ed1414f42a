//! Any string: parsing an address never panics, and a parsed address is a
//! fixed point (its normalised form parses to itself). Its domain is carried
//! in A-labels (ASCII); a local part may be UTF-8 (RFC 6531) but never holds
//! a space, a control or anything that could end a header.
#![no_main]
use calinvite_core::EmailAddress;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    if let Ok(a) = EmailAddress::parse(input) {
        let again = EmailAddress::parse(a.as_str()).expect("a normalised address parses");
        assert_eq!(again, a);
        assert!(a.domain().bytes().all(|b| b.is_ascii_graphic()));
        assert!(
            a.as_str()
                .chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && (!c.is_ascii() || c.is_ascii_graphic()))
        );
    }
});
