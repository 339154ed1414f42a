//! Approvals in the console, on SQLite and PostgreSQL: an update held for
//! approval shows what changes and its audience by answer (Yes and Maybe
//! under the default rule); approving it sends it to them only; rejecting
//! sends nothing; another organizer does not find it.

use super::lists::csrf_of;
use super::*;

async fn approve_and_reject(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    let e = s.event.clone();
    s.call(
        reqwest::Method::PATCH,
        "/v1/organizers/1",
        Some(&s.key.clone()),
        Some(json!({"settings": {"approval": true, "audience": "accepted-or-tentative"}})),
    )
    .await
    .expect(200);
    let guests = [
        ("yes@example.net", Some("ACCEPTED")),
        ("maybe@example.net", Some("TENTATIVE")),
        ("no@example.net", Some("DECLINED")),
        ("silent@example.net", None),
    ];
    for (g, _) in guests {
        crate::webhooks::invite(&s, &e, g).await;
    }
    for (g, answer) in guests {
        if let Some(a) = answer {
            crate::webhooks::answer(&s, g, a).await;
        }
    }
    eventually("the answers recorded", || async {
        let r = s.get(&format!("/v1/events/{e}")).await;
        let a = &r.json["answers"];
        (a["accepted"] == 1 && a["tentative"] == 1 && a["declined"] == 1).then_some(())
    })
    .await;
    let change = s
        .call(
            reqwest::Method::PATCH,
            &format!("/v1/events/{e}"),
            Some(&s.key.clone()),
            Some(json!({"location": "Room 9"})),
        )
        .await;
    let change = change.expect(200).clone();
    assert_eq!(change["outcome"], "pending-approval", "{change}");
    let id = change["pending_change"].as_str().unwrap().to_owned();

    let mut b = sign_in(&s, ORGANIZER).await;
    let list = b.get("/console/pending").await;
    assert_eq!(list.status, 200);
    assert!(
        list.text.contains(&format!("data-pending=\"{id}\"")),
        "{}",
        list.text
    );
    let one = b.get(&format!("/console/pending/{id}")).await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert!(one.text.contains("data-audience=\"2\""), "{}", one.text);
    assert!(
        one.text
            .contains("data-audience-answer=\"accepted\">accepted: 1")
    );
    assert!(
        one.text
            .contains("data-audience-answer=\"tentative\">tentative: 1")
    );
    for (g, shown) in [
        ("yes@example.net", true),
        ("maybe@example.net", true),
        ("no@example.net", false),
        ("silent@example.net", false),
    ] {
        assert_eq!(
            one.text.contains(&format!("data-audience-address=\"{g}\"")),
            shown,
            "{g}"
        );
    }
    assert!(one.text.contains("data-changed=\"yes\""));
    assert!(one.text.contains("<strong>Room 9</strong>"), "{}", one.text);

    // Another organizer finds nothing, and cannot approve it.
    s.post(
        "/v1/organizers",
        json!({"name": "Second", "address": SECOND}),
    )
    .await
    .expect(201);
    let mut other = sign_in(&s, SECOND).await;
    let r = other.get(&format!("/console/pending/{id}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = other.get("/console/pending").await;
    assert!(!r.text.contains(&id));
    let approve = format!("/console/pending/{id}/approve");
    let token = csrf_of(&one, &approve);
    let r = other.post(&approve, &[("csrf", &token)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "another browser's token");
    // The domain owner's administrator sees it.
    let mut owner = sign_in(&s, OWNER_ADMIN).await;
    let r = owner.get(&format!("/console/pending/{id}")).await;
    assert_eq!(r.status, 200);

    // Without a token nothing happens.
    let r = b.post(&approve, &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = b.post(&approve, &[("csrf", &token)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let after = b.get(&format!("/console/pending/{id}")).await;
    assert!(after.text.contains("data-pending-state=\"approved\""));
    assert!(!after.text.contains("data-pending-action="));
    for g in ["yes@example.net", "maybe@example.net"] {
        eventually("the approved update", || async {
            (captured(&s.dir, g).len() == 2).then_some(())
        })
        .await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(captured(&s.dir, "no@example.net").len(), 1);
    assert_eq!(captured(&s.dir, "silent@example.net").len(), 1);

    // Another change, rejected: nothing is sent.
    let change = s
        .call(
            reqwest::Method::PATCH,
            &format!("/v1/events/{e}"),
            Some(&s.key.clone()),
            Some(json!({"location": "Room 10"})),
        )
        .await;
    let id = change.expect(200)["pending_change"]
        .as_str()
        .unwrap()
        .to_owned();
    let one = b.get(&format!("/console/pending/{id}")).await;
    let reject = format!("/console/pending/{id}/reject");
    let r = b.post(&reject, &[("csrf", &csrf_of(&one, &reject))]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let after = b.get(&format!("/console/pending/{id}")).await;
    assert!(after.text.contains("data-pending-state=\"rejected\""));
    let list = b.get("/console/pending").await;
    assert!(list.text.contains("data-empty=\"pending\""));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(captured(&s.dir, "yes@example.net").len(), 2);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_and_reject_on_sqlite() {
    approve_and_reject(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_and_reject_on_postgres() {
    approve_and_reject(Db::Postgres).await;
}
