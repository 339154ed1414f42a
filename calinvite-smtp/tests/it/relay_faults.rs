//! The SMTP relay client against a relay that misbehaves on cue: every
//! failure is classified (4xx and lost connections transient, 5xx
//! permanent), and through the delivery queue on SQLite nothing is lost or
//! sent twice.

#![allow(clippy::unwrap_used)]
#![allow(clippy::disallowed_methods, reason = "tests wait on real time")]

use crate::relay_support;

use std::sync::Arc;
use std::time::Duration;

use calinvite_core::lifecycle::{DeliveryState, HistoryKind, InvitationSource, Outcome, Transport};
use calinvite_core::{EmailAddress, Envelope, Recipient};
use calinvite_smtp::relay::{Credentials, RelayConfig, SmtpRelay};
use calinvite_store::SqlStore;
use relay_support::{
    FakeRelay, Fault, Options, Step, billing_pipeline, event, start_clock, tempdir,
};

fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

fn config(relay: &FakeRelay) -> RelayConfig {
    RelayConfig::plaintext("127.0.0.1", relay.addr.port())
        .helo_name("calinvite.test")
        .max_connections(2)
        .timeouts(
            Duration::from_secs(2),
            Duration::from_secs(2),
            Duration::from_secs(2),
        )
}

fn message(n: usize) -> Vec<u8> {
    format!(
        "From: events@calinvite.test\r\nTo: ana@example.net\r\nMessage-ID: <m{n}@calinvite.test>\r\n\
         Subject: test {n}\r\n\r\nline one\r\n.line starting with a dot\r\n\r\nlast\r\n"
    )
    .into_bytes()
}

fn envelope(to: &str) -> Envelope {
    Envelope::new(addr("bounces@calinvite.test"), addr(to))
}

/// (fault, expect permanent?, words the error must quote)
fn cases(chunking: bool) -> Vec<(Fault, bool, &'static str)> {
    let mut v = vec![
        (
            Fault::Reply(Step::Mail, 421, "4.3.2 shutting down"),
            false,
            "421 4.3.2 shutting down",
        ),
        (
            Fault::Reply(Step::Mail, 451, "4.3.0 try later"),
            false,
            "451 4.3.0 try later",
        ),
        (
            Fault::Reply(Step::Rcpt, 452, "4.5.3 too many recipients"),
            false,
            "452 4.5.3",
        ),
        (
            Fault::Reply(Step::Rcpt, 550, "5.7.1 relaying denied"),
            true,
            "550 5.7.1 relaying denied",
        ),
        (
            Fault::Reply(Step::Mail, 553, "5.7.1 sender not allowed"),
            true,
            "553 5.7.1",
        ),
        (
            Fault::Reply(Step::End, 554, "5.6.0 content rejected"),
            true,
            "554 5.6.0 content rejected",
        ),
        (
            Fault::Reply(Step::End, 451, "4.3.0 queue full"),
            false,
            "451 4.3.0 queue full",
        ),
        (
            Fault::Reply(Step::End, 421, "4.4.2 timeout"),
            false,
            "421 4.4.2",
        ),
        (Fault::DropMidData, false, "closed the connection"),
        (Fault::Stall(Step::Mail), false, "did not answer"),
        (Fault::Stall(Step::End), false, "did not answer"),
    ];
    if !chunking {
        v.push((
            Fault::Reply(Step::Data, 451, "4.3.0 not now"),
            false,
            "451 4.3.0 not now",
        ));
        v.push((Fault::Reply(Step::Data, 554, "5.3.0 no"), true, "554 5.3.0"));
    }
    v
}

async fn classify_all(options: Options, use_pipelining: bool, use_chunking: bool) {
    let chunking = options.chunking && use_chunking;
    let cases = cases(chunking);
    let mut script = Vec::new();
    for (i, (fault, _, _)) in cases.iter().enumerate() {
        // Each fault, then a transaction that succeeds. A 421 at MAIL on a
        // pooled connection (every case after the first) is retried once on
        // a new one (the relay was closing it): it meets the 421 again there.
        script.push(fault.clone());
        if i > 0 && matches!(fault, Fault::Reply(Step::Mail, 421, _)) {
            script.push(fault.clone());
        }
        script.push(Fault::Accept);
    }
    let relay = FakeRelay::start(options, script).await;
    let client = SmtpRelay::new(config(&relay).extensions(use_pipelining, use_chunking)).unwrap();
    let mut accepted = 0;
    for (i, (fault, permanent, words)) in cases.iter().enumerate() {
        let err = client
            .send_raw(&envelope("ana@example.net"), &message(2 * i))
            .await
            .expect_err(&format!("{fault:?} must fail"));
        assert_eq!(err.is_permanent(), *permanent, "{fault:?}: {err:?}");
        assert_eq!(err.is_transient(), !*permanent, "{fault:?}: {err:?}");
        assert!(
            err.message().contains(words),
            "{fault:?}: {:?} should quote {words:?}",
            err.message()
        );
        assert_eq!(relay.taken().len(), accepted, "{fault:?} must not be taken");
        // The client recovers: the next message goes through.
        client
            .send_raw(&envelope("ana@example.net"), &message(2 * i + 1))
            .await
            .unwrap_or_else(|e| panic!("after {fault:?}: {e:?}"));
        accepted += 1;
        let taken = relay.taken();
        assert_eq!(taken.len(), accepted);
        assert_eq!(
            taken[accepted - 1].bytes,
            message(2 * i + 1),
            "bytes unchanged"
        );
        assert_eq!(taken[accepted - 1].to, vec!["ana@example.net".to_string()]);
        assert_eq!(taken[accepted - 1].from, "bounces@calinvite.test");
    }
    // A recipient the relay does not know: permanent, with its words.
    let err = client
        .send_raw(&envelope("nobody@example.net"), &message(999))
        .await
        .unwrap_err();
    assert!(err.is_permanent());
    assert!(err.message().contains("550 5.1.1 no such user"), "{err:?}");
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_is_classified_with_chunking() {
    classify_all(Options::default(), true, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_is_classified_with_pipelined_data() {
    classify_all(Options::default(), true, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_is_classified_one_command_at_a_time() {
    let options = Options {
        pipelining: false,
        chunking: false,
        ..Options::default()
    };
    classify_all(options, true, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_closing_a_pooled_connection_costs_no_message() {
    // The relay says 421 at MAIL on a connection it no longer wants (too
    // many commands, idle too long): the message goes over a new one.
    let relay = FakeRelay::start(
        Options::default(),
        vec![
            Fault::Accept,
            Fault::Reply(Step::Mail, 421, "4.7.0 too many commands"),
        ],
    )
    .await;
    let client = SmtpRelay::new(config(&relay).max_connections(1)).unwrap();
    for i in 0..3 {
        client
            .send_raw(&envelope("ana@example.net"), &message(i))
            .await
            .unwrap();
    }
    let st = relay.state.lock().unwrap();
    assert_eq!(st.taken.len(), 3);
    assert_eq!(st.connections, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_limit_and_auth() {
    let relay = FakeRelay::start(
        Options {
            size: Some(200),
            auth: Some(("calinvite", "s3cret")),
            ..Options::default()
        },
        Vec::new(),
    )
    .await;
    // Credentials over plain TCP need an explicit opt-in.
    let mut cfg = config(&relay).credentials(Credentials::new("calinvite", "s3cret"));
    assert!(SmtpRelay::new(cfg.clone()).is_err());
    cfg.allow_plaintext_auth = true;
    let client = SmtpRelay::new(cfg.clone()).unwrap();
    client
        .send_raw(&envelope("ana@example.net"), &message(1))
        .await
        .unwrap();
    let big = vec![b'x'; 300];
    let err = client
        .send_raw(&envelope("ana@example.net"), &big)
        .await
        .unwrap_err();
    assert!(
        err.is_permanent() && err.message().contains("SIZE limit of 200"),
        "{err:?}"
    );
    // Wrong password: a configuration problem, retried, never a bounce.
    let wrong = SmtpRelay::new(cfg.credentials(Credentials::new("calinvite", "nope"))).unwrap();
    let err = wrong
        .send_raw(&envelope("ana@example.net"), &message(2))
        .await
        .unwrap_err();
    assert!(
        err.is_transient() && err.message().contains("535"),
        "{err:?}"
    );
    assert_eq!(relay.taken().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_connections_are_reused_and_capped() {
    let relay = FakeRelay::start(Options::default(), Vec::new()).await;
    let client = Arc::new(SmtpRelay::new(config(&relay).max_connections(3)).unwrap());
    let mut tasks = Vec::new();
    for i in 0..60 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            c.send_raw(&envelope("ana@example.net"), &message(i)).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let st = relay.state.lock().unwrap();
    assert_eq!(st.taken.len(), 60);
    assert!(
        st.connections <= 3,
        "at most 3 connections, saw {}",
        st.connections
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_cap_spaces_sends() {
    let relay = FakeRelay::start(Options::default(), Vec::new()).await;
    let client =
        Arc::new(SmtpRelay::new(config(&relay).max_connections(4).rate_per_second(50.0)).unwrap());
    let t0 = std::time::Instant::now();
    let mut tasks = Vec::new();
    for i in 0..51 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            c.send_raw(&envelope("ana@example.net"), &message(i)).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // 51 sends at 50/s: the last starts 1 s after the first.
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(980), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

// ----------------------------------------------------------- through the queue

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_through_the_queue_lose_and_double_nothing() {
    // 24 recipients, 3 unknown to the relay; the first transactions meet
    // every fault, some twice.
    let script = vec![
        Fault::Reply(Step::Mail, 421, "4.3.2 closing"),
        Fault::Reply(Step::Mail, 451, "4.3.0 later"),
        Fault::Accept,
        Fault::Reply(Step::Rcpt, 452, "4.5.3 full"),
        Fault::DropMidData,
        Fault::Reply(Step::End, 451, "4.3.0 queue full"),
        Fault::Accept,
        Fault::Stall(Step::End),
        Fault::Reply(Step::End, 550, "5.6.0 content rejected"),
        Fault::Reply(Step::Mail, 421, "4.3.2 closing"),
        Fault::DropMidData,
        Fault::Accept,
        Fault::Stall(Step::Mail),
        Fault::Reply(Step::Rcpt, 451, "4.4.3 dns"),
    ];
    let relay = FakeRelay::start(Options::default(), script).await;
    let dir = tempdir();
    let store = SqlStore::open(&format!("sqlite://{}/q.db?mode=rwc", dir.display()))
        .await
        .unwrap();
    let clock = start_clock();
    let (pipeline, scope) = billing_pipeline(
        store,
        SmtpRelay::new(config(&relay)).unwrap(),
        clock.clone(),
    )
    .await;
    let code = pipeline.create_event_with(scope, event).await.unwrap();
    let mut good = Vec::new();
    for i in 0..24 {
        let who = if i % 8 == 3 {
            format!("nobody{i}@example.net")
        } else {
            let a = format!("guest{i}@example.net");
            good.push(a.clone());
            a
        };
        let out = pipeline
            .invite(
                scope,
                &code,
                Recipient::new(addr(&who)),
                InvitationSource::Api,
            )
            .await
            .unwrap();
        assert!(matches!(out, Outcome::Invited(_)), "{out:?}");
    }
    // Work the queue; when nothing is due, let time pass (backoff).
    let mut idle_rounds = 0;
    while idle_rounds < 20 {
        match pipeline.deliver_one().await.unwrap() {
            Some(_) => idle_rounds = 0,
            None => {
                idle_rounds += 1;
                clock.advance(3600);
            }
        }
    }
    let taken = relay.taken();
    let invitations = pipeline.invitations(scope, &code).await.unwrap();
    let mut sent = 0;
    for inv in &invitations {
        let who = inv.recipient().address().as_str().to_string();
        let copies: Vec<_> = taken.iter().filter(|t| t.to == vec![who.clone()]).collect();
        let history = pipeline.history(scope, inv.token()).await.unwrap();
        let bounced = history.iter().find_map(|h| match &h.kind {
            HistoryKind::Bounced { permanent, detail } => Some((*permanent, detail.clone())),
            _ => None,
        });
        if who.starts_with("nobody") {
            assert!(copies.is_empty(), "{who}");
            assert_eq!(inv.delivery(), DeliveryState::HardBounced, "{who}");
            let (permanent, detail) = bounced.unwrap();
            assert!(
                permanent && detail.contains("550 5.1.1 no such user"),
                "{detail}"
            );
        } else if inv.delivery() == DeliveryState::HardBounced {
            // The one message the relay refused for its content.
            assert!(copies.is_empty(), "{who}");
            let (_, detail) = bounced.unwrap();
            assert!(
                detail.contains("554 5.6.0") || detail.contains("550 5.6.0"),
                "{detail}"
            );
        } else {
            assert_eq!(
                copies.len(),
                1,
                "{who}: exactly one copy accepted; applied {:?}; taken {:?}; history {history:#?}",
                relay.state.lock().unwrap().applied,
                taken
                    .iter()
                    .map(|t| (t.to.clone(), message_id(&t.bytes)))
                    .collect::<Vec<_>>()
            );
            assert_eq!(inv.delivery(), DeliveryState::Sent, "{who}");
            sent += 1;
        }
    }
    // One content rejection among the good ones; the rest all arrived once.
    assert_eq!(sent, good.len() - 1, "{invitations:#?}");
    assert_eq!(taken.len(), sent);
    // Every accepted message has its own Message-ID.
    let mut ids: Vec<_> = taken.iter().map(|t| message_id(&t.bytes)).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), taken.len());
    let applied = relay.state.lock().unwrap().applied.clone();
    assert!(
        applied.len() > taken.len() + 10,
        "faults were met: {applied:?}"
    );
}

fn message_id(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
        .unwrap_or_default()
        .to_string()
}
