//! Invitations: sending one (idempotent twice over: per event and address
//! by calinvite itself, and per `Idempotency-Key` here), one recipient's
//! status and history, and an event's recipients with filters.
//!
//! Invitations are named by their recipient's address, never by their
//! token: the token is the recipient's secret (whoever holds it can answer
//! for them) and the API never shows it.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use calinvite_core::Keyword as _;
use calinvite_core::lifecycle::{
    DeliveryState, HistoryEntry, HistoryKind, Invitation, InvitationSource, Outcome, PipelineError,
    Store as _,
};
use calinvite_core::{EmailAddress, LanguageTag, ParticipationStatus, Recipient};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use utoipa::ToSchema;

use super::{Page, answer_keyword, find_event};
use crate::db::Idem;
use crate::extract::{
    ApiJson, ApiPath, ApiQuery, Caller, decode_cursor, encode_cursor, page_limit,
};
use crate::problem::{ApiError, ApiResult, PROBLEM_JSON};
use crate::state::AppState;

/// Someone to invite.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    /// Their address.
    pub address: String,
    /// Their name, as the invitation greets them.
    pub name: Option<String>,
    /// Their language (a BCP 47 tag such as `de` or `pt-BR`), for the
    /// invitation's words.
    pub language: Option<String>,
}

/// One recipient's invitation.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct InvitationBody {
    /// The event.
    pub event: String,
    /// The recipient's address.
    pub address: String,
    /// Their name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Their language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Where the request came from: `api`, `landing-page`, or a list's name.
    pub source: String,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// Their answer for the whole event: `accepted`, `declined`,
    /// `tentative`, `delegated`, `needs-action`, or `no-answer`.
    pub status: String,
    /// When they answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<DateTime<Utc>>,
    /// Answers for single occurrences of a recurring event.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instance_answers: Vec<InstanceAnswer>,
    /// Where its last message stands: `queued`, `sent` (the mail server
    /// took it), `delivered` (a report said so), `soft-bounced`, `hard-bounced`.
    pub delivery: String,
    /// When a mail server first took a message for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<Utc>>,
    /// The SEQUENCE of the revision they hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_held: Option<u64>,
    /// Whether a cancellation was sent to them.
    pub cancelled: bool,
}

/// An answer for one occurrence.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct InstanceAnswer {
    /// The occurrence: its original start (a date, or an instant).
    pub occurrence: String,
    /// The answer.
    pub status: String,
}

pub(crate) fn occurrence(id: &calinvite_core::OccurrenceId) -> String {
    match id {
        calinvite_core::OccurrenceId::At(t) => t.to_rfc3339(),
        calinvite_core::OccurrenceId::On(d) => d.to_string(),
    }
}

impl From<&Invitation> for InvitationBody {
    fn from(i: &Invitation) -> Self {
        InvitationBody {
            event: i.code().to_string(),
            address: i.recipient().address().as_str().to_owned(),
            name: i.recipient().name().map(|n| n.as_str().to_owned()),
            language: i.recipient().language().map(|l| l.as_str().to_owned()),
            source: i.source().as_str().to_owned(),
            created_at: i.created_at(),
            status: answer_keyword(i.status()),
            answered_at: i.answered_at(),
            instance_answers: i
                .instance_answers()
                .iter()
                .map(|(id, s)| InstanceAnswer {
                    occurrence: occurrence(id),
                    status: s.keyword().to_owned(),
                })
                .collect(),
            delivery: i.delivery().keyword().to_owned(),
            sent_at: i.sent_at(),
            sequence_held: i.sequence_held().map(|s| s.get()),
            cancelled: i.cancelled(),
        }
    }
}

/// One thing that happened to an invitation.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct HistoryBody {
    /// When.
    pub at: DateTime<Utc>,
    /// What: `queued`, `sent`, `delivered`, `bounced`, `answer`,
    /// `counter` (another time proposed), `unsubscribed`, `complained`.
    pub kind: String,
    /// For `queued`: which message (`invitation`, `update`, `cancellation`,
    /// `instance-cancellation`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// For `queued`, `sent` and `answer`: the SEQUENCE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// For `answer`: the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// For `answer`: the occurrence answered, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrence: Option<String>,
    /// For `answer` and `counter`: the comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// For `answer`: after the event's end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late: Option<bool>,
    /// For `answer`: given on the web rather than from a calendar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web: Option<bool>,
    /// For `answer`: another person answered with this invitation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded_from: Option<String>,
    /// For `answer`: the From of the reply, when not the attendee.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_by: Option<String>,
    /// For `bounced`: permanent (the address is suppressed) or temporary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permanent: Option<bool>,
    /// For `bounced`: the mail server's words; for `counter`: the times
    /// proposed; for `complained`: the feedback type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

pub(crate) fn message_kind(kind: &calinvite_core::MessageKind) -> &'static str {
    match kind {
        calinvite_core::MessageKind::Invitation => "invitation",
        calinvite_core::MessageKind::Update => "update",
        calinvite_core::MessageKind::Cancellation => "cancellation",
        calinvite_core::MessageKind::InstanceCancellation(_) => "instance-cancellation",
        _ => "message",
    }
}

impl From<&HistoryEntry> for HistoryBody {
    fn from(h: &HistoryEntry) -> Self {
        let mut b = HistoryBody {
            at: h.at,
            kind: String::new(),
            message: None,
            sequence: None,
            status: None,
            occurrence: None,
            comment: None,
            late: None,
            web: None,
            forwarded_from: None,
            sent_by: None,
            permanent: None,
            detail: None,
        };
        let kind = match &h.kind {
            HistoryKind::Answer {
                status,
                instance,
                comment,
                sequence,
                forwarded_from,
                sent_by,
                late,
                web,
            } => {
                b.status = Some(status.keyword().to_owned());
                b.occurrence = instance.as_ref().map(occurrence);
                b.comment.clone_from(comment);
                b.sequence = Some(sequence.get());
                b.forwarded_from = forwarded_from.as_ref().map(|a| a.as_str().to_owned());
                b.sent_by = sent_by.as_ref().map(|a| a.as_str().to_owned());
                b.late = Some(*late);
                b.web = Some(*web);
                "answer"
            }
            HistoryKind::Counter {
                start,
                end,
                comment,
            } => {
                b.comment.clone_from(comment);
                b.detail = Some(format!(
                    "{} – {}",
                    start.as_deref().unwrap_or("?"),
                    end.as_deref().unwrap_or("?")
                ));
                "counter"
            }
            HistoryKind::Queued { kind, sequence } => {
                b.message = Some(message_kind(kind).to_owned());
                b.sequence = Some(sequence.get());
                "queued"
            }
            HistoryKind::Sent { sequence } => {
                b.sequence = Some(sequence.get());
                "sent"
            }
            HistoryKind::Delivered => "delivered",
            HistoryKind::Bounced { permanent, detail } => {
                b.permanent = Some(*permanent);
                b.detail = Some(detail.clone());
                "bounced"
            }
            HistoryKind::Unsubscribed => "unsubscribed",
            HistoryKind::Complained { feedback_type } => {
                b.detail.clone_from(feedback_type);
                "complained"
            }
            _ => "other",
        };
        b.kind = kind.to_owned();
        b
    }
}

/// An invitation sent (or found: nothing is sent twice).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct InvitationSent {
    /// `invited` (new: its message is queued) or `already-invited` (the
    /// address had an invitation to the event: nothing was sent again).
    pub outcome: String,
    /// The invitation.
    pub invitation: InvitationBody,
}

/// One recipient's invitation and everything that happened to it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct InvitationDetail {
    /// The invitation.
    pub invitation: InvitationBody,
    /// What happened to it, oldest first.
    pub history: Vec<HistoryBody>,
}

/// Filters of an event's recipients.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvitationsQuery {
    /// Only these answers: `accepted`, `declined`, `tentative`,
    /// `delegated`, `needs-action`, `no-answer`.
    pub status: Option<String>,
    /// Only this delivery state: `queued`, `sent`, `delivered`,
    /// `soft-bounced`, `hard-bounced`.
    pub delivery: Option<String>,
    /// Only invitations from this source (`api`, or a list's name).
    pub source: Option<String>,
    /// Invitations per page, 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// The `next_cursor` of the page before.
    pub cursor: Option<String>,
}

/// The `Idempotency-Key` header, when given: 1 to 255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let k = v.to_str().unwrap_or("").trim();
    if k.is_empty() || k.len() > 255 || !k.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::field(
            "Idempotency-Key",
            "1 to 255 visible ASCII characters",
        ));
    }
    Ok(Some(k.to_owned()))
}

/// Invites someone to the event. Asking again for the same address returns
/// the invitation it has and sends nothing. With an `Idempotency-Key`, a
/// repeated request gets the first one's answer again, whatever happened
/// since.
#[utoipa::path(
    post,
    path = "/v1/events/{code}/invitations",
    tag = "invitations",
    params(
        ("code" = String, Path, description = "The event's code"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried request safe: the same key answers as the first time"),
    ),
    request_body = NewInvitation,
    responses(
        (status = 201, description = "Invited: the message is queued", body = InvitationSent),
        (status = 200, description = "The address had an invitation to the event: nothing was sent again", body = InvitationSent),
        (status = 409, description = "A request with this Idempotency-Key is still running", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Refused: the address is suppressed, the event cancelled or over …; or the Idempotency-Key was used for another request", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn invite(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(code): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(new): ApiJson<NewInvitation>,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    let Some(key) = key else {
        return Ok(send(&state, &caller, &code, &new).await?.into_response());
    };
    let fingerprint = {
        let mut h = Sha256::new();
        h.update(format!("POST /v1/events/{code}/invitations\n"));
        h.update(serde_json::to_vec(&new).unwrap_or_default());
        h.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let scope = caller.idem_scope();
    let db = state.db();
    let now = state.now();
    match db
        .idem_begin(
            scope,
            &key,
            &fingerprint,
            now,
            chrono::TimeDelta::seconds(120),
        )
        .await?
    {
        Idem::New => {}
        Idem::Replay { status, body } => return Ok(replay(status, body)),
        Idem::InProgress => return Err(ApiError::idempotency_in_use()),
        Idem::Mismatch => return Err(ApiError::idempotency_reused()),
    }
    match send(&state, &caller, &code, &new).await {
        Ok((status, Json(body))) => {
            let text = serde_json::to_string(&body).unwrap_or_default();
            db.idem_finish(scope, &key, status.as_u16(), &text).await?;
            Ok((status, Json(body)).into_response())
        }
        Err(e) if e.is_server_error() => {
            // Nothing was decided: let a retry run it.
            let _ = db.idem_release(scope, &key).await;
            Err(e)
        }
        Err(e) => {
            let text = serde_json::to_string(&e.problem()).unwrap_or_default();
            db.idem_finish(scope, &key, e.status().as_u16(), &text)
                .await?;
            Err(e)
        }
    }
}

/// The answer kept for an Idempotency-Key, again.
fn replay(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut r = (status, body).into_response();
    let kind = if status.is_success() {
        "application/json"
    } else {
        PROBLEM_JSON
    };
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    r.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    r
}

async fn send(
    state: &AppState,
    caller: &Caller,
    code: &str,
    new: &NewInvitation,
) -> ApiResult<(StatusCode, Json<InvitationSent>)> {
    let address = super::organizers::address("/address", &new.address)?;
    let mut recipient = Recipient::new(address.clone());
    if let Some(n) = new.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        if n.chars().count() > 200 {
            return Err(ApiError::field("/name", "at most 200 characters"));
        }
        recipient = recipient.with_name(n);
    }
    if let Some(l) = new
        .language
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        let tag = LanguageTag::parse(l)
            .map_err(|_| ApiError::field("/language", "not a language tag such as de or pt-BR"))?;
        recipient = recipient.with_language(tag);
    }
    let event = find_event(state, caller, code).await?;
    let outcome = state
        .pipeline()
        .invite(
            event.scope(),
            event.code(),
            recipient,
            InvitationSource::Api,
        )
        .await?;
    let (status, name) = match outcome {
        Outcome::Invited(_) => (StatusCode::CREATED, "invited"),
        Outcome::AlreadyInvited(_) => (StatusCode::OK, "already-invited"),
        Outcome::Refused(r) => return Err(ApiError::refused(&r)),
        other => {
            tracing::error!(
                outcome = other.label(),
                "an unexpected outcome of an invitation"
            );
            return Err(ApiError::internal());
        }
    };
    let invitation = state
        .pipeline()
        .store()
        .invitation_for(event.code(), &address)
        .await
        .map_err(PipelineError::from)?
        .ok_or_else(ApiError::internal)?;
    Ok((
        status,
        Json(InvitationSent {
            outcome: name.to_owned(),
            invitation: InvitationBody::from(&invitation),
        }),
    ))
}

/// One recipient's invitation, with its history.
#[utoipa::path(
    get,
    path = "/v1/events/{code}/invitations/{address}",
    tag = "invitations",
    params(
        ("code" = String, Path, description = "The event's code"),
        ("address" = String, Path, description = "The recipient's address"),
    ),
    responses((status = 200, description = "The invitation and its history", body = InvitationDetail))
)]
pub(crate) async fn get_invitation(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((code, address)): ApiPath<(String, String)>,
) -> ApiResult<Json<InvitationDetail>> {
    let event = find_event(&state, &caller, &code).await?;
    let not_found = || ApiError::not_found(format!("invitation of {address} to event {code}"));
    let parsed = EmailAddress::parse(&address).map_err(|_| not_found())?;
    let store = state.pipeline().store();
    let inv = store
        .invitation_for(event.code(), &parsed)
        .await
        .map_err(PipelineError::from)?
        .ok_or_else(not_found)?;
    let history = state.pipeline().history(event.scope(), inv.token()).await?;
    Ok(Json(InvitationDetail {
        invitation: InvitationBody::from(&inv),
        history: history.iter().map(HistoryBody::from).collect(),
    }))
}

/// A filter on answers.
fn status_filter(s: &str) -> ApiResult<Option<ParticipationStatus>> {
    if s == "no-answer" {
        return Ok(None);
    }
    ParticipationStatus::from_keyword(s)
        .map(Some)
        .ok_or_else(|| {
            ApiError::field(
                "status",
                "one of accepted, declined, tentative, delegated, needs-action, no-answer",
            )
        })
}

/// An event's recipients, filtered, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/events/{code}/invitations",
    tag = "invitations",
    params(("code" = String, Path, description = "The event's code"), InvitationsQuery),
    responses((status = 200, description = "A page of invitations", body = Page<InvitationBody>))
)]
pub(crate) async fn list_invitations(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(code): ApiPath<String>,
    ApiQuery(q): ApiQuery<InvitationsQuery>,
) -> ApiResult<Json<Page<InvitationBody>>> {
    let limit = page_limit(q.limit)?;
    let status = q.status.as_deref().map(status_filter).transpose()?;
    let delivery = q
        .delivery
        .as_deref()
        .map(|d| {
            DeliveryState::from_keyword(d).ok_or_else(|| {
                ApiError::field(
                    "delivery",
                    "one of queued, sent, delivered, soft-bounced, hard-bounced",
                )
            })
        })
        .transpose()?;
    let event = find_event(&state, &caller, &code).await?;
    let store = state.pipeline().store();
    // The cursor is the last address scanned (never a token): the page goes
    // on after that address's invitation.
    let mut after = match decode_cursor(q.cursor.as_deref())? {
        Some(a) => {
            let addr = EmailAddress::parse(&a).map_err(|_| crate::extract::bad_cursor())?;
            let inv = store
                .invitation_for(event.code(), &addr)
                .await
                .map_err(PipelineError::from)?
                .ok_or_else(crate::extract::bad_cursor)?;
            Some(inv.token().clone())
        }
        None => None,
    };
    let keep = |i: &Invitation| {
        status.is_none_or(|s| i.status() == s)
            && delivery.is_none_or(|d| i.delivery() == d)
            && q.source.as_deref().is_none_or(|s| i.source().as_str() == s)
    };
    let mut items = Vec::new();
    let mut scanned = 0usize;
    let mut last_scanned: Option<String> = None;
    // A filter that matches little scans at most this much per page, and
    // says where it stopped.
    let budget = limit * 20;
    loop {
        let page = store
            .invitations(event.code(), after.as_ref(), 200)
            .await
            .map_err(PipelineError::from)?;
        let full = page.len() == 200;
        for inv in &page {
            scanned += 1;
            last_scanned = Some(inv.recipient().address().as_str().to_owned());
            after = Some(inv.token().clone());
            if keep(inv) {
                items.push(InvitationBody::from(inv));
                if items.len() == limit {
                    break;
                }
            }
        }
        let more_in_page = items.len() == limit || scanned >= budget;
        if more_in_page {
            // Is anything left after the last one scanned?
            let rest = store
                .invitations(event.code(), after.as_ref(), 1)
                .await
                .map_err(PipelineError::from)?;
            let next_cursor = (!rest.is_empty())
                .then(|| last_scanned.as_deref().map(encode_cursor))
                .flatten();
            return Ok(Json(Page { items, next_cursor }));
        }
        if !full {
            return Ok(Json(Page {
                items,
                next_cursor: None,
            }));
        }
    }
}
