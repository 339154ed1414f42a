//! `Serialize` and `Deserialize` for the value types whose fields are private
//! (feature `serde`): what a [`Store`](crate::Store) keeps must come back as
//! the same checked value, or not at all.
//!
//! - Values with a textual form are written as that string and read back by
//!   parsing it with the type's own constructor: [`EmailAddress`],
//!   [`EventCode`], [`InvitationToken`], [`InvitationUid`], [`WebUrl`],
//!   [`LanguageTag`], [`TimeZone`] (its IANA name), [`RecurrenceRule`] (its
//!   canonical RRULE value), [`Text`] and [`Name`] (normalised again; a name
//!   that normalises to nothing is an error). [`Sequence`] is a number.
//! - The others are written as a private mirror of plain fields and rebuilt
//!   through their public constructors, so every invariant is checked again:
//!   [`Event`] through [`Event::builder`], [`Schedule`] through
//!   [`Schedule::timed`] and [`Schedule::all_day`], [`ZonedDateTime`] (local
//!   time and zone name) through [`ZonedDateTime::new`], and
//!   [`InstanceOverride`], [`Recurrence`], [`OccurrenceId`], [`Recipient`],
//!   [`Mailbox`], [`IdempotencyKey`] alike.
//!
//! A value that fails its check is a deserialization error that says what was
//! wrong (never a panic). Error messages never quote an invitation token.
//!
//! Times are chrono's serde forms: RFC 3339 for instants
//! (`2026-12-03T17:00:00Z`), ISO 8601 for dates (`2026-12-03`) and local
//! times (`2026-12-03T18:00:00`). Enum variants are kebab-case names.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::address::{EmailAddress, Mailbox};
use crate::compose::IdempotencyKey;
use crate::error::TimeError;
use crate::event::{
    Event, EventStatus, InstanceOverride, LanguageTag, Recipient, Recurrence, WebUrl,
};
use crate::ics::Method;
use crate::ids::{EventCode, InvitationToken, InvitationUid, Sequence};
use crate::recurrence::RecurrenceRule;
use crate::text::{Name, Text};
use crate::time::{OccurrenceId, Schedule, TimeZone, ZonedDateTime};

/// The error for a stored value that fails its type's check.
fn invalid<E: serde::de::Error>(what: &str, why: impl fmt::Display) -> E {
    E::custom(format_args!("invalid {what}: {why}"))
}

/// Types written as a string and read back through a parser returning `Result`.
macro_rules! textual {
    ($ty:ty, $what:literal, $show:expr, $parse:expr) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let show: fn(&$ty) -> &str = $show;
                serializer.serialize_str(show(self))
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                ($parse)(s.as_str()).map_err(|e| invalid($what, e))
            }
        }
    };
}

textual!(
    EmailAddress,
    "email address",
    EmailAddress::as_str,
    EmailAddress::parse
);
textual!(EventCode, "event code", EventCode::as_str, EventCode::parse);
textual!(
    InvitationToken,
    "invitation token",
    InvitationToken::as_str,
    InvitationToken::parse
);
textual!(WebUrl, "URL", WebUrl::as_str, WebUrl::parse);
textual!(
    LanguageTag,
    "language tag",
    LanguageTag::as_str,
    LanguageTag::parse
);
textual!(TimeZone, "time zone", TimeZone::name, TimeZone::parse);
textual!(Name, "name", Name::as_str, |s: &str| {
    Name::new(s).ok_or("nothing printable is left of it")
});

impl Serialize for InvitationUid {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for InvitationUid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        // IdError's messages name the part at fault and never quote a token.
        InvitationUid::parse(&s).map_err(|e| invalid("invitation UID", e))
    }
}

impl Serialize for RecurrenceRule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RecurrenceRule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        RecurrenceRule::parse(&s).map_err(|e| invalid("recurrence rule", e))
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Normalising never fails: characters no writer may emit are dropped.
        String::deserialize(deserializer).map(Text::new)
    }
}

impl Serialize for Sequence {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.get())
    }
}

impl<'de> Deserialize<'de> for Sequence {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        u64::deserialize(deserializer).map(Sequence::new)
    }
}

// ---------------------------------------------------------------------------
// Times
// ---------------------------------------------------------------------------

#[derive(Serialize, Deserialize)]
#[serde(rename = "ZonedDateTime")]
struct ZonedRepr {
    local: NaiveDateTime,
    zone: TimeZone,
}

impl Serialize for ZonedDateTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ZonedRepr {
            local: self.local(),
            zone: self.zone(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ZonedDateTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let r = ZonedRepr::deserialize(deserializer)?;
        ZonedDateTime::new(r.local, r.zone).map_err(|e| invalid("zoned time", e))
    }
}

/// `end` is exclusive for all-day schedules, as in iCalendar's DTEND: the day
/// after the last day.
#[derive(Serialize, Deserialize)]
#[serde(rename = "Schedule", rename_all = "kebab-case")]
enum ScheduleRepr {
    Timed {
        start: ZonedDateTime,
        end: ZonedDateTime,
    },
    AllDay {
        start: NaiveDate,
        end: NaiveDate,
    },
}

impl Serialize for Schedule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            Schedule::Timed { start, end } => ScheduleRepr::Timed { start, end },
            Schedule::AllDay { start, end } => ScheduleRepr::AllDay { start, end },
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match ScheduleRepr::deserialize(deserializer)? {
            ScheduleRepr::Timed { start, end } => Schedule::timed(start, end),
            ScheduleRepr::AllDay { start, end } => end
                .pred_opt()
                .ok_or(TimeError::EndBeforeStart)
                .and_then(|last| Schedule::all_day(start, last)),
        }
        .map_err(|e| invalid("schedule", e))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename = "OccurrenceId", rename_all = "kebab-case")]
enum OccurrenceRepr {
    At(DateTime<Utc>),
    On(NaiveDate),
}

impl Serialize for OccurrenceId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            OccurrenceId::At(t) => OccurrenceRepr::At(t),
            OccurrenceId::On(d) => OccurrenceRepr::On(d),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for OccurrenceId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match OccurrenceRepr::deserialize(deserializer)? {
            OccurrenceRepr::At(t) => OccurrenceId::At(t),
            OccurrenceRepr::On(d) => OccurrenceId::On(d),
        })
    }
}

// ---------------------------------------------------------------------------
// People
// ---------------------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename = "Mailbox")]
struct MailboxOut<'a> {
    address: &'a EmailAddress,
    name: Option<&'a Name>,
}

#[derive(Deserialize)]
#[serde(rename = "Mailbox")]
struct MailboxIn {
    address: EmailAddress,
    name: Option<Name>,
}

impl Serialize for Mailbox {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        MailboxOut {
            address: self.address(),
            name: self.name(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Mailbox {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let m = MailboxIn::deserialize(deserializer)?;
        Ok(match m.name {
            Some(name) => Mailbox::with_name(m.address, name.as_str()),
            None => Mailbox::new(m.address),
        })
    }
}

#[derive(Serialize)]
#[serde(rename = "Recipient")]
struct RecipientOut<'a> {
    address: &'a EmailAddress,
    name: Option<&'a Name>,
    language: Option<&'a LanguageTag>,
}

#[derive(Deserialize)]
#[serde(rename = "Recipient")]
struct RecipientIn {
    address: EmailAddress,
    name: Option<Name>,
    language: Option<LanguageTag>,
}

impl Serialize for Recipient {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RecipientOut {
            address: self.address(),
            name: self.name(),
            language: self.language(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Recipient {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let r = RecipientIn::deserialize(deserializer)?;
        let mut recipient = Recipient::new(r.address);
        if let Some(name) = r.name {
            recipient = recipient.with_name(name.as_str());
        }
        if let Some(language) = r.language {
            recipient = recipient.with_language(language);
        }
        Ok(recipient)
    }
}

// ---------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename = "Recurrence")]
struct RecurrenceOut<'a> {
    rule: Option<&'a RecurrenceRule>,
    rdates: &'a [OccurrenceId],
    exdates: &'a [OccurrenceId],
}

#[derive(Deserialize)]
#[serde(rename = "Recurrence")]
struct RecurrenceIn {
    rule: Option<RecurrenceRule>,
    rdates: Vec<OccurrenceId>,
    exdates: Vec<OccurrenceId>,
}

impl Serialize for Recurrence {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RecurrenceOut {
            rule: self.recurrence_rule(),
            rdates: self.dates(),
            exdates: self.exceptions(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Recurrence {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let r = RecurrenceIn::deserialize(deserializer)?;
        let base = match r.rule {
            Some(rule) => Recurrence::rule(rule),
            None => Recurrence::default(),
        };
        Ok(base.with_dates(r.rdates).with_exceptions(r.exdates))
    }
}

#[derive(Serialize)]
#[serde(rename = "InstanceOverride")]
struct OverrideOut<'a> {
    id: OccurrenceId,
    schedule: &'a Schedule,
    summary: Option<&'a Text>,
    description: Option<&'a Text>,
    location: Option<&'a Text>,
    status: EventStatus,
}

#[derive(Deserialize)]
#[serde(rename = "InstanceOverride")]
struct OverrideIn {
    id: OccurrenceId,
    schedule: Schedule,
    summary: Option<Text>,
    description: Option<Text>,
    location: Option<Text>,
    status: EventStatus,
}

impl Serialize for InstanceOverride {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        OverrideOut {
            id: self.id(),
            schedule: self.schedule(),
            summary: self.summary_text(),
            description: self.description_text(),
            location: self.location_text(),
            status: self.status_value(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for InstanceOverride {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let o = OverrideIn::deserialize(deserializer)?;
        let mut instance = InstanceOverride::new(o.id, o.schedule).status(o.status);
        if let Some(summary) = o.summary {
            instance = instance.summary(summary);
        }
        if let Some(description) = o.description {
            instance = instance.description(description);
        }
        if let Some(location) = o.location {
            instance = instance.location(location);
        }
        Ok(instance)
    }
}

#[derive(Serialize)]
#[serde(rename = "Event")]
struct EventOut<'a> {
    code: &'a EventCode,
    summary: &'a Text,
    description: Option<&'a Text>,
    location: Option<&'a Text>,
    url: Option<&'a WebUrl>,
    schedule: &'a Schedule,
    recurrence: Option<&'a Recurrence>,
    overrides: &'a [InstanceOverride],
    organizer: &'a Mailbox,
    status: EventStatus,
}

#[derive(Deserialize)]
#[serde(rename = "Event")]
struct EventIn {
    code: EventCode,
    summary: Text,
    description: Option<Text>,
    location: Option<Text>,
    url: Option<WebUrl>,
    schedule: Schedule,
    recurrence: Option<Recurrence>,
    overrides: Vec<InstanceOverride>,
    organizer: Mailbox,
    status: EventStatus,
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        EventOut {
            code: self.code(),
            summary: self.summary(),
            description: self.description(),
            location: self.location(),
            url: self.url(),
            schedule: self.schedule(),
            recurrence: self.recurrence(),
            overrides: self.overrides(),
            organizer: self.organizer(),
            status: self.status(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let e = EventIn::deserialize(deserializer)?;
        let organizer_name = e.organizer.name().map(Name::as_str);
        let mut builder = Event::builder(e.code)
            .summary(e.summary)
            .schedule(e.schedule)
            .organizer(e.organizer.address().clone(), organizer_name)
            .status(e.status);
        if let Some(description) = e.description {
            builder = builder.description(description);
        }
        if let Some(location) = e.location {
            builder = builder.location(location);
        }
        if let Some(url) = e.url {
            builder = builder.url(url.as_str());
        }
        if let Some(recurrence) = e.recurrence {
            builder = builder.recurrence(recurrence);
        }
        for instance in e.overrides {
            builder = builder.override_instance(instance);
        }
        builder.build().map_err(|e| invalid("event", e))
    }
}

// ---------------------------------------------------------------------------
// The queue
// ---------------------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename = "IdempotencyKey")]
struct KeyOut<'a> {
    token: &'a InvitationToken,
    sequence: Sequence,
    method: Method,
    copy: u32,
}

#[derive(Deserialize)]
#[serde(rename = "IdempotencyKey")]
struct KeyIn {
    token: InvitationToken,
    sequence: Sequence,
    method: Method,
    copy: u32,
}

impl Serialize for IdempotencyKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        KeyOut {
            token: self.token(),
            sequence: self.sequence(),
            method: self.method(),
            copy: self.copy(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for IdempotencyKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let k = KeyIn::deserialize(deserializer)?;
        Ok(IdempotencyKey::new(k.token, k.sequence, k.method, k.copy))
    }
}
