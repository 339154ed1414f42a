//! The landing page itself (`GET /p/{slug}`): server-rendered, whole
//! without JavaScript, with Open Graph and Twitter tags and schema.org
//! `Event` data, in the organizer's (readable) colours.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use calinvite_core::EventStatus;
use calinvite_core::lifecycle::Store as _;
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;

use super::api::canonical;
use super::colour::Palette;
use super::db::{LandingDb, PageRecord};
use super::events::{Group, Shown, gather, group, iso, when};
use super::model::{Display, Layout};
use super::qr;
use super::strings::Strings;
use crate::state::AppState;
use crate::web::{Lang, Shell, WebRejection, csrf, error_page, honeypot};

/// The form purpose of a page's submit (one per page).
pub(crate) fn purpose(slug: &str) -> String {
    format!("landing:{slug}")
}

/// The query of a page: `all` ticks every box of that group.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PageQuery {
    #[serde(default)]
    all: Option<String>,
}

/// The page's language.
pub(crate) fn lang_of(page: &PageRecord) -> Lang {
    Lang::parse(&page.settings.language).unwrap_or(Lang::En)
}

/// The page at `slug`, or a 404 page.
pub(crate) async fn load(
    state: &AppState,
    slug: &str,
    headers: &HeaderMap,
) -> Result<PageRecord, Response> {
    let found = if super::api::valid_slug(slug) {
        LandingDb(state.db()).page(slug).await.map_err(|e| {
            tracing::warn!(error = %e, "a landing page could not be read");
            WebRejection::unavailable().into_response()
        })?
    } else {
        None
    };
    found.ok_or_else(|| {
        let lang = Lang::negotiate(headers, None);
        let w = Strings::of(lang);
        error_page(lang, StatusCode::NOT_FOUND, w.not_found, w.not_found_text)
    })
}

/// A URL that is safe inside a CSS `url("…")` and an HTML attribute (it
/// was checked when stored; this refuses anything that could end the
/// string).
fn css_safe(url: &str) -> Option<&str> {
    (!url
        .bytes()
        .any(|b| matches!(b, b'"' | b'\'' | b'\\' | b'<' | b'>' | b'(' | b')') || b <= b' '))
    .then_some(url)
}

/// The page's own style: its colours (corrected when unreadable), its
/// background image and the event list's layout.
fn style(page: &PageRecord) -> String {
    let c = &page.settings.colors;
    let p = Palette::readable(
        c.background.as_deref(),
        c.text.as_deref(),
        c.accent.as_deref(),
    );
    let mut css = format!(
        ":root{{--bg:{bg};--fg:{fg};--muted:{fg};--accent:{ac};--accent-fg:{on};--card:{bg};--line:{fg}}}\
         input[type=email],input[type=text]{{background:{bg};color:{fg}}}",
        bg = p.background,
        fg = p.text,
        ac = p.accent,
        on = p.on_accent,
    );
    if let Some(u) = page.settings.background_url.as_deref().and_then(css_safe) {
        css.push_str(&format!(
            "body{{background-image:url(\"{u}\");background-size:cover;background-attachment:fixed}}\
             .wrap{{background:{}}}",
            p.background
        ));
    }
    css.push_str(LAYOUT_CSS);
    css
}

const LAYOUT_CSS: &str = ".lp-head{display:flex;gap:1rem;align-items:center}\
.lp-head img{max-height:4rem;width:auto}\
fieldset.grp{border:1px solid var(--line);border-radius:10px;margin:1rem 0;padding:.5rem 1rem}\
fieldset.grp legend{font-weight:700;padding:0 .3rem}\
.ev{display:grid;grid-template-columns:auto 1fr;gap:.2rem .7rem;padding:.45rem 0;font-weight:400}\
.ev+.ev,.x+.ev{border-top:1px solid var(--line)}\
.ev b{font-weight:600}.ev img{grid-column:2;max-height:2.5rem;width:auto}\
.ev small,.x{grid-column:2}.x{margin:0 0 .4rem 1.9rem;font-size:.9rem}\
.qr svg{width:9rem;height:9rem}.one img{max-width:100%;height:auto}\
.sel{font-size:.9rem}";

fn json_ld(state: &AppState, page: &PageRecord, organizer: &str, events: &[Shown]) -> Markup {
    let url = canonical(state, &page.slug);
    let items: Vec<serde_json::Value> = events
        .iter()
        .map(|e| {
            let (start, end) = iso(&e.schedule);
            let mut v = serde_json::json!({
                "@context": "https://schema.org",
                "@type": "Event",
                "name": e.summary,
                "startDate": start,
                "endDate": end,
                "eventStatus": match e.status {
                    EventStatus::Cancelled => "https://schema.org/EventCancelled",
                    _ => "https://schema.org/EventScheduled",
                },
                "organizer": {"@type": "Organization", "name": organizer},
                "url": format!("{url}#e-{}", e.code),
            });
            if let Some(l) = &e.location {
                v["location"] = serde_json::json!({"@type": "Place", "name": l, "address": l});
            }
            if let Some(d) = &e.display.text {
                v["description"] = serde_json::Value::String(d.clone());
            }
            if let Some(i) = e
                .display
                .image_url
                .as_deref()
                .filter(|i| i.starts_with("https://"))
            {
                v["image"] = serde_json::Value::String(i.to_owned());
            }
            v
        })
        .collect();
    // `<` is escaped so that no text can end the script element.
    let text = serde_json::to_string(&items)
        .unwrap_or_else(|_| "[]".to_owned())
        .replace('<', "\\u003c");
    html! { script type="application/ld+json" { (PreEscaped(text)) } }
}

fn head(
    state: &AppState,
    page: &PageRecord,
    organizer: &str,
    events: &[Shown],
    description: &str,
) -> Markup {
    let s = &page.settings;
    let url = canonical(state, &page.slug);
    let image = s
        .logo_url
        .as_deref()
        .or(s.background_url.as_deref())
        .filter(|u| u.starts_with("https://"));
    html! {
        meta property="og:type" content="website";
        meta property="og:title" content=(s.title);
        meta property="og:description" content=(description);
        meta property="og:url" content=(url);
        meta property="og:site_name" content=(organizer);
        meta property="og:locale" content=(lang_of(page).tag());
        @if let Some(i) = image { meta property="og:image" content=(i); }
        meta name="twitter:card" content=(if image.is_some() { "summary_large_image" } else { "summary" });
        meta name="twitter:title" content=(s.title);
        meta name="twitter:description" content=(description);
        @if let Some(i) = image { meta name="twitter:image" content=(i); }
        (json_ld(state, page, organizer, events))
    }
}

fn extras(d: &Display) -> Markup {
    html! {
        @if !d.links.is_empty() {
            span class="x" {
                @for (i, l) in d.links.iter().enumerate() {
                    @if i > 0 { " · " }
                    a href=(l.url) rel="noopener nofollow" { (l.label) }
                }
            }
        }
    }
}

fn row(e: &Shown, ticked: bool, words: &Strings) -> Markup {
    let (start, until) = when(&e.schedule, words);
    let (iso_start, _) = iso(&e.schedule);
    html! {
        label class="ev" data-event=(e.code) id={"e-" (e.code)} {
            input type="checkbox" name="event" value=(e.code) checked[ticked];
            span {
                b { (e.summary) } br;
                time datetime=(iso_start) { (start) }
                @if let Some(u) = until { " " span class="muted" { (u) } }
                @if let Some(l) = &e.location { br; span class="muted" { (l) } }
                @if let Some(t) = &e.display.text { br; small { (t) } }
            }
            @if let Some(i) = e.display.image_url.as_deref().and_then(css_safe) {
                img src=(i) alt="" loading="lazy" decoding="async" height="40";
            }
        }
        (extras(&e.display))
    }
}

fn groups_markup(slug: &str, groups: &[Group], all: Option<&str>, words: &Strings) -> Markup {
    html! {
        @for g in groups {
            fieldset class="grp" data-group=(g.id) id={"g-" (g.id)} {
                legend { (g.legend) }
                a class="sel" href={"/p/" (slug) "?all=" (g.id) "#g-" (g.id)} data-select-all=(g.id) {
                    (words.select_all)
                }
                @for e in &g.events { (row(e, all == Some(g.id.as_str()), words)) }
            }
        }
    }
}

fn single(e: &Shown, words: &Strings) -> Markup {
    let (start, until) = when(&e.schedule, words);
    let (iso_start, _) = iso(&e.schedule);
    html! {
        section class="card one" data-group="all" {
            h2 { (e.summary) }
            p { time datetime=(iso_start) { (start) } @if let Some(u) = until { " " (u) } }
            @if let Some(l) = &e.location { p { (l) } }
            @if let Some(i) = e.display.image_url.as_deref().and_then(css_safe) { img src=(i) alt=""; }
            @if let Some(t) = &e.display.text { p { (t) } }
            @if let Some(d) = &e.description { p class="muted" { (d) } }
            (extras(&e.display))
            label class="ev" data-event=(e.code) id={"e-" (e.code)} {
                input type="checkbox" name="event" value=(e.code) checked;
                span { (e.summary) }
            }
        }
    }
}

/// `GET /p/{slug}`: the page.
pub(crate) async fn page(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let page = match load(&state, &slug, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    view(&state, &page, q.all.as_deref(), &headers, None).await
}

/// A page as it would show with settings not saved (the console's
/// preview): its form sends nothing and carries no token, a notice says
/// so (with `problem`, why the settings would not be saved as they are),
/// it is never indexed, and only this server's own pages may frame it.
pub(crate) async fn preview(
    state: &AppState,
    page: &PageRecord,
    headers: &HeaderMap,
    problem: Option<&str>,
) -> Response {
    let mut r = view(state, page, None, headers, Some(problem)).await;
    crate::web::page::framable_by_self(r.headers_mut());
    r
}

/// The page for its visitors, or (`preview` given) as a preview.
async fn view(
    state: &AppState,
    page: &PageRecord,
    all: Option<&str>,
    headers: &HeaderMap,
    preview: Option<Option<&str>>,
) -> Response {
    let events = match gather(state, page).await {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = ?e.status(), "a landing page's events could not be read");
            return WebRejection::unavailable().into_response();
        }
    };
    let organizer = state
        .pipeline()
        .store()
        .organizer(page.scope)
        .await
        .ok()
        .flatten()
        .map(|a| a.name)
        .unwrap_or_default();
    let lang = lang_of(page);
    let words = Strings::of(lang);
    let s = &page.settings;
    let description = s
        .intro
        .clone()
        .unwrap_or_else(|| format!("{} – {organizer}", words.upcoming));
    let url = canonical(state, &page.slug);
    let issued = preview
        .is_none()
        .then(|| csrf::issue(state, headers, &purpose(&page.slug)));
    let qr_svg = qr::code(&url).map(|c| qr::inline_svg(&c));
    let body = html! {
        main class="wrap" data-page=(page.slug) data-events=(events.len()) inert[preview.is_some()] {
            @if let Some(problem) = preview {
                p class="notice" data-preview="" role="status" {
                    "Preview: nothing is saved or sent from here."
                    @if let Some(p) = problem { br; strong { "Not saved as it is: " } (p) }
                }
            }
            div class="lp-head" {
                @if let Some(l) = s.logo_url.as_deref().and_then(css_safe) { img src=(l) alt=""; }
                h1 { (s.title) }
            }
            @if let Some(i) = &s.intro { p { (i) } }
            @if events.is_empty() {
                p class="notice" { (words.no_events) }
            } @else {
                form method="post" action={"/p/" (page.slug)} {
                    @if let Some(issued) = &issued { (issued.field()) (honeypot()) }
                    @match s.layout {
                        Layout::Single => { (single(&events[0], words)) }
                        Layout::Multi => {
                            p class="muted" { (words.pick) }
                            (groups_markup(&page.slug, &group(events.clone(), s.group_by, words), all, words))
                        }
                    }
                    div class="card" {
                        div class="field" {
                            label for="email" { (words.your_email) }
                            input type="email" id="email" name="email" required autocomplete="email" maxlength="254";
                        }
                        div class="field" {
                            label for="name" { (words.your_name) }
                            input type="text" id="name" name="name" autocomplete="name" maxlength="200";
                        }
                        div class="actions" {
                            button type="submit" id="send" class="btn btn-primary" disabled[preview.is_some()] { (words.send) }
                        }
                    }
                }
            }
            section class="card" {
                h2 { (words.share) }
                p { a href=(url) { (url) } }
                @if let Some(svg) = qr_svg { div class="qr" { (PreEscaped(svg)) } }
                p { a href={"/p/" (page.slug) "/qr.png"} download { (words.qr_print) } }
            }
        }
    };
    let mut shell = Shell::new(lang, &s.title)
        .description(&description)
        .canonical(url)
        .head(head(state, page, &organizer, &events, &description))
        .css(style(page))
        .script("/assets/landing.js");
    if s.private || preview.is_some() {
        shell = shell.noindex();
    }
    let mut response = shell.render(body);
    if let Some(issued) = &issued {
        issued.attach(&mut response);
    }
    response
}
