//! Recipient lists: a CSV file read as a stream, one [`ListEntry`] per row,
//! in bounded memory whatever the file's size.
//!
//! The first record is the header. It names the columns, in any order and
//! case: the address (`address`, `email`, `e-mail`, `email address`,
//! `email_address`, `mail`), and optionally the person's name (`name`,
//! `full name`, `display name`) and preferred language (`language`, `lang`,
//! `locale`). Other columns are ignored. The file is UTF-8 (a byte-order mark
//! is skipped) in RFC 4180 form: fields separated by commas, quoted with
//! `"` when they hold a comma, a quote (doubled) or a line break; records end
//! with CRLF or LF.
//!
//! Every row after the header gets an entry, numbered as a spreadsheet
//! numbers rows (the header is row 1; a quoted line break does not start a
//! new row): a [`Recipient`], or the [`RowProblem`] that makes the row
//! unusable, with the address as written so a person can find and fix it.
//! A bad row never stops the list; only a missing or unusable header, or the
//! input failing to read, does ([`ListError`]). Rows with nothing in them
//! (a blank line, a row of empty fields) are not entries.
//!
//! A row is at most [`ListLimits::max_record_bytes`] long: a longer one (a
//! missing closing quote swallowing the rest of a file, say) is read to its
//! end without being kept and reported as
//! [`RowProblem::TooLong`]; the reader's memory is bounded by that limit.
//!
//! ```
//! use calinvite_core::list::{ListReader, RowProblem};
//!
//! let csv = "Email,Name\r\njorg@example.org,Jörg\r\nnot an address,Zoë\r\n";
//! let mut rows = ListReader::new(csv.as_bytes()).expect("a header with an address column");
//! let first = rows.next().expect("a row").expect("read");
//! assert_eq!(first.row, 2);
//! let jorg = first.outcome.expect("a recipient");
//! assert_eq!(jorg.address().as_str(), "jorg@example.org");
//! assert_eq!(jorg.name().map(|n| n.as_str()), Some("Jörg"));
//! let second = rows.next().expect("a row").expect("read");
//! assert_eq!((second.row, second.address.as_str()), (3, "not an address"));
//! assert!(matches!(second.outcome, Err(RowProblem::InvalidAddress(_))));
//! assert!(rows.next().is_none());
//! ```

use std::io::BufRead;

use crate::address::EmailAddress;
use crate::error::AddressError;
use crate::event::{LanguageTag, Recipient};

/// How much of one row the reader keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListLimits {
    /// The longest row kept, in bytes (quotes and separators included).
    pub max_record_bytes: usize,
    /// The most fields in a row; later ones are ignored.
    pub max_fields: usize,
}

impl Default for ListLimits {
    fn default() -> Self {
        ListLimits {
            max_record_bytes: 16 * 1024,
            max_fields: 256,
        }
    }
}

/// Why a list cannot be read at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListError {
    /// The input is empty: no header.
    #[error("the list is empty: its first row must name the columns (an address column at least)")]
    Empty,
    /// The header names no address column.
    #[error(
        "the list's first row names no address column (one of: address, email, e-mail, email address, mail); it names: {found}"
    )]
    NoAddressColumn {
        /// The header's column names, as written (comma-separated, cut short).
        found: String,
    },
    /// The header is not a usable row.
    #[error("the list's first row cannot be read: {0}")]
    BadHeader(RowProblem),
    /// Reading the input failed.
    #[error("reading the list failed after row {row}: {source}")]
    Io {
        /// The last row read.
        row: u64,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
}

/// Why one row gives no recipient.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RowProblem {
    /// The address column is empty in this row.
    #[error("the address is missing")]
    MissingAddress,
    /// The address is not one.
    #[error("the address is not valid: {0}")]
    InvalidAddress(AddressError),
    /// The language column holds something that is not a language tag.
    #[error("the language {0:?} is not a language tag (such as en or de-CH)")]
    InvalidLanguage(String),
    /// The row is not UTF-8 text.
    #[error("the row is not UTF-8 text")]
    NotUtf8,
    /// A quoted field is never closed (the row runs to the end of the list).
    #[error("a quoted field is not closed before the end of the list")]
    UnterminatedQuote,
    /// A quote inside an unquoted field, or text after a closing quote.
    #[error("a stray quote: a field holding a quote must be quoted, its quotes doubled")]
    StrayQuote,
    /// The row is longer than [`ListLimits::max_record_bytes`].
    #[error("the row is longer than {limit} bytes")]
    TooLong {
        /// The limit.
        limit: usize,
    },
}

/// One row of a list.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListEntry {
    /// Its row number (the header is row 1).
    pub row: u64,
    /// The address as written (trimmed; cut to 320 characters; empty when
    /// the row could not be split into fields).
    pub address: String,
    /// The recipient, or why there is none.
    pub outcome: Result<Recipient, RowProblem>,
}

impl ListEntry {
    /// A row given by an application rather than read from a file: the
    /// recipient of row `row`.
    pub fn recipient(row: u64, recipient: Recipient) -> Self {
        ListEntry {
            row,
            address: recipient.address().as_str().to_owned(),
            outcome: Ok(recipient),
        }
    }
}

/// Where the columns are.
#[derive(Clone, Copy, Debug)]
struct Columns {
    address: usize,
    name: Option<usize>,
    language: Option<usize>,
}

/// Reads a CSV list as [`ListEntry`]s (see the [module](self) for the format).
#[derive(Debug)]
pub struct ListReader<R> {
    input: R,
    limits: ListLimits,
    columns: Columns,
    /// The row number of the last record read.
    row: u64,
    done: bool,
}

/// One record as read: its fields, or why it cannot be used.
enum Record {
    Fields(Vec<Vec<u8>>),
    Problem(RowProblem),
}

impl<R: BufRead> ListReader<R> {
    /// Reads the header of `input` with the default limits.
    pub fn new(input: R) -> Result<Self, ListError> {
        Self::with_limits(input, ListLimits::default())
    }

    /// Reads the header of `input`.
    pub fn with_limits(mut input: R, limits: ListLimits) -> Result<Self, ListError> {
        let mut row = 0;
        let header = loop {
            match read_record(&mut input, &limits)
                .map_err(|source| ListError::Io { row, source })?
            {
                None => return Err(ListError::Empty),
                Some(record) => {
                    row += 1;
                    match record {
                        Record::Problem(p) => return Err(ListError::BadHeader(p)),
                        Record::Fields(mut f) => {
                            // A byte-order mark opens the file, not a column name.
                            if row == 1
                                && let Some(first) = f.first_mut()
                                && first.starts_with(b"\xEF\xBB\xBF")
                            {
                                first.drain(..3);
                            }
                            if is_blank(&f) {
                                continue;
                            }
                            break f;
                        }
                    }
                }
            }
        };
        let names: Vec<String> = header
            .iter()
            .map(|f| String::from_utf8_lossy(f).trim().to_owned())
            .collect();
        let find = |wanted: &[&str]| {
            names.iter().position(|n| {
                let n = n.to_lowercase();
                wanted.iter().any(|w| n == *w)
            })
        };
        let Some(address) = find(&[
            "address",
            "email",
            "e-mail",
            "email address",
            "e-mail address",
            "email_address",
            "mail",
        ]) else {
            let mut found = names.join(", ");
            if found.chars().count() > 200 {
                found = found.chars().take(200).collect::<String>() + "…";
            }
            return Err(ListError::NoAddressColumn { found });
        };
        let columns = Columns {
            address,
            name: find(&["name", "full name", "display name", "full_name"]),
            language: find(&["language", "lang", "locale"]),
        };
        Ok(ListReader {
            input,
            limits,
            columns,
            row,
            done: false,
        })
    }

    /// The row number of the last row read (the header's, 1, before any).
    pub fn row(&self) -> u64 {
        self.row
    }

    fn entry(&self, fields: &[Vec<u8>]) -> ListEntry {
        let field = |i: Option<usize>| -> Result<Option<&str>, RowProblem> {
            match i.and_then(|i| fields.get(i)) {
                None => Ok(None),
                Some(f) => std::str::from_utf8(f)
                    .map(|s| Some(s.trim()).filter(|s| !s.is_empty()))
                    .map_err(|_| RowProblem::NotUtf8),
            }
        };
        let written = fields
            .get(self.columns.address)
            .map(|f| {
                String::from_utf8_lossy(f)
                    .trim()
                    .chars()
                    .take(320)
                    .collect()
            })
            .unwrap_or_default();
        let outcome = (|| {
            let address = field(Some(self.columns.address))?.ok_or(RowProblem::MissingAddress)?;
            let address = EmailAddress::parse(address).map_err(RowProblem::InvalidAddress)?;
            let mut recipient = Recipient::new(address);
            if let Some(name) = field(self.columns.name)? {
                recipient = recipient.with_name(name);
            }
            if let Some(language) = field(self.columns.language)? {
                let tag = LanguageTag::parse(language).map_err(|_| {
                    RowProblem::InvalidLanguage(language.chars().take(40).collect())
                })?;
                recipient = recipient.with_language(tag);
            }
            Ok(recipient)
        })();
        ListEntry {
            row: self.row,
            address: written,
            outcome,
        }
    }
}

impl<R: BufRead> Iterator for ListReader<R> {
    type Item = Result<ListEntry, ListError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let record = match read_record(&mut self.input, &self.limits) {
                Ok(Some(r)) => r,
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(source) => {
                    self.done = true;
                    return Some(Err(ListError::Io {
                        row: self.row,
                        source,
                    }));
                }
            };
            self.row += 1;
            match record {
                Record::Fields(f) if is_blank(&f) => continue,
                Record::Fields(f) => return Some(Ok(self.entry(&f))),
                Record::Problem(problem) => {
                    return Some(Ok(ListEntry {
                        row: self.row,
                        address: String::new(),
                        outcome: Err(problem),
                    }));
                }
            }
        }
        None
    }
}

fn is_blank(fields: &[Vec<u8>]) -> bool {
    fields.iter().all(|f| f.iter().all(u8::is_ascii_whitespace))
}

/// Where the record reader is within a field.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a field.
    Start,
    /// In an unquoted field.
    Plain,
    /// In a quoted field.
    Quoted,
    /// Just after a quote inside a quoted field (a doubled quote, or the end).
    QuoteInQuoted,
    /// After a closing quote, before the separator.
    AfterQuote,
}

/// Reads one record, or `None` at the end of the input. Memory is bounded by
/// `limits`: a longer record is consumed to its end and reported.
fn read_record(input: &mut impl BufRead, limits: &ListLimits) -> std::io::Result<Option<Record>> {
    let mut fields: Vec<Vec<u8>> = Vec::new();
    let mut field: Vec<u8> = Vec::new();
    let mut state = State::Start;
    let mut length = 0usize;
    let mut too_long = false;
    let mut stray = false;
    let mut any = false;
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            if !any {
                return Ok(None);
            }
            if state == State::Quoted {
                return Ok(Some(Record::Problem(RowProblem::UnterminatedQuote)));
            }
            return Ok(Some(finish(fields, field, limits, too_long, stray)));
        }
        any = true;
        let mut used = 0;
        let mut ended = false;
        for &b in buf {
            used += 1;
            length += 1;
            if length > limits.max_record_bytes {
                too_long = true;
            }
            match (state, b) {
                (State::Quoted, b'"') => state = State::QuoteInQuoted,
                (State::Quoted, _) => keep(&mut field, b, too_long),
                (State::QuoteInQuoted, b'"') => {
                    keep(&mut field, b'"', too_long);
                    state = State::Quoted;
                }
                (State::Start, b'"') => state = State::Quoted,
                (State::Start | State::Plain | State::QuoteInQuoted | State::AfterQuote, b',') => {
                    push_field(&mut fields, &mut field, limits, too_long);
                    state = State::Start;
                }
                (State::Start | State::Plain | State::QuoteInQuoted | State::AfterQuote, b'\n') => {
                    ended = true;
                    break;
                }
                (State::Start | State::Plain | State::QuoteInQuoted | State::AfterQuote, b'\r') => {
                    // Part of the line ending (CRLF); a lone CR is dropped.
                    if state == State::QuoteInQuoted {
                        state = State::AfterQuote;
                    }
                }
                (State::QuoteInQuoted | State::AfterQuote, b' ' | b'\t') => {
                    state = State::AfterQuote;
                }
                (State::QuoteInQuoted | State::AfterQuote, _) => {
                    stray = true;
                    keep(&mut field, b, too_long);
                    state = State::AfterQuote;
                }
                (State::Plain, b'"') => {
                    stray = true;
                    keep(&mut field, b, too_long);
                }
                (State::Start | State::Plain, _) => {
                    keep(&mut field, b, too_long);
                    state = State::Plain;
                }
            }
        }
        input.consume(used);
        if ended {
            return Ok(Some(finish(fields, field, limits, too_long, stray)));
        }
    }
}

fn keep(field: &mut Vec<u8>, b: u8, too_long: bool) {
    if !too_long {
        field.push(b);
    }
}

fn push_field(fields: &mut Vec<Vec<u8>>, field: &mut Vec<u8>, limits: &ListLimits, too_long: bool) {
    let taken = std::mem::take(field);
    if !too_long && fields.len() < limits.max_fields {
        fields.push(taken);
    }
}

fn finish(
    mut fields: Vec<Vec<u8>>,
    mut field: Vec<u8>,
    limits: &ListLimits,
    too_long: bool,
    stray: bool,
) -> Record {
    if too_long {
        return Record::Problem(RowProblem::TooLong {
            limit: limits.max_record_bytes,
        });
    }
    push_field(&mut fields, &mut field, limits, false);
    if stray {
        return Record::Problem(RowProblem::StrayQuote);
    }
    Record::Fields(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entries(csv: &[u8]) -> Vec<ListEntry> {
        ListReader::new(csv)
            .expect("header")
            .map(|e| e.expect("read"))
            .collect()
    }

    fn addresses(csv: &[u8]) -> Vec<(u64, Result<String, RowProblem>)> {
        entries(csv)
            .into_iter()
            .map(|e| (e.row, e.outcome.map(|r| r.address().as_str().to_owned())))
            .collect()
    }

    #[test]
    fn columns_are_found_by_name_in_any_order_and_case() {
        let csv = "\u{feff}Language;x,Full Name,E-Mail\r\nde,Jörg Müller,jorg@example.org\r\n";
        let e = entries(csv.as_bytes());
        assert_eq!(e.len(), 1);
        let r = e[0].outcome.clone().expect("recipient");
        assert_eq!(r.address().as_str(), "jorg@example.org");
        assert_eq!(r.name().map(|n| n.as_str()), Some("Jörg Müller"));
        // "Language;x" is not a language column: none is taken.
        assert_eq!(r.language(), None);
        let csv = "lang,email\nde-CH,zoe@example.org\n";
        let r = entries(csv.as_bytes())[0]
            .outcome
            .clone()
            .expect("recipient");
        assert_eq!(r.language().map(|l| l.as_str()), Some("de-CH"));
    }

    #[test]
    fn a_header_without_an_address_column_is_refused_and_names_what_it_found() {
        match ListReader::new("name,phone\nJörg,123\n".as_bytes()) {
            Err(ListError::NoAddressColumn { found }) => assert_eq!(found, "name, phone"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(ListReader::new(&b""[..]), Err(ListError::Empty)));
        assert!(matches!(
            ListReader::new(&b"\n\r\n"[..]),
            Err(ListError::Empty)
        ));
        assert!(matches!(
            ListReader::new(&b"\"email\n"[..]),
            Err(ListError::BadHeader(RowProblem::UnterminatedQuote))
        ));
    }

    #[test]
    fn every_row_gets_an_entry_numbered_as_a_spreadsheet_does() {
        let csv = b"email,name\r\n\
            a@example.org,A\r\n\
            \r\n\
            \"b@example.org\",\"B, with a comma\"\r\n\
            ,nobody\r\n\
            c@example.org,\"two\r\nlines\"\r\n\
            not-an-address,D\r\n\
            e@exa\"mple.org,E\r\n\
            f@example.org";
        let got = addresses(csv);
        assert_eq!(got.len(), 7, "{got:?}");
        assert_eq!(got[0], (2, Ok("a@example.org".into())));
        // Row 3 is blank: no entry, but it counts.
        assert_eq!(got[1], (4, Ok("b@example.org".into())));
        assert_eq!(got[2], (5, Err(RowProblem::MissingAddress)));
        assert_eq!(got[3], (6, Ok("c@example.org".into())));
        assert!(matches!(got[4], (7, Err(RowProblem::InvalidAddress(_)))));
        assert_eq!(got[5], (8, Err(RowProblem::StrayQuote)));
        // The last row has no line ending.
        assert_eq!(got[6], (9, Ok("f@example.org".into())));
        let named = entries(csv);
        assert_eq!(
            named[1]
                .outcome
                .as_ref()
                .expect("b")
                .name()
                .map(|n| n.as_str()),
            Some("B, with a comma")
        );
        assert_eq!(named[4].address, "not-an-address", "the address as written");
    }

    #[test]
    fn internationalised_addresses_and_any_script_in_names_are_read() {
        let csv = "email,name\njörg@bücher-müller.de,Jörg\nzoë@example.org,Зоя 🎉\n";
        let e = entries(csv.as_bytes());
        let r0 = e[0].outcome.as_ref().expect("IDN");
        assert_eq!(r0.address().to_unicode(), "jörg@bücher-müller.de");
        let r1 = e[1].outcome.as_ref().expect("UTF-8 local part");
        assert_eq!(r1.name().map(|n| n.as_str()), Some("Зоя 🎉"));
    }

    #[test]
    fn a_row_that_is_not_utf8_or_a_bad_language_is_its_own_problem() {
        let got =
            entries(b"email,name,language\na@example.org,\xff\xfe,en\nb@example.org,B,english!\n");
        assert_eq!(got[0].outcome, Err(RowProblem::NotUtf8));
        assert!(matches!(&got[1].outcome, Err(RowProblem::InvalidLanguage(l)) if l == "english!"));
    }

    #[test]
    fn an_overlong_row_is_skipped_to_its_end_and_reported() {
        let limits = ListLimits {
            max_record_bytes: 64,
            max_fields: 8,
        };
        let mut csv = b"email\n".to_vec();
        csv.extend(b"\"");
        csv.extend(std::iter::repeat_n(b'x', 10_000));
        csv.extend(b"\nstill, quoted\"\nok@example.org\n");
        let got: Vec<_> = ListReader::with_limits(&csv[..], limits)
            .expect("header")
            .map(|e| e.expect("read"))
            .collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].outcome, Err(RowProblem::TooLong { limit: 64 }));
        assert_eq!(
            (
                got[1].row,
                got[1].outcome.as_ref().map(|r| r.address().as_str())
            ),
            (3, Ok("ok@example.org"))
        );
        // An unclosed quote at the end: reported, not lost silently.
        let got = addresses(b"email\na@example.org\n\"b@example.org\n");
        assert_eq!(got[1], (3, Err(RowProblem::UnterminatedQuote)));
    }

    #[test]
    fn a_read_error_ends_the_list_and_says_after_which_row() {
        struct Failing(usize);
        impl std::io::Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let data = b"email\na@example.org\n";
                if self.0 >= data.len() {
                    return Err(std::io::Error::other("disk on fire"));
                }
                let n = (data.len() - self.0).min(buf.len());
                buf[..n].copy_from_slice(&data[self.0..self.0 + n]);
                self.0 += n;
                Ok(n)
            }
        }
        let mut rows = ListReader::new(std::io::BufReader::new(Failing(0))).expect("header");
        assert!(rows.next().expect("row").is_ok());
        match rows.next() {
            Some(Err(ListError::Io { row: 2, .. })) => {}
            other => panic!("{other:?}"),
        }
        assert!(rows.next().is_none());
    }

    /// A reader that hands out its input a few bytes at a time, to check
    /// that nothing depends on where reads split.
    struct Trickle<'a>(&'a [u8], usize);
    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(self.1);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn field() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9.]{1,12}@[a-z]{1,8}\\.(org|de)",
            "[ -~]{0,12}",
            "[\"',\r\n a-zA-Zäöü€🎉]{0,10}",
        ]
    }

    proptest! {
        /// What calinvite's own CSV writer writes, the reader reads back:
        /// the same rows, in order, with their fields, whatever they hold
        /// and however the input is split into reads.
        #[test]
        fn rows_written_as_csv_read_back(
            rows in prop::collection::vec((field(), field()), 0..20),
            chunk in 1usize..7,
        ) {
            let mut csv = String::new();
            crate::csv::write_record(&mut csv, ["email", "name"]);
            for (a, n) in &rows {
                crate::csv::write_record(&mut csv, [a.as_str(), n.as_str()]);
            }
            let reader = ListReader::new(std::io::BufReader::with_capacity(
                chunk,
                Trickle(csv.as_bytes(), chunk),
            ))
            .expect("header");
            let got: Vec<ListEntry> = reader.map(|e| e.expect("read")).collect();
            // The writer neutralises formula-like cells with an apostrophe.
            let written = |f: &str| {
                if f.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                    format!("'{f}")
                } else {
                    f.to_owned()
                }
            };
            // Blank rows are not entries; every other row is, in order.
            let kept: Vec<String> = rows
                .iter()
                .filter(|(a, n)| !(written(a).trim().is_empty() && written(n).trim().is_empty()))
                .map(|(a, _)| written(a))
                .collect();
            prop_assert_eq!(got.len(), kept.len());
            for (entry, written) in got.iter().zip(&kept) {
                let want: String = written.trim().chars().take(320).collect();
                prop_assert_eq!(&entry.address, &want);
                match &entry.outcome {
                    Ok(r) => prop_assert_eq!(
                        Some(r.address().clone()),
                        EmailAddress::parse(want.trim()).ok()
                    ),
                    Err(RowProblem::MissingAddress) => prop_assert!(want.is_empty()),
                    Err(RowProblem::InvalidAddress(_)) => {
                        prop_assert!(EmailAddress::parse(want.trim()).is_err());
                    }
                    Err(other) => prop_assert!(false, "unexpected {other:?}"),
                }
            }
            let rows_numbered: Vec<u64> = got.iter().map(|e| e.row).collect();
            prop_assert!(rows_numbered.windows(2).all(|w| w[0] < w[1]));
        }

        /// Any bytes at all: the reader ends, never panics, and keeps no
        /// more than its limit of any row.
        #[test]
        fn any_bytes_are_read_to_the_end(
            body in prop::collection::vec(any::<u8>(), 0..400),
            chunk in 1usize..9,
        ) {
            let mut input = b"email,name,lang\n".to_vec();
            input.extend(&body);
            let limits = ListLimits { max_record_bytes: 32, max_fields: 4 };
            let reader = ListReader::with_limits(
                std::io::BufReader::with_capacity(chunk, Trickle(&input, chunk)),
                limits,
            )
            .expect("header");
            let mut last = 1;
            for entry in reader {
                let entry = entry.expect("no I/O error");
                prop_assert!(entry.row > last);
                last = entry.row;
                prop_assert!(entry.address.len() <= 32 * 4);
            }
        }
    }
}
