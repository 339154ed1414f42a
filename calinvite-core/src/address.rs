//! Email addresses and mailboxes, normalised once
//! ([interop rule 18](crate::manual::interop#rule-18)), in every script.

use std::borrow::Cow;
use std::fmt;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};

use crate::error::{AddressError, DomainLabelProblem};
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
/// # Addresses in every script
///
/// - **Internationalised domain names** (`bücher-müller.de`) are accepted in
///   their Unicode form (U-labels) or their ASCII form (A-labels,
///   `xn--bcher-mller-thbg.de`), mapped and checked by UTS #46
///   (non-transitional, with the STD3 rules and DNS lengths), and kept in
///   A-label form. So the same mailbox written either way is one address
///   (suppression, "already invited", answers all match it), and what goes on
///   the wire — the SMTP envelope, the addr-spec of `From`/`To`, `ORGANIZER`
///   and `ATTENDEE` — is plain ASCII wherever the local part is.
/// - **Non-ASCII local parts** (`zoë@example.org`, RFC 6531/6532) are accepted,
///   lower-cased and put in Unicode normalisation form C. They reach the wire
///   as UTF-8 (in a `mailto:` URI, percent-encoded UTF-8), which only a
///   transport that can carry them takes: [`needs_smtputf8`](Self::needs_smtputf8)
///   says so, and a transport that cannot refuses that one recipient
///   permanently.
///
/// [`as_str`](Self::as_str) and `Display` give the normalised (wire) form,
/// the one stored and compared. People see [`to_unicode`](Self::to_unicode):
/// the domain in U-labels. calinvite shows that form in what it writes for
/// people — organizer notices, reports and their CSV.
///
/// ```
/// use calinvite_core::EmailAddress;
/// let a = EmailAddress::parse("MAILTO:Ana.Nunez%40Example.ORG").unwrap();
/// assert_eq!(a.as_str(), "ana.nunez@example.org");
/// assert_eq!(a.domain(), "example.org");
///
/// let j = EmailAddress::parse("Jörg@Bücher-Müller.de").unwrap();
/// assert_eq!(j.as_str(), "jörg@xn--bcher-mller-thbg.de");
/// assert_eq!(j.to_unicode(), "jörg@bücher-müller.de");
/// assert!(j.needs_smtputf8());
/// assert_eq!(j, EmailAddress::parse("jörg@xn--bcher-mller-thbg.de").unwrap());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress {
    normalised: String,
    at: usize,
}

/// Longest address RFC 5321 lets through a relay (its path limit less `<>`).
const MAX_ADDRESS_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;
/// Input longer than this is refused before any Unicode processing (a
/// normalised address is at most 254 octets; UTS #46 mapping can shrink a
/// domain, never by more than this allows).
const MAX_INPUT_LEN: usize = 4 * MAX_ADDRESS_LEN;

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
        if s.len() > MAX_INPUT_LEN || (s.is_ascii() && s.len() > MAX_ADDRESS_LEN) {
            return Err(AddressError::TooLong { len: s.len() });
        }
        let at = s.rfind('@').ok_or(AddressError::MissingAt)?;
        let (local, domain) = (&s[..at], &s[at + 1..]);
        let local = normalise_local(local)?;
        let domain = normalise_domain(domain)?;
        let len = local.len() + 1 + domain.len();
        if len > MAX_ADDRESS_LEN {
            return Err(AddressError::TooLong { len });
        }
        let mut normalised = local;
        let at = normalised.len();
        normalised.push('@');
        normalised.push_str(&domain);
        Ok(EmailAddress { normalised, at })
    }

    /// The normalised address, `local@domain`, its domain in A-labels: the
    /// form for the wire, for storing and for comparing.
    pub fn as_str(&self) -> &str {
        &self.normalised
    }

    /// The part before the `@`.
    pub fn local_part(&self) -> &str {
        &self.normalised[..self.at]
    }

    /// The domain, lower case, in A-labels (`xn--…` for an internationalised
    /// one).
    pub fn domain(&self) -> &str {
        &self.normalised[self.at + 1..]
    }

    /// The domain as people read it: U-labels where it is internationalised.
    pub fn domain_unicode(&self) -> Cow<'_, str> {
        let domain = self.domain();
        if !has_a_label(domain) {
            return Cow::Borrowed(domain);
        }
        let (unicode, checked) = Uts46::new().to_unicode(
            domain.as_bytes(),
            AsciiDenyList::STD3,
            Hyphens::CheckFirstLast,
        );
        // The domain passed the same checks when the address was parsed.
        match checked {
            Ok(()) => Cow::Owned(unicode.into_owned()),
            Err(_) => Cow::Borrowed(domain),
        }
    }

    /// The address as people read it: the local part as is, the domain in
    /// U-labels (`jörg@bücher-müller.de`). The same as
    /// [`as_str`](Self::as_str) for an ASCII domain. For showing only: the
    /// wire, the store and comparisons use the normalised form.
    pub fn to_unicode(&self) -> Cow<'_, str> {
        match self.domain_unicode() {
            Cow::Borrowed(_) => Cow::Borrowed(&self.normalised),
            Cow::Owned(domain) => Cow::Owned(format!("{}@{domain}", self.local_part())),
        }
    }

    /// Whether the address can only travel with SMTPUTF8 (RFC 6531): its
    /// local part is not ASCII. (The domain always can: it is kept in
    /// A-labels.) A transport that cannot carry such an address refuses that
    /// recipient permanently.
    pub fn needs_smtputf8(&self) -> bool {
        !self.local_part().is_ascii()
    }

    /// The address as a `mailto:` URI (RFC 6068). Characters an address may hold
    /// but a URI path may not (`%`, `?`, `#`, `^`, `` ` ``, `{`, `|`, `}`) are
    /// percent-encoded: written raw, `a?b@example.org` would read back as `a`.
    /// So are the UTF-8 octets of a non-ASCII local part; the domain is
    /// already ASCII (A-labels).
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

/// Characters that render as nothing or reorder text: allowed nowhere in a
/// local part, where they would make two addresses look alike.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}'
        | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{FFF0}'..='\u{FFFF}' | '\u{E0000}'..='\u{E0FFF}')
}

/// Checks a local part (RFC 5321 dot-atom; RFC 6531 adds any non-ASCII
/// character that is visible) and lower-cases it; a non-ASCII one is also put
/// in normalisation form C.
fn normalise_local(local: &str) -> Result<String, AddressError> {
    if local.is_empty() {
        return Err(AddressError::EmptyLocalPart);
    }
    if local.len() > MAX_LOCAL_LEN * 4 {
        return Err(AddressError::LocalPartTooLong { len: local.len() });
    }
    // Normalised first, checked after: normalisation can turn an allowed
    // character into a forbidden one (U+037E GREEK QUESTION MARK is `;` in
    // form C), and what is checked must be what is kept.
    let normalised = if local.is_ascii() {
        local.to_ascii_lowercase()
    } else {
        let lower = local.to_lowercase();
        icu_normalizer::ComposingNormalizerBorrowed::new_nfc()
            .normalize(&lower)
            .into_owned()
    };
    if normalised.starts_with('.') || normalised.ends_with('.') || normalised.contains("..") {
        return Err(AddressError::BadDots);
    }
    let bad = |c: char| {
        if c.is_ascii() {
            c != '.' && !is_atext(c as u8)
        } else {
            c.is_control()
                || c.is_whitespace()
                || is_invisible(c)
                || matches!(c, '\u{FFFD}' | '\u{2028}' | '\u{2029}')
        }
    };
    if let Some(c) = normalised.chars().find(|&c| bad(c)) {
        return Err(AddressError::InvalidCharacter(c));
    }
    if normalised.len() > MAX_LOCAL_LEN {
        return Err(AddressError::LocalPartTooLong {
            len: normalised.len(),
        });
    }
    Ok(normalised)
}

/// Whether any label of an ASCII domain is an A-label (`xn--…`).
fn has_a_label(domain: &str) -> bool {
    domain
        .split('.')
        .any(|l| l.len() >= 4 && l.as_bytes()[..4].eq_ignore_ascii_case(b"xn--"))
}

/// The label separators UTS #46 maps to `.`.
const DOTS: [char; 4] = ['.', '\u{3002}', '\u{FF0E}', '\u{FF61}'];

/// Checks a domain and gives its normalised form: lower case, A-labels.
fn normalise_domain(domain: &str) -> Result<Cow<'_, str>, AddressError> {
    if domain.is_empty() {
        return Err(AddressError::EmptyDomain);
    }
    if domain.is_ascii() && !has_a_label(domain) {
        validate_ascii_domain(domain)?;
        return Ok(Cow::Owned(domain.to_ascii_lowercase()));
    }
    let ascii = match to_ascii(domain, DnsLength::Verify) {
        Ok(ascii) => ascii.into_owned(),
        Err(()) => return Err(diagnose_domain(domain)),
    };
    // The form people are shown must name the same domain: an A-label whose
    // U-label is itself `xn--…` (`xn--xn--…`) would be read back as another
    // A-label and fail, so it is refused here.
    let (unicode, checked) = Uts46::new().to_unicode(
        ascii.as_bytes(),
        AsciiDenyList::STD3,
        Hyphens::CheckFirstLast,
    );
    if checked.is_err() || unicode.split('.').any(has_a_label) && ascii != unicode {
        let label = ascii
            .split('.')
            .zip(unicode.split('.'))
            .find(|(a, u)| a != u && has_a_label(u))
            .map_or(ascii.as_str(), |(a, _)| a);
        return Err(AddressError::InvalidDomainLabel {
            label: label.to_owned(),
            problem: DomainLabelProblem::BadPunycode,
        });
    }
    Ok(Cow::Owned(ascii))
}

fn to_ascii(domain: &str, length: DnsLength) -> Result<Cow<'_, str>, ()> {
    Uts46::new()
        .to_ascii(
            domain.as_bytes(),
            AsciiDenyList::STD3,
            Hyphens::CheckFirstLast,
            length,
        )
        .map_err(|_| ())
}

/// Why UTS #46 refused `domain`: the first label that fails on its own, and
/// how; else (each label is fine, the whole is not) the whole domain.
fn diagnose_domain(domain: &str) -> AddressError {
    let refuse = |label: &str, problem| AddressError::InvalidDomainLabel {
        label: label.to_owned(),
        problem,
    };
    for label in domain.split(DOTS) {
        if label.is_empty() {
            return refuse(label, DomainLabelProblem::Empty);
        }
        match to_ascii(label, DnsLength::Ignore) {
            Ok(ascii) if ascii.len() > 63 => {
                return refuse(
                    label,
                    DomainLabelProblem::TooLong {
                        octets: ascii.len(),
                    },
                );
            }
            Ok(_) => {}
            Err(()) => return refuse(label, diagnose_label(label)),
        }
    }
    if to_ascii(domain, DnsLength::Ignore).is_ok() {
        // Only the length of the whole is wrong.
        return AddressError::InvalidDomain;
    }
    // Every label passes alone: the bidirectional rule across labels.
    let label = domain.split(DOTS).find(|l| !l.is_ascii()).unwrap_or(domain);
    refuse(label, DomainLabelProblem::Combination)
}

/// Why UTS #46 refused one label.
fn diagnose_label(label: &str) -> DomainLabelProblem {
    if label.len() >= 4 && label.as_bytes()[..4].eq_ignore_ascii_case(b"xn--") {
        return DomainLabelProblem::BadPunycode;
    }
    for c in label.chars() {
        // A combining mark is fine after a letter, not alone.
        let allowed = if c.is_ascii() {
            c.is_ascii_alphanumeric() || c == '-'
        } else {
            to_ascii(&format!("{c}"), DnsLength::Ignore).is_ok()
                || to_ascii(&format!("a{c}"), DnsLength::Ignore).is_ok()
        };
        if !allowed {
            return DomainLabelProblem::Character(c);
        }
    }
    if label.starts_with('-') || label.ends_with('-') {
        return DomainLabelProblem::HyphenAtEnd;
    }
    DomainLabelProblem::Combination
}

fn validate_ascii_domain(domain: &str) -> Result<(), AddressError> {
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
    fn an_a_label_whose_u_label_is_an_a_label_again_is_refused() {
        // Found by the address fuzz target: shown in U-labels, this domain
        // would read as another A-label and fail to parse.
        let e = EmailAddress::parse("f@XN--XN--yyyxyxyyy-yyyyyyyyyyyyyy").expect_err("refused");
        assert!(
            matches!(
                e,
                AddressError::InvalidDomainLabel {
                    problem: DomainLabelProblem::BadPunycode,
                    ..
                }
            ),
            "{e:?}"
        );
        // An ordinary A-label still parses, and its shown form parses to it.
        let a = EmailAddress::parse("j@xn--bcher-mller-thbg.de").expect("an A-label");
        assert_eq!(EmailAddress::parse(&a.to_unicode()), Ok(a));
    }

    #[test]
    fn a_local_part_is_checked_as_normalised() {
        // U+037E GREEK QUESTION MARK is `;` in normalisation form C: the
        // address would read back as one with a forbidden character.
        assert_eq!(
            EmailAddress::parse("y7\u{33B}\u{37E}@example.org"),
            Err(AddressError::InvalidCharacter(';'))
        );
        // A decomposed letter is composed, and parses to itself.
        let a = EmailAddress::parse("zoe\u{308}@example.org").expect("a UTF-8 local part");
        assert_eq!(a.local_part(), "zo\u{eb}");
        assert_eq!(EmailAddress::parse(a.as_str()), Ok(a));
    }

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
            ("mailto:ana%4@example.org", BadPercentEncoding),
        ];
        for (input, want) in cases {
            assert_eq!(EmailAddress::parse(input).unwrap_err(), *want, "{input:?}");
        }
    }

    #[test]
    fn internationalised_domains_are_kept_in_a_labels_and_shown_in_u_labels() {
        let forms = [
            "jörg@bücher-müller.de",
            "JÖRG@BÜCHER-MÜLLER.DE",
            "jörg@xn--bcher-mller-thbg.de",
            "Jörg@XN--BCHER-MLLER-THBG.DE",
            "mailto:j%C3%B6rg@b%C3%BCcher-m%C3%BCller.de",
            "<jörg@bücher-müller。de>",
        ];
        let first = EmailAddress::parse(forms[0]).unwrap();
        assert_eq!(first.as_str(), "jörg@xn--bcher-mller-thbg.de");
        assert_eq!(first.domain(), "xn--bcher-mller-thbg.de");
        assert_eq!(first.domain_unicode(), "bücher-müller.de");
        assert_eq!(first.to_unicode(), "jörg@bücher-müller.de");
        assert_eq!(first.to_string(), first.as_str());
        for form in forms {
            assert_eq!(EmailAddress::parse(form).unwrap(), first, "{form}");
        }
        let ascii_local = EmailAddress::parse("ana@bücher.de").unwrap();
        assert!(ascii_local.as_str().is_ascii());
        assert!(!ascii_local.needs_smtputf8());
        assert!(first.needs_smtputf8());
        // An ASCII domain is shown as it is stored.
        let plain = EmailAddress::parse("ana@example.org").unwrap();
        assert!(matches!(
            plain.to_unicode(),
            Cow::Borrowed("ana@example.org")
        ));
    }

    #[test]
    fn non_ascii_local_parts_are_lower_cased_and_composed() {
        let composed = EmailAddress::parse("zoë@example.org").unwrap();
        for form in [
            "ZOË@example.org",
            "zoe\u{0308}@example.org",
            "mailto:zo%C3%AB@example.org",
        ] {
            assert_eq!(EmailAddress::parse(form).unwrap(), composed, "{form}");
        }
        assert_eq!(composed.local_part(), "zoë");
        assert!(composed.needs_smtputf8());
        assert_eq!(composed.mailto_uri(), "mailto:zo%C3%AB@example.org");
        assert_eq!(
            EmailAddress::parse(&composed.mailto_uri()).unwrap(),
            composed
        );
        for address in [
            "用户@例子.广告",
            "δοκιμή@παράδειγμα.δοκιμή",
            "медведь@с-балалайкой.рф",
        ] {
            let a = EmailAddress::parse(address).unwrap();
            assert!(a.domain().is_ascii(), "{a:?}");
            assert_eq!(a.to_unicode(), address);
        }
    }

    /// Found by the address fuzz target (seed
    /// `fuzz/seeds/address/utf8-local-part`): an address with a non-ASCII
    /// local part is a fixed point like any other, its domain ASCII, its
    /// local part UTF-8, and it alone needs SMTPUTF8.
    #[test]
    fn a_non_ascii_local_part_is_a_fixed_point_with_an_ascii_domain() {
        let a = EmailAddress::parse("ņF*@A5").unwrap();
        assert_eq!(a.as_str(), "ņf*@a5");
        assert_eq!((a.local_part(), a.domain()), ("ņf*", "a5"));
        assert!(a.needs_smtputf8());
        for form in [
            a.as_str().to_owned(),
            a.to_unicode().into_owned(),
            a.mailto_uri(),
        ] {
            assert_eq!(EmailAddress::parse(&form).unwrap(), a, "{form}");
        }
        assert!(
            !a.as_str()
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        );
    }

    #[test]
    fn invalid_labels_are_refused_with_a_reason() {
        use DomainLabelProblem::*;
        let label = |label: &str, problem| AddressError::InvalidDomainLabel {
            label: label.to_owned(),
            problem,
        };
        let cases: &[(&str, AddressError)] = &[
            ("a@-bücher.de", label("-bücher", HyphenAtEnd)),
            ("a@bücher-.de", label("bücher-", HyphenAtEnd)),
            ("a@bü cher.de", label("bü cher", Character(' '))),
            ("a@bü_cher.de", label("bü_cher", Character('_'))),
            ("a@bücher..de", label("", Empty)),
            ("a@bücher.de.", label("", Empty)),
            ("a@xn--a.de", label("xn--a", BadPunycode)),
            ("a@xn--bcher-kva-.de", label("xn--bcher-kva-", BadPunycode)),
            ("a@\u{0301}bc.de", label("\u{0301}bc", Combination)),
            ("a@ab\u{05D0}.de", label("ab\u{05D0}", Combination)),
            (
                "a@x\u{200D}ü.de",
                label("x\u{200D}ü", Character('\u{200D}')),
            ),
            (
                &format!("a@{}.de", "ü".repeat(60)),
                label(&"ü".repeat(60), TooLong { octets: 66 }),
            ),
            ("zo ë@example.org", AddressError::InvalidCharacter(' ')),
            (
                "zo\u{200B}ë@example.org",
                AddressError::InvalidCharacter('\u{200B}'),
            ),
            (
                "zo\u{202E}ë@example.org",
                AddressError::InvalidCharacter('\u{202E}'),
            ),
            (
                "zo\u{0085}ë@example.org",
                AddressError::InvalidCharacter('\u{0085}'),
            ),
            (
                &format!("{}@example.org", "ü".repeat(33)),
                AddressError::LocalPartTooLong { len: 66 },
            ),
        ];
        for (input, want) in cases {
            let got = EmailAddress::parse(input).unwrap_err();
            assert_eq!(got, *want, "{input:?}");
            assert!(got.to_string().len() > 20, "{got}");
        }
        // The whole domain too long in A-labels, each label fine.
        let long = format!("a@{}", vec!["ü".repeat(20); 12].join("."));
        assert_eq!(
            EmailAddress::parse(&long).unwrap_err(),
            AddressError::InvalidDomain
        );
    }

    #[test]
    fn the_reason_reads_as_plain_words() {
        let e = EmailAddress::parse("a@bü_cher.de").unwrap_err();
        assert_eq!(
            e.to_string(),
            "the domain is not a valid host name: its label \"bü_cher\" contains '_', which a domain name may not contain"
        );
    }
}
