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

/// The loopback Postfix that `scripts/postfix.sh` sets up: relays
/// `mailbox.test` into one Maildir and `calinvite.test` to calinvite's
/// listener.
pub mod postfix {
    use std::path::PathBuf;
    use std::time::Duration;

    /// The one Maildir for `mailbox.test` (`$CALINVITE_POSTFIX_MAILDIR`).
    pub fn maildir() -> PathBuf {
        PathBuf::from(
            std::env::var("CALINVITE_POSTFIX_MAILDIR")
                .unwrap_or_else(|_| "/var/tmp/calinvite-postfix/Maildir".into()),
        )
    }

    /// Where Postfix relays mail for `calinvite.test`
    /// (`$CALINVITE_POSTFIX_LISTENER_PORT`).
    pub fn listener_port() -> u16 {
        std::env::var("CALINVITE_POSTFIX_LISTENER_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(10026)
    }

    /// # Panics
    ///
    /// When Postfix does not answer on 127.0.0.1:25: the tests that need it
    /// fail, never skip.
    pub fn require() {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 25));
        if let Err(e) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
            panic!(
                "Postfix does not answer on 127.0.0.1:25 ({e}): run scripts/postfix.sh \
                 (scripts/test.sh does)"
            );
        }
    }

    /// Every message in the Maildir that Postfix delivered to `to`, oldest
    /// first (by file name, which starts with the delivery time).
    pub fn delivered_to(to: &str) -> Vec<Vec<u8>> {
        let marker = format!("Delivered-To: {to}\n");
        let mut found = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(maildir().join(sub)) else {
                continue;
            };
            for e in entries.flatten() {
                let Ok(bytes) = std::fs::read(e.path()) else {
                    continue;
                };
                if bytes.windows(marker.len()).any(|w| w == marker.as_bytes()) {
                    found.push((e.file_name(), bytes));
                }
            }
        }
        found.sort();
        found.into_iter().map(|(_, b)| b).collect()
    }
}
