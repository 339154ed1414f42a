//! Errors as RFC 9457 problem details: every rejection is a JSON object
//! (`application/problem+json`) with a `type` naming the kind of problem, the
//! HTTP `status`, a `title` and a `detail` that says what was wrong with this
//! request. Bad fields are listed in `errors`, each with a JSON pointer to
//! the field; refusals of the engine carry its `reason` keyword
//! (`suppressed`, `event-cancelled` …).
//!
//! Each `type` is a relative URI (`/problems/validation`) that this server
//! answers with a description of the problem ([`describe`]).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use calinvite_core::lifecycle::{PipelineError, Refusal, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::DbError;

/// The media type of a problem.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem, as the client reads it (RFC 9457).
#[derive(Clone, Debug, Serialize, serde::Deserialize, ToSchema, PartialEq, Eq)]
#[non_exhaustive]
pub struct Problem {
    /// The kind of problem: a URI reference such as `/problems/validation`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What was wrong with this request, for a person.
    pub detail: String,
    /// For a refusal by the engine: its reason (`suppressed`,
    /// `event-cancelled`, `event-ended`, `own-address` …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The fields that were wrong, each with a JSON pointer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One field that was wrong.
#[derive(Clone, Debug, Serialize, serde::Deserialize, ToSchema, PartialEq, Eq)]
#[non_exhaustive]
pub struct FieldError {
    /// Where: a JSON pointer into the request body (`/address`), or the
    /// name of a query or path parameter (`limit`).
    pub pointer: String,
    /// What is wrong with it.
    pub detail: String,
}

/// The kinds of problem, with their status, title and description.
const KINDS: &[(&str, u16, &str, &str)] = &[
    (
        "validation",
        400,
        "The request is not valid",
        "The body is not the JSON this operation takes, or a field, query or path parameter has a wrong value. `errors` names each field with a JSON pointer.",
    ),
    (
        "unauthorized",
        401,
        "An API key is needed",
        "The request carries no API key, or one that is unknown or revoked. Send `Authorization: Bearer cik_…`.",
    ),
    (
        "forbidden",
        403,
        "This key may not do that",
        "The operation needs a domain owner's key; an organizer's key cannot do it.",
    ),
    (
        "not-found",
        404,
        "Not found",
        "There is no such resource for this key: it does not exist, or it belongs to another tenant.",
    ),
    (
        "method-not-allowed",
        405,
        "Method not allowed",
        "The resource exists but does not take this HTTP method.",
    ),
    (
        "conflict",
        409,
        "Conflict",
        "The request conflicts with the resource's current state (an address already registered, a list of that name with other content).",
    ),
    (
        "idempotency-key-in-use",
        409,
        "The Idempotency-Key is in use",
        "A request with the same Idempotency-Key has not finished yet. Retry after it has.",
    ),
    (
        "payload-too-large",
        413,
        "The body is too large",
        "The request body is larger than this server takes for the operation.",
    ),
    (
        "unsupported-media-type",
        415,
        "Unsupported media type",
        "The body must be `application/json` (or `text/csv` for a list upload).",
    ),
    (
        "refused",
        422,
        "Refused",
        "calinvite refused the request; `reason` says why (for instance `suppressed`, `event-cancelled`, `event-ended`, `own-address`, `cancellation-pending`).",
    ),
    (
        "idempotency-key-reused",
        422,
        "The Idempotency-Key was used for another request",
        "The Idempotency-Key was used before with a different method, path or body. Use a new key for a new request.",
    ),
    (
        "too-many-requests",
        429,
        "Too many requests",
        "The same thing was asked for too recently (a sign-in link to one address, say); `detail` says when it may be asked again.",
    ),
    (
        "unavailable",
        503,
        "Temporarily unavailable",
        "The database did not answer, or the request took too long. Nothing was half done: retry later.",
    ),
    (
        "internal",
        500,
        "Internal error",
        "Something went wrong in the server. It is logged; retrying may help.",
    ),
];

/// The description of problem kind `slug`, for `GET /problems/{slug}`.
pub fn describe(slug: &str) -> Option<(u16, &'static str, &'static str)> {
    KINDS
        .iter()
        .find(|(s, ..)| *s == slug)
        .map(|(_, status, title, text)| (*status, *title, *text))
}

/// Every kind of problem (slug, status, title).
pub fn kinds() -> impl Iterator<Item = (&'static str, u16, &'static str)> {
    KINDS.iter().map(|(s, st, t, _)| (*s, *st, *t))
}

/// A rejection on its way to the client.
#[derive(Clone, Debug)]
pub struct ApiError {
    slug: &'static str,
    detail: String,
    reason: Option<String>,
    errors: Vec<FieldError>,
}

impl ApiError {
    fn new(slug: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            slug,
            detail: detail.into(),
            reason: None,
            errors: Vec::new(),
        }
    }

    /// 400: the request is wrong, as a whole.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new("validation", detail)
    }

    /// 400: one field is wrong (`pointer`: `/address`, or a parameter's name).
    pub fn field(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        let pointer = pointer.into();
        let detail = detail.into();
        let mut e = Self::new("validation", format!("{pointer}: {detail}"));
        e.errors.push(FieldError { pointer, detail });
        e
    }

    /// 401.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new("unauthorized", detail)
    }

    /// 403.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new("forbidden", detail)
    }

    /// 404.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new("not-found", format!("no {} for this key", what.into()))
    }

    /// 405.
    pub fn method_not_allowed() -> Self {
        Self::new(
            "method-not-allowed",
            "this resource does not take that method",
        )
    }

    /// 409.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new("conflict", detail)
    }

    /// 409: an Idempotency-Key whose request has not finished.
    pub fn idempotency_in_use() -> Self {
        Self::new(
            "idempotency-key-in-use",
            "a request with this Idempotency-Key is still running; retry when it has finished",
        )
    }

    /// 422: an Idempotency-Key used for another request.
    pub fn idempotency_reused() -> Self {
        Self::new(
            "idempotency-key-reused",
            "this Idempotency-Key was used for a different request (method, path or body)",
        )
    }

    /// 413.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            "payload-too-large",
            format!("the body is larger than {limit} bytes"),
        )
    }

    /// 415.
    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new("unsupported-media-type", detail)
    }

    /// 422: the engine refused.
    pub fn refused(refusal: &Refusal) -> Self {
        let mut e = Self::new("refused", refusal.detail.clone());
        e.reason = Some(refusal.reason.as_str().to_owned());
        e
    }

    /// 429: asked for again too soon.
    pub fn too_many_requests(detail: impl Into<String>) -> Self {
        Self::new("too-many-requests", detail)
    }

    /// 503.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new("unavailable", detail)
    }

    /// 500.
    pub fn internal() -> Self {
        Self::new("internal", "the server failed; the failure is logged")
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        let code = describe(self.slug).map_or(500, |(s, ..)| s);
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// Whether the server, not the request, failed (5xx).
    pub fn is_server_error(&self) -> bool {
        self.status().is_server_error()
    }

    /// The problem as the client reads it.
    pub fn problem(&self) -> Problem {
        let (status, title, _) = describe(self.slug).unwrap_or((500, "Internal error", ""));
        Problem {
            kind: format!("/problems/{}", self.slug),
            title: title.to_owned(),
            status,
            detail: self.detail.clone(),
            reason: self.reason.clone(),
            errors: self.errors.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.slug, self.detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"calinvite\""),
            );
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

impl From<PipelineError> for ApiError {
    fn from(e: PipelineError) -> Self {
        match e {
            PipelineError::NotFound(what) => ApiError::not_found(what),
            PipelineError::Refused(r) => ApiError::refused(&r),
            PipelineError::Misuse(m) => ApiError::bad_request(m),
            PipelineError::Store(StoreError::Conflict(_)) => {
                ApiError::conflict("the resource changed while the request ran; retry it")
            }
            PipelineError::Store(StoreError::Unavailable(_) | StoreError::TooNew { .. }) => {
                tracing::warn!(error_kind = "store_unavailable", "the store failed");
                ApiError::unavailable("the database did not answer; retry later")
            }
            PipelineError::IdSource(_) => {
                tracing::error!(error_kind = "id_source", "the random source failed");
                ApiError::unavailable("the random source failed; retry later")
            }
            other => {
                tracing::error!(error = %other, "a command failed");
                ApiError::internal()
            }
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        tracing::warn!(error = %e, "the server's tables failed");
        ApiError::unavailable("the database did not answer; retry later")
    }
}

/// What handlers return.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_status() {
        for (slug, status, _) in kinds() {
            let e = ApiError::new(slug, "x");
            assert_eq!(e.status().as_u16(), status, "{slug}");
            assert_eq!(e.problem().kind, format!("/problems/{slug}"));
        }
    }

    #[test]
    fn refusals_carry_their_reason() {
        let r = Refusal::new(
            calinvite_core::lifecycle::RefusalReason::Suppressed,
            "the address unsubscribed",
        );
        let p = ApiError::refused(&r).problem();
        assert_eq!(p.status, 422);
        assert_eq!(p.reason.as_deref(), Some("suppressed"));
        assert_eq!(p.detail, "the address unsubscribed");
    }

    #[test]
    fn a_field_error_names_its_field() {
        let p = ApiError::field("/address", "not an email address").problem();
        assert_eq!(p.status, 400);
        assert_eq!(p.errors[0].pointer, "/address");
        assert!(p.detail.contains("/address"));
    }
}
