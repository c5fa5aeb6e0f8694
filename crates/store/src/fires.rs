//! Fires: the claim that turns due schedulers into fire rows, leases for delivery, outcomes,
//! and the history.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use scheduler_core::Plan;
use sqlx::PgPool;
use uuid::Uuid;

use crate::schedulers::{query_scheduler, SchedulerRecord};
use crate::StoreResult;

/// A fire leased to a runner for delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct LeasedFire {
    pub id: Uuid,
    pub scheduler_id: String,
    pub organization_id: String,
    pub scheduled_for: DateTime<Utc>,
    pub late: bool,
    pub skipped_slots: i32,
    pub manual: bool,
    /// The attempt this lease is for, starting at 1.
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
}

/// A fire as the history shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct FireRecord {
    pub id: Uuid,
    pub scheduler_id: String,
    pub organization_id: String,
    pub scheduled_for: DateTime<Utc>,
    pub manual: bool,
    pub late: bool,
    pub skipped_slots: i32,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// Who takes a lease and until when.
#[derive(Debug, Clone, Copy)]
pub struct Lease<'a> {
    pub owner: &'a str,
    pub until: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy)]
pub struct ClaimRequest<'a> {
    pub now: DateTime<Utc>,
    /// At most this many schedulers are locked and advanced in one transaction.
    pub limit: i64,
    /// The new fires are leased to the claiming runner at once, so it can deliver them without
    /// another round trip; if it dies, the lease expires and any runner redelivers.
    pub lease: Lease<'a>,
}

#[derive(Debug, Default)]
pub struct ClaimOutcome {
    /// Due schedulers locked and advanced.
    pub schedulers: usize,
    /// Fires created, leased to the claimer.
    pub fires: Vec<LeasedFire>,
    /// Schedulers whose stored timing could not be planned; they were taken off the due index.
    pub broken: Vec<(String, String)>,
}

/// Locks up to `limit` due schedulers (`FOR UPDATE SKIP LOCKED`, so concurrent runners take
/// disjoint sets), asks `planner` what each one fires and when it is due next, inserts the fire
/// rows (unique per slot: a slot can never be fired twice), advances the schedulers, and commits.
/// Nothing is delivered before this returns.
pub async fn claim_due<F>(
    pool: &PgPool,
    req: ClaimRequest<'_>,
    mut planner: F,
) -> StoreResult<ClaimOutcome>
where
    F: FnMut(&SchedulerRecord) -> Result<Plan, String>,
{
    let mut tx = pool.begin().await?;
    let due = query_scheduler!(
        "WHERE next_fire_at <= $1 ORDER BY next_fire_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        req.now,
        req.limit
    )
    .fetch_all(&mut *tx)
    .await?;
    if due.is_empty() {
        tx.rollback().await?;
        return Ok(ClaimOutcome::default());
    }

    let mut outcome = ClaimOutcome {
        schedulers: due.len(),
        ..Default::default()
    };
    let mut fire_ids = Vec::new();
    let mut fire_schedulers = Vec::new();
    let mut fire_orgs = Vec::new();
    let mut fire_slots = Vec::new();
    let mut fire_late = Vec::new();
    let mut fire_skipped = Vec::new();
    let mut upd_ids = Vec::with_capacity(due.len());
    let mut upd_next = Vec::with_capacity(due.len());
    let mut upd_finished = Vec::with_capacity(due.len());
    for s in &due {
        match planner(s) {
            Ok(plan) => {
                for f in &plan.fires {
                    fire_ids.push(Uuid::now_v7());
                    fire_schedulers.push(s.id.clone());
                    fire_orgs.push(s.organization_id.clone());
                    fire_slots.push(f.scheduled_for);
                    fire_late.push(f.late);
                    fire_skipped.push(i32::try_from(f.skipped_slots).unwrap_or(i32::MAX));
                }
                upd_ids.push(s.id.clone());
                upd_finished.push(plan.next_fire_at.is_none());
                upd_next.push(plan.next_fire_at);
            }
            Err(why) => {
                tracing::error!(scheduler_id = %s.id, error = %why, "stored timing is invalid; scheduler taken off the due index");
                outcome.broken.push((s.id.clone(), why));
                upd_ids.push(s.id.clone());
                upd_finished.push(false);
                upd_next.push(None);
            }
        }
    }

    let fires = sqlx::query_as!(
        LeasedFire,
        r#"INSERT INTO fires (id, scheduler_id, organization_id, scheduled_for, late, skipped_slots,
                              status, attempts, available_at, locked_until, locked_by, created_at)
           SELECT u.id, u.scheduler_id, u.organization_id, u.scheduled_for, u.late, u.skipped,
                  'delivering', 1, $7, $7, $8, $9
           FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::bool[], $6::int4[])
                AS u(id, scheduler_id, organization_id, scheduled_for, late, skipped)
           ON CONFLICT (scheduler_id, scheduled_for) DO NOTHING
           RETURNING id, scheduler_id, organization_id, scheduled_for, late, skipped_slots, manual,
                     attempts, created_at"#,
        &fire_ids,
        &fire_schedulers,
        &fire_orgs,
        &fire_slots,
        &fire_late,
        &fire_skipped,
        req.lease.until,
        req.lease.owner,
        req.now,
    )
    .fetch_all(&mut *tx)
    .await?;

    // Count what was inserted, not what was planned: a conflicting slot already has its fire.
    let mut fired: HashMap<&str, (i64, DateTime<Utc>)> = HashMap::new();
    for f in &fires {
        let e = fired
            .entry(f.scheduler_id.as_str())
            .or_insert((0, f.scheduled_for));
        e.0 += 1;
        e.1 = e.1.max(f.scheduled_for);
    }
    let upd_fired: Vec<i64> = upd_ids
        .iter()
        .map(|id| fired.get(id.as_str()).map_or(0, |e| e.0))
        .collect();
    let upd_last: Vec<Option<DateTime<Utc>>> = upd_ids
        .iter()
        .map(|id| fired.get(id.as_str()).map(|e| e.1))
        .collect();
    sqlx::query!(
        r#"UPDATE schedulers s
           SET next_fire_at = u.next_fire_at,
               is_finished = u.finished,
               fire_count = s.fire_count + u.fired,
               last_fired_at = COALESCE(u.last_fired_at, s.last_fired_at)
           FROM UNNEST($1::text[], $2::timestamptz[], $3::bool[], $4::int8[], $5::timestamptz[])
                AS u(id, next_fire_at, finished, fired, last_fired_at)
           WHERE s.id = u.id"#,
        &upd_ids,
        &upd_next as &[Option<DateTime<Utc>>],
        &upd_finished,
        &upd_fired,
        &upd_last as &[Option<DateTime<Utc>>],
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    outcome.fires = fires;
    Ok(outcome)
}

/// Leases up to `limit` fires that are waiting for delivery: new manual runs, retries whose
/// time has come, and deliveries whose lease expired (their runner died).
pub async fn lease_available(
    pool: &PgPool,
    now: DateTime<Utc>,
    limit: i64,
    lease: Lease<'_>,
) -> StoreResult<Vec<LeasedFire>> {
    let rows = sqlx::query_as!(
        LeasedFire,
        r#"UPDATE fires f
           SET status = 'delivering', attempts = f.attempts + 1, locked_until = $3,
               locked_by = $4, available_at = $3
           FROM (SELECT id FROM fires
                 WHERE status IN ('pending', 'retrying', 'delivering') AND available_at <= $1
                 ORDER BY available_at
                 LIMIT $2
                 FOR UPDATE SKIP LOCKED) due
           WHERE f.id = due.id
           RETURNING f.id, f.scheduler_id, f.organization_id, f.scheduled_for, f.late,
                     f.skipped_slots, f.manual, f.attempts, f.created_at"#,
        now,
        limit,
        lease.until,
        lease.owner,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Records a successful delivery. A cancelled fire stays cancelled.
pub async fn mark_delivered(pool: &PgPool, id: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
    let n = sqlx::query!(
        r#"UPDATE fires SET status = 'delivered', delivered_at = $2, locked_until = NULL,
               locked_by = NULL, last_error = NULL
           WHERE id = $1 AND status IN ('pending', 'delivering', 'retrying')"#,
        id,
        at
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Records a failed attempt that will be tried again at `retry_at`.
pub async fn mark_retrying(
    pool: &PgPool,
    id: Uuid,
    retry_at: DateTime<Utc>,
    error: &str,
) -> StoreResult<bool> {
    let n = sqlx::query!(
        r#"UPDATE fires SET status = 'retrying', available_at = $2, locked_until = NULL,
               locked_by = NULL, last_error = $3
           WHERE id = $1 AND status = 'delivering'"#,
        id,
        retry_at,
        error
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Records a fire that will not be tried again.
pub async fn mark_dead(pool: &PgPool, id: Uuid, error: &str) -> StoreResult<bool> {
    let n = sqlx::query!(
        r#"UPDATE fires SET status = 'dead', locked_until = NULL, locked_by = NULL, last_error = $2
           WHERE id = $1 AND status IN ('pending', 'delivering', 'retrying')"#,
        id,
        error
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Gives back the leases a stopping runner still holds, so another runner takes them at once
/// instead of waiting for them to expire.
pub async fn release_leases(pool: &PgPool, owner: &str, now: DateTime<Utc>) -> StoreResult<u64> {
    let n = sqlx::query!(
        r#"UPDATE fires SET status = 'retrying', available_at = $2, locked_until = NULL,
               locked_by = NULL
           WHERE status = 'delivering' AND locked_by = $1"#,
        owner,
        now
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n)
}

/// A fire outside the timing (`POST .../run`), available for delivery at once.
pub async fn insert_manual(
    pool: &PgPool,
    scheduler_id: &str,
    organization_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<FireRecord> {
    let row = sqlx::query_as!(
        FireRecord,
        r#"INSERT INTO fires (id, scheduler_id, organization_id, scheduled_for, manual, status,
                              available_at, created_at)
           VALUES ($1, $2, $3, $4, true, 'pending', $4, $4)
           RETURNING id, scheduler_id, organization_id, scheduled_for, manual, late, skipped_slots,
                     status, attempts, last_error, created_at, delivered_at"#,
        Uuid::now_v7(),
        scheduler_id,
        organization_id,
        now
    )
    .fetch_one(pool)
    .await?;
    Ok(row)
}

pub async fn get(pool: &PgPool, id: Uuid) -> StoreResult<FireRecord> {
    let row = sqlx::query_as!(
        FireRecord,
        r#"SELECT id, scheduler_id, organization_id, scheduled_for, manual, late, skipped_slots,
                  status, attempts, last_error, created_at, delivered_at
           FROM fires WHERE id = $1"#,
        id
    )
    .fetch_one(pool)
    .await?;
    Ok(row)
}

#[derive(Debug, Clone)]
pub struct FirePage {
    pub items: Vec<FireRecord>,
    pub total: i64,
}

/// The fire history of one scheduler, newest first.
pub async fn history(
    pool: &PgPool,
    scheduler_id: &str,
    limit: i64,
    skip: i64,
) -> StoreResult<FirePage> {
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "total!" FROM fires WHERE scheduler_id = $1"#,
        scheduler_id
    )
    .fetch_one(pool)
    .await?;
    let items = sqlx::query_as!(
        FireRecord,
        r#"SELECT id, scheduler_id, organization_id, scheduled_for, manual, late, skipped_slots,
                  status, attempts, last_error, created_at, delivered_at
           FROM fires WHERE scheduler_id = $1
           ORDER BY scheduled_for DESC, id DESC
           LIMIT $2 OFFSET $3"#,
        scheduler_id,
        limit,
        skip
    )
    .fetch_all(pool)
    .await?;
    Ok(FirePage { items, total })
}

/// What a runner needs to deliver the fires of one scheduler: the envelope fields, the job, and
/// the organization's webhook signing secret.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryContext {
    pub scheduler_id: String,
    pub organization_id: String,
    /// The scheduler's `created_by`: the envelope's `user_id`.
    pub created_by: String,
    pub name: String,
    pub event_type: String,
    pub job: serde_json::Value,
    pub signing_secret: String,
}

/// The delivery contexts of the given schedulers, in one round trip. A scheduler that was
/// deleted meanwhile is simply absent (its open fires were cancelled with it).
pub async fn delivery_contexts(
    pool: &PgPool,
    scheduler_ids: &[String],
) -> StoreResult<Vec<DeliveryContext>> {
    let rows = sqlx::query_as!(
        DeliveryContext,
        r#"SELECT s.id AS scheduler_id, s.organization_id, s.created_by, s.name, s.event_type,
                  s.job, o.signing_secret
           FROM schedulers s JOIN organizations o ON o.id = s.organization_id
           WHERE s.id = ANY($1)"#,
        scheduler_ids
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Records many successful deliveries in one statement (`ids[i]` delivered at `at[i]`).
/// Cancelled fires stay cancelled. Returns how many rows changed.
pub async fn mark_delivered_many(
    pool: &PgPool,
    ids: &[Uuid],
    at: &[DateTime<Utc>],
) -> StoreResult<u64> {
    let n = sqlx::query!(
        r#"UPDATE fires f SET status = 'delivered', delivered_at = u.at, locked_until = NULL,
               locked_by = NULL, last_error = NULL
           FROM UNNEST($1::uuid[], $2::timestamptz[]) AS u(id, at)
           WHERE f.id = u.id AND f.status IN ('pending', 'delivering', 'retrying')"#,
        ids,
        at
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n)
}

/// Extends the leases `owner` still holds on the given fires (a heartbeat for deliveries that
/// take longer than one lease, e.g. a slow webhook or a broker outage). Fires whose lease was
/// lost meanwhile are left alone. Returns how many leases were extended.
pub async fn extend_leases(pool: &PgPool, ids: &[Uuid], lease: Lease<'_>) -> StoreResult<u64> {
    let n = sqlx::query!(
        r#"UPDATE fires SET locked_until = $3, available_at = $3
           WHERE id = ANY($1) AND locked_by = $2 AND status = 'delivering'"#,
        ids,
        lease.owner,
        lease.until
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n)
}

/// The earliest instant at which there may be work: a scheduler's `next_fire_at` or a fire's
/// `available_at` (new manual run, retry time, lease expiry). Two index probes; None when idle.
pub async fn next_wakeup(pool: &PgPool) -> StoreResult<Option<DateTime<Utc>>> {
    let next = sqlx::query_scalar!(
        r#"SELECT LEAST(
               (SELECT min(next_fire_at) FROM schedulers WHERE next_fire_at IS NOT NULL),
               (SELECT min(available_at) FROM fires
                WHERE status IN ('pending', 'retrying', 'delivering'))) AS "next""#
    )
    .fetch_one(pool)
    .await?;
    Ok(next)
}
