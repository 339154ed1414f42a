#![allow(clippy::unwrap_used)]
//! SQLite migration 2 rebuilds `invitations` in (event, token) order (a
//! `WITHOUT ROWID` table) and `history` around it. A database written by
//! schema 1, with invitations, their history and queued messages in it, opens
//! at the current schema (2, then 3) with every row as it was, foreign keys
//! intact, and goes on: history ids continue, invitations are found by token
//! and paged by event.
//!
//! The schema-1 database is made by writing through this build, then taking
//! schema 3 back out, putting back the two tables as schema 1 defined them (a
//! frozen copy of those statements) and the version rows schema 1 left.

use crate::support;

use std::sync::Arc;

use calinvite_core::lifecycle::{
    HistoryKind, InvitationSource, Outcome, Pipeline, RecordingTransport, Store,
};
use calinvite_core::{
    Clock, EmailAddress, FixedClock, InvitationToken, ParticipationStatus, Recipient, SequentialIds,
};
use calinvite_store::SqlStore;
use chrono::{TimeZone as _, Utc};
use sqlx::Row as _;

fn address(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

/// Schema 1's `invitations` and `history`, and the indexes on them.
const SCHEMA_1: &[&str] = &[
    "CREATE TABLE invitations (token TEXT PRIMARY KEY, code TEXT NOT NULL REFERENCES events(code), \
     address TEXT NOT NULL, owner INTEGER NOT NULL, organizer INTEGER NOT NULL, version INTEGER NOT NULL, \
     body TEXT NOT NULL)",
    "CREATE UNIQUE INDEX invitations_address ON invitations (code, address)",
    "CREATE INDEX invitations_page ON invitations (code, token)",
    "CREATE TABLE history (id INTEGER PRIMARY KEY AUTOINCREMENT, token TEXT NOT NULL REFERENCES invitations(token), \
     at INTEGER NOT NULL, body TEXT NOT NULL)",
    "CREATE INDEX history_token ON history (token, id)",
];

#[test]
fn schema_1_invitations_migrate_with_every_row() {
    let dir = support::TempDir::new("migration_invitations");
    let url = format!("sqlite://{}", dir.0.join("calinvite.db").display());
    support::runtime().block_on(async {
        // Written through this build: invitations, answers, queued messages.
        let store = SqlStore::open(&url).await.unwrap();
        let clock = Arc::new(FixedClock::new(
            Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap(),
        ));
        let pipeline = Pipeline::new(
            store.clone(),
            RecordingTransport::new(),
            clock.clone() as Arc<dyn Clock>,
            Box::new(SequentialIds::new(11)),
        );
        let (scope, code) = support::launch(&pipeline).await;
        let mut tokens: Vec<InvitationToken> = Vec::new();
        for i in 0..40 {
            let recipient = Recipient::new(address(&format!("guest{i}@example.org")));
            match pipeline
                .invite(scope, &code, recipient, InvitationSource::Api)
                .await
                .unwrap()
            {
                Outcome::Invited(t) => tokens.push(t),
                other => panic!("{other:?}"),
            }
        }
        pipeline.run_until_idle().await.unwrap();
        for t in tokens.iter().take(10) {
            pipeline
                .web_answer(scope.owner, t, ParticipationStatus::Accepted)
                .await
                .unwrap();
        }
        let before = pipeline.invitations(scope, &code).await.unwrap();
        let mut history_before = Vec::new();
        for t in &tokens {
            history_before.push(store.history(t).await.unwrap());
        }
        store.close().await;

        // Back to schema 1: schema 3 taken out, the two tables as schema 1
        // made them, its version row.
        sqlx::any::install_default_drivers();
        let raw = sqlx::AnyPool::connect(&url).await.unwrap();
        let mut tx = raw.begin().await.unwrap();
        for s in support::UNDO_SCHEMA_3.iter().chain(&[
            "CREATE TABLE invitations_2 AS SELECT * FROM invitations",
            "CREATE TABLE history_2 AS SELECT * FROM history",
            "DROP TABLE history",
            "DROP TABLE invitations",
        ])
        .chain(SCHEMA_1)
        .chain(&[
            "INSERT INTO invitations (token, code, address, owner, organizer, version, body) \
             SELECT token, code, address, owner, organizer, version, body FROM invitations_2",
            "INSERT INTO history (id, token, at, body) SELECT id, token, at, body FROM history_2",
            "DROP TABLE invitations_2",
            "DROP TABLE history_2",
            "DELETE FROM calinvite_schema WHERE version > 1",
        ]) {
            sqlx::query(*s).execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
        raw.close().await;

        // Opened by this build: migrated, every row as it was.
        let store = SqlStore::open(&url).await.unwrap();
        assert_eq!(store.schema_version().await.unwrap(), 5);
        let pipeline = Pipeline::new(
            store.clone(),
            RecordingTransport::new(),
            clock as Arc<dyn Clock>,
            Box::new(SequentialIds::new(12)),
        );
        assert_eq!(pipeline.invitations(scope, &code).await.unwrap(), before);
        for (t, h) in tokens.iter().zip(&history_before) {
            assert_eq!(&store.history(t).await.unwrap(), h);
            assert!(store.invitation(t).await.unwrap().is_some());
        }
        // And it goes on: an update reaches those who said Yes, history
        // grows after what was there.
        let event = pipeline.event(scope, &code).await.unwrap();
        let edited = event.latest().to_builder().summary("Launch (new room)");
        let outcome = pipeline
            .update_event(scope, &code, edited.build().unwrap())
            .await
            .unwrap();
        assert!(matches!(outcome, Outcome::RevisionSent(..)), "{outcome:?}");
        assert_eq!(pipeline.run_until_idle().await.unwrap(), 10);
        let h = store.history(&tokens[0]).await.unwrap();
        assert_eq!(h.len(), history_before[0].len() + 2);
        assert!(matches!(h.last().unwrap().kind, HistoryKind::Sent { .. }));
        store.close().await;

        let raw = sqlx::AnyPool::connect(&url).await.unwrap();
        let table: String = sqlx::query("SELECT sql FROM sqlite_master WHERE name = 'invitations'")
            .fetch_one(&raw)
            .await
            .unwrap()
            .try_get("sql")
            .unwrap();
        assert!(table.contains("WITHOUT ROWID"), "{table}");
        let broken = sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(&raw)
            .await
            .unwrap();
        assert!(
            broken.is_empty(),
            "{} rows break a foreign key",
            broken.len()
        );
        raw.close().await;
    });
}
