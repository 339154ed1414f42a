//! Sending an event to a list from the console.
//!
//! `GET /console/events/{code}/lists` offers a form for the list (CSV with
//! a header row naming an address column: a file chosen, or the text
//! pasted; `multipart/form-data`, read whole within the upload limit
//! before any part is, so it works without JavaScript) and lists the event's
//! lists so far. Its button asks for a dry run
//! (`POST …/lists/preview`): every row's verdict as the core would give it
//! now — invalid (with why), duplicate, already invited, suppressed, the
//! owner's own address … — with nothing recorded or queued. Only the dry
//! run's "Send" button (`POST …/lists`) starts the list's job, through the
//! API layer's upload ([`crate::api::lists::store_list`]).
//!
//! `GET /console/lists/{id}` shows where a list stands and refreshes itself
//! every two seconds (a `<meta http-equiv="refresh">`, no script) while it
//! runs; Pause, Resume and Cancel are forms. `GET /console/lists/{id}/rows.csv`
//! is the per-row report, the API's CSV. Another tenant's list is not found.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::{FromRequest as _, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse as _, Redirect, Response};
use axum::routing::{get, post};
use calinvite_core::lifecycle::{ListRow, RowVerdict};
use calinvite_core::list::ListReader;
use maud::{Markup, html};
use serde::Deserialize;

use super::{ConsoleUser, page, page_with_head, web_error};
use crate::api::find_event;
use crate::api::lists::{
    ListBody, body_of, csv_response, find_list, move_list, rows_csv, store_list,
};
use crate::state::AppState;
use crate::web::{WebRejection, csrf};

/// The dry run's form.
const PREVIEW: &str = "console-list-preview";
/// The dry run's "Send" form.
const SEND: &str = "console-list-send";
/// Pause, Resume and Cancel.
const CONTROL: &str = "console-list-control";
/// Rows of a dry run shown one by one, at most (all are counted).
const SHOWN: usize = 1_000;

/// The routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        // The forms' own limit (the upload limit) holds, not the default.
        .route(
            "/console/events/{code}/lists",
            get(form_page).post(send).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/console/events/{code}/lists/preview",
            post(preview).layer(DefaultBodyLimit::disable()),
        )
        .route("/console/lists/{id}", get(progress))
        .route("/console/lists/{id}/rows.csv", get(rows))
        .route("/console/lists/{id}/{action}", post(control))
}

/// The list forms' fields.
#[derive(Debug, Deserialize)]
struct ListForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    csv: String,
}

/// Fields of a multipart form, at most (csrf, name, csv, file).
const MAX_PARTS: usize = 8;
/// A multipart form's bytes beyond the list (boundaries, part headers,
/// the token and the name).
const MULTIPART_OVERHEAD: usize = 16 * 1024;

/// The list form, of up to the server's upload limit (a list can be
/// long): either `application/x-www-form-urlencoded` (the list pasted, and
/// the dry run's Send form) or `multipart/form-data` (the list form, with
/// a CSV file or the list pasted).
async fn list_form(state: &AppState, request: Request) -> Result<ListForm, WebRejection> {
    let max = state.limits().max_upload;
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .get(..19)
                .is_some_and(|t| t.eq_ignore_ascii_case("multipart/form-data"))
        });
    if multipart {
        return multipart_form(state, request, max).await;
    }
    // Percent-encoding at most triples the list, plus the other fields.
    let form: ListForm = crate::web::form::read_form(request, max.saturating_mul(3) + 4096)
        .await
        .map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large(max)
            } else {
                e
            }
        })?;
    if form.csv.len() > max {
        return Err(too_large(max));
    }
    Ok(form)
}

/// Reads a `multipart/form-data` list form: the whole body first, at most
/// the upload limit and a little more (a longer one is refused before any
/// part is read), then its parts. The list is the file chosen (`file`,
/// UTF-8, a byte-order mark dropped) or the text pasted (`csv`), not both.
async fn multipart_form(
    state: &AppState,
    request: Request,
    max: usize,
) -> Result<ListForm, WebRejection> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, max.saturating_add(MULTIPART_OVERHEAD))
        .await
        .map_err(|_| too_large(max))?;
    let request = Request::from_parts(parts, axum::body::Body::from(bytes));
    let mut multipart = axum::extract::Multipart::from_request(request, state)
        .await
        .map_err(|e| {
            WebRejection::bad_request(format!("the form cannot be read: {}", e.body_text()))
        })?;
    let unreadable = |e: axum::extract::multipart::MultipartError| {
        WebRejection::bad_request(format!("the form cannot be read: {}", e.body_text()))
    };
    let mut form = ListForm {
        csrf: String::new(),
        name: String::new(),
        csv: String::new(),
    };
    let mut file: Option<(String, Vec<u8>)> = None;
    let mut seen: Vec<String> = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
        let name = field.name().unwrap_or_default().to_owned();
        if seen.len() >= MAX_PARTS || seen.contains(&name) {
            return Err(WebRejection::bad_request(
                "the form has fields this page does not send",
            ));
        }
        seen.push(name.clone());
        let file_name = field.file_name().map(str::to_owned);
        let data = field.bytes().await.map_err(unreadable)?;
        let text = |what: &str| {
            String::from_utf8(data.to_vec())
                .map_err(|_| WebRejection::bad_request(format!("the {what} is not UTF-8 text")))
        };
        match name.as_str() {
            "csrf" => form.csrf = text("form's token")?,
            "name" => form.name = text("list's name")?,
            "csv" => form.csv = text("list")?,
            "file" => file = Some((file_name.unwrap_or_default(), data.to_vec())),
            _ => {
                return Err(WebRejection::bad_request(
                    "the form has fields this page does not send",
                ));
            }
        }
    }
    // A browser sends an empty, nameless file part when no file was chosen.
    if let Some((file_name, data)) = file.filter(|(n, d)| !n.is_empty() || !d.is_empty()) {
        if !form.csv.trim().is_empty() {
            return Err(WebRejection::bad_request(
                "choose a file or paste the list, not both",
            ));
        }
        if data.len() > max {
            return Err(WebRejection::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the file is larger than {} KiB", max / 1024),
            ));
        }
        form.csv = file_text(&file_name, data)?;
    }
    if form.csv.len() > max {
        return Err(too_large(max));
    }
    Ok(form)
}

/// A chosen file's text: UTF-8 (a leading byte-order mark dropped), or a
/// refusal that says where it is not.
fn file_text(file_name: &str, data: Vec<u8>) -> Result<String, WebRejection> {
    let shown = if file_name.is_empty() {
        "the file".to_owned()
    } else {
        format!("“{}”", file_name.chars().take(100).collect::<String>())
    };
    if data.is_empty() {
        return Err(WebRejection::bad_request(format!("{shown} is empty")));
    }
    // A spreadsheet's "CSV UTF-8" starts with a byte-order mark.
    let data = if data.starts_with(b"\xEF\xBB\xBF") {
        data[3..].to_vec()
    } else {
        data
    };
    String::from_utf8(data).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
        WebRejection::bad_request(format!(
            "{shown} is not UTF-8 text (line {line} has a byte that is not): \
             save it as CSV in UTF-8 (“CSV UTF-8” in most spreadsheets) and choose it again"
        ))
    })
}

fn too_large(max: usize) -> WebRejection {
    WebRejection::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the list is larger than {} KiB", max / 1024),
    )
}

/// The list's name, checked as the API checks it.
fn list_name(name: &str) -> Result<String, WebRejection> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(WebRejection::bad_request(
            "the list's name must be 1 to 200 characters, no control characters",
        ));
    }
    Ok(name.to_owned())
}

/// The list form, and the event's lists so far.
async fn form_page(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Result<Response, WebRejection> {
    let event = find_event(&state, &user.caller, &code)
        .await
        .map_err(|e| web_error(&e))?;
    let mut lists = Vec::new();
    for rec in state
        .db()
        .lists_of(event.code().as_str())
        .await
        .map_err(|e| web_error(&e.into()))?
    {
        if user.caller.sees(rec.scope) {
            lists.push(body_of(&state, &rec).await.map_err(|e| web_error(&e))?);
        }
    }
    let issued = csrf::issue(&state, &headers, PREVIEW);
    let code = event.code().as_str().to_owned();
    let summary = event.latest().summary().as_str().to_owned();
    let max_kib = state.limits().max_upload / 1024;
    let body = html! {
        p { a href={ "/console/events/" (code) } { "← " (summary) } }
        h1 { "Send “" (summary) "” to a list" }
        form method="post" action={ "/console/events/" (code) "/lists/preview" } class="card"
            enctype="multipart/form-data" {
            (issued.field())
            p { label for="name" { "The list's name" } br;
                input type="text" id="name" name="name" required maxlength="200"
                    aria-describedby="name-help";
                br; span id="name-help" class="muted" {
                    "Sending the same rows again under the same name sends nobody twice."
                }
            }
            p id="list-help" {
                "A CSV list: a header row naming the address column (" code { "email" } " or " code { "address" }
                "; " code { "name" } " and " code { "language" } " are read too), then one recipient a row, in UTF-8. At most "
                (max_kib) " KiB. Choose a file or paste the list."
            }
            p { label for="file" { "A CSV file" } br;
                input type="file" id="file" name="file" accept=".csv,text/csv,text/plain"
                    aria-describedby="list-help";
            }
            p { label for="csv" { "Or the list, pasted" } br;
                textarea id="csv" name="csv" rows="12" cols="70"
                    aria-describedby="list-help" {}
            }
            p { button type="submit" class="btn btn-primary" { "Check the list" } }
            p class="muted" { "Nothing is sent until you press Send on the next page." }
        }
        (lists_table(&lists))
    };
    let mut r = page(
        &state,
        &headers,
        &user,
        &format!("Send {summary} to a list"),
        body,
    );
    issued.attach(&mut r);
    Ok(r)
}

fn lists_table(lists: &[ListBody]) -> Markup {
    html! {
        h2 { "Lists of this event" }
        @if lists.is_empty() {
            p data-empty="lists" { "None yet." }
        } @else {
            table class="console-table" {
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "State" }
                    th scope="col" class="n" { "Rows" } th scope="col" class="n" { "Invited" }
                } }
                tbody { @for l in lists {
                    tr data-list=(l.id) {
                        th scope="row" { a href={ "/console/lists/" (l.id) } { (l.name) } }
                        td { (l.state) } td class="n" { (l.progress.rows) } td class="n" { (l.progress.invited) }
                    }
                } }
            }
        }
    }
}

/// In words, for people.
fn verdict_words(v: &RowVerdict) -> String {
    match v {
        RowVerdict::Invited(_) => "will be invited".into(),
        RowVerdict::AlreadyInvited(_) => "already invited to this event".into(),
        RowVerdict::Duplicate(_) => "repeats an earlier row's address".into(),
        RowVerdict::Invalid(why) => format!("not usable: {why}"),
        RowVerdict::Refused { detail, .. } => format!("refused: {detail}"),
        _ => v.name().to_owned(),
    }
}

/// A refused list form (too large, not UTF-8, empty, its token stale …):
/// the reason, and a link back to the event's list form. An event the
/// caller's tenant does not have is not found, whatever the form was.
async fn refused(
    state: &AppState,
    headers: &HeaderMap,
    user: &ConsoleUser,
    code: &str,
    refusal: WebRejection,
) -> Response {
    if refusal.status() == StatusCode::NOT_FOUND {
        return refusal.into_response();
    }
    let event = match find_event(state, &user.caller, code).await {
        Ok(event) => event,
        Err(e) => return web_error(&e).into_response(),
    };
    tracing::info!(status = refusal.status().as_u16(), reason = %refusal.message(), "console list form refused");
    let code = event.code().as_str().to_owned();
    let summary = event.latest().summary().as_str().to_owned();
    let body = html! {
        h1 { "The list was not accepted" }
        p role="alert" data-refused=(refusal.status().as_u16()) { "Why: " (refusal.message()) }
        p { "Nothing was sent or recorded." }
        p { a href={ "/console/events/" (code) "/lists" } data-back-to-form="" {
            "← Back to the list form of “" (summary) "”"
        } }
    };
    let mut r = page(state, headers, user, "The list was not accepted", body);
    *r.status_mut() = refusal.status();
    crate::web::form::close_if_unread(&mut r);
    r
}

/// `POST /console/events/{code}/lists/preview`: the dry run.
async fn preview(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(code): Path<String>,
    request: Request,
) -> Response {
    match dry_run(&state, &user, &headers, &code, request).await {
        Ok(r) => r,
        Err(e) => refused(&state, &headers, &user, &code, e).await,
    }
}

/// The dry run, or why the form is refused.
async fn dry_run(
    state: &AppState,
    user: &ConsoleUser,
    headers: &HeaderMap,
    code: &str,
    request: Request,
) -> Result<Response, WebRejection> {
    let form = list_form(state, request).await?;
    csrf::check(state, headers, PREVIEW, &form.csrf).await?;
    let name = list_name(&form.name)?;
    let event = find_event(state, &user.caller, code)
        .await
        .map_err(|e| web_error(&e))?;
    if form.csv.trim().is_empty() {
        return Err(WebRejection::bad_request(
            "the list is empty: choose a CSV file or paste the list",
        ));
    }
    let reader = ListReader::new(form.csv.as_bytes())
        .map_err(|e| WebRejection::bad_request(format!("the list cannot be read: {e}")))?;
    let mut entries = Vec::new();
    for entry in reader {
        entries.push(
            entry
                .map_err(|e| WebRejection::bad_request(format!("the list cannot be read: {e}")))?,
        );
    }
    let rows: Vec<ListRow> = state
        .pipeline()
        .preview_list(event.scope(), event.code(), &name, &entries)
        .await
        .map_err(|e| web_error(&e.into()))?;
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for r in &rows {
        *counts.entry(r.verdict.name()).or_default() += 1;
    }
    let invited = counts.get("invited").copied().unwrap_or(0);
    let issued = csrf::issue(state, headers, SEND);
    let code = event.code().as_str().to_owned();
    let summary = event.latest().summary().as_str().to_owned();
    let body = html! {
        p { a href={ "/console/events/" (code) "/lists" } { "← Another list" } }
        h1 { "Check “" (name) "” before sending" }
        p data-preview-invited=(invited) {
            strong { (invited) } " of " (rows.len()) " rows would be invited to “" (summary) "”."
        }
        ul data-preview-counts="" {
            @for (verdict, n) in &counts { li data-verdict-count=(verdict) { (verdict) ": " (n) } }
        }
        form method="post" action={ "/console/events/" (code) "/lists" } class="card" {
            (issued.field())
            input type="hidden" name="name" value=(name);
            input type="hidden" name="csv" value=(form.csv);
            @if invited == 0 {
                p { "Nobody on this list would be invited." }
            }
            button type="submit" class="btn btn-primary" disabled[invited == 0] {
                "Send to " (invited) " recipients"
            }
        }
        h2 { "Rows" }
        @if rows.len() > SHOWN { p class="muted" { "The first " (SHOWN) " rows:" } }
        table class="console-table" {
            caption class="visually-hidden" { "Each row's verdict" }
            thead { tr {
                th scope="col" class="n" { "Row" } th scope="col" { "Address" } th scope="col" { "Verdict" }
            } }
            tbody { @for r in rows.iter().take(SHOWN) {
                tr data-row-verdict=(r.verdict.name()) data-row=(r.row) {
                    td class="n" { (r.row) } td { (r.address) } td { (verdict_words(&r.verdict)) }
                }
            } }
        }
    };
    let mut r = page(state, headers, user, &format!("Check {name}"), body);
    issued.attach(&mut r);
    Ok(r)
}

/// `POST /console/events/{code}/lists`: starts the list's job.
async fn send(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(code): Path<String>,
    request: Request,
) -> Response {
    match start(&state, &user, &headers, &code, request).await {
        Ok(r) => r,
        Err(e) => refused(&state, &headers, &user, &code, e).await,
    }
}

/// Starts the list's job, or says why the form is refused.
async fn start(
    state: &AppState,
    user: &ConsoleUser,
    headers: &HeaderMap,
    code: &str,
    request: Request,
) -> Result<Response, WebRejection> {
    let form = list_form(state, request).await?;
    csrf::check(state, headers, SEND, &form.csrf).await?;
    let name = list_name(&form.name)?;
    let event = find_event(state, &user.caller, code)
        .await
        .map_err(|e| web_error(&e))?;
    if form.csv.trim().is_empty() {
        return Err(WebRejection::bad_request(
            "the list is empty: choose a CSV file or paste the list",
        ));
    }
    let record = store_list(state, &event, &name, form.csv.as_bytes())
        .await
        .map_err(|e| web_error(&e))?;
    tracing::info!(list = %record.id, "list sent from the console");
    Ok(Redirect::to(&format!("/console/lists/{}", record.id)).into_response())
}

/// Whether nothing more will change by itself: cancelled, unreadable, or
/// every row taken and no invitation waiting to be sent.
fn finished(l: &ListBody) -> bool {
    l.state == "cancelled" || l.error.is_some() || (l.all_rows_taken && queued(l) == 0)
}

/// New invitations neither taken by a mail server nor bounced yet.
fn queued(l: &ListBody) -> u64 {
    l.progress
        .invited
        .saturating_sub(l.progress.submitted + l.progress.hard_bounced)
}

/// `GET /console/lists/{id}`.
async fn progress(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, WebRejection> {
    let rec = find_list(&state, &user.caller, &id)
        .await
        .map_err(|e| web_error(&e))?;
    let l = body_of(&state, &rec).await.map_err(|e| web_error(&e))?;
    let done = finished(&l);
    let shown_state = if done && l.state == "running" {
        "done"
    } else {
        l.state.as_str()
    };
    let refresh =
        (l.state == "running" && !done).then(|| html! { meta http-equiv="refresh" content="2"; });
    let issued = csrf::issue(&state, &headers, CONTROL);
    let p = &l.progress;
    let body = html! {
        p { a href={ "/console/events/" (l.event) "/lists" } { "← The event's lists" } }
        h1 { "List “" (l.name) "”" }
        p data-list-state=(shown_state) role="status" {
            "State: " strong { (shown_state) }
            @if !l.all_rows_taken && l.error.is_none() && l.state != "cancelled" { " — rows still being read" }
            @if let Some(e) = &l.error { " — stopped: " (e) }
        }
        table class="console-table" data-list-progress=(l.id) {
            caption class="visually-hidden" { "Progress" }
            tbody {
                tr { th scope="row" { "Rows read" } td class="n" data-count="rows" { (p.rows) } }
                tr { th scope="row" { "Invited" } td class="n" data-count="invited" { (p.invited) } }
                tr { th scope="row" { "Already invited" } td class="n" data-count="already-invited" { (p.already_invited) } }
                tr { th scope="row" { "Duplicates" } td class="n" data-count="duplicate" { (p.duplicates) } }
                tr { th scope="row" { "Not usable" } td class="n" data-count="invalid" { (p.invalid) } }
                @for (reason, n) in &p.refused {
                    tr { th scope="row" { "Refused: " (reason) } td class="n" data-count=(reason) { (n) } }
                }
                tr { th scope="row" { "Waiting to be sent" } td class="n" data-count="queued" { (queued(&l)) } }
                tr { th scope="row" { "Sent" } td class="n" data-count="sent" { (p.submitted) } }
                tr { th scope="row" { "Bounced" } td class="n" data-count="bounced" { (p.hard_bounced) } }
                tr { th scope="row" { "Answered" } td class="n" data-count="answered" { (p.answered) } }
            }
        }
        div class="console-filters" {
            @if l.state == "running" && !done {
                (control_form(&l.id, "pause", "Pause", &issued))
            }
            @if l.state == "paused" {
                (control_form(&l.id, "resume", "Resume", &issued))
            }
            @if l.state != "cancelled" {
                (control_form(&l.id, "cancel", "Cancel the list", &issued))
            }
            a class="btn" href={ "/console/lists/" (l.id) "/rows.csv" } download { "Each row's report (CSV)" }
        }
    };
    let mut r = page_with_head(
        &state,
        &headers,
        &user,
        &format!("List {}", l.name),
        refresh,
        body,
    );
    issued.attach(&mut r);
    Ok(r)
}

fn control_form(id: &str, action: &str, label: &str, issued: &csrf::Issued) -> Markup {
    html! {
        form method="post" action={ "/console/lists/" (id) "/" (action) } {
            (issued.field())
            button type="submit" class="btn" data-list-action=(action) { (label) }
        }
    }
}

/// The form fields of Pause, Resume and Cancel.
#[derive(Debug, Deserialize)]
struct ControlForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /console/lists/{id}/{pause|resume|cancel}`.
async fn control(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    crate::web::WebForm(form): crate::web::WebForm<ControlForm>,
) -> Result<Response, WebRejection> {
    let to = match action.as_str() {
        "pause" => "pause",
        "resume" => "resume",
        "cancel" => "cancel",
        _ => return Err(WebRejection::not_found("There is nothing here.")),
    };
    csrf::check(&state, &headers, CONTROL, &form.csrf).await?;
    let _moved = move_list(&state, &user.caller, &id, to)
        .await
        .map_err(|e| web_error(&e))?;
    Ok(Redirect::to(&format!("/console/lists/{id}")).into_response())
}

/// `GET /console/lists/{id}/rows.csv`: the API's per-row report.
async fn rows(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
) -> Result<Response, WebRejection> {
    let rec = find_list(&state, &user.caller, &id)
        .await
        .map_err(|e| web_error(&e))?;
    let csv = rows_csv(&state, &rec).await.map_err(|e| web_error(&e))?;
    let mut r = csv_response(csv, &format!("list-{id}.csv"));
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chosen_file_is_utf8_text_or_refused_saying_where() {
        let t = file_text("a.csv", b"\xEF\xBB\xBFemail\nx@example.net\n".to_vec()).unwrap();
        assert_eq!(
            t, "email\nx@example.net\n",
            "the byte-order mark is dropped"
        );
        assert_eq!(file_text("", b"email\n".to_vec()).unwrap(), "email\n");
        let e = file_text(
            "old.csv",
            b"email,name\nj@example.net,J\xe9r\xf4me\n".to_vec(),
        )
        .unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert!(
            e.message()
                .starts_with("“old.csv” is not UTF-8 text (line 2 has a byte that is not)"),
            "{}",
            e.message()
        );
        let e = file_text("", Vec::new()).unwrap_err();
        assert_eq!(e.message(), "the file is empty");
        // A long or odd name is cut, never a panic.
        let name = "é".repeat(500);
        let e = file_text(&name, vec![0xff]).unwrap_err();
        assert!(e.message().chars().count() < 400, "{}", e.message());
    }
}
