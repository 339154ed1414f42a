//! calinvite-ses's integration tests, one module per story, in one test
//! binary: each binary links the whole dependency graph (the AWS SDK, tokio,
//! rustls, aws-lc), so one binary links once. `cargo test -p calinvite-ses
//! --test it notifications::` runs one module's tests.
//!
//! One test in `notifications` installs the process-wide `tracing`
//! subscriber, so no other test here may install one. The lines it looks for
//! are written only by `handle_sns`, which no other module calls; the other
//! modules' logs only make its checks for what must never be logged stricter.

mod moto;
mod moto_idn;
mod notification_properties;
mod notifications;
mod rate_limit;
