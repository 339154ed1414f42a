//! Two `invite-server` processes on one PostgreSQL schema serve the API and
//! drain one queue together, sending through an SMTP relay (Postfix's
//! `smtp-sink`, which writes every message it accepts to a file before it
//! answers). One of them is killed with SIGKILL several times mid-campaign
//! and started again each time.
//!
//! The campaign: a few thousand invitations sent through the API, each to
//! one process or the other (a request that finds its process dead is sent
//! to the other, as a client with two servers behind a balancer would), and
//! a CSV list uploaded to each process. Leases are 3 s, so what a killed
//! process held is sent by a living one soon after.
//!
//! Then every invited address has its message; nothing went to anyone not
//! invited; each Message-ID went to one recipient; the copies beyond the
//! first are at most the killed process's window at each kill (its batches
//! in hand: kills × 2 × batch) and at most the claims of expired leases the
//! queue counted (`calinvite_queue_reclaimed_total`); both lists were fed to
//! their end; the queue is empty; both processes stop cleanly on SIGTERM.
//!
//! Both processes' webhook dispatchers post to one application endpoint:
//! every message sent is announced once (one `webhook-id` per message), and
//! a post is repeated only when its process was killed holding it (at most
//! one per kill: an endpoint's posts go one at a time); such a post waits
//! for its lease (the post timeout, 1 s here, and a minute), which is most
//! of this test's time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{postgres_url, unique};
use crate::procs::{HookSink, ServerProcess, Sink, admin, free_port, metric, printed_key};

const API_INVITATIONS: usize = 2400;
const LIST_ROWS: usize = 600;
const CLIENTS: usize = 8;
const KILLS: usize = 5;
const BATCH: usize = 16;
/// The worker's default number of batches in hand.
const BATCHES_IN_HAND: usize = 2;
/// Everything, on a loaded 2-core machine: the API sends, five kills, and the
/// 60 s leases the killed processes held running out.
const DEADLINE: Duration = Duration::from_secs(300);

fn api_address(i: usize) -> String {
    format!("guest{i:05}@scale.example.net")
}

fn list_address(list: usize, i: usize) -> String {
    format!("row{i:04}.list{list}@scale.example.org")
}

/// What the clients saw.
#[derive(Debug, Default)]
struct Answers {
    invited: usize,
    already: usize,
    retried: usize,
    server_errors: Vec<String>,
}

/// Sends invitation `i` to process `i % 2`, or the other one while that is
/// down, until one of them answers it.
async fn invite(
    client: &reqwest::Client,
    urls: &[String; 2],
    key: &str,
    event: &str,
    i: usize,
    answers: &tokio::sync::Mutex<Answers>,
) {
    let address = api_address(i);
    for attempt in 0..400 {
        let url = &urls[(i + attempt) % 2];
        let r = client
            .post(format!("{url}/v1/events/{event}/invitations"))
            .bearer_auth(key)
            .json(&json!({"address": address}))
            .send()
            .await;
        let r = match r {
            Ok(r) => r,
            Err(_) => {
                // Its process is down (killed, or not started again yet).
                answers.lock().await.retried += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        let mut a = answers.lock().await;
        match (status, body["outcome"].as_str()) {
            (201, Some("invited")) => a.invited += 1,
            // The first try was recorded, its answer lost with its process.
            (200, Some("already-invited")) => a.already += 1,
            (s, _) if s >= 500 => {
                a.server_errors.push(format!("{address}: {s} {body}"));
                drop(a);
                continue;
            }
            (s, _) => panic!("{address}: {s} {body}"),
        }
        return;
    }
    panic!("{address}: no process answered in 400 tries");
}

struct Cluster {
    dir: std::path::PathBuf,
    env: Vec<(String, String)>,
    ports: [u16; 2],
    incarnation: usize,
}

impl Cluster {
    fn start(&mut self, which: usize) -> ServerProcess {
        self.incarnation += 1;
        let mut env = self.env.clone();
        env.push((
            "CALINVITE_HTTP_LISTEN".into(),
            format!("127.0.0.1:{}", self.ports[which]),
        ));
        let log = self
            .dir
            .join(format!("server{which}-{}.log", self.incarnation));
        ServerProcess::start(&self.dir, &env, log)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_send_everything_once_through_kills() {
    let name = unique("scale");
    let dir = std::env::temp_dir().join(format!("invite-server-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let schema = format!("is_{}", name.to_ascii_lowercase());
    let mut sink = Sink::start(&dir);
    let env: Vec<(String, String)> = [
        ("CALINVITE_DATABASE_URL", postgres_url()),
        ("CALINVITE_DATABASE_SCHEMA", schema.clone()),
        ("CALINVITE_DATABASE_MAX_CONNECTIONS", "4".into()),
        ("CALINVITE_DATA_DIR", dir.join("data").display().to_string()),
        ("CALINVITE_DEMO_ENABLED", "false".into()),
        ("CALINVITE_SMTP_ENABLED", "false".into()),
        ("CALINVITE_OUTBOUND_KIND", "smtp".into()),
        ("CALINVITE_OUTBOUND_SMTP_HOST", "127.0.0.1".into()),
        ("CALINVITE_OUTBOUND_SMTP_PORT", sink.port.to_string()),
        ("CALINVITE_OUTBOUND_SMTP_MAX_CONNECTIONS", "2".into()),
        ("CALINVITE_WORKER_BATCH", BATCH.to_string()),
        ("CALINVITE_WORKER_CONCURRENCY", "4".into()),
        ("CALINVITE_WORKER_LEASE_SECONDS", "3".into()),
        ("CALINVITE_WEBHOOKS_ALLOW_PRIVATE_TARGETS", "true".into()),
        ("CALINVITE_WEBHOOKS_TIMEOUT_SECONDS", "1".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();

    // The operator's set-up: a domain owner and its key, from the command
    // line (this also makes the schema).
    let out = admin(
        &dir,
        &env,
        &[
            "add-owner",
            "--domain",
            "scale.example.com",
            "--name",
            "Scale",
        ],
    );
    let key = printed_key(&out);
    let mut cluster = Cluster {
        dir: dir.clone(),
        env,
        ports: [free_port(), free_port()],
        incarnation: 0,
    };
    let survivor = cluster.start(0);
    let mut victim = cluster.start(1);
    let urls = cluster.ports.map(|p| format!("http://127.0.0.1:{p}"));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    // An organizer and an event, through the API.
    let r: Value = client
        .post(format!("{}/v1/organizers", urls[0]))
        .bearer_auth(&key)
        .json(&json!({"name": "Ana", "address": "ana@scale.example.com"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let organizer = r["organizer"]["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("{r}"));
    let r: Value = client
        .post(format!("{}/v1/events", urls[1]))
        .bearer_auth(&key)
        .json(
            &json!({"organizer": organizer, "summary": "Launch", "start": "2036-06-12T18:00",
            "end": "2036-06-12T21:00", "time_zone": "Europe/Madrid"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let event = r["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"))
        .to_owned();
    let hooks = HookSink::start().await;
    let r = client
        .post(format!("{}/v1/webhooks", urls[0]))
        .bearer_auth(&key)
        .json(&json!({"url": hooks.url, "types": ["delivery.sent"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());

    // A list to each process.
    let mut lists = Vec::new();
    for (n, url) in urls.iter().enumerate() {
        let mut csv = String::from("email,name\r\n");
        for i in 0..LIST_ROWS {
            csv.push_str(&format!("{},Row {i}\r\n", list_address(n, i)));
        }
        let r: Value = client
            .post(format!("{url}/v1/events/{event}/lists?name=list{n}.csv"))
            .bearer_auth(&key)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        lists.push(r["id"].as_str().unwrap_or_else(|| panic!("{r}")).to_owned());
    }

    // The API campaign, from a few clients at once.
    let answers = Arc::new(tokio::sync::Mutex::new(Answers::default()));
    let next = Arc::new(AtomicUsize::new(0));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let (client, urls, key, event, answers, next) = (
            client.clone(),
            urls.clone(),
            key.clone(),
            event.clone(),
            answers.clone(),
            next.clone(),
        );
        clients.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= API_INVITATIONS {
                    return;
                }
                invite(&client, &urls, &key, &event, i, &answers).await;
            }
        });
    }

    // The kills, spread over the run: kill k once the sink holds
    // (k + 1) / (KILLS + 2) of the messages, the victim having run 1 s.
    let expected = API_INVITATIONS + 2 * LIST_ROWS;
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let mut victim_since = started;
    let mut at_kills = Vec::new();
    for k in 0..KILLS {
        let target = expected * (k + 1) / (KILLS + 2);
        while sink.count() < target || victim_since.elapsed() < Duration::from_secs(1) {
            assert!(
                started.elapsed() < DEADLINE,
                "kill {k}: the sink holds {} of {expected} messages after {} s",
                sink.count(),
                DEADLINE.as_secs()
            );
            assert!(
                victim.running(),
                "the process to kill ended by itself:\n{}",
                victim.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let requests_done = next.load(Ordering::Relaxed).min(API_INVITATIONS);
        victim.kill();
        at_kills.push((sink.count(), requests_done));
        victim = cluster.start(1);
        #[allow(clippy::disallowed_methods)]
        {
            victim_since = std::time::Instant::now();
        }
    }
    while let Some(done) = clients.join_next().await {
        // A client that saw an answer it should not have fails the test.
        done.unwrap();
    }

    // Everything sent: every address in the sink, nothing queued or leased.
    let metrics = loop {
        assert!(
            started.elapsed() < DEADLINE,
            "after {} s the sink holds {} messages for {expected} invitations",
            DEADLINE.as_secs(),
            sink.count()
        );
        let text = client
            .get(format!("{}/metrics", urls[0]))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let state =
            |s: &str| metric(&text, "calinvite_queue_messages", &format!("state=\"{s}\"")).unwrap();
        let hooks_pending = metric(&text, "calinvite_webhook_messages_pending", "").unwrap_or(1.0);
        let announced = hooks
            .posts()
            .iter()
            .map(|p| p.id.clone())
            .collect::<std::collections::HashSet<_>>()
            .len();
        if state("queued") + state("leased") == 0.0
            && state("sent") as usize >= expected
            && announced >= expected
            && hooks_pending == 0.0
        {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let took = started.elapsed();

    // The lists, fed to their end (each by its process, or by a process
    // that started after the one feeding it was killed).
    for id in &lists {
        let l: Value = client
            .get(format!("{}/v1/lists/{id}", urls[0]))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(l["all_rows_taken"], true, "{l}");
        assert_eq!(l["progress"]["rows"], LIST_ROWS as u64, "{l}");
        assert_eq!(l["progress"]["invited"], LIST_ROWS as u64, "{l}");
        assert_eq!(l["progress"]["submitted"], LIST_ROWS as u64, "{l}");
    }

    let (after0, stop0) = survivor.terminate(Duration::from_secs(60));
    let (after1, stop1) = victim.terminate(Duration::from_secs(60));
    for after in [&after0, &after1] {
        assert!(after.iter().any(|l| l.starts_with("stopped")), "{after:?}");
    }
    assert!(sink.running(), "smtp-sink died: {}", sink.log_text());
    let received = sink.received();
    let answers = answers.lock().await;
    let reclaimed = metric(&metrics, "calinvite_queue_reclaimed_total", "").unwrap() as usize;
    let copies = received.copies();
    let window = KILLS * BATCHES_IN_HAND * BATCH;
    eprintln!(
        "scale-out: {expected} invitations in {:.1} s, {KILLS} kills at (messages in the sink, \
         API requests begun) {at_kills:?}; API: {} invited, {} already invited after a lost \
         answer, {} tries sent to a dead process; sink: {} messages, {} recipients, {copies} \
         copies beyond the first; reclaimed leases {reclaimed}; window {window}; stopped in \
         {stop0:?} and {stop1:?}",
        took.as_secs_f64(),
        answers.invited,
        answers.already,
        answers.retried,
        received.files,
        received.by_recipient.len(),
    );

    assert!(
        answers.server_errors.is_empty(),
        "5xx: {:?}",
        answers.server_errors
    );
    assert_eq!(answers.invited + answers.already, API_INVITATIONS);
    // Nothing lost, nothing to a stranger.
    let mut invited: Vec<String> = (0..API_INVITATIONS).map(api_address).collect();
    for n in 0..2 {
        invited.extend((0..LIST_ROWS).map(|i| list_address(n, i)));
    }
    let missing: Vec<&String> = invited
        .iter()
        .filter(|a| !received.by_recipient.contains_key(*a))
        .collect();
    assert!(
        missing.is_empty(),
        "{} without a message: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert_eq!(
        received.by_recipient.len(),
        expected,
        "recipients not invited got mail"
    );
    assert_eq!(received.unreadable, 0);
    // One message per invitation: copies share its Message-ID.
    assert_eq!(received.by_message_id.len(), expected);
    assert!(received.by_message_id.values().all(|r| r.len() == 1));
    // Copies only from what a killed process held.
    assert!(
        copies <= window,
        "{copies} copies, more than kills × batches in hand = {window}"
    );
    assert!(
        copies <= reclaimed,
        "{copies} copies, but only {reclaimed} leases reclaimed"
    );
    let failed = metric(&metrics, "calinvite_queue_messages", "state=\"failed\"").unwrap();
    assert_eq!(failed, 0.0);
    // The application heard of each message sent once; a post repeated
    // only for a killed process.
    let posts: Vec<_> = hooks
        .posts()
        .into_iter()
        .filter(|p| p.kind == "delivery.sent")
        .collect();
    let mut by_id: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for p in &posts {
        *by_id.entry(p.id.as_str()).or_default() += 1;
    }
    let repeats: usize = by_id.values().map(|n| n - 1).sum();
    eprintln!(
        "scale-out webhooks: {} posts, {} messages, {repeats} repeated",
        posts.len(),
        by_id.len()
    );
    assert_eq!(
        by_id.len(),
        expected,
        "one webhook message per message sent"
    );
    assert!(
        repeats <= KILLS,
        "{repeats} posts repeated for {KILLS} kills"
    );
    let heard: std::collections::HashSet<&str> =
        posts.iter().filter_map(|p| p.address.as_deref()).collect();
    assert!(
        invited.iter().all(|a| heard.contains(a.as_str())),
        "an address without its delivery.sent post"
    );

    let store = calinvite_store::SqlStore::open_with(
        &postgres_url(),
        calinvite_store::SqlOptions::default().schema(schema.clone()),
    )
    .await
    .unwrap();
    store.drop_schema(&schema).await.unwrap();
    store.close().await;
    drop(sink);
    let _ = std::fs::remove_dir_all(&dir);
}
