//! The invitation lifecycle: what the engine ([`crate::lifecycle`]) does
//! with each thing that happens, and why.
//!
//! ## Tenancy ([D13](super::design#d13))
//!
//! Domain owner → organizers → events → invitations. A command names its
//! [`Scope`](crate::lifecycle::Scope) (owner and organizer) and touches
//! nothing outside it; an inbound message is scoped by the mailbox that
//! received it (each owner has its own ingest, reply and bounce mailboxes)
//! and, for replies, by the invitation token, which must belong to that
//! owner (else `wrong-tenant`).
//!
//! ## Organizer ingest ([D7](super::design#d7), [D2](super::design#d2))
//!
//! A REQUEST to the ingest address is taken only from a registered
//! organizer: its `From` address must be on an organizer's allow-list (an
//! exact address, or a whole domain, compared after normalising — never as a
//! substring) and pass that organizer's
//! [`AuthPolicy`](crate::lifecycle::AuthPolicy) (default: DMARC pass, or
//! SPF/DKIM pass aligned with the `From` domain). The calendar's ORGANIZER
//! must be allowed for the same account. The first REQUEST for a UID creates
//! an event with a fresh event code and tells the organizer the code and what
//! to do next; later ones are revisions, ordered by the organizer's
//! SEQUENCE, then DTSTAMP: an older or repeated one changes nothing. A
//! request holding only instances (`RECURRENCE-ID`) is a partial update of
//! those instances. Refusals are recorded with a typed
//! [`RefusalReason`](crate::lifecycle::RefusalReason); a registered
//! organizer is told why by mail, a stranger is not (no backscatter). When
//! authentication failed the `From` is unproven, so the notice goes to the
//! account's own `notify` address instead.
//!
//! ## What is sent out, and SEQUENCE ([D2](super::design#d2), [D3](super::design#d3))
//!
//! A revision goes out only when a property recipients see changed
//! ([`targeting::changes`](crate::targeting::changes)); only then does
//! calinvite's own SEQUENCE rise, by one per change sent (one per cancelled
//! instance, so each CANCEL has its own idempotency key). The organizer's
//! SEQUENCE never reaches recipients.
//!
//! ## Sending invitations
//!
//! Idempotent per (event, address): a second request returns the existing
//! invitation and sends nothing. Refused, with a reason: cancelled events,
//! events with a cancellation waiting for approval, events whose last
//! occurrence is over ([`Event::ends_at`](crate::Event::ends_at)),
//! suppressed addresses, the organizer's own address and calinvite's
//! mailboxes. A late joiner gets the revision recipients currently hold.
//!
//! ## Lists
//!
//! Sending an event to a list is one durable job
//! ([`Pipeline::start_list`](crate::lifecycle::Pipeline::start_list), found
//! again by its name for the event). The list is read as a stream
//! ([`crate::list`]: a CSV file with a header, or any iterator of
//! [`ListEntry`](crate::list::ListEntry)s) and taken a page at a time
//! ([`feed_list`](crate::lifecycle::Pipeline::feed_list),
//! [`feed_csv`](crate::lifecycle::Pipeline::feed_csv)). Each page is one
//! commit: every row's [`RowVerdict`](crate::lifecycle::RowVerdict) —
//! invited, already invited (idempotent per event and address: a list sent
//! twice sends nothing twice), duplicate of an earlier row, invalid (what is
//! wrong), or refused as a single invitation would be (suppressed, the
//! owner's own address, the event over or cancelled) — with the invitations
//! and queued messages of the rows that invite someone.
//!
//! Resuming works from per-row state, not from a cursor: a row number is
//! decided once, ever, in the same commit as what it causes. A process that
//! dies mid-list and is started again feeds the list again (from its start,
//! or from anywhere before where it stopped); the rows already recorded are
//! skipped and the others taken, so nobody is left out and nobody is
//! invited twice.
//!
//! Pausing holds the job's queued messages (the queue does not hand them to
//! workers; one a worker already holds finishes) and stops rows being
//! taken; resuming releases them. Cancelling sets the messages still queued
//! aside as failed, for good. Progress
//! ([`list_progress`](crate::lifecycle::Pipeline::list_progress)) counts
//! rows by verdict and the job's invitations by what became of them
//! (accepted by the mail server, hard-bounced, answered); the per-row report
//! — each row's verdict, and where its invitation's message stands and the
//! recipient's answer, the batch's RSVP status — exports as CSV
//! ([`list_csv`](crate::lifecycle::Pipeline::list_csv)), a page at a time.
//!
//! ## Updates and cancellations ([D4](super::design#d4), [D5](super::design#d5), [D6](super::design#d6))
//!
//! Updates go to the organizer's
//! [`UpdateAudience`](crate::targeting::UpdateAudience) among those who hold
//! an older revision (never hard bounces or suppressed addresses);
//! cancellations to everyone who received a REQUEST, declined included,
//! except hard bounces — a suppressed address still learns that an event on
//! its calendar is off. Recipients are worked out in batches
//! ([`FanOut`](crate::spi::FanOut)), each batch committed with the
//! messages it queues, so memory does not grow with the audience and a crash
//! resumes where it stopped.
//!
//! With the approval switch on, an update or cancellation becomes a
//! [`PendingChange`](crate::lifecycle::PendingChange) listing every message
//! it would send. Approving sends those (skipping addresses that bounced or
//! were suppressed since, and, for an update, people the audience rule no
//! longer includes — someone who declined meanwhile) and, for people who
//! joined after it was planned,
//! whatever the audience rule gives them; rejecting sends nothing. A newer
//! revision or cancellation supersedes an open pending change, and so does
//! an edit back to what recipients hold. While a cancellation waits, new
//! invitations are refused.
//!
//! ## <span id="answers"></span>Answers ([interop rules 19–22](super::interop#rule-19))
//!
//! A REPLY is matched by the token in its UID ([D1](super::design#d1)),
//! whatever attendee address it carries. Each answer is appended to the
//! invitation's history (time, status, instance, comment, SEQUENCE). An
//! answer whose (SEQUENCE,
//! DTSTAMP) is not newer than the last one adopted for the same instance is
//! stale and refused; answers for one instance are kept per instance; an
//! answer from another address (a forwarded copy) is recorded as forwarded
//! and never overwrites the invited person's; an answer after the event's
//! end is recorded as late and, by default
//! ([`LateAnswers`](crate::lifecycle::LateAnswers)), leaves the status as
//! it was. Web answers (a POST, never a GET) are recorded the same way.
//! COUNTER proposals are recorded and the organizer is told; REFRESH
//! re-sends the current revision as a new copy (its own key and
//! Message-ID).
//!
//! Nothing is mailed about an event that is over
//! ([interop rule 22](super::interop#rule-22)): an organizer's later edit
//! is kept and a cancellation recorded, with an `event-ended` refusal in the
//! reports.
//!
//! ## Delivery ([D8](super::design#d8), [D12](super::design#d12))
//!
//! A message is queued in the same commit as the state change that causes
//! it, under its idempotency key (token, SEQUENCE, method, copy); a key is
//! queued once, ever. Workers claim due messages with a lease, assemble
//! them from the stored revision, send, and settle: sent; transient failure →
//! retried with exponential backoff and jitter up to a limit; permanent
//! failure → the invitation is hard-bounced and the address suppressed.
//! Just before sending, a queued REQUEST is dropped (recorded as failed,
//! "superseded") when its event or invitation was cancelled, a newer
//! REQUEST for the invitation is queued, or the address was suppressed
//! since: a retry never shows a recipient an older SEQUENCE than one they
//! hold, nor invites them to a cancelled event. A queued cancellation is
//! dropped the same way when the address hard-bounced on any of the owner's
//! mail since it was queued
//! ([targeting](super::targeting#hard-bounces-across-events)).
//! Delivery reports do the same (a `delivered` report marks delivery).
//!
//! Leases: every claim counts an attempt, and the claim's
//! [`Lease`](crate::spi::Lease) (the message and that attempt number) is
//! what settles it. A worker that stalls past its lease (a slow relay, a
//! paused process) may find the message claimed by another worker; its
//! settlement is then refused
//! ([`StoreError::NotLeased`](crate::spi::StoreError::NotLeased)), writes
//! nothing, and the delivery reports
//! [`LeaseLost`](crate::lifecycle::DeliveryReport::LeaseLost): the outcome
//! is the current holder's to record, so a stale failure can never
//! overwrite a later success (nor bounce an address that took the mail).
//! The message may have gone out twice then, under one Message-ID, which
//! calendar clients file as one.
//!
//! ### <span id="batches"></span>Batches, and at least once
//!
//! Workers claim in batches: one statement leases up to a batch of due
//! messages; the batch's invitations, owners, settings, events and
//! suppressions are read in a few queries
//! ([`Pipeline::prepare`](crate::lifecycle::Pipeline::prepare)); its
//! messages go out concurrently over the relay's pooled, pipelined
//! connections; and its outcomes are recorded together
//! ([`Pipeline::settle_sends`](crate::lifecycle::Pipeline::settle_sends),
//! [`Store::settle_all`](crate::spi::Store::settle_all): one transaction on
//! a database). Each message keeps its own outcome: one whose lease was
//! lost, or whose invitation changed meanwhile (an answer came in), is
//! settled apart, and the rest of the batch is not held back by it. A
//! worker keeps a second batch in hand, claimed and assembled while the
//! first is on the wire.
//!
//! Delivery is at least once. A worker killed between the relay taking a
//! message and the outcome being recorded leaves it leased; when the lease
//! runs out another worker claims it and sends it again. Only messages in
//! hand at the moment of the kill can repeat — at most the worker's
//! batches in hand — and every such claim is counted:
//! [`QueueCounts::reclaimed`](crate::lifecycle::QueueCounts::reclaimed)
//! (from [`Pipeline::queue_counts`](crate::lifecycle::Pipeline::queue_counts))
//! is an upper bound on the messages sent twice. Nothing is lost: a message
//! leaves the queue only when an outcome is recorded for it.
//!
//! A queued message whose stored row cannot be read back (a damaged or
//! hand-edited row) is set aside as failed by the claim that meets it —
//! its row number and why in `failure`, its body kept for an operator — and
//! the claim takes the next message instead: one bad row never stops the
//! queue, nor makes it look empty.
//! One-click unsubscribe suppresses the address for every future send of the
//! owner.
//!
//! ## <span id="announcements"></span>Announcements
//!
//! An application often wants to hear what happened as it happens — to
//! post it to webhooks, a message bus or an audit log. A pipeline built
//! with [`PipelineOptions::announce`](crate::lifecycle::PipelineOptions::announce)
//! (`.announce(true)` on its builder; off by default, and then nothing is
//! built or written) adds an [`Announcement`](crate::lifecycle::Announcement)
//! to the very commit of each change that causes one
//! ([`Change::Announce`](crate::spi::Change::Announce)): an announcement
//! exists exactly when its change was committed, never for a write that
//! was rolled back or lost a race and was decided again. Each names its
//! domain owner and organizer, is stamped with the command's `now`, and
//! says what happened, with an [`AnnouncementType`](crate::lifecycle::AnnouncementType)
//! to route on:
//!
//! | type | when |
//! |------|------|
//! | `invitation.answered` | an answer was recorded (mail or web), with the answer it replaces (a changed mind), whether it counts (late, forwarded) |
//! | `invitation.countered` | a recipient proposed another time |
//! | `delivery.sent` | a relay accepted an invitation, update or cancellation (notices to the organizer are not announced) |
//! | `delivery.delivered` | a delivery report or notice confirmed it |
//! | `delivery.bounced` | the relay refused it for good, or a report or notice said it bounced (permanent or not) |
//! | `delivery.complaint` | the recipient reported it as spam |
//! | `delivery.suppressed` | an address was suppressed: an unsubscribe, or by hand (the owner's, with no organizer) |
//! | `delivery.failed` | a queued message will not go out: given up after its retries, or set aside (superseded, suppressed since, event cancelled) |
//! | `event.created` | an event was adopted from the organizer's calendar or made through the API |
//! | `event.updated` | a new revision is being sent; or, for an event that is over, the change was kept and nobody mailed |
//! | `event.cancelled` | the event, or some instances, cancelled (likewise) |
//! | `pending.created`, `pending.approved`, `pending.rejected`, `pending.superseded` | a change held for approval, and how it ended |
//! | `list.progress` | a list job started, moved, or recorded a page of rows |
//!
//! Invitations are named by event code and address, never by token (a
//! recipient's bearer secret). A store keeps announcements numbered in the
//! order they were written until the application forgets them
//! ([`Store::announcements`](crate::spi::Store::announcements),
//! [`Store::forget_announcements`](crate::spi::Store::forget_announcements)).
//! On a database with concurrent writers a transaction may commit after
//! one that took a higher number, so a reader reads from the start and
//! forgets exactly what it handled: an outbox, read at least once.
//! The reference invite server posts them as signed webhooks.
//!
//! ## Reports
//!
//! Counted from invitations and their histories
//! ([`Report`](crate::lifecycle::report::Report)), each count named by what it
//! measures: accepted by the mail server (the SMTP relay or SES took the
//! message at least once), delivery confirmed (the last delivery report said
//! delivered), hard bounces, soft bounces, answered Yes / No / Maybe,
//! delegated, no answer yet (the invited person's last whole-event answer),
//! late and forwarded answers, proposals, response rate (answered ÷ accepted
//! by the mail server), answers per day, and refusals by reason. The CSV
//! export has one row per invitation and is safe to open in a spreadsheet
//! ([`crate::csv`]).
//!
//! A mail server's acceptance is not delivery. Delivery is confirmed only by
//! a report that comes back afterwards, and only some transports have every
//! delivery reported ([`Transport::confirms_delivery`](crate::lifecycle::Transport::confirms_delivery)):
//! SES does, through its delivery notifications; the SMTP relay asks for no
//! success notifications and does not. A report through a pipeline takes
//! its transport's word; a reporting process that reads the store alone
//! says it ([`Reports::confirming_delivery`](crate::lifecycle::report::Reports::confirming_delivery)).
//! The text of a report shows the confirmed-delivery count only where the
//! transport confirms delivery; elsewhere it says that delivery is not
//! reported, so that a count of zero never reads as messages lost.
