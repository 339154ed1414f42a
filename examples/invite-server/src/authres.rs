//! Trusting a filtering gateway's `Authentication-Results` header
//! (RFC 8601): `[smtp] verify = "authentication-results"`.
//!
//! A listener behind a gateway that already checked SPF, DKIM and DMARC
//! (rspamd, OpenDMARC, a provider's inbound filter) can take the gateway's
//! results instead of checking again. The gateway writes them in an
//! `Authentication-Results` header that starts with its *authserv-id*; the
//! server is told that id (`[smtp] trusted_authserv_id`) and reads the
//! topmost header that carries it — the one the gateway added last, above
//! anything the sender wrote. Every other `Authentication-Results` header is
//! ignored.
//!
//! This is sound only when the gateway removes headers that carry its own
//! authserv-id from the mail it receives (RFC 8601 §5), and when the
//! listener cannot be reached except through the gateway: anyone who can
//! connect to the listener directly can write such a header. The tests use
//! it to give the listener a verdict on loopback.
//!
//! What is read: `spf=`, each `dkim=` (its domain from `header.d`, else the
//! domain of `header.i`) and `dmarc=`, with the results of RFC 8601 §2.7
//! (`hardfail` is `fail`; DKIM's `policy` is `fail`; anything unknown is
//! `none`). Comments and quoted strings are understood; the header is read
//! in one pass over at most the message's header section, and at most
//! [`MAX_DKIM`] signatures are kept.

use calinvite_core::inbound::{AuthResult, AuthVerdict};
use calinvite_smtp::listener::{Verifier, VerifyContext};

/// The most DKIM results kept from one header.
pub const MAX_DKIM: usize = 16;

/// A [`Verifier`] that reads the verdict from the `Authentication-Results`
/// header of one trusted authserv-id (see the [module](self) docs). A
/// message without one has no verdict (every result `none`).
#[derive(Clone, Debug)]
pub struct TrustedAuthResults {
    authserv_id: String,
}

impl TrustedAuthResults {
    /// Trusts the header of the gateway named `authserv_id` (compared
    /// without regard to case).
    pub fn new(authserv_id: impl Into<String>) -> Self {
        TrustedAuthResults {
            authserv_id: authserv_id.into().trim().to_ascii_lowercase(),
        }
    }
}

impl Verifier for TrustedAuthResults {
    async fn verify(&self, _: &VerifyContext<'_>, message: &[u8]) -> AuthVerdict {
        verdict_from(message, &self.authserv_id).unwrap_or_default()
    }
}

/// The verdict in the topmost `Authentication-Results` header of `message`
/// whose authserv-id is `authserv_id`; `None` when there is no such header.
pub fn verdict_from(message: &[u8], authserv_id: &str) -> Option<AuthVerdict> {
    header_fields(message)
        .filter(|(name, _)| name.eq_ignore_ascii_case("authentication-results"))
        .find_map(|(_, value)| parse(&value, authserv_id))
}

/// The header fields of a message (unfolded values), up to the empty line
/// that ends the header section.
fn header_fields(message: &[u8]) -> impl Iterator<Item = (String, String)> + '_ {
    let mut lines = message.split(|b| *b == b'\n').peekable();
    std::iter::from_fn(move || {
        loop {
            let line = lines.next()?;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                // The end of the header section: nothing more.
                while lines.next().is_some() {}
                return None;
            }
            if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
                // A continuation without a field before it: skipped.
                continue;
            }
            let text = String::from_utf8_lossy(line);
            let Some((name, first)) = text.split_once(':') else {
                continue;
            };
            let mut value = first.to_owned();
            while let Some(next) = lines.peek() {
                if !next.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
                    break;
                }
                let next = lines.next().unwrap_or_default();
                let next = next.strip_suffix(b"\r").unwrap_or(next);
                value.push(' ');
                value.push_str(String::from_utf8_lossy(next).trim());
            }
            return Some((name.trim().to_owned(), value));
        }
    })
}

/// The value split at `;` outside quoted strings, with comments removed.
fn clauses(value: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut depth = 0usize;
    let mut quoted = false;
    let mut escaped = false;
    for c in value.chars() {
        let current = out.last_mut();
        let Some(current) = current else { break };
        if escaped {
            if depth == 0 {
                current.push(c);
            }
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted || depth > 0 => escaped = true,
            '"' if depth == 0 => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            ';' if !quoted && depth == 0 => out.push(String::new()),
            _ if depth > 0 => {}
            _ => current.push(c),
        }
    }
    out.iter().map(|s| s.trim().to_owned()).collect()
}

/// The result keyword of RFC 8601 §2.7 as calinvite's result.
fn result(keyword: &str) -> AuthResult {
    match keyword.to_ascii_lowercase().as_str() {
        "pass" => AuthResult::Pass,
        "fail" | "hardfail" | "policy" => AuthResult::Fail,
        "softfail" => AuthResult::SoftFail,
        "neutral" => AuthResult::Neutral,
        "temperror" => AuthResult::TempError,
        "permerror" => AuthResult::PermError,
        _ => AuthResult::None,
    }
}

/// The verdict of one header value, when its authserv-id is `authserv_id`.
fn parse(value: &str, authserv_id: &str) -> Option<AuthVerdict> {
    let clauses = clauses(value);
    let mut parts = clauses.iter();
    let id = parts.next()?.split_whitespace().next()?;
    if !id.eq_ignore_ascii_case(authserv_id) {
        return None;
    }
    let mut verdict = AuthVerdict::default();
    let (mut spf, mut dmarc) = (None, None);
    for clause in parts {
        let mut words = clause.split_whitespace();
        let Some((method, outcome)) = words.next().and_then(|w| w.split_once('=')) else {
            continue;
        };
        let method = method.split('/').next().unwrap_or("").to_ascii_lowercase();
        let outcome = result(outcome.trim_matches('"'));
        let property = |name: &str| -> Option<String> {
            clause.split_whitespace().skip(1).find_map(|w| {
                let (k, v) = w.split_once('=')?;
                k.eq_ignore_ascii_case(name)
                    .then(|| v.trim_matches('"').to_ascii_lowercase())
            })
        };
        match method.as_str() {
            "spf" => {
                spf.get_or_insert(outcome);
            }
            "dmarc" => {
                dmarc.get_or_insert(outcome);
            }
            "dkim" if verdict.dkim.len() < MAX_DKIM => {
                let domain = property("header.d").or_else(|| {
                    property("header.i")
                        .map(|i| i.rsplit_once('@').map_or(i.as_str(), |(_, d)| d).to_owned())
                });
                if let Some(d) = domain.filter(|d| !d.is_empty()) {
                    verdict.dkim.push((d, outcome));
                }
            }
            _ => {}
        }
    }
    verdict.spf = spf.unwrap_or_default();
    verdict.dmarc = dmarc.unwrap_or_default();
    Some(verdict)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ID: &str = "mx.gateway.test";

    fn message(headers: &str) -> Vec<u8> {
        format!("{headers}From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n").into_bytes()
    }

    #[test]
    fn the_gateways_results_are_read() {
        let m = message(
            "Authentication-Results: MX.Gateway.test;\r\n\
             \tspf=pass smtp.mailfrom=a@example.org;\r\n\
             \tdkim=pass (good signature) header.d=Example.org header.s=s1;\r\n\
             \tdkim=fail header.i=@other.example;\r\n\
             \tdmarc=pass (p=reject) header.from=example.org\r\n",
        );
        let v = verdict_from(&m, ID).unwrap();
        assert_eq!(v.spf, AuthResult::Pass);
        assert_eq!(v.dmarc, AuthResult::Pass);
        assert_eq!(
            v.dkim,
            vec![
                ("example.org".to_owned(), AuthResult::Pass),
                ("other.example".to_owned(), AuthResult::Fail)
            ]
        );
    }

    #[test]
    fn only_the_trusted_id_counts_and_the_topmost_wins() {
        let forged = "Authentication-Results: attacker.example; dmarc=pass\r\n";
        assert_eq!(verdict_from(&message(forged), ID), None);
        let m = message(&format!(
            "Authentication-Results: {ID}; dmarc=fail\r\n\
             Authentication-Results: {ID}; dmarc=pass\r\n"
        ));
        assert_eq!(verdict_from(&m, ID).unwrap().dmarc, AuthResult::Fail);
        // A header in the body is no header.
        let body =
            format!("From: a@example.org\r\n\r\nAuthentication-Results: {ID}; dmarc=pass\r\n");
        assert_eq!(verdict_from(body.as_bytes(), ID), None);
        // `none` when nothing was checked.
        let none = message(&format!("Authentication-Results: {ID} 1; none\r\n"));
        assert_eq!(verdict_from(&none, ID), Some(AuthVerdict::default()));
    }

    #[test]
    fn comments_and_quotes_hide_nothing_and_add_nothing() {
        let m = message(&format!(
            "Authentication-Results: {ID}; dmarc=fail (not dmarc=pass; really) \
             reason=\"a; b\"; spf=softfail\r\n"
        ));
        let v = verdict_from(&m, ID).unwrap();
        assert_eq!((v.dmarc, v.spf), (AuthResult::Fail, AuthResult::SoftFail));
    }

    fn render(v: &AuthVerdict) -> String {
        let mut h = format!("Authentication-Results: {ID};\r\n\tspf={}", name(v.spf));
        for (d, r) in &v.dkim {
            h.push_str(&format!(";\r\n\tdkim={} header.d={d}", name(*r)));
        }
        h.push_str(&format!(";\r\n\tdmarc={}\r\n", name(v.dmarc)));
        h
    }

    fn name(r: AuthResult) -> &'static str {
        crate::db::result_name(r)
    }

    fn any_result() -> impl Strategy<Value = AuthResult> {
        prop_oneof![
            Just(AuthResult::Pass),
            Just(AuthResult::Fail),
            Just(AuthResult::SoftFail),
            Just(AuthResult::Neutral),
            Just(AuthResult::None),
            Just(AuthResult::TempError),
            Just(AuthResult::PermError),
        ]
    }

    proptest! {
        #[test]
        fn a_written_verdict_reads_back(
            spf in any_result(),
            dmarc in any_result(),
            dkim in proptest::collection::vec(("[a-z]{1,10}\\.[a-z]{2,5}", any_result()), 0..MAX_DKIM),
        ) {
            let v = AuthVerdict { spf, dkim, dmarc };
            let m = message(&render(&v));
            prop_assert_eq!(verdict_from(&m, ID), Some(v));
        }

        #[test]
        fn any_bytes_read_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = verdict_from(&bytes, ID);
        }

        #[test]
        fn any_header_value_reads_without_panic(value in "[ -~\t]{0,400}") {
            let m = message(&format!("Authentication-Results: {value}\r\n"));
            if let Some(v) = verdict_from(&m, ID) {
                prop_assert!(v.dkim.len() <= MAX_DKIM);
            }
        }
    }
}
