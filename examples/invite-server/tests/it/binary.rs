//! The `invite-server` binary as a person runs it: `--help`, the first
//! start's output (URLs, the key shown once, a `curl` line that works as
//! printed), SIGTERM, and a second start that shows no key.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::common::{captured, unique};

const BIN: &str = env!("CARGO_BIN_EXE_invite-server");

fn command(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("CALINVITE_") {
            c.env_remove(k);
        }
    }
    c.current_dir(dir)
        .args([
            "--http-listen",
            "127.0.0.1:0",
            "--smtp-listen",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "warn");
    c
}

/// Starts the server and reads its banner, up to the line about stopping.
fn start(dir: &Path) -> (Child, Vec<String>, mpsc::Receiver<String>) {
    let mut child = command(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut banner = Vec::new();
    loop {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no banner; so far: {banner:#?}");
        };
        let last = line.starts_with("Ctrl-C");
        banner.push(line);
        if last {
            return (child, banner, rx);
        }
    }
}

fn stop(mut child: Child, rx: &mpsc::Receiver<String>) -> Vec<String> {
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit after SIGTERM: {status}");
    // The reader thread may not have passed on the last lines yet when the
    // process is reaped: read until it ends (at the pipe's end of file).
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(10)) {
        lines.push(line);
    }
    lines
}

#[test]
fn help_lists_the_flags_and_the_environment() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for want in [
        "--config",
        "--http-listen",
        "CALINVITE_HTTP_LISTEN",
        "CALINVITE_OUTBOUND_SMTP_PASSWORD",
        "add-owner",
    ] {
        assert!(text.contains(want), "{want} in:\n{text}");
    }
    let out = Command::new(BIN).arg("example-config").output().unwrap();
    let example: invite_server::Config =
        toml::from_str(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert_eq!(example, invite_server::Config::default());
    let out = Command::new(BIN)
        .args(["--http-listen", "nowhere"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("http.listen"));
}

#[test]
fn the_first_start_prints_a_curl_line_that_sends_an_invitation() {
    let dir = std::env::temp_dir().join(format!("invite-server-bin-{}", unique("b")));
    std::fs::create_dir_all(&dir).unwrap();
    let (child, banner, rx) = start(&dir);
    let text = banner.join("\n");
    assert!(text.contains("HTTP API        http://127.0.0.1:"), "{text}");
    assert!(text.contains("SMTP listener   127.0.0.1:"), "{text}");
    assert!(text.contains("/metrics"), "{text}");
    assert!(text.contains("shown this once"), "{text}");
    let key_lines = banner
        .iter()
        .filter(|l| l.trim_start().starts_with("cik_"))
        .count();
    assert_eq!(key_lines, 1, "the key, once: {text}");
    // The curl line, run as printed.
    let at = banner
        .iter()
        .position(|l| l.trim_start().starts_with("curl "))
        .unwrap();
    let curl: String = banner[at..at + 3]
        .iter()
        .map(|l| l.trim_end_matches('\\'))
        .collect::<Vec<_>>()
        .join(" ");
    let out = Command::new("sh").args(["-c", &curl]).output().unwrap();
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && answer.contains("\"outcome\":\"invited\""),
        "{curl}\n{answer}"
    );
    let data = dir.join("invite-server-data");
    for _ in 0..300 {
        if !captured(&data, "guest@example.net").is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(captured(&data, "guest@example.net").len(), 1);
    assert!(data.join("calinvite.db").exists());
    let after = stop(child, &rx);
    assert!(after.iter().any(|l| l.starts_with("stopped")), "{after:?}");

    // The second start finds the demo tenant and shows no key.
    let (child, banner, rx) = start(&dir);
    let text = banner.join("\n");
    assert!(!text.contains("cik_"), "{text}");
    assert!(text.contains("printed on the first start"), "{text}");
    stop(child, &rx);
    let _ = std::fs::remove_dir_all(&dir);
}
