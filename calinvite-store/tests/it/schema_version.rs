#![allow(clippy::unwrap_used)]
//! The schema version on open: a database written by a newer calinvite (its
//! `calinvite_schema` records a version above this build's) is refused with
//! [`StoreError::TooNew`] and left exactly as it was — no table, index or
//! version row added, no row changed; a current database opens again and
//! again without re-applying a migration.
//!
//! On a fresh SQLite file and a fresh PostgreSQL schema
//! (`CALINVITE_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`;
//! an unreachable server fails the test).

use crate::support;

use calinvite_core::lifecycle::{DomainOwner, OwnerId, StoreError};
use calinvite_core::{EmailAddress, Store};
use calinvite_store::{Dialect, SqlOptions, SqlStore};
use sqlx::Row as _;

/// Where a test's database is, and a raw connection to it.
struct Db {
    dialect: Dialect,
    url: String,
    /// The PostgreSQL schema.
    schema: Option<String>,
    raw: sqlx::AnyPool,
}

impl Db {
    async fn open(&self) -> Result<SqlStore, StoreError> {
        let mut options = SqlOptions::default().max_connections(2);
        if let Some(s) = &self.schema {
            options = options.schema(s.clone());
        }
        SqlStore::open_with(&self.url, options).await
    }

    fn sql(&self, text: &str) -> sqlx::AssertSqlSafe<String> {
        sqlx::AssertSqlSafe(match self.dialect {
            Dialect::Postgres => text.to_owned(),
            _ => text.replace('$', "?"),
        })
    }

    async fn exec(&self, text: &str) {
        sqlx::query(self.sql(text))
            .execute(&self.raw)
            .await
            .unwrap_or_else(|e| panic!("{text}: {e}"));
    }

    async fn strings(&self, text: &str) -> Vec<String> {
        let mut q = sqlx::query(self.sql(text));
        if let Some(s) = &self.schema {
            q = q.bind(s.clone());
        }
        q.fetch_all(&self.raw)
            .await
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .iter()
            .map(|r| r.try_get::<String, _>("v").unwrap())
            .collect()
    }

    /// Every table, index and sequence, with its definition where the
    /// database keeps one.
    async fn objects(&self) -> Vec<String> {
        match self.dialect {
            Dialect::Postgres => {
                self.strings(
                    "SELECT CAST(c.relkind AS TEXT) || ':' || c.relname AS v \
                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = $1 ORDER BY 1",
                )
                .await
            }
            _ => {
                self.strings(
                    "SELECT type || ':' || name || ':' || COALESCE(sql, '') AS v \
                     FROM sqlite_master ORDER BY type, name",
                )
                .await
            }
        }
    }

    async fn versions(&self) -> Vec<String> {
        self.strings("SELECT CAST(version AS TEXT) AS v FROM calinvite_schema ORDER BY version")
            .await
    }

    /// Everything the tests compare: objects, version rows and, when the
    /// owners table is there, its rows.
    async fn snapshot(&self) -> Vec<String> {
        let objects = self.objects().await;
        let mut all = objects.clone();
        all.extend(self.versions().await);
        if objects.iter().any(|o| o.contains(":owners")) {
            all.extend(
                self.strings("SELECT CAST(id AS TEXT) || ' ' || body AS v FROM owners ORDER BY id")
                    .await,
            );
        }
        all
    }
}

/// Runs `test` on a fresh SQLite file, then on a fresh PostgreSQL schema.
fn on_both(name: &str, test: impl AsyncFn(&Db)) {
    let rt = support::runtime();
    let dir = support::TempDir::new(name);
    rt.block_on(async {
        let url = support::sqlite_url(&dir);
        // The raw connection creates the file (as `SqlStore::open` would).
        let raw = support::raw(&format!("{url}?mode=rwc"), None).await;
        let db = Db {
            dialect: Dialect::Sqlite,
            url,
            schema: None,
            raw,
        };
        test(&db).await;
        db.raw.close().await;
    });
    rt.block_on(async {
        support::check_postgres().await;
        let schema = support::unique(name);
        let url = support::postgres_url();
        let raw = support::raw(&url, None).await;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&raw)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {url} is required for this test: {e}"));
        raw.close().await;
        let _drop = support::SchemaGuard(schema.clone());
        let raw = support::raw(&url, Some(&schema)).await;
        let db = Db {
            dialect: Dialect::Postgres,
            url,
            schema: Some(schema),
            raw,
        };
        test(&db).await;
        db.raw.close().await;
    });
}

fn owner() -> DomainOwner {
    let a = |s: &str| EmailAddress::parse(s).unwrap();
    DomainOwner::new(
        OwnerId(1),
        "Example Events",
        "events.example.com",
        a("create@events.example.com"),
        a("rsvp@events.example.com"),
        a("bounces@events.example.com"),
    )
}

/// What a fresh database records: the version this build writes.
async fn current(db: &Db) -> i64 {
    let store = db.open().await.unwrap();
    let v = store.schema_version().await.unwrap();
    store.close().await;
    assert!(v >= 1, "a fresh database records version {v}");
    v
}

#[track_caller]
fn too_new(r: Result<SqlStore, StoreError>, found: i64, supported: i64) {
    match r {
        Err(StoreError::TooNew {
            found: f,
            supported: s,
        }) => {
            assert_eq!(
                (i64::from(f), i64::from(s)),
                (found, supported),
                "TooNew's numbers"
            );
        }
        Err(other) => panic!("expected TooNew, got {other:?}"),
        Ok(_) => panic!("a database of schema version {found} opened"),
    }
}

#[test]
fn a_database_from_a_newer_calinvite_is_refused_and_left_alone() {
    on_both("newer", async |db| {
        let supported = current(db).await;
        // This build's tables and data, then a newer calinvite's migration.
        let store = db.open().await.unwrap();
        store.put_owner(owner()).await.unwrap();
        store.close().await;
        db.exec("CREATE TABLE future_things (id BIGINT PRIMARY KEY, body TEXT NOT NULL)")
            .await;
        db.exec("INSERT INTO future_things (id, body) VALUES (1, 'from the future')")
            .await;
        let found = supported + 1;
        db.exec(&format!(
            "INSERT INTO calinvite_schema (version) VALUES ({found})"
        ))
        .await;
        let before = db.snapshot().await;

        too_new(db.open().await, found, supported);
        // Again: a refusal changes nothing the next attempt would see.
        too_new(db.open().await, found, supported);
        assert_eq!(db.snapshot().await, before, "the database changed");
    });
}

#[test]
fn a_newer_layout_gets_none_of_this_builds_tables() {
    on_both("newer_layout", async |db| {
        // A newer calinvite that renamed every table: only the version table
        // is recognisable.
        db.exec("CREATE TABLE calinvite_schema (version BIGINT NOT NULL)")
            .await;
        db.exec("INSERT INTO calinvite_schema (version) VALUES (1)")
            .await;
        db.exec("INSERT INTO calinvite_schema (version) VALUES (7)")
            .await;
        db.exec("CREATE TABLE tenants_v7 (id BIGINT PRIMARY KEY)")
            .await;
        let before = db.snapshot().await;
        match db.open().await {
            Err(StoreError::TooNew { found: 7, .. }) => {}
            Err(other) => panic!("expected TooNew, got {other:?}"),
            Ok(_) => panic!("a database of schema version 7 opened"),
        }
        assert_eq!(db.snapshot().await, before, "the database changed");
    });
}

#[test]
fn reopening_a_current_database_changes_nothing() {
    on_both("reopen", async |db| {
        let version = current(db).await;
        let store = db.open().await.unwrap();
        store.put_owner(owner()).await.unwrap();
        store.close().await;
        let before = db.snapshot().await;
        assert_eq!(
            db.versions().await,
            (1..=version).map(|v| v.to_string()).collect::<Vec<_>>(),
            "one version row per migration"
        );
        for _ in 0..3 {
            let store = db.open().await.unwrap();
            assert_eq!(store.schema_version().await.unwrap(), version);
            assert_eq!(store.owner(OwnerId(1)).await.unwrap(), Some(owner()));
            store.close().await;
            assert_eq!(
                db.snapshot().await,
                before,
                "reopening changed the database"
            );
        }
    });
}
