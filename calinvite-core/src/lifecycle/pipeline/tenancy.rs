//! Room: tenancy. Administration commands that register who calinvite
//! serves — a domain owner with its three mailboxes, and the organizers
//! allowed to send under it — validated before they are written, and
//! [`SingleTenant`], the set-up of an application that serves one sending
//! domain and one organizer.
//!
//! Depends on the store only: registering reads and writes tenants, never
//! events, and queues nothing.

use super::*;
use crate::error::AddressError;
use crate::event::WebUrl;
use crate::lifecycle::model::{AllowEntry, OrganizerId};

impl<S: Store, T: Transport> Pipeline<S, T> {
    /// Adds or replaces a domain owner. Idempotent: registering the same
    /// owner again changes nothing.
    ///
    /// Refused as [`PipelineError::Misuse`] when its three mailboxes (ingest,
    /// reply, bounce) are not distinct, when one is outside its mail domain
    /// (the domain itself or a subdomain of it), or when another owner
    /// already serves one of them.
    #[tracing::instrument(name = "register_owner", skip_all, fields(owner = owner.id.0))]
    pub async fn register_owner(&self, owner: DomainOwner) -> Result<(), PipelineError> {
        let result = self.register_owner_checked(owner).await;
        if let Err(e) = &result {
            tracing::warn!(error_kind = error_kind(e), "register_owner failed");
        }
        result
    }

    async fn register_owner_checked(&self, owner: DomainOwner) -> Result<(), PipelineError> {
        check_owner(&owner)?;
        for mailbox in [&owner.ingest, &owner.reply, &owner.bounce] {
            if let Some(other) = self.store.owner_by_mailbox(mailbox).await?
                && other.id != owner.id
            {
                return Err(PipelineError::Misuse(format!(
                    "{mailbox} is already a mailbox of domain owner {}",
                    other.id.0
                )));
            }
        }
        Ok(self.store.put_owner(owner).await?)
    }

    /// Adds or replaces an organizer account under its domain owner.
    /// Idempotent. The owner must be registered first
    /// ([`PipelineError::NotFound`]); an account that allows no one is
    /// [`PipelineError::Misuse`].
    #[tracing::instrument(name = "register_organizer", skip_all, fields(owner = account.scope.owner.0, organizer = account.scope.organizer.0))]
    pub async fn register_organizer(&self, account: OrganizerAccount) -> Result<(), PipelineError> {
        self.owner(account.scope.owner).await?;
        if account.allow.is_empty() {
            return Err(PipelineError::Misuse(format!(
                "organizer {} allows no sender address",
                account.scope.organizer.0
            )));
        }
        Ok(self.store.put_organizer(account).await?)
    }

    /// Registers a single tenant — its domain owner, then its organizer —
    /// and returns the scope its commands run in. Idempotent: an application
    /// calls it at every start.
    pub async fn register(&self, tenant: &SingleTenant) -> Result<Scope, PipelineError> {
        self.register_owner(tenant.owner.clone()).await?;
        self.register_organizer(tenant.organizer.clone()).await?;
        Ok(tenant.scope())
    }
}

/// Checks an owner's mailboxes: distinct, and each in its mail domain.
fn check_owner(owner: &DomainOwner) -> Result<(), PipelineError> {
    let domain = owner.mail_domain.trim_end_matches('.').to_ascii_lowercase();
    if domain.is_empty() {
        return Err(PipelineError::Misuse(
            "a domain owner needs a mail domain".into(),
        ));
    }
    let mailboxes = [
        ("ingest", &owner.ingest),
        ("reply", &owner.reply),
        ("bounce", &owner.bounce),
    ];
    for (i, (role, a)) in mailboxes.iter().enumerate() {
        let d = a.domain().to_ascii_lowercase();
        if d != domain && !d.ends_with(&format!(".{domain}")) {
            return Err(PipelineError::Misuse(format!(
                "the {role} mailbox {a} is not in the mail domain {domain}"
            )));
        }
        if let Some((other, _)) = mailboxes[..i].iter().find(|(_, b)| b == a) {
            return Err(PipelineError::Misuse(format!(
                "the {role} and {other} mailboxes are the same ({a}); each needs its own"
            )));
        }
    }
    Ok(())
}

/// The set-up of an application that serves one sending domain: one domain
/// owner with the mailboxes `create@`, `rsvp@` and `bounces@` that domain
/// (changeable with [`mailboxes`](Self::mailboxes)), and one organizer
/// allowed to send as its own address. [`Pipeline::register`] writes it.
///
/// ```
/// use calinvite_core::lifecycle::SingleTenant;
///
/// let tenant = SingleTenant::new("events.example.com", "Billing", "billing@example.com")?;
/// assert_eq!(tenant.owner().reply.as_str(), "rsvp@events.example.com");
/// assert_eq!(tenant.organizer().notify.as_str(), "billing@example.com");
/// # Ok::<(), calinvite_core::AddressError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SingleTenant {
    owner: DomainOwner,
    organizer: OrganizerAccount,
}

impl SingleTenant {
    /// The scope of the one tenant.
    pub const SCOPE: Scope = Scope {
        owner: OwnerId(1),
        organizer: OrganizerId(1),
    };

    /// A tenant sending from `mail_domain` for the organizer
    /// `organizer_name <organizer_address>` (who also receives the notices
    /// and reports). The organizer's name is the name notices come from.
    pub fn new(
        mail_domain: &str,
        organizer_name: &str,
        organizer_address: &str,
    ) -> Result<Self, AddressError> {
        let domain = mail_domain
            .trim()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let at = |local: &str| EmailAddress::parse(&format!("{local}@{domain}"));
        let organizer = EmailAddress::parse(organizer_address)?;
        Ok(SingleTenant {
            owner: DomainOwner {
                id: Self::SCOPE.owner,
                name: organizer_name.to_owned(),
                mail_domain: domain.clone(),
                ingest: at("create")?,
                reply: at("rsvp")?,
                bounce: at("bounces")?,
                links_base: None,
                settings: Settings::default(),
            },
            organizer: OrganizerAccount {
                scope: Self::SCOPE,
                name: organizer_name.to_owned(),
                allow: vec![AllowEntry::Address(organizer.clone())],
                settings: None,
                notify: organizer,
            },
        })
    }

    /// Other local parts for the three mailboxes (in the same mail domain):
    /// where organizers invite calinvite, where replies come, where delivery
    /// reports come.
    pub fn mailboxes(
        mut self,
        ingest: &str,
        reply: &str,
        bounce: &str,
    ) -> Result<Self, AddressError> {
        let domain = self.owner.mail_domain.clone();
        let at = |local: &str| EmailAddress::parse(&format!("{local}@{domain}"));
        self.owner.ingest = at(ingest)?;
        self.owner.reply = at(reply)?;
        self.owner.bounce = at(bounce)?;
        Ok(self)
    }

    /// The name the domain owner is shown by: the sender of notices to the
    /// organizer (by default the organizer's name).
    pub fn owner_name(mut self, name: &str) -> Self {
        self.owner.name = name.to_owned();
        self
    }

    /// The base of web answer and unsubscribe links, when the application
    /// serves those pages.
    pub fn links_base(mut self, base: WebUrl) -> Self {
        self.owner.links_base = Some(base);
        self
    }

    /// The tenant's settings (approval, audience, authentication …).
    pub fn settings(mut self, settings: Settings) -> Self {
        self.owner.settings = settings;
        self
    }

    /// Allows one more sender (an address or a whole domain) to act as the
    /// organizer, by mail to the ingest mailbox.
    pub fn allow(mut self, entry: AllowEntry) -> Self {
        self.organizer.allow.push(entry);
        self
    }

    /// The scope every command of this tenant runs in.
    pub fn scope(&self) -> Scope {
        Self::SCOPE
    }

    /// The domain owner it registers.
    pub fn owner(&self) -> &DomainOwner {
        &self.owner
    }

    /// The organizer it registers.
    pub fn organizer(&self) -> &OrganizerAccount {
        &self.organizer
    }
}
