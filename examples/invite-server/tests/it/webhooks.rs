//! Webhooks over real HTTP: an endpoint registered through the API
//! receives what happens — the invitation sent, the recipient's answers
//! (mailed to the SMTP listener), the event updated — in order, signed so
//! that an independent implementation of the Standard Webhooks
//! specification (the `standardwebhooks` package from PyPI) verifies every
//! post; a failing endpoint is retried until it answers, one that answers
//! `410 Gone` is disabled, a rotated secret signs beside the previous one
//! for the overlap, and the delivery log shows every attempt. On SQLite and
//! PostgreSQL.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Db, TestServer, captured, eventually};
use crate::hooks::{Receiver, tampered, verify};
use crate::mail;

/// Registers an endpoint for `types`: its id and secret.
pub async fn register(s: &TestServer, url: &str, types: &[&str]) -> (String, String) {
    let r = s
        .post(
            "/v1/webhooks",
            json!({"url": url, "types": types, "description": "the application"}),
        )
        .await;
    let body = r.expect(201).clone();
    assert_eq!(
        r.headers.get("location").unwrap(),
        &format!("/v1/webhooks/{}", body["webhook"]["id"].as_str().unwrap())
    );
    (
        body["webhook"]["id"].as_str().unwrap().to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
    )
}

pub async fn invite(s: &TestServer, code: &str, address: &str) {
    s.post(
        &format!("/v1/events/{code}/invitations"),
        json!({"address": address}),
    )
    .await
    .expect(201);
}

/// `guest`'s calendar answers the invitation it holds (captured in the
/// outbox), through the server's SMTP listener.
pub async fn answer(s: &TestServer, guest: &str, partstat: &str) {
    let held = eventually("the invitation in the outbox", || async {
        captured(&s.dir, guest)
            .first()
            .map(|m| mail::read(m, guest))
    })
    .await;
    let port = s.server().smtp_addr().unwrap().port();
    mail::send(
        "127.0.0.1",
        port,
        "example.net",
        guest,
        "rsvp@invites.localhost",
        &mail::reply(guest, &held, partstat),
    )
    .await;
}

async fn deliveries(s: &TestServer, id: &str) -> Vec<Value> {
    let r = s.get(&format!("/v1/webhooks/{id}/deliveries")).await;
    r.expect(200)["items"].as_array().unwrap().clone()
}

#[allow(clippy::disallowed_methods)]
fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn arrive_in_order_and_verify(db: Db) {
    let s = TestServer::start(db, |c| {
        c.webhooks.allow_private_targets = true;
        c.webhooks.retry_schedule_seconds = vec![1, 1, 1];
    })
    .await;
    let hook = Receiver::start().await;
    let (id, secret) = register(
        &s,
        &hook.url,
        &["invitation.answered", "delivery.sent", "event.updated"],
    )
    .await;
    let code = s.event.clone();
    let guest = "ana.webhooks@example.net";

    invite(&s, &code, guest).await;
    let sent = hook.wait_for(1).await;
    answer(&s, guest, "ACCEPTED").await;
    hook.wait_for(2).await;
    // A DTSTAMP a second later: the changed mind is newer.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    answer(&s, guest, "DECLINED").await;
    hook.wait_for(3).await;
    s.call(
        Method::PATCH,
        &format!("/v1/events/{code}"),
        Some(&s.key),
        Some(json!({"location": "Room 9"})),
    )
    .await
    .expect(200);
    let posts = hook.wait_for(4).await;
    assert_eq!(sent[0].kind(), "delivery.sent");
    assert_eq!(
        posts.iter().map(|p| p.kind()).collect::<Vec<_>>(),
        [
            "delivery.sent",
            "invitation.answered",
            "invitation.answered",
            "event.updated"
        ]
    );
    let data: Vec<&Value> = posts.iter().map(|p| &p.json["data"]).collect();
    assert_eq!(
        (
            &data[0]["event"],
            &data[0]["address"],
            &data[0]["message"],
            &data[0]["sequence"],
            &data[0]["organizer"]
        ),
        (
            &json!(code),
            &json!(guest),
            &json!("invitation"),
            &json!(0),
            &json!(1)
        )
    );
    assert_eq!(
        (
            &data[1]["status"],
            &data[1]["previous_status"],
            &data[1]["changed_mind"],
            &data[1]["channel"],
            &data[1]["applied"]
        ),
        (
            &json!("accepted"),
            &Value::Null,
            &json!(false),
            &json!("mail"),
            &json!(true)
        )
    );
    assert_eq!(
        (
            &data[2]["status"],
            &data[2]["previous_status"],
            &data[2]["changed_mind"]
        ),
        (&json!("declined"), &json!("accepted"), &json!(true))
    );
    assert_eq!(
        (&data[3]["event"], &data[3]["sequence"], &data[3]["mailed"]),
        (&json!(code), &json!(1), &json!(true))
    );
    let mut ids = Vec::new();
    for p in &posts {
        assert_eq!(p.header("content-type"), "application/json");
        assert!(p.header("webhook-id").starts_with("msg_"), "{p:?}");
        ids.push(p.header("webhook-id").to_owned());
        let ts: i64 = p.header("webhook-timestamp").parse().unwrap();
        assert!((ts - now_s()).abs() < 120, "{ts}");
        assert_eq!(p.header("webhook-signature").split(' ').count(), 1);
        assert!(p.header("webhook-signature").starts_with("v1,"));
        assert!(p.json["timestamp"].as_str().unwrap().ends_with('Z'));
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "each message its own webhook-id");

    // An independent implementation verifies every post with the secret,
    // and refuses a tampered one and another secret.
    let other = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let bad = tampered(&posts[1]);
    let mut checks: Vec<(&crate::hooks::Post, &[&str])> = Vec::new();
    let both = [secret.as_str(), other];
    for p in &posts {
        checks.push((p, &both));
    }
    checks.push((&bad, &both));
    assert_eq!(
        verify(&checks),
        [vec![0], vec![0], vec![0], vec![0], vec![]]
    );

    // The delivery log: newest first, each sent on its first attempt.
    let log = deliveries(&s, &id).await;
    assert_eq!(log.len(), 4, "{log:?}");
    for (entry, post) in log.iter().zip(posts.iter().rev()) {
        assert_eq!(entry["id"], post.header("webhook-id"));
        assert_eq!(entry["type"], post.kind());
        assert_eq!(entry["state"], "sent");
        assert_eq!(entry["payload"], post.json);
        let attempts = entry["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 1, "{entry}");
        assert_eq!(attempts[0]["status"], 200);
    }
    let m = s.call(Method::GET, "/metrics", None, None).await;
    assert!(
        m.text
            .contains("calinvite_webhook_attempts_total{result=\"sent\"} 4"),
        "{}",
        m.text
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_webhooks_arrive_in_order_and_verify_on_sqlite() {
    arrive_in_order_and_verify(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_webhooks_arrive_in_order_and_verify_on_postgres() {
    arrive_in_order_and_verify(Db::Postgres).await;
}

async fn retried_then_gone(db: Db) {
    let s = TestServer::start(db, |c| {
        c.webhooks.allow_private_targets = true;
        c.webhooks.retry_schedule_seconds = vec![1, 1, 1];
    })
    .await;
    let hook = Receiver::start().await;
    let (id, secret) = register(&s, &hook.url, &["delivery.sent"]).await;
    let code = s.event.clone();

    // 500, then 503 asking for 2 s, then 200: one message, three attempts.
    hook.answer(&[500]);
    hook.answer_later(503, "2");
    invite(&s, &code, "retry.1@example.net").await;
    let posts = hook.wait_for(3).await;
    assert!(posts.iter().all(|p| p.kind() == "delivery.sent"));
    assert!(
        posts
            .iter()
            .all(|p| p.header("webhook-id") == posts[0].header("webhook-id")),
        "a retry keeps its webhook-id"
    );
    let t: Vec<i64> = posts
        .iter()
        .map(|p| p.header("webhook-timestamp").parse().unwrap())
        .collect();
    assert!(t[2] - t[1] >= 2, "Retry-After is honoured: {t:?}");
    let one = [secret.as_str()];
    let checks: Vec<(&crate::hooks::Post, &[&str])> = posts.iter().map(|p| (p, &one[..])).collect();
    assert_eq!(verify(&checks), [vec![0], vec![0], vec![0]]);
    let log = eventually("the third attempt recorded", || async {
        let log = deliveries(&s, &id).await;
        (log.first().is_some_and(|m| m["state"] == "sent")).then_some(log)
    })
    .await;
    let attempts = log[0]["attempts"].as_array().unwrap();
    assert_eq!(
        attempts
            .iter()
            .map(|a| (a["attempt"].clone(), a["status"].clone()))
            .collect::<Vec<_>>(),
        [
            (json!(1), json!(500)),
            (json!(2), json!(503)),
            (json!(3), json!(200))
        ]
    );
    assert_eq!(attempts[0]["error"], "answered 500");
    assert!(attempts[2].get("error").is_none());
    let endpoint = s.get(&format!("/v1/webhooks/{id}")).await;
    let endpoint = endpoint.expect(200);
    assert_eq!(endpoint["enabled"], true);
    assert_eq!(
        endpoint["consecutive_failures"], 0,
        "a success ends the failures"
    );
    assert!(endpoint.get("secret").is_none(), "{endpoint}");

    // 410 Gone: given up at once, and the endpoint is disabled.
    hook.answer(&[410]);
    invite(&s, &code, "retry.2@example.net").await;
    hook.wait_for(4).await;
    let endpoint = eventually("the endpoint disabled", || async {
        let e = s.get(&format!("/v1/webhooks/{id}")).await;
        let e = e.expect(200).clone();
        (e["enabled"] == false).then_some(e)
    })
    .await;
    assert!(
        endpoint["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("410"),
        "{endpoint}"
    );
    let log = deliveries(&s, &id).await;
    assert_eq!(log[0]["state"], "failed");
    assert_eq!(log[0]["attempts"][0]["status"], 410);
    // Disabled: nothing more is posted.
    invite(&s, &code, "retry.3@example.net").await;
    eventually("the third invitation sent", || async {
        (!captured(&s.dir, "retry.3@example.net").is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(hook.posts().len(), 4);
    assert_eq!(deliveries(&s, &id).await.len(), 2);
    // Re-enabled by a call, with its failures forgotten: posted to again.
    let r = s
        .call(
            Method::PATCH,
            &format!("/v1/webhooks/{id}"),
            Some(&s.key),
            Some(json!({"enabled": true})),
        )
        .await;
    let r = r.expect(200);
    assert_eq!(
        (&r["enabled"], r.get("disabled_reason")),
        (&json!(true), None)
    );
    invite(&s, &code, "retry.4@example.net").await;
    let posts = hook.wait_for(5).await;
    assert_eq!(posts[4].json["data"]["address"], "retry.4@example.net");
    let m = s.call(Method::GET, "/metrics", None, None).await;
    for line in [
        "calinvite_webhook_attempts_total{result=\"retried\"} 2",
        "calinvite_webhook_endpoints_disabled_total{reason=\"gone\"} 1",
        "calinvite_webhook_messages_failed_total 1",
    ] {
        assert!(m.text.contains(line), "{line}\n{}", m.text);
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_endpoint_is_retried_and_a_gone_one_disabled_on_sqlite() {
    retried_then_gone(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_endpoint_is_retried_and_a_gone_one_disabled_on_postgres() {
    retried_then_gone(Db::Postgres).await;
}

async fn rotation(db: Db) {
    let s = TestServer::start(db, |c| c.webhooks.allow_private_targets = true).await;
    let hook = Receiver::start().await;
    let (id, old) = register(&s, &hook.url, &["delivery.sent"]).await;
    let code = s.event.clone();

    // The previous secret keeps signing for 8 s.
    let r = s
        .call(
            Method::POST,
            &format!("/v1/webhooks/{id}/rotate?keep_previous_seconds=8"),
            Some(&s.key),
            None,
        )
        .await;
    let r = r.expect(200).clone();
    let new = r["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(new.starts_with("whsec_"));
    assert!(
        r["webhook"]["previous_secret_expires_at"].is_string(),
        "{r}"
    );
    invite(&s, &code, "rot.1@example.net").await;
    let posts = hook.wait_for(1).await;
    assert_eq!(posts[0].header("webhook-signature").split(' ').count(), 2);
    let secrets = [old.as_str(), new.as_str()];
    assert_eq!(
        verify(&[(&posts[0], &secrets)]),
        [vec![0, 1]],
        "during the overlap, both secrets verify"
    );

    // After it, only the new one signs.
    eventually("the overlap over", || async {
        let e = s.get(&format!("/v1/webhooks/{id}")).await;
        e.expect(200)
            .get("previous_secret_expires_at")
            .is_none()
            .then_some(())
    })
    .await;
    invite(&s, &code, "rot.2@example.net").await;
    let posts = hook.wait_for(2).await;
    assert_eq!(posts[1].header("webhook-signature").split(' ').count(), 1);
    assert_eq!(verify(&[(&posts[1], &secrets)]), [vec![1]]);

    // Rotating with no overlap: the previous secret stops at once.
    let r = s
        .call(
            Method::POST,
            &format!("/v1/webhooks/{id}/rotate?keep_previous_seconds=0"),
            Some(&s.key),
            None,
        )
        .await;
    let newest = r.expect(200)["secret"].as_str().unwrap().to_owned();
    invite(&s, &code, "rot.3@example.net").await;
    let posts = hook.wait_for(3).await;
    let all = [old.as_str(), new.as_str(), newest.as_str()];
    assert_eq!(verify(&[(&posts[2], &all)]), [vec![2]]);
    let r = s
        .call(
            Method::POST,
            &format!("/v1/webhooks/{id}/rotate?keep_previous_seconds=999999999"),
            Some(&s.key),
            None,
        )
        .await;
    assert_eq!(
        r.problem(400)["errors"][0]["pointer"],
        "keep_previous_seconds"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_signs_beside_the_previous_one_on_sqlite() {
    rotation(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_signs_beside_the_previous_one_on_postgres() {
    rotation(Db::Postgres).await;
}

/// An organizer's endpoint hears only of its own events; the domain
/// owner's hears of all; types filter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_hear_only_their_tenants_events() {
    let s = TestServer::start(Db::Sqlite, |c| c.webhooks.allow_private_targets = true).await;
    let owner_hook = Receiver::start().await;
    let org_hook = Receiver::start().await;
    register(&s, &owner_hook.url, &[]).await;
    let org = s
        .post(
            "/v1/organizers",
            json!({"name": "Other", "address": "other@example.com", "create_key": true}),
        )
        .await;
    let org = org.expect(201).clone();
    let org_key = org["key"]["key"].as_str().unwrap().to_owned();
    let r = s
        .call(
            Method::POST,
            "/v1/webhooks",
            Some(&org_key),
            Some(json!({"url": org_hook.url, "types": ["event.created"]})),
        )
        .await;
    let r = r.expect(201).clone();
    assert_eq!(r["webhook"]["organizer"], org["organizer"]["id"]);
    // An event of the demo organizer, then one of the other.
    for key in [&s.key, &org_key] {
        s.call(
            Method::POST,
            "/v1/events",
            Some(key),
            Some(json!({"organizer": if key == &s.key { json!(1) } else { Value::Null }, "summary": "Tenancy", "start": "2036-05-01", "end": "2036-05-01"})),
        )
        .await
        .expect(201);
    }
    let owner_posts = owner_hook.wait_for(2).await;
    assert_eq!(
        owner_posts
            .iter()
            .map(|p| p.json["data"]["organizer"].clone())
            .collect::<Vec<_>>(),
        [json!(1), org["organizer"]["id"].clone()]
    );
    let org_posts = org_hook.wait_for(1).await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(org_hook.posts().len(), 1, "only its own event");
    assert_eq!(org_posts[0].kind(), "event.created");
    assert_eq!(
        org_posts[0].json["data"]["organizer"],
        org["organizer"]["id"]
    );
    // The organizer's key lists only its own endpoint.
    let mine = s
        .call(Method::GET, "/v1/webhooks", Some(&org_key), None)
        .await;
    assert_eq!(mine.expect(200)["items"].as_array().unwrap().len(), 1);
    let all = s.get("/v1/webhooks").await;
    assert_eq!(all.expect(200)["items"].as_array().unwrap().len(), 2);
    s.stop().await;
}
