//! Runners alive: every runner records itself on each heartbeat, so operators can see which
//! runners are up, when each last spoke and how many fires each holds.

use chrono::{DateTime, Utc};

use crate::{PgPool, StoreResult};

/// A runner's row in `runners`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunnerRecord {
    pub owner: String,
    pub started_at: DateTime<Utc>,
    pub last_heartbeat_at: DateTime<Utc>,
    /// Fires it held a lease on at its last heartbeat.
    pub in_flight: i32,
}

/// Rows silent for this long are removed by any runner's heartbeat (a killed runner leaves its
/// row; showing it for a while tells the operator it died).
const FORGET_AFTER: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// Records a heartbeat of `owner` at `now` holding `in_flight` fires (the first one records its
/// start), and forgets runners silent for a day.
pub async fn heartbeat(
    pool: &PgPool,
    owner: &str,
    now: DateTime<Utc>,
    in_flight: usize,
) -> StoreResult<()> {
    let in_flight = i32::try_from(in_flight).unwrap_or(i32::MAX);
    sqlx::query!(
        "WITH gone AS (DELETE FROM runners WHERE last_heartbeat_at < $4)
         INSERT INTO runners (owner, started_at, last_heartbeat_at, in_flight)
         VALUES ($1, $2, $2, $3)
         ON CONFLICT (owner) DO UPDATE
         SET last_heartbeat_at = EXCLUDED.last_heartbeat_at, in_flight = EXCLUDED.in_flight",
        owner,
        now,
        in_flight,
        now - FORGET_AFTER,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Removes the row of a runner that stopped.
pub async fn remove(pool: &PgPool, owner: &str) -> StoreResult<()> {
    sqlx::query!("DELETE FROM runners WHERE owner = $1", owner)
        .execute(pool)
        .await?;
    Ok(())
}

/// Every runner recorded, latest heartbeat first.
pub async fn list(pool: &PgPool) -> StoreResult<Vec<RunnerRecord>> {
    let rows = sqlx::query_as!(
        RunnerRecord,
        "SELECT owner, started_at, last_heartbeat_at, in_flight FROM runners
         ORDER BY last_heartbeat_at DESC, owner LIMIT 1000"
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}
