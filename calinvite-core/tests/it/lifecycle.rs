#![allow(clippy::unwrap_used)]
//! Scenario tests of the invitation lifecycle, on the in-memory store.

use calinvite_core::lifecycle::InvitationSource;
use calinvite_core::lifecycle::{MemoryStore, Outcome, Settings};
use calinvite_core::{EmailAddress, Recipient};
use calinvite_tests::block_on;
use calinvite_tests::scenario::{CalendarEvent, Scenario};

fn invite(s: &Scenario<MemoryStore>, code: &calinvite_core::EventCode, who: &str) -> Outcome {
    block_on(s.pipeline.invite(
        s.scope(),
        code,
        Recipient::new(EmailAddress::parse(who).unwrap()),
        InvitationSource::Api,
    ))
    .unwrap()
}

#[test]
fn smoke_brief_story() {
    let s = block_on(Scenario::new(MemoryStore::new(), Settings::default())).unwrap();
    let ev = CalendarEvent::launch("launch-1@example.com");
    let out = block_on(s.organizer_sends(&ev)).unwrap();
    let Outcome::EventCreated(code) = out else {
        panic!("{out:?}")
    };
    for who in [
        "yes@example.org",
        "no@example.org",
        "maybe@example.org",
        "silent@example.org",
    ] {
        assert!(matches!(invite(&s, &code, who), Outcome::Invited(_)));
    }
    assert!(matches!(
        invite(&s, &code, "yes@example.org"),
        Outcome::AlreadyInvited(_)
    ));
    block_on(s.deliver()).unwrap();
    assert_eq!(s.inbox("ana@example.com").len(), 1, "organizer notice");
    assert_eq!(s.calendar_inbox("yes@example.org").len(), 1);
    block_on(s.reply("yes@example.org", "ACCEPTED")).unwrap();
    block_on(s.reply("no@example.org", "DECLINED")).unwrap();
    block_on(s.reply("maybe@example.org", "TENTATIVE")).unwrap();
    let edited = ev
        .clone()
        .edited(|e| e.description.push_str(" Merch: 20% off tonight."));
    let out = block_on(s.organizer_sends(&edited)).unwrap();
    assert!(matches!(out, Outcome::RevisionSent(_, _)), "{out:?}");
    block_on(s.deliver()).unwrap();
    assert_eq!(s.calendar_inbox("yes@example.org").len(), 2);
    assert_eq!(s.calendar_inbox("maybe@example.org").len(), 2);
    assert_eq!(s.calendar_inbox("no@example.org").len(), 1);
    assert_eq!(s.calendar_inbox("silent@example.org").len(), 1);
    let out = block_on(s.organizer_cancels(&edited.clone().edited(|_| {}), None)).unwrap();
    assert!(matches!(out, Outcome::Cancelled(_)), "{out:?}");
    block_on(s.deliver()).unwrap();
    for who in [
        "yes@example.org",
        "no@example.org",
        "maybe@example.org",
        "silent@example.org",
    ] {
        let inbox = s.calendar_inbox(who);
        assert_eq!(
            inbox.last().unwrap().method.as_deref(),
            Some("CANCEL"),
            "{who}"
        );
    }
}
