//! `scheduler dev`: the whole service on one machine with nothing but Postgres binaries
//! installed. A private Postgres cluster (unless DATABASE_URL is set), librdkafka's in-process
//! mock Kafka cluster, an in-process S3-compatible store on local disk, and the seed document's
//! organization, user and token, so its curl examples run unchanged.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use rdkafka::mocking::MockCluster;
use scheduler_api::ApiConfig;
use scheduler_files::FileStoreConfig;
use scheduler_runner::{KafkaConfig, RunnerConfig};
use scheduler_store::tenancy;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

use crate::local_pg::{self, LocalPostgres};
use crate::local_s3::{self, LocalS3};
use crate::serve::{self, Role, Service};

/// The seed document's tenant, so its examples work as written.
pub const SEED_ORGANIZATION: &str = "org_imbrace";
pub const SEED_USER: &str = "u_imbrace_agent1";
pub const SEED_TOKEN: &str = "api_2f576a7d-f7eb-4748-9ec0-b295d7204de1";
/// Topics of the seed's examples, created up front on the mock cluster.
const SEED_TOPICS: [&str; 2] = ["ROUTER.OUTGOING_MESSAGE", "ROUTER.OUTGOING_CRM_EVENT"];
const DEV_BUCKET: &str = "scheduler-dev";

#[derive(Debug, Args)]
pub struct DevArgs {
    /// Address the API listens on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where the private Postgres cluster and the attachments live (reused across starts).
    #[arg(long, default_value = ".data")]
    pub data_dir: PathBuf,
    /// Use this Postgres instead of a private cluster.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Encrypt the signing secrets at rest with this key (see `serve --help`).
    #[arg(long, env = "SIGNING_SECRET_KEY", hide_env_values = true)]
    pub signing_secret_key: Option<secrecy::SecretString>,
    /// Turns the admin API (`/admin/...`) on with this token, as `serve` does (at least 16
    /// characters); without it the admin routes answer 404.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
}

pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    if args.admin_token.as_ref().is_some_and(|t| t.len() < 16) {
        anyhow::bail!("ADMIN_TOKEN must be at least 16 characters");
    }
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    let data_dir = std::fs::canonicalize(&args.data_dir)?;

    // Stopped by its Drop when this function returns, on every path.
    let (_private_pg, database_url) = match args.database_url {
        Some(url) => (None, url),
        None => {
            let dir = data_dir.clone();
            let pg = tokio::task::spawn_blocking(move || LocalPostgres::start(&dir)).await??;
            local_pg::wait_ready(&pg.url).await?;
            tracing::info!(url = %pg.url, "private Postgres started");
            let url = pg.url.clone();
            (Some(pg), url)
        }
    };
    let pool = scheduler_store::connect(&database_url, &scheduler_store::PoolConfig::default())
        .await
        .context("cannot connect to Postgres")?;
    scheduler_store::migrate(&pool).await?;
    crate::cli::open_signing_secrets(&pool, args.signing_secret_key.as_ref()).await?;
    tenancy::ensure_user(&pool, SEED_ORGANIZATION, SEED_USER).await?;
    tenancy::store_token(&pool, SEED_ORGANIZATION, SEED_TOKEN).await?;

    let kafka = MockCluster::new(1).context("cannot start the mock Kafka cluster")?;
    for topic in SEED_TOPICS {
        kafka
            .create_topic(topic, 1, 1)
            .with_context(|| format!("cannot create topic {topic}"))?;
    }
    let brokers = kafka.bootstrap_servers();
    tracing::info!(%brokers, "mock Kafka cluster started (in-process; topics are created on first use)");

    let s3 = LocalS3::start(&data_dir, DEV_BUCKET).await?;
    tracing::info!(endpoint = %s3.endpoint, bucket = DEV_BUCKET, "local S3 store started");
    let mut files = FileStoreConfig::new(DEV_BUCKET, "us-east-1");
    files.endpoint = Some(s3.endpoint.clone());
    files.force_path_style = true;
    files.access_key_id = Some(local_s3::ACCESS_KEY.to_owned());
    files.secret_access_key = Some(SecretString::from(local_s3::SECRET_KEY));

    let shutdown_timeout = Duration::from_secs(10);
    let runner = RunnerConfig {
        webhook_allow_private: true,
        kafka: Some(KafkaConfig::new(brokers)),
        shutdown_deadline: shutdown_timeout,
        ..RunnerConfig::default()
    };
    runner.validate().map_err(anyhow::Error::msg)?;
    let service = Service {
        pool,
        role: Role::All,
        listen: args.listen,
        api: ApiConfig {
            admin_token: args.admin_token.map(SecretString::from),
            ..ApiConfig::default()
        },
        files: Some(files),
        runner: Some(runner),
        shutdown_timeout,
    };
    tracing::info!(
        url = %format!("http://{}", args.listen),
        organization = SEED_ORGANIZATION,
        user = SEED_USER,
        token = SEED_TOKEN,
        "scheduler dev is up; Ctrl-C stops it"
    );
    let shutdown = CancellationToken::new();
    serve::spawn_signal_watcher(shutdown.clone());
    let result = serve::run_service(service, shutdown).await;
    s3.stop().await;
    drop(kafka);
    result
}
