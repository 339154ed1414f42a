//! Shared pieces of calinvite's examples.
//!
//! [`spec`] reads an event, a sender and a recipient from a small TOML or JSON
//! file, as the `render` previewer and the tests use it.

pub mod spec;
