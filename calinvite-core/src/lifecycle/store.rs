//! The [`Store`] trait: what the engine needs kept, and the one way it writes
//! ([`Store::commit`], all or nothing).

use std::future::Future;

use chrono::{DateTime, Utc};

use super::model::{
    Announcement, Delivery, DeliveryKey, DomainOwner, FanOut, HistoryEntry, Invitation, Lease,
    ListJob, ListJobId, ListRow, OrganizerAccount, OwnerId, PendingChange, PendingChangeId,
    PendingState, RefusalRecord, Scope, StoredEvent, Suppression,
};
use crate::address::EmailAddress;
use crate::event::Event;
use crate::ids::{EventCode, InvitationToken, Sequence};

/// A store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A write lost a race (a row changed or appeared since it was read): the
    /// pipeline reads again and decides again.
    #[error("conflict: {0}")]
    Conflict(String),
    /// [`Store::settle`] under a lease that is not the message's current
    /// one: the lease ran out and another worker claimed (and perhaps sent
    /// and settled) it, or it was never claimed. Never retried: the message
    /// is someone else's now.
    #[error("delivery {key} is not leased by this claim")]
    NotLeased {
        /// The delivery.
        key: DeliveryKey,
    },
    /// Stored data could not be read back (a corrupted row): names the row.
    #[error("corrupt row {row}: {detail}")]
    Corrupt {
        /// Which row.
        row: String,
        /// What is wrong.
        detail: String,
    },
    /// The store is unreachable or failed; the operation may be retried.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store's schema is newer than this code.
    #[error("store schema version {found} is newer than this build supports ({supported})")]
    TooNew {
        /// In the store.
        found: u32,
        /// In this build.
        supported: u32,
    },
}

/// One write. A [`Store::commit`] applies a list of them atomically: all or
/// none, so a state change and the messages it causes are never apart
/// ([D8](crate::manual::design#d8)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// A new event. Conflict when its code, or its organizer UID within the
    /// organizer, exists.
    InsertEvent(StoredEvent),
    /// A changed event. Conflict unless the stored version is `expected`; the
    /// stored version becomes `expected + 1`.
    UpdateEvent {
        /// The version read.
        expected: u64,
        /// The new state (its `version` is ignored).
        event: StoredEvent,
    },
    /// A revision recipients hold ([D2](crate::manual::design#d2)). Conflict
    /// when (code, sequence) exists.
    InsertRevision {
        /// The event.
        code: EventCode,
        /// Its SEQUENCE.
        sequence: Sequence,
        /// The event as sent.
        event: Event,
    },
    /// A new invitation. Conflict when the event has one for the address or
    /// the token exists (idempotent sends).
    InsertInvitation(Invitation),
    /// A changed invitation. Conflict unless the stored version is `expected`.
    UpdateInvitation {
        /// The version read.
        expected: u64,
        /// The new state (its `version` is ignored).
        invitation: Invitation,
    },
    /// Appends to an invitation's history.
    AppendHistory(HistoryEntry),
    /// Queues a message. A key already queued, sent or failed is left as it
    /// is: the same key never goes out twice.
    Enqueue(Delivery),
    /// Adds an address to an owner's suppression list (kept if present).
    Suppress(Suppression),
    /// A new pending change.
    InsertPending(PendingChange),
    /// Moves a pending change on. Conflict unless it is open.
    ResolvePending {
        /// Its id.
        id: PendingChangeId,
        /// The new state.
        state: PendingState,
    },
    /// A fan-out to plan (inserted), or its progress (replaced by id).
    PutFanOut(FanOut),
    /// A finished fan-out.
    RemoveFanOut(String),
    /// A refusal, for reports.
    Refuse(RefusalRecord),
    /// A new list job (`expected: None`; conflict when the event has a job
    /// of that name, or the id exists), or a changed one (conflict unless
    /// the stored version is `expected`; it becomes `expected + 1`).
    PutListJob {
        /// The version read, or `None` for a new job.
        expected: Option<u64>,
        /// The job (its `version` is ignored).
        job: ListJob,
    },
    /// Rows of a list job with their verdicts. Conflict when a row number
    /// of the job is already recorded (a row gets one verdict, ever).
    InsertListRows(Vec<ListRow>),
    /// Holds (`held`) or releases the queued messages of a group: a held
    /// message is not claimed until its group is released.
    HoldGroup {
        /// The group ([`Delivery::group`]).
        group: String,
        /// Held or released.
        held: bool,
    },
    /// Sets every message of a group that is still queued aside as failed,
    /// with `reason` (a cancelled list job's).
    FailQueuedGroup {
        /// The group.
        group: String,
        /// Why.
        reason: String,
    },
    /// Keeps an announcement for the application
    /// ([`Store::announcements`]), numbered after every one kept before.
    /// Only a pipeline built to announce writes them
    /// ([`PipelineOptions::announce`](crate::lifecycle::PipelineOptions::announce)).
    Announce(Announcement),
}

/// The outcome of one delivery attempt, as the queue records it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Settlement {
    /// The relay accepted the message.
    Sent(DateTime<Utc>),
    /// Try again at this time.
    Retry {
        /// When.
        due: DateTime<Utc>,
        /// What went wrong.
        error: String,
    },
    /// Given up.
    Failed(String),
}

/// One claimed message's settlement, for [`Store::settle_all`]: what
/// [`Store::settle`] takes, as one value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_structs,
    reason = "store interface: the three things a settlement records"
)]
pub struct Settle {
    /// The claim it settles.
    pub lease: Lease,
    /// The outcome.
    pub settlement: Settlement,
    /// The state changes it causes (committed with it, or not at all).
    pub changes: Vec<Change>,
}

/// How many messages the delivery queue holds, by state
/// ([`Store::queue_counts`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueCounts {
    /// Waiting to be claimed (now or, after a transient failure, later),
    /// held ones included.
    pub queued: u64,
    /// Of the queued, those held back with their group (a paused list job).
    pub held: u64,
    /// Claimed by a worker, being sent (or its worker stopped, until the
    /// lease runs out).
    pub leased: u64,
    /// Accepted by the relay.
    pub sent: u64,
    /// Given up.
    pub failed: u64,
    /// Claims of a message whose lease had run out, since the queue began:
    /// its worker stopped (or stalled) holding it, perhaps after the relay
    /// took the message and before the outcome was recorded. Each such
    /// claim may send a message a second time; nothing else does
    /// ([manual: batches, and at least once](crate::manual::lifecycle#batches)).
    pub reclaimed: u64,
}

/// Boxed-free async results: a store's futures are `Send` so a pipeline can
/// run on any executor.
pub type StoreResult<T> = Result<T, StoreError>;

/// Where events, invitations and the delivery queue live.
///
/// Every read is scoped by tenant ([D13](crate::manual::design#d13)) or by an
/// unguessable token; every write goes through [`commit`](Store::commit). The
/// in-memory [`MemoryStore`](super::MemoryStore) is the reference
/// implementation; `calinvite-store` has SQLite and PostgreSQL.
/// A new implementation proves itself with the conformance suite in the
/// `calinvite-tests` crate (its `conformance_tests!` macro), as those do.
pub trait Store: Send + Sync {
    /// Adds or replaces a domain owner (administration).
    fn put_owner(&self, owner: DomainOwner) -> impl Future<Output = StoreResult<()>> + Send;
    /// Adds or replaces an organizer (administration).
    fn put_organizer(
        &self,
        organizer: OrganizerAccount,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// A domain owner.
    fn owner(&self, id: OwnerId) -> impl Future<Output = StoreResult<Option<DomainOwner>>> + Send;
    /// The domain owner one of whose mailboxes is `address`.
    fn owner_by_mailbox(
        &self,
        address: &EmailAddress,
    ) -> impl Future<Output = StoreResult<Option<DomainOwner>>> + Send;
    /// An owner's organizers.
    fn organizers(
        &self,
        owner: OwnerId,
    ) -> impl Future<Output = StoreResult<Vec<OrganizerAccount>>> + Send;
    /// One organizer.
    fn organizer(
        &self,
        scope: Scope,
    ) -> impl Future<Output = StoreResult<Option<OrganizerAccount>>> + Send;

    /// An event, if it belongs to the owner.
    fn event(
        &self,
        owner: OwnerId,
        code: &EventCode,
    ) -> impl Future<Output = StoreResult<Option<StoredEvent>>> + Send;
    /// An organizer's event by the organizer's own UID.
    fn event_by_uid(
        &self,
        scope: Scope,
        uid: &str,
    ) -> impl Future<Output = StoreResult<Option<StoredEvent>>> + Send;
    /// An organizer's events, oldest first, after `after` (a page).
    fn events(
        &self,
        scope: Scope,
        after: Option<&EventCode>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<StoredEvent>>> + Send;
    /// A revision recipients hold.
    fn revision(
        &self,
        code: &EventCode,
        sequence: Sequence,
    ) -> impl Future<Output = StoreResult<Option<Event>>> + Send;

    /// The invitation a token names (tokens are unguessable and unique).
    fn invitation(
        &self,
        token: &InvitationToken,
    ) -> impl Future<Output = StoreResult<Option<Invitation>>> + Send;
    /// The event's invitation for an address.
    fn invitation_for(
        &self,
        code: &EventCode,
        address: &EmailAddress,
    ) -> impl Future<Output = StoreResult<Option<Invitation>>> + Send;
    /// The invitations `tokens` name, in any order, those missing left out
    /// (a worker reads a claimed batch's at once). By default one
    /// [`invitation`](Store::invitation) each; a database answers in one query.
    fn invitations_among(
        &self,
        tokens: &[InvitationToken],
    ) -> impl Future<Output = StoreResult<Vec<Invitation>>> + Send {
        async move {
            let mut out = Vec::with_capacity(tokens.len());
            for t in tokens {
                if let Some(inv) = self.invitation(t).await? {
                    out.push(inv);
                }
            }
            Ok(out)
        }
    }
    /// The event's invitations to any of `addresses`, in any order (a list
    /// page asks once). By default one [`invitation_for`](Store::invitation_for)
    /// each; a database answers in one query.
    fn invitations_to(
        &self,
        code: &EventCode,
        addresses: &[EmailAddress],
    ) -> impl Future<Output = StoreResult<Vec<Invitation>>> + Send {
        async move {
            let mut out = Vec::new();
            for a in addresses {
                if let Some(inv) = self.invitation_for(code, a).await? {
                    out.push(inv);
                }
            }
            Ok(out)
        }
    }
    /// A page of an event's invitations in token order, after `after`.
    fn invitations(
        &self,
        code: &EventCode,
        after: Option<&InvitationToken>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<Invitation>>> + Send;
    /// An invitation's history, oldest first.
    fn history(
        &self,
        token: &InvitationToken,
    ) -> impl Future<Output = StoreResult<Vec<HistoryEntry>>> + Send;

    /// Whether an owner suppresses an address.
    fn suppression(
        &self,
        owner: OwnerId,
        address: &EmailAddress,
    ) -> impl Future<Output = StoreResult<Option<Suppression>>> + Send;

    /// The owner's suppressions of any of `addresses`, in any order (fan-outs
    /// ask once per page; the reason matters: an address that hard-bounced
    /// gets no cancellation either).
    fn suppressions_among(
        &self,
        owner: OwnerId,
        addresses: &[EmailAddress],
    ) -> impl Future<Output = StoreResult<Vec<Suppression>>> + Send {
        async move {
            let mut out = Vec::new();
            for a in addresses {
                if let Some(s) = self.suppression(owner, a).await? {
                    out.push(s);
                }
            }
            Ok(out)
        }
    }

    /// A pending change of the organizer's.
    fn pending(
        &self,
        scope: Scope,
        id: &PendingChangeId,
    ) -> impl Future<Output = StoreResult<Option<PendingChange>>> + Send;

    /// A list job of the organizer's.
    fn list_job(
        &self,
        scope: Scope,
        id: &ListJobId,
    ) -> impl Future<Output = StoreResult<Option<ListJob>>> + Send;

    /// The event's list job of that name, if one.
    fn list_job_named(
        &self,
        code: &EventCode,
        name: &str,
    ) -> impl Future<Output = StoreResult<Option<ListJob>>> + Send;

    /// A page of a list job's recorded rows, in row order, after row
    /// `after` (0: from the start).
    fn list_rows(
        &self,
        job: &ListJobId,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<ListRow>>> + Send;
    /// An event's open pending changes, oldest first.
    fn open_pending(
        &self,
        code: &EventCode,
    ) -> impl Future<Output = StoreResult<Vec<PendingChange>>> + Send;

    /// Fan-outs still to plan, by event and then SEQUENCE (an event's
    /// revisions are planned in the order they were sent).
    fn fan_outs(&self, limit: usize) -> impl Future<Output = StoreResult<Vec<FanOut>>> + Send;

    /// Refusals recorded for an owner (and organizer, when given), oldest first.
    fn refusals(
        &self,
        owner: OwnerId,
        organizer: Option<Scope>,
    ) -> impl Future<Output = StoreResult<Vec<RefusalRecord>>> + Send;

    /// Claims up to `limit` queued messages due at `now`, or whose lease
    /// expired, leasing them until `lease_until`.
    fn claim(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<Delivery>>> + Send;
    /// Records the outcome of an attempt on a claimed message, together with
    /// the state changes it causes. Only the current lease holder settles:
    /// [`StoreError::NotLeased`] (and nothing written) when the message is
    /// not leased, or is leased under another claim than `lease` (the
    /// caller's lease ran out and another worker claimed it since).
    fn settle(
        &self,
        lease: &Lease,
        settlement: Settlement,
        changes: Vec<Change>,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Settles several claimed messages, each exactly as
    /// [`settle`](Store::settle) would: one result per item, in order. A
    /// database groups them into one transaction (a batch costs one commit,
    /// not one per message); an item it cannot settle with the others (not
    /// leased, a conflict) gets its own result and the rest still settle.
    /// By default one `settle` each.
    fn settle_all(
        &self,
        items: Vec<Settle>,
    ) -> impl Future<Output = StoreResult<Vec<StoreResult<()>>>> + Send {
        async move {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(
                    self.settle(&item.lease, item.settlement, item.changes)
                        .await,
                );
            }
            Ok(out)
        }
    }
    /// A queued message, in whatever state.
    fn delivery(
        &self,
        key: &DeliveryKey,
    ) -> impl Future<Output = StoreResult<Option<Delivery>>> + Send;
    /// The delivery queue's messages by state, and how many claims took
    /// over a lease that had run out.
    fn queue_counts(&self) -> impl Future<Output = StoreResult<QueueCounts>> + Send;

    /// Applies the changes atomically.
    fn commit(&self, changes: Vec<Change>) -> impl Future<Output = StoreResult<()>> + Send;

    /// Up to `limit` kept announcements numbered above `after`, in number
    /// order, each with its number ([`Change::Announce`]; manual:
    /// [announcements](crate::manual::lifecycle#announcements)).
    ///
    /// Numbers rise in the order announcements are written, but on a
    /// database with concurrent writers a transaction that took a number
    /// may commit after one that took a higher number. A reader that must
    /// see every announcement therefore reads from the start (`after` 0)
    /// and [forgets](Store::forget_announcements) exactly those it handled,
    /// never "everything up to" a number. One the store cannot read back
    /// (damaged, or written by a newer calinvite sharing the database) is
    /// passed over and kept, and the page filled from those after it.
    ///
    /// By default there are none: a store that keeps no announcements
    /// cannot serve a pipeline that announces (its commits of
    /// [`Change::Announce`] fail).
    fn announcements(
        &self,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<(u64, Announcement)>>> + Send {
        let _ = (after, limit);
        async { Ok(Vec::new()) }
    }

    /// Forgets the announcements numbered `numbers` (handled by the
    /// application); numbers not kept are passed over.
    fn forget_announcements(
        &self,
        numbers: &[u64],
    ) -> impl Future<Output = StoreResult<()>> + Send {
        let _ = numbers;
        async { Ok(()) }
    }
}

/// A shared store is a store: several pipelines (tenants, workers) over one
/// instance, as in production where they share one database.
impl<S: Store> Store for std::sync::Arc<S> {
    fn put_owner(&self, owner: DomainOwner) -> impl Future<Output = StoreResult<()>> + Send {
        (**self).put_owner(owner)
    }
    fn put_organizer(
        &self,
        organizer: OrganizerAccount,
    ) -> impl Future<Output = StoreResult<()>> + Send {
        (**self).put_organizer(organizer)
    }
    fn owner(&self, id: OwnerId) -> impl Future<Output = StoreResult<Option<DomainOwner>>> + Send {
        (**self).owner(id)
    }
    fn owner_by_mailbox(
        &self,
        address: &EmailAddress,
    ) -> impl Future<Output = StoreResult<Option<DomainOwner>>> + Send {
        (**self).owner_by_mailbox(address)
    }
    fn organizers(
        &self,
        owner: OwnerId,
    ) -> impl Future<Output = StoreResult<Vec<OrganizerAccount>>> + Send {
        (**self).organizers(owner)
    }
    fn organizer(
        &self,
        scope: Scope,
    ) -> impl Future<Output = StoreResult<Option<OrganizerAccount>>> + Send {
        (**self).organizer(scope)
    }
    fn event(
        &self,
        owner: OwnerId,
        code: &EventCode,
    ) -> impl Future<Output = StoreResult<Option<StoredEvent>>> + Send {
        (**self).event(owner, code)
    }
    fn event_by_uid(
        &self,
        scope: Scope,
        uid: &str,
    ) -> impl Future<Output = StoreResult<Option<StoredEvent>>> + Send {
        (**self).event_by_uid(scope, uid)
    }
    fn events(
        &self,
        scope: Scope,
        after: Option<&EventCode>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<StoredEvent>>> + Send {
        (**self).events(scope, after, limit)
    }
    fn revision(
        &self,
        code: &EventCode,
        sequence: Sequence,
    ) -> impl Future<Output = StoreResult<Option<Event>>> + Send {
        (**self).revision(code, sequence)
    }
    fn invitation(
        &self,
        token: &InvitationToken,
    ) -> impl Future<Output = StoreResult<Option<Invitation>>> + Send {
        (**self).invitation(token)
    }
    fn invitation_for(
        &self,
        code: &EventCode,
        address: &EmailAddress,
    ) -> impl Future<Output = StoreResult<Option<Invitation>>> + Send {
        (**self).invitation_for(code, address)
    }
    fn invitations(
        &self,
        code: &EventCode,
        after: Option<&InvitationToken>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<Invitation>>> + Send {
        (**self).invitations(code, after, limit)
    }
    fn history(
        &self,
        token: &InvitationToken,
    ) -> impl Future<Output = StoreResult<Vec<HistoryEntry>>> + Send {
        (**self).history(token)
    }
    fn suppression(
        &self,
        owner: OwnerId,
        address: &EmailAddress,
    ) -> impl Future<Output = StoreResult<Option<Suppression>>> + Send {
        (**self).suppression(owner, address)
    }
    fn suppressions_among(
        &self,
        owner: OwnerId,
        addresses: &[EmailAddress],
    ) -> impl Future<Output = StoreResult<Vec<Suppression>>> + Send {
        (**self).suppressions_among(owner, addresses)
    }
    fn pending(
        &self,
        scope: Scope,
        id: &PendingChangeId,
    ) -> impl Future<Output = StoreResult<Option<PendingChange>>> + Send {
        (**self).pending(scope, id)
    }
    fn list_job(
        &self,
        scope: Scope,
        id: &ListJobId,
    ) -> impl Future<Output = StoreResult<Option<ListJob>>> + Send {
        (**self).list_job(scope, id)
    }
    fn list_job_named(
        &self,
        code: &EventCode,
        name: &str,
    ) -> impl Future<Output = StoreResult<Option<ListJob>>> + Send {
        (**self).list_job_named(code, name)
    }
    fn list_rows(
        &self,
        job: &ListJobId,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<ListRow>>> + Send {
        (**self).list_rows(job, after, limit)
    }
    fn open_pending(
        &self,
        code: &EventCode,
    ) -> impl Future<Output = StoreResult<Vec<PendingChange>>> + Send {
        (**self).open_pending(code)
    }
    fn fan_outs(&self, limit: usize) -> impl Future<Output = StoreResult<Vec<FanOut>>> + Send {
        (**self).fan_outs(limit)
    }
    fn refusals(
        &self,
        owner: OwnerId,
        organizer: Option<Scope>,
    ) -> impl Future<Output = StoreResult<Vec<RefusalRecord>>> + Send {
        (**self).refusals(owner, organizer)
    }
    fn claim(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<Delivery>>> + Send {
        (**self).claim(now, lease_until, limit)
    }
    fn settle(
        &self,
        lease: &Lease,
        settlement: Settlement,
        changes: Vec<Change>,
    ) -> impl Future<Output = StoreResult<()>> + Send {
        (**self).settle(lease, settlement, changes)
    }
    fn settle_all(
        &self,
        items: Vec<Settle>,
    ) -> impl Future<Output = StoreResult<Vec<StoreResult<()>>>> + Send {
        (**self).settle_all(items)
    }
    fn delivery(
        &self,
        key: &DeliveryKey,
    ) -> impl Future<Output = StoreResult<Option<Delivery>>> + Send {
        (**self).delivery(key)
    }
    fn queue_counts(&self) -> impl Future<Output = StoreResult<QueueCounts>> + Send {
        (**self).queue_counts()
    }
    fn invitations_among(
        &self,
        tokens: &[InvitationToken],
    ) -> impl Future<Output = StoreResult<Vec<Invitation>>> + Send {
        (**self).invitations_among(tokens)
    }
    fn invitations_to(
        &self,
        code: &EventCode,
        addresses: &[EmailAddress],
    ) -> impl Future<Output = StoreResult<Vec<Invitation>>> + Send {
        (**self).invitations_to(code, addresses)
    }
    fn commit(&self, changes: Vec<Change>) -> impl Future<Output = StoreResult<()>> + Send {
        (**self).commit(changes)
    }
    fn announcements(
        &self,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<(u64, Announcement)>>> + Send {
        (**self).announcements(after, limit)
    }
    fn forget_announcements(
        &self,
        numbers: &[u64],
    ) -> impl Future<Output = StoreResult<()>> + Send {
        (**self).forget_announcements(numbers)
    }
}
