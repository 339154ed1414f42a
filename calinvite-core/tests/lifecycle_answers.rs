#![allow(clippy::unwrap_used)]
//! The answers conformance scenarios (replies, recurrence, late answers,
//! counters and refreshes, bounces and retries, unsubscribes, web answers,
//! reports) on the in-memory store.

use calinvite_core::lifecycle::conformance::answers;
use calinvite_core::lifecycle::{MemoryStore, block_on};

#[test]
fn replies_record_status_and_history() {
    block_on(answers::replies_record_status_and_history(
        MemoryStore::new(),
    ));
}

#[test]
fn stale_replies_are_refused() {
    block_on(answers::stale_replies_are_refused(MemoryStore::new()));
}

#[test]
fn reply_before_delivery_is_kept() {
    block_on(answers::reply_before_delivery_is_kept(MemoryStore::new()));
}

#[test]
fn forwarded_reply_is_recorded_apart() {
    block_on(answers::forwarded_reply_is_recorded_apart(
        MemoryStore::new(),
    ));
}

#[test]
fn recurring_instances() {
    block_on(answers::recurring_instances(MemoryStore::new()));
}

#[test]
fn late_answers_are_recorded_only() {
    block_on(answers::late_answers_are_recorded_only(MemoryStore::new()));
}

#[test]
fn late_answers_apply_when_configured() {
    block_on(answers::late_answers_apply_when_configured(
        MemoryStore::new(),
    ));
}

#[test]
fn counter_is_recorded_and_organizer_told() {
    block_on(answers::counter_is_recorded_and_organizer_told(
        MemoryStore::new(),
    ));
}

#[test]
fn refresh_resends_current_revision() {
    block_on(answers::refresh_resends_current_revision(MemoryStore::new()));
}

#[test]
fn delivery_reports_mark_invitations() {
    block_on(answers::delivery_reports_mark_invitations(
        MemoryStore::new(),
    ));
}

#[test]
fn transient_failures_retry_with_backoff() {
    block_on(answers::transient_failures_retry_with_backoff(
        MemoryStore::new(),
    ));
}

#[test]
fn permanent_failure_bounces_and_suppresses() {
    block_on(answers::permanent_failure_bounces_and_suppresses(
        MemoryStore::new(),
    ));
}

#[test]
fn unsubscribe_suppresses_but_cancellation_still_goes() {
    block_on(answers::unsubscribe_suppresses_but_cancellation_still_goes(
        MemoryStore::new(),
    ));
}

#[test]
fn web_answers_are_marked_web() {
    block_on(answers::web_answers_are_marked_web(MemoryStore::new()));
}

#[test]
fn reports_equal_a_recount() {
    block_on(answers::reports_equal_a_recount(MemoryStore::new()));
}

#[test]
fn csv_export_and_mailed_report() {
    block_on(answers::csv_export_and_mailed_report(MemoryStore::new()));
}
