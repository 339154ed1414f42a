//! Who is asking: the client's address, taken from `X-Forwarded-For` only
//! when the connection comes from a proxy the operator trusts.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::state::AppState;

/// An address range (`10.0.0.0/8`, `::1`, `fd00::/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    /// Parses `a.b.c.d`, `a.b.c.d/n`, an IPv6 address or `v6/n`.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let text = text.trim();
        let (addr, bits) = match text.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (text, None),
        };
        let net: IpAddr = addr
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or range"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(b) => b
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { net, bits })
    }

    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as
    /// its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), self.bits),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), self.bits),
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let whole = usize::from(bits / 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    let rest = bits % 8;
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        (a[whole] & mask) == (b[whole] & mask)
    }
}

/// The client of a request: the connection's peer, or — when the peer is
/// a trusted proxy — the last address in `X-Forwarded-For` that is not a
/// trusted proxy itself (the one the outermost trusted proxy saw).
/// `X-Forwarded-For` from anyone else is ignored: a client could write
/// any address there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The client address of a request from `peer` with `forwarded`
/// (`X-Forwarded-For` values, in order) through `proxies`.
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded: impl Iterator<Item = &'a str>,
    proxies: &[Cidr],
) -> IpAddr {
    let trusted = |ip: IpAddr| proxies.iter().any(|p| p.contains(ip));
    if !trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev().take(32) {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            // A garbled hop: the last good one is all that can be said.
            return client;
        };
        client = ip;
        if !trusted(ip) {
            return ip;
        }
    }
    client
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // A router served without connect-info (an application's own
        // test) has no peer: everyone shares the unspecified address.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        Ok(ClientIp(client_address(
            peer,
            forwarded,
            state.web().proxies(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_parse_and_match() {
        let r = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(r.contains(ip("10.1.200.3")));
        assert!(!r.contains(ip("10.2.0.1")));
        assert!(r.contains(ip("::ffff:10.1.0.9")));
        let one = Cidr::parse("::1").unwrap();
        assert!(one.contains(ip("::1")));
        assert!(!one.contains(ip("::2")));
        assert!(Cidr::parse("fd00::/7").unwrap().contains(ip("fdab::1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "example.com", "::/129", "10.0.0.0/x", ""] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_believed_from_trusted_proxies_only() {
        let proxies = [Cidr::parse("10.0.0.0/8").unwrap()];
        let xff = ["203.0.113.9, 10.0.0.7"];
        // An untrusted peer: its header is ignored.
        assert_eq!(
            client_address(ip("198.51.100.1"), xff.into_iter(), &proxies),
            ip("198.51.100.1")
        );
        // Through two trusted proxies.
        assert_eq!(
            client_address(ip("10.0.0.2"), xff.into_iter(), &proxies),
            ip("203.0.113.9")
        );
        // A client that writes its own header in front gets its real
        // address, not the one it wrote.
        let spoofed = ["1.2.3.4, 203.0.113.9"];
        assert_eq!(
            client_address(ip("10.0.0.2"), spoofed.into_iter(), &proxies),
            ip("203.0.113.9")
        );
        // No header from a trusted proxy: the proxy itself.
        assert_eq!(
            client_address(ip("10.0.0.2"), std::iter::empty(), &proxies),
            ip("10.0.0.2")
        );
        // A garbled hop stops the walk.
        assert_eq!(
            client_address(ip("10.0.0.2"), ["nonsense, 10.0.0.3"].into_iter(), &proxies),
            ip("10.0.0.3")
        );
    }

    proptest! {
        #[test]
        fn an_untrusted_peer_is_always_the_client(peer in any::<[u8; 4]>(), header in ".{0,80}") {
            let proxies = [Cidr::parse("10.0.0.0/8").unwrap()];
            let peer = IpAddr::from(if peer[0] == 10 { [11, peer[1], peer[2], peer[3]] } else { peer });
            prop_assert_eq!(client_address(peer, [header.as_str()].into_iter(), &proxies), peer);
        }

        #[test]
        fn ranges_never_panic(text in ".{0,60}", probe in any::<[u8; 16]>()) {
            if let Ok(c) = Cidr::parse(&text) {
                let _ = c.contains(IpAddr::from(probe));
            }
        }
    }
}
