//! Counters an application exports as metrics: commands by outcome, refusals
//! by reason, answers by status, deliveries sent, retried and failed, and
//! writes decided again after losing a race. Plain atomics: counting costs a
//! relaxed increment and performs no I/O; [`PipelineMetrics::snapshot`]
//! reads them all into a [`MetricsSnapshot`] an exporter turns into its own
//! format (Prometheus, OpenTelemetry, a log line).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{DeliveryReport, Outcome};
use crate::event::ParticipationStatus;
use crate::lifecycle::model::RefusalReason;

/// The outcome labels counted, in [`MetricsSnapshot::commands`] order.
const OUTCOMES: [&str; 16] = [
    "event_created",
    "revision_sent",
    "pending_approval",
    "unchanged",
    "cancelled",
    "invited",
    "already_invited",
    "answer_recorded",
    "counter_recorded",
    "resent",
    "delivery_recorded",
    "unsubscribed",
    "resolved",
    "refused",
    "ignored",
    "error",
];

/// The live counters of one pipeline.
#[derive(Debug, Default)]
pub struct PipelineMetrics {
    commands: [AtomicU64; OUTCOMES.len()],
    refusals: Mutex<BTreeMap<RefusalReason, u64>>,
    answers: [AtomicU64; 5],
    sent: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    leases_lost: AtomicU64,
    conflicts: AtomicU64,
}

/// The counters at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Finished commands by outcome label (`invited`, `refused`, `error` …);
    /// labels never seen are absent.
    pub commands: BTreeMap<&'static str, u64>,
    /// Refusals by reason (returned as an outcome or as an error).
    pub refusals: BTreeMap<RefusalReason, u64>,
    /// Answers recorded by the status given (`ACCEPTED`, `DECLINED` …).
    pub answers: BTreeMap<&'static str, u64>,
    /// Messages a relay accepted.
    pub deliveries_sent: u64,
    /// Messages put back for a later attempt after a transient failure.
    pub deliveries_retried: u64,
    /// Messages given up.
    pub deliveries_failed: u64,
    /// Sends whose lease ran out before they were recorded (another worker
    /// had claimed the message; it recorded the outcome).
    pub leases_lost: u64,
    /// Writes decided again after losing a race with another writer.
    pub conflicts_retried: u64,
}

impl MetricsSnapshot {
    /// The count of one outcome label (0 when never seen).
    pub fn command(&self, label: &str) -> u64 {
        self.commands.get(label).copied().unwrap_or(0)
    }
}

const STATUSES: [ParticipationStatus; 5] = [
    ParticipationStatus::NeedsAction,
    ParticipationStatus::Accepted,
    ParticipationStatus::Declined,
    ParticipationStatus::Tentative,
    ParticipationStatus::Delegated,
];

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl PipelineMetrics {
    fn outcome(&self, label: &str) {
        if let Some(i) = OUTCOMES.iter().position(|l| *l == label) {
            bump(&self.commands[i]);
        }
    }

    /// Counts a command that finished with `outcome`.
    pub(super) fn command(&self, outcome: &Outcome) {
        self.outcome(outcome.label());
        if let Outcome::Refused(r) = outcome {
            self.refused(r.reason);
        }
    }

    /// Counts a command that failed (refused by error, not found, store).
    pub(super) fn failed(&self) {
        self.outcome("error");
    }

    /// Counts a refusal.
    pub(super) fn refused(&self, reason: RefusalReason) {
        let mut map = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
        *map.entry(reason).or_default() += 1;
    }

    /// Counts a recorded answer.
    pub(super) fn answer(&self, status: Option<ParticipationStatus>) {
        let status = status.unwrap_or(ParticipationStatus::NeedsAction);
        if let Some(i) = STATUSES.iter().position(|s| *s == status) {
            bump(&self.answers[i]);
        }
    }

    /// Counts what happened to a queued message.
    pub(super) fn delivery(&self, report: &DeliveryReport) {
        match report {
            DeliveryReport::Sent(_) => bump(&self.sent),
            DeliveryReport::Retrying(..) => bump(&self.retried),
            DeliveryReport::Failed(..) => bump(&self.failed),
            DeliveryReport::LeaseLost(_) => bump(&self.leases_lost),
        }
    }

    /// Counts a write decided again after a conflict.
    pub(super) fn conflict_retried(&self) {
        bump(&self.conflicts);
    }

    /// Every counter, read now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            commands: OUTCOMES
                .iter()
                .zip(&self.commands)
                .filter(|(_, c)| read(c) > 0)
                .map(|(l, c)| (*l, read(c)))
                .collect(),
            refusals: self
                .refusals
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            answers: STATUSES
                .iter()
                .zip(&self.answers)
                .filter(|(_, c)| read(c) > 0)
                .map(|(s, c)| (s.as_str(), read(c)))
                .collect(),
            deliveries_sent: read(&self.sent),
            deliveries_retried: read(&self.retried),
            deliveries_failed: read(&self.failed),
            leases_lost: read(&self.leases_lost),
            conflicts_retried: read(&self.conflicts),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::model::Refusal;

    #[test]
    fn counters_move() {
        let m = PipelineMetrics::default();
        assert_eq!(m.snapshot(), MetricsSnapshot::default());
        m.command(&Outcome::Ignored("x"));
        m.command(&Outcome::Refused(Refusal::new(
            RefusalReason::Suppressed,
            "s",
        )));
        m.command(&Outcome::Refused(Refusal::new(
            RefusalReason::Suppressed,
            "s",
        )));
        m.failed();
        m.answer(Some(ParticipationStatus::Accepted));
        m.answer(None);
        m.conflict_retried();
        let s = m.snapshot();
        assert_eq!(s.command("ignored"), 1);
        assert_eq!(s.command("refused"), 2);
        assert_eq!(s.command("error"), 1);
        assert_eq!(s.command("invited"), 0);
        assert_eq!(s.refusals.get(&RefusalReason::Suppressed), Some(&2));
        assert_eq!(s.answers.get("ACCEPTED"), Some(&1));
        assert_eq!(s.answers.get("NEEDS-ACTION"), Some(&1));
        assert_eq!(s.conflicts_retried, 1);
    }

    #[test]
    fn every_outcome_label_is_counted() {
        for label in OUTCOMES {
            let m = PipelineMetrics::default();
            m.outcome(label);
            assert_eq!(m.snapshot().command(label), 1, "{label}");
        }
    }
}
