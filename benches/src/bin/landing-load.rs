//! `landing-load`: the invite server's demo landing page (`/p/demo-season`,
//! 272 events) and its submit under load.
//!
//! ```text
//! landing-load --server-bin PATH [--db sqlite|postgres] [--requests N]
//!              [--clients N] [--seconds S] [--warmup W] [--per-submit K]
//! ```
//!
//! It starts that `invite-server` binary on embedded defaults in a fresh
//! temporary folder (the demo tenant with its `demo-season` page; the
//! worker writes to the capture folder; the public pages' rate limits
//! raised out of the way, since every visitor comes from 127.0.0.1), then:
//!
//! 1. **page**: `--requests` (default 300) sequential `GET /p/demo-season`,
//!    alternately with `Accept-Encoding: br` and `gzip`: the server time
//!    (request sent to the last byte read) p50/p90/p99/max, and the bytes
//!    on the wire (compressed) and uncompressed. Images aside: the page's
//!    team logos are separate, cached requests.
//! 2. **submit**: `--clients` visitors (default 50), each a loop of
//!    reading the page (its form token and cookie) and submitting `K`
//!    (default 10, the default `max_events_per_submit`) events for a new
//!    address, for `W + S` seconds (default 1 + 10): invitations queued per
//!    second (the answer page's `data-sent`), submits per second, and the
//!    submit's latency.
//!
//! With `--forms-first F`, each visitor first reads the page `F` times
//! (untimed) and keeps its forms, then submits them one after another as
//! fast as the server answers: the submit endpoint on its own, without
//! the page reads each real visit also makes (`invitations_per_s` is then
//! over the time from the first submit to the last answer).
//!
//! One JSON line. Non-zero exit when a request failed or nothing was sent.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use calinvite_benches::campaign;
use calinvite_benches::measure::wall_start;
use serde::Serialize;

#[derive(Serialize, Default)]
struct Report {
    bench: &'static str,
    db: String,
    events_on_page: usize,
    page_requests: usize,
    page_p50_ms: f64,
    page_p90_ms: f64,
    page_p99_ms: f64,
    page_max_ms: f64,
    page_bytes: usize,
    page_br_bytes: usize,
    page_gzip_bytes: usize,
    clients: usize,
    per_submit: usize,
    /// `--forms-first`: forms read per visitor before the timed submits (0: off).
    forms_first: usize,
    seconds: f64,
    submits: u64,
    submits_per_s: f64,
    invitations_queued: u64,
    invitations_per_s: f64,
    submit_p50_ms: f64,
    submit_p99_ms: f64,
    other_statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
    queued_at_end: Option<f64>,
    loadavg_start: String,
    loadavg_end: String,
    cores: usize,
}

struct Args {
    server_bin: PathBuf,
    db: String,
    postgres_url: String,
    requests: usize,
    clients: usize,
    seconds: f64,
    warmup: f64,
    per_submit: usize,
    forms_first: usize,
}

fn parse_args() -> Result<Args, String> {
    let usage = "usage: landing-load --server-bin PATH [--db sqlite|postgres] [--requests N] \
                 [--clients N] [--seconds S] [--warmup W] [--per-submit K] \
                 [--forms-first F]";
    let mut a = Args {
        server_bin: PathBuf::new(),
        db: "sqlite".into(),
        postgres_url: campaign::postgres_url(),
        requests: 300,
        clients: 50,
        seconds: 10.0,
        warmup: 1.0,
        per_submit: 10,
        forms_first: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value\n{usage}"))
        };
        let num =
            |v: String| -> Result<f64, String> { v.parse().map_err(|e| format!("{v:?}: {e}")) };
        match flag.as_str() {
            "--server-bin" => a.server_bin = PathBuf::from(value()?),
            "--db" => a.db = value()?,
            "--postgres-url" => a.postgres_url = value()?,
            "--requests" => a.requests = num(value()?)? as usize,
            "--clients" => a.clients = num(value()?)? as usize,
            "--seconds" => a.seconds = num(value()?)?,
            "--warmup" => a.warmup = num(value()?)?,
            "--per-submit" => a.per_submit = num(value()?)? as usize,
            "--forms-first" => a.forms_first = num(value()?)? as usize,
            _ => return Err(format!("unknown argument {flag}\n{usage}")),
        }
    }
    if a.server_bin.as_os_str().is_empty() || !["sqlite", "postgres"].contains(&a.db.as_str()) {
        return Err(usage.to_owned());
    }
    if a.clients == 0 || a.requests == 0 || a.per_submit == 0 || a.seconds <= 0.0 {
        return Err("--clients, --requests, --per-submit and --seconds must be positive".into());
    }
    Ok(a)
}

struct Started {
    child: Child,
    dir: PathBuf,
    schema: Option<String>,
}

impl Started {
    fn stop(mut self, postgres_url: &str) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = wall_start();
        while matches!(self.child.try_wait(), Ok(None)) {
            if started.elapsed() > Duration::from_secs(90) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Some(schema) = &self.schema
            && let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        {
            rt.block_on(async {
                if let Ok(store) = calinvite_store::SqlStore::open_with(
                    postgres_url,
                    calinvite_store::SqlOptions::default().schema(schema.clone()),
                )
                .await
                {
                    let _ = store.drop_schema(schema).await;
                    store.close().await;
                }
            });
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts the server and reads its URL from the banner.
fn start(a: &Args) -> Result<(Started, String), String> {
    let dir = std::env::temp_dir().join(format!("landing-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut c = Command::new(&a.server_bin);
    for (k, _) in std::env::vars() {
        if k.starts_with("CALINVITE_") {
            c.env_remove(k);
        }
    }
    c.current_dir(&dir)
        .env("CALINVITE_HTTP_LISTEN", "127.0.0.1:0")
        .env("CALINVITE_SMTP_ENABLED", "false")
        .env("CALINVITE_LOG_FILTER", "warn")
        .env("CALINVITE_DEMO_SEASON", "true")
        .env("CALINVITE_WEB_PER_IP_PER_MINUTE", "100000000")
        .env("CALINVITE_WEB_PER_ADDRESS_PER_HOUR", "100000000")
        .env("CALINVITE_WEB_PER_ORGANIZER_PER_HOUR", "100000000")
        .env(
            "CALINVITE_WEB_MAX_EVENTS_PER_SUBMIT",
            a.per_submit.to_string(),
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let schema = (a.db == "postgres").then(|| format!("landing_load_{}", std::process::id()));
    if let Some(s) = &schema {
        c.env("CALINVITE_DATABASE_URL", &a.postgres_url)
            .env("CALINVITE_DATABASE_SCHEMA", s);
    }
    let mut child = c
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", a.server_bin.display()))?;
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
    let mut url = None;
    loop {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(120)) else {
            started.stop(&a.postgres_url);
            return Err("no banner from the server within 120 s".into());
        };
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("HTTP API") {
            url = rest.split_whitespace().next().map(str::to_owned);
        } else if t.starts_with("Ctrl-C") {
            break;
        }
    }
    match url {
        Some(u) => Ok((started, u)),
        None => {
            started.stop(&a.postgres_url);
            Err("the banner did not show the URL".into())
        }
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The values of `name="{field}" value="…"` in a page.
fn values<'a>(html: &'a str, field: &str) -> Vec<&'a str> {
    let key = format!("name=\"{field}\" value=\"");
    html.match_indices(&key)
        .filter_map(|(at, _)| html[at + key.len()..].split('"').next())
        .collect()
}

/// A form value, percent-encoded.
fn enc(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Default)]
struct Seen {
    submits: Vec<Duration>,
    sent: u64,
    other: BTreeMap<u16, u64>,
    errors: u64,
}

/// A visitor's form, as the page gave it: its token and the events on it.
struct Form {
    token: String,
    codes: Vec<String>,
}

/// Reads the page once (keeping `cookie` as the server sets it): its form.
async fn read_form(http: &reqwest::Client, page: &str, cookie: &mut String) -> Option<Form> {
    let mut get = http.get(page);
    if !cookie.is_empty() {
        get = get.header("cookie", cookie.as_str());
    }
    let r = get.send().await.ok()?;
    if let Some(c) = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()) {
        *cookie = c.split(';').next().unwrap_or_default().to_owned();
    }
    let html = r.text().await.ok()?;
    let token = values(&html, "csrf").first().map(|t| (*t).to_owned())?;
    let codes = values(&html, "event")
        .into_iter()
        .map(str::to_owned)
        .collect();
    Some(Form { token, codes })
}

/// Submits visitor `n`'s `i`-th form: `k` events for a new address. The
/// status and body of the answer, and how long it took.
async fn submit(
    http: &reqwest::Client,
    page: &str,
    cookie: &str,
    form: &Form,
    (n, i, k): (usize, u64, usize),
) -> (Option<(u16, String)>, Duration) {
    // Each visitor ticks a different run of K games.
    let codes = &form.codes;
    let from = (n * 7 + i as usize * k) % codes.len().max(1);
    let mut body = format!(
        "email={}&csrf={}&website=",
        enc(&format!("v{n}.{i}.{}@load.example.net", std::process::id())),
        enc(&form.token)
    );
    for c in codes.iter().cycle().skip(from).take(k.min(codes.len())) {
        body.push_str("&event=");
        body.push_str(&enc(c));
    }
    let t = wall_start();
    let answer = http
        .post(page)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", cookie)
        .body(body)
        .send()
        .await;
    let result = match answer {
        Ok(r) => {
            let status = r.status().as_u16();
            r.text().await.ok().map(|b| (status, b))
        }
        Err(_) => None,
    };
    (result, t.elapsed())
}

impl Seen {
    /// Counts one submit's answer.
    fn count(&mut self, result: Option<(u16, String)>, took: Duration) {
        match result {
            Some((200, body)) => {
                self.submits.push(took);
                let sent = body
                    .split("data-sent=\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
                self.sent += sent;
            }
            Some((s, _)) => *self.other.entry(s).or_default() += 1,
            None => self.errors += 1,
        }
    }
}

async fn visitor(
    http: reqwest::Client,
    page: Arc<String>,
    n: usize,
    k: usize,
    started: std::time::Instant,
    warmup: Duration,
    end: Duration,
) -> Seen {
    let mut seen = Seen::default();
    let mut cookie = String::new();
    for i in 0u64.. {
        let begun = started.elapsed();
        if begun >= end {
            break;
        }
        let Some(form) = read_form(&http, &page, &mut cookie).await else {
            seen.errors += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let (result, took) = submit(&http, &page, &cookie, &form, (n, i, k)).await;
        if begun >= warmup {
            seen.count(result, took);
        }
    }
    seen
}

/// `--forms-first`: visitor `n` reads `forms` forms, then waits for
/// `go` and submits them all, one after another.
async fn visitor_forms_first(
    http: reqwest::Client,
    page: Arc<String>,
    (n, k, forms): (usize, usize, usize),
    ready: Arc<tokio::sync::Barrier>,
) -> Seen {
    let mut seen = Seen::default();
    let mut cookie = String::new();
    let mut kept = Vec::with_capacity(forms);
    for _ in 0..forms {
        match read_form(&http, &page, &mut cookie).await {
            Some(f) => kept.push(f),
            None => seen.errors += 1,
        }
    }
    ready.wait().await;
    for (i, form) in kept.iter().enumerate() {
        let (result, took) = submit(&http, &page, &cookie, form, (n, i as u64, k)).await;
        seen.count(result, took);
    }
    seen
}

fn run(a: &Args) -> Result<Report, String> {
    let mut report = Report {
        bench: "landing-load",
        db: a.db.clone(),
        clients: a.clients,
        per_submit: a.per_submit,
        forms_first: a.forms_first,
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg_start: loadavg(),
        ..Report::default()
    };
    let (server, base) = start(a)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(a.clients)
        .build()
        .map_err(|e| e.to_string())?;
    let page = Arc::new(format!("{base}/p/demo-season"));
    let result = rt.block_on(async {
        // 1. The page, one request at a time.
        let plain = http
            .get(page.as_str())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let html = plain.text().await.map_err(|e| e.to_string())?;
        report.page_bytes = html.len();
        report.events_on_page = values(&html, "event").len();
        let mut times = Vec::with_capacity(a.requests);
        for i in 0..a.requests + 10 {
            let enc = if i % 2 == 0 { "br" } else { "gzip" };
            let t = wall_start();
            let r = http
                .get(page.as_str())
                .header("accept-encoding", enc)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if r.status() != 200 {
                return Err(format!("the page answered {}", r.status()));
            }
            let got = r
                .headers()
                .get("content-encoding")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let n = r.bytes().await.map_err(|e| e.to_string())?.len();
            if i < 10 {
                continue; // warm-up
            }
            times.push(t.elapsed());
            if got.as_deref() != Some(enc) {
                return Err(format!("asked for {enc}, the page came as {got:?}"));
            }
            if enc == "br" {
                report.page_br_bytes = n
            } else {
                report.page_gzip_bytes = n
            }
        }
        times.sort_unstable();
        report.page_requests = times.len();
        report.page_p50_ms = ms(pct(&times, 0.5));
        report.page_p90_ms = ms(pct(&times, 0.9));
        report.page_p99_ms = ms(pct(&times, 0.99));
        report.page_max_ms = ms(times.last().copied().unwrap_or_default());

        // 2. Visitors submitting.
        let mut tasks = tokio::task::JoinSet::new();
        let mut seen = Vec::new();
        let measured = if a.forms_first > 0 {
            // Every visitor reads its forms; the clock starts when all have.
            let ready = Arc::new(tokio::sync::Barrier::new(a.clients + 1));
            for n in 0..a.clients {
                tasks.spawn(visitor_forms_first(
                    http.clone(),
                    page.clone(),
                    (n, a.per_submit, a.forms_first),
                    ready.clone(),
                ));
            }
            ready.wait().await;
            let started = wall_start();
            while let Some(s) = tasks.join_next().await {
                seen.push(s.map_err(|e| e.to_string())?);
            }
            started.elapsed()
        } else {
            let warmup = Duration::from_secs_f64(a.warmup);
            let end = warmup + Duration::from_secs_f64(a.seconds);
            let started = wall_start();
            for n in 0..a.clients {
                tasks.spawn(visitor(
                    http.clone(),
                    page.clone(),
                    n,
                    a.per_submit,
                    started,
                    warmup,
                    end,
                ));
            }
            while let Some(s) = tasks.join_next().await {
                seen.push(s.map_err(|e| e.to_string())?);
            }
            started.elapsed().saturating_sub(warmup)
        };
        let metrics = match http.get(format!("{base}/metrics")).send().await {
            Ok(r) => r.text().await.ok(),
            Err(_) => None,
        };
        Ok::<_, String>((seen, measured, metrics))
    });
    server.stop(&a.postgres_url);
    let (seen, measured, metrics) = result?;
    let mut submits = Vec::new();
    for s in seen {
        submits.extend(s.submits);
        report.invitations_queued += s.sent;
        report.transport_errors += s.errors;
        for (k, v) in s.other {
            *report.other_statuses.entry(k).or_default() += v;
        }
    }
    submits.sort_unstable();
    let secs = measured.as_secs_f64();
    report.seconds = (secs * 1000.0).round() / 1000.0;
    report.submits = submits.len() as u64;
    report.submits_per_s = (report.submits as f64 / secs * 10.0).round() / 10.0;
    report.invitations_per_s = (report.invitations_queued as f64 / secs).round();
    report.submit_p50_ms = ms(pct(&submits, 0.5));
    report.submit_p99_ms = ms(pct(&submits, 0.99));
    report.queued_at_end = metrics.as_deref().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("calinvite_queue_messages{state=\"queued\"} "))
            .and_then(|v| v.trim().parse().ok())
    });
    report.loadavg_end = loadavg();
    Ok(report)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("landing-load: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(r) => {
            #[allow(clippy::print_stdout, reason = "the JSON line is the result")]
            {
                println!("{}", serde_json::to_string(&r).unwrap_or_default());
            }
            if r.invitations_queued == 0
                || r.transport_errors > 0
                || r.other_statuses.keys().any(|s| *s >= 500)
            {
                eprintln!("landing-load: the run failed");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("landing-load: {e}");
            ExitCode::FAILURE
        }
    }
}
