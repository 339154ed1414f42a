//! Shared pieces of calinvite's examples.
//!
//! - [`spec`] reads an event, a sender and a recipient from a small TOML or
//!   JSON file, as the `render` previewer and the tests use it.
//! - [`invoices`], [`sink`] and [`customers`] are the parts of the
//!   `invoice-reminders` platform: the invoices and the event each becomes,
//!   a capturing SMTP server that files delivered mail as `.eml` files, and
//!   the simulated customers whose calendar clients answer with iMIP replies.

/// The repository's README: its Rust snippets compile (and those not marked
/// `no_run` run) as this crate's doctests, so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

pub mod customers;
pub mod invoices;
pub mod sink;
pub mod spec;
