//! Outbound SMTP: [`SmtpRelay`], the core's
//! [`Transport`] over any SMTP relay.
//!
//! A local Postfix, an ESP's SMTP endpoint and the SMTP interface of AWS SES
//! all take mail the same way. `SmtpRelay` keeps a pool of open connections
//! (at most [`RelayConfig::max_connections`] at once, which is also how many
//! messages are in flight), sends each message in as few round trips as the
//! relay allows — `MAIL`, `RCPT` and `BDAT … LAST` with the message in one
//! write where the relay offers CHUNKING (RFC 3030), `MAIL`/`RCPT`/`DATA`
//! pipelined where it offers PIPELINING (RFC 2920), one command at a time
//! otherwise — and paces sends to [`RelayConfig::rate_per_second`] for
//! relays that enforce a send rate.
//!
//! # What a result means
//!
//! `Ok(())` only when the relay answered 2xx to the message's content: then
//! it has the message. Everything else is an error, classified for the
//! delivery queue:
//!
//! | what happened | error | the queue |
//! |---|---|---|
//! | 4xx to `MAIL`, `RCPT`, `DATA`/`BDAT` or the content (421, 451, 452 …) | transient | retries with backoff |
//! | connection refused, lost or timed out, at any point | transient | retries |
//! | greeting, `EHLO`, `STARTTLS` or `AUTH` failed (even with 5xx) | transient: a relay or configuration problem, not the recipient's | retries |
//! | 5xx to `MAIL`, `RCPT`, `DATA`/`BDAT` or the content | permanent | the invitation is marked bounced with the relay's text |
//! | larger than the relay's `SIZE`; a non-ASCII address without `SMTPUTF8` | permanent | bounced |
//!
//! A connection lost after the content was sent but before the relay's
//! reply is reported transient: the relay may have taken the message, and
//! the retry carries the same `Message-ID`, so the far end can tell a
//! duplicate (RFC 5321 §4.1.1.4 discusses this window). Nothing is ever
//! reported sent that the relay did not accept.
//!
//! # TLS
//!
//! TLS uses rustls with the aws-lc-rs provider, through the configuration
//! given in [`RelayConfig::tls`] — never a process-wide default.
//! [`tls_client_config`] builds one from a root store. Credentials are never
//! sent over an unencrypted connection unless
//! [`RelayConfig::allow_plaintext_auth`] says so.
//!
//! # Logs and counters
//!
//! Each connection has an `smtp_relay_connection` [`tracing`] span (relay
//! `host:port`, connection id, security mode, whether TLS is on, PIPELINING,
//! CHUNKING and SIZE as offered). Each message ends in one event with its
//! outcome (`accepted`, `transient`, `permanent`), the relay's code and
//! enhanced status, the step that failed, its size, how long it took and how
//! many connections sit idle in the pool; opening a connection, failing to,
//! and retrying on a new one after the relay closed a pooled one are logged
//! too. The relay's full reply text and the recipient appear at `debug`
//! only; credentials and message content never. [`SmtpRelay::metrics`]
//! reads the counters in [`RelayMetrics`].
//!
//! # Example
//!
//! ```no_run
//! use calinvite_core::lifecycle::Transport;
//! use calinvite_core::{EmailAddress, Envelope};
//! use calinvite_smtp::relay::{RelayConfig, SmtpRelay};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let relay = SmtpRelay::new(
//!     RelayConfig::plaintext("127.0.0.1", 25)
//!         .max_connections(4)
//!         .rate_per_second(14.0),
//! )?;
//! let envelope = Envelope::new(
//!     EmailAddress::parse("bounces@events.example")?,
//!     EmailAddress::parse("ana@example.net")?,
//! );
//! relay.send_raw(&envelope, b"From: ...\r\n\r\nbody\r\n").await?;
//! # Ok(()) }
//! ```

mod conn;
mod wire;

/// For the fuzz target: reads `input` as a relay's replies, line by line
/// (with the line-length cap the client applies), and each complete reply as
/// an EHLO reply; returns how many replies were complete. Never panics.
#[doc(hidden)]
pub fn read_replies_for_fuzzing(input: &[u8]) -> usize {
    let mut parser = wire::ReplyParser::default();
    let mut complete = 0;
    for line in input.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match parser.push(line) {
            Ok(Some(reply)) => {
                complete += 1;
                let caps = wire::Capabilities::from_ehlo(&reply);
                let _ = (caps, reply.to_string());
            }
            Ok(None) => {}
            Err(_) => parser = wire::ReplyParser::default(),
        }
    }
    complete
}

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tracing::Instrument as _;

use crate::metrics::{RelayCounters, RelayMetrics, add, bump};
use crate::obs::{domain_of, ms_since};

use calinvite_core::Envelope;
use calinvite_core::lifecycle::{Transport, TransportError};
use tokio::sync::Semaphore;

use conn::{Conn, Failure};

/// How the connection to the relay is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Security {
    /// Plain TCP (a relay on loopback or a private network).
    None,
    /// STARTTLS, required: a relay that does not offer it is an error.
    StartTls,
    /// STARTTLS when the relay offers it and a TLS configuration is given.
    Opportunistic,
    /// Implicit TLS from the first byte (port 465, RFC 8314).
    Tls,
}

/// A user name and password for `AUTH PLAIN` or `AUTH LOGIN`.
#[derive(Clone)]
pub struct Credentials {
    user: String,
    password: String,
}

impl Credentials {
    /// Credentials for the relay.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            user: user.into(),
            password: password.into(),
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"…")
            .finish()
    }
}

/// Where and how to send. Build with [`RelayConfig::plaintext`],
/// [`RelayConfig::starttls`] or [`RelayConfig::tls`], then adjust.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RelayConfig {
    /// The relay's host name or address.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// How the connection is secured.
    pub security: Security,
    /// The TLS client configuration (required for [`Security::StartTls`]
    /// and [`Security::Tls`]).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The name the relay's certificate must carry (default: `host`).
    pub server_name: Option<String>,
    /// `AUTH` credentials, if the relay wants them.
    pub credentials: Option<Credentials>,
    /// Whether credentials may go over an unencrypted connection.
    pub allow_plaintext_auth: bool,
    /// The name given in `EHLO`.
    pub helo_name: String,
    /// Connecting and the TLS handshake, each.
    pub connect_timeout: Duration,
    /// Waiting for the reply to a command.
    pub command_timeout: Duration,
    /// Waiting for the reply to the message's content.
    pub data_timeout: Duration,
    /// Connections open at once, and so messages in flight.
    pub max_connections: usize,
    /// Messages sent over one connection before it is closed and a new one
    /// opened.
    pub max_messages_per_connection: usize,
    /// How long an unused pooled connection is kept.
    pub idle_timeout: Duration,
    /// At most this many messages per second, across all callers of this
    /// relay (`None`: no cap).
    pub rate_per_second: Option<f64>,
    /// Use PIPELINING when the relay offers it.
    pub pipelining: bool,
    /// Use CHUNKING (`BDAT`) when the relay offers it.
    pub chunking: bool,
}

impl RelayConfig {
    fn base(host: &str, port: u16, security: Security) -> Self {
        RelayConfig {
            host: host.to_string(),
            port,
            security,
            tls: None,
            server_name: None,
            credentials: None,
            allow_plaintext_auth: false,
            helo_name: "localhost".into(),
            connect_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(60),
            data_timeout: Duration::from_secs(180),
            max_connections: 4,
            max_messages_per_connection: 1000,
            idle_timeout: Duration::from_secs(30),
            rate_per_second: None,
            pipelining: true,
            chunking: true,
        }
    }

    /// A relay over plain TCP.
    pub fn plaintext(host: &str, port: u16) -> Self {
        Self::base(host, port, Security::None)
    }

    /// A relay that must offer STARTTLS (port 587 or 25).
    pub fn starttls(host: &str, port: u16, tls: Arc<rustls::ClientConfig>) -> Self {
        let mut c = Self::base(host, port, Security::StartTls);
        c.tls = Some(tls);
        c
    }

    /// A relay spoken to over implicit TLS (port 465).
    pub fn tls(host: &str, port: u16, tls: Arc<rustls::ClientConfig>) -> Self {
        let mut c = Self::base(host, port, Security::Tls);
        c.tls = Some(tls);
        c
    }

    /// Sets the `AUTH` credentials.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Sets the name given in `EHLO` (the sending host's name).
    pub fn helo_name(mut self, name: impl Into<String>) -> Self {
        self.helo_name = name.into();
        self
    }

    /// Sets how many connections (and messages in flight) at most.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    /// Caps the send rate.
    pub fn rate_per_second(mut self, rate: f64) -> Self {
        self.rate_per_second = Some(rate);
        self
    }

    /// Sets the connect, command and content timeouts.
    pub fn timeouts(mut self, connect: Duration, command: Duration, data: Duration) -> Self {
        self.connect_timeout = connect;
        self.command_timeout = command;
        self.data_timeout = data;
        self
    }

    /// Sets the name the relay's certificate must carry, when it differs
    /// from the host connected to (an address, or a load balancer's name).
    pub fn server_name_for_tls(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Sets whether PIPELINING and CHUNKING are used where offered.
    pub fn extensions(mut self, pipelining: bool, chunking: bool) -> Self {
        self.pipelining = pipelining;
        self.chunking = chunking;
        self
    }
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// TLS is asked for but no client configuration given.
    #[error("{0:?} needs a TLS client configuration (RelayConfig::tls)")]
    MissingTls(Security),
    /// Credentials over plain TCP without `allow_plaintext_auth`.
    #[error(
        "credentials would go over an unencrypted connection; use STARTTLS or TLS, or set allow_plaintext_auth"
    )]
    PlaintextAuth,
    /// A limit is zero or a rate is not a positive number.
    #[error("{0}")]
    Invalid(&'static str),
    /// The EHLO name is not a domain or address literal.
    #[error("EHLO name {0:?} is not a host name")]
    HeloName(String),
}

/// A TLS client configuration with the aws-lc-rs provider that trusts
/// `roots` (for example the platform's roots, or a test authority).
pub fn tls_client_config(
    roots: rustls::RootCertStore,
) -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The core's [`Transport`] over an SMTP relay. Cheap to share: put it in an
/// `Arc` or give each worker a reference; all share one pool and one pace.
pub struct SmtpRelay {
    config: RelayConfig,
    slots: Semaphore,
    idle: Mutex<Vec<Conn>>,
    pace: Option<Pace>,
    counters: RelayCounters,
    conn_ids: AtomicU64,
}

impl std::fmt::Debug for SmtpRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpRelay")
            .field("host", &self.config.host)
            .field("port", &self.config.port)
            .finish_non_exhaustive()
    }
}

impl SmtpRelay {
    /// A relay client; checks the configuration, connects lazily.
    pub fn new(config: RelayConfig) -> Result<Self, ConfigError> {
        if matches!(config.security, Security::StartTls | Security::Tls) && config.tls.is_none() {
            return Err(ConfigError::MissingTls(config.security));
        }
        if config.credentials.is_some()
            && matches!(config.security, Security::None)
            && !config.allow_plaintext_auth
        {
            return Err(ConfigError::PlaintextAuth);
        }
        if config.max_connections == 0 || config.max_messages_per_connection == 0 {
            return Err(ConfigError::Invalid(
                "max_connections and max_messages_per_connection must be at least 1",
            ));
        }
        if let Some(rate) = config.rate_per_second
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(ConfigError::Invalid(
                "rate_per_second must be a positive number",
            ));
        }
        let helo_ok = !config.helo_name.is_empty()
            && config
                .helo_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b));
        if !helo_ok {
            return Err(ConfigError::HeloName(config.helo_name.clone()));
        }
        Ok(SmtpRelay {
            slots: Semaphore::new(config.max_connections),
            idle: Mutex::new(Vec::new()),
            pace: config.rate_per_second.map(Pace::new),
            counters: RelayCounters::default(),
            conn_ids: AtomicU64::new(0),
            config,
        })
    }

    /// Its configuration.
    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    /// What the client has done so far: messages sent, failures,
    /// connections opened, retries.
    pub fn metrics(&self) -> RelayMetrics {
        self.counters.snapshot()
    }

    /// Closes the pooled connections politely (`QUIT`).
    pub async fn close(&self) {
        let conns = std::mem::take(&mut *self.lock_idle());
        tracing::debug!(connections = conns.len(), "closing the pooled connections");
        for c in conns {
            let span = c.span.clone();
            c.quit().instrument(span).await;
        }
    }

    /// Opens a connection in its own span, and logs and counts how that went.
    async fn open(&self) -> Result<Conn, Failure> {
        let config = &self.config;
        let span = tracing::info_span!(
            "smtp_relay_connection",
            relay = %format_args!("{}:{}", config.host, config.port),
            conn = self.conn_ids.fetch_add(1, Ordering::Relaxed),
            security = ?config.security,
            tls = tracing::field::Empty,
            pipelining = tracing::field::Empty,
            chunking = tracing::field::Empty,
            size_limit = tracing::field::Empty,
        );
        let started = Instant::now();
        let opened = Conn::open(config).instrument(span.clone()).await;
        span.in_scope(|| match &opened {
            Ok(_) => {
                bump(&self.counters.connections_opened);
                tracing::info!(connect_ms = ms_since(started), "connection opened");
            }
            Err(f) => {
                bump(&self.counters.connection_failures);
                tracing::warn!(
                    connect_ms = ms_since(started),
                    error = %failure_text(f),
                    "connection could not be opened"
                );
            }
        });
        opened
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Conn>> {
        // A panic while holding the lock cannot leave the Vec inconsistent.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A pooled connection still fresh enough, else none.
    fn take_idle(&self) -> (Option<Conn>, Vec<Conn>) {
        let mut idle = self.lock_idle();
        let mut stale = Vec::new();
        while let Some(c) = idle.pop() {
            if c.last_used.elapsed() < self.config.idle_timeout {
                return (Some(c), stale);
            }
            stale.push(c);
        }
        (None, stale)
    }

    /// Sends over a pooled or new connection; the relay's reply and the
    /// span of the connection that carried it.
    async fn send(
        &self,
        from: &str,
        to: &str,
        message: &[u8],
    ) -> Result<(wire::Reply, tracing::Span), Failure> {
        let (pooled, stale) = self.take_idle();
        for c in stale {
            let span = c.span.clone();
            span.in_scope(|| tracing::debug!("idle connection closed"));
            c.quit().instrument(span).await;
        }
        let (mut conn, reused) = match pooled {
            Some(c) => (c, true),
            None => (self.open().await?, false),
        };
        let span = conn.span.clone();
        let mut result = conn
            .send(&self.config, from, to, message)
            .instrument(span)
            .await;
        // A pooled connection the relay closed while it sat idle fails
        // before any reply of this transaction; one the relay is closing (it
        // answers MAIL with 421: idle too long, too many commands) fails at
        // the first reply. Either way nothing was taken, so one retry on a
        // new connection is safe.
        let closed_idle = matches!(&result, Err(Failure::Lost(_)))
            && conn.txn_replies == 0
            && conn.closed_by_peer;
        let closing_at_mail =
            matches!(&result, Err(Failure::Transient(r, "MAIL")) if r.is_closing());
        if reused && (closed_idle || closing_at_mail) {
            if closing_at_mail {
                bump(&self.counters.replies_421);
            }
            bump(&self.counters.reconnects);
            conn.span.in_scope(|| {
                tracing::info!(
                    reason = if closing_at_mail {
                        "421 at MAIL"
                    } else {
                        "closed while idle"
                    },
                    "the relay closed a pooled connection; retrying on a new one"
                );
            });
            conn = self.open().await?;
            let span = conn.span.clone();
            result = conn
                .send(&self.config, from, to, message)
                .instrument(span)
                .await;
        }
        if let Err(Failure::Transient(r, _) | Failure::Permanent(r, _)) = &result
            && r.is_closing()
        {
            bump(&self.counters.replies_421);
        }
        let span = conn.span.clone();
        if result.is_err() {
            conn.reset(&self.config).instrument(span.clone()).await;
        }
        conn.last_used = Instant::now();
        if conn.broken {
            // dropped: the stream is closed or in an unknown state
            span.in_scope(|| tracing::debug!(sent = conn.sent, "connection dropped"));
        } else if conn.sent >= self.config.max_messages_per_connection {
            span.in_scope(|| {
                tracing::debug!(
                    sent = conn.sent,
                    "connection closed after its message limit"
                );
            });
            conn.quit().instrument(span.clone()).await;
        } else {
            self.lock_idle().push(conn);
        }
        result.map(|reply| (reply, span))
    }
}

impl Transport for SmtpRelay {
    async fn send_raw(&self, envelope: &Envelope, message: &[u8]) -> Result<(), TransportError> {
        let Ok(_slot) = self.slots.acquire().await else {
            return Err(TransportError::transient(
                "the SMTP relay client is shut down",
            ));
        };
        if let Some(pace) = &self.pace {
            pace.wait().await;
        }
        let started = Instant::now();
        let to = envelope.to().as_str();
        let result = self.send(envelope.from().as_str(), to, message).await;
        let send_ms = ms_since(started);
        let idle = self.lock_idle().len();
        let bytes = message.len();
        match result {
            Ok((reply, span)) => {
                bump(&self.counters.messages_sent);
                add(&self.counters.bytes_sent, bytes as u64);
                span.in_scope(|| {
                    tracing::info!(
                        outcome = "accepted",
                        code = reply.code,
                        status = reply.enhanced_status(),
                        bytes,
                        send_ms,
                        idle,
                        "message sent"
                    );
                    tracing::debug!(to, reply = %reply, "relay's reply");
                });
                Ok(())
            }
            Err(failure) => {
                let permanent = matches!(failure, Failure::Permanent(..) | Failure::Unsendable(_));
                let (code, status, step) = match &failure {
                    Failure::Transient(r, step) | Failure::Permanent(r, step) => {
                        (Some(r.code), r.enhanced_status(), Some(*step))
                    }
                    _ => (None, None, None),
                };
                let relay = format!("{}:{}", self.config.host, self.config.port);
                // A failure before a connection was there has no connection span.
                if permanent {
                    bump(&self.counters.permanent_failures);
                    tracing::info!(
                        relay = %relay,
                        outcome = "permanent",
                        code,
                        status,
                        step,
                        rcpt_domain = domain_of(to),
                        bytes,
                        send_ms,
                        idle,
                        "message refused"
                    );
                } else {
                    bump(&self.counters.transient_failures);
                    tracing::warn!(
                        relay = %relay,
                        outcome = "transient",
                        code,
                        status,
                        step,
                        rcpt_domain = domain_of(to),
                        bytes,
                        send_ms,
                        idle,
                        "message not sent; to be retried"
                    );
                }
                tracing::debug!(to, error = %failure_text(&failure), "relay failure");
                Err(classify(&relay, failure))
            }
        }
    }

    /// `false`: the relay asks for no delivery-status notification on
    /// success (no DSN `NOTIFY=SUCCESS`), so an accepted message is known to
    /// have reached the relay, not the mailbox. Reports then show what the
    /// relay accepted and the bounces mailed back, and no confirmed-delivery
    /// count.
    fn confirms_delivery(&self) -> bool {
        false
    }
}

/// A failure's own words, for `debug` logs (the relay's reply may name the
/// recipient).
fn failure_text(failure: &Failure) -> String {
    match failure {
        Failure::Session(m) | Failure::Lost(m) | Failure::Unsendable(m) => m.clone(),
        Failure::Transient(r, step) | Failure::Permanent(r, step) => format!("{step}: {r}"),
    }
}

/// The queue's view of a failure; the relay's own words are kept.
fn classify(relay: &str, failure: Failure) -> TransportError {
    match failure {
        Failure::Session(m) => TransportError::transient(format!("relay {relay}: {m}")),
        Failure::Lost(m) => TransportError::transient(format!("relay {relay}: {m}")),
        Failure::Transient(reply, step) => {
            TransportError::transient(format!("relay {relay} answered {step} with {reply}"))
        }
        Failure::Permanent(reply, step) => {
            TransportError::permanent(format!("relay {relay} answered {step} with {reply}"))
        }
        Failure::Unsendable(m) => TransportError::permanent(format!("relay {relay}: {m}")),
    }
}

/// Spaces sends evenly at a rate: each send takes the next free slot, one
/// interval after the previous one (no bursts above the rate).
struct Pace {
    interval: Duration,
    next: Mutex<Option<tokio::time::Instant>>,
}

impl Pace {
    fn new(rate: f64) -> Self {
        Pace {
            interval: Duration::from_secs_f64(1.0 / rate),
            next: Mutex::new(None),
        }
    }

    async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let now = tokio::time::Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        let wait = slot.saturating_duration_since(tokio::time::Instant::now());
        if !wait.is_zero() {
            tracing::debug!(
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "send paced to the configured rate"
            );
        }
        tokio::time::sleep_until(slot).await;
    }
}
