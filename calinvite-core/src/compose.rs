//! Assembly of outgoing messages: one call turns (event revision, recipient,
//! sender identity, options) into the bytes to send.
//!
//! The shape is the one Google Calendar itself sends and both Gmail and Outlook
//! show with Yes / No / Maybe buttons
//! ([interop rule 2](crate::manual::interop#rule-2)):
//!
//! ```text
//! multipart/mixed
//! ├── multipart/alternative
//! │   ├── text/plain; charset=UTF-8                  (quoted-printable)
//! │   ├── text/html; charset=UTF-8                   (quoted-printable)
//! │   └── text/calendar; charset=UTF-8; method=…     (base64)
//! └── application/ics; name="invite.ics"             (base64, attachment)
//! ```

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::error::ComposeError;
use crate::event::{EventStatus, Recipient, SenderIdentity, WebUrl};
use crate::ics::{Addressing, CalendarKind, Method, instance_schedule, write_calendar};
use crate::ids::{InvitationToken, InvitationUid, Sequence};
use crate::mime::{HeaderWriter, base64_lines, quoted_printable, raw_header};
use crate::revision::EventRevision;
use crate::template::{DefaultTemplate, MessageKind, RsvpLinks, Template, TemplateContext};
use crate::time::OccurrenceId;
use crate::{EmailAddress, ParticipationStatus};

/// The default PRODID of calendars calinvite writes.
pub const DEFAULT_PRODUCT_ID: &str = concat!(
    "-//calinvite//calinvite ",
    env!("CARGO_PKG_VERSION"),
    "//EN"
);

/// How messages are put together; set once per sender, shared by every message.
#[derive(Clone)]
pub struct ComposeOptions {
    product_id: String,
    links_base: Option<WebUrl>,
    list_unsubscribe: bool,
    unsubscribe_mailto: Option<EmailAddress>,
    return_path: Option<EmailAddress>,
    own_addresses: Vec<EmailAddress>,
    template: Arc<dyn Template>,
}

impl fmt::Debug for ComposeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComposeOptions")
            .field("product_id", &self.product_id)
            .field("links_base", &self.links_base)
            .field("list_unsubscribe", &self.list_unsubscribe)
            .field("unsubscribe_mailto", &self.unsubscribe_mailto)
            .field("return_path", &self.return_path)
            .field("own_addresses", &self.own_addresses)
            .finish_non_exhaustive()
    }
}

impl Default for ComposeOptions {
    fn default() -> Self {
        ComposeOptions {
            product_id: DEFAULT_PRODUCT_ID.to_string(),
            links_base: None,
            list_unsubscribe: false,
            unsubscribe_mailto: None,
            return_path: None,
            own_addresses: Vec::new(),
            template: Arc::new(DefaultTemplate),
        }
    }
}

impl ComposeOptions {
    /// Defaults: English template, no web links, no list headers.
    pub fn new() -> Self {
        ComposeOptions::default()
    }

    /// The PRODID written into calendars (an OEM names its product here).
    #[must_use]
    pub fn product_id(mut self, product_id: impl Into<String>) -> Self {
        let p: String = product_id
            .into()
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        if !p.trim().is_empty() {
            self.product_id = p;
        }
        self
    }

    /// Base URL of the web answer and unsubscribe pages. Links are
    /// `{base}/rsvp/{token}/accept|decline|tentative` and `{base}/unsubscribe/{token}`.
    #[must_use]
    pub fn links_base(mut self, base: WebUrl) -> Self {
        self.links_base = Some(base);
        self
    }

    /// Adds RFC 8058 one-click unsubscribe headers (for list and marketing
    /// sends; [interop rule 28](crate::manual::interop#rule-28)). Needs
    /// [`links_base`](Self::links_base) or
    /// [`unsubscribe_mailto`](Self::unsubscribe_mailto).
    #[must_use]
    pub fn list_unsubscribe(mut self, on: bool) -> Self {
        self.list_unsubscribe = on;
        self
    }

    /// A mailbox that unsubscribes whoever writes to it, offered beside the link.
    #[must_use]
    pub fn unsubscribe_mailto(mut self, address: EmailAddress) -> Self {
        self.unsubscribe_mailto = Some(address);
        self
    }

    /// The envelope sender (bounce address); the sender mailbox when unset.
    #[must_use]
    pub fn return_path(mut self, address: EmailAddress) -> Self {
        self.return_path = Some(address);
        self
    }

    /// calinvite's own addresses (ingest, bounce…): never valid recipients.
    #[must_use]
    pub fn own_address(mut self, address: EmailAddress) -> Self {
        self.own_addresses.push(address);
        self
    }

    /// The template that writes subject and bodies.
    #[must_use]
    pub fn template(mut self, template: Arc<dyn Template>) -> Self {
        self.template = template;
        self
    }
}

/// Who the relay delivers to and the bounce address (SMTP MAIL FROM / RCPT TO).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    from: EmailAddress,
    to: EmailAddress,
}

impl Envelope {
    /// An envelope from `from` (the bounce address) to `to`.
    pub fn new(from: EmailAddress, to: EmailAddress) -> Self {
        Envelope { from, to }
    }
    /// The envelope sender.
    pub fn from(&self) -> &EmailAddress {
        &self.from
    }
    /// The one envelope recipient.
    pub fn to(&self) -> &EmailAddress {
        &self.to
    }
}

/// What makes a message unique ([D8](crate::manual::design#d8)): the
/// invitation, the SEQUENCE and the method, plus a copy number for a deliberate
/// re-send of the same revision (a recipient's REFRESH). A store sends each key
/// at most once.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdempotencyKey {
    token: InvitationToken,
    sequence: Sequence,
    method: Method,
    copy: u32,
}

impl IdempotencyKey {
    /// A key; `copy` is 0 for the first message of a revision.
    pub fn new(token: InvitationToken, sequence: Sequence, method: Method, copy: u32) -> Self {
        IdempotencyKey {
            token,
            sequence,
            method,
            copy,
        }
    }
    /// Which copy of the revision: 0 first, then one more per re-send.
    pub fn copy(&self) -> u32 {
        self.copy
    }
    /// The invitation's token.
    pub fn token(&self) -> &InvitationToken {
        &self.token
    }
    /// The SEQUENCE.
    pub fn sequence(&self) -> Sequence {
        self.sequence
    }
    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }
}

impl IdempotencyKey {
    /// The Message-ID (without angle brackets) of the message this key sends:
    /// `{token}.{sequence}.{method}@{domain}` (with `.{copy}` after the method
    /// for a re-send). A retry of the key carries the same one, and a bounce
    /// that quotes it names the invitation again
    /// ([`IdempotencyKey::token_in_message_id`]).
    pub fn message_id(&self, domain: &str) -> String {
        let method = self.method.as_str().to_ascii_lowercase();
        if self.copy == 0 {
            format!("{}.{}.{method}@{domain}", self.token, self.sequence)
        } else {
            format!(
                "{}.{}.{method}.{}@{domain}",
                self.token, self.sequence, self.copy
            )
        }
    }

    /// The invitation token in a Message-ID calinvite wrote, if it is one.
    pub fn token_in_message_id(message_id: &str) -> Option<InvitationToken> {
        let id = message_id.trim().trim_matches(['<', '>']);
        let (local, _) = id.split_once('@')?;
        let mut parts = local.split('.');
        let token = InvitationToken::parse(parts.next()?).ok()?;
        let sequence_ok = parts.next()?.parse::<u64>().is_ok();
        let method_ok = matches!(parts.next()?, "request" | "cancel");
        let copy_ok = parts
            .next()
            .is_none_or(|c| c.parse::<u32>().is_ok_and(|n| n > 0));
        (sequence_ok && method_ok && copy_ok && parts.next().is_none()).then_some(token)
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.token,
            self.sequence,
            self.method.as_str()
        )?;
        if self.copy > 0 {
            write!(f, ":{}", self.copy)?;
        }
        Ok(())
    }
}

/// `Sun, 22 Nov 2026 09:00:00 +0000` (RFC 5322 §3.3), in UTC, written by hand.
pub(crate) fn rfc5322_date(t: DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} +0000",
        DAYS[t.weekday().num_days_from_monday() as usize],
        t.day(),
        MONTHS[t.month0() as usize],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A message ready to hand to a transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMessage {
    envelope: Envelope,
    key: IdempotencyKey,
    message_id: String,
    bytes: Vec<u8>,
}

impl OutgoingMessage {
    /// Envelope sender and recipient.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }
    /// The idempotency key.
    pub fn key(&self) -> &IdempotencyKey {
        &self.key
    }
    /// The Message-ID, without angle brackets (derived from the key, so a retry
    /// of the same key carries the same Message-ID).
    pub fn message_id(&self) -> &str {
        &self.message_id
    }
    /// The RFC 5322 message, CRLF line endings: 7-bit, but for the
    /// addr-spec (in `From` or `To`) of an address whose local part is not
    /// ASCII, which is written as UTF-8 (RFC 6532) and travels only with
    /// SMTPUTF8 ([`EmailAddress::needs_smtputf8`]).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// Takes the bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// Puts messages together for one sender identity.
///
/// ```
/// use calinvite_core::*;
/// use chrono::{NaiveDate, TimeZone as _, Utc};
///
/// let ids = SequentialIds::new(1);
/// let zone = TimeZone::parse("Europe/Madrid")?;
/// let day = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
/// let event = Event::builder(EventCode::generate(&ids))
///     .summary("Fiesta de lanzamiento")
///     .schedule(Schedule::timed(
///         ZonedDateTime::new(day.and_hms_opt(18, 0, 0).unwrap(), zone)?,
///         ZonedDateTime::new(day.and_hms_opt(20, 0, 0).unwrap(), zone)?,
///     )?)
///     .organizer(EmailAddress::parse("ana@example.com")?, Some("Ana Núñez"))
///     .build()?;
/// let revision = EventRevision::new(event, Sequence::INITIAL);
/// let sender = SenderIdentity::new(EmailAddress::parse("rsvp@events.example.com")?, None);
/// let composer = Composer::new(sender, ComposeOptions::new());
/// let recipient = Recipient::new(EmailAddress::parse("jorg@example.org")?);
/// let uid = InvitationUid::new(revision.event().code().clone(), InvitationToken::generate(&ids), "events.example.com")?;
/// let now = Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap();
///
/// let message = composer.compose(MessageKind::Invitation, &revision, &recipient, &uid, now)?;
/// assert_eq!(message.envelope().to().as_str(), "jorg@example.org");
/// assert!(message.bytes().is_ascii());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Composer {
    sender: SenderIdentity,
    options: ComposeOptions,
}

impl Composer {
    /// A composer sending as `sender`.
    pub fn new(sender: SenderIdentity, options: ComposeOptions) -> Self {
        Composer { sender, options }
    }

    /// The sender identity.
    pub fn sender(&self) -> &SenderIdentity {
        &self.sender
    }

    /// Assembles one message. `now` is its Date and DTSTAMP.
    pub fn compose(
        &self,
        kind: MessageKind,
        revision: &EventRevision,
        recipient: &Recipient,
        uid: &InvitationUid,
        now: DateTime<Utc>,
    ) -> Result<OutgoingMessage, ComposeError> {
        self.compose_copy(kind, revision, recipient, uid, now, 0)
    }

    /// Like [`compose`](Composer::compose), for the `copy`-th deliberate
    /// re-send of the same revision (0 is the first message): the key and
    /// Message-ID differ, so a store and a relay see a new message.
    pub fn compose_copy(
        &self,
        kind: MessageKind,
        revision: &EventRevision,
        recipient: &Recipient,
        uid: &InvitationUid,
        now: DateTime<Utc>,
        copy: u32,
    ) -> Result<OutgoingMessage, ComposeError> {
        let event = revision.event();
        let to = recipient.address();
        if uid.event_code() != event.code() {
            return Err(ComposeError::WrongEvent {
                uid_event: uid.event_code().to_string(),
                event: event.code().to_string(),
            });
        }
        if to == self.sender.address() || to == event.organizer().address() {
            return Err(ComposeError::RecipientIsOrganizer(to.to_string()));
        }
        if self.options.own_addresses.contains(to) || self.options.return_path.as_ref() == Some(to)
        {
            return Err(ComposeError::RecipientIsOwnAddress(to.to_string()));
        }
        let (method, calendar_kind, instance) = match &kind {
            MessageKind::Invitation | MessageKind::Update => {
                if event.status() == EventStatus::Cancelled {
                    return Err(ComposeError::EventCancelled);
                }
                (Method::Request, CalendarKind::Request, None)
            }
            MessageKind::Cancellation => (Method::Cancel, CalendarKind::Cancel, None),
            MessageKind::InstanceCancellation(id) => {
                if !event.is_recurring() {
                    return Err(ComposeError::NotRecurring);
                }
                let kind_ok = matches!(
                    (id, event.schedule().is_all_day()),
                    (OccurrenceId::On(_), true) | (OccurrenceId::At(_), false)
                );
                if !kind_ok {
                    return Err(ComposeError::OccurrenceKind(format!("{id:?}")));
                }
                let schedule = event
                    .overrides()
                    .iter()
                    .find(|o| o.id() == *id)
                    .map_or_else(
                        || instance_schedule(event.schedule(), id),
                        |o| *o.schedule(),
                    );
                (
                    Method::Cancel,
                    CalendarKind::CancelInstance(id),
                    Some(schedule),
                )
            }
        };

        // ORGANIZER and From are calinvite's mailbox (replies must come here,
        // manual: design D1), shown with the real organizer's name.
        let organizer_name = event.organizer().name().or(self.sender.mailbox().name());
        // Without a name, the address as people read it (U-labels).
        let sender_shown = self.sender.address().to_unicode();
        let shown_name = organizer_name.map_or(&*sender_shown, |n| n.as_str());

        let token = uid.token();
        let links = self.options.links_base.as_ref().map(|base| RsvpLinks {
            accept: base.join(&format!("rsvp/{token}/accept")),
            decline: base.join(&format!("rsvp/{token}/decline")),
            tentative: base.join(&format!("rsvp/{token}/tentative")),
        });
        let unsubscribe_url = self
            .options
            .links_base
            .as_ref()
            .filter(|_| self.options.list_unsubscribe)
            .map(|base| base.join(&format!("unsubscribe/{token}")));

        let rendered = self.options.template.render(&TemplateContext {
            kind,
            event,
            sequence: revision.sequence(),
            recipient,
            organizer_name: shown_name,
            instance,
            rsvp: links.as_ref(),
            unsubscribe: unsubscribe_url.as_deref(),
        });

        let ics = write_calendar(
            revision,
            calendar_kind,
            &Addressing {
                uid,
                organizer_name,
                organizer_address: self.sender.address(),
                attendee_name: recipient.name(),
                attendee_address: to,
                partstat: ParticipationStatus::NeedsAction,
                dtstamp: now,
                product_id: &self.options.product_id,
            },
        );

        let key = IdempotencyKey {
            token: token.clone(),
            sequence: revision.sequence(),
            method,
            copy,
        };
        let message_id = key.message_id(self.sender.address().domain());

        let mut out = Vec::with_capacity(
            rendered.text.len() + rendered.html.len() * 11 / 10 + ics.len() * 3 + 2048,
        );
        HeaderWriter::new(&mut out, "From")
            .mailbox(organizer_name, self.sender.address())
            .end();
        HeaderWriter::new(&mut out, "To")
            .mailbox(recipient.name(), to)
            .end();
        HeaderWriter::new(&mut out, "Subject")
            .text(&rendered.subject)
            .end();
        raw_header(&mut out, "Date", &rfc5322_date(now));
        HeaderWriter::new(&mut out, "Message-ID")
            .token(format!("<{message_id}>").as_bytes())
            .end();
        raw_header(&mut out, "MIME-Version", "1.0");
        if let Some(lang) = recipient.language() {
            raw_header(&mut out, "Content-Language", lang.as_str());
        }
        if self.options.list_unsubscribe {
            let mut targets: Vec<String> = Vec::new();
            if let Some(u) = &unsubscribe_url {
                targets.push(format!("<{u}>"));
            }
            if let Some(m) = &self.options.unsubscribe_mailto {
                targets.push(format!(
                    "<{}?subject=unsubscribe%20{token}>",
                    m.mailto_uri()
                ));
            }
            if !targets.is_empty() {
                let mut h = HeaderWriter::new(&mut out, "List-Unsubscribe");
                let n = targets.len();
                for (i, t) in targets.iter().enumerate() {
                    h.token(t.as_bytes());
                    if i + 1 < n {
                        h.glued(b",");
                    }
                }
                h.end();
                if unsubscribe_url.is_some() {
                    raw_header(
                        &mut out,
                        "List-Unsubscribe-Post",
                        "List-Unsubscribe=One-Click",
                    );
                }
            }
        }

        let seq = revision.sequence();
        let method_lower = method.as_str().to_ascii_lowercase();
        let mixed = format!("=_m.{token}.{seq}.{method_lower}");
        let alternative = format!("=_a.{token}.{seq}.{method_lower}");
        raw_header(
            &mut out,
            "Content-Type",
            &format!("multipart/mixed;\r\n boundary=\"{mixed}\""),
        );
        out.extend_from_slice(b"\r\n");

        let open = |out: &mut Vec<u8>, b: &str| {
            out.extend_from_slice(b"--");
            out.extend_from_slice(b.as_bytes());
            out.extend_from_slice(b"\r\n");
        };
        let close = |out: &mut Vec<u8>, b: &str| {
            out.extend_from_slice(b"--");
            out.extend_from_slice(b.as_bytes());
            out.extend_from_slice(b"--\r\n");
        };

        open(&mut out, &mixed);
        raw_header(
            &mut out,
            "Content-Type",
            &format!("multipart/alternative;\r\n boundary=\"{alternative}\""),
        );
        out.extend_from_slice(b"\r\n");

        open(&mut out, &alternative);
        raw_header(&mut out, "Content-Type", "text/plain; charset=UTF-8");
        raw_header(&mut out, "Content-Transfer-Encoding", "quoted-printable");
        out.extend_from_slice(b"\r\n");
        quoted_printable(&rendered.text, &mut out);

        open(&mut out, &alternative);
        raw_header(&mut out, "Content-Type", "text/html; charset=UTF-8");
        raw_header(&mut out, "Content-Transfer-Encoding", "quoted-printable");
        out.extend_from_slice(b"\r\n");
        quoted_printable(&rendered.html, &mut out);

        let mut ics_b64 = Vec::with_capacity(ics.len() * 4 / 3 + ics.len() / 38 + 4);
        base64_lines(&ics, &mut ics_b64);

        open(&mut out, &alternative);
        raw_header(
            &mut out,
            "Content-Type",
            &format!("text/calendar; charset=UTF-8; method={}", method.as_str()),
        );
        raw_header(&mut out, "Content-Transfer-Encoding", "base64");
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&ics_b64);
        close(&mut out, &alternative);

        open(&mut out, &mixed);
        raw_header(
            &mut out,
            "Content-Type",
            "application/ics; name=\"invite.ics\"",
        );
        raw_header(
            &mut out,
            "Content-Disposition",
            "attachment; filename=\"invite.ics\"",
        );
        raw_header(&mut out, "Content-Transfer-Encoding", "base64");
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&ics_b64);
        close(&mut out, &mixed);

        Ok(OutgoingMessage {
            envelope: Envelope {
                from: self
                    .options
                    .return_path
                    .clone()
                    .unwrap_or_else(|| self.sender.address().clone()),
                to: to.clone(),
            },
            key,
            message_id,
            bytes: out,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, EventCode, Schedule, TimeZone, ZonedDateTime};

    /// An invitation to `to`, with non-ASCII text in every field people read.
    fn invitation_to(to: &str) -> OutgoingMessage {
        let zone = TimeZone::parse("Europe/Madrid").unwrap();
        let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let event = Event::builder(EventCode::parse("k3m9qxv2c4d8fjr7").unwrap())
            .summary("Fiesta de lanzamiento ۵")
            .schedule(
                Schedule::timed(
                    ZonedDateTime::new(day.and_hms_opt(18, 0, 0).unwrap(), zone).unwrap(),
                    ZonedDateTime::new(day.and_hms_opt(20, 0, 0).unwrap(), zone).unwrap(),
                )
                .unwrap(),
            )
            .organizer(
                EmailAddress::parse("ana@example.com").unwrap(),
                Some("Ana Núñez"),
            )
            .build()
            .unwrap();
        let revision = EventRevision::new(event, Sequence::INITIAL);
        let sender = SenderIdentity::new(
            EmailAddress::parse("rsvp@events.example.com").unwrap(),
            None,
        );
        let composer = Composer::new(sender, ComposeOptions::new());
        let uid = InvitationUid::new(
            revision.event().code().clone(),
            InvitationToken::parse("0123456789abcdefghjkmnpqrs").unwrap(),
            "events.example.com",
        )
        .unwrap();
        let recipient = Recipient::new(EmailAddress::parse(to).unwrap()).with_name("Zoë");
        let now = DateTime::from_timestamp(1_795_000_000, 0).unwrap();
        composer
            .compose(MessageKind::Invitation, &revision, &recipient, &uid, now)
            .unwrap()
    }

    /// Found by the compose fuzz target (seed
    /// `fuzz/seeds/compose/utf8-local-part-recipient`): a recipient whose
    /// local part is not ASCII gets the one 8-bit run RFC 6532 needs, its
    /// addr-spec in `To`; every other octet of the message stays 7-bit.
    #[test]
    fn only_a_non_ascii_local_part_puts_8_bit_octets_in_a_message() {
        for to in ["۵@example.org", "Zoë@Example.org"] {
            let m = invitation_to(to);
            let addr_spec = format!("<{}>", m.envelope().to().as_str());
            assert!(m.envelope().to().needs_smtputf8(), "{to}");
            let text = std::str::from_utf8(m.bytes()).unwrap();
            assert!(
                text.contains(&format!("\r\nTo: =?UTF-8?B?Wm/Dqw==?= {addr_spec}\r\n")),
                "{text}"
            );
            assert_eq!(text.matches(&addr_spec).count(), 1, "{text}");
            let rest = text.replacen(&addr_spec, "", 1);
            assert!(
                rest.is_ascii(),
                "8-bit octet outside the To addr-spec: {rest}"
            );
        }
        assert!(invitation_to("zoe@example.org").bytes().is_ascii());
    }

    #[test]
    fn a_message_id_names_its_invitation_and_nothing_else_does() {
        let token = InvitationToken::parse("0123456789abcdefghjkmnpqrs").unwrap();
        for method in [Method::Request, Method::Cancel] {
            let key = IdempotencyKey::new(token.clone(), Sequence::new(u64::MAX), method, 0);
            let id = key.message_id("events.example.com");
            assert_eq!(
                IdempotencyKey::token_in_message_id(&format!("<{id}>")),
                Some(token.clone())
            );
        }
        for foreign in [
            "CAF=abc123@mail.gmail.example",
            "0123456789abcdefghjkmnpqrs.1.reply@events.example.com",
            "0123456789abcdefghjkmnpqrs.x.request@events.example.com",
            "0123456789abcdefghjkmnpqrs.1.request.extra@events.example.com",
            "no-at-sign",
        ] {
            assert_eq!(
                IdempotencyKey::token_in_message_id(foreign),
                None,
                "{foreign}"
            );
        }
    }
}
