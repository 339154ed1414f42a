//! What the server logs about invitations from unregistered addresses: the
//! whole flow (held, the instruction mail, the sign-in page, a forged form,
//! the registration, the release) logged at every level never shows the
//! sign-in link's token or the form's CSRF value, and nothing at `info` or
//! above names the sender's address (only its domain).
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    missing_docs,
    unreachable_pub,
    dead_code
)]

// The harness of the `it` binary: this file is a binary of its own because
// its process-wide subscriber would read the logs of every test there.
#[path = "it/common.rs"]
mod common;
#[path = "it/mail.rs"]
mod mail;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{Db, Reply, TestServer, captured, eventually, unique};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_flow_logs_no_token_and_no_address() {
    let log = Captured::default();
    let writer = log.clone();
    // Plain text (another crate of the workspace turns colours on), every
    // level.
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    tracing::callsite::rebuild_interest_cache();

    let s = TestServer::start(Db::Sqlite, |c| {
        c.smtp.verify = invite_server::config::Verify::AuthenticationResults;
        c.smtp.trusted_authserv_id = Some("mx.gateway.test".into());
    })
    .await;
    let local = unique("secretive").to_ascii_lowercase();
    let from = format!("{local}@newcomer.example");
    let ingest = "create@invites.localhost";
    let mut message = b"Authentication-Results: mx.gateway.test; spf=pass \
        smtp.mailfrom=newcomer.example; dmarc=pass header.from=newcomer.example\r\n"
        .to_vec();
    message.extend_from_slice(&mail::organizer_request(
        &from,
        ingest,
        &format!("{local}@x"),
        0,
        "20361012",
        "Logged",
    ));
    let smtp = s.server().smtp_addr().unwrap();
    mail::send(
        "127.0.0.1",
        smtp.port(),
        "newcomer.example",
        &from,
        ingest,
        &message,
    )
    .await;
    let mail = eventually("the instruction mail", || async {
        captured(&s.dir, &from).pop()
    })
    .await;
    let parsed = mail_parser::MessageParser::default()
        .parse(&mail[..])
        .unwrap();
    let text = parsed.body_text(0).unwrap().into_owned();
    let at = text.find("/register/").unwrap() + "/register/".len();
    let token: String = text[at..].chars().take(43).collect();
    let url = format!("{}/register/{token}", s.base);

    let page = Reply::from(s.client.get(&url).send().await.unwrap()).await;
    assert_eq!(page.status, 200, "{}", page.text);
    let at = page.text.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = page.text[at..].split('"').next().unwrap().to_owned();
    let forged = s
        .client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let done = s
        .client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", format!("calinvite_register_csrf={csrf}"))
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    s.stop().await;

    let all = String::from_utf8_lossy(&log.0.lock().unwrap()).into_owned();
    for said in [
        "invitation from an unregistered address held",
        "instruction mail with a sign-in link sent",
        "organizer registered with a sign-in link",
        "held invitations released",
        "sender_domain=\"newcomer.example\"",
    ] {
        assert!(all.contains(said), "the log says {said:?}:\n{all}");
    }
    assert!(!all.contains(&token), "the token is in the log:\n{all}");
    assert!(!all.contains(&csrf), "the CSRF value is in the log:\n{all}");
    let info: Vec<&str> = all
        .lines()
        .filter(|l| l.contains(" INFO ") || l.contains(" WARN ") || l.contains(" ERROR "))
        .collect();
    assert!(
        info.iter().all(|l| !l.contains(&local)),
        "the sender's address at info:\n{}",
        info.join("\n")
    );
}
