//! Conformance scenarios: the lifecycle's observable behaviour, written once
//! and run against every [`Store`] — the in-memory store, SQLite, PostgreSQL,
//! and yours. Each scenario builds its own [`Scenario`](crate::scenario::Scenario)
//! on a fresh, empty store and panics with a message naming what went wrong.
//!
//! The scenarios come in five groups: `ingest` (what organizers send and what
//! goes out: event creation, change detection, stale organizer messages,
//! organizer authentication, sending rules, approvals, update audiences,
//! tenancy) and `answers` (replies and their ordering, recurring instances,
//! late answers, counters and refreshes, delivery reports and transport
//! failures, unsubscribes, web answers, reports and CSV export), `lists`
//! (a recipient list sent as one job: verdicts, resuming, pause and cancel)
//! `queue` (batches claimed, read and settled together; the queue's
//! counts) and `announce` (announcements written with their changes, in
//! order, rolled back with them, kept until forgotten).
//!
//! Every scenario is in one registry, and that registry is the only way to
//! reach one: the scenario functions are private, and a scenario left out of
//! it is unused code, which this crate refuses to compile. So
//! [`conformance_tests!`](crate::conformance_tests) (one `#[test]` per
//! scenario), [`scenarios`] and [`NAMES`] always cover the whole suite; a
//! scenario added later cannot be skipped on any store.

// A scenario function missing from the registry below is dead code: an error.
#[deny(dead_code)]
mod announce;
#[deny(dead_code)]
mod answers;
#[deny(dead_code)]
mod ingest;
#[deny(dead_code)]
mod lists;
#[deny(dead_code)]
mod queue;

use std::future::Future;
use std::pin::Pin;

use calinvite_core::Store;

/// What running one scenario returns: a future that panics if the store
/// misbehaves.
pub type ScenarioFuture = Pin<Box<dyn Future<Output = ()>>>;

/// One conformance scenario for stores of type `S`.
pub struct Conformance<S> {
    /// `group::scenario`, as in [`NAMES`].
    pub name: &'static str,
    /// Runs the scenario on the store it is given, which must be fresh and
    /// empty.
    pub run: fn(S) -> ScenarioFuture,
}

impl<S> Clone for Conformance<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for Conformance<S> {}

impl<S> std::fmt::Debug for Conformance<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conformance")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The registry: every scenario, by group. [`crate::conformance_tests!`],
/// [`scenarios`] and [`NAMES`] are all made from this one list.
#[doc(hidden)]
#[macro_export]
macro_rules! __with_conformance_scenarios {
    ([$($callback:tt)*] $($args:tt)*) => {
        $($callback)*! {
            ($($args)*)
            ingest: [
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
                hard_bounce_on_another_event_gets_no_cancellation,
                tenant_isolation,
                past_events_are_not_mailed,
            ],
            answers: [
                replies_record_status_and_history,
                stale_replies_are_refused,
                reply_before_delivery_is_kept,
                forwarded_reply_is_recorded_apart,
                reply_mailed_by_another_address_is_recorded_with_its_sender,
                recurring_instances,
                late_answers_are_recorded_only,
                late_answers_apply_when_configured,
                counter_is_recorded_and_organizer_told,
                refresh_resends_current_revision,
                delivery_reports_mark_invitations,
                transient_failures_retry_with_backoff,
                settle_without_lease_is_not_leased,
                expired_lease_cannot_overwrite_the_new_holder,
                permanent_failure_bounces_and_suppresses,
                unsubscribe_suppresses_but_cancellation_still_goes,
                web_answers_are_marked_web,
                reports_equal_a_recount,
                csv_export_and_mailed_report,
            ],
            lists: [
                list_invites_each_valid_distinct_recipient_once,
                list_resumes_where_it_stopped,
                list_pause_resume_and_cancel,
            ],
            queue: [
                a_batch_settles_each_outcome,
                a_lost_lease_or_a_conflict_costs_only_its_own_message,
                a_stale_claim_in_a_clean_batch_is_told_apart,
                batch_reads_and_counts,
            ],
            announce: [
                every_change_is_announced_in_order,
                held_changes_are_announced,
                lists_and_suppressions_are_announced,
                a_pipeline_that_does_not_announce_writes_none,
                announcements_commit_or_roll_back_with_their_changes,
            ],
        }
    };
}

macro_rules! registry {
    (() $($group:ident: [$($name:ident),* $(,)?]),* $(,)?) => {
        /// Every scenario's name, `group::scenario`, in the order
        /// [`scenarios`] lists them.
        pub const NAMES: &[&str] = &[
            $($(concat!(stringify!($group), "::", stringify!($name)),)*)*
        ];

        /// Every scenario, for stores of type `S`.
        pub fn scenarios<S: Store + 'static>() -> Vec<Conformance<S>> {
            vec![
                $($(
                    Conformance {
                        name: concat!(stringify!($group), "::", stringify!($name)),
                        run: |store| -> ScenarioFuture { Box::pin($group::$name(store)) },
                    },
                )*)*
            ]
        }
    };
}

crate::__with_conformance_scenarios!([registry]);

/// The scenario called `name` (`group::scenario`, as in [`NAMES`]), if there
/// is one.
pub fn scenario<S: Store + 'static>(name: &str) -> Option<Conformance<S>> {
    scenarios().into_iter().find(|c| c.name == name)
}

/// Generates one `#[test]` per conformance scenario, each running it through
/// `$run`, a function of yours that creates a fresh, empty store:
///
/// ```text
/// fn run<F, Fut>(name: &str, scenario: F)
/// where
///     F: FnOnce(YourStore) -> Fut,
///     Fut: Future<Output = ()>,
/// ```
///
/// `name` is the scenario's `group::scenario` (to name a database after, say);
/// the function awaits `scenario(store)` on an executor your store works on,
/// then cleans up. The tests are generated in one module per group (`ingest`,
/// `answers`, `lists`, `queue`, `announce`) inside the module where the macro is called; those modules
/// import everything of it, so `$run` is a name (or path) in scope there.
///
/// See [the crate docs](crate#testing-your-own-store) for a whole example.
#[macro_export]
macro_rules! conformance_tests {
    ($run:path) => {
        $crate::__with_conformance_scenarios!([$crate::__conformance_tests] $run);
    };
    ($run:path,) => {
        $crate::conformance_tests!($run);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    (($run:path) $($group:ident: [$($name:ident),* $(,)?]),* $(,)?) => {
        $(
            mod $group {
                #[allow(unused_imports)]
                use super::*;
                $(
                    #[test]
                    fn $name() {
                        let name = concat!(stringify!($group), "::", stringify!($name));
                        let Some(scenario) = $crate::conformance::scenario(name) else {
                            panic!("{name} is not a registered conformance scenario");
                        };
                        $run(name, scenario.run);
                    }
                )*
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use calinvite_core::lifecycle::MemoryStore;

    #[test]
    fn every_name_finds_its_scenario_and_no_other() {
        let mut seen = std::collections::BTreeSet::new();
        for name in NAMES {
            let found = scenario::<MemoryStore>(name).map(|c| c.name);
            assert_eq!(found, Some(*name));
            assert!(seen.insert(*name), "{name} is registered twice");
        }
        assert_eq!(seen.len(), scenarios::<MemoryStore>().len());
        assert!(scenario::<MemoryStore>("ingest::no_such_scenario").is_none());
        assert!(
            scenario::<MemoryStore>("brief_story").is_none(),
            "names carry their group"
        );
    }
}
