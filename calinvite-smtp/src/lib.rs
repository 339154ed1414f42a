//! # calinvite-smtp
//!
//! calinvite over SMTP. This crate will hold:
//!
//! - an outbound `Transport` for any relay (a local Postfix, an ESP's SMTP
//!   endpoint, the SMTP interface of AWS SES): pooled connections, STARTTLS and
//!   implicit TLS, AUTH, timeouts, a send-rate cap, and every failure classified
//!   as transient or permanent;
//! - an inbound SMTP listener that accepts mail only for calinvite's own
//!   addresses (ingest, replies, bounces), answers `250` only once the message
//!   is durably recorded, and hands each message to the core with its
//!   authentication verdict.
//!
//! Status: placeholder; it compiles so the workspace has its final shape.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use calinvite_core as core;
