//! Design notes, as rustdoc pages.
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
//! ## Identity and reply routing (DESIGN D1)
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
//!
//! ## Text safety
//!
//! Inputs are normalised once, at the edge ([`Text`](crate::Text),
//! [`Name`](crate::Name), [`EmailAddress`](crate::EmailAddress)): no control
//! character survives except the line break in multi-line text, which is
//! escaped as `\n` in iCalendar and becomes a CRLF hard break in
//! quoted-printable bodies. Writers add a second barrier: the iCalendar folder
//! and the header writer drop or replace any control octet.
//!
//! ## Determinism
//!
//! `Date`, `DTSTAMP` come from the `now` the caller passes; the Message-ID and
//! the MIME boundaries are derived from the idempotency key (token, SEQUENCE,
//! method), so a retry of the same key produces the same bytes.
