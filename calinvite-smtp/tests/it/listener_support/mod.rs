//! What the listener's tests share: a tenant served at `calinvite.test`, real
//! organizer invitations and replies, and a raw SMTP client.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use calinvite_core::inbound::AuthVerdict;
use calinvite_core::lifecycle::{
    AllowEntry, AuthPolicy, DomainOwner, InvitationSource, OrganizerAccount, OrganizerId, Outcome,
    OwnerId, Pipeline, RecordingTransport, Scope, Settings, Store,
};
use calinvite_core::{EmailAddress, EventCode, InvitationToken, InvitationUid, Recipient};
use calinvite_smtp::listener::{Verifier, VerifyContext};
use calinvite_store::system::{OsRandom, SystemClock};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub(crate) const DOMAIN: &str = "calinvite.test";
pub(crate) const INGEST: &str = "create@calinvite.test";
pub(crate) const REPLY: &str = "rsvp@calinvite.test";
pub(crate) const BOUNCE: &str = "bounces@calinvite.test";
pub(crate) const ORGANIZER: &str = "ana@example.com";

pub(crate) fn address(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

pub(crate) fn owner() -> DomainOwner {
    DomainOwner::new(
        OwnerId(1),
        "calinvite test",
        DOMAIN,
        address(INGEST),
        address(REPLY),
        address(BOUNCE),
    )
}

pub(crate) fn scope() -> Scope {
    Scope {
        owner: OwnerId(1),
        organizer: OrganizerId(1),
    }
}

/// A pipeline over `store` serving [`owner`], with [`ORGANIZER`] registered
/// under `policy`.
pub(crate) async fn pipeline<S: Store>(
    store: S,
    policy: AuthPolicy,
) -> Arc<Pipeline<S, RecordingTransport>> {
    store.put_owner(owner()).await.unwrap();
    let mut settings = Settings::default();
    settings.auth = policy;
    store
        .put_organizer(
            OrganizerAccount::new(scope(), "Ana", address(ORGANIZER))
                .with_allow_list(vec![AllowEntry::Address(address(ORGANIZER))])
                .with_settings(settings),
        )
        .await
        .unwrap();
    Arc::new(Pipeline::new(
        store,
        RecordingTransport::new(),
        Arc::new(SystemClock),
        Box::new(OsRandom),
    ))
}

/// An organizer's calendar invitation to the ingest address.
pub(crate) fn organizer_request(uid: &str, from: &str) -> Vec<u8> {
    let ics = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//Calendar//EN\r\nMETHOD:REQUEST\r\n\
         BEGIN:VEVENT\r\nUID:{uid}\r\nSEQUENCE:0\r\nDTSTAMP:20261122T090000Z\r\n\
         DTSTART;TZID=Europe/Madrid:20271203T180000\r\nDTEND;TZID=Europe/Madrid:20271203T200000\r\n\
         SUMMARY:Product launch party\r\nDESCRIPTION:Drinks and demos.\r\n\
         ORGANIZER;CN=Ana Organizer:mailto:{from}\r\n\
         ATTENDEE;CN=Ana Organizer;PARTSTAT=ACCEPTED:mailto:{from}\r\n\
         ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:{INGEST}\r\n\
         STATUS:CONFIRMED\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    calendar_message(
        from,
        INGEST,
        "Invitation: Product launch party",
        "REQUEST",
        &ics,
        uid,
    )
}

/// A guest's calendar accepting (or declining …) the invitation with `uid`.
pub(crate) fn reply(uid: &InvitationUid, guest: &str, partstat: &str) -> Vec<u8> {
    let ics = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//Calendar//EN\r\nMETHOD:REPLY\r\n\
         BEGIN:VEVENT\r\nUID:{uid}\r\nSEQUENCE:0\r\nDTSTAMP:20261122T100000Z\r\n\
         ORGANIZER:mailto:{REPLY}\r\nATTENDEE;PARTSTAT={partstat}:mailto:{guest}\r\n\
         END:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    calendar_message(
        guest,
        REPLY,
        &format!("{partstat}: launch"),
        "REPLY",
        &ics,
        &format!("{uid}-{guest}"),
    )
}

fn calendar_message(
    from: &str,
    to: &str,
    subject: &str,
    method: &str,
    ics: &str,
    id: &str,
) -> Vec<u8> {
    let id: String = id.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\n\
         Date: Sun, 22 Nov 2026 09:00:00 +0000\r\nMessage-ID: <{id}@client.example>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n{subject}\r\n\
         --b\r\nContent-Type: text/calendar; charset=UTF-8; method={method}\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{ics}--b--\r\n"
    )
    .into_bytes()
}

/// The event adopted from the organizer's `uid`, if any.
pub(crate) async fn event_code<S: Store>(
    pipeline: &Pipeline<S, RecordingTransport>,
    uid: &str,
) -> Option<EventCode> {
    pipeline
        .store()
        .event_by_uid(scope(), uid)
        .await
        .unwrap()
        .map(|e| e.code().clone())
}

/// Invites `guest` to `code`; the UID their reply must carry.
pub(crate) async fn invite<S: Store>(
    pipeline: &Pipeline<S, RecordingTransport>,
    code: &EventCode,
    guest: &str,
) -> (InvitationToken, InvitationUid) {
    let out = pipeline
        .invite(
            scope(),
            code,
            Recipient::new(address(guest)),
            InvitationSource::Api,
        )
        .await
        .unwrap();
    let Outcome::Invited(token) = out else {
        panic!("inviting {guest}: {out:?}")
    };
    let uid = InvitationUid::new(code.clone(), token.clone(), DOMAIN).unwrap();
    (token, uid)
}

/// A verifier that reports the same verdict for every message.
#[derive(Clone, Debug, Default)]
pub(crate) struct FixedVerdict(pub(crate) AuthVerdict);

impl Verifier for FixedVerdict {
    async fn verify(&self, _: &VerifyContext<'_>, _: &[u8]) -> AuthVerdict {
        self.0.clone()
    }
}

/// A raw SMTP client: it writes what it is told and reads replies whole.
pub(crate) struct Client {
    pub(crate) stream: BufReader<TcpStream>,
}

impl Client {
    pub(crate) async fn connect(addr: std::net::SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        Client {
            stream: BufReader::new(stream),
        }
    }

    /// Connects to `addr`, or `None` when nothing listens there.
    pub(crate) async fn connect_checked(addr: &str) -> Option<Client> {
        let stream = TcpStream::connect(addr).await.ok()?;
        Some(Client {
            stream: BufReader::new(stream),
        })
    }

    /// Connects and reads the greeting, which must be a 220.
    pub(crate) async fn greeted(addr: std::net::SocketAddr) -> Client {
        let mut c = Self::connect(addr).await;
        c.expect(220).await;
        c
    }

    pub(crate) async fn send(&mut self, bytes: &[u8]) {
        self.stream.get_mut().write_all(bytes).await.unwrap();
    }

    /// Writes a command line (CRLF added).
    pub(crate) async fn line(&mut self, line: &str) {
        self.send(format!("{line}\r\n").as_bytes()).await;
    }

    /// The next whole reply (all its lines), or `None` if the server closed.
    pub(crate) async fn reply(&mut self) -> Option<(u16, String)> {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(30), self.stream.read_line(&mut line))
                .await
                .expect("a reply within 30 s")
                .ok()?;
            if n == 0 {
                return None;
            }
            text.push_str(&line);
            let code: u16 = line.get(..3)?.parse().ok()?;
            if line.as_bytes().get(3) != Some(&b'-') {
                return Some((code, text));
            }
        }
    }

    /// Reads a reply and checks its code; returns its text.
    pub(crate) async fn expect(&mut self, code: u16) -> String {
        match self.reply().await {
            Some((c, text)) if c == code => text,
            other => panic!("expected {code}, got {other:?}"),
        }
    }

    /// Sends `line` and checks the reply's code; returns its text.
    pub(crate) async fn command(&mut self, line: &str, code: u16) -> String {
        self.line(line).await;
        self.expect(code).await
    }

    /// Whether the server closed the connection (EOF or reset).
    pub(crate) async fn closed(&mut self) -> bool {
        let mut line = String::new();
        matches!(
            tokio::time::timeout(Duration::from_secs(10), self.stream.read_line(&mut line)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }

    /// A whole transaction: EHLO … DATA, the message dot-stuffed; returns the
    /// reply to the end of data.
    pub(crate) async fn deliver(
        &mut self,
        from: &str,
        to: &[&str],
        message: &[u8],
    ) -> (u16, String) {
        self.command("EHLO client.example", 250).await;
        self.command(&format!("MAIL FROM:<{from}>"), 250).await;
        for rcpt in to {
            self.command(&format!("RCPT TO:<{rcpt}>"), 250).await;
        }
        self.command("DATA", 354).await;
        self.send(&dot_stuffed(message)).await;
        self.send(b".\r\n").await;
        self.reply().await.unwrap()
    }
}

/// `message` as DATA carries it: leading dots doubled, ending in CRLF.
pub(crate) fn dot_stuffed(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    let mut at_start = true;
    for &b in message {
        if at_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Checks that a fresh client can still deliver a message while another
/// connection misbehaves.
pub(crate) async fn still_serves(addr: std::net::SocketAddr) {
    let mut other = Client::greeted(addr).await;
    other.command("EHLO other.example", 250).await;
    other.command("MAIL FROM:<someone@example.net>", 250).await;
    other.command(&format!("RCPT TO:<{BOUNCE}>"), 250).await;
    other.command("RSET", 250).await;
    other.command("QUIT", 221).await;
}
