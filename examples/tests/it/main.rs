//! The examples run as a user runs them, one module per program, in one test
//! binary: each binary links the whole dependency graph, so one binary links
//! once. `cargo test -p calinvite-examples --test it render::` runs one
//! module's tests.

mod invoice_reminders;
mod render;
