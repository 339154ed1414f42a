//! Checks on the raw bytes of a message and of its calendar: transport
//! limits, header folding, the MIME tree, iCalendar line folding.

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

/// Most octets on a line of a message (RFC 5322 §2.1.1), CRLF not counted.
pub(crate) const MAX_MAIL_LINE: usize = 998;
/// Most octets a line should have (RFC 5322 §2.1.1 "SHOULD"), CRLF not counted.
pub(crate) const MAX_SHOULD_LINE: usize = 78;
/// Most octets on an iCalendar line (RFC 5545 §3.1), CRLF not counted.
pub(crate) const MAX_ICS_LINE: usize = 75;

/// Splits CRLF-terminated text into lines; fails on a bare CR or LF or a
/// missing final CRLF.
pub(crate) fn crlf_lines(bytes: &[u8]) -> Result<Vec<&[u8]>, String> {
    if !bytes.ends_with(b"\r\n") {
        return Err("does not end with CRLF".into());
    }
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\r' => {
                if bytes.get(i + 1) != Some(&b'\n') {
                    return Err(format!("bare CR at octet {i}"));
                }
                lines.push(&bytes[start..i]);
                i += 2;
                start = i;
            }
            b'\n' => return Err(format!("bare LF at octet {i}")),
            _ => i += 1,
        }
    }
    Ok(lines)
}

/// 7-bit, CRLF only, no line over 998 octets.
pub(crate) fn check_transport(bytes: &[u8]) -> Result<(), String> {
    if let Some(i) = bytes.iter().position(|b| !b.is_ascii()) {
        return Err(format!("8-bit octet at {i}"));
    }
    if let Some(i) = bytes.iter().position(|&b| b == 0) {
        return Err(format!("NUL at {i}"));
    }
    for (n, line) in crlf_lines(bytes)?.iter().enumerate() {
        if line.len() > MAX_MAIL_LINE {
            return Err(format!("line {n} has {} octets", line.len()));
        }
    }
    Ok(())
}

/// The header block of the top-level message (up to the first empty line).
pub(crate) fn header_block(bytes: &[u8]) -> Vec<&[u8]> {
    crlf_lines(bytes)
        .unwrap_or_default()
        .into_iter()
        .take_while(|l| !l.is_empty())
        .collect()
}

/// Names of the top-level header fields, in order, from the raw bytes; fails on
/// a line that is neither a field nor a continuation.
pub(crate) fn raw_header_names(bytes: &[u8]) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for line in header_block(bytes) {
        if line.starts_with(b" ") || line.starts_with(b"\t") {
            if names.is_empty() {
                return Err("continuation before any field".into());
            }
            continue;
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or_else(|| format!("not a field: {:?}", String::from_utf8_lossy(line)))?;
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-') {
            return Err(format!(
                "bad field name {:?}",
                String::from_utf8_lossy(name)
            ));
        }
        names.push(String::from_utf8_lossy(name).into_owned());
    }
    Ok(names)
}

/// Every line of the message, headers and bodies, keeps within 78 octets
/// (RFC 5322 §2.1.1 "SHOULD"), except a continuation line that holds one
/// token that cannot be broken (a long address, URL or Message-ID).
pub(crate) fn check_line_limits(bytes: &[u8]) -> Result<(), String> {
    for line in crlf_lines(bytes)? {
        if line.len() <= MAX_SHOULD_LINE {
            continue;
        }
        let single_token = line.strip_prefix(b" ").is_some_and(|rest| {
            !rest.is_empty() && !rest.contains(&b' ') && !rest.contains(&b'\t')
        });
        if !single_token {
            return Err(format!(
                "line of {} octets could have been folded: {:?}",
                line.len(),
                String::from_utf8_lossy(line)
            ));
        }
    }
    Ok(())
}

/// Strict base64 (RFC 2045 §6.8): lines of at most 76 characters of the
/// alphabet, padding only at the end.
pub(crate) fn base64_decode(body: &[u8]) -> Result<Vec<u8>, String> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let mut text = Vec::with_capacity(body.len());
    let mut body = body;
    while let Some(rest) = body.strip_suffix(b"\r\n") {
        body = rest;
    }
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let mut with_crlf = body.to_vec();
    with_crlf.extend_from_slice(b"\r\n");
    for line in crlf_lines(&with_crlf)? {
        if line.len() > 76 {
            return Err(format!("base64 line of {} characters", line.len()));
        }
        text.extend_from_slice(line);
    }
    if text.len() % 4 != 0 {
        return Err("base64 length is not a multiple of 4".into());
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let chunks = text.len() / 4;
    for (n, quad) in text.chunks(4).enumerate() {
        let last = n + 1 == chunks;
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return Err("misplaced base64 padding".into());
        }
        let mut acc = 0u32;
        for &c in &quad[..4 - pad] {
            acc = (acc << 6) | value(c).ok_or_else(|| format!("not base64: {:?}", c as char))?;
        }
        acc <<= 6 * pad as u32;
        let bytes = [(acc >> 16) as u8, (acc >> 8) as u8, acc as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Ok(out)
}

/// The message parsed, with the parts where
/// [interop rule 2](calinvite_core::manual::interop#rule-2) puts them.
pub(crate) struct Mime<'a> {
    pub(crate) message: Message<'a>,
    /// Decoded text of text/plain, text/html.
    pub(crate) text: String,
    pub(crate) html: String,
    /// The calendar part, base64-decoded from the raw bytes by [`base64_decode`].
    pub(crate) calendar: Vec<u8>,
    /// The calendar part as mail-parser decoded it.
    pub(crate) calendar_decoded: String,
    /// The attachment, decoded by [`base64_decode`] and by mail-parser.
    pub(crate) attachment: Vec<u8>,
    pub(crate) attachment_decoded: Vec<u8>,
    /// `method` on the calendar part's Content-Type.
    pub(crate) method: String,
}

fn part_header_names(part: &mail_parser::MessagePart<'_>) -> Vec<String> {
    part.headers
        .iter()
        .map(|h| h.name.as_str().to_ascii_lowercase())
        .collect()
}

fn content_type(part: &mail_parser::MessagePart<'_>) -> Result<String, String> {
    let ct = part.content_type().ok_or("part without Content-Type")?;
    Ok(format!(
        "{}/{}",
        ct.ctype().to_ascii_lowercase(),
        ct.subtype().unwrap_or_default().to_ascii_lowercase()
    ))
}

fn attr(part: &mail_parser::MessagePart<'_>, name: &str) -> Option<String> {
    part.content_type()
        .and_then(|ct| ct.attribute(name))
        .map(str::to_string)
}

fn raw_body<'m>(message: &'m Message<'_>, part: &mail_parser::MessagePart<'_>) -> &'m [u8] {
    &message.raw_message()[part.offset_body as usize..part.offset_end as usize]
}

/// Parses the message and checks the MIME tree is exactly
/// `multipart/mixed { multipart/alternative { text/plain, text/html,
/// text/calendar }, application/ics }` with exactly the expected part headers.
pub(crate) fn mime(bytes: &[u8]) -> Result<Mime<'_>, String> {
    let message = MessageParser::default()
        .parse(bytes)
        .ok_or("mail-parser could not parse the message")?;
    let parts = &message.parts;
    if parts.len() != 6 {
        return Err(format!("{} MIME parts, expected 6", parts.len()));
    }
    let tree = |i: usize| -> Result<Vec<usize>, String> {
        match &parts[i].body {
            PartType::Multipart(children) => Ok(children.iter().map(|&c| c as usize).collect()),
            _ => Err(format!("part {i} is not multipart")),
        }
    };
    let want = |i: usize, ct: &str, headers: &[&str]| -> Result<(), String> {
        let got = content_type(&parts[i])?;
        if got != ct {
            return Err(format!("part {i} is {got}, expected {ct}"));
        }
        let mut names = part_header_names(&parts[i]);
        let mut want: Vec<String> = headers.iter().map(|h| h.to_ascii_lowercase()).collect();
        // The top-level part's own headers are checked separately.
        if i == 0 {
            names.retain(|n| n == "content-type");
            want = vec!["content-type".into()];
        }
        names.sort();
        want.sort();
        if names != want {
            return Err(format!(
                "part {i} ({ct}) has headers {names:?}, expected {want:?}"
            ));
        }
        Ok(())
    };
    want(0, "multipart/mixed", &["Content-Type"])?;
    if tree(0)? != vec![1, 5] {
        return Err(format!("multipart/mixed holds {:?}", tree(0)?));
    }
    want(1, "multipart/alternative", &["Content-Type"])?;
    if tree(1)? != vec![2, 3, 4] {
        return Err(format!("multipart/alternative holds {:?}", tree(1)?));
    }
    want(
        2,
        "text/plain",
        &["Content-Type", "Content-Transfer-Encoding"],
    )?;
    want(
        3,
        "text/html",
        &["Content-Type", "Content-Transfer-Encoding"],
    )?;
    want(
        4,
        "text/calendar",
        &["Content-Type", "Content-Transfer-Encoding"],
    )?;
    want(
        5,
        "application/ics",
        &[
            "Content-Type",
            "Content-Disposition",
            "Content-Transfer-Encoding",
        ],
    )?;
    for (i, enc) in [
        (2, "quoted-printable"),
        (3, "quoted-printable"),
        (4, "base64"),
        (5, "base64"),
    ] {
        let got = parts[i].content_transfer_encoding().unwrap_or_default();
        if !got.eq_ignore_ascii_case(enc) {
            return Err(format!("part {i} is {got}, expected {enc}"));
        }
    }
    for (i, name) in [(2, "charset"), (3, "charset"), (4, "charset")] {
        if !attr(&parts[i], name).is_some_and(|c| c.eq_ignore_ascii_case("utf-8")) {
            return Err(format!("part {i} has no charset=UTF-8"));
        }
    }
    if attr(&parts[5], "name").as_deref() != Some("invite.ics") {
        return Err("application/ics without name=\"invite.ics\"".into());
    }
    let disposition = parts[5]
        .content_disposition()
        .ok_or("attachment without Content-Disposition")?;
    if !disposition.ctype().eq_ignore_ascii_case("attachment")
        || disposition.attribute("filename") != Some("invite.ics")
    {
        return Err("attachment is not `attachment; filename=\"invite.ics\"`".into());
    }
    let method = attr(&parts[4], "method").ok_or("text/calendar without method")?;

    let text = match &parts[2].body {
        PartType::Text(t) => t.to_string(),
        other => return Err(format!("text/plain decoded as {other:?}")),
    };
    let html = match &parts[3].body {
        PartType::Html(t) => t.to_string(),
        other => return Err(format!("text/html decoded as {other:?}")),
    };
    let calendar_decoded = match &parts[4].body {
        PartType::Text(t) => t.to_string(),
        other => return Err(format!("text/calendar decoded as {other:?}")),
    };
    let attachment_decoded = match &parts[5].body {
        PartType::Binary(b) | PartType::InlineBinary(b) => b.to_vec(),
        other => return Err(format!("application/ics decoded as {other:?}")),
    };
    let calendar = base64_decode(raw_body(&message, &parts[4]))?;
    let attachment = base64_decode(raw_body(&message, &parts[5]))?;
    Ok(Mime {
        text,
        html,
        calendar,
        calendar_decoded,
        attachment,
        attachment_decoded,
        method,
        message,
    })
}

/// The MIME boundaries appear exactly where the composer put them: two
/// openings and a close of `multipart/mixed`, three and a close of
/// `multipart/alternative`, and no other line begins like a boundary.
pub(crate) fn check_boundaries(bytes: &[u8]) -> Result<(), String> {
    let lines = crlf_lines(bytes)?;
    let dashed: Vec<&[u8]> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with(b"--"))
        .collect();
    let (mut mixed, mut alternative) = (Vec::new(), Vec::new());
    for l in &dashed {
        if l.starts_with(b"--=_m.") {
            mixed.push(l.ends_with(b"--"));
        } else if l.starts_with(b"--=_a.") {
            alternative.push(l.ends_with(b"--"));
        } else if l.starts_with(b"--=_") {
            return Err(format!("stray line {:?}", String::from_utf8_lossy(l)));
        }
    }
    if mixed != [false, false, true] || alternative != [false, false, false, true] {
        return Err(format!(
            "boundaries out of place: {mixed:?} {alternative:?}"
        ));
    }
    Ok(())
}

/// Length of the UTF-8 sequence a lead octet starts (1 for ASCII and for
/// anything that is not a lead octet).
fn utf8_len(b: u8) -> usize {
    match b {
        0xF0..=0xF7 => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// RFC 5545 §3.1 on every physical line: CRLF endings only, at most 75 octets,
/// no control characters, each line valid UTF-8 on its own (no fold inside a
/// character), a continuation begins with one space, and no fold falls between
/// a backslash and the character it escapes. Returns the unfolded logical lines.
pub(crate) fn check_ics_lines(ics: &[u8]) -> Result<Vec<String>, String> {
    let mut logical: Vec<(Vec<u8>, Vec<usize>)> = Vec::new();
    for (n, line) in crlf_lines(ics)?.into_iter().enumerate() {
        if line.len() > MAX_ICS_LINE {
            return Err(format!(
                "line {n} has {} octets: {:?}",
                line.len(),
                String::from_utf8_lossy(line)
            ));
        }
        if std::str::from_utf8(line).is_err() {
            return Err(format!(
                "line {n} is not UTF-8 on its own (a fold split a character): {:?}",
                String::from_utf8_lossy(line)
            ));
        }
        if let Some(b) = line.iter().find(|&&b| b < 0x20 || b == 0x7f) {
            return Err(format!("line {n} holds control octet {b:#04x}"));
        }
        if line.is_empty() {
            return Err(format!("line {n} is empty"));
        }
        if let Some(rest) = line.strip_prefix(b" ") {
            let (text, folds) = logical
                .last_mut()
                .ok_or("continuation line before any content line")?;
            if rest.is_empty() {
                return Err(format!("line {n} is an empty continuation"));
            }
            folds.push(text.len());
            text.extend_from_slice(rest);
        } else {
            logical.push((line.to_vec(), Vec::new()));
        }
    }
    let mut out = Vec::with_capacity(logical.len());
    for (text, folds) in logical {
        let mut i = 0;
        while i < text.len() {
            let unit = if text[i] == b'\\' && i + 1 < text.len() {
                1 + utf8_len(text[i + 1])
            } else {
                utf8_len(text[i])
            };
            if let Some(f) = folds.iter().find(|&&f| f > i && f < i + unit) {
                return Err(format!(
                    "a fold at octet {f} splits {:?}",
                    String::from_utf8_lossy(&text[i..(i + unit).min(text.len())])
                ));
            }
            i += unit;
        }
        out.push(String::from_utf8(text).map_err(|e| e.to_string())?);
    }
    Ok(out)
}
