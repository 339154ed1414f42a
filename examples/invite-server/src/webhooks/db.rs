//! The webhook tables, beside the server's others ([`ServerDb`]):
//! endpoints, one message per endpoint and announcement, and each
//! message's attempts (the endpoint's delivery log).
//!
//! A message is `pending` (waiting, or leased by a dispatcher until
//! `lease_until`), `sent` or `failed`; each claim counts an attempt, and
//! only the claim that counted the current attempt settles it.

use calinvite_core::lifecycle::{OrganizerId, OwnerId};
use chrono::{DateTime, Utc};
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::db::{DbError, DbResult, ServerDb, db, from_micros, id, micros, uid};

/// A registered endpoint, as stored. Its `Debug` leaves the secrets out.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct EndpointRecord {
    pub(crate) id: String,
    pub(crate) owner: OwnerId,
    /// `None`: every organizer of the owner, and the owner's own.
    pub(crate) organizer: Option<OrganizerId>,
    pub(crate) url: String,
    /// `None`: every type.
    pub(crate) types: Option<Vec<String>>,
    pub(crate) description: String,
    pub(crate) secret: String,
    pub(crate) previous_secret: Option<String>,
    pub(crate) previous_until: Option<DateTime<Utc>>,
    pub(crate) enabled: bool,
    pub(crate) disabled_reason: Option<String>,
    pub(crate) failing_since: Option<DateTime<Utc>>,
    pub(crate) failures: u64,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for EndpointRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointRecord")
            .field("id", &self.id)
            .field("owner", &self.owner)
            .field("organizer", &self.organizer)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl EndpointRecord {
    /// Whether this endpoint hears of what happened to `organizer` of its
    /// owner (`None`: the owner's own) as type `kind`.
    pub(crate) fn wants(&self, organizer: Option<OrganizerId>, kind: &str) -> bool {
        let scope = match self.organizer {
            None => true,
            Some(o) => organizer == Some(o),
        };
        scope
            && self
                .types
                .as_ref()
                .is_none_or(|t| t.iter().any(|x| x == kind))
    }
}

/// One message to one endpoint, with where it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MessageRecord {
    pub(crate) id: i64,
    pub(crate) endpoint: String,
    pub(crate) msg_id: String,
    pub(crate) kind: String,
    pub(crate) payload: String,
    pub(crate) state: String,
    pub(crate) attempts: u64,
    pub(crate) due: DateTime<Utc>,
    pub(crate) last_status: Option<u16>,
    pub(crate) last_error: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) done_at: Option<DateTime<Utc>>,
}

/// One attempt at a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AttemptRecord {
    pub(crate) message: i64,
    pub(crate) attempt: u64,
    pub(crate) at: DateTime<Utc>,
    pub(crate) status: Option<u16>,
    pub(crate) error: Option<String>,
    pub(crate) duration_ms: u64,
}

/// What an attempt ended in, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Settled {
    /// Answered 2xx.
    Sent,
    /// Failed; tried again at `due`.
    Retry { due: DateTime<Utc> },
    /// Failed for good (given up, the endpoint gone or disabled).
    Failed,
}

const ENDPOINT_COLUMNS: &str = "id, owner, organizer, url, types, description, secret, \
     previous_secret, previous_until, enabled, disabled_reason, failing_since, failures, \
     created_at, updated_at";

const MESSAGE_COLUMNS: &str = "id, endpoint, msg_id, kind, payload, state, attempts, due, \
     last_status, last_error, created_at, done_at";

fn endpoint_from(row: &AnyRow) -> DbResult<EndpointRecord> {
    let types: Option<String> = row.try_get("types").map_err(db)?;
    Ok(EndpointRecord {
        id: row.try_get("id").map_err(db)?,
        owner: OwnerId(uid(row.try_get("owner").map_err(db)?)),
        organizer: row
            .try_get::<Option<i64>, _>("organizer")
            .map_err(db)?
            .map(|o| OrganizerId(uid(o))),
        url: row.try_get("url").map_err(db)?,
        types: types
            .map(|t| {
                serde_json::from_str(&t).map_err(|e| DbError(format!("a webhook's types: {e}")))
            })
            .transpose()?,
        description: row.try_get("description").map_err(db)?,
        secret: row.try_get("secret").map_err(db)?,
        previous_secret: row.try_get("previous_secret").map_err(db)?,
        previous_until: row
            .try_get::<Option<i64>, _>("previous_until")
            .map_err(db)?
            .map(from_micros),
        enabled: row.try_get::<i64, _>("enabled").map_err(db)? != 0,
        disabled_reason: row.try_get("disabled_reason").map_err(db)?,
        failing_since: row
            .try_get::<Option<i64>, _>("failing_since")
            .map_err(db)?
            .map(from_micros),
        failures: uid(row.try_get("failures").map_err(db)?),
        created_at: from_micros(row.try_get("created_at").map_err(db)?),
        updated_at: from_micros(row.try_get("updated_at").map_err(db)?),
    })
}

fn message_from(row: &AnyRow) -> DbResult<MessageRecord> {
    Ok(MessageRecord {
        id: row.try_get("id").map_err(db)?,
        endpoint: row.try_get("endpoint").map_err(db)?,
        msg_id: row.try_get("msg_id").map_err(db)?,
        kind: row.try_get("kind").map_err(db)?,
        payload: row.try_get("payload").map_err(db)?,
        state: row.try_get("state").map_err(db)?,
        attempts: uid(row.try_get("attempts").map_err(db)?),
        due: from_micros(row.try_get("due").map_err(db)?),
        last_status: row
            .try_get::<Option<i64>, _>("last_status")
            .map_err(db)?
            .and_then(|s| u16::try_from(s).ok()),
        last_error: row.try_get("last_error").map_err(db)?,
        created_at: from_micros(row.try_get("created_at").map_err(db)?),
        done_at: row
            .try_get::<Option<i64>, _>("done_at")
            .map_err(db)?
            .map(from_micros),
    })
}

fn types_text(types: Option<&Vec<String>>) -> Option<String> {
    types.map(|t| serde_json::to_string(t).unwrap_or_else(|_| "[]".into()))
}

fn count(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl ServerDb {
    /// Stores a new endpoint.
    pub(crate) async fn insert_endpoint(&self, e: &EndpointRecord) -> DbResult<()> {
        sqlx::query(self.sql(&format!(
            "INSERT INTO invite_server_webhooks ({ENDPOINT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        )))
        .bind(e.id.clone())
        .bind(id(e.owner.0)?)
        .bind(e.organizer.map(|o| id(o.0)).transpose()?)
        .bind(e.url.clone())
        .bind(types_text(e.types.as_ref()))
        .bind(e.description.clone())
        .bind(e.secret.clone())
        .bind(e.previous_secret.clone())
        .bind(e.previous_until.map(micros))
        .bind(i64::from(e.enabled))
        .bind(e.disabled_reason.clone())
        .bind(e.failing_since.map(micros))
        .bind(count(e.failures))
        .bind(micros(e.created_at))
        .bind(micros(e.updated_at))
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Writes every changeable column of an endpoint.
    pub(crate) async fn update_endpoint(&self, e: &EndpointRecord) -> DbResult<bool> {
        let r = sqlx::query(self.sql(
            "UPDATE invite_server_webhooks SET url = $1, types = $2, description = $3, \
             secret = $4, previous_secret = $5, previous_until = $6, enabled = $7, \
             disabled_reason = $8, failing_since = $9, failures = $10, updated_at = $11 \
             WHERE id = $12 AND owner = $13",
        ))
        .bind(e.url.clone())
        .bind(types_text(e.types.as_ref()))
        .bind(e.description.clone())
        .bind(e.secret.clone())
        .bind(e.previous_secret.clone())
        .bind(e.previous_until.map(micros))
        .bind(i64::from(e.enabled))
        .bind(e.disabled_reason.clone())
        .bind(e.failing_since.map(micros))
        .bind(count(e.failures))
        .bind(micros(e.updated_at))
        .bind(e.id.clone())
        .bind(id(e.owner.0)?)
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(r.rows_affected() > 0)
    }

    /// An endpoint by its id.
    pub(crate) async fn endpoint(&self, endpoint: &str) -> DbResult<Option<EndpointRecord>> {
        let row = sqlx::query(self.sql(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM invite_server_webhooks WHERE id = $1"
        )))
        .bind(endpoint.to_owned())
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        row.as_ref().map(endpoint_from).transpose()
    }

    /// A page of the owner's endpoints in id order after `after`; with
    /// `organizer`, only that organizer's.
    pub(crate) async fn endpoints(
        &self,
        owner: OwnerId,
        organizer: Option<OrganizerId>,
        after: Option<&str>,
        limit: usize,
    ) -> DbResult<Vec<EndpointRecord>> {
        let rows = sqlx::query(self.sql(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM invite_server_webhooks \
             WHERE owner = $1 AND ($2 < 0 OR organizer = $2) AND id > $3 ORDER BY id LIMIT $4"
        )))
        .bind(id(owner.0)?)
        .bind(match organizer {
            Some(o) => id(o.0)?,
            None => -1,
        })
        .bind(after.unwrap_or("").to_owned())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.iter().map(endpoint_from).collect()
    }

    /// How many endpoints the owner has.
    pub(crate) async fn endpoint_count(&self, owner: OwnerId) -> DbResult<u64> {
        let row = sqlx::query(
            self.sql("SELECT COUNT(*) AS n FROM invite_server_webhooks WHERE owner = $1"),
        )
        .bind(id(owner.0)?)
        .fetch_one(self.pool())
        .await
        .map_err(db)?;
        Ok(uid(row.try_get("n").map_err(db)?))
    }

    /// Deletes an endpoint of the owner's, with its messages and their
    /// attempts; false when there is none.
    pub(crate) async fn delete_endpoint(&self, endpoint: &str, owner: OwnerId) -> DbResult<bool> {
        let mut tx = self.pool().begin().await.map_err(db)?;
        let r = sqlx::query(
            self.sql("DELETE FROM invite_server_webhooks WHERE id = $1 AND owner = $2"),
        )
        .bind(endpoint.to_owned())
        .bind(id(owner.0)?)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if r.rows_affected() == 0 {
            tx.rollback().await.map_err(db)?;
            return Ok(false);
        }
        sqlx::query(self.sql(
            "DELETE FROM invite_server_webhook_attempts WHERE message IN \
             (SELECT id FROM invite_server_webhook_messages WHERE endpoint = $1)",
        ))
        .bind(endpoint.to_owned())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query(self.sql("DELETE FROM invite_server_webhook_messages WHERE endpoint = $1"))
            .bind(endpoint.to_owned())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    /// The enabled endpoints of any of `owners`.
    pub(crate) async fn enabled_endpoints(
        &self,
        owners: &[OwnerId],
    ) -> DbResult<Vec<EndpointRecord>> {
        let mut out = Vec::new();
        for chunk in owners.chunks(100) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let text = format!(
                "SELECT {ENDPOINT_COLUMNS} FROM invite_server_webhooks \
                 WHERE enabled = 1 AND owner IN ({})",
                marks.join(", ")
            );
            let mut q = sqlx::query(self.sql(&text)).persistent(false);
            for o in chunk {
                q = q.bind(id(o.0)?);
            }
            for row in q.fetch_all(self.pool()).await.map_err(db)? {
                out.push(endpoint_from(&row)?);
            }
        }
        Ok(out)
    }

    /// Writes the message for `endpoint` of announcement `announcement`,
    /// due now; nothing when it is written already (another dispatcher, or
    /// this one before a crash). Whether it was written.
    pub(crate) async fn insert_message(
        &self,
        endpoint: &str,
        announcement: u64,
        msg_id: &str,
        kind: &str,
        payload: &str,
        now: DateTime<Utc>,
    ) -> DbResult<bool> {
        let r = sqlx::query(self.sql(
            "INSERT INTO invite_server_webhook_messages (endpoint, announcement, msg_id, kind, \
             payload, state, attempts, due, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6) \
             ON CONFLICT (endpoint, announcement) DO NOTHING",
        ))
        .bind(endpoint.to_owned())
        .bind(id(announcement)?)
        .bind(msg_id.to_owned())
        .bind(kind.to_owned())
        .bind(payload.to_owned())
        .bind(micros(now))
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(r.rows_affected() > 0)
    }

    /// Up to `limit` messages due at `now` (not leased, or their lease run
    /// out) to enabled endpoints, oldest first: each one's id and endpoint.
    pub(crate) async fn due_messages(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> DbResult<Vec<(i64, String)>> {
        let rows = sqlx::query(self.sql(
            "SELECT m.id AS id, m.endpoint AS endpoint FROM invite_server_webhook_messages m \
             JOIN invite_server_webhooks w ON w.id = m.endpoint \
             WHERE m.state = 'pending' AND m.due <= $1 \
             AND (m.lease_until IS NULL OR m.lease_until < $1) AND w.enabled = 1 \
             ORDER BY m.id LIMIT $2",
        ))
        .bind(micros(now))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("id").map_err(db)?,
                    r.try_get("endpoint").map_err(db)?,
                ))
            })
            .collect()
    }

    /// Claims message `message` until `lease_until`, counting an attempt:
    /// the message as claimed, or `None` when another dispatcher holds it
    /// (or it was settled since).
    pub(crate) async fn claim_message(
        &self,
        message: i64,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> DbResult<Option<MessageRecord>> {
        let r = sqlx::query(self.sql(
            "UPDATE invite_server_webhook_messages SET lease_until = $1, attempts = attempts + 1 \
             WHERE id = $2 AND state = 'pending' AND (lease_until IS NULL OR lease_until < $3)",
        ))
        .bind(micros(lease_until))
        .bind(message)
        .bind(micros(now))
        .execute(self.pool())
        .await
        .map_err(db)?;
        if r.rows_affected() == 0 {
            return Ok(None);
        }
        let row = sqlx::query(self.sql(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM invite_server_webhook_messages WHERE id = $1"
        )))
        .bind(message)
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        row.as_ref().map(message_from).transpose()
    }

    /// Records attempt `attempt` of a message (the claim that counted it)
    /// and what it ended in; false (nothing written) when another claim has
    /// counted an attempt since.
    pub(crate) async fn settle_message(
        &self,
        a: &AttemptRecord,
        settled: &Settled,
    ) -> DbResult<bool> {
        let (state, due, done) = match settled {
            Settled::Sent => ("sent", None, Some(a.at)),
            Settled::Retry { due } => ("pending", Some(*due), None),
            Settled::Failed => ("failed", None, Some(a.at)),
        };
        let mut tx = self.pool().begin().await.map_err(db)?;
        let r = sqlx::query(self.sql(
            "UPDATE invite_server_webhook_messages SET state = $1, due = COALESCE($2, due), \
             lease_until = NULL, last_status = $3, last_error = $4, done_at = $5 \
             WHERE id = $6 AND attempts = $7 AND state = 'pending'",
        ))
        .bind(state.to_owned())
        .bind(due.map(micros))
        .bind(a.status.map(i64::from))
        .bind(a.error.clone())
        .bind(done.map(micros))
        .bind(a.message)
        .bind(count(a.attempt))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if r.rows_affected() == 0 {
            tx.rollback().await.map_err(db)?;
            return Ok(false);
        }
        sqlx::query(self.sql(
            "INSERT INTO invite_server_webhook_attempts (message, attempt, at, status, error, duration_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        ))
        .bind(a.message)
        .bind(count(a.attempt))
        .bind(micros(a.at))
        .bind(a.status.map(i64::from))
        .bind(a.error.clone())
        .bind(count(a.duration_ms))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    /// Records a post to `endpoint` that succeeded: its failures are over.
    pub(crate) async fn endpoint_succeeded(&self, endpoint: &str) -> DbResult<()> {
        sqlx::query(self.sql(
            "UPDATE invite_server_webhooks SET failing_since = NULL, failures = 0 \
             WHERE id = $1 AND failures > 0",
        ))
        .bind(endpoint.to_owned())
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Records a post to `endpoint` that failed: since when it has been
    /// failing, and how many posts in a row.
    pub(crate) async fn endpoint_failed(
        &self,
        endpoint: &str,
        now: DateTime<Utc>,
    ) -> DbResult<Option<(DateTime<Utc>, u64)>> {
        sqlx::query(self.sql(
            "UPDATE invite_server_webhooks SET failing_since = COALESCE(failing_since, $1), \
             failures = failures + 1 WHERE id = $2",
        ))
        .bind(micros(now))
        .bind(endpoint.to_owned())
        .execute(self.pool())
        .await
        .map_err(db)?;
        let row = sqlx::query(
            self.sql("SELECT failing_since, failures FROM invite_server_webhooks WHERE id = $1"),
        )
        .bind(endpoint.to_owned())
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        row.map(|r| {
            Ok((
                from_micros(
                    r.try_get::<Option<i64>, _>("failing_since")
                        .map_err(db)?
                        .unwrap_or_else(|| micros(now)),
                ),
                uid(r.try_get("failures").map_err(db)?),
            ))
        })
        .transpose()
    }

    /// Disables an endpoint, saying why; false when it was disabled already.
    pub(crate) async fn disable_endpoint(
        &self,
        endpoint: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> DbResult<bool> {
        let r = sqlx::query(self.sql(
            "UPDATE invite_server_webhooks SET enabled = 0, disabled_reason = $1, updated_at = $2 \
             WHERE id = $3 AND enabled = 1",
        ))
        .bind(reason.to_owned())
        .bind(micros(now))
        .bind(endpoint.to_owned())
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(r.rows_affected() > 0)
    }

    /// A page of an endpoint's messages, newest first, before message
    /// `before` (all when `None`).
    pub(crate) async fn messages(
        &self,
        endpoint: &str,
        before: Option<i64>,
        limit: usize,
    ) -> DbResult<Vec<MessageRecord>> {
        let rows = sqlx::query(self.sql(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM invite_server_webhook_messages \
             WHERE endpoint = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        )))
        .bind(endpoint.to_owned())
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.iter().map(message_from).collect()
    }

    /// The attempts of `messages`, in attempt order.
    pub(crate) async fn attempts(&self, messages: &[i64]) -> DbResult<Vec<AttemptRecord>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (1..=messages.len()).map(|i| format!("${i}")).collect();
        let text = format!(
            "SELECT message, attempt, at, status, error, duration_ms \
             FROM invite_server_webhook_attempts WHERE message IN ({}) ORDER BY message, attempt",
            marks.join(", ")
        );
        let mut q = sqlx::query(self.sql(&text)).persistent(false);
        for m in messages {
            q = q.bind(*m);
        }
        let rows = q.fetch_all(self.pool()).await.map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(AttemptRecord {
                    message: r.try_get("message").map_err(db)?,
                    attempt: uid(r.try_get("attempt").map_err(db)?),
                    at: from_micros(r.try_get("at").map_err(db)?),
                    status: r
                        .try_get::<Option<i64>, _>("status")
                        .map_err(db)?
                        .and_then(|s| u16::try_from(s).ok()),
                    error: r.try_get("error").map_err(db)?,
                    duration_ms: uid(r.try_get("duration_ms").map_err(db)?),
                })
            })
            .collect()
    }

    /// How many messages wait to be posted (retries included).
    pub(crate) async fn webhook_backlog(&self) -> DbResult<u64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM invite_server_webhook_messages WHERE state = 'pending'",
        )
        .fetch_one(self.pool())
        .await
        .map_err(db)?;
        Ok(uid(row.try_get("n").map_err(db)?))
    }

    /// Forgets messages finished (sent or failed) before `before`, with
    /// their attempts; how many.
    pub(crate) async fn expire_messages(&self, before: DateTime<Utc>) -> DbResult<u64> {
        let mut tx = self.pool().begin().await.map_err(db)?;
        sqlx::query(self.sql(
            "DELETE FROM invite_server_webhook_attempts WHERE message IN \
             (SELECT id FROM invite_server_webhook_messages WHERE state <> 'pending' AND done_at < $1)",
        ))
        .bind(micros(before))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let r = sqlx::query(self.sql(
            "DELETE FROM invite_server_webhook_messages WHERE state <> 'pending' AND done_at < $1",
        ))
        .bind(micros(before))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(r.rows_affected())
    }
}
