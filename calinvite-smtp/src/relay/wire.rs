//! The client side of the SMTP wire: replies, capabilities, and the bytes of
//! a mail transaction.

use std::fmt;

/// Longest reply line read (RFC 5321 §4.5.3.1.5 says 512 octets; real
/// servers exceed it, so a generous cap that still bounds memory).
pub(crate) const MAX_REPLY_LINE: usize = 4096;
/// Most lines in one multi-line reply (an EHLO lists a few dozen at most).
pub(crate) const MAX_REPLY_LINES: usize = 128;

/// One SMTP reply: its code and its text lines (without the code).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) code: u16,
    pub(crate) lines: Vec<String>,
}

impl Reply {
    /// 2xx.
    pub(crate) fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }
    /// 3xx.
    pub(crate) fn is_intermediate(&self) -> bool {
        (300..400).contains(&self.code)
    }
    /// 4xx.
    pub(crate) fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }
    /// 421: the server is closing the connection.
    pub(crate) fn is_closing(&self) -> bool {
        self.code == 421
    }

    /// The enhanced status code (RFC 3463) the reply starts with, if any:
    /// `5.1.1` of `550 5.1.1 no such user`.
    pub(crate) fn enhanced_status(&self) -> Option<&str> {
        let word = self.lines.first()?.split(' ').next()?;
        let mut parts = word.split('.');
        let class = parts.next()?;
        let ok = matches!(class, "2" | "4" | "5")
            && parts.clone().count() == 2
            && parts
                .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()));
        ok.then_some(word)
    }
}

impl fmt::Display for Reply {
    /// `550 5.1.1 no such user`, lines joined with ` / `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        let mut first = true;
        for line in &self.lines {
            f.write_str(if first { " " } else { " / " })?;
            first = false;
            f.write_str(line)?;
        }
        Ok(())
    }
}

/// Why a reply could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReplyError {
    /// Not `NNN-text` / `NNN text`.
    Malformed(String),
    /// A line or the reply exceeded the caps above.
    TooLong,
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::Malformed(line) => write!(f, "malformed SMTP reply line {line:?}"),
            ReplyError::TooLong => f.write_str("SMTP reply too long"),
        }
    }
}

/// Collects the lines of one reply. `push` takes one line (without its line
/// ending) and returns the reply once its last line arrived.
#[derive(Default)]
pub(crate) struct ReplyParser {
    code: Option<u16>,
    lines: Vec<String>,
}

impl ReplyParser {
    pub(crate) fn push(&mut self, line: &[u8]) -> Result<Option<Reply>, ReplyError> {
        if line.len() > MAX_REPLY_LINE {
            return Err(ReplyError::TooLong);
        }
        let text = String::from_utf8_lossy(line);
        let bytes = line;
        let code_ok = bytes.len() >= 3 && bytes[..3].iter().all(u8::is_ascii_digit);
        let sep = bytes.get(3).copied();
        if !code_ok || !matches!(sep, None | Some(b' ') | Some(b'-')) {
            return Err(ReplyError::Malformed(truncate(&text)));
        }
        let code = (u16::from(bytes[0] - b'0') * 100)
            + (u16::from(bytes[1] - b'0') * 10)
            + u16::from(bytes[2] - b'0');
        if !(200..600).contains(&code) {
            return Err(ReplyError::Malformed(truncate(&text)));
        }
        if let Some(first) = self.code
            && first != code
        {
            return Err(ReplyError::Malformed(truncate(&text)));
        }
        self.code = Some(code);
        if self.lines.len() >= MAX_REPLY_LINES {
            return Err(ReplyError::TooLong);
        }
        self.lines
            .push(text.get(4..).unwrap_or("").trim_end().to_string());
        if sep == Some(b'-') {
            return Ok(None);
        }
        let lines = std::mem::take(&mut self.lines);
        self.code = None;
        Ok(Some(Reply { code, lines }))
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

/// What the server said it supports in its EHLO reply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Capabilities {
    pub(crate) pipelining: bool,
    pub(crate) chunking: bool,
    pub(crate) starttls: bool,
    pub(crate) eight_bit: bool,
    pub(crate) smtputf8: bool,
    /// SIZE's limit, if given and non-zero.
    pub(crate) size: Option<u64>,
    /// AUTH mechanisms, upper case.
    pub(crate) auth: Vec<String>,
}

impl Capabilities {
    /// Reads an EHLO reply (its first line is the greeting, the rest are
    /// keywords with parameters).
    pub(crate) fn from_ehlo(reply: &Reply) -> Self {
        let mut caps = Capabilities::default();
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            match keyword.to_ascii_uppercase().as_str() {
                "PIPELINING" => caps.pipelining = true,
                "CHUNKING" => caps.chunking = true,
                "STARTTLS" => caps.starttls = true,
                "8BITMIME" => caps.eight_bit = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                "SIZE" => caps.size = words.next().and_then(|n| n.parse().ok()).filter(|&n| n > 0),
                "AUTH" => caps.auth.extend(words.map(|w| w.to_ascii_uppercase())),
                _ => {}
            }
        }
        caps
    }
}

/// `MAIL FROM:<from>` with the parameters the message needs.
pub(crate) fn mail_from(from: &str, size: usize, eight_bit: bool, utf8: bool) -> String {
    let mut cmd = format!("MAIL FROM:<{from}> SIZE={size}");
    if eight_bit {
        cmd.push_str(" BODY=8BITMIME");
    }
    if utf8 {
        cmd.push_str(" SMTPUTF8");
    }
    cmd.push_str("\r\n");
    cmd
}

/// Appends `message` to `out` as DATA content: lines starting with `.` get
/// another (RFC 5321 §4.5.2), bare CR or LF become CRLF (§2.3.8: bare line
/// endings must not be sent), the content ends with CRLF, then `.` CRLF.
pub(crate) fn dot_stuff(message: &[u8], out: &mut Vec<u8>) {
    out.reserve(message.len() + message.len() / 64 + 5);
    // Line by line: each line is copied whole (a line that starts with `.`
    // gets one more), and its end, CRLF, bare CR or bare LF, is written CRLF.
    let mut rest = message;
    let mut at_line_start = true;
    while let Some(&first) = rest.first() {
        if first == b'.' {
            out.push(b'.');
        }
        match memchr::memchr2(b'\r', b'\n', rest) {
            None => {
                out.extend_from_slice(rest);
                at_line_start = false;
                break;
            }
            Some(end) => {
                out.extend_from_slice(&rest[..end]);
                out.extend_from_slice(b"\r\n");
                let crlf = rest[end] == b'\r' && rest.get(end + 1) == Some(&b'\n');
                rest = &rest[end + if crlf { 2 } else { 1 }..];
            }
        }
    }
    if !at_line_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
}

/// Reverses the dot-stuffing of DATA content that was already in canonical CRLF
/// form (the tests check the round trip with it).
#[cfg(test)]
fn dot_unstuff(data: &[u8]) -> Option<Vec<u8>> {
    let body = data.strip_suffix(b".\r\n")?;
    let mut out = Vec::with_capacity(body.len());
    let mut at_line_start = true;
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if at_line_start && b == b'.' {
            i += 1;
            at_line_start = false;
            continue;
        }
        out.push(b);
        at_line_start = b == b'\n';
        i += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(lines: &[&str]) -> Result<Option<Reply>, ReplyError> {
        let mut p = ReplyParser::default();
        let mut last = Ok(None);
        for l in lines {
            last = p.push(l.as_bytes());
        }
        last
    }

    #[test]
    fn multiline_reply_and_capabilities() {
        let reply = parse(&[
            "250-relay.example greets you",
            "250-PIPELINING",
            "250-SIZE 10240000",
            "250-AUTH PLAIN login",
            "250-CHUNKING",
            "250 8BITMIME",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(reply.code, 250);
        let caps = Capabilities::from_ehlo(&reply);
        assert!(caps.pipelining && caps.chunking && caps.eight_bit);
        assert!(!caps.starttls && !caps.smtputf8);
        assert_eq!(caps.size, Some(10_240_000));
        assert_eq!(caps.auth, vec!["PLAIN".to_string(), "LOGIN".into()]);
    }

    #[test]
    fn malformed_replies_are_errors() {
        assert!(matches!(parse(&["hello"]), Err(ReplyError::Malformed(_))));
        assert!(matches!(parse(&["25"]), Err(ReplyError::Malformed(_))));
        assert!(matches!(parse(&["250x"]), Err(ReplyError::Malformed(_))));
        assert!(matches!(parse(&["999 no"]), Err(ReplyError::Malformed(_))));
        // A continuation with another code.
        assert!(matches!(
            parse(&["250-a", "550 b"]),
            Err(ReplyError::Malformed(_))
        ));
        let long = format!("250 {}", "x".repeat(MAX_REPLY_LINE));
        assert_eq!(parse(&[&long]), Err(ReplyError::TooLong));
        assert_eq!(parse(&["250"]).unwrap().unwrap().lines, vec![String::new()]);
    }

    #[test]
    fn the_enhanced_status_is_read_when_there_is_one() {
        let status = |lines: &[&str]| {
            parse(lines)
                .unwrap()
                .unwrap()
                .enhanced_status()
                .map(str::to_owned)
        };
        assert_eq!(
            status(&["550 5.1.1 no such user"]).as_deref(),
            Some("5.1.1")
        );
        assert_eq!(
            status(&["250-2.0.0 queued", "250 as 123"]).as_deref(),
            Some("2.0.0")
        );
        assert_eq!(status(&["250 OK"]), None);
        assert_eq!(status(&["421 4.4 closing"]), None);
        assert_eq!(status(&["550 9.1.1 odd"]), None);
    }

    #[test]
    fn display_keeps_the_servers_words() {
        let r = parse(&["550-5.1.1 no such", "550 user here"])
            .unwrap()
            .unwrap();
        assert_eq!(r.to_string(), "550 5.1.1 no such / user here");
    }

    #[test]
    fn dot_stuffing() {
        let mut out = Vec::new();
        dot_stuff(b".a\r\nb\r\n..c\r\n.", &mut out);
        assert_eq!(out, b"..a\r\nb\r\n...c\r\n..\r\n.\r\n");
        out.clear();
        dot_stuff(b"a\nb\rc", &mut out);
        assert_eq!(out, b"a\r\nb\r\nc\r\n.\r\n");
        out.clear();
        dot_stuff(b"", &mut out);
        assert_eq!(out, b".\r\n");
    }

    /// Byte by byte, as the rules read: the property below holds the
    /// line-by-line `dot_stuff` to it on any bytes.
    fn dot_stuff_bytewise(message: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut at_line_start = true;
        let mut i = 0;
        while i < message.len() {
            match message[i] {
                b'\r' => {
                    out.extend_from_slice(b"\r\n");
                    if message.get(i + 1) == Some(&b'\n') {
                        i += 1;
                    }
                    at_line_start = true;
                }
                b'\n' => {
                    out.extend_from_slice(b"\r\n");
                    at_line_start = true;
                }
                b => {
                    if at_line_start && b == b'.' {
                        out.push(b'.');
                    }
                    at_line_start = false;
                    out.push(b);
                }
            }
            i += 1;
        }
        if !at_line_start {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
        out
    }

    proptest::proptest! {
        #[test]
        fn stuffing_matches_the_bytewise_rules(message in proptest::collection::vec(
            proptest::prop_oneof![proptest::strategy::Just(b'.'), proptest::strategy::Just(b'\r'), proptest::strategy::Just(b'\n'), proptest::strategy::Just(b'a'), proptest::num::u8::ANY],
            0..64,
        )) {
            let mut out = Vec::new();
            dot_stuff(&message, &mut out);
            proptest::prop_assert_eq!(out, dot_stuff_bytewise(&message));
        }

        #[test]
        fn stuffing_round_trips_crlf_content(lines in proptest::collection::vec("[.a-z ]{0,6}", 0..8)) {
            let mut message = Vec::new();
            for l in &lines {
                message.extend_from_slice(l.as_bytes());
                message.extend_from_slice(b"\r\n");
            }
            let mut out = Vec::new();
            dot_stuff(&message, &mut out);
            // No line of the stuffed content is a lone dot but the last.
            let body = &out[..out.len() - 3];
            proptest::prop_assert!(!body.windows(5).any(|w| w == b"\r\n.\r\n"));
            proptest::prop_assert!(!body.starts_with(b".\r\n"));
            proptest::prop_assert_eq!(dot_unstuff(&out).unwrap(), message);
        }

        #[test]
        fn reply_parser_never_panics(lines in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..40), 0..6)) {
            let mut p = ReplyParser::default();
            for l in &lines {
                let _ = p.push(l);
            }
        }
    }
}
