//! Landing pages against the running server: the API (made, listed, read,
//! changed, deleted; colours, URLs and event codes checked), the page a
//! visitor sees (Open Graph, schema.org data, noindex, groups, QR codes),
//! and a visitor's submit on SQLite and PostgreSQL — invitations in the
//! capture folder, nothing new on a repeat, limits, forged codes, the
//! confirmation mail above the cap — and an update by mail showing at once.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Db, Reply, TestServer, captured, eventually};
use crate::mail;

/// A browser without JavaScript: keeps the form cookie.
struct Visitor {
    client: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

impl Visitor {
    fn new(s: &TestServer) -> Visitor {
        Visitor {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            base: s.base.clone(),
            cookie: None,
        }
    }

    async fn get(&mut self, path: &str) -> Reply {
        let mut r = self.client.get(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            r = r.header("cookie", c);
        }
        let reply = Reply::from(r.send().await.unwrap()).await;
        if let Some(c) = reply.headers.get("set-cookie") {
            let c = c.to_str().unwrap().split(';').next().unwrap().to_owned();
            self.cookie = Some(c);
        }
        reply
    }

    /// The page at `path` and its form token.
    async fn form(&mut self, path: &str) -> (String, String) {
        let page = self.get(path).await;
        assert_eq!(page.status, 200, "{}", page.text);
        let token = token(&page.text);
        (page.text, token)
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body = serde_urlencoded::to_string(fields).unwrap();
        let mut r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(c) = &self.cookie {
            r = r.header("cookie", c);
        }
        Reply::from(r.send().await.unwrap()).await
    }

    /// Submits page `slug` for `email` with `events` ticked (a fresh form).
    async fn submit(&mut self, slug: &str, email: &str, events: &[&str]) -> Reply {
        let (_, token) = self.form(&format!("/p/{slug}")).await;
        let mut fields = vec![("email", email), ("name", "Vera Visitor"), ("csrf", &token)];
        fields.extend(events.iter().map(|e| ("event", *e)));
        fields.push(("website", ""));
        self.post(&format!("/p/{slug}"), &fields).await
    }
}

fn token(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form token") + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

/// The value of `data-{name}` on the page's `<main>`.
fn main_data(html: &str, name: &str) -> Option<String> {
    let main = &html[html.find("<main")?..];
    let main = &main[..main.find('>')?];
    let key = format!("data-{name}=\"");
    let at = main.find(&key)? + key.len();
    Some(main[at..].split('"').next()?.to_owned())
}

async fn event(s: &TestServer, key: &str, summary: &str, start: &str, zone: &str) -> String {
    let end = format!("{}T23:00", &start[..10]);
    let r = s
        .call(
            Method::POST,
            "/v1/events",
            Some(key),
            Some(if key == s.key {
                json!({"organizer": 1, "summary": summary, "start": start, "end": end, "time_zone": zone})
            } else {
                json!({"summary": summary, "start": start, "end": end, "time_zone": zone})
            }),
        )
        .await;
    r.expect(201)["code"].as_str().unwrap().to_owned()
}

async fn page(s: &TestServer, body: Value) -> Reply {
    s.call(Method::POST, "/v1/pages", Some(&s.key), Some(body))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_made_checked_changed_and_deleted_through_the_api() {
    let s = TestServer::start(Db::Sqlite, |_| {}).await;
    let a = event(
        &s,
        &s.key,
        "Home game",
        "2036-09-13T13:00",
        "America/New_York",
    )
    .await;
    let made = page(
        &s,
        json!({"slug": "club", "organizer": 1, "title": "Our games",
        "colors": {"background": "#ffffff", "text": "#222222", "accent": "#0b5cad"},
        "logo_url": "https://example.com/logo.png", "events": [a], "group_by": "category",
        "language": "de", "private": true}),
    )
    .await;
    let made = made.expect(201).clone();
    assert!(made["url"].as_str().unwrap().ends_with("/p/club"), "{made}");
    assert_eq!(made["revision"], 1);
    page(
        &s,
        json!({"slug": "club", "organizer": 1, "title": "Again"}),
    )
    .await
    .problem(409);
    // Colours below AA are refused, naming the field and the ratio.
    let low = page(
        &s,
        json!({"slug": "grey", "organizer": 1, "title": "x",
        "colors": {"text": "#777777"}}),
    )
    .await;
    let p = low.problem(400);
    assert_eq!(p["errors"][0]["pointer"], "/colors/text", "{p}");
    assert!(
        p["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("4.47:1"),
        "{p}"
    );
    let dark = page(
        &s,
        json!({"slug": "dark", "organizer": 1, "title": "x",
        "colors": {"background": "#101010"}}),
    )
    .await;
    assert_eq!(
        dark.problem(400)["errors"][0]["pointer"],
        "/colors/background"
    );
    for (field, value) in [
        ("logo_url", "http://example.com/logo.png"),
        ("logo_url", "https://user:pw@example.com/logo.png"),
        ("background_url", "javascript:alert(1)"),
    ] {
        let r = page(
            &s,
            json!({"slug": "bad-url", "organizer": 1, "title": "x", field: value}),
        )
        .await;
        assert_eq!(r.problem(400)["errors"][0]["pointer"], format!("/{field}"));
    }
    for slug in ["ab", "Caps", "-dash", "with space", "ünï"] {
        page(&s, json!({"slug": slug, "organizer": 1, "title": "x"}))
            .await
            .problem(400);
    }
    page(
        &s,
        json!({"slug": "lang", "organizer": 1, "title": "x", "language": "xx"}),
    )
    .await
    .problem(400);
    // Another organizer's event cannot be put on a page.
    let other = s
        .post(
            "/v1/organizers",
            json!({"name": "Other", "address": "other@example.com", "create_key": true}),
        )
        .await;
    let other_key = other.expect(201)["key"]["key"].as_str().unwrap().to_owned();
    let theirs = event(&s, &other_key, "Theirs", "2036-09-14T13:00", "Europe/Paris").await;
    let forged = page(
        &s,
        json!({"slug": "forged", "organizer": 1, "title": "x", "events": [theirs]}),
    )
    .await;
    assert_eq!(forged.problem(400)["errors"][0]["pointer"], "/events/0");
    // Listed, read, changed, deleted.
    let list = s.get("/v1/pages").await;
    let items = list.expect(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["slug"], "club");
    let other_list = s
        .call(Method::GET, "/v1/pages", Some(&other_key), None)
        .await;
    assert_eq!(other_list.expect(200)["items"].as_array().unwrap().len(), 0);
    s.get("/v1/pages/club").await.expect(200);
    let changed = s
        .call(
            Method::PATCH,
            "/v1/pages/club",
            Some(&s.key),
            Some(json!({"title": "New title", "colors": {"accent": "#aaaaaa"}})),
        )
        .await;
    assert_eq!(
        changed.problem(400)["errors"][0]["pointer"],
        "/colors/accent"
    );
    let changed = s
        .call(
            Method::PATCH,
            "/v1/pages/club",
            Some(&s.key),
            Some(json!({"title": "New title", "intro": "", "events": []})),
        )
        .await;
    let changed = changed.expect(200).clone();
    assert_eq!(changed["title"], "New title");
    assert_eq!(changed["revision"], 2);
    assert!(changed.get("events").is_none(), "{changed}");
    // Display extras: checked, kept, shown back.
    let display = format!("/v1/events/{a}/display");
    let six: Vec<Value> = (0..6)
        .map(|i| json!({"label": format!("L{i}"), "url": "https://example.com/"}))
        .collect();
    s.call(
        Method::PUT,
        &display,
        Some(&s.key),
        Some(json!({"links": six})),
    )
    .await
    .problem(400);
    let r = s
        .call(
            Method::PUT,
            &display,
            Some(&s.key),
            Some(json!({"links": [{"label": "Tickets", "url": "http://example.com/"}]})),
        )
        .await;
    assert_eq!(r.problem(400)["errors"][0]["pointer"], "/links/0/url");
    let body = json!({"image_url": "https://example.com/i.png", "text": "Bring a scarf",
        "category": "Gulls", "links": [{"label": "Tickets", "url": "https://tickets.example/1"}]});
    s.call(Method::PUT, &display, Some(&s.key), Some(body.clone()))
        .await
        .expect(200);
    assert_eq!(s.get(&display).await.expect(200), &body);
    s.call(Method::GET, &display, Some(&other_key), None)
        .await
        .problem(404);
    s.call(Method::GET, "/v1/pages/club", Some(&other_key), None)
        .await
        .problem(404);
    s.call(Method::DELETE, "/v1/pages/club", Some(&other_key), None)
        .await
        .problem(404);
    s.call(Method::DELETE, "/v1/pages/club", Some(&s.key), None)
        .await
        .expect(204);
    s.get("/v1/pages/club").await.problem(404);
    assert_eq!(Visitor::new(&s).get("/p/club").await.status, 404);
    // The API document describes the operations.
    let doc = s.get("/openapi.json").await;
    let paths = &doc.expect(200)["paths"];
    for p in ["/v1/pages", "/v1/pages/{slug}", "/v1/events/{code}/display"] {
        assert!(paths.get(p).is_some(), "{p} in the OpenAPI document");
    }
    s.stop().await;
}

/// Reads a PNG QR code back to its modules (the centre pixel of each).
fn png_modules(bytes: &[u8]) -> Vec<Vec<bool>> {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let w = info.width as usize;
    // The quiet zone is 4 light modules: find the first dark pixel of the
    // top-left finder, whose outer ring is 7 modules wide.
    let first = buf.iter().position(|p| *p < 128).unwrap();
    let (x0, y0) = (first % w, first / w);
    let mut run = 0;
    while buf[y0 * w + x0 + run] < 128 {
        run += 1;
    }
    let scale = run / 7;
    let quiet = x0 / scale;
    let side = w / scale - 2 * quiet;
    (0..side)
        .map(|y| {
            (0..side)
                .map(|x| {
                    buf[((quiet + y) * scale + scale / 2) * w + (quiet + x) * scale + scale / 2]
                        < 128
                })
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_upcoming_events_in_their_zones_with_og_json_ld_and_a_qr_code() {
    let s = TestServer::start(Db::Sqlite, |_| {}).await;
    let a = event(
        &s,
        &s.key,
        "Gulls v Foxes",
        "2036-09-14T13:00",
        "America/New_York",
    )
    .await;
    let b = event(
        &s,
        &s.key,
        "Bison v Elk",
        "2036-12-14T12:00",
        "America/Chicago",
    )
    .await;
    let c = event(
        &s,
        &s.key,
        "Called off",
        "2036-10-01T12:00",
        "Europe/Madrid",
    )
    .await;
    let d = event(&s, &s.key, "Long past", "2020-10-01T12:00", "Europe/Madrid").await;
    for (code, cat) in [(&a, "Gulls"), (&b, "Bison")] {
        s.call(
            Method::PUT,
            &format!("/v1/events/{code}/display"),
            Some(&s.key),
            Some(json!({"category": cat, "text": format!("{cat} line"),
                "links": [{"label": "Tickets", "url": "https://tickets.example/x"}]})),
        )
        .await
        .expect(200);
    }
    s.post(&format!("/v1/events/{c}/cancel"), json!({}))
        .await
        .expect(200);
    page(
        &s,
        json!({"slug": "season", "organizer": 1, "title": "The season <b>",
        "intro": "All the games", "group_by": "category", "private": true}),
    )
    .await
    .expect(201);
    let mut v = Visitor::new(&s);
    let r = v.get("/p/season").await;
    assert_eq!(r.status, 200);
    assert!(r.content_type().starts_with("text/html"));
    let html = &r.text;
    assert!(html.contains("The season &lt;b&gt;"), "titles are escaped");
    assert!(
        html.contains("<meta property=\"og:title\" content=\"The season &lt;b&gt;\">"),
        "{html}"
    );
    assert!(html.contains("twitter:card"));
    assert!(html.contains("noindex"), "a private page is not indexed");
    assert!(
        html.contains("Sun 14 Sep 2036, 13:00 EDT (America/New_York)"),
        "{html}"
    );
    assert!(
        html.contains("Sun 14 Dec 2036, 12:00 CST (America/Chicago)"),
        "{html}"
    );
    assert!(html.contains(&format!("data-event=\"{a}\"")));
    assert!(html.contains(&format!("data-event=\"{b}\"")));
    assert!(
        !html.contains(&format!("data-event=\"{c}\"")),
        "a cancelled event drops off"
    );
    assert!(
        !html.contains(&format!("data-event=\"{d}\"")),
        "a past event drops off"
    );
    assert!(html.contains("data-group=\"c-gulls\"") && html.contains("data-group=\"c-bison\""));
    assert!(html.contains("id=\"send\"") && html.contains("name=\"website\""));
    assert!(html.contains("Gulls line") && html.contains("https://tickets.example/x"));
    assert!(html.contains("<svg"), "the QR code inline");
    // schema.org data: dates with their offsets.
    let at = html.find("application/ld+json\">").unwrap() + 21;
    let ld: Value =
        serde_json::from_str(&html[at..at + html[at..].find("</script>").unwrap()]).unwrap();
    // The demo's welcome event, then the two games (in start order).
    let ld: Vec<&Value> = ld
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] != "Welcome to your invite server")
        .collect();
    assert_eq!(ld.len(), 2);
    assert_eq!(ld[0]["@type"], "Event");
    assert_eq!(ld[0]["name"], "Gulls v Foxes");
    assert_eq!(ld[0]["startDate"], "2036-09-14T13:00:00-04:00");
    assert_eq!(ld[1]["startDate"], "2036-12-14T12:00:00-06:00");
    assert_eq!(ld[0]["eventStatus"], "https://schema.org/EventScheduled");
    assert_eq!(ld[0]["organizer"]["name"], "Demo Organizer");
    // "Select all" without JavaScript: the group's boxes come back ticked.
    let all = v.get("/p/season?all=c-gulls").await;
    let ticked = all.text.matches("checked").count();
    assert_eq!(ticked, 1, "one box of the Gulls group");
    assert!(
        all.text.contains(&format!("value=\"{a}\" checked")),
        "{}",
        all.text
    );
    // The page's style: a public page, its headers.
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    // QR codes of the canonical URL.
    let url = s.get("/v1/pages/season").await.expect(200)["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let png = v
        .client
        .get(format!("{}/p/season/qr.png", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    let png = png.bytes().await.unwrap();
    let code =
        qrcode::QrCode::with_error_correction_level(url.as_bytes(), qrcode::EcLevel::M).unwrap();
    let expected: Vec<Vec<bool>> = code
        .to_colors()
        .chunks(code.width())
        .map(|row| row.iter().map(|c| *c == qrcode::Color::Dark).collect())
        .collect();
    assert_eq!(png_modules(&png), expected, "the PNG holds the URL's code");
    let svg = v.get("/p/season/qr.svg").await;
    assert_eq!(svg.content_type(), "image/svg+xml");
    assert!(svg.text.contains("<svg"));
    // Public again: indexed; the JS enhancement is served.
    s.call(
        Method::PATCH,
        "/v1/pages/season",
        Some(&s.key),
        Some(json!({"private": false})),
    )
    .await
    .expect(200);
    assert!(!v.get("/p/season").await.text.contains("noindex"));
    // One event, large: the first to come, its box ticked.
    s.call(
        Method::PATCH,
        "/v1/pages/season",
        Some(&s.key),
        Some(json!({"layout": "single"})),
    )
    .await
    .expect(200);
    let one = v.get("/p/season").await.text;
    assert_eq!(one.matches("data-event=").count(), 1, "{one}");
    assert!(
        one.contains("name=\"event\"") && one.contains(" checked"),
        "{one}"
    );
    let js = v.get("/assets/landing.js").await;
    assert_eq!(js.status, 200);
    assert!(js.text.contains("data-select-all"));
    assert_eq!(v.get("/p/nothing-here").await.status, 404);
    s.stop().await;
}

async fn submits(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    let a = event(
        &s,
        &s.key,
        "Match one",
        "2036-09-14T13:00",
        "America/New_York",
    )
    .await;
    let b = event(
        &s,
        &s.key,
        "Match two",
        "2036-09-21T13:00",
        "America/Denver",
    )
    .await;
    page(
        &s,
        json!({"slug": "games", "organizer": 1, "title": "Games"}),
    )
    .await
    .expect(201);
    let other = s
        .post(
            "/v1/organizers",
            json!({"name": "Other", "address": "other@example.com", "create_key": true}),
        )
        .await;
    let other_key = other.expect(201)["key"]["key"].as_str().unwrap().to_owned();
    let theirs = event(&s, &other_key, "Theirs", "2036-09-14T13:00", "Europe/Paris").await;
    let mut v = Visitor::new(&s);
    let guest = "fan@example.net";
    let r = v.submit("games", guest, &[&a, &b]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        main_data(&r.text, "sent").as_deref(),
        Some("2"),
        "{}",
        r.text
    );
    eventually("two invitations in the capture folder", || async {
        (captured(&s.dir, guest).len() == 2).then_some(())
    })
    .await;
    let first = String::from_utf8_lossy(&captured(&s.dir, guest)[0]).into_owned();
    assert!(
        first.contains("METHOD:REQUEST") || first.contains("method=REQUEST"),
        "{first}"
    );
    let inv = s.get(&format!("/v1/events/{a}/invitations/{guest}")).await;
    assert_eq!(
        inv.expect(200)["invitation"]["source"],
        "landing-page",
        "{}",
        inv.text
    );
    // Again: nothing new.
    let r = v.submit("games", guest, &[&a, &b]).await;
    assert_eq!(
        main_data(&r.text, "sent").as_deref(),
        Some("0"),
        "{}",
        r.text
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(captured(&s.dir, guest).len(), 2, "a repeat sends nothing");
    // A replayed form is refused.
    let (_, token) = v.form("/p/games").await;
    let fields = [
        ("email", "replay@example.net"),
        ("csrf", token.as_str()),
        ("event", a.as_str()),
    ];
    assert_eq!(v.post("/p/games", &fields).await.status, 200);
    assert_eq!(v.post("/p/games", &fields).await.status, 403);
    // No token, no cookie: refused, nothing sent.
    let stranger = Visitor::new(&s);
    let r = stranger
        .post(
            "/p/games",
            &[
                ("email", "x@example.net"),
                ("event", a.as_str()),
                ("csrf", "x"),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    // Another organizer's event: refused, the rest goes.
    let forger = "forger@example.net";
    let r = v.submit("games", forger, &[&theirs, &a]).await;
    assert_eq!(
        main_data(&r.text, "sent").as_deref(),
        Some("1"),
        "{}",
        r.text
    );
    assert!(r.text.contains("not an event of this page"));
    let theirs_invited = s
        .call(
            Method::GET,
            &format!("/v1/events/{theirs}/invitations"),
            Some(&other_key),
            None,
        )
        .await;
    assert_eq!(
        theirs_invited.expect(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // The honeypot: told it worked, nothing sent.
    let (_, token) = v.form("/p/games").await;
    let bot = "bot@example.net";
    let r = v
        .post(
            "/p/games",
            &[
                ("email", bot),
                ("csrf", &token),
                ("event", &a),
                ("website", "spam.example"),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    // A suppressed address is refused by the core, and the page says so.
    s.post("/v1/suppressions", json!({"address": "gone@example.net"}))
        .await
        .expect(201);
    let r = v.submit("games", "gone@example.net", &[&a]).await;
    assert_eq!(
        main_data(&r.text, "sent").as_deref(),
        Some("0"),
        "{}",
        r.text
    );
    assert!(r.text.to_lowercase().contains("suppress"), "{}", r.text);
    // A bad address: 400, nothing sent.
    assert_eq!(v.submit("games", "not an address", &[&a]).await.status, 400);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(captured(&s.dir, bot).is_empty());
    assert!(captured(&s.dir, "gone@example.net").is_empty());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_is_invited_once_on_sqlite() {
    submits(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_is_invited_once_on_postgres() {
    submits(Db::Postgres).await;
}

async fn events(s: &TestServer, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(
            event(
                s,
                &s.key,
                &format!("Game {i}"),
                &format!("2036-10-{:02}T13:00", i + 1),
                "America/Chicago",
            )
            .await,
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hold_per_client_address_and_recipient() {
    let s = TestServer::start(Db::Sqlite, |c| {
        c.web.per_ip_per_minute = 4;
        c.web.per_address_per_hour = 3;
    })
    .await;
    let codes = events(&s, 4).await;
    let refs: Vec<&str> = codes.iter().map(String::as_str).collect();
    page(
        &s,
        json!({"slug": "limited", "organizer": 1, "title": "Limited"}),
    )
    .await
    .expect(201);
    let mut v = Visitor::new(&s);
    // Four events at one address: over its three an hour.
    let r = v.submit("limited", "many@example.net", &refs).await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(r.headers.get("retry-after").is_some());
    // Three go; one more at that address is refused.
    let r = v.submit("limited", "many@example.net", &refs[..3]).await;
    assert_eq!(
        main_data(&r.text, "sent").as_deref(),
        Some("3"),
        "{}",
        r.text
    );
    let r = v.submit("limited", "many@example.net", &refs[3..]).await;
    assert_eq!(r.status, 429);
    // A flood from one client: its fifth submit in a minute is refused.
    let r = v.submit("limited", "four@example.net", &refs[..1]).await;
    assert_eq!(
        main_data(&r.text, "sent").as_deref(),
        Some("1"),
        "{}",
        r.text
    );
    let r = v.submit("limited", "five@example.net", &refs[..1]).await;
    assert_eq!(r.status, 429, "{}", r.text);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(captured(&s.dir, "many@example.net").len(), 3);
    assert!(captured(&s.dir, "five@example.net").is_empty());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn above_the_cap_a_confirmation_mail_comes_first() {
    let s = TestServer::start(Db::Sqlite, |c| c.web.max_events_per_submit = 2).await;
    let codes = events(&s, 3).await;
    let refs: Vec<&str> = codes.iter().map(String::as_str).collect();
    page(
        &s,
        json!({"slug": "capped", "organizer": 1, "title": "Capped", "language": "fr"}),
    )
    .await
    .expect(201);
    let mut v = Visitor::new(&s);
    let guest = "all@example.net";
    let r = v.submit("capped", guest, &refs).await;
    assert_eq!(
        main_data(&r.text, "confirm").as_deref(),
        Some("1"),
        "{}",
        r.text
    );
    assert_eq!(main_data(&r.text, "sent").as_deref(), Some("0"));
    assert!(r.text.contains("lang=\"fr\""), "the page's language");
    let mail = eventually("the confirmation mail", || async {
        captured(&s.dir, guest).into_iter().next()
    })
    .await;
    let mail = String::from_utf8_lossy(&mail).replace("=\r\n", "");
    let at = mail.find("/p/capped/confirm/").unwrap();
    let link: String = mail[at..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert_eq!(
        captured(&s.dir, guest).len(),
        1,
        "nothing else until confirmed"
    );
    let (html, token) = v.form(&link).await;
    assert!(html.contains("id=\"send\""));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        captured(&s.dir, guest).len(),
        1,
        "opening the link sends nothing"
    );
    let r = v.post(&link, &[("csrf", &token)]).await;
    assert_eq!(
        main_data(&r.text, "sent").as_deref(),
        Some("3"),
        "{}",
        r.text
    );
    eventually("three invitations", || async {
        (captured(&s.dir, guest).len() == 4).then_some(())
    })
    .await;
    // Used once.
    let again = v.get(&link).await;
    assert_eq!(again.status, 404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_by_mail_shows_on_the_page_at_once() {
    let s = TestServer::start(Db::Sqlite, |_| {}).await;
    page(&s, json!({"slug": "live", "organizer": 1, "title": "Live"}))
        .await
        .expect(201);
    let smtp = s.server().smtp_addr().unwrap();
    let (ingest, organizer) = ("create@invites.localhost", "organizer@example.com");
    let send = |seq: u32, title: &'static str| async move {
        mail::send(
            "127.0.0.1",
            smtp.port(),
            "example.com",
            organizer,
            ingest,
            &mail::organizer_request(
                organizer,
                ingest,
                "landing-1@example.com",
                seq,
                "20361012",
                title,
            ),
        )
        .await;
    };
    send(0, "Kickoff party").await;
    let mut v = Visitor::new(&s);
    eventually("the event on the page", || {
        let mut v2 = Visitor::new(&s);
        async move {
            v2.get("/p/live")
                .await
                .text
                .contains("Kickoff party")
                .then_some(())
        }
    })
    .await;
    send(1, "Kickoff party moved").await;
    eventually("the update on the page", || {
        let mut v2 = Visitor::new(&s);
        async move {
            v2.get("/p/live")
                .await
                .text
                .contains("Kickoff party moved")
                .then_some(())
        }
    })
    .await;
    let html = v.get("/p/live").await.text;
    assert!(
        html.contains("Sun 12 Oct 2036, 18:00 CEST (Europe/Madrid)"),
        "{html}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_season_page_is_small_and_fast() {
    let s = TestServer::start(Db::Sqlite, |c| c.demo.season = true).await;
    let raw = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("{}/p/demo-season", s.base);
    let mut times = Vec::new();
    let mut brotli = 0;
    let mut gzip = 0;
    for i in 0..40 {
        let enc = if i % 2 == 0 { "br" } else { "gzip" };
        #[allow(clippy::disallowed_methods)]
        let t = std::time::Instant::now();
        let r = raw
            .get(&url)
            .header("accept-encoding", enc)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["content-encoding"],
            enc,
            "the page is compressed"
        );
        let n = r.bytes().await.unwrap().len();
        times.push(t.elapsed());
        if enc == "br" { brotli = n } else { gzip = n }
    }
    times.sort();
    let html = Visitor::new(&s).get("/p/demo-season").await.text;
    assert_eq!(html.matches("data-event=").count(), 272);
    assert_eq!(html.matches("<fieldset").count(), 18);
    assert!(html.contains("(America/Los_Angeles)") && html.contains("(America/Denver)"));
    println!(
        "demo-season: {} bytes, br {brotli} B, gzip {gzip} B; p50 {:?}, max of 40 {:?}",
        html.len(),
        times[20],
        times[39]
    );
    assert!(
        gzip < 100_000 && brotli < 100_000,
        "br {brotli}, gzip {gzip}"
    );
    s.stop().await;
}
