//! SNS messages (what an HTTPS subscription receives), accepted only when
//! their signature verifies against the topic's signing certificate.
//!
//! The signing certificate is fetched from the `SigningCertURL` only when that
//! URL is `https://sns.<region>.amazonaws.com/….pem`; where it comes from is a
//! [`CertificateSource`], so tests (and air-gapped operators) supply their own.
//! Subscription confirmations are handed back as values: calinvite never visits
//! their URL by itself.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use aws_lc_rs::signature::{
    RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey,
};
use base64::Engine as _;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;

/// Largest SNS request body accepted, in bytes (SNS messages are at most
/// 256 KiB; JSON escaping in the envelope can grow them).
pub const MAX_SNS_BODY: usize = 1024 * 1024;

/// Largest signing certificate accepted, in bytes.
pub const MAX_CERTIFICATE: usize = 64 * 1024;

/// Why an SNS message was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnsError {
    /// The body is larger than [`MAX_SNS_BODY`].
    #[error("SNS body of {0} bytes is over the limit")]
    TooLarge(usize),
    /// The body is not an SNS message.
    #[error("not an SNS message: {0}")]
    Malformed(String),
    /// A message type calinvite does not know.
    #[error("unknown SNS message type {0:?}")]
    UnknownType(String),
    /// The message's topic is not one this verifier accepts.
    #[error("SNS topic {0:?} is not accepted")]
    TopicNotAccepted(String),
    /// The signing certificate's URL is not an SNS one.
    #[error("signing certificate URL {0:?} is not https://sns.<region>.amazonaws.com/…pem")]
    UntrustedCertificateUrl(String),
    /// The certificate could not be had.
    #[error("signing certificate unavailable: {0}")]
    Certificate(String),
    /// A signature version calinvite does not know.
    #[error("unsupported SNS signature version {0:?}")]
    UnsupportedSignatureVersion(String),
    /// The signature does not verify: forged or tampered.
    #[error("SNS signature does not verify")]
    BadSignature,
}

/// Where signing certificates come from. The returned bytes are PEM or DER.
pub trait CertificateSource: Send + Sync {
    /// The certificate at `url` (already checked to be an SNS URL).
    fn certificate(&self, url: &str) -> impl Future<Output = Result<Vec<u8>, String>> + Send;
}

/// Certificates given up front, by URL: for tests, and for operators who pin them.
#[derive(Clone, Debug, Default)]
pub struct StaticCertificates {
    by_url: HashMap<String, Vec<u8>>,
}

impl StaticCertificates {
    /// No certificates.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds the certificate (PEM or DER) served at `url`.
    pub fn with(mut self, url: impl Into<String>, certificate: impl Into<Vec<u8>>) -> Self {
        self.by_url.insert(url.into(), certificate.into());
        self
    }
}

impl CertificateSource for StaticCertificates {
    async fn certificate(&self, url: &str) -> Result<Vec<u8>, String> {
        self.by_url
            .get(url)
            .cloned()
            .ok_or_else(|| format!("no certificate known for {url}"))
    }
}

/// Fetches certificates over HTTPS (rustls with aws-lc-rs, the system's
/// roots) and keeps them: SNS signs with few certificates.
#[derive(Clone, Debug)]
pub struct HttpsCertificateSource {
    client: hyper_util::client::legacy::Client<
        hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
        http_body_util::Empty<bytes::Bytes>,
    >,
    cache: Arc<Mutex<HashMap<String, Vec<u8>>>>,
}

/// Most certificates an [`HttpsCertificateSource`] keeps.
const CACHE_ENTRIES: usize = 64;

impl HttpsCertificateSource {
    /// A source trusting the system's root certificates.
    pub fn new() -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)
            .map_err(|e| format!("no TLS roots: {e}"))?
            .https_only()
            .enable_http1()
            .build();
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector);
        Ok(HttpsCertificateSource {
            client,
            cache: Arc::new(Mutex::new(HashMap::new())),
        })
    }
}

impl CertificateSource for HttpsCertificateSource {
    async fn certificate(&self, url: &str) -> Result<Vec<u8>, String> {
        use http_body_util::BodyExt as _;
        if let Some(c) = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(url)
        {
            return Ok(c.clone());
        }
        let uri: hyper::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        let fetch = async {
            let response = self
                .client
                .get(uri)
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            if !response.status().is_success() {
                return Err(format!("{url}: HTTP {}", response.status()));
            }
            let body = http_body_util::Limited::new(response.into_body(), MAX_CERTIFICATE);
            body.collect()
                .await
                .map(|b| b.to_bytes().to_vec())
                .map_err(|e| format!("{url}: {e}"))
        };
        let bytes = tokio::time::timeout(std::time::Duration::from_secs(10), fetch)
            .await
            .map_err(|_| format!("{url}: no answer in 10 seconds"))??;
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(url.to_owned(), bytes.clone());
        Ok(bytes)
    }
}

/// A verified SNS message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnsMessage {
    /// A notification: its `message` is what was published (for SES, the
    /// notification JSON; see [`crate::notification`]).
    Notification {
        /// The topic.
        topic_arn: String,
        /// SNS's id for the message (deduplicate on it: SNS may deliver twice).
        message_id: String,
        /// The subject, if one was published.
        subject: Option<String>,
        /// What was published.
        message: String,
        /// When SNS published it (ISO 8601, as SNS wrote it).
        timestamp: String,
    },
    /// SNS asks to confirm a subscription. calinvite does not follow the URL:
    /// the operator (or the application, after its own checks) does.
    SubscriptionConfirmation(SubscriptionConfirmation),
    /// SNS says a subscription was removed.
    UnsubscribeConfirmation(SubscriptionConfirmation),
}

/// A subscription (un)confirmation, surfaced for the operator.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriptionConfirmation {
    /// The topic.
    pub topic_arn: String,
    /// The confirmation token.
    pub token: String,
    /// SNS's text.
    pub message: String,
    /// The URL SNS gave, as given.
    pub subscribe_url: String,
}

impl SubscriptionConfirmation {
    /// The URL to visit to confirm, only when it is an SNS endpoint
    /// (`https://sns.<region>.amazonaws.com/…`); `None` for any other host.
    pub fn confirmation_url(&self) -> Option<&str> {
        sns_host_url(&self.subscribe_url).then_some(self.subscribe_url.as_str())
    }
}

/// The SNS envelope as it arrives.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "MessageId")]
    message_id: String,
    #[serde(rename = "TopicArn")]
    topic_arn: String,
    #[serde(rename = "Subject")]
    subject: Option<String>,
    #[serde(rename = "Message")]
    message: String,
    #[serde(rename = "Timestamp")]
    timestamp: String,
    #[serde(rename = "SignatureVersion")]
    signature_version: String,
    #[serde(rename = "Signature")]
    signature: String,
    #[serde(rename = "SigningCertURL", alias = "SigningCertUrl")]
    signing_cert_url: String,
    #[serde(rename = "SubscribeURL", alias = "SubscribeUrl")]
    subscribe_url: Option<String>,
    #[serde(rename = "Token")]
    token: Option<String>,
}

/// Whether `url` is `https://sns.<region>.amazonaws.com[.cn]/…` with no
/// user, port or other trick in its authority.
fn sns_host_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("https://") else {
        return false;
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let _ = path;
    let Some(inner) = host.strip_prefix("sns.") else {
        return false;
    };
    let region = inner
        .strip_suffix(".amazonaws.com")
        .or_else(|| inner.strip_suffix(".amazonaws.com.cn"));
    region.is_some_and(|r| {
        !r.is_empty()
            && r.len() <= 32
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    })
}

/// Whether `url` may be fetched as a signing certificate.
pub fn is_sns_certificate_url(url: &str) -> bool {
    sns_host_url(url)
        && url
            .split(['?', '#'])
            .next()
            .is_some_and(|p| p.ends_with(".pem") && !p.contains(".."))
}

/// Verifies SNS messages against their signing certificates.
#[derive(Debug)]
pub struct SnsVerifier<C> {
    certificates: C,
    topics: Option<Vec<String>>,
}

impl<C: CertificateSource> SnsVerifier<C> {
    /// A verifier that fetches certificates through `certificates` and
    /// accepts every topic (see [`SnsVerifier::accept_topics`]).
    pub fn new(certificates: C) -> Self {
        SnsVerifier {
            certificates,
            topics: None,
        }
    }

    /// Accepts only these topic ARNs (a verified message from another
    /// account's topic is still not ours).
    pub fn accept_topics<I: IntoIterator<Item = S>, S: Into<String>>(mut self, topics: I) -> Self {
        self.topics = Some(topics.into_iter().map(Into::into).collect());
        self
    }

    /// Reads and verifies an SNS HTTP request body.
    pub async fn verify(&self, body: &[u8]) -> Result<SnsMessage, SnsError> {
        if body.len() > MAX_SNS_BODY {
            return Err(SnsError::TooLarge(body.len()));
        }
        let env: Envelope =
            serde_json::from_slice(body).map_err(|e| SnsError::Malformed(e.to_string()))?;
        if let Some(topics) = &self.topics
            && !topics.iter().any(|t| t == &env.topic_arn)
        {
            return Err(SnsError::TopicNotAccepted(env.topic_arn));
        }
        let canonical = canonical_string(&env)?;
        let algorithm = match env.signature_version.as_str() {
            "1" => &RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            "2" => &RSA_PKCS1_2048_8192_SHA256,
            other => return Err(SnsError::UnsupportedSignatureVersion(other.to_owned())),
        };
        if !is_sns_certificate_url(&env.signing_cert_url) {
            return Err(SnsError::UntrustedCertificateUrl(env.signing_cert_url));
        }
        let signature = base64::engine::general_purpose::STANDARD
            .decode(env.signature.trim())
            .map_err(|_| SnsError::BadSignature)?;
        let cert = self
            .certificates
            .certificate(&env.signing_cert_url)
            .await
            .map_err(SnsError::Certificate)?;
        let spki = public_key_of(&cert)?;
        UnparsedPublicKey::new(algorithm, spki)
            .verify(canonical.as_bytes(), &signature)
            .map_err(|_| SnsError::BadSignature)?;
        Ok(match env.kind.as_str() {
            "Notification" => SnsMessage::Notification {
                topic_arn: env.topic_arn,
                message_id: env.message_id,
                subject: env.subject,
                message: env.message,
                timestamp: env.timestamp,
            },
            kind => {
                let c = SubscriptionConfirmation {
                    topic_arn: env.topic_arn,
                    token: env.token.unwrap_or_default(),
                    message: env.message,
                    subscribe_url: env.subscribe_url.unwrap_or_default(),
                };
                if kind == "SubscriptionConfirmation" {
                    SnsMessage::SubscriptionConfirmation(c)
                } else {
                    SnsMessage::UnsubscribeConfirmation(c)
                }
            }
        })
    }
}

/// The string SNS signs: selected fields as `Name\nvalue\n`, in SNS's order.
fn canonical_string(env: &Envelope) -> Result<String, SnsError> {
    let mut out = String::with_capacity(env.message.len() + 512);
    let mut field = |name: &str, value: &str| {
        out.push_str(name);
        out.push('\n');
        out.push_str(value);
        out.push('\n');
    };
    match env.kind.as_str() {
        "Notification" => {
            field("Message", &env.message);
            field("MessageId", &env.message_id);
            if let Some(s) = &env.subject {
                field("Subject", s);
            }
            field("Timestamp", &env.timestamp);
            field("TopicArn", &env.topic_arn);
            field("Type", &env.kind);
        }
        "SubscriptionConfirmation" | "UnsubscribeConfirmation" => {
            let (Some(url), Some(token)) = (&env.subscribe_url, &env.token) else {
                return Err(SnsError::Malformed(format!(
                    "a {} without SubscribeURL or Token",
                    env.kind
                )));
            };
            field("Message", &env.message);
            field("MessageId", &env.message_id);
            field("SubscribeURL", url);
            field("Timestamp", &env.timestamp);
            field("Token", token);
            field("TopicArn", &env.topic_arn);
            field("Type", &env.kind);
        }
        other => return Err(SnsError::UnknownType(other.to_owned())),
    }
    Ok(out)
}

/// The certificate's SubjectPublicKeyInfo (the certificate in PEM or DER).
fn public_key_of(cert: &[u8]) -> Result<Vec<u8>, SnsError> {
    if cert.len() > MAX_CERTIFICATE {
        return Err(SnsError::Certificate("certificate too large".into()));
    }
    let der = if cert.starts_with(b"-----") || cert.windows(11).any(|w| w == b"-----BEGIN ") {
        CertificateDer::from_pem_slice(cert)
            .map_err(|e| SnsError::Certificate(format!("not a PEM certificate: {e}")))?
    } else {
        CertificateDer::from(cert.to_vec())
    };
    let parsed = webpki::EndEntityCert::try_from(&der)
        .map_err(|e| SnsError::Certificate(format!("not an X.509 certificate: {e}")))?;
    Ok(parsed.subject_public_key_info().as_ref().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sns_hosts_serve_certificates() {
        for good in [
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0123.pem",
            "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-x.pem",
        ] {
            assert!(is_sns_certificate_url(good), "{good}");
        }
        for bad in [
            "http://sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
            "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com@evil.example/x.pem",
            "https://user@sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com:8443/x.pem",
            "https://sns..amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com/x.txt",
            "https://sns.US-EAST-1.amazonaws.com/x.pem",
            "https://sqs.us-east-1.amazonaws.com/x.pem",
            "",
        ] {
            assert!(!is_sns_certificate_url(bad), "{bad}");
        }
    }
}
