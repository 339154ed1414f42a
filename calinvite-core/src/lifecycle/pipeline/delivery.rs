//! Room: delivery — the queue. A worker claims a due message for a lease,
//! the pipeline assembles its bytes (an invitation composed from its
//! revision, or a notice prepared when queued), checks that it was not
//! superseded while it waited (the event cancelled, the address suppressed,
//! a newer revision queued), hands it to the [`Transport`], and settles it:
//! sent, retried later with backoff, or failed (a bounce recorded on the
//! invitation).
//!
//! Depends on the shared pipeline helpers, the composer, the engine's
//! backoff and the store. [`sent_changes`] is the pure decision of a send.

use super::answers::bounce_changes;
use super::*;

impl<S: Store, T: Transport> Pipeline<S, T> {
    // ------------------------------------------------------------ delivery

    async fn revision(
        &self,
        code: &EventCode,
        sequence: Sequence,
    ) -> Result<EventRevision, PipelineError> {
        {
            let cache = self
                .revision_cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some((c, s, r)) = cache.as_ref()
                && c == code
                && *s == sequence
            {
                return Ok(r.clone());
            }
        }
        let event =
            self.store
                .revision(code, sequence)
                .await?
                .ok_or_else(|| StoreError::Corrupt {
                    row: format!("revision {code}/{sequence}"),
                    detail: "a queued message names a revision that is missing".into(),
                })?;
        let revision = EventRevision::new(event, sequence);
        *self
            .revision_cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner) =
            Some((code.clone(), sequence, revision.clone()));
        Ok(revision)
    }

    fn composer(&self, owner: &DomainOwner, settings: &Settings) -> Composer {
        let mut options = ComposeOptions::new()
            .product_id(self.options.product_id.clone())
            .template(self.options.template.clone())
            .return_path(owner.bounce.clone())
            .own_address(owner.ingest.clone())
            .list_unsubscribe(settings.list_unsubscribe);
        if let Some(base) = &owner.links_base {
            options = options.links_base(base.clone());
        }
        Composer::new(SenderIdentity::new(owner.reply.clone(), None), options)
    }

    /// Assembles a queued message's bytes.
    async fn assemble(
        &self,
        delivery: &Delivery,
        now: DateTime<Utc>,
    ) -> Result<
        Result<(crate::compose::Envelope, Vec<u8>, Option<Invitation>), String>,
        PipelineError,
    > {
        match &delivery.payload {
            Payload::Prepared { from, to, bytes } => Ok(Ok((
                crate::compose::Envelope::new(from.clone(), to.clone()),
                bytes.clone(),
                None,
            ))),
            Payload::Invitation {
                code,
                token,
                kind,
                sequence,
                copy,
            } => {
                let owner = self.owner(delivery.owner).await?;
                let inv =
                    self.store
                        .invitation(token)
                        .await?
                        .ok_or_else(|| StoreError::Corrupt {
                            row: format!("delivery {}", delivery.key),
                            detail: "its invitation is missing".into(),
                        })?;
                let settings = self.settings_of(&owner, inv.scope).await?;
                let revision = self.revision(code, *sequence).await?;
                let uid = match InvitationUid::new(code.clone(), token.clone(), &owner.mail_domain)
                {
                    Ok(u) => u,
                    Err(e) => return Ok(Err(e.to_string())),
                };
                match self.composer(&owner, &settings).compose_copy(
                    *kind,
                    &revision,
                    &inv.recipient,
                    &uid,
                    now,
                    *copy,
                ) {
                    Ok(m) => {
                        let envelope = m.envelope().clone();
                        Ok(Ok((envelope, m.into_bytes(), Some(inv))))
                    }
                    Err(e) => Ok(Err(e.to_string())),
                }
            }
        }
    }

    /// Why a queued REQUEST must no longer go out: while it waited (queued
    /// behind a fan-out, or for a retry), the event was cancelled or a newer
    /// REQUEST for the invitation was queued. Sent after those, it would ask
    /// the recipient to attend a cancelled event, or show them a SEQUENCE
    /// lower than one they hold ([D2](crate::manual::design#d2)).
    async fn superseded(
        &self,
        delivery: &Delivery,
        inv: &Invitation,
    ) -> Result<Option<String>, PipelineError> {
        // A cancellation to an address whose mail hard-bounced since it was
        // queued (on this owner's mail for any event) would only bounce
        // again (manual: targeting, hard bounces across events).
        if let Payload::Invitation {
            kind: MessageKind::Cancellation,
            ..
        } = &delivery.payload
        {
            let bounced = self
                .store
                .suppression(inv.scope.owner, inv.recipient.address())
                .await?
                .is_some_and(|s| s.reason == SuppressionReason::HardBounce);
            return Ok(bounced.then(|| "not sent: the address hard-bounced since".to_owned()));
        }
        let Payload::Invitation {
            kind: MessageKind::Invitation | MessageKind::Update,
            sequence,
            ..
        } = &delivery.payload
        else {
            return Ok(None);
        };
        // Its cancellation may not be queued (a hard bounce gets none; manual: design D5).
        if inv.cancelled
            || (self.store.event(inv.scope.owner, &inv.code).await?).is_some_and(|e| e.cancelled)
        {
            return Ok(Some("superseded: the event was cancelled".into()));
        }
        // An address suppressed after the request was queued (unsubscribed,
        // bounced elsewhere) gets no more requests (manual: design D12).
        if let Some(s) = self
            .store
            .suppression(inv.scope.owner, inv.recipient.address())
            .await?
        {
            return Ok(Some(format!(
                "suppressed since it was queued ({})",
                s.reason.as_str()
            )));
        }
        let Some(held) = inv.sequence_held.filter(|h| h > sequence) else {
            return Ok(None);
        };
        let newer = IdempotencyKey::new(inv.token.clone(), held, Method::Request, 0);
        Ok(self
            .store
            .delivery(&DeliveryKey::Invitation(newer))
            .await?
            .map(|_| format!("superseded by SEQUENCE {held}")))
    }

    /// Claims and sends one queued message that is due. `None` when nothing is.
    pub async fn deliver_one(&self) -> Result<Option<DeliveryReport>, PipelineError> {
        let now = self.now();
        let lease = now + chrono::TimeDelta::seconds(self.options.lease_seconds);
        let Some(delivery) = self.store.claim(now, lease, 1).await?.into_iter().next() else {
            return Ok(None);
        };
        Ok(Some(self.deliver(delivery).await?))
    }

    /// Sends one claimed message and records the outcome.
    ///
    /// Reads the clock twice: when it assembles the message, and when the
    /// transport has answered (the send is I/O; what is recorded of it, the
    /// time sent or the next attempt, is the time it ended).
    #[tracing::instrument(name = "deliver", skip_all, fields(owner = delivery.owner.0, attempt = delivery.attempts, outcome))]
    pub async fn deliver(&self, delivery: Delivery) -> Result<DeliveryReport, PipelineError> {
        let report = self.deliver_now(delivery).await;
        if let Ok(report) = &report {
            self.metrics.delivery(report);
            let outcome = match report {
                DeliveryReport::Sent(_) => "sent",
                DeliveryReport::Retrying(..) => "retrying",
                DeliveryReport::Failed(..) => "failed",
                DeliveryReport::LeaseLost(_) => "lease_lost",
            };
            tracing::Span::current().record("outcome", outcome);
            tracing::info!(outcome, "delivered");
        }
        report
    }

    async fn deliver_now(&self, delivery: Delivery) -> Result<DeliveryReport, PipelineError> {
        let key = delivery.key.clone();
        let lease = delivery.lease();
        match self.attempt(delivery, &lease).await {
            // The lease ran out while this worker was sending, and another
            // worker claimed the message since: that worker records the
            // outcome; this one writes nothing.
            Err(PipelineError::Store(StoreError::NotLeased { .. })) => {
                tracing::warn!(
                    attempt = lease.attempt,
                    "lease lost while sending; the worker holding it now records the outcome"
                );
                Ok(DeliveryReport::LeaseLost(key))
            }
            other => other,
        }
    }

    async fn attempt(
        &self,
        delivery: Delivery,
        lease: &Lease,
    ) -> Result<DeliveryReport, PipelineError> {
        let assembled_at = self.now();
        let key = delivery.key.clone();
        let (envelope, bytes, invitation) = match self.assemble(&delivery, assembled_at).await? {
            Ok(x) => x,
            Err(reason) => {
                let r = Refusal::new(RefusalReason::Unsendable, reason.clone());
                let record = refusal_record(delivery.owner, None, None, &r, assembled_at);
                self.store
                    .settle(lease, Settlement::Failed(reason.clone()), vec![record])
                    .await?;
                return Ok(DeliveryReport::Failed(key, reason));
            }
        };
        if let Some(inv) = &invitation
            && let Some(reason) = self.superseded(&delivery, inv).await?
        {
            self.store
                .settle(lease, Settlement::Failed(reason.clone()), Vec::new())
                .await?;
            return Ok(DeliveryReport::Failed(key, reason));
        }
        let result = self.transport.send_raw(&envelope, &bytes).await;
        let now = self.now();
        let token = invitation.as_ref().map(|i| i.token.clone());
        // The send happened: record it even if the invitation moved meanwhile.
        // The first attempt writes on the invitation as read to assemble the
        // message; if it moved since, that write conflicts and is decided
        // again on a fresh read.
        let read = Mutex::new(invitation);
        let (read, token, result, delivery, key) = (&read, &token, &result, &delivery, &key);
        self.retrying("delivery record", || async move {
            let taken = read.lock().unwrap_or_else(PoisonError::into_inner).take();
            let inv = match (taken, token) {
                (Some(i), _) => Some(i),
                (None, Some(t)) => self.store.invitation(t).await?,
                (None, None) => None,
            };
            let (settlement, changes, report) = match result {
                Ok(()) => {
                    let changes = inv
                        .map(|i| sent_changes(&i, delivery, now))
                        .unwrap_or_default();
                    (
                        Settlement::Sent(now),
                        changes,
                        DeliveryReport::Sent(key.clone()),
                    )
                }
                Err(e) if e.is_transient() && delivery.attempts < self.options.max_attempts => {
                    let mut b = [0u8; 2];
                    self.fill_ids(&mut b)?;
                    let jitter = f64::from(u16::from_be_bytes(b)) / f64::from(u16::MAX);
                    let due = now
                        + chrono::TimeDelta::seconds(engine::backoff_seconds(
                            delivery.attempts,
                            jitter,
                        ));
                    (
                        Settlement::Retry {
                            due,
                            error: e.message().to_owned(),
                        },
                        Vec::new(),
                        DeliveryReport::Retrying(key.clone(), due),
                    )
                }
                Err(e) => {
                    let permanent = e.is_permanent();
                    let reason = if permanent {
                        e.message().to_owned()
                    } else {
                        format!(
                            "gave up after {} attempts: {}",
                            delivery.attempts,
                            e.message()
                        )
                    };
                    let changes = inv
                        .map(|i| bounce_changes(&i, permanent, e.message(), now))
                        .unwrap_or_default();
                    (
                        Settlement::Failed(reason.clone()),
                        changes,
                        DeliveryReport::Failed(key.clone(), reason),
                    )
                }
            };
            self.store.settle(lease, settlement, changes).await?;
            Ok(report)
        })
        .await
    }

    /// Plans every fan-out and sends every due message; returns how many
    /// messages were handed to the transport (accepted or not).
    pub async fn run_until_idle(&self) -> Result<usize, PipelineError> {
        let mut attempts = 0;
        loop {
            let mut progressed = false;
            while self.step_fan_out().await? {
                progressed = true;
            }
            while self.deliver_one().await?.is_some() {
                attempts += 1;
                progressed = true;
            }
            if !progressed {
                return Ok(attempts);
            }
        }
    }
}

/// The state changes of a relay accepting a message.
fn sent_changes(inv: &Invitation, delivery: &Delivery, now: DateTime<Utc>) -> Vec<Change> {
    let sequence = match &delivery.payload {
        Payload::Invitation { sequence, .. } => *sequence,
        Payload::Prepared { .. } => return Vec::new(),
    };
    let mut next = inv.clone();
    next.sent_at.get_or_insert(now);
    if matches!(
        next.delivery,
        DeliveryState::Queued | DeliveryState::SoftBounced
    ) {
        next.delivery = DeliveryState::Sent;
    }
    vec![
        Change::UpdateInvitation {
            expected: inv.version,
            invitation: next,
        },
        Change::AppendHistory(HistoryEntry {
            token: inv.token.clone(),
            at: now,
            kind: HistoryKind::Sent { sequence },
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    fn queued(inv: &Invitation, sequence: Sequence) -> Delivery {
        Delivery {
            key: DeliveryKey::Invitation(IdempotencyKey::new(
                inv.token.clone(),
                sequence,
                Method::Request,
                0,
            )),
            owner: OwnerId(1),
            payload: Payload::Invitation {
                code: inv.code.clone(),
                token: inv.token.clone(),
                kind: MessageKind::Update,
                sequence,
                copy: 0,
            },
            attempts: 1,
            due: before(),
            state: QueueState::Queued,
            last_error: None,
            group: None,
        }
    }

    #[test]
    fn a_first_send_marks_the_invitation_sent_and_records_it() {
        let e = event("Launch", false);
        let inv = invitation(&e, 1, "jorg@example.org", None, DeliveryState::Queued);
        let s1 = Sequence::INITIAL.next();
        let mut next = inv.clone();
        next.sent_at = Some(before());
        next.delivery = DeliveryState::Sent;
        assert_eq!(
            sent_changes(&inv, &queued(&inv, s1), before()),
            vec![
                Change::UpdateInvitation {
                    expected: 3,
                    invitation: next,
                },
                Change::AppendHistory(HistoryEntry {
                    token: inv.token.clone(),
                    at: before(),
                    kind: HistoryKind::Sent { sequence: s1 },
                }),
            ]
        );
    }

    #[test]
    fn a_later_send_keeps_the_first_send_time_and_a_better_delivery_state() {
        let e = event("Launch", false);
        let first = before() - chrono::Duration::days(3);
        let state_after = |delivery| {
            let mut inv = invitation(&e, 1, "jorg@example.org", None, delivery);
            inv.sent_at = Some(first);
            match &sent_changes(&inv, &queued(&inv, Sequence::INITIAL), before())[0] {
                Change::UpdateInvitation { invitation, .. } => {
                    assert_eq!(invitation.sent_at, Some(first));
                    invitation.delivery
                }
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(state_after(DeliveryState::SoftBounced), DeliveryState::Sent);
        assert_eq!(state_after(DeliveryState::Sent), DeliveryState::Sent);
        assert_eq!(
            state_after(DeliveryState::Delivered),
            DeliveryState::Delivered
        );
        assert_eq!(
            state_after(DeliveryState::HardBounced),
            DeliveryState::HardBounced
        );
    }

    #[test]
    fn a_notice_sent_changes_no_invitation() {
        let e = event("Launch", false);
        let inv = invitation(&e, 1, "jorg@example.org", None, DeliveryState::Queued);
        let mut notice = queued(&inv, Sequence::INITIAL);
        notice.payload = Payload::Prepared {
            from: address("bounces@events.example.com"),
            to: organizer(),
            bytes: b"Subject: x\r\n\r\nx".to_vec(),
        };
        assert_eq!(sent_changes(&inv, &notice, before()), Vec::new());
    }
}
