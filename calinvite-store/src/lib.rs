//! # calinvite-store
//!
//! Durable state for calinvite: the core's
//! [`Store`](calinvite_core::lifecycle::Store) on SQLite (the embedded
//! default: one file, no set-up) and PostgreSQL (many stateless application
//! instances sharing one database), behind the `sqlite` and `postgres`
//! features — see [`SqlStore`].
//!
//! - Schema and migrations per dialect, applied on open and versioned; a
//!   database written by a newer schema is refused
//!   ([`StoreError::TooNew`](calinvite_core::lifecycle::StoreError)), never
//!   touched.
//! - The delivery queue lives in the same database: a message is queued in the
//!   transaction of the state change that caused it; workers claim batches
//!   with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the single writer
//!   on SQLite) and expired leases are claimed again.
//! - [`system`]: the real clock and identifier source, re-exported from the
//!   `calinvite` crate (where the delivery worker lives too).

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(clippy::exhaustive_structs, clippy::exhaustive_enums)]

pub use calinvite_core as core;

mod schema;
mod sql;
pub mod system;

pub use sql::{Dialect, SqlOptions, SqlStore};
