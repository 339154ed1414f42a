//! calinvite-core's integration tests, one module per story, in one test
//! binary: each binary links the crate and the whole test kit again, so one
//! binary links once. `cargo test -p calinvite-core --test it golden::` runs
//! one module's tests.
//!
//! The shared modules are declared here once: `support` (generators and
//! message inspection for the property tests) and `lifecycle_machine` (the
//! lifecycle reference model, which calinvite-store's tests also run on SQLite
//! and PostgreSQL). Proptest regression files sit next to the module they
//! belong to (`tests/it/<module>.proptest-regressions`); the fixtures, golden
//! files and corpus stay in `tests/`.

// The model unwraps as freely as the tests that run it (each of which allows
// `unwrap` for itself).
#[allow(clippy::unwrap_used)]
mod lifecycle_machine;
mod support;

mod address_scripts;
mod api;
mod conformance;
mod corpus;
mod delivery_notices;
mod embed;
mod errors;
mod golden;
mod hostile;
mod inbound_properties;
mod inbound_refusals;
mod lifecycle;
mod lifecycle_metrics;
mod lifecycle_model;
mod lists_model;
mod properties;
mod serde_roundtrip;
mod template;
