//! Organizers who are not registered yet, against the running server over
//! real SMTP and HTTP: an invitation from an unregistered address is held
//! (no event), a DMARC-proven sender gets one sign-in link (captured like
//! any mail), the link's page changes nothing until its form is posted with
//! its CSRF value, and posting registers the address and turns the held
//! invitations into events; no mail without a DMARC pass; the domain owner
//! registering an address releases its invitations too (a forged one is
//! refused then); used and expired links are refused; expiry purges.
//!
//! The listener takes its verdicts from an `Authentication-Results` header
//! of a trusted authserv-id (`[smtp] verify = "authentication-results"`),
//! as behind a filtering gateway: each test writes the header a gateway
//! would.

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Connection as _;

use crate::common::{Db, Reply, TestServer, captured, eventually, postgres_url, unique};
use crate::mail;

const GATEWAY: &str = "mx.gateway.test";
const INGEST: &str = "create@invites.localhost";

async fn start(db: Db, tweak: impl FnOnce(&mut invite_server::Config)) -> TestServer {
    TestServer::start(db, |c| {
        c.smtp.verify = invite_server::config::Verify::AuthenticationResults;
        c.smtp.trusted_authserv_id = Some(GATEWAY.into());
        tweak(c);
    })
    .await
}

/// A fresh sender address.
fn sender(label: &str) -> String {
    format!("{}@newcomer.example", unique(label).to_ascii_lowercase())
}

/// The organizer's calendar's REQUEST from `from`, as the gateway passes it
/// on: with its results for `from`'s domain (`None`: no header at all).
fn request(from: &str, uid: &str, title: &str, dmarc: Option<&str>) -> Vec<u8> {
    let body = mail::organizer_request(from, INGEST, uid, 0, "20361012", title);
    let Some(dmarc) = dmarc else { return body };
    let domain = from.rsplit_once('@').unwrap().1;
    let aligned = if dmarc == "pass" { "pass" } else { "fail" };
    let mut m = format!(
        "Authentication-Results: {GATEWAY};\r\n\tspf={aligned} smtp.mailfrom={domain};\r\n\
         \tdkim={aligned} header.d={domain};\r\n\tdmarc={dmarc} header.from={domain}\r\n"
    )
    .into_bytes();
    m.extend_from_slice(&body);
    m
}

async fn submit(s: &TestServer, from: &str, message: &[u8]) {
    let smtp = s.server().smtp_addr().unwrap();
    mail::send(
        "127.0.0.1",
        smtp.port(),
        "newcomer.example",
        from,
        INGEST,
        message,
    )
    .await;
}

/// Submits expecting a refusal; the reply's text.
async fn submit_refused(s: &TestServer, from: &str, message: &[u8]) -> String {
    let smtp = s.server().smtp_addr().unwrap();
    let relay = calinvite_smtp::relay::SmtpRelay::new(
        calinvite_smtp::relay::RelayConfig::plaintext("127.0.0.1", smtp.port())
            .helo_name("newcomer.example"),
    )
    .unwrap();
    let sent = calinvite_core::lifecycle::Transport::send_raw(
        &relay,
        &calinvite_core::Envelope::new(
            calinvite_core::EmailAddress::parse(from).unwrap(),
            calinvite_core::EmailAddress::parse(INGEST).unwrap(),
        ),
        message,
    )
    .await;
    relay.close().await;
    let e = sent.expect_err("the listener refuses it");
    assert!(e.is_permanent(), "{e}");
    e.to_string()
}

async fn metrics(s: &TestServer) -> String {
    s.call(Method::GET, "/metrics", None, None).await.text
}

/// Waits until the worker has sent everything queued.
async fn queue_drained(s: &TestServer) {
    eventually("the queue drained", || async {
        let m = metrics(s).await;
        (m.contains("calinvite_queue_messages{state=\"queued\"} 0")
            && m.contains("calinvite_queue_messages{state=\"leased\"} 0"))
        .then_some(())
    })
    .await;
}

fn items(r: &Reply) -> Vec<Value> {
    r.expect(200)["items"].as_array().unwrap().clone()
}

async fn held(s: &TestServer) -> Vec<Value> {
    items(&s.get("/v1/held").await)
}

async fn events_titled(s: &TestServer, title: &str) -> Vec<Value> {
    items(&s.get("/v1/events").await)
        .into_iter()
        .filter(|e| e["summary"] == title)
        .collect()
}

/// The sign-in link's token in the (one) mail captured for `address`.
fn link_token(s: &TestServer, address: &str) -> String {
    let mails = captured(&s.dir, address);
    assert_eq!(mails.len(), 1, "one mail to {address}");
    let parsed = mail_parser::MessageParser::default()
        .parse(&mails[0][..])
        .unwrap();
    let text = parsed.body_text(0).unwrap().into_owned();
    let at = text.find("/register/").expect("a sign-in link in the mail");
    let token: String = text[at + "/register/".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert_eq!(token.len(), 43, "{text}");
    assert!(
        text.contains(&format!("{}/register/{token}", s.base)),
        "the link is the server's: {text}"
    );
    token
}

async fn page(s: &TestServer, token: &str) -> Reply {
    let r = s
        .client
        .get(format!("{}/register/{token}", s.base))
        .send()
        .await
        .unwrap();
    Reply::from(r).await
}

/// The page's CSRF value, from its form and from its cookie.
fn csrf(page: &Reply) -> (String, String) {
    let at = page.text.find("name=\"csrf\" value=\"").unwrap() + 19;
    let field = page.text[at..].split('"').next().unwrap().to_owned();
    let cookie = page
        .headers
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let value = cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    (field, value)
}

async fn post(s: &TestServer, token: &str, field: Option<&str>, cookie: Option<&str>) -> Reply {
    let mut r = s
        .client
        .post(format!("{}/register/{token}", s.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(field.map(|f| format!("csrf={f}")).unwrap_or_default());
    if let Some(c) = cookie {
        r = r.header("cookie", format!("calinvite_register_csrf={c}"));
    }
    Reply::from(r.send().await.unwrap()).await
}

/// What the API shows of the domain owner: organizers, held, events.
async fn snapshot(s: &TestServer) -> (Value, Value, Value) {
    (
        s.get("/v1/organizers").await.expect(200).clone(),
        s.get("/v1/held").await.expect(200).clone(),
        s.get("/v1/events").await.expect(200).clone(),
    )
}

/// A connection to the server's database.
async fn connect(s: &TestServer) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    let url = match &s.schema {
        None => format!("sqlite://{}", s.dir.join("calinvite.db").display()),
        Some(_) => postgres_url(),
    };
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    if let Some(schema) = &s.schema {
        sqlx::query(sqlx::AssertSqlSafe(format!("SET search_path TO {schema}")))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn
}

/// Runs `statement` on the server's database (to move time forward).
async fn sql(s: &TestServer, statement: &str) {
    let mut conn = connect(s).await;
    sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

/// The first column of every row `query` reads, as text.
async fn sql_text(s: &TestServer, query: &str) -> Vec<String> {
    use sqlx::Row as _;
    let mut conn = connect(s).await;
    let rows = sqlx::query(sqlx::AssertSqlSafe(query.to_owned()))
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    rows.iter().map(|r| r.get::<String, _>(0)).collect()
}

async fn held_then_registered_by_link(db: Db) {
    let s = start(db, |_| {}).await;
    let ana = sender("ana");
    let uid1 = format!("{}@newcomer.example", unique("u1"));
    submit(&s, &ana, &request(&ana, &uid1, "First held", Some("pass"))).await;

    // Held: no event, one held invitation, the refusal logged as it was.
    assert!(events_titled(&s, "First held").await.is_empty());
    let h = held(&s).await;
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0]["address"], ana.as_str());
    assert_eq!(h[0]["summary"], "First held");
    assert_eq!(h[0]["dmarc"], "pass");
    assert_eq!(h[0]["name"], "Ana");
    assert!(h[0].get("raw").is_none(), "no bytes in the API");
    let one = s
        .get(&format!("/v1/held/{}", h[0]["id"].as_str().unwrap()))
        .await;
    assert_eq!(one.expect(200)["address"], ana.as_str());
    let log = items(&s.get("/v1/refusals").await);
    assert!(
        log.iter().any(|r| r["reason"] == "not-an-organizer"),
        "{log:?}"
    );

    // One instruction mail with the link.
    eventually("the instruction mail", || async {
        (!captured(&s.dir, &ana).is_empty()).then_some(())
    })
    .await;
    let token = link_token(&s, &ana);

    // A second invitation within the interval: held, no second mail.
    let uid2 = format!("{}@newcomer.example", unique("u2"));
    submit(&s, &ana, &request(&ana, &uid2, "Second held", Some("pass"))).await;
    assert_eq!(held(&s).await.len(), 2);
    // The mail is sent on a task of its own: wait for both decisions.
    let m = eventually("both mailing decisions", || async {
        let m = metrics(&s).await;
        m.contains("calinvite_held_instruction_mails_total{result=\"rate_limited\"} 1")
            .then_some(m)
    })
    .await;
    for line in [
        "calinvite_held_messages_total{outcome=\"held\"} 2",
        "calinvite_held_instruction_mails_total{result=\"sent\"} 1",
        "calinvite_held_messages 2",
    ] {
        assert!(m.contains(line), "{line}\n{m}");
    }
    assert_eq!(captured(&s.dir, &ana).len(), 1, "no second mail");
    // The mail never went through the delivery queue (which keeps what it
    // sent): the link is stored as its hash only.
    let queued = sql_text(&s, "SELECT key FROM deliveries").await;
    assert!(queued.is_empty(), "{queued:?}");
    let hashes = sql_text(&s, "SELECT hash FROM invite_server_held_links").await;
    let digest: String = <sha2::Sha256 as sha2::Digest>::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hashes, vec![digest]);

    // The page: what will happen, and nothing happens.
    let before = snapshot(&s).await;
    let p = page(&s, &token).await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert!(p.content_type().starts_with("text/html"));
    assert_eq!(p.headers["cache-control"], "no-store");
    assert_eq!(p.headers["referrer-policy"], "no-referrer");
    assert!(
        p.text.contains(&ana) && p.text.contains("First held") && p.text.contains("Second held")
    );
    assert!(!p.text.contains("<script"), "no script");
    let (field, cookie) = csrf(&p);
    let again = page(&s, &token).await;
    assert_eq!(again.status, 200);
    assert_eq!(snapshot(&s).await, before, "GET changes nothing");

    // The form without its CSRF value, or with another: refused, nothing changes.
    let r = post(&s, &token, None, None).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("Nothing was registered"), "{}", r.text);
    let r = post(&s, &token, Some(&field), None).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = post(&s, &token, Some(&"x".repeat(43)), Some(&cookie)).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(snapshot(&s).await, before, "a refused form changes nothing");

    // The form as the page sent it: registered, the invitations are events.
    let r = post(&s, &token, Some(&field), Some(&cookie)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("Registered"), "{}", r.text);
    let first = events_titled(&s, "First held").await;
    let second = events_titled(&s, "Second held").await;
    assert_eq!((first.len(), second.len()), (1, 1));
    for e in [&first[0], &second[0]] {
        assert_eq!(e["from_calendar"], true);
        let code = e["code"].as_str().unwrap();
        assert!(
            r.text.contains(code),
            "the page names event {code}: {}",
            r.text
        );
    }
    assert!(held(&s).await.is_empty());
    let organizers = items(&s.get("/v1/organizers").await);
    let new = organizers
        .iter()
        .find(|o| o["addresses"][0] == ana.as_str())
        .expect("the address is an organizer");
    assert_eq!(new["name"], "Ana");
    // The organizer's "event created" notices, as for any organizer.
    eventually("the event-created notices", || async {
        (captured(&s.dir, &ana).len() == 3).then_some(())
    })
    .await;

    // The link worked once.
    let used = page(&s, &token).await;
    assert_eq!(used.status, 410, "{}", used.text);
    assert!(used.text.contains("This link was used"), "{}", used.text);
    let r = post(&s, &token, Some(&field), Some(&cookie)).await;
    assert_eq!(r.status, 410, "{}", r.text);
    // A token nobody was given.
    let unknown = page(&s, &"A".repeat(43)).await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.text.contains("This link is not valid"));

    // A new invitation from the address now becomes an event directly.
    let uid3 = format!("{}@newcomer.example", unique("u3"));
    submit(
        &s,
        &ana,
        &request(&ana, &uid3, "Third direct", Some("pass")),
    )
    .await;
    assert_eq!(events_titled(&s, "Third direct").await.len(), 1);
    let m = metrics(&s).await;
    for line in [
        "calinvite_held_messages_total{outcome=\"released\"} 2",
        "calinvite_held_registrations_total 1",
        "calinvite_held_messages 0",
    ] {
        assert!(m.contains(line), "{line}\n{m}");
    }
    assert!(
        m.contains("route=\"/register/{token}\""),
        "pages are logged by route pattern: {m}"
    );
    assert!(!m.contains(&token), "no token in metrics");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_then_registered_by_link_on_sqlite() {
    held_then_registered_by_link(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_then_registered_by_link_on_postgres() {
    held_then_registered_by_link(Db::Postgres).await;
}

async fn no_mail_without_dmarc_and_the_owner_vouches(db: Db) {
    let s = start(db, |_| {}).await;
    let forged = sender("forged");
    let plain = sender("plain");
    submit(
        &s,
        &forged,
        &request(
            &forged,
            &format!("{}@x", unique("f")),
            "Forged",
            Some("fail"),
        ),
    )
    .await;
    submit(
        &s,
        &plain,
        &request(&plain, &format!("{}@x", unique("p")), "Unchecked", None),
    )
    .await;
    assert_eq!(held(&s).await.len(), 2);
    queue_drained(&s).await;
    assert!(captured(&s.dir, &forged).is_empty(), "no backscatter");
    assert!(captured(&s.dir, &plain).is_empty(), "no backscatter");
    let m = metrics(&s).await;
    assert!(
        m.contains("calinvite_held_instruction_mails_total{result=\"no_dmarc_pass\"} 2"),
        "{m}"
    );
    // Pages join up.
    let first = s.get("/v1/held?limit=1").await;
    let first = first.expect(200).clone();
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = s.get(&format!("/v1/held?limit=1&cursor={cursor}")).await;
    let second = second.expect(200).clone();
    assert!(second.get("next_cursor").is_none(), "{second}");
    assert_eq!(
        (
            first["items"][0]["address"].as_str(),
            second["items"][0]["address"].as_str()
        ),
        (Some(forged.as_str()), Some(plain.as_str())),
        "oldest first"
    );
    s.get("/v1/held?cursor=bm9wZQ").await.problem(400);
    let by_address = items(&s.get(&format!("/v1/held?address={forged}")).await);
    assert_eq!(by_address.len(), 1);
    assert_eq!(by_address[0]["dmarc"], "fail");

    // The owner registers the unchecked sender, trusting its address: its
    // invitation is released and becomes an event.
    let r = s
        .post(
            "/v1/organizers",
            json!({"name": "Plain", "address": plain, "settings": {"inbound_auth": "allow-list-only"}}),
        )
        .await;
    let body = r.expect(201).clone();
    let released = body["released"].as_array().unwrap();
    assert_eq!(released.len(), 1, "{body}");
    assert_eq!(released[0]["outcome"], "event-created");
    let code = released[0]["event"].as_str().unwrap();
    let e = events_titled(&s, "Unchecked").await;
    assert_eq!(e[0]["code"], code);

    // Registered with the owner's policy (aligned SPF or DKIM), the sender
    // whose message failed does not get a forged event: the release is the
    // pipeline's own check, with the verdict the message arrived with.
    let r = s
        .post(
            "/v1/organizers",
            json!({"name": "Victim", "address": forged}),
        )
        .await;
    let body = r.expect(201).clone();
    let released = body["released"].as_array().unwrap();
    assert_eq!(released[0]["outcome"], "refused", "{body}");
    assert!(
        released[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("authentication-failed"),
        "{body}"
    );
    assert!(events_titled(&s, "Forged").await.is_empty());
    assert!(held(&s).await.is_empty());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_mail_without_dmarc_and_the_owner_vouches_on_sqlite() {
    no_mail_without_dmarc_and_the_owner_vouches(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_mail_without_dmarc_and_the_owner_vouches_on_postgres() {
    no_mail_without_dmarc_and_the_owner_vouches(Db::Postgres).await;
}

async fn expired_links_limits_and_purging(db: Db) {
    let s = start(db, |c| {
        c.organizers.purge_interval_seconds = 1;
        c.organizers.max_held_per_address = 2;
    })
    .await;
    let bea = sender("bea");
    for i in 0..2 {
        let uid = format!("{}@x", unique(&format!("b{i}")));
        submit(
            &s,
            &bea,
            &request(&bea, &uid, &format!("Bea {i}"), Some("pass")),
        )
        .await;
    }
    // Beyond the limit: refused as before, and counted.
    let refused = submit_refused(
        &s,
        &bea,
        &request(&bea, &format!("{}@x", unique("b2")), "Bea 2", Some("pass")),
    )
    .await;
    assert!(refused.contains("not a registered organizer"), "{refused}");
    assert!(
        metrics(&s)
            .await
            .contains("calinvite_held_messages_total{outcome=\"over_limit\"} 1")
    );
    assert_eq!(held(&s).await.len(), 2);

    eventually("the instruction mail", || async {
        (!captured(&s.dir, &bea).is_empty()).then_some(())
    })
    .await;
    let token = link_token(&s, &bea);
    let p = page(&s, &token).await;
    let (field, cookie) = csrf(&p);
    // The link's time runs out: a clear page, and the form is refused.
    sql(&s, "UPDATE invite_server_held_links SET expires_at = 0").await;
    let expired = page(&s, &token).await;
    assert_eq!(expired.status, 410, "{}", expired.text);
    assert!(
        expired.text.contains("This link has expired"),
        "{}",
        expired.text
    );
    assert!(expired.text.contains(INGEST), "says how to get a new one");
    let r = post(&s, &token, Some(&field), Some(&cookie)).await;
    assert_eq!(r.status, 410, "{}", r.text);
    assert!(
        items(&s.get("/v1/organizers").await)
            .iter()
            .all(|o| o["addresses"][0] != bea.as_str())
    );

    // The hold's time runs out: the sweep purges them.
    sql(&s, "UPDATE invite_server_held_messages SET expires_at = 0").await;
    eventually("the held invitations purged", || async {
        held(&s).await.is_empty().then_some(())
    })
    .await;
    assert!(
        metrics(&s)
            .await
            .contains("calinvite_held_messages_total{outcome=\"expired\"} 2")
    );
    assert!(events_titled(&s, "Bea 0").await.is_empty());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_links_limits_and_purging_on_sqlite() {
    expired_links_limits_and_purging(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_links_limits_and_purging_on_postgres() {
    expired_links_limits_and_purging(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_is_held_once_and_the_owner_may_drop_one() {
    let s = start(Db::Sqlite, |_| {}).await;
    let cy = sender("cy");
    let message = request(&cy, &format!("{}@x", unique("c")), "Cy", Some("fail"));
    submit(&s, &cy, &message).await;
    submit(&s, &cy, &message).await;
    let h = held(&s).await;
    assert_eq!(h.len(), 1, "the same message twice is held once: {h:?}");
    let id = h[0]["id"].as_str().unwrap();
    s.call(
        Method::DELETE,
        &format!("/v1/held/{id}"),
        Some(&s.key.clone()),
        None,
    )
    .await
    .expect(204);
    s.get(&format!("/v1/held/{id}")).await.problem(404);
    assert!(held(&s).await.is_empty());
    assert!(
        metrics(&s)
            .await
            .contains("calinvite_held_messages_total{outcome=\"discarded\"} 1")
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holding_off_refuses_as_before() {
    let s = start(Db::Sqlite, |c| c.organizers.hold_hours = 0).await;
    let dee = sender("dee");
    let refused = submit_refused(
        &s,
        &dee,
        &request(&dee, &format!("{}@x", unique("d")), "Dee", Some("pass")),
    )
    .await;
    assert!(refused.contains("not a registered organizer"), "{refused}");
    assert!(held(&s).await.is_empty());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_sends_links_and_switches_self_registration() {
    let s = start(Db::Sqlite, |_| {}).await;
    let settings = s.get("/v1/owner/registration").await;
    assert_eq!(
        settings.expect(200).clone(),
        json!({"self_registration": true, "hold_hours": 72, "link_hours": 24})
    );
    let r = s
        .call(
            Method::PATCH,
            "/v1/owner/registration",
            Some(&s.key.clone()),
            Some(json!({"self_registration": false})),
        )
        .await;
    assert_eq!(r.expect(200)["self_registration"], false);

    // Off: held, but the proven sender is not mailed.
    let eve = sender("eve");
    submit(
        &s,
        &eve,
        &request(
            &eve,
            &format!("{}@x", unique("e")),
            "Eve's party",
            Some("pass"),
        ),
    )
    .await;
    assert_eq!(held(&s).await.len(), 1);
    assert!(
        metrics(&s)
            .await
            .contains("calinvite_held_instruction_mails_total{result=\"self_registration_off\"} 1")
    );

    // The owner asks for a link: it is mailed, once per interval.
    let r = s
        .post("/v1/organizers/registrations", json!({"address": eve}))
        .await;
    let started = r.expect(202).clone();
    assert_eq!(started["address"], eve.as_str());
    assert_eq!(started["held"], 1);
    s.post("/v1/organizers/registrations", json!({"address": eve}))
        .await
        .problem(429);
    s.post(
        "/v1/organizers/registrations",
        json!({"address": "organizer@example.com"}),
    )
    .await
    .problem(409);
    s.post("/v1/organizers/registrations", json!({"address": INGEST}))
        .await
        .problem(400);
    eventually("the link the owner asked for", || async {
        (!captured(&s.dir, &eve).is_empty()).then_some(())
    })
    .await;
    let token = link_token(&s, &eve);
    // An owner's link works with self-registration off.
    let p = page(&s, &token).await;
    assert_eq!(p.status, 200, "{}", p.text);
    let (field, cookie) = csrf(&p);
    let r = post(&s, &token, Some(&field), Some(&cookie)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(events_titled(&s, "Eve's party").await.len(), 1);

    // An organizer's key sees none of it; another owner's key finds nothing.
    let org = s
        .post(
            "/v1/organizers",
            json!({"name": "Org", "address": sender("org"), "create_key": true}),
        )
        .await;
    let org_key = org.expect(201)["key"]["key"].as_str().unwrap().to_owned();
    for (m, path) in [
        (Method::GET, "/v1/held"),
        (Method::GET, "/v1/owner/registration"),
    ] {
        s.call(m, path, Some(&org_key), None).await.problem(403);
    }
    s.call(
        Method::POST,
        "/v1/organizers/registrations",
        Some(&org_key),
        Some(json!({"address": sender("x")})),
    )
    .await
    .problem(403);
    let fred = sender("fred");
    submit(
        &s,
        &fred,
        &request(&fred, &format!("{}@x", unique("f")), "Fred", None),
    )
    .await;
    let id = held(&s).await[0]["id"].as_str().unwrap().to_owned();
    let opened = invite_server::Opened {
        pipeline: s.server().state().pipeline().clone(),
        db: s.server().state().db().clone(),
    };
    let (_, owner2) = invite_server::admin::add_owner(&opened, "other.test", "Other Owner")
        .await
        .unwrap();
    let other = owner2.key;
    assert!(items(&s.call(Method::GET, "/v1/held", Some(&other), None).await).is_empty());
    s.call(Method::GET, &format!("/v1/held/{id}"), Some(&other), None)
        .await
        .problem(404);
    s.call(
        Method::DELETE,
        &format!("/v1/held/{id}"),
        Some(&other),
        None,
    )
    .await
    .problem(404);
    assert_eq!(held(&s).await.len(), 1, "still held for its owner");
    s.stop().await;
}
