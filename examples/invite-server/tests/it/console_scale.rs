//! The console's event page on a large event: invitations and answers
//! written straight into the store in batches (the way a fan-out and the
//! inbound pipeline write them), then the page and its chart read over
//! HTTP.
//!
//! `recipients_and_chart_agree_with_a_count_of_the_history` checks the
//! page's numbers (answers per day, changes of mind, counts) against a
//! count made here from what was written, on SQLite and PostgreSQL.
//! `event_page_at_100k` measures (ignored by `cargo test`; run it
//! optimised, see `benches/README.md`):
//!
//! ```text
//! cargo test --release -p calinvite-invite-server --test it console_scale -- --ignored --nocapture
//! ```
//!
//! `CONSOLE_RECIPIENTS` sets the event's size (default 100,000),
//! `CONSOLE_REQUESTS` the requests timed per URL (default 200).

use std::collections::BTreeMap;
use std::time::Duration;

use calinvite_core::lifecycle::{HistoryEntry, HistoryKind, Store as _};
use calinvite_core::spi::Change;
use calinvite_core::{
    EmailAddress, EventCode, Invitation, InvitationToken, ParticipationStatus as P, Recipient,
    Sequence,
};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde_json::json;

use crate::common::{Db, TestServer};
use crate::console::{ORGANIZER, sign_in};

/// What was written, counted here.
#[derive(Default)]
struct Expected {
    per_day: BTreeMap<NaiveDate, u64>,
    changes: BTreeMap<String, u32>,
    accepted: u64,
    tentative: u64,
    declined: u64,
}

/// Adds `n` invitations to the server's demo event, answered over `days`
/// days before `now` (some twice, some changing their mind, some through a
/// forwarded copy, a quarter not at all), committed a thousand at a time.
async fn fill(s: &TestServer, n: usize, days: i64) -> Expected {
    let store = s.server().state().pipeline().store().clone();
    let code = EventCode::parse(&s.event).unwrap();
    s.post(
        &format!("/v1/events/{}/invitations", s.event),
        json!({"address": "template@example.net"}),
    )
    .await
    .expect(201);
    let template = store
        .invitation_for(&code, &EmailAddress::parse("template@example.net").unwrap())
        .await
        .unwrap()
        .unwrap();
    let base: DateTime<Utc> = "2036-01-01T09:00:00Z".parse().unwrap();
    let mut expected = Expected::default();
    let mut changes = Vec::new();
    for i in 0..n {
        let mut parts = template.clone().into_parts();
        parts.token = InvitationToken::parse(&format!("ZZ{i:024}")).unwrap();
        let address = format!("guest{i:06}@example.net");
        parts.recipient = Recipient::new(EmailAddress::parse(&address).unwrap());
        parts.version = 0;
        let statuses: &[P] = match i % 8 {
            0 | 1 => &[],
            2 => &[P::Accepted],
            3 => &[P::Tentative, P::Accepted],
            4 => &[P::Declined],
            5 => &[P::Accepted, P::Accepted, P::Declined],
            6 => &[P::Tentative],
            _ => &[P::Declined, P::Accepted, P::Tentative],
        };
        let mut history = Vec::new();
        let mut last = None;
        let mut ch = 0;
        for (k, st) in statuses.iter().enumerate() {
            let day = i64::try_from((i * 7 + k * 3) % usize::try_from(days).unwrap()).unwrap();
            let at = base + TimeDelta::days(day) + TimeDelta::minutes(i64::try_from(k).unwrap());
            *expected.per_day.entry(at.date_naive()).or_default() += 1;
            if last.is_some_and(|l| l != *st) {
                ch += 1;
            }
            last = Some(*st);
            parts.status = Some(*st);
            parts.answered_at = Some(at);
            history.push(HistoryEntry::new(
                parts.token.clone(),
                at,
                HistoryKind::Answer {
                    status: *st,
                    instance: None,
                    comment: None,
                    sequence: Sequence::INITIAL,
                    forwarded_from: None,
                    sent_by: None,
                    late: false,
                    web: i % 2 == 0,
                },
            ));
        }
        if i % 16 == 5 {
            // A forwarded copy answered: not the recipient's, not charted.
            history.push(HistoryEntry::new(
                parts.token.clone(),
                base,
                HistoryKind::Answer {
                    status: P::Declined,
                    instance: None,
                    comment: None,
                    sequence: Sequence::INITIAL,
                    forwarded_from: Some(EmailAddress::parse("someone@example.org").unwrap()),
                    sent_by: None,
                    late: false,
                    web: false,
                },
            ));
        }
        match parts.status {
            Some(P::Accepted) => expected.accepted += 1,
            Some(P::Tentative) => expected.tentative += 1,
            Some(P::Declined) => expected.declined += 1,
            _ => {}
        }
        expected.changes.insert(address, ch);
        changes.push(Change::InsertInvitation(Invitation::from(parts)));
        changes.extend(history.into_iter().map(Change::AppendHistory));
        if changes.len() >= 2_000 || i + 1 == n {
            store.commit(std::mem::take(&mut changes)).await.unwrap();
        }
    }
    expected
}

/// The numbers of a chart's table: day → answers.
fn chart_table(text: &str) -> BTreeMap<NaiveDate, u64> {
    let mut out = BTreeMap::new();
    let Some(at) = text.find("data-chart-table=\"answers\"") else {
        return out;
    };
    for row in text[at..].split("<th scope=\"row\">").skip(1) {
        let day = row.split('<').next().unwrap();
        let n = row.split("<td class=\"n\">").nth(1).unwrap();
        let n = n.split('<').next().unwrap();
        out.insert(day.parse().unwrap(), n.parse().unwrap());
        if row.contains("</tbody>") {
            break;
        }
    }
    out
}

/// The rows of the recipients' table: address → changes of mind.
fn changes_column(text: &str) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for row in text.split("data-recipient=\"").skip(1) {
        let address = row.split('"').next().unwrap().to_owned();
        let cells: Vec<&str> = row.split("<td class=\"n\">").collect();
        let n = cells[1].split('<').next().unwrap().parse().unwrap();
        out.insert(address, n);
    }
    out
}

async fn agree(db: Db) {
    let s = TestServer::start(db, |c| {
        c.worker.enabled = false;
    })
    .await;
    let expected = fill(&s, 340, 40).await;
    let mut b = sign_in(&s, ORGANIZER).await;
    let page = b.get(&format!("/console/events/{}", s.event)).await;
    assert_eq!(page.status, 200, "{}", page.text);
    // The chart: the latest 90 days (all 40 here), inline and on its own.
    assert_eq!(chart_table(&page.text), expected.per_day);
    let svg = b
        .get(&format!("/console/events/{}/chart.svg", s.event))
        .await;
    assert_eq!(svg.status, 200, "{}", svg.text);
    assert_eq!(
        svg.headers.get("content-type").unwrap(),
        "image/svg+xml; charset=utf-8"
    );
    assert!(svg.text.starts_with("<svg"), "{}", svg.text);
    let total: u64 = expected.per_day.values().sum();
    assert!(
        svg.text
            .contains(&format!("{total} answers from 2036-01-01")),
        "{}",
        svg.text
    );
    assert_eq!(
        svg.text.matches("<rect").count(),
        expected.per_day.len(),
        "{}",
        svg.text
    );
    // The counts.
    assert!(
        page.text.contains(&format!(
            "Yes <strong data-answer-count=\"accepted\">{}</strong> · \
             Maybe <strong data-answer-count=\"tentative\">{}</strong> · \
             No <strong data-answer-count=\"declined\">{}</strong>",
            expected.accepted, expected.tentative, expected.declined
        )),
        "{}",
        page.text
    );
    // Changes of mind, page after page.
    let mut seen = BTreeMap::new();
    let mut page = page;
    loop {
        seen.extend(changes_column(&page.text));
        let Some(at) = page.text.find("data-page=\"next\"") else {
            break;
        };
        let start = page.text[..at].rfind("href=\"").unwrap() + 6;
        let end = page.text[start..].find('"').unwrap() + start;
        let next = page.text[start..end].replace("&amp;", "&");
        page = b.get(&next).await;
        assert_eq!(page.status, 200, "{}", page.text);
    }
    seen.remove("template@example.net");
    assert_eq!(seen, expected.changes);
    // Another tenant's chart is not found.
    let other = b.get("/console/events/NOSUCHEVENT0/chart.svg").await;
    assert_eq!(other.status, 404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipients_and_chart_agree_with_a_count_of_the_history_on_sqlite() {
    agree(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipients_and_chart_agree_with_a_count_of_the_history_on_postgres() {
    agree(Db::Postgres).await;
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// p50 and p99 of `durations`, in milliseconds.
fn percentiles(mut d: Vec<Duration>) -> (f64, f64, f64) {
    d.sort();
    let at = |p: f64| {
        let i = ((d.len() as f64 - 1.0) * p).round() as usize;
        d[i].as_secs_f64() * 1000.0
    };
    (at(0.5), at(0.99), at(1.0))
}

async fn at_scale(db: Db) {
    let s = TestServer::start(db, |c| {
        c.worker.enabled = false;
        c.log.filter = "error".into();
    })
    .await;
    let n = env("CONSOLE_RECIPIENTS", 100_000);
    let requests = env("CONSOLE_REQUESTS", 200);
    #[allow(clippy::disallowed_methods, reason = "a figure for people")]
    let t = std::time::Instant::now();
    let expected = fill(&s, n, 120).await;
    println!(
        "console at scale ({db:?}): {n} invitations, {} answers written in {:.1} s",
        expected.per_day.values().sum::<u64>(),
        t.elapsed().as_secs_f64()
    );
    let mut b = sign_in(&s, ORGANIZER).await;
    for (what, path) in [
        ("event page", format!("/console/events/{}", s.event)),
        ("chart", format!("/console/events/{}/chart.svg", s.event)),
    ] {
        let first = b.get(&path).await;
        assert_eq!(first.status, 200, "{}", first.text);
        let mut times = Vec::with_capacity(requests);
        for _ in 0..requests {
            #[allow(clippy::disallowed_methods, reason = "a figure for people")]
            let t = std::time::Instant::now();
            let r = b.get(&path).await;
            times.push(t.elapsed());
            assert_eq!(r.status, 200);
        }
        let (p50, p99, max) = percentiles(times);
        println!(
            "console at scale ({db:?}): {what} of {n} recipients, {requests} requests: \
             p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms, {} bytes",
            first.text.len()
        );
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measures; run optimised with --ignored --nocapture"]
async fn event_page_at_100k_on_sqlite() {
    at_scale(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measures; run optimised with --ignored --nocapture"]
async fn event_page_at_100k_on_postgres() {
    at_scale(Db::Postgres).await;
}
