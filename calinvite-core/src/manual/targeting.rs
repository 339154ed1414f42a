//! Targeting: which edits go out, and who receives updates, cancellations
//! and late invitations. The rules are pure functions in
//! [`crate::targeting`]; the engine applies them to each invitation.
//!
//! ## Which edits go out ([D3](super::design#d3))
//!
//! An organizer's new revision is compared with the one recipients hold
//! ([`changes`](crate::targeting::changes)): start and end (as instants, so
//! the same moment written in another zone is no change), recurrence,
//! status, location, summary, description, URL, and the overridden
//! instances. If none of them changed, nothing is sent and calinvite's
//! SEQUENCE stays as it is. A change of time, recurrence or status
//! reschedules the event (RFC 5546 §2.1.4): recipients are asked again
//! rather than only told ([`Changes::reschedules`](crate::targeting::Changes::reschedules)).
//!
//! ## Updates ([D4](super::design#d4))
//!
//! The organizer's [`UpdateAudience`](crate::targeting::UpdateAudience)
//! decides, from each recipient's last answer:
//!
//! | audience | Yes | Maybe | no answer | No |
//! |---|---|---|---|---|
//! | `AcceptedOrTentative` (default) | ✓ | ✓ | | |
//! | `NotDeclined` | ✓ | ✓ | ✓ | |
//! | `Everyone` | ✓ | ✓ | ✓ | ✓ |
//!
//! Whatever the audience, an update never goes to someone who was never sent
//! the event, to a hard-bounced address, or to a suppressed one (unsubscribed,
//! complained, bounced). A forwarded copy's answer never counts: only the
//! invited person's own answer places them in or out.
//!
//! ## Cancellations ([D5](super::design#d5))
//!
//! A cancellation goes to everyone who was sent any REQUEST for the event,
//! whatever they answered, except hard bounces
//! ([`receives_cancellation`](crate::targeting::receives_cancellation)). A
//! suppressed address is included: it asked for no more invitations, but an
//! event already on its calendar must not stay there after it is called off.
//! A cancelled instance of a recurring event reaches the same people, with
//! its own SEQUENCE.
//!
//! ### Hard bounces across events
//!
//! "Except hard bounces" means the address, not only this event's copy: an
//! address whose mail hard-bounced on *any* of the owner's events (the
//! owner's suppression list holds it for
//! [`SuppressionReason::HardBounce`](crate::lifecycle::SuppressionReason))
//! gets no cancellation either, and a cancellation queued before such a
//! bounce arrived is set aside when its turn comes ("not sent: the address
//! hard-bounced since"). Why:
//!
//! - A hard bounce is the receiving server saying the mailbox does not take
//!   mail (no such user, domain gone). The invitation this event sent there
//!   earlier may have arrived, but the mailbox has stopped accepting mail
//!   since; a cancellation would only bounce again, and repeated sends to
//!   dead mailboxes are what mailbox providers count against a sender's
//!   reputation — every other recipient's mail pays for it.
//! - The owner's suppression is the one record of "this address cannot be
//!   mailed", across events: updates, invitations and now cancellations
//!   all read it, so no message kind disagrees with another about the same
//!   mailbox.
//! - Nothing is lost to the organizer: the invitation keeps its history and
//!   the bounce is in the reports.
//!
//! An unsubscribed or complaining address is not a bounce: it still gets
//! the cancellation (its calendar must not keep an event that is off).
//!
//! ## Late joiners
//!
//! Someone invited after the event was revised gets the revision recipients
//! currently hold, under the current SEQUENCE. Nobody can be invited to a
//! cancelled event ([`accepts_new_recipients`](crate::targeting::accepts_new_recipients)),
//! to an event whose cancellation waits for approval, or to one whose last
//! occurrence is over.
//!
//! ## Under approval ([D6](super::design#d6))
//!
//! With the approval switch on, the audience is worked out when the change is
//! planned and listed in the
//! [`PendingChange`](crate::lifecycle::PendingChange). Approval is checked
//! against the present: addresses that bounced or were suppressed since are
//! skipped, and so, for an update, are people the audience no longer includes
//! (someone who declined meanwhile); people invited after the change was
//! planned get what the audience rule gives them.
//!
//! ## Past events ([interop rule 22](super::interop#rule-22))
//!
//! Once the event's last occurrence is over, no update or cancellation is
//! mailed to anyone: the edit is kept, the cancellation recorded, and the
//! refusal (`event-ended`) counted in the reports.
