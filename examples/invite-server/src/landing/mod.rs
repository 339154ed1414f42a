//! Landing pages: an organizer's upcoming events on one public page, where
//! a visitor types an address, ticks events and is sent their invitations.
//!
//! - The API (`/v1/pages`, `/v1/events/{code}/display`, [`api`]) makes
//!   and changes pages and events' display extras, scoped to the caller's
//!   key; colours below WCAG AA contrast are refused with the measured
//!   ratio.
//! - `GET /p/{slug}` renders the page from the store at each request, so
//!   an update or a cancellation that came by mail shows at once; its QR
//!   code is at `/p/{slug}/qr.svg` and `/p/{slug}/qr.png`.
//! - `POST /p/{slug}` invites the visitor ([`submit`]); a large selection
//!   first sends a confirmation link (`/p/{slug}/confirm/{token}`).
//! - [`demo`] makes the `demo-season` page with the first-start demo.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::state::AppState;

pub(crate) mod api;
mod colour;
pub(crate) mod db;
pub(crate) mod demo;
mod events;
pub(crate) mod model;
mod qr;
mod render;
mod strings;
mod submit;

pub(crate) use render::preview;

/// How many events page `page` shows now.
pub(crate) async fn shown_events(
    state: &AppState,
    page: &db::PageRecord,
) -> crate::problem::ApiResult<usize> {
    Ok(events::gather(state, page).await?.len())
}

/// The landing pages' tables.
pub(crate) const MIGRATION: &[&str] = db::MIGRATION;

/// The landing pages' public routes (the API's are in the router's
/// OpenAPI list).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/p/{slug}", get(render::page).post(submit::submit))
        .route("/p/{slug}/qr.svg", get(qr_svg))
        .route("/p/{slug}/qr.png", get(qr_png))
        .route(
            "/p/{slug}/confirm/{token}",
            get(submit::confirm_page).post(submit::confirm_submit),
        )
        .route("/assets/landing.js", get(script))
        .route("/assets/landing/team/{file}", get(demo::team_logo))
}

async fn script() -> Response {
    asset(include_str!("landing.js"), "text/javascript; charset=utf-8")
}

/// A static asset of this module: cached for an hour, with the pages'
/// headers.
pub(crate) fn asset(body: impl Into<axum::body::Body>, kind: &'static str) -> Response {
    let mut r = Response::new(body.into());
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    crate::web::page::secure(h, None);
    r
}

async fn qr_of(
    state: &AppState,
    slug: &str,
    headers: &HeaderMap,
) -> Result<qrcode::QrCode, Response> {
    let page = render::load(state, slug, headers).await?;
    qr::code(&api::canonical(state, &page.slug)).ok_or_else(|| {
        crate::web::WebRejection::bad_request("this page's address is too long for a QR code")
            .into_response()
    })
}

async fn qr_svg(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    match qr_of(&state, &slug, &headers).await {
        Ok(c) => asset(qr::svg(&c), "image/svg+xml"),
        Err(r) => r,
    }
}

async fn qr_png(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    let code = match qr_of(&state, &slug, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match qr::png(&code) {
        Ok(bytes) => asset(bytes, "image/png"),
        Err(e) => {
            tracing::error!(error = %e, "a QR code could not be written as PNG");
            crate::web::WebRejection::unavailable().into_response()
        }
    }
}
