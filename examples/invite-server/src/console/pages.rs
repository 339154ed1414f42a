//! Landing pages in the console, over the landing pages' API
//! ([`crate::landing::api`]) with the session's caller: the console makes,
//! changes and deletes exactly what an API key of the same tenant could,
//! and refuses what the API refuses, with its reason next to the field.
//!
//! - `GET /console/pages`: the tenant's pages (title, public address,
//!   layout, how many events each shows) and "New page".
//! - `GET /console/pages/new`, `POST /console/pages/new`: a new page;
//!   `GET|POST /console/pages/{slug}/edit`: a page's settings.
//! - `POST …/preview` (the form's "Preview" button) shows the form again
//!   with the page as typed beside it, saving nothing. The preview itself
//!   is `GET /console/pages/preview?…` (the form's fields in the query;
//!   nothing is read but the tenant's events, nothing written), shown in
//!   a frame that only this server's pages may hold. With JavaScript, the
//!   frame follows the form as it is typed in.
//! - `GET|POST /console/pages/{slug}/delete`: asks, then deletes.
//! - `GET /console/cta`: an event's call-to-action link with a mailing
//!   tool's merge tag, or signed for one address (`/v1/events/{code}/cta`).
//!
//! Another tenant's page or event is not found.

use axum::Router;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Redirect, Response};
use axum::routing::{get, post};
use calinvite_core::lifecycle::{Scope, Store as _, StoredEvent};
use maud::{Markup, html};
use serde::Deserialize;

use super::{ConsoleUser, page_with_head, web_error};
use crate::api::{EventBody, PageQuery, find_event, scopes, walk_events};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Tenant};
use crate::landing::api::{
    NewPage, PageBody, PagePatch, create_page, delete_page, find_page, for_preview, list_pages,
    patch_page,
};
use crate::landing::db::PageRecord;
use crate::landing::model::{Colors, GroupBy, Layout, Settings};
use crate::problem::ApiError;
use crate::public::api::{CtaQuery, cta_link};
use crate::state::AppState;
use crate::web::{WebRejection, csrf};

/// The page form (its Save and Preview buttons).
const FORM: &str = "console-page-form";
/// The delete form.
const DELETE: &str = "console-page-delete";
/// The largest page form: two inline images of 64 KiB, percent-encoded,
/// and the rest.
const MAX_FORM: usize = 512 * 1024;
/// Events offered to choose from, at most.
const CHOOSABLE: usize = 500;
/// Pages listed at once.
const LISTED: u32 = 100;

/// The routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/pages", get(list))
        .route("/console/pages/new", get(new_page).post(create))
        .route("/console/pages/new/preview", post(preview_new))
        .route("/console/pages/preview", get(frame))
        .route("/console/pages/{slug}/edit", get(edit_page).post(save))
        .route("/console/pages/{slug}/preview", post(preview_edit))
        .route(
            "/console/pages/{slug}/delete",
            get(confirm_delete).post(delete),
        )
        .route("/console/cta", get(cta))
        .route("/assets/console-pages.js", get(script))
}

async fn script() -> Response {
    crate::landing::asset(
        include_str!("../web/assets/console-pages.js"),
        "text/javascript; charset=utf-8",
    )
}

/// The page form's fields (also the preview's query).
#[derive(Clone, Debug, Default, Deserialize)]
struct PageForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    organizer: String,
    #[serde(default)]
    revision: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    intro: String,
    #[serde(default)]
    layout: String,
    #[serde(default)]
    group_by: String,
    #[serde(default)]
    background: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    accent: String,
    #[serde(default)]
    logo_url: String,
    #[serde(default)]
    background_url: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    private: String,
    /// `all` (every upcoming event) or `chosen` (the boxes ticked).
    #[serde(default)]
    events: String,
    #[serde(default)]
    event: Vec<String>,
}

impl PageForm {
    /// The form filled in with a page's settings.
    fn of(p: &PageBody) -> PageForm {
        let c = &p.colors;
        PageForm {
            slug: p.slug.clone(),
            organizer: p.organizer.to_string(),
            revision: p.revision.to_string(),
            title: p.title.clone(),
            intro: p.intro.clone().unwrap_or_default(),
            layout: layout_name(p.layout).to_owned(),
            group_by: group_name(p.group_by).to_owned(),
            background: c.background.clone().unwrap_or_default(),
            text: c.text.clone().unwrap_or_default(),
            accent: c.accent.clone().unwrap_or_default(),
            logo_url: p.logo_url.clone().unwrap_or_default(),
            background_url: p.background_url.clone().unwrap_or_default(),
            language: p.language.clone(),
            private: if p.private { "1" } else { "" }.to_owned(),
            events: if p.events.is_some() { "chosen" } else { "all" }.to_owned(),
            event: p.events.clone().unwrap_or_default(),
            csrf: String::new(),
        }
    }

    /// The form's fields as a query (the preview's address), without
    /// its token.
    fn query(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("slug", &self.slug),
            ("organizer", &self.organizer),
            ("title", &self.title),
            ("intro", &self.intro),
            ("layout", &self.layout),
            ("group_by", &self.group_by),
            ("background", &self.background),
            ("text", &self.text),
            ("accent", &self.accent),
            ("logo_url", &self.logo_url),
            ("background_url", &self.background_url),
            ("language", &self.language),
            ("private", &self.private),
            ("events", &self.events),
        ] {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        for e in &self.event {
            q.append_pair("event", e);
        }
        q.finish()
    }

    fn chosen(&self) -> bool {
        self.events == "chosen"
    }

    /// An optional text: empty is none.
    fn opt(v: &str) -> Option<String> {
        Some(v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    fn colors(&self) -> Colors {
        Colors {
            background: Self::opt(&self.background),
            text: Self::opt(&self.text),
            accent: Self::opt(&self.accent),
        }
    }

    fn layout(&self) -> Result<Layout, ApiError> {
        match self.layout.as_str() {
            "" | "multi" => Ok(Layout::Multi),
            "single" => Ok(Layout::Single),
            _ => Err(ApiError::field("/layout", "single or multi")),
        }
    }

    fn group_by(&self) -> Result<GroupBy, ApiError> {
        match self.group_by.as_str() {
            "" | "none" => Ok(GroupBy::None),
            "week" => Ok(GroupBy::Week),
            "category" => Ok(GroupBy::Category),
            _ => Err(ApiError::field("/group_by", "none, week or category")),
        }
    }

    /// The chosen events: `None` for every upcoming one.
    fn chosen_events(&self) -> Result<Option<Vec<String>>, ApiError> {
        match self.events.as_str() {
            "" | "all" => Ok(None),
            "chosen" if self.event.is_empty() => Err(ApiError::field(
                "/events",
                "tick at least one event, or show every upcoming event",
            )),
            "chosen" => Ok(Some(self.event.clone())),
            _ => Err(ApiError::field("/events", "all or chosen")),
        }
    }

    fn language(&self) -> String {
        match self.language.trim() {
            "" => "en".to_owned(),
            l => l.to_owned(),
        }
    }

    fn private(&self) -> bool {
        !self.private.is_empty()
    }

    /// The settings as typed (not checked yet).
    fn settings(&self) -> Result<Settings, ApiError> {
        Ok(Settings {
            layout: self.layout()?,
            title: self.title.clone(),
            intro: Self::opt(&self.intro),
            colors: self.colors(),
            logo_url: Self::opt(&self.logo_url),
            background_url: Self::opt(&self.background_url),
            events: self.chosen_events()?,
            group_by: self.group_by()?,
            language: self.language(),
            private: self.private(),
        })
    }

    /// The settings as typed, with what cannot be read left at its
    /// default (for a preview) and the first problem.
    fn settings_for_preview(&self) -> (Settings, Option<ApiError>) {
        let mut problem = None;
        let mut keep = |e: ApiError| {
            problem.get_or_insert(e);
        };
        let layout = self.layout().unwrap_or_else(|e| {
            keep(e);
            Layout::Multi
        });
        let group_by = self.group_by().unwrap_or_else(|e| {
            keep(e);
            GroupBy::None
        });
        let events = self.chosen_events().unwrap_or_else(|e| {
            keep(e);
            None
        });
        let typed = Settings {
            layout,
            title: self.title.clone(),
            intro: Self::opt(&self.intro),
            colors: self.colors(),
            logo_url: Self::opt(&self.logo_url),
            background_url: Self::opt(&self.background_url),
            events,
            group_by,
            language: self.language(),
            private: self.private(),
        };
        let (shown, checked) = for_preview(&typed);
        (shown, problem.or(checked))
    }

    /// The organizer named, if any.
    fn organizer(&self) -> Result<Option<u64>, ApiError> {
        match self.organizer.trim() {
            "" => Ok(None),
            v => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::field("/organizer", "an organizer's number")),
        }
    }

    fn new_page(&self) -> Result<NewPage, ApiError> {
        let s = self.settings()?;
        Ok(NewPage {
            slug: self.slug.trim().to_owned(),
            organizer: self.organizer()?,
            layout: Some(s.layout),
            title: s.title,
            intro: s.intro,
            colors: Some(s.colors),
            logo_url: s.logo_url,
            background_url: s.background_url,
            events: s.events,
            group_by: Some(s.group_by),
            language: Some(s.language),
            private: Some(s.private),
        })
    }

    /// Every field replaced (an empty one removes what was set).
    fn patch(&self) -> Result<PagePatch, ApiError> {
        let s = self.settings()?;
        let or_empty = |v: Option<String>| Some(v.unwrap_or_default());
        Ok(PagePatch {
            layout: Some(s.layout),
            title: Some(s.title),
            intro: or_empty(s.intro),
            colors: Some(Colors {
                background: or_empty(s.colors.background),
                text: or_empty(s.colors.text),
                accent: or_empty(s.colors.accent),
            }),
            logo_url: or_empty(s.logo_url),
            background_url: or_empty(s.background_url),
            events: Some(s.events.unwrap_or_default()),
            group_by: Some(s.group_by),
            language: Some(s.language),
            private: Some(s.private),
        })
    }
}

fn layout_name(l: Layout) -> &'static str {
    match l {
        Layout::Multi => "multi",
        Layout::Single => "single",
    }
}

fn group_name(g: GroupBy) -> &'static str {
    match g {
        GroupBy::None => "none",
        GroupBy::Week => "week",
        GroupBy::Category => "category",
    }
}

/// A refusal to show next to its field: the field's id and what is wrong.
#[derive(Clone, Debug)]
struct Problem {
    field: &'static str,
    detail: String,
}

/// The form field an API problem's pointer names.
fn field_of(pointer: &str) -> &'static str {
    let p = pointer.trim_start_matches('/');
    let p = p.strip_prefix("colors/").unwrap_or(p);
    match p.split('/').next().unwrap_or("") {
        "slug" => "slug",
        "organizer" => "organizer",
        "title" => "title",
        "intro" => "intro",
        "layout" => "layout",
        "group_by" => "group_by",
        "background" => "background",
        "text" => "text",
        "accent" => "accent",
        "logo_url" => "logo_url",
        "background_url" => "background_url",
        "language" => "language",
        "private" => "private",
        "events" => "events",
        _ => "form",
    }
}

/// An API refusal as a problem with the form (a 400 or a conflict), or
/// the console's error page (not found, unavailable).
fn problem_of(e: &ApiError) -> Result<Problem, WebRejection> {
    let status = e.status();
    if status != StatusCode::BAD_REQUEST
        && status != StatusCode::UNPROCESSABLE_ENTITY
        && status != StatusCode::CONFLICT
    {
        return Err(web_error(e));
    }
    let p = e.problem();
    Ok(match p.errors.first() {
        Some(f) => Problem {
            field: field_of(&f.pointer),
            detail: f.detail.clone(),
        },
        None if status == StatusCode::CONFLICT && p.detail.contains("slug") => Problem {
            field: "slug",
            detail: p.detail,
        },
        None => Problem {
            field: "form",
            detail: p.detail,
        },
    })
}

/// The events a page's form offers: upcoming and not cancelled, and any
/// already chosen; of `scope`, or of every organizer the user sees.
async fn choosable(
    state: &AppState,
    user: &ConsoleUser,
    scope: Option<Scope>,
    chosen: &[String],
) -> Result<Vec<StoredEvent>, WebRejection> {
    let all = match scope {
        Some(s) => vec![s],
        None => scopes(state, &user.caller, None)
            .await
            .map_err(|e| web_error(&e))?,
    };
    let (events, _) = walk_events(state, &all, None, CHOOSABLE)
        .await
        .map_err(|e| web_error(&e))?;
    let now = state.now();
    Ok(events
        .into_iter()
        .filter(|e| {
            chosen.iter().any(|c| c == e.code().as_str())
                || (!e.cancelled() && e.latest().ends_at().is_none_or(|end| end > now))
        })
        .collect())
}

/// The organizers of a domain owner's administrator (empty for an
/// organizer), by id.
async fn organizers(
    state: &AppState,
    user: &ConsoleUser,
) -> Result<Vec<(u64, String)>, WebRejection> {
    let Tenant::Owner(owner) = user.caller.tenant else {
        return Ok(Vec::new());
    };
    let mut all: Vec<(u64, String)> = state
        .pipeline()
        .store()
        .organizers(owner)
        .await
        .map_err(|_| WebRejection::unavailable())?
        .into_iter()
        .map(|a| (a.scope.organizer.0, a.name))
        .collect();
    all.sort();
    Ok(all)
}

/// `GET /console/pages`.
async fn list(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebRejection> {
    #[derive(Debug, Default, Deserialize)]
    struct Q {
        #[serde(default)]
        cursor: String,
        #[serde(default)]
        deleted: String,
    }
    let q: Q = super::events::query(raw)?;
    let listed = list_pages(
        State(state.clone()),
        user.caller.clone(),
        ApiQuery(PageQuery {
            limit: Some(LISTED),
            cursor: Some(q.cursor.clone()).filter(|c| !c.is_empty()),
        }),
    )
    .await
    .map_err(|e| web_error(&e))?
    .0;
    let owner = matches!(user.caller.tenant, Tenant::Owner(_));
    let names = organizers(&state, &user).await?;
    let mut rows = Vec::new();
    for p in &listed.items {
        let record = find_page(&state, &user.caller, &p.slug)
            .await
            .map_err(|e| web_error(&e))?;
        let shown = crate::landing::shown_events(&state, &record)
            .await
            .map_err(|e| web_error(&e))?;
        rows.push((p, shown));
    }
    let deleted = crate::landing::api::valid_slug(&q.deleted).then_some(q.deleted.as_str());
    let body = html! {
        h1 { "Landing pages" }
        @if let Some(d) = deleted {
            p class="notice" role="status" data-deleted=(d) { "The page " code { (d) } " was deleted." }
        }
        p { a class="btn btn-primary" href="/console/pages/new" { "New page" } }
        @if rows.is_empty() {
            p data-empty="pages" { "No landing pages yet." }
        } @else {
            table class="console-table" {
                caption class="visually-hidden" { "Landing pages" }
                thead { tr {
                    th scope="col" { "Title" }
                    @if owner { th scope="col" { "Organizer" } }
                    th scope="col" { "Public address" }
                    th scope="col" { "Layout" }
                    th scope="col" class="n" { "Events shown" }
                } }
                tbody { @for (p, shown) in &rows {
                    tr data-page-slug=(p.slug) {
                        th scope="row" { a href={ "/console/pages/" (p.slug) "/edit" } { (p.title) } }
                        @if owner {
                            td { (names.iter().find(|(id, _)| *id == p.organizer)
                                .map_or_else(|| format!("organizer {}", p.organizer), |(_, n)| n.clone())) }
                        }
                        td { a href=(p.url) { (p.url) } }
                        td { (layout_name(p.layout)) }
                        td class="n" data-events-shown=(shown) {
                            (shown)
                            @if p.events.is_none() { " " span class="muted" { "(every upcoming)" } }
                        }
                    }
                } }
            }
        }
        @if let Some(next) = &listed.next_cursor {
            p { a href={ "/console/pages?cursor=" (next) } rel="next" data-page="next" { "More pages" } }
        }
        h2 { "Call-to-action links" }
        p {
            "A link to put in a newsletter or a mailing tool's campaign: whoever follows it is sent the event's invitation. "
            a href="/console/cta" { "Get an event's link" }
        }
    };
    Ok(page_with_head(
        &state,
        &headers,
        &user,
        "Landing pages — console",
        None,
        body,
    ))
}

/// What the form page shows besides the form's values.
struct Editing {
    /// The page being changed; `None`: a new page.
    slug: Option<String>,
    /// Its public address (a saved page).
    url: Option<String>,
    /// Its title as saved.
    saved_title: Option<String>,
    problem: Option<Problem>,
    /// A note at the top (saved, previewed).
    note: Option<&'static str>,
    status: StatusCode,
}

/// The form page: the form, the preview beside it and, for a saved page,
/// its address, QR code and the way to delete it.
async fn form_page(
    state: &AppState,
    headers: &HeaderMap,
    user: &ConsoleUser,
    values: &PageForm,
    ed: Editing,
) -> Result<Response, WebRejection> {
    let owner = matches!(user.caller.tenant, Tenant::Owner(_));
    let names = organizers(state, user).await?;
    let scope = match (&ed.slug, user.caller.tenant) {
        (Some(_), _) => values
            .organizer
            .parse::<u64>()
            .ok()
            .and_then(|id| user.caller.scope_of(id).ok()),
        (None, Tenant::Organizer(s)) => Some(s),
        (None, Tenant::Owner(_)) => None,
    };
    let events = choosable(state, user, scope, &values.event).await?;
    let issued = csrf::issue(state, headers, FORM);
    let (action, preview_action) = match &ed.slug {
        Some(s) => (
            format!("/console/pages/{s}/edit"),
            format!("/console/pages/{s}/preview"),
        ),
        None => (
            "/console/pages/new".to_owned(),
            "/console/pages/new/preview".to_owned(),
        ),
    };
    let frame = format!("/console/pages/preview?{}", values.query());
    let pr = ed.problem.as_ref();
    let bad = |f: &str| pr.is_some_and(|p| p.field == f);
    // The field's error, next to it.
    let err = |f: &str| -> Markup {
        html! {
            @if let Some(p) = pr.filter(|p| p.field == f) {
                span class="field-error" id={ (f) "-error" } data-error-for=(f) { (p.detail) }
            }
        }
    };
    let describe = |f: &str, help: bool| -> Option<String> {
        let mut ids = Vec::new();
        if help {
            ids.push(format!("{f}-help"));
        }
        if bad(f) {
            ids.push(format!("{f}-error"));
        }
        (!ids.is_empty()).then(|| ids.join(" "))
    };
    let invalid = |f: &str| bad(f).then_some("true");
    let title = match &ed.saved_title {
        Some(t) => format!("Edit “{t}”"),
        None => "New landing page".to_owned(),
    };
    let org_name = |id: u64| {
        names
            .iter()
            .find(|(i, _)| *i == id)
            .map_or_else(|| format!("organizer {id}"), |(_, n)| n.clone())
    };
    let colour = |id: &'static str, label: &str, value: &str, default: &str| -> Markup {
        html! {
            div class="field" {
                label for=(id) { (label) }
                input type="text" id=(id) name=(id) value=(value) placeholder=(default)
                    maxlength="7" size="9" autocomplete="off" spellcheck="false"
                    aria-invalid=[invalid(id)] aria-describedby=[describe(id, true)];
                span class="muted" id={ (id) "-help" } { "Like " code { (default) } "; empty: " (default) "." }
                (err(id))
            }
        }
    };
    let body = html! {
        p { a href="/console/pages" { "← Landing pages" } }
        h1 { (title) }
        @if let Some(n) = ed.note { p class="notice" role="status" data-note="" { (n) } }
        @if let Some(p) = pr {
            div class="notice problem" role="alert" data-problem=(p.field) {
                "Not saved: "
                @if p.field == "form" { (p.detail) } @else { a href={ "#" (p.field) } { (p.detail) } }
            }
        }
        @if let (Some(slug), Some(url)) = (&ed.slug, &ed.url) {
            section class="card" aria-labelledby="share-heading" {
                h2 id="share-heading" { "Share" }
                div class="field" {
                    label for="page-url" { "The page's address" }
                    div class="copy-row" {
                        input type="text" id="page-url" value=(url) readonly size="50";
                        button type="button" class="btn" data-copy="page-url" hidden { "Copy" }
                    }
                    span id="page-url-status" role="status" class="muted" {}
                }
                p {
                    a href=(url) { "Open the page" } " · "
                    a href={ "/p/" (slug) "/qr.png" } download={ (slug) "-qr.png" } data-qr="png" { "QR code (PNG)" } " · "
                    a href={ "/p/" (slug) "/qr.svg" } download={ (slug) "-qr.svg" } data-qr="svg" { "QR code (SVG)" }
                }
            }
        }
        div class="page-edit" {
            form method="post" action=(action) class="card" data-preview-form="" id="page-form" {
                (issued.field())
                input type="hidden" name="revision" value=(values.revision);
                @match &ed.slug {
                    Some(s) => {
                        input type="hidden" name="slug" value=(s);
                        input type="hidden" name="organizer" value=(values.organizer);
                        p { "Address: " code { "/p/" (s) } }
                    }
                    None => {
                        div class="field" {
                            label for="slug" { "Address (slug)" }
                            input type="text" id="slug" name="slug" value=(values.slug) required
                                minlength="3" maxlength="64" pattern="[a-z0-9][a-z0-9\\-]*[a-z0-9]"
                                autocomplete="off" spellcheck="false"
                                aria-invalid=[invalid("slug")] aria-describedby=[describe("slug", true)];
                            span class="muted" id="slug-help" {
                                "The page will be at " code { "/p/" } "and this: 3 to 64 of a–z, 0–9 and - (not first or last). It cannot be changed later."
                            }
                            (err("slug"))
                        }
                        @if owner {
                            div class="field" {
                                label for="organizer" { "Organizer (whose events it shows)" }
                                select id="organizer" name="organizer"
                                    aria-invalid=[invalid("organizer")] aria-describedby=[describe("organizer", false)] {
                                    @for (id, name) in &names {
                                        option value=(id) selected[values.organizer == id.to_string()] { (name) }
                                    }
                                }
                                (err("organizer"))
                            }
                        }
                    }
                }
                div class="field" {
                    label for="title" { "Title" }
                    input type="text" id="title" name="title" value=(values.title) required maxlength="200"
                        aria-invalid=[invalid("title")] aria-describedby=[describe("title", false)];
                    (err("title"))
                }
                div class="field" {
                    label for="intro" { "Introduction (optional)" }
                    textarea id="intro" name="intro" rows="3" maxlength="2000"
                        aria-invalid=[invalid("intro")] aria-describedby=[describe("intro", false)] { (values.intro) }
                    (err("intro"))
                }
                div class="field" {
                    label for="layout" { "Layout" }
                    select id="layout" name="layout" aria-invalid=[invalid("layout")] aria-describedby=[describe("layout", false)] {
                        option value="multi" selected[values.layout != "single"] { "A list of events (multi)" }
                        option value="single" selected[values.layout == "single"] { "One event, large (single)" }
                    }
                    (err("layout"))
                }
                div class="field" {
                    label for="group_by" { "Grouping (a list)" }
                    select id="group_by" name="group_by" aria-invalid=[invalid("group_by")] aria-describedby=[describe("group_by", false)] {
                        option value="none" selected[values.group_by.is_empty() || values.group_by == "none"] { "None" }
                        option value="week" selected[values.group_by == "week"] { "By week" }
                        option value="category" selected[values.group_by == "category"] { "By category" }
                    }
                    (err("group_by"))
                }
                fieldset {
                    legend { "Colours" }
                    p class="muted" { "Text and accent need a contrast of at least 4.5:1 against the background (WCAG AA)." }
                    (colour("background", "Background", &values.background, "#ffffff"))
                    (colour("text", "Text", &values.text, "#1f2328"))
                    (colour("accent", "Accent (links and the button)", &values.accent, "#0b5cad"))
                }
                div class="field" {
                    label for="logo_url" { "Logo URL (optional)" }
                    input type="url" id="logo_url" name="logo_url" value=(values.logo_url)
                        aria-invalid=[invalid("logo_url")] aria-describedby=[describe("logo_url", true)];
                    span class="muted" id="logo_url-help" { "https, or an inline image (data:image/…;base64, at most 64 KiB)." }
                    (err("logo_url"))
                }
                div class="field" {
                    label for="background_url" { "Background image URL (optional)" }
                    input type="url" id="background_url" name="background_url" value=(values.background_url)
                        aria-invalid=[invalid("background_url")] aria-describedby=[describe("background_url", true)];
                    span class="muted" id="background_url-help" { "https, or an inline image." }
                    (err("background_url"))
                }
                div class="field" {
                    label for="language" { "Language of the page" }
                    select id="language" name="language" aria-invalid=[invalid("language")] aria-describedby=[describe("language", false)] {
                        @for (tag, name) in [("en", "English"), ("de", "Deutsch"), ("fr", "Français"), ("es", "Español")] {
                            option value=(tag) selected[values.language == tag] { (name) }
                        }
                    }
                    (err("language"))
                }
                div class="field" {
                    label for="private" {
                        input type="checkbox" id="private" name="private" value="1" checked[values.private()];
                        " Private: keep it out of search engines (noindex)"
                    }
                }
                fieldset id="events" aria-describedby=[describe("events", false)] {
                    legend { "Events shown" }
                    (err("events"))
                    label for="events-all" {
                        input type="radio" id="events-all" name="events" value="all" checked[!values.chosen()];
                        " Every upcoming event" @if ed.slug.is_none() && owner { " of the organizer" }
                    }
                    br;
                    label for="events-chosen" {
                        input type="radio" id="events-chosen" name="events" value="chosen" checked[values.chosen()];
                        " Only the events ticked below"
                    }
                    @if events.is_empty() {
                        p class="muted" data-empty="events" { "No upcoming events." }
                    } @else {
                        ul class="event-choices" {
                            @for e in &events {
                                @let code = e.code().as_str();
                                @let body = EventBody::new(e, Default::default());
                                li data-event=(code) {
                                    label for={ "ev-" (code) } {
                                        input type="checkbox" id={ "ev-" (code) } name="event" value=(code)
                                            checked[values.event.iter().any(|c| c == code)];
                                        " " (body.summary) " "
                                        span class="muted" {
                                            (super::events::show_start(&body))
                                            @if owner { " · " (org_name(e.scope().organizer.0)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                div class="actions" {
                    button type="submit" class="btn btn-primary" { "Save" }
                    button type="submit" class="btn" formaction=(preview_action) data-preview-button="" { "Preview" }
                    @if let Some(slug) = &ed.slug {
                        a class="btn" href={ "/console/pages/" (slug) "/delete" } data-delete="" { "Delete this page…" }
                    }
                }
                p class="muted" { "Preview shows the page beside this form as it would look; nothing is saved until you press Save." }
            }
            section class="page-preview" aria-labelledby="preview-heading" {
                h2 id="preview-heading" { "Preview" }
                iframe src=(frame) title="Preview of the landing page" data-preview-frame=""
                    data-preview-base="/console/pages/preview" loading="lazy" {}
            }
        }
    };
    let head = html! { script src="/assets/console-pages.js" defer {} };
    let mut r = page_with_head(state, headers, user, &title, Some(head), body);
    *r.status_mut() = ed.status;
    crate::web::page::frames_self(r.headers_mut());
    issued.attach(&mut r);
    Ok(r)
}

/// Reads and checks the page form (its token spent).
async fn read(
    state: &AppState,
    headers: &HeaderMap,
    request: Request,
) -> Result<PageForm, WebRejection> {
    let form: PageForm = crate::web::form::read_form(request, MAX_FORM).await?;
    csrf::check(state, headers, FORM, &form.csrf).await?;
    Ok(form)
}

/// `GET /console/pages/new`.
async fn new_page(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
) -> Result<Response, WebRejection> {
    let names = organizers(&state, &user).await?;
    let values = PageForm {
        organizer: names
            .first()
            .map(|(id, _)| id.to_string())
            .unwrap_or_default(),
        events: "all".to_owned(),
        language: "en".to_owned(),
        ..PageForm::default()
    };
    form_page(
        &state,
        &headers,
        &user,
        &values,
        new_editing(None, None, StatusCode::OK),
    )
    .await
}

fn new_editing(
    problem: Option<Problem>,
    note: Option<&'static str>,
    status: StatusCode,
) -> Editing {
    Editing {
        slug: None,
        url: None,
        saved_title: None,
        problem,
        note,
        status,
    }
}

/// `POST /console/pages/new`: makes the page, through the API.
async fn create(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, WebRejection> {
    let values = read(&state, &headers, request).await?;
    let made = match values.new_page() {
        Ok(new) => create_page(State(state.clone()), user.caller.clone(), ApiJson(new))
            .await
            .map(drop),
        Err(e) => Err(e),
    };
    match made {
        Ok(()) => {
            let slug = values.slug.trim();
            tracing::info!(slug, "landing page made from the console");
            Ok(Redirect::to(&format!("/console/pages/{slug}/edit?saved=1")).into_response())
        }
        Err(e) => {
            let p = problem_of(&e)?;
            let status = e.status();
            form_page(
                &state,
                &headers,
                &user,
                &values,
                new_editing(Some(p), None, status),
            )
            .await
        }
    }
}

/// `POST /console/pages/new/preview`: the form again, the page as typed
/// beside it; nothing saved.
async fn preview_new(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, WebRejection> {
    let values = read(&state, &headers, request).await?;
    let (_, problem) = values.settings_for_preview();
    let problem = problem.map(|e| problem_of(&e)).transpose()?;
    let note = Some("The preview shows what you typed; nothing is saved yet.");
    form_page(
        &state,
        &headers,
        &user,
        &values,
        new_editing(problem, note, StatusCode::OK),
    )
    .await
}

/// The caller's page, as its form shows it.
async fn saved(state: &AppState, user: &ConsoleUser, slug: &str) -> Result<PageBody, WebRejection> {
    let record = find_page(state, &user.caller, slug)
        .await
        .map_err(|e| web_error(&e))?;
    Ok(PageBody::new(state, &record))
}

fn editing(
    p: &PageBody,
    problem: Option<Problem>,
    note: Option<&'static str>,
    status: StatusCode,
) -> Editing {
    Editing {
        slug: Some(p.slug.clone()),
        url: Some(p.url.clone()),
        saved_title: Some(p.title.clone()),
        problem,
        note,
        status,
    }
}

/// `GET /console/pages/{slug}/edit`.
async fn edit_page(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(slug): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebRejection> {
    let p = saved(&state, &user, &slug).await?;
    let note = raw
        .is_some_and(|q| q == "saved=1")
        .then_some("Saved: the page shows the change now.");
    let values = PageForm::of(&p);
    form_page(
        &state,
        &headers,
        &user,
        &values,
        editing(&p, None, note, StatusCode::OK),
    )
    .await
}

/// `POST /console/pages/{slug}/edit`: changes the page, through the API.
async fn save(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(slug): Path<String>,
    request: Request,
) -> Result<Response, WebRejection> {
    let mut values = read(&state, &headers, request).await?;
    let p = saved(&state, &user, &slug).await?;
    values.slug = p.slug.clone();
    values.organizer = p.organizer.to_string();
    if values.revision != p.revision.to_string() {
        let problem = Problem {
            field: "form",
            detail: "the page was changed elsewhere since this form was opened: \
                     the form below still holds your values; press Save again to replace the change"
                .to_owned(),
        };
        values.revision = p.revision.to_string();
        return form_page(
            &state,
            &headers,
            &user,
            &values,
            editing(&p, Some(problem), None, StatusCode::CONFLICT),
        )
        .await;
    }
    let changed = match values.patch() {
        Ok(patch) => patch_page(
            State(state.clone()),
            user.caller.clone(),
            ApiPath(slug.clone()),
            ApiJson(patch),
        )
        .await
        .map(drop),
        Err(e) => Err(e),
    };
    match changed {
        Ok(()) => {
            tracing::info!(slug, "landing page changed from the console");
            Ok(Redirect::to(&format!("/console/pages/{slug}/edit?saved=1")).into_response())
        }
        Err(e) => {
            let problem = problem_of(&e)?;
            let status = e.status();
            form_page(
                &state,
                &headers,
                &user,
                &values,
                editing(&p, Some(problem), None, status),
            )
            .await
        }
    }
}

/// `POST /console/pages/{slug}/preview`: the form again, the page as
/// typed beside it; nothing saved.
async fn preview_edit(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(slug): Path<String>,
    request: Request,
) -> Result<Response, WebRejection> {
    let mut values = read(&state, &headers, request).await?;
    let p = saved(&state, &user, &slug).await?;
    values.slug = p.slug.clone();
    values.organizer = p.organizer.to_string();
    let (_, problem) = values.settings_for_preview();
    let problem = problem.map(|e| problem_of(&e)).transpose()?;
    let note =
        Some("The preview shows what you typed; nothing is saved yet. Press Save to keep it.");
    form_page(
        &state,
        &headers,
        &user,
        &values,
        editing(&p, problem, note, StatusCode::OK),
    )
    .await
}

/// `GET /console/pages/preview?…`: the page as the query's fields would
/// make it, for the preview frame. Nothing is written.
async fn frame(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebRejection> {
    let raw = raw.unwrap_or_default();
    if raw.len() > MAX_FORM {
        return Err(WebRejection::bad_request(
            "the preview's address is too long",
        ));
    }
    let values: PageForm = crate::web::form::parse(&axum::body::Bytes::from(raw))?;
    // Whose events: the organizer named (one the user sees), else the
    // user's own, else a domain owner's first.
    let named = values.organizer().map_err(|e| web_error(&e))?;
    let scope = match (named, user.caller.tenant) {
        (Some(id), _) => {
            let s = user.caller.scope_of(id).map_err(|e| web_error(&e))?;
            crate::api::organizers_exist(&state, s)
                .await
                .map_err(|e| web_error(&e))?;
            s
        }
        (None, Tenant::Organizer(s)) => s,
        (None, Tenant::Owner(_)) => *scopes(&state, &user.caller, None)
            .await
            .map_err(|e| web_error(&e))?
            .first()
            .ok_or_else(|| WebRejection::not_found("There is nothing here."))?,
    };
    let (settings, problem) = values.settings_for_preview();
    let slug = if crate::landing::api::valid_slug(values.slug.trim()) {
        values.slug.trim().to_owned()
    } else {
        "preview".to_owned()
    };
    let now = state.now();
    let record = PageRecord {
        slug,
        scope,
        settings,
        revision: 0,
        created_at: now,
        updated_at: now,
    };
    let problem = problem.map(|e| e.problem().detail);
    Ok(crate::landing::preview(&state, &record, &headers, problem.as_deref()).await)
}

/// `GET /console/pages/{slug}/delete`: asks.
async fn confirm_delete(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> Result<Response, WebRejection> {
    let p = saved(&state, &user, &slug).await?;
    let issued = csrf::issue(&state, &headers, DELETE);
    let body = html! {
        p { a href={ "/console/pages/" (p.slug) "/edit" } { "← " (p.title) } }
        h1 { "Delete “" (p.title) "”?" }
        p { "Its address " code { (p.url) } " will answer “not found” from then on, and its QR codes lead nowhere. This cannot be undone." }
        form method="post" action={ "/console/pages/" (p.slug) "/delete" } class="actions" {
            (issued.field())
            button type="submit" class="btn btn-primary" data-confirm-delete="" { "Delete the page" }
            a class="btn" href={ "/console/pages/" (p.slug) "/edit" } { "Keep it" }
        }
    };
    let mut r = page_with_head(
        &state,
        &headers,
        &user,
        &format!("Delete {}", p.title),
        None,
        body,
    );
    issued.attach(&mut r);
    Ok(r)
}

/// The delete form's fields.
#[derive(Debug, Deserialize)]
struct DeleteForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /console/pages/{slug}/delete`: deletes it, through the API.
async fn delete(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(slug): Path<String>,
    crate::web::WebForm(form): crate::web::WebForm<DeleteForm>,
) -> Result<Response, WebRejection> {
    csrf::check(&state, &headers, DELETE, &form.csrf).await?;
    delete_page(
        State(state.clone()),
        user.caller.clone(),
        ApiPath(slug.clone()),
    )
    .await
    .map_err(|e| web_error(&e))?;
    tracing::info!(slug, "landing page deleted from the console");
    Ok(Redirect::to(&format!("/console/pages?deleted={slug}")).into_response())
}

/// The mailing tools offered, by the name the API takes (`other`: none).
const PLATFORMS: &[(&str, &str)] = &[
    ("mailchimp", "Mailchimp"),
    ("sendgrid", "SendGrid (dynamic templates)"),
    ("sendgrid-legacy", "SendGrid (legacy substitutions)"),
    ("klaviyo", "Klaviyo"),
    ("other", "Another tool, or none"),
];

/// `GET /console/cta?event=…&platform=…&address=…`: an event's
/// call-to-action link, as `/v1/events/{code}/cta` makes it.
async fn cta(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebRejection> {
    #[derive(Debug, Default, Deserialize)]
    struct Q {
        #[serde(default)]
        event: String,
        #[serde(default)]
        platform: String,
        #[serde(default)]
        address: String,
    }
    let q: Q = super::events::query(raw)?;
    let code = q.event.trim();
    let platform = match q.platform.trim() {
        "" => "mailchimp",
        p => p,
    };
    if !PLATFORMS.iter().any(|(p, _)| *p == platform) {
        return Err(WebRejection::bad_request(
            "platform must be mailchimp, sendgrid, sendgrid-legacy, klaviyo or other",
        ));
    }
    // The event first: another tenant's is not found.
    let chosen = if code.is_empty() {
        None
    } else {
        Some(
            find_event(&state, &user.caller, code)
                .await
                .map_err(|e| web_error(&e))?,
        )
    };
    let address = q.address.trim();
    let mut problem = None;
    let link = match &chosen {
        None => None,
        Some(e) => {
            let r = cta_link(
                State(state.clone()),
                user.caller.clone(),
                ApiPath(e.code().as_str().to_owned()),
                ApiQuery(CtaQuery {
                    address: Some(address.to_owned()).filter(|a| !a.is_empty()),
                    platform: (platform != "other").then(|| platform.to_owned()),
                }),
            )
            .await;
            match r {
                Ok(l) => Some(l.0),
                Err(e) => {
                    problem = Some(problem_of(&e)?.detail);
                    None
                }
            }
        }
    };
    let code_chosen: Vec<String> = chosen
        .iter()
        .map(|e| e.code().as_str().to_owned())
        .collect();
    let events = choosable(&state, &user, None, &code_chosen).await?;
    let platform_name = PLATFORMS
        .iter()
        .find(|(p, _)| *p == platform)
        .map_or(platform, |(_, n)| n);
    let copy = |id: &str, label: Markup, value: &str| -> Markup {
        html! {
            div class="field" {
                label for=(id) { (label) }
                div class="copy-row" {
                    input type="text" id=(id) value=(value) readonly size="60" data-link=(id);
                    button type="button" class="btn" data-copy=(id) hidden { "Copy" }
                }
                span id={ (id) "-status" } role="status" class="muted" {}
            }
        }
    };
    let body = html! {
        p { a href="/console/pages" { "← Landing pages" } }
        h1 { "Call-to-action links" }
        p { "A link for a newsletter or a campaign: whoever follows it sees the event and a button that sends them its invitation. A mailing tool puts each recipient's address into the link with its merge tag." }
        form method="get" action="/console/cta" class="card console-filters" aria-label="Which link" {
            label for="event" { "Event"
                select id="event" name="event" required {
                    option value="" { "Choose an event" }
                    @for e in &events {
                        @let c = e.code().as_str();
                        option value=(c) selected[c == code] data-event=(c) { (e.latest().summary().as_str()) " (" (c) ")" }
                    }
                }
            }
            label for="platform" { "Email platform"
                select id="platform" name="platform" {
                    @for (p, name) in PLATFORMS {
                        option value=(p) selected[*p == platform] { (name) }
                    }
                }
            }
            label for="address" { "Signed for one address (optional)"
                input type="email" id="address" name="address" value=(address)
                    aria-invalid=[problem.is_some().then_some("true")]
                    aria-describedby=[problem.is_some().then_some("address-error")];
            }
            button type="submit" class="btn btn-primary" { "Get the link" }
        }
        @if let Some(p) = &problem {
            p class="field-error notice" id="address-error" role="alert" data-error-for="address" { (p) }
        }
        @if let (Some(e), Some(l)) = (&chosen, &link) {
            section class="card" aria-labelledby="link-heading" data-cta-event=(e.code().as_str()) {
                h2 id="link-heading" { "“" (e.latest().summary().as_str()) "”" }
                @if l.signed_only {
                    p class="notice" data-signed-only="" {
                        "This server only sends from links signed for their address: a link with a merge tag, or without an address, shows the event but sends nothing. Use a signed link."
                    }
                }
                @if let (Some(t), Some(tag)) = (&l.template, &l.merge_tag) {
                    (copy("cta-template", html! { "For " (platform_name) " (merge tag " code data-merge-tag=(tag) { (tag) } ")" }, t))
                } @else {
                    p class="muted" {
                        "For another tool: add " code { "?email=" } " and the tool's placeholder for the recipient's address to the link below."
                    }
                }
                (copy("cta-page", html! { "Without an address (the page asks for one)" }, &l.page))
                @if let Some(u) = &l.url {
                    (copy("cta-signed", html! { "Signed for " (address) }, u))
                }
            }
        }
    };
    let head = html! { script src="/assets/console-pages.js" defer {} };
    let status = if problem.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut r = page_with_head(
        &state,
        &headers,
        &user,
        "Call-to-action links — console",
        Some(head),
        body,
    );
    *r.status_mut() = status;
    Ok(r)
}
