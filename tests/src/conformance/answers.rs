//! Answers and what follows them: replies and their ordering ([interop rules 19–21](calinvite_core::manual::interop#rule-19)),
//! recurring instances, late answers, counters and refreshes, delivery
//! reports and transport failures ([D8](calinvite_core::manual::design#d8), [D12](calinvite_core::manual::design#d12)), unsubscribes and web answers
//! ([D5](calinvite_core::manual::design#d5), [D11](calinvite_core::manual::design#d11)), and the reports and CSV export counted from all of it.
//!
//! Every scenario talks to the pipeline the way the world does: real iMIP
//! messages into [`Pipeline::receive`](calinvite_core::lifecycle::Pipeline::receive),
//! real messages out of the recording transport.
#![allow(clippy::unwrap_used, clippy::panic, clippy::too_many_lines)]

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, TimeZone as _, Utc};

use crate::scenario::{CalendarEvent, Delivered, ORGANIZER, Scenario};
use calinvite_core::EmailAddress;
use calinvite_core::IdempotencyKey;
use calinvite_core::Method;
use calinvite_core::OccurrenceId;
use calinvite_core::inbound::{
    AuthVerdict, InboundEnvelope, InboundEvent, InboundKind, InboundLimits, parse_inbound,
};
use calinvite_core::lifecycle::engine::backoff_seconds;
use calinvite_core::lifecycle::report::{
    CSV_HEADER, event_csv, event_report, organizer_report, owner_report,
};
use calinvite_core::lifecycle::{
    DeliveryKey, DeliveryReport, DeliveryState, DomainOwner, HistoryEntry, HistoryKind, Invitation,
    InvitationSource, LateAnswers, OwnerId, RefusalReason, Settings, Store, StoreError,
    SuppressionReason, TransportError,
};
use calinvite_core::lifecycle::{Outcome, PipelineError};
use calinvite_core::spi::{Change, Delivery, Lease, Payload, QueueState, Settlement};
use calinvite_core::{EventCode, InvitationToken, InvitationUid, Sequence};
use calinvite_core::{ParticipationStatus, Recipient};
use mail_parser::MimeHeaders as _;

// ------------------------------------------------------------------ helpers

async fn scenario<S: Store>(store: S, settings: Settings) -> Scenario<S> {
    Scenario::new(store, settings)
        .await
        .unwrap_or_else(|e| panic!("scenario setup failed: {e}"))
}

fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap_or_else(|e| panic!("test address {s}: {e}"))
}

/// 2026-`month`-`day` `hour`:00 UTC.
fn utc(month: u32, day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, month, day, hour, 0, 0).unwrap()
}

async fn create<S: Store>(s: &Scenario<S>, ev: &CalendarEvent) -> EventCode {
    match s.organizer_sends(ev).await {
        Ok(Outcome::EventCreated(code)) => code,
        other => panic!("the organizer's first request should create an event, got {other:?}"),
    }
}

async fn invite_recipient<S: Store>(
    s: &Scenario<S>,
    code: &EventCode,
    recipient: Recipient,
) -> Outcome {
    s.pipeline
        .invite(s.scope(), code, recipient, InvitationSource::Api)
        .await
        .unwrap_or_else(|e| panic!("invite failed: {e}"))
}

async fn invite<S: Store>(s: &Scenario<S>, code: &EventCode, who: &str) -> InvitationToken {
    match invite_recipient(s, code, Recipient::new(addr(who))).await {
        Outcome::Invited(token) => token,
        other => panic!("inviting {who} should create an invitation, got {other:?}"),
    }
}

async fn deliver<S: Store>(s: &Scenario<S>) -> usize {
    s.deliver()
        .await
        .unwrap_or_else(|e| panic!("delivery run failed: {e}"))
}

async fn invitation<S: Store>(s: &Scenario<S>, code: &EventCode, who: &str) -> Invitation {
    let who = addr(who);
    s.pipeline
        .invitations(s.scope(), code)
        .await
        .unwrap_or_else(|e| panic!("listing invitations failed: {e}"))
        .into_iter()
        .find(|i| i.recipient().address() == &who)
        .unwrap_or_else(|| panic!("no invitation for {who}"))
}

async fn history<S: Store>(s: &Scenario<S>, token: &InvitationToken) -> Vec<HistoryEntry> {
    s.pipeline
        .history(s.scope(), token)
        .await
        .unwrap_or_else(|e| panic!("reading history failed: {e}"))
}

/// An answer as the history records it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Answer {
    at: DateTime<Utc>,
    status: ParticipationStatus,
    instance: Option<OccurrenceId>,
    comment: Option<String>,
    sequence: Sequence,
    forwarded_from: Option<EmailAddress>,
    sent_by: Option<EmailAddress>,
    late: bool,
    web: bool,
}

fn answers(history: &[HistoryEntry]) -> Vec<Answer> {
    history
        .iter()
        .filter_map(|h| match &h.kind {
            HistoryKind::Answer {
                status,
                instance,
                comment,
                sequence,
                forwarded_from,
                sent_by,
                late,
                web,
            } => Some(Answer {
                at: h.at,
                status: *status,
                instance: *instance,
                comment: comment.clone(),
                sequence: *sequence,
                forwarded_from: forwarded_from.clone(),
                sent_by: sent_by.clone(),
                late: *late,
                web: *web,
            }),
            _ => None,
        })
        .collect()
}

async fn answers_of<S: Store>(s: &Scenario<S>, code: &EventCode, who: &str) -> Vec<Answer> {
    let inv = invitation(s, code, who).await;
    answers(&history(s, inv.token()).await)
}

async fn refusals_of<S: Store>(
    s: &Scenario<S>,
    reason: RefusalReason,
    code: Option<&EventCode>,
) -> usize {
    s.pipeline
        .refusals(s.owner.id, None)
        .await
        .unwrap_or_else(|e| panic!("reading refusals failed: {e}"))
        .iter()
        .filter(|r| r.refusal.reason == reason && r.code.as_ref() == code)
        .count()
}

fn expect_answer(outcome: Result<Outcome, PipelineError>, what: &str) {
    match outcome {
        Ok(Outcome::AnswerRecorded(_)) => {}
        other => panic!("{what}: expected the answer to be recorded, got {other:?}"),
    }
}

fn expect_refused(outcome: Result<Outcome, PipelineError>, reason: RefusalReason, what: &str) {
    match outcome {
        Ok(Outcome::Refused(r)) if r.reason == reason => {}
        other => panic!("{what}: expected a {reason} refusal, got {other:?}"),
    }
}

fn parse(bytes: &[u8]) -> calinvite_core::inbound::InboundMessage {
    parse_inbound(
        bytes,
        &InboundEnvelope::default(),
        &AuthVerdict::default(),
        &InboundLimits::default(),
    )
}

/// The event a REQUEST a recipient received carries.
fn request_event(d: &Delivered) -> InboundEvent {
    match parse(&d.bytes).kind {
        InboundKind::OrganizerRequest(r) => r.event,
        other => panic!("expected a REQUEST, got {}", other.name()),
    }
}

fn last_calendar<S: Store>(s: &Scenario<S>, who: &str) -> Delivered {
    s.calendar_inbox(who)
        .pop()
        .unwrap_or_else(|| panic!("{who} received no calendar message"))
}

/// A REPLY as a calendar client writes it, for replies the harness cannot
/// make (older SEQUENCE, older DTSTAMP, a comment, a RECURRENCE-ID with a TZID).
struct RawReply<'a> {
    uid: &'a str,
    sequence: u64,
    stamp: DateTime<Utc>,
    attendee: &'a str,
    partstat: &'a str,
    /// The whole RECURRENCE-ID property, if any.
    instance: Option<&'a str>,
    comment: Option<&'a str>,
}

impl RawReply<'_> {
    fn bytes(&self, reply_to: &EmailAddress) -> Vec<u8> {
        let mut ics = format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Conformance//Client//EN\r\n\
             METHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:{}\r\nSEQUENCE:{}\r\nDTSTAMP:{}\r\n\
             ORGANIZER:mailto:{reply_to}\r\nATTENDEE;PARTSTAT={}:mailto:{}\r\n",
            self.uid,
            self.sequence,
            self.stamp.format("%Y%m%dT%H%M%SZ"),
            self.partstat,
            self.attendee,
        );
        if let Some(i) = self.instance {
            let _ = write!(ics, "{i}\r\n");
        }
        if let Some(c) = self.comment {
            let _ = write!(ics, "COMMENT:{c}\r\n");
        }
        ics.push_str("END:VEVENT\r\nEND:VCALENDAR\r\n");
        format!(
            "From: {who}\r\nTo: {reply_to}\r\nSubject: {partstat}\r\n\
             Date: Sun, 22 Nov 2026 09:00:00 +0000\r\n\
             Message-ID: <raw.{seq}.{stamp}@client.example>\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/calendar; charset=UTF-8; method=REPLY\r\n\
             Content-Transfer-Encoding: 8bit\r\n\r\n{ics}",
            who = self.attendee,
            partstat = self.partstat,
            seq = self.sequence,
            stamp = self.stamp.timestamp(),
        )
        .into_bytes()
    }

    async fn send<S: Store>(&self, s: &Scenario<S>) -> Result<Outcome, PipelineError> {
        let envelope = InboundEnvelope {
            mail_from: Some(self.attendee.to_owned()),
            rcpt_to: vec![s.owner.reply.to_string()],
            peer: None,
        };
        s.pipeline
            .receive(
                &self.bytes(&s.owner.reply),
                envelope,
                AuthVerdict::default(),
            )
            .await
    }
}

/// Sends raw bytes to the owner's reply mailbox, as a recipient's server would.
async fn receive_reply<S: Store>(
    s: &Scenario<S>,
    from: &str,
    bytes: &[u8],
) -> Result<Outcome, PipelineError> {
    let envelope = InboundEnvelope {
        mail_from: Some(from.to_owned()),
        rcpt_to: vec![s.owner.reply.to_string()],
        peer: None,
    };
    s.pipeline
        .receive(bytes, envelope, AuthVerdict::default())
        .await
}

fn message_ids(sent: &[calinvite_core::lifecycle::Recorded]) -> Vec<String> {
    sent.iter()
        .map(|m| {
            parse(&m.bytes)
                .message_id
                .unwrap_or_else(|| panic!("a sent message has no Message-ID"))
        })
        .collect()
}

// ---------------------------------------------------------------- replies

/// A reply records status, time, SEQUENCE and comment; a changed mind updates the status and keeps both answers.
pub(super) async fn replies_record_status_and_history<S: Store>(store: S) {
    let s = scenario(store, Settings::default()).await;
    let code = create(&s, &CalendarEvent::launch("replies-1@example.com")).await;
    let token = invite(&s, &code, "guest@example.org").await;
    deliver(&s).await;
    let request = last_calendar(&s, "guest@example.org");
    assert_eq!(request.method.as_deref(), Some("REQUEST"));
    assert_eq!(
        request.sequence,
        Some(0),
        "a first invitation has SEQUENCE 0"
    );
    let before = invitation(&s, &code, "guest@example.org").await;
    assert_eq!(before.status(), None, "nobody answered yet");

    s.advance(3600);
    let first_at = s.pipeline.now();
    expect_answer(
        s.reply("guest@example.org", "ACCEPTED").await,
        "first reply",
    );
    let inv = invitation(&s, &code, "guest@example.org").await;
    assert_eq!(inv.status(), Some(ParticipationStatus::Accepted));
    assert_eq!(
        inv.answered_at(),
        Some(first_at),
        "answered_at is when it came"
    );
    let a = answers(&history(&s, &token).await);
    assert_eq!(
        a,
        vec![Answer {
            at: first_at,
            status: ParticipationStatus::Accepted,
            instance: None,
            comment: None,
            sequence: Sequence::INITIAL,
            forwarded_from: None,
            sent_by: None,
            late: false,
            web: false,
        }],
        "the history holds exactly the one answer"
    );

    // A changed mind, with a comment, from the same copy a day later.
    s.advance(86_400);
    let second_at = s.pipeline.now();
    let uid = request.uid.clone().unwrap();
    let changed = RawReply {
        uid: &uid,
        sequence: 0,
        stamp: second_at,
        attendee: "guest@example.org",
        partstat: "DECLINED",
        instance: None,
        comment: Some("Sorry\\, something came up"),
    };
    expect_answer(changed.send(&s).await, "changed mind");
    let inv = invitation(&s, &code, "guest@example.org").await;
    assert_eq!(
        inv.status(),
        Some(ParticipationStatus::Declined),
        "the last answer wins"
    );
    assert_eq!(inv.answered_at(), Some(second_at));
    let a = answers(&history(&s, &token).await);
    assert_eq!(a.len(), 2, "both answers are kept: {a:?}");
    assert_eq!(a[0].status, ParticipationStatus::Accepted);
    assert_eq!(a[0].at, first_at);
    assert_eq!(a[1].status, ParticipationStatus::Declined);
    assert_eq!(a[1].at, second_at);
    assert_eq!(
        a[1].comment.as_deref(),
        Some("Sorry, something came up"),
        "the comment is recorded, unescaped"
    );
    assert_eq!(a[1].sequence, Sequence::INITIAL);

    // An update reaches nobody who said No (manual: design D4 default); a Maybe gets it and
    // answers at the new SEQUENCE, which the history records.
    s.advance(3600);
    expect_answer(
        RawReply {
            uid: &uid,
            sequence: 0,
            stamp: s.pipeline.now(),
            attendee: "guest@example.org",
            partstat: "TENTATIVE",
            instance: None,
            comment: None,
        }
        .send(&s)
        .await,
        "maybe",
    );
    let edited = CalendarEvent::launch("replies-1@example.com")
        .edited(|e| e.location = Some("Plaza Mayor 2, Madrid".into()));
    match s.organizer_sends(&edited).await {
        Ok(Outcome::RevisionSent(c, seq)) => {
            assert_eq!(c, code);
            assert_eq!(seq, Sequence::new(1));
        }
        other => panic!("an edit should go out, got {other:?}"),
    }
    deliver(&s).await;
    let update = last_calendar(&s, "guest@example.org");
    assert_eq!(update.method.as_deref(), Some("REQUEST"));
    assert_eq!(update.sequence, Some(1), "the update raises SEQUENCE");
    assert_eq!(
        update.uid, request.uid,
        "the update keeps the recipient's UID"
    );
    s.advance(60);
    expect_answer(
        s.reply("guest@example.org", "ACCEPTED").await,
        "answer to update",
    );
    let a = answers(&history(&s, &token).await);
    assert_eq!(a.len(), 4);
    assert_eq!(
        a[3].sequence,
        Sequence::new(1),
        "the SEQUENCE answered is recorded"
    );
    assert_eq!(
        invitation(&s, &code, "guest@example.org").await.status(),
        Some(ParticipationStatus::Accepted)
    );
}

/// Stale replies (older SEQUENCE after a newer one, an older DTSTAMP, a re-delivered copy) are refused StaleReply and change nothing.
pub(super) async fn stale_replies_are_refused<S: Store>(store: S) {
    let s = scenario(store, Settings::default()).await;
    let ev = CalendarEvent::launch("stale-1@example.com");
    let code = create(&s, &ev).await;
    let token = invite(&s, &code, "guest@example.org").await;
    deliver(&s).await;
    let first = last_calendar(&s, "guest@example.org");
    let uid = first.uid.clone().unwrap();

    s.advance(600);
    expect_answer(s.reply("guest@example.org", "ACCEPTED").await, "yes");
    match s
        .organizer_sends(&ev.clone().edited(|e| e.start = "20261203T183000".into()))
        .await
    {
        Ok(Outcome::RevisionSent(_, seq)) => assert_eq!(seq, Sequence::new(1)),
        other => panic!("a new start time should go out, got {other:?}"),
    }
    deliver(&s).await;
    assert_eq!(last_calendar(&s, "guest@example.org").sequence, Some(1));
    s.advance(600);
    let newer = RawReply {
        uid: &uid,
        sequence: 1,
        stamp: s.pipeline.now(),
        attendee: "guest@example.org",
        partstat: "TENTATIVE",
        instance: None,
        comment: None,
    };
    expect_answer(newer.send(&s).await, "answer to SEQUENCE 1");
    let settled = invitation(&s, &code, "guest@example.org").await;
    let settled_history = history(&s, &token).await;
    assert_eq!(settled.status(), Some(ParticipationStatus::Tentative));

    // The client answers the old copy afterwards, with a later DTSTAMP:
    // SEQUENCE decides first (manual: interop rule 20).
    s.advance(600);
    let old_copy = RawReply {
        uid: &uid,
        sequence: 0,
        stamp: s.pipeline.now(),
        attendee: "guest@example.org",
        partstat: "DECLINED",
        instance: None,
        comment: None,
    };
    expect_refused(
        old_copy.send(&s).await,
        RefusalReason::StaleReply,
        "an answer to an older SEQUENCE",
    );
    // Same SEQUENCE, older DTSTAMP.
    let older_stamp = RawReply {
        stamp: newer.stamp - chrono::TimeDelta::seconds(1),
        partstat: "DECLINED",
        ..newer
    };
    expect_refused(
        older_stamp.send(&s).await,
        RefusalReason::StaleReply,
        "an answer with an older DTSTAMP",
    );
    // The very same reply delivered again.
    expect_refused(
        newer.send(&s).await,
        RefusalReason::StaleReply,
        "a re-delivered reply",
    );
    assert_eq!(
        invitation(&s, &code, "guest@example.org").await,
        settled,
        "stale replies change nothing on the invitation"
    );
    assert_eq!(
        history(&s, &token).await,
        settled_history,
        "stale replies add nothing to the history"
    );
    assert_eq!(
        refusals_of(&s, RefusalReason::StaleReply, Some(&code)).await,
        3,
        "each stale reply is recorded as a refusal for the event"
    );
    let report = event_report(&s.pipeline, s.scope(), &code).await.unwrap();
    assert_eq!(report.refusals.get(&RefusalReason::StaleReply), Some(&3));
    assert_eq!(report.tentative, 1);
    assert_eq!(report.declined, 0);
}

/// A reply that arrives before the relay took the invitation is recorded, and the later delivery does not reset it.
pub(super) async fn reply_before_delivery_is_kept<S: Store>(store: S) {
    let s = scenario(store, Settings::default()).await;
    let code = create(&s, &CalendarEvent::launch("early-1@example.com")).await;
    deliver(&s).await; // the organizer's notice
    let token = invite(&s, &code, "quick@example.org").await;
    s.pipeline
        .transport()
        .script(Err(TransportError::transient("421 try later")));
    assert_eq!(deliver(&s).await, 0, "the relay refused for now");
    let queued = invitation(&s, &code, "quick@example.org").await;
    assert_eq!(queued.delivery(), DeliveryState::Queued);
    assert_eq!(queued.sent_at(), None, "nothing was sent yet");

    // The recipient's client answers anyway (the relay had delivered it
    // before reporting a failure, or a colleague forwarded the raw copy).
    let uid = InvitationUid::new(code.clone(), token.clone(), &s.owner.mail_domain)
        .unwrap()
        .to_string();
    s.advance(10);
    let answered_at = s.pipeline.now();
    expect_answer(
        RawReply {
            uid: &uid,
            sequence: 0,
            stamp: answered_at,
            attendee: "quick@example.org",
            partstat: "ACCEPTED",
            instance: None,
            comment: None,
        }
        .send(&s)
        .await,
        "a reply before delivery",
    );
    let inv = invitation(&s, &code, "quick@example.org").await;
    assert_eq!(inv.status(), Some(ParticipationStatus::Accepted));
    assert_eq!(inv.delivery(), DeliveryState::Queued);

    s.advance(backoff_seconds(1, 1.0) + 1);
    assert_eq!(deliver(&s).await, 1, "the retry goes out");
    let got = last_calendar(&s, "quick@example.org");
    assert_eq!(
        got.uid.as_deref(),
        Some(uid.as_str()),
        "the UID answered is the one sent"
    );
    let inv = invitation(&s, &code, "quick@example.org").await;
    assert_eq!(inv.delivery(), DeliveryState::Sent);
    assert!(inv.sent_at().is_some_and(|t| t > answered_at));
    assert_eq!(
        inv.status(),
        Some(ParticipationStatus::Accepted),
        "delivery does not reset the answer"
    );
    assert_eq!(inv.answered_at(), Some(answered_at));
    let h = history(&s, &token).await;
    let answer_at = h
        .iter()
        .position(|e| matches!(e.kind, HistoryKind::Answer { .. }))
        .unwrap();
    let sent_at = h
        .iter()
        .position(|e| matches!(e.kind, HistoryKind::Sent { .. }))
        .unwrap();
    assert!(
        answer_at < sent_at,
        "the history keeps the real order: {h:?}"
    );
}

/// An answer from someone the holder forwarded the invitation to is recorded as forwarded and leaves the holder's answer alone.
/// A reply whose From is not its ATTENDEE (an assistant answering for the
/// invited person, a shared mailbox) is decided by its invitation's token as
/// any other, and recorded with the sender visible in the history.
pub(super) async fn reply_mailed_by_another_address_is_recorded_with_its_sender<S: Store>(
    store: S,
) {
    let s = scenario(store, Settings::default()).await;
    let code = create(&s, &CalendarEvent::launch("sender-1@example.com")).await;
    let token = invite(&s, &code, "boss@example.org").await;
    deliver(&s).await;
    s.advance(60);
    expect_answer(
        s.reply_mailed_by("boss@example.org", "assistant@example.org", "ACCEPTED")
            .await,
        "an assistant mails the boss's answer",
    );
    let inv = invitation(&s, &code, "boss@example.org").await;
    assert_eq!(
        inv.status(),
        Some(ParticipationStatus::Accepted),
        "the answer counts for the invitation its token names"
    );
    s.advance(60);
    expect_answer(
        s.reply("boss@example.org", "TENTATIVE").await,
        "the boss answers from their own mailbox",
    );
    let a = answers(&history(&s, &token).await);
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(
        (a[0].sent_by.clone(), a[0].forwarded_from.clone()),
        (Some(addr("assistant@example.org")), None),
        "the history shows who mailed the first answer"
    );
    assert_eq!(a[1].sent_by, None, "From and ATTENDEE agree: nothing extra");
    assert_eq!(
        invitation(&s, &code, "boss@example.org").await.status(),
        Some(ParticipationStatus::Tentative)
    );
}

pub(super) async fn forwarded_reply_is_recorded_apart<S: Store>(store: S) {
    let s = scenario(store, Settings::default()).await;
    let code = create(&s, &CalendarEvent::launch("fwd-1@example.com")).await;
    let token = invite(&s, &code, "holder@example.org").await;
    deliver(&s).await;
    s.advance(60);
    expect_answer(s.reply("holder@example.org", "ACCEPTED").await, "holder");
    let held = invitation(&s, &code, "holder@example.org").await;
    s.advance(60);
    expect_answer(
        s.reply_from(
            "holder@example.org",
            "friend@example.net",
            "DECLINED",
            None,
            "REPLY",
        )
        .await,
        "forwarded copy",
    );
    let inv = invitation(&s, &code, "holder@example.org").await;
    assert_eq!(
        inv.status(),
        Some(ParticipationStatus::Accepted),
        "a forwarded answer never overwrites the invited person's"
    );
    assert_eq!(inv.answered_at(), held.answered_at());
    let own = |marks: &[calinvite_core::spi::AnswerMark]| {
        marks
            .iter()
            .filter(|m| m.answerer.is_none())
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        own(&inv.clone().into_parts().marks),
        own(&held.clone().into_parts().marks),
        "the holder's ordering marks are untouched"
    );
    // The same forwarded answer delivered again is stale for its answerer
    // (manual: interop rule 20 keeps the last SEQUENCE and DTSTAMP per attendee).
    let again = s
        .reply_from(
            "holder@example.org",
            "friend@example.net",
            "DECLINED",
            None,
            "REPLY",
        )
        .await
        .expect("re-delivery handled");
    assert!(
        matches!(&again, Outcome::Refused(r) if r.reason == RefusalReason::StaleReply),
        "a re-delivered forwarded answer is stale: {again:?}"
    );
    let a = answers(&history(&s, &token).await);
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].forwarded_from, None);
    assert_eq!(a[1].forwarded_from, Some(addr("friend@example.net")));
    assert_eq!(a[1].status, ParticipationStatus::Declined);
    // The holder still answers normally afterwards.
    s.advance(60);
    expect_answer(
        s.reply("holder@example.org", "TENTATIVE").await,
        "holder again",
    );
    assert_eq!(
        invitation(&s, &code, "holder@example.org").await.status(),
        Some(ParticipationStatus::Tentative)
    );
    let report = event_report(&s.pipeline, s.scope(), &code).await.unwrap();
    assert_eq!(report.forwarded, 1);
    assert_eq!(report.tentative, 1);
    assert_eq!(report.declined, 0, "the friend's No is not the holder's");
    assert_eq!(
        report.answers_over_time.values().sum::<u64>(),
        2,
        "forwarded answers are not counted over time"
    );
}

// ------------------------------------------------------------- recurrence

/// A recurring event: a moved instance goes to the update audience, a cancelled instance to every holder with its RECURRENCE-ID, later joiners get the EXDATE, per-instance answers stay per instance.
pub(super) async fn recurring_instances<S: Store>(store: S) {
    let s = scenario(store, Settings::default()).await;
    let ev = CalendarEvent {
        rrule: Some("FREQ=WEEKLY;COUNT=6".into()),
        ..CalendarEvent::launch("series-1@example.com")
    };
    let code = create(&s, &ev).await;
    for who in ["a@example.org", "b@example.org", "c@example.org"] {
        invite(&s, &code, who).await;
    }
    deliver(&s).await;
    s.advance(60);
    expect_answer(s.reply("a@example.org", "ACCEPTED").await, "a");
    expect_answer(s.reply("b@example.org", "TENTATIVE").await, "b");
    expect_answer(s.reply("c@example.org", "DECLINED").await, "c");

    // Madrid is UTC+1 in December: 18:00 local is 17:00Z.
    let moved_id = OccurrenceId::At(utc(12, 10, 17));
    let moved = ev.clone().edited(|e| {
        e.moved.push((
            "20261210T180000".into(),
            "20261210T190000".into(),
            "20261210T210000".into(),
        ));
    });
    match s.organizer_sends(&moved).await {
        Ok(Outcome::RevisionSent(_, seq)) => assert_eq!(seq, Sequence::new(1)),
        other => panic!("moving an instance is a change that goes out, got {other:?}"),
    }
    deliver(&s).await;
    for who in ["a@example.org", "b@example.org"] {
        let d = last_calendar(&s, who);
        assert_eq!(d.method.as_deref(), Some("REQUEST"), "{who}");
        assert_eq!(d.sequence, Some(1), "{who}");
        let e = request_event(&d);
        assert_eq!(e.overrides.len(), 1, "{who} gets the moved instance");
        assert_eq!(e.overrides[0].recurrence_id.occurrence_id(), Some(moved_id));
        assert_eq!(
            e.overrides[0]
                .start
                .as_ref()
                .and_then(|t| t.occurrence_id()),
            Some(OccurrenceId::At(utc(12, 10, 18))),
            "{who}: the instance starts an hour later"
        );
    }
    assert_eq!(
        s.calendar_inbox("c@example.org").len(),
        1,
        "who declined gets no update (manual: design D4 default)"
    );

    // One instance is cancelled.
    let cancelled_id = OccurrenceId::At(utc(12, 17, 17));
    match s
        .organizer_cancels(&moved.clone().edited(|_| {}), Some("20261217T180000"))
        .await
    {
        Ok(Outcome::RevisionSent(_, seq)) => assert_eq!(seq, Sequence::new(2)),
        other => panic!("an instance cancellation goes out as a revision, got {other:?}"),
    }
    deliver(&s).await;
    for who in ["a@example.org", "b@example.org", "c@example.org"] {
        let d = last_calendar(&s, who);
        assert_eq!(
            d.method.as_deref(),
            Some("CANCEL"),
            "{who} gets a CANCEL (manual: design D5)"
        );
        assert_eq!(d.sequence, Some(2), "{who}: the CANCEL raises SEQUENCE");
        assert_eq!(
            d.instances,
            vec![format!("{cancelled_id:?}")],
            "{who}: the CANCEL names the instance"
        );
        let inv = invitation(&s, &code, who).await;
        assert!(!inv.cancelled(), "{who}: only one instance is cancelled");
        assert_eq!(
            inv.clone().into_parts().sequence_held,
            Some(Sequence::new(2))
        );
    }
    let stored = s.pipeline.event(s.scope(), &code).await.unwrap();
    assert!(!stored.cancelled());
    assert_eq!(stored.sent_sequence(), Sequence::new(2));

    // A later joiner gets the current revision: the cancelled instance
    // excluded, the moved one kept.
    invite(&s, &code, "late@example.org").await;
    deliver(&s).await;
    let d = last_calendar(&s, "late@example.org");
    assert_eq!(d.method.as_deref(), Some("REQUEST"));
    assert_eq!(d.sequence, Some(2));
    let e = request_event(&d);
    let excluded: Vec<_> = e.exdates.iter().filter_map(|t| t.occurrence_id()).collect();
    assert_eq!(
        excluded,
        vec![cancelled_id],
        "the EXDATE excludes the cancelled instance"
    );
    assert_eq!(e.overrides.len(), 1);
    assert_eq!(e.overrides[0].recurrence_id.occurrence_id(), Some(moved_id));

    // Per-instance answers (RECURRENCE-ID in UTC).
    let one = OccurrenceId::At(utc(12, 24, 17));
    let a_before = invitation(&s, &code, "a@example.org").await;
    s.advance(60);
    expect_answer(
        s.reply_from(
            "a@example.org",
            "a@example.org",
            "DECLINED",
            Some("20261224T170000Z"),
            "REPLY",
        )
        .await,
        "instance answer",
    );
    let inv = invitation(&s, &code, "a@example.org").await;
    assert_eq!(
        inv.status(),
        Some(ParticipationStatus::Accepted),
        "an instance answer leaves the whole-event answer"
    );
    assert_eq!(inv.answered_at(), a_before.answered_at());
    assert_eq!(
        inv.instance_answers(),
        vec![(one, ParticipationStatus::Declined)]
    );
    assert_eq!(
        inv.answer_for(Some(one)),
        Some(ParticipationStatus::Declined)
    );
    assert_eq!(
        inv.answer_for(Some(OccurrenceId::At(utc(12, 31, 17)))),
        Some(ParticipationStatus::Accepted)
    );
    let last = answers(&history(&s, inv.token()).await).pop().unwrap();
    assert_eq!(last.instance, Some(one));
    assert_eq!(last.status, ParticipationStatus::Declined);

    // The same instance named with a TZID is the same instance (manual: interop rule 21).
    s.advance(60);
    let uid = d_uid(&s, "a@example.org");
    expect_answer(
        RawReply {
            uid: &uid,
            sequence: 1,
            stamp: s.pipeline.now(),
            attendee: "a@example.org",
            partstat: "TENTATIVE",
            instance: Some("RECURRENCE-ID;TZID=Europe/Madrid:20261224T180000"),
            comment: None,
        }
        .send(&s)
        .await,
        "instance answer with a TZID",
    );
    let inv = invitation(&s, &code, "a@example.org").await;
    assert_eq!(
        inv.instance_answers(),
        vec![(one, ParticipationStatus::Tentative)],
        "one answer per instance, matched by instant"
    );
    // A whole-event answer keeps the instance's own.
    s.advance(60);
    expect_answer(s.reply("a@example.org", "DECLINED").await, "whole event");
    let inv = invitation(&s, &code, "a@example.org").await;
    assert_eq!(inv.status(), Some(ParticipationStatus::Declined));
    assert_eq!(
        inv.answer_for(Some(one)),
        Some(ParticipationStatus::Tentative)
    );
    // The instance's answer delivered again is stale for that instance.
    s.advance(60);
    expect_refused(
        RawReply {
            uid: &uid,
            sequence: 1,
            stamp: s.pipeline.now() - chrono::TimeDelta::seconds(180),
            attendee: "a@example.org",
            partstat: "ACCEPTED",
            instance: Some("RECURRENCE-ID:20261224T170000Z"),
            comment: None,
        }
        .send(&s)
        .await,
        RefusalReason::StaleReply,
        "an older instance answer",
    );
}

fn d_uid<S: Store>(s: &Scenario<S>, who: &str) -> String {
    s.calendar_inbox(who)
        .into_iter()
        .rev()
        .find_map(|d| d.uid)
        .unwrap_or_else(|| panic!("{who} holds no UID"))
}

// ------------------------------------------------------------ late answers

async fn late_answer_scenario<S: Store>(store: S, late: LateAnswers) -> (Scenario<S>, EventCode) {
    let s = scenario(store, Settings::default().with_late_answers(late)).await;
    let code = create(&s, &CalendarEvent::launch("late-1@example.com")).await;
    invite(&s, &code, "guest@example.org").await;
    deliver(&s).await;
    s.advance(60);
    expect_answer(s.reply("guest@example.org", "ACCEPTED").await, "in time");
    // The event ends on 3 December 2026 at 19:00Z; go past it.
    let end = utc(12, 3, 19);
    s.advance((end - s.pipeline.now()).num_seconds() + 3600);
    expect_answer(s.reply("guest@example.org", "DECLINED").await, "late");
    (s, code)
}

/// After the event's end a reply is recorded as late and, by default, leaves the status as it was.
pub(super) async fn late_answers_are_recorded_only<S: Store>(store: S) {
    let (s, code) = late_answer_scenario(store, LateAnswers::RecordOnly).await;
    let inv = invitation(&s, &code, "guest@example.org").await;
    assert_eq!(
        inv.status(),
        Some(ParticipationStatus::Accepted),
        "a late answer does not change the status by default"
    );
    let a = answers_of(&s, &code, "guest@example.org").await;
    assert_eq!(a.len(), 2);
    assert!(!a[0].late);
    assert!(a[1].late, "the answer after the end is marked late");
    assert_eq!(a[1].status, ParticipationStatus::Declined);
    let report = event_report(&s.pipeline, s.scope(), &code).await.unwrap();
    assert_eq!(report.late, 1);
    assert_eq!(report.accepted, 1);
    assert_eq!(report.declined, 0);
    // The same late reply delivered again is a duplicate, not a second answer.
    let uid = d_uid(&s, "guest@example.org");
    let stamp = a[1].at;
    expect_refused(
        RawReply {
            uid: &uid,
            sequence: 0,
            stamp,
            attendee: "guest@example.org",
            partstat: "DECLINED",
            instance: None,
            comment: None,
        }
        .send(&s)
        .await,
        RefusalReason::StaleReply,
        "a re-delivered late reply",
    );
    let report = event_report(&s.pipeline, s.scope(), &code).await.unwrap();
    assert_eq!(report.late, 1, "a duplicate is not counted twice");
}

/// With `LateAnswers::Apply` a reply after the event's end is recorded as late and applied.
pub(super) async fn late_answers_apply_when_configured<S: Store>(store: S) {
    let (s, code) = late_answer_scenario(store, LateAnswers::Apply).await;
    let inv = invitation(&s, &code, "guest@example.org").await;
    assert_eq!(inv.status(), Some(ParticipationStatus::Declined));
    let a = answers_of(&s, &code, "guest@example.org").await;
    assert_eq!(a.len(), 2);
    assert!(a[1].late, "still marked late");
    assert_eq!(inv.answered_at(), Some(a[1].at));
    let report = event_report(&s.pipeline, s.scope(), &code).await.unwrap();
    assert_eq!(report.late, 1);
    assert_eq!(report.declined, 1);
    assert_eq!(report.accepted, 0);
}

// --------------------------------------------------------- counter, refresh

/// A COUNTER is recorded in the history and the organizer gets a notice; the answer is untouched.
pub(super) async fn counter_is_recorded_and_organizer_told<S: Store>(store: S) {
    let s = scenario(store, Settings::default()).await;
    let code = create(&s, &CalendarEvent::launch("counter-1@example.com")).await;
    let token = invite(&s, &code, "guest@example.org").await;
    deliver(&s).await;
    let notices_before = s.inbox(ORGANIZER).len();
    s.advance(60);
    expect_answer(s.reply("guest@example.org", "ACCEPTED").await, "yes");
    s.advance(60);
    match s
        .reply_from(
            "guest@example.org",
            "guest@example.org",
            "TENTATIVE",
            None,
            "COUNTER",
        )
        .await
    {
        Ok(Outcome::CounterRecorded(t)) => assert_eq!(t, token),
        other => panic!("a COUNTER should be recorded, got {other:?}"),
    }
    let h = history(&s, &token).await;
    let counters: Vec<_> = h
        .iter()
        .filter_map(|e| match &e.kind {
            HistoryKind::Counter {
                start,
                end,
                comment,
            } => Some((e.at, start.clone(), end.clone(), comment.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(counters.len(), 1, "{h:?}");
    let (at, start, end, comment) = &counters[0];
    assert_eq!(*at, s.pipeline.now());
    assert!(
        start.as_deref().is_some_and(|s| s.contains("2026-12-03")),
        "{start:?}"
    );
    assert!(end.is_some());
    assert_eq!(comment.as_deref(), Some("Later?"));
    assert_eq!(
        invitation(&s, &code, "guest@example.org").await.status(),
        Some(ParticipationStatus::Accepted),
        "a proposal is not an answer"
    );
    deliver(&s).await;
    let inbox = s.inbox(ORGANIZER);
    assert_eq!(inbox.len(), notices_before + 1, "the organizer is told");
    let notice = inbox.last().unwrap();
    assert_eq!(
        notice.method, None,
        "a plain notice, not a calendar message"
    );
    assert!(
        notice
            .subject
            .as_deref()
            .is_some_and(|s| s.contains("New time proposed")),
        "{:?}",
        notice.subject
    );
    let body = String::from_utf8_lossy(&notice.bytes);
    assert!(
        body.contains("guest@example.org"),
        "the notice names who proposes"
    );
    let report = event_report(&s.pipeline, s.scope(), &code).await.unwrap();
    assert_eq!(report.counters, 1);
}

/// A REFRESH queues the current revision again under a new Message-ID (a new idempotency key); a refresh of a cancelled event is refused.
pub(super) async fn refresh_resends_current_revision<S: Store>(store: S) {
    let s = scenario(store, Settings::default()).await;
    let ev = CalendarEvent::launch("refresh-1@example.com");
    let code = create(&s, &ev).await;
    let token = invite(&s, &code, "guest@example.org").await;
    deliver(&s).await;
    s.advance(60);
    expect_answer(s.reply("guest@example.org", "ACCEPTED").await, "yes");
    let edited = ev
        .clone()
        .edited(|e| e.summary = "Launch party (new room)".into());
    assert!(matches!(
        s.organizer_sends(&edited).await,
        Ok(Outcome::RevisionSent(..))
    ));
    deliver(&s).await;
    let held = last_calendar(&s, "guest@example.org");
    assert_eq!(held.sequence, Some(1));

    s.advance(60);
    match s
        .reply_from(
            "guest@example.org",
            "guest@example.org",
            "NEEDS-ACTION",
            None,
            "REFRESH",
        )
        .await
    {
        Ok(Outcome::Resent(t)) => assert_eq!(t, token),
        other => panic!("a REFRESH should re-send, got {other:?}"),
    }
    assert_eq!(deliver(&s).await, 1, "one copy goes out");
    let copy = last_calendar(&s, "guest@example.org");
    assert_eq!(copy.method.as_deref(), Some("REQUEST"));
    assert_eq!(
        copy.sequence, held.sequence,
        "the current revision, same SEQUENCE"
    );
    assert_eq!(copy.uid, held.uid);
    assert_ne!(
        copy.message_id, held.message_id,
        "a re-send is a new message for relays and stores"
    );
    // A delivery report quoting the copy's Message-ID still names the invitation.
    match s.delivery_report("guest@example.org", None).await {
        Ok(Outcome::DeliveryRecorded(t)) => assert_eq!(t, token),
        other => panic!("a report on the copy should be recorded, got {other:?}"),
    }
    let inv = invitation(&s, &code, "guest@example.org").await;
    assert_eq!(inv.delivery(), DeliveryState::Delivered);
    assert_eq!(inv.clone().into_parts().copies, 1);
    assert_eq!(inv.status(), Some(ParticipationStatus::Accepted));
    let first_key = DeliveryKey::Invitation(IdempotencyKey::new(
        token.clone(),
        Sequence::new(1),
        Method::Request,
        0,
    ));
    let copy_key = DeliveryKey::Invitation(IdempotencyKey::new(
        token.clone(),
        Sequence::new(1),
        Method::Request,
        1,
    ));
    assert_ne!(first_key, copy_key);
    for key in [&first_key, &copy_key] {
        let d = s.pipeline.store().delivery(key).await.unwrap();
        assert!(
            d.is_some_and(|d| matches!(d.state, QueueState::Sent(_))),
            "{key} was sent"
        );
    }

    // After the cancellation there is nothing to refresh.
    assert!(matches!(
        s.organizer_cancels(&edited.clone().edited(|_| {}), None)
            .await,
        Ok(Outcome::Cancelled(_))
    ));
    deliver(&s).await;
    assert_eq!(
        last_calendar(&s, "guest@example.org").method.as_deref(),
        Some("CANCEL")
    );
    s.advance(60);
    expect_refused(
        s.reply_from(
            "guest@example.org",
            "guest@example.org",
            "NEEDS-ACTION",
            None,
            "REFRESH",
        )
        .await,
        RefusalReason::EventCancelled,
        "a refresh of a cancelled event",
    );
    assert_eq!(deliver(&s).await, 0, "nothing is re-sent");
    assert_eq!(
        refusals_of(&s, RefusalReason::EventCancelled, Some(&code)).await,
        1
    );
    assert_eq!(
        invitation(&s, &code, "guest@example.org")
            .await
            .into_parts()
            .copies,
        1
    );
}

// ------------------------------------------------- bounces and the transport

/// Delivery reports: permanent marks HardBounced and suppresses the address for the owner's other events; soft marks SoftBounced only; delivered marks Delivered.
pub(super) async fn delivery_reports_mark_invitations<S: Store>(store: S) {
    let s = scenario(store, Settings::default()).await;
    let code = create(&s, &CalendarEvent::launch("dsn-1@example.com")).await;
    let hard = invite(&s, &code, "gone@example.org").await;
    invite(&s, &code, "full@example.org").await;
    invite(&s, &code, "fine@example.org").await;
    let ev = CalendarEvent::launch("dsn-1@example.com");
    deliver(&s).await;
    s.advance(60);
    for who in ["gone@example.org", "full@example.org", "fine@example.org"] {
        expect_answer(s.reply(who, "ACCEPTED").await, who);
    }

    match s.delivery_report("gone@example.org", Some(true)).await {
        Ok(Outcome::DeliveryRecorded(t)) => assert_eq!(t, hard),
        other => panic!("a hard bounce should be recorded, got {other:?}"),
    }
    let inv = invitation(&s, &code, "gone@example.org").await;
    assert_eq!(inv.delivery(), DeliveryState::HardBounced);
    let suppressed = s
        .pipeline
        .store()
        .suppression(s.owner.id, &addr("gone@example.org"))
        .await
        .unwrap();
    assert_eq!(
        suppressed.map(|x| x.reason),
        Some(SuppressionReason::HardBounce),
        "a hard bounce suppresses the address"
    );
    assert!(history(&s, &hard).await.iter().any(|e| matches!(
        &e.kind,
        HistoryKind::Bounced { permanent: true, detail } if detail.contains("5.1.1")
    )));

    assert!(matches!(
        s.delivery_report("full@example.org", Some(false)).await,
        Ok(Outcome::DeliveryRecorded(_))
    ));
    assert_eq!(
        invitation(&s, &code, "full@example.org").await.delivery(),
        DeliveryState::SoftBounced
    );
    assert!(
        s.pipeline
            .store()
            .suppression(s.owner.id, &addr("full@example.org"))
            .await
            .unwrap()
            .is_none(),
        "a soft bounce suppresses nothing"
    );

    assert!(matches!(
        s.delivery_report("fine@example.org", None).await,
        Ok(Outcome::DeliveryRecorded(_))
    ));
    assert_eq!(
        invitation(&s, &code, "fine@example.org").await.delivery(),
        DeliveryState::Delivered
    );

    // Another event of the same owner.
    let other = create(&s, &CalendarEvent::launch("dsn-2@example.com")).await;
    expect_refused(
        Ok(invite_recipient(&s, &other, Recipient::new(addr("gone@example.org"))).await),
        RefusalReason::Suppressed,
        "inviting a hard-bounced address",
    );
    assert_eq!(
        refusals_of(&s, RefusalReason::Suppressed, Some(&other)).await,
        1
    );
    invite(&s, &other, "full@example.org").await;
    deliver(&s).await;
    assert_eq!(
        s.calendar_inbox("full@example.org").len(),
        2,
        "a soft-bounced address still gets new invitations"
    );
    assert_eq!(s.calendar_inbox("gone@example.org").len(), 1);

    // An update to the first event skips the hard bounce (manual: design D4) though it said
    // Yes; the soft bounce gets it like anyone else.
    assert!(matches!(
        s.organizer_sends(&ev.edited(|e| e.end = "20261203T210000".into()))
            .await,
        Ok(Outcome::RevisionSent(..))
    ));
    deliver(&s).await;
    assert_eq!(
        s.calendar_inbox("gone@example.org").len(),
        1,
        "manual: design D4: never hard bounces"
    );
    assert_eq!(last_calendar(&s, "full@example.org").sequence, Some(1));
    assert_eq!(last_calendar(&s, "fine@example.org").sequence, Some(1));
    assert_eq!(
        invitation(&s, &code, "full@example.org").await.delivery(),
        DeliveryState::Sent,
        "the next accepted message clears a soft bounce"
    );
    assert_eq!(
        invitation(&s, &code, "gone@example.org").await.delivery(),
        DeliveryState::HardBounced
    );
    let report = event_report(&s.pipeline, s.scope(), &code).await.unwrap();
    assert_eq!(report.hard_bounced, 1);
    assert_eq!(report.soft_bounced, 0);
    assert_eq!(report.delivery_confirmed, 1);
}

/// Transient transport errors are retried with backoff until accepted once; attempts are recorded and no key is ever sent twice.
/// A settle of a delivery nobody holds a lease on (its lease ran out and
/// another worker took it, or it was never claimed) is the typed
/// [`StoreError::NotLeased`], and writes nothing: neither the settlement nor
/// the changes that came with it.
pub(super) async fn settle_without_lease_is_not_leased<S: Store>(store: S) {
    let s = scenario(store, Settings::default()).await;
    let code = create(&s, &CalendarEvent::launch("lease-1@example.com")).await;
    deliver(&s).await; // the organizer's notice
    let token = invite(&s, &code, "lease@example.org").await;
    let key = DeliveryKey::Invitation(IdempotencyKey::new(
        token.clone(),
        Sequence::INITIAL,
        Method::Request,
        0,
    ));
    let store = s.pipeline.store();
    let history = store.history(&token).await.unwrap().len();
    let now = s.pipeline.now();
    let entry = HistoryEntry::new(
        token.clone(),
        now,
        HistoryKind::Sent {
            sequence: Sequence::INITIAL,
        },
    );
    // A lease the message never had: it is queued, unclaimed.
    let never = Lease {
        key: key.clone(),
        attempt: 1,
    };
    match store
        .settle(
            &never,
            Settlement::Sent(now),
            vec![Change::AppendHistory(entry.clone())],
        )
        .await
    {
        Err(StoreError::NotLeased { key: k }) => assert_eq!(k, key),
        other => panic!("a queued, unclaimed delivery is not leased: {other:?}"),
    }
    let d = store.delivery(&key).await.unwrap().unwrap();
    assert_eq!(
        d.state,
        QueueState::Queued,
        "the settlement was not written"
    );
    assert_eq!(
        store.history(&token).await.unwrap().len(),
        history,
        "nor the changes that came with it"
    );
    assert_eq!(deliver(&s).await, 1);
    match store
        .settle(&never, Settlement::Failed("late".into()), Vec::new())
        .await
    {
        Err(StoreError::NotLeased { key: k }) => assert_eq!(k, key),
        other => panic!("a sent delivery is not leased: {other:?}"),
    }
    assert!(matches!(
        store.delivery(&key).await.unwrap().unwrap().state,
        QueueState::Sent(_)
    ));
}

/// Two workers and a lease that runs out: the first claims a message and is
/// slow to send; its lease expires and a second worker claims the message
/// and sends it. Only the second settles: the first worker's outcome (here a
/// permanent failure) is refused as [`StoreError::NotLeased`] and writes
/// nothing, so it cannot overwrite the delivery nor bounce the invitation.
pub(super) async fn expired_lease_cannot_overwrite_the_new_holder<S: Store>(store: S) {
    let s = scenario(store, Settings::default()).await;
    let code = create(&s, &CalendarEvent::launch("lease-2@example.com")).await;
    deliver(&s).await; // the organizer's notice
    let token = invite(&s, &code, "raced@example.org").await;
    let store = s.pipeline.store();
    let now = s.pipeline.now();
    let first = store
        .claim(now, now + chrono::TimeDelta::seconds(60), 1)
        .await
        .unwrap();
    assert_eq!(first.len(), 1, "the first worker claims the invitation");
    let first = first.into_iter().next().unwrap();
    // Its lease runs out while it is still sending.
    s.advance(120);
    let later = s.pipeline.now();
    let second = store
        .claim(later, later + chrono::TimeDelta::seconds(60), 1)
        .await
        .unwrap();
    assert_eq!(
        second.len(),
        1,
        "the second worker claims the expired lease"
    );
    let second = second.into_iter().next().unwrap();
    assert_eq!(second.key, first.key);
    assert_ne!(second.lease(), first.lease(), "each claim is its own lease");
    let key = first.key.clone();
    // The second worker sends and records it.
    match s.pipeline.deliver(second).await.unwrap() {
        DeliveryReport::Sent(k) => assert_eq!(k, key),
        other => panic!("the lease holder's send is recorded: {other:?}"),
    }
    let history = store.history(&token).await.unwrap();
    // The first worker's relay then refuses its copy for good; its
    // settlement would mark the message failed and the address bounced.
    s.pipeline
        .transport()
        .script(Err(TransportError::permanent("550 5.1.1 no such user")));
    match s.pipeline.deliver(first.clone()).await.unwrap() {
        DeliveryReport::LeaseLost(k) => assert_eq!(k, key),
        other => panic!("an expired lease's outcome is not recorded: {other:?}"),
    }
    assert!(
        matches!(
            store.delivery(&key).await.unwrap().unwrap().state,
            QueueState::Sent(_)
        ),
        "the new holder's outcome stands"
    );
    assert_eq!(
        store.history(&token).await.unwrap(),
        history,
        "the first worker wrote nothing"
    );
    let inv = invitation(&s, &code, "raced@example.org").await;
    assert_ne!(inv.delivery(), DeliveryState::HardBounced);
    // And directly: a settlement under the stale lease is refused.
    match store
        .settle(
            &first.lease(),
            Settlement::Failed("late".into()),
            Vec::new(),
        )
        .await
    {
        Err(StoreError::NotLeased { key: k }) => assert_eq!(k, key),
        other => panic!("a stale lease does not settle: {other:?}"),
    }
}

pub(super) async fn transient_failures_retry_with_backoff<S: Store>(store: S) {
    let s = scenario(store, Settings::default()).await;
    let code = create(&s, &CalendarEvent::launch("retry-1@example.com")).await;
    deliver(&s).await; // the organizer's notice
    let token = invite(&s, &code, "slow@example.org").await;
    let key = DeliveryKey::Invitation(IdempotencyKey::new(
        token.clone(),
        Sequence::INITIAL,
        Method::Request,
        0,
    ));
    let transport = s.pipeline.transport();
    transport.script(Err(TransportError::transient("451 greylisted")));
    transport.script(Err(TransportError::transient("421 busy")));

    for attempt in 1..=2u32 {
        let now = s.pipeline.now();
        match s.pipeline.deliver_one().await.unwrap() {
            Some(DeliveryReport::Retrying(k, due)) => {
                assert_eq!(k, key);
                let wait = (due - now).num_seconds();
                assert!(
                    (backoff_seconds(attempt, 0.0)..=backoff_seconds(attempt, 1.0)).contains(&wait),
                    "attempt {attempt}: retry in {wait}s"
                );
                assert!(
                    s.pipeline.deliver_one().await.unwrap().is_none(),
                    "nothing is due before the backoff ends"
                );
                let d = s.pipeline.store().delivery(&key).await.unwrap().unwrap();
                assert_eq!(d.attempts, attempt);
                assert_eq!(d.state, QueueState::Queued);
                assert!(d.last_error.is_some());
                s.advance(wait);
            }
            other => panic!("attempt {attempt} should be retried, got {other:?}"),
        }
    }
    match s.pipeline.deliver_one().await.unwrap() {
        Some(DeliveryReport::Sent(k)) => assert_eq!(k, key),
        other => panic!("the third attempt should go through, got {other:?}"),
    }
    let d = s.pipeline.store().delivery(&key).await.unwrap().unwrap();
    assert_eq!(d.attempts, 3, "every attempt is counted");
    assert!(matches!(d.state, QueueState::Sent(_)));
    let sent = transport.sent();
    assert_eq!(sent.len(), 1, "the relay took it once");
    let inv = invitation(&s, &code, "slow@example.org").await;
    assert_eq!(inv.delivery(), DeliveryState::Sent);
    assert_eq!(inv.sent_at(), Some(s.pipeline.now()));
    let sends = history(&s, &token)
        .await
        .iter()
        .filter(|e| matches!(e.kind, HistoryKind::Sent { .. }))
        .count();
    assert_eq!(sends, 1);

    // Queuing the same key again (a retried request, a crashed worker) is a no-op.
    s.pipeline
        .store()
        .commit(vec![Change::Enqueue(Delivery {
            key: key.clone(),
            owner: s.owner.id,
            payload: Payload::Invitation {
                code: code.clone(),
                token: token.clone(),
                kind: calinvite_core::MessageKind::Invitation,
                sequence: Sequence::INITIAL,
                copy: 0,
            },
            attempts: 0,
            due: s.pipeline.now(),
            state: QueueState::Queued,
            last_error: None,
            group: None,
        })])
        .await
        .unwrap();
    assert!(matches!(
        invite_recipient(&s, &code, Recipient::new(addr("slow@example.org"))).await,
        Outcome::AlreadyInvited(_)
    ));
    s.advance(3600);
    s.pipeline.run_until_idle().await.unwrap();
    let sent = transport.sent();
    assert_eq!(sent.len(), 1, "the same key never goes out twice");
    assert_eq!(
        message_ids(&sent),
        vec![invitation_message_id(&key, &s.owner)],
        "the Message-ID is the key's"
    );
    assert_eq!(
        s.pipeline
            .store()
            .delivery(&key)
            .await
            .unwrap()
            .unwrap()
            .attempts,
        3
    );
}

fn invitation_message_id(key: &DeliveryKey, owner: &DomainOwner) -> String {
    match key {
        DeliveryKey::Invitation(k) => k.message_id(&owner.mail_domain),
        DeliveryKey::Notice(n) => panic!("not an invitation key: {n}"),
    }
}

/// A permanent transport error fails the message, hard-bounces the invitation and suppresses the address.
pub(super) async fn permanent_failure_bounces_and_suppresses<S: Store>(store: S) {
    let s = scenario(store, Settings::default()).await;
    let code = create(&s, &CalendarEvent::launch("perm-1@example.com")).await;
    deliver(&s).await;
    let token = invite(&s, &code, "nobody@example.org").await;
    s.pipeline
        .transport()
        .script(Err(TransportError::permanent("550 no such user")));
    match s.pipeline.deliver_one().await.unwrap() {
        Some(DeliveryReport::Failed(_, reason)) => assert!(reason.contains("550"), "{reason}"),
        other => panic!("a permanent error gives up at once, got {other:?}"),
    }
    let inv = invitation(&s, &code, "nobody@example.org").await;
    assert_eq!(inv.delivery(), DeliveryState::HardBounced);
    assert_eq!(inv.sent_at(), None);
    assert_eq!(
        s.pipeline
            .store()
            .suppression(s.owner.id, &addr("nobody@example.org"))
            .await
            .unwrap()
            .map(|x| x.reason),
        Some(SuppressionReason::HardBounce)
    );
    assert!(history(&s, &token).await.iter().any(|e| matches!(
        e.kind,
        HistoryKind::Bounced {
            permanent: true,
            ..
        }
    )));
    s.advance(86_400);
    assert!(
        s.pipeline.deliver_one().await.unwrap().is_none(),
        "a failed message is not retried"
    );
    assert!(s.pipeline.transport().sent().is_empty());
    let other = create(&s, &CalendarEvent::launch("perm-2@example.com")).await;
    expect_refused(
        Ok(invite_recipient(&s, &other, Recipient::new(addr("nobody@example.org"))).await),
        RefusalReason::Suppressed,
        "inviting an address that failed permanently",
    );
}

// ------------------------------------------------ unsubscribe, web answers

/// Unsubscribe suppresses future invitations and updates, yet the address still gets the cancellation ([D5](calinvite_core::manual::design#d5)); a foreign owner cannot use the token.
pub(super) async fn unsubscribe_suppresses_but_cancellation_still_goes<S: Store>(store: S) {
    let s = scenario(store, Settings::default()).await;
    let ev = CalendarEvent::launch("unsub-1@example.com");
    let code = create(&s, &ev).await;
    let token = invite(&s, &code, "leaving@example.org").await;
    invite(&s, &code, "staying@example.org").await;
    deliver(&s).await;
    s.advance(60);
    expect_answer(s.reply("leaving@example.org", "ACCEPTED").await, "leaving");
    expect_answer(s.reply("staying@example.org", "ACCEPTED").await, "staying");

    match s.pipeline.unsubscribe(s.owner.id, &token).await {
        Ok(Outcome::Unsubscribed(t)) => assert_eq!(t, token),
        other => panic!("unsubscribe should work, got {other:?}"),
    }
    assert_eq!(
        s.pipeline
            .store()
            .suppression(s.owner.id, &addr("leaving@example.org"))
            .await
            .unwrap()
            .map(|x| x.reason),
        Some(SuppressionReason::Unsubscribed)
    );
    assert!(
        history(&s, &token)
            .await
            .iter()
            .any(|e| e.kind == HistoryKind::Unsubscribed)
    );
    // Another owner's pipeline call with this token does nothing.
    let other_owner = {
        let mut owner = s.owner.clone();
        owner.id = OwnerId(77);
        owner.mail_domain = "other.example.com".into();
        owner.ingest = addr("create@other.example.com");
        owner.reply = addr("rsvp@other.example.com");
        owner.bounce = addr("bounces@other.example.com");
        owner
    };
    s.pipeline.store().put_owner(other_owner).await.unwrap();
    expect_refused(
        s.pipeline.unsubscribe(OwnerId(77), &token).await,
        RefusalReason::UnknownInvitation,
        "unsubscribe through another owner",
    );

    let other = create(&s, &CalendarEvent::launch("unsub-2@example.com")).await;
    expect_refused(
        Ok(invite_recipient(&s, &other, Recipient::new(addr("leaving@example.org"))).await),
        RefusalReason::Suppressed,
        "inviting an unsubscribed address",
    );

    let edited = ev
        .clone()
        .edited(|e| e.description = "Now with a band.".into());
    assert!(matches!(
        s.organizer_sends(&edited).await,
        Ok(Outcome::RevisionSent(..))
    ));
    deliver(&s).await;
    assert_eq!(s.calendar_inbox("staying@example.org").len(), 2);
    assert_eq!(
        s.calendar_inbox("leaving@example.org").len(),
        1,
        "no updates to a suppressed address (manual: design D4)"
    );

    assert!(matches!(
        s.organizer_cancels(&edited.clone().edited(|_| {}), None)
            .await,
        Ok(Outcome::Cancelled(_))
    ));
    deliver(&s).await;
    // manual: design D5: a cancellation goes to everyone sent a REQUEST,
    // decliners included, except hard bounces — an unsubscribe is not one.
    for who in ["leaving@example.org", "staying@example.org"] {
        let d = last_calendar(&s, who);
        assert_eq!(
            d.method.as_deref(),
            Some("CANCEL"),
            "{who} learns it is off"
        );
        assert!(d.sequence > Some(0));
        assert!(invitation(&s, &code, who).await.cancelled());
    }
}

/// A web answer is recorded like a reply, marked web, at the SEQUENCE the recipient holds; only the owner's tenant can use the token.
pub(super) async fn web_answers_are_marked_web<S: Store>(store: S) {
    let s = scenario(store, Settings::default()).await;
    let code = create(&s, &CalendarEvent::launch("web-1@example.com")).await;
    let token = invite(&s, &code, "webby@example.org").await;
    deliver(&s).await;
    s.advance(60);
    let at = s.pipeline.now();
    match s
        .pipeline
        .web_answer(s.owner.id, &token, ParticipationStatus::Tentative)
        .await
    {
        Ok(Outcome::AnswerRecorded(t)) => assert_eq!(t, token),
        other => panic!("a web answer should be recorded, got {other:?}"),
    }
    let inv = invitation(&s, &code, "webby@example.org").await;
    assert_eq!(inv.status(), Some(ParticipationStatus::Tentative));
    assert_eq!(inv.answered_at(), Some(at));
    let a = answers(&history(&s, &token).await);
    assert_eq!(a.len(), 1);
    assert!(a[0].web, "the answer is marked as a web answer");
    assert_eq!(a[0].sequence, Sequence::INITIAL);
    assert_eq!(a[0].at, at);
    // The calendar answers later: it is newer and wins, not marked web.
    s.advance(60);
    expect_answer(s.reply("webby@example.org", "ACCEPTED").await, "calendar");
    let a = answers(&history(&s, &token).await);
    assert_eq!(a.len(), 2);
    assert!(!a[1].web);
    assert_eq!(
        invitation(&s, &code, "webby@example.org").await.status(),
        Some(ParticipationStatus::Accepted)
    );
    // Another owner cannot answer with this token.
    let other_owner = {
        let mut owner = s.owner.clone();
        owner.id = OwnerId(78);
        owner.mail_domain = "other.example.com".into();
        owner.ingest = addr("create@other.example.com");
        owner.reply = addr("rsvp@other.example.com");
        owner.bounce = addr("bounces@other.example.com");
        owner
    };
    s.pipeline.store().put_owner(other_owner).await.unwrap();
    let before = invitation(&s, &code, "webby@example.org").await;
    expect_refused(
        s.pipeline
            .web_answer(OwnerId(78), &token, ParticipationStatus::Declined)
            .await,
        RefusalReason::UnknownInvitation,
        "a web answer through another owner",
    );
    assert_eq!(invitation(&s, &code, "webby@example.org").await, before);
}

// ---------------------------------------------------------------- reports

/// Counts recomputed here from invitations and histories, independently of `Report::count`.
#[derive(Debug, Default, PartialEq)]
struct Recount {
    invitations: u64,
    submitted: u64,
    delivery_confirmed: u64,
    hard_bounced: u64,
    soft_bounced: u64,
    accepted: u64,
    declined: u64,
    tentative: u64,
    no_answer: u64,
    late: u64,
    forwarded: u64,
    counters: u64,
    per_day: BTreeMap<NaiveDate, u64>,
}

impl Recount {
    async fn event<S: Store>(&mut self, s: &Scenario<S>, code: &EventCode) {
        for inv in s.pipeline.invitations(s.scope(), code).await.unwrap() {
            self.invitations += 1;
            self.submitted += u64::from(inv.sent_at().is_some());
            self.delivery_confirmed += u64::from(inv.delivery() == DeliveryState::Delivered);
            self.hard_bounced += u64::from(inv.delivery() == DeliveryState::HardBounced);
            self.soft_bounced += u64::from(inv.delivery() == DeliveryState::SoftBounced);
            match inv.status() {
                Some(ParticipationStatus::Accepted) => self.accepted += 1,
                Some(ParticipationStatus::Declined) => self.declined += 1,
                Some(ParticipationStatus::Tentative) => self.tentative += 1,
                _ => self.no_answer += 1,
            }
            let h = history(s, inv.token()).await;
            for a in answers(&h) {
                self.late += u64::from(a.late);
                if a.forwarded_from.is_some() {
                    self.forwarded += 1;
                } else {
                    *self.per_day.entry(a.at.date_naive()).or_default() += 1;
                }
            }
            self.counters += h
                .iter()
                .filter(|e| matches!(e.kind, HistoryKind::Counter { .. }))
                .count() as u64;
        }
    }

    fn check(&self, r: &calinvite_core::lifecycle::report::Report, what: &str) {
        let got = Recount {
            invitations: r.invitations,
            submitted: r.submitted,
            delivery_confirmed: r.delivery_confirmed,
            hard_bounced: r.hard_bounced,
            soft_bounced: r.soft_bounced,
            accepted: r.accepted,
            declined: r.declined,
            tentative: r.tentative,
            no_answer: r.no_answer,
            late: r.late,
            forwarded: r.forwarded,
            counters: r.counters,
            per_day: r.answers_over_time.clone(),
        };
        assert_eq!(&got, self, "{what}: the report disagrees with a recount");
        assert_eq!(r.delegated, 0);
        let answered = (self.accepted + self.declined + self.tentative) as f64;
        let expected_rate = if self.submitted == 0 {
            0.0
        } else {
            answered / self.submitted as f64
        };
        assert!(
            (r.response_rate() - expected_rate).abs() < 1e-9,
            "{what}: response rate {} vs {expected_rate}",
            r.response_rate()
        );
    }
}

/// Event, organizer and owner reports equal a recount from the histories, and carry the refusal reasons.
pub(super) async fn reports_equal_a_recount<S: Store>(store: S) {
    let s = scenario(store, Settings::default()).await;
    let ev1 = CalendarEvent::launch("report-1@example.com");
    let one = create(&s, &ev1).await;
    let two = create(&s, &CalendarEvent::launch("report-2@example.com")).await;
    for who in [
        "yes@example.org",
        "no@example.org",
        "maybe@example.org",
        "silent@example.org",
        "gone@example.org",
        "counter@example.org",
    ] {
        invite(&s, &one, who).await;
    }
    for who in ["two-a@example.org", "two-b@example.org"] {
        invite(&s, &two, who).await;
    }
    deliver(&s).await;
    // Day one.
    s.advance(3600);
    expect_answer(s.reply("yes@example.org", "ACCEPTED").await, "yes");
    expect_answer(s.reply("no@example.org", "ACCEPTED").await, "no, first");
    assert!(matches!(
        s.delivery_report("gone@example.org", Some(true)).await,
        Ok(Outcome::DeliveryRecorded(_))
    ));
    assert!(matches!(
        s.delivery_report("silent@example.org", None).await,
        Ok(Outcome::DeliveryRecorded(_))
    ));
    expect_answer(
        s.reply_from(
            "yes@example.org",
            "friend@example.net",
            "ACCEPTED",
            None,
            "REPLY",
        )
        .await,
        "forwarded",
    );
    assert!(matches!(
        s.reply_from(
            "counter@example.org",
            "counter@example.org",
            "TENTATIVE",
            None,
            "COUNTER"
        )
        .await,
        Ok(Outcome::CounterRecorded(_))
    ));
    // Day two.
    s.advance(86_400);
    expect_answer(s.reply("no@example.org", "DECLINED").await, "no, changed");
    expect_answer(s.reply("maybe@example.org", "TENTATIVE").await, "maybe");
    let yes_uid = d_uid(&s, "yes@example.org");
    // A re-delivery of yes@'s answer: a refusal for event one.
    let yes_answer = answers_of(&s, &one, "yes@example.org").await[0].clone();
    expect_refused(
        RawReply {
            uid: &yes_uid,
            sequence: 0,
            stamp: yes_answer.at,
            attendee: "yes@example.org",
            partstat: "ACCEPTED",
            instance: None,
            comment: None,
        }
        .send(&s)
        .await,
        RefusalReason::StaleReply,
        "re-delivery",
    );
    // The bounced address, invited to event two: a refusal for event two.
    expect_refused(
        Ok(invite_recipient(&s, &two, Recipient::new(addr("gone@example.org"))).await),
        RefusalReason::Suppressed,
        "suppressed",
    );
    expect_answer(s.reply("two-a@example.org", "DECLINED").await, "event two");
    // A reply naming no invitation: the owner's refusal, no organizer.
    expect_refused(
        receive_reply(
            &s,
            "stranger@example.net",
            &RawReply {
                uid: "not-ours@elsewhere.example",
                sequence: 0,
                stamp: s.pipeline.now(),
                attendee: "stranger@example.net",
                partstat: "ACCEPTED",
                instance: None,
                comment: None,
            }
            .bytes(&s.owner.reply),
        )
        .await,
        RefusalReason::UnknownInvitation,
        "a reply to nothing",
    );
    // After the end: a late answer.
    s.advance((utc(12, 4, 0) - s.pipeline.now()).num_seconds());
    expect_answer(s.reply("maybe@example.org", "ACCEPTED").await, "late");

    let mut r1 = Recount::default();
    r1.event(&s, &one).await;
    let mut r2 = Recount::default();
    r2.event(&s, &two).await;
    // What this story must yield, as a check on the recount itself.
    assert_eq!(
        (
            r1.invitations,
            r1.accepted,
            r1.declined,
            r1.tentative,
            r1.hard_bounced
        ),
        (6, 1, 1, 1, 1)
    );
    assert_eq!(
        (r1.forwarded, r1.late, r1.counters, r1.delivery_confirmed),
        (1, 1, 1, 1)
    );
    assert_eq!(
        r1.per_day.len(),
        3,
        "answers on three days: {:?}",
        r1.per_day
    );
    assert_eq!((r2.invitations, r2.declined, r2.no_answer), (2, 1, 1));

    let report1 = event_report(&s.pipeline, s.scope(), &one).await.unwrap();
    r1.check(&report1, "event one");
    assert_eq!(report1.events, 1);
    assert_eq!(
        report1.refusals,
        BTreeMap::from([(RefusalReason::StaleReply, 1)]),
        "event one's refusals"
    );
    let report2 = event_report(&s.pipeline, s.scope(), &two).await.unwrap();
    r2.check(&report2, "event two");
    assert_eq!(
        report2.refusals,
        BTreeMap::from([(RefusalReason::Suppressed, 1)])
    );

    let mut both = r1;
    for (d, n) in r2.per_day {
        *both.per_day.entry(d).or_default() += n;
    }
    both.invitations += r2.invitations;
    both.submitted += r2.submitted;
    both.delivery_confirmed += r2.delivery_confirmed;
    both.hard_bounced += r2.hard_bounced;
    both.soft_bounced += r2.soft_bounced;
    both.accepted += r2.accepted;
    both.declined += r2.declined;
    both.tentative += r2.tentative;
    both.no_answer += r2.no_answer;
    both.late += r2.late;
    both.forwarded += r2.forwarded;
    both.counters += r2.counters;

    let all_refusals = s.pipeline.refusals(s.owner.id, None).await.unwrap();
    let mut organizer_reasons: BTreeMap<RefusalReason, u64> = BTreeMap::new();
    let mut owner_reasons: BTreeMap<RefusalReason, u64> = BTreeMap::new();
    for r in &all_refusals {
        *owner_reasons.entry(r.refusal.reason).or_default() += 1;
        if r.organizer == Some(s.scope().organizer) {
            *organizer_reasons.entry(r.refusal.reason).or_default() += 1;
        }
    }
    let organizer = organizer_report(&s.pipeline, s.scope()).await.unwrap();
    both.check(&organizer, "organizer");
    assert_eq!(organizer.events, 2);
    assert_eq!(organizer.refusals, organizer_reasons);
    assert!(
        !organizer
            .refusals
            .contains_key(&RefusalReason::UnknownInvitation),
        "a reply to nothing is no organizer's"
    );
    let owner = owner_report(&s.pipeline, s.owner.id).await.unwrap();
    both.check(&owner, "owner");
    assert_eq!(owner.events, 2);
    assert_eq!(owner.refusals, owner_reasons);
    assert_eq!(
        owner.refusals.get(&RefusalReason::UnknownInvitation),
        Some(&1)
    );
    let text = owner.to_text();
    assert!(text.contains("stale-reply"), "{text}");
}

/// A minimal RFC 4180 reader.
fn read_csv(csv: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = csv.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {
                chars.next();
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        field.is_empty() && record.is_empty(),
        "the CSV does not end with CRLF"
    );
    records
}

/// The CSV export has its header and one safe row per invitation, and the mailed report carries exactly that CSV.
pub(super) async fn csv_export_and_mailed_report<S: Store>(store: S) {
    let s = scenario(store, Settings::default()).await;
    let code = create(&s, &CalendarEvent::launch("csv-1@example.com")).await;
    let evil = "=HYPERLINK(\"x\")";
    assert!(matches!(
        invite_recipient(
            &s,
            &code,
            Recipient::new(addr("evil@example.org")).with_name(evil)
        )
        .await,
        Outcome::Invited(_)
    ));
    assert!(matches!(
        invite_recipient(
            &s,
            &code,
            Recipient::new(addr("jane@example.org")).with_name("Doe, Jane")
        )
        .await,
        Outcome::Invited(_)
    ));
    assert!(matches!(
        s.pipeline
            .invite(
                s.scope(),
                &code,
                Recipient::new(addr("list@example.org")),
                InvitationSource::Batch("list \"spring\", 2026".into()),
            )
            .await,
        Ok(Outcome::Invited(_))
    ));
    deliver(&s).await;
    s.advance(60);
    expect_answer(s.reply("jane@example.org", "ACCEPTED").await, "jane");

    let csv = event_csv(&s.pipeline, s.scope(), &code).await.unwrap();
    let rows = read_csv(&csv);
    assert_eq!(
        rows[0],
        CSV_HEADER
            .iter()
            .map(|h| (*h).to_owned())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        rows[0].join(","),
        "address,name,status,answered at,source,sent at,sequence held,history length"
    );
    let invitations = s.pipeline.invitations(s.scope(), &code).await.unwrap();
    assert_eq!(rows.len(), invitations.len() + 1, "one row per invitation");
    for inv in &invitations {
        let row = rows
            .iter()
            .find(|r| r[0] == inv.recipient().address().as_str())
            .unwrap_or_else(|| panic!("no row for {}", inv.recipient().address()));
        assert_eq!(row.len(), 8);
        assert_eq!(
            row[2],
            inv.status()
                .map_or("no answer".to_owned(), |s| s.as_str().to_ascii_lowercase())
        );
        assert_eq!(row[4], inv.source().as_str());
        assert_eq!(row[5].is_empty(), inv.sent_at().is_none());
        assert_eq!(
            row[6],
            inv.clone()
                .into_parts()
                .sequence_held
                .map(|s| s.to_string())
                .unwrap_or_default()
        );
        assert_eq!(row[7], history(&s, inv.token()).await.len().to_string());
    }
    // Names are normalised on input (a `"` becomes `'`); whatever is kept,
    // the cell is neutralised so a spreadsheet shows it as text.
    let evil_inv = invitations
        .iter()
        .find(|i| i.recipient().address().as_str() == "evil@example.org")
        .unwrap();
    let kept = evil_inv.recipient().name().unwrap().as_str();
    assert!(kept.starts_with("=HYPERLINK("), "the name as kept: {kept}");
    let evil_row = rows.iter().find(|r| r[0] == "evil@example.org").unwrap();
    assert!(
        evil_row[1].starts_with('\''),
        "a formula is neutralised: {evil_row:?}"
    );
    assert_eq!(evil_row[1], format!("'{kept}"));
    assert!(
        !csv.lines()
            .any(|l| l.split(',').any(|c| c.starts_with('='))),
        "no cell starts with '=': {csv}"
    );
    let jane = rows.iter().find(|r| r[0] == "jane@example.org").unwrap();
    assert_eq!(jane[1], "Doe, Jane", "a comma survives quoting");
    assert_eq!(jane[2], "accepted");
    assert!(!jane[3].is_empty(), "answered at");
    let list = rows.iter().find(|r| r[0] == "list@example.org").unwrap();
    assert_eq!(
        list[4], "list \"spring\", 2026",
        "quotes and commas survive"
    );
    assert!(
        csv.contains("\"list \"\"spring\"\", 2026\""),
        "RFC 4180: quoted, inner quotes doubled: {csv}"
    );

    // The mailed report.
    let before = s.inbox(ORGANIZER).len();
    let key = s
        .pipeline
        .mail_report(s.scope(), &code, None)
        .await
        .unwrap();
    assert!(matches!(key, DeliveryKey::Notice(_)));
    deliver(&s).await;
    let inbox = s.inbox(ORGANIZER);
    assert_eq!(inbox.len(), before + 1, "the organizer gets the report");
    let mail = inbox.last().unwrap();
    assert!(
        mail.subject
            .as_deref()
            .is_some_and(|t| t.contains("Report")),
        "{:?}",
        mail.subject
    );
    let parsed = mail_parser::MessageParser::default()
        .parse(&mail.bytes[..])
        .unwrap_or_else(|| panic!("the report mail does not parse"));
    let attachments: Vec<_> = parsed.attachments().collect();
    assert_eq!(attachments.len(), 1, "one attachment");
    let attached = attachments[0];
    assert_eq!(
        attached.attachment_name(),
        Some(format!("calinvite-{code}.csv").as_str())
    );
    assert_eq!(
        attached.content_type().map(|c| format!(
            "{}/{}",
            c.ctype(),
            c.subtype().unwrap_or_default()
        )),
        Some("text/csv".to_owned())
    );
    assert_eq!(
        std::str::from_utf8(attached.contents()).unwrap(),
        event_csv(&s.pipeline, s.scope(), &code).await.unwrap(),
        "the attachment is the CSV export"
    );
    let body = parsed.body_text(0).unwrap_or_default();
    assert!(
        body.contains("Invitations"),
        "the body is the text report: {body}"
    );
}
