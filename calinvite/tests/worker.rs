#![allow(clippy::unwrap_used)]
//! The worker drains queues: in memory (counts, retries, fan-outs, idle
//! back-off), on SQLite stopped mid-drain and restarted, and — `#[ignore]`d,
//! run in release by `scripts/test.sh` — 100,000 messages drained exactly
//! once by 4 workers on SQLite and 8 on PostgreSQL.
//!
//! PostgreSQL runs in a fresh schema on `CALINVITE_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), dropped at the end.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use calinvite::core::lifecycle::{
    AllowEntry, DeliveryKey, DeliveryState, DomainOwner, HistoryEntry, HistoryKind, Invitation,
    InvitationSource, MemoryStore, OrganizerAccount, OrganizerId, Outcome, OwnerId,
    RecordingTransport, Scope, Settings, Store, Transport, TransportError,
};
use calinvite::core::spi::{Change, Delivery, InvitationParts, Payload, QueueState};
use calinvite::core::targeting::UpdateAudience;
use calinvite::core::{
    EmailAddress, Envelope, Event, EventCode, FixedClock, IdempotencyKey, InvitationToken,
    MessageKind, Method, Recipient, Schedule, Sequence, SequentialIds, TimeZone, ZonedDateTime,
};
use calinvite::{Clock, OsRandom, Pipeline, SystemClock, Worker, WorkerConfig};
use calinvite_store::{SqlOptions, SqlStore};
use chrono::{DateTime, TimeDelta, TimeZone as _, Utc};

const DOMAIN: &str = "events.example.com";

fn address(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

fn scope() -> Scope {
    Scope {
        owner: OwnerId(1),
        organizer: OrganizerId(1),
    }
}

/// One domain owner and one organizer whose updates go to everyone.
async fn tenant<S: Store>(store: &S) {
    store
        .put_owner(DomainOwner::new(
            OwnerId(1),
            "Example Events",
            DOMAIN,
            address(&format!("create@{DOMAIN}")),
            address(&format!("rsvp@{DOMAIN}")),
            address(&format!("bounces@{DOMAIN}")),
        ))
        .await
        .unwrap();
    store
        .put_organizer(
            OrganizerAccount::new(scope(), "Ana", address("ana@example.com"))
                .with_allow_list(vec![AllowEntry::Domain("example.com".into())])
                .with_settings(Settings::default().with_audience(UpdateAudience::Everyone)),
        )
        .await
        .unwrap();
}

fn event(code: EventCode, start: DateTime<Utc>, title: &str) -> Result<Event, String> {
    let madrid = TimeZone::parse("Europe/Madrid").map_err(|e| e.to_string())?;
    Event::builder(code)
        .summary(title)
        .schedule(
            Schedule::timed(
                ZonedDateTime::from_instant(start, madrid),
                ZonedDateTime::from_instant(start + TimeDelta::hours(2), madrid),
            )
            .map_err(|e| e.to_string())?,
        )
        .organizer(address("ana@example.com"), Some("Ana"))
        .build()
        .map_err(|e| e.to_string())
}

fn guest(i: usize) -> Recipient {
    Recipient::new(address(&format!("guest{i:06}@example.org")))
}

/// Creates the event and invites `n` guests through `Pipeline::invite`.
async fn invite_through_pipeline<S: Store, T: Transport>(
    p: &Pipeline<S, T>,
    n: usize,
) -> (EventCode, Vec<InvitationToken>) {
    tenant(p.store()).await;
    let start = p.now() + TimeDelta::days(30);
    let code = p
        .create_event_with(scope(), |code| event(code, start, "Customer evening"))
        .await
        .unwrap();
    let mut tokens = Vec::with_capacity(n);
    for i in 0..n {
        match p
            .invite(scope(), &code, guest(i), InvitationSource::Api)
            .await
            .unwrap()
        {
            Outcome::Invited(t) => tokens.push(t),
            other => panic!("invite {i}: {other:?}"),
        }
    }
    (code, tokens)
}

/// Writes `range`'s invitations in commits of 1,000, exactly as
/// `Pipeline::invite` writes one (the invitation, its queued REQUEST, the
/// `Queued` history entry), without assembling anything.
async fn invite_in_bulk<S: Store>(
    store: &S,
    code: &EventCode,
    range: std::ops::Range<usize>,
    at: DateTime<Utc>,
) -> Vec<InvitationToken> {
    let ids = OsRandom;
    let mut tokens = Vec::with_capacity(range.len());
    let starts: Vec<usize> = range.clone().step_by(1_000).collect();
    for start in starts {
        let mut changes = Vec::new();
        for i in start..(start + 1_000).min(range.end) {
            let token = InvitationToken::generate(&ids);
            tokens.push(token.clone());
            changes.push(Change::InsertInvitation(Invitation::from(
                InvitationParts {
                    scope: scope(),
                    code: code.clone(),
                    token: token.clone(),
                    recipient: guest(i),
                    source: InvitationSource::Api,
                    created_at: at,
                    sent_at: None,
                    sequence_held: Some(Sequence::INITIAL),
                    cancelled: false,
                    status: None,
                    answered_at: None,
                    instance_answers: Vec::new(),
                    marks: Vec::new(),
                    delivery: DeliveryState::Queued,
                    copies: 0,
                    version: 0,
                },
            )));
            changes.push(Change::Enqueue(Delivery {
                key: DeliveryKey::Invitation(IdempotencyKey::new(
                    token.clone(),
                    Sequence::INITIAL,
                    Method::Request,
                    0,
                )),
                owner: OwnerId(1),
                payload: Payload::Invitation {
                    code: code.clone(),
                    token: token.clone(),
                    kind: MessageKind::Invitation,
                    sequence: Sequence::INITIAL,
                    copy: 0,
                },
                attempts: 0,
                due: at,
                state: QueueState::Queued,
                last_error: None,
                group: None,
            }));
            changes.push(Change::AppendHistory(HistoryEntry::new(
                token,
                at,
                HistoryKind::Queued {
                    kind: MessageKind::Invitation,
                    sequence: Sequence::INITIAL,
                },
            )));
        }
        store.commit(changes).await.unwrap();
    }
    tokens
}

/// The Message-ID header of a message (unfolded, without angle brackets).
fn message_id(message: &[u8]) -> Option<String> {
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(message.len());
    let head = std::str::from_utf8(&message[..end]).ok()?;
    let mut lines = head.split("\r\n").peekable();
    while let Some(line) = lines.next() {
        if let Some((name, rest)) = line.split_once(':')
            && name.eq_ignore_ascii_case("message-id")
        {
            let mut value = rest.trim().to_owned();
            while let Some(next) = lines.next_if(|l| l.starts_with([' ', '\t'])) {
                value.push_str(next.trim());
            }
            return Some(value.trim_matches(['<', '>']).to_owned());
        }
    }
    None
}

/// The Message-ID of the first REQUEST of an invitation.
fn request_id(token: &InvitationToken) -> String {
    IdempotencyKey::new(token.clone(), Sequence::INITIAL, Method::Request, 0).message_id(DOMAIN)
}

/// A relay that counts what it accepts per Message-ID, optionally taking
/// its time over each message. Clones share the counts.
#[derive(Clone, Debug, Default)]
struct CountingRelay {
    seen: Arc<Mutex<HashMap<String, u32>>>,
    accepted: Arc<AtomicU64>,
    delay: Duration,
}

impl CountingRelay {
    fn slow(delay: Duration) -> Self {
        CountingRelay {
            delay,
            ..CountingRelay::default()
        }
    }

    fn counts(&self) -> HashMap<String, u32> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Every token's first REQUEST arrived exactly once, and nothing else did.
    fn assert_exactly_once(&self, tokens: &[InvitationToken]) {
        let counts = self.counts();
        assert_eq!(counts.len(), tokens.len(), "distinct Message-IDs");
        let twice: Vec<_> = counts.iter().filter(|(_, c)| **c != 1).take(5).collect();
        assert!(twice.is_empty(), "sent more than once: {twice:?}");
        let missing = tokens
            .iter()
            .filter(|t| !counts.contains_key(&request_id(t)))
            .count();
        assert_eq!(missing, 0, "invitations whose message never arrived");
        assert_eq!(
            self.accepted.load(Ordering::SeqCst),
            tokens.len() as u64,
            "messages accepted"
        );
    }
}

impl Transport for CountingRelay {
    async fn send_raw(&self, _envelope: &Envelope, message: &[u8]) -> Result<(), TransportError> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let id = message_id(message).ok_or_else(|| TransportError::permanent("no Message-ID"))?;
        *self
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id)
            .or_default() += 1;
        self.accepted.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn at_nine() -> Arc<FixedClock> {
    Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap(),
    ))
}

fn memory_pipeline(clock: Arc<FixedClock>) -> Arc<Pipeline<MemoryStore, RecordingTransport>> {
    Arc::new(
        Pipeline::builder(MemoryStore::new(), RecordingTransport::new())
            .clock(clock)
            .ids(SequentialIds::new(7))
            .build(),
    )
}

// ------------------------------------------------------------------ memory

#[tokio::test]
async fn drains_everything_and_counts_it() {
    let p = memory_pipeline(at_nine());
    let (_, tokens) = invite_through_pipeline(&p, 50).await;
    let observed = Arc::new(AtomicU64::new(0));
    let seen = observed.clone();
    let worker = Worker::new(p.clone(), WorkerConfig::default().concurrency(4).batch(8))
        .on_delivery(move |_| {
            seen.fetch_add(1, Ordering::SeqCst);
        });
    let report = worker.run_until_idle().await.unwrap();
    assert_eq!(report.claimed, 50);
    assert_eq!(report.submitted, 50);
    assert_eq!((report.retried, report.failed, report.errors), (0, 0, 0));
    assert_eq!(report.batches, 7, "50 messages in batches of 8");
    assert_eq!(report.fan_out_steps, 0);
    assert_eq!(observed.load(Ordering::SeqCst), 50, "observer calls");
    assert_eq!(worker.counters().snapshot(), report);
    assert_eq!(worker.counters().in_flight(), 0);

    let sent = p.transport().sent();
    assert_eq!(sent.len(), 50);
    let ids: std::collections::HashSet<_> =
        sent.iter().map(|m| message_id(&m.bytes).unwrap()).collect();
    let expected: std::collections::HashSet<_> = tokens.iter().map(request_id).collect();
    assert_eq!(ids, expected, "one message per invitation");

    // Nothing left: a second run does nothing, and the counters add up.
    let again = worker.run_until_idle().await.unwrap();
    assert_eq!(again.attempts() + again.batches + again.fan_out_steps, 0);
    assert_eq!(worker.counters().snapshot().submitted, 50);
}

#[tokio::test]
async fn plans_fan_outs_and_counts_retries() {
    let clock = at_nine();
    let p = memory_pipeline(clock.clone());
    let (code, _) = invite_through_pipeline(&p, 30).await;
    let worker = Worker::new(p.clone(), WorkerConfig::default().concurrency(1));
    assert_eq!(worker.run_until_idle().await.unwrap().submitted, 30);
    p.transport().take();

    // An update to all 30, planned by the worker; the relay turns the first
    // two away for now and refuses the third for good.
    let start = clock.now() + TimeDelta::days(31);
    match p
        .update_event(scope(), &code, event(code.clone(), start, "Moved").unwrap())
        .await
        .unwrap()
    {
        Outcome::RevisionSent(..) => {}
        other => panic!("update: {other:?}"),
    }
    p.transport()
        .script(Err(TransportError::transient("451 try later")));
    p.transport()
        .script(Err(TransportError::transient("451 try later")));
    p.transport()
        .script(Err(TransportError::permanent("550 no such user")));
    let report = worker.run_until_idle().await.unwrap();
    assert!(report.fan_out_steps >= 1, "{report:?}");
    assert_eq!(
        (report.submitted, report.retried, report.failed),
        (27, 2, 1),
        "{report:?}"
    );
    assert_eq!(p.transport().take().len(), 27);

    // The retries are due later: once the clock gets there, they go out.
    clock.advance(24 * 3600);
    let report = worker.run_until_idle().await.unwrap();
    assert_eq!((report.submitted, report.retried, report.failed), (2, 0, 0));
    assert_eq!(p.transport().take().len(), 2);

    // plan_fan_outs plans without sending.
    let start = clock.now() + TimeDelta::days(32);
    p.update_event(
        scope(),
        &code,
        event(code.clone(), start, "Moved again").unwrap(),
    )
    .await
    .unwrap();
    assert!(worker.plan_fan_outs().await.unwrap() >= 1);
    assert!(p.transport().sent().is_empty());
    assert_eq!(worker.run_until_idle().await.unwrap().submitted, 29);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn backs_off_when_idle_and_wakes_for_new_work() {
    let p = memory_pipeline(at_nine());
    let (code, _) = invite_through_pipeline(&p, 0).await;
    let floor = Duration::from_millis(10);
    let ceiling = Duration::from_millis(80);
    let handle = Worker::new(
        p.clone(),
        WorkerConfig::default().idle_backoff(floor, ceiling),
    )
    .spawn();

    // Idle for a (virtual) minute: it keeps sleeping, never claims.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(!handle.is_finished());
    assert_eq!(handle.counters().snapshot().batches, 0);

    // New work is picked up within one ceiling of the back-off.
    p.invite(scope(), &code, guest(1), InvitationSource::Api)
        .await
        .unwrap();
    tokio::time::sleep(ceiling + floor).await;
    assert_eq!(handle.counters().snapshot().submitted, 1);

    let report = handle.stop().await;
    assert_eq!((report.batches, report.submitted), (1, 1));
    assert_eq!(p.transport().sent().len(), 1);
}

#[tokio::test]
async fn run_until_stops_when_told() {
    let p = memory_pipeline(at_nine());
    invite_through_pipeline(&p, 5).await;
    let worker = Worker::new(p.clone(), WorkerConfig::default());
    // Told to stop before it starts: it claims nothing.
    let report = worker.run_until(std::future::ready(())).await;
    assert_eq!(report, calinvite::WorkerReport::default());
    assert!(p.transport().sent().is_empty());
}

/// A transport whose `n`th send panics (once); the others are recorded.
struct PanicsOnce {
    inner: RecordingTransport,
    sends: AtomicU64,
    at: u64,
}

impl Transport for PanicsOnce {
    async fn send_raw(&self, envelope: &Envelope, message: &[u8]) -> Result<(), TransportError> {
        if self.sends.fetch_add(1, Ordering::SeqCst) == self.at {
            panic!("the transport failed in an unexpected way");
        }
        self.inner.send_raw(envelope, message).await
    }
}

#[tokio::test]
async fn a_send_that_panics_costs_only_its_message_until_its_lease_ends() {
    let clock = at_nine();
    let p = Arc::new(
        Pipeline::builder(
            MemoryStore::new(),
            PanicsOnce {
                inner: RecordingTransport::new(),
                sends: AtomicU64::new(0),
                at: 5,
            },
        )
        .clock(clock.clone())
        .ids(SequentialIds::new(7))
        .build(),
    );
    let (_, tokens) = invite_through_pipeline(&p, 20).await;
    let worker = Worker::new(
        p.clone(),
        WorkerConfig::default()
            .concurrency(2)
            .batch(8)
            .lease(Duration::from_secs(60)),
    );
    // The worker neither hangs nor stops: the message whose send panicked
    // is counted as an error and stays leased (it may have gone out); the
    // lane is replaced and the other 19 are sent.
    let report = tokio::time::timeout(Duration::from_secs(30), worker.run_until_idle())
        .await
        .expect("the worker does not hang on a panicking send")
        .unwrap();
    assert_eq!(report.claimed, 20);
    assert_eq!(report.submitted, 19, "{report:?}");
    assert!(report.errors >= 1, "{report:?}");
    assert_eq!(p.transport().inner.sent().len(), 19);
    let counts = p.queue_counts().await.unwrap();
    assert_eq!(
        (counts.sent, counts.leased, counts.queued),
        (19, 1, 0),
        "{counts:?}"
    );
    // When its lease ends it is claimed again, counted, and sent.
    clock.advance(61);
    let again = worker.run_until_idle().await.unwrap();
    assert_eq!((again.claimed, again.submitted), (1, 1), "{again:?}");
    let counts = p.queue_counts().await.unwrap();
    assert_eq!(
        (counts.sent, counts.leased, counts.reclaimed),
        (20, 0, 1),
        "{counts:?}"
    );
    let ids: std::collections::HashSet<_> = p
        .transport()
        .inner
        .sent()
        .iter()
        .map(|m| message_id(&m.bytes).unwrap())
        .collect();
    let expected: std::collections::HashSet<_> = tokens.iter().map(request_id).collect();
    assert_eq!(ids, expected, "every invitation's message, once");
}

// ------------------------------------------------------- SQLite stop/start

/// A fresh SQLite database in its own temporary folder.
async fn sqlite(label: &str) -> (SqlStore, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("calinvite-worker-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("calinvite.db").display());
    (SqlStore::open(&url).await.unwrap(), dir)
}

fn sql_pipeline(store: &SqlStore, relay: &CountingRelay) -> Arc<Pipeline<SqlStore, CountingRelay>> {
    // The system clock and the OS random source, as a deployment has them.
    Arc::new(calinvite::pipeline(store.clone(), relay.clone()).build())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_stop_mid_drain_and_restart_delivers_each_once() {
    const N: usize = 400;
    let (store, dir) = sqlite("restart").await;
    let relay = CountingRelay::slow(Duration::from_millis(5));
    let p = sql_pipeline(&store, &relay);
    tenant(&store).await;
    let code = p
        .create_event_with(scope(), |code| {
            event(code, SystemClock.now() + TimeDelta::days(30), "Hall 1")
        })
        .await
        .unwrap();
    let tokens = invite_in_bulk(&store, &code, 0..N, SystemClock.now()).await;

    // The first worker is stopped part of the way through.
    let config = WorkerConfig::default().concurrency(4).batch(8);
    let handle = Worker::new(p.clone(), config.clone()).spawn();
    while handle.counters().snapshot().submitted < 100 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let first = handle.stop().await;
    assert!(
        first.submitted >= 100 && first.submitted < N as u64,
        "stopped mid-drain: {first:?}"
    );
    assert_eq!(
        first.attempts(),
        first.claimed,
        "every claimed message finished"
    );
    assert_eq!((first.retried, first.failed, first.errors), (0, 0, 0));
    assert_eq!(relay.accepted.load(Ordering::SeqCst), first.submitted);

    // A new worker (a restarted process: a new pipeline) delivers the rest at
    // once: nothing was left leased.
    let second = Worker::new(sql_pipeline(&store, &relay), config)
        .run_until_idle()
        .await
        .unwrap();
    assert_eq!(first.submitted + second.submitted, N as u64, "{second:?}");
    relay.assert_exactly_once(&tokens);
    for t in tokens.iter().step_by(37) {
        let d = store
            .delivery(&DeliveryKey::Invitation(IdempotencyKey::new(
                t.clone(),
                Sequence::INITIAL,
                Method::Request,
                0,
            )))
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(d.state, QueueState::Sent(_)), "{:?}", d.state);
        assert_eq!(d.attempts, 1, "claimed once");
    }
    store.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

// ------------------------------------------------- 100,000 messages, once

const LOAD: usize = 100_000;

/// Builds a queue of [`LOAD`] messages and drains it with `workers`
/// workers, each its own pipeline and worker over the shared store.
async fn drain_exactly_once(store: SqlStore, label: &str, workers: usize) {
    tenant(&store).await;
    let relay = CountingRelay::default();
    let admin = sql_pipeline(&store, &relay);
    let code = admin
        .create_event_with(scope(), |code| {
            event(code, SystemClock.now() + TimeDelta::days(30), "Hall 1")
        })
        .await
        .unwrap();
    let t = stopwatch();
    let tokens = invite_in_bulk(&store, &code, 0..LOAD, SystemClock.now()).await;
    eprintln!(
        "[{label}] queued {LOAD} in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let t = stopwatch();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let worker = Worker::new(
            sql_pipeline(&store, &relay),
            WorkerConfig::default().concurrency(2).batch(50),
        );
        tasks.spawn(async move { worker.run_until_idle().await.unwrap() });
    }
    let reports = tasks.join_all().await;
    let secs = t.elapsed().as_secs_f64();
    let submitted: Vec<u64> = reports.iter().map(|r| r.submitted).collect();
    eprintln!(
        "[{label}] {workers} workers drained {LOAD} in {secs:.1} s: {:.0} messages/s (per worker: {submitted:?})",
        LOAD as f64 / secs
    );
    assert_eq!(submitted.iter().sum::<u64>(), LOAD as u64);
    assert!(
        reports
            .iter()
            .all(|r| r.attempts() == r.claimed && r.errors == 0)
    );
    relay.assert_exactly_once(&tokens);
    let later = SystemClock.now() + TimeDelta::days(1);
    let left = store
        .claim(later, later + TimeDelta::seconds(60), 10)
        .await
        .unwrap();
    assert!(left.is_empty(), "still claimable: {left:?}");
}

#[allow(clippy::disallowed_methods, reason = "a test's stopwatch")]
fn stopwatch() -> std::time::Instant {
    std::time::Instant::now()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "100,000 messages: minutes; scripts/test.sh runs it in a release build"]
async fn sqlite_4_workers_drain_100k_exactly_once() {
    let (store, dir) = sqlite("100k").await;
    drain_exactly_once(store.clone(), "sqlite", 4).await;
    store.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "100,000 messages: minutes; scripts/test.sh runs it in a release build"]
async fn postgres_8_workers_drain_100k_exactly_once() {
    let url = std::env::var("CALINVITE_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("worker_100k_{}", std::process::id());
    let store = SqlStore::open_with(
        &url,
        SqlOptions::default()
            .schema(schema.clone())
            .max_connections(20),
    )
    .await
    .unwrap_or_else(|e| panic!("PostgreSQL at {url}: {e}"));
    drain_exactly_once(store.clone(), "postgres", 8).await;
    store.drop_schema(&schema).await.unwrap();
    store.close().await;
}
