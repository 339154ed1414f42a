//! The [`Dispatcher`]: reads the store's announcements, writes one message
//! per matching endpoint, forgets the announcements, and posts due messages
//! — signed, retried on the schedule, endpoints disabled on `410 Gone` or
//! after failing for days.
//!
//! One pass ([`Dispatcher::fan_out`], then [`Dispatcher::send_due`]) is
//! public, so a test (or an application's own loop) drives it step by
//! step; [`Dispatcher::spawn`] runs passes until stopped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use calinvite_core::lifecycle::{OwnerId, Store as _};
use chrono::{DateTime, TimeDelta, Utc};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::db::{AttemptRecord, EndpointRecord, MessageRecord, Settled};
use super::signing::{Secret, signature_header};
use super::target::{GuardedResolver, TargetPolicy, check_url};
use crate::state::AppState;

/// Announcements read per pass.
const PAGE: usize = 200;
/// Messages posted per pass, and endpoints posted to at once.
const BATCH: usize = 64;
const ENDPOINTS_AT_ONCE: usize = 8;
/// How much of an answer is read (then the connection is dropped).
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Posts in a row that must fail, as well as the time, before an endpoint
/// is disabled for failing.
const FAILURES_BEFORE_DISABLE: u64 = 5;
/// How often an idle dispatcher looks for work.
const IDLE: Duration = Duration::from_millis(500);

/// When to retry, when to give up, when to disable an endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// The wait before each retry; after the last, the message is given up.
    pub schedule: Vec<Duration>,
    /// How long one post may take.
    pub timeout: Duration,
    /// An endpoint whose posts have all failed (at least five in a row)
    /// for this long is disabled.
    pub disable_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        let c = crate::config::WebhooksSection::default();
        RetryPolicy::from_config(&c)
    }
}

impl RetryPolicy {
    /// The policy `[webhooks]` configures.
    pub fn from_config(c: &crate::config::WebhooksSection) -> Self {
        RetryPolicy {
            schedule: c
                .retry_schedule_seconds
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
            timeout: Duration::from_secs(c.timeout_seconds.max(1)),
            disable_after: Duration::from_secs(c.disable_after_hours.saturating_mul(3600)),
        }
    }

    /// When attempt `attempt` (1 for the first) is retried after failing at
    /// `now`: the schedule's wait, spread by `jitter` (0–1: from a fifth
    /// less to a fifth more), or the answer's `Retry-After` when that is
    /// later (at most a day). `None`: give up.
    pub fn next_due(
        &self,
        now: DateTime<Utc>,
        attempt: u64,
        jitter: f64,
        retry_after: Option<Duration>,
    ) -> Option<DateTime<Utc>> {
        let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
        let wait = self.schedule.get(index)?;
        let spread = wait.as_secs_f64() * (0.8 + 0.4 * jitter.clamp(0.0, 1.0));
        let mut wait = Duration::from_secs_f64(spread);
        if let Some(asked) = retry_after {
            wait = wait.max(asked.min(MAX_RETRY_AFTER));
        }
        Some(now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::days(1)))
    }

    /// Whether an endpoint failing since `since`, `failures` posts in a
    /// row, is to be disabled at `now`.
    pub fn disables(&self, since: DateTime<Utc>, failures: u64, now: DateTime<Utc>) -> bool {
        let failing = (now - since).to_std().unwrap_or_default();
        failures >= FAILURES_BEFORE_DISABLE && failing >= self.disable_after
    }
}

/// What webhooks did, counted for `/metrics`.
#[derive(Debug, Default)]
pub struct WebhookMetrics {
    written: AtomicU64,
    sent: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    refused: AtomicU64,
    disabled_gone: AtomicU64,
    disabled_failing: AtomicU64,
}

/// A snapshot of [`WebhookMetrics`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookCounts {
    /// Messages written (one per endpoint and announcement).
    pub written: u64,
    /// Attempts answered 2xx.
    pub sent: u64,
    /// Attempts that failed and will be retried.
    pub retried: u64,
    /// Messages given up (retries spent, or the endpoint gone).
    pub failed: u64,
    /// Attempts refused before any connection: the target is not allowed.
    pub refused: u64,
    /// Endpoints disabled by a `410 Gone`.
    pub disabled_gone: u64,
    /// Endpoints disabled for failing too long.
    pub disabled_failing: u64,
}

impl WebhookMetrics {
    /// The counts so far.
    pub fn snapshot(&self) -> WebhookCounts {
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        WebhookCounts {
            written: n(&self.written),
            sent: n(&self.sent),
            retried: n(&self.retried),
            failed: n(&self.failed),
            refused: n(&self.refused),
            disabled_gone: n(&self.disabled_gone),
            disabled_failing: n(&self.disabled_failing),
        }
    }

    fn add(a: &AtomicU64, n: u64) {
        a.fetch_add(n, Ordering::Relaxed);
    }
}

struct Inner {
    state: AppState,
    policy: RetryPolicy,
    target: TargetPolicy,
    client: reqwest::Client,
}

/// Posts webhooks: see [`crate::webhooks`]. Cheap to clone.
#[derive(Clone)]
pub struct Dispatcher(Arc<Inner>);

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("policy", &self.0.policy)
            .field("target", &self.0.target)
            .finish_non_exhaustive()
    }
}

/// A running dispatcher.
#[derive(Debug)]
pub struct DispatcherHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    grace: Duration,
}

impl DispatcherHandle {
    /// Stops after the pass under way (its posts finish, within their
    /// timeout); what is not sent stays queued for the next start.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        let mut task = self.task;
        if tokio::time::timeout(self.grace, &mut task).await.is_err() {
            tracing::warn!("the webhook dispatcher did not stop in time; its leases run out");
            task.abort();
        }
    }
}

/// One post's outcome.
struct Answer {
    status: Option<u16>,
    error: Option<String>,
    retry_after: Option<Duration>,
    refused: bool,
    took: Duration,
}

impl Dispatcher {
    /// A dispatcher over the server's pipeline and tables, posting with
    /// `policy` to targets `target` allows.
    pub fn new(
        state: AppState,
        policy: RetryPolicy,
        target: TargetPolicy,
    ) -> Result<Dispatcher, String> {
        let client = reqwest::Client::builder()
            .user_agent(concat!(
                "calinvite-invite-server/",
                env!("CARGO_PKG_VERSION"),
                " (webhooks)"
            ))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(policy.timeout.min(Duration::from_secs(10)))
            .timeout(policy.timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(2)
            .dns_resolver(GuardedResolver::new(target))
            .build()
            .map_err(|e| format!("the webhook HTTP client: {e}"))?;
        Ok(Dispatcher(Arc::new(Inner {
            state,
            policy,
            target,
            client,
        })))
    }

    fn now(&self) -> DateTime<Utc> {
        self.0.state.now()
    }

    fn metrics(&self) -> &WebhookMetrics {
        self.0.state.webhook_metrics()
    }

    /// Reads a page of announcements, writes a message for each endpoint
    /// that wants one, and forgets them: how many announcements it took.
    pub async fn fan_out(&self) -> Result<usize, String> {
        let store = self.0.state.pipeline().store();
        let db = self.0.state.db();
        let page = store
            .announcements(0, PAGE)
            .await
            .map_err(|e| format!("reading announcements: {e}"))?;
        if page.is_empty() {
            return Ok(0);
        }
        let mut owners: Vec<OwnerId> = page.iter().map(|(_, a)| a.owner).collect();
        owners.sort();
        owners.dedup();
        let endpoints = db
            .enabled_endpoints(&owners)
            .await
            .map_err(|e| e.to_string())?;
        let now = self.now();
        let mut handled = Vec::with_capacity(page.len());
        let mut written = 0;
        for (seq, a) in &page {
            let kind = a.announcement_type().as_str();
            let wanting: Vec<&EndpointRecord> = endpoints
                .iter()
                .filter(|e| e.owner == a.owner && e.wants(a.organizer, kind))
                .collect();
            if !wanting.is_empty() {
                let body = super::payload(a);
                let msg_id = message_id().map_err(|e| format!("the random source: {e}"))?;
                for e in wanting {
                    if db
                        .insert_message(&e.id, *seq, &msg_id, kind, &body, now)
                        .await
                        .map_err(|e| e.to_string())?
                    {
                        written += 1;
                    }
                }
            }
            handled.push(*seq);
        }
        store
            .forget_announcements(&handled)
            .await
            .map_err(|e| format!("forgetting announcements: {e}"))?;
        WebhookMetrics::add(&self.metrics().written, written);
        Ok(page.len())
    }

    /// Posts the messages due now (up to a batch): each endpoint's in
    /// order, one at a time, several endpoints at once. How many it posted.
    pub async fn send_due(&self) -> Result<usize, String> {
        let db = self.0.state.db();
        let due = db
            .due_messages(self.now(), BATCH)
            .await
            .map_err(|e| e.to_string())?;
        if due.is_empty() {
            return Ok(0);
        }
        // Each endpoint's messages, in order; endpoints in the order of
        // their oldest message.
        let mut by_endpoint: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        let mut order = Vec::new();
        for (id, endpoint) in due {
            if !by_endpoint.contains_key(&endpoint) {
                order.push(endpoint.clone());
            }
            by_endpoint.entry(endpoint).or_default().push(id);
        }
        let mut posted = 0;
        let mut tasks = JoinSet::new();
        for endpoint in order {
            let ids = by_endpoint.remove(&endpoint).unwrap_or_default();
            while tasks.len() >= ENDPOINTS_AT_ONCE {
                posted += tasks.join_next().await.and_then(Result::ok).unwrap_or(0);
            }
            let this = self.clone();
            tasks.spawn(async move { this.send_to(&endpoint, ids).await });
        }
        while let Some(n) = tasks.join_next().await {
            posted += n.unwrap_or(0);
        }
        Ok(posted)
    }

    /// Posts messages `ids` to `endpoint`, in order; how many were posted.
    async fn send_to(&self, endpoint: &str, ids: Vec<i64>) -> usize {
        let mut posted = 0;
        for id in ids {
            // Read before each message: a rotation, an edit or a disable
            // since applies at once.
            let record = match self.0.state.db().endpoint(endpoint).await {
                Ok(Some(r)) if r.enabled => r,
                Ok(_) => return posted,
                Err(e) => {
                    tracing::warn!(error = %e, "could not read a webhook endpoint");
                    return posted;
                }
            };
            match self.post_one(&record, id).await {
                Ok(true) => posted += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(endpoint = %record.id, error = %e, "a webhook message could not be recorded");
                    return posted;
                }
            }
        }
        posted
    }

    /// Claims, posts and settles one message; whether it was posted.
    async fn post_one(&self, endpoint: &EndpointRecord, id: i64) -> Result<bool, String> {
        let db = self.0.state.db();
        let now = self.now();
        let lease = now
            + TimeDelta::from_std(self.0.policy.timeout + Duration::from_secs(60))
                .unwrap_or(TimeDelta::minutes(5));
        let Some(message) = db
            .claim_message(id, now, lease)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(false);
        };
        let answer = self.post(endpoint, &message).await;
        let at = self.now();
        let attempt = AttemptRecord {
            message: message.id,
            attempt: message.attempts,
            at,
            status: answer.status,
            error: answer.error.clone(),
            duration_ms: u64::try_from(answer.took.as_millis()).unwrap_or(u64::MAX),
        };
        let ok = answer.status.is_some_and(|s| (200..300).contains(&s));
        let gone = answer.status == Some(410);
        let settled = if ok {
            Settled::Sent
        } else if gone {
            Settled::Failed
        } else {
            match self
                .0
                .policy
                .next_due(at, message.attempts, jitter(), answer.retry_after)
            {
                Some(due) => Settled::Retry { due },
                None => Settled::Failed,
            }
        };
        if !db
            .settle_message(&attempt, &settled)
            .await
            .map_err(|e| e.to_string())?
        {
            // Another dispatcher took the message over (this lease ran out).
            return Ok(true);
        }
        let m = self.metrics();
        match (&settled, answer.refused) {
            (Settled::Sent, _) => WebhookMetrics::add(&m.sent, 1),
            (_, true) => WebhookMetrics::add(&m.refused, 1),
            (Settled::Retry { .. }, false) => WebhookMetrics::add(&m.retried, 1),
            (Settled::Failed, false) => {}
        }
        if settled == Settled::Failed {
            WebhookMetrics::add(&m.failed, 1);
        }
        tracing::debug!(
            endpoint = %endpoint.id,
            message = message.id,
            attempt = message.attempts,
            status = answer.status,
            outcome = match settled {
                Settled::Sent => "sent",
                Settled::Retry { .. } => "retrying",
                Settled::Failed => "failed",
            },
            "webhook attempt"
        );
        if ok {
            db.endpoint_succeeded(&endpoint.id)
                .await
                .map_err(|e| e.to_string())?;
        } else if gone {
            if db
                .disable_endpoint(&endpoint.id, "the endpoint answered 410 Gone", at)
                .await
                .map_err(|e| e.to_string())?
            {
                WebhookMetrics::add(&m.disabled_gone, 1);
                tracing::info!(endpoint = %endpoint.id, "webhook endpoint disabled: it answered 410 Gone");
            }
        } else if let Some((since, failures)) = db
            .endpoint_failed(&endpoint.id, at)
            .await
            .map_err(|e| e.to_string())?
            && self.0.policy.disables(since, failures, at)
        {
            let hours = (at - since).num_hours();
            let reason = format!(
                "every post failed for {hours} hours ({failures} in a row); re-enable it when it answers"
            );
            if db
                .disable_endpoint(&endpoint.id, &reason, at)
                .await
                .map_err(|e| e.to_string())?
            {
                WebhookMetrics::add(&m.disabled_failing, 1);
                tracing::info!(endpoint = %endpoint.id, failures, "webhook endpoint disabled: failing too long");
            }
        }
        Ok(true)
    }

    /// One signed post of `message` to `endpoint`.
    async fn post(&self, endpoint: &EndpointRecord, message: &MessageRecord) -> Answer {
        #[allow(
            clippy::disallowed_methods,
            reason = "the dispatcher measures real request time"
        )]
        let started = std::time::Instant::now();
        let failed = |error: String, refused: bool| Answer {
            status: None,
            error: Some(error),
            retry_after: None,
            refused,
            took: started.elapsed(),
        };
        let url = match check_url(&endpoint.url, self.0.target) {
            Ok(u) => u,
            Err(e) => return failed(format!("refused: {e}"), true),
        };
        let now = self.now();
        let mut secrets = Vec::with_capacity(2);
        let current = match Secret::parse(&endpoint.secret) {
            Ok(s) => s,
            Err(e) => return failed(format!("the endpoint's secret: {e}"), true),
        };
        secrets.push(&current);
        let previous = endpoint
            .previous_secret
            .as_deref()
            .filter(|_| endpoint.previous_until.is_some_and(|u| u > now))
            .and_then(|p| Secret::parse(p).ok());
        if let Some(p) = &previous {
            secrets.push(p);
        }
        let timestamp = now.timestamp();
        let body = message.payload.as_bytes();
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let (Ok(id), Ok(ts), Ok(sig)) = (
            HeaderValue::from_str(&message.msg_id),
            HeaderValue::from_str(&timestamp.to_string()),
            HeaderValue::from_str(&signature_header(
                &secrets,
                &message.msg_id,
                timestamp,
                body,
            )),
        ) else {
            return failed("the message's headers could not be written".into(), true);
        };
        headers.insert("webhook-id", id);
        headers.insert("webhook-timestamp", ts);
        headers.insert("webhook-signature", sig);
        let sent = self
            .0
            .client
            .post(url)
            .headers(headers)
            .body(message.payload.clone())
            .send()
            .await;
        let mut response = match sent {
            Ok(r) => r,
            Err(e) => {
                let refused = refusal(&e).is_some();
                return failed(describe(e, self.0.policy.timeout), refused);
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // Read a little of the answer (the connection may then be used
        // again), never more than the limit; the rest is dropped.
        let mut read = 0usize;
        let mut error = None;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    read += chunk.len();
                    if read > MAX_ANSWER_BYTES {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    error = Some(describe(e, self.0.policy.timeout));
                    break;
                }
            }
        }
        let ok = (200..300).contains(&status);
        Answer {
            status: Some(status),
            error: if ok {
                None
            } else {
                error.or_else(|| Some(format!("answered {status}")))
            },
            retry_after,
            refused: false,
            took: started.elapsed(),
        }
    }

    /// Runs passes until stopped: reads announcements, posts what is due,
    /// and, when there was nothing to do, waits a moment.
    pub fn spawn(self) -> DispatcherHandle {
        let (stop, mut stopped) = watch::channel(false);
        let grace = self.0.policy.timeout + Duration::from_secs(10);
        let task = tokio::spawn(async move {
            loop {
                let mut busy = false;
                match self.fan_out().await {
                    Ok(n) => busy |= n > 0,
                    Err(e) => tracing::warn!(error = %e, "webhooks: could not read announcements"),
                }
                if *stopped.borrow() {
                    break;
                }
                match self.send_due().await {
                    Ok(n) => busy |= n > 0,
                    Err(e) => tracing::warn!(error = %e, "webhooks: could not read due messages"),
                }
                if *stopped.borrow() {
                    break;
                }
                if !busy {
                    tokio::select! {
                        () = tokio::time::sleep(IDLE) => {}
                        _ = stopped.changed() => break,
                    }
                }
            }
        });
        DispatcherHandle { stop, task, grace }
    }
}

/// The target guard's refusal, when that is what a client error is.
fn refusal(e: &reqwest::Error) -> Option<&super::target::TargetError> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(t) = s.downcast_ref::<super::target::TargetError>() {
            return Some(t);
        }
        source = s.source();
    }
    None
}

/// What went wrong with a post, for the delivery log: the error and its
/// causes, never the URL (it may hold a token of the receiver's).
fn describe(e: reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("no answer within {} s", timeout.as_secs());
    }
    if let Some(t) = refusal(&e) {
        return format!("refused: {t}");
    }
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.chars().take(500).collect()
}

/// A new message id: `msg_` and 24 random hex digits.
fn message_id() -> Result<String, getrandom::Error> {
    let mut b = [0u8; 12];
    getrandom::fill(&mut b)?;
    Ok(format!(
        "msg_{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    ))
}

/// Retry jitter, 0 to 1 (0.5 when the random source fails).
fn jitter() -> f64 {
    let mut b = [0u8; 2];
    match getrandom::fill(&mut b) {
        Ok(()) => f64::from(u16::from_be_bytes(b)) / f64::from(u16::MAX),
        Err(_) => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap()
    }

    #[test]
    fn retries_follow_the_schedule_spread_by_a_fifth() {
        let p = RetryPolicy::default();
        assert_eq!(p.schedule.len(), 9);
        let wait = |attempt, jitter| {
            p.next_due(t0(), attempt, jitter, None)
                .map(|d| (d - t0()).num_milliseconds())
        };
        assert_eq!(wait(1, 0.5), Some(5_000));
        assert_eq!(wait(1, 0.0), Some(4_000));
        assert_eq!(wait(1, 1.0), Some(6_000));
        assert_eq!(wait(2, 0.5), Some(300_000));
        assert_eq!(wait(9, 0.5), Some(86_400_000));
        assert_eq!(wait(10, 0.5), None, "after the last retry: given up");
        assert_eq!(wait(0, 0.5), None);
        // Retry-After is honoured when later, up to a day.
        let asked = |secs| {
            p.next_due(t0(), 1, 0.5, Some(Duration::from_secs(secs)))
                .map(|d| (d - t0()).num_seconds())
        };
        assert_eq!(asked(1), Some(5));
        assert_eq!(asked(120), Some(120));
        assert_eq!(asked(10 * 86_400), Some(86_400));
    }

    #[test]
    fn an_endpoint_is_disabled_after_failing_long_enough_and_often_enough() {
        let p = RetryPolicy::default();
        let since = t0();
        let later = since + TimeDelta::hours(121);
        assert!(p.disables(since, 5, later));
        assert!(!p.disables(since, 4, later), "too few failures");
        assert!(
            !p.disables(since, 50, since + TimeDelta::hours(119)),
            "too soon"
        );
    }

    #[test]
    fn message_ids_are_unique_and_carry_no_full_stop() {
        let a = message_id().unwrap();
        let b = message_id().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("msg_") && a.len() == 28 && !a.contains('.'));
    }
}
