//! The inbound listener over real TCP on loopback: real invitations and
//! replies land in the store; relaying, oversized mail, too many recipients,
//! bare LF, over-long lines, slow senders and connection floods are refused
//! with the right code while other clients are still served.
#![allow(clippy::unwrap_used)]

use crate::listener_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use calinvite_core::ParticipationStatus;
use calinvite_core::inbound::{AuthResult, AuthVerdict};
use calinvite_core::lifecycle::{AuthPolicy, MemoryStore, Pipeline, RecordingTransport, Store};
use calinvite_smtp::listener::{
    InboundServer, Listener, ListenerConfig, ListenerHandle, NoVerification, Verifier,
};
use calinvite_store::SqlStore;
use listener_support::*;
use proptest::prelude::*;

fn config() -> ListenerConfig {
    let mut c = ListenerConfig::new("mx.calinvite.test");
    c.max_message_bytes = 256 * 1024;
    c.max_recipients = 2;
    c.command_timeout = Duration::from_secs(10);
    c
}

async fn start<S: Store + 'static, V: Verifier>(
    config: ListenerConfig,
    pipeline: Arc<Pipeline<S, RecordingTransport>>,
    verifier: V,
) -> ListenerHandle {
    Listener::bind("127.0.0.1:0", config, pipeline, verifier)
        .await
        .unwrap()
        .spawn()
        .unwrap()
}

async fn memory_listener(config: ListenerConfig) -> (ListenerHandle, SocketAddr) {
    let pipeline = pipeline(MemoryStore::new(), AuthPolicy::AllowListOnly).await;
    let handle = start(config, pipeline, NoVerification).await;
    let addr = handle.local_addr();
    (handle, addr)
}

struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("calinvite-listener-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn sqlite_url(&self) -> String {
        format!(
            "sqlite://{}?mode=rwc",
            self.0.join("calinvite.db").display()
        )
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitation_and_reply_over_smtp_land_in_the_sqlite_store() {
    let dir = TempDir::new("flow");
    let store = SqlStore::open(&dir.sqlite_url()).await.unwrap();
    let pipeline = pipeline(store, AuthPolicy::AllowListOnly).await;
    let handle = start(config(), pipeline.clone(), NoVerification).await;
    let addr = handle.local_addr();

    let mut c = Client::greeted(addr).await;
    let (code, text) = c
        .deliver(
            ORGANIZER,
            &[INGEST],
            &organizer_request("launch-1@example.com", ORGANIZER),
        )
        .await;
    assert_eq!(code, 250, "{text}");
    assert!(text.starts_with("250 2.0.0"), "{text}");
    // 250 came after the commit: the event is there now.
    let event = event_code(&pipeline, "launch-1@example.com")
        .await
        .expect("the organizer's invitation became an event");

    let (token, uid) = invite(&pipeline, &event, "guest@example.net").await;
    let (code, text) = c
        .deliver(
            "guest@example.net",
            &[REPLY],
            &reply(&uid, "guest@example.net", "ACCEPTED"),
        )
        .await;
    assert_eq!(code, 250, "{text}");
    let invitations = pipeline.invitations(scope(), &event).await.unwrap();
    let inv = invitations.iter().find(|i| *i.token() == token).unwrap();
    assert_eq!(inv.status(), Some(ParticipationStatus::Accepted));
    c.command("QUIT", 221).await;
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn pipelined_transaction_in_one_write() {
    let (handle, addr) = memory_listener(config()).await;
    let mut c = Client::greeted(addr).await;
    let mut batch = Vec::new();
    batch.extend_from_slice(
        b"EHLO pipelined.example\r\nMAIL FROM:<x@example.net> SIZE=100 BODY=8BITMIME\r\n",
    );
    batch.extend_from_slice(format!("RCPT TO:<{BOUNCE}>\r\nDATA\r\n").as_bytes());
    c.send(&batch).await;
    let ehlo = c.expect(250).await;
    for ext in [
        "PIPELINING",
        "SIZE 262144",
        "8BITMIME",
        "ENHANCEDSTATUSCODES",
        "SMTPUTF8",
    ] {
        assert!(ehlo.contains(ext), "{ext} missing from {ehlo}");
    }
    assert!(
        !ehlo.contains("STARTTLS"),
        "no certificate, no STARTTLS: {ehlo}"
    );
    c.expect(250).await;
    c.expect(250).await;
    c.expect(354).await;
    c.send(b"Subject: not a calendar\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n")
        .await;
    c.expect(250).await;
    c.expect(221).await;
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn relaying_is_refused_and_others_are_served() {
    let (handle, addr) = memory_listener(config()).await;
    let mut c = Client::greeted(addr).await;
    c.command("EHLO spammer.example", 250).await;
    c.command("MAIL FROM:<spam@example.net>", 250).await;
    for rcpt in [
        "victim@gmail.com",
        "root@calinvite.test",
        "rsvp+tag@calinvite.test",
        "rsvp@calinvite.test.evil.example",
        "\"rsvp@calinvite.test\"@evil.example",
        "rsvp%calinvite.test@evil.example",
    ] {
        c.line(&format!("RCPT TO:<{rcpt}>")).await;
        let (code, text) = c.reply().await.unwrap();
        assert!(code == 550 || code == 501, "{rcpt}: {text}");
        if code == 550 {
            assert!(text.starts_with("550 5.7.1"), "{rcpt}: {text}");
        }
        // The misbehaving session is still open while another is served.
        still_serves(addr).await;
        c.command("NOOP", 250).await;
    }
    // No recipient was accepted: DATA is refused.
    c.command("DATA", 554).await;
    // A source route is ignored (RFC 5321 §4.1.1.3): the mailbox is ours.
    c.command("RSET", 250).await;
    c.command("MAIL FROM:<a@example.net>", 250).await;
    c.command("RCPT TO:<@evil.example:rsvp@calinvite.test>", 250)
        .await;
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn oversized_mail_is_refused_at_mail_from_and_during_data() {
    let (handle, addr) = memory_listener(config()).await;
    let mut c = Client::greeted(addr).await;
    c.command("EHLO big.example", 250).await;
    let text = c
        .command("MAIL FROM:<big@example.net> SIZE=10000000", 552)
        .await;
    assert!(text.starts_with("552 5.3.4"), "{text}");
    still_serves(addr).await;

    // No SIZE given: refused when the data passes the limit, read to its end.
    c.command("MAIL FROM:<big@example.net>", 250).await;
    c.command(&format!("RCPT TO:<{REPLY}>"), 250).await;
    c.command("DATA", 354).await;
    let line = format!("{}\r\n", "x".repeat(998));
    for _ in 0..300 {
        c.send(line.as_bytes()).await;
    }
    still_serves(addr).await;
    c.send(b".\r\n").await;
    let text = c.expect(552).await;
    assert!(text.starts_with("552 5.3.4"), "{text}");
    // The session goes on.
    c.command("MAIL FROM:<small@example.net>", 250).await;
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn too_many_recipients_get_452() {
    let (handle, addr) = memory_listener(config()).await;
    let mut c = Client::greeted(addr).await;
    c.command("EHLO many.example", 250).await;
    c.command("MAIL FROM:<many@example.net>", 250).await;
    c.command(&format!("RCPT TO:<{INGEST}>"), 250).await;
    c.command(&format!("RCPT TO:<{REPLY}>"), 250).await;
    let text = c.command(&format!("RCPT TO:<{BOUNCE}>"), 452).await;
    assert!(text.starts_with("452 4.5.3"), "{text}");
    still_serves(addr).await;
    c.command("DATA", 354).await;
    c.send(b"Subject: two of three\r\n\r\nhello\r\n.\r\n").await;
    c.expect(250).await;
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn bare_lf_is_refused_and_never_ends_data() {
    let (handle, addr) = memory_listener(config()).await;
    let mut c = Client::greeted(addr).await;
    c.command("EHLO smuggler.example", 250).await;
    c.command("MAIL FROM:<a@example.net>", 250).await;
    c.command(&format!("RCPT TO:<{REPLY}>"), 250).await;
    c.command("DATA", 354).await;
    // The classic smuggling shape: <LF>.<LF> and <CR><LF>.<LF> followed by a
    // second transaction. Neither ends the data, so no command inside it runs.
    c.send(
        format!(
            "Subject: first\r\n\r\nbody\n.\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<{INGEST}>\r\nDATA\r\n\
             Subject: smuggled\r\n\r\nx\r\n.\n"
        )
        .as_bytes(),
    )
    .await;
    still_serves(addr).await;
    c.send(b"\r\n.\r\n").await;
    let (code, text) = c.reply().await.unwrap();
    assert_eq!(code, 554, "{text}");
    assert!(text.starts_with("554 5.6.0"), "{text}");
    assert!(text.contains("bare LF"), "{text}");
    // Exactly one reply for the whole data: the next is NOOP's.
    c.command("NOOP", 250).await;
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn over_long_lines_are_refused() {
    let mut cfg = config();
    cfg.max_line_bytes = 1000;
    let (handle, addr) = memory_listener(cfg).await;
    let mut c = Client::greeted(addr).await;
    c.line(&format!("EHLO {}", "a".repeat(5000))).await;
    let text = c.expect(500).await;
    assert!(text.starts_with("500 5.5.2"), "{text}");
    still_serves(addr).await;
    c.command("EHLO fine.example", 250).await;
    c.command("MAIL FROM:<a@example.net>", 250).await;
    c.command(&format!("RCPT TO:<{REPLY}>"), 250).await;
    c.command("DATA", 354).await;
    c.send(format!("Subject: long\r\n\r\n{}\r\n.\r\n", "y".repeat(1200)).as_bytes())
        .await;
    let text = c.expect(554).await;
    assert!(text.starts_with("554 5.6.0"), "{text}");
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn slow_loris_gets_421_after_the_command_timeout() {
    let mut cfg = config();
    cfg.command_timeout = Duration::from_millis(800);
    let (handle, addr) = memory_listener(cfg).await;
    let mut c = Client::greeted(addr).await;
    let started = tokio::time::Instant::now();
    // One byte every 200 ms: each read is quick, the line never completes in time.
    let writer = async {
        for b in b"EHLO slow.example.and.slower.still\r\n" {
            if c.stream.get_mut().try_write(&[*b]).is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            if started.elapsed() > Duration::from_secs(2) {
                break;
            }
        }
    };
    writer.await;
    let text = c.expect(421).await;
    assert!(text.starts_with("421 4.4.2"), "{text}");
    assert!(c.closed().await);
    assert!(started.elapsed() < Duration::from_secs(5));
    still_serves(addr).await;

    // Silence is the same.
    let mut idle = Client::greeted(addr).await;
    let text = idle.expect(421).await;
    assert!(text.starts_with("421 4.4.2"), "{text}");
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn connections_beyond_the_limit_get_421() {
    let mut cfg = config();
    cfg.max_connections = 2;
    let (handle, addr) = memory_listener(cfg).await;
    let mut a = Client::greeted(addr).await;
    let mut b = Client::greeted(addr).await;
    let mut c = Client::connect(addr).await;
    let text = c.expect(421).await;
    assert!(text.starts_with("421 4.7.0"), "{text}");
    assert!(c.closed().await);
    a.command("NOOP", 250).await;
    a.command("QUIT", 221).await;
    // A slot is free again.
    tokio::time::sleep(Duration::from_millis(100)).await;
    still_serves(addr).await;
    b.command("QUIT", 221).await;
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn protocol_errors_are_bounded() {
    let (handle, addr) = memory_listener(config()).await;
    let mut c = Client::greeted(addr).await;
    c.command("MAIL FROM:<a@example.net>", 503).await;
    c.command("EHLO x.example", 250).await;
    c.command(&format!("RCPT TO:<{REPLY}>"), 503).await;
    c.command("DATA", 503).await;
    c.command("VRFY rsvp", 252).await;
    c.command("BDAT 10 LAST", 502).await;
    c.command("AUTH PLAIN AGFhAGI=", 502).await;
    c.command("STARTTLS", 502).await;
    c.command("MAIL FROM:<a@example.net> RET=FULL", 555).await;
    c.command("WHAT is this", 500).await;
    // Ten errors: the tenth reply is followed by 421 and the close.
    c.line("ANOTHER one").await;
    c.expect(500).await;
    c.expect(421).await;
    assert!(c.closed().await);
    let mut web = Client::greeted(addr).await;
    web.line("GET / HTTP/1.1").await;
    web.expect(554).await;
    assert!(web.closed().await);
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn refusals_the_sender_should_hear_are_rejected_others_accepted() {
    let (handle, addr) = memory_listener(config()).await;
    let mut c = Client::greeted(addr).await;
    // A stranger mailing an event to the ingest address: recorded, and told.
    let (code, text) = c
        .deliver(
            "mallory@example.org",
            &[INGEST],
            &organizer_request("stranger@example.org", "mallory@example.org"),
        )
        .await;
    assert_eq!(code, 550, "{text}");
    assert!(text.starts_with("550 5.7.1"), "{text}");
    // A reply naming no invitation: accepted (no oracle for tokens), recorded.
    let fake = calinvite_core::InvitationUid::parse(
        "7k3m9qxv2c4d8fjr-0123456789abcdefghjkmnpqrs@calinvite.test",
    )
    .unwrap();
    let (code, text) = c
        .deliver(
            "guest@example.net",
            &[REPLY],
            &reply(&fake, "guest@example.net", "ACCEPTED"),
        )
        .await;
    assert_eq!(code, 250, "{text}");
    // A bounce (null sender) is never rejected.
    c.command("MAIL FROM:<>", 250).await;
    c.command(&format!("RCPT TO:<{INGEST}>"), 250).await;
    c.command("DATA", 354).await;
    c.send(&dot_stuffed(&organizer_request(
        "bounce@example.org",
        "mailer-daemon@example.org",
    )))
    .await;
    c.send(b".\r\n").await;
    c.expect(250).await;
    handle.shutdown().await.unwrap();
}

/// What the hook saw of one message: the reason, the pipeline's bytes, the
/// bytes as they arrived, the verdict.
type Seen = (String, Vec<u8>, Vec<u8>, AuthVerdict);

/// A refusal hook that takes refusals of strangers to the ingest mailbox
/// while `mode` says so, and notes what it saw.
struct Keeper {
    mode: std::sync::Mutex<calinvite_smtp::listener::RefusalAction>,
    seen: std::sync::Mutex<Vec<Seen>>,
}

struct KeeperHook(Arc<Keeper>);

impl calinvite_smtp::listener::RefusalHook for KeeperHook {
    fn refused<'a>(
        &'a self,
        m: calinvite_smtp::listener::RefusedMessage<'a>,
    ) -> calinvite_smtp::listener::RefusalFuture<'a> {
        Box::pin(async move {
            self.0.seen.lock().unwrap().push((
                m.refusal.reason.as_str().to_owned(),
                m.raw.to_vec(),
                m.as_arrived.to_vec(),
                m.verdict.clone(),
            ));
            *self.0.mode.lock().unwrap()
        })
    }
}

#[tokio::test]
async fn a_refusal_hook_decides_what_the_sender_of_a_refused_message_hears() {
    use calinvite_smtp::listener::RefusalAction;
    let pipeline = pipeline(MemoryStore::new(), AuthPolicy::AllowListOnly).await;
    let keeper = Arc::new(Keeper {
        mode: std::sync::Mutex::new(RefusalAction::Taken { outcome: "held" }),
        seen: std::sync::Mutex::new(Vec::new()),
    });
    let verdict = AuthVerdict {
        spf: AuthResult::Pass,
        dkim: vec![("example.org".into(), AuthResult::Pass)],
        dmarc: AuthResult::Pass,
    };
    let server = InboundServer::new(config(), pipeline.clone(), FixedVerdict(verdict.clone()))
        .with_refusal_hook(KeeperHook(keeper.clone()));
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let handle = Listener::from_tcp(tcp, Arc::new(server)).spawn().unwrap();
    let mut c = Client::greeted(handle.local_addr()).await;
    let message = organizer_request("early@example.org", "newcomer@example.org");
    // Taken: 250 instead of the 550 a stranger gets, counted as accepted.
    let (code, text) = c.deliver("newcomer@example.org", &[INGEST], &message).await;
    assert_eq!(code, 250, "{text}");
    {
        let seen = keeper.seen.lock().unwrap();
        let (reason, raw, arrived, v) = &seen[0];
        assert_eq!(reason, "not-an-organizer");
        assert!(raw.starts_with(b"Received: "), "the pipeline's bytes");
        assert!(
            raw.ends_with(arrived),
            "the message as it arrived ends them"
        );
        assert_eq!(arrived.as_slice(), message.as_slice());
        assert_eq!(v, &verdict);
    }
    // Retry: 451, the sender keeps it.
    *keeper.mode.lock().unwrap() = RefusalAction::Retry;
    let (code, text) = c.deliver("newcomer@example.org", &[INGEST], &message).await;
    assert_eq!(code, 451, "{text}");
    // Keep: what the sender hears without a hook.
    *keeper.mode.lock().unwrap() = RefusalAction::Keep;
    let (code, text) = c.deliver("newcomer@example.org", &[INGEST], &message).await;
    assert!(text.starts_with("550 5.7.1"), "{code} {text}");
    // Messages that are not refused never reach the hook.
    let (code, text) = c
        .deliver(
            ORGANIZER,
            &[INGEST],
            &organizer_request("known@example.com", ORGANIZER),
        )
        .await;
    assert_eq!(code, 250, "{text}");
    assert_eq!(keeper.seen.lock().unwrap().len(), 3);
    let m = handle.metrics();
    assert_eq!(
        (
            m.messages_accepted,
            m.messages_deferred,
            m.messages_rejected
        ),
        (2, 1, 1)
    );
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_fails_gets_451_so_the_sender_retries() {
    let dir = TempDir::new("broken");
    let url = dir.sqlite_url();
    let store = SqlStore::open(&url).await.unwrap();
    let pipeline = pipeline(store, AuthPolicy::AllowListOnly).await;
    let handle = start(config(), pipeline.clone(), NoVerification).await;
    let addr = handle.local_addr();
    // Break the store under the running pipeline: no commit can succeed.
    let db = dir.0.join("calinvite.db");
    let status = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import sqlite3,sys\n\
             c=sqlite3.connect(sys.argv[1])\n\
             for (n,) in c.execute(\"select name from sqlite_master where type='table' and name not like 'sqlite_%' and name not in ('owners','owner_mailboxes','organizers')\").fetchall():\n\
             \x20   c.execute('drop table if exists \"%s\"' % n)\n\
             c.commit()",
        )
        .arg(&db)
        .status()
        .unwrap();
    assert!(status.success());
    let mut c = Client::greeted(addr).await;
    let (code, text) = c
        .deliver(
            ORGANIZER,
            &[INGEST],
            &organizer_request("lost@example.com", ORGANIZER),
        )
        .await;
    assert_eq!(code, 451, "{text}");
    assert!(text.starts_with("451 4.3.0"), "{text}");
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn two_tenants_in_one_message_are_handled_apart() {
    let store = MemoryStore::new();
    let pipeline = pipeline(store, AuthPolicy::AllowListOnly).await;
    let mut other = owner();
    other.id = calinvite_core::lifecycle::OwnerId(2);
    other.mail_domain = "other.test".into();
    other.ingest = address("create@other.test");
    other.reply = address("rsvp@other.test");
    other.bounce = address("bounces@other.test");
    pipeline.store().put_owner(other).await.unwrap();
    let handle = start(config(), pipeline.clone(), NoVerification).await;
    let mut c = Client::greeted(handle.local_addr()).await;
    let (code, text) = c
        .deliver(
            "someone@example.net",
            &["bounces@other.test", BOUNCE],
            b"Subject: hello both\r\n\r\nnot a report\r\n",
        )
        .await;
    assert_eq!(code, 250, "{text}");
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_closes_idle_sessions_with_421() {
    let (handle, addr) = memory_listener(config()).await;
    let mut c = Client::greeted(addr).await;
    c.command("EHLO idle.example", 250).await;
    let stopping = tokio::spawn(handle.shutdown());
    let text = c.expect(421).await;
    assert!(text.starts_with("421 4.3.2"), "{text}");
    stopping.await.unwrap().unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

mod tls {
    use super::*;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::aws_lc_rs::default_provider())
    }

    async fn read_reply<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).await.unwrap();
            all.push_str(&line);
            if line.is_empty() || line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    #[tokio::test]
    async fn starttls_then_a_transaction() {
        let cert = rcgen::generate_simple_self_signed(vec!["mx.calinvite.test".into()]).unwrap();
        let cert_der = CertificateDer::from(cert.cert.der().to_vec());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
        let server = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert_der.clone()], key)
            .unwrap();
        let mut cfg = config();
        cfg.tls = Some(Arc::new(server));
        let (handle, addr) = memory_listener(cfg).await;

        let mut c = Client::greeted(addr).await;
        let ehlo = c.command("EHLO tls.example", 250).await;
        assert!(ehlo.contains("STARTTLS"), "{ehlo}");
        // Pipelined after STARTTLS in clear: must be dropped, not run under TLS.
        c.send(b"STARTTLS\r\nMAIL FROM:<injected@example.net>\r\n")
            .await;
        c.expect(220).await;

        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert_der).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let tcp = c.stream.into_inner();
        let tls = connector
            .connect(ServerName::try_from("mx.calinvite.test").unwrap(), tcp)
            .await
            .unwrap();
        let mut tls = BufReader::new(tls);
        // The injected MAIL never ran: EHLO is needed again and works.
        tls.get_mut()
            .write_all(b"EHLO tls.example\r\n")
            .await
            .unwrap();
        let ehlo = read_reply(&mut tls).await;
        assert!(ehlo.starts_with("250"), "{ehlo}");
        assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
        tls.get_mut()
            .write_all(
                format!("MAIL FROM:<a@example.net>\r\nRCPT TO:<{BOUNCE}>\r\nDATA\r\n").as_bytes(),
            )
            .await
            .unwrap();
        assert!(read_reply(&mut tls).await.starts_with("250"));
        assert!(read_reply(&mut tls).await.starts_with("250"));
        assert!(read_reply(&mut tls).await.starts_with("354"));
        tls.get_mut()
            .write_all(b"Subject: over TLS\r\n\r\nhi\r\n.\r\nQUIT\r\n")
            .await
            .unwrap();
        let done = read_reply(&mut tls).await;
        assert!(done.starts_with("250 2.0.0"), "{done}");
        assert!(read_reply(&mut tls).await.starts_with("221"));
        handle.shutdown().await.unwrap();
    }
}

#[cfg(feature = "auth")]
mod auth {
    use super::*;
    use calinvite_core::inbound::AuthResult;
    use calinvite_smtp::auth::MailAuthVerifier;
    use calinvite_smtp::listener::VerifyContext;
    use mail_auth::common::crypto::{Ed25519Key, SigningKey};
    use mail_auth::common::headers::HeaderWriter;
    use mail_auth::dkim::DkimSigner;

    fn base64(bytes: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    /// An Ed25519 key pair: the signer, and the DKIM TXT record publishing it.
    fn dkim_key() -> (Ed25519Key, String) {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let key = Ed25519Key::from_pkcs8_maybe_unchecked_der(&pair.serialize_der()).unwrap();
        let record = format!("v=DKIM1; k=ed25519; p={}", base64(pair.public_key_raw()));
        (key, record)
    }

    fn sign(key: impl SigningKey, message: &[u8]) -> Vec<u8> {
        let signature = DkimSigner::from_key(key)
            .domain("example.com")
            .selector("cal")
            .headers(["From", "To", "Subject", "Date", "Message-ID"])
            .sign(message)
            .unwrap();
        let mut out = signature.to_header().into_bytes();
        out.extend_from_slice(message);
        out
    }

    fn context<'a>(ip: &str, from: &'a str) -> VerifyContext<'a> {
        VerifyContext::new(
            ip.parse().unwrap(),
            "client.example.com",
            from,
            "mx.calinvite.test",
        )
    }

    #[tokio::test]
    async fn spf_pass_and_fail_offline() {
        let v = MailAuthVerifier::offline();
        v.seed_txt("example.com", "v=spf1 ip4:192.0.2.0/24 -all")
            .unwrap();
        v.seed_txt("client.example.com", "v=spf1 ip4:192.0.2.0/24 -all")
            .unwrap();
        let message = organizer_request("spf@example.com", ORGANIZER);
        let pass = v.verify(&context("192.0.2.7", ORGANIZER), &message).await;
        assert_eq!(pass.spf, AuthResult::Pass);
        let fail = v
            .verify(&context("198.51.100.9", ORGANIZER), &message)
            .await;
        assert_eq!(fail.spf, AuthResult::Fail);
        // No record at all: none, not an error, and no DNS was asked.
        let none = v
            .verify(&context("192.0.2.7", "someone@unseeded.example"), &message)
            .await;
        assert_eq!(none.dkim, Vec::new());
        assert!(
            matches!(none.spf, AuthResult::None | AuthResult::Fail),
            "{:?}",
            none.spf
        );
    }

    #[tokio::test]
    async fn dkim_signature_verifies_and_tampering_fails() {
        let (key, record) = dkim_key();
        let v = MailAuthVerifier::offline();
        v.seed_txt("cal._domainkey.example.com", &record).unwrap();
        v.seed_txt("_dmarc.example.com", "v=DMARC1; p=reject")
            .unwrap();
        let signed = sign(key, &organizer_request("dkim@example.com", ORGANIZER));
        let verdict = v.verify(&context("198.51.100.9", ORGANIZER), &signed).await;
        assert_eq!(
            verdict.dkim,
            vec![("example.com".to_owned(), AuthResult::Pass)]
        );
        assert_eq!(verdict.dmarc, AuthResult::Pass);

        let tampered = String::from_utf8(signed)
            .unwrap()
            .replace("Product launch party", "Free money")
            .into_bytes();
        let verdict = v
            .verify(&context("198.51.100.9", ORGANIZER), &tampered)
            .await;
        assert_eq!(verdict.dkim.len(), 1);
        assert_ne!(verdict.dkim[0].1, AuthResult::Pass);
        assert_eq!(verdict.dmarc, AuthResult::Fail);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_listener_hands_the_verdict_to_the_core() {
        let (key, record) = dkim_key();
        let v = MailAuthVerifier::offline();
        v.seed_txt("cal._domainkey.example.com", &record).unwrap();
        v.seed_txt("example.com", "v=spf1 -all").unwrap();
        let pipeline = pipeline(MemoryStore::new(), AuthPolicy::AlignedSpfOrDkim).await;
        let handle = start(config(), pipeline.clone(), v).await;
        let mut c = Client::greeted(handle.local_addr()).await;
        // Signed by the organizer's domain: adopted.
        let signed = sign(key, &organizer_request("signed@example.com", ORGANIZER));
        let (code, text) = c.deliver(ORGANIZER, &[INGEST], &signed).await;
        assert_eq!(code, 250, "{text}");
        assert!(event_code(&pipeline, "signed@example.com").await.is_some());
        // Unsigned, and SPF fails for 127.0.0.1: refused, recorded, rejected.
        let (code, text) = c
            .deliver(
                ORGANIZER,
                &[INGEST],
                &organizer_request("forged@example.com", ORGANIZER),
            )
            .await;
        assert_eq!(code, 550, "{text}");
        assert!(text.starts_with("550 5.7.26"), "{text}");
        assert!(event_code(&pipeline, "forged@example.com").await.is_none());
        handle.shutdown().await.unwrap();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

/// Commands, real and broken, for the property test.
fn chunk() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"EHLO a.example\r\n".to_vec()),
        Just(b"HELO a\r\n".to_vec()),
        Just(b"MAIL FROM:<a@example.net>\r\n".to_vec()),
        Just(b"MAIL FROM:<> SIZE=99999999999999999999\r\n".to_vec()),
        Just(b"RCPT TO:<rsvp@calinvite.test>\r\n".to_vec()),
        Just(b"RCPT TO:<x@elsewhere.example>\r\n".to_vec()),
        Just(b"DATA\r\n".to_vec()),
        Just(b".\r\n".to_vec()),
        Just(b"\r\n.\r\n".to_vec()),
        Just(b"\n.\n".to_vec()),
        Just(b"RSET\r\nNOOP\r\n".to_vec()),
        Just(b"STARTTLS\r\n".to_vec()),
        Just(b"BDAT 5 LAST\r\n".to_vec()),
        Just(b"QUIT\r\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..300),
        proptest::collection::vec(
            prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'.'), Just(b'a')],
            0..40
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever a peer sends, the session never panics, answers only with
    /// well-formed replies, and ends once the peer has nothing more to say.
    #[test]
    fn any_input_gets_replies_or_a_close(chunks in proptest::collection::vec(chunk(), 0..30)) {
        let rt = runtime();
        rt.block_on(async {
            let pipeline = pipeline(MemoryStore::new(), AuthPolicy::AllowListOnly).await;
            let mut cfg = config();
            cfg.max_message_bytes = 4096;
            cfg.max_line_bytes = 200;
            cfg.max_command_bytes = 200;
            let server = InboundServer::new(cfg, pipeline, NoVerification);
            let (client, io) = tokio::io::duplex(1 << 16);
            let peer: SocketAddr = "192.0.2.1:25000".parse().unwrap();
            let input: Vec<u8> = chunks.concat();
            let (mut rd, mut wr) = tokio::io::split(client);
            let session = server.handle_connection(io, peer);
            let feed = async move {
                use tokio::io::AsyncWriteExt;
                let _ = wr.write_all(&input).await;
                let _ = wr.shutdown().await;
            };
            let drain = async move {
                use tokio::io::AsyncReadExt;
                let mut out = Vec::new();
                let _ = rd.read_to_end(&mut out).await;
                out
            };
            let ((), (), out) = tokio::time::timeout(
                Duration::from_secs(3600),
                async { tokio::join!(session, feed, drain) },
            )
            .await
            .expect("the session ends");
            let text = String::from_utf8(out).expect("replies are UTF-8");
            prop_assert!(text.starts_with("220 "), "{}", text);
            for line in text.split_terminator("\r\n") {
                let code = &line.as_bytes()[..3];
                prop_assert!(code.iter().all(u8::is_ascii_digit), "{}", line);
                prop_assert!(matches!(line.as_bytes().get(3), Some(b' ' | b'-')), "{}", line);
                prop_assert!((b'2'..=b'5').contains(&code[0]), "{}", line);
            }
            Ok(())
        })?;
    }
}
