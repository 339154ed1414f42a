//! Any string: parsing an RRULE never panics, and the canonical form parses
//! back to the same rule.
#![no_main]
use calinvite_core::RecurrenceRule;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    if let Ok(rule) = RecurrenceRule::parse(input) {
        let text = rule.to_string();
        assert!(text.bytes().all(|b| b.is_ascii_graphic()), "{text:?}");
        assert_eq!(RecurrenceRule::parse(&text).expect("canonical form parses"), rule);
    }
});
