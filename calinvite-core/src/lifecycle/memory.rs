//! [`MemoryStore`]: the reference [`Store`], in memory, for tests and
//! examples. One lock; [`commit`](Store::commit) checks every change before
//! applying any, so it is all or nothing like a database transaction.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};

use super::model::{
    Announcement, Delivery, DeliveryKey, DomainOwner, FanOut, HistoryEntry, Invitation, Lease,
    ListJob, ListJobId, ListRow, OrganizerAccount, OwnerId, PendingChange, PendingChangeId,
    PendingState, QueueState, RefusalRecord, Scope, StoredEvent, Suppression,
};
use super::store::{Change, QueueCounts, Settlement, Store, StoreError, StoreResult};
use crate::address::EmailAddress;
use crate::event::Event;
use crate::ids::{EventCode, InvitationToken, Sequence};

#[derive(Debug, Default)]
struct Inner {
    owners: BTreeMap<OwnerId, DomainOwner>,
    organizers: BTreeMap<Scope, OrganizerAccount>,
    events: BTreeMap<EventCode, StoredEvent>,
    by_uid: HashMap<(Scope, String), EventCode>,
    revisions: HashMap<(EventCode, Sequence), Event>,
    invitations: BTreeMap<InvitationToken, Invitation>,
    by_address: HashMap<(EventCode, EmailAddress), InvitationToken>,
    /// Per event, its tokens in order (for pages).
    by_event: HashMap<EventCode, std::collections::BTreeSet<InvitationToken>>,
    history: HashMap<InvitationToken, Vec<HistoryEntry>>,
    suppressions: HashMap<(OwnerId, EmailAddress), Suppression>,
    pending: BTreeMap<PendingChangeId, PendingChange>,
    fan_outs: BTreeMap<String, FanOut>,
    /// Queue in insertion order; `queue_index` finds a key.
    queue: Vec<Delivery>,
    queue_index: HashMap<DeliveryKey, usize>,
    refusals: Vec<RefusalRecord>,
    list_jobs: BTreeMap<ListJobId, ListJob>,
    list_rows: BTreeMap<(ListJobId, u64), ListRow>,
    held_groups: std::collections::BTreeSet<String>,
    /// Claims of a message whose lease had run out.
    reclaimed: u64,
    /// Announcements kept, by number.
    announcements: BTreeMap<u64, Announcement>,
    /// The number of the last announcement written (never reused).
    announced: u64,
}

/// A [`Store`] in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every queued message in queue order (for tests and reports of the queue).
    pub fn queue(&self) -> Vec<Delivery> {
        self.lock().queue.clone()
    }
}

fn conflict(what: impl Into<String>) -> StoreError {
    StoreError::Conflict(what.into())
}

/// How to take one applied change back (a failed commit rolls back).
enum Undo {
    Nothing,
    RemoveEvent(EventCode, Option<(Scope, String)>),
    RestoreEvent(Box<StoredEvent>),
    RemoveRevision(EventCode, Sequence),
    RemoveInvitation(InvitationToken, EventCode, EmailAddress),
    RestoreInvitation(Box<Invitation>),
    PopHistory(InvitationToken),
    PopQueue(DeliveryKey),
    RemoveSuppression(OwnerId, EmailAddress),
    RemovePending(PendingChangeId),
    RestorePending(PendingChangeId, PendingState),
    RestoreFanOut(String, Option<FanOut>),
    PopRefusal,
    RestoreListJob(ListJobId, Option<Box<ListJob>>),
    RemoveListRows(Vec<(ListJobId, u64)>),
    SetHeld(String, bool),
    RestoreQueueStates(Vec<(usize, QueueState, Option<String>)>),
    RemoveAnnouncement(u64),
}

impl Inner {
    /// Checks one change against the current state (earlier changes of the
    /// batch included) and applies it, returning how to take it back.
    fn apply(&mut self, change: Change) -> StoreResult<Undo> {
        Ok(match change {
            Change::InsertEvent(mut event) => {
                if self.events.contains_key(&event.code) {
                    return Err(conflict(format!("event {} exists", event.code)));
                }
                let uid_key = event.organizer_uid.clone().map(|u| (event.scope, u));
                if let Some(k) = &uid_key {
                    if self.by_uid.contains_key(k) {
                        return Err(conflict("organizer UID exists"));
                    }
                    self.by_uid.insert(k.clone(), event.code.clone());
                }
                event.version = 0;
                let code = event.code.clone();
                self.events.insert(code.clone(), event);
                Undo::RemoveEvent(code, uid_key)
            }
            Change::UpdateEvent {
                expected,
                mut event,
            } => {
                let current = self
                    .events
                    .get(&event.code)
                    .ok_or_else(|| conflict(format!("event {} missing", event.code)))?;
                if current.version != expected || current.scope != event.scope {
                    return Err(conflict(format!("event {} changed", event.code)));
                }
                event.version = expected + 1;
                event.organizer_uid.clone_from(&current.organizer_uid);
                let old = self.events.insert(event.code.clone(), event);
                old.map_or(Undo::Nothing, |e| Undo::RestoreEvent(Box::new(e)))
            }
            Change::InsertRevision {
                code,
                sequence,
                event,
            } => {
                let k = (code, sequence);
                if self.revisions.contains_key(&k) {
                    return Err(conflict(format!("revision {} of {} exists", k.1, k.0)));
                }
                let undo = Undo::RemoveRevision(k.0.clone(), k.1);
                self.revisions.insert(k, event);
                undo
            }
            Change::InsertInvitation(mut inv) => {
                let k = (inv.code.clone(), inv.recipient.address().clone());
                if self.by_address.contains_key(&k) || self.invitations.contains_key(&inv.token) {
                    return Err(conflict("invitation exists"));
                }
                inv.version = 0;
                self.by_address.insert(k.clone(), inv.token.clone());
                self.by_event
                    .entry(inv.code.clone())
                    .or_default()
                    .insert(inv.token.clone());
                let token = inv.token.clone();
                self.invitations.insert(token.clone(), inv);
                Undo::RemoveInvitation(token, k.0, k.1)
            }
            Change::UpdateInvitation {
                expected,
                mut invitation,
            } => {
                let current = self
                    .invitations
                    .get(&invitation.token)
                    .ok_or_else(|| conflict("invitation missing"))?;
                if current.version != expected
                    || current.code != invitation.code
                    || current.recipient.address() != invitation.recipient.address()
                {
                    return Err(conflict("invitation changed"));
                }
                invitation.version = expected + 1;
                let old = self
                    .invitations
                    .insert(invitation.token.clone(), invitation);
                old.map_or(Undo::Nothing, |i| Undo::RestoreInvitation(Box::new(i)))
            }
            Change::AppendHistory(entry) => {
                if !self.invitations.contains_key(&entry.token) {
                    return Err(conflict("history for a missing invitation"));
                }
                let token = entry.token.clone();
                self.history.entry(token.clone()).or_default().push(entry);
                Undo::PopHistory(token)
            }
            Change::Enqueue(delivery) => {
                if self.queue_index.contains_key(&delivery.key) {
                    Undo::Nothing
                } else {
                    let key = delivery.key.clone();
                    self.queue_index.insert(key.clone(), self.queue.len());
                    self.queue.push(delivery);
                    Undo::PopQueue(key)
                }
            }
            Change::Suppress(s) => {
                let k = (s.owner, s.address.clone());
                if self.suppressions.contains_key(&k) {
                    Undo::Nothing
                } else {
                    self.suppressions.insert(k.clone(), s);
                    Undo::RemoveSuppression(k.0, k.1)
                }
            }
            Change::InsertPending(p) => {
                if self.pending.contains_key(&p.id) {
                    return Err(conflict("pending change exists"));
                }
                let id = p.id.clone();
                self.pending.insert(id.clone(), p);
                Undo::RemovePending(id)
            }
            Change::ResolvePending { id, state } => {
                let p = self
                    .pending
                    .get_mut(&id)
                    .ok_or_else(|| conflict("pending change missing"))?;
                if p.state != PendingState::Open {
                    return Err(conflict("pending change already resolved"));
                }
                let old = std::mem::replace(&mut p.state, state);
                Undo::RestorePending(id, old)
            }
            Change::PutFanOut(f) => {
                let id = f.id.clone();
                let old = self.fan_outs.insert(id.clone(), f);
                Undo::RestoreFanOut(id, old)
            }
            Change::RemoveFanOut(id) => {
                let old = self.fan_outs.remove(&id);
                Undo::RestoreFanOut(id, old)
            }
            Change::Refuse(r) => {
                self.refusals.push(r);
                Undo::PopRefusal
            }
            Change::PutListJob { expected, mut job } => {
                let current = self.list_jobs.get(&job.id).cloned();
                match (expected, &current) {
                    (None, None) => {
                        if self
                            .list_jobs
                            .values()
                            .any(|j| j.code == job.code && j.name == job.name)
                        {
                            return Err(conflict(format!(
                                "event {} has a list job named {:?}",
                                job.code, job.name
                            )));
                        }
                        job.version = 0;
                    }
                    (Some(v), Some(c)) if c.version == v && c.scope == job.scope => {
                        job.version = v + 1;
                        job.name.clone_from(&c.name);
                        job.code = c.code.clone();
                    }
                    _ => return Err(conflict(format!("list job {} changed", job.id))),
                }
                let id = job.id.clone();
                self.list_jobs.insert(id.clone(), job);
                Undo::RestoreListJob(id, current.map(Box::new))
            }
            Change::InsertListRows(rows) => {
                let mut keys = Vec::with_capacity(rows.len());
                for row in rows {
                    let k = (row.job.clone(), row.row);
                    if self.list_rows.contains_key(&k) {
                        for k in keys {
                            self.list_rows.remove(&k);
                        }
                        return Err(conflict(format!(
                            "row {} of list job {} is recorded",
                            row.row, row.job
                        )));
                    }
                    self.list_rows.insert(k.clone(), row);
                    keys.push(k);
                }
                Undo::RemoveListRows(keys)
            }
            Change::HoldGroup { group, held } => {
                let was = self.held_groups.contains(&group);
                if held {
                    self.held_groups.insert(group.clone());
                } else {
                    self.held_groups.remove(&group);
                }
                Undo::SetHeld(group, was)
            }
            Change::FailQueuedGroup { group, reason } => {
                let mut before = Vec::new();
                for (i, d) in self.queue.iter_mut().enumerate() {
                    if d.group.as_deref() == Some(group.as_str()) && d.state == QueueState::Queued {
                        before.push((i, d.state.clone(), d.last_error.clone()));
                        d.state = QueueState::Failed(reason.clone());
                        d.last_error = Some(reason.clone());
                    }
                }
                Undo::RestoreQueueStates(before)
            }
            Change::Announce(a) => {
                self.announced += 1;
                self.announcements.insert(self.announced, a);
                Undo::RemoveAnnouncement(self.announced)
            }
        })
    }

    fn undo(&mut self, undo: Undo) {
        match undo {
            Undo::Nothing => {}
            Undo::RemoveEvent(code, uid) => {
                self.events.remove(&code);
                if let Some(k) = uid {
                    self.by_uid.remove(&k);
                }
            }
            Undo::RestoreEvent(e) => {
                self.events.insert(e.code.clone(), *e);
            }
            Undo::RemoveRevision(code, seq) => {
                self.revisions.remove(&(code, seq));
            }
            Undo::RemoveInvitation(token, code, address) => {
                self.invitations.remove(&token);
                self.by_address.remove(&(code.clone(), address));
                if let Some(set) = self.by_event.get_mut(&code) {
                    set.remove(&token);
                }
            }
            Undo::RestoreInvitation(inv) => {
                self.invitations.insert(inv.token.clone(), *inv);
            }
            Undo::PopHistory(token) => {
                if let Some(h) = self.history.get_mut(&token) {
                    h.pop();
                }
            }
            Undo::PopQueue(key) => {
                self.queue.pop();
                self.queue_index.remove(&key);
            }
            Undo::RemoveSuppression(owner, address) => {
                self.suppressions.remove(&(owner, address));
            }
            Undo::RemovePending(id) => {
                self.pending.remove(&id);
            }
            Undo::RestorePending(id, state) => {
                if let Some(p) = self.pending.get_mut(&id) {
                    p.state = state;
                }
            }
            Undo::RestoreFanOut(id, old) => match old {
                Some(f) => {
                    self.fan_outs.insert(id, f);
                }
                None => {
                    self.fan_outs.remove(&id);
                }
            },
            Undo::PopRefusal => {
                self.refusals.pop();
            }
            Undo::RestoreListJob(id, old) => match old {
                Some(j) => {
                    self.list_jobs.insert(id, *j);
                }
                None => {
                    self.list_jobs.remove(&id);
                }
            },
            Undo::RemoveListRows(keys) => {
                for k in keys {
                    self.list_rows.remove(&k);
                }
            }
            Undo::SetHeld(group, was) => {
                if was {
                    self.held_groups.insert(group);
                } else {
                    self.held_groups.remove(&group);
                }
            }
            Undo::RestoreQueueStates(before) => {
                for (i, state, error) in before {
                    self.queue[i].state = state;
                    self.queue[i].last_error = error;
                }
            }
            // The number stays taken, as a database sequence's does.
            Undo::RemoveAnnouncement(n) => {
                self.announcements.remove(&n);
            }
        }
    }

    /// Applies every change or none: on the first conflict, what was applied
    /// is taken back in reverse order.
    fn commit(&mut self, changes: Vec<Change>) -> StoreResult<()> {
        let mut log = Vec::with_capacity(changes.len());
        for c in changes {
            match self.apply(c) {
                Ok(u) => log.push(u),
                Err(e) => {
                    while let Some(u) = log.pop() {
                        self.undo(u);
                    }
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

impl Store for MemoryStore {
    async fn put_owner(&self, owner: DomainOwner) -> StoreResult<()> {
        self.lock().owners.insert(owner.id, owner);
        Ok(())
    }

    async fn put_organizer(&self, organizer: OrganizerAccount) -> StoreResult<()> {
        self.lock().organizers.insert(organizer.scope, organizer);
        Ok(())
    }

    async fn owner(&self, id: OwnerId) -> StoreResult<Option<DomainOwner>> {
        Ok(self.lock().owners.get(&id).cloned())
    }

    async fn owner_by_mailbox(&self, address: &EmailAddress) -> StoreResult<Option<DomainOwner>> {
        Ok(self
            .lock()
            .owners
            .values()
            .find(|o| o.serves(address))
            .cloned())
    }

    async fn organizers(&self, owner: OwnerId) -> StoreResult<Vec<OrganizerAccount>> {
        Ok(self
            .lock()
            .organizers
            .values()
            .filter(|o| o.scope.owner == owner)
            .cloned()
            .collect())
    }

    async fn organizer(&self, scope: Scope) -> StoreResult<Option<OrganizerAccount>> {
        Ok(self.lock().organizers.get(&scope).cloned())
    }

    async fn event(&self, owner: OwnerId, code: &EventCode) -> StoreResult<Option<StoredEvent>> {
        Ok(self
            .lock()
            .events
            .get(code)
            .filter(|e| e.scope.owner == owner)
            .cloned())
    }

    async fn event_by_uid(&self, scope: Scope, uid: &str) -> StoreResult<Option<StoredEvent>> {
        let inner = self.lock();
        Ok(inner
            .by_uid
            .get(&(scope, uid.to_owned()))
            .and_then(|c| inner.events.get(c))
            .cloned())
    }

    async fn events(
        &self,
        scope: Scope,
        after: Option<&EventCode>,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>> {
        let inner = self.lock();
        let mut all: Vec<&StoredEvent> =
            inner.events.values().filter(|e| e.scope == scope).collect();
        all.sort_by(|a, b| (a.created_at, &a.code).cmp(&(b.created_at, &b.code)));
        let start = after
            .and_then(|c| all.iter().position(|e| &e.code == c).map(|i| i + 1))
            .unwrap_or(0);
        Ok(all.into_iter().skip(start).take(limit).cloned().collect())
    }

    async fn revision(&self, code: &EventCode, sequence: Sequence) -> StoreResult<Option<Event>> {
        Ok(self
            .lock()
            .revisions
            .get(&(code.clone(), sequence))
            .cloned())
    }

    async fn invitation(&self, token: &InvitationToken) -> StoreResult<Option<Invitation>> {
        Ok(self.lock().invitations.get(token).cloned())
    }

    async fn invitation_for(
        &self,
        code: &EventCode,
        address: &EmailAddress,
    ) -> StoreResult<Option<Invitation>> {
        let inner = self.lock();
        Ok(inner
            .by_address
            .get(&(code.clone(), address.clone()))
            .and_then(|t| inner.invitations.get(t))
            .cloned())
    }

    async fn invitations(
        &self,
        code: &EventCode,
        after: Option<&InvitationToken>,
        limit: usize,
    ) -> StoreResult<Vec<Invitation>> {
        use std::ops::Bound;
        let inner = self.lock();
        let Some(tokens) = inner.by_event.get(code) else {
            return Ok(Vec::new());
        };
        let lower = after.map_or(Bound::Unbounded, |t| Bound::Excluded(t.clone()));
        Ok(tokens
            .range((lower, Bound::Unbounded))
            .take(limit)
            .filter_map(|t| inner.invitations.get(t).cloned())
            .collect())
    }

    async fn history(&self, token: &InvitationToken) -> StoreResult<Vec<HistoryEntry>> {
        Ok(self.lock().history.get(token).cloned().unwrap_or_default())
    }

    async fn suppression(
        &self,
        owner: OwnerId,
        address: &EmailAddress,
    ) -> StoreResult<Option<Suppression>> {
        Ok(self
            .lock()
            .suppressions
            .get(&(owner, address.clone()))
            .cloned())
    }

    async fn pending(
        &self,
        scope: Scope,
        id: &PendingChangeId,
    ) -> StoreResult<Option<PendingChange>> {
        Ok(self
            .lock()
            .pending
            .get(id)
            .filter(|p| p.scope == scope)
            .cloned())
    }

    async fn open_pending(&self, code: &EventCode) -> StoreResult<Vec<PendingChange>> {
        let mut open: Vec<PendingChange> = self
            .lock()
            .pending
            .values()
            .filter(|p| &p.code == code && p.state == PendingState::Open)
            .cloned()
            .collect();
        open.sort_by_key(|p| p.created_at);
        Ok(open)
    }

    async fn fan_outs(&self, limit: usize) -> StoreResult<Vec<FanOut>> {
        let mut all: Vec<FanOut> = self.lock().fan_outs.values().cloned().collect();
        all.sort_by(|a, b| (&a.code, a.sequence).cmp(&(&b.code, b.sequence)));
        all.truncate(limit);
        Ok(all)
    }

    async fn refusals(
        &self,
        owner: OwnerId,
        organizer: Option<Scope>,
    ) -> StoreResult<Vec<RefusalRecord>> {
        Ok(self
            .lock()
            .refusals
            .iter()
            .filter(|r| r.owner == owner)
            .filter(|r| organizer.is_none_or(|s| r.organizer == Some(s.organizer)))
            .cloned()
            .collect())
    }

    async fn list_job(&self, scope: Scope, id: &ListJobId) -> StoreResult<Option<ListJob>> {
        Ok(self
            .lock()
            .list_jobs
            .get(id)
            .filter(|j| j.scope == scope)
            .cloned())
    }

    async fn list_job_named(&self, code: &EventCode, name: &str) -> StoreResult<Option<ListJob>> {
        Ok(self
            .lock()
            .list_jobs
            .values()
            .find(|j| &j.code == code && j.name == name)
            .cloned())
    }

    async fn list_rows(
        &self,
        job: &ListJobId,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<ListRow>> {
        let inner = self.lock();
        Ok(inner
            .list_rows
            .range((job.clone(), after.saturating_add(1))..)
            .take_while(|((j, _), _)| j == job)
            .take(limit)
            .map(|(_, r)| r.clone())
            .collect())
    }

    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        let mut inner = self.lock();
        let held_groups = inner.held_groups.clone();
        let mut out = Vec::new();
        let mut reclaimed = 0;
        for d in &mut inner.queue {
            if out.len() >= limit {
                break;
            }
            let held = d.group.as_ref().is_some_and(|g| held_groups.contains(g));
            let claimable = match d.state {
                QueueState::Queued => d.due <= now && !held,
                QueueState::Leased(until) => until <= now,
                QueueState::Sent(_) | QueueState::Failed(_) => false,
            };
            if claimable {
                reclaimed += u64::from(matches!(d.state, QueueState::Leased(_)));
                d.state = QueueState::Leased(lease_until);
                d.attempts += 1;
                out.push(d.clone());
            }
        }
        inner.reclaimed += reclaimed;
        Ok(out)
    }

    async fn queue_counts(&self) -> StoreResult<QueueCounts> {
        let inner = self.lock();
        let mut counts = QueueCounts {
            reclaimed: inner.reclaimed,
            ..QueueCounts::default()
        };
        for d in &inner.queue {
            match d.state {
                QueueState::Queued => {
                    counts.queued += 1;
                    counts.held += u64::from(
                        d.group
                            .as_ref()
                            .is_some_and(|g| inner.held_groups.contains(g)),
                    );
                }
                QueueState::Leased(_) => counts.leased += 1,
                QueueState::Sent(_) => counts.sent += 1,
                QueueState::Failed(_) => counts.failed += 1,
            }
        }
        Ok(counts)
    }

    async fn settle(
        &self,
        lease: &Lease,
        settlement: Settlement,
        changes: Vec<Change>,
    ) -> StoreResult<()> {
        let key = &lease.key;
        let mut inner = self.lock();
        let index = *inner
            .queue_index
            .get(key)
            .ok_or_else(|| conflict(format!("no delivery {key}")))?;
        let held = &inner.queue[index];
        if !matches!(held.state, QueueState::Leased(_)) || held.attempts != lease.attempt {
            return Err(StoreError::NotLeased { key: key.clone() });
        }
        // State changes first: if they conflict, the delivery stays leased.
        inner.commit(changes)?;
        let d = &mut inner.queue[index];
        match settlement {
            Settlement::Sent(at) => {
                d.state = QueueState::Sent(at);
                d.last_error = None;
            }
            Settlement::Retry { due, error } => {
                d.state = QueueState::Queued;
                d.due = due;
                d.last_error = Some(error);
            }
            Settlement::Failed(reason) => {
                d.last_error = Some(reason.clone());
                d.state = QueueState::Failed(reason);
            }
        }
        Ok(())
    }

    async fn delivery(&self, key: &DeliveryKey) -> StoreResult<Option<Delivery>> {
        let inner = self.lock();
        Ok(inner.queue_index.get(key).map(|&i| inner.queue[i].clone()))
    }

    async fn commit(&self, changes: Vec<Change>) -> StoreResult<()> {
        self.lock().commit(changes)
    }

    async fn announcements(
        &self,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<(u64, Announcement)>> {
        use std::ops::Bound;
        Ok(self
            .lock()
            .announcements
            .range((Bound::Excluded(after), Bound::Unbounded))
            .take(limit)
            .map(|(n, a)| (*n, a.clone()))
            .collect())
    }

    async fn forget_announcements(&self, numbers: &[u64]) -> StoreResult<()> {
        let mut inner = self.lock();
        for n in numbers {
            inner.announcements.remove(n);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::block_on;
    use crate::lifecycle::model::{OrganizerId, Refusal, RefusalReason};

    fn refusal(owner: u64) -> Change {
        Change::Refuse(RefusalRecord {
            owner: OwnerId(owner),
            organizer: Some(OrganizerId(1)),
            code: None,
            at: DateTime::from_timestamp(0, 0).unwrap_or_default(),
            refusal: Refusal::new(RefusalReason::NotActionable, "test"),
        })
    }

    #[test]
    fn a_commit_that_conflicts_leaves_nothing_behind() {
        let store = MemoryStore::new();
        let key = DeliveryKey::Notice("n1".into());
        let delivery = Delivery {
            key: key.clone(),
            owner: OwnerId(1),
            payload: crate::spi::Payload::Prepared {
                from: EmailAddress::parse("b@x.example").unwrap_or_else(|e| panic!("{e}")),
                to: EmailAddress::parse("c@x.example").unwrap_or_else(|e| panic!("{e}")),
                bytes: b"x".to_vec(),
            },
            attempts: 0,
            due: DateTime::from_timestamp(0, 0).unwrap_or_default(),
            state: QueueState::Queued,
            last_error: None,
            group: None,
        };
        let result = block_on(store.commit(vec![
            refusal(1),
            Change::Enqueue(delivery.clone()),
            Change::ResolvePending {
                id: PendingChangeId::new("missing"),
                state: PendingState::Approved,
            },
        ]));
        assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
        assert!(block_on(store.delivery(&key)).unwrap_or_default().is_none());
        assert!(
            block_on(store.refusals(OwnerId(1), None))
                .unwrap_or_default()
                .is_empty()
        );
        // The same message alone commits, and a second enqueue of its key is a no-op.
        block_on(store.commit(vec![Change::Enqueue(delivery.clone())]))
            .unwrap_or_else(|e| panic!("{e}"));
        block_on(store.commit(vec![Change::Enqueue(delivery)])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.queue().len(), 1);
    }
}
