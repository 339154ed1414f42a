//! Plain messages to organizers: "your event is live", "we could not take
//! your event because …", "someone proposes another time", and reports with a
//! CSV attachment. 7-bit, CRLF, quoted-printable text, like every message
//! calinvite writes.

use chrono::{DateTime, Utc};

use crate::address::EmailAddress;
use crate::mime::{HeaderWriter, base64_lines, quoted_printable, raw_header};

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
