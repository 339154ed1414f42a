//! Room: changes. What the organizer changes after the event went out: a
//! new version (from their calendar, through the ingest room, or through
//! [`Pipeline::update_event`]) and a cancellation of the event or some
//! instances. A change is sent at once, or held as a pending change when the
//! approval switch is on, until someone approves it (sent to those it
//! listed, and to later joiners its rule includes) or rejects it.
//!
//! Depends on the shared pipeline helpers, the engine's rules, targeting and
//! the store; the sending room plans the audience of a held change.

use super::*;

impl<S: Store, T: Transport> Pipeline<S, T> {
    /// Sends `next.latest` out if it differs from what recipients hold: at
    /// once, or as a pending change under the approval switch.
    pub(super) async fn publish(
        &self,
        settings: &Settings,
        event: StoredEvent,
        mut next: StoredEvent,
        now: DateTime<Utc>,
    ) -> Result<Outcome, PipelineError> {
        let code = event.code.clone();
        let sent = self
            .store
            .revision(&code, event.sent_sequence)
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                row: format!("revision {}/{}", code, event.sent_sequence),
                detail: "the revision recipients hold is missing".into(),
            })?;
        let mut changes = Vec::new();
        let open = self.store.open_pending(&code).await?;
        if !targeting::changes(&sent, &next.latest).any() {
            // Back to what recipients hold: a pending change is moot.
            for p in open {
                changes.push(Change::ResolvePending {
                    id: p.id,
                    state: PendingState::Superseded,
                });
            }
            changes.push(Change::UpdateEvent {
                expected: event.version,
                event: next,
            });
            self.store.commit(changes).await?;
            return Ok(Outcome::Unchanged(code));
        }
        for p in open {
            changes.push(Change::ResolvePending {
                id: p.id,
                state: PendingState::Superseded,
            });
        }
        if engine::has_ended(&sent, now) && engine::has_ended(&next.latest, now) {
            // INTEROP rule 22: past events are not mailed. The organizer's
            // version is kept (reports show it); recipients are left alone.
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
            self.store.commit(changes).await?;
            return Ok(Outcome::Refused(r));
        }
        if settings.approval {
            let id = self.unique_name()?;
            let listed = self
                .plan(
                    &event,
                    &FanOutAudience::Update(settings.audience),
                    MessageKind::Update,
                )
                .await?;
            changes.push(Change::InsertPending(PendingChange {
                id: id.clone(),
                scope: event.scope,
                code: code.clone(),
                kind: PendingKind::Update,
                base_sequence: event.sent_sequence,
                recipients: listed,
                created_at: now,
                state: PendingState::Open,
            }));
            changes.push(Change::UpdateEvent {
                expected: event.version,
                event: next,
            });
            self.store.commit(changes).await?;
            return Ok(Outcome::PendingApproval(code, id));
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
            id: self.unique_name()?,
            scope: event.scope,
            code: code.clone(),
            kind: MessageKind::Update,
            sequence,
            audience: FanOutAudience::Update(settings.audience),
            cursor: None,
        }));
        self.store.commit(changes).await?;
        Ok(Outcome::RevisionSent(code, sequence))
    }

    /// Who a fan-out would reach now, listed (for a pending change).
    pub(super) async fn cancel(
        &self,
        settings: &Settings,
        event: StoredEvent,
        mut next: StoredEvent,
        instances: Option<Vec<crate::time::OccurrenceId>>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, PipelineError> {
        let code = event.code.clone();
        if event.cancelled {
            return Err(Refusal::new(
                RefusalReason::EventCancelled,
                format!("event {code} is already cancelled"),
            )
            .into());
        }
        let mut changes = Vec::new();
        for p in self.store.open_pending(&code).await? {
            changes.push(Change::ResolvePending {
                id: p.id,
                state: PendingState::Superseded,
            });
        }
        if engine::has_ended(&event.latest, now) {
            // INTEROP rule 22: nobody is mailed about a past event; a whole
            // cancellation is still recorded (new invitations stay refused).
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
            self.store.commit(changes).await?;
            return Ok(Outcome::Refused(r));
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
                    self.store.commit(changes).await?;
                    return Ok(Outcome::Unchanged(code));
                }
                Some(fresh)
            }
            None => None,
        };
        if settings.approval {
            let id = self.unique_name()?;
            let (kind, message) = match &instances {
                None => (PendingKind::Cancel, MessageKind::Cancellation),
                Some(list) => (
                    PendingKind::CancelInstances(list.clone()),
                    MessageKind::InstanceCancellation(list[0]),
                ),
            };
            let listed = self
                .plan(&event, &FanOutAudience::Cancellation, message)
                .await?;
            changes.push(Change::InsertPending(PendingChange {
                id: id.clone(),
                scope: event.scope,
                code: code.clone(),
                kind,
                base_sequence: event.sent_sequence,
                recipients: listed,
                created_at: now,
                state: PendingState::Open,
            }));
            changes.push(Change::UpdateEvent {
                expected: event.version,
                event: next,
            });
            self.store.commit(changes).await?;
            return Ok(Outcome::PendingApproval(code, id));
        }
        self.naming(|name| {
            cancel_now(
                &event,
                &mut next,
                instances,
                FanOutAudience::Cancellation,
                &mut changes,
                name,
            )
        })??;
        changes.push(Change::UpdateEvent {
            expected: event.version,
            event: next.clone(),
        });
        self.store.commit(changes).await?;
        Ok(if next.cancelled {
            Outcome::Cancelled(code)
        } else {
            Outcome::RevisionSent(code, next.sent_sequence)
        })
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
                return Err(PipelineError::NotFound(
                    "the event must keep its code".into(),
                ));
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
    pub async fn approve(&self, scope: Scope, id: &str) -> Result<Outcome, PipelineError> {
        let result = self.resolve(scope, id, true).await;
        self.finished("approve", result)
    }

    /// Rejects a pending change: nothing is sent.
    #[tracing::instrument(name = "reject", skip_all, fields(owner = scope.owner.0, organizer = scope.organizer.0))]
    pub async fn reject(&self, scope: Scope, id: &str) -> Result<Outcome, PipelineError> {
        let result = self.resolve(scope, id, false).await;
        self.finished("reject", result)
    }

    async fn resolve(
        &self,
        scope: Scope,
        id: &str,
        approve: bool,
    ) -> Result<Outcome, PipelineError> {
        let settings = self.settings(scope).await?;
        let settings = &settings;
        self.retrying("approval", || async move {
            let pending = self
                .store
                .pending(scope, id)
                .await?
                .ok_or_else(|| PipelineError::NotFound(format!("pending change {id}")))?;
            if pending.state != PendingState::Open {
                return Ok(Outcome::Resolved(id.to_owned(), pending.state));
            }
            let event = self.scoped_event(scope, &pending.code).await?;
            let (changes, state) =
                self.naming(|name| resolution(&pending, &event, approve, settings, name))??;
            self.store.commit(changes).await?;
            Ok(Outcome::Resolved(id.to_owned(), state))
        })
        .await
    }
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
