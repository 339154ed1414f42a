//! An event described in a file (TOML or JSON), turned into calinvite's model.
//!
//! ```toml
//! [event]
//! summary = "Weekly stand-up"
//! start = "2026-12-07T09:30:00"        # local time in `time_zone`
//! end = "2026-12-07T09:45:00"
//! time_zone = "W. Europe Standard Time" # IANA or Windows name
//! organizer = { address = "lea@example.com", name = "Lea Vogel" }
//!
//! [event.recurrence]
//! rule = "FREQ=WEEKLY;BYDAY=MO;COUNT=10"
//! exceptions = ["2026-12-28T09:30:00"]
//!
//! [[event.overrides]]
//! occurrence = "2026-12-14T09:30:00"
//! start = "2026-12-14T11:00:00"
//! end = "2026-12-14T11:15:00"
//! location = "Room 4"
//!
//! [sender]
//! address = "rsvp@events.example.com"
//!
//! [recipient]
//! address = "jorg@example.org"
//! name = "Jörg Ødegård"
//! ```
//!
//! All-day events give dates (`start = "2026-12-24"`, `end = "2026-12-26"`,
//! both days included). `time_zone = "UTC"` writes UTC times.

use std::path::Path;

use calinvite_core::{
    ComposeOptions, EmailAddress, Event, EventCode, EventStatus, IdSource, InstanceOverride,
    LanguageTag, OccurrenceId, Recipient, Recurrence, RecurrenceRule, Schedule, SenderIdentity,
    TimeZone, WebUrl, ZonedDateTime,
};
use chrono::{NaiveDate, NaiveDateTime};
use serde::Deserialize;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The event.
    pub event: EventSpec,
    /// Who sends (calinvite's mailbox; replies come back to it).
    pub sender: MailboxSpec,
    /// Who receives.
    pub recipient: Option<RecipientSpec>,
    /// Message options.
    #[serde(default)]
    pub options: OptionsSpec,
}

/// An address and an optional name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxSpec {
    /// Address.
    pub address: String,
    /// Display name.
    pub name: Option<String>,
}

/// A recipient.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientSpec {
    /// Address.
    pub address: String,
    /// Display name.
    pub name: Option<String>,
    /// Preferred language (BCP 47).
    pub language: Option<String>,
}

/// Message options.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionsSpec {
    /// Base URL of the web answer pages.
    pub links_base: Option<String>,
    /// Add one-click unsubscribe headers.
    #[serde(default)]
    pub list_unsubscribe: bool,
    /// PRODID.
    pub product_id: Option<String>,
}

/// The event.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    /// Event code; drawn from the id source when absent.
    pub code: Option<String>,
    /// Title.
    pub summary: String,
    /// Description.
    pub description: Option<String>,
    /// Place.
    pub location: Option<String>,
    /// Web page.
    pub url: Option<String>,
    /// Start: local date-time, or a date for all-day events.
    pub start: String,
    /// End: local date-time, or the last date of an all-day event.
    pub end: String,
    /// Zone of start and end (IANA or Windows); required for timed events.
    pub time_zone: Option<String>,
    /// `confirmed` (default), `tentative` or `cancelled`.
    pub status: Option<String>,
    /// The organizer.
    pub organizer: MailboxSpec,
    /// Repetition.
    pub recurrence: Option<RecurrenceSpec>,
    /// Occurrences that differ.
    #[serde(default)]
    pub overrides: Vec<OverrideSpec>,
}

/// Repetition.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecurrenceSpec {
    /// RRULE value.
    pub rule: Option<String>,
    /// Extra occurrences (local times in the event's zone, or dates).
    #[serde(default)]
    pub dates: Vec<String>,
    /// Cancelled occurrences.
    #[serde(default)]
    pub exceptions: Vec<String>,
}

/// One occurrence that differs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideSpec {
    /// Which occurrence (its original start).
    pub occurrence: String,
    /// New start.
    pub start: String,
    /// New end.
    pub end: String,
    /// New title.
    pub summary: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New place.
    pub location: Option<String>,
    /// New status.
    pub status: Option<String>,
}

/// Why a spec could not be used.
pub type SpecError = Box<dyn std::error::Error + Send + Sync>;

impl Spec {
    /// Reads a `.toml` or `.json` file.
    pub fn read(path: &Path) -> Result<Self, SpecError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(
            &text,
            path.extension().and_then(|e| e.to_str()) == Some("json"),
        )
        .map_err(|e| format!("{}: {e}", path.display()).into())
    }

    /// Parses TOML (or JSON when `json`).
    pub fn parse(text: &str, json: bool) -> Result<Self, SpecError> {
        Ok(if json {
            serde_json::from_str(text)?
        } else {
            toml::from_str(text)?
        })
    }

    /// The event, checked; its code is the file's, else drawn from `ids`.
    pub fn event(&self, ids: &mut dyn IdSource) -> Result<Event, SpecError> {
        let code = match &self.event.code {
            Some(c) => EventCode::parse(c)?,
            None => EventCode::generate(ids),
        };
        self.event_with_code(code)
    }

    /// The event, checked, known by `code` (a later revision keeps the first one's code).
    pub fn event_with_code(&self, code: EventCode) -> Result<Event, SpecError> {
        let e = &self.event;
        let zone = e.time_zone.as_deref().map(TimeZone::parse).transpose()?;
        let schedule = schedule_of(&e.start, &e.end, zone)?;
        let mut b = Event::builder(code)
            .summary(e.summary.as_str())
            .schedule(schedule)
            .organizer(
                EmailAddress::parse(&e.organizer.address)?,
                e.organizer.name.as_deref(),
            );
        if let Some(d) = &e.description {
            b = b.description(d.as_str());
        }
        if let Some(l) = &e.location {
            b = b.location(l.as_str());
        }
        if let Some(u) = &e.url {
            b = b.url(u.as_str());
        }
        if let Some(s) = &e.status {
            b = b.status(status(s)?);
        }
        if let Some(r) = &e.recurrence {
            let mut rec = match &r.rule {
                Some(rule) => Recurrence::rule(RecurrenceRule::parse(rule)?),
                None => Recurrence::default(),
            };
            rec = rec
                .with_dates(
                    r.dates
                        .iter()
                        .map(|d| occurrence(d, zone))
                        .collect::<Result<Vec<_>, _>>()?,
                )
                .with_exceptions(
                    r.exceptions
                        .iter()
                        .map(|d| occurrence(d, zone))
                        .collect::<Result<Vec<_>, _>>()?,
                );
            b = b.recurrence(rec);
        }
        for o in &e.overrides {
            let mut inst = InstanceOverride::new(
                occurrence(&o.occurrence, zone)?,
                schedule_of(&o.start, &o.end, zone)?,
            );
            if let Some(s) = &o.summary {
                inst = inst.summary(s.as_str());
            }
            if let Some(d) = &o.description {
                inst = inst.description(d.as_str());
            }
            if let Some(l) = &o.location {
                inst = inst.location(l.as_str());
            }
            if let Some(s) = &o.status {
                inst = inst.status(status(s)?);
            }
            b = b.override_instance(inst);
        }
        Ok(b.build()?)
    }

    /// The sender identity.
    pub fn sender(&self) -> Result<SenderIdentity, SpecError> {
        Ok(SenderIdentity::new(
            EmailAddress::parse(&self.sender.address)?,
            self.sender.name.as_deref(),
        ))
    }

    /// The recipient, if the file names one.
    pub fn recipient(&self) -> Result<Option<Recipient>, SpecError> {
        let Some(r) = &self.recipient else {
            return Ok(None);
        };
        let mut out = Recipient::new(EmailAddress::parse(&r.address)?);
        if let Some(n) = &r.name {
            out = out.with_name(n);
        }
        if let Some(l) = &r.language {
            out = out.with_language(LanguageTag::parse(l)?);
        }
        Ok(Some(out))
    }

    /// Compose options.
    pub fn options(&self) -> Result<ComposeOptions, SpecError> {
        let o = &self.options;
        let mut out = ComposeOptions::new().list_unsubscribe(o.list_unsubscribe);
        if let Some(b) = &o.links_base {
            out = out.links_base(WebUrl::parse(b)?);
        }
        if let Some(p) = &o.product_id {
            out = out.product_id(p.as_str());
        }
        Ok(out)
    }
}

fn status(s: &str) -> Result<EventStatus, SpecError> {
    match s.to_ascii_lowercase().as_str() {
        "confirmed" => Ok(EventStatus::Confirmed),
        "tentative" => Ok(EventStatus::Tentative),
        "cancelled" | "canceled" => Ok(EventStatus::Cancelled),
        other => Err(format!("unknown status {other:?} (confirmed, tentative, cancelled)").into()),
    }
}

fn date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

fn local(s: &str) -> Result<NaiveDateTime, SpecError> {
    let s = s.trim();
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
        .map_err(|_| {
            format!("{s:?} is neither a date (2026-12-03) nor a local date-time (2026-12-03T18:00)")
                .into()
        })
}

fn schedule_of(start: &str, end: &str, zone: Option<TimeZone>) -> Result<Schedule, SpecError> {
    if let (Some(a), Some(b)) = (date(start), date(end)) {
        return Ok(Schedule::all_day(a, b)?);
    }
    let zone =
        zone.ok_or("a timed event needs time_zone (for example \"Europe/Madrid\" or \"UTC\")")?;
    Ok(Schedule::timed(
        ZonedDateTime::new(local(start)?, zone)?,
        ZonedDateTime::new(local(end)?, zone)?,
    )?)
}

/// An occurrence: a date (`2026-12-14`), or a local date-time (`2026-12-14T09:30`) in `zone`.
pub fn occurrence(s: &str, zone: Option<TimeZone>) -> Result<OccurrenceId, SpecError> {
    if let Some(d) = date(s) {
        return Ok(OccurrenceId::On(d));
    }
    let zone = zone.ok_or("occurrences of a timed event need the event's time_zone")?;
    Ok(OccurrenceId::at(&ZonedDateTime::new(local(s)?, zone)?))
}
