//! The `render` previewer, run as a user runs it.

#![allow(clippy::unwrap_used)] // a test fails loudly on the first unexpected error

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn events(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("events")
        .join(name)
}

fn render(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_render"))
        .args(args)
        .output()
        .expect("run render")
}

fn out_dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("calinvite-render-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn writes_invitation_update_and_cancellations() {
    let dir = out_dir("modes");
    let launch = events("launch.toml");
    let launch = launch.to_str().unwrap();
    let standup = events("standup.toml");
    let standup = standup.to_str().unwrap();
    let v2 = events("launch-v2.toml");
    let holiday = events("holiday.toml");
    let cases: &[(&[&str], &str, &str)] = &[
        (&[launch], "method=REQUEST", ".0.request@"),
        (
            &[launch, "--update", v2.to_str().unwrap()],
            "method=REQUEST",
            ".1.request@",
        ),
        (
            &[launch, "--cancel", "--sequence", "4"],
            "method=CANCEL",
            ".5.cancel@",
        ),
        (
            &[standup, "--cancel-instance", "2026-12-21T09:30"],
            "method=CANCEL",
            ".1.cancel@",
        ),
        (
            &[holiday.to_str().unwrap()],
            "method=REQUEST",
            ".0.request@",
        ),
    ];
    for (i, (args, method, id)) in cases.iter().enumerate() {
        let path = dir.join(format!("{i}.eml"));
        let mut all: Vec<&str> = args.to_vec();
        all.extend([
            "--now",
            "2026-11-22T09:00:00Z",
            "--out",
            path.to_str().unwrap(),
        ]);
        let out = render(&all);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(method), "{args:?}: {method}");
        assert!(text.contains(id), "{args:?}: Message-ID with {id}");
        assert!(
            text.contains("Date: Sun, 22 Nov 2026 09:00:00 +0000"),
            "{args:?}"
        );
    }
    // Same inputs, same bytes.
    let a = dir.join("a.eml");
    let b = dir.join("b.eml");
    for p in [&a, &b] {
        assert!(
            render(&[
                launch,
                "--now",
                "2026-11-22T09:00:00Z",
                "--out",
                p.to_str().unwrap()
            ])
            .status
            .success()
        );
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = out_dir("errors");
    let bad_zone = dir.join("bad-zone.toml");
    let text = std::fs::read_to_string(events("launch.toml"))
        .unwrap()
        .replace("America/New_York", "Mars/Olympus");
    std::fs::write(&bad_zone, text).unwrap();
    let backwards = dir.join("backwards.toml");
    let text = std::fs::read_to_string(events("launch.toml"))
        .unwrap()
        .replace("2026-12-03T20:00", "2026-12-03T17:00");
    std::fs::write(&backwards, text).unwrap();
    let launch = events("launch.toml");
    let cases: &[(&[&str], &str)] = &[
        (
            &[bad_zone.to_str().unwrap()],
            "unknown time zone \"Mars/Olympus\"",
        ),
        (
            &[backwards.to_str().unwrap()],
            "the event ends before it starts",
        ),
        (
            &[launch.to_str().unwrap(), "--to", "not-an-address"],
            "the address has no '@'",
        ),
        (
            &[launch.to_str().unwrap(), "--to", "ana@example.com"],
            "is the organizer",
        ),
        (
            &["/nonexistent/event.toml"],
            "cannot read /nonexistent/event.toml",
        ),
        (
            &[
                launch.to_str().unwrap(),
                "--cancel-instance",
                "2026-12-10T18:00",
            ],
            "does not repeat",
        ),
        (
            &[launch.to_str().unwrap(), "--frobnicate"],
            "unknown option --frobnicate",
        ),
    ];
    for (args, want) in cases {
        let mut all = args.to_vec();
        let sink = dir.join("x.eml");
        all.extend(["--out", sink.to_str().unwrap()]);
        let out = render(&all);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
