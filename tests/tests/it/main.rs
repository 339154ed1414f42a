//! calinvite's cross-crate tests, one module per story, in one test binary:
//! each binary links the whole dependency graph (tokio, rustls, sqlx), so one
//! binary links once. `cargo test -p calinvite-tests --test it
//! smtp_end_to_end::` runs one module's tests.

mod independent_readers;
mod smtp_end_to_end;
