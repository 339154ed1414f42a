//! The server's own tables, in the same database as calinvite's store.
//!
//! The core's [`Store`](calinvite_core::lifecycle::Store) keeps tenants,
//! events, invitations and the queue; it has no place for what only a
//! server needs: API keys, `Idempotency-Key` answers, which tenant ids are
//! taken, the uploaded lists being fed, and webhook endpoints with their
//! messages and attempts (their queries are in the webhooks module). Those
//! live here, in tables named `invite_server_…` next to the store's,
//! through a small pool of the server's own: one database to back up.
//!
//! One query reads a table of the store directly: the suppression list,
//! which the `Store` trait looks up by address but cannot list
//! ([`ServerDb::suppressions`]). It reads the columns of
//! `calinvite-store`'s schema (version 5) and parses each row's body with
//! the core's own type, as the store does.

mod held;

use std::str::FromStr as _;
use std::sync::{Arc, OnceLock};

pub(crate) use held::{HeldRecord, LinkRecord, result_name};

use calinvite_core::lifecycle::{OrganizerId, OwnerId, Scope, Suppression};
use calinvite_store::Dialect;
use chrono::{DateTime, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row as _};

/// The server's tables could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("database: {0}")]
pub struct DbError(pub(crate) String);

pub(crate) type DbResult<T> = Result<T, DbError>;

pub(crate) fn db(e: impl std::fmt::Display) -> DbError {
    DbError(e.to_string())
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

/// Microseconds since the epoch, as stored.
pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn from_micros(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(v).unwrap_or_default()
}

pub(crate) fn id(v: u64) -> DbResult<i64> {
    i64::try_from(v).map_err(|_| DbError(format!("id {v} does not fit")))
}

pub(crate) fn uid(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// The first migration: the server's tables; `{blob}` is the dialect's
/// byte-string type.
const FIRST: &[&str] = &[
    "CREATE TABLE invite_server_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE invite_server_keys (id TEXT PRIMARY KEY, hash TEXT NOT NULL, owner BIGINT NOT NULL, \
     organizer BIGINT, label TEXT NOT NULL, created_at BIGINT NOT NULL, revoked_at BIGINT)",
    "CREATE INDEX invite_server_keys_owner ON invite_server_keys (owner, id)",
    "CREATE TABLE invite_server_owners (id BIGINT PRIMARY KEY, created_at BIGINT NOT NULL)",
    "CREATE TABLE invite_server_organizers (owner BIGINT NOT NULL, id BIGINT NOT NULL, \
     created_at BIGINT NOT NULL, PRIMARY KEY (owner, id))",
    "CREATE TABLE invite_server_idempotency (owner BIGINT NOT NULL, organizer BIGINT NOT NULL, \
     idem_key TEXT NOT NULL, fingerprint TEXT NOT NULL, status BIGINT, body TEXT, \
     created_at BIGINT NOT NULL, PRIMARY KEY (owner, organizer, idem_key))",
    "CREATE INDEX invite_server_idempotency_age ON invite_server_idempotency (created_at)",
    "CREATE TABLE invite_server_lists (id TEXT PRIMARY KEY, owner BIGINT NOT NULL, \
     organizer BIGINT NOT NULL, code TEXT NOT NULL, name TEXT NOT NULL, digest TEXT NOT NULL, \
     csv {blob} NOT NULL, fed BIGINT NOT NULL, error TEXT, created_at BIGINT NOT NULL)",
    "CREATE INDEX invite_server_lists_event ON invite_server_lists (code, created_at, id)",
];

/// Webhook endpoints (`organizer` NULL: the whole domain owner; `types`
/// NULL: every type), one message per endpoint and announcement, and each
/// message's attempts (the endpoint's delivery log). `{serial}` is an
/// auto-numbered primary key.
const WEBHOOKS: &[&str] = &[
    "CREATE TABLE invite_server_webhooks (id TEXT PRIMARY KEY, owner BIGINT NOT NULL, \
     organizer BIGINT, url TEXT NOT NULL, types TEXT, description TEXT NOT NULL, \
     secret TEXT NOT NULL, previous_secret TEXT, previous_until BIGINT, enabled BIGINT NOT NULL, \
     disabled_reason TEXT, failing_since BIGINT, failures BIGINT NOT NULL, \
     created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)",
    "CREATE INDEX invite_server_webhooks_owner ON invite_server_webhooks (owner, id)",
    "CREATE TABLE invite_server_webhook_messages (id {serial}, endpoint TEXT NOT NULL, \
     announcement BIGINT NOT NULL, msg_id TEXT NOT NULL, kind TEXT NOT NULL, \
     payload TEXT NOT NULL, state TEXT NOT NULL, attempts BIGINT NOT NULL, due BIGINT NOT NULL, \
     lease_until BIGINT, last_status BIGINT, last_error TEXT, created_at BIGINT NOT NULL, \
     done_at BIGINT, UNIQUE (endpoint, announcement))",
    "CREATE INDEX invite_server_webhook_messages_due ON invite_server_webhook_messages (state, due)",
    "CREATE INDEX invite_server_webhook_messages_log ON invite_server_webhook_messages (endpoint, id)",
    "CREATE INDEX invite_server_webhook_messages_done ON invite_server_webhook_messages (done_at)",
    "CREATE TABLE invite_server_webhook_attempts (message BIGINT NOT NULL, attempt BIGINT NOT NULL, \
     at BIGINT NOT NULL, status BIGINT, error TEXT, duration_ms BIGINT NOT NULL, \
     PRIMARY KEY (message, attempt))",
];

/// The migrations, in order.
const MIGRATIONS: &[&[&str]] = &[
    FIRST,
    held::MIGRATION,
    WEBHOOKS,
    crate::web::MIGRATION,
    crate::landing::MIGRATION,
    crate::public::MIGRATION,
    crate::console::MIGRATION,
];

/// An API key as stored (never its secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KeyRecord {
    pub(crate) id: String,
    pub(crate) owner: OwnerId,
    pub(crate) organizer: Option<OrganizerId>,
    pub(crate) label: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) revoked_at: Option<DateTime<Utc>>,
}

/// What an `Idempotency-Key` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Idem {
    /// First use: the request runs, and its answer is kept.
    New,
    /// Used before for the same request: its answer.
    Replay { status: u16, body: String },
    /// Used before for the same request, which has not finished.
    InProgress,
    /// Used before for another request.
    Mismatch,
}

/// An uploaded list, as the server keeps it beside the core's job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ListRecord {
    pub(crate) id: String,
    pub(crate) scope: Scope,
    pub(crate) code: String,
    pub(crate) name: String,
    pub(crate) digest: String,
    pub(crate) fed: bool,
    pub(crate) error: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
}

/// The server's pool on the store's database.
#[derive(Clone, Debug)]
pub struct ServerDb {
    pool: AnyPool,
    dialect: Dialect,
    /// The task that records spent form tokens, started on first use.
    spender: Arc<OnceLock<tokio::sync::mpsc::Sender<Spend>>>,
    /// The console's event figures, kept while the event's answers stand.
    pub(crate) figures: crate::console::FiguresCache,
}

/// One form token to record as spent, and where to say whether it was new.
#[derive(Debug)]
struct Spend {
    nonce: String,
    expires: i64,
    now: i64,
    answer: tokio::sync::oneshot::Sender<DbResult<bool>>,
}

/// How many spends one transaction records at most.
const SPEND_BATCH: usize = 256;

impl ServerDb {
    /// Opens the database at `url` (the store's), in PostgreSQL schema
    /// `schema` when given, and brings the server's tables up to date.
    pub async fn open(url: &str, schema: Option<&str>, max_connections: u32) -> DbResult<Self> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else {
            Dialect::Postgres
        };
        if let Some(s) = schema
            && !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(DbError(format!(
                "schema name {s:?} is not a plain identifier"
            )));
        }
        let connect = AnyConnectOptions::from_str(url).map_err(db)?;
        let schema = schema.map(str::to_owned);
        let pool = AnyPoolOptions::new()
            .max_connections(match dialect {
                Dialect::Sqlite => 4,
                _ => max_connections.clamp(1, 8),
            })
            .min_connections(0)
            .idle_timeout(None)
            .max_lifetime(None)
            .after_connect(move |conn, _| {
                let schema = schema.clone();
                Box::pin(async move {
                    match dialect {
                        Dialect::Sqlite => {
                            // The store keeps the file in WAL mode; as its own
                            // connections do, a commit waits for the log's
                            // write, not for a sync of it.
                            for p in [
                                "PRAGMA busy_timeout = 10000",
                                "PRAGMA foreign_keys = ON",
                                "PRAGMA synchronous = NORMAL",
                            ] {
                                sqlx::query(p).execute(&mut *conn).await?;
                            }
                        }
                        _ => {
                            if let Some(s) = schema {
                                // `s` is checked above to be a plain identifier.
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
            .map_err(db)?;
        let this = ServerDb {
            pool,
            dialect,
            spender: Arc::default(),
            figures: Default::default(),
        };
        this.migrate().await?;
        Ok(this)
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Whether the database is SQLite (else PostgreSQL): for the few
    /// queries whose SQL differs, such as reading JSON.
    pub(crate) fn is_sqlite(&self) -> bool {
        matches!(self.dialect, Dialect::Sqlite)
    }

    /// The pool (for the webhook tables' queries).
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The SQL for this dialect: `$n` parameters become `?n` on SQLite,
    /// `{blob}` the byte-string type and `{serial}` an auto-numbered
    /// primary key. Every text passed is a constant of this crate.
    pub(crate) fn sql(&self, text: &str) -> sqlx::AssertSqlSafe<String> {
        sqlx::AssertSqlSafe(match self.dialect {
            Dialect::Sqlite => text
                .replace('$', "?")
                .replace("{blob}", "BLOB")
                .replace("{serial}", "INTEGER PRIMARY KEY AUTOINCREMENT"),
            _ => text
                .replace("{blob}", "BYTEA")
                .replace("{serial}", "BIGSERIAL PRIMARY KEY"),
        })
    }

    async fn migrate(&self) -> DbResult<()> {
        sqlx::query("CREATE TABLE IF NOT EXISTS invite_server_schema (version BIGINT NOT NULL)")
            .execute(&self.pool)
            .await
            .map_err(db)?;
        let row = sqlx::query("SELECT MAX(version) AS v FROM invite_server_schema")
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        let found: i64 = row.try_get::<Option<i64>, _>("v").map_err(db)?.unwrap_or(0);
        let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
        if found > known {
            return Err(DbError(format!(
                "the server's tables are at version {found}, newer than this build ({known})"
            )));
        }
        for (n, statements) in MIGRATIONS
            .iter()
            .enumerate()
            .skip(usize::try_from(found).unwrap_or(0))
        {
            let mut tx = self.pool.begin().await.map_err(db)?;
            for s in *statements {
                sqlx::query(self.sql(s))
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
            }
            sqlx::query(self.sql("INSERT INTO invite_server_schema (version) VALUES ($1)"))
                .bind(i64::try_from(n).unwrap_or(0) + 1)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            tx.commit().await.map_err(db)?;
        }
        Ok(())
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> DbResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    // ------------------------------------------------------------- forms

    /// Records a public form's nonce as spent (kept until `expires`, in
    /// seconds since the epoch); `false` when it was spent already.
    ///
    /// Spends are written by one task, many to a transaction: fifty
    /// visitors submitting at once make one write, not fifty that queue
    /// for SQLite's single writer behind the store's. Now and then (about
    /// one batch in a thousand, by a nonce's first letters) the batch also
    /// forgets the nonces expired before `now`.
    pub(crate) async fn spend_form(&self, nonce: &str, expires: i64, now: i64) -> DbResult<bool> {
        let spender = self.spender.get_or_init(|| {
            let (tx, rx) = tokio::sync::mpsc::channel(4 * SPEND_BATCH);
            tokio::spawn(self.clone().record_spends(rx));
            tx
        });
        let (answer, answered) = tokio::sync::oneshot::channel();
        let spend = Spend {
            nonce: nonce.to_owned(),
            expires,
            now,
            answer,
        };
        spender
            .send(spend)
            .await
            .map_err(|_| DbError("the spent-form writer stopped".to_owned()))?;
        answered
            .await
            .map_err(|_| DbError("the spent-form writer stopped".to_owned()))?
    }

    /// The spent-form writer: takes what is waiting (up to
    /// [`SPEND_BATCH`]), records it in one transaction, answers each. It
    /// ends when the channel closes: when every clone of this `ServerDb`
    /// is gone.
    async fn record_spends(self, mut rx: tokio::sync::mpsc::Receiver<Spend>) {
        // The task's own clone must not keep the channel open.
        let this = ServerDb {
            spender: Arc::default(),
            ..self
        };
        let mut batch = Vec::with_capacity(SPEND_BATCH);
        while rx.recv_many(&mut batch, SPEND_BATCH).await > 0 {
            match this.spend_batch(&batch).await {
                Ok(fresh) => {
                    for (spend, fresh) in batch.drain(..).zip(fresh) {
                        let _ = spend.answer.send(Ok(fresh));
                    }
                }
                Err(e) => {
                    for spend in batch.drain(..) {
                        let _ = spend.answer.send(Err(DbError(e.0.clone())));
                    }
                }
            }
        }
    }

    /// Records `batch` in one transaction: for each, whether it was new.
    async fn spend_batch(&self, batch: &[Spend]) -> DbResult<Vec<bool>> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        if let Some(s) = batch.iter().find(|s| {
            s.nonce.starts_with('A') && s.nonce.as_bytes().get(1).is_some_and(|b| *b < b'E')
        }) {
            sqlx::query(self.sql("DELETE FROM invite_server_spent_forms WHERE expires_at < $1"))
                .bind(s.now)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        let mut fresh = Vec::with_capacity(batch.len());
        for s in batch {
            let r = sqlx::query(self.sql(
                "INSERT INTO invite_server_spent_forms (nonce, expires_at) VALUES ($1, $2) \
                 ON CONFLICT (nonce) DO NOTHING",
            ))
            .bind(s.nonce.clone())
            .bind(s.expires)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            fresh.push(r.rows_affected() == 1);
        }
        tx.commit().await.map_err(db)?;
        Ok(fresh)
    }

    // ------------------------------------------------------------- meta

    /// A value the server noted (the demo's event code, say).
    pub(crate) async fn meta(&self, name: &str) -> DbResult<Option<String>> {
        let row = sqlx::query(self.sql("SELECT value FROM invite_server_meta WHERE name = $1"))
            .bind(name.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|r| r.try_get::<String, _>("value").map_err(db))
            .transpose()
    }

    /// Notes `value` under `name` unless something is noted there already;
    /// whether this call noted it.
    pub(crate) async fn note(&self, name: &str, value: &str) -> DbResult<bool> {
        let r =
            sqlx::query(self.sql("INSERT INTO invite_server_meta (name, value) VALUES ($1, $2)"))
                .bind(name.to_owned())
                .bind(value.to_owned())
                .execute(&self.pool)
                .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(db(e)),
        }
    }

    // ---------------------------------------------------------- tenant ids

    /// Takes domain owner id `owner` for the server; false when taken.
    pub(crate) async fn claim_owner(&self, owner: OwnerId, now: DateTime<Utc>) -> DbResult<bool> {
        let r = sqlx::query(
            self.sql("INSERT INTO invite_server_owners (id, created_at) VALUES ($1, $2)"),
        )
        .bind(id(owner.0)?)
        .bind(micros(now))
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(db(e)),
        }
    }

    /// The highest domain owner id taken (0 when none).
    pub(crate) async fn max_owner(&self) -> DbResult<u64> {
        let row = sqlx::query("SELECT MAX(id) AS m FROM invite_server_owners")
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        Ok(uid(row
            .try_get::<Option<i64>, _>("m")
            .map_err(db)?
            .unwrap_or(0)))
    }

    /// Every domain owner id taken, in order.
    pub(crate) async fn owners(&self) -> DbResult<Vec<OwnerId>> {
        let rows = sqlx::query("SELECT id FROM invite_server_owners ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| Ok(OwnerId(uid(r.try_get::<i64, _>("id").map_err(db)?))))
            .collect()
    }

    /// Takes organizer id `scope` for the server; false when taken.
    pub(crate) async fn claim_organizer(&self, scope: Scope, now: DateTime<Utc>) -> DbResult<bool> {
        let r = sqlx::query(self.sql(
            "INSERT INTO invite_server_organizers (owner, id, created_at) VALUES ($1, $2, $3)",
        ))
        .bind(id(scope.owner.0)?)
        .bind(id(scope.organizer.0)?)
        .bind(micros(now))
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(db(e)),
        }
    }

    /// The highest organizer id taken under `owner` (0 when none).
    pub(crate) async fn max_organizer(&self, owner: OwnerId) -> DbResult<u64> {
        let row = sqlx::query(
            self.sql("SELECT MAX(id) AS m FROM invite_server_organizers WHERE owner = $1"),
        )
        .bind(id(owner.0)?)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        Ok(uid(row
            .try_get::<Option<i64>, _>("m")
            .map_err(db)?
            .unwrap_or(0)))
    }

    // ---------------------------------------------------------------- keys

    /// Stores a new key (its id and digest, never the secret).
    pub(crate) async fn insert_key(&self, key: &KeyRecord, hash: &str) -> DbResult<()> {
        sqlx::query(self.sql(
            "INSERT INTO invite_server_keys (id, hash, owner, organizer, label, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL)",
        ))
        .bind(key.id.clone())
        .bind(hash.to_owned())
        .bind(id(key.owner.0)?)
        .bind(key.organizer.map(|o| id(o.0)).transpose()?)
        .bind(key.label.clone())
        .bind(micros(key.created_at))
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    fn key_record(row: &AnyRow) -> DbResult<KeyRecord> {
        Ok(KeyRecord {
            id: row.try_get("id").map_err(db)?,
            owner: OwnerId(uid(row.try_get("owner").map_err(db)?)),
            organizer: row
                .try_get::<Option<i64>, _>("organizer")
                .map_err(db)?
                .map(|o| OrganizerId(uid(o))),
            label: row.try_get("label").map_err(db)?,
            created_at: from_micros(row.try_get("created_at").map_err(db)?),
            revoked_at: row
                .try_get::<Option<i64>, _>("revoked_at")
                .map_err(db)?
                .map(from_micros),
        })
    }

    /// A key by its id, with its digest.
    pub(crate) async fn key(&self, key_id: &str) -> DbResult<Option<(KeyRecord, String)>> {
        let row = sqlx::query(self.sql(
            "SELECT id, hash, owner, organizer, label, created_at, revoked_at \
             FROM invite_server_keys WHERE id = $1",
        ))
        .bind(key_id.to_owned())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| Ok((Self::key_record(&r)?, r.try_get("hash").map_err(db)?)))
            .transpose()
    }

    /// The owner's keys (or one organizer's), in id order.
    pub(crate) async fn keys(
        &self,
        owner: OwnerId,
        organizer: Option<OrganizerId>,
    ) -> DbResult<Vec<KeyRecord>> {
        let rows = sqlx::query(self.sql(
            "SELECT id, owner, organizer, label, created_at, revoked_at FROM invite_server_keys \
             WHERE owner = $1 AND ($2 < 0 OR organizer = $2) ORDER BY id",
        ))
        .bind(id(owner.0)?)
        .bind(match organizer {
            Some(o) => id(o.0)?,
            None => -1,
        })
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(Self::key_record).collect()
    }

    /// Revokes a key of the owner's; false when there is none (or it was
    /// revoked before).
    pub(crate) async fn revoke_key(
        &self,
        key_id: &str,
        owner: OwnerId,
        now: DateTime<Utc>,
    ) -> DbResult<bool> {
        let r = sqlx::query(self.sql(
            "UPDATE invite_server_keys SET revoked_at = $1 \
             WHERE id = $2 AND owner = $3 AND revoked_at IS NULL",
        ))
        .bind(micros(now))
        .bind(key_id.to_owned())
        .bind(id(owner.0)?)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(r.rows_affected() > 0)
    }

    // -------------------------------------------------------- idempotency

    /// Looks up (or takes) `key` for the caller: a fresh key is taken for
    /// this request ([`Idem::New`]); a key taken by a request that never
    /// finished (a crash) is taken again after `stale_after`.
    pub(crate) async fn idem_begin(
        &self,
        scope: (OwnerId, u64),
        key: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
        stale_after: chrono::TimeDelta,
    ) -> DbResult<Idem> {
        for _ in 0..3 {
            let inserted = sqlx::query(self.sql(
                "INSERT INTO invite_server_idempotency \
                 (owner, organizer, idem_key, fingerprint, status, body, created_at) \
                 VALUES ($1, $2, $3, $4, NULL, NULL, $5)",
            ))
            .bind(id(scope.0.0)?)
            .bind(id(scope.1)?)
            .bind(key.to_owned())
            .bind(fingerprint.to_owned())
            .bind(micros(now))
            .execute(&self.pool)
            .await;
            match inserted {
                Ok(_) => return Ok(Idem::New),
                Err(e) if is_unique_violation(&e) => {}
                Err(e) => return Err(db(e)),
            }
            let row = sqlx::query(self.sql(
                "SELECT fingerprint, status, body, created_at FROM invite_server_idempotency \
                 WHERE owner = $1 AND organizer = $2 AND idem_key = $3",
            ))
            .bind(id(scope.0.0)?)
            .bind(id(scope.1)?)
            .bind(key.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
            let Some(row) = row else { continue };
            let stored: String = row.try_get("fingerprint").map_err(db)?;
            if stored != fingerprint {
                return Ok(Idem::Mismatch);
            }
            let status: Option<i64> = row.try_get("status").map_err(db)?;
            if let Some(status) = status {
                return Ok(Idem::Replay {
                    status: u16::try_from(status).unwrap_or(500),
                    body: row
                        .try_get::<Option<String>, _>("body")
                        .map_err(db)?
                        .unwrap_or_default(),
                });
            }
            let since = from_micros(row.try_get("created_at").map_err(db)?);
            if now - since < stale_after {
                return Ok(Idem::InProgress);
            }
            // Taken by a request that never finished: take it over.
            sqlx::query(self.sql(
                "DELETE FROM invite_server_idempotency \
                 WHERE owner = $1 AND organizer = $2 AND idem_key = $3 AND status IS NULL",
            ))
            .bind(id(scope.0.0)?)
            .bind(id(scope.1)?)
            .bind(key.to_owned())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        }
        Ok(Idem::InProgress)
    }

    /// Keeps the answer to the request that took `key`.
    pub(crate) async fn idem_finish(
        &self,
        scope: (OwnerId, u64),
        key: &str,
        status: u16,
        body: &str,
    ) -> DbResult<()> {
        sqlx::query(self.sql(
            "UPDATE invite_server_idempotency SET status = $1, body = $2 \
             WHERE owner = $3 AND organizer = $4 AND idem_key = $5",
        ))
        .bind(i64::from(status))
        .bind(body.to_owned())
        .bind(id(scope.0.0)?)
        .bind(id(scope.1)?)
        .bind(key.to_owned())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Lets `key` go (the request failed in a way worth retrying).
    pub(crate) async fn idem_release(&self, scope: (OwnerId, u64), key: &str) -> DbResult<()> {
        sqlx::query(self.sql(
            "DELETE FROM invite_server_idempotency \
             WHERE owner = $1 AND organizer = $2 AND idem_key = $3 AND status IS NULL",
        ))
        .bind(id(scope.0.0)?)
        .bind(id(scope.1)?)
        .bind(key.to_owned())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Forgets answers older than `before`.
    pub(crate) async fn idem_expire(&self, before: DateTime<Utc>) -> DbResult<u64> {
        let r =
            sqlx::query(self.sql("DELETE FROM invite_server_idempotency WHERE created_at < $1"))
                .bind(micros(before))
                .execute(&self.pool)
                .await
                .map_err(db)?;
        Ok(r.rows_affected())
    }

    // --------------------------------------------------------------- lists

    fn list_record(row: &AnyRow) -> DbResult<ListRecord> {
        Ok(ListRecord {
            id: row.try_get("id").map_err(db)?,
            scope: Scope::new(
                OwnerId(uid(row.try_get("owner").map_err(db)?)),
                OrganizerId(uid(row.try_get("organizer").map_err(db)?)),
            ),
            code: row.try_get("code").map_err(db)?,
            name: row.try_get("name").map_err(db)?,
            digest: row.try_get("digest").map_err(db)?,
            fed: row.try_get::<i64, _>("fed").map_err(db)? != 0,
            error: row.try_get("error").map_err(db)?,
            created_at: from_micros(row.try_get("created_at").map_err(db)?),
        })
    }

    /// Keeps an uploaded list for its job; false when the job has one.
    pub(crate) async fn insert_list(&self, list: &ListRecord, csv: &[u8]) -> DbResult<bool> {
        let r = sqlx::query(self.sql(
            "INSERT INTO invite_server_lists \
             (id, owner, organizer, code, name, digest, csv, fed, error, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0, NULL, $8)",
        ))
        .bind(list.id.clone())
        .bind(id(list.scope.owner.0)?)
        .bind(id(list.scope.organizer.0)?)
        .bind(list.code.clone())
        .bind(list.name.clone())
        .bind(list.digest.clone())
        .bind(csv.to_vec())
        .bind(micros(list.created_at))
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(db(e)),
        }
    }

    const LIST_COLUMNS: &str = "id, owner, organizer, code, name, digest, fed, error, created_at";

    /// An uploaded list.
    pub(crate) async fn list(&self, list_id: &str) -> DbResult<Option<ListRecord>> {
        let row = sqlx::query(self.sql(&format!(
            "SELECT {} FROM invite_server_lists WHERE id = $1",
            Self::LIST_COLUMNS
        )))
        .bind(list_id.to_owned())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.as_ref().map(Self::list_record).transpose()
    }

    /// The CSV of an uploaded list.
    pub(crate) async fn list_csv(&self, list_id: &str) -> DbResult<Option<Vec<u8>>> {
        let row = sqlx::query(self.sql("SELECT csv FROM invite_server_lists WHERE id = $1"))
            .bind(list_id.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|r| r.try_get::<Vec<u8>, _>("csv").map_err(db))
            .transpose()
    }

    /// An event's lists, oldest first.
    pub(crate) async fn lists_of(&self, code: &str) -> DbResult<Vec<ListRecord>> {
        let rows = sqlx::query(self.sql(&format!(
            "SELECT {} FROM invite_server_lists WHERE code = $1 ORDER BY created_at, id",
            Self::LIST_COLUMNS
        )))
        .bind(code.to_owned())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(Self::list_record).collect()
    }

    /// Lists not fed to the end yet (to take up at start).
    pub(crate) async fn unfed_lists(&self) -> DbResult<Vec<ListRecord>> {
        let rows = sqlx::query(self.sql(&format!(
            "SELECT {} FROM invite_server_lists WHERE fed = 0 ORDER BY created_at, id",
            Self::LIST_COLUMNS
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(Self::list_record).collect()
    }

    /// Marks a list fed to its end (with what stopped it, if it could not be
    /// read).
    pub(crate) async fn list_fed(&self, list_id: &str, error: Option<&str>) -> DbResult<()> {
        sqlx::query(self.sql("UPDATE invite_server_lists SET fed = 1, error = $1 WHERE id = $2"))
            .bind(error.map(str::to_owned))
            .bind(list_id.to_owned())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    // -------------------------------------------------------- suppressions

    /// A page of the owner's suppression list in address order, after
    /// `after`. Reads `calinvite-store`'s `suppressions` table (see the
    /// module docs).
    pub(crate) async fn suppressions(
        &self,
        owner: OwnerId,
        after: Option<&str>,
        limit: usize,
    ) -> DbResult<Vec<Suppression>> {
        let rows = sqlx::query(self.sql(
            "SELECT body FROM suppressions WHERE owner = $1 AND address > $2 \
             ORDER BY address LIMIT $3",
        ))
        .bind(id(owner.0)?)
        .bind(after.unwrap_or("").to_owned())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                let body: String = r.try_get("body").map_err(db)?;
                serde_json::from_str(&body).map_err(|e| DbError(format!("a suppression row: {e}")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn open() -> (ServerDb, std::path::PathBuf) {
        let mut n = [0u8; 8];
        getrandom::fill(&mut n).unwrap();
        let name: String = n.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!("calinvite-db-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.join("db.sqlite").display());
        (ServerDb::open(&url, None, 0).await.unwrap(), dir)
    }

    /// Spends from many tasks at once, batched by the writer: each nonce
    /// is new exactly once, whichever batch it lands in, and a batch that
    /// holds the same nonce twice answers `true` once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_form_token_is_spent_exactly_once_under_concurrency() {
        let (db, dir) = open().await;
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..400u32 {
            let db = db.clone();
            // 100 distinct nonces, each spent four times from four tasks.
            let nonce = format!("n{:03}", i % 100);
            tasks
                .spawn(async move { (nonce.clone(), db.spend_form(&nonce, 10, 0).await.unwrap()) });
        }
        let mut fresh = std::collections::BTreeMap::<String, u32>::new();
        while let Some(r) = tasks.join_next().await {
            let (nonce, new) = r.unwrap();
            *fresh.entry(nonce).or_default() += u32::from(new);
        }
        assert_eq!(fresh.len(), 100);
        assert!(fresh.values().all(|n| *n == 1), "{fresh:?}");
        // Spent ones stay spent; expired ones are forgotten by a later batch
        // whose nonce starts with "A" and a letter before "E".
        assert!(!db.spend_form("n007", 10, 0).await.unwrap());
        assert!(db.spend_form("AAfresh", 100, 50).await.unwrap());
        assert!(db.spend_form("n007", 10, 0).await.unwrap());
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
