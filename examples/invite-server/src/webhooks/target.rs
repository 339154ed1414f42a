//! Where a webhook may be sent: server-side request forgery guards.
//!
//! A tenant names the URL, and the server calls it from inside its own
//! network; so a URL is refused unless it is `http` or `https`, carries no
//! user name or password, and its host resolves only to public addresses.
//! Loopback, private (RFC 1918), shared (carrier-grade NAT), link-local
//! (cloud metadata services live there), unique-local, multicast,
//! unspecified, documentation, benchmarking and other reserved ranges are
//! refused, for IPv4 and IPv6 alike, and an IPv6 address that embeds an
//! IPv4 one (IPv4-mapped, NAT64, 6to4) is judged by the IPv4 address it
//! reaches. `[webhooks] allow_private_targets` lifts the address rule (a
//! closed network, a test), never the others.
//!
//! The rule is applied when an endpoint is registered and again at every
//! send, on the addresses the connection will use: the client resolves
//! names through [`GuardedResolver`], which refuses a name that resolves to
//! any refused address, and connects only to the addresses it returned. A
//! name that resolved to a public address at registration and to a private
//! one later (DNS rebinding) is refused then. Redirects are never followed
//! and no proxy is used.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;

/// What kind of address an IP address is, for the target rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressClass {
    /// A public, routable unicast address: allowed.
    Public,
    /// This host (`127.0.0.0/8`, `::1`).
    Loopback,
    /// A private network (`10/8`, `172.16/12`, `192.168/16`), or the
    /// carrier-grade NAT range (`100.64/10`).
    Private,
    /// Link-local (`169.254/16`, `fe80::/10`): where cloud metadata
    /// services answer.
    LinkLocal,
    /// IPv6 unique-local (`fc00::/7`) or site-local (`fec0::/10`).
    UniqueLocal,
    /// Multicast or broadcast.
    Multicast,
    /// `0.0.0.0/8`, `::`.
    Unspecified,
    /// Documentation, benchmarking, protocol-assignment and other
    /// reserved ranges.
    Reserved,
}

impl AddressClass {
    /// Whether a webhook may be sent to an address of this class.
    pub fn is_public(self) -> bool {
        self == AddressClass::Public
    }

    fn describe(self) -> &'static str {
        match self {
            AddressClass::Public => "public",
            AddressClass::Loopback => "loopback",
            AddressClass::Private => "private",
            AddressClass::LinkLocal => "link-local",
            AddressClass::UniqueLocal => "unique-local",
            AddressClass::Multicast => "multicast",
            AddressClass::Unspecified => "unspecified",
            AddressClass::Reserved => "reserved",
        }
    }
}

/// The class of an IPv4 address.
pub fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, c, _] = ip.octets();
    match (a, b, c) {
        (0, ..) => AddressClass::Unspecified,
        (127, ..) => AddressClass::Loopback,
        (10, ..) | (192, 168, _) => AddressClass::Private,
        (172, 16..=31, _) | (100, 64..=127, _) => AddressClass::Private,
        (169, 254, _) => AddressClass::LinkLocal,
        (224..=239, ..) => AddressClass::Multicast,
        (255, 255, 255) if ip == Ipv4Addr::BROADCAST => AddressClass::Multicast,
        // 192.0.0/24 protocol assignments, 192.0.2/24, 198.51.100/24 and
        // 203.0.113/24 documentation, 198.18/15 benchmarking, 240/4 reserved.
        (192, 0, 0 | 2) | (198, 51, 100) | (203, 0, 113) | (198, 18..=19, _) | (240..=255, ..) => {
            AddressClass::Reserved
        }
        _ => AddressClass::Public,
    }
}

/// The class of an IPv6 address; one that embeds an IPv4 address
/// (IPv4-mapped `::ffff:0:0/96`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`)
/// takes that address's class.
pub fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if ip.is_unspecified() {
        return AddressClass::Unspecified;
    }
    if ip.is_loopback() {
        return AddressClass::Loopback;
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    match s {
        // IPv4-compatible (deprecated), the rest of ::/96.
        [0, 0, 0, 0, 0, 0, _, _] => AddressClass::Reserved,
        // NAT64, well-known prefix: the IPv4 address it reaches.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => classify_v4(embedded(hi, lo)),
        // NAT64 local-use prefix.
        [0x64, 0xff9b, 1, ..] => AddressClass::Private,
        // Discard-only.
        [0x100, 0, 0, 0, ..] => AddressClass::Reserved,
        // 6to4: the IPv4 address it reaches.
        [0x2002, hi, lo, ..] => classify_v4(embedded(hi, lo)),
        // IETF protocol assignments (Teredo included), documentation.
        [0x2001, 0x0000..=0x01ff, ..] | [0x2001, 0x0db8, ..] | [0x3fff, 0..=0x0fff, ..] => {
            AddressClass::Reserved
        }
        [first, ..] if first & 0xfe00 == 0xfc00 => AddressClass::UniqueLocal,
        [first, ..] if first & 0xffc0 == 0xfe80 => AddressClass::LinkLocal,
        [first, ..] if first & 0xffc0 == 0xfec0 => AddressClass::UniqueLocal,
        [first, ..] if first & 0xff00 == 0xff00 => AddressClass::Multicast,
        // Global unicast is 2000::/3; anything else is not assigned.
        [first, ..] if first & 0xe000 == 0x2000 => AddressClass::Public,
        _ => AddressClass::Reserved,
    }
}

/// The class of an address.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// Which targets a server allows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TargetPolicy {
    /// Allow non-public addresses (`[webhooks] allow_private_targets`).
    pub allow_private: bool,
}

impl TargetPolicy {
    /// Public addresses only, or any address.
    pub fn new(allow_private: bool) -> Self {
        TargetPolicy { allow_private }
    }

    /// The class of `ip` when it may not be sent to.
    pub fn refuse_address(self, ip: IpAddr) -> Option<AddressClass> {
        let class = classify(ip);
        (!self.allow_private && !class.is_public()).then_some(class)
    }
}

/// A webhook URL was refused: why, for the person who gave it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TargetError(pub String);

/// Longest URL taken, in bytes.
pub const MAX_URL_BYTES: usize = 2000;

/// Checks a URL's form: `http` or `https`, a host, no user name or
/// password, no fragment, at most [`MAX_URL_BYTES`]; an IP address as host
/// must be allowed by `policy`. A host name is checked when resolved
/// ([`check_resolved`], [`GuardedResolver`]).
pub fn check_url(text: &str, policy: TargetPolicy) -> Result<Url, TargetError> {
    let bad = |m: &str| Err(TargetError(m.to_owned()));
    if text.len() > MAX_URL_BYTES {
        return bad("longer than 2000 bytes");
    }
    if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return bad("a URL has no spaces or control characters");
    }
    let url = Url::parse(text).map_err(|e| TargetError(format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(TargetError(format!(
            "the scheme must be http or https, not {}",
            url.scheme()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return bad(
            "a URL with a user name or password is refused: authenticate with the signature",
        );
    }
    if url.fragment().is_some() {
        return bad("a URL with a fragment (#…) is refused");
    }
    match url.host() {
        None => return bad("the URL has no host"),
        Some(url::Host::Ipv4(ip)) => refuse(policy, IpAddr::V4(ip))?,
        Some(url::Host::Ipv6(ip)) => refuse(policy, IpAddr::V6(ip))?,
        Some(url::Host::Domain(d)) => {
            if d.ends_with('.') && d.len() == 1 {
                return bad("the URL has no host");
            }
        }
    }
    Ok(url)
}

fn refuse(policy: TargetPolicy, ip: IpAddr) -> Result<(), TargetError> {
    match policy.refuse_address(ip) {
        Some(class) => Err(TargetError(format!(
            "{ip} is a {} address; webhooks go to public addresses only",
            class.describe()
        ))),
        None => Ok(()),
    }
}

/// Resolves `host` and checks every address it resolves to: the addresses,
/// when all are allowed.
pub async fn check_resolved(
    host: &str,
    port: u16,
    policy: TargetPolicy,
) -> Result<Vec<SocketAddr>, TargetError> {
    let found: Vec<SocketAddr> = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio::net::lookup_host((host, port)),
    )
    .await
    .map_err(|_| TargetError(format!("{host} did not resolve within 10 s")))?
    .map_err(|e| TargetError(format!("{host} does not resolve: {e}")))?
    .collect();
    if found.is_empty() {
        return Err(TargetError(format!("{host} resolves to no address")));
    }
    for a in &found {
        if let Some(class) = policy.refuse_address(a.ip()) {
            return Err(TargetError(format!(
                "{host} resolves to {}, a {} address; webhooks go to public addresses only",
                a.ip(),
                class.describe()
            )));
        }
    }
    Ok(found)
}

/// The HTTP client's resolver: a name is resolved, and refused as a whole
/// when any of its addresses is not allowed, so the connection only ever
/// goes to an address that was checked.
#[derive(Clone, Copy, Debug)]
pub struct GuardedResolver {
    policy: TargetPolicy,
}

impl GuardedResolver {
    /// A resolver applying `policy`.
    pub fn new(policy: TargetPolicy) -> Arc<Self> {
        Arc::new(GuardedResolver { policy })
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let found = check_resolved(name.as_str(), 0, policy).await?;
            let addrs: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v4(s: &str) -> AddressClass {
        classify(s.parse().unwrap())
    }

    #[test]
    fn known_addresses_have_their_class() {
        use AddressClass::*;
        for (ip, want) in [
            ("8.8.8.8", Public),
            ("1.1.1.1", Public),
            ("93.184.216.34", Public),
            ("127.0.0.1", Loopback),
            ("127.255.255.254", Loopback),
            ("10.1.2.3", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("172.32.0.1", Public),
            ("192.168.1.1", Private),
            ("100.64.0.1", Private),
            ("100.128.0.1", Public),
            ("169.254.169.254", LinkLocal),
            ("224.0.0.1", Multicast),
            ("255.255.255.255", Multicast),
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Unspecified),
            ("192.0.2.1", Reserved),
            ("198.18.0.1", Reserved),
            ("240.0.0.1", Reserved),
            ("::", Unspecified),
            ("::1", Loopback),
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:10.0.0.1", Private),
            ("::ffff:8.8.8.8", Public),
            ("64:ff9b::a9fe:a9fe", LinkLocal),
            ("64:ff9b::808:808", Public),
            ("2002:7f00:1::", Loopback),
            ("fc00::1", UniqueLocal),
            ("fd12:3456::1", UniqueLocal),
            ("fe80::1", LinkLocal),
            ("fec0::1", UniqueLocal),
            ("ff02::1", Multicast),
            ("2001:db8::1", Reserved),
            ("2001::1", Reserved),
            ("::127.0.0.1", Reserved),
            ("2606:4700:4700::1111", Public),
            ("2a00:1450:4001:80b::200e", Public),
        ] {
            assert_eq!(v4(ip), want, "{ip}");
        }
    }

    #[test]
    fn urls_are_checked_for_form_and_literal_addresses() {
        let strict = TargetPolicy::new(false);
        let open = TargetPolicy::new(true);
        assert!(check_url("https://hooks.example.com/in?x=1", strict).is_ok());
        assert!(check_url("http://8.8.8.8:8080/", strict).is_ok());
        for (url, why) in [
            ("ftp://example.com/", "scheme"),
            ("file:///etc/passwd", "scheme"),
            ("https://user:pw@example.com/", "password"),
            ("https://user@example.com/", "password"),
            ("https://example.com/#x", "fragment"),
            ("https://example.com/ a", "spaces"),
            ("not a url", "spaces"),
            ("example.com/hook", "not a URL"),
            ("http://127.0.0.1:9/", "loopback"),
            ("http://[::1]/", "loopback"),
            ("http://[::ffff:127.0.0.1]/", "loopback"),
            ("http://10.0.0.1/", "private"),
            ("http://169.254.169.254/latest/meta-data/", "link-local"),
            ("http://[fd00::1]/", "unique-local"),
            ("http://0.0.0.0/", "unspecified"),
            ("http://2130706433/", "loopback"),
            ("http://0x7f.1/", "loopback"),
        ] {
            let e = check_url(url, strict).expect_err(url);
            assert!(e.0.contains(why), "{url}: {e}");
        }
        assert!(check_url("http://127.0.0.1:9/", open).is_ok());
        assert!(check_url(&format!("https://e.com/{}", "a".repeat(2000)), open).is_err());
    }

    #[tokio::test]
    async fn names_are_judged_by_what_they_resolve_to() {
        let strict = TargetPolicy::new(false);
        let e = check_resolved("localhost", 80, strict).await.unwrap_err();
        assert!(e.0.contains("loopback"), "{e}");
        let ok = check_resolved("localhost", 80, TargetPolicy::new(true))
            .await
            .unwrap();
        assert!(ok.iter().all(|a| a.ip().is_loopback()));
        let e = check_resolved("no-such-host.invalid", 80, strict)
            .await
            .unwrap_err();
        assert!(e.0.contains("does not resolve"), "{e}");
    }

    fn in_range(base: u32, prefix: u32) -> impl Strategy<Value = Ipv4Addr> {
        let size = 1u64 << (32 - prefix);
        (0..size).prop_map(move |off| Ipv4Addr::from(base.wrapping_add(off as u32)))
    }

    proptest! {
        /// Every address of every refused IPv4 range is refused, and so is
        /// its IPv4-mapped, NAT64 and 6to4 form.
        #[test]
        fn every_non_public_ipv4_range_is_refused_in_every_form(
            ip in prop_oneof![
                in_range(0x0000_0000, 8),
                in_range(0x0a00_0000, 8),
                in_range(0x6440_0000, 10),
                in_range(0x7f00_0000, 8),
                in_range(0xa9fe_0000, 16),
                in_range(0xac10_0000, 12),
                in_range(0xc000_0000, 24),
                in_range(0xc000_0200, 24),
                in_range(0xc0a8_0000, 16),
                in_range(0xc612_0000, 15),
                in_range(0xc633_6400, 24),
                in_range(0xcb00_7100, 24),
                in_range(0xe000_0000, 4),
                in_range(0xf000_0000, 4),
            ],
        ) {
            let strict = TargetPolicy::new(false);
            prop_assert!(!classify_v4(ip).is_public(), "{}", ip);
            prop_assert!(strict.refuse_address(IpAddr::V4(ip)).is_some());
            let n = u32::from(ip);
            let (hi, lo) = ((n >> 16) as u16, n as u16);
            for v6 in [
                ip.to_ipv6_mapped(),
                Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, hi, lo),
                Ipv6Addr::new(0x2002, hi, lo, 0, 0, 0, 0, 1),
            ] {
                prop_assert_eq!(classify_v6(v6), classify_v4(ip), "{}", v6);
            }
            prop_assert!(TargetPolicy::new(true).refuse_address(IpAddr::V4(ip)).is_none());
        }

        /// Every address of every refused IPv6 range is refused.
        #[test]
        fn every_non_public_ipv6_range_is_refused(
            (prefix, bits, rest) in prop_oneof![
                Just((0xfc00u16, 7u32)),
                Just((0xfe80, 10)),
                Just((0xfec0, 10)),
                Just((0xff00, 8)),
            ].prop_flat_map(|(p, b)| (Just(p), Just(b), any::<u128>())),
        ) {
            let keep = 128 - bits;
            let base = u128::from(prefix) << 112;
            let ip = Ipv6Addr::from(base | (rest & ((1u128 << keep) - 1)));
            prop_assert!(!classify_v6(ip).is_public(), "{}", ip);
        }

        /// Public addresses in ranges assigned to networks on the internet
        /// are allowed, in IPv4 and IPv4-mapped form alike.
        #[test]
        fn public_addresses_are_allowed(
            ip in prop_oneof![
                in_range(0x0800_0000, 8),
                in_range(0x5db8_0000, 13),
                in_range(0xd000_0000, 8),
            ],
            v6 in (0x2400u128..0x2c00).prop_flat_map(|p| (Just(p), any::<u128>()))
                .prop_map(|(p, r)| Ipv6Addr::from((p << 112) | (r >> 16))),
        ) {
            prop_assert_eq!(classify_v4(ip), AddressClass::Public);
            prop_assert_eq!(classify_v6(ip.to_ipv6_mapped()), AddressClass::Public);
            prop_assert_eq!(classify_v6(v6), AddressClass::Public, "{}", v6);
        }
    }
}
