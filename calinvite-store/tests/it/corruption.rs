#![allow(clippy::unwrap_used)]
//! Bad data read back from the database: rows broken on purpose with raw SQL
//! (through a separate connection, as an operator's mistake, a bad restore or
//! a buggy migration would) are read back through the [`Store`] and through
//! the [`Pipeline`]. Each read is [`StoreError::Corrupt`] (or a
//! [`PipelineError`] carrying it) whose `row` names the table and the row's
//! key — never a panic, never another row, and never an invitation token
//! (tokens are bearer secrets; invitations are named by event and address,
//! queued messages by their queue number).
//!
//! Every test runs on a fresh SQLite file and on a fresh PostgreSQL schema
//! (`CALINVITE_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`;
//! an unreachable server fails the test).

use crate::support;

use std::fmt::Debug;
use std::sync::Arc;

use calinvite_core::lifecycle::{
    AllowEntry, DeliveryKey, DeliveryReport, DomainOwner, InvitationSource, OrganizerAccount,
    OrganizerId, Outcome, OwnerId, PendingChangeId, Pipeline, PipelineError, RecordingTransport,
    Refusal, RefusalReason, RefusalRecord, Scope, Settings, StoreError, StoredEvent,
    SuppressionReason,
};
use calinvite_core::spi::{Change, EventParts, Lease, Settlement};
use calinvite_core::{
    Clock, EmailAddress, Event, EventCode, FixedClock, IdempotencyKey, InvitationToken, Method,
    ParticipationStatus, Recipient, Schedule, Sequence, SequentialIds, Store,
};
use calinvite_store::{Dialect, SqlStore};
use chrono::{NaiveDate, TimeZone as _, Utc};
use serde_json::{Value, json};

const UID: &str = "launch-2026@calendar.example";
const AMY: &str = "amy@example.org";
const BO: &str = "bo@example.net";
const SPAM: &str = "spam@example.net";

/// A small healthy world, and a raw connection to break it with.
struct Fixture {
    p: Pipeline<SqlStore, RecordingTransport>,
    raw: sqlx::AnyPool,
    dialect: Dialect,
    owner: DomainOwner,
    scope: Scope,
    /// An event with an organizer UID: invitations to Amy and Bo (queued,
    /// not sent), Amy's web answer, an open pending change.
    code: EventCode,
    amy: InvitationToken,
    bo: InvitationToken,
    pending: PendingChangeId,
    /// A fan-out still to plan (an approved change of a second event).
    fan_out: String,
}

fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

fn event(code: EventCode, summary: &str) -> Event {
    let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    Event::builder(code)
        .summary(summary)
        .schedule(Schedule::all_day(day, day).unwrap())
        .organizer(addr("ana@example.com"), Some("Ana"))
        .build()
        .unwrap()
}

fn invited(out: Outcome) -> InvitationToken {
    match out {
        Outcome::Invited(t) => t,
        other => panic!("expected an invitation, got {other:?}"),
    }
}

fn pending_id(out: Outcome) -> PendingChangeId {
    match out {
        Outcome::PendingApproval(_, id) => id,
        other => panic!("expected a pending change, got {other:?}"),
    }
}

async fn fixture(store: SqlStore, raw: sqlx::AnyPool) -> Fixture {
    let dialect = store.dialect();
    let clock = Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap(),
    ));
    let p = Pipeline::new(
        store,
        RecordingTransport::new(),
        clock as Arc<dyn Clock>,
        Box::new(SequentialIds::new(7)),
    );
    let owner = DomainOwner::new(
        OwnerId(1),
        "Example Events",
        "events.example.com",
        addr("create@events.example.com"),
        addr("rsvp@events.example.com"),
        addr("bounces@events.example.com"),
    );
    let scope = Scope {
        owner: owner.id,
        organizer: OrganizerId(1),
    };
    p.store().put_owner(owner.clone()).await.unwrap();
    p.store()
        .put_organizer(
            OrganizerAccount::new(scope, "Ana", addr("ana@example.com"))
                .with_allow_list(vec![AllowEntry::Domain("example.com".into())])
                .with_settings(Settings::default().with_approval(true)),
        )
        .await
        .unwrap();

    let code = EventCode::generate(&SequentialIds::new(1 << 40));
    let launch = event(code.clone(), "Launch");
    p.store()
        .commit(vec![
            Change::InsertEvent(StoredEvent::from(EventParts {
                scope,
                code: code.clone(),
                organizer_uid: Some(UID.into()),
                organizer_sequence: Sequence::INITIAL,
                organizer_stamp: None,
                latest: launch.clone(),
                raw_calendar: None,
                sent_sequence: Sequence::INITIAL,
                cancelled: false,
                created_at: p.now(),
                version: 0,
            })),
            Change::InsertRevision {
                code: code.clone(),
                sequence: Sequence::INITIAL,
                event: launch,
            },
        ])
        .await
        .unwrap();
    let invite = |who: &'static str| {
        p.invite(
            scope,
            &code,
            Recipient::new(addr(who)),
            InvitationSource::Api,
        )
    };
    let amy = invited(invite(AMY).await.unwrap());
    let bo = invited(invite(BO).await.unwrap());
    p.web_answer(owner.id, &amy, ParticipationStatus::Accepted)
        .await
        .unwrap();
    let pending = pending_id(
        p.update_event(scope, &code, event(code.clone(), "Launch, moved"))
            .await
            .unwrap(),
    );

    let second = p
        .create_event_with(scope, |c| Ok::<_, String>(event(c, "Retro")))
        .await
        .unwrap();
    let approve = pending_id(
        p.update_event(scope, &second, event(second.clone(), "Retro, moved"))
            .await
            .unwrap(),
    );
    p.approve(scope, &approve).await.unwrap();
    let fan_outs = p.store().fan_outs(10).await.unwrap();
    assert_eq!(fan_outs.len(), 1, "one fan-out to plan");
    let fan_out = fan_outs[0].id.clone();

    p.suppress(owner.id, addr(SPAM), SuppressionReason::Complaint)
        .await
        .unwrap();
    p.store()
        .commit(vec![Change::Refuse(RefusalRecord::new(
            owner.id,
            Some(scope.organizer),
            Some(code.clone()),
            p.now(),
            Refusal::new(RefusalReason::NotActionable, "a test refusal"),
        ))])
        .await
        .unwrap();

    Fixture {
        p,
        raw,
        dialect,
        owner,
        scope,
        code,
        amy,
        bo,
        pending,
        fan_out,
    }
}

impl Fixture {
    fn store(&self) -> &SqlStore {
        self.p.store()
    }

    /// Raw SQL for this dialect (`$n` parameters). Every text is a constant of
    /// this file.
    fn sql(&self, text: &str) -> sqlx::AssertSqlSafe<String> {
        sqlx::AssertSqlSafe(match self.dialect {
            Dialect::Postgres => text.to_owned(),
            _ => text.replace('$', "?"),
        })
    }

    /// One text value, by a key expression (`table`, `key` are constants).
    async fn scalar(&self, select: &str, table: &str, key: &str, value: &str) -> String {
        let text = format!("SELECT CAST({select} AS TEXT) AS v FROM {table} WHERE {key} = $1");
        let row = sqlx::query(self.sql(&text))
            .bind(value.to_owned())
            .fetch_one(&self.raw)
            .await
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        sqlx::Row::try_get(&row, "v").unwrap()
    }

    /// Overwrites one column of the one row whose `key` is `value`.
    async fn set(&self, table: &str, column: &str, key: &str, value: &str, to: &str) {
        let text = format!("UPDATE {table} SET {column} = $1 WHERE {key} = $2");
        let done = sqlx::query(self.sql(&text))
            .bind(to.to_owned())
            .bind(value.to_owned())
            .execute(&self.raw)
            .await
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(done.rows_affected(), 1, "{text} with {value}");
    }

    /// Rewrites one row's JSON body: `path` must exist and is set to `to`.
    async fn edit(&self, table: &str, key: &str, value: &str, path: &[&str], to: Value) {
        let body = self.scalar("body", table, key, value).await;
        let mut v: Value = serde_json::from_str(&body).unwrap();
        let mut at = &mut v;
        for p in path {
            at = at
                .get_mut(*p)
                .unwrap_or_else(|| panic!("{table}: no {path:?} in {body}"));
        }
        *at = to;
        self.set(table, "body", key, value, &v.to_string()).await;
    }

    /// Cuts one row's body short (a torn write).
    async fn truncate(&self, table: &str, key: &str, value: &str) {
        let body = self.scalar("body", table, key, value).await;
        let cut: String = body.chars().take(body.len() / 2).collect();
        self.set(table, "body", key, value, &cut).await;
    }

    /// The queue number of the first message queued for `token`.
    async fn seq_of(&self, token: &InvitationToken) -> String {
        let key = self.key(token).to_string();
        self.scalar("seq", "deliveries", "key", &key).await
    }

    /// The key of the invitation message queued for `token`.
    fn key(&self, token: &InvitationToken) -> DeliveryKey {
        DeliveryKey::Invitation(IdempotencyKey::new(
            token.clone(),
            Sequence::INITIAL,
            Method::Request,
            0,
        ))
    }

    /// How an invitation row is named.
    fn invitation_row(&self, address: &str) -> String {
        format!("invitations/{}/{address}", self.code)
    }
}

/// `r` is a corrupt-row error naming `row`, and quotes no token.
#[track_caller]
fn corrupt<T: Debug>(fx: &Fixture, what: &str, r: Result<T, StoreError>, row: &str) {
    let e = match r {
        Err(e) => e,
        Ok(v) => panic!("{what}: expected corrupt row {row}, got {v:?}"),
    };
    let StoreError::Corrupt { row: got, .. } = &e else {
        panic!("{what}: expected corrupt row {row}, got {e:?}");
    };
    assert_eq!(got, row, "{what}: {e}");
    let shown = format!("{e} {e:?}");
    for t in [&fx.amy, &fx.bo] {
        assert!(
            !shown.contains(t.as_str()),
            "{what}: the error quotes an invitation token: {shown}"
        );
    }
}

/// The same through the pipeline.
#[track_caller]
fn corrupt_p<T: Debug>(fx: &Fixture, what: &str, r: Result<T, PipelineError>, row: &str) {
    match r {
        Err(PipelineError::Store(e)) => corrupt::<()>(fx, what, Err(e), row),
        other => panic!("{what}: expected corrupt row {row}, got {other:?}"),
    }
}

/// Runs `test` on a fresh SQLite file, then on a fresh PostgreSQL schema.
fn on_both(name: &str, test: impl AsyncFn(&Fixture)) {
    let rt = support::runtime();
    let dir = support::TempDir::new(name);
    rt.block_on(async {
        let url = support::sqlite_url(&dir);
        let store = support::sqlite(&dir).await;
        let fx = fixture(store.clone(), support::raw(&url, None).await).await;
        test(&fx).await;
        fx.raw.close().await;
        store.close().await;
    });
    rt.block_on(async {
        let schema = support::unique(name);
        let store = support::postgres_in(&schema, 2).await;
        let _drop = support::SchemaGuard(schema.clone());
        let raw = support::raw(&support::postgres_url(), Some(&schema)).await;
        let fx = fixture(store.clone(), raw).await;
        test(&fx).await;
        fx.raw.close().await;
        store.close().await;
    });
}

#[test]
fn an_invitation_with_an_invalid_address() {
    on_both("invalid_address", async |fx| {
        fx.edit(
            "invitations",
            "token",
            fx.amy.as_str(),
            &["recipient", "address"],
            json!("amy.example.org"),
        )
        .await;
        let row = fx.invitation_row(AMY);
        let s = fx.store();
        corrupt(fx, "invitation", s.invitation(&fx.amy).await, &row);
        corrupt(
            fx,
            "invitation_for",
            s.invitation_for(&fx.code, &addr(AMY)).await,
            &row,
        );
        corrupt(
            fx,
            "invitations",
            s.invitations(&fx.code, None, 10).await,
            &row,
        );
        let p = &fx.p;
        corrupt_p(
            fx,
            "Pipeline::invitations",
            p.invitations(fx.scope, &fx.code).await,
            &row,
        );
        corrupt_p(
            fx,
            "Pipeline::history",
            p.history(fx.scope, &fx.amy).await,
            &row,
        );
        // Amy's message is first in the queue: sending it reads her invitation.
        corrupt_p(fx, "Pipeline::deliver_one", p.deliver_one().await, &row);
        // The other rows are unharmed.
        assert!(s.invitation(&fx.bo).await.unwrap().is_some());
    });
}

#[test]
fn an_event_cut_short() {
    on_both("event_cut_short", async |fx| {
        fx.truncate("events", "code", fx.code.as_str()).await;
        let row = format!("events/{}", fx.code);
        let s = fx.store();
        corrupt(fx, "event", s.event(fx.owner.id, &fx.code).await, &row);
        corrupt(
            fx,
            "event_by_uid",
            s.event_by_uid(fx.scope, UID).await,
            &row,
        );
        corrupt(fx, "events", s.events(fx.scope, None, 10).await, &row);
        let p = &fx.p;
        corrupt_p(
            fx,
            "Pipeline::event",
            p.event(fx.scope, &fx.code).await,
            &row,
        );
        corrupt_p(
            fx,
            "Pipeline::invite",
            p.invite(
                fx.scope,
                &fx.code,
                Recipient::new(addr("cy@example.org")),
                InvitationSource::Api,
            )
            .await,
            &row,
        );
        corrupt_p(
            fx,
            "Pipeline::approve",
            p.approve(fx.scope, &fx.pending).await,
            &row,
        );
    });
}

#[test]
fn an_event_that_ends_before_it_starts() {
    on_both("ends_before_start", async |fx| {
        let backwards = json!({"all-day": {"start": "2026-12-05", "end": "2026-12-01"}});
        fx.edit(
            "revisions",
            "code",
            fx.code.as_str(),
            &["schedule"],
            backwards.clone(),
        )
        .await;
        fx.edit(
            "events",
            "code",
            fx.code.as_str(),
            &["latest", "schedule"],
            backwards,
        )
        .await;
        let s = fx.store();
        let revision = format!("revisions/{}/0", fx.code);
        corrupt(
            fx,
            "revision",
            s.revision(&fx.code, Sequence::INITIAL).await,
            &revision,
        );
        // Sending Amy's invitation reads the event (cancelled since it
        // was queued?) with the rest of its batch, then assembles the
        // message from the revision: the event is the first corrupt row.
        let event = format!("events/{}", fx.code);
        corrupt_p(
            fx,
            "Pipeline::deliver_one",
            fx.p.deliver_one().await,
            &event,
        );
        corrupt(fx, "event", s.event(fx.owner.id, &fx.code).await, &event);
        corrupt_p(
            fx,
            "Pipeline::open_pending",
            fx.p.open_pending(fx.scope, &fx.code).await,
            &event,
        );
    });
}

#[test]
fn unknown_names() {
    on_both("unknown_names", async |fx| {
        let s = fx.store();
        let p = &fx.p;

        fx.edit(
            "invitations",
            "token",
            fx.bo.as_str(),
            &["delivery"],
            json!("teleported"),
        )
        .await;
        corrupt(
            fx,
            "invitation",
            s.invitation(&fx.bo).await,
            &fx.invitation_row(BO),
        );

        fx.edit(
            "pending",
            "id",
            fx.pending.as_str(),
            &["kind"],
            json!("postpone"),
        )
        .await;
        let row = format!("pending/{}", fx.pending);
        corrupt(fx, "pending", s.pending(fx.scope, &fx.pending).await, &row);
        corrupt(fx, "open_pending", s.open_pending(&fx.code).await, &row);
        corrupt_p(
            fx,
            "Pipeline::pending",
            p.pending(fx.scope, &fx.pending).await,
            &row,
        );
        corrupt_p(
            fx,
            "Pipeline::reject",
            p.reject(fx.scope, &fx.pending).await,
            &row,
        );

        let history = fx
            .scalar("MIN(id)", "history", "token", fx.amy.as_str())
            .await;
        fx.edit(
            "history",
            "CAST(id AS TEXT)",
            &history,
            &["kind"],
            json!("teleported"),
        )
        .await;
        let row = format!("history/{history}");
        corrupt(fx, "history", s.history(&fx.amy).await, &row);
        corrupt_p(
            fx,
            "Pipeline::history",
            p.history(fx.scope, &fx.amy).await,
            &row,
        );

        let refusal = fx
            .scalar("MIN(id)", "refusals", "CAST(owner AS TEXT)", "1")
            .await;
        fx.edit(
            "refusals",
            "CAST(id AS TEXT)",
            &refusal,
            &["refusal", "reason"],
            json!("bored"),
        )
        .await;
        let row = format!("refusals/{refusal}");
        corrupt(fx, "refusals", s.refusals(fx.owner.id, None).await, &row);
        corrupt(
            fx,
            "refusals of an organizer",
            s.refusals(fx.owner.id, Some(fx.scope)).await,
            &row,
        );
        corrupt_p(
            fx,
            "Pipeline::refusals",
            p.refusals(fx.owner.id, Some(fx.scope)).await,
            &row,
        );

        fx.edit(
            "suppressions",
            "address",
            SPAM,
            &["reason"],
            json!("annoyed"),
        )
        .await;
        corrupt(
            fx,
            "suppression",
            s.suppression(fx.owner.id, &addr(SPAM)).await,
            &format!("suppressions/1/{SPAM}"),
        );
    });
}

#[test]
fn unknown_states() {
    on_both("unknown_states", async |fx| {
        let s = fx.store();
        fx.set("pending", "state", "id", fx.pending.as_str(), "paused")
            .await;
        let row = format!("pending/{}", fx.pending);
        corrupt(fx, "pending", s.pending(fx.scope, &fx.pending).await, &row);
        corrupt_p(
            fx,
            "Pipeline::approve",
            fx.p.approve(fx.scope, &fx.pending).await,
            &row,
        );

        let seq = fx.seq_of(&fx.amy).await;
        fx.set("deliveries", "state", "CAST(seq AS TEXT)", &seq, "exploded")
            .await;
        corrupt(
            fx,
            "delivery",
            s.delivery(&fx.key(&fx.amy)).await,
            &format!("deliveries/{seq}"),
        );
        // Workers never claim a message in a state they do not know: the
        // next one goes out.
        match fx.p.deliver_one().await {
            Ok(Some(_)) => {}
            other => panic!("deliver_one past an unknown state: {other:?}"),
        }
    });
}

#[test]
fn a_queued_message_cut_short() {
    on_both("message_cut_short", async |fx| {
        let seq = fx.seq_of(&fx.amy).await;
        fx.truncate("deliveries", "CAST(seq AS TEXT)", &seq).await;
        let cut = fx
            .scalar("body", "deliveries", "CAST(seq AS TEXT)", &seq)
            .await;
        let row = format!("deliveries/{seq}");
        corrupt(
            fx,
            "delivery",
            fx.store().delivery(&fx.key(&fx.amy)).await,
            &row,
        );
        // The queue keeps flowing: the unreadable message is set aside as
        // failed, naming its row and why, and the next one goes out in the
        // same claim (a claim of one is not left empty by it).
        match fx.p.deliver_one().await {
            Ok(Some(DeliveryReport::Sent(k))) => assert_eq!(k, fx.key(&fx.bo)),
            other => panic!("deliver_one past an unreadable row: {other:?}"),
        }
        let state = fx
            .scalar("state", "deliveries", "CAST(seq AS TEXT)", &seq)
            .await;
        let failure = fx
            .scalar("failure", "deliveries", "CAST(seq AS TEXT)", &seq)
            .await;
        assert_eq!(state, "failed", "set aside, not left to block the queue");
        assert!(
            failure.starts_with("set aside, unreadable: corrupt row ") && failure.contains(&row),
            "the failure names the row and why: {failure}"
        );
        for t in [&fx.amy, &fx.bo] {
            assert!(!failure.contains(t.as_str()), "no token in {failure}");
        }
        // Its body is kept for an operator, and nobody claims it again.
        assert_eq!(
            fx.scalar("body", "deliveries", "CAST(seq AS TEXT)", &seq)
                .await,
            cut,
            "the body is kept as it was"
        );
        assert!(matches!(fx.p.deliver_one().await, Ok(None)));
    });
}

#[test]
fn a_fan_out_cut_short() {
    on_both("fan_out_cut_short", async |fx| {
        fx.truncate("fan_outs", "id", &fx.fan_out).await;
        let row = format!("fan_outs/{}", fx.fan_out);
        corrupt(fx, "fan_outs", fx.store().fan_outs(10).await, &row);
        corrupt_p(
            fx,
            "Pipeline::step_fan_out",
            fx.p.step_fan_out().await,
            &row,
        );
    });
}

#[test]
fn tenants_with_invalid_addresses() {
    on_both("tenants", async |fx| {
        let s = fx.store();
        fx.edit(
            "organizers",
            "CAST(owner AS TEXT) || '/' || CAST(id AS TEXT)",
            "1/1",
            &["notify"],
            json!("nobody"),
        )
        .await;
        let row = "organizers/1/1";
        corrupt(fx, "organizer", s.organizer(fx.scope).await, row);
        corrupt(fx, "organizers", s.organizers(fx.owner.id).await, row);
        corrupt_p(
            fx,
            "Pipeline::invite",
            fx.p.invite(
                fx.scope,
                &fx.code,
                Recipient::new(addr("cy@example.org")),
                InvitationSource::Api,
            )
            .await,
            row,
        );

        fx.edit(
            "owners",
            "CAST(id AS TEXT)",
            "1",
            &["reply"],
            json!("nobody"),
        )
        .await;
        corrupt(fx, "owner", s.owner(fx.owner.id).await, "owners/1");
        corrupt(
            fx,
            "owner_by_mailbox",
            s.owner_by_mailbox(&fx.owner.ingest).await,
            "owners/1",
        );
        corrupt_p(
            fx,
            "Pipeline::web_answer",
            fx.p.web_answer(fx.owner.id, &fx.bo, ParticipationStatus::Declined)
                .await,
            "owners/1",
        );
    });
}

/// SQLite keeps any value in any column: a value of the wrong type is bad
/// data too (PostgreSQL refuses to store it).
#[test]
fn values_of_the_wrong_type_on_sqlite() {
    let rt = support::runtime();
    let dir = support::TempDir::new("wrong_type");
    rt.block_on(async {
        let url = support::sqlite_url(&dir);
        let store = support::sqlite(&dir).await;
        let fx = fixture(store.clone(), support::raw(&url, None).await).await;
        let seq = fx.seq_of(&fx.amy).await;
        fx.set("deliveries", "attempts", "CAST(seq AS TEXT)", &seq, "many")
            .await;
        corrupt(
            &fx,
            "delivery",
            fx.store().delivery(&fx.key(&fx.amy)).await,
            &format!("deliveries/{seq}"),
        );
        // A state that is not text at all: reading the message and settling
        // an attempt on it both name it.
        let seq = fx.seq_of(&fx.bo).await;
        let text = fx.sql("UPDATE deliveries SET state = X'DEADBEEF' WHERE key = $1");
        sqlx::query(text)
            .bind(fx.key(&fx.bo).to_string())
            .execute(&fx.raw)
            .await
            .unwrap();
        let row = format!("deliveries/{seq}");
        let s = fx.store();
        corrupt(&fx, "delivery", s.delivery(&fx.key(&fx.bo)).await, &row);
        corrupt(
            &fx,
            "settle",
            s.settle(
                &Lease {
                    key: fx.key(&fx.bo),
                    attempt: 1,
                },
                Settlement::Sent(fx.p.now()),
                Vec::new(),
            )
            .await,
            &row,
        );
        let text = fx.sql("UPDATE events SET body = 42 WHERE code = $1");
        sqlx::query(text)
            .bind(fx.code.to_string())
            .execute(&fx.raw)
            .await
            .unwrap();
        corrupt(
            &fx,
            "event",
            fx.store().event(fx.owner.id, &fx.code).await,
            &format!("events/{}", fx.code),
        );
        fx.raw.close().await;
        store.close().await;
    });
}

/// Announcements this build cannot read — damaged, or written by a newer
/// calinvite sharing the database — are passed over and left where they
/// are: a page is filled from the rows after them, never held back.
#[test]
fn announcements_this_build_cannot_read_are_passed_over() {
    on_both("unreadable_announcements", async |fx| {
        let readable = |summary: &str| {
            json!({
                "owner": 1,
                "organizer": 1,
                "at": "2026-11-22T09:00:00Z",
                "kind": {"event-created": {"code": fx.code.as_str(), "summary": summary, "from_calendar": false}},
            })
            .to_string()
        };
        let newer = json!({"owner": 1, "organizer": 1, "at": "2026-11-22T09:00:00Z", "kind": {"event-exploded": {}}}).to_string();
        for body in [
            "{not json".to_owned(),
            readable("first"),
            newer,
            readable("second"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO announcements (owner, organizer, at, kind, body) \
                 VALUES (1, 1, 0, 'event.created', '{}')",
                body.replace('\'', "''")
            )))
            .execute(&fx.raw)
            .await
            .unwrap();
        }
        let s = fx.store();
        let page = s.announcements(0, 2).await.unwrap();
        let summaries: Vec<(u64, String)> = page
            .iter()
            .map(|(n, a)| match &a.kind {
                calinvite_core::lifecycle::AnnouncementKind::EventCreated { summary, .. } => {
                    (*n, summary.clone())
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(summaries, [(2, "first".into()), (4, "second".into())]);
        assert_eq!(s.announcements(2, 10).await.unwrap().len(), 1);
        s.forget_announcements(&[2, 4]).await.unwrap();
        assert!(s.announcements(0, 10).await.unwrap().is_empty());
        let left: i64 = sqlx::Row::get(
            &sqlx::query("SELECT COUNT(*) AS n FROM announcements")
                .fetch_one(&fx.raw)
                .await
                .unwrap(),
            "n",
        );
        assert_eq!(
            left, 2,
            "the unreadable rows are left for a build that reads them"
        );
    });
}
