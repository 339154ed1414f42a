#![allow(clippy::unwrap_used)]
//! The invitation lifecycle against a reference model
//! (`proptest-state-machine`), on the in-memory store. The model, its
//! transitions and the invariants live in `lifecycle_machine`, generic over
//! the store and its executor: `calinvite-store/tests/it/lifecycle_model_sql.rs`
//! runs the same machine on SQLite and PostgreSQL.

use crate::lifecycle_machine;

use calinvite_core::lifecycle::MemoryStore;
use lifecycle_machine::{LifecycleTest, StoreFactory, config};
use proptest_state_machine::prop_state_machine;

/// Fresh in-memory stores.
struct Memory;

impl StoreFactory for Memory {
    type S = MemoryStore;
    fn make() -> MemoryStore {
        MemoryStore::new()
    }
}

/// How many random cases run (each of 5 to 39 steps): 256, or
/// `CALINVITE_MODEL_CASES` for a longer search.
fn cases() -> u32 {
    std::env::var("CALINVITE_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

prop_state_machine! {
    #![proptest_config(config(cases(), "tests/it/lifecycle_model.proptest-regressions"))]

    #[test]
    fn memory_store_follows_the_model(sequential 5..40 => LifecycleTest<Memory>);
}

// Regressions: shrunk failures the machine found, replayed step by step
// (the steps live in `lifecycle_machine::regressions`, shared with the SQL
// stores' run of the machine).

use lifecycle_machine::regressions;

/// b: an invitation still queued when the event is cancelled must not go
/// out after the cancellation.
#[test]
fn a_queued_invitation_does_not_go_out_after_the_cancellation() {
    regressions::a_queued_invitation_does_not_go_out_after_the_cancellation::<Memory>();
}

/// a: an update waiting for a retry is overtaken by a newer one; sent after
/// it, the recipient would see SEQUENCE 2 and then 1.
#[test]
fn a_retried_update_overtaken_by_a_newer_one_is_dropped() {
    regressions::a_retried_update_overtaken_by_a_newer_one_is_dropped::<Memory>();
}

/// b: a recipient that hard-bounced gets no cancellation
/// ([D5](calinvite_core::manual::design#d5)), so an update waiting for a retry
/// is not superseded by one: it must still not go out.
#[test]
fn a_retried_update_does_not_go_out_after_the_cancellation() {
    regressions::a_retried_update_does_not_go_out_after_the_cancellation::<Memory>();
}

/// c: someone listed in an approved update who declines before it is
/// planned gets no update.
#[test]
fn an_approved_update_skips_who_declined_since() {
    regressions::an_approved_update_skips_who_declined_since::<Memory>();
}
