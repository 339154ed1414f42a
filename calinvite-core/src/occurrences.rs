//! The occurrences of a recurring event: its rule expanded, its extra
//! dates (RDATE) added, its exceptions (EXDATE) and cancelled instances left
//! out. Pure and bounded: at most [`MAX_PERIODS`] periods of a rule are
//! looked at, whatever the rule says.
//!
//! The rules expanded are those calendars write for people: `FREQ` of
//! `DAILY`, `WEEKLY`, `MONTHLY` or `YEARLY` with `INTERVAL`, `COUNT`,
//! `UNTIL`, and `BYDAY` of plain weekdays for daily and weekly rules. Other
//! `BY…` parts (the third Tuesday, the last weekday of a month) are not
//! expanded: [`expands`] says so, [`upcoming`] then lists only the extra
//! dates and overridden instances, and [`is_occurrence`] cannot tell.

use chrono::{DateTime, Datelike as _, Days, Months, NaiveDate, TimeDelta, Utc, Weekday};

use crate::{Event, EventStatus, Frequency, OccurrenceId, RecurrenceRule, Schedule, Until};
use crate::{TimeZone, ZonedDateTime};

/// Most periods (days, weeks, months, years) of a rule looked at.
pub const MAX_PERIODS: u32 = 5_000;

const WEEKDAYS: [(&str, Weekday); 7] = [
    ("MO", Weekday::Mon),
    ("TU", Weekday::Tue),
    ("WE", Weekday::Wed),
    ("TH", Weekday::Thu),
    ("FR", Weekday::Fri),
    ("SA", Weekday::Sat),
    ("SU", Weekday::Sun),
];

/// Whether this module expands `rule` (see the module's documentation).
pub fn expands(rule: &RecurrenceRule) -> bool {
    let plain_days = rule
        .by_part("BYDAY")
        .iter()
        .all(|d| WEEKDAYS.iter().any(|(n, _)| n == d));
    let others = [
        "BYSECOND",
        "BYMINUTE",
        "BYHOUR",
        "BYMONTHDAY",
        "BYYEARDAY",
        "BYWEEKNO",
        "BYMONTH",
        "BYSETPOS",
    ]
    .iter()
    .all(|p| rule.by_part(p).is_empty());
    // A week start other than Monday changes which weeks an interval skips.
    let week_start = rule.frequency() != Frequency::Weekly
        || rule.interval() == 1
        || !rule.to_string().contains("WKST");
    match rule.frequency() {
        Frequency::Daily | Frequency::Weekly => plain_days && others && week_start,
        Frequency::Monthly | Frequency::Yearly => rule.by_part("BYDAY").is_empty() && others,
        _ => false,
    }
}

/// The occurrences of `event` starting at or after `from` and before `to`,
/// in order, at most `limit`: those of its rule (when [`expands`]), its
/// extra dates and its overridden instances, without its exceptions and
/// cancelled instances. Empty for an event that does not repeat. An
/// instance is named by its original start, as RECURRENCE-ID names it.
pub fn upcoming(
    event: &Event,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: usize,
) -> Vec<OccurrenceId> {
    let Some(recurrence) = event.recurrence() else {
        return Vec::new();
    };
    let schedule = event.schedule();
    let within = |id: &OccurrenceId| {
        let t = start_instant(id);
        t >= from && t < to
    };
    let mut found: Vec<OccurrenceId> = Vec::new();
    if let Some(rule) = recurrence.recurrence_rule().filter(|r| expands(r)) {
        for_each_rule_occurrence(schedule, rule, |id| {
            if start_instant(&id) >= to {
                return false;
            }
            if within(&id) {
                found.push(id);
            }
            // Enough to fill `limit` even after exceptions are removed.
            found.len() < limit.saturating_add(recurrence.exceptions().len() + 1)
        });
    }
    found.extend(recurrence.dates().iter().copied().filter(within));
    found.extend(event.overrides().iter().map(|o| o.id()).filter(within));
    found.sort();
    found.dedup_by(|a, b| a.whole_seconds() == b.whole_seconds());
    found.retain(|id| {
        let id = id.whole_seconds();
        !recurrence
            .exceptions()
            .iter()
            .any(|x| x.whole_seconds() == id)
            && !event
                .overrides()
                .iter()
                .any(|o| o.id().whole_seconds() == id && o.status_value() == EventStatus::Cancelled)
    });
    found.truncate(limit);
    found
}

/// Whether `id` names an occurrence of `event`: one of its extra dates or
/// overridden instances, or one its rule yields, and not an exception.
/// A rule this module does not expand is taken at its word (true for an
/// id of the event's kind, timed or whole-day).
pub fn is_occurrence(event: &Event, id: OccurrenceId) -> bool {
    let Some(recurrence) = event.recurrence() else {
        return false;
    };
    let same_kind = matches!(
        (event.schedule(), id),
        (Schedule::Timed { .. }, OccurrenceId::At(_))
            | (Schedule::AllDay { .. }, OccurrenceId::On(_))
    );
    let id = id.whole_seconds();
    let eq = |x: &OccurrenceId| x.whole_seconds() == id;
    if !same_kind || recurrence.exceptions().iter().any(eq) {
        return false;
    }
    if recurrence.dates().iter().any(eq) || event.overrides().iter().any(|o| eq(&o.id())) {
        return true;
    }
    let Some(rule) = recurrence.recurrence_rule() else {
        return false;
    };
    if !expands(rule) {
        return true;
    }
    let target = start_instant(&id);
    let mut hit = false;
    for_each_rule_occurrence(event.schedule(), rule, |x| {
        hit = eq(&x);
        !hit && start_instant(&x) <= target
    });
    hit
}

/// When occurrence `id` of `event` happens: its overridden time when it was
/// moved, else the rule's (its id is its start; it lasts as long as the
/// first occurrence).
pub fn schedule_of(event: &Event, id: &OccurrenceId) -> Schedule {
    let wanted = id.whole_seconds();
    event
        .overrides()
        .iter()
        .find(|o| o.id().whole_seconds() == wanted)
        .map_or_else(
            || crate::ics::instance_schedule(event.schedule(), id),
            |o| *o.schedule(),
        )
}

/// The instant an occurrence starts (a whole-day one: midnight UTC).
fn start_instant(id: &OccurrenceId) -> DateTime<Utc> {
    match id {
        OccurrenceId::At(t) => *t,
        OccurrenceId::On(d) => d.and_time(chrono::NaiveTime::MIN).and_utc(),
    }
}

/// Calls `f` with each occurrence `rule` yields from `schedule`'s start, in
/// order, until `f` answers false, the rule ends or [`MAX_PERIODS`] periods
/// were looked at.
fn for_each_rule_occurrence(
    schedule: &Schedule,
    rule: &RecurrenceRule,
    mut f: impl FnMut(OccurrenceId) -> bool,
) {
    let (first, time) = match schedule {
        Schedule::Timed { start, .. } => (
            start.local().date(),
            Some((start.local().time(), start.zone())),
        ),
        Schedule::AllDay { start, .. } => (*start, None),
    };
    let interval = rule.interval().max(1);
    let mut days: Vec<Weekday> = rule
        .by_part("BYDAY")
        .iter()
        .filter_map(|d| WEEKDAYS.iter().find(|(n, _)| n == d).map(|(_, w)| *w))
        .collect();
    days.sort_by_key(|w| w.num_days_from_monday());
    let mut count = 0u32;
    for period in 0..MAX_PERIODS {
        let step = period.saturating_mul(interval);
        for day in period_days(rule.frequency(), first, step, &days) {
            if day < first {
                continue;
            }
            let id = match time {
                Some((t, zone)) => OccurrenceId::At(local_instant(day.and_time(t), zone)),
                None => OccurrenceId::On(day),
            };
            if past_until(rule.until(), &id, time.map(|(_, z)| z)) {
                return;
            }
            count += 1;
            if !f(id) || rule.count().is_some_and(|c| count >= c) {
                return;
            }
        }
    }
}

/// The candidate days of one period, `step` periods after the first.
fn period_days(
    frequency: Frequency,
    first: NaiveDate,
    step: u32,
    by_day: &[Weekday],
) -> Vec<NaiveDate> {
    match frequency {
        Frequency::Daily => first
            .checked_add_days(Days::new(u64::from(step)))
            .filter(|d| by_day.is_empty() || by_day.contains(&d.weekday()))
            .into_iter()
            .collect(),
        Frequency::Weekly => {
            let monday = first - TimeDelta::days(i64::from(first.weekday().num_days_from_monday()));
            let Some(week) = monday.checked_add_days(Days::new(u64::from(step) * 7)) else {
                return Vec::new();
            };
            if by_day.is_empty() {
                return week
                    .checked_add_days(Days::new(u64::from(first.weekday().num_days_from_monday())))
                    .into_iter()
                    .collect();
            }
            by_day
                .iter()
                .filter_map(|w| {
                    week.checked_add_days(Days::new(u64::from(w.num_days_from_monday())))
                })
                .collect()
        }
        // A month or year without the first occurrence's day is skipped.
        Frequency::Monthly => first
            .checked_add_months(Months::new(step))
            .filter(|d| d.day() == first.day())
            .into_iter()
            .collect(),
        Frequency::Yearly => first
            .checked_add_months(Months::new(step.saturating_mul(12)))
            .filter(|d| d.day() == first.day())
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

/// The instant of a wall-clock time in `zone`; a time in a daylight-saving
/// gap is read with the offset before the gap (RFC 5545 §3.3.5).
fn local_instant(local: chrono::NaiveDateTime, zone: TimeZone) -> DateTime<Utc> {
    match ZonedDateTime::new(local, zone) {
        Ok(z) => z.instant(),
        Err(_) => ZonedDateTime::new(local + TimeDelta::hours(1), zone)
            .map_or_else(|_| local.and_utc(), |z| z.instant() - TimeDelta::hours(1)),
    }
}

fn past_until(until: Option<Until>, id: &OccurrenceId, zone: Option<TimeZone>) -> bool {
    match (until, id) {
        (None, _) => false,
        (Some(Until::Instant(u)), OccurrenceId::At(t)) => *t > u,
        (Some(Until::Date(u)), OccurrenceId::On(d)) => *d > u,
        (Some(Until::Date(u)), OccurrenceId::At(t)) => {
            let local = zone.map_or(t.date_naive(), |z| t.with_timezone(&z.as_tz()).date_naive());
            local > u
        }
        (Some(Until::Instant(u)), OccurrenceId::On(d)) => *d > u.date_naive(),
        (Some(Until::Floating(u)), OccurrenceId::At(t)) => {
            zone.map_or(t.naive_utc(), |z| t.with_timezone(&z.as_tz()).naive_local()) > u
        }
        (Some(Until::Floating(u)), OccurrenceId::On(d)) => *d > u.date(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EmailAddress, EventCode, InstanceOverride, Recurrence, SequentialIds};
    use chrono::{NaiveDate, TimeZone as _};

    fn weekly_at(rule: &str, zone: &str) -> crate::EventBuilder {
        let zone = TimeZone::parse(zone).expect("zone");
        let day = NaiveDate::from_ymd_opt(2026, 3, 2).expect("a Monday");
        let at = |h| ZonedDateTime::new(day.and_hms_opt(h, 0, 0).expect("t"), zone).expect("z");
        Event::builder(EventCode::generate(&SequentialIds::new(3)))
            .summary("Choir rehearsal")
            .schedule(Schedule::timed(at(19), at(21)).expect("schedule"))
            .organizer(EmailAddress::parse("choir@example.org").expect("a"), None)
            .recurrence(Recurrence::rule(RecurrenceRule::parse(rule).expect("rule")))
    }

    fn utc(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    #[test]
    fn a_weekly_rule_keeps_its_wall_clock_time_across_daylight_saving() {
        let e = weekly_at("FREQ=WEEKLY;BYDAY=MO,TH;COUNT=6", "Europe/Berlin")
            .build()
            .expect("event");
        let all = upcoming(&e, utc(2026, 1, 1, 0), utc(2027, 1, 1, 0), 10);
        // 2 Mar (Mon), 5 Mar (Thu), 9, 12, 16, 19 March; Berlin is UTC+1 until 29 March.
        assert_eq!(all.len(), 6);
        assert_eq!(all[0], OccurrenceId::At(utc(2026, 3, 2, 18)));
        assert_eq!(all[1], OccurrenceId::At(utc(2026, 3, 5, 18)));
        assert_eq!(all[5], OccurrenceId::At(utc(2026, 3, 19, 18)));
        let summer = weekly_at("FREQ=WEEKLY", "Europe/Berlin")
            .build()
            .expect("event");
        let next = upcoming(&summer, utc(2026, 3, 28, 0), utc(2027, 1, 1, 0), 2);
        assert_eq!(
            next,
            vec![
                OccurrenceId::At(utc(2026, 3, 30, 17)),
                OccurrenceId::At(utc(2026, 4, 6, 17))
            ]
        );
    }

    #[test]
    fn upcoming_is_bounded_by_from_to_and_limit_and_skips_exceptions() {
        let skipped = OccurrenceId::At(utc(2026, 3, 16, 18));
        let cancelled = OccurrenceId::At(utc(2026, 3, 23, 18));
        let moved = Schedule::timed(
            ZonedDateTime::utc(utc(2026, 3, 24, 18)),
            ZonedDateTime::utc(utc(2026, 3, 24, 20)),
        )
        .expect("schedule");
        let e = weekly_at("FREQ=WEEKLY", "Europe/Berlin")
            .recurrence(
                Recurrence::rule(RecurrenceRule::parse("FREQ=WEEKLY").expect("rule"))
                    .with_exceptions([skipped]),
            )
            .override_instance(
                InstanceOverride::new(cancelled, moved).status(EventStatus::Cancelled),
            )
            .build()
            .expect("event");
        let next = upcoming(&e, utc(2026, 3, 10, 0), utc(2027, 1, 1, 0), 3);
        assert_eq!(
            next,
            vec![
                OccurrenceId::At(utc(2026, 3, 30, 17)),
                OccurrenceId::At(utc(2026, 4, 6, 17)),
                OccurrenceId::At(utc(2026, 4, 13, 17)),
            ]
        );
        assert!(!next.contains(&skipped) && !next.contains(&cancelled));
        let within = upcoming(&e, utc(2026, 3, 1, 0), utc(2026, 3, 20, 0), 10);
        assert_eq!(
            within,
            vec![
                OccurrenceId::At(utc(2026, 3, 2, 18)),
                OccurrenceId::At(utc(2026, 3, 9, 18))
            ]
        );
    }

    #[test]
    fn is_occurrence_follows_the_rule_until_and_exceptions() {
        let e = weekly_at("FREQ=WEEKLY;UNTIL=20260330T000000Z", "Europe/Berlin")
            .build()
            .expect("event");
        assert!(is_occurrence(&e, OccurrenceId::At(utc(2026, 3, 9, 18))));
        assert!(!is_occurrence(&e, OccurrenceId::At(utc(2026, 3, 9, 19))));
        assert!(
            !is_occurrence(&e, OccurrenceId::At(utc(2026, 3, 30, 17))),
            "after UNTIL"
        );
        assert!(!is_occurrence(
            &e,
            OccurrenceId::On(NaiveDate::from_ymd_opt(2026, 3, 9).unwrap())
        ));
    }

    #[test]
    fn monthly_skips_months_without_the_day_and_unexpanded_rules_list_only_dates() {
        let day = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap();
        let e = Event::builder(EventCode::generate(&SequentialIds::new(4)))
            .summary("Month end")
            .schedule(Schedule::all_day(day, day).expect("schedule"))
            .organizer(EmailAddress::parse("books@example.org").expect("a"), None)
            .recurrence(Recurrence::rule(
                RecurrenceRule::parse("FREQ=MONTHLY;COUNT=3").expect("rule"),
            ))
            .build()
            .expect("event");
        let on = |m, d| OccurrenceId::On(NaiveDate::from_ymd_opt(2026, m, d).unwrap());
        assert_eq!(
            upcoming(&e, utc(2026, 1, 1, 0), utc(2027, 1, 1, 0), 10),
            vec![on(1, 31), on(3, 31), on(5, 31)]
        );
        let third_tuesday = RecurrenceRule::parse("FREQ=MONTHLY;BYDAY=3TU").expect("rule");
        assert!(!expands(&third_tuesday));
        let e = weekly_at("FREQ=MONTHLY;BYDAY=3TU", "UTC")
            .build()
            .expect("event");
        assert!(upcoming(&e, utc(2026, 1, 1, 0), utc(2027, 1, 1, 0), 10).is_empty());
        assert!(
            is_occurrence(&e, OccurrenceId::At(utc(2026, 3, 17, 19))),
            "taken at its word"
        );
    }
}
