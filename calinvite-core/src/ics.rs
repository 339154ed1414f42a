//! The iCalendar writer (RFC 5545) for outgoing iTIP objects.
//!
//! Every logical line is assembled whole, then folded: at most 75 octets per
//! physical line, CRLF endings, never inside a UTF-8 sequence or a backslash
//! escape ([interop rule 4](crate::manual::interop#rule-4)). TEXT values are
//! escaped; parameter values are quoted when they need it. No control character
//! reaches the output: the model has already removed them from every input, and
//! the folder drops any that slipped through rather than let one start a new
//! line.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike, Utc};

use crate::event::Event;
use crate::ids::InvitationUid;
use crate::revision::EventRevision;
use crate::text::{Name, Text};
use crate::time::{OccurrenceId, Schedule, TimeZone, ZonedDateTime, end_of_span};
use crate::{EmailAddress, ParticipationStatus};

/// Most octets on one physical line, CRLF not counted (RFC 5545 §3.1).
pub const MAX_LINE_OCTETS: usize = 75;

/// iTIP methods calinvite sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum Method {
    /// An invitation or an update.
    Request,
    /// A cancellation.
    Cancel,
}

impl Method {
    /// The iCalendar keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Request => "REQUEST",
            Method::Cancel => "CANCEL",
        }
    }
}

/// Writes content lines into a buffer.
pub(crate) struct IcsWriter {
    out: Vec<u8>,
    line: Vec<u8>,
}

impl IcsWriter {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        IcsWriter {
            out: Vec::with_capacity(capacity),
            line: Vec::with_capacity(256),
        }
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.out
    }

    /// Starts a property.
    fn name(&mut self, name: &str) -> &mut Self {
        self.line.clear();
        self.line.extend_from_slice(name.as_bytes());
        self
    }

    /// Adds a parameter; the value is quoted when it holds `;`, `:` or `,`.
    fn param(&mut self, name: &str, value: &str) -> &mut Self {
        self.line.push(b';');
        self.line.extend_from_slice(name.as_bytes());
        self.line.push(b'=');
        let needs_quotes = value.bytes().any(|b| matches!(b, b';' | b':' | b','));
        if needs_quotes {
            self.line.push(b'"');
        }
        for c in value.chars() {
            match c {
                // A parameter value can hold no DQUOTE and no control character
                // (RFC 5545 §3.1); the model has removed them, this is the backstop.
                '"' => self.line.push(b'\''),
                // RFC 6868: a caret is written doubled, so that `^n` or `^'` in
                // a name is never read back as a newline or a quote.
                '^' => self.line.extend_from_slice(b"^^"),
                c if c.is_control() => self.line.push(b' '),
                c => {
                    let mut buf = [0u8; 4];
                    self.line
                        .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        if needs_quotes {
            self.line.push(b'"');
        }
        self
    }

    /// Ends the property with a value written as is (keywords, dates, URIs the
    /// model has checked), and writes the line.
    fn raw(&mut self, value: &str) {
        self.line.push(b':');
        self.line.extend_from_slice(value.as_bytes());
        self.flush_line();
    }

    /// Ends the property with a TEXT value, escaped (RFC 5545 §3.3.11).
    fn text(&mut self, value: &str) {
        self.line.push(b':');
        let bytes = value.as_bytes();
        let mut run = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let escaped: &[u8] = match b {
                b'\\' => b"\\\\",
                b';' => b"\\;",
                b',' => b"\\,",
                b'\n' => b"\\n",
                _ => continue,
            };
            self.line.extend_from_slice(&bytes[run..i]);
            self.line.extend_from_slice(escaped);
            run = i + 1;
        }
        self.line.extend_from_slice(&bytes[run..]);
        self.flush_line();
    }

    /// Writes a whole line that needs no escaping (BEGIN, END, fixed keywords).
    fn line(&mut self, line: &str) {
        self.name(line);
        self.flush_line();
    }

    /// Folds the assembled line into the output.
    fn flush_line(&mut self) {
        fold_into(&self.line, &mut self.out);
    }

    /// Appends lines that are already folded (VTIMEZONE blocks).
    fn folded(&mut self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
    }
}

/// Folds one logical line into `out` with its CRLF.
pub(crate) fn fold_into(line: &[u8], out: &mut Vec<u8>) {
    if line.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return fold_dropping_controls(line, out);
    }
    out.reserve(line.len() + line.len() / 64 * 3 + 2);
    let mut start = 0;
    let mut room = MAX_LINE_OCTETS;
    while line.len() - start > room {
        // The last unit boundary that fits; the physical line is copied whole.
        // Back off UTF-8 continuation octets to the start of a character…
        let mut cut = start + room;
        while cut > start && (0x80..0xC0).contains(&line[cut]) {
            cut -= 1;
        }
        // …and off a backslash that escapes it. A maximal run of backslashes
        // inside the line starts at a unit boundary (they pair left to right),
        // so an odd run ending here means its last one starts an escape.
        let run = line[start..cut]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        if run % 2 == 1 {
            cut -= 1;
        }
        out.extend_from_slice(&line[start..cut]);
        out.extend_from_slice(b"\r\n ");
        start = cut;
        room = MAX_LINE_OCTETS - 1;
    }
    out.extend_from_slice(&line[start..]);
    out.extend_from_slice(b"\r\n");
}

/// One unbreakable unit at `i`: a whole UTF-8 sequence, or a backslash with
/// the whole character after it.
fn unit_len(line: &[u8], i: usize) -> usize {
    let b = line[i];
    let unit = match line.get(i + 1) {
        Some(&next) if b == b'\\' && next >= 0x20 && next != 0x7f => 1 + utf8_len(next),
        _ => utf8_len(b),
    };
    unit.min(line.len() - i)
}

/// The careful path, for a line that somehow holds a control octet: each is
/// dropped, so none can start a new line.
fn fold_dropping_controls(line: &[u8], out: &mut Vec<u8>) {
    let mut used = 0;
    let mut i = 0;
    while i < line.len() {
        let b = line[i];
        if b < 0x20 || b == 0x7f {
            i += 1;
            continue;
        }
        let unit = unit_len(line, i);
        if used + unit > MAX_LINE_OCTETS {
            out.extend_from_slice(b"\r\n ");
            used = 1;
        }
        out.extend_from_slice(&line[i..i + unit]);
        used += unit;
        i += unit;
    }
    out.extend_from_slice(b"\r\n");
}

/// Octets in the UTF-8 sequence that `lead` starts (1 for anything else).
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    }
}

/// `YYYYMMDDTHHMMSS`, written by hand: this runs for every date of every message.
pub(crate) fn format_local(t: NaiveDateTime) -> String {
    let mut s = String::with_capacity(16);
    push_date(&mut s, t.date());
    s.push('T');
    for v in [t.hour(), t.minute(), t.second()] {
        push_2(&mut s, v);
    }
    s
}

fn push_2(s: &mut String, v: u32) {
    s.push(char::from(b'0' + (v / 10 % 10) as u8));
    s.push(char::from(b'0' + (v % 10) as u8));
}

fn push_date(s: &mut String, d: NaiveDate) {
    let y = d.year();
    if (0..=9999).contains(&y) {
        push_2(s, (y / 100) as u32);
        push_2(s, (y % 100) as u32);
    } else {
        s.push_str(&format!("{y:04}"));
    }
    push_2(s, d.month());
    push_2(s, d.day());
}

fn format_utc(t: DateTime<Utc>) -> String {
    let mut s = format_local(t.naive_utc());
    s.push('Z');
    s
}

fn format_date(d: NaiveDate) -> String {
    let mut s = String::with_capacity(8);
    push_date(&mut s, d);
    s
}

impl IcsWriter {
    fn date_time(&mut self, name: &str, t: &ZonedDateTime) {
        self.name(name);
        if t.zone().is_utc() {
            self.raw(&format_utc(t.instant()));
        } else {
            self.param("TZID", t.zone().name());
            self.raw(&format_local(t.local()));
        }
    }

    fn date(&mut self, name: &str, d: NaiveDate) {
        self.name(name).param("VALUE", "DATE");
        self.raw(&format_date(d));
    }

    fn schedule(&mut self, schedule: &Schedule) {
        match schedule {
            Schedule::Timed { start, end } => {
                self.date_time("DTSTART", start);
                self.date_time("DTEND", end);
            }
            Schedule::AllDay { start, end } => {
                self.date("DTSTART", *start);
                self.date("DTEND", *end);
            }
        }
    }

    /// Writes occurrences (RDATE, EXDATE, RECURRENCE-ID) in the zone of the
    /// event's start, so that every instance of the event speaks one zone; in
    /// UTC when one of them falls in the second of two equal wall-clock hours
    /// (a local time there would mean the first).
    fn occurrences(&mut self, name: &str, ids: &[OccurrenceId], master: &Schedule) {
        if ids.is_empty() {
            return;
        }
        let shown_in = |z: TimeZone| {
            ids.iter().all(|id| match id {
                OccurrenceId::At(t) => ZonedDateTime::from_instant(*t, z).zone() == z,
                OccurrenceId::On(_) => true,
            })
        };
        let zone = master
            .start_zone()
            .map(|z| if shown_in(z) { z } else { TimeZone::UTC });
        self.name(name);
        let mut value = String::with_capacity(ids.len() * 17);
        match (ids[0], zone) {
            (OccurrenceId::On(_), _) | (_, None) => {
                self.param("VALUE", "DATE");
            }
            (OccurrenceId::At(_), Some(z)) if !z.is_utc() => {
                self.param("TZID", z.name());
            }
            _ => {}
        }
        for (n, id) in ids.iter().enumerate() {
            if n > 0 {
                value.push(',');
            }
            value.push_str(&occurrence_value(id, zone));
        }
        self.raw(&value);
    }

    fn organizer(&mut self, name: Option<&Name>, address: &EmailAddress) {
        self.name("ORGANIZER");
        if let Some(n) = name {
            self.param("CN", n.as_str());
        }
        self.raw(&mailto(address));
    }

    fn optional_text(&mut self, name: &str, value: Option<&Text>) {
        // Some parsers reject a property with an empty value: write none at all.
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            self.name(name);
            self.text(v.as_str());
        }
    }
}

fn occurrence_value(id: &OccurrenceId, zone: Option<TimeZone>) -> String {
    match (id, zone) {
        (OccurrenceId::On(d), _) => format_date(*d),
        (OccurrenceId::At(t), Some(z)) if !z.is_utc() => ZonedDateTime::from_instant(*t, z)
            .local()
            .format("%Y%m%dT%H%M%S")
            .to_string(),
        (OccurrenceId::At(t), _) => format_utc(*t),
    }
}

fn mailto(address: &EmailAddress) -> String {
    address.mailto_uri()
}

/// What one calendar object is for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum CalendarKind<'a> {
    Request,
    Cancel,
    CancelInstance(&'a OccurrenceId),
}

/// Everything that varies per recipient.
pub(crate) struct Addressing<'a> {
    pub(crate) uid: &'a InvitationUid,
    pub(crate) organizer_name: Option<&'a Name>,
    pub(crate) organizer_address: &'a EmailAddress,
    pub(crate) attendee_name: Option<&'a Name>,
    pub(crate) attendee_address: &'a EmailAddress,
    pub(crate) partstat: ParticipationStatus,
    pub(crate) dtstamp: DateTime<Utc>,
    pub(crate) product_id: &'a str,
}

/// Writes the whole calendar object for one recipient.
pub(crate) fn write_calendar(
    revision: &EventRevision,
    kind: CalendarKind<'_>,
    to: &Addressing<'_>,
) -> Vec<u8> {
    let event = revision.event();
    let mut w = IcsWriter::with_capacity(
        1024 + revision.prepared().vtimezones.len() + revision.prepared().master.len(),
    );
    let method = match kind {
        CalendarKind::Request => Method::Request,
        _ => Method::Cancel,
    };
    w.line("BEGIN:VCALENDAR");
    w.name("PRODID");
    w.text(to.product_id);
    w.line("VERSION:2.0");
    w.line("CALSCALE:GREGORIAN");
    w.name("METHOD");
    w.raw(method.as_str());
    w.folded(&revision.prepared().vtimezones);

    let uid = to.uid.to_string();
    let dtstamp = format_utc(to.dtstamp);
    let sequence = revision.sequence().get().to_string();
    let common = |w: &mut IcsWriter| {
        w.name("UID");
        w.raw(&uid);
        w.name("DTSTAMP");
        w.raw(&dtstamp);
        w.name("SEQUENCE");
        w.raw(&sequence);
    };
    let people = |w: &mut IcsWriter, rsvp: bool| {
        w.organizer(to.organizer_name, to.organizer_address);
        w.name("ATTENDEE");
        if let Some(n) = to.attendee_name {
            w.param("CN", n.as_str());
        }
        w.param("CUTYPE", "INDIVIDUAL");
        w.param("ROLE", "REQ-PARTICIPANT");
        if rsvp {
            w.param("PARTSTAT", to.partstat.as_str());
            w.param("RSVP", "TRUE");
        }
        w.raw(&mailto(to.attendee_address));
    };

    match kind {
        CalendarKind::Request | CalendarKind::Cancel => {
            let cancel = matches!(kind, CalendarKind::Cancel);
            let prepared = revision.prepared();
            w.line("BEGIN:VEVENT");
            common(&mut w);
            w.folded(&prepared.master);
            w.name("STATUS");
            w.raw(if cancel {
                "CANCELLED"
            } else {
                event.status().as_str()
            });
            people(&mut w, !cancel);
            w.line("END:VEVENT");
            if !cancel {
                for body in &prepared.overrides {
                    w.line("BEGIN:VEVENT");
                    common(&mut w);
                    w.folded(body);
                    people(&mut w, true);
                    w.line("END:VEVENT");
                }
            }
        }
        CalendarKind::CancelInstance(id) => {
            let instance = event.overrides().iter().find(|o| o.id() == *id);
            let schedule = match instance {
                Some(o) => *o.schedule(),
                None => instance_schedule(event.schedule(), id),
            };
            w.line("BEGIN:VEVENT");
            common(&mut w);
            w.occurrences("RECURRENCE-ID", std::slice::from_ref(id), event.schedule());
            w.schedule(&schedule);
            w.name("SUMMARY");
            w.text(
                instance
                    .and_then(|o| o.summary_text())
                    .unwrap_or(event.summary())
                    .as_str(),
            );
            w.optional_text(
                "LOCATION",
                instance.map_or(event.location(), |o| o.location_text()),
            );
            w.name("STATUS");
            w.raw("CANCELLED");
            people(&mut w, false);
            w.line("END:VEVENT");
        }
    }
    w.line("END:VCALENDAR");
    w.into_bytes()
}

fn write_recurrence(w: &mut IcsWriter, event: &Event) {
    let Some(r) = event.recurrence() else { return };
    if let Some(rule) = r.recurrence_rule() {
        w.name("RRULE");
        w.raw(&rule.to_string());
    }
    w.occurrences("RDATE", r.dates(), event.schedule());
    w.occurrences("EXDATE", r.exceptions(), event.schedule());
}

/// What every message of a revision shares, written once when the revision
/// is made: the VTIMEZONE components, the master VEVENT's lines from DTSTART
/// to URL, and each overridden instance's lines from RECURRENCE-ID to STATUS.
/// Per message only UID, DTSTAMP, SEQUENCE, STATUS, ORGANIZER and ATTENDEE
/// are written.
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    pub(crate) vtimezones: String,
    pub(crate) master: String,
    pub(crate) overrides: Vec<String>,
}

pub(crate) fn prepare(event: &Event) -> Prepared {
    let text = |w: IcsWriter| String::from_utf8(w.into_bytes()).unwrap_or_default();
    let mut w = IcsWriter::with_capacity(1024);
    w.schedule(event.schedule());
    write_recurrence(&mut w, event);
    w.name("SUMMARY");
    w.text(event.summary().as_str());
    w.optional_text("DESCRIPTION", event.description());
    w.optional_text("LOCATION", event.location());
    if let Some(url) = event.url() {
        w.name("URL");
        w.raw(url.as_str());
    }
    let master = text(w);
    let overrides = event
        .overrides()
        .iter()
        .map(|o| {
            let mut w = IcsWriter::with_capacity(512);
            w.occurrences(
                "RECURRENCE-ID",
                std::slice::from_ref(&o.id()),
                event.schedule(),
            );
            w.schedule(o.schedule());
            w.name("SUMMARY");
            w.text(o.summary_text().unwrap_or(event.summary()).as_str());
            w.optional_text("DESCRIPTION", o.description_text());
            w.optional_text("LOCATION", o.location_text());
            if let Some(url) = event.url() {
                w.name("URL");
                w.raw(url.as_str());
            }
            w.name("STATUS");
            w.raw(o.status_value().as_str());
            text(w)
        })
        .collect();
    Prepared {
        vtimezones: vtimezones(event),
        master,
        overrides,
    }
}

/// The time of an occurrence that follows the rule: its id is its start, and it
/// lasts as long as the first occurrence.
pub(crate) fn instance_schedule(master: &Schedule, id: &OccurrenceId) -> Schedule {
    match (master, id) {
        (Schedule::Timed { start, end }, OccurrenceId::At(t)) => {
            let s = ZonedDateTime::from_instant(*t, start.zone());
            let e =
                ZonedDateTime::from_instant(end_of_span(*t, master.duration_seconds()), end.zone());
            Schedule::Timed { start: s, end: e }
        }
        (Schedule::AllDay { start, end }, OccurrenceId::On(d)) => {
            let days = (*end - *start).num_days();
            Schedule::AllDay {
                start: *d,
                end: d
                    .checked_add_days(chrono::Days::new(days.max(1) as u64))
                    .unwrap_or(*d),
            }
        }
        // Mismatched kinds are refused before this is reached.
        _ => *master,
    }
}

/// The VTIMEZONE components for every zone the event uses, generated from the
/// tz database over the years the event covers. Deterministic: the range comes
/// from the event, never from the clock.
pub(crate) fn vtimezones(event: &Event) -> String {
    use crate::time::{start_of_year, year_of};
    use calcard::icalendar::ICalendar;

    let zones = event.zones();
    if zones.is_empty() {
        return String::new();
    }
    let (lo, hi) = event.covered_span();
    let first_year = year_of(lo);
    // Cover at least three years so that each zone's rules compress into RRULE form.
    let last_year = year_of(hi).max(first_year + 2);
    let from = start_of_year(first_year) - 86_400;
    let to = start_of_year(last_year + 1);
    let Ok(mut cal) = ICalendar::parse("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n") else {
        return String::new();
    };
    for z in &zones {
        cal.add_timezone(z.name(), from, to);
    }
    let text = cal.to_string();
    match (
        text.find("BEGIN:VTIMEZONE"),
        text.rfind("END:VTIMEZONE\r\n"),
    ) {
        (Some(a), Some(b)) => text[a..b + "END:VTIMEZONE\r\n".len()].to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(s: &str) -> String {
        let mut out = Vec::new();
        fold_into(s.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn folds_at_75_octets_with_crlf_space() {
        let line = format!("DESCRIPTION:{}", "a".repeat(200));
        let folded = fold(&line);
        for physical in folded.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(physical.len() <= 75, "{physical:?}");
        }
        assert_eq!(folded.replace("\r\n ", ""), format!("{line}\r\n"));
    }

    #[test]
    fn never_folds_inside_utf8_or_an_escape() {
        let line = format!("SUMMARY:{}🎉\\n東京", "x".repeat(64));
        let folded = fold(&line);
        let lines: Vec<&str> = folded.split("\r\n").collect();
        assert_eq!(lines[0], format!("SUMMARY:{}", "x".repeat(64)));
        assert_eq!(lines[1], " 🎉\\n東京");
        let line = format!("SUMMARY:{}\\n", "x".repeat(66));
        assert_eq!(
            fold(&line),
            format!("SUMMARY:{}\r\n \\n\r\n", "x".repeat(66))
        );
    }

    proptest::proptest! {
        /// The fast fold (whole physical lines, O(1) cuts) and the careful
        /// one (unit by unit) agree on every line without control octets.
        #[test]
        fn fast_and_careful_folds_agree(parts in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::strategy::Just("\\\\".to_string()),
                proptest::strategy::Just("\\,".to_string()),
                proptest::strategy::Just("\\n".to_string()),
                proptest::strategy::Just("\\é".to_string()),
                proptest::strategy::Just("🎉".to_string()),
                proptest::strategy::Just("東".to_string()),
                "[a-z ]{0,5}",
            ],
            0..80,
        )) {
            let line = format!("DESCRIPTION:{}", parts.concat());
            let (mut fast, mut careful) = (Vec::new(), Vec::new());
            fold_into(line.as_bytes(), &mut fast);
            fold_dropping_controls(line.as_bytes(), &mut careful);
            proptest::prop_assert_eq!(String::from_utf8_lossy(&fast), String::from_utf8_lossy(&careful));
        }
    }

    #[test]
    fn control_octets_never_pass() {
        assert_eq!(fold("SUMMARY:a\r\nATTENDEE:x"), "SUMMARY:aATTENDEE:x\r\n");
        assert_eq!(fold("SUMMARY:a\\\r\nB"), "SUMMARY:a\\B\r\n");
    }

    #[test]
    fn never_folds_between_a_backslash_and_a_multibyte_character() {
        // A raw backslash (in a parameter value) before a character of 2, 3, 4 octets.
        for c in ["é", "東", "🎉"] {
            for pad in 60..76 {
                let line = format!("ATTENDEE;CN={}\\{c}:mailto:a@example.org", "x".repeat(pad));
                let folded = fold(&line);
                for physical in folded.split("\r\n") {
                    assert!(physical.len() <= 75, "{physical:?}");
                    assert!(!physical.ends_with('\\'), "{physical:?}");
                }
                assert_eq!(folded.replace("\r\n ", ""), format!("{line}\r\n"));
            }
        }
    }

    #[test]
    fn text_and_parameters_are_escaped() {
        let mut w = IcsWriter::with_capacity(64);
        w.name("LOCATION");
        w.text("Sala 1; piso 2, \\ norte\nfin");
        w.name("ATTENDEE").param("CN", "Smith, \"John\"");
        w.raw("mailto:j@example.org");
        assert_eq!(
            String::from_utf8(w.into_bytes()).unwrap(),
            "LOCATION:Sala 1\\; piso 2\\, \\\\ norte\\nfin\r\nATTENDEE;CN=\"Smith, 'John'\":mailto:j@example.org\r\n"
        );
        let mut w = IcsWriter::with_capacity(64);
        w.name("ATTENDEE").param("CN", "a^nb ^'c^");
        w.raw("mailto:j@example.org");
        assert_eq!(
            String::from_utf8(w.into_bytes()).unwrap(),
            "ATTENDEE;CN=a^^nb ^^'c^^:mailto:j@example.org\r\n"
        );
    }
}
