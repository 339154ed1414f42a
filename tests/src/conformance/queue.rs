//! The delivery queue in batches: a claimed batch read together
//! ([`Store::invitations_among`], [`Store::invitations_to`]), sent, and
//! settled together ([`Store::settle_all`]) with each message's outcome its
//! own — a lost lease or a conflict in one never costs the others theirs —
//! and the queue's counts, reclaimed leases included
//! ([`Store::queue_counts`]).

#![allow(clippy::unwrap_used, clippy::panic)]

use chrono::TimeDelta;

use crate::scenario::{CalendarEvent, Scenario};
use calinvite_core::lifecycle::{
    DeliveryReport, DeliveryState, Invitation, InvitationSource, Outcome, QueueCounts, Settings,
    StoreError, TransportError,
};
use calinvite_core::spi::{Change, Delivery, QueueState, Settle, Settlement};
use calinvite_core::{EmailAddress, EventCode, InvitationToken, Recipient, SequentialIds, Store};

async fn scenario<S: Store>(store: S) -> Scenario<S> {
    Scenario::new(store, Settings::default())
        .await
        .unwrap_or_else(|e| panic!("scenario setup failed: {e}"))
}

fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap_or_else(|e| panic!("test address {s}: {e}"))
}

/// An event with `guests` invited (their messages queued, the organizer's
/// notice already sent).
async fn invited<S: Store>(
    s: &Scenario<S>,
    uid: &str,
    guests: &[&str],
) -> (EventCode, Vec<InvitationToken>) {
    let code = match s.organizer_sends(&CalendarEvent::launch(uid)).await {
        Ok(Outcome::EventCreated(code)) => code,
        other => panic!("the organizer's request should create an event, got {other:?}"),
    };
    s.deliver().await.unwrap(); // the organizer's notice
    let mut tokens = Vec::new();
    for g in guests {
        let invited = s
            .pipeline
            .invite(
                s.scope(),
                &code,
                Recipient::new(addr(g)),
                InvitationSource::Api,
            )
            .await;
        match invited {
            Ok(Outcome::Invited(t)) => tokens.push(t),
            other => panic!("inviting {g}: {other:?}"),
        }
    }
    (code, tokens)
}

fn version(inv: &Invitation) -> u64 {
    inv.clone().into_parts().version
}

async fn counts<S: Store>(s: &Scenario<S>) -> QueueCounts {
    s.pipeline.queue_counts().await.unwrap()
}

async fn claim<S: Store>(s: &Scenario<S>, limit: usize) -> Vec<Delivery> {
    let now = s.pipeline.now();
    s.pipeline
        .store()
        .claim(now, now + TimeDelta::seconds(60), limit)
        .await
        .unwrap()
}

/// A claimed batch is sent and settled together; each message gets its own
/// outcome (accepted, refused for good, to retry), and the invitations
/// their marks, as one at a time would.
pub(super) async fn a_batch_settles_each_outcome<S: Store>(store: S) {
    let s = scenario(store).await;
    let guests = ["ok@example.org", "gone@example.org", "later@example.org"];
    let (code, _) = invited(&s, "batch-1@example.com", &guests).await;
    let before = counts(&s).await;
    assert_eq!((before.queued, before.leased), (3, 0), "{before:?}");
    let claimed = claim(&s, 10).await;
    assert_eq!(
        claimed.len(),
        3,
        "the three invitations are claimed at once"
    );
    assert_eq!(counts(&s).await.leased, 3);
    let transport = s.pipeline.transport();
    transport.script(Ok(()));
    transport.script(Err(TransportError::permanent("550 5.1.1 no such user")));
    transport.script(Err(TransportError::transient("451 4.3.0 try later")));
    let reports = s.pipeline.deliver_batch(claimed.clone()).await.unwrap();
    let reports: Vec<DeliveryReport> = reports.into_iter().map(Result::unwrap).collect();
    assert!(
        matches!(&reports[0], DeliveryReport::Sent(k) if *k == claimed[0].key),
        "{reports:?}"
    );
    assert!(
        matches!(&reports[1], DeliveryReport::Failed(k, why) if *k == claimed[1].key && why.contains("550")),
        "{reports:?}"
    );
    assert!(
        matches!(&reports[2], DeliveryReport::Retrying(k, _) if *k == claimed[2].key),
        "{reports:?}"
    );
    let after = counts(&s).await;
    assert_eq!(
        (
            after.queued,
            after.leased,
            after.sent - before.sent,
            after.failed
        ),
        (1, 0, 1, 1),
        "{after:?}"
    );
    assert_eq!(after.reclaimed, 0, "no lease ran out");
    // Which invitation is which: the messages were claimed in queue order.
    let invs = s.pipeline.invitations(s.scope(), &code).await.unwrap();
    let state_of = |who: &str| {
        invs.iter()
            .find(|i| i.recipient().address() == &addr(who))
            .map(|i| i.delivery())
            .unwrap()
    };
    let mut states: Vec<DeliveryState> = guests.iter().map(|g| state_of(g)).collect();
    states.sort_by_key(|d| format!("{d:?}"));
    assert!(
        states.contains(&DeliveryState::Sent) && states.contains(&DeliveryState::HardBounced),
        "one invitation sent, one hard-bounced: {states:?}"
    );
}

/// In one batch: a message whose lease ran out and was claimed again is not
/// settled by the old claim (the new holder's), one whose changes conflict
/// is refused alone, and the rest settle. The claim of the expired lease is
/// counted as a reclaim.
pub(super) async fn a_lost_lease_or_a_conflict_costs_only_its_own_message<S: Store>(store: S) {
    let s = scenario(store).await;
    let guests = ["a@example.org", "b@example.org", "c@example.org"];
    let (_code, _) = invited(&s, "batch-2@example.com", &guests).await;
    let first = claim(&s, 10).await;
    assert_eq!(first.len(), 3);
    // The leases run out; another worker takes over one message.
    s.advance(120);
    let again = claim(&s, 1).await;
    assert_eq!(again.len(), 1, "one expired lease is claimed again");
    let taken = again[0].key.clone();
    assert_eq!(counts(&s).await.reclaimed, 1, "that claim is counted");
    let rest: Vec<&Delivery> = first.iter().filter(|d| d.key != taken).collect();
    let (conflicting, fine) = (rest[0], rest[1]);
    let store = s.pipeline.store();
    // A change naming a version the invitation never had: a conflict.
    let inv = store
        .invitations_among(&[match &conflicting.payload {
            calinvite_core::spi::Payload::Invitation { token, .. } => token.clone(),
            other => panic!("an invitation's message: {other:?}"),
        }])
        .await
        .unwrap()
        .pop()
        .unwrap();
    let now = s.pipeline.now();
    let old = first.iter().find(|d| d.key == taken).unwrap();
    let results = store
        .settle_all(vec![
            Settle {
                lease: old.lease(),
                settlement: Settlement::Sent(now),
                changes: Vec::new(),
            },
            Settle {
                lease: conflicting.lease(),
                settlement: Settlement::Sent(now),
                changes: vec![Change::UpdateInvitation {
                    expected: version(&inv) + 7,
                    invitation: inv.clone(),
                }],
            },
            Settle {
                lease: fine.lease(),
                settlement: Settlement::Sent(now),
                changes: Vec::new(),
            },
        ])
        .await
        .unwrap();
    assert_eq!(results.len(), 3);
    assert!(
        matches!(&results[0], Err(StoreError::NotLeased { key }) if *key == taken),
        "the stale claim does not settle: {results:?}"
    );
    assert!(
        matches!(&results[1], Err(StoreError::Conflict(_))),
        "the conflicting item is refused: {results:?}"
    );
    assert!(results[2].is_ok(), "the third settles: {results:?}");
    let state = |key| async move { store.delivery(key).await.unwrap().unwrap().state };
    assert!(
        matches!(state(&taken).await, QueueState::Leased(_)),
        "the new holder keeps it"
    );
    assert!(
        matches!(state(&conflicting.key).await, QueueState::Leased(_)),
        "the conflicting message is not settled"
    );
    assert!(matches!(state(&fine.key).await, QueueState::Sent(_)));
    assert_eq!(
        store
            .invitations_among(&[inv.token().clone()])
            .await
            .unwrap()
            .iter()
            .map(version)
            .collect::<Vec<_>>(),
        [version(&inv)],
        "the conflicting change wrote nothing"
    );
}

/// A batch settled together with no conflict but one stale claim: the
/// others are marked sent in the same statement that checks their claims;
/// the stale one is reported, and its new holder keeps it.
pub(super) async fn a_stale_claim_in_a_clean_batch_is_told_apart<S: Store>(store: S) {
    let s = scenario(store).await;
    let guests = [
        "a@example.org",
        "b@example.org",
        "c@example.org",
        "d@example.org",
    ];
    let (_code, _) = invited(&s, "batch-3@example.com", &guests).await;
    let first = claim(&s, 10).await;
    assert_eq!(first.len(), 4);
    let before = counts(&s).await;
    s.advance(120);
    let again = claim(&s, 1).await;
    assert_eq!(again.len(), 1, "one expired lease is claimed again");
    let taken = again[0].key.clone();
    let now = s.pipeline.now();
    let store = s.pipeline.store();
    let results = store
        .settle_all(
            first
                .iter()
                .map(|d| Settle {
                    lease: d.lease(),
                    settlement: Settlement::Sent(now),
                    changes: Vec::new(),
                })
                .collect(),
        )
        .await
        .unwrap();
    assert_eq!(results.len(), 4);
    for (d, r) in first.iter().zip(&results) {
        if d.key == taken {
            assert!(
                matches!(r, Err(StoreError::NotLeased { key }) if *key == taken),
                "the stale claim does not settle: {results:?}"
            );
            assert!(
                matches!(
                    store.delivery(&d.key).await.unwrap().unwrap().state,
                    QueueState::Leased(_)
                ),
                "the new holder keeps it"
            );
        } else {
            assert!(r.is_ok(), "{results:?}");
            assert!(matches!(
                store.delivery(&d.key).await.unwrap().unwrap().state,
                QueueState::Sent(at) if at == now
            ));
        }
    }
    // The new holder settles it with its own claim.
    let results = store
        .settle_all(vec![
            Settle {
                lease: again[0].lease(),
                settlement: Settlement::Sent(now),
                changes: Vec::new(),
            },
            Settle {
                lease: first.iter().find(|d| d.key != taken).unwrap().lease(),
                settlement: Settlement::Sent(now),
                changes: Vec::new(),
            },
        ])
        .await
        .unwrap();
    assert!(results[0].is_ok(), "{results:?}");
    assert!(
        matches!(&results[1], Err(StoreError::NotLeased { .. })),
        "a message settled already is not settled twice: {results:?}"
    );
    let c = counts(&s).await;
    assert_eq!(
        (c.sent - before.sent, c.leased, c.queued),
        (4, 0, 0),
        "each of the four is sent once: {c:?}"
    );
}

/// The batch reads give back exactly the invitations asked for that exist,
/// and the counts see held messages.
pub(super) async fn batch_reads_and_counts<S: Store>(store: S) {
    let s = scenario(store).await;
    let guests = ["x@example.org", "y@example.org"];
    let (code, tokens) = invited(&s, "batch-3@example.com", &guests).await;
    let store = s.pipeline.store();
    let stranger = InvitationToken::generate(&SequentialIds::new(987_654));
    let mut asked = tokens.clone();
    asked.push(stranger);
    let mut got: Vec<InvitationToken> = store
        .invitations_among(&asked)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.token().clone())
        .collect();
    got.sort();
    let mut want = tokens.clone();
    want.sort();
    assert_eq!(got, want, "the two invitations, not the unknown token");
    let mut to: Vec<String> = store
        .invitations_to(
            &code,
            &[
                addr("x@example.org"),
                addr("nobody@example.org"),
                addr("y@example.org"),
            ],
        )
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.recipient().address().to_string())
        .collect();
    to.sort();
    assert_eq!(to, ["x@example.org", "y@example.org"]);
    // A list job's messages, paused: held.
    let job = s
        .pipeline
        .start_list(s.scope(), &code, "vip")
        .await
        .unwrap();
    let list = "address\nv1@example.org\nv2@example.org\nv3@example.org\n";
    s.pipeline
        .feed_csv(s.scope(), &job.id, list.as_bytes())
        .await
        .unwrap();
    s.pipeline.pause_list(s.scope(), &job.id).await.unwrap();
    let c = counts(&s).await;
    assert_eq!((c.queued, c.held), (5, 3), "{c:?}");
    let claimed = claim(&s, 10).await;
    assert_eq!(claimed.len(), 2, "held messages are not claimed");
    s.pipeline.resume_list(s.scope(), &job.id).await.unwrap();
    assert_eq!(counts(&s).await.held, 0);
}
