//! Store-free tests of the changes room's decisions.

use super::super::fixtures::*;
use super::super::sending::AudiencePage;
use super::*;
use crate::targeting::UpdateAudience;
use crate::time::OccurrenceId;

fn held(e: &StoredEvent, kind: PendingKind) -> PendingChange {
    let inv = invitation(e, 1, "yes@example.org", None, DeliveryState::Sent);
    PendingChange {
        id: "p1".into(),
        scope: e.scope,
        code: e.code.clone(),
        kind,
        base_sequence: e.sent_sequence,
        recipients: vec![PlannedMessage {
            token: inv.token.clone(),
            address: inv.recipient.address().clone(),
            kind: MessageKind::Update,
        }],
        created_at: before(),
        state: PendingState::Open,
    }
}

fn listed(p: &PendingChange) -> Vec<InvitationToken> {
    p.recipients.iter().map(|r| r.token.clone()).collect()
}

#[test]
fn rejecting_a_held_change_sends_nothing() {
    let e = event("Launch v2", false);
    let settings = Settings::default().with_approval(true);
    for kind in [PendingKind::Update, PendingKind::Cancel] {
        let p = held(&e, kind);
        let (changes, state) =
            resolution(&p, &e, false, &settings, &mut || unreachable!()).expect("resolved");
        assert_eq!(state, PendingState::Rejected);
        assert_eq!(
            changes,
            vec![Change::ResolvePending {
                id: "p1".into(),
                state: PendingState::Rejected,
            }]
        );
    }
}

#[test]
fn approving_a_change_the_event_moved_past_supersedes_it() {
    let mut e = event("Launch v3", false);
    let p = held(&e, PendingKind::Update);
    e.sent_sequence = e.sent_sequence.next();
    let (changes, state) =
        resolution(&p, &e, true, &Settings::default(), &mut || unreachable!()).expect("ok");
    assert_eq!(state, PendingState::Superseded);
    assert_eq!(
        changes,
        vec![Change::ResolvePending {
            id: "p1".into(),
            state: PendingState::Superseded,
        }]
    );
}

#[test]
fn approving_an_update_sends_the_next_revision_to_those_listed() {
    let e = event("Launch v2", false);
    let p = held(&e, PendingKind::Update);
    let settings = Settings::default().with_audience(UpdateAudience::NotDeclined);
    let (changes, state) = resolution(&p, &e, true, &settings, &mut names()).expect("approved");
    assert_eq!(state, PendingState::Approved);
    let s1 = Sequence::INITIAL.next();
    let mut next = e.clone();
    next.sent_sequence = s1;
    assert_eq!(
        changes,
        vec![
            Change::ResolvePending {
                id: "p1".into(),
                state: PendingState::Approved,
            },
            Change::InsertRevision {
                code: e.code.clone(),
                sequence: s1,
                event: e.latest.clone(),
            },
            Change::PutFanOut(FanOut {
                id: "fan-1".into(),
                scope: e.scope,
                code: e.code.clone(),
                kind: MessageKind::Update,
                sequence: s1,
                audience: FanOutAudience::Approved {
                    listed: listed(&p),
                    planned_at: before(),
                    then: Box::new(FanOutAudience::Update(UpdateAudience::NotDeclined)),
                },
                cursor: None,
            }),
            Change::UpdateEvent {
                expected: 4,
                event: next,
            },
        ]
    );
}

#[test]
fn approving_a_cancellation_cancels_the_event_for_those_listed() {
    let e = event("Launch", false);
    let p = held(&e, PendingKind::Cancel);
    let (changes, state) =
        resolution(&p, &e, true, &Settings::default(), &mut names()).expect("approved");
    assert_eq!(state, PendingState::Approved);
    let s1 = Sequence::INITIAL.next();
    let cancelled = engine::cancelled(&e.latest).expect("cancelled");
    let mut next = e.clone();
    next.latest = cancelled.clone();
    next.cancelled = true;
    next.sent_sequence = s1;
    assert_eq!(
        changes,
        vec![
            Change::ResolvePending {
                id: "p1".into(),
                state: PendingState::Approved,
            },
            Change::InsertRevision {
                code: e.code.clone(),
                sequence: s1,
                event: cancelled,
            },
            Change::PutFanOut(FanOut {
                id: "fan-1".into(),
                scope: e.scope,
                code: e.code.clone(),
                kind: MessageKind::Cancellation,
                sequence: s1,
                audience: FanOutAudience::Approved {
                    listed: listed(&p),
                    planned_at: before(),
                    then: Box::new(FanOutAudience::Cancellation),
                },
                cursor: None,
            }),
            Change::UpdateEvent {
                expected: 4,
                event: next,
            },
        ]
    );
}

#[test]
fn cancelling_instances_sends_one_revision_per_instance() {
    let e = weekly();
    let week2 = day() + chrono::Days::new(7);
    let week3 = day() + chrono::Days::new(14);
    let ids = vec![OccurrenceId::On(week2), OccurrenceId::On(week3)];
    let mut next = e.clone();
    let mut changes = Vec::new();
    cancel_now(
        &e,
        &mut next,
        Some(ids.clone()),
        FanOutAudience::Cancellation,
        &mut changes,
        &mut names(),
    )
    .expect("cancelled");
    assert!(!next.cancelled, "the other instances go on");
    assert_eq!(next.sent_sequence, Sequence::new(2));
    let exceptions = next.latest.recurrence().map(|r| r.exceptions().to_vec());
    assert_eq!(exceptions, Some(ids.clone()));
    let fans: Vec<_> = changes
        .iter()
        .filter_map(|c| match c {
            Change::PutFanOut(f) => Some((f.id.clone(), f.kind, f.sequence)),
            _ => None,
        })
        .collect();
    assert_eq!(
        fans,
        vec![
            (
                "fan-1".to_owned(),
                MessageKind::InstanceCancellation(ids[0]),
                Sequence::new(1)
            ),
            (
                "fan-2".to_owned(),
                MessageKind::InstanceCancellation(ids[1]),
                Sequence::new(2)
            ),
        ]
    );
    let revisions: Vec<_> = changes
        .iter()
        .filter_map(|c| match c {
            Change::InsertRevision { sequence, .. } => Some(*sequence),
            _ => None,
        })
        .collect();
    assert_eq!(revisions, vec![Sequence::new(1), Sequence::new(2)]);
}

#[test]
fn cancelling_the_whole_event_marks_it_cancelled() {
    let e = event("Launch", false);
    let mut next = e.clone();
    let mut changes = Vec::new();
    cancel_now(
        &e,
        &mut next,
        None,
        FanOutAudience::Cancellation,
        &mut changes,
        &mut names(),
    )
    .expect("cancelled");
    assert!(next.cancelled);
    assert_eq!(next.sent_sequence, Sequence::new(1));
    assert_eq!(changes.len(), 2);
    assert!(matches!(&changes[1],
        Change::PutFanOut(f) if f.kind == MessageKind::Cancellation
            && f.audience == FanOutAudience::Cancellation));
}

fn open_update(e: &StoredEvent) -> PendingChange {
    let mut p = held(e, PendingKind::Update);
    p.id = "old".into();
    p
}

fn superseded(id: &str) -> Change {
    Change::ResolvePending {
        id: id.into(),
        state: PendingState::Superseded,
    }
}

/// The organizer's new version of `e`, titled `summary`.
fn edited(e: &StoredEvent, summary: &str) -> StoredEvent {
    let mut next = e.clone();
    next.latest = event(summary, false).latest;
    next.organizer_sequence = Sequence::new(1);
    next
}

#[test]
fn an_edit_goes_out_at_once_to_the_update_audience() {
    let e = event("Launch", false);
    let next = edited(&e, "Launch, room 4");
    let settings = Settings::default().with_audience(UpdateAudience::Everyone);
    let open = [open_update(&e)];
    let decided = publication(
        &e,
        next.clone(),
        &e.latest,
        &open,
        &settings,
        before(),
        &mut names(),
    );
    let s1 = Sequence::new(1);
    let mut sent = next.clone();
    sent.sent_sequence = s1;
    assert_eq!(
        decided,
        Decided::Done(
            vec![
                superseded("old"),
                Change::InsertRevision {
                    code: e.code.clone(),
                    sequence: s1,
                    event: next.latest.clone(),
                },
                Change::UpdateEvent {
                    expected: 4,
                    event: sent,
                },
                Change::PutFanOut(FanOut {
                    id: "fan-1".into(),
                    scope: e.scope,
                    code: e.code.clone(),
                    kind: MessageKind::Update,
                    sequence: s1,
                    audience: FanOutAudience::Update(UpdateAudience::Everyone),
                    cursor: None,
                }),
            ],
            Outcome::RevisionSent(e.code.clone(), s1)
        )
    );
}

#[test]
fn an_edit_back_to_what_recipients_hold_sends_nothing_and_supersedes_the_held_one() {
    let e = event("Launch", false);
    let next = edited(&e, "Launch");
    let open = [open_update(&e)];
    let settings = Settings::default().with_approval(true);
    let decided = publication(
        &e,
        next.clone(),
        &e.latest,
        &open,
        &settings,
        before(),
        &mut || unreachable!(),
    );
    assert_eq!(
        decided,
        Decided::Done(
            vec![
                superseded("old"),
                Change::UpdateEvent {
                    expected: 4,
                    event: next,
                },
            ],
            Outcome::Unchanged(e.code.clone())
        )
    );
}

#[test]
fn an_edit_of_a_past_event_is_kept_and_nobody_is_mailed() {
    let e = event("Launch", false);
    let next = edited(&e, "Launch (notes)");
    let decided = publication(
        &e,
        next.clone(),
        &e.latest,
        &[],
        &Settings::default(),
        after(),
        &mut || unreachable!(),
    );
    let Decided::Done(changes, Outcome::Refused(r)) = decided else {
        panic!("refused: {decided:?}")
    };
    assert_eq!(r.reason, RefusalReason::EventEnded);
    assert!(matches!(&changes[0], Change::Refuse(rec) if rec.refusal == r));
    assert_eq!(
        changes[1],
        Change::UpdateEvent {
            expected: 4,
            event: next,
        }
    );
    assert_eq!(changes.len(), 2);
}

#[test]
fn the_approval_switch_holds_an_update_for_those_it_would_reach() {
    let e = event("Launch", false);
    let next = edited(&e, "Launch, moved");
    let settings = Settings::default().with_approval(true);
    let open = [open_update(&e)];
    let decided = publication(
        &e,
        next.clone(),
        &e.latest,
        &open,
        &settings,
        before(),
        &mut || unreachable!(),
    );
    let Decided::Held(hold) = decided else {
        panic!("held: {decided:?}")
    };
    assert_eq!(
        *hold,
        Hold {
            changes: vec![superseded("old")],
            kind: PendingKind::Update,
            message: MessageKind::Update,
            audience: FanOutAudience::Update(UpdateAudience::AcceptedOrTentative),
            next: next.clone(),
        }
    );
    // Its audience, as read: the default rule lists Yes and Maybe.
    let yes = invitation(
        &e,
        1,
        "yes@example.org",
        Some(ParticipationStatus::Accepted),
        DeliveryState::Sent,
    );
    let no = invitation(
        &e,
        2,
        "no@example.org",
        Some(ParticipationStatus::Declined),
        DeliveryState::Sent,
    );
    let pages = [page(vec![yes.clone(), no])];
    let listed = planned(&pages, &hold.audience, hold.message);
    let (changes, outcome) = super::held(&e, *hold, listed.clone(), "p9".into(), before());
    assert_eq!(
        outcome,
        Outcome::PendingApproval(e.code.clone(), "p9".into())
    );
    assert_eq!(
        listed,
        vec![PlannedMessage {
            token: yes.token.clone(),
            address: address("yes@example.org"),
            kind: MessageKind::Update,
        }]
    );
    assert_eq!(
        changes,
        vec![
            superseded("old"),
            Change::InsertPending(PendingChange {
                id: "p9".into(),
                scope: e.scope,
                code: e.code.clone(),
                kind: PendingKind::Update,
                base_sequence: Sequence::INITIAL,
                recipients: listed,
                created_at: before(),
                state: PendingState::Open,
            }),
            // Nothing is sent yet: the SEQUENCE recipients hold stays.
            Change::UpdateEvent {
                expected: 4,
                event: next,
            },
        ]
    );
}

#[test]
fn the_approval_switch_holds_a_cancellation_for_everyone_sent_a_request() {
    let e = event("Launch", false);
    let settings = Settings::default().with_approval(true);
    let decided = cancellation(
        &e,
        e.clone(),
        None,
        &[],
        &settings,
        before(),
        &mut || unreachable!(),
    )
    .expect("held");
    let Decided::Held(hold) = decided else {
        panic!("held: {decided:?}")
    };
    assert_eq!(
        (&hold.kind, hold.message, &hold.audience),
        (
            &PendingKind::Cancel,
            MessageKind::Cancellation,
            &FanOutAudience::Cancellation
        )
    );
    assert!(!hold.next.cancelled, "nothing is cancelled until approved");
    let no = invitation(
        &e,
        2,
        "no@example.org",
        Some(ParticipationStatus::Declined),
        DeliveryState::Sent,
    );
    let gone = invitation(&e, 3, "gone@example.org", None, DeliveryState::HardBounced);
    let pages = [page(vec![no.clone(), gone])];
    let listed = planned(&pages, &hold.audience, hold.message);
    assert_eq!(
        listed.iter().map(|p| &p.token).collect::<Vec<_>>(),
        vec![&no.token]
    );
    // Instances: held as such, the first one named in the plan.
    let w = weekly();
    let week2 = OccurrenceId::On(day() + chrono::Days::new(7));
    let Ok(Decided::Held(hold)) = cancellation(
        &w,
        w.clone(),
        Some(vec![week2]),
        &[],
        &settings,
        before(),
        &mut || unreachable!(),
    ) else {
        panic!("held")
    };
    assert_eq!(hold.kind, PendingKind::CancelInstances(vec![week2]));
    assert_eq!(hold.message, MessageKind::InstanceCancellation(week2));
}

#[test]
fn a_cancellation_goes_out_at_once_without_the_switch() {
    let e = event("Launch", false);
    let open = [open_update(&e)];
    let decided = cancellation(
        &e,
        e.clone(),
        None,
        &open,
        &Settings::default(),
        before(),
        &mut names(),
    )
    .expect("cancelled");
    let Decided::Done(changes, outcome) = decided else {
        panic!("done: {decided:?}")
    };
    assert_eq!(outcome, Outcome::Cancelled(e.code.clone()));
    assert_eq!(changes[0], superseded("old"));
    assert!(matches!(&changes[2], Change::PutFanOut(f)
        if f.audience == FanOutAudience::Cancellation && f.id == "fan-1"));
    assert!(matches!(&changes[3], Change::UpdateEvent { event, .. }
        if event.cancelled && event.sent_sequence == Sequence::new(1)));
    assert_eq!(changes.len(), 4);
}

#[test]
fn a_cancellation_is_refused_recorded_or_unchanged_when_nothing_is_to_send() {
    let dead = event("Launch", true);
    let settings = Settings::default();
    let r = cancellation(
        &dead,
        dead.clone(),
        None,
        &[],
        &settings,
        before(),
        &mut || unreachable!(),
    )
    .expect_err("already cancelled");
    assert_eq!(r.reason, RefusalReason::EventCancelled);
    // Over: recorded as cancelled, nobody mailed.
    let e = event("Launch", false);
    let Ok(Decided::Done(changes, Outcome::Refused(r))) = cancellation(
        &e,
        e.clone(),
        None,
        &[],
        &settings,
        after(),
        &mut || unreachable!(),
    ) else {
        panic!("recorded")
    };
    assert_eq!(r.reason, RefusalReason::EventEnded);
    assert!(matches!(&changes[1], Change::UpdateEvent { event, .. } if event.cancelled));
    // An instance already cancelled: unchanged.
    let w = weekly();
    let week2 = OccurrenceId::On(day() + chrono::Days::new(7));
    let mut next = w.clone();
    cancel_now(
        &w,
        &mut next,
        Some(vec![week2]),
        FanOutAudience::Cancellation,
        &mut Vec::new(),
        &mut names(),
    )
    .expect("cancelled");
    let decided = cancellation(
        &w,
        next.clone(),
        Some(vec![week2]),
        &[],
        &settings,
        before(),
        &mut || unreachable!(),
    )
    .expect("unchanged");
    assert_eq!(
        decided,
        Decided::Done(
            vec![Change::UpdateEvent {
                expected: 4,
                event: next,
            }],
            Outcome::Unchanged(w.code.clone())
        )
    );
}

#[test]
fn a_change_to_a_past_event_is_announced_as_not_mailed() {
    let e = event("Launch", false);
    let kinds = |changes: &[Change]| -> Vec<AnnouncementKind> {
        announced(&e, changes, after())
            .into_iter()
            .map(|a| {
                assert_eq!(
                    (a.owner, a.organizer, a.at),
                    (e.scope.owner, Some(e.scope.organizer), after())
                );
                a.kind
            })
            .collect()
    };
    let Decided::Done(changes, _) = publication(
        &e,
        edited(&e, "Launch (notes)"),
        &e.latest,
        &[],
        &Settings::default(),
        after(),
        &mut || unreachable!(),
    ) else {
        panic!("kept")
    };
    assert_eq!(
        kinds(&changes),
        [AnnouncementKind::EventUpdated {
            code: e.code.clone(),
            sequence: e.sent_sequence,
            mailed: false,
        }]
    );
    let Ok(Decided::Done(changes, _)) = cancellation(
        &e,
        e.clone(),
        None,
        &[],
        &Settings::default(),
        after(),
        &mut || unreachable!(),
    ) else {
        panic!("recorded")
    };
    assert_eq!(
        kinds(&changes),
        [AnnouncementKind::EventCancelled {
            code: e.code.clone(),
            sequence: e.sent_sequence,
            instances: Vec::new(),
            mailed: false,
        }]
    );
    // Unchanged: nothing to announce.
    let Decided::Done(changes, Outcome::Unchanged(_)) = publication(
        &e,
        e.clone(),
        &e.latest,
        &[],
        &Settings::default(),
        before(),
        &mut || unreachable!(),
    ) else {
        panic!("unchanged")
    };
    assert!(kinds(&changes).is_empty());
}

/// A page as `read_audience` returns it, nobody suppressed.
fn page(invitations: Vec<Invitation>) -> AudiencePage {
    AudiencePage {
        invitations,
        suppressed: Default::default(),
    }
}
