//! `assemble-workload`: the peers' invite-assembly benchmark
//! (`shared/peers/workload.md`, section 1) with calinvite, in the peers' protocol.
//!
//! ```text
//! assemble-workload assemble [N] [--sample FILE] [--dump FILE] [--workload PATH]
//! assemble-workload sample FILE [--workload PATH]
//! ```
//!
//! `assemble` prepares the workload (outside the timing, like the peers load their
//! inputs), then times only the loop: for `i` in `0..N`, build recipient `i`'s
//! complete invitation through `Composer::compose` and `write(2)` it to
//! `/dev/null`. It prints one JSON line with the peers' keys: `peer`, `phase`,
//! `n`, `seconds` (wall), `cpu_seconds` (user + system of the process over the
//! loop), `msgs_per_s`, `bytes_per_msg` and `maxrss_kb` (`ru_maxrss`, which on
//! Linux survives `execve`, as for the peers), plus `vm_hwm_kb`, this process's
//! own peak RSS from `/proc/self/status`.
//!
//! `--sample FILE` (or `sample FILE`) writes message 0 first, for `validate.py`.
//! `--dump FILE` writes the messages, concatenated, to FILE instead of
//! `/dev/null` (to compare the output of two builds byte for byte).
//! The workload is read from `--workload`, else `$CALINVITE_WORKLOAD`, else
//! `../shared/peers/workload.json` relative to the workspace root.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use calinvite_benches::measure::{rusage, vm_hwm_kb, wall_start};
use calinvite_benches::{Assembly, Workload};
use serde::Serialize;

/// The JSON line, with the keys (and their order) the peers print.
#[derive(Serialize)]
struct Report {
    peer: &'static str,
    phase: &'static str,
    n: usize,
    seconds: f64,
    cpu_seconds: f64,
    msgs_per_s: f64,
    bytes_per_msg: f64,
    maxrss_kb: i64,
    vm_hwm_kb: Option<u64>,
}

struct Args {
    mode: String,
    n: Option<usize>,
    sample: Option<PathBuf>,
    dump: Option<PathBuf>,
    workload: Option<PathBuf>,
}

fn usage() -> String {
    "usage: assemble-workload assemble [N] [--sample FILE] [--dump FILE] [--workload PATH]\n       \
     assemble-workload sample FILE [--workload PATH]"
        .to_string()
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mode = it.next().ok_or_else(usage)?;
    let mut args = Args {
        mode,
        n: None,
        sample: None,
        dump: None,
        workload: None,
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--sample" => args.sample = Some(it.next().ok_or_else(usage)?.into()),
            "--dump" => args.dump = Some(it.next().ok_or_else(usage)?.into()),
            "--workload" => args.workload = Some(it.next().ok_or_else(usage)?.into()),
            "-h" | "--help" => return Err(usage()),
            s if args.mode == "sample" && args.sample.is_none() => args.sample = Some(s.into()),
            s if args.mode == "assemble" && args.n.is_none() => {
                args.n = Some(s.parse().map_err(|e| format!("N {s:?}: {e}"))?);
            }
            s => return Err(format!("unexpected argument {s:?}\n{}", usage())),
        }
    }
    match args.mode.as_str() {
        "assemble" => Ok(args),
        "sample" if args.sample.is_some() => Ok(args),
        _ => Err(usage()),
    }
}

/// Prints the result line on stdout.
#[allow(
    clippy::print_stdout,
    reason = "the JSON line on stdout is this binary's output (run_all.py reads it)"
)]
fn emit(line: &str) {
    println!("{line}");
}

/// Wall-clock start of the timed loop.
fn write_sample(workload: &Workload, path: &Path) -> Result<(), String> {
    let mut assembly = Assembly::new(workload).map_err(|e| e.to_string())?;
    let message = assembly.message(0).map_err(|e| e.to_string())?;
    std::fs::write(path, message.bytes()).map_err(|e| format!("{}: {e}", path.display()))
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let workload = Workload::locate(args.workload.as_deref()).map_err(|e| e.to_string())?;
    if let Some(path) = &args.sample {
        write_sample(&workload, path)?;
    }
    if args.mode == "sample" {
        return Ok(());
    }
    let n = args.n.unwrap_or(workload.n_recipients);
    let mut assembly = Assembly::new(&workload).map_err(|e| e.to_string())?;
    let mut sink: Box<dyn Write> = match &args.dump {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?,
        )),
        None => match std::fs::OpenOptions::new().write(true).open("/dev/null") {
            Ok(f) => Box::new(f),
            Err(_) => Box::new(std::io::sink()),
        },
    };

    let mut total: u64 = 0;
    let (cpu0, _) = rusage();
    let t0 = wall_start();
    for i in 0..n {
        let message = assembly
            .message(i)
            .map_err(|e| format!("message {i}: {e}"))?;
        total += message.bytes().len() as u64;
        sink.write_all(message.bytes())
            .map_err(|e| format!("write: {e}"))?;
    }
    sink.flush().map_err(|e| format!("write: {e}"))?;
    let seconds = t0.elapsed().as_secs_f64();
    let (cpu1, maxrss_kb) = rusage();

    let report = Report {
        peer: "calinvite",
        phase: "assemble",
        n,
        seconds,
        cpu_seconds: (cpu1 - cpu0).as_secs_f64(),
        msgs_per_s: n as f64 / seconds,
        bytes_per_msg: if n == 0 { 0.0 } else { total as f64 / n as f64 },
        maxrss_kb,
        vm_hwm_kb: vm_hwm_kb(),
    };
    let line = serde_json::to_string(&report).map_err(|e| e.to_string())?;
    emit(&line);
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("assemble-workload: {e}");
            ExitCode::FAILURE
        }
    }
}
