//! Administration from the command line: a new domain owner, a new key.
//! Each prints a key once; none needs the server to be running.

use calinvite_core::EmailAddress;
use calinvite_core::lifecycle::{DomainOwner, OrganizerId, OwnerId, Scope, Store as _};

use crate::api::keys::{NewKeyBody, make_key_in};
use crate::server::Opened;

/// An administration command failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AdminError(String);

fn fail(e: impl std::fmt::Display) -> AdminError {
    AdminError(e.to_string())
}

/// Registers a domain owner for `domain` with the next free id, its
/// mailboxes `create@`, `rsvp@` and `bounces@` the domain, and makes its
/// key (returned, to be shown once). It takes the links base the server's
/// other owners carry (see [`crate::public::links`]); the first owner of a
/// database gets it at the next start, or from
/// [`update_owners`](crate::public::links::update_owners).
pub async fn add_owner(
    opened: &Opened,
    domain: &str,
    name: &str,
) -> Result<(DomainOwner, NewKeyBody), AdminError> {
    let (p, db) = (&opened.pipeline, &opened.db);
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let at = |local: &str| {
        EmailAddress::parse(&format!("{local}@{domain}"))
            .map_err(|e| AdminError(format!("{domain} is not a mail domain: {e}")))
    };
    let (ingest, reply, bounce) = (at("create")?, at("rsvp")?, at("bounces")?);
    let now = p.now();
    let mut id = db.max_owner().await.map_err(fail)?;
    for o in db.owners().await.map_err(fail)? {
        id = id.max(o.0);
    }
    let id = loop {
        id += 1;
        if p.store().owner(OwnerId(id)).await.map_err(fail)?.is_some() {
            continue;
        }
        if db.claim_owner(OwnerId(id), now).await.map_err(fail)? {
            break OwnerId(id);
        }
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(AdminError("a domain owner needs a name".into()));
    }
    let mut owner = DomainOwner::new(id, name, domain, ingest, reply, bounce);
    // The server's links base, which every owner it serves carries (the
    // start brings them all to the configured one).
    for other in db.owners().await.map_err(fail)? {
        if let Some(base) = p
            .store()
            .owner(other)
            .await
            .map_err(fail)?
            .and_then(|o| o.links_base)
        {
            owner.links_base = Some(base);
            break;
        }
    }
    p.register_owner(owner.clone()).await.map_err(fail)?;
    let key = make_key_in(db, id, None, "domain owner key", now)
        .await
        .map_err(fail)?;
    Ok((owner, key))
}

/// Makes a key for domain owner `owner` (or one of its organizers).
pub async fn create_key(
    opened: &Opened,
    owner: u64,
    organizer: Option<u64>,
    label: &str,
) -> Result<NewKeyBody, AdminError> {
    let p = &opened.pipeline;
    if p.store()
        .owner(OwnerId(owner))
        .await
        .map_err(fail)?
        .is_none()
    {
        return Err(AdminError(format!("there is no domain owner {owner}")));
    }
    if let Some(o) = organizer {
        let scope = Scope::new(OwnerId(owner), OrganizerId(o));
        if p.store().organizer(scope).await.map_err(fail)?.is_none() {
            return Err(AdminError(format!(
                "domain owner {owner} has no organizer {o}"
            )));
        }
    }
    make_key_in(
        &opened.db,
        OwnerId(owner),
        organizer.map(OrganizerId),
        label,
        p.now(),
    )
    .await
    .map_err(fail)
}
