//! The calinvite manual: how calinvite behaves, and why, as rustdoc pages.
//!
//! The API documentation says what each item does; these pages say what
//! calinvite as a whole promises and the reasons behind it. The code's
//! comments cite them, so every rule has one place where it is explained.
//!
//! ## Pages
//!
//! - [`design`]: the design decisions, D1 to D14 — identity, SEQUENCE,
//!   change detection, audiences, approval, authentication, delivery, time
//!   zones, recurrence, links, bounces, tenancy, scale.
//! - [`interop`]: the calendar-client interoperability rules, 1 to 29 — what
//!   real clients require of an invitation and send back, and what calinvite
//!   does about each.
//! - [`inbound_warnings`]: every warning the inbound reader gives, and which
//!   ones make an organizer's message refused (an event never changes
//!   meaning on the way in) or mail refused as ambiguous.
//! - [`itip_subset`]: the iTIP methods and properties calinvite sends and
//!   accepts, identity and reply routing, time zones.
//! - [`targeting`]: who gets an update, a cancellation, a late invitation.
//! - [`security`]: tenancy, tokens, authentication of what arrives, links a
//!   mail scanner may follow, text safety, what is never logged.
//! - [`lifecycle`]: the invitation lifecycle, event by event, as the engine
//!   ([`crate::lifecycle`]) runs it.
//! - [`determinism`]: why the same inputs give the same bytes, and where time
//!   and randomness come from.
//! - [`api`]: how calinvite's public types evolve — which are
//!   `#[non_exhaustive]` and which stay exhaustive, and why.
//!
//! ## How the code cites the manual
//!
//! Every design decision and every interoperability rule has a short, stable
//! anchor that does not change when its title is reworded: `design#d7` for
//! decision D7, `interop#rule-20` for rule 20. Citations take one of two
//! forms:
//!
//! - in doc comments, an intra-doc link:
//!   `[D7](crate::manual::design#d7)` and
//!   `[interop rule 20](crate::manual::interop#rule-20)` inside
//!   `calinvite-core`, `calinvite_core::manual::…` in the other crates;
//! - in plain comments, scripts, Markdown files and test notes, where no
//!   link can be followed: `manual: design D7` and
//!   `manual: interop rule 20`, naming the page of `calinvite_core::manual`
//!   and the entry on it.

pub mod api;
pub mod design;
pub mod determinism;
pub mod inbound_warnings;
pub mod interop;
pub mod itip_subset;
pub mod lifecycle;
pub mod security;
pub mod targeting;
