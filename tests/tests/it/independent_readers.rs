//! calinvite's output, read by implementations that are not calinvite's:
//! Python's `email` package (policy.default) and the `icalendar` library.
//! What went in must come out, with no parser defects, whatever the text.

#![allow(clippy::unwrap_used)] // a test fails loudly on the first unexpected error

use std::process::Command;

use calinvite_core::{
    ComposeOptions, Composer, EmailAddress, Event, EventCode, EventRevision, InstanceOverride,
    InvitationToken, InvitationUid, MessageKind, OccurrenceId, Recipient, Recurrence,
    RecurrenceRule, Schedule, SenderIdentity, Sequence, TimeZone, WebUrl, ZonedDateTime,
};
use calinvite_tests::{here, python};
use chrono::{NaiveDate, TimeZone as _, Utc};
use serde_json::Value;

fn at(zone: TimeZone, y: i32, m: u32, d: u32, h: u32, min: u32) -> ZonedDateTime {
    ZonedDateTime::new(
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, min, 0)
            .unwrap(),
        zone,
    )
    .unwrap()
}

fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

struct Case {
    name: &'static str,
    summary: &'static str,
    description: &'static str,
    location: &'static str,
    organizer_name: &'static str,
    recipient_name: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "spanish-japanese-emoji",
        summary: "Invitación: Fiesta de lanzamiento — 東京 🎉",
        description: "Únete a nosotros.\nHabrá música, comida; y más.\n新製品の発表会にご招待します 🍣",
        location: "Sala Principal, Piso 3; 123 Calle Mayor — Nueva York",
        organizer_name: "Equipo de Eventos",
        recipient_name: "佐藤 花子",
    },
    Case {
        name: "hostile",
        summary: "Hi\r\nBcc: victim@example.org\r\n\r\n--boundary\u{0}",
        description: "line one\r\nEND:VEVENT\r\nBEGIN:VEVENT\nATTENDEE:mailto:x@example.org\\n\\,;",
        location: "\";:,\\ <script>alert(1)</script>",
        organizer_name: "Evil\r\nX-Injected: yes",
        recipient_name: "\"Quoted\" Name, Jr. \\ (comment) <x@y>",
    },
    Case {
        name: "long-rtl-combining",
        summary: "שלום עולם مرحبا بالعالم e\u{301}e\u{301} 👩‍👩‍👧‍👦 very long title that keeps going and going well past seventy-five octets",
        description: "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ",
        location: "Zürich",
        organizer_name: "Jörg Ødegård",
        recipient_name: "Ana Núñez",
    },
];

fn build(case: &Case, recurring: bool) -> (EventRevision, Recipient, InvitationUid) {
    let zone = TimeZone::parse("W. Europe Standard Time").unwrap();
    let code = EventCode::parse("k3m9qxv2c4d8fjr7").unwrap();
    let mut b = Event::builder(code.clone())
        .summary(case.summary)
        .description(case.description)
        .location(case.location)
        .url("https://events.example.com/e/k3m9qxv2c4d8fjr7?x=1,2")
        .schedule(
            Schedule::timed(at(zone, 2026, 12, 7, 9, 30), at(zone, 2026, 12, 7, 10, 45)).unwrap(),
        )
        .organizer(addr("lea@example.com"), Some(case.organizer_name));
    if recurring {
        b = b
            .recurrence(
                Recurrence::rule(
                    RecurrenceRule::parse("FREQ=WEEKLY;BYDAY=MO;UNTIL=20270301T000000Z").unwrap(),
                )
                .with_exceptions([OccurrenceId::at(&at(zone, 2026, 12, 28, 9, 30))]),
            )
            .override_instance(InstanceOverride::new(
                OccurrenceId::at(&at(zone, 2026, 12, 14, 9, 30)),
                Schedule::timed(
                    at(zone, 2026, 12, 14, 11, 0),
                    at(zone, 2026, 12, 14, 11, 15),
                )
                .unwrap(),
            ));
    }
    let event = b.build().unwrap();
    let recipient = Recipient::new(addr("Recipient@Example.org")).with_name(case.recipient_name);
    let uid = InvitationUid::new(
        code,
        InvitationToken::parse("0123456789abcdefghjkmnpqrs").unwrap(),
        "events.example.com",
    )
    .unwrap();
    (EventRevision::new(event, Sequence::new(4)), recipient, uid)
}

fn read_all(paths: &[std::path::PathBuf]) -> Vec<Value> {
    let out = Command::new(python())
        .arg(here("py/read_message.py"))
        .args(paths)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "reader failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn independent_readers_get_back_what_went_in() {
    let dir = std::env::temp_dir().join(format!("calinvite-interop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let composer = Composer::new(
        SenderIdentity::new(addr("rsvp@events.example.com"), Some("Example Events")),
        ComposeOptions::new()
            .links_base(WebUrl::parse("https://events.example.com").unwrap())
            .list_unsubscribe(true),
    );
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap();
    let mut expectations = Vec::new();
    let mut paths = Vec::new();
    for case in CASES {
        for (kind_name, recurring, kind) in [
            ("request", false, MessageKind::Invitation),
            ("recurring", true, MessageKind::Update),
            ("cancel", true, MessageKind::Cancellation),
        ] {
            let (revision, recipient, uid) = build(case, recurring);
            let message = composer
                .compose(kind, &revision, &recipient, &uid, now)
                .unwrap();
            let path = dir.join(format!("{}-{kind_name}.eml", case.name));
            std::fs::write(&path, message.bytes()).unwrap();
            paths.push(path);
            expectations.push((case, kind_name, revision, recipient, uid));
        }
    }
    let results = read_all(&paths);
    for (r, (case, kind_name, revision, recipient, uid)) in results.iter().zip(&expectations) {
        let ctx = format!("{}-{kind_name}", case.name);
        let event = revision.event();
        assert_eq!(r["ascii"], true, "{ctx}");
        assert_eq!(r["crlf_only"], true, "{ctx}");
        assert!(
            r["max_line"].as_u64().unwrap() <= 78,
            "{ctx}: line of {}",
            r["max_line"]
        );
        assert_eq!(r["defects"], Value::Array(vec![]), "{ctx}: parser defects");
        let names: Vec<&str> = r["header_names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "From",
                "To",
                "Subject",
                "Date",
                "Message-ID",
                "MIME-Version",
                "List-Unsubscribe",
                "List-Unsubscribe-Post",
                "Content-Type"
            ],
            "{ctx}: no input may add or remove a header"
        );
        assert_eq!(
            r["tree"],
            serde_json::json!([
                "multipart/mixed",
                "multipart/alternative",
                "text/plain",
                "text/html",
                "text/calendar",
                "application/ics"
            ]),
            "{ctx}"
        );
        let cancel = *kind_name == "cancel";
        let method = if cancel { "CANCEL" } else { "REQUEST" };
        assert_eq!(r["ct_method"], method, "{ctx}");
        assert_eq!(r["method"], method, "{ctx}");
        assert_eq!(r["ct_charset"], "utf-8", "{ctx}");
        assert_eq!(r["attachment_name"], "invite.ics", "{ctx}");
        assert_eq!(r["attachment_same"], true, "{ctx}");
        assert_eq!(r["ics_crlf_only"], true, "{ctx}");
        assert!(r["ics_max_line"].as_u64().unwrap() <= 75, "{ctx}");
        assert_eq!(r["ics_lines_split_utf8"], 0, "{ctx}");
        assert_eq!(r["tzids"], serde_json::json!(["Europe/Berlin"]), "{ctx}");

        // Headers decode to the normalised names.
        let organizer = event.organizer().name().unwrap().as_str();
        assert_eq!(
            r["from"],
            serde_json::json!([organizer, "rsvp@events.example.com"]),
            "{ctx}"
        );
        assert_eq!(
            r["to"],
            serde_json::json!([recipient.name().unwrap().as_str(), "recipient@example.org"]),
            "{ctx}"
        );
        // The subject is one line: each run of whitespace one space.
        let one_line = event
            .summary()
            .as_str()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            r["subject"].as_str().unwrap().contains(&one_line),
            "{ctx}: {}",
            r["subject"]
        );

        let events = r["events"].as_array().unwrap();
        let expected_components = if *kind_name == "recurring" { 2 } else { 1 };
        assert_eq!(
            events.len(),
            expected_components,
            "{ctx}: no input may add a VEVENT"
        );
        let e = &events[0];
        assert_eq!(e["UID"], uid.to_string(), "{ctx}");
        assert_eq!(e["SEQUENCE"], "4", "{ctx}");
        assert_eq!(e["SUMMARY"], event.summary().as_str(), "{ctx}");
        assert_eq!(
            e["DESCRIPTION"],
            event.description().unwrap().as_str(),
            "{ctx}"
        );
        assert_eq!(e["LOCATION"], event.location().unwrap().as_str(), "{ctx}");
        assert_eq!(
            e["URL"], "https://events.example.com/e/k3m9qxv2c4d8fjr7?x=1,2",
            "{ctx}"
        );
        assert_eq!(
            e["STATUS"],
            if cancel { "CANCELLED" } else { "CONFIRMED" },
            "{ctx}"
        );
        assert_eq!(
            e["DTSTART"],
            serde_json::json!(["20261207T093000", "Europe/Berlin"]),
            "{ctx}"
        );
        assert_eq!(
            e["DTEND"],
            serde_json::json!(["20261207T104500", "Europe/Berlin"]),
            "{ctx}"
        );
        assert_eq!(e["DTSTAMP"], "20261122T090000Z", "{ctx}");
        assert_eq!(
            e["ORGANIZER"],
            serde_json::json!(["mailto:rsvp@events.example.com", {"CN": organizer}]),
            "{ctx}"
        );
        let attendees = e["ATTENDEE"].as_array().unwrap();
        assert_eq!(attendees.len(), 1, "{ctx}: exactly one attendee");
        assert_eq!(attendees[0][0], "mailto:recipient@example.org", "{ctx}");
        let params = &attendees[0][1];
        assert_eq!(params["CN"], recipient.name().unwrap().as_str(), "{ctx}");
        assert_eq!(params["ROLE"], "REQ-PARTICIPANT", "{ctx}");
        if cancel {
            assert!(
                params.get("RSVP").is_none(),
                "{ctx}: no RSVP on a cancellation"
            );
        } else {
            assert_eq!(params["RSVP"], "TRUE", "{ctx}");
            assert_eq!(params["PARTSTAT"], "NEEDS-ACTION", "{ctx}");
        }
        if recurring_kind(kind_name) {
            assert_eq!(
                e["RRULE"], "FREQ=WEEKLY;UNTIL=20270301T000000Z;BYDAY=MO",
                "{ctx}"
            );
            assert_eq!(e["EXDATE"], serde_json::json!(["20261228T093000"]), "{ctx}");
        }
        if *kind_name == "recurring" {
            let o = &events[1];
            assert_eq!(
                o["RECURRENCE-ID"],
                serde_json::json!(["20261214T093000", "Europe/Berlin"]),
                "{ctx}"
            );
            assert_eq!(
                o["DTSTART"],
                serde_json::json!(["20261214T110000", "Europe/Berlin"]),
                "{ctx}"
            );
            assert_eq!(o["UID"], uid.to_string(), "{ctx}");
        }

        // The readable parts carry the event, in any script.
        let text = r["text"].as_str().unwrap();
        assert!(
            text.contains(event.location().unwrap().as_str()),
            "{ctx}: location in text"
        );
        for line in event.description().unwrap().as_str().lines() {
            assert!(
                text.contains(line),
                "{ctx}: description line {line:?} in text"
            );
        }
        if !cancel {
            assert!(
                text.contains("https://events.example.com/rsvp/0123456789abcdefghjkmnpqrs/accept"),
                "{ctx}: web RSVP link"
            );
        }
        let html = r["html"].as_str().unwrap();
        assert!(!html.contains("<script>"), "{ctx}: text is escaped in HTML");
    }
    std::fs::remove_dir_all(&dir).ok();
}

fn recurring_kind(kind: &str) -> bool {
    kind == "recurring" || kind == "cancel"
}
