//! CSV for reports: RFC 4180, UTF-8, and safe to open in a spreadsheet.
//!
//! Fields are quoted when they hold a comma, a quote or a line break (quotes
//! doubled); records end with CRLF. A cell that a spreadsheet would read as a
//! formula — one beginning with `=`, `+`, `-`, `@`, or a tab or carriage
//! return before one — is neutralised with a leading apostrophe (the OWASP
//! advice for CSV injection), so an attendee named `=HYPERLINK(…)` stays text.

/// Appends one record to `out`.
pub fn write_record<'a>(out: &mut String, fields: impl IntoIterator<Item = &'a str>) {
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let neutralise = field.starts_with(['=', '+', '-', '@', '\t', '\r']);
        let quote = field.contains(['"', ',', '\n', '\r']);
        if quote {
            out.push('"');
        }
        if neutralise {
            out.push('\'');
        }
        for c in field.chars() {
            if c == '"' {
                out.push('"');
            }
            out.push(c);
        }
        if quote {
            out.push('"');
        }
    }
    out.push_str("\r\n");
}

/// A whole table: a header record, then the rows.
pub fn table<'a, R>(header: &[&str], rows: impl IntoIterator<Item = R>) -> String
where
    R: IntoIterator<Item = &'a str>,
{
    let mut out = String::new();
    write_record(&mut out, header.iter().copied());
    for row in rows {
        write_record(&mut out, row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A minimal RFC 4180 reader, to check what the writer writes.
    fn read(csv: &str) -> Vec<Vec<String>> {
        let mut records = Vec::new();
        let mut record = Vec::new();
        let mut field = String::new();
        let mut chars = csv.chars().peekable();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match (quoted, c) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                (true, '"') => quoted = false,
                (true, c) => field.push(c),
                (false, '"') => quoted = true,
                (false, ',') => record.push(std::mem::take(&mut field)),
                (false, '\r') if chars.peek() == Some(&'\n') => {
                    chars.next();
                    record.push(std::mem::take(&mut field));
                    records.push(std::mem::take(&mut record));
                }
                (false, c) => field.push(c),
            }
        }
        records
    }

    #[test]
    fn quotes_and_neutralises() {
        let csv = table(
            &["address", "name"],
            [
                vec!["ana@example.org", "Núñez, Ana"],
                vec!["x@example.org", "=HYPERLINK(\"http://evil\")"],
                vec!["y@example.org", "-2+3"],
            ],
        );
        assert_eq!(
            csv,
            "address,name\r\nana@example.org,\"Núñez, Ana\"\r\nx@example.org,\"'=HYPERLINK(\"\"http://evil\"\")\"\r\ny@example.org,'-2+3\r\n"
        );
    }

    proptest! {
        /// Any text reads back as written, except that formula starts gain an apostrophe.
        #[test]
        fn round_trips_through_an_rfc4180_reader(rows in prop::collection::vec(prop::collection::vec("\\PC*|[=+@,\"\r\n-]{0,4}", 1..5), 1..6)) {
            let width = rows[0].len();
            let rows: Vec<Vec<String>> = rows.into_iter().map(|mut r| { r.resize(width, String::new()); r }).collect();
            let header: Vec<String> = (0..width).map(|i| format!("c{i}")).collect();
            let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
            let csv = table(&header_refs, rows.iter().map(|r| r.iter().map(String::as_str)));
            let back = read(&csv);
            prop_assert_eq!(back.len(), rows.len() + 1);
            for (got, want) in back[1..].iter().zip(&rows) {
                for (g, w) in got.iter().zip(want) {
                    if w.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                        prop_assert_eq!(g, &format!("'{w}"));
                    } else {
                        prop_assert_eq!(g, w);
                    }
                }
            }
        }
    }
}
