//! # Inbound warnings: what is refused and what is only noted
//!
//! The inbound reader ([`crate::inbound::parse_inbound`]) is liberal: it
//! reads sloppy mail and says on
//! [`InboundMessage::warnings`](crate::inbound::InboundMessage::warnings)
//! what it could not use. One thing it never does is let an organizer's
//! event change meaning on the way in. Anything in an organizer's request or
//! cancellation that calinvite cannot represent and that decides **when or
//! whether** the event happens makes the message refused as
//! [`UnusableEvent`](crate::lifecycle::RefusalReason::UnusableEvent), with
//! the reason in plain words (it is listed on
//! [`InboundEvent::unusable`](crate::inbound::InboundEvent::unusable)). What
//! is merely cosmetic stays a warning and the message is taken.
//!
//! Who hears about an unusable event: the refusal is decided before the
//! allow-list and authentication are consulted, and they only decide who is
//! told. An organizer whose message passes them gets the refusal notice with
//! the reason; a message that names a registered organizer but fails them is
//! answered at the account's own notice address (the From may be forged);
//! a stranger hears nothing (no backscatter). Nothing is sent to anyone
//! else, and an event calinvite already has stays exactly as it was.
//!
//! ## Ambiguous mail
//!
//! A message in which a header field that decides who sent it or what it
//! contains appears more than once is refused as
//! [`AmbiguousMessage`](crate::lifecycle::RefusalReason::AmbiguousMessage)
//! before any policy decision: no From is looked at, so the allow-list,
//! tenancy and authentication never act on a copy an attacker chose, and
//! nobody is told (the sender is not known). The fields follow RFC 5322
//! §3.6 (and RFC 2045 for MIME), which allow each of them at most once:
//!
//! | Field given twice | Decision | Why |
//! |---|---|---|
//! | `From` (or one `From` naming several authors) | refuse | decides who sent it; readers disagree on which copy counts and DMARC does not check such mail |
//! | `Sender` | refuse | decides who sent it |
//! | `Message-ID` | refuse | identifies the message (duplicates, reports) |
//! | `Subject` | refuse | what a person reads as the message differs by reader |
//! | `MIME-Version` | refuse | decides whether the body is MIME at all |
//! | `Content-Type` (top level or any part) | refuse | decides what the message contains |
//! | `Content-Transfer-Encoding` (top level or any part) | refuse | decides the bytes of the content |
//! | `Date` | warn | calinvite orders messages by SEQUENCE and DTSTAMP, never by Date |
//! | `To`, `Cc`, `Bcc` | warn | calinvite routes by the SMTP envelope, never by these |
//! | `Reply-To`, `In-Reply-To`, `References` | warn | calinvite does not act on them |
//!
//! ## Every warning and its decision
//!
//! "Refuse" applies to organizer requests and cancellations: the warning is
//! still given, and the message is refused as an unusable event. Replies,
//! counters and refresh requests are decided by their invitation token and
//! their answer; their warnings are noted only.
//!
//! | Warning (or silent reading today) | Decision | Why |
//! |---|---|---|
//! | RRULE could not be used (`INTERVAL=0`, a `COUNT` that overflows, an unknown part …) | refuse | taking the rest turns a series into a single meeting |
//! | more than one RRULE | refuse | calinvite represents one rule; the first alone would drop occurrences |
//! | EXRULE present (was silently ignored) | refuse | occurrences the organizer removed would come back |
//! | RDATE or EXDATE value not a date or date-time | refuse | an extra occurrence is lost, or a removed one comes back |
//! | RDATE or EXDATE in an unknown zone or with no zone (kept floating) | refuse | calinvite cannot tell which occurrence it names |
//! | RDATE given as a PERIOD (was silently shortened to its start) | refuse | the occurrence has its own length, which calinvite cannot represent |
//! | DTSTART or DTEND not a date or date-time | refuse | the time of the event is unknown |
//! | DURATION is not a duration | refuse | the end of the event is unknown |
//! | DTEND and DURATION both given (was: DTEND silently won) | refuse | the two may disagree about the end |
//! | unknown time zone: times kept floating, on DTSTART/DTEND/RECURRENCE-ID | refuse | a floating time names no instant (already refused when the event is adopted) |
//! | unknown time zone, on a property that decides nothing (DTSTAMP) | warn | nothing about the event changes |
//! | STATUS not CONFIRMED, TENTATIVE or CANCELLED (was silently dropped) | refuse | whether the event happens is unknown |
//! | SEQUENCE is not a number (out of range, negative, text) | refuse | calinvite cannot tell whether it is a newer version |
//! | a changed occurrence (RECURRENCE-ID) that is not a date or date-time (was silently dropped) | refuse | the change to that occurrence would be lost |
//! | RECURRENCE-ID with `RANGE=THISANDFUTURE` (was read as one occurrence) | refuse | it changes every later occurrence |
//! | a changed occurrence's DTSTART, DTEND, DURATION or STATUS unusable | refuse | as for the event itself |
//! | a changed occurrence's SEQUENCE is not a number | warn | calinvite orders by the message's own SEQUENCE, not an occurrence's |
//! | more than one VEVENT without RECURRENCE-ID (a request) | refuse | two versions of the event: which one is meant is unknown |
//! | VEVENTs with another UID ignored | refuse | another event in the same message would be lost |
//! | a cancelled occurrence's RECURRENCE-ID unreadable or floating | refuse | the cancellation would reach a different set of occurrences |
//! | ORGANIZER is not an address | warn | it decides who, not when: the authenticated sender is the organizer |
//! | DTSTAMP is not a date-time | warn | DTSTAMP only orders two messages of equal SEQUENCE |
//! | several VCALENDAR objects; the first with an event used | warn | clients attach the same calendar twice |
//! | the first calendar part could not be used; a later one was | warn | the part that was used is a whole calendar |
//! | Content-Type says one method, METHOD another; METHOD wins | warn | [interop rule 23](crate::manual::interop#rule-23): the calendar's own METHOD is what clients act on |
//! | the calendar part is not valid UTF-8; bytes replaced | warn | only text is affected; dates and rules are ASCII |
//! | lines that are not iCalendar content lines skipped | warn | a line without a name and a value says nothing calinvite could use |
//! | components not closed by END | warn | every line that arrived is read; a missing rule or date would itself be refused |
//! | more than one ATTENDEE in a reply; one used | warn | the answer is decided by the invitation token |
//! | the reply names no ATTENDEE | warn | a reply with no answer is refused as no answer |
//! | PARTSTAT not one calinvite knows | warn | a reply with no answer is refused as no answer |
//! | the MIME structure is too malformed to read | refuse | already unreadable: nothing can be taken |
//! | no message headers could be read | warn | not a calendar message; ignored |
//! | an unknown X- property, a VALARM, an unknown parameter | (no warning) | cosmetic: calinvite does not send them on |
