//! What an application does with a message the pipeline refused, before the
//! listener answers the sender ([`RefusalHook`]).

use std::future::Future;
use std::pin::Pin;

use calinvite_core::inbound::{AuthVerdict, InboundEnvelope};
use calinvite_core::lifecycle::{OwnerId, Refusal};

/// The future a [`RefusalHook`] returns.
pub type RefusalFuture<'a> = Pin<Box<dyn Future<Output = RefusalAction> + Send + 'a>>;

/// Sees each message the pipeline refused, once per domain owner it went
/// to, and decides what the sender hears.
///
/// The core records every refusal and mails no stranger
/// ([D7](calinvite_core::manual::design#d7)). An application may want more
/// for some refusals: keep the message of an address that is not a
/// registered organizer *yet*, say, and let it through once the address has
/// registered. A hook installed with
/// [`InboundServer::with_refusal_hook`](super::InboundServer::with_refusal_hook)
/// sees each refused message — its bytes, envelope and verdict, exactly what
/// the pipeline saw — and says whether the listener answers as it would have
/// ([`RefusalAction::Keep`]), takes the message with `250`
/// ([`RefusalAction::Taken`]), or asks the sender to retry with `451`
/// ([`RefusalAction::Retry`], for an application that could not record
/// what it wanted to: nothing acknowledged is lost).
///
/// The hook runs within
/// [`ListenerConfig::pipeline_timeout`](super::ListenerConfig::pipeline_timeout);
/// past it the sender gets `451`, as for a slow pipeline.
pub trait RefusalHook: Send + Sync + 'static {
    /// Decides about one refused message. Must not fail: an application
    /// that could not do what it wanted answers [`RefusalAction::Retry`]
    /// (or [`RefusalAction::Keep`], to answer as without a hook).
    fn refused<'a>(&'a self, message: RefusedMessage<'a>) -> RefusalFuture<'a>;
}

/// A message the pipeline refused, as the hook sees it.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct RefusedMessage<'a> {
    /// The domain owner whose mailbox it was for.
    pub owner: OwnerId,
    /// The bytes the pipeline read: the listener's `Received:` header, then
    /// the message as it arrived.
    pub raw: &'a [u8],
    /// The message as it arrived (the tail of `raw`, without the
    /// listener's `Received:` header): the same bytes for a retry of the
    /// same message.
    pub as_arrived: &'a [u8],
    /// The envelope given to the pipeline (this owner's recipients only).
    pub envelope: &'a InboundEnvelope,
    /// The verifier's verdict.
    pub verdict: &'a AuthVerdict,
    /// What the pipeline refused it for (already recorded in the store).
    pub refusal: &'a Refusal,
    /// The trace id of the message (in its `Received:` header and the
    /// listener's log).
    pub trace_id: &'a str,
}

/// What the listener answers a refused message after the hook saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefusalAction {
    /// As without a hook: `550` for refusals the sender should hear of,
    /// `250` for the others.
    Keep,
    /// The application took the message: `250`, logged and counted as
    /// accepted with this outcome (`held`, say) instead of `refused`.
    Taken {
        /// The outcome logged for this owner.
        outcome: &'static str,
    },
    /// The application could not record what it wanted: `451`, the
    /// sender keeps the message and retries.
    Retry,
}
