//! Property: for any list — duplicates (in any letter case), invalid rows,
//! suppressed addresses, people an earlier list already invited — and any
//! interleaving of pauses, resumes, deliveries and feeds cut off part-way
//! and started again from anywhere earlier (a crash and a restart), every
//! valid distinct recipient is invited and mailed exactly once, and every
//! row of the list has exactly one verdict, the right one.

use std::collections::{BTreeMap, BTreeSet};

use calinvite_core::lifecycle::{
    ListJobState, MemoryStore, RefusalReason, RowVerdict, Settings, SuppressionReason,
};
use calinvite_core::list::{ListEntry, ListReader};
use calinvite_core::{EmailAddress, Recipient, Store as _};
use calinvite_tests::block_on;
use calinvite_tests::scenario::{CalendarEvent, Scenario};
use proptest::prelude::*;

/// A row of the generated list.
#[derive(Clone, Debug)]
enum Row {
    /// Person `n` (of a small pool, so repeats happen), written in upper
    /// case when `shout`.
    Person { n: u8, shout: bool },
    /// Something that is not an address.
    Invalid(u8),
}

impl Row {
    fn written(&self) -> String {
        match self {
            Row::Person { n, shout: false } => format!("p{n}@example.org"),
            Row::Person { n, shout: true } => format!("P{n}@EXAMPLE.ORG"),
            Row::Invalid(n) => format!("nobody{n} at example.org"),
        }
    }
}

#[derive(Clone, Debug)]
enum Step {
    /// Feed rows `from..to` of the list (a feed that stops at `to` is a
    /// process that died there; one that starts before where the last one
    /// stopped is a restart reading the list again).
    Feed {
        from: usize,
        to: usize,
    },
    Pause,
    Resume,
    Deliver,
}

fn rows() -> impl Strategy<Value = Vec<Row>> {
    prop::collection::vec(
        prop_oneof![
            4 => (0u8..10, any::<bool>()).prop_map(|(n, shout)| Row::Person { n, shout }),
            1 => (0u8..3).prop_map(Row::Invalid),
        ],
        0..40,
    )
}

fn steps(len: usize) -> impl Strategy<Value = Vec<Step>> {
    let len = len.max(1);
    prop::collection::vec(
        prop_oneof![
            4 => (0..=len, 0..=len).prop_map(|(a, b)| Step::Feed { from: a.min(b), to: a.max(b) }),
            1 => Just(Step::Pause),
            1 => Just(Step::Resume),
            2 => Just(Step::Deliver),
        ],
        0..12,
    )
}

fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).expect("a test address")
}

fn list(rows: &[Row]) -> Vec<ListEntry> {
    let mut csv = String::from("email\n");
    for r in rows {
        csv.push_str(&r.written());
        csv.push('\n');
    }
    ListReader::new(csv.as_bytes())
        .expect("header")
        .map(|e| e.expect("read"))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("CALINVITE_LIST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
    ))]

    #[test]
    fn every_valid_distinct_recipient_is_invited_once_and_every_row_has_its_verdict(
        (rows, steps, suppressed, earlier) in rows().prop_flat_map(|rows| {
            let n = rows.len();
            (
                Just(rows),
                steps(n),
                prop::collection::btree_set(0u8..10, 0..3),
                prop::collection::btree_set(0u8..10, 0..3),
            )
        })
    ) {
        block_on(async {
            let s = Scenario::new(MemoryStore::new(), Settings::default()).await.unwrap();
            let code = match s.organizer_sends(&CalendarEvent::launch("prop-list@example.com")).await {
                Ok(calinvite_core::Outcome::EventCreated(c)) => c,
                other => panic!("{other:?}"),
            };
            for n in &suppressed {
                s.pipeline
                    .suppress(s.owner.id, addr(&format!("p{n}@example.org")), SuppressionReason::Unsubscribed)
                    .await
                    .unwrap();
            }
            // People an earlier list (or the API) invited already.
            for n in &earlier {
                s.pipeline
                    .invite(
                        s.scope(),
                        &code,
                        Recipient::new(addr(&format!("p{n}@example.org"))),
                        calinvite_core::InvitationSource::Batch("earlier.csv".into()),
                    )
                    .await
                    .unwrap();
            }
            let entries = list(&rows);
            let job = s.pipeline.start_list(s.scope(), &code, "prop.csv").await.unwrap();
            let mut paused = false;
            for step in &steps {
                match step {
                    Step::Feed { from, to } => {
                        let (from, to) = (&(*from).min(entries.len()), &(*to).min(entries.len()));
                        let fed = s
                            .pipeline
                            .feed_list(s.scope(), &job.id, entries[*from..*to].to_vec())
                            .await
                            .unwrap();
                        if paused && *to > *from {
                            assert_eq!((fed.recorded, fed.stopped), (0, Some(ListJobState::Paused)));
                        }
                    }
                    Step::Pause => {
                        s.pipeline.pause_list(s.scope(), &job.id).await.unwrap();
                        paused = true;
                    }
                    Step::Resume => {
                        s.pipeline.resume_list(s.scope(), &job.id).await.unwrap();
                        paused = false;
                    }
                    Step::Deliver => {
                        s.deliver().await.unwrap();
                    }
                }
            }
            // Finally: resumed, the whole list fed once more, everything delivered.
            s.pipeline.resume_list(s.scope(), &job.id).await.unwrap();
            s.pipeline.feed_list(s.scope(), &job.id, entries.clone()).await.unwrap();
            s.deliver().await.unwrap();

            let recorded = s.pipeline.store().list_rows(&job.id, 0, 10_000).await.unwrap();
            // Every row exactly one verdict, in row order.
            assert_eq!(
                recorded.iter().map(|r| r.row).collect::<Vec<_>>(),
                entries.iter().map(|e| e.row).collect::<Vec<_>>()
            );
            let mut invited: BTreeMap<u8, usize> = BTreeMap::new();
            for (row, r) in recorded.iter().zip(&rows) {
                match (r, &row.verdict) {
                    (Row::Invalid(_), RowVerdict::Invalid(why)) => {
                        assert!(why.contains("not valid"), "{why}");
                    }
                    (Row::Person { n, .. }, v) if suppressed.contains(n) => {
                        assert!(
                            matches!(v, RowVerdict::Refused { reason: RefusalReason::Suppressed, .. }),
                            "p{n} is suppressed: {v:?}"
                        );
                    }
                    (Row::Person { n, .. }, v) if earlier.contains(n) => {
                        assert!(
                            matches!(v, RowVerdict::AlreadyInvited(_) | RowVerdict::Duplicate(_)),
                            "p{n} was invited before: {v:?}"
                        );
                    }
                    (Row::Person { n, .. }, RowVerdict::Invited(_)) => {
                        *invited.entry(*n).or_default() += 1;
                    }
                    (Row::Person { .. }, RowVerdict::Duplicate(_)) => {}
                    (r, v) => panic!("row {r:?} got {v:?}"),
                }
                assert_eq!(row.address, r.written(), "the address as written");
            }
            let people: BTreeSet<u8> = rows
                .iter()
                .filter_map(|r| match r {
                    Row::Person { n, .. } if !suppressed.contains(n) && !earlier.contains(n) => Some(*n),
                    _ => None,
                })
                .collect();
            // Each new person: exactly one row says "invited".
            assert_eq!(invited.keys().copied().collect::<BTreeSet<_>>(), people);
            assert!(invited.values().all(|&c| c == 1), "{invited:?}");
            // And exactly one invitation reached each; the suppressed none;
            // the earlier list's people only theirs.
            for n in 0..10u8 {
                let who = format!("p{n}@example.org");
                let got = s
                    .calendar_inbox(&who)
                    .iter()
                    .filter(|d| d.method.as_deref() == Some("REQUEST"))
                    .count();
                let want = usize::from(
                    people.contains(&n) || (earlier.contains(&n) && !suppressed.contains(&n)),
                );
                assert_eq!(got, want, "{who}");
            }
        });
    }
}
