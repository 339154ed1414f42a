//! Lists: one event sent to a list of recipients as one durable job, each
//! row of the list kept with its verdict.

use super::*;

/// The id of a list job: unique per store, drawn by the pipeline when the
/// job starts.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct ListJobId(String);

impl ListJobId {
    /// An id as it was handed out.
    pub fn new(id: impl Into<String>) -> Self {
        ListJobId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The queue group its messages are held and released by.
    pub fn group(&self) -> String {
        format!("list:{}", self.0)
    }
}

impl fmt::Display for ListJobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a list job stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum ListJobState {
    /// Rows are taken and their invitations go out.
    Running,
    /// Nothing more is taken or sent until it is resumed; messages already
    /// queued wait (a worker holding one mid-send finishes it).
    Paused,
    /// Stopped for good: no more rows are taken, and messages still queued
    /// are set aside, never sent.
    Cancelled,
}

keywords!(ListJobState {
    Running => "running",
    Paused => "paused",
    Cancelled => "cancelled",
});

/// One event sent to one list: the job that reads the list's rows, gives
/// each a verdict and invites the valid ones.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[allow(
    clippy::exhaustive_structs,
    reason = "store interface: a store persists every field, so a new field changes every store anyway"
)]
pub struct ListJob {
    /// Its id.
    pub id: ListJobId,
    /// Whose.
    pub scope: Scope,
    /// The event sent.
    pub code: EventCode,
    /// The list's name (unique per event: the same name resumes the job).
    /// Invitations it creates carry it as their source.
    pub name: String,
    /// Where it stands.
    pub state: ListJobState,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// When its state last changed.
    pub updated_at: DateTime<Utc>,
    /// Optimistic concurrency.
    pub version: u64,
}

/// What became of one row of a list.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
#[non_exhaustive]
pub enum RowVerdict {
    /// A new invitation, queued.
    Invited(InvitationToken),
    /// The address already had an invitation to the event (from another
    /// list, a landing page, the API): nothing is sent again.
    AlreadyInvited(InvitationToken),
    /// An earlier row of this list has the same address.
    Duplicate(InvitationToken),
    /// The row gives no usable recipient: what is wrong.
    Invalid(String),
    /// The recipient may not be invited: suppressed, one of the owner's own
    /// addresses, the event over or cancelled.
    Refused {
        /// Why.
        reason: RefusalReason,
        /// In words.
        detail: String,
    },
}

impl RowVerdict {
    /// A stable name for reports: `invited`, `already-invited`,
    /// `duplicate`, `invalid`, or the refusal reason's keyword.
    pub fn name(&self) -> &'static str {
        match self {
            RowVerdict::Invited(_) => "invited",
            RowVerdict::AlreadyInvited(_) => "already-invited",
            RowVerdict::Duplicate(_) => "duplicate",
            RowVerdict::Invalid(_) => "invalid",
            RowVerdict::Refused { reason, .. } => reason.as_str(),
        }
    }

    /// The invitation the row is answered by, if any.
    pub fn token(&self) -> Option<&InvitationToken> {
        match self {
            RowVerdict::Invited(t) | RowVerdict::AlreadyInvited(t) | RowVerdict::Duplicate(t) => {
                Some(t)
            }
            _ => None,
        }
    }
}

/// One row of a list job, with its verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[allow(
    clippy::exhaustive_structs,
    reason = "store interface: a store persists every field, so a new field changes every store anyway"
)]
pub struct ListRow {
    /// The job.
    pub job: ListJobId,
    /// Its row number in the list (the header is row 1).
    pub row: u64,
    /// The address as written.
    pub address: String,
    /// What became of it.
    pub verdict: RowVerdict,
}
