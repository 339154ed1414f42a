//! The public pages invitations link to: web answers
//! (`/rsvp/{token}/…`), one-click unsubscribe (`/unsubscribe/{token}`,
//! RFC 8058) and call-to-action links that invite whoever follows them
//! (`/e/{code}`). No GET changes anything: mail scanners follow every link
//! of a message, so each GET shows a page whose button posts the form.

pub mod api;
mod cta;
mod db;
pub mod links;
mod rsvp;
mod strings;
mod unsubscribe;

use axum::Router;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use calinvite_core::lifecycle::{Invitation, Refusal, RefusalReason, Store as _, StoredEvent};
use calinvite_core::{Event, InvitationToken, Schedule};
use chrono::Datelike as _;
use maud::{Markup, html};

use crate::state::AppState;
use crate::web::Lang;
pub(crate) use strings::Strings;

/// The public pages' routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/rsvp/{token}/{answer}", get(rsvp::page))
        .route("/rsvp/{token}", axum::routing::post(rsvp::submit))
        .route(
            "/unsubscribe/{token}",
            get(unsubscribe::page).post(unsubscribe::submit),
        )
        .route("/e/{code}", get(cta::page).post(cta::submit))
}

/// The public pages' tables: each domain owner's call-to-action settings.
pub(crate) const MIGRATION: &[&str] = db::MIGRATION;

/// The invitation a link's token names, with its event.
pub(crate) async fn invitation(
    state: &AppState,
    token: &str,
) -> Result<Option<(Invitation, StoredEvent)>, Response> {
    let Ok(token) = InvitationToken::parse(token) else {
        return Ok(None);
    };
    let store = state.pipeline().store();
    let inv = match store.invitation(&token).await {
        Ok(Some(inv)) => inv,
        Ok(None) => return Ok(None),
        Err(e) => return Err(unavailable(&e)),
    };
    match store.event(inv.scope().owner, inv.code()).await {
        Ok(Some(e)) => Ok(Some((inv, e))),
        Ok(None) => Ok(None),
        Err(e) => Err(unavailable(&e)),
    }
}

/// The page's language: the invitation's recipient's when known, else the
/// browser's.
pub(crate) fn language(headers: &HeaderMap, inv: Option<&Invitation>) -> Lang {
    let preferred = inv
        .and_then(|i| i.recipient().language())
        .and_then(|l| Lang::parse(l.as_str()));
    Lang::negotiate(headers, preferred)
}

/// A 404 page for a link that names nothing.
pub(crate) fn not_found(lang: Lang) -> Response {
    let t = Strings::of(lang);
    crate::web::error_page(
        lang,
        axum::http::StatusCode::NOT_FOUND,
        t.not_found_title,
        t.not_found,
    )
}

/// A 503 page when the database does not answer.
pub(crate) fn unavailable(e: &dyn std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "a public page could not read the database");
    crate::web::error_page(
        Lang::En,
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "Unavailable",
        "The server cannot answer just now; try again in a moment.",
    )
}

/// When `schedule` happens, in its own zone, the zone named.
pub(crate) fn when(schedule: &Schedule, t: &Strings) -> String {
    let day = |d: chrono::NaiveDate| {
        format!(
            "{} {}",
            t.weekdays[d.weekday().num_days_from_monday() as usize],
            d.format("%Y-%m-%d")
        )
    };
    match schedule {
        Schedule::Timed { start, end } => {
            let (s, e) = (start.local(), end.local());
            if start.zone() != end.zone() {
                format!(
                    "{}, {} ({}) – {}, {} ({})",
                    day(s.date()),
                    s.format("%H:%M"),
                    start.zone().name(),
                    day(e.date()),
                    e.format("%H:%M"),
                    end.zone().name()
                )
            } else if s.date() == e.date() {
                format!(
                    "{}, {}–{} ({})",
                    day(s.date()),
                    s.format("%H:%M"),
                    e.format("%H:%M"),
                    start.zone().name()
                )
            } else {
                format!(
                    "{}, {} – {}, {} ({})",
                    day(s.date()),
                    s.format("%H:%M"),
                    day(e.date()),
                    e.format("%H:%M"),
                    start.zone().name()
                )
            }
        }
        Schedule::AllDay { start, end } => {
            let last = end.pred_opt().unwrap_or(*end);
            if last <= *start {
                format!("{} ({})", day(*start), t.all_day)
            } else {
                format!("{} – {} ({})", day(*start), day(last), t.all_day)
            }
        }
        _ => String::new(),
    }
}

/// The event as the pages show it: title, time, place, organizer.
pub(crate) fn event_card(event: &Event, t: &Strings) -> Markup {
    let organizer = event.organizer();
    let who = organizer.name().map_or_else(
        || organizer.address().to_unicode().into_owned(),
        |n| n.as_str().to_owned(),
    );
    html! {
        section.card data-event=(event.code().as_str()) {
            h2 { (event.summary().as_str()) }
            dl {
                dt { (t.when) } dd data-when { (when(event.schedule(), t)) }
                @if let Some(place) = event.location() {
                    dt { (t.location) } dd { (place.as_str()) }
                }
                dt { (t.organizer) } dd { (who) }
            }
        }
    }
}

/// What a refusal means for the person on the page.
pub(crate) fn refusal_text(r: &Refusal, t: &Strings) -> String {
    match r.reason {
        RefusalReason::Suppressed => t.refused_suppressed.to_owned(),
        RefusalReason::EventEnded => t.refused_over.to_owned(),
        RefusalReason::EventCancelled | RefusalReason::CancellationPending => {
            t.refused_cancelled.to_owned()
        }
        _ => format!("{}: {}.", t.refused_other, r.detail),
    }
}
