//! Addresses in every script: internationalised domain names kept in
//! A-labels and shown in U-labels, non-ASCII local parts, and what an
//! invitation to each carries on the wire.

#![allow(clippy::unwrap_used)] // a test fails loudly on the first unexpected error

use calinvite_core::*;
use chrono::{NaiveDate, TimeZone as _, Utc};
use mail_parser::MimeHeaders as _;
use proptest::prelude::*;

/// Characters that may appear in a label, already in the form UTS #46 maps
/// them to (lower case, composed), from several scripts.
const LABEL_CHARS: &[char] = &[
    'a', 'b', 'k', 'q', 'z', '0', '7', 'ä', 'ö', 'ü', 'ß', 'é', 'ñ', 'ø', 'å', 'ç', 'ł', 'α', 'β',
    'λ', 'ω', 'д', 'ж', 'я', 'ё', '中', '文', '日', '本', '한', '글', 'ก', 'ไ',
];

/// A label of 1–12 characters from [`LABEL_CHARS`], with at most single
/// hyphens inside.
fn label() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(proptest::sample::select(LABEL_CHARS), 1..12),
        proptest::collection::vec(any::<bool>(), 12),
    )
        .prop_map(|(chars, hyphens)| {
            let mut s = String::new();
            for (i, c) in chars.iter().enumerate() {
                if i > 0 && hyphens[i] && !s.ends_with('-') {
                    s.push('-');
                }
                s.push(*c);
            }
            s
        })
}

fn domain() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(label(), 1..3),
        proptest::sample::select(&["de", "org", "рф", "中国", "com"][..]),
    )
        .prop_map(|(labels, tld)| format!("{}.{tld}", labels.join(".")))
}

fn local() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9]{1,10}(\\.[a-z0-9+_-]{1,6})?",
        proptest::collection::vec(proptest::sample::select(LABEL_CHARS), 1..10)
            .prop_map(|c| c.into_iter().collect::<String>()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any valid internationalised address round-trips: written in U-labels
    /// or in A-labels it is one address, stored with an ASCII domain and
    /// shown as it was written.
    #[test]
    fn any_idn_round_trips_between_a_and_u_labels(local in local(), domain in domain()) {
        let written = format!("{local}@{domain}");
        let a = EmailAddress::parse(&written).unwrap();
        prop_assert!(a.domain().is_ascii());
        prop_assert_eq!(a.local_part(), local.as_str());
        prop_assert_eq!(a.to_unicode(), written.as_str());
        prop_assert_eq!(a.domain_unicode(), domain.as_str());
        prop_assert_eq!(a.needs_smtputf8(), !local.is_ascii());
        let from_a_labels = EmailAddress::parse(a.as_str()).unwrap();
        prop_assert_eq!(&from_a_labels, &a);
        prop_assert_eq!(EmailAddress::parse(&a.to_unicode()).unwrap(), a.clone());
        // Upper case reads back the same (but `ß` upper-cases to `SS`).
        if !written.contains('ß') {
            prop_assert_eq!(EmailAddress::parse(&written.to_uppercase()).unwrap(), a);
        }
    }

    /// A label holding a character no domain may hold is refused, and the
    /// error names that label.
    #[test]
    fn a_bad_character_is_refused_naming_its_label(
        good in label(),
        bad in proptest::sample::select(&[' ', '_', '!', '"', '<', '/', '\u{00A0}', '\u{2028}', '\u{FFFD}', '@'][..]),
        at in 0usize..12,
    ) {
        let mut chars: Vec<char> = good.chars().collect();
        chars.insert(at.min(chars.len()), bad);
        let broken: String = chars.into_iter().collect();
        let err = EmailAddress::parse(&format!("zoë@ü{broken}.de")).unwrap_err();
        match &err {
            AddressError::InvalidDomainLabel { label, problem } => {
                let want = format!("ü{broken}");
                prop_assert_eq!(label.as_str(), want.as_str());
                prop_assert!(matches!(problem, DomainLabelProblem::Character(_)), "{problem:?}");
            }
            // '@' splits the address elsewhere: the domain is then `ü…`.
            _ if bad == '@' => {}
            other => prop_assert!(false, "{other:?}"),
        }
    }

    /// Parsing never panics, and what parses is a fixed point: its stored
    /// and its shown forms read back as the same address.
    #[test]
    fn parsing_any_text_is_safe_and_stable(input in "\\PC{0,40}@\\PC{0,40}") {
        if let Ok(a) = EmailAddress::parse(&input) {
            prop_assert!(a.domain().is_ascii());
            prop_assert!(a.as_str().len() <= 254);
            prop_assert_eq!(EmailAddress::parse(a.as_str()).unwrap(), a.clone());
            prop_assert_eq!(EmailAddress::parse(&a.to_unicode()).unwrap(), a);
        }
    }
}

#[test]
fn the_examples_of_the_issue_are_accepted() {
    let jorg = EmailAddress::parse("jörg@bücher-müller.de").unwrap();
    assert_eq!(jorg.as_str(), "jörg@xn--bcher-mller-thbg.de");
    assert_eq!(jorg.to_unicode(), "jörg@bücher-müller.de");
    let zoe = EmailAddress::parse("zoë@example.org").unwrap();
    assert_eq!(zoe.as_str(), "zoë@example.org");
    assert!(zoe.needs_smtputf8());
}

/// An invitation to `to`, composed.
fn invite(to: &str) -> OutgoingMessage {
    let ids = SequentialIds::new(1);
    let zone = TimeZone::parse("Europe/Madrid").unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
    let event = Event::builder(EventCode::generate(&ids))
        .summary("Fiesta")
        .schedule(
            Schedule::timed(
                ZonedDateTime::new(day.and_hms_opt(18, 0, 0).unwrap(), zone).unwrap(),
                ZonedDateTime::new(day.and_hms_opt(20, 0, 0).unwrap(), zone).unwrap(),
            )
            .unwrap(),
        )
        .organizer(
            EmailAddress::parse("organizer@bücher-müller.de").unwrap(),
            Some("Ana"),
        )
        .build()
        .unwrap();
    let revision = EventRevision::new(event, Sequence::INITIAL);
    let sender = SenderIdentity::new(
        EmailAddress::parse("rsvp@events.bücher-müller.de").unwrap(),
        None,
    );
    let composer = Composer::new(sender, ComposeOptions::new());
    let recipient = Recipient::new(EmailAddress::parse(to).unwrap()).with_name("Jörg");
    let uid = InvitationUid::new(
        revision.event().code().clone(),
        InvitationToken::generate(&ids),
        "events.example.com",
    )
    .unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap();
    composer
        .compose(MessageKind::Invitation, &revision, &recipient, &uid, now)
        .unwrap()
}

/// The unfolded text of the message's `text/calendar` part.
fn calendar_of(bytes: &[u8]) -> String {
    let message = mail_parser::MessageParser::default().parse(bytes).unwrap();
    let part = message
        .parts
        .iter()
        .find(|p| {
            p.content_type()
                .is_some_and(|c| c.ctype() == "text" && c.subtype() == Some("calendar"))
        })
        .unwrap();
    part.text_contents()
        .or_else(|| std::str::from_utf8(part.contents()).ok())
        .unwrap()
        .replace("\r\n ", "")
}

fn header(bytes: &[u8], name: &str) -> String {
    let text = format!("\r\n{}", std::str::from_utf8(bytes).unwrap());
    let head = &text[..text.find("\r\n\r\n").unwrap()];
    let start = head
        .find(&format!("\r\n{name}: "))
        .map(|i| i + 2)
        .unwrap_or_else(|| panic!("no {name} in {head}"));
    let rest = &head[start + name.len() + 2..];
    let mut end = 0;
    for line in rest.split("\r\n") {
        end += line.len() + 2;
        if !rest[end..].starts_with([' ', '\t']) {
            break;
        }
    }
    rest[..end - 2].to_owned()
}

#[test]
fn an_invitation_to_an_idn_address_carries_a_labels_on_the_wire() {
    let m = invite("Jörg.Ana@Bücher-Müller.de");
    let to = m.envelope().to();
    assert_eq!(to.as_str(), "jörg.ana@xn--bcher-mller-thbg.de");
    assert_eq!(
        m.envelope().from().domain(),
        "events.xn--bcher-mller-thbg.de"
    );
    let bytes = m.bytes();
    // The domain is ASCII everywhere; the local part is UTF-8 in the
    // addr-spec (RFC 6532) and percent-encoded in the mailto URI.
    assert!(
        !bytes
            .windows("bücher".len())
            .any(|w| w == "bücher".as_bytes())
    );
    assert!(
        header(bytes, "To").ends_with("<jörg.ana@xn--bcher-mller-thbg.de>"),
        "{}",
        header(bytes, "To")
    );
    assert!(header(bytes, "From").contains("@events.xn--bcher-mller-thbg.de>"));
    let ics = calendar_of(bytes);
    assert!(
        ics.contains(":mailto:j%C3%B6rg.ana@xn--bcher-mller-thbg.de\r\n"),
        "{ics}"
    );
    let parsed = mail_parser::MessageParser::default().parse(bytes).unwrap();
    let to_header = parsed.to().and_then(|a| a.first()).unwrap();
    assert_eq!(
        EmailAddress::parse(to_header.address().unwrap()).unwrap(),
        *to
    );
}

#[test]
fn an_invitation_to_an_ascii_local_part_at_an_idn_is_all_ascii() {
    let m = invite("ana@bücher-müller.de");
    assert!(m.bytes().is_ascii());
    assert!(!m.envelope().to().needs_smtputf8());
    let ics = calendar_of(m.bytes());
    assert!(
        ics.contains(":mailto:ana@xn--bcher-mller-thbg.de\r\n"),
        "{ics}"
    );
}
