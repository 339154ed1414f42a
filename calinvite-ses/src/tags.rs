//! SES message tags for an assembled message: the invitation (from the
//! Message-ID calinvite wrote) and the event (from the calendar's UID), so that
//! SES events published to CloudWatch, Firehose or SNS name them.

use calinvite_core::IdempotencyKey;
use calinvite_core::{EventCode, InvitationUid};
use mail_parser::{MessageParser, MimeHeaders};

/// Tag naming the invitation's token.
pub const TAG_INVITATION: &str = "calinvite-invitation";
/// Tag naming the event code.
pub const TAG_EVENT: &str = "calinvite-event";

/// The tags for `message`: none for a message calinvite did not write (an
/// organizer notice carries no invitation).
pub(crate) fn message_tags(message: &[u8]) -> Vec<(String, String)> {
    let Some(parsed) = MessageParser::default().parse(message) else {
        return Vec::new();
    };
    let mut tags = Vec::new();
    if let Some(token) = parsed
        .message_id()
        .and_then(IdempotencyKey::token_in_message_id)
    {
        tags.push((TAG_INVITATION.to_owned(), token.as_str().to_owned()));
    }
    if let Some(code) = event_code(&parsed) {
        tags.push((TAG_EVENT.to_owned(), code.as_str().to_owned()));
    }
    tags
}

fn event_code(parsed: &mail_parser::Message<'_>) -> Option<EventCode> {
    parsed.parts.iter().find_map(|part| {
        let ct = part.content_type()?;
        let is_calendar = ct.ctype().eq_ignore_ascii_case("text")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("calendar"));
        if !is_calendar {
            return None;
        }
        let text = part.text_contents()?;
        text.lines().find_map(|line| {
            let value = line.strip_prefix("UID:")?;
            InvitationUid::parse(value.trim())
                .ok()
                .map(|u| u.event_code().clone())
        })
    })
}
