#![allow(clippy::unwrap_used)]
// These tests measure wall-clock rates: they read the real clock on purpose.
#![allow(clippy::disallowed_methods)]
//! The send-rate limiter holds its rate over a 10-second run with 8
//! concurrent workers sharing one bucket.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use calinvite_ses::SendRateLimiter;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_workers_hold_the_configured_rate_for_ten_seconds() {
    let rate = 50.0;
    let limiter = SendRateLimiter::new(rate);
    let taken = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(10);
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (l, taken) = (limiter.clone(), taken.clone());
        workers.push(tokio::spawn(async move {
            loop {
                l.acquire().await;
                if Instant::now() >= deadline {
                    return;
                }
                taken.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    let n = taken.load(Ordering::SeqCst) as f64;
    let measured = n / 10.0;
    println!("limiter at {rate}/s, 8 workers, 10 s: {n} tokens = {measured:.2}/s");
    assert!(
        (measured - rate).abs() / rate <= 0.03,
        "measured {measured:.2}/s against {rate}/s"
    );
}
