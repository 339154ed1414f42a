//! The event page's figures computed by the database rather than by
//! reading every invitation and its history: the answers per day (one
//! grouping query over the event's answers), the counts by answer (one
//! grouping query over its invitations) and the changes of mind of a
//! page's recipients (one query for the hundred).
//!
//! On SQLite the first two are kept ([`FiguresCache`]) while the event's
//! answers stand: a view costs one look at the history's last row and a
//! count of the event's invitations on their index, not a pass over every
//! answer. SQLite has one writer, so history rows are numbered in the
//! order they are committed and a new answer always moves the last number;
//! on PostgreSQL two transactions can commit out of the order of their
//! numbers, so its figures are counted at every view.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use calinvite_core::lifecycle::HistoryEntry;
use calinvite_core::{EventCode, InvitationToken};
use chrono::NaiveDate;
use sqlx::Row as _;

use crate::api::AnswerCounts;
use crate::db::{DbResult, ServerDb, db};

/// The SQL for `d`: PostgreSQL's as [`ServerDb::sql`] makes it; SQLite's
/// as written (its JSON paths start with `$`, which that would rewrite).
fn sql(d: &ServerDb, text: &'static str) -> sqlx::AssertSqlSafe<String> {
    if d.is_sqlite() {
        sqlx::AssertSqlSafe(text.to_owned())
    } else {
        d.sql(text)
    }
}

/// How many events' figures are kept at most.
const KEPT: usize = 256;

/// An event's figures as last counted, and what the database looked like
/// then.
#[derive(Clone, Debug, Default)]
struct Kept {
    mark: (i64, i64),
    counts: Option<AnswerCounts>,
    per_day: Option<BTreeMap<NaiveDate, u64>>,
}

/// The figures of recently viewed events, by event code (SQLite only).
#[derive(Clone, Debug, Default)]
pub(crate) struct FiguresCache(Arc<Mutex<HashMap<String, Kept>>>);

impl FiguresCache {
    fn get(&self, code: &EventCode, mark: (i64, i64)) -> Kept {
        let map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(code.as_str())
            .filter(|k| k.mark == mark)
            .cloned()
            .unwrap_or(Kept {
                mark,
                ..Kept::default()
            })
    }

    fn put(&self, code: &EventCode, kept: Kept) {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= KEPT && !map.contains_key(code.as_str()) {
            // Past the bound, start again: views of hundreds of events
            // at once are rare, and a miss only costs a count.
            map.clear();
        }
        map.insert(code.as_str().to_owned(), kept);
    }
}

/// What moves when an answer to `code` is recorded, an invitation added
/// or one forgotten: the history's last row number and the number of the
/// event's invitations. `None` on PostgreSQL (see the module's notes).
async fn mark(d: &ServerDb, code: &EventCode) -> DbResult<Option<(i64, i64)>> {
    if !d.is_sqlite() {
        return Ok(None);
    }
    let row = sqlx::query(sql(
        d,
        "SELECT COALESCE((SELECT MAX(id) FROM history), 0) AS h, \
         (SELECT COUNT(*) FROM invitations WHERE code = ?1) AS n",
    ))
    .bind(code.to_string())
    .fetch_one(d.pool())
    .await
    .map_err(db)?;
    Ok(Some((
        row.try_get("h").map_err(db)?,
        row.try_get("n").map_err(db)?,
    )))
}

/// [`count_answers_per_day`], kept while the event's answers stand.
pub(crate) async fn answers_per_day(
    d: &ServerDb,
    code: &EventCode,
) -> DbResult<BTreeMap<NaiveDate, u64>> {
    let Some(mark) = mark(d, code).await? else {
        return count_answers_per_day(d, code).await;
    };
    let mut kept = d.figures.get(code, mark);
    if let Some(per_day) = &kept.per_day {
        return Ok(per_day.clone());
    }
    let per_day = count_answers_per_day(d, code).await?;
    kept.per_day = Some(per_day.clone());
    d.figures.put(code, kept);
    Ok(per_day)
}

/// [`count_answers`], kept while the event's answers stand.
pub(crate) async fn answer_counts(d: &ServerDb, code: &EventCode) -> DbResult<AnswerCounts> {
    let Some(mark) = mark(d, code).await? else {
        return count_answers(d, code).await;
    };
    let mut kept = d.figures.get(code, mark);
    if let Some(counts) = kept.counts {
        return Ok(counts);
    }
    let counts = count_answers(d, code).await?;
    kept.counts = Some(counts);
    d.figures.put(code, kept);
    Ok(counts)
}

/// Answers to `code` per day (UTC), answers from forwarded copies left
/// out: what the report's `answers_over_time` counts.
async fn count_answers_per_day(
    d: &ServerDb,
    code: &EventCode,
) -> DbResult<BTreeMap<NaiveDate, u64>> {
    // The LIKE narrows cheaply; the JSON test decides.
    let text = if d.is_sqlite() {
        "SELECT h.at / 86400000000 AS d, COUNT(*) AS n FROM invitations i \
         JOIN history h ON h.token = i.token WHERE i.code = ?1 \
         AND h.body LIKE '%\"answer\"%' AND json_type(h.body, '$.kind.answer') = 'object' \
         AND COALESCE(json_type(h.body, '$.kind.answer.forwarded_from'), 'null') = 'null' \
         GROUP BY h.at / 86400000000"
    } else {
        "SELECT h.at / 86400000000 AS d, COUNT(*) AS n FROM invitations i \
         JOIN history h ON h.token = i.token WHERE i.code = $1 \
         AND h.body LIKE '%\"answer\"%' \
         AND json_typeof(h.body::json -> 'kind' -> 'answer') = 'object' \
         AND (h.body::json -> 'kind' -> 'answer' ->> 'forwarded_from') IS NULL \
         GROUP BY h.at / 86400000000"
    };
    let rows = sqlx::query(sql(d, text))
        .bind(code.to_string())
        .fetch_all(d.pool())
        .await
        .map_err(db)?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    let mut out = BTreeMap::new();
    for r in rows {
        let day: i64 = r.try_get("d").map_err(db)?;
        let n: i64 = r.try_get("n").map_err(db)?;
        // Integer division rounds towards zero: a time before 1970 lands
        // a day late, which no answer stored here has.
        if let Some(date) = epoch.checked_add_signed(chrono::TimeDelta::days(day)) {
            *out.entry(date).or_default() += u64::try_from(n).unwrap_or(0);
        }
    }
    Ok(out)
}

/// The event's invitations counted by their current answer.
async fn count_answers(d: &ServerDb, code: &EventCode) -> DbResult<AnswerCounts> {
    let text = if d.is_sqlite() {
        "SELECT json_extract(body, '$.status') AS s, COUNT(*) AS n FROM invitations \
         WHERE code = ?1 GROUP BY json_extract(body, '$.status')"
    } else {
        "SELECT body::json ->> 'status' AS s, COUNT(*) AS n FROM invitations \
         WHERE code = $1 GROUP BY body::json ->> 'status'"
    };
    let rows = sqlx::query(sql(d, text))
        .bind(code.to_string())
        .fetch_all(d.pool())
        .await
        .map_err(db)?;
    let mut c = AnswerCounts::default();
    for r in rows {
        let s: Option<String> = r.try_get("s").map_err(db)?;
        let n = u64::try_from(r.try_get::<i64, _>("n").map_err(db)?).unwrap_or(0);
        c.invitations += n;
        match s.as_deref() {
            Some("accepted") => c.accepted += n,
            Some("declined") => c.declined += n,
            Some("tentative") => c.tentative += n,
            Some("delegated") => c.delegated += n,
            _ => c.no_answer += n,
        }
    }
    Ok(c)
}

/// The answers in the histories of `tokens` (one query), oldest first per
/// token, for counting changes of mind.
pub(crate) async fn answer_histories(
    d: &ServerDb,
    tokens: &[InvitationToken],
) -> DbResult<HashMap<InvitationToken, Vec<HistoryEntry>>> {
    let mut out: HashMap<InvitationToken, Vec<HistoryEntry>> = HashMap::new();
    if tokens.is_empty() {
        return Ok(out);
    }
    let marks: Vec<String> = (1..=tokens.len()).map(|i| format!("${i}")).collect();
    let text = format!(
        "SELECT token, body FROM history WHERE token IN ({}) AND body LIKE '%\"answer\"%' \
         ORDER BY token, id",
        marks.join(", ")
    );
    let text = d.sql(&text);
    let mut q = sqlx::query(text);
    for t in tokens {
        q = q.bind(t.to_string());
    }
    let rows = q.fetch_all(d.pool()).await.map_err(db)?;
    for r in rows {
        let body: String = r.try_get("body").map_err(db)?;
        let h: HistoryEntry = serde_json::from_str(&body)
            .map_err(|e| db(format!("a history row does not read back: {e}")))?;
        out.entry(h.token.clone()).or_default().push(h);
    }
    Ok(out)
}
