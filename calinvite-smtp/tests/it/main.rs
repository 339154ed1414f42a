//! calinvite-smtp's integration tests, one module per story, in one test
//! binary: each binary links the whole dependency graph (tokio, rustls,
//! aws-lc, sqlx), so one binary links once. `cargo test -p calinvite-smtp
//! --test it listener::` runs one module's tests.
//!
//! `tests/observability.rs` stays a binary of its own: it installs a
//! process-wide `tracing` subscriber and reads back everything logged, so the
//! sessions and relay connections of the tests here would write into its log
//! and satisfy the very lines it looks for.

mod listener_support;
mod relay_support;

mod listener;
mod listener_smtputf8;
mod postfix_inbound;
mod postfix_outbound;
mod relay_faults;
mod relay_smtputf8;
mod relay_tls;
