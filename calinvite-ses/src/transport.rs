//! [`SesTransport`]: the core's [`Transport`] over SESv2 `SendEmail` with raw
//! content, and [`SesConfig`], where it gets its account, region and limits.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_sesv2::config::retry::RetryConfig;
use aws_sdk_sesv2::config::timeout::TimeoutConfig;
use aws_sdk_sesv2::config::{
    BehaviorVersion, Credentials, ProvideCredentials, Region, SharedCredentialsProvider,
};
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, MessageTag, RawMessage};
use calinvite_core::Envelope;
use calinvite_core::lifecycle::{Transport, TransportError};

use crate::error::{SesError, SesErrorKind};
use crate::rate::{SES_STARTING_RATE, SendRateLimiter};
use crate::tags;

/// The transport could not be set up: a caller's mistake, told apart from
/// what SES answers ([`SesError`]).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// No region was given or found.
    #[error("no AWS region: set AWS_REGION or give one")]
    NoRegion,
    /// No credentials were given or found.
    #[error("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or give them")]
    NoCredentials,
    /// A setting is out of range or malformed.
    #[error("invalid setting {name}: {why}")]
    Invalid {
        /// Which setting.
        name: &'static str,
        /// Why.
        why: String,
    },
}

/// Where credentials come from.
#[derive(Clone, Debug)]
enum CredentialSource {
    None,
    Provider(SharedCredentialsProvider),
}

/// How an [`SesTransport`] reaches SES and how fast it sends.
///
/// Region and credentials are given explicitly ([`SesConfig::new`] and
/// [`SesConfig::credentials`]), read from the environment
/// ([`SesConfig::from_env`]), or taken from an AWS SDK configuration that an
/// application loaded with `aws-config`'s standard chain (profiles, SSO,
/// instance and container roles: [`SesConfig::from_sdk_config`]).
#[derive(Clone, Debug)]
pub struct SesConfig {
    region: Option<String>,
    credentials: CredentialSource,
    endpoint_url: Option<String>,
    sdk: Option<aws_types::SdkConfig>,
    configuration_set: Option<String>,
    message_tags: bool,
    limiter: Option<SendRateLimiter>,
    max_send_rate: f64,
    throttle_retries: u32,
    connect_timeout: Duration,
    operation_timeout: Duration,
    delivery_notifications: bool,
}

impl SesConfig {
    /// SES in `region` (`eu-west-1` …), no credentials yet, SES's starting
    /// send rate (14 messages per second).
    pub fn new(region: impl Into<String>) -> Self {
        SesConfig {
            region: Some(region.into()),
            credentials: CredentialSource::None,
            endpoint_url: None,
            sdk: None,
            configuration_set: None,
            message_tags: true,
            limiter: None,
            max_send_rate: SES_STARTING_RATE,
            throttle_retries: 6,
            connect_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(30),
            delivery_notifications: true,
        }
    }

    /// Region, credentials and endpoint from the environment, as the AWS
    /// tools read them: `AWS_REGION` (else `AWS_DEFAULT_REGION`),
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, and
    /// `AWS_ENDPOINT_URL_SESV2` (else `AWS_ENDPOINT_URL`).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
    }

    /// As [`SesConfig::from_env`], reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let region = lookup("AWS_REGION")
            .or_else(|| lookup("AWS_DEFAULT_REGION"))
            .ok_or(ConfigError::NoRegion)?;
        let (Some(id), Some(secret)) =
            (lookup("AWS_ACCESS_KEY_ID"), lookup("AWS_SECRET_ACCESS_KEY"))
        else {
            return Err(ConfigError::NoCredentials);
        };
        let mut config =
            SesConfig::new(region).credentials(id, secret, lookup("AWS_SESSION_TOKEN"));
        if let Some(url) = lookup("AWS_ENDPOINT_URL_SESV2").or_else(|| lookup("AWS_ENDPOINT_URL")) {
            config = config.endpoint_url(url);
        }
        Ok(config)
    }

    /// Region, credentials provider, endpoint and HTTP client from an AWS SDK
    /// configuration (for instance `aws_config::load_defaults(..)`'s, which
    /// follows the standard chain: environment, profile, SSO, web identity,
    /// container and instance roles). Settings given after this override it.
    pub fn from_sdk_config(sdk: &aws_types::SdkConfig) -> Self {
        let mut config = SesConfig::new(
            sdk.region()
                .map(|r| r.as_ref().to_owned())
                .unwrap_or_default(),
        );
        if sdk.region().is_none() {
            config.region = None;
        }
        config.sdk = Some(sdk.clone());
        if let Some(p) = sdk.credentials_provider() {
            config.credentials = CredentialSource::Provider(p);
        }
        config
    }

    /// Static credentials (an access key, its secret, and a session token
    /// for temporary ones).
    pub fn credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        let c = Credentials::new(
            access_key_id,
            secret_access_key,
            session_token,
            None,
            "calinvite-ses",
        );
        self.credentials = CredentialSource::Provider(SharedCredentialsProvider::new(c));
        self
    }

    /// Credentials from any provider (rotating ones, a role).
    pub fn credentials_provider(mut self, provider: impl ProvideCredentials + 'static) -> Self {
        self.credentials = CredentialSource::Provider(SharedCredentialsProvider::new(provider));
        self
    }

    /// Another endpoint: a test server, a VPC endpoint, an SES-compatible service.
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// The SES configuration set every message is sent with (event
    /// destinations, dedicated IP pools).
    pub fn configuration_set(mut self, name: impl Into<String>) -> Self {
        self.configuration_set = Some(name.into());
        self
    }

    /// Whether messages carry the `calinvite-invitation` and `calinvite-event`
    /// message tags, so SES events name them (on by default).
    pub fn message_tags(mut self, on: bool) -> Self {
        self.message_tags = on;
        self
    }

    /// The account's maximum send rate, in messages per second (SES's quota;
    /// accounts start at 14). Ignored when [`SesConfig::limiter`] is given.
    pub fn max_send_rate(mut self, per_second: f64) -> Self {
        self.max_send_rate = per_second;
        self
    }

    /// A limiter shared with other transports (several clients, one account).
    pub fn limiter(mut self, limiter: SendRateLimiter) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// How often a throttled send is tried again, after the shared pause,
    /// before it is reported as a transient failure (default 6).
    pub fn throttle_retries(mut self, retries: u32) -> Self {
        self.throttle_retries = retries;
        self
    }

    /// Connection and whole-request time limits (defaults 5 s and 30 s).
    pub fn timeouts(mut self, connect: Duration, operation: Duration) -> Self {
        self.connect_timeout = connect;
        self.operation_timeout = operation;
        self
    }

    /// Whether the application handles SES's Delivery notifications (on by
    /// default): it subscribes to them (SNS, from the identity or a
    /// configuration set's event destination) and hands each to the pipeline
    /// ([`crate::handle_sns`]). Then every delivery is confirmed and reports
    /// show the count ([`SesTransport`]'s
    /// [`Transport::confirms_delivery`]). Turn it off when only bounces and
    /// complaints are subscribed: a confirmed count would stay short of what
    /// was delivered.
    pub fn delivery_notifications(mut self, on: bool) -> Self {
        self.delivery_notifications = on;
        self
    }

    fn sdk_config(&self) -> Result<aws_sdk_sesv2::Config, ConfigError> {
        let mut b = match &self.sdk {
            Some(sdk) => aws_sdk_sesv2::config::Builder::from(sdk),
            None => aws_sdk_sesv2::config::Builder::new(),
        };
        let region = self
            .region
            .clone()
            .filter(|r| !r.trim().is_empty())
            .ok_or(ConfigError::NoRegion)?;
        if !region
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-')
        {
            return Err(ConfigError::Invalid {
                name: "region",
                why: format!("{region:?} is not a region name"),
            });
        }
        let CredentialSource::Provider(credentials) = &self.credentials else {
            return Err(ConfigError::NoCredentials);
        };
        if let Some(url) = &self.endpoint_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(ConfigError::Invalid {
                name: "endpoint_url",
                why: format!("{url:?} is not an http(s) URL"),
            });
        }
        b = b
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region))
            .credentials_provider(credentials.clone())
            // Retries are ours: throttling pauses every worker (the shared
            // limiter), and other failures go back to the pipeline's queue.
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(self.connect_timeout)
                    .operation_timeout(self.operation_timeout)
                    .build(),
            );
        if let Some(url) = &self.endpoint_url {
            b = b.endpoint_url(url.clone());
        }
        Ok(b.build())
    }
}

/// What SES answered to an accepted send.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SentMessage {
    /// SES's id for the message (notifications carry it as `mail.messageId`).
    pub ses_message_id: Option<String>,
    /// Throttling answers before SES took it.
    pub throttled: u32,
}

/// What an [`SesTransport`] (and its clones) has done since it was created:
/// counters an application exports as metrics ([`SesTransport::metrics`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SesMetrics {
    /// Messages SES accepted.
    pub sent: u64,
    /// Throttling answers (each paused every worker and was retried, or
    /// ended the send when the retries were used up).
    pub throttled: u64,
    /// Sends that failed transiently (the queue retries them).
    pub transient_failures: u64,
    /// Sends that failed permanently (the invitation bounces).
    pub permanent_failures: u64,
}

#[derive(Debug, Default)]
struct SesCounters {
    sent: AtomicU64,
    throttled: AtomicU64,
    transient_failures: AtomicU64,
    permanent_failures: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The core's [`Transport`] over SESv2 `SendEmail` with raw content.
///
/// Each send logs one [`tracing`] event: `info` with SES's message id when
/// it was accepted, `info` for each throttling answer with the pause every
/// worker takes, `warn` for a transient failure and `info` for a permanent
/// one, with SES's error code and kind (SES's own words, which may name the
/// addresses, at `debug`). Neither the message nor the credentials are ever
/// logged.
///
/// The bytes go out exactly as the core assembled them; the envelope is
/// explicit (its sender is `FromEmailAddress`, where SES returns feedback,
/// its recipient the only destination). Clones share the SDK client and the
/// send-rate limiter, so one per process holds the account's rate.
#[derive(Clone, Debug)]
pub struct SesTransport {
    client: aws_sdk_sesv2::Client,
    limiter: SendRateLimiter,
    configuration_set: Option<String>,
    message_tags: bool,
    throttle_retries: u32,
    delivery_notifications: bool,
    counters: Arc<SesCounters>,
}

impl SesTransport {
    /// A transport for `config`.
    pub fn new(config: SesConfig) -> Result<Self, ConfigError> {
        let sdk = config.sdk_config()?;
        if let Some(name) = &config.configuration_set
            && (name.is_empty() || name.len() > 64)
        {
            return Err(ConfigError::Invalid {
                name: "configuration_set",
                why: format!("{name:?} is not 1 to 64 characters"),
            });
        }
        let limiter = config
            .limiter
            .clone()
            .unwrap_or_else(|| SendRateLimiter::new(config.max_send_rate));
        Ok(SesTransport {
            client: aws_sdk_sesv2::Client::from_conf(sdk),
            limiter,
            configuration_set: config.configuration_set,
            message_tags: config.message_tags,
            throttle_retries: config.throttle_retries,
            delivery_notifications: config.delivery_notifications,
            counters: Arc::default(),
        })
    }

    /// The SDK client (to verify identities, read quotas …).
    pub fn client(&self) -> &aws_sdk_sesv2::Client {
        &self.client
    }

    /// What this transport and its clones have done so far.
    pub fn metrics(&self) -> SesMetrics {
        let c = &self.counters;
        SesMetrics {
            sent: c.sent.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
            transient_failures: c.transient_failures.load(Ordering::Relaxed),
            permanent_failures: c.permanent_failures.load(Ordering::Relaxed),
        }
    }

    /// The send-rate limiter every send goes through.
    pub fn limiter(&self) -> &SendRateLimiter {
        &self.limiter
    }

    /// Sends `message` to `envelope`'s recipient and says what SES answered.
    /// Throttling answers pause every worker and are retried; everything
    /// else comes back classified.
    ///
    /// An address with a non-ASCII local part is refused at once with
    /// [`SesErrorKind::AddressNotSupported`] (permanent): SES takes
    /// internationalised domains (sent in A-labels) but not UTF-8 local parts.
    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<SentMessage, SesError> {
        if let Some(refused) = unsupported_address(envelope) {
            bump(&self.counters.permanent_failures);
            tracing::info!(
                outcome = "permanent",
                kind = refused.kind().as_str(),
                bytes = message.len(),
                "SES cannot carry this address; the message is not sent"
            );
            return Err(refused);
        }
        let tags = if self.message_tags {
            tags::message_tags(message)
                .into_iter()
                .map(|(name, value)| MessageTag::builder().name(name).value(value).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| SesError::new(SesErrorKind::Construction, None, None, e.to_string()))?
        } else {
            Vec::new()
        };
        let raw = RawMessage::builder()
            .data(Blob::new(message))
            .build()
            .map_err(|e| SesError::new(SesErrorKind::Construction, None, None, e.to_string()))?;
        let content = EmailContent::builder().raw(raw).build();
        let destination = Destination::builder()
            .to_addresses(envelope.to().as_str())
            .build();
        let mut throttled = 0;
        let started = tokio::time::Instant::now();
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        loop {
            self.limiter.acquire().await;
            let request = self
                .client
                .send_email()
                .from_email_address(envelope.from().as_str())
                .destination(destination.clone())
                .content(content.clone())
                .set_configuration_set_name(self.configuration_set.clone())
                .set_email_tags((!tags.is_empty()).then(|| tags.clone()));
            match request.send().await {
                Ok(out) => {
                    self.limiter.accepted();
                    bump(&self.counters.sent);
                    tracing::info!(
                        outcome = "accepted",
                        ses_message_id = out.message_id.as_deref(),
                        throttled,
                        bytes = message.len(),
                        send_ms = millis(started.elapsed()),
                        "message sent through SES"
                    );
                    return Ok(SentMessage {
                        ses_message_id: out.message_id,
                        throttled,
                    });
                }
                Err(e) => {
                    let e = SesError::from_sdk(&e);
                    if e.kind() == SesErrorKind::Throttled {
                        bump(&self.counters.throttled);
                    }
                    if e.kind() == SesErrorKind::Throttled && throttled < self.throttle_retries {
                        throttled += 1;
                        let pause = self.limiter.throttled();
                        tracing::info!(
                            code = e.code(),
                            attempt = throttled,
                            pause_ms = millis(pause),
                            "SES throttled the send; every sender pauses, then it is tried again"
                        );
                        continue;
                    }
                    if e.kind() == SesErrorKind::Throttled {
                        self.limiter.throttled();
                    }
                    if e.is_transient() {
                        bump(&self.counters.transient_failures);
                        tracing::warn!(
                            outcome = "transient",
                            kind = e.kind().as_str(),
                            code = e.code(),
                            http_status = e.status(),
                            throttled,
                            send_ms = millis(started.elapsed()),
                            "SES did not take the message; to be retried"
                        );
                    } else {
                        bump(&self.counters.permanent_failures);
                        tracing::info!(
                            outcome = "permanent",
                            kind = e.kind().as_str(),
                            code = e.code(),
                            http_status = e.status(),
                            send_ms = millis(started.elapsed()),
                            "SES refused the message"
                        );
                    }
                    tracing::debug!(message = e.message(), "SES's answer");
                    return Err(e);
                }
            }
        }
    }
}

/// The refusal of an envelope SES cannot carry: a non-ASCII local part in the
/// recipient's or the sender's address.
fn unsupported_address(envelope: &Envelope) -> Option<SesError> {
    let (whose, address) = if envelope.to().needs_smtputf8() {
        ("recipient", envelope.to())
    } else if envelope.from().needs_smtputf8() {
        ("sender", envelope.from())
    } else {
        return None;
    };
    Some(SesError::new(
        SesErrorKind::AddressNotSupported,
        None,
        None,
        format!(
            "the {whose} address {address} has a non-ASCII local part, which needs SMTPUTF8; \
             SES does not send to or from such addresses"
        ),
    ))
}

impl Transport for SesTransport {
    async fn send_raw(&self, envelope: &Envelope, message: &[u8]) -> Result<(), TransportError> {
        self.send(envelope, message)
            .await
            .map(|_| ())
            .map_err(TransportError::from)
    }

    /// `true` (unless [`SesConfig::delivery_notifications`] turned it off):
    /// SES publishes a Delivery notification for each message the
    /// recipient's mail server accepted, which the pipeline records, so
    /// reports show the confirmed-delivery count.
    fn confirms_delivery(&self) -> bool {
        self.delivery_notifications
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_environment_gives_region_credentials_and_endpoint() {
        let c = SesConfig::from_lookup(env(&[
            ("AWS_DEFAULT_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
        ]))
        .map_err(|e| e.to_string());
        let Ok(c) = c else { panic!("{c:?}") };
        assert_eq!(c.region.as_deref(), Some("eu-west-1"));
        assert_eq!(c.endpoint_url.as_deref(), Some("http://127.0.0.1:1"));
        assert!(SesTransport::new(c).is_ok());
    }

    #[test]
    fn ses_confirms_delivery_unless_told_its_notifications_are_not_handled() {
        let config = || SesConfig::new("eu-west-1").credentials("AKID", "secret", None);
        let ses = SesTransport::new(config()).unwrap();
        assert!(ses.confirms_delivery(), "SES reports deliveries");
        let quiet = SesTransport::new(config().delivery_notifications(false)).unwrap();
        assert!(!quiet.confirms_delivery());
        // Clones share the setting.
        assert!(ses.clone().confirms_delivery());
    }

    #[test]
    fn missing_or_bad_settings_are_named() {
        assert_eq!(
            SesConfig::from_lookup(env(&[("AWS_ACCESS_KEY_ID", "a")])).err(),
            Some(ConfigError::NoRegion)
        );
        assert_eq!(
            SesConfig::from_lookup(env(&[("AWS_REGION", "us-east-1")])).err(),
            Some(ConfigError::NoCredentials)
        );
        assert_eq!(
            SesTransport::new(SesConfig::new("us-east-1")).err(),
            Some(ConfigError::NoCredentials)
        );
        let bad = SesConfig::new("us-east-1; drop")
            .credentials("a", "b", None)
            .endpoint_url("http://x");
        assert!(matches!(
            SesTransport::new(bad).err(),
            Some(ConfigError::Invalid { name: "region", .. })
        ));
        let bad = SesConfig::new("us-east-1")
            .credentials("a", "b", None)
            .endpoint_url("ftp://x");
        assert!(matches!(
            SesTransport::new(bad).err(),
            Some(ConfigError::Invalid {
                name: "endpoint_url",
                ..
            })
        ));
    }
}
