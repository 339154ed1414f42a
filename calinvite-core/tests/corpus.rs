//! Every real message in `../shared/imip-corpus/` and every fixture of ours is
//! classified as its expectation file says.
//!
//! Expectations are written by reading each sample (format and rules:
//! `tests/corpus/README.md`). Every key present in an expectation must have
//! exactly that value in the parser's JSON; keys starting with `_` are notes.
//! The corpus lives beside the checkout and is not copied here (much of it is
//! AGPL/MPL); when it is missing this test fails — it never skips.

#![allow(clippy::unwrap_used)] // a test fails loudly on the first unexpected error

use std::path::{Path, PathBuf};

use calinvite_core::inbound::{
    AuthVerdict, InboundEnvelope, InboundLimits, message_from_calendar, parse_inbound,
};
use serde_json::Value;

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus_dir() -> PathBuf {
    std::env::var_os("CALINVITE_CORPUS").map_or_else(
        || manifest().join("../../shared/imip-corpus"),
        PathBuf::from,
    )
}

fn samples(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(p.extension().and_then(|e| e.to_str()), Some("eml" | "ics")) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
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
    let Ok(text) = std::fs::read_to_string(expectation) else {
        failures.push(format!(
            "{}: no expectation file {}",
            sample.display(),
            expectation.display()
        ));
        return;
    };
    let expected: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", expectation.display()));
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

#[test]
fn every_corpus_sample_is_classified_as_expected() {
    let dir = corpus_dir();
    assert!(
        dir.join("INDEX.md").is_file(),
        "the iMIP corpus is missing at {} (it sits in ../shared beside the checkout; \
         CALINVITE_CORPUS points elsewhere)",
        dir.display()
    );
    let all = samples(&dir);
    assert_eq!(all.len(), 71, "the corpus should hold 71 samples");
    let mut failures = Vec::new();
    for sample in &all {
        let rel = sample.strip_prefix(&dir).unwrap();
        let expectation = manifest()
            .join("tests/corpus/expected")
            .join(format!("{}.json", rel.display()));
        check(sample, &expectation, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{} of {} samples differ:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

#[test]
fn every_fixture_is_classified_as_expected() {
    let dir = manifest().join("tests/fixtures/inbound");
    let all = samples(&dir);
    assert!(all.len() >= 7, "fixtures missing in {}", dir.display());
    let mut failures = Vec::new();
    for sample in &all {
        let expectation = PathBuf::from(format!("{}.json", sample.display()));
        check(sample, &expectation, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{} fixtures differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
