#![allow(clippy::unwrap_used)]
//! The lifecycle state machine (`calinvite-core/tests/it/lifecycle_machine`, the
//! same reference model, transitions and invariants the in-memory store runs)
//! on SQLite and on PostgreSQL.
//!
//! Every case gets a fresh database: a SQLite file in a temporary folder, or a
//! new PostgreSQL schema on `CALINVITE_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), dropped when the case is over.
//! An unreachable server fails the test — it never skips. Futures run on a
//! Tokio runtime shared by the tests of this binary.
//!
//! Random cases (of 5 to 39 steps): 64 on SQLite and 32 on PostgreSQL (every
//! commit there waits for the server's disk, and a schema per case costs a
//! few hundred milliseconds), about 15 and 40 seconds in a debug build; or
//! `CALINVITE_MODEL_CASES` for both. Shrunk failures are kept in
//! `tests/it/lifecycle_model_sql.proptest-regressions` and replayed first.

use crate::support;

#[path = "../../../calinvite-core/tests/it/lifecycle_machine/mod.rs"]
mod lifecycle_machine;

use std::cell::RefCell;
use std::future::Future;
use std::sync::OnceLock;

use calinvite_store::SqlStore;
use lifecycle_machine::{LifecycleTest, StoreFactory, config, regressions};
use proptest_state_machine::prop_state_machine;

/// The runtime every future of this binary runs on (tests run on several
/// threads at once; a multi-thread runtime serves them all).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(support::runtime)
}

thread_local! {
    /// The folder of the SQLite case running on this thread, removed when
    /// the case is over (or when the next one starts).
    static SQLITE_CASE: RefCell<Option<support::TempDir>> = const { RefCell::new(None) };
    /// The PostgreSQL schema of the case running on this thread.
    static POSTGRES_CASE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A fresh SQLite file per case.
struct Sqlite;

impl StoreFactory for Sqlite {
    type S = SqlStore;

    fn make() -> SqlStore {
        let dir = support::TempDir::new("model");
        let store = Self::block_on(support::sqlite(&dir));
        SQLITE_CASE.with(|c| *c.borrow_mut() = Some(dir));
        store
    }

    fn block_on<T>(future: impl Future<Output = T>) -> T {
        runtime().block_on(future)
    }

    fn finish(store: &SqlStore) {
        Self::block_on(store.close());
        SQLITE_CASE.with(|c| c.borrow_mut().take());
    }
}

/// A fresh PostgreSQL schema per case, dropped after it.
struct Postgres;

impl StoreFactory for Postgres {
    type S = SqlStore;

    fn make() -> SqlStore {
        let schema = support::unique("model");
        let store = Self::block_on(support::postgres_in(&schema, 2));
        POSTGRES_CASE.with(|c| *c.borrow_mut() = Some(schema));
        store
    }

    fn block_on<T>(future: impl Future<Output = T>) -> T {
        runtime().block_on(future)
    }

    fn finish(store: &SqlStore) {
        if let Some(schema) = POSTGRES_CASE.with(|c| c.borrow_mut().take()) {
            // Best effort: this also runs while a failed case unwinds.
            let _ = Self::block_on(store.drop_schema(&schema));
        }
        Self::block_on(store.close());
    }
}

/// How many random cases a store runs: `default`, or `CALINVITE_MODEL_CASES`.
fn cases(default: u32) -> u32 {
    std::env::var("CALINVITE_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// PostgreSQL's cases; an unreachable server fails here, before the first
/// case (not as a failing case proptest would shrink and record).
fn postgres_cases() -> u32 {
    support::require_postgres();
    cases(32)
}

const REGRESSIONS: &str = "tests/it/lifecycle_model_sql.proptest-regressions";

prop_state_machine! {
    #![proptest_config(config(cases(64), REGRESSIONS))]

    #[test]
    fn sqlite_follows_the_model(sequential 5..40 => LifecycleTest<Sqlite>);
}

prop_state_machine! {
    #![proptest_config(config(postgres_cases(), REGRESSIONS))]

    #[test]
    fn postgres_follows_the_model(sequential 5..40 => LifecycleTest<Postgres>);
}

/// The shrunk failures the machine found on the in-memory store, on SQLite.
#[test]
fn sqlite_replays_the_regressions() {
    regressions::all::<Sqlite>();
}

/// The same on PostgreSQL.
#[test]
fn postgres_replays_the_regressions() {
    regressions::all::<Postgres>();
}
