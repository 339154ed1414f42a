//! Values the rooms' unit tests build in memory: an owner, an event, its
//! invitations, times before and after it. No store, no clock.

use chrono::{NaiveDate, TimeZone as _};

use super::*;
use crate::event::Recurrence;
use crate::lifecycle::model::OrganizerId;
use crate::recurrence::RecurrenceRule;
use crate::time::Schedule;

/// The event's day: 1 December 2026 (all day).
pub(super) fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 1).expect("day")
}

/// A week before the event.
pub(super) fn before() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap()
}

/// A month after the event (and after every instance of the weekly one).
pub(super) fn after() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 2, 1, 0, 0, 0).unwrap()
}

pub(super) fn address(a: &str) -> EmailAddress {
    EmailAddress::parse(a).expect("address")
}

pub(super) fn scope() -> Scope {
    Scope {
        owner: OwnerId(1),
        organizer: OrganizerId(1),
    }
}

pub(super) fn owner() -> DomainOwner {
    DomainOwner {
        id: OwnerId(1),
        name: "Example Events".into(),
        mail_domain: "events.example.com".into(),
        ingest: address("create@events.example.com"),
        reply: address("rsvp@events.example.com"),
        bounce: address("bounces@events.example.com"),
        links_base: None,
        settings: Settings::default(),
    }
}

fn code() -> EventCode {
    EventCode::generate(&crate::SequentialIds::new(9))
}

/// The organizer of every test event.
pub(super) fn organizer() -> EmailAddress {
    address("billing@example.com")
}

fn stored(latest: Event, cancelled: bool) -> StoredEvent {
    StoredEvent {
        scope: scope(),
        code: latest.code().clone(),
        organizer_uid: Some("uid-1@example.com".into()),
        organizer_sequence: Sequence::INITIAL,
        organizer_stamp: None,
        latest,
        raw_calendar: None,
        sent_sequence: Sequence::INITIAL,
        cancelled,
        created_at: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
        version: 4,
    }
}

/// An all-day event on [`day`], sent at SEQUENCE 0, version 4.
pub(super) fn event(summary: &str, cancelled: bool) -> StoredEvent {
    let latest = Event::builder(code())
        .summary(summary)
        .schedule(Schedule::all_day(day(), day()).expect("schedule"))
        .organizer(organizer(), None)
        .build()
        .expect("event");
    stored(latest, cancelled)
}

/// A weekly all-day event from [`day`], four instances.
pub(super) fn weekly() -> StoredEvent {
    let latest = Event::builder(code())
        .summary("Stand-up")
        .schedule(Schedule::all_day(day(), day()).expect("schedule"))
        .organizer(organizer(), None)
        .recurrence(Recurrence::rule(
            RecurrenceRule::parse("FREQ=WEEKLY;COUNT=4").expect("rule"),
        ))
        .build()
        .expect("event");
    stored(latest, false)
}

/// An invitation to `e` for `who`, holding SEQUENCE 0, with this answer
/// and delivery state (`n` draws its token), version 3.
pub(super) fn invitation(
    e: &StoredEvent,
    n: u64,
    who: &str,
    status: Option<ParticipationStatus>,
    delivery: DeliveryState,
) -> Invitation {
    Invitation {
        scope: e.scope,
        code: e.code.clone(),
        token: InvitationToken::generate(&crate::SequentialIds::new(n)),
        recipient: Recipient::new(address(who)),
        source: InvitationSource::Api,
        created_at: e.created_at,
        sent_at: None,
        sequence_held: Some(Sequence::INITIAL),
        cancelled: false,
        status,
        answered_at: None,
        instance_answers: Vec::new(),
        marks: Vec::new(),
        delivery,
        copies: 0,
        version: 3,
    }
}

/// A name source for fan-outs and pending changes: `fan-1`, `fan-2` …
pub(super) fn names() -> impl FnMut() -> String {
    let mut n = 0;
    move || {
        n += 1;
        format!("fan-{n}")
    }
}
