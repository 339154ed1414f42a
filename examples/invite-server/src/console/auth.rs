//! Signing in to the console by a mailed link, and its sessions.
//!
//! - `GET /console/sign-in`: a form (address, CSRF token, honeypot).
//! - `POST /console/sign-in`: mails a link to each account the address
//!   may sign in as, and always answers the same page, whether or not the
//!   address is known (the mail is sent after the answer, so that its time
//!   tells nothing either). Limited per client and per address.
//! - `GET /console/sign-in/{token}`: a button, nothing more — mail
//!   scanners open every link.
//! - `POST /console/sign-in/{token}`: spends the link (256 random bits,
//!   stored as SHA-256, 15 minutes, once) and starts a session: a random
//!   256-bit cookie `calinvite_console`, stored as SHA-256 with whom it
//!   acts for; 12 hours idle and 7 days at most.
//! - `POST /console/sign-out`: ends it.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use calinvite_core::EmailAddress;
use calinvite_core::lifecycle::{
    AllowEntry, NoticeText, OrganizerAccount, Store as _, Transport as _,
};
use chrono::{DateTime, TimeDelta, Utc};
use maud::html;
use serde::Deserialize;

use super::bare;
use super::store::{SessionRecord, Who};
use crate::extract::{Caller, Tenant};
use crate::state::AppState;
use crate::web::client::ClientIp;
use crate::web::{Key, WebForm, WebRejection, csrf, honeypot};

/// The session cookie.
pub(crate) const COOKIE: &str = "calinvite_console";
/// How long a mailed link works.
pub(crate) const LINK_LIFETIME: TimeDelta = TimeDelta::minutes(15);
/// A session unused this long ends.
pub(crate) const IDLE: TimeDelta = TimeDelta::hours(12);
/// A session ends this long after it began, used or not.
pub(crate) const MAX_AGE: TimeDelta = TimeDelta::days(7);
/// Accounts one address is mailed links for, at most.
const MAX_ACCOUNTS: usize = 10;

const SIGN_IN: &str = "console:sign-in";
const USE_LINK: &str = "console:link";
pub(crate) const SIGN_OUT: &str = "console:sign-out";

/// 256 random bits (base64url) and their SHA-256 (hex).
fn secret() -> Result<(String, String), WebRejection> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|_| WebRejection::unavailable())?;
    let token = URL_SAFE_NO_PAD.encode(b);
    let digest = crate::keys::digest(&token);
    Ok((token, digest))
}

/// Whether `token` looks like one of ours (43 base64url characters).
fn well_formed(token: &str) -> bool {
    token.len() == 43 && URL_SAFE_NO_PAD.decode(token).is_ok_and(|b| b.len() == 32)
}

fn db_failed(e: &crate::db::DbError) -> WebRejection {
    tracing::error!(error = %e, "console: the database failed");
    WebRejection::unavailable()
}

/// A signed-in console user: whom they act for (as an API key of the same
/// tenant would) and their address. Without a valid session a `GET` is
/// sent to the sign-in page (303) and anything else refused (403).
#[derive(Clone, Debug)]
pub(crate) struct ConsoleUser {
    /// The tenant, as a caller of the API layer.
    pub(crate) caller: Caller,
    /// The address signed in.
    pub(crate) address: String,
    digest: String,
}

impl ConsoleUser {
    /// Who this is, for people.
    pub(crate) fn describe(&self) -> String {
        match self.caller.tenant {
            Tenant::Owner(o) => format!("administrator of domain owner {}", o.0),
            Tenant::Organizer(s) => format!("organizer {}", s.organizer.0),
        }
    }
}

/// The session cookie's value, if well formed.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, v)| *k == COOKIE && well_formed(v))
        .map(|(_, v)| v.to_owned())
}

/// Whether a session is still alive at `now`.
fn alive(s: &SessionRecord, now: DateTime<Utc>) -> bool {
    now < s.expires_at && now < s.last_seen + IDLE
}

/// The rejection of a request without a session.
fn signed_out(method: &Method) -> Response {
    if method == Method::GET || method == Method::HEAD {
        let mut r = StatusCode::SEE_OTHER.into_response();
        r.headers_mut().insert(
            header::LOCATION,
            HeaderValue::from_static("/console/sign-in"),
        );
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    } else {
        WebRejection::forbidden("you are not signed in to the console (or your session ended)")
            .into_response()
    }
}

impl FromRequestParts<AppState> for ConsoleUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(token) = session_cookie(&parts.headers) else {
            return Err(signed_out(&parts.method));
        };
        let digest = crate::keys::digest(&token);
        let db = state.db();
        let session = db
            .console_session(&digest)
            .await
            .map_err(|e| db_failed(&e).into_response())?;
        let now = state.now();
        let Some(s) = session.filter(|s| alive(s, now)) else {
            return Err(signed_out(&parts.method));
        };
        // Written at most once a minute per session.
        if now - s.last_seen > TimeDelta::minutes(1) {
            db.touch_console_session(&digest, now)
                .await
                .map_err(|e| db_failed(&e).into_response())?;
        }
        let tenant = match s.who {
            Who::Owner(o) => Tenant::Owner(o),
            Who::Organizer(sc) => {
                // An address taken off the organizer signs out at once.
                let account = state
                    .pipeline()
                    .store()
                    .organizer(sc)
                    .await
                    .map_err(|_| WebRejection::unavailable().into_response())?;
                if !account.is_some_and(|a| may_sign_in_as(&a, &s.address)) {
                    db.end_console_session(&digest)
                        .await
                        .map_err(|e| db_failed(&e).into_response())?;
                    return Err(signed_out(&parts.method));
                }
                Tenant::Organizer(sc)
            }
        };
        Ok(ConsoleUser {
            caller: Caller {
                key_id: "console".to_owned(),
                tenant,
            },
            address: s.address,
            digest,
        })
    }
}

// ------------------------------------------------------------- pages

fn sign_in_form(state: &AppState, headers: &HeaderMap, note: Option<&str>) -> Response {
    let issued = csrf::issue(state, headers, SIGN_IN);
    let mut r = bare(
        "Sign in to the console",
        StatusCode::OK,
        html! {
            h1 { "Sign in to the console" }
            @if let Some(n) = note { p role="alert" { (n) } }
            p { "Enter your address: we mail you a link that signs you in. No password." }
            form method="post" action="/console/sign-in" {
                (issued.field())
                label for="email" { "Email address" }
                input type="email" id="email" name="email" required autocomplete="email"
                    autofocus maxlength="254";
                (honeypot())
                button type="submit" class="btn btn-primary" { "Mail me a sign-in link" }
            }
        },
    );
    issued.attach(&mut r);
    r
}

/// `GET /console/sign-in`.
pub(crate) async fn sign_in_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    sign_in_form(&state, &headers, None)
}

/// The sign-in form's fields.
#[derive(Debug, Deserialize)]
pub(crate) struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    website: String,
}

/// The one answer to every sign-in request.
fn link_on_its_way() -> Response {
    bare(
        "Check your mail",
        StatusCode::OK,
        html! {
            h1 { "Check your mail" }
            p data-sign-in="sent" {
                "If this address may sign in to the console, a link is on its way. \
                 It works once, for 15 minutes."
            }
            p { a href="/console/sign-in" { "Send another" } }
        },
    )
}

/// `POST /console/sign-in`.
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    WebForm(form): WebForm<SignInForm>,
) -> Result<Response, WebRejection> {
    csrf::check(&state, &headers, SIGN_IN, &form.csrf).await?;
    state.limit(Key::Ip(ip), 1)?;
    if !form.website.is_empty() {
        return Ok(link_on_its_way());
    }
    let Ok(address) = EmailAddress::parse(form.email.trim()) else {
        return Ok(sign_in_form(
            &state,
            &headers,
            Some("That is not an email address."),
        ));
    };
    state.limit(Key::Address(&address), 1)?;
    // Looked up and mailed after answering: the answer and its time are the
    // same for every address.
    let st = state.clone();
    tokio::spawn(async move {
        if let Err(e) = mail_links(&st, &address).await {
            tracing::warn!(error = %e, "console: a sign-in link could not be mailed");
        }
    });
    Ok(link_on_its_way())
}

/// The accounts `address` may sign in as: the domain owners it
/// administers, and the organizers whose notification address it is or
/// that list it as an address that may send as them (domains listed do
/// not count: they name no one).
async fn accounts(state: &AppState, address: &EmailAddress) -> Result<Vec<Who>, String> {
    let lower = address.as_str().to_lowercase();
    let db = state.db();
    let mut out: Vec<Who> = db
        .owners_administered_by(&lower)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(Who::Owner)
        .collect();
    let store = state.pipeline().store();
    for owner in db.owners().await.map_err(|e| e.to_string())? {
        let organizers = store.organizers(owner).await.map_err(|e| e.to_string())?;
        for a in organizers {
            if may_sign_in_as(&a, &lower) {
                out.push(Who::Organizer(a.scope));
            }
        }
        if out.len() >= MAX_ACCOUNTS {
            break;
        }
    }
    out.truncate(MAX_ACCOUNTS);
    Ok(out)
}

/// Whether `address` may sign in as organizer `a`: its notification
/// address, or an address it lists as one that may send as it.
fn may_sign_in_as(a: &OrganizerAccount, address: &str) -> bool {
    a.notify.as_str().eq_ignore_ascii_case(address)
        || a.allow.iter().any(|e| match e {
            AllowEntry::Address(x) => x.as_str().eq_ignore_ascii_case(address),
            AllowEntry::Domain(_) => false,
        })
}

/// Mails `address` one link per account it may sign in as (none when it
/// may not sign in).
async fn mail_links(state: &AppState, address: &EmailAddress) -> Result<(), String> {
    let who = accounts(state, address).await?;
    let store = state.pipeline().store();
    for w in who {
        let (owner, name) = match w {
            Who::Owner(o) => {
                let n = store
                    .owner(o)
                    .await
                    .map_err(|e| e.to_string())?
                    .map_or_else(String::new, |d| d.name);
                (o, format!("the domain owner {n}"))
            }
            Who::Organizer(s) => {
                let n = store
                    .organizer(s)
                    .await
                    .map_err(|e| e.to_string())?
                    .map_or_else(String::new, |a| a.name);
                (s.owner, format!("the organizer {n}"))
            }
        };
        let (token, digest) = secret().map_err(|e| e.message().to_owned())?;
        let now = state.now();
        state
            .db()
            .insert_console_link(
                &digest,
                w,
                &address.as_str().to_lowercase(),
                now + LINK_LIFETIME,
                now,
            )
            .await
            .map_err(|e| e.to_string())?;
        let url = state.web().url(&format!("console/sign-in/{token}"));
        let text = NoticeText::new(
            "Your sign-in link to the invitation console",
            format!(
                "Someone (we hope you) asked to sign in to the invitation console as {name}.\n\n\
                 Open this link and press the button on its page to sign in:\n\n  {url}\n\n\
                 It works once, for 15 minutes. If you did not ask for it, ignore this \
                 message: nobody is signed in without the link.\n"
            ),
        );
        let (envelope, bytes) = state
            .pipeline()
            .compose_notice(owner, address, &text)
            .await
            .map_err(|e| e.to_string())?;
        state
            .pipeline()
            .transport()
            .send_raw(&envelope, &bytes)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(
            domain = crate::unregistered::domain_of(address.as_str()),
            "console: sign-in link mailed"
        );
    }
    Ok(())
}

fn link_gone() -> Response {
    bare(
        "This link does not work",
        StatusCode::GONE,
        html! {
            h1 { "This link does not work" }
            p data-sign-in="gone" {
                "The link was used already, has expired (they work for 15 minutes), or is not \
                 one of ours."
            }
            p { a href="/console/sign-in" { "Ask for a new link" } }
        },
    )
}

/// `GET /console/sign-in/{token}`: a button; nothing changes.
pub(crate) async fn link_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Result<Response, WebRejection> {
    if !well_formed(&token) {
        return Ok(link_gone());
    }
    let usable = state
        .db()
        .console_link_usable(&crate::keys::digest(&token), state.now())
        .await
        .map_err(|e| db_failed(&e))?;
    if !usable {
        return Ok(link_gone());
    }
    let issued = csrf::issue(&state, &headers, USE_LINK);
    let mut r = bare(
        "Sign in to the console",
        StatusCode::OK,
        html! {
            h1 { "Sign in to the console" }
            p { "Press the button to sign in in this browser." }
            form method="post" action={ "/console/sign-in/" (token) } {
                (issued.field())
                button type="submit" class="btn btn-primary" autofocus { "Sign in" }
            }
        },
    );
    issued.attach(&mut r);
    Ok(r)
}

/// The form of the link's page.
#[derive(Debug, Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    pub(crate) csrf: String,
}

/// `POST /console/sign-in/{token}`: spends the link and starts a session.
pub(crate) async fn use_link(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    headers: HeaderMap,
    WebForm(form): WebForm<CsrfForm>,
) -> Result<Response, WebRejection> {
    csrf::check(&state, &headers, USE_LINK, &form.csrf).await?;
    state.limit(Key::Ip(ip), 1)?;
    if !well_formed(&token) {
        return Ok(link_gone());
    }
    let now = state.now();
    let spent = state
        .db()
        .spend_console_link(&crate::keys::digest(&token), now)
        .await
        .map_err(|e| db_failed(&e))?;
    let Some((who, address)) = spent else {
        return Ok(link_gone());
    };
    let (session, digest) = secret()?;
    let record = SessionRecord {
        who,
        address,
        created_at: now,
        last_seen: now,
        expires_at: now + MAX_AGE,
    };
    state
        .db()
        .insert_console_session(&digest, &record)
        .await
        .map_err(|e| db_failed(&e))?;
    tracing::info!("console: signed in");
    let secure = if state.web().public_base().scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        MAX_AGE.num_seconds()
    );
    Ok(redirect("/console", Some(&cookie)))
}

fn redirect(to: &'static str, cookie: Option<&str>) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    let h = r.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_static(to));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(c).ok()) {
        h.insert(header::SET_COOKIE, c);
    }
    r
}

/// `POST /console/sign-out`: ends the session.
pub(crate) async fn sign_out(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    WebForm(form): WebForm<CsrfForm>,
) -> Result<Response, WebRejection> {
    csrf::check(&state, &headers, SIGN_OUT, &form.csrf).await?;
    state
        .db()
        .end_console_session(&user.digest)
        .await
        .map_err(|e| db_failed(&e))?;
    let secure = if state.web().public_base().scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}");
    Ok(redirect("/console/sign-in", Some(&cookie)))
}
