//! The frame of every public page, and the headers every public response
//! carries.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::Lang;

/// Sets the security headers of a public response: a content security
/// policy that allows this server's own stylesheet and scripts, inline
/// style only with `nonce`, images from this server and `https:` (an
/// organizer's logo), forms only to this server, and no framing; no
/// referrer to other sites (the page's URL may hold a token; its own site
/// gets it, so that a form's `POST` carries its origin); no type sniffing.
pub fn secure(h: &mut HeaderMap, nonce: Option<&str>) {
    let style = nonce.map_or_else(
        || "style-src 'self'".to_owned(),
        |n| format!("style-src 'self' 'nonce-{n}'"),
    );
    let csp = format!(
        "default-src 'none'; {style}; img-src 'self' https: data:; script-src 'self'; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
}

/// Lets this server's own pages frame a response (a preview inside the
/// console): `frame-ancestors 'self'` instead of `'none'`.
pub fn framable_by_self(h: &mut HeaderMap) {
    edit_policy(h, |csp| {
        csp.replace("frame-ancestors 'none'", "frame-ancestors 'self'")
    });
    h.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
}

/// Lets a page show this server's own pages in a frame (`frame-src
/// 'self'`; by default it may frame nothing).
pub fn frames_self(h: &mut HeaderMap) {
    edit_policy(h, |csp| format!("{csp}; frame-src 'self'"));
}

fn edit_policy(h: &mut HeaderMap, change: impl FnOnce(&str) -> String) {
    let Some(csp) = h
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    if let Ok(v) = HeaderValue::from_str(&change(csp)) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
}

/// A public page being built: its language, title and head, then
/// [`render`](Shell::render) with its body.
#[derive(Debug)]
#[must_use]
pub struct Shell {
    lang: Lang,
    title: String,
    description: Option<String>,
    canonical: Option<String>,
    noindex: bool,
    head: Option<Markup>,
    css: Option<String>,
    status: StatusCode,
    cache_seconds: u32,
    scripts: Vec<&'static str>,
}

impl Shell {
    /// A page in `lang` titled `title`.
    pub fn new(lang: Lang, title: &str) -> Shell {
        Shell {
            lang,
            title: title.to_owned(),
            description: None,
            canonical: None,
            noindex: false,
            head: None,
            css: None,
            status: StatusCode::OK,
            cache_seconds: 0,
            scripts: Vec::new(),
        }
    }

    /// The page's description (`<meta name="description">`).
    pub fn description(mut self, text: &str) -> Shell {
        self.description = Some(text.to_owned());
        self
    }

    /// The page's canonical address.
    pub fn canonical(mut self, url: String) -> Shell {
        self.canonical = Some(url);
        self
    }

    /// Asks search engines not to index the page or follow its links.
    pub fn noindex(mut self) -> Shell {
        self.noindex = true;
        self
    }

    /// More of the head: Open Graph and Twitter tags, JSON-LD data.
    pub fn head(mut self, extra: Markup) -> Shell {
        self.head = Some(extra);
        self
    }

    /// Style for this page only (an organizer's colours), sent inline
    /// under the response's nonce. It must not come from a visitor.
    pub fn css(mut self, css: String) -> Shell {
        self.css = Some(css);
        self
    }

    /// A script of this server (`/assets/…`), loaded deferred: a page
    /// works without it.
    pub fn script(mut self, path: &'static str) -> Shell {
        self.scripts.push(path);
        self
    }

    /// The status (default 200).
    pub fn status(mut self, status: StatusCode) -> Shell {
        self.status = status;
        self
    }

    /// Lets browsers and proxies keep the page for `seconds` (default: not
    /// at all). Only for pages that are the same for everybody and carry
    /// no form token.
    pub fn cache_seconds(mut self, seconds: u32) -> Shell {
        self.cache_seconds = seconds;
        self
    }

    /// The page with `body` (a `<main>` and what goes around it).
    pub fn render(self, body: Markup) -> Response {
        let nonce = self.css.as_ref().map(|_| {
            let mut raw = [0u8; 16];
            // Without randomness the page is sent without its own style
            // rather than with a guessable nonce.
            getrandom::fill(&mut raw)
                .ok()
                .map(|()| base64::engine::general_purpose::STANDARD.encode(raw))
        });
        let nonce = nonce.flatten();
        let markup = html! {
            (DOCTYPE)
            html lang=(self.lang.tag()) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (self.title) }
                    @if let Some(d) = &self.description { meta name="description" content=(d); }
                    @if self.noindex { meta name="robots" content="noindex, nofollow"; }
                    @if let Some(c) = &self.canonical { link rel="canonical" href=(c); }
                    link rel="stylesheet" href="/assets/site.css";
                    @if let (Some(css), Some(n)) = (&self.css, &nonce) {
                        style nonce=(n) { (PreEscaped(css_text(css))) }
                    }
                    @if let Some(h) = &self.head { (h) }
                    @for s in &self.scripts { script src=(s) defer {} }
                }
                body {
                    a class="skip" href="#main" { (skip_text(self.lang)) }
                    (body)
                }
            }
        };
        let mut r = (self.status, markup.into_string()).into_response();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        let cache = if self.cache_seconds == 0 {
            HeaderValue::from_static("no-store")
        } else {
            HeaderValue::from_str(&format!("public, max-age={}", self.cache_seconds))
                .unwrap_or_else(|_| HeaderValue::from_static("no-store"))
        };
        h.insert(header::CACHE_CONTROL, cache);
        if self.noindex {
            h.insert(
                "x-robots-tag",
                HeaderValue::from_static("noindex, nofollow"),
            );
        }
        secure(h, nonce.as_deref());
        r
    }
}

/// CSS made safe to sit inside `<style>`: nothing that could close the
/// element.
fn css_text(css: &str) -> String {
    css.replace('<', "\\3c ")
}

fn skip_text(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "Skip to content",
        Lang::De => "Zum Inhalt springen",
        Lang::Fr => "Aller au contenu",
        Lang::Es => "Saltar al contenido",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_is_opened_to_this_server_only_where_asked() {
        let mut r = Shell::new(Lang::En, "t").render(html! { main id="main" {} });
        let plain = r.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(!plain.contains("frame-src"));
        let h = r.headers_mut();
        framable_by_self(h);
        frames_self(h);
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'self'"), "{csp}");
        assert!(!csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.ends_with("; frame-src 'self'"), "{csp}");
        assert!(csp.starts_with("default-src 'none'"), "{csp}");
        assert_eq!(h[header::X_FRAME_OPTIONS], "SAMEORIGIN");
    }

    #[tokio::test]
    async fn a_page_carries_its_policy_and_its_nonce() {
        let r = Shell::new(Lang::De, "Titel <&>")
            .noindex()
            .css("body{color:#111}</style><script>".into())
            .render(html! { main id="main" { "x" } });
        let h = r.headers();
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("default-src 'none'"));
        assert!(csp.contains("frame-ancestors 'none'"));
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .and_then(|s| s.split('\'').next())
            .unwrap()
            .to_owned();
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(body.contains("<html lang=\"de\">"));
        assert!(body.contains("Titel &lt;&amp;&gt;"));
        assert!(body.contains(&format!("<style nonce=\"{nonce}\">")));
        assert!(!body.contains("</style><script>"), "{body}");
        assert!(body.contains("noindex"));
    }
}
