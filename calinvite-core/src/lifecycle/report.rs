//! Reports per event, per organizer and per domain owner, and the per-event
//! CSV export. Counted from invitations and their history, so a report always
//! agrees with a recount.
//!
//! Reports read through a [`Store`] alone: a reporting process needs no
//! transport, clock or pipeline. Every function takes anything that
//! [`ReadsStore`]: a store itself, or a pipeline over one.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{NaiveDate, SecondsFormat};

use super::error::PipelineError;
use super::model::{
    DeliveryState, HistoryKind, Invitation, OwnerId, RefusalReason, RefusalRecord, Scope,
};
use super::store::Store;
use crate::event::ParticipationStatus;
use crate::ids::{EventCode, InvitationToken};

/// Counts over a set of invitations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// Events counted.
    pub events: u64,
    /// Invitations.
    pub invitations: u64,
    /// Accepted by a relay at least once.
    pub sent: u64,
    /// Reported delivered.
    pub delivered: u64,
    /// Hard-bounced (suppressed).
    pub bounced: u64,
    /// Soft-bounced last.
    pub soft_bounced: u64,
    /// Last answer Yes.
    pub accepted: u64,
    /// Last answer No.
    pub declined: u64,
    /// Last answer Maybe.
    pub tentative: u64,
    /// Last answer delegated to someone else.
    pub delegated: u64,
    /// No answer yet.
    pub no_answer: u64,
    /// Answers that came after the event was over.
    pub late: u64,
    /// Answers from forwarded copies (other people).
    pub forwarded: u64,
    /// Proposals of another time.
    pub counters: u64,
    /// Recipients who unsubscribed.
    pub unsubscribed: u64,
    /// Spam complaints.
    pub complaints: u64,
    /// Answers per day (UTC), forwarded ones excluded.
    pub answers_over_time: BTreeMap<NaiveDate, u64>,
    /// Refusals by reason.
    pub refusals: BTreeMap<RefusalReason, u64>,
}

impl Report {
    /// Answered (any answer) out of those sent, 0..=1; 0 when nothing was sent.
    pub fn response_rate(&self) -> f64 {
        if self.sent == 0 {
            return 0.0;
        }
        (self.accepted + self.declined + self.tentative + self.delegated) as f64 / self.sent as f64
    }

    /// Adds one invitation and its history.
    pub fn count(&mut self, inv: &Invitation, history: &[super::model::HistoryEntry]) {
        self.invitations += 1;
        if inv.sent_at.is_some() {
            self.sent += 1;
        }
        match inv.delivery {
            DeliveryState::Delivered => self.delivered += 1,
            DeliveryState::HardBounced => self.bounced += 1,
            DeliveryState::SoftBounced => self.soft_bounced += 1,
            _ => {}
        }
        match inv.status {
            Some(ParticipationStatus::Accepted) => self.accepted += 1,
            Some(ParticipationStatus::Declined) => self.declined += 1,
            Some(ParticipationStatus::Tentative) => self.tentative += 1,
            Some(ParticipationStatus::Delegated) => self.delegated += 1,
            _ => self.no_answer += 1,
        }
        for h in history {
            match &h.kind {
                HistoryKind::Answer {
                    forwarded_from,
                    late,
                    ..
                } => {
                    if *late {
                        self.late += 1;
                    }
                    if forwarded_from.is_some() {
                        self.forwarded += 1;
                    } else {
                        *self.answers_over_time.entry(h.at.date_naive()).or_default() += 1;
                    }
                }
                HistoryKind::Counter { .. } => self.counters += 1,
                HistoryKind::Unsubscribed => self.unsubscribed += 1,
                HistoryKind::Complained { .. } => self.complaints += 1,
                _ => {}
            }
        }
    }

    /// Adds refusals.
    pub fn count_refusals<'a>(&mut self, refusals: impl IntoIterator<Item = &'a RefusalRecord>) {
        for r in refusals {
            *self.refusals.entry(r.refusal.reason).or_default() += 1;
        }
    }

    /// Adds another report's counts.
    pub fn merge(&mut self, other: &Report) {
        self.events += other.events;
        self.invitations += other.invitations;
        self.sent += other.sent;
        self.delivered += other.delivered;
        self.bounced += other.bounced;
        self.soft_bounced += other.soft_bounced;
        self.accepted += other.accepted;
        self.declined += other.declined;
        self.tentative += other.tentative;
        self.delegated += other.delegated;
        self.no_answer += other.no_answer;
        self.late += other.late;
        self.forwarded += other.forwarded;
        self.counters += other.counters;
        self.unsubscribed += other.unsubscribed;
        self.complaints += other.complaints;
        for (d, n) in &other.answers_over_time {
            *self.answers_over_time.entry(*d).or_default() += n;
        }
        for (r, n) in &other.refusals {
            *self.refusals.entry(*r).or_default() += n;
        }
    }

    /// The report as plain text (the body of a mailed report).
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let rows = [
            ("Events", self.events),
            ("Invitations", self.invitations),
            ("Sent", self.sent),
            ("Delivered", self.delivered),
            ("Bounced", self.bounced),
            ("Soft bounces", self.soft_bounced),
            ("Yes", self.accepted),
            ("No", self.declined),
            ("Maybe", self.tentative),
            ("Delegated", self.delegated),
            ("No answer", self.no_answer),
            ("Late answers", self.late),
            ("Forwarded answers", self.forwarded),
            ("New times proposed", self.counters),
            ("Unsubscribed", self.unsubscribed),
            ("Spam complaints", self.complaints),
        ];
        for (name, n) in rows {
            let _ = writeln!(s, "{name:<20} {n}");
        }
        let _ = writeln!(
            s,
            "{:<20} {:.1}%",
            "Response rate",
            self.response_rate() * 100.0
        );
        if !self.answers_over_time.is_empty() {
            s.push_str("\nAnswers per day (UTC):\n");
            for (d, n) in &self.answers_over_time {
                let _ = writeln!(s, "  {d}  {n}");
            }
        }
        if !self.refusals.is_empty() {
            s.push_str("\nRefused:\n");
            for (r, n) in &self.refusals {
                let _ = writeln!(s, "  {r}  {n}");
            }
        }
        s
    }
}

const PAGE: usize = 1000;

/// What reports read through: a store wrapped in [`Reports`], or a
/// [`crate::lifecycle::Pipeline`] over one.
pub trait ReadsStore {
    /// The store read.
    type Store: Store;
    /// The store.
    fn read_store(&self) -> &Self::Store;
}

/// A store, read for reports by a process with no pipeline (no transport,
/// clock or identifier source): `event_report(&Reports::new(&store), …)`.
#[derive(Debug)]
pub struct Reports<'a, S>(&'a S);

impl<'a, S: Store> Reports<'a, S> {
    /// Reports over `store`.
    pub fn new(store: &'a S) -> Self {
        Reports(store)
    }
}

impl<R: ReadsStore + ?Sized> ReadsStore for std::sync::Arc<R> {
    type Store = R::Store;
    fn read_store(&self) -> &R::Store {
        (**self).read_store()
    }
}

impl<S: Store> ReadsStore for Reports<'_, S> {
    type Store = S;
    fn read_store(&self) -> &S {
        self.0
    }
}

/// The organizer's event, or not found (another organizer's is not theirs).
async fn scoped<S: Store>(store: &S, scope: Scope, code: &EventCode) -> Result<(), PipelineError> {
    store
        .event(scope.owner, code)
        .await?
        .filter(|e| e.scope == scope)
        .map(drop)
        .ok_or_else(|| PipelineError::NotFound(format!("event {code}")))
}

async fn count_event<S: Store>(
    store: &S,
    code: &EventCode,
    report: &mut Report,
) -> Result<(), PipelineError> {
    let mut after: Option<InvitationToken> = None;
    loop {
        let page = store.invitations(code, after.as_ref(), PAGE).await?;
        for inv in &page {
            let history = store.history(&inv.token).await?;
            report.count(inv, &history);
        }
        after = page.last().map(|i| i.token.clone());
        if page.len() < PAGE {
            break;
        }
    }
    report.events += 1;
    Ok(())
}

/// The report of one event of the organizer's.
pub async fn event_report<R: ReadsStore + ?Sized>(
    p: &R,
    scope: Scope,
    code: &EventCode,
) -> Result<Report, PipelineError> {
    scoped(p.read_store(), scope, code).await?;
    let mut report = Report::default();
    count_event(p.read_store(), code, &mut report).await?;
    let refusals = p.read_store().refusals(scope.owner, Some(scope)).await?;
    report.count_refusals(refusals.iter().filter(|r| r.code.as_ref() == Some(code)));
    Ok(report)
}

/// The report of all of an organizer's events.
pub async fn organizer_report<R: ReadsStore + ?Sized>(
    p: &R,
    scope: Scope,
) -> Result<Report, PipelineError> {
    let mut report = Report::default();
    let mut after: Option<EventCode> = None;
    loop {
        let events = p.read_store().events(scope, after.as_ref(), PAGE).await?;
        for e in &events {
            count_event(p.read_store(), &e.code, &mut report).await?;
        }
        after = events.last().map(|e| e.code.clone());
        if events.len() < PAGE {
            break;
        }
    }
    report.count_refusals(&p.read_store().refusals(scope.owner, Some(scope)).await?);
    Ok(report)
}

/// The report of a whole domain owner: all organizers, plus the refusals
/// no organizer could be named for (strangers writing to the ingest address).
pub async fn owner_report<R: ReadsStore + ?Sized>(
    p: &R,
    owner: OwnerId,
) -> Result<Report, PipelineError> {
    let mut report = Report::default();
    for org in p.read_store().organizers(owner).await? {
        let mut r = organizer_report(p, org.scope).await?;
        r.refusals.clear();
        report.merge(&r);
    }
    report.count_refusals(&p.read_store().refusals(owner, None).await?);
    Ok(report)
}

/// The CSV columns of [`event_csv`].
pub const CSV_HEADER: [&str; 8] = [
    "address",
    "name",
    "status",
    "answered at",
    "source",
    "sent at",
    "sequence held",
    "history length",
];

/// One row per invitation (RFC 4180, UTF-8, cells that a spreadsheet would
/// run as a formula neutralised). The address is shown as people read it: an
/// internationalised domain in U-labels
/// ([`EmailAddress::to_unicode`](crate::EmailAddress::to_unicode)).
pub async fn event_csv<R: ReadsStore + ?Sized>(
    p: &R,
    scope: Scope,
    code: &EventCode,
) -> Result<String, PipelineError> {
    let store = p.read_store();
    scoped(store, scope, code).await?;
    let mut invitations = Vec::new();
    let mut after: Option<InvitationToken> = None;
    loop {
        let page = store.invitations(code, after.as_ref(), PAGE).await?;
        let n = page.len();
        after = page.last().map(|i| i.token.clone());
        invitations.extend(page);
        if n < PAGE {
            break;
        }
    }
    let mut rows: Vec<[String; 8]> = Vec::with_capacity(invitations.len());
    for inv in &invitations {
        let history = p.read_store().history(&inv.token).await?;
        let ts = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
                .unwrap_or_default()
        };
        rows.push([
            // Shown to people: an internationalised domain in U-labels.
            inv.recipient.address().to_unicode().into_owned(),
            inv.recipient
                .name()
                .map(|n| n.as_str().to_owned())
                .unwrap_or_default(),
            inv.status
                .map_or("no answer", |s| s.as_str())
                .to_ascii_lowercase(),
            ts(inv.answered_at),
            inv.source.as_str().to_owned(),
            ts(inv.sent_at),
            inv.sequence_held.map(|s| s.to_string()).unwrap_or_default(),
            history.len().to_string(),
        ]);
    }
    Ok(crate::csv::table(
        &CSV_HEADER,
        rows.iter().map(|r| r.iter().map(String::as_str)),
    ))
}
