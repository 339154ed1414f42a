//! Real Postfix (Debian's package, configured by `scripts/postfix.sh`) relays
//! mail for `calinvite.test` into the listener: an organizer's invitation sent
//! over SMTP and a guest's reply submitted with `sendmail` land in the SQLite
//! store. Postfix must be running; the test fails, never skips, without it.
//!
//! Environment (defaults as in `scripts/postfix.sh`):
//! `CALINVITE_POSTFIX_LISTENER_PORT` (10026) is where Postfix delivers
//! `calinvite.test`; `CALINVITE_POSTFIX_LOG`
//! (`/var/tmp/calinvite-postfix/postfix.log`) is Postfix's log. This binary binds the listener there, so it is the only
//! test using the port and runs its steps in one test function.
#![allow(clippy::unwrap_used)]

use crate::listener_support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use calinvite_core::ParticipationStatus;
use calinvite_core::lifecycle::AuthPolicy;
use calinvite_smtp::listener::{Listener, ListenerConfig, NoVerification};
use calinvite_store::SqlStore;
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

/// Postfix's queue, for a failure message.
fn postfix_queue() -> String {
    Command::new("postqueue").arg("-p").output().map_or_else(
        |e| e.to_string(),
        |o| String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

/// How long Postfix may take to hand a message on (it takes well under a second).
const PATIENCE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postfix_delivers_invitations_and_replies_into_the_listener() {
    // Postfix must answer: this test fails rather than skips.
    let mut probe = tokio::time::timeout(
        Duration::from_secs(5),
        Client::connect_checked("127.0.0.1:25"),
    )
    .await
    .ok()
    .flatten()
    .expect("Postfix does not answer on 127.0.0.1:25: run scripts/postfix.sh");
    let banner = probe.expect(220).await;
    assert!(banner.contains("Postfix"), "not Postfix: {banner}");
    probe.command("QUIT", 221).await;

    let dir =
        std::env::temp_dir().join(format!("calinvite-postfix-inbound-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("calinvite.db").display());
    let pipeline = pipeline(
        SqlStore::open(&url).await.unwrap(),
        AuthPolicy::AllowListOnly,
    )
    .await;
    let listener = Listener::bind(
        ("127.0.0.1", listener_port()),
        ListenerConfig::new("mx.calinvite.test"),
        pipeline.clone(),
        NoVerification,
    )
    .await
    .unwrap_or_else(|e| panic!("cannot bind the listener on port {}: {e}", listener_port()));
    let handle = listener.spawn().unwrap();
    // Mail an earlier run left queued for calinvite.test goes now, not mid-test.
    let _ = Command::new("postqueue").arg("-f").status();

    // 1. The organizer's calendar sends the invitation to Postfix over SMTP.
    let uid = format!("postfix-{}@example.com", std::process::id());
    let mut c = Client::greeted("127.0.0.1:25".parse().unwrap()).await;
    let (code, text) = c
        .deliver(ORGANIZER, &[INGEST], &organizer_request(&uid, ORGANIZER))
        .await;
    assert_eq!(code, 250, "Postfix took the invitation: {text}");
    c.command("QUIT", 221).await;
    let started = tokio::time::Instant::now();
    let event = loop {
        if let Some(code) = event_code(&pipeline, &uid).await {
            break code;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the invitation never arrived; Postfix's queue:\n{}",
            postfix_queue()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("invitation: Postfix to store in {:?}", started.elapsed());

    // 2. The guest's calendar replies; its mail system submits with sendmail.
    let guest = "guest@example.net";
    let (token, invitation_uid) = invite(&pipeline, &event, guest).await;
    let mut sendmail = Command::new("sendmail")
        .args(["-i", "-f", guest, REPLY])
        .stdin(Stdio::piped())
        .spawn()
        .expect("Postfix's sendmail");
    sendmail
        .stdin
        .take()
        .unwrap()
        .write_all(&reply(&invitation_uid, guest, "DECLINED"))
        .unwrap();
    assert!(sendmail.wait().unwrap().success(), "sendmail failed");
    let started = tokio::time::Instant::now();
    loop {
        let invitations = pipeline.invitations(scope(), &event).await.unwrap();
        if invitations
            .iter()
            .any(|i| *i.token() == token && i.status() == Some(ParticipationStatus::Declined))
        {
            break;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the reply never arrived; Postfix's queue:\n{}",
            postfix_queue()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("reply: sendmail to store in {:?}", started.elapsed());

    // 3. Postfix relays anything for calinvite.test; the listener still takes
    // only its own mailboxes: Postfix hears 550 5.7.1 and bounces the message
    // (its log says so).
    let nobody = format!("nobody-{}@calinvite.test", std::process::id());
    let mut c = Client::greeted("127.0.0.1:25".parse().unwrap()).await;
    let (code, _) = c
        .deliver(
            ORGANIZER,
            &[nobody.as_str()],
            b"Subject: to nobody\r\n\r\nhi\r\n",
        )
        .await;
    assert_eq!(code, 250, "Postfix queues it");
    c.command("QUIT", 221).await;
    let log = std::env::var("CALINVITE_POSTFIX_LOG")
        .unwrap_or_else(|_| "/var/tmp/calinvite-postfix/postfix.log".to_owned());
    let started = tokio::time::Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let bounced = text.lines().any(|l| {
            l.contains(&format!("to=<{nobody}>"))
                && l.contains("status=bounced")
                && l.contains("said: 550 5.7.1")
        });
        if bounced {
            break;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "Postfix never reported the listener's 550 in {log}; its queue:\n{}",
            postfix_queue()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    handle.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
