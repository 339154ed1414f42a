//! What handlers take from a request, each failing as a problem: the caller
//! (its API key), a JSON body, a CSV body, query and path parameters, and
//! pages.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine as _;
use calinvite_core::lifecycle::{OrganizerId, OwnerId, Scope};
use serde::de::DeserializeOwned;

use crate::keys;
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

/// Whom a key acts for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tenant {
    /// A domain owner: all of its organizers.
    Owner(OwnerId),
    /// One organizer.
    Organizer(Scope),
}

/// The caller, as its API key says. Every handler that reads or changes a
/// tenant's data takes one: a request without a valid key is answered 401
/// before anything is read.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The key's public id.
    pub key_id: String,
    /// Whom it acts for.
    pub tenant: Tenant,
}

impl Caller {
    /// The domain owner.
    pub fn owner(&self) -> OwnerId {
        match self.tenant {
            Tenant::Owner(o) => o,
            Tenant::Organizer(s) => s.owner,
        }
    }

    /// The organizer, for an organizer's key.
    pub fn organizer(&self) -> Option<OrganizerId> {
        match self.tenant {
            Tenant::Owner(_) => None,
            Tenant::Organizer(s) => Some(s.organizer),
        }
    }

    /// Whether the key may see what belongs to `scope`.
    pub fn sees(&self, scope: Scope) -> bool {
        match self.tenant {
            Tenant::Owner(o) => scope.owner == o,
            Tenant::Organizer(s) => scope == s,
        }
    }

    /// The scope of organizer `id` as this key names it: an owner's key may
    /// name any of its organizers, an organizer's key only itself (any
    /// other is not found: another tenant's data does not exist for it).
    pub fn scope_of(&self, id: u64) -> ApiResult<Scope> {
        let scope = Scope::new(self.owner(), OrganizerId(id));
        // The store keeps ids as signed 64-bit integers: a larger one names
        // no organizer (rather than failing the store as out of range).
        if self.sees(scope) && i64::try_from(id).is_ok() {
            Ok(scope)
        } else {
            Err(ApiError::not_found(format!("organizer {id}")))
        }
    }

    /// The organizer a request acts as: the one named (`organizer` in the
    /// body), else the key's own. An owner's key must name one.
    pub fn acting_as(&self, named: Option<u64>) -> ApiResult<Scope> {
        match (self.tenant, named) {
            (_, Some(id)) => self.scope_of(id),
            (Tenant::Organizer(s), None) => Ok(s),
            (Tenant::Owner(_), None) => Err(ApiError::field(
                "/organizer",
                "a domain owner's key must say which organizer (its id)",
            )),
        }
    }

    /// Fails with 403 unless this is a domain owner's key.
    pub fn require_owner(&self, what: &str) -> ApiResult<OwnerId> {
        match self.tenant {
            Tenant::Owner(o) => Ok(o),
            Tenant::Organizer(_) => Err(ApiError::forbidden(format!(
                "{what} needs a domain owner's key; this is an organizer's"
            ))),
        }
    }

    /// The idempotency scope: the owner, and the organizer (0 for an
    /// owner's key).
    pub(crate) fn idem_scope(&self) -> (OwnerId, u64) {
        (self.owner(), self.organizer().map_or(0, |o| o.0))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::unauthorized(
                "no API key: send the header Authorization: Bearer cik_…",
            ));
        };
        let value = value.to_str().unwrap_or("");
        let presented = match value.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ => {
                return Err(ApiError::unauthorized(
                    "the Authorization header must be `Bearer` and an API key",
                ));
            }
        };
        let Some((id, secret)) = keys::split(presented) else {
            return Err(ApiError::unauthorized(
                "that is not an API key of this server (they start with cik_)",
            ));
        };
        state.authenticate(id, secret).await
    }
}

/// A JSON body (`application/json`), at most the server's body limit,
/// parsed with the path of any bad field.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> ApiResult<Self> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .is_some_and(|m| m == "application/json" || m.ends_with("+json"));
        let bytes = body(req, state.limits().max_body).await?;
        if bytes.is_empty() {
            return Err(ApiError::bad_request(
                "the body is empty: this operation takes a JSON object",
            ));
        }
        if !json {
            return Err(ApiError::unsupported_media_type(
                "the body must be JSON, sent with Content-Type: application/json",
            ));
        }
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses JSON, naming the field that is wrong.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let pointer = pointer(e.path());
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request(format!("the body is not valid JSON: {inner}"))
        } else if pointer.is_empty() {
            ApiError::bad_request(format!("the body does not fit: {inner}"))
        } else {
            ApiError::field(pointer, clean(&inner.to_string()))
        }
    })?;
    de.end()
        .map_err(|_| ApiError::bad_request("the body has more after its JSON value"))?;
    Ok(value)
}

/// A serde error without its " at line 1 column 17" tail.
fn clean(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// A serde path as a JSON pointer (`/recipients/0/address`).
fn pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        out.push('/');
        match segment {
            Segment::Seq { index } => out.push_str(&index.to_string()),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                out.push_str(&key.replace('~', "~0").replace('/', "~1"));
            }
            Segment::Unknown => out.push('?'),
        }
    }
    out
}

/// How much of a body that is too large is still read (and thrown away)
/// before the 413 is sent: a client still sending when the server answers
/// and closes would see the connection reset instead of the answer.
const DRAIN: u64 = 1024 * 1024;

/// Reads a body of at most `limit` bytes (413 beyond).
pub(crate) async fn body(req: Request, limit: usize) -> ApiResult<Bytes> {
    use http_body_util::BodyExt as _;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let limit64 = limit as u64;
    if declared.is_some_and(|n| n > limit64.saturating_add(DRAIN)) {
        // Far too large: not worth reading.
        return Err(ApiError::too_large(limit));
    }
    let mut body: Body = req.into_body();
    let mut kept = Vec::new();
    let mut seen: u64 = 0;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(ApiError::bad_request("the body could not be read"));
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len() as u64);
        if seen > limit64.saturating_add(DRAIN) {
            break;
        }
        if seen <= limit64 {
            kept.extend_from_slice(&data);
        }
    }
    if seen > limit64 {
        return Err(ApiError::too_large(limit));
    }
    Ok(Bytes::from(kept))
}

/// Query parameters, parsed with the name of any bad one.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> ApiResult<Self> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| {
                let name = e.path().to_string();
                let inner = e.into_inner().to_string();
                if name.is_empty() || name == "." {
                    ApiError::bad_request(format!("the query string does not fit: {inner}"))
                } else {
                    ApiError::field(name, inner)
                }
            })
    }
}

/// Path parameters; a bad one is a 400 naming it.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e| ApiError::bad_request(format!("a path parameter: {}", e.body_text())))
    }
}

/// The page size asked for: `limit`, 1 to 200 (default 50).
pub(crate) fn page_limit(limit: Option<u32>) -> ApiResult<usize> {
    match limit {
        None => Ok(50),
        Some(n @ 1..=200) => Ok(n as usize),
        Some(_) => Err(ApiError::field("limit", "must be from 1 to 200")),
    }
}

/// A cursor: opaque to clients (base64url of the server's own position).
pub(crate) fn encode_cursor(position: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(position)
}

/// The position a cursor holds.
pub(crate) fn decode_cursor(cursor: Option<&str>) -> ApiResult<Option<String>> {
    let Some(c) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .map(Some)
        .ok_or_else(bad_cursor)
}

/// A cursor that is not one this server gave out (or no longer points anywhere).
pub(crate) fn bad_cursor() -> ApiError {
    ApiError::field("cursor", "not a cursor this server gave out")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        address: String,
        items: Vec<Item>,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Item {
        n: u32,
    }

    #[test]
    fn a_bad_field_is_named_by_its_pointer() {
        let e = parse_json::<Body>(br#"{"address": "a", "items": [{"n": 1}, {"n": "x"}]}"#)
            .unwrap_err()
            .problem();
        assert_eq!(e.status, 400);
        assert_eq!(e.errors[0].pointer, "/items/1/n");
        let e = parse_json::<Body>(br#"{"items": []}"#)
            .unwrap_err()
            .problem();
        assert!(e.detail.contains("address"), "{e:?}");
        let e = parse_json::<Body>(b"{not json").unwrap_err().problem();
        assert!(e.detail.starts_with("the body is not valid JSON"), "{e:?}");
        let e = parse_json::<Body>(br#"{"address": "a", "items": []} x"#)
            .unwrap_err()
            .problem();
        assert!(e.detail.contains("more after"), "{e:?}");
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = encode_cursor("ana@example.com");
        assert_eq!(
            decode_cursor(Some(&c)).unwrap().as_deref(),
            Some("ana@example.com")
        );
        assert_eq!(decode_cursor(None).unwrap(), None);
        assert!(decode_cursor(Some("***")).is_err());
    }

    #[test]
    fn page_limits() {
        assert_eq!(page_limit(None).unwrap(), 50);
        assert_eq!(page_limit(Some(200)).unwrap(), 200);
        assert!(page_limit(Some(0)).is_err());
        assert!(page_limit(Some(201)).is_err());
    }
}
