//! What the engine keeps: tenants, events, invitations and their history,
//! pending changes, suppressions, refusals and the delivery queue. Plain
//! values; a [`Store`](super::Store) keeps them and gives them back.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::address::EmailAddress;
use crate::compose::IdempotencyKey;
use crate::event::{Event, ParticipationStatus, Recipient, WebUrl};
use crate::ids::{EventCode, InvitationToken, Sequence};
use crate::keyword::{Keyword, keywords};
use crate::targeting::{InvitationState, UpdateAudience};
use crate::template::MessageKind;
use crate::time::OccurrenceId;

/// A domain owner: the top of the tenancy tree
/// ([D13](crate::manual::design#d13)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
#[allow(
    clippy::exhaustive_structs,
    reason = "an id is its number: there is nothing to add"
)]
pub struct OwnerId(pub u64);

impl OwnerId {
    /// The owner with this id (ids are the application's own).
    pub const fn new(id: u64) -> Self {
        OwnerId(id)
    }

    /// The number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// An organizer under a domain owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
#[allow(
    clippy::exhaustive_structs,
    reason = "an id is its number: there is nothing to add"
)]
pub struct OrganizerId(pub u64);

impl OrganizerId {
    /// The organizer with this id (unique under its owner).
    pub const fn new(id: u64) -> Self {
        OrganizerId(id)
    }

    /// The number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// Whose data a command touches: every command and every query is scoped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[allow(
    clippy::exhaustive_structs,
    reason = "a scope is exactly an owner and an organizer; a deeper tenancy level would change every command anyway"
)]
pub struct Scope {
    /// The domain owner.
    pub owner: OwnerId,
    /// The organizer.
    pub organizer: OrganizerId,
}

/// How organizer messages to the ingest address must be authenticated
/// ([D7](crate::manual::design#d7)). The verdict comes from the adapter; the
/// core never trusts a header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum AuthPolicy {
    /// DMARC must pass.
    Dmarc,
    /// SPF or a DKIM signature must pass for the organizer's own domain
    /// (DMARC alignment without requiring a DMARC record).
    #[default]
    AlignedSpfOrDkim,
    /// Trust the allow-list alone: for closed networks and tests.
    AllowListOnly,
}

keywords!(AuthPolicy {
    Dmarc => "dmarc",
    AlignedSpfOrDkim => "aligned-spf-or-dkim",
    AllowListOnly => "allow-list-only",
});

/// What an answer that arrives after the event's last occurrence does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum LateAnswers {
    /// Recorded in the history as late; the status stays as it was.
    #[default]
    RecordOnly,
    /// Recorded and applied like any other.
    Apply,
}

keywords!(LateAnswers {
    RecordOnly => "record-only",
    Apply => "apply",
});

/// The switches an organizer (or, by default, their domain owner) sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default)
)]
pub struct Settings {
    /// Hold updates and cancellations for approval
    /// ([D6](crate::manual::design#d6)).
    pub approval: bool,
    /// Who gets updates ([D4](crate::manual::design#d4)).
    pub audience: UpdateAudience,
    /// How organizer messages are authenticated
    /// ([D7](crate::manual::design#d7)).
    pub auth: AuthPolicy,
    /// Answers after the event's end.
    pub late_answers: LateAnswers,
    /// Add RFC 8058 one-click unsubscribe to invitations (list sends).
    pub list_unsubscribe: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            approval: false,
            audience: UpdateAudience::default(),
            auth: AuthPolicy::default(),
            late_answers: LateAnswers::default(),
            list_unsubscribe: true,
        }
    }
}

impl Settings {
    /// Turns the approval switch on or off.
    pub fn with_approval(mut self, on: bool) -> Self {
        self.approval = on;
        self
    }
    /// Sets the update audience.
    pub fn with_audience(mut self, audience: UpdateAudience) -> Self {
        self.audience = audience;
        self
    }
    /// Sets the authentication policy.
    pub fn with_auth(mut self, auth: AuthPolicy) -> Self {
        self.auth = auth;
        self
    }
    /// Sets what late answers do.
    pub fn with_late_answers(mut self, late: LateAnswers) -> Self {
        self.late_answers = late;
        self
    }
    /// Turns one-click unsubscribe headers on or off.
    pub fn with_list_unsubscribe(mut self, on: bool) -> Self {
        self.list_unsubscribe = on;
        self
    }
}

/// A domain owner and the mailboxes calinvite serves for it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct DomainOwner {
    /// Its id.
    pub id: OwnerId,
    /// Shown in notifications.
    pub name: String,
    /// The domain of invitation UIDs and Message-IDs.
    pub mail_domain: String,
    /// Where organizers invite calinvite (`create@…`).
    pub ingest: EmailAddress,
    /// The ORGANIZER and From of every invitation: replies come here
    /// ([D1](crate::manual::design#d1)).
    pub reply: EmailAddress,
    /// The envelope sender: delivery reports come here.
    pub bounce: EmailAddress,
    /// Base of web RSVP and unsubscribe links
    /// ([D11](crate::manual::design#d11)), if the application serves them.
    pub links_base: Option<WebUrl>,
    /// Defaults for its organizers.
    pub settings: Settings,
}

impl Scope {
    /// An organizer under a domain owner.
    pub const fn new(owner: OwnerId, organizer: OrganizerId) -> Self {
        Scope { owner, organizer }
    }
}

impl DomainOwner {
    /// A domain owner with its mail domain and the three mailboxes calinvite
    /// serves for it: where organizers invite calinvite (`ingest`), the
    /// ORGANIZER and From of every invitation (`reply`), and the envelope
    /// sender delivery reports come back to (`bounce`). No web links, and
    /// default [`Settings`] until [`with_links_base`](Self::with_links_base)
    /// and [`with_settings`](Self::with_settings) say otherwise.
    pub fn new(
        id: OwnerId,
        name: impl Into<String>,
        mail_domain: impl Into<String>,
        ingest: EmailAddress,
        reply: EmailAddress,
        bounce: EmailAddress,
    ) -> Self {
        DomainOwner {
            id,
            name: name.into(),
            mail_domain: mail_domain.into(),
            ingest,
            reply,
            bounce,
            links_base: None,
            settings: Settings::default(),
        }
    }

    /// Serves web RSVP and unsubscribe links under `base`.
    pub fn with_links_base(mut self, base: WebUrl) -> Self {
        self.links_base = Some(base);
        self
    }

    /// Sets the defaults of its organizers.
    pub fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Whether `address` is one of the mailboxes calinvite serves for this owner.
    pub fn serves(&self, address: &EmailAddress) -> bool {
        [&self.ingest, &self.reply, &self.bounce].contains(&address)
    }
}

/// Who may act as an organizer: an exact address, or everyone at a domain.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
#[allow(
    clippy::exhaustive_enums,
    reason = "stores persist each kind of entry: a new kind changes every store anyway"
)]
pub enum AllowEntry {
    /// One address.
    Address(EmailAddress),
    /// Every address at this domain (exact domain, lower case, no subdomains).
    Domain(String),
}

impl AllowEntry {
    /// Whether `address` is allowed by this entry (exact match after
    /// normalising, never a substring:
    /// [interop rule 18](crate::manual::interop#rule-18)).
    pub fn allows(&self, address: &EmailAddress) -> bool {
        match self {
            AllowEntry::Address(a) => a == address,
            AllowEntry::Domain(d) => address.domain().eq_ignore_ascii_case(d),
        }
    }
}

/// A registered organizer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct OrganizerAccount {
    /// Its scope (owner and id).
    pub scope: Scope,
    /// Shown in reports.
    pub name: String,
    /// Who may send events as this organizer.
    pub allow: Vec<AllowEntry>,
    /// Its own settings; `None` takes the owner's.
    pub settings: Option<Settings>,
    /// Where reports and notices go when no sender is known.
    pub notify: EmailAddress,
}

impl OrganizerAccount {
    /// An organizer that nobody may act as yet (see
    /// [`allow_domain`](Self::allow_domain) and
    /// [`allow_address`](Self::allow_address)), with its owner's settings,
    /// whose reports and notices go to `notify`.
    pub fn new(scope: Scope, name: impl Into<String>, notify: EmailAddress) -> Self {
        OrganizerAccount {
            scope,
            name: name.into(),
            allow: Vec::new(),
            settings: None,
            notify,
        }
    }

    /// Lets everyone at `domain` act as this organizer (exact domain, no
    /// subdomains; compared without regard to case).
    pub fn allow_domain(mut self, domain: impl Into<String>) -> Self {
        self.allow
            .push(AllowEntry::Domain(domain.into().to_ascii_lowercase()));
        self
    }

    /// Lets one address act as this organizer.
    pub fn allow_address(mut self, address: EmailAddress) -> Self {
        self.allow.push(AllowEntry::Address(address));
        self
    }

    /// Replaces who may act as this organizer with `entries`, as given (a
    /// store reading an account back uses this).
    pub fn with_allow_list(mut self, entries: Vec<AllowEntry>) -> Self {
        self.allow = entries;
        self
    }

    /// Gives the organizer settings of its own instead of its owner's.
    pub fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = Some(settings);
        self
    }

    /// Whether `address` may act as this organizer.
    pub fn allows(&self, address: &EmailAddress) -> bool {
        self.allow.iter().any(|e| e.allows(address))
    }
}

/// Where a send request came from (kept for reports).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum InvitationSource {
    /// An application's API call.
    Api,
    /// An address typed into a landing page.
    LandingPage,
    /// A call-to-action link in a marketing email.
    CallToAction,
    /// A row of a batch list (the list's name).
    Batch(String),
}

impl InvitationSource {
    /// The name shown in reports.
    pub fn as_str(&self) -> &str {
        match self {
            InvitationSource::Api => "api",
            InvitationSource::LandingPage => "landing-page",
            InvitationSource::CallToAction => "call-to-action",
            InvitationSource::Batch(name) => name,
        }
    }
}

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

    /// What the targeting rules need to know.
    pub fn state(&self, suppressed: bool) -> InvitationState {
        InvitationState {
            last_answer: self.status,
            received_request: self.sequence_held.is_some(),
            hard_bounced: self.delivery == DeliveryState::HardBounced,
            suppressed,
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
/// [`Pipeline::approve`](super::Pipeline::approve),
/// [`Pipeline::reject`](super::Pipeline::reject) and
/// [`Pipeline::pending`](super::Pipeline::pending).
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
