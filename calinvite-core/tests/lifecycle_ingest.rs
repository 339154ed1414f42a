#![allow(clippy::unwrap_used)]
//! The ingest and sending conformance scenarios
//! (`calinvite_core::lifecycle::conformance::ingest`) on the in-memory store.

use calinvite_core::lifecycle::conformance::ingest;
use calinvite_core::lifecycle::{MemoryStore, block_on};

macro_rules! on_memory {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                block_on(ingest::$name(MemoryStore::new()));
            }
        )*
    };
}

on_memory!(
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
