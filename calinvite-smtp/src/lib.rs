//! # calinvite-smtp
//!
//! calinvite over SMTP:
//!
//! - [`relay`]: an outbound [`Transport`](calinvite_core::lifecycle::Transport)
//!   for any relay (a local Postfix, an ESP's SMTP endpoint, the SMTP
//!   interface of AWS SES): pooled, pipelined connections, STARTTLS and
//!   implicit TLS, AUTH, timeouts, a concurrency limit and a send-rate cap,
//!   every failure classified as transient or permanent;
//! - [`listener`]: an inbound SMTP listener that accepts mail only for
//!   calinvite's own addresses (ingest, replies, bounces), answers `250` only
//!   once the message is durably recorded, and hands each message to the core
//!   with its authentication verdict.
//!
//! # Observability
//!
//! Both log through [`tracing`]: a span per listener session (peer, session
//! id, TLS) and per relay connection (relay, TLS mode, extensions offered),
//! and an event per message with its outcome, SMTP reply code, size and
//! timings. Limit hits are `info` (a peer's doing) and failures of the store,
//! the relay's set-up or the listener's capacity `warn`. Nothing logged
//! carries a message's content, an invitation token, credentials or a
//! recipient's full address (recipients appear at `debug` only, or as their
//! domain). Each also counts what it did in [`metrics`], for an application
//! to export.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(clippy::exhaustive_structs, clippy::exhaustive_enums)]

pub use calinvite_core as core;

#[cfg(feature = "auth")]
pub mod auth;
pub mod listener;
pub mod metrics;
pub mod relay;

mod obs;
