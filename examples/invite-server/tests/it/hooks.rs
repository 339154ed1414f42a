//! The application's side of webhooks: a receiver (axum on loopback) that
//! keeps every post and answers as a test scripts it, and the independent
//! verifier (the `standardwebhooks` package from PyPI, run by
//! `scripts/verify-webhooks.sh`).

use std::collections::{BTreeMap, VecDeque};
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use serde_json::{Value, json};

use crate::common::eventually;

/// One post received.
#[derive(Clone, Debug)]
pub struct Post {
    /// Its headers, names in lower case.
    pub headers: BTreeMap<String, String>,
    /// Its body, as received.
    pub body: Vec<u8>,
    /// The body parsed.
    pub json: Value,
}

impl Post {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    pub fn kind(&self) -> &str {
        self.json["type"].as_str().unwrap_or("")
    }
}

/// A scripted answer: its status, and its `Retry-After`.
type Scripted = (u16, Option<&'static str>);

#[derive(Clone, Default)]
struct Shared {
    posts: Arc<Mutex<Vec<Post>>>,
    answers: Arc<Mutex<VecDeque<Scripted>>>,
}

/// A webhook receiver on a loopback port.
pub struct Receiver {
    pub url: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

async fn receive(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap) {
    let post = Post {
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        json: serde_json::from_slice(&body).unwrap_or(Value::Null),
        body: body.to_vec(),
    };
    s.posts.lock().unwrap().push(post);
    let (status, retry_after) = s.answers.lock().unwrap().pop_front().unwrap_or((200, None));
    let mut out = HeaderMap::new();
    if let Some(r) = retry_after {
        out.insert("retry-after", r.parse().unwrap());
    }
    (StatusCode::from_u16(status).unwrap(), out)
}

impl Receiver {
    pub async fn start() -> Receiver {
        let shared = Shared::default();
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = tcp.local_addr().unwrap().port();
        let app = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(tcp, app).await;
        });
        Receiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            shared,
            task,
        }
    }

    /// The next posts are answered with these statuses (then 200).
    pub fn answer(&self, statuses: &[u16]) {
        let mut a = self.shared.answers.lock().unwrap();
        a.extend(statuses.iter().map(|s| (*s, None)));
    }

    /// The next post is answered `status` with `Retry-After: seconds`.
    pub fn answer_later(&self, status: u16, seconds: &'static str) {
        self.shared
            .answers
            .lock()
            .unwrap()
            .push_back((status, Some(seconds)));
    }

    pub fn posts(&self) -> Vec<Post> {
        self.shared.posts.lock().unwrap().clone()
    }

    /// Waits (up to 60 s) for `n` posts.
    pub async fn wait_for(&self, n: usize) -> Vec<Post> {
        eventually(&format!("{n} webhook posts"), || async {
            let p = self.posts();
            (p.len() >= n).then_some(p)
        })
        .await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// For each post, the indexes of `secrets` it verifies with, as the
/// `standardwebhooks` package (PyPI) verifies it.
pub fn verify(posts: &[(&Post, &[&str])]) -> Vec<Vec<usize>> {
    let file = std::env::temp_dir().join(format!("{}.json", crate::common::unique("webhooks")));
    let list: Vec<Value> = posts
        .iter()
        .map(|(p, secrets)| {
            json!({
                "secrets": secrets,
                "headers": p.headers,
                "body_base64": base64::engine::general_purpose::STANDARD.encode(&p.body),
            })
        })
        .collect();
    std::fs::write(&file, serde_json::to_vec(&list).unwrap()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/verify-webhooks.sh");
    let out = Command::new(script)
        .arg(&file)
        .output()
        .expect("run the webhook verifier script");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "the verifier failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the verifier's output {:?}: {e}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A post with one byte of its body changed (it must not verify).
pub fn tampered(p: &Post) -> Post {
    let mut t = p.clone();
    if let Some(b) = t.body.iter_mut().find(|b| b.is_ascii_digit()) {
        *b = if *b == b'9' { b'0' } else { *b + 1 };
    } else {
        t.body.push(b' ');
    }
    t
}
