//! Conformance scenarios for what organizers send and what goes out: event
//! creation through the ingest address, change detection ([D3](calinvite_core::manual::design#d3)), stale
//! organizer messages ([interop rule 20](calinvite_core::manual::interop#rule-20)), organizer authentication ([D7](calinvite_core::manual::design#d7)), sending rules,
//! the approval switch ([D6](calinvite_core::manual::design#d6)), update audiences ([D4](calinvite_core::manual::design#d4), [D5](calinvite_core::manual::design#d5)) and tenancy ([D13](calinvite_core::manual::design#d13)).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use crate::scenario::{CalendarEvent, Delivered, ORGANIZER, Scenario};
use calinvite_core::EmailAddress;
use calinvite_core::MessageKind;
use calinvite_core::inbound::{
    AuthResult, AuthVerdict, InboundEnvelope, InboundKind, InboundLimits, parse_inbound,
};
use calinvite_core::lifecycle::report::{event_csv, event_report, organizer_report, owner_report};
use calinvite_core::lifecycle::{
    AuthPolicy, DeliveryState, InvitationSource, OwnerId, PendingChangeId, PendingKind,
    PendingState, PipelineError, RefusalReason, Settings, Store, SuppressionReason,
};
use calinvite_core::lifecycle::{Outcome, RefusalRecord};
use calinvite_core::targeting::UpdateAudience;
use calinvite_core::{EventCode, InvitationToken, Sequence};
use calinvite_core::{ParticipationStatus, Recipient};

const YES: &str = "yes@example.org";
const NO: &str = "no@example.org";
const MAYBE: &str = "maybe@example.org";
const SILENT: &str = "silent@example.org";
const FOUR: [&str; 4] = [YES, NO, MAYBE, SILENT];

// ------------------------------------------------------------------ helpers

fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap_or_else(|e| panic!("test address {s}: {e}"))
}

async fn scenario<S: Store>(store: S, settings: Settings) -> Scenario<S> {
    Scenario::new(store, settings)
        .await
        .expect("the scenario sets up its owner and organizer")
}

async fn invite<S: Store>(s: &Scenario<S>, code: &EventCode, who: &str) -> Outcome {
    s.pipeline
        .invite(
            s.scope(),
            code,
            Recipient::new(addr(who)),
            InvitationSource::Api,
        )
        .await
        .unwrap_or_else(|e| panic!("inviting {who} to {code} failed: {e}"))
}

async fn deliver<S: Store>(s: &Scenario<S>) -> usize {
    s.deliver().await.expect("the queue drains")
}

async fn send<S: Store>(s: &Scenario<S>, event: &CalendarEvent) -> Outcome {
    s.organizer_sends(event)
        .await
        .unwrap_or_else(|e| panic!("organizer request {} failed: {e}", event.uid))
}

fn created(out: Outcome, what: &str) -> EventCode {
    match out {
        Outcome::EventCreated(code) => code,
        other => panic!("{what}: expected EventCreated, got {other:?}"),
    }
}

fn invited(out: Outcome, who: &str) -> InvitationToken {
    match out {
        Outcome::Invited(token) => token,
        other => panic!("inviting {who}: expected Invited, got {other:?}"),
    }
}

fn refused(out: &Outcome, reason: RefusalReason, what: &str) {
    match out {
        Outcome::Refused(r) => assert_eq!(r.reason, reason, "{what}: refused for {r}"),
        other => panic!("{what}: expected a refusal ({reason}), got {other:?}"),
    }
}

fn pending_id(out: Outcome, what: &str) -> PendingChangeId {
    match out {
        Outcome::PendingApproval(_, id) => id,
        other => panic!("{what}: expected PendingApproval, got {other:?}"),
    }
}

/// (METHOD, SEQUENCE) of every calendar message `who` received, oldest first.
fn calendar<S: Store>(s: &Scenario<S>, who: &str) -> Vec<(String, u64)> {
    s.calendar_inbox(who)
        .into_iter()
        .map(|d| {
            (
                d.method.clone().unwrap_or_default(),
                d.sequence
                    .unwrap_or_else(|| panic!("a {:?} to {who} has no SEQUENCE", d.method)),
            )
        })
        .collect()
}

fn req(sequence: u64) -> (String, u64) {
    ("REQUEST".to_owned(), sequence)
}

fn cancel(sequence: u64) -> (String, u64) {
    ("CANCEL".to_owned(), sequence)
}

/// The plain-text body (decoded) and subject of a notice.
fn notice_text(d: &Delivered) -> String {
    let parsed = mail_parser::MessageParser::default()
        .parse(&d.bytes)
        .expect("a notice is a readable message");
    format!(
        "{}\n{}",
        parsed.subject().unwrap_or_default(),
        parsed.body_text(0).unwrap_or_default()
    )
}

/// The notices (non-calendar messages) `who` received.
fn notices<S: Store>(s: &Scenario<S>, who: &str) -> Vec<String> {
    s.inbox(who)
        .iter()
        .filter(|d| d.method.is_none())
        .map(notice_text)
        .collect()
}

/// The event inside a calendar message calinvite sent.
fn sent_event(d: &Delivered) -> calinvite_core::inbound::InboundEvent {
    let parsed = parse_inbound(
        &d.bytes,
        &InboundEnvelope::default(),
        &AuthVerdict::default(),
        &InboundLimits::default(),
    );
    match parsed.kind {
        InboundKind::OrganizerRequest(r) => r.event,
        other => panic!("expected a REQUEST from calinvite, got {}", other.name()),
    }
}

/// The From address and the ORGANIZER address of a calendar message calinvite sent.
fn sender_and_organizer(d: &Delivered) -> (Option<String>, Option<String>) {
    let parsed = parse_inbound(
        &d.bytes,
        &InboundEnvelope::default(),
        &AuthVerdict::default(),
        &InboundLimits::default(),
    );
    let organizer = match &parsed.kind {
        InboundKind::OrganizerRequest(r) => r.identity.organizer.as_ref(),
        InboundKind::OrganizerCancel(c) => c.identity.organizer.as_ref(),
        _ => None,
    };
    (
        parsed.from.map(|a| a.to_string()),
        organizer.map(|m| m.address().to_string()),
    )
}

fn description_of(d: &Delivered) -> String {
    sent_event(d)
        .description
        .map(|t| t.as_str().to_owned())
        .unwrap_or_default()
}

async fn refusals<S: Store>(s: &Scenario<S>) -> Vec<RefusalRecord> {
    s.pipeline
        .refusals(s.owner.id, None)
        .await
        .expect("refusals can be read")
}

async fn reasons<S: Store>(s: &Scenario<S>) -> Vec<RefusalReason> {
    refusals(s).await.iter().map(|r| r.refusal.reason).collect()
}

fn stamp<S: Store>(s: &Scenario<S>) -> String {
    s.pipeline.now().format("%Y%m%dT%H%M%SZ").to_string()
}

fn verdict(spf: AuthResult, dkim: &[(&str, AuthResult)], dmarc: AuthResult) -> AuthVerdict {
    AuthVerdict {
        spf,
        dkim: dkim.iter().map(|(d, r)| ((*d).to_owned(), *r)).collect(),
        dmarc,
    }
}

fn all_fail() -> AuthVerdict {
    verdict(
        AuthResult::Fail,
        &[("example.com", AuthResult::Fail)],
        AuthResult::Fail,
    )
}

fn all_pass() -> AuthVerdict {
    verdict(
        AuthResult::Pass,
        &[("example.com", AuthResult::Pass)],
        AuthResult::Pass,
    )
}

/// A calendar message as a client writes it (multipart/alternative with a
/// text/calendar part), delivered to `to` through [`calinvite_core::lifecycle::Pipeline::receive`].
async fn receive_raw<S: Store>(
    s: &Scenario<S>,
    from: &str,
    to: &EmailAddress,
    method: &str,
    ics: &str,
    auth: AuthVerdict,
) -> Outcome {
    let bytes = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {method} from a test client\r\n\
         Date: Sun, 22 Nov 2026 09:00:00 +0000\r\nMessage-ID: <raw.{len}.{stamp}@client.example>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nCalendar message.\r\n\
         --b\r\nContent-Type: text/calendar; charset=UTF-8; method={method}\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{ics}--b--\r\n",
        len = ics.len(),
        stamp = stamp(s),
    );
    let envelope = InboundEnvelope {
        mail_from: Some(from.to_owned()),
        rcpt_to: vec![to.to_string()],
        peer: None,
    };
    s.pipeline
        .receive(bytes.as_bytes(), envelope, auth)
        .await
        .unwrap_or_else(|e| panic!("receiving a {method} from {from} failed: {e}"))
}

/// An organizer's VCALENDAR with one VEVENT: `times` are the DTSTART/DTEND
/// lines, `extra` any further lines (each ending in CRLF).
#[allow(clippy::too_many_arguments)]
fn organizer_ics(
    method: &str,
    uid: &str,
    sequence: u64,
    stamp: &str,
    organizer: &str,
    ingest: &EmailAddress,
    times: &str,
    extra: &str,
) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Conformance//Calendar//EN\r\nMETHOD:{method}\r\n\
         BEGIN:VEVENT\r\nUID:{uid}\r\nSEQUENCE:{sequence}\r\nDTSTAMP:{stamp}\r\n{times}\
         SUMMARY:Product launch party\r\nDESCRIPTION:Drinks and demos.\r\n\
         LOCATION:Calle Mayor 1\\, Madrid\r\n\
         ORGANIZER;CN=Ana Organizer:mailto:{organizer}\r\n\
         ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:{ingest}\r\n{extra}\
         END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// The DTSTART/DTEND lines of [`CalendarEvent::launch`].
const LAUNCH_TIMES: &str = "DTSTART;TZID=Europe/Madrid:20261203T180000\r\n\
                            DTEND;TZID=Europe/Madrid:20261203T200000\r\n";

/// Creates the launch event, invites the four recipients, delivers, and has
/// Yes, No and Maybe answer. Returns the organizer's event and its code.
async fn brief_setup<S: Store>(s: &Scenario<S>, uid: &str) -> (CalendarEvent, EventCode) {
    let ev = CalendarEvent::launch(uid);
    let code = created(send(s, &ev).await, "the organizer's first request");
    for who in FOUR {
        invited(invite(s, &code, who).await, who);
    }
    deliver(s).await;
    for (who, answer) in [(YES, "ACCEPTED"), (NO, "DECLINED"), (MAYBE, "TENTATIVE")] {
        let out = s
            .reply(who, answer)
            .await
            .unwrap_or_else(|e| panic!("{who} answering failed: {e}"));
        assert!(
            matches!(out, Outcome::AnswerRecorded(_)),
            "{who} answering {answer}: {out:?}"
        );
    }
    (ev, code)
}

async fn sent_sequence<S: Store>(s: &Scenario<S>, code: &EventCode) -> Sequence {
    s.pipeline
        .event(s.scope(), code)
        .await
        .expect("the organizer reads their event")
        .sent_sequence()
}

// ---------------------------------------------------------------- scenarios

/// The product brief: create, invite four, answers, a merch offer reaches Yes and Maybe only, deletion reaches all.
pub(super) async fn brief_story<S: Store>(store: S) {
    let s = scenario(store, Settings::default()).await;
    let ev = CalendarEvent::launch("brief@example.com");
    let code = created(send(&s, &ev).await, "the organizer's first request");
    deliver(&s).await;
    let notice = notices(&s, ORGANIZER);
    assert_eq!(
        notice.len(),
        1,
        "the organizer gets exactly one notice: {notice:?}"
    );
    assert!(
        notice[0].contains(code.as_str()),
        "the notice names the event code {code}: {}",
        notice[0]
    );
    assert!(
        notice[0].contains("What to do next") && notice[0].contains(s.owner.ingest.as_str()),
        "the notice gives next steps and the ingest address: {}",
        notice[0]
    );

    for who in FOUR {
        invited(invite(&s, &code, who).await, who);
    }
    assert_eq!(deliver(&s).await, 4, "one invitation per recipient");
    let mut uids = Vec::new();
    for who in FOUR {
        assert_eq!(calendar(&s, who), vec![req(0)], "{who}'s first invitation");
        let uid = s.calendar_inbox(who)[0].uid.clone().expect("a UID");
        assert!(
            uid.starts_with(code.as_str()),
            "{who}'s UID {uid} names the event {code}"
        );
        uids.push(uid);
    }
    uids.sort();
    uids.dedup();
    assert_eq!(
        uids.len(),
        4,
        "every recipient has their own UID (manual: design D1)"
    );

    for (who, answer) in [(YES, "ACCEPTED"), (NO, "DECLINED"), (MAYBE, "TENTATIVE")] {
        let out = s.reply(who, answer).await.expect("a reply is handled");
        assert!(
            matches!(out, Outcome::AnswerRecorded(_)),
            "{who}: {answer} recorded, got {out:?}"
        );
    }

    let merch = ev
        .clone()
        .edited(|e| e.description.push_str(" Merch: 20% off tonight."));
    let out = send(&s, &merch).await;
    assert_eq!(
        out,
        Outcome::RevisionSent(code.clone(), Sequence::new(1)),
        "a DESCRIPTION change is sent out as SEQUENCE 1"
    );
    assert_eq!(deliver(&s).await, 2, "only Yes and Maybe get the update");
    for who in [YES, MAYBE] {
        assert_eq!(
            calendar(&s, who),
            vec![req(0), req(1)],
            "{who} holds Yes/Maybe and gets the update"
        );
        let inbox = s.calendar_inbox(who);
        assert_eq!(
            inbox[1].uid, inbox[0].uid,
            "{who}'s update keeps the UID of their invitation"
        );
        assert!(
            description_of(&inbox[1]).contains("Merch: 20% off tonight."),
            "{who}'s update carries the merch offer"
        );
    }
    for who in [NO, SILENT] {
        assert_eq!(
            calendar(&s, who),
            vec![req(0)],
            "{who} did not say Yes or Maybe: no update"
        );
    }

    let deleted = merch.clone().edited(|_| {});
    let out = s.organizer_cancels(&deleted, None).await.expect("a CANCEL");
    assert_eq!(
        out,
        Outcome::Cancelled(code.clone()),
        "the deletion cancels"
    );
    assert_eq!(deliver(&s).await, 4, "the cancellation reaches all four");
    // Draining again sends nothing more: exactly once.
    assert_eq!(deliver(&s).await, 0, "nothing is sent twice");
    for who in FOUR {
        let got = calendar(&s, who);
        let cancels: Vec<_> = got.iter().filter(|m| m.0 == "CANCEL").collect();
        assert_eq!(
            cancels,
            vec![&cancel(2)],
            "{who} gets exactly one CANCEL, with SEQUENCE 2: {got:?}"
        );
        assert_eq!(got.last(), Some(&cancel(2)), "{who}: the CANCEL is last");
    }
    let stored = s.pipeline.event(s.scope(), &code).await.expect("event");
    assert!(stored.cancelled(), "the event is cancelled");
    assert_eq!(
        stored.sent_sequence(),
        Sequence::new(2),
        "SEQUENCE 2 is held"
    );

    let report = event_report(&s.pipeline, s.scope(), &code)
        .await
        .expect("report");
    assert_eq!(
        (
            report.accepted,
            report.declined,
            report.tentative,
            report.no_answer,
            report.submitted,
            report.invitations,
            report.events
        ),
        (1, 1, 1, 1, 4, 4, 1),
        "report counts (accepted, declined, tentative, no answer, submitted, invitations, events): {report:?}"
    );
}

/// [D3](calinvite_core::manual::design#d3): identical re-sends and changes outside [D3](calinvite_core::manual::design#d3) send nothing and keep SEQUENCE; a time change goes out.
pub(super) async fn change_detection<S: Store>(store: S) {
    let s = scenario(store, Settings::default()).await;
    let ev = CalendarEvent::launch("d3@example.com");
    let code = created(send(&s, &ev).await, "first request");
    invited(invite(&s, &code, YES).await, YES);
    deliver(&s).await;
    s.reply(YES, "ACCEPTED").await.expect("reply");
    let unchanged = Outcome::Unchanged(code.clone());

    s.advance(60);
    let same = ev.clone().edited(|_| {});
    assert_eq!(
        send(&s, &same).await,
        unchanged,
        "an identical re-send with a higher organizer SEQUENCE changes nothing"
    );
    s.advance(60);
    let paris = same.clone().edited(|e| e.zone = "Europe/Paris".into());
    assert_eq!(
        send(&s, &paris).await,
        unchanged,
        "the same instants in another zone are no change"
    );

    s.advance(60);
    let extra = "COMMENT:Remember the badges\r\nX-MICROSOFT-CDO-BUSYSTATUS:BUSY\r\n\
                 X-CUSTOM-NOTE:internal\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\n\
                 DESCRIPTION:Reminder\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\n";
    let ics = organizer_ics(
        "REQUEST",
        &ev.uid,
        paris.sequence + 1,
        &stamp(&s),
        ORGANIZER,
        &s.owner.ingest,
        LAUNCH_TIMES,
        extra,
    );
    let out = receive_raw(&s, ORGANIZER, &s.owner.ingest, "REQUEST", &ics, all_pass()).await;
    assert_eq!(
        out, unchanged,
        "alarms, comments and X- properties are no change"
    );
    assert_eq!(
        deliver(&s).await,
        0,
        "nothing is sent for unchanged re-sends (not even a notice)"
    );
    assert_eq!(
        sent_sequence(&s, &code).await,
        Sequence::INITIAL,
        "SEQUENCE does not rise without a change"
    );
    let stored = s.pipeline.event(s.scope(), &code).await.expect("event");
    assert_eq!(
        stored.clone().into_parts().organizer_sequence,
        Sequence::new(paris.sequence + 1),
        "the organizer's SEQUENCE is still tracked for ordering"
    );

    s.advance(60);
    let weekly = ev.clone().edited(|e| {
        e.sequence = paris.sequence + 1;
        e.rrule = Some("FREQ=WEEKLY;COUNT=3".into());
    });
    assert_eq!(
        send(&s, &weekly).await,
        Outcome::RevisionSent(code.clone(), Sequence::new(1)),
        "adding a recurrence is a change"
    );
    assert_eq!(deliver(&s).await, 1, "the Yes holder gets the recurrence");
    s.advance(60);
    let reordered = weekly
        .clone()
        .edited(|e| e.rrule = Some("COUNT=3;INTERVAL=1;WKST=MO;FREQ=WEEKLY".into()));
    assert_eq!(
        send(&s, &reordered).await,
        unchanged,
        "an equivalent RRULE (part order, INTERVAL=1, WKST=MO) is no change"
    );

    s.advance(60);
    let later = reordered.clone().edited(|e| {
        e.start = "20261203T190000".into();
        e.end = "20261203T210000".into();
    });
    assert_eq!(
        send(&s, &later).await,
        Outcome::RevisionSent(code.clone(), Sequence::new(2)),
        "a new time is a change"
    );
    deliver(&s).await;
    assert_eq!(
        calendar(&s, YES),
        vec![req(0), req(1), req(2)],
        "the Yes holder got exactly the two real changes"
    );
    assert_eq!(sent_sequence(&s, &code).await, Sequence::new(2));
}

/// [Interop rule 20](calinvite_core::manual::interop#rule-20): older SEQUENCE, or same SEQUENCE with an older or equal DTSTAMP, changes nothing and is recorded.
pub(super) async fn stale_organizer_messages<S: Store>(store: S) {
    let s = scenario(store, Settings::default()).await;
    let v0 = CalendarEvent::launch("stale@example.com");
    let code = created(send(&s, &v0).await, "first request");
    invited(invite(&s, &code, YES).await, YES);
    deliver(&s).await;
    s.reply(YES, "ACCEPTED").await.expect("reply");

    s.advance(60);
    let v1 = v0.clone().edited(|e| {
        e.start = "20261203T190000".into();
        e.end = "20261203T210000".into();
    });
    assert_eq!(
        send(&s, &v1).await,
        Outcome::RevisionSent(code.clone(), Sequence::new(1)),
        "the organizer's edit goes out"
    );
    deliver(&s).await;
    let before = s.pipeline.event(s.scope(), &code).await.expect("event");

    // Same SEQUENCE, same DTSTAMP (the clock has not moved): a re-delivery.
    let mut v1_same_stamp = v1.clone();
    v1_same_stamp.description = "Equal stamp: must be ignored.".into();
    let out = send(&s, &v1_same_stamp).await;
    refused(
        &out,
        RefusalReason::StaleOrganizerMessage,
        "same SEQUENCE, equal DTSTAMP",
    );

    // Same SEQUENCE, older DTSTAMP.
    s.advance(-30);
    let mut v1_older = v1.clone();
    v1_older.description = "Older stamp: must be ignored.".into();
    let out = send(&s, &v1_older).await;
    refused(
        &out,
        RefusalReason::StaleOrganizerMessage,
        "same SEQUENCE, older DTSTAMP",
    );
    s.advance(30);

    // Older SEQUENCE, even with a later DTSTAMP.
    s.advance(60);
    let mut v0_late = v0.clone();
    v0_late.description = "Older SEQUENCE: must be ignored.".into();
    let out = send(&s, &v0_late).await;
    refused(
        &out,
        RefusalReason::StaleOrganizerMessage,
        "older SEQUENCE, later DTSTAMP",
    );
    // A CANCEL with an older SEQUENCE does not cancel.
    let out = s.organizer_cancels(&v0, None).await.expect("a CANCEL");
    refused(
        &out,
        RefusalReason::StaleOrganizerMessage,
        "a CANCEL with an older SEQUENCE",
    );

    assert_eq!(
        deliver(&s).await,
        0,
        "stale messages send nothing, not even a notice"
    );
    let after = s.pipeline.event(s.scope(), &code).await.expect("event");
    assert_eq!(
        (
            after.latest(),
            after.sent_sequence(),
            after.clone().into_parts().organizer_sequence,
            after.clone().into_parts().organizer_stamp,
            after.cancelled()
        ),
        (
            before.latest(),
            before.sent_sequence(),
            before.clone().into_parts().organizer_sequence,
            before.clone().into_parts().organizer_stamp,
            before.cancelled()
        ),
        "stale messages leave the event as it was"
    );
    let stale: Vec<_> = refusals(&s)
        .await
        .into_iter()
        .filter(|r| r.refusal.reason == RefusalReason::StaleOrganizerMessage)
        .collect();
    assert_eq!(stale.len(), 4, "each stale message is recorded: {stale:?}");
    assert!(
        stale
            .iter()
            .all(|r| r.code.as_ref() == Some(&code) && r.organizer == Some(s.scope().organizer)),
        "stale refusals name the event and organizer: {stale:?}"
    );

    // Same SEQUENCE with a later DTSTAMP is newer (and this one is a change).
    s.advance(60);
    let mut v1_newer = v1.clone();
    v1_newer.description = "Later stamp: goes out.".into();
    assert_eq!(
        send(&s, &v1_newer).await,
        Outcome::RevisionSent(code.clone(), Sequence::new(2)),
        "same SEQUENCE with a later DTSTAMP wins"
    );
    deliver(&s).await;
    assert_eq!(calendar(&s, YES), vec![req(0), req(1), req(2)]);
    let last = s.calendar_inbox(YES).pop().expect("a message");
    assert_eq!(description_of(&last), "Later stamp: goes out.");

    // Google's SEQUENCE values do not fit in 32 bits; recipients see ours (manual: design D2).
    let mut big = CalendarEvent::launch("google-seq@example.com");
    big.sequence = 1_407_317_367_304;
    let big_code = created(send(&s, &big).await, "a 64-bit SEQUENCE");
    invited(invite(&s, &big_code, MAYBE).await, MAYBE);
    deliver(&s).await;
    s.reply(MAYBE, "TENTATIVE").await.expect("reply");
    s.advance(60);
    let big_next = big
        .clone()
        .edited(|e| e.summary = "Launch (new title)".into());
    assert_eq!(
        send(&s, &big_next).await,
        Outcome::RevisionSent(big_code.clone(), Sequence::new(1))
    );
    s.advance(60);
    refused(
        &send(&s, &big).await,
        RefusalReason::StaleOrganizerMessage,
        "SEQUENCE 1407317367304 after 1407317367305",
    );
    deliver(&s).await;
    assert_eq!(
        calendar(&s, MAYBE),
        vec![req(0), req(1)],
        "recipients see calinvite's SEQUENCE, not the organizer's"
    );
}

/// [D7](calinvite_core::manual::design#d7): strangers are refused without backscatter; failing authentication and mismatched ORGANIZERs are refused and told to the organizer.
pub(super) async fn organizer_allow_list<S: Store>(store: S) {
    let s = scenario(store, Settings::default()).await;
    let stranger = "mallory@evil.example";
    let ev = CalendarEvent::launch("allow@example.com");

    let out = s
        .organizer_sends_as(&ev, stranger, all_pass())
        .await
        .expect("handled");
    refused(&out, RefusalReason::NotAnOrganizer, "a stranger's event");
    assert_eq!(deliver(&s).await, 0, "nothing is mailed for a stranger");
    assert!(s.inbox(stranger).is_empty(), "no backscatter to a stranger");
    let records = refusals(&s).await;
    assert_eq!(records.len(), 1, "the refusal is recorded: {records:?}");
    assert_eq!(
        records[0].organizer, None,
        "a stranger is no organizer of ours"
    );
    assert!(
        s.pipeline
            .refusals(s.owner.id, Some(s.scope()))
            .await
            .expect("read")
            .is_empty(),
        "a stranger's refusal is not the organizer's"
    );
    assert!(
        s.pipeline
            .store()
            .event_by_uid(s.scope(), &ev.uid)
            .await
            .expect("read")
            .is_none(),
        "no event was created"
    );

    // Allow-list entries match exactly, never as a substring or a subdomain.
    for lookalike in [
        "ana@example.com.evil.example",
        "ana@mail.example.com",
        "ana@notexample.com",
    ] {
        let out = s
            .organizer_sends_as(&ev, lookalike, all_pass())
            .await
            .expect("handled");
        refused(&out, RefusalReason::NotAnOrganizer, lookalike);
        deliver(&s).await;
        assert!(s.inbox(lookalike).is_empty(), "no mail to {lookalike}");
    }
    assert!(
        s.inbox(ORGANIZER).is_empty(),
        "the organizer is not told about strangers"
    );

    // The registered organizer's own address, failing authentication.
    let out = s
        .organizer_sends_as(&ev, ORGANIZER, all_fail())
        .await
        .expect("handled");
    refused(
        &out,
        RefusalReason::AuthenticationFailed,
        "the organizer's address failing SPF, DKIM and DMARC",
    );
    deliver(&s).await;
    let told = notices(&s, ORGANIZER);
    assert_eq!(told.len(), 1, "the organizer is told: {told:?}");
    assert!(
        told[0].contains(RefusalReason::AuthenticationFailed.as_str()),
        "the notice names the reason: {}",
        told[0]
    );

    // Another address of the allowed domain, failing authentication: the From
    // is unproven, so the notice goes to the registered organizer, not to it.
    let forged = "ceo@example.com";
    let out = s
        .organizer_sends_as(&ev, forged, all_fail())
        .await
        .expect("handled");
    refused(
        &out,
        RefusalReason::AuthenticationFailed,
        "an allowed domain's address failing authentication",
    );
    deliver(&s).await;
    assert!(
        s.inbox(forged).is_empty(),
        "an unauthenticated From gets no mail"
    );
    assert_eq!(
        notices(&s, ORGANIZER).len(),
        2,
        "the registered organizer is told instead"
    );
    let scoped = s
        .pipeline
        .refusals(s.owner.id, Some(s.scope()))
        .await
        .expect("read");
    assert_eq!(
        scoped
            .iter()
            .filter(|r| r.refusal.reason == RefusalReason::AuthenticationFailed)
            .count(),
        2,
        "authentication failures are recorded against the organizer: {scoped:?}"
    );

    // Authenticated, but the calendar's ORGANIZER is not allowed for the sender.
    let ics = organizer_ics(
        "REQUEST",
        "mismatch@example.com",
        0,
        &stamp(&s),
        "boss@other.example",
        &s.owner.ingest,
        LAUNCH_TIMES,
        "",
    );
    let out = receive_raw(&s, ORGANIZER, &s.owner.ingest, "REQUEST", &ics, all_pass()).await;
    refused(
        &out,
        RefusalReason::OrganizerMismatch,
        "an ORGANIZER the sender may not act for",
    );
    deliver(&s).await;
    assert_eq!(notices(&s, ORGANIZER).len(), 3, "the organizer is told");
    assert!(s.inbox("boss@other.example").is_empty());

    // A real event, then CANCELs from a stranger and from a failing sender.
    let code = created(send(&s, &ev).await, "the organizer's genuine request");
    invited(invite(&s, &code, YES).await, YES);
    deliver(&s).await;
    for (from, auth, reason) in [
        (stranger, all_pass(), RefusalReason::NotAnOrganizer),
        (ORGANIZER, all_fail(), RefusalReason::AuthenticationFailed),
    ] {
        let ics = organizer_ics(
            "CANCEL",
            &ev.uid,
            5,
            &stamp(&s),
            ORGANIZER,
            &s.owner.ingest,
            LAUNCH_TIMES,
            "STATUS:CANCELLED\r\n",
        );
        let out = receive_raw(&s, from, &s.owner.ingest, "CANCEL", &ics, auth).await;
        refused(&out, reason, &format!("a CANCEL from {from}"));
    }
    deliver(&s).await;
    assert!(s.inbox(stranger).is_empty(), "no backscatter for a CANCEL");
    assert_eq!(
        calendar(&s, YES),
        vec![req(0)],
        "the recipient got no cancellation"
    );
    let stored = s.pipeline.event(s.scope(), &code).await.expect("event");
    assert!(!stored.cancelled(), "the event is not cancelled");
    assert_eq!(stored.sent_sequence(), Sequence::INITIAL);
}

/// [D7](calinvite_core::manual::design#d7): the three authentication policies decide as `engine::authenticated` documents.
pub(super) async fn organizer_auth_policies<S: Store>(store: S) {
    let s = scenario(store, Settings::default()).await;
    let set_policy = |policy: AuthPolicy| {
        let mut account = s.organizer.clone();
        account.settings = Some(Settings::default().with_auth(policy));
        account
    };
    let dkim_only = verdict(
        AuthResult::Fail,
        &[("example.com", AuthResult::Pass)],
        AuthResult::Fail,
    );
    let dkim_subdomain = verdict(
        AuthResult::None,
        &[("mail.example.com", AuthResult::Pass)],
        AuthResult::None,
    );
    let dkim_unaligned = verdict(
        AuthResult::Fail,
        &[("evil.example", AuthResult::Pass)],
        AuthResult::Fail,
    );
    // The harness's envelope MAIL FROM is the sender: SPF is aligned.
    let spf_only = verdict(AuthResult::Pass, &[], AuthResult::None);
    let dmarc_only = verdict(AuthResult::None, &[], AuthResult::Pass);

    let cases: Vec<(AuthPolicy, &str, AuthVerdict, bool)> = vec![
        (
            AuthPolicy::AlignedSpfOrDkim,
            "aligned DKIM",
            dkim_only.clone(),
            true,
        ),
        (
            AuthPolicy::AlignedSpfOrDkim,
            "DKIM of a subdomain",
            dkim_subdomain,
            true,
        ),
        (
            AuthPolicy::AlignedSpfOrDkim,
            "aligned SPF",
            spf_only.clone(),
            true,
        ),
        (
            AuthPolicy::AlignedSpfOrDkim,
            "DMARC",
            dmarc_only.clone(),
            true,
        ),
        (
            AuthPolicy::AlignedSpfOrDkim,
            "unaligned DKIM",
            dkim_unaligned.clone(),
            false,
        ),
        (
            AuthPolicy::AlignedSpfOrDkim,
            "all failing",
            all_fail(),
            false,
        ),
        (
            AuthPolicy::Dmarc,
            "aligned DKIM without DMARC",
            dkim_only,
            false,
        ),
        (
            AuthPolicy::Dmarc,
            "aligned SPF without DMARC",
            spf_only,
            false,
        ),
        (AuthPolicy::Dmarc, "DMARC", dmarc_only, true),
        (AuthPolicy::AllowListOnly, "all failing", all_fail(), true),
        (
            AuthPolicy::AllowListOnly,
            "no verdict",
            AuthVerdict::default(),
            true,
        ),
        (
            AuthPolicy::AllowListOnly,
            "unaligned DKIM",
            dkim_unaligned,
            true,
        ),
    ];
    for (i, (policy, what, auth, accepted)) in cases.into_iter().enumerate() {
        s.pipeline
            .store()
            .put_organizer(set_policy(policy))
            .await
            .expect("settings change");
        let ev = CalendarEvent::launch(&format!("policy-{i}@example.com"));
        let out = s
            .organizer_sends_as(&ev, ORGANIZER, auth)
            .await
            .expect("handled");
        if accepted {
            created(out, &format!("{policy:?} with {what}"));
        } else {
            refused(
                &out,
                RefusalReason::AuthenticationFailed,
                &format!("{policy:?} with {what}"),
            );
        }
    }
    // The allow-list still applies under AllowListOnly.
    let ev = CalendarEvent::launch("policy-stranger@example.com");
    let out = s
        .organizer_sends_as(&ev, "mallory@evil.example", all_pass())
        .await
        .expect("handled");
    refused(
        &out,
        RefusalReason::NotAnOrganizer,
        "AllowListOnly with a stranger",
    );
    deliver(&s).await;
    assert!(s.inbox("mallory@evil.example").is_empty());
}

/// A floating DTSTART (no TZID, no Z) is refused UnusableEvent with a notice; an existing event stays as it was.
pub(super) async fn floating_start_refused<S: Store>(store: S) {
    let s = scenario(store, Settings::default()).await;
    let floating = "DTSTART:20261203T180000\r\nDTEND:20261203T200000\r\n";
    let ics = organizer_ics(
        "REQUEST",
        "floating@example.com",
        0,
        &stamp(&s),
        ORGANIZER,
        &s.owner.ingest,
        floating,
        "",
    );
    let out = receive_raw(&s, ORGANIZER, &s.owner.ingest, "REQUEST", &ics, all_pass()).await;
    refused(&out, RefusalReason::UnusableEvent, "a floating DTSTART");
    assert!(
        s.pipeline
            .store()
            .event_by_uid(s.scope(), "floating@example.com")
            .await
            .expect("read")
            .is_none(),
        "no event was created"
    );
    deliver(&s).await;
    let told = notices(&s, ORGANIZER);
    assert_eq!(told.len(), 1, "the organizer is told: {told:?}");
    assert!(
        told[0].contains(RefusalReason::UnusableEvent.as_str()) && told[0].contains("floating"),
        "the notice says why: {}",
        told[0]
    );

    // An edit of an existing event to a floating time changes nothing.
    let ev = CalendarEvent::launch("zoned@example.com");
    let code = created(send(&s, &ev).await, "a zoned event");
    invited(invite(&s, &code, YES).await, YES);
    deliver(&s).await;
    s.reply(YES, "ACCEPTED").await.expect("reply");
    let before = s.pipeline.event(s.scope(), &code).await.expect("event");
    s.advance(60);
    let ics = organizer_ics(
        "REQUEST",
        &ev.uid,
        1,
        &stamp(&s),
        ORGANIZER,
        &s.owner.ingest,
        floating,
        "",
    );
    let out = receive_raw(&s, ORGANIZER, &s.owner.ingest, "REQUEST", &ics, all_pass()).await;
    refused(&out, RefusalReason::UnusableEvent, "a floating edit");
    deliver(&s).await;
    assert_eq!(calendar(&s, YES), vec![req(0)], "no update went out");
    assert_eq!(
        notices(&s, ORGANIZER).len(),
        3,
        "creation notice and a second refusal notice"
    );
    let after = s.pipeline.event(s.scope(), &code).await.expect("event");
    assert_eq!(
        (after.latest(), after.sent_sequence()),
        (before.latest(), before.sent_sequence()),
        "the event is unchanged"
    );
    assert_eq!(
        reasons(&s).await,
        vec![RefusalReason::UnusableEvent, RefusalReason::UnusableEvent],
        "both refusals are recorded"
    );
}

/// Sending is idempotent per (event, address), whatever the letter case.
pub(super) async fn invite_is_idempotent<S: Store>(store: S) {
    let s = scenario(store, Settings::default()).await;
    let code = created(
        send(&s, &CalendarEvent::launch("idem@example.com")).await,
        "event",
    );
    let token = invited(
        invite(&s, &code, "Yes@Example.ORG").await,
        "Yes@Example.ORG",
    );
    for spelling in [YES, "YES@EXAMPLE.ORG", "MAILTO:yes@example.org"] {
        assert_eq!(
            invite(&s, &code, spelling).await,
            Outcome::AlreadyInvited(token.clone()),
            "inviting {spelling} again"
        );
    }
    deliver(&s).await;
    assert_eq!(calendar(&s, YES), vec![req(0)], "exactly one message");
    assert_eq!(
        invite(&s, &code, YES).await,
        Outcome::AlreadyInvited(token.clone()),
        "after delivery too"
    );
    assert_eq!(deliver(&s).await, 0, "nothing more is sent");
    let all = s
        .pipeline
        .invitations(s.scope(), &code)
        .await
        .expect("read");
    assert_eq!(all.len(), 1, "one invitation: {all:?}");
    assert_eq!(all[0].recipient().address().as_str(), YES);
    assert_eq!(all[0].token(), &token);
}

/// Sending refusals: Suppressed, OwnAddress, EventCancelled, EventEnded, each recorded and nothing sent.
pub(super) async fn invite_refusals<S: Store>(store: S) {
    let s = scenario(store, Settings::default()).await;
    let ev = CalendarEvent::launch("refusals@example.com");
    let code = created(send(&s, &ev).await, "event");
    let other = CalendarEvent::launch("to-cancel@example.com");
    let other_code = created(send(&s, &other).await, "second event");
    deliver(&s).await;
    let mut expected = Vec::new();

    // Suppressed by an operator, and by one-click unsubscribe.
    s.pipeline
        .suppress(
            s.owner.id,
            addr("gone@example.org"),
            SuppressionReason::Complaint,
        )
        .await
        .expect("suppress");
    refused(
        &invite(&s, &code, "gone@example.org").await,
        RefusalReason::Suppressed,
        "a suppressed address",
    );
    expected.push(RefusalReason::Suppressed);
    let token = invited(invite(&s, &other_code, "unsub@example.org").await, "unsub");
    deliver(&s).await;
    let out = s
        .pipeline
        .unsubscribe(s.owner.id, &token)
        .await
        .expect("unsubscribe");
    assert_eq!(out, Outcome::Unsubscribed(token), "one-click unsubscribe");
    refused(
        &invite(&s, &code, "Unsub@Example.org").await,
        RefusalReason::Suppressed,
        "an address that unsubscribed (from another event of the owner)",
    );
    expected.push(RefusalReason::Suppressed);

    // The organizer and calinvite's own mailboxes.
    let own = [
        "ana@example.com".to_owned(),
        "ANA@Example.COM".to_owned(),
        s.owner.ingest.to_string(),
        s.owner.reply.to_string(),
        s.owner.bounce.to_string().to_uppercase(),
    ];
    for who in &own {
        refused(
            &invite(&s, &code, who).await,
            RefusalReason::OwnAddress,
            &format!("inviting {who}"),
        );
        expected.push(RefusalReason::OwnAddress);
    }

    // A cancelled event.
    let out = s
        .organizer_cancels(&other.clone().edited(|_| {}), None)
        .await
        .expect("cancel");
    assert_eq!(out, Outcome::Cancelled(other_code.clone()));
    refused(
        &invite(&s, &other_code, "late@example.org").await,
        RefusalReason::EventCancelled,
        "a cancelled event",
    );
    expected.push(RefusalReason::EventCancelled);

    // An event that is over (it ends 3 Dec 2026 19:00 UTC).
    invited(invite(&s, &code, "ontime@example.org").await, "ontime");
    s.advance(12 * 86_400);
    refused(
        &invite(&s, &code, "toolate@example.org").await,
        RefusalReason::EventEnded,
        "an event that is over",
    );
    expected.push(RefusalReason::EventEnded);

    let records = refusals(&s).await;
    assert_eq!(
        records.iter().map(|r| r.refusal.reason).collect::<Vec<_>>(),
        expected,
        "every refusal is recorded, in order"
    );
    assert!(
        records.iter().all(|r| r.code.is_some()),
        "send refusals name their event: {records:?}"
    );
    deliver(&s).await;
    for who in [
        "gone@example.org",
        "late@example.org",
        "toolate@example.org",
        s.owner.ingest.as_str(),
        s.owner.reply.as_str(),
        s.owner.bounce.as_str(),
    ] {
        assert!(
            s.calendar_inbox(who).is_empty(),
            "{who} was refused and got nothing"
        );
    }
    assert!(
        s.calendar_inbox(ORGANIZER).is_empty(),
        "the organizer got no invitation"
    );
    // The unsubscribed one got only what they had before unsubscribing,
    // and the cancellation of that event (manual: design D5 informs suppressed holders).
    assert_eq!(calendar(&s, "unsub@example.org"), vec![req(0), cancel(1)]);
    assert_eq!(calendar(&s, "ontime@example.org"), vec![req(0)]);
    let invs = s
        .pipeline
        .invitations(s.scope(), &code)
        .await
        .expect("read");
    assert_eq!(
        invs.len(),
        1,
        "only the accepted send became an invitation: {invs:?}"
    );
}

/// A late joiner gets the current revision's SEQUENCE as their invitation and no separate update.
pub(super) async fn late_joiner_gets_current_revision<S: Store>(store: S) {
    let s = scenario(store, Settings::default()).await;
    let ev = CalendarEvent::launch("late@example.com");
    let code = created(send(&s, &ev).await, "event");
    invited(invite(&s, &code, YES).await, YES);
    deliver(&s).await;
    s.reply(YES, "ACCEPTED").await.expect("reply");

    s.advance(60);
    let moved = ev.clone().edited(|e| {
        e.start = "20261203T190000".into();
        e.end = "20261203T210000".into();
    });
    assert_eq!(
        send(&s, &moved).await,
        Outcome::RevisionSent(code.clone(), Sequence::new(1))
    );
    // Invited after the update was decided but before its fan-out ran.
    let early = "early@example.org";
    invited(invite(&s, &code, early).await, early);
    deliver(&s).await;
    // And after everything went out.
    let late = "joiner@example.org";
    invited(invite(&s, &code, late).await, late);
    deliver(&s).await;

    assert_eq!(calendar(&s, YES), vec![req(0), req(1)]);
    for who in [early, late] {
        assert_eq!(
            calendar(&s, who),
            vec![req(1)],
            "{who} gets one REQUEST with the current SEQUENCE"
        );
        let theirs = sent_event(&s.calendar_inbox(who)[0]);
        let yes_update = sent_event(&s.calendar_inbox(YES)[1]);
        assert_eq!(
            format!("{:?}", theirs.start),
            format!("{:?}", yes_update.start),
            "{who} holds the moved time"
        );
    }
    for who in [early, late] {
        let inv = s
            .pipeline
            .store()
            .invitation_for(&code, &addr(who))
            .await
            .expect("read")
            .expect("invited");
        assert_eq!(
            inv.clone().into_parts().sequence_held,
            Some(Sequence::new(1)),
            "{who} holds 1"
        );
    }

    // The next change reaches the late joiner who accepted, not the silent one.
    s.reply(late, "ACCEPTED").await.expect("reply");
    s.advance(60);
    let merch = moved.clone().edited(|e| e.description.push_str(" Merch!"));
    assert_eq!(
        send(&s, &merch).await,
        Outcome::RevisionSent(code.clone(), Sequence::new(2))
    );
    deliver(&s).await;
    assert_eq!(calendar(&s, late), vec![req(1), req(2)]);
    assert_eq!(calendar(&s, early), vec![req(1)]);
    assert_eq!(calendar(&s, YES), vec![req(0), req(1), req(2)]);
}

/// [D6](calinvite_core::manual::design#d6): an edit waits for approval, lists exactly the Yes/Maybe holders, and approval sends exactly those.
pub(super) async fn approval_holds_update<S: Store>(store: S) {
    let s = scenario(store, Settings::default().with_approval(true)).await;
    let (ev, code) = brief_setup(&s, "approve@example.com").await;
    let merch = ev
        .clone()
        .edited(|e| e.description.push_str(" Merch: 20% off."));
    let id = pending_id(send(&s, &merch).await, "an edit under approval");
    let pending = s.pipeline.pending(s.scope(), &id).await.expect("pending");
    assert_eq!(pending.state, PendingState::Open);
    assert_eq!(pending.kind, PendingKind::Update);
    assert_eq!(pending.code, code);
    assert_eq!(pending.base_sequence, Sequence::INITIAL);
    let mut listed: Vec<_> = pending
        .recipients
        .iter()
        .map(|p| (p.address.to_string(), p.kind))
        .collect();
    listed.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        listed,
        vec![
            (MAYBE.to_owned(), MessageKind::Update),
            (YES.to_owned(), MessageKind::Update)
        ],
        "the pending change lists exactly the Yes and Maybe holders"
    );
    assert_eq!(
        s.pipeline
            .open_pending(s.scope(), &code)
            .await
            .expect("read")
            .len(),
        1
    );
    assert_eq!(deliver(&s).await, 0, "nothing is sent before approval");
    assert_eq!(sent_sequence(&s, &code).await, Sequence::INITIAL);

    // Two people join while the change waits (in the very second it was
    // planned): they get the approved revision SEQUENCE 0; the one who then
    // says Yes is a later joiner the update rule includes.
    let joiner = "joiner@example.org";
    let quiet = "quiet-joiner@example.org";
    for who in [joiner, quiet] {
        invited(invite(&s, &code, who).await, who);
    }
    assert_eq!(deliver(&s).await, 2, "the joiners' invitations go out");
    assert_eq!(calendar(&s, joiner), vec![req(0)]);
    s.reply(joiner, "ACCEPTED").await.expect("reply");
    for who in FOUR {
        assert_eq!(calendar(&s, who), vec![req(0)], "{who}: nothing yet");
    }

    assert_eq!(
        s.pipeline.approve(s.scope(), &id).await.expect("approve"),
        Outcome::Resolved(id.clone(), PendingState::Approved)
    );
    assert_eq!(
        s.pipeline
            .pending(s.scope(), &id)
            .await
            .expect("read")
            .state,
        PendingState::Approved
    );
    assert_eq!(
        deliver(&s).await,
        3,
        "approval sends the listed two and the joiner who said Yes"
    );
    assert_eq!(calendar(&s, joiner), vec![req(0), req(1)], "{joiner}");
    assert_eq!(calendar(&s, quiet), vec![req(0)], "{quiet}");
    for who in [YES, MAYBE] {
        assert_eq!(calendar(&s, who), vec![req(0), req(1)], "{who}");
        let last = s.calendar_inbox(who).pop().expect("a message");
        assert!(description_of(&last).contains("Merch: 20% off."), "{who}");
    }
    for who in [NO, SILENT] {
        assert_eq!(calendar(&s, who), vec![req(0)], "{who}");
    }
    assert_eq!(sent_sequence(&s, &code).await, Sequence::new(1));
    assert_eq!(
        s.pipeline.approve(s.scope(), &id).await.expect("approve"),
        Outcome::Resolved(id.clone(), PendingState::Approved),
        "approving twice is harmless"
    );
    assert_eq!(deliver(&s).await, 0, "and sends nothing");
    assert!(
        s.pipeline
            .open_pending(s.scope(), &code)
            .await
            .expect("read")
            .is_empty()
    );
}

/// [D6](calinvite_core::manual::design#d6): rejecting a pending edit sends nothing; recipients keep SEQUENCE 0.
pub(super) async fn approval_reject<S: Store>(store: S) {
    let s = scenario(store, Settings::default().with_approval(true)).await;
    let (ev, code) = brief_setup(&s, "reject@example.com").await;
    let moved = ev.clone().edited(|e| e.start = "20261203T170000".into());
    let id = pending_id(send(&s, &moved).await, "an edit under approval");
    assert_eq!(
        s.pipeline.reject(s.scope(), &id).await.expect("reject"),
        Outcome::Resolved(id.clone(), PendingState::Rejected)
    );
    assert_eq!(deliver(&s).await, 0, "a rejected change sends nothing");
    assert_eq!(
        s.pipeline.approve(s.scope(), &id).await.expect("approve"),
        Outcome::Resolved(id.clone(), PendingState::Rejected),
        "a rejected change cannot be approved afterwards"
    );
    assert_eq!(deliver(&s).await, 0, "still nothing");
    for who in FOUR {
        assert_eq!(calendar(&s, who), vec![req(0)], "{who} keeps SEQUENCE 0");
    }
    assert_eq!(sent_sequence(&s, &code).await, Sequence::INITIAL);
    let invs = s
        .pipeline
        .invitations(s.scope(), &code)
        .await
        .expect("read");
    assert!(
        invs.iter()
            .all(|i| i.clone().into_parts().sequence_held == Some(Sequence::INITIAL)),
        "every invitation still holds SEQUENCE 0: {invs:?}"
    );
}

/// [D6](calinvite_core::manual::design#d6): a newer edit supersedes an older pending one; approving the newer sends one update with its content.
pub(super) async fn approval_newer_edit_supersedes<S: Store>(store: S) {
    let s = scenario(store, Settings::default().with_approval(true)).await;
    let (ev, code) = brief_setup(&s, "supersede@example.com").await;
    let a = ev.clone().edited(|e| e.description = "Version A".into());
    let id_a = pending_id(send(&s, &a).await, "edit A");
    s.advance(60);
    let b = a.clone().edited(|e| e.description = "Version B".into());
    let id_b = pending_id(send(&s, &b).await, "edit B");
    assert_ne!(id_a, id_b);
    assert_eq!(
        s.pipeline.pending(s.scope(), &id_a).await.expect("a").state,
        PendingState::Superseded,
        "the older pending change is superseded"
    );
    let open = s
        .pipeline
        .open_pending(s.scope(), &code)
        .await
        .expect("read");
    assert_eq!(
        open.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        vec![id_b.as_str()],
        "only the newer change is open"
    );
    assert_eq!(
        s.pipeline.approve(s.scope(), &id_a).await.expect("approve"),
        Outcome::Resolved(id_a.clone(), PendingState::Superseded),
        "a superseded change cannot be approved"
    );
    assert_eq!(deliver(&s).await, 0);
    assert_eq!(
        s.pipeline.approve(s.scope(), &id_b).await.expect("approve"),
        Outcome::Resolved(id_b.clone(), PendingState::Approved)
    );
    assert_eq!(deliver(&s).await, 2, "one update each to Yes and Maybe");
    for who in [YES, MAYBE] {
        assert_eq!(calendar(&s, who), vec![req(0), req(1)], "{who}");
        let last = s.calendar_inbox(who).pop().expect("a message");
        assert_eq!(description_of(&last), "Version B", "{who} gets B");
    }
    for who in [NO, SILENT] {
        assert_eq!(calendar(&s, who), vec![req(0)], "{who}");
    }

    // An edit back to what recipients hold makes a pending change moot.
    s.advance(60);
    let c = b.clone().edited(|e| e.description = "Version C".into());
    let id_c = pending_id(send(&s, &c).await, "edit C");
    s.advance(60);
    let back = c.clone().edited(|e| e.description = "Version B".into());
    assert_eq!(
        send(&s, &back).await,
        Outcome::Unchanged(code.clone()),
        "back to the approved version"
    );
    assert_eq!(
        s.pipeline.pending(s.scope(), &id_c).await.expect("c").state,
        PendingState::Superseded
    );
    assert_eq!(deliver(&s).await, 0);
    assert_eq!(sent_sequence(&s, &code).await, Sequence::new(1));
}

/// [D6](calinvite_core::manual::design#d6): a cancellation under approval lists everyone who received the event, blocks new invites, and approval cancels for all.
pub(super) async fn approval_holds_cancellation<S: Store>(store: S) {
    let s = scenario(store, Settings::default().with_approval(true)).await;
    let (ev, code) = brief_setup(&s, "cancel-approval@example.com").await;
    let edit = ev.clone().edited(|e| e.description = "Bigger venue".into());
    let update_id = pending_id(send(&s, &edit).await, "an edit under approval");
    s.advance(60);
    let id = pending_id(
        s.organizer_cancels(&edit.clone().edited(|_| {}), None)
            .await
            .expect("cancel"),
        "a cancellation under approval",
    );
    assert_eq!(
        s.pipeline
            .pending(s.scope(), &update_id)
            .await
            .expect("read")
            .state,
        PendingState::Superseded,
        "the cancellation supersedes the pending update"
    );
    let pending = s.pipeline.pending(s.scope(), &id).await.expect("pending");
    assert_eq!(pending.kind, PendingKind::Cancel);
    let mut listed: Vec<_> = pending
        .recipients
        .iter()
        .map(|p| (p.address.to_string(), p.kind))
        .collect();
    listed.sort_by(|x, y| x.0.cmp(&y.0));
    let mut everyone: Vec<_> = FOUR
        .iter()
        .map(|a| ((*a).to_owned(), MessageKind::Cancellation))
        .collect();
    everyone.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        listed, everyone,
        "a pending cancellation lists everyone who received the event"
    );
    refused(
        &invite(&s, &code, "newcomer@example.org").await,
        RefusalReason::CancellationPending,
        "an invite while a cancellation waits",
    );
    assert_eq!(deliver(&s).await, 0, "nothing before approval");
    let stored = s.pipeline.event(s.scope(), &code).await.expect("event");
    assert!(!stored.cancelled(), "not cancelled before approval");

    assert_eq!(
        s.pipeline.approve(s.scope(), &id).await.expect("approve"),
        Outcome::Resolved(id.clone(), PendingState::Approved)
    );
    assert_eq!(deliver(&s).await, 4, "the cancellation reaches all four");
    for who in FOUR {
        assert_eq!(
            calendar(&s, who),
            vec![req(0), cancel(1)],
            "{who} gets one CANCEL"
        );
    }
    assert!(s.calendar_inbox("newcomer@example.org").is_empty());
    let stored = s.pipeline.event(s.scope(), &code).await.expect("event");
    assert!(stored.cancelled(), "cancelled after approval");
    refused(
        &invite(&s, &code, "newcomer@example.org").await,
        RefusalReason::EventCancelled,
        "an invite after the cancellation",
    );
}

async fn audience_case<S: Store>(store: S, audience: UpdateAudience, expect: &[&str]) {
    let s = scenario(store, Settings::default().with_audience(audience)).await;
    let (ev, _code) = brief_setup(&s, "audience@example.com").await;
    let edited = ev.clone().edited(|e| e.location = Some("Sol 2".into()));
    assert!(
        matches!(send(&s, &edited).await, Outcome::RevisionSent(_, _)),
        "the edit goes out"
    );
    deliver(&s).await;
    for who in FOUR {
        let want = if expect.contains(&who) {
            vec![req(0), req(1)]
        } else {
            vec![req(0)]
        };
        assert_eq!(calendar(&s, who), want, "{audience:?}: {who}");
    }
}

/// [D4](calinvite_core::manual::design#d4): `UpdateAudience::NotDeclined` updates Yes, Maybe and the silent, not No.
pub(super) async fn update_audience_not_declined<S: Store>(store: S) {
    audience_case(store, UpdateAudience::NotDeclined, &[YES, MAYBE, SILENT]).await;
}

/// [D4](calinvite_core::manual::design#d4): `UpdateAudience::Everyone` updates decliners too.
pub(super) async fn update_audience_everyone<S: Store>(store: S) {
    audience_case(store, UpdateAudience::Everyone, &FOUR).await;
}

/// A hard bounce is the address's, across the owner's events: an address
/// whose mail bounced permanently on another event gets no cancellation of
/// this one (it would only bounce again), and a cancellation queued before
/// such a bounce arrived is set aside when its turn comes. Everyone else,
/// decliners included, is told the event is off.
pub(super) async fn hard_bounce_on_another_event_gets_no_cancellation<S: Store>(store: S) {
    let s = scenario(store, Settings::default()).await;
    let (ev, code) = brief_setup(&s, "cancel-a@example.com").await;
    let other = created(
        send(&s, &CalendarEvent::launch("cancel-b@example.com")).await,
        "another event",
    );
    for who in [NO, SILENT] {
        invited(invite(&s, &other, who).await, who);
    }
    deliver(&s).await;
    // NO's copy of the other event bounces for good before the cancellation.
    let out = s.delivery_report(NO, Some(true)).await.expect("DSN");
    assert!(matches!(out, Outcome::DeliveryRecorded(_)), "{out:?}");
    let out = s
        .organizer_cancels(&ev.clone().edited(|_| {}), None)
        .await
        .expect("cancel");
    assert_eq!(out, Outcome::Cancelled(code.clone()));
    // The cancellations are planned (queued), then SILENT's copy of the other
    // event bounces before they go out.
    while s.pipeline.step_fan_out().await.expect("plan") {}
    let out = s.delivery_report(SILENT, Some(true)).await.expect("DSN");
    assert!(matches!(out, Outcome::DeliveryRecorded(_)), "{out:?}");
    deliver(&s).await;
    let cancels = |who: &str| {
        calendar(&s, who)
            .into_iter()
            .filter(|(m, _)| m == "CANCEL")
            .count()
    };
    for who in [YES, MAYBE] {
        assert_eq!(cancels(who), 1, "{who} is told the event is off");
    }
    assert_eq!(
        cancels(NO),
        0,
        "a hard bounce elsewhere: no cancellation planned"
    );
    assert_eq!(
        cancels(SILENT),
        0,
        "a hard bounce after it was queued: the cancellation is set aside"
    );
    // The invitations of the cancelled event keep their own delivery state;
    // the bounces are the other event's.
    for who in [NO, SILENT] {
        let inv = s
            .pipeline
            .store()
            .invitation_for(&code, &addr(who))
            .await
            .expect("read")
            .expect("invited");
        assert_ne!(inv.delivery(), DeliveryState::HardBounced, "{who}");
    }
}

/// [D4](calinvite_core::manual::design#d4)/[D5](calinvite_core::manual::design#d5): hard-bounced addresses get neither updates nor cancellations; soft bounces still do.
pub(super) async fn hard_bounced_never_updated<S: Store>(store: S) {
    let s = scenario(
        store,
        Settings::default().with_audience(UpdateAudience::Everyone),
    )
    .await;
    let (ev, code) = brief_setup(&s, "bounce@example.com").await;
    for (who, permanent) in [(MAYBE, Some(true)), (SILENT, Some(true)), (NO, Some(false))] {
        let out = s.delivery_report(who, permanent).await.expect("DSN");
        assert!(
            matches!(out, Outcome::DeliveryRecorded(_)),
            "{who}'s delivery report: {out:?}"
        );
    }
    for (who, state) in [
        (MAYBE, DeliveryState::HardBounced),
        (SILENT, DeliveryState::HardBounced),
        (NO, DeliveryState::SoftBounced),
    ] {
        let inv = s
            .pipeline
            .store()
            .invitation_for(&code, &addr(who))
            .await
            .expect("read")
            .expect("invited");
        assert_eq!(inv.delivery(), state, "{who}");
    }
    let report = event_report(&s.pipeline, s.scope(), &code)
        .await
        .expect("report");
    assert_eq!(
        (report.hard_bounced, report.soft_bounced),
        (2, 1),
        "two hard bounces, one soft: {report:?}"
    );
    let edited = ev
        .clone()
        .edited(|e| e.summary = "Launch party (moved)".into());
    assert!(matches!(
        send(&s, &edited).await,
        Outcome::RevisionSent(_, _)
    ));
    deliver(&s).await;
    for who in [YES, NO] {
        assert_eq!(calendar(&s, who), vec![req(0), req(1)], "{who} is updated");
    }
    for who in [MAYBE, SILENT] {
        assert_eq!(
            calendar(&s, who),
            vec![req(0)],
            "{who} hard-bounced: no update"
        );
    }
    let out = s
        .organizer_cancels(&edited.clone().edited(|_| {}), None)
        .await
        .expect("cancel");
    assert_eq!(out, Outcome::Cancelled(code.clone()));
    deliver(&s).await;
    for who in [YES, NO] {
        assert_eq!(calendar(&s, who), vec![req(0), req(1), cancel(2)], "{who}");
    }
    for who in [MAYBE, SILENT] {
        assert_eq!(calendar(&s, who), vec![req(0)], "{who}: no cancellation");
    }
    let report = event_report(&s.pipeline, s.scope(), &code)
        .await
        .expect("report");
    assert_eq!(
        (report.hard_bounced, report.soft_bounced),
        (2, 0),
        "hard bounces stay; the soft bounce was followed by successful sends: {report:?}"
    );
    for who in [MAYBE, SILENT] {
        assert!(
            s.pipeline
                .store()
                .suppression(s.owner.id, &addr(who))
                .await
                .expect("read")
                .is_some(),
            "a hard bounce suppresses {who}"
        );
    }
    let next = created(
        send(&s, &CalendarEvent::launch("next-event@example.com")).await,
        "another event",
    );
    refused(
        &invite(&s, &next, SILENT).await,
        RefusalReason::Suppressed,
        "a hard-bounced address, to another event",
    );
    invited(
        invite(&s, &next, NO).await,
        "a soft bounce is not suppressed",
    );
}

/// [D13](calinvite_core::manual::design#d13): two tenants on one store cannot see, invite, approve or answer each other's events, and reports never mix.
pub(super) async fn tenant_isolation<S: Store>(store: S) {
    let store = Arc::new(store);
    let a = Scenario::with_tenant(
        store.clone(),
        Settings::default().with_approval(true),
        1,
        "events.example.com",
    )
    .await
    .expect("tenant A");
    let b = Scenario::with_tenant(
        store.clone(),
        Settings::default(),
        2,
        "events.other.example",
    )
    .await
    .expect("tenant B");

    // The same organizer UID in both tenants makes two separate events.
    let ev = CalendarEvent::launch("shared-uid@example.com");
    let code_a = created(send(&a, &ev).await, "tenant A's event");
    let code_b = created(send(&b, &ev).await, "tenant B's event, same UID");
    assert_ne!(code_a, code_b);
    // Delivery workers are shared by all tenants of a store: each scenario
    // drains the whole queue, so each tenant's messages go out before the
    // other's are queued, and every inbox holds its own tenant's copies.
    let token_a = invited(invite(&a, &code_a, YES).await, YES);
    invited(invite(&a, &code_a, NO).await, NO);
    deliver(&a).await;
    a.reply(YES, "ACCEPTED").await.expect("reply");
    for who in [YES, "x@example.org", "y@example.org"] {
        invited(invite(&b, &code_b, who).await, who);
    }
    deliver(&b).await;
    let id_a = pending_id(
        send(&a, &ev.clone().edited(|e| e.description = "A2".into())).await,
        "tenant A's edit",
    );

    let not_found = |what: &str, r: Result<(), PipelineError>| match r {
        Err(PipelineError::NotFound(_)) => {}
        other => panic!("tenant B {what} tenant A's data: expected NotFound, got {other:?}"),
    };
    let bs = b.scope();
    let p = &b.pipeline;
    not_found("reads", p.event(bs, &code_a).await.map(drop));
    not_found(
        "lists invitations of",
        p.invitations(bs, &code_a).await.map(drop),
    );
    not_found("reads history of", p.history(bs, &token_a).await.map(drop));
    not_found(
        "lists pending changes of",
        p.open_pending(bs, &code_a).await.map(drop),
    );
    not_found(
        "reads the pending change of",
        p.pending(bs, &id_a).await.map(drop),
    );
    not_found("approves", p.approve(bs, &id_a).await.map(drop));
    not_found("rejects", p.reject(bs, &id_a).await.map(drop));
    not_found(
        "invites to",
        p.invite(
            bs,
            &code_a,
            Recipient::new(addr("intruder@example.org")),
            InvitationSource::Api,
        )
        .await
        .map(drop),
    );
    not_found("cancels", p.cancel_event(bs, &code_a, None).await.map(drop));
    let stolen = a
        .pipeline
        .event(a.scope(), &code_a)
        .await
        .expect("A reads its own event")
        .latest()
        .clone();
    not_found(
        "updates",
        p.update_event(bs, &code_a, stolen).await.map(drop),
    );
    not_found("reports on", event_report(p, bs, &code_a).await.map(drop));
    not_found("exports", event_csv(p, bs, &code_a).await.map(drop));
    not_found(
        "mails a report of",
        p.mail_report(bs, &code_a, None).await.map(drop),
    );

    let pending = a.pipeline.pending(a.scope(), &id_a).await.expect("pending");
    assert_eq!(
        pending.state,
        PendingState::Open,
        "B's attempts left A's change open"
    );
    let a_event = a.pipeline.event(a.scope(), &code_a).await.expect("event");
    assert!(!a_event.cancelled(), "B could not cancel A's event");
    assert_eq!(
        a.pipeline
            .invitations(a.scope(), &code_a)
            .await
            .expect("read")
            .len(),
        2,
        "B could not invite to A's event"
    );

    // A reply carrying A's invitation UID, mailed to B's reply mailbox.
    let held = a.calendar_inbox(YES).pop().expect("A's invitation to yes");
    assert!(
        held.uid
            .as_deref()
            .is_some_and(|u| u.starts_with(code_a.as_str())),
        "A's inbox holds A's invitation: {:?}",
        held.uid
    );
    let reply_ics = |to: &EmailAddress, partstat: &str, stamp: &str| {
        format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Conformance//Calendar//EN\r\nMETHOD:REPLY\r\n\
             BEGIN:VEVENT\r\nUID:{}\r\nSEQUENCE:{}\r\nDTSTAMP:{stamp}\r\n\
             ORGANIZER:mailto:{to}\r\nATTENDEE;PARTSTAT={partstat}:mailto:{YES}\r\n\
             END:VEVENT\r\nEND:VCALENDAR\r\n",
            held.uid.clone().expect("a UID"),
            held.sequence.unwrap_or_default(),
        )
    };
    let history_before = a
        .pipeline
        .history(a.scope(), &token_a)
        .await
        .expect("history");
    b.advance(60);
    let ics = reply_ics(&b.owner.reply, "DECLINED", &stamp(&b));
    let out = receive_raw(
        &b,
        YES,
        &b.owner.reply,
        "REPLY",
        &ics,
        AuthVerdict::default(),
    )
    .await;
    refused(
        &out,
        RefusalReason::WrongTenant,
        "A's invitation answered at B's mailbox",
    );
    let inv = a
        .pipeline
        .store()
        .invitation(&token_a)
        .await
        .expect("read")
        .expect("A's invitation");
    assert_eq!(
        inv.status(),
        Some(ParticipationStatus::Accepted),
        "the answer is unchanged"
    );
    assert_eq!(
        a.pipeline
            .history(a.scope(), &token_a)
            .await
            .expect("history"),
        history_before,
        "nothing was added to the history"
    );
    let b_refusals = refusals(&b).await;
    assert!(
        b_refusals
            .iter()
            .any(|r| r.refusal.reason == RefusalReason::WrongTenant && r.code.is_none()),
        "B records the wrong-tenant refusal without naming A's event: {b_refusals:?}"
    );
    assert!(
        refusals(&a).await.is_empty(),
        "nothing is recorded against A"
    );

    // B's web answer and unsubscribe endpoints do not take A's token.
    match b
        .pipeline
        .web_answer(b.owner.id, &token_a, ParticipationStatus::Declined)
        .await
    {
        Ok(Outcome::Refused(r)) => assert_eq!(
            r.reason,
            RefusalReason::UnknownInvitation,
            "B's web answer with A's token: {r}"
        ),
        other => panic!("B's web answer with A's token: expected a refusal, got {other:?}"),
    }
    match b.pipeline.unsubscribe(b.owner.id, &token_a).await {
        Ok(Outcome::Refused(r)) => assert_eq!(
            r.reason,
            RefusalReason::UnknownInvitation,
            "B's unsubscribe with A's token: {r}"
        ),
        other => panic!("B's unsubscribe with A's token: expected a refusal, got {other:?}"),
    }
    let inv = a
        .pipeline
        .store()
        .invitation(&token_a)
        .await
        .expect("read")
        .expect("A's invitation");
    assert_eq!(inv.status(), Some(ParticipationStatus::Accepted));
    for owner in [a.owner.id, b.owner.id] {
        assert!(
            store
                .suppression(owner, &addr(YES))
                .await
                .expect("read")
                .is_none(),
            "nobody suppressed {YES} for owner {owner:?}"
        );
    }
    // Suppression lists are per owner.
    b.pipeline
        .suppress(b.owner.id, addr(NO), SuppressionReason::Complaint)
        .await
        .expect("suppress");
    refused(
        &invite(&b, &code_b, NO).await,
        RefusalReason::Suppressed,
        "B suppressed the address",
    );
    assert!(
        matches!(invite(&a, &code_a, NO).await, Outcome::AlreadyInvited(_)),
        "A's invitation is untouched by B's suppression"
    );
    let a_no = a
        .pipeline
        .store()
        .suppression(a.owner.id, &addr(NO))
        .await
        .expect("read");
    assert!(a_no.is_none(), "B's suppression is not A's: {a_no:?}");

    // Reports never mix.
    let ra = organizer_report(&a.pipeline, a.scope()).await.expect("A");
    let rb = organizer_report(&b.pipeline, b.scope()).await.expect("B");
    assert_eq!(
        (ra.events, ra.invitations, ra.accepted),
        (1, 2, 1),
        "A's report: {ra:?}"
    );
    assert_eq!(
        (rb.events, rb.invitations, rb.accepted),
        (1, 3, 0),
        "B's report: {rb:?}"
    );
    let oa = owner_report(&a.pipeline, OwnerId(1)).await.expect("A");
    let ob = owner_report(&b.pipeline, OwnerId(2)).await.expect("B");
    assert_eq!((oa.events, oa.invitations), (1, 2), "owner A: {oa:?}");
    assert_eq!((ob.events, ob.invitations), (1, 3), "owner B: {ob:?}");
    assert_eq!(
        ob.refusals.get(&RefusalReason::WrongTenant),
        Some(&1),
        "{ob:?}"
    );
    assert!(oa.refusals.is_empty(), "owner A: {oa:?}");

    // The same reply at A's own mailbox is taken: the refusal was about tenancy.
    a.advance(120);
    let ics = reply_ics(&a.owner.reply, "DECLINED", &stamp(&a));
    let out = receive_raw(
        &a,
        YES,
        &a.owner.reply,
        "REPLY",
        &ics,
        AuthVerdict::default(),
    )
    .await;
    assert_eq!(
        out,
        Outcome::AnswerRecorded(token_a.clone()),
        "A's mailbox takes it"
    );

    // A message of A's sent by B's worker still speaks for A (From, ORGANIZER).
    // (The scenarios have their own clocks: B's must not be behind A's.)
    invited(invite(&a, &code_a, "late-a@example.org").await, "late-a");
    b.advance(120);
    deliver(&b).await;
    let got = b.calendar_inbox("late-a@example.org");
    assert_eq!(got.len(), 1, "one invitation: {got:?}");
    assert!(
        got[0]
            .uid
            .as_deref()
            .is_some_and(|u| u.starts_with(code_a.as_str())),
        "it is A's invitation"
    );
    assert_eq!(
        sender_and_organizer(&got[0]),
        (
            Some(a.owner.reply.to_string()),
            Some(a.owner.reply.to_string())
        ),
        "From and ORGANIZER are A's reply mailbox, whoever's worker sent it"
    );
}

/// Past events are not mailed ([interop rule 22](calinvite_core::manual::interop#rule-22)): an edit after the end is kept
/// without an update, a cancellation is recorded without a CANCEL, and both
/// leave an `event-ended` refusal.
pub(super) async fn past_events_are_not_mailed<S: Store>(store: S) {
    let s = scenario(store, Settings::default()).await;
    let (ev, code) = brief_setup(&s, "past@example.com").await;
    // The launch is on 3 December; move past its end.
    s.advance(20 * 86_400);
    let edited = ev
        .clone()
        .edited(|e| e.description.push_str(" Thanks for coming!"));
    let before: usize = ["yes@example.org", "maybe@example.org"]
        .iter()
        .map(|w| calendar(&s, w).len())
        .sum();
    refused(
        &send(&s, &edited).await,
        RefusalReason::EventEnded,
        "an edit after the end",
    );
    deliver(&s).await;
    let after: usize = ["yes@example.org", "maybe@example.org"]
        .iter()
        .map(|w| calendar(&s, w).len())
        .sum();
    assert_eq!(before, after, "no update about a past event");
    assert_eq!(sent_sequence(&s, &code).await, Sequence::INITIAL);
    let stored = s.pipeline.event(s.scope(), &code).await.expect("event");
    assert!(
        stored
            .latest()
            .description()
            .is_some_and(|d| d.as_str().contains("Thanks for coming")),
        "the organizer's version is kept"
    );
    let out = s
        .organizer_cancels(&edited.clone().edited(|_| {}), None)
        .await
        .expect("cancel handled");
    refused(
        &out,
        RefusalReason::EventEnded,
        "a cancellation after the end",
    );
    deliver(&s).await;
    for who in [
        "yes@example.org",
        "no@example.org",
        "maybe@example.org",
        "silent@example.org",
    ] {
        assert!(
            calendar(&s, who).iter().all(|(m, _)| m != "CANCEL"),
            "{who} gets no CANCEL for a past event"
        );
    }
    let stored = s.pipeline.event(s.scope(), &code).await.expect("event");
    assert!(stored.cancelled(), "the cancellation is recorded");
    let ended = reasons(&s)
        .await
        .into_iter()
        .filter(|r| *r == RefusalReason::EventEnded)
        .count();
    assert_eq!(ended, 2, "both are in the refusals");
}
