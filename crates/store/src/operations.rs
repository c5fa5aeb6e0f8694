//! What operators look at and steer: redrive of dead fires, delivery statistics, the due
//! backlog and dead fires grouped by error.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::fires::FireRecord;
use crate::{PgPool, StoreResult};

/// What a redrive did.
#[derive(Debug, Clone, PartialEq)]
pub enum Redrive {
    /// The fire, now `retrying` with a new cycle of attempts.
    Done(FireRecord),
    /// The fire exists but is not dead (its status).
    NotDead(String),
    /// The scheduler has no such fire.
    NotFound,
}

/// Gives a `dead` fire of `scheduler_id` a new cycle of attempts under the same fire id: it
/// becomes `retrying`, available at `now`, with `attempts` 0, `created_at` (from which the
/// retry `max_age` counts) set to `now`, its dead letter and finish time cleared, and its lease
/// sequence moved on, so a runner still producing its dead letter changes nothing any more.
/// `last_error` stays until the next outcome. `NotFound` when the scheduler has no such fire,
/// `Conflict` when the fire is not dead.
pub async fn redrive(
    pool: &PgPool,
    scheduler_id: &str,
    fire_id: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<Redrive> {
    let row = sqlx::query_as!(
        FireRecord,
        r#"UPDATE fires
           SET status = 'retrying', attempts = 0, available_at = $3, created_at = $3,
               locked_until = NULL, locked_by = NULL, lease_seq = lease_seq + 1,
               dead_letter = NULL, finished_at = NULL, delivered_at = NULL
           WHERE id = $1 AND scheduler_id = $2 AND status = 'dead'
           RETURNING id, scheduler_id, organization_id, scheduled_for, manual, late, skipped_slots,
                     status, attempts, last_error, created_at, delivered_at, dead_letter,
                     deliver_at"#,
        fire_id,
        scheduler_id,
        now,
    )
    .fetch_optional(pool)
    .await?;
    if let Some(fire) = row {
        return Ok(Redrive::Done(fire));
    }
    let status = sqlx::query_scalar!(
        "SELECT status FROM fires WHERE id = $1 AND scheduler_id = $2",
        fire_id,
        scheduler_id
    )
    .fetch_optional(pool)
    .await?;
    Ok(status.map_or(Redrive::NotFound, Redrive::NotDead))
}

/// The most fires one group redrive touches (a larger group is redriven by calling again).
pub const GROUP_REDRIVE_LIMIT: i64 = 10_000;

/// Redrives (as [`redrive`]) the dead fires that died since `since` with exactly `last_error`
/// (None: without an error), of schedulers that still exist, in `organization_id` when given.
/// At most [`GROUP_REDRIVE_LIMIT`]; returns how many.
pub async fn redrive_group(
    pool: &PgPool,
    last_error: Option<&str>,
    since: DateTime<Utc>,
    organization_id: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    let n = sqlx::query!(
        "UPDATE fires f
         SET status = 'retrying', attempts = 0, available_at = $3, created_at = $3,
             locked_until = NULL, locked_by = NULL, lease_seq = f.lease_seq + 1,
             dead_letter = NULL, finished_at = NULL, delivered_at = NULL
         FROM (SELECT d.id FROM fires d
               WHERE d.status = 'dead' AND d.finished_at >= $2
                 AND d.last_error IS NOT DISTINCT FROM $1
                 AND ($4::text IS NULL OR d.organization_id = $4)
                 AND EXISTS (SELECT 1 FROM schedulers s WHERE s.id = d.scheduler_id)
               LIMIT $5
               FOR UPDATE SKIP LOCKED) g
         WHERE f.id = g.id AND f.status = 'dead'",
        last_error,
        since,
        now,
        organization_id,
        GROUP_REDRIVE_LIMIT,
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n)
}

/// Fires delivered in one minute and their lag (delivered_at - scheduled_for).
#[derive(Debug, Clone, PartialEq)]
pub struct MinuteStats {
    pub minute: DateTime<Utc>,
    pub delivered: i64,
    pub lag_p50_ms: f64,
    pub lag_p99_ms: f64,
}

/// Per minute since `since` (minutes without deliveries are absent), oldest first. Computed
/// from the history, so fires already pruned (FIRE_RETENTION) are not counted.
pub async fn delivery_stats(pool: &PgPool, since: DateTime<Utc>) -> StoreResult<Vec<MinuteStats>> {
    let rows = sqlx::query!(
        r#"SELECT date_trunc('minute', delivered_at) AS "minute!",
                  count(*) AS "delivered!",
                  percentile_cont(0.5) WITHIN GROUP
                      (ORDER BY extract(epoch FROM delivered_at - scheduled_for) * 1000) AS "p50!",
                  percentile_cont(0.99) WITHIN GROUP
                      (ORDER BY extract(epoch FROM delivered_at - scheduled_for) * 1000) AS "p99!"
           FROM fires
           WHERE finished_at >= $1 AND status = 'delivered' AND delivered_at >= $1
           GROUP BY 1 ORDER BY 1"#,
        since
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| MinuteStats {
            minute: r.minute,
            delivered: r.delivered,
            lag_p50_ms: r.p50,
            lag_p99_ms: r.p99,
        })
        .collect())
}

/// Work that is due and not taken yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Backlog {
    /// Schedulers whose next fire is due and not claimed yet.
    pub due_schedulers: i64,
    /// Fires pending or retrying whose time has come.
    pub due_fires: i64,
    /// The oldest of both.
    pub oldest_due_at: Option<DateTime<Utc>>,
}

pub async fn backlog(pool: &PgPool, now: DateTime<Utc>) -> StoreResult<Backlog> {
    let r = sqlx::query!(
        r#"SELECT
             (SELECT count(*) FROM schedulers WHERE next_fire_at <= $1) AS "due_schedulers!",
             (SELECT count(*) FROM fires
              WHERE status IN ('pending', 'retrying') AND available_at <= $1) AS "due_fires!",
             LEAST((SELECT min(next_fire_at) FROM schedulers WHERE next_fire_at <= $1),
                   (SELECT min(available_at) FROM fires
                    WHERE status IN ('pending', 'retrying') AND available_at <= $1)) AS oldest"#,
        now
    )
    .fetch_one(pool)
    .await?;
    Ok(Backlog {
        due_schedulers: r.due_schedulers,
        due_fires: r.due_fires,
        oldest_due_at: r.oldest,
    })
}

/// Dead fires sharing one `last_error`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadGroup {
    pub last_error: Option<String>,
    pub fires: i64,
    pub schedulers: i64,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    /// One fire of the group (the latest), to look at.
    pub sample_fire_id: Uuid,
    pub sample_scheduler_id: String,
    pub sample_organization_id: String,
}

/// Fires that died since `since`, grouped by their error, the largest groups first (at most 100).
pub async fn dead_groups(
    pool: &PgPool,
    since: DateTime<Utc>,
    organization_id: Option<&str>,
) -> StoreResult<Vec<DeadGroup>> {
    let rows = sqlx::query!(
        r#"SELECT last_error,
                  count(*) AS "fires!",
                  count(DISTINCT scheduler_id) AS "schedulers!",
                  min(finished_at) AS "first_at!",
                  max(finished_at) AS "last_at!",
                  (array_agg(id ORDER BY finished_at DESC))[1] AS "sample_fire_id!",
                  (array_agg(scheduler_id ORDER BY finished_at DESC))[1] AS "sample_scheduler_id!",
                  (array_agg(organization_id ORDER BY finished_at DESC))[1] AS "sample_organization_id!"
           FROM fires
           WHERE status = 'dead' AND finished_at >= $1
             AND ($2::text IS NULL OR organization_id = $2)
           GROUP BY last_error
           ORDER BY count(*) DESC, max(finished_at) DESC
           LIMIT 100"#,
        since,
        organization_id,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| DeadGroup {
            last_error: r.last_error,
            fires: r.fires,
            schedulers: r.schedulers,
            first_at: r.first_at,
            last_at: r.last_at,
            sample_fire_id: r.sample_fire_id,
            sample_scheduler_id: r.sample_scheduler_id,
            sample_organization_id: r.sample_organization_id,
        })
        .collect())
}

/// The latest fire of each of `scheduler_ids` (by slot), for a list page.
pub async fn last_fires(pool: &PgPool, scheduler_ids: &[String]) -> StoreResult<Vec<FireRecord>> {
    let rows = sqlx::query_as!(
        FireRecord,
        r#"SELECT l.id AS "id!", l.scheduler_id AS "scheduler_id!",
                  l.organization_id AS "organization_id!", l.scheduled_for AS "scheduled_for!",
                  l.manual AS "manual!", l.late AS "late!", l.skipped_slots AS "skipped_slots!",
                  l.status AS "status!", l.attempts AS "attempts!", l.last_error,
                  l.created_at AS "created_at!", l.delivered_at, l.dead_letter, l.deliver_at
           FROM unnest($1::text[]) AS s(id)
           CROSS JOIN LATERAL (SELECT * FROM fires f WHERE f.scheduler_id = s.id
                               ORDER BY f.scheduled_for DESC LIMIT 1) l"#,
        scheduler_ids
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}
