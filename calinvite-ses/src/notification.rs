//! SES notifications: bounce, complaint and delivery notifications (the
//! identity notifications' `notificationType` format and the event-publishing
//! `eventType` format) and inbound-mail receipt notifications, parsed into
//! values the core acts on: a [`DeliveryNotice`] for
//! [`Pipeline::delivery_notice`], or raw mail plus envelope and verdict for
//! [`Pipeline::receive`], the same entry point SMTP mail takes.

use crate::tags::TAG_INVITATION;
use base64::Engine as _;
use calinvite_core::EmailAddress;
use calinvite_core::InvitationToken;
use calinvite_core::inbound::{AuthResult, AuthVerdict, InboundEnvelope};
use calinvite_core::lifecycle::{
    DeliveryNotice, NoticeEffect, Outcome, Pipeline, PipelineError, Store, Transport,
};

/// Largest notification accepted, in bytes (an inline inbound message is at
/// most 150 KB before SNS's base64).
pub const MAX_NOTIFICATION: usize = 1024 * 1024;

/// Why a notification was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotificationError {
    /// Larger than [`MAX_NOTIFICATION`].
    #[error("notification of {0} bytes is over the limit")]
    TooLarge(usize),
    /// Not JSON of the documented shape.
    #[error("malformed SES notification: {0}")]
    Malformed(String),
    /// A field the notification type requires is missing.
    #[error("SES notification without {0}")]
    Missing(&'static str),
    /// An address in it is not an email address.
    #[error("SES notification with a bad {field} address {value:?}")]
    BadAddress {
        /// Which field.
        field: &'static str,
        /// The value, shortened.
        value: String,
    },
    /// The inbound message's content is not inline (an S3 action): fetch it
    /// and call [`Pipeline::receive`] with [`SesReceipt::envelope`] and
    /// [`SesReceipt::verdict`].
    #[error("inbound mail is in S3 (bucket {bucket}, key {key}), not inline")]
    ContentInS3 {
        /// The bucket.
        bucket: String,
        /// The object key.
        key: String,
    },
    /// The inline content could not be decoded.
    #[error("inbound mail content is not valid {0}")]
    BadContent(&'static str),
}

/// A parsed SES notification.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SesNotification {
    /// A bounce.
    Bounce(SesBounce),
    /// A complaint.
    Complaint(SesComplaint),
    /// A delivery.
    Delivery(SesDelivery),
    /// Inbound mail (a receipt rule's SNS or S3 action).
    Received(SesReceipt),
    /// Another event (`Send`, `Open`, `Click`, `DeliveryDelay` …): nothing
    /// for the engine to do.
    Other(String),
}

/// What every notification says about the original message.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SesMail {
    /// SES's id of the message.
    pub ses_message_id: String,
    /// The envelope sender it was sent from (`mail.source`).
    pub source: String,
    /// Its envelope recipients.
    pub destination: Vec<String>,
    /// Its own Message-ID header, when SES reports headers.
    pub message_id: Option<String>,
    /// The `calinvite-invitation` message tag, if it carried one.
    pub invitation_tag: Option<String>,
    /// When SES accepted it (as SES wrote it).
    pub timestamp: String,
}

/// The kind of a bounce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BounceType {
    /// The address will never take mail (suppressed).
    Permanent,
    /// Try again later (mailbox full, message too large …).
    Transient,
    /// SES could not tell: kept as a soft bounce.
    Undetermined,
}

/// One bounced recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BouncedRecipient {
    /// The address.
    pub address: String,
    /// The DSN status (`5.1.1`), if reported.
    pub status: Option<String>,
    /// The remote server's words, if reported.
    pub diagnostic: Option<String>,
}

/// A bounce notification.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SesBounce {
    /// The original message.
    pub mail: SesMail,
    /// Permanent, transient or undetermined.
    pub bounce_type: BounceType,
    /// SES's sub-type (`General`, `NoEmail`, `Suppressed`, `OnAccountSuppressionList`, `MailboxFull` …).
    pub sub_type: String,
    /// The recipients that bounced.
    pub recipients: Vec<BouncedRecipient>,
    /// SES's feedback id.
    pub feedback_id: String,
}

/// A complaint notification.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SesComplaint {
    /// The original message.
    pub mail: SesMail,
    /// The recipients that complained.
    pub recipients: Vec<String>,
    /// The feedback type (`abuse`, `fraud`, `not-spam` …), when reported.
    pub feedback_type: Option<String>,
    /// SES's feedback id.
    pub feedback_id: String,
}

/// A delivery notification.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SesDelivery {
    /// The original message.
    pub mail: SesMail,
    /// The recipients it was delivered to.
    pub recipients: Vec<String>,
    /// The receiving server's answer.
    pub smtp_response: Option<String>,
}

/// Where an inbound message's content is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReceivedContent {
    /// Inline in the notification (the SNS action), decoded.
    Inline(Vec<u8>),
    /// In an S3 object (the S3 action).
    S3 {
        /// The bucket.
        bucket: String,
        /// The object key.
        key: String,
    },
}

/// An inbound-mail receipt notification.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SesReceipt {
    /// The message: `source` is its MAIL FROM, `destination` its recipients.
    pub mail: SesMail,
    /// The recipients the receipt rule matched (calinvite's mailboxes).
    pub recipients: Vec<String>,
    /// SES's SPF verdict.
    pub spf: AuthResult,
    /// SES's DKIM verdict (for no particular domain).
    pub dkim: AuthResult,
    /// SES's DMARC verdict.
    pub dmarc: AuthResult,
    /// The content.
    pub content: ReceivedContent,
}

impl SesReceipt {
    /// The SMTP envelope, as the core's inbound entry point takes it.
    pub fn envelope(&self) -> InboundEnvelope {
        InboundEnvelope {
            mail_from: Some(self.mail.source.clone()).filter(|s| !s.is_empty()),
            rcpt_to: self.recipients.clone(),
            peer: None,
        }
    }

    /// The authentication verdict. SES reports one DKIM verdict without the
    /// signing domain, so no DKIM domain is claimed: DMARC (which checks
    /// alignment) or aligned SPF carry the organizer policy.
    pub fn verdict(&self) -> AuthVerdict {
        AuthVerdict {
            spf: self.spf,
            dkim: Vec::new(),
            dmarc: self.dmarc,
        }
    }

    /// Hands the inline message to the pipeline's inbound entry point.
    pub async fn receive<S: Store, T: Transport>(
        &self,
        pipeline: &Pipeline<S, T>,
    ) -> Result<Outcome, ReceiveError> {
        match &self.content {
            ReceivedContent::Inline(raw) => Ok(pipeline
                .receive(raw, self.envelope(), self.verdict())
                .await?),
            ReceivedContent::S3 { bucket, key } => Err(NotificationError::ContentInS3 {
                bucket: bucket.clone(),
                key: key.clone(),
            }
            .into()),
        }
    }
}

/// Handing a notification to the pipeline failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiveError {
    /// The notification could not be used.
    #[error(transparent)]
    Notification(#[from] NotificationError),
    /// The pipeline failed (its store).
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
}

impl SesNotification {
    /// Parses an SES notification: the `Message` of an SNS notification, or
    /// a record of an event destination.
    pub fn parse(json: &str) -> Result<Self, NotificationError> {
        if json.len() > MAX_NOTIFICATION {
            return Err(NotificationError::TooLarge(json.len()));
        }
        let raw: wire::Notification =
            serde_json::from_str(json).map_err(|e| NotificationError::Malformed(e.to_string()))?;
        let kind = raw
            .notification_type
            .clone()
            .or_else(|| raw.event_type.clone())
            .ok_or(NotificationError::Missing("notificationType or eventType"))?;
        let mail_raw = raw.mail.ok_or(NotificationError::Missing("mail"))?;
        let mail = mail_raw.into_mail();
        Ok(match kind.as_str() {
            "Bounce" => {
                let b = raw.bounce.ok_or(NotificationError::Missing("bounce"))?;
                let bounce_type = match b.bounce_type.as_deref() {
                    Some("Permanent") => BounceType::Permanent,
                    Some("Transient") => BounceType::Transient,
                    Some("Undetermined") => BounceType::Undetermined,
                    Some(_) => BounceType::Undetermined,
                    None => return Err(NotificationError::Missing("bounce.bounceType")),
                };
                if b.bounced_recipients.is_empty() {
                    return Err(NotificationError::Missing("bounce.bouncedRecipients"));
                }
                SesNotification::Bounce(SesBounce {
                    mail,
                    bounce_type,
                    sub_type: b.bounce_sub_type.unwrap_or_default(),
                    recipients: b
                        .bounced_recipients
                        .into_iter()
                        .map(|r| BouncedRecipient {
                            address: r.email_address,
                            status: r.status,
                            diagnostic: r.diagnostic_code,
                        })
                        .collect(),
                    feedback_id: b.feedback_id.unwrap_or_default(),
                })
            }
            "Complaint" => {
                let c = raw
                    .complaint
                    .ok_or(NotificationError::Missing("complaint"))?;
                if c.complained_recipients.is_empty() {
                    return Err(NotificationError::Missing("complaint.complainedRecipients"));
                }
                SesNotification::Complaint(SesComplaint {
                    mail,
                    recipients: c
                        .complained_recipients
                        .into_iter()
                        .map(|r| r.email_address)
                        .collect(),
                    feedback_type: c.complaint_feedback_type,
                    feedback_id: c.feedback_id.unwrap_or_default(),
                })
            }
            "Delivery" => {
                let d = raw.delivery.ok_or(NotificationError::Missing("delivery"))?;
                SesNotification::Delivery(SesDelivery {
                    mail,
                    recipients: d.recipients,
                    smtp_response: d.smtp_response,
                })
            }
            "Received" => {
                let r = raw.receipt.ok_or(NotificationError::Missing("receipt"))?;
                let action = r
                    .action
                    .ok_or(NotificationError::Missing("receipt.action"))?;
                let content = match action.kind.as_str() {
                    "S3" => ReceivedContent::S3 {
                        bucket: action
                            .bucket_name
                            .ok_or(NotificationError::Missing("receipt.action.bucketName"))?,
                        key: action
                            .object_key
                            .ok_or(NotificationError::Missing("receipt.action.objectKey"))?,
                    },
                    _ => {
                        let content = raw.content.ok_or(NotificationError::Missing("content"))?;
                        let bytes = match action.encoding.as_deref() {
                            Some(e) if e.eq_ignore_ascii_case("BASE64") => {
                                base64::engine::general_purpose::STANDARD
                                    .decode(content.trim())
                                    .map_err(|_| NotificationError::BadContent("base64"))?
                            }
                            _ => content.into_bytes(),
                        };
                        ReceivedContent::Inline(bytes)
                    }
                };
                if r.recipients.is_empty() {
                    return Err(NotificationError::Missing("receipt.recipients"));
                }
                SesNotification::Received(SesReceipt {
                    mail,
                    recipients: r.recipients,
                    spf: verdict(r.spf_verdict),
                    dkim: verdict(r.dkim_verdict),
                    dmarc: verdict(r.dmarc_verdict),
                    content,
                })
            }
            other => SesNotification::Other(other.chars().take(64).collect()),
        })
    }

    /// The delivery notice for the engine (bounce, complaint, delivery);
    /// `None` for inbound mail and other events.
    pub fn delivery_notice(&self) -> Result<Option<DeliveryNotice>, NotificationError> {
        let (mail, effect, recipients): (&SesMail, NoticeEffect, Vec<&str>) = match self {
            SesNotification::Bounce(b) => {
                let detail: Vec<String> = b
                    .recipients
                    .iter()
                    .filter_map(|r| r.diagnostic.clone().or_else(|| r.status.clone()))
                    .collect();
                let kind = match b.bounce_type {
                    BounceType::Permanent => "Permanent",
                    BounceType::Transient => "Transient",
                    BounceType::Undetermined => "Undetermined",
                };
                let mut diagnostic = format!("SES {kind}/{}", b.sub_type);
                if !detail.is_empty() {
                    diagnostic.push_str(": ");
                    diagnostic.push_str(&detail.join("; "));
                }
                (
                    &b.mail,
                    NoticeEffect::Bounced {
                        permanent: b.bounce_type == BounceType::Permanent,
                        diagnostic,
                    },
                    b.recipients.iter().map(|r| r.address.as_str()).collect(),
                )
            }
            SesNotification::Complaint(c) => (
                &c.mail,
                NoticeEffect::Complained {
                    feedback_type: c.feedback_type.clone(),
                },
                c.recipients.iter().map(String::as_str).collect(),
            ),
            SesNotification::Delivery(d) => (
                &d.mail,
                NoticeEffect::Delivered,
                d.recipients.iter().map(String::as_str).collect(),
            ),
            SesNotification::Received(_) | SesNotification::Other(_) => return Ok(None),
        };
        let sender = address("mail.source", &mail.source)?;
        let mut notice = DeliveryNotice::new(sender, effect);
        if let Some(id) = &mail.message_id {
            notice = notice.with_message_id(id.clone());
        }
        if let Some(tag) = &mail.invitation_tag
            && let Ok(token) = InvitationToken::parse(tag)
        {
            notice = notice.with_invitation(token);
        }
        for r in recipients {
            notice = notice.with_recipient(address("recipient", r)?);
        }
        Ok(Some(notice))
    }
}

/// Reads an address that may carry a display name (`"Ana" <a@b>`).
fn address(field: &'static str, value: &str) -> Result<EmailAddress, NotificationError> {
    let bare = match (value.rfind('<'), value.rfind('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value,
    };
    EmailAddress::parse(bare.trim()).map_err(|_| NotificationError::BadAddress {
        field,
        value: value.chars().take(80).collect(),
    })
}

fn verdict(v: Option<wire::Verdict>) -> AuthResult {
    match v.map(|v| v.status.to_ascii_uppercase()).as_deref() {
        Some("PASS") => AuthResult::Pass,
        Some("FAIL") => AuthResult::Fail,
        Some("GRAY") => AuthResult::Neutral,
        Some("PROCESSING_FAILED") => AuthResult::TempError,
        _ => AuthResult::None,
    }
}

/// The JSON as SES writes it; every field optional so that what is missing
/// is reported by name.
mod wire {
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Notification {
        pub(super) notification_type: Option<String>,
        pub(super) event_type: Option<String>,
        pub(super) mail: Option<Mail>,
        pub(super) bounce: Option<Bounce>,
        pub(super) complaint: Option<Complaint>,
        pub(super) delivery: Option<Delivery>,
        pub(super) receipt: Option<Receipt>,
        pub(super) content: Option<String>,
    }

    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase", default)]
    pub(super) struct Mail {
        pub(super) timestamp: String,
        pub(super) message_id: String,
        pub(super) source: String,
        pub(super) destination: Vec<String>,
        pub(super) headers: Vec<Header>,
        pub(super) common_headers: Option<CommonHeaders>,
        pub(super) tags: BTreeMap<String, Vec<String>>,
    }

    #[derive(Deserialize)]
    pub(super) struct Header {
        pub(super) name: String,
        pub(super) value: String,
    }

    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase", default)]
    pub(super) struct CommonHeaders {
        pub(super) message_id: Option<String>,
    }

    impl Mail {
        pub(super) fn into_mail(self) -> super::SesMail {
            let message_id = self.common_headers.and_then(|c| c.message_id).or_else(|| {
                self.headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("Message-ID"))
                    .map(|h| h.value.clone())
            });
            let invitation_tag = self
                .tags
                .get(super::TAG_INVITATION)
                .and_then(|v| v.first().cloned());
            super::SesMail {
                ses_message_id: self.message_id,
                source: self.source,
                destination: self.destination,
                message_id,
                invitation_tag,
                timestamp: self.timestamp,
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Bounce {
        pub(super) bounce_type: Option<String>,
        pub(super) bounce_sub_type: Option<String>,
        #[serde(default)]
        pub(super) bounced_recipients: Vec<BouncedRecipient>,
        pub(super) feedback_id: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct BouncedRecipient {
        pub(super) email_address: String,
        pub(super) status: Option<String>,
        pub(super) diagnostic_code: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Complaint {
        #[serde(default)]
        pub(super) complained_recipients: Vec<Recipient>,
        pub(super) complaint_feedback_type: Option<String>,
        pub(super) feedback_id: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Recipient {
        pub(super) email_address: String,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Delivery {
        #[serde(default)]
        pub(super) recipients: Vec<String>,
        pub(super) smtp_response: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Receipt {
        #[serde(default)]
        pub(super) recipients: Vec<String>,
        pub(super) spf_verdict: Option<Verdict>,
        pub(super) dkim_verdict: Option<Verdict>,
        pub(super) dmarc_verdict: Option<Verdict>,
        pub(super) action: Option<Action>,
    }

    #[derive(Deserialize)]
    pub(super) struct Verdict {
        pub(super) status: String,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Action {
        #[serde(rename = "type")]
        pub(super) kind: String,
        pub(super) encoding: Option<String>,
        pub(super) bucket_name: Option<String>,
        pub(super) object_key: Option<String>,
    }
}
