//! An OEM's own template replaces every word, and still cannot break the message.

#![allow(clippy::unwrap_used)] // a test fails loudly on the first unexpected error

use std::sync::Arc;

use calinvite_core::{
    ComposeOptions, Composer, EmailAddress, Event, EventCode, EventRevision, InvitationToken,
    InvitationUid, LanguageTag, MessageKind, Recipient, RenderedText, Schedule, SenderIdentity,
    Sequence, Template, TemplateContext, TimeZone, ZonedDateTime,
};
use chrono::{NaiveDate, TimeZone as _, Utc};

/// Speaks the recipient's language, and tries to inject a header.
struct Multilingual;

impl Template for Multilingual {
    fn render(&self, ctx: &TemplateContext<'_>) -> RenderedText {
        let lang = ctx.recipient.language().map(LanguageTag::primary);
        let subject = match lang.as_deref() {
            Some("es") => format!("Invitación: {}", ctx.event.summary()),
            Some("ja") => format!("ご招待: {}", ctx.event.summary()),
            _ => format!("Invitation: {}", ctx.event.summary()),
        };
        RenderedText {
            subject: format!("{subject}\r\nBcc: everyone@example.org"),
            text: "Factura 2026-118: 1.250,00 €\r\n.\r\nQUIT".into(),
            html: "<p>Factura</p>".into(),
        }
    }
}

#[test]
fn custom_template_words_arrive_and_cannot_break_structure() {
    let zone = TimeZone::parse("Europe/Madrid").unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
    let code = EventCode::parse("k3m9qxv2c4d8fjr7").unwrap();
    let event = Event::builder(code.clone())
        .summary("Vencimiento")
        .schedule(
            Schedule::timed(
                ZonedDateTime::new(day.and_hms_opt(9, 0, 0).unwrap(), zone).unwrap(),
                ZonedDateTime::new(day.and_hms_opt(9, 30, 0).unwrap(), zone).unwrap(),
            )
            .unwrap(),
        )
        .organizer(
            EmailAddress::parse("billing@example.com").unwrap(),
            Some("Facturación"),
        )
        .build()
        .unwrap();
    let revision = EventRevision::new(event, Sequence::INITIAL);
    let composer = Composer::new(
        SenderIdentity::new(EmailAddress::parse("rsvp@example.com").unwrap(), None),
        ComposeOptions::new().template(Arc::new(Multilingual)),
    );
    let uid = InvitationUid::new(
        code,
        InvitationToken::parse("0123456789abcdefghjkmnpqrs").unwrap(),
        "example.com",
    )
    .unwrap();
    let recipient = Recipient::new(EmailAddress::parse("cliente@example.org").unwrap())
        .with_language(LanguageTag::parse("es-ES").unwrap());
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap();
    let m = composer
        .compose(MessageKind::Invitation, &revision, &recipient, &uid, now)
        .unwrap();

    let parsed = mail_parser::MessageParser::default()
        .parse(m.bytes())
        .unwrap();
    assert_eq!(
        parsed.subject(),
        Some("Invitación: Vencimiento Bcc: everyone@example.org")
    );
    assert!(
        parsed.header("Bcc").is_none(),
        "a template cannot add a header"
    );
    assert_eq!(
        parsed.header_raw("Content-Language").map(str::trim),
        Some("es-ES")
    );
    let text = parsed.body_text(0).unwrap();
    assert_eq!(
        text.replace("\r\n", "\n"),
        "Factura 2026-118: 1.250,00 €\n.\nQUIT"
    );
    // The lone dot is encoded, so no SMTP relay can take it as the end of DATA.
    assert!(!String::from_utf8_lossy(m.bytes()).contains("\r\n.\r\n"));
}
