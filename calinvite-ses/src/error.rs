//! What SES said when a send failed, classified once so that retry logic never
//! matches on SDK types: [`SesError::is_transient`] decides.

use std::fmt;

use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use calinvite_core::lifecycle::TransportError;

/// The kind of a failed send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SesErrorKind {
    /// `TooManyRequestsException`, `Throttling`, HTTP 429: sending faster than
    /// the account's maximum send rate. Transient.
    Throttled,
    /// `LimitExceededException`: the daily quota is used up. Transient (hours).
    QuotaExceeded,
    /// A 5xx answer: SES failed. Transient.
    ServiceUnavailable,
    /// No answer: the connection failed or timed out. Transient.
    Network,
    /// `SendingPausedException` or `AccountSuspendedException`: sending is
    /// paused for the account or the configuration set. Transient: the
    /// recipient is not at fault, and sending resumes once the operator acts.
    SendingPaused,
    /// `NotFoundException`: the configuration set does not exist. Transient:
    /// an operator's mistake, not the recipient's.
    ConfigurationMissing,
    /// `MessageRejected` because the sender's identity is not verified, or
    /// `MailFromDomainNotVerifiedException`. Permanent.
    SenderNotVerified,
    /// `MessageRejected` because the recipient is on a suppression list. Permanent.
    DestinationSuppressed,
    /// `MessageRejected` for any other reason (a virus, a malformed message). Permanent.
    MessageRejected,
    /// `BadRequestException` or another 4xx answer: SES will not take this
    /// request as it is. Permanent.
    BadRequest,
    /// The request could not be built (a bug or an invalid setting). Permanent.
    Construction,
    /// An address SES cannot carry: a non-ASCII local part (`zoë@…`), which
    /// needs SMTPUTF8 (RFC 6531). Refused before anything is sent, for that
    /// one recipient. Permanent.
    AddressNotSupported,
}

impl SesErrorKind {
    /// Whether sending the same message again may succeed.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            SesErrorKind::Throttled
                | SesErrorKind::QuotaExceeded
                | SesErrorKind::ServiceUnavailable
                | SesErrorKind::Network
                | SesErrorKind::SendingPaused
                | SesErrorKind::ConfigurationMissing
        )
    }

    /// A stable name, for logs and records.
    pub fn as_str(self) -> &'static str {
        match self {
            SesErrorKind::Throttled => "throttled",
            SesErrorKind::QuotaExceeded => "quota-exceeded",
            SesErrorKind::ServiceUnavailable => "service-unavailable",
            SesErrorKind::Network => "network",
            SesErrorKind::SendingPaused => "sending-paused",
            SesErrorKind::ConfigurationMissing => "configuration-missing",
            SesErrorKind::SenderNotVerified => "sender-not-verified",
            SesErrorKind::DestinationSuppressed => "destination-suppressed",
            SesErrorKind::MessageRejected => "message-rejected",
            SesErrorKind::BadRequest => "bad-request",
            SesErrorKind::Construction => "construction",
            SesErrorKind::AddressNotSupported => "address-not-supported",
        }
    }
}

/// A send SES did not accept, with SES's own code and words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SesError {
    kind: SesErrorKind,
    code: Option<String>,
    status: Option<u16>,
    message: String,
}

impl SesError {
    /// An error of `kind` with SES's `code`, HTTP `status` and `message`.
    pub fn new(
        kind: SesErrorKind,
        code: Option<String>,
        status: Option<u16>,
        message: impl Into<String>,
    ) -> Self {
        SesError {
            kind,
            code,
            status,
            message: message.into(),
        }
    }
    /// What went wrong.
    pub fn kind(&self) -> SesErrorKind {
        self.kind
    }
    /// SES's error code (`MessageRejected`, `TooManyRequestsException` …).
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }
    /// The HTTP status of SES's answer, when there was one.
    pub fn status(&self) -> Option<u16> {
        self.status
    }
    /// SES's own message.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// Whether sending the same message again may succeed.
    pub fn is_transient(&self) -> bool {
        self.kind.is_transient()
    }
    /// Whether the message will never be taken as it is.
    pub fn is_permanent(&self) -> bool {
        !self.is_transient()
    }

    /// Classifies an error code and HTTP status as SES answers them (also
    /// what the SDK reports as unhandled: `Throttling`, `ServiceUnavailable`).
    pub fn classify(code: Option<&str>, status: Option<u16>, message: &str) -> SesErrorKind {
        let lower = message.to_ascii_lowercase();
        match code.unwrap_or("") {
            "TooManyRequestsException"
            | "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestLimitExceeded"
            | "SlowDown" => SesErrorKind::Throttled,
            "LimitExceededException" => SesErrorKind::QuotaExceeded,
            "SendingPausedException" | "AccountSuspendedException" | "AccountSendingPaused" => {
                SesErrorKind::SendingPaused
            }
            "NotFoundException" | "ConfigurationSetDoesNotExist" => {
                SesErrorKind::ConfigurationMissing
            }
            "MailFromDomainNotVerifiedException" | "MailFromDomainNotVerified" => {
                SesErrorKind::SenderNotVerified
            }
            "MessageRejected" => {
                if lower.contains("not verified") || lower.contains("unverified") {
                    SesErrorKind::SenderNotVerified
                } else if lower.contains("suppress") {
                    SesErrorKind::DestinationSuppressed
                } else {
                    SesErrorKind::MessageRejected
                }
            }
            "BadRequestException" | "InvalidParameterValue" | "ValidationError" => {
                SesErrorKind::BadRequest
            }
            _ => match status {
                Some(429) => SesErrorKind::Throttled,
                Some(s) if s >= 500 => SesErrorKind::ServiceUnavailable,
                Some(s) if s >= 400 => SesErrorKind::BadRequest,
                // An answer with no status or code of note: treat as SES failing.
                _ => SesErrorKind::ServiceUnavailable,
            },
        }
    }

    pub(crate) fn from_sdk<R>(err: &SdkError<SendEmailError, R>) -> Self
    where
        R: HttpStatus + std::fmt::Debug,
    {
        match err {
            SdkError::ConstructionFailure(_) => SesError::new(
                SesErrorKind::Construction,
                None,
                None,
                format!("the request could not be built: {}", source_text(err)),
            ),
            SdkError::TimeoutError(_) => SesError::new(
                SesErrorKind::Network,
                None,
                None,
                "no answer from SES in time",
            ),
            SdkError::DispatchFailure(_) => SesError::new(
                SesErrorKind::Network,
                None,
                None,
                format!("could not reach SES: {}", source_text(err)),
            ),
            SdkError::ResponseError(r) => {
                let status = Some(r.raw().status_code());
                SesError::new(
                    SesError::classify(None, status, ""),
                    None,
                    status,
                    format!("unreadable answer from SES: {}", source_text(err)),
                )
            }
            SdkError::ServiceError(s) => {
                let e = s.err();
                let status = Some(s.raw().status_code());
                let message = e.message().unwrap_or("").to_owned();
                let code = e.code().map(str::to_owned);
                let kind = SesError::classify(code.as_deref(), status, &message);
                SesError::new(kind, code, status, message)
            }
            _ => SesError::new(
                SesErrorKind::ServiceUnavailable,
                None,
                None,
                source_text(err),
            ),
        }
    }
}

/// The HTTP status of a raw response (lets the classifier be tested without SDK internals).
pub(crate) trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_sdk_sesv2::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// An error and its sources, in one line.
fn source_text(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    let mut depth = 0;
    while let Some(e) = next {
        if depth >= 6 {
            break;
        }
        out.push_str(": ");
        out.push_str(&e.to_string());
        next = e.source();
        depth += 1;
    }
    out
}

impl fmt::Display for SesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SES {}", self.kind.as_str())?;
        if let Some(code) = &self.code {
            write!(f, " ({code}")?;
            if let Some(s) = self.status {
                write!(f, ", HTTP {s}")?;
            }
            write!(f, ")")?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for SesError {}

impl From<SesError> for TransportError {
    fn from(e: SesError) -> Self {
        if e.is_transient() {
            TransportError::transient(e.to_string())
        } else {
            TransportError::permanent(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ses_codes_map_to_the_right_outcome() {
        let cases: &[(&str, u16, &str, SesErrorKind, bool)] = &[
            (
                "TooManyRequestsException",
                429,
                "Too many requests",
                SesErrorKind::Throttled,
                true,
            ),
            (
                "Throttling",
                400,
                "Maximum sending rate exceeded.",
                SesErrorKind::Throttled,
                true,
            ),
            (
                "LimitExceededException",
                400,
                "Daily message quota exceeded",
                SesErrorKind::QuotaExceeded,
                true,
            ),
            (
                "SendingPausedException",
                400,
                "Sending is paused for this account.",
                SesErrorKind::SendingPaused,
                true,
            ),
            (
                "AccountSuspendedException",
                400,
                "account suspended",
                SesErrorKind::SendingPaused,
                true,
            ),
            (
                "NotFoundException",
                404,
                "Configuration set <x> does not exist.",
                SesErrorKind::ConfigurationMissing,
                true,
            ),
            (
                "MessageRejected",
                400,
                "Email address is not verified. The following identities failed the check in region US-EAST-1: a@b.example",
                SesErrorKind::SenderNotVerified,
                false,
            ),
            (
                "MessageRejected",
                400,
                "Address is on the account-level suppression list",
                SesErrorKind::DestinationSuppressed,
                false,
            ),
            (
                "MessageRejected",
                400,
                "Message contains a virus",
                SesErrorKind::MessageRejected,
                false,
            ),
            (
                "MailFromDomainNotVerifiedException",
                400,
                "",
                SesErrorKind::SenderNotVerified,
                false,
            ),
            (
                "BadRequestException",
                400,
                "Illegal address",
                SesErrorKind::BadRequest,
                false,
            ),
            (
                "InternalFailure",
                500,
                "",
                SesErrorKind::ServiceUnavailable,
                true,
            ),
            (
                "ServiceUnavailable",
                503,
                "",
                SesErrorKind::ServiceUnavailable,
                true,
            ),
            ("Whatever", 429, "", SesErrorKind::Throttled, true),
            ("Whatever", 403, "", SesErrorKind::BadRequest, false),
        ];
        for (code, status, msg, kind, transient) in cases {
            let got = SesError::classify(Some(code), Some(*status), msg);
            assert_eq!(got, *kind, "{code} {msg}");
            assert_eq!(got.is_transient(), *transient, "{code}");
        }
    }

    #[test]
    fn the_transport_error_keeps_ses_words() {
        let e = SesError::new(
            SesErrorKind::SenderNotVerified,
            Some("MessageRejected".into()),
            Some(400),
            "Email address is not verified.",
        );
        let t = TransportError::from(e);
        assert!(t.is_permanent());
        assert!(
            t.message().contains("Email address is not verified."),
            "{t}"
        );
        assert!(t.message().contains("MessageRejected"), "{t}");
    }
}
