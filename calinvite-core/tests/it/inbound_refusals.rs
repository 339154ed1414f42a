//! An event never changes meaning on the way in, and ambiguous mail is
//! refused (manual: inbound_warnings): organizer messages carrying what
//! calinvite cannot represent about when or whether the event happens are
//! refused as unusable events with the organizer told why; mail with
//! repeated deciding header fields is refused as ambiguous before any policy
//! decision. Everything goes through the whole pipeline
//! (`Pipeline::receive` → refusal recorded → notice delivered), on the
//! in-memory store and the recording transport.

use calinvite_core::inbound::{AuthResult, AuthVerdict, InboundEnvelope};
use calinvite_core::lifecycle::Store as _;
use calinvite_core::lifecycle::{InvitationSource, MemoryStore, Outcome, RefusalReason, Settings};
use calinvite_core::{EmailAddress, EventCode, Recipient, RecurrenceRule};
use calinvite_tests::block_on;
use calinvite_tests::scenario::{CalendarEvent, ORGANIZER, Scenario};
use proptest::prelude::*;

const TIMES: &str = "DTSTART;TZID=Europe/Madrid:20261203T180000\r\n\
                     DTEND;TZID=Europe/Madrid:20261203T200000\r\n";
const INVITEE: &str = "yes@example.org";
const STRANGER: &str = "mallory@evil.example";

type S = Scenario<MemoryStore>;

fn scenario() -> S {
    block_on(Scenario::new(MemoryStore::new(), Settings::default())).expect("scenario")
}

fn pass() -> AuthVerdict {
    AuthVerdict {
        spf: AuthResult::Pass,
        dkim: vec![("example.com".into(), AuthResult::Pass)],
        dmarc: AuthResult::Pass,
    }
}

/// An organizer's VCALENDAR: one master VEVENT with `times` and `extra`
/// lines, then `after` (further components).
fn ics(method: &str, uid: &str, sequence: &str, times: &str, extra: &str, after: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//Calendar//EN\r\nMETHOD:{method}\r\n\
         BEGIN:VEVENT\r\nUID:{uid}\r\nSEQUENCE:{sequence}\r\nDTSTAMP:20261122T090000Z\r\n{times}\
         SUMMARY:Product launch party\r\n\
         ORGANIZER;CN=Ana Organizer:mailto:{ORGANIZER}\r\n\
         ATTENDEE;RSVP=TRUE:mailto:create@events.example.com\r\n{extra}\
         END:VEVENT\r\n{after}END:VCALENDAR\r\n"
    )
}

/// A client's message around `ics`, with `headers` (each ending in CRLF)
/// at the top.
fn message(headers: &str, method: &str, ics: &str) -> Vec<u8> {
    format!(
        "{headers}To: create@events.example.com\r\nSubject: Invitation\r\n\
         Date: Sun, 22 Nov 2026 09:00:00 +0000\r\nMessage-ID: <m.{}@client.example>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nInvitation.\r\n\
         --b\r\nContent-Type: text/calendar; charset=UTF-8; method={method}\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{ics}--b--\r\n",
        ics.len()
    )
    .into_bytes()
}

fn receive(s: &S, from: &str, raw: &[u8]) -> Outcome {
    let envelope = InboundEnvelope {
        mail_from: Some(from.to_owned()),
        rcpt_to: vec![s.owner.ingest.to_string()],
        peer: None,
    };
    block_on(s.pipeline.receive(raw, envelope, pass())).expect("handled")
}

fn send(s: &S, method: &str, ics: &str) -> Outcome {
    receive(
        s,
        ORGANIZER,
        &message(&format!("From: {ORGANIZER}\r\n"), method, ics),
    )
}

fn refusal(out: &Outcome, reason: RefusalReason, what: &str) -> String {
    match out {
        Outcome::Refused(r) if r.reason == reason => r.detail.clone(),
        other => panic!("{what}: expected a {reason} refusal, got {other:?}"),
    }
}

/// The subjects and bodies of the notices (not calendar messages) `who` got.
fn notices(s: &S, who: &str) -> Vec<String> {
    block_on(s.deliver()).expect("the queue drains");
    s.inbox(who)
        .iter()
        .filter(|d| d.method.is_none())
        .map(|d| {
            let m = mail_parser::MessageParser::default()
                .parse(&d.bytes)
                .expect("a notice is a message");
            format!(
                "{}\n{}",
                m.subject().unwrap_or_default(),
                m.body_text(0).unwrap_or_default()
            )
        })
        .collect()
}

fn reasons(s: &S) -> Vec<RefusalReason> {
    block_on(s.pipeline.refusals(s.owner.id, None))
        .expect("refusals")
        .iter()
        .map(|r| r.refusal.reason)
        .collect()
}

fn has_event(s: &S, uid: &str) -> bool {
    block_on(s.pipeline.store().event_by_uid(s.scope(), uid))
        .expect("read")
        .is_some()
}

fn created(out: Outcome, what: &str) -> EventCode {
    match out {
        Outcome::EventCreated(code) => code,
        other => panic!("{what}: expected the event to be created, got {other:?}"),
    }
}

/// Each case: the lines that make the organizer's REQUEST unrepresentable,
/// and a word the organizer's notice must contain.
fn unusable_requests() -> Vec<(&'static str, String, &'static str)> {
    let master = |extra: &str| ics("REQUEST", "u@example.com", "0", TIMES, extra, "");
    let instance = |rid: &str, extra: &str| {
        ics(
            "REQUEST",
            "u@example.com",
            "0",
            TIMES,
            "RRULE:FREQ=WEEKLY;COUNT=4\r\n",
            &format!(
                "BEGIN:VEVENT\r\nUID:u@example.com\r\nSEQUENCE:0\r\nDTSTAMP:20261122T090000Z\r\n\
                 {rid}\r\nDTSTART;TZID=Europe/Madrid:20261210T190000\r\n\
                 DTEND;TZID=Europe/Madrid:20261210T210000\r\n{extra}SUMMARY:Moved\r\nEND:VEVENT\r\n"
            ),
        )
    };
    vec![
        (
            "INTERVAL=0",
            master("RRULE:FREQ=WEEKLY;INTERVAL=0\r\n"),
            "RRULE",
        ),
        (
            "an overflowing COUNT",
            master("RRULE:FREQ=DAILY;COUNT=99999999999\r\n"),
            "COUNT",
        ),
        (
            "an unknown RRULE part",
            master("RRULE:FREQ=WEEKLY;X-SKIP=2\r\n"),
            "RRULE",
        ),
        (
            "two RRULEs",
            master("RRULE:FREQ=WEEKLY;COUNT=3\r\nRRULE:FREQ=MONTHLY;COUNT=2\r\n"),
            "more than one repeat rule",
        ),
        (
            "an EXRULE",
            master("RRULE:FREQ=DAILY;COUNT=9\r\nEXRULE:FREQ=WEEKLY\r\n"),
            "EXRULE",
        ),
        (
            "an unreadable EXDATE",
            master("RRULE:FREQ=WEEKLY;COUNT=4\r\nEXDATE;TZID=Europe/Madrid:2026121OT180000\r\n"),
            "EXDATE",
        ),
        (
            "an EXDATE in an unknown zone",
            master("RRULE:FREQ=WEEKLY;COUNT=4\r\nEXDATE;TZID=Mars/Olympus:20261210T180000\r\n"),
            "time zone",
        ),
        (
            "an RDATE period",
            master("RDATE;VALUE=PERIOD:20261204T170000Z/PT5H\r\n"),
            "own length",
        ),
        (
            "an unreadable DTEND",
            ics(
                "REQUEST",
                "u@example.com",
                "0",
                "DTSTART;TZID=Europe/Madrid:20261203T180000\r\nDTEND:tomorrow\r\n",
                "",
                "",
            ),
            "DTEND",
        ),
        (
            "an unreadable DURATION",
            ics(
                "REQUEST",
                "u@example.com",
                "0",
                "DTSTART;TZID=Europe/Madrid:20261203T180000\r\nDURATION:two hours\r\n",
                "",
                "",
            ),
            "DURATION",
        ),
        (
            "both DTEND and DURATION",
            master("DURATION:PT1H\r\n"),
            "DURATION",
        ),
        (
            "an unknown STATUS",
            master("STATUS:POSTPONED\r\n"),
            "STATUS",
        ),
        (
            "a negative SEQUENCE",
            ics("REQUEST", "u@example.com", "-1", TIMES, "", ""),
            "SEQUENCE",
        ),
        (
            "a SEQUENCE out of range",
            ics(
                "REQUEST",
                "u@example.com",
                "184467440737095516160",
                TIMES,
                "",
                "",
            ),
            "SEQUENCE",
        ),
        (
            "an unreadable RECURRENCE-ID",
            instance("RECURRENCE-ID;TZID=Europe/Madrid:next week", ""),
            "RECURRENCE-ID",
        ),
        (
            "RANGE=THISANDFUTURE",
            instance(
                "RECURRENCE-ID;RANGE=THISANDFUTURE;TZID=Europe/Madrid:20261210T180000",
                "",
            ),
            "THISANDFUTURE",
        ),
        (
            "an instance with an unknown STATUS",
            instance(
                "RECURRENCE-ID;TZID=Europe/Madrid:20261210T180000",
                "STATUS:MAYBE-LATER\r\n",
            ),
            "STATUS",
        ),
    ]
}

#[test]
fn an_unrepresentable_request_is_refused_and_the_organizer_told() {
    for (what, calendar, word) in unusable_requests() {
        let s = scenario();
        let out = send(&s, "REQUEST", &calendar);
        let detail = refusal(&out, RefusalReason::UnusableEvent, what);
        assert!(
            detail.contains(word),
            "{what}: the reason names {word}: {detail}"
        );
        assert!(
            !has_event(&s, "u@example.com"),
            "{what}: no event was created"
        );
        assert_eq!(
            reasons(&s),
            vec![RefusalReason::UnusableEvent],
            "{what}: recorded"
        );
        let told = notices(&s, ORGANIZER);
        assert_eq!(
            told.len(),
            1,
            "{what}: the organizer is told once: {told:?}"
        );
        assert!(
            told[0].contains("unusable-event") && told[0].contains(word),
            "{what}: the notice says why in words: {}",
            told[0]
        );
    }
}

#[test]
fn cosmetic_parts_stay_warnings_and_the_event_is_taken() {
    let s = scenario();
    let extra = "X-MICROSOFT-CDO-BUSYSTATUS:BUSY\r\nX-UNKNOWN;X-PARAM=1:whatever\r\n\
                 LOCATION;X-FANCY=yes:Calle Mayor 1\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\n\
                 BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\n";
    let code = created(
        send(
            &s,
            "REQUEST",
            &ics("REQUEST", "c@example.com", "0", TIMES, extra, ""),
        ),
        "alarm, X- property, unknown parameter",
    );
    let ev = block_on(s.pipeline.event(s.scope(), &code)).expect("event");
    assert_eq!(
        ev.latest().recurrence().and_then(|r| r.recurrence_rule()),
        Some(&RecurrenceRule::parse("FREQ=WEEKLY;COUNT=4").expect("rule")),
        "the series is kept whole"
    );
    assert!(reasons(&s).is_empty());
}

#[test]
fn a_stranger_sending_an_unrepresentable_event_hears_nothing() {
    let s = scenario();
    let calendar = ics(
        "REQUEST",
        "x@evil.example",
        "0",
        TIMES,
        "RRULE:FREQ=WEEKLY;INTERVAL=0\r\n",
        "",
    )
    .replace(ORGANIZER, STRANGER);
    let out = receive(
        &s,
        STRANGER,
        &message(&format!("From: {STRANGER}\r\n"), "REQUEST", &calendar),
    );
    refusal(
        &out,
        RefusalReason::UnusableEvent,
        "a stranger's unusable event",
    );
    assert_eq!(reasons(&s), vec![RefusalReason::UnusableEvent]);
    assert!(
        notices(&s, STRANGER).is_empty(),
        "no backscatter to a stranger"
    );
    assert!(notices(&s, ORGANIZER).is_empty(), "nor to anyone else");
}

#[test]
fn an_unrepresentable_update_leaves_the_event_and_its_recipients_alone() {
    let s = scenario();
    let mut ev = CalendarEvent::launch("series@example.com");
    ev.rrule = Some("FREQ=WEEKLY;COUNT=4".into());
    let code = created(
        block_on(s.organizer_sends(&ev)).expect("sent"),
        "the series",
    );
    let invited = block_on(s.pipeline.invite(
        s.scope(),
        &code,
        Recipient::new(EmailAddress::parse(INVITEE).expect("address")),
        InvitationSource::Api,
    ))
    .expect("invite");
    assert!(matches!(invited, Outcome::Invited(_)), "{invited:?}");
    block_on(s.deliver()).expect("delivered");
    let before = block_on(s.pipeline.event(s.scope(), &code)).expect("event");

    let update = ics(
        "REQUEST",
        &ev.uid,
        "1",
        TIMES,
        "RRULE:FREQ=WEEKLY;COUNT=4294967296\r\n",
        "",
    );
    let out = send(&s, "REQUEST", &update);
    refusal(
        &out,
        RefusalReason::UnusableEvent,
        "an update with an overflowing COUNT",
    );
    let told = notices(&s, ORGANIZER);
    assert!(
        told.last().is_some_and(|n| n.contains("COUNT")),
        "the organizer is told: {told:?}"
    );
    let after = block_on(s.pipeline.event(s.scope(), &code)).expect("event");
    assert_eq!(after.latest(), before.latest(), "the series is unchanged");
    assert_eq!(
        after.into_parts().organizer_sequence,
        before.into_parts().organizer_sequence
    );
    assert_eq!(s.calendar_inbox(INVITEE).len(), 1, "no update went out");
}

#[test]
fn a_cancellation_naming_an_unreadable_occurrence_cancels_nothing() {
    let s = scenario();
    let mut ev = CalendarEvent::launch("cancel@example.com");
    ev.rrule = Some("FREQ=WEEKLY;COUNT=4".into());
    created(
        block_on(s.organizer_sends(&ev)).expect("sent"),
        "the series",
    );
    // No master: only the occurrence, whose RECURRENCE-ID cannot be read.
    // Taking the rest would cancel the whole series.
    let cancel = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//Calendar//EN\r\nMETHOD:CANCEL\r\n\
                  BEGIN:VEVENT\r\nUID:cancel@example.com\r\nSEQUENCE:1\r\nDTSTAMP:20261122T100000Z\r\n\
                  RECURRENCE-ID;TZID=Europe/Madrid:2026-12-10 18:00\r\n\
                  ORGANIZER:mailto:ana@example.com\r\nSTATUS:CANCELLED\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let out = send(&s, "CANCEL", cancel);
    let detail = refusal(
        &out,
        RefusalReason::UnusableEvent,
        "an unreadable cancelled occurrence",
    );
    assert!(detail.contains("RECURRENCE-ID"), "{detail}");
    let stored = block_on(s.pipeline.store().event_by_uid(s.scope(), &ev.uid))
        .expect("read")
        .expect("the event");
    assert!(!stored.cancelled(), "the series is not cancelled");
    assert!(
        notices(&s, ORGANIZER)
            .iter()
            .any(|n| n.contains("RECURRENCE-ID")),
        "the organizer is told"
    );
}

#[test]
fn ambiguous_mail_is_refused_before_any_policy_decision() {
    let calendar = ics("REQUEST", "amb@example.com", "0", TIMES, "", "");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "two From fields",
            message(
                &format!("From: {STRANGER}\r\nFrom: {ORGANIZER}\r\n"),
                "REQUEST",
                &calendar,
            ),
            "From",
        ),
        (
            "one From with two authors",
            message(
                &format!("From: {STRANGER}, {ORGANIZER}\r\n"),
                "REQUEST",
                &calendar,
            ),
            "authors",
        ),
        (
            "two Sender fields",
            message(
                &format!("From: {ORGANIZER}\r\nSender: {ORGANIZER}\r\nSender: {STRANGER}\r\n"),
                "REQUEST",
                &calendar,
            ),
            "Sender",
        ),
        (
            "two top-level Content-Type fields",
            message(
                &format!("From: {ORGANIZER}\r\nContent-Type: text/plain\r\n"),
                "REQUEST",
                &calendar,
            ),
            "Content-Type",
        ),
        (
            "two Message-ID fields",
            message(
                &format!("From: {ORGANIZER}\r\nMessage-ID: <other@client.example>\r\n"),
                "REQUEST",
                &calendar,
            ),
            "Message-ID",
        ),
        (
            "a calendar part with two Content-Transfer-Encoding fields",
            {
                let mut m = message(&format!("From: {ORGANIZER}\r\n"), "REQUEST", &calendar);
                let text = String::from_utf8(m).expect("utf-8").replacen(
                    "Content-Transfer-Encoding: 8bit\r\n",
                    "Content-Transfer-Encoding: 8bit\r\nContent-Transfer-Encoding: base64\r\n",
                    1,
                );
                m = text.into_bytes();
                m
            },
            "Content-Transfer-Encoding",
        ),
    ];
    for (what, raw, word) in cases {
        let s = scenario();
        let out = receive(&s, ORGANIZER, &raw);
        let detail = refusal(&out, RefusalReason::AmbiguousMessage, what);
        assert!(
            detail.contains(word),
            "{what}: the reason names {word}: {detail}"
        );
        assert!(
            !has_event(&s, "amb@example.com"),
            "{what}: nothing was created"
        );
        let records = block_on(s.pipeline.refusals(s.owner.id, None)).expect("refusals");
        assert_eq!(records.len(), 1, "{what}: recorded");
        assert_eq!(records[0].refusal.reason, RefusalReason::AmbiguousMessage);
        assert_eq!(records[0].organizer, None, "{what}: no From was acted on");
        assert!(notices(&s, ORGANIZER).is_empty(), "{what}: nobody is told");
        assert!(notices(&s, STRANGER).is_empty(), "{what}: nobody is told");
    }
}

#[test]
fn a_repeated_field_calinvite_does_not_act_on_is_only_noted() {
    let s = scenario();
    let calendar = ics("REQUEST", "to@example.com", "0", TIMES, "", "");
    let raw = message(
        &format!("From: {ORGANIZER}\r\nTo: someone@example.org\r\n"),
        "REQUEST",
        &calendar,
    );
    let parsed = calinvite_core::inbound::parse_inbound(
        &raw,
        &InboundEnvelope::default(),
        &AuthVerdict::default(),
        &calinvite_core::inbound::InboundLimits::default(),
    );
    assert!(
        parsed.warnings.iter().any(|w| w.contains("2 To fields")),
        "{:?}",
        parsed.warnings
    );
    created(receive(&s, ORGANIZER, &raw), "two To fields");
}

/// RRULEs calinvite cannot represent: each is one supported rule with one
/// part made out of range or unsupported.
fn unrepresentable_rule() -> impl Strategy<Value = String> {
    let broken = prop_oneof![
        Just("INTERVAL=0".to_owned()),
        Just("COUNT=0".to_owned()),
        (4_294_967_296u64..u64::MAX).prop_map(|n| format!("COUNT={n}")),
        (4_294_967_296u64..u64::MAX).prop_map(|n| format!("INTERVAL={n}")),
        (13u32..100).prop_map(|m| format!("BYMONTH={m}")),
        (24u32..100).prop_map(|h| format!("BYHOUR={h}")),
        (32i32..400).prop_map(|d| format!("BYMONTHDAY={d}")),
        (54i32..100).prop_map(|n| format!("BYDAY={n}MO")),
        "[A-Z]{2}"
            .prop_filter("not a weekday", |d| {
                !["MO", "TU", "WE", "TH", "FR", "SA", "SU"].contains(&d.as_str())
            })
            .prop_map(|d| format!("BYDAY={d}")),
        "X-[A-Z]{1,6}".prop_map(|p| format!("{p}=1")),
        Just("RSCALE=GREGORIAN".to_owned()),
        Just("UNTIL=20270101T000000Z;COUNT=3".to_owned()),
        Just("UNTIL=sometime".to_owned()),
        Just("WKST=XX".to_owned()),
    ];
    (
        prop::sample::select(vec!["DAILY", "WEEKLY", "MONTHLY"]),
        broken,
    )
        .prop_map(|(f, b)| format!("FREQ={f};{b}"))
}

/// RRULEs calinvite represents.
fn representable_rule() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]),
        1u32..5,
        prop_oneof![
            (1u32..30).prop_map(|c| format!(";COUNT={c}")),
            Just(";UNTIL=20271231T230000Z".to_owned()),
        ],
        prop::sample::subsequence(vec!["MO", "TU", "WE", "TH", "FR"], 0..3),
    )
        .prop_map(|(f, i, end, days)| {
            let by = if f == "WEEKLY" && !days.is_empty() {
                format!(";BYDAY={}", days.join(","))
            } else {
                String::new()
            };
            format!("FREQ={f};INTERVAL={i}{end}{by}")
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any recurrence calinvite cannot represent is refused, never narrowed
    /// to a single meeting.
    #[test]
    fn an_unrepresentable_recurrence_is_refused(rule in unrepresentable_rule()) {
        let s = scenario();
        let calendar = ics("REQUEST", "p@example.com", "0", TIMES, &format!("RRULE:{rule}\r\n"), "");
        let out = send(&s, "REQUEST", &calendar);
        prop_assert!(
            matches!(&out, Outcome::Refused(r) if r.reason == RefusalReason::UnusableEvent),
            "{rule}: {out:?}"
        );
        prop_assert!(!has_event(&s, "p@example.com"));
        prop_assert_eq!(notices(&s, ORGANIZER).len(), 1);
    }

    /// A recurrence calinvite represents is taken with the same rule.
    #[test]
    fn a_representable_recurrence_is_taken_whole(rule in representable_rule()) {
        let s = scenario();
        let calendar = ics("REQUEST", "p@example.com", "0", TIMES, &format!("RRULE:{rule}\r\n"), "");
        let out = send(&s, "REQUEST", &calendar);
        let Outcome::EventCreated(code) = out else {
            return Err(TestCaseError::fail(format!("{rule}: {out:?}")));
        };
        let ev = block_on(s.pipeline.event(s.scope(), &code)).expect("event");
        prop_assert_eq!(
            ev.latest().recurrence().and_then(|r| r.recurrence_rule()),
            Some(&RecurrenceRule::parse(&rule).expect("the rule parses"))
        );
    }
}

/// The fuzz seeds for these cases (`fuzz/seeds/inbound/unusable-*`,
/// `ambiguous-*`) are refused as they say, through the whole pipeline.
#[test]
fn the_fuzz_seeds_are_refused_as_named() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/inbound");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("the seed folder") {
        let path = entry.expect("an entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let reason = if name.starts_with("unusable-") {
            RefusalReason::UnusableEvent
        } else if name.starts_with("ambiguous-") {
            RefusalReason::AmbiguousMessage
        } else {
            continue;
        };
        let s = scenario();
        if name.contains("cancel") {
            let mut ev = CalendarEvent::launch("seed@example.com");
            ev.rrule = Some("FREQ=WEEKLY;COUNT=4".into());
            created(block_on(s.organizer_sends(&ev)).expect("sent"), name);
        }
        let raw = std::fs::read(&path).expect("a seed");
        refusal(&receive(&s, ORGANIZER, &raw), reason, name);
        seen += 1;
    }
    assert!(seen >= 10, "the seeds are there ({seen})");
}
