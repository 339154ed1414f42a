//! Event times as the API writes them: `2026-12-10` for a day,
//! `2026-12-10T18:00:00` for a local time in a named IANA zone, or an
//! RFC 3339 instant (`2026-12-10T17:00:00Z`, `…+01:00`).

use calinvite_core::{Schedule, TimeZone, ZonedDateTime};
use chrono::{DateTime, NaiveDate, NaiveDateTime};

use crate::problem::{ApiError, ApiResult};

/// A schedule as shown: start, end (the last day for all-day events), zone.
pub(crate) fn show(schedule: &Schedule) -> (String, String, Option<String>) {
    match schedule {
        Schedule::AllDay { start, end } => {
            let last = end.pred_opt().unwrap_or(*end);
            (start.to_string(), last.to_string(), None)
        }
        Schedule::Timed { start, end } => {
            let zone = start.zone();
            let end_local = end.instant().with_timezone(&zone.as_tz()).naive_local();
            (
                local(start.local()),
                local(end_local),
                Some(zone.name().to_owned()),
            )
        }
        _ => (String::new(), String::new(), None),
    }
}

fn local(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// A time as given: a day, or a point in time.
enum Given {
    Day(NaiveDate),
    Local(NaiveDateTime),
    Instant(DateTime<chrono::FixedOffset>),
}

fn given(field: &str, text: &str) -> ApiResult<Given> {
    let t = text.trim();
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(Given::Day(d));
    }
    if let Ok(i) = DateTime::parse_from_rfc3339(t) {
        return Ok(Given::Instant(i));
    }
    for f in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(l) = NaiveDateTime::parse_from_str(t, f) {
            return Ok(Given::Local(l));
        }
    }
    Err(ApiError::field(
        format!("/{field}"),
        "not a date (2026-12-10), a local time (2026-12-10T18:00) or an instant (2026-12-10T17:00:00Z)",
    ))
}

/// The schedule `start`–`end` in `zone` (UTC when none is given).
pub(crate) fn parse(start: &str, end: &str, zone: Option<&str>) -> ApiResult<Schedule> {
    let tz = match zone.map(str::trim).filter(|z| !z.is_empty()) {
        Some(z) => TimeZone::parse(z).map_err(|e| ApiError::field("/time_zone", e.to_string()))?,
        None => TimeZone::UTC,
    };
    let at = |field: &str, g: Given| -> ApiResult<ZonedDateTime> {
        match g {
            Given::Local(l) => ZonedDateTime::new(l, tz)
                .map_err(|e| ApiError::field(format!("/{field}"), e.to_string())),
            Given::Instant(i) => Ok(ZonedDateTime::from_instant(i.to_utc(), tz)),
            Given::Day(_) => Err(ApiError::field(
                format!("/{field}"),
                "a day here needs a day in the other field too (an all-day event)",
            )),
        }
    };
    let result = match (given("start", start)?, given("end", end)?) {
        (Given::Day(a), Given::Day(b)) => Schedule::all_day(a, b),
        (s, e) => Schedule::timed(at("start", s)?, at("end", e)?),
    };
    result.map_err(|e| ApiError::field("/end", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_local_times_and_instants() {
        let s = parse("2026-12-10", "2026-12-11", None).unwrap();
        assert_eq!(show(&s), ("2026-12-10".into(), "2026-12-11".into(), None));
        let s = parse(
            "2026-12-10T18:00",
            "2026-12-10T20:00:00",
            Some("Europe/Madrid"),
        )
        .unwrap();
        assert_eq!(
            show(&s),
            (
                "2026-12-10T18:00:00".into(),
                "2026-12-10T20:00:00".into(),
                Some("Europe/Madrid".into())
            )
        );
        let s = parse(
            "2026-12-10T17:00:00Z",
            "2026-12-10T19:00:00Z",
            Some("Europe/Madrid"),
        )
        .unwrap();
        assert_eq!(show(&s).0, "2026-12-10T18:00:00");
    }

    #[test]
    fn mistakes_name_their_field() {
        let e = parse("tomorrow", "2026-12-10", None).unwrap_err().problem();
        assert_eq!(e.errors[0].pointer, "/start");
        let e = parse("2026-12-10T18:00", "2026-12-10T17:00", None)
            .unwrap_err()
            .problem();
        assert_eq!(e.errors[0].pointer, "/end");
        let e = parse("2026-12-10T18:00", "2026-12-10T19:00", Some("Mars/Base"))
            .unwrap_err()
            .problem();
        assert_eq!(e.errors[0].pointer, "/time_zone");
        let e = parse("2026-12-10", "2026-12-10T19:00", None)
            .unwrap_err()
            .problem();
        assert_eq!(e.errors[0].pointer, "/start");
    }
}
