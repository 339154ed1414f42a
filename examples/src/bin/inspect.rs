//! `inspect`: why was this message treated as it was?
//!
//! Reads one message (a file, or standard input) and prints its
//! classification and every extracted field as JSON. A bare iCalendar file
//! (`.ics`) is wrapped in a minimal `text/calendar` message first, as if a
//! client had mailed it.
//!
//! ```text
//! inspect [MESSAGE.eml | CALENDAR.ics | -] [--mail-from ADDR] [--rcpt-to ADDR]
//! ```

use std::io::Read as _;
use std::process::ExitCode;

use calinvite_core::inbound::{
    AuthVerdict, InboundEnvelope, InboundLimits, message_from_calendar, parse_inbound,
};

const USAGE: &str =
    "usage: inspect [MESSAGE.eml | CALENDAR.ics | -] [--mail-from ADDR] [--rcpt-to ADDR]

Prints how calinvite classifies the message and every field it extracted, as JSON.
With no file (or -), reads standard input.";

fn run() -> Result<String, String> {
    let mut path: Option<String> = None;
    let mut envelope = InboundEnvelope::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-h" | "--help" => return Err(USAGE.into()),
            "--mail-from" => {
                envelope.mail_from = Some(args.next().ok_or("--mail-from needs an address")?)
            }
            "--rcpt-to" => envelope
                .rcpt_to
                .push(args.next().ok_or("--rcpt-to needs an address")?),
            s if s.starts_with("--") => return Err(format!("unknown option {s}\n\n{USAGE}")),
            _ if path.is_none() => path = Some(a),
            _ => return Err(format!("unexpected argument {a:?}\n\n{USAGE}")),
        }
    }
    let limits = InboundLimits::default();
    let mut raw = Vec::new();
    match path.as_deref() {
        None | Some("-") => {
            std::io::stdin()
                .take(limits.max_message_bytes as u64 + 1)
                .read_to_end(&mut raw)
                .map_err(|e| format!("cannot read standard input: {e}"))?;
        }
        Some(p) => raw = std::fs::read(p).map_err(|e| format!("cannot read {p}: {e}"))?,
    }
    if path
        .as_deref()
        .is_some_and(|p| p.to_ascii_lowercase().ends_with(".ics"))
    {
        raw = message_from_calendar(&raw);
    }
    let message = parse_inbound(&raw, &envelope, &AuthVerdict::default(), &limits);
    Ok(message.to_json())
}

fn main() -> ExitCode {
    match run() {
        Ok(json) => {
            #[allow(clippy::print_stdout)] // printing the JSON is this tool's job
            {
                print!("{json}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("inspect: {e}");
            ExitCode::FAILURE
        }
    }
}
