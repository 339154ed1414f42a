//! Time and identifiers as inputs.
//!
//! The core never reads a clock or draws a random number. Callers hand in a
//! [`Clock`] and an [`IdSource`]: the real ones (`SystemClock`, `OsRandom`)
//! live in the `calinvite` crate; the fixed and sequential ones here make tests and golden files
//! byte-for-byte repeatable.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use chrono::{DateTime, Utc};

/// Where the current time comes from.
pub trait Clock: Send + Sync {
    /// The current time, UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// Where unguessable identifiers come from: event codes, invitation tokens.
///
/// A real implementation draws from the operating system's CSPRNG (the
/// `calinvite` crate's `OsRandom`); anything weaker makes tokens guessable and
/// replies forgeable. A source is shared by every command of a pipeline, so it
/// takes `&self` (keep any state behind an atomic or a lock) and is `Send +
/// Sync`. It may fail: a command that cannot draw an identifier fails with
/// [`PipelineError::IdSource`](crate::lifecycle::PipelineError::IdSource) and
/// changes nothing.
pub trait IdSource: Send + Sync {
    /// Fills `dest` with fresh bytes, or says why it cannot.
    fn fill(&self, dest: &mut [u8]) -> Result<(), IdSourceError>;
}

/// An [`IdSource`] could not supply bytes (the operating system's random
/// number generator failed, say). There is no safe fallback: an identifier
/// drawn from anything weaker would be guessable.
#[derive(Debug, thiserror::Error)]
#[error("the identifier source failed: {source}")]
pub struct IdSourceError {
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl IdSourceError {
    /// An error carrying the source's own reason.
    pub fn new(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        IdSourceError {
            source: source.into(),
        }
    }
}

/// A clock that always says the same time, or moves only when told to.
#[derive(Debug)]
pub struct FixedClock {
    seconds: AtomicI64,
}

impl FixedClock {
    /// A clock stopped at `at` (sub-second precision is dropped, as iCalendar has none).
    pub fn new(at: DateTime<Utc>) -> Self {
        FixedClock {
            seconds: AtomicI64::new(at.timestamp()),
        }
    }

    /// Moves the clock forward (or back) by `seconds`.
    pub fn advance(&self, seconds: i64) {
        self.seconds.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.seconds.load(Ordering::SeqCst), 0).unwrap_or_default()
    }
}

/// Deterministic identifier bytes for tests: a SplitMix64 stream from a seed.
/// Predictable by design: never use it in production. It never fails.
///
/// The stream's position is an atomic, so a shared source hands out each
/// 8-byte step once; drawn from one thread at a time (as in tests), the bytes
/// are the same run after run.
#[derive(Debug)]
pub struct SequentialIds {
    state: AtomicU64,
}

impl SequentialIds {
    /// A stream starting from `seed`.
    pub fn new(seed: u64) -> Self {
        SequentialIds {
            state: AtomicU64::new(seed),
        }
    }
}

impl Clone for SequentialIds {
    /// A stream continuing from where this one is now.
    fn clone(&self) -> Self {
        SequentialIds::new(self.state.load(Ordering::SeqCst))
    }
}

/// The SplitMix64 step.
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

impl IdSource for SequentialIds {
    fn fill(&self, dest: &mut [u8]) -> Result<(), IdSourceError> {
        for chunk in dest.chunks_mut(8) {
            let mut z = self
                .state
                .fetch_add(GOLDEN_GAMMA, Ordering::SeqCst)
                .wrapping_add(GOLDEN_GAMMA);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_be_bytes()[..chunk.len()]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let c = FixedClock::new(t);
        assert_eq!(c.now(), t);
        c.advance(60);
        assert_eq!(c.now().timestamp(), 1_800_000_060);
    }

    #[test]
    fn sequential_ids_repeat_per_seed_and_differ_across_seeds() {
        let (a, b, c) = (
            SequentialIds::new(1),
            SequentialIds::new(1),
            SequentialIds::new(2),
        );
        let (mut x, mut y, mut z) = ([0u8; 13], [0u8; 13], [0u8; 13]);
        a.fill(&mut x).unwrap();
        b.fill(&mut y).unwrap();
        c.fill(&mut z).unwrap();
        assert_eq!(x, y);
        assert_ne!(x, z);
    }

    #[test]
    fn sequential_ids_keep_the_splitmix_stream() {
        // The first two steps of SplitMix64 from seed 0, as published.
        let ids = SequentialIds::new(0);
        let mut b = [0u8; 16];
        ids.fill(&mut b).unwrap();
        assert_eq!(b[..8], 0xE220_A839_7B1D_CDAF_u64.to_be_bytes());
        assert_eq!(b[8..], 0x6E78_9E6A_A1B9_65F4_u64.to_be_bytes());
        // A clone continues from the same place.
        let (mut x, mut y) = ([0u8; 8], [0u8; 8]);
        ids.clone().fill(&mut x).unwrap();
        ids.fill(&mut y).unwrap();
        assert_eq!(x, y);
    }
}
