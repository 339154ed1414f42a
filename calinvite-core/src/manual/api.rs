//! How calinvite's public types evolve.
//!
//! A public struct or enum whose fields or variants may grow — a
//! configuration, an error, a report, a metrics snapshot, an outcome, a
//! reason, a record read from a message or a provider notification — is
//! `#[non_exhaustive]`: build it with its constructor or `Default` and set
//! its public fields, read its fields, and give every `match` on it a
//! wildcard arm. A type whose shape is closed by a standard or by design —
//! the values an RFC defines (an event's STATUS, a recurrence FREQ, an SPF
//! result), a newtype, a unit type with no settings, the SMTP envelope and
//! authentication verdict an adapter hands to the core, the words a
//! [`Template`](crate::Template) returns — stays exhaustive, says why next to
//! its definition, and can be built with a literal and matched exhaustively.
//!
//! Every public crate (`calinvite-core`, `calinvite`, `calinvite-store`,
//! `calinvite-smtp`, `calinvite-ses`) turns on Clippy's `exhaustive_structs`
//! and `exhaustive_enums` lints, so a new public type cannot be left
//! exhaustive by accident: it is either `#[non_exhaustive]` or carries an
//! `allow` with its reason.
