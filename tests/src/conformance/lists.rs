//! Lists: one event sent to a recipient list as one durable job — every row
//! its verdict, every valid distinct recipient invited once, resumable after
//! a crash, paused, resumed and cancelled.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;

use crate::scenario::{CalendarEvent, Scenario};
use calinvite_core::lifecycle::{
    ListFeed, ListJob, ListJobState, Outcome, PipelineError, RefusalReason, Settings,
    SuppressionReason,
};
use calinvite_core::list::{ListEntry, ListReader};
use calinvite_core::{EmailAddress, EventCode, Store};

async fn scenario<S: Store>(store: S) -> Scenario<S> {
    Scenario::new(store, Settings::default())
        .await
        .unwrap_or_else(|e| panic!("scenario setup failed: {e}"))
}

fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap_or_else(|e| panic!("test address {s}: {e}"))
}

async fn event<S: Store>(s: &Scenario<S>, uid: &str) -> EventCode {
    match s.organizer_sends(&CalendarEvent::launch(uid)).await {
        Ok(Outcome::EventCreated(code)) => code,
        other => panic!("the organizer's request should create an event, got {other:?}"),
    }
}

async fn start<S: Store>(s: &Scenario<S>, code: &EventCode, name: &str) -> ListJob {
    s.pipeline
        .start_list(s.scope(), code, name)
        .await
        .unwrap_or_else(|e| panic!("starting list {name}: {e}"))
}

fn rows(csv: &str) -> Vec<ListEntry> {
    ListReader::new(csv.as_bytes())
        .unwrap_or_else(|e| panic!("the list's header: {e}"))
        .map(|e| e.unwrap_or_else(|e| panic!("reading the list: {e}")))
        .collect()
}

/// One exported row: address, verdict, detail, delivery, answer.
type Exported = (String, String, String, String, String);

async fn feed<S: Store>(s: &Scenario<S>, job: &ListJob, entries: Vec<ListEntry>) -> ListFeed {
    s.pipeline
        .feed_list(s.scope(), &job.id, entries)
        .await
        .unwrap_or_else(|e| panic!("feeding list {}: {e}", job.name))
}

async fn deliver<S: Store>(s: &Scenario<S>) -> usize {
    s.deliver()
        .await
        .unwrap_or_else(|e| panic!("delivery run failed: {e}"))
}

/// How many invitations (REQUESTs) `who` received.
fn requests<S: Store>(s: &Scenario<S>, who: &str) -> usize {
    s.calendar_inbox(who)
        .iter()
        .filter(|d| d.method.as_deref() == Some("REQUEST"))
        .count()
}

/// The job's rows as its CSV export reads: row → (address, verdict, detail,
/// delivery, answer).
async fn exported<S: Store>(s: &Scenario<S>, job: &ListJob) -> BTreeMap<u64, Exported> {
    let mut csv = String::new();
    s.pipeline
        .list_csv(s.scope(), &job.id, |chunk| csv.push_str(chunk))
        .await
        .unwrap_or_else(|e| panic!("exporting list {}: {e}", job.name));
    let mut lines = csv.split("\r\n").filter(|l| !l.is_empty());
    assert_eq!(
        lines.next(),
        Some("row,address,verdict,detail,delivery,answer")
    );
    lines
        .map(|l| {
            // The scenarios' rows hold no comma or quote in these fields.
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 6, "{l}");
            (
                f[0].parse().unwrap(),
                (
                    f[1].to_owned(),
                    f[2].to_owned(),
                    f[3].to_owned(),
                    f[4].to_owned(),
                    f[5].to_owned(),
                ),
            )
        })
        .collect()
}

const LIST: &str = "Email,Name\r\n\
    ada@example.org,Ada\r\n\
    bob@example.org,Bob\r\n\
    not an address,Nobody\r\n\
    ADA@example.org,Ada again\r\n\
    gone@example.org,Unsubscribed\r\n\
    rsvp@events.example.com,Our own mailbox\r\n\
    jörg@bücher-müller.de,Jörg\r\n\
    ,No address\r\n\
    cy@example.org,Cy\r\n";

/// The whole list: each valid distinct recipient invited and mailed once,
/// and every other row its verdict — invalid (what is wrong), duplicate of
/// an earlier row, suppressed, the owner's own mailbox. Sent again (same
/// job, or a second list with the same people), nothing is sent twice.
pub(super) async fn list_invites_each_valid_distinct_recipient_once<S: Store>(store: S) {
    let s = scenario(store).await;
    let code = event(&s, "list-1@example.com").await;
    s.pipeline
        .suppress(
            s.owner.id,
            addr("gone@example.org"),
            SuppressionReason::Unsubscribed,
        )
        .await
        .unwrap();
    let job = start(&s, &code, "vip.csv").await;
    assert_eq!(job.state, ListJobState::Running);
    let fed = feed(&s, &job, rows(LIST)).await;
    assert_eq!(
        (fed.recorded, fed.already_recorded, fed.stopped),
        (9, 0, None)
    );
    deliver(&s).await;
    for who in ["ada@example.org", "bob@example.org", "cy@example.org"] {
        assert_eq!(requests(&s, who), 1, "{who} is invited once");
    }
    assert_eq!(
        requests(&s, "jörg@bücher-müller.de"),
        1,
        "an IDN address is invited"
    );
    assert_eq!(requests(&s, "gone@example.org"), 0, "suppressed");
    let rows = exported(&s, &job).await;
    let verdict = |row: u64| rows[&row].1.as_str();
    assert_eq!(rows.len(), 9);
    assert_eq!(
        (2..=10).map(verdict).collect::<Vec<_>>(),
        vec![
            "invited",
            "invited",
            "invalid",
            "duplicate",
            "suppressed",
            "own-address",
            "invited",
            "invalid",
            "invited"
        ]
    );
    assert_eq!(rows[&4].0, "not an address", "the address as written");
    assert!(rows[&4].2.contains("not valid"), "{:?}", rows[&4]);
    assert_eq!(rows[&9].2, "the address is missing");
    // The RSVP status of the batch, row by row: ada answers Yes.
    assert_eq!((rows[&2].3.as_str(), rows[&2].4.as_str()), ("sent", ""));
    assert_eq!(rows[&4].3, "", "an invalid row has no invitation");
    s.reply("ada@example.org", "ACCEPTED").await.unwrap();
    let rows = exported(&s, &job).await;
    assert_eq!(
        (rows[&2].3.as_str(), rows[&2].4.as_str()),
        ("sent", "accepted")
    );
    assert_eq!(
        rows[&5].4, "accepted",
        "the duplicate row shows the same invitation"
    );
    assert_eq!(rows[&6].3, "", "a refused row has no invitation");
    let progress = s.pipeline.list_progress(s.scope(), &job.id).await.unwrap();
    assert_eq!(
        (
            progress.rows,
            progress.invited,
            progress.duplicates,
            progress.invalid,
            progress.submitted
        ),
        (9, 4, 1, 2, 4)
    );
    assert_eq!(progress.refused.get(&RefusalReason::Suppressed), Some(&1));
    assert_eq!(progress.refused.get(&RefusalReason::OwnAddress), Some(&1));
    // The same list fed to the same job again: every row is recorded already.
    let again = feed(&s, &job, self::rows(LIST)).await;
    assert_eq!((again.recorded, again.already_recorded), (0, 9));
    // Starting "vip.csv" again finds the same job.
    assert_eq!(start(&s, &code, "vip.csv").await.id, job.id);
    // A second list with the same people: already invited, nothing sent.
    let second = start(&s, &code, "vip-again.csv").await;
    assert_ne!(second.id, job.id);
    feed(&s, &second, self::rows(LIST)).await;
    assert_eq!(
        deliver(&s).await,
        0,
        "a list sent twice sends nothing twice"
    );
    let rows2 = exported(&s, &second).await;
    assert_eq!(rows2[&2].1, "already-invited");
    assert_eq!(rows2[&5].1, "duplicate", "ADA@ is ada@, row 2 of this list");
    let p2 = s
        .pipeline
        .list_progress(s.scope(), &second.id)
        .await
        .unwrap();
    assert_eq!((p2.invited, p2.already_invited, p2.duplicates), (0, 4, 1));
}

/// A feed cut off part-way (the process died) and started again from the
/// list's beginning takes up exactly the rows not yet recorded.
pub(super) async fn list_resumes_where_it_stopped<S: Store>(store: S) {
    let s = scenario(store).await;
    let code = event(&s, "list-2@example.com").await;
    let mut csv = String::from("email\n");
    for i in 0..25 {
        csv.push_str(&format!("person{i}@example.org\n"));
    }
    let job = start(&s, &code, "big.csv").await;
    // The first 9 rows, then the process "dies".
    let all = rows(&csv);
    let fed = feed(&s, &job, all[..9].to_vec()).await;
    assert_eq!(fed.recorded, 9);
    // Restarted: the job found by name, the whole list fed again.
    let job = start(&s, &code, "big.csv").await;
    let fed = feed(&s, &job, all.clone()).await;
    assert_eq!((fed.recorded, fed.already_recorded), (16, 9));
    deliver(&s).await;
    for i in 0..25 {
        assert_eq!(
            requests(&s, &format!("person{i}@example.org")),
            1,
            "person{i}"
        );
    }
    let rows = exported(&s, &job).await;
    assert_eq!(rows.len(), 25);
    assert!(rows.values().all(|r| r.1 == "invited"));
}

/// Pausing holds the job's queued invitations and stops rows being taken;
/// resuming releases them. Cancelling sets what is still queued aside for
/// good, and a cancelled job cannot be resumed.
pub(super) async fn list_pause_resume_and_cancel<S: Store>(store: S) {
    let s = scenario(store).await;
    let code = event(&s, "list-3@example.com").await;
    deliver(&s).await; // the organizer's notice
    let job = start(&s, &code, "paused.csv").await;
    feed(&s, &job, rows("email\na@example.org\nb@example.org\n")).await;
    let paused = s.pipeline.pause_list(s.scope(), &job.id).await.unwrap();
    assert_eq!(paused.state, ListJobState::Paused);
    assert_eq!(deliver(&s).await, 0, "a paused job's invitations are held");
    let fed = feed(
        &s,
        &job,
        rows("email\na@example.org\nb@example.org\nc@example.org\n"),
    )
    .await;
    assert_eq!(
        (fed.recorded, fed.stopped),
        (0, Some(ListJobState::Paused)),
        "a paused job takes no rows"
    );
    s.pipeline.resume_list(s.scope(), &job.id).await.unwrap();
    assert_eq!(deliver(&s).await, 2, "released on resume");
    let fed = feed(
        &s,
        &job,
        rows("email\na@example.org\nb@example.org\nc@example.org\n"),
    )
    .await;
    assert_eq!((fed.recorded, fed.already_recorded), (1, 2));
    // Cancelled before c's invitation goes out: it never does.
    let cancelled = s.pipeline.cancel_list(s.scope(), &job.id).await.unwrap();
    assert_eq!(cancelled.state, ListJobState::Cancelled);
    assert_eq!(deliver(&s).await, 0);
    assert_eq!(requests(&s, "c@example.org"), 0);
    assert_eq!(requests(&s, "a@example.org"), 1);
    match s.pipeline.resume_list(s.scope(), &job.id).await {
        Err(PipelineError::Refused(r)) => assert_eq!(r.reason, RefusalReason::NotActionable),
        other => panic!("a cancelled job stays cancelled: {other:?}"),
    }
    let fed = feed(&s, &job, rows("email\nd@example.org\n")).await;
    assert_eq!(fed.stopped, Some(ListJobState::Cancelled));
    // Rows an application numbers wrongly are its mistake, said as such.
    let job2 = start(&s, &code, "numbered-by-hand").await;
    let twice = vec![
        ListEntry::recipient(2, calinvite_core::Recipient::new(addr("e@example.org"))),
        ListEntry::recipient(2, calinvite_core::Recipient::new(addr("f@example.org"))),
    ];
    assert!(matches!(
        s.pipeline.feed_list(s.scope(), &job2.id, twice).await,
        Err(PipelineError::Misuse(_))
    ));
    let zero = vec![ListEntry::recipient(
        0,
        calinvite_core::Recipient::new(addr("e@example.org")),
    )];
    assert!(matches!(
        s.pipeline.feed_list(s.scope(), &job2.id, zero).await,
        Err(PipelineError::Misuse(_))
    ));
    // Another organizer's scope sees no such job.
    let other = calinvite_core::Scope {
        owner: s.owner.id,
        organizer: calinvite_core::OrganizerId(99),
    };
    assert!(matches!(
        s.pipeline.list_progress(other, &job.id).await,
        Err(PipelineError::NotFound(_))
    ));
}
