//! The claim loop and the life of one delivery.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use prometheus_client::registry::Registry;
use scheduler_core::job::{job_spec, JobSpec, JobTarget};
use scheduler_core::{Plan, PlanInput};
use scheduler_files::FileStore;
use scheduler_store::attachments::{self, AttachmentRecord};
use scheduler_store::fires::{
    self, ClaimRequest, DeliveryContext, Lease, LeaseToken, LeasedFire, Release,
};
use scheduler_store::schedulers::SchedulerRecord;
use scheduler_store::{PgPool, StoreError, DUE_CHANNEL};
use serde_json::Value;
use sqlx::postgres::PgListener;
use tokio::sync::{mpsc, watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::clock::Clock;
use crate::config::RunnerConfig;
use crate::envelope::{envelope, file_item};
use crate::error::RunnerError;
use crate::kafka::{KafkaMessage, KafkaSink};
use crate::metrics::{Metrics, Target};
use crate::retry::{verdict, Failure, Limits, Verdict};
use crate::webhook::{WebhookRequest, WebhookSink};

/// Shortest idle wait after a round that took nothing, so a due row that cannot be taken
/// right now (locked by another runner's claim) does not make the loop spin. A round that
/// took work waits only until the next due instant, however close.
const MIN_IDLE: Duration = Duration::from_millis(10);
/// Most outcomes written in one statement.
const WRITE_BATCH: usize = 1000;
/// Most pending dead letters one runner takes at a time.
const DEAD_LETTER_BATCH: i64 = 100;
/// When a dead letter could not be produced, the next try is this much later.
const DEAD_LETTER_RETRY: Duration = Duration::from_secs(5);
/// Most fires removed by one prune statement.
const PRUNE_BATCH: i64 = 2_000;
/// Most list-count deltas folded by one statement.
const FOLD_BATCH: i64 = 10_000;
/// How often each runner folds the list-count deltas (they are exact unfolded too; folding
/// keeps a total's read to a few rows).
const FOLD_INTERVAL: Duration = Duration::from_secs(1);
/// Longest pause between two tries of a write the database refused.
const WRITE_BACKOFF_MAX: Duration = Duration::from_secs(2);

/// A runner. Several may run against one database, in one process or many. Clones share
/// everything (producer, metrics, configuration): a clone is a handle for readiness probes.
#[derive(Clone)]
pub struct Runner {
    shared: Arc<Shared>,
}

struct Shared {
    pool: PgPool,
    config: RunnerConfig,
    clock: Clock,
    kafka: Option<KafkaSink>,
    webhook: WebhookSink,
    /// Makes the envelope's `file_url`s; without it they are null.
    files: Option<Arc<FileStore>>,
    metrics: Metrics,
    /// The leases this runner holds and has not settled: renewed by the heartbeat, given back
    /// at shutdown. A fire leaves only when its outcome is durable (or its lease was given
    /// back, or found to have moved on), so no outcome waits unrenewed.
    held: Mutex<HashMap<Uuid, Held>>,
    /// Cancelled at the shutdown deadline: writes that keep failing stop being retried.
    give_up: CancellationToken,
}

/// One lease this runner holds.
#[derive(Debug, Clone, Copy)]
struct Held {
    seq: i32,
    /// A send started under this lease (it counts as an attempt when given back).
    sent: bool,
}

/// A delivery whose outcome is still to be written, with its delivery slot: the slot is freed
/// only once the outcome is durable, so outcomes waiting out a database outage are bounded by
/// the runner's concurrency.
struct Delivered {
    token: LeaseToken,
    at: DateTime<Utc>,
    _permit: OwnedSemaphorePermit,
}

/// A fire's scheduler as delivery needs it, shared by the fires of one batch.
struct Prepared {
    ctx: DeliveryContext,
    spec: Result<JobSpec, String>,
    /// The scheduler's rows in `attachments` (of its own organization), in order.
    files: Vec<AttachmentRecord>,
}

impl Prepared {
    fn target(&self) -> Option<Target> {
        match &self.spec {
            Ok(JobSpec {
                target: JobTarget::Kafka { .. },
                ..
            }) => Some(Target::Kafka),
            Ok(JobSpec {
                target: JobTarget::Webhook { .. },
                ..
            }) => Some(Target::Webhook),
            Err(_) => None,
        }
    }
}

impl Runner {
    /// Checks the configuration and creates the Kafka producer (when configured) and the HTTP
    /// client. Connects to nothing yet.
    pub fn new(pool: PgPool, config: RunnerConfig, clock: Clock) -> Result<Self, RunnerError> {
        config.validate().map_err(RunnerError::Config)?;
        let kafka = config.kafka.as_ref().map(KafkaSink::new).transpose()?;
        let webhook = WebhookSink::new(config.webhook_allow_private)?;
        Ok(Self {
            shared: Arc::new(Shared {
                pool,
                config,
                clock,
                kafka,
                webhook,
                files: None,
                metrics: Metrics::default(),
                held: Mutex::new(HashMap::new()),
                give_up: CancellationToken::new(),
            }),
        })
    }

    /// Gives the runner the attachment store, so every attempt's envelope lists the
    /// scheduler's attachments with a `file_url` made for that attempt (a presigned GET, or
    /// the public URL). Without it the envelope still lists them, with `file_url: null`.
    ///
    /// # Panics
    /// When the runner has been cloned already: call it right after [`Runner::new`].
    #[must_use]
    pub fn with_files(mut self, files: Arc<FileStore>) -> Self {
        Arc::get_mut(&mut self.shared)
            .expect("Runner::with_files must be called before the runner is cloned")
            .files = Some(files);
        self
    }

    /// The id this runner's leases carry.
    pub fn owner(&self) -> &str {
        &self.shared.config.owner
    }

    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Adds the runner's metrics to `registry` (exposed by the server's `/metrics`).
    pub fn register_metrics(&self, registry: &mut Registry) {
        self.shared.metrics.register(registry);
    }

    /// For readiness: None when Kafka is not configured, else whether a broker answers a
    /// metadata request within `timeout`.
    pub async fn kafka_reachable(&self, timeout: Duration) -> Option<bool> {
        self.shared.kafka.as_ref()?;
        let shared = self.shared.clone();
        let ok = tokio::task::spawn_blocking(move || {
            shared.kafka.as_ref().is_some_and(|k| k.reachable(timeout))
        })
        .await
        .unwrap_or(false);
        Some(ok)
    }

    /// Runs until `shutdown` is cancelled, then stops within the shutdown deadline, which it
    /// owns: it stops claiming, lets in-flight deliveries finish until a reserve before the
    /// deadline, writes every outcome it has, gives back every lease it still holds (unsent
    /// fires with their attempt count unchanged, available at once), and returns. Database
    /// errors inside the loop are logged and retried, never fatal.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), RunnerError> {
        let shared = self.shared;
        let cfg = &shared.config;
        tracing::info!(owner = %cfg.owner, batch_size = cfg.batch_size, concurrency = cfg.concurrency, "runner started");
        shared.sync_clock().await;

        let wake = Arc::new(Notify::new());
        let listener = tokio::spawn(listen(
            shared.pool.clone(),
            wake.clone(),
            shutdown.child_token(),
        ));
        let stop_heartbeat = CancellationToken::new();
        let heartbeat = tokio::spawn(heartbeat(shared.clone(), stop_heartbeat.clone()));
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let writer = tokio::spawn(write_delivered(shared.clone(), done_rx));
        let dead_letters = shared
            .dead_letters_on()
            .then(|| tokio::spawn(dead_letters(shared.clone(), shutdown.child_token())));
        let pruner = tokio::spawn(prune(shared.clone(), shutdown.child_token()));
        let folder = tokio::spawn(fold_counts(shared.clone(), shutdown.child_token()));
        // Claimers share the delivery slots; SKIP LOCKED keeps their claims disjoint, so one
        // claims the next batch while another waits for slots for the last one.
        let semaphore = Arc::new(Semaphore::new(cfg.concurrency));
        let claimers: Vec<_> = (0..cfg.claimers)
            .map(|_| {
                tokio::spawn(claim_loop(ClaimLoop {
                    shared: shared.clone(),
                    semaphore: semaphore.clone(),
                    done: done_tx.clone(),
                    shutdown: shutdown.clone(),
                    wake: wake.clone(),
                }))
            })
            .collect();
        let mut task_sets = Vec::with_capacity(claimers.len());
        for c in claimers {
            match c.await {
                Ok(tasks) => task_sets.push(tasks),
                Err(e) => tracing::error!(error = %e, "a claim loop failed"),
            }
        }

        // Shutdown. One deadline from here: deliveries get it less a reserve in which the
        // outcomes are written and the leases given back; writes still failing at the
        // deadline are abandoned (those leases expire and the fires are taken again).
        let deadline = tokio::time::Instant::now() + cfg.shutdown_deadline;
        let reserve =
            (cfg.shutdown_deadline / 5).clamp(Duration::from_millis(500), Duration::from_secs(5));
        let give_up = shared.give_up.clone();
        let alarm = tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            give_up.cancel();
        });
        let in_flight: usize = task_sets.iter().map(JoinSet::len).sum();
        tracing::info!(in_flight, held = shared.held_count(), "runner stopping");
        let drain = async {
            for tasks in &mut task_sets {
                while tasks.join_next().await.is_some() {}
            }
        };
        if tokio::time::timeout_at(deadline - reserve, drain)
            .await
            .is_err()
        {
            let left: usize = task_sets.iter().map(JoinSet::len).sum();
            tracing::warn!(
                left,
                "shutdown deadline near; abandoning the remaining deliveries"
            );
            for tasks in &mut task_sets {
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
            }
        }
        drop(done_tx);
        let _ = writer.await;
        // A dead-letter produce can wait for a broker that is down: it gets until the deadline,
        // and what it still holds is given back below.
        for mut task in dead_letters.into_iter().chain([pruner, folder]) {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
                let _ = task.await;
            }
        }
        stop_heartbeat.cancel();
        let _ = heartbeat.await;
        let _ = listener.await;
        if shared.kafka.is_some() {
            // Dead-letter messages may still be queued; flushing blocks, so off the runtime.
            let s = shared.clone();
            let left = deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .min(Duration::from_secs(2));
            let _ = tokio::task::spawn_blocking(move || {
                if let Some(k) = &s.kafka {
                    k.flush(left);
                }
            })
            .await;
        }
        let leases = shared.held_leases();
        if !leases.is_empty() {
            let now = shared.clock.now();
            match shared
                .durably("give back leases", || {
                    fires::release(&shared.pool, &leases, now)
                })
                .await
            {
                Some(n) => tracing::info!(held = leases.len(), released = n, "leases given back"),
                None => tracing::error!(
                    held = leases.len(),
                    "cannot give back leases; they will expire"
                ),
            }
        }
        if let Err(e) = scheduler_store::runners::remove(&shared.pool, &cfg.owner).await {
            tracing::debug!(error = %e, "cannot remove the runner's row");
        }
        alarm.abort();
        tracing::info!("runner stopped");
        Ok(())
    }
}

/// What one claim loop runs with.
struct ClaimLoop {
    shared: Arc<Shared>,
    semaphore: Arc<Semaphore>,
    done: mpsc::UnboundedSender<Delivered>,
    shutdown: CancellationToken,
    wake: Arc<Notify>,
}

/// Claims and leases until shutdown, starting a delivery task per fire; returns the tasks
/// still running, for `run` to drain within the shutdown deadline.
async fn claim_loop(l: ClaimLoop) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    let mut clock_moved = l.shared.clock.subscribe();
    let mut work = Work {
        semaphore: &l.semaphore,
        tasks: &mut tasks,
        done: &l.done,
        shutdown: &l.shutdown,
    };
    loop {
        if l.shutdown.is_cancelled() {
            break;
        }
        while work.tasks.try_join_next().is_some() {}
        let round = match l.shared.take_work(&mut work).await {
            Ok(round) => round,
            Err(e) => {
                tracing::warn!(error = %e, "claim failed; retrying after the poll interval");
                Round::default()
            }
        };
        if round.full {
            continue;
        }
        let idle = l.shared.idle_wait(round.took).await;
        tokio::select! {
            () = l.shutdown.cancelled() => break,
            () = l.wake.notified() => {}
            () = moved(&mut clock_moved) => {}
            () = tokio::time::sleep(idle) => {}
        }
    }
    tasks
}

/// What one round of the loop did.
#[derive(Debug, Default, Clone, Copy)]
struct Round {
    /// A claim or lease came back full: go again at once.
    full: bool,
    /// It took some work (so a due instant already reached is worth another look at once).
    took: bool,
}

/// The loop's handles on the deliveries it starts.
struct Work<'a> {
    semaphore: &'a Arc<Semaphore>,
    tasks: &'a mut JoinSet<()>,
    done: &'a mpsc::UnboundedSender<Delivered>,
    shutdown: &'a CancellationToken,
}

async fn moved(rx: &mut Option<watch::Receiver<()>>) {
    if let Some(rx) = rx {
        if rx.changed().await.is_ok() {
            return;
        }
    }
    std::future::pending().await
}

fn plan(r: &SchedulerRecord, now: DateTime<Utc>, grace: TimeDelta) -> Result<Plan, String> {
    let schedule = r.schedule().map_err(|e| e.to_string())?;
    let due = r.next_fire_at.ok_or_else(|| "not due".to_owned())?;
    Ok(schedule.plan(PlanInput {
        scheduler_id: &r.id,
        due,
        fired: u64::try_from(r.fire_count).unwrap_or(0),
        now,
        grace,
    }))
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

impl Shared {
    fn lease_at(&self, now: DateTime<Utc>) -> Lease<'_> {
        Lease {
            owner: &self.config.owner,
            until: now + delta(self.config.lease),
        }
    }

    fn dead_letters_on(&self) -> bool {
        self.config.dead_letter_topic.is_some() && self.kafka.is_some()
    }

    /// Follows the database's clock (see [`Clock`]). A failed reading keeps the last offset.
    async fn sync_clock(&self) {
        let before = Utc::now();
        match fires::database_now(&self.pool).await {
            Ok(db) => {
                let after = Utc::now();
                self.clock.sync(before, db, after);
            }
            Err(e) => tracing::debug!(error = %e, "cannot read the database clock"),
        }
    }

    /// Retries a database write until it succeeds, waiting out an outage with backoff, or until
    /// the shutdown deadline passes or the database refuses it for good (None: not written).
    async fn durably<T, F, Fut>(&self, what: &str, mut op: F) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let mut backoff = Duration::from_millis(50);
        let mut failures = 0u32;
        loop {
            match op().await {
                Ok(v) => {
                    if failures > 0 {
                        tracing::info!(what, failures, "written after the database came back");
                    }
                    return Some(v);
                }
                Err(e) if !e.is_transient() => {
                    // Another try would fail the same way. Not written: the caller lets the
                    // lease go, and the fire is taken again when it expires.
                    tracing::error!(what, error = %e, "the database refused the write");
                    return None;
                }
                Err(e) => {
                    failures += 1;
                    if failures == 1 || failures.is_multiple_of(20) {
                        tracing::warn!(what, error = %e, failures, "cannot write; retrying until the database is back");
                    }
                }
            }
            tokio::select! {
                () = self.give_up.cancelled() => {
                    tracing::error!(what, "shutdown deadline reached before the write went through; the leases will expire");
                    return None;
                }
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(WRITE_BACKOFF_MAX);
        }
    }

    fn hold(&self, fires: &[LeasedFire]) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        for f in fires {
            held.insert(
                f.id,
                Held {
                    seq: f.lease_seq,
                    sent: false,
                },
            );
        }
    }

    fn mark_sent(&self, id: Uuid) {
        if let Some(h) = self
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(&id)
        {
            h.sent = true;
        }
    }

    fn was_sent(&self, id: Uuid) -> bool {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .is_some_and(|h| h.sent)
    }

    fn held_count(&self) -> usize {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn held_leases(&self) -> Vec<Release> {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(id, h)| Release {
                token: LeaseToken {
                    fire_id: *id,
                    seq: h.seq,
                },
                sent: h.sent,
            })
            .collect()
    }

    /// One round: claim due schedulers, then lease waiting fires. True when either came back
    /// full, so the loop goes again at once.
    async fn take_work(self: &Arc<Self>, work: &mut Work<'_>) -> Result<Round, StoreError> {
        let batch = i64::from(self.config.batch_size);
        let now = self.clock.now();
        let grace = delta(self.config.misfire_grace);
        let claim = fires::claim_due(
            &self.pool,
            ClaimRequest {
                now,
                limit: batch,
                lease: self.lease_at(now),
            },
            |r| plan(r, now, grace),
        )
        .await?;
        if claim.schedulers > 0 {
            self.metrics.claim_batch.observe(claim.schedulers as f64);
        }
        if claim.deferred > 0 {
            self.metrics.deferred.inc_by(claim.deferred as u64);
        }
        let claimed_full = claim.schedulers as i64 >= batch;
        let claimed_any = !claim.fires.is_empty();
        if !claim.fires.is_empty() {
            tracing::debug!(
                schedulers = claim.schedulers,
                fires = claim.fires.len(),
                deferred = claim.deferred,
                "claimed"
            );
        }
        self.dispatch(claim.fires, true, work).await?;
        if work.shutdown.is_cancelled() {
            return Ok(Round::default());
        }

        let room = work.semaphore.available_permits().min(batch as usize);
        if room == 0 {
            return Ok(Round {
                full: claimed_full,
                took: claimed_any,
            });
        }
        let now = self.clock.now();
        let leased =
            fires::lease_available(&self.pool, now, room as i64, self.lease_at(now)).await?;
        let leased_full = leased.len() >= room;
        let leased_any = !leased.is_empty();
        self.dispatch(leased, false, work).await?;
        Ok(Round {
            full: claimed_full || leased_full,
            took: claimed_any || leased_any,
        })
    }

    /// How long to wait when there is nothing more to take now: until the earliest due
    /// instant, at most the poll interval, at least [`MIN_IDLE`] after a round that took
    /// nothing.
    async fn idle_wait(&self, took: bool) -> Duration {
        let poll = self.config.poll_interval;
        let least = if took { Duration::ZERO } else { MIN_IDLE };
        match fires::next_wakeup(&self.pool).await {
            Ok(Some(t)) => (t - self.clock.now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .clamp(least, poll.max(least)),
            Ok(None) => poll,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the next due time");
                poll
            }
        }
    }

    /// What delivery needs of the given schedulers, in two queries whatever their number:
    /// the schedulers (with their organization's secret) and their attachments. A deleted
    /// scheduler is absent.
    async fn prepare(&self, ids: &[String]) -> Result<HashMap<String, Arc<Prepared>>, StoreError> {
        let contexts = fires::delivery_contexts(&self.pool, ids).await?;
        let files = attachments::list_many(&self.pool, ids).await?;
        let mut files_of: HashMap<String, Vec<AttachmentRecord>> = HashMap::new();
        for r in files {
            files_of.entry(r.scheduler_id.clone()).or_default().push(r);
        }
        Ok(contexts
            .into_iter()
            .map(|ctx| {
                let spec = job_spec(&ctx.job).map_err(|e| format!("invalid job: {e}"));
                let mut files = files_of.remove(&ctx.scheduler_id).unwrap_or_default();
                // Only objects of the scheduler's own organization are ever signed.
                files.retain(|r| r.organization_id == ctx.organization_id);
                let id = ctx.scheduler_id.clone();
                (id, Arc::new(Prepared { ctx, spec, files }))
            })
            .collect())
    }

    /// Gives back leases on which nothing was sent, at once, with their attempts. Returns
    /// after the write went through (or the shutdown deadline passed).
    async fn give_back_unsent(&self, fires: &[LeasedFire]) {
        let leases: Vec<Release> = fires
            .iter()
            .map(|f| Release {
                token: f.token(),
                sent: false,
            })
            .collect();
        let now = self.clock.now();
        let given = self
            .durably("give back unsent fires", || {
                fires::release(&self.pool, &leases, now)
            })
            .await;
        // Unless the shutdown deadline cut it short (then `run` gives them back at the end),
        // stop renewing: given back, or refused for good and left to expire.
        if given.is_some() || !self.give_up.is_cancelled() {
            self.forget(fires.iter().map(|f| f.id));
        }
    }

    /// Starts a delivery task for each fire, waiting for a free slot when `concurrency` are in
    /// flight. Fires that never got a task (shutdown) stay held, unsent, and are given back at
    /// the end of `run`.
    async fn dispatch(
        self: &Arc<Self>,
        fires: Vec<LeasedFire>,
        claimed: bool,
        work: &mut Work<'_>,
    ) -> Result<(), StoreError> {
        if fires.is_empty() {
            return Ok(());
        }
        self.hold(&fires);
        let ids: Vec<String> = fires
            .iter()
            .map(|f| f.scheduler_id.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let prepared = match self.prepare(&ids).await {
            Ok(p) => p,
            Err(e) => {
                // Nothing was sent: the fires are available again at once, attempts unchanged.
                self.give_back_unsent(&fires).await;
                return Err(e);
            }
        };
        for fire in fires {
            let permit = tokio::select! {
                p = work.semaphore.clone().acquire_owned() => p.expect("the semaphore is never closed"),
                () = work.shutdown.cancelled() => return Ok(()),
            };
            let prepared = prepared.get(&fire.scheduler_id).cloned();
            // A fire counts as claimed once: when its claim leased it, or, when its flexible
            // window deferred it, at its first lease (the claim inserted it with lease_seq 0).
            if claimed || (fire.deliver_at.is_some() && fire.lease_seq == 1) {
                if let Some(t) = prepared.as_ref().and_then(|p| p.target()) {
                    Metrics::inc(&self.metrics.claimed, t);
                }
            }
            let shared = self.clone();
            let done = work.done.clone();
            work.tasks
                .spawn(async move { shared.deliver(fire, prepared, permit, done).await });
        }
        Ok(())
    }

    fn forget(&self, ids: impl Iterator<Item = Uuid>) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        for id in ids {
            held.remove(&id);
        }
    }

    fn limits(&self, spec: &JobSpec) -> Limits {
        let r = spec.retry;
        Limits {
            max_attempts: r
                .and_then(|r| r.max_attempts)
                .unwrap_or(self.config.retry.max_attempts),
            max_age: r
                .and_then(|r| r.max_age_secs)
                .map_or(self.config.retry.max_age, |s| Duration::from_secs(s.into())),
        }
    }

    /// One attempt of one fire, and its outcome recorded.
    async fn deliver(
        self: Arc<Self>,
        fire: LeasedFire,
        prepared: Option<Arc<Prepared>>,
        permit: OwnedSemaphorePermit,
        done: mpsc::UnboundedSender<Delivered>,
    ) {
        let attempt = u32::try_from(fire.attempts).unwrap_or(u32::MAX);
        let verdict = match prepared.as_deref() {
            // Deleted meanwhile: its open fires were cancelled with it, and this is a no-op.
            None => Verdict::Dead("the scheduler no longer exists".to_owned()),
            Some(Prepared { spec: Err(e), .. }) => Verdict::Dead(e.clone()),
            Some(Prepared {
                ctx,
                spec: Ok(spec),
                files,
            }) => {
                let limits = self.limits(spec);
                if attempt > limits.max_attempts {
                    // Only after runners died mid-delivery: a lease whose holder died counts as
                    // an attempt (it may have sent), so a fire that keeps killing its runner
                    // stops being taken.
                    Verdict::Dead(format!(
                        "attempt {attempt} exceeds max_attempts {} (earlier attempts were interrupted)",
                        limits.max_attempts
                    ))
                } else {
                    let started = std::time::Instant::now();
                    let result = self.attempt(&fire, ctx, spec, files).await;
                    let target = prepared.as_deref().and_then(Prepared::target);
                    if let Some(t) = target {
                        self.metrics
                            .duration
                            .get_or_create(&crate::metrics::TargetLabels { target: t })
                            .observe(started.elapsed().as_secs_f64());
                    }
                    let now = self.clock.now();
                    match result {
                        Ok(()) => {
                            if let Some(t) = target {
                                Metrics::inc(&self.metrics.delivered, t);
                                let lag = (now - fire.scheduled_for).num_milliseconds().max(0);
                                self.metrics
                                    .lag
                                    .get_or_create(&crate::metrics::TargetLabels { target: t })
                                    .observe(lag as f64 / 1000.0);
                            }
                            tracing::debug!(fire_id = %fire.id, scheduler_id = %fire.scheduler_id, attempt, "fire delivered");
                            // The writer records it (batched) and only then lets the lease go.
                            let delivered = Delivered {
                                token: fire.token(),
                                at: now,
                                _permit: permit,
                            };
                            if let Err(mpsc::error::SendError(d)) = done.send(delivered) {
                                // The writer is gone (cannot happen before all tasks end).
                                self.write_delivered(vec![d]).await;
                            }
                            return;
                        }
                        Err(failure) => verdict(
                            &failure,
                            attempt,
                            fire.created_at,
                            now,
                            limits,
                            &self.config.retry,
                            &mut rand::thread_rng(),
                        ),
                    }
                }
            }
        };
        self.record_failure(&fire, prepared.as_deref(), verdict)
            .await;
        drop(permit);
    }

    /// The envelope's `files`: each attachment with a URL made now, so every attempt (a retry
    /// hours later too) carries one valid for the whole `presign_ttl` (presigning is local
    /// computation: no network call with static credentials).
    /// `file_url` is null without a file store.
    async fn file_items(&self, files: &[AttachmentRecord]) -> Result<Vec<Value>, String> {
        let mut items = Vec::with_capacity(files.len());
        for r in files {
            let url = match &self.files {
                Some(store) => Some(store.file_url(&r.file_path).await.map_err(|e| {
                    format!("cannot make the URL of attachment {}: {e}", r.file_id)
                })?),
                None => None,
            };
            items.push(file_item(r, url));
        }
        Ok(items)
    }

    async fn attempt(
        &self,
        fire: &LeasedFire,
        ctx: &DeliveryContext,
        spec: &JobSpec,
        files: &[AttachmentRecord],
    ) -> Result<(), Failure> {
        // A URL that cannot be made now (credentials unavailable) may be makeable later.
        let files = self.file_items(files).await.map_err(Failure::Retryable)?;
        let fired_at = self.clock.now();
        let body = envelope(fire, ctx, spec.workflow_id.as_deref(), files, fired_at).to_bytes();
        let fire_id = fire.id.to_string();
        match &spec.target {
            JobTarget::Kafka { topic } => {
                let Some(kafka) = &self.kafka else {
                    return Err(Failure::Retryable(
                        "Kafka is not configured on this runner (KAFKA_BROKERS)".to_owned(),
                    ));
                };
                self.mark_sent(fire.id);
                kafka
                    .send(KafkaMessage {
                        topic,
                        key: &fire.scheduler_id,
                        headers: &[
                            ("fire-id", &fire_id),
                            ("event-type", &ctx.event_type),
                            ("organization-id", &fire.organization_id),
                        ],
                        payload: &body,
                    })
                    .await
            }
            JobTarget::Webhook {
                url,
                method,
                headers,
                timeout_ms,
            } => {
                let method = reqwest::Method::from_bytes(method.as_str().as_bytes())
                    .map_err(|e| Failure::Permanent(e.to_string()))?;
                let body = (method != reqwest::Method::GET).then_some(body);
                self.mark_sent(fire.id);
                self.webhook
                    .send(WebhookRequest {
                        url,
                        method,
                        headers,
                        timeout: Duration::from_millis(u64::from(*timeout_ms)),
                        fire_id: &fire_id,
                        timestamp: fired_at.timestamp(),
                        body,
                        secret: &ctx.signing_secret,
                    })
                    .await
            }
        }
    }

    /// Records a failed attempt (retry or dead) under the fire's lease, waiting out a database
    /// outage, and lets the lease go once it is written. A dead fire's dead letter is produced
    /// only after `dead` is recorded under the lease: a holder whose lease moved on records
    /// nothing and sends nothing.
    async fn record_failure(&self, fire: &LeasedFire, prepared: Option<&Prepared>, v: Verdict) {
        let target = prepared.and_then(Prepared::target);
        let sent = self.was_sent(fire.id);
        let written = match &v {
            Verdict::RetryAt(at, error) => {
                tracing::info!(fire_id = %fire.id, scheduler_id = %fire.scheduler_id, attempt = fire.attempts, sent, retry_at = %at, error, "delivery failed; will retry");
                let failure = fires::Failure {
                    token: fire.token(),
                    error,
                    sent,
                };
                let written = self
                    .durably("record a failed attempt", || {
                        fires::mark_retrying(&self.pool, &failure, *at)
                    })
                    .await;
                if let (Some(true), Some(t)) = (written, target) {
                    Metrics::inc(&self.metrics.retried, t);
                }
                written
            }
            Verdict::Dead(error) => {
                tracing::warn!(fire_id = %fire.id, scheduler_id = %fire.scheduler_id, attempt = fire.attempts, sent, error, "fire is dead");
                let failure = fires::Failure {
                    token: fire.token(),
                    error,
                    sent,
                };
                // With a dead-letter topic the lease is kept until the dead letter is out.
                let dead_letter = prepared.filter(|_| self.dead_letters_on());
                let hold = dead_letter.map(|_| self.lease_at(self.clock.now()).until);
                let written = self
                    .durably("record a dead fire", || {
                        fires::mark_dead(&self.pool, &failure, self.clock.now(), hold)
                    })
                    .await;
                if written == Some(true) {
                    if let Some(t) = target {
                        Metrics::inc(&self.metrics.dead, t);
                    }
                    if let Some(p) = dead_letter {
                        self.dead_letter(fire, Some(p), error).await;
                    }
                }
                written
            }
        };
        match written {
            Some(true) => {}
            Some(false) => {
                tracing::info!(fire_id = %fire.id, lease_seq = fire.lease_seq, "the lease moved on (taken over, or the fire was cancelled); this outcome is dropped")
            }
            // The shutdown deadline passed: the lease stays held and is given back (or expires).
            None if self.give_up.is_cancelled() => return,
            // Refused for good: stop renewing, so the lease expires and the fire is taken again.
            None => {}
        }
        self.forget(std::iter::once(fire.id));
    }

    /// Produces a dead fire's envelope, with its last error, to the dead-letter topic, and
    /// records whether it went out: `sent`, or still `pending` for any runner to try again.
    /// A fire whose scheduler is gone gets an envelope of what the fire row knows.
    async fn dead_letter(&self, fire: &LeasedFire, prepared: Option<&Prepared>, error: &str) {
        let (Some(topic), Some(kafka)) = (&self.config.dead_letter_topic, &self.kafka) else {
            return;
        };
        let body = match prepared {
            Some(p) => {
                // A dead letter goes out even when its URLs cannot be made.
                let files = match self.file_items(&p.files).await {
                    Ok(items) => items,
                    Err(e) => {
                        tracing::warn!(fire_id = %fire.id, error = %e, "dead letter without file URLs");
                        p.files.iter().map(|r| file_item(r, None)).collect()
                    }
                };
                let workflow_id = p.spec.as_ref().ok().and_then(|s| s.workflow_id.as_deref());
                let mut env = envelope(fire, &p.ctx, workflow_id, files, self.clock.now());
                env.last_error = Some(error);
                env.to_bytes()
            }
            None => serde_json::to_vec(&serde_json::json!({
                "fire_id": fire.id.to_string(),
                "scheduler_id": fire.scheduler_id,
                "organization_id": fire.organization_id,
                "scheduled_for": crate::envelope::rfc3339_ms(fire.scheduled_for),
                "attempt": fire.attempts,
                "last_error": error,
            }))
            .unwrap_or_default(),
        };
        let fire_id = fire.id.to_string();
        let event_type = prepared.map_or("", |p| p.ctx.event_type.as_str());
        let sent = kafka
            .send(KafkaMessage {
                topic,
                key: &fire.scheduler_id,
                headers: &[
                    ("fire-id", &fire_id),
                    ("event-type", event_type),
                    ("organization-id", &fire.organization_id),
                    ("error", error),
                ],
                payload: &body,
            })
            .await;
        let token = fire.token();
        let recorded = match sent {
            Ok(()) => {
                self.durably("record a produced dead letter", || {
                    fires::mark_dead_letter_sent(&self.pool, token)
                })
                .await
            }
            Err(f) => {
                tracing::warn!(fire_id = %fire.id, error = f.message(), "cannot produce to the dead-letter topic; it stays pending and is tried again");
                let retry_at = self.clock.now() + delta(DEAD_LETTER_RETRY);
                self.durably("record a pending dead letter", || {
                    fires::retry_dead_letter(&self.pool, token, retry_at)
                })
                .await
            }
        };
        if recorded == Some(false) {
            tracing::info!(fire_id = %fire.id, "the dead letter's lease moved on; another runner owns it");
        }
    }

    /// Writes delivered outcomes (one statement for the batch, retried until the database
    /// takes it) and only then lets their leases go.
    async fn write_delivered(&self, batch: Vec<Delivered>) {
        let tokens: Vec<LeaseToken> = batch.iter().map(|d| d.token).collect();
        let ats: Vec<DateTime<Utc>> = batch.iter().map(|d| d.at).collect();
        let written = self
            .durably("record delivered fires", || {
                fires::mark_delivered_many(&self.pool, &tokens, &ats)
            })
            .await;
        match written {
            Some(n) => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                if n < tokens.len() {
                    tracing::info!(
                        dropped = tokens.len() - n,
                        "delivered fires not recorded: cancelled, or their lease moved on"
                    );
                }
                self.forget(tokens.iter().map(|t| t.fire_id));
            }
            // Refused for good: stop renewing; the fires are delivered again after the lease.
            None if !self.give_up.is_cancelled() => self.forget(tokens.iter().map(|t| t.fire_id)),
            // Shutdown deadline: they stay held and are given back at the end if possible.
            None => {}
        }
        // Dropping the batch frees its delivery slots.
    }
}

/// Records delivered fires in batches: one statement for everything that finished since the
/// last one, so a burst costs a few round trips instead of one per fire.
async fn write_delivered(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Delivered>) {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while let Some(d) = rx.recv().await {
        batch.push(d);
        while batch.len() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(d) => batch.push(d),
                Err(_) => break,
            }
        }
        shared
            .write_delivered(std::mem::replace(
                &mut batch,
                Vec::with_capacity(WRITE_BATCH),
            ))
            .await;
    }
}

/// Every poll interval, takes pending dead letters that no runner holds (a produce failed, or
/// its runner died) and produces them again, until the broker takes them.
async fn dead_letters(shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(shared.config.poll_interval) => {}
        }
        let now = shared.clock.now();
        let leased = match fires::lease_dead_letters(
            &shared.pool,
            now,
            DEAD_LETTER_BATCH,
            shared.lease_at(now),
        )
        .await
        {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot take pending dead letters");
                continue;
            }
        };
        if leased.is_empty() {
            continue;
        }
        shared.hold(&leased);
        let ids: Vec<String> = leased
            .iter()
            .map(|f| f.scheduler_id.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let prepared = match shared.prepare(&ids).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the schedulers of pending dead letters");
                shared.give_back_unsent(&leased).await;
                continue;
            }
        };
        let sends = leased.iter().map(|fire| {
            let p = prepared.get(&fire.scheduler_id).map(Arc::as_ref);
            let error = fire.last_error.as_deref().unwrap_or("dead");
            shared.dead_letter(fire, p, error)
        });
        futures::future::join_all(sends).await;
        shared.forget(leased.iter().map(|f| f.id));
    }
}

/// Every `prune_interval`, removes the fires past their retention, a batch at a time until
/// none is left. After each batch it pauses twice as long as the batch took, so pruning a
/// backlog (a service stopped longer than the retention, or retention just shortened) takes
/// at most a third of the database's time from claims and deliveries. Every runner prunes;
/// `SKIP LOCKED` keeps them from waiting on each other.
async fn prune(shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(shared.config.prune_interval) => {}
        }
        loop {
            let started = std::time::Instant::now();
            let now = shared.clock.now();
            let n =
                match fires::prune(&shared.pool, now, shared.config.retention, PRUNE_BATCH).await {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot prune the fire history");
                        break;
                    }
                };
            shared.metrics.pruned.inc_by(n);
            if n > 0 {
                tracing::debug!(removed = n, "pruned finished fires");
            }
            if n < PRUNE_BATCH as u64 {
                break;
            }
            let pause = (started.elapsed() * 2).max(Duration::from_millis(10));
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }
}

/// Every [`FOLD_INTERVAL`]: folds the list-count deltas the API's writes appended into the
/// kept counts (`schedulers::fold_counts`), so a list's `total` reads a few rows.
async fn fold_counts(shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(FOLD_INTERVAL) => {}
        }
        loop {
            match scheduler_store::schedulers::fold_counts(&shared.pool, FOLD_BATCH).await {
                Ok(n) if n >= FOLD_BATCH as u64 && !stop.is_cancelled() => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "cannot fold the list counts");
                    break;
                }
            }
        }
    }
}

/// Every third of the lease: follows the database's clock, and renews the leases this runner
/// holds (fires in delivery, outcomes not written yet, dead letters being produced).
async fn heartbeat(shared: Arc<Shared>, stop: CancellationToken) {
    let every = (shared.config.lease / 3).max(Duration::from_millis(100));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        shared.sync_clock().await;
        match fires::next_wakeup(&shared.pool).await {
            Ok(next) => {
                let behind = next.map_or(0.0, |t| {
                    (shared.clock.now() - t).num_milliseconds().max(0) as f64 / 1000.0
                });
                shared.metrics.due_behind.set(behind);
            }
            Err(e) => tracing::debug!(error = %e, "cannot read the oldest due instant"),
        }
        let tokens: Vec<LeaseToken> = shared.held_leases().iter().map(|r| r.token).collect();
        // Runners alive, for operators (admin route, console); a failed write only hides it.
        if let Err(e) = scheduler_store::runners::heartbeat(
            &shared.pool,
            &shared.config.owner,
            shared.clock.now(),
            tokens.len(),
        )
        .await
        {
            tracing::debug!(error = %e, "cannot record the heartbeat");
        }
        if tokens.is_empty() {
            continue;
        }
        let until = shared.lease_at(shared.clock.now()).until;
        if let Err(e) = fires::extend_leases(&shared.pool, &tokens, until).await {
            tracing::warn!(error = %e, "cannot renew leases");
        }
    }
}

/// Wakes the loop on `NOTIFY scheduler_due`. A hint only: polling is the guarantee, so a lost
/// connection is reconnected with backoff and costs at most a poll interval of latency.
/// Notifications that arrive while the loop is busy collapse into one wake-up.
async fn listen(pool: PgPool, wake: Arc<Notify>, stop: CancellationToken) {
    let mut backoff = Duration::from_millis(500);
    loop {
        let session = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(DUE_CHANNEL).await?;
            // Anything announced while we were not listening is picked up now.
            wake.notify_one();
            loop {
                let n = listener.recv().await?;
                tracing::trace!(payload = n.payload(), "due notification");
                // Every waiting claimer, and the next one to wait if none is.
                wake.notify_waiters();
                wake.notify_one();
            }
        };
        let started = std::time::Instant::now();
        let result: Result<(), sqlx::Error> = tokio::select! {
            () = stop.cancelled() => return,
            r = session => r,
        };
        if started.elapsed() > Duration::from_secs(60) {
            backoff = Duration::from_millis(500);
        }
        if let Err(e) = result {
            tracing::warn!(error = %e, "LISTEN connection lost; reconnecting");
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}
