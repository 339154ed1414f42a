#![allow(clippy::unwrap_used)]
//! `SqlStore::commit` writes runs of invitations, updates, history rows and
//! queued messages as multi-row statements. These check that a commit still
//! means what applying its changes one by one means, on SQLite and on
//! PostgreSQL: all or nothing, a stale version anywhere in a batch is a
//! conflict that leaves nothing behind, a key queued twice keeps the first,
//! two updates of one invitation in one commit chain, and a history row or an
//! update that comes before its invitation fails as it would alone.

use crate::support;

use std::sync::Arc;

use calinvite_core::lifecycle::{
    DeliveryKey, DeliveryState, HistoryEntry, HistoryKind, Invitation, InvitationSource, Pipeline,
    RecordingTransport, Scope, Store, StoreError,
};
use calinvite_core::spi::{Change, Delivery, InvitationParts, Payload, QueueState};
use calinvite_core::{
    Clock, EmailAddress, EventCode, FixedClock, IdempotencyKey, InvitationToken, MessageKind,
    Method, Recipient, Sequence, SequentialIds,
};
use calinvite_store::SqlStore;
use chrono::{TimeZone as _, Utc};

fn address(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

/// An owner, an organizer and an event; returns the scope and the code.
async fn setup(store: &SqlStore) -> (Scope, EventCode) {
    let clock = Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap(),
    ));
    let pipeline = Pipeline::new(
        store.clone(),
        RecordingTransport::new(),
        clock as Arc<dyn Clock>,
        Box::new(SequentialIds::new(5)),
    );
    support::launch(&pipeline).await
}

struct Fixture {
    scope: Scope,
    code: EventCode,
    ids: SequentialIds,
}

impl Fixture {
    fn invitation(&mut self, n: usize) -> Invitation {
        InvitationParts {
            scope: self.scope,
            code: self.code.clone(),
            token: InvitationToken::generate(&self.ids),
            recipient: Recipient::new(address(&format!("guest{n}@example.org"))),
            source: InvitationSource::Api,
            created_at: Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap(),
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
        }
        .into()
    }
}

fn history(inv: &Invitation) -> Change {
    Change::AppendHistory(HistoryEntry::new(
        inv.token().clone(),
        inv.created_at(),
        HistoryKind::Queued {
            kind: MessageKind::Invitation,
            sequence: Sequence::INITIAL,
        },
    ))
}

fn delivery(inv: &Invitation, copy: u32) -> Delivery {
    Delivery {
        key: DeliveryKey::Invitation(IdempotencyKey::new(
            inv.token().clone(),
            Sequence::INITIAL,
            Method::Request,
            0,
        )),
        owner: inv.scope().owner,
        payload: Payload::Invitation {
            code: inv.code().clone(),
            token: inv.token().clone(),
            kind: MessageKind::Invitation,
            sequence: Sequence::INITIAL,
            copy,
        },
        attempts: 0,
        due: inv.created_at(),
        state: QueueState::Queued,
        last_error: None,
        group: None,
    }
}

fn update(inv: &Invitation, expected: u64, copies: u32) -> Change {
    let mut next = inv.clone().into_parts();
    next.copies = copies;
    Change::UpdateInvitation {
        expected,
        invitation: next.into(),
    }
}

async fn scenario(store: SqlStore) {
    let (scope, code) = setup(&store).await;
    let mut f = Fixture {
        scope,
        code: code.clone(),
        ids: SequentialIds::new(77),
    };
    let invs: Vec<Invitation> = (0..1_200).map(|n| f.invitation(n)).collect();

    // Many invitations, their history and their messages in one commit (more
    // rows than one statement takes), interleaved as `invite` commits them.
    let mut changes = Vec::new();
    for inv in &invs {
        changes.push(Change::InsertInvitation(inv.clone()));
        changes.push(Change::Enqueue(delivery(inv, 0)));
        changes.push(history(inv));
    }
    store.commit(changes).await.unwrap();
    let mut stored = Vec::new();
    let mut after: Option<InvitationToken> = None;
    loop {
        let page = store.invitations(&code, after.as_ref(), 500).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.token().clone());
        stored.extend(page);
    }
    assert_eq!(stored.len(), invs.len());
    assert_eq!(store.history(invs[700].token()).await.unwrap().len(), 1);

    // A fan-out batch: every update, history row and message lands.
    let mut changes = Vec::new();
    for inv in &invs {
        changes.push(Change::Enqueue(delivery(inv, 0)));
        changes.push(history(inv));
        changes.push(update(inv, 0, 1));
    }
    store.commit(changes).await.unwrap();
    for i in [0, 599, 1_199] {
        let got = store
            .invitation(invs[i].token())
            .await
            .unwrap()
            .unwrap()
            .into_parts();
        assert_eq!((got.version, got.copies), (1, 1));
        assert_eq!(store.history(invs[i].token()).await.unwrap().len(), 2);
    }

    // One stale version in the middle of a batch: a conflict, and nothing of
    // the commit is left (updates before and after it, history, messages).
    let fresh = f.invitation(5_000);
    let mut changes = vec![Change::Enqueue(delivery(&fresh, 0))];
    for (i, inv) in invs.iter().enumerate().take(800) {
        changes.push(history(inv));
        changes.push(update(inv, if i == 650 { 0 } else { 1 }, 2));
    }
    let err = store.commit(changes).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    // Named as that update alone would be.
    let alone = store
        .commit(vec![update(&invs[650], 0, 2)])
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), alone.to_string());
    for i in [0, 649, 650, 651, 799] {
        let got = store
            .invitation(invs[i].token())
            .await
            .unwrap()
            .unwrap()
            .into_parts();
        assert_eq!((got.version, got.copies), (1, 1), "invitation {i}");
        assert_eq!(store.history(invs[i].token()).await.unwrap().len(), 2);
    }
    assert!(
        store
            .delivery(&delivery(&fresh, 0).key)
            .await
            .unwrap()
            .is_none()
    );

    // Two updates of one invitation in one commit chain (1 → 2 → 3); a third
    // naming a version already passed fails the whole commit.
    store
        .commit(vec![
            update(&invs[1], 1, 7),
            update(&invs[2], 1, 7),
            update(&invs[1], 2, 8),
        ])
        .await
        .unwrap();
    let got = store
        .invitation(invs[1].token())
        .await
        .unwrap()
        .unwrap()
        .into_parts();
    assert_eq!((got.version, got.copies), (3, 8));
    let err = store
        .commit(vec![
            update(&invs[3], 1, 9),
            update(&invs[1], 3, 9),
            update(&invs[1], 3, 10),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let got = store
        .invitation(invs[3].token())
        .await
        .unwrap()
        .unwrap()
        .into_parts();
    assert_eq!(got.version, 1);

    // A key queued twice in one commit keeps the first; one queued before is
    // left as it is.
    let a = f.invitation(6_000);
    let b = f.invitation(6_001);
    store
        .commit(vec![
            Change::InsertInvitation(a.clone()),
            Change::InsertInvitation(b.clone()),
            Change::Enqueue(delivery(&a, 1)),
            Change::Enqueue(delivery(&b, 0)),
            Change::Enqueue(delivery(&a, 2)),
            Change::Enqueue(delivery(&invs[0], 3)),
        ])
        .await
        .unwrap();
    let copy = |d: Delivery| match d.payload {
        Payload::Invitation { copy, .. } => copy,
        _ => u32::MAX,
    };
    let got = store.delivery(&delivery(&a, 0).key).await.unwrap().unwrap();
    assert_eq!(copy(got), 1);
    let got = store
        .delivery(&delivery(&invs[0], 0).key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(copy(got), 0);

    // An invitation updated in the commit that inserts it.
    let c = f.invitation(6_002);
    let d = f.invitation(6_003);
    store
        .commit(vec![
            Change::InsertInvitation(c.clone()),
            Change::InsertInvitation(d.clone()),
            update(&c, 0, 4),
            update(&d, 0, 4),
            history(&c),
            history(&d),
        ])
        .await
        .unwrap();
    assert_eq!(
        store
            .invitation(d.token())
            .await
            .unwrap()
            .unwrap()
            .into_parts()
            .version,
        1
    );

    // History or an update before its invitation fails, as it would alone,
    // and the invitations of that commit are not kept.
    for early in ["history", "update"] {
        let e = f.invitation(7_000);
        let g = f.invitation(7_001);
        let first = match early {
            "history" => history(&e),
            _ => update(&e, 0, 1),
        };
        let err = store
            .commit(vec![
                history(&invs[5]),
                first,
                Change::InsertInvitation(e.clone()),
                Change::InsertInvitation(g.clone()),
            ])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{early}: {err:?}");
        assert!(store.invitation(e.token()).await.unwrap().is_none());
        assert!(store.invitation(g.token()).await.unwrap().is_none());
        assert_eq!(store.history(invs[5].token()).await.unwrap().len(), 2);
    }

    // A duplicate address in a bulk insert: a conflict, nothing inserted.
    let h = f.invitation(8_000);
    let mut twin = f.invitation(8_001).into_parts();
    twin.recipient = h.recipient().clone();
    let err = store
        .commit(vec![
            Change::InsertInvitation(h.clone()),
            Change::InsertInvitation(twin.into()),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(store.invitation(h.token()).await.unwrap().is_none());
}

#[test]
fn batched_commit_sqlite() {
    support::on_sqlite("batched_commit", scenario);
}

#[test]
fn batched_commit_postgres() {
    support::on_postgres("batched_commit", scenario);
}
