//! The authentication verdict of each message
//! ([D7](calinvite_core::manual::design#d7)).

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use calinvite_core::inbound::AuthVerdict;

/// What the session knows about a message when it is verified.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct VerifyContext<'a> {
    /// The connecting peer.
    pub peer: IpAddr,
    /// The name it gave in EHLO/HELO.
    pub helo: &'a str,
    /// The envelope sender (`""` for a null sender).
    pub mail_from: &'a str,
    /// This listener's own host name.
    pub hostname: &'a str,
}

impl<'a> VerifyContext<'a> {
    /// A context for a message from `peer`, which said `helo`, with envelope
    /// sender `mail_from`, received by `hostname`.
    pub fn new(peer: IpAddr, helo: &'a str, mail_from: &'a str, hostname: &'a str) -> Self {
        VerifyContext {
            peer,
            helo,
            mail_from,
            hostname,
        }
    }
}

/// Computes SPF, DKIM and DMARC results for one message, handed to the core as
/// a value: the core never trusts an `Authentication-Results` header.
///
/// With the `auth` feature, `auth::MailAuthVerifier` does it with
/// `mail-auth`; [`NoVerification`] reports nothing (every result `None`).
pub trait Verifier: Send + Sync + 'static {
    /// The verdict for `message` (the bytes as they arrived, before the
    /// listener's `Received:` header). Must not fail: a lookup that could not
    /// be made is a `TempError` result.
    fn verify(
        &self,
        context: &VerifyContext<'_>,
        message: &[u8],
    ) -> impl Future<Output = AuthVerdict> + Send;
}

/// Reports no authentication at all: for a listener behind a gateway that
/// already filters, and for tests. Organizer messages then pass only policies
/// that require nothing.
#[derive(Clone, Copy, Debug, Default)]
#[allow(
    clippy::exhaustive_structs,
    reason = "a unit value with no settings: applications name it directly"
)]
pub struct NoVerification;

impl Verifier for NoVerification {
    async fn verify(&self, _: &VerifyContext<'_>, _: &[u8]) -> AuthVerdict {
        AuthVerdict::default()
    }
}

impl<V: Verifier> Verifier for Arc<V> {
    fn verify(
        &self,
        context: &VerifyContext<'_>,
        message: &[u8],
    ) -> impl Future<Output = AuthVerdict> + Send {
        (**self).verify(context, message)
    }
}
