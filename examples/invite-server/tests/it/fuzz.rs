//! The API fuzzed from its own OpenAPI document: schemathesis (from PyPI,
//! installed by `scripts/fuzz-api.sh` in a virtual environment of its own)
//! generates requests for every operation, valid and not, from the
//! document the server serves, with a domain owner's key and the demo
//! event for `{code}`. No answer may be a 5xx, and every answer must have a
//! documented status, content type and headers, and match its documented
//! schema. A fixed seed and a bounded number of examples per operation keep
//! it to a few seconds' work.

use std::process::Command;

use reqwest::Method;

use crate::common::{Db, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_departure_from_the_document() {
    let s = TestServer::start(Db::Sqlite, |c| c.log.filter = "error".into()).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/fuzz-api.sh");
    let (base, key, event) = (s.base.clone(), s.key.clone(), s.event.clone());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(script)
            .args([&base, "10"])
            .env("CALINVITE_FUZZ_KEY", key)
            .env("CALINVITE_FUZZ_EVENT", event)
            .output()
            .expect("run scripts/fuzz-api.sh")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Both runs ran, and tested something.
    assert!(stdout.matches(" passed").count() >= 2, "{stdout}");
    assert!(!stdout.contains(" failed"), "{stdout}");
    assert!(!stdout.contains(&s.key), "the key is never printed");

    // The key it ran with still works: the fuzzing revoked no key of ours.
    s.get("/v1/owner").await.expect(200);
    s.stop().await;
}

/// What schemathesis found first: organizer ids beyond what the store keeps
/// (signed 64-bit) failed the store and were answered 503; they name no
/// organizer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organizer_ids_beyond_the_stores_range_are_not_found() {
    let s = TestServer::start(Db::Sqlite, |_| {}).await;
    for path in [
        "/v1/organizers/9223372036854775808",
        "/v1/organizers/18446744073709551615/report",
        "/v1/events?organizer=9223372036854775808",
        "/v1/pending?organizer=18446744073709551615",
    ] {
        s.get(path).await.problem(404);
    }
    let r = s
        .post(
            "/v1/keys",
            serde_json::json!({"organizer": 9223372036854775808_u64}),
        )
        .await;
    r.problem(404);
    let r = s
        .call(Method::GET, "/problems/no-such-type", None, None)
        .await;
    r.problem(404);
    s.stop().await;
}
