//! Announcements ([`Store::announcements`], [`Change::Announce`]): a
//! pipeline built to announce writes one with every change an application
//! may want to hear of, in the same commit, so they are read back in the
//! order things happened, roll back with a commit that fails, and stay
//! until the application forgets them. A pipeline that does not announce
//! writes none.

#![allow(clippy::unwrap_used, clippy::panic, clippy::too_many_lines)]

use crate::scenario::{CalendarEvent, Scenario};
use calinvite_core::lifecycle::{
    Announcement, AnnouncementKind, AnnouncementType, InvitationSource, ListJobState, Outcome,
    PendingChangeId, PendingState, Settings, StoreError, SuppressionReason, TransportError,
};
use calinvite_core::list::ListEntry;
use calinvite_core::spi::Change;
use calinvite_core::{
    EmailAddress, EventCode, MessageKind, ParticipationStatus, Recipient, Sequence, Store,
};

fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap_or_else(|e| panic!("test address {s}: {e}"))
}

async fn announcing<S: Store>(store: S, settings: Settings) -> Scenario<S> {
    Scenario::announcing(store, settings)
        .await
        .unwrap_or_else(|e| panic!("scenario setup failed: {e}"))
}

async fn create<S: Store>(s: &Scenario<S>, ev: &CalendarEvent) -> EventCode {
    match s.organizer_sends(ev).await {
        Ok(Outcome::EventCreated(code)) => code,
        other => panic!("the organizer's first request should create an event, got {other:?}"),
    }
}

async fn invite<S: Store>(s: &Scenario<S>, code: &EventCode, who: &str) {
    let r = s
        .pipeline
        .invite(
            s.scope(),
            code,
            Recipient::new(addr(who)),
            InvitationSource::Api,
        )
        .await;
    assert!(
        matches!(r, Ok(Outcome::Invited(_))),
        "inviting {who}: {r:?}"
    );
}

async fn deliver<S: Store>(s: &Scenario<S>) -> usize {
    s.deliver()
        .await
        .unwrap_or_else(|e| panic!("delivery run failed: {e}"))
}

/// Every announcement kept, in number order.
async fn all<S: Store>(s: &Scenario<S>) -> Vec<(u64, Announcement)> {
    s.pipeline
        .store()
        .announcements(0, 10_000)
        .await
        .unwrap_or_else(|e| panic!("reading announcements: {e}"))
}

/// Every announcement kept, forgotten once read: what an application
/// forwarding them does.
async fn take<S: Store>(s: &Scenario<S>) -> Vec<Announcement> {
    let kept = all(s).await;
    let numbers: Vec<u64> = kept.iter().map(|(n, _)| *n).collect();
    s.pipeline
        .store()
        .forget_announcements(&numbers)
        .await
        .unwrap_or_else(|e| panic!("forgetting announcements: {e}"));
    kept.into_iter().map(|(_, a)| a).collect()
}

fn types(announced: &[Announcement]) -> Vec<&'static str> {
    announced
        .iter()
        .map(|a| a.announcement_type().as_str())
        .collect()
}

fn answered(
    a: &Announcement,
) -> (
    String,
    ParticipationStatus,
    Option<ParticipationStatus>,
    bool,
) {
    match &a.kind {
        AnnouncementKind::Answered {
            address,
            status,
            previous,
            applied,
            ..
        } => (address.as_str().to_owned(), *status, *previous, *applied),
        other => panic!("an answer was announced as {other:?}"),
    }
}

/// Every step of an event's life announces itself, in order and for its
/// organizer, at the pipeline's time: the event created, each message sent
/// (notices to the organizer are not announced), answers with the one they
/// replace, the update going out, bounces (reported, and refused by the
/// relay), the cancellation. Pages come back in number order, and what is
/// forgotten is gone.
pub(super) async fn every_change_is_announced_in_order<S: Store>(store: S) {
    let s = announcing(store, Settings::default()).await;
    let ev = CalendarEvent::launch("announce-1@example.com");
    let code = create(&s, &ev).await;
    let created = take(&s).await;
    assert_eq!(types(&created), ["event.created"]);
    assert_eq!(created[0].owner, s.owner.id);
    assert_eq!(created[0].organizer, Some(s.scope().organizer));
    assert_eq!(created[0].at, s.pipeline.now());
    assert!(
        matches!(
            &created[0].kind,
            AnnouncementKind::EventCreated { code: c, summary, from_calendar: true, .. } if c == &code && summary == "Product launch party"
        ),
        "{:?}",
        created[0]
    );

    deliver(&s).await; // the organizer's notice: not announced
    invite(&s, &code, "ana2@example.org").await;
    invite(&s, &code, "bo@example.org").await;
    assert!(all(&s).await.is_empty(), "queueing announces nothing");
    deliver(&s).await;
    let sent = take(&s).await;
    assert_eq!(types(&sent), ["delivery.sent", "delivery.sent"]);
    let mut to: Vec<String> = sent
        .iter()
        .map(|a| match &a.kind {
            AnnouncementKind::Sent {
                code: c,
                address,
                message: MessageKind::Invitation,
                sequence,
                ..
            } if c == &code && *sequence == Sequence::INITIAL => address.as_str().to_owned(),
            other => panic!("{other:?}"),
        })
        .collect();
    to.sort();
    assert_eq!(to, ["ana2@example.org", "bo@example.org"]);

    s.advance(60);
    assert!(matches!(
        s.reply("ana2@example.org", "ACCEPTED").await,
        Ok(Outcome::AnswerRecorded(_))
    ));
    assert!(matches!(
        s.reply("bo@example.org", "ACCEPTED").await,
        Ok(Outcome::AnswerRecorded(_))
    ));
    s.advance(60);
    assert!(matches!(
        s.reply("bo@example.org", "DECLINED").await,
        Ok(Outcome::AnswerRecorded(_))
    ));
    let answers = take(&s).await;
    assert_eq!(
        answers.iter().map(answered).collect::<Vec<_>>(),
        [
            (
                "ana2@example.org".into(),
                ParticipationStatus::Accepted,
                None,
                true
            ),
            (
                "bo@example.org".into(),
                ParticipationStatus::Accepted,
                None,
                true
            ),
            (
                "bo@example.org".into(),
                ParticipationStatus::Declined,
                Some(ParticipationStatus::Accepted),
                true
            ),
        ],
        "a changed mind carries the answer it replaces"
    );
    assert!(answers.windows(2).all(|w| w[0].at <= w[1].at));

    // The organizer moves the event: the update goes to those who said yes.
    s.advance(60);
    let moved = ev.clone().edited(|e| e.location = Some("Room 7".into()));
    assert!(matches!(
        s.organizer_sends(&moved).await,
        Ok(Outcome::RevisionSent(..))
    ));
    deliver(&s).await;
    let update = take(&s).await;
    assert_eq!(types(&update), ["event.updated", "delivery.sent"]);
    assert!(matches!(
        &update[0].kind,
        AnnouncementKind::EventUpdated { sequence, mailed: true, .. } if *sequence == Sequence::INITIAL.next()
    ));
    assert!(matches!(
        &update[1].kind,
        AnnouncementKind::Sent { address, message: MessageKind::Update, .. } if address.as_str() == "ana2@example.org"
    ));

    // A bounce reported later, and one the relay gives at once.
    assert!(matches!(
        s.delivery_report("ana2@example.org", Some(true)).await,
        Ok(Outcome::DeliveryRecorded(_))
    ));
    invite(&s, &code, "nobody@example.org").await;
    s.pipeline
        .transport()
        .script(Err(TransportError::permanent("550 no such user")));
    s.pipeline.deliver_one().await.unwrap();
    let bounces = take(&s).await;
    assert_eq!(types(&bounces), ["delivery.bounced", "delivery.bounced"]);
    for (b, who) in bounces
        .iter()
        .zip(["ana2@example.org", "nobody@example.org"])
    {
        assert!(
            matches!(&b.kind, AnnouncementKind::Bounced { address, permanent: true, .. } if address.as_str() == who),
            "{b:?}"
        );
    }

    // The organizer cancels: one announcement, then a page read in two.
    let cancelled = moved.clone().edited(|_| {});
    assert!(matches!(
        s.organizer_cancels(&cancelled, None).await,
        Ok(Outcome::Cancelled(_))
    ));
    deliver(&s).await;
    let kept = all(&s).await;
    let names: Vec<&str> = kept
        .iter()
        .map(|(_, a)| a.announcement_type().as_str())
        .collect();
    assert_eq!(names[0], "event.cancelled", "{names:?}");
    assert!(matches!(
        &kept[0].1.kind,
        AnnouncementKind::EventCancelled { instances, mailed: true, .. } if instances.is_empty()
    ));
    assert!(
        names[1..].iter().all(|n| *n == "delivery.sent"),
        "{names:?}"
    );
    assert!(kept.windows(2).all(|w| w[0].0 < w[1].0), "numbers rise");
    let first = s.pipeline.store().announcements(0, 1).await.unwrap();
    assert_eq!(first, kept[..1]);
    let rest = s
        .pipeline
        .store()
        .announcements(first[0].0, 10_000)
        .await
        .unwrap();
    assert_eq!(rest, kept[1..]);
    s.pipeline
        .store()
        .forget_announcements(&[kept[0].0, 999_999_999])
        .await
        .unwrap();
    assert_eq!(all(&s).await, kept[1..], "only what was named is forgotten");
}

/// Changes held for approval announce themselves, and how they end:
/// approved (with the update going out), superseded by a newer edit,
/// rejected.
pub(super) async fn held_changes_are_announced<S: Store>(store: S) {
    let s = announcing(store, Settings::default().with_approval(true)).await;
    let ev = CalendarEvent::launch("announce-2@example.com");
    let code = create(&s, &ev).await;
    invite(&s, &code, "ana2@example.org").await;
    deliver(&s).await;
    s.advance(60);
    assert!(matches!(
        s.reply("ana2@example.org", "ACCEPTED").await,
        Ok(Outcome::AnswerRecorded(_))
    ));
    take(&s).await;

    let edit1 = ev.clone().edited(|e| e.location = Some("Room 1".into()));
    let edit2 = edit1.clone().edited(|e| e.location = Some("Room 2".into()));
    let edit3 = edit2.clone().edited(|e| e.location = Some("Room 3".into()));
    let first = match s.organizer_sends(&edit1).await {
        Ok(Outcome::PendingApproval(_, id)) => id,
        other => panic!("{other:?}"),
    };
    let second = match s.organizer_sends(&edit2).await {
        Ok(Outcome::PendingApproval(_, id)) => id,
        other => panic!("{other:?}"),
    };
    let held = take(&s).await;
    assert_eq!(
        types(&held),
        ["pending.created", "pending.superseded", "pending.created"]
    );
    let pending = |a: &Announcement| match &a.kind {
        AnnouncementKind::PendingCreated { id, recipients, .. } => (id.clone(), Some(*recipients)),
        AnnouncementKind::PendingResolved { id, .. } => (id.clone(), None),
        other => panic!("{other:?}"),
    };
    assert_eq!(pending(&held[0]), (first.clone(), Some(1)));
    assert_eq!(pending(&held[1]), (first, None));
    assert_eq!(pending(&held[2]), (second.clone(), Some(1)));

    assert!(matches!(
        s.pipeline.approve(s.scope(), &second).await,
        Ok(Outcome::Resolved(_, PendingState::Approved))
    ));
    let approved = take(&s).await;
    assert_eq!(types(&approved), ["pending.approved", "event.updated"]);
    assert_eq!(pending(&approved[0]), (second, None));

    let third = match s.organizer_sends(&edit3).await {
        Ok(Outcome::PendingApproval(_, id)) => id,
        other => panic!("{other:?}"),
    };
    assert!(matches!(
        s.pipeline.reject(s.scope(), &third).await,
        Ok(Outcome::Resolved(_, PendingState::Rejected))
    ));
    assert_eq!(
        types(&take(&s).await),
        ["pending.created", "pending.rejected"]
    );
    // Resolving it again changes nothing and announces nothing.
    let _ = s.pipeline.reject(s.scope(), &third).await;
    let _ = s
        .pipeline
        .approve(s.scope(), &PendingChangeId::new("no-such-change"))
        .await;
    assert!(all(&s).await.is_empty());
}

/// A list job announces its start, each page it records (with how many
/// rows invited someone), and each move; unsubscribes and suppressions by
/// hand announce the address suppressed (the owner's, with no organizer).
pub(super) async fn lists_and_suppressions_are_announced<S: Store>(store: S) {
    let s = announcing(store, Settings::default()).await;
    let code = create(&s, &CalendarEvent::launch("announce-3@example.com")).await;
    take(&s).await;
    let job = s
        .pipeline
        .start_list(s.scope(), &code, "guests")
        .await
        .unwrap();
    let entries = vec![
        ListEntry::recipient(2, Recipient::new(addr("l1@example.org"))),
        ListEntry::recipient(3, Recipient::new(addr("l2@example.org"))),
        ListEntry::recipient(4, Recipient::new(addr("l1@example.org"))),
    ];
    s.pipeline
        .feed_list(s.scope(), &job.id, entries)
        .await
        .unwrap();
    s.pipeline.pause_list(s.scope(), &job.id).await.unwrap();
    let progress: Vec<(ListJobState, u64, u64)> = take(&s)
        .await
        .iter()
        .map(|a| match &a.kind {
            AnnouncementKind::ListProgress {
                job: j,
                code: c,
                name,
                state,
                recorded,
                invited,
                ..
            } => {
                assert_eq!((j, c, name.as_str()), (&job.id, &code, "guests"));
                (*state, *recorded, *invited)
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        progress,
        [
            (ListJobState::Running, 0, 0),
            (ListJobState::Running, 3, 2),
            (ListJobState::Paused, 0, 0),
        ]
    );

    s.pipeline
        .suppress(
            s.owner.id,
            addr("gone@example.org"),
            SuppressionReason::Complaint,
        )
        .await
        .unwrap();
    let by_hand = take(&s).await;
    assert_eq!(types(&by_hand), ["delivery.suppressed"]);
    assert_eq!((by_hand[0].owner, by_hand[0].organizer), (s.owner.id, None));
    assert!(matches!(
        &by_hand[0].kind,
        AnnouncementKind::Suppressed { address, reason: SuppressionReason::Complaint, code: None, .. } if address.as_str() == "gone@example.org"
    ));
}

/// A pipeline that does not announce writes none.
pub(super) async fn a_pipeline_that_does_not_announce_writes_none<S: Store>(store: S) {
    let s = Scenario::new(store, Settings::default())
        .await
        .unwrap_or_else(|e| panic!("scenario setup failed: {e}"));
    let code = create(&s, &CalendarEvent::launch("announce-4@example.com")).await;
    invite(&s, &code, "ana2@example.org").await;
    deliver(&s).await;
    s.advance(60);
    assert!(matches!(
        s.reply("ana2@example.org", "TENTATIVE").await,
        Ok(Outcome::AnswerRecorded(_))
    ));
    assert!(all(&s).await.is_empty(), "this pipeline does not announce");
}

/// Announcements are written with their commit or not at all, kept as
/// written and in the order written.
pub(super) async fn announcements_commit_or_roll_back_with_their_changes<S: Store>(store: S) {
    let s = announcing(store, Settings::default()).await;
    create(&s, &CalendarEvent::launch("announce-5@example.com")).await;
    s.pipeline
        .suppress(
            s.owner.id,
            addr("x@example.org"),
            SuppressionReason::Unsubscribed,
        )
        .await
        .unwrap();
    let made = take(&s).await;
    assert_eq!(types(&made), ["event.created", "delivery.suppressed"]);
    let (one, two) = (made[0].clone(), made[1].clone());
    let store = s.pipeline.store();
    let failed = store
        .commit(vec![
            Change::Announce(one.clone()),
            Change::ResolvePending {
                id: PendingChangeId::new("missing"),
                state: PendingState::Approved,
            },
        ])
        .await;
    assert!(matches!(failed, Err(StoreError::Conflict(_))), "{failed:?}");
    assert!(all(&s).await.is_empty(), "rolled back with its commit");
    store
        .commit(vec![
            Change::Announce(two.clone()),
            Change::Announce(one.clone()),
        ])
        .await
        .unwrap();
    let kept = all(&s).await;
    assert_eq!(
        kept.iter().map(|(_, a)| a.clone()).collect::<Vec<_>>(),
        [two, one],
        "kept as written, in order"
    );
    assert!(kept[0].0 < kept[1].0);
    assert_eq!(kept[0].1.organizer, None);
    assert_eq!(
        kept[0].1.announcement_type(),
        AnnouncementType::DeliverySuppressed
    );
}
