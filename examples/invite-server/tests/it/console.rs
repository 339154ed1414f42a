//! The console against the running server, over real HTTP, on SQLite and
//! PostgreSQL: signing in by a mailed link (captured like any mail), the
//! link's page changing nothing until its button is pressed, used and
//! expired links refused, the same answer for unknown addresses, the
//! limits, sessions ending when idle, when too old and on signing out,
//! forms refused without their CSRF token — and tenancy over every
//! console route: an organizer sees its own events only, a domain owner's
//! administrator every organizer's.
//!
//! Sending to a list from the console is tested in [`lists`], approvals
//! in [`pending`], reports in [`reports`], landing pages in [`pages`],
//! settings (sending, API keys, webhook endpoints) in [`settings`].

mod lists;
mod pages;
mod pending;
mod reports;
mod settings;

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use sqlx::Connection as _;

use crate::common::{Db, Reply, TestServer, captured, eventually, postgres_url};

pub(crate) const OWNER_ADMIN: &str = "owner@invites.localhost";
pub(crate) const ORGANIZER: &str = "organizer@example.com";
const SECOND: &str = "second@example.com";

/// A browser: no redirects followed, its own cookies.
pub(crate) struct Browser {
    client: reqwest::Client,
    base: String,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn new(s: &TestServer) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            base: s.base.clone(),
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn keep(&mut self, r: reqwest::Response) -> Reply {
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (k, val) = v.split(';').next().unwrap().split_once('=').unwrap();
            if val.is_empty() || v.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), val.to_owned());
            }
        }
        Reply::from(r).await
    }

    pub(crate) async fn get(&mut self, path: &str) -> Reply {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(r).await
    }

    pub(crate) async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        self.keep(r).await
    }
}

impl Browser {
    /// POSTs a `multipart/form-data` form as a browser would: `(name,
    /// file name, bytes)` each, a file part when a file name is given
    /// (`Some("")`: a file input with no file chosen).
    pub(crate) async fn post_multipart(
        &mut self,
        path: &str,
        parts: &[(&str, Option<&str>, &[u8])],
    ) -> Reply {
        let boundary = "----calinvite-test-boundary-7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        for (name, file, data) in parts {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            match file {
                Some(f) => body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                         Content-Type: text/csv\r\n\r\n"
                    )
                    .as_bytes(),
                ),
                None => body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
            body.extend_from_slice(data);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        self.keep(r).await
    }
}

/// The CSRF token of a page's (first) form.
pub(crate) fn csrf(page: &Reply) -> String {
    let at = page
        .text
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("a form on the page: {}", page.text))
        + 19;
    page.text[at..].split('"').next().unwrap().to_owned()
}

/// A page without its style nonce (random per response).
fn without_nonce(page: &str) -> String {
    match page.find("nonce=\"") {
        Some(at) => {
            let end = page[at + 7..].find('"').unwrap() + at + 7;
            format!("{}{}", &page[..at], &page[end + 1..])
        }
        None => page.to_owned(),
    }
}

fn location(r: &Reply) -> &str {
    r.headers
        .get("location")
        .map_or("", |v| v.to_str().unwrap())
}

/// The sign-in tokens mailed to `address` so far, oldest first.
fn tokens(s: &TestServer, address: &str) -> Vec<String> {
    captured(&s.dir, address)
        .iter()
        .map(|m| {
            let parsed = mail_parser::MessageParser::default().parse(&m[..]).unwrap();
            let text = parsed.body_text(0).unwrap().into_owned();
            let marker = format!("{}/console/sign-in/", s.base);
            let at = text.find(&marker).expect("the server's sign-in link") + marker.len();
            let token: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            assert_eq!(token.len(), 43, "{text}");
            token
        })
        .collect()
}

/// Asks for a link for `address`: the answer page.
async fn ask(b: &mut Browser, address: &str) -> Reply {
    let form = b.get("/console/sign-in").await;
    assert_eq!(form.status, 200);
    let token = csrf(&form);
    b.post(
        "/console/sign-in",
        &[("csrf", &token), ("email", address), ("website", "")],
    )
    .await
}

/// The next link mailed to `address` (after `before` were).
async fn next_link(s: &TestServer, address: &str, before: usize) -> String {
    eventually("the sign-in mail", || async {
        let t = tokens(s, address);
        (t.len() > before).then(|| t[before].clone())
    })
    .await
}

/// Signs `address` in through its mailed link.
pub(crate) async fn sign_in(s: &TestServer, address: &str) -> Browser {
    let mut b = Browser::new(s);
    let before = tokens(s, address).len();
    let r = ask(&mut b, address).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let token = next_link(s, address, before).await;
    let page = b.get(&format!("/console/sign-in/{token}")).await;
    assert_eq!(page.status, 200, "{}", page.text);
    let r = b
        .post(
            &format!("/console/sign-in/{token}"),
            &[("csrf", &csrf(&page))],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(location(&r), "/console");
    b
}

async fn sql(s: &TestServer, statement: &str) {
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
    sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

async fn sign_in_by_mailed_link(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    let mut b = Browser::new(&s);

    // Signed out: pages send to the sign-in page, forms are refused.
    let r = b.get("/console").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/console/sign-in");
    let r = b.post("/console/sign-out", &[("csrf", "x")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // The form: not cached, not indexed, with its token.
    let form = b.get("/console/sign-in").await;
    assert_eq!(form.status, 200);
    assert_eq!(form.headers["cache-control"], "no-store");
    assert!(form.text.contains("noindex"), "{}", form.text);
    assert!(form.headers.get("content-encoding").is_none());
    // Without its token the form is refused, and nothing is mailed.
    let r = b.post("/console/sign-in", &[("email", OWNER_ADMIN)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text.contains("security token"), "{}", r.text);

    // The same answer for an address that may sign in and one that may not.
    let known = ask(&mut b, OWNER_ADMIN).await;
    let unknown = ask(&mut b, "nobody@example.org").await;
    assert_eq!(known.status, 200);
    assert_eq!(unknown.status, 200);
    assert_eq!(
        without_nonce(&known.text),
        without_nonce(&unknown.text),
        "the same page for both"
    );
    assert!(known.text.contains("data-sign-in=\"sent\""));
    let token = next_link(&s, OWNER_ADMIN, 0).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(captured(&s.dir, "nobody@example.org").is_empty());
    assert_eq!(tokens(&s, OWNER_ADMIN).len(), 1);

    // Opening the link signs nobody in; pressing its button (twice opened:
    // two forms) does, once.
    let page = b.get(&format!("/console/sign-in/{token}")).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("<button"));
    let again = b.get(&format!("/console/sign-in/{token}")).await;
    assert_eq!(b.get("/console").await.status, StatusCode::SEE_OTHER);
    let path = format!("/console/sign-in/{token}");
    let r = b.post(&path, &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "no CSRF token: refused");
    let r = b.post(&path, &[("csrf", &csrf(&page))]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(location(&r), "/console");
    let set = r.headers["set-cookie"].to_str().unwrap();
    assert!(set.starts_with("calinvite_console="), "{set}");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/"),
        "{set}"
    );
    assert!(!set.contains("Secure"), "plain http: {set}");
    let session = b.cookies["calinvite_console"].clone();
    let r = b.post(&path, &[("csrf", &csrf(&again))]).await;
    assert_eq!(r.status, StatusCode::GONE, "a used link: {}", r.text);
    assert_eq!(b.get(&path).await.status, StatusCode::GONE);

    // Signed in as the domain owner's administrator.
    let home = b.get("/console").await;
    assert_eq!(home.status, 200, "{}", home.text);
    assert_eq!(home.headers["cache-control"], "no-store");
    assert!(home.text.contains("noindex"));
    assert!(home.text.contains(&format!("data-event=\"{}\"", s.event)));
    assert!(home.text.contains(OWNER_ADMIN));

    // Signing out needs the form's token; then the session is over, also
    // for a copy of its cookie.
    let r = b.post("/console/sign-out", &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = b.post("/console/sign-out", &[("csrf", &csrf(&home))]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/console/sign-in");
    assert!(!b.cookies.contains_key("calinvite_console"));
    b.cookies.insert("calinvite_console".into(), session);
    assert_eq!(b.get("/console").await.status, StatusCode::SEE_OTHER);

    // An expired link is refused, on its page and on its button.
    let mut c = Browser::new(&s);
    ask(&mut c, ORGANIZER).await;
    let token = next_link(&s, ORGANIZER, 0).await;
    let page = c.get(&format!("/console/sign-in/{token}")).await;
    assert_eq!(page.status, 200);
    sql(&s, "UPDATE invite_server_console_links SET expires_at = 0").await;
    assert_eq!(
        c.get(&format!("/console/sign-in/{token}")).await.status,
        StatusCode::GONE
    );
    let r = c
        .post(
            &format!("/console/sign-in/{token}"),
            &[("csrf", &csrf(&page))],
        )
        .await;
    assert_eq!(r.status, StatusCode::GONE);
    // A made-up one too.
    let fake = "A".repeat(43);
    assert_eq!(
        c.get(&format!("/console/sign-in/{fake}")).await.status,
        StatusCode::GONE
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_by_mailed_link_on_sqlite() {
    sign_in_by_mailed_link(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_by_mailed_link_on_postgres() {
    sign_in_by_mailed_link(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_requests_are_limited_per_address_and_per_client() {
    let s = TestServer::start(Db::Sqlite, |c| {
        c.web.per_address_per_hour = 2;
        c.web.per_ip_per_minute = 5;
    })
    .await;
    let mut b = Browser::new(&s);
    assert_eq!(ask(&mut b, "a@example.org").await.status, 200);
    assert_eq!(ask(&mut b, "A@example.org").await.status, 200);
    let r = ask(&mut b, "a@example.org").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert!(r.headers.get("retry-after").is_some());
    assert_eq!(ask(&mut b, "b@example.org").await.status, 200);
    assert_eq!(ask(&mut b, "c@example.org").await.status, 200);
    let r = ask(&mut b, "d@example.org").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    s.stop().await;
}

async fn sessions_end(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    let mut b = sign_in(&s, ORGANIZER).await;
    assert_eq!(b.get("/console").await.status, 200);
    // Unused for 13 hours: over.
    let hours13 = 13i64 * 3600 * 1_000_000;
    sql(
        &s,
        &format!("UPDATE invite_server_console_sessions SET last_seen = last_seen - {hours13}"),
    )
    .await;
    assert_eq!(b.get("/console").await.status, StatusCode::SEE_OTHER);
    // Used, but older than its 7 days: over.
    let mut b = sign_in(&s, ORGANIZER).await;
    assert_eq!(b.get("/console").await.status, 200);
    sql(
        &s,
        "UPDATE invite_server_console_sessions SET expires_at = created_at",
    )
    .await;
    let r = b.get("/console").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/console/sign-in");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_when_idle_or_old_on_sqlite() {
    sessions_end(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_when_idle_or_old_on_postgres() {
    sessions_end(Db::Postgres).await;
}

/// Every page of the console, `{event}` standing for an event's code
/// (`{list}`, `{pending}`, `{organizer}`, `{key}` and `{webhook}` for one
/// of the event's organizer's).
/// A route added to the console is added here: the tenancy test then
/// checks it for every kind of user.
const ROUTES: &[&str] = &[
    "/console",
    "/console/settings",
    "/console/settings/organizers/{organizer}",
    "/console/settings/keys",
    "/console/settings/keys/{key}",
    "/console/settings/webhooks",
    "/console/settings/webhooks/{webhook}",
    "/console/settings/webhooks/{webhook}/delete",
    "/console/settings/webhooks/{webhook}/deliveries",
    "/console/events/{event}",
    "/console/events/{event}?q=guest&status=no-answer",
    "/console/events/{event}/chart.svg",
    "/console/events/{event}/lists",
    "/console/lists/{list}",
    "/console/lists/{list}/rows.csv",
    "/console/pending",
    "/console/pending/{pending}",
    "/console/events/{event}/report",
    "/console/events/{event}/report.csv",
    "/console/organizers/{organizer}/report",
    "/console/organizers/{organizer}/report.csv",
    "/console/pages",
    "/console/pages/new",
    "/console/pages/{page}/edit",
    "/console/pages/{page}/delete",
    "/console/pages/preview?organizer={organizer}&title=Preview",
    "/console/cta",
    "/console/cta?event={event}&platform=mailchimp",
];

async fn tenancy_over_every_route(db: Db) {
    let s = TestServer::start(db, |c| c.webhooks.allow_private_targets = true).await;
    // A second organizer with an event of its own; a guest on each event.
    let org = s
        .post(
            "/v1/organizers",
            json!({"name": "Second", "address": SECOND}),
        )
        .await;
    let second = org.expect(201)["organizer"]["id"].as_u64().unwrap();
    let e = s
        .post(
            "/v1/events",
            json!({"organizer": second, "summary": "Second's event", "start": "2036-05-01T10:00:00",
                   "end": "2036-05-01T11:00:00", "time_zone": "Europe/Berlin"}),
        )
        .await;
    let other = e.expect(201)["code"].as_str().unwrap().to_owned();
    for code in [&s.event, &other] {
        s.post(
            &format!("/v1/events/{code}/invitations"),
            json!({"address": "guest@example.net", "name": "A Guest"}),
        )
        .await
        .expect(201);
    }
    // A list on each event.
    let mut lists = BTreeMap::new();
    for code in [&s.event, &other] {
        let r = s
            .client
            .post(format!("{}/v1/events/{code}/lists?name=t", s.base))
            .bearer_auth(&s.key)
            .header("content-type", "text/csv")
            .body("email\nlisted@example.net\n")
            .send()
            .await
            .unwrap();
        let r = Reply::from(r).await;
        lists.insert(
            code.clone(),
            r.expect(202)["id"].as_str().unwrap().to_owned(),
        );
    }

    // A change held for approval on each event.
    let mut pending = BTreeMap::new();
    for (organizer, code) in [(1, &s.event), (second, &other)] {
        s.call(
            reqwest::Method::PATCH,
            &format!("/v1/organizers/{organizer}"),
            Some(&s.key.clone()),
            Some(json!({"settings": {"approval": true, "audience": "everyone"}})),
        )
        .await
        .expect(200);
        let r = s
            .call(
                reqwest::Method::PATCH,
                &format!("/v1/events/{code}"),
                Some(&s.key.clone()),
                Some(json!({"location": "Room 9"})),
            )
            .await;
        let id = r.expect(200)["pending_change"].as_str().unwrap().to_owned();
        pending.insert(code.clone(), id);
    }

    // An API key and a webhook endpoint of each organizer.
    let mut keys = BTreeMap::new();
    let mut webhooks = BTreeMap::new();
    for (organizer, code) in [(1, &s.event), (second, &other)] {
        let k = s
            .post("/v1/keys", json!({"organizer": organizer, "label": "k"}))
            .await;
        keys.insert(
            code.clone(),
            k.expect(201)["id"].as_str().unwrap().to_owned(),
        );
        let w = s
            .post(
                "/v1/webhooks",
                json!({"organizer": organizer, "url": "http://127.0.0.1:9/hook"}),
            )
            .await;
        webhooks.insert(
            code.clone(),
            w.expect(201)["webhook"]["id"].as_str().unwrap().to_owned(),
        );
    }

    // A landing page of each organizer.
    let mut pages = BTreeMap::new();
    for (organizer, code, slug) in [(1, &s.event, "first-page"), (second, &other, "second-page")] {
        s.post(
            "/v1/pages",
            json!({"slug": slug, "organizer": organizer, "title": format!("Page {slug}")}),
        )
        .await
        .expect(201);
        pages.insert(code.clone(), slug.to_owned());
    }

    // The domain owner's administrators are managed by the API.
    let r = s
        .post("/v1/owner/admins", json!({"address": "Boss@Example.org"}))
        .await;
    assert_eq!(r.expect(201)["address"], "boss@example.org");
    s.post("/v1/owner/admins", json!({"address": "boss@example.org"}))
        .await
        .expect(200);
    let list = s.get("/v1/owner/admins").await;
    let addresses: Vec<&str> = list
        .expect(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, ["boss@example.org", OWNER_ADMIN]);

    let mut users = [
        (
            "owner",
            sign_in(&s, OWNER_ADMIN).await,
            vec![&s.event, &other],
        ),
        ("organizer", sign_in(&s, ORGANIZER).await, vec![&s.event]),
        ("second", sign_in(&s, SECOND).await, vec![&other]),
        (
            "boss",
            sign_in(&s, "boss@example.org").await,
            vec![&s.event, &other],
        ),
        ("signed out", Browser::new(&s), vec![]),
    ];
    for (who, browser, sees) in &mut users {
        for route in ROUTES {
            let per_event = route.contains("{event}")
                || route.contains("{list}")
                || route.contains("{pending}")
                || route.contains("{page}")
                || route.contains("{organizer}")
                || route.contains("{key}")
                || route.contains("{webhook}");
            let events: Vec<&String> = if per_event {
                vec![&s.event, &other]
            } else {
                vec![&s.event]
            };
            for code in events {
                let path = route
                    .replace("{event}", code)
                    .replace("{list}", &lists[code])
                    .replace("{pending}", &pending[code])
                    .replace("{page}", &pages[code])
                    .replace("{key}", &keys[code])
                    .replace("{webhook}", &webhooks[code])
                    .replace(
                        "{organizer}",
                        &if *code == s.event { 1 } else { second }.to_string(),
                    );
                let r = browser.get(&path).await;
                if *who == "signed out" {
                    assert_eq!(r.status, StatusCode::SEE_OTHER, "{who} {path}");
                    assert_eq!(location(&r), "/console/sign-in");
                    continue;
                }
                let visible = sees.contains(&code);
                if per_event {
                    let want = if visible { 200 } else { 404 };
                    assert_eq!(r.status.as_u16(), want, "{who} {path}: {}", r.text);
                    if !visible {
                        assert!(!r.text.contains(&keys[code]), "{who} {path}");
                        assert!(!r.text.contains(&webhooks[code]), "{who} {path}");
                        assert!(!r.text.contains(&pending[code]), "{who} {path}");
                        assert!(!r.text.contains("listed@example.net"), "{who} {path}");
                        assert!(!r.text.contains(&lists[code]), "{who} {path}");
                        assert!(!r.text.contains(&pages[code]), "{who} {path}");
                    }
                    if visible && route.starts_with("/console/settings") {
                        let organizer = if *code == s.event { 1 } else { second };
                        let marker = if route.contains("{key}") {
                            format!("data-key=\"{}\"", keys[code])
                        } else if route.contains("{webhook}") {
                            format!("data-webhook=\"{}\"", webhooks[code])
                        } else {
                            format!("data-settings-of=\"organizer-{organizer}\"")
                        };
                        assert!(
                            r.text.contains(&marker) || r.text.contains(&webhooks[code]),
                            "{who} {path}: {}",
                            r.text
                        );
                    } else if visible && route.contains("/report") {
                        assert!(
                            r.text.contains("data-report-of=")
                                || r.text.contains("guest@example.net")
                                || r.text.contains(code.as_str()),
                            "{who} {path}: {}",
                            r.text
                        );
                    } else if visible && route.contains("{pending}") {
                        assert!(
                            r.text
                                .contains(&format!("data-pending=\"{}\"", pending[code])),
                            "{who} {path}"
                        );
                    } else if visible && route.contains("{list}") {
                        assert!(
                            r.text.contains(&lists[code])
                                || r.text.starts_with("row,address,verdict"),
                            "{who} {path}: {}",
                            r.text
                        );
                    } else if visible && route.contains("{page}") {
                        assert!(
                            r.text.contains(&format!("Page {}", pages[code])),
                            "{who} {path}: {}",
                            r.text
                        );
                    } else if visible && route.starts_with("/console/pages/preview") {
                        assert!(
                            r.text.contains(&format!("data-event=\"{code}\"")),
                            "{who} {path}: {}",
                            r.text
                        );
                    } else if visible && route.starts_with("/console/cta") {
                        assert!(
                            r.text.contains(&format!("{code}?email=*|EMAIL|*")),
                            "{who} {path}: {}",
                            r.text
                        );
                    } else if visible && route.ends_with("/chart.svg") {
                        assert!(r.text.starts_with("<svg"), "{who} {path}: {}", r.text);
                        let kind = r.headers["content-type"].to_str().unwrap();
                        assert!(kind.starts_with("image/svg+xml"), "{who} {path}: {kind}");
                    } else if visible && route.ends_with("/lists") {
                        assert!(
                            r.text.contains(&format!("data-list=\"{}\"", lists[code])),
                            "{who} {path}"
                        );
                    } else if visible {
                        assert!(
                            r.text.contains("data-recipient=\"guest@example.net\""),
                            "{who} {path}"
                        );
                        assert!(
                            r.text.contains("role=\"img\"") || r.text.contains("No answers yet")
                        );
                    } else {
                        assert!(!r.text.contains("guest@example.net"), "{who} {path}");
                    }
                } else if route.starts_with("/console/settings") {
                    assert_eq!(r.status, 200, "{who} {path}");
                    for c in [&s.event, &other] {
                        let organizer = if *c == s.event { 1 } else { second };
                        let marker = if route.ends_with("/keys") {
                            format!("data-key=\"{}\"", keys[c])
                        } else if route.ends_with("/webhooks") {
                            format!("data-webhook=\"{}\"", webhooks[c])
                        } else {
                            format!("/console/settings/organizers/{organizer}\"")
                        };
                        assert_eq!(
                            r.text.contains(&marker),
                            sees.contains(&c),
                            "{who} {path} shows {marker}?"
                        );
                    }
                } else if *route == "/console/pages" {
                    assert_eq!(r.status, 200, "{who} {path}");
                    for c in [&s.event, &other] {
                        assert_eq!(
                            r.text.contains(&format!("data-page-slug=\"{}\"", pages[c])),
                            sees.contains(&c),
                            "{who} {path} lists {}?",
                            pages[c]
                        );
                    }
                } else {
                    assert_eq!(r.status, 200, "{who} {path}");
                    for c in [&s.event, &other] {
                        assert_eq!(
                            r.text.contains(&format!("data-event=\"{c}\"")),
                            sees.contains(&c),
                            "{who} {path} lists {c}?"
                        );
                    }
                }
                assert_eq!(r.headers["cache-control"], "no-store", "{path}");
            }
        }
    }
    // The domain owner's own report: its administrators only; an
    // organizer finds nothing there, and its "Reports" is its own.
    for (who, browser, _) in &mut users {
        for path in ["/console/owner/report", "/console/owner/report.csv"] {
            let r = browser.get(path).await;
            let want = match *who {
                "owner" | "boss" => 200,
                "signed out" => 303,
                _ => 404,
            };
            assert_eq!(r.status.as_u16(), want, "{who} {path}: {}", r.text);
            assert_eq!(r.headers["cache-control"], "no-store", "{path}");
        }
        let r = browser.get("/console/reports").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{who}");
        let to = location(&r);
        match *who {
            "owner" | "boss" => assert_eq!(to, "/console/owner/report"),
            "organizer" => assert_eq!(to, "/console/organizers/1/report"),
            "second" => assert_eq!(to, format!("/console/organizers/{second}/report")),
            _ => assert_eq!(to, "/console/sign-in"),
        }
    }
    // The owner filters by organizer and by date; the zone is named.
    let owner = &mut users[0].1;
    let r = owner.get(&format!("/console?organizer={second}")).await;
    assert!(r.text.contains(&format!("data-event=\"{other}\"")));
    assert!(!r.text.contains(&format!("data-event=\"{}\"", s.event)));
    assert!(
        r.text.contains("2036-05-01 10:00 (Europe/Berlin)"),
        "{}",
        r.text
    );
    let r = owner.get("/console?from=2036-05-02").await;
    assert!(!r.text.contains(&format!("data-event=\"{other}\"")));
    let r = owner.get("/console?from=bad").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Searching recipients.
    let r = owner
        .get(&format!("/console/events/{other}?q=nobody"))
        .await;
    assert!(r.text.contains("data-empty=\"recipients\""));
    let r = owner
        .get(&format!("/console/events/{other}?status=accepted"))
        .await;
    assert!(!r.text.contains("data-recipient="));

    // An organizer's address taken off it is signed out at once.
    s.call(
        reqwest::Method::PATCH,
        &format!("/v1/organizers/{second}"),
        Some(&s.key),
        Some(json!({"addresses": ["third@example.com"], "notify": "third@example.com"})),
    )
    .await
    .expect(200);
    assert_eq!(
        users[2].1.get("/console").await.status,
        StatusCode::SEE_OTHER
    );

    // An administrator removed is signed out at once.
    let r = s
        .call(
            reqwest::Method::DELETE,
            "/v1/owner/admins/boss@example.org",
            Some(&s.key),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        users[3].1.get("/console").await.status,
        StatusCode::SEE_OTHER
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenancy_over_every_route_on_sqlite() {
    tenancy_over_every_route(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenancy_over_every_route_on_postgres() {
    tenancy_over_every_route(Db::Postgres).await;
}

/// The `href` of the page's "next" link, unescaped.
fn next_href(page: &Reply) -> Option<String> {
    let at = page.text.find("data-page=\"next\"")?;
    let start = page.text[..at].rfind("href=\"")? + 6;
    let end = page.text[start..].find('"')? + start;
    Some(page.text[start..end].replace("&amp;", "&"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_and_recipients_come_a_page_at_a_time() {
    let s = TestServer::start(Db::Sqlite, |_| {}).await;
    for i in 0..50 {
        s.post(
            "/v1/events",
            json!({"summary": format!("Event {i}"), "start": "2036-06-01", "end": "2036-06-01",
                   "organizer": 1}),
        )
        .await
        .expect(201);
    }
    for i in 0..103 {
        s.post(
            &format!("/v1/events/{}/invitations", s.event),
            json!({"address": format!("guest{i:03}@example.net")}),
        )
        .await
        .expect(201);
    }
    let mut b = sign_in(&s, ORGANIZER).await;
    // 51 events: 50, then 1.
    let first = b.get("/console").await;
    assert_eq!(first.text.matches("data-event=").count(), 50);
    let next = next_href(&first).expect("a link to the next page");
    let second = b.get(&next).await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(second.text.matches("data-event=").count(), 1);
    assert!(next_href(&second).is_none());
    // 103 recipients: 100, then 3, none twice.
    #[allow(
        clippy::disallowed_methods,
        reason = "a figure for people, not a result"
    )]
    let t = std::time::Instant::now();
    let page1 = b.get(&format!("/console/events/{}", s.event)).await;
    println!(
        "console: an event page of 100 recipients (of 103) in {} ms, {} bytes",
        t.elapsed().as_millis(),
        page1.text.len()
    );
    assert_eq!(page1.text.matches("data-recipient=").count(), 100);
    let next = next_href(&page1).expect("a link to more recipients");
    let page2 = b.get(&next).await;
    assert_eq!(page2.text.matches("data-recipient=").count(), 3);
    assert!(next_href(&page2).is_none());
    for i in 0..103 {
        let row = format!("data-recipient=\"guest{i:03}@example.net\"");
        assert_eq!(
            page1.text.matches(&row).count() + page2.text.matches(&row).count(),
            1,
            "{row}"
        );
    }
    // Searching narrows across pages.
    let found = b
        .get(&format!("/console/events/{}?q=GUEST10", s.event))
        .await;
    assert_eq!(found.text.matches("data-recipient=").count(), 3);
    // A damaged page link is a clear 400.
    let r = b.get("/console?cursor=%2A%2A").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    s.stop().await;
}
