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

mod address;
mod clock;
mod compose;
pub mod csv;
mod error;
mod event;
mod ics;
mod ids;
pub mod inbound;
pub mod lifecycle;
pub mod manual;
mod mime;
mod recurrence;
mod revision;
#[cfg(feature = "serde")]
mod serde_impls;
pub mod targeting;
mod template;
mod text;
mod time;

pub use address::{EmailAddress, Mailbox};
pub use clock::{Clock, FixedClock, IdSource, SequentialIds};
pub use compose::{
    ComposeOptions, Composer, DEFAULT_PRODUCT_ID, Envelope, IdempotencyKey, OutgoingMessage,
};
pub use error::{
    AddressError, ComposeError, DomainLabelProblem, EventError, IdError, RecurrenceError, TimeError,
};
pub use event::{
    Event, EventBuilder, EventStatus, InstanceOverride, LanguageTag, MAX_INSTANCES,
    ParticipationStatus, Recipient, Recurrence, SenderIdentity, WebUrl,
};
pub use ics::{MAX_LINE_OCTETS, Method};
pub use ids::{EventCode, InvitationToken, InvitationUid, Sequence};
pub use lifecycle::{Pipeline, Store, Transport};
pub use recurrence::{Frequency, RecurrenceRule, Until};
pub use revision::EventRevision;
pub use template::{
    DefaultTemplate, MessageKind, RenderedText, RsvpLinks, Template, TemplateContext,
    describe_recurrence, describe_schedule, describe_start_short, escape_html,
};
pub use text::{Name, Text};
pub use time::{OccurrenceId, Schedule, TimeZone, ZonedDateTime};
