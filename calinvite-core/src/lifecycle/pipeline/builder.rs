//! Building a [`Pipeline`]: a store and a transport, then a clock and an
//! identifier source (both required: `build` exists only once both are set),
//! then any options.

use super::*;

/// A [`PipelineBuilder`] part not given yet. `build` needs the clock and the
/// identifier source; until both are set the builder has no `build` method.
#[derive(Clone, Copy, Debug, Default)]
#[allow(
    clippy::exhaustive_structs,
    reason = "a type-state marker with no fields"
)]
pub struct Unset;

/// Builds a [`Pipeline`]: [`Pipeline::builder`], then
/// [`clock`](Self::clock) and [`ids`](Self::ids) (required), then any
/// options, then [`build`](Self::build).
///
/// The `calinvite` crate's `calinvite::pipeline(store, transport)` starts a
/// builder with the system clock and the operating system's random source
/// already set, so a deployment writes
/// `calinvite::pipeline(store, transport).build()`.
///
/// ```
/// use std::sync::Arc;
/// use calinvite_core::lifecycle::{MemoryStore, Pipeline, RecordingTransport};
/// use calinvite_core::{FixedClock, SequentialIds};
/// use chrono::{TimeZone as _, Utc};
///
/// let clock = Arc::new(FixedClock::new(Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap()));
/// let pipeline = Pipeline::builder(MemoryStore::new(), RecordingTransport::new())
///     .clock(clock)
///     .ids(SequentialIds::new(7))
///     .batch(100)
///     .build();
/// assert_eq!(pipeline.options().batch, 100);
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct PipelineBuilder<S, T, C = Unset, I = Unset> {
    store: S,
    transport: T,
    clock: C,
    ids: I,
    options: PipelineOptions,
}

impl<S, T, C, I> std::fmt::Debug for PipelineBuilder<S, T, C, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineBuilder")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<S: Store, T: Transport> Pipeline<S, T> {
    /// Starts building a pipeline over `store` and `transport`.
    pub fn builder(store: S, transport: T) -> PipelineBuilder<S, T> {
        PipelineBuilder {
            store,
            transport,
            clock: Unset,
            ids: Unset,
            options: PipelineOptions::default(),
        }
    }
}

impl<S, T, C, I> PipelineBuilder<S, T, C, I> {
    /// Where the pipeline reads the time (`calinvite::SystemClock` in a
    /// deployment, a [`FixedClock`](crate::FixedClock) in tests).
    pub fn clock(self, clock: Arc<dyn Clock>) -> PipelineBuilder<S, T, Arc<dyn Clock>, I> {
        PipelineBuilder {
            store: self.store,
            transport: self.transport,
            clock,
            ids: self.ids,
            options: self.options,
        }
    }

    /// Where event codes and invitation tokens come from
    /// (`calinvite::OsRandom` in a deployment, a
    /// [`SequentialIds`](crate::SequentialIds) in tests).
    pub fn ids(
        self,
        ids: impl IdSource + 'static,
    ) -> PipelineBuilder<S, T, C, Box<dyn IdSource + Send>> {
        self.boxed_ids(Box::new(ids))
    }

    /// [`ids`](Self::ids), for a source already boxed.
    pub fn boxed_ids(
        self,
        ids: Box<dyn IdSource + Send>,
    ) -> PipelineBuilder<S, T, C, Box<dyn IdSource + Send>> {
        PipelineBuilder {
            store: self.store,
            transport: self.transport,
            clock: self.clock,
            ids,
            options: self.options,
        }
    }

    /// Replaces every option at once.
    pub fn options(mut self, options: PipelineOptions) -> Self {
        self.options = options;
        self
    }

    /// The words of invitations, updates and cancellations.
    pub fn template(mut self, template: Arc<dyn Template>) -> Self {
        self.options.template = template;
        self
    }

    /// The words of notices to organizers (event created, refused,
    /// counter-proposal, mailed report).
    pub fn notice_template(mut self, notices: Arc<dyn NoticeTemplate>) -> Self {
        self.options.notices = notices;
        self
    }

    /// Invitations planned per fan-out batch.
    pub fn batch(mut self, batch: usize) -> Self {
        self.options.batch = batch;
        self
    }

    /// Whether to write [announcements](crate::lifecycle::Announcement)
    /// with the changes that cause them (default: no).
    pub fn announce(mut self, announce: bool) -> Self {
        self.options.announce = announce;
        self
    }
}

impl<S: Store, T: Transport> PipelineBuilder<S, T, Arc<dyn Clock>, Box<dyn IdSource + Send>> {
    /// The pipeline.
    pub fn build(self) -> Pipeline<S, T> {
        Pipeline::with_options(
            self.store,
            self.transport,
            self.clock,
            self.ids,
            self.options,
        )
    }
}
