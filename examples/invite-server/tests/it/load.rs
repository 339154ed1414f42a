//! The send-invitation endpoint under load: 50 clients at once, each
//! sending invitations to new addresses, for a few seconds; prints
//! requests per second and the latency percentiles. Ignored by `cargo
//! test` (it measures, it does not check); run it optimised:
//!
//! ```text
//! cargo test --release -p calinvite-invite-server --test it load -- --ignored --nocapture
//! ```
//!
//! `LOAD_SECONDS` sets how long (default 5); `LOAD_NO_WORKER=1` runs
//! without the delivery worker, to see what the API alone takes.

use std::time::Duration;

use serde_json::json;

use crate::common::{Db, TestServer};

async fn load(db: Db) {
    let s = TestServer::start(db, |c| {
        c.log.filter = "error".into();
        c.worker.enabled = std::env::var("LOAD_NO_WORKER").is_err();
    })
    .await;
    let url = format!("{}/v1/events/{}/invitations", s.base, s.event);
    let clients = 50;
    let run = Duration::from_secs(
        std::env::var("LOAD_SECONDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5),
    );
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let (client, url, key) = (s.client.clone(), url.clone(), s.key.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut i = 0u64;
            while started.elapsed() < run {
                #[allow(clippy::disallowed_methods)]
                let t = std::time::Instant::now();
                let r = client
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&json!({"address": format!("c{c}.n{i}@load.example.net")}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 201 => latencies.push(t.elapsed()),
                    _ => errors += 1,
                }
                i += 1;
            }
            (latencies, errors)
        });
    }
    let mut all = Vec::new();
    let mut errors = 0;
    while let Some(r) = tasks.join_next().await {
        let (l, e) = r.unwrap();
        all.extend(l);
        errors += e;
    }
    let took = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    println!(
        "{db:?}: {} invitations accepted in {took:.1} s by {clients} clients: {:.0}/s; p50 {:?}, p99 {:?}; {errors} errors",
        all.len(),
        all.len() as f64 / took,
        pct(0.50),
        pct(0.99),
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement: run it optimised, with --ignored --nocapture"]
async fn send_invitation_under_load_on_sqlite() {
    load(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement: run it optimised, with --ignored --nocapture"]
async fn send_invitation_under_load_on_postgres() {
    load(Db::Postgres).await;
}
