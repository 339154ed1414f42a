//! Web answers: `GET /rsvp/{token}/{accept|tentative|decline}` shows the
//! event and three buttons (the one clicked in the mail highlighted) and
//! records nothing; `POST /rsvp/{token}` records the answer through the
//! pipeline exactly as a mailed REPLY would be (history, late answers,
//! webhooks). A recurring event's next occurrences can be answered one by
//! one (`occurrence`, the instance's RECURRENCE-ID value).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use calinvite_core::lifecycle::{Invitation, Outcome, StoredEvent};
use calinvite_core::{Keyword as _, OccurrenceId, ParticipationStatus};
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use maud::{Markup, html};
use serde::Deserialize;

use super::{Strings, event_card, invitation, language, not_found, refusal_text, unavailable};
use crate::state::AppState;
use crate::web::client::ClientIp;
use crate::web::{Key, Lang, Shell, WebForm, WebRejection, csrf, honeypot};

/// Form purpose of the answer buttons.
const PURPOSE: &str = "rsvp";
/// Occurrences of a recurring event offered: the next ten, however far
/// ahead the series starts (the expansion itself is bounded), within thirty
/// years.
const OCCURRENCES: usize = 10;
const AHEAD_DAYS: i64 = 366 * 30;

/// The answer a link or button names.
fn answer_of(word: &str) -> Option<ParticipationStatus> {
    match word {
        "accept" | "accepted" => Some(ParticipationStatus::Accepted),
        "tentative" => Some(ParticipationStatus::Tentative),
        "decline" | "declined" => Some(ParticipationStatus::Declined),
        _ => None,
    }
}

fn label(status: Option<ParticipationStatus>, t: &Strings) -> &'static str {
    match status {
        Some(ParticipationStatus::Accepted) => t.yes,
        Some(ParticipationStatus::Tentative) => t.maybe,
        Some(ParticipationStatus::Declined) => t.no,
        _ => t.no_answer_yet,
    }
}

/// An occurrence as a form value: RECURRENCE-ID's form, in UTC.
pub(crate) fn occurrence_value(id: &OccurrenceId) -> String {
    match id {
        OccurrenceId::At(t) => t.format("%Y%m%dT%H%M%SZ").to_string(),
        OccurrenceId::On(d) => d.format("%Y%m%d").to_string(),
    }
}

/// Reads an occurrence value: `YYYYMMDDTHHMMSSZ`, `YYYYMMDD`, an RFC 3339
/// instant or an ISO date.
pub(crate) fn parse_occurrence(s: &str) -> Option<OccurrenceId> {
    let s = s.trim();
    if let Some(body) = s.strip_suffix('Z')
        && let Ok(t) = NaiveDateTime::parse_from_str(body, "%Y%m%dT%H%M%S")
    {
        return Some(OccurrenceId::At(t.and_utc()));
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(OccurrenceId::At(t.to_utc()));
    }
    NaiveDate::parse_from_str(s, "%Y%m%d")
        .or_else(|_| NaiveDate::parse_from_str(s, "%Y-%m-%d"))
        .ok()
        .map(OccurrenceId::On)
}

/// The three buttons, `chosen` highlighted (and, when `clicked`, marked as
/// the one clicked in the mail and focused).
fn buttons(chosen: Option<ParticipationStatus>, clicked: bool, t: &Strings) -> Markup {
    let choices = [
        (ParticipationStatus::Accepted, t.yes),
        (ParticipationStatus::Tentative, t.maybe),
        (ParticipationStatus::Declined, t.no),
    ];
    html! {
        div.choices {
            @for (status, text) in choices {
                @let on = chosen == Some(status);
                button type="submit" name="answer" value=(status.keyword())
                    class=(if on { "btn btn-primary" } else { "btn" })
                    data-chosen=[(on && clicked).then_some("1")]
                    autofocus[on && clicked] { (text) }
            }
        }
    }
}

/// `GET /rsvp/{token}/{answer}`: the event and the buttons; nothing recorded.
pub(super) async fn page(
    State(state): State<AppState>,
    Path((token, clicked)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let found = match invitation(&state, &token).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let (Some((inv, event)), Some(clicked)) = (found, answer_of(&clicked)) else {
        return not_found(language(&headers, None));
    };
    let lang = language(&headers, Some(&inv));
    let t = Strings::of(lang);
    let issued = csrf::issue(&state, &headers, PURPOSE);
    let action = format!("/rsvp/{}", inv.token().as_str());
    let now = state.now();
    let upcoming = calinvite_core::occurrences::upcoming(
        event.latest(),
        now,
        now + TimeDelta::days(AHEAD_DAYS),
        OCCURRENCES,
    );
    let body = html! {
        main id="main" class="wrap" data-page="rsvp"
            data-current=(inv.status().map_or("none", |s| s.keyword())) {
            h1 { (t.answer_title) }
            (event_card(event.latest(), t))
            p data-current-answer { strong { (t.your_answer) ": " } (label(inv.status(), t)) }
            form.card method="post" action=(action) {
                (issued.field())
                (honeypot())
                @if !upcoming.is_empty() { h2 { (t.whole_series) } }
                p { (t.answer_intro) }
                (buttons(Some(clicked), true, t))
                p.muted { (t.nothing_recorded) }
            }
            @if !upcoming.is_empty() {
                section.card data-occurrences=(upcoming.len()) {
                    h2 { (t.occurrences) }
                    p { (t.occurrences_intro) }
                    @for id in &upcoming {
                        (occurrence_form(&inv, &event, id, &action, &issued, t))
                    }
                }
            }
        }
    };
    let mut r = Shell::new(lang, t.answer_title).noindex().render(body);
    issued.attach(&mut r);
    r
}

fn occurrence_form(
    inv: &Invitation,
    event: &StoredEvent,
    id: &OccurrenceId,
    action: &str,
    issued: &csrf::Issued,
    t: &Strings,
) -> Markup {
    let schedule = calinvite_core::occurrences::schedule_of(event.latest(), id);
    let current = inv.answer_for(Some(*id));
    html! {
        form method="post" action=(action) data-occurrence=(occurrence_value(id)) {
            (issued.field())
            input type="hidden" name="occurrence" value=(occurrence_value(id));
            p { strong { (super::when(&schedule, t)) } " — " span.muted { (label(current, t)) } }
            (buttons(current, false, t))
        }
    }
}

/// The fields of the answer form.
#[derive(Debug, Deserialize)]
pub(super) struct AnswerForm {
    #[serde(default)]
    answer: String,
    #[serde(default)]
    occurrence: Option<String>,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    website: String,
}

/// `POST /rsvp/{token}`: records the answer.
pub(super) async fn submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    WebForm(form): WebForm<AnswerForm>,
) -> Response {
    let found = match invitation(&state, &token).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Some((inv, event)) = found else {
        return not_found(language(&headers, None));
    };
    let lang = language(&headers, Some(&inv));
    let t = Strings::of(lang);
    if let Err(e) = csrf::check(&state, &headers, PURPOSE, &form.csrf).await {
        return e.lang(lang).into_response();
    }
    if let Err(e) = state.web().limits().check(Key::Ip(ip), 1, state.now()) {
        return WebRejection::from(e).lang(lang).into_response();
    }
    let Some(status) = answer_of(&form.answer) else {
        return WebRejection::bad_request("the answer must be accepted, tentative or declined")
            .lang(lang)
            .into_response();
    };
    let instance = match form.occurrence.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(v) => match parse_occurrence(v) {
            Some(id) => Some(id),
            None => {
                return WebRejection::bad_request(
                    "the occurrence is not a date (YYYYMMDD) or a UTC time (YYYYMMDDTHHMMSSZ)",
                )
                .lang(lang)
                .into_response();
            }
        },
    };
    if !form.website.is_empty() {
        return answered(lang, &inv, &event, status, instance, true);
    }
    let owner = inv.scope().owner;
    let p = state.pipeline();
    let outcome = match instance {
        None => p.web_answer(owner, inv.token(), status).await,
        Some(id) => p.web_answer_instance(owner, inv.token(), status, id).await,
    };
    match outcome {
        Ok(Outcome::AnswerRecorded(_)) => {
            // Whether it counts: a late answer may be kept in the history only.
            let applied = match super::invitation(&state, &token).await {
                Ok(Some((now, _))) => now.answer_for(instance) == Some(status),
                _ => true,
            };
            answered(lang, &inv, &event, status, instance, applied)
        }
        Ok(Outcome::Refused(r)) => {
            let body = html! {
                main id="main" class="wrap" data-refused=(r.reason.as_str()) {
                    h1 { (t.refused_title) }
                    (event_card(event.latest(), t))
                    p.card role="alert" { (refusal_text(&r, t)) }
                }
            };
            Shell::new(lang, t.refused_title)
                .noindex()
                .status(StatusCode::CONFLICT)
                .render(body)
        }
        Ok(_) => answered(lang, &inv, &event, status, instance, true),
        Err(e) => unavailable(&e),
    }
}

/// The page after an answer.
fn answered(
    lang: Lang,
    inv: &Invitation,
    event: &StoredEvent,
    status: ParticipationStatus,
    instance: Option<OccurrenceId>,
    applied: bool,
) -> Response {
    let t = Strings::of(lang);
    let again = format!("/rsvp/{}/accept", inv.token().as_str());
    let body = html! {
        main id="main" class="wrap" data-answer=(status.keyword())
            data-applied=(if applied { "1" } else { "0" })
            data-occurrence=[instance.as_ref().map(occurrence_value)] {
            h1 { (t.recorded) ": " (label(Some(status), t)) }
            @if let Some(id) = &instance {
                p { (super::when(&calinvite_core::occurrences::schedule_of(event.latest(), id), t)) }
            }
            (event_card(event.latest(), t))
            @if !applied { p.card role="status" { (t.recorded_not_applied) } }
            p { a href=(again) { (t.change_answer) } }
        }
    };
    Shell::new(lang, t.recorded).noindex().render(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn occurrence_values_read_back() {
        let at = OccurrenceId::At(chrono::Utc.with_ymd_and_hms(2026, 3, 9, 18, 0, 0).unwrap());
        let on = OccurrenceId::On(NaiveDate::from_ymd_opt(2026, 3, 9).unwrap());
        assert_eq!(occurrence_value(&at), "20260309T180000Z");
        assert_eq!(parse_occurrence("20260309T180000Z"), Some(at));
        assert_eq!(parse_occurrence("2026-03-09T19:00:00+01:00"), Some(at));
        assert_eq!(parse_occurrence(&occurrence_value(&on)), Some(on));
        assert_eq!(parse_occurrence("2026-03-09"), Some(on));
        assert_eq!(parse_occurrence("20260309T180000"), None, "floating");
        assert_eq!(parse_occurrence("soon"), None);
    }
}
