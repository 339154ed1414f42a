//! Refusals, suppressions, changes held for approval, and the delivery
//! queue (messages and fan-outs still to plan).

use super::*;

/// Why something was refused. Every refusal has one; reports count them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum RefusalReason {
    /// The address it came to is not one calinvite serves.
    UnknownMailbox,
    /// The sender is on no organizer's allow-list.
    NotAnOrganizer,
    /// The message failed the organizer's authentication policy.
    AuthenticationFailed,
    /// The calendar's ORGANIZER is not the authenticated sender.
    OrganizerMismatch,
    /// An older or repeated organizer message.
    StaleOrganizerMessage,
    /// An organizer message for an event calinvite does not know.
    UnknownEvent,
    /// The event could not be adopted (missing time, floating time …).
    UnusableEvent,
    /// The event is cancelled.
    EventCancelled,
    /// The event's last occurrence is over.
    EventEnded,
    /// A cancellation waits for approval.
    CancellationPending,
    /// The address unsubscribed, complained or hard-bounced.
    Suppressed,
    /// The recipient is the organizer or one of calinvite's own mailboxes.
    OwnAddress,
    /// The message could not be assembled.
    Unsendable,
    /// A reply whose UID names no invitation calinvite sent.
    UnknownInvitation,
    /// A reply to one owner's mailbox naming another owner's invitation.
    WrongTenant,
    /// A reply older than one already recorded, or the same again.
    StaleReply,
    /// A reply with no answer in it.
    NoAnswer,
    /// A delivery report about no message calinvite sent.
    UnknownBounce,
    /// The message was not one calinvite acts on at this address.
    NotActionable,
    /// The message could not be read (its reason is in the detail).
    Unreadable,
    /// Header fields that decide who sent the message or what it contains
    /// were given more than once: refused before any policy decision.
    AmbiguousMessage,
}

keywords!(RefusalReason {
    UnknownMailbox => "unknown-mailbox",
    NotAnOrganizer => "not-an-organizer",
    AuthenticationFailed => "authentication-failed",
    OrganizerMismatch => "organizer-mismatch",
    StaleOrganizerMessage => "stale-organizer-message",
    UnknownEvent => "unknown-event",
    UnusableEvent => "unusable-event",
    EventCancelled => "event-cancelled",
    EventEnded => "event-ended",
    CancellationPending => "cancellation-pending",
    Suppressed => "suppressed",
    OwnAddress => "own-address",
    Unsendable => "unsendable",
    UnknownInvitation => "unknown-invitation",
    WrongTenant => "wrong-tenant",
    StaleReply => "stale-reply",
    NoAnswer => "no-answer",
    UnknownBounce => "unknown-bounce",
    NotActionable => "not-actionable",
    Unreadable => "unreadable",
    AmbiguousMessage => "ambiguous-message",
});

impl RefusalReason {
    /// A stable name (reports, logs, CSV): its [`Keyword`].
    pub fn as_str(self) -> &'static str {
        self.keyword()
    }
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal with what it was about.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Refusal {
    /// Why.
    pub reason: RefusalReason,
    /// Details for a person (never secret tokens).
    pub detail: String,
}

impl Refusal {
    /// A refusal for `reason`, with details for a person (never a secret
    /// token).
    pub fn new(reason: RefusalReason, detail: impl Into<String>) -> Self {
        Refusal {
            reason,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

impl std::error::Error for Refusal {}

/// A refusal as recorded, for reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct RefusalRecord {
    /// The owner it concerns.
    pub owner: OwnerId,
    /// The organizer, when known.
    pub organizer: Option<OrganizerId>,
    /// The event, when known.
    pub code: Option<EventCode>,
    /// When.
    pub at: DateTime<Utc>,
    /// Why and what.
    pub refusal: Refusal,
}

impl RefusalRecord {
    /// A refusal concerning `owner` (and, when known, one of its organizers
    /// and events), recorded at `at`.
    pub fn new(
        owner: OwnerId,
        organizer: Option<OrganizerId>,
        code: Option<EventCode>,
        at: DateTime<Utc>,
        refusal: Refusal,
    ) -> Self {
        RefusalRecord {
            owner,
            organizer,
            code,
            at,
            refusal,
        }
    }
}

/// Why an address may not be sent to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum SuppressionReason {
    /// It unsubscribed.
    Unsubscribed,
    /// A permanent delivery failure.
    HardBounce,
    /// A spam complaint.
    Complaint,
}

keywords!(SuppressionReason {
    Unsubscribed => "unsubscribed",
    HardBounce => "hard-bounce",
    Complaint => "complaint",
});

impl SuppressionReason {
    /// A stable name: its [`Keyword`].
    pub fn as_str(self) -> &'static str {
        self.keyword()
    }
}

/// An address no send path may use ([D12](crate::manual::design#d12)), per
/// domain owner.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Suppression {
    /// The owner.
    pub owner: OwnerId,
    /// The address.
    pub address: EmailAddress,
    /// Why.
    pub reason: SuppressionReason,
    /// Since when.
    pub at: DateTime<Utc>,
}

impl Suppression {
    /// `address` may not be sent to by `owner` since `at`, for `reason`.
    pub fn new(
        owner: OwnerId,
        address: EmailAddress,
        reason: SuppressionReason,
        at: DateTime<Utc>,
    ) -> Self {
        Suppression {
            owner,
            address,
            reason,
            at,
        }
    }
}

/// The id of a pending change: unique per store, drawn by the pipeline when
/// it holds a change for approval, and what an application passes back to
/// [`Pipeline::approve`](crate::lifecycle::Pipeline::approve),
/// [`Pipeline::reject`](crate::lifecycle::Pipeline::reject) and
/// [`Pipeline::pending`](crate::lifecycle::Pipeline::pending).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct PendingChangeId(String);

impl PendingChangeId {
    /// An id as it was handed out (from a link, a form, a database column).
    pub fn new(id: impl Into<String>) -> Self {
        PendingChangeId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PendingChangeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for PendingChangeId {
    fn from(id: String) -> Self {
        PendingChangeId(id)
    }
}

impl From<&str> for PendingChangeId {
    fn from(id: &str) -> Self {
        PendingChangeId(id.to_owned())
    }
}

/// A change held for approval ([D6](crate::manual::design#d6)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct PendingChange {
    /// Its id (unique per store).
    pub id: PendingChangeId,
    /// The tenant.
    pub scope: Scope,
    /// The event.
    pub code: EventCode,
    /// What it does.
    pub kind: PendingKind,
    /// The SEQUENCE of the revision it was planned against.
    pub base_sequence: Sequence,
    /// Who would get what, as planned.
    pub recipients: Vec<PlannedMessage>,
    /// When it was planned.
    pub created_at: DateTime<Utc>,
    /// Where it stands.
    pub state: PendingState,
}

impl PendingChange {
    /// An open change of `kind` to event `code`, planned at `created_at`
    /// against the revision of `base_sequence`, that sends nothing until
    /// [`with_recipients`](Self::with_recipients) lists who would get what.
    pub fn new(
        id: PendingChangeId,
        scope: Scope,
        code: EventCode,
        kind: PendingKind,
        base_sequence: Sequence,
        created_at: DateTime<Utc>,
    ) -> Self {
        PendingChange {
            id,
            scope,
            code,
            kind,
            base_sequence,
            recipients: Vec::new(),
            created_at,
            state: PendingState::Open,
        }
    }

    /// Who would get what, as planned.
    pub fn with_recipients(mut self, recipients: Vec<PlannedMessage>) -> Self {
        self.recipients = recipients;
        self
    }

    /// Where it stands (a store reading it back).
    pub fn with_state(mut self, state: PendingState) -> Self {
        self.state = state;
        self
    }
}

/// What a pending change does.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum PendingKind {
    /// Sends the organizer's latest version as an update.
    Update,
    /// Cancels the whole event.
    Cancel,
    /// Cancels these instances.
    CancelInstances(Vec<OccurrenceId>),
}

/// Where a pending change stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum PendingState {
    /// Waiting for someone.
    Open,
    /// Approved and sent.
    Approved,
    /// Rejected: nothing was sent.
    Rejected,
    /// Replaced by a newer change before anyone decided.
    Superseded,
}

keywords!(PendingState {
    Open => "open",
    Approved => "approved",
    Rejected => "rejected",
    Superseded => "superseded",
});

/// One message a plan would send.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct PlannedMessage {
    /// The invitation.
    pub token: InvitationToken,
    /// Its address (for the person approving).
    pub address: EmailAddress,
    /// Which message.
    pub kind: MessageKind,
}

impl PlannedMessage {
    /// Message `kind` to invitation `token` at `address`.
    pub fn new(token: InvitationToken, address: EmailAddress, kind: MessageKind) -> Self {
        PlannedMessage {
            token,
            address,
            kind,
        }
    }
}

/// A message in the delivery queue ([D8](crate::manual::design#d8)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[allow(
    clippy::exhaustive_structs,
    reason = "store interface: a store persists every field, so a new field changes every store anyway"
)]
pub struct Delivery {
    /// The idempotency key: at most one delivery per key, ever.
    pub key: DeliveryKey,
    /// The owner (for the sender identity and tenancy).
    pub owner: OwnerId,
    /// What to send.
    pub payload: Payload,
    /// Attempts made so far.
    pub attempts: u32,
    /// Not before this time (retry backoff).
    pub due: DateTime<Utc>,
    /// Where it stands.
    pub state: QueueState,
    /// The transport's last words.
    pub last_error: Option<String>,
    /// The group it is held and released by (a list job's messages:
    /// [`ListJobId::group`]); `None` for a message no job holds.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub group: Option<String>,
}

impl Delivery {
    /// The lease this copy was claimed under: the key and the attempt the
    /// claim counted. [`Store::settle`](crate::spi::Store::settle) takes it,
    /// so only the claim that holds the message now can record its outcome.
    pub fn lease(&self) -> Lease {
        Lease {
            key: self.key.clone(),
            attempt: self.attempts,
        }
    }
}

/// One claim of a queued message: which message, and which attempt the
/// claim counted (every claim counts one, so no two claims of a message
/// share it). A worker whose lease ran out while it was sending holds a
/// stale `Lease`: its settlement is refused
/// ([`StoreError::NotLeased`](crate::spi::StoreError::NotLeased)) and the
/// worker that claimed the message since records the outcome.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[allow(
    clippy::exhaustive_structs,
    reason = "store interface: the two values a store compares on settling"
)]
pub struct Lease {
    /// The message.
    pub key: DeliveryKey,
    /// The attempt the claim counted ([`Delivery::attempts`] as claimed).
    pub attempt: u32,
}

/// The idempotency key of a queued message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
#[allow(
    clippy::exhaustive_enums,
    reason = "store interface: the key of a queue row; a new kind changes every store anyway"
)]
pub enum DeliveryKey {
    /// A message to an invitation's recipient.
    Invitation(IdempotencyKey),
    /// A notice to an organizer (its own unique name).
    Notice(String),
}

impl fmt::Display for DeliveryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeliveryKey::Invitation(k) => write!(f, "{k}"),
            DeliveryKey::Notice(n) => write!(f, "notice:{n}"),
        }
    }
}

/// What a queued message is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum Payload {
    /// An iMIP message to an invitation, assembled when it is sent from the
    /// stored revision (the queue stays small for million-recipient fan-outs).
    Invitation {
        /// The event.
        code: EventCode,
        /// The invitation.
        token: InvitationToken,
        /// Which message.
        kind: MessageKind,
        /// The revision.
        sequence: Sequence,
        /// 0, or the re-send number.
        copy: u32,
    },
    /// A message assembled when it was queued (notices, reports).
    Prepared {
        /// Envelope sender.
        from: EmailAddress,
        /// Envelope recipient.
        to: EmailAddress,
        /// The RFC 5322 bytes.
        bytes: Vec<u8>,
    },
}

/// Where a queued message stands.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum QueueState {
    /// Waiting (for its due time).
    Queued,
    /// Claimed by a worker until then.
    Leased(DateTime<Utc>),
    /// A relay accepted it.
    Sent(DateTime<Utc>),
    /// Given up: permanent failure or too many attempts.
    Failed(String),
}

/// A delivery of a fan-out still to plan: who gets the revision is worked
/// out in batches, so memory does not grow with the audience.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[allow(
    clippy::exhaustive_structs,
    reason = "store interface: a store persists every field, so a new field changes every store anyway"
)]
pub struct FanOut {
    /// Its id.
    pub id: String,
    /// The tenant.
    pub scope: Scope,
    /// The event.
    pub code: EventCode,
    /// The message each recipient in the audience gets.
    pub kind: MessageKind,
    /// The revision.
    pub sequence: Sequence,
    /// Who is in it.
    pub audience: FanOutAudience,
    /// The last invitation planned (batches go in token order).
    pub cursor: Option<InvitationToken>,
}

/// Who a fan-out reaches.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum FanOutAudience {
    /// An update: the organizer's update audience
    /// ([D4](crate::manual::design#d4)).
    Update(UpdateAudience),
    /// A cancellation: everyone who received the event
    /// ([D5](crate::manual::design#d5)).
    Cancellation,
    /// An approved plan: these invitations, plus the later joiners `then` includes.
    Approved {
        /// Listed when planned.
        listed: Vec<InvitationToken>,
        /// Who joined after this time is a later joiner.
        planned_at: DateTime<Utc>,
        /// The rule for later joiners.
        then: Box<FanOutAudience>,
    },
}
