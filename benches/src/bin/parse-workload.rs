//! `parse-workload parse [CORPUS_DIR]`: the peers' reply-parsing workload
//! (`shared/peers/workload.md` §2) through `calinvite_core::inbound`.
//!
//! Reads `replies.mbx`, `replies.len` and `replies.expected` (written by the
//! peers' `gen_replies.py`) into memory, then times only the loop: for each
//! message, `parse_inbound` (MIME, transfer decoding, iCalendar, classification)
//! and the extraction of (UID, attendee, PARTSTAT, SEQUENCE). Prints one JSON
//! line with the peers' keys, mismatches against the expected results included.

use std::path::PathBuf;
use std::process::ExitCode;

use calinvite_benches::measure::{rusage, vm_hwm_kb, wall_start};
use calinvite_core::inbound::{
    AuthVerdict, InboundEnvelope, InboundKind, InboundLimits, parse_inbound,
};
use serde::Serialize;

#[derive(Serialize)]
struct Result {
    peer: &'static str,
    phase: &'static str,
    n: usize,
    seconds: f64,
    cpu_seconds: f64,
    msgs_per_s: f64,
    mismatches: usize,
    maxrss_kb: i64,
    vm_hwm_kb: Option<u64>,
}

fn run() -> std::result::Result<Result, String> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("parse") => {}
        _ => return Err("usage: parse-workload parse [CORPUS_DIR]".into()),
    }
    let dir = args.next().map_or_else(
        || calinvite_benches::workspace_root().join("../shared/peers/corpus"),
        PathBuf::from,
    );
    let read = |name: &str| {
        std::fs::read(dir.join(name)).map_err(|e| {
            format!(
                "{}: {e} (run the peers' setup.sh first)",
                dir.join(name).display()
            )
        })
    };
    let mbx = read("replies.mbx")?;
    let lens: Vec<usize> = String::from_utf8_lossy(&read("replies.len")?)
        .lines()
        .map(|l| l.trim().parse().map_err(|_| format!("bad length {l:?}")))
        .collect::<std::result::Result<_, _>>()?;
    let expected: Vec<(String, String, String, String)> =
        String::from_utf8_lossy(&read("replies.expected")?)
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (
                    f[0].into(),
                    f[1].into(),
                    f[2].into(),
                    f.get(3).copied().unwrap_or("").into(),
                )
            })
            .collect();
    let mut messages = Vec::with_capacity(lens.len());
    let mut at = 0;
    for len in &lens {
        messages.push(
            mbx.get(at..at + len)
                .ok_or("replies.len does not match replies.mbx")?,
        );
        at += len;
    }
    let (envelope, auth, limits) = (
        InboundEnvelope::default(),
        AuthVerdict::default(),
        InboundLimits::default(),
    );

    let (cpu0, _) = rusage();
    let t0 = wall_start();
    let mut found = Vec::with_capacity(messages.len());
    for raw in &messages {
        let m = parse_inbound(raw, &envelope, &auth, &limits);
        found.push(match m.kind {
            InboundKind::Reply(r) => Some((
                r.identity.uid,
                r.attendee
                    .map(|a| a.address().as_str().to_string())
                    .unwrap_or_default(),
                r.partstat
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default(),
                r.identity.sequence.get().to_string(),
            )),
            _ => None,
        });
    }
    let seconds = t0.elapsed().as_secs_f64();
    let (cpu1, maxrss_kb) = rusage();

    let mismatches = found
        .iter()
        .zip(&expected)
        .filter(|(f, e)| f.as_ref() != Some(*e))
        .count()
        + expected.len().abs_diff(found.len());
    Ok(Result {
        peer: "calinvite",
        phase: "parse",
        n: messages.len(),
        seconds,
        cpu_seconds: (cpu1 - cpu0).as_secs_f64(),
        msgs_per_s: messages.len() as f64 / seconds,
        mismatches,
        maxrss_kb,
        vm_hwm_kb: vm_hwm_kb(),
    })
}

fn main() -> ExitCode {
    match run() {
        Ok(r) => {
            #[allow(
                clippy::print_stdout,
                reason = "printing the JSON line is this tool's job"
            )]
            {
                println!("{}", serde_json::to_string(&r).unwrap_or_default());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("parse-workload: {e}");
            ExitCode::FAILURE
        }
    }
}
