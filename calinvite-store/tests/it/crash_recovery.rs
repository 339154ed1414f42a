#![allow(clippy::unwrap_used)]
//! Workers killed with SIGKILL in the middle of a fan-out, again and again:
//! after recovery every intended message has reached the relay, and the
//! store recorded each as sent exactly once.
//!
//! The set-up (in this process): one domain owner and organizer (updates go
//! to everyone), an event created through the API, and its audience —
//! invitations whose first REQUEST (SEQUENCE 0) already went out, as if
//! imported from a previous run; they are written in bulk with the changes
//! `Pipeline::invite` and a delivery would have made. Then the organizer
//! changes the place with `Pipeline::update_event`: one fan-out of an update
//! (SEQUENCE 1) to every invitation. Those update messages are the intended
//! messages under test, planned in batches by `step_fan_out` and sent by
//! `deliver_one`, both while processes die.
//!
//! The work is done by child processes: this test binary run again on the
//! `crash_child` test, which opens the same database, plans the fan-out in
//! one task and delivers in several (leases of 2 s, the system clock), into a
//! relay that appends each accepted Message-ID to a log file before it
//! answers `Ok` (see `load::LogRelay`). The parent starts a child, waits a
//! random 50–800 ms, kills it with SIGKILL, and starts the next, until the
//! store has nothing left to plan or send. A kill falls wherever the child
//! is: inside a fan-out batch's commit, between a claim and its send, between
//! the relay's acceptance and the settle (that message is sent again once its
//! lease runs out: the relay log shows it twice — a well-behaved relay
//! deduplicates by Message-ID). A last child then runs undisturbed until it finds nothing to
//! do, and the parent checks:
//!
//! - the relay log holds every intended Message-ID, and nothing else;
//! - every update's queue row is `sent`, and each invitation has exactly one
//!   `Queued` and one `Sent` entry for SEQUENCE 1 (planned once, recorded as
//!   sent once), with `sequence_held` 1; no fan-out is left;
//! - the re-sends the relay saw are few: at most one per worker per kill;
//! - at least 20 kills landed while work was left (5 in the small runs).
//!
//! The figures are printed (`--nocapture`). The 100,000-message runs take
//! minutes and are `#[ignore]`d; `scripts/test.sh` runs them in a release
//! build (`cargo test --release -p calinvite-store --test it --
//! --include-ignored 100k`, with the queue runs). The 4,000-message runs go with every `cargo
//! test`.
//! `CALINVITE_CRASH_SEED` repeats a run's kill times; `CALINVITE_RELAY_FSYNC=1`
//! makes the relay `fsync` each line (slow on most disks, and needless for a
//! process kill: the kernel keeps what was written).

use crate::load;
use crate::support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use calinvite_core::lifecycle::{
    DeliveryReport, DeliveryState, Outcome, Pipeline, PipelineError, PipelineOptions, Store,
    StoreError,
};
use calinvite_core::{Clock, IdSource, InvitationToken, Sequence};
use calinvite_store::system::{OsRandom, SystemClock};
use calinvite_store::{SqlOptions, SqlStore};
use chrono::TimeDelta;
use load::{LogRelay, Tables, Written};

/// The child's variables: the database URL (its presence makes a child) …
const CHILD: &str = "CALINVITE_CRASH_CHILD";
/// … the PostgreSQL schema, if one …
const SCHEMA: &str = "CALINVITE_CRASH_SCHEMA";
/// … the relay's log …
const RELAY_LOG: &str = "CALINVITE_CRASH_RELAY_LOG";
/// … where leases lost by a live worker are noted …
const LOST_LOG: &str = "CALINVITE_CRASH_LOST_LOG";
/// … and how many delivery workers it runs.
const WORKERS: &str = "CALINVITE_CRASH_WORKERS";

/// How long a claim holds a message: a dead worker's messages are claimed
/// again this long after it claimed them.
const LEASE_SECONDS: i64 = 2;
/// Kills that must land while work is left, in a 100,000-message run.
const MIN_KILLS: usize = 20;
/// The same for the small runs `cargo test` makes (a fast machine gets
/// through 4,000 messages in fewer lives than a busy one).
const MIN_KILLS_SMALL: usize = 5;
/// The longest a child lives before it is killed, and the shortest.
const KILL_AFTER_MS: (u64, u64) = (50, 800);

/// Kill times: a SplitMix64 stream, seeded from the OS or `CALINVITE_CRASH_SEED`.
struct Dice(u64);

impl Dice {
    fn new() -> (Self, u64) {
        let seed = std::env::var("CALINVITE_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let mut b = [0u8; 8];
                OsRandom.fill(&mut b).expect("the OS random source works");
                u64::from_be_bytes(b)
            });
        (Dice(seed), seed)
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        low + z % (high - low + 1)
    }
}

/// Where a run keeps its database.
struct Database {
    url: String,
    schema: Option<String>,
    label: &'static str,
    /// Delivery workers per child.
    workers: usize,
}

impl Database {
    async fn open(&self, connections: u32) -> SqlStore {
        let mut options = SqlOptions::default().max_connections(connections);
        if let Some(s) = &self.schema {
            options = options.schema(s.clone());
        }
        SqlStore::open_with(&self.url, options)
            .await
            .unwrap_or_else(|e| panic!("{} at {}: {e}", self.label, self.url))
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn options() -> PipelineOptions {
    let mut options = PipelineOptions::default();
    options.lease_seconds = LEASE_SECONDS;
    options
}

fn pipeline(store: &SqlStore, relay: &LogRelay) -> Pipeline<SqlStore, LogRelay> {
    Pipeline::with_options(
        store.clone(),
        relay.clone(),
        Arc::new(SystemClock),
        Box::new(OsRandom),
        options(),
    )
}

/// A child process, killed and reaped when dropped: a failing parent leaves
/// none working behind it.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One child process working on the database in `dir`.
fn spawn_child(db: &Database, dir: &Path) -> Reaped {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "crash_recovery::crash_child",
            "--nocapture",
            "--include-ignored",
            "--test-threads=1",
        ])
        .env(CHILD, &db.url)
        .env(RELAY_LOG, dir.join("relay.log"))
        .env(LOST_LOG, dir.join("lost.log"))
        .env(WORKERS, db.workers.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    match &db.schema {
        Some(s) => command.env(SCHEMA, s),
        None => command.env_remove(SCHEMA),
    };
    Reaped(command.spawn().unwrap())
}

/// What the store still has to do: fan-outs to plan, messages to send.
async fn work_left(tables: &Tables) -> (i64, i64) {
    let fan_outs = tables.number("SELECT COUNT(*) FROM {p}fan_outs").await;
    let queue = tables
        .number("SELECT COUNT(*) FROM {p}deliveries WHERE state IN ('queued', 'leased')")
        .await;
    (fan_outs, queue)
}

/// The whole run on one database: set-up, kills, recovery, checks.
fn crash_and_recover(db: &Database, dir: &Path, n: usize, min_kills: usize) {
    let rt = runtime();
    let label = db.label;
    let clock = SystemClock;
    let started = load::stopwatch();

    // Set-up: the tenant, the event, its audience, and the organizer's edit.
    let (code, tokens) = rt.block_on(async {
        let store = db.open(4).await;
        load::tenant(&store).await;
        let admin = pipeline(&store, &LogRelay::open(&dir.join("setup.log"), false));
        let scope = load::scope();
        let start = clock.now() + TimeDelta::days(30);
        let code = admin
            .create_event_with(scope, |code| load::event(code, start, "Hall 1"))
            .await
            .unwrap();
        let parallel = if db.schema.is_some() { 4 } else { 1 };
        let tokens = load::invite_in_bulk(
            &store,
            &code,
            0..n,
            clock.now(),
            Written::AlreadySent,
            1_000,
            parallel,
        )
        .await;
        let edited = load::event(code.clone(), start, "Hall 2").unwrap();
        let outcome = admin.update_event(scope, &code, edited).await.unwrap();
        assert_eq!(
            outcome,
            Outcome::RevisionSent(code.clone(), Sequence::new(1))
        );
        assert_eq!(store.fan_outs(10).await.unwrap().len(), 1);
        store.close().await;
        (code, tokens)
    });
    let setup_secs = started.elapsed().as_secs_f64();
    let tables = rt.block_on(Tables::open(&db.url, db.schema.as_deref()));

    // Kill children until nothing is left to do.
    let (mut dice, seed) = Dice::new();
    eprintln!(
        "[{label}] {n} invitations and one update fan-out set up in {setup_secs:.1} s; \
         killing children (seed {seed}, {} delivery workers each, leases of {LEASE_SECONDS} s)",
        db.workers
    );
    let t = load::stopwatch();
    let (mut kills, mut mid_work, mut mid_planning, mut finished_alone) =
        (0_usize, 0_usize, 0_usize, 0_usize);
    loop {
        let mut child = spawn_child(db, dir);
        std::thread::sleep(Duration::from_millis(
            dice.between(KILL_AFTER_MS.0, KILL_AFTER_MS.1),
        ));
        match child.0.try_wait().unwrap() {
            Some(status) => {
                assert!(status.success(), "[{label}] a child failed: {status}");
                finished_alone += 1;
            }
            None => {
                // std's kill is SIGKILL on Unix: no destructor, no rollback.
                child.0.kill().unwrap();
                child.0.wait().unwrap();
                kills += 1;
            }
        }
        let (fan_outs, queue) = rt.block_on(work_left(&tables));
        if fan_outs + queue == 0 {
            break;
        }
        // Work left after the kill: the kill landed while there was work.
        mid_work += 1;
        if fan_outs > 0 {
            mid_planning += 1;
        }
        if kills.is_multiple_of(25) {
            let sent = rt
                .block_on(tables.number("SELECT COUNT(*) FROM {p}deliveries WHERE state = 'sent'"));
            eprintln!(
                "[{label}]   {kills} kills, {:.0} s: {sent} of {n} sent, {queue} queued or leased, fan-out {}",
                t.elapsed().as_secs_f64(),
                if fan_outs > 0 {
                    "still planning"
                } else {
                    "planned"
                }
            );
        }
        assert!(
            t.elapsed() < Duration::from_secs(3_600),
            "[{label}] still not done after an hour"
        );
    }
    let kill_secs = t.elapsed().as_secs_f64();

    // A last child, left alone, finds nothing it must do and stops.
    let t = load::stopwatch();
    let mut last = spawn_child(db, dir);
    let status = loop {
        if let Some(status) = last.0.try_wait().unwrap() {
            break status;
        }
        if t.elapsed() > Duration::from_secs(600) {
            panic!("[{label}] the last child did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "[{label}] the last child failed: {status}"
    );
    let last_secs = t.elapsed().as_secs_f64();

    // The relay got every intended message, and nothing else.
    let lines = LogRelay::read(&dir.join("relay.log"));
    let mut accepted: HashMap<&str, u32> = HashMap::with_capacity(n);
    for line in &lines {
        *accepted.entry(line.as_str()).or_default() += 1;
    }
    let intended: Vec<String> = tokens
        .iter()
        .map(|t| load::request_id(t, Sequence::new(1)))
        .collect();
    let missing = intended
        .iter()
        .filter(|id| !accepted.contains_key(id.as_str()))
        .count();
    assert_eq!(
        missing, 0,
        "[{label}] intended messages the relay never got"
    );
    assert_eq!(
        accepted.len(),
        n,
        "[{label}] the relay got messages nobody intended"
    );
    let resends = lines.len() - accepted.len();
    let most = accepted.values().copied().max().unwrap_or(0);
    let lost = LogRelay::read(&dir.join("lost.log")).len();

    // The store recorded each as sent exactly once, and planned each once.
    let (claims, sent_entries, queued_entries) = rt.block_on(async {
        assert_eq!(
            tables.queue_states().await,
            [("sent".to_owned(), n as i64)].into_iter().collect(),
            "[{label}] queue rows per state"
        );
        let claims = tables
            .number("SELECT CAST(SUM(attempts) AS BIGINT) FROM {p}deliveries")
            .await;
        let sent = r#"body LIKE '%"kind":{"sent":{"sequence":1}}%'"#;
        let queued = r#"body LIKE '%"kind":{"queued":{"kind":"update","sequence":1}}%'"#;
        for (what, filter) in [("Sent", sent), ("Queued", queued)] {
            let twice = tables
                .number(&format!(
                    "SELECT COUNT(*) FROM (SELECT token FROM {{p}}history WHERE {filter} \
                     GROUP BY token HAVING COUNT(*) > 1) AS twice"
                ))
                .await;
            assert_eq!(
                twice, 0,
                "[{label}] invitations with two {what} entries for SEQUENCE 1"
            );
        }
        let sent_entries = tables
            .number(&format!("SELECT COUNT(*) FROM {{p}}history WHERE {sent}"))
            .await;
        let queued_entries = tables
            .number(&format!("SELECT COUNT(*) FROM {{p}}history WHERE {queued}"))
            .await;
        let store = db.open(2).await;
        assert!(store.fan_outs(10).await.unwrap().is_empty());
        let later = clock.now() + TimeDelta::days(1);
        let left = store
            .claim(later, later + TimeDelta::seconds(60), 10)
            .await
            .unwrap();
        assert!(left.is_empty(), "[{label}] still claimable: {left:?}");
        let mut after: Option<InvitationToken> = None;
        let mut seen = 0;
        loop {
            let page = store
                .invitations(&code, after.as_ref(), 1_000)
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            after = Some(last.token().clone());
            for inv in &page {
                assert_eq!(
                    inv.clone().into_parts().sequence_held,
                    Some(Sequence::new(1))
                );
                assert_eq!(inv.delivery(), DeliveryState::Sent);
            }
            seen += page.len();
        }
        assert_eq!(seen, n);
        store.close().await;
        tables.close().await;
        (claims, sent_entries, queued_entries)
    });
    assert_eq!(
        sent_entries, n as i64,
        "[{label}] Sent entries for SEQUENCE 1"
    );
    assert_eq!(
        queued_entries, n as i64,
        "[{label}] Queued entries for SEQUENCE 1"
    );
    let reclaims = usize::try_from(claims).unwrap() - n;

    eprintln!(
        "[{label}] {n} intended messages; {kills} SIGKILLs ({mid_work} with work left, \
         {mid_planning} of them while the fan-out was still being planned); \
         {finished_alone} children finished before their kill"
    );
    eprintln!(
        "[{label}] relay: {} messages accepted, {} distinct = all {n} intended, {resends} re-sends \
         (most copies of one message: {most}); store: {n} sent once each, {reclaims} re-claims \
         after expired leases, {lost} leases lost by a live worker",
        lines.len(),
        accepted.len()
    );
    eprintln!(
        "[{label}] set-up {setup_secs:.1} s, kill phase {kill_secs:.1} s, last child {last_secs:.1} s, \
         total {:.1} s ({} messages/s through the kills)",
        started.elapsed().as_secs_f64(),
        load::rate(n, kill_secs)
    );
    assert!(
        mid_work >= min_kills,
        "[{label}] only {mid_work} kills landed while work was left (at least {min_kills} wanted)"
    );
    // A kill strands at most one sent-but-unrecorded message per worker; a
    // re-send needs a re-claim.
    assert!(
        resends <= kills * db.workers + lost,
        "[{label}] {resends} re-sends for {kills} kills of {} workers",
        db.workers
    );
    assert!(resends <= reclaims, "[{label}] re-sends without re-claims");
}

fn on_sqlite(n: usize, min_kills: usize, name: &str) {
    let dir = support::TempDir::new(name);
    let db = Database {
        url: format!("sqlite://{}", dir.0.join("calinvite.db").display()),
        schema: None,
        label: "sqlite",
        workers: 2,
    };
    crash_and_recover(&db, &dir.0, n, min_kills);
}

fn on_postgres(n: usize, min_kills: usize, name: &str) {
    runtime().block_on(support::check_postgres());
    let dir = support::TempDir::new(name);
    let db = Database {
        url: support::postgres_url(),
        schema: Some(support::unique(name)),
        label: "postgres",
        workers: 4,
    };
    crash_and_recover(&db, &dir.0, n, min_kills);
    runtime().block_on(async {
        let store = db.open(1).await;
        store
            .drop_schema(db.schema.as_deref().unwrap_or_default())
            .await
            .unwrap();
        store.close().await;
    });
}

#[test]
#[ignore = "100,000 messages: minutes; scripts/test.sh runs it in a release build"]
fn sigkill_during_100k_fan_out_on_sqlite() {
    on_sqlite(100_000, MIN_KILLS, "crash100k");
}

#[test]
#[ignore = "100,000 messages: minutes; scripts/test.sh runs it in a release build"]
fn sigkill_during_100k_fan_out_on_postgres() {
    on_postgres(100_000, MIN_KILLS, "crash100k");
}

#[test]
fn sigkill_during_4k_fan_out_on_sqlite() {
    on_sqlite(4_000, MIN_KILLS_SMALL, "crash");
}

#[test]
fn sigkill_during_4k_fan_out_on_postgres() {
    on_postgres(4_000, MIN_KILLS_SMALL, "crash");
}

/// A child: works on the database the parent names until nothing is left
/// (or it is killed). Without `CALINVITE_CRASH_CHILD` it does nothing.
#[test]
#[ignore = "a child process of the crash tests, started by them"]
fn crash_child() {
    let Ok(url) = std::env::var(CHILD) else {
        return;
    };
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let workers: usize = var(WORKERS).parse().unwrap();
    let db = Database {
        url,
        schema: std::env::var(SCHEMA).ok(),
        label: "child",
        workers,
    };
    let relay = LogRelay::open(
        &PathBuf::from(var(RELAY_LOG)),
        std::env::var("CALINVITE_RELAY_FSYNC").is_ok_and(|v| v == "1"),
    );
    let lost = LogRelay::open(&PathBuf::from(var(LOST_LOG)), false);
    if let Err(e) = runtime().block_on(child_work(&db, relay, lost)) {
        // Exit at once with the reason: the parent sees the status.
        eprintln!("crash child: {e}");
        std::process::exit(2);
    }
}

async fn child_work(db: &Database, relay: LogRelay, lost: LogRelay) -> Result<(), PipelineError> {
    let connections = u32::try_from(db.workers).unwrap_or(8) + 2;
    let store = db.open(connections).await;
    let planned = Arc::new(AtomicBool::new(false));
    let planner = {
        let pipeline = pipeline(&store, &relay);
        let planned = planned.clone();
        tokio::spawn(async move {
            while pipeline.step_fan_out().await? {}
            planned.store(true, Ordering::SeqCst);
            Ok::<(), PipelineError>(())
        })
    };
    let mut deliverers = Vec::new();
    for _ in 0..db.workers {
        let pipeline = pipeline(&store, &relay);
        let planned = planned.clone();
        let lost = lost.clone();
        deliverers.push(tokio::spawn(async move {
            let mut idle_since = None;
            loop {
                match pipeline.deliver_one().await {
                    Ok(Some(DeliveryReport::Sent(_))) => idle_since = None,
                    Ok(Some(other)) => {
                        return Err(PipelineError::NotFound(format!("not sent: {other:?}")));
                    }
                    // This worker's lease ran out while it sent and another
                    // worker sent the message too: noted, not fatal.
                    Err(PipelineError::Store(StoreError::NotLeased { key })) => {
                        lost.note(&key.to_string());
                    }
                    Err(e) => return Err(e),
                    Ok(None) => {
                        // Nothing claimable. Done once the fan-out is planned
                        // and a whole lease has passed with nothing to claim
                        // (a dead worker's messages come free within one).
                        if !planned.load(Ordering::SeqCst) {
                            idle_since = None;
                        } else {
                            let since = *idle_since.get_or_insert_with(load::stopwatch);
                            let lease = u64::try_from(LEASE_SECONDS).unwrap_or(2);
                            if since.elapsed() > Duration::from_secs(lease + 1) {
                                return Ok(());
                            }
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }));
    }
    planner
        .await
        .map_err(|e| PipelineError::NotFound(e.to_string()))??;
    for d in deliverers {
        d.await
            .map_err(|e| PipelineError::NotFound(e.to_string()))??;
    }
    store.close().await;
    Ok(())
}
