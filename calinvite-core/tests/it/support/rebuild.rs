//! The way back: from what calcard parsed out of a calendar object to the core
//! model (`Event` through `Event::builder`, `Recipient`, `InvitationUid`,
//! `Sequence`). Everything is read from calcard's structures; nothing from the
//! text calcard was given.

use calcard::common::IanaString;
use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarEntry, ICalendarMethod,
    ICalendarParameterName, ICalendarParameterValue, ICalendarProperty, ICalendarStatus,
    ICalendarValue, Uri,
};
use calinvite_core::{
    EmailAddress, Event, EventStatus, InstanceOverride, InvitationUid, OccurrenceId, Recipient,
    Recurrence, RecurrenceRule, Schedule, Sequence, Text, TimeZone, ZonedDateTime,
};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// A date or date-time value as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum When {
    /// `VALUE=DATE`.
    Date(NaiveDate),
    /// `…Z`.
    Utc(DateTime<Utc>),
    /// `TZID=…` local time.
    Local(NaiveDateTime, TimeZone),
}

impl When {
    fn zoned(self) -> Result<ZonedDateTime, String> {
        match self {
            When::Utc(t) => Ok(ZonedDateTime::utc(t)),
            When::Local(l, z) => ZonedDateTime::new(l, z).map_err(|e| e.to_string()),
            When::Date(d) => Err(format!("{d} is a date, expected a date-time")),
        }
    }

    fn occurrence(self) -> Result<OccurrenceId, String> {
        Ok(match self {
            When::Date(d) => OccurrenceId::On(d),
            other => OccurrenceId::At(other.zoned()?.instant()),
        })
    }
}

/// The one VEVENT of an instance cancellation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Instance {
    pub(crate) id: OccurrenceId,
    /// DTSTART and DTEND as written (zone included).
    pub(crate) schedule: Schedule,
    pub(crate) summary: Text,
    pub(crate) location: Option<Text>,
    pub(crate) status: EventStatus,
}

/// Everything a calendar object says, in core types.
#[derive(Clone, Debug)]
pub(crate) struct Rebuilt {
    pub(crate) method: String,
    pub(crate) product_id: String,
    pub(crate) uid: InvitationUid,
    pub(crate) sequence: Sequence,
    pub(crate) dtstamp: DateTime<Utc>,
    /// The event (organized by the ORGANIZER address, named by its CN); `None`
    /// for an instance cancellation, which carries no rule.
    pub(crate) event: Option<Event>,
    pub(crate) instance: Option<Instance>,
    pub(crate) recipient: Recipient,
    pub(crate) organizer: EmailAddress,
    pub(crate) organizer_name: Option<String>,
}

pub(crate) fn property<'a>(
    c: &'a ICalendarComponent,
    name: &ICalendarProperty,
) -> Result<Option<&'a ICalendarEntry>, String> {
    let mut found = c.entries.iter().filter(|e| e.name == *name);
    let first = found.next();
    if found.next().is_some() {
        return Err(format!("{} given twice", name.as_str()));
    }
    Ok(first)
}

fn required<'a>(
    c: &'a ICalendarComponent,
    name: &ICalendarProperty,
) -> Result<&'a ICalendarEntry, String> {
    property(c, name)?.ok_or_else(|| format!("no {}", name.as_str()))
}

fn single_value(e: &ICalendarEntry) -> Result<&ICalendarValue, String> {
    match e.values.as_slice() {
        [v] => Ok(v),
        other => Err(format!("{} has {} values", e.name.as_str(), other.len())),
    }
}

fn text(e: &ICalendarEntry) -> Result<String, String> {
    match single_value(e)? {
        ICalendarValue::Text(t) => Ok(t.clone()),
        other => Err(format!("{} is not text: {other:?}", e.name.as_str())),
    }
}

fn param_text(e: &ICalendarEntry, name: &ICalendarParameterName) -> Result<Option<String>, String> {
    let mut values = e.params.iter().filter(|p| p.name == *name);
    let first = values.next();
    if values.next().is_some() {
        return Err(format!("{} repeated on {}", name.as_str(), e.name.as_str()));
    }
    match first.map(|p| &p.value) {
        None => Ok(None),
        // calcard does not implement RFC 6868 parameter escaping; undo it here.
        Some(ICalendarParameterValue::Text(t)) => Ok(Some(rfc6868_decode(t))),
        Some(other) => Err(format!("{} is {other:?}", name.as_str())),
    }
}

/// RFC 6868: `^^` is a caret, `^'` a double quote, `^n` a newline; any other
/// caret stands for itself.
fn rfc6868_decode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('^', Some('^')) => {
                chars.next();
                out.push('^');
            }
            ('^', Some('\'')) => {
                chars.next();
                out.push('"');
            }
            ('^', Some('n' | 'N')) => {
                chars.next();
                out.push('\n');
            }
            (c, _) => out.push(c),
        }
    }
    out
}

fn when(e: &ICalendarEntry, v: &ICalendarValue) -> Result<When, String> {
    let ICalendarValue::PartialDateTime(p) = v else {
        return Err(format!("{} is not a date: {v:?}", e.name.as_str()));
    };
    let date = NaiveDate::from_ymd_opt(
        i32::from(p.year.ok_or("no year")?),
        u32::from(p.month.ok_or("no month")?),
        u32::from(p.day.ok_or("no day")?),
    )
    .ok_or("no such date")?;
    let tzid = param_text(e, &ICalendarParameterName::Tzid)?;
    let value_date = e.params.iter().any(|p| {
        p.name == ICalendarParameterName::Value
            && matches!(&p.value, ICalendarParameterValue::Value(t) if t.as_str() == "DATE")
    });
    match (p.hour, p.minute, p.second) {
        (None, None, None) => {
            if tzid.is_some() || p.tz_hour.is_some() || !value_date {
                return Err(format!("{} date without VALUE=DATE", e.name.as_str()));
            }
            Ok(When::Date(date))
        }
        (Some(h), Some(m), Some(s)) => {
            let local = date
                .and_hms_opt(u32::from(h), u32::from(m), u32::from(s))
                .ok_or("no such time")?;
            match (tzid, p.tz_hour, p.tz_minute, p.tz_minus) {
                (None, Some(0), Some(0) | None, false) => Ok(When::Utc(local.and_utc())),
                (Some(z), None, None, _) => Ok(When::Local(
                    local,
                    TimeZone::parse(&z).map_err(|e| e.to_string())?,
                )),
                other => Err(format!("{} has zone {other:?}", e.name.as_str())),
            }
        }
        other => Err(format!("partial time {other:?}")),
    }
}

fn when_single(e: &ICalendarEntry) -> Result<When, String> {
    when(e, single_value(e)?)
}

fn schedule(c: &ICalendarComponent) -> Result<Schedule, String> {
    let start = when_single(required(c, &ICalendarProperty::Dtstart)?)?;
    let end = when_single(required(c, &ICalendarProperty::Dtend)?)?;
    match (start, end) {
        (When::Date(s), When::Date(e)) => {
            Schedule::all_day(s, e.pred_opt().ok_or("no day before DTEND")?)
                .map_err(|e| e.to_string())
        }
        (s, e) => Schedule::timed(s.zoned()?, e.zoned()?).map_err(|e| e.to_string()),
    }
}

fn occurrences(
    c: &ICalendarComponent,
    name: &ICalendarProperty,
) -> Result<Vec<OccurrenceId>, String> {
    let mut out = Vec::new();
    for e in c.entries.iter().filter(|e| e.name == *name) {
        for v in &e.values {
            out.push(when(e, v)?.occurrence()?);
        }
    }
    Ok(out)
}

fn status(c: &ICalendarComponent) -> Result<EventStatus, String> {
    match single_value(required(c, &ICalendarProperty::Status)?)? {
        ICalendarValue::Status(ICalendarStatus::Confirmed) => Ok(EventStatus::Confirmed),
        ICalendarValue::Status(ICalendarStatus::Tentative) => Ok(EventStatus::Tentative),
        ICalendarValue::Status(ICalendarStatus::Cancelled) => Ok(EventStatus::Cancelled),
        other => Err(format!("STATUS {other:?}")),
    }
}

fn optional_text(
    c: &ICalendarComponent,
    name: &ICalendarProperty,
) -> Result<Option<String>, String> {
    property(c, name)?.map(text).transpose()
}

fn cal_address(e: &ICalendarEntry) -> Result<(EmailAddress, Option<String>), String> {
    let uri = match single_value(e)? {
        ICalendarValue::Uri(Uri::Location(u)) => u.clone(),
        other => return Err(format!("{} is {other:?}", e.name.as_str())),
    };
    if !uri.starts_with("mailto:") {
        return Err(format!("{} is not a mailto: URI: {uri}", e.name.as_str()));
    }
    let address = EmailAddress::parse(&uri).map_err(|err| err.to_string())?;
    Ok((address, param_text(e, &ICalendarParameterName::Cn)?))
}

fn sequence(c: &ICalendarComponent) -> Result<Sequence, String> {
    match single_value(required(c, &ICalendarProperty::Sequence)?)? {
        ICalendarValue::Integer(n) => u64::try_from(*n)
            .map(Sequence::new)
            .map_err(|e| e.to_string()),
        // calcard reads integers as i64: larger SEQUENCE values stay text.
        ICalendarValue::Text(t) => t
            .parse::<u64>()
            .map(Sequence::new)
            .map_err(|e| e.to_string()),
        other => Err(format!("SEQUENCE {other:?}")),
    }
}

fn rrule(c: &ICalendarComponent) -> Result<Option<RecurrenceRule>, String> {
    let Some(e) = property(c, &ICalendarProperty::Rrule)? else {
        return Ok(None);
    };
    match single_value(e)? {
        // calcard's rule, in its own words, read back into the core's canonical form.
        ICalendarValue::RecurrenceRule(r) => RecurrenceRule::parse(&r.to_string())
            .map(Some)
            .map_err(|e| e.to_string()),
        other => Err(format!("calcard did not parse the RRULE: {other:?}")),
    }
}

/// What every VEVENT of one calendar object repeats.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Common {
    uid: String,
    sequence: Sequence,
    dtstamp: DateTime<Utc>,
    organizer: (EmailAddress, Option<String>),
    attendee: (EmailAddress, Option<String>),
}

fn common_fields(c: &ICalendarComponent) -> Result<Common, String> {
    let dtstamp = match when_single(required(c, &ICalendarProperty::Dtstamp)?)? {
        When::Utc(t) => t,
        other => return Err(format!("DTSTAMP is not UTC: {other:?}")),
    };
    Ok(Common {
        uid: text(required(c, &ICalendarProperty::Uid)?)?,
        sequence: sequence(c)?,
        dtstamp,
        organizer: cal_address(required(c, &ICalendarProperty::Organizer)?)?,
        attendee: cal_address(required(c, &ICalendarProperty::Attendee)?)?,
    })
}

/// Components of one type.
pub(crate) fn components<'a>(
    ical: &'a ICalendar,
    kind: &'a ICalendarComponentType,
) -> impl Iterator<Item = &'a ICalendarComponent> + 'a {
    ical.components
        .iter()
        .filter(move |c| c.component_type == *kind)
}

/// Reads the core model back out of what calcard parsed.
pub(crate) fn rebuild(ical: &ICalendar) -> Result<Rebuilt, String> {
    let calendars: Vec<_> = components(ical, &ICalendarComponentType::VCalendar).collect();
    let [calendar] = calendars.as_slice() else {
        return Err(format!("{} VCALENDAR components", calendars.len()));
    };
    let method = match single_value(required(calendar, &ICalendarProperty::Method)?)? {
        ICalendarValue::Method(ICalendarMethod::Request) => "REQUEST",
        ICalendarValue::Method(ICalendarMethod::Cancel) => "CANCEL",
        other => return Err(format!("METHOD {other:?}")),
    }
    .to_string();
    let product_id = text(required(calendar, &ICalendarProperty::Prodid)?)?;

    let events: Vec<_> = components(ical, &ICalendarComponentType::VEvent).collect();
    let first = events.first().ok_or("no VEVENT")?;
    let common = common_fields(first)?;
    for e in &events {
        let c = common_fields(e)?;
        if c != common {
            return Err(format!("VEVENTs disagree: {c:?} vs {common:?}"));
        }
    }
    let Common {
        uid: uid_text,
        sequence,
        dtstamp,
        organizer: (organizer, organizer_name),
        attendee: (attendee, attendee_name),
    } = common;
    let uid = InvitationUid::parse(&uid_text).map_err(|e| e.to_string())?;
    if uid.to_string() != uid_text {
        return Err(format!("UID {uid_text} is not in canonical form"));
    }
    let mut recipient = Recipient::new(attendee);
    if let Some(n) = &attendee_name {
        recipient = recipient.with_name(n);
    }

    let (masters, overrides): (Vec<&ICalendarComponent>, Vec<&ICalendarComponent>) =
        events.iter().copied().partition(|e| {
            !e.entries
                .iter()
                .any(|p| p.name == ICalendarProperty::RecurrenceId)
        });

    let mut rebuilt = Rebuilt {
        method,
        product_id,
        uid,
        sequence,
        dtstamp,
        event: None,
        instance: None,
        recipient,
        organizer,
        organizer_name,
    };

    match masters.as_slice() {
        [] => {
            // An instance cancellation: one VEVENT with a RECURRENCE-ID.
            let [only] = overrides.as_slice() else {
                return Err(format!("{} VEVENTs without a master", overrides.len()));
            };
            rebuilt.instance = Some(Instance {
                id: when_single(required(only, &ICalendarProperty::RecurrenceId)?)?.occurrence()?,
                schedule: schedule(only)?,
                summary: Text::new(text(required(only, &ICalendarProperty::Summary)?)?),
                location: optional_text(only, &ICalendarProperty::Location)?.map(Text::new),
                status: status(only)?,
            });
        }
        [master] => {
            let code = rebuilt.uid.event_code().clone();
            let mut b = Event::builder(code)
                .summary(text(required(master, &ICalendarProperty::Summary)?)?)
                .schedule(schedule(master)?)
                .organizer(rebuilt.organizer.clone(), rebuilt.organizer_name.as_deref())
                .status(status(master)?);
            if let Some(d) = optional_text(master, &ICalendarProperty::Description)? {
                b = b.description(d);
            }
            if let Some(l) = optional_text(master, &ICalendarProperty::Location)? {
                b = b.location(l);
            }
            if let Some(e) = property(master, &ICalendarProperty::Url)? {
                match single_value(e)? {
                    ICalendarValue::Uri(Uri::Location(u)) => b = b.url(u.clone()),
                    other => return Err(format!("URL {other:?}")),
                }
            }
            let rule = rrule(master)?;
            let rdates = occurrences(master, &ICalendarProperty::Rdate)?;
            let exdates = occurrences(master, &ICalendarProperty::Exdate)?;
            if rule.is_some() || !rdates.is_empty() || !exdates.is_empty() {
                let r = rule.map_or_else(Recurrence::default, Recurrence::rule);
                b = b.recurrence(r.with_dates(rdates).with_exceptions(exdates));
            }
            for o in &overrides {
                let id =
                    when_single(required(o, &ICalendarProperty::RecurrenceId)?)?.occurrence()?;
                let mut instance = InstanceOverride::new(id, schedule(o)?)
                    .summary(text(required(o, &ICalendarProperty::Summary)?)?)
                    .status(status(o)?);
                if let Some(d) = optional_text(o, &ICalendarProperty::Description)? {
                    instance = instance.description(d);
                }
                if let Some(l) = optional_text(o, &ICalendarProperty::Location)? {
                    instance = instance.location(l);
                }
                b = b.override_instance(instance);
            }
            rebuilt.event = Some(b.build().map_err(|e| e.to_string())?);
        }
        more => return Err(format!("{} master VEVENTs", more.len())),
    }
    Ok(rebuilt)
}
