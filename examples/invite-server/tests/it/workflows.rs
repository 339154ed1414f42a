//! The workflows beyond one invitation: a CSV list (progress, per-row
//! report, pause, resume, cancel), changes held for approval, the
//! suppression list and the refusal log, and organizer mail straight to
//! the listener.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Db, Reply, TestServer, captured, eventually};
use crate::mail;

async fn upload(s: &TestServer, event: &str, name: &str, csv: &str) -> Reply {
    let r = s
        .client
        .post(format!("{}/v1/events/{event}/lists?name={name}", s.base))
        .bearer_auth(&s.key)
        .header("content-type", "text/csv; charset=utf-8")
        .body(csv.to_owned())
        .send()
        .await
        .unwrap();
    Reply::from(r).await
}

async fn taken(s: &TestServer, id: &str) -> Value {
    eventually("every row taken", || async {
        let l = s.get(&format!("/v1/lists/{id}")).await;
        let l = l.expect(200).clone();
        (l["all_rows_taken"] == true).then_some(l)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_is_sent_once_and_reported_row_by_row() {
    let s = TestServer::start(Db::Sqlite, |_| {}).await;
    let e = s.event.clone();
    s.post(
        &format!("/v1/events/{e}/invitations"),
        json!({"address": "known@example.net"}),
    )
    .await
    .expect(201);
    let csv = "Email,Name\r\nann@example.net,Ann\r\nbob@example.net,Bob\r\nnot an address,Zoë\r\nANN@example.net,Ann again\r\nknown@example.net,Known\r\n";
    let r = upload(&s, &e, "customers", csv).await;
    let list = r.expect(202).clone();
    let id = list["id"].as_str().unwrap().to_owned();
    assert_eq!(
        r.headers.get("location").unwrap(),
        &format!("/v1/lists/{id}")
    );
    let l = taken(&s, &id).await;
    let p = &l["progress"];
    assert_eq!(
        (
            &p["rows"],
            &p["invited"],
            &p["invalid"],
            &p["duplicates"],
            &p["already_invited"]
        ),
        (&json!(5), &json!(2), &json!(1), &json!(1), &json!(1)),
        "{l}"
    );
    // The same list again, under the same name: nothing new.
    let again = upload(&s, &e, "customers", csv).await;
    assert_eq!(again.expect(202)["id"], id.as_str());
    // Another list under that name: refused.
    upload(&s, &e, "customers", "email\nsomeone@example.net\n")
        .await
        .problem(409);
    eventually("the list's invitations captured", || async {
        (captured(&s.dir, "ann@example.net").len() == 1
            && captured(&s.dir, "bob@example.net").len() == 1)
            .then_some(())
    })
    .await;
    // A message is captured a moment before its delivery is settled as sent.
    let rows = eventually("the list's rows reported sent", || async {
        let rows = s.get(&format!("/v1/lists/{id}/rows")).await;
        let text = rows.text.clone();
        (text.contains("\n2,ann@example.net,invited,,sent")
            && text.contains("\n3,bob@example.net,invited,,sent"))
        .then_some(rows)
    })
    .await;
    rows.expect(200);
    assert!(rows.content_type().starts_with("text/csv"));
    let lines: Vec<&str> = rows.text.lines().collect();
    assert_eq!(lines[0], "row,address,verdict,detail,delivery,answer");
    assert_eq!(lines.len(), 6, "{}", rows.text);
    assert!(
        lines[1].starts_with("2,ann@example.net,invited,,sent"),
        "{}",
        rows.text
    );
    assert!(
        lines[3].starts_with("4,not an address,invalid,"),
        "{}",
        rows.text
    );
    assert!(
        lines[4].starts_with("5,ANN@example.net,duplicate"),
        "{}",
        rows.text
    );
    assert!(
        lines[5].starts_with("6,known@example.net,already-invited"),
        "{}",
        rows.text
    );
    let lists = s.get(&format!("/v1/events/{e}/lists")).await;
    assert_eq!(lists.expect(200).as_array().unwrap().len(), 1);

    // Pause, resume, cancel.
    let r = upload(&s, &e, "second", "email\ncarl@example.net\n").await;
    let second = r.expect(202)["id"].as_str().unwrap().to_owned();
    taken(&s, &second).await;
    let paused = s
        .post(&format!("/v1/lists/{second}/pause"), json!({}))
        .await;
    assert_eq!(paused.expect(200)["state"], "paused");
    let resumed = s
        .post(&format!("/v1/lists/{second}/resume"), json!({}))
        .await;
    assert_eq!(resumed.expect(200)["state"], "running");
    let cancelled = s
        .post(&format!("/v1/lists/{second}/cancel"), json!({}))
        .await;
    assert_eq!(cancelled.expect(200)["state"], "cancelled");
    let r = s
        .post(&format!("/v1/lists/{second}/resume"), json!({}))
        .await;
    r.problem(422);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_change_goes_out_when_approved_and_never_when_rejected() {
    let s = TestServer::start(Db::Postgres, |_| {}).await;
    let e = s.event.clone();
    let on = s
        .call(
            Method::PATCH,
            "/v1/organizers/1",
            Some(&s.key.clone()),
            Some(json!({"settings": {"approval": true, "audience": "everyone"}})),
        )
        .await;
    let on = on.expect(200).clone();
    assert_eq!(on["effective_settings"]["approval"], true);
    assert_eq!(on["effective_settings"]["audience"], "everyone");
    s.post(
        &format!("/v1/events/{e}/invitations"),
        json!({"address": "held@example.net"}),
    )
    .await
    .expect(201);
    eventually("the invitation captured", || async {
        (captured(&s.dir, "held@example.net").len() == 1).then_some(())
    })
    .await;
    let change = s
        .call(
            Method::PATCH,
            &format!("/v1/events/{e}"),
            Some(&s.key.clone()),
            Some(json!({"location": "Room 9"})),
        )
        .await;
    let change = change.expect(200).clone();
    assert_eq!(change["outcome"], "pending-approval", "{change}");
    let id = change["pending_change"].as_str().unwrap().to_owned();
    let open = s.get("/v1/pending").await;
    let open = open.expect(200)["items"].as_array().unwrap().clone();
    assert_eq!(open.len(), 1);
    assert_eq!(
        (&open[0]["kind"], &open[0]["audience_count"]),
        (&json!("update"), &json!(1))
    );
    let one = s.get(&format!("/v1/pending/{id}")).await;
    assert_eq!(
        one.expect(200)["audience"],
        json!([{"address": "held@example.net", "message": "update"}])
    );
    let approved = s
        .post(&format!("/v1/pending/{id}/approve"), json!({}))
        .await;
    assert_eq!(approved.expect(200)["state"], "approved");
    eventually("the approved update captured", || async {
        (captured(&s.dir, "held@example.net").len() == 2).then_some(())
    })
    .await;
    // Another change, rejected: nothing is sent.
    let change = s
        .call(
            Method::PATCH,
            &format!("/v1/events/{e}"),
            Some(&s.key.clone()),
            Some(json!({"location": "Room 10"})),
        )
        .await;
    let id = change.expect(200)["pending_change"]
        .as_str()
        .unwrap()
        .to_owned();
    let rejected = s.post(&format!("/v1/pending/{id}/reject"), json!({})).await;
    assert_eq!(rejected.expect(200)["state"], "rejected");
    assert!(
        s.get(&format!("/v1/events/{e}/pending"))
            .await
            .expect(200)
            .as_array()
            .unwrap()
            .is_empty()
    );
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(captured(&s.dir, "held@example.net").len(), 2);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppressed_addresses_are_refused_and_refusals_are_logged() {
    let s = TestServer::start(Db::Sqlite, |_| {}).await;
    let e = s.event.clone();
    let added = s
        .post(
            "/v1/suppressions",
            json!({"address": "gone@example.net", "reason": "complaint"}),
        )
        .await;
    let added = added.expect(201).clone();
    assert_eq!(
        (&added["address"], &added["reason"]),
        (&json!("gone@example.net"), &json!("complaint"))
    );
    let refused = s
        .post(
            &format!("/v1/events/{e}/invitations"),
            json!({"address": "gone@example.net"}),
        )
        .await;
    let refused = refused.problem(422).clone();
    let listed = s.get("/v1/suppressions").await;
    let listed = listed.expect(200)["items"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 1);
    let one = s
        .get(&format!(
            "/v1/suppressions/{}",
            added["address"].as_str().unwrap()
        ))
        .await;
    one.expect(200);
    s.get("/v1/suppressions/nobody@example.net")
        .await
        .problem(404);
    let log = s.get(&format!("/v1/refusals?event={e}")).await;
    let log = log.expect(200)["items"].as_array().unwrap().clone();
    assert!(
        log.iter()
            .any(|r| r["reason"] == refused["reason"] && r["event"] == e.as_str()),
        "{log:?}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organizer_mail_straight_to_the_listener_becomes_an_event_and_strangers_are_logged() {
    // Holding off: a stranger's invitation is refused (see newcomers.rs for
    // what holding does).
    let s = TestServer::start(Db::Sqlite, |c| c.organizers.hold_hours = 0).await;
    let smtp = s.server().smtp_addr().unwrap();
    let ingest = "create@invites.localhost";
    let organizer = "organizer@example.com";
    mail::send(
        "127.0.0.1",
        smtp.port(),
        "example.com",
        organizer,
        ingest,
        &mail::organizer_request(
            organizer,
            ingest,
            "uid-1@example.com",
            0,
            "20361012",
            "Straight in",
        ),
    )
    .await;
    let code = eventually("the event in the API", || async {
        let page = s.get("/v1/events").await;
        page.expect(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["summary"] == "Straight in")
            .map(|e| e["code"].as_str().unwrap().to_owned())
    })
    .await;
    // The organizer is told the code (captured like any message).
    eventually("the organizer's notice", || async {
        captured(&s.dir, organizer)
            .iter()
            .any(|m| String::from_utf8_lossy(m).contains(&code))
            .then_some(())
    })
    .await;
    // A stranger's invitation is refused at the SMTP level and logged.
    let stranger = "mallory@example.org";
    let relay = calinvite_smtp::relay::SmtpRelay::new(
        calinvite_smtp::relay::RelayConfig::plaintext("127.0.0.1", smtp.port())
            .helo_name("example.org"),
    )
    .unwrap();
    let sent = calinvite_core::lifecycle::Transport::send_raw(
        &relay,
        &calinvite_core::Envelope::new(
            calinvite_core::EmailAddress::parse(stranger).unwrap(),
            calinvite_core::EmailAddress::parse(ingest).unwrap(),
        ),
        &mail::organizer_request(
            stranger,
            ingest,
            "uid-2@example.org",
            0,
            "20361012",
            "Not mine",
        ),
    )
    .await;
    assert!(sent.is_err_and(|e| e.is_permanent()), "a stranger gets 550");
    relay.close().await;
    let log = s.get("/v1/refusals").await;
    let log = log.expect(200)["items"].as_array().unwrap().clone();
    assert!(
        log.iter().any(|r| r["reason"] == "not-an-organizer"),
        "{log:?}"
    );
    let m = s.call(Method::GET, "/metrics", None, None).await;
    assert!(
        m.text
            .contains("calinvite_smtp_messages_total{result=\"accepted\"} 1"),
        "{}",
        m.text
    );
    assert!(
        m.text
            .contains("calinvite_smtp_messages_total{result=\"rejected\"} 1"),
        "{}",
        m.text
    );
    assert!(m.text.contains(
        "calinvite_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/refusals\"} 1"
    ));
    s.stop().await;
}
