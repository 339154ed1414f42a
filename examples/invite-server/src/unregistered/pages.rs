//! The sign-in link's pages: `GET /register/{token}` shows what registering
//! does and changes nothing; the form's `POST` registers. Plain HTML, no
//! script, served from the server itself.
//!
//! The `POST` must carry the page's CSRF value twice — in the form and in
//! the `SameSite=Strict` cookie the page set — and, when the browser says
//! where the form came from (`Origin`), come from this server: a form on
//! another site cannot register anyone, even with the link. The token is
//! in the path, which the server never logs (requests are logged by route
//! pattern); pages send no referrer and may not be framed.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use calinvite_core::EmailAddress;
use calinvite_core::lifecycle::{DomainOwner, OwnerId, Store as _};
use subtle::ConstantTimeEq as _;

use super::{Released, domain_of};
use crate::api::organizers::{NewOrganizer, register};
use crate::db::LinkRecord;
use crate::state::AppState;

/// The CSRF cookie's name.
const COOKIE: &str = "calinvite_register_csrf";

/// The routes of the pages.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/register/{token}", get(show).post(submit))
}

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A whole page: `title` and `body` (HTML already escaped).
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>body{{font-family:system-ui,sans-serif;max-width:40rem;\
         margin:3rem auto;padding:0 1rem;line-height:1.5;color:#222}}button{{font-size:1.1rem;\
         padding:.5rem 1.5rem}}li{{margin:.25rem 0}}code{{font-size:1rem}}</style></head>\
         <body><h1>{t}</h1>\n{body}\n</body></html>\n",
        t = esc(title)
    );
    let mut r = (status, html).into_response();
    let h = r.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    r
}

fn failed() -> Response {
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Please try again",
        "<p>The server could not read its database. Nothing was changed; \
         open the link again in a minute.</p>",
    )
}

fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Whether `token` has the shape of a link token (43 base64url characters).
fn well_formed(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What a link is, read without using it.
enum Found {
    Usable(LinkRecord, DomainOwner),
    Refused(Response),
}

async fn find(state: &AppState, token: &str) -> Result<Found, Response> {
    let not_valid = || {
        page(
            StatusCode::NOT_FOUND,
            "This link is not valid",
            "<p>No registration has this link. Check that the whole link from the \
             message was opened; a link that was purged after it ended is not \
             known any more either.</p>",
        )
    };
    if !well_formed(token) {
        return Ok(Found::Refused(not_valid()));
    }
    let n = state.newcomers();
    let hash = crate::keys::digest(token);
    let Some(link) = n.db().link(&hash).await.map_err(|_| failed())? else {
        return Ok(Found::Refused(not_valid()));
    };
    let owner = state
        .pipeline()
        .store()
        .owner(link.owner)
        .await
        .map_err(|_| failed())?;
    let Some(owner) = owner else {
        return Ok(Found::Refused(not_valid()));
    };
    let addr = esc(&link.address);
    if let Some(used) = link.used_at {
        let result = link
            .result
            .as_deref()
            .map(|r| format!("<p>{}</p>", esc(r)))
            .unwrap_or_default();
        return Ok(Found::Refused(page(
            StatusCode::GONE,
            "This link was used",
            &format!(
                "<p>This link registered <b>{addr}</b> on {}; a link works once.</p>{result}\
                 <p>Invitations sent from {addr} to <code>{}</code> now become events \
                 directly.</p>",
                when(used),
                esc(owner.ingest.as_str())
            ),
        )));
    }
    if link.expires_at <= state.pipeline().now() {
        return Ok(Found::Refused(page(
            StatusCode::GONE,
            "This link has expired",
            &format!(
                "<p>This link to register <b>{addr}</b> ended on {}. Send your \
                 invitation to <code>{}</code> again to get a new one, or ask {} \
                 for one.</p>",
                when(link.expires_at),
                esc(owner.ingest.as_str()),
                esc(&owner.name)
            ),
        )));
    }
    if link.origin == "mail"
        && !n
            .self_registration(link.owner)
            .await
            .map_err(|_| failed())?
    {
        return Ok(Found::Refused(page(
            StatusCode::FORBIDDEN,
            "Registration is closed",
            &format!(
                "<p>{} does not take registrations by link any more. Ask them to \
                 register <b>{addr}</b> for you.</p>",
                esc(&owner.name)
            ),
        )));
    }
    Ok(Found::Usable(link, owner))
}

/// Whether `address` is an organizer's of `owner` already.
async fn registered(
    state: &AppState,
    owner: OwnerId,
    address: &str,
) -> Result<Option<u64>, Response> {
    let Ok(a) = EmailAddress::parse(address) else {
        return Ok(None);
    };
    let all = state
        .pipeline()
        .store()
        .organizers(owner)
        .await
        .map_err(|_| failed())?;
    Ok(all
        .iter()
        .find(|o| o.allows(&a))
        .map(|o| o.scope.organizer.0))
}

async fn show(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let (link, owner) = match find(&state, &token).await {
        Ok(Found::Usable(l, o)) => (l, o),
        Ok(Found::Refused(r)) | Err(r) => return r,
    };
    let held = match state
        .newcomers()
        .db()
        .held_page(link.owner, Some(&link.address), None, 200)
        .await
    {
        Ok(h) => h,
        Err(_) => return failed(),
    };
    let already = match registered(&state, link.owner, &link.address).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let addr = esc(&link.address);
    let ingest = esc(owner.ingest.as_str());
    let mut body = match already {
        Some(id) => format!(
            "<p><b>{addr}</b> is registered with {} already (organizer {id}). \
             Pressing the button releases the invitations held for it.</p>",
            esc(&owner.name)
        ),
        None => format!(
            "<p>Pressing the button registers <b>{addr}</b> as an organizer with {}: \
             calendar invitations you send from this address to <code>{ingest}</code> \
             then become events, and their invitations are sent for you.</p>",
            esc(&owner.name)
        ),
    };
    if held.is_empty() {
        body.push_str("<p>No invitation from this address is held now.</p>");
    } else {
        body.push_str("<p>These held invitations become events, oldest first:</p><ul>");
        for h in &held {
            body.push_str(&format!(
                "<li>{} <small>(received {})</small></li>",
                esc(h.summary.as_deref().unwrap_or("(no title)")),
                when(h.received_at)
            ));
        }
        body.push_str("</ul>");
    }
    let mut csrf = [0u8; 32];
    if getrandom::fill(&mut csrf).is_err() {
        return failed();
    }
    let csrf = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(csrf);
    body.push_str(&format!(
        "<form method=\"post\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\">Register</button></form>\
         <p><small>The link works once, until {}. If you did not ask for this, close \
         this page: nothing happens.</small></p>",
        when(link.expires_at)
    ));
    let mut r = page(StatusCode::OK, &format!("Register {}", link.address), &body);
    let secure = if state.newcomers().links_are_https() {
        "; Secure"
    } else {
        ""
    };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{COOKIE}={csrf}; Path=/register; HttpOnly; SameSite=Strict; Max-Age=3600{secure}"
    )) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// The CSRF value of the cookie, if any.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == COOKIE).then(|| v.to_owned())
        })
}

/// Why the form is refused, when it is: no CSRF value, one that differs
/// from the cookie's, or a form from another origin.
///
/// A browser's `Sec-Fetch-Site` other than `same-origin` (or `none`: typed
/// or bookmarked) is another site. Browsers send `Origin: null` for a form
/// of a page served with `Referrer-Policy: no-referrer`, as these pages
/// are, even from the same origin: `null` names no site, so it is left to
/// the check value, which only a page of this server set in its
/// `SameSite=Strict` cookie.
fn forged(headers: &HeaderMap, body: &[u8]) -> Option<&'static str> {
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("");
        if !site.eq_ignore_ascii_case("same-origin") && !site.eq_ignore_ascii_case("none") {
            return Some("the form was sent from another site");
        }
    }
    if let Some(origin) = headers
        .get(header::ORIGIN)
        .filter(|o| o.as_bytes() != b"null")
    {
        let origin = origin.to_str().unwrap_or("");
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let origin_host = origin.split_once("://").map_or("", |(_, h)| h);
        if host.is_empty() || !origin_host.eq_ignore_ascii_case(host) {
            return Some("the form was sent from another site");
        }
    }
    let field = form_urlencoded::parse(body)
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.into_owned());
    let (Some(field), Some(cookie)) = (field, cookie(headers)) else {
        return Some("the form's check value is missing");
    };
    if field.len() < 32 || !bool::from(field.as_bytes().ct_eq(cookie.as_bytes())) {
        return Some("the form's check value does not match");
    }
    None
}

async fn submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if body.len() > 4096 {
        return page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The form is too large",
            "<p>Open the link again and press the button.</p>",
        );
    }
    if let Some(why) = forged(&headers, &body) {
        return page(
            StatusCode::FORBIDDEN,
            "The form was not accepted",
            &format!(
                "<p>Nothing was registered: {why}. Open the link from the message \
                 again and press the button on that page.</p>"
            ),
        );
    }
    let (link, owner) = match find(&state, &token).await {
        Ok(Found::Usable(l, o)) => (l, o),
        Ok(Found::Refused(r)) | Err(r) => return r,
    };
    let n = state.newcomers();
    let hash = crate::keys::digest(&token);
    let now = state.pipeline().now();
    match n.db().use_link(&hash, now).await {
        Ok(true) => {}
        // Used or expired a moment ago: say which.
        Ok(false) => {
            return match find(&state, &token).await {
                Ok(Found::Refused(r)) | Err(r) => r,
                Ok(Found::Usable(..)) => failed(),
            };
        }
        Err(_) => return failed(),
    }
    let organizer = match registered(&state, link.owner, &link.address).await {
        Ok(Some(id)) => id,
        Ok(None) => {
            let new = NewOrganizer {
                name: link.name.clone(),
                address: link.address.clone(),
                more_addresses: Vec::new(),
                domains: Vec::new(),
                notify: None,
                settings: None,
                create_key: false,
            };
            match register(&state, link.owner, &new).await {
                Ok(a) => {
                    n.count_registered();
                    tracing::info!(
                        owner = link.owner.0,
                        organizer = a.scope.organizer.0,
                        sender_domain = domain_of(&link.address),
                        via = link.origin.as_str(),
                        "organizer registered with a sign-in link"
                    );
                    a.scope.organizer.0
                }
                Err(e) => {
                    let _ = n.db().unuse_link(&hash).await;
                    let problem = e.problem();
                    return page(
                        StatusCode::from_u16(problem.status)
                            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                        "Not registered",
                        &format!(
                            "<p>{} could not be registered: {}. The link still works; \
                             try again later.</p>",
                            esc(&link.address),
                            esc(&problem.detail)
                        ),
                    );
                }
            }
        }
        Err(r) => {
            let _ = n.db().unuse_link(&hash).await;
            return r;
        }
    };
    let released = n.release(link.owner, &link.address).await;
    let addr = esc(&link.address);
    let mut body = format!(
        "<p><b>{addr}</b> is an organizer with {} (organizer {organizer}). Calendar \
         invitations you send from it to <code>{}</code> now become events.</p>",
        esc(&owner.name),
        esc(owner.ingest.as_str())
    );
    let summary = match &released {
        Ok(r) => {
            body.push_str(&results(r));
            summary_line(r)
        }
        Err(e) => {
            tracing::warn!(owner = link.owner.0, error = %e, "releasing held invitations stopped after a registration; the sweep takes them up");
            body.push_str(
                "<p>Your held invitations could not all be released just now; the \
                 server releases the rest within minutes.</p>",
            );
            "Registered; held invitations are being released.".to_owned()
        }
    };
    let _ = n.db().link_result(&hash, &summary).await;
    page(StatusCode::OK, "Registered", &body)
}

/// What the released invitations became, as a list.
fn results(released: &[Released]) -> String {
    if released.is_empty() {
        return "<p>No invitation was held for this address.</p>".to_owned();
    }
    let mut out = String::from("<p>Your held invitations:</p><ul>");
    for r in released {
        let title = esc(r.summary.as_deref().unwrap_or("(no title)"));
        let what = match (r.outcome, &r.event) {
            ("event-created", Some(code)) => {
                format!("became event <code class=\"event\">{}</code>", esc(code))
            }
            (o, Some(code)) => format!("{} (event <code>{}</code>)", esc(o), esc(code)),
            (o, None) => format!(
                "{}{}",
                esc(o),
                r.detail
                    .as_deref()
                    .map(|d| format!(": {}", esc(d)))
                    .unwrap_or_default()
            ),
        };
        out.push_str(&format!("<li>{title}: {what}</li>"));
    }
    out.push_str("</ul>");
    out
}

/// One line for the link's record: the events made.
fn summary_line(released: &[Released]) -> String {
    let codes: Vec<&str> = released
        .iter()
        .filter(|r| r.outcome == "event-created")
        .filter_map(|r| r.event.as_deref())
        .collect();
    if codes.is_empty() {
        "Registered; no held invitation became an event.".to_owned()
    } else {
        format!("Registered; events created: {}.", codes.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn a_form_needs_the_same_check_value_as_its_cookie_and_its_own_origin() {
        let v = "a".repeat(43);
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        let body = format!("csrf={v}");
        assert_eq!(
            forged(&h, body.as_bytes()),
            Some("the form's check value is missing")
        );
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {COOKIE}={v}")).unwrap(),
        );
        assert_eq!(forged(&h, body.as_bytes()), None);
        assert_eq!(forged(&h, b""), Some("the form's check value is missing"));
        let other = format!("csrf={}", "b".repeat(43));
        assert_eq!(
            forged(&h, other.as_bytes()),
            Some("the form's check value does not match")
        );
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert_eq!(
            forged(&h, body.as_bytes()),
            Some("the form was sent from another site")
        );
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert_eq!(forged(&h, body.as_bytes()), None);
        // A page sent with no referrer: browsers say `Origin: null`.
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert_eq!(forged(&h, body.as_bytes()), None);
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert_eq!(
            forged(&h, body.as_bytes()),
            Some("the form was sent from another site")
        );
        h.insert("sec-fetch-site", HeaderValue::from_static("same-site"));
        assert_eq!(
            forged(&h, body.as_bytes()),
            Some("the form was sent from another site")
        );
    }

    #[test]
    fn only_tokens_of_the_right_shape_are_looked_up() {
        assert!(well_formed(&"A".repeat(43)));
        assert!(!well_formed(&"A".repeat(42)));
        assert!(!well_formed(&format!("{}/", "A".repeat(42))));
    }
}
