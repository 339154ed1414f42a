//! A page's events as it shows them, read from the store at render time
//! (an update or a cancellation that arrived by mail shows at once;
//! cancelled and past events drop off), with their times in their own
//! zones, and grouped by week or category.

use std::collections::HashMap;

use calinvite_core::lifecycle::{Store as _, StoredEvent};
use calinvite_core::{EventCode, EventStatus, Schedule};
use chrono::{DateTime, Datelike as _, NaiveDate, NaiveDateTime, TimeZone as _, Utc};

use super::db::{LandingDb, PageRecord};
use super::model::{Display, GroupBy};
use super::strings::Strings;
use crate::problem::ApiResult;
use crate::state::AppState;

/// The most events a page shows.
pub(crate) const MAX_SHOWN: usize = 1_000;

/// Up to this many chosen events are looked up one by one; more, by
/// reading the organizer's events.
const FEW: usize = 20;

/// One event as a page shows it.
#[derive(Clone, Debug)]
pub(crate) struct Shown {
    pub(crate) code: String,
    pub(crate) summary: String,
    pub(crate) description: Option<String>,
    pub(crate) location: Option<String>,
    pub(crate) status: EventStatus,
    /// When it starts, for ordering.
    pub(crate) starts: DateTime<Utc>,
    pub(crate) schedule: Schedule,
    pub(crate) display: Display,
}

/// A group of events (a week, a category, or all).
#[derive(Clone, Debug)]
pub(crate) struct Group {
    /// Its id in URLs and `data-group` (`all`, `w2026-37`, `c-giants`).
    pub(crate) id: String,
    pub(crate) legend: String,
    pub(crate) events: Vec<Shown>,
}

fn instants(s: &Schedule) -> (DateTime<Utc>, DateTime<Utc>) {
    match s {
        Schedule::Timed { start, end } => (start.instant(), end.instant()),
        Schedule::AllDay { start, end } => (
            start.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
            end.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
        ),
        _ => (DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MAX_UTC),
    }
}

/// Whether an event is still to come (or going on) at `now`; all-day
/// events last until their last day ends anywhere (UTC−12).
fn upcoming(s: &Schedule, now: DateTime<Utc>) -> bool {
    match s {
        Schedule::Timed { end, .. } => end.instant() > now,
        Schedule::AllDay { end, .. } => {
            end.and_hms_opt(12, 0, 0).unwrap_or_default().and_utc() > now
        }
        // A schedule this build does not know is not shown.
        _ => false,
    }
}

fn shown(
    e: &StoredEvent,
    displays: &HashMap<String, Display>,
    now: DateTime<Utc>,
) -> Option<Shown> {
    let ev = e.latest();
    if e.cancelled() || ev.status() == EventStatus::Cancelled || !upcoming(ev.schedule(), now) {
        return None;
    }
    Some(Shown {
        code: e.code().to_string(),
        summary: ev.summary().as_str().to_owned(),
        description: ev.description().map(|t| t.as_str().to_owned()),
        location: ev.location().map(|t| t.as_str().to_owned()),
        status: ev.status(),
        starts: instants(ev.schedule()).0,
        schedule: *ev.schedule(),
        display: displays.get(e.code().as_str()).cloned().unwrap_or_default(),
    })
}

/// The page's events to come, in start order, with their display extras.
pub(crate) async fn gather(state: &AppState, page: &PageRecord) -> ApiResult<Vec<Shown>> {
    let store = state.pipeline().store();
    let now = state.now();
    let displays = LandingDb(state.db()).displays(page.scope.owner).await?;
    let mut out = Vec::new();
    match &page.settings.events {
        // A few chosen events: each looked up.
        Some(codes) if codes.len() <= FEW => {
            for code in codes {
                let Ok(code) = EventCode::parse(code) else {
                    continue;
                };
                let found = store
                    .event(page.scope.owner, &code)
                    .await
                    .map_err(calinvite_core::lifecycle::PipelineError::from)?;
                if let Some(e) = found.filter(|e| e.scope() == page.scope)
                    && let Some(s) = shown(&e, &displays, now)
                {
                    out.push(s);
                }
            }
        }
        // Every upcoming event, or many chosen ones: the organizer's
        // events read in pages.
        chosen => {
            let wanted: Option<std::collections::HashSet<&str>> = chosen
                .as_ref()
                .map(|c| c.iter().map(String::as_str).collect());
            let mut after: Option<EventCode> = None;
            loop {
                let batch = store
                    .events(page.scope, after.as_ref(), 500)
                    .await
                    .map_err(calinvite_core::lifecycle::PipelineError::from)?;
                out.extend(
                    batch
                        .iter()
                        .filter(|e| {
                            wanted
                                .as_ref()
                                .is_none_or(|w| w.contains(e.code().as_str()))
                        })
                        .filter_map(|e| shown(e, &displays, now)),
                );
                if batch.len() < 500 || out.len() >= MAX_SHOWN * 4 {
                    break;
                }
                after = batch.last().map(|e| e.code().clone());
            }
        }
    }
    out.sort_by(|a, b| a.starts.cmp(&b.starts).then_with(|| a.code.cmp(&b.code)));
    out.truncate(MAX_SHOWN);
    Ok(out)
}

/// The page's events in groups, as the page says.
pub(crate) fn group(events: Vec<Shown>, by: GroupBy, words: &Strings) -> Vec<Group> {
    match by {
        GroupBy::None => vec![Group {
            id: "all".to_owned(),
            legend: words.all_events.to_owned(),
            events,
        }],
        GroupBy::Week => {
            let mut groups: Vec<Group> = Vec::new();
            for e in events {
                let day = local_start(&e.schedule).date();
                let monday =
                    day - chrono::TimeDelta::days(i64::from(day.weekday().num_days_from_monday()));
                let week = monday.iso_week();
                let id = format!("w{}-{:02}", week.year(), week.week());
                match groups.last_mut() {
                    Some(g) if g.id == id => g.events.push(e),
                    _ => groups.push(Group {
                        legend: format!("{} {}", words.week_of, date(monday, words)),
                        id,
                        events: vec![e],
                    }),
                }
            }
            groups
        }
        GroupBy::Category => {
            let mut groups: Vec<Group> = Vec::new();
            let mut other = Vec::new();
            for e in events {
                let Some(cat) = e.display.category.clone() else {
                    other.push(e);
                    continue;
                };
                let id = format!("c-{}", slug(&cat));
                match groups.iter_mut().find(|g| g.id == id) {
                    Some(g) => g.events.push(e),
                    None => groups.push(Group {
                        id,
                        legend: cat,
                        events: vec![e],
                    }),
                }
            }
            groups.sort_by_key(|g| g.legend.to_lowercase());
            if !other.is_empty() {
                groups.push(Group {
                    id: "other".to_owned(),
                    legend: words.other.to_owned(),
                    events: other,
                });
            }
            groups
        }
    }
}

/// A group id part from a category: lowercase ASCII letters and digits,
/// other runs as one `-`, with a short hash when anything but spaces and
/// dashes was dropped (so that two categories share an id only when they
/// differ in case, and then share the group).
pub(crate) fn slug(text: &str) -> String {
    let mut out = String::new();
    let mut lossy = false;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else {
            if !(c == ' ' || c == '-') {
                lossy = true;
            }
            if !out.ends_with('-') {
                out.push('-');
            }
        }
    }
    let trimmed = out.trim_matches('-');
    lossy |= trimmed.len() > 40;
    let mut out = trimmed.chars().take(40).collect::<String>();
    if lossy || out.is_empty() {
        use sha2::Digest as _;
        let h = sha2::Sha256::digest(text.to_lowercase().as_bytes());
        out.push_str(&format!("-{:02x}{:02x}{:02x}", h[0], h[1], h[2]));
    }
    out.trim_start_matches('-').to_owned()
}

fn local_start(s: &Schedule) -> NaiveDateTime {
    match s {
        Schedule::Timed { start, .. } => start.local(),
        Schedule::AllDay { start, .. } => start.and_hms_opt(0, 0, 0).unwrap_or_default(),
        _ => NaiveDateTime::default(),
    }
}

/// `Sun 13 Sep 2026` in the page's words.
pub(crate) fn date(d: NaiveDate, words: &Strings) -> String {
    let wd = words.weekdays[d.weekday().num_days_from_monday() as usize];
    let month = words.months[d.month0() as usize];
    format!("{wd} {} {month} {}", d.day(), d.year())
}

/// When an event is, for people: `Sun 13 Sep 2026, 13:00 EDT
/// (America/New_York)` and its end (`until 16:00`, or a date and time on
/// another day); all-day events as dates.
pub(crate) fn when(s: &Schedule, words: &Strings) -> (String, Option<String>) {
    match s {
        Schedule::Timed { start, end } => {
            let tz = start.zone().as_tz();
            let abbr = tz
                .from_utc_datetime(&start.instant().naive_utc())
                .format("%Z")
                .to_string();
            let l = start.local();
            let first = format!(
                "{}, {} {abbr} ({})",
                date(l.date(), words),
                l.format("%H:%M"),
                start.zone().name()
            );
            let e = end.local();
            let until = if end.instant() == start.instant() {
                None
            } else if e.date() == l.date() && end.zone() == start.zone() {
                Some(format!("{} {}", words.until, e.format("%H:%M")))
            } else {
                let etz = end.zone().as_tz();
                let eabbr = etz
                    .from_utc_datetime(&end.instant().naive_utc())
                    .format("%Z")
                    .to_string();
                Some(format!(
                    "{} {}, {} {eabbr}",
                    words.until,
                    date(e.date(), words),
                    e.format("%H:%M")
                ))
            };
            (first, until)
        }
        Schedule::AllDay { start, end } => {
            let last = end.pred_opt().unwrap_or(*end);
            let until = (last != *start).then(|| format!("{} {}", words.until, date(last, words)));
            (date(*start, words), until)
        }
        _ => (String::new(), None),
    }
}

/// The start and end as schema.org wants them: a date for all-day
/// events, else a date and time with the zone's offset.
pub(crate) fn iso(s: &Schedule) -> (String, String) {
    match s {
        Schedule::Timed { start, end } => {
            let f = |z: &calinvite_core::ZonedDateTime| {
                z.instant()
                    .with_timezone(&z.zone().as_tz())
                    .format("%Y-%m-%dT%H:%M:%S%:z")
                    .to_string()
            };
            (f(start), f(end))
        }
        Schedule::AllDay { start, end } => {
            let last = end.pred_opt().unwrap_or(*end);
            (start.to_string(), last.to_string())
        }
        _ => (String::new(), String::new()),
    }
}
