//! Webhook endpoints: registered (the signing secret shown once), listed,
//! read, changed (URL, types, description, re-enabled), deleted, their
//! secret rotated (the previous one still signs for a while), and their
//! delivery log read. A domain owner's key manages all of the owner's
//! endpoints — its own and its organizers'; an organizer's key manages
//! only its organizer's. See [`crate::webhooks`] for what is posted.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use calinvite_core::lifecycle::{OrganizerId, OwnerId};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Page, PageQuery};
use crate::extract::{
    ApiJson, ApiPath, ApiQuery, Caller, Tenant, bad_cursor, decode_cursor, encode_cursor,
    page_limit,
};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;
use crate::webhooks::signing::Secret;
use crate::webhooks::target::{check_resolved, check_url};
use crate::webhooks::{AttemptRecord, EndpointRecord, MessageRecord};

/// The most endpoints a domain owner may have.
pub const MAX_ENDPOINTS: u64 = 20;

/// The longest a previous secret is kept signing after a rotation.
pub const MAX_KEEP_PREVIOUS_SECONDS: u64 = 7 * 24 * 3600;

/// A webhook endpoint (never its secret).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct WebhookBody {
    /// Its id (`wh_…`).
    pub id: String,
    /// Where messages are posted.
    pub url: String,
    /// The types it receives; empty: every type (those added later too).
    pub types: Vec<String>,
    /// What it is for.
    pub description: String,
    /// The organizer whose events it hears of; absent: the whole domain
    /// owner (every organizer, and the owner's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organizer: Option<u64>,
    /// Whether messages are posted to it.
    pub enabled: bool,
    /// Why it was disabled: it answered `410 Gone`, every post failed for
    /// days, or by a call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Since when every post has failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
    /// Posts failed in a row.
    pub consecutive_failures: u64,
    /// Until when the secret before the last rotation still signs too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

impl WebhookBody {
    fn new(e: &EndpointRecord, now: DateTime<Utc>) -> Self {
        WebhookBody {
            id: e.id.clone(),
            url: e.url.clone(),
            types: e.types.clone().unwrap_or_default(),
            description: e.description.clone(),
            organizer: e.organizer.map(|o| o.0),
            enabled: e.enabled,
            disabled_reason: e.disabled_reason.clone(),
            failing_since: e.failing_since,
            consecutive_failures: e.failures,
            previous_secret_expires_at: e
                .previous_secret
                .as_ref()
                .and(e.previous_until)
                .filter(|u| *u > now),
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// An endpoint just registered, or its secret just rotated: `secret` is
/// shown this once.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookSecretBody {
    /// The endpoint.
    pub webhook: WebhookBody,
    /// The signing secret (`whsec_…`): verify each message's
    /// `webhook-signature` with it. Keep it secret.
    pub secret: String,
}

impl std::fmt::Debug for WebhookSecretBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSecretBody")
            .field("webhook", &self.webhook)
            .finish_non_exhaustive()
    }
}

/// An endpoint to register.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where to post: `https://…` (or `http://…`) on a public address,
    /// with no user name or password.
    pub url: String,
    /// The types to receive (`invitation.answered`, `delivery.sent` …);
    /// omitted or empty: every type.
    #[serde(default)]
    pub types: Vec<String>,
    /// What it is for (shown in the list).
    #[serde(default)]
    pub description: String,
    /// For a domain owner's key: one organizer's events only (default: all
    /// of the owner's). An organizer's key registers for its own.
    pub organizer: Option<u64>,
}

/// Changes to an endpoint: the fields given are set.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    /// A new URL.
    pub url: Option<String>,
    /// The types to receive; empty: every type.
    pub types: Option<Vec<String>>,
    /// What it is for.
    pub description: Option<String>,
    /// `true` re-enables a disabled endpoint (its failures forgotten);
    /// `false` disables it.
    pub enabled: Option<bool>,
}

/// How a rotation keeps the previous secret.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RotateQuery {
    /// How long the previous secret still signs too, in seconds, 0 to
    /// 604800 (default 86400: a day).
    pub keep_previous_seconds: Option<u64>,
}

/// One attempt at a message.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct AttemptBody {
    /// 1 for the first.
    pub attempt: u64,
    /// When it ended.
    pub at: DateTime<Utc>,
    /// The answer's HTTP status, when there was an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// What went wrong, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: u64,
}

impl From<&AttemptRecord> for AttemptBody {
    fn from(a: &AttemptRecord) -> Self {
        AttemptBody {
            attempt: a.attempt,
            at: a.at,
            status: a.status,
            error: a.error.clone(),
            duration_ms: a.duration_ms,
        }
    }
}

/// One message to an endpoint, with its attempts.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct DeliveryBody {
    /// Its `webhook-id` (the same on every attempt).
    pub id: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// `pending` (to be tried, or retried), `sent` or `failed` (given up).
    pub state: String,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When it is tried next (pending only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it was sent or given up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// The attempts so far, oldest first.
    pub attempts: Vec<AttemptBody>,
    /// The body posted.
    pub payload: serde_json::Value,
}

impl DeliveryBody {
    fn new(m: &MessageRecord, attempts: Vec<AttemptBody>) -> Self {
        DeliveryBody {
            id: m.msg_id.clone(),
            kind: m.kind.clone(),
            state: m.state.clone(),
            created_at: m.created_at,
            next_attempt_at: (m.state == "pending").then_some(m.due),
            finished_at: m.done_at,
            attempts,
            payload: serde_json::from_str(&m.payload).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// The caller's endpoint `id`; another tenant's is not found.
async fn find(state: &AppState, caller: &Caller, id: &str) -> ApiResult<EndpointRecord> {
    let not_found = || ApiError::not_found(format!("webhook {id}"));
    let record = state.db().endpoint(id).await?.ok_or_else(not_found)?;
    let visible = record.owner == caller.owner()
        && match caller.tenant {
            Tenant::Owner(_) => true,
            Tenant::Organizer(s) => record.organizer == Some(s.organizer),
        };
    if visible {
        Ok(record)
    } else {
        Err(not_found())
    }
}

/// Checks a URL: its form, and what its host resolves to.
async fn check(state: &AppState, url: &str) -> ApiResult<String> {
    let policy = state.webhook_targets();
    let parsed = check_url(url.trim(), policy).map_err(|e| ApiError::field("/url", e.0))?;
    if let Some(url::Host::Domain(host)) = parsed.host() {
        let port = parsed.port_or_known_default().unwrap_or(443);
        check_resolved(host, port, policy)
            .await
            .map_err(|e| ApiError::field("/url", e.0))?;
    }
    Ok(parsed.to_string())
}

/// The types asked for, checked, sorted, without repeats (`None`: every type).
fn types(asked: &[String]) -> ApiResult<Option<Vec<String>>> {
    if asked.is_empty() {
        return Ok(None);
    }
    let known: Vec<&str> = crate::webhooks::types().collect();
    let mut out = Vec::with_capacity(asked.len());
    for (i, t) in asked.iter().enumerate() {
        if !known.contains(&t.as_str()) {
            return Err(ApiError::field(
                format!("/types/{i}"),
                format!("{t:?} is not a type; the types are {}", known.join(", ")),
            ));
        }
        out.push(t.clone());
    }
    out.sort();
    out.dedup();
    Ok(Some(out))
}

fn description(text: &str) -> ApiResult<String> {
    let d = text.trim();
    if d.chars().count() > 200 || d.chars().any(char::is_control) {
        return Err(ApiError::field(
            "/description",
            "at most 200 characters, no control characters",
        ));
    }
    Ok(d.to_owned())
}

fn new_secret() -> ApiResult<Secret> {
    Secret::generate().map_err(|_| {
        tracing::error!("the operating system's random source failed");
        ApiError::unavailable("the random source failed; retry later")
    })
}

fn new_id() -> ApiResult<String> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|_| {
        tracing::error!("the operating system's random source failed");
        ApiError::unavailable("the random source failed; retry later")
    })?;
    Ok(format!(
        "wh_{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    ))
}

/// The caller's endpoints, in id order.
#[utoipa::path(
    get,
    path = "/v1/webhooks",
    tag = "webhooks",
    params(PageQuery),
    responses((status = 200, description = "A page of endpoints, never their secrets", body = Page<WebhookBody>))
)]
pub(crate) async fn list_webhooks(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<WebhookBody>>> {
    let limit = page_limit(q.limit)?;
    let after = decode_cursor(q.cursor.as_deref())?;
    let mut rows = state
        .db()
        .endpoints(
            caller.owner(),
            caller.organizer(),
            after.as_deref(),
            limit + 1,
        )
        .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = more
        .then(|| rows.last().map(|e| encode_cursor(&e.id)))
        .flatten();
    let now = state.now();
    Ok(Json(Page {
        items: rows.iter().map(|e| WebhookBody::new(e, now)).collect(),
        next_cursor,
    }))
}

/// Registers an endpoint; the answer shows its signing secret this once.
/// Its URL must be on a public address (`400` naming `/url` otherwise).
#[utoipa::path(
    post,
    path = "/v1/webhooks",
    tag = "webhooks",
    request_body = NewWebhook,
    responses(
        (status = 201, description = "Registered; the secret is shown this once", body = WebhookSecretBody),
        (status = 409, description = "The domain owner has as many endpoints as it may", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_webhook(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(new): ApiJson<NewWebhook>,
) -> ApiResult<impl IntoResponse> {
    let made = register_webhook(&state, &caller, &new).await?;
    let location = format!("/v1/webhooks/{}", made.webhook.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(made),
    ))
}

/// Registers the endpoint `new` asks for, as `caller` may: the body of
/// [`create_webhook`]'s answer (the console's form registers through it
/// too).
pub(crate) async fn register_webhook(
    state: &AppState,
    caller: &Caller,
    new: &NewWebhook,
) -> ApiResult<WebhookSecretBody> {
    let organizer: Option<OrganizerId> = match (caller.tenant, new.organizer) {
        (Tenant::Organizer(s), None) => Some(s.organizer),
        (_, Some(id)) => {
            let scope = caller.scope_of(id)?;
            super::organizers_exist(state, scope).await?;
            Some(scope.organizer)
        }
        (Tenant::Owner(_), None) => None,
    };
    let description = description(&new.description)?;
    let types = types(&new.types)?;
    let url = check(state, &new.url).await?;
    let owner: OwnerId = caller.owner();
    if state.db().endpoint_count(owner).await? >= MAX_ENDPOINTS {
        return Err(ApiError::conflict(format!(
            "the domain owner has {MAX_ENDPOINTS} webhook endpoints, the most it may have; delete one first"
        )));
    }
    let secret = new_secret()?;
    let now = state.now();
    let record = EndpointRecord {
        id: new_id()?,
        owner,
        organizer,
        url,
        types,
        description,
        secret: secret.reveal(),
        previous_secret: None,
        previous_until: None,
        enabled: true,
        disabled_reason: None,
        failing_since: None,
        failures: 0,
        created_at: now,
        updated_at: now,
    };
    state.db().insert_endpoint(&record).await?;
    tracing::info!(webhook = %record.id, owner = owner.0, organizer = organizer.map(|o| o.0), by = %caller.key_id, "webhook endpoint registered");
    Ok(WebhookSecretBody {
        webhook: WebhookBody::new(&record, now),
        secret: secret.reveal(),
    })
}

/// One endpoint (never its secret).
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's id (wh_…)")),
    responses((status = 200, description = "The endpoint", body = WebhookBody))
)]
pub(crate) async fn get_webhook(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<WebhookBody>> {
    let record = find(&state, &caller, &id).await?;
    Ok(Json(WebhookBody::new(&record, state.now())))
}

/// Changes an endpoint: its URL (checked as when registered), types,
/// description; `"enabled": true` re-enables a disabled one.
#[utoipa::path(
    patch,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's id (wh_…)")),
    request_body = WebhookPatch,
    responses((status = 200, description = "The endpoint as changed", body = WebhookBody))
)]
pub(crate) async fn patch_webhook(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(patch): ApiJson<WebhookPatch>,
) -> ApiResult<Json<WebhookBody>> {
    let reason = format!("disabled by key {}", caller.key_id);
    change_webhook(&state, &caller, &id, patch, reason)
        .await
        .map(Json)
}

/// Changes the endpoint `id` of the caller's tenant as `patch` says; an
/// endpoint disabled by it records `disabled_reason` (the API names its
/// key, the console says so).
pub(crate) async fn change_webhook(
    state: &AppState,
    caller: &Caller,
    id: &str,
    patch: WebhookPatch,
    disabled_reason: String,
) -> ApiResult<WebhookBody> {
    let mut record = find(state, caller, id).await?;
    if let Some(d) = &patch.description {
        record.description = description(d)?;
    }
    if let Some(t) = &patch.types {
        record.types = types(t)?;
    }
    if let Some(u) = &patch.url {
        record.url = check(state, u).await?;
    }
    match patch.enabled {
        Some(true) if !record.enabled => {
            record.enabled = true;
            record.disabled_reason = None;
            record.failing_since = None;
            record.failures = 0;
        }
        Some(false) if record.enabled => {
            record.enabled = false;
            record.disabled_reason = Some(disabled_reason);
        }
        _ => {}
    }
    let now = state.now();
    record.updated_at = now;
    if !state.db().update_endpoint(&record).await? {
        return Err(ApiError::not_found(format!("webhook {id}")));
    }
    tracing::info!(webhook = %record.id, enabled = record.enabled, by = %caller.key_id, "webhook endpoint changed");
    Ok(WebhookBody::new(&record, now))
}

/// Deletes an endpoint, with its delivery log; nothing more is posted to it.
#[utoipa::path(
    delete,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's id (wh_…)")),
    responses((status = 204, description = "Deleted"))
)]
pub(crate) async fn delete_webhook(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let record = find(&state, &caller, &id).await?;
    if !state.db().delete_endpoint(&record.id, record.owner).await? {
        return Err(ApiError::not_found(format!("webhook {id}")));
    }
    tracing::info!(webhook = %record.id, by = %caller.key_id, "webhook endpoint deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Gives an endpoint a new signing secret, shown this once. The previous
/// one keeps signing too (both signatures in `webhook-signature`) for
/// `keep_previous_seconds`, so receivers can switch without missing a
/// message.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/rotate",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's id (wh_…)"), RotateQuery),
    responses((status = 200, description = "The new secret, shown this once", body = WebhookSecretBody))
)]
pub(crate) async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<RotateQuery>,
) -> ApiResult<Json<WebhookSecretBody>> {
    let keep = q.keep_previous_seconds.unwrap_or(24 * 3600);
    if keep > MAX_KEEP_PREVIOUS_SECONDS {
        return Err(ApiError::field(
            "keep_previous_seconds",
            format!("at most {MAX_KEEP_PREVIOUS_SECONDS} (a week)"),
        ));
    }
    let mut record = find(&state, &caller, &id).await?;
    let secret = new_secret()?;
    let now = state.now();
    let keep = i64::try_from(keep).unwrap_or(0);
    record.previous_secret = (keep > 0).then(|| record.secret.clone());
    record.previous_until = (keep > 0).then(|| now + TimeDelta::seconds(keep));
    record.secret = secret.reveal();
    record.updated_at = now;
    if !state.db().update_endpoint(&record).await? {
        return Err(ApiError::not_found(format!("webhook {id}")));
    }
    tracing::info!(webhook = %record.id, keep_previous_s = keep, by = %caller.key_id, "webhook secret rotated");
    Ok(Json(WebhookSecretBody {
        webhook: WebhookBody::new(&record, now),
        secret: secret.reveal(),
    }))
}

/// An endpoint's delivery log, newest first: each message, where it
/// stands, and every attempt (its answer's status or what went wrong).
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/deliveries",
    tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's id (wh_…)"), PageQuery),
    responses((status = 200, description = "A page of messages, newest first", body = Page<DeliveryBody>))
)]
pub(crate) async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<DeliveryBody>>> {
    let record = find(&state, &caller, &id).await?;
    let limit = page_limit(q.limit)?;
    let before = match decode_cursor(q.cursor.as_deref())? {
        Some(c) => Some(c.parse::<i64>().map_err(|_| bad_cursor())?),
        None => None,
    };
    let mut rows = state.db().messages(&record.id, before, limit + 1).await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let ids: Vec<i64> = rows.iter().map(|m| m.id).collect();
    let attempts = state.db().attempts(&ids).await?;
    let items = rows
        .iter()
        .map(|m| {
            let mine = attempts
                .iter()
                .filter(|a| a.message == m.id)
                .map(AttemptBody::from)
                .collect();
            DeliveryBody::new(m, mine)
        })
        .collect();
    let next_cursor = more
        .then(|| rows.last().map(|m| encode_cursor(&m.id.to_string())))
        .flatten();
    Ok(Json(Page { items, next_cursor }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_checked_and_named_by_their_index() {
        assert_eq!(types(&[]).unwrap(), None);
        assert_eq!(
            types(&[
                "delivery.sent".into(),
                "invitation.answered".into(),
                "delivery.sent".into()
            ])
            .unwrap(),
            Some(vec!["delivery.sent".into(), "invitation.answered".into()])
        );
        let p = types(&["event.created".into(), "event.exploded".into()])
            .unwrap_err()
            .problem();
        assert_eq!(p.errors[0].pointer, "/types/1");
        assert!(p.detail.contains("invitation.answered"), "{}", p.detail);
    }
}
