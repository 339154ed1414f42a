//! Any bytes as a recipient list: the reader never panics, always ends,
//! numbers rows in increasing order, and keeps no row over its limit.
#![no_main]
use calinvite_core::list::{ListLimits, ListReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let mut limits = ListLimits::default();
    limits.max_record_bytes = 256;
    limits.max_fields = 16;
    let Ok(reader) = ListReader::with_limits(input, limits) else {
        return;
    };
    let mut last = reader.row();
    for entry in reader {
        let entry = entry.expect("reading a byte slice never fails");
        assert!(entry.row > last, "rows in increasing order");
        last = entry.row;
        assert!(entry.address.chars().count() <= 320);
        if let Ok(r) = &entry.outcome {
            assert!(r.address().as_str().len() <= 256);
        }
    }
});
