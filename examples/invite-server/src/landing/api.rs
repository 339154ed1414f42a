//! The landing pages' API: `/v1/pages` (made, listed, read, changed,
//! deleted; scoped to the caller's key like every `/v1` resource) and
//! `/v1/events/{code}/display` (an event's image, links, line of text and
//! category, which pages show).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use calinvite_core::EventCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::colour::{AA_TEXT, Palette, Rgb, check_url, contrast, shown};
use super::db::{LandingDb, PageRecord};
use super::model::{Colors, Display, GroupBy, Layout, Settings};
use crate::api::{Page, PageQuery, find_event, organizers_exist};
use crate::extract::{
    ApiJson, ApiPath, ApiQuery, Caller, decode_cursor, encode_cursor, page_limit,
};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

/// A landing page.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub(crate) struct PageBody {
    /// Its address part: the page is `/p/{slug}`.
    pub(crate) slug: String,
    /// The organizer whose events it shows.
    pub(crate) organizer: u64,
    /// The page's canonical URL (shared, and in its QR code).
    pub(crate) url: String,
    /// One event or a list.
    pub(crate) layout: Layout,
    /// The heading.
    pub(crate) title: String,
    /// A paragraph under the heading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) intro: Option<String>,
    /// The colours.
    pub(crate) colors: Colors,
    /// A logo (https or an inline image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) logo_url: Option<String>,
    /// A background image (https or an inline image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) background_url: Option<String>,
    /// The event codes shown, in order; absent: every upcoming event of
    /// the organizer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) events: Option<Vec<String>>,
    /// How events are grouped.
    pub(crate) group_by: GroupBy,
    /// The page's language: `en`, `de`, `fr` or `es`.
    pub(crate) language: String,
    /// Kept out of search engines (`noindex`).
    pub(crate) private: bool,
    /// Goes up by one with each change.
    pub(crate) revision: u64,
    /// When it was made.
    pub(crate) created_at: DateTime<Utc>,
    /// When it last changed.
    pub(crate) updated_at: DateTime<Utc>,
}

/// A landing page to make.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewPage {
    /// 3 to 64 of `a-z`, `0-9` and `-` (not first or last); unique on the server.
    pub(crate) slug: String,
    /// The organizer whose events it shows: required with a domain
    /// owner's key, the key's own organizer otherwise.
    pub(crate) organizer: Option<u64>,
    /// One event or a list (default `multi`).
    pub(crate) layout: Option<Layout>,
    /// The heading (1 to 200 characters).
    pub(crate) title: String,
    /// A paragraph under the heading (at most 2,000 characters).
    pub(crate) intro: Option<String>,
    /// The colours (text and accent need 4.5:1 against the background).
    pub(crate) colors: Option<Colors>,
    /// A logo.
    pub(crate) logo_url: Option<String>,
    /// A background image.
    pub(crate) background_url: Option<String>,
    /// The event codes to show (at most 500); absent: every upcoming event.
    pub(crate) events: Option<Vec<String>>,
    /// How to group events (default `none`).
    pub(crate) group_by: Option<GroupBy>,
    /// `en` (default), `de`, `fr` or `es`.
    pub(crate) language: Option<String>,
    /// Keep it out of search engines.
    pub(crate) private: Option<bool>,
}

/// Changes to a page: the fields given are replaced (an empty text removes
/// an intro or an image; an empty `events` shows every upcoming event).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PagePatch {
    /// One event or a list.
    pub(crate) layout: Option<Layout>,
    /// The heading.
    pub(crate) title: Option<String>,
    /// The paragraph under the heading.
    pub(crate) intro: Option<String>,
    /// The colours (each given one is replaced).
    pub(crate) colors: Option<Colors>,
    /// A logo.
    pub(crate) logo_url: Option<String>,
    /// A background image.
    pub(crate) background_url: Option<String>,
    /// The event codes to show.
    pub(crate) events: Option<Vec<String>>,
    /// How to group events.
    pub(crate) group_by: Option<GroupBy>,
    /// The language.
    pub(crate) language: Option<String>,
    /// Keep it out of search engines.
    pub(crate) private: Option<bool>,
}

/// The canonical URL of page `slug` under the server's public URL.
pub(crate) fn canonical(state: &AppState, slug: &str) -> String {
    let base = state.web().public_base().as_str().trim_end_matches('/');
    format!("{base}/p/{slug}")
}

impl PageBody {
    pub(crate) fn new(state: &AppState, p: &PageRecord) -> Self {
        let s = &p.settings;
        PageBody {
            slug: p.slug.clone(),
            organizer: p.scope.organizer.0,
            url: canonical(state, &p.slug),
            layout: s.layout,
            title: s.title.clone(),
            intro: s.intro.clone(),
            colors: s.colors.clone(),
            logo_url: s.logo_url.clone(),
            background_url: s.background_url.clone(),
            events: s.events.clone(),
            group_by: s.group_by,
            language: s.language.clone(),
            private: s.private,
            revision: p.revision,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// Whether `slug` is a page's address part.
pub(crate) fn valid_slug(slug: &str) -> bool {
    (3..=64).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
}

fn limited(pointer: &str, value: &str, max: usize) -> ApiResult<()> {
    if value.chars().count() > max {
        return Err(ApiError::field(
            pointer,
            format!("at most {max} characters"),
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::field(
            pointer,
            "control characters are not accepted",
        ));
    }
    Ok(())
}

/// Checks what a page would show; the first problem names its field (for
/// colours, the measured contrast).
pub(crate) fn validate(s: &mut Settings) -> ApiResult<()> {
    if s.title.trim().is_empty() {
        return Err(ApiError::field("/title", "a page needs a title"));
    }
    limited("/title", &s.title, 200)?;
    if let Some(i) = &s.intro {
        limited("/intro", i, 2_000)?;
    }
    let c = &s.colors;
    let parse = |pointer: &str, v: &Option<String>| -> ApiResult<Option<Rgb>> {
        v.as_deref()
            .map(|v| {
                Rgb::parse(v)
                    .ok_or_else(|| ApiError::field(pointer, "not a colour such as #1a2b3c"))
            })
            .transpose()
    };
    let d = Palette::DEFAULT;
    let bg = parse("/colors/background", &c.background)?.unwrap_or(d.background);
    let text = parse("/colors/text", &c.text)?.unwrap_or(d.text);
    let accent = parse("/colors/accent", &c.accent)?.unwrap_or(d.accent);
    for (pointer, what, colour) in [
        ("/colors/text", "text", text),
        ("/colors/accent", "accent", accent),
    ] {
        let ratio = contrast(colour, bg);
        if ratio < AA_TEXT {
            // The colour given is the one to change; with only a
            // background given, the background.
            let given = if pointer == "/colors/text" {
                &c.text
            } else {
                &c.accent
            };
            let field = if given.is_none() && c.background.is_some() {
                "/colors/background"
            } else {
                pointer
            };
            return Err(ApiError::field(
                field,
                format!(
                    "the {what} colour {colour} on the background {bg} has a contrast of {}:1; \
                     at least 4.5:1 is needed (WCAG AA)",
                    shown(ratio)
                ),
            ));
        }
    }
    // Stored normalised.
    s.colors = Colors {
        background: c.background.as_ref().map(|_| bg.to_string()),
        text: c.text.as_ref().map(|_| text.to_string()),
        accent: c.accent.as_ref().map(|_| accent.to_string()),
    };
    for (pointer, v) in [
        ("/logo_url", &mut s.logo_url),
        ("/background_url", &mut s.background_url),
    ] {
        if let Some(u) = v.as_deref() {
            *v = Some(check_url(u, true).map_err(|e| ApiError::field(pointer, e))?);
        }
    }
    if let Some(codes) = &s.events {
        if codes.len() > 500 {
            return Err(ApiError::field("/events", "at most 500 events"));
        }
        for (i, code) in codes.iter().enumerate() {
            if EventCode::parse(code).is_err() {
                return Err(ApiError::field(format!("/events/{i}"), "not an event code"));
            }
        }
    }
    if crate::web::Lang::parse(&s.language).is_none() {
        return Err(ApiError::field("/language", "one of en, de, fr, es"));
    }
    Ok(())
}

/// Settings as typed, made fit to preview: when [`validate`] refuses
/// them, its first problem, and the settings with the images that are not
/// acceptable left out and the texts cut to their limits (unreadable
/// colours are corrected where the page is drawn).
pub(crate) fn for_preview(typed: &Settings) -> (Settings, Option<ApiError>) {
    let mut checked = typed.clone();
    match validate(&mut checked) {
        Ok(()) => (checked, None),
        Err(e) => {
            let mut shown = typed.clone();
            for v in [&mut shown.logo_url, &mut shown.background_url] {
                *v = v.as_deref().and_then(|u| check_url(u, true).ok());
            }
            shown.title = shown.title.chars().take(200).collect();
            shown.intro = shown.intro.map(|i| i.chars().take(2_000).collect());
            (shown, Some(e))
        }
    }
}

/// Fails with 404 unless every chosen event is the organizer's.
async fn events_belong(state: &AppState, caller: &Caller, page: &PageRecord) -> ApiResult<()> {
    for (i, code) in page.settings.events.iter().flatten().enumerate() {
        let found = find_event(state, caller, code).await.ok();
        if found.is_none_or(|e| e.scope() != page.scope) {
            return Err(ApiError::field(
                format!("/events/{i}"),
                format!("no event {code} of organizer {}", page.scope.organizer.0),
            ));
        }
    }
    Ok(())
}

fn empty_to_none(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

/// The caller's page `slug` (another tenant's is not found).
pub(crate) async fn find_page(
    state: &AppState,
    caller: &Caller,
    slug: &str,
) -> ApiResult<PageRecord> {
    LandingDb(state.db())
        .page(slug)
        .await?
        .filter(|p| caller.sees(p.scope))
        .ok_or_else(|| ApiError::not_found(format!("page {slug}")))
}

/// Makes a landing page of an organizer's events.
#[utoipa::path(
    post,
    path = "/v1/pages",
    tag = "landing pages",
    request_body = NewPage,
    responses(
        (status = 201, description = "Made", body = PageBody,
            headers(("Location" = String, description = "The page's API URL"))),
        (status = 409, description = "The slug is taken", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_page(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(new): ApiJson<NewPage>,
) -> ApiResult<impl IntoResponse> {
    let scope = caller.acting_as(new.organizer)?;
    organizers_exist(&state, scope).await?;
    if !valid_slug(&new.slug) {
        return Err(ApiError::field(
            "/slug",
            "3 to 64 of a-z, 0-9 and - (not first or last)",
        ));
    }
    let mut settings = Settings {
        layout: new.layout.unwrap_or_default(),
        title: new.title,
        intro: empty_to_none(new.intro),
        colors: new.colors.unwrap_or_default(),
        logo_url: empty_to_none(new.logo_url),
        background_url: empty_to_none(new.background_url),
        events: new.events.filter(|e| !e.is_empty()),
        group_by: new.group_by.unwrap_or_default(),
        language: new.language.unwrap_or_else(|| "en".to_owned()),
        private: new.private.unwrap_or(false),
    };
    validate(&mut settings)?;
    let now = state.now();
    let record = PageRecord {
        slug: new.slug.clone(),
        scope,
        settings,
        revision: 1,
        created_at: now,
        updated_at: now,
    };
    events_belong(&state, &caller, &record).await?;
    if !LandingDb(state.db()).insert_page(&record).await? {
        return Err(ApiError::conflict(format!(
            "the slug {} is taken",
            new.slug
        )));
    }
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/v1/pages/{}", record.slug))],
        Json(PageBody::new(&state, &record)),
    ))
}

/// The caller's landing pages, by slug.
#[utoipa::path(
    get,
    path = "/v1/pages",
    tag = "landing pages",
    params(PageQuery),
    responses((status = 200, description = "A page of landing pages", body = Page<PageBody>))
)]
pub(crate) async fn list_pages(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<PageBody>>> {
    let limit = page_limit(q.limit)?;
    let after = decode_cursor(q.cursor.as_deref())?.unwrap_or_default();
    let mut rows = LandingDb(state.db())
        .pages(caller.owner(), caller.organizer(), &after, limit + 1)
        .await?;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|p| encode_cursor(&p.slug))
    } else {
        None
    };
    let items = rows.iter().map(|p| PageBody::new(&state, p)).collect();
    Ok(Json(Page { items, next_cursor }))
}

/// One landing page.
#[utoipa::path(
    get,
    path = "/v1/pages/{slug}",
    tag = "landing pages",
    params(("slug" = String, Path, description = "The page's slug")),
    responses((status = 200, description = "The page", body = PageBody))
)]
pub(crate) async fn get_page(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(slug): ApiPath<String>,
) -> ApiResult<Json<PageBody>> {
    let page = find_page(&state, &caller, &slug).await?;
    Ok(Json(PageBody::new(&state, &page)))
}

/// Changes a landing page (it shows the change at once).
#[utoipa::path(
    patch,
    path = "/v1/pages/{slug}",
    tag = "landing pages",
    params(("slug" = String, Path, description = "The page's slug")),
    request_body = PagePatch,
    responses(
        (status = 200, description = "The page now", body = PageBody),
        (status = 409, description = "Changed by another request meanwhile: read it and try again", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn patch_page(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(slug): ApiPath<String>,
    ApiJson(patch): ApiJson<PagePatch>,
) -> ApiResult<Json<PageBody>> {
    let mut page = find_page(&state, &caller, &slug).await?;
    let s = &mut page.settings;
    if let Some(v) = patch.layout {
        s.layout = v;
    }
    if let Some(v) = patch.title {
        s.title = v;
    }
    if let Some(v) = patch.intro {
        s.intro = empty_to_none(Some(v));
    }
    if let Some(c) = patch.colors {
        if c.background.is_some() {
            s.colors.background = c.background.filter(|v| !v.is_empty());
        }
        if c.text.is_some() {
            s.colors.text = c.text.filter(|v| !v.is_empty());
        }
        if c.accent.is_some() {
            s.colors.accent = c.accent.filter(|v| !v.is_empty());
        }
    }
    if let Some(v) = patch.logo_url {
        s.logo_url = empty_to_none(Some(v));
    }
    if let Some(v) = patch.background_url {
        s.background_url = empty_to_none(Some(v));
    }
    if let Some(v) = patch.events {
        s.events = Some(v).filter(|e| !e.is_empty());
    }
    if let Some(v) = patch.group_by {
        s.group_by = v;
    }
    if let Some(v) = patch.language {
        s.language = v;
    }
    if let Some(v) = patch.private {
        s.private = v;
    }
    validate(s)?;
    events_belong(&state, &caller, &page).await?;
    let now = state.now();
    let Some(revision) = LandingDb(state.db())
        .update_page(&slug, page.revision, &page.settings, now)
        .await?
    else {
        return Err(ApiError::conflict(
            "the page changed meanwhile: read it and try again",
        ));
    };
    page.revision = revision;
    page.updated_at = now;
    Ok(Json(PageBody::new(&state, &page)))
}

/// Deletes a landing page (its URL answers 404 from then on).
#[utoipa::path(
    delete,
    path = "/v1/pages/{slug}",
    tag = "landing pages",
    params(("slug" = String, Path, description = "The page's slug")),
    responses((status = 204, description = "Deleted"))
)]
pub(crate) async fn delete_page(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(slug): ApiPath<String>,
) -> ApiResult<StatusCode> {
    find_page(&state, &caller, &slug).await?;
    LandingDb(state.db()).delete_page(&slug).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Checks display extras; the first problem names its field.
pub(crate) fn validate_display(d: &mut Display) -> ApiResult<()> {
    if let Some(u) = d.image_url.as_deref() {
        d.image_url = Some(check_url(u, true).map_err(|e| ApiError::field("/image_url", e))?);
    }
    if d.links.len() > 5 {
        return Err(ApiError::field("/links", "at most 5 links"));
    }
    for (i, l) in d.links.iter_mut().enumerate() {
        if l.label.trim().is_empty() {
            return Err(ApiError::field(
                format!("/links/{i}/label"),
                "a link needs a label",
            ));
        }
        limited(&format!("/links/{i}/label"), &l.label, 60)?;
        l.url =
            check_url(&l.url, false).map_err(|e| ApiError::field(format!("/links/{i}/url"), e))?;
    }
    if let Some(t) = &d.text {
        limited("/text", t, 200)?;
    }
    if let Some(c) = &d.category {
        limited("/category", c, 60)?;
    }
    d.text = empty_to_none(d.text.take());
    d.category = empty_to_none(d.category.take()).map(|c| c.trim().to_owned());
    Ok(())
}

/// What landing pages show with an event.
#[utoipa::path(
    get,
    path = "/v1/events/{code}/display",
    tag = "landing pages",
    params(("code" = String, Path, description = "The event's code")),
    responses((status = 200, description = "The event's display extras", body = Display))
)]
pub(crate) async fn get_display(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<Json<Display>> {
    let event = find_event(&state, &caller, &code).await?;
    let d = LandingDb(state.db())
        .display(event.scope().owner, event.code().as_str())
        .await?;
    Ok(Json(d))
}

/// Sets what landing pages show with an event (replacing what was set).
#[utoipa::path(
    put,
    path = "/v1/events/{code}/display",
    tag = "landing pages",
    params(("code" = String, Path, description = "The event's code")),
    request_body = Display,
    responses((status = 200, description = "The event's display extras now", body = Display))
)]
pub(crate) async fn put_display(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(code): ApiPath<String>,
    ApiJson(mut display): ApiJson<Display>,
) -> ApiResult<Json<Display>> {
    let event = find_event(&state, &caller, &code).await?;
    validate_display(&mut display)?;
    LandingDb(state.db())
        .set_display(
            event.scope().owner,
            event.code().as_str(),
            &display,
            state.now(),
        )
        .await?;
    Ok(Json(display))
}
