//! From iCalendar components to calinvite's inbound model.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDateTime, TimeDelta};

use super::content::{
    Component, ContentError, LineDecoder, Property, read_calendars, unescape_text,
};
use super::mime::CalendarPart;
use super::{
    CalendarIdentity, InboundEvent, InboundInstance, InboundKind, InboundLimits, InboundMessage,
    InboundTime, OrganizerCancel, OrganizerRequest, Reply, RequestScope, UnsupportedReason,
};
use crate::address::{EmailAddress, Mailbox};
use crate::event::{EventStatus, ParticipationStatus};
use crate::ids::{InvitationUid, Sequence};
use crate::recurrence::RecurrenceRule;
use crate::text::Text;
use crate::time::{TimeZone, ZonedDateTime, parse_ical_date, parse_ical_date_time};

pub(super) fn classify(
    parts: Vec<CalendarPart<'_>>,
    limits: &InboundLimits,
    m: &mut InboundMessage,
) {
    let mut seen: Vec<&[u8]> = Vec::new();
    let mut first_failure: Option<Refusal> = None;
    for part in &parts {
        if seen.contains(&&*part.bytes) {
            continue;
        }
        seen.push(&part.bytes);
        if m.content_type_method.is_none() {
            m.content_type_method.clone_from(&part.method);
        }
        match read_part(part, limits, m) {
            Ok(kind) => {
                m.kind = kind;
                if parts.len() > 1 && seen.len() > 1 {
                    m.warnings
                        .push("the first calendar part could not be used; a later one was".into());
                }
                return;
            }
            Err(refusal) => {
                first_failure.get_or_insert(refusal);
            }
        }
    }
    if let Some(refusal) = first_failure {
        m.kind = refusal.into_kind();
    }
}

/// Why a calendar part could not be used.
struct Refusal(UnsupportedReason, String);

impl Refusal {
    fn into_kind(self) -> InboundKind {
        InboundKind::Unsupported {
            reason: self.0,
            detail: self.1,
        }
    }
}

fn unsupported(reason: UnsupportedReason, detail: impl Into<String>) -> Refusal {
    Refusal(reason, detail.into())
}

fn read_part(
    part: &CalendarPart<'_>,
    limits: &InboundLimits,
    m: &mut InboundMessage,
) -> Result<InboundKind, Refusal> {
    if part.bytes.len() > limits.max_calendar_bytes {
        return Err(unsupported(
            UnsupportedReason::TooLarge,
            format!(
                "a calendar part of {} bytes; the limit is {}",
                part.bytes.len(),
                limits.max_calendar_bytes
            ),
        ));
    }
    let decoder = LineDecoder::for_charset(part.charset.as_deref()).ok_or_else(|| {
        unsupported(
            UnsupportedReason::UnreadableCharset,
            format!(
                "unknown charset {:?}",
                part.charset.as_deref().unwrap_or("")
            ),
        )
    })?;
    let calendars =
        read_calendars(&part.bytes, &decoder, limits, &mut m.warnings).map_err(|e| match e {
            ContentError::TooManyProperties(n) => unsupported(
                UnsupportedReason::TooManyProperties,
                format!("more than {n} iCalendar properties"),
            ),
            ContentError::TooManyComponents(n) => unsupported(
                UnsupportedReason::TooManyComponents,
                format!("more than {n} iCalendar components"),
            ),
            ContentError::TooDeep(n) => unsupported(
                UnsupportedReason::TooManyComponents,
                format!("iCalendar components nested deeper than {n}"),
            ),
            ContentError::NoCalendar => unsupported(
                UnsupportedReason::MalformedCalendar,
                "no VCALENDAR in the calendar part",
            ),
        })?;
    let cal = calendars
        .iter()
        .find(|c| c.children_of("VEVENT").next().is_some())
        .ok_or_else(|| {
            unsupported(
                UnsupportedReason::MalformedCalendar,
                "the calendar holds no VEVENT",
            )
        })?;
    if calendars.len() > 1 {
        m.warnings.push(format!(
            "{} VCALENDAR objects; the first with an event was used",
            calendars.len()
        ));
    }

    if decoder.replaced_any() {
        m.warnings
            .push("the calendar part is not valid UTF-8; unreadable bytes were replaced".into());
    }

    let property_method = cal
        .prop("METHOD")
        .map(|p| p.value.trim().to_ascii_uppercase());
    if let (Some(p), Some(c)) = (&property_method, &part.method)
        && p != c
    {
        m.warnings.push(format!(
            "Content-Type says method={c} but METHOD is {p}; METHOD wins"
        ));
    }
    let method = property_method.or_else(|| part.method.clone());
    m.method.clone_from(&method);
    let Some(method) = method else {
        return Err(unsupported(
            UnsupportedReason::NoMethod,
            "the calendar has no METHOD and its Content-Type none",
        ));
    };

    let from = m.from.clone();
    let zones = ZoneResolver::new(cal);
    let mut ctx = Ctx {
        zones,
        warnings: &mut m.warnings,
    };
    let events: Vec<&Component> = cal.children_of("VEVENT").collect();
    let uid = events
        .iter()
        .find_map(|e| e.prop("UID"))
        .map(|p| p.value.trim().to_string())
        .unwrap_or_default();
    let same_uid: Vec<&Component> = events
        .iter()
        .copied()
        .filter(|e| e.prop("UID").map(|p| p.value.trim()) == Some(uid.as_str()) || uid.is_empty())
        .collect();
    if same_uid.len() < events.len() {
        ctx.warnings.push(format!(
            "{} VEVENT(s) with another UID were ignored",
            events.len() - same_uid.len()
        ));
    }
    let master = same_uid
        .iter()
        .copied()
        .find(|e| e.prop("RECURRENCE-ID").is_none());
    let instances: Vec<&Component> = same_uid
        .iter()
        .copied()
        .filter(|e| e.prop("RECURRENCE-ID").is_some())
        .collect();
    if same_uid
        .iter()
        .filter(|e| e.prop("RECURRENCE-ID").is_none())
        .count()
        > 1
    {
        ctx.warnings
            .push("more than one VEVENT without RECURRENCE-ID; the first was used".into());
    }
    let head = master
        .or_else(|| instances.first().copied())
        .unwrap_or(events[0]);
    let identity = identity(head, &uid, &mut ctx);
    // What an organizer's message says about when or whether the event
    // happens that cannot be represented: the message is refused, never
    // narrowed (manual: inbound_warnings).
    let mut unusable = Vec::new();
    if let Some(p) = head.prop("SEQUENCE")
        && p.value.trim().parse::<u64>().is_err()
    {
        unusable.push(format!(
            "SEQUENCE {:?} is not a whole number calinvite can use, so it cannot tell whether this is a newer version",
            p.value.trim()
        ));
    }
    if same_uid.len() < events.len() {
        unusable.push(format!(
            "the message holds more than one event (UIDs {:?} and others); send each event on its own",
            uid
        ));
    }
    if same_uid
        .iter()
        .filter(|e| e.prop("RECURRENCE-ID").is_none())
        .count()
        > 1
    {
        unusable.push(
            "the message holds two versions of the same event (two VEVENTs without RECURRENCE-ID)"
                .into(),
        );
    }
    for i in &instances {
        if let Some(range) = i.prop("RECURRENCE-ID").and_then(|p| p.param("RANGE")) {
            unusable.push(format!(
                "RECURRENCE-ID;RANGE={range} changes every later occurrence; calinvite can only change one occurrence at a time"
            ));
        }
    }

    Ok(match method.as_str() {
        "REQUEST" => {
            let mut event = inbound_event(master, &instances, &mut ctx, &mut unusable);
            event.unusable = unusable;
            InboundKind::OrganizerRequest(OrganizerRequest {
                identity,
                scope: if master.is_some() {
                    RequestScope::Full
                } else {
                    RequestScope::Instances
                },
                event,
                raw_calendar: String::from_utf8_lossy(&part.bytes).into_owned(),
            })
        }
        "CANCEL" => {
            // A cancellation uses only its identity and, without a master,
            // the instances it names: only those can change its meaning.
            let mut event = inbound_event(master, &instances, &mut ctx, &mut Vec::new());
            let cancelled = if master.is_some() {
                Vec::new()
            } else {
                let mut cancelled = Vec::new();
                for i in &instances {
                    match ctx.time(i.prop("RECURRENCE-ID")) {
                        Some(t @ (InboundTime::Zoned(_) | InboundTime::Date(_))) => {
                            cancelled.push(t);
                        }
                        _ => unusable.push(format!(
                            "the cancelled occurrence RECURRENCE-ID {:?} names no date or time calinvite can place",
                            i.prop("RECURRENCE-ID").map_or("", |p| p.value.trim())
                        )),
                    }
                }
                cancelled
            };
            unusable.retain(|u| !u.starts_with("the message holds two versions"));
            event.unusable = unusable;
            InboundKind::OrganizerCancel(OrganizerCancel {
                identity,
                instances: cancelled,
                event,
            })
        }
        "REPLY" => InboundKind::Reply(reply(head, identity, from, &mut ctx)),
        "COUNTER" => {
            let mut r = reply(head, identity, from, &mut ctx);
            r.proposed_start = r.proposed_start.or_else(|| ctx.time(head.prop("DTSTART")));
            r.proposed_end = r
                .proposed_end
                .or_else(|| end_of(head, r.proposed_start, &mut ctx));
            InboundKind::Counter(r)
        }
        "REFRESH" => InboundKind::Refresh(reply(head, identity, from, &mut ctx)),
        other => {
            return Err(unsupported(
                UnsupportedReason::UnsupportedMethod,
                format!(
                    "METHOD:{other} is not one calinvite handles (REQUEST, CANCEL, REPLY, COUNTER, REFRESH)"
                ),
            ));
        }
    })
}

struct Ctx<'w> {
    zones: ZoneResolver,
    warnings: &'w mut Vec<String>,
}

/// Resolves TZIDs: IANA and Windows names directly, custom ones through their
/// VTIMEZONE's `X-LIC-LOCATION` or `X-ENTOURAGE-CFTIMEZONE`, Microsoft's
/// `tzone://Microsoft/…` names, and failing those the definition's own rules.
struct ZoneResolver {
    cache: HashMap<String, Option<TimeZone>>,
    definitions: HashMap<String, Component>,
}

impl ZoneResolver {
    fn new(cal: &Component) -> Self {
        let mut definitions = HashMap::new();
        for tz in cal.children_of("VTIMEZONE") {
            if let Some(id) = tz.prop("TZID") {
                definitions.insert(id.value.trim().to_string(), tz.clone());
            }
        }
        ZoneResolver {
            cache: HashMap::new(),
            definitions,
        }
    }

    /// The IANA zone a TZID means, judged in `year` when only its definition tells.
    fn resolve(&mut self, tzid: &str, year: i32) -> Option<TimeZone> {
        if let Some(z) = self.cache.get(tzid) {
            return *z;
        }
        let trimmed = tzid.trim().trim_matches('"');
        let name = trimmed
            .strip_prefix("tzone://Microsoft/")
            .unwrap_or(trimmed);
        let definition = self
            .definitions
            .get(tzid.trim())
            .or_else(|| self.definitions.get(trimmed));
        let zone = if name.eq_ignore_ascii_case("utc") || name.eq_ignore_ascii_case("z") {
            Some(TimeZone::UTC)
        } else {
            TimeZone::parse(name)
                .ok()
                .or_else(|| {
                    // Where the definition says which zone it copies.
                    let d = definition?;
                    ["X-LIC-LOCATION", "X-ENTOURAGE-CFTIMEZONE"]
                        .iter()
                        .find_map(|k| TimeZone::parse(d.prop(k)?.value.trim()).ok())
                })
                .or_else(|| super::zones::resolve_custom(definition?, trimmed, year))
        };
        self.cache.insert(tzid.to_string(), zone);
        zone
    }
}

impl Ctx<'_> {
    /// Reads a DATE or DATE-TIME property (first value when a list).
    fn time(&mut self, prop: Option<&Property>) -> Option<InboundTime> {
        let prop = prop?;
        let first = prop.value.split(',').next().unwrap_or("").trim();
        // An RDATE PERIOD: the start is what names the occurrence.
        let first = first.split('/').next().unwrap_or(first);
        self.time_value(first, prop)
    }

    fn time_value(&mut self, value: &str, prop: &Property) -> Option<InboundTime> {
        let is_date = prop
            .param("VALUE")
            .is_some_and(|v| v.eq_ignore_ascii_case("DATE"));
        if (is_date || value.len() == 8)
            && let Some(d) = parse_ical_date(value)
        {
            return Some(InboundTime::Date(d));
        }
        let Some((local, utc)) = parse_ical_date_time(value) else {
            self.warnings.push(format!(
                "{}: {value:?} is not a date or date-time",
                prop.name
            ));
            return None;
        };
        if utc {
            return Some(InboundTime::Zoned(ZonedDateTime::utc(local.and_utc())));
        }
        match prop.param("TZID") {
            None => Some(InboundTime::Floating(local)),
            Some(tzid) => match self.zones.resolve(tzid, local.year()) {
                Some(zone) => Some(InboundTime::Zoned(zoned(local, zone))),
                None => {
                    let w = format!(
                        "unknown time zone {tzid:?}: its times are kept as floating local times"
                    );
                    if !self.warnings.contains(&w) {
                        self.warnings.push(w);
                    }
                    Some(InboundTime::Floating(local))
                }
            },
        }
    }

    fn text(&mut self, c: &Component, name: &str) -> Option<Text> {
        let t = Text::new(unescape_text(&c.prop(name)?.value));
        (!t.is_empty()).then_some(t)
    }
}

/// A local time in a zone; one that falls in a daylight-saving gap moves
/// forward by the gap, as RFC 5545 §3.3.5 says.
fn zoned(local: NaiveDateTime, zone: TimeZone) -> ZonedDateTime {
    ZonedDateTime::new(local, zone).unwrap_or_else(|_| {
        let later = local + TimeDelta::hours(1);
        ZonedDateTime::new(later, zone).unwrap_or_else(|_| ZonedDateTime::utc(local.and_utc()))
    })
}

fn address(prop: &Property) -> Option<EmailAddress> {
    // iCloud writes a relay address as the value and the real one as EMAIL=.
    if let Some(a) = prop
        .param("EMAIL")
        .and_then(|e| EmailAddress::parse(e).ok())
    {
        return Some(a);
    }
    EmailAddress::parse(prop.value.trim()).ok()
}

fn mailbox(prop: &Property) -> Option<Mailbox> {
    let a = address(prop)?;
    Some(match prop.param("CN").map(unescape_param) {
        Some(n) => Mailbox::with_name(a, n),
        None => Mailbox::new(a),
    })
}

/// A parameter value, its quotes and RFC 6868 escapes already undone by the reader.
fn unescape_param(s: &str) -> String {
    s.trim().to_string()
}

fn identity(head: &Component, uid: &str, ctx: &mut Ctx<'_>) -> CalendarIdentity {
    let sequence = match head.prop("SEQUENCE") {
        None => Sequence::INITIAL,
        Some(p) => match p.value.trim().parse::<u64>() {
            Ok(n) => Sequence::new(n),
            Err(_) => {
                ctx.warnings
                    .push(format!("SEQUENCE {:?} is not a number; 0 assumed", p.value));
                Sequence::INITIAL
            }
        },
    };
    let dtstamp = match ctx.time(head.prop("DTSTAMP")) {
        Some(InboundTime::Zoned(z)) => Some(z.instant()),
        _ => None,
    };
    let organizer = head.prop("ORGANIZER").and_then(|p| {
        let m = mailbox(p);
        if m.is_none() {
            ctx.warnings
                .push(format!("ORGANIZER {:?} is not an address", p.value));
        }
        m
    });
    CalendarIdentity {
        uid: uid.to_string(),
        sequence,
        dtstamp,
        organizer,
    }
}

fn status(c: &Component) -> Option<EventStatus> {
    match c.prop("STATUS")?.value.trim().to_ascii_uppercase().as_str() {
        "CONFIRMED" => Some(EventStatus::Confirmed),
        "TENTATIVE" => Some(EventStatus::Tentative),
        "CANCELLED" | "CANCELED" => Some(EventStatus::Cancelled),
        _ => None,
    }
}

/// DTEND, or DTSTART + DURATION.
fn end_of(c: &Component, start: Option<InboundTime>, ctx: &mut Ctx<'_>) -> Option<InboundTime> {
    if let Some(end) = ctx.time(c.prop("DTEND")) {
        return Some(end);
    }
    let dur = c.prop("DURATION")?;
    let Some(seconds) = parse_duration(dur.value.trim()) else {
        ctx.warnings
            .push(format!("DURATION {:?} is not a duration", dur.value));
        return None;
    };
    let delta = TimeDelta::try_seconds(seconds)?;
    Some(match start? {
        InboundTime::Zoned(z) => {
            InboundTime::Zoned(ZonedDateTime::from_instant(z.instant() + delta, z.zone()))
        }
        InboundTime::Floating(t) => InboundTime::Floating(t + delta),
        InboundTime::Date(d) => InboundTime::Date(d + TimeDelta::days(seconds / 86_400)),
    })
}

/// The longest duration read: ten thousand years. Anything longer is no
/// event's length, and refusing it keeps every sum of times far from
/// overflow.
const MAX_DURATION_SECONDS: i64 = 10_000 * 366 * 86_400;

/// RFC 5545 §3.3.6 durations (`P1W`, `P2DT3H`, `-PT15M`), in seconds; `None`
/// for text that is not one, or for one longer than ten thousand years.
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'-' => (-1, &s[1..]),
        b'+' => (1, &s[1..]),
        _ => (1, s),
    };
    let rest = rest.strip_prefix(['P', 'p'])?;
    let mut total: i64 = 0;
    let mut number: Option<i64> = None;
    let mut in_time = false;
    let mut any = false;
    for c in rest.chars() {
        match c.to_ascii_uppercase() {
            'T' => in_time = true,
            d @ '0'..='9' => {
                let n = number
                    .unwrap_or(0)
                    .checked_mul(10)?
                    .checked_add(i64::from(d as u8 - b'0'))?;
                number = Some(n);
            }
            unit => {
                let n = number.take()?;
                let mult = match (unit, in_time) {
                    ('W', false) => 7 * 86_400,
                    ('D', false) => 86_400,
                    ('H', true) => 3_600,
                    ('M', true) => 60,
                    ('S', true) => 1,
                    _ => return None,
                };
                total = total.checked_add(n.checked_mul(mult)?)?;
                if total > MAX_DURATION_SECONDS {
                    return None;
                }
                any = true;
            }
        }
    }
    (any && number.is_none()).then_some(sign * total)
}

/// A DATE or DATE-TIME value that decides when the event happens: one that is
/// present but cannot be read is put on `unusable`.
fn deciding_time(
    ctx: &mut Ctx<'_>,
    prop: Option<&Property>,
    what: &str,
    unusable: &mut Vec<String>,
) -> Option<InboundTime> {
    let t = ctx.time(prop);
    if let (Some(p), None) = (prop, t) {
        unusable.push(format!(
            "{what} ({}) {:?} is not a date or time calinvite can read",
            p.name,
            p.value.trim()
        ));
    }
    t
}

/// DTEND, or DTSTART + DURATION, where either being unreadable (or both
/// being given) is put on `unusable`.
fn deciding_end(
    c: &Component,
    start: Option<InboundTime>,
    what: &str,
    ctx: &mut Ctx<'_>,
    unusable: &mut Vec<String>,
) -> Option<InboundTime> {
    if c.prop("DTEND").is_some() && c.prop("DURATION").is_some() {
        unusable.push(format!(
            "{what} gives both an end (DTEND) and a length (DURATION); calinvite cannot tell which is meant"
        ));
    }
    if let Some(p) = c.prop("DTEND") {
        return deciding_time(ctx, Some(p), &format!("{what}'s end"), unusable);
    }
    if let Some(p) = c.prop("DURATION")
        && parse_duration(p.value.trim()).is_none()
    {
        unusable.push(format!(
            "{what}'s length (DURATION) {:?} is not a length calinvite can read",
            p.value.trim()
        ));
    }
    end_of(c, start, ctx)
}

/// STATUS, where a value calinvite does not know is put on `unusable`.
fn deciding_status(c: &Component, what: &str, unusable: &mut Vec<String>) -> Option<EventStatus> {
    let s = status(c);
    if let (Some(p), None) = (c.prop("STATUS"), s) {
        unusable.push(format!(
            "{what}'s STATUS {:?} is not one calinvite knows (CONFIRMED, TENTATIVE, CANCELLED)",
            p.value.trim()
        ));
    }
    s
}

/// RDATE or EXDATE values: each must name a date or a zoned time (a PERIOD
/// in an RDATE gives an occurrence its own length, which calinvite cannot
/// represent).
fn occurrence_list(
    ctx: &mut Ctx<'_>,
    prop: &Property,
    what: &str,
    unusable: &mut Vec<String>,
) -> Vec<InboundTime> {
    let mut out = Vec::new();
    for v in prop.value.split(',').map(str::trim) {
        if v.contains('/') {
            unusable.push(format!(
                "{what} ({}) {v:?} gives an occurrence its own length, which calinvite cannot represent",
                prop.name
            ));
            continue;
        }
        match ctx.time_value(v, prop) {
            Some(t @ (InboundTime::Zoned(_) | InboundTime::Date(_))) => out.push(t),
            Some(InboundTime::Floating(_)) => unusable.push(format!(
                "{what} ({}) {v:?} has no time zone calinvite can resolve, so it cannot tell which occurrence it means",
                prop.name
            )),
            None => unusable.push(format!(
                "{what} ({}) {v:?} is not a date or time calinvite can read",
                prop.name
            )),
        }
    }
    out
}

fn inbound_event(
    master: Option<&Component>,
    instances: &[&Component],
    ctx: &mut Ctx<'_>,
    unusable: &mut Vec<String>,
) -> InboundEvent {
    let mut e = InboundEvent::default();
    if let Some(m) = master {
        e.summary = ctx.text(m, "SUMMARY");
        e.description = ctx.text(m, "DESCRIPTION");
        e.location = ctx.text(m, "LOCATION");
        e.url = m
            .prop("URL")
            .map(|p| p.value.trim().to_string())
            .filter(|u| !u.is_empty());
        e.status = deciding_status(m, "the event", unusable);
        e.start = deciding_time(ctx, m.prop("DTSTART"), "the event's start", unusable);
        e.end = deciding_end(m, e.start, "the event", ctx, unusable);
        e.attendee_count = m.props("ATTENDEE").count();
        if let Some(r) = m.prop("RRULE") {
            match RecurrenceRule::parse(&r.value) {
                Ok(rule) => e.rrule = Some(rule),
                Err(err) => {
                    ctx.warnings
                        .push(format!("RRULE {:?} could not be used: {err}", r.value));
                    unusable.push(format!(
                        "the repeat rule (RRULE) {:?} cannot be used ({err}); calinvite will not turn a series into a single meeting",
                        r.value.trim()
                    ));
                }
            }
        }
        if m.props("RRULE").count() > 1 {
            ctx.warnings
                .push("more than one RRULE; the first was used".into());
            unusable.push(
                "the event has more than one repeat rule (RRULE); calinvite represents one".into(),
            );
        }
        if m.prop("EXRULE").is_some() {
            unusable.push(
                "the event removes occurrences by a rule (EXRULE), which calinvite cannot represent"
                    .into(),
            );
        }
        for p in m.props("RDATE") {
            let t = occurrence_list(ctx, p, "an extra occurrence", unusable);
            e.rdates.extend(t);
        }
        for p in m.props("EXDATE") {
            let t = occurrence_list(ctx, p, "a removed occurrence", unusable);
            e.exdates.extend(t);
        }
    }
    for i in instances {
        let Some(recurrence_id) = ctx.time(i.prop("RECURRENCE-ID")) else {
            unusable.push(format!(
                "a changed occurrence's RECURRENCE-ID {:?} is not a date or time calinvite can read",
                i.prop("RECURRENCE-ID").map_or("", |p| p.value.trim())
            ));
            continue;
        };
        let start = deciding_time(
            ctx,
            i.prop("DTSTART"),
            "a changed occurrence's start",
            unusable,
        );
        let end = deciding_end(i, start, "a changed occurrence", ctx, unusable);
        let sequence = i.prop("SEQUENCE").and_then(|p| {
            let n = p.value.trim().parse().ok();
            if n.is_none() {
                ctx.warnings.push(format!(
                    "a changed occurrence's SEQUENCE {:?} is not a number; ignored",
                    p.value
                ));
            }
            n
        });
        e.overrides.push(InboundInstance {
            recurrence_id,
            start,
            end,
            summary: ctx.text(i, "SUMMARY"),
            description: ctx.text(i, "DESCRIPTION"),
            location: ctx.text(i, "LOCATION"),
            status: deciding_status(i, "a changed occurrence", unusable),
            sequence: sequence.map(Sequence::new),
        });
    }
    e
}

fn reply(
    head: &Component,
    identity: CalendarIdentity,
    from: Option<EmailAddress>,
    ctx: &mut Ctx<'_>,
) -> Reply {
    let attendees: Vec<&Property> = head.props("ATTENDEE").collect();
    // The answering attendee: the one the mail came from, else the first who answered.
    let chosen = from
        .as_ref()
        .and_then(|f| attendees.iter().find(|a| address(a).as_ref() == Some(f)))
        .or_else(|| {
            attendees.iter().find(|a| {
                a.param("PARTSTAT")
                    .is_some_and(|p| !p.eq_ignore_ascii_case("NEEDS-ACTION"))
            })
        })
        .or(attendees.first())
        .copied();
    if attendees.len() > 1 {
        ctx.warnings.push(format!(
            "{} ATTENDEE lines in a reply; one was used",
            attendees.len()
        ));
    }
    if chosen.is_none() {
        ctx.warnings.push("the reply names no ATTENDEE".into());
    }
    let partstat = chosen.and_then(|a| a.param("PARTSTAT")).and_then(|p| {
        let s = ParticipationStatus::parse(p);
        if s.is_none() {
            ctx.warnings
                .push(format!("PARTSTAT {p:?} is not one calinvite knows"));
        }
        s
    });
    let delegated_to = chosen
        .and_then(|a| a.param("DELEGATED-TO"))
        .and_then(|d| EmailAddress::parse(d.split(',').next().unwrap_or(d)).ok());
    let comment = head
        .prop("COMMENT")
        .or_else(|| head.prop("X-CALENDARSERVER-PRIVATE-COMMENT"))
        .or_else(|| head.prop("X-CALENDARSERVER-ATTENDEE-COMMENT"))
        .map(|p| Text::new(unescape_text(&p.value)))
        .or_else(|| {
            chosen
                .and_then(|a| a.param("X-RESPONSE-COMMENT"))
                .map(Text::new)
        })
        .filter(|t| !t.is_empty());
    // Apple proposes a new time inside the attendee:
    // TO-ALL-PROPOSED-NEW-TIME="DTSTART:20201225T083000Z;STATUS:;"
    let mut proposed_start = None;
    if let Some(p) = chosen.and_then(|a| a.param("TO-ALL-PROPOSED-NEW-TIME")) {
        for part in p.split(';') {
            if let Some(v) = part.trim().strip_prefix("DTSTART:")
                && let Some((t, utc)) = parse_ical_date_time(v.trim())
            {
                proposed_start = Some(if utc {
                    InboundTime::Zoned(ZonedDateTime::utc(t.and_utc()))
                } else {
                    InboundTime::Floating(t)
                });
            }
        }
    }
    let invitation = InvitationUid::parse(&identity.uid).ok();
    Reply {
        invitation,
        attendee: chosen.and_then(mailbox),
        partstat,
        delegated_to,
        recurrence_id: ctx.time(head.prop("RECURRENCE-ID")),
        comment,
        proposed_start,
        proposed_end: None,
        request_status: head
            .props("REQUEST-STATUS")
            .map(|p| unescape_text(p.value.trim()))
            .collect(),
        identity,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("PT1H30M"), Some(5400));
        assert_eq!(parse_duration("P1W"), Some(604_800));
        assert_eq!(parse_duration("-PT15M"), Some(-900));
        assert_eq!(parse_duration("P1DT2H"), Some(93_600));
        assert_eq!(parse_duration("P"), None);
        assert_eq!(parse_duration("PT5"), None);
        assert_eq!(parse_duration("P1H"), None);
        assert_eq!(parse_duration("P99999999999999999999D"), None);
        // Found by the duration fuzz target: seconds up to i64::MAX.
        assert_eq!(parse_duration("P0DT9223372036854775807S"), None);
        assert_eq!(parse_duration("P3660000D"), Some(3_660_000 * 86_400));
        assert_eq!(parse_duration("P3660001D"), None);
        assert_eq!(parse_duration("-P3660001D"), None);
    }
}
