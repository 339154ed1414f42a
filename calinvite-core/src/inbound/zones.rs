//! Resolving a custom VTIMEZONE (Exchange's `GMT +0100 (Standard) / GMT +0200
//! (Daylight)`, Outlook for Mac's `Sarajevo, Skopje, Warsaw, Zagreb`) to an
//! IANA zone ([D9](crate::manual::design#d9)): evaluate the definition's own
//! rules for the year in question and find a tz-database zone with the same UTC
//! offsets throughout it. A city named in the TZID is tried first, then common
//! zones.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Offset, TimeZone as _, Utc, Weekday};

use super::content::Component;
use crate::time::{TimeZone, parse_ical_date_time};

/// Zones tried before the whole database, so that a match is a zone people know.
const COMMON: &[&str] = &[
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "Europe/Madrid",
    "Europe/Athens",
    "Europe/Helsinki",
    "Europe/Moscow",
    "Europe/Istanbul",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Halifax",
    "America/St_Johns",
    "America/Sao_Paulo",
    "America/Argentina/Buenos_Aires",
    "America/Mexico_City",
    "America/Bogota",
    "America/Santiago",
    "Asia/Tokyo",
    "Asia/Shanghai",
    "Asia/Kolkata",
    "Asia/Dubai",
    "Asia/Singapore",
    "Asia/Seoul",
    "Asia/Jakarta",
    "Asia/Karachi",
    "Asia/Tehran",
    "Asia/Jerusalem",
    "Australia/Sydney",
    "Australia/Adelaide",
    "Australia/Brisbane",
    "Australia/Perth",
    "Pacific/Auckland",
    "Africa/Johannesburg",
    "Africa/Cairo",
    "Africa/Lagos",
    "Africa/Nairobi",
    "Atlantic/Reykjavik",
    "UTC",
];

struct Observance {
    offset_from: i32,
    offset_to: i32,
    /// (month, ordinal weekday or day of month, weekday, local time of onset)
    month: u32,
    rule: DayRule,
    at: chrono::NaiveTime,
}

enum DayRule {
    Nth(i32, Weekday),
    Day(u32),
}

fn offset(s: &str) -> Option<i32> {
    let s = s.trim();
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => (1, s),
    };
    if rest.len() < 4 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i32 = rest[..2].parse().ok()?;
    let m: i32 = rest[2..4].parse().ok()?;
    let sec: i32 = rest.get(4..6).and_then(|x| x.parse().ok()).unwrap_or(0);
    Some(sign * (h * 3600 + m * 60 + sec))
}

fn weekday(s: &str) -> Option<Weekday> {
    Some(match s {
        "MO" => Weekday::Mon,
        "TU" => Weekday::Tue,
        "WE" => Weekday::Wed,
        "TH" => Weekday::Thu,
        "FR" => Weekday::Fri,
        "SA" => Weekday::Sat,
        "SU" => Weekday::Sun,
        _ => return None,
    })
}

fn observances(vtz: &Component) -> Vec<Observance> {
    let mut out = Vec::new();
    for o in vtz
        .children
        .iter()
        .filter(|c| c.kind == "STANDARD" || c.kind == "DAYLIGHT")
    {
        let (Some(from), Some(to)) = (
            o.prop("TZOFFSETFROM").and_then(|p| offset(&p.value)),
            o.prop("TZOFFSETTO").and_then(|p| offset(&p.value)),
        ) else {
            continue;
        };
        let Some((start, _)) = o
            .prop("DTSTART")
            .and_then(|p| parse_ical_date_time(p.value.trim()))
        else {
            continue;
        };
        let mut month = start.month();
        let mut rule = DayRule::Day(start.day());
        if let Some(rrule) = o.prop("RRULE") {
            for part in rrule.value.split(';') {
                let Some((k, v)) = part.split_once('=') else {
                    continue;
                };
                match k.trim().to_ascii_uppercase().as_str() {
                    "BYMONTH" => month = v.trim().parse().unwrap_or(month),
                    "BYDAY" => {
                        let v = v.trim().to_ascii_uppercase();
                        // Checked slicing: the value may hold anything, not only ASCII.
                        let at = v.len().saturating_sub(2);
                        if let (Some(n), Some(d)) = (v.get(..at), v.get(at..))
                            && let Some(wd) = weekday(d)
                        {
                            let n = if n.is_empty() {
                                1
                            } else {
                                n.trim_start_matches('+').parse().unwrap_or(1)
                            };
                            rule = DayRule::Nth(n, wd);
                        }
                    }
                    _ => {}
                }
            }
        }
        out.push(Observance {
            offset_from: from,
            offset_to: to,
            month,
            rule,
            at: start.time(),
        });
    }
    out
}

fn onset(o: &Observance, year: i32) -> Option<i64> {
    let date = match o.rule {
        DayRule::Day(d) => NaiveDate::from_ymd_opt(year, o.month, d)?,
        DayRule::Nth(n, wd) if n > 0 => {
            let first = NaiveDate::from_ymd_opt(year, o.month, 1)?;
            let shift = (7 + wd.num_days_from_monday() as i64
                - first.weekday().num_days_from_monday() as i64)
                % 7;
            first + chrono::TimeDelta::days(shift + 7 * (i64::from(n) - 1))
        }
        DayRule::Nth(n, wd) => {
            let next = if o.month == 12 {
                NaiveDate::from_ymd_opt(year + 1, 1, 1)?
            } else {
                NaiveDate::from_ymd_opt(year, o.month + 1, 1)?
            };
            let last = next.pred_opt()?;
            let shift = (7 + last.weekday().num_days_from_monday() as i64
                - wd.num_days_from_monday() as i64)
                % 7;
            last - chrono::TimeDelta::days(shift + 7 * (i64::from(-n) - 1))
        }
    };
    let local = NaiveDateTime::new(date, o.at);
    Some(local.and_utc().timestamp() - i64::from(o.offset_from))
}

/// The custom zone's offset at `t`, from its own rules.
fn custom_offset(obs: &[Observance], t: i64, year: i32) -> Option<i32> {
    let mut best: Option<(i64, i32)> = None;
    for y in [year - 1, year] {
        for o in obs {
            if let Some(at) = onset(o, y)
                && at <= t
                && best.is_none_or(|(b, _)| at > b)
            {
                best = Some((at, o.offset_to));
            }
        }
    }
    best.map(|(_, off)| off)
        .or_else(|| obs.first().map(|o| o.offset_from))
}

/// An IANA zone whose offsets match the custom definition all through `year`.
pub(super) fn resolve_custom(vtz: &Component, tzid: &str, year: i32) -> Option<TimeZone> {
    let obs = observances(vtz);
    if obs.is_empty() {
        return None;
    }
    let mut probes: Vec<i64> = (1..=12)
        .filter_map(|m| NaiveDate::from_ymd_opt(year, m, 15))
        .map(|d| {
            d.and_hms_opt(12, 0, 0)
                .map_or(0, |t| t.and_utc().timestamp())
        })
        .collect();
    for o in &obs {
        if let Some(at) = onset(o, year) {
            probes.extend([at - 3 * 3600, at + 3 * 3600]);
        }
    }
    let expected: Vec<i32> = probes
        .iter()
        .filter_map(|&t| custom_offset(&obs, t, year))
        .collect();
    if expected.len() != probes.len() {
        return None;
    }
    let matches = |tz: chrono_tz::Tz| {
        probes.iter().zip(&expected).all(|(&t, &want)| {
            Utc.timestamp_opt(t, 0).single().is_some_and(|u| {
                tz.offset_from_utc_datetime(&u.naive_utc())
                    .fix()
                    .local_minus_utc()
                    == want
            })
        })
    };
    // 1. A city the TZID names ("Sarajevo, Skopje, Warsaw, Zagreb").
    if let Some(tz) = crate::time::city_zone(tzid).filter(|tz| matches(*tz)) {
        return TimeZone::parse(tz.name()).ok();
    }
    // 2. A common zone, then any zone, with the same offsets.
    COMMON
        .iter()
        .filter_map(|n| n.parse::<chrono_tz::Tz>().ok())
        .chain(chrono_tz::TZ_VARIANTS.iter().copied())
        .find(|tz| matches(*tz))
        .and_then(|tz| TimeZone::parse(tz.name()).ok())
}
