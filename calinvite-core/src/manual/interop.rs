//! The calendar-client interoperability rules, 1 to 29: what real calendar
//! clients and servers require of an invitation, what they send back, and
//! what calinvite does about each.
//!
//! Each rule keeps its number as an anchor (`#rule-1` … `#rule-29`) so that
//! comments can cite it; see the [manual's index](super) for the forms. The
//! sources named are the RFCs (5545 iCalendar, 5546 iTIP, 6047 iMIP, 8058
//! one-click unsubscribe) and the clients whose behaviour the rule records.
//! The real client messages in the inbound test corpus show every inbound
//! rule at work.
//!
//! # Outgoing MIME
//!
//! ## <span id="rule-1"></span>Rule 1 — `method` on the Content-Type
//!
//! A calendar part is an iTIP part only when its Content-Type carries
//! `method=`, equal to the calendar's METHOD (RFC 6047 §2.4); Outlook shows
//! any other calendar part as a plain attachment. calinvite writes
//! `text/calendar; charset=UTF-8; method=REQUEST` or `method=CANCEL`, always
//! matching the METHOD inside.
//!
//! ## <span id="rule-2"></span>Rule 2 — The message shape
//!
//! Gmail and Outlook both show Yes / No / Maybe buttons for the shape Google
//! Calendar itself sends: `multipart/mixed` holding a
//! `multipart/alternative` of plain text, HTML and the `text/calendar` part,
//! then an `application/ics` attachment. An invitation sent only as an
//! attachment loses Outlook's buttons, and a `text/calendar` attachment makes
//! Gmail show nothing. [`Composer`](crate::Composer) writes exactly that shape.
//!
//! ## <span id="rule-3"></span>Rule 3 — 7-bit transport
//!
//! Bodies are encoded for 7-bit paths and non-ASCII headers written as
//! RFC 2047 encoded-words. calinvite's output is 7-bit clean: text bodies are
//! quoted-printable, calendar data base64, and header words never split a
//! character. The one exception is an address whose local part is not ASCII
//! ([rule 18](#rule-18)): its addr-spec in `From` or `To` is UTF-8
//! (RFC 6532), and that message travels only with `SMTPUTF8`.
//!
//! ## <span id="rule-4"></span>Rule 4 — Folding and escaping
//!
//! iCalendar lines are folded at 75 octets with CRLF endings, never inside a
//! UTF-8 sequence (a split emoji shows as two replacement characters in
//! Google) nor inside an escape such as `\n`; `\`, `;`, `,` and line breaks in
//! TEXT values are escaped. calinvite's own iCalendar writer does this; the
//! property tests check every line of every output.
//!
//! ## <span id="rule-5"></span>Rule 5 — Headers are injection-proof
//!
//! A CR or LF in a summary, a name or an address, whatever its source, must
//! never start a header or a MIME part. calinvite removes control characters
//! when input enters the model, and its writers drop any that remain (see
//! [`security`](super::security#text-safety)).
//!
//! # Content of an invitation
//!
//! ## <span id="rule-6"></span>Rule 6 — The recipient is an ATTENDEE with `RSVP=TRUE`
//!
//! Without `RSVP=TRUE` (its default is FALSE, RFC 5545 §3.2.17) Gmail offers
//! "Add to calendar" instead of answer buttons and Outlook sends no reply.
//! calinvite writes the recipient as
//! `ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE` on every request.
//!
//! ## <span id="rule-7"></span>Rule 7 — One recipient per message
//!
//! Each message names one ATTENDEE, its recipient. Other recipients are never
//! listed: they are private, and a large list would swell every copy.
//!
//! ## <span id="rule-8"></span>Rule 8 — `mailto:` addresses, ORGANIZER with `CN`
//!
//! Addresses are `mailto:` URIs (RFC 6047 §2.3). An organizer that is missing
//! or written `SENT-BY`-style shows as "Unknown Organizer" in Gmail. calinvite
//! writes its own mailbox as ORGANIZER with the real organizer's name as `CN`
//! ([D1](super::design#d1)).
//!
//! ## <span id="rule-9"></span>Rule 9 — A VTIMEZONE for every TZID
//!
//! RFC 5546 requires each TZID used to be defined in the same calendar.
//! calinvite generates the VTIMEZONE from the tz database over the years the
//! event covers ([D9](super::design#d9)).
//!
//! ## <span id="rule-10"></span>Rule 10 — Fresh DTSTAMP, SEQUENCE always present
//!
//! Clients that see an old DTSTAMP or no SEQUENCE treat a message as stale or
//! as a new event. Every message calinvite sends has the DTSTAMP of its
//! sending attempt and a SEQUENCE ([D2](super::design#d2)).
//!
//! ## <span id="rule-11"></span>Rule 11 — Updates keep the UID and raise SEQUENCE
//!
//! Google replaces an event it holds only when SEQUENCE goes up; otherwise the
//! recipient ends up with two events. RFC 5546 §2.1.4 asks for a higher
//! SEQUENCE when the time, duration, recurrence or status changes, and on
//! CANCEL. calinvite keeps each recipient's UID for the life of the event and
//! raises its own SEQUENCE for every change it sends
//! ([D2](super::design#d2), [D3](super::design#d3)).
//!
//! ## <span id="rule-12"></span>Rule 12 — What a CANCEL carries
//!
//! UID, a raised SEQUENCE, a fresh DTSTAMP, DTSTART, DTEND or DURATION,
//! SUMMARY, ORGANIZER, the ATTENDEE and `STATUS:CANCELLED` (RFC 5546 §3.2.5).
//! calinvite's cancellations carry all of them, for the whole event or one
//! instance.
//!
//! ## <span id="rule-13"></span>Rule 13 — Only what is the recipient's
//!
//! Other attendees, the ingest address, scheduling parameters
//! (`SCHEDULE-STATUS`, `SCHEDULE-FORCE-SEND`), the organizer's alarms and `X-`
//! properties are not passed on. calinvite's event model has no place for
//! them, so they cannot be (see [`itip_subset`](super::itip_subset)).
//!
//! # Reply routing and identity
//!
//! ## <span id="rule-14"></span>Rule 14 — Replies go to ORGANIZER
//!
//! Clients answer the ORGANIZER address, not `From` nor `Reply-To` (RFC 6047
//! §2.3, RFC 5546 §3.2.2.5). calinvite's ORGANIZER is the reply mailbox it
//! receives ([D1](super::design#d1)).
//!
//! ## <span id="rule-15"></span>Rule 15 — `From` matches ORGANIZER
//!
//! Some clients refuse an invitation whose `From` differs from its ORGANIZER;
//! calinvite sends from the ORGANIZER address.
//!
//! ## <span id="rule-16"></span>Rule 16 — The reply mailbox is no calendar user
//!
//! Google Workspace sends no iMIP reply between two of its calendar users. The
//! reply mailbox an operator configures must therefore be a plain mailbox,
//! not a Google Calendar account; calinvite cannot check this.
//!
//! ## <span id="rule-17"></span>Rule 17 — Exchange replies omit ORGANIZER
//!
//! Exchange and Outlook send replies without an ORGANIZER. calinvite finds
//! the invitation by the token in the UID and scopes it by the mailbox the
//! reply arrived at; it never looks at the reply's ORGANIZER.
//!
//! ## <span id="rule-18"></span>Rule 18 — Addresses are normalised
//!
//! Case, `MAILTO:` versus `mailto:` and percent-encoding differ between
//! clients. calinvite normalises every address once
//! ([`EmailAddress`](crate::EmailAddress)) and compares whole addresses,
//! never substrings; iCloud's relay address gives way to the real one in its
//! `EMAIL=` parameter.
//!
//! Addresses in every script are accepted. An internationalised domain is
//! mapped by UTS #46 and kept in A-labels (`xn--…`): that is the form on the
//! wire (SMTP envelope, the addr-spec of `From` and `To`, `ORGANIZER` and
//! `ATTENDEE`) and in the store, so `jörg@bücher-müller.de` and
//! `jörg@xn--bcher-mller-thbg.de` are one address (suppression, "already
//! invited" and answers all match). What people read — organizer notices, the
//! event CSV, the sender's shown name — gives the domain in U-labels
//! ([`EmailAddress::to_unicode`](crate::EmailAddress::to_unicode)). A
//! non-ASCII local part (RFC 6531/6532) is lower-cased and composed (NFC); it
//! is written as UTF-8 in header addr-specs and percent-encoded UTF-8 in a
//! `mailto:` URI, and travels only where the transport can carry it: the SMTP
//! relay sends it with `SMTPUTF8` when the relay offers it; a relay that does
//! not, and SES, refuse that one recipient permanently (the invitation
//! bounces with the reason), never the batch. The inbound listener offers
//! SMTPUTF8 and takes UTF-8 senders, recipients and headers.
//!
//! ## <span id="rule-19"></span>Rule 19 — Forwarded invitations
//!
//! A forwarded copy brings answers from addresses never invited (RFC 5546
//! §3.2.2.6). calinvite records them against the invitation whose UID they
//! carry, marked as forwarded, and never lets them overwrite the invited
//! person's answer.
//!
//! # Ordering and recurrence
//!
//! ## <span id="rule-20"></span>Rule 20 — Stale messages are ignored
//!
//! A higher SEQUENCE wins; at equal SEQUENCE, the later DTSTAMP (RFC 5546
//! §2.1.5). calinvite keeps the last (SEQUENCE, DTSTAMP) adopted per answerer
//! and instance, and per event for the organizer's messages; an older or
//! equal one changes nothing. SEQUENCE is 64 bits wide: real Google messages
//! carry values that do not fit in 32.
//!
//! ## <span id="rule-21"></span>Rule 21 — Instances
//!
//! Replies, cancellations and requests may name one instance with
//! `RECURRENCE-ID`. Instances are matched by instant, not by text, so a
//! `RECURRENCE-ID` in UTC equals the same one written with a TZID
//! ([`OccurrenceId`](crate::OccurrenceId)). An override may have its own
//! SEQUENCE, and a request holding only overrides is a partial update, not a
//! replacement ([D10](super::design#d10)).
//!
//! ## <span id="rule-22"></span>Rule 22 — No mail about past events
//!
//! Once an event's last occurrence is over, calinvite mails nobody about it:
//! an organizer's later edit is kept, a cancellation recorded, and answers
//! are recorded as late (see [`lifecycle`](super::lifecycle#answers)).
//!
//! # Inbound parsing
//!
//! ## <span id="rule-23"></span>Rule 23 — Every MIME shape
//!
//! The calendar part arrives nested in `multipart/alternative` (Google), as a
//! flat top-level part (Outlook.com), as the whole message (older Outlook), in
//! base64 or quoted-printable, as an `application/ics` attachment, inside
//! `multipart/related` with images (Office 365), under an S/MIME signature
//! (Thunderbird), several times over, or with a Content-Type `method` that
//! disagrees with its METHOD (Google's "propose a new time": METHOD wins).
//! [`parse_inbound`](crate::inbound::parse_inbound) reads all of these.
//!
//! ## <span id="rule-24"></span>Rule 24 — Liberal in what is accepted
//!
//! Windows zone names, custom Exchange TZIDs, unescaped commas in TZIDs,
//! `BYDAY=MO, TU` with spaces, DURATION instead of DTEND, repeated properties,
//! missing attendees: calinvite accepts what it can use and reports the rest
//! as warnings ([`InboundMessage`](crate::inbound::InboundMessage)).
//!
//! ## <span id="rule-25"></span>Rule 25 — Sizes and depth are capped
//!
//! A calendar part of a few hundred kilobytes is already unusual.
//! [`InboundLimits`](crate::inbound::InboundLimits) caps message size,
//! nesting, parts, calendar size, components and properties; what exceeds a
//! limit is classified as unsupported with its reason.
//!
//! # Security and deliverability
//!
//! ## <span id="rule-26"></span>Rule 26 — Who may change what
//!
//! Only the organizer may update or cancel; only a recipient may answer for
//! themself (RFC 6047 §2.2.1). Genuine Google Calendar mail from domains
//! without their own DKIM fails DMARC alignment, so a hard DMARC gate on
//! replies drops real answers. calinvite authenticates organizers by
//! allow-list and policy, and replies by token ([D7](super::design#d7)).
//!
//! ## <span id="rule-27"></span>Rule 27 — A GET never changes state
//!
//! Mail security scanners (Microsoft Safe Links among them) fetch every link
//! in a message and have accepted and declined invitations on their own.
//! calinvite's web answers and unsubscribes act only on a POST; a GET shows a
//! page ([D11](super::design#d11)).
//!
//! ## <span id="rule-28"></span>Rule 28 — Bulk sending to Gmail and Yahoo
//!
//! Since 2024 bulk senders need SPF, DKIM and aligned DMARC, and list or
//! marketing mail needs one-click unsubscribe: `List-Unsubscribe: <https://…>`
//! with `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058),
//! honoured promptly. calinvite writes those headers when
//! [`ComposeOptions::list_unsubscribe`](crate::ComposeOptions::list_unsubscribe)
//! is on and suppresses an address on its first unsubscribe
//! ([D12](super::design#d12)); SPF and DKIM are the sending relay's or
//! provider's part.
//!
//! ## <span id="rule-29"></span>Rule 29 — A known sender
//!
//! Gmail's "only if the sender is known" setting keeps invitations from
//! unknown senders off the calendar until the recipient answers. A sender
//! identity that stays the same per organizer or domain
//! ([`SenderIdentity`](crate::SenderIdentity)) becomes known.
