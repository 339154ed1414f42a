//! Room: sending. Everything outbound that starts a conversation: an event
//! created through the API, an invitation to one recipient (idempotent per
//! event and address), and fan-outs — a revision or cancellation planned in
//! batches of invitations, each batch queued in one commit with its progress.
//! The queue itself is the delivery room's.
//!
//! Depends on the shared pipeline helpers, the engine's rules, targeting and
//! the store. [`invitation_decision`] (with [`invitation_refusal`]),
//! [`fan_out_batch`] and [`in_audience`] are the pure decisions, tested below
//! without a store.

use std::collections::HashSet;

use super::*;

impl<S: Store, T: Transport> Pipeline<S, T> {
    /// Creates an event through the API (no organizer calendar involved), as
    /// the organizer of `scope`, and returns its code (drawn here). The
    /// draft's organizer defaults to the organizer account's notice address
    /// and name. A draft that does not make an event (an unusable URL, say)
    /// is refused as [`RefusalReason::UnusableEvent`].
    #[tracing::instrument(name = "create_event", skip_all, fields(owner = scope.owner.0, organizer = scope.organizer.0))]
    pub async fn create_event(
        &self,
        scope: Scope,
        draft: crate::EventDraft,
    ) -> Result<EventCode, PipelineError> {
        let now = self.now();
        let result = self
            .create_event_at(
                scope,
                |code, account| draft.build(code, (&account.notify, &account.name)),
                now,
            )
            .await;
        let outcome = result.as_ref().map(|c| Outcome::EventCreated(c.clone()));
        self.observe("create_event", outcome.as_ref().map_err(|e| *e));
        result
    }

    /// [`create_event`](Self::create_event) for an event the caller builds
    /// itself from the drawn code (when the code must appear in the event's
    /// own text, say).
    #[tracing::instrument(name = "create_event", skip_all, fields(owner = scope.owner.0, organizer = scope.organizer.0))]
    pub async fn create_event_with<E: std::fmt::Display>(
        &self,
        scope: Scope,
        build: impl FnOnce(EventCode) -> Result<Event, E>,
    ) -> Result<EventCode, PipelineError> {
        let now = self.now();
        let result = self
            .create_event_at(scope, |code, _| build(code), now)
            .await;
        let outcome = result.as_ref().map(|c| Outcome::EventCreated(c.clone()));
        self.observe("create_event", outcome.as_ref().map_err(|e| *e));
        result
    }

    async fn create_event_at<E: std::fmt::Display>(
        &self,
        scope: Scope,
        build: impl FnOnce(EventCode, &OrganizerAccount) -> Result<Event, E>,
        now: DateTime<Utc>,
    ) -> Result<EventCode, PipelineError> {
        let account = self
            .store
            .organizer(scope)
            .await?
            .ok_or_else(|| PipelineError::NotFound("organizer".into()))?;
        let code = self.code()?;
        let event = build(code.clone(), &account)
            .map_err(|e| Refusal::new(RefusalReason::UnusableEvent, e.to_string()))?;
        if event.code() != &code {
            return Err(PipelineError::Misuse(
                "the event must carry the code it was given".into(),
            ));
        }
        self.store
            .commit(vec![
                Change::InsertEvent(StoredEvent {
                    scope,
                    code: code.clone(),
                    organizer_uid: None,
                    organizer_sequence: Sequence::INITIAL,
                    organizer_stamp: None,
                    latest: event.clone(),
                    raw_calendar: None,
                    sent_sequence: Sequence::INITIAL,
                    cancelled: false,
                    created_at: now,
                    version: 0,
                }),
                Change::InsertRevision {
                    code: code.clone(),
                    sequence: Sequence::INITIAL,
                    event,
                },
            ])
            .await?;
        Ok(code)
    }

    /// Sends `recipient` an invitation to the event (late joiners get the
    /// current revision). Idempotent per (event, address): asking again
    /// returns the existing invitation and sends nothing.
    #[tracing::instrument(name = "invite", skip_all, fields(owner = scope.owner.0, organizer = scope.organizer.0, code = %code, source = source.as_str()))]
    pub async fn invite(
        &self,
        scope: Scope,
        code: &EventCode,
        recipient: Recipient,
        source: InvitationSource,
    ) -> Result<Outcome, PipelineError> {
        let now = self.now();
        let result = self.invite_at(scope, code, &recipient, &source, now).await;
        self.finished("invite", result)
    }

    async fn invite_at(
        &self,
        scope: Scope,
        code: &EventCode,
        recipient: &Recipient,
        source: &InvitationSource,
        now: DateTime<Utc>,
    ) -> Result<Outcome, PipelineError> {
        let owner = self.owner(scope.owner).await?;
        // Checks the organizer's settings can be read (the owner exists).
        self.settings(scope).await?;
        let owner = &owner;
        self.retrying("invitation", || async move {
            let event = self.scoped_event(scope, code).await?;
            let address = recipient.address();
            let existing = self.store.invitation_for(code, address).await?;
            let (pending, suppression) = match existing {
                // Already invited: nothing else to read.
                Some(_) => (Vec::new(), None),
                None => (
                    self.store.open_pending(code).await?,
                    self.store.suppression(scope.owner, address).await?,
                ),
            };
            let read = InviteRead {
                owner,
                event: &event,
                existing: existing.as_ref(),
                pending: &pending,
                suppression: suppression.as_ref(),
            };
            match invitation_decision(&read, recipient, source, || self.token(), now)? {
                Invite::Already(token) => Ok(Outcome::AlreadyInvited(token)),
                Invite::Refused(r) => {
                    self.refuse(scope.owner, Some(scope), Some(code), r, Vec::new(), now)
                        .await
                }
                Invite::New(token, changes) => {
                    self.store.commit(changes).await?;
                    Ok(Outcome::Invited(token))
                }
            }
        })
        .await
    }

    /// Reads every invitation of the event, a page of
    /// [`PipelineOptions::batch`] at a time in token order, each page with
    /// its suppressed addresses: what a held change's plan is decided over
    /// ([`planned`]).
    pub(super) async fn read_audience(
        &self,
        code: &EventCode,
    ) -> Result<Vec<AudiencePage>, PipelineError> {
        let mut pages = Vec::new();
        let mut after: Option<InvitationToken> = None;
        loop {
            let page = self
                .store
                .invitations(code, after.as_ref(), self.options.batch)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.token.clone());
            let suppressed = self.suppressed_in(&page).await?;
            let full = page.len() >= self.options.batch;
            pages.push(AudiencePage {
                invitations: page,
                suppressed,
            });
            if !full {
                break;
            }
        }
        Ok(pages)
    }

    /// The suppressed addresses among a page of invitations (one query).
    async fn suppressed_in(
        &self,
        page: &[Invitation],
    ) -> Result<HashSet<EmailAddress>, PipelineError> {
        let Some(first) = page.first() else {
            return Ok(HashSet::new());
        };
        let addresses: Vec<EmailAddress> =
            page.iter().map(|i| i.recipient.address().clone()).collect();
        Ok(self
            .store
            .suppressed_among(first.scope.owner, &addresses)
            .await?
            .into_iter()
            .collect())
    }

    /// Plans one batch of one fan-out: decides who in the next page of
    /// invitations gets the message and queues theirs, in one commit with the
    /// fan-out's progress. Returns whether there was anything to do.
    #[tracing::instrument(name = "step_fan_out", skip_all, fields(owner, code, planned))]
    pub async fn step_fan_out(&self) -> Result<bool, PipelineError> {
        let now = self.now();
        let Some(fan) = self.store.fan_outs(1).await?.into_iter().next() else {
            return Ok(false);
        };
        let span = tracing::Span::current();
        span.record("owner", fan.scope.owner.0);
        span.record("code", tracing::field::display(&fan.code));
        let fan = &fan;
        self.retrying("fan-out batch", || async move {
            let page = self
                .store
                .invitations(&fan.code, fan.cursor.as_ref(), self.options.batch)
                .await?;
            let suppressed = self.suppressed_in(&page).await?;
            let (changes, planned) =
                fan_out_batch(fan, &page, &suppressed, self.options.batch, now);
            self.store.commit(changes).await?;
            tracing::Span::current().record("planned", planned);
            Ok(true)
        })
        .await
    }
}

/// A page of an event's invitations (token order) and the suppressed
/// addresses among them, as read for a plan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct AudiencePage {
    /// The invitations.
    pub(super) invitations: Vec<Invitation>,
    /// The suppressed addresses among them.
    pub(super) suppressed: HashSet<EmailAddress>,
}

/// Who a fan-out to `audience` would reach now, listed (for a pending
/// change): the invitations of `pages` in it, in order, each with `kind`.
pub(super) fn planned(
    pages: &[AudiencePage],
    audience: &FanOutAudience,
    kind: MessageKind,
) -> Vec<PlannedMessage> {
    let listed = listed_in(audience);
    pages
        .iter()
        .flat_map(|page| {
            page.invitations
                .iter()
                .filter(|inv| in_audience(inv, audience, None, &page.suppressed, &listed))
                .map(|inv| PlannedMessage {
                    token: inv.token.clone(),
                    address: inv.recipient.address().clone(),
                    kind,
                })
        })
        .collect()
}

/// Decides one batch of a fan-out: for a page of its invitations (in token
/// order; `suppressed`: the page's suppressed addresses), the messages
/// queued and invitations moved on, and the fan-out's progress (removed
/// after a short page, else its cursor moved to the page's last token).
/// Also returns how many messages were queued.
fn fan_out_batch(
    fan: &FanOut,
    page: &[Invitation],
    suppressed: &HashSet<EmailAddress>,
    batch: usize,
    now: DateTime<Utc>,
) -> (Vec<Change>, usize) {
    let mut changes = Vec::new();
    let mut planned = 0;
    let listed = listed_in(&fan.audience);
    for inv in page {
        let wanted = match fan.kind {
            MessageKind::Invitation | MessageKind::Update => {
                inv.sequence_held.is_some_and(|h| h < fan.sequence)
            }
            MessageKind::Cancellation => !inv.cancelled,
            MessageKind::InstanceCancellation(_) => {
                !inv.cancelled && inv.sequence_held.is_some_and(|h| h < fan.sequence)
            }
        };
        if !wanted || !in_audience(inv, &fan.audience, Some(fan.sequence), suppressed, &listed) {
            continue;
        }
        let mut next = inv.clone();
        match fan.kind {
            MessageKind::Cancellation => next.cancelled = true,
            _ => next.sequence_held = Some(fan.sequence),
        }
        planned += 1;
        changes.extend(queue_invitation(inv, fan.kind, fan.sequence, 0, now));
        changes.push(Change::UpdateInvitation {
            expected: inv.version,
            invitation: next,
        });
    }
    if page.len() < batch {
        changes.push(Change::RemoveFanOut(fan.id.clone()));
    } else {
        let mut progressed = fan.clone();
        progressed.cursor = page.last().map(|i| i.token.clone());
        changes.push(Change::PutFanOut(progressed));
    }
    (changes, planned)
}

/// What an invitation command read: the owner, the event, the recipient's
/// invitation if they have one, and (when they have none) the event's open
/// pending changes and the address's suppression.
struct InviteRead<'a> {
    owner: &'a DomainOwner,
    event: &'a StoredEvent,
    existing: Option<&'a Invitation>,
    pending: &'a [PendingChange],
    suppression: Option<&'a Suppression>,
}

/// What inviting someone does.
#[derive(Debug, PartialEq)]
enum Invite {
    /// They already have this invitation: nothing is sent.
    Already(InvitationToken),
    /// Refused (recorded by the caller).
    Refused(Refusal),
    /// A new invitation, and what to write: it, its message and its history.
    New(InvitationToken, Vec<Change>),
}

/// Decides inviting `recipient` over what was read: idempotent per event and
/// address (an existing invitation wins over every refusal), else refused
/// ([`invitation_refusal`]), else a new invitation whose message is queued
/// at the event's current SEQUENCE. `token` draws the new invitation's
/// token, only then.
fn invitation_decision<E>(
    read: &InviteRead<'_>,
    recipient: &Recipient,
    source: &InvitationSource,
    token: impl FnOnce() -> Result<InvitationToken, E>,
    now: DateTime<Utc>,
) -> Result<Invite, E> {
    if let Some(existing) = read.existing {
        return Ok(Invite::Already(existing.token.clone()));
    }
    let address = recipient.address();
    if let Some(r) = invitation_refusal(
        read.owner,
        read.event,
        read.pending,
        read.suppression,
        address,
        now,
    ) {
        return Ok(Invite::Refused(r));
    }
    let invitation = new_invitation(read.event, token()?, recipient, source, now);
    let mut changes = vec![Change::InsertInvitation(invitation.clone())];
    changes.extend(queue_invitation(
        &invitation,
        MessageKind::Invitation,
        read.event.sent_sequence,
        0,
        now,
    ));
    Ok(Invite::New(invitation.token, changes))
}

/// Why `address` may not be invited to `event` now, checked in this order:
/// the event is cancelled, a cancellation waits for approval (`pending`: the
/// event's open pending changes), the event is over, the address is the
/// organizer's or one of the owner's mailboxes, or it is suppressed.
fn invitation_refusal(
    owner: &DomainOwner,
    event: &StoredEvent,
    pending: &[PendingChange],
    suppression: Option<&Suppression>,
    address: &EmailAddress,
    now: DateTime<Utc>,
) -> Option<Refusal> {
    let code = &event.code;
    if event.cancelled {
        Some(Refusal::new(
            RefusalReason::EventCancelled,
            format!("event {code} is cancelled"),
        ))
    } else if pending
        .iter()
        .any(|p| !matches!(p.kind, PendingKind::Update))
    {
        Some(Refusal::new(
            RefusalReason::CancellationPending,
            format!("a cancellation of event {code} waits for approval"),
        ))
    } else if engine::has_ended(&event.latest, now) {
        Some(Refusal::new(
            RefusalReason::EventEnded,
            format!("event {code} is over"),
        ))
    } else if owner.serves(address) || event.latest.organizer().address() == address {
        Some(Refusal::new(
            RefusalReason::OwnAddress,
            format!("{address} is the organizer or a calinvite mailbox"),
        ))
    } else {
        suppression.map(|s| {
            Refusal::new(
                RefusalReason::Suppressed,
                format!("{address} is suppressed ({})", s.reason.as_str()),
            )
        })
    }
}

/// A new invitation to `event`'s current revision, its message not sent yet.
fn new_invitation(
    event: &StoredEvent,
    token: InvitationToken,
    recipient: &Recipient,
    source: &InvitationSource,
    now: DateTime<Utc>,
) -> Invitation {
    Invitation {
        scope: event.scope,
        code: event.code.clone(),
        token,
        recipient: recipient.clone(),
        source: source.clone(),
        created_at: now,
        sent_at: None,
        sequence_held: Some(event.sent_sequence),
        cancelled: false,
        status: None,
        answered_at: None,
        instance_answers: Vec::new(),
        marks: Vec::new(),
        delivery: DeliveryState::Queued,
        copies: 0,
        version: 0,
    }
}

/// An approved plan's listed invitations, for lookups.
fn listed_in(audience: &FanOutAudience) -> HashSet<&InvitationToken> {
    match audience {
        FanOutAudience::Approved { listed, .. } => listed.iter().collect(),
        _ => HashSet::new(),
    }
}

/// Whether `inv` is in `audience`. `suppressed`: the page's suppressed
/// addresses; `listed`: an approved plan's invitations.
fn in_audience(
    inv: &Invitation,
    audience: &FanOutAudience,
    sequence: Option<Sequence>,
    suppressed: &HashSet<EmailAddress>,
    listed: &HashSet<&InvitationToken>,
) -> bool {
    if inv.cancelled {
        return false;
    }
    let state = inv.state(suppressed.contains(inv.recipient.address()));
    match audience {
        FanOutAudience::Update(rule) => {
            // Someone who already holds this revision (a later joiner) needs no update.
            sequence.is_none_or(|s| inv.sequence_held.is_some_and(|h| h < s))
                && rule.includes(&state)
        }
        FanOutAudience::Cancellation => targeting::receives_cancellation(&state),
        FanOutAudience::Approved {
            planned_at, then, ..
        } => {
            // Not listed and created in the second of planning or after:
            // a later joiner (clocks and stores may keep whole seconds).
            let later = inv.created_at >= *planned_at;
            if listed.contains(&inv.token) {
                // Listed when planned: sent unless it bounced or was suppressed since,
                // or (an update) the rule no longer includes it: someone who has
                // declined since never gets an update the rule would not send
                // (manual: design D4).
                match **then {
                    FanOutAudience::Cancellation => targeting::receives_cancellation(&state),
                    FanOutAudience::Update(rule) => rule.includes(&state),
                    _ => !state.hard_bounced && !state.suppressed,
                }
            } else if later {
                in_audience(inv, then, sequence, suppressed, listed)
            } else {
                false
            }
        }
    }
}

// ------------------------------------------------------------- fan-out

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::targeting::UpdateAudience;
    use ParticipationStatus::{Accepted, Declined, Tentative};

    fn reason(r: Option<Refusal>) -> Option<RefusalReason> {
        r.map(|r| r.reason)
    }

    fn pending(e: &StoredEvent, kind: PendingKind) -> PendingChange {
        PendingChange {
            id: "p1".into(),
            scope: e.scope,
            code: e.code.clone(),
            kind,
            base_sequence: e.sent_sequence,
            recipients: Vec::new(),
            created_at: before(),
            state: PendingState::Open,
        }
    }

    fn suppression(a: &str) -> Suppression {
        Suppression {
            owner: OwnerId(1),
            address: address(a),
            reason: SuppressionReason::Unsubscribed,
            at: before(),
        }
    }

    #[test]
    fn an_invitation_is_refused_for_each_reason_in_order() {
        let (o, live) = (owner(), event("Launch", false));
        let jorg = address("jorg@example.org");
        let refusal =
            |e: &StoredEvent,
             p: &[PendingChange],
             s: Option<&Suppression>,
             a: &EmailAddress,
             now: DateTime<Utc>| { reason(invitation_refusal(&o, e, p, s, a, now)) };
        assert_eq!(refusal(&live, &[], None, &jorg, before()), None);
        // An update waiting for approval does not stop new invitations.
        let update = [pending(&live, PendingKind::Update)];
        assert_eq!(refusal(&live, &update, None, &jorg, before()), None);
        let cancel = [pending(&live, PendingKind::Cancel)];
        assert_eq!(
            refusal(&live, &cancel, None, &jorg, before()),
            Some(RefusalReason::CancellationPending)
        );
        let instances = [pending(&live, PendingKind::CancelInstances(vec![]))];
        assert_eq!(
            refusal(&live, &instances, None, &jorg, before()),
            Some(RefusalReason::CancellationPending)
        );
        assert_eq!(
            refusal(&live, &[], None, &jorg, after()),
            Some(RefusalReason::EventEnded)
        );
        for own in [
            o.ingest.clone(),
            o.reply.clone(),
            o.bounce.clone(),
            organizer(),
        ] {
            assert_eq!(
                refusal(&live, &[], None, &own, before()),
                Some(RefusalReason::OwnAddress),
                "{own}"
            );
        }
        let s = suppression("jorg@example.org");
        assert_eq!(
            refusal(&live, &[], Some(&s), &jorg, before()),
            Some(RefusalReason::Suppressed)
        );
        // The order: cancelled before pending, pending before ended, ended
        // before the address, the address before the suppression.
        let dead = event("Launch", true);
        assert_eq!(
            refusal(&dead, &cancel, Some(&s), &o.reply, after()),
            Some(RefusalReason::EventCancelled)
        );
        assert_eq!(
            refusal(&live, &cancel, Some(&s), &o.reply, after()),
            Some(RefusalReason::CancellationPending)
        );
        assert_eq!(
            refusal(&live, &[], Some(&s), &o.reply, after()),
            Some(RefusalReason::EventEnded)
        );
        assert_eq!(
            refusal(&live, &[], Some(&s), &o.reply, before()),
            Some(RefusalReason::OwnAddress)
        );
    }

    #[test]
    fn inviting_twice_returns_the_existing_invitation_and_sends_nothing() {
        let (o, e) = (owner(), event("Launch", false));
        let existing = invitation(&e, 1, "jorg@example.org", None, DeliveryState::Sent);
        let recipient = Recipient::new(address("jorg@example.org"));
        let mut drawn = false;
        let read = InviteRead {
            owner: &o,
            event: &e,
            existing: Some(&existing),
            pending: &[],
            suppression: None,
        };
        let decided = invitation_decision(
            &read,
            &recipient,
            &InvitationSource::Api,
            || {
                drawn = true;
                Ok::<_, PipelineError>(InvitationToken::generate(&crate::SequentialIds::new(2)))
            },
            before(),
        )
        .expect("decided");
        assert_eq!(decided, Invite::Already(existing.token.clone()));
        assert!(!drawn, "no token is drawn for an existing invitation");
        // Even once the event is over or cancelled: the answer is the same.
        let dead = event("Launch", true);
        let read = InviteRead {
            event: &dead,
            ..read
        };
        let again = invitation_decision(
            &read,
            &recipient,
            &InvitationSource::Api,
            || -> Result<InvitationToken, PipelineError> { unreachable!() },
            after(),
        )
        .expect("decided");
        assert_eq!(again, Invite::Already(existing.token));
    }

    #[test]
    fn a_new_invitation_is_written_with_its_message_and_history() {
        let (o, mut e) = (owner(), event("Launch", false));
        e.sent_sequence = Sequence::INITIAL.next();
        let recipient = Recipient::new(address("jorg@example.org"));
        let token = InvitationToken::generate(&crate::SequentialIds::new(5));
        let read = InviteRead {
            owner: &o,
            event: &e,
            existing: None,
            pending: &[],
            suppression: None,
        };
        let source = InvitationSource::Api;
        let decided = invitation_decision(
            &read,
            &recipient,
            &source,
            || Ok::<_, PipelineError>(token.clone()),
            before(),
        )
        .expect("decided");
        let invitation = new_invitation(&e, token.clone(), &recipient, &source, before());
        assert_eq!(invitation.sequence_held, Some(e.sent_sequence));
        assert_eq!(invitation.delivery, DeliveryState::Queued);
        assert_eq!((invitation.status, invitation.sent_at), (None, None));
        let key = IdempotencyKey::new(token.clone(), e.sent_sequence, Method::Request, 0);
        let expected = vec![
            Change::InsertInvitation(invitation),
            Change::Enqueue(Delivery {
                key: DeliveryKey::Invitation(key),
                owner: OwnerId(1),
                payload: Payload::Invitation {
                    code: e.code.clone(),
                    token: token.clone(),
                    kind: MessageKind::Invitation,
                    sequence: e.sent_sequence,
                    copy: 0,
                },
                attempts: 0,
                due: before(),
                state: QueueState::Queued,
                last_error: None,
            }),
            Change::AppendHistory(HistoryEntry {
                token: token.clone(),
                at: before(),
                kind: HistoryKind::Queued {
                    kind: MessageKind::Invitation,
                    sequence: e.sent_sequence,
                },
            }),
        ];
        assert_eq!(decided, Invite::New(token, expected));
        // A suppressed address is refused, nothing written.
        let s = suppression("jorg@example.org");
        let read = InviteRead {
            suppression: Some(&s),
            ..read
        };
        let refused = invitation_decision(
            &read,
            &recipient,
            &source,
            || -> Result<InvitationToken, PipelineError> { unreachable!() },
            before(),
        )
        .expect("decided");
        assert!(matches!(refused, Invite::Refused(r) if r.reason == RefusalReason::Suppressed));
    }

    /// The tokens a batch queues a message for, in order.
    fn queued(changes: &[Change]) -> Vec<InvitationToken> {
        changes
            .iter()
            .filter_map(|c| match c {
                Change::Enqueue(Delivery {
                    payload: Payload::Invitation { token, .. },
                    ..
                }) => Some(token.clone()),
                _ => None,
            })
            .collect()
    }

    struct Crowd {
        event: StoredEvent,
        yes: Invitation,
        maybe: Invitation,
        no: Invitation,
        silent: Invitation,
        bounced: Invitation,
        suppressed: Invitation,
        cancelled: Invitation,
        never_sent: Invitation,
    }

    /// One invitation in each state, tokens in this order.
    fn crowd() -> Crowd {
        let e = event("Launch", false);
        let inv = |n, who, status, delivery| invitation(&e, n, who, status, delivery);
        let mut cancelled = inv(7, "gone@example.org", Some(Accepted), DeliveryState::Sent);
        cancelled.cancelled = true;
        let mut never_sent = inv(8, "late@example.org", None, DeliveryState::Queued);
        never_sent.sequence_held = None;
        Crowd {
            yes: inv(1, "yes@example.org", Some(Accepted), DeliveryState::Sent),
            maybe: inv(
                2,
                "maybe@example.org",
                Some(Tentative),
                DeliveryState::Delivered,
            ),
            no: inv(3, "no@example.org", Some(Declined), DeliveryState::Sent),
            silent: inv(4, "silent@example.org", None, DeliveryState::Sent),
            bounced: inv(
                5,
                "bounced@example.org",
                Some(Accepted),
                DeliveryState::HardBounced,
            ),
            suppressed: inv(6, "unsub@example.org", Some(Accepted), DeliveryState::Sent),
            cancelled,
            never_sent,
            event: e,
        }
    }

    impl Crowd {
        fn page(&self) -> Vec<Invitation> {
            [
                &self.yes,
                &self.maybe,
                &self.no,
                &self.silent,
                &self.bounced,
                &self.suppressed,
                &self.cancelled,
                &self.never_sent,
            ]
            .into_iter()
            .cloned()
            .collect()
        }
        fn suppressed(&self) -> HashSet<EmailAddress> {
            HashSet::from([self.suppressed.recipient.address().clone()])
        }
        fn fan(&self, kind: MessageKind, audience: FanOutAudience) -> FanOut {
            FanOut {
                id: "fan-1".into(),
                scope: self.event.scope,
                code: self.event.code.clone(),
                kind,
                sequence: Sequence::INITIAL.next(),
                audience,
                cursor: None,
            }
        }
    }

    #[test]
    fn an_update_goes_to_yes_and_maybe_by_default_and_moves_them_on() {
        let c = crowd();
        let fan = c.fan(
            MessageKind::Update,
            FanOutAudience::Update(UpdateAudience::default()),
        );
        let page = c.page();
        let (changes, planned) = fan_out_batch(&fan, &page, &c.suppressed(), 500, before());
        assert_eq!(planned, 2);
        let s1 = fan.sequence;
        let mut expected = Vec::new();
        for inv in [&c.yes, &c.maybe] {
            let mut next = inv.clone();
            next.sequence_held = Some(s1);
            expected.extend(queue_invitation(inv, MessageKind::Update, s1, 0, before()));
            expected.push(Change::UpdateInvitation {
                expected: 3,
                invitation: next,
            });
        }
        // A short page: the fan-out is done.
        expected.push(Change::RemoveFanOut("fan-1".into()));
        assert_eq!(changes, expected);
    }

    #[test]
    fn each_update_audience_reaches_whom_it_says() {
        let c = crowd();
        let cases = [
            (UpdateAudience::AcceptedOrTentative, vec![&c.yes, &c.maybe]),
            (
                UpdateAudience::NotDeclined,
                vec![&c.yes, &c.maybe, &c.silent],
            ),
            (
                UpdateAudience::Everyone,
                vec![&c.yes, &c.maybe, &c.no, &c.silent],
            ),
        ];
        for (rule, who) in cases {
            let fan = c.fan(MessageKind::Update, FanOutAudience::Update(rule));
            let (changes, planned) = fan_out_batch(&fan, &c.page(), &c.suppressed(), 500, before());
            let want: Vec<_> = who.iter().map(|i| i.token.clone()).collect();
            assert_eq!(queued(&changes), want, "{rule:?}");
            assert_eq!(planned, want.len());
        }
        // Someone who already holds the revision (a later joiner) gets no update.
        let mut joiner = c.yes.clone();
        joiner.sequence_held = Some(Sequence::INITIAL.next());
        let fan = c.fan(
            MessageKind::Update,
            FanOutAudience::Update(UpdateAudience::Everyone),
        );
        let (changes, planned) = fan_out_batch(&fan, &[joiner], &HashSet::new(), 500, before());
        assert_eq!(
            (planned, changes),
            (0, vec![Change::RemoveFanOut("fan-1".into())])
        );
    }

    #[test]
    fn a_cancellation_goes_to_everyone_sent_a_request_decliners_included_except_hard_bounces() {
        let c = crowd();
        let fan = c.fan(MessageKind::Cancellation, FanOutAudience::Cancellation);
        let (changes, planned) = fan_out_batch(&fan, &c.page(), &c.suppressed(), 500, before());
        let want: Vec<_> = [&c.yes, &c.maybe, &c.no, &c.silent, &c.suppressed]
            .iter()
            .map(|i| i.token.clone())
            .collect();
        assert_eq!(queued(&changes), want);
        assert_eq!(planned, 5);
        // Each is marked cancelled (its SEQUENCE held stays as it was).
        let mut next = c.no.clone();
        next.cancelled = true;
        assert!(changes.contains(&Change::UpdateInvitation {
            expected: 3,
            invitation: next,
        }));
        let key = IdempotencyKey::new(c.no.token.clone(), fan.sequence, Method::Cancel, 0);
        assert!(changes.iter().any(|ch| matches!(ch,
            Change::Enqueue(d) if d.key == DeliveryKey::Invitation(key.clone()))));
    }

    #[test]
    fn a_full_page_moves_the_cursor_and_keeps_the_fan_out() {
        let c = crowd();
        let fan = c.fan(MessageKind::Cancellation, FanOutAudience::Cancellation);
        let page = [c.yes.clone(), c.no.clone()];
        let (changes, planned) = fan_out_batch(&fan, &page, &HashSet::new(), 2, before());
        assert_eq!(planned, 2);
        let mut progressed = fan.clone();
        progressed.cursor = Some(c.no.token.clone());
        assert_eq!(changes.last(), Some(&Change::PutFanOut(progressed)));
        // An empty page ends it.
        let (changes, planned) = fan_out_batch(&fan, &[], &HashSet::new(), 2, before());
        assert_eq!(
            (planned, changes),
            (0, vec![Change::RemoveFanOut("fan-1".into())])
        );
    }

    #[test]
    fn an_approved_plan_reaches_those_listed_and_later_joiners_its_rule_includes() {
        let c = crowd();
        let planned_at = before();
        // Listed: yes, no (declined since), bounced (bounced since).
        let listed = vec![
            c.yes.token.clone(),
            c.no.token.clone(),
            c.bounced.token.clone(),
        ];
        let mut joiner = invitation(
            &c.event,
            9,
            "joiner@example.org",
            Some(Accepted),
            DeliveryState::Sent,
        );
        joiner.created_at = planned_at;
        let mut early_silent = c.maybe.clone();
        early_silent.created_at = planned_at - chrono::Duration::seconds(1);
        let approved = |then| FanOutAudience::Approved {
            listed: listed.clone(),
            planned_at,
            then: Box::new(then),
        };
        let cancel = approved(FanOutAudience::Cancellation);
        let l = listed_in(&cancel);
        assert_eq!(l.len(), 3);
        assert!(l.contains(&c.yes.token) && !l.contains(&c.maybe.token));
        assert!(listed_in(&FanOutAudience::Cancellation).is_empty());
        let none = HashSet::new();
        let s1 = Some(Sequence::INITIAL.next());
        let update = approved(FanOutAudience::Update(UpdateAudience::default()));
        let check = |inv: &Invitation, audience: &FanOutAudience| {
            in_audience(inv, audience, s1, &none, &listed_in(audience))
        };
        assert!(check(&c.yes, &update));
        assert!(!check(&c.no, &update), "declined since: no update");
        assert!(!check(&c.bounced, &update), "bounced since");
        assert!(
            !check(&early_silent, &update),
            "not listed, not a later joiner"
        );
        assert!(check(&joiner, &update), "a later joiner the rule includes");
        assert!(
            check(&c.no, &cancel),
            "a decliner still hears of a cancellation"
        );
        assert!(!check(&c.bounced, &cancel));
        assert!(check(&joiner, &cancel));
        let mut gone = c.yes.clone();
        gone.cancelled = true;
        assert!(!check(&gone, &cancel), "already cancelled");
    }

    #[test]
    fn a_plan_lists_the_audience_across_pages_in_order() {
        let c = crowd();
        let all = c.page();
        let pages = [
            AudiencePage {
                invitations: all[..4].to_vec(),
                suppressed: HashSet::new(),
            },
            AudiencePage {
                invitations: all[4..].to_vec(),
                suppressed: c.suppressed(),
            },
        ];
        let tokens = |audience: &FanOutAudience, kind| -> Vec<InvitationToken> {
            planned(&pages, audience, kind)
                .into_iter()
                .inspect(|p| assert_eq!(p.kind, kind))
                .map(|p| p.token)
                .collect()
        };
        let update = FanOutAudience::Update(UpdateAudience::default());
        assert_eq!(
            tokens(&update, MessageKind::Update),
            vec![c.yes.token.clone(), c.maybe.token.clone()]
        );
        let everyone = FanOutAudience::Update(UpdateAudience::Everyone);
        assert_eq!(tokens(&everyone, MessageKind::Update).len(), 4);
        assert_eq!(
            tokens(&FanOutAudience::Cancellation, MessageKind::Cancellation),
            [&c.yes, &c.maybe, &c.no, &c.silent, &c.suppressed]
                .iter()
                .map(|i| i.token.clone())
                .collect::<Vec<_>>()
        );
        let first = &planned(&pages, &update, MessageKind::Update)[0];
        assert_eq!(first.address, address("yes@example.org"));
    }
}
