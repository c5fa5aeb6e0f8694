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
    /// The attempt this lease is for, starting at 1: the sends started before it, plus this
    /// one. A holder that gives the lease back without sending gives the count back too.
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    /// The fencing token: every write the holder makes carries it (see [`LeaseToken`]).
    pub lease_seq: i32,
    pub last_error: Option<String>,
    /// The planned delivery instant when the scheduler has a flexible window (NULL: the slot).
    pub deliver_at: Option<DateTime<Utc>>,
}

impl LeasedFire {
    pub fn token(&self) -> LeaseToken {
        LeaseToken {
            fire_id: self.id,
            seq: self.lease_seq,
        }
    }
}

/// One lease on one fire. Every lease taken on a fire increments its `lease_seq`, and every
/// write of a holder matches on the `seq` it was given, so a holder whose lease lapsed and was
/// taken over (a paused process, a stalled heartbeat) changes nothing: its write affects no
/// row, and it drops its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LeaseToken {
    pub fire_id: Uuid,
    pub seq: i32,
}

/// A failed attempt, as its holder records it.
#[derive(Debug, Clone, Copy)]
pub struct Failure<'a> {
    pub token: LeaseToken,
    pub error: &'a str,
    /// Whether a send started under this lease. When none did (the job could not be read, the
    /// attempt limit was already used up by interrupted attempts), the lease's attempt is
    /// given back, so `attempts` counts sends that started.
    pub sent: bool,
}

/// A lease given back by its holder (at shutdown, or when its context could not be read).
#[derive(Debug, Clone, Copy)]
pub struct Release {
    pub token: LeaseToken,
    /// As in [`Failure::sent`]: an unsent fire gets its attempt back.
    pub sent: bool,
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
    /// For a dead fire when a dead-letter topic is set: `pending` until it was produced there,
    /// then `sent`.
    pub dead_letter: Option<String>,
    /// The planned delivery instant when the scheduler has a flexible window (NULL: the slot).
    pub deliver_at: Option<DateTime<Utc>>,
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
    /// Fires created and leased to the claimer: every fire whose delivery instant has come.
    pub fires: Vec<LeasedFire>,
    /// Fires created `pending` because their flexible window puts delivery later; any runner
    /// leases them when their `deliver_at` comes (as `available_at`).
    pub deferred: usize,
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
    let mut fire_deliver = Vec::new();
    let mut fire_deferred = Vec::new();
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
                    fire_deliver.push((f.deliver_at != f.scheduled_for).then_some(f.deliver_at));
                    fire_deferred.push(deferred(f.deliver_at, req.now));
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

    // A fire is leased to the claimer at once unless its flexible window puts its delivery
    // later: then it waits `pending` with `available_at` = `deliver_at`.
    let inserted = sqlx::query_as!(
        LeasedFire,
        r#"INSERT INTO fires (id, scheduler_id, organization_id, scheduled_for, late, skipped_slots,
                              deliver_at, status, attempts, lease_seq, available_at, locked_until,
                              locked_by, created_at)
           SELECT u.id, u.scheduler_id, u.organization_id, u.scheduled_for, u.late, u.skipped,
                  u.deliver_at,
                  CASE WHEN u.deferred THEN 'pending' ELSE 'delivering' END,
                  CASE WHEN u.deferred THEN 0 ELSE 1 END,
                  CASE WHEN u.deferred THEN 0 ELSE 1 END,
                  CASE WHEN u.deferred THEN u.deliver_at ELSE $8 END,
                  CASE WHEN u.deferred THEN NULL ELSE $8 END,
                  CASE WHEN u.deferred THEN NULL ELSE $9 END,
                  $11
           FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::bool[], $6::int4[],
                       $7::timestamptz[], $10::bool[])
                AS u(id, scheduler_id, organization_id, scheduled_for, late, skipped, deliver_at,
                     deferred)
           ON CONFLICT (scheduler_id, scheduled_for) DO NOTHING
           RETURNING id, scheduler_id, organization_id, scheduled_for, late, skipped_slots, manual,
                     attempts, created_at, lease_seq, last_error, deliver_at"#,
        &fire_ids,
        &fire_schedulers,
        &fire_orgs,
        &fire_slots,
        &fire_late,
        &fire_skipped,
        &fire_deliver as &[Option<DateTime<Utc>>],
        req.lease.until,
        req.lease.owner,
        &fire_deferred,
        req.now,
    )
    .fetch_all(&mut *tx)
    .await?;

    // Count what was inserted, not what was planned: a conflicting slot already has its fire.
    let mut fired: HashMap<&str, (i64, DateTime<Utc>)> = HashMap::new();
    for f in &inserted {
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
    let (fires, waiting): (Vec<_>, Vec<_>) = inserted
        .into_iter()
        .partition(|f| !f.deliver_at.is_some_and(|at| deferred(at, req.now)));
    outcome.fires = fires;
    outcome.deferred = waiting.len();
    Ok(outcome)
}

/// Whether a fire planned for `deliver_at` waits (`pending`) instead of being leased to the
/// claimer. Decided once, here, for both the insert and the split of what it returned.
fn deferred(deliver_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    deliver_at > now
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
           SET status = 'delivering', attempts = f.attempts + 1, lease_seq = f.lease_seq + 1,
               locked_until = $3, locked_by = $4, available_at = $3
           FROM (SELECT id FROM fires
                 WHERE status IN ('pending', 'retrying', 'delivering') AND available_at <= $1
                 ORDER BY available_at
                 LIMIT $2
                 FOR UPDATE SKIP LOCKED) due
           WHERE f.id = due.id
           RETURNING f.id, f.scheduler_id, f.organization_id, f.scheduled_for, f.late,
                     f.skipped_slots, f.manual, f.attempts, f.created_at, f.lease_seq,
                     f.last_error, f.deliver_at"#,
        now,
        limit,
        lease.until,
        lease.owner,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Records a failed attempt that will be tried again at `retry_at`. False when the lease has
/// moved on (the write changed nothing).
pub async fn mark_retrying(
    pool: &PgPool,
    failure: &Failure<'_>,
    retry_at: DateTime<Utc>,
) -> StoreResult<bool> {
    let n = sqlx::query!(
        r#"UPDATE fires SET status = 'retrying', available_at = $3, locked_until = NULL,
               locked_by = NULL, last_error = $4,
               attempts = CASE WHEN $5 THEN attempts ELSE greatest(attempts - 1, 0) END
           WHERE id = $1 AND lease_seq = $2 AND status = 'delivering'"#,
        failure.token.fire_id,
        failure.token.seq,
        retry_at,
        failure.error,
        failure.sent,
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Records a fire that will not be tried again. With `dead_letter_until`, its dead letter is
/// owed (`dead_letter = 'pending'`) and the holder keeps the lease until then to produce it;
/// a pending dead letter whose holder does not confirm it is taken by any runner after that
/// ([`lease_dead_letters`]). False when the lease has moved on (nothing changed).
pub async fn mark_dead(
    pool: &PgPool,
    failure: &Failure<'_>,
    now: DateTime<Utc>,
    dead_letter_until: Option<DateTime<Utc>>,
) -> StoreResult<bool> {
    let n = sqlx::query!(
        r#"UPDATE fires SET status = 'dead', last_error = $3, finished_at = $6,
               attempts = CASE WHEN $4 THEN attempts ELSE greatest(attempts - 1, 0) END,
               dead_letter = CASE WHEN $5::timestamptz IS NULL THEN NULL ELSE 'pending' END,
               locked_until = $5, available_at = COALESCE($5, available_at),
               locked_by = CASE WHEN $5::timestamptz IS NULL THEN NULL ELSE locked_by END
           WHERE id = $1 AND lease_seq = $2 AND status = 'delivering'"#,
        failure.token.fire_id,
        failure.token.seq,
        failure.error,
        failure.sent,
        dead_letter_until,
        now,
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Dead fires whose dead letter is still owed and whose last holder let go (produce failed,
/// or the holder died): leased to `lease.owner` to produce them again.
pub async fn lease_dead_letters(
    pool: &PgPool,
    now: DateTime<Utc>,
    limit: i64,
    lease: Lease<'_>,
) -> StoreResult<Vec<LeasedFire>> {
    let rows = sqlx::query_as!(
        LeasedFire,
        r#"UPDATE fires f
           SET lease_seq = f.lease_seq + 1, locked_until = $3, locked_by = $4, available_at = $3
           FROM (SELECT id FROM fires
                 WHERE dead_letter = 'pending' AND available_at <= $1
                 ORDER BY available_at
                 LIMIT $2
                 FOR UPDATE SKIP LOCKED) due
           WHERE f.id = due.id
           RETURNING f.id, f.scheduler_id, f.organization_id, f.scheduled_for, f.late,
                     f.skipped_slots, f.manual, f.attempts, f.created_at, f.lease_seq,
                     f.last_error, f.deliver_at"#,
        now,
        limit,
        lease.until,
        lease.owner,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Records that a dead fire's dead letter was produced. False when the lease moved on.
pub async fn mark_dead_letter_sent(pool: &PgPool, token: LeaseToken) -> StoreResult<bool> {
    let n = sqlx::query!(
        r#"UPDATE fires SET dead_letter = 'sent', locked_until = NULL, locked_by = NULL
           WHERE id = $1 AND lease_seq = $2 AND dead_letter = 'pending'"#,
        token.fire_id,
        token.seq,
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// A dead letter that could not be produced: any runner tries again from `retry_at`.
pub async fn retry_dead_letter(
    pool: &PgPool,
    token: LeaseToken,
    retry_at: DateTime<Utc>,
) -> StoreResult<bool> {
    let n = sqlx::query!(
        r#"UPDATE fires SET available_at = $3, locked_until = NULL, locked_by = NULL
           WHERE id = $1 AND lease_seq = $2 AND dead_letter = 'pending'"#,
        token.fire_id,
        token.seq,
        retry_at,
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Gives back leases the holder will not finish (shutdown, unreadable context), so another
/// runner takes them at once (`available_at = now`) instead of waiting for them to expire:
/// fires in delivery become `retrying` (an unsent one with its attempt given back), pending
/// dead letters are let go. Leases that moved on are left alone. Returns how many changed.
pub async fn release(pool: &PgPool, leases: &[Release], now: DateTime<Utc>) -> StoreResult<u64> {
    let ids: Vec<Uuid> = leases.iter().map(|r| r.token.fire_id).collect();
    let seqs: Vec<i32> = leases.iter().map(|r| r.token.seq).collect();
    let sent: Vec<bool> = leases.iter().map(|r| r.sent).collect();
    let n = sqlx::query!(
        r#"UPDATE fires f
           SET status = CASE WHEN f.status = 'delivering' THEN 'retrying' ELSE f.status END,
               attempts = CASE WHEN f.status = 'delivering' AND NOT u.sent
                               THEN greatest(f.attempts - 1, 0) ELSE f.attempts END,
               available_at = $4, locked_until = NULL, locked_by = NULL
           FROM UNNEST($1::uuid[], $2::int4[], $3::bool[]) AS u(id, seq, sent)
           WHERE f.id = u.id AND f.lease_seq = u.seq
             AND (f.status = 'delivering' OR f.dead_letter = 'pending')"#,
        &ids,
        &seqs,
        &sent,
        now,
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n)
}

/// How long finished fires are kept, counted from when they finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Delivered and cancelled fires (`FIRE_RETENTION`, default 7 days).
    pub finished: chrono::TimeDelta,
    /// Dead fires (`DEAD_FIRE_RETENTION`, default 30 days).
    pub dead: chrono::TimeDelta,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            finished: chrono::TimeDelta::days(7),
            dead: chrono::TimeDelta::days(30),
        }
    }
}

/// Removes up to `limit` fires past their retention at `now`, oldest first: delivered and
/// cancelled ones finished before `now - retention.finished`, dead ones before
/// `now - retention.dead` (not while their dead letter is still owed). Open fires are never
/// touched. Rows another pruner is removing are skipped (`SKIP LOCKED`), so any number of
/// runners prune at once without waiting on or failing each other. Returns how many went.
pub async fn prune(
    pool: &PgPool,
    now: DateTime<Utc>,
    retention: Retention,
    limit: i64,
) -> StoreResult<u64> {
    let n = sqlx::query!(
        r#"WITH finished AS (
               SELECT id FROM fires
               WHERE status IN ('delivered', 'cancelled') AND finished_at < $1
               ORDER BY finished_at LIMIT $3
               FOR UPDATE SKIP LOCKED
           ), dead AS (
               SELECT id FROM fires
               WHERE status = 'dead' AND finished_at < $2
                 AND dead_letter IS DISTINCT FROM 'pending'
               ORDER BY finished_at LIMIT $3
               FOR UPDATE SKIP LOCKED
           )
           DELETE FROM fires
           WHERE id IN (SELECT id FROM finished UNION ALL SELECT id FROM dead)"#,
        now - retention.finished,
        now - retention.dead,
        limit,
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n)
}

/// The database's clock: the one time that due-ness and lease expiry are judged on, whatever
/// the runners' clocks say.
pub async fn database_now(pool: &PgPool) -> StoreResult<DateTime<Utc>> {
    let now = sqlx::query_scalar!(r#"SELECT clock_timestamp() AS "now!""#)
        .fetch_one(pool)
        .await?;
    Ok(now)
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
                     status, attempts, last_error, created_at, delivered_at, dead_letter,
                     deliver_at"#,
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
                  status, attempts, last_error, created_at, delivered_at, dead_letter, deliver_at
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
                  status, attempts, last_error, created_at, delivered_at, dead_letter, deliver_at
           FROM fires WHERE scheduler_id = $1
           ORDER BY scheduled_for DESC
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
/// the organization's webhook signing secrets (decrypted; the previous one with its expiry).
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryContext {
    pub scheduler_id: String,
    pub organization_id: String,
    /// The scheduler's `created_by`: the envelope's `user_id`.
    pub created_by: String,
    pub name: String,
    pub event_type: String,
    pub job: serde_json::Value,
    pub signing_secret: crate::secrets::SigningSecrets,
}

/// The delivery contexts of the given schedulers, in one round trip. A scheduler that was
/// deleted meanwhile is simply absent (its open fires were cancelled with it).
pub async fn delivery_contexts(
    pool: &PgPool,
    scheduler_ids: &[String],
) -> StoreResult<Vec<DeliveryContext>> {
    let rows = sqlx::query!(
        r#"SELECT s.id AS scheduler_id, s.organization_id, s.created_by, s.name, s.event_type,
                  s.job, o.signing_secret, o.previous_signing_secret,
                  o.previous_signing_secret_expires_at
           FROM schedulers s JOIN organizations o ON o.id = s.organization_id
           WHERE s.id = ANY($1)"#,
        scheduler_ids
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            let signing_secret = crate::secrets::SigningSecrets::from_stored(
                &r.organization_id,
                &r.signing_secret,
                r.previous_signing_secret.as_deref(),
                r.previous_signing_secret_expires_at,
            )?;
            Ok(DeliveryContext {
                scheduler_id: r.scheduler_id,
                organization_id: r.organization_id,
                created_by: r.created_by,
                name: r.name,
                event_type: r.event_type,
                job: r.job,
                signing_secret,
            })
        })
        .collect()
}

/// Records many successful deliveries in one statement (`leases[i]` delivered at `at[i]`).
/// Only fires still under the given lease change: a cancelled fire stays cancelled, and a
/// holder whose lease moved on records nothing. Returns how many rows changed.
pub async fn mark_delivered_many(
    pool: &PgPool,
    leases: &[LeaseToken],
    at: &[DateTime<Utc>],
) -> StoreResult<u64> {
    let ids: Vec<Uuid> = leases.iter().map(|t| t.fire_id).collect();
    let seqs: Vec<i32> = leases.iter().map(|t| t.seq).collect();
    let n = sqlx::query!(
        r#"UPDATE fires f SET status = 'delivered', delivered_at = u.at, finished_at = u.at,
               locked_until = NULL, locked_by = NULL, last_error = NULL
           FROM UNNEST($1::uuid[], $2::int4[], $3::timestamptz[]) AS u(id, seq, at)
           WHERE f.id = u.id AND f.lease_seq = u.seq AND f.status = 'delivering'"#,
        &ids,
        &seqs,
        at
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n)
}

/// Extends the leases still held under the given tokens (a heartbeat for deliveries that
/// take longer than one lease, e.g. a slow webhook or a broker outage, and for outcomes and
/// dead letters not written yet). Leases that moved on are left alone. Returns how many
/// leases were extended.
pub async fn extend_leases(
    pool: &PgPool,
    leases: &[LeaseToken],
    until: DateTime<Utc>,
) -> StoreResult<u64> {
    let ids: Vec<Uuid> = leases.iter().map(|t| t.fire_id).collect();
    let seqs: Vec<i32> = leases.iter().map(|t| t.seq).collect();
    let n = sqlx::query!(
        r#"UPDATE fires f SET locked_until = $3, available_at = $3
           FROM UNNEST($1::uuid[], $2::int4[]) AS u(id, seq)
           WHERE f.id = u.id AND f.lease_seq = u.seq
             AND (f.status = 'delivering' OR f.dead_letter = 'pending')"#,
        &ids,
        &seqs,
        until
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
