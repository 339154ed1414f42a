//! Announcements: what the pipeline tells an application happened — an
//! answer, a delivery outcome, an event changed, a change held for approval,
//! a list's progress — written in the same commit as the change that caused
//! it, so an application that forwards them (webhooks, a message bus, an
//! audit log) never announces what was rolled back, nor misses what was
//! committed ([manual: announcements](crate::manual::lifecycle#announcements)).

use chrono::{DateTime, Utc};

use super::{
    ListJobId, ListJobState, OrganizerId, OwnerId, PendingChangeId, PendingKind, PendingState,
    Scope, SuppressionReason,
};
use crate::address::EmailAddress;
use crate::event::ParticipationStatus;
use crate::ids::{EventCode, Sequence};
use crate::keyword::keywords;
use crate::template::MessageKind;
use crate::time::OccurrenceId;

/// Something that happened, for the application: whose it is (the domain
/// owner and, when it concerns one, the organizer), when (the pipeline's
/// `now` for the command that caused it) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Announcement {
    /// The domain owner.
    pub owner: OwnerId,
    /// The organizer it concerns; `None` for the owner's own (an address
    /// suppressed by hand).
    pub organizer: Option<OrganizerId>,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: AnnouncementKind,
}

impl Announcement {
    /// `kind`, happened at `at` to organizer `scope`.
    pub fn new(scope: Scope, at: DateTime<Utc>, kind: AnnouncementKind) -> Self {
        Announcement {
            owner: scope.owner,
            organizer: Some(scope.organizer),
            at,
            kind,
        }
    }

    /// `kind`, happened at `at` to the domain owner `owner` as a whole.
    pub fn of_owner(owner: OwnerId, at: DateTime<Utc>, kind: AnnouncementKind) -> Self {
        Announcement {
            owner,
            organizer: None,
            at,
            kind,
        }
    }

    /// Its type (`invitation.answered` …), what subscriptions filter on.
    pub fn announcement_type(&self) -> AnnouncementType {
        self.kind.announcement_type()
    }
}

/// What an [`Announcement`] says happened, with what an application needs
/// to act on it. Invitations are named by their event and address, never by
/// their token (a bearer secret of the recipient's).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
#[non_exhaustive]
pub enum AnnouncementKind {
    /// A recipient answered, by mail or on the web.
    #[non_exhaustive]
    Answered {
        /// The event.
        code: EventCode,
        /// The invited address.
        address: EmailAddress,
        /// The answer given.
        status: ParticipationStatus,
        /// The answer recorded before, for the event or the instance
        /// answered: a changed mind when it is `Some` and differs.
        previous: Option<ParticipationStatus>,
        /// The instance answered, for one occurrence of a recurring event.
        instance: Option<OccurrenceId>,
        /// Whether it counts: `false` for an answer recorded only (after
        /// the event's end, or from someone the invitation was forwarded to).
        applied: bool,
        /// After the event's end.
        late: bool,
        /// Through calinvite's web page rather than a calendar client.
        web: bool,
        /// Someone else answered with this invitation (a forwarded copy).
        forwarded_from: Option<EmailAddress>,
        /// The answerer's comment.
        comment: Option<String>,
    },
    /// A recipient proposed another time (a COUNTER); the organizer was told.
    #[non_exhaustive]
    Countered {
        /// The event.
        code: EventCode,
        /// The invited address.
        address: EmailAddress,
        /// The proposed start, as written.
        start: Option<String>,
        /// The proposed end, as written.
        end: Option<String>,
        /// The comment.
        comment: Option<String>,
    },
    /// A relay accepted a message for a recipient.
    #[non_exhaustive]
    Sent {
        /// The event.
        code: EventCode,
        /// The recipient.
        address: EmailAddress,
        /// Which message.
        message: MessageKind,
        /// Its SEQUENCE.
        sequence: Sequence,
    },
    /// A delivery report or notice said the message reached the mailbox.
    #[non_exhaustive]
    Delivered {
        /// The event.
        code: EventCode,
        /// The recipient.
        address: EmailAddress,
    },
    /// A message bounced: refused by the relay for good, or reported
    /// bounced later (a delivery-status report, a sending service's notice).
    #[non_exhaustive]
    Bounced {
        /// The event.
        code: EventCode,
        /// The recipient.
        address: EmailAddress,
        /// Permanent (the address is now suppressed) or temporary.
        permanent: bool,
        /// The mail server's words.
        detail: String,
    },
    /// The recipient reported the message as spam; the address is suppressed.
    #[non_exhaustive]
    Complained {
        /// The event.
        code: EventCode,
        /// The recipient.
        address: EmailAddress,
        /// The feedback type reported (`abuse` …), if any.
        feedback_type: Option<String>,
    },
    /// An address was put on the owner's suppression list: the recipient
    /// unsubscribed (with the event they did it from), or it was suppressed
    /// through the API.
    #[non_exhaustive]
    Suppressed {
        /// The address.
        address: EmailAddress,
        /// Why.
        reason: SuppressionReason,
        /// The event the recipient unsubscribed from, when they did.
        code: Option<EventCode>,
    },
    /// A queued message will not go out: given up after its retries, or
    /// set aside before it was sent (superseded, the address suppressed
    /// since it was queued, the event cancelled).
    #[non_exhaustive]
    Failed {
        /// The event.
        code: EventCode,
        /// The recipient.
        address: EmailAddress,
        /// Which message.
        message: MessageKind,
        /// Its SEQUENCE.
        sequence: Sequence,
        /// Why.
        reason: String,
    },
    /// An event was created: from the organizer's calendar, or through the API.
    #[non_exhaustive]
    EventCreated {
        /// Its code.
        code: EventCode,
        /// Its title.
        summary: String,
        /// From the organizer's calendar (else made through the API).
        from_calendar: bool,
    },
    /// An event changed in a way recipients see.
    #[non_exhaustive]
    EventUpdated {
        /// The event.
        code: EventCode,
        /// The SEQUENCE recipients now hold (or would, if mailed).
        sequence: Sequence,
        /// Whether the update is being sent (`false`: the event is over,
        /// the change is kept and nobody is mailed).
        mailed: bool,
    },
    /// An event, or some of its instances, was cancelled.
    #[non_exhaustive]
    EventCancelled {
        /// The event.
        code: EventCode,
        /// The SEQUENCE of the cancellation.
        sequence: Sequence,
        /// The instances cancelled; empty for the whole event.
        instances: Vec<OccurrenceId>,
        /// Whether the cancellation is being sent (`false`: the event is
        /// over; it is recorded, nobody is mailed).
        mailed: bool,
    },
    /// An update or a cancellation is held for approval.
    #[non_exhaustive]
    PendingCreated {
        /// The pending change.
        id: PendingChangeId,
        /// The event.
        code: EventCode,
        /// What it does.
        change: PendingKind,
        /// How many recipients it lists.
        recipients: u64,
    },
    /// A pending change was approved (and sent), rejected, or superseded
    /// by a newer change.
    #[non_exhaustive]
    PendingResolved {
        /// The pending change.
        id: PendingChangeId,
        /// The event.
        code: EventCode,
        /// Where it ended.
        state: PendingState,
    },
    /// A list job started, moved (paused, resumed, cancelled), or recorded a
    /// page of rows.
    #[non_exhaustive]
    ListProgress {
        /// The job.
        job: ListJobId,
        /// Its event.
        code: EventCode,
        /// Its name.
        name: String,
        /// Its state.
        state: ListJobState,
        /// Rows this step recorded (0 for a start or a move).
        recorded: u64,
        /// Of them, rows that invited someone new.
        invited: u64,
    },
}

/// The type of an announcement: a stable, full-stop delimited name
/// (`invitation.answered`) an application filters and routes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum AnnouncementType {
    /// `invitation.answered`: [`AnnouncementKind::Answered`].
    InvitationAnswered,
    /// `invitation.countered`: [`AnnouncementKind::Countered`].
    InvitationCountered,
    /// `delivery.sent`: [`AnnouncementKind::Sent`].
    DeliverySent,
    /// `delivery.delivered`: [`AnnouncementKind::Delivered`].
    DeliveryDelivered,
    /// `delivery.bounced`: [`AnnouncementKind::Bounced`].
    DeliveryBounced,
    /// `delivery.complaint`: [`AnnouncementKind::Complained`].
    DeliveryComplaint,
    /// `delivery.suppressed`: [`AnnouncementKind::Suppressed`].
    DeliverySuppressed,
    /// `delivery.failed`: [`AnnouncementKind::Failed`].
    DeliveryFailed,
    /// `event.created`: [`AnnouncementKind::EventCreated`].
    EventCreated,
    /// `event.updated`: [`AnnouncementKind::EventUpdated`].
    EventUpdated,
    /// `event.cancelled`: [`AnnouncementKind::EventCancelled`].
    EventCancelled,
    /// `pending.created`: [`AnnouncementKind::PendingCreated`].
    PendingCreated,
    /// `pending.approved`: [`AnnouncementKind::PendingResolved`], approved.
    PendingApproved,
    /// `pending.rejected`: [`AnnouncementKind::PendingResolved`], rejected.
    PendingRejected,
    /// `pending.superseded`: [`AnnouncementKind::PendingResolved`], superseded.
    PendingSuperseded,
    /// `list.progress`: [`AnnouncementKind::ListProgress`].
    ListProgress,
}

keywords!(AnnouncementType {
    InvitationAnswered => "invitation.answered",
    InvitationCountered => "invitation.countered",
    DeliverySent => "delivery.sent",
    DeliveryDelivered => "delivery.delivered",
    DeliveryBounced => "delivery.bounced",
    DeliveryComplaint => "delivery.complaint",
    DeliverySuppressed => "delivery.suppressed",
    DeliveryFailed => "delivery.failed",
    EventCreated => "event.created",
    EventUpdated => "event.updated",
    EventCancelled => "event.cancelled",
    PendingCreated => "pending.created",
    PendingApproved => "pending.approved",
    PendingRejected => "pending.rejected",
    PendingSuperseded => "pending.superseded",
    ListProgress => "list.progress",
});

impl AnnouncementType {
    /// Its name: its [`Keyword`](crate::Keyword).
    pub fn as_str(self) -> &'static str {
        use crate::keyword::Keyword as _;
        self.keyword()
    }
}

impl AnnouncementKind {
    /// Its type.
    pub fn announcement_type(&self) -> AnnouncementType {
        use AnnouncementType as T;
        match self {
            AnnouncementKind::Answered { .. } => T::InvitationAnswered,
            AnnouncementKind::Countered { .. } => T::InvitationCountered,
            AnnouncementKind::Sent { .. } => T::DeliverySent,
            AnnouncementKind::Delivered { .. } => T::DeliveryDelivered,
            AnnouncementKind::Bounced { .. } => T::DeliveryBounced,
            AnnouncementKind::Complained { .. } => T::DeliveryComplaint,
            AnnouncementKind::Suppressed { .. } => T::DeliverySuppressed,
            AnnouncementKind::Failed { .. } => T::DeliveryFailed,
            AnnouncementKind::EventCreated { .. } => T::EventCreated,
            AnnouncementKind::EventUpdated { .. } => T::EventUpdated,
            AnnouncementKind::EventCancelled { .. } => T::EventCancelled,
            AnnouncementKind::PendingCreated { .. } => T::PendingCreated,
            AnnouncementKind::PendingResolved { state, .. } => match state {
                PendingState::Approved => T::PendingApproved,
                PendingState::Rejected => T::PendingRejected,
                _ => T::PendingSuperseded,
            },
            AnnouncementKind::ListProgress { .. } => T::ListProgress,
        }
    }

    /// The event it concerns, when it concerns one.
    pub fn code(&self) -> Option<&EventCode> {
        match self {
            AnnouncementKind::Answered { code, .. }
            | AnnouncementKind::Countered { code, .. }
            | AnnouncementKind::Sent { code, .. }
            | AnnouncementKind::Delivered { code, .. }
            | AnnouncementKind::Bounced { code, .. }
            | AnnouncementKind::Complained { code, .. }
            | AnnouncementKind::Failed { code, .. }
            | AnnouncementKind::EventCreated { code, .. }
            | AnnouncementKind::EventUpdated { code, .. }
            | AnnouncementKind::EventCancelled { code, .. }
            | AnnouncementKind::PendingCreated { code, .. }
            | AnnouncementKind::PendingResolved { code, .. }
            | AnnouncementKind::ListProgress { code, .. } => Some(code),
            AnnouncementKind::Suppressed { code, .. } => code.as_ref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyword::Keyword as _;

    #[test]
    fn every_type_has_a_dotted_name_of_word_characters() {
        for t in AnnouncementType::ALL {
            let name = t.as_str();
            let parts: Vec<&str> = name.split('.').collect();
            assert_eq!(parts.len(), 2, "{name}");
            assert!(
                parts.iter().all(
                    |p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                ),
                "{name}"
            );
            assert_eq!(AnnouncementType::from_keyword(name), Some(*t));
        }
    }
}
