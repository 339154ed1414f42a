//! Settings in the console, on SQLite and PostgreSQL: the sending
//! settings an organizer and a domain owner's administrator save are what
//! the API then reports (and an organizer goes back to its owner's); API
//! keys made, shown once, working, revoked; webhook endpoints registered
//! (their secret shown once, signing what is posted), their delivery log
//! (a page at a time),
//! disabled, enabled, rotated and deleted. Every form is refused without
//! its CSRF token, and another tenant's key or endpoint is not found.

use reqwest::Method;

use super::lists::csrf_of;
use super::*;
use crate::hooks::{Receiver, verify};

/// The value of the read-only field `id` (a secret shown once).
fn secret_on(page: &Reply, id: &str) -> String {
    let at = page
        .text
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("the field {id}: {}", page.text));
    let rest = &page.text[at..];
    let at = rest.find("value=\"").expect("its value") + 7;
    rest[at..].split('"').next().unwrap().to_owned()
}

/// Posts a form of owned fields.
async fn send(b: &mut Browser, path: &str, f: &[(String, String)]) -> Reply {
    let p: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    b.post(path, &p).await
}

async fn api(s: &TestServer, path: &str) -> serde_json::Value {
    s.get(path).await.expect(200).clone()
}

async fn sending_settings(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    let second = s
        .post(
            "/v1/organizers",
            json!({"name": "Second", "address": SECOND}),
        )
        .await
        .expect(201)["organizer"]["id"]
        .as_u64()
        .unwrap();
    let owner_auth = api(&s, "/v1/owner").await["settings"]["inbound_auth"].clone();
    // The demo organizer starts with settings of its own: dropped here.
    s.call(
        Method::PATCH,
        "/v1/organizers/1",
        Some(&s.key),
        Some(json!({"inherit_settings": true})),
    )
    .await
    .expect(200);

    // An organizer: its own settings at once, inherited so far, without
    // the owner's choice of how its mail is checked.
    let mut b = sign_in(&s, ORGANIZER).await;
    let home = b.get("/console").await;
    assert!(home.text.contains("href=\"/console/settings\""), "the nav");
    let page = b.get("/console/settings").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.text.contains("data-inherited=\"yes\""),
        "{}",
        page.text
    );
    assert!(
        page.text
            .contains("action=\"/console/settings/organizers/1\"")
    );
    assert!(!page.text.contains("name=\"inbound_auth\""));
    assert!(page.text.contains("data-setting=\"inbound_auth\""));
    let form = |csrf: &str| -> Vec<(String, String)> {
        [
            ("csrf", csrf),
            ("approval", "on"),
            ("audience", "everyone"),
            ("late_answers", "apply"),
            ("list_unsubscribe", "off"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    };
    // Without its token: refused, nothing changed.
    let r = send(&mut b, "/console/settings/organizers/1", &form("")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert!(api(&s, "/v1/organizers/1").await.get("settings").is_none());
    // Saved: the API reports it.
    let token = csrf_of(&page, "/console/settings/organizers/1");
    let r = send(&mut b, "/console/settings/organizers/1", &form(&token)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(location(&r), "/console/settings/organizers/1?done=saved");
    let o = api(&s, "/v1/organizers/1").await;
    assert_eq!(
        o["settings"],
        json!({"approval": true, "audience": "everyone", "late_answers": "apply",
               "list_unsubscribe": false, "inbound_auth": owner_auth}),
        "{o}"
    );
    let page = b.get(location(&r)).await;
    assert!(page.text.contains("data-done=\"saved\""), "{}", page.text);
    assert!(page.text.contains("data-inherited=\"no\""));
    assert!(
        page.text.contains("value=\"everyone\" checked"),
        "{}",
        page.text
    );
    assert!(
        page.text.contains("data-default=\"audience\""),
        "the owner's value beside"
    );
    // How its mail is checked is the owner's to set.
    let mut forged = form(&csrf_of(&page, "/console/settings/organizers/1"));
    forged.push(("inbound_auth".into(), "allow-list-only".into()));
    let r = send(&mut b, "/console/settings/organizers/1", &forged).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(
        api(&s, "/v1/organizers/1").await["settings"]["inbound_auth"],
        owner_auth
    );
    // A value that is none of the choices: a 400 that says which.
    let page = b.get("/console/settings").await;
    let mut bad = form(&csrf_of(&page, "/console/settings/organizers/1"));
    bad[2].1 = "bogus".into();
    let r = send(&mut b, "/console/settings/organizers/1", &bad).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.text.contains("audience"), "{}", r.text);
    // Another organizer's settings are not found, to read or to save.
    let other = format!("/console/settings/organizers/{second}");
    assert_eq!(b.get(&other).await.status, StatusCode::NOT_FOUND);
    let page = b.get("/console/settings").await;
    let token = csrf_of(&page, "/console/settings/organizers/1");
    let r = b
        .post(
            &other,
            &[
                ("csrf", token.as_str()),
                ("approval", "on"),
                ("audience", "everyone"),
                ("late_answers", "apply"),
                ("list_unsubscribe", "off"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    assert!(
        api(&s, &format!("/v1/organizers/{second}"))
            .await
            .get("settings")
            .is_none()
    );
    // Back to the owner's settings.
    let r = b.post("/console/settings/organizers/1/inherit", &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let token = csrf_of(&page, "/console/settings/organizers/1/inherit");
    let r = b
        .post(
            "/console/settings/organizers/1/inherit",
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(
        location(&r),
        "/console/settings/organizers/1?done=inherited"
    );
    assert!(api(&s, "/v1/organizers/1").await.get("settings").is_none());
    let page = b.get(location(&r)).await;
    assert!(page.text.contains("data-inherited=\"yes\""));
    assert!(!page.text.contains("/inherit\""), "nothing to go back from");

    // The domain owner's administrator: the defaults, which an organizer
    // without settings of its own follows.
    let mut a = sign_in(&s, OWNER_ADMIN).await;
    let page = a.get("/console/settings").await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("data-settings-of=\"owner\""));
    assert!(
        page.text
            .contains("href=\"/console/settings/organizers/1\"")
    );
    assert!(
        page.text
            .contains(&format!("href=\"/console/settings/organizers/{second}\""))
    );
    let r = a
        .post(
            "/console/settings",
            &[
                ("approval", "on"),
                ("audience", "not-declined"),
                ("late_answers", "apply"),
                ("list_unsubscribe", "on"),
                ("inbound_auth", "allow-list-only"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let token = csrf_of(&page, "/console/settings");
    let r = a
        .post(
            "/console/settings",
            &[
                ("csrf", token.as_str()),
                ("approval", "on"),
                ("audience", "not-declined"),
                ("late_answers", "apply"),
                ("list_unsubscribe", "on"),
                ("inbound_auth", "allow-list-only"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(location(&r), "/console/settings?done=saved");
    assert_eq!(
        api(&s, "/v1/owner").await["settings"],
        json!({"approval": true, "audience": "not-declined", "late_answers": "apply",
               "list_unsubscribe": true, "inbound_auth": "allow-list-only"})
    );
    let o = api(&s, "/v1/organizers/1").await;
    assert_eq!(o["effective_settings"]["audience"], "not-declined", "{o}");
    // An organizer's own, with how its mail is checked.
    let page = a.get(&other).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("name=\"inbound_auth\""));
    let token = csrf_of(&page, &other);
    let r = a
        .post(
            &other,
            &[
                ("csrf", token.as_str()),
                ("approval", "off"),
                ("audience", "accepted-or-tentative"),
                ("late_answers", "record-only"),
                ("list_unsubscribe", "on"),
                ("inbound_auth", "dmarc"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let o = api(&s, &format!("/v1/organizers/{second}")).await;
    assert_eq!(o["settings"]["inbound_auth"], "dmarc", "{o}");
    assert_eq!(o["settings"]["approval"], false, "{o}");
    let page = a.get("/console/settings").await;
    assert!(page.text.contains("Its own"), "{}", page.text);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_settings_on_sqlite() {
    sending_settings(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_settings_on_postgres() {
    sending_settings(Db::Postgres).await;
}

async fn api_keys(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    let second = s
        .post(
            "/v1/organizers",
            json!({"name": "Second", "address": SECOND}),
        )
        .await
        .expect(201)["organizer"]["id"]
        .as_u64()
        .unwrap();
    let mut b = sign_in(&s, ORGANIZER).await;
    let list = b.get("/console/settings/keys").await;
    assert_eq!(list.status, 200, "{}", list.text);
    // The organizer makes keys for itself only: no choice offered.
    assert!(!list.text.contains("name=\"organizer\""));
    let r = b
        .post("/console/settings/keys", &[("label", "the shop")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let token = csrf_of(&list, "/console/settings/keys");
    let made = b
        .post(
            "/console/settings/keys",
            &[("csrf", &token), ("label", "the shop")],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.text);
    assert_eq!(made.headers["cache-control"], "no-store");
    let key = secret_on(&made, "new-key");
    assert!(key.starts_with("cik_"), "{key}");
    // It works, as organizer 1's key.
    let mine = s
        .call(Method::GET, "/v1/keys", Some(&key), None)
        .await
        .expect(200)
        .clone();
    let listed = mine.as_array().unwrap();
    assert!(listed.iter().all(|k| k["organizer"] == 1), "{mine}");
    let id = listed
        .iter()
        .find(|k| k["label"] == "the shop")
        .expect("listed")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(key.starts_with(&id));
    // Shown once: no later page has it.
    let list = b.get("/console/settings/keys").await;
    assert!(
        list.text.contains(&format!("data-key=\"{id}\"")),
        "{}",
        list.text
    );
    assert!(list.text.contains("the shop"));
    let page = b.get(&format!("/console/settings/keys/{id}")).await;
    assert_eq!(page.status, 200);
    for p in [&list, &page] {
        assert!(!p.text.contains(&key), "the secret again");
    }
    // Reloading the answer (the same form token again) makes no second key.
    let again = b
        .post(
            "/console/settings/keys",
            &[("csrf", &token), ("label", "the shop")],
        )
        .await;
    assert_eq!(again.status, StatusCode::FORBIDDEN);
    // Another organizer's key: the organizer cannot make one for it.
    let token = csrf_of(&list, "/console/settings/keys");
    let r = b
        .post(
            "/console/settings/keys",
            &[("csrf", token.as_str()), ("organizer", &second.to_string())],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);

    // Another organizer neither sees nor revokes it.
    let mut c = sign_in(&s, SECOND).await;
    let theirs = c.get("/console/settings/keys").await;
    assert!(!theirs.text.contains(&id));
    assert_eq!(
        c.get(&format!("/console/settings/keys/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    let token = csrf_of(&theirs, "/console/settings/keys");
    let own = c
        .post(
            "/console/settings/keys",
            &[("csrf", token.as_str()), ("label", "x")],
        )
        .await;
    let own_key = secret_on(&own, "new-key");
    let keys = s
        .call(Method::GET, "/v1/keys", Some(&own_key), None)
        .await
        .expect(200)
        .clone();
    let own_id = keys.as_array().unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let confirm = c.get(&format!("/console/settings/keys/{own_id}")).await;
    let token = csrf_of(&confirm, &format!("/console/settings/keys/{own_id}/revoke"));
    let r = c
        .post(
            &format!("/console/settings/keys/{id}/revoke"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    assert_eq!(
        s.call(Method::GET, "/v1/keys", Some(&key), None)
            .await
            .status,
        200,
        "still working"
    );

    // Revoked after its page asks to confirm, with the form's token.
    let revoke = format!("/console/settings/keys/{id}/revoke");
    let r = b.post(&revoke, &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let token = csrf_of(&page, &revoke);
    let r = b.post(&revoke, &[("csrf", &token)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(location(&r), "/console/settings/keys?done=revoked");
    let list = b.get(location(&r)).await;
    assert!(list.text.contains("data-done=\"revoked\""));
    assert!(
        list.text.contains("data-key-state=\"revoked\""),
        "{}",
        list.text
    );
    assert_eq!(
        s.call(Method::GET, "/v1/keys", Some(&key), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let all = api(&s, "/v1/keys").await;
    let k = all
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap()
        .clone();
    assert!(k["revoked_at"].is_string(), "{k}");
    // A revoked key's page offers nothing more.
    let page = b.get(&format!("/console/settings/keys/{id}")).await;
    assert!(!page.text.contains(&revoke), "{}", page.text);

    // The domain owner's administrator sees every key of the owner, and
    // makes a key of the whole domain owner.
    let mut a = sign_in(&s, OWNER_ADMIN).await;
    let list = a.get("/console/settings/keys").await;
    assert!(list.text.contains(&format!("data-key=\"{id}\"")));
    assert!(list.text.contains(&format!("data-key=\"{own_id}\"")));
    assert!(list.text.contains("name=\"organizer\""));
    let token = csrf_of(&list, "/console/settings/keys");
    let made = a
        .post(
            "/console/settings/keys",
            &[
                ("csrf", token.as_str()),
                ("label", "ops"),
                ("organizer", ""),
            ],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.text);
    let key = secret_on(&made, "new-key");
    let me = s.call(Method::GET, "/v1/keys", Some(&key), None).await;
    let ops = me
        .expect(200)
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["label"] == "ops")
        .unwrap()
        .clone();
    assert!(
        ops.get("organizer").is_none(),
        "a domain owner's key: {ops}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_on_sqlite() {
    api_keys(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_on_postgres() {
    api_keys(Db::Postgres).await;
}

async fn webhook_endpoints(db: Db) {
    let s = TestServer::start(db, |c| c.webhooks.allow_private_targets = true).await;
    s.post(
        "/v1/organizers",
        json!({"name": "Second", "address": SECOND}),
    )
    .await
    .expect(201);
    let hook = Receiver::start().await;
    let mut b = sign_in(&s, ORGANIZER).await;
    let list = b.get("/console/settings/webhooks").await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert!(list.text.contains("data-empty=\"webhooks\""));
    let fields = |csrf: &str| {
        vec![
            ("csrf".to_owned(), csrf.to_owned()),
            ("url".to_owned(), hook.url.clone()),
            ("description".to_owned(), "the shop".to_owned()),
            ("types".to_owned(), "delivery.sent".to_owned()),
        ]
    };
    let r = send(&mut b, "/console/settings/webhooks", &fields("")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // A URL that is none: a 400 that says why, nothing registered.
    let mut bad = fields(&csrf_of(&list, "/console/settings/webhooks"));
    bad[1].1 = "ftp://example.com/x".into();
    let r = send(&mut b, "/console/settings/webhooks", &bad).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(
        api(&s, "/v1/webhooks").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let list = b.get("/console/settings/webhooks").await;
    let made = send(
        &mut b,
        "/console/settings/webhooks",
        &fields(&csrf_of(&list, "/console/settings/webhooks")),
    )
    .await;
    assert_eq!(made.status, 200, "{}", made.text);
    let secret = secret_on(&made, "new-secret");
    assert!(secret.starts_with("whsec_"), "{secret}");
    let items = api(&s, "/v1/webhooks").await["items"].clone();
    let w = &items[0];
    assert_eq!(w["organizer"], 1, "{w}");
    assert_eq!(w["types"], json!(["delivery.sent"]));
    assert_eq!(w["description"], "the shop");
    let id = w["id"].as_str().unwrap().to_owned();
    let base = format!("/console/settings/webhooks/{id}");

    // What is posted is signed with the secret shown.
    crate::webhooks::invite(&s, &s.event, "hooked@example.net").await;
    let posts = hook.wait_for(1).await;
    assert_eq!(verify(&[(&posts[0], &[secret.as_str()])]), vec![vec![0]]);
    // The delivery log shows it.
    let mut log = b.get(&format!("{base}/deliveries")).await;
    for _ in 0..120 {
        if log.text.contains("data-delivery-state=\"sent\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        log = b.get(&format!("{base}/deliveries")).await;
    }
    assert_eq!(log.status, 200);
    assert!(log.text.contains("delivery.sent"));
    assert!(log.text.contains("data-attempts=\"1\""), "{}", log.text);
    assert!(
        log.text.contains(">200<"),
        "the answer's status: {}",
        log.text
    );
    // The log comes 50 messages a page, newest first: 55 older ones more.
    let values: Vec<String> = (0..55)
        .map(|i| {
            format!(
                "('{id}', {}, 'msg_older_{i:02}', 'delivery.sent', '{{}}', 'sent', 1, 0, {}, {})",
                1_000_000 + i,
                1_000_000 + i,
                1_000_000 + i
            )
        })
        .collect();
    sql(
        &s,
        &format!(
            "INSERT INTO invite_server_webhook_messages (endpoint, announcement, msg_id, kind, \
             payload, state, attempts, due, created_at, done_at) VALUES {}",
            values.join(", ")
        ),
    )
    .await;
    let first = b.get(&format!("{base}/deliveries")).await;
    assert_eq!(first.text.matches("data-delivery=").count(), 50);
    let next = super::next_href(&first).expect("a link to older messages");
    let second = b.get(&next).await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(second.text.matches("data-delivery=").count(), 6);
    assert!(super::next_href(&second).is_none());
    // In the order written: the first message, posted for real, comes last.
    assert!(second.text.contains(">200<") && !first.text.contains(">200<"));
    for i in 0..55 {
        let row = format!("data-delivery=\"msg_older_{i:02}\"");
        assert_eq!(
            first.text.matches(&row).count() + second.text.matches(&row).count(),
            1,
            "{row}"
        );
    }
    // Shown once: no later page has the secret.
    let list = b.get("/console/settings/webhooks").await;
    let one = b.get(&base).await;
    assert_eq!(one.status, 200);
    for p in [&list, &one, &log] {
        assert!(!p.text.contains(&secret), "the secret again");
    }
    assert!(list.text.contains(&format!("data-webhook=\"{id}\"")));

    // Disabled and enabled again, each with its token.
    let r = b.post(&format!("{base}/disable"), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = b
        .post(
            &format!("{base}/disable"),
            &[("csrf", &csrf_of(&one, &format!("{base}/disable")))],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(location(&r), format!("{base}?done=disabled"));
    assert_eq!(
        api(&s, &format!("/v1/webhooks/{id}")).await["enabled"],
        false
    );
    // The reason says it was the console, and who: the signed-in address.
    let said = format!("disabled in the console by {ORGANIZER}");
    assert_eq!(
        api(&s, &format!("/v1/webhooks/{id}")).await["disabled_reason"],
        said.as_str()
    );
    let one = b.get(location(&r)).await;
    assert!(one.text.contains("data-done=\"disabled\""));
    assert!(one.text.contains(&said), "{}", one.text);
    assert!(!one.text.contains("disabled by key"), "{}", one.text);
    let r = b
        .post(
            &format!("{base}/enable"),
            &[("csrf", &csrf_of(&one, &format!("{base}/enable")))],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(
        api(&s, &format!("/v1/webhooks/{id}")).await["enabled"],
        true
    );
    assert!(api(&s, &format!("/v1/webhooks/{id}")).await["disabled_reason"].is_null());
    // Disabled through the API, the reason names the key; enabled again.
    let hook = format!("/v1/webhooks/{id}");
    let key = Some(s.key.as_str());
    let r = s
        .call(Method::PATCH, &hook, key, Some(json!({"enabled": false})))
        .await
        .expect(200)
        .clone();
    let reason = r["disabled_reason"].as_str().expect("a reason").to_owned();
    assert!(reason.starts_with("disabled by key "), "{reason}");
    assert!(!reason.contains("console"), "{reason}");
    s.call(Method::PATCH, &hook, key, Some(json!({"enabled": true})))
        .await
        .expect(200);

    // A new secret, shown once; the previous one stops at once when asked.
    let one = b.get(&base).await;
    let rotate = format!("{base}/rotate");
    let r = b.post(&rotate, &[("keep_previous_seconds", "0")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let rotated = b
        .post(
            &rotate,
            &[
                ("csrf", csrf_of(&one, &rotate).as_str()),
                ("keep_previous_seconds", "0"),
            ],
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let new_secret = secret_on(&rotated, "new-secret");
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    let w = api(&s, &format!("/v1/webhooks/{id}")).await;
    assert!(w.get("previous_secret_expires_at").is_none(), "{w}");
    assert!(!b.get(&base).await.text.contains(&new_secret));

    // Another organizer finds none of it.
    let mut c = sign_in(&s, SECOND).await;
    let theirs = c.get("/console/settings/webhooks").await;
    assert!(!theirs.text.contains(&id));
    for path in [
        base.clone(),
        format!("{base}/deliveries"),
        format!("{base}/delete"),
    ] {
        assert_eq!(c.get(&path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    let own = send(
        &mut c,
        "/console/settings/webhooks",
        &fields(&csrf_of(&theirs, "/console/settings/webhooks")),
    )
    .await;
    assert_eq!(own.status, 200, "{}", own.text);
    let theirs = api(&s, "/v1/webhooks").await["items"].clone();
    let own_id = theirs
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] != id.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let own_base = format!("/console/settings/webhooks/{own_id}");
    let confirm = c.get(&format!("{own_base}/delete")).await;
    let token = csrf_of(&confirm, &format!("{own_base}/delete"));
    let r = c.post(&format!("{base}/delete"), &[("csrf", &token)]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let page = c.get(&own_base).await;
    let r = c
        .post(
            &format!("{base}/disable"),
            &[("csrf", &csrf_of(&page, &format!("{own_base}/disable")))],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    assert_eq!(
        api(&s, &format!("/v1/webhooks/{id}")).await["enabled"],
        true
    );

    // Deleted after its page asks to confirm.
    let confirm = b.get(&format!("{base}/delete")).await;
    assert_eq!(confirm.status, 200);
    let r = b.post(&format!("{base}/delete"), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = b
        .post(
            &format!("{base}/delete"),
            &[("csrf", &csrf_of(&confirm, &format!("{base}/delete")))],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(location(&r), "/console/settings/webhooks?done=deleted");
    assert_eq!(s.get(&format!("/v1/webhooks/{id}")).await.status, 404);
    assert_eq!(b.get(&base).await.status, StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_endpoints_on_sqlite() {
    webhook_endpoints(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_endpoints_on_postgres() {
    webhook_endpoints(Db::Postgres).await;
}
