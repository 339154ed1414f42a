//! Walking the MIME tree of an inbound message: find calendar parts, reports,
//! and the signs of automatic replies, encryption and TNEF.

use std::borrow::Cow;

use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders, PartType};

use super::{InboundKind, InboundLimits, InboundMessage, UnsupportedReason, calendar, dsn};
use crate::EmailAddress;

/// A calendar part, transfer-decoded but not yet charset-decoded.
pub(super) struct CalendarPart<'m> {
    pub(super) bytes: Cow<'m, [u8]>,
    pub(super) charset: Option<String>,
    pub(super) method: Option<String>,
    /// `text/calendar` (the inline part clients act on) rather than an attachment.
    pub(super) inline: bool,
}

#[derive(Default)]
struct Walk<'m> {
    parts: usize,
    depth: usize,
    calendars: Vec<CalendarPart<'m>>,
    tnef: bool,
    encrypted: bool,
}

pub(super) fn classify(raw: &[u8], limits: &InboundLimits, m: &mut InboundMessage) {
    // mail-parser 0.11 trips a debug assertion on some malformed nestings of
    // message/rfc822 (a panic in debug builds, nothing in release builds).
    // Nothing from the network may panic, so contain it and say why.
    let parsed = std::panic::catch_unwind(|| MessageParser::default().parse(raw));
    let Ok(parsed) = parsed else {
        m.warnings
            .push("the MIME structure is too malformed to read".into());
        m.kind = InboundKind::Unsupported {
            reason: UnsupportedReason::MalformedMime,
            detail: "the MIME parser could not make sense of the message's structure".into(),
        };
        return;
    };
    let Some(msg) = parsed else {
        m.warnings.push("no message headers could be read".into());
        return;
    };
    // Before anything is read from the headers: a message whose sender or
    // content depends on which copy of a field a reader takes is refused.
    if let Some(detail) = ambiguity(&msg, &mut m.warnings) {
        m.kind = InboundKind::Unsupported {
            reason: UnsupportedReason::Ambiguous,
            detail,
        };
        return;
    }
    m.message_id = msg
        .message_id()
        .map(|s| s.trim_matches(['<', '>']).to_string());
    m.subject = msg.subject().map(str::to_string);
    m.from = msg
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .and_then(|a| EmailAddress::parse(a).ok());

    let mut walk = Walk::default();
    walk_message(&msg, 1, limits, &mut walk);
    if walk.parts > limits.max_parts || walk.depth > limits.max_depth {
        m.kind = InboundKind::Unsupported {
            reason: UnsupportedReason::TooDeep,
            detail: format!(
                "{} MIME parts nested {} deep; the limits are {} parts and depth {}",
                walk.parts, walk.depth, limits.max_parts, limits.max_depth
            ),
        };
        return;
    }

    if let Some(report) = dsn::find(&msg) {
        m.kind = InboundKind::DeliveryStatus(report);
        return;
    }
    if !walk.calendars.is_empty() {
        // The inline text/calendar part is what clients act on; attachments after it.
        walk.calendars.sort_by_key(|c| !c.inline);
        calendar::classify(walk.calendars, limits, m);
        return;
    }
    if let Some(reason) = auto_reply(&msg) {
        m.kind = InboundKind::AutoReply { reason };
        return;
    }
    if walk.encrypted {
        m.kind = InboundKind::Unsupported {
            reason: UnsupportedReason::Encrypted,
            detail: "the message is encrypted; calinvite cannot read it".into(),
        };
    } else if walk.tnef {
        m.kind = InboundKind::Unsupported {
            reason: UnsupportedReason::TnefOnly,
            detail: "the calendar is only in a TNEF winmail.dat attachment (ask the sender to turn off rich text)"
                .into(),
        };
    }
}

/// Fields RFC 5322 §3.6 (and RFC 2045 for MIME) allow at most once whose
/// copies would decide who sent the message or what it contains: a second
/// copy makes the message ambiguous (readers disagree on which one counts,
/// and DMARC does not check mail with more than one From).
const DECIDING_FIELDS: [&str; 7] = [
    "From",
    "Sender",
    "Message-ID",
    "Subject",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
];

/// Fields allowed at most once that calinvite does not act on: a second copy
/// is only a warning.
const NOTED_FIELDS: [&str; 7] = [
    "Date",
    "To",
    "Cc",
    "Bcc",
    "Reply-To",
    "In-Reply-To",
    "References",
];

/// Fields that decide a MIME part's content, checked on every part.
const PART_FIELDS: [&str; 2] = ["Content-Type", "Content-Transfer-Encoding"];

fn field_count(headers: &[mail_parser::Header<'_>], name: &str) -> usize {
    headers
        .iter()
        .filter(|h| h.name.as_str().eq_ignore_ascii_case(name))
        .count()
}

/// Why the message is ambiguous, when it is: a deciding field given twice
/// (at the top or on any part), or a From naming more than one author.
/// Repeated fields calinvite does not act on are noted in `warnings`.
fn ambiguity(msg: &Message<'_>, warnings: &mut Vec<String>) -> Option<String> {
    let top = msg.headers();
    let mut repeated: Vec<String> = DECIDING_FIELDS
        .iter()
        .filter_map(|f| {
            let n = field_count(top, f);
            (n > 1).then(|| format!("{n} {f} fields"))
        })
        .collect();
    for (i, part) in msg.parts.iter().enumerate().skip(1) {
        for f in PART_FIELDS {
            let n = field_count(&part.headers, f);
            if n > 1 {
                repeated.push(format!("{n} {f} fields on MIME part {i}"));
            }
        }
    }
    if !repeated.is_empty() {
        return Some(format!(
            "the message has {}: which one counts is ambiguous, so it was not read",
            repeated.join(", ")
        ));
    }
    let authors = msg.from().map_or(0, |a| a.iter().count());
    if authors > 1 {
        return Some(format!(
            "the From field names {authors} authors: which one sent it is ambiguous, so it was not read"
        ));
    }
    for f in NOTED_FIELDS {
        let n = field_count(top, f);
        if n > 1 {
            warnings.push(format!("{n} {f} fields; calinvite does not act on {f}"));
        }
    }
    None
}

fn walk_message<'m>(
    msg: &'m Message<'m>,
    depth: usize,
    limits: &InboundLimits,
    walk: &mut Walk<'m>,
) {
    walk.depth = walk.depth.max(depth);
    if depth > limits.max_depth || walk.parts > limits.max_parts {
        return;
    }
    // Depth of each part within this message, from its multipart parents.
    let mut part_depth = vec![depth; msg.parts.len()];
    for (i, part) in msg.parts.iter().enumerate() {
        walk.parts += 1;
        if walk.parts > limits.max_parts {
            return;
        }
        let d = part_depth[i];
        walk.depth = walk.depth.max(d);
        match &part.body {
            PartType::Multipart(children) => {
                for &c in children {
                    if let Some(slot) = part_depth.get_mut(c as usize) {
                        *slot = d + 1;
                    }
                }
            }
            PartType::Message(inner) => walk_message(inner, d + 1, limits, walk),
            _ => inspect_leaf(msg, part, walk),
        }
    }
}

fn inspect_leaf<'m>(msg: &'m Message<'m>, part: &'m MessagePart<'m>, walk: &mut Walk<'m>) {
    let ct = part.content_type();
    let (ctype, sub) = ct.map_or(("text".to_string(), "plain".to_string()), |c| {
        (
            c.ctype().to_ascii_lowercase(),
            c.subtype().unwrap_or("").to_ascii_lowercase(),
        )
    });
    let name = part.attachment_name().unwrap_or("").to_ascii_lowercase();
    match (ctype.as_str(), sub.as_str()) {
        ("application", "ms-tnef") | ("application", "vnd.ms-tnef") => walk.tnef = true,
        ("application", "pkcs7-mime")
        | ("application", "x-pkcs7-mime")
        | ("multipart", "encrypted") => walk.encrypted = true,
        ("application", "pgp-encrypted") => walk.encrypted = true,
        _ if name == "winmail.dat" => walk.tnef = true,
        _ => {}
    }
    let is_calendar = matches!(
        (ctype.as_str(), sub.as_str()),
        ("text", "calendar")
            | ("application", "ics")
            | ("text", "x-vcalendar")
            | ("application", "x-ics")
    ) || ((name.ends_with(".ics") || name.ends_with(".vcs"))
        && ctype != "multipart");
    if !is_calendar {
        return;
    }
    let charset = ct.and_then(|c| c.attribute("charset")).map(str::to_string);
    let bytes = transfer_decoded(msg, part, charset.as_deref());
    let method = ct
        .and_then(|c| c.attribute("method"))
        .map(|m| m.trim().to_ascii_uppercase());
    walk.calendars.push(CalendarPart {
        bytes,
        charset,
        method,
        inline: ctype == "text" && sub == "calendar",
    });
}

/// The part's body with its transfer encoding undone but its charset not yet
/// decoded, so that iCalendar lines can be unfolded before any text is decoded.
///
/// mail-parser has already decoded the part; when it was UTF-8 and came out
/// whole (no replacement character), its text is exactly those bytes and is
/// used as is. Otherwise (a legacy charset, or a fold that split a UTF-8
/// sequence) the raw body is decoded again here.
fn transfer_decoded<'m>(
    msg: &'m Message<'m>,
    part: &'m MessagePart<'m>,
    charset: Option<&str>,
) -> Cow<'m, [u8]> {
    let utf8 = charset.is_none_or(|c| {
        let c = c.trim().trim_matches('"');
        c.eq_ignore_ascii_case("utf-8")
            || c.eq_ignore_ascii_case("utf8")
            || c.eq_ignore_ascii_case("us-ascii")
    });
    if utf8
        && let PartType::Text(text) = &part.body
        && !text.contains('\u{fffd}')
    {
        return Cow::Borrowed(text.as_bytes());
    }
    let raw = msg.raw_message();
    let (start, end) = (part.offset_body as usize, part.offset_end as usize);
    let Some(body) = raw.get(start..end.max(start)) else {
        return Cow::Borrowed(part.contents());
    };
    let cte = part
        .content_transfer_encoding()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let decoded = match cte.as_str() {
        "base64" => mail_parser::decoders::base64::base64_decode(strip_whitespace(body).as_slice()),
        "quoted-printable" => {
            mail_parser::decoders::quoted_printable::quoted_printable_decode(body)
        }
        _ => return Cow::Borrowed(body),
    };
    // When the body cannot be decoded by hand, fall back to the parser's reading.
    decoded.map_or(Cow::Borrowed(part.contents()), Cow::Owned)
}

fn strip_whitespace(b: &[u8]) -> Vec<u8> {
    b.iter()
        .copied()
        .filter(|c| !c.is_ascii_whitespace())
        .collect()
}

/// Signs of an automatic reply (RFC 3834 and the common vendor headers).
fn auto_reply(msg: &Message<'_>) -> Option<String> {
    let header = |name: &str| msg.header_raw(name).map(|v| v.trim().to_ascii_lowercase());
    if let Some(v) = header("Auto-Submitted").filter(|v| !v.starts_with("no")) {
        return Some(format!("Auto-Submitted: {v}"));
    }
    for h in ["X-Autoreply", "X-Autorespond", "X-Auto-Reply"] {
        if header(h).is_some() {
            return Some(format!("{h} header"));
        }
    }
    if header("Precedence").is_some_and(|v| v == "auto_reply") {
        return Some("Precedence: auto_reply".into());
    }
    let subject = msg.subject().unwrap_or("").to_lowercase();
    for prefix in [
        "automatic reply:",
        "auto:",
        "out of office",
        "autoreply:",
        "abwesenheitsnotiz",
        "réponse automatique",
    ] {
        if subject.starts_with(prefix) {
            return Some(format!("subject begins {prefix:?}"));
        }
    }
    None
}
