//! Reports in the console: an event's (`/console/events/{code}/report`),
//! an organizer's (`/console/organizers/{id}/report`) and the domain
//! owner's (`/console/owner/report`, its console administrators only), on
//! screen — answers, deliveries, bounces — and as CSV (`….csv`: the API's
//! CSV, produced by the API's own handlers). An event's report can be
//! mailed to the signed-in address (`POST …/report/mail`, through the
//! API's mail-report path). `/console/reports` is the signed-in user's
//! own: its organizer's, or its domain owner's. Another tenant's report is
//! not found.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Redirect, Response};
use axum::routing::{get, post};
use calinvite_core::lifecycle::report;
use maud::{Markup, html};
use serde::Deserialize;

use super::{ConsoleUser, page, web_error};
use crate::api::find_event;
use crate::api::reports::{FormatQuery, MailReport, ReportBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Tenant};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;
use crate::web::{WebForm, WebRejection, csrf};

/// "Mail me this report".
const MAIL: &str = "console-report-mail";

/// The routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/reports", get(mine))
        .route("/console/events/{code}/report", get(event_page))
        .route("/console/events/{code}/report.csv", get(event_csv))
        .route("/console/events/{code}/report/mail", post(mail))
        .route("/console/organizers/{id}/report", get(organizer_page))
        .route("/console/organizers/{id}/report.csv", get(organizer_csv))
        .route("/console/owner/report", get(owner_page))
        .route("/console/owner/report.csv", get(owner_csv))
}

/// An API error as a page; a report the user may not read is not found.
fn refused(e: &ApiError) -> WebRejection {
    if e.status() == StatusCode::FORBIDDEN {
        WebRejection::not_found("There is nothing here.")
    } else {
        web_error(e)
    }
}

/// The API's CSV answer, never stored by the browser.
fn csv(r: ApiResult<Response>) -> Result<Response, WebRejection> {
    let mut r = r.map_err(|e| refused(&e))?;
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

fn csv_query() -> ApiQuery<FormatQuery> {
    ApiQuery(FormatQuery {
        format: Some("csv".into()),
    })
}

/// The counts on screen.
fn counts(r: &ReportBody) -> Markup {
    html! {
        h2 { "Answers" }
        table class="console-table" data-report="answers" {
            tbody {
                tr { th scope="row" { "Invitations" } td class="n" data-count="invitations" { (r.invitations) } }
                tr { th scope="row" { "Yes" } td class="n" data-count="accepted" { (r.accepted) } }
                tr { th scope="row" { "Maybe" } td class="n" data-count="tentative" { (r.tentative) } }
                tr { th scope="row" { "No" } td class="n" data-count="declined" { (r.declined) } }
                tr { th scope="row" { "Delegated" } td class="n" data-count="delegated" { (r.delegated) } }
                tr { th scope="row" { "No answer" } td class="n" data-count="no-answer" { (r.no_answer) } }
                tr { th scope="row" { "Late answers" } td class="n" data-count="late" { (r.late_answers) } }
                tr { th scope="row" { "Response rate" } td class="n" data-count="response-rate" { (format!("{:.0} %", r.response_rate * 100.0)) } }
            }
        }
        h2 { "Deliveries" }
        table class="console-table" data-report="deliveries" {
            tbody {
                tr { th scope="row" { "Taken by a mail server" } td class="n" data-count="submitted" { (r.accepted_by_mail_server) } }
                @if let Some(d) = r.delivery_confirmed {
                    tr { th scope="row" { "Delivery confirmed" } td class="n" data-count="delivered" { (d) } }
                }
                tr { th scope="row" { "Bounced for good" } td class="n" data-count="hard-bounces" { (r.hard_bounces) } }
                tr { th scope="row" { "Bounced for now" } td class="n" data-count="soft-bounces" { (r.soft_bounces) } }
                tr { th scope="row" { "Unsubscribed" } td class="n" data-count="unsubscribed" { (r.unsubscribed) } }
                tr { th scope="row" { "Complaints" } td class="n" data-count="complaints" { (r.complaints) } }
                @for (reason, n) in &r.refusals {
                    tr { th scope="row" { "Refused: " (reason) } td class="n" data-count=(reason) { (n) } }
                }
            }
        }
    }
}

/// `GET /console/reports`: the user's own report.
async fn mine(user: ConsoleUser) -> Response {
    match user.caller.tenant {
        Tenant::Owner(_) => Redirect::to("/console/owner/report").into_response(),
        Tenant::Organizer(s) => {
            Redirect::to(&format!("/console/organizers/{}/report", s.organizer.0)).into_response()
        }
    }
}

/// `GET /console/events/{code}/report`.
async fn event_page(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Result<Response, WebRejection> {
    let event = find_event(&state, &user.caller, &code)
        .await
        .map_err(|e| web_error(&e))?;
    let r = report::event_report(state.pipeline(), event.scope(), event.code())
        .await
        .map_err(|e| web_error(&e.into()))?;
    let body = ReportBody::from(&r);
    let code = event.code().as_str().to_owned();
    let summary = event.latest().summary().as_str().to_owned();
    let issued = csrf::issue(&state, &headers, MAIL);
    let html = html! {
        p { a href={ "/console/events/" (code) } { "← " (summary) } }
        h1 data-report-of=(code) { "Report: " (summary) }
        (counts(&body))
        div class="console-filters" {
            a class="btn" href={ "/console/events/" (code) "/report.csv" } download { "Each invitation (CSV)" }
            form method="post" action={ "/console/events/" (code) "/report/mail" } {
                (issued.field())
                button type="submit" class="btn" data-report-mail="" { "Mail me this report" }
            }
        }
        p class="muted" { "The mailed report goes to " (user.address) ", with the CSV attached." }
    };
    let mut resp = page(&state, &headers, &user, &format!("Report: {summary}"), html);
    issued.attach(&mut resp);
    Ok(resp)
}

/// `GET /console/events/{code}/report.csv`: the API's.
async fn event_csv(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Result<Response, WebRejection> {
    csv(crate::api::reports::event_report(
        State(state),
        user.caller,
        ApiPath(code),
        csv_query(),
        headers,
    )
    .await)
}

/// The mail form's fields.
#[derive(Debug, Deserialize)]
struct MailForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /console/events/{code}/report/mail`: to the signed-in address.
async fn mail(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(code): Path<String>,
    WebForm(form): WebForm<MailForm>,
) -> Result<Response, WebRejection> {
    csrf::check(&state, &headers, MAIL, &form.csrf).await?;
    let to = user.address.clone();
    crate::api::reports::mail_report(
        State(state.clone()),
        user.caller.clone(),
        ApiPath(code.clone()),
        ApiJson(MailReport { to: Some(to) }),
    )
    .await
    .map_err(|e| refused(&e))?;
    let body = html! {
        h1 data-report-mailed="" { "The report is on its way" }
        p { "It goes to " (user.address) " in a moment." }
        p { a href={ "/console/events/" (code) "/report" } { "← Back to the report" } }
    };
    Ok(page(&state, &headers, &user, "Report mailed", body))
}

/// `GET /console/organizers/{id}/report`.
async fn organizer_page(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Result<Response, WebRejection> {
    let scope = user.caller.scope_of(id).map_err(|e| web_error(&e))?;
    crate::api::organizers_exist(&state, scope)
        .await
        .map_err(|e| web_error(&e))?;
    let r = report::organizer_report(state.pipeline(), scope)
        .await
        .map_err(|e| web_error(&e.into()))?;
    let body = ReportBody::from(&r);
    let html = html! {
        h1 data-report-of={ "organizer-" (id) } { "Report: organizer " (id) }
        p { "Events: " strong data-count="events" { (body.events) } }
        (counts(&body))
        p { a class="btn" href={ "/console/organizers/" (id) "/report.csv" } download { "Each event (CSV)" } }
    };
    Ok(page(
        &state,
        &headers,
        &user,
        &format!("Report: organizer {id}"),
        html,
    ))
}

/// `GET /console/organizers/{id}/report.csv`: the API's.
async fn organizer_csv(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Result<Response, WebRejection> {
    csv(crate::api::reports::organizer_report(
        State(state),
        user.caller,
        ApiPath(id),
        csv_query(),
        headers,
    )
    .await)
}

/// `GET /console/owner/report`: the domain owner's console
/// administrators only.
async fn owner_page(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
) -> Result<Response, WebRejection> {
    let owner = user
        .caller
        .require_owner("the domain owner's report")
        .map_err(|e| refused(&e))?;
    let r = report::owner_report(state.pipeline(), owner)
        .await
        .map_err(|e| web_error(&e.into()))?;
    let body = ReportBody::from(&r);
    let html = html! {
        h1 data-report-of="owner" { "Report: every organizer" }
        p { "Events: " strong data-count="events" { (body.events) } }
        (counts(&body))
        p { a class="btn" href="/console/owner/report.csv" download { "Each organizer (CSV)" } }
    };
    Ok(page(
        &state,
        &headers,
        &user,
        "Report: every organizer",
        html,
    ))
}

/// `GET /console/owner/report.csv`: the API's.
async fn owner_csv(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
) -> Result<Response, WebRejection> {
    csv(crate::api::reports::owner_report(State(state), user.caller, csv_query(), headers).await)
}
