#![allow(clippy::unwrap_used)]
//! The application-facing API's contracts: typed errors (a caller's misuse
//! apart from a record that is not found), pending-change ids.

use calinvite_core::lifecycle::{
    MemoryStore, Outcome, PendingChangeId, PendingState, PipelineError, Settings,
};
use calinvite_core::{EventCode, Schedule};
use calinvite_tests::block_on;
use calinvite_tests::scenario::{CalendarEvent, Scenario};
use chrono::NaiveDate;

fn scenario(settings: Settings) -> (Scenario<MemoryStore>, EventCode) {
    let s = block_on(Scenario::new(MemoryStore::new(), settings)).unwrap();
    let out = block_on(s.organizer_sends(&CalendarEvent::launch("api-1@example.com"))).unwrap();
    let Outcome::EventCreated(code) = out else {
        panic!("{out:?}")
    };
    (s, code)
}

#[test]
fn an_update_that_changes_the_code_is_misuse_not_not_found() {
    let (s, code) = scenario(Settings::default());
    let other = EventCode::parse("7k3m9qxv2c4d8fjr").unwrap();
    assert_ne!(other, code);
    let stored = block_on(s.pipeline.event(s.scope(), &code)).unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let moved = calinvite_core::Event::builder(other)
        .summary("Launch")
        .schedule(Schedule::all_day(day, day).unwrap())
        .organizer(stored.latest.organizer().address().clone(), None)
        .build()
        .unwrap();
    match block_on(s.pipeline.update_event(s.scope(), &code, moved)) {
        Err(PipelineError::Misuse(detail)) => assert!(detail.contains("code"), "{detail}"),
        other => panic!("expected misuse, got {other:?}"),
    }
    // An event that does not exist is still "not found".
    let missing = EventCode::parse("0000000000000000").unwrap();
    match block_on(s.pipeline.event(s.scope(), &missing)) {
        Err(PipelineError::NotFound(_)) => {}
        other => panic!("expected not found, got {other:?}"),
    }
}

#[test]
fn pending_change_ids_are_typed_and_approving_twice_is_harmless() {
    let (s, code) = scenario(Settings::default().with_approval(true));
    let edited = CalendarEvent::launch("api-1@example.com").edited(|e| {
        e.sequence += 1;
        e.summary = "Launch, moved".into();
    });
    let out = block_on(s.organizer_sends(&edited)).unwrap();
    let Outcome::PendingApproval(c, id) = out else {
        panic!("{out:?}")
    };
    assert_eq!(c, code);
    assert_eq!(PendingChangeId::new(id.as_str()), id);
    assert_eq!(id.to_string(), id.as_str());
    let pending = block_on(s.pipeline.pending(s.scope(), &id)).unwrap();
    assert_eq!(pending.id, id);
    assert_eq!(
        block_on(s.pipeline.approve(s.scope(), &id)).unwrap(),
        Outcome::Resolved(id.clone(), PendingState::Approved)
    );
    // Approving again is idempotent (a retried request), not an error.
    assert_eq!(
        block_on(s.pipeline.approve(s.scope(), &id)).unwrap(),
        Outcome::Resolved(id.clone(), PendingState::Approved)
    );
    let unknown = PendingChangeId::new("no-such-change");
    match block_on(s.pipeline.reject(s.scope(), &unknown)) {
        Err(PipelineError::NotFound(_)) => {}
        other => panic!("expected not found, got {other:?}"),
    }
}
