//! Pieces of the `campaign` benchmark shared with its kill test
//! (`tests/campaign_kill.rs`): the generated recipient list, the tenant and
//! event a campaign sends, the list job fed from the file, Postfix's
//! `smtp-sink` as the receiving end, the `campaign worker` processes, and
//! reading back what the sink captured.
//!
//! A campaign is one event sent to one CSV list through a list job
//! ([`Pipeline::start_list`], [`Pipeline::feed_csv`]): every new recipient
//! gets an invitation and a queued message in the same commit, and worker
//! processes drain the queue into `smtp-sink` through [`calinvite_smtp`]'s
//! `SmtpRelay`.

use std::collections::HashMap;
use std::io::{BufRead as _, BufWriter, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use calinvite::{OsRandom, SystemClock};
use calinvite_core::lifecycle::{
    AllowEntry, DomainOwner, ListFeed, ListJob, OrganizerAccount, OrganizerId, OwnerId, Pipeline,
    PipelineOptions, RowVerdict, Scope, Store, Transport, TransportError,
};
use calinvite_core::spi::{DeliveryKey, QueueState};
use calinvite_core::{
    Clock, EmailAddress, Envelope, Event, EventCode, IdempotencyKey, Method, Schedule, Sequence,
    TimeZone, ZonedDateTime,
};
use calinvite_store::SqlStore;
use serde::{Deserialize, Serialize};

use crate::measure::wall_start;

/// The PostgreSQL server used when neither `--postgres-url` nor
/// `$CALINVITE_POSTGRES_URL` names one (the one `scripts/postgres.sh` starts).
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The environment variable that hands the database URL to `campaign
/// worker` processes when `--db-url` is not given: a URL with a password
/// then does not show in the process list.
pub const DB_URL_ENV: &str = "CALINVITE_CAMPAIGN_DB_URL";

/// The name of the list job every campaign starts.
pub const LIST_NAME: &str = "campaign";

/// `$CALINVITE_POSTGRES_URL`, else [`DEFAULT_POSTGRES_URL`].
pub fn postgres_url() -> String {
    std::env::var("CALINVITE_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned())
}

/// A database URL fit for messages: its password, if any, is replaced by
/// `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

// ------------------------------------------------------------------ the list

/// One row in this many is an invalid address, and one in this many repeats
/// an earlier row's address (0.1% each).
pub const ODD_ROW_EVERY: usize = 1000;

/// What [`write_list`] wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ListCounts {
    /// Rows after the header.
    pub rows: u64,
    /// Rows with an address seen for the first time: each one should be
    /// invited.
    pub distinct: u64,
    /// Rows repeating an earlier row's address.
    pub duplicates: u64,
    /// Rows whose address is not one.
    pub invalid: u64,
    /// Size of the file.
    pub bytes: u64,
}

/// What row `i` (0-based, after the header) of a generated list is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GeneratedRow {
    /// A new recipient at this address.
    New(String),
    /// The same address as an earlier row.
    Repeat(String),
    /// An address that does not parse.
    Invalid(String),
}

/// The address of row `i` of a generated list, and what kind of row it is.
pub fn generated_row(i: usize) -> GeneratedRow {
    match i % ODD_ROW_EVERY {
        // No "@": refused as an invalid address.
        997 => GeneratedRow::Invalid(format!("guest{i}.example.org")),
        // The address of the row 500 rows earlier (always a new one).
        998 => GeneratedRow::Repeat(address_of(i - 500)),
        _ => GeneratedRow::New(address_of(i)),
    }
}

fn address_of(i: usize) -> String {
    format!("guest{i}@example.org")
}

/// Every address a generated list of `rows` rows invites, in row order.
pub fn invited_addresses(rows: usize) -> Vec<String> {
    (0..rows)
        .filter_map(|i| match generated_row(i) {
            GeneratedRow::New(a) => Some(a),
            _ => None,
        })
        .collect()
}

/// Writes a CSV list of `rows` rows to `path` (header
/// `address,name,language`): distinct addresses `guest{i}@example.org`, with
/// one invalid row and one repeated address per [`ODD_ROW_EVERY`] rows. Names
/// are plain, quoted (a comma in them) or non-Latin; languages rotate, some
/// rows have none.
pub fn write_list(path: &Path, rows: usize) -> Result<ListCounts, String> {
    const LANGUAGES: [&str; 6] = ["en", "es", "de-CH", "ja", "fr-CA", ""];
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 16, file);
    let mut counts = ListCounts {
        rows: rows as u64,
        ..ListCounts::default()
    };
    let failed = |e: std::io::Error| format!("writing {}: {e}", path.display());
    out.write_all(b"address,name,language\r\n")
        .map_err(failed)?;
    for i in 0..rows {
        let address = match generated_row(i) {
            GeneratedRow::New(a) => {
                counts.distinct += 1;
                a
            }
            GeneratedRow::Repeat(a) => {
                counts.duplicates += 1;
                a
            }
            GeneratedRow::Invalid(a) => {
                counts.invalid += 1;
                a
            }
        };
        let language = LANGUAGES[i % LANGUAGES.len()];
        match i % 10 {
            3 => write!(out, "{address},\"Müller, Jörg {i}\",{language}\r\n"),
            7 => write!(out, "{address},佐藤 花子 {i},{language}\r\n"),
            _ => write!(out, "{address},Guest {i},{language}\r\n"),
        }
        .map_err(failed)?;
    }
    out.flush().map_err(failed)?;
    counts.bytes = std::fs::metadata(path).map_err(failed)?.len();
    Ok(counts)
}

// ------------------------------------------------------ tenant, event, job

/// The transport of the process that feeds the list: it sends nothing (the
/// workers do), and says so if it is ever asked to.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unsent;

impl Transport for Unsent {
    async fn send_raw(&self, _envelope: &Envelope, _message: &[u8]) -> Result<(), TransportError> {
        Err(TransportError::transient(
            "the campaign's feeding process sends nothing: its workers do",
        ))
    }
}

/// The pipeline of the process that sets the campaign up and feeds its list.
pub type Feeder = Pipeline<SqlStore, Unsent>;

/// A feeding pipeline on `store`; `page` rows of the list per commit.
pub fn feeder(store: SqlStore, page: usize) -> Feeder {
    let mut options = PipelineOptions::default();
    options.batch = page.max(1);
    Pipeline::with_options(
        store,
        Unsent,
        Arc::new(SystemClock) as Arc<dyn Clock>,
        Box::new(OsRandom),
        options,
    )
}

/// A campaign set up on a store: who sends, and what.
#[derive(Clone, Debug)]
pub struct Campaign {
    /// The domain owner whose mail it is.
    pub owner: DomainOwner,
    /// The organizer.
    pub scope: Scope,
    /// The event sent.
    pub event: Event,
    /// The list job, once started.
    pub job: Option<ListJob>,
}

fn address(s: &str) -> Result<EmailAddress, String> {
    EmailAddress::parse(s).map_err(|e| format!("{s}: {e}"))
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The campaign's event title.
const CAMPAIGN_TITLE: &str = "Product launch party";

/// The benches' event: two hours, 30 days after `now`, in Madrid, called
/// `title` (the campaign's, and `store-fanout`'s before and after its update).
pub fn bench_event(
    code: EventCode,
    now: chrono::DateTime<chrono::Utc>,
    title: &str,
) -> Result<Event, String> {
    let zone = TimeZone::parse("Europe/Madrid").map_err(err)?;
    let start = now + chrono::TimeDelta::days(30);
    let start = ZonedDateTime::from_instant(
        start
            .date_naive()
            .and_hms_opt(18, 0, 0)
            .unwrap_or_default()
            .and_utc(),
        zone,
    );
    let end = ZonedDateTime::from_instant(start.instant() + chrono::TimeDelta::hours(2), zone);
    Event::builder(code)
        .summary(title)
        .description("Drinks and demos.")
        .location("Calle Mayor 1, Madrid")
        .schedule(Schedule::timed(start, end).map_err(err)?)
        .organizer(address("ana@example.com")?, Some("Ana Organizer"))
        .build()
        .map_err(err)
}

/// On a fresh store: one domain owner, one organizer with the default
/// settings, and the event (as `store-fanout` sets them up).
pub async fn set_up(pipeline: &Feeder) -> Result<Campaign, String> {
    let store = pipeline.store();
    let owner = DomainOwner::new(
        OwnerId(1),
        "Example Events",
        "events.example.com",
        address("create@events.example.com")?,
        address("rsvp@events.example.com")?,
        address("bounces@events.example.com")?,
    );
    let scope = Scope {
        owner: owner.id,
        organizer: OrganizerId(1),
    };
    store.put_owner(owner.clone()).await.map_err(err)?;
    store
        .put_organizer(
            OrganizerAccount::new(scope, "Ana", address("ana@example.com")?)
                .with_allow_list(vec![AllowEntry::Domain("example.com".into())]),
        )
        .await
        .map_err(err)?;
    let now = pipeline.now();
    let code = pipeline
        .create_event_with(scope, |code| bench_event(code, now, CAMPAIGN_TITLE))
        .await
        .map_err(err)?;
    Ok(Campaign {
        owner,
        scope,
        event: bench_event(code, now, CAMPAIGN_TITLE)?,
        job: None,
    })
}

/// A reader that tells `report` each time another tenth of `total` bytes
/// has been read (the list phase's progress: the feed reads a page ahead).
struct Tenths<R, F> {
    inner: R,
    read: u64,
    total: u64,
    shown: u64,
    report: F,
}

impl<R: std::io::Read, F: FnMut(u64)> std::io::Read for Tenths<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        let tenths = (self.read * 10).checked_div(self.total).unwrap_or(10);
        if tenths > self.shown {
            self.shown = tenths;
            (self.report)(tenths * 10);
        }
        Ok(n)
    }
}

/// Starts the list job ([`LIST_NAME`]) and feeds it the CSV file at `path`
/// (read through a `BufReader`). Every row must be taken. `progress` hears
/// the percentage of the file read, every 10%.
pub async fn feed_file(
    pipeline: &Feeder,
    campaign: &mut Campaign,
    path: &Path,
    progress: impl FnMut(u64),
) -> Result<ListFeed, String> {
    let job = pipeline
        .start_list(campaign.scope, campaign.event.code(), LIST_NAME)
        .await
        .map_err(|e| format!("start_list: {e}"))?;
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let total = file
        .metadata()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    let reader = Tenths {
        inner: file,
        read: 0,
        total,
        shown: 0,
        report: progress,
    };
    let feed = pipeline
        .feed_csv(
            campaign.scope,
            &job.id,
            std::io::BufReader::with_capacity(1 << 16, reader),
        )
        .await
        .map_err(|e| format!("feed_csv: {e}"))?;
    if let Some(state) = feed.stopped {
        return Err(format!("the list job stopped while fed: {state:?}"));
    }
    campaign.job = Some(job);
    Ok(feed)
}

/// Where the job's new invitations' messages stand in the queue, read one
/// by one from the store (slow: for tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct JobQueue {
    /// Messages of the job's new invitations.
    pub messages: u64,
    /// Of those, accepted by the relay.
    pub sent: u64,
    /// Still waiting to be claimed.
    pub queued: u64,
    /// Claimed, lease not settled.
    pub leased: u64,
    /// Given up.
    pub failed: u64,
    /// Claims beyond the first, over all of them (each message's attempts
    /// less one): with a relay that accepts everything, these are claims of
    /// an expired lease, each one a possible second copy.
    pub extra_claims: u64,
}

/// Reads every new invitation's first message of the job from the store.
pub async fn job_queue(store: &SqlStore, job: &ListJob) -> Result<JobQueue, String> {
    let mut q = JobQueue::default();
    let mut after = 0;
    loop {
        let rows = store.list_rows(&job.id, after, 1000).await.map_err(err)?;
        let Some(last) = rows.last() else { break };
        after = last.row;
        for row in &rows {
            let RowVerdict::Invited(token) = &row.verdict else {
                continue;
            };
            let key = DeliveryKey::Invitation(IdempotencyKey::new(
                token.clone(),
                Sequence::INITIAL,
                Method::Request,
                0,
            ));
            let Some(d) = store.delivery(&key).await.map_err(err)? else {
                return Err(format!(
                    "row {}: the invitation's message is not in the queue",
                    row.row
                ));
            };
            q.messages += 1;
            q.extra_claims += u64::from(d.attempts.saturating_sub(1));
            match d.state {
                QueueState::Queued => q.queued += 1,
                QueueState::Leased(_) => q.leased += 1,
                QueueState::Sent(_) => q.sent += 1,
                QueueState::Failed(_) => q.failed += 1,
                other => return Err(format!("row {}: queue state {other:?}", row.row)),
            }
        }
    }
    Ok(q)
}

// ---------------------------------------------------------------- smtp-sink

/// Where Postfix's `smtp-sink` is: on `$PATH`, else in `/usr/sbin` or
/// `/usr/local/sbin`.
pub fn smtp_sink_path() -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|d| d.join("smtp-sink"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            "Postfix's smtp-sink is not installed (it ships in Debian's postfix package: \
             run scripts/postfix.sh as root, which installs Postfix)"
                .to_owned()
        })
}

/// Whether this process runs as root (`smtp-sink` then needs `-u`).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// A free TCP port on loopback (free when asked: another process may take
/// it before it is used).
pub fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free loopback port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

/// A running `smtp-sink` on a loopback port; killed when dropped.
#[derive(Debug)]
pub struct Sink {
    child: Child,
    port: u16,
    log: PathBuf,
    dump: Option<PathBuf>,
}

impl Sink {
    /// Starts `smtp-sink` on a free loopback port, its diagnostics in
    /// `dir/smtp-sink.log`. With `dump`, every message it accepts is written
    /// to its own file in that folder before the sink answers `250` (its
    /// `-d` option); without, it throws the messages away.
    pub fn start(dir: &Path, dump: Option<&Path>) -> Result<Sink, String> {
        let program = smtp_sink_path()?;
        let log = dir.join("smtp-sink.log");
        let mut last = String::new();
        // The port is free when picked; another process may take it first.
        for _ in 0..5 {
            let port = free_port()?;
            let log_file =
                std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
            let mut command = Command::new(&program);
            if is_root() {
                // It refuses to run as root: it drops to this user once
                // listening.
                command.args(["-u", "postfix"]);
            }
            if let Some(dump) = dump {
                std::fs::create_dir_all(dump).map_err(|e| format!("{}: {e}", dump.display()))?;
                // Written by the user smtp-sink runs as.
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(dump, std::fs::Permissions::from_mode(0o777))
                    .map_err(|e| format!("{}: {e}", dump.display()))?;
                command.arg("-d").arg(dump.join("m."));
            }
            let child = command
                .args(["-m", "512", &format!("127.0.0.1:{port}"), "1024"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log_file)
                .spawn()
                .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
            let mut sink = Sink {
                child,
                port,
                log: log.clone(),
                dump: dump.map(Path::to_path_buf),
            };
            match sink.wait_ready() {
                Ok(()) => return Ok(sink),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let started = wall_start();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "smtp-sink on port {} exited at once ({status}): {}",
                    self.port,
                    self.log_tail()
                ));
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                s.set_read_timeout(Some(Duration::from_secs(5)))
                    .map_err(err)?;
                let mut greeting = String::new();
                let _ = std::io::BufReader::new(&s).read_line(&mut greeting);
                let _ = s.write_all(b"QUIT\r\n");
                if greeting.starts_with("220") {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "smtp-sink does not greet on 127.0.0.1:{} after 10 s: {}",
            self.port,
            self.log_tail()
        ))
    }

    /// The end of its diagnostics, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(5)..].join(" | ");
        if tail.is_empty() {
            format!("(nothing in {})", self.log.display())
        } else {
            tail
        }
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The folder it writes messages to, if it does.
    pub fn dump(&self) -> Option<&Path> {
        self.dump.as_deref()
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops it (every message it answered `250` to is complete by then).
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What a dumping sink received: one file per accepted message.
#[derive(Clone, Debug, Default)]
pub struct Dumped {
    /// Message files read.
    pub files: u64,
    /// Messages per envelope recipient.
    pub by_recipient: HashMap<String, u32>,
    /// Messages per Message-ID.
    pub by_message_id: HashMap<String, u32>,
    /// Message-IDs seen with more than one recipient (none expected).
    pub message_id_conflicts: u64,
    /// Files without a recipient or a Message-ID.
    pub unreadable: u64,
}

impl Dumped {
    /// Messages received more than once: files beyond the first per
    /// recipient.
    pub fn copies_beyond_first(&self) -> u64 {
        self.by_recipient
            .values()
            .map(|&n| u64::from(n.saturating_sub(1)))
            .sum()
    }

    /// Recipients that received more than one copy.
    pub fn recipients_with_copies(&self) -> u64 {
        self.by_recipient.values().filter(|&&n| n > 1).count() as u64
    }
}

/// Reads every message file `smtp-sink -d` wrote in `dir`: its
/// `X-Rcpt-Args` (the envelope recipient) and its `Message-ID`.
pub fn read_dumps(dir: &Path) -> Result<Dumped, String> {
    let mut d = Dumped::default();
    let mut id_owner: HashMap<String, String> = HashMap::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        d.files += 1;
        let (mut rcpt, mut message_id) = (None, None);
        let mut lines = text.split(|&b| b == b'\n').peekable();
        // The sink's own header lines and the message's header: one block.
        while let Some(line) = lines.next() {
            if line.is_empty() {
                break;
            }
            let line = String::from_utf8_lossy(line);
            if let Some(v) = line.strip_prefix("X-Rcpt-Args:") {
                let v = v.trim();
                let v = v.split_whitespace().next().unwrap_or(v);
                rcpt = Some(v.trim_start_matches('<').trim_end_matches('>').to_owned());
            } else if line.len() > 11 && line[..11].eq_ignore_ascii_case("message-id:") {
                let mut v = line[11..].trim().to_owned();
                // A folded header: the value on the next line.
                if v.is_empty()
                    && let Some(next) = lines.peek()
                {
                    v = String::from_utf8_lossy(next).trim().to_owned();
                }
                message_id = Some(v);
            }
        }
        match (rcpt, message_id) {
            (Some(r), Some(m)) => {
                *d.by_recipient.entry(r.clone()).or_default() += 1;
                *d.by_message_id.entry(m.clone()).or_default() += 1;
                match id_owner.get(&m) {
                    Some(owner) if *owner != r => d.message_id_conflicts += 1,
                    Some(_) => {}
                    None => {
                        id_owner.insert(m, r);
                    }
                }
            }
            _ => d.unreadable += 1,
        }
    }
    Ok(d)
}

// ------------------------------------------------------------------ workers

/// How to run one `campaign worker` process.
#[derive(Clone, Debug)]
pub struct WorkerSpec {
    /// The `campaign` binary.
    pub exe: PathBuf,
    /// The database (handed over in [`DB_URL_ENV`], not on the command line).
    pub db_url: String,
    /// The PostgreSQL schema, if any.
    pub schema: Option<String>,
    /// SMTP connections of its relay.
    pub conns: usize,
    /// The sink's port on 127.0.0.1.
    pub port: u16,
    /// Messages claimed per batch.
    pub batch: usize,
    /// Messages on the wire at once.
    pub concurrency: usize,
    /// Batches in hand at once (the Worker's default is 2).
    pub batches_in_flight: usize,
    /// Lease of a claimed message, seconds.
    pub lease_seconds: u64,
    /// Keep running until nothing was claimed for this long (seconds), so
    /// that leases of a killed worker are taken over once they run out;
    /// `None`: stop as soon as nothing is due.
    pub linger_seconds: Option<f64>,
    /// Whether the worker plans fan-outs too.
    pub fan_out: bool,
    /// SQLite reader connections of its store (`None`: the store's default).
    pub readers: Option<u32>,
}

impl WorkerSpec {
    /// Starts the process: its JSON line on a pipe, its progress on this
    /// process's stderr.
    pub fn spawn(&self) -> Result<Child, String> {
        let mut command = Command::new(&self.exe);
        command
            .arg("worker")
            .args(["--conns", &self.conns.to_string()])
            .args(["--port", &self.port.to_string()])
            .args(["--batch", &self.batch.to_string()])
            .args(["--concurrency", &self.concurrency.to_string()])
            .args(["--batches-in-flight", &self.batches_in_flight.to_string()])
            .args(["--lease-seconds", &self.lease_seconds.to_string()])
            .env(DB_URL_ENV, &self.db_url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(s) = &self.schema {
            command.args(["--schema", s]);
        }
        if let Some(l) = self.linger_seconds {
            command.args(["--linger", &l.to_string()]);
        }
        if self.fan_out {
            command.arg("--fan-out");
        }
        if let Some(r) = self.readers {
            command.args(["--readers", &r.to_string()]);
        }
        command
            .spawn()
            .map_err(|e| format!("cannot start {} worker: {e}", self.exe.display()))
    }
}

/// The JSON line a `campaign worker` prints when it ends.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WorkerLine {
    /// `"campaign-worker"`.
    pub bench: String,
    /// Its process id.
    pub pid: u32,
    /// Batches claimed.
    pub batches: u64,
    /// Messages claimed.
    pub claimed: u64,
    /// Messages the sink accepted, recorded as sent.
    pub submitted: u64,
    /// Messages queued again after a transient failure.
    pub retried: u64,
    /// Messages given up.
    pub failed: u64,
    /// Store errors and outcomes that could not be recorded.
    pub errors: u64,
    /// Wall time from its start (store opened) to its end.
    pub seconds: f64,
    /// Its CPU time over that span.
    pub cpu_seconds: f64,
    /// `submitted` per wall second.
    pub msgs_per_s: f64,
    /// Messages its relay had accepted.
    pub relay_sent: u64,
    /// Bytes of those.
    pub relay_bytes: u64,
    /// SMTP connections it opened.
    pub relay_connections: u64,
    /// Its peak RSS, KiB (`VmHWM`).
    pub vm_hwm_kb: Option<u64>,
    /// Its `ru_maxrss`, KiB.
    pub maxrss_kb: i64,
}

/// The worker's JSON line: the last non-empty line of its output.
pub fn parse_worker_line(stdout: &[u8]) -> Result<WorkerLine, String> {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .ok_or("the worker printed no result line")?;
    serde_json::from_str(line).map_err(|e| format!("the worker's result line {line:?}: {e}"))
}

/// Waits for a worker process and reads its JSON line; an error if it
/// failed.
pub fn finish_worker(child: Child) -> Result<WorkerLine, String> {
    let pid = child.id();
    let out = child
        .wait_with_output()
        .map_err(|e| format!("worker {pid}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "worker {pid} failed ({}); its messages are above on stderr",
            out.status
        ));
    }
    parse_worker_line(&out.stdout).map_err(|e| format!("worker {pid}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h:5432/db"), "postgres://u@h:5432/db");
        assert_eq!(redact("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }

    #[test]
    fn generated_rows() {
        assert_eq!(
            generated_row(0),
            GeneratedRow::New("guest0@example.org".into())
        );
        assert!(matches!(generated_row(997), GeneratedRow::Invalid(_)));
        assert_eq!(
            generated_row(1998),
            GeneratedRow::Repeat("guest1498@example.org".into())
        );
        assert_eq!(invited_addresses(2000).len(), 1996);
    }
}
