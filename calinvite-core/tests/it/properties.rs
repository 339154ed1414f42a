//! Property tests of the composer: arbitrary Unicode (controls, CR, LF, NUL,
//! U+2028, emoji, combining marks, RTL, very long strings) in every text field,
//! name and address, and arbitrary events (timed and all-day, IANA, Windows
//! and UTC zones, rules, extra dates, exceptions, overridden instances).
//!
//! 1. Calendar lines: at most 75 octets, CRLF only, never folded inside a
//!    UTF-8 sequence or a backslash escape
//!    ([interop rule 4](calinvite_core::manual::interop#rule-4)).
//! 2. The message: 7-bit, CRLF only, no line over 998 octets and none over 78
//!    but a continuation holding one unbreakable token; no input can add a
//!    header, a MIME part, an iCalendar property or parameter (interop rules
//!    [2](calinvite_core::manual::interop#rule-2), [3](calinvite_core::manual::interop#rule-3),
//!    [5](calinvite_core::manual::interop#rule-5)).
//! 3. Round trip: mail-parser and calcard read back exactly what went in.
//! 4. Determinism: same inputs, same bytes; another `now` changes only Date
//!    and DTSTAMP.
//! 5. Cancellations (whole event and one instance) carry what RFC 5546 §3.2.5
//!    requires (interop rules [1](calinvite_core::manual::interop#rule-1),
//!    [10](calinvite_core::manual::interop#rule-10), [12](calinvite_core::manual::interop#rule-12)).

#![allow(clippy::unwrap_used)]

use crate::support;

use std::collections::BTreeSet;

use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarParameterName,
    ICalendarParameterValue, ICalendarParticipationRole, ICalendarParticipationStatus,
    ICalendarProperty, ICalendarUserTypes, ICalendarValue,
};
use calinvite_core::{
    ComposeError, EmailAddress, Event, EventStatus, LanguageTag, MessageKind, Name, OccurrenceId,
    OutgoingMessage, RenderedText, Schedule, Text, TimeZone, ZonedDateTime, describe_start_short,
};
use chrono::{DateTime, SubsecRound as _, Utc};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

use support::inspect::{self, Mime};
use support::rebuild::{self, Rebuilt, components, rebuild};
use support::strategies::{
    self, ANY_STATUS, SENDABLE, Scenario, address, instant, nasty_text, scenario,
};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn check<T>(r: Result<T, String>) -> Result<T, TestCaseError> {
    r.map_err(TestCaseError::fail)
}

/// Which message to compose: an invitation, an update, a cancellation, or
/// (for recurring events) the cancellation of one occurrence: an overridden
/// one, an extra date, an exception or the first occurrence.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Invitation,
    Update,
    Cancellation,
    Instance(Index),
}

fn any_kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        1 => Just(Kind::Invitation),
        1 => Just(Kind::Update),
        1 => Just(Kind::Cancellation),
        2 => any::<Index>().prop_map(Kind::Instance),
    ]
}

/// The occurrences one could cancel: overridden ones, extra dates, exceptions,
/// the first one.
fn cancellable(event: &Event) -> Vec<OccurrenceId> {
    let mut ids: Vec<OccurrenceId> = event.overrides().iter().map(|o| o.id()).collect();
    if let Some(r) = event.recurrence() {
        ids.extend(r.dates());
        ids.extend(r.exceptions());
    }
    ids.push(match event.schedule() {
        Schedule::Timed { start, .. } => OccurrenceId::at(start),
        Schedule::AllDay { start, .. } => OccurrenceId::On(*start),
        _ => unreachable!(),
    });
    ids
}

/// The message kind for `event`; instance cancellations fall back to a whole
/// cancellation when the event does not repeat.
fn message_kind(event: &Event, kind: Kind) -> MessageKind {
    match kind {
        Kind::Invitation if event.status() != EventStatus::Cancelled => MessageKind::Invitation,
        Kind::Update if event.status() != EventStatus::Cancelled => MessageKind::Update,
        Kind::Instance(i) if event.is_recurring() => {
            let ids = cancellable(event);
            MessageKind::InstanceCancellation(ids[i.index(ids.len())])
        }
        _ => MessageKind::Cancellation,
    }
}

fn compose(s: &Scenario, kind: MessageKind) -> (OutgoingMessage, RenderedText) {
    compose_at(s, kind, s.now)
}

fn compose_at(
    s: &Scenario,
    kind: MessageKind,
    now: DateTime<Utc>,
) -> (OutgoingMessage, RenderedText) {
    let (composer, template) = s.composer();
    let message = composer
        .compose(kind, &s.revision(), &s.recipient(), &s.uid(), now)
        .unwrap_or_else(|e| panic!("compose {kind:?}: {e}"));
    (message, template.last())
}

fn is_cancel(kind: &MessageKind) -> bool {
    matches!(
        kind,
        MessageKind::Cancellation | MessageKind::InstanceCancellation(_)
    )
}

/// The time an instance cancellation describes: the override's, or the first
/// occurrence's length moved to the occurrence.
fn instance_schedule(event: &Event, id: OccurrenceId) -> Schedule {
    if let Some(o) = event.overrides().iter().find(|o| o.id() == id) {
        return *o.schedule();
    }
    match (event.schedule(), id) {
        (Schedule::Timed { start, end }, OccurrenceId::At(t)) => {
            let length = end.instant() - start.instant();
            Schedule::timed(
                ZonedDateTime::from_instant(t, start.zone()),
                ZonedDateTime::from_instant(t + length, end.zone()),
            )
            .unwrap()
        }
        (Schedule::AllDay { start, end }, OccurrenceId::On(d)) => {
            let days = (*end - *start).num_days().max(1) as u64;
            Schedule::all_day(d, d + chrono::Days::new(days - 1)).unwrap()
        }
        _ => unreachable!("kinds are checked when composing"),
    }
}

/// Where two strings part: some context from each.
fn first_difference(a: &str, b: &str) -> String {
    let at = a
        .char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map_or(a.len().min(b.len()), |((i, _), _)| i);
    let from = a.floor_char_boundary(at.saturating_sub(60));
    let from_b = b.floor_char_boundary(from.min(b.len()));
    let ctx = |s: &str, i: usize| s[i..].chars().take(120).collect::<String>();
    format!(
        "at octet {at} of {}/{}: read {:?} / wrote {:?}",
        a.len(),
        b.len(),
        ctx(a, from),
        ctx(b, from_b)
    )
}

fn parse_calendar(ics: &[u8]) -> Result<ICalendar, String> {
    let text = std::str::from_utf8(ics).map_err(|e| e.to_string())?;
    ICalendar::parse(text).map_err(|e| format!("calcard: {e:?}"))
}

fn sorted(v: impl IntoIterator<Item = impl Into<String>>) -> Vec<String> {
    let mut v: Vec<String> = v.into_iter().map(Into::into).collect();
    v.sort();
    v
}

fn names(c: &ICalendarComponent) -> Vec<String> {
    sorted(c.entries.iter().map(|e| e.name.as_str().to_string()))
}

fn param_names(e: &calcard::icalendar::ICalendarEntry) -> Vec<String> {
    sorted(e.params.iter().map(|p| p.name.as_str().to_string()))
}

/// The iCalendar property names the master VEVENT (or the one VEVENT of a
/// cancellation) must have, no more, no fewer.
fn expected_master(event: &Event) -> Vec<String> {
    let mut v = vec![
        "UID",
        "DTSTAMP",
        "SEQUENCE",
        "DTSTART",
        "DTEND",
        "SUMMARY",
        "STATUS",
        "ORGANIZER",
        "ATTENDEE",
    ];
    if let Some(r) = event.recurrence() {
        if r.recurrence_rule().is_some() {
            v.push("RRULE");
        }
        if !r.dates().is_empty() {
            v.push("RDATE");
        }
        if !r.exceptions().is_empty() {
            v.push("EXDATE");
        }
    }
    if event.description().is_some() {
        v.push("DESCRIPTION");
    }
    if event.location().is_some() {
        v.push("LOCATION");
    }
    if event.url().is_some() {
        v.push("URL");
    }
    sorted(v)
}

fn expected_override(event: &Event, o: &calinvite_core::InstanceOverride) -> Vec<String> {
    let mut v = vec![
        "UID",
        "DTSTAMP",
        "SEQUENCE",
        "RECURRENCE-ID",
        "DTSTART",
        "DTEND",
        "SUMMARY",
        "STATUS",
        "ORGANIZER",
        "ATTENDEE",
    ];
    if o.description_text().is_some() {
        v.push("DESCRIPTION");
    }
    if o.location_text().is_some() {
        v.push("LOCATION");
    }
    if event.url().is_some() {
        v.push("URL");
    }
    sorted(v)
}

fn expected_instance_cancel(event: &Event, id: OccurrenceId) -> Vec<String> {
    let mut v = vec![
        "UID",
        "DTSTAMP",
        "SEQUENCE",
        "RECURRENCE-ID",
        "DTSTART",
        "DTEND",
        "SUMMARY",
        "STATUS",
        "ORGANIZER",
        "ATTENDEE",
    ];
    let location = match event.overrides().iter().find(|o| o.id() == id) {
        Some(o) => o.location_text(),
        None => event.location(),
    };
    if location.is_some() {
        v.push("LOCATION");
    }
    sorted(v)
}

/// Parameters of a date property: TZID for local times, VALUE=DATE for dates,
/// none for UTC.
fn date_params(zone: Option<TimeZone>) -> Vec<String> {
    match zone {
        None => vec!["VALUE".into()],
        Some(z) if z.is_utc() => vec![],
        Some(_) => vec!["TZID".into()],
    }
}

/// Parameters of RDATE, EXDATE, RECURRENCE-ID: written in the zone of the
/// event's start (VALUE=DATE for all-day events), in UTC when one of the values
/// falls in the second of two equal wall-clock hours there.
fn occurrence_params(master: &Schedule, ids: &[OccurrenceId]) -> Vec<String> {
    match master {
        Schedule::Timed { start, .. } => {
            let z = start.zone();
            let repeated = ids.iter().any(|id| match id {
                OccurrenceId::At(t) => {
                    ZonedDateTime::new(ZonedDateTime::from_instant(*t, z).local(), z)
                        .map_or(true, |back| back.instant() != t.trunc_subsecs(0))
                }
                OccurrenceId::On(_) => false,
            });
            date_params(Some(if repeated { TimeZone::UTC } else { z }))
        }
        _ => date_params(None),
    }
}

/// The occurrences one VEVENT names.
#[derive(Default)]
struct Occurrences<'a> {
    rdates: &'a [OccurrenceId],
    exdates: &'a [OccurrenceId],
    recurrence_id: Option<OccurrenceId>,
}

impl<'a> Occurrences<'a> {
    fn of(event: &'a Event) -> Self {
        event
            .recurrence()
            .map_or_else(Occurrences::default, |r| Occurrences {
                rdates: r.dates(),
                exdates: r.exceptions(),
                recurrence_id: None,
            })
    }

    fn instance(id: OccurrenceId) -> Self {
        Occurrences {
            recurrence_id: Some(id),
            ..Occurrences::default()
        }
    }
}

fn schedule_zones(s: &Schedule) -> (Option<TimeZone>, Option<TimeZone>) {
    match s {
        Schedule::Timed { start, end } => (Some(start.zone()), Some(end.zone())),
        _ => (None, None),
    }
}

/// Who a VEVENT names, and how.
#[derive(Clone, Copy)]
struct People {
    /// ORGANIZER has a CN.
    organizer_named: bool,
    /// ATTENDEE has a CN.
    attendee_named: bool,
    /// ATTENDEE asks for an answer (PARTSTAT=NEEDS-ACTION;RSVP=TRUE).
    rsvp: bool,
}

/// Checks one VEVENT's properties and every parameter of each.
fn check_vevent(
    c: &ICalendarComponent,
    want: &[String],
    schedule: &Schedule,
    master: &Schedule,
    occurrences: &Occurrences<'_>,
    people: People,
) -> Result<(), String> {
    let People {
        organizer_named,
        attendee_named,
        rsvp,
    } = people;
    let got = names(c);
    if got != want {
        return Err(format!("VEVENT has {got:?}, expected {want:?}"));
    }
    let (start_zone, end_zone) = schedule_zones(schedule);
    for e in &c.entries {
        let params = param_names(e);
        let expected: Vec<String> = match &e.name {
            ICalendarProperty::Dtstart => date_params(start_zone),
            ICalendarProperty::Dtend => date_params(end_zone),
            ICalendarProperty::Rdate => occurrence_params(master, occurrences.rdates),
            ICalendarProperty::Exdate => occurrence_params(master, occurrences.exdates),
            ICalendarProperty::RecurrenceId => {
                occurrence_params(master, occurrences.recurrence_id.as_slice())
            }
            ICalendarProperty::Organizer => {
                if organizer_named {
                    vec!["CN".into()]
                } else {
                    vec![]
                }
            }
            ICalendarProperty::Attendee => {
                let mut v = vec!["CUTYPE", "ROLE"];
                if attendee_named {
                    v.push("CN");
                }
                if rsvp {
                    v.extend(["PARTSTAT", "RSVP"]);
                }
                sorted(v)
            }
            _ => vec![],
        };
        if params != expected {
            return Err(format!(
                "{} has parameters {params:?}, expected {expected:?}",
                e.name.as_str()
            ));
        }
        if e.name == ICalendarProperty::Attendee {
            for p in &e.params {
                let ok = matches!(
                    (&p.name, &p.value),
                    (ICalendarParameterName::Cn, ICalendarParameterValue::Text(_))
                        | (
                            ICalendarParameterName::Cutype,
                            ICalendarParameterValue::Cutype(ICalendarUserTypes::Individual),
                        )
                        | (
                            ICalendarParameterName::Role,
                            ICalendarParameterValue::Role(
                                ICalendarParticipationRole::ReqParticipant
                            ),
                        )
                        | (
                            ICalendarParameterName::Partstat,
                            ICalendarParameterValue::Partstat(
                                ICalendarParticipationStatus::NeedsAction,
                            ),
                        )
                        | (
                            ICalendarParameterName::Rsvp,
                            ICalendarParameterValue::Bool(true)
                        )
                );
                if !ok {
                    return Err(format!("ATTENDEE parameter {p:?}"));
                }
            }
        }
    }
    Ok(())
}

/// Every component and property of the calendar is exactly what the composer
/// writes for `kind`: no input added or removed one.
fn check_calendar_structure(
    ical: &ICalendar,
    s: &Scenario,
    event: &Event,
    kind: &MessageKind,
) -> Result<(), String> {
    let top = &ical.components[0];
    if top.component_type != ICalendarComponentType::VCalendar {
        return Err("the first component is not VCALENDAR".into());
    }
    let want = sorted(["PRODID", "VERSION", "CALSCALE", "METHOD"]);
    if names(top) != want {
        return Err(format!("VCALENDAR has {:?}", names(top)));
    }
    for e in &top.entries {
        if !e.params.is_empty() {
            return Err(format!("{} has parameters", e.name.as_str()));
        }
    }

    // Exactly the components expected, each in its place.
    let mut kinds: Vec<String> = ical
        .components
        .iter()
        .map(|c| c.component_type.as_str().to_string())
        .collect();
    kinds.sort();
    kinds.dedup();
    for k in &kinds {
        if !["VCALENDAR", "VTIMEZONE", "STANDARD", "DAYLIGHT", "VEVENT"].contains(&k.as_str()) {
            return Err(format!("unexpected component {k}"));
        }
    }
    let children: Vec<&ICalendarComponentType> = top
        .component_ids
        .iter()
        .map(|&i| &ical.components[i as usize].component_type)
        .collect();
    if children.iter().any(|t| {
        !matches!(
            t,
            ICalendarComponentType::VTimezone | ICalendarComponentType::VEvent
        )
    }) {
        return Err(format!("VCALENDAR holds {children:?}"));
    }

    // One VTIMEZONE per zone the event's times use (manual: interop rule 9).
    let tzids: BTreeSet<String> = components(ical, &ICalendarComponentType::VTimezone)
        .map(|c| {
            rebuild::property(c, &ICalendarProperty::Tzid)
                .ok()
                .flatten()
                .and_then(|e| e.values.first())
                .and_then(ICalendarValue::as_text)
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let vtimezones = components(ical, &ICalendarComponentType::VTimezone).count();
    let zones: BTreeSet<String> = event.zones().iter().map(|z| z.name().to_string()).collect();
    if tzids != zones || vtimezones != zones.len() {
        return Err(format!("VTIMEZONEs for {tzids:?}, zones used {zones:?}"));
    }
    for c in components(ical, &ICalendarComponentType::VTimezone) {
        if names(c) != ["TZID"] {
            return Err(format!("VTIMEZONE has {:?}", names(c)));
        }
        for &i in &c.component_ids {
            let sub = &ical.components[i as usize];
            for n in names(sub) {
                if ![
                    "DTSTART",
                    "TZOFFSETFROM",
                    "TZOFFSETTO",
                    "TZNAME",
                    "RRULE",
                    "RDATE",
                ]
                .contains(&n.as_str())
                {
                    return Err(format!("{} has {n}", sub.component_type.as_str()));
                }
            }
        }
    }
    // Every TZID a VEVENT names has its VTIMEZONE.
    for c in components(ical, &ICalendarComponentType::VEvent) {
        for e in &c.entries {
            for p in &e.params {
                if p.name == ICalendarParameterName::Tzid {
                    let z = p.value.as_text().unwrap_or_default();
                    if !tzids.contains(z) {
                        return Err(format!("TZID {z} has no VTIMEZONE"));
                    }
                }
            }
        }
        if !c.component_ids.is_empty() {
            return Err("a VEVENT holds components (an alarm?)".into());
        }
    }

    let people = People {
        organizer_named: s.shown_organizer_name().is_some(),
        attendee_named: s.recipient().name().is_some(),
        rsvp: true,
    };
    let events: Vec<&ICalendarComponent> =
        components(ical, &ICalendarComponentType::VEvent).collect();
    match kind {
        MessageKind::Invitation | MessageKind::Update => {
            if events.len() != 1 + event.overrides().len() {
                return Err(format!(
                    "{} VEVENTs for {} overrides",
                    events.len(),
                    event.overrides().len()
                ));
            }
            check_vevent(
                events[0],
                &expected_master(event),
                event.schedule(),
                event.schedule(),
                &Occurrences::of(event),
                People {
                    rsvp: true,
                    ..people
                },
            )?;
            for (c, o) in events[1..].iter().zip(event.overrides()) {
                check_vevent(
                    c,
                    &expected_override(event, o),
                    o.schedule(),
                    event.schedule(),
                    &Occurrences::instance(o.id()),
                    People {
                        rsvp: true,
                        ..people
                    },
                )?;
            }
        }
        MessageKind::Cancellation => {
            let [only] = events.as_slice() else {
                return Err(format!("{} VEVENTs in a cancellation", events.len()));
            };
            check_vevent(
                only,
                &expected_master(event),
                event.schedule(),
                event.schedule(),
                &Occurrences::of(event),
                People {
                    rsvp: false,
                    ..people
                },
            )?;
        }
        MessageKind::InstanceCancellation(id) => {
            let [only] = events.as_slice() else {
                return Err(format!("{} VEVENTs in a cancellation", events.len()));
            };
            check_vevent(
                only,
                &expected_instance_cancel(event, *id),
                &instance_schedule(event, *id),
                event.schedule(),
                &Occurrences::instance(*id),
                People {
                    rsvp: false,
                    ..people
                },
            )?;
        }
        _ => unreachable!(),
    }
    Ok(())
}

/// The top-level header fields the composer writes for this scenario.
fn expected_headers(s: &Scenario) -> Vec<String> {
    let mut v = vec![
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "MIME-Version",
        "Content-Type",
    ];
    if s.language.is_some() {
        v.push("Content-Language");
    }
    let link = s.options.links_base.is_some();
    if s.options.list_unsubscribe && (link || s.options.unsubscribe_mailto.is_some()) {
        v.push("List-Unsubscribe");
        if link {
            v.push("List-Unsubscribe-Post");
        }
    }
    sorted(v)
}

/// Everything about the message as bytes and as MIME (property 2).
fn check_message(
    s: &Scenario,
    message: &OutgoingMessage,
    kind: &MessageKind,
) -> Result<(), String> {
    let bytes = message.bytes();
    inspect::check_transport(bytes)?;
    inspect::check_line_limits(bytes)?;
    let raw = sorted(inspect::raw_header_names(bytes)?);
    let want = expected_headers(s);
    if raw != want {
        return Err(format!("header fields {raw:?}, expected {want:?}"));
    }
    inspect::check_boundaries(bytes)?;
    let mime = inspect::mime(bytes)?;
    let parsed = sorted(
        mime.message
            .headers()
            .iter()
            .map(|h| h.name.as_str().to_ascii_lowercase()),
    );
    let want_lower = sorted(want.iter().map(|h| h.to_ascii_lowercase()));
    if parsed != want_lower {
        return Err(format!(
            "mail-parser reads fields {parsed:?}, expected {want_lower:?}"
        ));
    }
    let method = if is_cancel(kind) { "CANCEL" } else { "REQUEST" };
    if mime.method != method {
        return Err(format!("method={} on a {method}", mime.method));
    }
    let ical = parse_calendar(&mime.calendar)?;
    check_calendar_structure(&ical, s, &s.event(), kind)?;
    Ok(())
}

/// An address as a `mailto:` URI, characters a URI path cannot hold
/// percent-encoded (RFC 6068).
fn mailto_uri(a: &EmailAddress) -> String {
    let mut s = String::from("mailto:");
    for b in a.as_str().bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// What the recipient's display name is after normalising.
fn recipient_name(s: &Scenario) -> Option<String> {
    s.recipient().name().map(|n| n.as_str().to_string())
}

/// Property 3 on a parsed message: headers, bodies and the calendar read back.
fn check_round_trip(
    s: &Scenario,
    message: &OutgoingMessage,
    rendered: &RenderedText,
    kind: &MessageKind,
) -> Result<Rebuilt, String> {
    let mime: Mime<'_> = inspect::mime(message.bytes())?;
    let m = &mime.message;

    // Headers.
    // The subject is one line: each run of whitespace or control characters
    // is written as one space.
    let subject = m.subject().ok_or("no Subject")?;
    let one_line = rendered
        .subject
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if subject != one_line {
        return Err(format!("Subject reads {subject:?}, wrote {one_line:?}"));
    }
    let from = m.from().and_then(|a| a.first()).ok_or("no From")?;
    if from.address.as_deref() != Some(s.sender.as_str()) {
        return Err(format!("From address {:?}", from.address));
    }
    let shown = s.shown_organizer_name();
    if from.name.as_deref() != shown.as_deref() {
        return Err(format!("From name reads {:?}, wrote {shown:?}", from.name));
    }
    let to = m.to().and_then(|a| a.first()).ok_or("no To")?;
    if to.address.as_deref() != Some(s.recipient.as_str()) {
        return Err(format!("To address {:?}", to.address));
    }
    let rname = recipient_name(s);
    if to.name.as_deref() != rname.as_deref() {
        return Err(format!("To name reads {:?}, wrote {rname:?}", to.name));
    }
    if m.message_id() != Some(message.message_id()) {
        return Err(format!("Message-ID {:?}", m.message_id()));
    }

    // Bodies: quoted-printable decodes to the template's text, CRLF for LF.
    for (got, wrote, what) in [
        (&mime.text, &rendered.text, "text/plain"),
        (&mime.html, &rendered.html, "text/html"),
    ] {
        // The CRLF before a boundary belongs to the boundary (RFC 2046 §5.1.1).
        let want = Text::new(wrote).as_str().to_string();
        let got = got.replace("\r\n", "\n");
        if got != want {
            return Err(format!("{what} differs: {}", first_difference(&got, &want)));
        }
    }

    // The calendar part and the attachment are the same bytes, however decoded.
    if mime.calendar.as_slice() != mime.calendar_decoded.as_bytes()
        || mime.calendar != mime.attachment
        || mime.attachment != mime.attachment_decoded
    {
        return Err("calendar part and attachment differ".into());
    }

    let ical = parse_calendar(&mime.calendar)?;
    let mut back = rebuild(&ical)?;
    if let Some(lang) = m.header_raw("Content-Language") {
        back.recipient = back
            .recipient
            .with_language(LanguageTag::parse(lang).map_err(|e| e.to_string())?);
    }

    let method = if is_cancel(kind) { "CANCEL" } else { "REQUEST" };
    if back.method != method {
        return Err(format!("METHOD {}", back.method));
    }
    if back.product_id != s.product_id() {
        return Err(format!(
            "PRODID {:?}, wrote {:?}",
            back.product_id,
            s.product_id()
        ));
    }
    if back.uid != s.uid() {
        return Err(format!("UID {}, wrote {}", back.uid, s.uid()));
    }
    if back.sequence.get() != s.sequence {
        return Err(format!("SEQUENCE {}, wrote {}", back.sequence, s.sequence));
    }
    if back.dtstamp != s.now {
        return Err(format!("DTSTAMP {}, wrote {}", back.dtstamp, s.now));
    }
    if back.organizer != s.sender || back.organizer_name != shown {
        return Err(format!(
            "ORGANIZER {:?} {:?}, wrote {} {shown:?}",
            back.organizer, back.organizer_name, s.sender
        ));
    }
    if back.recipient != s.recipient() {
        return Err(format!(
            "ATTENDEE {:?}, wrote {:?}",
            back.recipient,
            s.recipient()
        ));
    }
    Ok(back)
}

// ---------------------------------------------------------------------------
// Inputs on their own
// ---------------------------------------------------------------------------

#[test]
fn every_generated_zone_resolves() {
    for z in strategies::ZONES {
        let zone = TimeZone::parse(z).unwrap_or_else(|e| panic!("{z}: {e}"));
        assert!(!zone.name().is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any local part and domain, in any form, parse to an address or a typed
    /// error, never a panic; an address has an ASCII domain (a non-ASCII local
    /// part, and only that, needs SMTPUTF8), is lower case, has one `@`, no
    /// whitespace or control character, no character that could end a header
    /// or a URI, and parses to itself.
    #[test]
    fn address_parsing_never_panics(
        local in prop_oneof![
            nasty_text(),
            "[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{0,70}",
            "[A-Za-z0-9À-ÿĀ-ž一-龥.]{1,30}",
        ],
        domain in prop_oneof![nasty_text(), "[A-Za-z0-9.-]{0,70}"],
        form in 0u8..6,
    ) {
        let raw = match form {
            0 => format!("{local}@{domain}"),
            1 => format!("mailto:{local}@{domain}"),
            2 => format!("<{local}@{domain}>"),
            3 => format!("MailTo:{}%40{domain}", local.bytes().map(|b| format!("%{b:02X}")).collect::<String>()),
            4 => local.clone(),
            _ => format!("{local}@{domain}?subject={domain}"),
        };
        if let Ok(a) = EmailAddress::parse(&raw) {
            let s = a.as_str();
            prop_assert!(a.domain().is_ascii(), "{:?}", s);
            prop_assert_eq!(a.needs_smtputf8(), !s.is_ascii());
            prop_assert_eq!(s, s.to_ascii_lowercase());
            prop_assert_eq!(s.matches('@').count(), 1);
            prop_assert!(!s.chars().any(|c| c.is_whitespace() || c.is_control()), "{:?}", s);
            prop_assert!(!s.contains(['<', '>', '"', '(', ')', ',', ';', ':', '\\', '[', ']']), "{:?}", s);
            prop_assert_eq!(format!("{}@{}", a.local_part(), a.domain()), s);
            prop_assert_eq!(EmailAddress::parse(s), Ok(a.clone()));
            // As a mailto: URI with every octet percent-encoded (RFC 6068), too.
            let encoded: String = s.bytes().map(|b| format!("%{b:02x}")).collect();
            prop_assert_eq!(EmailAddress::parse(&format!("MAILTO:{encoded}")), Ok(a));
        }
    }

    /// Normalised text and names keep no control character and no character
    /// that could end a line, and normalising again changes nothing.
    #[test]
    fn text_and_names_normalise_once(s in nasty_text()) {
        let t = Text::new(&s);
        prop_assert_eq!(&Text::new(t.as_str()), &t);
        prop_assert!(!t.as_str().chars().any(|c| (c.is_control() && c != '\n')
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')), "{:?}", t);
        prop_assert_eq!(t.as_str().trim_end(), t.as_str());
        if let Some(n) = Name::new(&s) {
            prop_assert_eq!(Name::new(n.as_str()), Some(n.clone()));
            prop_assert!(!n.as_str().chars().any(|c| c.is_control() || c == '"'
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')), "{:?}", n);
            prop_assert_eq!(n.as_str().trim(), n.as_str());
            prop_assert!(!n.as_str().contains("  "));
        } else {
            prop_assert!(s.chars().all(|c| c.is_whitespace() || c.is_control()
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')), "{:?}", s);
        }
    }
}

// ---------------------------------------------------------------------------
// 1. Calendar lines
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn calendar_lines_are_folded_safely(s in scenario(ANY_STATUS), kind in any_kind()) {
        let kind = message_kind(&s.event(), kind);
        let (message, _) = compose(&s, kind);
        let mime = check(inspect::mime(message.bytes()))?;
        let lines = check(inspect::check_ics_lines(&mime.calendar))?;
        prop_assert_eq!(lines.first().map(String::as_str), Some("BEGIN:VCALENDAR"));
        prop_assert_eq!(lines.last().map(String::as_str), Some("END:VCALENDAR"));
        // Every logical line starts with a property name.
        for l in &lines {
            let name = l.split([';', ':']).next().unwrap_or_default();
            prop_assert!(!name.is_empty() && name.bytes().all(|b| b.is_ascii_uppercase() || b == b'-'),
                "line {:?}", l);
        }
    }
}

// ---------------------------------------------------------------------------
// 2. The message
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn message_is_7bit_and_injection_proof(s in scenario(ANY_STATUS), kind in any_kind()) {
        let kind = message_kind(&s.event(), kind);
        let (message, _) = compose(&s, kind);
        check(check_message(&s, &message, &kind))?;
        prop_assert_eq!(message.envelope().to(), &s.recipient);
        prop_assert_eq!(message.envelope().from(), &s.sender);
    }

    /// List-Unsubscribe with both targets, for every length of the links base
    /// around the fold points: still folded within 78, still two targets.
    #[test]
    fn list_unsubscribe_folds_at_any_length(
        s in scenario(SENDABLE),
        base_len in 12usize..110,
        mailto in address(),
    ) {
        let mut s = s;
        s.options.links_base = Some(format!("https://{}.org", "l".repeat(base_len - 12)));
        s.options.list_unsubscribe = true;
        s.options.unsubscribe_mailto = Some(mailto.clone());
        let (message, _) = compose(&s, MessageKind::Invitation);
        check(check_message(&s, &message, &MessageKind::Invitation))?;
        let mime = check(inspect::mime(message.bytes()))?;
        let targets = mime.message.list_unsubscribe().as_address().map(|a| {
            a.clone().into_list().into_iter().filter_map(|x| x.address.map(|u| u.to_string())).collect::<Vec<_>>()
        });
        let token = s.uid().token().to_string();
        prop_assert_eq!(targets, Some(vec![
            format!("{}/unsubscribe/{token}", s.options.links_base.as_deref().unwrap_or_default()),
            format!("{}?subject=unsubscribe%20{token}", mailto_uri(&mailto)),
        ]));
    }
}

// ---------------------------------------------------------------------------
// 3. Round trip
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// An invitation or update reads back, through mail-parser and calcard, as
    /// exactly the event that went in (organized by the sender mailbox under
    /// the organizer's name) and the recipient it was sent to.
    #[test]
    fn request_round_trips(s in scenario(SENDABLE), update in any::<bool>()) {
        let kind = if update { MessageKind::Update } else { MessageKind::Invitation };
        let (message, rendered) = compose(&s, kind);
        let back = check(check_round_trip(&s, &message, &rendered, &kind))?;
        prop_assert!(back.instance.is_none());
        prop_assert_eq!(back.event.as_ref(), Some(&s.event_as_sent()));
        let summary = s.event().summary().single_line();
        prop_assert!(rendered.subject.contains(&summary));
        prop_assert_eq!(
            &rendered.subject,
            &format!(
                "{}: {} @ {}",
                if update { "Updated invitation" } else { "Invitation" },
                summary,
                describe_start_short(s.event().schedule())
            )
        );
    }
}

// ---------------------------------------------------------------------------
// 4. Determinism
// ---------------------------------------------------------------------------

/// Whether each line of a message lies in a base64 body.
fn base64_body_lines(bytes: &[u8]) -> Vec<bool> {
    let lines = inspect::crlf_lines(bytes).unwrap();
    let mut out = Vec::with_capacity(lines.len());
    let (mut base64_part, mut in_body) = (false, false);
    for l in lines {
        if l.starts_with(b"--") {
            base64_part = false;
            in_body = false;
        } else if !in_body && l.eq_ignore_ascii_case(b"Content-Transfer-Encoding: base64") {
            base64_part = true;
        } else if !in_body && l.is_empty() {
            in_body = true;
            out.push(false);
            continue;
        }
        out.push(in_body && base64_part && !l.starts_with(b"--"));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn compose_is_deterministic(
        s in scenario(ANY_STATUS),
        kind in any_kind(),
        later in instant(),
    ) {
        let kind = message_kind(&s.event(), kind);
        let (a, _) = compose(&s, kind);
        let (b, _) = compose(&s, kind);
        prop_assert_eq!(&a, &b);

        let (c, _) = compose_at(&s, kind, later);
        prop_assert_eq!(a.key(), c.key());
        prop_assert_eq!(a.message_id(), c.message_id());
        prop_assert_eq!(a.envelope(), c.envelope());
        let la = inspect::crlf_lines(a.bytes()).unwrap();
        let lc = inspect::crlf_lines(c.bytes()).unwrap();
        prop_assert_eq!(la.len(), lc.len());
        let in_base64 = base64_body_lines(a.bytes());
        for (n, (x, y)) in la.iter().zip(&lc).enumerate() {
            if x == y {
                continue;
            }
            let date = x.starts_with(b"Date: ") && y.starts_with(b"Date: ");
            prop_assert!(date || in_base64[n], "line {} differs: {:?} / {:?}", n,
                String::from_utf8_lossy(x), String::from_utf8_lossy(y));
        }
        // Inside the calendar, only DTSTAMP differs, and it is `later`.
        let ca = check(inspect::mime(a.bytes()))?.calendar;
        let cc = check(inspect::mime(c.bytes()))?.calendar;
        let (ca, cc) = (check(inspect::check_ics_lines(&ca))?, check(inspect::check_ics_lines(&cc))?);
        prop_assert_eq!(ca.len(), cc.len());
        let stamp = format!("DTSTAMP:{}", later.format("%Y%m%dT%H%M%SZ"));
        for (x, y) in ca.iter().zip(&cc) {
            if x.starts_with("DTSTAMP:") {
                prop_assert_eq!(y, &stamp);
            } else {
                prop_assert_eq!(x, y);
            }
        }
        let date = format!("Date: {}", later.format("%a, %d %b %Y %H:%M:%S +0000"));
        prop_assert!(lc.contains(&date.as_bytes()));
    }
}

// ---------------------------------------------------------------------------
// 5. Cancellations
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A whole-event CANCEL: method=CANCEL on the part and METHOD, one VEVENT
    /// with STATUS:CANCELLED, the SEQUENCE, no RSVP; it reads back as the event
    /// with its status cancelled and no overrides.
    #[test]
    fn cancellation_is_well_formed(s in scenario(ANY_STATUS)) {
        let kind = MessageKind::Cancellation;
        let (message, rendered) = compose(&s, kind);
        check(check_message(&s, &message, &kind))?;
        let back = check(check_round_trip(&s, &message, &rendered, &kind))?;
        let mut spec = s.spec.clone();
        spec.overrides.clear();
        spec.status = EventStatus::Cancelled;
        let want = spec.build(s.code(), s.sender.clone(), s.shown_organizer_name().as_deref()).unwrap();
        prop_assert_eq!(back.event.as_ref(), Some(&want));
        prop_assert_eq!(message.key().method().as_str(), "CANCEL");
        prop_assert_eq!(message.key().sequence().get(), s.sequence);
    }

    /// One occurrence cancelled: RECURRENCE-ID of that occurrence, its time
    /// (overridden or moved from the first), summary and place, no rule.
    #[test]
    fn instance_cancellation_is_well_formed(s in scenario(ANY_STATUS), pick in any::<Index>()) {
        let event = s.event();
        prop_assume!(event.is_recurring());
        let ids = cancellable(&event);
        let id = ids[pick.index(ids.len())];
        let kind = MessageKind::InstanceCancellation(id);
        let (message, rendered) = compose(&s, kind);
        check(check_message(&s, &message, &kind))?;
        let back = check(check_round_trip(&s, &message, &rendered, &kind))?;
        prop_assert!(back.event.is_none());
        let instance = back.instance.unwrap();
        prop_assert_eq!(instance.id, id);
        prop_assert_eq!(instance.status, EventStatus::Cancelled);
        let overridden = event.overrides().iter().find(|o| o.id() == id);
        let want_schedule = instance_schedule(&event, id);
        prop_assert_eq!(instance.schedule, want_schedule);
        if overridden.is_none() {
            // The occurrence starts at its id and lasts as long as the first.
            match (instance.schedule, id) {
                (Schedule::Timed { start, .. }, OccurrenceId::At(t)) => {
                    prop_assert_eq!(start.instant(), t, "DTSTART {:?} is not the occurrence", start);
                }
                (Schedule::AllDay { start, .. }, OccurrenceId::On(d)) => prop_assert_eq!(start, d),
                other => prop_assert!(false, "kinds differ: {:?}", other),
            }
            prop_assert_eq!(instance.schedule.duration_seconds(), event.schedule().duration_seconds().max(
                if event.schedule().is_all_day() { 86_400 } else { 0 }));
        }
        let summary = overridden.and_then(|o| o.summary_text()).unwrap_or(event.summary());
        prop_assert_eq!(&instance.summary, summary);
        let location = overridden.map_or(event.location(), |o| o.location_text());
        prop_assert_eq!(instance.location.as_ref(), location);
    }

    /// What cannot be sent is refused with a typed error.
    #[test]
    fn unsendable_messages_are_refused(s in scenario(ANY_STATUS), pick in any::<Index>()) {
        let event = s.event();
        let (composer, _) = s.composer();
        let send = |kind| composer.compose(kind, &s.revision(), &s.recipient(), &s.uid(), s.now);
        if event.status() == EventStatus::Cancelled {
            prop_assert_eq!(send(MessageKind::Invitation).unwrap_err(), ComposeError::EventCancelled);
            prop_assert_eq!(send(MessageKind::Update).unwrap_err(), ComposeError::EventCancelled);
        }
        let ids = cancellable(&event);
        let id = ids[pick.index(ids.len())];
        if !event.is_recurring() {
            prop_assert_eq!(send(MessageKind::InstanceCancellation(id)).unwrap_err(), ComposeError::NotRecurring);
        } else {
            let wrong = match id {
                OccurrenceId::At(t) => OccurrenceId::On(t.date_naive()),
                OccurrenceId::On(d) => OccurrenceId::At(d.and_hms_opt(0, 0, 0).unwrap().and_utc()),
            };
            prop_assert!(matches!(send(MessageKind::InstanceCancellation(wrong)), Err(ComposeError::OccurrenceKind(_))));
        }
        let to_organizer = calinvite_core::Recipient::new(s.sender.clone());
        prop_assert!(matches!(
            composer.compose(MessageKind::Cancellation, &s.revision(), &to_organizer, &s.uid(), s.now),
            Err(ComposeError::RecipientIsOrganizer(_))
        ));
    }
}

// Keep the generators honest: the address strategy yields parseable addresses.
proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn generated_addresses_are_normalised(a in address()) {
        prop_assert_eq!(EmailAddress::parse(a.as_str()), Ok(a.clone()));
    }
}
