//! The public web: what people reach without an API key — landing pages,
//! call-to-action links, web RSVP and unsubscribe — and what every page of
//! it shares.
//!
//! The rules every public page follows:
//!
//! - **No `GET` changes anything.** Mail security scanners (Safe Links,
//!   Mimecast, Proofpoint) open every link of every message, some in a full
//!   browser that runs scripts. A link shows a page; only a button's `POST`
//!   acts, and no page submits itself.
//! - **Every form carries a CSRF token** ([`csrf`]): bound to a cookie, to
//!   the form's purpose and to an expiry, checked against the request's
//!   origin, and spent when used — a replayed form is refused.
//! - **What mails someone is limited** ([`limits`]): per client address
//!   (through a trusted proxy only: [`client`]), per recipient address and
//!   per organizer.
//! - **Strict headers** ([`page`]): a content security policy with no
//!   third-party script, style or font, no framing, no referrer.
//! - Pages are rendered on the server and work without JavaScript.

pub mod client;
pub mod csrf;
pub mod form;
pub mod limits;
pub mod page;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{Markup, html};
use tower_http::compression::CompressionLayer;

use crate::config::WebConfig;
use crate::state::AppState;
use client::Cidr;
pub use form::{WebForm, WebRejection};
pub use limits::Key;
use limits::Limiter;
pub use page::Shell;

/// The public web's table: the forms already used (their nonces, until
/// their tokens expire), so that a replayed form is refused by every
/// process sharing the database.
pub(crate) const MIGRATION: &[&str] = &[
    "CREATE TABLE invite_server_spent_forms (nonce TEXT PRIMARY KEY, expires_at BIGINT NOT NULL)",
    "CREATE INDEX invite_server_spent_forms_expiry ON invite_server_spent_forms (expires_at)",
];

/// The name of the honeypot field: off-screen, labelled "leave empty";
/// people never fill it, form-filling robots do.
pub const HONEYPOT: &str = "website";

/// The honeypot input, for every public form. A submit with it filled
/// answers as if it had worked and sends nothing.
pub fn honeypot() -> Markup {
    html! {
        div class="hp" aria-hidden="true" {
            label for=(HONEYPOT) { "Leave this field empty" }
            input type="text" id=(HONEYPOT) name=(HONEYPOT) value="" tabindex="-1" autocomplete="off";
        }
    }
}

/// The languages the public pages speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    /// English (the default).
    #[default]
    En,
    /// German.
    De,
    /// French.
    Fr,
    /// Spanish.
    Es,
}

impl Lang {
    /// Every language, in the order offered.
    pub const ALL: [Lang; 4] = [Lang::En, Lang::De, Lang::Fr, Lang::Es];

    /// The language of a tag (`de`, `fr-CA`, `ES`), if spoken here.
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "de" => Some(Lang::De),
            "fr" => Some(Lang::Fr),
            "es" => Some(Lang::Es),
            _ => None,
        }
    }

    /// The tag (`en`).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
            Lang::Fr => "fr",
            Lang::Es => "es",
        }
    }

    /// `preferred` when given (the page's or the recipient's language);
    /// else the best of the browser's `Accept-Language` spoken here; else
    /// English.
    pub fn negotiate(headers: &HeaderMap, preferred: Option<Lang>) -> Lang {
        if let Some(l) = preferred {
            return l;
        }
        let Some(accept) = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
        else {
            return Lang::En;
        };
        // Highest quality first; the first listed among equals.
        let mut best: Option<(u16, Lang)> = None;
        for item in accept.split(',').take(20) {
            let mut parts = item.split(';');
            let Some(lang) = parts.next().and_then(Lang::parse) else {
                continue;
            };
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "q is clamped to 0..=1 first"
            )]
            let q = (q.clamp(0.0, 1.0) * 1000.0) as u16;
            if q > 0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }
}

/// What the public pages share: their configuration, the address they are
/// reached at, the form key and the limits.
pub struct Web {
    config: WebConfig,
    public_base: url::Url,
    proxies: Vec<Cidr>,
    key: [u8; 32],
    limiter: Limiter,
}

impl std::fmt::Debug for Web {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Web")
            .field("config", &self.config)
            .field("public_base", &self.public_base.as_str())
            .finish_non_exhaustive()
    }
}

impl Web {
    /// The public web of `config`, reached at `public_base`, signing its
    /// forms with `key` (the same in every process of one database).
    pub fn new(config: WebConfig, public_base: url::Url, key: [u8; 32]) -> Arc<Web> {
        let proxies = config
            .trusted_proxies
            .iter()
            .filter_map(|p| Cidr::parse(p).ok())
            .collect();
        let limiter = Limiter::new(&config);
        Arc::new(Web {
            config,
            public_base,
            proxies,
            key,
            limiter,
        })
    }

    /// What the configuration says.
    pub fn config(&self) -> &WebConfig {
        &self.config
    }

    /// The address the pages and links are reached at, ending in `/`.
    pub fn public_base(&self) -> &url::Url {
        &self.public_base
    }

    /// `path` (no leading `/`) under the public address.
    pub fn url(&self, path: &str) -> String {
        self.public_base
            .join(path.trim_start_matches('/'))
            .map_or_else(|_| format!("{}{path}", self.public_base), String::from)
    }

    /// The limits on sending.
    pub fn limits(&self) -> &Limiter {
        &self.limiter
    }

    pub(crate) fn key(&self) -> &[u8; 32] {
        &self.key
    }

    pub(crate) fn proxies(&self) -> &[Cidr] {
        &self.proxies
    }
}

/// A clear page saying what went wrong, in `lang`.
pub fn error_page(lang: Lang, status: StatusCode, title: &str, message: &str) -> Response {
    Shell::new(lang, title)
        .status(status)
        .noindex()
        .render(html! {
            main class="wrap" data-error=(status.as_u16()) {
                div class="card" {
                    h1 { (title) }
                    p { (message) }
                }
            }
        })
}

/// The one stylesheet of the public pages.
const SITE_CSS: &str = include_str!("site.css");

async fn site_css() -> Response {
    let mut r = SITE_CSS.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    page::secure(h, None);
    r
}

/// The proof-of-work script of public forms (when `[web]
/// proof_of_work_bits` asks for it).
const POW_JS: &str = include_str!("assets/pow.js");

async fn pow_js() -> Response {
    let mut r = POW_JS.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    page::secure(h, None);
    r
}

/// The public pages' routes (compressed): the stylesheet, the landing
/// pages and the pages behind links in mail. Empty when `[web] enabled`
/// is off.
pub(crate) fn routes(enabled: bool) -> Router<AppState> {
    if !enabled {
        return Router::new();
    }
    Router::new()
        .route("/assets/site.css", get(site_css))
        .route("/assets/pow.js", get(pow_js))
        .merge(crate::landing::routes())
        .merge(crate::public::routes())
        .layer(CompressionLayer::new())
        // Not compressed: the console's pages carry form tokens next to
        // what the visitor typed (a search), which compression would let
        // an attacker guess byte by byte (BREACH).
        .merge(crate::console::routes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_are_negotiated_by_quality() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_str(v).unwrap());
            m
        };
        assert_eq!(
            Lang::negotiate(&h("fr-CH, fr;q=0.9, en;q=0.8"), None),
            Lang::Fr
        );
        assert_eq!(
            Lang::negotiate(&h("nl, de;q=0.5, es;q=0.7"), None),
            Lang::Es
        );
        assert_eq!(Lang::negotiate(&h("nl, ja"), None), Lang::En);
        assert_eq!(Lang::negotiate(&h("de;q=0"), None), Lang::En);
        assert_eq!(Lang::negotiate(&h("de"), Some(Lang::Fr)), Lang::Fr);
        assert_eq!(Lang::negotiate(&HeaderMap::new(), None), Lang::En);
    }
}
