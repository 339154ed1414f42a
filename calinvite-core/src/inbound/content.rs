//! A liberal, bounded reader of iCalendar content lines (RFC 5545 §3.1).
//!
//! Lines are unfolded at the byte level before any text is decoded (a fold
//! may split a UTF-8 sequence), names are case-insensitive, repeated
//! properties are all kept, and the number of lines, components and nesting
//! levels is capped while scanning, so no input costs more than its size.

use std::borrow::Cow;

use super::InboundLimits;

/// One property: upper-case name, parameters, raw (still escaped) value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Property {
    pub(crate) name: String,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) value: String,
}

impl Property {
    /// The first value of a parameter, case-insensitively.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A component and what it holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Component {
    pub(crate) kind: String,
    pub(crate) properties: Vec<Property>,
    pub(crate) children: Vec<Component>,
}

impl Component {
    /// The first property of that name.
    pub(crate) fn prop(&self, name: &str) -> Option<&Property> {
        self.properties.iter().find(|p| p.name == name)
    }

    /// Every property of that name.
    pub(crate) fn props<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Property> + 'a {
        self.properties.iter().filter(move |p| p.name == name)
    }

    /// Children of that kind.
    pub(crate) fn children_of<'a>(
        &'a self,
        kind: &'a str,
    ) -> impl Iterator<Item = &'a Component> + 'a {
        self.children.iter().filter(move |c| c.kind == kind)
    }
}

/// Decodes unfolded lines from the calendar part's charset to text.
pub(crate) struct LineDecoder {
    legacy: Option<mail_parser::decoders::charsets::DecoderFnc>,
    replaced: std::cell::Cell<bool>,
}

impl LineDecoder {
    /// A decoder for `charset` (UTF-8 when none); `None` when no decoder knows it.
    pub(crate) fn for_charset(charset: Option<&str>) -> Option<Self> {
        let name = charset
            .unwrap_or("utf-8")
            .trim()
            .trim_matches('"')
            .to_ascii_lowercase();
        let legacy = if matches!(name.as_str(), "utf-8" | "utf8" | "us-ascii" | "ascii" | "") {
            None
        } else {
            Some(mail_parser::decoders::charsets::map::charset_decoder(
                name.as_bytes(),
            )?)
        };
        Some(LineDecoder {
            legacy,
            replaced: std::cell::Cell::new(false),
        })
    }

    pub(crate) fn decode<'a>(&self, bytes: &'a [u8]) -> Cow<'a, str> {
        match self.legacy {
            Some(f) => Cow::Owned(f(bytes)),
            None => match std::str::from_utf8(bytes) {
                Ok(text) => Cow::Borrowed(text),
                Err(_) => {
                    self.replaced.set(true);
                    String::from_utf8_lossy(bytes)
                }
            },
        }
    }

    /// Whether bytes that are not UTF-8 had to be replaced.
    pub(crate) fn replaced_any(&self) -> bool {
        self.replaced.get()
    }
}

/// Why a calendar could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ContentError {
    TooManyProperties(usize),
    TooManyComponents(usize),
    TooDeep(usize),
    NoCalendar,
}

/// Reads every VCALENDAR in `bytes`. Lines that are not content lines are
/// skipped with a warning; unbalanced BEGIN/END are repaired as far as they can be.
pub(crate) fn read_calendars(
    bytes: &[u8],
    decoder: &LineDecoder,
    limits: &InboundLimits,
    warnings: &mut Vec<String>,
) -> Result<Vec<Component>, ContentError> {
    let mut stack: Vec<Component> = Vec::new();
    let mut done: Vec<Component> = Vec::new();
    let mut properties = 0usize;
    let mut components = 0usize;
    let mut skipped = 0usize;
    let mut logical: Vec<u8> = Vec::new();

    let mut handle = |line: &[u8],
                      stack: &mut Vec<Component>,
                      done: &mut Vec<Component>|
     -> Result<(), ContentError> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let text = decoder.decode(line);
        let Some(prop) = parse_line(&text) else {
            skipped += 1;
            return Ok(());
        };
        match prop.name.as_str() {
            "BEGIN" => {
                components += 1;
                if components > limits.max_components {
                    return Err(ContentError::TooManyComponents(limits.max_components));
                }
                if stack.len() >= 8 {
                    return Err(ContentError::TooDeep(8));
                }
                stack.push(Component {
                    kind: prop.value.trim().to_ascii_uppercase(),
                    ..Component::default()
                });
            }
            "END" => {
                let kind = prop.value.trim().to_ascii_uppercase();
                // Close up to the matching BEGIN; an END without one is ignored.
                if let Some(pos) = stack.iter().rposition(|c| c.kind == kind) {
                    while stack.len() > pos + 1 {
                        let inner = stack.pop().unwrap_or_default();
                        if let Some(parent) = stack.last_mut() {
                            parent.children.push(inner);
                        }
                    }
                    let c = stack.pop().unwrap_or_default();
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(c),
                        None => done.push(c),
                    }
                }
            }
            _ => {
                properties += 1;
                if properties > limits.max_properties {
                    return Err(ContentError::TooManyProperties(limits.max_properties));
                }
                if let Some(c) = stack.last_mut() {
                    c.properties.push(prop);
                }
            }
        }
        Ok(())
    };

    for raw in bytes.split(|&b| b == b'\n') {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        match raw.first() {
            Some(b' ' | b'\t') if !logical.is_empty() => logical.extend_from_slice(&raw[1..]),
            _ => {
                if !logical.is_empty() {
                    handle(&logical, &mut stack, &mut done)?;
                    logical.clear();
                }
                logical.extend_from_slice(raw);
            }
        }
    }
    if !logical.is_empty() {
        handle(&logical, &mut stack, &mut done)?;
    }
    if !stack.is_empty() {
        warnings.push(format!("{} component(s) not closed by END", stack.len()));
        while let Some(c) = stack.pop() {
            match stack.last_mut() {
                Some(parent) => parent.children.push(c),
                None => done.push(c),
            }
        }
    }
    if skipped > 0 {
        warnings.push(format!(
            "{skipped} line(s) that are not iCalendar content lines were skipped"
        ));
    }
    done.retain(|c| c.kind == "VCALENDAR");
    if done.is_empty() {
        return Err(ContentError::NoCalendar);
    }
    Ok(done)
}

/// Splits `NAME;P1=a,"b";P2=c:value`. Quoted parameter values may hold `;:,`.
fn parse_line(line: &str) -> Option<Property> {
    let bytes = line.as_bytes();
    let name_end = bytes.iter().position(|&b| b == b';' || b == b':')?;
    let name = line[..name_end].trim();
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    let mut params = Vec::new();
    let mut i = name_end;
    while bytes.get(i) == Some(&b';') {
        i += 1;
        let eq = i + bytes[i..]
            .iter()
            .position(|&b| b == b'=' || b == b':' || b == b';')?;
        if bytes[eq] != b'=' {
            // A parameter without a value (`;RSVP:`): keep it with an empty value.
            params.push((line[i..eq].trim().to_ascii_uppercase(), String::new()));
            i = eq;
            continue;
        }
        let pname = line[i..eq].trim().to_ascii_uppercase();
        i = eq + 1;
        let mut values = String::new();
        loop {
            if bytes.get(i) == Some(&b'"') {
                let close = i + 1 + bytes[i + 1..].iter().position(|&b| b == b'"')?;
                values.push_str(&line[i + 1..close]);
                i = close + 1;
            } else {
                let end = i + bytes[i..]
                    .iter()
                    .position(|&b| matches!(b, b';' | b':' | b','))?;
                values.push_str(&line[i..end]);
                i = end;
            }
            if bytes.get(i) == Some(&b',') {
                values.push(',');
                i += 1;
                continue;
            }
            break;
        }
        params.push((pname, caret_decode(&values)));
    }
    if bytes.get(i) != Some(&b':') {
        return None;
    }
    Some(Property {
        name: name.to_ascii_uppercase(),
        params,
        value: line[i + 1..].to_string(),
    })
}

/// RFC 6868 parameter value encoding: `^n` newline, `^'` double quote, `^^` caret.
fn caret_decode(s: &str) -> String {
    if !s.contains('^') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '^' {
            match chars.peek() {
                Some('n') | Some('N') => {
                    chars.next();
                    out.push('\n');
                }
                Some('\'') => {
                    chars.next();
                    out.push('"');
                }
                Some('^') => {
                    chars.next();
                    out.push('^');
                }
                _ => out.push('^'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Undoes TEXT escaping (RFC 5545 §3.3.11), liberally: an unknown escape keeps its character.
pub(crate) fn unescape_text(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') | Some('N') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf8() -> LineDecoder {
        LineDecoder::for_charset(None).unwrap()
    }

    fn read(s: &str) -> Vec<Component> {
        let mut w = Vec::new();
        read_calendars(s.as_bytes(), &utf8(), &InboundLimits::default(), &mut w).unwrap()
    }

    #[test]
    fn unfolds_bytes_before_decoding() {
        // A fold inside a three-octet character (東 = E6 9D B1).
        let raw = b"BEGIN:VCALENDAR\r\nSUMMARY:\xE6\x9D\r\n \xB1\r\nEND:VCALENDAR\r\n";
        let mut w = Vec::new();
        let cals = read_calendars(raw, &utf8(), &InboundLimits::default(), &mut w).unwrap();
        assert_eq!(cals[0].prop("SUMMARY").unwrap().value, "東");
    }

    #[test]
    fn parameters_quoted_repeated_and_case_insensitive() {
        let cals = read(
            "begin:vcalendar\nattendee;cn=\"Smith, J: x\";Partstat=ACCEPTED;x-a=a,\"b;c\":MAILTO:j@x.org\nrequest-status:2.0;Success\nREQUEST-STATUS:3.7;Invalid\nend:vcalendar\n",
        );
        let c = &cals[0];
        let a = c.prop("ATTENDEE").unwrap();
        assert_eq!(a.param("CN"), Some("Smith, J: x"));
        assert_eq!(a.param("partstat"), Some("ACCEPTED"));
        assert_eq!(a.param("X-A"), Some("a,b;c"));
        assert_eq!(a.value, "MAILTO:j@x.org");
        assert_eq!(c.props("REQUEST-STATUS").count(), 2);
    }

    #[test]
    fn limits_bound_the_work() {
        let many = format!(
            "BEGIN:VCALENDAR\n{}END:VCALENDAR\n",
            "ATTENDEE:mailto:a@b.c\n".repeat(100_001)
        );
        let mut w = Vec::new();
        let limits = InboundLimits::default();
        let r = read_calendars(many.as_bytes(), &utf8(), &limits, &mut w);
        assert_eq!(
            r,
            Err(ContentError::TooManyProperties(limits.max_properties))
        );
        let deep = "BEGIN:X\n".repeat(20);
        assert_eq!(
            read_calendars(deep.as_bytes(), &utf8(), &limits, &mut w),
            Err(ContentError::TooDeep(8))
        );
    }

    #[test]
    fn text_unescaping() {
        assert_eq!(
            unescape_text(r"a\, b\; c\\ d\nE\Nf\x"),
            "a, b; c\\ d\nE\nfx"
        );
    }
}
