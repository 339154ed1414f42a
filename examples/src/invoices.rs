//! The invoices of the `invoice-reminders` example, and how each becomes a
//! calinvite event.
//!
//! An invoice's due date is one customer's event: it has its own amount and
//! its own payment link, so each invoice is created as its own event (through
//! [`Pipeline::create_event`](calinvite_core::lifecycle::Pipeline::create_event),
//! no organizer calendar involved) and its customer is that event's only
//! invitee. The amount is in the summary and the description, the payment
//! link is the event's URL: calendar clients show both, and the invitation's
//! text repeats them.
//!
//! ```toml
//! [[invoice]]
//! number = "INV-2026-0117"          # letters, digits and . _ / -
//! customer = "Ana Souza"
//! email = "ana.souza@example.net"
//! amount = "1240.00"                # at most two decimals
//! currency = "EUR"                  # ISO 4217 code
//! due = "+14"                       # days after today, or a date: "2026-12-15"
//! payment_link = "https://pay.example.com/i/INV-2026-0117"
//! ```
//!
//! Relative due dates keep the sample usable on any day; a due date before
//! today is refused (reminders are for invoices still to be paid).

use std::path::Path;

use calinvite_core::{EmailAddress, Event, EventCode, Name, Recipient, Schedule, WebUrl};
use chrono::{Days, NaiveDate};
use serde::Deserialize;

/// One invoice, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invoice {
    /// The invoice number (letters, digits and `. _ / -`).
    pub number: String,
    /// The customer's name.
    pub customer: Name,
    /// Where the reminder goes.
    pub email: EmailAddress,
    /// The amount in hundredths of the currency unit.
    pub cents: u64,
    /// The ISO 4217 currency code.
    pub currency: String,
    /// The due date.
    pub due: NaiveDate,
    /// Where the customer pays.
    pub payment_link: WebUrl,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvoiceFile {
    #[serde(rename = "invoice", default)]
    invoices: Vec<RawInvoice>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInvoice {
    number: String,
    customer: String,
    email: String,
    amount: String,
    currency: String,
    due: String,
    payment_link: String,
}

impl Invoice {
    /// The amount as a customer reads it: `EUR 1,240.00`.
    pub fn amount(&self) -> String {
        let units = (self.cents / 100).to_string();
        let mut grouped = String::with_capacity(units.len() + units.len() / 3);
        for (i, c) in units.chars().enumerate() {
            if i > 0 && (units.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        format!("{} {grouped}.{:02}", self.currency, self.cents % 100)
    }

    /// The invitee: the customer, by name.
    pub fn recipient(&self) -> Recipient {
        Recipient::new(self.email.clone()).with_name(self.customer.as_str())
    }

    /// The summary calendars show: `Invoice INV-2026-0117 due: EUR 1,240.00`.
    pub fn summary(&self) -> String {
        format!("Invoice {} due: {}", self.number, self.amount())
    }

    /// The description: amount, due date, payment link, and what each answer
    /// tells the sender.
    pub fn description(&self, company: &str) -> String {
        format!(
            "Invoice {number} from {company}: {amount}, due on {due}.\n\
             Pay online: {link}\n\n\
             Answer Yes if you will pay by the due date, Maybe if you are not sure yet, \
             No if you cannot (we will get in touch). The due date stays on your calendar \
             as a reminder.",
            number = self.number,
            amount = self.amount(),
            due = self.due.format("%A %-d %B %Y"),
            link = self.payment_link.as_str(),
        )
    }

    /// The invoice's due-date event: all day on the due date, organized by
    /// `organizer` (the billing department).
    pub fn event(
        &self,
        code: EventCode,
        organizer: &EmailAddress,
        organizer_name: &str,
        company: &str,
    ) -> Result<Event, String> {
        let schedule = Schedule::all_day(self.due, self.due).map_err(|e| e.to_string())?;
        Event::builder(code)
            .summary(self.summary().as_str())
            .description(self.description(company).as_str())
            .url(self.payment_link.as_str())
            .schedule(schedule)
            .organizer(organizer.clone(), Some(organizer_name))
            .build()
            .map_err(|e| format!("invoice {}: {e}", self.number))
    }
}

/// Reads invoices from a TOML file (see the module docs); relative due dates
/// count from `today`.
pub fn read(path: &Path, today: NaiveDate) -> Result<Vec<Invoice>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse(&text, today).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses invoices from TOML text (see the module docs).
pub fn parse(text: &str, today: NaiveDate) -> Result<Vec<Invoice>, String> {
    let file: InvoiceFile = toml::from_str(text).map_err(|e| e.to_string())?;
    if file.invoices.is_empty() {
        return Err("no [[invoice]] entries".into());
    }
    let mut out: Vec<Invoice> = Vec::with_capacity(file.invoices.len());
    for (i, raw) in file.invoices.into_iter().enumerate() {
        let invoice =
            check(raw, today).map_err(|e| format!("invoice {} (entry {}): {e}", i + 1, i + 1))?;
        if let Some(other) = out.iter().find(|o| o.number == invoice.number) {
            return Err(format!("invoice number {} appears twice", other.number));
        }
        out.push(invoice);
    }
    Ok(out)
}

fn check(raw: RawInvoice, today: NaiveDate) -> Result<Invoice, String> {
    let number = raw.number.trim().to_owned();
    if number.is_empty()
        || number.len() > 40
        || !number
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_/".contains(&b))
    {
        return Err(format!(
            "number {:?}: use 1 to 40 letters, digits and . _ / -",
            raw.number
        ));
    }
    let customer = Name::new(&raw.customer).ok_or("customer: a name is needed")?;
    let email =
        EmailAddress::parse(&raw.email).map_err(|e| format!("email {:?}: {e}", raw.email))?;
    let cents = parse_amount(&raw.amount)?;
    let currency = raw.currency.trim().to_owned();
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(format!(
            "currency {:?}: use a three-letter code such as EUR",
            raw.currency
        ));
    }
    let due = parse_due(&raw.due, today)?;
    if due < today {
        return Err(format!(
            "due {due} is before today ({today}): reminders are for invoices still to be paid"
        ));
    }
    let payment_link = WebUrl::parse(raw.payment_link.trim())
        .map_err(|e| format!("payment_link {:?}: {e}", raw.payment_link))?;
    Ok(Invoice {
        number,
        customer,
        email,
        cents,
        currency,
        due,
        payment_link,
    })
}

/// `"1240"`, `"1240.5"`, `"1240.00"` → hundredths.
fn parse_amount(s: &str) -> Result<u64, String> {
    let bad = || format!("amount {s:?}: use digits with at most two decimals, e.g. \"1240.00\"");
    let (units, decimals) = s.trim().split_once('.').unwrap_or((s.trim(), ""));
    if units.is_empty()
        || units.len() > 12
        || decimals.len() > 2
        || !units
            .bytes()
            .chain(decimals.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let units: u64 = units.parse().map_err(|_| bad())?;
    let decimals: u64 = match decimals.len() {
        0 => 0,
        1 => decimals.parse::<u64>().map_err(|_| bad())? * 10,
        _ => decimals.parse().map_err(|_| bad())?,
    };
    Ok(units * 100 + decimals)
}

/// `"+14"` (days after `today`) or `"2026-12-15"`.
fn parse_due(s: &str, today: NaiveDate) -> Result<NaiveDate, String> {
    let s = s.trim();
    if let Some(days) = s.strip_prefix('+') {
        let days: u64 = days
            .parse()
            .map_err(|_| format!("due {s:?}: use +DAYS or a date (2026-12-15)"))?;
        return today
            .checked_add_days(Days::new(days))
            .ok_or_else(|| format!("due {s:?} is too far away"));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|e| format!("due {s:?}: {e} (use +DAYS or a date: 2026-12-15)"))
}

/// `n` made-up invoices for a larger run: customers `customer-0001@example.net`
/// and on, international names, amounts and due dates spread out.
pub fn generate(n: usize, today: NaiveDate) -> Result<Vec<Invoice>, String> {
    const FIRST: [&str; 8] = [
        "Ana", "Jörg", "Mei", "Olusegun", "Søren", "Priya", "Élodie", "Mateus",
    ];
    const LAST: [&str; 7] = [
        "Souza",
        "Ødegård",
        "Nakamura",
        "Adeyemi",
        "Müller",
        "García",
        "Kowalska",
    ];
    (1..=n)
        .map(|i| {
            let number = format!("INV-{}-{i:05}", today.format("%Y"));
            check(
                RawInvoice {
                    customer: format!("{} {}", FIRST[i % FIRST.len()], LAST[i % LAST.len()]),
                    email: format!("customer-{i:04}@example.net"),
                    amount: format!("{}.{:02}", 40 + (i * 7919) % 4000, (i * 37) % 100),
                    currency: ["EUR", "USD", "GBP"][i % 3].to_owned(),
                    due: format!("+{}", 7 + (i * 13) % 54),
                    payment_link: format!("https://pay.example.com/i/{number}"),
                    number,
                },
                today,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    const ONE: &str = r#"
[[invoice]]
number = "INV-1"
customer = "Jörg Ødegård"
email = "jorg@example.org"
amount = "1234567.5"
currency = "EUR"
due = "+14"
payment_link = "https://pay.example.com/i/INV-1"
"#;

    #[test]
    fn reads_an_invoice() {
        let inv = &parse(ONE, today()).unwrap()[0];
        assert_eq!(inv.amount(), "EUR 1,234,567.50");
        assert_eq!(inv.due, NaiveDate::from_ymd_opt(2026, 12, 6).unwrap());
        assert_eq!(inv.summary(), "Invoice INV-1 due: EUR 1,234,567.50");
        assert!(inv.description("Example Supplies").contains(
            "Invoice INV-1 from Example Supplies: EUR 1,234,567.50, due on Sunday 6 December 2026.\n\
             Pay online: https://pay.example.com/i/INV-1\n"
        ));
    }

    #[test]
    fn refuses_what_does_not_fit() {
        for (from, to, why) in [
            ("\"1234567.5\"", "\"12.345\"", "at most two decimals"),
            ("\"1234567.5\"", "\"-3\"", "at most two decimals"),
            ("\"EUR\"", "\"euro\"", "three-letter code"),
            ("\"+14\"", "\"2026-11-21\"", "before today"),
            ("\"+14\"", "\"soon\"", "use +DAYS"),
            ("\"INV-1\"", "\"INV 1\"", "letters, digits"),
            (
                "\"https://pay.example.com/i/INV-1\"",
                "\"javascript:x\"",
                "payment_link",
            ),
            ("\"jorg@example.org\"", "\"jorg\"", "email"),
        ] {
            let text = ONE.replacen(from, to, 1);
            let err = parse(&text, today()).unwrap_err();
            assert!(err.contains(why), "{to}: {err}");
        }
        assert!(
            parse(&format!("{ONE}{ONE}"), today())
                .unwrap_err()
                .contains("twice")
        );
        assert!(parse("", today()).unwrap_err().contains("no [[invoice]]"));
    }

    #[test]
    fn generated_invoices_are_valid_and_distinct() {
        let all = generate(500, today()).unwrap();
        assert_eq!(all.len(), 500);
        let numbers: std::collections::HashSet<_> = all.iter().map(|i| &i.number).collect();
        assert_eq!(numbers.len(), 500);
        assert!(all.iter().all(|i| i.due > today()));
    }
}
