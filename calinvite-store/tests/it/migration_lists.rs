#![allow(clippy::unwrap_used)]
//! Migration 3 adds list jobs, their rows, held queue groups and a group
//! column on the queue. A database at schema 2, with invitations and
//! messages queued in it, opens at schema 3 on SQLite and on PostgreSQL
//! with every row as it was: the messages queued before are claimed, in
//! queue order and ungrouped, and the new tables work at once.
//!
//! The schema-2 database is made by writing through this build, then taking
//! migration 3 back out (`support::UNDO_SCHEMA_3`) with its version row.

use crate::support;

use std::sync::Arc;

use calinvite_core::lifecycle::{
    InvitationSource, ListJob, ListJobId, ListJobState, Outcome, Pipeline, RecordingTransport,
    Store,
};
use calinvite_core::spi::{Change, Delivery};
use calinvite_core::{Clock, EmailAddress, FixedClock, Recipient, SequentialIds};
use calinvite_store::{Dialect, SqlOptions, SqlStore};
use chrono::{DateTime, TimeDelta, TimeZone as _, Utc};
use sqlx::Row as _;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap()
}

async fn open(url: &str, schema: Option<&str>) -> SqlStore {
    let mut options = SqlOptions::default().max_connections(2);
    if let Some(s) = schema {
        options = options.schema(s);
    }
    SqlStore::open_with(url, options).await.unwrap()
}

async fn scenario(dialect: Dialect, url: &str, schema: Option<&str>) {
    // Written through this build: an event, invitations and their messages.
    let store = open(url, schema).await;
    let pipeline = Pipeline::new(
        store.clone(),
        RecordingTransport::new(),
        Arc::new(FixedClock::new(t0())) as Arc<dyn Clock>,
        Box::new(SequentialIds::new(21)),
    );
    let (scope, code) = support::launch(&pipeline).await;
    for i in 0..12 {
        let recipient =
            Recipient::new(EmailAddress::parse(&format!("guest{i}@example.org")).unwrap());
        let outcome = pipeline
            .invite(scope, &code, recipient, InvitationSource::Api)
            .await
            .unwrap();
        assert!(matches!(outcome, Outcome::Invited(_)), "{outcome:?}");
    }
    let before = pipeline.invitations(scope, &code).await.unwrap();
    store.close().await;

    // Back to schema 2.
    let raw = support::raw(url, schema).await;
    let keys: Vec<String> =
        sqlx::query("SELECT key FROM deliveries WHERE state = 'queued' ORDER BY seq")
            .fetch_all(&raw)
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<String, _>("key").unwrap())
            .collect();
    assert_eq!(keys.len(), 12);
    let mut tx = raw.begin().await.unwrap();
    for s in support::UNDO_SCHEMA_3
        .iter()
        .chain(&["DELETE FROM calinvite_schema WHERE version > 2"])
    {
        sqlx::query(*s).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    let columns: Vec<String> = match dialect {
        Dialect::Sqlite => sqlx::query("SELECT name FROM pragma_table_info('deliveries')")
            .fetch_all(&raw)
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<String, _>("name").unwrap())
            .collect(),
        _ => sqlx::query(
            "SELECT CAST(column_name AS TEXT) AS name FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = 'deliveries'",
        )
        .fetch_all(&raw)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String, _>("name").unwrap())
        .collect(),
    };
    assert!(
        !columns.is_empty() && !columns.iter().any(|c| c == "grp"),
        "{columns:?}"
    );
    raw.close().await;

    // Opened by this build: migrated, every row as it was.
    let store = open(url, schema).await;
    assert_eq!(store.schema_version().await.unwrap(), 5);
    let pipeline = Pipeline::new(
        store.clone(),
        RecordingTransport::new(),
        Arc::new(FixedClock::new(t0())) as Arc<dyn Clock>,
        Box::new(SequentialIds::new(22)),
    );
    assert_eq!(pipeline.invitations(scope, &code).await.unwrap(), before);

    // The messages queued at schema 2 are claimed, in queue order, ungrouped.
    let lease = t0() + TimeDelta::minutes(5);
    let claimed: Vec<Delivery> = store.claim(t0(), lease, 100).await.unwrap();
    assert_eq!(
        claimed
            .iter()
            .map(|d| d.key.to_string())
            .collect::<Vec<_>>(),
        keys
    );
    assert!(claimed.iter().all(|d| d.group.is_none() && d.attempts == 1));

    // The new tables work: a job, held messages, released.
    let job = ListJob {
        id: ListJobId::new("job-1"),
        scope,
        code: code.clone(),
        name: "after the migration".to_owned(),
        state: ListJobState::Running,
        created_at: t0(),
        updated_at: t0(),
        version: 0,
    };
    let group = job.id.group();
    let mut message = claimed[0].clone();
    message.key = calinvite_core::lifecycle::DeliveryKey::Notice("grouped".to_owned());
    message.attempts = 0;
    message.state = calinvite_core::spi::QueueState::Queued;
    message.group = Some(group.clone());
    store
        .commit(vec![
            Change::PutListJob {
                expected: None,
                job: job.clone(),
            },
            Change::HoldGroup {
                group: group.clone(),
                held: true,
            },
            Change::Enqueue(message.clone()),
        ])
        .await
        .unwrap();
    assert_eq!(store.list_job(scope, &job.id).await.unwrap(), Some(job));
    assert!(store.claim(t0(), lease, 100).await.unwrap().is_empty());
    store
        .commit(vec![Change::HoldGroup { group, held: false }])
        .await
        .unwrap();
    let claimed = store.claim(t0(), lease, 100).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].key, message.key);
    assert_eq!(claimed[0].group, message.group);
    store.close().await;
}

#[test]
fn schema_2_queue_migrates_and_is_claimed_sqlite() {
    let dir = support::TempDir::new("migration_lists");
    let url = support::sqlite_url(&dir);
    support::runtime().block_on(scenario(Dialect::Sqlite, &url, None));
}

#[test]
fn schema_2_queue_migrates_and_is_claimed_postgres() {
    let rt = support::runtime();
    rt.block_on(support::check_postgres());
    let schema = support::unique("migration_lists");
    let _drop = support::SchemaGuard(schema.clone());
    rt.block_on(scenario(
        Dialect::Postgres,
        &support::postgres_url(),
        Some(&schema),
    ));
}
