//! The server's configuration: built-in defaults, then a TOML file, then
//! `CALINVITE_…` environment variables, then command-line flags (each layer
//! overrides the one before).
//!
//! With no file and no variables the server runs on embedded defaults: a
//! SQLite database in the data folder, the HTTP API and the inbound SMTP
//! listener on loopback, and outgoing mail captured as `.eml` files in the
//! data folder. [`Config::example_toml`] is a commented file with every
//! setting.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Everything the server reads at start.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// Where the SQLite database, the captured mail and nothing else live
    /// (default `./invite-server-data`).
    pub data_dir: PathBuf,
    /// The HTTP API.
    pub http: HttpConfig,
    /// The database.
    pub database: DatabaseConfig,
    /// The inbound SMTP listener.
    pub smtp: SmtpConfig,
    /// Where outgoing mail goes.
    pub outbound: OutboundConfig,
    /// The delivery worker.
    pub worker: WorkerSection,
    /// Webhooks to the application.
    pub webhooks: WebhooksSection,
    /// The demo tenant made on first start.
    pub demo: DemoConfig,
    /// Invitations from addresses that are not registered organizers yet.
    pub organizers: OrganizersConfig,
    /// The public web pages: landing pages, call-to-action links, web RSVP.
    pub web: WebConfig,
    /// Logs.
    pub log: LogConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("invite-server-data"),
            http: HttpConfig::default(),
            database: DatabaseConfig::default(),
            smtp: SmtpConfig::default(),
            outbound: OutboundConfig::default(),
            worker: WorkerSection::default(),
            webhooks: WebhooksSection::default(),
            demo: DemoConfig::default(),
            organizers: OrganizersConfig::default(),
            web: WebConfig::default(),
            log: LogConfig::default(),
        }
    }
}

/// The HTTP API.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpConfig {
    /// Address and port to listen on (default `127.0.0.1:8080`; port 0
    /// picks a free one).
    pub listen: String,
    /// The address people reach the API at, for printed URLs (default:
    /// `http://` and the listen address).
    pub public_url: Option<String>,
    /// Largest JSON request body, in bytes (default 64 KiB; larger is 413).
    pub max_body_bytes: usize,
    /// Largest CSV list upload, in bytes (default 20 MiB).
    pub max_upload_bytes: usize,
    /// How long a request may take before it is answered 503 (default 30 s;
    /// list uploads are taken in the background and answer at once).
    pub request_timeout_seconds: u64,
    /// How long in-flight requests may take to finish at shutdown (default 20 s).
    pub shutdown_grace_seconds: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            max_body_bytes: 64 * 1024,
            max_upload_bytes: 20 * 1024 * 1024,
            request_timeout_seconds: 30,
            shutdown_grace_seconds: 20,
        }
    }
}

/// The database: SQLite in the data folder unless a URL says otherwise.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct DatabaseConfig {
    /// `sqlite:///path/file.db` or `postgres://user@host/db` (default: the
    /// SQLite file `calinvite.db` in the data folder).
    pub url: Option<String>,
    /// A PostgreSQL schema to keep everything in (created when missing).
    pub schema: Option<String>,
    /// Connections per pool on PostgreSQL (default 8).
    pub max_connections: u32,
    /// SQLite: connections that only read, beside the one writer (default
    /// 4), so that API look-ups run while the writer commits.
    pub sqlite_readers: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: None,
            schema: None,
            max_connections: 8,
            sqlite_readers: 4,
        }
    }
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("schema", &self.schema)
            .field("max_connections", &self.max_connections)
            .field("sqlite_readers", &self.sqlite_readers)
            .finish()
    }
}

/// A database URL with any password replaced by `…`, for logs and printing.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            let hidden = if userinfo.contains(':') { ":…" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{path}")
        }
        None => url.to_owned(),
    }
}

/// How inbound mail is authenticated before the core sees it.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Verify {
    /// No SPF, DKIM or DMARC checks: for a loopback listener or one behind a
    /// gateway that filters. Organizer mail then passes only the
    /// `allow-list-only` policy (the demo organizer's).
    #[default]
    None,
    /// SPF, DKIM and DMARC checked against DNS (a public MX).
    Dns,
    /// The results a filtering gateway in front of the listener wrote in
    /// an `Authentication-Results` header under its own authserv-id
    /// (`[smtp] trusted_authserv_id`; see [`crate::authres`]). Only behind a
    /// gateway that removes such headers from the mail it receives: anyone
    /// who can reach the listener directly can write one.
    AuthenticationResults,
}

/// The inbound SMTP listener: the MX of the domain owners' ingest, reply and
/// bounce mailboxes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SmtpConfig {
    /// Run the listener (default `true`).
    pub enabled: bool,
    /// Address and port to listen on (default `127.0.0.1:2525`).
    pub listen: String,
    /// The name in the greeting and `Received:` headers (default `localhost`).
    pub hostname: String,
    /// Authentication of what arrives: `none` (default), `dns` or
    /// `authentication-results`.
    pub verify: Verify,
    /// With `verify = "authentication-results"`: the authserv-id of the
    /// gateway whose `Authentication-Results` header is trusted.
    pub trusted_authserv_id: Option<String>,
    /// Largest message accepted, in bytes (default 10 MiB).
    pub max_message_bytes: usize,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            enabled: true,
            listen: "127.0.0.1:2525".into(),
            hostname: "localhost".into(),
            verify: Verify::None,
            trusted_authserv_id: None,
            max_message_bytes: 10 * 1024 * 1024,
        }
    }
}

/// Where outgoing mail goes.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum OutboundKind {
    /// Into a folder, one `.eml` file per message (default): nothing leaves
    /// the machine.
    #[default]
    Capture,
    /// To an SMTP relay (a local Postfix, an ESP, SES's SMTP interface).
    Smtp,
}

/// Outgoing mail.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct OutboundConfig {
    /// `capture` (default) or `smtp`.
    pub kind: OutboundKind,
    /// The capture folder (default `outbox` in the data folder).
    pub capture_dir: Option<PathBuf>,
    /// The relay, for `kind = "smtp"`.
    pub smtp: RelaySection,
}

/// How the relay connection is secured.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RelaySecurity {
    /// No TLS (a relay on loopback or a private network).
    #[default]
    Plain,
    /// STARTTLS, required.
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// An SMTP relay.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RelaySection {
    /// Host name (default `127.0.0.1`).
    pub host: String,
    /// Port (default 25).
    pub port: u16,
    /// `plain` (default), `starttls` or `tls`.
    pub security: RelaySecurity,
    /// AUTH user name, if the relay wants one.
    pub username: Option<String>,
    /// AUTH password (better given as `CALINVITE_OUTBOUND_SMTP_PASSWORD`).
    pub password: Option<String>,
    /// The name given in EHLO (default: the SMTP hostname).
    pub helo: Option<String>,
    /// Connections at once (default 4).
    pub max_connections: usize,
    /// Messages per second at most (default 0: no cap).
    pub rate_per_second: f64,
}

impl Default for RelaySection {
    fn default() -> Self {
        RelaySection {
            host: "127.0.0.1".into(),
            port: 25,
            security: RelaySecurity::Plain,
            username: None,
            password: None,
            helo: None,
            max_connections: 4,
            rate_per_second: 0.0,
        }
    }
}

impl fmt::Debug for RelaySection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelaySection")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .field("helo", &self.helo)
            .field("max_connections", &self.max_connections)
            .field("rate_per_second", &self.rate_per_second)
            .finish()
    }
}

/// The delivery worker.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct WorkerSection {
    /// Run the worker in this process (default `true`).
    pub enabled: bool,
    /// Messages in flight at once (default 8).
    pub concurrency: usize,
    /// Messages claimed per batch (default 64).
    pub batch: usize,
    /// How long a claimed message is leased to this process (default 300
    /// s). If the process dies, another (or the next start) sends the
    /// message once the lease runs out; it must exceed the time a batch
    /// takes to deliver.
    pub lease_seconds: u64,
}

impl Default for WorkerSection {
    fn default() -> Self {
        WorkerSection {
            enabled: true,
            concurrency: 8,
            batch: 64,
            lease_seconds: 300,
        }
    }
}

/// The public web pages (landing pages, call-to-action links, web RSVP
/// and unsubscribe): who may send how much through them.
///
/// A public form that mails any address is a spam cannon unless it is
/// limited. The limits are counted per process (as a reverse proxy's are):
/// with several processes behind a load balancer, divide them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct WebConfig {
    /// Serve the public pages (default `true`).
    pub enabled: bool,
    /// Proxies whose `X-Forwarded-For` is believed, as addresses or CIDR
    /// ranges (`"10.0.0.0/8"`, `"::1"`). Default: none — the client is
    /// the peer of the connection. Never list a range that untrusted
    /// clients can connect from: they could then choose their address.
    pub trusted_proxies: Vec<String>,
    /// Sends one client address may ask for per minute (default 20; one
    /// submit costs one per event it asks for).
    pub per_ip_per_minute: u32,
    /// Sends one recipient address may be sent through the public pages
    /// per hour (default 10).
    pub per_address_per_hour: u32,
    /// Invitations one organizer's public pages may send per hour (default
    /// 10,000).
    pub per_organizer_per_hour: u32,
    /// Events one landing-page submit may ask for before a confirmation
    /// mail is sent first instead (default 10).
    pub max_events_per_submit: u32,
    /// Leading zero bits a self-hosted proof-of-work challenge asks of
    /// every public form (default 0: off). About 2^bits hashes in the
    /// visitor's browser; 16–20 is a fraction of a second.
    pub proof_of_work_bits: u8,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            enabled: true,
            trusted_proxies: Vec::new(),
            per_ip_per_minute: 20,
            per_address_per_hour: 10,
            per_organizer_per_hour: 10_000,
            max_events_per_submit: 10,
            proof_of_work_bits: 0,
        }
    }
}

/// Webhooks: what happens (answers, deliveries, event changes, held
/// changes, list progress) posted to the endpoints tenants register, signed
/// per the Standard Webhooks specification.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct WebhooksSection {
    /// Post webhooks from this process (default `true`). Off, nothing is
    /// announced and no endpoint is called; endpoints can still be managed.
    pub enabled: bool,
    /// Allow endpoints on loopback, private, link-local and other
    /// non-public addresses (default `false`: refused when registered and
    /// again when sent, so that a tenant cannot reach the server's own
    /// network). For a closed network or a test.
    pub allow_private_targets: bool,
    /// How long one post may take, connecting included (default 15 s).
    pub timeout_seconds: u64,
    /// The waits before each retry of a failed post, in seconds (default:
    /// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h — the
    /// specification's schedule, about three days); each wait is spread by
    /// up to a fifth either way. After the last, the message is given up.
    pub retry_schedule_seconds: Vec<u64>,
    /// An endpoint that has failed every post for this many hours is
    /// disabled (default 120: five days).
    pub disable_after_hours: u64,
    /// How long each endpoint's delivery log is kept, in days (default 30).
    pub keep_log_days: u64,
}

impl Default for WebhooksSection {
    fn default() -> Self {
        WebhooksSection {
            enabled: true,
            allow_private_targets: false,
            timeout_seconds: 15,
            retry_schedule_seconds: vec![5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400],
            disable_after_hours: 120,
            keep_log_days: 30,
        }
    }
}

/// The demo tenant made on first start, so that one command gives a server
/// ready to send an invitation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct DemoConfig {
    /// Make the demo tenant when the database has no domain owner (default `true`).
    pub enabled: bool,
    /// The demo domain owner's mail domain: its mailboxes are `create@`,
    /// `rsvp@` and `bounces@` it (default `invites.localhost`).
    pub mail_domain: String,
    /// The demo organizer's name.
    pub organizer_name: String,
    /// The demo organizer's address: the one allowed to send calendar
    /// invitations to the ingest mailbox (default `organizer@example.com`).
    pub organizer_address: String,
    /// Also make a demo landing page, `demo-season`: a generated 272-game
    /// season of a fictional football league for the demo organizer
    /// (default `true`).
    pub season: bool,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            enabled: true,
            mail_domain: "invites.localhost".into(),
            organizer_name: "Demo Organizer".into(),
            organizer_address: "organizer@example.com".into(),
            season: true,
        }
    }
}

/// Invitations sent to a domain owner's ingest mailbox from an address that
/// is not a registered organizer yet: held until the address registers
/// (see [`crate::unregistered`]).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct OrganizersConfig {
    /// How long such an invitation is held, in hours (default 72; 0: none
    /// is held, each is refused as before).
    pub hold_hours: u64,
    /// Whether a sender may register itself with the sign-in link mailed to
    /// it — the default of every domain owner, each of which can switch it
    /// off through the API (default `true`).
    pub self_registration: bool,
    /// How long a sign-in link works, in hours (default 24).
    pub link_hours: u64,
    /// At most one instruction mail or sign-in link per address in this
    /// many hours (default 24).
    pub notice_interval_hours: u64,
    /// At most this many instruction mails per domain owner and hour
    /// (default 20).
    pub max_notices_per_owner_per_hour: u64,
    /// Held invitations at most per address (default 10).
    pub max_held_per_address: u64,
    /// Held invitations at most per domain owner (default 500).
    pub max_held_per_owner: u64,
    /// Bytes of held invitations at most per domain owner (default 64 MiB).
    pub max_held_bytes_per_owner: u64,
    /// How often expired invitations and links are purged, in seconds
    /// (default 600).
    pub purge_interval_seconds: u64,
}

impl Default for OrganizersConfig {
    fn default() -> Self {
        OrganizersConfig {
            hold_hours: 72,
            self_registration: true,
            link_hours: 24,
            notice_interval_hours: 24,
            max_notices_per_owner_per_hour: 20,
            max_held_per_address: 10,
            max_held_per_owner: 500,
            max_held_bytes_per_owner: 64 * 1024 * 1024,
            purge_interval_seconds: 600,
        }
    }
}

/// Log output.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum LogFormat {
    /// Lines for people (default).
    #[default]
    Text,
    /// One JSON object per line, for a log collector.
    Json,
}

/// Logs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct LogConfig {
    /// `text` (default) or `json`.
    pub format: LogFormat,
    /// Which events, as a `tracing` filter (default `info`).
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            filter: "info".into(),
        }
    }
}

/// The environment variables read, each with the setting it overrides.
pub const ENV: &[(&str, &str)] = &[
    ("CALINVITE_DATA_DIR", "data_dir"),
    ("CALINVITE_HTTP_LISTEN", "http.listen"),
    ("CALINVITE_HTTP_PUBLIC_URL", "http.public_url"),
    ("CALINVITE_HTTP_MAX_BODY_BYTES", "http.max_body_bytes"),
    ("CALINVITE_HTTP_MAX_UPLOAD_BYTES", "http.max_upload_bytes"),
    (
        "CALINVITE_HTTP_REQUEST_TIMEOUT_SECONDS",
        "http.request_timeout_seconds",
    ),
    (
        "CALINVITE_HTTP_SHUTDOWN_GRACE_SECONDS",
        "http.shutdown_grace_seconds",
    ),
    ("CALINVITE_DATABASE_URL", "database.url"),
    ("CALINVITE_DATABASE_SCHEMA", "database.schema"),
    (
        "CALINVITE_DATABASE_MAX_CONNECTIONS",
        "database.max_connections",
    ),
    (
        "CALINVITE_DATABASE_SQLITE_READERS",
        "database.sqlite_readers",
    ),
    ("CALINVITE_SMTP_ENABLED", "smtp.enabled"),
    ("CALINVITE_SMTP_LISTEN", "smtp.listen"),
    ("CALINVITE_SMTP_HOSTNAME", "smtp.hostname"),
    ("CALINVITE_SMTP_VERIFY", "smtp.verify"),
    (
        "CALINVITE_SMTP_TRUSTED_AUTHSERV_ID",
        "smtp.trusted_authserv_id",
    ),
    ("CALINVITE_SMTP_MAX_MESSAGE_BYTES", "smtp.max_message_bytes"),
    ("CALINVITE_OUTBOUND_KIND", "outbound.kind"),
    ("CALINVITE_OUTBOUND_CAPTURE_DIR", "outbound.capture_dir"),
    ("CALINVITE_OUTBOUND_SMTP_HOST", "outbound.smtp.host"),
    ("CALINVITE_OUTBOUND_SMTP_PORT", "outbound.smtp.port"),
    ("CALINVITE_OUTBOUND_SMTP_SECURITY", "outbound.smtp.security"),
    ("CALINVITE_OUTBOUND_SMTP_USERNAME", "outbound.smtp.username"),
    ("CALINVITE_OUTBOUND_SMTP_PASSWORD", "outbound.smtp.password"),
    ("CALINVITE_OUTBOUND_SMTP_HELO", "outbound.smtp.helo"),
    (
        "CALINVITE_OUTBOUND_SMTP_MAX_CONNECTIONS",
        "outbound.smtp.max_connections",
    ),
    (
        "CALINVITE_OUTBOUND_SMTP_RATE_PER_SECOND",
        "outbound.smtp.rate_per_second",
    ),
    ("CALINVITE_WORKER_ENABLED", "worker.enabled"),
    ("CALINVITE_WORKER_CONCURRENCY", "worker.concurrency"),
    ("CALINVITE_WORKER_BATCH", "worker.batch"),
    ("CALINVITE_WORKER_LEASE_SECONDS", "worker.lease_seconds"),
    ("CALINVITE_WEBHOOKS_ENABLED", "webhooks.enabled"),
    (
        "CALINVITE_WEBHOOKS_ALLOW_PRIVATE_TARGETS",
        "webhooks.allow_private_targets",
    ),
    (
        "CALINVITE_WEBHOOKS_TIMEOUT_SECONDS",
        "webhooks.timeout_seconds",
    ),
    (
        "CALINVITE_WEBHOOKS_RETRY_SCHEDULE_SECONDS",
        "webhooks.retry_schedule_seconds",
    ),
    (
        "CALINVITE_WEBHOOKS_DISABLE_AFTER_HOURS",
        "webhooks.disable_after_hours",
    ),
    ("CALINVITE_WEBHOOKS_KEEP_LOG_DAYS", "webhooks.keep_log_days"),
    ("CALINVITE_WEB_ENABLED", "web.enabled"),
    ("CALINVITE_WEB_TRUSTED_PROXIES", "web.trusted_proxies"),
    ("CALINVITE_WEB_PER_IP_PER_MINUTE", "web.per_ip_per_minute"),
    (
        "CALINVITE_WEB_PER_ADDRESS_PER_HOUR",
        "web.per_address_per_hour",
    ),
    (
        "CALINVITE_WEB_PER_ORGANIZER_PER_HOUR",
        "web.per_organizer_per_hour",
    ),
    (
        "CALINVITE_WEB_MAX_EVENTS_PER_SUBMIT",
        "web.max_events_per_submit",
    ),
    ("CALINVITE_WEB_PROOF_OF_WORK_BITS", "web.proof_of_work_bits"),
    ("CALINVITE_DEMO_ENABLED", "demo.enabled"),
    ("CALINVITE_DEMO_MAIL_DOMAIN", "demo.mail_domain"),
    ("CALINVITE_DEMO_ORGANIZER_NAME", "demo.organizer_name"),
    ("CALINVITE_DEMO_ORGANIZER_ADDRESS", "demo.organizer_address"),
    ("CALINVITE_DEMO_SEASON", "demo.season"),
    ("CALINVITE_ORGANIZERS_HOLD_HOURS", "organizers.hold_hours"),
    (
        "CALINVITE_ORGANIZERS_SELF_REGISTRATION",
        "organizers.self_registration",
    ),
    ("CALINVITE_ORGANIZERS_LINK_HOURS", "organizers.link_hours"),
    (
        "CALINVITE_ORGANIZERS_NOTICE_INTERVAL_HOURS",
        "organizers.notice_interval_hours",
    ),
    (
        "CALINVITE_ORGANIZERS_MAX_NOTICES_PER_OWNER_PER_HOUR",
        "organizers.max_notices_per_owner_per_hour",
    ),
    (
        "CALINVITE_ORGANIZERS_MAX_HELD_PER_ADDRESS",
        "organizers.max_held_per_address",
    ),
    (
        "CALINVITE_ORGANIZERS_MAX_HELD_PER_OWNER",
        "organizers.max_held_per_owner",
    ),
    (
        "CALINVITE_ORGANIZERS_MAX_HELD_BYTES_PER_OWNER",
        "organizers.max_held_bytes_per_owner",
    ),
    (
        "CALINVITE_ORGANIZERS_PURGE_INTERVAL_SECONDS",
        "organizers.purge_interval_seconds",
    ),
    ("CALINVITE_LOG_FORMAT", "log.format"),
    ("CALINVITE_LOG_FILTER", "log.filter"),
];

/// The configuration could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file or a variable is not valid.
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Reads `file` (when given) over the defaults, then the `CALINVITE_…`
    /// variables of `env` over that.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                text.parse::<toml::Table>().map_err(|e| {
                    ConfigError::Invalid(format!("{}: {}", path.display(), e.message()))
                })?
            }
            None => toml::Table::new(),
        };
        let defaults = toml::Table::try_from(Config::default())
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        for (name, value) in env {
            let Some((_, path)) = ENV.iter().find(|(n, _)| *n == name) else {
                continue;
            };
            let typed = typed_value(&defaults, path, &value)
                .map_err(|e| ConfigError::Invalid(format!("{name}: {e}")))?;
            set_path(&mut table, path, typed);
        }
        let config: Config = table
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.message().to_owned()))?;
        config.check()?;
        Ok(config)
    }

    /// Checks what types cannot: addresses parse, sizes are not zero.
    pub fn check(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.http.listen.parse::<SocketAddr>().is_err() {
            return bad(format!(
                "http.listen {:?} is not an address and port such as 127.0.0.1:8080",
                self.http.listen
            ));
        }
        if self.smtp.enabled && self.smtp.listen.parse::<SocketAddr>().is_err() {
            return bad(format!(
                "smtp.listen {:?} is not an address and port such as 127.0.0.1:2525",
                self.smtp.listen
            ));
        }
        if self.http.max_body_bytes < 1024 {
            return bad("http.max_body_bytes must be at least 1024".into());
        }
        if self.http.max_upload_bytes < 1024 {
            return bad("http.max_upload_bytes must be at least 1024".into());
        }
        if self.worker.concurrency == 0 || self.worker.batch == 0 || self.worker.lease_seconds == 0
        {
            return bad(
                "worker.concurrency, worker.batch and worker.lease_seconds must be at least 1"
                    .into(),
            );
        }
        if self.smtp.verify == Verify::AuthenticationResults
            && self
                .smtp
                .trusted_authserv_id
                .as_deref()
                .is_none_or(|id| id.trim().is_empty())
        {
            return bad(
                "smtp.verify = \"authentication-results\" needs smtp.trusted_authserv_id: \
                 the authserv-id of the gateway whose header is trusted"
                    .into(),
            );
        }
        let o = &self.organizers;
        if o.link_hours == 0 || o.notice_interval_hours == 0 || o.purge_interval_seconds == 0 {
            return bad(
                "organizers.link_hours, organizers.notice_interval_hours and \
                 organizers.purge_interval_seconds must be at least 1"
                    .into(),
            );
        }
        let w = &self.webhooks;
        if !(1..=120).contains(&w.timeout_seconds) {
            return bad("webhooks.timeout_seconds must be from 1 to 120".into());
        }
        if w.retry_schedule_seconds.len() > 30
            || w.retry_schedule_seconds.iter().any(|s| *s > 7 * 24 * 3600)
        {
            return bad(
                "webhooks.retry_schedule_seconds: at most 30 retries, each at most a week after the one before"
                    .into(),
            );
        }
        if w.disable_after_hours == 0 || w.keep_log_days == 0 {
            return bad(
                "webhooks.disable_after_hours and webhooks.keep_log_days must be at least 1".into(),
            );
        }
        let web = &self.web;
        for p in &web.trusted_proxies {
            if let Err(e) = crate::web::client::Cidr::parse(p) {
                return bad(format!("web.trusted_proxies: {e}"));
            }
        }
        if web.per_ip_per_minute == 0
            || web.per_address_per_hour == 0
            || web.per_organizer_per_hour == 0
            || web.max_events_per_submit == 0
        {
            return bad(
                "web.per_ip_per_minute, web.per_address_per_hour, web.per_organizer_per_hour \
                 and web.max_events_per_submit must be at least 1"
                    .into(),
            );
        }
        if web.proof_of_work_bits > 28 {
            return bad(
                "web.proof_of_work_bits above 28 would take visitors minutes; use 0 (off) to 28"
                    .into(),
            );
        }
        if let Some(url) = &self.database.url
            && !(url.starts_with("sqlite:")
                || url.starts_with("postgres:")
                || url.starts_with("postgresql:"))
        {
            return bad(format!(
                "database.url {} is neither sqlite: nor postgres:",
                redact_url(url)
            ));
        }
        Ok(())
    }

    /// The data folder.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone()
    }

    /// The database URL: the one configured, or the SQLite file in the data
    /// folder.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.clone(),
            None => {
                let path = self.data_dir().join("calinvite.db");
                let path = std::path::absolute(&path).unwrap_or(path);
                format!("sqlite://{}", path.display())
            }
        }
    }

    /// The capture folder.
    pub fn capture_dir(&self) -> PathBuf {
        self.outbound
            .capture_dir
            .clone()
            .unwrap_or_else(|| self.data_dir().join("outbox"))
    }

    /// The configuration as TOML, with the relay password hidden.
    pub fn to_toml(&self) -> String {
        let mut shown = self.clone();
        if shown.outbound.smtp.password.is_some() {
            shown.outbound.smtp.password = Some("…".into());
        }
        shown.database.url = shown.database.url.as_deref().map(redact_url);
        toml::to_string_pretty(&shown).unwrap_or_default()
    }

    /// A commented configuration file with every setting at its default.
    pub fn example_toml() -> &'static str {
        include_str!("../invite-server.example.toml")
    }
}

/// `value` (from a variable) typed like the default at `path`: integers,
/// floats and booleans parsed, anything else kept as text.
fn typed_value(defaults: &toml::Table, path: &str, value: &str) -> Result<toml::Value, String> {
    let mut node: Option<&toml::Value> = None;
    let mut table = Some(defaults);
    for part in path.split('.') {
        node = table.and_then(|t| t.get(part));
        table = node.and_then(toml::Value::as_table);
    }
    Ok(match node {
        Some(toml::Value::Integer(_)) => toml::Value::Integer(
            value
                .trim()
                .parse()
                .map_err(|_| format!("{value:?} is not a whole number"))?,
        ),
        Some(toml::Value::Float(_)) => toml::Value::Float(
            value
                .trim()
                .parse()
                .map_err(|_| format!("{value:?} is not a number"))?,
        ),
        Some(toml::Value::Boolean(_)) => match value.trim() {
            "true" | "1" | "yes" | "on" => toml::Value::Boolean(true),
            "false" | "0" | "no" | "off" => toml::Value::Boolean(false),
            _ => return Err(format!("{value:?} is not true or false")),
        },
        // A list of addresses, comma-separated (`10.0.0.0/8, ::1`).
        Some(toml::Value::Array(_)) if path == "web.trusted_proxies" => toml::Value::Array(
            value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| toml::Value::String(v.to_owned()))
                .collect(),
        ),
        // A list of whole numbers, comma-separated (`5,300,1800`).
        Some(toml::Value::Array(_)) => toml::Value::Array(
            value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| {
                    v.parse().map(toml::Value::Integer).map_err(|_| {
                        format!("{value:?} is not a comma-separated list of whole numbers")
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
        _ => toml::Value::String(value.to_owned()),
    })
}

fn set_path(table: &mut toml::Table, path: &str, value: toml::Value) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut here = table;
    for part in parts {
        let entry = here
            .entry(part.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(next) = entry else {
            return;
        };
        here = next;
    }
    here.insert(last.to_owned(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_need_nothing() {
        let c = Config::load(None, Vec::new()).unwrap();
        assert_eq!(c, Config::default());
        assert!(c.database_url().starts_with("sqlite://"));
        assert!(
            c.database_url()
                .ends_with("invite-server-data/calinvite.db")
        );
        assert_eq!(c.capture_dir(), PathBuf::from("invite-server-data/outbox"));
    }

    #[test]
    fn every_variable_names_a_setting_of_its_type() {
        for (name, path) in ENV {
            let value = match *path {
                "smtp.verify" => "dns",
                "organizers.self_registration" => "false",
                "outbound.kind" => "smtp",
                "outbound.smtp.security" => "starttls",
                "log.format" => "json",
                "http.listen" | "smtp.listen" => "127.0.0.1:1",
                "database.url" => "postgres://u@h/db",
                p if p.ends_with("enabled") || p == "demo.season" => "false",
                p if p.ends_with("allow_private_targets") => "true",
                p if p.ends_with("rate_per_second") => "2.5",
                p if p.ends_with("schedule_seconds") => "1, 2,3",
                "web.trusted_proxies" => "10.0.0.0/8",
                p if p.contains("bytes") => "4096",
                p if p.ends_with("port")
                    || p.ends_with("connections")
                    || p.ends_with("readers")
                    || p.ends_with("seconds")
                    || p.ends_with("hours")
                    || p.ends_with("days")
                    || p.ends_with("concurrency")
                    || p.ends_with("batch")
                    || p.starts_with("web.")
                    || p.starts_with("organizers.") =>
                {
                    "3"
                }
                _ => "x",
            };
            let c = Config::load(None, env(&[(name, value)]))
                .unwrap_or_else(|e| panic!("{name}={value}: {e}"));
            assert_ne!(c, Config::default(), "{name} changed nothing");
        }
    }

    #[test]
    fn the_file_then_the_environment() {
        let dir = std::env::temp_dir().join(format!("invite-server-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(
            &file,
            "[http]\nlisten = \"127.0.0.1:9000\"\n[worker]\nconcurrency = 2\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&file),
            env(&[("CALINVITE_HTTP_LISTEN", "127.0.0.1:9001")]),
        )
        .unwrap();
        assert_eq!(c.http.listen, "127.0.0.1:9001");
        assert_eq!(c.worker.concurrency, 2);
        std::fs::write(&file, "[http]\nlisen = \"x\"\n").unwrap();
        let e = Config::load(Some(&file), Vec::new()).unwrap_err();
        assert!(e.to_string().contains("lisen"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_values_are_named() {
        let e = Config::load(None, env(&[("CALINVITE_WORKER_BATCH", "many")])).unwrap_err();
        assert!(e.to_string().contains("CALINVITE_WORKER_BATCH"), "{e}");
        let e = Config::load(None, env(&[("CALINVITE_HTTP_LISTEN", "nowhere")])).unwrap_err();
        assert!(e.to_string().contains("http.listen"), "{e}");
        let e = Config::load(
            None,
            env(&[("CALINVITE_WEBHOOKS_RETRY_SCHEDULE_SECONDS", "5,soon")]),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("CALINVITE_WEBHOOKS_RETRY_SCHEDULE_SECONDS"),
            "{e}"
        );
        let c = Config::load(
            None,
            env(&[("CALINVITE_WEBHOOKS_RETRY_SCHEDULE_SECONDS", "1, 2,3")]),
        )
        .unwrap();
        assert_eq!(c.webhooks.retry_schedule_seconds, [1, 2, 3]);
        let e =
            Config::load(None, env(&[("CALINVITE_WEBHOOKS_TIMEOUT_SECONDS", "0")])).unwrap_err();
        assert!(e.to_string().contains("webhooks.timeout_seconds"), "{e}");
    }

    #[test]
    fn web_settings_come_from_the_environment_and_are_checked() {
        let c = Config::load(
            None,
            env(&[
                ("CALINVITE_WEB_TRUSTED_PROXIES", "10.0.0.0/8, ::1"),
                ("CALINVITE_WEB_PER_IP_PER_MINUTE", "7"),
            ]),
        )
        .unwrap();
        assert_eq!(c.web.trusted_proxies, ["10.0.0.0/8", "::1"]);
        assert_eq!(c.web.per_ip_per_minute, 7);
        let e = Config::load(
            None,
            env(&[("CALINVITE_WEB_TRUSTED_PROXIES", "10.0.0.0/40")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("web.trusted_proxies"), "{e}");
        let e =
            Config::load(None, env(&[("CALINVITE_WEB_PER_ADDRESS_PER_HOUR", "0")])).unwrap_err();
        assert!(e.to_string().contains("web.per_address_per_hour"), "{e}");
        let e = Config::load(None, env(&[("CALINVITE_WEB_PROOF_OF_WORK_BITS", "40")])).unwrap_err();
        assert!(e.to_string().contains("proof_of_work_bits"), "{e}");
    }

    #[test]
    fn the_example_file_is_the_defaults() {
        let c: Config = toml::from_str(Config::example_toml()).unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn passwords_are_never_shown() {
        let c = Config::load(
            None,
            env(&[
                ("CALINVITE_OUTBOUND_SMTP_PASSWORD", "hunter2"),
                ("CALINVITE_DATABASE_URL", "postgres://app:s3cret@db/test"),
            ]),
        )
        .unwrap();
        for shown in [c.to_toml(), format!("{c:?}")] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(!shown.contains("s3cret"), "{shown}");
        }
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/test"),
            "postgres://app:…@db:5432/test"
        );
        assert_eq!(
            redact_url("postgres://app@db/test"),
            "postgres://app@db/test"
        );
        assert_eq!(redact_url("sqlite:///x/y.db"), "sqlite:///x/y.db");
    }
}
