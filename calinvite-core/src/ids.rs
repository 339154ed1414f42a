//! Identifiers: event codes, invitation tokens and UIDs, SEQUENCE.
//!
//! All of them are made from bytes an [`IdSource`](crate::IdSource) supplies, so
//! the core draws no random number of its own.

use std::fmt;

use crate::IdSource;
use crate::clock::IdSourceError;
use crate::error::IdError;

/// Crockford's base32 alphabet in lower case: no `i`, `l`, `o`, `u`, so a code
/// read aloud or typed from paper survives.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

fn encode_base32(bytes: &[u8], out_len: usize) -> String {
    let mut out = String::with_capacity(out_len);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 && out.len() < out_len {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 && out.len() < out_len {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn decode_symbol(c: u8) -> Option<u8> {
    let c = c.to_ascii_lowercase();
    // Crockford's reading aids: i and l read as 1, o as 0.
    let c = match c {
        b'i' | b'l' => b'1',
        b'o' => b'0',
        c => c,
    };
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u8)
}

fn normalise_code(input: &str, len: usize) -> Option<String> {
    if input.len() != len {
        return None;
    }
    input
        .bytes()
        .map(|b| decode_symbol(b).map(|v| ALPHABET[v as usize] as char))
        .collect()
}

/// The short, URL-safe, unguessable code an event is known by in APIs, landing
/// pages and links: 16 symbols of Crockford base32, 80 random bits.
///
/// ```
/// use calinvite_core::EventCode;
/// let code = EventCode::parse("7K3M-9QXV-2C4D-8FJR".replace('-', "").as_str()).unwrap();
/// assert_eq!(code.as_str(), "7k3m9qxv2c4d8fjr");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventCode(String);

impl EventCode {
    /// Number of symbols in a code.
    pub const LEN: usize = 16;

    /// Draws a new code from `ids`, or says why the source could not supply one.
    pub fn try_generate(ids: &dyn IdSource) -> Result<Self, IdSourceError> {
        let mut bytes = [0u8; 10];
        ids.fill(&mut bytes)?;
        Ok(EventCode(encode_base32(&bytes, Self::LEN)))
    }

    /// Draws a new code from a source that does not fail (tests, tools with
    /// [`SequentialIds`](crate::SequentialIds)). The pipeline uses
    /// [`try_generate`](Self::try_generate).
    ///
    /// # Panics
    ///
    /// When the source fails.
    pub fn generate(ids: &dyn IdSource) -> Self {
        match Self::try_generate(ids) {
            Ok(x) => x,
            Err(e) => panic!("{e}"),
        }
    }

    /// A code that stands in until the real one is drawn (all zeros).
    pub(crate) fn placeholder() -> Self {
        EventCode("0".repeat(Self::LEN))
    }

    /// Parses a code, case-insensitively (Crockford's `i`/`l`/`o` accepted as `1`/`1`/`0`).
    pub fn parse(input: &str) -> Result<Self, IdError> {
        normalise_code(input.trim(), Self::LEN)
            .map(EventCode)
            .ok_or_else(|| IdError::EventCode(input.chars().take(40).collect()))
    }

    /// The code, lower case.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EventCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventCode({})", self.0)
    }
}

/// The secret that identifies one recipient's invitation: 26 symbols of
/// Crockford base32 (128 bits).
///
/// It is carried in that recipient's UID ([D1](crate::manual::design#d1)), in
/// their web RSVP and unsubscribe links, and in the idempotency key of every
/// message sent to them. A reply is matched to its invitation by this token,
/// never by an address.
///
/// The pipeline draws tokens with [`try_generate_at`](Self::try_generate_at):
/// the first [`TIME_SYMBOLS`](Self::TIME_SYMBOLS) symbols carry the time it
/// was drawn and the other 88 bits are random, so a store keyed by token
/// writes new invitations next to each other instead of at random places in
/// its indexes ([security](crate::manual::security#tokens) says why 88 random
/// bits are enough). A token drawn wholly at random
/// ([`try_generate`](Self::try_generate)) is just as valid: a token is only
/// ever compared whole.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InvitationToken(String);

impl InvitationToken {
    /// Number of symbols in a token.
    pub const LEN: usize = 26;

    /// Leading symbols that [`try_generate_at`](Self::try_generate_at) fills
    /// from the time (40 bits: milliseconds, wrapping every 34.8 years).
    pub const TIME_SYMBOLS: usize = 8;

    /// Draws a new token from `ids` (128 random bits), or says why the source
    /// could not supply one.
    pub fn try_generate(ids: &dyn IdSource) -> Result<Self, IdSourceError> {
        let mut bytes = [0u8; 16];
        ids.fill(&mut bytes)?;
        Ok(InvitationToken(encode_base32(&bytes, Self::LEN)))
    }

    /// Draws a new token for an invitation created at `at`: 40 bits of the
    /// time in milliseconds (modulo 2⁴⁰), then 88 random bits from `ids`.
    /// Tokens drawn later sort after earlier ones (within a wrap of 34.8
    /// years; tokens of one millisecond in random order), which is what keeps
    /// a store's writes of new invitations together. Deterministic for the
    /// same `at` and source.
    pub fn try_generate_at(
        ids: &dyn IdSource,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Self, IdSourceError> {
        const WRAP: i64 = 1 << 40;
        let millis = at.timestamp_millis().rem_euclid(WRAP).to_be_bytes();
        let mut bytes = [0u8; 16];
        // The low five bytes of the big-endian number: 40 bits, eight symbols.
        bytes[..5].copy_from_slice(&millis[3..]);
        ids.fill(&mut bytes[5..])?;
        Ok(InvitationToken(encode_base32(&bytes, Self::LEN)))
    }

    /// Draws a new token from a source that does not fail (tests, tools with
    /// [`SequentialIds`](crate::SequentialIds)). The pipeline uses
    /// [`try_generate`](Self::try_generate).
    ///
    /// # Panics
    ///
    /// When the source fails.
    pub fn generate(ids: &dyn IdSource) -> Self {
        match Self::try_generate(ids) {
            Ok(x) => x,
            Err(e) => panic!("{e}"),
        }
    }

    /// Parses a token, case-insensitively.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        normalise_code(input.trim(), Self::LEN)
            .map(InvitationToken)
            .ok_or(IdError::Token)
    }

    /// The token, lower case.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InvitationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for InvitationToken {
    // A token is a bearer secret: keep it out of logs that print structs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InvitationToken({}…)", &self.0[..4])
    }
}

/// The iCalendar UID of one recipient's copy of an event:
/// `{event code}-{token}@{domain}`.
///
/// Every recipient gets their own UID ([D1](crate::manual::design#d1)) so that
/// a reply names its invitation even when the attendee address in it is an
/// alias, and so that no one can answer for someone else without their token.
///
/// ```
/// use calinvite_core::{EventCode, InvitationToken, InvitationUid};
/// let uid = InvitationUid::parse("7k3m9qxv2c4d8fjr-0123456789abcdefghjkmnpqrs@events.example.com").unwrap();
/// assert_eq!(uid.event_code().as_str(), "7k3m9qxv2c4d8fjr");
/// assert_eq!(uid.token().as_str(), "0123456789abcdefghjkmnpqrs");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InvitationUid {
    event_code: EventCode,
    token: InvitationToken,
    domain: String,
}

impl InvitationUid {
    /// Puts together the UID of an invitation.
    pub fn new(
        event_code: EventCode,
        token: InvitationToken,
        domain: &str,
    ) -> Result<Self, IdError> {
        let domain = domain.trim().to_ascii_lowercase();
        let valid = !domain.is_empty()
            && domain.len() <= 253
            && domain.split('.').all(|l| {
                !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !valid {
            return Err(IdError::UidDomain(domain.chars().take(80).collect()));
        }
        Ok(InvitationUid {
            event_code,
            token,
            domain,
        })
    }

    /// Reads a UID back (from a reply); the token and code are checked for form only.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let input = input.trim();
        let (left, domain) = input.rsplit_once('@').ok_or(IdError::Uid)?;
        let (code, token) = left.split_once('-').ok_or(IdError::Uid)?;
        InvitationUid::new(
            EventCode::parse(code)?,
            InvitationToken::parse(token)?,
            domain,
        )
    }

    /// The event this invitation belongs to.
    pub fn event_code(&self) -> &EventCode {
        &self.event_code
    }

    /// The invitation's secret token.
    pub fn token(&self) -> &InvitationToken {
        &self.token
    }

    /// The domain part of the UID.
    pub fn domain(&self) -> &str {
        &self.domain
    }
}

impl fmt::Display for InvitationUid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}@{}", self.event_code, self.token, self.domain)
    }
}

/// calinvite's own revision counter for an event
/// ([D2](crate::manual::design#d2)): what recipients see as SEQUENCE. It rises
/// on every change that is sent out and never falls. 64 bits wide: real clients
/// send values that do not fit in 32
/// ([interop rule 20](crate::manual::interop#rule-20)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sequence(u64);

impl Sequence {
    /// SEQUENCE of a first revision.
    pub const INITIAL: Sequence = Sequence(0);

    /// A sequence number.
    pub const fn new(value: u64) -> Self {
        Sequence(value)
    }

    /// The number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The next number; saturates at `u64::MAX` rather than wrap to a stale value.
    #[must_use]
    pub const fn next(self) -> Self {
        Sequence(self.0.saturating_add(1))
    }
}

impl fmt::Display for Sequence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SequentialIds;

    #[test]
    fn codes_and_tokens_round_trip() {
        let ids = SequentialIds::new(7);
        let code = EventCode::generate(&ids);
        let token = InvitationToken::generate(&ids);
        assert_eq!(code.as_str().len(), EventCode::LEN);
        assert_eq!(token.as_str().len(), InvitationToken::LEN);
        assert_eq!(
            EventCode::parse(&code.as_str().to_uppercase()).unwrap(),
            code
        );
        let uid = InvitationUid::new(code.clone(), token.clone(), "Events.Example.com").unwrap();
        let back = InvitationUid::parse(&uid.to_string()).unwrap();
        assert_eq!(back, uid);
        assert_eq!(back.domain(), "events.example.com");
    }

    #[test]
    fn tokens_drawn_later_sort_after() {
        use chrono::{TimeZone, Utc};
        let ids = SequentialIds::new(3);
        let t0 = Utc.with_ymd_and_hms(2026, 12, 5, 20, 0, 0).unwrap();
        let mut last = InvitationToken::try_generate_at(&ids, t0).unwrap();
        for step in [1, 2, 999, 60_000, 86_400_000] {
            let at = t0 + chrono::TimeDelta::milliseconds(step);
            let next = InvitationToken::try_generate_at(&ids, at).unwrap();
            assert_eq!(next.as_str().len(), InvitationToken::LEN);
            assert!(next > last, "{next:?} after {last:?}");
            assert_eq!(InvitationToken::parse(next.as_str()).unwrap(), next);
            last = next;
        }
        // One millisecond: the same eight leading symbols, random after them.
        let a = InvitationToken::try_generate_at(&ids, t0).unwrap();
        let b = InvitationToken::try_generate_at(&ids, t0).unwrap();
        assert_eq!(
            a.as_str()[..InvitationToken::TIME_SYMBOLS],
            b.as_str()[..InvitationToken::TIME_SYMBOLS]
        );
        assert_ne!(a, b);
        // The same time and source give the same token.
        assert_eq!(
            InvitationToken::try_generate_at(&SequentialIds::new(9), t0).unwrap(),
            InvitationToken::try_generate_at(&SequentialIds::new(9), t0).unwrap()
        );
    }

    #[test]
    fn a_token_holds_88_bits_from_the_source() {
        use chrono::{TimeZone, Utc};
        let at = Utc.with_ymd_and_hms(2026, 12, 5, 20, 0, 0).unwrap();
        // All ones from the source: every symbol after the time is 'z' but
        // the last, which holds the last three bits and two of padding.
        struct Ones;
        impl IdSource for Ones {
            fn fill(&self, dest: &mut [u8]) -> Result<(), IdSourceError> {
                assert_eq!(dest.len(), 11, "88 random bits are drawn");
                dest.fill(0xff);
                Ok(())
            }
        }
        let t = InvitationToken::try_generate_at(&Ones, at).unwrap();
        let s = t.as_str();
        assert_eq!(&s[InvitationToken::TIME_SYMBOLS..25], "zzzzzzzzzzzzzzzzz");
        assert_eq!(&s[25..], "w");
        // Before 1970 the time wraps instead of failing.
        let early = Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0).unwrap();
        assert!(InvitationToken::try_generate_at(&Ones, early).is_ok());
    }

    #[test]
    fn base32_uses_every_bit() {
        assert_eq!(encode_base32(&[0xff; 10], 16), "zzzzzzzzzzzzzzzz");
        assert_eq!(encode_base32(&[0; 10], 16), "0000000000000000");
        assert_eq!(
            encode_base32(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0], 16),
            "g000000000000000"
        );
    }

    #[test]
    fn rejects_malformed_identifiers() {
        assert!(EventCode::parse("short").is_err());
        assert!(EventCode::parse("7k3m9qxv2c4d8fj!").is_err());
        assert!(InvitationUid::parse("no-at-sign").is_err());
        assert!(
            InvitationUid::parse("7k3m9qxv2c4d8fjr-0123456789abcdefghjkmnpqrs@bad domain").is_err()
        );
    }
}
