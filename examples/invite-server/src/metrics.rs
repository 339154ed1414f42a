//! Prometheus metrics: HTTP requests and their latency (counted here), and
//! what the pipeline, the queue, the worker, the SMTP listener and the relay
//! count themselves, read when `/metrics` is scraped. Written in the text
//! exposition format by hand: a few counters need no client library.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use calinvite::WorkerReport;
use calinvite_core::lifecycle::{MetricsSnapshot, QueueCounts};
use calinvite_smtp::metrics::{ListenerMetrics, RelayMetrics};

/// The upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// HTTP requests by method, route and status, and their latency by method
/// and route. Routes are the router's patterns (`/v1/events/{code}`), so
/// the number of series stays bounded whatever is requested.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<(String, String), Histogram>>,
}

impl HttpMetrics {
    /// Counts one request.
    pub fn observe(&self, method: &str, route: &str, status: u16, took: Duration) {
        *self
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        let seconds = took.as_secs_f64();
        let mut latency = self.latency.lock().unwrap_or_else(PoisonError::into_inner);
        let h = latency
            .entry((method.to_owned(), route.to_owned()))
            .or_default();
        h.count += 1;
        h.sum += seconds;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.counts[i] += 1;
            }
        }
    }
}

/// Everything `/metrics` shows, read at one scrape.
#[derive(Debug, Default)]
pub(crate) struct Scrape {
    pub(crate) queue: Option<QueueCounts>,
    pub(crate) pipeline: MetricsSnapshot,
    pub(crate) worker: Option<(WorkerReport, u64)>,
    pub(crate) listener: Option<ListenerMetrics>,
    pub(crate) relay: Option<RelayMetrics>,
    pub(crate) webhooks: crate::webhooks::WebhookCounts,
    pub(crate) webhook_backlog: Option<u64>,
}

/// Escapes a label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", label(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
    fn one(&mut self, name: &str, kind: &str, help: &str, value: u64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// The exposition text.
pub(crate) fn render(http: &HttpMetrics, s: &Scrape) -> String {
    let mut o = Out(String::with_capacity(8 * 1024));
    o.one("calinvite_up", "gauge", "1 while the server runs.", 1);
    if let Some(q) = &s.queue {
        o.family(
            "calinvite_queue_messages",
            "gauge",
            "Messages in the delivery queue, by state (held: queued but held with a paused list).",
        );
        for (state, n) in [
            ("queued", q.queued),
            ("held", q.held),
            ("leased", q.leased),
            ("sent", q.sent),
            ("failed", q.failed),
        ] {
            o.sample("calinvite_queue_messages", &[("state", state)], n);
        }
        o.one(
            "calinvite_queue_reclaimed_total",
            "counter",
            "Claims of a message whose lease had run out: each may have sent it twice.",
            q.reclaimed,
        );
    }
    let p = &s.pipeline;
    o.family(
        "calinvite_commands_total",
        "counter",
        "Commands and inbound messages handled by this process, by outcome.",
    );
    for (outcome, n) in &p.commands {
        o.sample("calinvite_commands_total", &[("outcome", outcome)], n);
    }
    o.family(
        "calinvite_refusals_total",
        "counter",
        "Refusals by reason (this process).",
    );
    for (reason, n) in &p.refusals {
        o.sample(
            "calinvite_refusals_total",
            &[("reason", reason.as_str())],
            n,
        );
    }
    o.family(
        "calinvite_answers_total",
        "counter",
        "Answers recorded by status (this process).",
    );
    for (status, n) in &p.answers {
        o.sample("calinvite_answers_total", &[("status", status)], n);
    }
    o.family(
        "calinvite_deliveries_total",
        "counter",
        "Delivery attempts by result (this process): sent (the relay took it), retried, failed, lease_lost.",
    );
    for (result, n) in [
        ("sent", p.deliveries_sent),
        ("retried", p.deliveries_retried),
        ("failed", p.deliveries_failed),
        ("lease_lost", p.leases_lost),
    ] {
        o.sample("calinvite_deliveries_total", &[("result", result)], n);
    }
    o.one(
        "calinvite_conflicts_retried_total",
        "counter",
        "Writes decided again after losing a race with another writer.",
        p.conflicts_retried,
    );
    if let Some((w, in_flight)) = &s.worker {
        o.family(
            "calinvite_worker_total",
            "counter",
            "What the delivery worker did, by kind.",
        );
        for (kind, n) in [
            ("batches", w.batches),
            ("claimed", w.claimed),
            ("submitted", w.submitted),
            ("retried", w.retried),
            ("failed", w.failed),
            ("fan_out_steps", w.fan_out_steps),
            ("errors", w.errors),
        ] {
            o.sample("calinvite_worker_total", &[("kind", kind)], n);
        }
        o.one(
            "calinvite_worker_in_flight",
            "gauge",
            "Messages being handed to the transport now.",
            *in_flight,
        );
    }
    if let Some(l) = &s.listener {
        o.one(
            "calinvite_smtp_sessions_total",
            "counter",
            "Inbound SMTP sessions served.",
            l.sessions,
        );
        o.family(
            "calinvite_smtp_messages_total",
            "counter",
            "Inbound messages by result: accepted (recorded), rejected (recorded and refused), deferred (451), refused_limit.",
        );
        for (result, n) in [
            ("accepted", l.messages_accepted),
            ("rejected", l.messages_rejected),
            ("deferred", l.messages_deferred),
            ("refused_limit", l.messages_refused_limit),
        ] {
            o.sample("calinvite_smtp_messages_total", &[("result", result)], n);
        }
        o.one(
            "calinvite_smtp_recipients_refused_total",
            "counter",
            "Inbound recipients refused: not a mailbox this server serves.",
            l.recipients_refused,
        );
    }
    if let Some(r) = &s.relay {
        o.family(
            "calinvite_relay_messages_total",
            "counter",
            "Messages handed to the SMTP relay, by result.",
        );
        for (result, n) in [
            ("sent", r.messages_sent),
            ("transient_failure", r.transient_failures),
            ("permanent_failure", r.permanent_failures),
        ] {
            o.sample("calinvite_relay_messages_total", &[("result", result)], n);
        }
        o.one(
            "calinvite_relay_connection_failures_total",
            "counter",
            "Relay connections that could not be opened or set up.",
            r.connection_failures,
        );
    }
    let w = &s.webhooks;
    o.one(
        "calinvite_webhook_messages_written_total",
        "counter",
        "Webhook messages written: one per endpoint and announcement it subscribes to.",
        w.written,
    );
    o.family(
        "calinvite_webhook_attempts_total",
        "counter",
        "Webhook posts by result: sent (2xx), retried (failed, tried again later), refused (the target's address is not allowed).",
    );
    for (result, n) in [
        ("sent", w.sent),
        ("retried", w.retried),
        ("refused", w.refused),
    ] {
        o.sample("calinvite_webhook_attempts_total", &[("result", result)], n);
    }
    o.one(
        "calinvite_webhook_messages_failed_total",
        "counter",
        "Webhook messages given up: retries spent, or the endpoint gone.",
        w.failed,
    );
    o.family(
        "calinvite_webhook_endpoints_disabled_total",
        "counter",
        "Webhook endpoints disabled, by why: gone (410) or failing (every post failed for days).",
    );
    for (reason, n) in [("gone", w.disabled_gone), ("failing", w.disabled_failing)] {
        o.sample(
            "calinvite_webhook_endpoints_disabled_total",
            &[("reason", reason)],
            n,
        );
    }
    if let Some(n) = s.webhook_backlog {
        o.one(
            "calinvite_webhook_messages_pending",
            "gauge",
            "Webhook messages waiting to be posted (retries included).",
            n,
        );
    }
    o.family(
        "calinvite_http_requests_total",
        "counter",
        "HTTP requests by method, route and status.",
    );
    let requests = http
        .requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    for ((method, route, status), n) in &requests {
        o.sample(
            "calinvite_http_requests_total",
            &[
                ("method", method),
                ("route", route),
                ("status", &status.to_string()),
            ],
            n,
        );
    }
    o.family(
        "calinvite_http_request_duration_seconds",
        "histogram",
        "HTTP request latency by method and route.",
    );
    let latency = http
        .latency
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    for ((method, route), h) in &latency {
        let base = [("method", method.as_str()), ("route", route.as_str())];
        for (i, bound) in BUCKETS.iter().enumerate() {
            let le = bound.to_string();
            o.sample(
                "calinvite_http_request_duration_seconds_bucket",
                &[base[0], base[1], ("le", &le)],
                h.counts[i],
            );
        }
        o.sample(
            "calinvite_http_request_duration_seconds_bucket",
            &[base[0], base[1], ("le", "+Inf")],
            h.count,
        );
        o.sample("calinvite_http_request_duration_seconds_sum", &base, h.sum);
        o.sample(
            "calinvite_http_request_duration_seconds_count",
            &base,
            h.count,
        );
    }
    o.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_counts_into_every_bucket_above() {
        let m = HttpMetrics::default();
        m.observe("GET", "/v1/events", 200, Duration::from_millis(3));
        m.observe("GET", "/v1/events", 404, Duration::from_millis(30));
        let text = render(&m, &Scrape::default());
        assert!(text.contains(
            "calinvite_http_requests_total{method=\"GET\",route=\"/v1/events\",status=\"404\"} 1"
        ));
        assert!(text.contains(
            "calinvite_http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/events\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "calinvite_http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/events\",le=\"0.05\"} 2"
        ));
        assert!(text.contains(
            "calinvite_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/events\"} 2"
        ));
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
