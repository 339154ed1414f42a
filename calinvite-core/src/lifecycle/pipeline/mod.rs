//! The [`Pipeline`]: reads from a [`Store`], applies the engine's rules at the
//! time its [`Clock`] says, commits the result, and hands queued messages to a
//! [`Transport`]. It performs no I/O of its own: the store and the transport
//! do, and in tests both are in memory.
//!
//! The pipeline is split into rooms, one per processor; each is a file of
//! its own with the commands (async: read, decide, commit) and the pure
//! decisions they call (no store, no clock, `now` an argument), tested
//! without a store next to them:
//!
//! | room | what lives there |
//! |------|------------------|
//! | [`ingest`] | the organizer's own calendar: inbound REQUEST and CANCEL, authorisation, "created" and "refused" notices |
//! | [`sending`] | outbound: creating an event, inviting someone, planning fan-out batches |
//! | [`changes`] | updates and cancellations by the organizer, and the approval switch (approve, reject) |
//! | [`answers`] | data collection: replies, web answers, counters, refreshes, unsubscribes, delivery reports |
//! | [`notices_in`] | a sending service's own delivery notices (bounces, complaints) |
//! | [`delivery`] | the queue: claim, assemble, check for supersession, send, settle |
//! | [`queries`] | read-only lookups for the organizer's screens and the mailed report |
//! | [`metrics`] | counters an application exports as metrics |
//!
//! This file holds what every room shares: the [`Pipeline`] itself, its
//! options and outcomes, the inbound front door ([`Pipeline::handle`]) that
//! routes a message to its room, the one retry-on-conflict helper every
//! command commits through, and the bookkeeping (spans, counters) of a
//! finished command. Rooms may use this file and the engine, model, store and
//! transport modules; no room uses another room's private helpers except
//! through `Pipeline` methods declared `pub(super)`.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};

use super::engine;
use super::model::{
    Announcement, AnnouncementKind, Delivery, DeliveryKey, DeliveryState, DomainOwner, FanOut,
    FanOutAudience, HistoryEntry, HistoryKind, Invitation, InvitationSource, ListJob, ListJobId,
    ListJobState, ListRow, OrganizerAccount, OwnerId, Payload, PendingChange, PendingChangeId,
    PendingKind, PendingState, PlannedMessage, QueueState, Refusal, RefusalReason, RefusalRecord,
    RowVerdict, Scope, Settings, StoredEvent, Suppression, SuppressionReason,
};
use super::notice::{
    Attachment, CounterNotice, CreatedNotice, DefaultNoticeTemplate, NoticeTemplate, NoticeText,
    RefusedNotice, ReportNotice, write_notice,
};
use super::store::{Change, Settlement, Store, StoreError};
use super::transport::Transport;
use crate::address::EmailAddress;
use crate::clock::{Clock, IdSource};
use crate::compose::{ComposeOptions, Composer, IdempotencyKey};
use crate::event::{Event, ParticipationStatus, Recipient, SenderIdentity};
use crate::ics::Method;
use crate::ids::{EventCode, InvitationToken, InvitationUid, Sequence};
use crate::inbound::{
    AuthVerdict, InboundEnvelope, InboundKind, InboundLimits, InboundMessage, OrganizerCancel,
    OrganizerRequest, Reply, RequestScope,
};
use crate::revision::EventRevision;
use crate::targeting;
use crate::template::{DefaultTemplate, MessageKind, Template};

mod answers;
mod builder;
mod changes;
mod delivery;
mod ingest;
mod lists;
pub(super) mod metrics;
// Delivery notices from a sending service's own channel (SES notifications).
pub(super) mod notices_in;
mod queries;
mod sending;
mod tenancy;

// Values the rooms' unit tests build in memory.
#[cfg(test)]
mod fixtures;

pub use super::error::PipelineError;
pub use builder::{PipelineBuilder, Unset};
pub use delivery::Prepared;
pub use lists::{ListFeed, ListProgress};
pub use metrics::{MetricsSnapshot, PipelineMetrics};
pub use tenancy::SingleTenant;

/// What handling an inbound message or a command did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// A new event was adopted under this code; the organizer was told.
    EventCreated(EventCode),
    /// A new revision went out (or is being fanned out) with this SEQUENCE.
    RevisionSent(EventCode, Sequence),
    /// The change waits for approval in this pending change.
    PendingApproval(EventCode, PendingChangeId),
    /// The organizer's message changed nothing that is sent
    /// ([D3](crate::manual::design#d3)).
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
    Resolved(PendingChangeId, PendingState),
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
    /// The words of notices to organizers (event created, refused,
    /// counter-proposal, mailed report).
    pub notices: Arc<dyn NoticeTemplate>,
    /// Limits on inbound messages.
    pub limits: InboundLimits,
    /// Write an [`Announcement`] with every change an application may want
    /// to hear of (an answer, a delivery outcome, an event changed …), in
    /// the same commit ([manual: announcements](crate::manual::lifecycle#announcements)).
    /// Off by default: a pipeline that does not announce builds none and
    /// writes none.
    pub announce: bool,
}

impl std::fmt::Debug for PipelineOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineOptions")
            .field("batch", &self.batch)
            .field("lease_seconds", &self.lease_seconds)
            .field("max_attempts", &self.max_attempts)
            .field("announce", &self.announce)
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
            notices: Arc::new(DefaultNoticeTemplate),
            limits: InboundLimits::default(),
            announce: false,
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
    /// The lease ran out while the message was being sent and another worker
    /// claimed it since: nothing was recorded here; the worker that holds
    /// the message now records its outcome (it may send it again: the
    /// message keeps its Message-ID, so a recipient's client files the two
    /// copies as one).
    LeaseLost(DeliveryKey),
}

/// The engine with a store, a transport, a clock and an identifier source.
pub struct Pipeline<S, T> {
    store: S,
    transport: T,
    clock: Arc<dyn Clock>,
    ids: Box<dyn IdSource + Send>,
    options: PipelineOptions,
    revision_cache: Mutex<Option<(EventCode, Sequence, EventRevision)>>,
    metrics: PipelineMetrics,
}

impl<S, T> std::fmt::Debug for Pipeline<S, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Outcome {
    /// A stable name for the outcome (logs, metrics): `invited`,
    /// `already_invited`, `refused` …
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::EventCreated(_) => "event_created",
            Outcome::RevisionSent(..) => "revision_sent",
            Outcome::PendingApproval(..) => "pending_approval",
            Outcome::Unchanged(_) => "unchanged",
            Outcome::Cancelled(_) => "cancelled",
            Outcome::Invited(_) => "invited",
            Outcome::AlreadyInvited(_) => "already_invited",
            Outcome::AnswerRecorded(_) => "answer_recorded",
            Outcome::CounterRecorded(_) => "counter_recorded",
            Outcome::Resent(_) => "resent",
            Outcome::DeliveryRecorded(_) => "delivery_recorded",
            Outcome::Unsubscribed(_) => "unsubscribed",
            Outcome::Resolved(..) => "resolved",
            Outcome::Refused(_) => "refused",
            Outcome::Ignored(_) => "ignored",
        }
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
            ids,
            options,
            revision_cache: Mutex::new(None),
            metrics: PipelineMetrics::default(),
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

    /// How the pipeline behaves.
    pub fn options(&self) -> &PipelineOptions {
        &self.options
    }

    /// The current time, as the clock says. Every command reads it once, when
    /// it starts, and decides everything at that instant.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// What the pipeline has done so far, counted (commands by outcome,
    /// refusals by reason, answers, deliveries, conflicts retried).
    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics.snapshot()
    }

    /// The live counters (to share with an exporter that reads them itself).
    pub fn metrics_counters(&self) -> &PipelineMetrics {
        &self.metrics
    }

    /// Fills `dest` from the identifier source.
    fn fill_ids(&self, dest: &mut [u8]) -> Result<(), PipelineError> {
        Ok(self.ids.fill(dest)?)
    }

    /// A new invitation's token, led by the time it is created at (new
    /// invitations are written next to each other in a store's indexes).
    fn token(&self, now: DateTime<Utc>) -> Result<InvitationToken, PipelineError> {
        Ok(InvitationToken::try_generate_at(&*self.ids, now)?)
    }

    fn code(&self) -> Result<EventCode, PipelineError> {
        Ok(EventCode::try_generate(&*self.ids)?)
    }

    fn unique_name(&self) -> Result<String, PipelineError> {
        Ok(InvitationToken::try_generate(&*self.ids)?
            .as_str()
            .to_owned())
    }

    /// Runs a pure decision that names what it creates through a generator
    /// (`name`), drawing each name from the identifier source. If the source
    /// fails, the decision's result is discarded and the failure returned.
    fn naming<R>(
        &self,
        decide: impl FnOnce(&mut dyn FnMut() -> String) -> R,
    ) -> Result<R, PipelineError> {
        let mut failed = None;
        let out = decide(&mut || match InvitationToken::try_generate(&*self.ids) {
            Ok(t) => t.as_str().to_owned(),
            Err(e) => {
                failed.get_or_insert(e);
                String::new()
            }
        });
        match failed {
            Some(e) => Err(e.into()),
            None => Ok(out),
        }
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

    /// Adds what `make` announces to `changes` when the pipeline announces
    /// ([`PipelineOptions::announce`]); `make` runs only then, so a pipeline
    /// that does not announce pays nothing for it.
    fn announce<I: IntoIterator<Item = Announcement>>(
        &self,
        changes: &mut Vec<Change>,
        make: impl FnOnce() -> I,
    ) {
        if self.options.announce {
            changes.extend(make().into_iter().map(Change::Announce));
        }
    }

    /// Records a refusal and returns it as an outcome.
    async fn refuse(
        &self,
        owner: OwnerId,
        scope: Option<Scope>,
        code: Option<&EventCode>,
        refusal: Refusal,
        mut also: Vec<Change>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, PipelineError> {
        also.push(refusal_record(owner, scope, code, &refusal, now));
        self.store.commit(also).await?;
        Ok(Outcome::Refused(refusal))
    }

    fn notice(
        &self,
        owner: &DomainOwner,
        to: &EmailAddress,
        text: &NoticeText,
        attachment: Option<&Attachment>,
        now: DateTime<Utc>,
    ) -> Result<Change, PipelineError> {
        Ok(Change::Enqueue(
            self.notice_delivery(owner, to, text, attachment, now)?,
        ))
    }

    fn notice_delivery(
        &self,
        owner: &DomainOwner,
        to: &EmailAddress,
        text: &NoticeText,
        attachment: Option<&Attachment>,
        now: DateTime<Utc>,
    ) -> Result<Delivery, PipelineError> {
        let name = self.unique_name()?;
        let message_id = format!("notice.{name}@{}", owner.mail_domain);
        let bytes = write_notice(
            &owner.name,
            &owner.reply,
            to,
            &text.subject,
            &text.body,
            attachment,
            &message_id,
            now,
        );
        Ok(Delivery {
            key: DeliveryKey::Notice(name),
            owner: owner.id,
            payload: Payload::Prepared {
                from: owner.bounce.clone(),
                to: to.clone(),
                bytes,
            },
            attempts: 0,
            due: now,
            state: QueueState::Queued,
            last_error: None,
            group: None,
        })
    }

    /// Runs one attempt of a command (read, decide, commit) until it does not
    /// lose a race: a write that conflicts with another is decided again on a
    /// fresh read, up to [`RETRIES`] times. The one retry loop of the pipeline.
    /// `what` names the command in the error when it keeps losing.
    async fn retrying<R, F, Fut>(&self, what: &str, mut attempt: F) -> Result<R, PipelineError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<R, PipelineError>>,
    {
        for retry in 0..RETRIES {
            match attempt().await {
                Err(PipelineError::Store(StoreError::Conflict(_))) => {
                    self.metrics.conflict_retried();
                    tracing::debug!(
                        command = what,
                        retry = retry + 1,
                        "write lost a race; deciding again"
                    );
                }
                other => return other,
            }
        }
        Err(StoreError::Conflict(format!("{what} kept losing races")).into())
    }

    /// Counts a finished command and reports it on the current span: its
    /// outcome and, when refused, the reason (never the detail, which may
    /// name an address).
    fn finished(
        &self,
        command: &'static str,
        result: Result<Outcome, PipelineError>,
    ) -> Result<Outcome, PipelineError> {
        self.observe(command, result.as_ref());
        result
    }

    fn observe(&self, command: &'static str, result: Result<&Outcome, &PipelineError>) {
        match result {
            Ok(outcome) => {
                self.metrics.command(outcome);
                match outcome {
                    Outcome::Refused(r) => tracing::info!(
                        command,
                        outcome = outcome.label(),
                        reason = r.reason.as_str(),
                        "refused"
                    ),
                    _ => tracing::info!(command, outcome = outcome.label(), "done"),
                }
            }
            Err(e) => {
                let reason = match e {
                    PipelineError::Refused(r) => {
                        self.metrics.refused(r.reason);
                        Some(r.reason.as_str())
                    }
                    _ => None,
                };
                self.metrics.failed();
                tracing::warn!(
                    command,
                    outcome = "error",
                    reason,
                    error_kind = error_kind(e),
                    "failed"
                );
            }
        }
    }

    // ---------------------------------------------------------------- inbound

    /// Reads a message that arrived for one of calinvite's mailboxes and acts
    /// on it. `auth` is the adapter's verdict (see [`crate::manual`]).
    pub async fn receive(
        &self,
        raw: &[u8],
        envelope: InboundEnvelope,
        auth: AuthVerdict,
    ) -> Result<Outcome, PipelineError> {
        let message = crate::inbound::parse_inbound(raw, &envelope, &auth, &self.options.limits);
        self.handle(message).await
    }

    /// Acts on a parsed inbound message: routes it to its room.
    #[tracing::instrument(name = "handle", skip_all, fields(kind = message.kind.name(), owner))]
    pub async fn handle(&self, message: InboundMessage) -> Result<Outcome, PipelineError> {
        let result = self.route(message).await;
        self.finished("handle", result)
    }

    async fn route(&self, message: InboundMessage) -> Result<Outcome, PipelineError> {
        let now = self.now();
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
        tracing::Span::current().record("owner", owner.id.0);
        match message.kind.clone() {
            InboundKind::OrganizerRequest(req) if mailbox == owner.ingest => {
                self.organizer_request(&owner, &message, req, now).await
            }
            InboundKind::OrganizerCancel(c) if mailbox == owner.ingest => {
                self.organizer_cancel(&owner, &message, c, now).await
            }
            InboundKind::Reply(r) => self.reply(&owner, r, message.from.as_ref(), now).await,
            InboundKind::Counter(r) => self.counter(&owner, r, now).await,
            InboundKind::Refresh(r) => self.refresh(&owner, r, now).await,
            InboundKind::DeliveryStatus(d) => self.delivery_status(&owner, d, now).await,
            InboundKind::AutoReply { .. } => Ok(Outcome::Ignored("automatic reply")),
            InboundKind::NotCalendar => Ok(Outcome::Ignored("not a calendar message")),
            // Ambiguous mail is refused before any policy decision: no From
            // is looked at, nobody is told (its sender is not known).
            InboundKind::Unsupported {
                reason: crate::inbound::UnsupportedReason::Ambiguous,
                detail,
            } => {
                let r = Refusal::new(RefusalReason::AmbiguousMessage, detail);
                self.refuse(owner.id, None, None, r, Vec::new(), now).await
            }
            InboundKind::Unsupported { reason, detail } => {
                let r = Refusal::new(
                    RefusalReason::Unreadable,
                    format!("{}: {detail}", reason.as_str()),
                );
                self.refuse(owner.id, None, None, r, Vec::new(), now).await
            }
            other => {
                let r = Refusal::new(
                    RefusalReason::NotActionable,
                    format!("a {} sent to {}", other.name(), mailbox.to_unicode()),
                );
                self.refuse(owner.id, None, None, r, Vec::new(), now).await
            }
        }
    }
}

/// The record of a refusal, at `now`.
fn refusal_record(
    owner: OwnerId,
    scope: Option<Scope>,
    code: Option<&EventCode>,
    refusal: &Refusal,
    now: DateTime<Utc>,
) -> Change {
    Change::Refuse(RefusalRecord {
        owner,
        organizer: scope.map(|s| s.organizer),
        code: code.cloned(),
        at: now,
        refusal: refusal.clone(),
    })
}

/// The message and history entry that queue `kind` at `sequence` for an
/// invitation (`copy` 0 for the first, more for a re-send).
fn queue_invitation(
    invitation: &Invitation,
    kind: MessageKind,
    sequence: Sequence,
    copy: u32,
    now: DateTime<Utc>,
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
            due: now,
            state: QueueState::Queued,
            last_error: None,
            group: None,
        }),
        Change::AppendHistory(HistoryEntry {
            token: invitation.token.clone(),
            at: now,
            kind: HistoryKind::Queued { kind, sequence },
        }),
    ]
}

/// The kind of a failure, for logs (never its text, which may name an address).
fn error_kind(e: &PipelineError) -> &'static str {
    match e {
        PipelineError::Refused(_) => "refused",
        PipelineError::NotFound(_) => "not_found",
        PipelineError::Misuse(_) => "misuse",
        PipelineError::Store(StoreError::Conflict(_) | StoreError::NotLeased { .. }) => "conflict",
        PipelineError::Store(_) => "store",
        PipelineError::IdSource(_) => "id_source",
    }
}
