//! Keys and tenancy: no key is 401, a revoked key is refused at once, and
//! every resource of another tenant is 404 — on every endpoint, for
//! another domain owner's key and for another organizer's key of the same
//! owner — while its own tenant's key reaches it.

use invite_server::Opened;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Db, TestServer};

/// Two tenants' worth of resources: for each, a key and the ids its
/// endpoints take.
struct Tenant {
    key: String,
    organizer: u64,
    event: String,
    guest: String,
    list: String,
    pending: String,
    key_id: String,
    webhook: String,
    page: String,
}

/// Builds one tenant under the owner whose key is `owner_key`: an
/// organizer with the approval switch on and its own key, an event with a
/// guest, a list, and a pending change.
async fn tenant(s: &TestServer, owner_key: &str, tag: &str) -> Tenant {
    let org = s
        .call(
            Method::POST,
            "/v1/organizers",
            Some(owner_key),
            Some(json!({
                "name": format!("Organizer {tag}"),
                "address": format!("organizer.{tag}@example.com"),
                "settings": {"approval": true},
                "create_key": true,
            })),
        )
        .await;
    let org = org.expect(201).clone();
    let organizer = org["organizer"]["id"].as_u64().unwrap();
    let key = org["key"]["key"].as_str().unwrap().to_owned();
    let key_id = org["key"]["id"].as_str().unwrap().to_owned();
    let event = s
        .call(
            Method::POST,
            "/v1/events",
            Some(&key),
            Some(json!({"summary": format!("Event {tag}"), "start": "2036-03-01T10:00", "end": "2036-03-01T11:00", "time_zone": "Europe/Berlin"})),
        )
        .await;
    let event = event.expect(201)["code"].as_str().unwrap().to_owned();
    let guest = format!("guest.{tag}@example.net");
    s.call(
        Method::POST,
        &format!("/v1/events/{event}/invitations"),
        Some(&key),
        Some(json!({"address": guest})),
    )
    .await
    .expect(201);
    let list = s
        .client
        .post(format!("{}/v1/events/{event}/lists?name=l{tag}", s.base))
        .bearer_auth(&key)
        .header("content-type", "text/csv")
        .body(format!("email\nlist.{tag}@example.net\n"))
        .send()
        .await
        .unwrap();
    let list = crate::common::Reply::from(list).await;
    let list = list.expect(202)["id"].as_str().unwrap().to_owned();
    let change = s
        .call(
            Method::PATCH,
            &format!("/v1/events/{event}"),
            Some(&key),
            Some(json!({"location": "Room 2"})),
        )
        .await;
    let change = change.expect(200).clone();
    assert_eq!(change["outcome"], "pending-approval", "{change}");
    let pending = change["pending_change"].as_str().unwrap().to_owned();
    // A public address (an IP literal: nothing to resolve), for a type
    // that never happens here: nothing is ever posted to it.
    let webhook = s
        .call(
            Method::POST,
            "/v1/webhooks",
            Some(&key),
            Some(json!({"url": "https://8.8.8.8/calinvite", "types": ["delivery.complaint"]})),
        )
        .await;
    let webhook = webhook.expect(201)["webhook"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = format!("page-{}", tag.to_ascii_lowercase());
    s.call(
        Method::POST,
        "/v1/pages",
        Some(&key),
        Some(json!({"slug": page, "title": format!("Page {tag}"), "events": [event]})),
    )
    .await
    .expect(201);
    Tenant {
        key,
        organizer,
        event,
        guest,
        list,
        pending,
        key_id,
        webhook,
        page,
    }
}

/// Every endpoint that names a tenant's resource, for tenant `t`: method,
/// path, body.
fn requests(t: &Tenant) -> Vec<(Method, String, Option<Value>)> {
    let (e, g, l, p, o, w) = (
        &t.event,
        &t.guest,
        &t.list,
        &t.pending,
        t.organizer,
        &t.webhook,
    );
    vec![
        (Method::GET, format!("/v1/organizers/{o}"), None),
        (
            Method::PATCH,
            format!("/v1/organizers/{o}"),
            Some(json!({"name": "x"})),
        ),
        (Method::GET, format!("/v1/organizers/{o}/report"), None),
        (Method::GET, format!("/v1/events?organizer={o}"), None),
        (Method::GET, format!("/v1/pending?organizer={o}"), None),
        (
            Method::POST,
            "/v1/events".to_owned(),
            Some(
                json!({"organizer": o, "summary": "x", "start": "2036-01-01", "end": "2036-01-01"}),
            ),
        ),
        (
            Method::POST,
            "/v1/keys".to_owned(),
            Some(json!({"organizer": o})),
        ),
        (Method::GET, format!("/v1/events/{e}"), None),
        (
            Method::PATCH,
            format!("/v1/events/{e}"),
            Some(json!({"description": "x"})),
        ),
        (Method::GET, format!("/v1/events/{e}/invitations"), None),
        (
            Method::POST,
            format!("/v1/events/{e}/invitations"),
            Some(json!({"address": "intruder@example.net"})),
        ),
        (Method::GET, format!("/v1/events/{e}/invitations/{g}"), None),
        (Method::GET, format!("/v1/events/{e}/lists"), None),
        (Method::GET, format!("/v1/events/{e}/pending"), None),
        (Method::GET, format!("/v1/events/{e}/report"), None),
        (
            Method::GET,
            format!("/v1/events/{e}/report?format=csv"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/events/{e}/report/mail"),
            Some(json!({})),
        ),
        (Method::GET, format!("/v1/lists/{l}"), None),
        (Method::GET, format!("/v1/lists/{l}/rows"), None),
        (Method::POST, format!("/v1/lists/{l}/pause"), None),
        (Method::POST, format!("/v1/lists/{l}/resume"), None),
        (Method::GET, format!("/v1/pending/{p}"), None),
        (Method::POST, format!("/v1/pending/{p}/reject"), None),
        (Method::POST, format!("/v1/events/{e}/cancel"), None),
        (
            Method::POST,
            "/v1/webhooks".to_owned(),
            Some(
                json!({"url": "https://8.8.8.8/x", "organizer": o, "types": ["delivery.complaint"]}),
            ),
        ),
        (Method::GET, format!("/v1/webhooks/{w}"), None),
        (
            Method::PATCH,
            format!("/v1/webhooks/{w}"),
            Some(json!({"description": "x"})),
        ),
        (Method::GET, format!("/v1/webhooks/{w}/deliveries"), None),
        (Method::POST, format!("/v1/webhooks/{w}/rotate"), None),
        (Method::DELETE, format!("/v1/webhooks/{w}"), None),
        (Method::GET, format!("/v1/pages/{}", t.page), None),
        (
            Method::PATCH,
            format!("/v1/pages/{}", t.page),
            Some(json!({"title": "x"})),
        ),
        (
            Method::POST,
            "/v1/pages".to_owned(),
            Some(json!({"slug": format!("{}-x", t.page), "organizer": o, "title": "x"})),
        ),
        (Method::GET, format!("/v1/events/{e}/display"), None),
        (
            Method::PUT,
            format!("/v1/events/{e}/display"),
            Some(json!({"text": "x"})),
        ),
        (Method::DELETE, format!("/v1/pages/{}", t.page), None),
        (Method::DELETE, format!("/v1/keys/{}", t.key_id), None),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_resources_do_not_exist_on_sqlite() {
    another_tenants_resources_do_not_exist(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_resources_do_not_exist_on_postgres() {
    another_tenants_resources_do_not_exist(Db::Postgres).await;
}

async fn another_tenants_resources_do_not_exist(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    let owner1 = s.key.clone();
    // A second domain owner, made as an operator would.
    let opened = Opened {
        pipeline: s.server().state().pipeline().clone(),
        db: s.server().state().db().clone(),
    };
    let (_, owner2) = invite_server::admin::add_owner(&opened, "other.test", "Other Owner")
        .await
        .unwrap();
    let owner2 = owner2.key;
    let a = tenant(&s, &owner1, "a").await;
    let b = tenant(&s, &owner1, "b").await;
    let c = tenant(&s, &owner2, "c").await;

    // Each of a's resources, through each key that is not a's: 404 (the
    // same answer as for something that does not exist) — never 403, never
    // the data. Then a's own key reaches it, so the 404s mean something.
    for (method, path, body) in requests(&a) {
        for (who, key) in [
            ("organizer b", &b.key),
            ("owner 2", &owner2),
            ("organizer c", &c.key),
        ] {
            let r = s.call(method.clone(), &path, Some(key), body.clone()).await;
            r.problem(404);
            assert!(
                !r.text.contains(&a.guest),
                "{who} {method} {path} shows a's data: {}",
                r.text
            );
        }
    }
    for (method, path, body) in requests(&a) {
        let r = s
            .call(method.clone(), &path, Some(&a.key), body.clone())
            .await;
        assert!(
            r.status.is_success(),
            "a's own key: {method} {path}: {} {}",
            r.status,
            r.text
        );
    }
    // The domain owner's key sees its organizers' resources.
    let r = s.get(&format!("/v1/events/{}", b.event)).await;
    r.expect(200);
    // Lists of everything show only one's own.
    for (key, own, other) in [(&b.key, &b.event, &a.event), (&owner2, &c.event, &a.event)] {
        let page = s.call(Method::GET, "/v1/events", Some(key), None).await;
        let text = &page.text;
        page.expect(200);
        assert!(
            text.contains(own.as_str()) && !text.contains(other.as_str()),
            "{text}"
        );
    }
    for (key, own, other) in [(&b.key, &b.page, &a.page), (&owner2, &c.page, &b.page)] {
        let pages = s.call(Method::GET, "/v1/pages", Some(key), None).await;
        let text = &pages.text;
        pages.expect(200);
        assert!(
            text.contains(own.as_str()) && !text.contains(other.as_str()),
            "{text}"
        );
    }
    let keys = s.call(Method::GET, "/v1/keys", Some(&b.key), None).await;
    let keys = keys.expect(200).as_array().unwrap().clone();
    assert!(
        keys.iter().all(|k| k["organizer"] == b.organizer),
        "{keys:?}"
    );
    assert!(
        keys.iter().all(|k| k.get("key").is_none()),
        "a listed key shows no secret"
    );
    // Webhook endpoints: an organizer lists its own, never a secret.
    let hooks = s
        .call(Method::GET, "/v1/webhooks", Some(&b.key), None)
        .await;
    let hooks = hooks.expect(200)["items"].as_array().unwrap().clone();
    assert!(!hooks.is_empty());
    assert!(
        hooks
            .iter()
            .all(|h| h["organizer"] == b.organizer && h.get("secret").is_none()),
        "{hooks:?}"
    );
    let hooks = s
        .call(Method::GET, "/v1/webhooks", Some(&owner2), None)
        .await;
    assert!(!hooks.text.contains(&b.webhook), "{}", hooks.text);
    s.stop().await;
}

/// A webhook endpoint may not be on this machine or its networks: loopback,
/// private, link-local, unique-local and other non-public addresses —
/// literal, IPv4-mapped, or a name that resolves to one — are refused with
/// a 400 naming `/url`, and so are other schemes and URLs with credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_targets_on_private_addresses_are_refused() {
    let s = TestServer::start(Db::Sqlite, |_| {}).await;
    for (url, why) in [
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://localhost:8080/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("http://2130706433/hook", "loopback"),
        ("http://10.1.2.3/hook", "private"),
        ("http://192.168.0.10/hook", "private"),
        ("http://172.20.0.1/hook", "private"),
        ("http://100.64.0.1/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://[fd00::1]/hook", "unique-local"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://[::]/hook", "unspecified"),
        ("http://224.0.0.1/hook", "multicast"),
        ("ftp://8.8.8.8/hook", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("gopher://8.8.8.8/", "scheme"),
        ("https://user:secret@8.8.8.8/hook", "password"),
        ("https://no-such-host.invalid/hook", "does not resolve"),
    ] {
        let r = s.post("/v1/webhooks", json!({"url": url})).await;
        let p = r.problem(400);
        assert_eq!(p["errors"][0]["pointer"], "/url", "{url}: {p}");
        assert!(
            p["detail"].as_str().unwrap().contains(why),
            "{url}: {}",
            p["detail"]
        );
    }
    // Changing an endpoint's URL is checked the same way.
    let made = s
        .post(
            "/v1/webhooks",
            json!({"url": "https://8.8.8.8/hook", "types": ["delivery.complaint"]}),
        )
        .await;
    let id = made.expect(201)["webhook"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s
        .call(
            Method::PATCH,
            &format!("/v1/webhooks/{id}"),
            Some(&s.key),
            Some(json!({"url": "http://127.0.0.1/hook"})),
        )
        .await;
    assert_eq!(r.problem(400)["errors"][0]["pointer"], "/url");
    let listed = s.get("/v1/webhooks").await;
    assert!(listed.text.contains("https://8.8.8.8/hook"));
    assert!(!listed.text.contains("127.0.0.1"));
    s.stop().await;
}

/// The address rule holds at send time too, on the addresses the client
/// resolves and connects to: an endpoint registered while private targets
/// were allowed is refused once they are not (the server restarted with
/// the stricter setting), before any connection; the delivery log says
/// why, and the receiver gets nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_targets_are_checked_again_when_sent() {
    use crate::hooks::Receiver;
    let (mut c, dir, schema) = crate::common::config(Db::Sqlite, "wh");
    c.webhooks.allow_private_targets = true;
    let first = TestServer::start_with(c.clone(), dir.clone(), schema).await;
    let hook = Receiver::start().await;
    // A name, so that the guard in the client's resolver is what refuses
    // it (a name may resolve elsewhere by the time it is used).
    let url = hook.url.replace("127.0.0.1", "localhost");
    let (id, _) = crate::webhooks::register(&first, &url, &["delivery.sent"]).await;
    let key = first.key.clone();
    let mut first = first;
    first.server.take().unwrap().shutdown().await;

    c.webhooks.allow_private_targets = false;
    c.webhooks.retry_schedule_seconds = vec![1, 1];
    let server = invite_server::RunningServer::start(c).await.unwrap();
    let base = format!("http://{}", server.http_addr());
    let call = |method: Method, path: String, body: Option<Value>| {
        let mut r = first
            .client
            .request(method, format!("{base}{path}"))
            .bearer_auth(&key);
        if let Some(b) = body {
            r = r.json(&b);
        }
        async move { crate::common::Reply::from(r.send().await.unwrap()).await }
    };
    let event = server.demo().unwrap().event.clone();
    call(
        Method::POST,
        format!("/v1/events/{event}/invitations"),
        Some(json!({"address": "strict@example.net"})),
    )
    .await
    .expect(201);
    let log = crate::common::eventually("the message given up", || async {
        let r = call(Method::GET, format!("/v1/webhooks/{id}/deliveries"), None).await;
        let items = r.expect(200)["items"].as_array().unwrap().clone();
        items.first().filter(|m| m["state"] == "failed").cloned()
    })
    .await;
    let attempts = log["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3, "{log}");
    for a in attempts {
        assert!(a.get("status").is_none(), "{a}");
        assert_eq!(
            a["error"],
            "refused: localhost resolves to 127.0.0.1, a loopback address; webhooks go to public addresses only",
            "{a}"
        );
    }
    assert!(hook.posts().is_empty(), "nothing reached the receiver");
    let m = call(Method::GET, "/metrics".into(), None).await;
    assert!(
        m.text
            .contains("calinvite_webhook_attempts_total{result=\"refused\"} 3"),
        "{}",
        m.text
    );
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_valid_key_nothing_is_answered() {
    let s = TestServer::start(Db::Sqlite, |_| {}).await;
    let e = s.event.clone();
    let paths = [
        (Method::GET, "/v1/owner".to_owned()),
        (Method::GET, "/v1/organizers".to_owned()),
        (Method::GET, "/v1/events".to_owned()),
        (Method::GET, format!("/v1/events/{e}")),
        (Method::POST, format!("/v1/events/{e}/invitations")),
        (Method::GET, format!("/v1/events/{e}/report")),
        (Method::GET, "/v1/pending".to_owned()),
        (Method::GET, "/v1/suppressions".to_owned()),
        (Method::GET, "/v1/refusals".to_owned()),
        (Method::GET, "/v1/keys".to_owned()),
        (Method::GET, "/v1/lists/anything".to_owned()),
    ];
    let well_formed_unknown =
        "cik_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned();
    let mut tampered = s.key.clone();
    tampered.pop();
    tampered.push(if s.key.ends_with('A') { 'B' } else { 'A' });
    for (method, path) in &paths {
        let r = s.call(method.clone(), path, None, None).await;
        r.problem(401);
        assert_eq!(
            r.headers.get("www-authenticate").unwrap(),
            "Bearer realm=\"calinvite\""
        );
        for bad in ["not-a-key", well_formed_unknown.as_str(), tampered.as_str()] {
            s.call(method.clone(), path, Some(bad), None)
                .await
                .problem(401);
        }
        let basic = s
            .client
            .request(method.clone(), format!("{}{path}", s.base))
            .header("authorization", "Basic dXNlcjpwYXNz")
            .send()
            .await
            .unwrap();
        crate::common::Reply::from(basic).await.problem(401);
    }
    // Operations need no key.
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/problems/validation",
    ] {
        let r = s.call(Method::GET, path, None, None).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_is_refused_at_once() {
    let s = TestServer::start(Db::Sqlite, |_| {}).await;
    let made = s.post("/v1/keys", json!({"label": "integration"})).await;
    let made = made.expect(201).clone();
    let key = made["key"].as_str().unwrap().to_owned();
    let id = made["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with(&format!("{id}_")));
    s.call(Method::GET, "/v1/events", Some(&key), None)
        .await
        .expect(200);
    let listed = s.get("/v1/keys").await;
    assert!(listed.text.contains(&id) && !listed.text.contains(&key));
    s.call(
        Method::DELETE,
        &format!("/v1/keys/{id}"),
        Some(&s.key),
        None,
    )
    .await
    .expect(204);
    s.call(Method::GET, "/v1/events", Some(&key), None)
        .await
        .problem(401);
    // Revoking twice: it is gone.
    s.call(
        Method::DELETE,
        &format!("/v1/keys/{id}"),
        Some(&s.key),
        None,
    )
    .await
    .problem(404);
    // An organizer's key cannot make a domain owner's key.
    let org = s
        .post(
            "/v1/organizers",
            json!({"name": "O", "address": "o@example.com", "create_key": true}),
        )
        .await;
    let org_key = org.expect(201)["key"]["key"].as_str().unwrap().to_owned();
    let r = s
        .call(Method::POST, "/v1/keys", Some(&org_key), Some(json!({})))
        .await;
    r.problem(403);
    s.call(Method::GET, "/v1/suppressions", Some(&org_key), None)
        .await
        .problem(403);
    s.call(Method::GET, "/v1/owner/report", Some(&org_key), None)
        .await
        .problem(403);
    // An organizer may rename itself, but not choose who sends as it or
    // how that mail is checked.
    let path = "/v1/organizers/2";
    s.call(
        Method::PATCH,
        path,
        Some(&org_key),
        Some(json!({"name": "Renamed"})),
    )
    .await
    .expect(200);
    for patch in [
        json!({"addresses": ["ceo@bigcorp.example"]}),
        json!({"domains": ["bigcorp.example"]}),
        json!({"settings": {"inbound_auth": "allow-list-only"}}),
    ] {
        s.call(Method::PATCH, path, Some(&org_key), Some(patch.clone()))
            .await
            .problem(403);
        s.call(Method::PATCH, path, Some(&s.key.clone()), Some(patch))
            .await
            .expect(200);
    }
    s.stop().await;
}
