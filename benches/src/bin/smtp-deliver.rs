//! `smtp-deliver [--corpus PREFIX] [--port P] [--conns K] [--no-chunking]`:
//! the peers' SMTP delivery workload (`shared/peers/workload.md` §3) through
//! [`SmtpRelay`].
//!
//! Reads the same 20,000 prebuilt invitations the peers send
//! (`PREFIX.mbx`, `.len`, `.rcpt`; default the peers' `corpus/invites`) into
//! memory, then times the whole delivery, connect to `QUIT`: `K` concurrent
//! senders share one `SmtpRelay` of `K` pooled connections, each message
//! through `Transport::send_raw` with the envelope `events@example.com` →
//! its recipient, and every message must be accepted. Prints one JSON line
//! with the peers' keys.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use calinvite_benches::measure::{rusage, vm_hwm_kb, wall_start};
use calinvite_core::lifecycle::Transport;
use calinvite_core::{EmailAddress, Envelope};
use calinvite_smtp::relay::{RelayConfig, SmtpRelay};
use serde::Serialize;

#[derive(Serialize)]
struct Result {
    peer: &'static str,
    phase: &'static str,
    n: usize,
    conns: usize,
    seconds: f64,
    cpu_seconds: f64,
    msgs_per_s: f64,
    maxrss_kb: i64,
    vm_hwm_kb: Option<u64>,
    bytes: usize,
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn run() -> std::result::Result<Result, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let prefix = arg(&args, "--corpus").map_or_else(
        || calinvite_benches::workspace_root().join("../shared/peers/corpus/invites"),
        PathBuf::from,
    );
    let port: u16 = arg(&args, "--port")
        .unwrap_or_else(|| "2525".into())
        .parse()
        .map_err(|_| "--port takes a number")?;
    let conns: usize = arg(&args, "--conns")
        .unwrap_or_else(|| "1".into())
        .parse()
        .map_err(|_| "--conns takes a number")?;
    let chunking = !args.iter().any(|a| a == "--no-chunking");
    let read = |ext: &str| {
        let path = PathBuf::from(format!("{}.{ext}", prefix.display()));
        std::fs::read(&path)
            .map_err(|e| format!("{}: {e} (run the peers' setup.sh first)", path.display()))
    };
    let mbx = read("mbx")?;
    let lens: Vec<usize> = String::from_utf8_lossy(&read("len")?)
        .lines()
        .map(|l| l.trim().parse().map_err(|_| format!("bad length {l:?}")))
        .collect::<std::result::Result<_, _>>()?;
    let rcpts: Vec<String> = String::from_utf8_lossy(&read("rcpt")?)
        .lines()
        .map(|l| l.trim().to_string())
        .collect();
    if lens.len() != rcpts.len() || lens.iter().sum::<usize>() != mbx.len() {
        return Err("the corpus files do not agree (lengths, recipients, bytes)".into());
    }
    let from = EmailAddress::parse("events@example.com").map_err(|e| e.to_string())?;
    let mut messages = Vec::with_capacity(lens.len());
    let mut at = 0;
    for (len, rcpt) in lens.iter().zip(&rcpts) {
        let to = EmailAddress::parse(rcpt).map_err(|e| format!("{rcpt}: {e}"))?;
        messages.push((Envelope::new(from.clone(), to), mbx[at..at + len].to_vec()));
        at += len;
    }
    let messages = Arc::new(messages);
    let relay = Arc::new(
        SmtpRelay::new(
            RelayConfig::plaintext("127.0.0.1", port)
                .helo_name("bench.example")
                .max_connections(conns)
                .extensions(true, chunking),
        )
        .map_err(|e| e.to_string())?,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (cpu0, _) = rusage();
    let t0 = wall_start();
    let next = Arc::new(AtomicUsize::new(0));
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..conns {
            let (relay, messages, next) = (relay.clone(), messages.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((envelope, bytes)) = messages.get(i) else {
                        return Ok::<(), String>(());
                    };
                    relay
                        .send_raw(envelope, bytes)
                        .await
                        .map_err(|e| format!("message {i}: {e}"))?;
                }
            }));
        }
        for t in tasks {
            t.await.map_err(|e| e.to_string())??;
        }
        relay.close().await;
        Ok::<(), String>(())
    })?;
    let seconds = t0.elapsed().as_secs_f64();
    let (cpu1, maxrss_kb) = rusage();
    Ok(Result {
        peer: "calinvite",
        phase: "smtp",
        n: messages.len(),
        conns,
        seconds,
        cpu_seconds: (cpu1 - cpu0).as_secs_f64(),
        msgs_per_s: messages.len() as f64 / seconds,
        maxrss_kb,
        vm_hwm_kb: vm_hwm_kb(),
        bytes: mbx.len(),
    })
}

fn main() -> ExitCode {
    match run() {
        Ok(r) => match serde_json::to_string(&r) {
            Ok(line) => {
                #[allow(clippy::print_stdout, reason = "the one JSON result line")]
                {
                    println!("{line}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("smtp-deliver: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("smtp-deliver: {e}");
            ExitCode::FAILURE
        }
    }
}
