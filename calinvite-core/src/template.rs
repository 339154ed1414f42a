//! Subject and body text of outgoing messages.
//!
//! The words people read come from a [`Template`]. calinvite ships a plain
//! English one, [`DefaultTemplate`]; an OEM replaces it with its own (its brand,
//! its languages: [`TemplateContext::recipient`] carries the recipient's
//! preferred language). Whatever a template returns is only text: the composer
//! encodes it, so no template can break the message's structure.

use std::fmt::Write as _;

use chrono::NaiveDate;

use crate::event::{Event, Recipient};
use crate::ids::Sequence;
use crate::recurrence::{Frequency, Until};
use crate::time::{OccurrenceId, Schedule};

/// Which message is being written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum MessageKind {
    /// The first invitation a recipient gets.
    Invitation,
    /// A changed event, sent with a raised SEQUENCE.
    Update,
    /// The whole event is called off.
    Cancellation,
    /// One occurrence of a recurring event is called off.
    InstanceCancellation(OccurrenceId),
}

/// Web links a recipient can use when their calendar sends no reply
/// ([D11](crate::manual::design#d11)). Each leads to a page that asks for
/// confirmation: following a link changes nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_structs,
    reason = "one link per answer a recipient gives on the web: accept, decline, tentative"
)]
pub struct RsvpLinks {
    /// Yes.
    pub accept: String,
    /// No.
    pub decline: String,
    /// Maybe.
    pub tentative: String,
}

/// What a template may use.
#[derive(Debug)]
#[non_exhaustive]
pub struct TemplateContext<'a> {
    /// Which message this is.
    pub kind: MessageKind,
    /// The event.
    pub event: &'a Event,
    /// The SEQUENCE the message carries.
    pub sequence: Sequence,
    /// Who receives it.
    pub recipient: &'a Recipient,
    /// The name the organizer is shown by.
    pub organizer_name: &'a str,
    /// For an instance cancellation, the time of that occurrence.
    pub instance: Option<Schedule>,
    /// Web answer links, when the composer has a base URL.
    pub rsvp: Option<&'a RsvpLinks>,
    /// Unsubscribe link, for list sends.
    pub unsubscribe: Option<&'a str>,
}

/// The words of one message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_structs,
    reason = "a message's words are its subject, plain text and HTML; templates build it with a literal"
)]
pub struct RenderedText {
    /// Subject line (line breaks become spaces).
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body (a complete document or a fragment).
    pub html: String,
}

/// Turns a message's context into its words.
pub trait Template: Send + Sync {
    /// Writes subject and bodies.
    fn render(&self, ctx: &TemplateContext<'_>) -> RenderedText;
}

/// calinvite's built-in English wording.
#[derive(Clone, Copy, Debug, Default)]
#[allow(
    clippy::exhaustive_structs,
    reason = "a unit value with no settings: applications name it directly"
)]
pub struct DefaultTemplate;

/// Escapes text for HTML element content and attribute values.
///
/// ```
/// assert_eq!(calinvite_core::escape_html("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
/// ```
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    push_html(&mut out, s);
    out
}

fn push_html(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

fn long_date(d: NaiveDate) -> String {
    d.format("%A %-d %B %Y").to_string()
}

/// The time of a schedule in words, in the event's own zone:
/// `Thursday 3 December 2026, 18:00–20:00 (America/New_York)`.
pub fn describe_schedule(schedule: &Schedule) -> String {
    match schedule {
        Schedule::Timed { start, end } => {
            let (s, e) = (start.local(), end.local());
            let mut out = format!("{}, {}", long_date(s.date()), s.format("%H:%M"));
            if start.zone() != end.zone() {
                let _ = write!(
                    out,
                    " ({}) – {}, {} ({})",
                    start.zone(),
                    long_date(e.date()),
                    e.format("%H:%M"),
                    end.zone()
                );
            } else if s.date() == e.date() {
                let _ = write!(out, "–{} ({})", e.format("%H:%M"), start.zone());
            } else {
                let _ = write!(
                    out,
                    " – {}, {} ({})",
                    long_date(e.date()),
                    e.format("%H:%M"),
                    start.zone()
                );
            }
            out
        }
        Schedule::AllDay { start, end } => {
            let last = end.pred_opt().unwrap_or(*end);
            if last <= *start {
                format!("{} (all day)", long_date(*start))
            } else {
                format!("{} – {} (all day)", long_date(*start), long_date(last))
            }
        }
    }
}

/// A short form for subject lines: `Thu 3 Dec 2026 18:00 (America/New_York)`.
pub fn describe_start_short(schedule: &Schedule) -> String {
    match schedule {
        Schedule::Timed { start, .. } => {
            format!(
                "{} ({})",
                start.local().format("%a %-d %b %Y %H:%M"),
                start.zone()
            )
        }
        Schedule::AllDay { start, .. } => start.format("%a %-d %b %Y").to_string(),
    }
}

/// How the event repeats, in words: `Repeats every 2 weeks, 10 times`.
pub fn describe_recurrence(event: &Event) -> Option<String> {
    let r = event.recurrence()?;
    let mut out = String::from("Repeats");
    match r.recurrence_rule() {
        Some(rule) => {
            let unit = match rule.frequency() {
                Frequency::Secondly => "second",
                Frequency::Minutely => "minute",
                Frequency::Hourly => "hour",
                Frequency::Daily => "day",
                Frequency::Weekly => "week",
                Frequency::Monthly => "month",
                Frequency::Yearly => "year",
            };
            match rule.interval() {
                1 => {
                    let _ = write!(out, " every {unit}");
                }
                n => {
                    let _ = write!(out, " every {n} {unit}s");
                }
            }
            match (rule.count(), rule.until()) {
                (Some(n), _) => {
                    let _ = write!(out, ", {n} times");
                }
                (_, Some(Until::Date(d))) => {
                    let _ = write!(out, ", until {}", long_date(d));
                }
                (_, Some(Until::Instant(t))) => {
                    let _ = write!(out, ", until {}", long_date(t.date_naive()));
                }
                (_, Some(Until::Floating(t))) => {
                    let _ = write!(out, ", until {}", long_date(t.date()));
                }
                _ => {}
            }
        }
        None => out.push_str(" on other dates too"),
    }
    if !event.overrides().is_empty() {
        out.push_str("; some dates differ");
    }
    Some(out)
}

impl Template for DefaultTemplate {
    fn render(&self, ctx: &TemplateContext<'_>) -> RenderedText {
        let event = ctx.event;
        let summary = event.summary().single_line();
        let schedule = ctx.instance.as_ref().unwrap_or(event.schedule());
        let when = describe_schedule(schedule);
        let (subject_prefix, lead) = match ctx.kind {
            MessageKind::Invitation => ("Invitation", "invites you to"),
            MessageKind::Update => ("Updated invitation", "has updated"),
            MessageKind::Cancellation => ("Cancelled", "has cancelled"),
            MessageKind::InstanceCancellation(_) => ("Cancelled", "has cancelled one date of"),
            #[allow(unreachable_patterns)]
            _ => ("Invitation", "invites you to"),
        };
        let subject = format!(
            "{subject_prefix}: {summary} @ {}",
            describe_start_short(schedule)
        );
        let cancelled = matches!(
            ctx.kind,
            MessageKind::Cancellation | MessageKind::InstanceCancellation(_)
        );

        let mut rows: Vec<(&str, String)> = vec![("When", when)];
        if !cancelled && let Some(r) = describe_recurrence(event) {
            rows.push(("Repeats", r));
        }
        if let Some(l) = event.location() {
            rows.push(("Where", l.as_str().to_string()));
        }
        if let Some(u) = event.url() {
            rows.push(("Link", u.as_str().to_string()));
        }

        // Plain text.
        let mut text = String::with_capacity(1024);
        if let Some(n) = ctx.recipient.name() {
            let _ = writeln!(text, "Hello {n},\n");
        }
        let _ = writeln!(text, "{} {lead} \"{summary}\".\n", ctx.organizer_name);
        for (k, v) in &rows {
            let _ = writeln!(text, "{k}: {v}");
        }
        if let Some(d) = event.description() {
            let _ = write!(text, "\n{}\n", d.as_str());
        }
        if !cancelled {
            text.push_str("\nAnswer with the Yes / No / Maybe buttons in your calendar");
            match ctx.rsvp {
                Some(links) => {
                    let _ = write!(
                        text,
                        ", or here:\nYes: {}\nNo: {}\nMaybe: {}\n",
                        links.accept, links.decline, links.tentative
                    );
                }
                None => text.push_str(".\n"),
            }
        } else {
            text.push_str("\nYour calendar removes it when you open this message.\n");
        }
        if let Some(u) = ctx.unsubscribe {
            let _ = write!(text, "\nTo stop receiving invitations like this one: {u}\n");
        }

        // HTML.
        let mut html = String::with_capacity(2048);
        html.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
        push_html(&mut html, &subject);
        html.push_str("</title></head>\n<body style=\"font-family:Arial,Helvetica,sans-serif;color:#202124;\">\n");
        if let Some(n) = ctx.recipient.name() {
            html.push_str("<p>Hello ");
            push_html(&mut html, n.as_str());
            html.push_str(",</p>\n");
        }
        html.push_str("<p>");
        push_html(&mut html, ctx.organizer_name);
        let _ = write!(html, " {lead} <strong>");
        push_html(&mut html, &summary);
        html.push_str("</strong>.</p>\n<table cellpadding=\"4\">\n");
        for (k, v) in &rows {
            let _ = write!(html, "<tr><td><b>{k}</b></td><td>");
            if *k == "Link" {
                html.push_str("<a href=\"");
                push_html(&mut html, v);
                html.push_str("\">");
                push_html(&mut html, v);
                html.push_str("</a>");
            } else {
                push_html(&mut html, v);
            }
            html.push_str("</td></tr>\n");
        }
        html.push_str("</table>\n");
        if let Some(d) = event.description() {
            html.push_str("<p>");
            for (i, line) in d.as_str().split('\n').enumerate() {
                if i > 0 {
                    html.push_str("<br>\n");
                }
                push_html(&mut html, line);
            }
            html.push_str("</p>\n");
        }
        if !cancelled {
            match ctx.rsvp {
                Some(links) => {
                    html.push_str("<p>Going?</p>\n<p>");
                    for (label, url) in [
                        ("Yes", &links.accept),
                        ("No", &links.decline),
                        ("Maybe", &links.tentative),
                    ] {
                        html.push_str("<a href=\"");
                        push_html(&mut html, url);
                        let _ = write!(
                            html,
                            "\" style=\"display:inline-block;padding:8px 20px;margin-right:8px;border:1px solid #dadce0;border-radius:4px;color:#1a73e8;text-decoration:none;\">{label}</a>"
                        );
                    }
                    html.push_str("</p>\n");
                }
                None => html.push_str(
                    "<p>Answer with the Yes / No / Maybe buttons in your calendar.</p>\n",
                ),
            }
        } else {
            html.push_str("<p>Your calendar removes it when you open this message.</p>\n");
        }
        if let Some(u) = ctx.unsubscribe {
            html.push_str("<p style=\"font-size:12px;color:#5f6368;\"><a href=\"");
            push_html(&mut html, u);
            html.push_str("\">Stop receiving invitations like this one</a></p>\n");
        }
        html.push_str("</body></html>\n");

        RenderedText {
            subject,
            text,
            html,
        }
    }
}
