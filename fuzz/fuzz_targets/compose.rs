//! Arbitrary text in every field of an event, recipient and sender: the
//! message is 7-bit (but for the recipient's addr-spec in `To` when its local
//! part is not ASCII, which RFC 6532 writes as UTF-8), CRLF-only, folded at 78
//! octets wherever folding is possible (never over 998), and the header block
//! has exactly the headers calinvite writes.
#![no_main]
use arbitrary::Arbitrary;
use calinvite_core::{
    ComposeOptions, Composer, EmailAddress, Event, EventCode, EventRevision, InvitationToken, InvitationUid,
    MessageKind, Recipient, Schedule, SenderIdentity, Sequence, TimeZone, WebUrl, ZonedDateTime,
};
use chrono::{DateTime, NaiveDate};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    summary: &'a str,
    description: &'a str,
    location: &'a str,
    organizer_name: &'a str,
    recipient_name: &'a str,
    sender_name: &'a str,
    recipient_local: &'a str,
    zone: &'a str,
    day: u8,
    hours: u8,
    sequence: u64,
    cancel: bool,
}

fuzz_target!(|input: Input<'_>| {
    let Ok(to) = EmailAddress::parse(&format!("{}@example.org", input.recipient_local)) else { return };
    let zone = TimeZone::parse(input.zone).unwrap_or(TimeZone::UTC);
    let day = NaiveDate::from_ymd_opt(2026, 12, 1 + u32::from(input.day % 28)).expect("valid day");
    let Ok(start) = ZonedDateTime::new(day.and_hms_opt(12, 0, 0).expect("noon"), zone) else { return };
    let end = ZonedDateTime::from_instant(start.instant() + chrono::TimeDelta::hours(i64::from(input.hours)), zone);
    let code = EventCode::parse("k3m9qxv2c4d8fjr7").expect("code");
    let Ok(event) = Event::builder(code.clone())
        .summary(input.summary)
        .description(input.description)
        .location(input.location)
        .schedule(Schedule::timed(start, end).expect("end after start"))
        .organizer(EmailAddress::parse("ana@example.com").expect("address"), Some(input.organizer_name))
        .build()
    else {
        return;
    };
    let composer = Composer::new(
        SenderIdentity::new(EmailAddress::parse("rsvp@events.example.com").expect("address"), Some(input.sender_name)),
        ComposeOptions::new()
            .links_base(WebUrl::parse("https://events.example.com").expect("url"))
            .list_unsubscribe(true),
    );
    let uid = InvitationUid::new(code, InvitationToken::parse("0123456789abcdefghjkmnpqrs").expect("token"), "example.com")
        .expect("uid");
    let kind = if input.cancel { MessageKind::Cancellation } else { MessageKind::Invitation };
    let revision = EventRevision::new(event, Sequence::new(input.sequence));
    let now = DateTime::from_timestamp(1_795_000_000, 0).expect("time");
    let message = composer
        .compose(kind, &revision, &Recipient::new(to).with_name(input.recipient_name), &uid, now)
        .expect("a valid event composes");
    let bytes = message.bytes();
    let text = std::str::from_utf8(bytes).expect("UTF-8");
    let head = &text[..text.find("\r\n\r\n").expect("header block")];
    let to = message.envelope().to();
    if to.needs_smtputf8() {
        // The one 8-bit run allowed: the recipient's addr-spec (RFC 6532), one
        // unbroken token ending the To field; everything else stays 7-bit.
        let addr_spec = format!("<{}>", to.as_str());
        let from_to = &head[head.find("\r\nTo:").expect("a To field") + 2..];
        let to_field = from_to.split("\r\n").enumerate().take_while(|(i, l)| *i == 0 || l.starts_with(' '));
        let last = to_field.last().map(|(_, l)| l).unwrap_or_default();
        assert!(last.ends_with(&addr_spec), "To field does not end with {addr_spec}: {head}");
        assert!(text.replacen(&addr_spec, "", 1).is_ascii(), "8-bit octet outside the To addr-spec");
    } else {
        assert!(bytes.is_ascii(), "8-bit octet in a message to an ASCII address");
    }
    assert!(!text.replace("\r\n", "").contains(['\r', '\n']), "bare CR or LF");
    for line in text.split("\r\n") {
        assert!(line.len() <= 998, "line over RFC 5322's 998 octets");
        // Over 78 octets only when one unbreakable token (an address, a
        // Message-ID) stands alone on a continuation line.
        assert!(
            line.len() <= 78 || (line.starts_with(' ') && !line[1..].contains(' ')),
            "foldable line over 78 octets: {line:?}"
        );
    }
    let names: Vec<&str> = head
        .split("\r\n")
        .filter(|l| !l.starts_with(' '))
        .map(|l| l.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        [
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "MIME-Version",
            "List-Unsubscribe",
            "List-Unsubscribe-Post",
            "Content-Type"
        ]
    );
});
