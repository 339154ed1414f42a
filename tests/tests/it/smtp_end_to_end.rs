//! The whole system on one machine, over real SMTP, with a real Postfix:
//!
//! 1. the organizer's mail system submits an invitation (`sendmail`) to
//!    calinvite's ingest address; Postfix relays it to calinvite's listener,
//!    which records the event;
//! 2. the platform invites four guests; its `Worker` sends the invitations
//!    through `SmtpRelay` to Postfix, which delivers them into the guests'
//!    Maildir;
//! 3. three guests' calendars read what they received and answer Yes, Maybe
//!    and No with iMIP REPLYs sent through Postfix to the invitation's reply
//!    address, which Postfix relays to the listener;
//! 4. the organizer edits the event: the update reaches the Yes and Maybe
//!    guests only; the organizer deletes it: the cancellation reaches all four;
//! 5. the report and the CSV count what happened.
//!
//! Once on SQLite, once on PostgreSQL. Fails, never skips, when Postfix or
//! PostgreSQL is missing (scripts/test.sh starts both).

#![allow(clippy::unwrap_used)]
#![allow(
    clippy::disallowed_methods,
    reason = "a real system: real time, for Date headers and waiting"
)]

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use calinvite::{Worker, WorkerConfig};
use calinvite_core::inbound::{
    AuthVerdict, InboundEnvelope, InboundKind, InboundLimits, parse_inbound,
};
use calinvite_core::lifecycle::report::{event_csv, event_report};
use calinvite_core::lifecycle::{
    AllowEntry, AuthPolicy, DomainOwner, InvitationSource, OrganizerAccount, OrganizerId, OwnerId,
    Pipeline, Scope, Settings, Store, Transport,
};
use calinvite_core::{
    Clock, EmailAddress, EventCode, ParticipationStatus, Recipient, Sequence, WebUrl,
};
use calinvite_smtp::listener::{Listener, ListenerConfig, NoVerification};
use calinvite_smtp::relay::{RelayConfig, SmtpRelay};
use calinvite_store::system::{OsRandom, SystemClock};
use calinvite_store::{SqlOptions, SqlStore};
use calinvite_tests::postfix;
use chrono::{TimeDelta, Utc};

/// The listener's port is Postfix's relay target: one system at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const ORGANIZER: &str = "ana@mailbox.test";
const INGEST: &str = "create@calinvite.test";

fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

/// Waits up to 60 s for `check` to hold, polling.
async fn eventually<F, Fut, T>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..600 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out after 60 s waiting for {what} (see Postfix's log)");
}

/// The organizer's calendar: a REQUEST (or CANCEL) for `uid` at `sequence`.
fn organizer_message(uid: &str, sequence: u32, method: &str, start: &str, title: &str) -> Vec<u8> {
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
    let status = if method == "CANCEL" {
        "CANCELLED"
    } else {
        "CONFIRMED"
    };
    let ics = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Example Corp//Calendar 1.0//EN\r\n\
         METHOD:{method}\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nSEQUENCE:{sequence}\r\n\
         DTSTAMP:{stamp}\r\nDTSTART;TZID=Europe/Madrid:{start}T180000\r\n\
         DTEND;TZID=Europe/Madrid:{start}T200000\r\nSUMMARY:{title}\r\n\
         DESCRIPTION:Drinks and demos.\r\nLOCATION:Calle Mayor 1\\, Madrid\r\n\
         ORGANIZER;CN=Ana:mailto:{ORGANIZER}\r\n\
         ATTENDEE;CN=Ana;PARTSTAT=ACCEPTED:mailto:{ORGANIZER}\r\n\
         ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:{INGEST}\r\n\
         STATUS:{status}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    format!(
        "From: Ana <{ORGANIZER}>\r\nTo: {INGEST}\r\nSubject: {title}\r\n\
         Date: {}\r\nMessage-ID: <{uid}.{sequence}.{method}>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n{title}\r\n\
         --b\r\nContent-Type: text/calendar; charset=UTF-8; method={method}\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{ics}--b--\r\n",
        Utc::now().to_rfc2822(),
    )
    .into_bytes()
}

/// Submits `message` from the organizer with Postfix's `sendmail`.
fn sendmail(message: &[u8], to: &str) {
    let mut child = Command::new("/usr/sbin/sendmail")
        .args(["-i", "-f", ORGANIZER, to])
        .stdin(Stdio::piped())
        .spawn()
        .expect("Postfix's sendmail (scripts/postfix.sh installs Postfix)");
    child.stdin.take().unwrap().write_all(message).unwrap();
    assert!(child.wait().unwrap().success(), "sendmail failed");
}

/// What a guest's calendar reads from a delivered invitation.
struct Held {
    uid: String,
    sequence: Sequence,
    reply_to: String,
    method: String,
}

fn read_delivered(bytes: &[u8], to: &str) -> Held {
    let envelope = InboundEnvelope {
        mail_from: None,
        rcpt_to: vec![to.to_string()],
        peer: None,
    };
    let m = parse_inbound(
        bytes,
        &envelope,
        &AuthVerdict::default(),
        &InboundLimits::default(),
    );
    let method = m.method.clone().unwrap_or_default();
    let identity = match m.kind {
        InboundKind::OrganizerRequest(r) => r.identity,
        InboundKind::OrganizerCancel(c) => c.identity,
        other => panic!("{to} received {other:?}"),
    };
    Held {
        uid: identity.uid,
        sequence: identity.sequence,
        reply_to: identity
            .organizer
            .map(|o| o.address().as_str().to_string())
            .unwrap(),
        method,
    }
}

/// A guest's calendar answers what it holds.
fn reply_message(guest: &str, held: &Held, partstat: &str) -> Vec<u8> {
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
    let ics = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Guest//Calendar//EN\r\nMETHOD:REPLY\r\n\
         BEGIN:VEVENT\r\nUID:{uid}\r\nSEQUENCE:{seq}\r\nDTSTAMP:{stamp}\r\n\
         ORGANIZER:mailto:{to}\r\nATTENDEE;PARTSTAT={partstat}:mailto:{guest}\r\n\
         END:VEVENT\r\nEND:VCALENDAR\r\n",
        uid = held.uid,
        seq = held.sequence.get(),
        to = held.reply_to,
    );
    format!(
        "From: {guest}\r\nTo: {to}\r\nSubject: {partstat}\r\nDate: {date}\r\n\
         Message-ID: <{partstat}.{guest}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/calendar; charset=UTF-8; method=REPLY\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{ics}",
        to = held.reply_to,
        date = Utc::now().to_rfc2822(),
    )
    .into_bytes()
}

async fn whole_system<S: Store + 'static>(store: S, label: &str) {
    postfix::require();
    let _turn = ONE_AT_A_TIME.lock().await;
    let run = format!(
        "{label}{}x{}",
        std::process::id(),
        Utc::now().timestamp_micros()
    );

    // The platform: one domain owner, one organizer, organizer mail trusted
    // by its allow-list (loopback has no DNS for SPF/DKIM).
    let owner = {
        let mut owner = DomainOwner::new(
            OwnerId(1),
            "Example Events",
            "calinvite.test",
            addr(INGEST),
            addr("rsvp@calinvite.test"),
            addr("bounces@calinvite.test"),
        );
        owner.links_base = WebUrl::parse("https://calinvite.test/").ok();
        owner
    };
    let scope = Scope {
        owner: owner.id,
        organizer: OrganizerId(1),
    };
    store.put_owner(owner).await.unwrap();
    store
        .put_organizer(
            OrganizerAccount::new(scope, "Ana", addr(ORGANIZER))
                .with_allow_list(vec![AllowEntry::Address(addr(ORGANIZER))])
                .with_settings({
                    let mut s = Settings::default();
                    s.auth = AuthPolicy::AllowListOnly;
                    s
                }),
        )
        .await
        .unwrap();
    let relay = SmtpRelay::new(
        RelayConfig::plaintext("127.0.0.1", 25)
            .helo_name("calinvite.test")
            .max_connections(2),
    )
    .unwrap();
    let pipeline = Arc::new(Pipeline::new(
        store,
        relay,
        Arc::new(SystemClock) as Arc<dyn Clock>,
        Box::new(OsRandom),
    ));
    let listener = Listener::bind(
        ("127.0.0.1", postfix::listener_port()),
        ListenerConfig::new("mx.calinvite.test"),
        pipeline.clone(),
        NoVerification,
    )
    .await
    .expect("bind the listener on Postfix's relay port");
    let handle = listener.spawn().unwrap();

    // 1. The organizer's invitation arrives over SMTP.
    let uid = format!("{run}@example.com");
    let day = (Utc::now() + TimeDelta::days(20))
        .format("%Y%m%d")
        .to_string();
    sendmail(
        &organizer_message(&uid, 0, "REQUEST", &day, "Launch party"),
        INGEST,
    );
    let event = eventually("the organizer's event in the store", || async {
        pipeline.store().event_by_uid(scope, &uid).await.unwrap()
    })
    .await;
    let code: EventCode = event.code().clone();
    assert_eq!(event.latest().summary().as_str(), "Launch party");

    // 2. Invitations out through Postfix.
    let guests: Vec<String> = (0..4).map(|i| format!("g{i}.{run}@mailbox.test")).collect();
    for g in &guests {
        pipeline
            .invite(scope, &code, Recipient::new(addr(g)), InvitationSource::Api)
            .await
            .unwrap();
    }
    // The platform's worker drains the queue: four invitations, and the
    // organizer's notice of the new event code.
    let worker = Worker::new(pipeline.clone(), WorkerConfig::default());
    let sent = worker.run_until_idle().await.unwrap();
    assert_eq!((sent.attempts(), sent.submitted), (5, 5), "{sent:?}");
    eventually("the organizer's notice with the event code", || async {
        postfix::delivered_to(ORGANIZER)
            .iter()
            .any(|m| String::from_utf8_lossy(m).contains(code.as_str()))
            .then_some(())
    })
    .await;
    let mut held = Vec::new();
    for g in &guests {
        let msgs = eventually("an invitation in the Maildir", || async {
            let m = postfix::delivered_to(g);
            (!m.is_empty()).then_some(m)
        })
        .await;
        let h = read_delivered(&msgs[0], g);
        assert_eq!(h.method, "REQUEST");
        assert_eq!(
            h.reply_to, "rsvp@calinvite.test",
            "answers come back to calinvite"
        );
        held.push(h);
    }

    // 3. Three guests answer over SMTP, through Postfix to the listener.
    let answers = [
        ("ACCEPTED", ParticipationStatus::Accepted),
        ("TENTATIVE", ParticipationStatus::Tentative),
        ("DECLINED", ParticipationStatus::Declined),
    ];
    let answerer =
        SmtpRelay::new(RelayConfig::plaintext("127.0.0.1", 25).helo_name("mailbox.test")).unwrap();
    for (i, (partstat, _)) in answers.iter().enumerate() {
        let envelope = calinvite_core::Envelope::new(addr(&guests[i]), addr(&held[i].reply_to));
        answerer
            .send_raw(&envelope, &reply_message(&guests[i], &held[i], partstat))
            .await
            .unwrap();
    }
    eventually("three answers recorded", || async {
        let invs = pipeline.invitations(scope, &code).await.unwrap();
        let done = answers.iter().enumerate().all(|(i, (_, want))| {
            invs.iter().any(|inv| {
                inv.recipient().address().as_str() == guests[i] && inv.status() == Some(*want)
            })
        });
        done.then_some(())
    })
    .await;

    // 4a. The organizer moves the event: Yes and Maybe get the update.
    let later = (Utc::now() + TimeDelta::days(21))
        .format("%Y%m%d")
        .to_string();
    sendmail(
        &organizer_message(&uid, 1, "REQUEST", &later, "Launch party (moved)"),
        INGEST,
    );
    eventually("the update recorded", || async {
        let e = pipeline.store().event_by_uid(scope, &uid).await.unwrap()?;
        (e.latest().summary().as_str() == "Launch party (moved)").then_some(())
    })
    .await;
    let sent = worker.run_until_idle().await.unwrap();
    assert_eq!(
        (sent.attempts(), sent.submitted),
        (2, 2),
        "updates to Yes and Maybe: {sent:?}"
    );
    for (i, g) in guests.iter().enumerate() {
        let expect = if i < 2 { 2 } else { 1 };
        let msgs = eventually("the update in the Maildir", || async {
            let m = postfix::delivered_to(g);
            (m.len() >= expect).then_some(m)
        })
        .await;
        if i < 2 {
            let h = read_delivered(&msgs[1], g);
            assert_eq!((h.method.as_str(), h.sequence.get()), ("REQUEST", 1), "{g}");
        }
    }

    // 4b. The organizer deletes it: everyone gets the cancellation.
    sendmail(
        &organizer_message(&uid, 2, "CANCEL", &later, "Launch party (moved)"),
        INGEST,
    );
    eventually("the cancellation recorded", || async {
        let e = pipeline.store().event_by_uid(scope, &uid).await.unwrap()?;
        e.cancelled().then_some(())
    })
    .await;
    let sent = worker.run_until_idle().await.unwrap();
    assert_eq!(
        (sent.attempts(), sent.submitted),
        (4, 4),
        "a cancellation to each: {sent:?}"
    );
    for (i, g) in guests.iter().enumerate() {
        let expect = if i < 2 { 3 } else { 2 };
        let msgs = eventually("the cancellation in the Maildir", || async {
            let m = postfix::delivered_to(g);
            (m.len() >= expect).then_some(m)
        })
        .await;
        assert_eq!(msgs.len(), expect, "{g}: nothing doubled");
        let h = read_delivered(msgs.last().unwrap(), g);
        assert_eq!(h.method, "CANCEL", "{g}");
    }

    // 5. The report and the CSV.
    let report = event_report(&pipeline, scope, &code).await.unwrap();
    assert_eq!(report.invitations, 4);
    assert_eq!(report.submitted, 4);
    // The relay asks for no success notifications: the report counts what
    // Postfix accepted and shows no confirmed-delivery count.
    assert!(!report.confirms_delivery);
    let text = report.to_text();
    assert!(text.contains("\nAccepted by mail server  4\n"), "{text}");
    assert!(!text.contains("Delivery confirmed"), "{text}");
    assert_eq!(
        (
            report.accepted,
            report.tentative,
            report.declined,
            report.no_answer
        ),
        (1, 1, 1, 1)
    );
    assert!(report.refusals.is_empty(), "{:?}", report.refusals);
    let csv = event_csv(&pipeline, scope, &code).await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 5, "{csv}");
    for (i, (partstat, _)) in answers.iter().enumerate() {
        let row = lines.iter().find(|l| l.contains(&guests[i])).unwrap();
        assert!(row.to_ascii_uppercase().contains(partstat), "{row}");
    }

    answerer.close().await;
    pipeline.transport().close().await;
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_system_over_smtp_on_sqlite() {
    let dir = std::env::temp_dir().join(format!(
        "calinvite-e2e-{}-{}",
        std::process::id(),
        Utc::now().timestamp_micros()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqlStore::open(&format!("sqlite://{}/e2e.db?mode=rwc", dir.display()))
        .await
        .unwrap();
    whole_system(store, "sqlite").await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_system_over_smtp_on_postgres() {
    let url = std::env::var("CALINVITE_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!(
        "e2e_{}_{}",
        std::process::id(),
        Utc::now().timestamp_micros()
    );
    let store = SqlStore::open_with(&url, SqlOptions::default().schema(schema.clone()))
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url}: {e} (scripts/postgres.sh starts one)"));
    let cleanup = store.clone();
    whole_system(store, "pg").await;
    cleanup.drop_schema(&schema).await.unwrap();
}
