//! API keys in the console: the keys the signed-in user manages (as an API
//! key of the same tenant would list them — a domain owner's
//! administrator every key of the owner, an organizer its own), a form
//! that makes one (the key shown on the answer page of that `POST` only:
//! the server keeps its digest), and revoking one after a page that asks
//! to confirm. Another tenant's key is not found.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse as _, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;

use super::{CsrfForm, DoneQuery, acts_for, done_note, organizers_of, shown_once, subnav, when};
use crate::api::keys::{KeyBody, NewKeyRequest, list_keys, new_key, revoke_key};
use crate::console::events::query;
use crate::console::{ConsoleUser, page, web_error};
use crate::extract::{ApiPath, Tenant};
use crate::state::AppState;
use crate::web::{WebForm, WebRejection, csrf};

/// The form that makes a key.
const CREATE: &str = "console-key-create";
/// The form that revokes one.
const REVOKE: &str = "console-key-revoke";

/// The routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/settings/keys", get(list).post(create))
        .route("/console/settings/keys/{key}", get(one))
        .route("/console/settings/keys/{key}/revoke", post(revoke))
}

async fn keys_of(state: &AppState, user: &ConsoleUser) -> Result<Vec<KeyBody>, WebRejection> {
    Ok(list_keys(State(state.clone()), user.caller.clone())
        .await
        .map_err(|e| web_error(&e))?
        .0)
}

/// `GET /console/settings/keys`.
async fn list(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebRejection> {
    let q: DoneQuery = query(raw)?;
    let keys = keys_of(&state, &user).await?;
    let is_owner = matches!(user.caller.tenant, Tenant::Owner(_));
    let organizers = if is_owner {
        organizers_of(&state, &user).await?
    } else {
        Vec::new()
    };
    let issued = csrf::issue(&state, &headers, CREATE);
    let body = html! {
        h1 { "API keys" }
        (subnav("keys"))
        (done_note(&q.done))
        p {
            "A key lets a program use the API as "
            @if is_owner { "the domain owner or one of its organizers" } @else { "you" }
            ": it sends " code { "Authorization: Bearer cik_…" } ". A key can do what you can do here, and no more."
        }
        @if keys.is_empty() {
            p data-empty="keys" { "No keys yet." }
        } @else {
            table class="console-table" {
                caption class="visually-hidden" { "API keys" }
                thead { tr {
                    th scope="col" { "Label" } th scope="col" { "Starts with" } th scope="col" { "Acts for" }
                    th scope="col" { "Made" } th scope="col" { "State" } th scope="col" { "" }
                } }
                tbody { @for k in &keys {
                    tr data-key=(k.id) data-key-state=(if k.revoked_at.is_some() { "revoked" } else { "active" }) {
                        th scope="row" { @if k.label.is_empty() { span class="muted" { "(no label)" } } @else { (k.label) } }
                        td { code { (k.id) "…" } }
                        td { (acts_for(k.organizer)) }
                        td { (when(k.created_at)) }
                        td { @if let Some(t) = k.revoked_at { "Revoked " (when(t)) } @else { "Active" } }
                        td { @if k.revoked_at.is_none() {
                            a href={ "/console/settings/keys/" (k.id) } { "Revoke" span class="visually-hidden" { " " (k.id) } "…" }
                        } }
                    }
                } }
            }
            p class="muted" { "The server does not record when a key was last used." }
        }
        h2 { "Make a key" }
        form method="post" action="/console/settings/keys" class="card" {
            (issued.field())
            p { label for="label" { "What it is for" } br;
                input type="text" id="label" name="label" maxlength="200" aria-describedby="label-help";
                br; span id="label-help" class="muted" { "Shown in this list, to tell keys apart (up to 200 characters)." }
            }
            @if is_owner {
                p { label for="organizer" { "Acts for" } br;
                    select id="organizer" name="organizer" aria-describedby="organizer-help" {
                        option value="" { "The domain owner (every organizer)" }
                        @for o in &organizers { option value=(o.id) { "Organizer " (o.id) ": " (o.name) } }
                    }
                    br; span id="organizer-help" class="muted" {
                        "An organizer's key sees and changes that organizer's events only."
                    }
                }
            }
            p { button type="submit" class="btn btn-primary" { "Make the key" } }
            p class="muted" { "The key is shown once, on the next page." }
        }
    };
    let mut r = page(&state, &headers, &user, "API keys", body);
    issued.attach(&mut r);
    Ok(r)
}

/// The fields of the form that makes a key.
#[derive(Debug, Deserialize)]
struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    organizer: String,
}

/// `POST /console/settings/keys`: the new key, shown on this answer only.
async fn create(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    WebForm(form): WebForm<CreateForm>,
) -> Result<Response, WebRejection> {
    csrf::check(&state, &headers, CREATE, &form.csrf).await?;
    let organizer =
        match (form.organizer.trim(), user.caller.tenant) {
            ("", Tenant::Organizer(s)) => Some(s.organizer.0),
            ("", Tenant::Owner(_)) => None,
            (n, _) => Some(n.parse::<u64>().map_err(|_| {
                WebRejection::bad_request("the organizer must be one of the list's")
            })?),
        };
    let req = NewKeyRequest {
        organizer,
        label: form.label,
    };
    let made = new_key(&state, &user.caller, &req)
        .await
        .map_err(|e| web_error(&e))?;
    let body = html! {
        h1 { "A new API key" }
        (subnav("keys"))
        p data-new-key=(made.id) {
            "Key " code { (made.id) "…" }
            @if !made.label.is_empty() { " (" (made.label) ")" }
            " acts for " (acts_for(made.organizer)) "."
        }
        (shown_once("new-key", "The key", &made.key,
            "The server keeps only a digest of it and cannot show it again; if it is lost, make another and revoke this one.",
            html! { "Programs send it as " code { "Authorization: Bearer " } "followed by the key." }))
        p { a href="/console/settings/keys" { "Back to the keys" } }
    };
    Ok(page(&state, &headers, &user, "A new API key", body))
}

/// The caller's key `id`; another tenant's is not found.
async fn find(state: &AppState, user: &ConsoleUser, id: &str) -> Result<KeyBody, WebRejection> {
    keys_of(state, user)
        .await?
        .into_iter()
        .find(|k| k.id == id)
        .ok_or_else(|| WebRejection::not_found("There is nothing here."))
}

fn details(k: &KeyBody) -> Markup {
    html! {
        table class="console-table" data-key=(k.id) {
            caption class="visually-hidden" { "The key" }
            tbody {
                tr { th scope="row" { "Label" } td { (k.label) } }
                tr { th scope="row" { "Starts with" } td { code { (k.id) "…" } } }
                tr { th scope="row" { "Acts for" } td { (acts_for(k.organizer)) } }
                tr { th scope="row" { "Made" } td { (when(k.created_at)) } }
                tr { th scope="row" { "State" } td data-key-state=(if k.revoked_at.is_some() { "revoked" } else { "active" }) {
                    @if let Some(t) = k.revoked_at { "Revoked " (when(t)) } @else { "Active" }
                } }
            }
        }
    }
}

/// `GET /console/settings/keys/{key}`: the key, and a form that revokes it.
async fn one(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, WebRejection> {
    let k = find(&state, &user, &id).await?;
    let issued = csrf::issue(&state, &headers, REVOKE);
    let body = html! {
        p { a href="/console/settings/keys" { "← API keys" } }
        @if k.revoked_at.is_none() {
            h1 { "Revoke key " code { (k.id) "…" } "?" }
        } @else {
            h1 { "Key " code { (k.id) "…" } }
        }
        (details(&k))
        @if k.revoked_at.is_none() {
            form method="post" action={ "/console/settings/keys/" (k.id) "/revoke" } class="card" {
                (issued.field())
                p { "Programs using this key are refused from their next request on. This cannot be undone." }
                button type="submit" class="btn btn-primary" data-key-action="revoke" { "Revoke the key" }
                " "
                a href="/console/settings/keys" { "Keep it" }
            }
        }
    };
    let mut r = page(&state, &headers, &user, "An API key", body);
    issued.attach(&mut r);
    Ok(r)
}

/// `POST /console/settings/keys/{key}/revoke`.
async fn revoke(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    WebForm(form): WebForm<CsrfForm>,
) -> Result<Response, WebRejection> {
    csrf::check(&state, &headers, REVOKE, &form.csrf).await?;
    revoke_key(State(state.clone()), user.caller.clone(), ApiPath(id))
        .await
        .map_err(|e| web_error(&e))?;
    Ok(Redirect::to("/console/settings/keys?done=revoked").into_response())
}
