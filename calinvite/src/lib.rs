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
//! ## Embed it in four steps
//!
//! 1. **Build the pipeline** over a store and a transport:
//!    [`pipeline`]`(store, transport).build()` fills in the [`SystemClock`]
//!    and the [`OsRandom`] identifier source.
//! 2. **Set up the tenant**: a [`SingleTenant`] is one
//!    sending domain (mailboxes `create@`, `rsvp@`, `bounces@`) and one
//!    organizer; [`Pipeline::register`] writes it and returns the scope
//!    every command runs in.
//! 3. **Create an event and invite** someone:
//!    [`Pipeline::create_event`] with an [`EventDraft`], then
//!    [`Pipeline::invite`].
//! 4. **Run the [`Worker`]**: it sends what the commands queued.
//!
//! Replies come back to the `rsvp@` mailbox; whatever receives mail there
//! (the SMTP listener of `calinvite-smtp`, an SES inbound rule) hands each
//! message to [`Pipeline::receive`], and the answer is on the invitation.
//!
//! ```
//! use std::sync::Arc;
//! use calinvite::core::inbound::{AuthVerdict, InboundEnvelope};
//! use calinvite::core::lifecycle::{InvitationSource, MemoryStore, Outcome, RecordingTransport};
//! use calinvite::core::{EmailAddress, InvitationUid, ParticipationStatus, Recipient, Schedule};
//! use calinvite::{EventDraft, SingleTenant, Worker, WorkerConfig};
//! use chrono::NaiveDate;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // 1. The pipeline: calinvite_store::SqlStore and calinvite_smtp::SmtpRelay
//! //    in production; in memory here.
//! let pipeline = Arc::new(calinvite::pipeline(MemoryStore::new(), RecordingTransport::new()).build());
//!
//! // 2. The tenant: one sending domain, one organizer (idempotent: call it at every start).
//! let tenant = SingleTenant::new("events.example.com", "Billing", "billing@example.com")?;
//! let scope = pipeline.register(&tenant).await?;
//!
//! // 3. An event, and an invitation to it.
//! let day = NaiveDate::from_ymd_opt(2036, 12, 1).expect("a date");
//! let draft = EventDraft::new("Customer evening", Schedule::all_day(day, day)?);
//! let code = pipeline.create_event(scope, draft).await?;
//! let guest = Recipient::new(EmailAddress::parse("jorg@example.org")?);
//! let Outcome::Invited(token) = pipeline.invite(scope, &code, guest, InvitationSource::Api).await? else {
//!     unreachable!("a first invitation")
//! };
//!
//! // 4. The worker sends it (in a server: `Worker::spawn`, stopped at shutdown).
//! let worker = Worker::new(pipeline.clone(), WorkerConfig::default());
//! assert_eq!(worker.run_until_idle().await?.submitted, 1);
//!
//! // The guest clicks Yes: their calendar mails a REPLY to rsvp@… naming the
//! // invitation's UID, and the mail adapter hands it to the pipeline.
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
//! let outcome = pipeline.receive(reply.as_bytes(), envelope, AuthVerdict::default()).await?;
//! assert!(matches!(outcome, Outcome::AnswerRecorded(_)));
//!
//! // The answer, as the organizer's screens read it.
//! let invitation = &pipeline.invitations(scope, &code).await?[0];
//! assert_eq!(invitation.status(), Some(ParticipationStatus::Accepted));
//! # Ok(()) }
//! ```
//!
//! The words people read are replaceable, in any language: invitations,
//! updates and cancellations come from a [`Template`](calinvite_core::Template)
//! ([`PipelineBuilder::template`]), the notices to organizers (event created,
//! refused, new time proposed, mailed report) from a
//! [`NoticeTemplate`](calinvite_core::lifecycle::NoticeTemplate)
//! ([`PipelineBuilder::notice_template`]). Both are English by default.
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
//! use calinvite::{Worker, WorkerConfig};
//! use calinvite::core::lifecycle::{MemoryStore, RecordingTransport};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let pipeline = Arc::new(calinvite::pipeline(
//!     MemoryStore::new(),        // calinvite_store::SqlStore in production
//!     RecordingTransport::new(), // calinvite_smtp::SmtpRelay in production
//! ).build());
//! // In a server: runs next to the code that calls the pipeline …
//! let worker = Worker::new(pipeline.clone(), WorkerConfig::default()).spawn();
//! // … until shutdown: it finishes what it holds, the rest stays queued.
//! let report = worker.stop().await;
//! assert_eq!(report.submitted, 0); // nothing was queued
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
pub use calinvite_core::lifecycle::{PipelineBuilder, SingleTenant};
pub use calinvite_core::{Clock, EventDraft, IdSource, IdSourceError, Pipeline, Store, Transport};

mod system;
mod worker;

pub use system::{OsRandom, SystemClock, pipeline};
pub use worker::{Worker, WorkerConfig, WorkerCounters, WorkerError, WorkerHandle, WorkerReport};
