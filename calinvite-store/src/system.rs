//! The real [`Clock`](calinvite_core::Clock) and
//! [`IdSource`](calinvite_core::IdSource), kept here for compatibility: they
//! live in the `calinvite` crate, which an application can use without
//! depending on a store.

pub use calinvite::{OsRandom, SystemClock};
