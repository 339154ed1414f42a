//! Webhook endpoints in the console, through the API layer: the endpoints
//! the signed-in user manages, a form that registers one (its signing
//! secret shown on the answer page of that `POST` only), each endpoint's
//! page (enable or disable it, rotate its secret — the new one shown once
//! — delete it after a page that asks to confirm) and its delivery log a
//! page at a time. Another tenant's endpoint is not found.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse as _, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;

use super::{CsrfForm, DoneQuery, acts_for, done_note, organizers_of, shown_once, subnav, when};
use crate::api::PageQuery;
use crate::api::webhooks::{
    DeliveryBody, NewWebhook, RotateQuery, WebhookBody, WebhookPatch, WebhookSecretBody,
    change_webhook, delete_webhook, get_webhook, list_deliveries, list_webhooks, register_webhook,
    rotate_secret,
};
use crate::console::events::query;
use crate::console::{ConsoleUser, page, web_error};
use crate::extract::{ApiPath, ApiQuery, Tenant};
use crate::state::AppState;
use crate::web::{WebForm, WebRejection, csrf};

/// The form that registers an endpoint.
const CREATE: &str = "console-webhook-create";
/// Enable, disable and rotate on an endpoint's page.
const CONTROL: &str = "console-webhook-control";
/// The form that deletes one.
const DELETE: &str = "console-webhook-delete";
/// Endpoints a page.
const PER_PAGE: u32 = 50;
/// Deliveries a page.
const DELIVERIES_PER_PAGE: u32 = 50;

/// The routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/settings/webhooks", get(list).post(create))
        .route("/console/settings/webhooks/{webhook}", get(one))
        .route("/console/settings/webhooks/{webhook}/enable", post(enable))
        .route(
            "/console/settings/webhooks/{webhook}/disable",
            post(disable),
        )
        .route("/console/settings/webhooks/{webhook}/rotate", post(rotate))
        .route(
            "/console/settings/webhooks/{webhook}/delete",
            get(delete_page).post(delete),
        )
        .route(
            "/console/settings/webhooks/{webhook}/deliveries",
            get(deliveries),
        )
}

fn state_words(w: &WebhookBody) -> Markup {
    html! {
        @if w.enabled {
            "Enabled"
            @if w.consecutive_failures > 0 {
                " — " (w.consecutive_failures) " posts failed in a row"
                @if let Some(t) = w.failing_since { " since " (when(t)) }
            }
        } @else {
            "Disabled"
            @if let Some(r) = &w.disabled_reason { " — " (r) }
        }
    }
}

fn types_words(types: &[String]) -> Markup {
    html! {
        @if types.is_empty() {
            "Every type"
        } @else {
            @for (i, t) in types.iter().enumerate() {
                @if i > 0 { ", " }
                code { (t) }
            }
        }
    }
}

/// `GET /console/settings/webhooks`.
async fn list(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebRejection> {
    let q: DoneQuery = query(raw)?;
    let pq = PageQuery {
        limit: Some(PER_PAGE),
        cursor: (!q.cursor.is_empty()).then(|| q.cursor.clone()),
    };
    let hooks = list_webhooks(State(state.clone()), user.caller.clone(), ApiQuery(pq))
        .await
        .map_err(|e| web_error(&e))?
        .0;
    let is_owner = matches!(user.caller.tenant, Tenant::Owner(_));
    let organizers = if is_owner {
        organizers_of(&state, &user).await?
    } else {
        Vec::new()
    };
    let issued = csrf::issue(&state, &headers, CREATE);
    let body = html! {
        h1 { "Webhooks" }
        (subnav("webhooks"))
        (done_note(&q.done))
        p { "An endpoint is a URL of yours that calinvite posts a signed JSON message to when something happens: an answer, a delivery, a change." }
        @if hooks.items.is_empty() {
            p data-empty="webhooks" { "No endpoints yet." }
        } @else {
            table class="console-table" {
                caption class="visually-hidden" { "Webhook endpoints" }
                thead { tr {
                    th scope="col" { "URL" } th scope="col" { "Description" } th scope="col" { "For" }
                    th scope="col" { "Types" } th scope="col" { "State" }
                } }
                tbody { @for w in &hooks.items {
                    tr data-webhook=(w.id) data-webhook-enabled=(w.enabled) {
                        th scope="row" { a href={ "/console/settings/webhooks/" (w.id) } { (w.url) } }
                        td { (w.description) }
                        td { (acts_for(w.organizer)) }
                        td { (types_words(&w.types)) }
                        td { (state_words(w)) }
                    }
                } }
            }
            @if let Some(c) = &hooks.next_cursor {
                p { a rel="next" href={ "/console/settings/webhooks?cursor=" (c) } { "More endpoints" } }
            }
        }
        h2 { "Add an endpoint" }
        form method="post" action="/console/settings/webhooks" class="card" {
            (issued.field())
            p { label for="url" { "URL" } br;
                input type="url" id="url" name="url" required size="60" placeholder="https://"
                    aria-describedby="url-help";
                br; span id="url-help" class="muted" { "On a public address, without a user name or password." }
            }
            p { label for="description" { "Description" } br;
                input type="text" id="description" name="description" maxlength="200" aria-describedby="description-help";
                br; span id="description-help" class="muted" { "What it is for (up to 200 characters)." }
            }
            @if is_owner {
                p { label for="organizer" { "Events of" } br;
                    select id="organizer" name="organizer" {
                        option value="" { "Every organizer (the whole domain owner)" }
                        @for o in &organizers { option value=(o.id) { "Organizer " (o.id) ": " (o.name) } }
                    }
                }
            }
            fieldset {
                legend { "Types of message" }
                p class="muted" { "None ticked: every type, those added later too." }
                @for t in crate::webhooks::types() {
                    @let id = format!("type-{}", t.replace('.', "-"));
                    span class="console-check" {
                        input type="checkbox" id=(id) name="types" value=(t);
                        " " label for=(id) { code { (t) } }
                    }
                }
            }
            p { button type="submit" class="btn btn-primary" { "Add the endpoint" } }
            p class="muted" { "Its signing secret is shown once, on the next page." }
        }
    };
    let mut r = page(&state, &headers, &user, "Webhooks", body);
    issued.attach(&mut r);
    Ok(r)
}

/// The fields of the form that registers an endpoint.
#[derive(Debug, Deserialize)]
struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    organizer: String,
    #[serde(default)]
    types: Vec<String>,
}

/// The page that shows a signing secret, once.
fn secret_page(
    state: &AppState,
    headers: &HeaderMap,
    user: &ConsoleUser,
    title: &str,
    made: &WebhookSecretBody,
) -> Response {
    let w = &made.webhook;
    let body = html! {
        h1 { (title) }
        (subnav("webhooks"))
        p data-new-secret-of=(w.id) { "Endpoint " a href={ "/console/settings/webhooks/" (w.id) } { (w.url) } }
        (shown_once("new-secret", "The signing secret", &made.secret,
            "The server keeps it to sign messages, and never shows it again.",
            html! { "Check each message's " code { "webhook-signature" } " header with it." }))
        @if let Some(t) = w.previous_secret_expires_at {
            p { "The previous secret still signs too, until " (when(t)) "." }
        }
        p { a href={ "/console/settings/webhooks/" (w.id) } { "Back to the endpoint" } }
    };
    page(state, headers, user, title, body)
}

/// `POST /console/settings/webhooks`: the endpoint, its secret shown on
/// this answer only.
async fn create(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    WebForm(form): WebForm<CreateForm>,
) -> Result<Response, WebRejection> {
    csrf::check(&state, &headers, CREATE, &form.csrf).await?;
    let organizer =
        match form.organizer.trim() {
            "" => None,
            n => Some(n.parse::<u64>().map_err(|_| {
                WebRejection::bad_request("the organizer must be one of the list's")
            })?),
        };
    let new = NewWebhook {
        url: form.url,
        types: form.types,
        description: form.description,
        organizer,
    };
    let made = register_webhook(&state, &user.caller, &new)
        .await
        .map_err(|e| web_error(&e))?;
    Ok(secret_page(
        &state,
        &headers,
        &user,
        "A new webhook endpoint",
        &made,
    ))
}

async fn find(state: &AppState, user: &ConsoleUser, id: &str) -> Result<WebhookBody, WebRejection> {
    Ok(get_webhook(
        State(state.clone()),
        user.caller.clone(),
        ApiPath(id.to_owned()),
    )
    .await
    .map_err(|e| web_error(&e))?
    .0)
}

fn details(w: &WebhookBody) -> Markup {
    html! {
        table class="console-table" data-webhook=(w.id) {
            caption class="visually-hidden" { "The endpoint" }
            tbody {
                tr { th scope="row" { "URL" } td { (w.url) } }
                tr { th scope="row" { "Description" } td { (w.description) } }
                tr { th scope="row" { "For" } td { (acts_for(w.organizer)) } }
                tr { th scope="row" { "Types" } td { (types_words(&w.types)) } }
                tr { th scope="row" { "State" } td data-webhook-enabled=(w.enabled) { (state_words(w)) } }
                @if let Some(t) = w.previous_secret_expires_at {
                    tr { th scope="row" { "Previous secret" } td { "Still signs too until " (when(t)) } }
                }
                tr { th scope="row" { "Registered" } td { (when(w.created_at)) } }
                tr { th scope="row" { "Changed" } td { (when(w.updated_at)) } }
            }
        }
    }
}

/// `GET /console/settings/webhooks/{webhook}`.
async fn one(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebRejection> {
    let q: DoneQuery = query(raw)?;
    let w = find(&state, &user, &id).await?;
    let issued = csrf::issue(&state, &headers, CONTROL);
    let base = format!("/console/settings/webhooks/{}", w.id);
    let body = html! {
        p { a href="/console/settings/webhooks" { "← Webhooks" } }
        h1 { "Endpoint " (w.url) }
        (done_note(&q.done))
        (details(&w))
        p { a href={ (base) "/deliveries" } { "Delivery log" } }
        h2 { "Posting" }
        @if w.enabled {
            form method="post" action={ (base) "/disable" } class="card" {
                (issued.field())
                p { "Stop posting to this endpoint until it is enabled again." }
                button type="submit" class="btn" data-webhook-action="disable" { "Disable" }
            }
        } @else {
            form method="post" action={ (base) "/enable" } class="card" {
                (issued.field())
                p { "Post to this endpoint again; its failures so far are forgotten." }
                button type="submit" class="btn btn-primary" data-webhook-action="enable" { "Enable" }
            }
        }
        h2 { "Signing secret" }
        form method="post" action={ (base) "/rotate" } class="card" {
            (issued.field())
            fieldset {
                legend { "The previous secret keeps signing too" }
                p class="muted" { "Messages carry both signatures meanwhile, so your receiver can switch without missing one." }
                @for (value, label) in [("0", "Not at all: it stops at once"), ("86400", "For a day"), ("604800", "For a week")] {
                    @let fid = format!("keep-{value}");
                    p { input type="radio" id=(fid) name="keep_previous_seconds" value=(value) checked[value == "86400"];
                        " " label for=(fid) { (label) } }
                }
            }
            button type="submit" class="btn" data-webhook-action="rotate" { "Make a new secret" }
            p class="muted" { "The new secret is shown once, on the next page." }
        }
        h2 { "Delete" }
        p { a href={ (base) "/delete" } { "Delete this endpoint…" } }
    };
    let mut r = page(&state, &headers, &user, "A webhook endpoint", body);
    issued.attach(&mut r);
    Ok(r)
}

/// `POST …/{webhook}/enable`.
async fn enable(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    WebForm(form): WebForm<CsrfForm>,
) -> Result<Response, WebRejection> {
    switch(&state, &user, &headers, id, &form, true).await
}

/// `POST …/{webhook}/disable`.
async fn disable(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    WebForm(form): WebForm<CsrfForm>,
) -> Result<Response, WebRejection> {
    switch(&state, &user, &headers, id, &form, false).await
}

async fn switch(
    state: &AppState,
    user: &ConsoleUser,
    headers: &HeaderMap,
    id: String,
    form: &CsrfForm,
    enable: bool,
) -> Result<Response, WebRejection> {
    csrf::check(state, headers, CONTROL, &form.csrf).await?;
    let patch = WebhookPatch {
        enabled: Some(enable),
        ..WebhookPatch::default()
    };
    // Who pressed the button: the signed-in address, shown only to the
    // tenant that owns the endpoint.
    let reason = format!("disabled in the console by {}", user.address);
    let w = change_webhook(state, &user.caller, &id, patch, reason)
        .await
        .map_err(|e| web_error(&e))?;
    let done = if enable { "enabled" } else { "disabled" };
    Ok(Redirect::to(&format!("/console/settings/webhooks/{}?done={done}", w.id)).into_response())
}

/// The rotation form's fields.
#[derive(Debug, Deserialize)]
struct RotateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    keep_previous_seconds: String,
}

/// `POST …/{webhook}/rotate`: the new secret, shown on this answer only.
async fn rotate(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    WebForm(form): WebForm<RotateForm>,
) -> Result<Response, WebRejection> {
    csrf::check(&state, &headers, CONTROL, &form.csrf).await?;
    let keep = match form.keep_previous_seconds.trim() {
        "" => None,
        n => Some(n.parse::<u64>().map_err(|_| {
            WebRejection::bad_request(
                "how long the previous secret signs must be a number of seconds",
            )
        })?),
    };
    let made = rotate_secret(
        State(state.clone()),
        user.caller.clone(),
        ApiPath(id),
        ApiQuery(RotateQuery {
            keep_previous_seconds: keep,
        }),
    )
    .await
    .map_err(|e| web_error(&e))?
    .0;
    Ok(secret_page(
        &state,
        &headers,
        &user,
        "A new signing secret",
        &made,
    ))
}

/// `GET …/{webhook}/delete`: asks to confirm.
async fn delete_page(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, WebRejection> {
    let w = find(&state, &user, &id).await?;
    let issued = csrf::issue(&state, &headers, DELETE);
    let body = html! {
        p { a href={ "/console/settings/webhooks/" (w.id) } { "← The endpoint" } }
        h1 { "Delete endpoint " (w.url) "?" }
        (details(&w))
        form method="post" action={ "/console/settings/webhooks/" (w.id) "/delete" } class="card" {
            (issued.field())
            p { "Nothing more is posted to it, and its delivery log is deleted with it. This cannot be undone." }
            button type="submit" class="btn btn-primary" data-webhook-action="delete" { "Delete the endpoint" }
            " "
            a href={ "/console/settings/webhooks/" (w.id) } { "Keep it" }
        }
    };
    let mut r = page(&state, &headers, &user, "Delete a webhook endpoint", body);
    issued.attach(&mut r);
    Ok(r)
}

/// `POST …/{webhook}/delete`.
async fn delete(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    WebForm(form): WebForm<CsrfForm>,
) -> Result<Response, WebRejection> {
    csrf::check(&state, &headers, DELETE, &form.csrf).await?;
    delete_webhook(State(state.clone()), user.caller.clone(), ApiPath(id))
        .await
        .map_err(|e| web_error(&e))?;
    Ok(Redirect::to("/console/settings/webhooks?done=deleted").into_response())
}

/// The last attempt's answer, in words.
fn last_answer(d: &DeliveryBody) -> Markup {
    html! {
        @match d.attempts.last() {
            None => span class="muted" { "Not tried yet" },
            Some(a) => {
                @if let Some(s) = a.status { (s) }
                @if let Some(e) = &a.error { @if a.status.is_some() { " — " } (e) }
            },
        }
    }
}

/// `GET …/{webhook}/deliveries`: the delivery log, newest first.
async fn deliveries(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebRejection> {
    let q: DoneQuery = query(raw)?;
    let w = find(&state, &user, &id).await?;
    let pq = PageQuery {
        limit: Some(DELIVERIES_PER_PAGE),
        cursor: (!q.cursor.is_empty()).then(|| q.cursor.clone()),
    };
    let log = list_deliveries(
        State(state.clone()),
        user.caller.clone(),
        ApiPath(w.id.clone()),
        ApiQuery(pq),
    )
    .await
    .map_err(|e| web_error(&e))?
    .0;
    let base = format!("/console/settings/webhooks/{}", w.id);
    let body = html! {
        p { a href=(base) { "← The endpoint" } }
        h1 { "Delivery log of " (w.url) }
        @if log.items.is_empty() {
            p data-empty="deliveries" { @if q.cursor.is_empty() { "Nothing posted yet." } @else { "Nothing older." } }
        } @else {
            table class="console-table" {
                caption class="visually-hidden" { "Messages to this endpoint, newest first" }
                thead { tr {
                    th scope="col" { "Written" } th scope="col" { "Type" } th scope="col" { "State" }
                    th scope="col" class="n" { "Attempts" } th scope="col" { "Last answer" } th scope="col" { "Done" }
                } }
                tbody { @for d in &log.items {
                    tr data-delivery=(d.id) data-delivery-state=(d.state) {
                        td { (when(d.created_at)) }
                        td { code { (d.kind) } }
                        td { (d.state)
                            @if let Some(t) = d.next_attempt_at { br; span class="muted" { "next try " (when(t)) } } }
                        td class="n" data-attempts=(d.attempts.len()) { (d.attempts.len()) }
                        td { (last_answer(d)) }
                        td { @if let Some(t) = d.finished_at { (when(t)) } }
                    }
                } }
            }
        }
        @if let Some(c) = &log.next_cursor {
            p { a href={ (base) "/deliveries?cursor=" (c) } rel="next" data-page="next" { "Older messages" } }
        }
        @if !q.cursor.is_empty() {
            p { a href={ (base) "/deliveries" } { "The newest messages" } }
        }
    };
    Ok(page(&state, &headers, &user, "Delivery log", body))
}
