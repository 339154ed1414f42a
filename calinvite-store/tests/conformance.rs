#![allow(clippy::unwrap_used)]
//! The lifecycle conformance suite (`calinvite_core::lifecycle::conformance`)
//! on SQLite and on PostgreSQL: the same scenarios the in-memory store passes.
//!
//! SQLite runs in a fresh file per test. PostgreSQL runs in a fresh schema per
//! test on `CALINVITE_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); an unreachable server fails the
//! test — it never skips.

mod support;

use calinvite_core::lifecycle::conformance;

macro_rules! conformance {
    ($module:ident: $($name:ident),* $(,)?) => {
        mod $module {
            use super::*;
            $(
                #[test]
                fn $name() {
                    support::on_sqlite(stringify!($name), |store| conformance::$module::$name(store));
                    support::on_postgres(stringify!($name), |store| conformance::$module::$name(store));
                }
            )*
        }
    };
}

conformance!(ingest:
    brief_story,
    change_detection,
    stale_organizer_messages,
    organizer_allow_list,
    organizer_auth_policies,
    floating_start_refused,
    invite_is_idempotent,
    invite_refusals,
    late_joiner_gets_current_revision,
    approval_holds_update,
    approval_reject,
    approval_newer_edit_supersedes,
    approval_holds_cancellation,
    update_audience_not_declined,
    update_audience_everyone,
    hard_bounced_never_updated,
    tenant_isolation,
    past_events_are_not_mailed,
);

conformance!(answers:
    replies_record_status_and_history,
    stale_replies_are_refused,
    reply_before_delivery_is_kept,
    forwarded_reply_is_recorded_apart,
    recurring_instances,
    late_answers_are_recorded_only,
    late_answers_apply_when_configured,
    counter_is_recorded_and_organizer_told,
    refresh_resends_current_revision,
    delivery_reports_mark_invitations,
    transient_failures_retry_with_backoff,
    permanent_failure_bounces_and_suppresses,
    unsubscribe_suppresses_but_cancellation_still_goes,
    web_answers_are_marked_web,
    reports_equal_a_recount,
    csv_export_and_mailed_report,
);
