//! Room: changes. What the organizer changes after the event went out: a
//! new version (from their calendar, through the ingest room, or through
//! [`Pipeline::update_event`]) and a cancellation of the event or some
//! instances. A change is sent at once, or held as a pending change when the
//! approval switch is on, until someone approves it (sent to those it
//! listed, and to later joiners its rule includes) or rejects it.
//!
//! Depends on the shared pipeline helpers, the engine's rules, targeting and
//! the store; the sending room reads and plans the audience of a held change.
//!
//! Each command loads, decides, commits: [`publication`], [`cancellation`]
//! and [`resolution`] are pure decisions over what was read (tested below
//! without a store). A change held for approval lists who it would reach, so
//! its audience is read (every page of invitations, with their suppressions)
//! only once the decision says it is held, then planned by a pure function
//! and written by [`held`].

use super::sending::planned;
use super::*;

impl<S: Store, T: Transport> Pipeline<S, T> {
    /// Sends `next.latest` out if it differs from what recipients hold: at
    /// once, or as a pending change under the approval switch. Reads the
    /// revision recipients hold and the open pending changes, decides
    /// ([`publication`]), and commits.
    pub(super) async fn publish(
        &self,
        settings: &Settings,
        event: StoredEvent,
        next: StoredEvent,
        now: DateTime<Utc>,
    ) -> Result<Outcome, PipelineError> {
        let code = &event.code;
        let sent = self
            .store
            .revision(code, event.sent_sequence)
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                row: format!("revision {}/{}", code, event.sent_sequence),
                detail: "the revision recipients hold is missing".into(),
            })?;
        let open = self.store.open_pending(code).await?;
        let decided =
            self.naming(|name| publication(&event, next, &sent, &open, settings, now, name))?;
        self.commit_decided(&event, decided, now).await
    }

    /// Cancels the event (`instances`: `None`), or some instances, as
    /// `next` (the event stamped with the organizer's message): at once, or
    /// as a pending change under the approval switch. Reads the open pending
    /// changes, decides ([`cancellation`]), and commits.
    pub(super) async fn cancel(
        &self,
        settings: &Settings,
        event: StoredEvent,
        next: StoredEvent,
        instances: Option<Vec<crate::time::OccurrenceId>>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, PipelineError> {
        if event.cancelled {
            // Decided before anything is read.
            return Err(already_cancelled(&event).into());
        }
        let open = self.store.open_pending(&event.code).await?;
        let decided =
            self.naming(|name| cancellation(&event, next, instances, &open, settings, now, name))??;
        self.commit_decided(&event, decided, now).await
    }

    /// Commits a decided change; a held one first has its audience read
    /// and planned ([`planned`]), and its pending change named.
    async fn commit_decided(
        &self,
        event: &StoredEvent,
        decided: Decided,
        now: DateTime<Utc>,
    ) -> Result<Outcome, PipelineError> {
        let (mut changes, outcome) = match decided {
            Decided::Done(changes, outcome) => (changes, outcome),
            Decided::Held(hold) => {
                let pages = self.read_audience(&event.code).await?;
                let listed = planned(&pages, &hold.audience, hold.message);
                held(
                    event,
                    *hold,
                    listed,
                    PendingChangeId::new(self.unique_name()?),
                    now,
                )
            }
        };
        if self.options.announce {
            let announced = announced(event, &changes, now);
            changes.extend(announced.into_iter().map(Change::Announce));
        }
        self.store.commit(changes).await?;
        Ok(outcome)
    }

    /// Replaces an API-created (or any) event's content, as its organizer:
    /// sent out like an organizer's edit (change detection, audience, approval).
    #[tracing::instrument(name = "update_event", skip_all, fields(owner = scope.owner.0, organizer = scope.organizer.0, code = %code))]
    pub async fn update_event(
        &self,
        scope: Scope,
        code: &EventCode,
        event: Event,
    ) -> Result<Outcome, PipelineError> {
        let result = self.update_event_at(scope, code, event, self.now()).await;
        self.finished("update_event", result)
    }

    async fn update_event_at(
        &self,
        scope: Scope,
        code: &EventCode,
        event: Event,
        now: DateTime<Utc>,
    ) -> Result<Outcome, PipelineError> {
        let settings = self.settings(scope).await?;
        let (event, settings) = (&event, &settings);
        self.retrying("update", || async move {
            let stored = self.scoped_event(scope, code).await?;
            if stored.cancelled {
                return Err(Refusal::new(
                    RefusalReason::EventCancelled,
                    format!("event {code} is cancelled"),
                )
                .into());
            }
            if event.code() != code {
                return Err(PipelineError::Misuse("the event must keep its code".into()));
            }
            let mut next = stored.clone();
            next.latest = event.clone();
            self.publish(settings, stored, next, now).await
        })
        .await
    }

    /// Cancels an event (or some instances) as its organizer.
    #[tracing::instrument(name = "cancel_event", skip_all, fields(owner = scope.owner.0, organizer = scope.organizer.0, code = %code))]
    pub async fn cancel_event(
        &self,
        scope: Scope,
        code: &EventCode,
        instances: Option<Vec<crate::time::OccurrenceId>>,
    ) -> Result<Outcome, PipelineError> {
        let now = self.now();
        let result = async {
            let settings = self.settings(scope).await?;
            let (settings, instances) = (&settings, &instances);
            self.retrying("cancellation", || async move {
                let stored = self.scoped_event(scope, code).await?;
                let next = stored.clone();
                self.cancel(settings, stored, next, instances.clone(), now)
                    .await
            })
            .await
        }
        .await;
        self.finished("cancel_event", result)
    }

    /// Approves a pending change: it goes out now to those it lists (and to
    /// later joiners its rule includes).
    #[tracing::instrument(name = "approve", skip_all, fields(owner = scope.owner.0, organizer = scope.organizer.0))]
    pub async fn approve(
        &self,
        scope: Scope,
        id: &PendingChangeId,
    ) -> Result<Outcome, PipelineError> {
        let result = self.resolve(scope, id, true).await;
        self.finished("approve", result)
    }

    /// Rejects a pending change: nothing is sent.
    #[tracing::instrument(name = "reject", skip_all, fields(owner = scope.owner.0, organizer = scope.organizer.0))]
    pub async fn reject(
        &self,
        scope: Scope,
        id: &PendingChangeId,
    ) -> Result<Outcome, PipelineError> {
        let result = self.resolve(scope, id, false).await;
        self.finished("reject", result)
    }

    async fn resolve(
        &self,
        scope: Scope,
        id: &PendingChangeId,
        approve: bool,
    ) -> Result<Outcome, PipelineError> {
        let now = self.now();
        let settings = self.settings(scope).await?;
        let settings = &settings;
        self.retrying("approval", || async move {
            let pending = self
                .store
                .pending(scope, id)
                .await?
                .ok_or_else(|| PipelineError::NotFound(format!("pending change {id}")))?;
            if pending.state != PendingState::Open {
                return Ok(Outcome::Resolved(id.clone(), pending.state));
            }
            let event = self.scoped_event(scope, &pending.code).await?;
            let (mut changes, state) =
                self.naming(|name| resolution(&pending, &event, approve, settings, name))??;
            if self.options.announce {
                let announced = announced(&event, &changes, now);
                changes.extend(announced.into_iter().map(Change::Announce));
            }
            self.store.commit(changes).await?;
            Ok(Outcome::Resolved(id.clone(), state))
        })
        .await
    }
}

/// What a change by the organizer does, decided over what was read.
#[derive(Debug, PartialEq)]
enum Decided {
    /// These writes, with this outcome.
    Done(Vec<Change>, Outcome),
    /// Held for approval: written by [`held`] once its audience is planned.
    Held(Box<Hold>),
}

/// A change to hold for approval, before its audience is planned.
#[derive(Debug, PartialEq)]
struct Hold {
    /// The writes so far (open pending changes superseded).
    changes: Vec<Change>,
    /// What the pending change does.
    kind: PendingKind,
    /// The message its plan lists.
    message: MessageKind,
    /// Who its plan lists.
    audience: FanOutAudience,
    /// The event as it now stands (not sent yet).
    next: StoredEvent,
}

/// What the writes of a change to `event` (decided by [`publication`],
/// [`cancellation`], [`held`] or [`resolution`]) announce: pending changes
/// held, resolved or superseded; the update or cancellation going out (one
/// per revision sent); or, for an event that is over, the change kept
/// without mailing anyone.
fn announced(event: &StoredEvent, changes: &[Change], now: DateTime<Utc>) -> Vec<Announcement> {
    let code = &event.code;
    let of = |kind| Announcement::new(event.scope, now, kind);
    let mut out = Vec::new();
    let mut mailed = false;
    let mut over = false;
    let mut next = None;
    for c in changes {
        match c {
            Change::ResolvePending { id, state } => {
                out.push(of(AnnouncementKind::PendingResolved {
                    id: id.clone(),
                    code: code.clone(),
                    state: *state,
                }));
            }
            Change::InsertPending(p) => out.push(of(AnnouncementKind::PendingCreated {
                id: p.id.clone(),
                code: code.clone(),
                change: p.kind.clone(),
                recipients: p.recipients.len() as u64,
            })),
            Change::PutFanOut(f) => {
                mailed = true;
                out.push(of(match f.kind {
                    MessageKind::Update | MessageKind::Invitation => {
                        AnnouncementKind::EventUpdated {
                            code: code.clone(),
                            sequence: f.sequence,
                            mailed: true,
                        }
                    }
                    MessageKind::InstanceCancellation(id) => AnnouncementKind::EventCancelled {
                        code: code.clone(),
                        sequence: f.sequence,
                        instances: vec![id],
                        mailed: true,
                    },
                    _ => AnnouncementKind::EventCancelled {
                        code: code.clone(),
                        sequence: f.sequence,
                        instances: Vec::new(),
                        mailed: true,
                    },
                }));
            }
            Change::Refuse(r) if r.refusal.reason == RefusalReason::EventEnded => over = true,
            Change::UpdateEvent { event: n, .. } => next = Some(n),
            _ => {}
        }
    }
    // An event that is over: the change is kept, nobody is mailed.
    if over
        && !mailed
        && let Some(n) = next
    {
        if n.cancelled && !event.cancelled {
            out.push(of(AnnouncementKind::EventCancelled {
                code: code.clone(),
                sequence: event.sent_sequence,
                instances: Vec::new(),
                mailed: false,
            }));
        } else if n.latest != event.latest {
            out.push(of(AnnouncementKind::EventUpdated {
                code: code.clone(),
                sequence: event.sent_sequence,
                mailed: false,
            }));
        }
    }
    out
}

/// The open pending changes, superseded.
fn supersede(open: &[PendingChange]) -> Vec<Change> {
    open.iter()
        .map(|p| Change::ResolvePending {
            id: p.id.clone(),
            state: PendingState::Superseded,
        })
        .collect()
}

/// Refuses cancelling an event that already is.
fn already_cancelled(event: &StoredEvent) -> Refusal {
    Refusal::new(
        RefusalReason::EventCancelled,
        format!("event {} is already cancelled", event.code),
    )
}

/// Decides sending `next` (the organizer's new version of `event`) given
/// `sent`, the revision recipients hold, and `open`, the event's open
/// pending changes (superseded in every case). Unchanged from what
/// recipients hold: nothing is sent. Over, before and after the change: the
/// version is kept, nobody is mailed
/// ([interop rule 22](crate::manual::interop#rule-22)). Under the approval
/// switch: held ([D6](crate::manual::design#d6)). Else the next revision goes
/// out to the update audience ([D4](crate::manual::design#d4)); `name`
/// names its fan-out.
fn publication(
    event: &StoredEvent,
    mut next: StoredEvent,
    sent: &Event,
    open: &[PendingChange],
    settings: &Settings,
    now: DateTime<Utc>,
    name: &mut dyn FnMut() -> String,
) -> Decided {
    let code = event.code.clone();
    let mut changes = supersede(open);
    if !targeting::changes(sent, &next.latest).any() {
        // Back to what recipients hold: a pending change is moot.
        changes.push(Change::UpdateEvent {
            expected: event.version,
            event: next,
        });
        return Decided::Done(changes, Outcome::Unchanged(code));
    }
    if engine::has_ended(sent, now) && engine::has_ended(&next.latest, now) {
        // manual: interop rule 22: past events are not mailed. The
        // organizer's version is kept (reports show it); recipients are left alone.
        let r = Refusal::new(
            RefusalReason::EventEnded,
            format!("event {code} is over: the change is kept, nobody is mailed"),
        );
        changes.push(refusal_record(
            event.scope.owner,
            Some(event.scope),
            Some(&code),
            &r,
            now,
        ));
        changes.push(Change::UpdateEvent {
            expected: event.version,
            event: next,
        });
        return Decided::Done(changes, Outcome::Refused(r));
    }
    if settings.approval {
        return Decided::Held(Box::new(Hold {
            changes,
            kind: PendingKind::Update,
            message: MessageKind::Update,
            audience: FanOutAudience::Update(settings.audience),
            next,
        }));
    }
    let sequence = event.sent_sequence.next();
    next.sent_sequence = sequence;
    changes.push(Change::InsertRevision {
        code: code.clone(),
        sequence,
        event: next.latest.clone(),
    });
    changes.push(Change::UpdateEvent {
        expected: event.version,
        event: next,
    });
    changes.push(Change::PutFanOut(FanOut {
        id: name(),
        scope: event.scope,
        code: code.clone(),
        kind: MessageKind::Update,
        sequence,
        audience: FanOutAudience::Update(settings.audience),
        cursor: None,
    }));
    Decided::Done(changes, Outcome::RevisionSent(code, sequence))
}

/// Decides cancelling `event` (`instances`: `None`) or some of its
/// instances, as `next`, given `open`, its open pending changes
/// (superseded in every case). Refused when already cancelled. Over: a
/// whole cancellation is recorded, nobody is mailed
/// ([interop rule 22](crate::manual::interop#rule-22)). Instances already
/// cancelled are left out; none left: unchanged. Under the approval switch:
/// held ([D6](crate::manual::design#d6)). Else it goes out now
/// ([`cancel_now`]) to everyone sent a REQUEST
/// ([D5](crate::manual::design#d5)); `name` names its fan-outs.
fn cancellation(
    event: &StoredEvent,
    mut next: StoredEvent,
    instances: Option<Vec<crate::time::OccurrenceId>>,
    open: &[PendingChange],
    settings: &Settings,
    now: DateTime<Utc>,
    name: &mut dyn FnMut() -> String,
) -> Result<Decided, Refusal> {
    let code = event.code.clone();
    if event.cancelled {
        return Err(already_cancelled(event));
    }
    let mut changes = supersede(open);
    if engine::has_ended(&event.latest, now) {
        // manual: interop rule 22: nobody is mailed about a past event; a
        // whole cancellation is still recorded (new invitations stay refused).
        if instances.is_none() {
            next.cancelled = true;
        }
        let r = Refusal::new(
            RefusalReason::EventEnded,
            format!("event {code} is over: the cancellation is recorded, nobody is mailed"),
        );
        changes.push(refusal_record(
            event.scope.owner,
            Some(event.scope),
            Some(&code),
            &r,
            now,
        ));
        changes.push(Change::UpdateEvent {
            expected: event.version,
            event: next,
        });
        return Ok(Decided::Done(changes, Outcome::Refused(r)));
    }
    let instances = match instances {
        Some(list) => {
            let current: Vec<_> = next
                .latest
                .recurrence()
                .map(|r| r.exceptions().to_vec())
                .unwrap_or_default();
            let fresh: Vec<_> = list.into_iter().filter(|i| !current.contains(i)).collect();
            if fresh.is_empty() {
                changes.push(Change::UpdateEvent {
                    expected: event.version,
                    event: next,
                });
                return Ok(Decided::Done(changes, Outcome::Unchanged(code)));
            }
            Some(fresh)
        }
        None => None,
    };
    if settings.approval {
        let (kind, message) = match &instances {
            None => (PendingKind::Cancel, MessageKind::Cancellation),
            Some(list) => (
                PendingKind::CancelInstances(list.clone()),
                MessageKind::InstanceCancellation(list[0]),
            ),
        };
        return Ok(Decided::Held(Box::new(Hold {
            changes,
            kind,
            message,
            audience: FanOutAudience::Cancellation,
            next,
        })));
    }
    cancel_now(
        event,
        &mut next,
        instances,
        FanOutAudience::Cancellation,
        &mut changes,
        name,
    )?;
    let outcome = if next.cancelled {
        Outcome::Cancelled(code)
    } else {
        Outcome::RevisionSent(code, next.sent_sequence)
    };
    changes.push(Change::UpdateEvent {
        expected: event.version,
        event: next,
    });
    Ok(Decided::Done(changes, outcome))
}

/// The writes of a held change: the pending change `id`, planned against
/// what recipients hold now and listing `listed`, and the event as it now
/// stands.
fn held(
    event: &StoredEvent,
    hold: Hold,
    listed: Vec<PlannedMessage>,
    id: PendingChangeId,
    now: DateTime<Utc>,
) -> (Vec<Change>, Outcome) {
    let mut changes = hold.changes;
    changes.push(Change::InsertPending(PendingChange {
        id: id.clone(),
        scope: event.scope,
        code: event.code.clone(),
        kind: hold.kind,
        base_sequence: event.sent_sequence,
        recipients: listed,
        created_at: now,
        state: PendingState::Open,
    }));
    changes.push(Change::UpdateEvent {
        expected: event.version,
        event: hold.next,
    });
    (changes, Outcome::PendingApproval(event.code.clone(), id))
}

/// Decides approving (`approve`) or rejecting an open pending change of
/// `event`: what is written, and the state it ends in. A change approved
/// after the event moved on (another revision went out since it was held)
/// is superseded, not sent. `name` draws the fan-out's name.
fn resolution(
    pending: &PendingChange,
    event: &StoredEvent,
    approve: bool,
    settings: &Settings,
    name: &mut dyn FnMut() -> String,
) -> Result<(Vec<Change>, PendingState), Refusal> {
    let id = pending.id.clone();
    if !approve || event.sent_sequence != pending.base_sequence {
        let state = if approve {
            PendingState::Superseded
        } else {
            PendingState::Rejected
        };
        return Ok((vec![Change::ResolvePending { id, state }], state));
    }
    let listed: Vec<InvitationToken> = pending.recipients.iter().map(|p| p.token.clone()).collect();
    let mut changes = vec![Change::ResolvePending {
        id,
        state: PendingState::Approved,
    }];
    let mut next = event.clone();
    match &pending.kind {
        PendingKind::Update => {
            let sequence = event.sent_sequence.next();
            next.sent_sequence = sequence;
            changes.push(Change::InsertRevision {
                code: event.code.clone(),
                sequence,
                event: next.latest.clone(),
            });
            changes.push(Change::PutFanOut(FanOut {
                id: name(),
                scope: event.scope,
                code: event.code.clone(),
                kind: MessageKind::Update,
                sequence,
                audience: FanOutAudience::Approved {
                    listed,
                    planned_at: pending.created_at,
                    then: Box::new(FanOutAudience::Update(settings.audience)),
                },
                cursor: None,
            }));
        }
        PendingKind::Cancel | PendingKind::CancelInstances(_) => {
            let instances = match &pending.kind {
                PendingKind::CancelInstances(list) => Some(list.clone()),
                _ => None,
            };
            let audience = FanOutAudience::Approved {
                listed,
                planned_at: pending.created_at,
                then: Box::new(FanOutAudience::Cancellation),
            };
            cancel_now(event, &mut next, instances, audience, &mut changes, name)?;
        }
    }
    changes.push(Change::UpdateEvent {
        expected: event.version,
        event: next,
    });
    Ok((changes, PendingState::Approved))
}

/// The revisions and fan-outs of a cancellation going out now: one
/// SEQUENCE per cancelled instance (each message its own key), or one
/// for the whole event.
fn cancel_now(
    event: &StoredEvent,
    next: &mut StoredEvent,
    instances: Option<Vec<crate::time::OccurrenceId>>,
    audience: FanOutAudience,
    changes: &mut Vec<Change>,
    name: &mut dyn FnMut() -> String,
) -> Result<(), Refusal> {
    let code = event.code.clone();
    let mut sequence = event.sent_sequence;
    match instances {
        None => {
            sequence = sequence.next();
            let revision = engine::cancelled(&next.latest)?;
            next.latest = revision.clone();
            next.cancelled = true;
            changes.push(Change::InsertRevision {
                code: code.clone(),
                sequence,
                event: revision,
            });
            changes.push(Change::PutFanOut(FanOut {
                id: name(),
                scope: event.scope,
                code: code.clone(),
                kind: MessageKind::Cancellation,
                sequence,
                audience,
                cursor: None,
            }));
        }
        Some(list) => {
            for id in list {
                sequence = sequence.next();
                let revision = engine::cancel_instances(&next.latest, &[id])?;
                next.latest = revision.clone();
                changes.push(Change::InsertRevision {
                    code: code.clone(),
                    sequence,
                    event: revision,
                });
                changes.push(Change::PutFanOut(FanOut {
                    id: name(),
                    scope: event.scope,
                    code: code.clone(),
                    kind: MessageKind::InstanceCancellation(id),
                    sequence,
                    audience: audience.clone(),
                    cursor: None,
                }));
            }
        }
    }
    next.sent_sequence = sequence;
    Ok(())
}

#[cfg(test)]
mod tests;
