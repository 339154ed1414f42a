//! API keys: `cik_` + a public id + `_` + a 256-bit random secret.
//!
//! A key is shown once, when it is made. The server keeps its id (to find
//! it) and the SHA-256 of its secret (to check it), never the secret: a
//! copy of the database lets no one call the API. The secret has 256 bits
//! of entropy, so a fast hash is enough (there is nothing to guess), and the
//! digests are compared in constant time. The `cik_` prefix lets secret
//! scanners and people recognise a key that leaked.

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// What every key starts with.
pub const PREFIX: &str = "cik_";
/// Length of the public id (hex digits).
const ID_LEN: usize = 16;

/// A key just made: the whole key (to show once) and what is stored.
#[derive(Clone)]
pub(crate) struct NewKey {
    /// The public id (`cik_` + 16 hex digits): listed, revoked by.
    pub(crate) id: String,
    /// The SHA-256 of the secret, hex.
    pub(crate) hash: String,
    /// The whole key, to hand over once and forget.
    pub(crate) key: String,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Makes a key from the operating system's random source.
pub(crate) fn generate() -> Result<NewKey, getrandom::Error> {
    let mut id = [0u8; ID_LEN / 2];
    let mut secret = [0u8; 32];
    getrandom::fill(&mut id)?;
    getrandom::fill(&mut secret)?;
    let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    Ok(NewKey {
        id: format!("{PREFIX}{id}"),
        hash: digest(&secret),
        key: format!("{PREFIX}{id}_{secret}"),
    })
}

/// Splits a presented key into its id and secret; `None` when it is not a
/// key's shape.
pub(crate) fn split(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(PREFIX)?;
    if rest.len() < ID_LEN + 2 || !rest.is_char_boundary(ID_LEN) {
        return None;
    }
    let (hex, tail) = rest.split_at(ID_LEN);
    let secret = tail.strip_prefix('_')?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) || secret.len() > 128 {
        return None;
    }
    Some((&key[..PREFIX.len() + ID_LEN], secret))
}

/// The stored form of a secret: its SHA-256, hex.
pub(crate) fn digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `secret` is the one whose digest is `stored`, compared in
/// constant time.
pub(crate) fn matches(secret: &str, stored: &str) -> bool {
    let given = digest(secret);
    given.as_bytes().ct_eq(stored.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_checks_against_its_stored_digest_only() {
        let k = generate().unwrap();
        assert!(k.key.starts_with("cik_"));
        assert_eq!(k.id.len(), 4 + 16);
        let (id, secret) = split(&k.key).unwrap();
        assert_eq!(id, k.id);
        assert_eq!(secret.len(), 43, "32 bytes, base64url");
        assert!(matches(secret, &k.hash));
        assert!(!k.hash.contains(secret));
        let other = generate().unwrap();
        assert_ne!(other.key, k.key);
        assert!(!matches(split(&other.key).unwrap().1, &k.hash));
        assert!(!format!("{k:?}").contains(secret), "Debug shows no secret");
    }

    #[test]
    fn malformed_keys_are_not_keys() {
        for bad in [
            "",
            "cik_",
            "cik_0123456789abcdef",
            "cik_0123456789abcdef_",
            "cik_0123456789abcdeg_secret",
            "Bearer cik_0123456789abcdef_x",
            "cik_012345678é9abcdef_x",
            "xyz_0123456789abcdef_secret",
        ] {
            assert!(split(bad).is_none(), "{bad:?}");
        }
        assert_eq!(
            split("cik_0123456789abcdef_s_e-c"),
            Some(("cik_0123456789abcdef", "s_e-c"))
        );
    }
}
