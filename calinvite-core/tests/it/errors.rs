//! Bad input is a typed error that says what is wrong — never a panic.

#![allow(clippy::unwrap_used)] // a test fails loudly on the first unexpected error

use calinvite_core::{
    AddressError, ComposeError, ComposeOptions, Composer, EmailAddress, Event, EventCode,
    EventError, EventRevision, EventStatus, InstanceOverride, InvitationToken, InvitationUid,
    MessageKind, OccurrenceId, Recipient, Recurrence, RecurrenceRule, Schedule, SenderIdentity,
    Sequence, TimeError, TimeZone, ZonedDateTime,
};
use chrono::{NaiveDate, TimeZone as _, Utc};

fn madrid() -> TimeZone {
    TimeZone::parse("Europe/Madrid").unwrap()
}

fn at(d: u32, h: u32) -> ZonedDateTime {
    ZonedDateTime::new(
        NaiveDate::from_ymd_opt(2026, 12, d)
            .unwrap()
            .and_hms_opt(h, 0, 0)
            .unwrap(),
        madrid(),
    )
    .unwrap()
}

fn code() -> EventCode {
    EventCode::parse("k3m9qxv2c4d8fjr7").unwrap()
}

fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

fn event() -> Event {
    Event::builder(code())
        .summary("Launch")
        .schedule(Schedule::timed(at(3, 18), at(3, 20)).unwrap())
        .organizer(addr("ana@example.com"), Some("Ana"))
        .build()
        .unwrap()
}

fn uid() -> InvitationUid {
    InvitationUid::new(
        code(),
        InvitationToken::parse("0123456789abcdefghjkmnpqrs").unwrap(),
        "events.example.com",
    )
    .unwrap()
}

fn compose(kind: MessageKind, event: Event, to: &str) -> Result<Vec<u8>, ComposeError> {
    let composer = Composer::new(
        SenderIdentity::new(addr("rsvp@events.example.com"), None),
        ComposeOptions::new().own_address(addr("create@events.example.com")),
    );
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap();
    composer
        .compose(
            kind,
            &EventRevision::new(event, Sequence::new(1)),
            &Recipient::new(addr(to)),
            &uid(),
            now,
        )
        .map(|m| m.into_bytes())
}

#[test]
fn an_address_that_is_not_one() {
    let e = EmailAddress::parse("not an address").unwrap_err();
    assert_eq!(e, AddressError::MissingAt);
    assert_eq!(e.to_string(), "the address has no '@'");
    assert_eq!(
        EmailAddress::parse("ana@").unwrap_err().to_string(),
        "the address has no domain after the '@'"
    );
}

#[test]
fn an_event_ending_before_it_starts() {
    let e = Schedule::timed(at(3, 20), at(3, 18)).unwrap_err();
    assert_eq!(e, TimeError::EndBeforeStart);
    assert_eq!(e.to_string(), "the event ends before it starts");
}

#[test]
fn an_unknown_time_zone() {
    let e = TimeZone::parse("Atlantis/Capital").unwrap_err();
    assert_eq!(e.to_string(), "unknown time zone \"Atlantis/Capital\"");
}

#[test]
fn a_local_time_the_clocks_skip() {
    let e = ZonedDateTime::new(
        NaiveDate::from_ymd_opt(2026, 3, 29)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap(),
        madrid(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "2026-03-29 02:30:00 does not exist in Europe/Madrid (the clocks skip it)"
    );
}

#[test]
fn a_recipient_equal_to_the_organizer() {
    let e = compose(MessageKind::Invitation, event(), "ANA@example.com").unwrap_err();
    assert_eq!(
        e,
        ComposeError::RecipientIsOrganizer("ana@example.com".into())
    );
    assert!(e.to_string().contains("is the organizer"));
    let e = compose(MessageKind::Invitation, event(), "rsvp@events.example.com").unwrap_err();
    assert!(matches!(e, ComposeError::RecipientIsOrganizer(_)));
    let e = compose(
        MessageKind::Invitation,
        event(),
        "create@events.example.com",
    )
    .unwrap_err();
    assert_eq!(
        e,
        ComposeError::RecipientIsOwnAddress("create@events.example.com".into())
    );
}

#[test]
fn an_invitation_of_another_event() {
    let other = Event::builder(EventCode::parse("zzzzzzzzzzzzzzzz").unwrap())
        .summary("Other")
        .schedule(Schedule::timed(at(3, 18), at(3, 20)).unwrap())
        .organizer(addr("ana@example.com"), None)
        .build()
        .unwrap();
    let e = compose(MessageKind::Invitation, other, "sam@example.net").unwrap_err();
    assert!(matches!(e, ComposeError::WrongEvent { .. }), "{e}");
}

#[test]
fn instance_cancellation_needs_a_recurring_event_and_the_right_kind_of_time() {
    let id = OccurrenceId::at(&at(10, 18));
    assert_eq!(
        compose(
            MessageKind::InstanceCancellation(id),
            event(),
            "sam@example.net"
        ),
        Err(ComposeError::NotRecurring)
    );
    let weekly = Event::builder(code())
        .summary("Weekly")
        .schedule(Schedule::timed(at(3, 18), at(3, 20)).unwrap())
        .recurrence(Recurrence::rule(
            RecurrenceRule::parse("FREQ=WEEKLY").unwrap(),
        ))
        .organizer(addr("ana@example.com"), None)
        .build()
        .unwrap();
    let by_date = OccurrenceId::On(NaiveDate::from_ymd_opt(2026, 12, 10).unwrap());
    let e = compose(
        MessageKind::InstanceCancellation(by_date),
        weekly,
        "sam@example.net",
    )
    .unwrap_err();
    assert!(matches!(e, ComposeError::OccurrenceKind(_)), "{e}");
}

#[test]
fn a_cancelled_event_gets_only_cancellations() {
    let cancelled = Event::builder(code())
        .summary("Launch")
        .schedule(Schedule::timed(at(3, 18), at(3, 20)).unwrap())
        .organizer(addr("ana@example.com"), None)
        .status(EventStatus::Cancelled)
        .build()
        .unwrap();
    assert_eq!(
        compose(MessageKind::Update, cancelled.clone(), "sam@example.net"),
        Err(ComposeError::EventCancelled)
    );
    assert!(compose(MessageKind::Cancellation, cancelled, "sam@example.net").is_ok());
}

#[test]
fn event_builder_says_what_is_missing_or_wrong() {
    let base = || Event::builder(code()).organizer(addr("ana@example.com"), None);
    assert_eq!(
        base()
            .schedule(Schedule::timed(at(3, 18), at(3, 20)).unwrap())
            .summary(" \r\n ")
            .build(),
        Err(EventError::MissingSummary)
    );
    assert_eq!(
        base().summary("x").build(),
        Err(EventError::MissingSchedule)
    );
    assert_eq!(
        Event::builder(code())
            .summary("x")
            .schedule(Schedule::timed(at(3, 18), at(3, 20)).unwrap())
            .build(),
        Err(EventError::MissingOrganizer)
    );
    let timed = || {
        base()
            .summary("x")
            .schedule(Schedule::timed(at(3, 18), at(3, 20)).unwrap())
    };
    assert!(matches!(
        timed().url("javascript:alert(1)").build(),
        Err(EventError::Url(_))
    ));
    assert_eq!(
        timed()
            .override_instance(InstanceOverride::new(
                OccurrenceId::at(&at(10, 18)),
                Schedule::timed(at(10, 19), at(10, 20)).unwrap()
            ))
            .build(),
        Err(EventError::OverrideWithoutRecurrence)
    );
    let e = timed()
        .recurrence(
            Recurrence::rule(RecurrenceRule::parse("FREQ=DAILY").unwrap()).with_exceptions([
                OccurrenceId::On(NaiveDate::from_ymd_opt(2026, 12, 5).unwrap()),
            ]),
        )
        .build()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "occurrence 2026-12-05 is a date but the event is timed"
    );
    let many = Recurrence::rule(RecurrenceRule::parse("FREQ=DAILY").unwrap()).with_exceptions(
        (0..1001).map(|i| OccurrenceId::At(at(3, 18).instant() + chrono::TimeDelta::days(i))),
    );
    assert!(matches!(
        timed().recurrence(many).build(),
        Err(EventError::TooMany { count: 1001, .. })
    ));
}
