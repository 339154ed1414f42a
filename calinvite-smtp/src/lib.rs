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

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use calinvite_core as core;

#[cfg(feature = "auth")]
pub mod auth;
pub mod listener;
pub mod relay;
