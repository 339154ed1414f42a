#![allow(clippy::unwrap_used)]
//! `Pipeline::delivery_notice`: a sending service's bounce, complaint and
//! delivery notices mark invitations and suppress addresses, only for the
//! owner they reach, and every notice that cannot be applied is refused with
//! a recorded reason.

use std::sync::Arc;

use calinvite_core::lifecycle::report::{
    Report, Reports, event_report, organizer_report, owner_report,
};
use calinvite_core::lifecycle::{
    DeliveryNotice, DeliveryState, HistoryKind, InvitationSource, MemoryStore, NoticeEffect,
    Outcome, Pipeline, RecordingTransport, RefusalReason, Settings, SingleTenant, Store,
    SuppressionReason, Transport, TransportError,
};
use calinvite_core::{
    EmailAddress, Envelope, EventCode, EventDraft, FixedClock, InvitationToken, Recipient,
    Schedule, SequentialIds,
};
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
    let text = report.to_text();
    assert!(text.contains("\nSpam complaints          1\n"), "{text}");
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

/// A transport that confirms delivery, as SES does with its delivery
/// notifications handled: a recording transport that says so.
#[derive(Default)]
struct Confirming(RecordingTransport);

impl Transport for Confirming {
    async fn send_raw(&self, envelope: &Envelope, message: &[u8]) -> Result<(), TransportError> {
        self.0.send_raw(envelope, message).await
    }
    fn confirms_delivery(&self) -> bool {
        true
    }
}

/// The line of `text` that starts with `label`, if any.
fn line<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    text.lines().find(|l| l.starts_with(label))
}

#[test]
fn a_transport_that_does_not_confirm_delivery_shows_no_confirmed_count() {
    let s = new_scenario();
    let code = story(&s, &["ok@example.org", "quiet@example.org"]);
    let delivered = notice(&s, "ok@example.org", NoticeEffect::Delivered);
    block_on(s.pipeline.delivery_notice(delivered)).unwrap();
    let reports: [Report; 3] = [
        block_on(event_report(&s.pipeline, s.scope(), &code)).unwrap(),
        block_on(organizer_report(&s.pipeline, s.scope())).unwrap(),
        block_on(owner_report(&s.pipeline, s.owner.id)).unwrap(),
    ];
    for report in reports {
        // The count is kept; the recording transport, like the SMTP relay,
        // does not confirm every delivery, so the text does not show it.
        assert_eq!((report.submitted, report.delivery_confirmed), (2, 1));
        assert!(!report.confirms_delivery);
        let text = report.to_text();
        assert_eq!(
            line(&text, "Accepted by mail server"),
            Some("Accepted by mail server  2"),
            "{text}"
        );
        assert_eq!(line(&text, "Delivery confirmed"), None, "{text}");
        assert_eq!(
            line(&text, "Delivery confirmation"),
            Some("Delivery confirmation    not reported by this transport"),
            "{text}"
        );
    }
}

#[test]
fn a_reporting_process_says_whether_its_transport_confirms_delivery() {
    let s = new_scenario();
    let code = story(&s, &["ok@example.org", "quiet@example.org"]);
    let delivered = notice(&s, "ok@example.org", NoticeEffect::Delivered);
    block_on(s.pipeline.delivery_notice(delivered)).unwrap();
    let store = s.pipeline.store();

    let unsaid = block_on(event_report(&Reports::new(store), s.scope(), &code)).unwrap();
    assert!(!unsaid.confirms_delivery);
    assert_eq!(line(&unsaid.to_text(), "Delivery confirmed"), None);

    let confirming = Reports::new(store).confirming_delivery(true);
    let reports: [Report; 3] = [
        block_on(event_report(&confirming, s.scope(), &code)).unwrap(),
        block_on(organizer_report(&confirming, s.scope())).unwrap(),
        block_on(owner_report(&Arc::new(confirming), s.owner.id)).unwrap(),
    ];
    for report in reports {
        assert!(report.confirms_delivery);
        let text = report.to_text();
        assert_eq!(
            line(&text, "Delivery confirmed"),
            Some("Delivery confirmed       1"),
            "{text}"
        );
        assert_eq!(line(&text, "Delivery confirmation"), None, "{text}");
    }
}

#[test]
fn a_pipeline_over_a_confirming_transport_mails_the_confirmed_count() {
    let pipeline = Pipeline::builder(MemoryStore::new(), Confirming::default())
        .clock(Arc::new(FixedClock::new(
            chrono::DateTime::parse_from_rfc3339("2026-11-22T09:00:00Z")
                .unwrap()
                .with_timezone(&chrono::Utc),
        )))
        .ids(SequentialIds::new(7))
        .build();
    let tenant = SingleTenant::new("events.example.com", "Billing", "billing@example.com").unwrap();
    let scope = block_on(pipeline.register(&tenant)).unwrap();
    let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let draft = EventDraft::new("Invoice 2026-117 due", Schedule::all_day(day, day).unwrap());
    let code = block_on(pipeline.create_event(scope, draft)).unwrap();
    block_on(pipeline.invite(
        scope,
        &code,
        Recipient::new(addr("jorg@example.org")),
        InvitationSource::Api,
    ))
    .unwrap();
    assert_eq!(block_on(pipeline.run_until_idle()).unwrap(), 1);
    let sent = pipeline.transport().0.sent();
    let invitation = mail_parser::MessageParser::default()
        .parse(&sent[0].bytes[..])
        .unwrap();
    let delivered = DeliveryNotice::new(tenant.owner().bounce.clone(), NoticeEffect::Delivered)
        .with_message_id(format!("<{}>", invitation.message_id().unwrap()))
        .with_recipient(addr("jorg@example.org"));
    assert!(matches!(
        block_on(pipeline.delivery_notice(delivered)).unwrap(),
        Outcome::DeliveryRecorded(_)
    ));

    let report = block_on(event_report(&pipeline, scope, &code)).unwrap();
    assert!(
        report.confirms_delivery,
        "the pipeline's transport confirms"
    );
    assert_eq!((report.submitted, report.delivery_confirmed), (1, 1));

    block_on(pipeline.mail_report(scope, &code, None)).unwrap();
    assert_eq!(block_on(pipeline.run_until_idle()).unwrap(), 1);
    let sent = pipeline.transport().0.sent();
    let mailed = mail_parser::MessageParser::default()
        .parse(&sent[1].bytes[..])
        .unwrap();
    let body = mailed.body_text(0).unwrap().replace("\r\n", "\n");
    assert_eq!(
        line(&body, "Delivery confirmed"),
        Some("Delivery confirmed       1"),
        "{body}"
    );
    assert_eq!(
        line(&body, "Accepted by mail server"),
        Some("Accepted by mail server  1"),
        "{body}"
    );
}
