//! Reports in the console, on SQLite and PostgreSQL: counts on screen,
//! CSV downloads equal to the API's, the domain owner's report for its
//! administrators only, and an event's report mailed to the signed-in
//! address.

use super::lists::csrf_of;
use super::*;

fn shown(page: &Reply, what: &str) -> u64 {
    let marker = format!("data-count=\"{what}\">");
    let at = page
        .text
        .find(&marker)
        .unwrap_or_else(|| panic!("{what} on {}", page.text))
        + marker.len();
    page.text[at..].split('<').next().unwrap().parse().unwrap()
}

async fn reports(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    let e = s.event.clone();
    for g in ["r1@example.net", "r2@example.net", "r3@example.net"] {
        crate::webhooks::invite(&s, &e, g).await;
    }
    crate::webhooks::answer(&s, "r1@example.net", "ACCEPTED").await;
    crate::webhooks::answer(&s, "r2@example.net", "DECLINED").await;
    eventually("the answers recorded", || async {
        let r = s.get(&format!("/v1/events/{e}")).await;
        let a = &r.json["answers"];
        (a["accepted"] == 1 && a["declined"] == 1).then_some(())
    })
    .await;

    let mut b = sign_in(&s, ORGANIZER).await;
    let event = b.get(&format!("/console/events/{e}")).await;
    assert!(
        event
            .text
            .contains(&format!("href=\"/console/events/{e}/report\""))
    );
    let page = b.get(&format!("/console/events/{e}/report")).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(shown(&page, "invitations"), 3);
    assert_eq!(shown(&page, "accepted"), 1);
    assert_eq!(shown(&page, "declined"), 1);
    assert_eq!(shown(&page, "no-answer"), 1);
    assert_eq!(shown(&page, "submitted"), 3);
    assert_eq!(shown(&page, "hard-bounces"), 0);
    // The CSVs are the API's.
    let csv = b.get(&format!("/console/events/{e}/report.csv")).await;
    assert_eq!(csv.status, 200);
    let api = s.get(&format!("/v1/events/{e}/report?format=csv")).await;
    assert_eq!(csv.text, api.text);
    assert!(csv.text.contains("r1@example.net"), "{}", csv.text);
    let mine = b.get("/console/reports").await;
    assert_eq!(location(&mine), "/console/organizers/1/report");
    let org = b.get("/console/organizers/1/report").await;
    assert_eq!(org.status, 200);
    assert_eq!(shown(&org, "events"), 1);
    assert_eq!(shown(&org, "accepted"), 1);
    let csv = b.get("/console/organizers/1/report.csv").await;
    let api = s.get("/v1/organizers/1/report?format=csv").await;
    assert_eq!(csv.text, api.text);
    assert!(csv.text.contains(&e));
    // The domain owner's report is its administrators' only.
    for path in ["/console/owner/report", "/console/owner/report.csv"] {
        assert_eq!(b.get(path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(
        b.get("/console/organizers/2/report").await.status,
        StatusCode::NOT_FOUND
    );
    let mut owner = sign_in(&s, OWNER_ADMIN).await;
    assert_eq!(
        location(&owner.get("/console/reports").await),
        "/console/owner/report"
    );
    let domain = owner.get("/console/owner/report").await;
    assert_eq!(domain.status, 200);
    assert_eq!(shown(&domain, "invitations"), 3);
    let csv = owner.get("/console/owner/report.csv").await;
    let api = s.get("/v1/owner/report?format=csv").await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.text, api.text);

    // Mail me this report: to the signed-in address, with its CSV.
    let mail = format!("/console/events/{e}/report/mail");
    let r = b.post(&mail, &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let before = captured(&s.dir, ORGANIZER).len();
    let r = b.post(&mail, &[("csrf", &csrf_of(&page, &mail))]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("data-report-mailed"));
    let report = eventually("the report mailed", || async {
        captured(&s.dir, ORGANIZER).get(before).cloned()
    })
    .await;
    let text = String::from_utf8_lossy(&report);
    assert!(text.contains("text/csv"), "{text}");
    let page = owner.get(&format!("/console/events/{e}/report")).await;
    let before = captured(&s.dir, OWNER_ADMIN).len();
    let r = owner.post(&mail, &[("csrf", &csrf_of(&page, &mail))]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    eventually("the report mailed to the administrator", || async {
        captured(&s.dir, OWNER_ADMIN).get(before).cloned()
    })
    .await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_on_sqlite() {
    reports(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_on_postgres() {
    reports(Db::Postgres).await;
}
