//! Delivery-status notifications (RFC 3464, RFC 3463 status codes).

use mail_parser::{Message, MimeHeaders, PartType};

use super::DeliveryStatus;
use crate::EmailAddress;

/// The report in a message, if it is one: a `message/delivery-status` part
/// (normally inside `multipart/report; report-type=delivery-status`).
pub(super) fn find(msg: &Message<'_>) -> Option<DeliveryStatus> {
    let status_part = msg.parts.iter().find(|p| {
        p.content_type().is_some_and(|c| {
            c.ctype().eq_ignore_ascii_case("message")
                && c.subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("delivery-status"))
        })
    })?;
    let text = String::from_utf8_lossy(status_part.contents()).into_owned();
    let mut report = parse_fields(&text);
    report.original_message_id = original_message_id(msg);
    Some(report)
}

/// Reads the per-recipient fields; the first recipient block that failed (or,
/// failing that, the first) is the one reported.
pub(super) fn parse_fields(text: &str) -> DeliveryStatus {
    // Per-message block, then one block per recipient, separated by blank lines.
    let unfolded = text
        .replace("\r\n", "\n")
        .replace("\n ", " ")
        .replace("\n\t", " ");
    let blocks: Vec<&str> = unfolded
        .split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .collect();
    let field = |block: &str, name: &str| -> Option<String> {
        block.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let recipient_blocks: Vec<&str> = blocks
        .iter()
        .copied()
        .filter(|b| field(b, "Action").is_some() || field(b, "Final-Recipient").is_some())
        .collect();
    let block = recipient_blocks
        .iter()
        .copied()
        .find(|b| field(b, "Action").is_some_and(|a| a.eq_ignore_ascii_case("failed")))
        .or_else(|| recipient_blocks.first().copied())
        .unwrap_or("");
    let action = field(block, "Action").map(|a| a.to_ascii_lowercase());
    let status =
        field(block, "Status").map(|s| s.split_whitespace().next().unwrap_or("").to_string());
    let recipient = field(block, "Final-Recipient")
        .or_else(|| field(block, "Original-Recipient"))
        .and_then(|r| EmailAddress::parse(r.split_once(';').map_or(r.as_str(), |(_, a)| a)).ok());
    // Human text: a folded line keeps its indentation when unfolded; one space will do.
    let diagnostic = field(block, "Diagnostic-Code").map(|d| {
        let text = d.split_once(';').map_or(d.as_str(), |(_, t)| t);
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    });
    let permanent = match (&status, &action) {
        (Some(s), _) if s.starts_with('5') => true,
        (Some(s), _) if s.starts_with('4') || s.starts_with('2') => false,
        (_, Some(a)) => a == "failed",
        _ => false,
    };
    DeliveryStatus {
        permanent,
        action,
        status,
        recipient,
        diagnostic,
        original_message_id: None,
    }
}

/// Message-ID of the returned message (`message/rfc822` or `text/rfc822-headers`).
fn original_message_id(msg: &Message<'_>) -> Option<String> {
    for part in &msg.parts {
        match &part.body {
            PartType::Message(inner) => {
                if let Some(id) = inner.message_id() {
                    return Some(id.trim_matches(['<', '>']).to_string());
                }
            }
            _ => {
                let is_headers = part.content_type().is_some_and(|c| {
                    c.subtype()
                        .is_some_and(|s| s.eq_ignore_ascii_case("rfc822-headers"))
                });
                if is_headers {
                    let text = String::from_utf8_lossy(part.contents()).replace("\r\n", "\n");
                    let unfolded = text.replace("\n ", " ").replace("\n\t", " ");
                    for line in unfolded.lines() {
                        if let Some((n, v)) = line.split_once(':')
                            && n.trim().eq_ignore_ascii_case("message-id")
                        {
                            return Some(v.trim().trim_matches(['<', '>']).to_string());
                        }
                    }
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_recipient_block() {
        let r = parse_fields(
            "Reporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; Bob@Example.org\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 <bob@example.org>:\r\n User unknown\r\n",
        );
        assert!(r.permanent);
        assert_eq!(r.status.as_deref(), Some("5.1.1"));
        assert_eq!(r.recipient.unwrap().as_str(), "bob@example.org");
        assert_eq!(
            r.diagnostic.as_deref(),
            Some("550 5.1.1 <bob@example.org>: User unknown")
        );
        let t = parse_fields("Final-Recipient: rfc822; a@b.c\nAction: delayed\nStatus: 4.4.7\n");
        assert!(!t.permanent);
    }
}
