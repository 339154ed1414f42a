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
//! ## Logs and counters
//!
//! Sends, throttling back-offs, SNS verification failures (with the reason,
//! never the signature or the certificate) and the notifications handled
//! (type, counts, outcome) are logged through [`tracing`]; the rate
//! limiter's waits at `debug`. Message content, invitation tokens (which
//! message tags and Message-IDs carry) and credentials are never logged, and
//! recipients' addresses only at `debug` in SES's own answers.
//! [`SesTransport::metrics`] reads the transport's counters ([`SesMetrics`]).
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
#![warn(clippy::exhaustive_structs, clippy::exhaustive_enums)]

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
pub use transport::{ConfigError, SentMessage, SesConfig, SesMetrics, SesTransport};

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
    let verified = verifier.verify(body).await.inspect_err(|e| {
        tracing::warn!(reason = %e, bytes = body.len(), "SNS message refused");
    })?;
    let message = match verified {
        SnsMessage::Notification { message, .. } => message,
        SnsMessage::SubscriptionConfirmation(c) | SnsMessage::UnsubscribeConfirmation(c) => {
            tracing::info!(
                topic = %c.topic_arn,
                "SNS subscription confirmation received; not followed"
            );
            return Ok(SnsHandled::Confirmation(c));
        }
    };
    let notification = SesNotification::parse(&message).inspect_err(|e| {
        tracing::warn!(error = %e, "SES notification not usable");
    })?;
    let (kind, recipients, ses_message_id) = summary(&notification);
    let handled = handle_notification(pipeline, notification).await;
    match &handled {
        Ok(h) => tracing::info!(
            kind = %kind,
            recipients,
            ses_message_id = ses_message_id.as_deref(),
            outcome = handled_name(h),
            "SES notification handled"
        ),
        Err(e) => tracing::warn!(
            kind = %kind,
            recipients,
            ses_message_id = ses_message_id.as_deref(),
            error = %error_class(e),
            "SES notification not handled"
        ),
    }
    handled
}

async fn handle_notification<S: Store, T: Transport>(
    pipeline: &Pipeline<S, T>,
    notification: SesNotification,
) -> Result<SnsHandled, SnsHandleError> {
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

/// What is logged of a notification: its type, how many recipients it
/// names, and SES's message id (never the addresses, the Message-ID or the
/// invitation tag, which carry invitation tokens).
fn summary(n: &SesNotification) -> (String, usize, Option<String>) {
    fn id(m: &notification::SesMail) -> Option<String> {
        Some(m.ses_message_id.clone()).filter(|s| !s.is_empty())
    }
    match n {
        SesNotification::Bounce(b) => ("bounce".into(), b.recipients.len(), id(&b.mail)),
        SesNotification::Complaint(c) => ("complaint".into(), c.recipients.len(), id(&c.mail)),
        SesNotification::Delivery(d) => ("delivery".into(), d.recipients.len(), id(&d.mail)),
        SesNotification::Received(r) => ("received".into(), r.recipients.len(), id(&r.mail)),
        SesNotification::Other(kind) => (kind.clone(), 0, None),
    }
}

/// A stable name of what [`handle_sns`] did.
fn handled_name(h: &SnsHandled) -> &'static str {
    match h {
        SnsHandled::Notice(o) | SnsHandled::Received(o) => outcome_name(o),
        SnsHandled::Confirmation(_) => "confirmation",
        SnsHandled::Ignored(_) => "ignored",
    }
}

/// A stable name for what the pipeline did, without the tokens an
/// [`Outcome`] carries.
fn outcome_name(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::EventCreated(_) => "event-created",
        Outcome::RevisionSent(..) => "revision-sent",
        Outcome::PendingApproval(..) => "pending-approval",
        Outcome::Unchanged(_) => "unchanged",
        Outcome::Cancelled(_) => "cancelled",
        Outcome::Invited(_) => "invited",
        Outcome::AlreadyInvited(_) => "already-invited",
        Outcome::AnswerRecorded(_) => "answer-recorded",
        Outcome::CounterRecorded(_) => "counter-recorded",
        Outcome::Resent(_) => "resent",
        Outcome::DeliveryRecorded(_) => "delivery-recorded",
        Outcome::Unsubscribed(_) => "unsubscribed",
        Outcome::Resolved(..) => "resolved",
        Outcome::Refused(_) => "refused",
        Outcome::Ignored(_) => "ignored",
        _ => "other",
    }
}

/// What is logged of a failure to handle a notification.
fn error_class(e: &SnsHandleError) -> String {
    use calinvite_core::lifecycle::PipelineError;
    match e {
        SnsHandleError::Pipeline(PipelineError::Store(s)) => format!("store: {s}"),
        SnsHandleError::Pipeline(PipelineError::Refused(r)) => {
            format!("refused: {}", r.reason.as_str())
        }
        SnsHandleError::Pipeline(_) => "pipeline error".to_owned(),
        SnsHandleError::Notification(n) => n.to_string(),
        SnsHandleError::Sns(s) => s.to_string(),
    }
}
