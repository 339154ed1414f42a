//! The other side of the mail: an organizer's calendar that sends a
//! REQUEST, and recipients' calendars that read their invitation and
//! answer with a REPLY — real iMIP messages, sent over SMTP.

use calinvite_core::inbound::{
    AuthVerdict, InboundEnvelope, InboundKind, InboundLimits, parse_inbound,
};
use calinvite_core::lifecycle::Transport as _;
use calinvite_core::{EmailAddress, Envelope};
use calinvite_smtp::relay::{RelayConfig, SmtpRelay};

#[allow(clippy::disallowed_methods)]
fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// The organizer's calendar: a REQUEST for `uid` at `sequence`, on `day`
/// (`YYYYMMDD`) from 18:00 to 20:00 in Madrid.
pub fn organizer_request(
    organizer: &str,
    ingest: &str,
    uid: &str,
    sequence: u32,
    day: &str,
    title: &str,
) -> Vec<u8> {
    let stamp = now().format("%Y%m%dT%H%M%SZ");
    let ics = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test Organizer//Calendar//EN\r\n\
         METHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nSEQUENCE:{sequence}\r\n\
         DTSTAMP:{stamp}\r\nDTSTART;TZID=Europe/Madrid:{day}T180000\r\n\
         DTEND;TZID=Europe/Madrid:{day}T200000\r\nSUMMARY:{title}\r\n\
         LOCATION:Calle Mayor 1\\, Madrid\r\n\
         ORGANIZER;CN=Ana:mailto:{organizer}\r\n\
         ATTENDEE;CN=Ana;PARTSTAT=ACCEPTED:mailto:{organizer}\r\n\
         ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:{ingest}\r\n\
         STATUS:CONFIRMED\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    format!(
        "From: Ana <{organizer}>\r\nTo: {ingest}\r\nSubject: {title}\r\n\
         Date: {date}\r\nMessage-ID: <{uid}.{sequence}@test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/calendar; charset=UTF-8; method=REQUEST\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{ics}",
        date = now().to_rfc2822(),
    )
    .into_bytes()
}

/// What a recipient's calendar reads from a delivered message.
#[derive(Debug)]
pub struct Held {
    pub uid: String,
    pub sequence: u64,
    pub reply_to: String,
    pub method: String,
}

pub fn read(bytes: &[u8], to: &str) -> Held {
    let envelope = InboundEnvelope {
        mail_from: None,
        rcpt_to: vec![to.to_owned()],
        peer: None,
    };
    let m = parse_inbound(
        bytes,
        &envelope,
        &AuthVerdict::default(),
        &InboundLimits::default(),
    );
    let method = m.method.clone().unwrap_or_default();
    let identity = match m.kind {
        InboundKind::OrganizerRequest(r) => r.identity,
        InboundKind::OrganizerCancel(c) => c.identity,
        other => panic!("{to} received {other:?}"),
    };
    Held {
        uid: identity.uid,
        sequence: identity.sequence.get(),
        reply_to: identity
            .organizer
            .map(|o| o.address().as_str().to_owned())
            .unwrap(),
        method,
    }
}

/// A recipient's calendar answers what it holds.
pub fn reply(guest: &str, held: &Held, partstat: &str) -> Vec<u8> {
    let stamp = now().format("%Y%m%dT%H%M%SZ");
    let ics = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Guest//Calendar//EN\r\nMETHOD:REPLY\r\n\
         BEGIN:VEVENT\r\nUID:{uid}\r\nSEQUENCE:{seq}\r\nDTSTAMP:{stamp}\r\n\
         ORGANIZER:mailto:{to}\r\nATTENDEE;PARTSTAT={partstat}:mailto:{guest}\r\n\
         END:VEVENT\r\nEND:VCALENDAR\r\n",
        uid = held.uid,
        seq = held.sequence,
        to = held.reply_to,
    );
    format!(
        "From: {guest}\r\nTo: {to}\r\nSubject: {partstat}\r\nDate: {date}\r\n\
         Message-ID: <{partstat}.{n}.{guest}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/calendar; charset=UTF-8; method=REPLY\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{ics}",
        to = held.reply_to,
        date = now().to_rfc2822(),
        n = now().timestamp_micros(),
    )
    .into_bytes()
}

/// Sends `message` from `from` to `to` through the SMTP server at
/// `host:port` (the server's listener, or Postfix).
pub async fn send(host: &str, port: u16, helo: &str, from: &str, to: &str, message: &[u8]) {
    let relay = SmtpRelay::new(RelayConfig::plaintext(host, port).helo_name(helo)).unwrap();
    let envelope = Envelope::new(
        EmailAddress::parse(from).unwrap(),
        EmailAddress::parse(to).unwrap(),
    );
    relay
        .send_raw(&envelope, message)
        .await
        .unwrap_or_else(|e| panic!("sending to {to} through {host}:{port}: {e}"));
    relay.close().await;
}
