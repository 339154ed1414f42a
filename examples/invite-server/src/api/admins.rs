//! The domain owner's console administrators: the addresses that may sign
//! in to the web console (`/console`) by a mailed link and then see every
//! organizer's events.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use calinvite_core::EmailAddress;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::extract::{ApiJson, ApiPath, Caller};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

/// A console administrator.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct AdminBody {
    /// The address a sign-in link is mailed to (lowercase).
    pub address: String,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

/// An administrator to add.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAdmin {
    /// Their address.
    pub address: String,
}

/// The address as stored: parsed, lowercase.
fn normal(address: &str, pointer: &str) -> ApiResult<String> {
    EmailAddress::parse(address.trim())
        .map(|a| a.as_str().to_lowercase())
        .map_err(|e| ApiError::field(pointer, format!("not an email address: {e}")))
}

/// The console administrators (a domain owner's key only).
#[utoipa::path(
    get,
    path = "/v1/owner/admins",
    tag = "organizers",
    responses((status = 200, description = "The administrators, by address", body = Vec<AdminBody>))
)]
pub(crate) async fn list_admins(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<AdminBody>>> {
    let owner = caller.require_owner("listing console administrators")?;
    let all = state.db().console_admins(owner).await?;
    Ok(Json(
        all.into_iter()
            .map(|(address, created_at)| AdminBody {
                address,
                created_at,
            })
            .collect(),
    ))
}

/// Adds a console administrator (a domain owner's key only): 201 when
/// added, 200 when the address was one already.
#[utoipa::path(
    post,
    path = "/v1/owner/admins",
    tag = "organizers",
    request_body = NewAdmin,
    responses(
        (status = 201, description = "Added", body = AdminBody),
        (status = 200, description = "Was one already", body = AdminBody),
    )
)]
pub(crate) async fn add_admin(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(new): ApiJson<NewAdmin>,
) -> ApiResult<impl IntoResponse> {
    let owner = caller.require_owner("adding console administrators")?;
    let address = normal(&new.address, "/address")?;
    let added = state
        .db()
        .add_console_admin(owner, &address, state.now())
        .await?;
    let created_at = state
        .db()
        .console_admins(owner)
        .await?
        .into_iter()
        .find(|(a, _)| *a == address)
        .map_or_else(|| state.now(), |(_, t)| t);
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(AdminBody {
            address,
            created_at,
        }),
    ))
}

/// Removes a console administrator and ends their console sessions (a
/// domain owner's key only).
#[utoipa::path(
    delete,
    path = "/v1/owner/admins/{address}",
    tag = "organizers",
    params(("address" = String, Path, description = "The administrator's address")),
    responses((status = 204, description = "Removed"))
)]
pub(crate) async fn remove_admin(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(address): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let owner = caller.require_owner("removing console administrators")?;
    let address = normal(&address, "address")?;
    if state.db().remove_console_admin(owner, &address).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "console administrator {address}"
        )))
    }
}
