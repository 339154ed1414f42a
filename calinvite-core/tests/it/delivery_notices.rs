#![allow(clippy::unwrap_used)]
//! `Pipeline::delivery_notice`: a sending service's bounce, complaint and
//! delivery notices mark invitations and suppress addresses, only for the
//! owner they reach, and every notice that cannot be applied is refused with
//! a recorded reason.

use calinvite_core::lifecycle::{
    DeliveryNotice, DeliveryState, HistoryKind, InvitationSource, MemoryStore, NoticeEffect,
    Outcome, RefusalReason, Settings, Store, SuppressionReason,
};
use calinvite_core::{EmailAddress, EventCode, InvitationToken, Recipient};
use calinvite_tests::block_on;
use calinvite_tests::scenario::{CalendarEvent, Scenario};

fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

/// An event with one invitation per address, delivered; returns the code.
fn story(s: &Scenario<impl Store>, who: &[&str]) -> EventCode {
    let ev = CalendarEvent::launch("notices-1@example.com");
    let Outcome::EventCreated(code) = block_on(s.organizer_sends(&ev)).unwrap() else {
        panic!("event not created")
    };
    for w in who {
        block_on(s.pipeline.invite(
            s.scope(),
            &code,
            Recipient::new(addr(w)),
            InvitationSource::Api,
        ))
        .unwrap();
    }
    block_on(s.deliver()).unwrap();
    code
}

fn message_id(s: &Scenario<impl Store>, who: &str) -> String {
    s.calendar_inbox(who)
        .last()
        .unwrap()
        .message_id
        .clone()
        .unwrap()
}

fn token_of(s: &Scenario<impl Store>, code: &EventCode, who: &str) -> InvitationToken {
    block_on(s.pipeline.invitations(s.scope(), code))
        .unwrap()
        .into_iter()
        .find(|i| i.recipient().address() == &addr(who))
        .unwrap()
        .token()
        .clone()
}

fn state(s: &Scenario<impl Store>, code: &EventCode, who: &str) -> DeliveryState {
    block_on(s.pipeline.invitations(s.scope(), code))
        .unwrap()
        .into_iter()
        .find(|i| i.recipient().address() == &addr(who))
        .unwrap()
        .delivery()
}

fn notice(s: &Scenario<impl Store>, who: &str, effect: NoticeEffect) -> DeliveryNotice {
    DeliveryNotice::new(s.owner.bounce.clone(), effect)
        .with_message_id(format!("<{}>", message_id(s, who)))
        .with_recipient(addr(who))
}

fn refusals(s: &Scenario<impl Store>) -> Vec<RefusalReason> {
    block_on(s.pipeline.refusals(s.owner.id, None))
        .unwrap()
        .into_iter()
        .map(|r| r.refusal.reason)
        .collect()
}

fn new_scenario() -> Scenario<MemoryStore> {
    block_on(Scenario::new(MemoryStore::new(), Settings::default())).unwrap()
}

#[test]
fn delivered_notice_marks_the_invitation_delivered() {
    let s = new_scenario();
    let code = story(&s, &["jorg@example.org"]);
    let out = block_on(s.pipeline.delivery_notice(notice(
        &s,
        "jorg@example.org",
        NoticeEffect::Delivered,
    )))
    .unwrap();
    let token = token_of(&s, &code, "jorg@example.org");
    assert_eq!(out, Outcome::DeliveryRecorded(token.clone()));
    assert_eq!(
        state(&s, &code, "jorg@example.org"),
        DeliveryState::Delivered
    );
    let history = block_on(s.pipeline.history(s.scope(), &token)).unwrap();
    assert!(matches!(
        history.last().unwrap().kind,
        HistoryKind::Delivered
    ));
}

#[test]
fn permanent_bounce_suppresses_and_keeps_the_diagnostic() {
    let s = new_scenario();
    let code = story(&s, &["gone@example.org"]);
    let diagnostic = "Permanent/General: smtp; 550 5.1.1 user unknown";
    let out = block_on(s.pipeline.delivery_notice(notice(
        &s,
        "gone@example.org",
        NoticeEffect::Bounced {
            permanent: true,
            diagnostic: diagnostic.into(),
        },
    )))
    .unwrap();
    assert!(matches!(out, Outcome::DeliveryRecorded(_)), "{out:?}");
    assert_eq!(
        state(&s, &code, "gone@example.org"),
        DeliveryState::HardBounced
    );
    let sup = block_on(
        s.pipeline
            .store()
            .suppression(s.owner.id, &addr("gone@example.org")),
    )
    .unwrap()
    .unwrap();
    assert_eq!(sup.reason, SuppressionReason::HardBounce);
    let token = token_of(&s, &code, "gone@example.org");
    let history = block_on(s.pipeline.history(s.scope(), &token)).unwrap();
    match &history.last().unwrap().kind {
        HistoryKind::Bounced { permanent, detail } => {
            assert!(*permanent);
            assert_eq!(detail, diagnostic);
        }
        other => panic!("{other:?}"),
    }
    // A later invitation to the suppressed address is refused.
    let again = block_on(s.pipeline.invite(
        s.scope(),
        &code,
        Recipient::new(addr("GONE@example.org")),
        InvitationSource::Api,
    ));
    assert!(!matches!(again, Ok(Outcome::Invited(_))), "{again:?}");
}

#[test]
fn transient_bounce_is_soft_and_suppresses_nothing() {
    let s = new_scenario();
    let code = story(&s, &["full@example.org"]);
    block_on(s.pipeline.delivery_notice(notice(
        &s,
        "full@example.org",
        NoticeEffect::Bounced {
            permanent: false,
            diagnostic: "Transient/MailboxFull".into(),
        },
    )))
    .unwrap();
    assert_eq!(
        state(&s, &code, "full@example.org"),
        DeliveryState::SoftBounced
    );
    assert!(
        block_on(
            s.pipeline
                .store()
                .suppression(s.owner.id, &addr("full@example.org"))
        )
        .unwrap()
        .is_none()
    );
}

#[test]
fn complaint_suppresses_the_address() {
    let s = new_scenario();
    let code = story(&s, &["angry@example.org", "calm@example.org"]);
    let out = block_on(s.pipeline.delivery_notice(notice(
        &s,
        "angry@example.org",
        NoticeEffect::Complained {
            feedback_type: Some("abuse".into()),
        },
    )))
    .unwrap();
    assert!(matches!(out, Outcome::Unsubscribed(_)), "{out:?}");
    let sup = block_on(
        s.pipeline
            .store()
            .suppression(s.owner.id, &addr("angry@example.org")),
    )
    .unwrap()
    .unwrap();
    assert_eq!(sup.reason, SuppressionReason::Complaint);
    // The history says it was a complaint, and the reports count it as one.
    let invitations = block_on(s.pipeline.invitations(s.scope(), &code)).unwrap();
    let angry = invitations
        .iter()
        .find(|i| i.recipient().address().as_str() == "angry@example.org")
        .unwrap();
    let history = block_on(s.pipeline.history(s.scope(), angry.token())).unwrap();
    assert!(
        history.iter().any(|h| h.kind
            == HistoryKind::Complained {
                feedback_type: Some("abuse".into())
            }),
        "{history:?}"
    );
    let report = block_on(calinvite_core::lifecycle::report::event_report(
        &s.pipeline,
        s.scope(),
        &code,
    ))
    .unwrap();
    assert_eq!((report.complaints, report.unsubscribed), (1, 0));
    assert!(report.to_text().contains("Spam complaints      1"));
}

#[test]
fn the_invitation_tag_alone_is_enough() {
    let s = new_scenario();
    let code = story(&s, &["tagged@example.org"]);
    let token = token_of(&s, &code, "tagged@example.org");
    let n = DeliveryNotice::new(s.owner.bounce.clone(), NoticeEffect::Delivered)
        .with_invitation(token.clone());
    assert_eq!(
        block_on(s.pipeline.delivery_notice(n)).unwrap(),
        Outcome::DeliveryRecorded(token)
    );
}

#[test]
fn unusable_notices_are_refused_with_reasons() {
    let s = new_scenario();
    let code = story(&s, &["a@example.org", "b@example.org"]);

    // Sent from no mailbox calinvite serves: refused, no owner to record it for.
    let n = DeliveryNotice::new(addr("someone@elsewhere.example"), NoticeEffect::Delivered)
        .with_message_id(message_id(&s, "a@example.org"));
    let Outcome::Refused(r) = block_on(s.pipeline.delivery_notice(n)).unwrap() else {
        panic!("accepted")
    };
    assert_eq!(r.reason, RefusalReason::UnknownMailbox);

    // A Message-ID calinvite never wrote.
    let n = DeliveryNotice::new(s.owner.bounce.clone(), NoticeEffect::Delivered)
        .with_message_id("<0100018c@email.amazonses.com>");
    let Outcome::Refused(r) = block_on(s.pipeline.delivery_notice(n)).unwrap() else {
        panic!("accepted")
    };
    assert_eq!(r.reason, RefusalReason::UnknownBounce);

    // A recipient the invitation was not sent to.
    let n = DeliveryNotice::new(
        s.owner.bounce.clone(),
        NoticeEffect::Bounced {
            permanent: true,
            diagnostic: "550".into(),
        },
    )
    .with_message_id(message_id(&s, "a@example.org"))
    .with_recipient(addr("b@example.org"));
    let Outcome::Refused(r) = block_on(s.pipeline.delivery_notice(n)).unwrap() else {
        panic!("accepted")
    };
    assert_eq!(r.reason, RefusalReason::UnknownBounce);
    assert_eq!(state(&s, &code, "b@example.org"), DeliveryState::Sent);
    assert_eq!(state(&s, &code, "a@example.org"), DeliveryState::Sent);

    // Message-ID and tag naming different invitations.
    let n = DeliveryNotice::new(s.owner.bounce.clone(), NoticeEffect::Delivered)
        .with_message_id(message_id(&s, "a@example.org"))
        .with_invitation(token_of(&s, &code, "b@example.org"));
    let Outcome::Refused(r) = block_on(s.pipeline.delivery_notice(n)).unwrap() else {
        panic!("accepted")
    };
    assert_eq!(r.reason, RefusalReason::UnknownBounce);

    assert_eq!(refusals(&s).len(), 3, "{:?}", refusals(&s));
}

#[test]
fn a_notice_reaches_only_its_own_owners_invitations() {
    let store = std::sync::Arc::new(MemoryStore::new());
    let one = block_on(Scenario::with_tenant(
        store.clone(),
        Settings::default(),
        1,
        "events.example.com",
    ))
    .unwrap();
    let two = block_on(Scenario::with_tenant(
        store,
        Settings::default(),
        2,
        "events.example.net",
    ))
    .unwrap();
    let code = story(&one, &["shared@example.org"]);
    // Owner two's bounce mailbox reports on owner one's message.
    let n = DeliveryNotice::new(
        two.owner.bounce.clone(),
        NoticeEffect::Complained {
            feedback_type: None,
        },
    )
    .with_message_id(message_id(&one, "shared@example.org"));
    let Outcome::Refused(r) = block_on(two.pipeline.delivery_notice(n)).unwrap() else {
        panic!("accepted across owners")
    };
    assert_eq!(r.reason, RefusalReason::UnknownBounce);
    for (owner, s) in [(one.owner.id, &one), (two.owner.id, &two)] {
        assert!(
            block_on(
                s.pipeline
                    .store()
                    .suppression(owner, &addr("shared@example.org"))
            )
            .unwrap()
            .is_none()
        );
    }
    assert_eq!(
        state(&one, &code, "shared@example.org"),
        DeliveryState::Sent
    );
    assert_eq!(refusals(&two).len(), 1);
    assert!(refusals(&one).is_empty());
}
