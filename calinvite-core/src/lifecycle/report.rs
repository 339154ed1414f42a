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

/// Counts over a set of invitations, each named by what it measures.
///
/// Handing a message to the mail server and having it reach the mailbox are
/// two different facts: [`submitted`](Report::submitted) counts the first,
/// [`delivery_confirmed`](Report::delivery_confirmed) the second, which only
/// a transport that reports deliveries can tell
/// ([`Transport::confirms_delivery`](super::Transport::confirms_delivery)).
/// [`Report::to_text`] shows that count only when
/// [`confirms_delivery`](Report::confirms_delivery) is set. See the manual's
/// [reports](crate::manual::lifecycle#reports).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// Events counted.
    pub events: u64,
    /// Invitations.
    pub invitations: u64,
    /// Invitations the mail server accepted at least once (the SMTP relay or
    /// SES took the message). Says nothing of delivery to the mailbox.
    pub submitted: u64,
    /// Invitations whose delivery to the recipient's mail server was
    /// confirmed: the last delivery report about them (a delivery-status
    /// notification, or an SES delivery notification) said delivered.
    pub delivery_confirmed: u64,
    /// Invitations that failed permanently (a 5xx refusal or a permanent
    /// bounce report): the address is suppressed.
    pub hard_bounced: u64,
    /// Invitations whose last delivery report was a temporary failure.
    pub soft_bounced: u64,
    /// Invited people whose last answer is Yes (`PARTSTAT=ACCEPTED`).
    pub accepted: u64,
    /// Invited people whose last answer is No (`PARTSTAT=DECLINED`).
    pub declined: u64,
    /// Invited people whose last answer is Maybe (`PARTSTAT=TENTATIVE`).
    pub tentative: u64,
    /// Invited people who delegated to someone else (`PARTSTAT=DELEGATED`).
    pub delegated: u64,
    /// Invited people who have not answered yet.
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
    /// Whether the transport the invitations went through confirms delivery
    /// ([`ReadsStore::confirms_delivery`]): only then does
    /// [`delivery_confirmed`](Report::delivery_confirmed) stand for every
    /// delivery, and only then does [`Report::to_text`] show it. The report
    /// functions set it; `false` by default.
    pub confirms_delivery: bool,
}

impl Report {
    /// Answered (any answer) out of those submitted, 0..=1; 0 when nothing
    /// was submitted.
    pub fn response_rate(&self) -> f64 {
        if self.submitted == 0 {
            return 0.0;
        }
        (self.accepted + self.declined + self.tentative + self.delegated) as f64
            / self.submitted as f64
    }

    /// Adds one invitation and its history.
    pub fn count(&mut self, inv: &Invitation, history: &[super::model::HistoryEntry]) {
        self.invitations += 1;
        if inv.sent_at.is_some() {
            self.submitted += 1;
        }
        match inv.delivery {
            DeliveryState::Delivered => self.delivery_confirmed += 1,
            DeliveryState::HardBounced => self.hard_bounced += 1,
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

    /// Adds another report's counts. Whether delivery is confirmed
    /// ([`confirms_delivery`](Report::confirms_delivery)) stays this
    /// report's: whoever merges reports says it of the sum.
    pub fn merge(&mut self, other: &Report) {
        self.events += other.events;
        self.invitations += other.invitations;
        self.submitted += other.submitted;
        self.delivery_confirmed += other.delivery_confirmed;
        self.hard_bounced += other.hard_bounced;
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

    /// The report as plain text (the body of a mailed report): one counter
    /// a line, labelled by what it measures ("Accepted by mail server" for
    /// [`submitted`](Report::submitted), "Hard bounces", "Answered Yes" …).
    /// The "Delivery confirmed" count is shown only when
    /// [`confirms_delivery`](Report::confirms_delivery) is set; otherwise its
    /// line says that the transport does not report delivery, so that no
    /// count reads as messages lost.
    pub fn to_text(&self) -> String {
        let count = |n: u64| n.to_string();
        let delivery = if self.confirms_delivery {
            ("Delivery confirmed", count(self.delivery_confirmed))
        } else {
            (
                "Delivery confirmation",
                "not reported by this transport".to_owned(),
            )
        };
        let rows = [
            ("Events", count(self.events)),
            ("Invitations", count(self.invitations)),
            ("Accepted by mail server", count(self.submitted)),
            delivery,
            ("Hard bounces", count(self.hard_bounced)),
            ("Soft bounces", count(self.soft_bounced)),
            ("Answered Yes", count(self.accepted)),
            ("Answered No", count(self.declined)),
            ("Answered Maybe", count(self.tentative)),
            ("Delegated", count(self.delegated)),
            ("No answer yet", count(self.no_answer)),
            ("Late answers", count(self.late)),
            ("Forwarded answers", count(self.forwarded)),
            ("New times proposed", count(self.counters)),
            ("Unsubscribed", count(self.unsubscribed)),
            ("Spam complaints", count(self.complaints)),
            (
                "Response rate",
                format!("{:.1}%", self.response_rate() * 100.0),
            ),
        ];
        let mut s = String::new();
        for (name, value) in rows {
            let _ = writeln!(s, "{name:<LABEL$} {value}");
        }
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

/// The width of [`Report::to_text`]'s label column: the longest label, plus
/// a space.
const LABEL: usize = 24;

const PAGE: usize = 1000;

/// What reports read through: a store wrapped in [`Reports`], or a
/// [`crate::lifecycle::Pipeline`] over one.
pub trait ReadsStore {
    /// The store read.
    type Store: Store;
    /// The store.
    fn read_store(&self) -> &Self::Store;
    /// Whether the transport the invitations went through confirms delivery
    /// ([`Transport::confirms_delivery`](super::Transport::confirms_delivery)):
    /// the report functions copy it into [`Report::confirms_delivery`]. A
    /// pipeline answers for its transport; [`Reports`] answers what it was
    /// told ([`Reports::confirming_delivery`]). `false` unless said otherwise.
    fn confirms_delivery(&self) -> bool {
        false
    }
}

/// A store, read for reports by a process with no pipeline (no transport,
/// clock or identifier source): `event_report(&Reports::new(&store), …)`.
///
/// Such a process does not hold the transport, so it says whether the
/// transport confirms delivery:
/// `Reports::new(&store).confirming_delivery(true)` for one that does (SES,
/// with its delivery notifications handled). Otherwise the reports do not
/// show a confirmed-delivery count.
#[derive(Debug)]
pub struct Reports<'a, S> {
    store: &'a S,
    confirms_delivery: bool,
}

impl<'a, S: Store> Reports<'a, S> {
    /// Reports over `store`, for a transport that does not confirm delivery.
    pub fn new(store: &'a S) -> Self {
        Reports {
            store,
            confirms_delivery: false,
        }
    }

    /// Whether the transport the invitations went through confirms delivery
    /// (its [`Transport::confirms_delivery`](super::Transport::confirms_delivery)).
    #[must_use]
    pub fn confirming_delivery(mut self, confirms: bool) -> Self {
        self.confirms_delivery = confirms;
        self
    }
}

impl<R: ReadsStore + ?Sized> ReadsStore for std::sync::Arc<R> {
    type Store = R::Store;
    fn read_store(&self) -> &R::Store {
        (**self).read_store()
    }
    fn confirms_delivery(&self) -> bool {
        (**self).confirms_delivery()
    }
}

impl<S: Store> ReadsStore for Reports<'_, S> {
    type Store = S;
    fn read_store(&self) -> &S {
        self.store
    }
    fn confirms_delivery(&self) -> bool {
        self.confirms_delivery
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
    let mut report = Report {
        confirms_delivery: p.confirms_delivery(),
        ..Report::default()
    };
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
    let mut report = Report {
        confirms_delivery: p.confirms_delivery(),
        ..Report::default()
    };
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
    let mut report = Report {
        confirms_delivery: p.confirms_delivery(),
        ..Report::default()
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Twelve invitations the mail server accepted, none confirmed delivered,
    /// half answered Yes.
    fn twelve_accepted() -> Report {
        Report {
            events: 12,
            invitations: 12,
            submitted: 12,
            accepted: 6,
            declined: 2,
            tentative: 2,
            no_answer: 2,
            ..Report::default()
        }
    }

    fn line<'a>(text: &'a str, label: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(label))
    }

    #[test]
    fn without_confirmation_the_text_shows_no_confirmed_delivery_count() {
        let report = twelve_accepted();
        assert!(!report.confirms_delivery, "not confirmed unless said");
        let text = report.to_text();
        assert_eq!(
            line(&text, "Accepted by mail server"),
            Some("Accepted by mail server  12")
        );
        assert_eq!(line(&text, "Delivery confirmed"), None, "{text}");
        assert_eq!(line(&text, "Delivered"), None, "{text}");
        assert_eq!(line(&text, "Sent"), None, "{text}");
        assert_eq!(
            line(&text, "Delivery confirmation"),
            Some("Delivery confirmation    not reported by this transport")
        );
    }

    #[test]
    fn with_confirmation_the_text_shows_the_confirmed_delivery_count() {
        let report = Report {
            delivery_confirmed: 11,
            hard_bounced: 1,
            confirms_delivery: true,
            ..twelve_accepted()
        };
        let text = report.to_text();
        assert_eq!(
            line(&text, "Delivery confirmed"),
            Some("Delivery confirmed       11"),
            "{text}"
        );
        assert_eq!(line(&text, "Delivery confirmation"), None, "{text}");
        assert_eq!(
            line(&text, "Hard bounces"),
            Some("Hard bounces             1")
        );
    }

    #[test]
    fn every_counter_is_labelled_by_what_it_measures_in_one_column() {
        let text = Report {
            confirms_delivery: true,
            ..twelve_accepted()
        }
        .to_text();
        let labels: Vec<&str> = text.lines().map(|l| l[..LABEL].trim_end()).collect();
        assert_eq!(
            labels,
            [
                "Events",
                "Invitations",
                "Accepted by mail server",
                "Delivery confirmed",
                "Hard bounces",
                "Soft bounces",
                "Answered Yes",
                "Answered No",
                "Answered Maybe",
                "Delegated",
                "No answer yet",
                "Late answers",
                "Forwarded answers",
                "New times proposed",
                "Unsubscribed",
                "Spam complaints",
                "Response rate",
            ]
        );
        for l in text.lines() {
            // The value starts in the same column on every line.
            assert_eq!(&l[LABEL..=LABEL], " ", "{l:?}");
            assert_ne!(&l[LABEL + 1..LABEL + 2], " ", "{l:?}");
        }
        assert_eq!(
            line(&text, "Response rate"),
            Some("Response rate            83.3%")
        );
    }

    #[test]
    fn the_response_rate_is_answers_over_submitted() {
        assert_eq!(Report::default().response_rate(), 0.0);
        let r = twelve_accepted();
        assert!((r.response_rate() - 10.0 / 12.0).abs() < 1e-12);
    }

    #[test]
    fn merging_adds_counts_and_keeps_whether_delivery_is_confirmed() {
        let mut sum = Report {
            confirms_delivery: true,
            ..twelve_accepted()
        };
        sum.merge(&Report {
            delivery_confirmed: 3,
            hard_bounced: 1,
            ..twelve_accepted()
        });
        assert_eq!(
            (
                sum.submitted,
                sum.delivery_confirmed,
                sum.hard_bounced,
                sum.accepted
            ),
            (24, 3, 1, 12)
        );
        assert!(sum.confirms_delivery);
    }
}
