//! The MIME writer (RFC 5322, 2045–2047) for outgoing messages.
//!
//! Output is 7-bit clean with CRLF line endings and no line over 78 octets:
//! non-ASCII header text becomes RFC 2047 encoded-words (never split inside a
//! character), text bodies are quoted-printable, calendar data base64. The one
//! exception is the addr-spec of an address whose local part is not ASCII:
//! RFC 6532 writes it as UTF-8 (an encoded-word may not stand for an
//! addr-spec), one unbroken token. Boundaries
//! begin with `=_`, which neither encoding can produce, so no body can end a part.

use crate::EmailAddress;
use crate::text::Name;

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Octets of encoded text per base64 line.
const BASE64_LINE: usize = 76;
/// Most octets of a quoted-printable line before its soft break `=`.
const QP_LINE: usize = 75;
/// Header lines are folded before this many octets.
const HEADER_LINE: usize = 78;

/// Writes `input` as base64 in lines of 76, each ended by CRLF.
/// Two base64 characters for every 12-bit value.
const BASE64_PAIRS: [[u8; 2]; 4096] = {
    let mut t = [[0u8; 2]; 4096];
    let mut i = 0;
    while i < 4096 {
        t[i] = [BASE64[i >> 6], BASE64[i & 63]];
        i += 1;
    }
    t
};

pub(crate) fn base64_lines(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(input.len() * 4 / 3 + input.len() / 57 * 2 + 4);
    // Each output line is built on the stack and copied once.
    let mut buf = [0u8; BASE64_LINE + 2];
    for line in input.chunks(BASE64_LINE / 4 * 3) {
        let mut n = 0;
        let mut chunks = line.chunks_exact(3);
        for c in &mut chunks {
            let v = (usize::from(c[0]) << 16) | (usize::from(c[1]) << 8) | usize::from(c[2]);
            let [a, b] = BASE64_PAIRS[v >> 12];
            let [c2, d] = BASE64_PAIRS[v & 0xfff];
            buf[n..n + 4].copy_from_slice(&[a, b, c2, d]);
            n += 4;
        }
        match *chunks.remainder() {
            [a] => {
                let v = u32::from(a) << 16;
                buf[n..n + 4].copy_from_slice(&[
                    BASE64[(v >> 18) as usize & 63],
                    BASE64[(v >> 12) as usize & 63],
                    b'=',
                    b'=',
                ]);
                n += 4;
            }
            [a, b] => {
                let v = (u32::from(a) << 16) | (u32::from(b) << 8);
                buf[n..n + 4].copy_from_slice(&[
                    BASE64[(v >> 18) as usize & 63],
                    BASE64[(v >> 12) as usize & 63],
                    BASE64[(v >> 6) as usize & 63],
                    b'=',
                ]);
                n += 4;
            }
            _ => {}
        }
        buf[n] = b'\r';
        buf[n + 1] = b'\n';
        out.extend_from_slice(&buf[..n + 2]);
    }
}

/// Bytes a quoted-printable line may carry as themselves (a space only when
/// something follows it on the line).
const QP_LITERAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = b'!';
    while b <= b'~' {
        t[b as usize] = b != b'=';
        b += 1;
    }
    t[b' ' as usize] = true;
    t
};

/// How many octets at the start of `bytes` a quoted-printable line may carry
/// as themselves: eight at a time while a whole word qualifies (printable
/// ASCII or space, no `=`), then octet by octet.
fn literal_prefix(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut n = 0;
    while let Some(chunk) = bytes.get(n..n + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        // Any octet below 0x20, any above 0x7e, or any equal to '=' (0x3d)?
        let below = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
        // Adding 1 sets the high bit of 0x7f; the high bit of anything above is set already.
        let above = (w.wrapping_add(ONES) | w) & HIGH;
        let eq = w ^ (ONES * 0x3d);
        let equals = eq.wrapping_sub(ONES) & !eq & HIGH;
        if below | above | equals != 0 {
            break;
        }
        n += 8;
    }
    n + bytes[n..]
        .iter()
        .position(|&x| !QP_LITERAL[x as usize])
        .unwrap_or(bytes.len() - n)
}

/// Writes `text` as quoted-printable (RFC 2045 §6.7). Line breaks in `text`
/// (LF or CRLF) become CRLF hard breaks; soft breaks never split a UTF-8
/// sequence; any other octet outside printable ASCII, control characters
/// included, is encoded, so no text can break the message's structure.
/// Trailing white space of the whole text is dropped.
pub(crate) fn quoted_printable(text: &str, out: &mut Vec<u8>) {
    let text = text.trim_end();
    out.reserve(text.len() + text.len() / 8 + 2);
    for line in text.split('\n') {
        let bytes = line.strip_suffix('\r').unwrap_or(line).as_bytes();
        let mut used = 0;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            // A line that starts with a dot or "From " is encoded, so no relay
            // rewrites it (SMTP dot-stuffing bugs, mbox quoting).
            let guarded =
                used == 0 && (b == b'.' || (b == b'F' && bytes[i..].starts_with(b"From ")));
            if QP_LITERAL[b as usize] && !guarded {
                // A run of literal octets, as much as fits on this line; a
                // space that ends the line is left for the encoded path.
                let window = &bytes[i..bytes.len().min(i + QP_LINE - used)];
                let mut j = i + literal_prefix(window);
                if j == bytes.len() && bytes[j - 1] == b' ' {
                    j -= 1;
                }
                if j > i {
                    out.extend_from_slice(&bytes[i..j]);
                    used += j - i;
                    i = j;
                    if i < bytes.len() && used >= QP_LINE {
                        out.extend_from_slice(b"=\r\n");
                        used = 0;
                    }
                    continue;
                }
            }
            let seq = match b {
                0xF0.. => 4,
                0xE0.. => 3,
                0xC0.. => 2,
                _ => 1,
            }
            .min(bytes.len() - i);
            if used + 3 * seq > QP_LINE {
                out.extend_from_slice(b"=\r\n");
                used = 0;
                if guarded || b == b'.' || b == b'F' {
                    continue;
                }
            }
            for &x in &bytes[i..i + seq] {
                out.extend_from_slice(&[b'=', HEX[(x >> 4) as usize], HEX[(x & 15) as usize]]);
            }
            used += 3 * seq;
            i += seq;
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// A header being written, with folding.
pub(crate) struct HeaderWriter<'a> {
    out: &'a mut Vec<u8>,
    used: usize,
}

impl<'a> HeaderWriter<'a> {
    /// Starts the header `name:`.
    pub(crate) fn new(out: &'a mut Vec<u8>, name: &str) -> Self {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        HeaderWriter {
            used: name.len() + 1,
            out,
        }
    }

    /// Writes one unbreakable token, preceded by a space (or a fold).
    pub(crate) fn token(&mut self, token: &[u8]) -> &mut Self {
        if self.used + 1 + token.len() > HEADER_LINE && self.used > 1 {
            self.out.extend_from_slice(b"\r\n");
            self.used = 0;
        }
        self.out.push(b' ');
        self.out.extend_from_slice(token);
        self.used += 1 + token.len();
        self
    }

    /// Writes a token directly after the previous one, with no space; on a
    /// new line when this one is full (folding white space may precede a
    /// separator such as the `,` of a list).
    pub(crate) fn glued(&mut self, token: &[u8]) -> &mut Self {
        if self.used + token.len() > HEADER_LINE {
            self.out.extend_from_slice(b"\r\n ");
            self.used = 1;
        }
        self.out.extend_from_slice(token);
        self.used += token.len();
        self
    }

    /// Writes human text: plain ASCII words as they are, anything else as
    /// RFC 2047 encoded-words, on one line: every run of whitespace or
    /// control characters becomes one space.
    pub(crate) fn text(&mut self, text: &str) -> &mut Self {
        let mut clean = String::with_capacity(text.len());
        for word in text
            .split(|c: char| c.is_whitespace() || c.is_control())
            .filter(|w| !w.is_empty())
        {
            if !clean.is_empty() {
                clean.push(' ');
            }
            clean.push_str(word);
        }
        if is_plain_phrase(&clean, false) {
            for word in clean.split(' ').filter(|w| !w.is_empty()) {
                self.token(word.as_bytes());
            }
        } else {
            self.encoded_words(&clean);
        }
        self
    }

    /// Writes a display name: as an atom phrase, a quoted string, or
    /// encoded-words, whichever it needs. A name that looks like an
    /// encoded-word is encoded itself: readers decode encoded-words even inside
    /// quoted strings (which RFC 2047 §5 forbids), so quoting would not do.
    pub(crate) fn display_name(&mut self, name: &Name) -> &mut Self {
        let s = name.as_str();
        if is_plain_phrase(s, true) {
            for word in s.split(' ') {
                self.token(word.as_bytes());
            }
        } else if s.is_ascii() && s.len() < 60 && !s.contains("=?") {
            let mut q = Vec::with_capacity(s.len() + 4);
            q.push(b'"');
            for &b in s.as_bytes() {
                if b == b'"' || b == b'\\' {
                    q.push(b'\\');
                }
                q.push(b);
            }
            q.push(b'"');
            self.token(&q);
        } else {
            self.encoded_words(s);
        }
        self
    }

    /// `Name <address>` or `<address>`.
    pub(crate) fn mailbox(&mut self, name: Option<&Name>, address: &EmailAddress) -> &mut Self {
        if let Some(n) = name {
            self.display_name(n);
        }
        let mut a = Vec::with_capacity(address.as_str().len() + 2);
        a.push(b'<');
        a.extend_from_slice(address.as_str().as_bytes());
        a.push(b'>');
        self.token(&a)
    }

    /// RFC 2047 B-encoded words of UTF-8, each at most 75 octets and sized to
    /// the room left on its line, split only between characters.
    fn encoded_words(&mut self, text: &str) {
        const PREFIX: &[u8] = b"=?UTF-8?B?";
        // "=?UTF-8?B?" + "?=" around the base64.
        const OVERHEAD: usize = 12;
        // 75 octets per word at most: 63 of base64, 45 of text (RFC 2047 §2).
        const MAX_RAW: usize = 45;
        let bytes = text.as_bytes();
        let mut start = 0;
        let mut b64 = Vec::with_capacity(80);
        let mut word = Vec::with_capacity(80);
        while start < bytes.len() {
            let room = HEADER_LINE.saturating_sub(self.used + 1 + OVERHEAD) / 4 * 3;
            // Too little room left for a useful word: start it on a new line.
            let raw = if room >= 12 {
                room.min(MAX_RAW)
            } else {
                MAX_RAW
            };
            let mut end = (start + raw).min(bytes.len());
            while end < bytes.len() && !text.is_char_boundary(end) {
                end -= 1;
            }
            if end == start {
                // A single character wider than the room: give it a line of its own.
                end = start + 1;
                while !text.is_char_boundary(end) {
                    end += 1;
                }
            }
            b64.clear();
            base64_lines(&bytes[start..end], &mut b64);
            b64.truncate(b64.len() - 2);
            word.clear();
            word.extend_from_slice(PREFIX);
            word.extend_from_slice(&b64);
            word.extend_from_slice(b"?=");
            self.token(&word);
            start = end;
        }
    }

    /// Ends the header.
    pub(crate) fn end(&mut self) {
        self.out.extend_from_slice(b"\r\n");
    }
}

/// Whether `s` can be written as plain words: printable ASCII, single spaces,
/// no word too long to fit a line, and (for phrases in address headers) no
/// RFC 5322 specials.
fn is_plain_phrase(s: &str, in_address: bool) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !s.starts_with(' ')
        && !s.ends_with(' ')
        && !s.contains("  ")
        && !s.contains("=?")
        && s.split(' ').all(|w| w.len() < 70)
        && (!in_address || !s.bytes().any(|b| b"()<>[]:;@\\,.\"".contains(&b)))
}

/// Writes a simple `Name: value` header whose value is ASCII the caller built.
pub(crate) fn raw_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &[u8]) -> String {
        let mut out = Vec::new();
        base64_lines(s, &mut out);
        String::from_utf8(out).unwrap()
    }

    proptest::proptest! {
        /// The word-at-a-time scan agrees with the octet table on any input.
        #[test]
        fn literal_prefix_agrees_with_the_table(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
            let want = bytes.iter().position(|&x| !QP_LITERAL[x as usize]).unwrap_or(bytes.len());
            proptest::prop_assert_eq!(literal_prefix(&bytes), want);
        }

        /// The pair table gives RFC 4648 base64 (checked against the plain alphabet).
        #[test]
        fn base64_pairs_agree_with_the_alphabet(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let mut out = Vec::new();
            base64_lines(&bytes, &mut out);
            let mut plain = Vec::new();
            for c in bytes.chunks(3) {
                let v = (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
                plain.push(BASE64[(v >> 18) as usize & 63]);
                plain.push(BASE64[(v >> 12) as usize & 63]);
                plain.push(if c.len() > 1 { BASE64[(v >> 6) as usize & 63] } else { b'=' });
                plain.push(if c.len() > 2 { BASE64[v as usize & 63] } else { b'=' });
            }
            let joined: Vec<u8> = out.split(|&b| b == b'\r' || b == b'\n').flatten().copied().collect();
            proptest::prop_assert_eq!(joined, plain);
        }
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(b64(b""), "");
        assert_eq!(b64(b"f"), "Zg==\r\n");
        assert_eq!(b64(b"fo"), "Zm8=\r\n");
        assert_eq!(b64(b"foo"), "Zm9v\r\n");
        assert_eq!(b64(b"foobar"), "Zm9vYmFy\r\n");
        let long = b64(&[0u8; 100]);
        assert!(long.split("\r\n").all(|l| l.len() <= 76));
    }

    fn qp(s: &str) -> String {
        let mut out = Vec::new();
        quoted_printable(s, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn quoted_printable_escapes_and_breaks_softly() {
        assert_eq!(qp("a=b é"), "a=3Db =C3=A9\r\n");
        assert_eq!(qp("trailing \nnext"), "trailing=20\r\nnext\r\n");
        assert_eq!(qp("end of text  \r\n\n"), "end of text\r\n");
        assert_eq!(qp("crlf\r\nlines\r\n"), "crlf\r\nlines\r\n");
        assert_eq!(qp("bell\u{7}"), "bell=07\r\n");
        assert_eq!(qp(".dot\nFrom me"), "=2Edot\r\n=46rom me\r\n");
        let long = qp(&"é".repeat(40));
        for line in long.split("\r\n") {
            assert!(line.len() <= 76, "{line}");
            // A soft break never falls inside a two-octet character.
            assert!(line.trim_end_matches('=').len() % 6 == 0, "{line}");
        }
    }

    #[test]
    fn a_glued_separator_never_overflows_the_line() {
        for len in 30..56 {
            let url = format!("<https://example.org/{}>", "u".repeat(len));
            let mut out = Vec::new();
            let mut h = HeaderWriter::new(&mut out, "List-Unsubscribe");
            h.token(url.as_bytes())
                .glued(b",")
                .token(b"<mailto:u@example.org>");
            h.end();
            let s = String::from_utf8(out).unwrap();
            assert!(s.split("\r\n").all(|l| l.len() <= 78), "{s}");
            assert_eq!(
                s.replace("\r\n", "").replace(' ', ""),
                format!("List-Unsubscribe:{url},<mailto:u@example.org>")
            );
        }
    }

    #[test]
    fn headers_encode_non_ascii_and_fold() {
        let mut out = Vec::new();
        HeaderWriter::new(&mut out, "Subject")
            .text("Invitación: Fiesta — 東京 🎉")
            .end();
        let s = String::from_utf8(out).unwrap();
        assert!(s.is_ascii());
        assert!(s.split("\r\n").all(|l| l.len() <= 78));
        assert!(s.starts_with("Subject: =?UTF-8?B?"));

        let mut out = Vec::new();
        let name = Name::new("Smith, John").unwrap();
        HeaderWriter::new(&mut out, "To")
            .mailbox(Some(&name), &EmailAddress::parse("j@example.org").unwrap())
            .end();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "To: \"Smith, John\" <j@example.org>\r\n"
        );

        let mut out = Vec::new();
        let name = Name::new("=?UTF-8?B?SGk=?=").unwrap();
        HeaderWriter::new(&mut out, "To")
            .mailbox(Some(&name), &EmailAddress::parse("j@example.org").unwrap())
            .end();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "To: =?UTF-8?B?PT9VVEYtOD9CP1NHaz0/PQ==?= <j@example.org>\r\n"
        );
    }
}
