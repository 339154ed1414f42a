//! Hostile inbound input is refused with a reason, at a cost bounded by its size.

#![allow(clippy::unwrap_used)] // a test fails loudly on the first unexpected error

use calinvite_core::inbound::{
    AuthVerdict, InboundEnvelope, InboundKind, InboundLimits, InboundMessage, UnsupportedReason,
    parse_inbound,
};

fn parse(raw: &[u8]) -> InboundMessage {
    parse_inbound(
        raw,
        &InboundEnvelope::default(),
        &AuthVerdict::default(),
        &InboundLimits::default(),
    )
}

fn reason(m: &InboundMessage) -> Option<UnsupportedReason> {
    match &m.kind {
        InboundKind::Unsupported { reason, .. } => Some(*reason),
        _ => None,
    }
}

fn calendar_message(ics: &str) -> Vec<u8> {
    format!("From: a@example.org\r\nContent-Type: text/calendar; method=REQUEST; charset=UTF-8\r\n\r\n{ics}").into_bytes()
}

#[test]
fn a_50_megabyte_message() {
    let mut raw = b"From: a@example.org\r\nSubject: big\r\n\r\n".to_vec();
    raw.resize(50 * 1024 * 1024, b'x');
    let m = parse(&raw);
    assert_eq!(reason(&m), Some(UnsupportedReason::TooLarge));
    let InboundKind::Unsupported { detail, .. } = &m.kind else {
        unreachable!()
    };
    assert!(detail.contains("52428800 bytes"), "{detail}");
}

#[test]
fn ten_thousand_nested_multiparts() {
    let mut raw = String::from("From: a@example.org\r\nMIME-Version: 1.0\r\n");
    for i in 0..10_000 {
        raw.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
        ));
    }
    raw.push_str(
        "Content-Type: text/calendar; method=REQUEST\r\n\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
    );
    for i in (0..10_000).rev() {
        raw.push_str(&format!("--b{i}--\r\n"));
    }
    let m = parse(raw.as_bytes());
    assert_eq!(reason(&m), Some(UnsupportedReason::TooDeep), "{:?}", m.kind);
}

#[test]
fn a_hundred_thousand_attendees() {
    let attendees = "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:x@example.org\r\n".repeat(100_000);
    let ics = format!(
        "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:u\r\nDTSTART:20261203T180000Z\r\n{attendees}END:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    let raw = calendar_message(&ics);
    assert!(raw.len() < InboundLimits::default().max_message_bytes);
    // Over the calendar-part limit first; with that raised, over the property limit.
    assert_eq!(reason(&parse(&raw)), Some(UnsupportedReason::TooLarge));
    let mut limits = InboundLimits::default();
    limits.max_calendar_bytes = 8 * 1024 * 1024;
    let m = parse_inbound(
        &raw,
        &InboundEnvelope::default(),
        &AuthVerdict::default(),
        &limits,
    );
    assert_eq!(reason(&m), Some(UnsupportedReason::TooManyProperties));
}

#[test]
fn a_base64_bomb_of_nested_encoded_messages() {
    // Each layer is the previous message, base64-encoded inside message/rfc822.
    let mut inner = calendar_message(
        "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:u\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    );
    for _ in 0..30 {
        let encoded = base64(&inner);
        inner = format!(
            "From: a@example.org\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}"
        )
        .into_bytes();
    }
    let m = parse(&inner);
    // Parsed without blowing up; the calendar thirty layers down is not reached.
    assert!(
        matches!(
            m.kind,
            InboundKind::NotCalendar | InboundKind::Unsupported { .. }
        ),
        "{:?}",
        m.kind
    );
}

#[test]
fn a_huge_base64_calendar_part() {
    let body = base64(&vec![b'A'; 6 * 1024 * 1024]);
    let raw = format!(
        "From: a@example.org\r\nContent-Type: text/calendar; method=REQUEST\r\nContent-Transfer-Encoding: base64\r\n\r\n{body}"
    );
    assert_eq!(
        reason(&parse(raw.as_bytes())),
        Some(UnsupportedReason::TooLarge)
    );
}

#[test]
fn an_endless_folded_line() {
    // One DESCRIPTION folded 300,000 times: larger than a calendar part may be.
    let ics = format!(
        "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:u\r\nDESCRIPTION:{}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        "x\r\n ".repeat(300_000)
    );
    assert_eq!(
        reason(&parse(&calendar_message(&ics))),
        Some(UnsupportedReason::TooLarge)
    );
    // Under the limit, it is read whole, in one pass.
    let ics = format!(
        "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:u\r\nDTSTART:20261203T180000Z\r\nSUMMARY:{}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        "x\r\n ".repeat(100_000)
    );
    let m = parse(&calendar_message(&ics));
    let InboundKind::OrganizerRequest(r) = &m.kind else {
        panic!("{:?}", m.kind)
    };
    assert_eq!(r.event.summary.as_ref().unwrap().as_str().len(), 100_000);
}

#[test]
fn encrypted_and_tnef_only_messages_say_so() {
    let smime = b"From: a@example.org\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIACAQAx\r\n";
    assert_eq!(reason(&parse(smime)), Some(UnsupportedReason::Encrypted));
    let tnef = b"From: a@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/ms-tnef; name=winmail.dat\r\nContent-Transfer-Encoding: base64\r\n\r\neJ8+IhAAAQaQCAAEAAAAAAABAAEAAQeQBgAIAAAA5AQAAAAAAADoAAEIgAcAGAAAAElQTS5NaWNy\r\n--b--\r\n";
    assert_eq!(reason(&parse(tnef)), Some(UnsupportedReason::TnefOnly));
    let unknown_charset = String::from_utf8(calendar_message("x"))
        .unwrap()
        .replace("charset=UTF-8", "charset=x-klingon");
    assert_eq!(
        reason(&parse(unknown_charset.as_bytes())),
        Some(UnsupportedReason::UnreadableCharset)
    );
    let no_method = b"From: a@example.org\r\nContent-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:u\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    assert_eq!(reason(&parse(no_method)), Some(UnsupportedReason::NoMethod));
}

#[test]
fn a_message_that_trips_the_mime_parser() {
    // Found by the inbound fuzz target: message/rfc822 directly in message/rfc822
    // in a multipart makes mail-parser 0.11 hit a debug assertion.
    let raw = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/mail-parser-nested-rfc822-panic.bin"
    ))
    .unwrap();
    let m = parse(&raw);
    assert!(
        matches!(
            m.kind,
            InboundKind::NotCalendar | InboundKind::Unsupported { .. }
        ),
        "{:?}",
        m.kind
    );
}

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len() * 4 / 3 + input.len() / 57 * 2 + 4);
    for (i, c) in input.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out.push_str("\r\n");
    out
}

#[test]
fn a_custom_time_zone_rule_with_non_ascii_weekday() {
    // Found by the inbound fuzz target: BYDAY ending inside a multi-byte character.
    let ics = "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VTIMEZONE\r\nTZID:Custom\r\nBEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;BYDAY=1\u{fffd};BYMONTH=10\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:u\r\nDTSTART;TZID=Custom:20261203T180000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let m = parse(&calendar_message(ics));
    assert!(
        matches!(m.kind, InboundKind::OrganizerRequest(_)),
        "{:?}",
        m.kind
    );
}

#[test]
fn a_fold_inside_a_utf8_sequence_in_every_transfer_encoding() {
    // 東京 with a fold between the second and third octet of 東 (E6 9D | B1).
    let ics: &[u8] = b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:u\r\nDTSTART:20261203T180000Z\r\nSUMMARY:\xE6\x9D\r\n \xB1\xE4\xBA\xAC\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let b64 = base64(ics);
    let qp: String = ics
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' || b == b'\r' || b == b'\n' {
                (b as char).to_string()
            } else {
                format!("={b:02X}")
            }
        })
        .collect();
    let bodies: [(&str, Vec<u8>); 3] = [
        ("8bit", ics.to_vec()),
        ("base64", b64.into_bytes()),
        ("quoted-printable", qp.into_bytes()),
    ];
    for (cte, body) in bodies {
        let mut raw = format!(
            "From: a@example.org\r\nContent-Type: text/calendar; method=REQUEST; charset=UTF-8\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
        )
        .into_bytes();
        raw.extend_from_slice(&body);
        let m = parse(&raw);
        let InboundKind::OrganizerRequest(r) = &m.kind else {
            panic!("{cte}: {:?}", m.kind)
        };
        assert_eq!(r.event.summary.as_ref().unwrap().as_str(), "東京", "{cte}");
        assert!(m.warnings.is_empty(), "{cte}: {:?}", m.warnings);
    }
}
