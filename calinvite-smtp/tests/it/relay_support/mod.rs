//! A scripted SMTP relay for the outbound tests: it speaks enough SMTP
//! (EHLO, AUTH PLAIN, MAIL, RCPT, DATA, BDAT, RSET, NOOP, QUIT) and misbehaves
//! on cue, one fault per mail transaction, in script order.

#![allow(dead_code, clippy::unwrap_used, unreachable_pub)]
#![allow(clippy::disallowed_methods, reason = "unique temporary folder names")]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The step of a transaction a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Mail,
    Rcpt,
    /// The reply to DATA (before the content).
    Data,
    /// The reply to the content (after `.` or the BDAT chunk).
    End,
}

/// What the relay does in one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Takes the message.
    Accept,
    /// Answers `code text` at `step` (421 also closes the connection).
    Reply(Step, u16, &'static str),
    /// Reads part of the content, then closes the connection.
    DropMidData,
    /// Stops answering at `step` and holds the connection open.
    Stall(Step),
}

#[derive(Clone, Debug)]
pub struct Options {
    pub pipelining: bool,
    pub chunking: bool,
    pub size: Option<u64>,
    /// Recipients whose local part starts with this get `550 5.1.1` at RCPT, always.
    pub reject_prefix: &'static str,
    pub auth: Option<(&'static str, &'static str)>,
    /// Offers SMTPUTF8; without it, a non-ASCII address gets `553 5.6.7`.
    pub smtputf8: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            pipelining: true,
            chunking: true,
            size: None,
            reject_prefix: "nobody",
            auth: None,
            smtputf8: false,
        }
    }
}

/// One message the relay took: envelope and content (un-stuffed).
#[derive(Clone, Debug)]
pub struct Taken {
    pub from: String,
    pub to: Vec<String>,
    pub bytes: Vec<u8>,
}

#[derive(Default)]
pub struct State {
    pub script: VecDeque<Fault>,
    pub taken: Vec<Taken>,
    /// Faults applied, in order.
    pub applied: Vec<Fault>,
    pub connections: usize,
    pub transactions: usize,
    /// Every `MAIL FROM` command line, as received.
    pub mail_lines: Vec<String>,
}

pub struct FakeRelay {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<State>>,
}

impl FakeRelay {
    pub async fn start(options: Options, script: Vec<Fault>) -> FakeRelay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            script: script.into(),
            ..State::default()
        }));
        let s = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                s.lock().unwrap().connections += 1;
                let s = s.clone();
                let o = options.clone();
                tokio::spawn(async move {
                    let _ = session(stream, o, s).await;
                });
            }
        });
        FakeRelay { addr, state }
    }

    pub fn taken(&self) -> Vec<Taken> {
        self.state.lock().unwrap().taken.clone()
    }
}

async fn session(stream: TcpStream, o: Options, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let mut io = BufReader::new(stream);
    io.get_mut().write_all(b"220 fake.relay ESMTP\r\n").await?;
    let mut line = Vec::new();
    let mut from = String::new();
    let mut to: Vec<String> = Vec::new();
    let mut fault = Fault::Accept;
    let mut rcpt_ok = false;
    let mut mail_ok = false;
    let mut utf8 = false;
    loop {
        line.clear();
        if io.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        let upper = text.to_ascii_uppercase();
        let reply = |code: u16, t: &str| format!("{code} {t}\r\n");
        let stall = |f: &Fault, step: Step| matches!(f, Fault::Stall(s) if *s == step);
        let fault_reply = |f: &Fault, step: Step| match f {
            Fault::Reply(s, code, t) if *s == step => Some((*code, *t)),
            _ => None,
        };
        if upper.starts_with("EHLO") {
            let mut r = String::from("250-fake.relay\r\n");
            if o.pipelining {
                r.push_str("250-PIPELINING\r\n");
            }
            if o.chunking {
                r.push_str("250-CHUNKING\r\n");
            }
            if let Some(n) = o.size {
                r.push_str(&format!("250-SIZE {n}\r\n"));
            }
            if o.auth.is_some() {
                r.push_str("250-AUTH PLAIN\r\n");
            }
            if o.smtputf8 {
                r.push_str("250-SMTPUTF8\r\n");
            }
            r.push_str("250 8BITMIME\r\n");
            io.get_mut().write_all(r.as_bytes()).await?;
        } else if upper.starts_with("AUTH PLAIN ") {
            use base64::Engine as _;
            let (u, p) = o.auth.unwrap_or(("", ""));
            let want = base64::engine::general_purpose::STANDARD.encode(format!("\0{u}\0{p}"));
            let r = if text[11..] == want {
                reply(235, "2.7.0 ok")
            } else {
                reply(535, "5.7.8 bad credentials")
            };
            io.get_mut().write_all(r.as_bytes()).await?;
        } else if upper.starts_with("MAIL FROM:") {
            fault = {
                let mut st = state.lock().unwrap();
                st.transactions += 1;
                let f = st.script.pop_front().unwrap_or(Fault::Accept);
                st.applied.push(f.clone());
                st.mail_lines.push(text.clone());
                f
            };
            from = between(&text);
            // RFC 6531: a UTF-8 address needs the SMTPUTF8 parameter, and a
            // relay that offers it.
            utf8 = o.smtputf8 && upper.contains(" SMTPUTF8");
            to.clear();
            rcpt_ok = false;
            mail_ok = false;
            if stall(&fault, Step::Mail) {
                tokio::time::sleep(Duration::from_secs(60)).await;
                return Ok(());
            }
            let r = match fault_reply(&fault, Step::Mail) {
                Some((c, t)) => reply(c, t),
                None if !from.is_ascii() && !utf8 => reply(553, "5.6.7 SMTPUTF8 needed"),
                None => {
                    mail_ok = true;
                    reply(250, "2.1.0 ok")
                }
            };
            io.get_mut().write_all(r.as_bytes()).await?;
            if r.starts_with("421") {
                return Ok(());
            }
        } else if upper.starts_with("RCPT TO:") {
            let addr = between(&text);
            if stall(&fault, Step::Rcpt) {
                tokio::time::sleep(Duration::from_secs(60)).await;
                return Ok(());
            }
            let r = if !mail_ok {
                reply(503, "5.5.1 MAIL first")
            } else if !addr.is_ascii() && !utf8 {
                reply(553, "5.6.7 SMTPUTF8 needed")
            } else if addr.starts_with(o.reject_prefix) {
                reply(550, "5.1.1 no such user here")
            } else if let Some((c, t)) = fault_reply(&fault, Step::Rcpt) {
                reply(c, t)
            } else {
                to.push(addr);
                rcpt_ok = true;
                reply(250, "2.1.5 ok")
            };
            io.get_mut().write_all(r.as_bytes()).await?;
            if r.starts_with("421") {
                return Ok(());
            }
        } else if upper == "DATA" {
            if stall(&fault, Step::Data) {
                tokio::time::sleep(Duration::from_secs(60)).await;
                return Ok(());
            }
            if !rcpt_ok {
                io.get_mut()
                    .write_all(reply(554, "5.5.1 no valid recipients").as_bytes())
                    .await?;
                continue;
            }
            if let Some((c, t)) = fault_reply(&fault, Step::Data) {
                io.get_mut().write_all(reply(c, t).as_bytes()).await?;
                if c == 421 {
                    return Ok(());
                }
                continue;
            }
            io.get_mut().write_all(b"354 go ahead\r\n").await?;
            let mut content = Vec::new();
            let mut n = 0usize;
            loop {
                line.clear();
                if io.read_until(b'\n', &mut line).await? == 0 {
                    return Ok(());
                }
                n += 1;
                if fault == Fault::DropMidData && n == 5 {
                    return Ok(());
                }
                if line == b".\r\n" {
                    break;
                }
                let l = line.strip_prefix(b".").unwrap_or(&line);
                content.extend_from_slice(l);
            }
            if !end(&mut io, &fault, &state, &from, &to, content).await? {
                return Ok(());
            }
            mail_ok = false;
            rcpt_ok = false;
        } else if upper.starts_with("BDAT ") {
            let n: usize = upper
                .split_ascii_whitespace()
                .nth(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let last = upper.ends_with(" LAST");
            let mut content = vec![0; n];
            if fault == Fault::DropMidData {
                let _ = io.read_exact(&mut content[..n / 2]).await;
                return Ok(());
            }
            io.read_exact(&mut content).await?;
            if !rcpt_ok {
                io.get_mut()
                    .write_all(reply(554, "5.5.1 no valid recipients").as_bytes())
                    .await?;
                continue;
            }
            assert!(last, "calinvite sends one BDAT LAST chunk");
            if !end(&mut io, &fault, &state, &from, &to, content).await? {
                return Ok(());
            }
            mail_ok = false;
            rcpt_ok = false;
        } else if upper == "RSET" {
            mail_ok = false;
            rcpt_ok = false;
            io.get_mut().write_all(b"250 2.0.0 ok\r\n").await?;
        } else if upper == "NOOP" {
            io.get_mut().write_all(b"250 2.0.0 ok\r\n").await?;
        } else if upper == "QUIT" {
            io.get_mut().write_all(b"221 2.0.0 bye\r\n").await?;
            return Ok(());
        } else {
            io.get_mut().write_all(b"500 5.5.2 what\r\n").await?;
        }
    }
}

/// Answers the end of the content; false when the connection is to close.
async fn end(
    io: &mut BufReader<TcpStream>,
    fault: &Fault,
    state: &Arc<Mutex<State>>,
    from: &str,
    to: &[String],
    content: Vec<u8>,
) -> std::io::Result<bool> {
    if matches!(fault, Fault::Stall(Step::End)) {
        tokio::time::sleep(Duration::from_secs(60)).await;
        return Ok(false);
    }
    // One transaction taken; the next needs MAIL again.
    if let Fault::Reply(Step::End, code, t) = fault {
        io.get_mut()
            .write_all(format!("{code} {t}\r\n").as_bytes())
            .await?;
        return Ok(*code != 421);
    }
    state.lock().unwrap().taken.push(Taken {
        from: from.to_string(),
        to: to.to_vec(),
        bytes: content,
    });
    io.get_mut().write_all(b"250 2.0.0 queued\r\n").await?;
    Ok(true)
}

fn between(line: &str) -> String {
    let start = line.find('<').map_or(0, |i| i + 1);
    let end = line[start..].find('>').map_or(line.len(), |i| start + i);
    line[start..end].to_string()
}

// ------------------------------------------------- a billing platform's pipeline

use calinvite_core::lifecycle::{
    AllowEntry, DomainOwner, OrganizerAccount, OrganizerId, OwnerId, Pipeline, PipelineOptions,
    Scope, Store, Transport,
};
use calinvite_core::{
    Clock, EmailAddress, Event, EventCode, FixedClock, Schedule, SequentialIds, TimeZone, WebUrl,
    ZonedDateTime,
};

pub fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

/// 2026-11-22T09:00:00Z, moving only when told.
pub fn start_clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::new(
        chrono::DateTime::parse_from_rfc3339("2026-11-22T09:00:00Z")
            .unwrap()
            .to_utc(),
    ))
}

/// An invoice due date, 18:00 in Madrid on 2026-12-10.
pub fn event(code: EventCode) -> Result<Event, String> {
    let zone = TimeZone::parse("Europe/Madrid").map_err(|e| e.to_string())?;
    let at = chrono::DateTime::parse_from_rfc3339("2026-12-10T17:00:00Z")
        .unwrap()
        .to_utc();
    let start = ZonedDateTime::from_instant(at, zone);
    let end = ZonedDateTime::from_instant(at + chrono::TimeDelta::hours(1), zone);
    Event::builder(code)
        .summary("Invoice INV-1 due")
        .schedule(Schedule::timed(start, end).map_err(|e| e.to_string())?)
        .organizer(addr("billing@calinvite.test"), Some("Billing"))
        .build()
        .map_err(|e| e.to_string())
}

/// A pipeline for owner `calinvite.test` (bounces to `bounces@calinvite.test`)
/// with one organizer, `billing@calinvite.test`.
pub async fn billing_pipeline<S: Store, T: Transport>(
    store: S,
    transport: T,
    clock: Arc<FixedClock>,
) -> (Pipeline<S, T>, Scope) {
    let owner = {
        let mut owner = DomainOwner::new(
            OwnerId(1),
            "Billing",
            "calinvite.test",
            addr("create@calinvite.test"),
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
            OrganizerAccount::new(scope, "Billing", addr("billing@calinvite.test"))
                .with_allow_list(vec![AllowEntry::Address(addr("billing@calinvite.test"))]),
        )
        .await
        .unwrap();
    let pipeline = Pipeline::with_options(
        store,
        transport,
        clock as Arc<dyn Clock>,
        Box::new(SequentialIds::new(7)),
        PipelineOptions::default(),
    );
    (pipeline, scope)
}

pub fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "calinvite-relay-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
