//! Embedding: the pipeline builder, the single-tenant set-up and its
//! registration commands, events created from a draft, and a failing
//! identifier source.

#![allow(clippy::unwrap_used)] // a test fails loudly on the first unexpected error

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use calinvite_core::inbound::{AuthVerdict, InboundEnvelope};
use calinvite_core::lifecycle::{
    AllowEntry, DomainOwner, InvitationSource, MemoryStore, OrganizerAccount, OrganizerId, Outcome,
    OwnerId, Pipeline, PipelineError, RecordingTransport, Scope, SingleTenant, Store,
};
use calinvite_core::{
    EmailAddress, EventDraft, FixedClock, IdSource, IdSourceError, InvitationUid,
    ParticipationStatus, Recipient, Schedule, SequentialIds,
};
use chrono::{NaiveDate, TimeZone as _, Utc};

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(f).poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => unreachable!("a memory-store future waited"),
    }
}

fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap(),
    ))
}

fn pipeline() -> Pipeline<MemoryStore, RecordingTransport> {
    Pipeline::builder(MemoryStore::new(), RecordingTransport::new())
        .clock(clock())
        .ids(SequentialIds::new(7))
        .build()
}

fn tenant() -> SingleTenant {
    SingleTenant::new("events.example.com", "Billing", "billing@example.com").unwrap()
}

fn draft() -> EventDraft {
    let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    EventDraft::new("Invoice 2026-117 due", Schedule::all_day(day, day).unwrap())
}

fn reply(uid: &InvitationUid, who: &str, partstat: &str) -> Vec<u8> {
    format!(
        "From: {who}\r\nTo: rsvp@events.example.com\r\nSubject: {partstat}\r\n\
         Message-ID: <r1@client.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/calendar; charset=UTF-8; method=REPLY\r\n\r\n\
         BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Client//EN\r\nMETHOD:REPLY\r\n\
         BEGIN:VEVENT\r\nUID:{uid}\r\nSEQUENCE:0\r\nDTSTAMP:20261122T100000Z\r\n\
         ORGANIZER:mailto:rsvp@events.example.com\r\n\
         ATTENDEE;PARTSTAT={partstat}:mailto:{who}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    .into_bytes()
}

#[test]
fn four_steps_send_an_invitation_and_record_the_reply() {
    let pipeline = pipeline();
    let scope = block_on(pipeline.register(&tenant())).unwrap();
    assert_eq!(scope, SingleTenant::SCOPE);

    let code = block_on(pipeline.create_event(scope, draft())).unwrap();
    let event = block_on(pipeline.event(scope, &code)).unwrap();
    // The draft named no organizer: the account's address and name.
    assert_eq!(
        event.latest().organizer().address().as_str(),
        "billing@example.com"
    );
    assert_eq!(
        event
            .latest()
            .organizer()
            .name()
            .map(|n| n.as_str().to_owned()),
        Some("Billing".to_owned())
    );

    let jorg = Recipient::new(EmailAddress::parse("jorg@example.org").unwrap());
    let Outcome::Invited(token) =
        block_on(pipeline.invite(scope, &code, jorg, InvitationSource::Api)).unwrap()
    else {
        panic!("not invited")
    };
    assert_eq!(block_on(pipeline.run_until_idle()).unwrap(), 1);
    let sent = pipeline.transport().sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].envelope.to().as_str(), "jorg@example.org");
    assert_eq!(
        sent[0].envelope.from().as_str(),
        "bounces@events.example.com"
    );

    let uid = InvitationUid::new(code.clone(), token.clone(), "events.example.com").unwrap();
    let envelope = InboundEnvelope {
        mail_from: Some("jorg@example.org".into()),
        rcpt_to: vec!["rsvp@events.example.com".into()],
        peer: None,
    };
    let outcome = block_on(pipeline.receive(
        &reply(&uid, "jorg@example.org", "ACCEPTED"),
        envelope,
        AuthVerdict::default(),
    ))
    .unwrap();
    assert_eq!(outcome, Outcome::AnswerRecorded(token));
    let invitations = block_on(pipeline.invitations(scope, &code)).unwrap();
    assert_eq!(invitations[0].status(), Some(ParticipationStatus::Accepted));
}

#[test]
fn an_application_notice_is_written_not_queued_and_never_to_a_suppressed_address() {
    use calinvite_core::lifecycle::{NoticeText, RefusalReason, SuppressionReason};
    let pipeline = pipeline();
    let scope = block_on(pipeline.register(&tenant())).unwrap();
    let newcomer = EmailAddress::parse("Newcomer@Example.org").unwrap();
    let text = NoticeText::new("Your invitation is held", "Register with this link: …");
    let (envelope, bytes) =
        block_on(pipeline.compose_notice(scope.owner, &newcomer, &text)).unwrap();
    assert_eq!(envelope.to().as_str(), "newcomer@example.org");
    assert_eq!(envelope.from().as_str(), "bounces@events.example.com");
    let message = String::from_utf8_lossy(&bytes).into_owned();
    assert!(
        message.contains("Subject: Your invitation is held"),
        "{message}"
    );
    assert!(message.contains("To: <newcomer@example.org>"), "{message}");
    assert!(message.contains("Register with this link"), "{message}");
    // Nothing was queued: the message is the application's to send.
    assert_eq!(block_on(pipeline.run_until_idle()).unwrap(), 0);
    assert!(pipeline.transport().sent().is_empty());
    // Suppressed: refused.
    block_on(pipeline.suppress(scope.owner, newcomer.clone(), SuppressionReason::Complaint))
        .unwrap();
    let e = block_on(pipeline.compose_notice(scope.owner, &newcomer, &text)).unwrap_err();
    assert!(
        matches!(&e, PipelineError::Refused(r) if r.reason == RefusalReason::Suppressed),
        "{e:?}"
    );
    // An owner that does not exist is not found.
    let e = block_on(pipeline.compose_notice(OwnerId(99), &newcomer, &text)).unwrap_err();
    assert!(matches!(e, PipelineError::NotFound(_)), "{e:?}");
}

#[test]
fn a_draft_may_name_its_own_organizer() {
    let pipeline = pipeline();
    let tenant = tenant().allow(AllowEntry::Domain("example.com".into()));
    let scope = block_on(pipeline.register(&tenant)).unwrap();
    let shown = EmailAddress::parse("accounts@example.com").unwrap();
    let code =
        block_on(pipeline.create_event(scope, draft().organizer(shown.clone(), None))).unwrap();
    let event = block_on(pipeline.event(scope, &code)).unwrap();
    assert_eq!(event.latest().organizer().address(), &shown);
    assert!(event.latest().organizer().name().is_none());
}

#[test]
fn an_unusable_draft_is_refused_and_stores_nothing() {
    let pipeline = pipeline();
    let scope = block_on(pipeline.register(&tenant())).unwrap();
    let err = block_on(pipeline.create_event(scope, draft().url("not a url"))).unwrap_err();
    assert!(matches!(err, PipelineError::Refused(_)), "{err:?}");
    let unknown = block_on(pipeline.create_event(
        Scope {
            owner: OwnerId(1),
            organizer: OrganizerId(9),
        },
        draft(),
    ))
    .unwrap_err();
    assert!(matches!(unknown, PipelineError::NotFound(_)), "{unknown:?}");
}

#[test]
fn registering_is_idempotent_and_writes_the_tenant() {
    let pipeline = pipeline();
    let tenant = tenant().mailboxes("new", "answers", "returns").unwrap();
    let first = block_on(pipeline.register(&tenant)).unwrap();
    let again = block_on(pipeline.register(&tenant)).unwrap();
    assert_eq!(first, again);
    let owner = block_on(pipeline.store().owner(OwnerId(1)))
        .unwrap()
        .unwrap();
    assert_eq!(&owner, tenant.owner());
    assert_eq!(owner.ingest.as_str(), "new@events.example.com");
    assert_eq!(owner.reply.as_str(), "answers@events.example.com");
    assert_eq!(owner.bounce.as_str(), "returns@events.example.com");
    let organizers = block_on(pipeline.store().organizers(OwnerId(1))).unwrap();
    assert_eq!(organizers, vec![tenant.organizer().clone()]);
}

fn owner(id: u64, ingest: &str, reply: &str, bounce: &str) -> DomainOwner {
    DomainOwner::new(
        OwnerId(id),
        "Example",
        "events.example.com",
        EmailAddress::parse(ingest).unwrap(),
        EmailAddress::parse(reply).unwrap(),
        EmailAddress::parse(bounce).unwrap(),
    )
}

#[test]
fn an_owner_with_mailboxes_not_its_own_is_misuse() {
    let pipeline = pipeline();
    let misuse = |o: DomainOwner| match block_on(pipeline.register_owner(o)) {
        Err(PipelineError::Misuse(why)) => why,
        other => panic!("expected misuse, got {other:?}"),
    };
    let same = misuse(owner(
        1,
        "create@events.example.com",
        "create@events.example.com",
        "bounces@events.example.com",
    ));
    assert!(same.contains("the same"), "{same}");
    let outside = misuse(owner(
        1,
        "create@events.example.com",
        "rsvp@elsewhere.example.net",
        "bounces@events.example.com",
    ));
    assert!(outside.contains("not in the mail domain"), "{outside}");
    // A subdomain of the mail domain is the owner's own.
    block_on(pipeline.register_owner(owner(
        1,
        "create@events.example.com",
        "rsvp@events.example.com",
        "bounces@mx.events.example.com",
    )))
    .unwrap();
    // Another owner cannot take one of those mailboxes.
    let taken = misuse(owner(
        2,
        "create2@events.example.com",
        "rsvp@events.example.com",
        "bounces2@events.example.com",
    ));
    assert!(taken.contains("already a mailbox"), "{taken}");
    assert!(
        block_on(pipeline.store().owner(OwnerId(2)))
            .unwrap()
            .is_none()
    );
}

#[test]
fn an_organizer_needs_its_owner_and_a_sender() {
    let pipeline = pipeline();
    let account = OrganizerAccount::new(
        Scope::new(OwnerId(1), OrganizerId(1)),
        "Billing",
        EmailAddress::parse("billing@example.com").unwrap(),
    );
    let missing = block_on(pipeline.register_organizer(account.clone())).unwrap_err();
    assert!(matches!(missing, PipelineError::NotFound(_)), "{missing:?}");
    block_on(pipeline.register_owner(tenant().owner().clone())).unwrap();
    let nobody = block_on(pipeline.register_organizer(account)).unwrap_err();
    assert!(matches!(nobody, PipelineError::Misuse(_)), "{nobody:?}");
}

/// A source that supplies `left` draws, then fails.
struct RunsDry {
    left: AtomicUsize,
    inner: SequentialIds,
}

impl IdSource for RunsDry {
    fn fill(&self, dest: &mut [u8]) -> Result<(), IdSourceError> {
        match self
            .left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        {
            Ok(_) => self.inner.fill(dest),
            Err(_) => Err(IdSourceError::new("no entropy left")),
        }
    }
}

#[test]
fn a_failing_id_source_fails_the_command_and_changes_nothing() {
    let pipeline = Pipeline::builder(MemoryStore::new(), RecordingTransport::new())
        .clock(clock())
        .ids(RunsDry {
            left: AtomicUsize::new(1),
            inner: SequentialIds::new(7),
        })
        .build();
    let scope = block_on(pipeline.register(&tenant())).unwrap();
    // One draw: the event's code.
    let code = block_on(pipeline.create_event(scope, draft())).unwrap();
    let jorg = Recipient::new(EmailAddress::parse("jorg@example.org").unwrap());
    let err = block_on(pipeline.invite(scope, &code, jorg, InvitationSource::Api)).unwrap_err();
    assert!(matches!(err, PipelineError::IdSource(_)), "{err:?}");
    assert!(err.to_string().contains("no entropy left"), "{err}");
    assert!(
        block_on(pipeline.invitations(scope, &code))
            .unwrap()
            .is_empty()
    );
    assert_eq!(block_on(pipeline.run_until_idle()).unwrap(), 0);
    let again = block_on(pipeline.create_event(scope, draft())).unwrap_err();
    assert!(matches!(again, PipelineError::IdSource(_)), "{again:?}");
}

#[test]
fn the_builder_sets_options() {
    let pipeline = Pipeline::builder(MemoryStore::new(), RecordingTransport::new())
        .ids(SequentialIds::new(1))
        .batch(3)
        .clock(clock())
        .build();
    assert_eq!(pipeline.options().batch, 3);
    assert_eq!(
        pipeline.now(),
        Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap()
    );
}

mod notices {
    use super::*;
    use calinvite_core::lifecycle::{
        CounterNotice, CreatedNotice, NoticeTemplate, NoticeText, RefusedNotice, ReportNotice,
    };

    /// German notices, as an OEM that sends German invitations writes them.
    struct German;

    impl NoticeTemplate for German {
        fn created(&self, n: &CreatedNotice<'_>) -> NoticeText {
            NoticeText::new(
                format!("Veranstaltungscode {}", n.event.code()),
                "Ihre Veranstaltung ist bereit.\n",
            )
        }
        fn refused(&self, n: &RefusedNotice<'_>) -> NoticeText {
            NoticeText::new("Nicht übernommen", format!("Grund: {}\n", n.refusal.reason))
        }
        fn counter(&self, n: &CounterNotice<'_>) -> NoticeText {
            NoticeText::new(
                format!("Neuer Terminvorschlag für „{}“", n.event.summary()),
                format!(
                    "{} schlägt einen anderen Termin vor: {} – {}.\nKommentar: {}\n",
                    n.who,
                    n.proposed_start.unwrap_or("?"),
                    n.proposed_end.unwrap_or("?"),
                    n.comment.unwrap_or("keiner"),
                ),
            )
        }
        fn report(&self, n: &ReportNotice<'_>) -> NoticeText {
            NoticeText::new(
                format!("Bericht für „{}“", n.event.summary()),
                format!("Einladungen: {}\n", n.report.invitations),
            )
        }
    }

    fn german_pipeline() -> Pipeline<MemoryStore, RecordingTransport> {
        Pipeline::builder(MemoryStore::new(), RecordingTransport::new())
            .clock(clock())
            .ids(SequentialIds::new(7))
            .notice_template(Arc::new(German))
            .build()
    }

    fn counter(uid: &InvitationUid) -> Vec<u8> {
        format!(
            "From: jorg@example.org\r\nTo: rsvp@events.example.com\r\nSubject: Neuer Termin\r\n\
             Message-ID: <c1@client.example>\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/calendar; charset=UTF-8; method=COUNTER\r\n\r\n\
             BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Client//EN\r\nMETHOD:COUNTER\r\n\
             BEGIN:VEVENT\r\nUID:{uid}\r\nSEQUENCE:0\r\nDTSTAMP:20261122T100000Z\r\n\
             ORGANIZER:mailto:rsvp@events.example.com\r\n\
             ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:jorg@example.org\r\n\
             DTSTART:20261203T190000Z\r\nDTEND:20261203T210000Z\r\nCOMMENT:Später?\r\n\
             END:VEVENT\r\nEND:VCALENDAR\r\n"
        )
        .into_bytes()
    }

    /// Subject and plain-text body of a sent message, decoded.
    fn read(bytes: &[u8]) -> (String, String) {
        let m = mail_parser::MessageParser::default().parse(bytes).unwrap();
        (
            m.subject().unwrap_or_default().to_owned(),
            m.body_text(0).unwrap_or_default().replace("\r\n", "\n"),
        )
    }

    /// Creates an event, invites jorg, sends the invitation, and has jorg
    /// propose another time and the organizer ask for a report; returns the
    /// notices sent (counter, report).
    fn counter_and_report(
        pipeline: &Pipeline<MemoryStore, RecordingTransport>,
    ) -> Vec<(String, String)> {
        let scope = block_on(pipeline.register(&tenant())).unwrap();
        let code = block_on(pipeline.create_event(scope, draft())).unwrap();
        let jorg = Recipient::new(EmailAddress::parse("jorg@example.org").unwrap());
        let Outcome::Invited(token) =
            block_on(pipeline.invite(scope, &code, jorg, InvitationSource::Api)).unwrap()
        else {
            panic!("not invited")
        };
        assert_eq!(block_on(pipeline.run_until_idle()).unwrap(), 1);
        let uid = InvitationUid::new(code.clone(), token.clone(), "events.example.com").unwrap();
        let envelope = InboundEnvelope {
            mail_from: Some("jorg@example.org".into()),
            rcpt_to: vec!["rsvp@events.example.com".into()],
            peer: None,
        };
        let outcome =
            block_on(pipeline.receive(&counter(&uid), envelope, AuthVerdict::default())).unwrap();
        assert_eq!(outcome, Outcome::CounterRecorded(token));
        block_on(pipeline.mail_report(scope, &code, None)).unwrap();
        assert_eq!(block_on(pipeline.run_until_idle()).unwrap(), 2);
        let sent = pipeline.transport().sent();
        assert_eq!(sent.len(), 3);
        sent[1..]
            .iter()
            .map(|s| {
                assert_eq!(s.envelope.to().as_str(), "billing@example.com");
                read(&s.bytes)
            })
            .collect()
    }

    #[test]
    fn an_oem_template_writes_german_notices_through_the_pipeline() {
        let notices = counter_and_report(&german_pipeline());
        let (subject, body) = &notices[0];
        assert_eq!(subject, "Neuer Terminvorschlag für „Invoice 2026-117 due“");
        assert!(
            body.starts_with("jorg@example.org schlägt einen anderen Termin vor: "),
            "{body}"
        );
        assert!(body.contains("Kommentar: Später?"), "{body}");
        let (subject, body) = &notices[1];
        assert_eq!(subject, "Bericht für „Invoice 2026-117 due“");
        assert_eq!(body.trim_end(), "Einladungen: 1");
    }

    #[test]
    fn the_default_notices_are_english_as_before() {
        let notices = counter_and_report(&pipeline());
        let (subject, body) = &notices[0];
        assert_eq!(subject, "New time proposed for \"Invoice 2026-117 due\"");
        assert!(
            body.starts_with(
                "jorg@example.org proposes another time for \"Invoice 2026-117 due\" (event code "
            ),
            "{body}"
        );
        assert!(body.contains("\n\nProposed start: "), "{body}");
        assert!(body.contains("\nComment: Später?\n\nTo accept, change the event in your calendar: the people it concerns get the update.\n"), "{body}");
        let (subject, body) = &notices[1];
        assert!(
            subject.starts_with("Report for \"Invoice 2026-117 due\" ("),
            "{subject}"
        );
        assert!(body.contains("Invitations"), "{body}");
    }
}
