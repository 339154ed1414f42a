//! What the listener and the relay client share for logging: names of
//! pipeline outcomes, and addresses reduced to what is safe to log.

use calinvite_core::lifecycle::Outcome;

/// A stable name for what the pipeline did with a message, without the
/// tokens and codes an [`Outcome`] carries.
pub(crate) fn outcome_name(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::EventCreated(_) => "event-created",
        Outcome::RevisionSent(..) => "revision-sent",
        Outcome::PendingApproval(..) => "pending-approval",
        Outcome::Unchanged(_) => "unchanged",
        Outcome::Cancelled(_) => "cancelled",
        Outcome::Invited(_) => "invited",
        Outcome::AlreadyInvited(_) => "already-invited",
        Outcome::AnswerRecorded(_) => "answer-recorded",
        Outcome::CounterRecorded(_) => "counter-recorded",
        Outcome::Resent(_) => "resent",
        Outcome::DeliveryRecorded(_) => "delivery-recorded",
        Outcome::Unsubscribed(_) => "unsubscribed",
        Outcome::Resolved(..) => "resolved",
        Outcome::Refused(_) => "refused",
        Outcome::Ignored(_) => "ignored",
        _ => "other",
    }
}

/// The domain of an address (`example.com` of `ana@example.com`), or `"-"`
/// when it has none: what is logged of a recipient at `info`.
pub(crate) fn domain_of(address: &str) -> &str {
    let address = address.trim().trim_start_matches('<').trim_end_matches('>');
    match address.rsplit_once('@') {
        Some((_, domain)) if !domain.is_empty() => domain,
        _ => "-",
    }
}

/// Milliseconds since `start`, for timing fields.
pub(crate) fn ms_since(start: tokio::time::Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_domain_of_an_address_is_kept() {
        assert_eq!(domain_of("ana@example.com"), "example.com");
        assert_eq!(domain_of("<a@b@c.example>"), "c.example");
        assert_eq!(domain_of("no-at-sign"), "-");
        assert_eq!(domain_of("trailing@"), "-");
    }
}
