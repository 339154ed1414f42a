//! Simulated customers: each one's calendar client reads the invitation it
//! was delivered and answers it the way Google Calendar, Outlook or Apple
//! Calendar do — with an iMIP `REPLY` (RFC 6047) mailed to the invitation's
//! `ORGANIZER`, carrying the same `UID` and `SEQUENCE` and the attendee's
//! `PARTSTAT`.
//!
//! Nothing here is calinvite: it is the other side of the conversation,
//! written for the examples. The invitation is read with calinvite's own
//! [`parse_inbound`] (as any calendar client would parse it); the reply is
//! written by hand, in the shape real clients send
//! (`multipart/alternative` with a short text and a `text/calendar;
//! method=REPLY` part).

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use calinvite_core::inbound::{
    AuthVerdict, InboundEnvelope, InboundKind, InboundLimits, parse_inbound,
};
use calinvite_core::{EmailAddress, Name, Sequence};
use chrono::{DateTime, Utc};

/// What a simulated customer answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Answer {
    /// Yes (`PARTSTAT=ACCEPTED`).
    Yes,
    /// Maybe (`PARTSTAT=TENTATIVE`).
    Maybe,
    /// No (`PARTSTAT=DECLINED`).
    No,
    /// The customer never answers.
    Silent,
}

impl Answer {
    /// The answers to invitations named by `keys` (the invoice numbers):
    /// the same for the same seed and keys on every run. The invitations are
    /// put in an order drawn from `seed` and their keys, and take Yes, Maybe,
    /// Yes, No, Yes, silence in turn — so any six or more show every kind of
    /// answer, half of them Yes.
    pub fn assign<K: AsRef<str>>(seed: u64, keys: &[K]) -> Vec<Answer> {
        const TURNS: [Answer; 6] = [
            Answer::Yes,
            Answer::Maybe,
            Answer::Yes,
            Answer::No,
            Answer::Yes,
            Answer::Silent,
        ];
        let mut order: Vec<(u64, usize)> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (fnv(&[&seed.to_le_bytes(), k.as_ref().as_bytes()]), i))
            .collect();
        order.sort_unstable();
        let mut answers = vec![Answer::Silent; keys.len()];
        for (rank, (_, i)) in order.into_iter().enumerate() {
            answers[i] = TURNS[rank % TURNS.len()];
        }
        answers
    }

    /// The `PARTSTAT` of the reply; `None` for a customer who does not answer.
    pub fn partstat(self) -> Option<&'static str> {
        match self {
            Answer::Yes => Some("ACCEPTED"),
            Answer::Maybe => Some("TENTATIVE"),
            Answer::No => Some("DECLINED"),
            Answer::Silent => None,
        }
    }

    /// As a person says it: `Yes`, `Maybe`, `No`, `(no answer)`.
    pub fn label(self) -> &'static str {
        match self {
            Answer::Yes => "Yes",
            Answer::Maybe => "Maybe",
            Answer::No => "No",
            Answer::Silent => "(no answer)",
        }
    }
}

/// An invitation as the customer's calendar client reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedInvitation {
    /// Its UID (calinvite's per-recipient UID, token included).
    pub uid: String,
    /// Its SEQUENCE.
    pub sequence: Sequence,
    /// Where answers go: the `ORGANIZER` (calinvite's reply mailbox).
    pub organizer: EmailAddress,
    /// The event's summary.
    pub summary: String,
    /// The event's description.
    pub description: Option<String>,
    /// The event's URL.
    pub url: Option<String>,
}

/// Reads a delivered message as a calendar client does: it must be an iMIP
/// `REQUEST` with an `ORGANIZER` to answer to.
pub fn read_invitation(raw: &[u8]) -> Result<ReceivedInvitation, String> {
    let message = parse_inbound(
        raw,
        &InboundEnvelope::default(),
        &AuthVerdict::default(),
        &InboundLimits::default(),
    );
    if message.method.as_deref() != Some("REQUEST") {
        return Err(format!(
            "not an invitation (METHOD {:?}, read as {})",
            message.method,
            message.kind.name()
        ));
    }
    let InboundKind::OrganizerRequest(request) = message.kind else {
        return Err(format!(
            "not an invitation (read as {})",
            message.kind.name()
        ));
    };
    let organizer = request
        .identity
        .organizer
        .ok_or("the invitation names no ORGANIZER to answer to")?
        .address()
        .clone();
    Ok(ReceivedInvitation {
        uid: request.identity.uid,
        sequence: request.identity.sequence,
        organizer,
        summary: request
            .event
            .summary
            .map(|s| s.single_line())
            .unwrap_or_default(),
        description: request.event.description.map(|d| d.as_str().to_owned()),
        url: request.event.url,
    })
}

/// The `REPLY` message the customer's calendar client mails to
/// `invitation.organizer`, answering `partstat` (`ACCEPTED`, `TENTATIVE`,
/// `DECLINED`) at `now`.
pub fn write_reply(
    invitation: &ReceivedInvitation,
    attendee: &EmailAddress,
    name: Option<&Name>,
    partstat: &str,
    now: DateTime<Utc>,
) -> Vec<u8> {
    let mut ics = String::new();
    for line in [
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".to_owned(),
        "PRODID:-//calinvite examples//Simulated calendar client//EN".to_owned(),
        "METHOD:REPLY".to_owned(),
        "BEGIN:VEVENT".to_owned(),
        format!("UID:{}", invitation.uid),
        format!("SEQUENCE:{}", invitation.sequence),
        format!("DTSTAMP:{}", now.format("%Y%m%dT%H%M%SZ")),
        format!("ORGANIZER:mailto:{}", invitation.organizer),
        match name {
            Some(n) => format!(
                "ATTENDEE;CN=\"{}\";PARTSTAT={partstat}:mailto:{attendee}",
                parameter_value(n.as_str())
            ),
            None => format!("ATTENDEE;PARTSTAT={partstat}:mailto:{attendee}"),
        },
        "END:VEVENT".to_owned(),
        "END:VCALENDAR".to_owned(),
    ] {
        push_folded(&mut ics, &line);
    }

    let verb = match partstat {
        "ACCEPTED" => "Accepted",
        "DECLINED" => "Declined",
        "TENTATIVE" => "Tentative",
        _ => "Answered",
    };
    let who = name.map_or_else(|| attendee.to_string(), |n| n.as_str().to_owned());
    let text = format!(
        "{who} has {} this invitation.\r\n",
        verb.to_ascii_lowercase()
    );
    let from = match name {
        Some(n) => format!("{} <{attendee}>", display_name(n.as_str())),
        None => format!("<{attendee}>"),
    };
    // Stable per answer, so a repeated run writes the same bytes.
    let message_id = format!(
        "reply.{:016x}@{}",
        fnv(&[invitation.uid.as_bytes(), partstat.as_bytes()]),
        attendee.domain()
    );
    let boundary = "=_simulated-calendar-reply";
    let mut m = String::new();
    let _ = write!(
        m,
        "From: {from}\r\n\
         To: <{to}>\r\n\
         Subject: {subject}\r\n\
         Date: {date}\r\n\
         Message-ID: <{message_id}>\r\n\
         X-Mailer: calinvite examples, simulated calendar client\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\
         \r\n\
         --{boundary}\r\n\
         Content-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         {text}\
         --{boundary}\r\n\
         Content-Type: text/calendar; charset=UTF-8; method=REPLY\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         {ics}\
         --{boundary}--\r\n",
        to = invitation.organizer,
        subject = header_text(&format!("{verb}: {}", invitation.summary)),
        date = now.to_rfc2822(),
        text = base64_lines(text.as_bytes()),
        ics = base64_lines(ics.as_bytes()),
    );
    m.into_bytes()
}

/// FNV-1a: stable across platforms and Rust versions, unlike std's hasher.
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in parts.iter().flat_map(|p| p.iter()) {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A quoted iCalendar parameter value: no DQUOTE or control character can
/// be written (RFC 5545 §3.1).
fn parameter_value(s: &str) -> String {
    s.chars().filter(|c| *c != '"' && !c.is_control()).collect()
}

/// Appends `line` with CRLF, folded at 75 octets, never inside a UTF-8
/// sequence (RFC 5545 §3.1).
fn push_folded(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
}

/// Base64 in lines of 76 characters, each ending with CRLF.
fn base64_lines(bytes: &[u8]) -> String {
    let encoded = BASE64.encode(bytes);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 38);
    for chunk in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

/// Header text: as it is when plain printable ASCII, else RFC 2047 encoded
/// words (each at most 30 octets of text, folded onto lines of their own).
fn header_text(s: &str) -> String {
    let s: String = s.chars().filter(|c| !c.is_control()).collect();
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return s;
    }
    encoded_words(&s)
}

fn encoded_words(s: &str) -> String {
    let mut words = Vec::new();
    let mut start = 0;
    let mut end = 0;
    for (i, c) in s.char_indices() {
        if i + c.len_utf8() - start > 30 {
            words.push(&s[start..end]);
            start = i;
        }
        end = i + c.len_utf8();
    }
    words.push(&s[start..end]);
    words
        .iter()
        .map(|w| format!("=?UTF-8?B?{}?=", BASE64.encode(w)))
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// A display name for `From:`: a quoted string when plain ASCII, else
/// encoded words.
fn display_name(name: &str) -> String {
    let name: String = name.chars().filter(|c| !c.is_control()).collect();
    if name.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{escaped}\"")
    } else {
        encoded_words(&name)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use calinvite_core::ParticipationStatus;
    use chrono::TimeZone as _;

    #[test]
    fn answers_are_stable_and_mixed() {
        let customers: Vec<String> = (0..12).map(|i| format!("INV-{i}")).collect();
        let answers = Answer::assign(1, &customers);
        assert_eq!(answers, Answer::assign(1, &customers));
        assert_ne!(answers, Answer::assign(2, &customers));
        let count = |a| answers.iter().filter(|x| **x == a).count();
        assert_eq!(
            [Answer::Yes, Answer::Maybe, Answer::No, Answer::Silent].map(count),
            [6, 2, 2, 2]
        );
        // An answer does not depend on where its invoice is in the list.
        let mut reversed = customers.clone();
        reversed.reverse();
        let mut again = Answer::assign(1, &reversed);
        again.reverse();
        assert_eq!(again, answers);
    }

    #[test]
    fn the_reply_reads_back_as_a_reply() {
        let invitation = ReceivedInvitation {
            uid: "abc.0123456789abcdefghijklmnopqrstuv@invoices.example.com".into(),
            sequence: Sequence::new(2),
            organizer: EmailAddress::parse("rsvp@invoices.example.com").unwrap(),
            summary: "Invoice INV-1 due: EUR 1.00 — 山田".into(),
            description: None,
            url: None,
        };
        let who = EmailAddress::parse("jorg@example.org").unwrap();
        let name = Name::new("Jörg \"JØ\" Ødegård, a very long name that needs folding somewhere")
            .unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap();
        let raw = write_reply(&invitation, &who, Some(&name), "TENTATIVE", now);
        assert!(raw.is_ascii());
        assert!(raw.split(|b| *b == b'\n').all(|l| l.len() <= 78));
        let message = parse_inbound(
            &raw,
            &InboundEnvelope::default(),
            &AuthVerdict::default(),
            &InboundLimits::default(),
        );
        assert!(message.warnings.is_empty(), "{:?}", message.warnings);
        let InboundKind::Reply(reply) = message.kind else {
            panic!("read as {}", message.kind.name());
        };
        assert_eq!(reply.identity.uid, invitation.uid);
        assert_eq!(reply.identity.sequence, Sequence::new(2));
        assert_eq!(reply.partstat, Some(ParticipationStatus::Tentative));
        let attendee = reply.attendee.unwrap();
        assert_eq!(attendee.address(), &who);
        assert_eq!(
            attendee.name().unwrap().as_str(),
            "Jörg 'JØ' Ødegård, a very long name that needs folding somewhere"
        );
        assert_eq!(message.from.as_ref(), Some(&who));
        assert_eq!(
            message.subject.as_deref(),
            Some("Tentative: Invoice INV-1 due: EUR 1.00 — 山田")
        );
    }
}
