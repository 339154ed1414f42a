//! Reports per event, per organizer and per domain owner, as JSON or CSV,
//! and an event's report mailed to the organizer.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use calinvite_core::lifecycle::report::{self, Report};
use calinvite_core::lifecycle::{OwnerId, PipelineError, Scope, Store as _};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::lists::csv_response;
use super::{find_event, walk_events};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

/// Counts over a set of invitations, each named by what it measures.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ReportBody {
    /// Events counted.
    pub events: u64,
    /// Invitations.
    pub invitations: u64,
    /// Invitations a mail server accepted at least once (not delivery).
    pub accepted_by_mail_server: u64,
    /// Invitations whose delivery was confirmed by a report; absent when
    /// the transport does not report deliveries (an SMTP relay), so that no
    /// count reads as mail lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_confirmed: Option<u64>,
    /// Permanent failures (the address is suppressed).
    pub hard_bounces: u64,
    /// Temporary failures reported last.
    pub soft_bounces: u64,
    /// Answered Yes.
    pub accepted: u64,
    /// Answered No.
    pub declined: u64,
    /// Answered Maybe.
    pub tentative: u64,
    /// Delegated.
    pub delegated: u64,
    /// No answer yet.
    pub no_answer: u64,
    /// Answers after the event's end.
    pub late_answers: u64,
    /// Answers from forwarded copies.
    pub forwarded_answers: u64,
    /// Other times proposed.
    pub new_times_proposed: u64,
    /// Unsubscribed.
    pub unsubscribed: u64,
    /// Spam complaints.
    pub complaints: u64,
    /// Answered ÷ accepted by the mail server, 0 to 1.
    pub response_rate: f64,
    /// Answers per day (UTC).
    pub answers_per_day: BTreeMap<String, u64>,
    /// Refusals by reason.
    pub refusals: BTreeMap<String, u64>,
}

impl From<&Report> for ReportBody {
    fn from(r: &Report) -> Self {
        ReportBody {
            events: r.events,
            invitations: r.invitations,
            accepted_by_mail_server: r.submitted,
            delivery_confirmed: r.confirms_delivery.then_some(r.delivery_confirmed),
            hard_bounces: r.hard_bounced,
            soft_bounces: r.soft_bounced,
            accepted: r.accepted,
            declined: r.declined,
            tentative: r.tentative,
            delegated: r.delegated,
            no_answer: r.no_answer,
            late_answers: r.late,
            forwarded_answers: r.forwarded,
            new_times_proposed: r.counters,
            unsubscribed: r.unsubscribed,
            complaints: r.complaints,
            response_rate: r.response_rate(),
            answers_per_day: r
                .answers_over_time
                .iter()
                .map(|(d, n)| (d.to_string(), *n))
                .collect(),
            refusals: r
                .refusals
                .iter()
                .map(|(k, n)| (k.as_str().to_owned(), *n))
                .collect(),
        }
    }
}

/// How a report is wanted.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatQuery {
    /// `json` (default) or `csv`; `Accept: text/csv` asks for CSV too.
    pub format: Option<String>,
}

fn wants_csv(q: &FormatQuery, headers: &HeaderMap) -> ApiResult<bool> {
    match q.format.as_deref() {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(_) => Err(ApiError::field("format", "json or csv")),
        None => Ok(headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv") && !a.contains("application/json"))),
    }
}

/// The header of the summary CSVs (per event, per organizer).
const SUMMARY: [&str; 13] = [
    "accepted by mail server",
    "hard bounces",
    "soft bounces",
    "yes",
    "no",
    "maybe",
    "delegated",
    "no answer",
    "late answers",
    "new times proposed",
    "unsubscribed",
    "complaints",
    "response rate",
];

fn summary_cells(r: &Report) -> Vec<String> {
    vec![
        r.submitted.to_string(),
        r.hard_bounced.to_string(),
        r.soft_bounced.to_string(),
        r.accepted.to_string(),
        r.declined.to_string(),
        r.tentative.to_string(),
        r.delegated.to_string(),
        r.no_answer.to_string(),
        r.late.to_string(),
        r.counters.to_string(),
        r.unsubscribed.to_string(),
        r.complaints.to_string(),
        format!("{:.3}", r.response_rate()),
    ]
}

fn table(first: &[&str], rows: &[Vec<String>]) -> String {
    let header: Vec<&str> = first.iter().copied().chain(SUMMARY).collect();
    calinvite_core::csv::table(&header, rows.iter().map(|r| r.iter().map(String::as_str)))
}

/// An event's report: as JSON, or as CSV with one row per invitation.
#[utoipa::path(
    get,
    path = "/v1/events/{code}/report",
    tag = "reports",
    params(("code" = String, Path, description = "The event's code"), FormatQuery),
    responses((status = 200, description = "The report", content(
        (ReportBody = "application/json"),
        (String = "text/csv"),
    )))
)]
pub(crate) async fn event_report(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(code): ApiPath<String>,
    ApiQuery(q): ApiQuery<FormatQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let csv = wants_csv(&q, &headers)?;
    let event = find_event(&state, &caller, &code).await?;
    let p = state.pipeline();
    if csv {
        let text = report::event_csv(p, event.scope(), event.code()).await?;
        return Ok(csv_response(text, &format!("event-{code}.csv")));
    }
    let r = report::event_report(p, event.scope(), event.code()).await?;
    Ok(Json(ReportBody::from(&r)).into_response())
}

async fn organizer_rows(state: &AppState, scope: Scope) -> ApiResult<Vec<Vec<String>>> {
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let (events, next) = walk_events(state, &[scope], cursor.as_deref(), 200).await?;
        for e in &events {
            let r = report::event_report(state.pipeline(), scope, e.code()).await?;
            let (start, _, _) = super::time::show(e.latest().schedule());
            let mut row = vec![
                e.code().to_string(),
                e.latest().summary().as_str().to_owned(),
                start,
                r.invitations.to_string(),
            ];
            row.extend(summary_cells(&r));
            rows.push(row);
        }
        match next {
            Some(n) => cursor = Some(n),
            None => return Ok(rows),
        }
    }
}

/// An organizer's report: as JSON, or as CSV with one row per event.
#[utoipa::path(
    get,
    path = "/v1/organizers/{id}/report",
    tag = "reports",
    params(("id" = u64, Path, description = "The organizer's id"), FormatQuery),
    responses((status = 200, description = "The report", content(
        (ReportBody = "application/json"),
        (String = "text/csv"),
    )))
)]
pub(crate) async fn organizer_report(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<u64>,
    ApiQuery(q): ApiQuery<FormatQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let csv = wants_csv(&q, &headers)?;
    let scope = caller.scope_of(id)?;
    super::organizers_exist(&state, scope).await?;
    if csv {
        let rows = organizer_rows(&state, scope).await?;
        let text = table(&["event", "summary", "start", "invitations"], &rows);
        return Ok(csv_response(text, &format!("organizer-{id}.csv")));
    }
    let r = report::organizer_report(state.pipeline(), scope).await?;
    Ok(Json(ReportBody::from(&r)).into_response())
}

/// The domain owner's report (a domain owner's key): as JSON, or as CSV
/// with one row per organizer.
#[utoipa::path(
    get,
    path = "/v1/owner/report",
    tag = "reports",
    params(FormatQuery),
    responses(
        (status = 200, description = "The report", content(
            (ReportBody = "application/json"),
            (String = "text/csv"),
        )),
        (status = 403, description = "An organizer's key", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn owner_report(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<FormatQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let csv = wants_csv(&q, &headers)?;
    let owner: OwnerId = caller.require_owner("the domain owner's report")?;
    let p = state.pipeline();
    if csv {
        let mut rows = Vec::new();
        let mut organizers = p
            .store()
            .organizers(owner)
            .await
            .map_err(PipelineError::from)?;
        organizers.sort_by_key(|o| o.scope);
        for o in &organizers {
            let r = report::organizer_report(p, o.scope).await?;
            let mut row = vec![
                o.scope.organizer.0.to_string(),
                o.name.clone(),
                r.events.to_string(),
                r.invitations.to_string(),
            ];
            row.extend(summary_cells(&r));
            rows.push(row);
        }
        let text = table(&["organizer", "name", "events", "invitations"], &rows);
        return Ok(csv_response(text, &format!("owner-{}.csv", owner.0)));
    }
    let r = report::owner_report(p, owner).await?;
    Ok(Json(ReportBody::from(&r)).into_response())
}

/// Where to mail a report.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailReport {
    /// The address (default: the event's organizer).
    pub to: Option<String>,
}

/// A report on its way.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct MailQueued {
    /// Always `true`: the message is queued.
    pub queued: bool,
}

/// Mails the event's report, with its CSV attached, to the organizer (or
/// another address).
#[utoipa::path(
    post,
    path = "/v1/events/{code}/report/mail",
    tag = "reports",
    params(("code" = String, Path, description = "The event's code")),
    request_body = MailReport,
    responses((status = 202, description = "Queued", body = MailQueued))
)]
pub(crate) async fn mail_report(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(code): ApiPath<String>,
    ApiJson(req): ApiJson<MailReport>,
) -> ApiResult<impl IntoResponse> {
    let event = find_event(&state, &caller, &code).await?;
    let to = req
        .to
        .as_deref()
        .map(|t| super::organizers::address("/to", t))
        .transpose()?;
    state
        .pipeline()
        .mail_report(event.scope(), event.code(), to)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(MailQueued { queued: true })))
}
