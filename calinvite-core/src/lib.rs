//! # calinvite-core
//!
//! The pure core of calinvite: native calendar invitations (iTIP over iMIP,
//! RFC 5546 / RFC 6047) that every calendar client shows with Yes / No / Maybe
//! buttons, and the domain model behind them.
//!
//! **This crate performs no I/O.** It opens no socket, file or database, reads
//! no clock and draws no random number. Time comes in as a value (`now`, or a
//! [`Clock`]), identifiers from an [`IdSource`]; what is to be sent comes out as
//! bytes. Same inputs, byte-identical output.
//!
//! ## Embed it in four steps
//!
//! An application adds the `calinvite` crate, which re-exports this one and
//! brings the system clock, the OS random source and the tokio `Worker` that
//! drains the queue. Here the same four steps run on this crate alone, with a
//! fixed clock, a predictable identifier source and an in-memory drain
//! ([`Pipeline::run_until_idle`]):
//!
//! ```
//! use std::sync::Arc;
//! use calinvite_core::inbound::{AuthVerdict, InboundEnvelope};
//! use calinvite_core::lifecycle::{
//!     InvitationSource, MemoryStore, Outcome, Pipeline, RecordingTransport, SingleTenant,
//! };
//! use calinvite_core::{
//!     EmailAddress, EventDraft, FixedClock, InvitationUid, ParticipationStatus, Recipient,
//!     Schedule, SequentialIds,
//! };
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
//! // 1. The pipeline (`calinvite::pipeline(store, transport).build()` in a deployment).
//! let now = Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap();
//! let pipeline = Pipeline::builder(MemoryStore::new(), RecordingTransport::new())
//!     .clock(Arc::new(FixedClock::new(now)))
//!     .ids(SequentialIds::new(7))
//!     .build();
//!
//! // 2. The tenant: one sending domain, one organizer.
//! let tenant = SingleTenant::new("events.example.com", "Billing", "billing@example.com")?;
//! let scope = block_on(pipeline.register(&tenant))?;
//!
//! // 3. An event, and an invitation to it.
//! let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
//! let draft = EventDraft::new("Invoice 2026-117 due", Schedule::all_day(day, day)?);
//! let code = block_on(pipeline.create_event(scope, draft))?;
//! let guest = Recipient::new(EmailAddress::parse("jorg@example.org")?);
//! let Outcome::Invited(token) =
//!     block_on(pipeline.invite(scope, &code, guest, InvitationSource::Api))?
//! else {
//!     unreachable!("a first invitation")
//! };
//!
//! // 4. Drain the queue: the invitation is sent.
//! assert_eq!(block_on(pipeline.run_until_idle())?, 1);
//! assert_eq!(pipeline.transport().sent()[0].envelope.to().as_str(), "jorg@example.org");
//!
//! // The guest's calendar answers Yes with a REPLY naming the invitation's UID.
//! let uid = InvitationUid::new(code.clone(), token, "events.example.com")?;
//! let reply = format!(
//!     "From: jorg@example.org\r\nTo: rsvp@events.example.com\r\nSubject: Accepted\r\n\
//!      MIME-Version: 1.0\r\nContent-Type: text/calendar; method=REPLY; charset=UTF-8\r\n\r\n\
//!      BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Example//Calendar//EN\r\nMETHOD:REPLY\r\n\
//!      BEGIN:VEVENT\r\nUID:{uid}\r\nSEQUENCE:0\r\nDTSTAMP:20261122T100000Z\r\n\
//!      ORGANIZER:mailto:rsvp@events.example.com\r\n\
//!      ATTENDEE;PARTSTAT=ACCEPTED:mailto:jorg@example.org\r\n\
//!      END:VEVENT\r\nEND:VCALENDAR\r\n"
//! );
//! let envelope = InboundEnvelope {
//!     mail_from: Some("jorg@example.org".into()),
//!     rcpt_to: vec!["rsvp@events.example.com".into()],
//!     peer: None,
//! };
//! block_on(pipeline.receive(reply.as_bytes(), envelope, AuthVerdict::default()))?;
//! let invitation = &block_on(pipeline.invitations(scope, &code))?[0];
//! assert_eq!(invitation.status(), Some(ParticipationStatus::Accepted));
//! # Ok(()) }
//! ```
//!
//! ```text
//!  Event ──► EventRevision ─┐
//!  Recipient, InvitationUid ├─► Composer::compose(kind, …, now) ──► OutgoingMessage
//!  SenderIdentity, options ─┘                                        (envelope, RFC 5322 bytes,
//!                                                                      idempotency key)
//! ```
//!
//! Transports (SMTP, AWS SES) and storage live in the sibling crates
//! `calinvite-smtp`, `calinvite-ses` and `calinvite-store`.
//!
//! ## What is in here
//!
//! - [`EmailAddress`], [`Mailbox`]: addresses normalised once (lower case,
//!   `mailto:` and percent-encoding removed).
//! - [`EventCode`], [`InvitationToken`], [`InvitationUid`], [`Sequence`]: who and
//!   what a message is about; a recipient's UID carries their secret token.
//! - [`Event`], [`Schedule`], [`TimeZone`], [`RecurrenceRule`], [`Recurrence`],
//!   [`InstanceOverride`]: the event, checked when built.
//! - [`Composer`]: assembles invitations, updates and cancellations.
//! - [`Template`]: the words of a message; [`DefaultTemplate`] is English.
//! - [`targeting`]: change detection and who gets updates and cancellations;
//!   [`csv`]: spreadsheet-safe report export (building blocks of the engine).
//! - [`lifecycle`]: the iTIP engine — organizer ingest, sends, updates,
//!   cancellations, approval, replies, bounces, reports — with the [`Store`]
//!   and [`Transport`] traits and a [`Pipeline`] generic over both.
//! - [`spi`]: what a store implementation needs beyond the application's
//!   API — the writes, the delivery queue, fan-outs, typed store errors.
//! - [`Keyword`]: the stable names of fieldless enums (reports, store
//!   columns, serialized state).
//! - [`inbound`]: reading what arrives — organizer requests and cancellations,
//!   replies, counters, refreshes, delivery reports, automatic replies.
//! - [`manual`]: how calinvite behaves and why — the design decisions, the
//!   calendar-client interoperability rules, the supported iTIP subset,
//!   targeting, the security model, the lifecycle, determinism.
//!
//! ## Cargo features
//!
//! - `serde`: `Serialize` and `Deserialize` for the engine's state (the
//!   [`lifecycle`] model: events, invitations, history, pending changes, the
//!   delivery queue, tenants) and the values in it, for stores that persist
//!   them. Values are written in plain forms (addresses, codes, zones and
//!   rules as strings, enums as kebab-case names, instants as RFC 3339) and
//!   read back through the types' own constructors: a stored value that is
//!   no longer valid is a deserialization error, never an unchecked value.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(clippy::exhaustive_structs, clippy::exhaustive_enums)]

mod address;
mod clock;
mod compose;
pub mod csv;
mod draft;
mod error;
mod event;
mod ics;
mod ids;
pub mod inbound;
mod keyword;
pub mod lifecycle;
pub mod list;
pub mod manual;
mod mime;
pub mod occurrences;
mod recurrence;
mod revision;
#[cfg(feature = "serde")]
mod serde_impls;
pub mod spi;
pub mod targeting;
mod template;
mod text;
mod time;

pub use address::{EmailAddress, Mailbox};
pub use clock::{Clock, FixedClock, IdSource, IdSourceError, SequentialIds};
pub use compose::{
    ComposeOptions, Composer, DEFAULT_PRODUCT_ID, Envelope, IdempotencyKey, OutgoingMessage,
};
pub use draft::EventDraft;
pub use error::{
    AddressError, ComposeError, DomainLabelProblem, EventError, IdError, RecurrenceError, TimeError,
};
pub use event::{
    Event, EventBuilder, EventStatus, InstanceOverride, LanguageTag, MAX_INSTANCES,
    ParticipationStatus, Recipient, Recurrence, SenderIdentity, WebUrl,
};
pub use ics::{MAX_LINE_OCTETS, Method};
pub use ids::{EventCode, InvitationToken, InvitationUid, Sequence};
pub use keyword::Keyword;
pub use lifecycle::{
    AllowEntry, DomainOwner, Invitation, InvitationSource, OrganizerAccount, OrganizerId, Outcome,
    OwnerId, Pipeline, PipelineError, Scope, Settings, Store, Transport,
};
pub use recurrence::{Frequency, RecurrenceRule, Until};
pub use revision::EventRevision;
pub use template::{
    DefaultTemplate, MessageKind, RenderedText, RsvpLinks, Template, TemplateContext,
    describe_recurrence, describe_schedule, describe_start_short, escape_html,
};
pub use text::{Name, Text};
pub use time::{OccurrenceId, Schedule, TimeZone, ZonedDateTime};
