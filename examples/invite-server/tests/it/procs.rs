//! `invite-server` processes as an operator runs them (configured by
//! `CALINVITE_…` variables, stopped with SIGTERM or killed with SIGKILL),
//! and Postfix's `smtp-sink` as the relay they send to, writing every
//! message it accepts to a file of its own before it answers `250`: what
//! reached it can be counted, copies included.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_invite-server");

/// A free port on loopback (free when asked).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary with no `CALINVITE_…` variable of this process, `env` set,
/// and its working folder `dir`.
pub fn command(dir: &Path, env: &[(String, String)]) -> Command {
    let mut c = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("CALINVITE_") {
            c.env_remove(k);
        }
    }
    c.current_dir(dir).env("RUST_LOG", "warn");
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// Runs an administration command (`add-owner` …) and returns its output.
pub fn admin(dir: &Path, env: &[(String, String)], args: &[&str]) -> String {
    let out = command(dir, env).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "invite-server {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The `cik_…` key an administration command printed.
pub fn printed_key(output: &str) -> String {
    output
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("cik_"))
        .unwrap_or_else(|| panic!("no key in {output}"))
        .to_owned()
}

/// A running `invite-server serve`.
pub struct ServerProcess {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    /// Its stderr (the logs), kept for a failure's message.
    pub log: PathBuf,
}

impl ServerProcess {
    /// Starts it and waits for its banner (up to the line about stopping).
    pub fn start(dir: &Path, env: &[(String, String)], log: PathBuf) -> ServerProcess {
        let mut child = command(dir, env)
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut p = ServerProcess {
            child: Some(child),
            lines,
            log,
        };
        loop {
            match p.lines.recv_timeout(Duration::from_secs(60)) {
                Ok(line) if line.starts_with("Ctrl-C") => return p,
                Ok(_) => {}
                Err(_) => {
                    let logs = p.logs();
                    p.kill();
                    panic!("no banner from invite-server within 60 s; its log:\n{logs}");
                }
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether it still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.as_mut().unwrap().try_wait(), Ok(None))
    }

    /// SIGKILL: it stops wherever it is.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits (at most `within`) for it to exit; its exit
    /// status must be success. Returns what it printed after the banner and
    /// how long it took to stop.
    pub fn terminate(mut self, within: Duration) -> (Vec<String>, Duration) {
        let mut child = self.child.take().unwrap();
        let term = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(term.success());
        #[allow(clippy::disallowed_methods)]
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "exit after SIGTERM: {status}; its log:\n{}",
                    self.logs()
                );
                break;
            }
            if started.elapsed() > within {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "still running {} s after SIGTERM; its log:\n{}",
                    within.as_secs(),
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let took = started.elapsed();
        // The reader thread ends with the process's stdout.
        let mut after = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            after.push(line);
        }
        (after, took)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The value of an unlabelled Prometheus sample, or of the sample with
/// `labels`, in a `/metrics` text.
pub fn metric(text: &str, name: &str, labels: &str) -> Option<f64> {
    let want = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}}} ")
    };
    text.lines()
        .find_map(|l| l.strip_prefix(want.as_str()))
        .and_then(|v| v.trim().parse().ok())
}

// ---------------------------------------------------------------- smtp-sink

fn smtp_sink() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join("smtp-sink"))
        .find(|p| p.is_file())
        .expect(
            "Postfix's smtp-sink is not installed: scripts/postfix.sh (run as root) installs Postfix",
        )
}

/// `smtp-sink -d`: every message it accepts is written to a file of its own
/// in `dump` before it answers `250`. Killed when dropped.
pub struct Sink {
    child: Child,
    pub port: u16,
    pub dump: PathBuf,
    log: PathBuf,
}

impl Sink {
    pub fn start(dir: &Path) -> Sink {
        let dump = dir.join("sink");
        std::fs::create_dir_all(&dump).unwrap();
        // smtp-sink runs as the postfix user when started by root: it must
        // be able to write there.
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&dump, std::fs::Permissions::from_mode(0o777)).unwrap();
        let log = dir.join("smtp-sink.log");
        for _ in 0..5 {
            let port = free_port();
            let mut c = Command::new(smtp_sink());
            if std::fs::read_to_string("/proc/self/status")
                .unwrap_or_default()
                .lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
            {
                c.args(["-u", "postfix"]);
            }
            let child = c
                .arg("-d")
                .arg(dump.join("m."))
                .args(["-m", "256", &format!("127.0.0.1:{port}"), "256"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap();
            let mut sink = Sink {
                child,
                port,
                dump: dump.clone(),
                log: log.clone(),
            };
            if sink.greets() {
                return sink;
            }
        }
        panic!(
            "smtp-sink would not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    fn greets(&mut self) -> bool {
        for _ in 0..100 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return false;
            }
            if let Ok(s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut greeting = String::new();
                let _ = BufReader::new(&s).read_line(&mut greeting);
                let _ = (&s).write_all(b"QUIT\r\n");
                return greeting.starts_with("220");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Messages written so far.
    pub fn count(&self) -> usize {
        std::fs::read_dir(&self.dump).map_or(0, |d| d.count())
    }

    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// What it received: messages by envelope recipient and by Message-ID.
    pub fn received(&self) -> Received {
        let mut r = Received::default();
        for entry in std::fs::read_dir(&self.dump).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            r.files += 1;
            let text = String::from_utf8_lossy(&bytes).replace("\r\n", "\n");
            // The sink's lines and the message's header: up to the first
            // empty line.
            let head = text.split("\n\n").next().unwrap_or("");
            let mut rcpt = None;
            let mut id = None;
            let lines: Vec<&str> = head.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                if let Some(v) = line.strip_prefix("X-Rcpt-Args:") {
                    let v = v.split_whitespace().next().unwrap_or("");
                    rcpt = Some(v.trim_matches(['<', '>']).to_owned());
                } else if id.is_none()
                    && line.len() > 11
                    && line[..11].eq_ignore_ascii_case("message-id:")
                {
                    let mut v = line[11..].trim().to_owned();
                    if v.is_empty() {
                        v = lines.get(i + 1).map_or("", |l| l.trim()).to_owned();
                    }
                    id = Some(v);
                }
            }
            match (rcpt, id) {
                (Some(rcpt), Some(id)) => {
                    *r.by_recipient.entry(rcpt.clone()).or_default() += 1;
                    let owners = r.by_message_id.entry(id).or_default();
                    if !owners.contains(&rcpt) {
                        owners.push(rcpt);
                    }
                }
                _ => r.unreadable += 1,
            }
        }
        r
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a sink received.
#[derive(Debug, Default)]
pub struct Received {
    pub files: usize,
    /// Messages per envelope recipient.
    pub by_recipient: HashMap<String, usize>,
    /// The recipients of each Message-ID (one expected).
    pub by_message_id: HashMap<String, Vec<String>>,
    /// Files without a recipient or a Message-ID.
    pub unreadable: usize,
}

impl Received {
    /// Messages beyond the first per recipient.
    pub fn copies(&self) -> usize {
        self.by_recipient.values().map(|n| n - 1).sum()
    }
}

// ----------------------------------------------------------------- webhooks

/// One webhook post received.
#[derive(Clone, Debug)]
pub struct Post {
    /// `webhook-id`: the same on every attempt of one message.
    pub id: String,
    /// The payload's `type`.
    pub kind: String,
    /// The payload's `data.address`, if any.
    pub address: Option<String>,
}

/// An application's webhook endpoint on a loopback port: answers `204` to
/// every post and keeps what it got.
pub struct HookSink {
    pub url: String,
    posts: std::sync::Arc<std::sync::Mutex<Vec<Post>>>,
    task: tokio::task::JoinHandle<()>,
}

impl HookSink {
    pub async fn start() -> HookSink {
        use axum::http::{HeaderMap, StatusCode};
        let posts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = posts.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let kept = kept.clone();
                async move {
                    let json: serde_json::Value =
                        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                    let id = headers
                        .get("webhook-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    kept.lock().unwrap().push(Post {
                        id,
                        kind: json["type"].as_str().unwrap_or("").to_owned(),
                        address: json["data"]["address"].as_str().map(str::to_owned),
                    });
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        HookSink { url, posts, task }
    }

    pub fn posts(&self) -> Vec<Post> {
        self.posts.lock().unwrap().clone()
    }
}

impl Drop for HookSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}
