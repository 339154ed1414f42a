//! Measuring a benchmark loop the way the peers do: wall time around the loop
//! only, the process's CPU time, and its peak resident set.

use std::time::{Duration, Instant};

/// Starts the wall clock.
// The workspace denies reading clocks so that the core stays pure; a benchmark
// binary outside the core must read the monotonic clock.
#[allow(
    clippy::disallowed_methods,
    reason = "benchmark code outside the core: it times a loop"
)]
pub fn wall_start() -> Instant {
    Instant::now()
}

/// CPU time (user + system) and `ru_maxrss` (KiB) of this process.
#[cfg(unix)]
pub fn rusage() -> (Duration, i64) {
    use nix::sys::resource::{UsageWho, getrusage};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let tv = |t: nix::sys::time::TimeVal| {
                Duration::from_secs(t.tv_sec().max(0) as u64)
                    + Duration::from_micros(t.tv_usec().max(0) as u64)
            };
            (tv(u.user_time()) + tv(u.system_time()), u.max_rss())
        }
        Err(_) => (Duration::ZERO, 0),
    }
}

/// CPU time and peak RSS are not measured off Unix.
#[cfg(not(unix))]
pub fn rusage() -> (Duration, i64) {
    (Duration::ZERO, 0)
}

/// This process's own peak RSS (KiB), `VmHWM` of `/proc/self/status` (Linux).
pub fn vm_hwm_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
