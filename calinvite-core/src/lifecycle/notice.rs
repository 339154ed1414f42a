//! Plain messages to organizers: "your event is live", "we could not take
//! your event because …", "someone proposes another time", and reports with a
//! CSV attachment. 7-bit, CRLF, quoted-printable text, like every message
//! calinvite writes.
//!
//! Their words come from a [`NoticeTemplate`], as the words of invitations
//! come from a [`Template`](crate::Template): [`DefaultNoticeTemplate`] is
//! English; an application that writes to its organizers in another language
//! sets its own in [`PipelineOptions`](super::PipelineOptions) or with
//! [`PipelineBuilder::notice_template`](super::PipelineBuilder::notice_template).
//! Whatever a template returns is only text: the notice writer encodes it.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::model::Refusal;
use super::report::Report;
use crate::address::EmailAddress;
use crate::event::Event;
use crate::mime::{HeaderWriter, base64_lines, quoted_printable, raw_header};

/// The words of one notice to an organizer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_structs,
    reason = "a notice's words are its subject and plain text; templates build it with a literal"
)]
pub struct NoticeText {
    /// Subject line (line breaks become spaces).
    pub subject: String,
    /// Plain-text body.
    pub body: String,
}

impl NoticeText {
    /// A notice with this subject and body.
    pub fn new(subject: impl Into<String>, body: impl Into<String>) -> Self {
        NoticeText {
            subject: subject.into(),
            body: body.into(),
        }
    }
}

/// What the "event created" notice may use: an event calinvite adopted from
/// the organizer's calendar.
#[derive(Debug)]
#[non_exhaustive]
pub struct CreatedNotice<'a> {
    /// The event as adopted (its code is [`Event::code`]).
    pub event: &'a Event,
    /// The mailbox the organizer keeps invited so that edits reach calinvite.
    pub ingest: &'a EmailAddress,
    /// The event's landing page, when the owner serves web pages.
    pub landing_page: Option<String>,
}

/// What the "could not take your event" notice may use.
#[derive(Debug)]
#[non_exhaustive]
pub struct RefusedNotice<'a> {
    /// Why (the reason is typed; the detail is for a person).
    pub refusal: &'a Refusal,
    /// The event's title as the organizer's message gave it, if it did.
    pub summary: Option<&'a str>,
}

/// What the "new time proposed" notice may use: a recipient's
/// counter-proposal.
#[derive(Debug)]
#[non_exhaustive]
pub struct CounterNotice<'a> {
    /// The event as it stands.
    pub event: &'a Event,
    /// Who proposes (the answering attendee, else the invited address).
    pub who: &'a str,
    /// The proposed start, in words, if given.
    pub proposed_start: Option<&'a str>,
    /// The proposed end, in words, if given.
    pub proposed_end: Option<&'a str>,
    /// The recipient's comment, if any.
    pub comment: Option<&'a str>,
}

/// What a mailed report may use (its CSV is attached whatever the words).
#[derive(Debug)]
#[non_exhaustive]
pub struct ReportNotice<'a> {
    /// The event reported on.
    pub event: &'a Event,
    /// The counts.
    pub report: &'a Report,
}

/// The words of the notices calinvite mails to organizers. Replace it to
/// write them in another language or your own voice.
///
/// ```
/// use calinvite_core::lifecycle::{
///     CounterNotice, CreatedNotice, DefaultNoticeTemplate, NoticeTemplate, NoticeText,
///     RefusedNotice, ReportNotice,
/// };
///
/// /// German words for the notices that matter here; English for the rest.
/// struct German;
///
/// impl NoticeTemplate for German {
///     fn created(&self, n: &CreatedNotice<'_>) -> NoticeText {
///         let code = n.event.code();
///         NoticeText::new(
///             format!("Veranstaltungscode {code}: \"{}\"", n.event.summary()),
///             format!("Ihre Veranstaltung ist bereit. Veranstaltungscode: {code}\n"),
///         )
///     }
///     fn refused(&self, n: &RefusedNotice<'_>) -> NoticeText {
///         DefaultNoticeTemplate.refused(n)
///     }
///     fn counter(&self, n: &CounterNotice<'_>) -> NoticeText {
///         DefaultNoticeTemplate.counter(n)
///     }
///     fn report(&self, n: &ReportNotice<'_>) -> NoticeText {
///         DefaultNoticeTemplate.report(n)
///     }
/// }
/// ```
pub trait NoticeTemplate: Send + Sync {
    /// An event from the organizer's calendar was adopted.
    fn created(&self, notice: &CreatedNotice<'_>) -> NoticeText;
    /// The organizer's message was not acted on.
    fn refused(&self, notice: &RefusedNotice<'_>) -> NoticeText;
    /// A recipient proposes another time.
    fn counter(&self, notice: &CounterNotice<'_>) -> NoticeText;
    /// A report on one event, mailed with its CSV.
    fn report(&self, notice: &ReportNotice<'_>) -> NoticeText;
}

/// calinvite's built-in English notices.
#[derive(Clone, Copy, Debug, Default)]
#[allow(clippy::exhaustive_structs, reason = "a unit type with no settings")]
pub struct DefaultNoticeTemplate;

impl NoticeTemplate for DefaultNoticeTemplate {
    fn created(&self, notice: &CreatedNotice<'_>) -> NoticeText {
        let event = notice.event;
        let code = event.code();
        let mut body = format!(
            "Your event \"{}\" is ready to be sent as calendar invitations.\n\n\
             Event code: {code}\n\n\
             What to do next:\n\
             - Send invitations through the API, a landing page, a call-to-action link or a\n\
             \x20 batch list, naming the event code {code}.\n\
             - Edit the event in your calendar as usual: people who answered Yes or Maybe\n\
             \x20 get the change (the rule can be changed). Delete it to cancel it for everyone.\n\
             - Keep {} invited to the event, or your changes will not reach calinvite.\n",
            event.summary(),
            notice.ingest
        );
        if let Some(page) = &notice.landing_page {
            let _ = write!(body, "\nLanding page: {page}\n");
        }
        NoticeText::new(format!("Event code {code}: \"{}\"", event.summary()), body)
    }

    fn refused(&self, notice: &RefusedNotice<'_>) -> NoticeText {
        let what = notice
            .summary
            .map_or_else(|| "your event".to_owned(), |s| format!("\"{s}\""));
        NoticeText::new(
            format!("calinvite could not take {what}"),
            format!(
                "calinvite received {what} but did not act on it.\n\nReason: {}\n{}\n\n\
                 Nothing was sent to anyone. Fix the cause and send or update the event again.\n",
                notice.refusal.reason, notice.refusal.detail
            ),
        )
    }

    fn counter(&self, notice: &CounterNotice<'_>) -> NoticeText {
        let event = notice.event;
        NoticeText::new(
            format!("New time proposed for \"{}\"", event.summary()),
            format!(
                "{} proposes another time for \"{}\" (event code {}).\n\n\
                 Proposed start: {}\nProposed end: {}\nComment: {}\n\n\
                 To accept, change the event in your calendar: the people it concerns get the update.\n",
                notice.who,
                event.summary(),
                event.code(),
                notice.proposed_start.unwrap_or("(not given)"),
                notice.proposed_end.unwrap_or("(not given)"),
                notice.comment.unwrap_or("(none)"),
            ),
        )
    }

    fn report(&self, notice: &ReportNotice<'_>) -> NoticeText {
        NoticeText::new(
            format!(
                "Report for \"{}\" ({})",
                notice.event.summary(),
                notice.event.code()
            ),
            notice.report.to_text(),
        )
    }
}

/// An attachment to a notice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Attachment {
    pub(crate) filename: String,
    pub(crate) content_type: &'static str,
    pub(crate) bytes: Vec<u8>,
}

/// Writes a notice from calinvite's mailbox `from` (shown as `from_name`) to `to`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_notice(
    from_name: &str,
    from: &EmailAddress,
    to: &EmailAddress,
    subject: &str,
    body: &str,
    attachment: Option<&Attachment>,
    message_id: &str,
    now: DateTime<Utc>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() * 2 + 1024);
    let name = crate::text::Name::new(from_name);
    HeaderWriter::new(&mut out, "From")
        .mailbox(name.as_ref(), from)
        .end();
    HeaderWriter::new(&mut out, "To").mailbox(None, to).end();
    HeaderWriter::new(&mut out, "Subject").text(subject).end();
    raw_header(&mut out, "Date", &crate::compose::rfc5322_date(now));
    HeaderWriter::new(&mut out, "Message-ID")
        .token(format!("<{message_id}>").as_bytes())
        .end();
    raw_header(&mut out, "MIME-Version", "1.0");
    // Notices are automatic: no vacation replies to them (RFC 3834).
    raw_header(&mut out, "Auto-Submitted", "auto-generated");
    match attachment {
        None => {
            raw_header(&mut out, "Content-Type", "text/plain; charset=UTF-8");
            raw_header(&mut out, "Content-Transfer-Encoding", "quoted-printable");
            out.extend_from_slice(b"\r\n");
            quoted_printable(body, &mut out);
        }
        Some(a) => {
            let boundary = format!("=_n.{}", message_id.split('@').next().unwrap_or("n"));
            raw_header(
                &mut out,
                "Content-Type",
                &format!("multipart/mixed;\r\n boundary=\"{boundary}\""),
            );
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            raw_header(&mut out, "Content-Type", "text/plain; charset=UTF-8");
            raw_header(&mut out, "Content-Transfer-Encoding", "quoted-printable");
            out.extend_from_slice(b"\r\n");
            quoted_printable(body, &mut out);
            out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            let file: String = a
                .filename
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .take(60)
                .collect();
            raw_header(
                &mut out,
                "Content-Type",
                &format!("{}; name=\"{file}\"", a.content_type),
            );
            raw_header(
                &mut out,
                "Content-Disposition",
                &format!("attachment; filename=\"{file}\""),
            );
            raw_header(&mut out, "Content-Transfer-Encoding", "base64");
            out.extend_from_slice(b"\r\n");
            base64_lines(&a.bytes, &mut out);
            out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Schedule;
    use crate::lifecycle::RefusalReason;

    fn launch() -> Event {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        Event::builder(crate::EventCode::parse("7k3m9qxv2c4d8fjr").unwrap())
            .summary("Launch")
            .schedule(Schedule::all_day(day, day).unwrap())
            .organizer(EmailAddress::parse("ana@example.com").unwrap(), None)
            .build()
            .unwrap()
    }

    #[test]
    fn the_english_created_notice() {
        let event = launch();
        let ingest = EmailAddress::parse("create@events.example.com").unwrap();
        let mut notice = CreatedNotice {
            event: &event,
            ingest: &ingest,
            landing_page: None,
        };
        let text = DefaultNoticeTemplate.created(&notice);
        assert_eq!(text.subject, "Event code 7k3m9qxv2c4d8fjr: \"Launch\"");
        let body = "Your event \"Launch\" is ready to be sent as calendar invitations.\n\n\
             Event code: 7k3m9qxv2c4d8fjr\n\n\
             What to do next:\n\
             - Send invitations through the API, a landing page, a call-to-action link or a\n  \
             batch list, naming the event code 7k3m9qxv2c4d8fjr.\n\
             - Edit the event in your calendar as usual: people who answered Yes or Maybe\n  \
             get the change (the rule can be changed). Delete it to cancel it for everyone.\n\
             - Keep create@events.example.com invited to the event, or your changes will not reach calinvite.\n";
        assert_eq!(text.body, body);
        notice.landing_page = Some("https://events.example.com/e/7k3m9qxv2c4d8fjr".into());
        let text = DefaultNoticeTemplate.created(&notice);
        assert_eq!(
            text.body,
            format!("{body}\nLanding page: https://events.example.com/e/7k3m9qxv2c4d8fjr\n")
        );
    }

    #[test]
    fn the_english_refused_notice() {
        let refusal = Refusal::new(RefusalReason::EventCancelled, "event x was cancelled");
        let text = DefaultNoticeTemplate.refused(&RefusedNotice {
            refusal: &refusal,
            summary: Some("Launch"),
        });
        assert_eq!(text.subject, "calinvite could not take \"Launch\"");
        assert_eq!(
            text.body,
            format!(
                "calinvite received \"Launch\" but did not act on it.\n\nReason: {}\n\
                 event x was cancelled\n\nNothing was sent to anyone. Fix the cause and send \
                 or update the event again.\n",
                RefusalReason::EventCancelled
            )
        );
        let text = DefaultNoticeTemplate.refused(&RefusedNotice {
            refusal: &refusal,
            summary: None,
        });
        assert_eq!(text.subject, "calinvite could not take your event");
    }

    #[test]
    fn the_english_counter_notice() {
        let event = launch();
        let text = DefaultNoticeTemplate.counter(&CounterNotice {
            event: &event,
            who: "jorg@example.org",
            proposed_start: Some("Thursday"),
            proposed_end: None,
            comment: None,
        });
        assert_eq!(text.subject, "New time proposed for \"Launch\"");
        assert_eq!(
            text.body,
            "jorg@example.org proposes another time for \"Launch\" (event code 7k3m9qxv2c4d8fjr).\n\n\
             Proposed start: Thursday\nProposed end: (not given)\nComment: (none)\n\n\
             To accept, change the event in your calendar: the people it concerns get the update.\n"
        );
    }
}
