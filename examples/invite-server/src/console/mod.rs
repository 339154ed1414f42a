//! The console: where organizers and domain owners' administrators read
//! their events in the browser.
//!
//! Signing in is by a link mailed to the address ([`auth`]): an
//! organizer's (its notification address, or an address listed as one
//! that may send as it) or a domain owner's console administrator's
//! (`/v1/owner/admins`). A session then shows what the API would show a
//! key of the same tenant: an organizer its own events, a domain owner
//! every organizer's. Another tenant's event is not found.
//!
//! Every page is rendered on the server, works without JavaScript, is
//! never cached (`no-store`) nor indexed, and is sent uncompressed (its
//! form tokens sit next to what the visitor typed). No `GET` changes
//! anything but the session's last-seen time; every form carries a CSRF
//! token.

pub(crate) mod auth;
mod chart;
mod event;
mod events;
mod figures;
mod lists;
mod pages;
mod pending;
mod reports;
mod settings;
pub(crate) mod store;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};

use crate::problem::ApiError;
use crate::state::AppState;
use crate::web::{Lang, Shell, WebRejection, csrf};
pub(crate) use auth::ConsoleUser;
pub(crate) use figures::FiguresCache;

/// The console's tables: its administrators, its sign-in links and its
/// sessions (links and sessions by SHA-256 digest only). `organizer` 0
/// means the domain owner itself.
pub(crate) const MIGRATION: &[&str] = &[
    "CREATE TABLE invite_server_console_admins (owner BIGINT NOT NULL, address TEXT NOT NULL, \
     created_at BIGINT NOT NULL, PRIMARY KEY (owner, address))",
    "CREATE INDEX invite_server_console_admins_address ON invite_server_console_admins (address)",
    "CREATE TABLE invite_server_console_links (digest TEXT PRIMARY KEY, owner BIGINT NOT NULL, \
     organizer BIGINT NOT NULL, address TEXT NOT NULL, expires_at BIGINT NOT NULL, \
     used_at BIGINT NOT NULL)",
    "CREATE INDEX invite_server_console_links_expiry ON invite_server_console_links (expires_at)",
    "CREATE TABLE invite_server_console_sessions (digest TEXT PRIMARY KEY, owner BIGINT NOT NULL, \
     organizer BIGINT NOT NULL, address TEXT NOT NULL, created_at BIGINT NOT NULL, \
     last_seen BIGINT NOT NULL, expires_at BIGINT NOT NULL)",
    "CREATE INDEX invite_server_console_sessions_expiry ON invite_server_console_sessions \
     (expires_at)",
];

/// The console's routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(events::list))
        .route("/console/", get(events::list))
        .route("/console/events/{code}", get(event::page_route))
        .route("/console/events/{code}/chart.svg", get(event::chart_route))
        .route(
            "/console/sign-in",
            get(auth::sign_in_page).post(auth::sign_in),
        )
        .route(
            "/console/sign-in/{token}",
            get(auth::link_page).post(auth::use_link),
        )
        .route("/console/sign-out", post(auth::sign_out))
        .merge(lists::routes())
        .merge(pages::routes())
        .merge(pending::routes())
        .merge(reports::routes())
        .merge(settings::routes())
}

/// The console speaks English for now.
const LANG: Lang = Lang::En;

/// The console's CSS, beside the site's (sent under the page's nonce).
const CSS: &str = "\
.console-bar{display:flex;flex-wrap:wrap;gap:1rem;align-items:center;justify-content:space-between;\
padding:.5rem 1rem;border-bottom:1px solid #ccc}\
.console-bar form{display:inline;margin:0}\
.console-table{border-collapse:collapse;width:100%}\
.console-table th,.console-table td{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left;\
vertical-align:top}\
.console-table td.n,.console-table th.n{text-align:right}\
.console-filters{display:flex;flex-wrap:wrap;gap:.75rem;align-items:flex-end}\
.console-filters label{display:flex;flex-direction:column}\
.console-check{display:inline-block;margin-right:1rem}\
input[type=url]{font:inherit;width:100%;max-width:28rem;padding:.55rem .7rem;border:1px solid #6b7480;\
border-radius:6px;box-sizing:border-box}\
a:focus,button:focus,input:focus,select:focus{outline:3px solid #1a5fb4;outline-offset:2px}\
textarea:focus{outline:3px solid #1a5fb4;outline-offset:2px}\
.page-edit{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:1rem;align-items:start}\
@media (max-width:60rem){.page-edit{grid-template-columns:minmax(0,1fr)}}\
.page-preview iframe{width:100%;height:42rem;border:1px solid #767676;border-radius:6px;background:#fff}\
.field-error{color:#a4000f;font-weight:600}\
.problem{border-left-color:#a4000f}\
.event-choices{list-style:none;padding:0;max-height:24rem;overflow:auto}\
.copy-row{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}\
.copy-row input{flex:1 1 20rem;min-width:0}\
[hidden]{display:none !important}\
figure[data-chart]{margin:1rem 0}\
figure[data-chart] svg{max-width:100%;height:auto}\
@media (max-width:40rem){.console-bar,main{overflow-wrap:anywhere}\
.console-table th,.console-table td{padding:.3rem .25rem;overflow-wrap:anywhere}\
textarea{max-width:100%;box-sizing:border-box}}\
";

/// A console page for a signed-in user: the bar (who is signed in, the
/// events link, the sign-out button) and `body`.
pub(crate) fn page(
    state: &AppState,
    headers: &HeaderMap,
    user: &ConsoleUser,
    title: &str,
    body: Markup,
) -> Response {
    page_with_head(state, headers, user, title, None, body)
}

/// [`page`] with `head` added to the page's head (a refresh, say).
pub(crate) fn page_with_head(
    state: &AppState,
    headers: &HeaderMap,
    user: &ConsoleUser,
    title: &str,
    head: Option<Markup>,
    body: Markup,
) -> Response {
    let issued = csrf::issue(state, headers, auth::SIGN_OUT);
    let mut shell = Shell::new(LANG, title).noindex().css(CSS.to_owned());
    if let Some(head) = head {
        shell = shell.head(head);
    }
    let mut r = shell.render(html! {
        header class="console-bar" {
            nav aria-label="Console" {
                a href="/console" { "Events" }
                " · "
                a href="/console/pending" { "Waiting for approval" }
                " · "
                a href="/console/reports" { "Reports" }
                " · "
                a href="/console/pages" { "Landing pages" }
                " · "
                a href="/console/settings" { "Settings" }
            }
            div {
                span class="muted" { "Signed in as " (user.address) " (" (user.describe()) ") " }
                form method="post" action="/console/sign-out" {
                    (issued.field())
                    button type="submit" class="btn" { "Sign out" }
                }
            }
        }
        main class="wrap" id="main" { (body) }
    });
    issued.attach(&mut r);
    r
}

/// A page that stands alone (signing in, errors).
pub(crate) fn bare(title: &str, status: StatusCode, body: Markup) -> Response {
    Shell::new(LANG, title)
        .noindex()
        .css(CSS.to_owned())
        .status(status)
        .render(html! { main class="wrap" id="main" { div class="card" { (body) } } })
}

/// An API layer's error as a console page: not found stays not found (as
/// if another tenant's data did not exist), a bad parameter is a 400 that
/// says which, an action this user may not take a 403 and a stale or
/// conflicting form a 409, each saying why; anything else is a 503.
pub(crate) fn web_error(e: &ApiError) -> WebRejection {
    match e.status() {
        StatusCode::NOT_FOUND => WebRejection::not_found("There is nothing here."),
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
            WebRejection::bad_request(e.problem().detail)
        }
        StatusCode::FORBIDDEN | StatusCode::CONFLICT => {
            WebRejection::new(e.status(), e.problem().detail)
        }
        _ => {
            tracing::error!(status = e.status().as_u16(), "console page failed");
            WebRejection::unavailable()
        }
    }
}
