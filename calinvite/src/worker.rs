//! The [`Worker`]: drains a [`Pipeline`]'s delivery queue on tokio.
//!
//! (The loop is described on [`Worker`].)

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use calinvite_core::lifecycle::{
    DeliveryReport, Pipeline, PipelineError, Prepared, Store, StoreError, Transport,
};
use calinvite_core::spi::Delivery;
use tokio::sync::{Mutex, Notify, mpsc, watch};
use tokio::task::{JoinError, JoinSet};
use tracing::Instrument as _;

/// How a [`Worker`] runs. `WorkerConfig::default()` suits a single
/// application process sending through an SMTP relay; the setters adjust it.
///
/// ```
/// use std::time::Duration;
/// use calinvite::WorkerConfig;
///
/// let config = WorkerConfig::default()
///     .concurrency(16)
///     .batch(64)
///     .lease(Duration::from_secs(120));
/// assert_eq!(config.concurrency, 16);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerConfig {
    /// Messages on the wire at once: the worker runs this many sender
    /// tasks, each handing the transport its next message as soon as the
    /// last one is answered. Default 4. At least 1. With an `SmtpRelay`,
    /// twice its connections keeps every connection busy (a campaign of
    /// 100,000 on one machine: `benches/README.md`, 8 for 4 connections).
    pub concurrency: usize,
    /// Messages claimed per batch. Default 64. At least 1. A batch is
    /// claimed in one statement, its invitations read in a few and its
    /// outcomes recorded in one transaction, so larger batches cost fewer
    /// queue round trips; a stop waits for the batches in hand, and a
    /// worker killed outright leaves them to be claimed again when their
    /// lease runs out (each may then go out twice), so smaller batches stop
    /// sooner and repeat less. A campaign worker sending through one
    /// relay did best with batches of 256, 3 in hand (`benches/README.md`).
    pub batch: usize,
    /// Batches in hand at once. Default 2: while one batch's messages are
    /// on the wire, the next is claimed and assembled and the last one's
    /// outcomes recorded, so neither the store nor the relay waits on the
    /// other. At least 1.
    pub batches_in_flight: usize,
    /// How long a claimed message is leased to this worker. Default 300 s.
    /// It must exceed the time a batch takes to deliver: a lease that runs
    /// out lets another worker claim the message while it is being sent.
    pub lease: Duration,
    /// The first idle sleep. Default 50 ms.
    pub idle_floor: Duration,
    /// The longest idle sleep. Default 5 s.
    pub idle_ceiling: Duration,
    /// Whether this worker plans fan-outs too. Default `true`; turn it off
    /// in workers that should only send.
    pub fan_out: bool,
    /// [`Worker::run_until_idle`] gives up after this many store errors in a
    /// row. Default 5. A worker that runs until stopped never gives up.
    pub give_up_after: u32,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 4,
            batch: 64,
            batches_in_flight: 2,
            lease: Duration::from_secs(300),
            idle_floor: Duration::from_millis(50),
            idle_ceiling: Duration::from_secs(5),
            fan_out: true,
            give_up_after: 5,
        }
    }
}

impl WorkerConfig {
    /// Messages in flight at once (at least 1).
    #[must_use]
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Messages claimed per batch (at least 1).
    #[must_use]
    pub fn batch(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }

    /// Batches in hand at once (at least 1).
    #[must_use]
    pub fn batches_in_flight(mut self, n: usize) -> Self {
        self.batches_in_flight = n.max(1);
        self
    }

    /// How long a claimed message is leased to this worker.
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The idle back-off: the first sleep, doubled on each idle round up to
    /// `ceiling` (raised to `floor` when lower).
    #[must_use]
    pub fn idle_backoff(mut self, floor: Duration, ceiling: Duration) -> Self {
        self.idle_floor = floor;
        self.idle_ceiling = ceiling.max(floor);
        self
    }

    /// Whether this worker plans fan-outs too.
    #[must_use]
    pub fn fan_out(mut self, plan: bool) -> Self {
        self.fan_out = plan;
        self
    }

    /// Store errors in a row after which [`Worker::run_until_idle`] gives up
    /// (at least 1).
    #[must_use]
    pub fn give_up_after(mut self, errors: u32) -> Self {
        self.give_up_after = errors.max(1);
        self
    }

    fn lease_delta(&self) -> chrono::TimeDelta {
        chrono::TimeDelta::from_std(self.lease).unwrap_or(chrono::TimeDelta::MAX)
    }
}

/// What a worker did: counts since it started, or over one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerReport {
    /// Batches claimed (claims that returned at least one message).
    pub batches: u64,
    /// Messages claimed.
    pub claimed: u64,
    /// Messages the transport accepted (the SMTP relay or SES took them).
    /// Whether they then reached the mailbox is for delivery notifications
    /// to say, not the worker.
    pub submitted: u64,
    /// Messages that failed transiently and were queued again for later.
    pub retried: u64,
    /// Messages given up (refused by the relay, unsendable, superseded).
    pub failed: u64,
    /// Fan-out batches planned.
    pub fan_out_steps: u64,
    /// Store errors (claiming, planning, or recording an outcome) and
    /// delivery tasks that panicked.
    pub errors: u64,
}

impl WorkerReport {
    /// Messages whose attempt was recorded: submitted, retried or failed.
    pub fn attempts(&self) -> u64 {
        self.submitted + self.retried + self.failed
    }

    /// What happened between `earlier` and `self`.
    fn since(&self, earlier: &WorkerReport) -> WorkerReport {
        WorkerReport {
            batches: self.batches - earlier.batches,
            claimed: self.claimed - earlier.claimed,
            submitted: self.submitted - earlier.submitted,
            retried: self.retried - earlier.retried,
            failed: self.failed - earlier.failed,
            fan_out_steps: self.fan_out_steps - earlier.fan_out_steps,
            errors: self.errors - earlier.errors,
        }
    }
}

/// A worker's live counters, readable while it runs (for metrics export):
/// cumulative since the worker was built, plus the messages in flight now.
#[derive(Debug, Default)]
pub struct WorkerCounters {
    batches: AtomicU64,
    claimed: AtomicU64,
    submitted: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    fan_out_steps: AtomicU64,
    errors: AtomicU64,
    in_flight: AtomicU64,
}

impl WorkerCounters {
    /// The counts so far.
    pub fn snapshot(&self) -> WorkerReport {
        WorkerReport {
            batches: self.batches.load(Ordering::Relaxed),
            claimed: self.claimed.load(Ordering::Relaxed),
            submitted: self.submitted.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            fan_out_steps: self.fan_out_steps.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }

    /// Messages being handed to the transport right now (a gauge).
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// [`Worker::run_until_idle`] gave up: the store kept failing.
#[derive(Debug, thiserror::Error)]
#[error("the worker gave up after {errors} store errors in a row: {error}")]
#[non_exhaustive]
pub struct WorkerError {
    /// Store errors in a row when it gave up.
    pub errors: u32,
    /// The last one.
    pub error: PipelineError,
    /// What the run did before it gave up.
    pub report: WorkerReport,
}

type Observer = Arc<dyn Fn(&DeliveryReport) + Send + Sync>;

/// Drains a [`Pipeline`]'s queue.
///
/// A worker loops over two steps until it is stopped:
///
/// 1. **plan**: one batch of a pending fan-out ([`Pipeline::step_fan_out`]),
///    so updates and cancellations sent to many recipients get their messages
///    queued;
/// 2. **deliver**: claims up to [`WorkerConfig::batch`] due messages with a
///    lease ([`Store::claim`]), until [`WorkerConfig::batches_in_flight`]
///    batches are in hand, and delivers each: the batch is assembled with its
///    reads together ([`Pipeline::prepare`]), its messages are handed to the
///    transport at most [`WorkerConfig::concurrency`] at a time across the
///    worker (that many sender tasks, each taking the next message as soon
///    as its last one is answered, oldest batch first), and its outcomes
///    are recorded together
///    ([`Pipeline::settle_sends`]: one transaction on a database). While one
///    batch is on the wire the next is claimed and assembled.
///
/// When a round finds nothing to do the worker sleeps, twice as long each
/// time from [`WorkerConfig::idle_floor`] up to [`WorkerConfig::idle_ceiling`],
/// and starts again from the floor as soon as it finds work. A store error
/// is logged and counted and the worker backs off the same way: it does not
/// die. Transport errors never reach the worker: [`Pipeline::deliver`]
/// settles them (a retry later, or a failure).
///
/// Stopping ([`WorkerHandle::stop`], or the future given to
/// [`Worker::run_until`]) ends the loop at the next step: no new batch is
/// claimed, every message already claimed is delivered and recorded, and
/// everything else stays queued for the next worker. A message is never left
/// half-sent by a stop.
///
/// Several workers — tasks, processes or machines — may drain one queue: a
/// claimed message is leased to one worker, and a lease that runs out (a
/// worker that died) makes it claimable again.
///
/// A worker is cheap: it holds the pipeline behind an [`Arc`], so an
/// application can run one next to the code that handles requests on the
/// same pipeline, or several in separate processes on one database.
pub struct Worker<S, T> {
    pipeline: Arc<Pipeline<S, T>>,
    config: WorkerConfig,
    counters: Arc<WorkerCounters>,
    observer: Option<Observer>,
}

impl<S, T> std::fmt::Debug for Worker<S, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("config", &self.config)
            .field("counters", &self.counters.snapshot())
            .finish_non_exhaustive()
    }
}

/// Why one round of the loop could not finish.
struct RoundError(PipelineError);

impl<S, T> Worker<S, T>
where
    S: Store + 'static,
    T: Transport + 'static,
{
    /// A worker on `pipeline`.
    pub fn new(pipeline: Arc<Pipeline<S, T>>, config: WorkerConfig) -> Self {
        Worker {
            pipeline,
            config,
            counters: Arc::new(WorkerCounters::default()),
            observer: None,
        }
    }

    /// Calls `observer` with the outcome of every delivery, as it is recorded
    /// (for progress displays or per-message logging). It runs on the
    /// delivery task: keep it short.
    #[must_use]
    pub fn on_delivery(
        mut self,
        observer: impl Fn(&DeliveryReport) + Send + Sync + 'static,
    ) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// The pipeline it drains.
    pub fn pipeline(&self) -> &Arc<Pipeline<S, T>> {
        &self.pipeline
    }

    /// Its configuration.
    pub fn config(&self) -> &WorkerConfig {
        &self.config
    }

    /// Its live counters (shared: they keep counting while it runs).
    pub fn counters(&self) -> Arc<WorkerCounters> {
        self.counters.clone()
    }

    /// Plans and delivers until nothing is left to do now — no fan-out to
    /// plan and no message due — then returns what it did. For tests and
    /// batch jobs; messages due later (retries) stay queued.
    ///
    /// A store error is retried after the back-off; after
    /// [`WorkerConfig::give_up_after`] of them in a row this gives up.
    pub async fn run_until_idle(&self) -> Result<WorkerReport, WorkerError> {
        self.run_until_idle_or(std::future::pending()).await
    }

    /// Like [`run_until_idle`](Self::run_until_idle), but also ends early
    /// when `shutdown` completes (a deadline, a message count): the batch in
    /// hand is finished and the rest stays queued.
    pub async fn run_until_idle_or(
        &self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<WorkerReport, WorkerError> {
        let start = self.counters.snapshot();
        let ended = self.drive(true, shutdown).await;
        let report = self.counters.snapshot().since(&start);
        match ended {
            Ok(()) => Ok(report),
            Err((errors, error)) => Err(WorkerError {
                errors,
                error,
                report,
            }),
        }
    }

    /// Plans fan-outs until none is left, without delivering; returns how
    /// many batches were planned. For batch jobs that time planning apart
    /// from sending.
    pub async fn plan_fan_outs(&self) -> Result<u64, PipelineError> {
        let mut steps = 0;
        while self.pipeline.step_fan_out().await? {
            steps += 1;
            WorkerCounters::add(&self.counters.fan_out_steps, 1);
        }
        Ok(steps)
    }

    /// Runs until `shutdown` completes, then finishes the batch in hand and
    /// returns what it did. Store errors never end it.
    pub async fn run_until(&self, shutdown: impl Future<Output = ()>) -> WorkerReport {
        let start = self.counters.snapshot();
        // Without `until_idle` the loop only ends when told to stop.
        let _ = self.drive(false, shutdown).await;
        self.counters.snapshot().since(&start)
    }

    /// Runs on a tokio task until [`WorkerHandle::stop`].
    pub fn spawn(self) -> WorkerHandle {
        let (stop, mut stopped) = watch::channel(false);
        let counters = self.counters.clone();
        let task = tokio::spawn(async move {
            self.run_until(async move {
                // A dropped handle stops the worker too.
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await
        });
        WorkerHandle {
            stop,
            task,
            counters,
        }
    }

    /// The loop. Returns when idle (if `until_idle`), when `shutdown`
    /// completes, or — only if `until_idle` — after too many store errors;
    /// in every case after the batches in hand are delivered and recorded.
    async fn drive(
        &self,
        until_idle: bool,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), (u32, PipelineError)> {
        let mut shutdown = Shutdown {
            signal: std::pin::pin!(shutdown),
            fired: false,
        };
        let mut in_hand = JoinSet::new();
        let mut lanes = Lanes::start(
            self.pipeline.clone(),
            self.counters.clone(),
            self.config.concurrency,
        );
        let ended = self
            .rounds(until_idle, &mut shutdown, &mut in_hand, &mut lanes)
            .await;
        // A claimed message is never abandoned: every batch in hand is
        // finished before the worker returns.
        while let Some(done) = in_hand.join_next().await {
            self.finished(done);
        }
        lanes.stop().await;
        ended
    }

    async fn rounds<F: Future<Output = ()>>(
        &self,
        until_idle: bool,
        shutdown: &mut Shutdown<'_, F>,
        in_hand: &mut JoinSet<WorkerReport>,
        lanes: &mut Lanes,
    ) -> Result<(), (u32, PipelineError)> {
        let mut idle = self.config.idle_floor;
        let mut errors_in_a_row = 0u32;
        loop {
            if shutdown.fired_now().await {
                return Ok(());
            }
            lanes.mend(&self.pipeline);
            match self.round(shutdown, in_hand, lanes).await {
                Ok(true) => {
                    errors_in_a_row = 0;
                    idle = self.config.idle_floor;
                }
                Ok(false) => {
                    errors_in_a_row = 0;
                    if until_idle {
                        return Ok(());
                    }
                    tracing::trace!(sleep_ms = millis(idle), "worker idle");
                    if shutdown.sleep(idle).await {
                        return Ok(());
                    }
                    idle = (idle * 2).min(self.config.idle_ceiling);
                }
                Err(RoundError(error)) => {
                    WorkerCounters::add(&self.counters.errors, 1);
                    errors_in_a_row = errors_in_a_row.saturating_add(1);
                    tracing::warn!(
                        error = describe(&error),
                        errors_in_a_row,
                        retry_in_ms = millis(idle),
                        "worker: store error, backing off"
                    );
                    if until_idle && errors_in_a_row >= self.config.give_up_after {
                        return Err((errors_in_a_row, error));
                    }
                    if shutdown.sleep(idle).await {
                        return Ok(());
                    }
                    idle = (idle * 2).min(self.config.idle_ceiling);
                }
            }
        }
    }

    /// One round: one fan-out step; then batches claimed until
    /// [`WorkerConfig::batches_in_flight`] are in hand (or nothing more is
    /// due), and a wait for the oldest to finish. Whether it found work:
    /// `false` only when there was nothing to plan, nothing to claim and
    /// nothing in hand.
    async fn round<F: Future<Output = ()>>(
        &self,
        shutdown: &mut Shutdown<'_, F>,
        in_hand: &mut JoinSet<WorkerReport>,
        lanes: &Lanes,
    ) -> Result<bool, RoundError> {
        let mut worked = false;
        if self.config.fan_out {
            let started = stopwatch();
            if self.pipeline.step_fan_out().await.map_err(RoundError)? {
                WorkerCounters::add(&self.counters.fan_out_steps, 1);
                tracing::debug!(
                    elapsed_ms = millis(started.elapsed()),
                    "worker: planned a fan-out batch"
                );
                worked = true;
            }
        }
        while in_hand.len() < self.config.batches_in_flight.max(1) {
            if shutdown.fired_now().await {
                return Ok(true);
            }
            let started = stopwatch();
            let claimed = self.claim().await?;
            if claimed.is_empty() {
                break;
            }
            worked = true;
            WorkerCounters::add(&self.counters.batches, 1);
            WorkerCounters::add(&self.counters.claimed, claimed.len() as u64);
            let span = tracing::info_span!(
                "worker_batch",
                claimed = claimed.len(),
                claim_ms = millis(started.elapsed()),
                sent = tracing::field::Empty,
                retried = tracing::field::Empty,
                failed = tracing::field::Empty,
                errors = tracing::field::Empty,
                elapsed_ms = tracing::field::Empty,
            );
            let batch = Batch {
                pipeline: self.pipeline.clone(),
                counters: self.counters.clone(),
                observer: self.observer.clone(),
                outbox: lanes.outbox.clone(),
            };
            in_hand.spawn(
                async move {
                    let tally = batch.deliver(claimed).await;
                    let span = tracing::Span::current();
                    span.record("sent", tally.submitted);
                    span.record("retried", tally.retried);
                    span.record("failed", tally.failed);
                    span.record("errors", tally.errors);
                    span.record("elapsed_ms", millis(started.elapsed()));
                    tracing::debug!(
                        sent = tally.submitted,
                        retried = tally.retried,
                        failed = tally.failed,
                        errors = tally.errors,
                        "worker: batch delivered"
                    );
                    tally
                }
                .instrument(span),
            );
        }
        if let Some(done) = in_hand.join_next().await {
            self.finished(done);
            worked = true;
        }
        Ok(worked)
    }

    /// Claims one batch of due messages.
    async fn claim(&self) -> Result<Vec<Delivery>, RoundError> {
        let now = self.pipeline.now();
        let lease_until = now
            .checked_add_signed(self.config.lease_delta())
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
        self.pipeline
            .store()
            .claim(now, lease_until, self.config.batch)
            .await
            .map_err(|e| RoundError(e.into()))
    }

    /// A batch task ended: its panic is counted (its messages are claimed
    /// again when their lease runs out).
    fn finished(&self, done: Result<WorkerReport, JoinError>) {
        if let Err(join) = done {
            WorkerCounters::add(&self.counters.errors, 1);
            tracing::error!(
                panicked = join.is_panic(),
                "worker: a batch did not finish; its messages will be claimed again when their lease ends"
            );
        }
    }
}

/// What a batch task needs of its worker.
struct Batch<S, T> {
    pipeline: Arc<Pipeline<S, T>>,
    counters: Arc<WorkerCounters>,
    observer: Option<Observer>,
    /// The worker's sender lanes.
    outbox: mpsc::UnboundedSender<Job>,
}

impl<S, T> Batch<S, T>
where
    S: Store + 'static,
    T: Transport + 'static,
{
    /// Prepares the batch (its reads together), hands its messages to the
    /// transport at most [`WorkerConfig::concurrency`] at a time across the
    /// worker, and records every outcome together. Waits for all of them: a
    /// claimed message is never abandoned.
    async fn deliver(self, claimed: Vec<Delivery>) -> WorkerReport {
        let mut tally = WorkerReport::default();
        let n = claimed.len() as u64;
        let prepared = match self.pipeline.prepare(claimed).await {
            Ok(p) => p,
            Err(error) => {
                self.errors(&mut tally, n, &error);
                return tally;
            }
        };
        // The messages to send are handed to the lanes; the others wait in
        // their slots. The batch is woken once, by the last answer.
        let sendable = prepared.iter().filter(|p| p.message().is_some()).count();
        let collect = Arc::new(Collect {
            slots: std::sync::Mutex::new(Vec::with_capacity(prepared.len())),
            left: AtomicUsize::new(sendable),
            all_back: Notify::new(),
        });
        let mut jobs = Vec::with_capacity(sendable);
        {
            let mut slots = collect.slots();
            for (i, p) in prepared.into_iter().enumerate() {
                if p.message().is_some() {
                    slots.push(None);
                    jobs.push(Job {
                        slot: i,
                        prepared: Some(p),
                        collect: collect.clone(),
                        span: tracing::Span::current(),
                    });
                } else {
                    slots.push(Some(p));
                }
            }
        }
        for job in jobs {
            if let Err(mpsc::error::SendError(mut job)) = self.outbox.send(job) {
                // The lanes are gone (the worker is ending): recorded as
                // never handed to the transport, so queued again at once.
                if let Some(p) = job.prepared.take() {
                    collect.put(job.slot, p);
                }
            }
        }
        if sendable > 0 {
            collect.all_back.notified().await;
        }
        let slots = std::mem::take(&mut *collect.slots());
        let lost = slots.iter().filter(|s| s.is_none()).count() as u64;
        if lost > 0 {
            // Not recorded: claimed again when their lease ends.
            tally.errors += lost;
            WorkerCounters::add(&self.counters.errors, lost);
            tracing::error!(
                messages = lost,
                "worker: a send did not finish; the message will be claimed again when its lease ends"
            );
        }
        let prepared: Vec<Prepared> = slots.into_iter().flatten().collect();
        let n = prepared.len() as u64;
        match self.pipeline.settle_sends(prepared).await {
            Ok(reports) => {
                for report in reports {
                    self.record(report, &mut tally);
                }
            }
            Err(error) => self.errors(&mut tally, n, &error),
        }
        tally
    }

    /// `n` messages whose outcome could not be recorded: their leases run
    /// out and they are claimed again.
    fn errors(&self, tally: &mut WorkerReport, n: u64, error: &PipelineError) {
        tally.errors += n;
        WorkerCounters::add(&self.counters.errors, n);
        tracing::warn!(
            error = describe(error),
            messages = n,
            "worker: a batch's outcomes could not be recorded; its messages will be claimed again when their lease ends"
        );
    }

    fn record(&self, done: Result<DeliveryReport, PipelineError>, tally: &mut WorkerReport) {
        let c = &self.counters;
        match done {
            Ok(report) => {
                match &report {
                    DeliveryReport::Sent(_) => {
                        tally.submitted += 1;
                        WorkerCounters::add(&c.submitted, 1);
                    }
                    DeliveryReport::Retrying(..) => {
                        tally.retried += 1;
                        WorkerCounters::add(&c.retried, 1);
                    }
                    // Another worker claimed it after this one's lease ran
                    // out, and counts its outcome.
                    DeliveryReport::LeaseLost(_) => {}
                    _ => {
                        tally.failed += 1;
                        WorkerCounters::add(&c.failed, 1);
                    }
                }
                if let Some(observer) = &self.observer {
                    observer(&report);
                }
            }
            Err(error) => self.errors(tally, 1, &error),
        }
    }
}

/// One message for a sender lane: its place in its batch, and the batch's
/// slots to put it back in with the transport's answer. Dropped — answered,
/// or lost with a lane whose send panicked — it counts as back; the last one
/// back wakes the batch.
struct Job {
    slot: usize,
    prepared: Option<Prepared>,
    collect: Arc<Collect>,
    /// The batch's span, for the send's events.
    span: tracing::Span,
}

impl Drop for Job {
    fn drop(&mut self) {
        // A send that panicked may have gone out: its message is not put
        // back (it would be queued again at once as never handed over) but
        // left leased, to be claimed again — and counted as such — when its
        // lease ends.
        if let Some(p) = self.prepared.take()
            && !std::thread::panicking()
        {
            self.collect.put(self.slot, p);
        }
        if self.collect.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Kept until the batch waits, if it does not yet.
            self.collect.all_back.notify_one();
        }
    }
}

/// A batch's messages as they come back from the lanes.
struct Collect {
    slots: std::sync::Mutex<Vec<Option<Prepared>>>,
    /// Jobs not back yet.
    left: AtomicUsize,
    all_back: Notify,
}

impl Collect {
    fn slots(&self) -> std::sync::MutexGuard<'_, Vec<Option<Prepared>>> {
        // A panic elsewhere cannot leave the slots half-written.
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn put(&self, slot: usize, p: Prepared) {
        if let Some(s) = self.slots().get_mut(slot) {
            *s = Some(p);
        }
    }
}

/// The worker's sender tasks: [`WorkerConfig::concurrency`] of them, each
/// taking the next message from one queue (batches in the order they were
/// claimed) as soon as its last one is answered. A lane keeps its
/// connection busy the way a loop over prebuilt messages does: no task is
/// started per message.
struct Lanes {
    outbox: mpsc::UnboundedSender<Job>,
    inbox: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>,
    tasks: JoinSet<()>,
    counters: Arc<WorkerCounters>,
}

impl Lanes {
    fn start<S, T>(pipeline: Arc<Pipeline<S, T>>, counters: Arc<WorkerCounters>, n: usize) -> Self
    where
        S: Store + 'static,
        T: Transport + 'static,
    {
        let (outbox, inbox) = mpsc::unbounded_channel();
        let mut lanes = Lanes {
            outbox,
            inbox: Arc::new(Mutex::new(inbox)),
            tasks: JoinSet::new(),
            counters,
        };
        for _ in 0..n.max(1) {
            lanes.spawn(pipeline.clone());
        }
        lanes
    }

    fn spawn<S, T>(&mut self, pipeline: Arc<Pipeline<S, T>>)
    where
        S: Store + 'static,
        T: Transport + 'static,
    {
        let inbox = self.inbox.clone();
        let counters = self.counters.clone();
        self.tasks.spawn(async move {
            loop {
                // One lane waits for the queue at a time; the others wait
                // for it to take a message (not long: it is on the wire).
                let job = inbox.lock().await.recv().await;
                let Some(mut job) = job else {
                    return;
                };
                WorkerCounters::add(&counters.in_flight, 1);
                if let Some(p) = job.prepared.as_mut()
                    && let Some((envelope, bytes)) = p.message()
                {
                    let answer = pipeline
                        .transport()
                        .send_raw(envelope, bytes)
                        .instrument(job.span.clone())
                        .await;
                    p.answered(answer);
                }
                counters.in_flight.fetch_sub(1, Ordering::Relaxed);
                // Back in its slot (`Job::drop`).
                drop(job);
            }
        });
    }

    /// Replaces lanes whose task ended (a send that panicked: its message
    /// is claimed again when its lease ends).
    fn mend<S, T>(&mut self, pipeline: &Arc<Pipeline<S, T>>)
    where
        S: Store + 'static,
        T: Transport + 'static,
    {
        while let Some(ended) = self.tasks.try_join_next() {
            WorkerCounters::add(&self.counters.errors, 1);
            tracing::error!(
                panicked = ended.as_ref().err().is_some_and(JoinError::is_panic),
                "worker: a sender task ended; starting another"
            );
            self.spawn(pipeline.clone());
        }
    }

    /// Ends the lanes once every message handed to them is answered.
    async fn stop(self) {
        let Lanes {
            outbox, mut tasks, ..
        } = self;
        drop(outbox);
        while tasks.join_next().await.is_some() {}
    }
}

/// A worker running on its own task ([`Worker::spawn`]). Dropping the
/// handle stops the worker too, without waiting for it.
#[derive(Debug)]
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<WorkerReport>,
    counters: Arc<WorkerCounters>,
}

impl WorkerHandle {
    /// Its live counters.
    pub fn counters(&self) -> &WorkerCounters {
        &self.counters
    }

    /// Asks the worker to stop without waiting for it.
    pub fn request_stop(&self) {
        self.stop.send_replace(true);
    }

    /// Whether the worker's task has ended.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops the worker — it claims nothing more and finishes the messages
    /// it holds — and waits for it; returns what it did. A panic on the
    /// worker's task is raised here.
    pub async fn stop(self) -> WorkerReport {
        self.request_stop();
        match self.task.await {
            Ok(report) => report,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Cancelled: the runtime is shutting down.
            Err(_) => self.counters.snapshot(),
        }
    }
}

/// The stop signal, polled without blocking between steps and raced
/// against idle sleeps. Once it has fired it is not polled again.
struct Shutdown<'a, F> {
    signal: Pin<&'a mut F>,
    fired: bool,
}

impl<F: Future<Output = ()>> Shutdown<'_, F> {
    /// Whether the signal has fired (checks without waiting).
    async fn fired_now(&mut self) -> bool {
        if !self.fired {
            tokio::select! {
                biased;
                () = self.signal.as_mut() => self.fired = true,
                () = std::future::ready(()) => {}
            }
        }
        self.fired
    }

    /// Sleeps for `d` unless the signal fires first; whether it fired.
    async fn sleep(&mut self, d: Duration) -> bool {
        if !self.fired {
            tokio::select! {
                () = self.signal.as_mut() => self.fired = true,
                () = tokio::time::sleep(d) => {}
            }
        }
        self.fired
    }
}

/// A monotonic stopwatch for the timings in spans and events (never used to
/// decide anything: the pipeline's clock does that).
#[allow(
    clippy::disallowed_methods,
    reason = "timings for traces only; decisions read the pipeline's clock"
)]
fn stopwatch() -> std::time::Instant {
    std::time::Instant::now()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What went wrong, for logs: the kind of error, and the store's own words
/// only when they cannot name a message (row names include delivery keys,
/// which carry invitation tokens).
fn describe(error: &PipelineError) -> String {
    match error {
        PipelineError::Store(StoreError::Unavailable(detail)) => {
            format!("store unavailable: {detail}")
        }
        PipelineError::Store(StoreError::Conflict(_)) => "store conflict".to_owned(),
        PipelineError::Store(StoreError::Corrupt { .. }) => "corrupt row in the store".to_owned(),
        PipelineError::Store(StoreError::TooNew { found, supported }) => {
            format!("store schema version {found} is newer than this build ({supported})")
        }
        PipelineError::Store(_) => "store error".to_owned(),
        PipelineError::Refused(_) => "refused".to_owned(),
        PipelineError::NotFound(_) => "not found".to_owned(),
        _ => "pipeline error".to_owned(),
    }
}
