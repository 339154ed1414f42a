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

mod announce;
mod lists;
mod queue;
mod records;

pub use announce::*;
pub use lists::*;
pub use queue::*;
pub use records::*;

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
