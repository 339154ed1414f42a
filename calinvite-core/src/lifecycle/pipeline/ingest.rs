//! Room: organizer ingest. What arrives from an organizer's own calendar at
//! the owner's ingest mailbox: a REQUEST (a new event, or a new version of
//! one) and a CANCEL (the event or some instances). Each is authorised
//! against the owner's organizer accounts and their authentication policy;
//! a refused organizer message is recorded and, for a registered organizer,
//! answered with a notice saying why. Accepted versions go on to the changes
//! room ([`Pipeline::publish`], [`Pipeline::cancel`]).
//!
//! Depends on the shared pipeline helpers, the engine's rules and the store;
//! the decisions ([`revision_of`], [`cancellation_of`]) are pure functions
//! tested below without a store; the notices' words come from the pipeline's
//! [`NoticeTemplate`](crate::lifecycle::NoticeTemplate).

use super::*;
use crate::address::Mailbox;
use crate::time::OccurrenceId;

impl<S: Store, T: Transport> Pipeline<S, T> {
    /// Finds the organizer account for an organizer message and checks its authentication (see [`crate::manual`]).
    async fn authorise(
        &self,
        owner: &DomainOwner,
        message: &InboundMessage,
        calendar_organizer: Option<&crate::address::Mailbox>,
    ) -> Result<
        Result<(OrganizerAccount, Settings, EmailAddress), (Refusal, Option<Scope>)>,
        PipelineError,
    > {
        let Some(from) = message.from.clone() else {
            return Ok(Err((
                Refusal::new(
                    RefusalReason::NotAnOrganizer,
                    "the message has no From address",
                ),
                None,
            )));
        };
        let organizers = self.store.organizers(owner.id).await?;
        let Some(account) = organizers.into_iter().find(|o| o.allows(&from)) else {
            return Ok(Err((
                Refusal::new(
                    RefusalReason::NotAnOrganizer,
                    format!("{from} is not a registered organizer"),
                ),
                None,
            )));
        };
        let settings = account.settings.unwrap_or(owner.settings);
        if !engine::authenticated(settings.auth, &message.auth, &message.envelope, &from) {
            return Ok(Err((
                Refusal::new(
                    RefusalReason::AuthenticationFailed,
                    format!(
                        "the message from {from} did not pass the {:?} policy",
                        settings.auth
                    ),
                ),
                Some(account.scope),
            )));
        }
        if let Some(org) = calendar_organizer
            && !account.allows(org.address())
        {
            return Ok(Err((
                Refusal::new(
                    RefusalReason::OrganizerMismatch,
                    format!(
                        "the calendar's ORGANIZER {} is not allowed for {from}",
                        org.address()
                    ),
                ),
                Some(account.scope),
            )));
        }
        Ok(Ok((account, settings, from)))
    }

    async fn refusal_notice_to(
        &self,
        owner: &DomainOwner,
        scope: Option<Scope>,
        from: Option<&EmailAddress>,
        refusal: &Refusal,
        summary: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Change>, PipelineError> {
        let mut also = Vec::new();
        // Only a registered organizer hears back: never mail a stranger.
        if let Some(scope) = scope
            && let Some(acc) = self.store.organizer(scope).await?
        {
            let to = refused_notice_address(refusal.reason, from, acc.notify);
            let text = self
                .options
                .notices
                .refused(&RefusedNotice { refusal, summary });
            also.push(self.notice(owner, &to, &text, None, now)?);
        }
        Ok(also)
    }

    pub(super) async fn organizer_request(
        &self,
        owner: &DomainOwner,
        message: &InboundMessage,
        req: OrganizerRequest,
        now: DateTime<Utc>,
    ) -> Result<Outcome, PipelineError> {
        let summary = req.event.summary.as_ref().map(|s| s.as_str());
        let (account, settings, from) = match self
            .authorise(owner, message, req.identity.organizer.as_ref())
            .await?
        {
            Ok(ok) => ok,
            Err((refusal, scope)) => {
                let also = self
                    .refusal_notice_to(owner, scope, message.from.as_ref(), &refusal, summary, now)
                    .await?;
                return self.refuse(owner.id, scope, None, refusal, also, now).await;
            }
        };
        let scope = account.scope;
        let organizer = req
            .identity
            .organizer
            .clone()
            .unwrap_or_else(|| Mailbox::new(from.clone()));
        let (req_ref, organizer_ref, settings_ref) = (&req, &organizer, &settings);
        let result = self
            .retrying("organizer request", || async move {
                let existing = self
                    .store
                    .event_by_uid(scope, &req_ref.identity.uid)
                    .await?;
                match existing {
                    None => {
                        self.new_event(owner, scope, organizer_ref, req_ref, now)
                            .await
                    }
                    Some(event) => self.revise(owner, settings_ref, event, req_ref, now).await,
                }
            })
            .await;
        match result {
            Err(PipelineError::Refused(refusal)) => {
                let text = self.options.notices.refused(&RefusedNotice {
                    refusal: &refusal,
                    summary,
                });
                let also = vec![self.notice(owner, organizer.address(), &text, None, now)?];
                self.refuse(owner.id, Some(scope), None, refusal, also, now)
                    .await
            }
            other => other,
        }
    }

    async fn new_event(
        &self,
        owner: &DomainOwner,
        scope: Scope,
        organizer: &Mailbox,
        req: &OrganizerRequest,
        now: DateTime<Utc>,
    ) -> Result<Outcome, PipelineError> {
        if req.scope == RequestScope::Instances {
            return Err(Refusal::new(
                RefusalReason::UnknownEvent,
                "an update of single instances of an event calinvite never received",
            )
            .into());
        }
        let code = self.code()?;
        let event = engine::adopt_event(&code, organizer, &req.event)?;
        let stored = StoredEvent {
            scope,
            code: code.clone(),
            organizer_uid: Some(req.identity.uid.clone()),
            organizer_sequence: req.identity.sequence,
            organizer_stamp: req.identity.dtstamp,
            latest: event.clone(),
            raw_calendar: Some(req.raw_calendar.clone()),
            sent_sequence: Sequence::INITIAL,
            cancelled: false,
            created_at: now,
            version: 0,
        };
        let text = self.options.notices.created(&CreatedNotice {
            event: &event,
            ingest: &owner.ingest,
            landing_page: owner
                .links_base
                .as_ref()
                .map(|base| base.join(&format!("e/{code}"))),
        });
        let notice = self.notice(owner, organizer.address(), &text, None, now)?;
        self.store
            .commit(vec![
                Change::InsertEvent(stored),
                Change::InsertRevision {
                    code: code.clone(),
                    sequence: Sequence::INITIAL,
                    event,
                },
                notice,
            ])
            .await?;
        Ok(Outcome::EventCreated(code))
    }

    /// A new version from the organizer of an existing event.
    async fn revise(
        &self,
        owner: &DomainOwner,
        settings: &Settings,
        event: StoredEvent,
        req: &OrganizerRequest,
        now: DateTime<Utc>,
    ) -> Result<Outcome, PipelineError> {
        match revision_of(&event, req)? {
            Revision::Stale(r) => {
                // Stale messages are recorded, not answered: the organizer's own
                // client sends them (re-deliveries), nothing is wrong.
                self.store
                    .commit(vec![refusal_record(
                        owner.id,
                        Some(event.scope),
                        Some(&event.code),
                        &r,
                        now,
                    )])
                    .await?;
                Ok(Outcome::Refused(r))
            }
            Revision::Next(next) => self.publish(settings, event, *next, now).await,
        }
    }

    pub(super) async fn organizer_cancel(
        &self,
        owner: &DomainOwner,
        message: &InboundMessage,
        cancel: OrganizerCancel,
        now: DateTime<Utc>,
    ) -> Result<Outcome, PipelineError> {
        let summary = cancel.event.summary.as_ref().map(|s| s.as_str());
        let (account, settings, _) = match self
            .authorise(owner, message, cancel.identity.organizer.as_ref())
            .await?
        {
            Ok(ok) => ok,
            Err((refusal, scope)) => {
                // As for requests: a registered organizer hears why, at the
                // account's own address (the From may be forged).
                let also = self
                    .refusal_notice_to(owner, scope, None, &refusal, summary, now)
                    .await?;
                return self.refuse(owner.id, scope, None, refusal, also, now).await;
            }
        };
        let scope = account.scope;
        let (cancel, settings) = (&cancel, &settings);
        let result = self
            .retrying("cancellation", || async move {
                let Some(event) = self.store.event_by_uid(scope, &cancel.identity.uid).await?
                else {
                    let r = Refusal::new(
                        RefusalReason::UnknownEvent,
                        "a cancellation of an event calinvite never received",
                    );
                    return self
                        .refuse(owner.id, Some(scope), None, r, Vec::new(), now)
                        .await;
                };
                match cancellation_of(&event, cancel) {
                    Err(r) => {
                        self.refuse(owner.id, Some(scope), Some(&event.code), r, Vec::new(), now)
                            .await
                    }
                    Ok((stamped, instances)) => {
                        self.cancel(settings, event, stamped, instances, now).await
                    }
                }
            })
            .await;
        match result {
            Err(PipelineError::Refused(r)) => {
                self.refuse(owner.id, Some(scope), None, r, Vec::new(), now)
                    .await
            }
            other => other,
        }
    }
}

/// What an organizer's REQUEST for a known event does.
#[derive(Debug)]
enum Revision {
    /// Not newer than what was received: recorded, nothing else.
    Stale(Refusal),
    /// The event as it now stands (sent on if it differs).
    Next(Box<StoredEvent>),
}

/// Decides an organizer's REQUEST for an event calinvite has: stale, refused
/// (cancelled, unusable), or the event's next state.
fn revision_of(event: &StoredEvent, req: &OrganizerRequest) -> Result<Revision, Refusal> {
    if !engine::is_newer(
        req.identity.sequence,
        req.identity.dtstamp,
        event.organizer_sequence,
        event.organizer_stamp,
    ) {
        return Ok(Revision::Stale(Refusal::new(
            RefusalReason::StaleOrganizerMessage,
            format!(
                "SEQUENCE {} is not newer than the {} already received",
                req.identity.sequence, event.organizer_sequence
            ),
        )));
    }
    if event.cancelled {
        return Err(Refusal::new(
            RefusalReason::EventCancelled,
            format!(
                "event {} was cancelled; create a new event instead",
                event.code
            ),
        ));
    }
    let latest = match req.scope {
        RequestScope::Full => {
            engine::adopt_event(&event.code, event.latest.organizer(), &req.event)?
        }
        RequestScope::Instances => engine::apply_instances(&event.latest, &req.event)?,
    };
    let mut next = event.clone();
    next.organizer_sequence = req.identity.sequence;
    next.organizer_stamp = req.identity.dtstamp;
    next.raw_calendar = Some(req.raw_calendar.clone());
    next.latest = latest;
    Ok(Revision::Next(Box::new(next)))
}

/// Decides an organizer's CANCEL for an event calinvite has: refused when
/// stale, else the event stamped with the message's SEQUENCE and the
/// instances cancelled (`None`: the whole event).
fn cancellation_of(
    event: &StoredEvent,
    cancel: &OrganizerCancel,
) -> Result<(StoredEvent, Option<Vec<OccurrenceId>>), Refusal> {
    if !engine::is_newer(
        cancel.identity.sequence,
        cancel.identity.dtstamp,
        event.organizer_sequence,
        event.organizer_stamp,
    ) {
        return Err(Refusal::new(
            RefusalReason::StaleOrganizerMessage,
            format!(
                "cancellation SEQUENCE {} is not newer than the {} already received",
                cancel.identity.sequence, event.organizer_sequence
            ),
        ));
    }
    let mut stamped = event.clone();
    stamped.organizer_sequence = cancel.identity.sequence;
    stamped.organizer_stamp = cancel.identity.dtstamp;
    let instances = (!cancel.instances.is_empty()).then(|| {
        cancel
            .instances
            .iter()
            .filter_map(crate::inbound::InboundTime::occurrence_id)
            .collect()
    });
    Ok((stamped, instances))
}

/// Where a refused organizer hears why: a From that failed authentication
/// is unproven (it may be forged), so the account's own address; else the
/// sender, when known.
fn refused_notice_address(
    reason: RefusalReason,
    from: Option<&EmailAddress>,
    account: EmailAddress,
) -> EmailAddress {
    match reason {
        RefusalReason::AuthenticationFailed => account,
        _ => from.cloned().unwrap_or(account),
    }
}
