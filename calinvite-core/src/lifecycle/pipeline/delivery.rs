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

use std::collections::HashMap;

use super::answers::{bounce_changes, bounced_announcement};
use super::*;
use crate::lifecycle::store::Settle;
use crate::lifecycle::transport::TransportError;

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

    /// Makes claimed messages ready to send: each one's bytes (an
    /// invitation composed from its revision, a notice as prepared when it
    /// was queued), or why it must no longer go out (unsendable; superseded
    /// while it waited: the event cancelled, the address suppressed, a newer
    /// revision queued). The batch's invitations, owners, settings, events
    /// and suppressions are read together: a few queries for the batch, not
    /// several per message.
    ///
    /// Hand each [`Prepared::message`] to the transport, record its answer
    /// with [`Prepared::answered`], then record them all with
    /// [`settle_sends`](Self::settle_sends) (or use
    /// [`deliver_batch`](Self::deliver_batch), which does all three, one
    /// message at a time).
    pub async fn prepare(&self, claimed: Vec<Delivery>) -> Result<Vec<Prepared>, PipelineError> {
        let now = self.now();
        let tokens: Vec<InvitationToken> = claimed
            .iter()
            .filter_map(|d| match &d.payload {
                Payload::Invitation { token, .. } => Some(token.clone()),
                Payload::Prepared { .. } => None,
            })
            .collect();
        let mut invitations: HashMap<InvitationToken, Invitation> = HashMap::new();
        if !tokens.is_empty() {
            for inv in self.store.invitations_among(&tokens).await? {
                invitations.insert(inv.token.clone(), inv);
            }
        }
        let mut read = BatchReads::default();
        for inv in invitations.values() {
            let owner = inv.scope.owner;
            if let std::collections::hash_map::Entry::Vacant(e) = read.owners.entry(owner) {
                e.insert(self.owner(owner).await?);
            }
            if !read.settings.contains_key(&inv.scope) {
                let settings = self.settings_of(&read.owners[&owner], inv.scope).await?;
                read.settings.insert(inv.scope, settings);
            }
            if let std::collections::hash_map::Entry::Vacant(e) =
                read.cancelled.entry((owner, inv.code.clone()))
            {
                let event = self.store.event(owner, &inv.code).await?;
                e.insert(event.is_some_and(|e| e.cancelled));
            }
            read.addresses
                .entry(owner)
                .or_default()
                .push(inv.recipient.address().clone());
        }
        for (owner, addresses) in std::mem::take(&mut read.addresses) {
            for s in self.store.suppressions_among(owner, &addresses).await? {
                read.suppressed.insert((owner, s.address.clone()), s);
            }
        }
        let mut out = Vec::with_capacity(claimed.len());
        let mut made = BatchMade::default();
        for delivery in claimed {
            let ready = self
                .ready(&delivery, &mut invitations, &read, &mut made, now)
                .await?;
            out.push(Prepared {
                delivery,
                ready,
                answer: None,
            });
        }
        Ok(out)
    }

    /// One claimed message's bytes, or why it must not go out.
    async fn ready(
        &self,
        delivery: &Delivery,
        invitations: &mut HashMap<InvitationToken, Invitation>,
        read: &BatchReads,
        made: &mut BatchMade,
        now: DateTime<Utc>,
    ) -> Result<Ready, PipelineError> {
        let (code, token, kind, sequence, copy) = match &delivery.payload {
            Payload::Prepared { from, to, bytes } => {
                return Ok(Ready::Send {
                    envelope: crate::compose::Envelope::new(from.clone(), to.clone()),
                    bytes: bytes.clone(),
                    invitation: None,
                });
            }
            Payload::Invitation {
                code,
                token,
                kind,
                sequence,
                copy,
            } => (code, token, *kind, *sequence, *copy),
        };
        // Written in one transaction with its message: a message without
        // its invitation is a damaged store. The message is set aside
        // (claimed again, it would fail again, forever).
        let Some(inv) = invitations.remove(token) else {
            return Ok(Ready::Refused {
                reason: "not sent: its invitation is missing from the store".into(),
                record: None,
                invitation: None,
            });
        };
        let owner = &read.owners[&inv.scope.owner];
        let settings = &read.settings[&inv.scope];
        let unsendable = |reason: String| {
            let r = Refusal::new(RefusalReason::Unsendable, reason.clone());
            Ready::Refused {
                record: Some(refusal_record(delivery.owner, None, None, &r, now)),
                reason,
                invitation: Some(inv.clone()),
            }
        };
        let revision = self.revision(code, sequence).await?;
        // A batch's messages mostly come from one owner and organizer: the
        // composer is made once per batch.
        let composer = made
            .composers
            .entry(inv.scope)
            .or_insert_with(|| self.composer(owner, settings));
        let uid = match InvitationUid::new(code.clone(), token.clone(), &owner.mail_domain) {
            Ok(u) => u,
            Err(e) => return Ok(unsendable(e.to_string())),
        };
        let message = match composer.compose_copy(kind, &revision, &inv.recipient, &uid, now, copy)
        {
            Ok(m) => m,
            Err(e) => return Ok(unsendable(e.to_string())),
        };
        if let Some(reason) = self.superseded(delivery, &inv, read).await? {
            return Ok(Ready::Refused {
                reason,
                record: None,
                invitation: Some(inv),
            });
        }
        let envelope = message.envelope().clone();
        Ok(Ready::Send {
            envelope,
            bytes: message.into_bytes(),
            invitation: Some(inv),
        })
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
        read: &BatchReads,
    ) -> Result<Option<String>, PipelineError> {
        let suppression = read
            .suppressed
            .get(&(inv.scope.owner, inv.recipient.address().clone()));
        // A cancellation to an address whose mail hard-bounced since it was
        // queued (on this owner's mail for any event) would only bounce
        // again (manual: targeting, hard bounces across events).
        if let Payload::Invitation {
            kind: MessageKind::Cancellation,
            ..
        } = &delivery.payload
        {
            let bounced = suppression.is_some_and(|s| s.reason == SuppressionReason::HardBounce);
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
            || read
                .cancelled
                .get(&(inv.scope.owner, inv.code.clone()))
                .copied()
                .unwrap_or(false)
        {
            return Ok(Some("superseded: the event was cancelled".into()));
        }
        // An address suppressed after the request was queued (unsubscribed,
        // bounced elsewhere) gets no more requests (manual: design D12).
        if let Some(s) = suppression {
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
    pub async fn deliver(&self, delivery: Delivery) -> Result<DeliveryReport, PipelineError> {
        let key = delivery.key.clone();
        self.deliver_batch(vec![delivery])
            .await?
            .pop()
            .unwrap_or_else(|| Err(PipelineError::NotFound(format!("delivery {key}"))))
    }

    /// Prepares claimed messages, hands them to the transport one after the
    /// other, and records every outcome together: one result per message,
    /// in order. (The `Worker` of the `calinvite` crate sends a batch's
    /// messages concurrently over the relay's connections.)
    pub async fn deliver_batch(
        &self,
        claimed: Vec<Delivery>,
    ) -> Result<Vec<Result<DeliveryReport, PipelineError>>, PipelineError> {
        let mut prepared = self.prepare(claimed).await?;
        for p in &mut prepared {
            if let Some((envelope, bytes)) = p.message() {
                let answer = self.transport.send_raw(envelope, bytes).await;
                p.answered(answer);
            }
        }
        self.settle_sends(prepared).await
    }

    /// Records what became of prepared messages: sent, retried later with
    /// backoff, or failed (a bounce recorded on the invitation). The batch
    /// is settled together ([`Store::settle_all`]: one transaction on a
    /// database); a message whose invitation moved meanwhile (an answer came
    /// in) is decided again on a fresh read, and one whose lease ran out —
    /// another worker holds it now — is reported
    /// [`LeaseLost`](DeliveryReport::LeaseLost), nothing recorded. A
    /// sendable message with no answer recorded (never handed to the
    /// transport) is queued again at once.
    ///
    /// One result per message, in order; the outer error is the store
    /// failing for the whole batch (its leases run out and the messages are
    /// claimed again).
    pub async fn settle_sends(
        &self,
        prepared: Vec<Prepared>,
    ) -> Result<Vec<Result<DeliveryReport, PipelineError>>, PipelineError> {
        // The send happened: what is recorded of it is the time it ended.
        let now = self.now();
        let mut items = Vec::with_capacity(prepared.len());
        let mut decided = Vec::with_capacity(prepared.len());
        for p in &prepared {
            let jitter = self.jitter_for(p)?;
            let (settlement, changes, report) =
                p.outcome(p.invitation(), now, jitter, &self.options);
            items.push(Settle {
                lease: p.delivery.lease(),
                settlement,
                changes,
            });
            decided.push(report);
        }
        let results = self.store.settle_all(items).await?;
        let mut out = Vec::with_capacity(prepared.len());
        for ((p, result), report) in prepared.iter().zip(results).zip(decided) {
            let report = match result {
                Ok(()) => Ok(report),
                Err(StoreError::NotLeased { .. }) => Ok(lease_lost(p)),
                // The invitation moved since it was read: decide again.
                Err(StoreError::Conflict(_)) => self.settle_again(p, now).await,
                Err(e) => Err(e.into()),
            };
            if let Ok(report) = &report {
                self.delivered(report);
            }
            out.push(report);
        }
        Ok(out)
    }

    /// Settles one message again on a fresh read of its invitation.
    async fn settle_again(
        &self,
        p: &Prepared,
        now: DateTime<Utc>,
    ) -> Result<DeliveryReport, PipelineError> {
        let token = p.invitation().map(|i| i.token.clone());
        let lease = p.delivery.lease();
        let settled = self
            .retrying("delivery record", || async {
                let inv = match &token {
                    Some(t) => self.store.invitation(t).await?,
                    None => None,
                };
                let jitter = self.jitter_for(p)?;
                let (settlement, changes, report) =
                    p.outcome(inv.as_ref(), now, jitter, &self.options);
                self.store.settle(&lease, settlement, changes).await?;
                Ok(report)
            })
            .await;
        match settled {
            Err(PipelineError::Store(StoreError::NotLeased { .. })) => Ok(lease_lost(p)),
            other => other,
        }
    }

    /// The retry jitter (0–1) for a transient failure; 0 for any other.
    fn jitter_for(&self, p: &Prepared) -> Result<f64, PipelineError> {
        if !matches!(&p.answer, Some(Err(e)) if e.is_transient()) {
            return Ok(0.0);
        }
        let mut b = [0u8; 2];
        self.fill_ids(&mut b)?;
        Ok(f64::from(u16::from_be_bytes(b)) / f64::from(u16::MAX))
    }

    /// Counts and logs one recorded outcome.
    fn delivered(&self, report: &DeliveryReport) {
        self.metrics.delivery(report);
        let outcome = match report {
            DeliveryReport::Sent(_) => "sent",
            DeliveryReport::Retrying(..) => "retrying",
            DeliveryReport::Failed(..) => "failed",
            DeliveryReport::LeaseLost(_) => "lease_lost",
        };
        tracing::debug!(outcome, "delivered");
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
            loop {
                let now = self.now();
                let lease = now + chrono::TimeDelta::seconds(self.options.lease_seconds);
                let claimed = self
                    .store
                    .claim(now, lease, self.options.batch.max(1))
                    .await?;
                if claimed.is_empty() {
                    break;
                }
                for report in self.deliver_batch(claimed).await? {
                    report?;
                    attempts += 1;
                }
                progressed = true;
            }
            if !progressed {
                return Ok(attempts);
            }
        }
    }
}

/// What [`Pipeline::prepare`] makes once per batch and uses for each of
/// its messages.
#[derive(Default)]
struct BatchMade {
    /// Per scope: an owner's composer with the organizer's settings.
    composers: HashMap<Scope, Composer>,
}

/// What [`Pipeline::prepare`] reads once for a batch.
#[derive(Default)]
struct BatchReads {
    owners: HashMap<OwnerId, DomainOwner>,
    settings: HashMap<Scope, Settings>,
    /// Whether each (owner, event) is cancelled.
    cancelled: HashMap<(OwnerId, EventCode), bool>,
    /// The batch's recipients, per owner (to ask for suppressions).
    addresses: HashMap<OwnerId, Vec<EmailAddress>>,
    suppressed: HashMap<(OwnerId, EmailAddress), Suppression>,
}

/// A claimed message made ready to send by [`Pipeline::prepare`]: its
/// envelope and bytes ([`message`](Self::message)), or the reason it must
/// not go out; then the transport's answer ([`answered`](Self::answered)),
/// recorded by [`Pipeline::settle_sends`].
#[derive(Debug)]
pub struct Prepared {
    delivery: Delivery,
    ready: Ready,
    answer: Option<Result<(), TransportError>>,
}

#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per message of a batch, made once and moved a few times; nearly all are Send"
)]
enum Ready {
    Send {
        envelope: crate::compose::Envelope,
        bytes: Vec<u8>,
        /// The invitation as read to compose it.
        invitation: Option<Invitation>,
    },
    /// Set aside as failed, with why (and a refusal for reports).
    Refused {
        reason: String,
        record: Option<Change>,
        /// The invitation, when it was found (to announce the failure).
        invitation: Option<Invitation>,
    },
}

impl Prepared {
    /// The queued message.
    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// What to hand to the transport; `None` when the message must not go
    /// out (it is recorded as failed, with why).
    pub fn message(&self) -> Option<(&crate::compose::Envelope, &[u8])> {
        match &self.ready {
            Ready::Send {
                envelope, bytes, ..
            } => Some((envelope, bytes)),
            Ready::Refused { .. } => None,
        }
    }

    /// Records the transport's answer.
    pub fn answered(&mut self, answer: Result<(), TransportError>) {
        self.answer = Some(answer);
    }

    fn invitation(&self) -> Option<&Invitation> {
        match &self.ready {
            Ready::Send { invitation, .. } => invitation.as_ref(),
            Ready::Refused { .. } => None,
        }
    }

    /// The pure decision: what to record of this message, given its
    /// invitation as it stands (`inv`), the time and the retry jitter.
    fn outcome(
        &self,
        inv: Option<&Invitation>,
        now: DateTime<Utc>,
        jitter: f64,
        options: &PipelineOptions,
    ) -> (Settlement, Vec<Change>, DeliveryReport) {
        let key = self.delivery.key.clone();
        let max_attempts = options.max_attempts;
        let answer = match (&self.ready, &self.answer) {
            (
                Ready::Refused {
                    reason,
                    record,
                    invitation,
                },
                _,
            ) => {
                let mut changes: Vec<Change> = record.iter().cloned().collect();
                if options.announce {
                    changes.extend(
                        invitation
                            .as_ref()
                            .and_then(|i| self.failed(i, reason, now))
                            .map(Change::Announce),
                    );
                }
                return (
                    Settlement::Failed(reason.clone()),
                    changes,
                    DeliveryReport::Failed(key, reason.clone()),
                );
            }
            (Ready::Send { .. }, None) => {
                let error = "not sent: the worker stopped before handing it to the transport";
                return (
                    Settlement::Retry {
                        due: now,
                        error: error.to_owned(),
                    },
                    Vec::new(),
                    DeliveryReport::Retrying(key, now),
                );
            }
            (Ready::Send { .. }, Some(answer)) => answer,
        };
        let attempts = self.delivery.attempts;
        match answer {
            Ok(()) => {
                let mut changes = inv
                    .map(|i| sent_changes(i, &self.delivery, now))
                    .unwrap_or_default();
                if options.announce
                    && let (Some(i), Payload::Invitation { kind, sequence, .. }) =
                        (inv, &self.delivery.payload)
                {
                    changes.push(Change::Announce(Announcement::new(
                        i.scope,
                        now,
                        AnnouncementKind::Sent {
                            code: i.code.clone(),
                            address: i.recipient.address().clone(),
                            message: *kind,
                            sequence: *sequence,
                        },
                    )));
                }
                (Settlement::Sent(now), changes, DeliveryReport::Sent(key))
            }
            Err(e) if e.is_transient() && attempts < max_attempts => {
                let due =
                    now + chrono::TimeDelta::seconds(engine::backoff_seconds(attempts, jitter));
                (
                    Settlement::Retry {
                        due,
                        error: e.message().to_owned(),
                    },
                    Vec::new(),
                    DeliveryReport::Retrying(key, due),
                )
            }
            Err(e) => {
                let permanent = e.is_permanent();
                let reason = if permanent {
                    e.message().to_owned()
                } else {
                    format!("gave up after {attempts} attempts: {}", e.message())
                };
                let mut changes = inv
                    .map(|i| bounce_changes(i, permanent, e.message(), now))
                    .unwrap_or_default();
                if options.announce
                    && let Some(i) = inv
                {
                    let announced = if permanent {
                        Some(bounced_announcement(i, true, e.message(), now))
                    } else {
                        self.failed(i, &reason, now)
                    };
                    changes.extend(announced.map(Change::Announce));
                }
                (
                    Settlement::Failed(reason.clone()),
                    changes,
                    DeliveryReport::Failed(key, reason),
                )
            }
        }
    }

    /// This invitation message will not go out, for `reason`.
    fn failed(&self, inv: &Invitation, reason: &str, now: DateTime<Utc>) -> Option<Announcement> {
        let Payload::Invitation { kind, sequence, .. } = &self.delivery.payload else {
            return None;
        };
        Some(Announcement::new(
            inv.scope,
            now,
            AnnouncementKind::Failed {
                code: inv.code.clone(),
                address: inv.recipient.address().clone(),
                message: *kind,
                sequence: *sequence,
                reason: reason.chars().take(500).collect(),
            },
        ))
    }
}

/// The lease ran out while this worker was sending, and another worker
/// claimed the message since: that worker records the outcome; this one
/// writes nothing.
fn lease_lost(p: &Prepared) -> DeliveryReport {
    tracing::warn!(
        attempt = p.delivery.attempts,
        "lease lost while sending; the worker holding it now records the outcome"
    );
    DeliveryReport::LeaseLost(p.delivery.key.clone())
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
