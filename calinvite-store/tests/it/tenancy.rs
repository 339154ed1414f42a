#![allow(clippy::unwrap_used)]
//! Tenancy ([D13](calinvite_core::manual::design#d13)) as a property: whatever
//! tenants a store holds, an organizer's reads never return another tenant's
//! rows, and an organizer's commands on another tenant's event, pending change
//! or invitation find nothing.
//!
//! Each case draws 2–3 domain owners with 1–2 organizers each (organizer ids
//! repeat across owners, organizer UIDs and invited addresses repeat across
//! tenants on purpose), and builds their events, invitations, web answers,
//! unsubscribes, suppressions, pending changes, cancellations and refusals
//! through the [`Pipeline`] (and [`Store::commit`] for what the API cannot
//! make: events with an organizer UID, refusals with a known detail). Then,
//! for every organizer scope, every scoped read of the [`Store`] and of the
//! pipeline is checked against what was built, and the whole of what each
//! scope reads is compared with the in-memory reference store built from the
//! same plan.
//!
//! Every case opens a fresh database (a SQLite file, a PostgreSQL schema
//! dropped afterwards): 24 cases per database by default, or
//! `CALINVITE_TENANCY_CASES`. PostgreSQL is `CALINVITE_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); unreachable, the test fails.

use crate::support;

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use calinvite_core::lifecycle::{
    AllowEntry, DomainOwner, InvitationSource, MemoryStore, OrganizerAccount, OrganizerId, Outcome,
    OwnerId, PendingChangeId, Pipeline, PipelineError, RecordingTransport, Refusal, RefusalReason,
    RefusalRecord, Scope, Settings, StoredEvent, SuppressionReason,
};
use calinvite_core::spi::{Change, EventParts};
use calinvite_core::{
    Clock, EmailAddress, Event, EventCode, FixedClock, InvitationToken, ParticipationStatus,
    Recipient, Schedule, Sequence, SequentialIds, Store,
};
use calinvite_store::SqlStore;
use chrono::{NaiveDate, TimeZone as _, Utc};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// The people invited, in every tenant alike.
const POOL: [&str; 5] = [
    "amy@example.org",
    "bo@example.net",
    "cy@example.org",
    "dee@example.net",
    "eli@example.org",
];

/// Someone trying to get into another tenant's event.
const INTRUDER: &str = "intruder@example.org";

/// One event of an organizer's.
#[derive(Clone, Debug)]
struct EventPlan {
    /// It came from a calendar with an organizer UID (the same UIDs in
    /// every tenant).
    uid: bool,
    /// Who is invited (indexes into [`POOL`]).
    invite: Vec<usize>,
    /// The first invitee answers on the web.
    answer: bool,
    /// The last invitee unsubscribes.
    unsubscribe: bool,
    /// The organizer changes it (held as a pending change under approval).
    edit: bool,
    /// The organizer cancels it (likewise).
    cancel: bool,
}

/// One organizer's switches and data.
#[derive(Clone, Debug)]
struct OrganizerPlan {
    approval: bool,
    events: Vec<EventPlan>,
    /// Refusals recorded for the owner: with this organizer (`true`) or
    /// without one.
    refusals: Vec<bool>,
}

/// One domain owner.
#[derive(Clone, Debug)]
struct OwnerPlan {
    organizers: Vec<OrganizerPlan>,
    /// Addresses the owner suppresses (indexes into [`POOL`]).
    suppress: Vec<usize>,
}

fn plans() -> impl Strategy<Value = Vec<OwnerPlan>> {
    let people = || proptest::sample::subsequence((0..POOL.len()).collect::<Vec<_>>(), 0..=3);
    let event = (
        any::<bool>(),
        people(),
        any::<bool>(),
        proptest::bool::weighted(0.3),
        any::<bool>(),
        proptest::bool::weighted(0.3),
    )
        .prop_map(
            |(uid, invite, answer, unsubscribe, edit, cancel)| EventPlan {
                uid,
                invite,
                answer,
                unsubscribe,
                edit,
                cancel,
            },
        );
    let organizer = (
        any::<bool>(),
        prop::collection::vec(event, 0..=2),
        prop::collection::vec(any::<bool>(), 0..=2),
    )
        .prop_map(|(approval, events, refusals)| OrganizerPlan {
            approval,
            events,
            refusals,
        });
    let owner = (
        prop::collection::vec(organizer, 1..=2),
        proptest::sample::subsequence((0..POOL.len()).collect::<Vec<_>>(), 0..=2),
    )
        .prop_map(|(organizers, suppress)| OwnerPlan {
            organizers,
            suppress,
        });
    prop::collection::vec(owner, 2..=3)
}

/// What a plan built, as the test knows it.
#[derive(Debug, Default)]
struct World {
    owners: Vec<DomainOwner>,
    organizers: Vec<OrganizerAccount>,
    /// Every event: its tenant, code and organizer UID.
    events: Vec<(Scope, EventCode, Option<String>)>,
    /// Every invitation: its tenant, event and token.
    invitations: Vec<(Scope, EventCode, InvitationToken)>,
    /// Every pending change: its tenant and id.
    pending: Vec<(Scope, PendingChangeId)>,
    /// Every (owner, address) suppressed.
    suppressed: BTreeSet<(OwnerId, EmailAddress)>,
    /// Refusals committed directly: owner, organizer, detail.
    tagged: Vec<(OwnerId, Option<OrganizerId>, String)>,
}

impl World {
    fn scopes(&self) -> Vec<Scope> {
        self.organizers.iter().map(|o| o.scope).collect()
    }
    fn uids() -> [String; 3] {
        // Two used by plans (events 0 and 1 of an organizer), one never.
        [0, 1, 2].map(|e| format!("shared-{e}@calendar.example"))
    }
}

fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

fn event(code: EventCode, organizer: &EmailAddress, summary: &str) -> Result<Event, String> {
    let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    Event::builder(code)
        .summary(summary)
        .schedule(Schedule::all_day(day, day).map_err(|e| e.to_string())?)
        .organizer(organizer.clone(), Some("Organizer"))
        .build()
        .map_err(|e| e.to_string())
}

type Engine<S> = Pipeline<S, RecordingTransport>;

fn pipeline<S: Store>(store: S) -> Engine<S> {
    let clock = Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap(),
    ));
    Pipeline::new(
        store,
        RecordingTransport::new(),
        clock as Arc<dyn Clock>,
        Box::new(SequentialIds::new(1)),
    )
}

/// Builds `plan` through the pipeline.
async fn populate<S: Store>(p: &Engine<S>, plan: &[OwnerPlan]) -> World {
    let mut world = World::default();
    // Codes for events committed directly, far from the pipeline's stream.
    let codes = SequentialIds::new(1 << 40);
    for (i, op) in plan.iter().enumerate() {
        let oid = OwnerId(i as u64 + 1);
        let domain = format!("t{}.example", i + 1);
        let owner = DomainOwner::new(
            oid,
            format!("Owner {}", i + 1),
            domain.clone(),
            addr(&format!("create@{domain}")),
            addr(&format!("rsvp@{domain}")),
            addr(&format!("bounces@{domain}")),
        );
        p.store().put_owner(owner.clone()).await.unwrap();
        world.owners.push(owner);
        for k in &op.suppress {
            p.suppress(oid, addr(POOL[*k]), SuppressionReason::Complaint)
                .await
                .unwrap();
            world.suppressed.insert((oid, addr(POOL[*k])));
        }
        for (j, gp) in op.organizers.iter().enumerate() {
            let scope = Scope {
                owner: oid,
                organizer: OrganizerId(j as u64 + 1),
            };
            let me = addr(&format!("org{}@{domain}", j + 1));
            let account =
                OrganizerAccount::new(scope, format!("Organizer {}/{}", i + 1, j + 1), me.clone())
                    .with_allow_list(vec![AllowEntry::Address(me.clone())])
                    .with_settings(Settings::default().with_approval(gp.approval));
            p.store().put_organizer(account.clone()).await.unwrap();
            world.organizers.push(account);
            for (e, ep) in gp.events.iter().enumerate() {
                let uid = ep.uid.then(|| World::uids()[e].clone());
                let code = match &uid {
                    None => p
                        .create_event_with(scope, |code| event(code, &me, "Launch"))
                        .await
                        .unwrap(),
                    Some(u) => {
                        let code = EventCode::generate(&codes);
                        let ev = event(code.clone(), &me, "Launch").unwrap();
                        p.store()
                            .commit(vec![
                                Change::InsertEvent(StoredEvent::from(EventParts {
                                    scope,
                                    code: code.clone(),
                                    organizer_uid: Some(u.clone()),
                                    organizer_sequence: Sequence::INITIAL,
                                    organizer_stamp: None,
                                    latest: ev.clone(),
                                    raw_calendar: None,
                                    sent_sequence: Sequence::INITIAL,
                                    cancelled: false,
                                    created_at: p.now(),
                                    version: 0,
                                })),
                                Change::InsertRevision {
                                    code: code.clone(),
                                    sequence: Sequence::INITIAL,
                                    event: ev,
                                },
                            ])
                            .await
                            .unwrap();
                        code
                    }
                };
                world.events.push((scope, code.clone(), uid));
                let mut tokens = Vec::new();
                for k in &ep.invite {
                    let who = Recipient::new(addr(POOL[*k]));
                    match p
                        .invite(scope, &code, who, InvitationSource::Api)
                        .await
                        .unwrap()
                    {
                        Outcome::Invited(t) => tokens.push(t),
                        // The owner suppresses the address.
                        Outcome::Refused(r) => assert_eq!(r.reason, RefusalReason::Suppressed),
                        other => panic!("invite: {other:?}"),
                    }
                }
                if ep.answer
                    && let Some(t) = tokens.first()
                {
                    p.web_answer(oid, t, ParticipationStatus::Accepted)
                        .await
                        .unwrap();
                }
                if ep.unsubscribe
                    && let Some(t) = tokens.last()
                {
                    p.unsubscribe(oid, t).await.unwrap();
                    let inv = p.store().invitation(t).await.unwrap().unwrap();
                    world
                        .suppressed
                        .insert((oid, inv.recipient().address().clone()));
                }
                world
                    .invitations
                    .extend(tokens.into_iter().map(|t| (scope, code.clone(), t)));
                if ep.edit {
                    let changed = event(code.clone(), &me, "Launch, moved").unwrap();
                    if let Outcome::PendingApproval(_, id) =
                        p.update_event(scope, &code, changed).await.unwrap()
                    {
                        world.pending.push((scope, id));
                    }
                }
                if ep.cancel
                    && let Outcome::PendingApproval(_, id) =
                        p.cancel_event(scope, &code, None).await.unwrap()
                {
                    world.pending.push((scope, id));
                }
            }
            for (n, with_organizer) in gp.refusals.iter().enumerate() {
                let organizer = with_organizer.then_some(scope.organizer);
                let detail = format!("tag {}/{}/{n}", i + 1, j + 1);
                p.store()
                    .commit(vec![Change::Refuse(RefusalRecord::new(
                        oid,
                        organizer,
                        None,
                        p.now(),
                        Refusal::new(RefusalReason::NotActionable, detail.clone()),
                    ))])
                    .await
                    .unwrap();
                world.tagged.push((oid, organizer, detail));
            }
        }
    }
    p.run_until_idle().await.unwrap();
    world
}

fn not_found<T: std::fmt::Debug>(what: &str, r: Result<T, PipelineError>) {
    match r {
        Err(PipelineError::NotFound(_)) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

/// Every organizer tries every other tenant's events, pending changes and
/// invitations: nothing is found, nothing changes.
async fn intrude<S: Store>(p: &Engine<S>, world: &World) {
    for s in world.scopes() {
        for (owner_scope, code, _) in world.events.iter().filter(|(o, ..)| *o != s) {
            let what = |op: &str| format!("{s:?} {op} event {code} of {owner_scope:?}");
            not_found(
                &what("invites to"),
                p.invite(
                    s,
                    code,
                    Recipient::new(addr(INTRUDER)),
                    InvitationSource::Api,
                )
                .await,
            );
            let stolen = event(code.clone(), &addr(INTRUDER), "Stolen").unwrap();
            not_found(&what("updates"), p.update_event(s, code, stolen).await);
            not_found(&what("cancels"), p.cancel_event(s, code, None).await);
        }
        for (owner_scope, id) in world.pending.iter().filter(|(o, _)| *o != s) {
            let what = |op: &str| format!("{s:?} {op} pending change {id} of {owner_scope:?}");
            not_found(&what("approves"), p.approve(s, id).await);
            not_found(&what("rejects"), p.reject(s, id).await);
        }
    }
    // Web answers and unsubscribes name an owner and a token: another
    // owner's token is no invitation (the refusal is recorded for the owner
    // asked, with no organizer and no event).
    for (n, (scope, _, token)) in world.invitations.iter().enumerate() {
        let others: Vec<OwnerId> = world
            .owners
            .iter()
            .map(|o| o.id)
            .filter(|o| *o != scope.owner)
            .collect();
        let other = others[n % others.len()];
        for out in [
            p.web_answer(other, token, ParticipationStatus::Declined)
                .await
                .unwrap(),
            p.unsubscribe(other, token).await.unwrap(),
        ] {
            match out {
                Outcome::Refused(r) if r.reason == RefusalReason::UnknownInvitation => {}
                other_out => panic!(
                    "owner {other:?} answered for or unsubscribed an invitation of {scope:?}: {other_out:?}"
                ),
            }
        }
    }
}

/// Checks every scoped read against `world`; returns what every scope read,
/// one line per read, to compare stores with.
async fn check<S: Store>(p: &Engine<S>, world: &World) -> Vec<String> {
    let store = p.store();
    let mut seen = Vec::new();
    let event_scope = |code: &EventCode| {
        world
            .events
            .iter()
            .find(|(_, c, _)| c == code)
            .map(|(s, ..)| *s)
    };
    for owner in &world.owners {
        let o = owner.id;
        assert_eq!(store.owner(o).await.unwrap().as_ref(), Some(owner));
        for mailbox in [&owner.ingest, &owner.reply, &owner.bounce] {
            assert_eq!(
                store.owner_by_mailbox(mailbox).await.unwrap().map(|x| x.id),
                Some(o),
                "{mailbox}"
            );
        }
        let organizers = store.organizers(o).await.unwrap();
        let want: Vec<&OrganizerAccount> = world
            .organizers
            .iter()
            .filter(|a| a.scope.owner == o)
            .collect();
        assert_eq!(
            organizers.iter().collect::<Vec<_>>(),
            want,
            "organizers of {o:?}"
        );
        seen.push(format!("organizers {o:?}: {organizers:?}"));

        let pool: Vec<EmailAddress> = POOL.iter().map(|a| addr(a)).collect();
        for a in &pool {
            let got = store.suppression(o, a).await.unwrap();
            assert_eq!(
                got.is_some(),
                world.suppressed.contains(&(o, a.clone())),
                "suppression of {a} for {o:?}: {got:?}"
            );
            if let Some(s) = got {
                assert_eq!((s.owner, &s.address), (o, a));
            }
        }
        let among: BTreeSet<EmailAddress> = store
            .suppressions_among(o, &pool)
            .await
            .unwrap()
            .into_iter()
            .map(|s| {
                assert_eq!(s.owner, o, "{s:?}");
                s.address
            })
            .collect();
        let want: BTreeSet<EmailAddress> = world
            .suppressed
            .iter()
            .filter(|(so, _)| *so == o)
            .map(|(_, a)| a.clone())
            .collect();
        assert_eq!(among, want, "suppressed among for {o:?}");
        seen.push(format!("suppressed {o:?}: {among:?}"));

        let refusals = store.refusals(o, None).await.unwrap();
        for r in &refusals {
            assert_eq!(r.owner, o, "refusals of {o:?}: {r:?}");
            if let Some(code) = &r.code {
                assert_eq!(event_scope(code).map(|s| s.owner), Some(o), "{r:?}");
            }
            if let Some(g) = r.organizer {
                let s = Scope {
                    owner: o,
                    organizer: g,
                };
                assert!(world.scopes().contains(&s), "{r:?}");
            }
        }
        for (to, _, detail) in &world.tagged {
            let n = refusals
                .iter()
                .filter(|r| &r.refusal.detail == detail)
                .count();
            assert_eq!(n, usize::from(*to == o), "refusal {detail} in {o:?}'s");
        }
        seen.push(format!("refusals {o:?}: {refusals:?}"));

        for (s, code, _) in &world.events {
            let got = store.event(o, code).await.unwrap();
            assert_eq!(
                got.as_ref().map(|e| e.scope()),
                (s.owner == o).then_some(*s),
                "{o:?} reads event {code} of {s:?}"
            );
        }
    }

    for s in world.scopes() {
        let mine: Vec<&EventCode> = world
            .events
            .iter()
            .filter(|(es, ..)| *es == s)
            .map(|(_, c, _)| c)
            .collect();
        let events = store.events(s, None, 1000).await.unwrap();
        assert!(events.iter().all(|e| e.scope() == s), "events of {s:?}");
        let codes: BTreeSet<&EventCode> = events.iter().map(|e| e.code()).collect();
        assert_eq!(codes, mine.iter().copied().collect(), "events of {s:?}");
        seen.push(format!("events {s:?}: {events:?}"));
        // A page after another tenant's event is still only this organizer's.
        for (_, foreign, _) in world.events.iter().filter(|(es, ..)| *es != s) {
            let page = store.events(s, Some(foreign), 1000).await.unwrap();
            assert!(
                page.iter().all(|e| e.scope() == s),
                "{s:?} paged after {foreign}: {page:?}"
            );
        }

        for uid in World::uids() {
            let got = store.event_by_uid(s, &uid).await.unwrap();
            let want = world
                .events
                .iter()
                .find(|(es, _, u)| *es == s && u.as_deref() == Some(uid.as_str()))
                .map(|(_, c, _)| c);
            assert_eq!(got.as_ref().map(|e| e.code()), want, "{s:?} by UID {uid}");
            assert!(got.iter().all(|e| e.scope() == s));
        }

        for (ps, id) in &world.pending {
            let got = store.pending(s, id).await.unwrap();
            assert_eq!(
                got.as_ref().map(|x| x.scope),
                (*ps == s).then_some(s),
                "{s:?} reads pending change {id} of {ps:?}"
            );
            if *ps == s {
                seen.push(format!("pending {s:?} {id}: {got:?}"));
                assert_eq!(p.pending(s, id).await.unwrap().scope, s);
            } else {
                not_found(
                    &format!("{s:?} reads pending change {id} of {ps:?}"),
                    p.pending(s, id).await,
                );
            }
        }

        let refusals = store.refusals(s.owner, Some(s)).await.unwrap();
        for r in &refusals {
            assert_eq!(
                (r.owner, r.organizer),
                (s.owner, Some(s.organizer)),
                "{r:?}"
            );
            if let Some(code) = &r.code {
                assert_eq!(event_scope(code), Some(s), "{r:?}");
            }
        }
        for (to, tg, detail) in &world.tagged {
            let n = refusals
                .iter()
                .filter(|r| &r.refusal.detail == detail)
                .count();
            let want = *to == s.owner && *tg == Some(s.organizer);
            assert_eq!(n, usize::from(want), "refusal {detail} in {s:?}'s");
        }
        seen.push(format!("refusals {s:?}: {refusals:?}"));

        for (es, code, _) in &world.events {
            if *es != s {
                let what = |op: &str| format!("{s:?} {op} event {code} of {es:?}");
                not_found(&what("reads"), p.event(s, code).await);
                not_found(&what("lists invitations of"), p.invitations(s, code).await);
                not_found(
                    &what("lists pending changes of"),
                    p.open_pending(s, code).await,
                );
                continue;
            }
            assert_eq!(p.event(s, code).await.unwrap().scope(), s);
            let invitations = p.invitations(s, code).await.unwrap();
            let tokens: BTreeSet<&InvitationToken> =
                invitations.iter().map(|i| i.token()).collect();
            let want: BTreeSet<&InvitationToken> = world
                .invitations
                .iter()
                .filter(|(_, c, _)| c == code)
                .map(|(.., t)| t)
                .collect();
            assert_eq!(tokens, want, "invitations of {code}");
            assert!(
                invitations
                    .iter()
                    .all(|i| i.scope() == s && i.code() == code),
                "invitations of {code}: {invitations:?}"
            );
            seen.push(format!("invitations {s:?} {code}: {invitations:?}"));
            let open = p.open_pending(s, code).await.unwrap();
            assert!(
                open.iter().all(|x| x.scope == s && &x.code == code),
                "open pending of {code}: {open:?}"
            );
            seen.push(format!("open pending {s:?} {code}: {open:?}"));
        }

        for (is, _, token) in &world.invitations {
            if *is == s {
                let history = p.history(s, token).await.unwrap();
                assert!(history.iter().all(|h| &h.token == token));
                seen.push(format!("history {s:?} {token}: {history:?}"));
            } else {
                not_found(
                    &format!("{s:?} reads the history of an invitation of {is:?}"),
                    p.history(s, token).await,
                );
            }
        }
    }
    seen
}

/// Builds `plan` on `store`, lets every tenant try every other's data, and
/// checks every read; returns what the scopes read.
async fn run<S: Store>(store: S, plan: &[OwnerPlan]) -> Vec<String> {
    let p = pipeline(store);
    let world = populate(&p, plan).await;
    intrude(&p, &world).await;
    check(&p, &world).await
}

/// The SQL store reads what the in-memory reference reads, line by line.
fn same_as_memory(store: &str, got: &[String], memory: &[String]) {
    for (n, (g, m)) in got.iter().zip(memory).enumerate() {
        assert_eq!(g, m, "{store} and the in-memory store differ at read {n}");
    }
    assert_eq!(got.len(), memory.len(), "{store}: number of reads");
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(support::runtime)
}

fn config(name: &'static str) -> ProptestConfig {
    let cases = std::env::var("CALINVITE_TENANCY_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    ProptestConfig {
        cases,
        max_shrink_iters: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(name))),
        ..ProptestConfig::default()
    }
}

const REGRESSIONS: &str = "tests/it/tenancy.proptest-regressions";

fn sqlite_config() -> ProptestConfig {
    config(REGRESSIONS)
}

fn postgres_config() -> ProptestConfig {
    support::require_postgres();
    config(REGRESSIONS)
}

proptest! {
    #![proptest_config(sqlite_config())]

    /// The reference itself, and SQLite against it.
    #[test]
    fn tenants_are_isolated_on_sqlite(plan in plans()) {
        let memory = runtime().block_on(run(MemoryStore::new(), &plan));
        let dir = support::TempDir::new("tenancy");
        let got = runtime().block_on(async {
            let store = support::sqlite(&dir).await;
            let got = run(store.clone(), &plan).await;
            store.close().await;
            got
        });
        same_as_memory("SQLite", &got, &memory);
    }
}

/// Drops a case's PostgreSQL schema, also when the case fails.
struct DropSchema(SqlStore, String);

impl Drop for DropSchema {
    fn drop(&mut self) {
        let _ = runtime().block_on(self.0.drop_schema(&self.1));
        runtime().block_on(self.0.close());
    }
}

proptest! {
    #![proptest_config(postgres_config())]

    /// PostgreSQL against the reference.
    #[test]
    fn tenants_are_isolated_on_postgres(plan in plans()) {
        let memory = runtime().block_on(run(MemoryStore::new(), &plan));
        let schema = support::unique("tenancy");
        let store = runtime().block_on(support::postgres_in(&schema, 2));
        let _cleanup = DropSchema(store.clone(), schema);
        let got = runtime().block_on(run(store, &plan));
        same_as_memory("PostgreSQL", &got, &memory);
    }
}
