//! Fresh databases for tests: a SQLite file in a temporary folder, or a new
//! PostgreSQL schema on the local server.
#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;
use std::path::PathBuf;
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
    let url = format!("sqlite://{}", dir.0.join("calinvite.db").display());
    SqlStore::open(&url).await.unwrap()
}

/// Opens a fresh PostgreSQL schema named after the test.
pub(crate) async fn postgres(name: &str, connections: u32) -> SqlStore {
    postgres_in(&unique(name), connections).await
}

/// Opens (creating) the PostgreSQL schema `schema`.
pub(crate) async fn postgres_in(schema: &str, connections: u32) -> SqlStore {
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
