//! The send-rate limit: one token bucket per SES account and process, shared
//! by every worker that holds a clone of the [`SendRateLimiter`].
//!
//! SES enforces a maximum send rate per account and region (new accounts
//! start at 14 messages per second). Sending faster only buys throttling
//! errors, so every send first takes a token here; a throttling answer slows
//! every worker down for a while ([`SendRateLimiter::throttled`]).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// SES's starting maximum send rate, in messages per second.
pub const SES_STARTING_RATE: f64 = 14.0;

/// A token bucket, cheap to clone: clones share one bucket.
///
/// ```
/// use calinvite_ses::SendRateLimiter;
/// let limiter = SendRateLimiter::new(14.0);
/// assert_eq!(limiter.rate(), 14.0);
/// let shared = limiter.clone(); // every worker takes tokens from the same bucket
/// assert_eq!(shared.burst(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct SendRateLimiter {
    inner: Arc<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    rate: f64,
    interval: Duration,
    burst: u32,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// When the next token becomes free when no burst is left (the
    /// "theoretical arrival time" of the next send).
    next: Option<Instant>,
    /// Throttling answers in a row, for the back-off.
    throttled_in_a_row: u32,
}

/// Longest pause a run of throttling answers imposes.
const MAX_PAUSE: Duration = Duration::from_secs(10);

impl SendRateLimiter {
    /// A limiter at `per_second` messages per second with no burst.
    /// A rate that is not a positive finite number is taken as SES's starting rate.
    pub fn new(per_second: f64) -> Self {
        Self::with_burst(per_second, 1)
    }

    /// A limiter at `per_second` messages per second that lets `burst` sends
    /// go at once after a quiet spell (at least 1).
    pub fn with_burst(per_second: f64, burst: u32) -> Self {
        let rate = if per_second.is_finite() && per_second > 0.0 {
            per_second.min(1_000_000.0)
        } else {
            SES_STARTING_RATE
        };
        SendRateLimiter {
            inner: Arc::new(Bucket {
                rate,
                interval: Duration::from_secs_f64(1.0 / rate),
                burst: burst.max(1),
                state: Mutex::new(State {
                    next: None,
                    throttled_in_a_row: 0,
                }),
            }),
        }
    }

    /// The configured rate, in messages per second.
    pub fn rate(&self) -> f64 {
        self.inner.rate
    }

    /// How many sends may go at once after a quiet spell.
    pub fn burst(&self) -> u32 {
        self.inner.burst
    }

    /// Waits for a token. Tokens are handed out in call order, one every
    /// `1 / rate` seconds, so concurrent workers together hold the rate.
    pub async fn acquire(&self) {
        let now = Instant::now();
        let at = self.reserve(now);
        let wait = at.saturating_duration_since(now);
        if !wait.is_zero() {
            tracing::debug!(
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                rate = self.inner.rate,
                "waiting for the SES send rate"
            );
        }
        tokio::time::sleep_until(at).await;
    }

    /// Reserves the next token and says when it may be used.
    fn reserve(&self, now: Instant) -> Instant {
        let b = &self.inner;
        let mut state = b.state.lock().unwrap_or_else(PoisonError::into_inner);
        let next = state.next.map_or(now, |n| n.max(now));
        // A burst lets a send go up to `burst - 1` intervals ahead of its slot.
        let ahead = b.interval * (b.burst - 1);
        let at = next.checked_sub(ahead).map_or(now, |t| t.max(now));
        state.next = Some(next + b.interval);
        at
    }

    /// SES answered a send with throttling: every worker pauses, longer for
    /// each throttling answer in a row (up to 10 seconds). Returns the pause.
    pub fn throttled(&self) -> Duration {
        let b = &self.inner;
        let mut state = b.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.throttled_in_a_row = state.throttled_in_a_row.saturating_add(1);
        let steps = state.throttled_in_a_row.min(16) - 1;
        let pause = (b.interval.max(Duration::from_millis(50)) * 2u32.pow(steps)).min(MAX_PAUSE);
        let now = Instant::now();
        let resume = now + pause;
        state.next = Some(state.next.map_or(resume, |n| n.max(resume)));
        pause
    }

    /// A send went through: the throttling back-off starts again from its shortest step.
    pub fn accepted(&self) {
        let mut state = self
            .inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.throttled_in_a_row = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_spaced_by_the_interval() {
        let l = SendRateLimiter::new(10.0);
        let t0 = Instant::now();
        let a = l.reserve(t0);
        let b = l.reserve(t0);
        let c = l.reserve(t0);
        assert_eq!(a, t0);
        assert_eq!(b - t0, Duration::from_millis(100));
        assert_eq!(c - t0, Duration::from_millis(200));
    }

    #[test]
    fn a_burst_goes_at_once_then_the_rate_holds() {
        let l = SendRateLimiter::with_burst(10.0, 3);
        let t0 = Instant::now();
        let got: Vec<_> = (0..5).map(|_| l.reserve(t0) - t0).collect();
        assert_eq!(got[..3], [Duration::ZERO; 3]);
        assert_eq!(got[3], Duration::from_millis(100));
        assert_eq!(got[4], Duration::from_millis(200));
    }

    #[test]
    fn a_quiet_spell_does_not_bank_more_than_the_burst() {
        let l = SendRateLimiter::with_burst(10.0, 2);
        let t0 = Instant::now();
        l.reserve(t0);
        let later = t0 + Duration::from_secs(60);
        assert_eq!(l.reserve(later), later);
        assert_eq!(l.reserve(later), later);
        assert_eq!(l.reserve(later) - later, Duration::from_millis(100));
    }

    #[test]
    fn throttling_backs_off_exponentially_and_resets() {
        let l = SendRateLimiter::new(100.0);
        let p1 = l.throttled();
        let p2 = l.throttled();
        let p3 = l.throttled();
        assert!(p2 == p1 * 2 && p3 == p1 * 4, "{p1:?} {p2:?} {p3:?}");
        for _ in 0..40 {
            assert!(l.throttled() <= MAX_PAUSE);
        }
        l.accepted();
        assert_eq!(l.throttled(), p1);
    }

    #[test]
    fn nonsense_rates_fall_back_to_the_starting_rate() {
        for r in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(SendRateLimiter::new(r).rate().round(), SES_STARTING_RATE);
        }
    }
}
