//! The [`Pipeline`]: reads from a [`Store`], applies the engine's rules at the
//! time its [`Clock`] says, commits the result, and hands queued messages to a
//! [`Transport`]. It performs no I/O of its own: the store and the transport
//! do, and in tests both are in memory.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};

use super::engine;
use super::model::{
    Delivery, DeliveryKey, DeliveryState, DomainOwner, FanOut, FanOutAudience, HistoryEntry,
    HistoryKind, Invitation, InvitationSource, OrganizerAccount, OwnerId, Payload, PendingChange,
    PendingKind, PendingState, PlannedMessage, QueueState, Refusal, RefusalReason, RefusalRecord,
    Scope, Settings, StoredEvent, Suppression, SuppressionReason,
};
use super::notice::{Attachment, write_notice};
use super::store::{Change, Settlement, Store, StoreError};
use super::transport::Transport;
use crate::address::EmailAddress;
use crate::clock::{Clock, IdSource};
use crate::compose::{ComposeOptions, Composer, IdempotencyKey};
use crate::event::{Event, EventRevision, ParticipationStatus, Recipient, SenderIdentity};
use crate::ics::Method;
use crate::ids::{EventCode, InvitationToken, InvitationUid, Sequence};
use crate::inbound::{
    AuthVerdict, InboundEnvelope, InboundKind, InboundLimits, InboundMessage, OrganizerCancel,
    OrganizerRequest, Reply, RequestScope,
};
use crate::targeting;
use crate::template::{DefaultTemplate, MessageKind, Template};

// Delivery notices from a sending service's own channel (SES notifications).
pub(super) mod notices_in;

/// A pipeline call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The request was refused; the reason is typed and recorded.
    #[error("refused: {0}")]
    Refused(Refusal),
    /// The caller named something that is not theirs or does not exist
    /// (a caller mistake, not bad input from the network).
    #[error("not found: {0}")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Refusal> for PipelineError {
    fn from(r: Refusal) -> Self {
        PipelineError::Refused(r)
    }
}

/// What handling an inbound message or a command did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// A new event was adopted under this code; the organizer was told.
    EventCreated(EventCode),
    /// A new revision went out (or is being fanned out) with this SEQUENCE.
    RevisionSent(EventCode, Sequence),
    /// The change waits for approval in this pending change.
    PendingApproval(EventCode, String),
    /// The organizer's message changed nothing that is sent (D3).
    Unchanged(EventCode),
    /// The event was cancelled.
    Cancelled(EventCode),
    /// An invitation was created and its message queued.
    Invited(InvitationToken),
    /// The recipient already had an invitation: nothing new was sent.
    AlreadyInvited(InvitationToken),
    /// An answer was recorded (and applied, unless forwarded or late).
    AnswerRecorded(InvitationToken),
    /// A counter-proposal was recorded and the organizer told.
    CounterRecorded(InvitationToken),
    /// The current revision was queued again for the recipient.
    Resent(InvitationToken),
    /// A delivery report was recorded.
    DeliveryRecorded(InvitationToken),
    /// The address was suppressed.
    Unsubscribed(InvitationToken),
    /// A pending change was approved and sent, or rejected.
    Resolved(String, PendingState),
    /// Refused, with the reason recorded.
    Refused(Refusal),
    /// Nothing to do (an automatic reply, mail that is not a calendar message).
    Ignored(&'static str),
}

/// How a pipeline behaves.
#[derive(Clone)]
#[non_exhaustive]
pub struct PipelineOptions {
    /// Invitations planned per fan-out batch.
    pub batch: usize,
    /// How long a worker holds a claimed message.
    pub lease_seconds: i64,
    /// Attempts before a message is given up.
    pub max_attempts: u32,
    /// PRODID of outgoing calendars.
    pub product_id: String,
    /// The words of messages.
    pub template: Arc<dyn Template>,
    /// Limits on inbound messages.
    pub limits: InboundLimits,
}

impl std::fmt::Debug for PipelineOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineOptions")
            .field("batch", &self.batch)
            .field("lease_seconds", &self.lease_seconds)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            batch: 500,
            lease_seconds: 300,
            max_attempts: 8,
            product_id: crate::compose::DEFAULT_PRODUCT_ID.to_owned(),
            template: Arc::new(DefaultTemplate),
            limits: InboundLimits::default(),
        }
    }
}

/// What happened to one queued message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliveryReport {
    /// The relay accepted it.
    Sent(DeliveryKey),
    /// A transient failure: retried at this time.
    Retrying(DeliveryKey, DateTime<Utc>),
    /// Given up, with the reason.
    Failed(DeliveryKey, String),
}

/// The engine with a store, a transport, a clock and an identifier source.
pub struct Pipeline<S, T> {
    store: S,
    transport: T,
    clock: Arc<dyn Clock>,
    ids: Mutex<Box<dyn IdSource + Send>>,
    options: PipelineOptions,
    revision_cache: Mutex<Option<(EventCode, Sequence, EventRevision)>>,
}

impl<S, T> std::fmt::Debug for Pipeline<S, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// How many times a write that lost a race is decided again.
const RETRIES: usize = 16;

impl<S: Store, T: Transport> Pipeline<S, T> {
    /// A pipeline with default options.
    pub fn new(
        store: S,
        transport: T,
        clock: Arc<dyn Clock>,
        ids: Box<dyn IdSource + Send>,
    ) -> Self {
        Self::with_options(store, transport, clock, ids, PipelineOptions::default())
    }

    /// A pipeline with `options`.
    pub fn with_options(
        store: S,
        transport: T,
        clock: Arc<dyn Clock>,
        ids: Box<dyn IdSource + Send>,
        options: PipelineOptions,
    ) -> Self {
        Pipeline {
            store,
            transport,
            clock,
            ids: Mutex::new(ids),
            options,
            revision_cache: Mutex::new(None),
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The current time, as the clock says.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn with_ids<R>(&self, f: impl FnOnce(&mut dyn IdSource) -> R) -> R {
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut **ids)
    }

    fn token(&self) -> InvitationToken {
        self.with_ids(InvitationToken::generate)
    }

    fn code(&self) -> EventCode {
        self.with_ids(EventCode::generate)
    }

    fn unique_name(&self) -> String {
        self.token().as_str().to_owned()
    }

    async fn owner(&self, id: OwnerId) -> Result<DomainOwner, PipelineError> {
        self.store
            .owner(id)
            .await?
            .ok_or_else(|| PipelineError::NotFound(format!("domain owner {}", id.0)))
    }

    async fn settings(&self, scope: Scope) -> Result<Settings, PipelineError> {
        let owner = self.owner(scope.owner).await?;
        self.settings_of(&owner, scope).await
    }

    /// The organizer's settings, else its owner's (`owner`, already read:
    /// one query less per message delivered).
    async fn settings_of(
        &self,
        owner: &DomainOwner,
        scope: Scope,
    ) -> Result<Settings, PipelineError> {
        let fallback = if owner.id == scope.owner {
            owner.settings
        } else {
            self.owner(scope.owner).await?.settings
        };
        let organizer = self.store.organizer(scope).await?;
        Ok(organizer.and_then(|o| o.settings).unwrap_or(fallback))
    }

    fn refusal_record(
        &self,
        owner: OwnerId,
        scope: Option<Scope>,
        code: Option<&EventCode>,
        refusal: &Refusal,
    ) -> Change {
        Change::Refuse(RefusalRecord {
            owner,
            organizer: scope.map(|s| s.organizer),
            code: code.cloned(),
            at: self.now(),
            refusal: refusal.clone(),
        })
    }

    /// Records a refusal and returns it as an outcome.
    async fn refuse(
        &self,
        owner: OwnerId,
        scope: Option<Scope>,
        code: Option<&EventCode>,
        refusal: Refusal,
        mut also: Vec<Change>,
    ) -> Result<Outcome, PipelineError> {
        also.push(self.refusal_record(owner, scope, code, &refusal));
        self.store.commit(also).await?;
        Ok(Outcome::Refused(refusal))
    }

    fn notice(
        &self,
        owner: &DomainOwner,
        to: &EmailAddress,
        subject: &str,
        body: &str,
        attachment: Option<&Attachment>,
    ) -> Change {
        Change::Enqueue(self.notice_delivery(owner, to, subject, body, attachment))
    }

    fn notice_delivery(
        &self,
        owner: &DomainOwner,
        to: &EmailAddress,
        subject: &str,
        body: &str,
        attachment: Option<&Attachment>,
    ) -> Delivery {
        let name = self.unique_name();
        let message_id = format!("notice.{name}@{}", owner.mail_domain);
        let bytes = write_notice(
            &owner.name,
            &owner.reply,
            to,
            subject,
            body,
            attachment,
            &message_id,
            self.now(),
        );
        Delivery {
            key: DeliveryKey::Notice(name),
            owner: owner.id,
            payload: Payload::Prepared {
                from: owner.bounce.clone(),
                to: to.clone(),
                bytes,
            },
            attempts: 0,
            due: self.now(),
            state: QueueState::Queued,
            last_error: None,
        }
    }

    fn queue_invitation(
        &self,
        invitation: &Invitation,
        kind: MessageKind,
        sequence: Sequence,
        copy: u32,
    ) -> [Change; 2] {
        let method = match kind {
            MessageKind::Invitation | MessageKind::Update => Method::Request,
            _ => Method::Cancel,
        };
        let key = IdempotencyKey::new(invitation.token.clone(), sequence, method, copy);
        [
            Change::Enqueue(Delivery {
                key: DeliveryKey::Invitation(key),
                owner: invitation.scope.owner,
                payload: Payload::Invitation {
                    code: invitation.code.clone(),
                    token: invitation.token.clone(),
                    kind,
                    sequence,
                    copy,
                },
                attempts: 0,
                due: self.now(),
                state: QueueState::Queued,
                last_error: None,
            }),
            Change::AppendHistory(HistoryEntry {
                token: invitation.token.clone(),
                at: self.now(),
                kind: HistoryKind::Queued { kind, sequence },
            }),
        ]
    }

    // ---------------------------------------------------------------- inbound

    /// Reads a message that arrived for one of calinvite's mailboxes and acts
    /// on it. `auth` is the adapter's verdict (D7).
    pub async fn receive(
        &self,
        raw: &[u8],
        envelope: InboundEnvelope,
        auth: AuthVerdict,
    ) -> Result<Outcome, PipelineError> {
        let message = crate::inbound::parse_inbound(raw, &envelope, &auth, &self.options.limits);
        self.handle(message).await
    }

    /// Acts on a parsed inbound message.
    pub async fn handle(&self, message: InboundMessage) -> Result<Outcome, PipelineError> {
        // The owner is the one whose mailbox received it; the first served
        // recipient decides (an adapter accepts mail only for served mailboxes).
        let mut owner = None;
        let mut mailbox = None;
        for rcpt in &message.envelope.rcpt_to {
            if let Ok(a) = EmailAddress::parse(rcpt)
                && let Some(o) = self.store.owner_by_mailbox(&a).await?
            {
                owner = Some(o);
                mailbox = Some(a);
                break;
            }
        }
        let (Some(owner), Some(mailbox)) = (owner, mailbox) else {
            return Ok(Outcome::Refused(Refusal::new(
                RefusalReason::UnknownMailbox,
                "no recipient of the message is a mailbox calinvite serves",
            )));
        };
        match message.kind.clone() {
            InboundKind::OrganizerRequest(req) if mailbox == owner.ingest => {
                self.organizer_request(&owner, &message, req).await
            }
            InboundKind::OrganizerCancel(c) if mailbox == owner.ingest => {
                self.organizer_cancel(&owner, &message, c).await
            }
            InboundKind::Reply(r) => self.reply(&owner, r, false).await,
            InboundKind::Counter(r) => self.counter(&owner, r).await,
            InboundKind::Refresh(r) => self.refresh(&owner, r).await,
            InboundKind::DeliveryStatus(d) => self.delivery_status(&owner, d).await,
            InboundKind::AutoReply { .. } => Ok(Outcome::Ignored("automatic reply")),
            InboundKind::NotCalendar => Ok(Outcome::Ignored("not a calendar message")),
            InboundKind::Unsupported { reason, detail } => {
                let r = Refusal::new(
                    RefusalReason::Unreadable,
                    format!("{}: {detail}", reason.as_str()),
                );
                self.refuse(owner.id, None, None, r, Vec::new()).await
            }
            other => {
                let r = Refusal::new(
                    RefusalReason::NotActionable,
                    format!("a {} sent to {mailbox}", other.name()),
                );
                self.refuse(owner.id, None, None, r, Vec::new()).await
            }
        }
    }

    /// Finds the organizer account for an organizer message and checks D7.
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

    /// Tells a known organizer why their message was refused.
    fn refusal_notice(
        &self,
        owner: &DomainOwner,
        to: &EmailAddress,
        refusal: &Refusal,
        summary: Option<&str>,
    ) -> Change {
        let what = summary.map_or_else(|| "your event".to_owned(), |s| format!("\"{s}\""));
        self.notice(
            owner,
            to,
            &format!("calinvite could not take {what}"),
            &format!(
                "calinvite received {what} but did not act on it.\n\nReason: {}\n{}\n\n\
                 Nothing was sent to anyone. Fix the cause and send or update the event again.\n",
                refusal.reason, refusal.detail
            ),
            None,
        )
    }

    async fn organizer_request(
        &self,
        owner: &DomainOwner,
        message: &InboundMessage,
        req: OrganizerRequest,
    ) -> Result<Outcome, PipelineError> {
        let (account, settings, from) = match self
            .authorise(owner, message, req.identity.organizer.as_ref())
            .await?
        {
            Ok(ok) => ok,
            Err((refusal, scope)) => {
                let mut also = Vec::new();
                // Only a registered organizer hears back: never mail a stranger.
                if let Some(scope) = scope
                    && let Some(acc) = self.store.organizer(scope).await?
                {
                    // A From that failed authentication is unproven (it may be
                    // forged): tell the account's own address, not it.
                    let to = match refusal.reason {
                        RefusalReason::AuthenticationFailed => acc.notify,
                        _ => message.from.clone().unwrap_or(acc.notify),
                    };
                    also.push(self.refusal_notice(
                        owner,
                        &to,
                        &refusal,
                        req.event.summary.as_ref().map(|s| s.as_str()),
                    ));
                }
                return self.refuse(owner.id, scope, None, refusal, also).await;
            }
        };
        let scope = account.scope;
        let organizer = req
            .identity
            .organizer
            .clone()
            .unwrap_or_else(|| crate::address::Mailbox::new(from.clone()));
        for _ in 0..RETRIES {
            let existing = self.store.event_by_uid(scope, &req.identity.uid).await?;
            let result = match existing {
                None => self.new_event(owner, scope, &organizer, &req).await,
                Some(event) => self.revise(owner, &settings, event, &req).await,
            };
            match result {
                Err(PipelineError::Store(StoreError::Conflict(_))) => continue,
                Err(PipelineError::Refused(refusal)) => {
                    let also = vec![self.refusal_notice(
                        owner,
                        organizer.address(),
                        &refusal,
                        req.event.summary.as_ref().map(|s| s.as_str()),
                    )];
                    return self
                        .refuse(owner.id, Some(scope), None, refusal, also)
                        .await;
                }
                other => return other,
            }
        }
        Err(StoreError::Conflict("organizer request kept losing races".into()).into())
    }

    async fn new_event(
        &self,
        owner: &DomainOwner,
        scope: Scope,
        organizer: &crate::address::Mailbox,
        req: &OrganizerRequest,
    ) -> Result<Outcome, PipelineError> {
        if req.scope == RequestScope::Instances {
            return Err(Refusal::new(
                RefusalReason::UnknownEvent,
                "an update of single instances of an event calinvite never received",
            )
            .into());
        }
        let code = self.code();
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
            created_at: self.now(),
            version: 0,
        };
        let notice = self.created_notice(owner, organizer.address(), &event);
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

    fn created_notice(&self, owner: &DomainOwner, to: &EmailAddress, event: &Event) -> Change {
        let code = event.code();
        let mut body = format!(
            "Your event \"{}\" is ready to be sent as calendar invitations.\n\n\
             Event code: {code}\n\n\
             What to do next:\n\
             - Send invitations through the API, a landing page, a call-to-action link or a\n\
             \x20 batch list, naming the event code {code}.\n\
             - Edit the event in your calendar as usual: people who answered Yes or Maybe\n\
             \x20 get the change (the rule can be changed). Delete it to cancel it for everyone.\n\
             - Keep {} invited to the event, or your changes will not reach calinvite.\n",
            event.summary(),
            owner.ingest
        );
        if let Some(base) = &owner.links_base {
            body.push_str(&format!(
                "\nLanding page: {}\n",
                base.join(&format!("e/{code}"))
            ));
        }
        self.notice(
            owner,
            to,
            &format!("Event code {code}: \"{}\"", event.summary()),
            &body,
            None,
        )
    }

    /// A new version from the organizer of an existing event.
    async fn revise(
        &self,
        owner: &DomainOwner,
        settings: &Settings,
        event: StoredEvent,
        req: &OrganizerRequest,
    ) -> Result<Outcome, PipelineError> {
        if !engine::is_newer(
            req.identity.sequence,
            req.identity.dtstamp,
            event.organizer_sequence,
            event.organizer_stamp,
        ) {
            let r = Refusal::new(
                RefusalReason::StaleOrganizerMessage,
                format!(
                    "SEQUENCE {} is not newer than the {} already received",
                    req.identity.sequence, event.organizer_sequence
                ),
            );
            // Stale messages are recorded, not answered: the organizer's own
            // client sends them (re-deliveries), nothing is wrong.
            self.store
                .commit(vec![self.refusal_record(
                    owner.id,
                    Some(event.scope),
                    Some(&event.code),
                    &r,
                )])
                .await?;
            return Ok(Outcome::Refused(r));
        }
        if event.cancelled {
            return Err(Refusal::new(
                RefusalReason::EventCancelled,
                format!(
                    "event {} was cancelled; create a new event instead",
                    event.code
                ),
            )
            .into());
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
        self.publish(owner, settings, event, next).await
    }

    /// Sends `next.latest` out if it differs from what recipients hold: at
    /// once, or as a pending change under the approval switch.
    async fn publish(
        &self,
        _owner: &DomainOwner,
        settings: &Settings,
        event: StoredEvent,
        mut next: StoredEvent,
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
        if engine::has_ended(&sent, self.now()) && engine::has_ended(&next.latest, self.now()) {
            // INTEROP rule 22: past events are not mailed. The organizer's
            // version is kept (reports show it); recipients are left alone.
            let r = Refusal::new(
                RefusalReason::EventEnded,
                format!("event {code} is over: the change is kept, nobody is mailed"),
            );
            changes.push(self.refusal_record(
                event.scope.owner,
                Some(event.scope),
                Some(&code),
                &r,
            ));
            changes.push(Change::UpdateEvent {
                expected: event.version,
                event: next,
            });
            self.store.commit(changes).await?;
            return Ok(Outcome::Refused(r));
        }
        if settings.approval {
            let id = self.unique_name();
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
                created_at: self.now(),
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
            id: self.unique_name(),
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
    async fn plan(
        &self,
        event: &StoredEvent,
        audience: &FanOutAudience,
        kind: MessageKind,
    ) -> Result<Vec<PlannedMessage>, PipelineError> {
        let mut out = Vec::new();
        let mut after: Option<InvitationToken> = None;
        loop {
            let page = self
                .store
                .invitations(&event.code, after.as_ref(), self.options.batch)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.token.clone());
            let suppressed = self.suppressed_in(&page).await?;
            let listed = listed_in(audience);
            for inv in &page {
                if Self::in_audience(inv, audience, None, &suppressed, &listed) {
                    out.push(PlannedMessage {
                        token: inv.token.clone(),
                        address: inv.recipient.address().clone(),
                        kind,
                    });
                }
            }
            if page.len() < self.options.batch {
                break;
            }
        }
        Ok(out)
    }

    /// The suppressed addresses among a page of invitations (one query).
    async fn suppressed_in(
        &self,
        page: &[Invitation],
    ) -> Result<std::collections::HashSet<EmailAddress>, PipelineError> {
        let Some(first) = page.first() else {
            return Ok(std::collections::HashSet::new());
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

    /// Whether `inv` is in `audience`. `suppressed`: the page's suppressed
    /// addresses; `listed`: an approved plan's invitations.
    fn in_audience(
        inv: &Invitation,
        audience: &FanOutAudience,
        sequence: Option<Sequence>,
        suppressed: &std::collections::HashSet<EmailAddress>,
        listed: &std::collections::HashSet<&InvitationToken>,
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
                    // declined since never gets an update the rule would not send (D4).
                    match **then {
                        FanOutAudience::Cancellation => targeting::receives_cancellation(&state),
                        FanOutAudience::Update(rule) => rule.includes(&state),
                        _ => !state.hard_bounced && !state.suppressed,
                    }
                } else if later {
                    Self::in_audience(inv, then, sequence, suppressed, listed)
                } else {
                    false
                }
            }
        }
    }

    async fn organizer_cancel(
        &self,
        owner: &DomainOwner,
        message: &InboundMessage,
        cancel: OrganizerCancel,
    ) -> Result<Outcome, PipelineError> {
        let (account, settings, _) = match self
            .authorise(owner, message, cancel.identity.organizer.as_ref())
            .await?
        {
            Ok(ok) => ok,
            Err((refusal, scope)) => {
                let mut also = Vec::new();
                // As for requests: a registered organizer hears why, at the
                // account's own address (the From may be forged).
                if let Some(scope) = scope
                    && let Some(acc) = self.store.organizer(scope).await?
                {
                    also.push(self.refusal_notice(
                        owner,
                        &acc.notify,
                        &refusal,
                        cancel.event.summary.as_ref().map(|s| s.as_str()),
                    ));
                }
                return self.refuse(owner.id, scope, None, refusal, also).await;
            }
        };
        let scope = account.scope;
        for _ in 0..RETRIES {
            let Some(event) = self.store.event_by_uid(scope, &cancel.identity.uid).await? else {
                let r = Refusal::new(
                    RefusalReason::UnknownEvent,
                    "a cancellation of an event calinvite never received",
                );
                return self
                    .refuse(owner.id, Some(scope), None, r, Vec::new())
                    .await;
            };
            if !engine::is_newer(
                cancel.identity.sequence,
                cancel.identity.dtstamp,
                event.organizer_sequence,
                event.organizer_stamp,
            ) {
                let r = Refusal::new(
                    RefusalReason::StaleOrganizerMessage,
                    format!(
                        "cancellation SEQUENCE {} is not newer than the {} already received",
                        cancel.identity.sequence, event.organizer_sequence
                    ),
                );
                return self
                    .refuse(owner.id, Some(scope), Some(&event.code), r, Vec::new())
                    .await;
            }
            let mut stamped = event.clone();
            stamped.organizer_sequence = cancel.identity.sequence;
            stamped.organizer_stamp = cancel.identity.dtstamp;
            let instances: Vec<_> = cancel
                .instances
                .iter()
                .filter_map(crate::inbound::InboundTime::occurrence_id)
                .collect();
            let result = if cancel.instances.is_empty() {
                self.cancel(&settings, event, stamped, None).await
            } else {
                self.cancel(&settings, event, stamped, Some(instances))
                    .await
            };
            match result {
                Err(PipelineError::Store(StoreError::Conflict(_))) => continue,
                Err(PipelineError::Refused(r)) => {
                    return self
                        .refuse(owner.id, Some(scope), None, r, Vec::new())
                        .await;
                }
                other => return other,
            }
        }
        Err(StoreError::Conflict("cancellation kept losing races".into()).into())
    }

    /// Cancels the event (or instances), at once or as a pending change.
    async fn cancel(
        &self,
        settings: &Settings,
        event: StoredEvent,
        mut next: StoredEvent,
        instances: Option<Vec<crate::time::OccurrenceId>>,
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
        if engine::has_ended(&event.latest, self.now()) {
            // INTEROP rule 22: nobody is mailed about a past event; a whole
            // cancellation is still recorded (new invitations stay refused).
            if instances.is_none() {
                next.cancelled = true;
            }
            let r = Refusal::new(
                RefusalReason::EventEnded,
                format!("event {code} is over: the cancellation is recorded, nobody is mailed"),
            );
            changes.push(self.refusal_record(
                event.scope.owner,
                Some(event.scope),
                Some(&code),
                &r,
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
            let id = self.unique_name();
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
                created_at: self.now(),
                state: PendingState::Open,
            }));
            changes.push(Change::UpdateEvent {
                expected: event.version,
                event: next,
            });
            self.store.commit(changes).await?;
            return Ok(Outcome::PendingApproval(code, id));
        }
        self.cancel_now(
            &event,
            &mut next,
            instances,
            FanOutAudience::Cancellation,
            &mut changes,
        )?;
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

    /// The revisions and fan-outs of a cancellation going out now: one
    /// SEQUENCE per cancelled instance (each message its own key), or one
    /// for the whole event.
    fn cancel_now(
        &self,
        event: &StoredEvent,
        next: &mut StoredEvent,
        instances: Option<Vec<crate::time::OccurrenceId>>,
        audience: FanOutAudience,
        changes: &mut Vec<Change>,
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
                    id: self.unique_name(),
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
                        id: self.unique_name(),
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

    // -------------------------------------------------------------- commands

    /// Creates an event through the API (no organizer calendar involved), as
    /// the organizer of `scope`. Its code is drawn here; `build` gets it.
    pub async fn create_event<E: std::fmt::Display>(
        &self,
        scope: Scope,
        build: impl FnOnce(EventCode) -> Result<Event, E>,
    ) -> Result<EventCode, PipelineError> {
        self.store
            .organizer(scope)
            .await?
            .ok_or_else(|| PipelineError::NotFound("organizer".into()))?;
        let code = self.code();
        let event = build(code.clone())
            .map_err(|e| Refusal::new(RefusalReason::UnusableEvent, e.to_string()))?;
        if event.code() != &code {
            return Err(PipelineError::NotFound(
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
                    created_at: self.now(),
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

    async fn scoped_event(
        &self,
        scope: Scope,
        code: &EventCode,
    ) -> Result<StoredEvent, PipelineError> {
        self.store
            .event(scope.owner, code)
            .await?
            .filter(|e| e.scope == scope)
            .ok_or_else(|| PipelineError::NotFound(format!("event {code}")))
    }

    /// Replaces an API-created (or any) event's content, as its organizer:
    /// sent out like an organizer's edit (change detection, audience, approval).
    pub async fn update_event(
        &self,
        scope: Scope,
        code: &EventCode,
        event: Event,
    ) -> Result<Outcome, PipelineError> {
        let owner = self.owner(scope.owner).await?;
        let settings = self.settings(scope).await?;
        for _ in 0..RETRIES {
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
            match self.publish(&owner, &settings, stored, next).await {
                Err(PipelineError::Store(StoreError::Conflict(_))) => continue,
                other => return other,
            }
        }
        Err(StoreError::Conflict("update kept losing races".into()).into())
    }

    /// Cancels an event (or some instances) as its organizer.
    pub async fn cancel_event(
        &self,
        scope: Scope,
        code: &EventCode,
        instances: Option<Vec<crate::time::OccurrenceId>>,
    ) -> Result<Outcome, PipelineError> {
        let settings = self.settings(scope).await?;
        for _ in 0..RETRIES {
            let stored = self.scoped_event(scope, code).await?;
            let next = stored.clone();
            match self
                .cancel(&settings, stored, next, instances.clone())
                .await
            {
                Err(PipelineError::Store(StoreError::Conflict(_))) => continue,
                other => return other,
            }
        }
        Err(StoreError::Conflict("cancellation kept losing races".into()).into())
    }

    /// Sends `recipient` an invitation to the event (late joiners get the
    /// current revision). Idempotent per (event, address): asking again
    /// returns the existing invitation and sends nothing.
    pub async fn invite(
        &self,
        scope: Scope,
        code: &EventCode,
        recipient: Recipient,
        source: InvitationSource,
    ) -> Result<Outcome, PipelineError> {
        let owner = self.owner(scope.owner).await?;
        let settings = self.settings(scope).await?;
        let _ = settings;
        for _ in 0..RETRIES {
            let event = self.scoped_event(scope, code).await?;
            let address = recipient.address();
            if let Some(existing) = self.store.invitation_for(code, address).await? {
                return Ok(Outcome::AlreadyInvited(existing.token));
            }
            let refusal = if event.cancelled {
                Some(Refusal::new(
                    RefusalReason::EventCancelled,
                    format!("event {code} is cancelled"),
                ))
            } else if self
                .store
                .open_pending(code)
                .await?
                .iter()
                .any(|p| !matches!(p.kind, PendingKind::Update))
            {
                Some(Refusal::new(
                    RefusalReason::CancellationPending,
                    format!("a cancellation of event {code} waits for approval"),
                ))
            } else if engine::has_ended(&event.latest, self.now()) {
                Some(Refusal::new(
                    RefusalReason::EventEnded,
                    format!("event {code} is over"),
                ))
            } else if owner.serves(address) || event.latest.organizer().address() == address {
                Some(Refusal::new(
                    RefusalReason::OwnAddress,
                    format!("{address} is the organizer or a calinvite mailbox"),
                ))
            } else if let Some(s) = self.store.suppression(scope.owner, address).await? {
                Some(Refusal::new(
                    RefusalReason::Suppressed,
                    format!("{address} is suppressed ({})", s.reason.as_str()),
                ))
            } else {
                None
            };
            if let Some(r) = refusal {
                return self
                    .refuse(scope.owner, Some(scope), Some(code), r, Vec::new())
                    .await;
            }
            let invitation = Invitation {
                scope,
                code: code.clone(),
                token: self.token(),
                recipient: recipient.clone(),
                source: source.clone(),
                created_at: self.now(),
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
            };
            let mut changes = vec![Change::InsertInvitation(invitation.clone())];
            changes.extend(self.queue_invitation(
                &invitation,
                MessageKind::Invitation,
                event.sent_sequence,
                0,
            ));
            match self.store.commit(changes).await {
                Ok(()) => return Ok(Outcome::Invited(invitation.token)),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict("invitation kept losing races".into()).into())
    }

    /// Approves a pending change: it goes out now to those it lists (and to
    /// later joiners its rule includes).
    pub async fn approve(&self, scope: Scope, id: &str) -> Result<Outcome, PipelineError> {
        self.resolve(scope, id, true).await
    }

    /// Rejects a pending change: nothing is sent.
    pub async fn reject(&self, scope: Scope, id: &str) -> Result<Outcome, PipelineError> {
        self.resolve(scope, id, false).await
    }

    async fn resolve(
        &self,
        scope: Scope,
        id: &str,
        approve: bool,
    ) -> Result<Outcome, PipelineError> {
        let settings = self.settings(scope).await?;
        for _ in 0..RETRIES {
            let pending = self
                .store
                .pending(scope, id)
                .await?
                .ok_or_else(|| PipelineError::NotFound(format!("pending change {id}")))?;
            if pending.state != PendingState::Open {
                return Ok(Outcome::Resolved(id.to_owned(), pending.state));
            }
            let event = self.scoped_event(scope, &pending.code).await?;
            if !approve || event.sent_sequence != pending.base_sequence {
                let state = if approve {
                    PendingState::Superseded
                } else {
                    PendingState::Rejected
                };
                match self
                    .store
                    .commit(vec![Change::ResolvePending {
                        id: id.to_owned(),
                        state,
                    }])
                    .await
                {
                    Err(StoreError::Conflict(_)) => continue,
                    Err(e) => return Err(e.into()),
                    Ok(()) => return Ok(Outcome::Resolved(id.to_owned(), state)),
                }
            }
            let listed: Vec<InvitationToken> =
                pending.recipients.iter().map(|p| p.token.clone()).collect();
            let mut changes = vec![Change::ResolvePending {
                id: id.to_owned(),
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
                        id: self.unique_name(),
                        scope,
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
                    self.cancel_now(&event, &mut next, instances, audience, &mut changes)?;
                }
            }
            changes.push(Change::UpdateEvent {
                expected: event.version,
                event: next,
            });
            match self.store.commit(changes).await {
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
                Ok(()) => return Ok(Outcome::Resolved(id.to_owned(), PendingState::Approved)),
            }
        }
        Err(StoreError::Conflict("approval kept losing races".into()).into())
    }

    /// An answer given on calinvite's web page (a POST, never a GET: D11).
    pub async fn web_answer(
        &self,
        owner: OwnerId,
        token: &InvitationToken,
        status: ParticipationStatus,
    ) -> Result<Outcome, PipelineError> {
        let owner = self.owner(owner).await?;
        // Another owner's token is no invitation here (D13), as in `unsubscribe`.
        let Some(inv) = self
            .store
            .invitation(token)
            .await?
            .filter(|i| i.scope.owner == owner.id)
        else {
            let r = Refusal::new(RefusalReason::UnknownInvitation, "no such invitation");
            return self.refuse(owner.id, None, None, r, Vec::new()).await;
        };
        let reply = Reply {
            identity: crate::inbound::CalendarIdentity {
                uid: String::new(),
                sequence: inv.sequence_held.unwrap_or_default(),
                dtstamp: Some(self.now()),
                organizer: None,
            },
            invitation: None,
            attendee: None,
            partstat: Some(status),
            delegated_to: None,
            recurrence_id: None,
            comment: None,
            proposed_start: None,
            proposed_end: None,
            request_status: Vec::new(),
        };
        self.answer(&owner, inv, &reply, true).await
    }

    /// One-click unsubscribe (RFC 8058 POST): the address is suppressed for
    /// every future send of this owner.
    pub async fn unsubscribe(
        &self,
        owner: OwnerId,
        token: &InvitationToken,
    ) -> Result<Outcome, PipelineError> {
        let Some(inv) = self
            .store
            .invitation(token)
            .await?
            .filter(|i| i.scope.owner == owner)
        else {
            let r = Refusal::new(RefusalReason::UnknownInvitation, "no such invitation");
            return self.refuse(owner, None, None, r, Vec::new()).await;
        };
        self.store
            .commit(vec![
                Change::Suppress(Suppression {
                    owner,
                    address: inv.recipient.address().clone(),
                    reason: SuppressionReason::Unsubscribed,
                    at: self.now(),
                }),
                Change::AppendHistory(HistoryEntry {
                    token: inv.token.clone(),
                    at: self.now(),
                    kind: HistoryKind::Unsubscribed,
                }),
            ])
            .await?;
        Ok(Outcome::Unsubscribed(inv.token))
    }

    /// Suppresses an address for an owner (a complaint, an operator's list).
    pub async fn suppress(
        &self,
        owner: OwnerId,
        address: EmailAddress,
        reason: SuppressionReason,
    ) -> Result<(), PipelineError> {
        self.store
            .commit(vec![Change::Suppress(Suppression {
                owner,
                address,
                reason,
                at: self.now(),
            })])
            .await?;
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

    async fn reply(
        &self,
        owner: &DomainOwner,
        reply: Reply,
        web: bool,
    ) -> Result<Outcome, PipelineError> {
        match self.find_invitation(owner, &reply).await? {
            Err(r) => {
                let code = reply.invitation.as_ref().map(|u| u.event_code().clone());
                let code = match (&code, r.reason) {
                    (Some(_), RefusalReason::WrongTenant) | (None, _) => None,
                    _ => code,
                };
                self.refuse(owner.id, None, code.as_ref(), r, Vec::new())
                    .await
            }
            Ok(inv) => self.answer(owner, inv, &reply, web).await,
        }
    }

    async fn answer(
        &self,
        owner: &DomainOwner,
        mut inv: Invitation,
        reply: &Reply,
        web: bool,
    ) -> Result<Outcome, PipelineError> {
        let settings = self.settings(inv.scope).await?;
        for _ in 0..RETRIES {
            let event = self
                .store
                .event(owner.id, &inv.code)
                .await?
                .ok_or_else(|| StoreError::Corrupt {
                    row: format!("invitation {}", inv.code),
                    detail: "its event is missing".into(),
                })?;
            match engine::apply_answer(&inv, &event, reply, settings.late_answers, web, self.now())
            {
                Err(r) => {
                    return self
                        .refuse(owner.id, Some(inv.scope), Some(&inv.code), r, Vec::new())
                        .await;
                }
                Ok(effect) => {
                    let token = inv.token.clone();
                    let mut changes = vec![Change::AppendHistory(effect.entry)];
                    if effect.invitation != inv {
                        changes.push(Change::UpdateInvitation {
                            expected: inv.version,
                            invitation: effect.invitation,
                        });
                    }
                    match self.store.commit(changes).await {
                        Ok(()) => return Ok(Outcome::AnswerRecorded(token)),
                        Err(StoreError::Conflict(_)) => {
                            inv = self.store.invitation(&token).await?.ok_or_else(|| {
                                PipelineError::NotFound("invitation vanished".into())
                            })?;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Err(StoreError::Conflict("answer kept losing races".into()).into())
    }

    async fn counter(&self, owner: &DomainOwner, reply: Reply) -> Result<Outcome, PipelineError> {
        let inv = match self.find_invitation(owner, &reply).await? {
            Err(r) => return self.refuse(owner.id, None, None, r, Vec::new()).await,
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
            || inv.recipient.address().to_string(),
            |a| a.address().to_string(),
        );
        let body = format!(
            "{who} proposes another time for \"{}\" (event code {}).\n\n\
             Proposed start: {}\nProposed end: {}\nComment: {}\n\n\
             To accept, change the event in your calendar: the people it concerns get the update.\n",
            event.latest.summary(),
            inv.code,
            start.as_deref().unwrap_or("(not given)"),
            end.as_deref().unwrap_or("(not given)"),
            comment.as_deref().unwrap_or("(none)"),
        );
        let notice = self.notice(
            owner,
            event.latest.organizer().address(),
            &format!("New time proposed for \"{}\"", event.latest.summary()),
            &body,
            None,
        );
        self.store
            .commit(vec![
                Change::AppendHistory(HistoryEntry {
                    token: inv.token.clone(),
                    at: self.now(),
                    kind: HistoryKind::Counter {
                        start,
                        end,
                        comment,
                    },
                }),
                notice,
            ])
            .await?;
        Ok(Outcome::CounterRecorded(inv.token))
    }

    async fn refresh(&self, owner: &DomainOwner, reply: Reply) -> Result<Outcome, PipelineError> {
        for _ in 0..RETRIES {
            let inv = match self.find_invitation(owner, &reply).await? {
                Err(r) => return self.refuse(owner.id, None, None, r, Vec::new()).await,
                Ok(inv) => inv,
            };
            let event = self
                .store
                .event(owner.id, &inv.code)
                .await?
                .ok_or_else(|| PipelineError::NotFound("event".into()))?;
            let refusal = if event.cancelled || inv.cancelled {
                Some(Refusal::new(
                    RefusalReason::EventCancelled,
                    "the event is cancelled",
                ))
            } else if engine::has_ended(&event.latest, self.now()) {
                Some(Refusal::new(RefusalReason::EventEnded, "the event is over"))
            } else if let Some(s) = self
                .store
                .suppression(owner.id, inv.recipient.address())
                .await?
            {
                Some(Refusal::new(
                    RefusalReason::Suppressed,
                    format!("the address is suppressed ({})", s.reason.as_str()),
                ))
            } else {
                None
            };
            if let Some(r) = refusal {
                return self
                    .refuse(owner.id, Some(inv.scope), Some(&inv.code), r, Vec::new())
                    .await;
            }
            let mut next = inv.clone();
            next.copies += 1;
            next.sequence_held = Some(event.sent_sequence);
            let mut changes = self
                .queue_invitation(
                    &inv,
                    MessageKind::Invitation,
                    event.sent_sequence,
                    next.copies,
                )
                .to_vec();
            let token = inv.token.clone();
            changes.push(Change::UpdateInvitation {
                expected: inv.version,
                invitation: next,
            });
            match self.store.commit(changes).await {
                Ok(()) => return Ok(Outcome::Resent(token)),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict("refresh kept losing races".into()).into())
    }

    /// The invitation `token` names, if it belongs to `owner`; else the
    /// recorded refusal (`UnknownBounce`) of what reported on it (`what`).
    async fn owned_invitation(
        &self,
        owner: &DomainOwner,
        token: &InvitationToken,
        what: &str,
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
            .refuse(owner.id, None, None, r, Vec::new())
            .await?))
    }

    async fn delivery_status(
        &self,
        owner: &DomainOwner,
        dsn: crate::inbound::DeliveryStatus,
    ) -> Result<Outcome, PipelineError> {
        let Some(token) = dsn.invitation_token() else {
            let r = Refusal::new(
                RefusalReason::UnknownBounce,
                "the delivery report quotes no message calinvite sent",
            );
            return self.refuse(owner.id, None, None, r, Vec::new()).await;
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
        for _ in 0..RETRIES {
            let inv = match self
                .owned_invitation(owner, &token, "the delivery report")
                .await?
            {
                Ok(inv) => inv,
                Err(refused) => return Ok(refused),
            };
            let changes = if delivered {
                delivered_changes(&inv, self.now())
            } else {
                bounce_changes(&inv, dsn.permanent, &detail, self.now())
            };
            match self.store.commit(changes).await {
                Ok(()) => return Ok(Outcome::DeliveryRecorded(token)),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict("delivery report kept losing races".into()).into())
    }

    // ------------------------------------------------------------- fan-out

    /// Plans one batch of one fan-out: decides who in the next page of
    /// invitations gets the message and queues theirs, in one commit with the
    /// fan-out's progress. Returns whether there was anything to do.
    pub async fn step_fan_out(&self) -> Result<bool, PipelineError> {
        let Some(fan) = self.store.fan_outs(1).await?.into_iter().next() else {
            return Ok(false);
        };
        for _ in 0..RETRIES {
            let page = self
                .store
                .invitations(&fan.code, fan.cursor.as_ref(), self.options.batch)
                .await?;
            let mut changes = Vec::new();
            let suppressed = self.suppressed_in(&page).await?;
            let listed = listed_in(&fan.audience);
            for inv in &page {
                let wanted = match fan.kind {
                    MessageKind::Invitation | MessageKind::Update => {
                        inv.sequence_held.is_some_and(|h| h < fan.sequence)
                    }
                    MessageKind::Cancellation => !inv.cancelled,
                    MessageKind::InstanceCancellation(_) => {
                        !inv.cancelled && inv.sequence_held.is_some_and(|h| h < fan.sequence)
                    }
                };
                if !wanted
                    || !Self::in_audience(
                        inv,
                        &fan.audience,
                        Some(fan.sequence),
                        &suppressed,
                        &listed,
                    )
                {
                    continue;
                }
                let mut next = inv.clone();
                match fan.kind {
                    MessageKind::Cancellation => next.cancelled = true,
                    _ => next.sequence_held = Some(fan.sequence),
                }
                changes.extend(self.queue_invitation(inv, fan.kind, fan.sequence, 0));
                changes.push(Change::UpdateInvitation {
                    expected: inv.version,
                    invitation: next,
                });
            }
            if page.len() < self.options.batch {
                changes.push(Change::RemoveFanOut(fan.id.clone()));
            } else {
                let mut progressed = fan.clone();
                progressed.cursor = page.last().map(|i| i.token.clone());
                changes.push(Change::PutFanOut(progressed));
            }
            match self.store.commit(changes).await {
                Ok(()) => return Ok(true),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict("fan-out batch kept losing races".into()).into())
    }

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
                    self.now(),
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
    /// lower than one they hold (D2).
    async fn superseded(
        &self,
        delivery: &Delivery,
        inv: &Invitation,
    ) -> Result<Option<String>, PipelineError> {
        let Payload::Invitation {
            kind: MessageKind::Invitation | MessageKind::Update,
            sequence,
            ..
        } = &delivery.payload
        else {
            return Ok(None);
        };
        // Its cancellation may not be queued (a hard bounce gets none, D5).
        if inv.cancelled
            || (self.store.event(inv.scope.owner, &inv.code).await?).is_some_and(|e| e.cancelled)
        {
            return Ok(Some("superseded: the event was cancelled".into()));
        }
        // An address suppressed after the request was queued (unsubscribed,
        // bounced elsewhere) gets no more requests (D12).
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
    pub async fn deliver(&self, delivery: Delivery) -> Result<DeliveryReport, PipelineError> {
        let key = delivery.key.clone();
        let (envelope, bytes, invitation) = match self.assemble(&delivery).await? {
            Ok(x) => x,
            Err(reason) => {
                let r = Refusal::new(RefusalReason::Unsendable, reason.clone());
                let record = self.refusal_record(delivery.owner, None, None, &r);
                self.store
                    .settle(&key, Settlement::Failed(reason.clone()), vec![record])
                    .await?;
                return Ok(DeliveryReport::Failed(key, reason));
            }
        };
        if let Some(inv) = &invitation
            && let Some(reason) = self.superseded(&delivery, inv).await?
        {
            self.store
                .settle(&key, Settlement::Failed(reason.clone()), Vec::new())
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
        let mut read = invitation;
        for _ in 0..RETRIES {
            let inv = match (read.take(), &token) {
                (Some(i), _) => Some(i),
                (None, Some(t)) => self.store.invitation(t).await?,
                (None, None) => None,
            };
            let (settlement, changes, report) = match &result {
                Ok(()) => {
                    let changes = inv
                        .map(|i| sent_changes(&i, &delivery, now))
                        .unwrap_or_default();
                    (
                        Settlement::Sent(now),
                        changes,
                        DeliveryReport::Sent(key.clone()),
                    )
                }
                Err(e) if e.is_transient() && delivery.attempts < self.options.max_attempts => {
                    let jitter = self.with_ids(|ids| {
                        let mut b = [0u8; 2];
                        ids.fill_bytes(&mut b);
                        f64::from(u16::from_be_bytes(b)) / f64::from(u16::MAX)
                    });
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
            match self.store.settle(&key, settlement, changes).await {
                Ok(()) => return Ok(report),
                Err(StoreError::Conflict(c)) if c.contains("not leased") => {
                    return Err(StoreError::Conflict(c).into());
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict("delivery record kept losing races".into()).into())
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

    // -------------------------------------------------------------- reports

    /// Every refusal recorded for the organizer (or the whole owner).
    pub async fn refusals(
        &self,
        owner: OwnerId,
        organizer: Option<Scope>,
    ) -> Result<Vec<RefusalRecord>, PipelineError> {
        Ok(self.store.refusals(owner, organizer).await?)
    }

    /// A pending change, as the person approving sees it.
    pub async fn pending(&self, scope: Scope, id: &str) -> Result<PendingChange, PipelineError> {
        self.store
            .pending(scope, id)
            .await?
            .ok_or_else(|| PipelineError::NotFound(format!("pending change {id}")))
    }

    /// An event's open pending changes.
    pub async fn open_pending(
        &self,
        scope: Scope,
        code: &EventCode,
    ) -> Result<Vec<PendingChange>, PipelineError> {
        self.scoped_event(scope, code).await?;
        Ok(self.store.open_pending(code).await?)
    }

    /// An event of the organizer's.
    pub async fn event(
        &self,
        scope: Scope,
        code: &EventCode,
    ) -> Result<StoredEvent, PipelineError> {
        self.scoped_event(scope, code).await
    }

    /// Every invitation of an event of the organizer's, in token order.
    pub async fn invitations(
        &self,
        scope: Scope,
        code: &EventCode,
    ) -> Result<Vec<Invitation>, PipelineError> {
        self.scoped_event(scope, code).await?;
        let mut out = Vec::new();
        let mut after: Option<InvitationToken> = None;
        loop {
            let page = self
                .store
                .invitations(code, after.as_ref(), self.options.batch)
                .await?;
            let n = page.len();
            after = page.last().map(|i| i.token.clone());
            out.extend(page);
            if n < self.options.batch {
                return Ok(out);
            }
        }
    }

    /// An invitation's history, if it is the organizer's.
    pub async fn history(
        &self,
        scope: Scope,
        token: &InvitationToken,
    ) -> Result<Vec<HistoryEntry>, PipelineError> {
        let inv = self
            .store
            .invitation(token)
            .await?
            .filter(|i| i.scope == scope)
            .ok_or_else(|| PipelineError::NotFound("invitation".into()))?;
        Ok(self.store.history(&inv.token).await?)
    }

    /// Queues a report for the organizer as a message with the CSV attached.
    pub async fn mail_report(
        &self,
        scope: Scope,
        code: &EventCode,
        to: Option<EmailAddress>,
    ) -> Result<DeliveryKey, PipelineError> {
        let owner = self.owner(scope.owner).await?;
        let event = self.scoped_event(scope, code).await?;
        let report = super::report::event_report(self, scope, code).await?;
        let csv = super::report::event_csv(self, scope, code).await?;
        let to = to.unwrap_or_else(|| event.latest.organizer().address().clone());
        let delivery = self.notice_delivery(
            &owner,
            &to,
            &format!("Report for \"{}\" ({code})", event.latest.summary()),
            &report.to_text(),
            Some(&Attachment {
                filename: format!("calinvite-{code}.csv"),
                content_type: "text/csv; charset=UTF-8",
                bytes: csv.into_bytes(),
            }),
        );
        let key = delivery.key.clone();
        self.store.commit(vec![Change::Enqueue(delivery)]).await?;
        Ok(key)
    }
}

/// An approved plan's listed invitations, for lookups.
fn listed_in(audience: &FanOutAudience) -> std::collections::HashSet<&InvitationToken> {
    match audience {
        FanOutAudience::Approved { listed, .. } => listed.iter().collect(),
        _ => std::collections::HashSet::new(),
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

fn delivered_changes(inv: &Invitation, now: DateTime<Utc>) -> Vec<Change> {
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

/// The state changes of a bounce: a hard one suppresses the address (D12).
fn bounce_changes(
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
