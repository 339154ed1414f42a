//! Reading a public form's body, and the refusals of the public pages.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::limits::Limited;
use super::{Lang, error_page};
use crate::state::AppState;

/// The largest public form body, in bytes (a 272-event landing page's
/// boxes all ticked is about 6 KiB).
pub const MAX_FORM: usize = 64 * 1024;

/// Why a public page refused a request: shown to the person on a page
/// that says so, with the status that fits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebRejection {
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
    lang: Lang,
}

impl WebRejection {
    /// 403: a form without its token, from another site, or replayed.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 400: the request is not what the page sends.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404: nothing here.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 503: the database did not answer.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server could not do this just now; nothing was sent. Try again in a minute",
        )
    }

    /// A refusal with `status`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        WebRejection {
            status,
            message: message.into(),
            retry_after: None,
            lang: Lang::En,
        }
    }

    /// The page in `lang`.
    #[must_use]
    pub fn lang(mut self, lang: Lang) -> Self {
        self.lang = lang;
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// What the page says.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<Limited> for WebRejection {
    fn from(l: Limited) -> Self {
        let minutes = l.retry_after.div_ceil(60);
        let when = if l.retry_after < 90 {
            format!("{} seconds", l.retry_after)
        } else {
            format!("{minutes} minutes")
        };
        WebRejection {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: format!(
                "Too many {} just now; nothing more was sent. Try again in {when}.",
                l.what
            ),
            retry_after: Some(l.retry_after),
            lang: Lang::En,
        }
    }
}

impl IntoResponse for WebRejection {
    fn into_response(self) -> Response {
        let title = match (self.lang, self.status) {
            (Lang::De, StatusCode::TOO_MANY_REQUESTS) => "Zu viele Anfragen",
            (Lang::Fr, StatusCode::TOO_MANY_REQUESTS) => "Trop de demandes",
            (Lang::Es, StatusCode::TOO_MANY_REQUESTS) => "Demasiadas solicitudes",
            (_, StatusCode::TOO_MANY_REQUESTS) => "Too many requests",
            (Lang::De, StatusCode::NOT_FOUND) => "Nicht gefunden",
            (Lang::Fr, StatusCode::NOT_FOUND) => "Introuvable",
            (Lang::Es, StatusCode::NOT_FOUND) => "No encontrado",
            (_, StatusCode::NOT_FOUND) => "Not found",
            (Lang::De, _) => "Das hat nicht geklappt",
            (Lang::Fr, _) => "Cela n’a pas fonctionné",
            (Lang::Es, _) => "No ha funcionado",
            (Lang::En, _) => "That did not work",
        };
        tracing::info!(status = self.status.as_u16(), reason = %self.message, "public page refused a request");
        let mut r = error_page(self.lang, self.status, title, &self.message);
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        close_if_unread(&mut r);
        r
    }
}

/// A body refused for its length was not read to its end: the connection
/// is closed after the answer (`Connection: close`), so that no client
/// sends its next request after the rest of this one.
pub(crate) fn close_if_unread(r: &mut Response) {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
}

/// A public form's fields, from an `application/x-www-form-urlencoded`
/// body of at most [`MAX_FORM`] bytes. A field repeated (ticked boxes) is
/// read into a `Vec<String>` field with `#[serde(default)]`.
#[derive(Debug)]
pub struct WebForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for WebForm<T> {
    type Rejection = WebRejection;

    async fn from_request(request: Request, _: &AppState) -> Result<Self, Self::Rejection> {
        read_form(request, MAX_FORM).await.map(WebForm)
    }
}

/// Reads an `application/x-www-form-urlencoded` body of at most `max`
/// bytes into `T` (see [`parse`]); any other type is 415, a longer body 413.
pub async fn read_form<T: DeserializeOwned>(
    request: Request,
    max: usize,
) -> Result<T, WebRejection> {
    let kind = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if kind != "application/x-www-form-urlencoded" {
        return Err(WebRejection::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "this page takes a form (application/x-www-form-urlencoded)",
        ));
    }
    let body = axum::body::to_bytes(request.into_body(), max)
        .await
        .map_err(|_| {
            WebRejection::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the form is larger than {} KiB", max / 1024),
            )
        })?;
    parse(&body)
}

/// Reads form fields: repeated keys become a list, a single value a
/// string (or a one-item list for a list field).
pub fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, WebRejection> {
    let mut map = serde_json::Map::new();
    for (k, v) in form_urlencoded::parse(body) {
        let k = k.into_owned();
        let v = serde_json::Value::String(v.into_owned());
        match map.get_mut(&k) {
            None => {
                map.insert(k, v);
            }
            Some(serde_json::Value::Array(a)) => a.push(v),
            Some(first) => {
                let prev = first.take();
                *first = serde_json::Value::Array(vec![prev, v]);
            }
        }
    }
    let value = serde_json::Value::Object(map);
    // A single value for a list field: retried as a one-item list.
    match serde_path_to_error::deserialize::<_, T>(&value) {
        Ok(t) => Ok(t),
        Err(first) => {
            let path = first.path().to_string();
            let mut value = value;
            if let Some(field) = value.get_mut(&path)
                && field.is_string()
            {
                let one = field.take();
                *field = serde_json::Value::Array(vec![one]);
                if let Ok(t) = serde_path_to_error::deserialize::<_, T>(&value) {
                    return Ok(t);
                }
                return parse_lists(value);
            }
            Err(WebRejection::bad_request(format!(
                "the form's field {path} is not what this page sends"
            )))
        }
    }
}

/// Tries each string field as a one-item list until the form reads (more
/// than one list field with one value each).
fn parse_lists<T: DeserializeOwned>(mut value: serde_json::Value) -> Result<T, WebRejection> {
    for _ in 0..8 {
        match serde_path_to_error::deserialize::<_, T>(&value) {
            Ok(t) => return Ok(t),
            Err(e) => {
                let path = e.path().to_string();
                match value.get_mut(&path) {
                    Some(field) if field.is_string() => {
                        let one = field.take();
                        *field = serde_json::Value::Array(vec![one]);
                    }
                    _ => {
                        return Err(WebRejection::bad_request(format!(
                            "the form's field {path} is not what this page sends"
                        )));
                    }
                }
            }
        }
    }
    Err(WebRejection::bad_request(
        "the form has too many list fields",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Submit {
        email: String,
        #[serde(default)]
        event: Vec<String>,
        #[serde(default)]
        group: Vec<String>,
        #[serde(default)]
        name: Option<String>,
    }

    fn read(body: &'static str) -> Result<Submit, WebRejection> {
        parse(&Bytes::from_static(body.as_bytes()))
    }

    #[test]
    fn repeated_single_and_missing_fields() {
        let s = read("email=a%40b.example&event=x&event=y&name=Ana+B").unwrap();
        assert_eq!(s.event, ["x", "y"]);
        assert_eq!(s.name.as_deref(), Some("Ana B"));
        let s = read("email=a%40b.example&event=x&group=g").unwrap();
        assert_eq!(s.event, ["x"]);
        assert_eq!(s.group, ["g"]);
        let s = read("email=a%40b.example").unwrap();
        assert!(s.event.is_empty());
        let e = read("event=x").unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert!(e.message().contains("email") || e.message().contains('.'));
        // A repeated single field is refused, not half read.
        assert!(read("email=a&email=b").is_err());
    }

    proptest::proptest! {
        /// Any body is read or refused with a 400, never a panic.
        #[test]
        fn any_body_is_read_or_refused(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            if let Err(e) = parse::<Submit>(&Bytes::from(body)) {
                proptest::prop_assert_eq!(e.status(), StatusCode::BAD_REQUEST);
            }
        }

        /// What a browser encodes is read back as it was typed.
        #[test]
        fn fields_round_trip(email in "\\PC{0,40}", events in proptest::collection::vec("\\PC{0,12}", 0..6), name in proptest::option::of("\\PC{0,20}")) {
            let mut enc = form_urlencoded::Serializer::new(String::new());
            enc.append_pair("email", &email);
            for e in &events {
                enc.append_pair("event", e);
            }
            if let Some(n) = &name {
                enc.append_pair("name", n);
            }
            let body = Bytes::from(enc.finish());
            let s: Submit = parse(&body).unwrap();
            proptest::prop_assert_eq!(s.email, email);
            proptest::prop_assert_eq!(s.event, events);
            proptest::prop_assert_eq!(s.name, name);
        }
    }
}
