//! Command line and environment: one typed configuration, validated by clap at start.

use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::{ExposeSecret as _, SecretString};

#[derive(Debug, Parser)]
#[command(
    name = "scheduler",
    version,
    about = "A multi-tenant scheduler service: API, runner and tools"
)]
pub struct Cli {
    /// Log output format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty, global = true)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Everything on one machine: private Postgres, mock Kafka, local S3, seed tenant.
    Dev(crate::dev::DevArgs),
    /// Serve the HTTP API and/or the runner until SIGTERM/SIGINT.
    Serve(crate::serve::ServeArgs),
    /// Manage organizations, users and API tokens.
    Admin(crate::admin::AdminArgs),
    /// Apply the database migrations and exit.
    Migrate(MigrateArgs),
    /// Print the next fire instants of a scheduler document read from stdin (no database).
    ///
    /// The document is the JSON body of a create request; only its timing fields are read.
    /// Prints one RFC 3339 UTC instant per line; an invalid document exits with code 2 and a
    /// one-line message on stderr naming the field.
    Preview(PreviewArgs),
}

#[derive(Debug, Args)]
pub struct DbArgs {
    /// Postgres connection URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Maximum connections in the pool.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_max_connections: u32,
    /// Seconds to wait for a free connection (and for the first connection at start).
    #[arg(long, env = "DATABASE_ACQUIRE_TIMEOUT_SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub database_acquire_timeout_secs: u64,
    /// Encrypts the organizations' webhook signing secrets at rest: 32 bytes in base64
    /// (`openssl rand -base64 32`). Secrets still in plain text are encrypted at start; without
    /// it they are stored in plain text, and encrypted ones stop the process at start.
    #[arg(long, env = "SIGNING_SECRET_KEY", hide_env_values = true)]
    pub signing_secret_key: Option<SecretString>,
}

/// Checks the stored signing secrets against SIGNING_SECRET_KEY and makes the key this
/// process's (see `scheduler_store::secrets::init`): a missing or wrong key for encrypted
/// secrets stops the process here, with a message saying which.
pub async fn open_signing_secrets(
    pool: &scheduler_store::PgPool,
    key: Option<&SecretString>,
) -> anyhow::Result<()> {
    let key = key
        .map(|k| scheduler_store::secrets::SecretKey::parse(k.expose_secret()))
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let encrypting = key.is_some();
    let sealed = scheduler_store::secrets::init(pool, key).await?;
    if sealed > 0 {
        tracing::info!(
            sealed,
            "stored signing secrets encrypted with SIGNING_SECRET_KEY"
        );
    }
    tracing::debug!(encrypting, "signing secrets checked");
    Ok(())
}

impl DbArgs {
    pub fn pool_config(&self) -> scheduler_store::PoolConfig {
        scheduler_store::PoolConfig {
            max_connections: self.database_max_connections,
            acquire_timeout: Duration::from_secs(self.database_acquire_timeout_secs),
            ..Default::default()
        }
    }
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// How many fire instants to print.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub count: u32,
    /// Print instants at or after this RFC 3339 date-time (default: now).
    #[arg(long, value_parser = parse_rfc3339)]
    pub after: Option<DateTime<Utc>>,
}

fn parse_rfc3339(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("expected an RFC 3339 date-time like 2024-09-11T14:35:00.000Z ({e})"))
}
