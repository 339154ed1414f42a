//! Reading what arrives at calinvite's addresses.
//!
//! [`parse_inbound`] is a pure function from (raw RFC 5322 bytes, envelope,
//! authentication verdict) to a classified, normalised [`InboundMessage`]:
//! an organizer's request or cancellation, a recipient's reply, a counter
//! proposal or refresh request, a delivery-status report, an automatic reply,
//! or something calinvite does not handle — always with the reason.
//!
//! It is liberal in what it accepts (every MIME shape of
//! [interop rule 23](crate::manual::interop#rule-23), legacy charsets, Windows
//! time zones, sloppy iCalendar) and says on [`InboundMessage::warnings`] what
//! it could not use. Work is bounded by [`InboundLimits`]: no input makes it
//! panic, hang, or use memory beyond a small multiple of the input's size.

mod calendar;
mod content;
mod dsn;
mod json;
mod mime;
mod zones;

use std::net::IpAddr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::address::{EmailAddress, Mailbox};
use crate::event::{EventStatus, ParticipationStatus};
use crate::ids::{InvitationUid, Sequence};
use crate::recurrence::RecurrenceRule;
use crate::text::Text;
use crate::time::{OccurrenceId, ZonedDateTime};

/// How a message reached calinvite (from the SMTP session or the provider).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_structs,
    reason = "the RFC 5321 envelope (reverse path, forward paths, client address); adapters build it with a literal"
)]
pub struct InboundEnvelope {
    /// SMTP MAIL FROM, as given (empty for bounces).
    pub mail_from: Option<String>,
    /// SMTP RCPT TO: the calinvite addresses it was sent to.
    pub rcpt_to: Vec<String>,
    /// The connecting peer.
    pub peer: Option<IpAddr>,
}

/// The outcome of one authentication check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
#[allow(
    clippy::exhaustive_enums,
    reason = "the seven results RFC 7208 defines for SPF, which calinvite also uses for DKIM and DMARC"
)]
pub enum AuthResult {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    #[default]
    None,
    TempError,
    PermError,
}

/// The authentication verdict an adapter computed
/// ([D7](crate::manual::design#d7)): the core never trusts a header for this.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_structs,
    reason = "the three checks of mail authentication (SPF, DKIM, DMARC); adapters build it with a literal"
)]
pub struct AuthVerdict {
    /// SPF for the peer and MAIL FROM.
    pub spf: AuthResult,
    /// Each DKIM signature's signing domain and result.
    pub dkim: Vec<(String, AuthResult)>,
    /// DMARC for the From domain.
    pub dmarc: AuthResult,
}

/// Bounds on the work one message may cause. The defaults suit mail from real
/// calendar clients with a wide margin.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct InboundLimits {
    /// Largest message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Deepest MIME nesting (multiparts and attached messages).
    pub max_depth: usize,
    /// Most MIME parts.
    pub max_parts: usize,
    /// Largest calendar part, decoded.
    pub max_calendar_bytes: usize,
    /// Most iCalendar components in one message.
    pub max_components: usize,
    /// Most iCalendar properties in one message.
    pub max_properties: usize,
}

impl Default for InboundLimits {
    fn default() -> Self {
        InboundLimits {
            max_message_bytes: 10 * 1024 * 1024,
            max_depth: 16,
            max_parts: 256,
            max_calendar_bytes: 1024 * 1024,
            max_components: 2_000,
            max_properties: 20_000,
        }
    }
}

/// A date or time as an inbound calendar wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(
    clippy::exhaustive_enums,
    reason = "the three forms of an RFC 5545 DATE-TIME or DATE: zoned (UTC included), floating, date"
)]
pub enum InboundTime {
    /// A local time in a zone that resolved to IANA (UTC included).
    Zoned(ZonedDateTime),
    /// A local time with no zone, or in a zone that could not be resolved.
    Floating(NaiveDateTime),
    /// A date.
    Date(NaiveDate),
}

impl InboundTime {
    /// The occurrence this time names, when it names an instant or a date.
    pub fn occurrence_id(&self) -> Option<OccurrenceId> {
        match self {
            InboundTime::Zoned(z) => Some(OccurrenceId::At(z.instant())),
            InboundTime::Date(d) => Some(OccurrenceId::On(*d)),
            InboundTime::Floating(_) => None,
        }
    }
}

/// An instance of a recurring event, as an inbound calendar overrides it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct InboundInstance {
    /// Which occurrence (RECURRENCE-ID).
    pub recurrence_id: InboundTime,
    /// New start.
    pub start: Option<InboundTime>,
    /// New end.
    pub end: Option<InboundTime>,
    /// Title.
    pub summary: Option<Text>,
    /// Description.
    pub description: Option<Text>,
    /// Place.
    pub location: Option<Text>,
    /// Status.
    pub status: Option<EventStatus>,
    /// Its own SEQUENCE, when it has one.
    pub sequence: Option<Sequence>,
}

/// An event as an organizer's calendar client sent it, before calinvite
/// adopts it: every field optional, times as written (zones resolved).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct InboundEvent {
    /// Title.
    pub summary: Option<Text>,
    /// Description.
    pub description: Option<Text>,
    /// Place.
    pub location: Option<Text>,
    /// Web page.
    pub url: Option<String>,
    /// Status.
    pub status: Option<EventStatus>,
    /// Start.
    pub start: Option<InboundTime>,
    /// End (DURATION turned into an end).
    pub end: Option<InboundTime>,
    /// Recurrence rule.
    pub rrule: Option<RecurrenceRule>,
    /// Extra occurrences.
    pub rdates: Vec<InboundTime>,
    /// Exceptions.
    pub exdates: Vec<InboundTime>,
    /// Overridden instances.
    pub overrides: Vec<InboundInstance>,
    /// ATTENDEE lines on the master.
    pub attendee_count: usize,
    /// What the organizer's message says about *when* or *whether* the event
    /// happens that calinvite cannot represent (an unusable RRULE, an
    /// unreadable EXDATE, an unknown STATUS …), in plain words for the
    /// organizer. When it is not empty the message is refused as an
    /// unusable event: taking the rest would change the event's meaning
    /// (see [`manual::inbound_warnings`](crate::manual::inbound_warnings)).
    pub unusable: Vec<String>,
}

/// What an organizer's request carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_enums,
    reason = "an RFC 5546 REQUEST carries the whole event or only overridden instances"
)]
pub enum RequestScope {
    /// The whole event (a master VEVENT).
    Full,
    /// Only overridden instances: a partial update
    /// ([interop rule 21](crate::manual::interop#rule-21)).
    Instances,
}

/// The organizer's own ordering stamps ([D2](crate::manual::design#d2): they
/// only order inbound messages).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CalendarIdentity {
    /// The organizer's UID.
    pub uid: String,
    /// The organizer's SEQUENCE (0 when absent).
    pub sequence: Sequence,
    /// DTSTAMP, when given in UTC.
    pub dtstamp: Option<DateTime<Utc>>,
    /// The organizer (iCloud's `EMAIL=` parameter wins over the URI).
    pub organizer: Option<Mailbox>,
}

/// An organizer's invitation or update, sent to the ingest address.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OrganizerRequest {
    /// UID, SEQUENCE, DTSTAMP, ORGANIZER.
    pub identity: CalendarIdentity,
    /// Whole event or instances only.
    pub scope: RequestScope,
    /// The event.
    pub event: InboundEvent,
    /// The raw calendar object, kept for fidelity.
    pub raw_calendar: String,
}

/// An organizer's cancellation.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OrganizerCancel {
    /// UID, SEQUENCE, DTSTAMP, ORGANIZER.
    pub identity: CalendarIdentity,
    /// The instances cancelled; empty when the whole event is.
    pub instances: Vec<InboundTime>,
    /// What the cancellation says of the event.
    pub event: InboundEvent,
}

/// A recipient's answer (REPLY), or a proposal of another time (COUNTER).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reply {
    /// UID, SEQUENCE, DTSTAMP, ORGANIZER (often absent: Exchange omits it).
    pub identity: CalendarIdentity,
    /// The invitation the UID names, when it is one of calinvite's.
    pub invitation: Option<InvitationUid>,
    /// The attendee as written.
    pub attendee: Option<Mailbox>,
    /// The answer.
    pub partstat: Option<ParticipationStatus>,
    /// To whom it was delegated.
    pub delegated_to: Option<EmailAddress>,
    /// The instance answered, if one.
    pub recurrence_id: Option<InboundTime>,
    /// The comment (COMMENT, or Apple's private comment).
    pub comment: Option<Text>,
    /// A proposed new start (COUNTER, or Apple's proposal in a REPLY).
    pub proposed_start: Option<InboundTime>,
    /// A proposed new end.
    pub proposed_end: Option<InboundTime>,
    /// REQUEST-STATUS values, as written.
    pub request_status: Vec<String>,
}

impl Reply {
    /// Whether this answer comes from someone other than `invited`: a
    /// forwarded invitation
    /// ([interop rule 19](crate::manual::interop#rule-19)). Kept, never allowed
    /// to overwrite the invited person's answer.
    pub fn is_forwarded(&self, invited: &EmailAddress) -> bool {
        self.attendee
            .as_ref()
            .is_some_and(|a| a.address() != invited)
    }
}

/// A delivery-status notification (RFC 3464) about a message calinvite sent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryStatus {
    /// A hard bounce (5.x.x, or `Action: failed`).
    pub permanent: bool,
    /// `Action`, lower case.
    pub action: Option<String>,
    /// Status code, e.g. `5.1.1`.
    pub status: Option<String>,
    /// The recipient the report is about.
    pub recipient: Option<EmailAddress>,
    /// The remote server's words.
    pub diagnostic: Option<String>,
    /// Message-ID of the message that bounced.
    pub original_message_id: Option<String>,
}

impl DeliveryStatus {
    /// The invitation the bounced message belonged to, when calinvite sent it.
    pub fn invitation_token(&self) -> Option<crate::InvitationToken> {
        crate::IdempotencyKey::token_in_message_id(self.original_message_id.as_deref()?)
    }
}

/// Why a message cannot be handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnsupportedReason {
    /// Only a TNEF `winmail.dat` carries the calendar.
    TnefOnly,
    /// Encrypted (S/MIME or PGP).
    Encrypted,
    /// A calendar with no METHOD anywhere.
    NoMethod,
    /// A METHOD calinvite does not handle (PUBLISH, ADD, DECLINECOUNTER).
    UnsupportedMethod,
    /// Larger than [`InboundLimits::max_message_bytes`] or the calendar limit.
    TooLarge,
    /// MIME nested deeper, or with more parts, than the limits allow.
    TooDeep,
    /// A charset no decoder knows.
    UnreadableCharset,
    /// More iCalendar components than the limit.
    TooManyComponents,
    /// More iCalendar properties than the limit.
    TooManyProperties,
    /// A calendar part with no VCALENDAR or no VEVENT in it.
    MalformedCalendar,
    /// A MIME structure too broken to read.
    MalformedMime,
    /// Header fields that decide who sent the message or what it contains
    /// are given more than once (two From fields, two top-level
    /// Content-Type fields …), or the From names several authors: readers
    /// disagree on which copy counts, so calinvite reads none.
    Ambiguous,
}

impl UnsupportedReason {
    /// A stable name, for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            UnsupportedReason::TnefOnly => "tnef_only",
            UnsupportedReason::Encrypted => "encrypted",
            UnsupportedReason::NoMethod => "no_method",
            UnsupportedReason::UnsupportedMethod => "unsupported_method",
            UnsupportedReason::TooLarge => "too_large",
            UnsupportedReason::TooDeep => "too_deep",
            UnsupportedReason::UnreadableCharset => "unreadable_charset",
            UnsupportedReason::TooManyComponents => "too_many_components",
            UnsupportedReason::TooManyProperties => "too_many_properties",
            UnsupportedReason::MalformedCalendar => "malformed_calendar",
            UnsupportedReason::MalformedMime => "malformed_mime",
            UnsupportedReason::Ambiguous => "ambiguous",
        }
    }
}

/// What a message is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InboundKind {
    /// An organizer's new event or update (METHOD:REQUEST).
    OrganizerRequest(OrganizerRequest),
    /// An organizer's cancellation (METHOD:CANCEL).
    OrganizerCancel(OrganizerCancel),
    /// A recipient's answer (METHOD:REPLY).
    Reply(Reply),
    /// A proposal of another time (METHOD:COUNTER).
    Counter(Reply),
    /// A request to be sent the event again (METHOD:REFRESH).
    Refresh(Reply),
    /// A bounce or delay report.
    DeliveryStatus(DeliveryStatus),
    /// An out-of-office or other automatic reply.
    AutoReply {
        /// What gave it away.
        reason: String,
    },
    /// Not a calendar message.
    NotCalendar,
    /// Something calinvite cannot handle, and why.
    Unsupported {
        /// Why.
        reason: UnsupportedReason,
        /// Details for the operator.
        detail: String,
    },
}

impl InboundKind {
    /// A stable name for the classification.
    pub fn name(&self) -> &'static str {
        match self {
            InboundKind::OrganizerRequest(_) => "organizer_request",
            InboundKind::OrganizerCancel(_) => "organizer_cancel",
            InboundKind::Reply(_) => "reply",
            InboundKind::Counter(_) => "counter",
            InboundKind::Refresh(_) => "refresh",
            InboundKind::DeliveryStatus(_) => "delivery_status",
            InboundKind::AutoReply { .. } => "auto_reply",
            InboundKind::NotCalendar => "not_calendar",
            InboundKind::Unsupported { .. } => "unsupported",
        }
    }
}

/// A classified inbound message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct InboundMessage {
    /// What it is.
    pub kind: InboundKind,
    /// Message-ID, without angle brackets.
    pub message_id: Option<String>,
    /// Subject, decoded.
    pub subject: Option<String>,
    /// From address.
    pub from: Option<EmailAddress>,
    /// METHOD used for classification (the property wins over Content-Type).
    pub method: Option<String>,
    /// `method=` on the calendar part's Content-Type.
    pub content_type_method: Option<String>,
    /// How it arrived.
    pub envelope: InboundEnvelope,
    /// Its authentication verdict.
    pub auth: AuthVerdict,
    /// What could not be used, in words.
    pub warnings: Vec<String>,
}

impl InboundMessage {
    /// Every field as JSON, as the `inspect` tool prints it.
    pub fn to_json(&self) -> String {
        json::render(self)
    }
}

/// Entry points into the inbound sub-parsers, for the fuzz targets only.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    /// The content-line reader over raw bytes (UTF-8).
    pub fn read_calendar(bytes: &[u8]) -> usize {
        let mut warnings = Vec::new();
        let decoder =
            super::content::LineDecoder::for_charset(None).expect("UTF-8 is always known");
        super::content::read_calendars(
            bytes,
            &decoder,
            &super::InboundLimits::default(),
            &mut warnings,
        )
        .map_or(0, |c| c.len())
    }

    /// The DURATION parser.
    pub fn parse_duration(s: &str) -> Option<i64> {
        super::calendar::parse_duration(s)
    }

    /// The delivery-status field reader.
    pub fn parse_delivery_status(text: &str) -> bool {
        super::dsn::parse_fields(text).permanent
    }
}

/// Wraps a bare iCalendar object (an uploaded `.ics` file) in a minimal
/// message, as a calendar client would mail it: `text/calendar` with the
/// object's METHOD on the Content-Type, so that it can go through
/// [`parse_inbound`] like any other message.
pub fn message_from_calendar(ics: &[u8]) -> Vec<u8> {
    let method = ics
        .split(|&b| b == b'\n')
        .find_map(|l| l.strip_prefix(b"METHOD:"))
        .map(|m| String::from_utf8_lossy(m).trim().to_ascii_uppercase())
        .filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    let mut out = Vec::with_capacity(ics.len() + 128);
    out.extend_from_slice(b"MIME-Version: 1.0\r\nContent-Type: text/calendar; charset=UTF-8");
    if let Some(m) = method {
        out.extend_from_slice(b"; method=");
        out.extend_from_slice(m.as_bytes());
    }
    out.extend_from_slice(b"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n");
    out.extend_from_slice(ics);
    out
}

/// Reads and classifies one message. Never panics; every input yields a
/// classification, with warnings for what could not be used.
pub fn parse_inbound(
    raw: &[u8],
    envelope: &InboundEnvelope,
    auth: &AuthVerdict,
    limits: &InboundLimits,
) -> InboundMessage {
    let mut message = InboundMessage {
        kind: InboundKind::NotCalendar,
        message_id: None,
        subject: None,
        from: None,
        method: None,
        content_type_method: None,
        envelope: envelope.clone(),
        auth: auth.clone(),
        warnings: Vec::new(),
    };
    if raw.len() > limits.max_message_bytes {
        message.kind = InboundKind::Unsupported {
            reason: UnsupportedReason::TooLarge,
            detail: format!(
                "the message is {} bytes; the limit is {}",
                raw.len(),
                limits.max_message_bytes
            ),
        };
        return message;
    }
    mime::classify(raw, limits, &mut message);
    message
}
