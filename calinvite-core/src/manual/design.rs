//! The design decisions, D1 to D14: what calinvite decided, and why.
//!
//! Each decision keeps its number as an anchor (`#d1` … `#d14`) so that
//! comments can cite it; see the [manual's index](super) for the forms.
//!
//! ## <span id="d1"></span>D1 — Identity and reply routing
//!
//! Calendar clients send their answer to the invitation's ORGANIZER, whatever
//! `From` or `Reply-To` say. To collect answers, the ORGANIZER of every copy
//! calinvite sends is therefore a mailbox calinvite receives
//! ([`SenderIdentity`](crate::SenderIdentity), configured per domain owner),
//! with the real organizer's name as its `CN`, and `From` is the same
//! address. The mailbox stays the same over time so that recipients' clients
//! come to know it as a sender.
//!
//! Each recipient's copy has its own UID, `{event code}-{token}@{domain}`
//! ([`InvitationUid`](crate::InvitationUid)), carrying a 128-bit secret
//! ([`InvitationToken`](crate::InvitationToken)). A reply is matched to its
//! invitation by that token, not by the attendee address it carries: aliases,
//! relay addresses and clients that leave ORGANIZER out still find their
//! invitation, and no one can answer for a person whose token they do not
//! hold.
//!
//! ## <span id="d2"></span>D2 — calinvite owns SEQUENCE
//!
//! The SEQUENCE and DTSTAMP an organizer's client writes only put that
//! organizer's own messages in order: an older or repeated one is ignored.
//! What recipients see as SEQUENCE is calinvite's revision counter for the
//! event ([`Sequence`](crate::Sequence)): it rises with every change sent out
//! and never falls, whatever the organizer's client did. Every message carries
//! a fresh DTSTAMP. Recipients' clients thus always see a newer revision as
//! newer, even when the organizer's client numbers oddly or several organizer
//! edits are merged into one update.
//!
//! ## <span id="d3"></span>D3 — What counts as a change
//!
//! An organizer's edit is sent out only when something recipients see
//! changed: start, end or duration, the recurrence (rule, added and excluded
//! dates), status, location, summary, description or URL
//! ([`targeting::changes`](crate::targeting::changes)). Values are
//! normalised before they are compared (the order of a rule's parts, default
//! parts such as `INTERVAL=1`, the same instant written in two zones). A
//! re-send of the same event, or an edit only to alarms, comments or `X-`
//! properties, sends nothing and leaves SEQUENCE as it is: recipients are not
//! disturbed by edits they cannot see.
//!
//! ## <span id="d4"></span>D4 — Update audience
//!
//! An update goes by default to the recipients whose last answer is Yes or
//! Maybe; an organizer can choose everyone who has not declined, or everyone
//! ([`UpdateAudience`](crate::targeting::UpdateAudience)). Hard-bounced and
//! suppressed addresses never get one. The default follows what people
//! expect of an event they said they would attend, without mailing those who
//! said No. Details in [`targeting`](super::targeting).
//!
//! ## <span id="d5"></span>D5 — Cancellation audience
//!
//! A cancellation goes to everyone who received any REQUEST for the event,
//! decliners and suppressed addresses included, and only hard bounces are left
//! out: whoever may have the event on their calendar must learn that it is
//! off. A hard bounce is the address's, on any of the owner's mail, not only
//! this event's copy (why: [targeting](super::targeting#hard-bounces-across-events)).
//! A cancelled instance of a recurring event goes to the same people.
//!
//! ## <span id="d6"></span>D6 — Approval switch
//!
//! An organizer, or their domain owner for all its organizers, can hold
//! updates and cancellations for approval. The held change
//! ([`PendingChange`](crate::lifecycle::PendingChange)) lists every message
//! it would send; approving sends them, rejecting drops them. This lets a
//! business check what thousands of recipients are about to receive.
//!
//! ## <span id="d7"></span>D7 — Inbound authentication
//!
//! The core trusts no header for authentication: the adapter that received a
//! message checks SPF, DKIM and DMARC and passes the verdict in as a value
//! ([`AuthVerdict`](crate::inbound::AuthVerdict)). Messages to the ingest
//! address are taken only from registered organizers — an address or domain
//! on an organizer's allow-list — whose message passes that organizer's
//! [`AuthPolicy`](crate::lifecycle::AuthPolicy). Replies are authenticated by
//! the token in their UID ([D1](#d1)) and need no DMARC pass: genuine
//! calendar mail from hosted domains often fails alignment, and a DMARC gate
//! would drop real answers. Every message turned away has a typed reason
//! ([`RefusalReason`](crate::lifecycle::RefusalReason)) that reports show.
//!
//! ## <span id="d8"></span>D8 — Delivery is exactly-once in effect
//!
//! Every outgoing message has an idempotency key
//! ([`IdempotencyKey`](crate::IdempotencyKey): the invitation's token, the
//! SEQUENCE, the method, and a copy number). The message is queued in the
//! same commit as the state change that causes it, and its result is recorded
//! after sending; a key is queued once, ever. A crash or a retry therefore
//! neither loses a message nor sends one key twice to a relay that behaves.
//! Transient transport errors are retried with backoff; permanent ones mark
//! the invitation bounced ([D12](#d12)).
//!
//! ## <span id="d9"></span>D9 — Time zones
//!
//! IANA names, Windows names (`W. Europe Standard Time`), Exchange's display
//! labels (`(UTC+01:00) Amsterdam, Berlin…`) and custom VTIMEZONE definitions
//! are all accepted and
//! resolved to an IANA zone ([`TimeZone`](crate::TimeZone)), which is what
//! reports and texts show. Every TZID in an outgoing message has its
//! VTIMEZONE in the same calendar, so every client shows the same time.
//!
//! ## <span id="d10"></span>D10 — Recurrence
//!
//! Recurring events keep their rule, added and excluded dates, and their
//! overridden instances (`RECURRENCE-ID`) as the organizer wrote them. An
//! organizer message holding only instances updates those instances and
//! nothing else; replies and cancellations can name a single instance.
//!
//! ## <span id="d11"></span>D11 — Links in the email
//!
//! A message can carry web answer links, for clients that send no iTIP reply,
//! and one-click unsubscribe links (RFC 8058) for list sends
//! ([`ComposeOptions`](crate::ComposeOptions)). A GET on such a link never
//! changes anything: mail scanners follow every link, so only a POST answers
//! or unsubscribes (see [`security`](super::security)).
//!
//! ## <span id="d12"></span>D12 — Bounces and suppression
//!
//! Delivery-status reports and provider notifications (SES bounces and
//! complaints) mark the invitation they concern. A hard bounce, a complaint or
//! an unsubscribe puts the address on the domain owner's suppression list
//! ([`Suppression`](crate::lifecycle::Suppression)), which every send path
//! honours.
//!
//! ## <span id="d13"></span>D13 — Tenancy
//!
//! Data forms a tree: domain owner → organizers → events → invitations. Every
//! command names its [`Scope`](crate::lifecycle::Scope) and every store query
//! is scoped by it or by an unguessable token; an organizer never sees
//! another's data, and a domain owner sees all of their domain's. See
//! [`security`](super::security#tenancy).
//!
//! ## <span id="d14"></span>D14 — Scale
//!
//! SQLite in one process is the embedded default. PostgreSQL is the
//! scale-out store: any number of stateless instances share it and claim
//! delivery work with row locks (`FOR UPDATE SKIP LOCKED`). A fan-out to a
//! million recipients is planned in batches
//! ([`FanOut`](crate::spi::FanOut)), so memory stays bounded whatever
//! the audience.
