//! `GET /console/events/{code}`: one event as the organizer's calendar
//! last sent it, the revisions recipients were sent, the recipients (a
//! hundred a page, searched and filtered by answer) and the answers over
//! time. Another tenant's event is not found.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse as _, Response};
use calinvite_core::Keyword as _;
use calinvite_core::lifecycle::{HistoryKind, Invitation, Store as _};
use calinvite_core::{EmailAddress, Sequence};
use maud::{Markup, html};
use serde::Deserialize;

use super::events::{query, show_start};
use super::{ConsoleUser, chart, figures, page, web_error};
use crate::api::{EventBody, answer_keyword, find_event, time};
use crate::extract::{decode_cursor, encode_cursor};
use crate::state::AppState;
use crate::web::WebRejection;

/// Recipients per page.
pub(crate) const PAGE: usize = 100;
/// Recipients looked at for one page, at most.
const SCAN: usize = 5_000;
/// Revisions listed, the latest first.
const REVISIONS: u64 = 50;

/// The answers the status filter offers.
const STATUSES: [(&str, &str); 6] = [
    ("accepted", "Yes"),
    ("tentative", "Maybe"),
    ("declined", "No"),
    ("delegated", "Delegated"),
    ("needs-action", "Not answered (asked)"),
    ("no-answer", "No answer"),
];

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct EventQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    cursor: String,
}

fn unavailable(e: impl std::fmt::Display) -> WebRejection {
    tracing::error!(error = %e, "console: the store failed");
    WebRejection::unavailable()
}

/// How often someone changed their answer to the whole event.
fn changes_of_mind(history: &[calinvite_core::lifecycle::HistoryEntry]) -> u32 {
    let mut last = None;
    let mut changes = 0;
    for h in history {
        if let HistoryKind::Answer {
            status,
            instance: None,
            forwarded_from: None,
            ..
        } = &h.kind
        {
            if last.is_some_and(|l| l != *status) {
                changes += 1;
            }
            last = Some(*status);
        }
    }
    changes
}

/// `GET /console/events/{code}`.
pub(crate) async fn page_handler(
    state: AppState,
    user: ConsoleUser,
    headers: HeaderMap,
    code: String,
    raw: Option<String>,
) -> Result<Response, WebRejection> {
    let q: EventQuery = query(raw)?;
    let event = find_event(&state, &user.caller, &code)
        .await
        .map_err(|e| web_error(&e))?;
    let status = match q.status.trim() {
        "" => None,
        s if STATUSES.iter().any(|(k, _)| *k == s) => Some(s.to_owned()),
        _ => {
            return Err(WebRejection::bad_request(
                "status is not one of the answers listed",
            ));
        }
    };
    let needle = q.q.trim().to_lowercase();
    let counts = figures::answer_counts(state.db(), event.code())
        .await
        .map_err(unavailable)?;
    let body = EventBody::new(&event, counts);
    let store = state.pipeline().store();

    // Revisions recipients were sent, latest first.
    let sent = event.sent_sequence().get();
    let mut revisions = Vec::new();
    for n in (sent.saturating_sub(REVISIONS - 1)..=sent).rev() {
        if let Some(ev) = store
            .revision(event.code(), Sequence::new(n))
            .await
            .map_err(unavailable)?
        {
            let (start, _, zone) = time::show(ev.schedule());
            revisions.push((
                n,
                ev.summary().as_str().to_owned(),
                format!(
                    "{} ({})",
                    start.replacen('T', " ", 1),
                    zone.unwrap_or_else(|| "all day".into())
                ),
                ev.status().keyword().to_owned(),
            ));
        }
    }

    // The recipients: from the cursor (the last address looked at), those
    // that match, a page at a time.
    let mut after = match decode_cursor((!q.cursor.is_empty()).then_some(q.cursor.as_str()))
        .map_err(|e| web_error(&e))?
    {
        Some(a) => {
            let addr = EmailAddress::parse(&a)
                .map_err(|_| WebRejection::bad_request("the page link is damaged"))?;
            let inv = store
                .invitation_for(event.code(), &addr)
                .await
                .map_err(unavailable)?
                .ok_or_else(|| WebRejection::bad_request("the page link is damaged"))?;
            Some(inv.token().clone())
        }
        None => None,
    };
    let keep = |i: &Invitation| {
        status
            .as_deref()
            .is_none_or(|s| answer_keyword(i.status()) == s)
            && (needle.is_empty()
                || i.recipient()
                    .address()
                    .as_str()
                    .to_lowercase()
                    .contains(&needle)
                || i.recipient()
                    .name()
                    .is_some_and(|n| n.as_str().to_lowercase().contains(&needle)))
    };
    let mut rows: Vec<Invitation> = Vec::new();
    let mut scanned = 0usize;
    let mut next: Option<String> = None;
    'scan: loop {
        let batch = store
            .invitations(event.code(), after.as_ref(), 200)
            .await
            .map_err(unavailable)?;
        let full = batch.len() == 200;
        for inv in batch {
            scanned += 1;
            after = Some(inv.token().clone());
            let here = inv.recipient().address().as_str().to_owned();
            if keep(&inv) {
                rows.push(inv);
            }
            if rows.len() == PAGE || scanned >= SCAN {
                let rest = store
                    .invitations(event.code(), after.as_ref(), 1)
                    .await
                    .map_err(unavailable)?;
                if !rest.is_empty() {
                    next = Some(encode_cursor(&here));
                }
                break 'scan;
            }
        }
        if !full {
            break;
        }
    }
    let tokens: Vec<_> = rows.iter().map(|i| i.token().clone()).collect();
    let histories = figures::answer_histories(state.db(), &tokens)
        .await
        .map_err(unavailable)?;
    let changes: Vec<u32> = rows
        .iter()
        .map(|i| histories.get(i.token()).map_or(0, |h| changes_of_mind(h)))
        .collect();
    let per_day = answers_per_day(&state, &event).await?;

    let next_link = next.map(|c| {
        let mut pairs = form_urlencoded::Serializer::new(String::new());
        if !q.q.is_empty() {
            pairs.append_pair("q", &q.q);
        }
        if !q.status.is_empty() {
            pairs.append_pair("status", &q.status);
        }
        pairs.append_pair("cursor", &c);
        format!(
            "/console/events/{}?{}#recipients",
            body.code,
            pairs.finish()
        )
    });
    let html = html! {
        p { a href="/console" { "← All events" } }
        h1 data-event-page=(body.code) { (body.summary) }
        (details(&body))
        p { a class="btn" href={ "/console/events/" (body.code) "/lists" } data-send-list="" { "Send to a list" }
            " " a class="btn" href={ "/console/events/" (body.code) "/report" } data-report-link="" { "Report" }
            " " a class="btn" href={ "/console/cta?event=" (body.code) } data-cta-link="" { "Call-to-action link" } }
        h2 { "Answers" }
        p data-answers="" {
            "Yes " strong data-answer-count="accepted" { (body.answers.accepted) }
            " · Maybe " strong data-answer-count="tentative" { (body.answers.tentative) }
            " · No " strong data-answer-count="declined" { (body.answers.declined) }
            " · No answer " strong data-answer-count="no-answer" { (body.answers.no_answer) }
            " — of " span data-answer-count="invitations" { (body.answers.invitations) } " invited"
        }
        (chart::answers(&per_day))
        p { a href={ "/console/events/" (body.code) "/chart.svg" } { "The chart as an image" } }
        h2 { "Revisions sent" }
        @if revisions.is_empty() {
            p { "None sent yet." }
        } @else {
            table class="console-table" data-revisions=(revisions.len()) {
                caption class="visually-hidden" { "Revisions, the latest first" }
                thead { tr {
                    th scope="col" class="n" { "Sequence" } th scope="col" { "Title" }
                    th scope="col" { "Starts" } th scope="col" { "Status" }
                } }
                tbody {
                    @for (n, summary, start, st) in &revisions {
                        tr data-revision=(n) {
                            td class="n" { (n) } td { (summary) } td { (start) } td { (st) }
                        }
                    }
                }
            }
        }
        h2 id="recipients" { "Recipients" }
        form method="get" action={ "/console/events/" (body.code) "#recipients" }
            class="console-filters" role="search" aria-label="Search recipients" {
            label for="q" { "Address or name" input type="search" id="q" name="q" value=(q.q); }
            label for="status" { "Answer"
                select id="status" name="status" {
                    option value="" { "Any answer" }
                    @for (k, label) in STATUSES {
                        option value=(k) selected[q.status.trim() == k] { (label) }
                    }
                }
            }
            button type="submit" class="btn" { "Search" }
        }
        @if rows.is_empty() {
            p data-empty="recipients" { "No recipients match." }
        } @else {
            table class="console-table" {
                caption class="visually-hidden" { "Recipients and their answers" }
                thead { tr {
                    th scope="col" { "Address" } th scope="col" { "Answer" }
                    th scope="col" { "Answered" } th scope="col" class="n" { "Changes of mind" }
                    th scope="col" { "Delivery" }
                } }
                tbody {
                    @for (inv, ch) in rows.iter().zip(&changes) {
                        tr data-recipient=(inv.recipient().address().as_str()) {
                            th scope="row" {
                                (inv.recipient().address().as_str())
                                @if let Some(n) = inv.recipient().name() {
                                    br; span class="muted" { (n.as_str()) }
                                }
                            }
                            td { (answer_keyword(inv.status())) }
                            td { @if let Some(t) = inv.answered_at() {
                                time datetime=(t.to_rfc3339()) { (t.format("%Y-%m-%d %H:%M UTC")) }
                            } }
                            td class="n" { (ch) }
                            td { (inv.delivery().keyword()) }
                        }
                    }
                }
            }
        }
        @if let Some(l) = &next_link {
            p { a href=(l) rel="next" data-page="next" { "More recipients" } }
        }
    };
    Ok(page(
        &state,
        &headers,
        &user,
        &format!("{} — console", body.summary),
        html,
    ))
}

/// The event's details.
fn details(e: &EventBody) -> Markup {
    html! {
        dl class="card" data-details=(e.code) {
            dt { "Starts" } dd { (show_start(e)) }
            dt { "Ends" } dd { (e.end.replacen('T', " ", 1)) }
            @if let Some(l) = &e.location { dt { "Where" } dd { (l) } }
            @if let Some(u) = &e.url { dt { "Web page" } dd { (u) } }
            dt { "Status" } dd { (e.status) @if e.cancelled { " (cancelled)" } }
            dt { "Revision recipients hold" } dd { (e.sequence) }
            dt { "From" } dd { @if e.from_calendar { "the organizer's calendar" } @else { "the API" } }
            @if e.recurring { dt { "Repeats" } dd { "yes" } }
            @if let Some(d) = &e.description { dt { "Description" } dd { (d) } }
        }
    }
}

/// How many answers came each day (UTC), forwarded copies' left out: the
/// chart's numbers.
async fn answers_per_day(
    state: &AppState,
    event: &calinvite_core::lifecycle::StoredEvent,
) -> Result<std::collections::BTreeMap<chrono::NaiveDate, u64>, WebRejection> {
    figures::answers_per_day(state.db(), event.code())
        .await
        .map_err(unavailable)
}

/// `GET /console/events/{code}/chart.svg`: the answers-over-time chart
/// alone, as an SVG image.
pub(crate) async fn chart_route(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(code): Path<String>,
) -> Result<Response, WebRejection> {
    let event = find_event(&state, &user.caller, &code)
        .await
        .map_err(|e| web_error(&e))?;
    let per_day = answers_per_day(&state, &event).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; frame-ancestors 'none'",
            ),
        ],
        chart::document(&per_day),
    )
        .into_response())
}

/// The route's handler.
pub(crate) async fn page_route(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(code): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebRejection> {
    page_handler(state, user, headers, code, raw).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use calinvite_core::ParticipationStatus as P;
    use calinvite_core::lifecycle::HistoryEntry;
    use calinvite_core::{InvitationToken, OccurrenceId};

    fn answer(status: P, instance: Option<OccurrenceId>) -> HistoryEntry {
        HistoryEntry::new(
            InvitationToken::generate(&calinvite_core::SequentialIds::new(7)),
            chrono::DateTime::UNIX_EPOCH,
            HistoryKind::Answer {
                status,
                instance,
                comment: None,
                sequence: Sequence::INITIAL,
                forwarded_from: None,
                sent_by: None,
                late: false,
                web: false,
            },
        )
    }

    #[test]
    fn changes_of_mind_count_whole_event_answers_that_differ() {
        assert_eq!(changes_of_mind(&[]), 0);
        let day = OccurrenceId::On(chrono::NaiveDate::from_ymd_opt(2036, 1, 1).unwrap());
        let h = [
            answer(P::Accepted, None),
            answer(P::Accepted, None),
            answer(P::Declined, Some(day)),
            answer(P::Declined, None),
            answer(P::Tentative, None),
        ];
        assert_eq!(changes_of_mind(&h), 2);
    }
}
