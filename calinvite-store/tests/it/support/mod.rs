//! Fresh databases for tests: a SQLite file in a temporary folder, or a new
//! PostgreSQL schema on the local server.
#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use calinvite_store::{SqlOptions, SqlStore};

/// The PostgreSQL server tests use.
pub(crate) fn postgres_url() -> String {
    std::env::var("CALINVITE_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

static NEXT: AtomicU64 = AtomicU64::new(0);

pub(crate) fn unique(name: &str) -> String {
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(30)
        .collect();
    format!("t{}_{}_{clean}", std::process::id(), n)
}

/// A temporary folder removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("calinvite-{}", unique(name)));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Opens a fresh SQLite store in `dir`.
pub(crate) async fn sqlite(dir: &TempDir) -> SqlStore {
    SqlStore::open(&sqlite_url(dir)).await.unwrap()
}

/// Opens a fresh PostgreSQL schema named after the test.
pub(crate) async fn postgres(name: &str, connections: u32) -> SqlStore {
    postgres_in(&unique(name), connections).await
}

/// Opens (creating) the PostgreSQL schema `schema`.
pub(crate) async fn postgres_in(schema: &str, connections: u32) -> SqlStore {
    check_postgres().await;
    let url = postgres_url();
    SqlStore::open_with(
        &url,
        SqlOptions::default()
            .schema(schema)
            .max_connections(connections),
    )
    .await
    .unwrap_or_else(|e| panic!("PostgreSQL at {url} is required for this test: {e}"))
}

/// Runs a scenario on a fresh SQLite store.
pub(crate) fn on_sqlite<F, Fut>(name: &str, scenario: F)
where
    F: FnOnce(SqlStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = TempDir::new(name);
    runtime().block_on(async {
        let store = sqlite(&dir).await;
        scenario(store.clone()).await;
        store.close().await;
    });
}

/// Runs a scenario on a fresh PostgreSQL schema.
pub(crate) fn on_postgres<F, Fut>(name: &str, scenario: F)
where
    F: FnOnce(SqlStore) -> Fut,
    Fut: Future<Output = ()>,
{
    runtime().block_on(async {
        let schema = unique(name);
        let store = postgres_in(&schema, 4).await;
        scenario(store.clone()).await;
        store.drop_schema(&schema).await.unwrap();
        store.close().await;
    });
}

/// Whether the PostgreSQL server answered, asked once per test binary.
static POSTGRES: OnceLock<Result<(), String>> = OnceLock::new();

/// Fails — never skips — when the PostgreSQL server is unreachable, at once
/// (a pool would wait out its acquire timeout first, in every test). The
/// first call connects; the others reuse its answer.
pub(crate) async fn check_postgres() {
    use sqlx::Connection as _;
    let url = postgres_url();
    if POSTGRES.get().is_none() {
        sqlx::any::install_default_drivers();
        let probe = async {
            let conn = sqlx::AnyConnection::connect(&url)
                .await
                .map_err(|e| e.to_string())?;
            conn.close().await.map_err(|e| e.to_string())
        };
        let answer = tokio::time::timeout(std::time::Duration::from_secs(10), probe)
            .await
            .unwrap_or_else(|_| Err("no answer in 10 s".to_owned()));
        let _ = POSTGRES.set(answer);
    }
    if let Some(Err(e)) = POSTGRES.get() {
        panic!("PostgreSQL at {url} is required for this test: {e}");
    }
}

/// [`check_postgres`] outside a runtime. Property tests call it before their
/// first case, so an absent server is one clear failure rather than a
/// "failing case" proptest shrinks and records.
pub(crate) fn require_postgres() {
    runtime().block_on(check_postgres());
}

/// The URL of the SQLite file [`sqlite`] opens in `dir`.
pub(crate) fn sqlite_url(dir: &TempDir) -> String {
    format!("sqlite://{}", dir.0.join("calinvite.db").display())
}

/// A separate connection pool on the same database, for raw SQL (breaking
/// rows on purpose, reading what the store wrote). For PostgreSQL, pass the
/// schema to work in.
pub(crate) async fn raw(url: &str, schema: Option<&str>) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let schema = schema.map(str::to_owned);
    sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .after_connect(move |conn, _meta| {
            let schema = schema.clone();
            Box::pin(async move {
                if let Some(s) = schema {
                    // Test schema names are plain identifiers (see `unique`).
                    sqlx::query(sqlx::AssertSqlSafe(format!("SET search_path TO {s}")))
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("raw connection to {url}: {e}"))
}

/// Drops a test's PostgreSQL schema when it goes out of scope — also when the
/// test fails, from anywhere (inside a runtime or not: it works on a thread of
/// its own).
pub(crate) struct SchemaGuard(pub(crate) String);

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        use sqlx::Connection as _;
        let schema = self.0.clone();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                sqlx::any::install_default_drivers();
                if let Ok(mut conn) = sqlx::AnyConnection::connect(&postgres_url()).await {
                    // Test schema names are plain identifiers (see `unique`).
                    let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(drop))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// Registers a domain owner (`events.example.com`) and an organizer (Ana,
/// allowed for `example.com`) in `pipeline`'s store and creates an all-day
/// event on 2026-12-03; returns the organizer's scope and the event's code.
pub(crate) async fn launch<S, T>(
    pipeline: &calinvite_core::lifecycle::Pipeline<S, T>,
) -> (calinvite_core::lifecycle::Scope, calinvite_core::EventCode)
where
    S: calinvite_core::lifecycle::Store,
    T: calinvite_core::lifecycle::Transport,
{
    use calinvite_core::lifecycle::{
        AllowEntry, DomainOwner, OrganizerAccount, OrganizerId, OwnerId, Scope,
    };
    use calinvite_core::{EmailAddress, Event, Schedule};
    let address = |s: &str| EmailAddress::parse(s).unwrap();
    let owner = DomainOwner::new(
        OwnerId(1),
        "Example Events",
        "events.example.com",
        address("create@events.example.com"),
        address("rsvp@events.example.com"),
        address("bounces@events.example.com"),
    );
    let scope = Scope {
        owner: owner.id,
        organizer: OrganizerId(1),
    };
    let store = pipeline.store();
    store.put_owner(owner).await.unwrap();
    store
        .put_organizer(
            OrganizerAccount::new(scope, "Ana", address("ana@example.com"))
                .with_allow_list(vec![AllowEntry::Domain("example.com".into())]),
        )
        .await
        .unwrap();
    let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
    let code = pipeline
        .create_event_with(scope, |code| {
            Event::builder(code)
                .summary("Launch")
                .schedule(Schedule::all_day(day, day).map_err(|e| e.to_string())?)
                .organizer(address("ana@example.com"), None)
                .build()
                .map_err(|e| e.to_string())
        })
        .await
        .unwrap();
    (scope, code)
}

/// Takes schemas 5, 4 and 3 back out of a database (either dialect): the
/// announcements, the reclaim counts, schema 3's tables, the queue's group
/// column and its index. Run with the version rows above 2
/// deleted, it leaves the database as schema 2 made it.
pub(crate) const UNDO_SCHEMA_3: &[&str] = &[
    // Schema 5 first: the announcements.
    "DROP TABLE announcements",
    // Then schema 4: the reclaim counts.
    "ALTER TABLE deliveries DROP COLUMN reclaims",
    "DROP INDEX deliveries_group",
    "ALTER TABLE deliveries DROP COLUMN grp",
    "DROP TABLE held_groups",
    "DROP TABLE list_rows",
    "DROP TABLE list_jobs",
];
