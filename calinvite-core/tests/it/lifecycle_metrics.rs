//! The pipeline's metrics move with the commands it runs: real commands over
//! the in-memory store and recording transport, counters read back through
//! `Pipeline::metrics`.

use std::collections::BTreeMap;
use std::sync::Arc;

use calinvite_core::lifecycle::*;
use calinvite_core::*;
use calinvite_tests::block_on;
use chrono::{NaiveDate, TimeZone as _, Utc};

fn address(a: &str) -> EmailAddress {
    EmailAddress::parse(a).expect("address")
}

#[test]
fn metrics_count_commands_refusals_answers_and_deliveries() {
    let clock = Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap(),
    ));
    let pipeline = Pipeline::new(
        MemoryStore::new(),
        RecordingTransport::new(),
        clock,
        Box::new(SequentialIds::new(7)),
    );
    assert_eq!(pipeline.metrics(), MetricsSnapshot::default());
    let owner = DomainOwner::new(
        OwnerId(1),
        "Example Events",
        "events.example.com",
        address("create@events.example.com"),
        address("rsvp@events.example.com"),
        address("bounces@events.example.com"),
    );
    let scope = Scope {
        owner: owner.id,
        organizer: OrganizerId(1),
    };
    block_on(pipeline.store().put_owner(owner)).expect("owner");
    block_on(
        pipeline.store().put_organizer(
            OrganizerAccount::new(scope, "Billing", address("billing@example.com"))
                .with_allow_list(vec![AllowEntry::Domain("example.com".into())]),
        ),
    )
    .expect("organizer");
    let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let code = block_on(pipeline.create_event_with(scope, |code| {
        Event::builder(code)
            .summary("Invoice 2026-117 due")
            .schedule(Schedule::all_day(day, day).map_err(|e| e.to_string())?)
            .organizer(address("billing@example.com"), Some("Billing"))
            .build()
            .map_err(|e| e.to_string())
    }))
    .expect("event");
    let invite = |who: &str| {
        block_on(pipeline.invite(
            scope,
            &code,
            Recipient::new(address(who)),
            InvitationSource::Api,
        ))
        .expect("invite")
    };

    // Invited, then asked again (idempotent), then the organizer's own address.
    let Outcome::Invited(jorg) = invite("jorg@example.org") else {
        panic!("invited")
    };
    assert_eq!(
        invite("jorg@example.org"),
        Outcome::AlreadyInvited(jorg.clone())
    );
    let Outcome::Refused(r) = invite("billing@example.com") else {
        panic!("refused")
    };
    assert_eq!(r.reason, RefusalReason::OwnAddress);
    // An answer for a token nobody holds is refused too.
    let nobody = InvitationToken::parse(&"0".repeat(jorg.as_str().len())).expect("token");
    let unknown = block_on(pipeline.web_answer(OwnerId(1), &nobody, ParticipationStatus::Accepted))
        .expect("answered");
    assert!(
        matches!(unknown, Outcome::Refused(ref r) if r.reason == RefusalReason::UnknownInvitation)
    );

    let after_invites = pipeline.metrics();
    assert_eq!(after_invites.command("event_created"), 1);
    assert_eq!(after_invites.command("invited"), 1);
    assert_eq!(after_invites.command("already_invited"), 1);
    assert_eq!(after_invites.command("refused"), 2);
    assert_eq!(
        after_invites.refusals,
        BTreeMap::from([
            (RefusalReason::OwnAddress, 1),
            (RefusalReason::UnknownInvitation, 1)
        ])
    );
    assert_eq!(after_invites.deliveries_sent, 0);

    // The invitation goes out.
    let report = block_on(pipeline.deliver_one()).expect("delivered");
    assert!(matches!(report, Some(DeliveryReport::Sent(_))));
    assert_eq!(pipeline.metrics().deliveries_sent, 1);

    // Jorg answers Yes on the web page.
    let yes = block_on(pipeline.web_answer(OwnerId(1), &jorg, ParticipationStatus::Accepted))
        .expect("answer");
    assert_eq!(yes, Outcome::AnswerRecorded(jorg.clone()));

    // A transient failure is retried; a permanent one is given up.
    let Outcome::Invited(_) = invite("ana@example.org") else {
        panic!("invited")
    };
    pipeline
        .transport()
        .script(Err(TransportError::transient("421 try later")));
    let retried = block_on(pipeline.deliver_one()).expect("attempted");
    assert!(matches!(retried, Some(DeliveryReport::Retrying(..))));
    let Outcome::Invited(_) = invite("bo@example.org") else {
        panic!("invited")
    };
    pipeline
        .transport()
        .script(Err(TransportError::permanent("550 no such user")));
    let failed = block_on(pipeline.deliver_one()).expect("attempted");
    assert!(matches!(failed, Some(DeliveryReport::Failed(..))));

    let m = pipeline.metrics();
    assert_eq!(m.command("invited"), 3);
    assert_eq!(m.command("already_invited"), 1);
    assert_eq!(m.command("answer_recorded"), 1);
    assert_eq!(m.command("refused"), 2);
    assert_eq!(m.command("error"), 0);
    assert_eq!(m.answers, BTreeMap::from([("ACCEPTED", 1)]));
    assert_eq!(
        (m.deliveries_sent, m.deliveries_retried, m.deliveries_failed),
        (1, 1, 1)
    );
    assert_eq!(m.conflicts_retried, 0);
    // Only what was counted is there.
    assert_eq!(m.commands.values().sum::<u64>(), 1 + 3 + 1 + 1 + 2);
    assert_eq!(pipeline.transport().sent().len(), 1);
}
