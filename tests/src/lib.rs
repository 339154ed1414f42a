//! Cross-crate tests of calinvite; the tests live in `tests/`.
//!
//! [`python`] finds the Python interpreter that has the independent iCalendar
//! reader the interop tests use (`scripts/test.sh` installs it).

use std::path::PathBuf;
use std::process::Command;

/// The Python with `icalendar` installed: `$CALINVITE_PYTHON`, else `python3`.
///
/// # Panics
///
/// When neither has `icalendar`: the interop tests must fail, not skip, when
/// their independent reader is missing.
pub fn python() -> PathBuf {
    let candidate = std::env::var_os("CALINVITE_PYTHON")
        .map_or_else(|| PathBuf::from("python3"), PathBuf::from);
    let ok = Command::new(&candidate)
        .args(["-c", "import icalendar"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{} cannot import icalendar: run ./scripts/test.sh (it installs the independent reader) \
         or set CALINVITE_PYTHON to a Python that has it",
        candidate.display()
    );
    candidate
}

/// Path of a file in this crate.
pub fn here(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}
