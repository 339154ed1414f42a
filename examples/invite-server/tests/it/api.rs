//! The API's contract: problem details for every rejection (naming the bad
//! field), body limits, idempotency, cursor pagination, events made,
//! changed and cancelled through the API, and no 5xx on junk.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Db, Reply, TestServer, captured, eventually};

async fn raw(
    s: &TestServer,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Reply {
    let mut r = s
        .client
        .request(method, format!("{}{path}", s.base))
        .bearer_auth(&s.key)
        .body(body);
    if let Some(t) = content_type {
        r = r.header("content-type", t);
    }
    Reply::from(r.send().await.unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rejection_is_a_problem_that_says_what_was_wrong() {
    let s = TestServer::start(Db::Sqlite, |c| c.http.max_upload_bytes = 4096).await;
    let invite = format!("/v1/events/{}/invitations", s.event);

    // Malformed JSON, a wrong type, a missing field, an unknown field.
    let p = raw(
        &s,
        Method::POST,
        &invite,
        Some("application/json"),
        b"{\"address\": ".to_vec(),
    )
    .await;
    assert!(
        p.problem(400)["detail"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    let p = s.post(&invite, json!({"address": 17})).await;
    assert_eq!(p.problem(400)["errors"][0]["pointer"], "/address");
    let p = s.post(&invite, json!({"name": "x"})).await;
    assert!(
        p.problem(400)["detail"]
            .as_str()
            .unwrap()
            .contains("address")
    );
    let p = s
        .post(&invite, json!({"address": "a@example.net", "adress": "x"}))
        .await;
    assert!(
        p.problem(400)["detail"]
            .as_str()
            .unwrap()
            .contains("adress")
    );
    // A bad value is named by its field.
    let p = s.post(&invite, json!({"address": "not an address"})).await;
    assert_eq!(p.problem(400)["errors"][0]["pointer"], "/address");
    let p = s
        .post(
            &invite,
            json!({"address": "a@example.net", "language": "no such tag!"}),
        )
        .await;
    assert_eq!(p.problem(400)["errors"][0]["pointer"], "/language");
    let p = s
        .post("/v1/events", json!({"organizer": 1, "summary": "x", "start": "2036-01-01T10:00", "end": "2036-01-01T11:00", "time_zone": "Mars/Base"}))
        .await;
    assert_eq!(p.problem(400)["errors"][0]["pointer"], "/time_zone");
    let p = s
        .post("/v1/events", json!({"organizer": 1, "summary": "x", "start": "2036-01-01T12:00", "end": "2036-01-01T11:00"}))
        .await;
    assert_eq!(p.problem(400)["errors"][0]["pointer"], "/end");
    let p = s
        .post(
            "/v1/events",
            json!({"summary": "x", "start": "2036-01-01", "end": "2036-01-01"}),
        )
        .await;
    assert_eq!(p.problem(400)["errors"][0]["pointer"], "/organizer");
    // Query parameters.
    let p = s.get("/v1/events?limit=0").await;
    assert_eq!(p.problem(400)["errors"][0]["pointer"], "limit");
    let p = s.get("/v1/events?limit=many").await;
    assert_eq!(p.problem(400)["errors"][0]["pointer"], "limit");
    let p = s.get("/v1/events?cursor=%%%").await;
    assert_eq!(p.problem(400)["errors"][0]["pointer"], "cursor");
    let p = s.get(&format!("{invite}?status=maybe")).await;
    assert_eq!(p.problem(400)["errors"][0]["pointer"], "status");
    // The wrong media type, an empty body.
    raw(
        &s,
        Method::POST,
        &invite,
        Some("text/plain"),
        b"{\"address\":\"a@example.net\"}".to_vec(),
    )
    .await
    .problem(415);
    raw(
        &s,
        Method::POST,
        &invite,
        None,
        b"{\"address\":\"a@example.net\"}".to_vec(),
    )
    .await
    .problem(415);
    raw(
        &s,
        Method::POST,
        &invite,
        Some("application/json"),
        Vec::new(),
    )
    .await
    .problem(400);
    // Too large: 413, for JSON and for a list.
    let big = format!(
        "{{\"address\": \"a@example.net\", \"name\": \"{}\"}}",
        "x".repeat(70_000)
    );
    raw(
        &s,
        Method::POST,
        &invite,
        Some("application/json"),
        big.into_bytes(),
    )
    .await
    .problem(413);
    let list = format!("email\n{}", "someone@example.net\n".repeat(400));
    raw(
        &s,
        Method::POST,
        &format!("/v1/events/{}/lists?name=big", s.event),
        Some("text/csv"),
        list.into_bytes(),
    )
    .await
    .problem(413);
    // Unknown routes and methods.
    s.get("/v1/nothing-here").await.problem(404);
    s.call(Method::DELETE, "/v1/events", Some(&s.key.clone()), None)
        .await
        .problem(405);
    s.get("/v1/events/not-a-code").await.problem(404);
    // Refusals carry the engine's reason.
    let own = s
        .post(&invite, json!({"address": "rsvp@invites.localhost"}))
        .await;
    assert_eq!(own.problem(422)["reason"], "own-address");
    // Every problem type is described where its `type` points.
    let described = s.call(Method::GET, "/problems/refused", None, None).await;
    assert!(described.expect(200).is_null() && described.text.contains("HTTP 422"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_is_sent_once_whatever_is_repeated() {
    let s = TestServer::start(Db::Sqlite, |_| {}).await;
    let invite = format!("/v1/events/{}/invitations", s.event);
    let send = |key: Option<&'static str>, body: Value| {
        let mut r = s
            .client
            .post(format!("{}{invite}", s.base))
            .bearer_auth(&s.key)
            .json(&body);
        if let Some(k) = key {
            r = r.header("Idempotency-Key", k);
        }
        async move { Reply::from(r.send().await.unwrap()).await }
    };
    let body = json!({"address": "once@example.net", "name": "Once"});
    let first = send(Some("k-1"), body.clone()).await;
    first.expect(201);
    assert!(first.headers.get("idempotent-replayed").is_none());
    // The same key again: the first answer, again (even its 201).
    let again = send(Some("k-1"), body.clone()).await;
    again.expect(201);
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(again.json, first.json);
    // The same key for another request: refused.
    let other = send(Some("k-1"), json!({"address": "other@example.net"})).await;
    assert_eq!(
        other.problem(422)["type"],
        "/problems/idempotency-key-reused"
    );
    // No key, the same address: calinvite's own idempotency.
    let plain = send(None, body.clone()).await;
    assert_eq!(plain.expect(200)["outcome"], "already-invited");
    // Another key, the same address: also already invited.
    let k2 = send(Some("k-2"), body.clone()).await;
    assert_eq!(k2.expect(200)["outcome"], "already-invited");
    // A refusal is kept for its key too.
    let own = send(Some("k-3"), json!({"address": "create@invites.localhost"})).await;
    own.problem(422);
    let own_again = send(Some("k-3"), json!({"address": "create@invites.localhost"})).await;
    assert_eq!(own_again.problem(422)["reason"], "own-address");
    assert_eq!(
        own_again.headers.get("idempotent-replayed").unwrap(),
        "true"
    );
    // A bad key.
    let long: &'static str = Box::leak("k".repeat(300).into_boxed_str());
    send(Some(long), body.clone()).await.problem(400);
    // One message went out.
    let files = eventually("the invitation captured", || async {
        let f = captured(&s.dir, "once@example.net");
        (!f.is_empty()).then_some(f)
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(files.len(), 1);
    assert_eq!(captured(&s.dir, "once@example.net").len(), 1);
    s.stop().await;
}

/// Reads every page of `path` (a list endpoint) with `limit`, checking the
/// pages join up.
async fn all_pages(s: &TestServer, path: &str, limit: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    let sep = if path.contains('?') { '&' } else { '?' };
    for _ in 0..1000 {
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
            None => format!("{path}{sep}limit={limit}"),
        };
        let page = s.get(&url).await;
        let page = page.expect(200).clone();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= limit);
        out.extend(items.iter().cloned());
        match page.get("next_cursor").and_then(Value::as_str) {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
    panic!("more than 1000 pages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_join_up_without_gaps_or_repeats() {
    let s = TestServer::start(Db::Postgres, |_| {}).await;
    // Events across two organizers.
    let org = s
        .post(
            "/v1/organizers",
            json!({"name": "Second", "address": "second@example.com"}),
        )
        .await;
    let second = org.expect(201)["organizer"]["id"].as_u64().unwrap();
    let mut made = vec![s.event.clone()];
    for i in 0..7 {
        let organizer = if i % 2 == 0 { 1 } else { second };
        let e = s
            .post(
                "/v1/events",
                json!({"organizer": organizer, "summary": format!("E{i}"), "start": "2036-05-01", "end": "2036-05-01"}),
            )
            .await;
        made.push(e.expect(201)["code"].as_str().unwrap().to_owned());
    }
    for limit in [1, 3, 8, 50] {
        let events = all_pages(&s, "/v1/events", limit).await;
        let mut codes: Vec<String> = events
            .iter()
            .map(|e| e["code"].as_str().unwrap().to_owned())
            .collect();
        codes.sort();
        let mut want = made.clone();
        want.sort();
        assert_eq!(codes, want, "limit {limit}");
    }
    let only_second = all_pages(&s, &format!("/v1/events?organizer={second}"), 2).await;
    assert_eq!(only_second.len(), 3);
    // Invitations, with and without a filter.
    let invite = format!("/v1/events/{}/invitations", s.event);
    for i in 0..23 {
        s.post(&invite, json!({"address": format!("p{i:02}@example.net")}))
            .await
            .expect(201);
    }
    for limit in [1, 5, 23, 200] {
        let invs = all_pages(&s, &invite, limit).await;
        let mut addresses: Vec<&str> = invs
            .iter()
            .map(|i| i["address"].as_str().unwrap())
            .collect();
        addresses.sort();
        addresses.dedup();
        assert_eq!(addresses.len(), 23, "limit {limit}");
    }
    let unanswered = all_pages(&s, &format!("{invite}?status=no-answer"), 4).await;
    assert_eq!(unanswered.len(), 23);
    let none = all_pages(&s, &format!("{invite}?status=accepted"), 4).await;
    assert!(none.is_empty());
    // Refusals and organizers page too.
    for i in 0..5 {
        s.post(
            &invite,
            json!({"address": format!("create@invites.localhost"), "name": format!("{i}")}),
        )
        .await
        .problem(422);
    }
    let refusals = all_pages(&s, "/v1/refusals", 2).await;
    assert_eq!(refusals.len(), 5);
    assert!(refusals.iter().all(|r| r["reason"] == "own-address"));
    let organizers = all_pages(&s, "/v1/organizers", 1).await;
    assert_eq!(organizers.len(), 2);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_made_changed_and_cancelled_through_the_api() {
    let s = TestServer::start(Db::Sqlite, |_| {}).await;
    let e = s
        .post(
            "/v1/events",
            json!({"organizer": 1, "summary": "Board meeting", "start": "2036-06-01T09:00", "end": "2036-06-01T10:30",
                   "time_zone": "America/New_York", "location": "Room 1", "url": "https://example.com/board"}),
        )
        .await;
    assert!(
        e.headers
            .get("location")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("/v1/events/")
    );
    let e = e.expect(201).clone();
    let code = e["code"].as_str().unwrap().to_owned();
    assert_eq!(
        (&e["start"], &e["end"], &e["time_zone"], &e["from_calendar"]),
        (
            &json!("2036-06-01T09:00:00"),
            &json!("2036-06-01T10:30:00"),
            &json!("America/New_York"),
            &json!(false)
        )
    );
    let invite = format!("/v1/events/{code}/invitations");
    for who in ["yes@example.net", "silent@example.net"] {
        s.post(&invite, json!({"address": who})).await.expect(201);
    }
    eventually("both invitations captured", || async {
        (captured(&s.dir, "yes@example.net").len() == 1
            && captured(&s.dir, "silent@example.net").len() == 1)
            .then_some(())
    })
    .await;
    // A change no one sees: nothing is sent.
    let same = s
        .call(
            Method::PATCH,
            &format!("/v1/events/{code}"),
            Some(&s.key.clone()),
            Some(json!({"summary": "Board meeting"})),
        )
        .await;
    assert_eq!(same.expect(200)["outcome"], "unchanged");
    // A new time: an update, at SEQUENCE 1, to the audience (nobody has
    // answered Yes or Maybe: the default audience gets none).
    let moved = s
        .call(
            Method::PATCH,
            &format!("/v1/events/{code}"),
            Some(&s.key.clone()),
            Some(json!({"start": "2036-06-01T11:00", "end": "2036-06-01T12:00"})),
        )
        .await;
    let moved = moved.expect(200).clone();
    assert_eq!(
        (&moved["outcome"], &moved["sequence"]),
        (&json!("revision-sent"), &json!(1)),
        "{moved}"
    );
    assert_eq!(moved["event"]["start"], "2036-06-01T11:00:00");
    // Cancelled: everyone who received it gets the cancellation.
    let cancel = s
        .post(&format!("/v1/events/{code}/cancel"), json!({}))
        .await;
    let cancel = cancel.expect(200).clone();
    assert_eq!(
        (&cancel["outcome"], &cancel["event"]["cancelled"]),
        (&json!("cancelled"), &json!(true))
    );
    eventually("the cancellations captured", || async {
        (captured(&s.dir, "yes@example.net").len() == 2
            && captured(&s.dir, "silent@example.net").len() == 2)
            .then_some(())
    })
    .await;
    let last = captured(&s.dir, "yes@example.net").pop().unwrap();
    assert_eq!(crate::mail::read(&last, "yes@example.net").method, "CANCEL");
    // Nothing more on a cancelled event.
    let late = s
        .post(&invite, json!({"address": "late@example.net"}))
        .await;
    assert_eq!(late.problem(422)["reason"], "event-cancelled");
    let again = s
        .post(&format!("/v1/events/{code}/cancel"), json!({}))
        .await;
    again.problem(422);
    s.stop().await;
}

/// A small deterministic generator of junk.
struct Junk(u64);

impl Junk {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
    fn text(&mut self) -> String {
        let pieces = [
            "", "a", "é", "\u{0}", "%", "{", "}", "\"", "[", "]", "null", "1e999", "-1", "@", "..",
            "/", "\\", "💥", "cik_", ",", ":", "true", "\n",
        ];
        (0..self.next() % 12).map(|_| self.pick(&pieces)).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_never_makes_a_server_error() {
    let s = TestServer::start(Db::Sqlite, |_| {}).await;
    let e = s.event.clone();
    let paths = [
        "/v1/events".to_owned(),
        format!("/v1/events/{e}"),
        format!("/v1/events/{e}/invitations"),
        format!("/v1/events/{e}/invitations/x@example.net"),
        format!("/v1/events/{e}/cancel"),
        format!("/v1/events/{e}/lists?name=j"),
        format!("/v1/events/{e}/report/mail"),
        "/v1/organizers".to_owned(),
        "/v1/organizers/1".to_owned(),
        "/v1/owner".to_owned(),
        "/v1/keys".to_owned(),
        "/v1/suppressions".to_owned(),
        "/v1/pending/x".to_owned(),
        "/v1/lists/x/pause".to_owned(),
    ];
    let methods = [
        Method::GET,
        Method::POST,
        Method::PATCH,
        Method::DELETE,
        Method::PUT,
    ];
    let types = ["application/json", "text/csv", "text/plain", ""];
    let mut junk = Junk(0x5eed_1234_abcd_0001);
    let fields = [
        "address",
        "name",
        "summary",
        "start",
        "end",
        "time_zone",
        "organizer",
        "settings",
        "label",
        "reason",
        "to",
        "addresses",
    ];
    for _ in 0..600 {
        let path = &paths[(junk.next() % paths.len() as u64) as usize];
        let method = methods[(junk.next() % methods.len() as u64) as usize].clone();
        let mut body = String::new();
        match junk.next() % 3 {
            0 => body = junk.text(),
            1 => {
                let mut o = serde_json::Map::new();
                for _ in 0..junk.next() % 4 {
                    let v = match junk.next() % 5 {
                        0 => json!(junk.text()),
                        1 => json!(junk.next() as i64),
                        2 => json!([junk.text()]),
                        3 => json!({"approval": junk.text()}),
                        _ => Value::Null,
                    };
                    o.insert(junk.pick(&fields).to_owned(), v);
                }
                body = Value::Object(o).to_string();
            }
            _ => {}
        }
        let kind = junk.pick(&types);
        let path = if junk.next().is_multiple_of(5) {
            format!(
                "{path}{}{}",
                if path.contains('?') { "&" } else { "?" },
                format!("limit={}&cursor={}", junk.text(), junk.text())
                    .replace(['\n', ' ', '#'], "")
            )
        } else {
            path.clone()
        };
        let r = raw(
            &s,
            method.clone(),
            &path,
            (!kind.is_empty()).then_some(kind),
            body.clone().into_bytes(),
        )
        .await;
        assert!(
            !r.status.is_server_error(),
            "{method} {path} ({kind}) {body:?} → {} {}",
            r.status,
            r.text
        );
        if !r.status.is_success() {
            r.problem(r.status.as_u16());
        }
    }
    s.stop().await;
}
