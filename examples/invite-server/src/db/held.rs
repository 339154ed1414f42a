//! The tables of invitations from addresses that are not registered
//! organizers yet ([`crate::unregistered`]): the held messages, the sign-in
//! links (their SHA-256, never the link), when each address was last
//! mailed, and each domain owner's self-registration switch.

use calinvite_core::inbound::{AuthResult, AuthVerdict};
use calinvite_core::lifecycle::OwnerId;
use chrono::{DateTime, Utc};
use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::{DbError, DbResult, ServerDb, db, from_micros, id, is_unique_violation, micros, uid};

/// The migration that makes these tables.
pub(super) const MIGRATION: &[&str] = &[
    "CREATE TABLE invite_server_held_messages (id TEXT PRIMARY KEY, owner BIGINT NOT NULL, \
     address TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL, summary TEXT, \
     digest TEXT NOT NULL, mail_from TEXT NOT NULL, rcpt_to TEXT NOT NULL, spf TEXT NOT NULL, \
     dkim TEXT NOT NULL, dmarc TEXT NOT NULL, bytes BIGINT NOT NULL, raw {blob} NOT NULL, \
     received_at BIGINT NOT NULL, expires_at BIGINT NOT NULL)",
    "CREATE UNIQUE INDEX invite_server_held_messages_digest ON invite_server_held_messages (owner, digest)",
    "CREATE INDEX invite_server_held_messages_address ON invite_server_held_messages \
     (owner, address, received_at, id)",
    "CREATE INDEX invite_server_held_messages_arrival ON invite_server_held_messages \
     (owner, received_at, id)",
    "CREATE INDEX invite_server_held_messages_expiry ON invite_server_held_messages (expires_at)",
    "CREATE TABLE invite_server_held_links (hash TEXT PRIMARY KEY, owner BIGINT NOT NULL, \
     address TEXT NOT NULL, name TEXT NOT NULL, origin TEXT NOT NULL, created_at BIGINT NOT NULL, \
     expires_at BIGINT NOT NULL, used_at BIGINT, result TEXT)",
    "CREATE INDEX invite_server_held_links_owner ON invite_server_held_links (owner, created_at)",
    "CREATE INDEX invite_server_held_links_expiry ON invite_server_held_links (expires_at)",
    "CREATE TABLE invite_server_held_notices (owner BIGINT NOT NULL, address TEXT NOT NULL, \
     sent_at BIGINT NOT NULL, PRIMARY KEY (owner, address))",
    "CREATE TABLE invite_server_held_owners (owner BIGINT PRIMARY KEY, \
     self_registration BIGINT NOT NULL)",
];

/// A held message, without its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HeldRecord {
    pub(crate) id: String,
    pub(crate) owner: OwnerId,
    /// The sender (the From address), normalised.
    pub(crate) address: String,
    /// The name it goes by (its calendar's CN, else its local part).
    pub(crate) name: String,
    /// `request` or `cancel`.
    pub(crate) kind: String,
    /// The event's title, when it has one.
    pub(crate) summary: Option<String>,
    /// SHA-256 of the message as it arrived: a retry is held once.
    pub(crate) digest: String,
    /// The envelope the pipeline saw.
    pub(crate) mail_from: String,
    pub(crate) rcpt_to: Vec<String>,
    /// The verdict the pipeline saw.
    pub(crate) verdict: AuthVerdict,
    pub(crate) bytes: u64,
    pub(crate) received_at: DateTime<Utc>,
    pub(crate) expires_at: DateTime<Utc>,
}

/// A sign-in link, as stored (its SHA-256 is the key; the link is never
/// stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LinkRecord {
    pub(crate) owner: OwnerId,
    /// The address it registers, normalised.
    pub(crate) address: String,
    /// The organizer's name once registered.
    pub(crate) name: String,
    /// `mail` (an instruction mail after a held invitation) or `api` (the
    /// domain owner asked for it).
    pub(crate) origin: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) used_at: Option<DateTime<Utc>>,
    /// What registering did, for a person (shown when the link is opened
    /// again).
    pub(crate) result: Option<String>,
}

/// The keyword of an authentication result, as stored and shown.
pub(crate) fn result_name(r: AuthResult) -> &'static str {
    match r {
        AuthResult::Pass => "pass",
        AuthResult::Fail => "fail",
        AuthResult::SoftFail => "softfail",
        AuthResult::Neutral => "neutral",
        AuthResult::None => "none",
        AuthResult::TempError => "temperror",
        AuthResult::PermError => "permerror",
    }
}

/// The result a stored keyword names (`none` for anything else).
pub(crate) fn result_from(s: &str) -> AuthResult {
    match s {
        "pass" => AuthResult::Pass,
        "fail" => AuthResult::Fail,
        "softfail" => AuthResult::SoftFail,
        "neutral" => AuthResult::Neutral,
        "temperror" => AuthResult::TempError,
        "permerror" => AuthResult::PermError,
        _ => AuthResult::None,
    }
}

fn count(row: &AnyRow) -> DbResult<u64> {
    Ok(uid(row
        .try_get::<Option<i64>, _>("n")
        .map_err(db)?
        .unwrap_or(0)))
}

const HELD_COLUMNS: &str = "id, owner, address, name, kind, summary, digest, mail_from, rcpt_to, \
                            spf, dkim, dmarc, bytes, received_at, expires_at";

const LINK_COLUMNS: &str = "owner, address, name, origin, created_at, expires_at, used_at, result";

impl ServerDb {
    fn held_record(row: &AnyRow) -> DbResult<HeldRecord> {
        let dkim: String = row.try_get("dkim").map_err(db)?;
        let dkim: Vec<(String, String)> = serde_json::from_str(&dkim)
            .map_err(|e| DbError(format!("a held message's DKIM results: {e}")))?;
        let rcpt_to: String = row.try_get("rcpt_to").map_err(db)?;
        Ok(HeldRecord {
            id: row.try_get("id").map_err(db)?,
            owner: OwnerId(uid(row.try_get("owner").map_err(db)?)),
            address: row.try_get("address").map_err(db)?,
            name: row.try_get("name").map_err(db)?,
            kind: row.try_get("kind").map_err(db)?,
            summary: row.try_get("summary").map_err(db)?,
            digest: row.try_get("digest").map_err(db)?,
            mail_from: row.try_get("mail_from").map_err(db)?,
            rcpt_to: rcpt_to.lines().map(str::to_owned).collect(),
            verdict: AuthVerdict {
                spf: result_from(&row.try_get::<String, _>("spf").map_err(db)?),
                dkim: dkim
                    .into_iter()
                    .map(|(d, r)| (d, result_from(&r)))
                    .collect(),
                dmarc: result_from(&row.try_get::<String, _>("dmarc").map_err(db)?),
            },
            bytes: uid(row.try_get("bytes").map_err(db)?),
            received_at: from_micros(row.try_get("received_at").map_err(db)?),
            expires_at: from_micros(row.try_get("expires_at").map_err(db)?),
        })
    }

    /// Holds a message; false when the same message (by digest) is held
    /// for the owner already.
    pub(crate) async fn hold(&self, h: &HeldRecord, raw: &[u8]) -> DbResult<bool> {
        let dkim: Vec<(&str, &str)> = h
            .verdict
            .dkim
            .iter()
            .map(|(d, r)| (d.as_str(), result_name(*r)))
            .collect();
        let r = sqlx::query(self.sql(&format!(
            "INSERT INTO invite_server_held_messages ({HELD_COLUMNS}, raw) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        )))
        .bind(h.id.clone())
        .bind(id(h.owner.0)?)
        .bind(h.address.clone())
        .bind(h.name.clone())
        .bind(h.kind.clone())
        .bind(h.summary.clone())
        .bind(h.digest.clone())
        .bind(h.mail_from.clone())
        .bind(h.rcpt_to.join("\n"))
        .bind(result_name(h.verdict.spf))
        .bind(serde_json::to_string(&dkim).map_err(db)?)
        .bind(result_name(h.verdict.dmarc))
        .bind(id(h.bytes)?)
        .bind(micros(h.received_at))
        .bind(micros(h.expires_at))
        .bind(raw.to_vec())
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(db(e)),
        }
    }

    /// Messages held for `address` of `owner`, for `owner`, and the bytes
    /// held for `owner`.
    pub(crate) async fn held_counts(
        &self,
        owner: OwnerId,
        address: &str,
    ) -> DbResult<(u64, u64, u64)> {
        let row = sqlx::query(self.sql(
            "SELECT COUNT(*) AS n FROM invite_server_held_messages WHERE owner = $1 AND address = $2",
        ))
        .bind(id(owner.0)?)
        .bind(address.to_owned())
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        let of_address = count(&row)?;
        let row = sqlx::query(self.sql(
            "SELECT COUNT(*) AS n, CAST(SUM(bytes) AS BIGINT) AS b FROM invite_server_held_messages \
             WHERE owner = $1",
        ))
        .bind(id(owner.0)?)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        let bytes = uid(row.try_get::<Option<i64>, _>("b").map_err(db)?.unwrap_or(0));
        Ok((of_address, count(&row)?, bytes))
    }

    /// A page of `owner`'s held messages in arrival order after `after`
    /// (arrival time and id), for one address or all.
    pub(crate) async fn held_page(
        &self,
        owner: OwnerId,
        address: Option<&str>,
        after: Option<(DateTime<Utc>, &str)>,
        limit: usize,
    ) -> DbResult<Vec<HeldRecord>> {
        let (at, after_id) = after.map_or((i64::MIN, ""), |(t, i)| (micros(t), i));
        let rows = sqlx::query(self.sql(&format!(
            "SELECT {HELD_COLUMNS} FROM invite_server_held_messages \
             WHERE owner = $1 AND ($2 = '' OR address = $2) \
             AND (received_at > $3 OR (received_at = $3 AND id > $4)) \
             ORDER BY received_at, id LIMIT $5"
        )))
        .bind(id(owner.0)?)
        .bind(address.unwrap_or("").to_owned())
        .bind(at)
        .bind(after_id.to_owned())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(Self::held_record).collect()
    }

    /// One of `owner`'s held messages.
    pub(crate) async fn held_one(
        &self,
        owner: OwnerId,
        held: &str,
    ) -> DbResult<Option<HeldRecord>> {
        let row = sqlx::query(self.sql(&format!(
            "SELECT {HELD_COLUMNS} FROM invite_server_held_messages WHERE owner = $1 AND id = $2"
        )))
        .bind(id(owner.0)?)
        .bind(held.to_owned())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.as_ref().map(Self::held_record).transpose()
    }

    /// The bytes of a held message.
    pub(crate) async fn held_raw(&self, owner: OwnerId, held: &str) -> DbResult<Option<Vec<u8>>> {
        let row = sqlx::query(
            self.sql("SELECT raw FROM invite_server_held_messages WHERE owner = $1 AND id = $2"),
        )
        .bind(id(owner.0)?)
        .bind(held.to_owned())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| r.try_get::<Vec<u8>, _>("raw").map_err(db))
            .transpose()
    }

    /// Drops a held message; false when it was not held (any more).
    pub(crate) async fn unhold(&self, owner: OwnerId, held: &str) -> DbResult<bool> {
        let r = sqlx::query(
            self.sql("DELETE FROM invite_server_held_messages WHERE owner = $1 AND id = $2"),
        )
        .bind(id(owner.0)?)
        .bind(held.to_owned())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(r.rows_affected() > 0)
    }

    /// Every (owner, address) with a held message.
    pub(crate) async fn held_senders(&self) -> DbResult<Vec<(OwnerId, String)>> {
        let rows = sqlx::query(
            "SELECT DISTINCT owner, address FROM invite_server_held_messages ORDER BY owner, address",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok((
                    OwnerId(uid(r.try_get("owner").map_err(db)?)),
                    r.try_get("address").map_err(db)?,
                ))
            })
            .collect()
    }

    /// Messages held now, all owners.
    pub(crate) async fn held_total(&self) -> DbResult<u64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM invite_server_held_messages")
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        count(&row)
    }

    /// Drops the messages held past `now`; how many.
    pub(crate) async fn expire_held(&self, now: DateTime<Utc>) -> DbResult<u64> {
        let r =
            sqlx::query(self.sql("DELETE FROM invite_server_held_messages WHERE expires_at <= $1"))
                .bind(micros(now))
                .execute(&self.pool)
                .await
                .map_err(db)?;
        Ok(r.rows_affected())
    }

    // ---------------------------------------------------------------- links

    fn link_record(row: &AnyRow) -> DbResult<LinkRecord> {
        Ok(LinkRecord {
            owner: OwnerId(uid(row.try_get("owner").map_err(db)?)),
            address: row.try_get("address").map_err(db)?,
            name: row.try_get("name").map_err(db)?,
            origin: row.try_get("origin").map_err(db)?,
            created_at: from_micros(row.try_get("created_at").map_err(db)?),
            expires_at: from_micros(row.try_get("expires_at").map_err(db)?),
            used_at: row
                .try_get::<Option<i64>, _>("used_at")
                .map_err(db)?
                .map(from_micros),
            result: row.try_get("result").map_err(db)?,
        })
    }

    /// Stores a sign-in link by the SHA-256 of its token.
    pub(crate) async fn insert_link(&self, hash: &str, l: &LinkRecord) -> DbResult<()> {
        sqlx::query(self.sql(&format!(
            "INSERT INTO invite_server_held_links (hash, {LINK_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL)"
        )))
        .bind(hash.to_owned())
        .bind(id(l.owner.0)?)
        .bind(l.address.clone())
        .bind(l.name.clone())
        .bind(l.origin.clone())
        .bind(micros(l.created_at))
        .bind(micros(l.expires_at))
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// The link whose token has SHA-256 `hash`.
    pub(crate) async fn link(&self, hash: &str) -> DbResult<Option<LinkRecord>> {
        let row = sqlx::query(self.sql(&format!(
            "SELECT {LINK_COLUMNS} FROM invite_server_held_links WHERE hash = $1"
        )))
        .bind(hash.to_owned())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.as_ref().map(Self::link_record).transpose()
    }

    /// Uses the link: true for the one caller that found it unused and
    /// unexpired at `now`.
    pub(crate) async fn use_link(&self, hash: &str, now: DateTime<Utc>) -> DbResult<bool> {
        let r = sqlx::query(self.sql(
            "UPDATE invite_server_held_links SET used_at = $1 \
             WHERE hash = $2 AND used_at IS NULL AND expires_at > $1",
        ))
        .bind(micros(now))
        .bind(hash.to_owned())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(r.rows_affected() == 1)
    }

    /// Gives a used link back (what it was used for failed).
    pub(crate) async fn unuse_link(&self, hash: &str) -> DbResult<()> {
        sqlx::query(self.sql(
            "UPDATE invite_server_held_links SET used_at = NULL, result = NULL WHERE hash = $1",
        ))
        .bind(hash.to_owned())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Notes what using the link did.
    pub(crate) async fn link_result(&self, hash: &str, result: &str) -> DbResult<()> {
        sqlx::query(self.sql("UPDATE invite_server_held_links SET result = $1 WHERE hash = $2"))
            .bind(result.to_owned())
            .bind(hash.to_owned())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// Links made for `owner` after instruction mails since `since`.
    pub(crate) async fn mail_links_since(
        &self,
        owner: OwnerId,
        since: DateTime<Utc>,
    ) -> DbResult<u64> {
        let row = sqlx::query(self.sql(
            "SELECT COUNT(*) AS n FROM invite_server_held_links \
             WHERE owner = $1 AND origin = 'mail' AND created_at > $2",
        ))
        .bind(id(owner.0)?)
        .bind(micros(since))
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        count(&row)
    }

    /// Forgets links that expired before `before`.
    pub(crate) async fn expire_links(&self, before: DateTime<Utc>) -> DbResult<u64> {
        let r = sqlx::query(self.sql("DELETE FROM invite_server_held_links WHERE expires_at < $1"))
            .bind(micros(before))
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(r.rows_affected())
    }

    // -------------------------------------------------------------- notices

    /// Takes the right to mail `address` of `owner` at `now` unless it was
    /// mailed after `cutoff`: true for the one caller that may. The row
    /// update is atomic, so two messages arriving together mail once.
    pub(crate) async fn claim_notice(
        &self,
        owner: OwnerId,
        address: &str,
        now: DateTime<Utc>,
        cutoff: DateTime<Utc>,
    ) -> DbResult<bool> {
        let inserted = sqlx::query(self.sql(
            "INSERT INTO invite_server_held_notices (owner, address, sent_at) VALUES ($1, $2, $3)",
        ))
        .bind(id(owner.0)?)
        .bind(address.to_owned())
        .bind(micros(now))
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => return Ok(true),
            Err(e) if is_unique_violation(&e) => {}
            Err(e) => return Err(db(e)),
        }
        let r = sqlx::query(self.sql(
            "UPDATE invite_server_held_notices SET sent_at = $1 \
             WHERE owner = $2 AND address = $3 AND sent_at <= $4",
        ))
        .bind(micros(now))
        .bind(id(owner.0)?)
        .bind(address.to_owned())
        .bind(micros(cutoff))
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(r.rows_affected() == 1)
    }

    /// Forgets that `address` of `owner` was mailed (the mail failed).
    pub(crate) async fn unclaim_notice(&self, owner: OwnerId, address: &str) -> DbResult<()> {
        sqlx::query(
            self.sql("DELETE FROM invite_server_held_notices WHERE owner = $1 AND address = $2"),
        )
        .bind(id(owner.0)?)
        .bind(address.to_owned())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// When `address` of `owner` was last mailed.
    pub(crate) async fn noticed_at(
        &self,
        owner: OwnerId,
        address: &str,
    ) -> DbResult<Option<DateTime<Utc>>> {
        let row = sqlx::query(self.sql(
            "SELECT sent_at FROM invite_server_held_notices WHERE owner = $1 AND address = $2",
        ))
        .bind(id(owner.0)?)
        .bind(address.to_owned())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| r.try_get::<i64, _>("sent_at").map(from_micros).map_err(db))
            .transpose()
    }

    /// Forgets mailings before `before` (they limit nothing any more).
    pub(crate) async fn expire_notices(&self, before: DateTime<Utc>) -> DbResult<u64> {
        let r = sqlx::query(self.sql("DELETE FROM invite_server_held_notices WHERE sent_at < $1"))
            .bind(micros(before))
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(r.rows_affected())
    }

    // --------------------------------------------------------------- owners

    /// The owner's self-registration switch, when it set one.
    pub(crate) async fn self_registration(&self, owner: OwnerId) -> DbResult<Option<bool>> {
        let row = sqlx::query(
            self.sql("SELECT self_registration FROM invite_server_held_owners WHERE owner = $1"),
        )
        .bind(id(owner.0)?)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| {
            r.try_get::<i64, _>("self_registration")
                .map(|v| v != 0)
                .map_err(db)
        })
        .transpose()
    }

    /// Sets the owner's self-registration switch.
    pub(crate) async fn set_self_registration(&self, owner: OwnerId, on: bool) -> DbResult<()> {
        for _ in 0..3 {
            let r = sqlx::query(self.sql(
                "UPDATE invite_server_held_owners SET self_registration = $1 WHERE owner = $2",
            ))
            .bind(i64::from(on))
            .bind(id(owner.0)?)
            .execute(&self.pool)
            .await
            .map_err(db)?;
            if r.rows_affected() > 0 {
                return Ok(());
            }
            let r = sqlx::query(self.sql(
                "INSERT INTO invite_server_held_owners (owner, self_registration) VALUES ($1, $2)",
            ))
            .bind(id(owner.0)?)
            .bind(i64::from(on))
            .execute(&self.pool)
            .await;
            match r {
                Ok(_) => return Ok(()),
                Err(e) if is_unique_violation(&e) => {}
                Err(e) => return Err(db(e)),
            }
        }
        Err(DbError(
            "the self-registration switch kept changing; retry".into(),
        ))
    }
}
