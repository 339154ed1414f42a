//! A visitor's submit (`POST /p/{slug}`): the form's token, the honeypot,
//! the rate limits, then one invitation per ticked event of the page —
//! or, above `max_events_per_submit`, one mail with a confirmation link
//! (`/p/{slug}/confirm/{token}`, kept as its SHA-256) and nothing else
//! until it is used.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use calinvite_core::lifecycle::{
    InvitationSource, NoticeText, Outcome, PipelineError, Store as _, Transport as _,
};
use calinvite_core::{EmailAddress, EventCode, EventStatus, Recipient};
use maud::{Markup, html};
use serde::Deserialize;
use sha2::Digest as _;

use super::db::{ConfirmRecord, LandingDb, PageRecord};
use super::render::{lang_of, load, purpose};
use super::strings::Strings;
use crate::state::AppState;
use crate::web::client::ClientIp;
use crate::web::{Key, Shell, WebForm, WebRejection, csrf};

/// How long a confirmation link works.
const CONFIRM_HOURS: i64 = 24;

/// The fields of a page's form.
#[derive(Debug, Deserialize)]
pub(crate) struct SubmitForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    event: Vec<String>,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    website: String,
}

/// The confirmation page's form.
#[derive(Debug, Deserialize)]
pub(crate) struct ConfirmForm {
    #[serde(default)]
    csrf: String,
}

/// What happened to one ticked event.
enum Result1 {
    Sent,
    Already,
    Refused(String),
}

struct Line {
    code: String,
    summary: String,
    result: Result1,
}

fn limit(state: &AppState, key: Key<'_>, cost: u32) -> Result<(), WebRejection> {
    state
        .web()
        .limits()
        .check(key, cost, state.now())
        .map_err(WebRejection::from)
}

fn unavailable(e: impl std::fmt::Display) -> WebRejection {
    tracing::warn!(error = %e, "a landing page submit failed");
    WebRejection::unavailable()
}

/// The event `code` when it belongs to `page` and is still to come: its
/// title; else why not.
async fn page_event(
    state: &AppState,
    page: &PageRecord,
    code: &str,
) -> Result<Result<String, String>, WebRejection> {
    let chosen = page.settings.events.as_ref();
    if chosen.is_some_and(|c| !c.iter().any(|x| x == code)) {
        return Ok(Err("not an event of this page".to_owned()));
    }
    let Ok(parsed) = EventCode::parse(code) else {
        return Ok(Err("not an event of this page".to_owned()));
    };
    let found = state
        .pipeline()
        .store()
        .event(page.scope.owner, &parsed)
        .await
        .map_err(unavailable)?;
    let Some(e) = found.filter(|e| e.scope() == page.scope) else {
        return Ok(Err("not an event of this page".to_owned()));
    };
    if e.cancelled() || e.latest().status() == EventStatus::Cancelled {
        return Ok(Err("the event is cancelled".to_owned()));
    }
    Ok(Ok(e.latest().summary().as_str().to_owned()))
}

/// Invites `recipient` to each of `codes` (each checked against the page).
async fn invite_all(
    state: &AppState,
    page: &PageRecord,
    recipient: &Recipient,
    codes: &[String],
) -> Result<Vec<Line>, WebRejection> {
    let mut lines = Vec::with_capacity(codes.len());
    for code in codes {
        let summary = match page_event(state, page, code).await? {
            Ok(s) => s,
            Err(why) => {
                lines.push(Line {
                    code: code.clone(),
                    summary: code.clone(),
                    result: Result1::Refused(why),
                });
                continue;
            }
        };
        let Ok(parsed) = EventCode::parse(code) else {
            continue;
        };
        let outcome = state
            .pipeline()
            .invite(
                page.scope,
                &parsed,
                recipient.clone(),
                InvitationSource::LandingPage,
            )
            .await;
        let result = match outcome {
            Ok(Outcome::Invited(_)) => Result1::Sent,
            Ok(Outcome::AlreadyInvited(_)) => Result1::Already,
            Ok(Outcome::Refused(r)) | Err(PipelineError::Refused(r)) => Result1::Refused(r.detail),
            Ok(other) => Result1::Refused(format!("not sent ({})", other.label())),
            Err(e) => return Err(unavailable(e)),
        };
        lines.push(Line {
            code: code.clone(),
            summary,
            result,
        });
    }
    Ok(lines)
}

fn answer(page: &PageRecord, lines: &[Line], sent: usize, confirm: bool) -> Response {
    let lang = lang_of(page);
    let w = Strings::of(lang);
    let part = |title: &str, pick: fn(&Result1) -> Option<String>| -> Markup {
        let items: Vec<(&Line, String)> = lines
            .iter()
            .filter_map(|l| pick(&l.result).map(|why| (l, why)))
            .collect();
        html! {
            @if !items.is_empty() {
                h2 { (title) " (" (items.len()) ")" }
                ul {
                    @for (l, why) in items {
                        li data-event=(l.code) { (l.summary) @if !why.is_empty() { " — " (why) } }
                    }
                }
            }
        }
    };
    let body = html! {
        main class="wrap narrow" data-sent=(sent) data-confirm=[confirm.then_some("1")] {
            h1 { @if confirm { (w.confirm_title) } @else { (w.sent_title) } }
            @if confirm {
                p class="notice" { (w.confirm_sent) }
            } @else if lines.is_empty() {
                p class="notice" { (w.nothing_picked) }
            }
            (part(w.sent, |r| matches!(r, Result1::Sent).then(String::new)))
            (part(w.already, |r| matches!(r, Result1::Already).then(String::new)))
            (part(w.refused, |r| match r { Result1::Refused(why) => Some(why.clone()), _ => None }))
            p { a href={"/p/" (page.slug)} { (w.back) } }
        }
    };
    Shell::new(lang, &page.settings.title)
        .noindex()
        .render(body)
}

/// The ticked codes, each once, in order.
fn distinct(codes: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(codes.len());
    for c in codes {
        let c = c.trim().to_owned();
        if !c.is_empty() && !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

fn recipient(
    email: &str,
    name: &str,
    lang: crate::web::Lang,
) -> Result<(EmailAddress, Recipient), WebRejection> {
    let address = EmailAddress::parse(email.trim()).map_err(|_| {
        WebRejection::bad_request("that is not an email address; nothing was sent").lang(lang)
    })?;
    let mut r = Recipient::new(address.clone());
    let name = name.trim();
    if !name.is_empty() {
        r = r.with_name(name.chars().take(200).collect::<String>());
    }
    if let Ok(tag) = calinvite_core::LanguageTag::parse(lang.tag()) {
        r = r.with_language(tag);
    }
    Ok((address, r))
}

/// `POST /p/{slug}`: invites the visitor to the ticked events.
pub(crate) async fn submit(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    WebForm(form): WebForm<SubmitForm>,
) -> Response {
    let page = match load(&state, &slug, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match submit_page(&state, &page, ip, &headers, form).await {
        Ok(r) => r,
        Err(e) => e.lang(lang_of(&page)).into_response(),
    }
}

async fn submit_page(
    state: &AppState,
    page: &PageRecord,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    form: SubmitForm,
) -> Result<Response, WebRejection> {
    csrf::check(state, headers, &purpose(&page.slug), &form.csrf).await?;
    limit(state, Key::Ip(ip), 1)?;
    let codes = distinct(form.event);
    let lang = lang_of(page);
    if !form.website.is_empty() {
        // A filled honeypot: a bot. It is told what a person would be, and
        // nothing is sent.
        tracing::info!("a landing page submit with its honeypot filled was dropped");
        let lines: Vec<Line> = codes
            .iter()
            .map(|c| Line {
                code: c.clone(),
                summary: c.clone(),
                result: Result1::Sent,
            })
            .collect();
        return Ok(answer(page, &lines, lines.len(), false));
    }
    let (address, recipient) = recipient(&form.email, &form.name, lang)?;
    if codes.is_empty() {
        return Ok(answer(page, &[], 0, false));
    }
    let max = state.web().config().max_events_per_submit as usize;
    let n = u32::try_from(codes.len()).unwrap_or(u32::MAX);
    if codes.len() > max {
        if codes.len() > 1_000 {
            return Err(WebRejection::bad_request(
                "too many events at once; nothing was sent",
            ));
        }
        // One confirmation mail: one unit of the address's allowance.
        limit(state, Key::Address(&address), 1)?;
        limit(state, Key::Organizer(page.scope), 1)?;
        send_confirmation(state, page, &address, form.name.trim(), &codes).await?;
        return Ok(answer(page, &[], 0, true));
    }
    limit(state, Key::Address(&address), n)?;
    limit(state, Key::Organizer(page.scope), n)?;
    let lines = invite_all(state, page, &recipient, &codes).await?;
    let sent = lines
        .iter()
        .filter(|l| matches!(l.result, Result1::Sent))
        .count();
    Ok(answer(page, &lines, sent, false))
}

fn hash(token: &str) -> String {
    let d = sha2::Sha256::digest(token.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

async fn send_confirmation(
    state: &AppState,
    page: &PageRecord,
    address: &EmailAddress,
    name: &str,
    codes: &[String],
) -> Result<(), WebRejection> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(unavailable)?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let now = state.now();
    let record = ConfirmRecord {
        slug: page.slug.clone(),
        address: address.as_str().to_owned(),
        name: name.chars().take(200).collect(),
        codes: codes.to_vec(),
        expires_at: now + chrono::TimeDelta::hours(CONFIRM_HOURS),
        used_at: None,
    };
    LandingDb(state.db())
        .insert_confirm(&hash(&token), &record, now)
        .await
        .map_err(unavailable)?;
    let link = format!(
        "{}/confirm/{token}",
        super::api::canonical(state, &page.slug)
    );
    let text = NoticeText::new(
        format!(
            "Confirm your {} invitations: {}",
            codes.len(),
            page.settings.title
        ),
        format!(
            "You (or someone with your address) asked for {} calendar invitations on\n{}\n\n\
             To have them sent, open this link within {CONFIRM_HOURS} hours and press the button:\n\n{link}\n\n\
             If it was not you, do nothing: nothing is sent without it.\n",
            codes.len(),
            super::api::canonical(state, &page.slug),
        ),
    );
    let (envelope, bytes) = match state
        .pipeline()
        .compose_notice(page.scope.owner, address, &text)
        .await
    {
        Ok(m) => m,
        Err(PipelineError::Refused(r)) => {
            return Err(WebRejection::bad_request(format!(
                "nothing was sent: {}",
                r.detail
            )));
        }
        Err(e) => return Err(unavailable(e)),
    };
    state
        .pipeline()
        .transport()
        .send_raw(&envelope, &bytes)
        .await
        .map_err(unavailable)?;
    Ok(())
}

async fn confirmation(
    state: &AppState,
    page: &PageRecord,
    token: &str,
) -> Result<ConfirmRecord, WebRejection> {
    let expired = || WebRejection::not_found(Strings::of(lang_of(page)).confirm_expired);
    let found = LandingDb(state.db())
        .confirm(&hash(token))
        .await
        .map_err(unavailable)?
        .filter(|c| c.slug == page.slug)
        .ok_or_else(expired)?;
    if found.used_at.is_some() || found.expires_at < state.now() {
        return Err(expired());
    }
    Ok(found)
}

fn confirm_purpose(slug: &str) -> String {
    format!("landing-confirm:{slug}")
}

/// `GET /p/{slug}/confirm/{token}`: what will be sent, and a button.
pub(crate) async fn confirm_page(
    State(state): State<AppState>,
    Path((slug, token)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let page = match load(&state, &slug, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let lang = lang_of(&page);
    let c = match confirmation(&state, &page, &token).await {
        Ok(c) => c,
        Err(e) => return e.lang(lang).into_response(),
    };
    let w = Strings::of(lang);
    let issued = csrf::issue(&state, &headers, &confirm_purpose(&slug));
    let body = html! {
        main class="wrap narrow" data-confirm-count=(c.codes.len()) {
            h1 { (page.settings.title) }
            p { (c.address) " — " (c.codes.len()) }
            form method="post" action={"/p/" (slug) "/confirm/" (token)} {
                (issued.field())
                button type="submit" id="send" class="btn btn-primary" { (w.confirm_button) }
            }
        }
    };
    let mut r = Shell::new(lang, &page.settings.title)
        .noindex()
        .render(body);
    issued.attach(&mut r);
    r
}

/// `POST /p/{slug}/confirm/{token}`: sends what the link stands for, once.
pub(crate) async fn confirm_submit(
    State(state): State<AppState>,
    Path((slug, token)): Path<(String, String)>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    WebForm(form): WebForm<ConfirmForm>,
) -> Response {
    let page = match load(&state, &slug, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let lang = lang_of(&page);
    let run = async {
        csrf::check(&state, &headers, &confirm_purpose(&slug), &form.csrf).await?;
        limit(&state, Key::Ip(ip), 1)?;
        let c = confirmation(&state, &page, &token).await?;
        let n = u32::try_from(c.codes.len()).unwrap_or(u32::MAX);
        limit(&state, Key::Organizer(page.scope), n)?;
        if !LandingDb(state.db())
            .use_confirm(&hash(&token), state.now())
            .await
            .map_err(unavailable)?
        {
            return Err(WebRejection::not_found(Strings::of(lang).confirm_expired));
        }
        let (_, recipient) = recipient(&c.address, &c.name, lang)?;
        let lines = invite_all(&state, &page, &recipient, &c.codes).await?;
        let sent = lines
            .iter()
            .filter(|l| matches!(l.result, Result1::Sent))
            .count();
        Ok(answer(&page, &lines, sent, false))
    };
    match run.await {
        Ok(r) => r,
        Err(e) => e.lang(lang).into_response(),
    }
}
