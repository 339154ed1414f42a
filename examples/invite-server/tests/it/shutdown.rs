//! Stopping loses nothing: the server is stopped while invitations are
//! being sent to it and while its worker drains the queue; every request it
//! answered 201 leads to exactly one message, sent by it or, after a
//! restart on the same database, by the next process. Once in this process
//! (`RunningServer::shutdown`), once as an operator does it: SIGTERM to the
//! `invite-server` binary sending through an SMTP relay, with an
//! application's webhook endpoint that hears of every message sent exactly
//! once.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::common::{Db, Reply, TestServer, captured, config, eventually, unique};
use crate::procs::{HookSink, ServerProcess, Sink, admin, free_port, printed_key};

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

/// What became of one request sent while the server was stopping.
#[derive(Clone, Debug)]
struct Sent {
    address: String,
    /// The status, or `None` when no answer came (the connection was
    /// refused or closed).
    status: Option<u16>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_and_doubles_nothing() {
    let dir = std::env::temp_dir().join(format!("invite-server-{}", unique("term")));
    std::fs::create_dir_all(&dir).unwrap();
    let mut sink = Sink::start(&dir);
    let port = free_port();
    let env: Vec<(String, String)> = [
        ("CALINVITE_DATA_DIR", dir.join("data").display().to_string()),
        ("CALINVITE_HTTP_LISTEN", format!("127.0.0.1:{port}")),
        ("CALINVITE_DEMO_ENABLED", "false".to_owned()),
        ("CALINVITE_SMTP_ENABLED", "false".to_owned()),
        ("CALINVITE_OUTBOUND_KIND", "smtp".to_owned()),
        ("CALINVITE_OUTBOUND_SMTP_HOST", "127.0.0.1".to_owned()),
        ("CALINVITE_OUTBOUND_SMTP_PORT", sink.port.to_string()),
        // Slower than the API takes invitations, even a debug build on a
        // busy machine: messages are queued, and some on the wire, when
        // SIGTERM comes.
        ("CALINVITE_OUTBOUND_SMTP_RATE_PER_SECOND", "30".to_owned()),
        // The application's endpoint is on loopback.
        (
            "CALINVITE_WEBHOOKS_ALLOW_PRIVATE_TARGETS",
            "true".to_owned(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let key = printed_key(&admin(
        &dir,
        &env,
        &[
            "add-owner",
            "--domain",
            "term.example.com",
            "--name",
            "Term",
        ],
    ));
    let server = ServerProcess::start(&dir, &env, dir.join("server-1.log"));
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let organizer: serde_json::Value = client
        .post(format!("{base}/v1/organizers"))
        .bearer_auth(&key)
        .json(&json!({"name": "Ana", "address": "ana@term.example.com"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let event: serde_json::Value = client
        .post(format!("{base}/v1/events"))
        .bearer_auth(&key)
        .json(
            &json!({"organizer": organizer["organizer"]["id"], "summary": "Launch",
            "start": "2036-06-12T18:00", "end": "2036-06-12T21:00", "time_zone": "Europe/Madrid"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = format!(
        "{base}/v1/events/{}/invitations",
        event["code"].as_str().unwrap()
    );
    // The application hears of every message the relay takes.
    let hooks = HookSink::start().await;
    let r = client
        .post(format!("{base}/v1/webhooks"))
        .bearer_auth(&key)
        .json(&json!({"url": hooks.url, "types": ["delivery.sent"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());

    // Clients that keep sending until the server stops answering.
    let sent = Arc::new(tokio::sync::Mutex::new(Vec::<Sent>::new()));
    let mut clients = tokio::task::JoinSet::new();
    for c in 0..16 {
        let (client, url, key, sent) = (client.clone(), url.clone(), key.clone(), sent.clone());
        clients.spawn(async move {
            for i in 0.. {
                let address = format!("c{c:02}.n{i:05}@term.example.net");
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
                sent.lock().await.push(Sent { address, status });
                if status.is_none() {
                    return;
                }
            }
        });
    }
    // SIGTERM once a few hundred are in and the relay is busy.
    eventually("300 invitations accepted", || async {
        let n = sent
            .lock()
            .await
            .iter()
            .filter(|s| s.status == Some(201))
            .count();
        (n >= 300 && sink.count() > 0).then_some(())
    })
    .await;
    let (after, took) = server.terminate(Duration::from_secs(90));
    while let Some(done) = clients.join_next().await {
        done.unwrap();
    }
    let sent = sent.lock().await.clone();
    for s in &sent {
        assert!(
            matches!(s.status, None | Some(201)),
            "{}: a request is answered in full or not at all: {:?}",
            s.address,
            s.status
        );
    }
    let accepted: Vec<&str> = sent
        .iter()
        .filter(|s| s.status == Some(201))
        .map(|s| s.address.as_str())
        .collect();
    let stopped = after
        .iter()
        .find(|l| l.starts_with("stopped"))
        .unwrap_or_else(|| panic!("no \"stopped\" line: {after:?}"));
    let still_queued: usize = stopped
        .strip_prefix("stopped; ")
        .and_then(|l| l.split_whitespace().next())
        .map_or(0, |n| n.parse().unwrap());
    let before = sink.received();
    assert!(
        still_queued > 0,
        "the relay was slower than the API: some messages stay queued ({stopped})"
    );
    // Nothing the stopping process held went out twice.
    assert_eq!(before.copies(), 0, "copies before the restart");

    // The next start sends what was left, exactly that.
    let server = ServerProcess::start(&dir, &env, dir.join("server-2.log"));
    let total = before.files + still_queued;
    for _ in 0..600 {
        if sink.count() >= total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after_restart = sink.received();
    assert_eq!(
        after_restart.files, total,
        "{} sent before SIGTERM and {still_queued} left queued",
        before.files
    );
    for a in &accepted {
        assert_eq!(
            after_restart.by_recipient.get(*a).copied(),
            Some(1),
            "{a}: answered 201, so exactly one message"
        );
    }
    assert_eq!(after_restart.copies(), 0);
    // Requests without an answer were either taken (one message) or not
    // (none); every message is one of the requests.
    let asked: std::collections::HashSet<&str> = sent.iter().map(|s| s.address.as_str()).collect();
    assert!(
        after_restart
            .by_recipient
            .keys()
            .all(|r| asked.contains(r.as_str()))
    );
    eprintln!(
        "SIGTERM under load: {} requests, {} answered 201, stopped in {took:?}; {} messages sent \
         before, {still_queued} left queued and sent by the next start",
        sent.len(),
        accepted.len(),
        before.files
    );
    // Every message sent was announced to the application once, across the
    // SIGTERM: one post per message (one webhook-id each), none repeated.
    for _ in 0..300 {
        if hooks.posts().len() >= total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let posts = hooks
        .posts()
        .into_iter()
        .filter(|p| p.kind == "delivery.sent")
        .collect::<Vec<_>>();
    let ids: std::collections::HashSet<&str> = posts.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids.len(), posts.len(), "a webhook post repeated");
    assert_eq!(
        posts.len(),
        total,
        "one delivery.sent post per message sent"
    );
    for a in &accepted {
        assert!(
            posts.iter().any(|p| p.address.as_deref() == Some(*a)),
            "{a}: no delivery.sent post"
        );
    }
    let (_, _) = server.terminate(Duration::from_secs(90));
    assert!(sink.running(), "smtp-sink died: {}", sink.log_text());
    drop(sink);
    let _ = std::fs::remove_dir_all(&dir);
}
