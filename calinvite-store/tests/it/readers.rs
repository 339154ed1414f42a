#![allow(clippy::unwrap_used)]
//! SQLite reader connections (`SqlOptions::readers`): reads outside
//! transactions go to connections of their own, and still see every commit
//! made before them — a write then a read, from many tasks at once, never
//! reads the state from before the write. An in-memory database (private to
//! its one connection) reads through the writer whatever `readers` says.

use std::sync::Arc;

use crate::support;

use calinvite_core::lifecycle::{DomainOwner, OwnerId};
use calinvite_core::{EmailAddress, Store};
use calinvite_store::{SqlOptions, SqlStore};

fn owner(id: u64) -> DomainOwner {
    let a = |s: String| EmailAddress::parse(&s).unwrap();
    DomainOwner::new(
        OwnerId(id),
        format!("Owner {id}"),
        format!("o{id}.example.com"),
        a(format!("create@o{id}.example.com")),
        a(format!("rsvp@o{id}.example.com")),
        a(format!("bounces@o{id}.example.com")),
    )
}

/// 200 tasks, each writing its owner and reading it straight back, then
/// writing it again renamed and reading the new name: every read sees the
/// write before it.
async fn reads_follow_writes(store: SqlStore) {
    let store = Arc::new(store);
    let mut tasks = tokio::task::JoinSet::new();
    for id in 1..=200u64 {
        let store = store.clone();
        tasks.spawn(async move {
            store.put_owner(owner(id)).await.unwrap();
            let read = store.owner(OwnerId(id)).await.unwrap();
            assert_eq!(
                read.map(|o| o.name),
                Some(format!("Owner {id}")),
                "owner {id} read back after its write"
            );
            let mut renamed = owner(id);
            renamed.name = format!("Renamed {id}");
            store.put_owner(renamed).await.unwrap();
            let read = store.owner(OwnerId(id)).await.unwrap();
            assert_eq!(
                read.map(|o| o.name),
                Some(format!("Renamed {id}")),
                "owner {id} read back after its second write"
            );
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    store.close().await;
}

#[test]
fn a_read_on_a_reader_sees_the_commit_before_it() {
    for readers in [0, 1, 4] {
        let dir = support::TempDir::new(&format!("readers-{readers}"));
        support::runtime().block_on(async {
            let store = SqlStore::open_with(
                &support::sqlite_url(&dir),
                SqlOptions::default().readers(readers),
            )
            .await
            .unwrap();
            reads_follow_writes(store).await;
        });
    }
}

#[test]
fn an_in_memory_database_reads_through_its_writer() {
    support::runtime().block_on(async {
        let store = SqlStore::open_with("sqlite::memory:", SqlOptions::default().readers(4))
            .await
            .unwrap();
        reads_follow_writes(store).await;
    });
}
