#![allow(clippy::unwrap_used)]
//! List jobs, their rows and the queue groups they hold, on SQLite and
//! PostgreSQL — and on the in-memory store, the reference, so every
//! expectation here is the reference's too:
//!
//! - a new job is version 0, its name unique per event and its id per
//!   store; an update names the version it read and the job's organizer,
//!   keeps the job's event and name, and moves the version on by one;
//! - a job is read only by its organizer; by name, per event;
//! - rows are recorded once: a row number recorded before (or given twice)
//!   fails the whole commit; rows are read back in row order, a page after
//!   a row number;
//! - a held group's queued messages are not claimed until it is released
//!   (an expired lease is claimed again all the same); a message keeps its
//!   group through enqueue, claim and retry;
//! - failing a group's queued messages leaves leased and settled ones, and
//!   other groups', alone; in a commit it sees the messages queued before it
//!   and not those after;
//! - the pipeline's lists (start, feed, pause, resume, cancel) on each store.

use crate::support;

use std::sync::Arc;

use calinvite_core::lifecycle::{
    DeliveryKey, ListJob, ListJobId, ListJobState, ListRow, MemoryStore, OrganizerId, OwnerId,
    Pipeline, RecordingTransport, RefusalReason, RowVerdict, Scope, Store, StoreError,
};
use calinvite_core::spi::{Change, Delivery, Payload, QueueState, Settlement, StoreResult};
use calinvite_core::{Clock, EmailAddress, EventCode, FixedClock, InvitationToken, SequentialIds};
use chrono::{DateTime, TimeDelta, TimeZone as _, Utc};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap()
}

fn minutes(n: i64) -> DateTime<Utc> {
    t0() + TimeDelta::minutes(n)
}

fn address(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

fn pipeline<S: Store + Clone>(store: &S) -> Pipeline<S, RecordingTransport> {
    Pipeline::new(
        store.clone(),
        RecordingTransport::new(),
        Arc::new(FixedClock::new(t0())) as Arc<dyn Clock>,
        Box::new(SequentialIds::new(7)),
    )
}

/// The owner, organizer and event of [`support::launch`].
async fn setup<S: Store + Clone>(store: &S) -> (Scope, EventCode) {
    support::launch(&pipeline(store)).await
}

fn job(scope: Scope, code: &EventCode, id: &str, name: &str) -> ListJob {
    ListJob {
        id: ListJobId::new(id),
        scope,
        code: code.clone(),
        name: name.to_owned(),
        state: ListJobState::Running,
        created_at: t0(),
        updated_at: t0(),
        version: 0,
    }
}

fn put(expected: Option<u64>, job: ListJob) -> Change {
    Change::PutListJob { expected, job }
}

fn hold(group: &str, held: bool) -> Change {
    Change::HoldGroup {
        group: group.to_owned(),
        held,
    }
}

fn fail(group: &str, reason: &str) -> Change {
    Change::FailQueuedGroup {
        group: group.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Row `n` of `job`, with a verdict of each kind in turn.
fn row(job: &str, n: u64, ids: &SequentialIds) -> ListRow {
    let verdict = match n % 5 {
        0 => RowVerdict::Invited(InvitationToken::generate(ids)),
        1 => RowVerdict::AlreadyInvited(InvitationToken::generate(ids)),
        2 => RowVerdict::Duplicate(InvitationToken::generate(ids)),
        3 => RowVerdict::Invalid(format!("row {n}: not an address")),
        _ => RowVerdict::Refused {
            reason: RefusalReason::Suppressed,
            detail: "unsubscribed".to_owned(),
        },
    };
    ListRow {
        job: ListJobId::new(job),
        row: n,
        address: format!("guest{n}@example.org"),
        verdict,
    }
}

/// A notice called `name` in `group`, due at [`t0`].
fn notice(name: &str, group: Option<&str>) -> Delivery {
    Delivery {
        key: DeliveryKey::Notice(name.to_owned()),
        owner: OwnerId(1),
        payload: Payload::Prepared {
            from: address("create@events.example.com"),
            to: address("ana@example.com"),
            bytes: format!("Subject: {name}\r\n\r\nhello\r\n").into_bytes(),
        },
        attempts: 0,
        due: t0(),
        state: QueueState::Queued,
        last_error: None,
        group: group.map(str::to_owned),
    }
}

fn key(name: &str) -> DeliveryKey {
    DeliveryKey::Notice(name.to_owned())
}

fn names(claimed: &[Delivery]) -> Vec<String> {
    claimed
        .iter()
        .map(|d| match &d.key {
            DeliveryKey::Notice(n) => n.clone(),
            other => other.to_string(),
        })
        .collect()
}

/// Claims at `at` (minutes after [`t0`]) under a five-minute lease.
async fn claim_at<S: Store>(store: &S, at: i64) -> Vec<Delivery> {
    store
        .claim(minutes(at), minutes(at + 5), 100)
        .await
        .unwrap()
}

async fn state<S: Store>(store: &S, name: &str) -> Delivery {
    store.delivery(&key(name)).await.unwrap().unwrap()
}

/// Records `claimed` as sent.
async fn sent<S: Store>(store: &S, claimed: &[Delivery]) {
    for d in claimed {
        store
            .settle(&d.lease(), Settlement::Sent(t0()), Vec::new())
            .await
            .unwrap();
    }
}

#[track_caller]
fn conflict(r: StoreResult<()>) {
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
}

async fn jobs<S: Store + Clone>(store: S) {
    let (scope, code) = setup(&store).await;
    let other_code = EventCode::generate(&SequentialIds::new(990));
    let a = job(scope, &code, "job-a", "spring");

    // A new job is stored at version 0, whatever it says.
    store
        .commit(vec![put(
            None,
            ListJob {
                version: 7,
                ..a.clone()
            },
        )])
        .await
        .unwrap();
    let stored = store.list_job(scope, &a.id).await.unwrap();
    assert_eq!(stored, Some(a.clone()));
    assert_eq!(
        store.list_job_named(&code, "spring").await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(store.list_job_named(&code, "autumn").await.unwrap(), None);
    assert_eq!(
        store.list_job_named(&other_code, "spring").await.unwrap(),
        None
    );

    // Only its organizer reads it.
    let others = [
        Scope {
            owner: scope.owner,
            organizer: OrganizerId(scope.organizer.0 + 1),
        },
        Scope {
            owner: OwnerId(scope.owner.0 + 1),
            organizer: scope.organizer,
        },
    ];
    for other in others {
        assert_eq!(store.list_job(other, &a.id).await.unwrap(), None);
    }
    assert_eq!(
        store
            .list_job(scope, &ListJobId::new("job-z"))
            .await
            .unwrap(),
        None
    );

    // The event's name taken, or the id taken: a conflict, nothing written.
    conflict(
        store
            .commit(vec![put(None, job(scope, &code, "job-b", "spring"))])
            .await,
    );
    assert_eq!(
        store
            .list_job(scope, &ListJobId::new("job-b"))
            .await
            .unwrap(),
        None
    );
    conflict(
        store
            .commit(vec![put(None, job(scope, &code, "job-a", "autumn"))])
            .await,
    );
    assert_eq!(store.list_job_named(&code, "autumn").await.unwrap(), None);
    assert_eq!(store.list_job(scope, &a.id).await.unwrap(), Some(a.clone()));

    // The same name for another event is another job.
    let c = job(scope, &other_code, "job-c", "spring");
    store.commit(vec![put(None, c.clone())]).await.unwrap();
    assert_eq!(
        store.list_job_named(&other_code, "spring").await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(
        store.list_job_named(&code, "spring").await.unwrap(),
        Some(a.clone())
    );

    // An update: version + 1; its event and name are the stored ones.
    store
        .commit(vec![put(
            Some(0),
            ListJob {
                state: ListJobState::Paused,
                updated_at: minutes(5),
                name: "renamed".to_owned(),
                code: other_code.clone(),
                version: 42,
                ..a.clone()
            },
        )])
        .await
        .unwrap();
    let paused = ListJob {
        state: ListJobState::Paused,
        updated_at: minutes(5),
        version: 1,
        ..a.clone()
    };
    assert_eq!(
        store.list_job(scope, &a.id).await.unwrap(),
        Some(paused.clone())
    );
    assert_eq!(
        store.list_job_named(&code, "spring").await.unwrap(),
        Some(paused.clone())
    );
    assert_eq!(store.list_job_named(&code, "renamed").await.unwrap(), None);
    assert_eq!(
        store.list_job_named(&other_code, "spring").await.unwrap(),
        Some(c.clone())
    );

    // A stale version, another organizer, a job never stored: conflicts.
    let cancelled = ListJob {
        state: ListJobState::Cancelled,
        ..a.clone()
    };
    conflict(store.commit(vec![put(Some(0), cancelled.clone())]).await);
    for other in others {
        conflict(
            store
                .commit(vec![put(
                    Some(1),
                    ListJob {
                        scope: other,
                        ..cancelled.clone()
                    },
                )])
                .await,
        );
    }
    conflict(
        store
            .commit(vec![put(Some(0), job(scope, &code, "job-y", "winter"))])
            .await,
    );
    assert_eq!(
        store.list_job(scope, &a.id).await.unwrap(),
        Some(paused.clone())
    );
    assert_eq!(store.list_job_named(&code, "winter").await.unwrap(), None);

    // Updates chain in one commit; a stale one later in a commit undoes
    // the earlier ones.
    let running = ListJob {
        state: ListJobState::Running,
        ..a.clone()
    };
    store
        .commit(vec![
            put(Some(1), running.clone()),
            put(Some(2), cancelled.clone()),
        ])
        .await
        .unwrap();
    conflict(
        store
            .commit(vec![
                put(Some(3), running.clone()),
                put(Some(3), paused.clone()),
            ])
            .await,
    );
    assert_eq!(
        store.list_job(scope, &a.id).await.unwrap(),
        Some(ListJob {
            version: 3,
            ..cancelled.clone()
        })
    );

    // A job started and moved in one commit; a failed commit starts none.
    let d = job(scope, &code, "job-d", "winter");
    store
        .commit(vec![
            put(None, d.clone()),
            put(
                Some(0),
                ListJob {
                    state: ListJobState::Paused,
                    ..d.clone()
                },
            ),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.list_job_named(&code, "winter").await.unwrap(),
        Some(ListJob {
            state: ListJobState::Paused,
            version: 1,
            ..d.clone()
        })
    );
    let e = job(scope, &code, "job-e", "summer");
    conflict(
        store
            .commit(vec![put(None, e.clone()), put(Some(5), e.clone())])
            .await,
    );
    assert_eq!(store.list_job(scope, &e.id).await.unwrap(), None);
    assert_eq!(store.list_job_named(&code, "summer").await.unwrap(), None);
}

/// Every row of `job`, a page of `page` at a time.
async fn all_rows<S: Store>(store: &S, job: &str, page: usize) -> Vec<ListRow> {
    let id = ListJobId::new(job);
    let mut out: Vec<ListRow> = Vec::new();
    let mut after = 0;
    loop {
        let rows = store.list_rows(&id, after, page).await.unwrap();
        assert!(rows.len() <= page);
        let Some(last) = rows.last() else { break };
        after = last.row;
        out.extend(rows);
    }
    out
}

async fn rows<S: Store + Clone>(store: S) {
    let (scope, code) = setup(&store).await;
    let ids = SequentialIds::new(31);
    let a = job(scope, &code, "job-a", "spring");
    store
        .commit(vec![
            put(None, a.clone()),
            put(None, job(scope, &code, "job-b", "autumn")),
        ])
        .await
        .unwrap();

    // 1,200 rows in one commit (more than one statement takes), out of
    // order; another job's rows beside them.
    let mut given: Vec<ListRow> = (2..=1_201).map(|n| row("job-a", n, &ids)).collect();
    let (even, odd): (Vec<ListRow>, Vec<ListRow>) =
        given.iter().cloned().partition(|r| r.row % 2 == 0);
    let b_rows: Vec<ListRow> = (2..=4).map(|n| row("job-b", n, &ids)).collect();
    store
        .commit(vec![
            Change::InsertListRows(odd),
            Change::InsertListRows(b_rows.clone()),
            Change::InsertListRows(even),
            Change::InsertListRows(Vec::new()),
        ])
        .await
        .unwrap();
    given.sort_by_key(|r| r.row);
    assert_eq!(all_rows(&store, "job-a", 500).await, given);
    assert_eq!(all_rows(&store, "job-a", 7).await, given);
    assert_eq!(all_rows(&store, "job-b", 500).await, b_rows);
    assert_eq!(all_rows(&store, "job-z", 500).await, Vec::new());
    let page = |after: u64, limit: usize| {
        let store = store.clone();
        async move {
            store
                .list_rows(&ListJobId::new("job-a"), after, limit)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.row)
                .collect::<Vec<u64>>()
        }
    };
    assert_eq!(page(0, 3).await, vec![2, 3, 4]);
    assert_eq!(page(1, 3).await, vec![2, 3, 4]);
    assert_eq!(page(600, 2).await, vec![601, 602]);
    assert_eq!(page(1_199, 10).await, vec![1_200, 1_201]);
    assert_eq!(page(1_201, 10).await, Vec::<u64>::new());
    assert_eq!(page(u64::MAX, 10).await, Vec::<u64>::new());
    assert_eq!(page(0, 0).await, Vec::<u64>::new());

    // A row recorded before: the whole commit fails (new rows before it, the
    // job's update), and the row keeps its first verdict.
    let again = ListRow {
        verdict: RowVerdict::Invalid("again".to_owned()),
        ..given[698].clone()
    };
    conflict(
        store
            .commit(vec![
                Change::InsertListRows((1_202..=1_210).map(|n| row("job-a", n, &ids)).collect()),
                put(
                    Some(0),
                    ListJob {
                        state: ListJobState::Paused,
                        ..a.clone()
                    },
                ),
                Change::InsertListRows(vec![again]),
            ])
            .await,
    );
    assert_eq!(all_rows(&store, "job-a", 500).await, given);
    assert_eq!(store.list_job(scope, &a.id).await.unwrap(), Some(a.clone()));

    // A row given twice, or a collision past the first statement's rows.
    conflict(
        store
            .commit(vec![Change::InsertListRows(vec![
                row("job-a", 1_300, &ids),
                row("job-a", 1_300, &ids),
            ])])
            .await,
    );
    let mut long: Vec<ListRow> = (1_301..=1_900).map(|n| row("job-a", n, &ids)).collect();
    long[550] = row("job-a", 1_000, &ids);
    conflict(store.commit(vec![Change::InsertListRows(long)]).await);
    assert_eq!(all_rows(&store, "job-a", 500).await, given);

    // The next rows go on after the stored ones.
    let more: Vec<ListRow> = (1_202..=1_204).map(|n| row("job-a", n, &ids)).collect();
    store
        .commit(vec![Change::InsertListRows(more.clone())])
        .await
        .unwrap();
    given.extend(more);
    assert_eq!(all_rows(&store, "job-a", 500).await, given);
}

async fn held_groups<S: Store + Clone>(store: S) {
    let g1 = ListJobId::new("job-1").group();
    let g2 = ListJobId::new("job-2").group();
    let g3 = ListJobId::new("job-3").group();
    let g4 = ListJobId::new("job-4").group();

    // Queued in one commit (written several rows at once), each with its group.
    store
        .commit(vec![
            Change::Enqueue(notice("a", None)),
            Change::Enqueue(notice("b", Some(&g1))),
            Change::Enqueue(notice("c", Some(&g2))),
            Change::Enqueue(notice("d", Some(&g1))),
        ])
        .await
        .unwrap();
    for (name, group) in [
        ("a", None),
        ("b", Some(&g1)),
        ("c", Some(&g2)),
        ("d", Some(&g1)),
    ] {
        assert_eq!(state(&store, name).await.group.as_ref(), group, "{name}");
    }

    // Held (twice: a set): its messages stay queued, the others go.
    store.commit(vec![hold(&g1, true)]).await.unwrap();
    store.commit(vec![hold(&g1, true)]).await.unwrap();
    let claimed = claim_at(&store, 1).await;
    assert_eq!(names(&claimed), ["a", "c"]);
    assert_eq!(claimed[0].group, None);
    assert_eq!(claimed[1].group, Some(g2.clone()));
    sent(&store, &claimed).await;
    assert!(claim_at(&store, 1).await.is_empty());
    assert_eq!(state(&store, "b").await.state, QueueState::Queued);

    // Released: they go, with their group.
    store.commit(vec![hold(&g1, false)]).await.unwrap();
    let claimed = claim_at(&store, 2).await;
    assert_eq!(names(&claimed), ["b", "d"]);
    assert!(claimed.iter().all(|d| d.group == Some(g1.clone())));
    assert_eq!(state(&store, "d").await.group, Some(g1.clone()));
    // Releasing a group not held changes nothing.
    store
        .commit(vec![hold("list:nobody", false)])
        .await
        .unwrap();

    // Held in the commit that queues it (one message: written alone); a later
    // ungrouped message passes it.
    store
        .commit(vec![
            hold(&g3, true),
            Change::Enqueue(notice("e", Some(&g3))),
        ])
        .await
        .unwrap();
    assert!(claim_at(&store, 3).await.is_empty());
    store
        .commit(vec![Change::Enqueue(notice("f", None))])
        .await
        .unwrap();
    let f = claim_at(&store, 3).await;
    assert_eq!(names(&f), ["f"]);
    sent(&store, &f).await;

    // A held group's message already leased is not the queue's to hold: its
    // lease runs out and it is claimed again.
    store.commit(vec![hold(&g1, true)]).await.unwrap();
    let again = claim_at(&store, 8).await;
    assert_eq!(names(&again), ["b", "d"]);
    assert!(again.iter().all(|d| d.attempts == 2));

    // A retry of a held group's message waits for the release.
    store
        .commit(vec![Change::Enqueue(notice("g", Some(&g4)))])
        .await
        .unwrap();
    let g = claim_at(&store, 9).await;
    assert_eq!(names(&g), ["g"]);
    store.commit(vec![hold(&g4, true)]).await.unwrap();
    store
        .settle(
            &g[0].lease(),
            Settlement::Retry {
                due: minutes(9),
                error: "try later".to_owned(),
            },
            Vec::new(),
        )
        .await
        .unwrap();
    assert!(claim_at(&store, 10).await.is_empty());
    let g = state(&store, "g").await;
    assert_eq!(
        (g.state, g.group, g.last_error),
        (
            QueueState::Queued,
            Some(g4.clone()),
            Some("try later".to_owned())
        )
    );
    store
        .commit(vec![hold(&g3, false), hold(&g4, false)])
        .await
        .unwrap();
    assert_eq!(names(&claim_at(&store, 10).await), ["e", "g"]);

    // A failed commit holds nothing.
    store
        .commit(vec![Change::Enqueue(notice("h", Some(&g1)))])
        .await
        .unwrap();
    store.commit(vec![hold(&g1, false)]).await.unwrap();
    conflict(
        store
            .commit(vec![
                hold(&g1, true),
                put(Some(0), job(support_scope(), &code_of(), "job-x", "x")),
            ])
            .await,
    );
    assert_eq!(names(&claim_at(&store, 11).await), ["h"]);
}

/// A scope and code for jobs that are never stored.
fn support_scope() -> Scope {
    Scope {
        owner: OwnerId(1),
        organizer: OrganizerId(1),
    }
}

fn code_of() -> EventCode {
    EventCode::generate(&SequentialIds::new(5_000))
}

async fn failed_groups<S: Store + Clone>(store: S) {
    let g = ListJobId::new("job-1").group();
    let other = ListJobId::new("job-2").group();

    // Leased and sent messages of the group, then queued ones, another
    // group's and an ungrouped one.
    store
        .commit(vec![
            Change::Enqueue(notice("leased", Some(&g))),
            Change::Enqueue(notice("sent", Some(&g))),
        ])
        .await
        .unwrap();
    let claimed = claim_at(&store, 1).await;
    assert_eq!(names(&claimed), ["leased", "sent"]);
    store
        .settle(
            &claimed[1].lease(),
            Settlement::Sent(minutes(1)),
            Vec::new(),
        )
        .await
        .unwrap();
    store
        .commit(vec![
            Change::Enqueue(notice("q1", Some(&g))),
            Change::Enqueue(notice("q2", Some(&g))),
            Change::Enqueue(notice("other", Some(&other))),
            Change::Enqueue(notice("plain", None)),
        ])
        .await
        .unwrap();

    store
        .commit(vec![fail(&g, "not sent: cancelled")])
        .await
        .unwrap();
    for name in ["q1", "q2"] {
        let d = state(&store, name).await;
        assert_eq!(
            (d.state, d.last_error, d.group, d.attempts),
            (
                QueueState::Failed("not sent: cancelled".to_owned()),
                Some("not sent: cancelled".to_owned()),
                Some(g.clone()),
                0
            ),
            "{name}"
        );
    }
    assert_eq!(
        state(&store, "leased").await.state,
        QueueState::Leased(minutes(6))
    );
    assert_eq!(
        state(&store, "sent").await.state,
        QueueState::Sent(minutes(1))
    );
    assert_eq!(state(&store, "other").await.state, QueueState::Queued);
    assert_eq!(state(&store, "plain").await.state, QueueState::Queued);
    // The worker holding one finishes it.
    store
        .settle(
            &claimed[0].lease(),
            Settlement::Sent(minutes(2)),
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        state(&store, "leased").await.state,
        QueueState::Sent(minutes(2))
    );
    assert_eq!(names(&claim_at(&store, 2).await), ["other", "plain"]);

    // A held group's messages are failed too (a cancelled job's: failed,
    // then released).
    let h = ListJobId::new("job-3").group();
    store
        .commit(vec![
            Change::Enqueue(notice("held", Some(&h))),
            hold(&h, true),
        ])
        .await
        .unwrap();
    store
        .commit(vec![fail(&h, "cancelled"), hold(&h, false)])
        .await
        .unwrap();
    assert_eq!(
        state(&store, "held").await.state,
        QueueState::Failed("cancelled".to_owned())
    );
    assert!(claim_at(&store, 3).await.is_empty());

    // In a commit, in order: what was queued before it fails, what after
    // stays queued.
    let k = ListJobId::new("job-4").group();
    store
        .commit(vec![
            Change::Enqueue(notice("before", Some(&k))),
            Change::Enqueue(notice("before2", Some(&k))),
            fail(&k, "stop"),
            Change::Enqueue(notice("after", Some(&k))),
            Change::Enqueue(notice("after2", Some(&k))),
        ])
        .await
        .unwrap();
    for (name, expected) in [
        ("before", QueueState::Failed("stop".to_owned())),
        ("before2", QueueState::Failed("stop".to_owned())),
        ("after", QueueState::Queued),
        ("after2", QueueState::Queued),
    ] {
        assert_eq!(state(&store, name).await.state, expected, "{name}");
    }

    // A failed commit fails nothing.
    conflict(
        store
            .commit(vec![
                fail(&k, "stop"),
                put(Some(0), job(support_scope(), &code_of(), "job-x", "x")),
            ])
            .await,
    );
    assert_eq!(state(&store, "after").await.state, QueueState::Queued);
    assert_eq!(names(&claim_at(&store, 4).await), ["after", "after2"]);
}

/// The pipeline's lists on the store: rows fed, messages held while the job
/// is paused, sent once it is resumed, set aside when it is cancelled.
async fn pipeline_lists<S: Store + Clone>(store: S) {
    let p = pipeline(&store);
    let (scope, code) = support::launch(&p).await;
    let job = p.start_list(scope, &code, "spring").await.unwrap();
    assert_eq!(p.start_list(scope, &code, "spring").await.unwrap(), job);
    let csv = "email,name\n\
               one@example.org,One\n\
               not an address,Two\n\
               three@example.org,Three\n\
               one@example.org,One again\n\
               five@example.org,Five\n";
    let feed = p.feed_csv(scope, &job.id, csv.as_bytes()).await.unwrap();
    assert_eq!(feed.recorded, 5);
    // Fed again: every row was recorded.
    let feed = p.feed_csv(scope, &job.id, csv.as_bytes()).await.unwrap();
    assert_eq!((feed.recorded, feed.already_recorded), (0, 5));
    let rows = store.list_rows(&job.id, 0, 100).await.unwrap();
    let verdicts: Vec<(u64, &str)> = rows.iter().map(|r| (r.row, r.verdict.name())).collect();
    assert_eq!(
        verdicts,
        [
            (2, "invited"),
            (3, "invalid"),
            (4, "invited"),
            (5, "duplicate"),
            (6, "invited")
        ]
    );

    p.pause_list(scope, &job.id).await.unwrap();
    assert_eq!(p.run_until_idle().await.unwrap(), 0);
    p.resume_list(scope, &job.id).await.unwrap();
    assert_eq!(p.run_until_idle().await.unwrap(), 3);
    let progress = p.list_progress(scope, &job.id).await.unwrap();
    assert_eq!(
        (progress.rows, progress.invited, progress.submitted),
        (5, 3, 3)
    );

    let other = p.start_list(scope, &code, "autumn").await.unwrap();
    let csv = "email\nsix@example.org\nseven@example.org\n";
    p.feed_csv(scope, &other.id, csv.as_bytes()).await.unwrap();
    let cancelled = p.cancel_list(scope, &other.id).await.unwrap();
    assert_eq!(cancelled.state, ListJobState::Cancelled);
    assert_eq!(p.run_until_idle().await.unwrap(), 0);
    let progress = p.list_progress(scope, &other.id).await.unwrap();
    assert_eq!((progress.invited, progress.submitted), (2, 0));
    assert!(p.resume_list(scope, &other.id).await.is_err());
}

/// One test per scenario and store: `lists::sqlite::rows`,
/// `lists::postgres::held_groups`, `lists::memory::jobs`…
macro_rules! on_every_store {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[test]
                fn $name() {
                    super::support::runtime()
                        .block_on(super::$name(std::sync::Arc::new(super::MemoryStore::new())));
                }
            )*
        }
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::support::on_sqlite(stringify!($name), super::$name);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    super::support::on_postgres(stringify!($name), super::$name);
                }
            )*
        }
    };
}

on_every_store!(jobs, rows, held_groups, failed_groups, pipeline_lists);
