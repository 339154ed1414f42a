//! calinvite sends through a real Postfix (Debian's, on loopback, set up by
//! `scripts/postfix.sh`) into a local Maildir: what arrives is byte for byte
//! what the core assembled, but for the trace headers Postfix prepends and
//! the line endings a Maildir file stores (LF). Postfix's own refusals come
//! back classified.
//!
//! Fails, never skips, when Postfix does not answer on 127.0.0.1:25.

#![allow(clippy::unwrap_used)]
#![allow(clippy::disallowed_methods, reason = "tests wait on real time")]

use crate::relay_support;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use calinvite_core::lifecycle::{
    DeliveryState, HistoryKind, InvitationSource, MemoryStore, Outcome, Transport, TransportError,
};
use calinvite_core::{Envelope, Recipient};
use calinvite_smtp::relay::{RelayConfig, SmtpRelay};
use relay_support::{addr, billing_pipeline, event, start_clock};

/// The relay, keeping a copy of every message it was given.
struct Tee {
    relay: SmtpRelay,
    sent: Mutex<Vec<(Envelope, Vec<u8>)>>,
}

impl Transport for Tee {
    async fn send_raw(&self, envelope: &Envelope, message: &[u8]) -> Result<(), TransportError> {
        let r = self.relay.send_raw(envelope, message).await;
        if r.is_ok() {
            self.sent
                .lock()
                .unwrap()
                .push((envelope.clone(), message.to_vec()));
        }
        r
    }
}

fn maildir() -> PathBuf {
    PathBuf::from(
        std::env::var("CALINVITE_POSTFIX_MAILDIR")
            .unwrap_or_else(|_| "/var/tmp/calinvite-postfix/Maildir".into()),
    )
}

fn postfix_answers() {
    match std::net::TcpStream::connect_timeout(
        &"127.0.0.1:25".parse().unwrap(),
        Duration::from_secs(3),
    ) {
        Ok(_) => {}
        Err(e) => panic!(
            "Postfix does not answer on 127.0.0.1:25 ({e}): run scripts/postfix.sh (scripts/test.sh does)"
        ),
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

/// The Maildir file holding `id` for envelope recipient `to`, waiting up to
/// 30 s for Postfix to deliver it.
fn delivered(id: &str, to: &str) -> Vec<u8> {
    let delivered_to = format!("Delivered-To: {to}\n");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(maildir().join(sub)) else {
                continue;
            };
            for e in entries.flatten() {
                let bytes = std::fs::read(e.path()).unwrap_or_default();
                let text = String::from_utf8_lossy(&bytes);
                if text.contains(id) && text.contains(&delivered_to) {
                    return bytes;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "{id} did not reach {} within 30 s (see Postfix's log)",
            maildir().display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Splits Postfix's prepended trace headers off `file` (which must end with
/// exactly `sent`, in LF form) and returns them.
fn strip_trace(file: &[u8], sent: &[u8]) -> Vec<String> {
    let lf: Vec<u8> = String::from_utf8_lossy(sent)
        .replace("\r\n", "\n")
        .into_bytes();
    assert!(
        file.ends_with(&lf),
        "the delivered file does not end with the assembled message:\n{}",
        String::from_utf8_lossy(file)
    );
    let prefix = String::from_utf8_lossy(&file[..file.len() - lf.len()]).to_string();
    let mut names = Vec::new();
    for line in prefix.lines() {
        if line.starts_with([' ', '\t']) {
            continue; // a folded continuation
        }
        names.push(line.split(':').next().unwrap().to_string());
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_through_postfix_arrive_unchanged() {
    postfix_answers();
    let clock = start_clock();
    let relay = SmtpRelay::new(
        RelayConfig::plaintext("127.0.0.1", 25)
            .helo_name("calinvite.test")
            .max_connections(2),
    )
    .unwrap();
    let tee = Tee {
        relay,
        sent: Mutex::new(Vec::new()),
    };
    let (pipeline, scope) = billing_pipeline(MemoryStore::new(), tee, clock.clone()).await;
    let code = pipeline.create_event_with(scope, event).await.unwrap();
    let run = std::process::id();
    let guests: Vec<String> = (0..4)
        .map(|i| format!("customer{i}.{run}@mailbox.test"))
        .collect();
    for g in &guests {
        let out = pipeline
            .invite(scope, &code, Recipient::new(addr(g)), InvitationSource::Api)
            .await
            .unwrap();
        assert!(matches!(out, Outcome::Invited(_)), "{out:?}");
    }
    // Postfix takes mail only for its own domains: a 5xx at RCPT.
    let stranger = format!("someone.{run}@elsewhere.example");
    pipeline
        .invite(
            scope,
            &code,
            Recipient::new(addr(&stranger)),
            InvitationSource::Api,
        )
        .await
        .unwrap();
    let n = pipeline.run_until_idle().await.unwrap();
    assert_eq!(n, 5);
    // And the cancellation to everyone who got the invitation.
    pipeline.cancel_event(scope, &code, None).await.unwrap();
    pipeline.run_until_idle().await.unwrap();

    let sent = pipeline.transport().sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 8, "4 invitations and 4 cancellations");
    for (envelope, bytes) in &sent {
        assert_eq!(envelope.from().as_str(), "bounces@calinvite.test");
        let file = delivered(&message_id(bytes), envelope.to().as_str());
        let trace = strip_trace(&file, bytes);
        for name in &trace {
            assert!(
                ["Return-Path", "Delivered-To", "Received"].contains(&name.as_str()),
                "Postfix added {name:?}; only trace headers are expected: {trace:?}"
            );
        }
        assert!(trace.iter().any(|n| n == "Received"), "{trace:?}");
    }
    for inv in pipeline.invitations(scope, &code).await.unwrap() {
        let who = inv.recipient().address().as_str();
        if who == stranger {
            assert_eq!(inv.delivery(), DeliveryState::HardBounced);
            let history = pipeline.history(scope, inv.token()).await.unwrap();
            let detail = history
                .iter()
                .find_map(|h| match &h.kind {
                    HistoryKind::Bounced {
                        permanent: true,
                        detail,
                    } => Some(detail.clone()),
                    _ => None,
                })
                .unwrap();
            // Postfix's own words: "550 5.7.1 <…>: Recipient address rejected: …".
            assert!(
                detail.contains("answered RCPT with 550 5.7.1")
                    && detail.contains("Recipient address rejected"),
                "{detail}"
            );
        } else {
            assert_eq!(inv.delivery(), DeliveryState::Sent, "{who}");
        }
    }
    pipeline.transport().relay.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_data_through_postfix_arrives_unchanged() {
    postfix_answers();
    // The DATA path (dot-stuffing, no CHUNKING) against the same Postfix.
    let relay = SmtpRelay::new(
        RelayConfig::plaintext("127.0.0.1", 25)
            .helo_name("calinvite.test")
            .extensions(true, false),
    )
    .unwrap();
    let run = std::process::id();
    let id = format!("<dots.{run}.{}@calinvite.test>", line!());
    let message = format!(
        "From: billing@calinvite.test\r\nTo: dots@mailbox.test\r\nMessage-ID: {id}\r\n\
         Subject: lines that start with dots\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         .\r\n..two\r\n. space\r\nañadido 日本語 🎉\r\n.\r\nend\r\n"
    );
    let envelope = Envelope::new(
        addr("bounces@calinvite.test"),
        addr(&format!("dots.{run}@mailbox.test")),
    );
    relay.send_raw(&envelope, message.as_bytes()).await.unwrap();
    let file = delivered(&id, envelope.to().as_str());
    strip_trace(&file, message.as_bytes());
    relay.close().await;
}
