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
//! - [`Announcement`]: what happened (an answer, a delivery outcome, an
//!   event changed …), written in the same commit as the change when the
//!   pipeline is built to announce, for an application to forward
//!   ([manual](crate::manual::lifecycle#announcements)).
//!
//! The rules are in [`crate::manual::lifecycle`].
//!
//! Records an application reads are `#[non_exhaustive]` and built through
//! constructors (`DomainOwner::new`, `HistoryEntry::new` …), so a field added
//! later breaks no one, and [`Invitation`] and [`StoredEvent`] show only
//! getters, keeping their persistence internals (versions, answer marks) to
//! the store. Plain ids and the store interface's own values in
//! [`crate::spi`] (the queue, fan-outs, `InvitationParts`, `EventParts`) stay
//! open structs, because every store must build and persist each of their
//! fields anyway.
//!
//! ```
//! use std::sync::Arc;
//! use calinvite_core::lifecycle::*;
//! use calinvite_core::*;
//! use chrono::{NaiveDate, TimeZone as _, Utc};
//!
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     // Every step over the memory store and recording transport is ready at once.
//! #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
//! #     match std::pin::pin!(f).poll(&mut cx) {
//! #         std::task::Poll::Ready(out) => out,
//! #         std::task::Poll::Pending => unreachable!("a memory-store future waited"),
//! #     }
//! # }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let clock = Arc::new(FixedClock::new(Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap()));
//! let pipeline = Pipeline::builder(MemoryStore::new(), RecordingTransport::new())
//!     .clock(clock)
//!     .ids(SequentialIds::new(7)) // a real application passes an OS-random source
//!     .build();
//! let tenant = SingleTenant::new("events.example.com", "Billing", "billing@example.com")?
//!     .allow(AllowEntry::Domain("example.com".into()));
//! let scope = block_on(pipeline.register(&tenant))?;
//!
//! // An event created through the API (no organizer calendar needed) …
//! let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
//! let draft = EventDraft::new("Invoice 2026-117 due", Schedule::all_day(day, day)?);
//! let code = block_on(pipeline.create_event(scope, draft))?;
//! // … sent to a customer, twice: the second request sends nothing.
//! let customer = Recipient::new(EmailAddress::parse("jorg@example.org")?);
//! let first = block_on(pipeline.invite(scope, &code, customer.clone(), InvitationSource::Api))?;
//! let again = block_on(pipeline.invite(scope, &code, customer, InvitationSource::Api))?;
//! assert!(matches!(first, Outcome::Invited(_)));
//! assert!(matches!(again, Outcome::AlreadyInvited(_)));
//!
//! // Workers drain the queue; here, one step at a time until it is empty.
//! assert_eq!(block_on(pipeline.run_until_idle())?, 1);
//! let sent = pipeline.transport().sent();
//! assert_eq!(sent[0].envelope.to().as_str(), "jorg@example.org");
//! # Ok(()) }
//! ```

pub mod engine;
mod error;
mod memory;
pub(crate) mod model;
mod notice;
mod pipeline;
pub mod report;
pub(crate) mod store;
mod transport;

pub use engine::{Answer, AnswerChannel};
pub use memory::MemoryStore;
// The application's records and settings. What only a store implementation
// needs (the queue, fan-outs, writes) is in `crate::spi`.
pub use model::{
    AllowEntry, Announcement, AnnouncementKind, AnnouncementType, AuthPolicy, DeliveryKey,
    DeliveryState, DomainOwner, HistoryEntry, HistoryKind, Invitation, InvitationSource,
    LateAnswers, ListJob, ListJobId, ListJobState, ListRow, OrganizerAccount, OrganizerId, OwnerId,
    PendingChange, PendingChangeId, PendingKind, PendingState, PlannedMessage, Refusal,
    RefusalReason, RefusalRecord, RowVerdict, Scope, Settings, StoredEvent, Suppression,
    SuppressionReason,
};
pub use notice::{
    CounterNotice, CreatedNotice, DefaultNoticeTemplate, NoticeTemplate, NoticeText, RefusedNotice,
    ReportNotice,
};
pub use pipeline::notices_in::{DeliveryNotice, NoticeEffect};
pub use pipeline::{
    DeliveryReport, ListFeed, ListProgress, MetricsSnapshot, Outcome, Pipeline, PipelineBuilder,
    PipelineError, PipelineMetrics, PipelineOptions, Prepared, SingleTenant, Unset,
};
pub use store::{QueueCounts, Store, StoreError};
pub use transport::{Recorded, RecordingTransport, Transport, TransportError};

/// Runs a future whose every step is ready at once — the in-memory store's —
/// for the crate's own unit tests.
#[cfg(test)]
pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(future).poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => unreachable!("an in-memory store's future waited"),
    }
}
