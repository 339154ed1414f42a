//! Addresses in every script through the SMTP relay: an internationalised
//! domain travels in A-labels to any relay; a non-ASCII local part goes out
//! with `SMTPUTF8` where the relay offers it, and where it does not, that one
//! recipient is refused permanently while the rest of the batch is sent.

#![allow(clippy::unwrap_used)]

use crate::relay_support::{FakeRelay, Options, addr, billing_pipeline, event, start_clock};
use calinvite_core::lifecycle::{
    DeliveryState, HistoryKind, InvitationSource, MemoryStore, Outcome, Transport,
};
use calinvite_core::{Envelope, Recipient};
use calinvite_smtp::relay::{RelayConfig, SmtpRelay};

const GUESTS: [&str; 3] = [
    "ana@example.org",
    "Jorg@Bücher-Müller.de",
    "zoë@example.org",
];

/// Invites [`GUESTS`] through a relay offering SMTPUTF8 or not, and returns
/// the relay and each guest's delivery state and bounce detail.
async fn invite_all(options: Options) -> (FakeRelay, Vec<(String, DeliveryState, Option<String>)>) {
    let relay = FakeRelay::start(options, Vec::new()).await;
    let client = SmtpRelay::new(
        RelayConfig::plaintext("127.0.0.1", relay.addr.port()).helo_name("calinvite.test"),
    )
    .unwrap();
    let (pipeline, scope) = billing_pipeline(MemoryStore::new(), client, start_clock()).await;
    let code = pipeline.create_event_with(scope, event).await.unwrap();
    for g in GUESTS {
        let out = pipeline
            .invite(scope, &code, Recipient::new(addr(g)), InvitationSource::Api)
            .await
            .unwrap();
        assert!(matches!(out, Outcome::Invited(_)), "{g}: {out:?}");
    }
    pipeline.run_until_idle().await.unwrap();
    let mut states = Vec::new();
    for inv in pipeline.invitations(scope, &code).await.unwrap() {
        let history = pipeline.history(scope, inv.token()).await.unwrap();
        let bounce = history.iter().find_map(|h| match &h.kind {
            HistoryKind::Bounced { permanent, detail } => {
                Some(format!("permanent={permanent}: {detail}"))
            }
            _ => None,
        });
        states.push((
            inv.recipient().address().as_str().to_owned(),
            inv.delivery(),
            bounce,
        ));
    }
    states.sort_by(|a, b| a.0.cmp(&b.0));
    pipeline.transport().close().await;
    (relay, states)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_offering_smtputf8_takes_every_script() {
    for (pipelining, chunking) in [(true, true), (true, false), (false, false)] {
        let (relay, states) = invite_all(Options {
            smtputf8: true,
            pipelining,
            chunking,
            ..Options::default()
        })
        .await;
        for (who, state, bounce) in &states {
            assert_eq!(*state, DeliveryState::Sent, "{who}: {bounce:?}");
        }
        let taken = relay.taken();
        assert_eq!(taken.len(), 3);
        let mut rcpts: Vec<_> = taken.iter().map(|t| t.to[0].clone()).collect();
        rcpts.sort();
        assert_eq!(
            rcpts,
            [
                "ana@example.org",
                "jorg@xn--bcher-mller-thbg.de",
                "zoë@example.org"
            ]
        );
        // SMTPUTF8 on MAIL exactly for the messages that need it.
        let lines = relay.state.lock().unwrap().mail_lines.clone();
        assert_eq!(lines.len(), 3, "{lines:?}");
        for t in &taken {
            let utf8 = !t.to[0].is_ascii();
            let text = String::from_utf8(t.bytes.clone()).unwrap();
            // The addr-spec of To is the recipient's, UTF-8 where it is (RFC 6532).
            let to_line = text
                .split("\r\n")
                .find(|l| l.starts_with("To: "))
                .unwrap()
                .to_owned();
            assert!(to_line.contains(&format!("<{}>", t.to[0])), "{to_line}");
            assert!(!text.contains("bücher"), "a U-label went on the wire");
            assert_eq!(text.is_ascii(), !utf8, "{}", t.to[0]);
        }
        assert_eq!(
            lines.iter().filter(|l| l.ends_with(" SMTPUTF8")).count(),
            1,
            "{lines:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_without_smtputf8_refuses_only_the_non_ascii_local_part() {
    let (relay, states) = invite_all(Options::default()).await;
    for (who, state, bounce) in &states {
        if who == "zoë@example.org" {
            assert_eq!(*state, DeliveryState::HardBounced, "{who}");
            let bounce = bounce.as_deref().unwrap();
            assert!(
                bounce.starts_with("permanent=true")
                    && bounce.contains("non-ASCII address needs SMTPUTF8"),
                "{bounce}"
            );
        } else {
            assert_eq!(*state, DeliveryState::Sent, "{who}: {bounce:?}");
        }
    }
    // Nothing of the refused message reached the relay; the IDN went in A-labels.
    let mut rcpts: Vec<_> = relay.taken().iter().map(|t| t.to[0].clone()).collect();
    rcpts.sort();
    assert_eq!(rcpts, ["ana@example.org", "jorg@xn--bcher-mller-thbg.de"]);
    assert!(
        relay
            .state
            .lock()
            .unwrap()
            .mail_lines
            .iter()
            .all(|l| l.is_ascii() && !l.contains("SMTPUTF8"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refusal_is_per_message_and_leaves_the_connection_usable() {
    let relay = FakeRelay::start(Options::default(), Vec::new()).await;
    let client = SmtpRelay::new(
        RelayConfig::plaintext("127.0.0.1", relay.addr.port())
            .helo_name("calinvite.test")
            .max_connections(1),
    )
    .unwrap();
    let from = addr("bounces@calinvite.test");
    let body = b"From: <bounces@calinvite.test>\r\nSubject: x\r\n\r\nhi\r\n";
    client
        .send_raw(&Envelope::new(from.clone(), addr("ana@example.org")), body)
        .await
        .unwrap();
    let err = client
        .send_raw(&Envelope::new(from.clone(), addr("zoë@example.org")), body)
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err}");
    assert!(err.message().contains("SMTPUTF8"), "{err}");
    client
        .send_raw(&Envelope::new(from, addr("bea@example.org")), body)
        .await
        .unwrap();
    assert_eq!(relay.taken().len(), 2);
    assert_eq!(relay.state.lock().unwrap().connections, 1);
    client.close().await;
}
