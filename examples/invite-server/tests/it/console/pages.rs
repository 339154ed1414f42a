//! Landing pages in the console, on SQLite and PostgreSQL: a page made,
//! changed and deleted through the forms is what `/v1/pages` then reports;
//! a colour below WCAG AA contrast is refused with the measured ratio next
//! to its field and nothing saved; the preview shows what was typed and
//! saves nothing (its frame may be held by this server's pages only); a
//! form without its token is refused; another organizer's page is not
//! found; an event's call-to-action link carries the mailing tool's merge
//! tag.

use super::lists::csrf_of;
use super::*;

/// The `src` of the page's preview frame, unescaped.
fn frame_src(page: &Reply) -> String {
    let at = page
        .text
        .find("data-preview-frame")
        .unwrap_or_else(|| panic!("a preview frame: {}", page.text));
    let start = page.text[..at].rfind("src=\"").unwrap() + 5;
    let end = page.text[start..].find('"').unwrap() + start;
    page.text[start..end].replace("&amp;", "&")
}

async fn an_event(s: &TestServer, organizer: u64, summary: &str) -> String {
    let r = s
        .post(
            "/v1/events",
            json!({"organizer": organizer, "summary": summary, "start": "2036-05-01T10:00:00",
                   "end": "2036-05-01T11:00:00", "time_zone": "Europe/Berlin"}),
        )
        .await;
    r.expect(201)["code"].as_str().unwrap().to_owned()
}

/// Posts owned fields.
async fn post(b: &mut Browser, path: &str, fields: Vec<(String, String)>) -> Reply {
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    b.post(path, &refs).await
}

async fn pages_through_the_console(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    let first = an_event(&s, 1, "Spring concert").await;
    let second = an_event(&s, 1, "Summer concert").await;
    let mut b = sign_in(&s, ORGANIZER).await;

    let list = b.get("/console/pages").await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert!(list.text.contains("data-empty=\"pages\""));
    assert!(
        list.text.contains("href=\"/console/pages\""),
        "the nav link"
    );
    assert!(list.text.contains("href=\"/console/pages/new\""));

    let new = b.get("/console/pages/new").await;
    assert_eq!(new.status, 200, "{}", new.text);
    for code in [&first, &second] {
        assert!(new.text.contains(&format!("data-event=\"{code}\"")));
    }
    // Every input has its label.
    for id in [
        "slug",
        "title",
        "intro",
        "layout",
        "group_by",
        "background",
        "text",
        "accent",
        "logo_url",
        "background_url",
        "language",
        "private",
    ] {
        assert!(
            new.text.contains(&format!("<label for=\"{id}\"")),
            "a label for {id}"
        );
    }
    let token = csrf_of(&new, "/console/pages/new");
    let fields = |token: &str, text: &str| -> Vec<(String, String)> {
        [
            ("csrf", token),
            ("slug", "spring"),
            ("title", "Spring season"),
            ("intro", "Concerts in the park"),
            ("layout", "multi"),
            ("group_by", "week"),
            ("background", "#ffffff"),
            ("text", text),
            ("accent", "#0b5cad"),
            ("logo_url", ""),
            ("background_url", ""),
            ("language", "de"),
            ("private", "1"),
            ("events", "chosen"),
            ("event", first.as_str()),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    };

    // Without its token the form is refused, and nothing is made.
    let no_token: Vec<(String, String)> = fields("", "#1f2328")
        .into_iter()
        .filter(|(k, _)| k != "csrf")
        .collect();
    let r = post(&mut b, "/console/pages/new", no_token).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(s.get("/v1/pages").await.json["items"], json!([]));

    // A text colour too light on white: refused, the ratio said next to
    // the field, nothing made; the form keeps what was typed.
    let r = post(&mut b, "/console/pages/new", fields(&token, "#eeeeee")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.text.contains("data-error-for=\"text\""), "{}", r.text);
    let at = r.text.find("data-error-for=\"text\"").unwrap();
    let said = &r.text[at..at + 300];
    assert!(said.contains("contrast of 1.16:1"), "{said}");
    assert!(said.contains("4.5:1"), "{said}");
    assert!(r.text.contains("aria-invalid=\"true\""));
    assert!(r.text.contains("value=\"Spring season\""));
    assert_eq!(s.get("/v1/pages").await.json["items"], json!([]));

    // Made.
    let token = csrf_of(&r, "/console/pages/new");
    let r = post(&mut b, "/console/pages/new", fields(&token, "#1f2328")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(location(&r), "/console/pages/spring/edit?saved=1");
    let api = s.get("/v1/pages/spring").await;
    let p = api.expect(200).clone();
    assert_eq!(p["title"], "Spring season");
    assert_eq!(p["intro"], "Concerts in the park");
    assert_eq!(p["events"], json!([first]));
    assert_eq!(p["language"], "de");
    assert_eq!(p["private"], true);
    assert_eq!(p["group_by"], "week");
    assert_eq!(p["colors"]["text"], "#1f2328");
    assert_eq!(p["revision"], 1);
    // The same slug again is refused, next to the slug.
    let again = b.get("/console/pages/new").await;
    let r = post(
        &mut b,
        "/console/pages/new",
        fields(&csrf_of(&again, "/console/pages/new"), "#1f2328"),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(r.text.contains("data-error-for=\"slug\""), "{}", r.text);

    // Listed, with its address and how many events it shows.
    let list = b.get("/console/pages").await;
    assert!(list.text.contains("data-page-slug=\"spring\""));
    assert!(list.text.contains(&format!("{}/p/spring", s.base)));
    assert!(
        list.text.contains("data-events-shown=\"1\""),
        "{}",
        list.text
    );

    // Its form: saved values, the address to copy, the QR codes.
    let edit = b.get("/console/pages/spring/edit?saved=1").await;
    assert_eq!(edit.status, 200, "{}", edit.text);
    assert!(edit.text.contains("data-note"));
    assert!(edit.text.contains("value=\"Spring season\""));
    assert!(edit.text.contains(&format!(
        "id=\"page-url\" value=\"{}/p/spring\" readonly",
        s.base
    )));
    assert!(edit.text.contains("data-copy=\"page-url\""));
    assert!(edit.text.contains("href=\"/p/spring/qr.png\""));
    assert!(edit.text.contains("href=\"/p/spring/qr.svg\""));
    assert!(edit.text.contains("src=\"/assets/console-pages.js\""));
    let csp = edit.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let js = b.get("/assets/console-pages.js").await;
    assert_eq!(js.status, 200);
    assert!(js.text.contains("data-preview-frame"));
    let png = b.get("/p/spring/qr.png").await;
    assert_eq!(png.status, 200);
    assert_eq!(png.headers["content-type"], "image/png");

    // The preview: the form again with what was typed beside it; nothing
    // saved. Its frame shows the unsaved title, framable by this server
    // only; the public page still may not be framed.
    let token = csrf_of(&edit, "/console/pages/spring/edit");
    let mut typed = fields(&token, "#1f2328");
    typed.retain(|(k, _)| k != "slug" && k != "title");
    typed.push(("title".into(), "Unsaved <title>".into()));
    typed.push(("revision".into(), "1".into()));
    let r = post(&mut b, "/console/pages/spring/preview", typed.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("value=\"Unsaved &lt;title&gt;\""));
    let src = frame_src(&r);
    assert!(src.starts_with("/console/pages/preview?"), "{src}");
    let frame = b.get(&src).await;
    assert_eq!(frame.status, 200, "{}", frame.text);
    assert!(
        frame.text.contains("<h1>Unsaved &lt;title&gt;</h1>"),
        "{}",
        frame.text
    );
    assert!(frame.text.contains("data-preview"));
    assert!(frame.text.contains(&format!("data-event=\"{first}\"")));
    assert!(!frame.text.contains(&format!("data-event=\"{second}\"")));
    assert!(
        !frame.text.contains("name=\"csrf\""),
        "the preview sends nothing"
    );
    assert!(frame.headers.get("set-cookie").is_none());
    let csp = frame.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'self'"), "{csp}");
    assert_eq!(frame.headers["x-frame-options"], "SAMEORIGIN");
    let public = b.get("/p/spring").await;
    let csp = public.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    // A preview with another colour shows it; an unreadable one is said.
    let dark = b
        .get("/console/pages/preview?title=Dark&background=%23000000&text=%23ffffff&accent=%2399ccff")
        .await;
    assert_eq!(dark.status, 200);
    assert!(dark.text.contains("--bg:#000000"), "{}", dark.text);
    let bad = b
        .get("/console/pages/preview?title=Pale&text=%23eeeeee")
        .await;
    assert!(bad.text.contains("contrast of 1.16:1"), "{}", bad.text);
    let p = s.get("/v1/pages/spring").await;
    assert_eq!(
        p.json["title"], "Spring season",
        "the preview saved nothing"
    );
    assert_eq!(p.json["revision"], 1);
    // The preview needs its token too.
    let r = post(&mut b, "/console/pages/spring/preview", typed).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a spent token");

    // Changed: every upcoming event, new title, the intro removed.
    let edit = b.get("/console/pages/spring/edit").await;
    let token = csrf_of(&edit, "/console/pages/spring/edit");
    let mut changed = fields(&token, "#1f2328");
    changed
        .retain(|(k, _)| !["title", "intro", "events", "event", "private"].contains(&k.as_str()));
    changed.extend([
        ("title".to_owned(), "Spring and summer".to_owned()),
        ("intro".to_owned(), String::new()),
        ("events".to_owned(), "all".to_owned()),
        ("revision".to_owned(), "1".to_owned()),
    ]);
    let r = post(&mut b, "/console/pages/spring/edit", changed.clone()).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let p = s.get("/v1/pages/spring").await;
    assert_eq!(p.json["title"], "Spring and summer");
    assert!(p.json.get("intro").is_none(), "{}", p.json);
    assert!(p.json.get("events").is_none(), "{}", p.json);
    assert_eq!(p.json["private"], false);
    assert_eq!(p.json["revision"], 2);
    let list = b.get("/console/pages").await;
    assert!(
        list.text.contains("data-events-shown=\"3\""),
        "{}",
        list.text
    );
    // A form opened before that change is not saved over it.
    let edit = b.get("/console/pages/spring/edit").await;
    let mut stale = changed.clone();
    stale.retain(|(k, _)| k != "csrf" && k != "title");
    stale.push(("csrf".into(), csrf_of(&edit, "/console/pages/spring/edit")));
    stale.push(("title".into(), "Stale".into()));
    let r = post(&mut b, "/console/pages/spring/edit", stale).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(
        s.get("/v1/pages/spring").await.json["title"],
        "Spring and summer"
    );
    // A bad colour on a saved page: refused, nothing changed.
    let edit = b.get("/console/pages/spring/edit").await;
    let mut pale = fields(&csrf_of(&edit, "/console/pages/spring/edit"), "#1f2328");
    pale.retain(|(k, _)| k != "background");
    pale.push(("background".into(), "#0b5cad".into()));
    pale.push(("revision".into(), "2".into()));
    let r = post(&mut b, "/console/pages/spring/edit", pale).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(
        r.text.contains("data-error-for=\"background\"")
            || r.text.contains("data-error-for=\"text\"")
    );
    let p = s.get("/v1/pages/spring").await;
    assert_eq!(p.json["revision"], 2);
    assert!(
        p.json["colors"]
            .get("background")
            .is_none_or(|b| b == "#ffffff")
    );

    // Another organizer finds nothing: not its form, nor its preview, nor
    // its delete; its own token does not change the page.
    let org = s
        .post(
            "/v1/organizers",
            json!({"name": "Second", "address": SECOND}),
        )
        .await;
    let second_org = org.expect(201)["organizer"]["id"].as_u64().unwrap();
    s.post(
        "/v1/pages",
        json!({"slug": "second-page", "organizer": second_org, "title": "Second's page"}),
    )
    .await
    .expect(201);
    let mut other = sign_in(&s, SECOND).await;
    for path in ["/console/pages/spring/edit", "/console/pages/spring/delete"] {
        let r = other.get(path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!r.text.contains("Spring and summer"));
    }
    let list = other.get("/console/pages").await;
    assert!(!list.text.contains("spring"), "{}", list.text);
    assert!(list.text.contains("data-page-slug=\"second-page\""));
    let own = other.get("/console/pages/new").await;
    assert!(!own.text.contains(&first), "another organizer's events");
    let r = other
        .post(
            "/console/pages/spring/edit",
            &[
                ("csrf", &csrf_of(&own, "/console/pages/new")),
                ("title", "Taken over"),
                ("revision", "2"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let theirs = other
        .get(&format!(
            "/console/pages/preview?title=X&events=chosen&event={first}"
        ))
        .await;
    assert_eq!(theirs.status, 200);
    assert!(!theirs.text.contains(&format!("data-event=\"{first}\"")));
    let r = other
        .get("/console/pages/preview?organizer=1&title=X")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let own = other.get("/console/pages/second-page/delete").await;
    assert_eq!(own.status, 200);
    let r = other
        .post(
            "/console/pages/spring/delete",
            &[("csrf", &csrf_of(&own, "/console/pages/second-page/delete"))],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    assert_eq!(
        s.get("/v1/pages/spring").await.json["title"],
        "Spring and summer"
    );

    // Deleted, once asked and confirmed with the form's token.
    let ask = b.get("/console/pages/spring/delete").await;
    assert_eq!(ask.status, 200);
    let r = b.post("/console/pages/spring/delete", &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(s.get("/v1/pages/spring").await.status, 200);
    let r = b
        .post(
            "/console/pages/spring/delete",
            &[("csrf", &csrf_of(&ask, "/console/pages/spring/delete"))],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(location(&r), "/console/pages?deleted=spring");
    assert_eq!(
        s.get("/v1/pages/spring").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(b.get("/p/spring").await.status, StatusCode::NOT_FOUND);
    let list = b.get("/console/pages?deleted=spring").await;
    assert!(list.text.contains("data-deleted=\"spring\""));
    assert!(list.text.contains("data-empty=\"pages\""));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_through_the_console_on_sqlite() {
    pages_through_the_console(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_through_the_console_on_postgres() {
    pages_through_the_console(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_to_action_links_carry_the_merge_tag() {
    let s = TestServer::start(Db::Sqlite, |_| {}).await;
    let code = an_event(&s, 1, "Autumn concert").await;
    let mut b = sign_in(&s, ORGANIZER).await;
    let event = b.get(&format!("/console/events/{code}")).await;
    assert!(
        event
            .text
            .contains(&format!("href=\"/console/cta?event={code}\"")),
        "the event page links to its call-to-action link"
    );
    let form = b.get("/console/cta").await;
    assert_eq!(form.status, 200);
    assert!(form.text.contains(&format!("data-event=\"{code}\"")));
    let page = format!("{}/e/{code}", s.base);
    for (platform, tag) in [
        ("mailchimp", "*|EMAIL|*"),
        ("sendgrid", "{{email}}"),
        ("sendgrid-legacy", "-email-"),
        ("klaviyo", "{{ email }}"),
    ] {
        let r = b
            .get(&format!("/console/cta?event={code}&platform={platform}"))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let api = s
            .get(&format!("/v1/events/{code}/cta?platform={platform}"))
            .await;
        let template = api.json["template"].as_str().unwrap();
        assert_eq!(template, format!("{page}?email={tag}"));
        assert!(
            r.text.contains(&format!(
                "id=\"cta-template\" value=\"{template}\" readonly"
            )),
            "{platform}: {}",
            r.text
        );
        assert!(r.text.contains(&format!("data-merge-tag=\"{tag}\"")));
    }
    // Another tool: the page's link, no merge tag.
    let r = b
        .get(&format!("/console/cta?event={code}&platform=other"))
        .await;
    assert!(!r.text.contains("cta-template"));
    assert!(r.text.contains(&format!("value=\"{page}\" readonly")));
    // Signed for one address, as the API signs it.
    let r = b
        .get(&format!(
            "/console/cta?event={code}&platform=mailchimp&address=ana%40example.org"
        ))
        .await;
    let api = s
        .get(&format!("/v1/events/{code}/cta?address=ana%40example.org"))
        .await;
    let signed = api.json["url"].as_str().unwrap();
    assert!(signed.contains("sig="));
    assert!(
        r.text.contains(&format!(
            "value=\"{}\" readonly",
            signed.replace('&', "&amp;")
        )),
        "{}",
        r.text
    );
    // Not an address: said why.
    let r = b
        .get(&format!("/console/cta?event={code}&address=not-an-address"))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text.contains("data-error-for=\"address\""), "{}", r.text);
    // Another organizer's event is not found.
    s.post(
        "/v1/organizers",
        json!({"name": "Second", "address": SECOND}),
    )
    .await
    .expect(201);
    let mut other = sign_in(&s, SECOND).await;
    let r = other
        .get(&format!("/console/cta?event={code}&platform=mailchimp"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(!r.text.contains("Autumn concert"));
    s.stop().await;
}
