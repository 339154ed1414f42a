//! API keys: made (and shown once), listed, revoked. A domain owner's key
//! manages every key of the owner; an organizer's key manages its
//! organizer's keys.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use calinvite_core::lifecycle::{OrganizerId, OwnerId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::KeyRecord;
use crate::extract::{ApiJson, ApiPath, Caller};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

/// An API key as listed (never its secret).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct KeyBody {
    /// Its public id, the start of the key (`cik_…`).
    pub id: String,
    /// The organizer it acts for; absent for a domain owner's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organizer: Option<u64>,
    /// What it is for.
    pub label: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<&KeyRecord> for KeyBody {
    fn from(k: &KeyRecord) -> Self {
        KeyBody {
            id: k.id.clone(),
            organizer: k.organizer.map(|o| o.0),
            label: k.label.clone(),
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A key just made: `key` is shown this once and cannot be read again.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct NewKeyBody {
    /// Its public id.
    pub id: String,
    /// The whole key, for `Authorization: Bearer …`. Keep it secret.
    pub key: String,
    /// The organizer it acts for; absent for a domain owner's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organizer: Option<u64>,
    /// What it is for.
    pub label: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for NewKeyBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKeyBody")
            .field("id", &self.id)
            .field("organizer", &self.organizer)
            .finish_non_exhaustive()
    }
}

/// A key to make.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyRequest {
    /// The organizer it acts for; absent for a key of the whole domain
    /// owner (only a domain owner's key may make one). An organizer's key
    /// makes keys for its own organizer only.
    pub organizer: Option<u64>,
    /// What it is for (shown in the list).
    #[serde(default)]
    pub label: String,
}

/// Makes a key and stores its digest; the key is returned to be shown once.
pub(crate) async fn make_key(
    state: &AppState,
    owner: OwnerId,
    organizer: Option<OrganizerId>,
    label: &str,
) -> ApiResult<NewKeyBody> {
    make_key_in(state.db(), owner, organizer, label, state.now()).await
}

/// [`make_key`] on the server's tables alone (administration commands).
pub(crate) async fn make_key_in(
    db: &crate::db::ServerDb,
    owner: OwnerId,
    organizer: Option<OrganizerId>,
    label: &str,
    now: DateTime<Utc>,
) -> ApiResult<NewKeyBody> {
    let made = crate::keys::generate().map_err(|_| {
        tracing::error!("the operating system's random source failed");
        ApiError::unavailable("the random source failed; retry later")
    })?;
    let record = KeyRecord {
        id: made.id.clone(),
        owner,
        organizer,
        label: label.to_owned(),
        created_at: now,
        revoked_at: None,
    };
    db.insert_key(&record, &made.hash).await?;
    tracing::info!(key = %record.id, owner = owner.0, organizer = organizer.map(|o| o.0), "API key made");
    Ok(NewKeyBody {
        id: made.id,
        key: made.key,
        organizer: organizer.map(|o| o.0),
        label: record.label,
        created_at: record.created_at,
    })
}

/// The keys the caller manages.
#[utoipa::path(
    get,
    path = "/v1/keys",
    tag = "keys",
    responses((status = 200, description = "The keys, never their secrets", body = Vec<KeyBody>))
)]
pub(crate) async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<KeyBody>>> {
    let keys = state.db().keys(caller.owner(), caller.organizer()).await?;
    Ok(Json(keys.iter().map(KeyBody::from).collect()))
}

/// Makes a key; the answer shows it this once.
#[utoipa::path(
    post,
    path = "/v1/keys",
    tag = "keys",
    request_body = NewKeyRequest,
    responses(
        (status = 201, description = "The key, shown this once", body = NewKeyBody),
        (status = 403, description = "An organizer's key asked for a domain owner's key", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewKeyRequest>,
) -> ApiResult<impl IntoResponse> {
    let made = new_key(&state, &caller, &req).await?;
    let location = format!("/v1/keys/{}", made.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(made),
    ))
}

/// Makes the key `req` asks for, as `caller` may: the body of
/// [`create_key`]'s answer (the console's form makes keys through it too).
pub(crate) async fn new_key(
    state: &AppState,
    caller: &Caller,
    req: &NewKeyRequest,
) -> ApiResult<NewKeyBody> {
    let label = req.label.trim();
    if label.chars().count() > 200 || label.chars().any(char::is_control) {
        return Err(ApiError::field(
            "/label",
            "at most 200 characters, no control characters",
        ));
    }
    let organizer = match req.organizer {
        Some(id) => {
            let scope = caller.scope_of(id)?;
            crate::api::organizers_exist(state, scope).await?;
            Some(scope.organizer)
        }
        None => {
            caller.require_owner("a domain owner's key")?;
            None
        }
    };
    make_key(state, caller.owner(), organizer, label).await
}

/// Revokes a key: it is refused from the next request on.
#[utoipa::path(
    delete,
    path = "/v1/keys/{id}",
    tag = "keys",
    params(("id" = String, Path, description = "The key's public id (cik_…)")),
    responses((status = 204, description = "Revoked"))
)]
pub(crate) async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let Some((record, _)) = state.db().key(&id).await? else {
        return Err(ApiError::not_found(format!("key {id}")));
    };
    let visible = record.owner == caller.owner()
        && (caller.organizer().is_none() || record.organizer == caller.organizer());
    if !visible || record.revoked_at.is_some() {
        return Err(ApiError::not_found(format!("key {id}")));
    }
    state
        .db()
        .revoke_key(&id, caller.owner(), state.now())
        .await?;
    tracing::info!(key = %id, by = %caller.key_id, "API key revoked");
    Ok(StatusCode::NO_CONTENT)
}
