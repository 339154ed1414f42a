#![allow(clippy::unwrap_used)]
//! Concurrent workers drain one large delivery queue: 8 on PostgreSQL (claims
//! with `FOR UPDATE SKIP LOCKED`), 2 on SQLite (one writer connection). Every
//! message goes to the relay exactly once, and the store says so too.
//!
//! The queue is built as an application builds it: one domain owner, one
//! organizer, an event created through the API, and 100,000 invitations. The
//! first few hundred go through `Pipeline::invite`; the rest are committed in
//! batches of 1,000 with the very changes `invite` commits (the invitation,
//! its queued REQUEST, the `Queued` history entry), checked against the ones
//! `invite` wrote. Each worker is a `Pipeline` of its own over the shared
//! store, claiming 50 messages at a time and delivering each with
//! `Pipeline::deliver`, until the queue is empty. The relay counts what it
//! accepts per Message-ID (derived from the idempotency key), so it keeps
//! 100,000 short strings rather than 100,000 messages.
//!
//! PostgreSQL runs in a fresh schema on `CALINVITE_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); an unreachable server fails
//! the test. The 100,000-message runs take minutes and are `#[ignore]`d:
//! `scripts/test.sh` runs them in a release build (`cargo test --release -p
//! calinvite-store --test it -- --include-ignored 100k`, with the crash runs); the
//! 5,000-message runs go with every `cargo test`. Timings are printed
//! (`--nocapture`).

use crate::load;
use crate::support;

use std::sync::Arc;

use calinvite_core::lifecycle::{
    DeliveryReport, DeliveryState, HistoryKind, InvitationSource, Outcome, Pipeline, Store,
};
use calinvite_core::spi::QueueState;
use calinvite_core::{Clock, InvitationToken, Sequence};
use calinvite_store::SqlStore;
use calinvite_store::system::{OsRandom, SystemClock};
use chrono::TimeDelta;
use load::{CountingRelay, Tables, Written};

/// Invitations made through `Pipeline::invite` (the rest in bulk).
const THROUGH_INVITE: usize = 200;
/// Invitations per bulk commit.
const CHUNK: usize = 1_000;
/// Messages a worker claims at a time.
const CLAIM: usize = 50;
/// Lease of a claim (nobody dies here: it never runs out).
const LEASE_SECONDS: i64 = 300;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

fn worker(store: &SqlStore, relay: &CountingRelay) -> Pipeline<SqlStore, CountingRelay> {
    Pipeline::new(
        store.clone(),
        relay.clone(),
        Arc::new(SystemClock),
        Box::new(OsRandom),
    )
}

/// Claims and delivers until the queue is empty; returns how many it sent.
async fn drain(pipeline: Pipeline<SqlStore, CountingRelay>) -> usize {
    let mut sent = 0;
    loop {
        let now = pipeline.now();
        let claimed = pipeline
            .store()
            .claim(now, now + TimeDelta::seconds(LEASE_SECONDS), CLAIM)
            .await
            .unwrap();
        if claimed.is_empty() {
            return sent;
        }
        for delivery in claimed {
            match pipeline.deliver(delivery).await.unwrap() {
                DeliveryReport::Sent(_) => sent += 1,
                other => panic!("a delivery did not go out: {other:?}"),
            }
        }
    }
}

/// Builds the queue, drains it with `workers` workers, checks exactly-once.
async fn drain_exactly_once(
    store: SqlStore,
    tables: Tables,
    label: &str,
    n: usize,
    workers: usize,
) {
    let clock = SystemClock;
    load::tenant(&store).await;
    let admin = worker(&store, &CountingRelay::default());
    let scope = load::scope();
    let start = clock.now() + TimeDelta::days(30);
    let code = admin
        .create_event_with(scope, |code| load::event(code, start, "Hall 1"))
        .await
        .unwrap();

    // The queue: the first invitations through the pipeline, the rest in bulk.
    let t = load::stopwatch();
    let api = THROUGH_INVITE.min(n);
    let mut tokens: Vec<InvitationToken> = Vec::with_capacity(n);
    for i in 0..api {
        match admin
            .invite(scope, &code, load::guest(i), InvitationSource::Api)
            .await
            .unwrap()
        {
            Outcome::Invited(token) => tokens.push(token),
            other => panic!("invite {i}: {other:?}"),
        }
    }
    let api_secs = t.elapsed().as_secs_f64();
    let t = load::stopwatch();
    let parallel = if store.dialect() == calinvite_store::Dialect::Postgres {
        4
    } else {
        1
    };
    tokens.extend(
        load::invite_in_bulk(
            &store,
            &code,
            api..n,
            clock.now(),
            Written::Queued,
            CHUNK,
            parallel,
        )
        .await,
    );
    let bulk_secs = t.elapsed().as_secs_f64();
    eprintln!(
        "[{label}] queue of {n}: {api} through invite ({}/s), {} in bulk ({}/s)",
        load::rate(api, api_secs),
        n - api,
        load::rate(n - api, bulk_secs)
    );
    if api > 0 && n > api {
        same_shape(&store, &tokens[0], &tokens[api]).await;
    }
    assert_eq!(
        tables.queue_states().await.get("queued").copied(),
        Some(n as i64)
    );

    // The workers.
    let relay = CountingRelay::default();
    let t = load::stopwatch();
    let handles: Vec<_> = (0..workers)
        .map(|_| tokio::spawn(drain(worker(&store, &relay))))
        .collect();
    let mut per_worker = Vec::with_capacity(workers);
    for h in handles {
        per_worker.push(h.await.unwrap());
    }
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "[{label}] {workers} workers drained {n} messages in {secs:.1} s: {} messages/s (per worker: {per_worker:?})",
        load::rate(n, secs)
    );

    // The relay got every message exactly once …
    let counts = relay.counts();
    assert_eq!(per_worker.iter().sum::<usize>(), n, "messages sent");
    assert_eq!(counts.len(), n, "distinct Message-IDs at the relay");
    let twice: Vec<_> = counts.iter().filter(|(_, c)| **c != 1).take(5).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    let missing = tokens
        .iter()
        .filter(|t| !counts.contains_key(&load::request_id(t, Sequence::INITIAL)))
        .count();
    assert_eq!(missing, 0, "invitations whose message the relay never got");

    // … and the store agrees: every row sent, each claimed once, nothing
    // left to claim even when every lease has run out.
    let t = load::stopwatch();
    let states = tables.queue_states().await;
    assert_eq!(
        states,
        [("sent".to_owned(), n as i64)].into_iter().collect(),
        "queue rows per state"
    );
    assert_eq!(
        tables
            .number("SELECT COUNT(*) FROM {p}deliveries WHERE attempts <> 1")
            .await,
        0,
        "rows claimed more than once"
    );
    let later = clock.now() + TimeDelta::days(1);
    let left = store
        .claim(later, later + TimeDelta::seconds(60), 10)
        .await
        .unwrap();
    assert!(left.is_empty(), "still claimable: {left:?}");
    for token in tokens.iter().step_by(499) {
        let d = store
            .delivery(&load::request_key(token, Sequence::INITIAL))
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(d.state, QueueState::Sent(_)), "{:?}", d.state);
        assert_eq!(d.attempts, 1);
        let sent: Vec<_> = store
            .history(token)
            .await
            .unwrap()
            .into_iter()
            .filter(|h| matches!(h.kind, HistoryKind::Sent { .. }))
            .collect();
        assert_eq!(sent.len(), 1, "Sent history entries");
    }
    assert_eq!(
        tables
            .number(r#"SELECT COUNT(*) FROM {p}history WHERE body LIKE '%"kind":{"sent":%'"#)
            .await,
        n as i64,
        "Sent history entries"
    );
    assert_eq!(
        tables
            .number(
                r#"SELECT COUNT(*) FROM (SELECT token FROM {p}history WHERE body LIKE '%"kind":{"sent":%'
                   GROUP BY token HAVING COUNT(*) > 1) AS twice"#
            )
            .await,
        0,
        "invitations with two Sent entries"
    );
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
                inv.delivery(),
                DeliveryState::Sent,
                "{}",
                inv.recipient().address()
            );
            assert!(inv.sent_at().is_some());
        }
        seen += page.len();
    }
    assert_eq!(seen, n, "invitations");
    eprintln!(
        "[{label}] checked in {:.1} s: {n} distinct keys, each sent once (relay, queue rows, history, invitations)",
        t.elapsed().as_secs_f64()
    );
    tables.close().await;
}

/// An invitation written in bulk is stored as `Pipeline::invite` stores one:
/// the same invitation but for token, recipient and time, the same queued
/// message, the same history.
async fn same_shape(store: &SqlStore, by_invite: &InvitationToken, in_bulk: &InvitationToken) {
    let a = store.invitation(by_invite).await.unwrap().unwrap();
    let b = store.invitation(in_bulk).await.unwrap().unwrap();
    let mut b_as_a = b.clone().into_parts();
    b_as_a.token = a.token().clone();
    b_as_a.recipient = a.recipient().clone();
    b_as_a.created_at = a.created_at();
    assert_eq!(a, b_as_a.into(), "bulk invitation differs from invite's");
    let da = store
        .delivery(&load::request_key(by_invite, Sequence::INITIAL))
        .await
        .unwrap()
        .unwrap();
    let db = store
        .delivery(&load::request_key(in_bulk, Sequence::INITIAL))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (da.owner, da.attempts, &da.state, &da.last_error),
        (db.owner, db.attempts, &db.state, &db.last_error)
    );
    let kinds = |h: Vec<calinvite_core::lifecycle::HistoryEntry>| {
        h.into_iter().map(|e| e.kind).collect::<Vec<_>>()
    };
    assert_eq!(
        kinds(store.history(by_invite).await.unwrap()),
        kinds(store.history(in_bulk).await.unwrap())
    );
}

fn on_postgres(n: usize, workers: usize) {
    runtime().block_on(async {
        let schema = support::unique("queue");
        let store = support::postgres_in(&schema, u32::try_from(workers).unwrap() + 4).await;
        let tables = Tables::open(&support::postgres_url(), Some(&schema)).await;
        drain_exactly_once(store.clone(), tables, "postgres", n, workers).await;
        store.drop_schema(&schema).await.unwrap();
        store.close().await;
    });
}

fn on_sqlite(n: usize, workers: usize) {
    let dir = support::TempDir::new("queue");
    runtime().block_on(async {
        let store = support::sqlite(&dir).await;
        let url = format!("sqlite://{}", dir.0.join("calinvite.db").display());
        let tables = Tables::open(&url, None).await;
        drain_exactly_once(store.clone(), tables, "sqlite", n, workers).await;
        store.close().await;
    });
}

#[test]
#[ignore = "100,000 messages: minutes; scripts/test.sh runs it in a release build"]
fn postgres_8_workers_send_each_of_100k_messages_once() {
    on_postgres(100_000, 8);
}

#[test]
#[ignore = "100,000 messages: minutes; scripts/test.sh runs it in a release build"]
fn sqlite_2_workers_send_each_of_100k_messages_once() {
    on_sqlite(100_000, 2);
}

#[test]
fn postgres_8_workers_send_each_of_5k_messages_once() {
    on_postgres(5_000, 8);
}

#[test]
fn sqlite_2_workers_send_each_of_5k_messages_once() {
    on_sqlite(5_000, 2);
}
