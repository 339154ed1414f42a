//! The landing pages' tables: pages (their settings as JSON), events'
//! display extras, and the confirmation links of large submits (their
//! SHA-256, never the link).

use calinvite_core::lifecycle::{OrganizerId, OwnerId, Scope};
use chrono::{DateTime, Utc};
use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::model::{Display, Settings};
use crate::db::{
    DbError, DbResult, ServerDb, db, from_micros, id, is_unique_violation, micros, uid,
};

/// The migration that makes these tables.
pub(crate) const MIGRATION: &[&str] = &[
    "CREATE TABLE invite_server_landing_pages (slug TEXT PRIMARY KEY, owner BIGINT NOT NULL, \
     organizer BIGINT NOT NULL, settings TEXT NOT NULL, revision BIGINT NOT NULL, \
     created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)",
    "CREATE INDEX invite_server_landing_pages_owner ON invite_server_landing_pages \
     (owner, organizer, slug)",
    "CREATE TABLE invite_server_landing_display (owner BIGINT NOT NULL, code TEXT NOT NULL, \
     body TEXT NOT NULL, updated_at BIGINT NOT NULL, PRIMARY KEY (owner, code))",
    "CREATE TABLE invite_server_landing_confirms (hash TEXT PRIMARY KEY, slug TEXT NOT NULL, \
     address TEXT NOT NULL, name TEXT NOT NULL, codes TEXT NOT NULL, created_at BIGINT NOT NULL, \
     expires_at BIGINT NOT NULL, used_at BIGINT)",
    "CREATE INDEX invite_server_landing_confirms_expiry ON invite_server_landing_confirms (expires_at)",
];

/// A page as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PageRecord {
    pub(crate) slug: String,
    pub(crate) scope: Scope,
    pub(crate) settings: Settings,
    pub(crate) revision: u64,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

/// A large submit waiting for its confirmation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ConfirmRecord {
    pub(crate) slug: String,
    pub(crate) address: String,
    pub(crate) name: String,
    pub(crate) codes: Vec<String>,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) used_at: Option<DateTime<Utc>>,
}

const PAGE_COLUMNS: &str = "slug, owner, organizer, settings, revision, created_at, updated_at";

fn page(row: &AnyRow) -> DbResult<PageRecord> {
    let settings: String = row.try_get("settings").map_err(db)?;
    Ok(PageRecord {
        slug: row.try_get("slug").map_err(db)?,
        scope: Scope::new(
            OwnerId(uid(row.try_get("owner").map_err(db)?)),
            OrganizerId(uid(row.try_get("organizer").map_err(db)?)),
        ),
        settings: serde_json::from_str(&settings)
            .map_err(|e| DbError(format!("a landing page's settings: {e}")))?,
        revision: uid(row.try_get("revision").map_err(db)?),
        created_at: from_micros(row.try_get("created_at").map_err(db)?),
        updated_at: from_micros(row.try_get("updated_at").map_err(db)?),
    })
}

fn json<T: serde::Serialize>(v: &T) -> DbResult<String> {
    serde_json::to_string(v).map_err(db)
}

/// Pages and display extras.
pub(crate) struct LandingDb<'a>(pub(crate) &'a ServerDb);

impl LandingDb<'_> {
    /// Stores a new page; false when the slug is taken.
    pub(crate) async fn insert_page(&self, p: &PageRecord) -> DbResult<bool> {
        let d = self.0;
        let r = sqlx::query(d.sql(
            "INSERT INTO invite_server_landing_pages (slug, owner, organizer, settings, revision, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        ))
        .bind(p.slug.clone())
        .bind(id(p.scope.owner.0)?)
        .bind(id(p.scope.organizer.0)?)
        .bind(json(&p.settings)?)
        .bind(id(p.revision)?)
        .bind(micros(p.created_at))
        .bind(micros(p.updated_at))
        .execute(d.pool())
        .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(db(e)),
        }
    }

    /// The page at `slug`.
    pub(crate) async fn page(&self, slug: &str) -> DbResult<Option<PageRecord>> {
        let d = self.0;
        let sql = format!("SELECT {PAGE_COLUMNS} FROM invite_server_landing_pages WHERE slug = $1");
        let row = sqlx::query(d.sql(&sql))
            .bind(slug.to_owned())
            .fetch_optional(d.pool())
            .await
            .map_err(db)?;
        row.as_ref().map(page).transpose()
    }

    /// Domain owner `owner`'s pages (one organizer's when given), by slug,
    /// after `after`, at most `limit`.
    pub(crate) async fn pages(
        &self,
        owner: OwnerId,
        organizer: Option<OrganizerId>,
        after: &str,
        limit: usize,
    ) -> DbResult<Vec<PageRecord>> {
        let d = self.0;
        let limit = i64::try_from(limit).unwrap_or(200);
        let rows = match organizer {
            Some(o) => {
                let sql = format!(
                    "SELECT {PAGE_COLUMNS} FROM invite_server_landing_pages WHERE owner = $1 \
                     AND organizer = $2 AND slug > $3 ORDER BY slug LIMIT $4"
                );
                sqlx::query(d.sql(&sql))
                    .bind(id(owner.0)?)
                    .bind(id(o.0)?)
                    .bind(after.to_owned())
                    .bind(limit)
                    .fetch_all(d.pool())
                    .await
            }
            None => {
                let sql = format!(
                    "SELECT {PAGE_COLUMNS} FROM invite_server_landing_pages WHERE owner = $1 \
                     AND slug > $2 ORDER BY slug LIMIT $3"
                );
                sqlx::query(d.sql(&sql))
                    .bind(id(owner.0)?)
                    .bind(after.to_owned())
                    .bind(limit)
                    .fetch_all(d.pool())
                    .await
            }
        }
        .map_err(db)?;
        rows.iter().map(page).collect()
    }

    /// Replaces a page's settings if it is still at `revision`; the new
    /// revision, or `None` when it changed meanwhile.
    pub(crate) async fn update_page(
        &self,
        slug: &str,
        revision: u64,
        settings: &Settings,
        now: DateTime<Utc>,
    ) -> DbResult<Option<u64>> {
        let d = self.0;
        let r = sqlx::query(d.sql(
            "UPDATE invite_server_landing_pages SET settings = $1, revision = revision + 1, \
             updated_at = $2 WHERE slug = $3 AND revision = $4",
        ))
        .bind(json(settings)?)
        .bind(micros(now))
        .bind(slug.to_owned())
        .bind(id(revision)?)
        .execute(d.pool())
        .await
        .map_err(db)?;
        Ok((r.rows_affected() == 1).then_some(revision + 1))
    }

    /// Deletes a page; whether there was one.
    pub(crate) async fn delete_page(&self, slug: &str) -> DbResult<bool> {
        let d = self.0;
        let r = sqlx::query(d.sql("DELETE FROM invite_server_landing_pages WHERE slug = $1"))
            .bind(slug.to_owned())
            .execute(d.pool())
            .await
            .map_err(db)?;
        Ok(r.rows_affected() > 0)
    }

    /// An event's display extras (empty when none were set).
    pub(crate) async fn display(&self, owner: OwnerId, code: &str) -> DbResult<Display> {
        let d = self.0;
        let row = sqlx::query(
            d.sql("SELECT body FROM invite_server_landing_display WHERE owner = $1 AND code = $2"),
        )
        .bind(id(owner.0)?)
        .bind(code.to_owned())
        .fetch_optional(d.pool())
        .await
        .map_err(db)?;
        match row {
            None => Ok(Display::default()),
            Some(r) => {
                let body: String = r.try_get("body").map_err(db)?;
                serde_json::from_str(&body).map_err(|e| DbError(format!("display extras: {e}")))
            }
        }
    }

    /// Every display extra of domain owner `owner`, by event code.
    pub(crate) async fn displays(
        &self,
        owner: OwnerId,
    ) -> DbResult<std::collections::HashMap<String, Display>> {
        let d = self.0;
        let rows = sqlx::query(
            d.sql("SELECT code, body FROM invite_server_landing_display WHERE owner = $1"),
        )
        .bind(id(owner.0)?)
        .fetch_all(d.pool())
        .await
        .map_err(db)?;
        let mut out = std::collections::HashMap::with_capacity(rows.len());
        for r in rows {
            let body: String = r.try_get("body").map_err(db)?;
            if let Ok(v) = serde_json::from_str(&body) {
                out.insert(r.try_get("code").map_err(db)?, v);
            }
        }
        Ok(out)
    }

    /// Sets an event's display extras.
    pub(crate) async fn set_display(
        &self,
        owner: OwnerId,
        code: &str,
        display: &Display,
        now: DateTime<Utc>,
    ) -> DbResult<()> {
        let d = self.0;
        let mut tx = d.pool().begin().await.map_err(db)?;
        sqlx::query(
            d.sql("DELETE FROM invite_server_landing_display WHERE owner = $1 AND code = $2"),
        )
        .bind(id(owner.0)?)
        .bind(code.to_owned())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query(d.sql(
            "INSERT INTO invite_server_landing_display (owner, code, body, updated_at) \
             VALUES ($1, $2, $3, $4)",
        ))
        .bind(id(owner.0)?)
        .bind(code.to_owned())
        .bind(json(display)?)
        .bind(micros(now))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    /// Keeps a confirmation link's hash.
    pub(crate) async fn insert_confirm(
        &self,
        hash: &str,
        c: &ConfirmRecord,
        now: DateTime<Utc>,
    ) -> DbResult<()> {
        let d = self.0;
        sqlx::query(d.sql(
            "INSERT INTO invite_server_landing_confirms (hash, slug, address, name, codes, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        ))
        .bind(hash.to_owned())
        .bind(c.slug.clone())
        .bind(c.address.clone())
        .bind(c.name.clone())
        .bind(c.codes.join(" "))
        .bind(micros(now))
        .bind(micros(c.expires_at))
        .execute(d.pool())
        .await
        .map_err(db)?;
        // Forgets links a day past their expiry.
        sqlx::query(d.sql("DELETE FROM invite_server_landing_confirms WHERE expires_at < $1"))
            .bind(micros(now - chrono::TimeDelta::days(1)))
            .execute(d.pool())
            .await
            .map_err(db)?;
        Ok(())
    }

    /// The confirmation whose link hashes to `hash`.
    pub(crate) async fn confirm(&self, hash: &str) -> DbResult<Option<ConfirmRecord>> {
        let d = self.0;
        let row = sqlx::query(d.sql(
            "SELECT slug, address, name, codes, expires_at, used_at \
             FROM invite_server_landing_confirms WHERE hash = $1",
        ))
        .bind(hash.to_owned())
        .fetch_optional(d.pool())
        .await
        .map_err(db)?;
        let Some(r) = row else { return Ok(None) };
        let codes: String = r.try_get("codes").map_err(db)?;
        Ok(Some(ConfirmRecord {
            slug: r.try_get("slug").map_err(db)?,
            address: r.try_get("address").map_err(db)?,
            name: r.try_get("name").map_err(db)?,
            codes: codes.split_whitespace().map(str::to_owned).collect(),
            expires_at: from_micros(r.try_get("expires_at").map_err(db)?),
            used_at: r
                .try_get::<Option<i64>, _>("used_at")
                .map_err(db)?
                .map(from_micros),
        }))
    }

    /// Marks a confirmation used; false when it was used already (two
    /// clicks at once send once).
    pub(crate) async fn use_confirm(&self, hash: &str, now: DateTime<Utc>) -> DbResult<bool> {
        let d = self.0;
        let r = sqlx::query(d.sql(
            "UPDATE invite_server_landing_confirms SET used_at = $1 \
             WHERE hash = $2 AND used_at IS NULL",
        ))
        .bind(micros(now))
        .bind(hash.to_owned())
        .execute(d.pool())
        .await
        .map_err(db)?;
        Ok(r.rows_affected() == 1)
    }
}
