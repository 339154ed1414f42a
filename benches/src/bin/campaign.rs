//! `campaign`: one event sent to a list of N recipients, end to end, into
//! Postfix's `smtp-sink`.
//!
//! ```text
//! campaign run --db sqlite|postgres --rows N [--processes P[,P…]] [--conns C]
//!              [--batch B] [--concurrency K] [--batches-in-flight H] [--page R]
//!              [--fan-out] [--overlap] [--readers N] [--postgres-url URL]
//!              [--dir DIR] [--keep] [--list-only]
//! campaign worker [--db-url URL] [--schema S] --conns C --port PORT
//!                 [--batch B] [--concurrency K] [--batches-in-flight H]
//!                 [--lease-seconds L] [--linger SECONDS] [--fan-out]
//!                 [--readers N]
//! ```
//!
//! Not a timed test: a measurement. `run`, for each `P` of `--processes`
//! (default 1; `--processes 1,2,4` runs three campaigns one after the
//! other, each on a fresh database, each printing its own line):
//!
//! 1. `generate`: writes a CSV list of `N` rows (`address,name,language`;
//!    distinct `guest{i}@example.org`, with one invalid address and one
//!    repeated address per 1,000 rows) to a temporary file. Timed apart:
//!    not part of the campaign.
//! 2. Opens a fresh database: a SQLite file in a temporary folder, or a
//!    fresh PostgreSQL schema on `--postgres-url` (else
//!    `$CALINVITE_POSTGRES_URL`, else `postgres://postgres@127.0.0.1:5432/test`),
//!    dropped at the end; `--keep` keeps either. Sets up a domain owner, an
//!    organizer and the event.
//! 3. `list`: [`Pipeline::start_list`] and [`Pipeline::feed_csv`] from the
//!    file (`R` rows per commit, default 500): every new recipient's
//!    invitation and queued message, every row's verdict.
//! 4. `deliver`: starts `smtp-sink` (Postfix's test server: it accepts
//!    everything and throws it away) on a free loopback port, then `P`
//!    `campaign worker` processes, each a [`Worker`] (`K` messages on the
//!    wire at once, default 8; claiming `B` at a time, default 256, with `H`
//!    batches in hand, default 3; fan-out planning off unless `--fan-out`: a
//!    list campaign queues its messages as it is fed)
//!    over an `SmtpRelay` of `C` connections (default 4) to the sink. Each
//!    runs until nothing is due and prints a JSON line with its counts, CPU
//!    time and peak RSS. Wall time from the first spawn to the last exit.
//!
//!    With `--overlap` the workers start before the list is fed, as a
//!    server's always-running workers would, and deliver while it is fed;
//!    the deliver phase (and the end-to-end time) then runs from the first
//!    row read until nothing is queued or leased. `--readers N` sets the
//!    SQLite reader connections of every store (the store's default
//!    otherwise; 0 reads through the writer).
//! 5. `verify`: [`Pipeline::list_progress`] must show every row recorded
//!    with the expected verdicts and every new invitation submitted, and
//!    [`Pipeline::queue_counts`] nothing queued, leased or failed.
//! 6. `raw`: the same number of messages, composed beforehand with the same
//!    composer settings the pipeline uses (the same event, owner and
//!    template; up to 20,000 distinct messages, cycled), sent by this one
//!    process through one `SmtpRelay` of `C × P` connections (as many as the
//!    workers had together) from `C × P` tasks into the same sink: the
//!    transport's ceiling on this machine, and the ratio queue / raw.
//!
//! It prints one JSON line per campaign on stdout; progress goes to stderr.
//!
//! `worker` is one worker process (used by `run` and by the kill test,
//! `tests/campaign_kill.rs`). The database URL comes from `--db-url` or
//! `$CALINVITE_CAMPAIGN_DB_URL` (so that a password does not show in the
//! process list). With `--linger S` it keeps running until it has claimed
//! nothing for `S` seconds, so that it takes over the leases of a worker
//! that was killed once they run out.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use calinvite::{OsRandom, SystemClock, Worker, WorkerConfig, WorkerCounters};
use calinvite_benches::campaign::{
    self, Campaign, DB_URL_ENV, ListCounts, Sink, WorkerLine, WorkerSpec,
};
use calinvite_benches::measure::{rusage, vm_hwm_kb, wall_start};
use calinvite_core::lifecycle::{Pipeline, PipelineOptions, Transport};
use calinvite_core::{
    Clock, ComposeOptions, Composer, EmailAddress, Envelope, EventRevision, InvitationToken,
    InvitationUid, MessageKind, Recipient, SenderIdentity, Sequence, SequentialIds,
};
use calinvite_smtp::relay::{RelayConfig, SmtpRelay};
use calinvite_store::{SqlOptions, SqlStore};
use serde::Serialize;

/// The allocator a worker process would run with in production: the
/// worker allocates and frees on different threads (a batch is read on
/// SQLite's thread and settled on tokio's), where the system allocator
/// spends about a tenth of the worker's CPU. The raw phase runs in the
/// same binary, so the queue and its ceiling are measured alike.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// With `--overlap`, how long a worker goes on claiming nothing before it
/// stops (after the last page is fed and the queue drained).
const OVERLAP_LINGER_SECONDS: f64 = 3.0;

/// Distinct messages composed for the raw phase (cycled when more are sent).
const RAW_DISTINCT: usize = 20_000;

/// The JSON line of one campaign.
#[derive(Serialize, Default)]
struct Report {
    bench: &'static str,
    db: String,
    rows: u64,
    processes: usize,
    conns_per_process: usize,
    concurrency: usize,
    batch: usize,
    batches_in_flight: usize,
    page: usize,
    fan_out: bool,
    /// Workers started with the list (`--overlap`): the deliver phase runs
    /// from the first row fed until the queue is empty.
    overlap: bool,
    /// `--readers`, when given.
    readers: Option<u32>,
    loadavg_start: String,
    loadavg_end: String,
    generate_seconds: f64,
    list_file_bytes: u64,
    /// What the file holds.
    expected: ListCounts,
    /// The list phase.
    list_seconds: f64,
    list_cpu_seconds: f64,
    list_rows_per_s: f64,
    list_vm_hwm_kb: Option<u64>,
    invited: u64,
    duplicates: u64,
    invalid: u64,
    refused: u64,
    /// The deliver phase.
    deliver_seconds: f64,
    delivered: u64,
    deliver_msgs_per_s: f64,
    deliver_retried: u64,
    deliver_failed: u64,
    deliver_errors: u64,
    /// CPU seconds of all the workers together.
    workers_cpu_seconds: f64,
    /// The largest worker's peak RSS.
    worker_vm_hwm_kb_max: Option<u64>,
    bytes_per_msg: f64,
    workers: Vec<WorkerLine>,
    /// list + deliver.
    end_to_end_seconds: f64,
    end_to_end_msgs_per_s: f64,
    /// Reading `list_progress` afterwards.
    verify_seconds: f64,
    submitted: u64,
    /// `queue_counts` after the deliver phase.
    queue_sent: u64,
    queue_reclaimed: u64,
    /// The raw phase.
    raw_messages: u64,
    raw_distinct: usize,
    raw_conns: usize,
    raw_compose_seconds: f64,
    raw_seconds: f64,
    raw_cpu_seconds: f64,
    raw_msgs_per_s: f64,
    raw_bytes_per_msg: f64,
    /// deliver_msgs_per_s / raw_msgs_per_s.
    queue_vs_raw: f64,
    /// This process's peak RSS (list phase, raw phase).
    vm_hwm_kb: Option<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Db {
    Sqlite,
    Postgres,
}

struct RunArgs {
    db: Db,
    rows: usize,
    processes: Vec<usize>,
    conns: usize,
    batch: usize,
    concurrency: usize,
    batches_in_flight: usize,
    page: usize,
    fan_out: bool,
    overlap: bool,
    readers: Option<u32>,
    postgres_url: String,
    dir: Option<PathBuf>,
    keep: bool,
    /// Stop after the list phase, keeping the database with its queue (for
    /// profiling a `campaign worker` over it).
    list_only: bool,
}

struct WorkerArgs {
    db_url: Option<String>,
    schema: Option<String>,
    conns: usize,
    port: Option<u16>,
    batch: usize,
    concurrency: usize,
    batches_in_flight: usize,
    lease_seconds: u64,
    linger: Option<f64>,
    fan_out: bool,
    readers: Option<u32>,
}

enum Cmd {
    Run(RunArgs),
    Worker(WorkerArgs),
}

fn usage() -> String {
    "usage: campaign run --db sqlite|postgres --rows N [--processes P[,P...]] [--conns C]\n       \
     [--batch B] [--concurrency K] [--batches-in-flight H] [--page R] [--fan-out]\n       \
     [--overlap] [--readers N] [--postgres-url URL] [--dir DIR] [--keep] [--list-only]\n   \
     or: campaign worker [--db-url URL] [--schema S] --conns C --port PORT [--batch B]\n       \
     [--concurrency K] [--batches-in-flight H] [--lease-seconds L] [--linger SECONDS] [--fan-out]\n       \
     [--readers N]"
        .to_owned()
}

fn number<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    let v = v.ok_or_else(|| format!("{flag} needs a value\n{}", usage()))?;
    v.replace('_', "")
        .parse()
        .map_err(|e| format!("{flag} {v:?}: {e}"))
}

fn parse_args() -> Result<Cmd, String> {
    let mut it = std::env::args().skip(1);
    match it.next().as_deref() {
        Some("run") => {
            let mut a = RunArgs {
                db: Db::Sqlite,
                rows: 100_000,
                processes: vec![1],
                conns: 4,
                batch: 256,
                concurrency: 8,
                batches_in_flight: 3,
                page: 500,
                fan_out: false,
                overlap: false,
                readers: None,
                postgres_url: campaign::postgres_url(),
                dir: None,
                keep: false,
                list_only: false,
            };
            while let Some(flag) = it.next() {
                match flag.as_str() {
                    "--db" => {
                        a.db = match it.next().as_deref() {
                            Some("sqlite") => Db::Sqlite,
                            Some("postgres") => Db::Postgres,
                            other => return Err(format!("--db {other:?}\n{}", usage())),
                        }
                    }
                    "--rows" => a.rows = number(&flag, it.next())?,
                    "--processes" | "--pg-stages" => {
                        let list = it.next().ok_or_else(usage)?;
                        a.processes = list
                            .split(',')
                            .map(|p| number::<usize>(&flag, Some(p.to_owned())).map(|p| p.max(1)))
                            .collect::<Result<_, _>>()?;
                    }
                    "--conns" => a.conns = number::<usize>(&flag, it.next())?.max(1),
                    "--batch" => a.batch = number::<usize>(&flag, it.next())?.max(1),
                    "--concurrency" => a.concurrency = number::<usize>(&flag, it.next())?.max(1),
                    "--batches-in-flight" => {
                        a.batches_in_flight = number::<usize>(&flag, it.next())?.max(1);
                    }
                    "--page" => a.page = number::<usize>(&flag, it.next())?.max(1),
                    "--fan-out" => a.fan_out = true,
                    "--overlap" => a.overlap = true,
                    "--readers" => a.readers = Some(number(&flag, it.next())?),
                    "--postgres-url" => a.postgres_url = it.next().ok_or_else(usage)?,
                    "--dir" => a.dir = Some(it.next().ok_or_else(usage)?.into()),
                    "--keep" => a.keep = true,
                    "--list-only" => {
                        a.list_only = true;
                        a.keep = true;
                    }
                    "-h" | "--help" => return Err(usage()),
                    s => return Err(format!("unexpected argument {s:?}\n{}", usage())),
                }
            }
            Ok(Cmd::Run(a))
        }
        Some("worker") => {
            let mut a = WorkerArgs {
                db_url: None,
                schema: None,
                conns: 4,
                port: None,
                batch: 256,
                concurrency: 8,
                batches_in_flight: 3,
                lease_seconds: 300,
                linger: None,
                fan_out: false,
                readers: None,
            };
            while let Some(flag) = it.next() {
                match flag.as_str() {
                    "--db-url" => a.db_url = Some(it.next().ok_or_else(usage)?),
                    "--schema" => a.schema = Some(it.next().ok_or_else(usage)?),
                    "--conns" => a.conns = number::<usize>(&flag, it.next())?.max(1),
                    "--port" => a.port = Some(number(&flag, it.next())?),
                    "--batch" => a.batch = number::<usize>(&flag, it.next())?.max(1),
                    "--concurrency" => a.concurrency = number::<usize>(&flag, it.next())?.max(1),
                    "--batches-in-flight" => {
                        a.batches_in_flight = number::<usize>(&flag, it.next())?.max(1);
                    }
                    "--lease-seconds" => a.lease_seconds = number::<u64>(&flag, it.next())?.max(1),
                    "--linger" => a.linger = Some(number(&flag, it.next())?),
                    "--fan-out" => a.fan_out = true,
                    "--readers" => a.readers = Some(number(&flag, it.next())?),
                    "-h" | "--help" => return Err(usage()),
                    s => return Err(format!("unexpected argument {s:?}\n{}", usage())),
                }
            }
            Ok(Cmd::Worker(a))
        }
        _ => Err(usage()),
    }
}

/// Prints the result line on stdout.
#[allow(
    clippy::print_stdout,
    reason = "the JSON line on stdout is this binary's output"
)]
fn emit(line: &str) {
    println!("{line}");
}

fn progress(what: &str) {
    eprintln!(
        "campaign[{}]: {what} (VmHWM {} MiB)",
        std::process::id(),
        vm_hwm_kb().unwrap_or(0) / 1024
    );
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

// --------------------------------------------------------------------- run

/// Where one campaign's database is, and how to clean it up.
struct Database {
    url: String,
    schema: Option<String>,
    store: SqlStore,
}

async fn open_database(
    args: &RunArgs,
    dir: &std::path::Path,
    stage: usize,
) -> Result<Database, String> {
    match args.db {
        Db::Sqlite => {
            let url = format!("sqlite://{}", dir.join("calinvite.db").display());
            let mut options = SqlOptions::default();
            if let Some(r) = args.readers {
                options = options.readers(r);
            }
            let store = SqlStore::open_with(&url, options)
                .await
                .map_err(|e| format!("SQLite at {url}: {e}"))?;
            Ok(Database {
                url,
                schema: None,
                store,
            })
        }
        Db::Postgres => {
            let schema = format!("campaign_{}_{stage}", std::process::id());
            let store = SqlStore::open_with(
                &args.postgres_url,
                SqlOptions::default()
                    .schema(schema.clone())
                    .max_connections(4),
            )
            .await
            .map_err(|e| {
                format!(
                    "PostgreSQL at {}: {e} (is it up? scripts/postgres.sh starts it)",
                    campaign::redact(&args.postgres_url)
                )
            })?;
            Ok(Database {
                url: args.postgres_url.clone(),
                schema: Some(schema),
                store,
            })
        }
    }
}

async fn run(args: &RunArgs) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("where is this binary? {e}"))?;
    // Fail before any work when the sink is missing.
    campaign::smtp_sink_path()?;
    for (stage, &processes) in args.processes.iter().enumerate() {
        let base = args.dir.clone().unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("calinvite-campaign-{}-{stage}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let db = open_database(args, &dir, stage).await?;
        let result = one_campaign(args, &exe, &dir, &db, processes).await;
        let dropped = match (&db.schema, args.keep) {
            (Some(schema), false) => db.store.drop_schema(schema).await.map_err(err),
            (Some(schema), true) => {
                progress(&format!("kept schema {schema}"));
                Ok(())
            }
            (None, _) => Ok(()),
        };
        db.store.close().await;
        if args.keep {
            progress(&format!("kept {}", dir.display()));
        } else {
            let _ = std::fs::remove_dir_all(&dir);
        }
        let report = result?;
        dropped?;
        emit(&serde_json::to_string(&report).map_err(err)?);
    }
    Ok(())
}

async fn one_campaign(
    args: &RunArgs,
    exe: &std::path::Path,
    dir: &std::path::Path,
    db: &Database,
    processes: usize,
) -> Result<Report, String> {
    let mut report = Report {
        bench: "campaign",
        db: match args.db {
            Db::Sqlite => "sqlite".into(),
            Db::Postgres => "postgres".into(),
        },
        rows: args.rows as u64,
        processes,
        conns_per_process: args.conns,
        concurrency: args.concurrency,
        batch: args.batch,
        batches_in_flight: args.batches_in_flight,
        page: args.page,
        fan_out: args.fan_out,
        overlap: args.overlap,
        readers: args.readers,
        loadavg_start: loadavg(),
        ..Report::default()
    };

    // Generate the list (not part of the campaign).
    let csv = dir.join("list.csv");
    let t0 = wall_start();
    let counts = campaign::write_list(&csv, args.rows)?;
    report.generate_seconds = t0.elapsed().as_secs_f64();
    report.list_file_bytes = counts.bytes;
    report.expected = counts;
    progress(&format!(
        "{} rows written to {} in {:.1} s ({} distinct, {} repeated, {} invalid)",
        counts.rows,
        csv.display(),
        report.generate_seconds,
        counts.distinct,
        counts.duplicates,
        counts.invalid
    ));

    // Tenancy and event, then the list phase; with `--overlap`, the worker
    // processes start first and deliver while the list is fed (how a
    // server runs a campaign: its workers are always running).
    let feeder = campaign::feeder(db.store.clone(), args.page);
    let mut campaign = campaign::set_up(&feeder).await?;
    let mut sink = Sink::start(dir, None)?;
    let spec = WorkerSpec {
        exe: exe.to_path_buf(),
        db_url: db.url.clone(),
        schema: db.schema.clone(),
        conns: args.conns,
        port: sink.port(),
        batch: args.batch,
        concurrency: args.concurrency,
        batches_in_flight: args.batches_in_flight,
        lease_seconds: 300,
        // Overlapping, a worker waits for the feed: it stops once it has
        // claimed nothing for this long (the feed commits every page within
        // a fraction of it).
        linger_seconds: args.overlap.then_some(OVERLAP_LINGER_SECONDS),
        fan_out: args.fan_out,
        readers: args.readers,
    };
    let mut children = Vec::with_capacity(processes);
    let (cpu0, _) = rusage();
    let t_feed = wall_start();
    if args.overlap {
        for _ in 0..processes {
            children.push(spec.spawn()?);
        }
    }
    let feed = campaign::feed_file(&feeder, &mut campaign, &csv, |percent| {
        progress(&format!(
            "list: {percent}% of the file read in {:.1} s",
            t_feed.elapsed().as_secs_f64()
        ));
    })
    .await?;
    report.list_seconds = t_feed.elapsed().as_secs_f64();
    report.list_cpu_seconds = (rusage().0 - cpu0).as_secs_f64();
    report.list_rows_per_s = counts.rows as f64 / report.list_seconds;
    report.list_vm_hwm_kb = vm_hwm_kb();
    if feed.recorded != counts.rows {
        return Err(format!(
            "the list job recorded {} rows of {}",
            feed.recorded, counts.rows
        ));
    }
    progress(&format!(
        "list fed: {} rows in {:.1} s ({:.0} rows/s)",
        feed.recorded, report.list_seconds, report.list_rows_per_s
    ));

    if args.list_only {
        // The queue stays as the list left it, for a `campaign worker` run
        // by hand (a profiler's).
        progress("--list-only: stopping before delivery");
        return Ok(report);
    }

    // Deliver: P worker processes into smtp-sink.
    let t0 = if args.overlap {
        // Delivery ends when nothing is queued or leased any more.
        loop {
            let q = feeder
                .queue_counts()
                .await
                .map_err(|e| format!("queue_counts: {e}"))?;
            if q.queued == 0 && q.leased == 0 {
                break;
            }
            if children
                .iter_mut()
                .all(|c| c.try_wait().ok().flatten().is_some())
            {
                return Err(format!(
                    "every worker stopped with {} messages queued and {} leased",
                    q.queued, q.leased
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        report.deliver_seconds = t_feed.elapsed().as_secs_f64();
        t_feed
    } else {
        let t0 = wall_start();
        for _ in 0..processes {
            children.push(spec.spawn()?);
        }
        t0
    };
    let mut failures = Vec::new();
    for child in children {
        match campaign::finish_worker(child) {
            Ok(line) => report.workers.push(line),
            Err(e) => failures.push(e),
        }
    }
    if !args.overlap {
        report.deliver_seconds = t0.elapsed().as_secs_f64();
    }
    if !failures.is_empty() {
        return Err(failures.join("; "));
    }
    if !sink.running() {
        return Err(format!(
            "smtp-sink died during the campaign: {}",
            sink.log_tail()
        ));
    }
    let w = &report.workers;
    report.delivered = w.iter().map(|l| l.submitted).sum();
    report.deliver_retried = w.iter().map(|l| l.retried).sum();
    report.deliver_failed = w.iter().map(|l| l.failed).sum();
    report.deliver_errors = w.iter().map(|l| l.errors).sum();
    report.workers_cpu_seconds = w.iter().map(|l| l.cpu_seconds).sum();
    report.worker_vm_hwm_kb_max = w.iter().filter_map(|l| l.vm_hwm_kb).max();
    let bytes: u64 = w.iter().map(|l| l.relay_bytes).sum();
    let sent: u64 = w.iter().map(|l| l.relay_sent).sum();
    report.bytes_per_msg = if sent == 0 {
        0.0
    } else {
        bytes as f64 / sent as f64
    };
    report.deliver_msgs_per_s = report.delivered as f64 / report.deliver_seconds;
    // Overlapping, the deliver phase began with the list.
    report.end_to_end_seconds = if args.overlap {
        report.deliver_seconds
    } else {
        report.list_seconds + report.deliver_seconds
    };
    report.end_to_end_msgs_per_s = report.delivered as f64 / report.end_to_end_seconds;
    progress(&format!(
        "delivered {} messages with {processes} worker processes in {:.1} s ({:.0}/s)",
        report.delivered, report.deliver_seconds, report.deliver_msgs_per_s
    ));

    // Verify: every row recorded as expected, every invitation submitted.
    let t0 = wall_start();
    let job = campaign.job.as_ref().ok_or("no list job")?;
    let p = feeder
        .list_progress(campaign.scope, &job.id)
        .await
        .map_err(|e| format!("list_progress: {e}"))?;
    report.invited = p.invited;
    report.duplicates = p.duplicates;
    report.invalid = p.invalid;
    report.refused = p.refused.values().sum();
    report.submitted = p.submitted;
    let mut wrong = Vec::new();
    if p.rows != counts.rows {
        wrong.push(format!("{} rows recorded of {}", p.rows, counts.rows));
    }
    if p.invited != counts.distinct {
        wrong.push(format!(
            "{} invited, {} distinct addresses",
            p.invited, counts.distinct
        ));
    }
    if p.duplicates != counts.duplicates {
        wrong.push(format!(
            "{} duplicates found, {} written",
            p.duplicates, counts.duplicates
        ));
    }
    if p.invalid != counts.invalid {
        wrong.push(format!(
            "{} invalid found, {} written",
            p.invalid, counts.invalid
        ));
    }
    if p.submitted != p.invited {
        wrong.push(format!(
            "{} of {} invitations submitted: messages left in the queue",
            p.submitted, p.invited
        ));
    }
    if report.delivered != p.invited {
        wrong.push(format!(
            "the workers recorded {} messages sent, {} were invited",
            report.delivered, p.invited
        ));
    }
    let q = feeder
        .queue_counts()
        .await
        .map_err(|e| format!("queue_counts: {e}"))?;
    report.queue_sent = q.sent;
    report.queue_reclaimed = q.reclaimed;
    if q.queued + q.leased + q.failed > 0 || q.sent != p.invited {
        wrong.push(format!(
            "the queue is not drained: {} queued, {} leased, {} failed, {} sent of {} invited",
            q.queued, q.leased, q.failed, q.sent, p.invited
        ));
    }
    report.verify_seconds = t0.elapsed().as_secs_f64();
    if !wrong.is_empty() {
        return Err(format!("the campaign is wrong: {}", wrong.join("; ")));
    }
    progress(&format!(
        "verified: {} invited, all submitted ({:.1} s to read the progress)",
        p.invited, report.verify_seconds
    ));

    // Raw: the same number of messages through one SmtpRelay, prebuilt.
    raw(
        &campaign,
        p.invited,
        args.conns * processes,
        sink.port(),
        &mut report,
    )
    .await?;
    if !sink.running() {
        return Err(format!(
            "smtp-sink died during the raw phase: {}",
            sink.log_tail()
        ));
    }
    sink.stop();
    report.queue_vs_raw = report.deliver_msgs_per_s / report.raw_msgs_per_s;
    report.loadavg_end = loadavg();
    report.vm_hwm_kb = vm_hwm_kb();
    Ok(report)
}

/// Sends `count` prebuilt invitations (up to [`RAW_DISTINCT`] distinct,
/// cycled) through one relay of `conns` connections, from `conns` tasks.
async fn raw(
    campaign: &Campaign,
    count: u64,
    conns: usize,
    port: u16,
    report: &mut Report,
) -> Result<(), String> {
    // The composer as the pipeline builds it for this owner and organizer
    // (default settings: a List-Unsubscribe header).
    let owner = &campaign.owner;
    let composer = Composer::new(
        SenderIdentity::new(owner.reply.clone(), None),
        ComposeOptions::new()
            .return_path(owner.bounce.clone())
            .own_address(owner.ingest.clone())
            .list_unsubscribe(true),
    );
    let revision = EventRevision::new(campaign.event.clone(), Sequence::INITIAL);
    let ids = SequentialIds::new(20_261_211);
    let now = SystemClock.now();
    let distinct = usize::try_from(count)
        .unwrap_or(usize::MAX)
        .min(RAW_DISTINCT);
    let t0 = wall_start();
    let mut messages: Vec<(Envelope, Vec<u8>)> = Vec::with_capacity(distinct);
    for i in 0..distinct {
        let to = EmailAddress::parse(&format!("guest{i}@example.org")).map_err(err)?;
        let recipient = Recipient::new(to).with_name(format!("Guest {i}"));
        let uid = InvitationUid::new(
            campaign.event.code().clone(),
            InvitationToken::generate(&ids),
            &owner.mail_domain,
        )
        .map_err(err)?;
        let m = composer
            .compose(MessageKind::Invitation, &revision, &recipient, &uid, now)
            .map_err(err)?;
        messages.push((m.envelope().clone(), m.into_bytes()));
    }
    report.raw_compose_seconds = t0.elapsed().as_secs_f64();
    report.raw_distinct = distinct;
    report.raw_conns = conns;
    report.raw_bytes_per_msg = if distinct == 0 {
        0.0
    } else {
        messages.iter().map(|(_, b)| b.len()).sum::<usize>() as f64 / distinct as f64
    };
    let messages = Arc::new(messages);
    let relay = Arc::new(
        SmtpRelay::new(
            RelayConfig::plaintext("127.0.0.1", port)
                .helo_name("campaign.example")
                .max_connections(conns),
        )
        .map_err(err)?,
    );
    let total = usize::try_from(count).unwrap_or(usize::MAX);
    let next = Arc::new(AtomicUsize::new(0));
    let (cpu0, _) = rusage();
    let t0 = wall_start();
    let mut tasks = Vec::with_capacity(conns);
    for _ in 0..conns {
        let (relay, messages, next) = (relay.clone(), messages.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok::<(), String>(());
                }
                let Some((envelope, bytes)) = messages.get(i % messages.len()) else {
                    return Ok(());
                };
                relay
                    .send_raw(envelope, bytes)
                    .await
                    .map_err(|e| format!("raw message {i}: {e}"))?;
            }
        }));
    }
    for t in tasks {
        t.await.map_err(err)??;
    }
    relay.close().await;
    report.raw_seconds = t0.elapsed().as_secs_f64();
    report.raw_cpu_seconds = (rusage().0 - cpu0).as_secs_f64();
    report.raw_messages = count;
    report.raw_msgs_per_s = count as f64 / report.raw_seconds;
    progress(&format!(
        "raw: {count} prebuilt messages over {conns} connections in {:.1} s ({:.0}/s)",
        report.raw_seconds, report.raw_msgs_per_s
    ));
    Ok(())
}

// ------------------------------------------------------------------ worker

type Sending = Pipeline<SqlStore, SmtpRelay>;

/// Prints the counts now and then.
async fn ticker(counters: Arc<WorkerCounters>) {
    let mut shown = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let n = counters.snapshot().submitted;
        if n / 50_000 != shown {
            shown = n / 50_000;
            progress(&format!("worker: {n} sent"));
        }
    }
}

/// Completes once nothing has been claimed or settled for `quiet`.
async fn quiet_for(counters: Arc<WorkerCounters>, quiet: Duration) {
    let seen = |c: &WorkerCounters| {
        let s = c.snapshot();
        s.claimed + s.attempts() + c.in_flight()
    };
    let mut last = seen(&counters);
    let mut since = wall_start();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = seen(&counters);
        if now != last {
            last = now;
            since = wall_start();
        } else if since.elapsed() >= quiet {
            return;
        }
    }
}

async fn worker(args: &WorkerArgs) -> Result<WorkerLine, String> {
    // The worker's and the relay's warnings (a store error, a lost lease)
    // on stderr; they name no invitation token.
    let _ = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .with_writer(std::io::stderr)
        .try_init();
    let (cpu0, _) = rusage();
    let t0 = wall_start();
    let url = match &args.db_url {
        Some(u) => u.clone(),
        None => std::env::var(DB_URL_ENV)
            .map_err(|_| format!("worker: give --db-url or ${DB_URL_ENV}"))?,
    };
    let port = args.port.ok_or("worker: --port is required")?;
    let mut options = SqlOptions::default()
        .max_connections(u32::try_from(args.concurrency + 2).unwrap_or(u32::MAX));
    if let Some(s) = &args.schema {
        options = options.schema(s.clone());
    }
    if let Some(r) = args.readers {
        options = options.readers(r);
    }
    let store = SqlStore::open_with(&url, options)
        .await
        .map_err(|e| format!("worker: database at {}: {e}", campaign::redact(&url)))?;
    let relay = SmtpRelay::new(
        RelayConfig::plaintext("127.0.0.1", port)
            .helo_name("campaign.example")
            .max_connections(args.conns),
    )
    .map_err(err)?;
    let mut pipeline_options = PipelineOptions::default();
    pipeline_options.lease_seconds = i64::try_from(args.lease_seconds).unwrap_or(i64::MAX);
    let pipeline: Arc<Sending> = Arc::new(Pipeline::with_options(
        store.clone(),
        relay,
        Arc::new(SystemClock) as Arc<dyn Clock>,
        Box::new(OsRandom),
        pipeline_options,
    ));
    let config = WorkerConfig::default()
        .concurrency(args.concurrency)
        .batch(args.batch)
        .batches_in_flight(args.batches_in_flight)
        .lease(Duration::from_secs(args.lease_seconds))
        .fan_out(args.fan_out)
        .idle_backoff(Duration::from_millis(20), Duration::from_millis(500));
    let worker = Worker::new(pipeline.clone(), config);
    let counters = worker.counters();
    let report = match args.linger {
        None => worker
            .run_until_idle_or(ticker(counters.clone()))
            .await
            .map_err(|e| format!("worker: {e}"))?,
        Some(seconds) => {
            let quiet = Duration::from_secs_f64(seconds.max(0.1));
            let c = counters.clone();
            worker
                .run_until(async move {
                    tokio::select! {
                        () = quiet_for(c.clone(), quiet) => {}
                        () = ticker(c) => {}
                    }
                })
                .await
        }
    };
    pipeline.transport().close().await;
    store.close().await;
    let seconds = t0.elapsed().as_secs_f64();
    let relay = pipeline.transport().metrics();
    let (cpu1, maxrss_kb) = rusage();
    Ok(WorkerLine {
        bench: "campaign-worker".into(),
        pid: std::process::id(),
        batches: report.batches,
        claimed: report.claimed,
        submitted: report.submitted,
        retried: report.retried,
        failed: report.failed,
        errors: report.errors,
        seconds,
        cpu_seconds: (cpu1 - cpu0).as_secs_f64(),
        msgs_per_s: report.submitted as f64 / seconds,
        relay_sent: relay.messages_sent,
        relay_bytes: relay.bytes_sent,
        relay_connections: relay.connections_opened,
        vm_hwm_kb: vm_hwm_kb(),
        maxrss_kb,
    })
}

fn main() -> ExitCode {
    let cmd = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("campaign: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("campaign: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cmd {
        Cmd::Run(args) => runtime.block_on(run(&args)),
        Cmd::Worker(args) => runtime.block_on(worker(&args)).and_then(|line| {
            emit(&serde_json::to_string(&line).map_err(err)?);
            Ok(())
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("campaign: {e}");
            ExitCode::FAILURE
        }
    }
}
