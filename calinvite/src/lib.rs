//! # calinvite
//!
//! Run your own calendar-invite server. The core ([`calinvite_core`],
//! re-exported as [`core`]) stays pure and runtime-free; this crate holds what
//! needs a runtime and the operating system: the delivery [`Worker`] (tokio),
//! the [`SystemClock`] and the [`OsRandom`] identifier source.
//!
//! An application depends on `calinvite` plus the adapters it wants: a store
//! (`calinvite-store`: SQLite or PostgreSQL) and a transport
//! (`calinvite-smtp`, `calinvite-ses`).
//!
//! ## The worker
//!
//! A [`Pipeline`] queues the messages its commands cause (invitations,
//! updates, cancellations, notices) in its store, in the same atomic write as
//! the state change. A [`Worker`] drains that queue: it plans fan-outs,
//! claims due messages in batches under a lease, delivers them through the
//! pipeline's transport with bounded concurrency, backs off when idle, and
//! stops gracefully. [`Worker::spawn`] runs it on its own task;
//! [`Worker::run_until_idle`] drains what is due and returns, for tests and
//! batch jobs.
//!
//! ```
//! use std::sync::Arc;
//! use calinvite::{OsRandom, Pipeline, SystemClock, Worker, WorkerConfig};
//! use calinvite::core::lifecycle::{MemoryStore, RecordingTransport};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let pipeline = Arc::new(Pipeline::new(
//!     MemoryStore::new(),        // calinvite_store::SqlStore in production
//!     RecordingTransport::new(), // calinvite_smtp::SmtpRelay in production
//!     Arc::new(SystemClock),
//!     Box::new(OsRandom),
//! ));
//! // In a server: runs next to the code that calls the pipeline …
//! let worker = Worker::new(pipeline.clone(), WorkerConfig::default()).spawn();
//! // … until shutdown: it finishes what it holds, the rest stays queued.
//! let report = worker.stop().await;
//! assert_eq!(report.delivered, 0); // nothing was queued
//!
//! // In a test or a batch job: drain what is due now, then return.
//! let worker = Worker::new(pipeline, WorkerConfig::default().concurrency(8));
//! let report = worker.run_until_idle().await.expect("the store works");
//! assert_eq!(report.attempts(), 0);
//! # }
//! ```
//!
//! ## Observability
//!
//! The worker logs through [`tracing`]: a `worker_batch` span per batch with
//! the counts (claimed, sent, retried, failed, errors) and timings, and a
//! warning per store error. Spans and events never carry an invitation token
//! or a message body. [`Worker::counters`] and [`WorkerHandle::counters`] are
//! live counters an application can export as metrics.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(clippy::exhaustive_structs, clippy::exhaustive_enums)]

pub use calinvite_core as core;
pub use calinvite_core::{Clock, IdSource, Pipeline, Store, Transport};

mod system;
mod worker;

pub use system::{OsRandom, SystemClock};
pub use worker::{Worker, WorkerConfig, WorkerCounters, WorkerError, WorkerHandle, WorkerReport};
