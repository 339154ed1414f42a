//! A model-based test of one event's invitation lifecycle, for
//! `proptest-state-machine`, generic over the store.
//!
//! [`Model`] is the reference state machine: what the organizer's calendar
//! holds, what calinvite adopted and sent (SEQUENCE, content), the open
//! pending change, who is invited, the approval switch and the clock. It
//! predicts the outcome of every organizer and API step exactly.
//!
//! [`LifecycleTest`] runs the same steps on a [`Scenario`] over a store from a
//! [`StoreFactory`] (real iMIP messages in simulated time; every future runs
//! on the factory's executor, so SQL stores run the same machine), keeps a small
//! model of each recipient's answers (status, the (SEQUENCE, DTSTAMP) adopted
//! last) to predict replies, and after every step checks:
//!
//! - the store agrees with the reference model (SEQUENCE, cancelled, pending
//!   change, invitations, answers);
//! - a. the SEQUENCE each recipient sees, in inbox order, never decreases;
//! - b. once the event is cancelled, no REQUEST reaches anyone (and no
//!   recipient has a REQUEST after a CANCEL in their inbox);
//! - c. no update is queued for a recipient whose last answer at that moment
//!   is Declined (default and not-declined audiences);
//! - d. nobody gets a CANCEL twice; once the cancellation is planned and its
//!   message to a recipient settled as sent, every recipient who received a
//!   REQUEST and did not hard-bounce has exactly one CANCEL;
//! - e. the Message-IDs of everything the transport accepted are unique (and
//!   every accepted message reached an inbox the test knows);
//! - f. the event report equals a recount from the invitations' histories.

use std::collections::{BTreeMap, BTreeSet};
use std::marker::PhantomData;

use calinvite_core::inbound::{AuthVerdict, InboundEnvelope};
use calinvite_core::lifecycle::report::event_report;
use calinvite_core::lifecycle::{
    DeliveryKey, DeliveryState, HistoryEntry, HistoryKind, Invitation, InvitationSource, Outcome,
    PendingKind, PendingState, RefusalReason, Settings, TransportError,
};
use calinvite_core::spi::QueueState;
use calinvite_core::targeting::UpdateAudience;
use calinvite_core::{
    EmailAddress, EventCode, IdempotencyKey, MessageKind, Method, ParticipationStatus, Recipient,
    Sequence, Store,
};
use calinvite_tests::scenario::{CalendarEvent, ORGANIZER, Scenario, scenario_start};
use chrono::{TimeZone as _, Utc};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};

/// Makes the empty store each test case runs on, and runs its futures: every
/// future the machine awaits goes through [`StoreFactory::block_on`].
pub(crate) trait StoreFactory: 'static {
    /// The store.
    type S: Store;
    /// A new, empty one.
    fn make() -> Self::S;
    /// Runs a future to completion on the calling thread. The default is the
    /// test kit's `block_on`, which suits only stores that need no runtime
    /// (`MemoryStore`); a store doing I/O passes a real executor.
    fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
        calinvite_tests::block_on(future)
    }
    /// Releases what [`make`](StoreFactory::make) set up for a case (a
    /// database file, a schema) once the case is over, passed or failed.
    /// Runs while unwinding too: it must not panic. Nothing by default.
    fn finish(_store: &Self::S) {}
}

/// The people invitations go to (invited repeatedly on purpose).
pub(crate) const POOL: [&str; 6] = [
    "amy@example.org",
    "bo@example.net",
    "cy@example.org",
    "dee@example.net",
    "eli@example.org",
    "fay@example.net",
];

/// People a recipient forwards their invitation to.
const OUTSIDERS: [&str; 2] = ["friend@example.net", "colleague@example.org"];

const SUMMARIES: [&str; 2] = ["Product launch party", "Launch party and demos"];
const DESCRIPTIONS: [&str; 3] = [
    "Drinks and demos.",
    "Drinks and demos. Merch: 20% off tonight.",
    "Demos only.",
];
const LOCATIONS: [Option<&str>; 3] = [
    Some("Calle Mayor 1, Madrid"),
    Some("Plaza Mayor 3, Madrid"),
    None,
];
/// Local start and end in Madrid, and the end in UTC (December: UTC+1) as
/// (day of December, hour).
const TIMES: [(&str, &str, (u32, u32)); 3] = [
    ("20261203T180000", "20261203T200000", (3, 19)),
    ("20261203T190000", "20261203T210000", (3, 20)),
    ("20261204T100000", "20261204T120000", (4, 11)),
];

/// The properties recipients see ([D3](calinvite_core::manual::design#d3)), as
/// indexes into the tables above. `Content::default()` is
/// `CalendarEvent::launch`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Content {
    summary: u8,
    description: u8,
    location: u8,
    time: u8,
}

impl Content {
    fn with(mut self, field: Field, value: u8) -> Self {
        match field {
            Field::Summary => self.summary = value % SUMMARIES.len() as u8,
            Field::Description => self.description = value % DESCRIPTIONS.len() as u8,
            Field::Location => self.location = value % LOCATIONS.len() as u8,
            Field::Time => self.time = value % TIMES.len() as u8,
        }
        self
    }

    /// Seconds from the scenario's start to the event's end.
    fn ends_at(self) -> i64 {
        let (day, hour) = TIMES[usize::from(self.time)].2;
        let end = Utc.with_ymd_and_hms(2026, 12, day, hour, 0, 0).unwrap();
        (end - scenario_start()).num_seconds()
    }

    fn write(self, calendar: &mut CalendarEvent) {
        calendar.summary = SUMMARIES[usize::from(self.summary)].to_owned();
        calendar.description = DESCRIPTIONS[usize::from(self.description)].to_owned();
        calendar.location = LOCATIONS[usize::from(self.location)].map(str::to_owned);
        let (start, end, _) = TIMES[usize::from(self.time)];
        calendar.start = start.to_owned();
        calendar.end = end.to_owned();
    }
}

/// A property the organizer edits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    Summary,
    Description,
    Location,
    Time,
}

/// What a recipient's calendar answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    Accepted,
    Declined,
    Tentative,
    NeedsAction,
}

impl Answer {
    fn partstat(self) -> ParticipationStatus {
        match self {
            Answer::Accepted => ParticipationStatus::Accepted,
            Answer::Declined => ParticipationStatus::Declined,
            Answer::Tentative => ParticipationStatus::Tentative,
            Answer::NeedsAction => ParticipationStatus::NeedsAction,
        }
    }
}

/// What a mail server reports about the last message to a recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dsn {
    /// 5.x.x: a hard bounce.
    Failed,
    /// 4.x.x.
    Delayed,
    /// 2.0.0.
    Delivered,
}

/// The pending change the model expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pending {
    Update,
    Cancel,
}

/// One step.
#[derive(Clone, Debug)]
pub(crate) enum Transition {
    /// The API sends POOL[i] an invitation.
    Invite(usize),
    /// Fan-outs are planned and due messages sent; they land in inboxes.
    Deliver,
    /// POOL[who]'s calendar answers its latest REQUEST, or (`stale`) the
    /// oldest one it holds.
    Reply {
        who: usize,
        answer: Answer,
        stale: bool,
    },
    /// POOL[who]'s last reply is delivered again, byte for byte.
    ReplyAgain(usize),
    /// Someone POOL[holder] forwarded the invitation to answers it.
    Forward {
        holder: usize,
        outsider: usize,
        answer: Answer,
    },
    /// The organizer edits a property (maybe to the value it has).
    Edit(Field, u8),
    /// The organizer's calendar re-sends the event unchanged.
    Touch,
    /// The organizer deletes the event.
    Cancel,
    /// The approval switch is turned on or off.
    SetApproval(bool),
    /// The open pending change is approved.
    Approve,
    /// The open pending change is rejected.
    Reject,
    /// A delivery report about the last message POOL[who] received.
    Report { who: usize, dsn: Dsn },
    /// The relay fails the next message handed to it.
    FailNextSend { permanent: bool },
    /// Simulated time moves on.
    Advance(i64),
}

/// What the reference model expects a step to return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Expect {
    /// The step is checked by the recipients' model or by the invariants.
    Observed,
    Invited,
    AlreadyInvited,
    Revision(u64),
    PendingApproval,
    Unchanged,
    Cancelled,
    Resolved(PendingState),
    Refused(RefusalReason),
}

/// The reference model.
#[derive(Clone, Debug)]
pub(crate) struct ModelState {
    audience: UpdateAudience,
    approval: bool,
    /// What the organizer's calendar holds.
    calendar: Content,
    /// What calinvite adopted last (sent or pending).
    latest: Content,
    /// The revision recipients hold.
    sent: Content,
    /// calinvite's SEQUENCE of `sent`
    /// ([D2](calinvite_core::manual::design#d2)).
    sent_seq: u64,
    cancelled: bool,
    pending: Option<Pending>,
    invited: BTreeSet<usize>,
    /// Seconds since `scenario_start()`.
    now: i64,
    /// What the last step should have returned.
    expect: Expect,
}

impl ModelState {
    /// A new event (`CalendarEvent::launch`) with no invitation yet.
    pub(crate) fn initial(approval: bool, audience: UpdateAudience) -> Self {
        ModelState {
            audience,
            approval,
            calendar: Content::default(),
            latest: Content::default(),
            sent: Content::default(),
            sent_seq: 0,
            cancelled: false,
            pending: None,
            invited: BTreeSet::new(),
            now: 0,
            expect: Expect::Observed,
        }
    }

    fn ended(&self) -> bool {
        self.now >= self.latest.ends_at()
    }

    /// The organizer's calendar sends `calendar` as a new version.
    fn revise(&mut self) {
        if self.cancelled {
            self.expect = Expect::Refused(RefusalReason::EventCancelled);
            return;
        }
        self.latest = self.calendar;
        self.pending = None;
        self.expect = if self.latest == self.sent {
            Expect::Unchanged
        } else if self.now >= self.sent.ends_at() && self.now >= self.latest.ends_at() {
            // A past event (manual: interop rule 22): kept, not mailed.
            Expect::Refused(RefusalReason::EventEnded)
        } else if self.approval {
            self.pending = Some(Pending::Update);
            Expect::PendingApproval
        } else {
            self.sent = self.latest;
            self.sent_seq += 1;
            Expect::Revision(self.sent_seq)
        };
    }
}

/// The reference state machine.
pub(crate) struct Model;

impl ReferenceStateMachine for Model {
    type State = ModelState;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<ModelState> {
        let audience = prop_oneof![
            3 => Just(UpdateAudience::AcceptedOrTentative),
            1 => Just(UpdateAudience::NotDeclined),
            1 => Just(UpdateAudience::Everyone),
        ];
        (any::<bool>(), audience)
            .prop_map(|(approval, audience)| ModelState::initial(approval, audience))
            .boxed()
    }

    fn transitions(state: &ModelState) -> BoxedStrategy<Transition> {
        let who = 0..POOL.len();
        let answer = prop_oneof![
            3 => Just(Answer::Accepted),
            3 => Just(Answer::Declined),
            2 => Just(Answer::Tentative),
            1 => Just(Answer::NeedsAction),
        ];
        let real_answer = prop_oneof![
            Just(Answer::Accepted),
            Just(Answer::Declined),
            Just(Answer::Tentative),
        ];
        let field = prop_oneof![
            Just(Field::Summary),
            Just(Field::Description),
            Just(Field::Location),
            Just(Field::Time),
        ];
        let dsn = prop_oneof![Just(Dsn::Failed), Just(Dsn::Delayed), Just(Dsn::Delivered)];
        let advance = prop_oneof![
            Just(1_i64),
            Just(90),
            Just(600),
            Just(2 * 3600),
            Just(3 * 86400),
            Just(6 * 86400),
        ];
        // Answers and reports mostly come from people who were invited.
        let holder = if state.invited.is_empty() {
            who.clone().boxed()
        } else {
            prop_oneof![
                4 => proptest::sample::select(state.invited.iter().copied().collect::<Vec<_>>()),
                1 => who.clone(),
            ]
            .boxed()
        };
        let common = prop_oneof![
            6 => who.clone().prop_map(Transition::Invite),
            6 => Just(Transition::Deliver),
            8 => (holder.clone(), answer, any::<bool>())
                .prop_map(|(who, answer, stale)| Transition::Reply { who, answer, stale }),
            2 => holder.clone().prop_map(Transition::ReplyAgain),
            1 => (holder.clone(), 0..OUTSIDERS.len(), real_answer)
                .prop_map(|(holder, outsider, answer)| Transition::Forward { holder, outsider, answer }),
            3 => (field, 0..3_u8).prop_map(|(f, v)| Transition::Edit(f, v)),
            1 => Just(Transition::Touch),
            1 => Just(Transition::Cancel),
            1 => any::<bool>().prop_map(Transition::SetApproval),
            1 => (holder, dsn).prop_map(|(who, dsn)| Transition::Report { who, dsn }),
            2 => any::<bool>().prop_map(|permanent| Transition::FailNextSend { permanent }),
            3 => advance.prop_map(Transition::Advance),
        ];
        if state.pending.is_some() {
            prop_oneof![
                8 => common,
                1 => Just(Transition::Approve),
                1 => Just(Transition::Reject),
            ]
            .boxed()
        } else {
            common.boxed()
        }
    }

    fn preconditions(state: &ModelState, transition: &Transition) -> bool {
        match transition {
            Transition::Approve | Transition::Reject => state.pending.is_some(),
            _ => true,
        }
    }

    fn apply(mut state: ModelState, transition: &Transition) -> ModelState {
        state.expect = Expect::Observed;
        match transition {
            Transition::Invite(i) => {
                state.expect = if state.invited.contains(i) {
                    Expect::AlreadyInvited
                } else if state.cancelled {
                    Expect::Refused(RefusalReason::EventCancelled)
                } else if state.pending == Some(Pending::Cancel) {
                    Expect::Refused(RefusalReason::CancellationPending)
                } else if state.ended() {
                    Expect::Refused(RefusalReason::EventEnded)
                } else {
                    state.invited.insert(*i);
                    Expect::Invited
                };
            }
            Transition::Edit(field, value) => {
                state.calendar = state.calendar.with(*field, *value);
                state.revise();
            }
            Transition::Touch => state.revise(),
            Transition::Cancel => {
                state.expect = if state.cancelled {
                    Expect::Refused(RefusalReason::EventCancelled)
                } else if state.ended() {
                    // A past event (manual: interop rule 22): recorded, nobody is mailed.
                    state.pending = None;
                    state.cancelled = true;
                    Expect::Refused(RefusalReason::EventEnded)
                } else if state.approval {
                    state.pending = Some(Pending::Cancel);
                    Expect::PendingApproval
                } else {
                    state.pending = None;
                    state.cancelled = true;
                    state.sent_seq += 1;
                    Expect::Cancelled
                };
            }
            Transition::SetApproval(on) => state.approval = *on,
            Transition::Approve => {
                match state.pending.take() {
                    Some(Pending::Update) => {
                        state.sent = state.latest;
                        state.sent_seq += 1;
                    }
                    Some(Pending::Cancel) => {
                        state.cancelled = true;
                        state.sent_seq += 1;
                    }
                    None => {}
                }
                state.expect = Expect::Resolved(PendingState::Approved);
            }
            Transition::Reject => {
                state.pending = None;
                state.expect = Expect::Resolved(PendingState::Rejected);
            }
            Transition::Advance(seconds) => state.now += seconds,
            Transition::Deliver
            | Transition::Reply { .. }
            | Transition::ReplyAgain(_)
            | Transition::Forward { .. }
            | Transition::Report { .. }
            | Transition::FailNextSend { .. } => {}
        }
        state
    }
}

/// What the test knows of one recipient's answers.
#[derive(Clone, Debug, Default)]
struct Answers {
    /// The last answer adopted.
    status: Option<ParticipationStatus>,
    /// (SEQUENCE, DTSTAMP as seconds) of the last answer adopted
    /// ([interop rule 20](calinvite_core::manual::interop#rule-20)).
    mark: Option<(u64, i64)>,
    /// The last reply the recipient's calendar sent: bytes, SEQUENCE, DTSTAMP, answer.
    last: Option<(Vec<u8>, u64, i64, Answer)>,
}

impl Answers {
    /// What a reply by the invited person does: the outcome it must have, and
    /// the recipient's answers after it.
    fn expect(&self, sequence: u64, stamp: i64, answer: Answer, late: bool) -> (Expect, Answers) {
        let mut next = self.clone();
        if answer == Answer::NeedsAction {
            return (Expect::Refused(RefusalReason::NoAnswer), next);
        }
        if let Some((seq, at)) = self.mark
            && (sequence < seq || (sequence == seq && stamp <= at))
        {
            return (Expect::Refused(RefusalReason::StaleReply), next);
        }
        // A late answer is only recorded (LateAnswers::RecordOnly), but it is
        // still the person's latest message: a re-delivery of it is stale.
        if !late {
            next.status = Some(answer.partstat());
        }
        next.mark = Some((sequence, stamp));
        (Expect::Observed, next)
    }
}

/// The system under test: a scenario over a store from `F`, and what the
/// test knows beyond the reference model.
pub(crate) struct Sut<F: StoreFactory> {
    s: Scenario<F::S>,
    code: EventCode,
    calendar: CalendarEvent,
    settings: Settings,
    answers: Vec<Answers>,
    /// (SEQUENCE, DTSTAMP) of the last forwarded answer adopted, per
    /// (holder, outsider): each answerer is ordered on their own
    /// ([interop rule 20](calinvite_core::manual::interop#rule-20)).
    forwarded: std::collections::BTreeMap<(usize, usize), (u64, i64)>,
    /// Messages the transport accepted, counted by `deliver`.
    accepted: usize,
    /// Inbox lengths (POOL order) when the event was first seen cancelled.
    cancelled_at: Option<Vec<usize>>,
}

impl<F: StoreFactory> Drop for Sut<F> {
    fn drop(&mut self) {
        F::finish(self.s.pipeline.store());
    }
}

fn address(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

/// A REPLY as a recipient's calendar mails it to calinvite's reply mailbox.
fn reply_message(
    uid: &str,
    sequence: u64,
    stamp: &str,
    attendee: &str,
    answer: Answer,
    to: &str,
) -> Vec<u8> {
    let partstat = answer.partstat().as_str();
    let ics = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Model//Client//EN\r\nMETHOD:REPLY\r\n\
         BEGIN:VEVENT\r\nUID:{uid}\r\nSEQUENCE:{sequence}\r\nDTSTAMP:{stamp}\r\n\
         ORGANIZER:mailto:{to}\r\nATTENDEE;PARTSTAT={partstat}:mailto:{attendee}\r\n\
         END:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    format!(
        "From: {attendee}\r\nTo: {to}\r\nSubject: {partstat}\r\n\
         Date: Sun, 22 Nov 2026 09:00:00 +0000\r\n\
         Message-ID: <{sequence}.{stamp}.{attendee}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/calendar; charset=UTF-8; method=REPLY\r\n\r\n{ics}"
    )
    .into_bytes()
}

impl<F: StoreFactory> Sut<F> {
    fn now(&self) -> i64 {
        (self.s.pipeline.now() - scenario_start()).num_seconds()
    }

    fn stamp(&self) -> String {
        self.s.pipeline.now().format("%Y%m%dT%H%M%SZ").to_string()
    }

    fn receive_reply(&self, bytes: &[u8], from: &str) -> Outcome {
        let envelope = InboundEnvelope {
            mail_from: Some(from.to_owned()),
            rcpt_to: vec![self.s.owner.reply.to_string()],
            peer: None,
        };
        F::block_on(
            self.s
                .pipeline
                .receive(bytes, envelope, AuthVerdict::default()),
        )
        .unwrap()
    }

    /// The REQUESTs `who` received, oldest first: (UID, SEQUENCE).
    fn requests(&self, who: &str) -> Vec<(String, u64)> {
        self.s
            .calendar_inbox(who)
            .into_iter()
            .filter(|d| d.method.as_deref() == Some("REQUEST"))
            .map(|d| (d.uid.unwrap(), d.sequence.unwrap()))
            .collect()
    }

    fn invitation(&self, who: &str) -> Option<Invitation> {
        F::block_on(
            self.s
                .pipeline
                .store()
                .invitation_for(&self.code, &address(who)),
        )
        .unwrap()
    }

    fn history(&self, inv: &Invitation) -> Vec<HistoryEntry> {
        F::block_on(self.s.pipeline.history(self.s.scope(), inv.token())).unwrap()
    }

    fn set_approval(&mut self, on: bool) {
        self.settings = self.settings.with_approval(on);
        let mut organizer = self.s.organizer.clone();
        organizer.settings = Some(self.settings);
        F::block_on(self.s.pipeline.store().put_organizer(organizer)).unwrap();
    }

    fn apply(&mut self, model: &ModelState, transition: Transition) {
        let scope = self.s.scope();
        let p = &self.s.pipeline;
        let outcome = match transition {
            Transition::Invite(i) => Some(
                F::block_on(p.invite(
                    scope,
                    &self.code,
                    Recipient::new(address(POOL[i])),
                    InvitationSource::Api,
                ))
                .unwrap(),
            ),
            Transition::Deliver => {
                self.accepted += F::block_on(self.s.deliver()).unwrap();
                None
            }
            Transition::Edit(..) | Transition::Touch => {
                self.calendar = self.calendar.clone().edited(|c| model.calendar.write(c));
                Some(F::block_on(self.s.organizer_sends(&self.calendar)).unwrap())
            }
            Transition::Cancel => {
                self.calendar = self.calendar.clone().edited(|_| {});
                Some(F::block_on(self.s.organizer_cancels(&self.calendar, None)).unwrap())
            }
            Transition::SetApproval(on) => {
                self.set_approval(on);
                None
            }
            Transition::Approve | Transition::Reject => {
                let open = F::block_on(p.open_pending(scope, &self.code)).unwrap();
                assert_eq!(open.len(), 1, "one open pending change: {open:?}");
                let id = open[0].id.clone();
                Some(if matches!(transition, Transition::Approve) {
                    F::block_on(p.approve(scope, &id)).unwrap()
                } else {
                    F::block_on(p.reject(scope, &id)).unwrap()
                })
            }
            Transition::Reply { who, answer, stale } => {
                self.reply(model, who, answer, stale);
                None
            }
            Transition::ReplyAgain(who) => {
                if let Some((bytes, sequence, stamp, answer)) = self.answers[who].last.clone() {
                    let out = self.receive_reply(&bytes, POOL[who]);
                    let (expect, next) =
                        self.answers[who].expect(sequence, stamp, answer, model.ended());
                    self.check_reply(who, &out, &expect);
                    self.answers[who].status = next.status;
                    self.answers[who].mark = next.mark;
                }
                None
            }
            Transition::Forward {
                holder,
                outsider,
                answer,
            } => {
                if let Some((uid, sequence)) = self.requests(POOL[holder]).pop() {
                    let bytes = reply_message(
                        &uid,
                        sequence,
                        &self.stamp(),
                        OUTSIDERS[outsider],
                        answer,
                        self.s.owner.reply.as_str(),
                    );
                    let out = self.receive_reply(&bytes, OUTSIDERS[outsider]);
                    // Recorded as forwarded (the invited person's answer stays),
                    // unless this answerer already sent one at least as new.
                    let mark = (sequence, self.now());
                    let expect = match self.forwarded.get(&(holder, outsider)) {
                        Some(seen) if *seen >= mark => Expect::Refused(RefusalReason::StaleReply),
                        _ => {
                            self.forwarded.insert((holder, outsider), mark);
                            Expect::Observed
                        }
                    };
                    self.check_reply(holder, &out, &expect);
                }
                None
            }
            Transition::Report { who, dsn } => {
                if !self.s.inbox(POOL[who]).is_empty() {
                    let permanent = match dsn {
                        Dsn::Failed => Some(true),
                        Dsn::Delayed => Some(false),
                        Dsn::Delivered => None,
                    };
                    let out = F::block_on(self.s.delivery_report(POOL[who], permanent)).unwrap();
                    let token = self.invitation(POOL[who]).unwrap().token().clone();
                    assert_eq!(out, Outcome::DeliveryRecorded(token), "report to {who}");
                }
                None
            }
            Transition::FailNextSend { permanent } => {
                p.transport().script(Err(if permanent {
                    TransportError::permanent("550 5.1.1 no such mailbox")
                } else {
                    TransportError::transient("451 4.3.0 try again later")
                }));
                None
            }
            Transition::Advance(seconds) => {
                self.s.advance(seconds);
                None
            }
        };
        if let Some(out) = outcome {
            self.check_outcome(&out, &model.expect);
        }
        let event = F::block_on(self.s.pipeline.event(scope, &self.code)).unwrap();
        if event.cancelled() && self.cancelled_at.is_none() {
            self.cancelled_at = Some(POOL.iter().map(|w| self.s.inbox(w).len()).collect());
        }
    }

    fn reply(&mut self, model: &ModelState, who: usize, answer: Answer, stale: bool) {
        let requests = self.requests(POOL[who]);
        let picked = if stale {
            requests.first()
        } else {
            requests.last()
        };
        let Some((uid, sequence)) = picked.cloned() else {
            return;
        };
        let bytes = reply_message(
            &uid,
            sequence,
            &self.stamp(),
            POOL[who],
            answer,
            self.s.owner.reply.as_str(),
        );
        let out = self.receive_reply(&bytes, POOL[who]);
        let stamp = self.now();
        let (expect, next) = self.answers[who].expect(sequence, stamp, answer, model.ended());
        self.check_reply(who, &out, &expect);
        self.answers[who] = Answers {
            last: Some((bytes, sequence, stamp, answer)),
            ..next
        };
    }

    fn check_reply(&self, who: usize, out: &Outcome, expect: &Expect) {
        match (expect, out) {
            (Expect::Observed, Outcome::AnswerRecorded(t)) => {
                assert_eq!(
                    Some(t),
                    self.invitation(POOL[who])
                        .map(|i| i.token().clone())
                        .as_ref()
                );
            }
            (Expect::Refused(r), Outcome::Refused(got)) if got.reason == *r => {}
            _ => panic!("reply of {}: expected {expect:?}, got {out:?}", POOL[who]),
        }
    }

    fn check_outcome(&self, out: &Outcome, expect: &Expect) {
        let ok = match (expect, out) {
            (Expect::Invited, Outcome::Invited(_))
            | (Expect::AlreadyInvited, Outcome::AlreadyInvited(_))
            | (Expect::PendingApproval, Outcome::PendingApproval(..))
            | (Expect::Unchanged, Outcome::Unchanged(_))
            | (Expect::Cancelled, Outcome::Cancelled(_)) => true,
            (Expect::Revision(n), Outcome::RevisionSent(_, s)) => s.get() == *n,
            (Expect::Resolved(want), Outcome::Resolved(_, got)) => want == got,
            (Expect::Refused(want), Outcome::Refused(got)) => *want == got.reason,
            _ => false,
        };
        assert!(ok, "expected {expect:?}, got {out:?}");
    }

    /// Every invariant, after every step.
    fn check(&self, model: &ModelState) {
        let scope = self.s.scope();
        let p = &self.s.pipeline;
        let event = F::block_on(p.event(scope, &self.code)).unwrap();

        // The store agrees with the reference model.
        assert_eq!(
            event.sent_sequence(),
            Sequence::new(model.sent_seq),
            "SEQUENCE"
        );
        assert_eq!(event.cancelled(), model.cancelled, "cancelled");
        let open: Vec<Pending> = F::block_on(p.open_pending(scope, &self.code))
            .unwrap()
            .into_iter()
            .map(|c| match c.kind {
                PendingKind::Update => Pending::Update,
                _ => Pending::Cancel,
            })
            .collect();
        assert_eq!(
            open,
            model.pending.into_iter().collect::<Vec<_>>(),
            "pending"
        );
        let invitations = F::block_on(p.invitations(scope, &self.code)).unwrap();
        let invited: BTreeSet<usize> = invitations
            .iter()
            .map(|i| {
                POOL.iter()
                    .position(|w| address(w) == *i.recipient().address())
                    .unwrap()
            })
            .collect();
        assert_eq!(invited, model.invited, "invitations");

        let fan_outs_done = F::block_on(p.store().fan_outs(1)).unwrap().is_empty();
        let mut message_ids = BTreeSet::new();
        let mut delivered = 0;
        for (i, who) in POOL.iter().enumerate() {
            let inbox = self.s.inbox(who);
            delivered += inbox.len();
            let calendar: Vec<_> = inbox.iter().filter(|d| d.method.is_some()).collect();
            // a. SEQUENCE never decreases in the order messages arrive.
            for pair in calendar.windows(2) {
                assert!(
                    pair[0].sequence <= pair[1].sequence,
                    "a: {who} saw SEQUENCE {:?} after {:?}",
                    pair[1].sequence,
                    pair[0].sequence
                );
            }
            // b. Nothing asks to attend a cancelled event.
            let method = |d: &&calinvite_tests::scenario::Delivered| {
                d.method.as_deref().unwrap_or("").to_owned()
            };
            if let Some(first_cancel) = calendar.iter().position(|d| method(d) == "CANCEL") {
                assert!(
                    calendar[first_cancel..]
                        .iter()
                        .all(|d| method(d) != "REQUEST"),
                    "b: {who} got a REQUEST after the CANCEL"
                );
            }
            if let Some(at) = &self.cancelled_at {
                assert!(
                    inbox[at[i]..]
                        .iter()
                        .all(|d| d.method.as_deref() != Some("REQUEST")),
                    "b: {who} got a REQUEST after the event was cancelled"
                );
            }
            for d in &inbox {
                let id = d.message_id.clone().expect("a Message-ID");
                // e. No idempotency key goes out twice.
                assert!(message_ids.insert(id.clone()), "e: {id} accepted twice");
            }
            let cancels = calendar.iter().filter(|d| method(d) == "CANCEL").count();
            // d. At most one cancellation, ever.
            assert!(cancels <= 1, "d: {who} got {cancels} CANCELs");

            let Some(inv) = invitations
                .iter()
                .find(|inv| address(who) == *inv.recipient().address())
            else {
                assert!(inbox.is_empty(), "{who} was never invited");
                continue;
            };
            let history = self.history(inv);
            // c. No update is planned for someone whose last answer is No.
            if model.audience != UpdateAudience::Everyone {
                let mut status = None;
                for h in &history {
                    match &h.kind {
                        HistoryKind::Answer {
                            status: s,
                            instance: None,
                            forwarded_from: None,
                            late: false,
                            ..
                        } => status = Some(*s),
                        HistoryKind::Queued {
                            kind: MessageKind::Update,
                            sequence,
                        } => assert_ne!(
                            status,
                            Some(ParticipationStatus::Declined),
                            "c: update {sequence} queued for {who}, who declined"
                        ),
                        _ => {}
                    }
                }
            }
            // d. Everyone who received a REQUEST gets the cancellation once it
            //    has been sent to them; hard bounces excepted
            //    (manual: design D5).
            let received_request = calendar.iter().any(|d| method(d) == "REQUEST");
            // A cancellation after the event was over is recorded, not
            // mailed (manual: interop rule 22): then no revision carries
            // STATUS:CANCELLED.
            let mailed = F::block_on(p.store().revision(&self.code, event.sent_sequence()))
                .unwrap()
                .is_some_and(|r| r.status() == calinvite_core::EventStatus::Cancelled);
            if event.cancelled()
                && mailed
                && fan_outs_done
                && received_request
                && inv.delivery() != DeliveryState::HardBounced
            {
                let key = DeliveryKey::Invitation(IdempotencyKey::new(
                    inv.token().clone(),
                    event.sent_sequence(),
                    Method::Cancel,
                    0,
                ));
                let queued = F::block_on(p.store().delivery(&key))
                    .unwrap()
                    .unwrap_or_else(|| panic!("d: no cancellation queued for {who}"));
                match queued.state {
                    QueueState::Sent(_) => assert_eq!(cancels, 1, "d: {who}"),
                    // Retrying, or given up after the last attempt.
                    _ => assert_eq!(cancels, 0, "d: {who}"),
                }
            }
        }
        let organizer = self.s.inbox(ORGANIZER);
        delivered += organizer.len();
        for d in &organizer {
            let id = d.message_id.clone().expect("a Message-ID");
            assert!(message_ids.insert(id.clone()), "e: {id} accepted twice");
        }
        assert_eq!(delivered, self.accepted, "e: accepted messages and inboxes");

        self.check_report(&invitations);
    }

    /// f. The report equals a recount from the histories, and the answers
    /// equal what the recipients' model predicts.
    fn check_report(&self, invitations: &[Invitation]) {
        let p = &self.s.pipeline;
        let report = F::block_on(event_report(p, self.s.scope(), &self.code)).unwrap();
        let (mut sent, mut delivered, mut bounced, mut soft) = (0, 0, 0, 0);
        let (mut yes, mut no, mut maybe, mut none) = (0, 0, 0, 0);
        let (mut late, mut forwarded, mut counters) = (0, 0, 0);
        let mut per_day = BTreeMap::new();
        for inv in invitations {
            let history = self.history(inv);
            let mut state = DeliveryState::Queued;
            let mut status = None;
            let mut was_sent = false;
            for h in &history {
                match &h.kind {
                    HistoryKind::Sent { .. } => {
                        was_sent = true;
                        if matches!(state, DeliveryState::Queued | DeliveryState::SoftBounced) {
                            state = DeliveryState::Sent;
                        }
                    }
                    HistoryKind::Delivered if state != DeliveryState::HardBounced => {
                        state = DeliveryState::Delivered;
                    }
                    HistoryKind::Bounced { permanent, .. } => {
                        if *permanent {
                            state = DeliveryState::HardBounced;
                        } else if state != DeliveryState::HardBounced {
                            state = DeliveryState::SoftBounced;
                        }
                    }
                    HistoryKind::Answer {
                        status: s,
                        instance,
                        forwarded_from,
                        late: is_late,
                        ..
                    } => {
                        late += u64::from(*is_late);
                        if forwarded_from.is_some() {
                            forwarded += 1;
                        } else {
                            *per_day.entry(h.at.date_naive()).or_insert(0) += 1;
                            if instance.is_none() && !is_late {
                                status = Some(*s);
                            }
                        }
                    }
                    HistoryKind::Counter { .. } => counters += 1,
                    _ => {}
                }
            }
            sent += u64::from(was_sent);
            match state {
                DeliveryState::Delivered => delivered += 1,
                DeliveryState::HardBounced => bounced += 1,
                DeliveryState::SoftBounced => soft += 1,
                _ => {}
            }
            assert_eq!(
                state,
                inv.delivery(),
                "f: delivery of {}",
                inv.recipient().address()
            );
            assert_eq!(
                status,
                inv.status(),
                "f: answer of {}",
                inv.recipient().address()
            );
            let i = POOL
                .iter()
                .position(|w| address(w) == *inv.recipient().address())
                .unwrap();
            assert_eq!(status, self.answers[i].status, "answer of {}", POOL[i]);
            match status {
                Some(ParticipationStatus::Accepted) => yes += 1,
                Some(ParticipationStatus::Declined) => no += 1,
                Some(ParticipationStatus::Tentative) => maybe += 1,
                _ => none += 1,
            }
        }
        let refusals = F::block_on(p.refusals(self.s.owner.id, Some(self.s.scope()))).unwrap();
        let mut by_reason = BTreeMap::new();
        for r in refusals
            .iter()
            .filter(|r| r.code.as_ref() == Some(&self.code))
        {
            *by_reason.entry(r.refusal.reason).or_insert(0) += 1;
        }
        let got = (
            (report.events, report.invitations, report.submitted),
            (
                report.delivery_confirmed,
                report.hard_bounced,
                report.soft_bounced,
            ),
            (report.accepted, report.declined, report.tentative),
            (report.delegated, report.no_answer),
            (report.late, report.forwarded, report.counters),
        );
        let want = (
            (1, invitations.len() as u64, sent),
            (delivered, bounced, soft),
            (yes, no, maybe),
            (0, none),
            (late, forwarded, counters),
        );
        assert_eq!(got, want, "f: report counts");
        assert_eq!(report.answers_over_time, per_day, "f: answers per day");
        assert_eq!(report.refusals, by_reason, "f: refusals");
    }
}

/// The state-machine test over stores from `F`.
pub(crate) struct LifecycleTest<F>(PhantomData<F>);

impl<F: StoreFactory> StateMachineTest for LifecycleTest<F> {
    type SystemUnderTest = Sut<F>;
    type Reference = Model;

    fn init_test(model: &ModelState) -> Sut<F> {
        let settings = Settings::default()
            .with_approval(model.approval)
            .with_audience(model.audience);
        let s = F::block_on(Scenario::new(F::make(), settings)).unwrap();
        let calendar = CalendarEvent::launch("model-1@example.com");
        let Outcome::EventCreated(code) = F::block_on(s.organizer_sends(&calendar)).unwrap() else {
            panic!("the event was not created");
        };
        Sut {
            s,
            code,
            calendar,
            settings,
            answers: vec![Answers::default(); POOL.len()],
            forwarded: std::collections::BTreeMap::new(),
            accepted: 0,
            cancelled_at: None,
        }
    }

    fn apply(mut sut: Sut<F>, model: &ModelState, transition: Transition) -> Sut<F> {
        sut.apply(model, transition);
        sut
    }

    fn check_invariants(sut: &Sut<F>, model: &ModelState) {
        sut.check(model);
    }
}

/// The proptest configuration: `cases` random runs (each of up to the
/// number of steps the test names); shrunk failures are kept in
/// `regressions` (a path from the package root) and replayed first.
pub(crate) fn config(cases: u32, regressions: &'static str) -> ProptestConfig {
    ProptestConfig {
        cases,
        max_shrink_iters: 4096,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
        ..ProptestConfig::default()
    }
}

/// Runs fixed `steps` (a regression) through the same machine, checking
/// every outcome and invariant after each.
pub(crate) fn replay<F: StoreFactory>(
    approval: bool,
    audience: UpdateAudience,
    steps: Vec<Transition>,
) {
    LifecycleTest::<F>::test_sequential(
        ProptestConfig::default(),
        ModelState::initial(approval, audience),
        steps,
        None,
    );
}

/// Shrunk failures the machine found, replayed step by step on every store.
pub(crate) mod regressions {
    use super::Transition::*;
    use super::{Answer, Dsn, Field, StoreFactory, replay};
    use calinvite_core::targeting::UpdateAudience::AcceptedOrTentative;

    /// b: an invitation still queued when the event is cancelled must not go
    /// out after the cancellation.
    pub(crate) fn a_queued_invitation_does_not_go_out_after_the_cancellation<F: StoreFactory>() {
        replay::<F>(false, AcceptedOrTentative, vec![Invite(0), Cancel, Deliver]);
    }

    /// a: an update waiting for a retry is overtaken by a newer one; sent after
    /// it, the recipient would see SEQUENCE 2 and then 1.
    pub(crate) fn a_retried_update_overtaken_by_a_newer_one_is_dropped<F: StoreFactory>() {
        replay::<F>(
            false,
            AcceptedOrTentative,
            vec![
                Invite(0),
                Deliver,
                Reply {
                    who: 0,
                    answer: Answer::Accepted,
                    stale: false,
                },
                Edit(Field::Description, 1),
                FailNextSend { permanent: false },
                Deliver,
                Edit(Field::Description, 2),
                Deliver,
                Advance(600),
                Deliver,
            ],
        );
    }

    /// b: a recipient that hard-bounced gets no cancellation
    /// ([D5](calinvite_core::manual::design#d5)), so an update waiting for a
    /// retry is not superseded by one: it must still not go out.
    pub(crate) fn a_retried_update_does_not_go_out_after_the_cancellation<F: StoreFactory>() {
        replay::<F>(
            false,
            AcceptedOrTentative,
            vec![
                Invite(0),
                Deliver,
                Reply {
                    who: 0,
                    answer: Answer::Accepted,
                    stale: false,
                },
                Edit(Field::Description, 1),
                FailNextSend { permanent: false },
                Deliver,
                Report {
                    who: 0,
                    dsn: Dsn::Failed,
                },
                Cancel,
                Advance(600),
                Deliver,
            ],
        );
    }

    /// c: someone listed in an approved update who declines before it is
    /// planned gets no update.
    pub(crate) fn an_approved_update_skips_who_declined_since<F: StoreFactory>() {
        replay::<F>(
            true,
            AcceptedOrTentative,
            vec![
                Invite(0),
                Deliver,
                Reply {
                    who: 0,
                    answer: Answer::Accepted,
                    stale: false,
                },
                Advance(1),
                Edit(Field::Summary, 1),
                Reply {
                    who: 0,
                    answer: Answer::Declined,
                    stale: false,
                },
                Approve,
                Deliver,
            ],
        );
    }

    /// Every regression above, in order.
    #[allow(dead_code)] // The SQL stores' run replays them in one test.
    pub(crate) fn all<F: StoreFactory>() {
        a_queued_invitation_does_not_go_out_after_the_cancellation::<F>();
        a_retried_update_overtaken_by_a_newer_one_is_dropped::<F>();
        a_retried_update_does_not_go_out_after_the_cancellation::<F>();
        an_approved_update_skips_who_declined_since::<F>();
    }
}
