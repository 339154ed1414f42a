//! Time and identifiers as inputs.
//!
//! The core never reads a clock or draws a random number. Callers hand in a
//! [`Clock`] and an [`IdSource`]: the real ones live in the adapter crates and the
//! examples; the fixed and sequential ones here make tests and golden files
//! byte-for-byte repeatable.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};

/// Where the current time comes from.
pub trait Clock: Send + Sync {
    /// The current time, UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// Where unguessable identifiers come from: event codes, invitation tokens.
///
/// A real implementation draws from the operating system's CSPRNG; anything
/// weaker makes tokens guessable and replies forgeable.
pub trait IdSource {
    /// Fills `dest` with fresh bytes.
    fn fill_bytes(&mut self, dest: &mut [u8]);
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
/// Predictable by design: never use it in production.
#[derive(Debug, Clone)]
pub struct SequentialIds {
    state: u64,
}

impl SequentialIds {
    /// A stream starting from `seed`.
    pub fn new(seed: u64) -> Self {
        SequentialIds { state: seed }
    }
}

impl IdSource for SequentialIds {
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_be_bytes()[..chunk.len()]);
        }
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
        let (mut a, mut b, mut c) = (
            SequentialIds::new(1),
            SequentialIds::new(1),
            SequentialIds::new(2),
        );
        let (mut x, mut y, mut z) = ([0u8; 13], [0u8; 13], [0u8; 13]);
        a.fill_bytes(&mut x);
        b.fill_bytes(&mut y);
        c.fill_bytes(&mut z);
        assert_eq!(x, y);
        assert_ne!(x, z);
    }
}
