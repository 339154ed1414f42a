//! Every iMIP message calinvite is tested against is classified as its
//! expectation file says.
//!
//! Three sets of messages, each with expectations written by reading the
//! message (format and rules: `tests/corpus/README.md`). Every key present in
//! an expectation must have exactly that value in the parser's JSON; keys
//! starting with `_` are notes.
//!
//! - `tests/fixtures/inbound/`: messages written for calinvite in the shapes
//!   real clients send (Google, Outlook, Exchange, Apple, Thunderbird, Yahoo,
//!   …; made-up addresses), each with its expectation beside it as
//!   `<file>.json`.
//! - `tests/fixtures/corpus/`: the real-client samples whose licences let the
//!   repository keep them (their notices are in `NOTICE.md` there), under the
//!   same paths as in the full corpus; expectations in
//!   `tests/corpus/expected/`.
//! - The full real-client corpus (71 messages), which the repository does not
//!   keep because most of it is under copyleft licences. It runs whenever it
//!   is given: `CALINVITE_CORPUS=/path/to/imip-corpus`, or an `imip-corpus`
//!   folder in a `shared` directory beside the workspace. When it is not
//!   given, the test says so on standard error and only the repository's
//!   messages run — unless `CALINVITE_REQUIRE_CORPUS=1`, which makes its
//!   absence a failure (CI sets it).

#![allow(clippy::unwrap_used)] // a test fails loudly on the first unexpected error

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use calinvite_core::inbound::{
    AuthVerdict, InboundEnvelope, InboundLimits, message_from_calendar, parse_inbound,
};
use serde_json::Value;

/// How many messages the full real-client corpus holds.
const FULL_CORPUS_SAMPLES: usize = 71;

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn expectations_dir() -> PathBuf {
    manifest().join("tests/corpus/expected")
}

/// Where the full corpus was given, if it was; panics when `CALINVITE_CORPUS`
/// names a folder that is not a corpus (a wrong path must not pass silently).
fn given_corpus() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CALINVITE_CORPUS").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join("INDEX.md").is_file(),
            "CALINVITE_CORPUS={} is not the real-client corpus (no INDEX.md there)",
            dir.display()
        );
        return Some(dir);
    }
    let beside = manifest().join("../../shared/imip-corpus");
    beside
        .join("INDEX.md")
        .is_file()
        .then(|| std::fs::canonicalize(&beside).unwrap_or(beside))
}

fn corpus_required() -> bool {
    std::env::var("CALINVITE_REQUIRE_CORPUS").is_ok_and(|v| v == "1")
}

/// A line on the test process's standard error that `cargo test` shows even
/// when the test passes (the test harness only captures `print!`/`eprint!`).
fn announce(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn files_with_extension(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| extensions.iter().any(|e| n.ends_with(e)))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn samples(dir: &Path) -> Vec<PathBuf> {
    files_with_extension(dir, &[".eml", ".ics"])
}

/// The expectation of a real-client sample at `rel` inside a corpus folder.
fn corpus_expectation(rel: &Path) -> PathBuf {
    expectations_dir().join(format!("{}.json", rel.display()))
}

/// Where `expected` differs from `actual`, as `path: want … got …` lines.
fn differences(expected: &Value, actual: &Value, path: &str, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                if k.starts_with('_') {
                    continue;
                }
                let got = a.get(k).unwrap_or(&Value::Null);
                differences(v, got, &format!("{path}{k}."), out);
            }
        }
        _ if expected == actual => {}
        _ => out.push(format!(
            "{}: want {expected} got {actual}",
            path.trim_end_matches('.')
        )),
    }
}

fn read_expectation(expectation: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(expectation).ok()?;
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", expectation.display())))
}

fn check(sample: &Path, expectation: &Path, failures: &mut Vec<String>) {
    let mut raw = std::fs::read(sample).unwrap();
    if sample.extension().is_some_and(|e| e == "ics") {
        raw = message_from_calendar(&raw);
    }
    let parsed = parse_inbound(
        &raw,
        &InboundEnvelope::default(),
        &AuthVerdict::default(),
        &InboundLimits::default(),
    );
    let actual: Value = serde_json::from_str(&parsed.to_json()).unwrap();
    let Some(expected) = read_expectation(expectation) else {
        failures.push(format!(
            "{}: no expectation file {}",
            sample.display(),
            expectation.display()
        ));
        return;
    };
    let mut diffs = Vec::new();
    differences(&expected, &actual, "", &mut diffs);
    if !diffs.is_empty() {
        failures.push(format!(
            "{}:\n    {}",
            sample.display(),
            diffs.join("\n    ")
        ));
    }
}

fn assert_no_failures(what: &str, total: usize, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} problem(s) with {total} {what}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_fixture_is_classified_as_expected() {
    let dir = manifest().join("tests/fixtures/inbound");
    let all = samples(&dir);
    assert!(all.len() >= 17, "fixtures missing in {}", dir.display());
    let mut failures = Vec::new();
    for sample in &all {
        let expectation = PathBuf::from(format!("{}.json", sample.display()));
        check(sample, &expectation, &mut failures);
    }
    assert_no_failures("fixtures", all.len(), &failures);
}

#[test]
fn every_real_sample_in_the_repository_is_classified_as_expected() {
    let dir = manifest().join("tests/fixtures/corpus");
    let all = samples(&dir);
    assert_eq!(
        all.len(),
        6,
        "the repository keeps six permissively licensed real-client samples in {}",
        dir.display()
    );
    let notice = std::fs::read_to_string(dir.join("NOTICE.md")).unwrap();
    let mut failures = Vec::new();
    for sample in &all {
        let rel = sample.strip_prefix(&dir).unwrap();
        assert!(
            notice.contains(&format!("`{}`", rel.display())),
            "{} is not named in {}",
            rel.display(),
            dir.join("NOTICE.md").display()
        );
        check(sample, &corpus_expectation(rel), &mut failures);
    }
    assert_no_failures("real samples kept in the repository", all.len(), &failures);
}

/// The messages kept in the repository cover every client and method
/// combination calinvite meets in practice, so that a clone alone tests them.
#[test]
fn the_repository_covers_each_client_and_method() {
    // Client folder -> the classifications its messages' expectations give.
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut note = |client: &Path, expectation: &Path| {
        let Some(client) = client.to_str() else {
            return;
        };
        let Some(value) = read_expectation(expectation) else {
            return;
        };
        if let Some(class) = value["classification"].as_str() {
            seen.entry(client.to_owned())
                .or_default()
                .insert(class.to_owned());
        }
    };
    let inbound = manifest().join("tests/fixtures/inbound");
    for sample in samples(&inbound) {
        let rel = sample.strip_prefix(&inbound).unwrap();
        if let Some(client) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
            note(client, Path::new(&format!("{}.json", sample.display())));
        }
    }
    let corpus = manifest().join("tests/fixtures/corpus");
    for sample in samples(&corpus) {
        let rel = sample.strip_prefix(&corpus).unwrap();
        if let Some(client) = rel.parent() {
            note(client, &corpus_expectation(rel));
        }
    }
    let wanted: &[(&[&str], &str)] = &[
        (&["google"], "organizer_request"),
        (&["google"], "reply"),
        (&["google"], "organizer_cancel"),
        (&["google"], "counter"),
        (&["outlook", "exchange"], "organizer_request"),
        (&["outlook", "exchange"], "reply"),
        (&["apple"], "reply"),
        (&["apple"], "organizer_cancel"),
        (&["thunderbird"], "organizer_request"),
        (&["yahoo"], "reply"),
    ];
    let missing: Vec<String> = wanted
        .iter()
        .filter(|(clients, class)| {
            !clients
                .iter()
                .any(|c| seen.get(*c).is_some_and(|s| s.contains(*class)))
        })
        .map(|(clients, class)| format!("{} {class}", clients.join("/")))
        .collect();
    assert!(
        missing.is_empty(),
        "no message in the repository for: {}",
        missing.join(", ")
    );
}

#[test]
fn the_full_real_client_corpus_is_classified_as_expected_when_given() {
    let Some(dir) = given_corpus() else {
        assert!(
            !corpus_required(),
            "CALINVITE_REQUIRE_CORPUS=1 but the real-client corpus was not given: set \
             CALINVITE_CORPUS=/path/to/imip-corpus or place it at {}",
            manifest().join("../../shared/imip-corpus").display()
        );
        announce(
            "note: the real-client iMIP corpus was not given (CALINVITE_CORPUS unset and no \
             shared/imip-corpus beside the workspace); only the repository's own fixtures and \
             real samples ran",
        );
        return;
    };
    announce(&format!(
        "note: running the real-client iMIP corpus at {}",
        dir.display()
    ));
    let all = samples(&dir);
    assert_eq!(
        all.len(),
        FULL_CORPUS_SAMPLES,
        "the corpus at {} should hold {FULL_CORPUS_SAMPLES} samples",
        dir.display()
    );
    let mut failures = Vec::new();
    for sample in &all {
        let rel = sample.strip_prefix(&dir).unwrap();
        check(sample, &corpus_expectation(rel), &mut failures);
    }
    // Every expectation names a sample of the corpus: none is left unchecked.
    for expectation in files_with_extension(&expectations_dir(), &[".json"]) {
        let rel = expectation.strip_prefix(expectations_dir()).unwrap();
        let sample = dir.join(rel.with_extension(""));
        if !sample.is_file() {
            failures.push(format!(
                "{}: no such sample in the corpus for this expectation",
                sample.display()
            ));
        }
    }
    // The copies kept in the repository are the corpus's files, byte for byte.
    let kept = manifest().join("tests/fixtures/corpus");
    for copy in samples(&kept) {
        let rel = copy.strip_prefix(&kept).unwrap();
        if std::fs::read(&copy).ok() != std::fs::read(dir.join(rel)).ok() {
            failures.push(format!(
                "{}: differs from the corpus's {}",
                copy.display(),
                dir.join(rel).display()
            ));
        }
    }
    assert_no_failures("corpus samples", all.len(), &failures);
}
