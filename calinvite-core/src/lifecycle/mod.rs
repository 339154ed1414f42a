//! The invitation lifecycle: a deterministic iTIP engine.
//!
//! What happens — an organizer's request or cancellation, a send request from
//! an application, a reply, a counter-proposal, a refresh, a delivery report,
//! an approval, a web answer, an unsubscribe — goes in; what must change and
//! what must be sent comes out, committed to a [`Store`] in one atomic write
//! and queued for a [`Transport`].
//!
//! ```text
//!   inbound message ─┐                         ┌─► Store::commit (state + queue, atomic)
//!   invite / approve ├─► Pipeline ─► engine ───┤
//!   web answer, now ─┘     ▲   rules (pure)    └─► fan-outs, planned in batches
//!                          │
//!        Pipeline::deliver_one: claim ─► assemble (Composer) ─► Transport::send_raw ─► settle
//! ```
//!
//! - [`engine`]: the rules as pure functions of the state and `now`.
//! - [`Pipeline`]: reads, decides, commits; generic over [`Store`] and
//!   [`Transport`], with no I/O of its own. Its `step_fan_out` and
//!   `deliver_one` are public so tests drive the queue one step at a time.
//! - [`MemoryStore`] and [`RecordingTransport`]: in-memory implementations
//!   for tests (yours too). SQLite and PostgreSQL live in `calinvite-store`;
//!   SMTP and SES in `calinvite-smtp` and `calinvite-ses`.
//! - [`report`]: counts per event, organizer and domain owner; CSV export.
//!
//! The rules are in [`crate::manual::lifecycle`].

pub mod engine;
mod memory;
mod model;
mod notice;
mod pipeline;
pub mod report;
pub mod scenario;
mod store;
mod transport;

pub use memory::MemoryStore;
pub use model::*;
pub use pipeline::{DeliveryReport, Outcome, Pipeline, PipelineError, PipelineOptions};
pub use store::{Change, Settlement, Store, StoreError, StoreResult};
pub use transport::{Recorded, RecordingTransport, Transport, TransportError};

/// Runs a future whose every step is ready at once — the pipeline over
/// [`MemoryStore`] and [`RecordingTransport`] — on the calling thread.
/// For tests and examples; real stores and transports need a real executor.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}
