//! The base of the links every invitation carries: web answers
//! (`{base}/rsvp/{token}/accept|tentative|decline`) and one-click
//! unsubscribe (`{base}/unsubscribe/{token}`, with `List-Unsubscribe` and
//! `List-Unsubscribe-Post`). It is the server's public URL (`[http]
//! public_url`, else `http://` and the listen address), kept on each
//! domain owner (`DomainOwner::links_base`), which the core composes from.
//!
//! A domain owner made by the server takes it when made; at every start,
//! each owner the server serves whose base differs is registered again with
//! the current one, so a changed `public_url` reaches the invitations sent
//! from then on (those already sent keep the links they carry).

use calinvite_core::WebUrl;
use calinvite_core::lifecycle::{DomainOwner, Store as _};

use crate::server::Opened;

/// The links base for a server reached at `public_url` (else at `listen`,
/// the bound HTTP address).
pub fn links_base(public_url: Option<&str>, listen: &str) -> Result<WebUrl, String> {
    let raw = match public_url.map(str::trim).filter(|u| !u.is_empty()) {
        Some(u) => u.trim_end_matches('/').to_owned(),
        None => format!("http://{listen}"),
    };
    WebUrl::parse(&raw).map_err(|e| format!("the public URL {raw:?} cannot start links: {e}"))
}

/// `owner` with `base` as its links base.
pub fn with_base(mut owner: DomainOwner, base: &WebUrl) -> DomainOwner {
    owner.links_base = Some(base.clone());
    owner
}

/// Registers again each domain owner the server serves whose links base is
/// not `base`; answers how many changed.
pub async fn update_owners(opened: &Opened, base: &WebUrl) -> Result<usize, String> {
    let fail = |e: &dyn std::fmt::Display| format!("the domain owners' links: {e}");
    let mut changed = 0;
    for id in opened.db.owners().await.map_err(|e| fail(&e))? {
        let store = opened.pipeline.store();
        let Some(owner) = store.owner(id).await.map_err(|e| fail(&e))? else {
            continue;
        };
        if owner.links_base.as_ref() == Some(base) {
            continue;
        }
        opened
            .pipeline
            .register_owner(with_base(owner, base))
            .await
            .map_err(|e| fail(&e))?;
        changed += 1;
    }
    if changed > 0 {
        tracing::info!(owners = changed, "domain owners' links base updated");
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_url_wins_over_the_listen_address_without_its_trailing_slash() {
        let b = links_base(Some("https://invites.example.com/"), "127.0.0.1:8080").unwrap();
        assert_eq!(b.as_str(), "https://invites.example.com");
        let b = links_base(None, "127.0.0.1:8080").unwrap();
        assert_eq!(b.as_str(), "http://127.0.0.1:8080");
        assert!(links_base(Some("ftp://x.example"), "127.0.0.1:1").is_err());
    }
}
