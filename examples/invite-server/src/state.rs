//! [`AppState`]: what every handler shares — the pipeline, the server's
//! tables, the limits, the metrics, and the list feeder.

use std::collections::HashSet;
use std::io::Cursor;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use calinvite::WorkerCounters;
use calinvite_core::lifecycle::{ListJobId, ListJobState, Pipeline, PipelineError, Scope};
use calinvite_smtp::metrics::ListenerMetrics;
use calinvite_store::SqlStore;
use chrono::{DateTime, Utc};
use tokio::task::JoinSet;

use crate::db::ServerDb;
use crate::extract::{Caller, Tenant};
use crate::keys;
use crate::metrics::{HttpMetrics, Scrape};
use crate::outbound::Outbound;
use crate::problem::{ApiError, ApiResult};
use crate::unregistered::Newcomers;
use crate::webhooks::WebhookMetrics;
use crate::webhooks::target::TargetPolicy;

/// The pipeline the server runs: calinvite's SQL store, and the outbound
/// transport chosen by configuration.
pub type ServerPipeline = Pipeline<SqlStore, Outbound>;

/// How much a request may send, and how long it may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest JSON body, in bytes.
    pub max_body: usize,
    /// Largest CSV upload, in bytes.
    pub max_upload: usize,
    /// Longest a request may run.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 64 * 1024,
            max_upload: 20 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl Limits {
    /// Limits of `max_body` and `max_upload` bytes, and `request_timeout`.
    pub fn new(max_body: usize, max_upload: usize, request_timeout: Duration) -> Self {
        Limits {
            max_body,
            max_upload,
            request_timeout,
        }
    }
}

type ListenerSource = Box<dyn Fn() -> ListenerMetrics + Send + Sync>;

struct Inner {
    pipeline: Arc<ServerPipeline>,
    db: ServerDb,
    limits: Limits,
    http: HttpMetrics,
    worker: OnceLock<Arc<WorkerCounters>>,
    listener: OnceLock<ListenerSource>,
    feeder: ListFeeder,
    newcomers: Arc<Newcomers>,
    webhooks: WebhookMetrics,
    targets: OnceLock<TargetPolicy>,
    web: OnceLock<Arc<crate::web::Web>>,
}

/// What the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("limits", &self.0.limits)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The state of a router over `pipeline`, with the server's tables in
    /// `db` (the same database as the pipeline's store).
    pub fn new(pipeline: Arc<ServerPipeline>, db: ServerDb, limits: Limits) -> Self {
        Self::with_organizers(pipeline, db, limits, Default::default())
    }

    /// [`AppState::new`], holding invitations from addresses that are not
    /// registered organizers yet as `organizers` says.
    pub fn with_organizers(
        pipeline: Arc<ServerPipeline>,
        db: ServerDb,
        limits: Limits,
        organizers: crate::config::OrganizersConfig,
    ) -> Self {
        let newcomers = Arc::new(Newcomers::new(pipeline.clone(), db.clone(), organizers));
        AppState(Arc::new(Inner {
            pipeline,
            db,
            limits,
            http: HttpMetrics::default(),
            worker: OnceLock::new(),
            listener: OnceLock::new(),
            feeder: ListFeeder::default(),
            newcomers,
            webhooks: WebhookMetrics::default(),
            targets: OnceLock::new(),
            web: OnceLock::new(),
        }))
    }

    /// Invitations from addresses that are not registered organizers yet.
    pub fn newcomers(&self) -> &Arc<Newcomers> {
        &self.0.newcomers
    }

    /// The pipeline.
    pub fn pipeline(&self) -> &Arc<ServerPipeline> {
        &self.0.pipeline
    }

    /// The server's tables.
    pub fn db(&self) -> &ServerDb {
        &self.0.db
    }

    /// The limits.
    pub fn limits(&self) -> Limits {
        self.0.limits
    }

    /// The HTTP counters.
    pub fn http_metrics(&self) -> &HttpMetrics {
        &self.0.http
    }

    /// Shows this worker's counters in `/metrics`.
    pub fn watch_worker(&self, counters: Arc<WorkerCounters>) {
        let _ = self.0.worker.set(counters);
    }

    /// Shows an SMTP listener's counters in `/metrics`.
    pub fn watch_listener(&self, source: impl Fn() -> ListenerMetrics + Send + Sync + 'static) {
        let _ = self.0.listener.set(Box::new(source));
    }

    /// What webhooks did, counted.
    pub fn webhook_metrics(&self) -> &WebhookMetrics {
        &self.0.webhooks
    }

    /// Which webhook targets endpoints may name (set once, at start;
    /// public addresses only until then).
    pub fn set_webhook_targets(&self, policy: TargetPolicy) {
        let _ = self.0.targets.set(policy);
    }

    /// Which webhook targets endpoints may name.
    pub fn webhook_targets(&self) -> TargetPolicy {
        self.0.targets.get().copied().unwrap_or_default()
    }

    /// Sets the public web's configuration, address and form key (once, at
    /// start).
    pub fn set_web(&self, web: Arc<crate::web::Web>) {
        let _ = self.0.web.set(web);
    }

    /// The public web. A state that was never given one (an application's
    /// own router in a test) gets the default configuration on
    /// `http://localhost/` with a key of this process.
    pub fn web(&self) -> &Arc<crate::web::Web> {
        self.0.web.get_or_init(|| {
            let mut key = [0u8; 32];
            if getrandom::fill(&mut key).is_err() {
                tracing::error!("no randomness for the form key: public forms will be refused");
            }
            let base = url::Url::parse("http://localhost/").unwrap_or_else(|_| unreachable!());
            crate::web::Web::new(crate::config::WebConfig::default(), base, key)
        })
    }

    /// Takes `cost` from `key`'s allowance of the public pages now.
    pub fn limit(
        &self,
        key: crate::web::Key<'_>,
        cost: u32,
    ) -> Result<(), crate::web::WebRejection> {
        Ok(self.web().limits().check(key, cost, self.now())?)
    }

    /// The current time (the pipeline's clock).
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.0.pipeline.now()
    }

    /// Reads everything `/metrics` shows.
    pub(crate) async fn scrape(&self) -> Scrape {
        Scrape {
            queue: self.0.pipeline.queue_counts().await.ok(),
            pipeline: self.0.pipeline.metrics(),
            worker: self.0.worker.get().map(|w| (w.snapshot(), w.in_flight())),
            listener: self.0.listener.get().map(|f| f()),
            relay: self.0.pipeline.transport().relay_metrics(),
            webhooks: self.0.webhooks.snapshot(),
            webhook_backlog: self.0.db.webhook_backlog().await.ok(),
        }
    }

    /// The caller whose key has public id `id` and secret `secret`.
    pub(crate) async fn authenticate(&self, id: &str, secret: &str) -> ApiResult<Caller> {
        let refused = || ApiError::unauthorized("unknown or revoked API key");
        let Some((record, hash)) = self.0.db.key(id).await? else {
            // The same work as for a known key, so timing tells nothing.
            let _ = keys::matches(secret, &keys::digest(""));
            return Err(refused());
        };
        if !keys::matches(secret, &hash) || record.revoked_at.is_some() {
            return Err(refused());
        }
        let tenant = match record.organizer {
            Some(o) => Tenant::Organizer(Scope::new(record.owner, o)),
            None => Tenant::Owner(record.owner),
        };
        Ok(Caller {
            key_id: record.id,
            tenant,
        })
    }

    /// Feeds list `id` (kept in the server's tables) to its job in the
    /// background, unless it is being fed already.
    pub(crate) fn feed_list(&self, id: String) {
        let state = self.clone();
        self.0.feeder.spawn(id.clone(), async move {
            if let Err(e) = state.feed(&id).await {
                tracing::warn!(list = %id, error = %e, "feeding a list stopped; it is taken up again when resumed or at the next start");
            }
        });
    }

    async fn feed(&self, id: &str) -> Result<(), String> {
        let db = &self.0.db;
        let Some(record) = db.list(id).await.map_err(|e| e.to_string())? else {
            return Ok(());
        };
        if record.fed {
            return Ok(());
        }
        let Some(csv) = db.list_csv(id).await.map_err(|e| e.to_string())? else {
            return Ok(());
        };
        let job = ListJobId::new(id);
        let fed = self
            .0
            .pipeline
            .feed_csv(record.scope, &job, Cursor::new(csv))
            .await;
        match fed {
            Ok(feed) => match feed.stopped {
                // Paused: fed again when resumed.
                Some(ListJobState::Paused) => Ok(()),
                Some(ListJobState::Cancelled) => db
                    .list_fed(id, Some("cancelled"))
                    .await
                    .map_err(|e| e.to_string()),
                _ => {
                    tracing::info!(list = %id, recorded = feed.recorded, skipped = feed.already_recorded, "list fed");
                    db.list_fed(id, None).await.map_err(|e| e.to_string())
                }
            },
            Err(PipelineError::Refused(r)) => db
                .list_fed(id, Some(&r.detail))
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Takes up the lists not fed to their end (at start).
    pub async fn resume_lists(&self) -> Result<usize, crate::db::DbError> {
        let lists = self.0.db.unfed_lists().await?;
        let n = lists.len();
        for l in lists {
            self.feed_list(l.id);
        }
        Ok(n)
    }

    /// Stops feeding lists (at shutdown). A page being committed is rolled
    /// back with its transaction; the rows recorded so far stay, and the
    /// list is taken up from there at the next start.
    pub async fn stop_lists(&self) {
        self.0.feeder.stop().await;
    }
}

/// The background tasks that feed uploaded lists, one per list.
#[derive(Default)]
struct ListFeeder {
    running: Arc<Mutex<HashSet<String>>>,
    tasks: Mutex<JoinSet<()>>,
}

impl ListFeeder {
    fn spawn(&self, id: String, work: impl Future<Output = ()> + Send + 'static) {
        {
            let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
            if !running.insert(id.clone()) {
                return;
            }
        }
        let running = self.running.clone();
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        // Finished tasks are dropped as new ones come.
        while tasks.try_join_next().is_some() {}
        tasks.spawn(async move {
            work.await;
            running
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id);
        });
    }

    async fn stop(&self) {
        let mut tasks =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        tasks.shutdown().await;
    }
}
