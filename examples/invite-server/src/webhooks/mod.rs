//! Webhooks to the application: what happens — answers, delivery outcomes,
//! event changes, changes held for approval, list progress — posted to the
//! endpoints a tenant registers (`/v1/webhooks`), signed per the Standard
//! Webhooks specification.
//!
//! ```text
//!  Pipeline ── commit(changes + announcements) ──► announcements (store)
//!                                                         │ Dispatcher: read, fan out, forget
//!                                                         ▼
//!                 invite_server_webhook_messages (one per endpoint, with its attempts)
//!                                                         │ due ones claimed, posted, settled
//!                                                         ▼
//!                                   POST https://app.example.com/hooks  (signed)
//! ```
//!
//! - **Outbox.** The pipeline writes each announcement in the same
//!   transaction as the change that caused it (`calinvite-core`'s
//!   announcements), so nothing is posted that was rolled back and nothing
//!   committed is lost. The [`Dispatcher`] reads them in order, writes one
//!   message per matching endpoint (its owner's, or its organizer's, and a
//!   type it subscribed to) into the server's own tables, and forgets the
//!   announcements; a message is written once per endpoint even when two
//!   processes read the same announcement.
//! - **Payload.** JSON `{"type", "timestamp", "data"}` ([`payload`]); the
//!   bytes are fixed when the message is written, and every attempt sends
//!   the same bytes.
//! - **Headers.** `webhook-id` (the message's id, the same on every
//!   attempt: a receiver's idempotency key), `webhook-timestamp` (the
//!   attempt's time, Unix seconds) and `webhook-signature` (`v1,` and the
//!   base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` with the endpoint's
//!   secret; during a rotation, the previous secret's too, space-separated:
//!   [`signing`]).
//! - **Retries.** A post succeeds on a 2xx answer within the timeout;
//!   anything else is retried on the configured schedule (by default the
//!   specification's: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h),
//!   each wait spread by up to a fifth either way, later when the answer
//!   asks (`Retry-After`), then given up. `410 Gone` disables the endpoint
//!   at once; an endpoint whose every post has failed for days is disabled
//!   too. Messages to an endpoint go out one at a time, in order; a message
//!   waiting for its retry does not hold back the ones after it.
//! - **Safety.** Only public `http`/`https` addresses, checked when the
//!   endpoint is registered and on every send, on the addresses the
//!   connection uses ([`target`]); no redirects, no proxy; answers are read
//!   to at most 64 KiB. Secrets and signatures are never logged.

use calinvite_core::Keyword as _;
use calinvite_core::lifecycle::{Announcement, AnnouncementKind};
use serde_json::{Value, json};

use crate::api::invitations::{message_kind, occurrence};

mod db;
mod dispatch;
pub mod signing;
pub mod target;

pub(crate) use db::{AttemptRecord, EndpointRecord, MessageRecord};
pub use dispatch::{Dispatcher, DispatcherHandle, RetryPolicy, WebhookCounts, WebhookMetrics};

/// The body posted for an announcement, as sent (compact JSON): `type`
/// (`invitation.answered` …), `timestamp` (when it happened, RFC 3339, UTC)
/// and `data`, which always names the `organizer` (its id; `null` for the
/// domain owner's own) and, when it concerns one, the `event` (its code).
pub fn payload(a: &Announcement) -> String {
    #[derive(serde::Serialize)]
    struct Body {
        #[serde(rename = "type")]
        kind: &'static str,
        timestamp: String,
        data: Value,
    }
    let body = Body {
        kind: a.announcement_type().as_str(),
        timestamp: a.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        data: data(a),
    };
    serde_json::to_string(&body).unwrap_or_else(|_| String::from("{}"))
}

fn data(a: &Announcement) -> Value {
    let mut d = match &a.kind {
        AnnouncementKind::Answered {
            code,
            address,
            status,
            previous,
            instance,
            applied,
            late,
            web,
            forwarded_from,
            comment,
            ..
        } => json!({
            "event": code.to_string(),
            "address": address.as_str(),
            "status": status.keyword(),
            "previous_status": previous.map(|p| p.keyword()),
            "changed_mind": previous.is_some_and(|p| p != *status),
            "instance": instance.as_ref().map(occurrence),
            "applied": applied,
            "late": late,
            "channel": if *web { "web" } else { "mail" },
            "forwarded_from": forwarded_from.as_ref().map(|f| f.as_str()),
            "comment": comment,
        }),
        AnnouncementKind::Countered {
            code,
            address,
            start,
            end,
            comment,
            ..
        } => json!({
            "event": code.to_string(),
            "address": address.as_str(),
            "proposed_start": start,
            "proposed_end": end,
            "comment": comment,
        }),
        AnnouncementKind::Sent {
            code,
            address,
            message,
            sequence,
            ..
        } => json!({
            "event": code.to_string(),
            "address": address.as_str(),
            "message": message_kind(message),
            "sequence": sequence.get(),
        }),
        AnnouncementKind::Delivered { code, address, .. } => json!({
            "event": code.to_string(),
            "address": address.as_str(),
        }),
        AnnouncementKind::Bounced {
            code,
            address,
            permanent,
            detail,
            ..
        } => json!({
            "event": code.to_string(),
            "address": address.as_str(),
            "permanent": permanent,
            "detail": detail,
        }),
        AnnouncementKind::Complained {
            code,
            address,
            feedback_type,
            ..
        } => json!({
            "event": code.to_string(),
            "address": address.as_str(),
            "feedback_type": feedback_type,
        }),
        AnnouncementKind::Suppressed {
            address,
            reason,
            code,
            ..
        } => json!({
            "event": code.as_ref().map(ToString::to_string),
            "address": address.as_str(),
            "reason": reason.as_str(),
        }),
        AnnouncementKind::Failed {
            code,
            address,
            message,
            sequence,
            reason,
            ..
        } => json!({
            "event": code.to_string(),
            "address": address.as_str(),
            "message": message_kind(message),
            "sequence": sequence.get(),
            "reason": reason,
        }),
        AnnouncementKind::EventCreated {
            code,
            summary,
            from_calendar,
            ..
        } => json!({
            "event": code.to_string(),
            "summary": summary,
            "from_calendar": from_calendar,
        }),
        AnnouncementKind::EventUpdated {
            code,
            sequence,
            mailed,
            ..
        } => json!({
            "event": code.to_string(),
            "sequence": sequence.get(),
            "mailed": mailed,
        }),
        AnnouncementKind::EventCancelled {
            code,
            sequence,
            instances,
            mailed,
            ..
        } => json!({
            "event": code.to_string(),
            "sequence": sequence.get(),
            "whole_event": instances.is_empty(),
            "instances": instances.iter().map(occurrence).collect::<Vec<_>>(),
            "mailed": mailed,
        }),
        AnnouncementKind::PendingCreated {
            id,
            code,
            change,
            recipients,
            ..
        } => {
            let (kind, instances) = match change {
                calinvite_core::lifecycle::PendingKind::Update => ("update", Vec::new()),
                calinvite_core::lifecycle::PendingKind::CancelInstances(list) => (
                    "cancel-instances",
                    list.iter().map(occurrence).collect::<Vec<_>>(),
                ),
                _ => ("cancel", Vec::new()),
            };
            json!({
                "pending": id.as_str(),
                "event": code.to_string(),
                "change": kind,
                "instances": instances,
                "recipients": recipients,
            })
        }
        AnnouncementKind::PendingResolved {
            id, code, state, ..
        } => json!({
            "pending": id.as_str(),
            "event": code.to_string(),
            "state": state.keyword(),
        }),
        AnnouncementKind::ListProgress {
            job,
            code,
            name,
            state,
            recorded,
            invited,
            ..
        } => json!({
            "list": job.as_str(),
            "event": code.to_string(),
            "name": name,
            "state": state.keyword(),
            "recorded": recorded,
            "invited": invited,
        }),
        // A kind this build does not know is posted with what every
        // announcement has.
        _ => json!({}),
    };
    if let Some(obj) = d.as_object_mut() {
        obj.insert("organizer".into(), json!(a.organizer.map(|o| o.0)));
    }
    d
}

/// Every type an endpoint may subscribe to (what the API checks `types`
/// against).
pub fn types() -> impl Iterator<Item = &'static str> {
    calinvite_core::lifecycle::AnnouncementType::ALL
        .iter()
        .map(|t| t.as_str())
}
