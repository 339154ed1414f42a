//! The `invoice-reminders` platform, run as a user runs it: every customer
//! gets one invitation with their own amount and link, the answers the
//! simulated customers mailed are the ones reported, and the CSV has a row
//! per invitation.

#![allow(clippy::unwrap_used)] // a test fails loudly on the first unexpected error

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use calinvite_core::ParticipationStatus;
use calinvite_core::inbound::{
    AuthVerdict, InboundEnvelope, InboundKind, InboundLimits, parse_inbound,
};
use calinvite_examples::invoices::{self, Invoice};
use calinvite_examples::sink::folder_name;
use chrono::NaiveDate;

const NOW: &str = "2026-11-22T09:00:00Z";

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
}

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("invoices/sample.toml")
}

fn out_dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "calinvite-invoice-reminders-test-{}-{test}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_invoice-reminders"))
        .args(args)
        .output()
        .expect("run invoice-reminders")
}

fn run_ok(args: &[&str]) -> String {
    let out = run(args);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "invoice-reminders {args:?} failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn read(raw: &[u8]) -> calinvite_core::inbound::InboundMessage {
    parse_inbound(
        raw,
        &InboundEnvelope::default(),
        &AuthVerdict::default(),
        &InboundLimits::default(),
    )
}

/// The `.eml` files in `dir`, sorted.
fn emls(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "eml"));
    files.sort();
    files
}

/// Checks the invitation each invoice's customer holds: exactly one message,
/// a REQUEST whose calendar part carries this invoice's amount and link and
/// no other invoice's.
fn check_invitations(out: &Path, all: &[Invoice]) {
    for invoice in all {
        let mailbox = out.join("mail").join(folder_name(invoice.email.as_str()));
        let files = emls(&mailbox);
        assert_eq!(files.len(), 1, "{}: {files:?}", invoice.email);
        let raw = std::fs::read(&files[0]).unwrap();
        let text = String::from_utf8(raw.clone()).unwrap();
        assert!(
            text.contains("Content-Type: text/calendar; charset=UTF-8; method=REQUEST"),
            "{}",
            files[0].display()
        );
        let message = read(&raw);
        assert_eq!(message.method.as_deref(), Some("REQUEST"));
        assert!(message.warnings.is_empty(), "{:?}", message.warnings);
        let InboundKind::OrganizerRequest(request) = message.kind else {
            panic!("{} read as {}", files[0].display(), message.kind.name());
        };
        assert_eq!(
            request.identity.organizer.unwrap().address().as_str(),
            "rsvp@invoices.example.com"
        );
        let summary = request.event.summary.unwrap();
        let description = request.event.description.unwrap();
        assert!(summary.as_str().contains(&invoice.amount()), "{summary:?}");
        assert!(
            description.as_str().contains(&invoice.amount())
                && description.as_str().contains(invoice.payment_link.as_str()),
            "{description:?}"
        );
        assert_eq!(
            request.event.url.as_deref(),
            Some(invoice.payment_link.as_str())
        );
        for other in all.iter().filter(|o| o.number != invoice.number) {
            assert!(
                !description.as_str().contains(&other.number),
                "{} mentions {}",
                invoice.number,
                other.number
            );
        }
    }
}

/// Every file under `dir`, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            files.extend(files_under(&p));
        } else {
            files.push(p);
        }
    }
    files.sort();
    files
}

/// The answers the simulated customers mailed (`replies/MAILBOX/NUMBER.eml`),
/// by invoice number, each checked to come from that mailbox.
fn replies(out: &Path) -> BTreeMap<String, ParticipationStatus> {
    let mut answers = BTreeMap::new();
    for path in files_under(&out.join("replies")) {
        let message = read(&std::fs::read(&path).unwrap());
        let InboundKind::Reply(reply) = message.kind else {
            panic!("{} read as {}", path.display(), message.kind.name());
        };
        let mailbox = path
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        assert_eq!(
            folder_name(reply.attendee.unwrap().address().as_str()),
            mailbox
        );
        let number = path.file_stem().unwrap().to_str().unwrap().to_owned();
        answers.insert(number, reply.partstat.unwrap());
    }
    answers
}

/// The CSV's rows (none of this test's cells holds a comma or a quote).
fn csv_rows(out: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(out.join("report.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "invoice,customer,address,amount,currency,due,payment link,event code,answer,\
             answered at,sent at,sequence held"
        )
    );
    lines
        .map(|l| l.split(',').map(str::to_owned).collect::<Vec<_>>())
        .inspect(|r| assert_eq!(r.len(), 12, "{r:?}"))
        .collect()
}

/// `Answered Yes  6` in the printed organizer report.
fn reported(stdout: &str, label: &str) -> usize {
    stdout
        .lines()
        .map(str::trim)
        .find_map(|l| {
            let rest = l.strip_prefix(label)?;
            rest.starts_with("  ").then(|| rest.trim().parse().ok())?
        })
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{stdout}"))
}

#[test]
fn the_sample_run_sends_answers_and_reports() {
    let out = out_dir("sample");
    let stdout = run_ok(&["--now", NOW, "--out", out.to_str().unwrap()]);
    let all = invoices::read(&sample(), today()).unwrap();
    assert_eq!(all.len(), 12);

    // Progress, the simulated customers labelled, and where to look.
    assert!(stdout.contains("sending 12/12"), "{stdout}");
    assert!(stdout.contains("simulated customers (not calinvite)"));
    assert!(stdout.contains(&format!("{}", out.join("report.csv").display())));
    for invoice in &all {
        let path = out
            .join("mail")
            .join(folder_name(invoice.email.as_str()))
            .join("001.eml");
        assert!(stdout.contains(&path.display().to_string()), "{path:?}");
    }

    check_invitations(&out, &all);

    // Every answer mailed is the one recorded and counted.
    let answers = replies(&out);
    let count = |s: ParticipationStatus| answers.values().filter(|a| **a == s).count();
    let (yes, no, maybe) = (
        count(ParticipationStatus::Accepted),
        count(ParticipationStatus::Declined),
        count(ParticipationStatus::Tentative),
    );
    assert!(yes > 0 && no > 0 && maybe > 0 && answers.len() < all.len());
    assert_eq!(reported(&stdout, "Invitations"), all.len());
    assert_eq!(reported(&stdout, "Answered Yes"), yes);
    assert_eq!(reported(&stdout, "Answered No"), no);
    assert_eq!(reported(&stdout, "Answered Maybe"), maybe);
    assert_eq!(
        reported(&stdout, "No answer yet"),
        all.len() - answers.len()
    );

    // The relay took all twelve; it asks for no delivery confirmations, so
    // the report shows no confirmed-delivery count (which would read as
    // twelve failures) and says so instead.
    assert!(
        stdout.contains("\n  Accepted by mail server  12\n"),
        "{stdout}"
    );
    assert_eq!(reported(&stdout, "Accepted by mail server"), all.len());
    assert!(
        stdout.contains("\n  Delivery confirmation    not reported by this transport\n"),
        "{stdout}"
    );
    for misleading in ["Delivery confirmed", "Delivered", "Sent "] {
        assert!(
            !stdout
                .lines()
                .any(|l| l.trim_start().starts_with(misleading)),
            "{misleading:?} in:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("12 messages filed by the capturing SMTP server"),
        "{stdout}"
    );

    // One CSV row per invitation, with the invoice and the recorded answer.
    let rows = csv_rows(&out);
    assert_eq!(rows.len(), all.len());
    for (row, invoice) in rows.iter().zip(&all) {
        assert_eq!(row[0], invoice.number);
        assert_eq!(row[2], invoice.email.as_str());
        assert_eq!(row[6], invoice.payment_link.as_str());
        let expected = answers
            .get(&invoice.number)
            .map_or("no answer".to_owned(), |s| s.as_str().to_ascii_lowercase());
        assert_eq!(row[8], expected, "{}", invoice.number);
        assert_eq!(row[10], NOW);
    }
    assert!(out.join("calinvite.sqlite").is_file());
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn a_run_with_now_is_repeatable() {
    let (a, b) = (out_dir("repeat-a"), out_dir("repeat-b"));
    for dir in [&a, &b] {
        run_ok(&["--now", NOW, "--seed", "7", "--out", dir.to_str().unwrap()]);
    }
    for sub in ["mail", "replies"] {
        let files = files_under(&a.join(sub));
        assert!(!files.is_empty());
        for fa in files {
            let fb = b.join(fa.strip_prefix(&a).unwrap());
            assert_eq!(
                std::fs::read(&fa).unwrap(),
                std::fs::read(&fb).unwrap(),
                "{}",
                fa.display()
            );
        }
    }
    assert_eq!(
        std::fs::read(a.join("report.csv")).unwrap(),
        std::fs::read(b.join("report.csv")).unwrap()
    );
    std::fs::remove_dir_all(&a).unwrap();
    std::fs::remove_dir_all(&b).unwrap();
}

#[test]
fn a_customer_with_two_invoices_gets_two_invitations() {
    let out = out_dir("two");
    std::fs::create_dir_all(&out).unwrap();
    let file = out.with_extension("toml");
    let invoice = |n: &str, amount: &str| {
        format!(
            "[[invoice]]\nnumber = \"{n}\"\ncustomer = \"Ana Souza\"\nemail = \"ana@example.net\"\n\
             amount = \"{amount}\"\ncurrency = \"EUR\"\ndue = \"+3\"\n\
             payment_link = \"https://pay.example.com/i/{n}\"\n\n"
        )
    };
    std::fs::write(
        &file,
        invoice("A-1", "10.00") + &invoice("A-2", "20.00") + &invoice("A-3", "30.00"),
    )
    .unwrap();
    let stdout = run_ok(&[
        "--now",
        NOW,
        "--invoices",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(stdout.contains("sending 3/3"), "{stdout}");
    let files = emls(&out.join("mail/ana@example.net"));
    assert_eq!(files.len(), 3);
    let mut links: Vec<String> = files
        .iter()
        .map(|f| {
            let InboundKind::OrganizerRequest(r) = read(&std::fs::read(f).unwrap()).kind else {
                panic!("{} is no invitation", f.display());
            };
            r.event.url.unwrap()
        })
        .collect();
    links.sort();
    assert_eq!(
        links,
        ["A-1", "A-2", "A-3"].map(|n| format!("https://pay.example.com/i/{n}"))
    );
    assert_eq!(csv_rows(&out).len(), 3);
    std::fs::remove_dir_all(&out).unwrap();
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn generated_customers_and_clear_failures() {
    let out = out_dir("generated");
    let stdout = run_ok(&["--customers", "40", "--out", out.to_str().unwrap()]);
    assert!(stdout.contains("sending 40/40"), "{stdout}");
    assert!(stdout.contains("… and 28 more rows in"), "{stdout}");
    assert_eq!(csv_rows(&out).len(), 40);
    // Amounts, links and numbers do not depend on the day (this run is on the system clock).
    let all = invoices::generate(40, today()).unwrap();
    assert_eq!(replies(&out).len() + reported(&stdout, "No answer yet"), 40);
    check_invitations(&out, &all);

    // An output folder that is not empty is refused, and nothing runs.
    let again = run(&["--out", out.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not empty"));
    std::fs::remove_dir_all(&out).unwrap();

    // A bad invoices file names the entry and the field.
    let bad = out_dir("bad").with_extension("toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(sample())
            .unwrap()
            .replacen("\"1240.00\"", "\"12,40\"", 1),
    )
    .unwrap();
    let failed = run(&["--invoices", bad.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success());
    assert!(
        stderr.contains("invoice 1 (entry 1): amount \"12,40\""),
        "{stderr}"
    );
    std::fs::remove_file(&bad).unwrap();

    let help = run(&["--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--invoices FILE"));
}
