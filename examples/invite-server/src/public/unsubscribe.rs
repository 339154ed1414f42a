//! One-click unsubscribe (RFC 8058). Invitations carry
//! `List-Unsubscribe: <{public}/unsubscribe/{token}>` and
//! `List-Unsubscribe-Post: List-Unsubscribe=One-Click`: a mail provider
//! unsubscribes by posting that body, with no cookie and no page — the
//! token in the address is the secret, as the RFC intends. A person who
//! opens the link gets a page whose button posts the form (with its CSRF
//! token). A `GET` never unsubscribes, and a `POST` that is neither is
//! refused (403, saying why).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use calinvite_core::lifecycle::Outcome;
use maud::html;

use super::{Strings, event_card, invitation, language, not_found, unavailable};
use crate::state::AppState;
use crate::web::client::ClientIp;
use crate::web::{Key, Shell, WebRejection, csrf, honeypot};

const PURPOSE: &str = "unsubscribe";
/// Largest body read: a one-click body is 26 bytes, the page's form a few
/// hundred.
const MAX_BODY: usize = 8 * 1024;

/// `GET /unsubscribe/{token}`: what the button does; nothing changes.
pub(super) async fn page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (inv, event) = match invitation(&state, &token).await {
        Ok(Some(f)) => f,
        Ok(None) => return not_found(language(&headers, None)),
        Err(r) => return r,
    };
    let lang = language(&headers, Some(&inv));
    let t = Strings::of(lang);
    let issued = csrf::issue(&state, &headers, PURPOSE);
    let address = inv.recipient().address().to_unicode().into_owned();
    let body = html! {
        main id="main" class="wrap" data-page="unsubscribe" {
            h1 { (t.unsubscribe_title) }
            (event_card(event.latest(), t))
            form.card method="post" action=(format!("/unsubscribe/{}", inv.token().as_str())) {
                (issued.field())
                (honeypot())
                p { (t.unsubscribe_intro) " " strong data-address { (address) } "." }
                button.btn.btn-primary type="submit" id="unsubscribe" { (t.unsubscribe_button) }
                p.muted { (t.nothing_recorded) }
            }
        }
    };
    let mut r = Shell::new(lang, t.unsubscribe_title).noindex().render(body);
    issued.attach(&mut r);
    r
}

/// What a `POST` carried: the RFC 8058 one-click body, or the page's form.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    OneClick,
    Form { csrf: String, honeypot: bool },
    Neither,
}

fn read(content_type: &str, body: &[u8]) -> Request {
    let kind = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if kind == "multipart/form-data" {
        // RFC 8058 allows either encoding; one part named List-Unsubscribe
        // whose value is One-Click.
        let text = String::from_utf8_lossy(body);
        let named = text.contains("name=\"List-Unsubscribe\"");
        let one_click = text
            .split("name=\"List-Unsubscribe\"")
            .nth(1)
            .is_some_and(|rest| {
                rest.split("\r\n--")
                    .next()
                    .unwrap_or("")
                    .trim_end()
                    .ends_with("One-Click")
            });
        return if named && one_click {
            Request::OneClick
        } else {
            Request::Neither
        };
    }
    if kind != "application/x-www-form-urlencoded" {
        return Request::Neither;
    }
    let mut csrf = None;
    let mut honeypot = false;
    for (k, v) in form_urlencoded::parse(body) {
        match &*k {
            "List-Unsubscribe" if v == "One-Click" => return Request::OneClick,
            "csrf" => csrf = Some(v.into_owned()),
            crate::web::HONEYPOT => honeypot = !v.is_empty(),
            _ => {}
        }
    }
    csrf.map_or(Request::Neither, |csrf| Request::Form { csrf, honeypot })
}

/// `POST /unsubscribe/{token}`: one-click, or the page's button.
pub(super) async fn submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (inv, event) = match invitation(&state, &token).await {
        Ok(Some(f)) => f,
        Ok(None) => return not_found(language(&headers, None)),
        Err(r) => return r,
    };
    let lang = language(&headers, Some(&inv));
    let t = Strings::of(lang);
    if body.len() > MAX_BODY {
        return WebRejection::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is too large",
        )
        .lang(lang)
        .into_response();
    }
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let pretend = match read(kind, &body) {
        Request::OneClick => false,
        Request::Form {
            csrf: token,
            honeypot,
        } => {
            if let Err(e) = csrf::check(&state, &headers, PURPOSE, &token).await {
                return e.lang(lang).into_response();
            }
            honeypot
        }
        Request::Neither => {
            return WebRejection::forbidden(t.one_click_only)
                .lang(lang)
                .into_response();
        }
    };
    if let Err(e) = state.web().limits().check(Key::Ip(ip), 1, state.now()) {
        return WebRejection::from(e).lang(lang).into_response();
    }
    if !pretend {
        match state
            .pipeline()
            .unsubscribe(inv.scope().owner, inv.token())
            .await
        {
            Ok(Outcome::Unsubscribed(_)) => {}
            Ok(other) => {
                tracing::warn!(outcome = ?std::mem::discriminant(&other), "unsubscribe did not suppress");
                return not_found(lang);
            }
            Err(e) => return unavailable(&e),
        }
    }
    let address = inv.recipient().address().to_unicode().into_owned();
    let body = html! {
        main id="main" class="wrap" data-unsubscribed="1" {
            h1 { (t.unsubscribe_title) }
            p.card role="status" { (t.unsubscribed) " " strong { (address) } "." }
            (event_card(event.latest(), t))
        }
    };
    Shell::new(lang, t.unsubscribe_title).noindex().render(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_click_bodies_and_forms_are_told_apart() {
        let form = "application/x-www-form-urlencoded";
        assert_eq!(read(form, b"List-Unsubscribe=One-Click"), Request::OneClick);
        assert_eq!(
            read(form, b"csrf=abc&website="),
            Request::Form {
                csrf: "abc".into(),
                honeypot: false
            }
        );
        assert_eq!(read(form, b"List-Unsubscribe=Two-Clicks"), Request::Neither);
        assert_eq!(read(form, b""), Request::Neither);
        assert_eq!(
            read("text/plain", b"List-Unsubscribe=One-Click"),
            Request::Neither
        );
        let multipart = "--b\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--b--\r\n";
        assert_eq!(
            read("multipart/form-data; boundary=b", multipart.as_bytes()),
            Request::OneClick
        );
    }
}
