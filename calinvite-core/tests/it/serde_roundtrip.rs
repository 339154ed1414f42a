//! The engine's state through serde (feature `serde`), as a store keeps it.
//!
//! 1. Round trip: every state type reads back equal to what was written —
//!    arbitrary events (timed and all-day, IANA, Windows and UTC zones, rules
//!    with COUNT and UNTIL, extra dates, exceptions, overridden instances,
//!    URLs, hostile Unicode text), and invitations, deliveries, pending
//!    changes, fan-outs, history, refusals, tenants in all their variants.
//! 2. The stored form is pinned: field and variant names do not follow Rust
//!    renames silently.
//! 3. What reads back is checked again by the types' own constructors: an
//!    invalid stored value is an error that names the problem.
//!
//! Built only with the feature: `cargo test -p calinvite-core --features
//! serde`; `cargo test --workspace` turns it on through calinvite-tests.
#![cfg(feature = "serde")]
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
use crate::support;

use std::fmt::Debug;

use calinvite_core::lifecycle::{
    AllowEntry, AuthPolicy, DeliveryKey, DeliveryState, DomainOwner, HistoryEntry, HistoryKind,
    Invitation, InvitationSource, LateAnswers, OrganizerAccount, OrganizerId, OwnerId,
    PendingChange, PendingKind, PendingState, PlannedMessage, Refusal, RefusalReason,
    RefusalRecord, Scope, Settings, StoredEvent, Suppression, SuppressionReason,
};
use calinvite_core::spi::{
    AnswerMark, Delivery, EventParts, FanOut, FanOutAudience, InvitationParts, Payload, QueueState,
};
use calinvite_core::targeting::UpdateAudience;
use calinvite_core::{
    EmailAddress, Event, EventCode, EventStatus, IdempotencyKey, InstanceOverride, InvitationToken,
    InvitationUid, LanguageTag, Mailbox, MessageKind, Method, Name, OccurrenceId,
    ParticipationStatus, Recipient, Recurrence, RecurrenceRule, Schedule, Sequence, SequentialIds,
    Text, TimeZone, WebUrl, ZonedDateTime,
};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use support::strategies::{ANY_STATUS, address, event_spec, nasty_text};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Writes `value` as JSON, reads it back, and checks it is the same value and
/// that writing it again gives the same text. Returns the JSON.
fn round_trip<T>(value: &T) -> Value
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let text = serde_json::to_string(value).unwrap();
    let back: T =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text} does not read back: {e}"));
    assert_eq!(&back, value, "{text}");
    assert_eq!(serde_json::to_string(&back).unwrap(), text);
    serde_json::from_str(&text).unwrap()
}

/// The error reading `json` as a `T`, which must fail.
fn refused<T: DeserializeOwned + Debug>(json: &Value) -> String {
    match serde_json::from_value::<T>(json.clone()) {
        Ok(v) => panic!("{json} was accepted as {v:?}"),
        Err(e) => e.to_string(),
    }
}

fn assert_mentions(message: &str, words: &[&str]) {
    for w in words {
        assert!(message.contains(w), "{message:?} does not mention {w:?}");
    }
}

fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

fn code() -> EventCode {
    EventCode::parse("7k3m9qxv2c4d8fjr").unwrap()
}

fn token(n: u64) -> InvitationToken {
    InvitationToken::generate(&SequentialIds::new(n))
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn local(s: &str) -> NaiveDateTime {
    s.parse().unwrap()
}

fn berlin() -> TimeZone {
    TimeZone::parse("Europe/Berlin").unwrap()
}

fn scope() -> Scope {
    Scope {
        owner: OwnerId(1),
        organizer: OrganizerId(7),
    }
}

/// A weekly event in Berlin with an exception, a moved occurrence, a URL
/// and a description with line breaks and non-ASCII text.
fn weekly_event() -> Event {
    let zoned = |s: &str| ZonedDateTime::new(local(s), berlin()).unwrap();
    let schedule =
        Schedule::timed(zoned("2026-12-03T18:00:00"), zoned("2026-12-03T19:30:00")).unwrap();
    let moved = Schedule::timed(
        zoned("2026-12-17T19:00:00"),
        ZonedDateTime::utc(at("2026-12-17T19:30:00Z")),
    )
    .unwrap();
    Event::builder(code())
        .summary("Café Führung 🎉")
        .description("Zeile eins\nZeile zwei: «Grüße»")
        .location("Kantstraße 1, Berlin")
        .url("https://events.example.org/7k3m")
        .schedule(schedule)
        .recurrence(
            Recurrence::rule(RecurrenceRule::parse("FREQ=WEEKLY;COUNT=6;BYDAY=TH").unwrap())
                .with_exceptions([OccurrenceId::At(at("2026-12-24T17:00:00Z"))]),
        )
        .override_instance(
            InstanceOverride::new(OccurrenceId::At(at("2026-12-17T17:00:00Z")), moved)
                .location("Online"),
        )
        .organizer(addr("ana@example.org"), Some("Ana Núñez"))
        .build()
        .unwrap()
}

/// A two-day all-day event, repeating yearly until a date, with an extra day.
fn all_day_event() -> Event {
    Event::builder(code())
        .summary("Summit")
        .schedule(Schedule::all_day(day("2026-06-01"), day("2026-06-02")).unwrap())
        .recurrence(
            Recurrence::rule(RecurrenceRule::parse("FREQ=YEARLY;UNTIL=20300601").unwrap())
                .with_dates([OccurrenceId::On(day("2026-09-01"))]),
        )
        .organizer(addr("ana@example.org"), None)
        .status(EventStatus::Tentative)
        .build()
        .unwrap()
}

fn every_message_kind() -> Vec<MessageKind> {
    vec![
        MessageKind::Invitation,
        MessageKind::Update,
        MessageKind::Cancellation,
        MessageKind::InstanceCancellation(OccurrenceId::At(at("2026-12-10T17:00:00Z"))),
        MessageKind::InstanceCancellation(OccurrenceId::On(day("2026-06-01"))),
    ]
}

fn every_refusal_reason() -> Vec<RefusalReason> {
    use RefusalReason::*;
    vec![
        UnknownMailbox,
        NotAnOrganizer,
        AuthenticationFailed,
        OrganizerMismatch,
        StaleOrganizerMessage,
        UnknownEvent,
        UnusableEvent,
        EventCancelled,
        EventEnded,
        CancellationPending,
        Suppressed,
        OwnAddress,
        Unsendable,
        UnknownInvitation,
        WrongTenant,
        StaleReply,
        NoAnswer,
        UnknownBounce,
        NotActionable,
        Unreadable,
        AmbiguousMessage,
    ]
}

fn every_delivery_state() -> Vec<DeliveryState> {
    vec![
        DeliveryState::Queued,
        DeliveryState::Sent,
        DeliveryState::Delivered,
        DeliveryState::SoftBounced,
        DeliveryState::HardBounced,
    ]
}

fn invitation() -> Invitation {
    InvitationParts {
        scope: scope(),
        code: code(),
        token: token(1),
        recipient: Recipient::new(addr("jorg@example.org"))
            .with_name("Jörg \"JJ\" Müller")
            .with_language(LanguageTag::parse("de-CH").unwrap()),
        source: InvitationSource::Batch("Spring list".into()),
        created_at: at("2026-11-01T09:00:00Z"),
        sent_at: Some(at("2026-11-01T09:00:05.250Z")),
        sequence_held: Some(Sequence::new(u64::MAX)),
        cancelled: false,
        status: Some(ParticipationStatus::Accepted),
        answered_at: Some(at("2026-11-02T10:00:00Z")),
        instance_answers: vec![
            (
                OccurrenceId::At(at("2026-12-10T17:00:00Z")),
                ParticipationStatus::Declined,
            ),
            (
                OccurrenceId::On(day("2026-12-17")),
                ParticipationStatus::Tentative,
            ),
        ],
        marks: vec![
            AnswerMark::new(
                None,
                None,
                Sequence::new(3),
                Some(at("2026-11-02T10:00:00Z")),
            ),
            AnswerMark::new(
                Some(addr("assistant@example.org")),
                Some(OccurrenceId::At(at("2026-12-10T17:00:00Z"))),
                Sequence::INITIAL,
                None,
            ),
        ],
        delivery: DeliveryState::Delivered,
        copies: 2,
        version: 9,
    }
    .into()
}

// ---------------------------------------------------------------------------
// 1. Round trips
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(
                "tests/it/serde_roundtrip.proptest-regressions",
            ),
        )),
        ..ProptestConfig::default()
    })]

    /// Any event the builder accepts reads back equal, through the builder.
    #[test]
    fn events_round_trip(
        spec in event_spec(ANY_STATUS),
        organizer in address(),
        seed in any::<u64>(),
    ) {
        let code = EventCode::generate(&SequentialIds::new(seed));
        let event = spec
            .build(code, organizer, spec.organizer_name.as_deref())
            .expect("generated events are valid");
        let text = serde_json::to_string(&event).unwrap();
        let back: Event = serde_json::from_str(&text)
            .map_err(|e| TestCaseError::fail(format!("{text} does not read back: {e}")))?;
        prop_assert_eq!(&back, &event);
        prop_assert_eq!(serde_json::to_string(&back).unwrap(), text);
        // Through a JSON document as well (what a JSONB column gives back).
        let value = serde_json::to_value(&event).unwrap();
        prop_assert_eq!(serde_json::from_value::<Event>(value).unwrap(), event);
    }

    /// A stored event with one string damaged (any text, a near miss of a
    /// date, zone, rule or address) reads back as a valid event or is an
    /// error: never a panic, never a value the builder would refuse.
    #[test]
    fn damaged_events_are_refused_or_valid(
        spec in event_spec(ANY_STATUS),
        organizer in address(),
        pick in any::<proptest::sample::Index>(),
        damage in prop_oneof![
            nasty_text(),
            proptest::sample::select(NEAR_MISSES).prop_map(str::to_string),
        ],
    ) {
        let code = EventCode::generate(&SequentialIds::new(1));
        let event = spec
            .build(code, organizer, spec.organizer_name.as_deref())
            .expect("generated events are valid");
        let mut value = serde_json::to_value(&event).unwrap();
        let mut paths = Vec::new();
        string_paths(&value, String::new(), &mut paths);
        let path = &paths[pick.index(paths.len())];
        *value.pointer_mut(path).unwrap() = Value::String(damage);
        if let Ok(back) = serde_json::from_value::<Event>(value) {
            let again = back.to_builder().build();
            prop_assert_eq!(again.as_ref(), Ok(&back));
            let text = serde_json::to_string(&back).unwrap();
            prop_assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), back);
        }
    }
}

/// Strings that are almost what some field of an event holds.
const NEAR_MISSES: &[&str] = &[
    "",
    " ",
    "2026-02-30",
    "2026-13-01T00:00:00",
    "2026-03-29T02:30:00",
    "2026-12-03T18:00:00Z",
    "2026-12-03T18:00:00+01:00",
    "+275760-09-13",
    "-0001-01-01T00:00:00Z",
    "Etc/GMT+25",
    "W. Europe Standard Time",
    "(UTC+01:00) Amsterdam, Berlin",
    "europe/berlin",
    "FREQ=",
    "FREQ=DAILY;UNTIL=99991231T235959Z",
    "FREQ=YEARLY;BYDAY=-53MO;BYSETPOS=-366",
    "FREQ=DAILY;COUNT=4294967295",
    "MAILTO:X%40Y.Z",
    "a@b",
    "a@-b.org",
    "7K3M9QXV2C4D8FJR",
    "7k3m9qxv2c4d8fju",
    "http://",
    "https://x",
    "all-day",
    "timed",
    "CONFIRMED",
];

/// JSON pointers to every string in `value`.
fn string_paths(value: &Value, path: String, out: &mut Vec<String>) {
    match value {
        Value::String(_) => out.push(path),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                string_paths(item, format!("{path}/{i}"), out);
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                let key = key.replace('~', "~0").replace('/', "~1");
                string_paths(item, format!("{path}/{key}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn fixed_events_round_trip() {
    round_trip(&weekly_event());
    round_trip(&all_day_event());
    // The pieces on their own.
    let e = weekly_event();
    round_trip(e.schedule());
    round_trip(e.recurrence().unwrap());
    round_trip(&e.overrides()[0]);
    round_trip(e.organizer());
    round_trip(&Mailbox::new(addr("bob@example.org")));
    round_trip(&e.schedule().start_zone().unwrap());
    round_trip(&TimeZone::UTC);
    round_trip(&Recurrence::default());
    round_trip(&Text::new("a\nb ✓"));
    round_trip(&Name::new("Ana").unwrap());
    round_trip(&WebUrl::parse("http://x.example/a?b=c").unwrap());
    let uid = InvitationUid::new(code(), token(3), "events.example.com").unwrap();
    assert_eq!(round_trip(&uid), json!(uid.to_string()));
}

#[test]
fn invitations_round_trip() {
    let full = invitation();
    round_trip(&full);
    for source in [
        InvitationSource::Api,
        InvitationSource::LandingPage,
        InvitationSource::CallToAction,
    ] {
        for delivery in every_delivery_state() {
            let bare: Invitation = InvitationParts {
                source: source.clone(),
                recipient: Recipient::new(addr("kim@example.org")),
                sent_at: None,
                sequence_held: None,
                cancelled: true,
                status: None,
                answered_at: None,
                instance_answers: Vec::new(),
                marks: Vec::new(),
                delivery,
                ..invitation().into_parts()
            }
            .into();
            round_trip(&bare);
        }
    }
}

#[test]
fn deliveries_round_trip_with_both_payloads_and_every_message_kind() {
    let states = [
        QueueState::Queued,
        QueueState::Leased(at("2026-11-01T09:05:00Z")),
        QueueState::Sent(at("2026-11-01T09:00:01.5Z")),
        QueueState::Failed("550 5.1.1 no such user".into()),
    ];
    for (i, kind) in every_message_kind().into_iter().enumerate() {
        let method = if matches!(kind, MessageKind::Invitation | MessageKind::Update) {
            Method::Request
        } else {
            Method::Cancel
        };
        let sequence = Sequence::new(i as u64);
        let copy = i as u32 % 2;
        let delivery = Delivery {
            key: DeliveryKey::Invitation(IdempotencyKey::new(token(1), sequence, method, copy)),
            owner: OwnerId(1),
            payload: Payload::Invitation {
                code: code(),
                token: token(1),
                kind,
                sequence,
                copy,
            },
            attempts: i as u32,
            due: at("2026-11-01T09:00:00Z"),
            state: states[i % states.len()].clone(),
            last_error: (i % 2 == 1).then(|| "421 try later".into()),
            group: (i % 3 == 0).then(|| "list:job-1".into()),
        };
        round_trip(&delivery);
    }
    for state in states {
        let notice = Delivery {
            key: DeliveryKey::Notice("refused:7k3m9qxv2c4d8fjr:1".into()),
            owner: OwnerId(2),
            payload: Payload::Prepared {
                from: addr("bounce@calinvite.example"),
                to: addr("ana@example.org"),
                // Not UTF-8: the bytes are kept as bytes.
                bytes: b"Subject: x\r\n\r\n\xff\xfe\x00ok".to_vec(),
            },
            attempts: 0,
            due: at("2026-11-01T09:00:00Z"),
            state,
            last_error: None,
            group: None,
        };
        round_trip(&notice);
    }
}

#[test]
fn pending_changes_round_trip() {
    let kinds = [
        PendingKind::Update,
        PendingKind::Cancel,
        PendingKind::CancelInstances(vec![
            OccurrenceId::At(at("2026-12-10T17:00:00Z")),
            OccurrenceId::At(at("2026-12-17T17:00:00Z")),
        ]),
        PendingKind::CancelInstances(Vec::new()),
    ];
    let states = [
        PendingState::Open,
        PendingState::Approved,
        PendingState::Rejected,
        PendingState::Superseded,
    ];
    for kind in kinds {
        for state in states {
            let change = PendingChange::new(
                "pc-1".into(),
                scope(),
                code(),
                kind.clone(),
                Sequence::new(4),
                at("2026-11-03T08:00:00Z"),
            )
            .with_recipients(
                every_message_kind()
                    .into_iter()
                    .enumerate()
                    .map(|(i, kind)| {
                        PlannedMessage::new(
                            token(i as u64),
                            addr(&format!("r{i}@example.org")),
                            kind,
                        )
                    })
                    .collect(),
            )
            .with_state(state);
            round_trip(&change);
        }
    }
}

#[test]
fn fan_outs_round_trip_for_every_audience() {
    let planned_at = at("2026-11-03T08:00:00Z");
    let approved = |then: FanOutAudience| FanOutAudience::Approved {
        listed: vec![token(1), token(2)],
        planned_at,
        then: Box::new(then),
    };
    let audiences = [
        FanOutAudience::Update(UpdateAudience::AcceptedOrTentative),
        FanOutAudience::Update(UpdateAudience::NotDeclined),
        FanOutAudience::Update(UpdateAudience::Everyone),
        FanOutAudience::Cancellation,
        approved(FanOutAudience::Update(UpdateAudience::NotDeclined)),
        approved(FanOutAudience::Cancellation),
        // Nested: an approved plan whose later joiners follow another approved plan.
        approved(approved(FanOutAudience::Update(UpdateAudience::Everyone))),
        FanOutAudience::Approved {
            listed: Vec::new(),
            planned_at,
            then: Box::new(approved(approved(FanOutAudience::Cancellation))),
        },
    ];
    for (i, audience) in audiences.into_iter().enumerate() {
        for kind in every_message_kind() {
            let fan_out = FanOut {
                id: format!("fo-{i}"),
                scope: scope(),
                code: code(),
                kind,
                sequence: Sequence::new(2),
                audience: audience.clone(),
                cursor: (i % 2 == 0).then(|| token(9)),
            };
            round_trip(&fan_out);
        }
    }
}

#[test]
fn history_entries_round_trip_for_every_kind() {
    let mut kinds = vec![
        HistoryKind::Answer {
            status: ParticipationStatus::Accepted,
            instance: None,
            comment: None,
            sequence: Sequence::new(1),
            forwarded_from: None,
            sent_by: None,
            late: false,
            web: false,
        },
        HistoryKind::Answer {
            status: ParticipationStatus::Delegated,
            instance: Some(OccurrenceId::On(day("2026-06-01"))),
            comment: Some("Leider nicht,\r\naber nächstes Mal 👍".into()),
            sequence: Sequence::new(u64::MAX),
            forwarded_from: Some(addr("friend@example.net")),
            sent_by: Some(addr("assistant@bücher-müller.de")),
            late: true,
            web: true,
        },
        HistoryKind::Counter {
            start: Some("20261203T190000Z".into()),
            end: None,
            comment: Some("later?".into()),
        },
        HistoryKind::Counter {
            start: None,
            end: None,
            comment: None,
        },
        HistoryKind::Sent {
            sequence: Sequence::new(3),
        },
        HistoryKind::Delivered,
        HistoryKind::Bounced {
            permanent: true,
            detail: "550 5.1.1 user unknown".into(),
        },
        HistoryKind::Bounced {
            permanent: false,
            detail: String::new(),
        },
        HistoryKind::Unsubscribed,
        HistoryKind::Complained {
            feedback_type: Some("abuse".into()),
        },
        HistoryKind::Complained {
            feedback_type: None,
        },
    ];
    for status in [
        ParticipationStatus::NeedsAction,
        ParticipationStatus::Declined,
        ParticipationStatus::Tentative,
    ] {
        kinds.push(HistoryKind::Answer {
            status,
            instance: Some(OccurrenceId::At(at("2026-12-10T17:00:00Z"))),
            comment: None,
            sequence: Sequence::new(2),
            forwarded_from: None,
            sent_by: None,
            late: false,
            web: true,
        });
    }
    for kind in every_message_kind() {
        kinds.push(HistoryKind::Queued {
            kind,
            sequence: Sequence::new(5),
        });
    }
    for kind in kinds {
        round_trip(&HistoryEntry::new(
            token(4),
            at("2026-11-04T12:00:00Z"),
            kind,
        ));
    }
}

#[test]
fn an_answer_recorded_before_sent_by_existed_still_reads() {
    // Rows written before answers recorded their sender have no `sent_by`;
    // they read as "From agreed with the attendee", and such an answer is
    // written without the field.
    let entry = HistoryEntry::new(
        token(4),
        at("2026-11-04T12:00:00Z"),
        HistoryKind::Answer {
            status: ParticipationStatus::Accepted,
            instance: None,
            comment: None,
            sequence: Sequence::new(1),
            forwarded_from: None,
            sent_by: None,
            late: false,
            web: false,
        },
    );
    let written = round_trip(&entry);
    assert!(
        !written.to_string().contains("sent_by"),
        "an answer whose From agreed is written as before: {written}"
    );
    let mut older = written.clone();
    let answer = older
        .get_mut("kind")
        .and_then(|k| k.get_mut("answer"))
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("unexpected shape: {written}"));
    answer.remove("sent_by");
    let read: HistoryEntry = serde_json::from_value(older).expect("an older row reads");
    assert_eq!(read, entry);
}

#[test]
fn refusal_records_round_trip() {
    for (i, reason) in every_refusal_reason().into_iter().enumerate() {
        let record = RefusalRecord::new(
            OwnerId(1),
            (i % 2 == 0).then_some(OrganizerId(u64::MAX)),
            (i % 3 == 0).then(code),
            at("2026-11-05T00:00:00Z"),
            Refusal::new(reason, format!("detail {i}: «quoted»\nsecond line")),
        );
        round_trip(&record);
    }
}

#[test]
fn tenants_round_trip() {
    let settings = Settings::default()
        .with_approval(true)
        .with_audience(UpdateAudience::Everyone)
        .with_auth(AuthPolicy::Dmarc)
        .with_late_answers(LateAnswers::Apply)
        .with_list_unsubscribe(false);
    let owner = DomainOwner::new(
        OwnerId(1),
        "Example Events",
        "events.example.com",
        addr("create@events.example.com"),
        addr("rsvp@events.example.com"),
        addr("bounce@events.example.com"),
    )
    .with_links_base(WebUrl::parse("https://events.example.com/r").unwrap())
    .with_settings(settings);
    round_trip(&owner);
    round_trip(&{
        let mut owner = owner;
        owner.links_base = None;
        owner.settings = Settings::default().with_auth(AuthPolicy::AllowListOnly);
        owner
    });

    let account = OrganizerAccount::new(scope(), "Marketing", addr("ana@example.org"))
        .with_allow_list(vec![
            AllowEntry::Address(addr("ana@example.org")),
            AllowEntry::Domain("example.net".into()),
        ])
        .with_settings(Settings::default().with_auth(AuthPolicy::AlignedSpfOrDkim));
    round_trip(&account);
    round_trip(&{
        let mut account = account;
        account.allow = Vec::new();
        account.settings = None;
        account
    });
}

#[test]
fn stored_events_and_suppressions_round_trip() {
    for (latest, cancelled) in [(weekly_event(), false), (all_day_event(), true)] {
        round_trip(&StoredEvent::from(EventParts {
            scope: scope(),
            code: code(),
            organizer_uid: Some("040000008200E00074C5B7101A82E008@outlook".into()),
            organizer_sequence: Sequence::new(7),
            organizer_stamp: Some(at("2026-11-01T08:59:59Z")),
            latest,
            raw_calendar: Some("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n".into()),
            sent_sequence: Sequence::new(2),
            cancelled,
            created_at: at("2026-11-01T09:00:00Z"),
            version: 3,
        }));
    }
    for reason in [
        SuppressionReason::Unsubscribed,
        SuppressionReason::HardBounce,
        SuppressionReason::Complaint,
    ] {
        round_trip(&Suppression::new(
            OwnerId(1),
            addr("gone@example.org"),
            reason,
            at("2026-11-06T00:00:00Z"),
        ));
    }
}

// ---------------------------------------------------------------------------
// 2. The stored form
// ---------------------------------------------------------------------------

/// The JSON of an event, field by field: a change here changes what stores
/// hold, and needs a migration.
#[test]
fn the_stored_form_of_an_event_is_pinned() {
    let expected = json!({
        "code": "7k3m9qxv2c4d8fjr",
        "summary": "Café Führung 🎉",
        "description": "Zeile eins\nZeile zwei: «Grüße»",
        "location": "Kantstraße 1, Berlin",
        "url": "https://events.example.org/7k3m",
        "schedule": {
            "timed": {
                "start": { "local": "2026-12-03T18:00:00", "zone": "Europe/Berlin" },
                "end": { "local": "2026-12-03T19:30:00", "zone": "Europe/Berlin" }
            }
        },
        "recurrence": {
            "rule": "FREQ=WEEKLY;COUNT=6;BYDAY=TH",
            "rdates": [],
            "exdates": [{ "at": "2026-12-24T17:00:00Z" }]
        },
        "overrides": [{
            "id": { "at": "2026-12-17T17:00:00Z" },
            "schedule": {
                "timed": {
                    "start": { "local": "2026-12-17T19:00:00", "zone": "Europe/Berlin" },
                    "end": { "local": "2026-12-17T19:30:00", "zone": "UTC" }
                }
            },
            "summary": "Café Führung 🎉",
            "description": "Zeile eins\nZeile zwei: «Grüße»",
            "location": "Online",
            "status": "confirmed"
        }],
        "organizer": { "address": "ana@example.org", "name": "Ana Núñez" },
        "status": "confirmed"
    });
    assert_eq!(round_trip(&weekly_event()), expected);

    let all_day = round_trip(&all_day_event());
    assert_eq!(
        all_day["schedule"],
        json!({ "all-day": { "start": "2026-06-01", "end": "2026-06-03" } })
    );
    assert_eq!(all_day["recurrence"]["rule"], "FREQ=YEARLY;UNTIL=20300601");
    assert_eq!(
        all_day["recurrence"]["rdates"],
        json!([{ "on": "2026-09-01" }])
    );
    assert_eq!(all_day["status"], "tentative");
    assert_eq!(all_day["url"], Value::Null);
}

#[test]
fn the_stored_form_of_the_model_is_pinned() {
    let names = |v: Value| v.to_string();
    let inv = round_trip(&invitation());
    assert_eq!(inv["scope"], json!({ "owner": 1, "organizer": 7 }));
    assert_eq!(inv["token"], token(1).as_str());
    assert_eq!(inv["source"], json!({ "batch": "Spring list" }));
    assert_eq!(inv["sequence_held"], json!(u64::MAX));
    assert_eq!(inv["sent_at"], "2026-11-01T09:00:05.250Z");
    assert_eq!(
        inv["recipient"],
        json!({ "address": "jorg@example.org", "name": "Jörg 'JJ' Müller", "language": "de-CH" })
    );
    assert_eq!(
        inv["instance_answers"][0],
        json!([{ "at": "2026-12-10T17:00:00Z" }, "declined"])
    );

    let kinds: Vec<Value> = every_message_kind()
        .iter()
        .map(|k| serde_json::to_value(k).unwrap())
        .collect();
    assert_eq!(
        Value::Array(kinds),
        json!([
            "invitation",
            "update",
            "cancellation",
            { "instance-cancellation": { "at": "2026-12-10T17:00:00Z" } },
            { "instance-cancellation": { "on": "2026-06-01" } }
        ])
    );
    let key = IdempotencyKey::new(token(1), Sequence::new(2), Method::Cancel, 1);
    assert_eq!(
        serde_json::to_value(DeliveryKey::Invitation(key)).unwrap(),
        json!({ "invitation": { "token": token(1).as_str(), "sequence": 2, "method": "cancel", "copy": 1 } })
    );
    assert_eq!(
        names(serde_json::to_value(QueueState::Leased(at("2026-01-01T00:00:00Z"))).unwrap()),
        r#"{"leased":"2026-01-01T00:00:00Z"}"#
    );
    assert_eq!(
        serde_json::to_value(FanOutAudience::Update(UpdateAudience::AcceptedOrTentative)).unwrap(),
        json!({ "update": "accepted-or-tentative" })
    );
    assert_eq!(
        serde_json::to_value(HistoryKind::Delivered).unwrap(),
        json!("delivered")
    );
    assert_eq!(
        serde_json::to_value(PendingKind::CancelInstances(vec![OccurrenceId::On(day(
            "2026-06-01"
        ))]))
        .unwrap(),
        json!({ "cancel-instances": [{ "on": "2026-06-01" }] })
    );
    assert_eq!(
        serde_json::to_value(Settings::default()).unwrap(),
        json!({
            "approval": false,
            "audience": "accepted-or-tentative",
            "auth": "aligned-spf-or-dkim",
            "late_answers": "record-only",
            "list_unsubscribe": true
        })
    );

    // Enums that already have a stable name in reports use that same name.
    for reason in every_refusal_reason() {
        assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
    }
    for state in every_delivery_state() {
        assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
    }
    for reason in [
        SuppressionReason::Unsubscribed,
        SuppressionReason::HardBounce,
        SuppressionReason::Complaint,
    ] {
        assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
    }
    for (status, name) in [
        (ParticipationStatus::NeedsAction, "needs-action"),
        (ParticipationStatus::Accepted, "accepted"),
        (ParticipationStatus::Declined, "declined"),
        (ParticipationStatus::Tentative, "tentative"),
        (ParticipationStatus::Delegated, "delegated"),
    ] {
        assert_eq!(serde_json::to_value(status).unwrap(), name);
    }
}

/// Settings written before a setting existed read back with its default.
#[test]
fn missing_settings_take_their_defaults() {
    let settings: Settings = serde_json::from_value(json!({ "approval": true })).unwrap();
    assert_eq!(settings, Settings::default().with_approval(true));
}

// ---------------------------------------------------------------------------
// 3. What reads back is checked again
// ---------------------------------------------------------------------------

fn weekly_json() -> Value {
    serde_json::to_value(weekly_event()).unwrap()
}

#[test]
fn an_event_that_ends_before_it_starts_is_refused() {
    let mut e = weekly_json();
    e["schedule"]["timed"]["end"]["local"] = json!("2026-12-03T17:59:59");
    let message = refused::<Event>(&e);
    assert_mentions(&message, &["invalid schedule", "ends before it starts"]);

    let mut e = serde_json::to_value(all_day_event()).unwrap();
    e["schedule"]["all-day"]["end"] = json!("2026-06-01");
    let message = refused::<Event>(&e);
    assert_mentions(&message, &["invalid schedule", "ends before it starts"]);

    // The same check on an overridden occurrence.
    let mut e = weekly_json();
    e["overrides"][0]["schedule"]["timed"]["end"] =
        json!({ "local": "2026-12-17T17:00:00", "zone": "UTC" });
    assert_mentions(&refused::<Event>(&e), &["ends before it starts"]);
}

#[test]
fn an_invalid_address_is_refused() {
    let mut e = weekly_json();
    e["organizer"]["address"] = json!("ana.example.org");
    assert_mentions(
        &refused::<Event>(&e),
        &["invalid email address", "has no '@'"],
    );

    let mut inv = serde_json::to_value(invitation()).unwrap();
    inv["recipient"]["address"] = json!("jorg@exa mple.org");
    assert_mentions(
        &refused::<Invitation>(&inv),
        &["invalid email address", "not a valid host name"],
    );
    inv["recipient"]["address"] = json!("ana\r\nBcc: x@example.org");
    assert_mentions(&refused::<Invitation>(&inv), &["invalid email address"]);
}

#[test]
fn an_invalid_token_is_refused() {
    let secret_looking = "0123456789abcdefghjkmnpqr!";
    let mut inv = serde_json::to_value(invitation()).unwrap();
    inv["token"] = json!(secret_looking);
    let message = refused::<Invitation>(&inv);
    assert_mentions(&message, &["invalid invitation token"]);
    assert!(!message.contains(secret_looking), "{message}");

    let entry = json!({ "token": "short", "at": "2026-11-04T12:00:00Z", "kind": "delivered" });
    assert_mentions(
        &refused::<HistoryEntry>(&entry),
        &["invalid invitation token"],
    );
    let uid = json!("7k3m9qxv2c4d8fjr-tooshort@events.example.com");
    assert_mentions(&refused::<InvitationUid>(&uid), &["invalid invitation UID"]);
}

#[test]
fn an_unknown_enum_name_is_refused() {
    let mut e = weekly_json();
    e["status"] = json!("postponed");
    assert_mentions(
        &refused::<Event>(&e),
        &["unknown variant `postponed`", "confirmed"],
    );

    let mut inv = serde_json::to_value(invitation()).unwrap();
    inv["delivery"] = json!("lost");
    assert_mentions(
        &refused::<Invitation>(&inv),
        &["unknown variant `lost`", "soft-bounced"],
    );
    // The Rust name is not the stored one.
    inv["delivery"] = json!("SoftBounced");
    assert_mentions(
        &refused::<Invitation>(&inv),
        &["unknown variant `SoftBounced`"],
    );

    let record = json!({
        "owner": 1, "organizer": null, "code": null, "at": "2026-11-05T00:00:00Z",
        "refusal": { "reason": "because", "detail": "" }
    });
    assert_mentions(
        &refused::<RefusalRecord>(&record),
        &["unknown variant `because`"],
    );
    assert_mentions(
        &refused::<MessageKind>(&json!({ "instance-cancellation": { "around": "2026-06-01" } })),
        &["unknown variant `around`"],
    );
}

/// What is broken, how, and words the error must have.
type Breakage = (&'static str, fn(&mut Value), &'static [&'static str]);

#[test]
fn other_invalid_values_are_refused() {
    let cases: &[Breakage] = &[
        (
            "unknown zone",
            |e| e["schedule"]["timed"]["start"]["zone"] = json!("Mars/Olympus_Mons"),
            &["invalid time zone", "Mars/Olympus_Mons"],
        ),
        (
            "local time in the spring-forward gap",
            |e| {
                e["schedule"]["timed"]["start"]["local"] = json!("2026-03-29T02:30:00");
            },
            &["invalid zoned time", "does not exist in Europe/Berlin"],
        ),
        (
            "bad rule",
            |e| e["recurrence"]["rule"] = json!("FREQ=FORTNIGHTLY"),
            &["invalid recurrence rule", "FREQ"],
        ),
        (
            "COUNT and UNTIL",
            |e| e["recurrence"]["rule"] = json!("FREQ=DAILY;COUNT=2;UNTIL=20270101"),
            &["invalid recurrence rule", "both UNTIL and COUNT"],
        ),
        (
            "not a web URL",
            |e| e["url"] = json!("javascript:alert(1)"),
            &["invalid URL"],
        ),
        (
            "event code",
            |e| e["code"] = json!("7k3m"),
            &["invalid event code"],
        ),
        (
            "empty summary",
            |e| e["summary"] = json!(" \r\n\t"),
            &["invalid event", "no summary"],
        ),
        (
            "name that normalises to nothing",
            |e| e["organizer"]["name"] = json!(" \u{0} "),
            &["invalid name"],
        ),
        (
            "exception of the wrong kind",
            |e| e["recurrence"]["exdates"] = json!([{ "on": "2026-12-24" }]),
            &["invalid event", "is a date but the event is timed"],
        ),
        (
            "override of an event that does not repeat",
            |e| e["recurrence"] = Value::Null,
            &["invalid event", "does not repeat"],
        ),
        (
            "two overrides of one occurrence",
            |e| {
                let o = e["overrides"][0].clone();
                e["overrides"].as_array_mut().unwrap().push(o);
            },
            &["invalid event", "overridden twice"],
        ),
        (
            "a date where an instant belongs",
            |e| e["recurrence"]["exdates"] = json!([{ "at": "2026-12-24" }]),
            &["premature end of input"],
        ),
        (
            "missing field",
            |e| {
                e.as_object_mut().unwrap().remove("organizer");
            },
            &["missing field `organizer`"],
        ),
    ];
    for &(what, break_it, words) in cases {
        let mut e = weekly_json();
        break_it(&mut e);
        let message = refused::<Event>(&e);
        for w in words {
            assert!(
                message.contains(w),
                "{what}: {message:?} does not mention {w:?}"
            );
        }
    }

    let mut inv = serde_json::to_value(invitation()).unwrap();
    inv["recipient"]["language"] = json!("1x");
    assert_mentions(&refused::<Invitation>(&inv), &["invalid language tag"]);
    let mut inv = serde_json::to_value(invitation()).unwrap();
    inv["sequence_held"] = json!(-1);
    assert_mentions(
        &refused::<Invitation>(&inv),
        &["invalid value: integer `-1`"],
    );
}

/// Values are normalised again as they are read: stored text that a later
/// version of the rules would not have let in is cleaned, never trusted.
#[test]
fn text_read_back_is_normalised_again() {
    let mut e = weekly_json();
    e["summary"] = json!("Launch\r\nparty\u{0}\t ");
    e["organizer"]["address"] = json!("MAILTO:Ana%40Example.ORG");
    e["organizer"]["name"] = json!("  Ana \"A\"  ");
    e["overrides"][0]["summary"] = Value::Null;
    let event: Event = serde_json::from_value(e).unwrap();
    assert_eq!(event.summary().as_str(), "Launch\nparty");
    assert_eq!(event.organizer().address().as_str(), "ana@example.org");
    assert_eq!(event.organizer().name().unwrap().as_str(), "Ana 'A'");
    // An override stored without a summary of its own takes the event's, as built.
    assert_eq!(
        event.overrides()[0].summary_text().unwrap().as_str(),
        "Launch\nparty"
    );
}

/// The exact bytes a store keeps for an invitation and an event, persistence
/// internals included: the records' fields are private now, and the stored
/// form must not change with them.
#[test]
fn the_stored_form_of_invitations_and_events_is_byte_for_byte_pinned() {
    let expected_invitation = concat!(
        r#"{"scope":{"owner":1,"#,
        r#""organizer":7},"#,
        r#""code":"7k3m9qxv2c4d8fjr","#,
        r#""token":"j452vv4909ec3fqbhpgpb3qccw","#,
        r#""recipient":{"address":"jorg@example.org","#,
        r#""name":"Jörg 'JJ' Müller","#,
        r#""language":"de-CH"},"#,
        r#""source":{"batch":"Spring list"},"#,
        r#""created_at":"2026-11-01T09:00:00Z","#,
        r#""sent_at":"2026-11-01T09:00:05.250Z","#,
        r#""sequence_held":18446744073709551615,"#,
        r#""cancelled":false,"#,
        r#""status":"accepted","#,
        r#""answered_at":"2026-11-02T10:00:00Z","#,
        r#""instance_answers":[[{"at":"2026-12-10T17:00:00Z"},"#,
        r#""declined"],[{"on":"2026-12-17"},"#,
        r#""tentative"]],"#,
        r#""marks":[{"answerer":null,"#,
        r#""instance":null,"#,
        r#""sequence":3,"#,
        r#""stamp":"2026-11-02T10:00:00Z"},{"answerer":"assistant@example.org","#,
        r#""instance":{"at":"2026-12-10T17:00:00Z"},"#,
        r#""sequence":0,"#,
        r#""stamp":null}],"#,
        r#""delivery":"delivered","#,
        r#""copies":2,"#,
        r#""version":9}"#,
    );
    let text = serde_json::to_string(&invitation()).unwrap();
    assert_eq!(text, expected_invitation);
    let back: Invitation = serde_json::from_str(&text).unwrap();
    assert_eq!(back, invitation());
    assert_eq!(back.into_parts(), invitation().into_parts());

    let event = StoredEvent::from(EventParts {
        scope: scope(),
        code: code(),
        organizer_uid: Some("040000008200E00074C5B7101A82E008@outlook".into()),
        organizer_sequence: Sequence::new(7),
        organizer_stamp: Some(at("2026-11-01T08:59:59Z")),
        latest: all_day_event(),
        raw_calendar: Some("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n".into()),
        sent_sequence: Sequence::new(2),
        cancelled: true,
        created_at: at("2026-11-01T09:00:00Z"),
        version: 3,
    });
    let expected_event = concat!(
        r#"{"scope":{"owner":1,"#,
        r#""organizer":7},"#,
        r#""code":"7k3m9qxv2c4d8fjr","#,
        r#""organizer_uid":"040000008200E00074C5B7101A82E008@outlook","#,
        r#""organizer_sequence":7,"#,
        r#""organizer_stamp":"2026-11-01T08:59:59Z","#,
        r#""latest":{"code":"7k3m9qxv2c4d8fjr","#,
        r#""summary":"Summit","#,
        r#""description":null,"#,
        r#""location":null,"#,
        r#""url":null,"#,
        r#""schedule":{"all-day":{"start":"2026-06-01","#,
        r#""end":"2026-06-03"}},"#,
        r#""recurrence":{"rule":"FREQ=YEARLY;UNTIL=20300601","#,
        r#""rdates":[{"on":"2026-09-01"}],"#,
        r#""exdates":[]},"#,
        r#""overrides":[],"#,
        r#""organizer":{"address":"ana@example.org","#,
        r#""name":null},"#,
        r#""status":"tentative"},"#,
        r#""raw_calendar":"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n","#,
        r#""sent_sequence":2,"#,
        r#""cancelled":true,"#,
        r#""created_at":"2026-11-01T09:00:00Z","#,
        r#""version":3}"#,
    );
    let text = serde_json::to_string(&event).unwrap();
    assert_eq!(text, expected_event);
    let back: StoredEvent = serde_json::from_str(&text).unwrap();
    assert_eq!(back, event);
}
