//! Approvals: the signed-in user's updates and cancellations held for
//! approval (`GET /console/pending`), and one of them
//! (`GET /console/pending/{id}`): what changed, the revision recipients
//! hold beside the one they would get, who would receive it (counted by
//! their answer, the first hundred addresses listed), and Approve / Reject
//! forms that go through the API layer's
//! [`resolve`](crate::api::pending::resolve) (the pipeline's approve and
//! reject). Another tenant's change is not found.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse as _, Redirect, Response};
use axum::routing::{get, post};
use calinvite_core::lifecycle::{PendingKind, PipelineError, Store as _};
use calinvite_core::{EmailAddress, Event};
use maud::html;
use serde::Deserialize;

use super::events::query;
use super::{ConsoleUser, page, web_error};
use crate::api::pending::{find_pending, open_pending, resolve};
use crate::api::{answer_keyword, find_event, time};
use crate::state::AppState;
use crate::web::{WebForm, WebRejection, csrf};

/// Approve and Reject.
const RESOLVE: &str = "console-pending";
/// Addresses listed on a change's page.
const LISTED: usize = 100;
/// Events looked at per page of the list.
const EVENTS_PER_PAGE: usize = 50;

/// The routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/pending", get(list))
        .route("/console/pending/{id}", get(one))
        .route("/console/pending/{id}/{action}", post(decide))
}

fn unavailable(e: impl std::fmt::Display) -> WebRejection {
    tracing::error!(error = %e, "console: the store failed");
    WebRejection::unavailable()
}

fn kind_words(k: &PendingKind) -> &'static str {
    match k {
        PendingKind::Update => "Update",
        PendingKind::Cancel => "Cancellation",
        PendingKind::CancelInstances(_) => "Cancellation of occurrences",
        _ => "Change",
    }
}

/// The list's query.
#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    #[serde(default)]
    cursor: String,
}

/// `GET /console/pending`.
async fn list(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebRejection> {
    let q: ListQuery = query(raw)?;
    let cursor = (!q.cursor.is_empty()).then_some(q.cursor.as_str());
    let (open, next) = open_pending(&state, &user.caller, None, cursor, EVENTS_PER_PAGE)
        .await
        .map_err(|e| web_error(&e))?;
    let body = html! {
        h1 { "Waiting for approval" }
        @if open.is_empty() {
            p data-empty="pending" { "Nothing waits for approval." }
        } @else {
            table class="console-table" {
                caption class="visually-hidden" { "Changes waiting for approval" }
                thead { tr {
                    th scope="col" { "Change" } th scope="col" { "Event" }
                    th scope="col" { "Planned" } th scope="col" class="n" { "Recipients" }
                } }
                tbody { @for p in &open {
                    tr data-pending=(p.id.as_str()) {
                        th scope="row" { a href={ "/console/pending/" (p.id.as_str()) } { (kind_words(&p.kind)) } }
                        td data-event=(p.code.as_str()) { a href={ "/console/events/" (p.code.as_str()) } { (p.code.as_str()) } }
                        td { time datetime=(p.created_at.to_rfc3339()) { (p.created_at.format("%Y-%m-%d %H:%M UTC")) } }
                        td class="n" { (p.recipients.len()) }
                    }
                } }
            }
        }
        @if let Some(c) = &next {
            p { a rel="next" href={ "/console/pending?cursor=" (c) } { "More" } }
        }
    };
    Ok(page(&state, &headers, &user, "Waiting for approval", body))
}

/// One side of the comparison.
struct Side {
    summary: String,
    when: String,
    location: String,
    description: String,
}

fn side(ev: &Event) -> Side {
    let (start, end, zone) = time::show(ev.schedule());
    Side {
        summary: ev.summary().as_str().to_owned(),
        when: format!(
            "{} – {} ({})",
            start.replacen('T', " ", 1),
            end.replacen('T', " ", 1),
            zone.unwrap_or_else(|| "all day".into())
        ),
        location: ev
            .location()
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
        description: ev
            .description()
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
    }
}

/// `GET /console/pending/{id}`.
async fn one(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, WebRejection> {
    let p = find_pending(&state, &user.caller, &id)
        .await
        .map_err(|e| web_error(&e))?;
    let event = find_event(&state, &user.caller, p.code.as_str())
        .await
        .map_err(|e| web_error(&e))?;
    let store = state.pipeline().store();
    let held = store
        .revision(event.code(), p.base_sequence)
        .await
        .map_err(unavailable)?;
    let old = held.as_ref().map(side);
    let new = side(event.latest());
    // The audience by answer.
    let addresses: Vec<EmailAddress> = p.recipients.iter().map(|m| m.address.clone()).collect();
    let mut by_answer: BTreeMap<String, usize> = BTreeMap::new();
    for chunk in addresses.chunks(500) {
        for inv in store
            .invitations_to(event.code(), chunk)
            .await
            .map_err(|e| unavailable(PipelineError::from(e)))?
        {
            *by_answer.entry(answer_keyword(inv.status())).or_default() += 1;
        }
    }
    let open = p.state == calinvite_core::lifecycle::PendingState::Open;
    let state_word = calinvite_core::Keyword::keyword(p.state);
    let issued = csrf::issue(&state, &headers, RESOLVE);
    let rows: [(&str, Option<&str>, &str); 4] = [
        (
            "Title",
            old.as_ref().map(|o| o.summary.as_str()),
            &new.summary,
        ),
        ("When", old.as_ref().map(|o| o.when.as_str()), &new.when),
        (
            "Where",
            old.as_ref().map(|o| o.location.as_str()),
            &new.location,
        ),
        (
            "Description",
            old.as_ref().map(|o| o.description.as_str()),
            &new.description,
        ),
    ];
    let body = html! {
        p { a href="/console/pending" { "← Waiting for approval" } }
        h1 data-pending=(p.id.as_str()) { (kind_words(&p.kind)) " of “" (new.summary) "”" }
        p data-pending-state=(state_word) { "State: " strong { (state_word) } " · event "
            a href={ "/console/events/" (p.code.as_str()) } { (p.code.as_str()) } }
        @match &p.kind {
            PendingKind::Cancel => p { "Recipients would be told the event is cancelled." },
            PendingKind::CancelInstances(ids) => p { "Recipients would be told these occurrences are cancelled: "
                @for (i, o) in ids.iter().enumerate() {
                    @if i > 0 { ", " }
                    (match o {
                        calinvite_core::OccurrenceId::At(t) => t.to_rfc3339(),
                        calinvite_core::OccurrenceId::On(d) => d.to_string(),
                    })
                } },
            _ => {},
        }
        h2 { "What changes" }
        table class="console-table" data-pending-diff="" {
            caption class="visually-hidden" { "The revision recipients hold, and the one they would get" }
            thead { tr { th scope="col" { "" } th scope="col" { "Recipients hold" } th scope="col" { "They would get" } } }
            tbody { @for (label, was, will) in &rows {
                @let changed = was.is_some_and(|w| w != *will);
                tr data-changed=[changed.then_some("yes")] {
                    th scope="row" { (label) @if changed { " (changed)" } }
                    td { (was.unwrap_or("—")) } td { @if changed { strong { (will) } } @else { (will) } }
                }
            } }
        }
        h2 { "Who would receive it" }
        p data-audience=(p.recipients.len()) { strong { (p.recipients.len()) } " recipients" }
        ul { @for (answer, n) in &by_answer { li data-audience-answer=(answer) { (answer) ": " (n) } } }
        @if !p.recipients.is_empty() {
            ul class="muted" aria-label={ "The first " (LISTED) " addresses" } {
                @for m in p.recipients.iter().take(LISTED) { li data-audience-address=(m.address.as_str()) { (m.address.as_str()) } }
            }
            @if p.recipients.len() > LISTED { p class="muted" { "… and " (p.recipients.len() - LISTED) " more." } }
        }
        @if open {
            div class="console-filters" {
                form method="post" action={ "/console/pending/" (p.id.as_str()) "/approve" } {
                    (issued.field())
                    button type="submit" class="btn btn-primary" data-pending-action="approve" { "Approve and send" }
                }
                form method="post" action={ "/console/pending/" (p.id.as_str()) "/reject" } {
                    (issued.field())
                    button type="submit" class="btn" data-pending-action="reject" { "Reject (send nothing)" }
                }
            }
        }
    };
    let mut r = page(
        &state,
        &headers,
        &user,
        "A change waiting for approval",
        body,
    );
    issued.attach(&mut r);
    Ok(r)
}

/// Approve's and Reject's fields.
#[derive(Debug, Deserialize)]
struct DecideForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /console/pending/{id}/{approve|reject}`.
async fn decide(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    WebForm(form): WebForm<DecideForm>,
) -> Result<Response, WebRejection> {
    let approve = match action.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return Err(WebRejection::not_found("There is nothing here.")),
    };
    csrf::check(&state, &headers, RESOLVE, &form.csrf).await?;
    resolve(&state, &user.caller, &id, approve)
        .await
        .map_err(|e| web_error(&e))?;
    Ok(Redirect::to(&format!("/console/pending/{id}")).into_response())
}
