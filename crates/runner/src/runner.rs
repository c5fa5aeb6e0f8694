//! The claim loop and the life of one delivery.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use prometheus_client::registry::Registry;
use scheduler_core::job::{job_spec, JobSpec, JobTarget};
use scheduler_core::{Plan, PlanInput};
use scheduler_files::FileStore;
use scheduler_store::attachments::{self, AttachmentRecord};
use scheduler_store::fires::{self, ClaimRequest, DeliveryContext, Lease, LeasedFire};
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

/// Shortest idle wait, so a due row that cannot be taken right now (locked by another
/// runner's claim) does not make the loop spin.
const MIN_IDLE: Duration = Duration::from_millis(10);
/// Most outcomes written in one statement.
const WRITE_BATCH: usize = 1000;

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
    /// Fires leased to this runner and not yet recorded: the heartbeat renews their leases.
    in_flight: Mutex<HashSet<Uuid>>,
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
                in_flight: Mutex::new(HashSet::new()),
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

    /// Runs until `shutdown` is cancelled; then stops claiming, lets in-flight deliveries
    /// finish until the shutdown deadline, records their outcomes, gives back the leases of
    /// anything left, and returns. Database errors inside the loop are logged and retried,
    /// never fatal.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), RunnerError> {
        let shared = self.shared;
        let cfg = &shared.config;
        tracing::info!(owner = %cfg.owner, batch_size = cfg.batch_size, concurrency = cfg.concurrency, "runner started");

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
        let semaphore = Arc::new(Semaphore::new(cfg.concurrency));
        let mut tasks = JoinSet::new();
        let mut clock_moved = shared.clock.subscribe();
        let mut work = Work {
            semaphore: &semaphore,
            tasks: &mut tasks,
            done: &done_tx,
            shutdown: &shutdown,
        };

        loop {
            if shutdown.is_cancelled() {
                break;
            }
            while work.tasks.try_join_next().is_some() {}
            let busy = match shared.take_work(&mut work).await {
                Ok(busy) => busy,
                Err(e) => {
                    tracing::warn!(error = %e, "claim failed; retrying after the poll interval");
                    false
                }
            };
            if busy {
                continue;
            }
            let idle = shared.idle_wait().await;
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = wake.notified() => {}
                () = moved(&mut clock_moved) => {}
                () = tokio::time::sleep(idle) => {}
            }
        }

        // Shutdown: no new claims; in-flight deliveries get until the deadline.
        let in_flight = tasks.len();
        tracing::info!(in_flight, "runner stopping");
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(cfg.shutdown_deadline, drain)
            .await
            .is_err()
        {
            tracing::warn!(
                left = tasks.len(),
                "shutdown deadline reached; abandoning the remaining deliveries"
            );
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        drop(done_tx);
        if tokio::time::timeout(Duration::from_secs(10), writer)
            .await
            .is_err()
        {
            tracing::warn!("recording delivered fires did not finish in time");
        }
        stop_heartbeat.cancel();
        let _ = heartbeat.await;
        let _ = listener.await;
        if shared.kafka.is_some() {
            // Dead-letter messages may still be queued; flushing blocks, so off the runtime.
            let s = shared.clone();
            let _ = tokio::task::spawn_blocking(move || {
                if let Some(k) = &s.kafka {
                    k.flush(Duration::from_secs(2));
                }
            })
            .await;
        }
        match fires::release_leases(&shared.pool, &cfg.owner, shared.clock.now()).await {
            Ok(n) => tracing::info!(released = n, "runner stopped"),
            Err(e) => tracing::error!(error = %e, "cannot release leases; they will expire"),
        }
        Ok(())
    }
}

/// The loop's handles on the deliveries it starts.
struct Work<'a> {
    semaphore: &'a Arc<Semaphore>,
    tasks: &'a mut JoinSet<()>,
    done: &'a mpsc::UnboundedSender<(Uuid, DateTime<Utc>)>,
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

    /// One round: claim due schedulers, then lease waiting fires. True when either came back
    /// full, so the loop goes again at once.
    async fn take_work(self: &Arc<Self>, work: &mut Work<'_>) -> Result<bool, StoreError> {
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
        let claimed_full = claim.schedulers as i64 >= batch;
        if !claim.fires.is_empty() {
            tracing::debug!(
                schedulers = claim.schedulers,
                fires = claim.fires.len(),
                "claimed"
            );
        }
        self.dispatch(claim.fires, true, work).await?;
        if work.shutdown.is_cancelled() {
            return Ok(false);
        }

        let room = work.semaphore.available_permits().min(batch as usize);
        if room == 0 {
            return Ok(claimed_full);
        }
        let now = self.clock.now();
        let leased =
            fires::lease_available(&self.pool, now, room as i64, self.lease_at(now)).await?;
        let leased_full = leased.len() >= room;
        self.dispatch(leased, false, work).await?;
        Ok(claimed_full || leased_full)
    }

    /// How long to wait when there was nothing to do: until the earliest due instant, at most
    /// the poll interval.
    async fn idle_wait(&self) -> Duration {
        let poll = self.config.poll_interval;
        match fires::next_wakeup(&self.pool).await {
            Ok(Some(t)) => (t - self.clock.now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .clamp(MIN_IDLE, poll.max(MIN_IDLE)),
            Ok(None) => poll,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the next due time");
                poll
            }
        }
    }

    /// Starts a delivery task for each fire, waiting for a free slot when `concurrency` are in
    /// flight. Leased fires that never got a task (shutdown) keep their lease until
    /// `release_leases` at the end of `run`.
    async fn dispatch(
        self: &Arc<Self>,
        fires: Vec<LeasedFire>,
        claimed: bool,
        work: &mut Work<'_>,
    ) -> Result<(), StoreError> {
        if fires.is_empty() {
            return Ok(());
        }
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(fires.iter().map(|f| f.id));
        let ids: Vec<String> = fires
            .iter()
            .map(|f| f.scheduler_id.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        // Two queries for the whole batch, whatever its size: the schedulers and their
        // attachments.
        let read = async {
            let contexts = fires::delivery_contexts(&self.pool, &ids).await?;
            let files = attachments::list_many(&self.pool, &ids).await?;
            Ok::<_, StoreError>((contexts, files))
        };
        let (contexts, files) = match read.await {
            Ok(c) => c,
            Err(e) => {
                // The leases expire and the fires are taken again.
                self.forget(fires.iter().map(|f| f.id));
                return Err(e);
            }
        };
        let mut files_of: HashMap<String, Vec<AttachmentRecord>> = HashMap::new();
        for r in files {
            files_of.entry(r.scheduler_id.clone()).or_default().push(r);
        }
        let prepared: HashMap<String, Arc<Prepared>> = contexts
            .into_iter()
            .map(|ctx| {
                let spec = job_spec(&ctx.job).map_err(|e| format!("invalid job: {e}"));
                let mut files = files_of.remove(&ctx.scheduler_id).unwrap_or_default();
                // Only objects of the scheduler's own organization are ever signed.
                files.retain(|r| r.organization_id == ctx.organization_id);
                let id = ctx.scheduler_id.clone();
                (id, Arc::new(Prepared { ctx, spec, files }))
            })
            .collect();
        let mut fires = fires.into_iter();
        while let Some(fire) = fires.next() {
            let permit = tokio::select! {
                p = work.semaphore.clone().acquire_owned() => p.expect("the semaphore is never closed"),
                () = work.shutdown.cancelled() => {
                    self.forget(std::iter::once(fire.id).chain(fires.map(|f| f.id)));
                    return Ok(());
                }
            };
            let prepared = prepared.get(&fire.scheduler_id).cloned();
            if claimed {
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
        let mut set = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for id in ids {
            set.remove(&id);
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
        _permit: OwnedSemaphorePermit,
        done: mpsc::UnboundedSender<(Uuid, DateTime<Utc>)>,
    ) {
        let attempt = u32::try_from(fire.attempts).unwrap_or(u32::MAX);
        let outcome = match prepared.as_deref() {
            // Deleted meanwhile: its open fires were cancelled with it, and this is a no-op.
            None => Some(Verdict::Dead("the scheduler no longer exists".to_owned())),
            Some(Prepared { spec: Err(e), .. }) => Some(Verdict::Dead(e.clone())),
            Some(Prepared {
                ctx,
                spec: Ok(spec),
                files,
            }) => {
                let limits = self.limits(spec);
                if attempt > limits.max_attempts {
                    // Only after runners died mid-delivery: each lease counts as an attempt,
                    // so a fire that keeps killing its runner stops being taken.
                    Some(Verdict::Dead(format!(
                        "attempt {attempt} exceeds max_attempts {} (earlier attempts were interrupted)",
                        limits.max_attempts
                    )))
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
                            if done.send((fire.id, now)).is_err() {
                                // The writer is gone (cannot happen before all tasks end).
                                let _ = fires::mark_delivered(&self.pool, fire.id, now).await;
                            }
                            None
                        }
                        Err(failure) => Some(verdict(
                            &failure,
                            attempt,
                            fire.created_at,
                            now,
                            limits,
                            &self.config.retry,
                            &mut rand::thread_rng(),
                        )),
                    }
                }
            }
        };
        if let Some(v) = outcome {
            self.record_failure(&fire, prepared.as_deref(), v).await;
        }
        self.forget(std::iter::once(fire.id));
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
        let body = envelope(fire, ctx, spec.workflow_id.as_deref(), files, fired_at);
        let body = serde_json::to_vec(&body).map_err(|e| Failure::Permanent(e.to_string()))?;
        let fire_id = fire.id.to_string();
        match &spec.target {
            JobTarget::Kafka { topic } => {
                let Some(kafka) = &self.kafka else {
                    return Err(Failure::Retryable(
                        "Kafka is not configured on this runner (KAFKA_BROKERS)".to_owned(),
                    ));
                };
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

    async fn record_failure(&self, fire: &LeasedFire, prepared: Option<&Prepared>, v: Verdict) {
        let target = prepared.and_then(Prepared::target);
        let result = match &v {
            Verdict::RetryAt(at, error) => {
                if let Some(t) = target {
                    Metrics::inc(&self.metrics.retried, t);
                }
                tracing::info!(fire_id = %fire.id, scheduler_id = %fire.scheduler_id, attempt = fire.attempts, retry_at = %at, error, "delivery failed; will retry");
                fires::mark_retrying(&self.pool, fire.id, *at, error).await
            }
            Verdict::Dead(error) => {
                if let Some(t) = target {
                    Metrics::inc(&self.metrics.dead, t);
                }
                tracing::warn!(fire_id = %fire.id, scheduler_id = %fire.scheduler_id, attempt = fire.attempts, error, "fire is dead");
                if let Some(p) = prepared {
                    self.dead_letter(fire, p, error).await;
                }
                fires::mark_dead(&self.pool, fire.id, error).await
            }
        };
        if let Err(e) = result {
            // The lease expires and the fire is taken again: a late duplicate, never a loss.
            tracing::error!(fire_id = %fire.id, error = %e, "cannot record a failed attempt");
        }
    }

    /// Produces a dead fire's envelope, with its last error, to the dead-letter topic.
    async fn dead_letter(&self, fire: &LeasedFire, prepared: &Prepared, error: &str) {
        let (Some(topic), Some(kafka)) = (&self.config.dead_letter_topic, &self.kafka) else {
            return;
        };
        let ctx = &prepared.ctx;
        // Best effort: a dead letter goes out even when its URLs cannot be made.
        let files = match self.file_items(&prepared.files).await {
            Ok(items) => items,
            Err(e) => {
                tracing::warn!(fire_id = %fire.id, error = %e, "dead letter without file URLs");
                prepared.files.iter().map(|r| file_item(r, None)).collect()
            }
        };
        let mut body = envelope(
            fire,
            ctx,
            prepared
                .spec
                .as_ref()
                .ok()
                .and_then(|s| s.workflow_id.as_deref()),
            files,
            self.clock.now(),
        );
        body["last_error"] = serde_json::Value::String(error.to_owned());
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let fire_id = fire.id.to_string();
        let sent = kafka
            .send(KafkaMessage {
                topic,
                key: &fire.scheduler_id,
                headers: &[
                    ("fire-id", &fire_id),
                    ("event-type", &ctx.event_type),
                    ("organization-id", &fire.organization_id),
                    ("error", error),
                ],
                payload: &body,
            })
            .await;
        if let Err(f) = sent {
            tracing::error!(fire_id = %fire.id, error = f.message(), "cannot produce to the dead-letter topic");
        }
    }
}

/// Records delivered fires in batches: one statement for everything that finished since the
/// last one, so a burst costs a few round trips instead of one per fire.
async fn write_delivered(
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<(Uuid, DateTime<Utc>)>,
) {
    let mut ids = Vec::with_capacity(WRITE_BATCH);
    let mut ats = Vec::with_capacity(WRITE_BATCH);
    while let Some((id, at)) = rx.recv().await {
        ids.push(id);
        ats.push(at);
        while ids.len() < WRITE_BATCH {
            match rx.try_recv() {
                Ok((id, at)) => {
                    ids.push(id);
                    ats.push(at);
                }
                Err(_) => break,
            }
        }
        for attempt in 1..=3u64 {
            match fires::mark_delivered_many(&shared.pool, &ids, &ats).await {
                Ok(_) => break,
                Err(e) => {
                    // Unrecorded fires are redelivered when their lease expires.
                    tracing::error!(error = %e, fires = ids.len(), attempt, "cannot record delivered fires");
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
            }
        }
        ids.clear();
        ats.clear();
    }
}

/// Renews the leases of the fires this runner holds, every third of the lease.
async fn heartbeat(shared: Arc<Shared>, stop: CancellationToken) {
    let every = (shared.config.lease / 3).max(Duration::from_millis(100));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let ids: Vec<Uuid> = shared
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .copied()
            .collect();
        if ids.is_empty() {
            continue;
        }
        let now = shared.clock.now();
        if let Err(e) = fires::extend_leases(&shared.pool, &ids, shared.lease_at(now)).await {
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
