//! Properties of the inbound parser: nothing makes it panic, and what
//! calinvite itself sends reads back exactly — as the organizer's request it
//! is, and as the reply a recipient's client would make of it.

#![allow(clippy::unwrap_used)] // a test fails loudly on the first unexpected error

use calinvite_core::inbound::{
    AuthVerdict, InboundEnvelope, InboundKind, InboundLimits, InboundTime, RequestScope,
    parse_inbound,
};
use calinvite_core::{
    ComposeOptions, Composer, EmailAddress, Event, EventCode, EventRevision, InstanceOverride,
    InvitationToken, InvitationUid, MessageKind, OccurrenceId, ParticipationStatus, Recipient,
    Recurrence, RecurrenceRule, Schedule, SenderIdentity, Sequence, TimeZone, ZonedDateTime,
};
use chrono::{NaiveDate, TimeZone as _, Utc};
use proptest::prelude::*;

fn parse(raw: &[u8]) -> calinvite_core::inbound::InboundMessage {
    parse_inbound(
        raw,
        &InboundEnvelope::default(),
        &AuthVerdict::default(),
        &InboundLimits::default(),
    )
}

/// Message-shaped input: headers, MIME boundaries and iCalendar lines in random order and content.
fn message_like() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just("Content-Type: multipart/mixed; boundary=b\r\n".to_string()),
        Just("Content-Type: text/calendar; method=REPLY; charset=UTF-8\r\n".to_string()),
        Just("Content-Transfer-Encoding: base64\r\n".to_string()),
        Just("Content-Transfer-Encoding: quoted-printable\r\n".to_string()),
        Just("Content-Type: message/rfc822\r\n".to_string()),
        Just(
            "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n"
                .to_string()
        ),
        Just("Content-Type: message/delivery-status\r\n".to_string()),
        Just("\r\n".to_string()),
        Just("--b\r\n".to_string()),
        Just("--b--\r\n".to_string()),
        Just("BEGIN:VCALENDAR\r\n".to_string()),
        Just("BEGIN:VEVENT\r\n".to_string()),
        Just("END:VEVENT\r\n".to_string()),
        Just("END:VCALENDAR\r\n".to_string()),
        Just("METHOD:REQUEST\r\n".to_string()),
        Just("RECURRENCE-ID;TZID=Europe/Berlin:20261214T093000\r\n".to_string()),
        Just("DTSTART;TZID=\"(UTC+01:00) Sarajevo, Skopje\":20261214T093000\r\n".to_string()),
        Just("DURATION:P1DT2H\r\n".to_string()),
        Just("RRULE:FREQ=WEEKLY;BYDAY=MO, TU;COUNT=3\r\n".to_string()),
        Just("ATTENDEE;PARTSTAT=ACCEPTED;CN=\"a;b\":mailto:x@example.org\r\n".to_string()),
        Just("Status: 5.1.1\r\nAction: failed\r\n".to_string()),
        Just(" folded\r\n".to_string()),
        "[ -~]{0,40}\r\n",
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat().into_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(raw in prop::collection::vec(any::<u8>(), 0..4096)) {
        let m = parse(&raw);
        let _ = m.to_json();
    }

    #[test]
    fn message_like_input_never_panics(raw in message_like()) {
        let m = parse(&raw);
        // Whatever it is, it says what it is, and its JSON is well formed.
        let json: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
        prop_assert_eq!(json["classification"].as_str().unwrap(), m.kind.name());
    }
}

fn at(zone: TimeZone, d: u32, h: u32) -> ZonedDateTime {
    ZonedDateTime::new(
        NaiveDate::from_ymd_opt(2026, 12, d)
            .unwrap()
            .and_hms_opt(h, 30, 0)
            .unwrap(),
        zone,
    )
    .unwrap()
}

fn text_strategy() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z0-9 ,;:\\\\.\"'\\n]{1,60}", "\\PC{1,80}"]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn our_invitations_read_back_as_requests_and_replies(
        summary in text_strategy(),
        description in text_strategy(),
        location in text_strategy(),
        organizer_name in text_strategy(),
        zone_name in prop::sample::select(vec!["Europe/Berlin", "W. Europe Standard Time", "America/New_York", "Asia/Tokyo", "UTC"]),
        recurring in any::<bool>(),
        sequence in 0u64..5_000_000_000,
        answer in prop::sample::select(vec![ParticipationStatus::Accepted, ParticipationStatus::Declined, ParticipationStatus::Tentative]),
    ) {
        let zone = TimeZone::parse(zone_name).unwrap();
        let code = EventCode::parse("k3m9qxv2c4d8fjr7").unwrap();
        let mut b = Event::builder(code.clone())
            .summary(summary.as_str())
            .description(description.as_str())
            .location(location.as_str())
            .schedule(Schedule::timed(at(zone, 7, 9), at(zone, 7, 10)).unwrap())
            .organizer(EmailAddress::parse("lea@example.com").unwrap(), Some(organizer_name.as_str()));
        if recurring {
            b = b
                .recurrence(Recurrence::rule(RecurrenceRule::parse("FREQ=WEEKLY;COUNT=8").unwrap())
                    .with_exceptions([OccurrenceId::at(&at(zone, 28, 9))]))
                .override_instance(InstanceOverride::new(
                    OccurrenceId::at(&at(zone, 14, 9)),
                    Schedule::timed(at(zone, 14, 11), at(zone, 14, 12)).unwrap(),
                ));
        }
        let Ok(event) = b.build() else { return Ok(()) };
        let revision = EventRevision::new(event, Sequence::new(sequence));
        let token = InvitationToken::parse("0123456789abcdefghjkmnpqrs").unwrap();
        let uid = InvitationUid::new(code, token.clone(), "events.example.com").unwrap();
        let composer = Composer::new(SenderIdentity::new(EmailAddress::parse("rsvp@events.example.com").unwrap(), None), ComposeOptions::new());
        let recipient = Recipient::new(EmailAddress::parse("sam@example.net").unwrap()).with_name("Sam");
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap();
        let message = composer.compose(MessageKind::Invitation, &revision, &recipient, &uid, now).unwrap();

        // As a request.
        let inbound = parse(message.bytes());
        let InboundKind::OrganizerRequest(r) = &inbound.kind else { panic!("{:?}", inbound.kind) };
        let e = revision.event();
        prop_assert!(inbound.warnings.is_empty(), "{:?}", inbound.warnings);
        prop_assert_eq!(r.scope, RequestScope::Full);
        prop_assert_eq!(&r.identity.uid, &uid.to_string());
        prop_assert_eq!(r.identity.sequence, Sequence::new(sequence));
        prop_assert_eq!(r.identity.dtstamp, Some(now));
        prop_assert_eq!(r.identity.organizer.as_ref().unwrap().name(), e.organizer().name());
        prop_assert_eq!(r.event.summary.as_ref(), Some(e.summary()));
        prop_assert_eq!(r.event.description.as_ref(), e.description());
        prop_assert_eq!(r.event.location.as_ref(), e.location());
        let Schedule::Timed { start, end } = e.schedule() else { unreachable!() };
        prop_assert_eq!(r.event.start, Some(InboundTime::Zoned(*start)));
        prop_assert_eq!(r.event.end, Some(InboundTime::Zoned(*end)));
        prop_assert_eq!(r.event.rrule.as_ref(), e.recurrence().and_then(|x| x.recurrence_rule()));
        let exdates: Vec<_> = r.event.exdates.iter().filter_map(InboundTime::occurrence_id).collect();
        prop_assert_eq!(exdates.as_slice(), e.recurrence().map_or(&[][..], |x| x.exceptions()));
        let overrides: Vec<_> = r.event.overrides.iter().filter_map(|o| o.recurrence_id.occurrence_id()).collect();
        let want: Vec<_> = e.overrides().iter().map(|o| o.id()).collect();
        prop_assert_eq!(overrides, want);
        prop_assert_eq!(r.event.attendee_count, 1);

        // As the reply a client makes of it: METHOD and PARTSTAT changed, nothing else.
        let InboundKind::OrganizerRequest(r) = inbound.kind else { unreachable!() };
        // Unfolded first: the writer may have folded inside the parameter.
        let reply_ics = r.raw_calendar
            .replace("\r\n ", "")
            .replace("METHOD:REQUEST", "METHOD:REPLY")
            .replace("PARTSTAT=NEEDS-ACTION", &format!("PARTSTAT={}", answer.as_str()));
        let reply_msg = format!(
            "From: Sam <sam@example.net>\r\nTo: rsvp@events.example.com\r\nContent-Type: text/calendar; method=REPLY; charset=UTF-8\r\n\r\n{reply_ics}"
        );
        let back = parse(reply_msg.as_bytes());
        let InboundKind::Reply(reply) = &back.kind else { panic!("{:?}", back.kind) };
        prop_assert_eq!(reply.invitation.as_ref(), Some(&uid));
        prop_assert_eq!(reply.partstat, Some(answer));
        prop_assert_eq!(reply.attendee.as_ref().unwrap().address().as_str(), "sam@example.net");
        prop_assert!(!reply.is_forwarded(&EmailAddress::parse("SAM@example.net").unwrap()));
        prop_assert!(reply.is_forwarded(&EmailAddress::parse("other@example.net").unwrap()));
        prop_assert_eq!(reply.identity.sequence, Sequence::new(sequence));
    }
}
