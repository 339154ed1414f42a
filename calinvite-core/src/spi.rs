//! The store implementor's interface: what a [`Store`] keeps, writes and
//! gives back, apart from what an application reads.
//!
//! An application builds a [`Pipeline`](crate::lifecycle::Pipeline) over a
//! store and reads records through it (everything it needs is in
//! [`crate::lifecycle`] and the crate root). A crate that *implements* a
//! store — `calinvite-store` for SQLite and PostgreSQL, the in-memory
//! [`MemoryStore`](crate::lifecycle::MemoryStore), yours — needs more: the
//! writes a [`Store::commit`] applies ([`Change`]), the delivery queue
//! ([`Delivery`], [`Payload`], [`QueueState`], [`Settlement`]), the fan-outs
//! still to plan ([`FanOut`]), the answer ordering marks ([`AnswerMark`]),
//! every field of the invitations and events it keeps, persistence internals
//! included ([`InvitationParts`], [`EventParts`]), and the typed errors a
//! store returns ([`StoreError`]).
//!
//! This module is at the crate root rather than inside
//! [`lifecycle`](crate::lifecycle) so that the lifecycle module reads as the
//! application's API: nothing here is needed to run calinvite, only to keep
//! its state somewhere new. Such a store proves itself with the conformance
//! suite of the `calinvite-tests` crate.

pub use crate::lifecycle::model::{
    AnswerMark, Delivery, DeliveryKey, EventParts, FanOut, FanOutAudience, InvitationParts, Lease,
    Payload, QueueState,
};
pub use crate::lifecycle::store::{
    Change, QueueCounts, Settle, Settlement, Store, StoreError, StoreResult,
};
