//! Determinism: the same inputs give the same bytes.
//!
//! The core reads no clock and draws no random number. Time enters as a
//! value — the `now` a function is given, or the [`Clock`](crate::Clock)
//! the [`Pipeline`](crate::Pipeline) is built with — and identifiers (event
//! codes, invitation tokens) come from the [`IdSource`](crate::IdSource) the
//! application passes. Production code passes the system clock and an
//! OS-random source; tests pass a [`FixedClock`](crate::FixedClock) and
//! [`SequentialIds`](crate::SequentialIds) and get the same run every time.
//! The workspace's Clippy configuration denies reading the clock anywhere
//! but in the few adapters and examples that provide a real [`Clock`](crate::Clock).
//!
//! ## Messages
//!
//! `Date`, `DTSTAMP` come from the `now` the caller passes; the Message-ID and
//! the MIME boundaries are derived from the idempotency key (token, SEQUENCE,
//! method, copy), so the same key always carries the same Message-ID and
//! the same inputs give the same bytes. The pipeline assembles a queued
//! message when it sends it, so a retry's `Date` and `DTSTAMP` are those of
//! the attempt (a fresh DTSTAMP on every message,
//! [interop rule 10](super::interop#rule-10)).
//!
//! ## Why
//!
//! Golden files pin exact output; property and model-based tests replay
//! failures from a seed; and a retried delivery keeps its Message-ID, so a
//! relay or a recipient can recognise it as the same message.
