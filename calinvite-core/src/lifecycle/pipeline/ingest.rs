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
                    format!("{} is not a registered organizer", from.to_unicode()),
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
                        "the message from {} did not pass the {:?} policy",
                        from.to_unicode(),
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
                        "the calendar's ORGANIZER {} is not allowed for {}",
                        org.address().to_unicode(),
                        from.to_unicode()
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

    /// Refuses an organizer message that says something calinvite cannot
    /// represent about when or whether the event happens
    /// ([`InboundEvent::unusable`](crate::inbound::InboundEvent::unusable)),
    /// before the event is looked up: taking the rest would change its
    /// meaning. The refusal is decided first; the allow-list and
    /// authentication only decide who hears why: the organizer when the
    /// message passes them, the account's own address when it names a
    /// registered organizer but fails them, and nobody (no backscatter)
    /// when the sender is a stranger.
    async fn refuse_unusable(
        &self,
        owner: &DomainOwner,
        message: &InboundMessage,
        identity: &crate::inbound::CalendarIdentity,
        event: &crate::inbound::InboundEvent,
        now: DateTime<Utc>,
    ) -> Result<Option<Outcome>, PipelineError> {
        if event.unusable.is_empty() {
            return Ok(None);
        }
        let refusal = Refusal::new(RefusalReason::UnusableEvent, event.unusable.join("; "));
        let summary = event.summary.as_ref().map(|s| s.as_str());
        let (scope, also) = match self
            .authorise(owner, message, identity.organizer.as_ref())
            .await?
        {
            Ok((account, _, from)) => {
                let to = identity
                    .organizer
                    .as_ref()
                    .map_or(from, |o| o.address().clone());
                let text = self.options.notices.refused(&RefusedNotice {
                    refusal: &refusal,
                    summary,
                });
                let notice = self.notice(owner, &to, &text, None, now)?;
                (Some(account.scope), vec![notice])
            }
            Err((_, scope)) => {
                let also = self
                    .refusal_notice_to(owner, scope, None, &refusal, summary, now)
                    .await?;
                (scope, also)
            }
        };
        self.refuse(owner.id, scope, None, refusal, also, now)
            .await
            .map(Some)
    }

    pub(super) async fn organizer_request(
        &self,
        owner: &DomainOwner,
        message: &InboundMessage,
        req: OrganizerRequest,
        now: DateTime<Utc>,
    ) -> Result<Outcome, PipelineError> {
        if let Some(out) = self
            .refuse_unusable(owner, message, &req.identity, &req.event, now)
            .await?
        {
            return Ok(out);
        }
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
        // Copied only for an announcement (the event moves into the changes).
        let summary = self
            .options
            .announce
            .then(|| event.summary().as_str().to_owned());
        let mut changes = vec![
            Change::InsertEvent(stored),
            Change::InsertRevision {
                code: code.clone(),
                sequence: Sequence::INITIAL,
                event,
            },
            notice,
        ];
        self.announce(&mut changes, || {
            Some(Announcement::new(
                scope,
                now,
                AnnouncementKind::EventCreated {
                    code: code.clone(),
                    summary: summary.unwrap_or_default(),
                    from_calendar: true,
                },
            ))
        });
        self.store.commit(changes).await?;
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
        if let Some(out) = self
            .refuse_unusable(owner, message, &cancel.identity, &cancel.event, now)
            .await?
        {
            return Ok(out);
        }
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::inbound::{CalendarIdentity, InboundEvent, InboundTime};
    use chrono::TimeZone as _;

    fn identity(sequence: u64, stamp: Option<DateTime<Utc>>) -> CalendarIdentity {
        CalendarIdentity {
            uid: "uid-1@example.com".into(),
            sequence: Sequence::new(sequence),
            dtstamp: stamp,
            organizer: None,
        }
    }

    fn request(sequence: u64, summary: &str) -> OrganizerRequest {
        OrganizerRequest {
            identity: identity(sequence, Some(before())),
            scope: RequestScope::Full,
            event: InboundEvent {
                summary: Some(summary.into()),
                start: Some(InboundTime::Date(day())),
                ..InboundEvent::default()
            },
            raw_calendar: format!("BEGIN:VCALENDAR ({summary})"),
        }
    }

    /// The event as received at SEQUENCE 2.
    fn received() -> StoredEvent {
        let mut e = event("Launch", false);
        e.organizer_sequence = Sequence::new(2);
        e.organizer_stamp = Some(before());
        e
    }

    #[test]
    fn a_request_not_newer_than_the_last_one_is_stale() {
        let e = received();
        for old in [1, 2] {
            match revision_of(&e, &request(old, "Launch v2")) {
                Ok(Revision::Stale(r)) => {
                    assert_eq!(r.reason, RefusalReason::StaleOrganizerMessage)
                }
                other => panic!("SEQUENCE {old}: {other:?}"),
            }
        }
        // Stale even when the event was cancelled since: a re-delivery is
        // recorded, never answered.
        let mut dead = received();
        dead.cancelled = true;
        assert!(matches!(
            revision_of(&dead, &request(2, "Launch")),
            Ok(Revision::Stale(_))
        ));
    }

    #[test]
    fn a_newer_request_for_a_cancelled_event_is_refused() {
        let mut dead = received();
        dead.cancelled = true;
        let r = revision_of(&dead, &request(3, "Launch v2")).expect_err("refused");
        assert_eq!(r.reason, RefusalReason::EventCancelled);
    }

    #[test]
    fn a_newer_request_is_the_next_state_of_the_event() {
        let e = received();
        let req = request(3, "Launch v2");
        let Ok(Revision::Next(next)) = revision_of(&e, &req) else {
            panic!("a newer request is taken")
        };
        assert_eq!(next.organizer_sequence, Sequence::new(3));
        assert_eq!(next.organizer_stamp, Some(before()));
        assert_eq!(
            next.raw_calendar.as_deref(),
            Some("BEGIN:VCALENDAR (Launch v2)")
        );
        assert_eq!(next.latest.summary().as_str(), "Launch v2");
        assert_eq!(next.latest.organizer().address(), &organizer());
        // What recipients hold and the version are untouched: sending is
        // the changes room's decision.
        assert_eq!(
            (next.sent_sequence, next.version, next.cancelled),
            (e.sent_sequence, e.version, false)
        );
        // Same SEQUENCE, later DTSTAMP: newer too.
        let mut later = request(2, "Launch v3");
        later.identity.dtstamp = Some(after());
        assert!(matches!(revision_of(&e, &later), Ok(Revision::Next(_))));
    }

    #[test]
    fn a_cancellation_is_stale_or_stamps_the_event_with_its_instances() {
        let e = received();
        let cancel = |sequence, instances| OrganizerCancel {
            identity: identity(sequence, Some(before())),
            instances,
            event: InboundEvent::default(),
        };
        let r = cancellation_of(&e, &cancel(2, vec![])).expect_err("stale");
        assert_eq!(r.reason, RefusalReason::StaleOrganizerMessage);
        let (stamped, instances) = cancellation_of(&e, &cancel(3, vec![])).expect("whole");
        assert_eq!(instances, None);
        assert_eq!(stamped.organizer_sequence, Sequence::new(3));
        assert!(!stamped.cancelled, "the changes room cancels it");
        let noon = Utc.with_ymd_and_hms(2026, 12, 8, 12, 0, 0).unwrap();
        let floating = noon.naive_utc();
        let (_, instances) = cancellation_of(
            &e,
            &cancel(
                4,
                vec![
                    InboundTime::Date(day()),
                    // A floating time names no occurrence: left out.
                    InboundTime::Floating(floating),
                ],
            ),
        )
        .expect("instances");
        assert_eq!(instances, Some(vec![OccurrenceId::On(day())]));
    }

    #[test]
    fn a_refused_organizer_hears_back_at_a_proven_address_only() {
        let sender = address("ana@example.com");
        let account = address("billing@example.com");
        assert_eq!(
            refused_notice_address(
                RefusalReason::AuthenticationFailed,
                Some(&sender),
                account.clone()
            ),
            account,
            "a From that failed authentication may be forged"
        );
        assert_eq!(
            refused_notice_address(
                RefusalReason::OrganizerMismatch,
                Some(&sender),
                account.clone()
            ),
            sender
        );
        assert_eq!(
            refused_notice_address(RefusalReason::UnusableEvent, None, account.clone()),
            account
        );
    }
}
