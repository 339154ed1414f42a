//! The public pages' table, and the one look-up they make in the store's:
//! which tenant an event code belongs to (a call-to-action link names only
//! the code). It reads `calinvite-store`'s `events` table (schema version
//! 5), as [`ServerDb::suppressions`](crate::ServerDb) reads its
//! suppressions.

use calinvite_core::EventCode;
use calinvite_core::lifecycle::{OrganizerId, OwnerId, Scope};
use sqlx::Row as _;

use crate::db::{DbResult, ServerDb, db, id, uid};

/// Each domain owner's call-to-action settings: the secret its signed
/// links are made with, and whether its links must be signed.
pub(super) const MIGRATION: &[&str] = &[
    "CREATE TABLE invite_server_cta (owner BIGINT PRIMARY KEY, secret TEXT NOT NULL, \
     signed_only BIGINT NOT NULL)",
];

/// A domain owner's call-to-action settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CtaSettings {
    /// The HMAC key of its signed links (32 random bytes, base64url).
    pub(crate) secret: String,
    /// Whether every link must carry a signature for its address.
    pub(crate) signed_only: bool,
}

/// The tenant of event `code`, whichever owner it is.
pub(crate) async fn event_scope(d: &ServerDb, code: &EventCode) -> DbResult<Option<Scope>> {
    let row = sqlx::query(d.sql("SELECT owner, organizer FROM events WHERE code = $1"))
        .bind(code.as_str().to_owned())
        .fetch_optional(d.pool())
        .await
        .map_err(db)?;
    row.map(|r| {
        Ok(Scope::new(
            OwnerId(uid(r.try_get::<i64, _>("owner").map_err(db)?)),
            OrganizerId(uid(r.try_get::<i64, _>("organizer").map_err(db)?)),
        ))
    })
    .transpose()
}

/// The owner's settings, made (with a new secret, links not required to be
/// signed) on first use. Two processes making them at once keep one.
pub(crate) async fn settings(d: &ServerDb, owner: OwnerId) -> DbResult<CtaSettings> {
    if let Some(s) = find(d, owner).await? {
        return Ok(s);
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| crate::db::DbError(format!("randomness: {e}")))?;
    use base64::Engine as _;
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let r = sqlx::query(
        d.sql("INSERT INTO invite_server_cta (owner, secret, signed_only) VALUES ($1, $2, 0)"),
    )
    .bind(id(owner.0)?)
    .bind(secret)
    .execute(d.pool())
    .await;
    match r {
        Ok(_) => {}
        Err(e) if crate::db::is_unique_violation(&e) => {}
        Err(e) => return Err(db(e)),
    }
    find(d, owner)
        .await?
        .ok_or_else(|| crate::db::DbError("the call-to-action settings vanished".into()))
}

/// The owner's settings, if made.
pub(crate) async fn find(d: &ServerDb, owner: OwnerId) -> DbResult<Option<CtaSettings>> {
    let row =
        sqlx::query(d.sql("SELECT secret, signed_only FROM invite_server_cta WHERE owner = $1"))
            .bind(id(owner.0)?)
            .fetch_optional(d.pool())
            .await
            .map_err(db)?;
    row.map(|r| {
        Ok(CtaSettings {
            secret: r.try_get("secret").map_err(db)?,
            signed_only: r.try_get::<i64, _>("signed_only").map_err(db)? != 0,
        })
    })
    .transpose()
}

/// Sets whether the owner's links must be signed.
pub(crate) async fn set_signed_only(
    d: &ServerDb,
    owner: OwnerId,
    on: bool,
) -> DbResult<CtaSettings> {
    settings(d, owner).await?;
    sqlx::query(d.sql("UPDATE invite_server_cta SET signed_only = $1 WHERE owner = $2"))
        .bind(i64::from(on))
        .bind(id(owner.0)?)
        .execute(d.pool())
        .await
        .map_err(db)?;
    settings(d, owner).await
}
