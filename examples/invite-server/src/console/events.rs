//! `GET /console`: the events a console user sees — an organizer its own,
//! a domain owner's administrator every organizer's — with their start
//! (in the event's zone), status and answers so far; filtered by the
//! start's date and (for a domain owner) by organizer, a page at a time.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use calinvite_core::lifecycle::{OrganizerAccount, Store as _};
use chrono::NaiveDate;
use maud::html;
use serde::Deserialize;

use super::{ConsoleUser, page, web_error};
use crate::api::{EventBody, answer_counts, scopes, walk_events};
use crate::extract::{Tenant, encode_cursor};
use crate::state::AppState;
use crate::web::WebRejection;

/// Events per page.
pub(crate) const PAGE: usize = 50;
/// Events looked at for one page, at most (a narrow filter over many
/// events shows fewer and a link to go on).
const SCAN: usize = 2_000;

/// The list's query.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    organizer: String,
    #[serde(default)]
    cursor: String,
}

/// Reads a page's query string (a bad one is a 400 page saying which field).
pub(crate) fn query<T: serde::de::DeserializeOwned>(
    raw: Option<String>,
) -> Result<T, WebRejection> {
    let raw = raw.unwrap_or_default();
    if raw.len() > 4096 {
        return Err(WebRejection::bad_request("the address is too long"));
    }
    crate::web::form::parse(&axum::body::Bytes::from(raw))
}

fn date(field: &str, v: &str) -> Result<Option<NaiveDate>, WebRejection> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| {
            WebRejection::bad_request(format!("{field} must be a date such as 2026-12-31"))
        })
}

/// The local date an event starts on (its `start` begins with it).
fn start_date(e: &EventBody) -> Option<NaiveDate> {
    e.start
        .get(..10)
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
}

/// The start as shown: date, time, zone named.
pub(crate) fn show_start(e: &EventBody) -> String {
    let when = e.start.replacen('T', " ", 1);
    let when = when.strip_suffix(":00").unwrap_or(&when).to_owned();
    match &e.time_zone {
        Some(z) => format!("{when} ({z})"),
        None => format!("{when} (all day)"),
    }
}

/// `GET /console`.
pub(crate) async fn list(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebRejection> {
    let q: ListQuery = query(raw)?;
    let from = date("from", &q.from)?;
    let to = date("to", &q.to)?;
    let caller = &user.caller;
    let owner = matches!(caller.tenant, Tenant::Owner(_));
    let only =
        match q.organizer.trim() {
            "" => None,
            v if owner => Some(v.parse::<u64>().map_err(|_| {
                WebRejection::bad_request("organizer must be an organizer's number")
            })?),
            _ => None,
        };
    let organizers: Vec<OrganizerAccount> = if owner {
        let mut all = state
            .pipeline()
            .store()
            .organizers(caller.owner())
            .await
            .map_err(|_| WebRejection::unavailable())?;
        all.sort_by_key(|a| a.scope);
        all
    } else {
        Vec::new()
    };
    let scopes = scopes(&state, caller, only)
        .await
        .map_err(|e| web_error(&e))?;
    // Walk from the cursor, keeping the events that match, until a page
    // is full or the scan budget is spent.
    let mut rows: Vec<EventBody> = Vec::new();
    let mut cursor = (!q.cursor.is_empty()).then(|| q.cursor.clone());
    let mut scanned = 0usize;
    let mut next: Option<String> = None;
    'walk: loop {
        let (events, after) = walk_events(&state, &scopes, cursor.as_deref(), 200)
            .await
            .map_err(|e| web_error(&e))?;
        let last = events.len().saturating_sub(1);
        for (i, e) in events.iter().enumerate() {
            scanned += 1;
            let here = encode_cursor(&format!("{}:{}", e.scope().organizer.0, e.code()));
            let body = EventBody::new(e, Default::default());
            let d = start_date(&body);
            let fits = from.is_none_or(|f| d.is_some_and(|d| d >= f))
                && to.is_none_or(|t| d.is_some_and(|d| d <= t));
            if fits {
                let counts = answer_counts(&state, e.code())
                    .await
                    .map_err(|e| web_error(&e))?;
                rows.push(EventBody::new(e, counts));
            }
            if rows.len() == PAGE || scanned >= SCAN {
                // A link on only when something may follow.
                if i < last || after.is_some() {
                    next = Some(here);
                }
                break 'walk;
            }
        }
        match after {
            Some(a) => cursor = Some(a),
            None => break,
        }
    }
    let org_name = |id: u64| {
        organizers
            .iter()
            .find(|a| a.scope.organizer.0 == id)
            .map_or_else(|| format!("organizer {id}"), |a| a.name.clone())
    };
    let keep = |cursor: &str| {
        let mut pairs = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("from", &q.from),
            ("to", &q.to),
            ("organizer", &q.organizer),
        ] {
            if !v.is_empty() {
                pairs.append_pair(k, v);
            }
        }
        pairs.append_pair("cursor", cursor);
        format!("/console?{}", pairs.finish())
    };
    let body = html! {
        h1 { "Events" }
        form method="get" action="/console" class="console-filters" role="search"
            aria-label="Filter events" {
            label for="from" { "Starting from" input type="date" id="from" name="from" value=(q.from); }
            label for="to" { "Starting until" input type="date" id="to" name="to" value=(q.to); }
            @if owner {
                label for="organizer" { "Organizer"
                    select id="organizer" name="organizer" {
                        option value="" { "All organizers" }
                        @for a in &organizers {
                            @let id = a.scope.organizer.0.to_string();
                            option value=(id) selected[id == q.organizer.trim()] { (a.name) }
                        }
                    }
                }
            }
            button type="submit" class="btn" { "Show" }
        }
        @if rows.is_empty() {
            p data-empty="events" { "No events match." }
        } @else {
            table class="console-table" {
                caption class="visually-hidden" { "Events and their answers" }
                thead { tr {
                    th scope="col" { "Event" }
                    @if owner { th scope="col" { "Organizer" } }
                    th scope="col" { "Starts" }
                    th scope="col" { "Status" }
                    th scope="col" class="n" { "Yes" }
                    th scope="col" class="n" { "Maybe" }
                    th scope="col" class="n" { "No" }
                    th scope="col" class="n" { "No answer" }
                } }
                tbody {
                    @for e in &rows {
                        tr data-event=(e.code) {
                            th scope="row" { a href={ "/console/events/" (e.code) } { (e.summary) } }
                            @if owner { td { (org_name(e.organizer)) } }
                            td { (show_start(e)) }
                            td { (e.status) }
                            td class="n" { (e.answers.accepted) }
                            td class="n" { (e.answers.tentative) }
                            td class="n" { (e.answers.declined) }
                            td class="n" { (e.answers.no_answer) }
                        }
                    }
                }
            }
        }
        @if let Some(n) = &next {
            p { a href=(keep(n)) rel="next" data-page="next" { "More events" } }
        }
    };
    Ok(page(&state, &headers, &user, "Events — console", body))
}
