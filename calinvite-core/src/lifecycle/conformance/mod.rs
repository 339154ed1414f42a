//! Conformance scenarios: the lifecycle's observable behaviour as generic
//! async functions over any [`Store`](super::Store), so the in-memory, SQLite
//! and PostgreSQL stores all run the same suite. Each function builds its own
//! [`Scenario`](super::scenario::Scenario) on the store it is given and panics
//! with a message naming what went wrong.
//!
//! One async fn per scenario, generic over `S: Store`; each takes a fresh,
//! empty store. Store implementations run them all.

pub mod answers;
pub mod ingest;
