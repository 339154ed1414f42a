//! The [`Transport`] trait: raw bytes to an envelope, and errors that say
//! whether to try again. Plus [`RecordingTransport`], which keeps what it is
//! given, for tests (yours too).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Mutex, PoisonError};

use crate::compose::Envelope;

/// A transport refused or failed to take a message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} failure: {message}", if *.permanent { "permanent" } else { "transient" })]
pub struct TransportError {
    permanent: bool,
    message: String,
}

impl TransportError {
    /// Worth retrying: a 4xx reply, a lost connection, throttling.
    pub fn transient(message: impl Into<String>) -> Self {
        TransportError {
            permanent: false,
            message: message.into(),
        }
    }
    /// Not worth retrying: a 5xx reply for this recipient, a rejected message.
    pub fn permanent(message: impl Into<String>) -> Self {
        TransportError {
            permanent: true,
            message: message.into(),
        }
    }
    /// Whether a retry may succeed.
    pub fn is_transient(&self) -> bool {
        !self.permanent
    }
    /// Whether the recipient will never take this message.
    pub fn is_permanent(&self) -> bool {
        self.permanent
    }
    /// The other side's words.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Sends assembled messages. One required method: the bytes go out unchanged.
pub trait Transport: Send + Sync {
    /// Hands `message` to the relay for `envelope`. `Ok` only when the relay
    /// has accepted it.
    fn send_raw(
        &self,
        envelope: &Envelope,
        message: &[u8],
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Whether the messages this transport sends have their delivery
    /// confirmed: each one that reaches the recipient's mail server is
    /// reported back as delivered, by a provider's delivery notification
    /// (handed to
    /// [`Pipeline::delivery_notice`](crate::lifecycle::Pipeline::delivery_notice))
    /// or a delivery-status notification mailed back
    /// ([D12](crate::manual::design#d12)).
    ///
    /// `send_raw`'s `Ok` means only that the relay took the message. When
    /// delivery is not confirmed as well, a count of confirmed deliveries
    /// stays short of what was delivered, so reports do not show it
    /// ([`Report::confirms_delivery`](crate::lifecycle::report::Report::confirms_delivery)).
    /// `false` unless the transport says otherwise: an SMTP relay asked for
    /// no success notifications (DSN `NOTIFY=SUCCESS`) does not confirm
    /// delivery.
    fn confirms_delivery(&self) -> bool {
        false
    }
}

/// One message a [`RecordingTransport`] accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_structs,
    reason = "a message on the wire is its envelope and its bytes"
)]
pub struct Recorded {
    /// Its envelope.
    pub envelope: Envelope,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// A transport that keeps every message it accepts, and fails on cue.
#[derive(Debug, Default)]
pub struct RecordingTransport {
    sent: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<Result<(), TransportError>>>,
}

impl RecordingTransport {
    /// An empty transport that accepts everything.
    pub fn new() -> Self {
        Self::default()
    }
    /// The next call answers `outcome` instead of accepting (calls queue up).
    pub fn script(&self, outcome: Result<(), TransportError>) {
        self.script
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(outcome);
    }
    /// Everything accepted so far.
    pub fn sent(&self) -> Vec<Recorded> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
    /// Takes everything accepted so far.
    pub fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.sent.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Transport for RecordingTransport {
    async fn send_raw(&self, envelope: &Envelope, message: &[u8]) -> Result<(), TransportError> {
        let scripted = self
            .script
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front();
        if let Some(outcome) = scripted {
            outcome?;
        }
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Recorded {
                envelope: envelope.clone(),
                bytes: message.to_vec(),
            });
        Ok(())
    }
}
