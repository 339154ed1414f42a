//! The real [`Clock`] and [`IdSource`]: the system clock and the operating
//! system's CSPRNG. The core cannot have these (it reads no clock and draws no
//! random number); every deployment uses these two.

use calinvite_core::{Clock, IdSource};
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
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        // Without a working CSPRNG tokens would be guessable and replies
        // forgeable: there is no safe fallback, so this is fatal.
        if let Err(e) = getrandom::fill(dest) {
            panic!("the operating system's random number generator failed: {e}");
        }
    }
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
        let mut ids = OsRandom;
        let tokens: std::collections::HashSet<_> = (0..1000)
            .map(|_| InvitationToken::generate(&mut ids))
            .collect();
        assert_eq!(tokens.len(), 1000);
    }
}
