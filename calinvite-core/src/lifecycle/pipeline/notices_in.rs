//! Delivery notices that arrive outside the mail stream: a sending service's
//! own bounce, complaint and delivery notifications (AWS SES through SNS, for
//! one). An adapter parses them into a [`DeliveryNotice`] and hands it to
//! [`Pipeline::delivery_notice`], which applies the same effects a
//! delivery-status report does ([D12](crate::manual::design#d12)): a
//! delivered mark, a soft or hard bounce (a hard one suppresses the
//! address), or a complaint (suppresses it).
//!
//! A notice reaches the domain owner whose mailbox sent the original message
//! (its envelope sender, the owner's bounce address) and touches only that
//! owner's invitations; every notice that cannot be applied is refused with a
//! typed, recorded reason.

use super::answers::{
    bounce_changes, bounced_announcement, delivered_announcement, delivered_changes,
};
use super::{Outcome, Pipeline, PipelineError};
use crate::address::EmailAddress;
use crate::compose::IdempotencyKey;
use crate::ids::InvitationToken;
use crate::lifecycle::model::{
    Announcement, AnnouncementKind, HistoryEntry, HistoryKind, Refusal, RefusalReason, Suppression,
    SuppressionReason,
};
use crate::lifecycle::store::{Change, Store};
use crate::lifecycle::transport::Transport;

/// Longest diagnostic or feedback type kept from a notice, in characters.
const MAX_DETAIL_CHARS: usize = 500;

/// What a sending service reports about one message it sent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoticeEffect {
    /// The recipient's server accepted the message.
    Delivered,
    /// The message bounced.
    Bounced {
        /// A permanent failure (the address is suppressed) or a temporary one.
        permanent: bool,
        /// The service's own words (diagnostic code, bounce type), kept in the history.
        diagnostic: String,
    },
    /// The recipient marked the message as spam.
    Complained {
        /// The feedback type the service reported (`abuse`, `not-spam` …), if any.
        feedback_type: Option<String>,
    },
}

/// A delivery notice from a sending service, as an adapter parsed it.
///
/// ```
/// use calinvite_core::EmailAddress;
/// use calinvite_core::lifecycle::{DeliveryNotice, NoticeEffect};
/// let notice = DeliveryNotice::new(
///     EmailAddress::parse("bounces@events.example.com").unwrap(),
///     NoticeEffect::Bounced { permanent: true, diagnostic: "smtp; 550 5.1.1 no such user".into() },
/// )
/// .with_message_id("<0123456789abcdefghjkmnpqrs.0.request@events.example.com>")
/// .with_recipient(EmailAddress::parse("jorg@example.org").unwrap());
/// assert_eq!(notice.token().unwrap().as_str(), "0123456789abcdefghjkmnpqrs");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryNotice {
    sender: EmailAddress,
    message_id: Option<String>,
    token: Option<InvitationToken>,
    recipients: Vec<EmailAddress>,
    effect: NoticeEffect,
}

impl DeliveryNotice {
    /// A notice about a message sent from `sender` (the envelope sender, which
    /// names the domain owner).
    pub fn new(sender: EmailAddress, effect: NoticeEffect) -> Self {
        DeliveryNotice {
            sender,
            message_id: None,
            token: None,
            recipients: Vec::new(),
            effect,
        }
    }
    /// The original message's Message-ID (with or without angle brackets).
    pub fn with_message_id(mut self, message_id: impl Into<String>) -> Self {
        self.message_id = Some(message_id.into());
        self
    }
    /// The invitation's token, when the service reports it apart from the
    /// Message-ID (a message tag).
    pub fn with_invitation(mut self, token: InvitationToken) -> Self {
        self.token = Some(token);
        self
    }
    /// A recipient the notice is about (repeat for several).
    pub fn with_recipient(mut self, recipient: EmailAddress) -> Self {
        self.recipients.push(recipient);
        self
    }
    /// The envelope sender of the original message.
    pub fn sender(&self) -> &EmailAddress {
        &self.sender
    }
    /// The original Message-ID, as given.
    pub fn message_id(&self) -> Option<&str> {
        self.message_id.as_deref()
    }
    /// The recipients the notice is about.
    pub fn recipients(&self) -> &[EmailAddress] {
        &self.recipients
    }
    /// What happened.
    pub fn effect(&self) -> &NoticeEffect {
        &self.effect
    }
    /// The invitation the notice is about: the one its Message-ID names, else
    /// the one given apart.
    pub fn token(&self) -> Option<InvitationToken> {
        self.message_id
            .as_deref()
            .and_then(IdempotencyKey::token_in_message_id)
            .or_else(|| self.token.clone())
    }
    /// Whether the Message-ID and the token given apart name different invitations.
    fn contradicts_itself(&self) -> bool {
        let from_id = self
            .message_id
            .as_deref()
            .and_then(IdempotencyKey::token_in_message_id);
        matches!((&from_id, &self.token), (Some(a), Some(b)) if a != b)
    }
}

impl<S: Store, T: Transport> Pipeline<S, T> {
    /// Applies a sending service's delivery notice (an SES bounce, complaint
    /// or delivery notification): the invitation its Message-ID names is
    /// marked delivered or bounced, and a hard bounce or a complaint
    /// suppresses the recipient for the owner
    /// ([D12](crate::manual::design#d12)).
    ///
    /// The notice reaches the domain owner whose mailbox is its sender and
    /// only that owner's invitations. A notice that names no mailbox, no
    /// message calinvite sent, another owner's invitation, or recipients the
    /// invitation was not sent to is refused with its reason (recorded when an
    /// owner was reached).
    #[tracing::instrument(name = "delivery_notice", skip_all, fields(owner))]
    pub async fn delivery_notice(&self, notice: DeliveryNotice) -> Result<Outcome, PipelineError> {
        let result = self.delivery_notice_at(notice, self.now()).await;
        self.finished("delivery_notice", result)
    }

    async fn delivery_notice_at(
        &self,
        notice: DeliveryNotice,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Outcome, PipelineError> {
        let Some(owner) = self.store.owner_by_mailbox(&notice.sender).await? else {
            return Ok(Outcome::Refused(Refusal::new(
                RefusalReason::UnknownMailbox,
                format!(
                    "the notice's sender {} is not a mailbox calinvite serves",
                    notice.sender
                ),
            )));
        };
        tracing::Span::current().record("owner", owner.id.0);
        if notice.contradicts_itself() {
            let r = Refusal::new(
                RefusalReason::UnknownBounce,
                "the notice's Message-ID and invitation tag name different invitations",
            );
            return self.refuse(owner.id, None, None, r, Vec::new(), now).await;
        }
        let Some(token) = notice.token() else {
            let r = Refusal::new(
                RefusalReason::UnknownBounce,
                "the delivery notice quotes no message calinvite sent",
            );
            return self.refuse(owner.id, None, None, r, Vec::new(), now).await;
        };
        let (owner, notice, token) = (&owner, &notice, &token);
        self.retrying("delivery notice", || async move {
            let inv = match self
                .owned_invitation(owner, token, "the delivery notice", now)
                .await?
            {
                Ok(inv) => inv,
                Err(refused) => return Ok(refused),
            };
            let address = inv.recipient.address();
            if !notice.recipients.is_empty() && !notice.recipients.contains(address) {
                let r = Refusal::new(
                    RefusalReason::UnknownBounce,
                    "the delivery notice names recipients its invitation was not sent to",
                );
                let code = Some(inv.code.clone());
                return self
                    .refuse(owner.id, Some(inv.scope), code.as_ref(), r, Vec::new(), now)
                    .await;
            }
            let (mut changes, outcome) = match &notice.effect {
                NoticeEffect::Delivered => (
                    delivered_changes(&inv, now),
                    Outcome::DeliveryRecorded(token.clone()),
                ),
                NoticeEffect::Bounced {
                    permanent,
                    diagnostic,
                } => {
                    let detail: String = diagnostic.chars().take(MAX_DETAIL_CHARS).collect();
                    let detail = if detail.trim().is_empty() {
                        "no diagnostic".to_owned()
                    } else {
                        detail
                    };
                    let mut changes = bounce_changes(&inv, *permanent, &detail, now);
                    self.announce(&mut changes, || {
                        Some(bounced_announcement(&inv, *permanent, &detail, now))
                    });
                    (changes, Outcome::DeliveryRecorded(token.clone()))
                }
                NoticeEffect::Complained { feedback_type } => (
                    vec![
                        Change::Suppress(Suppression {
                            owner: owner.id,
                            address: address.clone(),
                            reason: SuppressionReason::Complaint,
                            at: now,
                        }),
                        Change::AppendHistory(HistoryEntry {
                            token: inv.token.clone(),
                            at: now,
                            kind: HistoryKind::Complained {
                                feedback_type: feedback_type
                                    .as_ref()
                                    .map(|f| f.chars().take(MAX_DETAIL_CHARS).collect()),
                            },
                        }),
                    ],
                    Outcome::Unsubscribed(token.clone()),
                ),
            };
            self.announce(&mut changes, || match &notice.effect {
                NoticeEffect::Delivered => Some(delivered_announcement(&inv, now)),
                NoticeEffect::Complained { feedback_type } => Some(Announcement::new(
                    inv.scope,
                    now,
                    AnnouncementKind::Complained {
                        code: inv.code.clone(),
                        address: inv.recipient.address().clone(),
                        feedback_type: feedback_type
                            .as_ref()
                            .map(|f| f.chars().take(MAX_DETAIL_CHARS).collect()),
                    },
                )),
                // Announced with its changes above (its detail is cleaned there).
                NoticeEffect::Bounced { .. } => None,
            });
            self.store.commit(changes).await?;
            Ok(outcome)
        })
        .await
    }
}
