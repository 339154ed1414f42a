//! An event without its code yet: what an application hands to
//! [`Pipeline::create_event`](crate::lifecycle::Pipeline::create_event),
//! which draws the code, completes and checks the event, and stores it.

use crate::EventError;
use crate::address::EmailAddress;
use crate::event::{Event, EventBuilder, EventStatus, InstanceOverride, Recurrence};
use crate::ids::EventCode;
use crate::text::Text;
use crate::time::Schedule;

/// An event to create, built like [`Event::builder`] but without a code: the
/// pipeline draws the code when it creates the event. Only the summary and
/// the schedule are required; without an
/// [`organizer`](Self::organizer), the event's organizer is the organizer
/// account it is created under (its notice address and name).
///
/// ```
/// use calinvite_core::{EventDraft, Schedule};
/// use chrono::NaiveDate;
///
/// let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
/// let draft = EventDraft::new("Invoice 2026-117 due", Schedule::all_day(day, day)?)
///     .description("Pay by bank transfer.");
/// # let _ = draft;
/// # Ok::<(), calinvite_core::TimeError>(())
/// ```
#[derive(Debug)]
#[must_use = "a draft does nothing until it is given to Pipeline::create_event"]
pub struct EventDraft {
    builder: EventBuilder,
}

impl EventDraft {
    /// A draft with its title and time.
    pub fn new(summary: impl Into<Text>, schedule: Schedule) -> Self {
        EventDraft {
            builder: Event::builder(EventCode::placeholder())
                .summary(summary)
                .schedule(schedule),
        }
    }
    /// Description.
    pub fn description(mut self, description: impl Into<Text>) -> Self {
        self.builder = self.builder.description(description);
        self
    }
    /// Place.
    pub fn location(mut self, location: impl Into<Text>) -> Self {
        self.builder = self.builder.location(location);
        self
    }
    /// Web page (checked when the event is created).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.builder = self.builder.url(url);
        self
    }
    /// How the event repeats.
    pub fn recurrence(mut self, recurrence: Recurrence) -> Self {
        self.builder = self.builder.recurrence(recurrence);
        self
    }
    /// An occurrence that differs from the rule.
    pub fn override_instance(mut self, instance: InstanceOverride) -> Self {
        self.builder = self.builder.override_instance(instance);
        self
    }
    /// The organizer shown in calendars, when it is not the account's own
    /// notice address.
    pub fn organizer(mut self, address: EmailAddress, name: Option<&str>) -> Self {
        self.builder = self.builder.organizer(address, name);
        self
    }
    /// Status (default confirmed).
    pub fn status(mut self, status: EventStatus) -> Self {
        self.builder = self.builder.status(status);
        self
    }

    /// The event under `code`, with `organizer` (address, name) when the
    /// draft names none.
    pub(crate) fn build(
        self,
        code: EventCode,
        organizer: (&EmailAddress, &str),
    ) -> Result<Event, EventError> {
        let mut builder = self.builder.code(code);
        if !builder.has_organizer() {
            let name = (!organizer.1.trim().is_empty()).then_some(organizer.1);
            builder = builder.organizer(organizer.0.clone(), name);
        }
        builder.build()
    }
}
