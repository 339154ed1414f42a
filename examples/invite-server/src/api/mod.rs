//! The HTTP API under `/v1`: JSON in and out, every resource scoped to the
//! caller's key. An organizer's key sees that organizer's data; a domain
//! owner's key sees all of its organizers'. Whatever belongs to someone
//! else is answered 404, as if it did not exist.
//!
//! Each file is one group of resources; this one holds what they share:
//! the JSON shapes of tenants' settings and events, and the lookups every
//! handler starts with.

use calinvite_core::Keyword as _;
use calinvite_core::lifecycle::{
    AuthPolicy, Invitation, LateAnswers, OrganizerAccount, Scope, Settings, Store as _, StoredEvent,
};
use calinvite_core::targeting::UpdateAudience;
use calinvite_core::{EventCode, ParticipationStatus, Schedule};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::extract::{Caller, Tenant, decode_cursor, encode_cursor};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

pub mod admins;
pub mod events;
pub mod held;
pub mod invitations;
pub mod keys;
pub mod lists;
pub mod ops;
pub mod organizers;
pub mod pending;
pub mod reports;
pub mod suppressions;
pub(crate) mod time;
pub mod webhooks;

/// A page of a list, and where the next one starts.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Query parameters of a plain page.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// Where to go on: the `next_cursor` of the page before.
    pub cursor: Option<String>,
}

/// Who gets updates ([D4](calinvite_core::manual::design#d4)).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Audience {
    /// Recipients whose last answer is Yes or Maybe.
    AcceptedOrTentative,
    /// Everyone who has not declined.
    NotDeclined,
    /// Everyone who received the event.
    Everyone,
}

/// How organizer mail to the ingest mailbox is authenticated.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum InboundAuth {
    /// DMARC must pass.
    Dmarc,
    /// SPF or DKIM must pass for the organizer's own domain.
    AlignedSpfOrDkim,
    /// The allow-list alone (closed networks, the demo).
    AllowListOnly,
}

/// What an answer after the event's end does.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum LateAnswerPolicy {
    /// Recorded in the history; the status stays.
    RecordOnly,
    /// Recorded and applied.
    Apply,
}

/// A tenant's switches.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct SettingsBody {
    /// Hold updates and cancellations for approval.
    pub approval: bool,
    /// Who gets updates.
    pub audience: Audience,
    /// How organizer mail is authenticated.
    pub inbound_auth: InboundAuth,
    /// What late answers do.
    pub late_answers: LateAnswerPolicy,
    /// One-click unsubscribe headers on invitations.
    pub list_unsubscribe: bool,
}

/// Changes to a tenant's switches: the fields given are set.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    /// Hold updates and cancellations for approval.
    pub approval: Option<bool>,
    /// Who gets updates.
    pub audience: Option<Audience>,
    /// How organizer mail is authenticated.
    pub inbound_auth: Option<InboundAuth>,
    /// What late answers do.
    pub late_answers: Option<LateAnswerPolicy>,
    /// One-click unsubscribe headers on invitations.
    pub list_unsubscribe: Option<bool>,
}

impl From<Settings> for SettingsBody {
    fn from(s: Settings) -> Self {
        SettingsBody {
            approval: s.approval,
            audience: match s.audience {
                UpdateAudience::NotDeclined => Audience::NotDeclined,
                UpdateAudience::Everyone => Audience::Everyone,
                _ => Audience::AcceptedOrTentative,
            },
            inbound_auth: match s.auth {
                AuthPolicy::Dmarc => InboundAuth::Dmarc,
                AuthPolicy::AllowListOnly => InboundAuth::AllowListOnly,
                _ => InboundAuth::AlignedSpfOrDkim,
            },
            late_answers: match s.late_answers {
                LateAnswers::Apply => LateAnswerPolicy::Apply,
                _ => LateAnswerPolicy::RecordOnly,
            },
            list_unsubscribe: s.list_unsubscribe,
        }
    }
}

impl SettingsPatch {
    /// `base` with the fields given here set.
    pub(crate) fn apply(&self, base: Settings) -> Settings {
        let mut s = base;
        if let Some(v) = self.approval {
            s = s.with_approval(v);
        }
        if let Some(v) = self.audience {
            s = s.with_audience(match v {
                Audience::AcceptedOrTentative => UpdateAudience::AcceptedOrTentative,
                Audience::NotDeclined => UpdateAudience::NotDeclined,
                Audience::Everyone => UpdateAudience::Everyone,
            });
        }
        if let Some(v) = self.inbound_auth {
            s = s.with_auth(match v {
                InboundAuth::Dmarc => AuthPolicy::Dmarc,
                InboundAuth::AlignedSpfOrDkim => AuthPolicy::AlignedSpfOrDkim,
                InboundAuth::AllowListOnly => AuthPolicy::AllowListOnly,
            });
        }
        if let Some(v) = self.late_answers {
            s = s.with_late_answers(match v {
                LateAnswerPolicy::RecordOnly => LateAnswers::RecordOnly,
                LateAnswerPolicy::Apply => LateAnswers::Apply,
            });
        }
        if let Some(v) = self.list_unsubscribe {
            s = s.with_list_unsubscribe(v);
        }
        s
    }
}

/// Answers to an event so far.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct AnswerCounts {
    /// Invitations.
    pub invitations: u64,
    /// Answered Yes.
    pub accepted: u64,
    /// Answered No.
    pub declined: u64,
    /// Answered Maybe.
    pub tentative: u64,
    /// Delegated to someone else.
    pub delegated: u64,
    /// No answer yet.
    pub no_answer: u64,
}

impl AnswerCounts {
    pub(crate) fn count(&mut self, inv: &Invitation) {
        self.invitations += 1;
        match inv.status() {
            Some(ParticipationStatus::Accepted) => self.accepted += 1,
            Some(ParticipationStatus::Declined) => self.declined += 1,
            Some(ParticipationStatus::Tentative) => self.tentative += 1,
            Some(ParticipationStatus::Delegated) => self.delegated += 1,
            _ => self.no_answer += 1,
        }
    }
}

/// An event.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct EventBody {
    /// Its code (unguessable, not secret: it names the event in links).
    pub code: String,
    /// The organizer's id.
    pub organizer: u64,
    /// The title.
    pub summary: String,
    /// The description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The web page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Whether it takes whole days.
    pub all_day: bool,
    /// The start: a date (`2026-12-10`) for an all-day event, else a local
    /// date and time (`2026-12-10T18:00:00`) in `time_zone`.
    pub start: String,
    /// The end: the last day for an all-day event (included), else a local
    /// date and time in `time_zone`.
    pub end: String,
    /// The IANA zone of `start` and `end` (absent for all-day events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Whether it repeats (its rule came from the organizer's calendar).
    pub recurring: bool,
    /// `confirmed`, `tentative` or `cancelled`.
    pub status: String,
    /// Whether the event is cancelled.
    pub cancelled: bool,
    /// The SEQUENCE recipients hold.
    pub sequence: u64,
    /// Whether it came from the organizer's calendar (else the API).
    pub from_calendar: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Answers so far.
    pub answers: AnswerCounts,
}

impl EventBody {
    pub(crate) fn new(e: &StoredEvent, answers: AnswerCounts) -> Self {
        let ev = e.latest();
        let (start, end, zone) = time::show(ev.schedule());
        EventBody {
            code: e.code().to_string(),
            organizer: e.scope().organizer.0,
            summary: ev.summary().as_str().to_owned(),
            description: ev.description().map(|t| t.as_str().to_owned()),
            location: ev.location().map(|t| t.as_str().to_owned()),
            url: ev.url().map(|u| u.as_str().to_owned()),
            all_day: matches!(ev.schedule(), Schedule::AllDay { .. }),
            start,
            end,
            time_zone: zone,
            recurring: ev.is_recurring(),
            status: ev.status().keyword().to_owned(),
            cancelled: e.cancelled(),
            sequence: e.sent_sequence().get(),
            from_calendar: e.organizer_uid().is_some(),
            created_at: e.created_at(),
            answers,
        }
    }
}

/// An organizer account.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct OrganizerBody {
    /// Its id under the domain owner.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Addresses that may send calendar invitations to the ingest mailbox
    /// as this organizer.
    pub addresses: Vec<String>,
    /// Domains whose every address may.
    pub domains: Vec<String>,
    /// Where notices and reports go.
    pub notify: String,
    /// Its own settings; absent when it takes its domain owner's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<SettingsBody>,
    /// The settings in force (its own, else the owner's).
    pub effective_settings: SettingsBody,
    /// Where the organizer sends (or copies) its calendar invitations so
    /// that calinvite adopts the event.
    pub ingest_address: String,
}

impl OrganizerBody {
    pub(crate) fn new(a: &OrganizerAccount, owner_settings: Settings, ingest: &str) -> Self {
        use calinvite_core::lifecycle::AllowEntry;
        let mut addresses = Vec::new();
        let mut domains = Vec::new();
        for e in &a.allow {
            match e {
                AllowEntry::Address(x) => addresses.push(x.as_str().to_owned()),
                AllowEntry::Domain(d) => domains.push(d.clone()),
            }
        }
        OrganizerBody {
            id: a.scope.organizer.0,
            name: a.name.clone(),
            addresses,
            domains,
            notify: a.notify.as_str().to_owned(),
            settings: a.settings.map(SettingsBody::from),
            effective_settings: a.settings.unwrap_or(owner_settings).into(),
            ingest_address: ingest.to_owned(),
        }
    }
}

/// The keyword of an answer, `no-answer` when none.
pub(crate) fn answer_keyword(s: Option<ParticipationStatus>) -> String {
    match s {
        Some(s) => s.keyword().to_owned(),
        None => "no-answer".to_owned(),
    }
}

/// Parses an event code from a path; a malformed one is simply not found.
pub(crate) fn event_code(code: &str) -> ApiResult<EventCode> {
    EventCode::parse(code).map_err(|_| ApiError::not_found(format!("event {code}")))
}

/// The caller's event `code` (another tenant's is not found).
pub(crate) async fn find_event(
    state: &AppState,
    caller: &Caller,
    code: &str,
) -> ApiResult<StoredEvent> {
    let code = event_code(code)?;
    state
        .pipeline()
        .store()
        .event(caller.owner(), &code)
        .await
        .map_err(calinvite_core::lifecycle::PipelineError::from)?
        .filter(|e| caller.sees(e.scope()))
        .ok_or_else(|| ApiError::not_found(format!("event {code}")))
}

/// The answers to an event, counted from its invitations.
pub(crate) async fn answer_counts(state: &AppState, code: &EventCode) -> ApiResult<AnswerCounts> {
    let store = state.pipeline().store();
    let mut counts = AnswerCounts::default();
    let mut after = None;
    loop {
        let page = store
            .invitations(code, after.as_ref(), 1000)
            .await
            .map_err(calinvite_core::lifecycle::PipelineError::from)?;
        for inv in &page {
            counts.count(inv);
        }
        if page.len() < 1000 {
            return Ok(counts);
        }
        after = page.last().map(|i| i.token().clone());
    }
}

/// The organizers a key covers, in id order (one for an organizer's key;
/// `only` narrows an owner's key to one).
pub(crate) async fn scopes(
    state: &AppState,
    caller: &Caller,
    only: Option<u64>,
) -> ApiResult<Vec<Scope>> {
    if let Some(id) = only {
        let scope = caller.scope_of(id)?;
        organizers_exist(state, scope).await?;
        return Ok(vec![scope]);
    }
    match caller.tenant {
        Tenant::Organizer(s) => Ok(vec![s]),
        Tenant::Owner(o) => {
            let mut all: Vec<Scope> = state
                .pipeline()
                .store()
                .organizers(o)
                .await
                .map_err(calinvite_core::lifecycle::PipelineError::from)?
                .into_iter()
                .map(|a| a.scope)
                .collect();
            all.sort();
            Ok(all)
        }
    }
}

/// Walks the events of `scopes` in order (organizer, then creation), from
/// `cursor`: up to `max` events, and the cursor after them when more may
/// follow.
pub(crate) async fn walk_events(
    state: &AppState,
    scopes: &[Scope],
    cursor: Option<&str>,
    max: usize,
) -> ApiResult<(Vec<StoredEvent>, Option<String>)> {
    let store = state.pipeline().store();
    let position = decode_cursor(cursor)?;
    let (start_org, mut after) = match position.as_deref() {
        None => (0u64, None),
        Some(p) => {
            let (org, code) = p.split_once(':').ok_or_else(crate::extract::bad_cursor)?;
            let org = org
                .parse::<u64>()
                .map_err(|_| crate::extract::bad_cursor())?;
            let code = EventCode::parse(code).map_err(|_| crate::extract::bad_cursor())?;
            (org, Some(code))
        }
    };
    let mut out = Vec::new();
    for scope in scopes.iter().filter(|s| s.organizer.0 >= start_org) {
        if scope.organizer.0 != start_org {
            after = None;
        }
        let need = max - out.len();
        let mut page = store
            .events(*scope, after.as_ref(), need + 1)
            .await
            .map_err(calinvite_core::lifecycle::PipelineError::from)?;
        if page.len() > need {
            page.truncate(need);
            out.extend(page);
            let next = out.last().map(|e: &StoredEvent| {
                encode_cursor(&format!("{}:{}", e.scope().organizer.0, e.code()))
            });
            return Ok((out, next));
        }
        out.extend(page);
        if out.len() == max {
            let next = out
                .last()
                .map(|e| encode_cursor(&format!("{}:{}", e.scope().organizer.0, e.code())));
            return Ok((out, next));
        }
    }
    Ok((out, None))
}

/// Fails with 404 unless organizer `scope` is registered.
pub(crate) async fn organizers_exist(state: &AppState, scope: Scope) -> ApiResult<()> {
    state
        .pipeline()
        .store()
        .organizer(scope)
        .await
        .map_err(calinvite_core::lifecycle::PipelineError::from)?
        .map(drop)
        .ok_or_else(|| ApiError::not_found(format!("organizer {}", scope.organizer.0)))
}
