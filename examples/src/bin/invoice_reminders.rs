//! `invoice-reminders`: a marketing platform reminds customers of their
//! invoices' due dates with native calendar invitations, and collects their
//! answers — the whole calinvite loop on one machine, with no set-up.
//!
//! ```text
//! invoice-reminders [--invoices FILE.toml | --customers N] [--out DIR]
//!                   [--now 2026-11-22T09:00:00Z] [--seed N]
//! ```
//!
//! What runs, all on loopback and in one folder:
//!
//! - the platform: a domain owner ("Example Supplies", mailboxes at
//!   `invoices.example.com`) with one organizer, its billing department; each
//!   invoice becomes its own event through `Pipeline::create_event` (no
//!   organizer calendar involved) — an invoice's due date is one customer's
//!   event, with their own amount in the summary and description and their
//!   own payment link as the event's URL — and its customer is invited to it;
//! - the store: `SqlStore` on a SQLite file in the output folder;
//! - outbound: `SmtpRelay` delivers the queue (four connections) to a
//!   capturing SMTP sink that stands in for the customers' mail servers and
//!   files every message as an `.eml` file, one folder per mailbox;
//! - inbound: calinvite's SMTP listener, the platform's MX for
//!   `rsvp@invoices.example.com`;
//! - simulated customers (clearly not calinvite): each one's calendar client
//!   reads the invitation filed for them and answers Yes, Maybe or No — or
//!   not at all — with a real iMIP REPLY mailed over SMTP to the listener,
//!   which hands it to the pipeline. Who answers what is fixed by `--seed`.
//!
//! Then it prints the report per invoice and for the billing organizer,
//! writes it as CSV, and lists the `.eml` files to open.
//!
//! The listener checks no SPF or DKIM here (`NoVerification`: the customers'
//! domains are made up). Replies do not need it: each invitation carries its
//! own unguessable token in its UID, and a reply counts only when it names
//! that token ([D1](calinvite_core::manual::design#d1),
//! [D7](calinvite_core::manual::design#d7)). Authentication matters for
//! organizer mail to the ingest address, which this example does not use.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use calinvite::{OsRandom, SystemClock, Worker, WorkerConfig};
use calinvite_core::lifecycle::{
    DeliveryKey, DeliveryReport, Invitation, InvitationSource, Outcome, Pipeline, Scope, Settings,
    SingleTenant, Store as _, Transport as _, report,
};
use calinvite_core::{
    Clock, EmailAddress, Envelope, EventCode, FixedClock, IdSource, InvitationUid,
    ParticipationStatus, SequentialIds,
};
use calinvite_examples::customers::{self, Answer, ReceivedInvitation};
use calinvite_examples::invoices::{self, Invoice};
use calinvite_examples::sink::{self, Filed, MailSink};
use calinvite_smtp::listener::{Listener, ListenerConfig, NoVerification};
use calinvite_smtp::relay::{RelayConfig, SmtpRelay};
use calinvite_store::SqlStore;
use chrono::{DateTime, SecondsFormat, Utc};

const USAGE: &str = "usage: invoice-reminders [--invoices FILE.toml | --customers N] [--out DIR]
                         [--now 2026-11-22T09:00:00Z] [--seed N]

Sends each customer an invitation to their invoice's due date (their own amount
and payment link), delivers it over SMTP to a local capturing sink, lets
simulated customers answer from their calendars with iMIP REPLY messages sent
over SMTP to calinvite's listener, and prints the report.
  --invoices FILE  the invoices (default: examples/invoices/sample.toml)
  --customers N    instead, N made-up invoices and customers
  --out DIR        where the .eml files, replies, report.csv and the SQLite
                   database go (new or empty; default: a fresh temporary folder)
  --now T          the run's time, with sequential tokens: a repeatable run
                   (default: the system clock and OS-random tokens)
  --seed N         which customers answer what, and the tokens with --now (default 1)";

/// The platform's tenant and its mailboxes.
const COMPANY: &str = "Example Supplies";
const MAIL_DOMAIN: &str = "invoices.example.com";
const BILLING: &str = "billing@example.com";
const BILLING_NAME: &str = "Example Supplies Billing";
const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/invoices/sample.toml");

/// How long each phase may take before the run gives up.
const PHASE_TIMEOUT: Duration = Duration::from_secs(120);
/// How many `.eml` paths are listed before "… and N more".
const LISTED: usize = 12;

struct Args {
    invoices: Option<PathBuf>,
    customers: Option<usize>,
    out: Option<PathBuf>,
    now: Option<DateTime<Utc>>,
    seed: u64,
}

/// The arguments; `None` for `--help`.
fn parse_args() -> Result<Option<Args>, String> {
    let mut a = Args {
        invoices: None,
        customers: None,
        out: None,
        now: None,
        seed: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--invoices" => a.invoices = Some(value()?.into()),
            "--out" => a.out = Some(value()?.into()),
            "--customers" => {
                let n: usize = value()?
                    .parse()
                    .map_err(|_| "--customers takes a whole number")?;
                if !(1..=100_000).contains(&n) {
                    return Err("--customers takes 1 to 100000".into());
                }
                a.customers = Some(n);
            }
            "--seed" => {
                a.seed = value()?
                    .parse()
                    .map_err(|_| "--seed takes a whole number")?
            }
            "--now" => {
                let v = value()?;
                a.now = Some(
                    DateTime::parse_from_rfc3339(&v)
                        .map_err(|e| format!("--now {v:?}: {e} (use 2026-11-22T09:00:00Z)"))?
                        .with_timezone(&Utc),
                );
            }
            _ => return Err(format!("unexpected argument {arg:?}\n\n{USAGE}")),
        }
    }
    if a.invoices.is_some() && a.customers.is_some() {
        return Err("choose one of --invoices and --customers".into());
    }
    Ok(Some(a))
}

/// Writes a line to standard output (a closed output is not an error worth
/// failing the run for).
fn say(line: impl std::fmt::Display) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// "sending 7/12", in place on a terminal; once, at the end, otherwise.
struct Progress {
    total: usize,
    done: AtomicUsize,
    live: bool,
}

impl Progress {
    fn tick(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if self.live {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "\rsending {done}/{}", self.total);
            let _ = out.flush();
        }
    }

    fn finish(&self) {
        let done = self.done.load(Ordering::Relaxed);
        if self.live {
            say(format_args!("\rsending {done}/{}", self.total));
        } else {
            say(format_args!("sending {done}/{}", self.total));
        }
    }
}

/// The output folder: `dir` (created; must be empty), or a fresh one in the
/// system's temporary folder.
fn output_folder(dir: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut entries =
            std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        if entries.next().is_some() {
            return Err(format!(
                "{} is not empty: give a new or empty folder to --out",
                dir.display()
            ));
        }
        return std::path::absolute(dir).map_err(|e| format!("{}: {e}", dir.display()));
    }
    let mut bytes = [0u8; 6];
    OsRandom.fill(&mut bytes).map_err(|e| e.to_string())?;
    let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let dir = std::env::temp_dir().join(format!("calinvite-invoice-reminders-{name}"));
    std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// A `sqlite://` URL for `path` (`%`, `?`, `#` and spaces escaped).
fn sqlite_url(path: &Path) -> String {
    let mut url = String::from("sqlite://");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => url.push_str("%25"),
            '?' => url.push_str("%3F"),
            '#' => url.push_str("%23"),
            ' ' => url.push_str("%20"),
            c => url.push(c),
        }
    }
    url
}

fn address(s: &str) -> EmailAddress {
    // The platform's own constants: parsed once, known to be valid.
    EmailAddress::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// One invoice through the run.
struct Reminder {
    invoice: Invoice,
    code: EventCode,
    answer: Answer,
}

type Platform = Pipeline<SqlStore, SmtpRelay>;

async fn with_timeout<F: std::future::Future>(what: &str, f: F) -> Result<F::Output, String> {
    tokio::time::timeout(PHASE_TIMEOUT, f)
        .await
        .map_err(|_| format!("{what} took longer than {} s", PHASE_TIMEOUT.as_secs()))
}

async fn run(args: Args) -> Result<(), String> {
    let clock: Arc<dyn Clock> = match args.now {
        Some(t) => Arc::new(FixedClock::new(t)),
        None => Arc::new(SystemClock),
    };
    let ids: Box<dyn IdSource + Send> = match args.now {
        Some(_) => Box::new(SequentialIds::new(args.seed)),
        None => Box::new(OsRandom),
    };
    let today = clock.now().date_naive();
    let invoices = match (args.customers, &args.invoices) {
        (Some(n), _) => invoices::generate(n, today)?,
        (None, Some(path)) => invoices::read(path, today)?,
        (None, None) => invoices::read(Path::new(SAMPLE), today)
            .map_err(|e| format!("{e}\n(give your own with --invoices FILE.toml)"))?,
    };
    let out = output_folder(args.out.as_deref())?;
    let database = out.join("calinvite.sqlite");
    let mail_dir = out.join("mail");
    let replies_dir = out.join("replies");
    std::fs::create_dir_all(&replies_dir)
        .map_err(|e| format!("cannot create {}: {e}", replies_dir.display()))?;

    // The platform: store, outbound relay, pipeline, tenant, inbound listener.
    let store = SqlStore::open(&sqlite_url(&database))
        .await
        .map_err(|e| format!("cannot open the SQLite store {}: {e}", database.display()))?;
    let sink = MailSink::start(&mail_dir, "mx.customers.example")
        .await
        .map_err(|e| format!("cannot start the capturing SMTP sink: {e}"))?;
    let relay = SmtpRelay::new(
        RelayConfig::plaintext("127.0.0.1", sink.local_addr().port())
            .helo_name(format!("mail.{MAIL_DOMAIN}"))
            .max_connections(4),
    )
    .map_err(|e| format!("relay configuration: {e}"))?;
    let pipeline: Arc<Platform> = Arc::new(
        Pipeline::builder(store, relay)
            .clock(clock.clone())
            .boxed_ids(ids)
            .build(),
    );
    // One sending domain (create@, rsvp@, bounces@) and one organizer.
    let tenant = SingleTenant::new(MAIL_DOMAIN, BILLING_NAME, BILLING)
        .map_err(|e| format!("tenant: {e}"))?
        .owner_name(COMPANY)
        // Invoice reminders are transactional mail, not a list: no
        // one-click unsubscribe. The default authentication policy stays:
        // it governs organizer mail to the ingest address, not replies.
        .settings(Settings::default().with_list_unsubscribe(false));
    let scope = pipeline
        .register(&tenant)
        .await
        .map_err(|e| format!("store: {e}"))?;
    let reply_mailbox = tenant.owner().reply.clone();
    let mut config = ListenerConfig::new(format!("mx.{MAIL_DOMAIN}"));
    config.shutdown_grace = Duration::from_secs(2);
    config.pipeline_timeout = Duration::from_secs(30);
    let listener = Listener::bind("127.0.0.1:0", config, pipeline.clone(), NoVerification)
        .await
        .map_err(|e| format!("cannot start calinvite's SMTP listener: {e}"))?
        .spawn()
        .map_err(|e| format!("cannot start calinvite's SMTP listener: {e}"))?;

    say(format_args!(
        "invoice-reminders: {COMPANY} reminds {} customer{} of their invoices with calendar invitations",
        invoices.len(),
        if invoices.len() == 1 { "" } else { "s" }
    ));
    say(format_args!("  store     SQLite, {}", database.display()));
    say(format_args!(
        "  outbound  SmtpRelay -> capturing SMTP sink on {} (stands in for the customers' mail servers)",
        sink.local_addr()
    ));
    say(format_args!(
        "  inbound   calinvite's SMTP listener on {} (the MX of {reply_mailbox})",
        listener.local_addr()
    ));
    say("");

    // One event per invoice, its customer invited.
    let numbers: Vec<&str> = invoices.iter().map(|i| i.number.as_str()).collect();
    let answers = Answer::assign(args.seed, &numbers);
    let mut reminders = Vec::with_capacity(invoices.len());
    with_timeout("creating the invoice events", async {
        for (invoice, answer) in invoices.into_iter().zip(answers) {
            let code = pipeline
                .create_event_with(scope, |code| {
                    invoice.event(code, &address(BILLING), BILLING_NAME, COMPANY)
                })
                .await
                .map_err(|e| format!("invoice {}: {e}", invoice.number))?;
            match pipeline
                .invite(scope, &code, invoice.recipient(), InvitationSource::Api)
                .await
                .map_err(|e| format!("invoice {}: {e}", invoice.number))?
            {
                Outcome::Invited(_) => {}
                other => {
                    return Err(format!(
                        "invoice {}: {} was not invited: {other:?}",
                        invoice.number, invoice.email
                    ));
                }
            }
            reminders.push(Reminder {
                invoice,
                code,
                answer,
            });
        }
        Ok::<(), String>(())
    })
    .await??;
    say(format_args!(
        "created {n} invoice events (one per invoice: its own amount and payment link) and invited {n} customers",
        n = reminders.len()
    ));

    // Delivery: the worker drains the queue through the relay, four at a time.
    let progress = Arc::new(Progress {
        total: reminders.len(),
        done: AtomicUsize::new(0),
        live: std::io::stdout().is_terminal(),
    });
    with_timeout("sending", deliver(&pipeline, &progress, 4)).await??;
    progress.finish();
    pipeline.transport().close().await;

    // The customers' calendar clients answer.
    say("");
    say(
        "simulated customers (not calinvite): each calendar client reads its invitation and answers",
    );
    say("with an iMIP REPLY sent over SMTP to calinvite's listener");
    let mut customer_config = RelayConfig::plaintext("127.0.0.1", listener.local_addr().port())
        .helo_name("mail.customers.example")
        .max_connections(4);
    // The listener closes a connection after `max_commands` commands (1,000 by default).
    customer_config.max_messages_per_connection = 100;
    let customer_mail =
        SmtpRelay::new(customer_config).map_err(|e| format!("relay configuration: {e}"))?;
    with_timeout(
        "the customers' replies",
        answer_all(&sink, &customer_mail, &reminders, &replies_dir, clock.now()),
    )
    .await??;
    customer_mail.close().await;
    listener
        .shutdown()
        .await
        .map_err(|e| format!("calinvite's SMTP listener: {e}"))?;
    // The messages in invoice order (they were delivered in parallel).
    let mut filed = Vec::with_capacity(reminders.len());
    for r in &reminders {
        filed.push(invitation_of(&sink, r)?.0);
    }
    let others = sink.filed().len() - filed.len();
    sink.shutdown();

    // The report.
    let rows = report_rows(&pipeline, scope, &reminders).await?;
    check_answers(&pipeline, scope, &reminders, &rows).await?;
    let totals = report::organizer_report(&pipeline, scope)
        .await
        .map_err(|e| format!("report: {e}"))?;
    let csv_path = out.join("report.csv");
    print_table(&reminders, &rows, &csv_path);
    say("");
    say(format_args!("{BILLING_NAME} (organizer report):"));
    for line in totals.to_text().lines() {
        if line.is_empty() {
            say("");
        } else {
            say(format_args!("  {line}"));
        }
    }
    std::fs::write(&csv_path, csv(&reminders, &rows))
        .map_err(|e| format!("cannot write {}: {e}", csv_path.display()))?;
    pipeline.store().close().await;

    say("");
    say("Replies counted on the strength of each invitation's own token in its UID; the listener");
    say("checked no SPF/DKIM (NoVerification: the customers' domains are made up), which only");
    say("organizer mail to the ingest address would need.");
    say("");
    say(format_args!(
        "{} messages filed by the capturing SMTP server (.eml files, one folder per mailbox) — open them in any mail client:",
        filed.len() + others
    ));
    for f in filed.iter().take(LISTED) {
        say(format_args!("  {}", f.path.display()));
    }
    let listed = filed.len().min(LISTED);
    if filed.len() + others > listed {
        say(format_args!(
            "  … and {} more in {}",
            filed.len() + others - listed,
            mail_dir.display()
        ));
    }
    say(format_args!(
        "the customers' replies:  {}",
        replies_dir.display()
    ));
    say(format_args!(
        "report (CSV):            {}",
        csv_path.display()
    ));
    say(format_args!(
        "SQLite database:         {}",
        database.display()
    ));
    Ok(())
}

/// The worker drains the queue, `concurrency` messages in flight, until it is
/// empty; any message the relay did not take fails the run with the relay's
/// words.
async fn deliver(
    pipeline: &Arc<Platform>,
    progress: &Arc<Progress>,
    concurrency: usize,
) -> Result<(), String> {
    let refused: Arc<Mutex<Vec<Result<DeliveryKey, String>>>> = Arc::default();
    let worker = {
        let progress = progress.clone();
        let refused = refused.clone();
        Worker::new(
            pipeline.clone(),
            WorkerConfig::default().concurrency(concurrency),
        )
        .on_delivery(move |report| {
            let not_sent = match report {
                DeliveryReport::Sent(_) => return progress.tick(),
                DeliveryReport::Retrying(key, _) | DeliveryReport::Failed(key, _) => {
                    Ok(key.clone())
                }
                other => Err(format!("delivery: {other:?}")),
            };
            refused
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(not_sent);
        })
    };
    worker
        .run_until_idle()
        .await
        .map_err(|e| format!("delivery: {e}"))?;
    let first = refused
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .first()
        .cloned();
    match first {
        None => Ok(()),
        Some(Ok(key)) => Err(undelivered(pipeline, &key).await),
        Some(Err(e)) => Err(e),
    }
}

async fn undelivered(pipeline: &Platform, key: &DeliveryKey) -> String {
    let why = match pipeline.store().delivery(key).await {
        Ok(Some(d)) => d.last_error.unwrap_or_else(|| "no reason given".into()),
        Ok(None) => "the message left the queue".into(),
        Err(e) => format!("(the queue could not be read: {e})"),
    };
    format!("the relay did not take message {key}: {why}")
}

/// The message filed for `r`'s customer that invites them to `r`'s event
/// (a customer with several invoices holds several invitations), read as
/// their calendar client reads it.
fn invitation_of(sink: &MailSink, r: &Reminder) -> Result<(Filed, ReceivedInvitation), String> {
    let mut found = Vec::new();
    for filed in sink.mailbox(r.invoice.email.as_str()) {
        let raw = std::fs::read(&filed.path)
            .map_err(|e| format!("cannot read {}: {e}", filed.path.display()))?;
        let invitation = customers::read_invitation(&raw)
            .map_err(|e| format!("{}: {e}", filed.path.display()))?;
        if InvitationUid::parse(&invitation.uid).is_ok_and(|uid| uid.event_code() == &r.code) {
            found.push((filed, invitation));
        }
    }
    match <[_; 1]>::try_from(found) {
        Ok([one]) => Ok(one),
        Err(found) => Err(format!(
            "{} holds {} invitations to invoice {}'s event, expected one",
            r.invoice.email,
            found.len(),
            r.invoice.number
        )),
    }
}

/// Each customer's calendar client reads the invitation filed for them and,
/// unless they stay silent, answers it over SMTP. The first [`LISTED`] are
/// shown.
async fn answer_all(
    sink: &MailSink,
    mail: &SmtpRelay,
    reminders: &[Reminder],
    replies_dir: &Path,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let width = column_width(reminders.iter().take(LISTED).map(|r| shown(&r.invoice)));
    for (i, r) in reminders.iter().enumerate() {
        let invoice = &r.invoice;
        let (_, invitation) = invitation_of(sink, r)?;
        let mut line = format!(
            "  {}  {:<16} {:<11}",
            pad(&shown(invoice), width),
            invoice.number,
            r.answer.label()
        );
        if let Some(partstat) = r.answer.partstat() {
            let reply = customers::write_reply(
                &invitation,
                &invoice.email,
                Some(&invoice.customer),
                partstat,
                now,
            );
            let folder = replies_dir.join(sink::folder_name(invoice.email.as_str()));
            let saved = folder.join(format!("{}.eml", invoice.number.replace('/', "_")));
            std::fs::create_dir_all(&folder)
                .and_then(|()| std::fs::write(&saved, &reply))
                .map_err(|e| format!("cannot write {}: {e}", saved.display()))?;
            let envelope = Envelope::new(invoice.email.clone(), invitation.organizer.clone());
            // A mail server retries what was refused for now, as any MTA does.
            let mut attempt = 1;
            while let Err(e) = mail.send_raw(&envelope, &reply).await {
                if !e.is_transient() || attempt == 3 {
                    return Err(format!(
                        "{}'s reply was not taken by calinvite's listener: {e}",
                        invoice.email
                    ));
                }
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            line.push_str(&format!(" REPLY with PARTSTAT={partstat}"));
        }
        match i.cmp(&LISTED) {
            std::cmp::Ordering::Less => say(line.trim_end()),
            std::cmp::Ordering::Equal => say(format_args!(
                "  … and {} more customers (the replies sent are in {})",
                reminders.len() - LISTED,
                replies_dir.display()
            )),
            std::cmp::Ordering::Greater => {}
        }
    }
    Ok(())
}

/// `Name <address>`.
fn shown(invoice: &Invoice) -> String {
    format!("{} <{}>", invoice.customer.as_str(), invoice.email)
}

/// Columns a terminal gives `s`: two for East Asian wide characters.
fn display_width(s: &str) -> usize {
    s.chars()
        .map(|c| match u32::from(c) {
            0x1100..=0x115F
            | 0x2E80..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6
            | 0x1F300..=0x1F64F
            | 0x20000..=0x3FFFD => 2,
            _ => 1,
        })
        .sum()
}

fn column_width(cells: impl Iterator<Item = String>) -> usize {
    cells.map(|c| display_width(&c)).max().unwrap_or(0)
}

/// `s` padded with spaces to `width` columns.
fn pad(s: &str, width: usize) -> String {
    let mut out = s.to_owned();
    out.extend(std::iter::repeat_n(
        ' ',
        width.saturating_sub(display_width(s)),
    ));
    out
}

/// Each reminder's invitation, as the store has it after the run.
async fn report_rows(
    pipeline: &Platform,
    scope: Scope,
    reminders: &[Reminder],
) -> Result<Vec<Invitation>, String> {
    let mut rows = Vec::with_capacity(reminders.len());
    for r in reminders {
        let mut invitations = pipeline
            .invitations(scope, &r.code)
            .await
            .map_err(|e| format!("report: {e}"))?;
        if invitations.len() != 1 {
            return Err(format!(
                "invoice {}: {} invitations, expected one",
                r.invoice.number,
                invitations.len()
            ));
        }
        rows.extend(invitations.pop());
    }
    Ok(rows)
}

/// Every answer sent must be the one recorded; a refused reply is named.
async fn check_answers(
    pipeline: &Platform,
    scope: Scope,
    reminders: &[Reminder],
    rows: &[Invitation],
) -> Result<(), String> {
    let mut wrong = Vec::new();
    for (r, inv) in reminders.iter().zip(rows) {
        let expected = match r.answer {
            Answer::Yes => Some(ParticipationStatus::Accepted),
            Answer::Maybe => Some(ParticipationStatus::Tentative),
            Answer::No => Some(ParticipationStatus::Declined),
            Answer::Silent => None,
        };
        if inv.status() != expected || inv.sent_at().is_none() {
            wrong.push(format!(
                "{}: sent {}, answered {:?}, recorded {:?}",
                r.invoice.email,
                inv.sent_at().is_some(),
                r.answer.partstat(),
                inv.status()
            ));
        }
    }
    if wrong.is_empty() {
        return Ok(());
    }
    let refusals = pipeline
        .refusals(scope.owner, None)
        .await
        .map_err(|e| format!("report: {e}"))?;
    let refusals: Vec<String> = refusals.iter().map(|r| r.refusal.to_string()).collect();
    Err(format!(
        "the store does not hold what the customers answered:\n  {}\nrefusals recorded: {}",
        wrong.join("\n  "),
        if refusals.is_empty() {
            "none".to_owned()
        } else {
            refusals.join("; ")
        }
    ))
}

fn status_label(inv: &Invitation) -> &'static str {
    match inv.status() {
        Some(ParticipationStatus::Accepted) => "Yes",
        Some(ParticipationStatus::Tentative) => "Maybe",
        Some(ParticipationStatus::Declined) => "No",
        Some(_) => "other",
        None => "-",
    }
}

fn print_table(reminders: &[Reminder], rows: &[Invitation], csv_path: &Path) {
    let width = column_width(reminders.iter().take(LISTED).map(|r| shown(&r.invoice)));
    say("");
    say("report, as calinvite recorded it:");
    say(format_args!(
        "  {:<16} {}  {:>14}  {:<10}  {:<6}  {}",
        "invoice",
        pad("customer", width),
        "amount",
        "due",
        "answer",
        "event code"
    ));
    for (r, inv) in reminders.iter().zip(rows).take(LISTED) {
        let i = &r.invoice;
        say(format_args!(
            "  {:<16} {}  {:>14}  {:<10}  {:<6}  {}",
            i.number,
            pad(&shown(i), width),
            i.amount(),
            i.due,
            status_label(inv),
            r.code
        ));
    }
    if reminders.len() > LISTED {
        say(format_args!(
            "  … and {} more rows in {}",
            reminders.len() - LISTED,
            csv_path.display()
        ));
    }
}

fn timestamp(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// One row per invitation: the invoice, then what calinvite recorded.
fn csv(reminders: &[Reminder], rows: &[Invitation]) -> String {
    const HEADER: [&str; 12] = [
        "invoice",
        "customer",
        "address",
        "amount",
        "currency",
        "due",
        "payment link",
        "event code",
        "answer",
        "answered at",
        "sent at",
        "sequence held",
    ];
    let cells: Vec<[String; 12]> = reminders
        .iter()
        .zip(rows)
        .map(|(r, inv)| {
            let i = &r.invoice;
            [
                i.number.clone(),
                i.customer.as_str().to_owned(),
                i.email.to_string(),
                format!("{}.{:02}", i.cents / 100, i.cents % 100),
                i.currency.clone(),
                i.due.to_string(),
                i.payment_link.as_str().to_owned(),
                r.code.to_string(),
                inv.status()
                    .map_or("no answer", |s| s.as_str())
                    .to_ascii_lowercase(),
                timestamp(inv.answered_at()),
                timestamp(inv.sent_at()),
                inv.sequence_held()
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    calinvite_core::csv::table(&HEADER, cells.iter().map(|r| r.iter().map(String::as_str)))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => {
            say(USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("invoice-reminders: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("invoice-reminders: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("invoice-reminders: {e}");
            ExitCode::FAILURE
        }
    }
}
