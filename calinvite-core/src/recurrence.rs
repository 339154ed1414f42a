//! Recurrence rules (RFC 5545 §3.3.10), parsed into one canonical form.
//!
//! Two rules that mean the same are equal after parsing: part names and values
//! are upper-cased, spaces after commas dropped (`BYDAY=MO, TU` is real-world
//! input, [interop rule 24](crate::manual::interop#rule-24)), `INTERVAL=1` and
//! `WKST=MO` (the defaults) omitted, and parts written in one fixed order. That
//! is what change detection compares ([D3](crate::manual::design#d3)).

use std::fmt::{self, Write as _};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::error::RecurrenceError;
use crate::time::{parse_ical_date, parse_ical_date_time};

/// How often a rule repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
#[allow(clippy::exhaustive_enums, reason = "the seven FREQ values of RFC 5545")]
pub enum Frequency {
    Secondly,
    Minutely,
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

impl Frequency {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "SECONDLY" => Frequency::Secondly,
            "MINUTELY" => Frequency::Minutely,
            "HOURLY" => Frequency::Hourly,
            "DAILY" => Frequency::Daily,
            "WEEKLY" => Frequency::Weekly,
            "MONTHLY" => Frequency::Monthly,
            "YEARLY" => Frequency::Yearly,
            _ => return None,
        })
    }

    /// The iCalendar keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Secondly => "SECONDLY",
            Frequency::Minutely => "MINUTELY",
            Frequency::Hourly => "HOURLY",
            Frequency::Daily => "DAILY",
            Frequency::Weekly => "WEEKLY",
            Frequency::Monthly => "MONTHLY",
            Frequency::Yearly => "YEARLY",
        }
    }

    /// Rough length of one period in seconds, for estimating how far a rule reaches.
    pub(crate) fn approx_seconds(self) -> i64 {
        match self {
            Frequency::Secondly => 1,
            Frequency::Minutely => 60,
            Frequency::Hourly => 3_600,
            Frequency::Daily => 86_400,
            Frequency::Weekly => 7 * 86_400,
            Frequency::Monthly => 31 * 86_400,
            Frequency::Yearly => 366 * 86_400,
        }
    }
}

/// The end of a rule given by UNTIL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(
    clippy::exhaustive_enums,
    reason = "the forms of an RFC 5545 UNTIL: a date, a UTC time, or the floating time some clients write"
)]
pub enum Until {
    /// A date (for all-day events).
    Date(NaiveDate),
    /// A UTC instant (for timed events).
    Instant(DateTime<Utc>),
    /// A local time without a zone, as some clients write it; resolved in the
    /// event's zone when the event is built.
    Floating(NaiveDateTime),
}

/// The BY… parts, in the order they are written.
const BY_PARTS: [&str; 9] = [
    "BYSECOND",
    "BYMINUTE",
    "BYHOUR",
    "BYDAY",
    "BYMONTHDAY",
    "BYYEARDAY",
    "BYWEEKNO",
    "BYMONTH",
    "BYSETPOS",
];

/// Inclusive bounds of the numbers each BY… part may hold (sign allowed where
/// the lower bound is negative), from RFC 5545's grammar.
const BY_RANGES: [(i32, i32, bool); 9] = [
    (0, 60, false),
    (0, 59, false),
    (0, 23, false),
    (-53, 53, true), // BYDAY ordinal
    (-31, 31, true),
    (-366, 366, true),
    (-53, 53, true),
    (1, 12, false),
    (-366, 366, true),
];

const WEEKDAYS: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

/// A parsed RRULE in canonical form.
///
/// ```
/// use calinvite_core::RecurrenceRule;
/// let a = RecurrenceRule::parse("byday=MO, WE;FREQ=WEEKLY;INTERVAL=1;COUNT=10").unwrap();
/// let b = RecurrenceRule::parse("FREQ=WEEKLY;COUNT=10;BYDAY=MO,WE;WKST=MO").unwrap();
/// assert_eq!(a, b);
/// assert_eq!(a.to_string(), "FREQ=WEEKLY;COUNT=10;BYDAY=MO,WE");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RecurrenceRule {
    freq: Frequency,
    until: Option<Until>,
    count: Option<u32>,
    interval: u32,
    by: [Vec<String>; 9],
    wkst: Option<&'static str>,
}

impl RecurrenceRule {
    /// Parses the value of an RRULE property.
    pub fn parse(input: &str) -> Result<Self, RecurrenceError> {
        let mut freq = None;
        let mut until = None;
        let mut count = None;
        let mut interval = None;
        let mut by: [Vec<String>; 9] = Default::default();
        let mut wkst = None;
        for part in input.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| RecurrenceError::Malformed(truncate(part)))?;
            let name = name.trim().to_ascii_uppercase();
            let value = value.trim().to_ascii_uppercase();
            let dup = || RecurrenceError::Duplicate(name.clone());
            match name.as_str() {
                "FREQ" => {
                    let f = Frequency::parse(&value).ok_or_else(|| RecurrenceError::BadValue {
                        part: "FREQ",
                        value: truncate(&value),
                    })?;
                    if freq.replace(f).is_some() {
                        return Err(dup());
                    }
                }
                "UNTIL" => {
                    let u = if let Some(d) = parse_ical_date(&value) {
                        Until::Date(d)
                    } else if let Some((t, utc)) = parse_ical_date_time(&value) {
                        if utc {
                            Until::Instant(t.and_utc())
                        } else {
                            Until::Floating(t)
                        }
                    } else {
                        return Err(RecurrenceError::BadValue {
                            part: "UNTIL",
                            value: truncate(&value),
                        });
                    };
                    if until.replace(u).is_some() {
                        return Err(dup());
                    }
                }
                "COUNT" => {
                    let c = value
                        .parse::<u32>()
                        .ok()
                        .filter(|c| *c > 0)
                        .ok_or_else(|| RecurrenceError::BadValue {
                            part: "COUNT",
                            value: truncate(&value),
                        })?;
                    if count.replace(c).is_some() {
                        return Err(dup());
                    }
                }
                "INTERVAL" => {
                    let i = value
                        .parse::<u32>()
                        .ok()
                        .filter(|i| *i > 0)
                        .ok_or_else(|| RecurrenceError::BadValue {
                            part: "INTERVAL",
                            value: truncate(&value),
                        })?;
                    if interval.replace(i).is_some() {
                        return Err(dup());
                    }
                }
                "WKST" => {
                    let w = WEEKDAYS.iter().find(|w| **w == value).ok_or_else(|| {
                        RecurrenceError::BadValue {
                            part: "WKST",
                            value: truncate(&value),
                        }
                    })?;
                    if wkst.replace(*w).is_some() {
                        return Err(dup());
                    }
                }
                other => {
                    let idx = BY_PARTS
                        .iter()
                        .position(|p| *p == other)
                        .ok_or_else(|| RecurrenceError::UnknownPart(truncate(other)))?;
                    if !by[idx].is_empty() {
                        return Err(dup());
                    }
                    let mut items = Vec::new();
                    for item in value.split(',').map(str::trim) {
                        let item = normalise_by_item(idx, item).ok_or_else(|| {
                            RecurrenceError::BadValue {
                                part: BY_PARTS[idx],
                                value: truncate(item),
                            }
                        })?;
                        items.push(item);
                    }
                    by[idx] = items;
                }
            }
        }
        let freq = freq.ok_or(RecurrenceError::MissingFreq)?;
        if until.is_some() && count.is_some() {
            return Err(RecurrenceError::UntilAndCount);
        }
        Ok(RecurrenceRule {
            freq,
            until,
            count,
            interval: interval.unwrap_or(1),
            by,
            wkst: wkst.filter(|w| *w != "MO"),
        })
    }

    /// How often it repeats.
    pub fn frequency(&self) -> Frequency {
        self.freq
    }

    /// Every how many periods (1 = every period).
    pub fn interval(&self) -> u32 {
        self.interval
    }

    /// The number of occurrences, when bounded by COUNT.
    pub fn count(&self) -> Option<u32> {
        self.count
    }

    /// The UNTIL bound, if any.
    pub fn until(&self) -> Option<Until> {
        self.until
    }

    /// Whether the rule never ends.
    pub fn is_unbounded(&self) -> bool {
        self.until.is_none() && self.count.is_none()
    }

    pub(crate) fn set_until(&mut self, until: Until) {
        self.until = Some(until);
    }

    /// The values of a BY… part (`"BYDAY"`, `"BYMONTH"` …), in canonical form.
    pub fn by_part(&self, name: &str) -> &[String] {
        BY_PARTS
            .iter()
            .position(|p| p.eq_ignore_ascii_case(name))
            .map_or(&[], |i| self.by[i].as_slice())
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

fn normalise_by_item(idx: usize, item: &str) -> Option<String> {
    let (lo, hi, signed) = BY_RANGES[idx];
    if BY_PARTS[idx] == "BYDAY" {
        let day = item.get(item.len().checked_sub(2)?..)?;
        WEEKDAYS.iter().find(|w| **w == day)?;
        let ordinal = &item[..item.len() - 2];
        if ordinal.is_empty() {
            return Some(day.to_string());
        }
        let n = parse_signed(ordinal, signed)?;
        return (n != 0 && (lo..=hi).contains(&n)).then(|| format!("{n}{day}"));
    }
    let n = parse_signed(item, signed)?;
    (n != 0 || lo == 0).then_some(())?;
    (lo..=hi).contains(&n).then(|| n.to_string())
}

fn parse_signed(s: &str, signed: bool) -> Option<i32> {
    let digits = s.strip_prefix('+').unwrap_or(s);
    if !signed && digits.starts_with('-') {
        return None;
    }
    let body = digits.strip_prefix('-').unwrap_or(digits);
    if body.is_empty() || body.len() > 3 || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl fmt::Display for RecurrenceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FREQ={}", self.freq.as_str())?;
        match self.until {
            Some(Until::Date(d)) => write!(f, ";UNTIL={}", d.format("%Y%m%d"))?,
            Some(Until::Instant(t)) => write!(f, ";UNTIL={}", t.format("%Y%m%dT%H%M%SZ"))?,
            Some(Until::Floating(t)) => write!(f, ";UNTIL={}", t.format("%Y%m%dT%H%M%S"))?,
            None => {}
        }
        if let Some(c) = self.count {
            write!(f, ";COUNT={c}")?;
        }
        if self.interval != 1 {
            write!(f, ";INTERVAL={}", self.interval)?;
        }
        for (name, values) in BY_PARTS.iter().zip(&self.by) {
            if values.is_empty() {
                continue;
            }
            write!(f, ";{name}=")?;
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    f.write_char(',')?;
                }
                f.write_str(v)?;
            }
        }
        if let Some(w) = self.wkst {
            write!(f, ";WKST={w}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_ignores_order_case_spaces_and_defaults() {
        let a =
            RecurrenceRule::parse("FREQ=MONTHLY;BYDAY=1MO, -1FR;INTERVAL=2;UNTIL=20271231T000000Z")
                .unwrap();
        let b = RecurrenceRule::parse(
            "until=20271231T000000Z;interval=2;byday=+1mo,-1fr;freq=monthly;wkst=MO",
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a.to_string(),
            "FREQ=MONTHLY;UNTIL=20271231T000000Z;INTERVAL=2;BYDAY=1MO,-1FR"
        );
        assert_eq!(RecurrenceRule::parse(&a.to_string()).unwrap(), a);
    }

    #[test]
    fn rejects_what_is_not_a_rule() {
        use RecurrenceError::*;
        assert_eq!(RecurrenceRule::parse("COUNT=3"), Err(MissingFreq));
        assert_eq!(
            RecurrenceRule::parse("FREQ=DAILY;COUNT=2;UNTIL=20260101"),
            Err(UntilAndCount)
        );
        assert_eq!(
            RecurrenceRule::parse("FREQ=DAILY;FREQ=WEEKLY"),
            Err(Duplicate("FREQ".into()))
        );
        assert!(matches!(
            RecurrenceRule::parse("FREQ=FORTNIGHTLY"),
            Err(BadValue { part: "FREQ", .. })
        ));
        assert!(matches!(
            RecurrenceRule::parse("FREQ=WEEKLY;BYDAY=XX"),
            Err(BadValue { part: "BYDAY", .. })
        ));
        assert!(matches!(
            RecurrenceRule::parse("FREQ=YEARLY;BYMONTH=13"),
            Err(BadValue {
                part: "BYMONTH",
                ..
            })
        ));
        assert!(matches!(
            RecurrenceRule::parse("FREQ=DAILY;BYFOO=1"),
            Err(UnknownPart(_))
        ));
        assert!(matches!(
            RecurrenceRule::parse("FREQ=DAILY;COUNT"),
            Err(Malformed(_))
        ));
        assert!(matches!(
            RecurrenceRule::parse("FREQ=DAILY;INTERVAL=0"),
            Err(BadValue {
                part: "INTERVAL",
                ..
            })
        ));
    }
}
