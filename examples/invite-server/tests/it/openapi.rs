//! The OpenAPI document the server serves is OpenAPI 3.1, as an
//! independent validator (openapi-spec-validator, from PyPI) reads it, and
//! it describes the routes the server answers.

use std::process::Command;

use reqwest::Method;

use crate::common::{Db, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_is_valid_openapi_3_1() {
    let s = TestServer::start(Db::Sqlite, |_| {}).await;
    let doc = s.call(Method::GET, "/openapi.json", None, None).await;
    let doc = doc.expect(200).clone();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc, serde_json::to_value(invite_server::openapi()).unwrap());
    let file = s.dir.join("openapi.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/validate-openapi.sh");
    let out = Command::new(script)
        .arg(&file)
        .output()
        .expect("run the validator script");
    assert!(
        out.status.success(),
        "openapi-spec-validator refused the document:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK"));

    // Every documented operation is routed: with no key, a /v1 operation
    // answers 401 (not the 404 or 405 of a path the router does not know).
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 30, "{}", paths.len());
    for (path, item) in paths {
        for method in ["get", "post", "patch", "delete"] {
            if item.get(method).is_none() || !path.starts_with("/v1/") {
                continue;
            }
            let concrete = path
                .replace("{code}", &s.event)
                .replace("{id}", "1")
                .replace("{address}", "a@example.net");
            let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            let r = s.call(m, &concrete, None, None).await;
            assert_eq!(r.status, 401, "{method} {path}: {}", r.text);
        }
        // Every operation documents its problems.
        for op in item.as_object().unwrap().values() {
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.contains_key("500") && responses.contains_key("503"),
                "{path}"
            );
        }
    }
    s.stop().await;
}
