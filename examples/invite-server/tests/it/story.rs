//! The whole story against the running server, over real HTTP and SMTP,
//! through the machine's Postfix:
//!
//! 1. the organizer's mail system submits a calendar invitation
//!    (`sendmail`) to the ingest mailbox; Postfix relays it to the server's
//!    SMTP listener, and the event appears in the API;
//! 2. an API call invites three people; the worker sends their invitations
//!    through Postfix into their Maildir (and the organizer's "event
//!    created" notice into theirs);
//! 3. their calendars answer Yes, Maybe and No with iMIP REPLYs through
//!    Postfix to the listener; the API shows the answers and each history;
//! 4. the organizer moves the event: the update reaches Yes and Maybe only;
//! 5. the report (JSON) and the CSV count what happened;
//! 6. signed webhooks arrive and verify: the application's endpoint,
//!    registered first, received the event created, each message sent,
//!    each answer and the update, every post verified by the
//!    `standardwebhooks` package (PyPI).
//!
//! Once on SQLite, once on PostgreSQL. Fails, never skips, when Postfix or
//! PostgreSQL is missing (scripts/test.sh starts both).

use std::io::Write as _;
use std::process::{Command, Stdio};

use calinvite_tests::postfix;
use invite_server::config::OutboundKind;
use serde_json::json;

use crate::common::{Db, TestServer, eventually, unique};
use crate::hooks::{Receiver, verify};
use crate::mail;

/// Postfix relays the test domain to one listener port: one story at a time.
static POSTFIX_PORT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const INGEST: &str = "create@calinvite.test";
const REPLIES: &str = "rsvp@calinvite.test";

fn sendmail(from: &str, to: &str, message: &[u8]) {
    let mut child = Command::new("/usr/sbin/sendmail")
        .args(["-i", "-f", from, to])
        .stdin(Stdio::piped())
        .spawn()
        .expect("Postfix's sendmail (scripts/postfix.sh installs Postfix)");
    child.stdin.take().unwrap().write_all(message).unwrap();
    assert!(child.wait().unwrap().success(), "sendmail failed");
}

#[allow(clippy::disallowed_methods)]
fn day(offset: i64) -> String {
    (chrono::Utc::now() + chrono::TimeDelta::days(offset))
        .format("%Y%m%d")
        .to_string()
}

async fn story(db: Db) {
    postfix::require();
    let _turn = POSTFIX_PORT.lock().await;
    let run = unique("story").to_ascii_lowercase();
    let organizer = format!("org.{run}@mailbox.test");
    let s = TestServer::start(db, |c| {
        c.smtp.listen = format!("127.0.0.1:{}", postfix::listener_port());
        c.smtp.hostname = "mx.calinvite.test".into();
        c.demo.mail_domain = "calinvite.test".into();
        c.demo.organizer_address = organizer.clone();
        c.outbound.kind = OutboundKind::Smtp;
        c.outbound.smtp.host = "127.0.0.1".into();
        c.outbound.smtp.port = 25;
        c.outbound.smtp.helo = Some("calinvite.test".into());
        // The application's receiver is on loopback.
        c.webhooks.allow_private_targets = true;
    })
    .await;
    let hook = Receiver::start().await;
    let (_, secret) = crate::webhooks::register(&s, &hook.url, &[]).await;

    // 1. The organizer's calendar invites calinvite, through Postfix.
    let uid = format!("{run}@organizer.example");
    sendmail(
        &organizer,
        INGEST,
        &mail::organizer_request(&organizer, INGEST, &uid, 0, &day(20), "Launch party"),
    );
    let code = eventually("the organizer's event in the API", || async {
        let page = s.get("/v1/events").await;
        page.expect(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["from_calendar"] == true && e["summary"] == "Launch party")
            .map(|e| e["code"].as_str().unwrap().to_owned())
    })
    .await;
    let event = s.get(&format!("/v1/events/{code}")).await;
    let event = event.expect(200);
    assert_eq!(event["time_zone"], "Europe/Madrid");
    assert!(event["start"].as_str().unwrap().ends_with("T18:00:00"));
    assert_eq!(event["location"], "Calle Mayor 1, Madrid");

    // 2. Three people invited through the API; their invitations go out
    //    through Postfix.
    let guests: Vec<String> = (0..3).map(|i| format!("g{i}.{run}@mailbox.test")).collect();
    for (i, g) in guests.iter().enumerate() {
        let r = s
            .post(
                &format!("/v1/events/{code}/invitations"),
                json!({"address": g, "name": format!("Guest {i}")}),
            )
            .await;
        let body = r.expect(201);
        assert_eq!(body["outcome"], "invited");
        assert_eq!(body["invitation"]["delivery"], "queued");
    }
    let mut held = Vec::new();
    for g in &guests {
        let msgs = eventually("an invitation in the Maildir", || async {
            let m = postfix::delivered_to(g);
            (!m.is_empty()).then_some(m)
        })
        .await;
        let h = mail::read(&msgs[0], g);
        assert_eq!(
            (h.method.as_str(), h.reply_to.as_str()),
            ("REQUEST", REPLIES)
        );
        held.push(h);
    }
    eventually("the organizer's notice with the event code", || async {
        postfix::delivered_to(&organizer)
            .iter()
            .any(|m| String::from_utf8_lossy(m).contains(&code))
            .then_some(())
    })
    .await;

    // 3. Their calendars answer, through Postfix to the listener.
    let answers = ["ACCEPTED", "TENTATIVE", "DECLINED"];
    for (i, partstat) in answers.iter().enumerate() {
        mail::send(
            "127.0.0.1",
            25,
            "mailbox.test",
            &guests[i],
            REPLIES,
            &mail::reply(&guests[i], &held[i], partstat),
        )
        .await;
    }
    eventually("three answers in the API", || async {
        let page = s.get(&format!("/v1/events/{code}/invitations")).await;
        let items = page.expect(200)["items"].as_array().unwrap().clone();
        let done = answers.iter().enumerate().all(|(i, want)| {
            items.iter().any(|inv| {
                inv["address"] == guests[i].as_str() && inv["status"] == want.to_ascii_lowercase()
            })
        });
        done.then_some(())
    })
    .await;
    let one = s
        .get(&format!("/v1/events/{code}/invitations/{}", guests[0]))
        .await;
    let one = one.expect(200);
    assert_eq!(one["invitation"]["status"], "accepted");
    assert_eq!(one["invitation"]["delivery"], "sent");
    let kinds: Vec<&str> = one["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["queued", "sent", "answer"], "{one}");
    let filtered = s
        .get(&format!("/v1/events/{code}/invitations?status=declined"))
        .await;
    let filtered = filtered.expect(200)["items"].as_array().unwrap().clone();
    assert_eq!(filtered.len(), 1);
    assert_eq!(filtered[0]["address"], guests[2].as_str());
    let event = s.get(&format!("/v1/events/{code}")).await;
    assert_eq!(
        event.expect(200)["answers"],
        json!({"invitations": 3, "accepted": 1, "declined": 1, "tentative": 1, "delegated": 0, "no_answer": 0})
    );

    // 4. The organizer moves it: Yes and Maybe get the update, No does not.
    sendmail(
        &organizer,
        INGEST,
        &mail::organizer_request(
            &organizer,
            INGEST,
            &uid,
            1,
            &day(21),
            "Launch party (moved)",
        ),
    );
    for g in &guests[..2] {
        let msgs = eventually("the update in the Maildir", || async {
            let m = postfix::delivered_to(g);
            (m.len() >= 2).then_some(m)
        })
        .await;
        let h = mail::read(&msgs[1], g);
        assert_eq!((h.method.as_str(), h.sequence), ("REQUEST", 1), "{g}");
    }
    let event = s.get(&format!("/v1/events/{code}")).await;
    let event = event.expect(200);
    assert_eq!(event["summary"], "Launch party (moved)");
    assert_eq!(event["sequence"], 1);
    let declined = s
        .get(&format!("/v1/events/{code}/invitations/{}", guests[2]))
        .await;
    assert_eq!(declined.expect(200)["invitation"]["sequence_held"], 0);
    assert_eq!(
        postfix::delivered_to(&guests[2]).len(),
        1,
        "No gets no update"
    );

    // 5. The report and the CSV.
    let report = s.get(&format!("/v1/events/{code}/report")).await;
    let report = report.expect(200);
    assert_eq!(report["invitations"], 3);
    assert_eq!(report["accepted_by_mail_server"], 3);
    assert!(
        report.get("delivery_confirmed").is_none(),
        "an SMTP relay confirms no delivery: {report}"
    );
    assert_eq!(
        (
            &report["accepted"],
            &report["tentative"],
            &report["declined"],
            &report["no_answer"]
        ),
        (&json!(1), &json!(1), &json!(1), &json!(0))
    );
    let csv = s.get(&format!("/v1/events/{code}/report?format=csv")).await;
    csv.expect(200);
    assert!(csv.content_type().starts_with("text/csv"));
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(lines.len(), 4, "{}", csv.text);
    assert!(lines[0].starts_with("address,name,status"));
    for (i, want) in answers.iter().enumerate() {
        let row = lines.iter().find(|l| l.contains(&guests[i])).unwrap();
        assert!(row.contains(&want.to_ascii_lowercase()), "{row}");
    }
    let organizer_report = s.get("/v1/organizers/1/report").await;
    assert_eq!(organizer_report.expect(200)["invitations"], 3);
    let owner_csv = s.get("/v1/owner/report?format=csv").await;
    owner_csv.expect(200);
    assert!(owner_csv.text.lines().nth(1).unwrap().starts_with("1,"));

    // 6. Signed webhooks arrived and verify.
    let posts = hook.wait_for(10).await;
    let kinds: Vec<&str> = posts.iter().map(|p| p.kind()).collect();
    assert_eq!(kinds[0], "event.created", "{kinds:?}");
    assert_eq!(posts[0].json["data"]["event"], code.as_str());
    assert_eq!(posts[0].json["data"]["from_calendar"], true);
    let count = |k: &str| kinds.iter().filter(|x| **x == k).count();
    assert_eq!(
        (
            count("delivery.sent"),
            count("invitation.answered"),
            count("event.updated")
        ),
        (5, 3, 1),
        "{kinds:?}"
    );
    let updated = kinds.iter().position(|k| *k == "event.updated").unwrap();
    assert_eq!(
        kinds[updated + 1..],
        ["delivery.sent", "delivery.sent"],
        "the update, then its two messages"
    );
    let mut answered: Vec<(String, String)> = posts
        .iter()
        .filter(|p| p.kind() == "invitation.answered")
        .map(|p| {
            let d = &p.json["data"];
            (
                d["address"].as_str().unwrap().to_owned(),
                d["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    answered.sort();
    let mut want: Vec<(String, String)> = guests
        .iter()
        .zip(answers)
        .map(|(g, a)| (g.clone(), a.to_ascii_lowercase()))
        .collect();
    want.sort();
    assert_eq!(answered, want);
    let one = [secret.as_str()];
    let checks: Vec<(&crate::hooks::Post, &[&str])> = posts.iter().map(|p| (p, &one[..])).collect();
    assert!(
        verify(&checks).iter().all(|v| v == &[0]),
        "every post verifies with the endpoint's secret"
    );

    let stopped = s.stop().await;
    assert_eq!(stopped.still_queued, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_story_on_sqlite_through_postfix() {
    story(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_story_on_postgres_through_postfix() {
    story(Db::Postgres).await;
}
