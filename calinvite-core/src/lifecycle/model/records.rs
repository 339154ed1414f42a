//! Events and invitations as the store keeps them, with what happened to
//! each invitation (its history) and how far its messages got.

use super::*;

/// An event as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StoredEvent {
    /// Its tenant.
    pub(crate) scope: Scope,
    /// Its code.
    pub(crate) code: EventCode,
    /// The organizer's UID, for events that came from a calendar.
    pub(crate) organizer_uid: Option<String>,
    /// The organizer's SEQUENCE of the last message adopted (orders inbound
    /// only, [D2](crate::manual::design#d2)).
    pub(crate) organizer_sequence: Sequence,
    /// The organizer's DTSTAMP of the last message adopted.
    pub(crate) organizer_stamp: Option<DateTime<Utc>>,
    /// The organizer's latest version, which may not have gone out yet (approval).
    pub(crate) latest: Event,
    /// The organizer's raw calendar object of the latest version, kept for fidelity.
    pub(crate) raw_calendar: Option<String>,
    /// calinvite's SEQUENCE of the revision recipients hold
    /// ([D2](crate::manual::design#d2)).
    pub(crate) sent_sequence: Sequence,
    /// Whether the whole event is cancelled.
    pub(crate) cancelled: bool,
    /// When it was created.
    pub(crate) created_at: DateTime<Utc>,
    /// Optimistic-concurrency version, raised by every write.
    pub(crate) version: u64,
}

/// Every field of a [`StoredEvent`], for stores only: a store takes a record
/// apart with [`StoredEvent::into_parts`] to persist it and puts it back
/// together with `StoredEvent::from(parts)`. Applications read events through
/// the record's getters.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_structs,
    reason = "store interface: a store persists every field, so a new field changes every store anyway"
)]
pub struct EventParts {
    /// Its tenant.
    pub scope: Scope,
    /// Its code.
    pub code: EventCode,
    /// The organizer's UID, for events that came from a calendar.
    pub organizer_uid: Option<String>,
    /// The organizer's SEQUENCE of the last message adopted (orders inbound
    /// only, [D2](crate::manual::design#d2)).
    pub organizer_sequence: Sequence,
    /// The organizer's DTSTAMP of the last message adopted.
    pub organizer_stamp: Option<DateTime<Utc>>,
    /// The organizer's latest version, which may not have gone out yet (approval).
    pub latest: Event,
    /// The organizer's raw calendar object of the latest version, kept for fidelity.
    pub raw_calendar: Option<String>,
    /// calinvite's SEQUENCE of the revision recipients hold
    /// ([D2](crate::manual::design#d2)).
    pub sent_sequence: Sequence,
    /// Whether the whole event is cancelled.
    pub cancelled: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Optimistic-concurrency version, raised by every write.
    pub version: u64,
}

impl From<EventParts> for StoredEvent {
    fn from(p: EventParts) -> Self {
        StoredEvent {
            scope: p.scope,
            code: p.code,
            organizer_uid: p.organizer_uid,
            organizer_sequence: p.organizer_sequence,
            organizer_stamp: p.organizer_stamp,
            latest: p.latest,
            raw_calendar: p.raw_calendar,
            sent_sequence: p.sent_sequence,
            cancelled: p.cancelled,
            created_at: p.created_at,
            version: p.version,
        }
    }
}

impl StoredEvent {
    /// Takes the record apart into every field it keeps, including the
    /// persistence internals an application never reads. For stores only
    /// (see [`EventParts`]).
    pub fn into_parts(self) -> EventParts {
        EventParts {
            scope: self.scope,
            code: self.code,
            organizer_uid: self.organizer_uid,
            organizer_sequence: self.organizer_sequence,
            organizer_stamp: self.organizer_stamp,
            latest: self.latest,
            raw_calendar: self.raw_calendar,
            sent_sequence: self.sent_sequence,
            cancelled: self.cancelled,
            created_at: self.created_at,
            version: self.version,
        }
    }

    /// Its tenant.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// Its code.
    pub fn code(&self) -> &EventCode {
        &self.code
    }

    /// The organizer's UID, for events that came from a calendar.
    pub fn organizer_uid(&self) -> Option<&str> {
        self.organizer_uid.as_deref()
    }

    /// The organizer's latest version, which may not have gone out yet
    /// (when changes wait for approval).
    pub fn latest(&self) -> &Event {
        &self.latest
    }

    /// calinvite's SEQUENCE of the revision recipients hold
    /// ([D2](crate::manual::design#d2)).
    pub fn sent_sequence(&self) -> Sequence {
        self.sent_sequence
    }

    /// Whether the whole event is cancelled.
    pub fn cancelled(&self) -> bool {
        self.cancelled
    }

    /// When it was created.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
}

/// How far a message to one invitation got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum DeliveryState {
    /// Queued, not yet accepted by a relay.
    #[default]
    Queued,
    /// A relay accepted it.
    Sent,
    /// A delivery report said it reached the mailbox.
    Delivered,
    /// A temporary failure was reported; nothing changes for future sends.
    SoftBounced,
    /// A permanent failure: the address is suppressed.
    HardBounced,
}

keywords!(DeliveryState {
    Queued => "queued",
    Sent => "sent",
    Delivered => "delivered",
    SoftBounced => "soft-bounced",
    HardBounced => "hard-bounced",
});

impl DeliveryState {
    /// The name shown in reports: its [`Keyword`].
    pub fn as_str(self) -> &'static str {
        self.keyword()
    }
}

/// The last (SEQUENCE, DTSTAMP) an answer carried, per instance
/// ([interop rule 20](crate::manual::interop#rule-20)).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct AnswerMark {
    /// Who answered: `None` for the invited person, else the address a
    /// forwarded copy answered from (each answerer is ordered on their own).
    pub answerer: Option<EmailAddress>,
    /// The instance, or `None` for the whole event.
    pub instance: Option<OccurrenceId>,
    /// SEQUENCE of the copy answered.
    pub sequence: Sequence,
    /// DTSTAMP of the answer.
    pub stamp: Option<DateTime<Utc>>,
}

impl AnswerMark {
    /// The last SEQUENCE and DTSTAMP `answerer` (`None`: the invited person)
    /// answered `instance` (`None`: the whole event) with.
    pub fn new(
        answerer: Option<EmailAddress>,
        instance: Option<OccurrenceId>,
        sequence: Sequence,
        stamp: Option<DateTime<Utc>>,
    ) -> Self {
        AnswerMark {
            answerer,
            instance,
            sequence,
            stamp,
        }
    }
}

/// One recipient's invitation to one event.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Invitation {
    /// Its tenant.
    pub(crate) scope: Scope,
    /// The event.
    pub(crate) code: EventCode,
    /// The secret token in its UID ([D1](crate::manual::design#d1)).
    pub(crate) token: InvitationToken,
    /// The recipient.
    pub(crate) recipient: Recipient,
    /// Where the request came from.
    pub(crate) source: InvitationSource,
    /// When it was requested.
    pub(crate) created_at: DateTime<Utc>,
    /// When a relay first accepted a message for it.
    pub(crate) sent_at: Option<DateTime<Utc>>,
    /// The SEQUENCE of the last REQUEST queued for it.
    pub(crate) sequence_held: Option<Sequence>,
    /// Whether a cancellation of the whole event was queued for it.
    pub(crate) cancelled: bool,
    /// The invited person's last answer for the whole event.
    pub(crate) status: Option<ParticipationStatus>,
    /// When that answer came.
    pub(crate) answered_at: Option<DateTime<Utc>>,
    /// Answers for single instances.
    pub(crate) instance_answers: Vec<(OccurrenceId, ParticipationStatus)>,
    /// Ordering stamps of the answers adopted.
    pub(crate) marks: Vec<AnswerMark>,
    /// Delivery of the last message.
    pub(crate) delivery: DeliveryState,
    /// How many re-sends (REFRESH) were queued.
    pub(crate) copies: u32,
    /// Optimistic-concurrency version, raised by every write.
    pub(crate) version: u64,
}

/// Every field of an [`Invitation`], for stores only: a store takes a record
/// apart with [`Invitation::into_parts`] to persist it and puts it back
/// together with `Invitation::from(parts)`. Applications read invitations
/// through the record's getters.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_structs,
    reason = "store interface: a store persists every field, so a new field changes every store anyway"
)]
pub struct InvitationParts {
    /// Its tenant.
    pub scope: Scope,
    /// The event.
    pub code: EventCode,
    /// The secret token in its UID ([D1](crate::manual::design#d1)).
    pub token: InvitationToken,
    /// The recipient.
    pub recipient: Recipient,
    /// Where the request came from.
    pub source: InvitationSource,
    /// When it was requested.
    pub created_at: DateTime<Utc>,
    /// When a relay first accepted a message for it.
    pub sent_at: Option<DateTime<Utc>>,
    /// The SEQUENCE of the last REQUEST queued for it.
    pub sequence_held: Option<Sequence>,
    /// Whether a cancellation of the whole event was queued for it.
    pub cancelled: bool,
    /// The invited person's last answer for the whole event.
    pub status: Option<ParticipationStatus>,
    /// When that answer came.
    pub answered_at: Option<DateTime<Utc>>,
    /// Answers for single instances.
    pub instance_answers: Vec<(OccurrenceId, ParticipationStatus)>,
    /// Ordering stamps of the answers adopted.
    pub marks: Vec<AnswerMark>,
    /// Delivery of the last message.
    pub delivery: DeliveryState,
    /// How many re-sends (REFRESH) were queued.
    pub copies: u32,
    /// Optimistic-concurrency version, raised by every write.
    pub version: u64,
}

impl From<InvitationParts> for Invitation {
    fn from(p: InvitationParts) -> Self {
        Invitation {
            scope: p.scope,
            code: p.code,
            token: p.token,
            recipient: p.recipient,
            source: p.source,
            created_at: p.created_at,
            sent_at: p.sent_at,
            sequence_held: p.sequence_held,
            cancelled: p.cancelled,
            status: p.status,
            answered_at: p.answered_at,
            instance_answers: p.instance_answers,
            marks: p.marks,
            delivery: p.delivery,
            copies: p.copies,
            version: p.version,
        }
    }
}

impl Invitation {
    /// Takes the record apart into every field it keeps, including the
    /// persistence internals an application never reads. For stores only
    /// (see [`InvitationParts`]).
    pub fn into_parts(self) -> InvitationParts {
        InvitationParts {
            scope: self.scope,
            code: self.code,
            token: self.token,
            recipient: self.recipient,
            source: self.source,
            created_at: self.created_at,
            sent_at: self.sent_at,
            sequence_held: self.sequence_held,
            cancelled: self.cancelled,
            status: self.status,
            answered_at: self.answered_at,
            instance_answers: self.instance_answers,
            marks: self.marks,
            delivery: self.delivery,
            copies: self.copies,
            version: self.version,
        }
    }

    /// Its tenant.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// The event.
    pub fn code(&self) -> &EventCode {
        &self.code
    }

    /// The secret token in its UID ([D1](crate::manual::design#d1)).
    pub fn token(&self) -> &InvitationToken {
        &self.token
    }

    /// The recipient.
    pub fn recipient(&self) -> &Recipient {
        &self.recipient
    }

    /// Where the request came from.
    pub fn source(&self) -> &InvitationSource {
        &self.source
    }

    /// When it was requested.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// When a relay first accepted a message for it.
    pub fn sent_at(&self) -> Option<DateTime<Utc>> {
        self.sent_at
    }

    /// The SEQUENCE of the last invitation or update queued for it: the
    /// revision the recipient holds, `None` before any was queued.
    pub fn sequence_held(&self) -> Option<Sequence> {
        self.sequence_held
    }

    /// The invited person's last answer for the whole event, if any.
    pub fn status(&self) -> Option<ParticipationStatus> {
        self.status
    }

    /// When that answer came.
    pub fn answered_at(&self) -> Option<DateTime<Utc>> {
        self.answered_at
    }

    /// Answers for single instances of a recurring event.
    pub fn instance_answers(&self) -> &[(OccurrenceId, ParticipationStatus)] {
        &self.instance_answers
    }

    /// How far the last message to it got.
    pub fn delivery(&self) -> DeliveryState {
        self.delivery
    }

    /// Whether a cancellation of the whole event was queued for it.
    pub fn cancelled(&self) -> bool {
        self.cancelled
    }

    /// What the targeting rules need to know, given the owner's suppression
    /// of this recipient's address, if any. The address counts as
    /// hard-bounced when this invitation's mail hard-bounced or when any of
    /// the owner's mail to it did (a suppression for
    /// [`SuppressionReason::HardBounce`]): see
    /// [the targeting manual](crate::manual::targeting#hard-bounces-across-events).
    pub fn state(&self, suppression: Option<SuppressionReason>) -> InvitationState {
        InvitationState {
            last_answer: self.status,
            received_request: self.sequence_held.is_some(),
            hard_bounced: self.delivery == DeliveryState::HardBounced
                || suppression == Some(SuppressionReason::HardBounce),
            suppressed: suppression.is_some(),
        }
    }

    /// The answer for an instance: its own, else the whole event's.
    pub fn answer_for(&self, instance: Option<OccurrenceId>) -> Option<ParticipationStatus> {
        instance
            .and_then(|id| {
                self.instance_answers
                    .iter()
                    .find(|(i, _)| *i == id)
                    .map(|(_, s)| *s)
            })
            .or(self.status)
    }
}

/// What happened to an invitation, in order. Reports are recounted from it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum HistoryKind {
    /// An answer (REPLY or web RSVP).
    Answer {
        /// The answer.
        status: ParticipationStatus,
        /// The instance answered, if one.
        instance: Option<OccurrenceId>,
        /// The comment.
        comment: Option<String>,
        /// SEQUENCE of the copy answered.
        sequence: Sequence,
        /// Another person answered with this invitation (a forwarded copy).
        forwarded_from: Option<EmailAddress>,
        /// The message's From, when it was not the attendee who answered
        /// (an assistant's or a shared mailbox, or a forged header): the
        /// answer counted on the strength of its token, and this shows who
        /// mailed it. `None` when they agree, and for web answers.
        #[cfg_attr(
            feature = "serde",
            serde(default, skip_serializing_if = "Option::is_none")
        )]
        sent_by: Option<EmailAddress>,
        /// After the event's end: recorded, status unchanged (unless configured).
        late: bool,
        /// Through a web link rather than a calendar client.
        web: bool,
    },
    /// A proposal of another time (COUNTER).
    Counter {
        /// Proposed start, as written.
        start: Option<String>,
        /// Proposed end, as written.
        end: Option<String>,
        /// The comment.
        comment: Option<String>,
    },
    /// A message was queued.
    Queued {
        /// Which.
        kind: MessageKind,
        /// Its SEQUENCE.
        sequence: Sequence,
    },
    /// A relay accepted a message.
    Sent {
        /// Its SEQUENCE.
        sequence: Sequence,
    },
    /// A delivery report said delivered.
    Delivered,
    /// A delivery failed.
    Bounced {
        /// Permanent (the address is suppressed) or temporary.
        permanent: bool,
        /// The server's words.
        detail: String,
    },
    /// The recipient unsubscribed.
    Unsubscribed,
    /// The recipient reported the message as spam (a feedback loop, an
    /// ESP's complaint notification); the address is suppressed.
    Complained {
        /// The feedback type reported (`abuse`, `not-spam` …), if any.
        feedback_type: Option<String>,
    },
}

/// One entry of an invitation's history.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct HistoryEntry {
    /// The invitation.
    pub token: InvitationToken,
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub kind: HistoryKind,
}

impl HistoryEntry {
    /// What happened to invitation `token` at `at`.
    pub fn new(token: InvitationToken, at: DateTime<Utc>, kind: HistoryKind) -> Self {
        HistoryEntry { token, at, kind }
    }
}
