//! The lifecycle conformance suite (`calinvite_tests::conformance`) on the
//! in-memory store: one test per scenario, named after it
//! (`ingest::brief_story`, `answers::recurring_instances`, …).

use std::future::Future;

use calinvite_core::lifecycle::MemoryStore;

/// Runs one scenario on a fresh, empty in-memory store.
fn on_memory<F, Fut>(_name: &str, scenario: F)
where
    F: FnOnce(MemoryStore) -> Fut,
    Fut: Future<Output = ()>,
{
    calinvite_tests::block_on(scenario(MemoryStore::new()));
}

calinvite_tests::conformance_tests!(on_memory);
