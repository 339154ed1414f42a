//! JSON rendering of an inbound message (the `inspect` tool's output; the
//! format is documented in `calinvite-core/tests/corpus/README.md`).

use std::fmt::Write as _;

use super::{
    CalendarIdentity, InboundEvent, InboundKind, InboundMessage, InboundTime, Reply, RequestScope,
};
use crate::Mailbox;

/// A tiny JSON writer: objects with keys in insertion order, pretty-printed.
struct Json {
    out: String,
    indent: usize,
    first: Vec<bool>,
}

impl Json {
    fn new() -> Self {
        Json {
            out: String::with_capacity(2048),
            indent: 0,
            first: Vec::new(),
        }
    }

    fn newline(&mut self) {
        self.out.push('\n');
        for _ in 0..self.indent {
            self.out.push_str("  ");
        }
    }

    fn sep(&mut self) {
        if let Some(f) = self.first.last_mut() {
            if !*f {
                self.out.push(',');
            }
            *f = false;
        }
        if !self.first.is_empty() {
            self.newline();
        }
    }

    fn key(&mut self, k: &str) {
        self.sep();
        string_into(&mut self.out, k);
        self.out.push_str(": ");
    }

    fn open(&mut self, c: char) {
        self.out.push(c);
        self.indent += 1;
        self.first.push(true);
    }

    fn close(&mut self, c: char) {
        self.indent -= 1;
        let empty = self.first.pop().unwrap_or(true);
        if !empty {
            self.newline();
        }
        self.out.push(c);
    }

    fn str_field(&mut self, k: &str, v: Option<&str>) {
        self.key(k);
        match v {
            Some(s) => string_into(&mut self.out, s),
            None => self.out.push_str("null"),
        }
    }

    fn raw_field(&mut self, k: &str, v: &str) {
        self.key(k);
        self.out.push_str(v);
    }

    fn str_list(&mut self, k: &str, items: impl IntoIterator<Item = String>) {
        self.key(k);
        self.open('[');
        for i in items {
            self.sep();
            string_into(&mut self.out, &i);
        }
        self.close(']');
    }
}

fn string_into(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The time forms of the format: `…[Zone]`, `…Z`, a date, or a floating time.
pub(crate) fn time(t: &InboundTime) -> String {
    match t {
        InboundTime::Zoned(z) if z.zone().is_utc() => {
            z.instant().format("%Y-%m-%dT%H:%M:%SZ").to_string()
        }
        InboundTime::Zoned(z) => format!(
            "{}[{}]",
            z.local().format("%Y-%m-%dT%H:%M:%S"),
            z.zone().name()
        ),
        InboundTime::Floating(t) => t.format("%Y-%m-%dT%H:%M:%S").to_string(),
        InboundTime::Date(d) => d.format("%Y-%m-%d").to_string(),
    }
}

fn opt_time(t: Option<&InboundTime>) -> Option<String> {
    t.map(time)
}

fn mailbox(j: &mut Json, k: &str, m: Option<&Mailbox>) {
    match m {
        None => j.raw_field(k, "null"),
        Some(m) => {
            j.key(k);
            j.open('{');
            j.str_field("address", Some(m.address().as_str()));
            j.str_field("name", m.name().map(|n| n.as_str()));
            j.close('}');
        }
    }
}

fn identity(j: &mut Json, id: &CalendarIdentity) {
    j.str_field("uid", Some(&id.uid));
    j.raw_field("sequence", &id.sequence.get().to_string());
    j.str_field(
        "dtstamp",
        id.dtstamp
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .as_deref(),
    );
    mailbox(j, "organizer", id.organizer.as_ref());
}

fn event(j: &mut Json, e: &InboundEvent) {
    j.key("event");
    j.open('{');
    j.str_field("summary", e.summary.as_ref().map(|t| t.as_str()));
    j.str_field("description", e.description.as_ref().map(|t| t.as_str()));
    j.str_field("location", e.location.as_ref().map(|t| t.as_str()));
    j.str_field("url", e.url.as_deref());
    j.str_field("status", e.status.map(|s| s.as_str()));
    j.raw_field(
        "all_day",
        if matches!(e.start, Some(InboundTime::Date(_))) {
            "true"
        } else {
            "false"
        },
    );
    j.str_field("start", opt_time(e.start.as_ref()).as_deref());
    j.str_field("end", opt_time(e.end.as_ref()).as_deref());
    let zone = match e.start {
        Some(InboundTime::Zoned(z)) if !z.zone().is_utc() => Some(z.zone().name()),
        _ => None,
    };
    j.str_field("time_zone", zone);
    j.str_field(
        "rrule",
        e.rrule.as_ref().map(ToString::to_string).as_deref(),
    );
    j.str_list("rdates", e.rdates.iter().map(time));
    j.str_list("exdates", e.exdates.iter().map(time));
    j.key("overrides");
    j.open('[');
    for o in &e.overrides {
        j.sep();
        j.open('{');
        j.str_field("recurrence_id", Some(&time(&o.recurrence_id)));
        j.str_field("start", opt_time(o.start.as_ref()).as_deref());
        j.str_field("end", opt_time(o.end.as_ref()).as_deref());
        j.str_field("summary", o.summary.as_ref().map(|t| t.as_str()));
        j.close('}');
    }
    j.close(']');
    j.raw_field("attendee_count", &e.attendee_count.to_string());
    j.str_list("unusable", e.unusable.iter().cloned());
    j.close('}');
}

fn reply(j: &mut Json, r: &Reply) {
    j.key("reply");
    j.open('{');
    j.str_field(
        "attendee",
        r.attendee.as_ref().map(|a| a.address().as_str()),
    );
    j.str_field(
        "attendee_name",
        r.attendee
            .as_ref()
            .and_then(|a| a.name())
            .map(|n| n.as_str()),
    );
    j.str_field("partstat", r.partstat.map(|p| p.as_str()));
    j.str_field("delegated_to", r.delegated_to.as_ref().map(|a| a.as_str()));
    j.str_field(
        "recurrence_id",
        opt_time(r.recurrence_id.as_ref()).as_deref(),
    );
    j.str_field("comment", r.comment.as_ref().map(|t| t.as_str()));
    j.str_field(
        "proposed_start",
        opt_time(r.proposed_start.as_ref()).as_deref(),
    );
    j.str_field("proposed_end", opt_time(r.proposed_end.as_ref()).as_deref());
    j.str_list("request_status", r.request_status.iter().cloned());
    j.str_field(
        "invitation_token",
        r.invitation.as_ref().map(|u| u.token().as_str()),
    );
    j.close('}');
}

pub(super) fn render(m: &InboundMessage) -> String {
    let mut j = Json::new();
    j.open('{');
    j.str_field("classification", Some(m.kind.name()));
    let reason = match &m.kind {
        InboundKind::Unsupported { reason, .. } => Some(reason.as_str()),
        _ => None,
    };
    j.str_field("unsupported_reason", reason);
    if let InboundKind::Unsupported { detail, .. } = &m.kind {
        j.str_field("detail", Some(detail));
    }
    j.str_field("method", m.method.as_deref());
    j.str_field("content_type_method", m.content_type_method.as_deref());
    j.str_field("message_id", m.message_id.as_deref());
    j.str_field("subject", m.subject.as_deref());
    j.str_field("from", m.from.as_ref().map(|a| a.as_str()));
    match &m.kind {
        InboundKind::OrganizerRequest(r) => {
            identity(&mut j, &r.identity);
            event(&mut j, &r.event);
            j.str_field(
                "scope",
                Some(if r.scope == RequestScope::Full {
                    "full"
                } else {
                    "instances"
                }),
            );
            if r.scope == RequestScope::Instances {
                j.str_list(
                    "recurrence_ids",
                    r.event.overrides.iter().map(|o| time(&o.recurrence_id)),
                );
            }
        }
        InboundKind::OrganizerCancel(c) => {
            identity(&mut j, &c.identity);
            event(&mut j, &c.event);
            j.str_field(
                "cancel_scope",
                Some(if c.instances.is_empty() {
                    "event"
                } else {
                    "instances"
                }),
            );
            j.str_list("recurrence_ids", c.instances.iter().map(time));
        }
        InboundKind::Reply(r) | InboundKind::Counter(r) | InboundKind::Refresh(r) => {
            identity(&mut j, &r.identity);
            reply(&mut j, r);
        }
        InboundKind::DeliveryStatus(d) => {
            j.key("dsn");
            j.open('{');
            j.raw_field("permanent", if d.permanent { "true" } else { "false" });
            j.str_field("status", d.status.as_deref());
            j.str_field("action", d.action.as_deref());
            j.str_field("recipient", d.recipient.as_ref().map(|a| a.as_str()));
            j.str_field("diagnostic", d.diagnostic.as_deref());
            j.str_field("original_message_id", d.original_message_id.as_deref());
            j.str_field(
                "invitation_token",
                d.invitation_token().as_ref().map(|t| t.as_str()),
            );
            j.close('}');
        }
        InboundKind::AutoReply { reason } => {
            j.key("auto_reply");
            j.open('{');
            j.str_field("reason", Some(reason));
            j.close('}');
        }
        InboundKind::NotCalendar | InboundKind::Unsupported { .. } => {}
    }
    j.str_list("warnings", m.warnings.iter().cloned());
    j.close('}');
    j.out.push('\n');
    j.out
}
