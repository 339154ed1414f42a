//! Store-free tests of the sending room's decisions.

use super::super::fixtures::*;
use super::*;
use crate::targeting::UpdateAudience;
use ParticipationStatus::{Accepted, Declined, Tentative};

fn reason(r: Option<Refusal>) -> Option<RefusalReason> {
    r.map(|r| r.reason)
}

fn pending(e: &StoredEvent, kind: PendingKind) -> PendingChange {
    PendingChange {
        id: "p1".into(),
        scope: e.scope,
        code: e.code.clone(),
        kind,
        base_sequence: e.sent_sequence,
        recipients: Vec::new(),
        created_at: before(),
        state: PendingState::Open,
    }
}

fn suppression(a: &str) -> Suppression {
    Suppression {
        owner: OwnerId(1),
        address: address(a),
        reason: SuppressionReason::Unsubscribed,
        at: before(),
    }
}

#[test]
fn an_invitation_is_refused_for_each_reason_in_order() {
    let (o, live) = (owner(), event("Launch", false));
    let jorg = address("jorg@example.org");
    let refusal =
        |e: &StoredEvent,
         p: &[PendingChange],
         s: Option<&Suppression>,
         a: &EmailAddress,
         now: DateTime<Utc>| { reason(invitation_refusal(&o, e, p, s, a, now)) };
    assert_eq!(refusal(&live, &[], None, &jorg, before()), None);
    // An update waiting for approval does not stop new invitations.
    let update = [pending(&live, PendingKind::Update)];
    assert_eq!(refusal(&live, &update, None, &jorg, before()), None);
    let cancel = [pending(&live, PendingKind::Cancel)];
    assert_eq!(
        refusal(&live, &cancel, None, &jorg, before()),
        Some(RefusalReason::CancellationPending)
    );
    let instances = [pending(&live, PendingKind::CancelInstances(vec![]))];
    assert_eq!(
        refusal(&live, &instances, None, &jorg, before()),
        Some(RefusalReason::CancellationPending)
    );
    assert_eq!(
        refusal(&live, &[], None, &jorg, after()),
        Some(RefusalReason::EventEnded)
    );
    for own in [
        o.ingest.clone(),
        o.reply.clone(),
        o.bounce.clone(),
        organizer(),
    ] {
        assert_eq!(
            refusal(&live, &[], None, &own, before()),
            Some(RefusalReason::OwnAddress),
            "{own}"
        );
    }
    let s = suppression("jorg@example.org");
    assert_eq!(
        refusal(&live, &[], Some(&s), &jorg, before()),
        Some(RefusalReason::Suppressed)
    );
    // The order: cancelled before pending, pending before ended, ended
    // before the address, the address before the suppression.
    let dead = event("Launch", true);
    assert_eq!(
        refusal(&dead, &cancel, Some(&s), &o.reply, after()),
        Some(RefusalReason::EventCancelled)
    );
    assert_eq!(
        refusal(&live, &cancel, Some(&s), &o.reply, after()),
        Some(RefusalReason::CancellationPending)
    );
    assert_eq!(
        refusal(&live, &[], Some(&s), &o.reply, after()),
        Some(RefusalReason::EventEnded)
    );
    assert_eq!(
        refusal(&live, &[], Some(&s), &o.reply, before()),
        Some(RefusalReason::OwnAddress)
    );
}

#[test]
fn inviting_twice_returns_the_existing_invitation_and_sends_nothing() {
    let (o, e) = (owner(), event("Launch", false));
    let existing = invitation(&e, 1, "jorg@example.org", None, DeliveryState::Sent);
    let recipient = Recipient::new(address("jorg@example.org"));
    let mut drawn = false;
    let read = InviteRead {
        owner: &o,
        event: &e,
        existing: Some(&existing),
        pending: &[],
        suppression: None,
    };
    let decided = invitation_decision(
        &read,
        &recipient,
        &InvitationSource::Api,
        || {
            drawn = true;
            Ok::<_, PipelineError>(InvitationToken::generate(&crate::SequentialIds::new(2)))
        },
        before(),
    )
    .expect("decided");
    assert_eq!(decided, Invite::Already(existing.token.clone()));
    assert!(!drawn, "no token is drawn for an existing invitation");
    // Even once the event is over or cancelled: the answer is the same.
    let dead = event("Launch", true);
    let read = InviteRead {
        event: &dead,
        ..read
    };
    let again = invitation_decision(
        &read,
        &recipient,
        &InvitationSource::Api,
        || -> Result<InvitationToken, PipelineError> { unreachable!() },
        after(),
    )
    .expect("decided");
    assert_eq!(again, Invite::Already(existing.token));
}

#[test]
fn a_new_invitation_is_written_with_its_message_and_history() {
    let (o, mut e) = (owner(), event("Launch", false));
    e.sent_sequence = Sequence::INITIAL.next();
    let recipient = Recipient::new(address("jorg@example.org"));
    let token = InvitationToken::generate(&crate::SequentialIds::new(5));
    let read = InviteRead {
        owner: &o,
        event: &e,
        existing: None,
        pending: &[],
        suppression: None,
    };
    let source = InvitationSource::Api;
    let decided = invitation_decision(
        &read,
        &recipient,
        &source,
        || Ok::<_, PipelineError>(token.clone()),
        before(),
    )
    .expect("decided");
    let invitation = new_invitation(&e, token.clone(), &recipient, &source, before());
    assert_eq!(invitation.sequence_held, Some(e.sent_sequence));
    assert_eq!(invitation.delivery, DeliveryState::Queued);
    assert_eq!((invitation.status, invitation.sent_at), (None, None));
    let key = IdempotencyKey::new(token.clone(), e.sent_sequence, Method::Request, 0);
    let expected = vec![
        Change::InsertInvitation(invitation),
        Change::Enqueue(Delivery {
            key: DeliveryKey::Invitation(key),
            owner: OwnerId(1),
            payload: Payload::Invitation {
                code: e.code.clone(),
                token: token.clone(),
                kind: MessageKind::Invitation,
                sequence: e.sent_sequence,
                copy: 0,
            },
            attempts: 0,
            due: before(),
            state: QueueState::Queued,
            last_error: None,
            group: None,
        }),
        Change::AppendHistory(HistoryEntry {
            token: token.clone(),
            at: before(),
            kind: HistoryKind::Queued {
                kind: MessageKind::Invitation,
                sequence: e.sent_sequence,
            },
        }),
    ];
    assert_eq!(decided, Invite::New(token, expected));
    // A suppressed address is refused, nothing written.
    let s = suppression("jorg@example.org");
    let read = InviteRead {
        suppression: Some(&s),
        ..read
    };
    let refused = invitation_decision(
        &read,
        &recipient,
        &source,
        || -> Result<InvitationToken, PipelineError> { unreachable!() },
        before(),
    )
    .expect("decided");
    assert!(matches!(refused, Invite::Refused(r) if r.reason == RefusalReason::Suppressed));
    // The refusal names an internationalised address as people write it
    // (U-labels), not in its wire form.
    let idn = Recipient::new(EmailAddress::parse("jörg@bücher-müller.de").expect("an IDN address"));
    let s = suppression("jörg@bücher-müller.de");
    let read = InviteRead {
        suppression: Some(&s),
        ..read
    };
    let refused = invitation_decision(
        &read,
        &idn,
        &source,
        || -> Result<InvitationToken, PipelineError> { unreachable!() },
        before(),
    )
    .expect("decided");
    match refused {
        Invite::Refused(r) => assert_eq!(
            r.detail,
            "jörg@bücher-müller.de is suppressed (unsubscribed)"
        ),
        other => panic!("{other:?}"),
    }
}

/// The tokens a batch queues a message for, in order.
fn queued(changes: &[Change]) -> Vec<InvitationToken> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Enqueue(Delivery {
                payload: Payload::Invitation { token, .. },
                ..
            }) => Some(token.clone()),
            _ => None,
        })
        .collect()
}

struct Crowd {
    event: StoredEvent,
    yes: Invitation,
    maybe: Invitation,
    no: Invitation,
    silent: Invitation,
    bounced: Invitation,
    suppressed: Invitation,
    cancelled: Invitation,
    never_sent: Invitation,
}

/// One invitation in each state, tokens in this order.
fn crowd() -> Crowd {
    let e = event("Launch", false);
    let inv = |n, who, status, delivery| invitation(&e, n, who, status, delivery);
    let mut cancelled = inv(7, "gone@example.org", Some(Accepted), DeliveryState::Sent);
    cancelled.cancelled = true;
    let mut never_sent = inv(8, "late@example.org", None, DeliveryState::Queued);
    never_sent.sequence_held = None;
    Crowd {
        yes: inv(1, "yes@example.org", Some(Accepted), DeliveryState::Sent),
        maybe: inv(
            2,
            "maybe@example.org",
            Some(Tentative),
            DeliveryState::Delivered,
        ),
        no: inv(3, "no@example.org", Some(Declined), DeliveryState::Sent),
        silent: inv(4, "silent@example.org", None, DeliveryState::Sent),
        bounced: inv(
            5,
            "bounced@example.org",
            Some(Accepted),
            DeliveryState::HardBounced,
        ),
        suppressed: inv(6, "unsub@example.org", Some(Accepted), DeliveryState::Sent),
        cancelled,
        never_sent,
        event: e,
    }
}

impl Crowd {
    fn page(&self) -> Vec<Invitation> {
        [
            &self.yes,
            &self.maybe,
            &self.no,
            &self.silent,
            &self.bounced,
            &self.suppressed,
            &self.cancelled,
            &self.never_sent,
        ]
        .into_iter()
        .cloned()
        .collect()
    }
    fn suppressed(&self) -> Suppressed {
        Suppressed::from([(
            self.suppressed.recipient.address().clone(),
            SuppressionReason::Unsubscribed,
        )])
    }
    fn fan(&self, kind: MessageKind, audience: FanOutAudience) -> FanOut {
        FanOut {
            id: "fan-1".into(),
            scope: self.event.scope,
            code: self.event.code.clone(),
            kind,
            sequence: Sequence::INITIAL.next(),
            audience,
            cursor: None,
        }
    }
}

#[test]
fn an_update_goes_to_yes_and_maybe_by_default_and_moves_them_on() {
    let c = crowd();
    let fan = c.fan(
        MessageKind::Update,
        FanOutAudience::Update(UpdateAudience::default()),
    );
    let page = c.page();
    let (changes, planned) = fan_out_batch(&fan, &page, &c.suppressed(), 500, before());
    assert_eq!(planned, 2);
    let s1 = fan.sequence;
    let mut expected = Vec::new();
    for inv in [&c.yes, &c.maybe] {
        let mut next = inv.clone();
        next.sequence_held = Some(s1);
        expected.extend(queue_invitation(inv, MessageKind::Update, s1, 0, before()));
        expected.push(Change::UpdateInvitation {
            expected: 3,
            invitation: next,
        });
    }
    // A short page: the fan-out is done.
    expected.push(Change::RemoveFanOut("fan-1".into()));
    assert_eq!(changes, expected);
}

#[test]
fn each_update_audience_reaches_whom_it_says() {
    let c = crowd();
    let cases = [
        (UpdateAudience::AcceptedOrTentative, vec![&c.yes, &c.maybe]),
        (
            UpdateAudience::NotDeclined,
            vec![&c.yes, &c.maybe, &c.silent],
        ),
        (
            UpdateAudience::Everyone,
            vec![&c.yes, &c.maybe, &c.no, &c.silent],
        ),
    ];
    for (rule, who) in cases {
        let fan = c.fan(MessageKind::Update, FanOutAudience::Update(rule));
        let (changes, planned) = fan_out_batch(&fan, &c.page(), &c.suppressed(), 500, before());
        let want: Vec<_> = who.iter().map(|i| i.token.clone()).collect();
        assert_eq!(queued(&changes), want, "{rule:?}");
        assert_eq!(planned, want.len());
    }
    // Someone who already holds the revision (a later joiner) gets no update.
    let mut joiner = c.yes.clone();
    joiner.sequence_held = Some(Sequence::INITIAL.next());
    let fan = c.fan(
        MessageKind::Update,
        FanOutAudience::Update(UpdateAudience::Everyone),
    );
    let (changes, planned) = fan_out_batch(&fan, &[joiner], &Suppressed::new(), 500, before());
    assert_eq!(
        (planned, changes),
        (0, vec![Change::RemoveFanOut("fan-1".into())])
    );
}

#[test]
fn a_cancellation_skips_an_address_that_hard_bounced_on_any_of_the_owners_mail() {
    let c = crowd();
    let fan = c.fan(MessageKind::Cancellation, FanOutAudience::Cancellation);
    // The "no" recipient's mailbox bounced permanently on another event of
    // the owner's since: the suppression says so. The unsubscribed one still
    // learns the event is off; only the hard bounce is left out.
    let mut suppressed = c.suppressed();
    suppressed.insert(
        c.no.recipient.address().clone(),
        SuppressionReason::HardBounce,
    );
    let (changes, planned) = fan_out_batch(&fan, &c.page(), &suppressed, 500, before());
    let want: Vec<_> = [&c.yes, &c.maybe, &c.silent, &c.suppressed]
        .iter()
        .map(|i| i.token.clone())
        .collect();
    assert_eq!(queued(&changes), want);
    assert_eq!(planned, 4);
    // A complaint is not a bounce: that address still gets the cancellation.
    suppressed.insert(
        c.no.recipient.address().clone(),
        SuppressionReason::Complaint,
    );
    let (changes, _) = fan_out_batch(&fan, &c.page(), &suppressed, 500, before());
    assert!(queued(&changes).contains(&c.no.token));
}

#[test]
fn a_cancellation_goes_to_everyone_sent_a_request_decliners_included_except_hard_bounces() {
    let c = crowd();
    let fan = c.fan(MessageKind::Cancellation, FanOutAudience::Cancellation);
    let (changes, planned) = fan_out_batch(&fan, &c.page(), &c.suppressed(), 500, before());
    let want: Vec<_> = [&c.yes, &c.maybe, &c.no, &c.silent, &c.suppressed]
        .iter()
        .map(|i| i.token.clone())
        .collect();
    assert_eq!(queued(&changes), want);
    assert_eq!(planned, 5);
    // Each is marked cancelled (its SEQUENCE held stays as it was).
    let mut next = c.no.clone();
    next.cancelled = true;
    assert!(changes.contains(&Change::UpdateInvitation {
        expected: 3,
        invitation: next,
    }));
    let key = IdempotencyKey::new(c.no.token.clone(), fan.sequence, Method::Cancel, 0);
    assert!(changes.iter().any(|ch| matches!(ch,
        Change::Enqueue(d) if d.key == DeliveryKey::Invitation(key.clone()))));
}

#[test]
fn a_full_page_moves_the_cursor_and_keeps_the_fan_out() {
    let c = crowd();
    let fan = c.fan(MessageKind::Cancellation, FanOutAudience::Cancellation);
    let page = [c.yes.clone(), c.no.clone()];
    let (changes, planned) = fan_out_batch(&fan, &page, &Suppressed::new(), 2, before());
    assert_eq!(planned, 2);
    let mut progressed = fan.clone();
    progressed.cursor = Some(c.no.token.clone());
    assert_eq!(changes.last(), Some(&Change::PutFanOut(progressed)));
    // An empty page ends it.
    let (changes, planned) = fan_out_batch(&fan, &[], &Suppressed::new(), 2, before());
    assert_eq!(
        (planned, changes),
        (0, vec![Change::RemoveFanOut("fan-1".into())])
    );
}

#[test]
fn an_approved_plan_reaches_those_listed_and_later_joiners_its_rule_includes() {
    let c = crowd();
    let planned_at = before();
    // Listed: yes, no (declined since), bounced (bounced since).
    let listed = vec![
        c.yes.token.clone(),
        c.no.token.clone(),
        c.bounced.token.clone(),
    ];
    let mut joiner = invitation(
        &c.event,
        9,
        "joiner@example.org",
        Some(Accepted),
        DeliveryState::Sent,
    );
    joiner.created_at = planned_at;
    let mut early_silent = c.maybe.clone();
    early_silent.created_at = planned_at - chrono::Duration::seconds(1);
    let approved = |then| FanOutAudience::Approved {
        listed: listed.clone(),
        planned_at,
        then: Box::new(then),
    };
    let cancel = approved(FanOutAudience::Cancellation);
    let l = listed_in(&cancel);
    assert_eq!(l.len(), 3);
    assert!(l.contains(&c.yes.token) && !l.contains(&c.maybe.token));
    assert!(listed_in(&FanOutAudience::Cancellation).is_empty());
    let none = Suppressed::new();
    let s1 = Some(Sequence::INITIAL.next());
    let update = approved(FanOutAudience::Update(UpdateAudience::default()));
    let check = |inv: &Invitation, audience: &FanOutAudience| {
        in_audience(inv, audience, s1, &none, &listed_in(audience))
    };
    assert!(check(&c.yes, &update));
    assert!(!check(&c.no, &update), "declined since: no update");
    assert!(!check(&c.bounced, &update), "bounced since");
    assert!(
        !check(&early_silent, &update),
        "not listed, not a later joiner"
    );
    assert!(check(&joiner, &update), "a later joiner the rule includes");
    assert!(
        check(&c.no, &cancel),
        "a decliner still hears of a cancellation"
    );
    assert!(!check(&c.bounced, &cancel));
    assert!(check(&joiner, &cancel));
    let mut gone = c.yes.clone();
    gone.cancelled = true;
    assert!(!check(&gone, &cancel), "already cancelled");
}

#[test]
fn a_plan_lists_the_audience_across_pages_in_order() {
    let c = crowd();
    let all = c.page();
    let pages = [
        AudiencePage {
            invitations: all[..4].to_vec(),
            suppressed: Suppressed::new(),
        },
        AudiencePage {
            invitations: all[4..].to_vec(),
            suppressed: c.suppressed(),
        },
    ];
    let tokens = |audience: &FanOutAudience, kind| -> Vec<InvitationToken> {
        planned(&pages, audience, kind)
            .into_iter()
            .inspect(|p| assert_eq!(p.kind, kind))
            .map(|p| p.token)
            .collect()
    };
    let update = FanOutAudience::Update(UpdateAudience::default());
    assert_eq!(
        tokens(&update, MessageKind::Update),
        vec![c.yes.token.clone(), c.maybe.token.clone()]
    );
    let everyone = FanOutAudience::Update(UpdateAudience::Everyone);
    assert_eq!(tokens(&everyone, MessageKind::Update).len(), 4);
    assert_eq!(
        tokens(&FanOutAudience::Cancellation, MessageKind::Cancellation),
        [&c.yes, &c.maybe, &c.no, &c.silent, &c.suppressed]
            .iter()
            .map(|i| i.token.clone())
            .collect::<Vec<_>>()
    );
    let first = &planned(&pages, &update, MessageKind::Update)[0];
    assert_eq!(first.address, address("yes@example.org"));
}
