//! Organizers who are not registered yet: "send your invitation to
//! `create@`, then register with the address you used".
//!
//! The core takes mail to a domain owner's ingest mailbox only from
//! registered organizers; anything else is refused as `not-an-organizer`
//! and nobody is mailed ([D7](calinvite_core::manual::design#d7)). The
//! server adds, around that refusal and without changing it:
//!
//! 1. **Holding.** The listener's
//!    [`RefusalHook`](calinvite_smtp::listener::RefusalHook) ([`HoldHook`]) sees the
//!    refused message. A calendar request or cancellation from an address
//!    no organizer has is kept in `invite_server_held_messages` — its bytes,
//!    envelope and authentication verdict, exactly what the pipeline saw —
//!    for `[organizers] hold_hours` (72 by default), and the sender hears
//!    `250`. The same message arriving again is held once. Beyond
//!    `max_held_per_address`, `max_held_per_owner` or
//!    `max_held_bytes_per_owner` the message is refused as before (`550`),
//!    and the log says which limit. The refusal stays in the refusal log:
//!    that is what happened to the message when it arrived.
//! 2. **One instruction mail, only to a proven sender.** When the message
//!    passed DMARC (so its From address is proven), the domain owner allows
//!    self-registration, and the address was not mailed in the last
//!    `notice_interval_hours` (and the owner not more than
//!    `max_notices_per_owner_per_hour` times in the last hour), the sender
//!    gets one plain notice, through the server's transport: the invitation
//!    is held, and a sign-in link registers the address. It is sent at once
//!    rather than queued, because the queue keeps what it sent and the link
//!    is stored as its SHA-256 only; a transport that fails it frees the
//!    address for the next try. Anyone else gets nothing: no backscatter to
//!    forged senders.
//! 3. **Registration with proof of the mailbox.** The link carries a
//!    single-use, expiring 256-bit token; only its SHA-256 is stored. Opening
//!    it (`GET /register/{token}`) shows what will happen and changes
//!    nothing; the form's `POST` (with its CSRF check) registers the address
//!    as an organizer of the domain owner (its settings are the owner's) and
//!    re-ingests its held messages through the pipeline in arrival order, as
//!    if they had arrived just then: each is authenticated against the new
//!    organizer's policy with the verdict it arrived with, so a forged
//!    message held under someone's address does not become their event. The
//!    page shows the events made. An application starts the same
//!    registration for any address with `POST /v1/organizers/registrations`.
//! 4. **The owner vouches.** An organizer registered (or given more
//!    addresses) through `/v1/organizers` releases the held messages of
//!    every address it now has, the same way; a periodic sweep releases
//!    those of any address that became an organizer's some other way, and
//!    purges what expired.
//!
//! Self-registration is a switch per domain owner (`PATCH
//! /v1/owner/registration`), defaulting to `[organizers]
//! self_registration` (on). Off, messages are still held — for the owner to
//! register their senders — but no instruction mail goes out and mailed
//! links stop working; links the owner asked for through the API work.
//!
//! Logs name the sender's domain, never the address, the message or a
//! token; `/metrics` counts what was held, released, expired and discarded,
//! and the instruction mails sent or not sent (and why).
//!
//! [`RunningServer`](crate::RunningServer) wires all of it. An application
//! that mounts [`router`](crate::router) over its own listener installs
//! [`Newcomers::hook`] on its
//! [`InboundServer`](calinvite_smtp::listener::InboundServer), tells
//! [`Newcomers::set_link_base`] where its pages are served, and runs
//! [`Newcomers::spawn_sweeper`]; the state's [`Newcomers`] is
//! [`AppState::newcomers`](crate::AppState::newcomers).

mod hook;
pub(crate) mod pages;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use calinvite_core::EmailAddress;
use calinvite_core::inbound::InboundEnvelope;
use calinvite_core::lifecycle::{
    NoticeText, OrganizerAccount, Outcome, OwnerId, PipelineError, RefusalReason, Store as _,
    Transport as _,
};
use chrono::{DateTime, TimeDelta, Utc};

pub use hook::HoldHook;

use crate::config::OrganizersConfig;
use crate::db::{DbError, HeldRecord, LinkRecord, ServerDb};
use crate::state::ServerPipeline;

/// What the hook, the API and the pages share: the held messages, the
/// links, the counters.
pub struct Newcomers {
    pipeline: Arc<ServerPipeline>,
    db: ServerDb,
    config: OrganizersConfig,
    link_base: OnceLock<String>,
    counters: Counters,
    releasing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Newcomers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Newcomers")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Counters {
    held: AtomicU64,
    released: AtomicU64,
    expired: AtomicU64,
    discarded: AtomicU64,
    over_limit: AtomicU64,
    mail_sent: AtomicU64,
    mail_rate_limited: AtomicU64,
    mail_no_dmarc_pass: AtomicU64,
    mail_self_registration_off: AtomicU64,
    mail_suppressed: AtomicU64,
    mail_no_link_base: AtomicU64,
    registered_by_link: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Why a registration link was not sent.
#[derive(Debug)]
pub(crate) enum NotSent {
    /// The address was mailed at this time, within the interval.
    RateLimited(Option<DateTime<Utc>>),
    /// The address is suppressed for the owner.
    Suppressed(String),
    /// The server knows no URL to put in a link.
    NoLinkBase,
    /// The database or the store failed.
    Failed(String),
}

/// A link sent: when it stops working.
#[derive(Debug)]
pub(crate) struct Sent {
    pub(crate) expires_at: DateTime<Utc>,
}

/// What re-ingesting one held message did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Released {
    pub(crate) held: String,
    pub(crate) summary: Option<String>,
    /// `event-created`, `revision-sent`, `pending-approval`, `unchanged`,
    /// `cancelled`, `refused`, `ignored`, `still-held` …
    pub(crate) outcome: &'static str,
    pub(crate) event: Option<String>,
    pub(crate) detail: Option<String>,
}

/// The outcome's keyword and event code.
fn describe(outcome: &Outcome) -> (&'static str, Option<String>, Option<String>) {
    match outcome {
        Outcome::EventCreated(c) => ("event-created", Some(c.to_string()), None),
        Outcome::RevisionSent(c, _) => ("revision-sent", Some(c.to_string()), None),
        Outcome::PendingApproval(c, _) => ("pending-approval", Some(c.to_string()), None),
        Outcome::Unchanged(c) => ("unchanged", Some(c.to_string()), None),
        Outcome::Cancelled(c) => ("cancelled", Some(c.to_string()), None),
        Outcome::Refused(r) => (
            "refused",
            None,
            Some(format!("{}: {}", r.reason.as_str(), r.detail)),
        ),
        Outcome::Ignored(why) => ("ignored", None, Some((*why).to_owned())),
        _ => ("other", None, None),
    }
}

/// The domain of an address, for logs.
pub(crate) fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("-", |(_, d)| d)
}

/// Text from a message, for a notice or a page: no control characters, at
/// most `max` characters.
pub(crate) fn plain(s: &str, max: usize) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// A new link token (256 random bits, base64url) and its SHA-256.
fn token() -> Result<(String, String), getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = crate::keys::digest(&token);
    Ok((token, hash))
}

impl Newcomers {
    /// Over the pipeline and the server's tables, with `config`.
    pub fn new(pipeline: Arc<ServerPipeline>, db: ServerDb, config: OrganizersConfig) -> Self {
        Newcomers {
            pipeline,
            db,
            config,
            link_base: OnceLock::new(),
            counters: Counters::default(),
            releasing: tokio::sync::Mutex::new(()),
        }
    }

    /// The settings.
    pub fn config(&self) -> &OrganizersConfig {
        &self.config
    }

    /// Sets the URL sign-in links start with (the server's public URL; the
    /// first call wins). Without one, messages are held but no link is
    /// mailed.
    pub fn set_link_base(&self, url: &str) {
        let _ = self.link_base.set(url.trim_end_matches('/').to_owned());
    }

    /// Whether sign-in links are `https:` (the CSRF cookie is then `Secure`).
    pub(crate) fn links_are_https(&self) -> bool {
        self.link_base
            .get()
            .is_some_and(|b| b.to_ascii_lowercase().starts_with("https:"))
    }

    /// The listener's hook that holds messages (see the [module](self)).
    pub fn hook(self: &Arc<Self>) -> HoldHook {
        HoldHook(self.clone())
    }

    fn now(&self) -> DateTime<Utc> {
        self.pipeline.now()
    }

    pub(crate) fn db(&self) -> &ServerDb {
        &self.db
    }

    /// Whether `owner` lets senders register themselves.
    pub(crate) async fn self_registration(&self, owner: OwnerId) -> Result<bool, DbError> {
        Ok(self
            .db
            .self_registration(owner)
            .await?
            .unwrap_or(self.config.self_registration))
    }

    /// Mails `address` a sign-in link that registers it under `owner` as
    /// `name`: after a held message (`origin` `mail`), or because the owner
    /// asked (`api`). At most one per address per interval.
    pub(crate) async fn send_link(
        &self,
        owner: OwnerId,
        address: &EmailAddress,
        name: &str,
        summary: Option<&str>,
        origin: &'static str,
    ) -> Result<Sent, NotSent> {
        let failed = |e: &dyn std::fmt::Display| NotSent::Failed(e.to_string());
        let Some(base) = self.link_base.get() else {
            return Err(NotSent::NoLinkBase);
        };
        let now = self.now();
        let interval =
            TimeDelta::hours(i64::try_from(self.config.notice_interval_hours).unwrap_or(24));
        let claimed = self
            .db
            .claim_notice(owner, address.as_str(), now, now - interval)
            .await
            .map_err(|e| failed(&e))?;
        if !claimed {
            let at = self
                .db
                .noticed_at(owner, address.as_str())
                .await
                .map_err(|e| failed(&e))?;
            return Err(NotSent::RateLimited(at));
        }
        let (token, hash) = token().map_err(|e| failed(&e))?;
        let expires_at =
            now + TimeDelta::hours(i64::try_from(self.config.link_hours).unwrap_or(24));
        let link = LinkRecord {
            owner,
            address: address.as_str().to_owned(),
            name: name.to_owned(),
            origin: origin.to_owned(),
            created_at: now,
            expires_at,
            used_at: None,
            result: None,
        };
        self.db
            .insert_link(&hash, &link)
            .await
            .map_err(|e| failed(&e))?;
        let store = self.pipeline.store();
        let o = store
            .owner(owner)
            .await
            .map_err(|e| failed(&e))?
            .ok_or_else(|| NotSent::Failed(format!("no domain owner {}", owner.0)))?;
        let url = format!("{base}/register/{token}");
        let text = self.link_text(
            &o.name,
            o.ingest.as_str(),
            address,
            name,
            summary,
            origin,
            &url,
            expires_at,
        );
        // Written and sent here, never queued: the queue keeps what it sent,
        // and the link must be stored as its SHA-256 only.
        let (envelope, bytes) = match self.pipeline.compose_notice(owner, address, &text).await {
            Ok(m) => m,
            Err(PipelineError::Refused(r)) if r.reason == RefusalReason::Suppressed => {
                return Err(NotSent::Suppressed(r.detail));
            }
            Err(e) => {
                self.unclaim(owner, address).await;
                return Err(failed(&e));
            }
        };
        match self.pipeline.transport().send_raw(&envelope, &bytes).await {
            Ok(()) => Ok(Sent { expires_at }),
            Err(e) => {
                // Another try may go at once.
                self.unclaim(owner, address).await;
                Err(NotSent::Failed(if e.is_permanent() {
                    "the transport refused the message".into()
                } else {
                    "the transport could not take the message now".into()
                }))
            }
        }
    }

    async fn unclaim(&self, owner: OwnerId, address: &EmailAddress) {
        if let Err(e) = self.db.unclaim_notice(owner, address.as_str()).await {
            tracing::warn!(owner = owner.0, error = %e, "could not forget a mailing that failed");
        }
    }

    #[allow(clippy::too_many_arguments, reason = "the words of one notice")]
    fn link_text(
        &self,
        owner_name: &str,
        ingest: &str,
        address: &EmailAddress,
        name: &str,
        summary: Option<&str>,
        origin: &str,
        url: &str,
        expires_at: DateTime<Utc>,
    ) -> NoticeText {
        let addr = address.to_unicode();
        let until = expires_at.format("%Y-%m-%d %H:%M UTC");
        let hold = self.config.hold_hours;
        if origin == "mail" {
            let what = summary.map_or_else(
                || "your calendar invitation".to_owned(),
                |s| format!("your calendar invitation \u{201c}{s}\u{201d}"),
            );
            let subject = summary.map_or_else(
                || "Register to send your invitation".to_owned(),
                |s| format!("Register to send your invitation \u{201c}{s}\u{201d}"),
            );
            NoticeText::new(
                subject,
                format!(
                    "Hello {name},\n\n\
                     {owner_name} received {what} at {ingest}. {addr} is not registered \
                     as an organizer yet, so the invitation is held: it has not been sent \
                     to anyone.\n\n\
                     To register {addr} and turn your held invitations into events, open \
                     this link and press \"Register\":\n\n{url}\n\n\
                     The link works once, until {until}. Invitations are held for {hold} \
                     hours; those you send to {ingest} until you register are held too.\n\n\
                     If you did not send this invitation, ignore this message: nothing \
                     more happens.\n"
                ),
            )
        } else {
            NoticeText::new(
                format!("Register {addr} with {owner_name}"),
                format!(
                    "Hello {name},\n\n\
                     {owner_name} invites you to register {addr} as an organizer: calendar \
                     invitations you send from it to {ingest} then become events, and \
                     their invitations are sent for you. Invitations you sent there \
                     before are held for {hold} hours and become events when you \
                     register.\n\n\
                     To register, open this link and press \"Register\":\n\n{url}\n\n\
                     The link works once, until {until}.\n\n\
                     If you did not expect this message, ignore it: nothing happens.\n"
                ),
            )
        }
    }

    /// Re-ingests the messages held for `address` of `owner` through the
    /// pipeline, oldest first, and drops each that went through. Stops at
    /// the first failure of the store (what is left stays held).
    pub(crate) async fn release(
        &self,
        owner: OwnerId,
        address: &str,
    ) -> Result<Vec<Released>, String> {
        let _one_at_a_time = self.releasing.lock().await;
        let mut out = Vec::new();
        let mut after: Option<(DateTime<Utc>, String)> = None;
        loop {
            let page = self
                .db
                .held_page(
                    owner,
                    Some(address),
                    after.as_ref().map(|(t, i)| (*t, i.as_str())),
                    50,
                )
                .await
                .map_err(|e| e.to_string())?;
            let Some(last) = page.last() else { break };
            after = Some((last.received_at, last.id.clone()));
            for h in &page {
                out.push(self.release_one(owner, h).await?);
            }
        }
        if !out.is_empty() {
            tracing::info!(
                owner = owner.0,
                sender_domain = domain_of(address),
                released = out.iter().filter(|r| r.outcome != "still-held").count(),
                events = out.iter().filter(|r| r.outcome == "event-created").count(),
                "held invitations released"
            );
        }
        Ok(out)
    }

    async fn release_one(&self, owner: OwnerId, h: &HeldRecord) -> Result<Released, String> {
        let Some(raw) = self
            .db
            .held_raw(owner, &h.id)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(Released {
                held: h.id.clone(),
                summary: h.summary.clone(),
                outcome: "gone",
                event: None,
                detail: Some("released or purged meanwhile".into()),
            });
        };
        let envelope = InboundEnvelope {
            mail_from: Some(h.mail_from.clone()),
            rcpt_to: h.rcpt_to.clone(),
            peer: None,
        };
        let outcome = self
            .pipeline
            .receive(&raw, envelope, h.verdict.clone())
            .await
            .map_err(|e| e.to_string())?;
        if let Outcome::Refused(r) = &outcome
            && r.reason == RefusalReason::NotAnOrganizer
        {
            return Ok(Released {
                held: h.id.clone(),
                summary: h.summary.clone(),
                outcome: "still-held",
                event: None,
                detail: Some(r.detail.clone()),
            });
        }
        self.db
            .unhold(owner, &h.id)
            .await
            .map_err(|e| e.to_string())?;
        bump(&self.counters.released);
        let (outcome, event, detail) = describe(&outcome);
        Ok(Released {
            held: h.id.clone(),
            summary: h.summary.clone(),
            outcome,
            event,
            detail,
        })
    }

    /// Releases the held messages of every address `account` may send as
    /// (the domain owner registered it, or gave it more addresses). A
    /// failure is logged; what is left is released by the sweep.
    pub(crate) async fn release_allowed(&self, account: &OrganizerAccount) -> Vec<Released> {
        let owner = account.scope.owner;
        let senders = match self.db.held_senders().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the held senders");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (o, address) in senders.into_iter().filter(|(o, _)| *o == owner) {
            let allowed = EmailAddress::parse(&address).is_ok_and(|a| account.allows(&a));
            if !allowed {
                continue;
            }
            match self.release(o, &address).await {
                Ok(r) => out.extend(r),
                Err(e) => tracing::warn!(
                    owner = owner.0,
                    sender_domain = domain_of(&address),
                    error = %e,
                    "releasing held invitations stopped; the sweep takes them up"
                ),
            }
        }
        out
    }

    /// Purges what expired and releases the messages of addresses that
    /// became organizers.
    pub async fn sweep(&self) -> Result<(), String> {
        let now = self.now();
        let expired = self.db.expire_held(now).await.map_err(|e| e.to_string())?;
        if expired > 0 {
            self.counters.expired.fetch_add(expired, Ordering::Relaxed);
            tracing::info!(expired, "held invitations expired and purged");
        }
        // Links are kept a week past their end, to say "used" or "expired".
        self.db
            .expire_links(now - TimeDelta::days(7))
            .await
            .map_err(|e| e.to_string())?;
        let interval =
            TimeDelta::hours(i64::try_from(self.config.notice_interval_hours).unwrap_or(24));
        self.db
            .expire_notices(now - interval)
            .await
            .map_err(|e| e.to_string())?;
        let senders = self.db.held_senders().await.map_err(|e| e.to_string())?;
        let mut owner = None;
        let mut organizers = Vec::new();
        for (o, address) in senders {
            if owner != Some(o) {
                organizers = self
                    .pipeline
                    .store()
                    .organizers(o)
                    .await
                    .map_err(|e| e.to_string())?;
                owner = Some(o);
            }
            let allowed = EmailAddress::parse(&address)
                .is_ok_and(|a| organizers.iter().any(|acc| acc.allows(&a)));
            if allowed {
                self.release(o, &address).await?;
            }
        }
        Ok(())
    }

    /// Sweeps every `[organizers] purge_interval_seconds` until aborted.
    pub fn spawn_sweeper(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        let every = Duration::from_secs(self.config.purge_interval_seconds.max(1));
        tokio::spawn(async move {
            loop {
                if let Err(e) = me.sweep().await {
                    tracing::warn!(error = %e, "could not purge or release held invitations");
                }
                tokio::time::sleep(every).await;
            }
        })
    }

    /// The Prometheus lines of what was held, released and mailed.
    pub(crate) async fn metrics_text(&self) -> String {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut o = String::new();
        if let Ok(n) = self.db.held_total().await {
            o.push_str(
                "# HELP calinvite_held_messages Invitations from unregistered addresses held now.\n\
                 # TYPE calinvite_held_messages gauge\n",
            );
            o.push_str(&format!("calinvite_held_messages {n}\n"));
        }
        o.push_str(
            "# HELP calinvite_held_messages_total Invitations from unregistered addresses, by what became of them (this process).\n\
             # TYPE calinvite_held_messages_total counter\n",
        );
        for (what, n) in [
            ("held", get(&c.held)),
            ("released", get(&c.released)),
            ("expired", get(&c.expired)),
            ("discarded", get(&c.discarded)),
            ("over_limit", get(&c.over_limit)),
        ] {
            o.push_str(&format!(
                "calinvite_held_messages_total{{outcome=\"{what}\"}} {n}\n"
            ));
        }
        o.push_str(
            "# HELP calinvite_held_instruction_mails_total Instruction mails after a held invitation: sent, or why not (this process).\n\
             # TYPE calinvite_held_instruction_mails_total counter\n",
        );
        for (what, n) in [
            ("sent", get(&c.mail_sent)),
            ("rate_limited", get(&c.mail_rate_limited)),
            ("no_dmarc_pass", get(&c.mail_no_dmarc_pass)),
            ("self_registration_off", get(&c.mail_self_registration_off)),
            ("suppressed", get(&c.mail_suppressed)),
            ("no_link_base", get(&c.mail_no_link_base)),
        ] {
            o.push_str(&format!(
                "calinvite_held_instruction_mails_total{{result=\"{what}\"}} {n}\n"
            ));
        }
        o.push_str(
            "# HELP calinvite_held_registrations_total Addresses registered with a sign-in link (this process).\n\
             # TYPE calinvite_held_registrations_total counter\n",
        );
        o.push_str(&format!(
            "calinvite_held_registrations_total {}\n",
            get(&c.registered_by_link)
        ));
        o
    }

    pub(crate) fn count_discarded(&self) {
        bump(&self.counters.discarded);
    }

    pub(crate) fn count_registered(&self) {
        bump(&self.counters.registered_by_link);
    }
}
