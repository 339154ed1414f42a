//! Who gets what: change detection ([D3](crate::manual::design#d3)) and the
//! audiences of updates and cancellations ([D4](crate::manual::design#d4),
//! [D5](crate::manual::design#d5)). Pure rules the iTIP engine applies.

use crate::event::{Event, EventStatus, InstanceOverride, ParticipationStatus};
use crate::keyword::keywords;
use crate::time::{OccurrenceId, Schedule};

/// What changed between two revisions of an event, in the properties that
/// are sent out ([D3](crate::manual::design#d3)). Alarms, comments and `X-`
/// properties are not in the model, so they never count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Changes {
    /// DTSTART, DTEND or DURATION (compared as instants and dates).
    pub time: bool,
    /// RRULE, RDATE or EXDATE.
    pub recurrence: bool,
    /// STATUS.
    pub status: bool,
    /// LOCATION.
    pub location: bool,
    /// SUMMARY.
    pub summary: bool,
    /// DESCRIPTION.
    pub description: bool,
    /// URL.
    pub url: bool,
    /// Overridden instances added, removed or changed.
    pub instances: bool,
}

impl Changes {
    /// Whether anything is sent out: a revision with no change sends nothing
    /// and keeps its SEQUENCE ([D2](crate::manual::design#d2)).
    pub fn any(&self) -> bool {
        self.time
            || self.recurrence
            || self.status
            || self.location
            || self.summary
            || self.description
            || self.url
            || self.instances
    }

    /// Whether recipients should be asked again (RFC 5546 §2.1.4: a change of
    /// time, recurrence or status), rather than only told.
    pub fn reschedules(&self) -> bool {
        self.time || self.recurrence || self.status
    }
}

/// Start and end as instants (or dates): the same moment in another zone is
/// no change.
fn span(s: &Schedule) -> (Option<OccurrenceId>, Option<OccurrenceId>) {
    match s {
        Schedule::Timed { start, end } => {
            (Some(OccurrenceId::at(start)), Some(OccurrenceId::at(end)))
        }
        Schedule::AllDay { start, end } => {
            (Some(OccurrenceId::On(*start)), Some(OccurrenceId::On(*end)))
        }
    }
}

fn same_instance(a: &InstanceOverride, b: &InstanceOverride) -> bool {
    a.id() == b.id()
        && span(a.schedule()) == span(b.schedule())
        && a.summary_text() == b.summary_text()
        && a.description_text() == b.description_text()
        && a.location_text() == b.location_text()
        && a.status_value() == b.status_value()
}

/// What changed from `before` to `after`. Recurrence rules compare in their
/// canonical form (part order, `INTERVAL=1` and `WKST=MO` do not matter).
pub fn changes(before: &Event, after: &Event) -> Changes {
    let recurrence = |e: &Event| {
        e.recurrence().map(|r| {
            (
                r.recurrence_rule().cloned(),
                r.dates().to_vec(),
                r.exceptions().to_vec(),
            )
        })
    };
    Changes {
        time: span(before.schedule()) != span(after.schedule()),
        recurrence: recurrence(before) != recurrence(after),
        status: before.status() != after.status(),
        location: before.location() != after.location(),
        summary: before.summary() != after.summary(),
        description: before.description() != after.description(),
        url: before.url() != after.url(),
        instances: before.overrides().len() != after.overrides().len()
            || before
                .overrides()
                .iter()
                .zip(after.overrides())
                .any(|(a, b)| !same_instance(a, b)),
    }
}

/// Who receives an organizer's update ([D4](crate::manual::design#d4)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum UpdateAudience {
    /// Recipients whose last answer is Yes or Maybe (the default).
    #[default]
    AcceptedOrTentative,
    /// Everyone who has not declined (no answer included).
    NotDeclined,
    /// Everyone who received the event.
    Everyone,
}

keywords!(UpdateAudience {
    AcceptedOrTentative => "accepted-or-tentative",
    NotDeclined => "not-declined",
    Everyone => "everyone",
});

/// What the rules need to know of one invitation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct InvitationState {
    /// The recipient's last answer, if any.
    pub last_answer: Option<ParticipationStatus>,
    /// Whether any REQUEST for the event was sent to them.
    pub received_request: bool,
    /// Whether their address hard-bounced.
    pub hard_bounced: bool,
    /// Whether their address is suppressed (unsubscribed, complained, bounced).
    pub suppressed: bool,
}

impl UpdateAudience {
    /// Whether this invitation's recipient gets an update. Never a hard-bounced
    /// or suppressed address, never someone who never received the event.
    pub fn includes(self, s: &InvitationState) -> bool {
        if !s.received_request || s.hard_bounced || s.suppressed {
            return false;
        }
        match self {
            UpdateAudience::AcceptedOrTentative => matches!(
                s.last_answer,
                Some(ParticipationStatus::Accepted | ParticipationStatus::Tentative)
            ),
            UpdateAudience::NotDeclined => s.last_answer != Some(ParticipationStatus::Declined),
            UpdateAudience::Everyone => true,
        }
    }
}

/// Whether this invitation's recipient gets a cancellation
/// ([D5](crate::manual::design#d5)): everyone who received any REQUEST for the
/// event, declined included, except hard bounces. A suppressed address still
/// learns that an event on its calendar is off.
pub fn receives_cancellation(s: &InvitationState) -> bool {
    s.received_request && !s.hard_bounced
}

/// Whether an event can still be sent to new recipients.
pub fn accepts_new_recipients(event: &Event) -> bool {
    event.status() != EventStatus::Cancelled
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EmailAddress, EventCode, Recurrence, RecurrenceRule, TimeZone, ZonedDateTime};
    use chrono::NaiveDate;

    fn at(zone: &str, h: u32) -> ZonedDateTime {
        let local = NaiveDate::from_ymd_opt(2026, 12, 3)
            .unwrap()
            .and_hms_opt(h, 0, 0)
            .unwrap();
        ZonedDateTime::new(local, TimeZone::parse(zone).unwrap()).unwrap()
    }

    fn event(
        description: &str,
        start: ZonedDateTime,
        end: ZonedDateTime,
        rule: Option<&str>,
    ) -> Event {
        let mut b = Event::builder(EventCode::parse("k3m9qxv2c4d8fjr7").unwrap())
            .summary("Launch")
            .description(description)
            .schedule(Schedule::timed(start, end).unwrap())
            .organizer(EmailAddress::parse("ana@example.com").unwrap(), None);
        if let Some(r) = rule {
            b = b.recurrence(Recurrence::rule(RecurrenceRule::parse(r).unwrap()));
        }
        b.build().unwrap()
    }

    #[test]
    fn a_merch_offer_in_the_description_is_a_change_that_reschedules_nothing() {
        let a = event(
            "Party",
            at("Europe/Madrid", 18),
            at("Europe/Madrid", 20),
            None,
        );
        let b = event(
            "Party. Merch: 20% off tonight",
            at("Europe/Madrid", 18),
            at("Europe/Madrid", 20),
            None,
        );
        let c = changes(&a, &b);
        assert!(c.any() && c.description && !c.reschedules());
        assert!(!changes(&a, &a.clone()).any());
    }

    #[test]
    fn the_same_instant_in_another_zone_and_an_equivalent_rule_are_no_change() {
        let a = event(
            "x",
            at("Europe/Madrid", 18),
            at("Europe/Madrid", 20),
            Some("FREQ=WEEKLY;INTERVAL=1;BYDAY=TH"),
        );
        let b = event(
            "x",
            at("Europe/London", 17),
            at("Europe/London", 19),
            Some("BYDAY=TH;FREQ=WEEKLY;WKST=MO"),
        );
        assert_eq!(changes(&a, &b), Changes::default());
        let moved = event(
            "x",
            at("Europe/Madrid", 19),
            at("Europe/Madrid", 21),
            Some("FREQ=WEEKLY;BYDAY=TH"),
        );
        assert!(changes(&a, &moved).time && changes(&a, &moved).reschedules());
        let other_rule = event(
            "x",
            at("Europe/Madrid", 18),
            at("Europe/Madrid", 20),
            Some("FREQ=WEEKLY;BYDAY=FR"),
        );
        assert!(changes(&a, &other_rule).recurrence);
    }

    #[test]
    fn audiences_follow_design_d4_and_d5() {
        use ParticipationStatus::*;
        let state = |answer, bounced, suppressed| InvitationState {
            last_answer: answer,
            received_request: true,
            hard_bounced: bounced,
            suppressed,
        };
        let default = UpdateAudience::default();
        assert!(default.includes(&state(Some(Accepted), false, false)));
        assert!(default.includes(&state(Some(Tentative), false, false)));
        assert!(!default.includes(&state(Some(Declined), false, false)));
        assert!(!default.includes(&state(None, false, false)));
        assert!(UpdateAudience::NotDeclined.includes(&state(None, false, false)));
        assert!(!UpdateAudience::NotDeclined.includes(&state(Some(Declined), false, false)));
        assert!(UpdateAudience::Everyone.includes(&state(Some(Declined), false, false)));
        for audience in [
            UpdateAudience::AcceptedOrTentative,
            UpdateAudience::NotDeclined,
            UpdateAudience::Everyone,
        ] {
            assert!(
                !audience.includes(&state(Some(Accepted), true, false)),
                "never a hard bounce"
            );
            assert!(
                !audience.includes(&state(Some(Accepted), false, true)),
                "never a suppressed address"
            );
            assert!(
                !audience.includes(&InvitationState::default()),
                "never someone who got nothing"
            );
        }
        assert!(receives_cancellation(&state(Some(Declined), false, false)));
        assert!(receives_cancellation(&state(None, false, true)));
        assert!(!receives_cancellation(&state(Some(Accepted), true, false)));
        assert!(!receives_cancellation(&InvitationState::default()));
    }
}
