//! The event model: what an organizer scheduled, as calinvite stores and sends it.

use std::fmt;

use chrono::{DateTime, NaiveTime, Utc};

use crate::address::{EmailAddress, Mailbox};
use crate::error::EventError;
use crate::ids::EventCode;
use crate::keyword::{Keyword, keywords};
use crate::recurrence::{RecurrenceRule, Until};
use crate::text::{Name, Text};
use crate::time::{OccurrenceId, Schedule, TimeZone, ZonedDateTime};

/// Most overridden instances, extra dates or exceptions one event may carry:
/// a message with more is not one any calendar client handles well.
pub const MAX_INSTANCES: usize = 1_000;

/// The status of an event (iCalendar STATUS).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
#[allow(
    clippy::exhaustive_enums,
    reason = "the three VEVENT STATUS values of RFC 5545"
)]
pub enum EventStatus {
    /// Going ahead.
    #[default]
    Confirmed,
    /// Not yet certain.
    Tentative,
    /// Called off.
    Cancelled,
}

keywords!(EventStatus {
    Confirmed => "confirmed",
    Tentative => "tentative",
    Cancelled => "cancelled",
});

impl EventStatus {
    /// The iCalendar keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Confirmed => "CONFIRMED",
            EventStatus::Tentative => "TENTATIVE",
            EventStatus::Cancelled => "CANCELLED",
        }
    }
}

/// A recipient's answer (iCalendar PARTSTAT).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum ParticipationStatus {
    /// Not answered yet.
    NeedsAction,
    /// Yes.
    Accepted,
    /// No.
    Declined,
    /// Maybe.
    Tentative,
    /// Passed on to someone else.
    Delegated,
}

keywords!(ParticipationStatus {
    NeedsAction => "needs-action",
    Accepted => "accepted",
    Declined => "declined",
    Tentative => "tentative",
    Delegated => "delegated",
});

impl ParticipationStatus {
    /// The iCalendar keyword (upper case; its [`Keyword`] is the same word
    /// in lower case).
    pub fn as_str(self) -> &'static str {
        match self {
            ParticipationStatus::NeedsAction => "NEEDS-ACTION",
            ParticipationStatus::Accepted => "ACCEPTED",
            ParticipationStatus::Declined => "DECLINED",
            ParticipationStatus::Tentative => "TENTATIVE",
            ParticipationStatus::Delegated => "DELEGATED",
        }
    }

    /// Parses a PARTSTAT keyword, case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        <Self as Keyword>::ALL
            .iter()
            .copied()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
    }
}

/// An absolute http or https URL, ASCII, without spaces or control characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WebUrl(String);

impl WebUrl {
    /// Longest URL accepted: short enough that every header carrying one
    /// (List-Unsubscribe) stays far below RFC 5322's 998-octet line limit.
    pub const MAX_LEN: usize = 900;

    /// Checks and keeps a URL.
    pub fn parse(input: &str) -> Result<Self, EventError> {
        let s = input.trim();
        let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
        let scheme_ok = lower.starts_with("https://") || lower.starts_with("http://");
        let host_ok = s.split_once("://").is_some_and(|(_, rest)| {
            rest.split(['/', '?', '#'])
                .next()
                .is_some_and(|h| !h.is_empty())
        });
        let chars_ok = s
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'<' | b'>' | b'\\'));
        if scheme_ok && host_ok && chars_ok && s.len() <= Self::MAX_LEN {
            Ok(WebUrl(s.to_string()))
        } else {
            Err(EventError::Url(input.chars().take(80).collect()))
        }
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// This URL with `segment` appended as a path segment (a `/` in between).
    pub(crate) fn join(&self, segment: &str) -> String {
        let base = self.0.trim_end_matches('/');
        format!("{base}/{segment}")
    }
}

impl fmt::Display for WebUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A BCP 47 language tag such as `en`, `pt-BR` or `zh-Hant-TW`, checked for form.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LanguageTag(String);

impl LanguageTag {
    /// Checks a tag's form (alphanumeric subtags of 1–8 characters, the first alphabetic).
    pub fn parse(input: &str) -> Result<Self, EventError> {
        let s = input.trim().replace('_', "-");
        let mut parts = s.split('-');
        let first_ok = parts.next().is_some_and(|p| {
            (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic())
        });
        let rest_ok = parts
            .all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
        if first_ok && rest_ok && s.len() <= 35 {
            Ok(LanguageTag(s))
        } else {
            Err(EventError::Language(input.chars().take(40).collect()))
        }
    }

    /// The tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The primary language subtag, lower case (`pt` for `pt-BR`).
    pub fn primary(&self) -> String {
        self.0
            .split('-')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase()
    }
}

/// One occurrence of a recurring event that differs from the rule: another
/// time, title, place or status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceOverride {
    id: OccurrenceId,
    schedule: Schedule,
    summary: Option<Text>,
    description: Option<Text>,
    location: Option<Text>,
    status: EventStatus,
}

impl InstanceOverride {
    /// The occurrence `id` moved to (or kept at) `schedule`. Summary, description
    /// and location are the event's unless set here.
    pub fn new(id: OccurrenceId, schedule: Schedule) -> Self {
        InstanceOverride {
            id,
            schedule,
            summary: None,
            description: None,
            location: None,
            status: EventStatus::Confirmed,
        }
    }

    /// Another title for this occurrence.
    #[must_use]
    pub fn summary(mut self, summary: impl Into<Text>) -> Self {
        self.summary = Some(summary.into()).filter(|t| !t.is_empty());
        self
    }

    /// Another description for this occurrence.
    #[must_use]
    pub fn description(mut self, description: impl Into<Text>) -> Self {
        self.description = Some(description.into()).filter(|t| !t.is_empty());
        self
    }

    /// Another place for this occurrence.
    #[must_use]
    pub fn location(mut self, location: impl Into<Text>) -> Self {
        self.location = Some(location.into()).filter(|t| !t.is_empty());
        self
    }

    /// Another status for this occurrence.
    #[must_use]
    pub fn status(mut self, status: EventStatus) -> Self {
        self.status = status;
        self
    }

    /// Which occurrence this is.
    pub fn id(&self) -> OccurrenceId {
        self.id
    }

    /// When this occurrence now happens.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Its title (the event's, once the event is built, unless overridden).
    pub fn summary_text(&self) -> Option<&Text> {
        self.summary.as_ref()
    }

    /// Its description.
    pub fn description_text(&self) -> Option<&Text> {
        self.description.as_ref()
    }

    /// Its place.
    pub fn location_text(&self) -> Option<&Text> {
        self.location.as_ref()
    }

    /// Its status.
    pub fn status_value(&self) -> EventStatus {
        self.status
    }
}

/// How an event repeats: a rule, extra dates, exceptions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recurrence {
    rule: Option<RecurrenceRule>,
    rdates: Vec<OccurrenceId>,
    exdates: Vec<OccurrenceId>,
}

impl Recurrence {
    /// Repeats by `rule`.
    pub fn rule(rule: RecurrenceRule) -> Self {
        Recurrence {
            rule: Some(rule),
            ..Recurrence::default()
        }
    }

    /// Adds extra occurrences (RDATE).
    #[must_use]
    pub fn with_dates(mut self, dates: impl IntoIterator<Item = OccurrenceId>) -> Self {
        self.rdates.extend(dates);
        self
    }

    /// Adds exceptions (EXDATE): occurrences that do not happen.
    #[must_use]
    pub fn with_exceptions(mut self, dates: impl IntoIterator<Item = OccurrenceId>) -> Self {
        self.exdates.extend(dates);
        self
    }

    /// The rule, if any.
    pub fn recurrence_rule(&self) -> Option<&RecurrenceRule> {
        self.rule.as_ref()
    }

    /// Extra occurrences, sorted.
    pub fn dates(&self) -> &[OccurrenceId] {
        &self.rdates
    }

    /// Exceptions, sorted.
    pub fn exceptions(&self) -> &[OccurrenceId] {
        &self.exdates
    }

    fn is_empty(&self) -> bool {
        self.rule.is_none() && self.rdates.is_empty()
    }
}

/// An event as calinvite knows it.
///
/// Built with [`Event::builder`]; every field is checked and normalised there,
/// so an `Event` is always one that can be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
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

impl Event {
    /// Starts building the event known by `code`.
    pub fn builder(code: EventCode) -> EventBuilder {
        EventBuilder {
            code,
            summary: None,
            description: None,
            location: None,
            url: None,
            schedule: None,
            recurrence: None,
            overrides: Vec::new(),
            organizer: None,
            status: EventStatus::Confirmed,
        }
    }

    /// The event code.
    pub fn code(&self) -> &EventCode {
        &self.code
    }
    /// Title.
    pub fn summary(&self) -> &Text {
        &self.summary
    }
    /// Description, if any.
    pub fn description(&self) -> Option<&Text> {
        self.description.as_ref()
    }
    /// Place, if any.
    pub fn location(&self) -> Option<&Text> {
        self.location.as_ref()
    }
    /// Web page of the event, if any.
    pub fn url(&self) -> Option<&WebUrl> {
        self.url.as_ref()
    }
    /// When it happens (the first occurrence, for recurring events).
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }
    /// How it repeats, if it does.
    pub fn recurrence(&self) -> Option<&Recurrence> {
        self.recurrence.as_ref()
    }
    /// Occurrences that differ from the rule, sorted by occurrence.
    pub fn overrides(&self) -> &[InstanceOverride] {
        &self.overrides
    }
    /// The organizer (whose name recipients see; the address replies go to is
    /// calinvite's own, see [`SenderIdentity`]).
    pub fn organizer(&self) -> &Mailbox {
        &self.organizer
    }
    /// Status.
    pub fn status(&self) -> EventStatus {
        self.status
    }
    /// Whether it repeats.
    pub fn is_recurring(&self) -> bool {
        self.recurrence.is_some()
    }

    /// Every zone the event's times are written in, each once, in first-use order.
    pub fn zones(&self) -> Vec<TimeZone> {
        let mut zones: Vec<TimeZone> = Vec::new();
        let mut add = |s: &Schedule| {
            if let Schedule::Timed { start, end } = s {
                for z in [start.zone(), end.zone()] {
                    if !z.is_utc() && !zones.contains(&z) {
                        zones.push(z);
                    }
                }
            }
        };
        add(&self.schedule);
        for o in &self.overrides {
            add(&o.schedule);
        }
        zones
    }

    /// A builder holding everything this event has: the way to derive a
    /// changed revision (a cancelled instance, a new status).
    pub fn to_builder(&self) -> EventBuilder {
        EventBuilder {
            code: self.code.clone(),
            summary: Some(self.summary.clone()),
            description: self.description.clone(),
            location: self.location.clone(),
            url: self.url.as_ref().map(|u| u.as_str().to_owned()),
            schedule: Some(self.schedule),
            recurrence: self.recurrence.clone(),
            overrides: self.overrides.clone(),
            organizer: Some(self.organizer.clone()),
            status: self.status,
        }
    }

    /// When the event is over: the end of its last occurrence, or `None` when
    /// it repeats without end. A rule bounded by COUNT is estimated generously
    /// (never earlier than the real end for rules that yield an occurrence in
    /// every period; twice that for rules with BY parts, which may skip
    /// periods), since closing an event early loses answers.
    pub fn ends_at(&self) -> Option<DateTime<Utc>> {
        if let Some(rule) = self.recurrence.as_ref().and_then(|r| r.rule.as_ref())
            && rule.until().is_none()
            && rule.count().is_none()
        {
            return None;
        }
        let (lo, mut hi) = self.covered_span();
        if let Some(rule) = self.recurrence.as_ref().and_then(|r| r.rule.as_ref())
            && rule.until().is_none()
            && let Some(count) = rule.count()
        {
            let period = rule.frequency().approx_seconds() * i64::from(rule.interval());
            let factor = if rule.to_string().contains("BY") {
                2
            } else {
                1
            };
            let duration = self.schedule.duration_seconds();
            hi = hi.max(lo + factor * period * (i64::from(count) + 1) + duration);
        }
        DateTime::from_timestamp(hi, 0)
    }

    /// The span of time the event's dates cover, as UTC seconds: the first start,
    /// and the last end known (an unbounded rule reaches no further than its first
    /// few years here; VTIMEZONE rules carry on beyond that by themselves).
    pub(crate) fn covered_span(&self) -> (i64, i64) {
        let instant = |id: &OccurrenceId| match id {
            OccurrenceId::At(t) => t.timestamp(),
            OccurrenceId::On(d) => d.and_time(NaiveTime::MIN).and_utc().timestamp(),
        };
        let bounds = |s: &Schedule| match s {
            Schedule::Timed { start, end } => {
                (start.instant().timestamp(), end.instant().timestamp())
            }
            Schedule::AllDay { start, end } => (
                start.and_time(NaiveTime::MIN).and_utc().timestamp(),
                end.and_time(NaiveTime::MIN).and_utc().timestamp(),
            ),
        };
        let (mut lo, mut hi) = bounds(&self.schedule);
        let duration = hi - lo;
        for o in &self.overrides {
            let (a, b) = bounds(&o.schedule);
            lo = lo.min(a).min(instant(&o.id));
            hi = hi.max(b);
        }
        if let Some(r) = &self.recurrence {
            for id in r.rdates.iter().chain(&r.exdates) {
                lo = lo.min(instant(id));
                hi = hi.max(instant(id) + duration);
            }
            if let Some(rule) = &r.rule {
                let reach = match (rule.until(), rule.count()) {
                    (Some(Until::Instant(t)), _) => t.timestamp(),
                    (Some(Until::Date(d)), _) => d.and_time(NaiveTime::MIN).and_utc().timestamp(),
                    (Some(Until::Floating(t)), _) => t.and_utc().timestamp(),
                    (None, Some(count)) => {
                        lo + rule.frequency().approx_seconds()
                            * i64::from(rule.interval())
                            * i64::from(count)
                    }
                    (None, None) => lo + 5 * 366 * 86_400,
                };
                hi = hi.max(reach.min(lo + 100 * 366 * 86_400));
            }
        }
        (lo, hi)
    }
}

/// Builds an [`Event`], checking everything on [`build`](EventBuilder::build).
#[derive(Debug)]
#[must_use]
pub struct EventBuilder {
    code: EventCode,
    summary: Option<Text>,
    description: Option<Text>,
    location: Option<Text>,
    url: Option<String>,
    schedule: Option<Schedule>,
    recurrence: Option<Recurrence>,
    overrides: Vec<InstanceOverride>,
    organizer: Option<Mailbox>,
    status: EventStatus,
}

impl EventBuilder {
    /// Drops every overridden instance (to set them again).
    pub fn clear_overrides(mut self) -> Self {
        self.overrides.clear();
        self
    }

    /// Title (required).
    pub fn summary(mut self, summary: impl Into<Text>) -> Self {
        self.summary = Some(summary.into());
        self
    }
    /// Description.
    pub fn description(mut self, description: impl Into<Text>) -> Self {
        self.description = Some(description.into());
        self
    }
    /// Place.
    pub fn location(mut self, location: impl Into<Text>) -> Self {
        self.location = Some(location.into());
        self
    }
    /// Web page (http or https).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }
    /// When (required).
    pub fn schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = Some(schedule);
        self
    }
    /// How it repeats.
    pub fn recurrence(mut self, recurrence: Recurrence) -> Self {
        self.recurrence = Some(recurrence);
        self
    }
    /// An occurrence that differs from the rule.
    pub fn override_instance(mut self, instance: InstanceOverride) -> Self {
        self.overrides.push(instance);
        self
    }
    /// The organizer (required).
    pub fn organizer(mut self, address: EmailAddress, name: Option<&str>) -> Self {
        self.organizer = Some(match name {
            Some(n) => Mailbox::with_name(address, n),
            None => Mailbox::new(address),
        });
        self
    }
    /// Status (default confirmed).
    pub fn status(mut self, status: EventStatus) -> Self {
        self.status = status;
        self
    }
    /// Replaces the code (an [`EventDraft`](crate::EventDraft) gets its code last).
    pub(crate) fn code(mut self, code: EventCode) -> Self {
        self.code = code;
        self
    }
    /// Whether an organizer was given.
    pub(crate) fn has_organizer(&self) -> bool {
        self.organizer.is_some()
    }

    /// Checks and normalises everything.
    pub fn build(self) -> Result<Event, EventError> {
        let summary = self
            .summary
            .filter(|s| !s.is_empty())
            .ok_or(EventError::MissingSummary)?;
        let schedule = self.schedule.ok_or(EventError::MissingSchedule)?;
        let organizer = self.organizer.ok_or(EventError::MissingOrganizer)?;
        let url = self
            .url
            .filter(|u| !u.trim().is_empty())
            .map(|u| WebUrl::parse(&u))
            .transpose()?;
        let description = self.description.filter(|t| !t.is_empty());
        let location = self.location.filter(|t| !t.is_empty());

        let check_kind = |id: &OccurrenceId| -> Result<(), EventError> {
            match (id, schedule.is_all_day()) {
                (OccurrenceId::At(t), true) => Err(EventError::OccurrenceKind(
                    t.to_rfc3339(),
                    "date-time",
                    "all-day",
                )),
                (OccurrenceId::On(d), false) => {
                    Err(EventError::OccurrenceKind(d.to_string(), "date", "timed"))
                }
                _ => Ok(()),
            }
        };

        let recurrence = match self.recurrence.filter(|r| !r.is_empty()) {
            None => None,
            Some(mut r) => {
                for (what, list) in [("extra dates", &r.rdates), ("exceptions", &r.exdates)] {
                    if list.len() > MAX_INSTANCES {
                        return Err(EventError::TooMany {
                            what,
                            count: list.len(),
                            max: MAX_INSTANCES,
                        });
                    }
                    list.iter().try_for_each(check_kind)?;
                }
                for id in r.rdates.iter_mut().chain(r.exdates.iter_mut()) {
                    *id = id.whole_seconds();
                }
                r.rdates.sort();
                r.rdates.dedup();
                r.exdates.sort();
                r.exdates.dedup();
                if let Some(rule) = r.rule.as_mut() {
                    normalise_until(rule, &schedule);
                }
                Some(r)
            }
        };

        let mut overrides = self.overrides;
        if !overrides.is_empty() && recurrence.is_none() {
            return Err(EventError::OverrideWithoutRecurrence);
        }
        if overrides.len() > MAX_INSTANCES {
            return Err(EventError::TooMany {
                what: "overridden instances",
                count: overrides.len(),
                max: MAX_INSTANCES,
            });
        }
        for o in &mut overrides {
            o.id = o.id.whole_seconds();
        }
        overrides.sort_by_key(|o| o.id);
        for pair in overrides.windows(2) {
            if pair[0].id == pair[1].id {
                return Err(EventError::DuplicateOverride(format!("{:?}", pair[0].id)));
            }
        }
        for o in &mut overrides {
            check_kind(&o.id)?;
            if o.schedule.is_all_day() != schedule.is_all_day() {
                return Err(EventError::OccurrenceKind(
                    format!("{:?}", o.id),
                    if o.schedule.is_all_day() {
                        "date"
                    } else {
                        "date-time"
                    },
                    if schedule.is_all_day() {
                        "all-day"
                    } else {
                        "timed"
                    },
                ));
            }
            o.summary.get_or_insert_with(|| summary.clone());
            if o.description.is_none() {
                o.description.clone_from(&description);
            }
            if o.location.is_none() {
                o.location.clone_from(&location);
            }
        }

        Ok(Event {
            code: self.code,
            summary,
            description,
            location,
            url,
            schedule,
            recurrence,
            overrides,
            organizer,
            status: self.status,
        })
    }
}

/// UNTIL must have the type of DTSTART (RFC 5545 §3.3.10): a date for all-day
/// events, a UTC instant for timed ones. Clients send the other forms anyway.
fn normalise_until(rule: &mut RecurrenceRule, schedule: &Schedule) {
    let Some(until) = rule.until() else { return };
    let fixed = match (schedule, until) {
        (Schedule::AllDay { .. }, Until::Instant(t)) => Until::Date(t.date_naive()),
        (Schedule::AllDay { .. }, Until::Floating(t)) => Until::Date(t.date()),
        (Schedule::Timed { start, .. }, Until::Floating(t)) => Until::Instant(
            ZonedDateTime::new(t, start.zone())
                .map(|z| z.instant())
                .unwrap_or_else(|_| t.and_utc()),
        ),
        (Schedule::Timed { start, .. }, Until::Date(d)) => {
            // The whole of that day, in the event's zone.
            let end_of_day = d
                .and_hms_opt(23, 59, 59)
                .unwrap_or(d.and_time(NaiveTime::MIN));
            Until::Instant(
                ZonedDateTime::new(end_of_day, start.zone())
                    .map(|z| z.instant())
                    .unwrap_or_else(|_| end_of_day.and_utc()),
            )
        }
        (_, same) => same,
    };
    rule.set_until(fixed);
}

/// Someone an invitation is sent to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Recipient {
    address: EmailAddress,
    name: Option<Name>,
    language: Option<LanguageTag>,
}

impl Recipient {
    /// A recipient with just an address.
    pub fn new(address: EmailAddress) -> Self {
        Recipient {
            address,
            name: None,
            language: None,
        }
    }

    /// With a display name (dropped if it normalises to nothing).
    #[must_use]
    pub fn with_name(mut self, name: impl AsRef<str>) -> Self {
        self.name = Name::new(name);
        self
    }

    /// With a preferred language, for templates that speak more than one.
    #[must_use]
    pub fn with_language(mut self, language: LanguageTag) -> Self {
        self.language = Some(language);
        self
    }

    /// The address.
    pub fn address(&self) -> &EmailAddress {
        &self.address
    }
    /// The display name.
    pub fn name(&self) -> Option<&Name> {
        self.name.as_ref()
    }
    /// The preferred language.
    pub fn language(&self) -> Option<&LanguageTag> {
        self.language.as_ref()
    }
}

/// The mailbox calinvite sends from and receives replies at
/// ([D1](crate::manual::design#d1)): it is the ORGANIZER of every outgoing copy
/// and its `From`, so calendar clients reply to it. Stable per organizer or
/// domain, so that recipients' clients come to know it as a sender
/// ([interop rule 29](crate::manual::interop#rule-29)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderIdentity {
    mailbox: Mailbox,
}

impl SenderIdentity {
    /// Sends from `address`; `display_name` is shown when the event's organizer has no name.
    pub fn new(address: EmailAddress, display_name: Option<&str>) -> Self {
        SenderIdentity {
            mailbox: match display_name {
                Some(n) => Mailbox::with_name(address, n),
                None => Mailbox::new(address),
            },
        }
    }

    /// The mailbox.
    pub fn mailbox(&self) -> &Mailbox {
        &self.mailbox
    }

    /// The address.
    pub fn address(&self) -> &EmailAddress {
        self.mailbox.address()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SequentialIds;
    use chrono::{TimeDelta, TimeZone as _, Utc};

    #[test]
    fn occurrences_are_kept_to_the_second() {
        let t = Utc.with_ymd_and_hms(2026, 12, 3, 18, 0, 0).unwrap();
        let start = ZonedDateTime::utc(t);
        let schedule = Schedule::timed(start, start).unwrap();
        let later = t + TimeDelta::days(7);
        let builder = || {
            Event::builder(EventCode::generate(&SequentialIds::new(1)))
                .summary("Weekly")
                .schedule(schedule)
                .organizer(EmailAddress::parse("ana@example.com").unwrap(), None)
                .recurrence(
                    Recurrence::rule(RecurrenceRule::parse("FREQ=WEEKLY").unwrap())
                        .with_dates([OccurrenceId::At(later + TimeDelta::milliseconds(250))]),
                )
        };
        let event = builder().build().unwrap();
        assert_eq!(
            event.recurrence().unwrap().dates(),
            [OccurrenceId::At(later)]
        );
        // Written to the second, these two would be one RECURRENCE-ID twice.
        let twice = builder()
            .override_instance(InstanceOverride::new(OccurrenceId::At(later), schedule))
            .override_instance(InstanceOverride::new(
                OccurrenceId::At(later + TimeDelta::milliseconds(1)),
                schedule,
            ))
            .build();
        assert!(matches!(twice, Err(EventError::DuplicateOverride(_))));
    }
}
