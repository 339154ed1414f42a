//! # The calinvite invite server
//!
//! A calendar invite server a person runs with one command, and an OEM
//! mounts into its own axum application: calinvite's
//! [`Pipeline`](calinvite_core::lifecycle::Pipeline) behind an HTTP API,
//! with the inbound SMTP listener (organizers' invitations, recipients'
//! replies, bounces) and the delivery [`Worker`](calinvite::Worker) in the
//! same process, over one SQLite or PostgreSQL database.
//!
//! ```text
//!  HTTP clients ──► router (axum, /v1 …) ─┐
//!                                          ├─► Pipeline ──► SqlStore (SQLite / PostgreSQL)
//!  MX ──► SMTP Listener ──────────────────┘       │             ▲ invite_server_* tables (keys,
//!                                                  ▼             │ Idempotency-Keys, lists, webhooks)
//!                                   Worker ──► Outbound: capture folder (.eml) or SMTP relay
//!                       webhooks::Dispatcher ──► announcements ──► signed POSTs to tenants' endpoints
//! ```
//!
//! - [`RunningServer::start`] runs everything a [`Config`] asks for;
//!   the `invite-server` binary is that plus a command line.
//! - [`router`] is the HTTP API alone, over an [`AppState`] — for an
//!   application that has its own pipeline, worker and listener and mounts
//!   the API next to its own routes (webhooks then need its pipeline built
//!   with `.announce(true)` and a [`webhooks::Dispatcher`] spawned):
//!
//! ```no_run
//! # async fn mount() -> Result<(), Box<dyn std::error::Error>> {
//! use invite_server::{AppState, Limits, Outbound, CaptureFolder, ServerDb};
//! use std::sync::Arc;
//!
//! let url = "sqlite:///var/lib/app/calinvite.db";
//! let store = calinvite_store::SqlStore::open(url).await?;
//! let outbound = Outbound::capture(CaptureFolder::new("/var/lib/app/outbox")?);
//! let pipeline = Arc::new(calinvite::pipeline(store, outbound).build());
//! let db = ServerDb::open(url, None, 4).await?;
//! let state = AppState::new(pipeline, db, Limits::default());
//! let app = axum::Router::new()
//!     .route("/", axum::routing::get(|| async { "my application" }))
//!     .merge(invite_server::router(state));
//! let tcp = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(tcp, app).await?;
//! # Ok(()) }
//! ```
//!
//! ## The API
//!
//! JSON under `/v1`, described by the OpenAPI 3.1 document at
//! `/openapi.json` (generated from the handlers: [`openapi`]). Every
//! operation needs an API key (`Authorization: Bearer cik_…`, [`keys`]
//! explains what is stored). An organizer's key sees its organizer's data,
//! a domain owner's key all of its organizers'; anything else is 404.
//! Errors are RFC 9457 problem details ([`problem`]). Lists page with
//! `limit` and an opaque `cursor`.
//!
//! | resource | operations |
//! |---|---|
//! | `/v1/owner`, `/v1/organizers` | the domain owner; organizers registered, listed, read, changed (settings, who may send as them) |
//! | `/v1/events` | listed with answer counts, read, made, changed (an update to the audience the settings say, or held for approval), cancelled |
//! | `/v1/events/{code}/invitations` | send one (idempotent per event and address, and per `Idempotency-Key`), one recipient's status and history, the recipients with filters |
//! | `/v1/events/{code}/lists`, `/v1/lists` | a CSV list sent as one durable job: progress, per-row report, pause, resume, cancel |
//! | `/v1/pending` | changes held for approval, with their audience: approve, reject |
//! | `…/report` | per event, organizer and owner, JSON or CSV; mailed |
//! | `/v1/suppressions`, `/v1/refusals` | the suppression list, the refusal log |
//! | `/v1/keys` | API keys: made (shown once), listed, revoked |
//! | `/v1/held`, `/v1/organizers/registrations`, `/v1/owner/registration` | invitations from addresses not registered yet, held; a sign-in link mailed to an address; the self-registration switch ([`unregistered`]) |
//! | `/v1/webhooks` | webhook endpoints: registered (secret shown once), listed, changed, deleted, secret rotated, delivery log ([`webhooks`]) |
//!
//! `/healthz`, `/readyz` (the database answers) and `/metrics`
//! (Prometheus) need no key and show no tenant's data. `/register/{token}`
//! is the sign-in link's page (HTML; the token is the credential).
//!
//! ## Organizers who are not registered yet
//!
//! An invitation sent to the ingest mailbox from an address no organizer
//! has is held, not lost; a sender whose message passed DMARC gets one
//! mail with a sign-in link, and registering releases what it sent, as
//! events. [`unregistered`] has the whole flow and its limits.
//!
//! ## What is kept where
//!
//! calinvite's store keeps tenants, events, invitations, the delivery
//! queue and the announcements webhooks are made from. The server keeps
//! its own few tables beside them, in the same database ([`ServerDb`]):
//! API keys (their SHA-256, never the key), answers to `Idempotency-Key`s
//! (a day), tenant ids, uploaded lists until they are fed, invitations held
//! from unregistered addresses with their sign-in links (SHA-256 only), and
//! webhook endpoints with their messages and attempts (the delivery log,
//! kept `[webhooks] keep_log_days`). The server uses calinvite's public
//! API only: the listener's
//! [`RefusalHook`](calinvite_smtp::listener::RefusalHook) to hold what the
//! core refuses, and
//! [`Pipeline::compose_notice`](calinvite_core::lifecycle::Pipeline::compose_notice)
//! to write the instruction mail.
//!
//! ## Logs
//!
//! Through [`tracing`]: one event per request (method, route pattern,
//! status, milliseconds; never the query string, a key or a body), and
//! what the pipeline, the listener and the worker log themselves. No key,
//! password or invitation token is ever logged.

#![forbid(unsafe_code)]

pub mod admin;
pub mod api;
pub mod authres;
pub mod config;
mod console;
mod db;
pub mod extract;
pub mod keys;
mod landing;
pub mod metrics;
pub mod outbound;
pub mod problem;
pub mod public;
mod router;
mod server;
mod state;
pub mod unregistered;
pub mod web;
pub mod webhooks;

pub use config::Config;
pub use db::{DbError, ServerDb};
pub use outbound::{CaptureFolder, Outbound};
pub use router::{openapi, router};
pub use server::{Demo, Opened, RunningServer, StartError, Stopped, open};
pub use state::{AppState, Limits, ServerPipeline};
