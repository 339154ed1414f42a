//! Error types. Each says what was wrong with which input.
//!
//! Errors about input that came from elsewhere (an address someone typed, an
//! event an organizer's client sent) are distinct from mistakes in how the
//! library was called, as far as the types allow: the first kind is expected
//! and reported to people, the second is a bug in the caller.

use thiserror::Error;

/// An email address could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AddressError {
    /// Nothing was given.
    #[error("the address is empty")]
    Empty,
    /// No `@`.
    #[error("the address has no '@'")]
    MissingAt,
    /// Nothing before the `@`.
    #[error("the address has nothing before the '@'")]
    EmptyLocalPart,
    /// Nothing after the `@`.
    #[error("the address has no domain after the '@'")]
    EmptyDomain,
    /// Longer than SMTP carries.
    #[error("the address is {len} characters long; at most 254 are allowed")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// Local part longer than 64.
    #[error("the part before the '@' is {len} characters long; at most 64 are allowed")]
    LocalPartTooLong {
        /// Its length.
        len: usize,
    },
    /// Leading, trailing or doubled dot in the local part.
    #[error("the part before the '@' starts or ends with a dot, or has two dots in a row")]
    BadDots,
    /// A character not allowed in an unquoted local part.
    #[error("the part before the '@' contains {0:?}, which an address may not contain")]
    InvalidCharacter(char),
    /// The domain is not a host name.
    #[error("the domain is not a valid host name")]
    InvalidDomain,
    /// One label of an internationalised (or `xn--`) domain breaks the rules
    /// of internationalised domain names (UTS #46, IDNA 2008).
    #[error("the domain is not a valid host name: its label {label:?} {problem}")]
    InvalidDomainLabel {
        /// The label as given.
        label: String,
        /// What is wrong with it.
        problem: DomainLabelProblem,
    },
    /// `%` not followed by two hex digits, or decoding to invalid UTF-8.
    #[error("the mailto: URI has invalid percent-encoding")]
    BadPercentEncoding,
}

/// Why a label of an internationalised domain name is refused
/// ([`AddressError::InvalidDomainLabel`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DomainLabelProblem {
    /// Two dots in a row, or a dot at an end.
    #[error("is empty (two dots in a row, or a dot at an end)")]
    Empty,
    /// Longer than 63 octets in its ASCII (`xn--`) form.
    #[error("is {octets} octets long in its ASCII form; at most 63 are allowed")]
    TooLong {
        /// Its length in its ASCII form.
        octets: usize,
    },
    /// Starts or ends with a hyphen.
    #[error("starts or ends with a hyphen")]
    HyphenAtEnd,
    /// A character no domain name may hold (a space, punctuation, a symbol,
    /// an invisible or disallowed character).
    #[error("contains {0:?}, which a domain name may not contain")]
    Character(char),
    /// An `xn--` label that is not valid Punycode of a valid label.
    #[error("starts with \"xn--\" but is not the ASCII form of a valid label")]
    BadPunycode,
    /// Every character is allowed but their combination is not: a combining
    /// mark first, a joiner out of place, or right-to-left and left-to-right
    /// text mixed against the bidirectional rule.
    #[error(
        "combines its characters in a way domain names forbid (a mark at the start, a joiner out of place, or mixed writing directions)"
    )]
    Combination,
}

/// An identifier (event code, token, UID) could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum IdError {
    /// Not an event code.
    #[error("{0:?} is not an event code (16 characters of 0-9 and a-z without i, l, o, u)")]
    EventCode(String),
    /// Not an invitation token.
    #[error("not an invitation token (26 characters of 0-9 and a-z without i, l, o, u)")]
    Token,
    /// Not a calinvite invitation UID.
    #[error("not an invitation UID of the form code-token@domain")]
    Uid,
    /// The UID's domain is not a host name.
    #[error("{0:?} cannot be the domain of a UID")]
    UidDomain(String),
}

/// A time, zone or span is not valid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TimeError {
    /// Neither an IANA nor a known Windows time-zone name.
    #[error("unknown time zone {0:?}")]
    UnknownTimeZone(String),
    /// Local time in a daylight-saving gap.
    #[error("{local} does not exist in {zone} (the clocks skip it)")]
    NonexistentLocalTime {
        /// The local time.
        local: String,
        /// The zone.
        zone: &'static str,
    },
    /// End before start.
    #[error("the event ends before it starts")]
    EndBeforeStart,
    /// A date beyond what the calendar can hold.
    #[error("the date is out of range")]
    OutOfRange,
}

/// A recurrence rule could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RecurrenceError {
    /// A part without `=`.
    #[error("malformed recurrence rule part {0:?}")]
    Malformed(String),
    /// No FREQ.
    #[error("the recurrence rule has no FREQ")]
    MissingFreq,
    /// Both UNTIL and COUNT.
    #[error("the recurrence rule has both UNTIL and COUNT")]
    UntilAndCount,
    /// A part given twice.
    #[error("the recurrence rule gives {0} twice")]
    Duplicate(String),
    /// An unknown part.
    #[error("unknown recurrence rule part {0:?}")]
    UnknownPart(String),
    /// A value out of range or of the wrong form.
    #[error("invalid {part} value {value:?}")]
    BadValue {
        /// The part.
        part: &'static str,
        /// The value.
        value: String,
    },
}

/// An event cannot be built from what was given.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EventError {
    /// No summary (title).
    #[error("the event has no summary (title)")]
    MissingSummary,
    /// No start and end.
    #[error("the event has no start and end")]
    MissingSchedule,
    /// No organizer.
    #[error("the event has no organizer")]
    MissingOrganizer,
    /// A time problem.
    #[error(transparent)]
    Time(#[from] TimeError),
    /// A recurrence rule problem.
    #[error(transparent)]
    Recurrence(#[from] RecurrenceError),
    /// An occurrence given as a date for a timed event, or the other way round.
    #[error("occurrence {0} is a {1} but the event is {2}")]
    OccurrenceKind(String, &'static str, &'static str),
    /// Overridden instances on an event that does not repeat.
    #[error("the event does not repeat, so it cannot have overridden instances")]
    OverrideWithoutRecurrence,
    /// Two overrides of the same occurrence.
    #[error("occurrence {0} is overridden twice")]
    DuplicateOverride(String),
    /// More instances, dates or exceptions than one message should carry.
    #[error("the event lists {count} {what}; at most {max} are allowed")]
    TooMany {
        /// What.
        what: &'static str,
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// Not an http(s) URL.
    #[error("{0:?} is not an http or https URL")]
    Url(String),
    /// Not a language tag.
    #[error("{0:?} is not a language tag such as en, pt-BR or zh-Hant")]
    Language(String),
}

/// A message cannot be assembled.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ComposeError {
    /// The recipient is the organizer or the sender mailbox itself.
    #[error("the recipient {0} is the organizer; an organizer is never invited to their own event")]
    RecipientIsOrganizer(String),
    /// The recipient is one of calinvite's own addresses.
    #[error("the recipient {0} is one of calinvite's own addresses")]
    RecipientIsOwnAddress(String),
    /// The invitation's UID belongs to another event.
    #[error("the invitation belongs to event {uid_event}, not {event}")]
    WrongEvent {
        /// The event of the UID.
        uid_event: String,
        /// The event being sent.
        event: String,
    },
    /// An instance cancellation for an event that does not repeat.
    #[error("the event does not repeat, so one instance cannot be cancelled")]
    NotRecurring,
    /// An instance id of the wrong kind (date vs. date-time).
    #[error("occurrence {0} does not match the event's kind of time (all-day or timed)")]
    OccurrenceKind(String),
    /// An update or invitation for a cancelled event.
    #[error("the event is cancelled; only a cancellation can be sent")]
    EventCancelled,
}
