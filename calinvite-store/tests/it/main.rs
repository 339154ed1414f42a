//! calinvite-store's integration tests, one module per story, in one test
//! binary: each binary links the whole dependency graph (sqlx, tokio, the
//! SQLite and PostgreSQL drivers), so one binary links once. `cargo test -p
//! calinvite-store --test it tenancy::` runs one module's tests.
//!
//! The long runs stay `#[ignore]`d and are picked by name: `scripts/test.sh`
//! runs `cargo test --release -p calinvite-store --test it --
//! --include-ignored 100k` (the 100,000-message runs of `queue_concurrency`
//! and `crash_recovery`). `crash_recovery` runs this binary again as its
//! worker processes, on the one test `crash_recovery::crash_child`.

mod load;
mod support;

mod batched_commit;
mod conformance;
mod corruption;
mod crash_recovery;
mod lifecycle_model_sql;
mod lists;
mod migration_invitations;
mod migration_lists;
mod queue_concurrency;
mod readers;
mod schema_version;
mod tenancy;
