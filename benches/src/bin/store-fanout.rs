//! `store-fanout`: a million-recipient event on a real store.
//!
//! ```text
//! store-fanout --db sqlite|postgres --invitations N --workers W[,W…]
//!              [--batch B] [--insert-batch M] [--invite-calls K] [--claim C]
//!              [--deliveries D] [--drain] [--postgres-url URL] [--dir DIR] [--keep]
//! ```
//!
//! Not a timed test: a measurement. On a fresh database (a SQLite file in a
//! temporary folder, removed at the end; or a fresh PostgreSQL schema on
//! `--postgres-url`, else `$CALINVITE_POSTGRES_URL`, else
//! `postgres://postgres@127.0.0.1:5432/test`, dropped at the end; `--keep`
//! keeps either, for a look inside) it
//!
//! 1. creates a domain owner, an organizer (default settings: updates go to
//!    those who answered Yes or Maybe, no approval) and an event through
//!    [`Pipeline::create_event`];
//! 2. `invite`: sends `K` invitations (default 1,000) to a second event through
//!    [`Pipeline::invite`], one call each, for the per-call rate;
//! 3. `insert`: inserts `N` invitations to the event through [`Store::commit`] of
//!    [`Change::InsertInvitation`], `M` per commit (default 10,000), each one
//!    as if its invitation had gone out and been answered Yes (SEQUENCE 0 held,
//!    relay accepted, PARTSTAT=ACCEPTED): an update reaches all of them;
//! 4. `fan-out`: [`Pipeline::update_event`] (a new title), then
//!    [`Worker::plan_fan_outs`] until nothing is left to plan: every update is
//!    planned and queued, `B` invitations per batch (default
//!    [`PipelineOptions`]'s);
//! 5. `deliver`: a [`Worker`] with concurrency `W` (`W` messages in flight)
//!    drains the queue into a transport that only counts: it claims `C`
//!    messages per batch (default 1), assembles them and records the outcome.
//!    `--workers 1,2,4,8` runs stages one after the other on the same queue,
//!    each delivering about `--deliveries D` messages (the stage stops its
//!    worker once that many are done: it finishes the batch in hand);
//!    `--drain` (or a single `W` without `--deliveries`) has the last stage
//!    drain the queue, and checks that the transport got every message once.
//!
//! It prints one JSON line: per phase, wall seconds, CPU seconds of the process
//! and the rate, and `vm_hwm_kb` (the process's peak RSS, `VmHWM`) after each
//! phase. Progress goes to stderr.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use calinvite::{OsRandom, SystemClock, Worker, WorkerConfig};
use calinvite_benches::campaign::bench_event;
use calinvite_benches::measure::{rusage, vm_hwm_kb, wall_start};
use calinvite_core::Envelope;
use calinvite_core::lifecycle::{
    AllowEntry, DeliveryState, DomainOwner, Invitation, InvitationSource, OrganizerAccount,
    OrganizerId, Outcome, OwnerId, Pipeline, PipelineOptions, Scope, Store, Transport,
    TransportError,
};
use calinvite_core::spi::{Change, InvitationParts};
use calinvite_core::{
    Clock, EmailAddress, InvitationToken, ParticipationStatus, Recipient, Sequence, SequentialIds,
};
use calinvite_store::{SqlOptions, SqlStore};
use serde::Serialize;

/// The JSON line.
#[derive(Serialize, Default)]
struct Report {
    bench: &'static str,
    db: String,
    invitations: usize,
    workers: Vec<usize>,
    batch: usize,
    insert_batch: usize,
    claim: usize,
    invite_calls: usize,
    invite_seconds: f64,
    invite_per_s: f64,
    insert_seconds: f64,
    insert_cpu_seconds: f64,
    inserted_per_s: f64,
    fanout_planned: u64,
    fanout_steps: u64,
    fanout_seconds: f64,
    fanout_cpu_seconds: f64,
    fanout_per_s: f64,
    deliveries: u64,
    delivery_failures: u64,
    /// One entry per `--workers` stage.
    deliver: Vec<Stage>,
    deliver_seconds: f64,
    deliver_cpu_seconds: f64,
    deliveries_per_s: f64,
    bytes_per_msg: f64,
    vm_hwm_kb_after_insert: Option<u64>,
    vm_hwm_kb_after_fanout: Option<u64>,
    vm_hwm_kb: Option<u64>,
    maxrss_kb: i64,
}

/// One stage of the deliver phase.
#[derive(Serialize, Default)]
struct Stage {
    workers: usize,
    deliveries: u64,
    failures: u64,
    seconds: f64,
    cpu_seconds: f64,
    per_s: f64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Db {
    Sqlite,
    Postgres,
}

struct Args {
    db: Db,
    invitations: usize,
    workers: Vec<usize>,
    batch: Option<usize>,
    insert_batch: usize,
    invite_calls: usize,
    claim: usize,
    deliveries: Option<u64>,
    postgres_url: String,
    dir: Option<PathBuf>,
    keep: bool,
    drain: bool,
}

fn usage() -> String {
    "usage: store-fanout --db sqlite|postgres --invitations N --workers W[,W...]\n       \
     [--batch B] [--insert-batch M] [--invite-calls K] [--claim C] [--deliveries D]\n       \
     [--drain] [--postgres-url URL] [--dir DIR] [--keep]"
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

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        db: Db::Sqlite,
        invitations: 1_000_000,
        workers: vec![1],
        batch: None,
        insert_batch: 10_000,
        invite_calls: 1_000,
        claim: 1,
        deliveries: None,
        postgres_url: std::env::var("CALINVITE_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned()),
        dir: None,
        keep: false,
        drain: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--db" => {
                args.db = match it.next().as_deref() {
                    Some("sqlite") => Db::Sqlite,
                    Some("postgres") => Db::Postgres,
                    other => return Err(format!("--db {other:?}\n{}", usage())),
                }
            }
            "--invitations" => args.invitations = number(&a, it.next())?,
            "--workers" => {
                let list = it.next().ok_or_else(usage)?;
                args.workers = list
                    .split(',')
                    .map(|w| number::<usize>("--workers", Some(w.to_owned())).map(|w| w.max(1)))
                    .collect::<Result<_, _>>()?;
                if args.workers.is_empty() {
                    return Err(usage());
                }
            }
            "--batch" => args.batch = Some(number::<usize>(&a, it.next())?.max(1)),
            "--insert-batch" => args.insert_batch = number::<usize>(&a, it.next())?.max(1),
            "--invite-calls" => args.invite_calls = number(&a, it.next())?,
            "--claim" => args.claim = number::<usize>(&a, it.next())?.max(1),
            "--deliveries" => args.deliveries = Some(number(&a, it.next())?),
            "--postgres-url" => args.postgres_url = it.next().ok_or_else(usage)?,
            "--dir" => args.dir = Some(it.next().ok_or_else(usage)?.into()),
            "--keep" => args.keep = true,
            "--drain" => args.drain = true,
            "-h" | "--help" => return Err(usage()),
            s => return Err(format!("unexpected argument {s:?}\n{}", usage())),
        }
    }
    Ok(args)
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
        "store-fanout: {what} (VmHWM {} MiB)",
        vm_hwm_kb().unwrap_or(0) / 1024
    );
}

/// What the transport counted.
#[derive(Debug, Default)]
struct Counts {
    messages: AtomicU64,
    bytes: AtomicU64,
}

/// A transport that accepts everything and only counts (shared by the workers).
#[derive(Debug, Clone, Default)]
struct Counting(Arc<Counts>);

impl Transport for Counting {
    async fn send_raw(&self, _envelope: &Envelope, message: &[u8]) -> Result<(), TransportError> {
        self.0.messages.fetch_add(1, Ordering::Relaxed);
        self.0
            .bytes
            .fetch_add(message.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

fn address(s: &str) -> Result<EmailAddress, String> {
    EmailAddress::parse(s).map_err(|e| format!("{s}: {e}"))
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

type Bench = Pipeline<SqlStore, Counting>;

fn pipeline(store: SqlStore, transport: Counting, options: &PipelineOptions) -> Bench {
    Pipeline::with_options(
        store,
        transport,
        Arc::new(SystemClock) as Arc<dyn Clock>,
        Box::new(OsRandom),
        options.clone(),
    )
}

async fn run_on(store: SqlStore, args: &Args, report: &mut Report) -> Result<(), String> {
    let mut options = PipelineOptions::default();
    if let Some(b) = args.batch {
        options.batch = b;
    }
    report.batch = options.batch;
    let transport = Counting::default();
    let main = Arc::new(pipeline(store.clone(), transport.clone(), &options));

    // Tenancy: one domain owner, one organizer with the default settings.
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
    store.put_owner(owner).await.map_err(err)?;
    store
        .put_organizer(
            OrganizerAccount::new(scope, "Ana", address("ana@example.com")?)
                .with_allow_list(vec![AllowEntry::Domain("example.com".into())]),
        )
        .await
        .map_err(err)?;
    let now = main.now();
    let code = main
        .create_event_with(scope, |code| bench_event(code, now, "Product launch party"))
        .await
        .map_err(err)?;

    // The per-call path: Pipeline::invite, one recipient per call.
    if args.invite_calls > 0 {
        let other = main
            .create_event_with(scope, |code| bench_event(code, now, "Warm-up drinks"))
            .await
            .map_err(err)?;
        let t0 = wall_start();
        for i in 0..args.invite_calls {
            let recipient = Recipient::new(address(&format!("walkin{i}@example.org"))?)
                .with_name(format!("Walk-in {i}"));
            match main
                .invite(scope, &other, recipient, InvitationSource::Api)
                .await
                .map_err(err)?
            {
                Outcome::Invited(_) => {}
                other => return Err(format!("invite {i}: {other:?}")),
            }
        }
        report.invite_seconds = t0.elapsed().as_secs_f64();
        report.invite_per_s = args.invite_calls as f64 / report.invite_seconds;
        progress(&format!(
            "{} invitations through Pipeline::invite in {:.2} s",
            args.invite_calls, report.invite_seconds
        ));
    }

    // Insert: the audience, already invited and answered Yes.
    let ids = SequentialIds::new(20_261_203);
    let source = InvitationSource::Batch("bench".into());
    let (cpu0, _) = rusage();
    let t0 = wall_start();
    let mut inserted = 0;
    while inserted < args.invitations {
        let n = args.insert_batch.min(args.invitations - inserted);
        let mut changes = Vec::with_capacity(n);
        for i in inserted..inserted + n {
            changes.push(Change::InsertInvitation(Invitation::from(
                InvitationParts {
                    scope,
                    code: code.clone(),
                    token: InvitationToken::generate(&ids),
                    recipient: Recipient::new(address(&format!("guest{i}@example.org"))?)
                        .with_name(format!("Guest {i}")),
                    source: source.clone(),
                    created_at: now,
                    sent_at: Some(now),
                    sequence_held: Some(Sequence::INITIAL),
                    cancelled: false,
                    status: Some(ParticipationStatus::Accepted),
                    answered_at: Some(now),
                    instance_answers: Vec::new(),
                    marks: Vec::new(),
                    delivery: DeliveryState::Sent,
                    copies: 0,
                    version: 0,
                },
            )));
        }
        store.commit(changes).await.map_err(err)?;
        inserted += n;
        if inserted % 100_000 < n {
            progress(&format!(
                "inserted {inserted} in {:.1} s",
                t0.elapsed().as_secs_f64()
            ));
        }
    }
    report.insert_seconds = t0.elapsed().as_secs_f64();
    report.insert_cpu_seconds = (rusage().0 - cpu0).as_secs_f64();
    report.inserted_per_s = args.invitations as f64 / report.insert_seconds;
    report.vm_hwm_kb_after_insert = vm_hwm_kb();

    // Fan-out: one update to everyone who said Yes, planned in batches.
    let (cpu0, _) = rusage();
    let t0 = wall_start();
    let updated = bench_event(code.clone(), now, "Product launch party (new room)")?;
    match main
        .update_event(scope, &code, updated)
        .await
        .map_err(err)?
    {
        Outcome::RevisionSent(_, s) if s == Sequence::INITIAL.next() => {}
        other => return Err(format!("update_event: {other:?}")),
    }
    let planner = Worker::new(main.clone(), WorkerConfig::default());
    let steps = planner.plan_fan_outs().await.map_err(err)?;
    report.fanout_seconds = t0.elapsed().as_secs_f64();
    report.fanout_cpu_seconds = (rusage().0 - cpu0).as_secs_f64();
    report.fanout_steps = steps;
    report.fanout_planned = args.invitations as u64;
    report.fanout_per_s = args.invitations as f64 / report.fanout_seconds;
    report.vm_hwm_kb_after_fanout = vm_hwm_kb();
    progress(&format!(
        "fan-out planned and queued in {:.1} s",
        report.fanout_seconds
    ));

    // Deliver: stages of W workers drain the queue into the counting transport.
    let (cpu0, _) = rusage();
    let t0 = wall_start();
    let last = args.workers.len() - 1;
    for (i, &workers) in args.workers.iter().enumerate() {
        // Every stage but the last takes `--deliveries`; the last drains the
        // queue unless `--deliveries` is given without `--drain`.
        let limit = match args.deliveries {
            _ if i == last && args.drain => u64::MAX,
            Some(d) => d,
            None if i < last => return Err("several --workers need --deliveries".into()),
            None => u64::MAX,
        };
        let stage = drain(&main, &transport, &options, workers, args.claim, limit).await?;
        progress(&format!(
            "{} workers: {} messages in {:.1} s",
            workers, stage.deliveries, stage.seconds
        ));
        report.delivery_failures += stage.failures;
        report.deliver.push(stage);
    }
    report.deliver_seconds = t0.elapsed().as_secs_f64();
    report.deliver_cpu_seconds = (rusage().0 - cpu0).as_secs_f64();
    report.deliveries = transport.0.messages.load(Ordering::Relaxed);
    report.deliveries_per_s = report.deliveries as f64 / report.deliver_seconds;
    report.bytes_per_msg = if report.deliveries == 0 {
        0.0
    } else {
        transport.0.bytes.load(Ordering::Relaxed) as f64 / report.deliveries as f64
    };
    let expected = (args.invitations + args.invite_calls) as u64;
    if (args.deliveries.is_none() || args.drain) && report.deliveries != expected {
        return Err(format!(
            "expected {expected} messages, the transport counted {}",
            report.deliveries
        ));
    }
    Ok(())
}

/// A worker with `concurrency` messages in flight, claiming `claim` at a
/// time, delivers until about `limit` messages went out or the queue is empty.
async fn drain(
    main: &Arc<Bench>,
    transport: &Counting,
    options: &PipelineOptions,
    concurrency: usize,
    claim: usize,
    limit: u64,
) -> Result<Stage, String> {
    let before = transport.0.messages.load(Ordering::Relaxed);
    let (cpu0, _) = rusage();
    let t0 = wall_start();
    let config = WorkerConfig::default()
        .concurrency(concurrency)
        .batch(claim)
        .lease(Duration::from_secs(
            u64::try_from(options.lease_seconds).unwrap_or(300),
        ));
    let worker = Worker::new(main.clone(), config);
    let counters = worker.counters();
    let watch = async {
        let mut shown = 0;
        loop {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let n = counters.snapshot().attempts();
            if n / 100_000 != shown {
                shown = n / 100_000;
                progress(&format!("{concurrency} in flight: settled {n}"));
            }
            if n >= limit {
                return;
            }
        }
    };
    let report = worker.run_until_idle_or(watch).await.map_err(err)?;
    let seconds = t0.elapsed().as_secs_f64();
    let deliveries = transport.0.messages.load(Ordering::Relaxed) - before;
    Ok(Stage {
        workers: concurrency,
        deliveries,
        failures: report.retried + report.failed,
        seconds,
        cpu_seconds: (rusage().0 - cpu0).as_secs_f64(),
        per_s: deliveries as f64 / seconds,
    })
}

async fn run(args: Args) -> Result<Report, String> {
    let mut report = Report {
        bench: "store-fanout",
        db: match args.db {
            Db::Sqlite => "sqlite".into(),
            Db::Postgres => "postgres".into(),
        },
        invitations: args.invitations,
        workers: args.workers.clone(),
        insert_batch: args.insert_batch,
        claim: args.claim,
        invite_calls: args.invite_calls,
        ..Report::default()
    };
    match args.db {
        Db::Sqlite => {
            let base = args.dir.clone().unwrap_or_else(std::env::temp_dir);
            let dir = base.join(format!("calinvite-store-fanout-{}", std::process::id()));
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let url = format!("sqlite://{}", dir.join("calinvite.db").display());
            let result = match SqlStore::open(&url).await {
                Ok(store) => {
                    let r = run_on(store.clone(), &args, &mut report).await;
                    store.close().await;
                    r
                }
                Err(e) => Err(e.to_string()),
            };
            if args.keep {
                progress(&format!("kept {}", dir.display()));
            } else {
                let _ = std::fs::remove_dir_all(&dir);
            }
            result?;
        }
        Db::Postgres => {
            let schema = format!("store_fanout_{}", std::process::id());
            let store = SqlStore::open_with(
                &args.postgres_url,
                SqlOptions::default()
                    .schema(schema.clone())
                    .max_connections(
                        u32::try_from(args.workers.iter().max().unwrap_or(&1) + 2)
                            .unwrap_or(u32::MAX),
                    ),
            )
            .await
            .map_err(|e| format!("PostgreSQL at {}: {e}", args.postgres_url))?;
            let result = run_on(store.clone(), &args, &mut report).await;
            let dropped = if args.keep {
                progress(&format!("kept schema {schema}"));
                Ok(())
            } else {
                store.drop_schema(&schema).await
            };
            store.close().await;
            result?;
            dropped.map_err(err)?;
        }
    }
    report.vm_hwm_kb = vm_hwm_kb();
    report.maxrss_kb = rusage().1;
    Ok(report)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("store-fanout: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("store-fanout: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(report) => match serde_json::to_string(&report) {
            Ok(line) => {
                emit(&line);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("store-fanout: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("store-fanout: {e}");
            ExitCode::FAILURE
        }
    }
}
