//! Time zones and event times.
//!
//! A [`TimeZone`] is always an IANA zone: Windows names (`W. Europe Standard
//! Time`), Exchange's `(UTC+01:00) Amsterdam, Berlin…` labels and `/`-prefixed
//! registry names are resolved on parse ([D9](crate::manual::design#d9)), and
//! outgoing messages name the IANA zone with a VTIMEZONE generated from the tz
//! database.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone as _, Utc};

use crate::error::TimeError;

/// An IANA time zone.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeZone(chrono_tz::Tz);

impl TimeZone {
    /// UTC.
    pub const UTC: TimeZone = TimeZone(chrono_tz::Tz::UTC);

    /// Resolves an IANA or Windows time-zone name.
    ///
    /// ```
    /// use calinvite_core::TimeZone;
    /// assert_eq!(TimeZone::parse("W. Europe Standard Time").unwrap().name(), "Europe/Berlin");
    /// assert_eq!(TimeZone::parse("America/New_York").unwrap().name(), "America/New_York");
    /// assert!(TimeZone::parse("Mars/Olympus_Mons").is_err());
    /// ```
    pub fn parse(name: &str) -> Result<Self, TimeError> {
        let trimmed = name.trim();
        if let Ok(tz) = chrono_tz::Tz::from_str(trimmed) {
            return Ok(TimeZone(tz).canonical());
        }
        let resolved = match calcard::common::timezone::Tz::from_str(trimmed) {
            Ok(calcard::common::timezone::Tz::Tz(tz)) => Some(tz),
            _ => None,
        };
        // Windows display labels, "(UTC+01:00) Sarajevo, Skopje, Warsaw, Zagreb":
        // when the label is only known by its offset, a city it names keeps the
        // zone's daylight-saving rules, which a fixed Etc/GMT offset would lose.
        let is_label = trimmed.starts_with("(UTC") || trimmed.starts_with("(GMT");
        if is_label && resolved.is_none_or(|tz| tz.name().starts_with("Etc/")) {
            let cities = trimmed.split_once(')').map_or("", |(_, rest)| rest);
            if let Some(tz) = city_zone(cities) {
                return Ok(TimeZone(tz).canonical());
            }
        }
        resolved
            .map(|tz| TimeZone(tz).canonical())
            .ok_or_else(|| TimeError::UnknownTimeZone(name.chars().take(80).collect()))
    }

    /// Folds the many names of UTC into one, so that equal zones compare equal.
    fn canonical(self) -> Self {
        match self.0.name() {
            "UTC" | "Etc/UTC" | "Etc/UCT" | "UCT" | "Etc/Universal" | "Universal" | "Etc/Zulu"
            | "Zulu" | "Etc/GMT" | "GMT" | "Etc/GMT0" | "Etc/GMT+0" | "Etc/GMT-0" | "GMT0"
            | "GMT+0" | "GMT-0" | "Etc/Greenwich" | "Greenwich" => TimeZone::UTC,
            _ => self,
        }
    }

    /// The IANA name.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// Whether this is UTC (written with a `Z`, no TZID).
    pub fn is_utc(&self) -> bool {
        *self == TimeZone::UTC
    }

    /// The chrono-tz zone.
    pub fn as_tz(&self) -> chrono_tz::Tz {
        self.0
    }
}

impl fmt::Debug for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TimeZone({})", self.0.name())
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

/// The first IANA zone whose city a label names: `"Sarajevo, Skopje, Warsaw"`
/// gives `Europe/Sarajevo`. Words are compared with spaces as underscores,
/// case-insensitively.
pub(crate) fn city_zone(label: &str) -> Option<chrono_tz::Tz> {
    label
        .split([',', '/', ';', '(', ')'])
        .map(|w| w.trim().replace(' ', "_").to_ascii_lowercase())
        .filter(|w| w.len() >= 3)
        .find_map(|word| {
            chrono_tz::TZ_VARIANTS.iter().copied().find(|tz| {
                tz.name().contains('/')
                    && tz
                        .name()
                        .rsplit('/')
                        .next()
                        .is_some_and(|c| c.eq_ignore_ascii_case(&word))
            })
        })
}

/// A wall-clock date and time in a time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ZonedDateTime {
    local: NaiveDateTime,
    zone: TimeZone,
}

impl ZonedDateTime {
    /// A local time in `zone`. Sub-second precision is dropped (iCalendar has none).
    ///
    /// A local time that falls in a daylight-saving gap does not exist and is an
    /// error; one that occurs twice (the hour the clocks go back) means the first.
    pub fn new(local: NaiveDateTime, zone: TimeZone) -> Result<Self, TimeError> {
        let local = local.with_nanosecond_zero();
        if zone.0.from_local_datetime(&local).earliest().is_none() {
            return Err(TimeError::NonexistentLocalTime {
                local: local.format("%Y-%m-%d %H:%M:%S").to_string(),
                zone: zone.name(),
            });
        }
        Ok(ZonedDateTime { local, zone })
    }

    /// A UTC instant, kept in UTC.
    pub fn utc(instant: DateTime<Utc>) -> Self {
        ZonedDateTime {
            local: instant.naive_utc().with_nanosecond_zero(),
            zone: TimeZone::UTC,
        }
    }

    /// The same instant, shown in another zone.
    ///
    /// In the hour the clocks go back a wall-clock time occurs twice and means
    /// the first (RFC 5545 §3.3.5): an instant in the second is kept in UTC,
    /// so that [`instant`](Self::instant) is always the instant given.
    pub fn from_instant(instant: DateTime<Utc>, zone: TimeZone) -> Self {
        let shown = ZonedDateTime {
            local: instant
                .with_timezone(&zone.0)
                .naive_local()
                .with_nanosecond_zero(),
            zone,
        };
        if shown.instant().naive_utc() == instant.naive_utc().with_nanosecond_zero() {
            shown
        } else {
            ZonedDateTime::utc(instant)
        }
    }

    /// Wall-clock time.
    pub fn local(&self) -> NaiveDateTime {
        self.local
    }

    /// The zone.
    pub fn zone(&self) -> TimeZone {
        self.zone
    }

    /// The instant this wall-clock time denotes.
    pub fn instant(&self) -> DateTime<Utc> {
        self.zone
            .0
            .from_local_datetime(&self.local)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            // Unreachable for values built through `new`; fall back rather than panic.
            .unwrap_or_else(|| self.local.and_utc())
    }
}

trait DropNanos {
    fn with_nanosecond_zero(self) -> Self;
}

impl DropNanos for NaiveDateTime {
    fn with_nanosecond_zero(self) -> Self {
        use chrono::Timelike;
        self.with_nanosecond(0).unwrap_or(self)
    }
}

/// When an event happens: a timed span, or whole days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Schedule {
    /// From `start` to `end` (which may be in another zone, as Outlook allows).
    Timed {
        /// Start.
        start: ZonedDateTime,
        /// End, not before the start.
        end: ZonedDateTime,
    },
    /// Whole days from `start` up to, not including, `end` (iCalendar's DATE form).
    AllDay {
        /// First day.
        start: NaiveDate,
        /// The day after the last day.
        end: NaiveDate,
    },
}

impl Schedule {
    /// A timed span; `end` must not be before `start`.
    pub fn timed(start: ZonedDateTime, end: ZonedDateTime) -> Result<Self, TimeError> {
        if end.instant() < start.instant() {
            return Err(TimeError::EndBeforeStart);
        }
        Ok(Schedule::Timed { start, end })
    }

    /// Whole days from `first` to `last`, both included.
    pub fn all_day(first: NaiveDate, last: NaiveDate) -> Result<Self, TimeError> {
        if last < first {
            return Err(TimeError::EndBeforeStart);
        }
        let end = last.succ_opt().ok_or(TimeError::OutOfRange)?;
        Ok(Schedule::AllDay { start: first, end })
    }

    /// Whether the event takes whole days.
    pub fn is_all_day(&self) -> bool {
        matches!(self, Schedule::AllDay { .. })
    }

    /// The zone of the start (UTC for all-day events, which have none).
    pub fn start_zone(&self) -> Option<TimeZone> {
        match self {
            Schedule::Timed { start, .. } => Some(start.zone()),
            Schedule::AllDay { .. } => None,
        }
    }

    /// Length in seconds (whole days for all-day events).
    pub fn duration_seconds(&self) -> i64 {
        match self {
            Schedule::Timed { start, end } => (end.instant() - start.instant()).num_seconds(),
            Schedule::AllDay { start, end } => (*end - *start).num_seconds(),
        }
    }
}

/// Identifies one occurrence of a recurring event, by its original start
/// (iCalendar RECURRENCE-ID). Timed occurrences compare by instant, so a
/// RECURRENCE-ID given in UTC equals the same one given with a TZID
/// ([interop rule 21](crate::manual::interop#rule-21)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(
    clippy::exhaustive_enums,
    reason = "an RFC 5545 RECURRENCE-ID is a DATE-TIME or a DATE"
)]
pub enum OccurrenceId {
    /// A timed occurrence, by its original start instant.
    At(DateTime<Utc>),
    /// A whole-day occurrence, by its date.
    On(NaiveDate),
}

impl OccurrenceId {
    /// The occurrence starting at `start`.
    pub fn at(start: &ZonedDateTime) -> Self {
        OccurrenceId::At(start.instant())
    }

    /// The same occurrence to the second (iCalendar has no sub-second
    /// precision: two ids that differ below it are written the same).
    pub(crate) fn whole_seconds(self) -> Self {
        use chrono::SubsecRound as _;
        match self {
            OccurrenceId::At(t) => OccurrenceId::At(t.trunc_subsecs(0)),
            on => on,
        }
    }
}

/// Parses `YYYYMMDD`.
pub(crate) fn parse_ical_date(s: &str) -> Option<NaiveDate> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y%m%d").ok()
}

/// Parses `YYYYMMDDTHHMMSS`, with a flag for a trailing `Z`.
pub(crate) fn parse_ical_date_time(s: &str) -> Option<(NaiveDateTime, bool)> {
    let (body, utc) = match s.strip_suffix(['Z', 'z']) {
        Some(b) => (b, true),
        None => (s, false),
    };
    if body.len() != 15 || body.as_bytes()[8] != b'T' {
        return None;
    }
    NaiveDateTime::parse_from_str(body, "%Y%m%dT%H%M%S")
        .ok()
        .map(|t| (t, utc))
}

/// Year of a UTC timestamp (for VTIMEZONE ranges).
pub(crate) fn year_of(ts: i64) -> i32 {
    chrono::DateTime::from_timestamp(ts, 0).map_or(1970, |t| chrono::Datelike::year(&t))
}

/// First second of a year, UTC.
pub(crate) fn start_of_year(year: i32) -> i64 {
    NaiveDate::from_ymd_opt(year, 1, 1).map_or(0, |d| {
        d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp()
    })
}

/// `t` plus `seconds`, saturating at the calendar's ends.
pub(crate) fn end_of_span(
    t: chrono::DateTime<chrono::Utc>,
    seconds: i64,
) -> chrono::DateTime<chrono::Utc> {
    t.checked_add_signed(chrono::TimeDelta::seconds(seconds))
        .unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn windows_and_iana_names_resolve_to_the_same_zone() {
        assert_eq!(
            TimeZone::parse("W. Europe Standard Time").unwrap(),
            TimeZone::parse("Europe/Berlin").unwrap()
        );
        assert_eq!(
            TimeZone::parse("Eastern Standard Time").unwrap().name(),
            "America/New_York"
        );
        assert!(TimeZone::parse("Etc/UTC").unwrap().is_utc());
        // A Windows label known only by its offset keeps daylight saving through its city.
        assert_eq!(
            TimeZone::parse("(UTC+01:00) Sarajevo, Skopje, Warsaw, Zagreb")
                .unwrap()
                .name(),
            "Europe/Sarajevo"
        );
        assert_eq!(
            TimeZone::parse("(UTC+01:00) Brussels, Copenhagen, Madrid, Paris")
                .unwrap()
                .name(),
            "Europe/Paris"
        );
        assert_eq!(
            TimeZone::parse("Nowhere/Special").unwrap_err(),
            TimeError::UnknownTimeZone("Nowhere/Special".into())
        );
    }

    #[test]
    fn daylight_saving_gap_is_an_error_and_overlap_means_first() {
        let ny = TimeZone::parse("America/New_York").unwrap();
        assert!(matches!(
            ZonedDateTime::new(local("2026-03-08 02:30"), ny),
            Err(TimeError::NonexistentLocalTime { .. })
        ));
        let t = ZonedDateTime::new(local("2026-11-01 01:30"), ny).unwrap();
        assert_eq!(t.instant().to_rfc3339(), "2026-11-01T05:30:00+00:00");
    }

    #[test]
    fn an_instant_in_the_repeated_hour_stays_itself() {
        let ny = TimeZone::parse("America/New_York").unwrap();
        // 01:30 happens twice on 2026-11-01: 05:30Z (EDT), then 06:30Z (EST).
        let first = local("2026-11-01 05:30").and_utc();
        let second = local("2026-11-01 06:30").and_utc();
        let a = ZonedDateTime::from_instant(first, ny);
        assert_eq!((a.local(), a.zone()), (local("2026-11-01 01:30"), ny));
        let b = ZonedDateTime::from_instant(second, ny);
        assert_eq!(b.instant(), second);
        assert!(b.zone().is_utc());
    }

    #[test]
    fn occurrence_ids_compare_by_instant() {
        let ny = TimeZone::parse("America/New_York").unwrap();
        let zoned = ZonedDateTime::new(local("2026-12-03 18:00"), ny).unwrap();
        let utc = ZonedDateTime::new(local("2026-12-03 23:00"), TimeZone::UTC).unwrap();
        assert_eq!(OccurrenceId::at(&zoned), OccurrenceId::at(&utc));
    }

    #[test]
    fn schedule_rejects_end_before_start() {
        let ny = TimeZone::parse("America/New_York").unwrap();
        let a = ZonedDateTime::new(local("2026-12-03 18:00"), ny).unwrap();
        let b = ZonedDateTime::new(local("2026-12-03 17:00"), ny).unwrap();
        assert_eq!(Schedule::timed(a, b), Err(TimeError::EndBeforeStart));
        let d = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        assert_eq!(
            Schedule::all_day(d, d.pred_opt().unwrap()),
            Err(TimeError::EndBeforeStart)
        );
    }
}
