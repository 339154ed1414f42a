//! Room: answers — data collection. What comes back from recipients and
//! their mail systems: replies (mail) and web answers, counter-proposals
//! (the organizer is told), refreshes (the current revision sent again),
//! unsubscribes and suppressions, and delivery-status reports. The rules of
//! an answer (late, forwarded, changed mind) are the engine's
//! `apply_answer`, which takes one [`Answer`] whether it was mailed or given
//! on the web; this room finds the invitation, decides, and commits.
//!
//! Depends on the shared pipeline helpers, the engine's rules and the store.
//! [`refresh_refusal`], [`delivered_changes`] and [`bounce_changes`] are pure.

use super::*;
use crate::OccurrenceId;
use crate::lifecycle::engine::Answer;

impl<S: Store, T: Transport> Pipeline<S, T> {
    /// An answer given on calinvite's web page (a POST, never a GET).
    #[tracing::instrument(name = "web_answer", skip_all, fields(owner = owner.0, status = status.as_str()))]
    pub async fn web_answer(
        &self,
        owner: OwnerId,
        token: &InvitationToken,
        status: ParticipationStatus,
    ) -> Result<Outcome, PipelineError> {
        let result = self
            .web_answer_at(owner, token, status, None, self.now())
            .await;
        self.finished("web_answer", result)
    }

    /// An answer given on calinvite's web page for one occurrence of a
    /// recurring event (`instance`, its original start). Refused
    /// (as [`RefusalReason::NoAnswer`], the reason a mailed answer naming no instance gets) when the event does not repeat
    /// or `instance` is not one of its occurrences, as far as
    /// [`crate::occurrences::is_occurrence`] can tell.
    #[tracing::instrument(name = "web_answer", skip_all, fields(owner = owner.0, status = status.as_str()))]
    pub async fn web_answer_instance(
        &self,
        owner: OwnerId,
        token: &InvitationToken,
        status: ParticipationStatus,
        instance: OccurrenceId,
    ) -> Result<Outcome, PipelineError> {
        let result = self
            .web_answer_at(owner, token, status, Some(instance), self.now())
            .await;
        self.finished("web_answer", result)
    }

    async fn web_answer_at(
        &self,
        owner: OwnerId,
        token: &InvitationToken,
        status: ParticipationStatus,
        instance: Option<OccurrenceId>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, PipelineError> {
        let owner = self.owner(owner).await?;
        // Another owner's token is no invitation here as in `unsubscribe`.
        let Some(inv) = self
            .store
            .invitation(token)
            .await?
            .filter(|i| i.scope.owner == owner.id)
        else {
            let r = Refusal::new(RefusalReason::UnknownInvitation, "no such invitation");
            return self.refuse(owner.id, None, None, r, Vec::new(), now).await;
        };
        let answer = Answer::web(status);
        let Some(instance) = instance else {
            return self.answer(&owner, inv, &|_| Ok(answer.clone()), now).await;
        };
        let event = self.store.event(owner.id, &inv.code).await?;
        if let Some(r) = event.and_then(|e| instance_refusal(&e.latest, instance)) {
            return self
                .refuse(
                    owner.id,
                    Some(inv.scope),
                    Some(&inv.code),
                    r,
                    Vec::new(),
                    now,
                )
                .await;
        }
        let answer = answer.for_instance(instance);
        self.answer(&owner, inv, &|_| Ok(answer.clone()), now).await
    }

    /// One-click unsubscribe (RFC 8058 POST): the address is suppressed for
    /// every future send of this owner.
    #[tracing::instrument(name = "unsubscribe", skip_all, fields(owner = owner.0))]
    pub async fn unsubscribe(
        &self,
        owner: OwnerId,
        token: &InvitationToken,
    ) -> Result<Outcome, PipelineError> {
        let result = self.unsubscribe_at(owner, token, self.now()).await;
        self.finished("unsubscribe", result)
    }

    async fn unsubscribe_at(
        &self,
        owner: OwnerId,
        token: &InvitationToken,
        now: DateTime<Utc>,
    ) -> Result<Outcome, PipelineError> {
        let Some(inv) = self
            .store
            .invitation(token)
            .await?
            .filter(|i| i.scope.owner == owner)
        else {
            let r = Refusal::new(RefusalReason::UnknownInvitation, "no such invitation");
            return self.refuse(owner, None, None, r, Vec::new(), now).await;
        };
        let mut changes = vec![
            Change::Suppress(Suppression {
                owner,
                address: inv.recipient.address().clone(),
                reason: SuppressionReason::Unsubscribed,
                at: now,
            }),
            Change::AppendHistory(HistoryEntry {
                token: inv.token.clone(),
                at: now,
                kind: HistoryKind::Unsubscribed,
            }),
        ];
        self.announce(&mut changes, || {
            Some(Announcement::new(
                inv.scope,
                now,
                AnnouncementKind::Suppressed {
                    address: inv.recipient.address().clone(),
                    reason: SuppressionReason::Unsubscribed,
                    code: Some(inv.code.clone()),
                },
            ))
        });
        self.store.commit(changes).await?;
        Ok(Outcome::Unsubscribed(inv.token))
    }

    /// Suppresses an address for an owner (a complaint, an operator's list).
    pub async fn suppress(
        &self,
        owner: OwnerId,
        address: EmailAddress,
        reason: SuppressionReason,
    ) -> Result<(), PipelineError> {
        let now = self.now();
        tracing::info!(
            command = "suppress",
            owner = owner.0,
            reason = reason.as_str(),
            "suppressed"
        );
        let mut changes = Vec::with_capacity(2);
        self.announce(&mut changes, || {
            Some(Announcement::of_owner(
                owner,
                now,
                AnnouncementKind::Suppressed {
                    address: address.clone(),
                    reason,
                    code: None,
                },
            ))
        });
        changes.push(Change::Suppress(Suppression {
            owner,
            address,
            reason,
            at: now,
        }));
        self.store.commit(changes).await?;
        Ok(())
    }

    // ------------------------------------------------------------- replies

    async fn find_invitation(
        &self,
        owner: &DomainOwner,
        reply: &Reply,
    ) -> Result<Result<Invitation, Refusal>, PipelineError> {
        let Some(uid) = &reply.invitation else {
            return Ok(Err(Refusal::new(
                RefusalReason::UnknownInvitation,
                "the reply's UID is not one calinvite sent",
            )));
        };
        let Some(inv) = self.store.invitation(uid.token()).await? else {
            return Ok(Err(Refusal::new(
                RefusalReason::UnknownInvitation,
                "the reply's UID names no invitation",
            )));
        };
        if &inv.code != uid.event_code() {
            return Ok(Err(Refusal::new(
                RefusalReason::UnknownInvitation,
                "the reply's UID names another event",
            )));
        }
        if inv.scope.owner != owner.id {
            return Ok(Err(Refusal::new(
                RefusalReason::WrongTenant,
                "the reply came to another domain owner's mailbox",
            )));
        }
        Ok(Ok(inv))
    }

    pub(super) async fn reply(
        &self,
        owner: &DomainOwner,
        reply: Reply,
        from: Option<&EmailAddress>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, PipelineError> {
        match self.find_invitation(owner, &reply).await? {
            Err(r) => {
                let code = reply.invitation.as_ref().map(|u| u.event_code().clone());
                let code = match (&code, r.reason) {
                    (Some(_), RefusalReason::WrongTenant) | (None, _) => None,
                    _ => code,
                };
                self.refuse(owner.id, None, code.as_ref(), r, Vec::new(), now)
                    .await
            }
            Ok(inv) => {
                // Decided by the token; a From that is not the answering
                // attendee is recorded with the answer (manual: security).
                let from_reply = |inv: &Invitation| {
                    let invited = inv.recipient.address();
                    Answer::from_reply(&reply, invited).map(|a| a.mailed_by(from, invited))
                };
                self.answer(owner, inv, &from_reply, now).await
            }
        }
    }

    /// Records an answer to `inv`: `given` builds the [`Answer`] from the
    /// invitation as each attempt finds it (a REPLY names its answerer
    /// relative to the invited address; a web answer is fixed), and the
    /// engine's `apply_answer` decides.
    async fn answer(
        &self,
        owner: &DomainOwner,
        inv: Invitation,
        given: &(dyn Fn(&Invitation) -> Result<Answer, Refusal> + Sync),
        now: DateTime<Utc>,
    ) -> Result<Outcome, PipelineError> {
        let settings = self.settings(inv.scope).await?;
        let token = inv.token.clone();
        // The first attempt decides on the invitation as found; one that lost
        // a race reads it again.
        let first = Mutex::new(Some(inv));
        let answered = Mutex::new(None);
        let (first, answered_ref, token_ref) = (&first, &answered, &token);
        let outcome = self
            .retrying("answer", || async move {
                let taken = first.lock().unwrap_or_else(PoisonError::into_inner).take();
                let inv = match taken {
                    Some(inv) => inv,
                    None => self
                        .store
                        .invitation(token_ref)
                        .await?
                        .ok_or_else(|| PipelineError::NotFound("invitation vanished".into()))?,
                };
                let event = self
                    .store
                    .event(owner.id, &inv.code)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt {
                        row: format!("invitation {}", inv.code),
                        detail: "its event is missing".into(),
                    })?;
                let decided = given(&inv).and_then(|answer| {
                    engine::apply_answer(&inv, &event, &answer, settings.late_answers, now)
                        .map(|effect| (answer.status, effect))
                });
                match decided {
                    Err(r) => {
                        self.refuse(
                            owner.id,
                            Some(inv.scope),
                            Some(&inv.code),
                            r,
                            Vec::new(),
                            now,
                        )
                        .await
                    }
                    Ok((status, effect)) => {
                        *answered_ref.lock().unwrap_or_else(PoisonError::into_inner) = Some(status);
                        let mut changes = Vec::with_capacity(3);
                        self.announce(&mut changes, || {
                            answer_announcement(&inv, &effect, settings.late_answers, now)
                        });
                        changes.push(Change::AppendHistory(effect.entry));
                        if effect.invitation != inv {
                            changes.push(Change::UpdateInvitation {
                                expected: inv.version,
                                invitation: effect.invitation,
                            });
                        }
                        self.store.commit(changes).await?;
                        Ok(Outcome::AnswerRecorded(inv.token))
                    }
                }
            })
            .await?;
        if matches!(outcome, Outcome::AnswerRecorded(_)) {
            self.metrics.answer(
                answered
                    .into_inner()
                    .unwrap_or_else(PoisonError::into_inner),
            );
        }
        Ok(outcome)
    }

    pub(super) async fn counter(
        &self,
        owner: &DomainOwner,
        reply: Reply,
        now: DateTime<Utc>,
    ) -> Result<Outcome, PipelineError> {
        let inv = match self.find_invitation(owner, &reply).await? {
            Err(r) => return self.refuse(owner.id, None, None, r, Vec::new(), now).await,
            Ok(inv) => inv,
        };
        let event = self
            .store
            .event(owner.id, &inv.code)
            .await?
            .ok_or_else(|| PipelineError::NotFound("event".into()))?;
        let start = reply.proposed_start.as_ref().map(engine::describe_time);
        let end = reply.proposed_end.as_ref().map(engine::describe_time);
        let comment = reply.comment.as_ref().map(|c| c.as_str().to_owned());
        let who = reply.attendee.as_ref().map_or_else(
            || inv.recipient.address().to_unicode().into_owned(),
            |a| a.address().to_unicode().into_owned(),
        );
        let text = self.options.notices.counter(&CounterNotice {
            event: &event.latest,
            who: &who,
            proposed_start: start.as_deref(),
            proposed_end: end.as_deref(),
            comment: comment.as_deref(),
        });
        let notice = self.notice(owner, event.latest.organizer().address(), &text, None, now)?;
        let mut changes = Vec::with_capacity(3);
        self.announce(&mut changes, || {
            Some(Announcement::new(
                inv.scope,
                now,
                AnnouncementKind::Countered {
                    code: inv.code.clone(),
                    address: inv.recipient.address().clone(),
                    start: start.clone(),
                    end: end.clone(),
                    comment: comment.clone(),
                },
            ))
        });
        changes.push(Change::AppendHistory(HistoryEntry {
            token: inv.token.clone(),
            at: now,
            kind: HistoryKind::Counter {
                start,
                end,
                comment,
            },
        }));
        changes.push(notice);
        self.store.commit(changes).await?;
        Ok(Outcome::CounterRecorded(inv.token))
    }

    pub(super) async fn refresh(
        &self,
        owner: &DomainOwner,
        reply: Reply,
        now: DateTime<Utc>,
    ) -> Result<Outcome, PipelineError> {
        let reply = &reply;
        self.retrying("refresh", || async move {
            let inv = match self.find_invitation(owner, reply).await? {
                Err(r) => return self.refuse(owner.id, None, None, r, Vec::new(), now).await,
                Ok(inv) => inv,
            };
            let event = self
                .store
                .event(owner.id, &inv.code)
                .await?
                .ok_or_else(|| PipelineError::NotFound("event".into()))?;
            let suppression = self
                .store
                .suppression(owner.id, inv.recipient.address())
                .await?;
            if let Some(r) = refresh_refusal(&event, &inv, suppression.as_ref(), now) {
                return self
                    .refuse(
                        owner.id,
                        Some(inv.scope),
                        Some(&inv.code),
                        r,
                        Vec::new(),
                        now,
                    )
                    .await;
            }
            let changes = resend_changes(&inv, event.sent_sequence, now);
            self.store.commit(changes).await?;
            Ok(Outcome::Resent(inv.token))
        })
        .await
    }

    /// The invitation `token` names, if it belongs to `owner`; else the
    /// recorded refusal (`UnknownBounce`) of what reported on it (`what`).
    pub(super) async fn owned_invitation(
        &self,
        owner: &DomainOwner,
        token: &InvitationToken,
        what: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<Invitation, Outcome>, PipelineError> {
        if let Some(inv) = self
            .store
            .invitation(token)
            .await?
            .filter(|i| i.scope.owner == owner.id)
        {
            return Ok(Ok(inv));
        }
        let r = Refusal::new(
            RefusalReason::UnknownBounce,
            format!("{what} names no invitation of this owner"),
        );
        Ok(Err(self
            .refuse(owner.id, None, None, r, Vec::new(), now)
            .await?))
    }

    pub(super) async fn delivery_status(
        &self,
        owner: &DomainOwner,
        dsn: crate::inbound::DeliveryStatus,
        now: DateTime<Utc>,
    ) -> Result<Outcome, PipelineError> {
        let Some(token) = dsn.invitation_token() else {
            let r = Refusal::new(
                RefusalReason::UnknownBounce,
                "the delivery report quotes no message calinvite sent",
            );
            return self.refuse(owner.id, None, None, r, Vec::new(), now).await;
        };
        let delivered = dsn.action.as_deref().is_some_and(|a| {
            a.eq_ignore_ascii_case("delivered") || a.eq_ignore_ascii_case("relayed")
        });
        let failed = dsn
            .action
            .as_deref()
            .is_none_or(|a| a.eq_ignore_ascii_case("failed") || a.eq_ignore_ascii_case("delayed"));
        if !delivered && !failed {
            return Ok(Outcome::Ignored("delivery report with nothing to record"));
        }
        let detail = dsn
            .diagnostic
            .clone()
            .or(dsn.status.clone())
            .unwrap_or_else(|| "no diagnostic".into());
        let (token, detail, permanent) = (&token, &detail, dsn.permanent);
        self.retrying("delivery report", || async move {
            let inv = match self
                .owned_invitation(owner, token, "the delivery report", now)
                .await?
            {
                Ok(inv) => inv,
                Err(refused) => return Ok(refused),
            };
            let mut changes = if delivered {
                delivered_changes(&inv, now)
            } else {
                bounce_changes(&inv, permanent, detail, now)
            };
            self.announce(&mut changes, || {
                Some(if delivered {
                    delivered_announcement(&inv, now)
                } else {
                    bounced_announcement(&inv, permanent, detail, now)
                })
            });
            self.store.commit(changes).await?;
            Ok(Outcome::DeliveryRecorded(token.clone()))
        })
        .await
    }
}

pub(super) fn delivered_changes(inv: &Invitation, now: DateTime<Utc>) -> Vec<Change> {
    let mut next = inv.clone();
    if next.delivery != DeliveryState::HardBounced {
        next.delivery = DeliveryState::Delivered;
    }
    vec![
        Change::UpdateInvitation {
            expected: inv.version,
            invitation: next,
        },
        Change::AppendHistory(HistoryEntry {
            token: inv.token.clone(),
            at: now,
            kind: HistoryKind::Delivered,
        }),
    ]
}

/// What an answer recorded as `effect` on `inv` announces: the answer, the
/// one it replaces (of the event, or of the instance answered), and
/// whether it counts (the engine's rule: not forwarded, and not late
/// unless late answers apply).
fn answer_announcement(
    inv: &Invitation,
    effect: &engine::ReplyEffect,
    late_answers: crate::lifecycle::LateAnswers,
    now: DateTime<Utc>,
) -> Option<Announcement> {
    let HistoryKind::Answer {
        status,
        instance,
        comment,
        forwarded_from,
        late,
        web,
        ..
    } = &effect.entry.kind
    else {
        return None;
    };
    let previous = match instance {
        None => inv.status,
        Some(id) => inv
            .instance_answers
            .iter()
            .find(|(x, _)| x == id)
            .map(|(_, s)| *s),
    };
    let applied = forwarded_from.is_none()
        && (!*late || late_answers == crate::lifecycle::LateAnswers::Apply);
    Some(Announcement::new(
        inv.scope,
        now,
        AnnouncementKind::Answered {
            code: inv.code.clone(),
            address: inv.recipient.address().clone(),
            status: *status,
            previous,
            instance: *instance,
            applied,
            late: *late,
            web: *web,
            forwarded_from: forwarded_from.clone(),
            comment: comment.clone(),
        },
    ))
}

/// A delivery report or notice said `inv`'s message was delivered.
pub(super) fn delivered_announcement(inv: &Invitation, now: DateTime<Utc>) -> Announcement {
    Announcement::new(
        inv.scope,
        now,
        AnnouncementKind::Delivered {
            code: inv.code.clone(),
            address: inv.recipient.address().clone(),
        },
    )
}

/// `inv`'s message bounced.
pub(super) fn bounced_announcement(
    inv: &Invitation,
    permanent: bool,
    detail: &str,
    now: DateTime<Utc>,
) -> Announcement {
    Announcement::new(
        inv.scope,
        now,
        AnnouncementKind::Bounced {
            code: inv.code.clone(),
            address: inv.recipient.address().clone(),
            permanent,
            detail: detail.chars().take(500).collect(),
        },
    )
}

/// The state changes of a bounce: a hard one suppresses the address
/// ([D12](crate::manual::design#d12)).
pub(super) fn bounce_changes(
    inv: &Invitation,
    permanent: bool,
    detail: &str,
    now: DateTime<Utc>,
) -> Vec<Change> {
    let mut next = inv.clone();
    let mut changes = Vec::new();
    if permanent {
        next.delivery = DeliveryState::HardBounced;
        changes.push(Change::Suppress(Suppression {
            owner: inv.scope.owner,
            address: inv.recipient.address().clone(),
            reason: SuppressionReason::HardBounce,
            at: now,
        }));
    } else if next.delivery != DeliveryState::HardBounced {
        next.delivery = DeliveryState::SoftBounced;
    }
    changes.push(Change::UpdateInvitation {
        expected: inv.version,
        invitation: next,
    });
    changes.push(Change::AppendHistory(HistoryEntry {
        token: inv.token.clone(),
        at: now,
        kind: HistoryKind::Bounced {
            permanent,
            detail: detail.chars().take(500).collect(),
        },
    }));
    changes
}

/// Why a refresh (a recipient asking for the current version) is refused:
/// the event or the invitation is cancelled, the event is over, or the
/// address is suppressed.
fn refresh_refusal(
    event: &StoredEvent,
    inv: &Invitation,
    suppression: Option<&Suppression>,
    now: DateTime<Utc>,
) -> Option<Refusal> {
    if event.cancelled || inv.cancelled {
        Some(Refusal::new(
            RefusalReason::EventCancelled,
            "the event is cancelled",
        ))
    } else if engine::has_ended(&event.latest, now) {
        Some(Refusal::new(RefusalReason::EventEnded, "the event is over"))
    } else {
        suppression.map(|s| {
            Refusal::new(
                RefusalReason::Suppressed,
                format!("the address is suppressed ({})", s.reason.as_str()),
            )
        })
    }
}

/// Why a web answer for `instance` of `event` is refused: the event does
/// not repeat, or `instance` is none of its occurrences.
fn instance_refusal(event: &Event, instance: OccurrenceId) -> Option<Refusal> {
    if !event.is_recurring() {
        return Some(Refusal::new(
            RefusalReason::NoAnswer,
            "the event does not repeat: answer it as a whole",
        ));
    }
    (!crate::occurrences::is_occurrence(event, instance)).then(|| {
        Refusal::new(
            RefusalReason::NoAnswer,
            "the event has no occurrence at that time",
        )
    })
}

/// The current revision (`sequence`) queued again for an invitation, as a
/// new copy (its own message key), and the invitation holding it.
fn resend_changes(inv: &Invitation, sequence: Sequence, now: DateTime<Utc>) -> Vec<Change> {
    let mut next = inv.clone();
    next.copies += 1;
    next.sequence_held = Some(sequence);
    let mut changes =
        queue_invitation(inv, MessageKind::Invitation, sequence, next.copies, now).to_vec();
    changes.push(Change::UpdateInvitation {
        expected: inv.version,
        invitation: next,
    });
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::EventCode;
    use crate::time::Schedule;
    use chrono::{NaiveDate, TimeZone as _};

    fn event(cancelled: bool) -> StoredEvent {
        let code = EventCode::generate(&crate::SequentialIds::new(9));
        let day = NaiveDate::from_ymd_opt(2026, 12, 1).expect("day");
        let latest = Event::builder(code.clone())
            .summary("Invoice due")
            .schedule(Schedule::all_day(day, day).expect("schedule"))
            .organizer(EmailAddress::parse("billing@example.com").expect("a"), None)
            .build()
            .expect("event");
        StoredEvent {
            scope: Scope {
                owner: OwnerId(1),
                organizer: crate::lifecycle::model::OrganizerId(1),
            },
            code,
            organizer_uid: None,
            organizer_sequence: Sequence::INITIAL,
            organizer_stamp: None,
            latest,
            raw_calendar: None,
            sent_sequence: Sequence::INITIAL,
            cancelled,
            created_at: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
            version: 0,
        }
    }

    fn invitation(e: &StoredEvent) -> Invitation {
        Invitation {
            scope: e.scope,
            code: e.code.clone(),
            token: InvitationToken::generate(&crate::SequentialIds::new(1)),
            recipient: Recipient::new(EmailAddress::parse("jorg@example.org").expect("a")),
            source: InvitationSource::Api,
            created_at: e.created_at,
            sent_at: None,
            sequence_held: Some(Sequence::INITIAL),
            cancelled: false,
            status: None,
            answered_at: None,
            instance_answers: Vec::new(),
            marks: Vec::new(),
            delivery: DeliveryState::Queued,
            copies: 0,
            version: 3,
        }
    }

    #[test]
    fn refresh_is_refused_for_cancelled_ended_or_suppressed() {
        let before = Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap();
        let after = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
        let live = event(false);
        let inv = invitation(&live);
        assert_eq!(refresh_refusal(&live, &inv, None, before), None);
        let reason = |r: Option<Refusal>| r.map(|r| r.reason);
        assert_eq!(
            reason(refresh_refusal(&event(true), &inv, None, before)),
            Some(RefusalReason::EventCancelled)
        );
        assert_eq!(
            reason(refresh_refusal(&live, &inv, None, after)),
            Some(RefusalReason::EventEnded)
        );
        let s = Suppression {
            owner: OwnerId(1),
            address: inv.recipient.address().clone(),
            reason: SuppressionReason::Unsubscribed,
            at: before,
        };
        assert_eq!(
            reason(refresh_refusal(&live, &inv, Some(&s), before)),
            Some(RefusalReason::Suppressed)
        );
    }

    #[test]
    fn a_resend_is_a_new_copy_of_the_current_revision() {
        let live = event(false);
        let inv = invitation(&live);
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap();
        let changes = resend_changes(&inv, Sequence::INITIAL.next(), now);
        assert_eq!(changes.len(), 3);
        let Change::Enqueue(d) = &changes[0] else {
            panic!("first change queues")
        };
        assert!(matches!(d.payload, Payload::Invitation { copy: 1, .. }));
        let Change::UpdateInvitation {
            expected,
            invitation,
        } = &changes[2]
        else {
            panic!("last change moves the invitation")
        };
        assert_eq!(*expected, 3);
        assert_eq!(invitation.copies, 1);
        assert_eq!(invitation.sequence_held, Some(Sequence::INITIAL.next()));
    }

    #[test]
    fn a_web_answer_names_an_occurrence_of_a_repeating_event_or_is_refused() {
        use super::super::fixtures;
        let weekly = fixtures::weekly();
        let on = |d| OccurrenceId::On(NaiveDate::from_ymd_opt(2026, 12, d).expect("day"));
        assert_eq!(instance_refusal(&weekly.latest, on(8)), None);
        assert_eq!(instance_refusal(&weekly.latest, on(22)), None);
        let reason = |r: Option<Refusal>| r.map(|r| r.reason);
        // The fifth week is past COUNT=4; a Wednesday is no instance.
        assert_eq!(
            reason(instance_refusal(&weekly.latest, on(29))),
            Some(RefusalReason::NoAnswer)
        );
        assert_eq!(
            reason(instance_refusal(&weekly.latest, on(2))),
            Some(RefusalReason::NoAnswer)
        );
        let once = fixtures::event("Invoice due", false);
        let refused = instance_refusal(&once.latest, on(1)).expect("refused");
        assert!(
            refused.detail.contains("does not repeat"),
            "{}",
            refused.detail
        );
    }

    #[test]
    fn a_hard_bounce_suppresses_and_a_soft_one_does_not() {
        let live = event(false);
        let inv = invitation(&live);
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap();
        let hard = bounce_changes(&inv, true, "550", now);
        assert!(matches!(hard[0], Change::Suppress(_)));
        let soft = bounce_changes(&inv, false, "451", now);
        assert!(!soft.iter().any(|c| matches!(c, Change::Suppress(_))));
        let delivered = delivered_changes(&inv, now);
        let Change::UpdateInvitation { invitation, .. } = &delivered[0] else {
            panic!()
        };
        assert_eq!(invitation.delivery, DeliveryState::Delivered);
    }
}
