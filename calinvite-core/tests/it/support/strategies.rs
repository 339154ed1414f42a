//! Proptest strategies: hostile text, addresses, zones, schedules, recurrences
//! and whole scenarios (event, sender, recipient, options, SEQUENCE, `now`).

use std::sync::Arc;

use calinvite_core::{
    ComposeOptions, Composer, EmailAddress, Event, EventCode, EventError, EventRevision,
    EventStatus, InstanceOverride, InvitationToken, InvitationUid, LanguageTag, Recipient,
    Recurrence, RecurrenceRule, Schedule, SenderIdentity, Sequence, SequentialIds, TimeZone,
    WebUrl, ZonedDateTime,
};
use calinvite_core::{OccurrenceId, Template};
use chrono::{DateTime, Days, NaiveDate, TimeDelta, TimeZone as _, Utc};
use proptest::prelude::*;
use proptest::sample::select;

use super::RecordingTemplate;

/// Fragments that have broken calendar and mail writers somewhere: line breaks
/// of every kind, NUL and other controls, escapes, quoting and header syntax,
/// MIME boundaries, RFC 2047 look-alikes, emoji (ZWJ sequences), combining
/// marks, bidi overrides, RTL and CJK text.
const SPECIALS: &[&str] = &[
    "\r",
    "\n",
    "\r\n",
    "\n\r",
    "\0",
    "\t",
    "\u{b}",
    "\u{c}",
    "\u{7f}",
    "\u{85}",
    "\u{9b}",
    "\u{1b}[31m",
    "\u{2028}",
    "\u{2029}",
    "\u{feff}",
    "\u{200b}",
    "\u{202e}",
    "\u{2066}",
    "\u{3000}",
    "\u{a0}",
    "🎉",
    "👩‍👩‍👧‍👦",
    "🏳️‍🌈",
    "e\u{301}",
    "a\u{20dd}\u{301}\u{302}",
    "שלום עולם",
    "مرحبا",
    "東京タワー",
    "Ñandú",
    "ß",
    "\u{10ffff}",
    "\\",
    "\\n",
    "\\N",
    "\\\\",
    "\\,",
    "\\;",
    ";",
    ",",
    ":",
    "\"",
    "'",
    "=",
    "^",
    "^n",
    "<",
    ">",
    "@",
    "(",
    ")",
    "&amp;",
    "<b>x</b>",
    "=?UTF-8?B?SGk=?=",
    "=?utf-8?q?x=20y?=",
    "BEGIN:VEVENT",
    "\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\n",
    "\r\nATTENDEE:mailto:evil@example.net",
    "\r\nBcc: evil@example.net",
    "\nContent-Type: text/html",
    "--=_m.",
    "\r\n--=_a.x\r\n",
    "\r\n.\r\n",
    ".",
    "From ",
    "\nFrom me",
    " ",
    "  ",
    "mailto:x@example.org",
];

/// Units that are repeated into very long runs (long lines, folds, encoded-words).
const REPEATABLE: &[&str] = &[
    "x",
    "é",
    "東",
    "🎉",
    "👩‍👩‍👧‍👦",
    "\\",
    ",",
    " ",
    "e\u{301}",
    "a b ",
];

/// Arbitrary text: any Unicode scalar values (controls included), mixed with
/// the hostile fragments above, sometimes very long.
pub(crate) fn nasty_text() -> BoxedStrategy<String> {
    let fragment = prop_oneof![
        4 => proptest::collection::vec(any::<char>(), 0..24).prop_map(String::from_iter),
        4 => select(SPECIALS).prop_map(str::to_string),
        1 => (select(REPEATABLE), 20usize..160).prop_map(|(s, n)| s.repeat(n)),
    ];
    proptest::collection::vec(fragment, 0..10)
        .prop_map(|v| v.concat())
        .boxed()
}

/// ASCII pieces of display names that need quoting or encoding in a header.
const NAME_PIECES: &[&str] = &[
    "Ana",
    "Smith",
    "O'Brien",
    "Jr.",
    ",",
    ";",
    ":",
    "@",
    "<x@example.org>",
    "(c)",
    "[x]",
    "\"",
    "\\",
    "=?UTF-8?B?SGk=?=",
    "=?",
    "?=",
    " ",
    "  ",
    "\t",
    "\r\n",
    "é",
    "^",
];

/// A display name: arbitrary text, or short ASCII made of what header syntax
/// treats specially (so that quoted strings come up often).
pub(crate) fn name_text() -> BoxedStrategy<String> {
    prop_oneof![
        nasty_text(),
        proptest::collection::vec(select(NAME_PIECES), 1..5).prop_map(|v| v.concat()),
    ]
    .boxed()
}

/// Text that still has something printable after normalising (a summary).
pub(crate) fn summary_text() -> BoxedStrategy<String> {
    nasty_text()
        .prop_filter("normalises to nothing", |s| {
            !calinvite_core::Text::new(s).is_empty()
        })
        .boxed()
}

/// Addresses in all the forms `EmailAddress::parse` accepts: bare, `mailto:`
/// (any case), angle brackets, percent-encoded; mixed case.
pub(crate) fn address() -> BoxedStrategy<EmailAddress> {
    let local = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,12}(\\.[A-Za-z0-9_+-]{1,8}){0,2}";
    let label = "[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?";
    let domain = proptest::collection::vec(label, 1..4).prop_map(|l| l.join("."));
    (local, domain, 0..5u8)
        .prop_filter_map("not an address", |(l, d, form)| {
            let raw = match form {
                0 => format!("{l}@{d}"),
                1 => format!("mailto:{l}@{d}"),
                2 => format!(" <{l}@{d}> "),
                3 => format!("MAILTO:{l}%40{d}?subject=hi"),
                _ => format!("{}@{}", l.to_uppercase(), d.to_uppercase()),
            };
            EmailAddress::parse(&raw).ok()
        })
        .boxed()
}

/// Zone names: IANA (with DST, half-hour and 45-minute offsets, southern
/// hemisphere, a date-line crosser, aliases of UTC) and Windows names.
pub(crate) const ZONES: &[&str] = &[
    "Europe/Madrid",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/St_Johns",
    "Europe/London",
    "Asia/Tokyo",
    "America/Sao_Paulo",
    "Asia/Kathmandu",
    "Pacific/Apia",
    "Africa/Casablanca",
    "Etc/GMT+5",
    "UTC",
    "Etc/UTC",
    "GMT",
    "W. Europe Standard Time",
    "Eastern Standard Time",
    "Pacific Standard Time",
    "India Standard Time",
    "Tokyo Standard Time",
    "AUS Eastern Standard Time",
    "GMT Standard Time",
    "Romance Standard Time",
    "Central Standard Time",
    "E. South America Standard Time",
    "UTC",
];

pub(crate) fn zone() -> impl Strategy<Value = TimeZone> {
    select(ZONES).prop_map(|z| TimeZone::parse(z).expect("every listed zone resolves"))
}

/// An instant, biased towards the months and hours where clocks change, so
/// that skipped and repeated local times come up.
pub(crate) fn instant() -> BoxedStrategy<DateTime<Utc>> {
    let month = prop_oneof![3 => select(&[3u32, 4, 9, 10, 11][..]), 2 => 1u32..=12];
    let minute = prop_oneof![3 => select(&[0u32, 15, 30, 45][..]), 1 => 0u32..60];
    let second = prop_oneof![4 => Just(0u32), 1 => 0u32..60];
    (2001i32..2040, month, 1u32..=28, 0u32..24, minute, second)
        .prop_map(|(y, mo, d, h, mi, s)| {
            Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
                .single()
                .expect("a valid UTC time")
        })
        .boxed()
}

/// The instants in `year` at which `zone`'s offset from UTC changes (to the
/// minute), found by scanning.
pub(crate) fn transitions(zone: TimeZone, year: i32) -> Vec<DateTime<Utc>> {
    use chrono::Offset as _;
    let offset = |t: DateTime<Utc>| {
        zone.as_tz()
            .offset_from_utc_datetime(&t.naive_utc())
            .fix()
            .local_minus_utc()
    };
    let Some(mut t) = Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).single() else {
        return Vec::new();
    };
    let end = t + TimeDelta::days(366);
    let mut out = Vec::new();
    while t < end {
        let next = t + TimeDelta::hours(6);
        if offset(t) != offset(next) {
            // Narrow down to the minute.
            let (mut lo, mut hi) = (t, next);
            while hi - lo > TimeDelta::minutes(1) {
                let mid = lo + (hi - lo) / 2;
                if offset(mid) == offset(lo) {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            out.push(hi);
        }
        t = next;
    }
    out
}

/// An instant within a few hours of a change of `zone`'s offset (a skipped or
/// repeated hour), or anywhere when the zone has none.
pub(crate) fn near_transition(zone: TimeZone) -> BoxedStrategy<DateTime<Utc>> {
    (
        2001i32..2040,
        any::<proptest::sample::Index>(),
        prop_oneof![3 => -120i64..120, 1 => select(&[-60i64, -30, 0, 30, 59, 60][..])],
        instant(),
    )
        .prop_map(move |(year, pick, minutes, fallback)| {
            let t = transitions(zone, year);
            if t.is_empty() {
                fallback
            } else {
                t[pick.index(t.len())] + TimeDelta::minutes(minutes)
            }
        })
        .boxed()
}

/// A wall-clock time in a zone: from an instant, or from a local time (which
/// may fall in a daylight-saving gap and then is not one).
pub(crate) fn zoned() -> BoxedStrategy<ZonedDateTime> {
    prop_oneof![
        (instant(), zone()).prop_map(|(t, z)| ZonedDateTime::from_instant(t, z)),
        zone().prop_flat_map(
            |z| near_transition(z).prop_map(move |t| ZonedDateTime::from_instant(t, z))
        ),
        (instant(), zone()).prop_filter_map("local time in a gap", |(t, z)| ZonedDateTime::new(
            t.naive_utc(),
            z
        )
        .ok()),
    ]
    .boxed()
}

pub(crate) fn date() -> impl Strategy<Value = NaiveDate> {
    (2001i32..2040, 1u32..=12, 1u32..=31)
        .prop_filter_map("no such day", |(y, m, d)| NaiveDate::from_ymd_opt(y, m, d))
}

/// A timed schedule: start anywhere, end up to three days later, sometimes in
/// another zone (Outlook allows it).
pub(crate) fn timed_schedule() -> BoxedStrategy<Schedule> {
    (
        zoned(),
        prop_oneof![2 => 0i64..(6 * 60), 1 => 0i64..(3 * 24 * 60)],
        proptest::option::weighted(0.2, zone()),
    )
        .prop_map(|(start, minutes, end_zone)| {
            let end_instant = start.instant() + TimeDelta::minutes(minutes);
            let end = ZonedDateTime::from_instant(end_instant, end_zone.unwrap_or(start.zone()));
            Schedule::timed(start, end).expect("end is not before start")
        })
        .boxed()
}

pub(crate) fn all_day_schedule() -> BoxedStrategy<Schedule> {
    (date(), 0u64..10)
        .prop_map(|(first, extra)| {
            Schedule::all_day(first, first + Days::new(extra)).expect("last is not before first")
        })
        .boxed()
}

const WEEKDAYS: &[&str] = &["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

/// A recurrence rule, written in the loose forms clients send (any case,
/// spaces after commas, defaults spelled out); the model keeps its canonical form.
pub(crate) fn rule(all_day: bool) -> BoxedStrategy<RecurrenceRule> {
    let freq = select(&["DAILY", "WEEKLY", "MONTHLY", "YEARLY", "HOURLY", "MINUTELY"][..]);
    let end = prop_oneof![
        Just(String::new()),
        (1u32..500).prop_map(|c| format!(";COUNT={c}")),
        date().prop_map(|d| format!(";UNTIL={}", d.format("%Y%m%d"))),
        instant().prop_map(|t| format!(";UNTIL={}", t.format("%Y%m%dT%H%M%SZ"))),
        instant().prop_map(|t| format!(";UNTIL={}", t.format("%Y%m%dT%H%M%S"))),
    ];
    let interval = proptest::option::of(1u32..400);
    let byday = proptest::collection::vec(
        (
            proptest::option::weighted(0.3, select(&[-5i32, -1, 1, 2, 3, 4][..])),
            select(WEEKDAYS),
        ),
        0..4,
    );
    let bymonth = proptest::collection::vec(1u32..=12, 0..3);
    let bymonthday = proptest::collection::vec(prop_oneof![1i32..=31, -31i32..=-1], 0..3);
    let byhour = proptest::collection::vec(0u32..24, 0..3);
    let wkst = proptest::option::of(select(WEEKDAYS));
    let loose = any::<bool>();
    (
        freq, end, interval, byday, bymonth, bymonthday, byhour, wkst, loose,
    )
        .prop_map(
            move |(freq, end, interval, byday, bymonth, bymonthday, byhour, wkst, loose)| {
                let sep = if loose { ", " } else { "," };
                let mut s = format!("FREQ={freq}{end}");
                if let Some(i) = interval {
                    s.push_str(&format!(";INTERVAL={i}"));
                }
                let ordinals_ok = matches!(freq, "MONTHLY" | "YEARLY");
                if !byday.is_empty() {
                    let days: Vec<String> = byday
                        .iter()
                        .map(|(n, d)| match n {
                            Some(n) if ordinals_ok => {
                                if loose && *n > 0 {
                                    format!("+{n}{d}")
                                } else {
                                    format!("{n}{d}")
                                }
                            }
                            _ => (*d).to_string(),
                        })
                        .collect();
                    s.push_str(&format!(";BYDAY={}", days.join(sep)));
                }
                let join = |v: &[String]| v.join(sep);
                if !bymonth.is_empty() {
                    let v: Vec<String> = bymonth.iter().map(u32::to_string).collect();
                    s.push_str(&format!(";BYMONTH={}", join(&v)));
                }
                if !bymonthday.is_empty() && freq != "WEEKLY" {
                    let v: Vec<String> = bymonthday.iter().map(i32::to_string).collect();
                    s.push_str(&format!(";BYMONTHDAY={}", join(&v)));
                }
                if !byhour.is_empty() && !all_day {
                    let v: Vec<String> = byhour.iter().map(u32::to_string).collect();
                    s.push_str(&format!(";BYHOUR={}", join(&v)));
                }
                if let Some(w) = wkst {
                    s.push_str(&format!(";WKST={w}"));
                }
                if loose {
                    s = s.to_lowercase();
                }
                RecurrenceRule::parse(&s).expect("generated rules are valid")
            },
        )
        .boxed()
}

/// How a recurring event's extra dates, exceptions and overrides are spread
/// around its first occurrence.
fn occurrence(schedule: Schedule) -> BoxedStrategy<OccurrenceId> {
    match schedule {
        Schedule::AllDay { start, .. } => (0u64..400)
            .prop_map(move |k| OccurrenceId::On(start + Days::new(k)))
            .boxed(),
        Schedule::Timed { start, .. } => {
            let t0 = start.instant();
            prop_oneof![
                // On the pattern: n days or weeks later, sometimes shifted.
                (1i64..60, select(&[1i64, 7][..]), -120i64..120).prop_map(move |(k, unit, m)| {
                    OccurrenceId::At(t0 + TimeDelta::days(k * unit) + TimeDelta::minutes(m))
                }),
                // Anywhere, often in the months where clocks change.
                instant().prop_map(OccurrenceId::At),
                // In the hours around a change of the event's zone's offset.
                near_transition(start.zone()).prop_map(OccurrenceId::At),
            ]
            .boxed()
        }
        _ => unreachable!("only timed and all-day schedules exist"),
    }
}

/// What an override is made of, before it is an `InstanceOverride`.
#[derive(Clone, Debug)]
pub(crate) struct OverrideSpec {
    pub(crate) id: OccurrenceId,
    pub(crate) schedule: Schedule,
    pub(crate) summary: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) location: Option<String>,
    pub(crate) status: EventStatus,
}

impl OverrideSpec {
    pub(crate) fn to_override(&self) -> InstanceOverride {
        let mut o = InstanceOverride::new(self.id, self.schedule).status(self.status);
        if let Some(s) = &self.summary {
            o = o.summary(s.as_str());
        }
        if let Some(d) = &self.description {
            o = o.description(d.as_str());
        }
        if let Some(l) = &self.location {
            o = o.location(l.as_str());
        }
        o
    }
}

fn override_spec(master: Schedule) -> BoxedStrategy<OverrideSpec> {
    let moved: BoxedStrategy<(OccurrenceId, Schedule)> = match master {
        Schedule::AllDay { .. } => (occurrence(master), -3i64..4, 0u64..4)
            .prop_map(|(id, shift, extra)| {
                let OccurrenceId::On(d) = id else {
                    unreachable!()
                };
                let first = d
                    .checked_add_signed(TimeDelta::days(shift))
                    .expect("in range");
                (
                    id,
                    Schedule::all_day(first, first + Days::new(extra)).expect("ordered"),
                )
            })
            .boxed(),
        Schedule::Timed { start, .. } => (
            occurrence(master),
            -600i64..600,
            0i64..300,
            proptest::option::weighted(0.3, zone()),
        )
            .prop_map(move |(id, shift, minutes, z)| {
                let OccurrenceId::At(t) = id else {
                    unreachable!()
                };
                let z = z.unwrap_or(start.zone());
                let s = ZonedDateTime::from_instant(t + TimeDelta::minutes(shift), z);
                let e = ZonedDateTime::from_instant(s.instant() + TimeDelta::minutes(minutes), z);
                (id, Schedule::timed(s, e).expect("ordered"))
            })
            .boxed(),
        _ => unreachable!("only timed and all-day schedules exist"),
    };
    (
        moved,
        proptest::option::of(nasty_text()),
        proptest::option::weighted(0.3, nasty_text()),
        proptest::option::weighted(0.3, nasty_text()),
        select(
            &[
                EventStatus::Confirmed,
                EventStatus::Tentative,
                EventStatus::Cancelled,
            ][..],
        ),
    )
        .prop_map(
            |((id, schedule), summary, description, location, status)| OverrideSpec {
                id,
                schedule,
                summary,
                description,
                location,
                status,
            },
        )
        .boxed()
}

/// Everything an event is built from, kept so that the same event can be built
/// again with another organizer (the one the message names).
#[derive(Clone, Debug)]
pub(crate) struct EventSpec {
    pub(crate) summary: String,
    pub(crate) description: Option<String>,
    pub(crate) location: Option<String>,
    pub(crate) url: Option<String>,
    pub(crate) schedule: Schedule,
    pub(crate) rule: Option<RecurrenceRule>,
    pub(crate) rdates: Vec<OccurrenceId>,
    pub(crate) exdates: Vec<OccurrenceId>,
    pub(crate) overrides: Vec<OverrideSpec>,
    pub(crate) organizer_name: Option<String>,
    pub(crate) status: EventStatus,
}

impl EventSpec {
    pub(crate) fn is_recurring(&self) -> bool {
        self.rule.is_some() || !self.rdates.is_empty()
    }

    /// Builds the event through the public builder.
    pub(crate) fn build(
        &self,
        code: EventCode,
        organizer: EmailAddress,
        organizer_name: Option<&str>,
    ) -> Result<Event, EventError> {
        let mut b = Event::builder(code)
            .summary(self.summary.as_str())
            .schedule(self.schedule)
            .organizer(organizer, organizer_name)
            .status(self.status);
        if let Some(d) = &self.description {
            b = b.description(d.as_str());
        }
        if let Some(l) = &self.location {
            b = b.location(l.as_str());
        }
        if let Some(u) = &self.url {
            b = b.url(u.as_str());
        }
        if self.is_recurring() || !self.exdates.is_empty() {
            let r = match &self.rule {
                Some(rule) => Recurrence::rule(rule.clone()),
                None => Recurrence::default(),
            };
            b = b.recurrence(
                r.with_dates(self.rdates.iter().copied())
                    .with_exceptions(self.exdates.iter().copied()),
            );
        }
        for o in &self.overrides {
            b = b.override_instance(o.to_override());
        }
        b.build()
    }
}

fn url() -> BoxedStrategy<String> {
    (
        select(&["https", "http", "HTTPS"][..]),
        "[a-z0-9]{1,12}(\\.[a-z0-9-]{1,10}){1,3}",
        "(/[A-Za-z0-9._~!$&'()*+,;=:@%-]{0,20}){0,6}",
        proptest::option::of("[A-Za-z0-9=&,;:/?-]{0,60}"),
    )
        .prop_map(|(scheme, host, path, query)| {
            let mut u = format!("{scheme}://{host}{path}");
            if let Some(q) = query {
                u.push('?');
                u.push_str(&q);
            }
            u
        })
        .boxed()
}

/// A whole event: timed or all-day, one-off or recurring (rule and/or extra
/// dates, exceptions, overridden instances).
pub(crate) fn event_spec(statuses: &'static [EventStatus]) -> BoxedStrategy<EventSpec> {
    let schedule = prop_oneof![3 => timed_schedule(), 2 => all_day_schedule()];
    (schedule, 0u8..4)
        .prop_flat_map(move |(schedule, shape)| {
            // shape: 0 one-off, 1 rule, 2 extra dates only, 3 rule + extra dates.
            let all_day = schedule.is_all_day();
            let rule = if shape % 2 == 1 {
                rule(all_day).prop_map(Some).boxed()
            } else {
                Just(None).boxed()
            };
            let rdates = if shape >= 2 {
                proptest::collection::vec(occurrence(schedule), 1..4).boxed()
            } else {
                Just(Vec::new()).boxed()
            };
            let exdates = if shape > 0 {
                proptest::collection::vec(occurrence(schedule), 0..4).boxed()
            } else {
                Just(Vec::new()).boxed()
            };
            let overrides = if shape > 0 {
                proptest::collection::vec(override_spec(schedule), 0..3)
                    .prop_map(|mut v| {
                        v.sort_by_key(|o| o.id);
                        v.dedup_by_key(|o| o.id);
                        v
                    })
                    .boxed()
            } else {
                Just(Vec::new()).boxed()
            };
            (
                summary_text(),
                proptest::option::of(nasty_text()),
                proptest::option::of(nasty_text()),
                proptest::option::weighted(0.4, url()),
                rule,
                rdates,
                exdates,
                overrides,
                proptest::option::of(name_text()),
                select(statuses),
            )
                .prop_map(
                    move |(
                        summary,
                        description,
                        location,
                        url,
                        rule,
                        rdates,
                        exdates,
                        overrides,
                        organizer_name,
                        status,
                    )| EventSpec {
                        summary,
                        description,
                        location,
                        url,
                        schedule,
                        rule,
                        rdates,
                        exdates,
                        overrides,
                        organizer_name,
                        status,
                    },
                )
        })
        .boxed()
}

/// Statuses an event may have when invitations are sent.
pub(crate) const SENDABLE: &[EventStatus] = &[EventStatus::Confirmed, EventStatus::Tentative];
/// Every status (a cancelled event can still be sent a cancellation).
pub(crate) const ANY_STATUS: &[EventStatus] = &[
    EventStatus::Confirmed,
    EventStatus::Tentative,
    EventStatus::Cancelled,
];

/// How the composer is configured.
#[derive(Clone, Debug)]
pub(crate) struct OptionsSpec {
    pub(crate) product_id: Option<String>,
    pub(crate) links_base: Option<String>,
    pub(crate) list_unsubscribe: bool,
    pub(crate) unsubscribe_mailto: Option<EmailAddress>,
}

fn options_spec() -> BoxedStrategy<OptionsSpec> {
    (
        proptest::option::weighted(0.3, nasty_text()),
        proptest::option::weighted(0.7, url()),
        proptest::bool::weighted(0.7),
        proptest::option::weighted(0.6, address()),
    )
        .prop_map(
            |(product_id, links_base, list_unsubscribe, unsubscribe_mailto)| OptionsSpec {
                product_id,
                links_base,
                list_unsubscribe,
                unsubscribe_mailto,
            },
        )
        .boxed()
}

/// One message to compose: who sends what to whom, when.
#[derive(Clone, Debug)]
pub(crate) struct Scenario {
    pub(crate) spec: EventSpec,
    pub(crate) organizer: EmailAddress,
    pub(crate) sender: EmailAddress,
    pub(crate) sender_name: Option<String>,
    pub(crate) recipient: EmailAddress,
    pub(crate) recipient_name: Option<String>,
    pub(crate) language: Option<&'static str>,
    pub(crate) seed: u64,
    pub(crate) sequence: u64,
    pub(crate) now: DateTime<Utc>,
    pub(crate) options: OptionsSpec,
}

pub(crate) fn scenario(statuses: &'static [EventStatus]) -> BoxedStrategy<Scenario> {
    (
        event_spec(statuses),
        (address(), address(), address()),
        (
            proptest::option::of(name_text()),
            proptest::option::of(name_text()),
            proptest::option::of(select(&["en", "pt-BR", "zh-Hant-TW", "de", "he"][..])),
        ),
        (
            any::<u64>(),
            prop_oneof![3 => 0u64..10, 1 => any::<u64>()],
            instant(),
        ),
        options_spec(),
    )
        .prop_filter(
            "recipient is the organizer or the sender",
            |(_, (organizer, sender, recipient), ..)| recipient != organizer && recipient != sender,
        )
        .prop_map(
            |(
                spec,
                (organizer, sender, recipient),
                (sender_name, recipient_name, language),
                (seed, sequence, now),
                options,
            )| Scenario {
                spec,
                organizer,
                sender,
                sender_name,
                recipient,
                recipient_name,
                language,
                seed,
                sequence,
                now,
                options,
            },
        )
        .boxed()
}

impl Scenario {
    fn ids(&self) -> (EventCode, InvitationToken) {
        let ids = SequentialIds::new(self.seed);
        let code = EventCode::generate(&ids);
        let token = InvitationToken::generate(&ids);
        (code, token)
    }

    pub(crate) fn code(&self) -> EventCode {
        self.ids().0
    }

    pub(crate) fn event(&self) -> Event {
        self.spec
            .build(
                self.code(),
                self.organizer.clone(),
                self.spec.organizer_name.as_deref(),
            )
            .expect("generated events are valid")
    }

    pub(crate) fn revision(&self) -> EventRevision {
        EventRevision::new(self.event(), Sequence::new(self.sequence))
    }

    pub(crate) fn sender_identity(&self) -> SenderIdentity {
        SenderIdentity::new(self.sender.clone(), self.sender_name.as_deref())
    }

    pub(crate) fn recipient(&self) -> Recipient {
        let mut r = Recipient::new(self.recipient.clone());
        if let Some(n) = &self.recipient_name {
            r = r.with_name(n);
        }
        if let Some(l) = self.language {
            r = r.with_language(LanguageTag::parse(l).expect("a valid tag"));
        }
        r
    }

    pub(crate) fn uid(&self) -> InvitationUid {
        let (code, token) = self.ids();
        InvitationUid::new(code, token, self.sender.domain()).expect("an address domain")
    }

    pub(crate) fn links_base(&self) -> Option<WebUrl> {
        self.options
            .links_base
            .as_deref()
            .map(|u| WebUrl::parse(u).expect("generated URLs are valid"))
    }

    /// The composer, with a template that records what it rendered.
    pub(crate) fn composer(&self) -> (Composer, Arc<RecordingTemplate>) {
        let template = Arc::new(RecordingTemplate::default());
        let mut options =
            ComposeOptions::new().template(Arc::clone(&template) as Arc<dyn Template>);
        if let Some(p) = &self.options.product_id {
            options = options.product_id(p.as_str());
        }
        if let Some(base) = self.links_base() {
            options = options.links_base(base);
        }
        options = options.list_unsubscribe(self.options.list_unsubscribe);
        if let Some(m) = &self.options.unsubscribe_mailto {
            options = options.unsubscribe_mailto(m.clone());
        }
        (Composer::new(self.sender_identity(), options), template)
    }

    /// The product id the composer writes.
    pub(crate) fn product_id(&self) -> String {
        let p: Option<String> = self
            .options
            .product_id
            .as_ref()
            .map(|p| p.chars().filter(|c| !c.is_control()).collect());
        match p {
            Some(p) if !p.trim().is_empty() => p,
            _ => calinvite_core::DEFAULT_PRODUCT_ID.to_string(),
        }
    }

    /// The organizer name the message shows: the event organizer's, else the
    /// sender identity's display name.
    pub(crate) fn shown_organizer_name(&self) -> Option<String> {
        let event = self.event();
        event
            .organizer()
            .name()
            .or(self.sender_identity().mailbox().name())
            .map(|n| n.as_str().to_string())
    }

    /// The event as the message describes it: organized by the sender mailbox
    /// under the shown name ([D1](calinvite_core::manual::design#d1)).
    pub(crate) fn event_as_sent(&self) -> Event {
        self.spec
            .build(
                self.code(),
                self.sender.clone(),
                self.shown_organizer_name().as_deref(),
            )
            .expect("generated events are valid")
    }
}
