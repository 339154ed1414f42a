//! The listener's hook: holds what the core refused as `not-an-organizer`,
//! and mails a proven sender once.

use std::sync::Arc;

use calinvite_core::EmailAddress;
use calinvite_core::inbound::{AuthResult, InboundKind, parse_inbound};
use calinvite_core::lifecycle::{OwnerId, RefusalReason};
use calinvite_smtp::listener::{RefusalAction, RefusalFuture, RefusalHook, RefusedMessage};
use chrono::TimeDelta;
use sha2::{Digest as _, Sha256};

use super::{Newcomers, NotSent, bump, domain_of, plain};
use crate::db::HeldRecord;

/// The [`RefusalHook`] that holds invitations from addresses that are not
/// registered organizers yet ([`Newcomers::hook`]).
#[derive(Clone, Debug)]
pub struct HoldHook(pub(super) Arc<Newcomers>);

impl RefusalHook for HoldHook {
    fn refused<'a>(&'a self, message: RefusedMessage<'a>) -> RefusalFuture<'a> {
        Box::pin(self.0.hold(message))
    }
}

/// The outcome the listener logs for a held message.
const HELD: RefusalAction = RefusalAction::Taken { outcome: "held" };

impl Newcomers {
    async fn hold(self: &Arc<Self>, m: RefusedMessage<'_>) -> RefusalAction {
        if m.refusal.reason != RefusalReason::NotAnOrganizer || self.config.hold_hours == 0 {
            return RefusalAction::Keep;
        }
        let parsed = parse_inbound(
            m.raw,
            m.envelope,
            m.verdict,
            &self.pipeline.options().limits,
        );
        let Some(from) = parsed.from.clone() else {
            // Nobody to hold it for.
            return RefusalAction::Keep;
        };
        let (kind, identity, summary) = match &parsed.kind {
            InboundKind::OrganizerRequest(r) => ("request", &r.identity, &r.event.summary),
            InboundKind::OrganizerCancel(c) => ("cancel", &c.identity, &c.event.summary),
            _ => return RefusalAction::Keep,
        };
        let summary = summary.as_ref().map(|s| plain(s.as_str(), 200));
        let name = identity
            .organizer
            .as_ref()
            .filter(|o| *o.address() == from)
            .and_then(|o| o.name())
            .map(|n| plain(n.as_str(), 200))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| from.local_part().to_owned());
        let address = from.as_str().to_owned();
        let sender_domain = domain_of(&address).to_owned();
        let (owner, cfg) = (m.owner, &self.config);
        let (of_address, of_owner, bytes) = match self.db.held_counts(owner, &address).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(owner = owner.0, error = %e, trace = m.trace_id, "could not count held invitations; the sender is asked to retry");
                return RefusalAction::Retry;
            }
        };
        let size = m.raw.len() as u64;
        let over = if of_address >= cfg.max_held_per_address {
            Some(("max_held_per_address", cfg.max_held_per_address))
        } else if of_owner >= cfg.max_held_per_owner {
            Some(("max_held_per_owner", cfg.max_held_per_owner))
        } else if bytes.saturating_add(size) > cfg.max_held_bytes_per_owner {
            Some(("max_held_bytes_per_owner", cfg.max_held_bytes_per_owner))
        } else {
            None
        };
        if let Some((limit, value)) = over {
            bump(&self.counters.over_limit);
            tracing::info!(
                owner = owner.0,
                sender_domain,
                limit,
                value,
                trace = m.trace_id,
                "invitation from an unregistered address not held: the limit is reached; refused as before"
            );
            return RefusalAction::Keep;
        }
        let now = self.now();
        let Ok(id) = new_id() else {
            tracing::warn!(
                owner = owner.0,
                "the random source failed; the sender is asked to retry"
            );
            return RefusalAction::Retry;
        };
        let record = HeldRecord {
            id,
            owner,
            address: address.clone(),
            name: name.clone(),
            kind: kind.to_owned(),
            summary: summary.clone(),
            digest: Sha256::digest(m.as_arrived)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            mail_from: m.envelope.mail_from.clone().unwrap_or_default(),
            rcpt_to: m.envelope.rcpt_to.clone(),
            verdict: m.verdict.clone(),
            bytes: size,
            received_at: now,
            expires_at: now + TimeDelta::hours(i64::try_from(cfg.hold_hours).unwrap_or(72)),
        };
        match self.db.hold(&record, m.raw).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(
                    owner = owner.0,
                    sender_domain,
                    trace = m.trace_id,
                    "invitation from an unregistered address held already (a retry)"
                );
                return HELD;
            }
            Err(e) => {
                tracing::warn!(owner = owner.0, error = %e, trace = m.trace_id, "could not hold an invitation; the sender is asked to retry");
                return RefusalAction::Retry;
            }
        }
        bump(&self.counters.held);
        let dmarc = crate::db::result_name(m.verdict.dmarc);
        tracing::info!(
            owner = owner.0,
            sender_domain,
            kind,
            dmarc,
            bytes = size,
            hold_hours = cfg.hold_hours,
            trace = m.trace_id,
            "invitation from an unregistered address held"
        );
        self.instruct(owner, &from, &name, summary.as_deref(), m.verdict.dmarc)
            .await;
        HELD
    }

    /// Mails the sender of a held message once, when its From is proven:
    /// decided here, sent on a task of its own (the sender's server hears
    /// `250` without waiting for the outbound transport).
    async fn instruct(
        self: &Arc<Self>,
        owner: OwnerId,
        from: &EmailAddress,
        name: &str,
        summary: Option<&str>,
        dmarc: AuthResult,
    ) {
        let sender_domain = domain_of(from.as_str());
        let c = &self.counters;
        if dmarc != AuthResult::Pass {
            // Its From is not proven: a reply could go to someone forged.
            bump(&c.mail_no_dmarc_pass);
            tracing::info!(
                owner = owner.0,
                sender_domain,
                "no instruction mail: the message did not pass DMARC (no backscatter)"
            );
            return;
        }
        match self.self_registration(owner).await {
            Ok(true) => {}
            Ok(false) => {
                bump(&c.mail_self_registration_off);
                tracing::info!(
                    owner = owner.0,
                    sender_domain,
                    "no instruction mail: the domain owner switched self-registration off"
                );
                return;
            }
            Err(e) => {
                tracing::warn!(owner = owner.0, error = %e, "no instruction mail: the switch could not be read");
                return;
            }
        }
        let hour_ago = self.now() - TimeDelta::hours(1);
        match self.db.mail_links_since(owner, hour_ago).await {
            Ok(n) if n >= self.config.max_notices_per_owner_per_hour => {
                bump(&c.mail_rate_limited);
                tracing::info!(
                    owner = owner.0,
                    sender_domain,
                    max_notices_per_owner_per_hour = self.config.max_notices_per_owner_per_hour,
                    "no instruction mail: the domain owner's hourly limit is reached"
                );
                return;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(owner = owner.0, error = %e, "no instruction mail: the hourly count could not be read");
                return;
            }
        }
        let me = self.clone();
        let (from, name, summary) = (from.clone(), name.to_owned(), summary.map(str::to_owned));
        tokio::spawn(async move {
            me.mail_link(owner, &from, &name, summary.as_deref()).await;
        });
    }

    async fn mail_link(
        &self,
        owner: OwnerId,
        from: &EmailAddress,
        name: &str,
        summary: Option<&str>,
    ) {
        let sender_domain = domain_of(from.as_str());
        let c = &self.counters;
        match self.send_link(owner, from, name, summary, "mail").await {
            Ok(_) => {
                bump(&c.mail_sent);
                tracing::info!(
                    owner = owner.0,
                    sender_domain,
                    "instruction mail with a sign-in link sent"
                );
            }
            Err(NotSent::RateLimited(_)) => {
                bump(&c.mail_rate_limited);
                tracing::info!(
                    owner = owner.0,
                    sender_domain,
                    notice_interval_hours = self.config.notice_interval_hours,
                    "no instruction mail: the address was mailed within the interval"
                );
            }
            Err(NotSent::Suppressed(_)) => {
                bump(&c.mail_suppressed);
                tracing::info!(
                    owner = owner.0,
                    sender_domain,
                    "no instruction mail: the address is suppressed"
                );
            }
            Err(NotSent::NoLinkBase) => {
                bump(&c.mail_no_link_base);
                tracing::warn!(
                    owner = owner.0,
                    "no instruction mail: the server knows no public URL for the sign-in link"
                );
            }
            Err(NotSent::Failed(e)) => {
                tracing::warn!(owner = owner.0, sender_domain, error = %e, "no instruction mail: sending it failed");
            }
        }
    }
}

/// A held message's id: 16 random hex digits after `h_`.
fn new_id() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes)?;
    Ok(format!(
        "h_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}
