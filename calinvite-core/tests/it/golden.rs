//! Golden files: the exact bytes of representative messages.
//!
//! A change that alters any byte of these messages fails here and must be
//! looked at. After checking the new output by hand (open the `.eml` in a mail
//! client), regenerate with `CALINVITE_BLESS=1 cargo test -p calinvite-core --test it golden::`.

#![allow(clippy::unwrap_used)] // a test fails loudly on the first unexpected error

use std::path::PathBuf;

use calinvite_core::{
    ComposeOptions, Composer, EmailAddress, Event, EventCode, EventRevision, InstanceOverride,
    InvitationToken, InvitationUid, MessageKind, OccurrenceId, Recipient, Recurrence,
    RecurrenceRule, Schedule, SenderIdentity, Sequence, TimeZone, WebUrl, ZonedDateTime,
};
use chrono::{DateTime, NaiveDate, TimeZone as _, Utc};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap()
}

fn at(zone: TimeZone, y: i32, m: u32, d: u32, h: u32, min: u32) -> ZonedDateTime {
    ZonedDateTime::new(
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, min, 0)
            .unwrap(),
        zone,
    )
    .unwrap()
}

fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

fn code() -> EventCode {
    EventCode::parse("k3m9qxv2c4d8fjr7").unwrap()
}

fn uid() -> InvitationUid {
    InvitationUid::new(
        code(),
        InvitationToken::parse("0123456789abcdefghjkmnpqrs").unwrap(),
        "events.example.com",
    )
    .unwrap()
}

fn composer() -> Composer {
    Composer::new(
        SenderIdentity::new(addr("rsvp@events.example.com"), Some("Example Events")),
        ComposeOptions::new().links_base(WebUrl::parse("https://events.example.com").unwrap()),
    )
}

fn check(name: &str, bytes: &[u8]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("CALINVITE_BLESS").is_some() {
        std::fs::write(&path, bytes).unwrap();
        return;
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with CALINVITE_BLESS=1 to create it",
            path.display()
        )
    });
    if want != bytes {
        let (w, g) = (
            String::from_utf8_lossy(&want),
            String::from_utf8_lossy(bytes),
        );
        let line = w
            .lines()
            .zip(g.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(w.lines().count().min(g.lines().count()));
        panic!(
            "{name} differs from the golden file at line {}:\n  golden: {:?}\n  now:    {:?}\n(CALINVITE_BLESS=1 regenerates after review)",
            line + 1,
            w.lines().nth(line).unwrap_or("<end>"),
            g.lines().nth(line).unwrap_or("<end>")
        );
    }
}

#[test]
fn all_day_invitation() {
    let event = Event::builder(code())
        .summary("Office closed")
        .description("The office is closed for the holidays.")
        .schedule(
            Schedule::all_day(
                NaiveDate::from_ymd_opt(2026, 12, 24).unwrap(),
                NaiveDate::from_ymd_opt(2026, 12, 25).unwrap(),
            )
            .unwrap(),
        )
        .organizer(addr("hr@example.com"), Some("People Team"))
        .build()
        .unwrap();
    let revision = EventRevision::new(event, Sequence::INITIAL);
    let recipient = Recipient::new(addr("sam@example.net")).with_name("Sam O'Neil");
    let m = composer()
        .compose(
            MessageKind::Invitation,
            &revision,
            &recipient,
            &uid(),
            now(),
        )
        .unwrap();
    check("all-day.eml", m.bytes());
}

fn standup() -> Event {
    let zone = TimeZone::parse("W. Europe Standard Time").unwrap();
    Event::builder(code())
        .summary("Weekly stand-up")
        .description("Ten minutes: what moved, what is stuck.")
        .location("Room 2")
        .schedule(
            Schedule::timed(at(zone, 2026, 12, 7, 9, 30), at(zone, 2026, 12, 7, 9, 45)).unwrap(),
        )
        .recurrence(
            Recurrence::rule(RecurrenceRule::parse("FREQ=WEEKLY;BYDAY=MO;COUNT=10").unwrap())
                .with_exceptions([OccurrenceId::at(&at(zone, 2026, 12, 28, 9, 30))]),
        )
        .override_instance(
            InstanceOverride::new(
                OccurrenceId::at(&at(zone, 2026, 12, 14, 9, 30)),
                Schedule::timed(
                    at(zone, 2026, 12, 14, 11, 0),
                    at(zone, 2026, 12, 14, 11, 15),
                )
                .unwrap(),
            )
            .location("Room 4"),
        )
        .organizer(addr("lea@example.com"), Some("Lea Vogel"))
        .build()
        .unwrap()
}

#[test]
fn recurring_with_override_in_windows_zone() {
    let revision = EventRevision::new(standup(), Sequence::new(2));
    let recipient = Recipient::new(addr("sam@example.net")).with_name("Sam O'Neil");
    let m = composer()
        .compose(MessageKind::Update, &revision, &recipient, &uid(), now())
        .unwrap();
    check("recurring-windows-zone.eml", m.bytes());
}

#[test]
fn cancellation() {
    let revision = EventRevision::new(standup(), Sequence::new(3));
    let recipient = Recipient::new(addr("sam@example.net"));
    let m = composer()
        .compose(
            MessageKind::Cancellation,
            &revision,
            &recipient,
            &uid(),
            now(),
        )
        .unwrap();
    check("cancel.eml", m.bytes());
}

#[test]
fn instance_cancellation() {
    let zone = TimeZone::parse("Europe/Berlin").unwrap();
    let revision = EventRevision::new(standup(), Sequence::new(3));
    let recipient = Recipient::new(addr("sam@example.net"));
    let kind = MessageKind::InstanceCancellation(OccurrenceId::at(&at(zone, 2026, 12, 21, 9, 30)));
    let m = composer()
        .compose(kind, &revision, &recipient, &uid(), now())
        .unwrap();
    check("cancel-instance.eml", m.bytes());
}

#[test]
fn japanese_and_emoji() {
    let zone = TimeZone::parse("Asia/Tokyo").unwrap();
    let event = Event::builder(code())
        .summary("新製品発表会 🎉 Launch")
        .description("新製品の発表会にご招待します。\n軽食とお飲み物をご用意しています 🍣🍶。\n詳細: 会場は3階です。")
        .location("東京都渋谷区1-2-3, 会議室「さくら」")
        .url("https://events.example.com/tokyo")
        .schedule(Schedule::timed(at(zone, 2027, 1, 15, 18, 30), at(zone, 2027, 1, 15, 20, 0)).unwrap())
        .organizer(addr("sato@example.jp"), Some("佐藤 花子"))
        .build()
        .unwrap();
    let revision = EventRevision::new(event, Sequence::INITIAL);
    let recipient = Recipient::new(addr("tanaka@example.jp")).with_name("田中 太郎 🌸");
    let options = ComposeOptions::new()
        .links_base(WebUrl::parse("https://events.example.com").unwrap())
        .list_unsubscribe(true)
        .unsubscribe_mailto(addr("unsubscribe@events.example.com"));
    let composer = Composer::new(
        SenderIdentity::new(addr("rsvp@events.example.com"), None),
        options,
    );
    let m = composer
        .compose(
            MessageKind::Invitation,
            &revision,
            &recipient,
            &uid(),
            now(),
        )
        .unwrap();
    check("japanese-emoji.eml", m.bytes());
}
