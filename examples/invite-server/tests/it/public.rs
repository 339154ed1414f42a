//! The public pages invitations link to, over real HTTP on SQLite and
//! PostgreSQL, with the outgoing mail captured as `.eml` files: the links
//! each invitation carries, web answers (one occurrence too), one-click
//! unsubscribe, call-to-action links, and a link scanner that follows
//! every URL of a delivered invitation and changes nothing.

use invite_server::RunningServer;
use serde_json::{Value, json};

use crate::common::{Db, Reply, TestServer, captured, eventually, unique};
use crate::mail;

/// A delivered invitation: its links (HTML part) and headers.
pub struct Delivered {
    pub html: String,
    pub list_unsubscribe: Option<String>,
    pub list_unsubscribe_post: Option<String>,
}

impl Delivered {
    pub fn parse(raw: &[u8]) -> Delivered {
        let m = mail_parser::MessageParser::default()
            .parse(raw)
            .expect("a message");
        let header = |name: &str| {
            m.header_raw(name)
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
        };
        Delivered {
            html: m.body_html(0).map(|h| h.into_owned()).unwrap_or_default(),
            list_unsubscribe: header("List-Unsubscribe"),
            list_unsubscribe_post: header("List-Unsubscribe-Post"),
        }
    }

    /// Every http(s) URL in the HTML part and the headers, unescaped.
    pub fn urls(&self) -> Vec<String> {
        let mut text = self.html.clone();
        text.push(' ');
        text.push_str(self.list_unsubscribe.as_deref().unwrap_or(""));
        let mut out = Vec::new();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("http") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| c == '"' || c == '<' || c == '>' || c == '\'' || c.is_whitespace())
                .unwrap_or(tail.len());
            let url = tail[..end].replace("&amp;", "&");
            if url.starts_with("http://") || url.starts_with("https://") {
                out.push(url);
            }
            rest = &tail[end.max(1)..];
        }
        out.sort();
        out.dedup();
        out
    }

    /// The web answer link for `answer` (`accept`, `tentative`, `decline`).
    pub fn rsvp(&self, answer: &str) -> String {
        self.urls()
            .into_iter()
            .find(|u| u.contains("/rsvp/") && u.ends_with(&format!("/{answer}")))
            .unwrap_or_else(|| panic!("no {answer} link in {}", self.html))
    }
}

/// Invites `address` to `event` through the API and waits for its `.eml`.
pub async fn invite_and_read(s: &TestServer, event: &str, address: &str) -> Delivered {
    let before = captured(&s.dir, address).len();
    let r = s
        .post(
            &format!("/v1/events/{event}/invitations"),
            json!({"address": address, "name": "A Guest"}),
        )
        .await;
    assert_eq!(r.expect(201)["outcome"], "invited", "{}", r.text);
    let files = eventually("the invitation captured", || async {
        let f = captured(&s.dir, address);
        (f.len() > before).then_some(f)
    })
    .await;
    Delivered::parse(files.last().unwrap())
}

async fn links_point_at_the_public_url(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    let guest = format!("{}@example.net", unique("g"));
    let d = invite_and_read(&s, &s.event, &guest).await;
    let accept = d.rsvp("accept");
    assert!(accept.starts_with(&format!("{}/rsvp/", s.base)), "{accept}");
    for answer in ["tentative", "decline"] {
        assert!(d.rsvp(answer).starts_with(&format!("{}/rsvp/", s.base)));
    }
    let unsub = d.list_unsubscribe.clone().expect("List-Unsubscribe");
    assert!(
        unsub.contains(&format!("<{}/unsubscribe/", s.base)),
        "{unsub}"
    );
    assert_eq!(
        d.list_unsubscribe_post.as_deref(),
        Some("List-Unsubscribe=One-Click")
    );

    // Started again with a public URL: the owners carry it from then on.
    let mut c = s.server().config().clone();
    let dir = s.dir.clone();
    let schema = s.schema.clone();
    s.server.unwrap().shutdown().await;
    c.http.public_url = Some("https://invites.example.com/".into());
    let server = RunningServer::start(c).await.expect("starts again");
    let again = TestServer {
        base: format!("http://{}", server.http_addr()),
        server: Some(server),
        key: s.key.clone(),
        event: s.event.clone(),
        dir,
        schema,
        client: s.client.clone(),
    };
    let other = format!("{}@example.net", unique("h"));
    let d = invite_and_read(&again, &again.event, &other).await;
    assert!(
        d.rsvp("accept")
            .starts_with("https://invites.example.com/rsvp/"),
        "{}",
        d.html
    );
    again.stop().await;
}

#[tokio::test]
async fn links_point_at_the_public_url_on_sqlite() {
    links_point_at_the_public_url(Db::Sqlite).await;
}

#[tokio::test]
async fn links_point_at_the_public_url_on_postgres() {
    links_point_at_the_public_url(Db::Postgres).await;
}

/// A browser: its form cookie, once a page set it.
#[derive(Default)]
pub struct Browser {
    cookie: Option<String>,
}

impl Browser {
    /// `GET` a page (an absolute URL or a path), keeping the cookie it sets.
    pub async fn get(&mut self, s: &TestServer, url: &str) -> Reply {
        let url = if url.starts_with("http") {
            url.to_owned()
        } else {
            format!("{}{url}", s.base)
        };
        let mut r = s.client.get(url);
        if let Some(c) = &self.cookie {
            r = r.header("cookie", format!("calinvite_form={c}"));
        }
        let reply = Reply::from(r.send().await.unwrap()).await;
        if let Some(v) = reply
            .headers
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            && let Some(rest) = v.strip_prefix("calinvite_form=")
        {
            self.cookie = Some(rest.split(';').next().unwrap().to_owned());
        }
        reply
    }

    /// `POST` a form body to `path` with the cookie.
    pub async fn post(&self, s: &TestServer, path: &str, body: &str) -> Reply {
        let mut r = s
            .client
            .post(format!("{}{path}", s.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        if let Some(c) = &self.cookie {
            r = r.header("cookie", format!("calinvite_form={c}"));
        }
        Reply::from(r.send().await.unwrap()).await
    }
}

/// The first CSRF token of a page's forms.
pub fn csrf_of(page: &Reply) -> String {
    let at = page.text.find("name=\"csrf\" value=\"").expect("a form") + 19;
    page.text[at..].split('"').next().unwrap().to_owned()
}

fn attr<'a>(page: &'a Reply, name: &str) -> Option<&'a str> {
    let key = format!("{name}=\"");
    let at = page.text.find(&key)? + key.len();
    page.text[at..].split('"').next()
}

fn enc(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// The invitation as the API shows it, with its history beside its fields.
async fn invitation(s: &TestServer, event: &str, address: &str) -> Value {
    let r = s
        .get(&format!("/v1/events/{event}/invitations/{address}"))
        .await;
    let mut v = r.expect(200)["invitation"].clone();
    v["history"] = r.json["history"].clone();
    v
}

async fn suppressed(s: &TestServer, address: &str) -> bool {
    s.get(&format!("/v1/suppressions/{address}")).await.status == 200
}

fn token_of(url: &str) -> String {
    let after = url
        .split("/rsvp/")
        .nth(1)
        .or_else(|| url.split("/unsubscribe/").nth(1))
        .unwrap();
    after.split('/').next().unwrap().to_owned()
}

async fn answers_change_their_mind_and_scanners_change_nothing(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    let guest = format!("{}@example.net", unique("r"));
    let d = invite_and_read(&s, &s.event, &guest).await;
    let before = invitation(&s, &s.event, &guest).await;
    assert_eq!(before["status"], "no-answer");

    // A link scanner opens every URL of the message (HTML part and headers).
    let urls = d.urls();
    assert!(urls.len() >= 4, "{urls:?}");
    for url in urls.iter().filter(|u| u.starts_with(&s.base)) {
        let r = s.client.get(url).send().await.unwrap();
        assert!(r.status().is_success(), "{url}: {}", r.status());
    }
    let after = invitation(&s, &s.event, &guest).await;
    assert_eq!(after["status"], "no-answer");
    assert_eq!(
        after["history"], before["history"],
        "a GET recorded nothing"
    );
    assert!(!suppressed(&s, &guest).await, "a GET unsubscribed no one");

    // The page: the clicked answer highlighted, nothing recorded.
    let token = token_of(&d.rsvp("accept"));
    let mut b = Browser::default();
    let page = b.get(&s, &d.rsvp("tentative")).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(attr(&page, "data-current"), Some("none"));
    assert_eq!(page.text.matches("data-chosen").count(), 1);
    assert!(
        page.text
            .contains("value=\"tentative\" class=\"btn btn-primary\""),
        "{}",
        page.text
    );
    assert!(page.text.contains("Welcome to your invite server"));
    assert!(
        page.text.contains("(UTC)"),
        "the zone is named: {}",
        page.text
    );

    // Yes, through the form.
    let form = format!("answer=accepted&csrf={}&website=", enc(&csrf_of(&page)));
    let yes = b.post(&s, &format!("/rsvp/{token}"), &form).await;
    assert_eq!(yes.status, 200, "{}", yes.text);
    assert_eq!(attr(&yes, "data-answer"), Some("accepted"));
    assert_eq!(invitation(&s, &s.event, &guest).await["status"], "accepted");
    let report = s.get(&format!("/v1/events/{}/report", s.event)).await;
    assert!(
        report.expect(200).to_string().contains("accepted"),
        "{}",
        report.text
    );
    // The same form again is refused, and changes nothing.
    let replay = b
        .post(
            &s,
            &format!("/rsvp/{token}"),
            &form.replace("accepted", "declined"),
        )
        .await;
    assert_eq!(replay.status, 403, "{}", replay.text);
    assert_eq!(invitation(&s, &s.event, &guest).await["status"], "accepted");
    // Without a token: refused.
    let bare = b
        .post(&s, &format!("/rsvp/{token}"), "answer=declined")
        .await;
    assert_eq!(bare.status, 403, "{}", bare.text);

    // A change of mind: No. The history keeps both, as web answers.
    let page = b.get(&s, &d.rsvp("decline")).await;
    assert_eq!(attr(&page, "data-current"), Some("accepted"));
    let no = b
        .post(
            &s,
            &format!("/rsvp/{token}"),
            &format!("answer=declined&csrf={}", enc(&csrf_of(&page))),
        )
        .await;
    assert_eq!(attr(&no, "data-answer"), Some("declined"), "{}", no.text);
    let inv = invitation(&s, &s.event, &guest).await;
    assert_eq!(inv["status"], "declined");
    let answers: Vec<&Value> = inv["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["kind"] == "answer")
        .collect();
    assert_eq!(answers.len(), 2, "{inv}");
    assert_eq!(answers[0]["status"], "accepted");
    assert_eq!(answers[1]["status"], "declined");
    assert!(answers.iter().all(|h| h["web"] == true));

    // An unknown token: a 404 page.
    let none = b.get(&s, "/rsvp/nosuchtoken/accept").await;
    assert_eq!(none.status, 404);
    assert!(none.content_type().starts_with("text/html"));
    s.stop().await;
}

#[tokio::test]
async fn answers_change_their_mind_and_scanners_change_nothing_on_sqlite() {
    answers_change_their_mind_and_scanners_change_nothing(Db::Sqlite).await;
}

#[tokio::test]
async fn answers_change_their_mind_and_scanners_change_nothing_on_postgres() {
    answers_change_their_mind_and_scanners_change_nothing(Db::Postgres).await;
}

/// One occurrence of a weekly event, answered on the web.
async fn one_occurrence_answered(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    let smtp = s.server().smtp_addr().unwrap();
    let (ingest, organizer) = ("create@invites.localhost", "organizer@example.com");
    #[allow(clippy::disallowed_methods)]
    let day = (chrono::Utc::now() + chrono::TimeDelta::days(3))
        .format("%Y%m%d")
        .to_string();
    let title = unique("Weekly choir ");
    let request = String::from_utf8(mail::organizer_request(
        organizer,
        ingest,
        &format!("{}@example.com", unique("u")),
        0,
        &day,
        &title,
    ))
    .unwrap()
    .replace("SUMMARY:", "RRULE:FREQ=WEEKLY;COUNT=5\r\nSUMMARY:");
    mail::send(
        "127.0.0.1",
        smtp.port(),
        "example.com",
        organizer,
        ingest,
        request.as_bytes(),
    )
    .await;
    let code = eventually("the weekly event", || async {
        s.get("/v1/events?limit=200").await.expect(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["summary"] == title.as_str())
            .map(|e| e["code"].as_str().unwrap().to_owned())
    })
    .await;
    let guest = format!("{}@example.net", unique("w"));
    let d = invite_and_read(&s, &code, &guest).await;
    let mut b = Browser::default();
    let page = b.get(&s, &d.rsvp("accept")).await;
    assert_eq!(attr(&page, "data-occurrences"), Some("5"), "{}", page.text);
    // One button marked as clicked, one honeypot: no id twice on the page.
    assert_eq!(page.text.matches("data-chosen").count(), 1);
    assert_eq!(page.text.matches("id=\"website\"").count(), 1);
    // The second date's form.
    let second_at = page
        .text
        .match_indices("data-occurrence=\"")
        .nth(1)
        .unwrap()
        .0;
    let second = page.text[second_at + 17..]
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let token = token_of(&d.rsvp("accept"));
    let body = format!(
        "answer=declined&occurrence={second}&csrf={}",
        enc(&csrf_of(&page))
    );
    let r = b.post(&s, &format!("/rsvp/{token}"), &body).await;
    assert_eq!(attr(&r, "data-answer"), Some("declined"), "{}", r.text);
    assert_eq!(attr(&r, "data-occurrence"), Some(second.as_str()));
    let inv = invitation(&s, &code, &guest).await;
    assert_eq!(
        inv["status"], "no-answer",
        "the series is unanswered: {inv}"
    );
    let one = &inv["instance_answers"][0];
    assert_eq!(one["status"], "declined", "{inv}");
    let h = inv["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["kind"] == "answer")
        .unwrap();
    assert!(h["occurrence"].is_string(), "{h}");
    assert_eq!(h["occurrence"], one["occurrence"]);
    // A time that is none of its occurrences is refused, with the reason.
    let page = b.get(&s, &d.rsvp("accept")).await;
    let odd = format!(
        "answer=accepted&occurrence=20200101T000000Z&csrf={}",
        enc(&csrf_of(&page))
    );
    let r = b.post(&s, &format!("/rsvp/{token}"), &odd).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.text.contains("no occurrence at that time"), "{}", r.text);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_occurrence_answered_on_sqlite() {
    one_occurrence_answered(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_occurrence_answered_on_postgres() {
    one_occurrence_answered(Db::Postgres).await;
}

async fn unsubscribe_by_one_click_and_by_the_page(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    // One click, as a mail provider posts it: no cookie, no page.
    let a = format!("{}@example.net", unique("u"));
    let d = invite_and_read(&s, &s.event, &a).await;
    let unsub = d.list_unsubscribe.clone().unwrap();
    let at = unsub.find("<http").expect("an http link") + 1;
    let url = unsub[at..].split('>').next().unwrap().to_owned();
    let r = s.client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(!suppressed(&s, &a).await, "a GET unsubscribes no one");
    let neither = s
        .client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=Maybe")
        .send()
        .await
        .unwrap();
    assert_eq!(neither.status(), 403);
    assert!(neither.text().await.unwrap().contains("One-Click"));
    assert!(!suppressed(&s, &a).await);
    let one = Reply::from(
        s.client
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(attr(&one, "data-unsubscribed"), Some("1"), "{}", one.text);
    assert!(suppressed(&s, &a).await);

    // The page's button.
    let b_addr = format!("{}@example.net", unique("v"));
    let d = invite_and_read(&s, &s.event, &b_addr).await;
    let token = token_of(&d.rsvp("accept"));
    let mut b = Browser::default();
    let page = b.get(&s, &format!("/unsubscribe/{token}")).await;
    assert_eq!(page.status, 200);
    assert!(!suppressed(&s, &b_addr).await);
    let done = b
        .post(
            &s,
            &format!("/unsubscribe/{token}"),
            &format!("csrf={}&website=", enc(&csrf_of(&page))),
        )
        .await;
    assert_eq!(attr(&done, "data-unsubscribed"), Some("1"), "{}", done.text);
    assert!(suppressed(&s, &b_addr).await);

    // A later invitation to a suppressed address is refused as suppressed.
    let other = s
        .post(
            "/v1/events",
            json!({"organizer": 1, "summary": "Later", "start": "2036-06-12T18:00", "end": "2036-06-12T19:00", "time_zone": "Europe/Madrid"}),
        )
        .await;
    let code = other.expect(201)["code"].as_str().unwrap().to_owned();
    let refused = s
        .post(
            &format!("/v1/events/{code}/invitations"),
            json!({"address": b_addr}),
        )
        .await;
    assert_eq!(refused.problem(422)["reason"], "suppressed");
    s.stop().await;
}

#[tokio::test]
async fn unsubscribe_by_one_click_and_by_the_page_on_sqlite() {
    unsubscribe_by_one_click_and_by_the_page(Db::Sqlite).await;
}

#[tokio::test]
async fn unsubscribe_by_one_click_and_by_the_page_on_postgres() {
    unsubscribe_by_one_click_and_by_the_page(Db::Postgres).await;
}

async fn call_to_action_links(db: Db) {
    let s = TestServer::start(db, |c| {
        c.web.per_ip_per_minute = 1000;
        c.web.per_address_per_hour = 3;
    })
    .await;
    let e = s.event.clone();
    let a = format!("{}@example.net", unique("c"));
    let mut b = Browser::default();
    // The page sends nothing.
    let page = b
        .get(&s, &format!("/e/{e}?email={}&name=Ana", enc(&a)))
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains(&a));
    assert!(page.text.contains("Welcome to your invite server"));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(captured(&s.dir, &a).is_empty());
    s.get(&format!("/v1/events/{e}/invitations/{a}"))
        .await
        .problem(404);

    // The button sends one invitation.
    let form = format!(
        "email={}&name=Ana&sig=&csrf={}&website=",
        enc(&a),
        enc(&csrf_of(&page))
    );
    let sent = b.post(&s, &format!("/e/{e}"), &form).await;
    assert_eq!(attr(&sent, "data-sent"), Some("1"), "{}", sent.text);
    let files = eventually("the invitation captured", || async {
        let f = captured(&s.dir, &a);
        (!f.is_empty()).then_some(f)
    })
    .await;
    assert!(String::from_utf8_lossy(&files[0]).contains("Welcome to your invite server"));
    assert_eq!(invitation(&s, &e, &a).await["source"], "call-to-action");
    // The same form again: refused (spent); a new page: nothing new sent.
    assert_eq!(b.post(&s, &format!("/e/{e}"), &form).await.status, 403);
    let page = b.get(&s, &format!("/e/{e}?email={}", enc(&a))).await;
    let again = b
        .post(
            &s,
            &format!("/e/{e}"),
            &format!("email={}&csrf={}", enc(&a), enc(&csrf_of(&page))),
        )
        .await;
    assert_eq!(attr(&again, "data-sent"), Some("0"), "{}", again.text);
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    assert_eq!(captured(&s.dir, &a).len(), 1);
    // No token: refused.
    assert_eq!(
        b.post(&s, &format!("/e/{e}"), &format!("email={}", enc(&a)))
            .await
            .status,
        403
    );

    // Placeholders left by a mailing tool: the page asks for the address.
    for tag in ["*|EMAIL|*", "{{email}}", "{{ email }}", "[email]"] {
        let p = b.get(&s, &format!("/e/{e}?email={}", enc(tag))).await;
        assert_eq!(attr(&p, "data-address-needed"), Some("1"), "{tag}");
        assert!(p.text.contains("type=\"email\""), "{tag}");
    }
    // An unknown code: 404.
    assert_eq!(b.get(&s, "/e/nosuchcode0000000").await.status, 404);

    // Floods: the address's limit holds (3 an hour; one used above, one repeat).
    let f = format!("{}@example.net", unique("f"));
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let p = b.get(&s, &format!("/e/{e}?email={}", enc(&f))).await;
        let r = b
            .post(
                &s,
                &format!("/e/{e}"),
                &format!("email={}&csrf={}", enc(&f), enc(&csrf_of(&p))),
            )
            .await;
        statuses.push(r.status.as_u16());
    }
    assert_eq!(statuses, vec![200, 200, 200, 429], "{statuses:?}");
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    assert_eq!(
        captured(&s.dir, &f).len(),
        1,
        "one invitation, however often asked"
    );

    // Signed links: required by the owner, good for their own address only.
    let link = s
        .get(&format!(
            "/v1/events/{e}/cta?address={}&platform=mailchimp",
            enc("Sig@Example.net")
        ))
        .await;
    let link = link.expect(200).clone();
    assert_eq!(
        link["template"],
        format!("{}/e/{e}?email=*|EMAIL|*", s.base)
    );
    let signed = link["url"].as_str().unwrap().to_owned();
    s.call(
        reqwest::Method::PATCH,
        "/v1/owner/cta",
        Some(&s.key),
        Some(json!({"signed_only": true})),
    )
    .await
    .expect(200);
    let unsigned = b
        .get(&s, &format!("/e/{e}?email={}", enc("sig@example.net")))
        .await;
    assert_eq!(unsigned.status, 403, "{}", unsigned.text);
    let sig = signed.split("sig=").nth(1).unwrap().to_owned();
    let forged = b
        .get(
            &s,
            &format!("/e/{e}?email={}&sig={sig}", enc("other@example.net")),
        )
        .await;
    assert_eq!(forged.status, 403);
    assert!(forged.text.contains("another address"), "{}", forged.text);
    let good = b.get(&s, &signed).await;
    assert_eq!(good.status, 200, "{}", good.text);
    let swapped = b
        .post(
            &s,
            &format!("/e/{e}"),
            &format!(
                "email={}&sig={sig}&csrf={}",
                enc("other@example.net"),
                enc(&csrf_of(&good))
            ),
        )
        .await;
    assert_eq!(swapped.status, 403, "{}", swapped.text);
    assert!(captured(&s.dir, "other@example.net").is_empty());
    let good = b.get(&s, &signed).await;
    let ok = b
        .post(
            &s,
            &format!("/e/{e}"),
            &format!(
                "email={}&sig={sig}&csrf={}",
                enc("sig@example.net"),
                enc(&csrf_of(&good))
            ),
        )
        .await;
    assert_eq!(attr(&ok, "data-sent"), Some("1"), "{}", ok.text);

    // A suppressed address is refused with the reason.
    s.call(
        reqwest::Method::PATCH,
        "/v1/owner/cta",
        Some(&s.key),
        Some(json!({"signed_only": false})),
    )
    .await
    .expect(200);
    s.post("/v1/suppressions", json!({"address": "gone@example.net"}))
        .await;
    let p = b.get(&s, &format!("/e/{e}?email=gone%40example.net")).await;
    let r = b
        .post(
            &s,
            &format!("/e/{e}"),
            &format!("email=gone%40example.net&csrf={}", enc(&csrf_of(&p))),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(attr(&r, "data-refused"), Some("suppressed"));
    s.stop().await;
}

#[tokio::test]
async fn call_to_action_links_on_sqlite() {
    call_to_action_links(Db::Sqlite).await;
}

#[tokio::test]
async fn call_to_action_links_on_postgres() {
    call_to_action_links(Db::Postgres).await;
}

/// An answer after the event's end follows the organizer's settings (by
/// default recorded, not applied); the event's link sends no one.
#[tokio::test]
async fn late_answers_are_recorded_not_applied_and_ended_events_take_no_one() {
    let s = TestServer::start(Db::Sqlite, |_| {}).await;
    #[allow(clippy::disallowed_methods)]
    let now = chrono::Utc::now();
    let at = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let end = now + chrono::TimeDelta::seconds(4);
    let made = s
        .post(
            "/v1/events",
            json!({"organizer": 1, "summary": "Short call", "start": at(now - chrono::TimeDelta::minutes(1)),
                   "end": at(end), "time_zone": "UTC"}),
        )
        .await;
    let code = made.expect(201)["code"].as_str().unwrap().to_owned();
    let guest = format!("{}@example.net", unique("l"));
    let d = invite_and_read(&s, &code, &guest).await;
    let mut b = Browser::default();
    let page = b.get(&s, &d.rsvp("accept")).await;
    #[allow(clippy::disallowed_methods)]
    let wait = (end - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + std::time::Duration::from_secs(2)).await;
    let token = token_of(&d.rsvp("accept"));
    let r = b
        .post(
            &s,
            &format!("/rsvp/{token}"),
            &format!("answer=accepted&csrf={}", enc(&csrf_of(&page))),
        )
        .await;
    assert_eq!(attr(&r, "data-answer"), Some("accepted"), "{}", r.text);
    assert_eq!(attr(&r, "data-applied"), Some("0"), "{}", r.text);
    let inv = invitation(&s, &code, &guest).await;
    assert_eq!(inv["status"], "no-answer", "{inv}");
    let late = inv["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["kind"] == "answer")
        .unwrap();
    assert_eq!(late["late"], true);
    // The event's call-to-action link: over.
    let over = b
        .get(&s, &format!("/e/{code}?email=someone%40example.net"))
        .await;
    assert_eq!(over.status, 410, "{}", over.text);
    assert_eq!(attr(&over, "data-refused"), Some("event-ended"));
    s.stop().await;
}

/// A flood from one network is held at `[web] per_ip_per_minute`, with
/// `Retry-After`; nothing past the limit is sent.
#[tokio::test]
async fn a_flood_from_one_network_is_held() {
    let s = TestServer::start(Db::Sqlite, |c| c.web.per_ip_per_minute = 2).await;
    let e = s.event.clone();
    let mut b = Browser::default();
    let mut statuses = Vec::new();
    let mut last = None;
    for n in 0..3 {
        let a = format!("{}-{n}@example.net", unique("ip"));
        let p = b.get(&s, &format!("/e/{e}?email={}", enc(&a))).await;
        let r = b
            .post(
                &s,
                &format!("/e/{e}"),
                &format!("email={}&csrf={}", enc(&a), enc(&csrf_of(&p))),
            )
            .await;
        statuses.push(r.status.as_u16());
        last = Some((a, r));
    }
    assert_eq!(statuses, vec![200, 200, 429]);
    let (held, r) = last.unwrap();
    assert!(r.headers.get("retry-after").is_some(), "{:?}", r.headers);
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    assert!(captured(&s.dir, &held).is_empty());
    s.get(&format!("/v1/events/{e}/invitations/{held}"))
        .await
        .problem(404);
    s.stop().await;
}
