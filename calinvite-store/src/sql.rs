//! [`SqlStore`]: the core's [`Store`] on SQLite or PostgreSQL, through one
//! body of SQL (sqlx's `Any` driver; numbered parameters, rewritten for
//! SQLite) with the few dialect differences spelled out where they are.
//!
//! - Every [`Store::commit`] is one transaction: a state change and the
//!   messages it queues are committed together or not at all
//!   ([D8](calinvite_core::manual::design#d8)).
//! - Optimistic concurrency: updates name the version they read; a lost race
//!   is [`StoreError::Conflict`] and the pipeline decides again.
//! - The delivery queue: PostgreSQL workers claim with `FOR UPDATE SKIP
//!   LOCKED`; SQLite has one writer connection, so claims never overlap.
//!   Expired leases (a worker that died) are claimed again.
//! - SQLite reads outside transactions can go to reader connections of
//!   their own ([`SqlOptions::readers`]; WAL mode: readers and the writer
//!   never wait for each other), so look-ups go on while a commit is
//!   written.
//! - List jobs: one row per job (unique per event and name), its rows in
//!   (job, row) order; a queued message's group is a column, and claims pass
//!   over the messages of groups in `held_groups`.
//! - Rows read back are parsed and validated again: a corrupted row is an
//!   error naming it, never a panic.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use calinvite_core::lifecycle::{
    Announcement, DeliveryKey, DomainOwner, HistoryEntry, Invitation, ListJob, ListJobId, ListRow,
    OrganizerAccount, OwnerId, PendingChange, PendingChangeId, PendingState, RefusalRecord, Scope,
    Store, StoreError, StoredEvent, Suppression,
};
use calinvite_core::spi::{
    Change, Delivery, FanOut, Lease, QueueCounts, QueueState, Settle, Settlement, StoreResult,
};
use calinvite_core::{EmailAddress, Event, EventCode, InvitationToken, Keyword, Sequence};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use crate::schema;

/// Which database a [`SqlStore`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Dialect {
    /// SQLite: one file, one writer.
    Sqlite,
    /// PostgreSQL: many instances, row locks.
    Postgres,
}

/// How a [`SqlStore`] connects.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SqlOptions {
    /// Connections in the pool (PostgreSQL; SQLite keeps one writer).
    pub max_connections: u32,
    /// PostgreSQL schema to use (created if missing): one per tenant
    /// database, or per test.
    pub schema: Option<String>,
    /// How long SQLite waits for the write lock.
    pub busy_timeout: Duration,
    /// SQLite: connections that only read, beside the one writer (default
    /// 0: every read goes through the writer). In WAL mode readers never
    /// wait for the writer nor it for them, so reads outside transactions
    /// run while a commit or a claim is being written: many concurrent
    /// callers (an HTTP API's look-ups) gain. A reader's page cache starts
    /// empty again after every commit it did not make, so one caller that
    /// reads what it has just written (a list fed page by page, a worker
    /// preparing its batch) is faster on the writer, whose cache holds
    /// those pages: measured on a list campaign, 4 readers cut the feed
    /// from about 9,400 to 6,400 rows a second, while an API under 50
    /// concurrent clients went from about 540 to 1,000 invitations a
    /// second. PostgreSQL reads share its one pool.
    pub readers: u32,
}

impl Default for SqlOptions {
    fn default() -> Self {
        SqlOptions {
            max_connections: 8,
            schema: None,
            busy_timeout: Duration::from_secs(10),
            readers: 0,
        }
    }
}

impl SqlOptions {
    /// Sets the pool size.
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }
    /// Sets the number of SQLite reader connections (0: none, every read
    /// through the writer).
    pub fn readers(mut self, n: u32) -> Self {
        self.readers = n;
        self
    }
    /// Uses (and creates) a PostgreSQL schema.
    pub fn schema(mut self, name: impl Into<String>) -> Self {
        self.schema = Some(name.into());
        self
    }
}

/// Pool options of `n` connections with no reaping of idle or old ones, so
/// sqlx starts no pool maintenance task: in sqlx-core 0.9.0 that task can
/// spin at 100% CPU for ever once the pool's idle count underflows under
/// concurrent use (sqlx issue #3645, fixed upstream by PR #4289), and it
/// then also hangs runtime shutdown. Seen here at the end of a
/// million-message SQLite run. Connections that break are still replaced
/// (and PostgreSQL ones are tested before use).
fn unreaped(n: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(n)
        .min_connections(0)
        .idle_timeout(None)
        .max_lifetime(None)
}

/// The core's [`Store`] on SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct SqlStore {
    /// Writes, claims and transactions (SQLite: its one writer).
    pool: AnyPool,
    /// Reads outside transactions: SQLite's reader connections, or the
    /// same pool as `pool`.
    readers: AnyPool,
    dialect: Dialect,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// A database error: a unique or foreign-key violation is a lost race.
fn db(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(d) = &e {
        use sqlx::error::ErrorKind;
        if matches!(
            d.kind(),
            ErrorKind::UniqueViolation | ErrorKind::ForeignKeyViolation
        ) {
            return StoreError::Conflict(d.message().to_owned());
        }
    }
    unavailable(e)
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(row: &str, v: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_micros(v).ok_or_else(|| StoreError::Corrupt {
        row: row.to_owned(),
        detail: format!("time {v} out of range"),
    })
}

fn seq(s: Sequence) -> StoreResult<i64> {
    i64::try_from(s.get())
        .map_err(|_| StoreError::Unavailable(format!("SEQUENCE {s} does not fit")))
}

fn json<T: Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(unavailable)
}

fn parse<T: DeserializeOwned>(row: &str, body: &str) -> StoreResult<T> {
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt {
        row: row.to_owned(),
        detail: e.to_string(),
    })
}

fn get<'r, T>(row: &'r AnyRow, name: &str, what: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get::<T, _>(name).map_err(|e| StoreError::Corrupt {
        row: what.to_owned(),
        detail: format!("column {name}: {e}"),
    })
}

/// A row's record, parsed from its `body`; the row is named (`row_name`)
/// only when it cannot be read.
fn body_of<T: DeserializeOwned>(row: &AnyRow, what: &str) -> StoreResult<T> {
    let body: String = row.try_get("body").map_err(|e| StoreError::Corrupt {
        row: row_name(row, what),
        detail: format!("column body: {e}"),
    })?;
    serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
        row: row_name(row, what),
        detail: e.to_string(),
    })
}

/// A row's name in errors: `what` (the table), and the row's key when the
/// query selects it as `row_key` (never an invitation token: those are
/// bearer secrets).
fn row_name(row: &AnyRow, what: &str) -> String {
    match row.try_get::<String, _>("row_key") {
        Ok(key) => format!("{what}/{key}"),
        Err(_) => what.to_owned(),
    }
}

fn id(v: u64) -> StoreResult<i64> {
    i64::try_from(v).map_err(|_| StoreError::Unavailable(format!("id {v} does not fit")))
}

impl SqlStore {
    /// Opens (creating when missing) the database at `url` —
    /// `sqlite:///path/file.db`, `sqlite::memory:`, `postgres://…` — and
    /// brings its schema up to date.
    pub async fn open(url: &str) -> StoreResult<Self> {
        Self::open_with(url, SqlOptions::default()).await
    }

    /// Opens with options.
    pub async fn open_with(url: &str, options: SqlOptions) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            return Err(StoreError::Unavailable(format!(
                "unsupported database URL (sqlite: or postgres:): {}",
                url.split(':').next().unwrap_or("")
            )));
        };
        let url = match dialect {
            // Create the file when missing.
            Dialect::Sqlite if !url.contains("mode=") && !url.contains(":memory:") => Cow::Owned(
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' }),
            ),
            _ => Cow::Borrowed(url),
        };
        let connect = AnyConnectOptions::from_str(&url).map_err(unavailable)?;
        // An in-memory database is private to its connection: readers of
        // their own would see another, empty one.
        let readers = match dialect {
            Dialect::Sqlite if !url.contains(":memory:") && !url.contains("mode=memory") => {
                options.readers
            }
            _ => 0,
        };
        let reader_connect = connect.clone();
        let busy = options.busy_timeout.as_millis();
        let schema_name = options.schema.clone();
        if let Some(s) = &schema_name
            && !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(StoreError::Unavailable(format!(
                "schema name {s:?} is not a plain identifier"
            )));
        }
        if let (Dialect::Postgres, Some(s)) = (dialect, &schema_name) {
            let pool = AnyPoolOptions::new()
                .max_connections(1)
                .connect_with(connect.clone())
                .await
                .map_err(unavailable)?;
            // `s` is checked above to be a plain identifier.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS {s}"
            )))
            .execute(&pool)
            .await
            .map_err(unavailable)?;
            pool.close().await;
        }
        // SQLite has one writer; one connection keeps claims and optimistic
        // writes strictly ordered (and avoids lock upgrades).
        let pool = unreaped(match dialect {
            Dialect::Sqlite => 1,
            Dialect::Postgres => options.max_connections,
        })
        // Pinging a connection before every use doubles the trips to
        // SQLite's worker thread and finds nothing: the file is local.
        .test_before_acquire(dialect == Dialect::Postgres)
        .after_connect(move |conn, _meta| {
            let schema_name = schema_name.clone();
            Box::pin(async move {
                match dialect {
                    Dialect::Sqlite => {
                        for pragma in [
                            "PRAGMA journal_mode = WAL".to_owned(),
                            "PRAGMA synchronous = NORMAL".to_owned(),
                            "PRAGMA foreign_keys = ON".to_owned(),
                            format!("PRAGMA busy_timeout = {busy}"),
                            // Fan-outs write thousands of rows per commit: a
                            // page cache of 64 MiB (2 MiB by default) keeps
                            // them from spilling mid-transaction and the
                            // indexes they touch from being read again.
                            "PRAGMA cache_size = -65536".to_owned(),
                            // Statement journals of multi-row writes in memory.
                            "PRAGMA temp_store = MEMORY".to_owned(),
                            // Checkpoint every 40 MiB of WAL rather than 4 MiB:
                            // a page rewritten many times is copied back once.
                            "PRAGMA wal_autocheckpoint = 10000".to_owned(),
                        ] {
                            sqlx::query(sqlx::AssertSqlSafe(pragma))
                                .execute(&mut *conn)
                                .await?;
                        }
                    }
                    Dialect::Postgres => {
                        if let Some(s) = schema_name {
                            sqlx::query(sqlx::AssertSqlSafe(format!("SET search_path TO {s}")))
                                .execute(&mut *conn)
                                .await?;
                        }
                    }
                }
                Ok(())
            })
        })
        .connect_with(connect)
        .await
        .map_err(unavailable)?;
        let mut store = SqlStore {
            readers: pool.clone(),
            pool,
            dialect,
        };
        store.migrate().await?;
        if readers > 0 {
            // Opened once the writer has made the file (and put it in WAL
            // mode, which the file keeps).
            store.readers = unreaped(readers)
                .test_before_acquire(false)
                .after_connect(move |conn, _meta| {
                    Box::pin(async move {
                        for pragma in [
                            format!("PRAGMA busy_timeout = {busy}"),
                            // 8 MiB each: they read what the writer's cache
                            // does not hold from the OS's page cache.
                            "PRAGMA cache_size = -8192".to_owned(),
                            "PRAGMA temp_store = MEMORY".to_owned(),
                            // A reader never writes, whatever it is asked.
                            "PRAGMA query_only = ON".to_owned(),
                        ] {
                            sqlx::query(sqlx::AssertSqlSafe(pragma))
                                .execute(&mut *conn)
                                .await?;
                        }
                        Ok(())
                    })
                })
                .connect_with(reader_connect)
                .await
                .map_err(unavailable)?;
        }
        Ok(store)
    }

    /// Which database this is.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.readers.close().await;
        self.pool.close().await;
    }

    /// Drops the PostgreSQL schema this store was opened on, with everything
    /// in it (removing a tenant database; tests clean up with it). Nothing
    /// happens on SQLite or without a schema.
    pub async fn drop_schema(&self, schema: &str) -> StoreResult<()> {
        if self.dialect != Dialect::Postgres {
            return Ok(());
        }
        if !schema
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(StoreError::Unavailable(format!(
                "schema name {schema:?} is not a plain identifier"
            )));
        }
        // `schema` is checked above to be a plain identifier.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE"
        )))
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    /// The SQL text for this dialect: `$1` parameters become `?1` on SQLite.
    /// Audited: every text passed here is a constant of this module (with at
    /// most a lock clause, a checked identifier, or a list of numbered
    /// parameters from [`values`] added); values are bound.
    fn sql(&self, text: &str) -> sqlx::AssertSqlSafe<String> {
        sqlx::AssertSqlSafe(match self.dialect {
            Dialect::Postgres => text.to_owned(),
            Dialect::Sqlite => text.replace('$', "?"),
        })
    }

    /// A write transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a transaction that reads first and writes later
    /// would otherwise fail outright, without waiting, when another process
    /// wrote in between (several worker processes on one file); waiting for
    /// the lock is what the busy timeout is for.
    async fn write(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Any>> {
        match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Dialect::Postgres => self.pool.begin().await,
        }
        .map_err(unavailable)
    }

    /// The schema version recorded in the database (0 when new).
    pub async fn schema_version(&self) -> StoreResult<i64> {
        sqlx::query("CREATE TABLE IF NOT EXISTS calinvite_schema (version BIGINT NOT NULL)")
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        let row = sqlx::query("SELECT MAX(version) AS v FROM calinvite_schema")
            .fetch_one(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(row
            .try_get::<Option<i64>, _>("v")
            .map_err(unavailable)?
            .unwrap_or(0))
    }

    async fn migrate(&self) -> StoreResult<()> {
        let found = self.schema_version().await?;
        if found > schema::SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                found: u32::try_from(found).unwrap_or(u32::MAX),
                supported: u32::try_from(schema::SCHEMA_VERSION).unwrap_or(u32::MAX),
            });
        }
        let migrations = match self.dialect {
            Dialect::Sqlite => schema::SQLITE,
            Dialect::Postgres => schema::POSTGRES,
        };
        for (n, statements) in migrations.iter().enumerate() {
            let version = i64::try_from(n).unwrap_or(i64::MAX) + 1;
            if version <= found {
                continue;
            }
            let mut tx = self.write().await?;
            for s in *statements {
                sqlx::query(*s)
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
            }
            sqlx::query(self.sql("INSERT INTO calinvite_schema (version) VALUES ($1)"))
                .bind(version)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
            tx.commit().await.map_err(unavailable)?;
        }
        Ok(())
    }

    async fn one<T: DeserializeOwned>(
        &self,
        what: &str,
        text: &str,
        binds: Vec<Bind>,
    ) -> StoreResult<Option<T>> {
        let sql = self.sql(text);
        let mut q = sqlx::query(sql);
        for b in binds {
            q = b.bind(q);
        }
        let Some(row) = q.fetch_optional(&self.readers).await.map_err(unavailable)? else {
            return Ok(None);
        };
        Ok(Some(body_of(&row, what)?))
    }

    async fn many<T: DeserializeOwned>(
        &self,
        what: &str,
        text: &str,
        binds: Vec<Bind>,
    ) -> StoreResult<Vec<T>> {
        self.many_with(what, text, binds, true).await
    }

    /// [`many`](Self::many), prepared and kept (`persistent`) or not. A look-up
    /// by a list of keys is not kept: each length is its own statement text,
    /// and PostgreSQL plans an unnamed statement for the values it is given.
    /// A kept one may switch to a generic plan, which cannot tell that all of
    /// an event's invitations share its code and may read every one of them
    /// (seen: 1 s per page of a 100,000-row list, growing with the list).
    async fn many_with<T: DeserializeOwned>(
        &self,
        what: &str,
        text: &str,
        binds: Vec<Bind>,
        persistent: bool,
    ) -> StoreResult<Vec<T>> {
        let sql = self.sql(text);
        let mut q = sqlx::query(sql).persistent(persistent);
        for b in binds {
            q = b.bind(q);
        }
        let rows = q.fetch_all(&self.readers).await.map_err(unavailable)?;
        rows.iter().map(|row| body_of(row, what)).collect()
    }

    async fn apply(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        change: Change,
    ) -> StoreResult<()> {
        let change = match change {
            Change::PutListJob {
                expected: Some(expected),
                job,
            } => return self.update_list_job(tx, expected, job).await,
            Change::InsertListRows(rows) => return self.insert_list_rows(tx, rows).await,
            other => other,
        };
        let (text, binds, must_touch): (&str, Vec<Bind>, Option<String>) = match change {
            Change::InsertEvent(e) => (
                "INSERT INTO events (code, owner, organizer, organizer_uid, created_at, version, body) \
                 VALUES ($1, $2, $3, $4, $5, 0, $6)",
                vec![
                    Bind::Text(e.code().to_string()),
                    Bind::Int(id(e.scope().owner.0)?),
                    Bind::Int(id(e.scope().organizer.0)?),
                    Bind::OptText(e.organizer_uid().map(str::to_owned)),
                    Bind::Int(micros(e.created_at())),
                    Bind::Text(json(&at_version_event(e, 0))?),
                ],
                None,
            ),
            Change::UpdateEvent { expected, event } => (
                "UPDATE events SET version = $1, body = $2 \
                 WHERE code = $3 AND version = $4 AND owner = $5 AND organizer = $6",
                vec![
                    Bind::Int(id(expected + 1)?),
                    Bind::Text(json(&at_version_event(event.clone(), expected + 1))?),
                    Bind::Text(event.code().to_string()),
                    Bind::Int(id(expected)?),
                    Bind::Int(id(event.scope().owner.0)?),
                    Bind::Int(id(event.scope().organizer.0)?),
                ],
                Some(format!("event {} changed", event.code())),
            ),
            Change::InsertRevision {
                code,
                sequence,
                event,
            } => (
                "INSERT INTO revisions (code, sequence, body) VALUES ($1, $2, $3)",
                vec![
                    Bind::Text(code.to_string()),
                    Bind::Int(seq(sequence)?),
                    Bind::Text(json(&event)?),
                ],
                None,
            ),
            Change::InsertInvitation(inv) => (
                "INSERT INTO invitations (token, code, address, owner, organizer, version, body) \
                 VALUES ($1, $2, $3, $4, $5, 0, $6)",
                vec![
                    Bind::Text(inv.token().to_string()),
                    Bind::Text(inv.code().to_string()),
                    Bind::Text(inv.recipient().address().to_string()),
                    Bind::Int(id(inv.scope().owner.0)?),
                    Bind::Int(id(inv.scope().organizer.0)?),
                    Bind::Text(json(&at_version(inv, 0))?),
                ],
                None,
            ),
            Change::UpdateInvitation {
                expected,
                invitation,
            } => (
                "UPDATE invitations SET version = $1, body = $2 \
                 WHERE token = $3 AND version = $4 AND code = $5 AND address = $6",
                vec![
                    Bind::Int(id(expected + 1)?),
                    Bind::Text(json(&at_version(invitation.clone(), expected + 1))?),
                    Bind::Text(invitation.token().to_string()),
                    Bind::Int(id(expected)?),
                    Bind::Text(invitation.code().to_string()),
                    Bind::Text(invitation.recipient().address().to_string()),
                ],
                Some("invitation changed".to_owned()),
            ),
            Change::AppendHistory(h) => (
                "INSERT INTO history (token, at, body) VALUES ($1, $2, $3)",
                vec![
                    Bind::Text(h.token.to_string()),
                    Bind::Int(micros(h.at)),
                    Bind::Text(json(&h)?),
                ],
                None,
            ),
            Change::Enqueue(d) => (
                "INSERT INTO deliveries (key, owner, state, due, attempts, grp, body) \
                 VALUES ($1, $2, 'queued', $3, 0, $4, $5) ON CONFLICT (key) DO NOTHING",
                vec![
                    Bind::Text(d.key.to_string()),
                    Bind::Int(id(d.owner.0)?),
                    Bind::Int(micros(d.due)),
                    Bind::OptText(d.group.clone()),
                    Bind::Text(json(&d)?),
                ],
                None,
            ),
            Change::Suppress(s) => (
                "INSERT INTO suppressions (owner, address, body) VALUES ($1, $2, $3) \
                 ON CONFLICT (owner, address) DO NOTHING",
                vec![
                    Bind::Int(id(s.owner.0)?),
                    Bind::Text(s.address.to_string()),
                    Bind::Text(json(&s)?),
                ],
                None,
            ),
            Change::InsertPending(p) => (
                "INSERT INTO pending (id, code, owner, organizer, state, created_at, body) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                vec![
                    Bind::Text(p.id.as_str().to_owned()),
                    Bind::Text(p.code.to_string()),
                    Bind::Int(id(p.scope.owner.0)?),
                    Bind::Int(id(p.scope.organizer.0)?),
                    Bind::Text(pending_state(p.state).to_owned()),
                    Bind::Int(micros(p.created_at)),
                    Bind::Text(json(&p)?),
                ],
                None,
            ),
            Change::ResolvePending { id: pid, state } => (
                "UPDATE pending SET state = $1 WHERE id = $2 AND state = 'open'",
                vec![
                    Bind::Text(pending_state(state).to_owned()),
                    Bind::Text(pid.as_str().to_owned()),
                ],
                Some("pending change already resolved or missing".to_owned()),
            ),
            Change::PutFanOut(f) => (
                "INSERT INTO fan_outs (id, code, sequence, body) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                vec![
                    Bind::Text(f.id.clone()),
                    Bind::Text(f.code.to_string()),
                    Bind::Int(seq(f.sequence)?),
                    Bind::Text(json(&f)?),
                ],
                None,
            ),
            Change::RemoveFanOut(fid) => (
                "DELETE FROM fan_outs WHERE id = $1",
                vec![Bind::Text(fid)],
                None,
            ),
            Change::Refuse(r) => (
                "INSERT INTO refusals (owner, organizer, code, at, body) VALUES ($1, $2, $3, $4, $5)",
                vec![
                    Bind::Int(id(r.owner.0)?),
                    Bind::OptInt(r.organizer.map(|o| id(o.0)).transpose()?),
                    Bind::OptText(r.code.as_ref().map(ToString::to_string)),
                    Bind::Int(micros(r.at)),
                    Bind::Text(json(&r)?),
                ],
                None,
            ),
            // A new job (an update is `update_list_job`): its id, or its name
            // for the event, taken is a conflict (unique violations).
            Change::PutListJob {
                expected: None,
                job,
            } => (
                "INSERT INTO list_jobs (id, code, owner, organizer, name, version, body) \
                 VALUES ($1, $2, $3, $4, $5, 0, $6)",
                vec![
                    Bind::Text(job.id.as_str().to_owned()),
                    Bind::Text(job.code.to_string()),
                    Bind::Int(id(job.scope.owner.0)?),
                    Bind::Int(id(job.scope.organizer.0)?),
                    Bind::Text(job.name.clone()),
                    Bind::Text(json(&ListJob { version: 0, ..job })?),
                ],
                None,
            ),
            Change::HoldGroup { group, held: true } => (
                "INSERT INTO held_groups (grp) VALUES ($1) ON CONFLICT (grp) DO NOTHING",
                vec![Bind::Text(group)],
                None,
            ),
            Change::HoldGroup { group, held: false } => (
                "DELETE FROM held_groups WHERE grp = $1",
                vec![Bind::Text(group)],
                None,
            ),
            Change::Announce(a) => (
                "INSERT INTO announcements (owner, organizer, at, kind, body) VALUES ($1, $2, $3, $4, $5)",
                vec![
                    Bind::Int(id(a.owner.0)?),
                    Bind::OptInt(a.organizer.map(|o| id(o.0)).transpose()?),
                    Bind::Int(micros(a.at)),
                    Bind::Text(a.announcement_type().as_str().to_owned()),
                    Bind::Text(json(&a)?),
                ],
                None,
            ),
            // Messages leased (a worker sending) or settled are left as they are.
            Change::FailQueuedGroup { group, reason } => (
                "UPDATE deliveries SET state = 'failed', failure = $1, last_error = $1 \
                 WHERE grp = $2 AND state = 'queued'",
                vec![Bind::Text(reason), Bind::Text(group)],
                None,
            ),
            other => {
                return Err(StoreError::Unavailable(format!(
                    "this store does not know the change {other:?}"
                )));
            }
        };
        let sql = self.sql(text);
        let mut q = sqlx::query(sql);
        for b in binds {
            q = b.bind(q);
        }
        let done = q.execute(&mut **tx).await.map_err(db)?;
        if let Some(what) = must_touch
            && done.rows_affected() == 0
        {
            return Err(StoreError::Conflict(what));
        }
        Ok(())
    }

    /// Applies `changes` in order, with the row-per-recipient kinds (a fan-out
    /// batch, a bulk insert, a settlement) gathered into multi-row statements:
    /// a fan-out batch of 500 is three statements, not 1,500.
    ///
    /// Only changes that commute are reordered, so the outcome (committed or
    /// not, and the kind of the error) is the one of applying them one by
    /// one:
    ///
    /// - queued messages touch `deliveries` alone (no foreign keys; the one
    ///   other change writing it, failing a group's queued messages, flushes
    ///   them first like any other): they go last, in their own order, and a
    ///   key queued twice keeps the first (`ON CONFLICT DO NOTHING` row by
    ///   row);
    /// - history rows and updates need their invitation: inserted invitations
    ///   go first, and one inserted after buffered history or an update *of
    ///   that invitation* flushes them before it (so a history row or update
    ///   that came before its invitation still fails); a list page's rows —
    ///   insert, queue, history, one recipient after another — stay one
    ///   statement per table;
    /// - two updates of one invitation never share a statement (the second
    ///   names the version the first wrote): the second flushes the first;
    /// - announcements touch `announcements` alone: they go last, in their
    ///   own order (so they are numbered in it);
    /// - any other change flushes everything before it runs.
    async fn apply_all(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        changes: Vec<Change>,
    ) -> StoreResult<()> {
        let mut held = Held::default();
        for c in changes {
            match c {
                Change::InsertInvitation(inv) => {
                    // Only a buffered update or history row of this very
                    // invitation must not move after its insert (applied
                    // one by one, it fails for want of the row). Others
                    // wait: a list page or a bulk import — insert, queue,
                    // history, row after row — stays a few statements.
                    if held.updated.contains(inv.token()) || held.historied.contains(inv.token()) {
                        self.flush(tx, &mut held).await?;
                    }
                    held.inserts.push(inv);
                }
                Change::UpdateInvitation {
                    expected,
                    invitation,
                } => {
                    if held.updated.contains(invitation.token()) {
                        self.flush(tx, &mut held).await?;
                    }
                    held.updated.insert(invitation.token().clone());
                    held.updates.push((expected, invitation));
                }
                Change::AppendHistory(h) => {
                    held.historied.insert(h.token.clone());
                    held.history.push(h);
                }
                Change::Enqueue(d) => held.enqueue.push(d),
                // Announcements touch no other table: they go last, in order.
                Change::Announce(a) => held.announce.push(a),
                other => {
                    self.flush(tx, &mut held).await?;
                    self.apply(tx, other).await?;
                }
            }
        }
        self.flush(tx, &mut held).await
    }

    /// Writes what [`apply_all`](Self::apply_all) held: inserted invitations,
    /// then updates, history and queued messages, each in its own order. A
    /// single change goes through [`apply`](Self::apply) as it always did.
    async fn flush(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        held: &mut Held,
    ) -> StoreResult<()> {
        held.updated.clear();
        held.historied.clear();
        let inserts = std::mem::take(&mut held.inserts);
        if inserts.len() == 1 {
            self.apply_each(tx, inserts, Change::InsertInvitation)
                .await?;
        } else {
            for chunk in chunks(inserts, 6) {
                let mut binds = Vec::with_capacity(chunk.len() * 6);
                for inv in &chunk {
                    binds.push(Bind::Text(inv.token().to_string()));
                    binds.push(Bind::Text(inv.code().to_string()));
                    binds.push(Bind::Text(inv.recipient().address().to_string()));
                    binds.push(Bind::Int(id(inv.scope().owner.0)?));
                    binds.push(Bind::Int(id(inv.scope().organizer.0)?));
                    binds.push(Bind::Text(json(&at_version(inv.clone(), 0))?));
                }
                let text = format!(
                    "INSERT INTO invitations (token, code, address, owner, organizer, version, body) \
                     VALUES {}",
                    values(self.dialect, "(?, ?, ?, ?, ?, 0, ?)", chunk.len())
                );
                self.execute(tx, &text, chunk.len(), binds).await?;
            }
        }
        let updates = std::mem::take(&mut held.updates);
        if updates.len() == 1 {
            self.apply_each(tx, updates, |(expected, invitation)| {
                Change::UpdateInvitation {
                    expected,
                    invitation,
                }
            })
            .await?;
        } else {
            for chunk in chunks(updates, 6) {
                self.update_invitations(tx, chunk).await?;
            }
        }
        let history = std::mem::take(&mut held.history);
        if history.len() == 1 {
            self.apply_each(tx, history, Change::AppendHistory).await?;
        } else {
            for chunk in chunks(history, 3) {
                let mut binds = Vec::with_capacity(chunk.len() * 3);
                for h in &chunk {
                    binds.push(Bind::Text(h.token.to_string()));
                    binds.push(Bind::Int(micros(h.at)));
                    binds.push(Bind::Text(json(h)?));
                }
                let text = format!(
                    "INSERT INTO history (token, at, body) VALUES {}",
                    values(self.dialect, "(?, ?, ?)", chunk.len())
                );
                self.execute(tx, &text, chunk.len(), binds).await?;
            }
        }
        let enqueue = std::mem::take(&mut held.enqueue);
        if enqueue.len() == 1 {
            self.apply_each(tx, enqueue, Change::Enqueue).await?;
        } else {
            for chunk in chunks(enqueue, 5) {
                let mut binds = Vec::with_capacity(chunk.len() * 5);
                for d in &chunk {
                    binds.push(Bind::Text(d.key.to_string()));
                    binds.push(Bind::Int(id(d.owner.0)?));
                    binds.push(Bind::Int(micros(d.due)));
                    binds.push(Bind::OptText(d.group.clone()));
                    binds.push(Bind::Text(json(d)?));
                }
                let text = format!(
                    "INSERT INTO deliveries (key, owner, state, due, attempts, grp, body) VALUES {} \
                     ON CONFLICT (key) DO NOTHING",
                    values(self.dialect, "(?, ?, 'queued', ?, 0, ?, ?)", chunk.len())
                );
                self.execute(tx, &text, chunk.len(), binds).await?;
            }
        }
        let announce = std::mem::take(&mut held.announce);
        if announce.len() == 1 {
            self.apply_each(tx, announce, Change::Announce).await?;
        } else {
            for chunk in chunks(announce, 5) {
                let mut binds = Vec::with_capacity(chunk.len() * 5);
                for a in &chunk {
                    binds.push(Bind::Int(id(a.owner.0)?));
                    binds.push(Bind::OptInt(a.organizer.map(|o| id(o.0)).transpose()?));
                    binds.push(Bind::Int(micros(a.at)));
                    binds.push(Bind::Text(a.announcement_type().as_str().to_owned()));
                    binds.push(Bind::Text(json(a)?));
                }
                let text = format!(
                    "INSERT INTO announcements (owner, organizer, at, kind, body) VALUES {}",
                    values(self.dialect, "(?, ?, ?, ?, ?)", chunk.len())
                );
                self.execute(tx, &text, chunk.len(), binds).await?;
            }
        }
        Ok(())
    }

    async fn apply_each<T>(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        items: Vec<T>,
        change: impl Fn(T) -> Change,
    ) -> StoreResult<()> {
        for item in items {
            self.apply(tx, change(item)).await?;
        }
        Ok(())
    }

    /// Runs one generated statement of `rows` rows.
    async fn execute(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        text: &str,
        rows: usize,
        binds: Vec<Bind>,
    ) -> StoreResult<()> {
        let mut q = sqlx::query(self.sql(text)).persistent(self.kept(rows));
        for b in binds {
            q = b.bind(q);
        }
        q.execute(&mut **tx).await.map_err(db)?;
        Ok(())
    }

    /// Several invitation updates (distinct tokens) in one statement, each
    /// row only if its stored version is the one read. When fewer rows than
    /// given were written, the first one that was not (its row is not what
    /// this statement writes) is a conflict, reported as
    /// [`apply`](Self::apply) reports it: its statement, run alone, writes
    /// nothing either, since nothing changed that row in between.
    async fn update_invitations(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        chunk: Vec<(u64, Invitation)>,
    ) -> StoreResult<()> {
        let mut binds = Vec::with_capacity(chunk.len() * 6);
        for (expected, inv) in &chunk {
            binds.push(Bind::Text(inv.token().to_string()));
            binds.push(Bind::Int(id(*expected)?));
            binds.push(Bind::Int(id(expected + 1)?));
            binds.push(Bind::Text(json(&at_version(inv.clone(), expected + 1))?));
            binds.push(Bind::Text(inv.code().to_string()));
            binds.push(Bind::Text(inv.recipient().address().to_string()));
        }
        // VALUES columns are column1… in both dialects.
        let text = format!(
            "UPDATE invitations SET version = v.column3, body = v.column4 FROM (VALUES {}) AS v \
             WHERE invitations.token = v.column1 AND invitations.version = v.column2 \
             AND invitations.code = v.column5 AND invitations.address = v.column6",
            values(self.dialect, "(?, ?, ?, ?, ?, ?)", chunk.len())
        );
        let mut q = sqlx::query(self.sql(&text)).persistent(self.kept(chunk.len()));
        for b in binds {
            q = b.bind(q);
        }
        let done = q.execute(&mut **tx).await.map_err(db)?;
        if usize::try_from(done.rows_affected()).ok() == Some(chunk.len()) {
            return Ok(());
        }
        // A conflict: find the row, as the transaction sees it now.
        let text = format!(
            "SELECT token, version, body FROM invitations WHERE token IN ({})",
            values(self.dialect, "?", chunk.len())
        );
        let mut q = sqlx::query(self.sql(&text)).persistent(false);
        for (_, inv) in &chunk {
            q = q.bind(inv.token().to_string());
        }
        let mut stored = std::collections::HashMap::with_capacity(chunk.len());
        for row in q.fetch_all(&mut **tx).await.map_err(unavailable)? {
            let token: String = get(&row, "token", "invitations")?;
            let version: i64 = get(&row, "version", "invitations")?;
            let body: String = get(&row, "body", "invitations")?;
            stored.insert(token, (version, body));
        }
        for (expected, invitation) in chunk {
            let wrote = json(&at_version(invitation.clone(), expected + 1))?;
            let mine = stored
                .get(invitation.token().as_str())
                .is_some_and(|(v, b)| *v == id(expected + 1).unwrap_or(-1) && *b == wrote);
            if !mine {
                self.apply(
                    tx,
                    Change::UpdateInvitation {
                        expected,
                        invitation,
                    },
                )
                .await?;
                break;
            }
        }
        Err(StoreError::Conflict("invitation changed".to_owned()))
    }

    /// A changed list job: written only when the stored version is
    /// `expected` and the job is the same organizer's; it becomes `expected +
    /// 1`. The job's event and name never change: the stored ones are kept
    /// (the body is written again with them when the given job differs).
    async fn update_list_job(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        expected: u64,
        job: ListJob,
    ) -> StoreResult<()> {
        let what = format!("list_jobs/{}", job.id);
        let mut job = ListJob {
            version: expected + 1,
            ..job
        };
        let sql = self.sql(
            "UPDATE list_jobs SET version = $1, body = $2 \
             WHERE id = $3 AND version = $4 AND owner = $5 AND organizer = $6 \
             RETURNING code, name",
        );
        let row = sqlx::query(sql)
            .bind(id(job.version)?)
            .bind(json(&job)?)
            .bind(job.id.as_str().to_owned())
            .bind(id(expected)?)
            .bind(id(job.scope.owner.0)?)
            .bind(id(job.scope.organizer.0)?)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db)?
            .ok_or_else(|| StoreError::Conflict(format!("list job {} changed", job.id)))?;
        let code: String = get(&row, "code", &what)?;
        let name: String = get(&row, "name", &what)?;
        if code == job.code.as_str() && name == job.name {
            return Ok(());
        }
        job.code = EventCode::parse(&code).map_err(|e| StoreError::Corrupt {
            row: what.clone(),
            detail: format!("column code: {e}"),
        })?;
        job.name = name;
        sqlx::query(self.sql("UPDATE list_jobs SET body = $1 WHERE id = $2"))
            .bind(json(&job)?)
            .bind(job.id.as_str().to_owned())
            .execute(&mut **tx)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// A list job's rows, in statements of many rows. A row number already
    /// recorded for its job (or given twice) is a unique violation: a
    /// conflict, and the commit writes nothing.
    async fn insert_list_rows(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        rows: Vec<ListRow>,
    ) -> StoreResult<()> {
        for chunk in chunks(rows, 3) {
            let mut binds = Vec::with_capacity(chunk.len() * 3);
            for r in &chunk {
                binds.push(Bind::Text(r.job.as_str().to_owned()));
                binds.push(Bind::Int(id(r.row)?));
                binds.push(Bind::Text(json(r)?));
            }
            let text = format!(
                "INSERT INTO list_rows (job, row, body) VALUES {}",
                values(self.dialect, "(?, ?, ?)", chunk.len())
            );
            self.execute(tx, &text, chunk.len(), binds)
                .await
                .map_err(|e| match e {
                    StoreError::Conflict(m) => {
                        StoreError::Conflict(format!("a list row is already recorded: {m}"))
                    }
                    other => other,
                })?;
        }
        Ok(())
    }

    /// Sets a queued message whose row cannot be read aside as failed, with
    /// why, in the claiming transaction: the queue goes on without it, and
    /// the row keeps its body for an operator (`state = 'failed'`, `failure`
    /// naming the row and the problem). Logged with the row's sequence
    /// number, never its key (which holds an invitation token).
    async fn set_aside(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        seq: i64,
        error: &StoreError,
    ) -> StoreResult<()> {
        let why = format!("set aside, unreadable: {error}");
        tracing::error!(row = seq, error = %error, "queued message unreadable; set aside as failed");
        let sql = self.sql(
            "UPDATE deliveries SET state = 'failed', failure = $1, last_error = $1, lease_until = NULL WHERE seq = $2",
        );
        sqlx::query(sql)
            .bind(why)
            .bind(seq)
            .execute(&mut **tx)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// [`Store::settle_all`] in one transaction: every item whose lease is
    /// current is settled, its changes applied with the others' (gathered
    /// into multi-row statements); an item whose lease is not current gets
    /// [`StoreError::NotLeased`] and writes nothing. A conflict in any
    /// item's changes is returned as it is (the caller rolls back).
    async fn settle_together(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        items: &[Settle],
    ) -> StoreResult<Vec<StoreResult<()>>> {
        let lock = match self.dialect {
            Dialect::Postgres => " FOR UPDATE",
            Dialect::Sqlite => "",
        };
        // Each key as its column holds it, made once.
        let keys: Vec<String> = items.iter().map(|i| i.lease.key.to_string()).collect();
        // Which claims are current, as this transaction sees (and locks)
        // them. Sent messages are marked sent by the same statement that
        // checks their claims (the common case: one statement per time sent;
        // a batch settled together was sent at one `now`); the other
        // outcomes are checked first, and written one by one after the
        // changes.
        let mut current = vec![false; items.len()];
        let mut sent: std::collections::BTreeMap<i64, Vec<usize>> = Default::default();
        let mut others = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match &item.settlement {
                Settlement::Sent(at) => sent.entry(micros(*at)).or_default().push(i),
                _ => others.push(i),
            }
        }
        for (at, indices) in &sent {
            for chunk in indices.chunks(ROWS_PER_STATEMENT) {
                let text = format!(
                    "UPDATE deliveries SET state = 'sent', sent_at = v.column3, lease_until = NULL, \
                     last_error = NULL FROM (VALUES {}) AS v \
                     WHERE deliveries.key = v.column1 AND deliveries.attempts = v.column2 \
                     AND deliveries.state = 'leased'",
                    values(self.dialect, "(?, ?, ?)", chunk.len())
                );
                let mut q = sqlx::query(self.sql(&text)).persistent(self.kept(chunk.len()));
                for &i in chunk {
                    q = q
                        .bind(keys[i].clone())
                        .bind(i64::from(items[i].lease.attempt))
                        .bind(*at);
                }
                // A row is written once at most, so as many rows written as
                // given means every claim was current (the common case). Fewer:
                // some claim ran out, and which one is for the caller to find,
                // message by message (`settle_all` does, on a conflict).
                let done = q.execute(&mut **tx).await.map_err(db)?;
                if usize::try_from(done.rows_affected()).ok() != Some(chunk.len()) {
                    return Err(StoreError::Conflict(
                        "a claim in the batch is no longer current".to_owned(),
                    ));
                }
                for &i in chunk {
                    current[i] = true;
                }
            }
        }
        for chunk in others.chunks(ROWS_PER_STATEMENT) {
            let text = format!(
                "SELECT key, attempts FROM deliveries WHERE state = 'leased' AND key IN ({}){lock}",
                values(self.dialect, "?", chunk.len())
            );
            let mut q = sqlx::query(self.sql(&text)).persistent(self.kept(chunk.len()));
            for &i in chunk {
                q = q.bind(keys[i].clone());
            }
            let mut leased = std::collections::HashMap::with_capacity(chunk.len());
            for row in q.fetch_all(&mut **tx).await.map_err(unavailable)? {
                let key: String = get(&row, "key", "deliveries")?;
                let attempts: i64 = get(&row, "attempts", "deliveries")?;
                leased.insert(key, attempts);
            }
            for &i in chunk {
                current[i] = leased.get(&keys[i]) == Some(&i64::from(items[i].lease.attempt));
            }
        }
        let mut results = Vec::with_capacity(items.len());
        let mut changes = Vec::new();
        for (item, &now_current) in items.iter().zip(&current) {
            if now_current {
                changes.extend(item.changes.iter().cloned());
                results.push(Ok(()));
            } else {
                results.push(Err(StoreError::NotLeased {
                    key: item.lease.key.clone(),
                }));
            }
        }
        self.apply_all(tx, changes).await?;
        for i in others {
            if !current[i] {
                continue;
            }
            let (text, binds) = settlement_statement(items[i].settlement.clone())?;
            let mut q = sqlx::query(self.sql(text));
            for b in binds {
                q = b.bind(q);
            }
            q.bind(keys[i].clone())
                .execute(&mut **tx)
                .await
                .map_err(db)?;
        }
        Ok(results)
    }

    /// [`Store::claim`] on SQLite, whose one writer is this transaction
    /// (`BEGIN IMMEDIATE`): the due messages are read as one row (a JSON
    /// array), then leased by sequence number. `None`, with nothing written,
    /// when a message does not read back (the row-by-row claim sets it
    /// aside).
    async fn claim_in_one_row(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Option<Vec<Delivery>>> {
        #[derive(serde::Deserialize)]
        struct Due {
            seq: i64,
            due: i64,
            attempts: i64,
            last_error: Option<String>,
            grp: Option<String>,
            body: Delivery,
        }
        let mut claimed: Vec<(i64, Delivery)> = Vec::new();
        let leased_until = from_micros("deliveries", micros(lease_until))?;
        // What the row-by-row claim picks, in its order.
        for (pick, counted) in CLAIM_PICKS {
            let left = limit - i64::try_from(claimed.len()).unwrap_or(0);
            if left <= 0 {
                break;
            }
            let text = format!(
                "SELECT '[' || group_concat('{{\"seq\":' || seq || ',\"due\":' || due \
                 || ',\"attempts\":' || attempts || ',\"last_error\":' || json_quote(last_error) \
                 || ',\"grp\":' || json_quote(grp) || ',\"body\":' || body || '}}', ',') || ']' \
                 AS due FROM (SELECT seq, due, attempts, last_error, grp, body {pick})"
            );
            let row = sqlx::query(self.sql(&text))
                .bind(micros(now))
                .bind(left)
                .fetch_one(&mut **tx)
                .await
                .map_err(unavailable)?;
            let Some(text) = get::<Option<String>>(&row, "due", "deliveries")? else {
                continue;
            };
            let Ok(rows) = serde_json::from_str::<Vec<Due>>(&text) else {
                return Ok(None);
            };
            let mut batch = Vec::with_capacity(rows.len());
            for r in rows {
                let Ok(due) = from_micros("deliveries", r.due) else {
                    return Ok(None);
                };
                let mut d = r.body;
                d.attempts = u32::try_from(r.attempts.saturating_add(1)).unwrap_or(u32::MAX);
                d.due = due;
                d.last_error = r.last_error;
                d.group = r.grp;
                d.state = QueueState::Leased(leased_until);
                batch.push((r.seq, d));
            }
            if batch.is_empty() {
                continue;
            }
            let text = format!(
                "UPDATE deliveries SET state = 'leased', lease_until = ?, attempts = attempts + 1{counted} \
                 WHERE seq IN ({})",
                values(self.dialect, "?", batch.len())
            );
            let mut q = sqlx::query(self.sql(&text))
                .persistent(self.kept(batch.len()))
                .bind(micros(lease_until));
            for (seq, _) in &batch {
                q = q.bind(*seq);
            }
            let done = q.execute(&mut **tx).await.map_err(unavailable)?;
            if usize::try_from(done.rows_affected()).ok() != Some(batch.len()) {
                // Not possible under SQLite's one writer; said, not assumed
                // (the dropped transaction rolls back).
                return Err(StoreError::Unavailable(
                    "a claim leased fewer messages than it read".to_owned(),
                ));
            }
            batch.sort_by_key(|(seq, _)| *seq);
            claimed.extend(batch);
        }
        Ok(Some(claimed.into_iter().map(|(_, d)| d).collect()))
    }

    fn delivery_from(&self, row: &AnyRow) -> StoreResult<Delivery> {
        // Named by `seq`: a key holds an invitation token, a bearer secret.
        // The name is only made for an error.
        let seq = get::<i64>(row, "seq", "deliveries")?;
        self.delivery_named(row).map_err(|e| match e {
            StoreError::Corrupt { detail, .. } => StoreError::Corrupt {
                row: format!("deliveries/{seq}"),
                detail,
            },
            other => other,
        })
    }

    /// [`delivery_from`](Self::delivery_from) but for the name of the row
    /// in its errors.
    fn delivery_named(&self, row: &AnyRow) -> StoreResult<Delivery> {
        let what = "deliveries";
        let body: String = get(row, "body", what)?;
        let mut d: Delivery = parse(what, &body)?;
        d.attempts = u32::try_from(get::<i64>(row, "attempts", what)?).unwrap_or(u32::MAX);
        d.due = from_micros(what, get(row, "due", what)?)?;
        d.last_error = get(row, "last_error", what)?;
        // The column claims skip held groups by; the body has the same.
        d.group = get(row, "grp", what)?;
        let state: String = get(row, "state", what)?;
        d.state = match state.as_str() {
            "queued" => QueueState::Queued,
            "leased" => QueueState::Leased(from_micros(
                what,
                get::<Option<i64>>(row, "lease_until", what)?.unwrap_or_default(),
            )?),
            "sent" => QueueState::Sent(from_micros(
                what,
                get::<Option<i64>>(row, "sent_at", what)?.unwrap_or_default(),
            )?),
            "failed" => {
                QueueState::Failed(get::<Option<String>>(row, "failure", what)?.unwrap_or_default())
            }
            other => {
                return Err(StoreError::Corrupt {
                    row: what.to_owned(),
                    detail: format!("unknown queue state {other:?}"),
                });
            }
        };
        Ok(d)
    }
}

/// A pending change's state as its column holds it: its keyword.
fn pending_state(s: PendingState) -> &'static str {
    s.keyword()
}

fn pending_state_from(row: &str, s: &str) -> StoreResult<PendingState> {
    PendingState::from_keyword(s).ok_or_else(|| StoreError::Corrupt {
        row: row.to_owned(),
        detail: format!("unknown pending state {s:?}"),
    })
}

/// Changes [`SqlStore::apply_all`] holds back to write many rows at once.
#[derive(Default)]
struct Held {
    inserts: Vec<Invitation>,
    updates: Vec<(u64, Invitation)>,
    /// The tokens in `updates`.
    updated: std::collections::HashSet<InvitationToken>,
    history: Vec<HistoryEntry>,
    /// The tokens in `history`.
    historied: std::collections::HashSet<InvitationToken>,
    enqueue: Vec<Delivery>,
    announce: Vec<Announcement>,
}

/// Rows per generated statement: well under SQLite's 32,766 and
/// PostgreSQL's 65,535 parameters, and few distinct statement texts.
const ROWS_PER_STATEMENT: usize = 500;

/// `items` in statements of at most [`ROWS_PER_STATEMENT`] rows (and 30,000
/// parameters of `per_row` each).
fn chunks<T>(items: Vec<T>, per_row: usize) -> Vec<Vec<T>> {
    let size = ROWS_PER_STATEMENT.min(30_000 / per_row.max(1)).max(1);
    let mut out = Vec::with_capacity(items.len().div_ceil(size));
    let mut it = items.into_iter();
    loop {
        let chunk: Vec<T> = it.by_ref().take(size).collect();
        if chunk.is_empty() {
            return out;
        }
        out.push(chunk);
    }
}

/// Whether a generated statement of `rows` rows is kept prepared: only full
/// ones, so that the statement caches (sqlx's, and PostgreSQL's prepared
/// statements) hold a few texts rather than one per batch size seen.
fn cached(rows: usize) -> bool {
    rows == ROWS_PER_STATEMENT
}

/// What a claim takes, in order, with what its lease update adds: expired
/// leases first (a worker died holding them; a held group's too: a lease is
/// not a queued message), counted as reclaims, then due messages in queue
/// order but for those of held groups. `$1` is now, `$2` the number left
/// to claim; each is the part of a `SELECT` after its columns.
const CLAIM_PICKS: [(&str, &str); 2] = [
    (
        "FROM deliveries WHERE state = 'leased' AND lease_until <= $1 ORDER BY lease_until LIMIT $2",
        ", reclaims = reclaims + 1",
    ),
    (
        "FROM deliveries WHERE state = 'queued' AND due <= $1 \
         AND (grp IS NULL OR grp NOT IN (SELECT h.grp FROM held_groups h)) ORDER BY seq LIMIT $2",
        "",
    ),
];

/// Key lists of up to this many keys are kept prepared on SQLite (see
/// [`SqlStore::kept`]).
const SQLITE_KEPT_KEYS: usize = 256;

impl SqlStore {
    /// Whether a generated statement of `rows` rows (or keys) is kept
    /// prepared. Full ones always ([`cached`]). On SQLite also short ones: a
    /// worker settles and claims batches of one size over and over, and
    /// preparing a statement of 64 keys costs SQLite more than running it
    /// (SQLite plans without statistics, so a kept plan is the plan it would
    /// make anyway). Key-list look-ups on PostgreSQL are planned for the
    /// values given, so they are not kept there.
    fn kept(&self, rows: usize) -> bool {
        cached(rows) || (self.dialect == Dialect::Sqlite && rows <= SQLITE_KEPT_KEYS)
    }
}

/// `n` parameter marks for parameters `first`, `first + 1`… : numbered on
/// PostgreSQL, anonymous `?` on SQLite (bound in the order they appear).
fn marks(dialect: Dialect, first: usize, n: usize) -> String {
    let mut out = String::with_capacity(n * 6);
    for i in 0..n {
        if i > 0 {
            out.push_str(", ");
        }
        match dialect {
            Dialect::Sqlite => out.push('?'),
            Dialect::Postgres => {
                out.push('$');
                out.push_str(&(first + i).to_string());
            }
        }
    }
    out
}

/// `n` copies of `row` (a constant with `?` for each parameter), separated by
/// commas. On PostgreSQL its `?`s are numbered `$1`, `$2`… in order; SQLite
/// keeps the anonymous `?`, bound in the same order: numbered ones are looked
/// up by name, one by one, and a statement of thousands of them spends most
/// of its time there.
fn values(dialect: Dialect, row: &str, n: usize) -> String {
    let mut out = String::with_capacity(n * (row.len() + 16));
    let mut k = 0;
    for i in 0..n {
        if i > 0 {
            out.push_str(", ");
        }
        match dialect {
            Dialect::Sqlite => out.push_str(row),
            Dialect::Postgres => {
                for c in row.chars() {
                    if c == '?' {
                        k += 1;
                        out.push('$');
                        out.push_str(&k.to_string());
                    } else {
                        out.push(c);
                    }
                }
            }
        }
    }
    out
}

/// A bound parameter (the `Any` driver's types).
enum Bind {
    Int(i64),
    OptInt(Option<i64>),
    Text(String),
    OptText(Option<String>),
}

impl Bind {
    fn bind<'q>(
        self,
        q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        match self {
            Bind::Int(v) => q.bind(v),
            Bind::OptInt(v) => q.bind(v),
            Bind::Text(v) => q.bind(v),
            Bind::OptText(v) => q.bind(v),
        }
    }
}

impl Store for SqlStore {
    async fn put_owner(&self, owner: DomainOwner) -> StoreResult<()> {
        let mut tx = self.write().await?;
        let oid = id(owner.id.0)?;
        let upsert = self.sql(
            "INSERT INTO owners (id, body) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET body = excluded.body",
        );
        sqlx::query(upsert)
            .bind(oid)
            .bind(json(&owner)?)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(self.sql("DELETE FROM owner_mailboxes WHERE owner = $1"))
            .bind(oid)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let mut boxes = vec![&owner.ingest, &owner.reply, &owner.bounce];
        boxes.sort();
        boxes.dedup();
        for a in boxes {
            sqlx::query(self.sql("INSERT INTO owner_mailboxes (address, owner) VALUES ($1, $2)"))
                .bind(a.to_string())
                .bind(oid)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(unavailable)
    }

    async fn put_organizer(&self, organizer: OrganizerAccount) -> StoreResult<()> {
        let sql = self.sql(
            "INSERT INTO organizers (owner, id, body) VALUES ($1, $2, $3) \
             ON CONFLICT (owner, id) DO UPDATE SET body = excluded.body",
        );
        sqlx::query(sql)
            .bind(id(organizer.scope.owner.0)?)
            .bind(id(organizer.scope.organizer.0)?)
            .bind(json(&organizer)?)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn owner(&self, oid: OwnerId) -> StoreResult<Option<DomainOwner>> {
        self.one(
            &format!("owners/{}", oid.0),
            "SELECT body FROM owners WHERE id = $1",
            vec![Bind::Int(id(oid.0)?)],
        )
        .await
    }

    async fn owner_by_mailbox(&self, address: &EmailAddress) -> StoreResult<Option<DomainOwner>> {
        self.one(
            "owners",
            "SELECT o.body, CAST(o.id AS TEXT) AS row_key \
             FROM owner_mailboxes m JOIN owners o ON o.id = m.owner WHERE m.address = $1",
            vec![Bind::Text(address.to_string())],
        )
        .await
    }

    async fn organizers(&self, owner: OwnerId) -> StoreResult<Vec<OrganizerAccount>> {
        self.many(
            "organizers",
            "SELECT body, CAST(owner AS TEXT) || '/' || CAST(id AS TEXT) AS row_key \
             FROM organizers WHERE owner = $1 ORDER BY id",
            vec![Bind::Int(id(owner.0)?)],
        )
        .await
    }

    async fn organizer(&self, scope: Scope) -> StoreResult<Option<OrganizerAccount>> {
        self.one(
            &format!("organizers/{}/{}", scope.owner.0, scope.organizer.0),
            "SELECT body FROM organizers WHERE owner = $1 AND id = $2",
            vec![
                Bind::Int(id(scope.owner.0)?),
                Bind::Int(id(scope.organizer.0)?),
            ],
        )
        .await
    }

    async fn event(&self, owner: OwnerId, code: &EventCode) -> StoreResult<Option<StoredEvent>> {
        self.one(
            &format!("events/{code}"),
            "SELECT body FROM events WHERE code = $1 AND owner = $2",
            vec![Bind::Text(code.to_string()), Bind::Int(id(owner.0)?)],
        )
        .await
    }

    async fn event_by_uid(&self, scope: Scope, uid: &str) -> StoreResult<Option<StoredEvent>> {
        self.one(
            "events",
            "SELECT body, code AS row_key FROM events \
             WHERE owner = $1 AND organizer = $2 AND organizer_uid = $3",
            vec![
                Bind::Int(id(scope.owner.0)?),
                Bind::Int(id(scope.organizer.0)?),
                Bind::Text(uid.to_owned()),
            ],
        )
        .await
    }

    async fn events(
        &self,
        scope: Scope,
        after: Option<&EventCode>,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let owner = Bind::Int(id(scope.owner.0)?);
        let organizer = Bind::Int(id(scope.organizer.0)?);
        match after {
            None => {
                self.many(
                    "events",
                    "SELECT body, code AS row_key FROM events WHERE owner = $1 AND organizer = $2 \
                     ORDER BY created_at, code LIMIT $3",
                    vec![owner, organizer, Bind::Int(limit)],
                )
                .await
            }
            Some(code) => {
                self.many(
                    "events",
                    "SELECT e.body, e.code AS row_key FROM events e, events a WHERE a.code = $3 \
                     AND e.owner = $1 AND e.organizer = $2 \
                     AND (e.created_at > a.created_at OR (e.created_at = a.created_at AND e.code > a.code)) \
                     ORDER BY e.created_at, e.code LIMIT $4",
                    vec![owner, organizer, Bind::Text(code.to_string()), Bind::Int(limit)],
                )
                .await
            }
        }
    }

    async fn revision(&self, code: &EventCode, sequence: Sequence) -> StoreResult<Option<Event>> {
        self.one(
            &format!("revisions/{code}/{sequence}"),
            "SELECT body FROM revisions WHERE code = $1 AND sequence = $2",
            vec![Bind::Text(code.to_string()), Bind::Int(seq(sequence)?)],
        )
        .await
    }

    async fn invitation(&self, token: &InvitationToken) -> StoreResult<Option<Invitation>> {
        self.one(
            "invitations",
            "SELECT body, code || '/' || address AS row_key FROM invitations WHERE token = $1",
            vec![Bind::Text(token.to_string())],
        )
        .await
    }

    async fn invitation_for(
        &self,
        code: &EventCode,
        address: &EmailAddress,
    ) -> StoreResult<Option<Invitation>> {
        self.one(
            "invitations",
            "SELECT body, code || '/' || address AS row_key FROM invitations \
             WHERE code = $1 AND address = $2",
            vec![
                Bind::Text(code.to_string()),
                Bind::Text(address.to_string()),
            ],
        )
        .await
    }

    async fn invitations(
        &self,
        code: &EventCode,
        after: Option<&InvitationToken>,
        limit: usize,
    ) -> StoreResult<Vec<Invitation>> {
        let limit = Bind::Int(i64::try_from(limit).unwrap_or(i64::MAX));
        match after {
            None => {
                self.many(
                    "invitations",
                    "SELECT body, code || '/' || address AS row_key FROM invitations \
                     WHERE code = $1 ORDER BY token LIMIT $2",
                    vec![Bind::Text(code.to_string()), limit],
                )
                .await
            }
            Some(t) => {
                self.many(
                    "invitations",
                    "SELECT body, code || '/' || address AS row_key FROM invitations \
                     WHERE code = $1 AND token > $2 ORDER BY token LIMIT $3",
                    vec![
                        Bind::Text(code.to_string()),
                        Bind::Text(t.to_string()),
                        limit,
                    ],
                )
                .await
            }
        }
    }

    async fn history(&self, token: &InvitationToken) -> StoreResult<Vec<HistoryEntry>> {
        self.many(
            "history",
            "SELECT body, CAST(id AS TEXT) AS row_key FROM history WHERE token = $1 ORDER BY id",
            vec![Bind::Text(token.to_string())],
        )
        .await
    }

    async fn suppression(
        &self,
        owner: OwnerId,
        address: &EmailAddress,
    ) -> StoreResult<Option<Suppression>> {
        self.one(
            &format!("suppressions/{}/{address}", owner.0),
            "SELECT body FROM suppressions WHERE owner = $1 AND address = $2",
            vec![Bind::Int(id(owner.0)?), Bind::Text(address.to_string())],
        )
        .await
    }

    async fn suppressions_among(
        &self,
        owner: OwnerId,
        addresses: &[EmailAddress],
    ) -> StoreResult<Vec<Suppression>> {
        let mut out = Vec::new();
        // One query per chunk (parameter limits are far above 500).
        for chunk in addresses.chunks(500) {
            let marks: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
            let text = format!(
                "SELECT address, body FROM suppressions WHERE owner = $1 AND address IN ({})",
                marks.join(", ")
            );
            let sql = self.sql(&text);
            let mut q = sqlx::query(sql)
                .persistent(self.kept(chunk.len()))
                .bind(id(owner.0)?);
            for a in chunk {
                q = q.bind(a.to_string());
            }
            for row in q.fetch_all(&self.readers).await.map_err(unavailable)? {
                let a: String = get(&row, "address", "suppressions")?;
                let what = format!("suppressions/{}/{a}", owner.0);
                let body: String = get(&row, "body", &what)?;
                out.push(parse(&what, &body)?);
            }
        }
        Ok(out)
    }

    async fn pending(
        &self,
        scope: Scope,
        pid: &PendingChangeId,
    ) -> StoreResult<Option<PendingChange>> {
        let sql = self.sql(
            "SELECT id, state, body FROM pending WHERE id = $1 AND owner = $2 AND organizer = $3",
        );
        let row = sqlx::query(sql)
            .bind(pid.as_str().to_owned())
            .bind(id(scope.owner.0)?)
            .bind(id(scope.organizer.0)?)
            .fetch_optional(&self.readers)
            .await
            .map_err(unavailable)?;
        row.map(|r| pending_from(&r)).transpose()
    }

    async fn list_job(&self, scope: Scope, job: &ListJobId) -> StoreResult<Option<ListJob>> {
        self.one(
            &format!("list_jobs/{job}"),
            "SELECT body FROM list_jobs WHERE id = $1 AND owner = $2 AND organizer = $3",
            vec![
                Bind::Text(job.as_str().to_owned()),
                Bind::Int(id(scope.owner.0)?),
                Bind::Int(id(scope.organizer.0)?),
            ],
        )
        .await
    }

    async fn list_job_named(&self, code: &EventCode, name: &str) -> StoreResult<Option<ListJob>> {
        self.one(
            "list_jobs",
            "SELECT body, id AS row_key FROM list_jobs WHERE code = $1 AND name = $2",
            vec![Bind::Text(code.to_string()), Bind::Text(name.to_owned())],
        )
        .await
    }

    async fn list_rows(
        &self,
        job: &ListJobId,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<ListRow>> {
        // No row number above i64::MAX is stored: none follows it.
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        self.many(
            "list_rows",
            "SELECT body, job || '/' || CAST(row AS TEXT) AS row_key FROM list_rows \
             WHERE job = $1 AND row > $2 ORDER BY row LIMIT $3",
            vec![
                Bind::Text(job.as_str().to_owned()),
                Bind::Int(after),
                Bind::Int(i64::try_from(limit).unwrap_or(i64::MAX)),
            ],
        )
        .await
    }

    async fn open_pending(&self, code: &EventCode) -> StoreResult<Vec<PendingChange>> {
        let sql = self.sql(
            "SELECT id, state, body FROM pending WHERE code = $1 AND state = 'open' ORDER BY created_at, id",
        );
        let rows = sqlx::query(sql)
            .bind(code.to_string())
            .fetch_all(&self.readers)
            .await
            .map_err(unavailable)?;
        rows.iter().map(pending_from).collect()
    }

    async fn fan_outs(&self, limit: usize) -> StoreResult<Vec<FanOut>> {
        self.many(
            "fan_outs",
            "SELECT body, id AS row_key FROM fan_outs ORDER BY code, sequence LIMIT $1",
            vec![Bind::Int(i64::try_from(limit).unwrap_or(i64::MAX))],
        )
        .await
    }

    async fn refusals(
        &self,
        owner: OwnerId,
        organizer: Option<Scope>,
    ) -> StoreResult<Vec<RefusalRecord>> {
        match organizer {
            None => {
                self.many(
                    "refusals",
                    "SELECT body, CAST(id AS TEXT) AS row_key FROM refusals WHERE owner = $1 ORDER BY id",
                    vec![Bind::Int(id(owner.0)?)],
                )
                .await
            }
            Some(s) => {
                self.many(
                    "refusals",
                    "SELECT body, CAST(id AS TEXT) AS row_key FROM refusals \
                     WHERE owner = $1 AND organizer = $2 ORDER BY id",
                    vec![Bind::Int(id(owner.0)?), Bind::Int(id(s.organizer.0)?)],
                )
                .await
            }
        }
    }

    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        let lock = match self.dialect {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut tx = self.write().await?;
        if self.dialect == Dialect::Sqlite {
            // Read as one row, then leased by sequence number: SQLite's
            // connection thread hands rows over one at a time. A batch that
            // does not read back whole takes the row-by-row path below (in
            // the same transaction: nothing is written yet).
            if let Some(claimed) = self
                .claim_in_one_row(&mut tx, now, lease_until, limit)
                .await?
            {
                tx.commit().await.map_err(unavailable)?;
                return Ok(claimed);
            }
        }
        let mut claimed = Vec::new();
        // Rounds until `limit` messages are claimed or nothing more is due:
        // a row that cannot be read is set aside as failed (below), and the
        // next round claims in its place, so one bad row never stops the
        // queue nor makes it look empty.
        loop {
            let mut set_aside = 0usize;
            let mut fetched = 0usize;
            // Expired leases first (a worker died holding them; a held
            // group's too: a lease is not a queued message), then due
            // messages in queue order, but for those of held groups. The
            // queued index walks `seq`; an ungrouped message passes the
            // group test on its NULL, a grouped one with one look-up in the
            // set of held groups. Held messages ahead of the first claimable
            // ones are read past on every claim, as messages not yet due are.
            // A claim of an expired lease is counted (`reclaims`): the worker
            // that held it may have sent it before it stopped.
            for (pick, counted) in CLAIM_PICKS {
                let left = limit - i64::try_from(claimed.len()).unwrap_or(0);
                if left <= 0 {
                    break;
                }
                let text = format!(
                    "UPDATE deliveries SET state = 'leased', lease_until = $3, attempts = attempts + 1{counted} \
                     WHERE seq IN (SELECT seq {pick}{lock}) \
                     RETURNING seq, key, state, due, lease_until, attempts, sent_at, failure, last_error, grp, body"
                );
                let sql = self.sql(&text);
                let rows = sqlx::query(sql)
                    .bind(micros(now))
                    .bind(left)
                    .bind(micros(lease_until))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                fetched += rows.len();
                let mut batch = Vec::with_capacity(rows.len());
                for row in &rows {
                    // The sequence number is the row's identity; without it
                    // nothing can be set aside, so the claim stops (and rolls
                    // back: PostgreSQL would keep the rows locked until the
                    // dropped transaction is cleaned up).
                    let order: i64 = match get(row, "seq", "deliveries") {
                        Ok(order) => order,
                        Err(e) => {
                            tx.rollback().await.map_err(unavailable)?;
                            return Err(e);
                        }
                    };
                    match self.delivery_from(row) {
                        Ok(d) => batch.push((order, d)),
                        Err(e) => {
                            self.set_aside(&mut tx, order, &e).await?;
                            set_aside += 1;
                        }
                    }
                }
                batch.sort_by_key(|(s, _)| *s);
                claimed.extend(batch.into_iter().map(|(_, d)| d));
            }
            let full = i64::try_from(claimed.len()).unwrap_or(i64::MAX) >= limit;
            if set_aside == 0 || full || fetched == 0 {
                break;
            }
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(claimed)
    }

    async fn settle(
        &self,
        lease: &Lease,
        settlement: Settlement,
        changes: Vec<Change>,
    ) -> StoreResult<()> {
        let key = &lease.key;
        let lock = match self.dialect {
            Dialect::Postgres => " FOR UPDATE",
            Dialect::Sqlite => "",
        };
        let mut tx = self.write().await?;
        let text = format!("SELECT seq, state, attempts FROM deliveries WHERE key = $1{lock}");
        let sql = self.sql(&text);
        let row = sqlx::query(sql)
            .bind(key.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| StoreError::Conflict(format!("no delivery {key}")))?;
        let what = format!("deliveries/{}", get::<i64>(&row, "seq", "deliveries")?);
        let state: String = get(&row, "state", &what)?;
        // Only the current claim settles: every claim counts an attempt, so
        // a worker whose lease ran out (and the message was claimed again)
        // holds an older attempt number.
        let attempt: i64 = get(&row, "attempts", &what)?;
        if state != "leased" || attempt != i64::from(lease.attempt) {
            // Release the row lock now, not when the pool gets round to
            // rolling back a dropped transaction: until then, claims (which
            // skip locked rows) would not see this delivery.
            tx.rollback().await.map_err(unavailable)?;
            return Err(StoreError::NotLeased { key: key.clone() });
        }
        if let Err(e) = self.apply_all(&mut tx, changes).await {
            // Roll back now, not when the pool gets round to a dropped
            // transaction: until then PostgreSQL keeps the rows this commit
            // touched locked, and claims (SKIP LOCKED) would pass them by.
            tx.rollback().await.map_err(unavailable)?;
            return Err(e);
        }
        let (text, binds) = settlement_statement(settlement)?;
        let sql = self.sql(text);
        let mut q = sqlx::query(sql);
        for b in binds {
            q = b.bind(q);
        }
        q.bind(key.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(unavailable)
    }

    async fn delivery(&self, key: &DeliveryKey) -> StoreResult<Option<Delivery>> {
        let sql = self.sql(
            "SELECT seq, key, state, due, lease_until, attempts, sent_at, failure, last_error, grp, \
             body FROM deliveries WHERE key = $1",
        );
        let row = sqlx::query(sql)
            .bind(key.to_string())
            .fetch_optional(&self.readers)
            .await
            .map_err(unavailable)?;
        row.map(|r| self.delivery_from(&r)).transpose()
    }

    async fn settle_all(&self, items: Vec<Settle>) -> StoreResult<Vec<StoreResult<()>>> {
        if items.len() < 2 {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(
                    self.settle(&item.lease, item.settlement, item.changes)
                        .await,
                );
            }
            return Ok(out);
        }
        let mut tx = self.write().await?;
        match self.settle_together(&mut tx, &items).await {
            Ok(results) => {
                tx.commit().await.map_err(db)?;
                Ok(results)
            }
            // One item's changes conflict (its invitation moved since it was
            // read), or the claim of a sent message ran out: nothing of the
            // batch is written; each item is settled on its own, so the
            // others are recorded and that one gets its conflict (the
            // pipeline reads again and decides again) or `NotLeased`.
            Err(StoreError::Conflict(_)) => {
                tx.rollback().await.map_err(unavailable)?;
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(
                        self.settle(&item.lease, item.settlement, item.changes)
                            .await,
                    );
                }
                Ok(out)
            }
            Err(e) => {
                // Roll back now: PostgreSQL would keep the rows locked until
                // the pool cleans up a dropped transaction.
                tx.rollback().await.map_err(unavailable)?;
                Err(e)
            }
        }
    }

    async fn invitations_among(&self, tokens: &[InvitationToken]) -> StoreResult<Vec<Invitation>> {
        let mut out = Vec::with_capacity(tokens.len());
        for chunk in tokens.chunks(500) {
            if self.dialect == Dialect::Sqlite {
                // One row holding every body as a JSON array: SQLite's
                // connection thread hands rows over one at a time, and
                // each may wake the task that waits for it. A body that
                // does not parse is found and named row by row (below).
                let text = format!(
                    "SELECT '[' || group_concat(body, ',') || ']' AS bodies FROM invitations \
                     WHERE token IN ({})",
                    values(self.dialect, "?", chunk.len())
                );
                let mut q = sqlx::query(self.sql(&text)).persistent(self.kept(chunk.len()));
                for t in chunk {
                    q = q.bind(t.to_string());
                }
                let row = q.fetch_one(&self.readers).await.map_err(unavailable)?;
                let bodies: Option<String> = get(&row, "bodies", "invitations")?;
                match bodies.map(|b| serde_json::from_str::<Vec<Invitation>>(&b)) {
                    None => continue,
                    Some(Ok(found)) => {
                        out.extend(found);
                        continue;
                    }
                    Some(Err(_)) => {}
                }
            }
            let text = format!(
                "SELECT body, code || '/' || address AS row_key FROM invitations WHERE token IN ({})",
                values(self.dialect, "?", chunk.len())
            );
            let binds = chunk.iter().map(|t| Bind::Text(t.to_string())).collect();
            out.extend(
                self.many_with::<Invitation>("invitations", &text, binds, self.kept(chunk.len()))
                    .await?,
            );
        }
        Ok(out)
    }

    async fn invitations_to(
        &self,
        code: &EventCode,
        addresses: &[EmailAddress],
    ) -> StoreResult<Vec<Invitation>> {
        let mut out = Vec::new();
        for chunk in addresses.chunks(500) {
            // A join with the addresses, not `address IN (…)`: both
            // databases then look each one up in the unique (code, address)
            // index. With `IN`, SQLite (no statistics) walks every
            // invitation of the event by its primary key, and PostgreSQL
            // may too on a table filled since it was last analysed: a list
            // page cost seconds at a million invitations, and the feed grew
            // quadratic.
            let text = format!(
                "SELECT i.body AS body, i.code || '/' || i.address AS row_key \
                 FROM (VALUES {}) AS v JOIN invitations i \
                 ON i.code = {} AND i.address = v.column1",
                values(self.dialect, "(?)", chunk.len()),
                marks(self.dialect, chunk.len() + 1, 1)
            );
            let mut binds: Vec<Bind> = chunk.iter().map(|a| Bind::Text(a.to_string())).collect();
            binds.push(Bind::Text(code.to_string()));
            out.extend(
                self.many_with::<Invitation>("invitations", &text, binds, self.kept(chunk.len()))
                    .await?,
            );
        }
        Ok(out)
    }

    async fn queue_counts(&self) -> StoreResult<QueueCounts> {
        let sql = self.sql(
            "SELECT state, COUNT(*) AS n, CAST(COALESCE(SUM(reclaims), 0) AS BIGINT) AS r \
             FROM deliveries GROUP BY state",
        );
        let rows = sqlx::query(sql)
            .fetch_all(&self.readers)
            .await
            .map_err(unavailable)?;
        let mut counts = QueueCounts::default();
        for row in &rows {
            let state: String = get(row, "state", "deliveries")?;
            let n = u64::try_from(get::<i64>(row, "n", "deliveries")?).unwrap_or(0);
            counts.reclaimed += u64::try_from(get::<i64>(row, "r", "deliveries")?).unwrap_or(0);
            match state.as_str() {
                "queued" => counts.queued += n,
                "leased" => counts.leased += n,
                "sent" => counts.sent += n,
                "failed" => counts.failed += n,
                other => {
                    return Err(StoreError::Corrupt {
                        row: "deliveries".into(),
                        detail: format!("unknown queue state {other:?}"),
                    });
                }
            }
        }
        let sql = self.sql(
            "SELECT COUNT(*) AS n FROM deliveries WHERE state = 'queued' \
             AND grp IS NOT NULL AND grp IN (SELECT h.grp FROM held_groups h)",
        );
        let row = sqlx::query(sql)
            .fetch_one(&self.readers)
            .await
            .map_err(unavailable)?;
        counts.held = u64::try_from(get::<i64>(&row, "n", "deliveries")?).unwrap_or(0);
        Ok(counts)
    }

    async fn announcements(
        &self,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<(u64, Announcement)>> {
        const TEXT: &str =
            "SELECT seq, body FROM announcements WHERE seq > $1 ORDER BY seq LIMIT $2";
        let mut out = Vec::with_capacity(limit.min(1000));
        let mut cursor = id(after)?;
        // A row this build cannot read (written by a newer calinvite
        // sharing the database, or damaged) is passed over and left for one
        // that can: it never holds back the rows after it.
        while out.len() < limit {
            let want = limit - out.len();
            let rows = sqlx::query(self.sql(TEXT))
                .bind(cursor)
                .bind(i64::try_from(want).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
            for row in &rows {
                let n: i64 = get(row, "seq", "announcements")?;
                cursor = n;
                let what = format!("announcements/{n}");
                let body: String = get(row, "body", &what)?;
                match parse(&what, &body) {
                    Ok(a) => out.push((u64::try_from(n).unwrap_or(0), a)),
                    Err(e) => {
                        tracing::debug!(row = n, error = %e, "an announcement this build cannot read is passed over");
                    }
                }
            }
            if rows.len() < want {
                break;
            }
        }
        Ok(out)
    }

    async fn forget_announcements(&self, numbers: &[u64]) -> StoreResult<()> {
        for chunk in numbers.chunks(500) {
            let text = format!(
                "DELETE FROM announcements WHERE seq IN ({})",
                values(self.dialect, "?", chunk.len())
            );
            let mut q = sqlx::query(self.sql(&text)).persistent(false);
            for n in chunk {
                q = q.bind(id(*n)?);
            }
            q.execute(&self.pool).await.map_err(unavailable)?;
        }
        Ok(())
    }

    async fn commit(&self, changes: Vec<Change>) -> StoreResult<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut tx = self.write().await?;
        if let Err(e) = self.apply_all(&mut tx, changes).await {
            // Roll back now, not when the pool gets round to a dropped
            // transaction: until then PostgreSQL keeps the rows this commit
            // touched locked, and claims (SKIP LOCKED) would pass them by.
            tx.rollback().await.map_err(unavailable)?;
            return Err(e);
        }
        tx.commit().await.map_err(db)
    }
}

/// The statement recording a settlement on a delivery row (the key is
/// bound last).
fn settlement_statement(settlement: Settlement) -> StoreResult<(&'static str, Vec<Bind>)> {
    Ok(match settlement {
        Settlement::Sent(at) => (
            "UPDATE deliveries SET state = 'sent', sent_at = $1, lease_until = NULL, last_error = NULL WHERE key = $2",
            vec![Bind::Int(micros(at))],
        ),
        Settlement::Retry { due, error } => (
            "UPDATE deliveries SET state = 'queued', due = $1, lease_until = NULL, last_error = $2 WHERE key = $3",
            vec![Bind::Int(micros(due)), Bind::Text(error)],
        ),
        Settlement::Failed(reason) => (
            "UPDATE deliveries SET state = 'failed', failure = $1, last_error = $1, lease_until = NULL WHERE key = $2",
            vec![Bind::Text(reason)],
        ),
        other => {
            return Err(StoreError::Unavailable(format!(
                "this store does not know the settlement {other:?}"
            )));
        }
    })
}

fn pending_from(row: &AnyRow) -> StoreResult<PendingChange> {
    let what = format!("pending/{}", get::<String>(row, "id", "pending")?);
    let body: String = get(row, "body", &what)?;
    let mut p: PendingChange = parse(&what, &body)?;
    let state: String = get(row, "state", &what)?;
    p.state = pending_state_from(&what, &state)?;
    Ok(p)
}

/// The invitation as it is written at `version`: the version is kept in the
/// row and in the body alike.
fn at_version(invitation: Invitation, version: u64) -> Invitation {
    let mut parts = invitation.into_parts();
    parts.version = version;
    parts.into()
}

/// The event as it is written at `version`.
fn at_version_event(event: StoredEvent, version: u64) -> StoredEvent {
    let mut parts = event.into_parts();
    parts.version = version;
    parts.into()
}
