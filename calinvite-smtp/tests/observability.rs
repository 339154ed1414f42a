//! What the listener and the relay client log and count: the log of a real
//! session (a reply carrying an invitation token, a refused recipient) and of
//! relay sends (with AUTH, a refusal, a 421 on a pooled connection) names
//! reply codes, outcomes and sizes, and never the token, the message text,
//! the password or a recipient's full address; the counters move with what
//! happened.
#![allow(clippy::unwrap_used)]
#![allow(clippy::disallowed_methods, reason = "tests wait on real time")]

// The support modules of the `it` binary (`tests/it/main.rs`): this file is
// a binary of its own because its process-wide subscriber would read the
// logs of every test there.
#[path = "it/listener_support/mod.rs"]
mod listener_support;
#[path = "it/relay_support/mod.rs"]
mod relay_support;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use calinvite_core::lifecycle::{AuthPolicy, MemoryStore, Transport};
use calinvite_core::{EmailAddress, Envelope};
use calinvite_smtp::listener::{Listener, ListenerConfig, NoVerification};
use calinvite_smtp::relay::{Credentials, RelayConfig, SmtpRelay};
use listener_support::{
    Client, INGEST, ORGANIZER, REPLY, event_code, invite, organizer_request, pipeline, reply,
};
use relay_support::{FakeRelay, Fault, Options, Step};

/// Everything the subscriber wrote, shared with the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log every test of this file writes to: one process-wide subscriber
/// at every level (a per-thread one can miss events whose interest another
/// test thread settled first).
fn log() -> &'static Captured {
    static LOG: OnceLock<Captured> = OnceLock::new();
    LOG.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        // Plain text: another crate of the workspace turns on
        // tracing-subscriber's colours, and the checks read `key=value`.
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        captured
    })
}

/// The tests run one at a time, each with an empty log.
async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let turn = TURN.lock().await;
    log().0.lock().unwrap().clear();
    turn
}

/// The lines of `log` that are at `info` or above.
fn info_lines(log: &str) -> String {
    log.lines()
        .filter(|l| !(l.contains("DEBUG") || l.contains("TRACE")))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_listener_session_logs_codes_and_outcomes_never_tokens_or_content() {
    let _turn = exclusive().await;
    let pipeline = pipeline(MemoryStore::new(), AuthPolicy::AllowListOnly).await;
    let mut config = ListenerConfig::new("mx.calinvite.test");
    config.command_timeout = Duration::from_secs(10);
    let listener = Listener::bind("127.0.0.1:0", config, pipeline.clone(), NoVerification)
        .await
        .unwrap();
    let handle = listener.spawn().unwrap();
    let addr = handle.local_addr();
    assert_eq!(handle.metrics().sessions, 0);

    let mut c = Client::greeted(addr).await;
    let (code, text) = c
        .deliver(
            ORGANIZER,
            &[INGEST],
            &organizer_request("obs-1@example.com", ORGANIZER),
        )
        .await;
    assert_eq!(code, 250, "{text}");
    let event = event_code(&pipeline, "obs-1@example.com").await.unwrap();
    let (token, uid) = invite(&pipeline, &event, "guest.private@example.net").await;
    let message = reply(&uid, "guest.private@example.net", "ACCEPTED");
    let (code, text) = c
        .deliver("guest.private@example.net", &[REPLY], &message)
        .await;
    assert_eq!(code, 250, "{text}");
    // A recipient the listener does not serve: refused, counted, its domain logged.
    c.command("MAIL FROM:<someone@example.org>", 250).await;
    c.command("RCPT TO:<relay.target@elsewhere.example>", 550)
        .await;
    c.command("QUIT", 221).await;
    drop(c);
    let m = handle.metrics();
    assert_eq!(
        (m.sessions, m.messages_accepted, m.recipients_refused),
        (1, 2, 1),
        "{m:?}"
    );
    handle.shutdown().await.unwrap();

    let log = log().text();
    // What an operator needs is there: the session span, reply codes, the
    // pipeline's outcome, the mailbox role, the refused recipient's domain.
    assert!(log.contains("smtp_session"), "{log}");
    assert!(log.contains("message accepted"), "{log}");
    assert!(log.contains("code=250"), "{log}");
    assert!(log.contains("status=\"2.0.0\""), "{log}");
    assert!(log.contains("outcome=event-created"), "{log}");
    assert!(log.contains("outcome=answer-recorded"), "{log}");
    assert!(log.contains("mailbox=\"reply\""), "{log}");
    assert!(log.contains("rcpt_domain=elsewhere.example"), "{log}");
    assert!(log.contains("code=550"), "{log}");
    // Nothing that must not be: the token (in the reply's UID), the body
    // text, the full addresses.
    for secret in [
        token.as_str(),
        &uid.to_string(),
        "ACCEPTED: launch",
        "PRODID",
        "Drinks and demos",
        "relay.target@elsewhere.example",
        "guest.private",
    ] {
        assert!(!log.contains(secret), "{secret:?} logged:\n{log}");
    }
}

#[tokio::test]
async fn listener_counters_move_with_accepted_and_refused_mail() {
    let _turn = exclusive().await;
    let pipeline = pipeline(MemoryStore::new(), AuthPolicy::AllowListOnly).await;
    let mut config = ListenerConfig::new("mx.calinvite.test");
    config.max_message_bytes = 4096;
    config.max_recipients = 1;
    let handle = Listener::bind("127.0.0.1:0", config, pipeline.clone(), NoVerification)
        .await
        .unwrap()
        .spawn()
        .unwrap();
    let addr = handle.local_addr();

    let mut c = Client::greeted(addr).await;
    let request = organizer_request("obs-2@example.com", ORGANIZER);
    let (code, _) = c.deliver(ORGANIZER, &[INGEST], &request).await;
    assert_eq!(code, 250);
    // Not an organizer: recorded and rejected.
    let stranger = organizer_request("obs-3@example.com", "mallory@example.org");
    let (code, text) = c.deliver("mallory@example.org", &[INGEST], &stranger).await;
    assert_eq!(code, 550, "{text}");
    // A declared size over the limit; a second recipient over the limit; an
    // unserved recipient.
    c.command("MAIL FROM:<a@example.org> SIZE=100000", 552)
        .await;
    c.command("MAIL FROM:<a@example.org>", 250).await;
    c.command(&format!("RCPT TO:<{INGEST}>"), 250).await;
    c.command(&format!("RCPT TO:<{REPLY}>"), 452).await;
    c.command("RSET", 250).await;
    c.command("MAIL FROM:<a@example.org>", 250).await;
    c.command("RCPT TO:<x@elsewhere.example>", 550).await;
    // A bare LF in DATA.
    c.command(&format!("RCPT TO:<{INGEST}>"), 250).await;
    c.command("DATA", 354).await;
    c.send(b"Subject: x\nbare\r\n.\r\n").await;
    c.expect(554).await;
    c.command("QUIT", 221).await;

    let m = handle.metrics();
    assert_eq!(m.sessions, 1, "{m:?}");
    assert_eq!(m.messages_accepted, 1, "{m:?}");
    assert!(m.bytes_accepted >= request.len() as u64, "{m:?}");
    assert_eq!(m.messages_rejected, 1, "{m:?}");
    assert_eq!(m.messages_refused_limit, 1, "{m:?}");
    assert_eq!(m.limit_bare_newline, 1, "{m:?}");
    assert_eq!(m.limit_size, 1, "{m:?}");
    assert_eq!(m.limit_recipients, 1, "{m:?}");
    assert_eq!(m.recipients_refused, 1, "{m:?}");
    assert_eq!(m.messages_deferred, 0, "{m:?}");
    assert_eq!(m.tls_sessions, 0, "{m:?}");
    handle.shutdown().await.unwrap();
}

fn relay_config(relay: &FakeRelay) -> RelayConfig {
    RelayConfig::plaintext("127.0.0.1", relay.addr.port())
        .helo_name("calinvite.test")
        .max_connections(1)
        .timeouts(
            Duration::from_secs(2),
            Duration::from_secs(2),
            Duration::from_secs(2),
        )
}

fn envelope(to: &str) -> Envelope {
    Envelope::new(
        EmailAddress::parse("bounces@calinvite.test").unwrap(),
        EmailAddress::parse(to).unwrap(),
    )
}

const BODY_TEXT: &str = "the launch party is on the roof";

fn relay_message(n: usize) -> Vec<u8> {
    format!(
        "From: events@calinvite.test\r\nTo: ana@example.net\r\nMessage-ID: <m{n}@calinvite.test>\r\n\
         Subject: obs {n}\r\n\r\n{BODY_TEXT}\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn relay_sends_are_logged_and_counted_without_credentials_or_content() {
    let _turn = exclusive().await;
    let relay = FakeRelay::start(
        Options {
            auth: Some(("calinvite", "pa55-w0rd-secret")),
            ..Options::default()
        },
        vec![
            Fault::Accept,
            Fault::Reply(
                Step::Rcpt,
                550,
                "5.1.1 <ana.private@example.net> no such user",
            ),
            Fault::Reply(Step::Mail, 451, "4.3.0 try later"),
            // A pooled connection the relay no longer wants: retried once on
            // a new connection, which takes it.
            Fault::Reply(Step::Mail, 421, "4.3.2 closing"),
            Fault::Accept,
        ],
    )
    .await;
    let mut cfg =
        relay_config(&relay).credentials(Credentials::new("calinvite", "pa55-w0rd-secret"));
    cfg.allow_plaintext_auth = true;
    let client = SmtpRelay::new(cfg).unwrap();
    assert_eq!(client.metrics(), Default::default());

    let to = "ana.private@example.net";
    client
        .send_raw(&envelope(to), &relay_message(1))
        .await
        .unwrap();
    let refused = client.send_raw(&envelope(to), &relay_message(2)).await;
    assert!(refused.unwrap_err().is_permanent());
    let deferred = client.send_raw(&envelope(to), &relay_message(3)).await;
    assert!(!deferred.unwrap_err().is_permanent());
    client
        .send_raw(&envelope(to), &relay_message(4))
        .await
        .unwrap();
    client.close().await;

    let m = client.metrics();
    assert_eq!(m.messages_sent, 2, "{m:?}");
    assert_eq!(m.bytes_sent, (relay_message(1).len() * 2) as u64, "{m:?}");
    assert_eq!(m.permanent_failures, 1, "{m:?}");
    assert_eq!(m.transient_failures, 1, "{m:?}");
    assert_eq!(m.connections_opened, 2, "{m:?}");
    assert_eq!(m.connection_failures, 0, "{m:?}");
    assert_eq!(m.reconnects, 1, "{m:?}");
    assert_eq!(m.replies_421, 1, "{m:?}");

    let log = log().text();
    assert!(log.contains("smtp_relay_connection"), "{log}");
    assert!(log.contains("pipelining=true"), "{log}");
    assert!(log.contains("chunking=true"), "{log}");
    assert!(log.contains("message sent"), "{log}");
    assert!(log.contains("outcome=\"accepted\""), "{log}");
    assert!(log.contains("outcome=\"permanent\""), "{log}");
    assert!(log.contains("outcome=\"transient\""), "{log}");
    assert!(log.contains("code=550"), "{log}");
    assert!(log.contains("status=\"5.1.1\""), "{log}");
    assert!(log.contains("retrying on a new one"), "{log}");
    let plain = base64::engine::general_purpose::STANDARD.encode(b"\0calinvite\0pa55-w0rd-secret");
    for secret in ["pa55-w0rd-secret", plain.as_str(), BODY_TEXT] {
        assert!(!log.contains(secret), "{secret:?} logged:\n{log}");
    }
    // The recipient (also quoted in the relay's reply) only at debug.
    let info = info_lines(&log);
    assert!(!info.contains("ana.private"), "{info}");
    assert!(
        log.contains("ana.private"),
        "debug names the recipient: {log}"
    );
}
