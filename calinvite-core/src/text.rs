//! Text that is safe to carry into headers, iCalendar values and parameters.
//!
//! Every piece of human text that enters the model (summaries, descriptions, names)
//! passes through [`Text`] or [`Name`]. Normalising once at the edge is what makes
//! the writers simple: they never see a bare CR or a control character, so no input
//! can start a header, a MIME part or an iCalendar property.

use std::fmt;

/// Multi-line human text (summary, description, location, comment).
///
/// Normalised on construction: CRLF and lone CR become LF; TAB becomes a space;
/// every other control character (C0, DEL, C1) and the Unicode line/paragraph
/// separators are removed; trailing whitespace is trimmed. What remains
/// round-trips exactly through iCalendar TEXT escaping.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Text(String);

impl Text {
    /// Normalises `input` into text. Never fails: there is no text that cannot be
    /// carried, only characters that cannot be.
    pub fn new(input: impl AsRef<str>) -> Self {
        let input = input.as_ref();
        let mut out = String::with_capacity(input.len());
        let mut chars = input.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\r' => {
                    if chars.peek() == Some(&'\n') {
                        chars.next();
                    }
                    out.push('\n');
                }
                '\n' => out.push('\n'),
                '\t' => out.push(' '),
                '\u{2028}' | '\u{2029}' => out.push('\n'),
                c if is_unsafe_control(c) => {}
                c => out.push(c),
            }
        }
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        Text(out)
    }

    /// The normalised text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether nothing is left after normalising.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The text on one line: every line break becomes a space (for a subject).
    pub fn single_line(&self) -> String {
        self.0.replace('\n', " ")
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Text {
    fn from(value: &str) -> Self {
        Text::new(value)
    }
}

impl From<String> for Text {
    fn from(value: String) -> Self {
        Text::new(value)
    }
}

/// A one-line name: a person's display name, an organizer's name.
///
/// Normalised on construction: every run of whitespace or control characters
/// becomes one space, a double quote becomes a single quote `'` and a backslash a
/// slash `/` (no iCalendar parameter can carry either in a way every client reads
/// back: RFC 5545 has no escape in parameter values, while calcard, the parser
/// calinvite builds on, reads `\x` as `x`), and the ends are trimmed.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(String);

impl Name {
    /// Normalises `input`; `None` when nothing printable is left.
    pub fn new(input: impl AsRef<str>) -> Option<Self> {
        let mut out = String::with_capacity(input.as_ref().len());
        let mut pending_space = false;
        for c in input.as_ref().chars() {
            if c.is_whitespace() || c.is_control() || is_unsafe_control(c) {
                pending_space = !out.is_empty();
                continue;
            }
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(match c {
                '"' => '\'',
                '\\' => '/',
                c => c,
            });
        }
        (!out.is_empty()).then_some(Name(out))
    }

    /// The normalised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Characters no writer may ever emit from user input.
pub(crate) fn is_unsafe_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{b}'..='\u{c}' | '\u{e}'..='\u{1f}' | '\u{7f}'..='\u{9f}')
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_normalises_line_breaks_and_controls() {
        let t = Text::new("a\r\nb\rc\nd\u{0}\u{7}e\tf\u{85}g  \n");
        assert_eq!(t.as_str(), "a\nb\nc\nde fg");
    }

    #[test]
    fn name_folds_whitespace_and_quotes() {
        let n = Name::new("  Ana \r\n\"Núñez\"\u{0}  ").unwrap();
        assert_eq!(n.as_str(), "Ana 'Núñez'");
        assert_eq!(Name::new("CORP\\ana").unwrap().as_str(), "CORP/ana");
        assert!(Name::new(" \r\n\t ").is_none());
    }
}
