//! Email addresses and mailboxes, normalised once
//! ([interop rule 18](crate::manual::interop#rule-18)).

use std::fmt;

use crate::error::AddressError;
use crate::text::Name;

/// An email address in its normalised form.
///
/// Parsing accepts a bare `local@domain` or a `mailto:` URI (any case of the
/// scheme, percent-encoded octets decoded), trims surrounding whitespace and
/// angle brackets, and lower-cases the whole address: calendar clients compare
/// addresses case-insensitively, so calinvite stores the one form they agree on.
/// Two addresses are equal exactly when their normalised forms are; there is no
/// substring matching anywhere.
///
/// Internationalised addresses (RFC 6531, non-ASCII) are refused for now with
/// [`AddressError::NonAscii`]: they would need SMTPUTF8 end to end.
///
/// ```
/// use calinvite_core::EmailAddress;
/// let a = EmailAddress::parse("MAILTO:Ana.Nunez%40Example.ORG").unwrap();
/// assert_eq!(a.as_str(), "ana.nunez@example.org");
/// assert_eq!(a.domain(), "example.org");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress {
    normalised: String,
    at: usize,
}

/// Longest address RFC 5321 lets through a relay (its path limit less `<>`).
const MAX_ADDRESS_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;

impl EmailAddress {
    /// Parses and normalises an address or `mailto:` URI.
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        let mut s = input.trim();
        if let Some(inner) = s.strip_prefix('<').and_then(|r| r.strip_suffix('>')) {
            s = inner.trim();
        }
        let decoded;
        if s.len() >= 7 && s.as_bytes()[..7].eq_ignore_ascii_case(b"mailto:") {
            let uri = &s[7..];
            // A mailto URI may carry ?subject=… headers: they are not part of the address.
            let uri = uri.split_once('?').map_or(uri, |(addr, _)| addr);
            decoded = percent_decode(uri)?;
            s = decoded.trim();
        }
        if s.is_empty() {
            return Err(AddressError::Empty);
        }
        if !s.is_ascii() {
            return Err(AddressError::NonAscii);
        }
        if s.len() > MAX_ADDRESS_LEN {
            return Err(AddressError::TooLong { len: s.len() });
        }
        let at = s.rfind('@').ok_or(AddressError::MissingAt)?;
        let (local, domain) = (&s[..at], &s[at + 1..]);
        validate_local(local)?;
        validate_domain(domain)?;
        Ok(EmailAddress {
            normalised: s.to_ascii_lowercase(),
            at,
        })
    }

    /// The normalised address, `local@domain`.
    pub fn as_str(&self) -> &str {
        &self.normalised
    }

    /// The part before the `@`.
    pub fn local_part(&self) -> &str {
        &self.normalised[..self.at]
    }

    /// The domain, lower case.
    pub fn domain(&self) -> &str {
        &self.normalised[self.at + 1..]
    }

    /// The address as a `mailto:` URI (RFC 6068). Characters an address may hold
    /// but a URI path may not (`%`, `?`, `#`, `^`, `` ` ``, `{`, `|`, `}`) are
    /// percent-encoded: written raw, `a?b@example.org` would read back as `a`.
    pub(crate) fn mailto_uri(&self) -> String {
        let mut s = String::with_capacity(self.normalised.len() + 7);
        s.push_str("mailto:");
        for b in self.normalised.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b) {
                s.push(b as char);
            } else {
                s.push_str(&format!("%{b:02X}"));
            }
        }
        s
    }
}

fn percent_decode(s: &str) -> Result<String, AddressError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .ok_or(AddressError::BadPercentEncoding)?;
            let hi = (hex[0] as char).to_digit(16);
            let lo = (hex[1] as char).to_digit(16);
            match (hi, lo) {
                (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                _ => return Err(AddressError::BadPercentEncoding),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| AddressError::BadPercentEncoding)
}

fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

fn validate_local(local: &str) -> Result<(), AddressError> {
    if local.is_empty() {
        return Err(AddressError::EmptyLocalPart);
    }
    if local.len() > MAX_LOCAL_LEN {
        return Err(AddressError::LocalPartTooLong { len: local.len() });
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(AddressError::BadDots);
    }
    match local.bytes().find(|&b| b != b'.' && !is_atext(b)) {
        Some(b) => Err(AddressError::InvalidCharacter(b as char)),
        None => Ok(()),
    }
}

fn validate_domain(domain: &str) -> Result<(), AddressError> {
    if domain.is_empty() {
        return Err(AddressError::EmptyDomain);
    }
    if domain.len() > 253 {
        return Err(AddressError::InvalidDomain);
    }
    for label in domain.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return Err(AddressError::InvalidDomain);
        }
    }
    Ok(())
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.normalised)
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({})", self.normalised)
    }
}

impl std::str::FromStr for EmailAddress {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EmailAddress::parse(s)
    }
}

/// An address with an optional display name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mailbox {
    address: EmailAddress,
    name: Option<Name>,
}

impl Mailbox {
    /// A mailbox with no display name.
    pub fn new(address: EmailAddress) -> Self {
        Mailbox {
            address,
            name: None,
        }
    }

    /// A mailbox with a display name; a name that normalises to nothing is dropped.
    pub fn with_name(address: EmailAddress, name: impl AsRef<str>) -> Self {
        Mailbox {
            address,
            name: Name::new(name),
        }
    }

    /// The address.
    pub fn address(&self) -> &EmailAddress {
        &self.address
    }

    /// The display name, if any.
    pub fn name(&self) -> Option<&Name> {
        self.name.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_scheme_and_percent_encoding() {
        for input in [
            "ana@example.org",
            "ANA@Example.ORG",
            "mailto:ana@example.org",
            "MAILTO:Ana@example.org",
            "mailto:ana%40example.org",
            " <ana@example.org> ",
            "mailto:ana@example.org?subject=hi",
        ] {
            assert_eq!(
                EmailAddress::parse(input).unwrap().as_str(),
                "ana@example.org",
                "{input}"
            );
        }
    }

    #[test]
    fn mailto_uris_read_back_as_the_same_address() {
        for input in [
            "ana@example.org",
            "a?b@example.org",
            "a%b#c@example.org",
            "{x|y}^`@e.org",
        ] {
            let a = EmailAddress::parse(input).unwrap();
            let uri = a.mailto_uri();
            assert!(
                !uri[7..].contains(['?', '#', '^', '`', '{', '|', '}']),
                "{uri}"
            );
            assert_eq!(EmailAddress::parse(&uri).unwrap(), a, "{uri}");
        }
        let plain = EmailAddress::parse("ana.b+c@example.org").unwrap();
        assert_eq!(plain.mailto_uri(), "mailto:ana.b+c@example.org");
    }

    #[test]
    fn never_equal_by_substring() {
        let a = EmailAddress::parse("ana@example.org").unwrap();
        let b = EmailAddress::parse("xana@example.org").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        use AddressError::*;
        let cases: &[(&str, AddressError)] = &[
            ("", Empty),
            ("mailto:", Empty),
            ("ana", MissingAt),
            ("@example.org", EmptyLocalPart),
            ("ana@", EmptyDomain),
            ("ana@exa mple.org", InvalidDomain),
            ("a..b@example.org", BadDots),
            ("ana\r\nBcc: x@example.org", InvalidCharacter('\r')),
            ("a\"b@example.org", InvalidCharacter('"')),
            ("ana@exämple.org", NonAscii),
            ("mailto:ana%4@example.org", BadPercentEncoding),
        ];
        for (input, want) in cases {
            assert_eq!(EmailAddress::parse(input).unwrap_err(), *want, "{input:?}");
        }
    }
}
