//! Settings: how updates are sent, API keys and webhook endpoints — each
//! through the API layer with the signed-in user's caller, so the console
//! changes exactly what an API key of the same tenant could, and is
//! refused what such a key is refused.
//!
//! `GET /console/settings` is where updates and cancellations are sent
//! from: whether they wait for approval, who receives them, what answers
//! after the event do, one-click unsubscribe headers (and, for a domain
//! owner's administrator, how organizer mail is authenticated). An
//! organizer edits its own settings and can go back to its domain owner's;
//! a domain owner's administrator edits the domain's defaults and each
//! organizer's (`/console/settings/organizers/{id}`). Keys are in
//! [`keys`], webhook endpoints in [`webhooks`].
//!
//! After each `POST` the browser is sent (303) to a page that says what
//! was done (`?done=saved`); a new key's or secret's page is the answer of
//! its `POST` alone, so it is never shown again.

mod keys;
mod webhooks;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse as _, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use serde::Deserialize;

use super::auth::CsrfForm;
use super::events::query;
use super::{ConsoleUser, page, web_error};
use crate::api::organizers::{
    OrganizerPatch, OwnerPatch, get_organizer, get_owner, list_organizers, patch_organizer,
    patch_owner,
};
use crate::api::{
    Audience, InboundAuth, LateAnswerPolicy, OrganizerBody, PageQuery, SettingsBody, SettingsPatch,
};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Tenant};
use crate::state::AppState;
use crate::web::{WebForm, WebRejection, csrf};

/// The sending settings' form.
const SAVE: &str = "console-settings";
/// "Use the domain owner's settings".
const INHERIT: &str = "console-settings-inherit";
/// Organizers listed a page, for a domain owner's administrator.
const ORGANIZERS_PER_PAGE: u32 = 100;

/// The routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/settings", get(home).post(save_owner))
        .route(
            "/console/settings/organizers/{id}",
            get(organizer_page).post(save_organizer),
        )
        .route("/console/settings/organizers/{id}/inherit", post(inherit))
        .merge(keys::routes())
        .merge(webhooks::routes())
}

/// The query of a settings page: what was just done, where a list goes on.
#[derive(Debug, Default, Deserialize)]
struct DoneQuery {
    #[serde(default)]
    done: String,
    #[serde(default)]
    cursor: String,
}

/// What a page says after a `POST` sent the browser to it.
fn done_message(done: &str) -> Option<&'static str> {
    Some(match done {
        "saved" => "The settings are saved.",
        "inherited" => "This organizer now uses the domain owner's settings.",
        "revoked" => "The key is revoked: it is refused from now on.",
        "enabled" => "The endpoint is enabled: messages are posted to it again.",
        "disabled" => "The endpoint is disabled: nothing is posted to it until it is enabled.",
        "deleted" => "The endpoint is deleted, with its delivery log.",
        _ => return None,
    })
}

/// The status line of a page, when a `POST` just did something.
fn done_note(done: &str) -> Markup {
    html! {
        @if let Some(m) = done_message(done) {
            p class="notice" role="status" data-done=(done) { (m) }
        }
    }
}

/// The settings' own links.
fn subnav(current: &str) -> Markup {
    let links = [
        ("sending", "/console/settings", "Sending"),
        ("keys", "/console/settings/keys", "API keys"),
        ("webhooks", "/console/settings/webhooks", "Webhooks"),
    ];
    html! {
        nav aria-label="Settings" {
            p {
                @for (i, (id, href, label)) in links.iter().enumerate() {
                    @if i > 0 { " · " }
                    @if *id == current {
                        a href=(href) aria-current="page" { strong { (label) } }
                    } @else {
                        a href=(href) { (label) }
                    }
                }
            }
        }
    }
}

/// A moment, for people (and machines).
fn when(t: DateTime<Utc>) -> Markup {
    html! { time datetime=(t.to_rfc3339()) { (t.format("%Y-%m-%d %H:%M UTC")) } }
}

/// Whom a key or endpoint acts for, in words.
fn acts_for(organizer: Option<u64>) -> String {
    match organizer {
        Some(o) => format!("organizer {o}"),
        None => "the domain owner (every organizer)".to_owned(),
    }
}

/// The organizers a domain owner's administrator may choose from (up to
/// the API's largest page), for the keys' and endpoints' forms.
async fn organizers_of(
    state: &AppState,
    user: &ConsoleUser,
) -> Result<Vec<OrganizerBody>, WebRejection> {
    let q = PageQuery {
        limit: Some(200),
        cursor: None,
    };
    let page = list_organizers(State(state.clone()), user.caller.clone(), ApiQuery(q))
        .await
        .map_err(|e| web_error(&e))?;
    Ok(page.0.items)
}

// ---------------------------------------------------------------- words

fn approval_words(on: bool) -> &'static str {
    if on {
        "Hold for approval"
    } else {
        "Send at once"
    }
}

fn audience_words(a: Audience) -> &'static str {
    match a {
        Audience::AcceptedOrTentative => "Yes and Maybe",
        Audience::NotDeclined => "Everyone who has not said No",
        Audience::Everyone => "Everyone",
    }
}

fn late_words(l: LateAnswerPolicy) -> &'static str {
    match l {
        LateAnswerPolicy::RecordOnly => "Record only",
        LateAnswerPolicy::Apply => "Apply",
    }
}

fn unsubscribe_words(on: bool) -> &'static str {
    if on { "Include" } else { "Leave out" }
}

fn auth_words(a: InboundAuth) -> &'static str {
    match a {
        InboundAuth::Dmarc => "DMARC",
        InboundAuth::AlignedSpfOrDkim => "SPF or DKIM of the organizer's domain",
        InboundAuth::AllowListOnly => "The allow-list alone",
    }
}

/// One choice of a radio group: its value, label and explanation.
type Choice = (&'static str, &'static str, &'static str);

/// A group of radio buttons with its legend, explanation and (for an
/// organizer) the domain owner's value beside it.
fn radios(
    name: &str,
    legend: &str,
    help: &str,
    choices: &[Choice],
    chosen: &str,
    default: Option<&str>,
) -> Markup {
    html! {
        fieldset class="card" data-setting=(name) {
            legend { strong { (legend) } }
            p class="muted" id={ (name) "-help" } { (help) }
            @for (value, label, explain) in choices {
                @let id = format!("{name}-{value}");
                p {
                    input type="radio" id=(id) name=(name) value=(value) checked[*value == chosen]
                        aria-describedby={ (id) "-explain" };
                    " "
                    label for=(id) { (label) }
                    br;
                    span class="muted" id={ (id) "-explain" } { (explain) }
                }
            }
            @if let Some(d) = default {
                p class="muted" data-default=(name) { "The domain owner's default: " strong { (d) } }
            }
        }
    }
}

fn on_off(v: bool) -> &'static str {
    if v { "on" } else { "off" }
}

fn audience_value(a: Audience) -> &'static str {
    match a {
        Audience::AcceptedOrTentative => "accepted-or-tentative",
        Audience::NotDeclined => "not-declined",
        Audience::Everyone => "everyone",
    }
}

fn late_value(l: LateAnswerPolicy) -> &'static str {
    match l {
        LateAnswerPolicy::RecordOnly => "record-only",
        LateAnswerPolicy::Apply => "apply",
    }
}

fn auth_value(a: InboundAuth) -> &'static str {
    match a {
        InboundAuth::Dmarc => "dmarc",
        InboundAuth::AlignedSpfOrDkim => "aligned-spf-or-dkim",
        InboundAuth::AllowListOnly => "allow-list-only",
    }
}

/// The fields of the sending settings: `current` checked, `defaults` (an
/// organizer's domain owner's) named beside each, how organizer mail is
/// authenticated as a choice only when `auth_editable`.
fn fields(current: SettingsBody, defaults: Option<SettingsBody>, auth_editable: bool) -> Markup {
    html! {
        (radios("approval", "Updates and cancellations",
            "When the organizer changes or cancels an event, whether recipients are told at once.",
            &[("off", "Send at once", "Recipients get the update or cancellation as soon as it arrives."),
              ("on", "Hold for approval", "It waits under “Waiting for approval” until someone approves it; nothing is sent before.")],
            on_off(current.approval), defaults.map(|d| approval_words(d.approval))))
        (radios("audience", "Who receives updates",
            "Who is sent an update or a cancellation, by their last answer. New invitations go to everyone invited.",
            &[("accepted-or-tentative", "Yes and Maybe", "Only recipients whose last answer is Yes or Maybe."),
              ("not-declined", "Everyone who has not said No", "Yes, Maybe, and those who have not answered."),
              ("everyone", "Everyone", "Every recipient, those who said No too.")],
            audience_value(current.audience), defaults.map(|d| audience_words(d.audience))))
        (radios("late_answers", "Answers after the event",
            "What an answer that arrives after the event has ended does.",
            &[("record-only", "Record only", "It is kept in the history; the recipient's answer stays as it was."),
              ("apply", "Apply", "It counts like any other answer.")],
            late_value(current.late_answers), defaults.map(|d| late_words(d.late_answers))))
        (radios("list_unsubscribe", "One-click unsubscribe",
            "Whether invitations carry the headers that let mail programs offer an unsubscribe button.",
            &[("on", "Include", "Recipients can stop all mail from this sender with one click."),
              ("off", "Leave out", "No unsubscribe headers (the link in the invitation's text stays).")],
            on_off(current.list_unsubscribe), defaults.map(|d| unsubscribe_words(d.list_unsubscribe))))
        @if auth_editable {
            (radios("inbound_auth", "Checking organizer mail",
                "How a calendar invitation mailed to the ingest mailbox is checked before it becomes an event.",
                &[("dmarc", "DMARC", "The sender's domain must pass DMARC."),
                  ("aligned-spf-or-dkim", "SPF or DKIM of the organizer's domain", "SPF or DKIM must pass for the organizer's own domain."),
                  ("allow-list-only", "The allow-list alone", "Only the sender's address is looked at (closed networks)."),],
                auth_value(current.inbound_auth), defaults.map(|d| auth_words(d.inbound_auth))))
        } @else {
            p class="card" data-setting="inbound_auth" {
                strong { "Checking organizer mail: " } (auth_words(current.inbound_auth))
                br; span class="muted" { "Set by the domain owner's administrators." }
            }
        }
    }
}

/// The sending settings' form fields.
#[derive(Debug, Deserialize)]
struct SettingsForm {
    #[serde(default)]
    csrf: String,
    approval: String,
    audience: Audience,
    late_answers: LateAnswerPolicy,
    list_unsubscribe: String,
    #[serde(default)]
    inbound_auth: Option<InboundAuth>,
}

fn switch(field: &str, v: &str) -> Result<bool, WebRejection> {
    match v {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(WebRejection::bad_request(format!(
            "{field} must be on or off"
        ))),
    }
}

impl SettingsForm {
    fn patch(&self) -> Result<SettingsPatch, WebRejection> {
        Ok(SettingsPatch {
            approval: Some(switch("approval", &self.approval)?),
            audience: Some(self.audience),
            inbound_auth: self.inbound_auth,
            late_answers: Some(self.late_answers),
            list_unsubscribe: Some(switch("list_unsubscribe", &self.list_unsubscribe)?),
        })
    }
}

/// `GET /console/settings`: a domain owner's administrator's defaults and
/// organizers; an organizer's own settings.
async fn home(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebRejection> {
    let q: DoneQuery = query(raw)?;
    if let Tenant::Organizer(s) = user.caller.tenant {
        return organizer_view(&state, &user, &headers, s.organizer.0, &q.done).await;
    }
    let owner = get_owner(State(state.clone()), user.caller.clone())
        .await
        .map_err(|e| web_error(&e))?
        .0;
    let pq = PageQuery {
        limit: Some(ORGANIZERS_PER_PAGE),
        cursor: (!q.cursor.is_empty()).then(|| q.cursor.clone()),
    };
    let organizers = list_organizers(State(state.clone()), user.caller.clone(), ApiQuery(pq))
        .await
        .map_err(|e| web_error(&e))?
        .0;
    let issued = csrf::issue(&state, &headers, SAVE);
    let body = html! {
        h1 { "Settings" }
        (subnav("sending"))
        (done_note(&q.done))
        h2 { "The domain's defaults" }
        p { "Every organizer of " strong { (owner.name) } " that has no settings of its own uses these." }
        form method="post" action="/console/settings" data-settings-of="owner" {
            (issued.field())
            (fields(owner.settings, None, true))
            p { button type="submit" class="btn btn-primary" { "Save the defaults" } }
        }
        h2 id="organizers" { "Organizers" }
        @if organizers.items.is_empty() {
            p data-empty="organizers" { "No organizers yet." }
        } @else {
            table class="console-table" {
                caption class="visually-hidden" { "Organizers and whose settings they use" }
                thead { tr {
                    th scope="col" { "Organizer" } th scope="col" { "Settings" } th scope="col" { "" }
                } }
                tbody { @for o in &organizers.items {
                    tr data-organizer=(o.id) {
                        th scope="row" { (o.name) " " span class="muted" { "(" (o.id) ")" } }
                        td { @if o.settings.is_some() { "Its own" } @else { "The domain's defaults (inherited)" } }
                        td { a href={ "/console/settings/organizers/" (o.id) } { "Edit " span class="visually-hidden" { (o.name) "'s " } "settings" } }
                    }
                } }
            }
            @if let Some(c) = &organizers.next_cursor {
                p { a rel="next" href={ "/console/settings?cursor=" (c) "#organizers" } { "More organizers" } }
            }
        }
    };
    let mut r = page(&state, &headers, &user, "Settings", body);
    issued.attach(&mut r);
    Ok(r)
}

/// `POST /console/settings`: the domain's defaults (a domain owner's
/// administrator).
async fn save_owner(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    WebForm(form): WebForm<SettingsForm>,
) -> Result<Response, WebRejection> {
    csrf::check(&state, &headers, SAVE, &form.csrf).await?;
    let patch = OwnerPatch {
        name: None,
        settings: Some(form.patch()?),
    };
    let _saved = patch_owner(State(state.clone()), user.caller.clone(), ApiJson(patch))
        .await
        .map_err(|e| web_error(&e))?;
    Ok(Redirect::to("/console/settings?done=saved").into_response())
}

/// `GET /console/settings/organizers/{id}`.
async fn organizer_page(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebRejection> {
    let q: DoneQuery = query(raw)?;
    let id = organizer_id(&id)?;
    organizer_view(&state, &user, &headers, id, &q.done).await
}

/// An organizer's id from a path; anything else names nobody.
fn organizer_id(text: &str) -> Result<u64, WebRejection> {
    text.parse()
        .map_err(|_| WebRejection::not_found("There is nothing here."))
}

async fn organizer_view(
    state: &AppState,
    user: &ConsoleUser,
    headers: &HeaderMap,
    id: u64,
    done: &str,
) -> Result<Response, WebRejection> {
    let o = get_organizer(State(state.clone()), user.caller.clone(), ApiPath(id))
        .await
        .map_err(|e| web_error(&e))?
        .0;
    let owner = get_owner(State(state.clone()), user.caller.clone())
        .await
        .map_err(|e| web_error(&e))?
        .0;
    let is_owner = matches!(user.caller.tenant, Tenant::Owner(_));
    let inherited = o.settings.is_none();
    let issued = csrf::issue(state, headers, SAVE);
    let again = csrf::issue(state, headers, INHERIT);
    let body = html! {
        @if is_owner {
            p { a href="/console/settings#organizers" { "← The domain's settings" } }
            h1 { "Settings of " (o.name) }
        } @else {
            h1 { "Settings" }
        }
        (subnav("sending"))
        (done_note(done))
        @if inherited {
            p class="notice" data-inherited="yes" {
                strong { "Inherited: " }
                @if is_owner { "this organizer uses" } @else { "you use" }
                " the domain owner's defaults, and follows them when they change. Saving this form gives "
                @if is_owner { "it" } @else { "you" }
                " settings of " @if is_owner { "its" } @else { "your" } " own."
            }
        } @else {
            p class="notice" data-inherited="no" {
                strong { "Own settings: " }
                "changes to the domain owner's defaults do not apply here. Each choice shows the default beside it."
            }
        }
        form method="post" action={ "/console/settings/organizers/" (o.id) } data-settings-of={ "organizer-" (o.id) } {
            (issued.field())
            (fields(o.effective_settings, (!inherited).then_some(owner.settings), is_owner))
            p { button type="submit" class="btn btn-primary" { "Save" } }
        }
        @if !inherited {
            form method="post" action={ "/console/settings/organizers/" (o.id) "/inherit" } class="card" {
                (again.field())
                p { "Drop these settings and use the domain owner's defaults again (and their later changes)." }
                button type="submit" class="btn" data-settings-action="inherit" { "Use the domain owner's settings" }
            }
        }
    };
    let title = if is_owner {
        format!("Settings of {}", o.name)
    } else {
        "Settings".to_owned()
    };
    let mut r = page(state, headers, user, &title, body);
    issued.attach(&mut r);
    again.attach(&mut r);
    Ok(r)
}

/// `POST /console/settings/organizers/{id}`: the organizer's own settings.
async fn save_organizer(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    WebForm(form): WebForm<SettingsForm>,
) -> Result<Response, WebRejection> {
    csrf::check(&state, &headers, SAVE, &form.csrf).await?;
    let id = organizer_id(&id)?;
    let patch = OrganizerPatch {
        settings: Some(form.patch()?),
        ..OrganizerPatch::default()
    };
    let _saved = patch_organizer(
        State(state.clone()),
        user.caller.clone(),
        ApiPath(id),
        ApiJson(patch),
    )
    .await
    .map_err(|e| web_error(&e))?;
    Ok(Redirect::to(&format!("/console/settings/organizers/{id}?done=saved")).into_response())
}

/// `POST /console/settings/organizers/{id}/inherit`.
async fn inherit(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    WebForm(form): WebForm<CsrfForm>,
) -> Result<Response, WebRejection> {
    csrf::check(&state, &headers, INHERIT, &form.csrf).await?;
    let id = organizer_id(&id)?;
    let patch = OrganizerPatch {
        inherit_settings: true,
        ..OrganizerPatch::default()
    };
    let _saved = patch_organizer(
        State(state.clone()),
        user.caller.clone(),
        ApiPath(id),
        ApiJson(patch),
    )
    .await
    .map_err(|e| web_error(&e))?;
    Ok(Redirect::to(&format!("/console/settings/organizers/{id}?done=inherited")).into_response())
}

/// A secret shown once: in a read-only field to copy, with a warning
/// (`kept`: what the server keeps of it).
fn shown_once(id: &str, label: &str, secret: &str, kept: &str, how: Markup) -> Markup {
    html! {
        p class="notice" role="status" {
            strong { "Copy it now: " } "it is shown this once. " (kept)
        }
        p {
            label for=(id) { (label) } br;
            input type="text" id=(id) readonly value=(secret) size="60" autocomplete="off"
                spellcheck="false" data-secret="" aria-describedby={ (id) "-how" };
            br; span class="muted" id={ (id) "-how" } { (how) }
        }
    }
}
