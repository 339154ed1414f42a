//! calinvite's test kit: the lifecycle scenario harness, the conformance
//! suite every [`Store`](calinvite_core::Store) must pass, and helpers for
//! the workspace's cross-crate tests (which live in `tests/`).
//!
//! - [`scenario`]: a [`Scenario`](scenario::Scenario) plays an organizer,
//!   recipients and mail servers through whole event lifecycles with real
//!   iMIP messages, in simulated time, over any store.
//! - [`conformance`]: the lifecycle's observable behaviour as scenarios that
//!   run on any store; [`conformance_tests!`] turns them into one `#[test]`
//!   each for yours.
//! - [`block_on`]: runs a future on the calling thread, for stores and
//!   transports that need no runtime (the in-memory ones).
//! - [`python`], [`here`] and [`postfix`]: the independent iCalendar reader
//!   and the loopback Postfix the interop and SMTP tests use.
//!
//! # Testing your own store
//!
//! A [`Store`](calinvite_core::Store) implementation — on DynamoDB, say —
//! passes the same conformance suite as the in-memory, SQLite and PostgreSQL
//! stores. Add the test kit as a dev-dependency, with the same version of
//! `calinvite-core` your store uses:
//!
//! ```toml
//! [dev-dependencies]
//! calinvite-tests = "0.1"
//! ```
//!
//! and write a test file (`tests/conformance.rs`) with one function that runs
//! a scenario on a fresh, empty store, and one macro call that generates a
//! `#[test]` for every scenario of the suite (they run in parallel, and a
//! scenario added to a later version of the suite is run without any change
//! on your side):
//!
//! ```no_run
//! use std::future::Future;
//!
//! // Your store; the in-memory one stands in for it here.
//! use calinvite_core::lifecycle::MemoryStore as DynamoStore;
//!
//! /// Runs the conformance scenario `name` on a fresh, empty store.
//! fn on_dynamo<F, Fut>(name: &str, scenario: F)
//! where
//!     F: FnOnce(DynamoStore) -> Fut,
//!     Fut: Future<Output = ()>,
//! {
//!     // A real store: create a table (or key prefix) named after `name`,
//!     // run the scenario on the executor your client needs (a Tokio
//!     // runtime's `block_on`), then delete the table.
//!     let _table = format!("conformance-{}", name.replace("::", "-"));
//!     let store = DynamoStore::new();
//!     calinvite_tests::block_on(scenario(store));
//! }
//!
//! calinvite_tests::conformance_tests!(on_dynamo);
//! # fn main() {}
//! ```
//!
//! A failing scenario panics with a message naming what went wrong; the test
//! is named after it (`ingest::brief_story`, `answers::recurring_instances`,
//! …). To run the scenarios some other way (one test, a custom report),
//! [`conformance::scenarios`] lists them all for a store type.

pub mod conformance;
pub mod scenario;

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

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

/// Runs `future` to completion on the calling thread, sleeping while it
/// waits to be woken.
///
/// For futures that need no runtime: the pipeline over
/// [`MemoryStore`](calinvite_core::lifecycle::MemoryStore) and
/// [`RecordingTransport`](calinvite_core::lifecycle::RecordingTransport),
/// whose every step is ready at once. Stores and transports that do I/O need
/// their own executor (a Tokio runtime's `block_on`).
pub fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
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

    /// When Postfix wrote a Maildir file, from its name
    /// (`SECONDS.VdevIinodeMmicros.host`): seconds, then microseconds (the
    /// name's own order within a second is the inode's, not the time's).
    fn delivered_at(name: &str) -> (u64, u64, String) {
        let mut parts = name.splitn(3, '.');
        let secs = parts
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(u64::MAX);
        let micros = parts
            .next()
            .and_then(|v| v.rsplit_once('M'))
            .and_then(|(_, m)| m.parse().ok())
            .unwrap_or(u64::MAX);
        (secs, micros, name.to_owned())
    }

    /// Every message in the Maildir that Postfix delivered to `to`, oldest
    /// first (by the delivery time its file name starts with).
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
                    found.push((delivered_at(&e.file_name().to_string_lossy()), bytes));
                }
            }
        }
        found.sort();
        found.into_iter().map(|(_, b)| b).collect()
    }
}
