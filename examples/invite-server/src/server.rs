//! The whole server in one process: the HTTP API, the inbound SMTP
//! listener, the delivery worker, the list feeder and the webhook
//! dispatcher over one database, and the order they stop in.
//!
//! [`RunningServer::start`] opens the database (making the demo tenant on
//! first start), binds the HTTP and SMTP ports and starts the worker.
//! [`RunningServer::shutdown`] stops accepting HTTP requests and SMTP
//! sessions, lets those in flight finish, stops the worker once it has
//! recorded the messages it holds, then the webhook dispatcher once its
//! posts in flight have answered, and closes the database. Everything
//! still queued stays queued, in the database, for the next start.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use calinvite::{Worker, WorkerConfig, WorkerHandle, WorkerReport};
use calinvite_core::inbound::AuthVerdict;
use calinvite_core::lifecycle::{
    AuthPolicy, OrganizerId, OwnerId, Scope, Settings, SingleTenant, Store as _,
};
use calinvite_core::{EventDraft, Schedule, TimeZone, ZonedDateTime};
use calinvite_smtp::auth::MailAuthVerifier;
use calinvite_smtp::listener::{
    InboundServer, Listener, ListenerConfig, ListenerHandle, Verifier, VerifyContext,
};
use calinvite_smtp::relay::{Credentials, RelayConfig, SmtpRelay};
use calinvite_store::{SqlOptions, SqlStore};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{Config, OutboundKind, RelaySecurity, Verify, redact_url};
use crate::db::ServerDb;
use crate::outbound::{CaptureFolder, Outbound};
use crate::state::{AppState, Limits, ServerPipeline};
use crate::webhooks::target::TargetPolicy;
use crate::webhooks::{Dispatcher, DispatcherHandle, RetryPolicy};

/// The server could not start.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(String);

impl StartError {
    fn new(what: &str, e: impl std::fmt::Display) -> Self {
        StartError(format!("{what}: {e}"))
    }
}

/// The demo tenant made on first start.
#[derive(Clone)]
pub struct Demo {
    /// The demo domain owner.
    pub owner: OwnerId,
    /// The demo organizer.
    pub organizer: Scope,
    /// The organizer's address (allowed to send to the ingest mailbox).
    pub organizer_address: String,
    /// The ingest mailbox.
    pub ingest: String,
    /// A demo event, to invite people to.
    pub event: String,
    /// The address that may sign in to the console as the domain owner
    /// (`owner@` the demo's mail domain).
    pub console_admin: String,
    /// The domain owner's API key — only on the start that made it
    /// (it is never stored, so never shown again).
    pub key: Option<String>,
}

impl std::fmt::Debug for Demo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Demo")
            .field("owner", &self.owner)
            .field("event", &self.event)
            .finish_non_exhaustive()
    }
}

/// How inbound mail is verified, chosen by configuration.
enum ServerVerifier {
    None,
    Dns(Box<MailAuthVerifier>),
    Header(crate::authres::TrustedAuthResults),
}

impl Verifier for ServerVerifier {
    async fn verify(&self, context: &VerifyContext<'_>, message: &[u8]) -> AuthVerdict {
        match self {
            ServerVerifier::None => AuthVerdict::default(),
            ServerVerifier::Dns(v) => v.verify(context, message).await,
            ServerVerifier::Header(v) => v.verify(context, message).await,
        }
    }
}

/// The store, the server's tables and the pipeline, opened from a
/// configuration (what the administration commands need, without ports).
pub struct Opened {
    /// The pipeline over the store and the transport.
    pub pipeline: Arc<ServerPipeline>,
    /// The server's tables.
    pub db: ServerDb,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened").finish_non_exhaustive()
    }
}

fn relay(config: &Config) -> Result<SmtpRelay, StartError> {
    let r = &config.outbound.smtp;
    let mut rc = match r.security {
        RelaySecurity::Plain => RelayConfig::plaintext(&r.host, r.port),
        RelaySecurity::Starttls | RelaySecurity::Tls => {
            let mut roots = rustls::RootCertStore::empty();
            let native = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                return Err(StartError(
                    "the relay wants TLS but the system has no root certificates".into(),
                ));
            }
            let tls = calinvite_smtp::relay::tls_client_config(roots)
                .map_err(|e| StartError::new("TLS for the relay", e))?;
            if r.security == RelaySecurity::Tls {
                RelayConfig::tls(&r.host, r.port, tls)
            } else {
                RelayConfig::starttls(&r.host, r.port, tls)
            }
        }
    };
    rc = rc
        .helo_name(
            r.helo
                .clone()
                .unwrap_or_else(|| config.smtp.hostname.clone()),
        )
        .max_connections(r.max_connections.max(1));
    if r.rate_per_second > 0.0 {
        rc = rc.rate_per_second(r.rate_per_second);
    }
    if let (Some(user), Some(password)) = (&r.username, &r.password) {
        rc = rc.credentials(Credentials::new(user.clone(), password.clone()));
    }
    SmtpRelay::new(rc).map_err(|e| StartError::new("the SMTP relay's settings", e))
}

/// Opens the database and the transport a configuration names.
pub async fn open(config: &Config) -> Result<Opened, StartError> {
    let url = config.database_url();
    if url.starts_with("sqlite:") && config.database.url.is_none() {
        std::fs::create_dir_all(config.data_dir()).map_err(|e| {
            StartError::new(
                &format!("the data folder {}", config.data_dir().display()),
                e,
            )
        })?;
    }
    let mut options = SqlOptions::default()
        .max_connections(config.database.max_connections)
        .readers(config.database.sqlite_readers);
    if let Some(s) = &config.database.schema {
        options = options.schema(s.clone());
    }
    let store = SqlStore::open_with(&url, options)
        .await
        .map_err(|e| StartError::new(&format!("the database {}", redact_url(&url)), e))?;
    let db = ServerDb::open(
        &url,
        config.database.schema.as_deref(),
        config.database.max_connections,
    )
    .await
    .map_err(|e| StartError::new("the server's tables", e))?;
    let outbound = match config.outbound.kind {
        OutboundKind::Smtp => Outbound::relay(relay(config)?),
        _ => Outbound::capture(CaptureFolder::new(config.capture_dir()).map_err(|e| {
            StartError::new(
                &format!("the capture folder {}", config.capture_dir().display()),
                e,
            )
        })?),
    };
    // Webhooks read what the pipeline announces (in the commit of each
    // change); without them it announces nothing.
    let pipeline = Arc::new(
        calinvite::pipeline(store, outbound)
            .announce(config.webhooks.enabled)
            .build(),
    );
    Ok(Opened { pipeline, db })
}

/// A running server.
pub struct RunningServer {
    state: AppState,
    http_addr: SocketAddr,
    smtp_addr: Option<SocketAddr>,
    demo: Option<Demo>,
    http_stop: watch::Sender<bool>,
    http_task: JoinHandle<std::io::Result<()>>,
    listener: Option<ListenerHandle>,
    worker: Option<WorkerHandle>,
    webhooks: Option<DispatcherHandle>,
    chores: JoinHandle<()>,
    sweeper: JoinHandle<()>,
    grace: Duration,
    config: Config,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("http", &self.http_addr)
            .field("smtp", &self.smtp_addr)
            .finish_non_exhaustive()
    }
}

/// What stopping did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Stopped {
    /// What the worker did over the server's life.
    pub worker: Option<WorkerReport>,
    /// Messages still queued (they go out at the next start).
    pub still_queued: Option<u64>,
}

/// The key public forms are signed with: made by the first process to
/// start on this database, read by every other.
async fn form_key(db: &ServerDb) -> Result<[u8; 32], StartError> {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let mut fresh = [0u8; 32];
    getrandom::fill(&mut fresh).map_err(|e| StartError::new("randomness for the form key", e))?;
    db.note("web.form_key", &engine.encode(fresh))
        .await
        .map_err(|e| StartError::new("the server's tables", e))?;
    let stored = db
        .meta("web.form_key")
        .await
        .map_err(|e| StartError::new("the server's tables", e))?
        .unwrap_or_default();
    engine
        .decode(stored)
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or_else(|| StartError("the stored form key (web.form_key) is damaged".into()))
}

impl RunningServer {
    /// Starts everything a configuration asks for.
    pub async fn start(config: Config) -> Result<RunningServer, StartError> {
        let Opened { pipeline, db } = open(&config).await?;
        let limits = Limits::new(
            config.http.max_body_bytes,
            config.http.max_upload_bytes,
            Duration::from_secs(config.http.request_timeout_seconds.max(1)),
        );
        let state = AppState::with_organizers(
            pipeline.clone(),
            db.clone(),
            limits,
            config.organizers.clone(),
        );
        let targets = TargetPolicy::new(config.webhooks.allow_private_targets);
        state.set_webhook_targets(targets);

        let demo = if config.demo.enabled {
            demo(&state, &config).await?
        } else {
            None
        };

        // Both ports are bound before anything is started, so that a port
        // in use stops the start with nothing left running.
        let tcp = TcpListener::bind(config.http.listen.as_str())
            .await
            .map_err(|e| StartError::new(&format!("the HTTP port {}", config.http.listen), e))?;
        let http_addr = tcp
            .local_addr()
            .map_err(|e| StartError::new("the HTTP port", e))?;
        // The public pages: their address and the form key every process
        // of this database shares.
        let public = config
            .http
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{http_addr}"));
        let mut base = url::Url::parse(&public)
            .map_err(|e| StartError::new(&format!("http.public_url {public:?}"), e))?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let key = form_key(&db).await?;
        state.set_web(crate::web::Web::new(config.web.clone(), base, key));

        // Web answer and unsubscribe links in invitations point at this
        // server: every owner it serves carries its public URL.
        let base = crate::public::links::links_base(
            config.http.public_url.as_deref(),
            &http_addr.to_string(),
        )
        .map_err(StartError)?;
        let opened = Opened {
            pipeline: pipeline.clone(),
            db: db.clone(),
        };
        crate::public::links::update_owners(&opened, &base)
            .await
            .map_err(StartError)?;
        // Sign-in links for senders not registered yet point at this server.
        state.newcomers().set_link_base(
            config
                .http
                .public_url
                .as_deref()
                .unwrap_or(&format!("http://{http_addr}")),
        );

        // Inbound SMTP.
        let (listener, smtp_addr) = if config.smtp.enabled {
            let mut lc = ListenerConfig::new(config.smtp.hostname.clone());
            lc.max_message_bytes = config.smtp.max_message_bytes;
            let verifier = match config.smtp.verify {
                Verify::Dns => ServerVerifier::Dns(Box::new(
                    MailAuthVerifier::system()
                        .map_err(|e| StartError::new("DNS for SPF/DKIM/DMARC", e))?,
                )),
                Verify::AuthenticationResults => {
                    ServerVerifier::Header(crate::authres::TrustedAuthResults::new(
                        config.smtp.trusted_authserv_id.clone().unwrap_or_default(),
                    ))
                }
                _ => ServerVerifier::None,
            };
            let tcp = TcpListener::bind(config.smtp.listen.as_str())
                .await
                .map_err(|e| {
                    StartError::new(&format!("the SMTP port {}", config.smtp.listen), e)
                })?;
            // Invitations from addresses not registered yet are held.
            let inbound = InboundServer::new(lc, pipeline.clone(), verifier)
                .with_refusal_hook(state.newcomers().hook());
            let l = Listener::from_tcp(tcp, Arc::new(inbound));
            let server = l.server().clone();
            state.watch_listener(move || server.metrics());
            let handle = l
                .spawn()
                .map_err(|e| StartError::new("the SMTP listener", e))?;
            let addr = handle.local_addr();
            (Some(handle), Some(addr))
        } else {
            (None, None)
        };

        // The worker.
        let worker = if config.worker.enabled {
            let w = Worker::new(
                pipeline.clone(),
                WorkerConfig::default()
                    .concurrency(config.worker.concurrency)
                    .batch(config.worker.batch)
                    .lease(Duration::from_secs(config.worker.lease_seconds.max(1))),
            );
            state.watch_worker(w.counters());
            Some(w.spawn())
        } else {
            None
        };

        // Webhooks.
        let webhooks = if config.webhooks.enabled {
            let d = Dispatcher::new(
                state.clone(),
                RetryPolicy::from_config(&config.webhooks),
                targets,
            )
            .map_err(|e| StartError::new("webhooks", e))?;
            Some(d.spawn())
        } else {
            None
        };

        // The HTTP API.
        let app = crate::router(state.clone());
        let (http_stop, mut stopped) = watch::channel(false);
        let http_task = tokio::spawn(async move {
            axum::serve(
                tcp,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await
        });

        // Lists left half fed, and answers to Idempotency-Keys a day old.
        match state.resume_lists().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(lists = n, "taking up lists not fed to their end"),
            Err(e) => tracing::warn!(error = %e, "could not read the lists to take up"),
        }
        let chores = {
            let state = state.clone();
            let keep_log =
                chrono::TimeDelta::days(i64::try_from(config.webhooks.keep_log_days).unwrap_or(30));
            tokio::spawn(async move {
                loop {
                    let before = state.now() - chrono::TimeDelta::hours(24);
                    if let Err(e) = state.db().idem_expire(before).await {
                        tracing::warn!(error = %e, "could not forget old Idempotency-Keys");
                    }
                    if let Err(e) = state.db().expire_messages(state.now() - keep_log).await {
                        tracing::warn!(error = %e, "could not forget old webhook deliveries");
                    }
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
            })
        };

        let sweeper = state.newcomers().spawn_sweeper();

        tracing::info!(
            http = %http_addr,
            smtp = smtp_addr.map(|a| a.to_string()),
            database = %redact_url(&config.database_url()),
            outbound = pipeline.transport().kind(),
            worker = config.worker.enabled,
            webhooks = config.webhooks.enabled,
            "invite server started"
        );
        Ok(RunningServer {
            state,
            http_addr,
            smtp_addr,
            demo,
            http_stop,
            http_task,
            listener,
            worker,
            webhooks,
            chores,
            sweeper,
            grace: Duration::from_secs(config.http.shutdown_grace_seconds),
            config,
        })
    }

    /// The HTTP API's address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The SMTP listener's address, when it runs.
    pub fn smtp_addr(&self) -> Option<SocketAddr> {
        self.smtp_addr
    }

    /// The demo tenant, when there is one.
    pub fn demo(&self) -> Option<&Demo> {
        self.demo.as_ref()
    }

    /// The handlers' state (the pipeline, the server's tables).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The URL the API is reached at.
    pub fn public_url(&self) -> String {
        match &self.config.http.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.http_addr),
        }
    }

    /// Stops in order: no new HTTP requests or SMTP sessions (those in
    /// flight finish, within the grace period), no more list rows, then the
    /// worker once the messages it holds are recorded. What is still queued
    /// stays in the database.
    pub async fn shutdown(self) -> Stopped {
        tracing::info!("stopping: no new requests or SMTP sessions; finishing those in flight");
        self.http_stop.send_replace(true);
        let http = async {
            let mut task = self.http_task;
            match tokio::time::timeout(self.grace, &mut task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => {
                    tracing::warn!(error = %e, "the HTTP server stopped with an error")
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "the HTTP server's task failed"),
                Err(_) => {
                    tracing::warn!(
                        grace_s = self.grace.as_secs(),
                        "HTTP requests still running after the grace period; dropped"
                    );
                    task.abort();
                }
            }
        };
        let smtp = async {
            if let Some(l) = self.listener
                && let Err(e) = l.shutdown().await
            {
                tracing::warn!(error = %e, "the SMTP listener stopped with an error");
            }
        };
        tokio::join!(http, smtp);
        self.state.stop_lists().await;
        self.chores.abort();
        self.sweeper.abort();
        let worker = match self.worker {
            Some(w) => Some(w.stop().await),
            None => None,
        };
        // After the worker: what it recorded last is announced, and posted
        // now or at the next start.
        if let Some(d) = self.webhooks {
            d.stop().await;
        }
        let still_queued = self
            .state
            .pipeline()
            .queue_counts()
            .await
            .ok()
            .map(|q| q.queued + q.leased);
        self.state.pipeline().transport().close().await;
        self.state.pipeline().store().close().await;
        self.state.db().close().await;
        tracing::info!(
            submitted = worker.map(|w| w.submitted),
            still_queued,
            "invite server stopped"
        );
        Stopped {
            worker,
            still_queued,
        }
    }
}

/// Makes the demo tenant on the first start of a database (a domain owner,
/// an organizer, an event and the owner's API key); on later starts, finds
/// it again (without its key, which is not stored).
async fn demo(state: &AppState, config: &Config) -> Result<Option<Demo>, StartError> {
    let db = state.db();
    let fail = |e: &dyn std::fmt::Display| StartError::new("the demo tenant", e);
    let scope = SingleTenant::SCOPE;
    let first = db.note("demo", "started").await.map_err(|e| fail(&e))?;
    let store = state.pipeline().store();
    if !first {
        let Some(owner) = store.owner(scope.owner).await.map_err(|e| fail(&e))? else {
            return Ok(None);
        };
        let Some(event) = db.meta("demo_event").await.map_err(|e| fail(&e))? else {
            return Ok(None);
        };
        return Ok(Some(Demo {
            owner: scope.owner,
            organizer: scope,
            organizer_address: config.demo.organizer_address.clone(),
            ingest: owner.ingest.as_str().to_owned(),
            event,
            console_admin: format!("owner@{}", config.demo.mail_domain),
            key: None,
        }));
    }
    if store
        .owner(scope.owner)
        .await
        .map_err(|e| fail(&e))?
        .is_some()
    {
        // A database made by something else: leave it alone.
        return Ok(None);
    }
    let d = &config.demo;
    // A loopback listener checks no SPF/DKIM: the demo organizer (and any
    // organizer registered later, which takes the owner's settings) is
    // trusted by its address alone. Behind checks it takes the default
    // policy.
    let policy = match config.smtp.verify {
        Verify::None => AuthPolicy::AllowListOnly,
        _ => AuthPolicy::default(),
    };
    let tenant = SingleTenant::new(&d.mail_domain, &d.organizer_name, &d.organizer_address)
        .map_err(|e| fail(&e))?
        .owner_name(&format!("{} (demo)", d.organizer_name))
        .settings(Settings::default().with_auth(policy));
    let now = state.now();
    db.claim_owner(scope.owner, now)
        .await
        .map_err(|e| fail(&e))?;
    db.claim_organizer(scope, now).await.map_err(|e| fail(&e))?;
    let p = state.pipeline();
    p.register_owner(tenant.owner().clone())
        .await
        .map_err(|e| fail(&e))?;
    p.register_organizer(
        tenant
            .organizer()
            .clone()
            .with_settings(Settings::default().with_auth(policy)),
    )
    .await
    .map_err(|e| fail(&e))?;
    // A demo event a week from now, 17:00 to 18:00 UTC.
    let day = (now + chrono::TimeDelta::days(7)).date_naive();
    let at = |h| {
        day.and_hms_opt(h, 0, 0)
            .map(|t| ZonedDateTime::new(t, TimeZone::UTC))
    };
    let (Some(Ok(start)), Some(Ok(end))) = (at(17), at(18)) else {
        return Err(StartError("the demo event's time".into()));
    };
    let schedule = Schedule::timed(start, end).map_err(|e| fail(&e))?;
    let code = p
        .create_event(
            scope,
            EventDraft::new("Welcome to your invite server", schedule)
                .description("A demo event made on the server's first start.")
                .location("Online"),
        )
        .await
        .map_err(|e| fail(&e))?;
    db.note("demo_event", code.as_str())
        .await
        .map_err(|e| fail(&e))?;
    if d.season {
        crate::landing::demo::make(state, scope, now)
            .await
            .map_err(|e| fail(&e))?;
    }
    let key = crate::api::keys::make_key(state, scope.owner, None, "demo owner key (first start)")
        .await
        .map_err(|e| fail(&e))?;
    let console_admin = format!("owner@{}", d.mail_domain).to_lowercase();
    db.add_console_admin(scope.owner, &console_admin, now)
        .await
        .map_err(|e| fail(&e))?;
    tracing::info!(owner = scope.owner.0, event = %code, "demo tenant made");
    Ok(Some(Demo {
        owner: scope.owner,
        organizer: Scope::new(scope.owner, OrganizerId(scope.organizer.0)),
        organizer_address: d.organizer_address.clone(),
        ingest: tenant.owner().ingest.as_str().to_owned(),
        event: code.to_string(),
        console_admin,
        key: Some(key.key),
    }))
}
