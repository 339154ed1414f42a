//! The engine's rules as pure functions: what an inbound message or a command
//! means for the state it is given, at the time it is given. No store, no
//! clock: the [`Pipeline`](super::Pipeline) reads, calls these, and commits.

use chrono::{DateTime, Days, Utc};

use super::model::{
    AnswerMark, AuthPolicy, HistoryEntry, HistoryKind, Invitation, LateAnswers, Refusal,
    RefusalReason, StoredEvent,
};
use crate::address::{EmailAddress, Mailbox};
use crate::event::{Event, EventStatus, InstanceOverride, ParticipationStatus, Recurrence};
use crate::ids::{EventCode, Sequence};
use crate::inbound::{AuthResult, AuthVerdict, InboundEnvelope, InboundEvent, InboundTime, Reply};
use crate::time::{OccurrenceId, Schedule};

/// Whether a message passes an organizer's authentication policy
/// ([D7](crate::manual::design#d7)).
/// `from` is the author (the From header's address), as the allow-list saw it.
pub fn authenticated(
    policy: AuthPolicy,
    verdict: &AuthVerdict,
    envelope: &InboundEnvelope,
    from: &EmailAddress,
) -> bool {
    let aligned = |domain: &str| {
        let a = domain.trim_end_matches('.').to_ascii_lowercase();
        let b = from.domain().to_ascii_lowercase();
        a == b || b.ends_with(&format!(".{a}")) || a.ends_with(&format!(".{b}"))
    };
    match policy {
        AuthPolicy::AllowListOnly => true,
        AuthPolicy::Dmarc => verdict.dmarc == AuthResult::Pass,
        AuthPolicy::AlignedSpfOrDkim => {
            verdict.dmarc == AuthResult::Pass
                || verdict
                    .dkim
                    .iter()
                    .any(|(d, r)| *r == AuthResult::Pass && aligned(d))
                || (verdict.spf == AuthResult::Pass
                    && envelope
                        .mail_from
                        .as_deref()
                        .and_then(|m| m.rsplit_once('@'))
                        .is_some_and(|(_, d)| aligned(d)))
        }
    }
}

/// Whether a message stamped (`sequence`, `stamp`) is newer than the one
/// stamped (`seen_sequence`, `seen_stamp`): higher SEQUENCE wins, then later
/// DTSTAMP ([interop rule 20](crate::manual::interop#rule-20)). With no
/// DTSTAMP on either side at equal SEQUENCE, arrival order decides (newer).
pub fn is_newer(
    sequence: Sequence,
    stamp: Option<DateTime<Utc>>,
    seen_sequence: Sequence,
    seen_stamp: Option<DateTime<Utc>>,
) -> bool {
    match sequence.cmp(&seen_sequence) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => match (stamp, seen_stamp) {
            (Some(a), Some(b)) => a > b,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => true,
        },
    }
}

fn unusable(detail: impl Into<String>) -> Refusal {
    Refusal::new(RefusalReason::UnusableEvent, detail)
}

fn occurrence(t: &InboundTime, what: &str) -> Result<OccurrenceId, Refusal> {
    t.occurrence_id().ok_or_else(|| {
        unusable(format!(
            "{what} is a floating time (no time zone): calinvite cannot tell when it is"
        ))
    })
}

fn schedule_of(
    start: &InboundTime,
    end: Option<&InboundTime>,
    what: &str,
) -> Result<Schedule, Refusal> {
    match (start, end) {
        (InboundTime::Zoned(s), end) => {
            let e = match end {
                Some(InboundTime::Zoned(e)) => *e,
                Some(InboundTime::Date(_)) => {
                    return Err(unusable(format!(
                        "{what}: a timed start with an all-day end"
                    )));
                }
                Some(InboundTime::Floating(_)) => {
                    return Err(unusable(format!("{what}: the end is a floating time")));
                }
                None => *s,
            };
            Schedule::timed(*s, e).map_err(|e| unusable(format!("{what}: {e}")))
        }
        (InboundTime::Date(d), end) => {
            let last = match end {
                Some(InboundTime::Date(e)) if e > d => {
                    e.checked_sub_days(Days::new(1)).unwrap_or(*d)
                }
                Some(InboundTime::Date(_)) | None => *d,
                Some(_) => {
                    return Err(unusable(format!(
                        "{what}: an all-day start with a timed end"
                    )));
                }
            };
            Schedule::all_day(*d, last).map_err(|e| unusable(format!("{what}: {e}")))
        }
        (InboundTime::Floating(_), _) => Err(unusable(format!(
            "{what} is a floating time (no time zone): calinvite cannot tell when it is"
        ))),
    }
}

fn instance_default(master: &Schedule, id: &OccurrenceId) -> Schedule {
    crate::ics::instance_schedule(master, id)
}

/// Adopts an organizer's whole event (a master VEVENT) under `code`.
/// `organizer` is the real organizer (shown as CN; notices go there).
pub fn adopt_event(
    code: &EventCode,
    organizer: &Mailbox,
    inbound: &InboundEvent,
) -> Result<Event, Refusal> {
    refuse_unrepresentable(inbound)?;
    let start = inbound
        .start
        .as_ref()
        .ok_or_else(|| unusable("the event has no start (DTSTART)"))?;
    let schedule = schedule_of(start, inbound.end.as_ref(), "the event")?;
    let mut b = Event::builder(code.clone())
        .summary(
            inbound
                .summary
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "Untitled event".into()),
        )
        .schedule(schedule)
        .organizer(
            organizer.address().clone(),
            organizer.name().map(|n| n.as_str()),
        )
        .status(match inbound.status {
            Some(EventStatus::Cancelled) | None => EventStatus::Confirmed,
            Some(s) => s,
        });
    if let Some(d) = &inbound.description {
        b = b.description(d.clone());
    }
    if let Some(l) = &inbound.location {
        b = b.location(l.clone());
    }
    if let Some(u) = inbound
        .url
        .as_deref()
        .filter(|u| crate::event::WebUrl::parse(u).is_ok())
    {
        b = b.url(u);
    }
    if inbound.rrule.is_some() || !inbound.rdates.is_empty() {
        let ids = |list: &[InboundTime]| -> Vec<OccurrenceId> {
            list.iter().filter_map(InboundTime::occurrence_id).collect()
        };
        let mut r = match &inbound.rrule {
            Some(rule) => Recurrence::rule(rule.clone()),
            None => Recurrence::default(),
        };
        r = r
            .with_dates(ids(&inbound.rdates))
            .with_exceptions(ids(&inbound.exdates));
        b = b.recurrence(r);
        for o in &inbound.overrides {
            b = b.override_instance(adopt_instance(&schedule, o)?);
        }
    }
    b.build().map_err(|e| unusable(e.to_string()))
}

/// An event whose message says something calinvite cannot represent about
/// when or whether it happens is never adopted in part.
fn refuse_unrepresentable(inbound: &InboundEvent) -> Result<(), Refusal> {
    if inbound.unusable.is_empty() {
        Ok(())
    } else {
        Err(unusable(inbound.unusable.join("; ")))
    }
}

fn adopt_instance(
    master: &Schedule,
    o: &crate::inbound::InboundInstance,
) -> Result<InstanceOverride, Refusal> {
    let id = occurrence(&o.recurrence_id, "an instance's RECURRENCE-ID")?;
    let schedule = match &o.start {
        Some(s) => schedule_of(s, o.end.as_ref(), "an instance")?,
        None => instance_default(master, &id),
    };
    let mut i = InstanceOverride::new(id, schedule);
    if let Some(s) = &o.summary {
        i = i.summary(s.clone());
    }
    if let Some(d) = &o.description {
        i = i.description(d.clone());
    }
    if let Some(l) = &o.location {
        i = i.location(l.clone());
    }
    if let Some(s) = o.status {
        i = i.status(s);
    }
    Ok(i)
}

/// Applies a partial update (only overridden instances,
/// [interop rule 21](crate::manual::interop#rule-21)) to
/// the organizer's latest version: each instance replaces its namesake.
pub fn apply_instances(latest: &Event, inbound: &InboundEvent) -> Result<Event, Refusal> {
    refuse_unrepresentable(inbound)?;
    if !latest.is_recurring() {
        return Err(unusable(
            "an update of single instances for an event that does not repeat",
        ));
    }
    let mut overrides: Vec<InstanceOverride> = latest.overrides().to_vec();
    for o in &inbound.overrides {
        let new = adopt_instance(latest.schedule(), o)?;
        overrides.retain(|x| x.id() != new.id());
        overrides.push(new);
    }
    let mut b = latest.to_builder().clear_overrides();
    for o in overrides {
        b = b.override_instance(o);
    }
    b.build().map_err(|e| unusable(e.to_string()))
}

/// The organizer's latest version with `instances` cancelled (added as
/// exceptions, their overrides dropped).
pub fn cancel_instances(latest: &Event, instances: &[OccurrenceId]) -> Result<Event, Refusal> {
    let r = latest.recurrence().ok_or_else(|| {
        unusable("a cancellation of an instance of an event that does not repeat")
    })?;
    let recurrence = r.clone().with_exceptions(instances.iter().copied());
    let mut b = latest.to_builder().clear_overrides().recurrence(recurrence);
    for o in latest.overrides() {
        if !instances.contains(&o.id()) {
            b = b.override_instance(o.clone());
        }
    }
    b.build().map_err(|e| unusable(e.to_string()))
}

/// The event with its status set to CANCELLED (the revision a cancellation carries).
pub fn cancelled(latest: &Event) -> Result<Event, Refusal> {
    latest
        .to_builder()
        .status(EventStatus::Cancelled)
        .build()
        .map_err(|e| unusable(e.to_string()))
}

/// Whether an event's last occurrence is over at `now`.
pub fn has_ended(event: &Event, now: DateTime<Utc>) -> bool {
    event.ends_at().is_some_and(|end| end <= now)
}

/// What a reply does to an invitation.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplyEffect {
    /// The invitation after it (unchanged when only recorded).
    pub invitation: Invitation,
    /// The history entry to append.
    pub entry: HistoryEntry,
}

/// One answer to an invitation, as the answer rules take it: from a
/// calendar client's REPLY ([`Answer::from_reply`]) or from calinvite's web
/// page ([`Answer::web`]). Both channels go through the same
/// [`apply_answer`], so a web answer and a mailed one are ordered, recorded
/// and counted alike.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Answer {
    /// The participation status given.
    pub status: ParticipationStatus,
    /// The instance answered, or `None` for the whole event.
    pub instance: Option<OccurrenceId>,
    /// The answerer's comment, if any.
    pub comment: Option<String>,
    /// How it came.
    pub channel: AnswerChannel,
}

/// How an [`Answer`] came.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnswerChannel {
    /// A REPLY mailed by a calendar client.
    Mail {
        /// The SEQUENCE of the copy answered.
        sequence: Sequence,
        /// The reply's DTSTAMP, if it had one.
        stamp: Option<DateTime<Utc>>,
        /// `None` when the invited person answered; else the address a
        /// forwarded copy answered from (recorded, never applied:
        /// [interop rule 19](crate::manual::interop#rule-19)).
        answerer: Option<EmailAddress>,
        /// The message's From address when it is not the attendee who
        /// answers (a delegate's or an assistant's mailbox, a shared
        /// account, a forged header). The answer is still decided by the
        /// invitation's token; this is only recorded, so the history shows
        /// who mailed it.
        sender: Option<EmailAddress>,
    },
    /// A POST to calinvite's web answer page: it answers the revision the
    /// recipient holds, at the time it is applied.
    Web,
}

impl Answer {
    /// A web answer for the whole event.
    pub fn web(status: ParticipationStatus) -> Self {
        Answer {
            status,
            instance: None,
            comment: None,
            channel: AnswerChannel::Web,
        }
    }

    /// The answer a REPLY to `invited`'s invitation carries. Refused (as
    /// [`RefusalReason::NoAnswer`]) when it carries no PARTSTAT or names an
    /// instance by a floating time; a REPLY from another attendee than
    /// `invited` is a forwarded copy's answer.
    pub fn from_reply(reply: &Reply, invited: &EmailAddress) -> Result<Self, Refusal> {
        let status = reply.partstat.ok_or_else(|| {
            Refusal::new(
                RefusalReason::NoAnswer,
                "the reply carries no PARTSTAT for the attendee",
            )
        })?;
        if status == ParticipationStatus::NeedsAction {
            return Err(needs_action());
        }
        let instance = match &reply.recurrence_id {
            None => None,
            Some(t) => Some(occurrence(t, "the answered instance").map_err(|r| Refusal {
                reason: RefusalReason::NoAnswer,
                detail: r.detail,
            })?),
        };
        let answerer = reply
            .is_forwarded(invited)
            .then(|| reply.attendee.as_ref().map(|a| a.address().clone()))
            .flatten();
        Ok(Answer {
            status,
            instance,
            comment: reply.comment.as_ref().map(|c| c.as_str().to_owned()),
            channel: AnswerChannel::Mail {
                sequence: reply.identity.sequence,
                stamp: reply.identity.dtstamp,
                answerer,
                sender: None,
            },
        })
    }

    /// Records the address the answer was mailed from, `from` (the
    /// message's From), when it is not the attendee who answers: the
    /// `answerer`, else `invited`. The answer is decided by the invitation's
    /// token as before; the difference is kept in the history
    /// ([`HistoryKind::Answer`]'s `sent_by`). A web answer has no sender.
    pub fn mailed_by(mut self, from: Option<&EmailAddress>, invited: &EmailAddress) -> Self {
        if let AnswerChannel::Mail {
            answerer, sender, ..
        } = &mut self.channel
        {
            let attendee = answerer.as_ref().unwrap_or(invited);
            *sender = from.filter(|f| *f != attendee).cloned();
        }
        self
    }

    /// Answers one instance rather than the whole event.
    pub fn for_instance(mut self, instance: OccurrenceId) -> Self {
        self.instance = Some(instance);
        self
    }

    /// Adds the answerer's comment.
    pub fn with_comment(mut self, comment: impl Into<String>) -> Self {
        self.comment = Some(comment.into());
        self
    }
}

fn needs_action() -> Refusal {
    Refusal::new(RefusalReason::NoAnswer, "the reply says NEEDS-ACTION")
}

/// Decides what `answer` means for `invitation` of `event` at `now`. Stale
/// and duplicate answers are refused
/// ([interop rule 20](crate::manual::interop#rule-20)); forwarded ones
/// recorded without touching the invited person's answer
/// ([interop rule 19](crate::manual::interop#rule-19)); late ones recorded
/// as late (and applied only when configured). A web answer is ordered as
/// an answer to the revision the recipient holds, stamped `now`.
pub fn apply_answer(
    invitation: &Invitation,
    event: &StoredEvent,
    answer: &Answer,
    late_answers: LateAnswers,
    now: DateTime<Utc>,
) -> Result<ReplyEffect, Refusal> {
    let status = answer.status;
    if status == ParticipationStatus::NeedsAction {
        return Err(needs_action());
    }
    let instance = answer.instance;
    let (sequence, stamp, forwarded_from, sent_by, web) = match &answer.channel {
        AnswerChannel::Mail {
            sequence,
            stamp,
            answerer,
            sender,
        } => (*sequence, *stamp, answerer.clone(), sender.clone(), false),
        AnswerChannel::Web => (
            invitation.sequence_held.unwrap_or_default(),
            Some(now),
            None,
            None,
            true,
        ),
    };
    let mark = invitation
        .marks
        .iter()
        .find(|m| m.instance == instance && m.answerer == forwarded_from);
    if let Some(m) = mark
        && !is_newer(sequence, stamp, m.sequence, m.stamp)
    {
        return Err(Refusal::new(
            RefusalReason::StaleReply,
            format!(
                "an answer with SEQUENCE {sequence} is not newer than the one recorded (SEQUENCE {})",
                m.sequence
            ),
        ));
    }
    let late = has_ended(&event.latest, now);
    let mut next = invitation.clone();
    let applies = forwarded_from.is_none() && (!late || late_answers == LateAnswers::Apply);
    if applies {
        match instance {
            None => {
                next.status = Some(status);
                next.answered_at = Some(now);
            }
            Some(id) => {
                next.instance_answers.retain(|(i, _)| *i != id);
                next.instance_answers.push((id, status));
                next.instance_answers.sort_by_key(|(i, _)| *i);
            }
        }
    }
    // Every answerer's message is their latest even when it is only recorded
    // (late, forwarded): a re-delivery of it must then be stale (the last
    // SEQUENCE and DTSTAMP are kept per attendee; manual: interop rule 20).
    next.marks
        .retain(|m| !(m.instance == instance && m.answerer == forwarded_from));
    next.marks.push(AnswerMark {
        answerer: forwarded_from.clone(),
        instance,
        sequence,
        stamp,
    });
    Ok(ReplyEffect {
        invitation: next,
        entry: HistoryEntry {
            token: invitation.token.clone(),
            at: now,
            kind: HistoryKind::Answer {
                status,
                instance,
                comment: answer.comment.clone(),
                sequence,
                forwarded_from,
                sent_by,
                late,
                web,
            },
        },
    })
}

/// Retry delay after `attempts` failed attempts: exponential from one minute,
/// capped at six hours, with jitter from `jitter` (0..=1) so retries spread.
pub fn backoff_seconds(attempts: u32, jitter: f64) -> i64 {
    let base = 60_i64.saturating_mul(1_i64 << attempts.saturating_sub(1).min(12));
    let capped = base.min(6 * 3600);
    let spread = (capped as f64 * 0.25 * jitter.clamp(0.0, 1.0)) as i64;
    capped + spread
}

/// Converts a start for messages ("Tue 3 Dec 18:00 Europe/Madrid").
pub(crate) fn describe_time(t: &InboundTime) -> String {
    match t {
        InboundTime::Zoned(z) => format!("{} {}", z.local(), z.zone().name()),
        InboundTime::Floating(n) => n.to_string(),
        InboundTime::Date(d) => d.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Recipient;
    use crate::ids::InvitationToken;
    use crate::inbound::CalendarIdentity;
    use crate::lifecycle::model::{DeliveryState, InvitationSource, OrganizerId, OwnerId, Scope};
    use crate::time::Schedule;
    use ParticipationStatus::{Accepted, Declined};
    use chrono::{NaiveDate, TimeZone as _};

    fn event() -> StoredEvent {
        let code = EventCode::generate(&crate::SequentialIds::new(9));
        let day = NaiveDate::from_ymd_opt(2026, 12, 1).expect("day");
        let latest = Event::builder(code.clone())
            .summary("Launch")
            .schedule(Schedule::all_day(day, day).expect("schedule"))
            .organizer(EmailAddress::parse("ana@example.com").expect("a"), None)
            .build()
            .expect("event");
        StoredEvent {
            scope: Scope {
                owner: OwnerId(1),
                organizer: OrganizerId(1),
            },
            code,
            organizer_uid: None,
            organizer_sequence: Sequence::INITIAL,
            organizer_stamp: None,
            latest,
            raw_calendar: None,
            sent_sequence: Sequence::INITIAL,
            cancelled: false,
            created_at: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
            version: 0,
        }
    }

    fn invitation(e: &StoredEvent, status: Option<ParticipationStatus>) -> Invitation {
        Invitation {
            scope: e.scope,
            code: e.code.clone(),
            token: InvitationToken::generate(&crate::SequentialIds::new(1)),
            recipient: Recipient::new(EmailAddress::parse("jorg@example.org").expect("a")),
            source: InvitationSource::Api,
            created_at: e.created_at,
            sent_at: None,
            sequence_held: Some(Sequence::INITIAL),
            cancelled: false,
            status,
            answered_at: None,
            instance_answers: Vec::new(),
            marks: Vec::new(),
            delivery: DeliveryState::Sent,
            copies: 0,
            version: 0,
        }
    }

    fn reply(status: ParticipationStatus, stamp: DateTime<Utc>) -> Reply {
        Reply {
            identity: CalendarIdentity {
                uid: String::new(),
                sequence: Sequence::INITIAL,
                dtstamp: Some(stamp),
                organizer: None,
            },
            invitation: None,
            attendee: Some(Mailbox::new(
                EmailAddress::parse("jorg@example.org").expect("a"),
            )),
            partstat: Some(status),
            delegated_to: None,
            recurrence_id: None,
            comment: None,
            proposed_start: None,
            proposed_end: None,
            request_status: Vec::new(),
        }
    }

    fn mail(inv: &Invitation, reply: &Reply) -> Answer {
        Answer::from_reply(reply, inv.recipient.address()).expect("an answer")
    }

    fn before() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap()
    }

    fn after() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
    }

    fn late_of(entry: &HistoryEntry) -> bool {
        match entry.kind {
            HistoryKind::Answer { late, .. } => late,
            ref other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_late_answer_is_recorded_and_applied_only_when_configured() {
        let e = event();
        let inv = invitation(&e, Some(Accepted));
        let no = reply(Declined, after());
        let no = mail(&inv, &no);
        let kept = apply_answer(&inv, &e, &no, LateAnswers::RecordOnly, after()).expect("recorded");
        assert_eq!(kept.invitation.status, Some(Accepted), "the answer stays");
        assert_eq!(kept.invitation.answered_at, None);
        assert!(late_of(&kept.entry));
        assert_eq!(kept.invitation.marks.len(), 1, "the message is the latest");
        let applied = apply_answer(&inv, &e, &no, LateAnswers::Apply, after()).expect("applied");
        assert_eq!(applied.invitation.status, Some(Declined));
        assert_eq!(applied.invitation.answered_at, Some(after()));
        assert!(late_of(&applied.entry));
        // Before the end, the setting does not matter.
        for setting in [LateAnswers::RecordOnly, LateAnswers::Apply] {
            let on_time = apply_answer(
                &inv,
                &e,
                &mail(&inv, &reply(Declined, before())),
                setting,
                before(),
            )
            .expect("applied");
            assert_eq!(on_time.invitation.status, Some(Declined));
            assert!(!late_of(&on_time.entry));
        }
    }

    #[test]
    fn a_changed_mind_is_applied_and_each_answer_stays_in_the_history() {
        let e = event();
        let inv = invitation(&e, None);
        let first = apply_answer(
            &inv,
            &e,
            &Answer::web(Accepted),
            LateAnswers::RecordOnly,
            before(),
        )
        .expect("yes");
        assert_eq!(first.invitation.status, Some(Accepted));
        let later = before() + chrono::Duration::hours(2);
        let second = apply_answer(
            &first.invitation,
            &e,
            &mail(&inv, &reply(Declined, later)),
            LateAnswers::RecordOnly,
            later,
        )
        .expect("no");
        assert_eq!(second.invitation.status, Some(Declined));
        assert_eq!(second.invitation.answered_at, Some(later));
        let answer = |entry: &HistoryEntry| match &entry.kind {
            HistoryKind::Answer { status, web, .. } => (*status, *web, entry.at),
            other => panic!("{other:?}"),
        };
        assert_eq!(answer(&first.entry), (Accepted, true, before()));
        assert_eq!(answer(&second.entry), (Declined, false, later));
        // The first answer delivered again is stale: the mind stays changed.
        let again = apply_answer(
            &second.invitation,
            &e,
            &mail(&inv, &reply(Accepted, before())),
            LateAnswers::RecordOnly,
            later,
        )
        .expect_err("stale");
        assert_eq!(again.reason, RefusalReason::StaleReply);
    }

    #[test]
    fn an_answer_without_a_decision_is_refused() {
        let e = event();
        let inv = invitation(&e, None);
        let mut none = reply(Accepted, before());
        none.partstat = None;
        let err = Answer::from_reply(&none, inv.recipient.address()).expect_err("none");
        assert_eq!(err.reason, RefusalReason::NoAnswer);
        let pending = reply(ParticipationStatus::NeedsAction, before());
        let err = Answer::from_reply(&pending, inv.recipient.address()).expect_err("needs action");
        assert_eq!(err.reason, RefusalReason::NoAnswer);
        // Whichever channel it comes by, NEEDS-ACTION answers nothing.
        let web = Answer::web(ParticipationStatus::NeedsAction);
        let err = apply_answer(&inv, &e, &web, LateAnswers::Apply, before())
            .expect_err("needs action on the web");
        assert_eq!(err.reason, RefusalReason::NoAnswer);
    }

    #[test]
    fn mail_and_web_answers_are_one_input() {
        let e = event();
        let inv = invitation(&e, None);
        // A REPLY from another attendee is a forwarded copy's answer: recorded
        // under that answerer, the invited person's status untouched.
        let mut forwarded = reply(Declined, before());
        let other = EmailAddress::parse("assistant@example.org").expect("a");
        forwarded.attendee = Some(Mailbox::new(other.clone()));
        let answer = mail(&inv, &forwarded);
        assert_eq!(
            answer.channel,
            AnswerChannel::Mail {
                sequence: Sequence::INITIAL,
                stamp: Some(before()),
                answerer: Some(other.clone()),
                sender: None,
            }
        );
        let recorded =
            apply_answer(&inv, &e, &answer, LateAnswers::Apply, before()).expect("recorded");
        assert_eq!(recorded.invitation.status, None);
        assert_eq!(recorded.invitation.marks[0].answerer, Some(other));
        // A web answer answers the revision held, stamped when it is applied:
        // the same answer mailed with an older stamp is then stale.
        let web = apply_answer(
            &inv,
            &e,
            &Answer::web(Accepted).with_comment("see you"),
            LateAnswers::Apply,
            before(),
        )
        .expect("web");
        assert_eq!(web.invitation.status, Some(Accepted));
        match &web.entry.kind {
            HistoryKind::Answer { web, comment, .. } => {
                assert!(*web);
                assert_eq!(comment.as_deref(), Some("see you"));
            }
            other => panic!("{other:?}"),
        }
        let earlier = before() - chrono::Duration::hours(1);
        let stale = apply_answer(
            &web.invitation,
            &e,
            &mail(&inv, &reply(Declined, earlier)),
            LateAnswers::Apply,
            before(),
        )
        .expect_err("older than the web answer");
        assert_eq!(stale.reason, RefusalReason::StaleReply);
    }

    #[test]
    fn a_reply_mailed_from_another_address_is_decided_by_its_token_and_says_so() {
        let e = event();
        let inv = invitation(&e, None);
        let invited = inv.recipient.address().clone();
        let assistant = EmailAddress::parse("assistant@example.org").expect("a");
        // From differs from the ATTENDEE (the invited person): applied, and
        // the history names the sender.
        let answer = mail(&inv, &reply(Accepted, before())).mailed_by(Some(&assistant), &invited);
        let applied =
            apply_answer(&inv, &e, &answer, LateAnswers::Apply, before()).expect("applied");
        assert_eq!(applied.invitation.status, Some(Accepted));
        match &applied.entry.kind {
            HistoryKind::Answer {
                sent_by,
                forwarded_from,
                ..
            } => {
                assert_eq!(sent_by.as_ref(), Some(&assistant));
                assert_eq!(forwarded_from, &None);
            }
            other => panic!("{other:?}"),
        }
        // From and ATTENDEE agree: nothing extra is recorded.
        let same = mail(&inv, &reply(Accepted, before())).mailed_by(Some(&invited), &invited);
        let entry = apply_answer(&inv, &e, &same, LateAnswers::Apply, before())
            .expect("applied")
            .entry;
        assert!(matches!(
            entry.kind,
            HistoryKind::Answer { sent_by: None, .. }
        ));
        // A forwarded copy answered from its own attendee's mailbox: the
        // sender is that attendee, so nothing extra either.
        let mut forwarded = reply(Declined, before());
        forwarded.attendee = Some(Mailbox::new(assistant.clone()));
        let answer = mail(&inv, &forwarded).mailed_by(Some(&assistant), &invited);
        assert!(matches!(
            answer.channel,
            AnswerChannel::Mail { sender: None, answerer: Some(ref a), .. } if *a == assistant
        ));
        // A web answer has no sender.
        let web = Answer::web(Accepted).mailed_by(Some(&assistant), &invited);
        assert_eq!(web.channel, AnswerChannel::Web);
    }

    #[test]
    fn organizer_messages_are_ordered_by_sequence_then_stamp() {
        let (s0, s1) = (Sequence::INITIAL, Sequence::new(1));
        assert!(is_newer(s1, None, s0, Some(after())));
        assert!(!is_newer(s0, Some(after()), s1, None));
        assert!(is_newer(s0, Some(after()), s0, Some(before())));
        assert!(!is_newer(s0, Some(before()), s0, Some(before())));
    }
}
