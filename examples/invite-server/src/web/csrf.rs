//! Form tokens: every public form carries one, and its `POST` is refused
//! without it.
//!
//! A token is `nonce ‖ expiry ‖ HMAC-SHA256(key, purpose, cookie, nonce,
//! expiry)`, base64url. The cookie (`calinvite_form`, random, `HttpOnly`,
//! `SameSite=Lax`) is set by the page that shows the form, so a token
//! copied out of one browser does not work in another; the purpose names
//! the form (`landing:{slug}`), so a token of one form does not work on
//! another; it expires after two hours. A `POST` from another site is
//! refused by its `Origin` (or `Sec-Fetch-Site`) before the token is even
//! read. A token is spent by its first `POST`: the nonce is written to the
//! database (shared by every process), and a second `POST` with it — a
//! replayed form — is refused.

use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use hmac::Mac as _;
use maud::{Markup, html};
use subtle::ConstantTimeEq as _;

use super::WebRejection;
use crate::state::AppState;

/// The cookie's name.
pub const COOKIE: &str = "calinvite_form";

/// The form field's name.
pub const FIELD: &str = "csrf";

/// How long a form may be left open before it is sent.
pub const LIFETIME: TimeDelta = TimeDelta::hours(2);

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// A token made for one page's form.
#[derive(Clone, Debug)]
#[must_use]
pub struct Issued {
    token: String,
    cookie: Option<String>,
    secure: bool,
    pow_bits: u8,
}

impl Issued {
    /// The token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The hidden field that carries it — and, when the server asks for
    /// proof of work (`[web] proof_of_work_bits`), the script that does
    /// it when the button is pressed.
    pub fn field(&self) -> Markup {
        html! {
            @if self.pow_bits > 0 {
                input type="hidden" name=(FIELD) value=(self.token) data-pow=(self.pow_bits);
                script src="/assets/pow.js" defer {}
            } @else {
                input type="hidden" name=(FIELD) value=(self.token);
            }
        }
    }

    /// Sets the cookie on `response` when the browser had none.
    pub fn attach(&self, response: &mut Response) {
        if let Some(c) = &self.cookie {
            let secure = if self.secure { "; Secure" } else { "" };
            let v = format!("{COOKIE}={c}; Path=/; HttpOnly; SameSite=Lax{secure}");
            if let Ok(v) = HeaderValue::from_str(&v) {
                response.headers_mut().append(header::SET_COOKIE, v);
            }
        }
    }
}

/// The browser's form cookie, if it sent a well-formed one.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
        .filter(|v| v.len() == 22 && URL_SAFE_NO_PAD.decode(v).is_ok_and(|b| b.len() == 16))
}

fn random16() -> Option<[u8; 16]> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).ok().map(|()| b)
}

fn mac(key: &[u8; 32], purpose: &str, cookie: &str, nonce: &[u8], expiry: i64) -> [u8; 32] {
    let mut m = <HmacSha256 as hmac::KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    m.update(b"calinvite form\0");
    m.update(purpose.as_bytes());
    m.update(b"\0");
    m.update(cookie.as_bytes());
    m.update(b"\0");
    m.update(nonce);
    m.update(&expiry.to_be_bytes());
    m.finalize().into_bytes().into()
}

/// A token for the form `purpose` on a page answering a request with
/// `headers`, made at `now`.
pub fn issue(state: &AppState, headers: &HeaderMap, purpose: &str) -> Issued {
    issue_at(state, headers, purpose, state.now())
}

fn issue_at(state: &AppState, headers: &HeaderMap, purpose: &str, now: DateTime<Utc>) -> Issued {
    let web = state.web();
    let secure = web.public_base().scheme() == "https";
    let (cookie_value, new_cookie) = match cookie(headers) {
        Some(c) => (c, None),
        None => {
            let c = URL_SAFE_NO_PAD.encode(random16().unwrap_or_default());
            (c.clone(), Some(c))
        }
    };
    let nonce = random16().unwrap_or_default();
    let expiry = (now + LIFETIME).timestamp();
    let tag = mac(web.key(), purpose, &cookie_value, &nonce, expiry);
    let mut raw = Vec::with_capacity(56);
    raw.extend_from_slice(&nonce);
    raw.extend_from_slice(&expiry.to_be_bytes());
    raw.extend_from_slice(&tag);
    Issued {
        token: URL_SAFE_NO_PAD.encode(raw),
        cookie: new_cookie,
        secure,
        pow_bits: web.config().proof_of_work_bits,
    }
}

/// Whether a request's `Origin` or `Sec-Fetch-Site` says it came from
/// another site. (No header at all — an old browser, a script — is left to
/// the token and the cookie.)
fn cross_site(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    if let Some(site) = &site
        && site != "same-origin"
        && site != "none"
    {
        return Some("the form was sent from another site".into());
    }
    let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
    if origin == "null" {
        // A browser that withholds the origin (a page with no referrer, a
        // sandboxed frame) is believed only when it says the request is
        // its own site's.
        return (site.as_deref() != Some("same-origin"))
            .then(|| "the form was sent from a page with no origin".into());
    }
    let Ok(o) = url::Url::parse(origin) else {
        return Some("the form's origin is not an address".into());
    };
    let base = state.web().public_base();
    let same_public = o.origin() == base.origin();
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let same_host = host.is_some_and(|h| {
        let port = o.port().map(|p| format!(":{p}")).unwrap_or_default();
        o.host_str()
            .is_some_and(|oh| format!("{oh}{port}").eq_ignore_ascii_case(h))
    });
    (!same_public && !same_host).then(|| "the form was sent from another site".into())
}

/// Checks the token of a `POST` of form `purpose` and spends it: the
/// request's origin, the cookie, the signature, the expiry, then that it
/// was never used. Each refusal says why.
pub async fn check(
    state: &AppState,
    headers: &HeaderMap,
    purpose: &str,
    token: &str,
) -> Result<(), WebRejection> {
    verify(state, headers, purpose, token, state.now())?;
    spend(state, token_part(token), state.now()).await
}

/// The token without the proof of work appended to it.
fn token_part(field: &str) -> &str {
    field.split('.').next().unwrap_or_default()
}

/// Leading zero bits of SHA-256(`token` ":" `n`).
fn work_bits(token: &str, n: &str) -> u32 {
    use sha2::Digest as _;
    let digest = sha2::Sha256::new()
        .chain_update(token.as_bytes())
        .chain_update(b":")
        .chain_update(n.as_bytes())
        .finalize();
    let mut bits = 0;
    for b in digest {
        bits += b.leading_zeros();
        if b != 0 {
            break;
        }
    }
    bits
}

/// Checks the proof of work appended to a form's token (`token.n`).
fn proof(bits: u8, field: &str) -> Result<(), WebRejection> {
    if bits == 0 {
        return Ok(());
    }
    let mut parts = field.split('.');
    let token = parts.next().unwrap_or_default();
    let n = parts
        .next()
        .filter(|n| !n.is_empty() && n.len() <= 12 && n.bytes().all(|b| b.is_ascii_digit()));
    let Some(n) = n else {
        return Err(WebRejection::forbidden(
            "this form needs its check done in the browser first (JavaScript must be on); \
             open the page again and press the button",
        ));
    };
    if work_bits(token, n) < u32::from(bits) {
        return Err(WebRejection::forbidden(
            "the browser's check of this form is wrong: open the page again",
        ));
    }
    Ok(())
}

fn decode(token: &str) -> Option<([u8; 16], i64, [u8; 32])> {
    let raw = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
    if raw.len() != 56 {
        return None;
    }
    let nonce: [u8; 16] = raw[..16].try_into().ok()?;
    let expiry = i64::from_be_bytes(raw[16..24].try_into().ok()?);
    let tag: [u8; 32] = raw[24..].try_into().ok()?;
    Some((nonce, expiry, tag))
}

pub(crate) fn verify(
    state: &AppState,
    headers: &HeaderMap,
    purpose: &str,
    token: &str,
    now: DateTime<Utc>,
) -> Result<(), WebRejection> {
    if let Some(why) = cross_site(state, headers) {
        return Err(WebRejection::forbidden(why));
    }
    if token.is_empty() {
        return Err(WebRejection::forbidden(
            "the form has no security token: open the page again and send it from there",
        ));
    }
    let Some(cookie) = cookie(headers) else {
        return Err(WebRejection::forbidden(
            "the browser sent no form cookie: allow cookies for this site, open the page again \
             and send it from there",
        ));
    };
    let field = token;
    let token = token_part(field);
    let Some((nonce, expiry, tag)) = decode(token) else {
        return Err(WebRejection::forbidden(
            "the form's security token is damaged: open the page again",
        ));
    };
    let want = mac(state.web().key(), purpose, &cookie, &nonce, expiry);
    if !bool::from(want.ct_eq(&tag)) {
        return Err(WebRejection::forbidden(
            "the form's security token is not for this form or this browser: open the page again",
        ));
    }
    if now.timestamp() > expiry {
        return Err(WebRejection::forbidden(
            "the form was open too long and has expired: open the page again",
        ));
    }
    proof(state.web().config().proof_of_work_bits, field)
}

/// Records the token's nonce; refuses a token already spent.
async fn spend(state: &AppState, token: &str, now: DateTime<Utc>) -> Result<(), WebRejection> {
    let Some((nonce, expiry, _)) = decode(token) else {
        return Err(WebRejection::forbidden(
            "the form's security token is damaged",
        ));
    };
    let nonce = URL_SAFE_NO_PAD.encode(nonce);
    match state.db().spend_form(&nonce, expiry, now.timestamp()).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(WebRejection::forbidden(
            "this form was already sent once; nothing was done again. Open the page again to \
             send another",
        )),
        Err(e) => {
            tracing::error!(error = %e, "could not record a spent form");
            Err(WebRejection::unavailable())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AppState, CaptureFolder, Limits, Outbound, ServerDb};
    use std::sync::Arc;

    async fn state() -> (AppState, std::path::PathBuf) {
        let mut n = [0u8; 8];
        getrandom::fill(&mut n).unwrap();
        let dir = std::env::temp_dir().join(format!("calinvite-csrf-{}", hex(&n)));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("db.sqlite").display());
        let store = calinvite_store::SqlStore::open(&url).await.unwrap();
        let out = Outbound::capture(CaptureFolder::new(dir.join("outbox")).unwrap());
        let pipeline = Arc::new(calinvite::pipeline(store, out).build());
        let db = ServerDb::open(&url, None, 0).await.unwrap();
        (AppState::new(pipeline, db, Limits::default()), dir)
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn with_cookie(issued: &Issued) -> HeaderMap {
        let mut r = Response::new(axum::body::Body::empty());
        issued.attach(&mut r);
        let set = r.headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Lax"),
            "{set}"
        );
        let pair = set.split(';').next().unwrap().to_owned();
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(&pair).unwrap());
        h.insert(header::HOST, HeaderValue::from_static("localhost"));
        h
    }

    #[tokio::test]
    async fn a_form_token_works_once_for_its_form_and_browser() {
        let (state, dir) = state().await;
        let issued = issue(&state, &HeaderMap::new(), "landing:demo");
        let headers = with_cookie(&issued);
        let token = issued.token().to_owned();

        // Another form, no cookie, another browser, damaged, from another site.
        let e = check(&state, &headers, "cta:abc", &token)
            .await
            .unwrap_err();
        assert!(e.message().contains("not for this form"), "{e:?}");
        let e = check(&state, &HeaderMap::new(), "landing:demo", &token)
            .await
            .unwrap_err();
        assert!(e.message().contains("cookie"), "{e:?}");
        let other = with_cookie(&issue(&state, &HeaderMap::new(), "landing:demo"));
        assert!(check(&state, &other, "landing:demo", &token).await.is_err());
        let e = check(&state, &headers, "landing:demo", "AAAA")
            .await
            .unwrap_err();
        assert!(e.message().contains("damaged"), "{e:?}");
        let e = check(&state, &headers, "landing:demo", "")
            .await
            .unwrap_err();
        assert!(e.message().contains("no security token"), "{e:?}");
        let mut cross = headers.clone();
        cross.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        let e = check(&state, &cross, "landing:demo", &token)
            .await
            .unwrap_err();
        assert!(e.message().contains("another site"), "{e:?}");
        let mut fetch = headers.clone();
        fetch.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(check(&state, &fetch, "landing:demo", &token).await.is_err());
        fetch.insert("sec-fetch-site", HeaderValue::from_static("same-site"));
        assert!(check(&state, &fetch, "landing:demo", &token).await.is_err());
        let mut null = headers.clone();
        null.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(check(&state, &null, "landing:demo", &token).await.is_err());
        // None of those spent it; the right one works, once.
        let mut same = headers.clone();
        same.insert(header::ORIGIN, HeaderValue::from_static("null"));
        same.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        check(&state, &same, "landing:demo", &token).await.unwrap();
        let e = check(&state, &same, "landing:demo", &token)
            .await
            .unwrap_err();
        assert!(e.message().contains("already sent"), "{e:?}");
        assert_eq!(e.status(), axum::http::StatusCode::FORBIDDEN);
        // A page seen with the cookie already set sets no new one.
        let again = issue(&state, &headers, "landing:demo");
        let mut r = Response::new(axum::body::Body::empty());
        again.attach(&mut r);
        assert!(r.headers().get(header::SET_COOKIE).is_none());
        // Expired after its lifetime.
        let late = state.now() + LIFETIME + TimeDelta::seconds(5);
        let e = verify(&state, &headers, "landing:demo", again.token(), late).unwrap_err();
        assert!(e.message().contains("expired"), "{e:?}");
        let _ = std::fs::remove_dir_all(dir);
    }

    proptest::proptest! {
        /// Any token is refused with a reason or decoded, never a panic;
        /// proof of work of any shape is checked without a panic.
        #[test]
        fn any_token_is_read_safely(token in "\\PC{0,120}", bits in 0u8..24) {
            let _ = decode(&token);
            let _ = token_part(&token);
            let _ = proof(bits, &token);
        }
    }

    #[test]
    fn proof_of_work_is_checked_when_asked_for() {
        assert!(proof(0, "tok").is_ok());
        let e = proof(8, "tok").unwrap_err();
        assert!(e.message().contains("JavaScript"), "{e:?}");
        assert!(proof(8, "tok.12x").is_err());
        assert!(proof(8, "tok.1234567890123").is_err());
        let n = (0..100_000u32)
            .find(|n| work_bits("tok", &n.to_string()) >= 8)
            .unwrap();
        assert!(proof(8, &format!("tok.{n}")).is_ok());
        let wrong = (0..100_000u32)
            .find(|n| work_bits("tok", &n.to_string()) < 8)
            .unwrap();
        assert!(proof(8, &format!("tok.{wrong}")).is_err());
    }
}
