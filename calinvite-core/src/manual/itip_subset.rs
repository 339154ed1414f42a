//! The iTIP subset: what calinvite sends, what it accepts, and how the two
//! meet.
//!
//! ## The iTIP subset calinvite sends
//!
//! - `METHOD:REQUEST`: a first invitation or an update. One VEVENT for the
//!   event, plus one per overridden instance (same UID, `RECURRENCE-ID`).
//! - `METHOD:CANCEL`: the whole event, or one instance (`RECURRENCE-ID`), with
//!   `STATUS:CANCELLED` and the SEQUENCE the engine raised for it.
//!
//! Each copy names exactly one ATTENDEE, its recipient, with
//! `ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE` on requests (without
//! `RSVP=TRUE` Gmail shows no buttons and Outlook sends no reply). Other
//! attendees, alarms, `X-` properties and scheduling parameters of the
//! organizer's copy are never carried: the model has no place for them.
//!
//! The message around the calendar has the shape both Gmail and Outlook show
//! with answer buttons ([interop rule 2](super::interop#rule-2)), 7-bit clean
//! ([interop rule 3](super::interop#rule-3)); [`Composer`](crate::Composer)
//! writes it.
//!
//! ## What calinvite accepts
//!
//! [`parse_inbound`](crate::inbound::parse_inbound) classifies every message
//! that arrives ([`InboundKind`](crate::inbound::InboundKind)):
//!
//! - from organizers, at the ingest address: `REQUEST` (a new event, an
//!   update, or a partial update of some instances) and `CANCEL` (the event or
//!   some instances);
//! - from recipients, at the reply address: `REPLY` (an answer, for the event
//!   or one instance, with an optional comment), `COUNTER` (a proposed new
//!   time, recorded and passed on to the organizer) and `REFRESH` (a request
//!   to be sent the current revision again);
//! - delivery-status reports (bounces and delays), matched to the message
//!   they concern, and automatic replies (out of office), which are
//!   recognised and never taken for answers.
//!
//! `PUBLISH`, `ADD` and `DECLINECOUNTER`, calendars with no METHOD, TNEF-only
//! and encrypted messages, and anything beyond the
//! [`InboundLimits`](crate::inbound::InboundLimits) are classified as
//! unsupported, with a reason. The METHOD property wins over the
//! Content-Type's `method` ([interop rule 23](super::interop#rule-23)).
//!
//! ## Identity and reply routing ([D1](super::design#d1))
//!
//! Calendar clients reply to ORGANIZER, so ORGANIZER (and `From`) is calinvite's
//! own mailbox ([`SenderIdentity`](crate::SenderIdentity)), shown with the real
//! organizer's name as `CN`. Each recipient gets their own UID,
//! `{event code}-{token}@{domain}`, whose 128-bit token identifies the
//! invitation a reply answers, whatever attendee address the reply carries.
//!
//! ## Time zones
//!
//! Every zone is resolved to IANA on input (Windows names included). Output
//! names the IANA zone and carries a VTIMEZONE for it generated from the tz
//! database over the years the event covers (at least three, so that daylight
//! saving rules compress into `RRULE` form). UTC times are written with `Z`.
