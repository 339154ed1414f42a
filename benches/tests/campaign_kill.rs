//! A list campaign survives `kill -9` of one of its two worker processes.
//!
//! A campaign of 20,000 rows is set up and fed here, on a fresh database;
//! two `campaign worker` processes drain it into Postfix's `smtp-sink`, which
//! writes every message it accepts to its own file before it answers `250`.
//! One of the two workers is killed with SIGKILL 20 times, spread over the
//! run (each time the sink has received another twenty-second of the
//! messages), and restarted each time; leases are 3 s, so the messages the
//! killed worker held are claimed again by either worker once they run out.
//! Both workers stay until they have claimed nothing for 5 s.
//!
//! Then:
//! - every invited recipient's message is in the sink, and nothing else is;
//! - after de-duplication, one message per key: as many distinct
//!   Message-IDs as recipients, each Message-ID to one recipient;
//! - the copies beyond the first (messages received twice) are at most the
//!   killed worker's window at each kill — the messages it held, sent but
//!   not yet recorded: its batches in hand, so kills × batches in flight ×
//!   batch — and at most the claims of expired leases the queue counted
//!   (`queue_counts().reclaimed`); they are printed;
//! - `list_progress` shows every invited row submitted, and the queue holds
//!   nothing queued, leased or failed (`queue_counts`, and the job's
//!   messages read one by one).
//!
//! Heavy (a minute or two in release): `#[ignore]`d, run with
//! `cargo test --release -p calinvite-benches --test campaign_kill -- --include-ignored --nocapture kill`.
//! Needs PostgreSQL (`scripts/postgres.sh`) and smtp-sink (`scripts/postfix.sh`).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use calinvite_benches::campaign::{
    self, JobQueue, ListCounts, Sink, WorkerLine, WorkerSpec, read_dumps,
};
use calinvite_benches::measure::wall_start;
use calinvite_store::{SqlOptions, SqlStore};

const ROWS: usize = 20_000;
const KILLS: usize = 20;
const LEASE_SECONDS: u64 = 3;
const LINGER_SECONDS: f64 = 5.0;
const BATCH: usize = 16;
const BATCHES_IN_FLIGHT: usize = 2;
const CONCURRENCY: usize = 4;
const CONNS: usize = 2;
/// A restarted worker runs at least this long before it is killed again.
const MIN_ALIVE: Duration = Duration::from_millis(250);
/// The whole run must end within this.
const DEADLINE: Duration = Duration::from_secs(900);

#[derive(Clone, Copy, Debug)]
enum Db {
    Sqlite,
    Postgres,
}

#[test]
#[ignore = "heavy: 20,000 messages into smtp-sink through PostgreSQL, a worker killed 20 times; run in release"]
fn campaign_kill_postgres() {
    if let Err(e) = kill_test(Db::Postgres) {
        panic!("{e}");
    }
}

#[test]
#[ignore = "heavy: 20,000 messages into smtp-sink through SQLite, a worker killed 20 times; run in release"]
fn campaign_kill_sqlite() {
    if let Err(e) = kill_test(Db::Sqlite) {
        panic!("{e}");
    }
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

/// Waits for a worker that was not killed, until `deadline` (from `start`).
fn wait_worker(
    mut child: Child,
    start: std::time::Instant,
    what: &str,
) -> Result<WorkerLine, String> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let mut out = Vec::new();
                if let Some(mut stdout) = child.stdout.take() {
                    stdout
                        .read_to_end(&mut out)
                        .map_err(|e| format!("{what}: reading its output: {e}"))?;
                }
                if !status.success() {
                    return Err(format!(
                        "{what} failed ({status}); its messages are above on stderr"
                    ));
                }
                return campaign::parse_worker_line(&out).map_err(|e| format!("{what}: {e}"));
            }
            Ok(None) if start.elapsed() > DEADLINE => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{what} still running after {} s: the queue never emptied",
                    DEADLINE.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("{what}: {e}")),
        }
    }
}

/// What the run saw, printed at the end.
#[derive(Debug, Default)]
struct Seen {
    kills: usize,
    seconds: f64,
    delivered_at_kills: Vec<usize>,
    survivor: Option<WorkerLine>,
    last_restart: Option<WorkerLine>,
}

fn kill_test(db: Db) -> Result<(), String> {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_campaign"));
    campaign::smtp_sink_path()?;
    let dir = std::env::temp_dir().join(format!(
        "calinvite-campaign-kill-{db:?}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (url, schema) = match db {
        Db::Sqlite => (
            format!("sqlite://{}", dir.join("calinvite.db").display()),
            None,
        ),
        Db::Postgres => (
            campaign::postgres_url(),
            Some(format!("campaign_kill_{}", std::process::id())),
        ),
    };
    let mut options = SqlOptions::default().max_connections(4);
    if let Some(s) = &schema {
        options = options.schema(s.clone());
    }
    let store = runtime
        .block_on(SqlStore::open_with(&url, options))
        .map_err(|e| {
            format!(
                "database at {}: {e} (PostgreSQL: is it up? scripts/postgres.sh starts it)",
                campaign::redact(&url)
            )
        })?;
    let result = run(&runtime, &exe, &dir, &store, &url, schema.as_deref());
    if let Some(s) = &schema {
        let _ = runtime.block_on(store.drop_schema(s));
    }
    runtime.block_on(store.close());
    match result {
        Ok(()) => {
            let _ = std::fs::remove_dir_all(&dir);
            Ok(())
        }
        Err(e) => Err(format!(
            "{e}\n(the list, the sink's log and its captured messages are kept in {})",
            dir.display()
        )),
    }
}

fn run(
    runtime: &tokio::runtime::Runtime,
    exe: &Path,
    dir: &Path,
    store: &SqlStore,
    url: &str,
    schema: Option<&str>,
) -> Result<(), String> {
    // The campaign, fed here.
    let csv = dir.join("list.csv");
    let counts: ListCounts = campaign::write_list(&csv, ROWS)?;
    let feeder = campaign::feeder(store.clone(), 500);
    let mut c = runtime.block_on(campaign::set_up(&feeder))?;
    let feed = runtime.block_on(campaign::feed_file(&feeder, &mut c, &csv, |_| {}))?;
    if feed.recorded != counts.rows {
        return Err(format!(
            "the list job recorded {} rows of {}",
            feed.recorded, counts.rows
        ));
    }
    let job = c.job.clone().ok_or("no list job")?;
    eprintln!(
        "campaign_kill: {} rows fed ({} to invite); two workers, one killed {KILLS} times",
        counts.rows, counts.distinct
    );

    // The sink, capturing every message, and the two workers.
    let dump = dir.join("dump");
    let mut sink = Sink::start(dir, Some(&dump))?;
    let spec = WorkerSpec {
        exe: exe.to_path_buf(),
        db_url: url.to_owned(),
        schema: schema.map(str::to_owned),
        conns: CONNS,
        port: sink.port(),
        batch: BATCH,
        concurrency: CONCURRENCY,
        batches_in_flight: BATCHES_IN_FLIGHT,
        lease_seconds: LEASE_SECONDS,
        linger_seconds: Some(LINGER_SECONDS),
        fan_out: false,
        readers: None,
    };
    let expected = usize::try_from(counts.distinct).map_err(|e| e.to_string())?;
    let start = wall_start();
    let survivor = spec.spawn()?;
    let mut victim = spec.spawn()?;
    let mut victim_started = wall_start();
    let mut seen = Seen::default();
    let mut survivor = Some(survivor);
    // Kill k happens once the sink holds (k + 1) / (KILLS + 2) of the
    // messages: spread over the run, the last one before its end.
    for k in 0..KILLS {
        let target = expected * (k + 1) / (KILLS + 2);
        loop {
            if start.elapsed() > DEADLINE {
                let _ = victim.kill();
                return Err(format!(
                    "kill {k}: the sink holds {} messages of {expected} after {} s",
                    count_files(&dump),
                    DEADLINE.as_secs()
                ));
            }
            if let Some(s) = survivor.as_mut()
                && let Ok(Some(status)) = s.try_wait()
            {
                let _ = victim.kill();
                return Err(format!(
                    "the worker that is never killed ended early ({status}) before kill {k}"
                ));
            }
            if let Ok(Some(status)) = victim.try_wait() {
                return Err(format!(
                    "the worker to kill ended by itself ({status}) before kill {k}"
                ));
            }
            if count_files(&dump) >= target && victim_started.elapsed() >= MIN_ALIVE {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        victim
            .kill()
            .map_err(|e| format!("kill {k}: SIGKILL failed: {e}"))?;
        let _ = victim.wait();
        seen.kills += 1;
        seen.delivered_at_kills.push(count_files(&dump));
        victim = spec.spawn()?;
        victim_started = wall_start();
    }
    let survivor = survivor.take().ok_or("no survivor")?;
    seen.survivor = Some(wait_worker(survivor, start, "the worker never killed")?);
    seen.last_restart = Some(wait_worker(victim, start, "the last restarted worker")?);
    seen.seconds = start.elapsed().as_secs_f64();
    if !sink.running() {
        return Err(format!(
            "smtp-sink died during the run: {}",
            sink.log_tail()
        ));
    }
    sink.stop();

    // What reached the sink, and what the store says.
    let dumped = read_dumps(&dump)?;
    let progress = runtime
        .block_on(feeder.list_progress(c.scope, &job.id))
        .map_err(|e| format!("list_progress: {e}"))?;
    let queue: JobQueue = runtime.block_on(campaign::job_queue(store, &job))?;
    let counts_now = runtime
        .block_on(feeder.queue_counts())
        .map_err(|e| format!("queue_counts: {e}"))?;
    let copies = dumped.copies_beyond_first();
    let window = (seen.kills * BATCHES_IN_FLIGHT * BATCH) as u64;
    eprintln!(
        "campaign_kill: {} kills in {:.1} s (sink held {:?} at the kills); {} messages in the sink, \
         {} distinct recipients, {} copies beyond the first ({} recipients), \
         reclaimed leases {} (claims beyond the first {}), bound kills x batches in hand = {window}",
        seen.kills,
        seen.seconds,
        seen.delivered_at_kills,
        dumped.files,
        dumped.by_recipient.len(),
        copies,
        dumped.recipients_with_copies(),
        counts_now.reclaimed,
        queue.extra_claims,
    );
    eprintln!(
        "campaign_kill: survivor {:?}; last restart {:?}; job queue {queue:?}; queue_counts {counts_now:?}; \
         progress: {} invited, {} submitted",
        seen.survivor, seen.last_restart, progress.invited, progress.submitted
    );

    let mut wrong = Vec::new();
    // Store errors make copies of their own: an outcome not recorded waits
    // for its lease and is sent again. (The killed workers' counts die with
    // them; the two that ended report theirs.)
    let errors: u64 = [&seen.survivor, &seen.last_restart]
        .iter()
        .filter_map(|l| l.as_ref().map(|l| l.errors))
        .sum();
    if errors > 0 {
        wrong.push(format!(
            "the workers that ended could not record {errors} outcomes (store errors: \
             their warnings are above); each such message is sent again once its lease runs out"
        ));
    }
    // Nothing lost: every invited recipient's message in the sink.
    let invited = campaign::invited_addresses(ROWS);
    let missing: Vec<&String> = invited
        .iter()
        .filter(|a| !dumped.by_recipient.contains_key(*a))
        .collect();
    if !missing.is_empty() {
        wrong.push(format!(
            "{} invited recipients got no message (first: {:?})",
            missing.len(),
            &missing[..missing.len().min(10)]
        ));
    }
    let invited_set: std::collections::HashSet<&String> = invited.iter().collect();
    let strangers = dumped
        .by_recipient
        .keys()
        .filter(|r| !invited_set.contains(r))
        .count();
    if strangers > 0 {
        wrong.push(format!(
            "{strangers} recipients in the sink were not invited"
        ));
    }
    // One message per key once de-duplicated.
    if dumped.unreadable > 0 {
        wrong.push(format!(
            "{} captured messages have no recipient or no Message-ID",
            dumped.unreadable
        ));
    }
    if dumped.by_message_id.len() != invited.len() || dumped.by_recipient.len() != invited.len() {
        wrong.push(format!(
            "after de-duplication {} Message-IDs and {} recipients, {} invited",
            dumped.by_message_id.len(),
            dumped.by_recipient.len(),
            invited.len()
        ));
    }
    if dumped.message_id_conflicts > 0 {
        wrong.push(format!(
            "{} Message-IDs reached more than one recipient",
            dumped.message_id_conflicts
        ));
    }
    // Copies: only from the messages the killed worker held, and each one a
    // claim of an expired lease.
    if copies > window {
        wrong.push(format!(
            "{copies} copies beyond the first, more than kills x batches in hand = {window}"
        ));
    }
    if copies > counts_now.reclaimed {
        wrong.push(format!(
            "{copies} copies beyond the first, but only {} claims of expired leases (reclaimed)",
            counts_now.reclaimed
        ));
    }
    // The store agrees.
    if progress.invited != counts.distinct {
        wrong.push(format!(
            "list_progress: {} invited, {} distinct addresses in the list",
            progress.invited, counts.distinct
        ));
    }
    if progress.submitted != progress.invited {
        wrong.push(format!(
            "list_progress: {} of {} invitations submitted",
            progress.submitted, progress.invited
        ));
    }
    if queue.sent != queue.messages || queue.queued + queue.leased + queue.failed > 0 {
        wrong.push(format!("the job's messages are not all sent: {queue:?}"));
    }
    if counts_now.queued + counts_now.leased + counts_now.failed > 0
        || counts_now.sent != progress.invited
    {
        wrong.push(format!("the queue is not drained: {counts_now:?}"));
    }
    if seen.kills != KILLS {
        wrong.push(format!("{} kills, {KILLS} planned", seen.kills));
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!("campaign_kill: {}", wrong.join("; ")))
    }
}
