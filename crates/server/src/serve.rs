//! `scheduler serve`: the HTTP API and/or the runner until SIGTERM/SIGINT.

use std::future::IntoFuture as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use prometheus_client::registry::Registry;
use scheduler_api::{ApiConfig, AppState};
use scheduler_files::{FileStore, FileStoreConfig};
use scheduler_runner::{KafkaConfig, RetryConfig, Runner, RunnerConfig};
use scheduler_store::PgPool;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

use crate::cli::DbArgs;
use crate::ops::{self, HttpMetrics, ReadinessCheck};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// The HTTP API only.
    Api,
    /// The runner only (it still serves /healthz, /readyz and /metrics).
    Runner,
    /// Both in one process.
    All,
}

impl Role {
    fn api(self) -> bool {
        matches!(self, Role::Api | Role::All)
    }
    fn runner(self) -> bool {
        matches!(self, Role::Runner | Role::All)
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// What this process runs.
    #[arg(long, env = "ROLE", value_enum, default_value_t = Role::All)]
    pub role: Role,
    /// Address the HTTP server (API and /healthz, /readyz, /metrics) listens on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// Token the `/admin/...` routes require in `x-admin-token`; without it they are off.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Seconds in-flight requests and deliveries get after SIGTERM/SIGINT before exit.
    #[arg(long, env = "SHUTDOWN_TIMEOUT_SECS", default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub shutdown_timeout_secs: u64,
    /// Apply pending migrations before serving.
    #[arg(long, env = "MIGRATE_ON_START", default_value_t = false)]
    pub migrate: bool,
    #[command(flatten)]
    pub s3: S3Args,
    #[command(flatten)]
    pub runner: RunnerArgs,
}

/// Attachment storage. Without `S3_BUCKET` the file routes answer 503.
#[derive(Debug, Args)]
pub struct S3Args {
    /// Bucket the attachments are stored in.
    #[arg(long, env = "S3_BUCKET")]
    pub s3_bucket: Option<String>,
    /// Region of the bucket.
    #[arg(long, env = "S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,
    /// Endpoint of an S3-compatible store (default: AWS).
    #[arg(long, env = "S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// Address buckets by path (`endpoint/bucket/key`), as most S3-compatible stores want.
    #[arg(long, env = "S3_FORCE_PATH_STYLE", default_value_t = false)]
    pub s3_force_path_style: bool,
    /// Public base URL of the bucket; when set, file URLs are `base/key` instead of presigned.
    #[arg(long, env = "S3_PUBLIC_BASE_URL")]
    pub s3_public_base_url: Option<String>,
    /// Access key (default: the AWS credential chain: env, profile, web identity, IMDS).
    #[arg(long, env = "S3_ACCESS_KEY_ID", hide_env_values = true)]
    pub s3_access_key_id: Option<String>,
    /// Secret key, with S3_ACCESS_KEY_ID.
    #[arg(long, env = "S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,
    /// Largest attachment, in bytes.
    #[arg(long, env = "MAX_FILE_BYTES", default_value_t = 25 * 1024 * 1024)]
    pub max_file_bytes: u64,
    /// Most attachments in one request.
    #[arg(long, env = "MAX_FILES", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub max_files: u64,
    /// Lifetime of presigned file URLs, in seconds.
    #[arg(long, env = "S3_PRESIGN_TTL_SECS", default_value_t = 3600)]
    pub s3_presign_ttl_secs: u64,
}

impl S3Args {
    pub fn config(&self) -> Option<FileStoreConfig> {
        let bucket = self.s3_bucket.clone()?;
        let mut c = FileStoreConfig::new(bucket, self.s3_region.clone());
        c.endpoint = self.s3_endpoint.clone();
        c.force_path_style = self.s3_force_path_style;
        c.public_base_url = self.s3_public_base_url.clone();
        c.access_key_id = self.s3_access_key_id.clone();
        c.secret_access_key = self.s3_secret_access_key.clone().map(SecretString::from);
        c.max_file_bytes = self.max_file_bytes;
        c.max_files = usize::try_from(self.max_files).unwrap_or(usize::MAX);
        c.presign_ttl = Duration::from_secs(self.s3_presign_ttl_secs);
        Some(c)
    }
}

#[derive(Debug, Args)]
pub struct RunnerArgs {
    /// Kafka bootstrap servers (`host:port,...`). Other librdkafka settings: `KAFKA_*`
    /// environment variables (`KAFKA_SASL_MECHANISM` becomes `sasl.mechanism`).
    #[arg(long, env = "KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,
    /// Also produce dead fires to this Kafka topic.
    #[arg(long, env = "DEAD_LETTER_TOPIC")]
    pub dead_letter_topic: Option<String>,
    /// Deliver webhooks to loopback, private and link-local addresses (dev and tests only).
    #[arg(long, env = "WEBHOOK_ALLOW_PRIVATE", default_value_t = false)]
    pub webhook_allow_private: bool,
    /// Most due schedulers (and fires) taken in one claim.
    #[arg(long, env = "RUNNER_BATCH_SIZE", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub runner_batch_size: u32,
    /// Most deliveries in flight at once.
    #[arg(long, env = "RUNNER_CONCURRENCY", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub runner_concurrency: u64,
    /// Claim loops per runner, sharing its deliveries (one claims while another waits for
    /// delivery slots).
    #[arg(long, env = "RUNNER_CLAIMERS", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=16))]
    pub runner_claimers: u64,
    /// Longest wait, in milliseconds, between two looks at the database when nothing wakes
    /// the runner.
    #[arg(long, env = "RUNNER_POLL_INTERVAL_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=1000))]
    pub runner_poll_interval_ms: u64,
    /// Seconds a fire taken for delivery stays this runner's before another may take it.
    #[arg(long, env = "RUNNER_LEASE_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub runner_lease_secs: u64,
    /// Seconds a slot may be late and still count as on time (misfire grace).
    #[arg(long, env = "MISFIRE_GRACE_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub misfire_grace_secs: u64,
    /// Delivery attempts before a fire is dead (per job: `job.retry.max_attempts`).
    #[arg(long, env = "RETRY_MAX_ATTEMPTS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub retry_max_attempts: u32,
    /// Seconds after its slot a fire is still retried (per job: `job.retry.max_age_secs`).
    #[arg(long, env = "RETRY_MAX_AGE_SECS", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub retry_max_age_secs: u64,
    /// How long delivered and cancelled fires stay in the history after they finished
    /// (`30m`, `12h`, `7d`, or seconds; 1 minute to 3650 days).
    #[arg(long, env = "FIRE_RETENTION", default_value = "7d", value_parser = parse_retention)]
    pub fire_retention: chrono::TimeDelta,
    /// How long dead fires stay in the history after they died (as FIRE_RETENTION).
    #[arg(long, env = "DEAD_FIRE_RETENTION", default_value = "30d", value_parser = parse_retention)]
    pub dead_fire_retention: chrono::TimeDelta,
}

/// A retention period: a whole number with a unit (`s`, `m`, `h`, `d`), or plain seconds;
/// from 1 minute to 3650 days.
fn parse_retention(s: &str) -> Result<chrono::TimeDelta, String> {
    let s = s.trim();
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 30m, 12h or 7d"))?;
    let d = match unit {
        "s" => chrono::TimeDelta::try_seconds(n),
        "m" => chrono::TimeDelta::try_minutes(n),
        "h" => chrono::TimeDelta::try_hours(n),
        "d" => chrono::TimeDelta::try_days(n),
        _ => None,
    }
    .ok_or_else(|| format!("`{s}` is not a duration like 30m, 12h or 7d"))?;
    if d < chrono::TimeDelta::minutes(1) || d > chrono::TimeDelta::days(3650) {
        return Err(format!("`{s}` is out of range: from 1 minute to 3650 days"));
    }
    Ok(d)
}

impl RunnerArgs {
    pub fn config(&self, shutdown_deadline: Duration) -> anyhow::Result<RunnerConfig> {
        let kafka = self.kafka_brokers.as_ref().map(|brokers| {
            let mut k = KafkaConfig::new(brokers.clone());
            k.settings = scheduler_runner::librdkafka_settings(std::env::vars());
            k
        });
        let cfg = RunnerConfig {
            batch_size: self.runner_batch_size,
            concurrency: usize::try_from(self.runner_concurrency).unwrap_or(usize::MAX),
            claimers: usize::try_from(self.runner_claimers).unwrap_or(2),
            poll_interval: Duration::from_millis(self.runner_poll_interval_ms),
            lease: Duration::from_secs(self.runner_lease_secs),
            misfire_grace: Duration::from_secs(self.misfire_grace_secs),
            webhook_allow_private: self.webhook_allow_private,
            dead_letter_topic: self.dead_letter_topic.clone(),
            retry: RetryConfig {
                max_attempts: self.retry_max_attempts,
                max_age: Duration::from_secs(self.retry_max_age_secs),
                ..RetryConfig::default()
            },
            kafka,
            shutdown_deadline,
            retention: scheduler_runner::Retention {
                finished: self.fire_retention,
                dead: self.dead_fire_retention,
            },
            ..RunnerConfig::default()
        };
        cfg.validate().map_err(anyhow::Error::msg)?;
        Ok(cfg)
    }
}

/// Everything `serve` and `dev` run, resolved and validated.
pub struct Service {
    pub pool: PgPool,
    pub role: Role,
    pub listen: SocketAddr,
    pub api: ApiConfig,
    pub files: Option<FileStoreConfig>,
    pub runner: Option<RunnerConfig>,
    pub shutdown_timeout: Duration,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    if let Some(token) = &args.admin_token {
        anyhow::ensure!(
            token.len() >= 16,
            "ADMIN_TOKEN must be at least 16 characters"
        );
    }
    let shutdown_timeout = Duration::from_secs(args.shutdown_timeout_secs);
    let runner = if args.role.runner() {
        Some(args.runner.config(shutdown_timeout)?)
    } else {
        None
    };
    let pool = scheduler_store::connect(&args.db.database_url, &args.db.pool_config())
        .await
        .context("cannot connect to DATABASE_URL")?;
    if args.migrate {
        scheduler_store::migrate(&pool).await?;
    }
    crate::cli::open_signing_secrets(&pool, args.db.signing_secret_key.as_ref()).await?;
    let service = Service {
        pool,
        role: args.role,
        listen: args.listen,
        api: ApiConfig {
            admin_token: args.admin_token.map(SecretString::from),
            ..ApiConfig::default()
        },
        files: args.s3.config(),
        runner,
        shutdown_timeout,
    };
    let shutdown = CancellationToken::new();
    spawn_signal_watcher(shutdown.clone());
    run_service(service, shutdown).await
}

/// How long past the shutdown deadline `serve` waits for its parts before it exits anyway.
const SHUTDOWN_BACKSTOP: Duration = Duration::from_secs(2);

/// Runs the roles of `service` until `shutdown` is cancelled, then drains within the deadline.
pub async fn run_service(service: Service, shutdown: CancellationToken) -> anyhow::Result<()> {
    let Service {
        pool,
        role,
        listen,
        api,
        files,
        runner,
        shutdown_timeout,
    } = service;
    let mut registry = Registry::default();
    let mut readiness: Vec<(&'static str, ReadinessCheck)> = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();

    // The API stores attachments; the runner makes fresh URLs for them in each delivery.
    let files = match files {
        Some(cfg) => Some(Arc::new(
            FileStore::new(cfg)
                .await
                .context("attachment storage (S3_*)")?,
        )),
        None => None,
    };

    let kafka_configured = runner.as_ref().is_some_and(|r| r.kafka.is_some());
    let runner = match runner {
        Some(cfg) => {
            let mut runner = Runner::new(pool.clone(), cfg, scheduler_runner::Clock::system())
                .context("runner configuration")?;
            if let Some(files) = &files {
                runner = runner.with_files(files.clone());
            }
            runner.register_metrics(&mut registry);
            Some(runner)
        }
        None => None,
    };
    if let Some(runner) = runner.as_ref().filter(|_| kafka_configured) {
        let runner = runner.clone();
        let probe: ReadinessCheck = Arc::new(move || {
            let runner = runner.clone();
            Box::pin(async move {
                match runner.kafka_reachable(Duration::from_secs(1)).await {
                    Some(false) => Err("no broker answered".to_owned()),
                    Some(true) | None => Ok(()),
                }
            })
        });
        readiness.push(("kafka", probe));
    }

    let http_metrics = HttpMetrics::new(&mut registry);
    let mut app = ops::Ops::new(pool.clone(), registry, readiness).routes();
    if role.api() {
        let mut state = AppState::new(pool.clone(), api);
        if let Some(files) = &files {
            state = state.with_files(files.clone());
            tasks.spawn(sweep_orphans(files.clone(), pool.clone(), shutdown.clone()));
        }
        app = scheduler_api::router(state).merge(app);
    }
    let app = app.layer(axum::middleware::from_fn_with_state(
        http_metrics,
        ops::track_http,
    ));

    if let Some(runner) = runner {
        let stop = shutdown.clone();
        tasks.spawn(async move {
            if let Err(e) = runner.run(stop.clone()).await {
                tracing::error!(error = %e, "runner failed; stopping the process");
                stop.cancel();
            }
        });
    }

    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(addr = %listener.local_addr()?, ?role, "serving");
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .into_future();
    let drained = async {
        let http = server.await;
        while tasks.join_next().await.is_some() {}
        http
    };
    // The shutdown deadline is owned by the parts that drain: the runner stops within
    // SHUTDOWN_TIMEOUT_SECS (deliveries, then outcomes and leases written back), and so do
    // in-flight requests. This bound, a little past it, only guards against a part that does
    // not keep its deadline; the pool is closed after the runner has written everything.
    let backstop = shutdown_timeout + SHUTDOWN_BACKSTOP;
    tokio::select! {
        result = drained => result.context("http server")?,
        () = async { shutdown.cancelled().await; tokio::time::sleep(backstop).await } => {
            tracing::warn!(?shutdown_timeout, "shutdown deadline passed with work still in flight");
        }
    }
    pool.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Retries deletions of objects that failed or were interrupted, every few minutes.
async fn sweep_orphans(files: Arc<FileStore>, pool: PgPool, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(300));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        match files.sweep_orphans(&pool, 100).await {
            Ok(report) if report.deleted + report.failed > 0 => {
                tracing::info!(
                    deleted = report.deleted,
                    failed = report.failed,
                    "orphan objects swept"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "orphan sweep failed"),
        }
    }
}

/// Cancels `token` on SIGTERM or SIGINT.
pub fn spawn_signal_watcher(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot watch SIGTERM; only SIGINT stops the process");
                let _ = ctrl_c.await;
            }
        }
        tracing::info!("shutdown requested");
        token.cancel();
    });
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::parse_retention;

    #[test]
    fn retention_periods() {
        assert_eq!(parse_retention("7d"), Ok(TimeDelta::days(7)));
        assert_eq!(parse_retention("12h"), Ok(TimeDelta::hours(12)));
        assert_eq!(parse_retention("30m"), Ok(TimeDelta::minutes(30)));
        assert_eq!(parse_retention("3600"), Ok(TimeDelta::hours(1)));
        for bad in [
            "",
            "7",
            "7w",
            "d",
            "-1d",
            "1.5d",
            "3651d",
            "99999999999999999999d",
        ] {
            assert!(parse_retention(bad).is_err(), "{bad:?} accepted");
        }
    }
}
