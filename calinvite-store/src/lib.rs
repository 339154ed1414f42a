//! # calinvite-store
//!
//! Durable state for calinvite. This crate will hold the implementations of the
//! core's `Store` traits:
//!
//! - an in-memory store, for tests and trials;
//! - SQLite, the embedded default: one process, no set-up;
//! - PostgreSQL, for many stateless application instances sharing one database,
//!   with delivery work claimed through `FOR UPDATE SKIP LOCKED`.
//!
//! It also holds the delivery queue (enqueue in the same transaction as the
//! state change that caused it, leases, retries with backoff) and the real
//! [`Clock`](calinvite_core::Clock) and [`IdSource`](calinvite_core::IdSource)
//! implementations for production use, which the pure core cannot have.
//!
//! Status: [`system`] (the real clock and identifier source) is here; the
//! stores arrive with the iTIP engine's `Store` traits.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use calinvite_core as core;

pub mod system;
