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

use std::collections::{HashMap, HashSet};

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
        // Copied only for an announcement (the event moves into the changes).
        let summary = self
            .options
            .announce
            .then(|| event.summary().as_str().to_owned());
        let mut changes = vec![
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
        ];
        self.announce(&mut changes, || {
            Some(Announcement::new(
                scope,
                now,
                AnnouncementKind::EventCreated {
                    code: code.clone(),
                    summary: summary.unwrap_or_default(),
                    from_calendar: false,
                },
            ))
        });
        self.store.commit(changes).await?;
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
            match invitation_decision(&read, recipient, source, || self.token(now), now)? {
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

    /// The suppressed addresses among a page of invitations, with why (one
    /// query).
    async fn suppressed_in(&self, page: &[Invitation]) -> Result<Suppressed, PipelineError> {
        let Some(first) = page.first() else {
            return Ok(Suppressed::new());
        };
        let addresses: Vec<EmailAddress> =
            page.iter().map(|i| i.recipient.address().clone()).collect();
        Ok(self
            .store
            .suppressions_among(first.scope.owner, &addresses)
            .await?
            .into_iter()
            .map(|s| (s.address, s.reason))
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

/// The suppressed addresses among a page of invitations, each with why.
pub(super) type Suppressed = HashMap<EmailAddress, SuppressionReason>;

/// A page of an event's invitations (token order) and the suppressed
/// addresses among them, as read for a plan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct AudiencePage {
    /// The invitations.
    pub(super) invitations: Vec<Invitation>,
    /// The suppressed addresses among them, with why.
    pub(super) suppressed: Suppressed,
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
    suppressed: &Suppressed,
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
pub(super) fn invitation_refusal(
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
            format!(
                "{} is the organizer or a calinvite mailbox",
                address.to_unicode()
            ),
        ))
    } else {
        suppression.map(|s| {
            Refusal::new(
                RefusalReason::Suppressed,
                format!(
                    "{} is suppressed ({})",
                    address.to_unicode(),
                    s.reason.as_str()
                ),
            )
        })
    }
}

/// A new invitation to `event`'s current revision, its message not sent yet.
pub(super) fn new_invitation(
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
    suppressed: &Suppressed,
    listed: &HashSet<&InvitationToken>,
) -> bool {
    if inv.cancelled {
        return false;
    }
    let state = inv.state(suppressed.get(inv.recipient.address()).copied());
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
mod tests;
