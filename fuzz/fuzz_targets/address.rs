//! Any string: parsing an address never panics, and a parsed address is a
//! fixed point (its normalised form, and the form people read, parse to
//! itself). Its domain is ASCII (A-labels); its local part may be any visible
//! text (RFC 6531), and then, and only then, it needs SMTPUTF8.
#![no_main]
use calinvite_core::EmailAddress;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    if let Ok(a) = EmailAddress::parse(input) {
        let again = EmailAddress::parse(a.as_str()).expect("a normalised address parses");
        assert_eq!(again, a);
        assert_eq!(EmailAddress::parse(&a.to_unicode()).expect("the shown form parses"), a);
        assert!(a.domain().bytes().all(|b| b.is_ascii_graphic()), "{a:?}");
        assert!(!a.as_str().chars().any(|c| c.is_whitespace() || c.is_control()), "{a:?}");
        assert_eq!(a.needs_smtputf8(), !a.as_str().is_ascii(), "{a:?}");
        assert_eq!(a.as_str(), format!("{}@{}", a.local_part(), a.domain()));
    }
});
