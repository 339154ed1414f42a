//! Signing secrets and signatures, per the Standard Webhooks specification.
//!
//! A secret is 32 random bytes, shown as `whsec_` and their base64. A
//! message is signed with HMAC-SHA256 over `{id}.{timestamp}.{body}` (the
//! body's exact bytes), and the signature sent as `v1,` and its base64. The
//! `webhook-signature` header holds one signature per secret in force,
//! space-separated: during a rotation, the new secret's and the previous
//! one's, so that a receiver still holding the previous secret verifies
//! every message.

use base64::Engine as _;
use hmac::{KeyInit as _, Mac as _};

/// What a secret's text starts with.
pub const SECRET_PREFIX: &str = "whsec_";

/// Random bytes in a new secret (the specification asks for 24 to 64).
const SECRET_BYTES: usize = 32;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// A signing secret. Its `Debug` shows nothing of it: it never reaches a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// A secret's text is not `whsec_` and the base64 of 24 to 64 bytes.
#[derive(Debug, thiserror::Error)]
#[error("not a signing secret (whsec_ and the base64 of 24 to 64 bytes)")]
pub struct BadSecret;

impl Secret {
    /// A new secret from the operating system's random source.
    pub fn generate() -> Result<Secret, getrandom::Error> {
        let mut bytes = vec![0u8; SECRET_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(Secret(bytes))
    }

    /// A secret from its text, as [`reveal`](Self::reveal) writes it.
    pub fn parse(text: &str) -> Result<Secret, BadSecret> {
        let encoded = text.strip_prefix(SECRET_PREFIX).ok_or(BadSecret)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| BadSecret)?;
        if !(24..=64).contains(&bytes.len()) {
            return Err(BadSecret);
        }
        Ok(Secret(bytes))
    }

    /// The secret's text, `whsec_…`: for its owner's eyes (shown once when
    /// made) and the server's table, never a log.
    pub fn reveal(&self) -> String {
        format!(
            "{SECRET_PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(&self.0)
        )
    }

    /// The `v1,` signature of a message: HMAC-SHA256 over
    /// `{id}.{timestamp}.{body}`, in base64.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        )
    }
}

/// The `webhook-signature` header: the message signed with every secret in
/// force (the current one first), space-separated.
pub fn signature_header(secrets: &[&Secret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The specification's own example, as its reference libraries test it:
    /// this secret, id, timestamp and body give this signature.
    #[test]
    fn the_specifications_example_signs_as_its_libraries_do() {
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_round_trip_and_bad_ones_are_refused() {
        let s = Secret::generate().unwrap();
        let text = s.reveal();
        assert!(text.starts_with("whsec_"));
        assert_eq!(Secret::parse(&text).unwrap(), s);
        assert_eq!(format!("{s:?}"), "Secret(…)");
        for bad in [
            "",
            "whsec_",
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_not base64!",
            "whsec_c2hvcnQ=",
        ] {
            assert!(Secret::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_rotation_sends_both_signatures() {
        let (new, old) = (Secret::generate().unwrap(), Secret::generate().unwrap());
        let h = signature_header(&[&new, &old], "msg_1", 1_700_000_000, b"{}");
        let parts: Vec<&str> = h.split(' ').collect();
        assert_eq!(
            parts,
            [
                new.sign("msg_1", 1_700_000_000, b"{}"),
                old.sign("msg_1", 1_700_000_000, b"{}")
            ]
        );
    }

    proptest! {
        /// A signature covers the id, the timestamp and every byte of the
        /// body: change any of them and it no longer matches.
        #[test]
        fn a_signature_covers_id_timestamp_and_body(
            id in "msg_[a-zA-Z0-9]{1,30}",
            ts in 0i64..4_000_000_000,
            body in proptest::collection::vec(any::<u8>(), 0..200),
            flip in any::<prop::sample::Index>(),
        ) {
            let s = Secret::generate().unwrap();
            let sig = s.sign(&id, ts, &body);
            prop_assert!(sig.starts_with("v1,"));
            prop_assert_eq!(&sig, &s.sign(&id, ts, &body));
            prop_assert_ne!(&sig, &s.sign(&format!("{id}x"), ts, &body));
            prop_assert_ne!(&sig, &s.sign(&id, ts + 1, &body));
            if !body.is_empty() {
                let mut changed = body.clone();
                let i = flip.index(changed.len());
                changed[i] ^= 1;
                prop_assert_ne!(&sig, &s.sign(&id, ts, &changed));
            }
            let other = Secret::generate().unwrap();
            prop_assert_ne!(&sig, &other.sign(&id, ts, &body));
        }
    }
}
