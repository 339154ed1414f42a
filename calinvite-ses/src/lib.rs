//! # calinvite-ses
//!
//! calinvite on AWS SES:
//!
//! - [`SesTransport`]: the core's [`Transport`]
//!   over SESv2 `SendEmail` with raw content — the bytes the core assembled go
//!   out unchanged, to the envelope's recipient only, with an optional
//!   configuration set and the `calinvite-invitation` / `calinvite-event`
//!   message tags so that SES events name what they are about;
//! - [`SendRateLimiter`]: a token bucket at the account's maximum send rate,
//!   shared by every worker of the process, that backs off when SES throttles;
//! - [`SesError`]: every failure classified as transient (throttling, 5xx,
//!   paused sending …) or permanent (rejected message, unverified sender,
//!   suppressed destination …) with SES's own words kept;
//! - [`SnsVerifier`]: SNS messages accepted only when their signature
//!   verifies against the signing certificate (fetched only from SNS hosts,
//!   through an injectable [`CertificateSource`]); subscription confirmations
//!   are surfaced, never followed;
//! - [`SesNotification`]: SES bounce, complaint, delivery and inbound-mail
//!   notifications, turned into the engine's
//!   [`Pipeline::delivery_notice`]
//!   and [`Pipeline::receive`] calls
//!   ([`handle_sns`] does both).
//!
//! ## Sending
//!
//! ```no_run
//! use calinvite_ses::{SesConfig, SesTransport};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Explicit settings (or `SesConfig::from_env()`, or
//! // `SesConfig::from_sdk_config(&sdk)` with aws-config's standard chain).
//! let transport = SesTransport::new(
//!     SesConfig::new("eu-west-1")
//!         .credentials("AKIA…", "secret", None)
//!         .configuration_set("calinvite")
//!         .max_send_rate(14.0),
//! )?;
//! // Give it to the pipeline: `Pipeline::new(store, transport, clock, ids)`.
//! # let _ = transport; Ok(()) }
//! ```
//!
//! ## Notifications
//!
//! ```no_run
//! use calinvite_core::lifecycle::{MemoryStore, Pipeline, RecordingTransport};
//! use calinvite_ses::{HttpsCertificateSource, SnsHandled, SnsVerifier, handle_sns};
//! # async fn serve(pipeline: Pipeline<MemoryStore, RecordingTransport>, body: Vec<u8>)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = SnsVerifier::new(HttpsCertificateSource::new()?)
//!     .accept_topics(["arn:aws:sns:eu-west-1:123456789012:calinvite-ses"]);
//! // `body` is the POST an SNS HTTPS subscription received.
//! match handle_sns(&verifier, &pipeline, &body).await? {
//!     SnsHandled::Confirmation(c) => println!("confirm by visiting {:?}", c.confirmation_url()),
//!     other => println!("{other:?}"),
//! }
//! # Ok(()) }
//! ```
//!
//! ## Credentials
//!
//! This crate does not depend on `aws-config` (the standard credential chain
//! pulls in the STS and SSO clients, a cold build of its own): it reads the
//! environment itself ([`SesConfig::from_env`]), takes explicit keys or any
//! credentials provider, and takes an `SdkConfig` that an application loaded
//! with `aws_config::load_defaults` ([`SesConfig::from_sdk_config`]) for
//! profiles, SSO, web identity, container and instance roles.
//!
//! ## Build cost
//!
//! The AWS SDK takes minutes to build cold; the workspace keeps this crate
//! out of `default-members`, and `cargo test --workspace` still tests it.
//! TLS is rustls with the aws-lc-rs provider only (no `ring`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
pub mod notification;
mod rate;
pub mod sns;
mod tags;
mod transport;

pub use calinvite_core as core;
pub use error::{SesError, SesErrorKind};
pub use notification::{NotificationError, ReceiveError, SesNotification};
pub use rate::{SES_STARTING_RATE, SendRateLimiter};
pub use sns::{
    CertificateSource, HttpsCertificateSource, SnsError, SnsMessage, SnsVerifier,
    StaticCertificates, SubscriptionConfirmation,
};
pub use tags::{TAG_EVENT, TAG_INVITATION};
pub use transport::{ConfigError, SentMessage, SesConfig, SesTransport};

use calinvite_core::lifecycle::{Outcome, Pipeline, Store, Transport};

/// What [`handle_sns`] did with an SNS message.
#[derive(Debug)]
#[non_exhaustive]
pub enum SnsHandled {
    /// A bounce, complaint or delivery notification went to
    /// [`Pipeline::delivery_notice`]; its outcome.
    Notice(Outcome),
    /// Inbound mail went to [`Pipeline::receive`]; its outcome.
    Received(Outcome),
    /// SNS asks to confirm a subscription (or says one ended): for the
    /// operator; calinvite does not visit the URL.
    Confirmation(SubscriptionConfirmation),
    /// An SES event the engine has nothing to do with (`Send`, `Open` …).
    Ignored(String),
}

/// Why [`handle_sns`] refused a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnsHandleError {
    /// The SNS message was refused (bad signature, wrong topic, malformed).
    #[error(transparent)]
    Sns(#[from] SnsError),
    /// The SES notification in it could not be used.
    #[error(transparent)]
    Notification(#[from] NotificationError),
    /// The pipeline failed (its store).
    #[error(transparent)]
    Pipeline(#[from] calinvite_core::lifecycle::PipelineError),
}

impl From<ReceiveError> for SnsHandleError {
    fn from(e: ReceiveError) -> Self {
        match e {
            ReceiveError::Notification(n) => SnsHandleError::Notification(n),
            ReceiveError::Pipeline(p) => SnsHandleError::Pipeline(p),
        }
    }
}

/// Verifies an SNS request body and acts on the SES notification in it:
/// bounces, complaints and deliveries become delivery notices, inbound mail
/// goes to the same entry point as SMTP mail, confirmations come back.
pub async fn handle_sns<C, S, T>(
    verifier: &SnsVerifier<C>,
    pipeline: &Pipeline<S, T>,
    body: &[u8],
) -> Result<SnsHandled, SnsHandleError>
where
    C: CertificateSource,
    S: Store,
    T: Transport,
{
    let message = match verifier.verify(body).await? {
        SnsMessage::Notification { message, .. } => message,
        SnsMessage::SubscriptionConfirmation(c) | SnsMessage::UnsubscribeConfirmation(c) => {
            return Ok(SnsHandled::Confirmation(c));
        }
    };
    let notification = SesNotification::parse(&message)?;
    if let SesNotification::Received(receipt) = &notification {
        return Ok(SnsHandled::Received(receipt.receive(pipeline).await?));
    }
    match notification.delivery_notice()? {
        Some(notice) => Ok(SnsHandled::Notice(pipeline.delivery_notice(notice).await?)),
        None => Ok(SnsHandled::Ignored(match notification {
            SesNotification::Other(kind) => kind,
            _ => "notification".to_owned(),
        })),
    }
}
