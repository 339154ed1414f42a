#![allow(clippy::unwrap_used)]
//! The application-facing API's contracts: typed errors (a caller's misuse
//! apart from a record that is not found), pending-change ids.

use calinvite_core::lifecycle::{
    MemoryStore, Outcome, PendingChangeId, PendingState, PipelineError, Settings,
};
use calinvite_core::{EventCode, Keyword as _, Schedule};
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
        .organizer(stored.latest().organizer().address().clone(), None)
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

/// Every keyword enum reads back what it writes, for every value; names are
/// unique, lower case and hyphenated; and (with `serde`) serialize as the same
/// word, so store columns and serialized rows agree.
fn keywords_round_trip<K>(what: &str, expected: &[&str])
where
    K: calinvite_core::Keyword + PartialEq + std::fmt::Debug,
{
    let names: Vec<&str> = K::ALL.iter().map(|k| k.keyword()).collect();
    assert_eq!(names, expected, "{what}: the stable names");
    for value in K::ALL {
        let name = value.keyword();
        assert_eq!(K::from_keyword(name), Some(*value), "{what}: {name}");
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{what}: {name}"
        );
        assert_eq!(K::from_keyword(&name.to_ascii_uppercase()), None, "exact");
    }
    assert_eq!(K::from_keyword(""), None);
    assert_eq!(K::from_keyword("no-such-keyword"), None);
}

#[cfg(feature = "serde")]
fn serde_agrees<K>(what: &str)
where
    K: calinvite_core::Keyword
        + PartialEq
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned,
{
    for value in K::ALL {
        let json = serde_json::to_string(value).unwrap();
        assert_eq!(json, format!("\"{}\"", value.keyword()), "{what}");
        assert_eq!(serde_json::from_str::<K>(&json).unwrap(), *value, "{what}");
    }
}

#[cfg(not(feature = "serde"))]
fn serde_agrees<K>(_what: &str) {}

macro_rules! keyword_case {
    ($ty:ty, [$($name:literal),+ $(,)?]) => {{
        keywords_round_trip::<$ty>(stringify!($ty), &[$($name),+]);
        serde_agrees::<$ty>(stringify!($ty));
    }};
}

#[test]
fn every_keyword_enum_round_trips_and_agrees_with_serde() {
    use calinvite_core::lifecycle::{
        AuthPolicy, DeliveryState, LateAnswers, RefusalReason, SuppressionReason,
    };
    use calinvite_core::targeting::UpdateAudience;
    use calinvite_core::{EventStatus, ParticipationStatus};

    keyword_case!(
        DeliveryState,
        [
            "queued",
            "sent",
            "delivered",
            "soft-bounced",
            "hard-bounced"
        ]
    );
    keyword_case!(
        SuppressionReason,
        ["unsubscribed", "hard-bounce", "complaint"]
    );
    keyword_case!(PendingState, ["open", "approved", "rejected", "superseded"]);
    keyword_case!(
        AuthPolicy,
        ["dmarc", "aligned-spf-or-dkim", "allow-list-only"]
    );
    keyword_case!(LateAnswers, ["record-only", "apply"]);
    keyword_case!(
        UpdateAudience,
        ["accepted-or-tentative", "not-declined", "everyone"]
    );
    keyword_case!(
        ParticipationStatus,
        [
            "needs-action",
            "accepted",
            "declined",
            "tentative",
            "delegated"
        ]
    );
    keyword_case!(EventStatus, ["confirmed", "tentative", "cancelled"]);
    keyword_case!(
        RefusalReason,
        [
            "unknown-mailbox",
            "not-an-organizer",
            "authentication-failed",
            "organizer-mismatch",
            "stale-organizer-message",
            "unknown-event",
            "unusable-event",
            "event-cancelled",
            "event-ended",
            "cancellation-pending",
            "suppressed",
            "own-address",
            "unsendable",
            "unknown-invitation",
            "wrong-tenant",
            "stale-reply",
            "no-answer",
            "unknown-bounce",
            "not-actionable",
            "unreadable",
            "ambiguous-message",
        ]
    );
    // The reports' names are the keywords; the iCalendar words are the same
    // in upper case.
    for s in <ParticipationStatus as calinvite_core::Keyword>::ALL {
        assert_eq!(s.as_str(), s.keyword().to_ascii_uppercase());
        assert_eq!(ParticipationStatus::parse(s.keyword()), Some(*s));
    }
    for s in <DeliveryState as calinvite_core::Keyword>::ALL {
        assert_eq!(s.as_str(), s.keyword());
    }
}

#[test]
fn tenants_are_built_with_constructors() {
    use calinvite_core::lifecycle::{
        AllowEntry, AuthPolicy, DomainOwner, OrganizerAccount, OrganizerId, OwnerId, Scope,
    };
    use calinvite_core::{EmailAddress, WebUrl};
    let addr = |s: &str| EmailAddress::parse(s).unwrap();

    let id = OwnerId::new(7);
    assert_eq!(id.get(), 7);
    assert_eq!(OrganizerId::new(3).get(), 3);
    let scope = Scope::new(id, OrganizerId::new(3));
    assert_eq!((scope.owner, scope.organizer), (id, OrganizerId::new(3)));

    let settings = Settings::default().with_auth(AuthPolicy::Dmarc);
    let links = WebUrl::parse("https://rsvp.example.com/").unwrap();
    let owner = DomainOwner::new(
        id,
        "Example Events",
        "events.example.com",
        addr("create@events.example.com"),
        addr("rsvp@events.example.com"),
        addr("bounces@events.example.com"),
    );
    assert_eq!(owner.links_base, None);
    assert_eq!(owner.settings, Settings::default());
    let owner = owner.with_links_base(links.clone()).with_settings(settings);
    assert_eq!(owner.name, "Example Events");
    assert_eq!(owner.mail_domain, "events.example.com");
    assert_eq!(owner.links_base, Some(links));
    assert_eq!(owner.settings, settings);
    assert!(owner.serves(&addr("rsvp@events.example.com")));
    assert!(owner.serves(&addr("create@events.example.com")));
    assert!(owner.serves(&addr("bounces@events.example.com")));

    let organizer = OrganizerAccount::new(scope, "Billing", addr("billing@example.com"));
    assert!(
        !organizer.allows(&addr("billing@example.com")),
        "nobody yet"
    );
    assert_eq!(organizer.settings, None);
    let organizer = organizer
        .allow_domain("Example.COM")
        .allow_address(addr("ops@partner.example"))
        .with_settings(settings);
    assert_eq!(
        organizer.allow,
        vec![
            AllowEntry::Domain("example.com".into()),
            AllowEntry::Address(addr("ops@partner.example")),
        ]
    );
    assert!(organizer.allows(&addr("anyone@example.com")));
    assert!(organizer.allows(&addr("ops@partner.example")));
    assert!(!organizer.allows(&addr("someone@sub.example.com")));
    assert_eq!(organizer.settings, Some(settings));
    assert_eq!(organizer.notify, addr("billing@example.com"));
}
