//! The real [`Clock`] and [`IdSource`]: the system clock and the operating
//! system's CSPRNG. The core cannot have these (it reads no clock and draws no
//! random number); every deployment uses these two.

use std::sync::Arc;

use calinvite_core::lifecycle::PipelineBuilder;
use calinvite_core::{Clock, IdSource, IdSourceError, Pipeline, Store, Transport};
use chrono::{DateTime, Utc};

/// The system clock, UTC.
#[derive(Clone, Copy, Debug, Default)]
#[allow(
    clippy::exhaustive_structs,
    reason = "a unit value with no settings: applications name it directly"
)]
pub struct SystemClock;

impl Clock for SystemClock {
    // This is the one place calinvite reads the time (clippy.toml denies it elsewhere).
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Identifier bytes from the operating system's cryptographically secure
/// random number generator (`getrandom(2)` on Linux).
#[derive(Clone, Copy, Debug, Default)]
#[allow(
    clippy::exhaustive_structs,
    reason = "a unit value with no settings: applications name it directly"
)]
pub struct OsRandom;

impl IdSource for OsRandom {
    /// Draws from the CSPRNG. Without one, tokens would be guessable and
    /// replies forgeable: there is no fallback, the failure is reported (a
    /// pipeline command then fails with `PipelineError::IdSource` and changes
    /// nothing).
    fn fill(&self, dest: &mut [u8]) -> Result<(), IdSourceError> {
        getrandom::fill(dest).map_err(|e| {
            IdSourceError::new(format!(
                "the operating system's random number generator failed: {e}"
            ))
        })
    }
}

/// Starts building a [`Pipeline`] over `store` and `transport` with the
/// [`SystemClock`] and [`OsRandom`] already set: what every deployment uses.
/// Add options, then `build()`:
///
/// ```
/// use calinvite::core::lifecycle::{MemoryStore, RecordingTransport};
///
/// let pipeline = calinvite::pipeline(MemoryStore::new(), RecordingTransport::new()).build();
/// # let _ = pipeline;
/// ```
pub fn pipeline<S: Store, T: Transport>(
    store: S,
    transport: T,
) -> PipelineBuilder<S, T, Arc<dyn Clock>, Box<dyn IdSource + Send>> {
    Pipeline::builder(store, transport)
        .clock(Arc::new(SystemClock))
        .ids(OsRandom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use calinvite_core::InvitationToken;

    #[test]
    fn system_clock_is_after_2025() {
        assert!(SystemClock.now().timestamp() > 1_735_689_600);
    }

    #[test]
    fn os_random_tokens_differ() {
        let tokens: std::collections::HashSet<_> = (0..1000)
            .map(|_| InvitationToken::try_generate(&OsRandom).unwrap())
            .collect();
        assert_eq!(tokens.len(), 1000);
    }
}
