//! `listener-inbound`: replies accepted and recorded per second through the
//! inbound SMTP listener, on SQLite.
//!
//! ```text
//! listener-inbound [--replies N] [--connections C] [--dir DIR]
//! ```
//!
//! Sets up, untimed: a SQLite store in a temporary folder, a domain owner, an
//! organizer whose calendar invitation is handed to the pipeline, and `N`
//! invitations (default 2,000) to it. Then, timed: `C` clients (default 8)
//! each open one connection to the listener on loopback and send their share
//! of the `N` guests' replies (each a real iMIP REPLY with the invitation's
//! UID): `MAIL FROM`, `RCPT TO` and `DATA` pipelined, then the message; the
//! next message only after the `250`, which the listener writes once the
//! answer is committed to the store. At the end every invitation must hold
//! its guest's answer.
//!
//! Prints one JSON line: wall seconds of the timed part, replies per second,
//! CPU seconds of the process (listener, SQLite and clients together), and
//! peak RSS.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use calinvite::{OsRandom, SystemClock};
use calinvite_benches::measure::{rusage, vm_hwm_kb, wall_start};
use calinvite_core::inbound::{AuthVerdict, InboundEnvelope};
use calinvite_core::lifecycle::{
    AllowEntry, AuthPolicy, DomainOwner, InvitationSource, OrganizerAccount, OrganizerId, Outcome,
    OwnerId, Pipeline, RecordingTransport, Scope, Settings, Store,
};
use calinvite_core::{EmailAddress, InvitationUid, ParticipationStatus, Recipient};
use calinvite_smtp::listener::{Listener, ListenerConfig, NoVerification};
use calinvite_store::SqlStore;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const DOMAIN: &str = "calinvite.test";
const ORGANIZER: &str = "ana@example.com";

struct Args {
    replies: usize,
    connections: usize,
    dir: Option<std::path::PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        replies: 2000,
        connections: 8,
        dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--replies" => {
                args.replies = value()?.parse().map_err(|e| format!("--replies: {e}"))?
            }
            "--connections" => {
                args.connections = value()?
                    .parse()
                    .map_err(|e| format!("--connections: {e}"))?;
            }
            "--dir" => args.dir = Some(value()?.into()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.connections == 0 || args.replies == 0 {
        return Err("--replies and --connections must be positive".into());
    }
    Ok(args)
}

fn address(s: &str) -> Result<EmailAddress, String> {
    EmailAddress::parse(s).map_err(|e| format!("{s}: {e}"))
}

fn organizer_request() -> Vec<u8> {
    let ics = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Bench//Calendar//EN\r\nMETHOD:REQUEST\r\n\
         BEGIN:VEVENT\r\nUID:bench-launch@example.com\r\nSEQUENCE:0\r\nDTSTAMP:20261122T090000Z\r\n\
         DTSTART;TZID=Europe/Madrid:20271203T180000\r\nDTEND;TZID=Europe/Madrid:20271203T200000\r\n\
         SUMMARY:Product launch party\r\nORGANIZER;CN=Ana:mailto:{ORGANIZER}\r\n\
         ATTENDEE;RSVP=TRUE:mailto:create@{DOMAIN}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    message(
        ORGANIZER,
        &format!("create@{DOMAIN}"),
        "REQUEST",
        &ics,
        "bench-request",
    )
}

fn reply(uid: &InvitationUid, guest: &str) -> Vec<u8> {
    let ics = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Bench//Calendar//EN\r\nMETHOD:REPLY\r\n\
         BEGIN:VEVENT\r\nUID:{uid}\r\nSEQUENCE:0\r\nDTSTAMP:20261122T100000Z\r\n\
         ORGANIZER:mailto:rsvp@{DOMAIN}\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:{guest}\r\n\
         END:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    let id: String = guest.chars().filter(char::is_ascii_alphanumeric).collect();
    message(guest, &format!("rsvp@{DOMAIN}"), "REPLY", &ics, &id)
}

fn message(from: &str, to: &str, method: &str, ics: &str, id: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {method}\r\n\
         Date: Sun, 22 Nov 2026 09:00:00 +0000\r\nMessage-ID: <{id}@client.example>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/calendar; charset=UTF-8; method={method}\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{ics}"
    )
    .into_bytes()
}

/// Reads one whole reply; its code.
async fn read_reply(r: &mut BufReader<TcpStream>) -> Result<u16, String> {
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the listener closed the connection".into());
        }
        if line.as_bytes().get(3) != Some(&b'-') {
            return line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| format!("bad reply {line:?}"));
        }
    }
}

async fn expect(r: &mut BufReader<TcpStream>, code: u16) -> Result<(), String> {
    match read_reply(r).await? {
        c if c == code => Ok(()),
        c => Err(format!("expected {code}, got {c}")),
    }
}

/// One client: its messages, one after the other on one connection.
async fn client(
    addr: std::net::SocketAddr,
    messages: Vec<(String, Vec<u8>)>,
) -> Result<(), String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let mut r = BufReader::new(stream);
    expect(&mut r, 220).await?;
    r.get_mut()
        .write_all(b"EHLO bench.example\r\n")
        .await
        .map_err(|e| e.to_string())?;
    expect(&mut r, 250).await?;
    for (guest, body) in messages {
        let mut batch =
            format!("MAIL FROM:<{guest}>\r\nRCPT TO:<rsvp@{DOMAIN}>\r\nDATA\r\n").into_bytes();
        r.get_mut()
            .write_all(&batch)
            .await
            .map_err(|e| e.to_string())?;
        expect(&mut r, 250).await?;
        expect(&mut r, 250).await?;
        expect(&mut r, 354).await?;
        batch.clear();
        batch.extend_from_slice(&body);
        batch.extend_from_slice(b".\r\n");
        r.get_mut()
            .write_all(&batch)
            .await
            .map_err(|e| e.to_string())?;
        expect(&mut r, 250).await?;
    }
    r.get_mut()
        .write_all(b"QUIT\r\n")
        .await
        .map_err(|e| e.to_string())?;
    expect(&mut r, 221).await
}

#[allow(
    clippy::print_stdout,
    reason = "the JSON line on stdout is this binary's output"
)]
fn emit(line: &str) {
    println!("{line}");
}

async fn run(args: Args) -> Result<(), String> {
    let dir = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("calinvite-listener-inbound-{}", std::process::id()))
    });
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let url = format!("sqlite://{}?mode=rwc", dir.join("calinvite.db").display());
    let store = SqlStore::open(&url).await.map_err(|e| e.to_string())?;
    let owner = DomainOwner::new(
        OwnerId(1),
        "bench",
        DOMAIN,
        address(&format!("create@{DOMAIN}"))?,
        address(&format!("rsvp@{DOMAIN}"))?,
        address(&format!("bounces@{DOMAIN}"))?,
    );
    let scope = Scope {
        owner: OwnerId(1),
        organizer: OrganizerId(1),
    };
    let mut settings = Settings::default();
    settings.auth = AuthPolicy::AllowListOnly;
    store.put_owner(owner).await.map_err(|e| e.to_string())?;
    store
        .put_organizer(
            OrganizerAccount::new(scope, "Ana", address(ORGANIZER)?)
                .with_allow_list(vec![AllowEntry::Address(address(ORGANIZER)?)])
                .with_settings(settings),
        )
        .await
        .map_err(|e| e.to_string())?;
    let pipeline = Arc::new(Pipeline::new(
        store,
        RecordingTransport::new(),
        Arc::new(SystemClock),
        Box::new(OsRandom),
    ));
    let envelope = InboundEnvelope {
        mail_from: Some(ORGANIZER.into()),
        rcpt_to: vec![format!("create@{DOMAIN}")],
        peer: None,
    };
    let code = match pipeline
        .receive(&organizer_request(), envelope, AuthVerdict::default())
        .await
        .map_err(|e| e.to_string())?
    {
        Outcome::EventCreated(code) => code,
        other => return Err(format!("the organizer's request gave {other:?}")),
    };
    eprintln!("listener-inbound: inviting {} guests", args.replies);
    let mut messages = Vec::with_capacity(args.replies);
    for i in 0..args.replies {
        let guest = format!("guest{i}@example.net");
        let out = pipeline
            .invite(
                scope,
                &code,
                Recipient::new(address(&guest)?),
                InvitationSource::Api,
            )
            .await
            .map_err(|e| e.to_string())?;
        let Outcome::Invited(token) = out else {
            return Err(format!("inviting {guest} gave {out:?}"));
        };
        let uid = InvitationUid::new(code.clone(), token, DOMAIN).map_err(|e| e.to_string())?;
        let body = reply(&uid, &guest);
        messages.push((guest, body));
    }

    let listener = Listener::bind(
        "127.0.0.1:0",
        ListenerConfig::new("mx.calinvite.test"),
        pipeline.clone(),
        NoVerification,
    )
    .await
    .map_err(|e| e.to_string())?;
    let handle = listener.spawn().map_err(|e| e.to_string())?;
    let addr = handle.local_addr();

    let mut shares: Vec<Vec<(String, Vec<u8>)>> = vec![Vec::new(); args.connections];
    for (i, m) in messages.into_iter().enumerate() {
        shares[i % args.connections].push(m);
    }
    eprintln!(
        "listener-inbound: {} replies over {} connections",
        args.replies, args.connections
    );
    let (cpu_before, _) = rusage();
    let started = wall_start();
    let mut clients = tokio::task::JoinSet::new();
    for share in shares {
        clients.spawn(client(addr, share));
    }
    while let Some(done) = clients.join_next().await {
        done.map_err(|e| e.to_string())??;
    }
    let wall = started.elapsed();
    let (cpu_after, _) = rusage();
    handle.shutdown().await.map_err(|e| e.to_string())?;

    let recorded = pipeline
        .invitations(scope, &code)
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .filter(|i| i.status() == Some(ParticipationStatus::Accepted))
        .count();
    if recorded != args.replies {
        return Err(format!("{recorded} of {} answers recorded", args.replies));
    }
    let seconds = wall
        .as_secs_f64()
        .max(Duration::from_micros(1).as_secs_f64());
    emit(&format!(
        "{{\"bench\":\"listener-inbound\",\"store\":\"sqlite\",\"replies\":{},\"connections\":{},\
         \"wall_seconds\":{:.3},\"replies_per_second\":{:.1},\"cpu_seconds\":{:.3},\"vm_hwm_kb\":{}}}",
        args.replies,
        args.connections,
        seconds,
        args.replies as f64 / seconds,
        (cpu_after - cpu_before).as_secs_f64(),
        vm_hwm_kb().unwrap_or(0),
    ));
    if args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("listener-inbound: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("listener-inbound: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("listener-inbound: {e}");
            ExitCode::FAILURE
        }
    }
}
