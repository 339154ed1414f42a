//! A revision of an event as it is sent: the event, its SEQUENCE, and the
//! iCalendar text every message of it shares, prepared once. Apart from the
//! event model so that the model does not depend on the iCalendar writer.

use std::sync::Arc;

use crate::event::Event;
use crate::ics::{Prepared, prepare};
use crate::ids::Sequence;

/// One revision of an event: the event as it stands, and the SEQUENCE
/// recipients see for it ([D2](crate::manual::design#d2)).
///
/// Holds what every message of the revision shares, prepared once: the
/// VTIMEZONE components and the event's own iCalendar lines. Cloning it is
/// cheap (both are shared), so every message of a batch may hold one.
#[derive(Clone, Debug)]
pub struct EventRevision {
    event: Arc<Event>,
    sequence: Sequence,
    prepared: Arc<Prepared>,
}

impl EventRevision {
    /// The revision of `event` sent with `sequence`.
    pub fn new(event: Event, sequence: Sequence) -> Self {
        let prepared = Arc::new(prepare(&event));
        EventRevision {
            event: Arc::new(event),
            sequence,
            prepared,
        }
    }

    /// The event.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// Its SEQUENCE.
    pub fn sequence(&self) -> Sequence {
        self.sequence
    }

    pub(crate) fn prepared(&self) -> &Prepared {
        &self.prepared
    }
}

impl PartialEq for EventRevision {
    fn eq(&self, other: &Self) -> bool {
        // The prepared text is derived from the event.
        self.event == other.event && self.sequence == other.sequence
    }
}

impl Eq for EventRevision {}
