//! SPF, DKIM and DMARC verdicts with `mail-auth` (feature `auth`).
//!
//! [`MailAuthVerifier`] is the listener's [`Verifier`]: SPF for the peer and
//! the MAIL FROM (or HELO) identity, every DKIM signature, and DMARC for the
//! From domain, turned into the core's [`AuthVerdict`]
//! ([D7](calinvite_core::manual::design#d7)).
//!
//! Its DNS answers come from a cache that can be seeded. A verifier made with
//! [`MailAuthVerifier::offline`] never touches the network: names that were
//! not seeded do not exist. That is how tests check real signatures without
//! DNS.
//!
//! ```
//! use calinvite_smtp::auth::MailAuthVerifier;
//!
//! let verifier = MailAuthVerifier::offline();
//! verifier.seed_txt("example.org", "v=spf1 ip4:192.0.2.0/24 -all").unwrap();
//! verifier.seed_txt("_dmarc.example.org", "v=DMARC1; p=reject").unwrap();
//! ```

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use calinvite_core::inbound::{AuthResult, AuthVerdict};
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::dmarc::Dmarc;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::hickory_resolver::proto::op::ResponseCode;
use mail_auth::spf::Spf;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, DkimResult, DmarcResult, DnsError, DnssecStatus, MX,
    MessageAuthenticator, Parameters, RecordSet, ResolverCache, SpfResult, Txt,
};

use crate::listener::{Verifier, VerifyContext};

/// Why a record could not be seeded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeedError {
    /// The record is not valid SPF, DKIM key or DMARC syntax.
    #[error("the TXT record for {name} does not parse: {reason}")]
    Unparsable {
        /// The name.
        name: String,
        /// What the parser said.
        reason: String,
    },
}

/// Most answers kept from real DNS; the cache is emptied when full.
const CACHE_LIMIT: usize = 10_000;

/// Seeded records (forever) and answers from DNS (until they expire).
struct Cache<K, V> {
    entries: Mutex<HashMap<K, (V, Option<Instant>)>>,
    /// What a miss returns when offline; `None` when DNS may be asked.
    miss: Option<V>,
}

impl<K: Hash + Eq, V: Clone> Cache<K, V> {
    fn new(miss: Option<V>) -> Self {
        Cache {
            entries: Mutex::new(HashMap::new()),
            miss,
        }
    }

    fn seed(&self, key: K, value: V) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, (value, None));
    }
}

impl<K: Hash + Eq, V: Clone> ResolverCache<K, V> for Cache<K, V> {
    fn get<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        match entries.get(name) {
            // The adapter owns real time: DNS answers expire by the clock.
            #[allow(clippy::disallowed_methods)]
            Some((value, until)) if until.is_none_or(|u| u > Instant::now()) => Some(value.clone()),
            _ => self.miss.clone(),
        }
    }

    fn remove<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name)
            .map(|(v, _)| v)
    }

    fn insert(&self, key: K, value: V, valid_until: Instant) {
        if self.miss.is_some() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CACHE_LIMIT {
            entries.retain(|_, (_, until)| until.is_none());
        }
        entries.insert(key, (value, Some(valid_until)));
    }
}

struct Dns {
    txt: Cache<Box<str>, Txt>,
    mx: Cache<Box<str>, RecordSet<MX>>,
    ipv4: Cache<Box<str>, RecordSet<Ipv4Addr>>,
    ipv6: Cache<Box<str>, RecordSet<Ipv6Addr>>,
    ptr: Cache<IpAddr, RecordSet<Box<str>>>,
}

fn empty<T>() -> RecordSet<T> {
    RecordSet {
        rrset: Arc::from(Vec::new().into_boxed_slice()),
        dnssec_status: DnssecStatus::Indeterminate,
    }
}

/// A name as DNS keys it: lower case, with the root's trailing dot.
fn fqdn(name: &str) -> Box<str> {
    let mut n = name.trim().to_ascii_lowercase();
    if !n.ends_with('.') {
        n.push('.');
    }
    n.into_boxed_str()
}

/// The `mail-auth` verifier (see the module docs).
pub struct MailAuthVerifier {
    authenticator: MessageAuthenticator,
    dns: Dns,
}

impl std::fmt::Debug for MailAuthVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailAuthVerifier")
            .field("offline", &self.dns.txt.miss.is_some())
            .finish_non_exhaustive()
    }
}

impl MailAuthVerifier {
    /// Asks the system's resolvers (`/etc/resolv.conf`), caching answers for
    /// their TTL.
    pub fn system() -> io::Result<Self> {
        let authenticator = MessageAuthenticator::new_system_conf().map_err(io::Error::other)?;
        Ok(Self::with_authenticator(authenticator, false))
    }

    /// Asks nothing of the network: only seeded records exist.
    pub fn offline() -> Self {
        // Never queried: every cache answers every name.
        let authenticator = MessageAuthenticator::new(
            mail_auth::hickory_resolver::config::ResolverConfig::udp_and_tcp(
                &mail_auth::hickory_resolver::config::CLOUDFLARE,
            ),
            mail_auth::hickory_resolver::config::ResolverOpts::default(),
        );
        match authenticator {
            Ok(a) => Self::with_authenticator(a, true),
            // Building a resolver allocates only; it cannot fail in practice.
            Err(e) => unreachable!("an unused resolver failed to build: {e}"),
        }
    }

    fn with_authenticator(authenticator: MessageAuthenticator, offline: bool) -> Self {
        let missing = || {
            Txt::Error(mail_auth::Error::Dns(DnsError::RecordNotFound(
                ResponseCode::NXDomain,
            )))
        };
        MailAuthVerifier {
            authenticator,
            dns: Dns {
                txt: Cache::new(offline.then(missing)),
                mx: Cache::new(offline.then(empty)),
                ipv4: Cache::new(offline.then(empty)),
                ipv6: Cache::new(offline.then(empty)),
                ptr: Cache::new(offline.then(empty)),
            },
        }
    }

    /// Seeds a TXT record: an SPF policy (`v=spf1 …` at a domain), a DKIM key
    /// (at `selector._domainkey.domain`) or a DMARC policy (at `_dmarc.domain`).
    pub fn seed_txt(&self, name: &str, record: &str) -> Result<(), SeedError> {
        let key = fqdn(name);
        let bytes = record.as_bytes();
        let parsed: Result<Txt, mail_auth::Error> = if key.starts_with("_dmarc.") {
            Dmarc::parse(bytes).map(Txt::from)
        } else if key.contains("._domainkey.") {
            DomainKey::parse(bytes).map(Txt::from)
        } else {
            Spf::parse(bytes).map(Txt::from)
        };
        let txt = parsed.map_err(|e| SeedError::Unparsable {
            name: name.to_owned(),
            reason: e.to_string(),
        })?;
        self.dns.txt.seed(key, txt);
        Ok(())
    }

    /// Seeds the A records of `name`.
    pub fn seed_ipv4(&self, name: &str, addresses: Vec<Ipv4Addr>) {
        self.dns.ipv4.seed(
            fqdn(name),
            RecordSet {
                rrset: Arc::from(addresses.into_boxed_slice()),
                dnssec_status: DnssecStatus::Indeterminate,
            },
        );
    }

    /// Seeds the AAAA records of `name`.
    pub fn seed_ipv6(&self, name: &str, addresses: Vec<Ipv6Addr>) {
        self.dns.ipv6.seed(
            fqdn(name),
            RecordSet {
                rrset: Arc::from(addresses.into_boxed_slice()),
                dnssec_status: DnssecStatus::Indeterminate,
            },
        );
    }

    #[allow(clippy::type_complexity)]
    fn params<P>(
        &self,
        p: P,
    ) -> Parameters<
        '_,
        P,
        Cache<Box<str>, Txt>,
        Cache<Box<str>, RecordSet<MX>>,
        Cache<Box<str>, RecordSet<Ipv4Addr>>,
        Cache<Box<str>, RecordSet<Ipv6Addr>>,
        Cache<IpAddr, RecordSet<Box<str>>>,
    > {
        Parameters::new(p)
            .with_txt_cache(&self.dns.txt)
            .with_mx_cache(&self.dns.mx)
            .with_ipv4_cache(&self.dns.ipv4)
            .with_ipv6_cache(&self.dns.ipv6)
            .with_ptr_cache(&self.dns.ptr)
    }

    async fn verdict(&self, context: &VerifyContext<'_>, message: &[u8]) -> AuthVerdict {
        let helo = if context.helo.is_empty() {
            "unknown"
        } else {
            context.helo
        };
        let spf_output = self
            .authenticator
            .verify_spf(self.params(SpfParameters::verify(
                context.peer,
                helo,
                context.hostname,
                context.mail_from,
            )))
            .await;
        let spf = match spf_output.result() {
            SpfResult::Pass => AuthResult::Pass,
            SpfResult::Fail => AuthResult::Fail,
            SpfResult::SoftFail => AuthResult::SoftFail,
            SpfResult::Neutral => AuthResult::Neutral,
            SpfResult::TempError => AuthResult::TempError,
            SpfResult::PermError => AuthResult::PermError,
            SpfResult::None => AuthResult::None,
        };
        let Some(parsed) = AuthenticatedMessage::parse(message) else {
            return AuthVerdict {
                spf,
                dkim: Vec::new(),
                dmarc: AuthResult::None,
            };
        };
        let dkim_outputs = self.authenticator.verify_dkim(self.params(&parsed)).await;
        let dkim = dkim_outputs
            .iter()
            .filter_map(|o| {
                let domain = o.signature()?.d.to_ascii_lowercase();
                let result = match o.result() {
                    DkimResult::Pass => AuthResult::Pass,
                    DkimResult::Neutral(_) => AuthResult::Neutral,
                    DkimResult::Fail(_) => AuthResult::Fail,
                    DkimResult::PermError(_) => AuthResult::PermError,
                    DkimResult::TempError(_) => AuthResult::TempError,
                    DkimResult::None => AuthResult::None,
                };
                Some((domain, result))
            })
            .collect();
        let mail_from_domain = context.mail_from.rsplit_once('@').map_or(helo, |(_, d)| d);
        let dmarc_output = self
            .authenticator
            .verify_dmarc(self.params(DmarcParameters::new(
                &parsed,
                &dkim_outputs,
                mail_from_domain,
                &spf_output,
            )))
            .await;
        let dmarc = match dmarc_output.result() {
            DmarcResult::Pass => AuthResult::Pass,
            DmarcResult::Fail(_) => AuthResult::Fail,
            DmarcResult::TempError(_) => AuthResult::TempError,
            DmarcResult::PermError(_) => AuthResult::PermError,
            DmarcResult::None => AuthResult::None,
        };
        AuthVerdict { spf, dkim, dmarc }
    }
}

impl Verifier for MailAuthVerifier {
    async fn verify(&self, context: &VerifyContext<'_>, message: &[u8]) -> AuthVerdict {
        self.verdict(context, message).await
    }
}
