//! `invite-load`: the invite server's send-invitation endpoint under load.
//!
//! ```text
//! invite-load --server-bin PATH [--db sqlite|postgres] [--relay-port PORT] [--no-worker]
//!             [--server-env CALINVITE_NAME=VALUE]… [--postgres-url URL]
//!             [--clients N] [--seconds S] [--warmup W]
//! invite-load --url URL --key KEY --event CODE [--clients N] [--seconds S] [--warmup W]
//! ```
//!
//! `N` clients (default 50), each a loop of `POST
//! /v1/events/{code}/invitations` with a new address every time, over HTTP/1.1
//! keep-alive connections, for `W + S` seconds (default 1 + 10). Requests that
//! start in the first `W` seconds warm the server up and are not counted.
//! Prints one JSON line: invitations accepted (`201`) per second, latency
//! percentiles (p50, p90, p99, max, in milliseconds, from sending the request
//! to reading the whole answer), every other answer by status, transport
//! errors, the CPU seconds of this client and of the server, and the server's
//! queue at the end (`/metrics`: whether the worker kept up).
//!
//! With `--server-bin` it starts that `invite-server` binary itself, on
//! embedded defaults in a fresh temporary folder (the demo tenant's key and
//! event, read from its banner; no SMTP listener): SQLite in that folder, or
//! a fresh schema on PostgreSQL (`--postgres-url`, else
//! `$CALINVITE_POSTGRES_URL`, else `postgres://postgres@127.0.0.1:5432/test`),
//! dropped at the end. Its worker delivers to an SMTP relay on
//! `127.0.0.1:PORT` (`--relay-port`: `benches/run-invite-load.sh` starts
//! Postfix's `smtp-sink` there) or, without one, into the capture folder;
//! `--no-worker` runs the API alone; `--server-env` sets any other setting
//! (`CALINVITE_DATABASE_MAX_CONNECTIONS=32`). SIGTERM stops it at the end. With
//! `--url` it drives a server that is already running.
//!
//! It exits non-zero when no invitation was accepted, or when any request
//! failed (a transport error or a 5xx): a figure from a failing run is not
//! one.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use calinvite_benches::campaign;
use calinvite_benches::measure::{rusage, wall_start};
use serde::Serialize;

/// The JSON line.
#[derive(Serialize, Default)]
struct Report {
    bench: &'static str,
    /// `sqlite`, `postgres`, or `external` (`--url`).
    db: String,
    /// Whether the server's worker ran (always true for `--url`, as far as
    /// this client knows).
    worker: bool,
    /// `smtp-relay`, `capture` or `external`.
    outbound: String,
    /// Settings given with `--server-env`.
    server_env: BTreeMap<String, String>,
    clients: usize,
    warmup_seconds: f64,
    seconds: f64,
    /// Invitations answered `201` in the measured span.
    accepted: u64,
    accepted_per_s: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    mean_ms: f64,
    /// Other answers in the measured span, by status.
    other_statuses: BTreeMap<u16, u64>,
    /// Requests without an answer (connection refused or reset, timeout).
    transport_errors: u64,
    /// Requests in the warm-up, not counted above.
    warmup_requests: u64,
    client_cpu_seconds: f64,
    /// The started server's CPU seconds over the measured span (`/proc`).
    server_cpu_seconds: Option<f64>,
    /// `calinvite_queue_messages` at the end.
    queued_at_end: Option<f64>,
    sent_at_end: Option<f64>,
    loadavg_start: String,
    loadavg_end: String,
    cores: usize,
}

struct Args {
    server_bin: Option<PathBuf>,
    db: String,
    relay_port: Option<u16>,
    worker: bool,
    server_env: Vec<(String, String)>,
    postgres_url: String,
    url: Option<String>,
    key: Option<String>,
    event: Option<String>,
    clients: usize,
    seconds: f64,
    warmup: f64,
}

fn usage() -> String {
    "usage: invite-load --server-bin PATH [--db sqlite|postgres] [--relay-port PORT] [--no-worker]\n       \
     [--server-env CALINVITE_NAME=VALUE]... [--postgres-url URL] [--clients N] [--seconds S] [--warmup W]\n   \
     or: invite-load --url URL --key KEY --event CODE [--clients N] [--seconds S] [--warmup W]"
        .to_owned()
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        server_bin: None,
        db: "sqlite".into(),
        relay_port: None,
        worker: true,
        server_env: Vec::new(),
        postgres_url: campaign::postgres_url(),
        url: None,
        key: std::env::var("CALINVITE_LOAD_KEY").ok(),
        event: None,
        clients: 50,
        seconds: 10.0,
        warmup: 1.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value\n{}", usage()))
        };
        let number = |v: String| -> Result<f64, String> {
            v.parse().map_err(|e| format!("{flag} {v:?}: {e}"))
        };
        match flag.as_str() {
            "--server-bin" => a.server_bin = Some(PathBuf::from(value()?)),
            "--db" => a.db = value()?,
            "--relay-port" => {
                let v = value()?;
                a.relay_port = Some(v.parse().map_err(|e| format!("--relay-port {v:?}: {e}"))?);
            }
            "--no-worker" => a.worker = false,
            "--server-env" => {
                let v = value()?;
                match v.split_once('=') {
                    Some((k, val)) if k.starts_with("CALINVITE_") => {
                        a.server_env.push((k.to_owned(), val.to_owned()));
                    }
                    _ => return Err(format!("--server-env {v:?}: not CALINVITE_NAME=VALUE")),
                }
            }
            "--postgres-url" => a.postgres_url = value()?,
            "--url" => a.url = Some(value()?.trim_end_matches('/').to_owned()),
            "--key" => a.key = Some(value()?),
            "--event" => a.event = Some(value()?),
            "--clients" => a.clients = number(value()?)? as usize,
            "--seconds" => a.seconds = number(value()?)?,
            "--warmup" => a.warmup = number(value()?)?,
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    if !["sqlite", "postgres"].contains(&a.db.as_str()) {
        return Err(format!("--db must be sqlite or postgres, not {}", a.db));
    }
    if a.clients == 0 || a.seconds <= 0.0 || a.warmup < 0.0 {
        return Err("--clients and --seconds must be positive".into());
    }
    match (&a.server_bin, &a.url) {
        (Some(_), None) => {}
        (None, Some(_)) if a.key.is_some() && a.event.is_some() => {}
        (None, Some(_)) => {
            return Err("--url needs --key (or $CALINVITE_LOAD_KEY) and --event".into());
        }
        _ => return Err(format!("give --server-bin or --url\n{}", usage())),
    }
    Ok(a)
}

/// A server this process started.
struct Started {
    child: Child,
    dir: PathBuf,
    schema: Option<String>,
}

impl Started {
    /// The server's CPU seconds so far (`utime + stime` of `/proc/PID/stat`,
    /// in the kernel's fixed 100 ticks a second).
    fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // The fields after the command name, which is in parentheses.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        Some(ticks / 100.0)
    }

    fn stop(mut self, postgres_url: &str) -> Result<(), String> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = wall_start();
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if started.elapsed() > Duration::from_secs(90) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        if let Some(schema) = &self.schema {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let store = calinvite_store::SqlStore::open_with(
                    postgres_url,
                    calinvite_store::SqlOptions::default().schema(schema.clone()),
                )
                .await
                .map_err(|e| e.to_string())?;
                let dropped = store.drop_schema(schema).await.map_err(|e| e.to_string());
                store.close().await;
                dropped
            })?;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        Ok(())
    }
}

/// Starts the binary and reads the demo tenant's URL, key and event from
/// its banner.
fn start_server(a: &Args, bin: &PathBuf) -> Result<(Started, String, String, String), String> {
    let dir = std::env::temp_dir().join(format!("invite-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut c = Command::new(bin);
    for (k, _) in std::env::vars() {
        if k.starts_with("CALINVITE_") {
            c.env_remove(k);
        }
    }
    c.current_dir(&dir)
        .env("CALINVITE_HTTP_LISTEN", "127.0.0.1:0")
        .env("CALINVITE_SMTP_ENABLED", "false")
        .env("CALINVITE_WORKER_ENABLED", a.worker.to_string())
        .env("CALINVITE_LOG_FILTER", "warn")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(port) = a.relay_port {
        c.env("CALINVITE_OUTBOUND_KIND", "smtp")
            .env("CALINVITE_OUTBOUND_SMTP_HOST", "127.0.0.1")
            .env("CALINVITE_OUTBOUND_SMTP_PORT", port.to_string());
    }
    let schema = (a.db == "postgres").then(|| format!("invite_load_{}", std::process::id()));
    if let Some(s) = &schema {
        c.env("CALINVITE_DATABASE_URL", &a.postgres_url)
            .env("CALINVITE_DATABASE_SCHEMA", s);
    }
    for (k, v) in &a.server_env {
        c.env(k, v);
    }
    let mut child = c
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let started = Started { child, dir, schema };
    let (mut url, mut key, mut event) = (None, None, None);
    loop {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = started.stop(&a.postgres_url);
            return Err("no banner from the server within 60 s (its errors are above)".into());
        };
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("HTTP API") {
            url = rest.split_whitespace().next().map(str::to_owned);
        } else if t.starts_with("cik_") {
            key = Some(t.to_owned());
        } else if let Some(i) = t.find("demo event ") {
            event = Some(t[i + 11..].trim_end_matches('.').to_owned());
        } else if t.starts_with("Ctrl-C") {
            break;
        }
    }
    match (url, key, event) {
        (Some(u), Some(k), Some(e)) => Ok((started, u, k, e)),
        _ => {
            let _ = started.stop(&a.postgres_url);
            Err("the banner did not show the URL, the demo key and the demo event: is the folder fresh?".into())
        }
    }
}

/// What one client saw: the latency of each answered request with the
/// moment it started, and the rest.
#[derive(Default)]
struct Seen {
    accepted: Vec<Duration>,
    other: BTreeMap<u16, u64>,
    transport_errors: u64,
    warmup: u64,
}

async fn client(
    http: reqwest::Client,
    url: Arc<String>,
    key: Arc<String>,
    n: usize,
    started: std::time::Instant,
    warmup: Duration,
    end: Duration,
) -> Seen {
    let mut seen = Seen::default();
    let run = std::process::id();
    for i in 0u64.. {
        let begun = started.elapsed();
        if begun >= end {
            break;
        }
        let body = format!("{{\"address\":\"c{n}.n{i}.r{run}@load.example.net\"}}");
        let t = wall_start();
        let answer = http
            .post(url.as_str())
            .bearer_auth(key.as_str())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        let status = match answer {
            Ok(r) => {
                let status = r.status().as_u16();
                match r.bytes().await {
                    Ok(_) => Some(status),
                    Err(_) => None,
                }
            }
            Err(_) => None,
        };
        let took = t.elapsed();
        if begun < warmup {
            seen.warmup += 1;
            continue;
        }
        match status {
            Some(201) => seen.accepted.push(took),
            Some(s) => *seen.other.entry(s).or_default() += 1,
            None => {
                seen.transport_errors += 1;
                // A server that went away: do not spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    seen
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn metric(text: &str, state: &str) -> Option<f64> {
    let want = format!("calinvite_queue_messages{{state=\"{state}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(want.as_str()))
        .and_then(|v| v.trim().parse().ok())
}

fn run(a: Args) -> Result<Report, String> {
    let mut report = Report {
        bench: "invite-load",
        clients: a.clients,
        warmup_seconds: a.warmup,
        seconds: a.seconds,
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg_start: loadavg(),
        ..Report::default()
    };
    let (server, base, key, event) = match &a.server_bin {
        Some(bin) => {
            let (s, u, k, e) = start_server(&a, bin)?;
            report.db = a.db.clone();
            report.worker = a.worker;
            report.server_env = a.server_env.iter().cloned().collect();
            report.outbound = if a.relay_port.is_some() {
                "smtp-relay"
            } else {
                "capture"
            }
            .into();
            (Some(s), u, k, e)
        }
        None => {
            report.db = "external".into();
            report.worker = true;
            report.outbound = "external".into();
            (
                None,
                a.url.clone().unwrap_or_default(),
                a.key.clone().unwrap_or_default(),
                a.event.clone().unwrap_or_default(),
            )
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(a.clients)
        .build()
        .map_err(|e| e.to_string())?;
    let url = Arc::new(format!("{base}/v1/events/{event}/invitations"));
    let key = Arc::new(key);
    let warmup = Duration::from_secs_f64(a.warmup);
    let end = warmup + Duration::from_secs_f64(a.seconds);

    let result = runtime.block_on(async {
        let (cpu0, _) = rusage();
        let started = wall_start();
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..a.clients {
            tasks.spawn(client(
                http.clone(),
                url.clone(),
                key.clone(),
                n,
                started,
                warmup,
                end,
            ));
        }
        // The server's CPU over the measured span.
        tokio::time::sleep(warmup).await;
        let server_cpu0 = server.as_ref().and_then(Started::cpu_seconds);
        let mut seen = Vec::new();
        while let Some(s) = tasks.join_next().await {
            seen.push(s.map_err(|e| e.to_string())?);
        }
        // The last requests may end a little after `end`.
        let measured = started.elapsed().saturating_sub(warmup);
        let server_cpu = server
            .as_ref()
            .and_then(Started::cpu_seconds)
            .zip(server_cpu0)
            .map(|(b, a)| b - a);
        let (cpu1, _) = rusage();
        let metrics = http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .ok()
            .map(|r| r.text());
        let metrics = match metrics {
            Some(f) => f.await.ok(),
            None => None,
        };
        Ok::<_, String>((
            seen,
            measured,
            server_cpu,
            (cpu1 - cpu0).as_secs_f64(),
            metrics,
        ))
    });
    let stopped = server.map(|s| s.stop(&a.postgres_url));
    let (seen, measured, server_cpu, client_cpu, metrics) = result?;
    if let Some(Err(e)) = stopped {
        eprintln!("invite-load: stopping the server: {e}");
    }

    let mut latencies: Vec<Duration> = Vec::new();
    for s in seen {
        latencies.extend(s.accepted);
        for (k, v) in s.other {
            *report.other_statuses.entry(k).or_default() += v;
        }
        report.transport_errors += s.transport_errors;
        report.warmup_requests += s.warmup;
    }
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    report.seconds = (measured.as_secs_f64() * 1000.0).round() / 1000.0;
    report.accepted = latencies.len() as u64;
    report.accepted_per_s = (report.accepted as f64 / measured.as_secs_f64()).round();
    report.p50_ms = ms(pct(0.50));
    report.p90_ms = ms(pct(0.90));
    report.p99_ms = ms(pct(0.99));
    report.max_ms = ms(latencies.last().copied().unwrap_or_default());
    report.mean_ms = if latencies.is_empty() {
        0.0
    } else {
        ms(latencies.iter().sum::<Duration>() / latencies.len() as u32)
    };
    report.client_cpu_seconds = (client_cpu * 100.0).round() / 100.0;
    report.server_cpu_seconds = server_cpu.map(|c| (c * 100.0).round() / 100.0);
    report.queued_at_end = metrics.as_deref().and_then(|m| metric(m, "queued"));
    report.sent_at_end = metrics.as_deref().and_then(|m| metric(m, "sent"));
    report.loadavg_end = loadavg();
    Ok(report)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("invite-load: {e}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(r) => {
            let line = serde_json::to_string(&r).unwrap_or_default();
            #[allow(clippy::print_stdout, reason = "the JSON line is the result")]
            {
                println!("{line}");
            }
            let server_errors: u64 = r
                .other_statuses
                .iter()
                .filter(|(s, _)| **s >= 500)
                .map(|(_, n)| n)
                .sum();
            if r.accepted == 0 || r.transport_errors > 0 || server_errors > 0 {
                eprintln!(
                    "invite-load: the run failed: {} accepted, {} transport errors, {server_errors} answers 5xx",
                    r.accepted, r.transport_errors
                );
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("invite-load: {e}");
            ExitCode::FAILURE
        }
    }
}
