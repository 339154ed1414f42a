//! Limits on what the public pages may send: per client address, per
//! recipient address and per organizer, each a rate with a burst of the
//! same size (a generic cell rate algorithm: one instant per key, the
//! moment its allowance is next fully back).
//!
//! Counted in this process's memory, bounded: past [`MAX_KEYS`] keys of
//! one kind, the keys whose allowance is full again are dropped (they are
//! the same as new ones); if that is not enough, the oldest half goes.
//! IPv6 clients are counted per /64 (one subscriber's whole network), so
//! that a client cannot step through its addresses.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

use calinvite_core::EmailAddress;
use calinvite_core::lifecycle::Scope;
use chrono::{DateTime, TimeDelta, Utc};

use crate::config::WebConfig;

/// Keys kept per kind before old ones are dropped.
pub const MAX_KEYS: usize = 100_000;

/// What is counted.
#[derive(Clone, Copy, Debug)]
pub enum Key<'a> {
    /// A client address (IPv6 per /64).
    Ip(IpAddr),
    /// A recipient address (case-insensitive).
    Address(&'a EmailAddress),
    /// An organizer.
    Organizer(Scope),
}

impl Key<'_> {
    fn kind(&self) -> usize {
        match self {
            Key::Ip(_) => 0,
            Key::Address(_) => 1,
            Key::Organizer(_) => 2,
        }
    }

    fn id(&self) -> String {
        match self {
            Key::Ip(IpAddr::V4(v4)) => v4.to_string(),
            Key::Ip(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let s = v6.segments();
                    format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
                }
            },
            Key::Address(a) => a.as_str().to_lowercase(),
            Key::Organizer(s) => format!("{}/{}", s.owner.0, s.organizer.0),
        }
    }

    /// What the limit is on, for people.
    pub fn describe(&self) -> &'static str {
        match self {
            Key::Ip(_) => "requests from your network",
            Key::Address(_) => "invitations to this address",
            Key::Organizer(_) => "invitations from this organizer's pages",
        }
    }
}

/// A limit was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limited {
    /// Which kind of limit (`ip`, `address`, `organizer`).
    pub kind: &'static str,
    /// What it is on, for people.
    pub what: &'static str,
    /// When to try again, in seconds.
    pub retry_after: u64,
}

struct Rate {
    /// Time per unit.
    interval: TimeDelta,
    /// The whole allowance (the burst), as time.
    period: TimeDelta,
}

impl Rate {
    fn new(per: u32, period: TimeDelta) -> Rate {
        let per = i32::try_from(per.max(1)).unwrap_or(i32::MAX);
        Rate {
            interval: period / per,
            period,
        }
    }
}

/// The limits of a server's public pages.
pub struct Limiter {
    rates: [Rate; 3],
    cells: [Mutex<HashMap<String, DateTime<Utc>>>; 3],
}

impl Limiter {
    /// The limits `config` sets.
    pub fn new(config: &WebConfig) -> Limiter {
        Limiter {
            rates: [
                Rate::new(config.per_ip_per_minute, TimeDelta::minutes(1)),
                Rate::new(config.per_address_per_hour, TimeDelta::hours(1)),
                Rate::new(config.per_organizer_per_hour, TimeDelta::hours(1)),
            ],
            cells: Default::default(),
        }
    }

    /// Takes `cost` units of `key`'s allowance at `now`, or says when to
    /// come back (taking nothing).
    pub fn check(&self, key: Key<'_>, cost: u32, now: DateTime<Utc>) -> Result<(), Limited> {
        let kind = key.kind();
        let rate = &self.rates[kind];
        let id = key.id();
        let mut cells = self.cells[kind]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let tat = cells.get(&id).copied().unwrap_or(now).max(now);
        let cost = i32::try_from(cost).unwrap_or(i32::MAX);
        let new_tat = tat + rate.interval * cost;
        let over = new_tat - now - rate.period;
        if over > TimeDelta::zero() {
            let retry = over.num_seconds().max(1);
            return Err(Limited {
                kind: ["ip", "address", "organizer"][kind],
                what: key.describe(),
                retry_after: u64::try_from(retry).unwrap_or(1),
            });
        }
        if cells.len() >= MAX_KEYS && !cells.contains_key(&id) {
            cells.retain(|_, t| *t > now);
            if cells.len() >= MAX_KEYS {
                tracing::warn!(
                    kind = ["ip", "address", "organizer"][kind],
                    "rate-limit table full: the oldest half of its keys are forgotten"
                );
                let mut by_age: Vec<DateTime<Utc>> = cells.values().copied().collect();
                by_age.sort_unstable();
                let cut = by_age[by_age.len() / 2];
                cells.retain(|_, t| *t > cut);
            }
        }
        cells.insert(id, new_tat);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calinvite_core::lifecycle::{OrganizerId, OwnerId};

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn limiter() -> Limiter {
        let c = WebConfig {
            per_ip_per_minute: 5,
            per_address_per_hour: 3,
            ..WebConfig::default()
        };
        Limiter::new(&c)
    }

    #[test]
    fn a_burst_is_held_at_its_limit_and_refills_with_time() {
        let l = limiter();
        let ip = Key::Ip("203.0.113.1".parse().unwrap());
        for _ in 0..5 {
            l.check(ip, 1, at(0)).unwrap();
        }
        let e = l.check(ip, 1, at(0)).unwrap_err();
        assert_eq!(e.kind, "ip");
        assert_eq!(e.retry_after, 12);
        // Another client is not affected.
        l.check(Key::Ip("203.0.113.2".parse().unwrap()), 1, at(0))
            .unwrap();
        // One unit back every 12 s.
        l.check(ip, 1, at(12)).unwrap();
        assert!(l.check(ip, 1, at(12)).is_err());
        // A refused request takes nothing.
        for _ in 0..10 {
            let _ = l.check(ip, 1, at(13));
        }
        l.check(ip, 1, at(24)).unwrap();
    }

    #[test]
    fn cost_counts_and_a_cost_above_the_burst_never_passes() {
        let l = limiter();
        let a = EmailAddress::parse("Guest@Example.net").unwrap();
        let b = EmailAddress::parse("guest@example.net").unwrap();
        l.check(Key::Address(&a), 2, at(0)).unwrap();
        // The same address, written otherwise.
        assert!(l.check(Key::Address(&b), 2, at(0)).is_err());
        l.check(Key::Address(&b), 1, at(0)).unwrap();
        assert!(l.check(Key::Address(&b), 4, at(100_000)).is_err());
        let org = Key::Organizer(Scope::new(OwnerId(1), OrganizerId(2)));
        l.check(org, 10_000, at(0)).unwrap();
        assert!(l.check(org, 1, at(0)).is_err());
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        let l = limiter();
        for i in 0..5 {
            let ip: IpAddr = format!("2001:db8:1:2::{i:x}").parse().unwrap();
            l.check(Key::Ip(ip), 1, at(0)).unwrap();
        }
        let other: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        assert!(l.check(Key::Ip(other), 1, at(0)).is_err());
        let next: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        l.check(Key::Ip(next), 1, at(0)).unwrap();
    }

    #[test]
    fn memory_stays_bounded() {
        let l = limiter();
        for i in 0..(MAX_KEYS as u32 + 10) {
            let ip = IpAddr::from(i.to_be_bytes());
            l.check(Key::Ip(ip), 1, at(0)).unwrap();
        }
        assert!(l.cells[0].lock().unwrap().len() <= MAX_KEYS);
    }
}
