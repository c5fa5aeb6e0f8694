//! Postgres storage for the scheduler service: the only crate that writes SQL.
//!
//! Every query is checked at compile time against the committed offline data in `.sqlx/`
//! (regenerate with `make sqlx-prepare` after changing a query or a migration).

pub mod attachments;
pub mod console;
mod error;
pub mod fires;
pub mod operations;
pub mod runners;
pub mod schedulers;
pub mod secrets;
pub mod tenancy;
#[cfg(feature = "test-support")]
pub mod test_services;
#[cfg(feature = "test-support")]
pub mod testing;

use std::time::Duration;

pub use error::{StoreError, StoreResult};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
pub use sqlx::PgPool;

/// The `LISTEN`/`NOTIFY` channel the API signals when a scheduler becomes due soon.
pub const DUE_CHANNEL: &str = "scheduler_due";

/// The migrations in `migrations/`, embedded at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub max_connections: u32,
    /// How long a caller waits for a free connection before giving up.
    pub acquire_timeout: Duration,
    /// Server-side cap on any one statement, so no query can hang a request or a claim.
    pub statement_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// Opens a pool. Fails fast when the database does not answer within the acquire timeout.
pub async fn connect(url: &str, cfg: &PoolConfig) -> StoreResult<PgPool> {
    let options: PgConnectOptions = url.parse()?;
    let options = options.options([(
        "statement_timeout",
        format!("{}", cfg.statement_timeout.as_millis()),
    )]);
    // No ping before each acquire: it is a round trip per query. A connection the server
    // dropped (a restart) fails its next query once and is discarded; the runner retries its
    // writes, and a client sees one 500.
    let pool = PgPoolOptions::new()
        .max_connections(cfg.max_connections)
        .acquire_timeout(cfg.acquire_timeout)
        .test_before_acquire(false)
        .connect_with(options)
        .await?;
    Ok(pool)
}

/// Applies every pending migration. Safe to run from several processes at once: sqlx takes an
/// advisory lock.
pub async fn migrate(pool: &PgPool) -> StoreResult<()> {
    MIGRATOR
        .run(pool)
        .await
        .map_err(|e| StoreError::Database(e.into()))
}

/// True when the database answers a trivial query.
pub async fn ping(pool: &PgPool) -> bool {
    sqlx::query_scalar!("SELECT 1 AS one")
        .fetch_one(pool)
        .await
        .is_ok()
}
