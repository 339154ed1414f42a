//! The console's tables: the addresses that administer a domain owner,
//! the sign-in links mailed (as SHA-256 digests), and the sessions (as
//! SHA-256 digests of their cookies).

use calinvite_core::lifecycle::{OrganizerId, OwnerId, Scope};
use chrono::{DateTime, Utc};
use sqlx::Row as _;

use crate::db::{DbResult, ServerDb, db, from_micros, id, micros, uid};

/// Whom a sign-in link or a session acts for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Who {
    /// A domain owner's administrator.
    Owner(OwnerId),
    /// An organizer.
    Organizer(Scope),
}

impl Who {
    fn columns(self) -> DbResult<(i64, i64)> {
        Ok(match self {
            Who::Owner(o) => (id(o.0)?, 0),
            Who::Organizer(s) => (id(s.owner.0)?, id(s.organizer.0)?),
        })
    }

    fn from_columns(owner: i64, organizer: i64) -> Who {
        if organizer == 0 {
            Who::Owner(OwnerId(uid(owner)))
        } else {
            Who::Organizer(Scope::new(OwnerId(uid(owner)), OrganizerId(uid(organizer))))
        }
    }
}

/// A session as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SessionRecord {
    pub(crate) who: Who,
    pub(crate) address: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) last_seen: DateTime<Utc>,
    pub(crate) expires_at: DateTime<Utc>,
}

impl ServerDb {
    // --------------------------------------------------------- admins

    /// Adds `address` (lowercase) as a console administrator of `owner`;
    /// false when it was one already.
    pub(crate) async fn add_console_admin(
        &self,
        owner: OwnerId,
        address: &str,
        now: DateTime<Utc>,
    ) -> DbResult<bool> {
        let r = sqlx::query(self.sql(
            "INSERT INTO invite_server_console_admins (owner, address, created_at) \
             VALUES ($1, $2, $3)",
        ))
        .bind(id(owner.0)?)
        .bind(address.to_owned())
        .bind(micros(now))
        .execute(self.pool())
        .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if crate::db::is_unique_violation(&e) => Ok(false),
            Err(e) => Err(db(e)),
        }
    }

    /// The console administrators of `owner`, by address, with when each
    /// was added.
    pub(crate) async fn console_admins(
        &self,
        owner: OwnerId,
    ) -> DbResult<Vec<(String, DateTime<Utc>)>> {
        let rows = sqlx::query(self.sql(
            "SELECT address, created_at FROM invite_server_console_admins WHERE owner = $1 \
             ORDER BY address",
        ))
        .bind(id(owner.0)?)
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<String, _>("address").map_err(db)?,
                    from_micros(r.try_get::<i64, _>("created_at").map_err(db)?),
                ))
            })
            .collect()
    }

    /// Removes a console administrator of `owner` and ends its sessions;
    /// false when there was none.
    pub(crate) async fn remove_console_admin(
        &self,
        owner: OwnerId,
        address: &str,
    ) -> DbResult<bool> {
        let r = sqlx::query(
            self.sql("DELETE FROM invite_server_console_admins WHERE owner = $1 AND address = $2"),
        )
        .bind(id(owner.0)?)
        .bind(address.to_owned())
        .execute(self.pool())
        .await
        .map_err(db)?;
        sqlx::query(self.sql(
            "DELETE FROM invite_server_console_sessions WHERE owner = $1 AND organizer = 0 \
             AND address = $2",
        ))
        .bind(id(owner.0)?)
        .bind(address.to_owned())
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(r.rows_affected() > 0)
    }

    /// The domain owners `address` (lowercase) administers.
    pub(crate) async fn owners_administered_by(&self, address: &str) -> DbResult<Vec<OwnerId>> {
        let rows = sqlx::query(self.sql(
            "SELECT owner FROM invite_server_console_admins WHERE address = $1 ORDER BY owner",
        ))
        .bind(address.to_owned())
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| Ok(OwnerId(uid(r.try_get::<i64, _>("owner").map_err(db)?))))
            .collect()
    }

    // --------------------------------------------------------- links

    /// Stores a sign-in link by its digest.
    pub(crate) async fn insert_console_link(
        &self,
        digest: &str,
        who: Who,
        address: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> DbResult<()> {
        // Links long expired are forgotten as new ones are made.
        sqlx::query(self.sql("DELETE FROM invite_server_console_links WHERE expires_at < $1"))
            .bind(micros(now - chrono::TimeDelta::days(1)))
            .execute(self.pool())
            .await
            .map_err(db)?;
        let (owner, organizer) = who.columns()?;
        sqlx::query(self.sql(
            "INSERT INTO invite_server_console_links (digest, owner, organizer, address, \
             expires_at, used_at) VALUES ($1, $2, $3, $4, $5, 0)",
        ))
        .bind(digest.to_owned())
        .bind(owner)
        .bind(organizer)
        .bind(address.to_owned())
        .bind(micros(expires_at))
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Whether a link with `digest` may still be used at `now`.
    pub(crate) async fn console_link_usable(
        &self,
        digest: &str,
        now: DateTime<Utc>,
    ) -> DbResult<bool> {
        let row = sqlx::query(self.sql(
            "SELECT digest FROM invite_server_console_links WHERE digest = $1 AND used_at = 0 \
             AND expires_at > $2",
        ))
        .bind(digest.to_owned())
        .bind(micros(now))
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        Ok(row.is_some())
    }

    /// Spends the link with `digest`: whom it signs in, if it was unused
    /// and not expired (once only, even when two requests race).
    pub(crate) async fn spend_console_link(
        &self,
        digest: &str,
        now: DateTime<Utc>,
    ) -> DbResult<Option<(Who, String)>> {
        let r = sqlx::query(self.sql(
            "UPDATE invite_server_console_links SET used_at = $1 WHERE digest = $2 \
             AND used_at = 0 AND expires_at > $1",
        ))
        .bind(micros(now))
        .bind(digest.to_owned())
        .execute(self.pool())
        .await
        .map_err(db)?;
        if r.rows_affected() != 1 {
            return Ok(None);
        }
        let row = sqlx::query(self.sql(
            "SELECT owner, organizer, address FROM invite_server_console_links WHERE digest = $1",
        ))
        .bind(digest.to_owned())
        .fetch_one(self.pool())
        .await
        .map_err(db)?;
        Ok(Some((
            Who::from_columns(
                row.try_get("owner").map_err(db)?,
                row.try_get("organizer").map_err(db)?,
            ),
            row.try_get("address").map_err(db)?,
        )))
    }

    // --------------------------------------------------------- sessions

    /// Stores a session by its digest.
    pub(crate) async fn insert_console_session(
        &self,
        digest: &str,
        s: &SessionRecord,
    ) -> DbResult<()> {
        sqlx::query(self.sql("DELETE FROM invite_server_console_sessions WHERE expires_at < $1"))
            .bind(micros(s.created_at))
            .execute(self.pool())
            .await
            .map_err(db)?;
        let (owner, organizer) = s.who.columns()?;
        sqlx::query(self.sql(
            "INSERT INTO invite_server_console_sessions (digest, owner, organizer, address, \
             created_at, last_seen, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        ))
        .bind(digest.to_owned())
        .bind(owner)
        .bind(organizer)
        .bind(s.address.clone())
        .bind(micros(s.created_at))
        .bind(micros(s.last_seen))
        .bind(micros(s.expires_at))
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(())
    }

    /// The session with `digest`.
    pub(crate) async fn console_session(&self, digest: &str) -> DbResult<Option<SessionRecord>> {
        let row = sqlx::query(self.sql(
            "SELECT owner, organizer, address, created_at, last_seen, expires_at \
             FROM invite_server_console_sessions WHERE digest = $1",
        ))
        .bind(digest.to_owned())
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        row.map(|r| {
            Ok(SessionRecord {
                who: Who::from_columns(
                    r.try_get("owner").map_err(db)?,
                    r.try_get("organizer").map_err(db)?,
                ),
                address: r.try_get("address").map_err(db)?,
                created_at: from_micros(r.try_get("created_at").map_err(db)?),
                last_seen: from_micros(r.try_get("last_seen").map_err(db)?),
                expires_at: from_micros(r.try_get("expires_at").map_err(db)?),
            })
        })
        .transpose()
    }

    /// Notes that the session with `digest` was used at `now`.
    pub(crate) async fn touch_console_session(
        &self,
        digest: &str,
        now: DateTime<Utc>,
    ) -> DbResult<()> {
        sqlx::query(
            self.sql("UPDATE invite_server_console_sessions SET last_seen = $1 WHERE digest = $2"),
        )
        .bind(micros(now))
        .bind(digest.to_owned())
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Ends the session with `digest`.
    pub(crate) async fn end_console_session(&self, digest: &str) -> DbResult<()> {
        sqlx::query(self.sql("DELETE FROM invite_server_console_sessions WHERE digest = $1"))
            .bind(digest.to_owned())
            .execute(self.pool())
            .await
            .map_err(db)?;
        Ok(())
    }
}
