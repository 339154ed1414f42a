//! The security model: who can see and change what, how what arrives is
//! authenticated, and what never leaves calinvite's hands.
//!
//! ## Tenancy
//!
//! Data forms a tree ([D13](super::design#d13)): a domain owner (a business
//! with its own mail domain and its own ingest, reply and bounce mailboxes) →
//! its organizers → their events → the invitations sent for them. Every
//! command carries a [`Scope`](crate::lifecycle::Scope) (owner and
//! organizer) and touches nothing outside it; every store read is scoped by
//! tenant or by an unguessable token. An inbound message is scoped by the
//! mailbox that received it, so a reply arriving at one owner's mailbox that
//! names another owner's invitation is refused (`wrong-tenant`). Reports never
//! mix tenants: an organizer's count only their events, an owner's all of
//! their organizers'.
//!
//! ## Tokens
//!
//! Each invitation has a 128-bit token
//! ([`InvitationToken`](crate::InvitationToken)): 88 random bits drawn from
//! the [`IdSource`](crate::IdSource) the application passes (an OS-random
//! source in production), after 40 bits of the time it was created (in
//! milliseconds). The time comes first so that a store writes a campaign's
//! new invitations next to each other, not at a random place in every
//! index: with a million recipients that made the list three times faster.
//! 88 random bits are well above the 64 commonly asked of a session
//! identifier: someone who knows when a campaign ran and tries a billion
//! tokens a second would need about ten thousand years to expect one hit
//! even if all of a million invitations shared one millisecond, and the web
//! surfaces rate-limit long before. The time says only when the invitation
//! was made, which its recipient knows anyway. It is a bearer secret: whoever holds it can answer or
//! unsubscribe for that invitation. It appears in that recipient's UID, in
//! their web answer and unsubscribe links and in the Message-ID of messages
//! sent to them, and nowhere a different person can see it (each copy names
//! one recipient). Replies are matched by token, never by address
//! ([D1](super::design#d1)), and a token is valid only within its owner's
//! mailboxes. Event codes are unguessable as well but are not secrets: they
//! name an event in links and landing pages and grant no right to answer.
//!
//! ## Authentication of what arrives
//!
//! The core never reads an authentication header. The adapter that received
//! the message (the SMTP listener, or the handler of SES inbound
//! notifications) checks SPF, DKIM and DMARC and hands the verdict in as a
//! value
//! ([`AuthVerdict`](crate::inbound::AuthVerdict), [D7](super::design#d7)).
//!
//! - Organizer messages (to the ingest address) are taken only when the
//!   `From` address is on an organizer's allow-list — an exact address or a
//!   whole domain, compared after normalising, never as a substring — and the
//!   message passes that organizer's
//!   [`AuthPolicy`](crate::lifecycle::AuthPolicy) (default: SPF or DKIM pass
//!   aligned with the `From` domain). The calendar's ORGANIZER must belong to
//!   the same account. A stranger gets no reply (no backscatter); a
//!   registered organizer whose message failed is told why at the account's
//!   own notification address, since the `From` of a failed message is
//!   unproven.
//! - What an application does beyond that refusal is its own. It may keep a
//!   stranger's message for a sender that registers later, and tell the
//!   sender so — but only when the verdict shows a DMARC pass, the one proof
//!   that the `From` is the sender's (anything less would mail whomever a
//!   forger named): [`Pipeline::compose_notice`](crate::lifecycle::Pipeline::compose_notice)
//!   writes such a notice for the application to send (it is not queued,
//!   so a secret in it, a sign-in link, is not stored). A kept message
//!   handed to
//!   [`Pipeline::receive`](crate::lifecycle::Pipeline::receive) again once
//!   its address is registered, with the verdict it arrived with, meets the
//!   new organizer's policy like any other: a forged message kept under
//!   someone's address does not become their event.
//! - Replies, counters and refreshes are authenticated by the token in their
//!   UID; a DMARC pass is not required, because genuine calendar mail from
//!   hosted domains often fails alignment
//!   ([interop rule 26](super::interop#rule-26)). An answer from an address
//!   other than the invited one is recorded as forwarded and never replaces
//!   the invited person's answer.
//! - A reply whose `From` is not its ATTENDEE (an assistant or a shared
//!   mailbox answering for the invited person, or a forged header) is still
//!   decided by its token — the token is the proof, the `From` proves
//!   nothing — but the answer is recorded with the `From` address beside it
//!   (`sent_by` in [`HistoryKind::Answer`](crate::lifecycle::HistoryKind)),
//!   so whoever reads the history sees who mailed it.
//!
//! Every message turned away is recorded with a typed
//! [`RefusalReason`](crate::lifecycle::RefusalReason).
//!
//! ## No GET changes state
//!
//! Mail security scanners fetch every link in a message
//! ([interop rule 27](super::interop#rule-27)). Web answers and one-click
//! unsubscribes therefore act only on a POST; a GET on their links may show a
//! page and a form, nothing more ([D11](super::design#d11)). An application
//! serving these pages keeps to the same rule.
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
//! ## What is never logged
//!
//! The library crates write no log of their own; what the application logs
//! is its choice. What they let it print is kept safe: an
//! [`InvitationToken`](crate::InvitationToken) (and so an
//! [`InvitationUid`](crate::InvitationUid)) printed with `{:?}` shows only its
//! first four symbols, an SMTP relay's password prints as `…`, and the detail
//! of a [`Refusal`](crate::lifecycle::Refusal), meant for people and reports,
//! never holds a token.
