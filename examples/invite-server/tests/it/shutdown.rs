//! Stopping loses nothing: the server is stopped while invitations are
//! being sent to it and while its worker drains the queue; every request it
//! answered 201 leads to exactly one message, sent by it or, after a
//! restart on the same database, by the next process.

use std::sync::Arc;

use serde_json::json;

use crate::common::{Db, Reply, TestServer, captured, config, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_under_load_loses_and_doubles_nothing() {
    let (mut c, dir, schema) = config(Db::Sqlite, "stop");
    // A slow worker, so that messages are still queued when it stops.
    c.worker.concurrency = 1;
    c.worker.batch = 2;
    let s = TestServer::start_with(c.clone(), dir.clone(), schema.clone()).await;
    let key = s.key.clone();
    let url = format!("{}/v1/events/{}/invitations", s.base, s.event);
    let client = s.client.clone();
    let n = 150;
    let sent = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let (client, url, key, sent) = (client.clone(), url.clone(), key.clone(), sent.clone());
        tasks.spawn(async move {
            let address = format!("load{i:03}@example.net");
            let r = client
                .post(&url)
                .bearer_auth(&key)
                .json(&json!({"address": address}))
                .send()
                .await;
            let status = match r {
                Ok(r) => Some(Reply::from(r).await.status.as_u16()),
                Err(_) => None,
            };
            sent.lock().await.push((address, status));
        });
        if i == n / 2 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    // Stop while the requests are coming.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let mut s = s;
    let server = s.server.take().unwrap();
    let stopped = server.shutdown().await;
    while tasks.join_next().await.is_some() {}
    let sent = sent.lock().await.clone();
    let accepted: Vec<&String> = sent
        .iter()
        .filter(|(_, st)| *st == Some(201))
        .map(|(a, _)| a)
        .collect();
    assert!(!accepted.is_empty(), "some requests were served: {sent:?}");
    for (a, st) in &sent {
        assert!(
            matches!(st, None | Some(201)),
            "{a}: a request is answered in full or not at all: {st:?}"
        );
    }
    eprintln!(
        "stopped with {} of {n} requests answered 201, {:?} messages still queued",
        accepted.len(),
        stopped.still_queued
    );

    // The next process, on the same database, sends what was left.
    c.demo.enabled = false;
    let next = invite_server::RunningServer::start(c).await.unwrap();
    let all_sent = || async {
        let files: usize = accepted.iter().map(|a| captured(&dir, a).len()).sum();
        (files >= accepted.len()).then_some(files)
    };
    eventually("every accepted invitation sent", all_sent).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    for (a, st) in &sent {
        let files = captured(&dir, a).len();
        match st {
            Some(201) => assert_eq!(files, 1, "{a}: exactly one message"),
            _ => assert!(files <= 1, "{a}: never two messages"),
        }
    }
    let q = next.state().pipeline().queue_counts().await.unwrap();
    assert_eq!((q.queued, q.leased), (0, 0), "{q:?}");
    next.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
