//! Call-to-action links: `GET /e/{code}?email=…&name=…&sig=…` — a link in
//! a newsletter, a site or an ESP campaign — shows what will be sent to
//! whom and a button; `POST /e/{code}` sends the invitation (source
//! `call-to-action`). The code alone names the event, whichever tenant it
//! belongs to.
//!
//! A link may be signed for its address: `sig` is the base64url
//! HMAC-SHA256, under the domain owner's secret, of the event code, a line
//! feed and the address in lower case. A signature that does not match the
//! address is refused (403), and a domain owner may require one on every
//! link (`PATCH /v1/owner/cta`).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use calinvite_core::lifecycle::{Outcome, Scope, StoredEvent};
use calinvite_core::{EmailAddress, EventCode, InvitationSource, LanguageTag, Recipient};
use hmac::{KeyInit as _, Mac as _};
use maud::{Markup, html};
use serde::Deserialize;

use super::{Strings, event_card, language, not_found, refusal_text, unavailable};
use crate::state::AppState;
use crate::web::client::ClientIp;
use crate::web::{Key, Lang, Shell, WebForm, WebRejection, csrf, honeypot};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

const PURPOSE: &str = "cta";
/// Longest name kept from a link or the form.
const MAX_NAME: usize = 200;

/// The signature of a link for `address` to event `code`.
pub(crate) fn sign(secret: &str, code: &EventCode, address: &str) -> String {
    URL_SAFE_NO_PAD.encode(mac(secret, code, address).finalize().into_bytes())
}

fn mac(secret: &str, code: &EventCode, address: &str) -> HmacSha256 {
    let key = URL_SAFE_NO_PAD.decode(secret).unwrap_or_default();
    let mut m = HmacSha256::new_from_slice(&key).expect("HMAC takes any key length");
    m.update(code.as_str().as_bytes());
    m.update(b"\n");
    m.update(address.trim().to_lowercase().as_bytes());
    m
}

/// Whether `sig` signs `address` for `code` (compared in constant time).
pub(crate) fn verify(secret: &str, code: &EventCode, address: &str, sig: &str) -> bool {
    let sig = sig.trim().trim_end_matches('=');
    URL_SAFE_NO_PAD
        .decode(sig)
        .is_ok_and(|raw| mac(secret, code, address).verify_slice(&raw).is_ok())
}

/// Whether `text` is a mailing tool's placeholder left unreplaced
/// (`*|EMAIL|*`, `{{email}}`, `{{ email }}`, `[email]`, `-email-`, `%%…%%`).
pub(crate) fn is_merge_tag(text: &str) -> bool {
    let t = text.trim();
    t.contains("*|")
        || t.contains("|*")
        || t.contains("{{")
        || t.contains("}}")
        || t.contains("{%")
        || t.contains("%%")
        || (t.starts_with('[') && t.ends_with(']'))
        || (t.starts_with('-') && t.ends_with('-') && !t.contains('@'))
}

/// An address from a link: a `+` a mailing tool left unencoded arrives as
/// a space, which no address holds.
fn address_of(text: &str) -> Option<EmailAddress> {
    let t = text.trim().replace(' ', "+");
    if t.is_empty() || is_merge_tag(&t) {
        return None;
    }
    EmailAddress::parse(&t).ok()
}

fn name_of(text: &str) -> Option<String> {
    let n: String = text
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME)
        .collect();
    (!n.is_empty() && !is_merge_tag(&n)).then_some(n)
}

/// The query of a call-to-action link.
#[derive(Debug, Default, Deserialize)]
pub(super) struct LinkQuery {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    sig: Option<String>,
}

/// The event `code` names, with its tenant; `None` when there is none.
async fn resolve(
    state: &AppState,
    code: &str,
) -> Result<Option<(EventCode, StoredEvent)>, Response> {
    let Ok(code) = EventCode::parse(code) else {
        return Ok(None);
    };
    let scope = match super::db::event_scope(state.db(), &code).await {
        Ok(Some(s)) => s,
        Ok(None) => return Ok(None),
        Err(e) => return Err(unavailable(&e)),
    };
    use calinvite_core::lifecycle::Store as _;
    match state.pipeline().store().event(scope.owner, &code).await {
        Ok(e) => Ok(e.map(|e| (code, e))),
        Err(e) => Err(unavailable(&e)),
    }
}

/// Why the link's signature does not allow sending to `address`, if it
/// does not.
async fn signature_problem(
    state: &AppState,
    scope: Scope,
    code: &EventCode,
    address: Option<&str>,
    sig: Option<&str>,
    t: &Strings,
) -> Result<Option<&'static str>, Response> {
    let sig = sig.map(str::trim).filter(|s| !s.is_empty());
    let settings = match super::db::find(state.db(), scope.owner).await {
        Ok(s) => s,
        Err(e) => return Err(unavailable(&e)),
    };
    let required = settings.as_ref().is_some_and(|s| s.signed_only);
    Ok(match (sig, settings) {
        (None, _) if required => Some(t.cta_signature_required),
        (None, _) => None,
        (Some(sig), Some(s)) => match address {
            Some(a) if verify(&s.secret, code, a, sig) => None,
            _ => Some(t.cta_wrong_signature),
        },
        (Some(_), None) => Some(t.cta_wrong_signature),
    })
}

fn refused_page(
    lang: Lang,
    status: StatusCode,
    event: &StoredEvent,
    reason: &str,
    text: &str,
) -> Response {
    let t = Strings::of(lang);
    let body = html! {
        main id="main" class="wrap" data-sent="0" data-refused=(reason) {
            h1 { (t.cta_title) }
            (event_card(event.latest(), t))
            p.card role="alert" { (text) }
        }
    };
    Shell::new(lang, t.cta_title)
        .noindex()
        .status(status)
        .render(body)
}

/// Why the event takes no one new, if it does not.
fn closed(
    state: &AppState,
    event: &StoredEvent,
    t: &Strings,
) -> Option<(&'static str, &'static str)> {
    if event.cancelled() {
        Some(("event-cancelled", t.refused_cancelled))
    } else if event
        .latest()
        .ends_at()
        .is_some_and(|end| end <= state.now())
    {
        Some(("event-ended", t.refused_over))
    } else {
        None
    }
}

fn form(
    code: &EventCode,
    issued: &csrf::Issued,
    address: Option<&EmailAddress>,
    name: Option<&str>,
    sig: Option<&str>,
    t: &Strings,
) -> Markup {
    html! {
        form.card method="post" action=(format!("/e/{}", code.as_str())) {
            (issued.field())
            (honeypot())
            @if let Some(sig) = sig { input type="hidden" name="sig" value=(sig); }
            @match address {
                Some(a) => {
                    input type="hidden" name="email" value=(a.as_str());
                    @if let Some(n) = name { input type="hidden" name="name" value=(n); }
                    p { (t.cta_to) " " strong data-address { (a.to_unicode()) }
                        @if let Some(n) = name { " (" (n) ")" } }
                }
                None => {
                    label for="email" { (t.cta_address) }
                    input type="email" id="email" name="email" required autocomplete="email" value="";
                    label for="name" { (t.cta_name) }
                    input type="text" id="name" name="name" autocomplete="name" value=(name.unwrap_or(""));
                }
            }
            button.btn.btn-primary type="submit" id="send" { (t.cta_button) }
        }
    }
}

/// `GET /e/{code}`: what will be sent to whom; nothing is sent.
pub(super) async fn page(
    State(state): State<AppState>,
    Path(code): Path<String>,
    query: Result<Query<LinkQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let lang = language(&headers, None);
    let t = Strings::of(lang);
    let (code, event) = match resolve(&state, &code).await {
        Ok(Some(f)) => f,
        Ok(None) => return not_found(lang),
        Err(r) => return r,
    };
    let q = query.map(|Query(q)| q).unwrap_or_default();
    if let Some((reason, text)) = closed(&state, &event, t) {
        return refused_page(lang, StatusCode::GONE, &event, reason, text);
    }
    let raw = q.email.as_deref().unwrap_or("");
    let address = address_of(raw);
    let sig = q.sig.as_deref().map(str::trim).filter(|s| !s.is_empty());
    match signature_problem(
        &state,
        event.scope(),
        &code,
        address.as_ref().map(EmailAddress::as_str),
        sig,
        t,
    )
    .await
    {
        Ok(None) => {}
        Ok(Some(why)) => {
            return refused_page(lang, StatusCode::FORBIDDEN, &event, "signature", why);
        }
        Err(r) => return r,
    }
    let name = q.name.as_deref().and_then(name_of);
    let issued = csrf::issue(&state, &headers, PURPOSE);
    let note = match (&address, raw.trim()) {
        (Some(_), _) => None,
        (None, r) if !r.is_empty() && is_merge_tag(r) => Some(t.cta_merge_tag),
        (None, r) if !r.is_empty() => Some(t.cta_bad_address),
        (None, _) => Some(t.cta_need_address),
    };
    let body = html! {
        main id="main" class="wrap" data-page="cta" data-address-needed=[address.is_none().then_some("1")] {
            h1 { (t.cta_title) }
            (event_card(event.latest(), t))
            @if let Some(n) = note { p role="status" data-note { (n) } }
            (form(&code, &issued, address.as_ref(), name.as_deref(), sig, t))
        }
    };
    let mut r = Shell::new(lang, t.cta_title).noindex().render(body);
    issued.attach(&mut r);
    r
}

/// The fields of the call-to-action form.
#[derive(Debug, Deserialize)]
pub(super) struct CtaForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    sig: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    website: String,
}

fn sent_page(lang: Lang, event: &StoredEvent, address: &EmailAddress, new: bool) -> Response {
    let t = Strings::of(lang);
    let body = html! {
        main id="main" class="wrap" data-sent=(if new { "1" } else { "0" }) {
            h1 { (t.cta_title) }
            p.card role="status" {
                (if new { t.cta_sent } else { t.cta_already }) " " strong { (address.to_unicode()) }
            }
            (event_card(event.latest(), t))
        }
    };
    Shell::new(lang, t.cta_title).noindex().render(body)
}

/// `POST /e/{code}`: sends the invitation.
pub(super) async fn submit(
    State(state): State<AppState>,
    Path(code): Path<String>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    WebForm(f): WebForm<CtaForm>,
) -> Response {
    let lang = language(&headers, None);
    let t = Strings::of(lang);
    let (code, event) = match resolve(&state, &code).await {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(lang),
        Err(r) => return r,
    };
    if let Err(e) = csrf::check(&state, &headers, PURPOSE, &f.csrf).await {
        return e.lang(lang).into_response();
    }
    let now = state.now();
    let limits = state.web().limits();
    if let Err(e) = limits.check(Key::Ip(ip), 1, now) {
        return WebRejection::from(e).lang(lang).into_response();
    }
    let Some(address) = address_of(&f.email) else {
        return WebRejection::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{}: {:?}", t.cta_bad_address, f.email.trim()),
        )
        .lang(lang)
        .into_response();
    };
    if !f.website.is_empty() {
        // A robot filled the hidden field: it is told it worked.
        return sent_page(lang, &event, &address, true);
    }
    let sig = Some(f.sig.trim()).filter(|s| !s.is_empty());
    match signature_problem(&state, event.scope(), &code, Some(address.as_str()), sig, t).await {
        Ok(None) => {}
        Ok(Some(why)) => {
            return refused_page(lang, StatusCode::FORBIDDEN, &event, "signature", why);
        }
        Err(r) => return r,
    }
    for key in [Key::Address(&address), Key::Organizer(event.scope())] {
        if let Err(e) = limits.check(key, 1, now) {
            return WebRejection::from(e).lang(lang).into_response();
        }
    }
    let mut recipient = Recipient::new(address.clone());
    if let Some(n) = name_of(&f.name) {
        recipient = recipient.with_name(n);
    }
    if let Ok(tag) = LanguageTag::parse(lang.tag()) {
        recipient = recipient.with_language(tag);
    }
    let outcome = state
        .pipeline()
        .invite(
            event.scope(),
            &code,
            recipient,
            InvitationSource::CallToAction,
        )
        .await;
    match outcome {
        Ok(Outcome::Invited(_)) => sent_page(lang, &event, &address, true),
        Ok(Outcome::AlreadyInvited(_)) => sent_page(lang, &event, &address, false),
        Ok(Outcome::Refused(r)) => refused_page(
            lang,
            StatusCode::CONFLICT,
            &event,
            r.reason.as_str(),
            &refusal_text(&r, t),
        ),
        Ok(_) => sent_page(lang, &event, &address, true),
        Err(e) => unavailable(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_not_addresses() {
        for tag in [
            "*|EMAIL|*",
            "{{email}}",
            "{{ email }}",
            "[email]",
            "-email-",
            "%%emailaddr%%",
        ] {
            assert!(is_merge_tag(tag), "{tag}");
            assert_eq!(address_of(tag), None, "{tag}");
        }
        assert!(!is_merge_tag("ana@example.org"));
        assert!(!is_merge_tag("-ana-@example.org"));
        assert_eq!(
            address_of("ana tickets@example.org").map(|a| a.as_str().to_owned()),
            Some("ana+tickets@example.org".into())
        );
    }

    #[test]
    fn a_signature_holds_for_its_address_only_in_any_case() {
        let code = EventCode::parse("d9tjx1sggvqckx3n").expect("code");
        let secret = URL_SAFE_NO_PAD.encode([7u8; 32]);
        let sig = sign(&secret, &code, "Ana@Example.org");
        assert!(verify(&secret, &code, "ana@example.org", &sig));
        assert!(verify(
            &secret,
            &code,
            " ANA@EXAMPLE.ORG ",
            &format!("{sig}=")
        ));
        assert!(!verify(&secret, &code, "bob@example.org", &sig));
        let other = EventCode::parse("d9tjx1sggvqckx3m").expect("code");
        assert!(!verify(&secret, &other, "ana@example.org", &sig));
        assert!(!verify(
            &URL_SAFE_NO_PAD.encode([8u8; 32]),
            &code,
            "ana@example.org",
            &sig
        ));
        assert!(!verify(&secret, &code, "ana@example.org", "not base64!"));
    }
}
