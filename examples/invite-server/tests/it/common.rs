//! The harness: a server started in this process on ephemeral ports, over
//! SQLite in a fresh folder or PostgreSQL in a fresh schema, and an HTTP
//! client that calls it over real TCP.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use invite_server::{Config, RunningServer};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

static RUN: AtomicU64 = AtomicU64::new(0);

/// A name unique to this test run.
pub fn unique(label: &str) -> String {
    let n = RUN.fetch_add(1, Ordering::Relaxed);
    #[allow(clippy::disallowed_methods)]
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros();
    format!("{label}{}x{t}x{n}", std::process::id())
}

pub fn postgres_url() -> String {
    std::env::var("CALINVITE_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A server under test, with the demo owner's key.
pub struct TestServer {
    pub server: Option<RunningServer>,
    pub base: String,
    pub key: String,
    pub event: String,
    pub dir: PathBuf,
    pub schema: Option<String>,
    pub client: reqwest::Client,
}

/// A configuration for a test: ephemeral loopback ports, a fresh folder,
/// and the database asked for.
pub fn config(db: Db, label: &str) -> (Config, PathBuf, Option<String>) {
    let name = unique(label);
    let dir = std::env::temp_dir().join(format!("invite-server-test-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut c = Config::default();
    c.data_dir = dir.clone();
    c.http.listen = "127.0.0.1:0".into();
    c.smtp.listen = "127.0.0.1:0".into();
    c.log.filter = "warn".into();
    // The demo season's 272 events are made only where a test asks.
    c.demo.season = false;
    let schema = match db {
        Db::Sqlite => None,
        Db::Postgres => {
            let s = format!("is_{}", name.to_ascii_lowercase());
            c.database.url = Some(postgres_url());
            c.database.schema = Some(s.clone());
            c.database.max_connections = 4;
            Some(s)
        }
    };
    (c, dir, schema)
}

impl TestServer {
    /// Starts a server on `db` with the configuration `tweak` makes.
    pub async fn start(db: Db, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let (mut c, dir, schema) = config(db, if db == Db::Sqlite { "s" } else { "p" });
        tweak(&mut c);
        Self::start_with(c, dir, schema).await
    }

    pub async fn start_with(c: Config, dir: PathBuf, schema: Option<String>) -> TestServer {
        let server = RunningServer::start(c).await.expect("the server starts");
        let demo = server.demo().expect("a demo tenant on first start").clone();
        TestServer {
            base: format!("http://{}", server.http_addr()),
            key: demo.key.expect("the demo key, on first start"),
            event: demo.event,
            server: Some(server),
            dir,
            schema,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }

    pub fn server(&self) -> &RunningServer {
        self.server.as_ref().unwrap()
    }

    /// Calls the API: `key` (or none), a JSON body (or none).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut r = self.client.request(method, format!("{}{path}", self.base));
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        Reply::from(r.send().await.expect("the server answers")).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, Some(&self.key.clone()), None)
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(&self.key.clone()), Some(body))
            .await
    }

    /// Stops the server (in order) and removes its folder and schema.
    pub async fn stop(mut self) -> invite_server::Stopped {
        let stopped = self.server.take().unwrap().shutdown().await;
        if let Some(s) = &self.schema {
            let store = calinvite_store::SqlStore::open_with(
                &postgres_url(),
                calinvite_store::SqlOptions::default().schema(s.clone()),
            )
            .await
            .unwrap();
            store.drop_schema(s).await.unwrap();
            store.close().await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        stopped
    }
}

/// An answer: status, headers, the body as text and, when JSON, parsed.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Reply {
    pub async fn from(r: reqwest::Response) -> Reply {
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            json,
        }
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        &self.json
    }

    /// Asserts a problem answer of `status` and returns it.
    #[track_caller]
    pub fn problem(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "{}",
            self.text
        );
        assert_eq!(self.json["status"], status, "{}", self.text);
        assert!(
            self.json["type"]
                .as_str()
                .unwrap()
                .starts_with("/problems/")
        );
        assert!(
            !self.json["detail"].as_str().unwrap_or("").is_empty(),
            "a problem says what was wrong: {}",
            self.text
        );
        &self.json
    }
}

/// Waits up to 60 s for `check` to give a value.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..600 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out after 60 s waiting for {what}");
}

/// The `.eml` files captured for `address`.
pub fn captured(dir: &std::path::Path, address: &str) -> Vec<Vec<u8>> {
    let folder = dir.join("outbox").join(address);
    let Ok(entries) = std::fs::read_dir(&folder) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}
