//! Addresses in every script end to end through a real Postfix (configured
//! by `scripts/postfix.sh`, which takes the internationalised
//! `bücher-müller.test` in its A-label form): invitations to an IDN address,
//! one with a UTF-8 local part (SMTPUTF8), reach the Maildir, and the guest's
//! reply comes back through Postfix into the listener.
//!
//! This binary binds the listener on `CALINVITE_POSTFIX_LISTENER_PORT`
//! (10026), as `postfix_inbound` does: the two never run at once (cargo runs
//! test binaries one after another). Fails, never skips, without Postfix.
#![allow(clippy::unwrap_used)]
#![allow(clippy::disallowed_methods, reason = "tests wait on real time")]

// Its own binary: it binds the port Postfix delivers to (as postfix_inbound
// in `it` does), so the two must not run at the same time.
#[path = "it/listener_support/mod.rs"]
mod listener_support;

use std::path::PathBuf;
use std::time::Duration;

use calinvite_core::lifecycle::{AuthPolicy, MemoryStore, Transport};
use calinvite_core::{EmailAddress, Envelope, ParticipationStatus};
use calinvite_smtp::listener::{Listener, ListenerConfig, NoVerification};
use calinvite_smtp::relay::{RelayConfig, SmtpRelay};
use listener_support::*;

fn listener_port() -> u16 {
    std::env::var("CALINVITE_POSTFIX_LISTENER_PORT")
        .ok()
        .map(|p| {
            p.parse()
                .expect("CALINVITE_POSTFIX_LISTENER_PORT is a port")
        })
        .unwrap_or(10026)
}

fn maildir() -> PathBuf {
    PathBuf::from(
        std::env::var("CALINVITE_POSTFIX_MAILDIR")
            .unwrap_or_else(|_| "/var/tmp/calinvite-postfix/Maildir".into()),
    )
}

const PATIENCE: Duration = Duration::from_secs(60);

/// The Maildir file holding `id` for envelope recipient `to`.
async fn delivered(id: &str, to: &str) -> String {
    let delivered_to = format!("Delivered-To: {to}\n");
    let started = tokio::time::Instant::now();
    loop {
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(maildir().join(sub)) else {
                continue;
            };
            for e in entries.flatten() {
                let text = String::from_utf8_lossy(&std::fs::read(e.path()).unwrap_or_default())
                    .into_owned();
                if text.contains(id) && text.contains(&delivered_to) {
                    return text;
                }
            }
        }
        assert!(
            started.elapsed() < PATIENCE,
            "{id} did not reach {} for {to} (see Postfix's log)",
            maildir().display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn message_id(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line = text
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
        .unwrap();
    line["message-id:".len()..].trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idn_invitation_reaches_the_maildir_and_its_reply_comes_back() {
    let mut probe = tokio::time::timeout(
        Duration::from_secs(5),
        Client::connect_checked("127.0.0.1:25"),
    )
    .await
    .ok()
    .flatten()
    .expect("Postfix does not answer on 127.0.0.1:25: run scripts/postfix.sh");
    let ehlo = {
        probe.expect(220).await;
        probe.command("EHLO calinvite.test", 250).await
    };
    assert!(
        ehlo.contains("SMTPUTF8"),
        "Postfix offers no SMTPUTF8: {ehlo}"
    );
    probe.command("QUIT", 221).await;

    let pipeline = pipeline(MemoryStore::new(), AuthPolicy::AllowListOnly).await;
    let handle = Listener::bind(
        ("127.0.0.1", listener_port()),
        ListenerConfig::new("mx.calinvite.test"),
        pipeline.clone(),
        NoVerification,
    )
    .await
    .unwrap_or_else(|e| panic!("cannot bind the listener on port {}: {e}", listener_port()))
    .spawn()
    .unwrap();

    // The organizer's event, straight into the listener.
    let uid = format!("idn-{}@example.com", std::process::id());
    let mut c = Client::greeted(handle.local_addr()).await;
    let (code, text) = c
        .deliver(ORGANIZER, &[INGEST], &organizer_request(&uid, ORGANIZER))
        .await;
    assert_eq!(code, 250, "{text}");
    c.command("QUIT", 221).await;
    let event = event_code(&pipeline, &uid).await.unwrap();

    // 1. Invitations to the IDN go out through Postfix into the Maildir.
    let run = std::process::id();
    let guests = [
        format!("ana.{run}@Bücher-Müller.test"),
        format!("jörg.{run}@bücher-müller.test"),
    ];
    let mut uids = Vec::new();
    for g in &guests {
        uids.push(invite(&pipeline, &event, g).await);
    }
    pipeline.run_until_idle().await.unwrap();
    let relay = SmtpRelay::new(RelayConfig::plaintext("127.0.0.1", 25).helo_name("calinvite.test"))
        .unwrap();
    for g in &guests {
        let a = EmailAddress::parse(g).unwrap();
        assert!(a.domain() == "xn--bcher-mller-thbg.test", "{a:?}");
        let sent = pipeline.transport().sent();
        let m = sent.iter().find(|m| *m.envelope.to() == a).unwrap();
        relay.send_raw(&m.envelope, &m.bytes).await.unwrap();
        let file = delivered(&message_id(&m.bytes), a.as_str()).await;
        let lf = String::from_utf8(m.bytes.clone())
            .unwrap()
            .replace("\r\n", "\n");
        assert!(
            file.ends_with(&lf),
            "the Maildir copy differs from what was sent:\n{file}"
        );
        assert!(
            !file.contains("bücher"),
            "a U-label went on the wire:\n{file}"
        );
    }

    // 2. The UTF-8 guest replies through Postfix (SMTPUTF8); it reaches the
    // listener and the invitation.
    let guest = &guests[1];
    let (token, invitation_uid) = &uids[1];
    let reply_bytes = reply(invitation_uid, guest, "ACCEPTED");
    relay
        .send_raw(
            &Envelope::new(
                EmailAddress::parse(guest).unwrap(),
                EmailAddress::parse(REPLY).unwrap(),
            ),
            &reply_bytes,
        )
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    loop {
        let invitations = pipeline.invitations(scope(), &event).await.unwrap();
        if invitations
            .iter()
            .any(|i| i.token() == token && i.status() == Some(ParticipationStatus::Accepted))
        {
            break;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the reply never reached the listener"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    relay.close().await;
    handle.shutdown().await.unwrap();
}
