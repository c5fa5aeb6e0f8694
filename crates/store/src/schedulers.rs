//! Scheduler documents: create, read, list, update, delete.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgPool, Postgres, Transaction};

use crate::{StoreError, StoreResult};

/// One scheduler row: the client's document plus the run state the runner maintains.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerRecord {
    pub id: String,
    pub organization_id: String,
    pub created_by: String,
    pub updated_by: Option<String>,
    /// `type` in the API: `recurring` or `non_recurring`.
    pub kind: String,
    pub name: String,
    pub event_type: String,
    pub description: String,
    pub options: Option<Value>,
    pub job: Value,
    pub internal_id: Option<String>,
    pub channel_source: String,
    pub trigger_frequency_unit: Option<String>,
    pub trigger_frequency_value: Option<i32>,
    pub trigger_time: Option<DateTime<Utc>>,
    pub triger_month_and_day: Option<DateTime<Utc>>,
    pub start_datetime: DateTime<Utc>,
    pub one_time_schedule_type: Option<String>,
    pub timezone: String,
    pub cron_expression: Option<String>,
    /// EventBridge form (`rate(...)`, `cron(...)`, `at(...)`) as given; the frequency and cron
    /// fields are `None` when it is set.
    pub schedule_expression: Option<String>,
    /// 0 (off) to 1,440.
    pub flexible_time_window_minutes: i32,
    pub end_datetime: Option<DateTime<Utc>>,
    pub max_fires: Option<i64>,
    pub misfire_policy: String,
    pub is_paused: bool,
    pub is_finished: bool,
    pub next_fire_at: Option<DateTime<Utc>>,
    pub last_fired_at: Option<DateTime<Utc>>,
    pub fire_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The `event_type` filter of the list route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventTypeFilter {
    Any,
    /// Matches when the event type equals one of these (`contains:a,b` or a bare value).
    OneOf(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct ListQuery<'a> {
    pub organization_id: &'a str,
    pub user_id: &'a str,
    pub event_type: EventTypeFilter,
    pub limit: i64,
    pub skip: i64,
}

#[derive(Debug, Clone)]
pub struct ListPage {
    pub items: Vec<SchedulerRecord>,
    pub total: i64,
}

/// Who is asking: every read and write is scoped by organization and owning user.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    pub organization_id: &'a str,
    pub user_id: &'a str,
}

// One column list for every SELECT, so the record mapping cannot drift between queries.
// (sqlx's macros accept literals joined with `+`, not `concat!`.)
macro_rules! query_scheduler {
    ($tail:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            $crate::schedulers::SchedulerRecord,
            "SELECT id, organization_id, created_by, updated_by, type AS kind, name, event_type,
               description, options, job, internal_id, channel_source, trigger_frequency_unit,
               trigger_frequency_value, trigger_time, triger_month_and_day, start_datetime,
               one_time_schedule_type, timezone, cron_expression, schedule_expression,
               flexible_time_window_minutes, end_datetime, max_fires,
               misfire_policy, is_paused, is_finished, next_fire_at, last_fired_at, fire_count,
               created_at, updated_at
             FROM schedulers " + $tail
            $(, $arg)*
        )
    };
}
pub(crate) use query_scheduler;

pub async fn insert(tx: &mut Transaction<'_, Postgres>, s: &SchedulerRecord) -> StoreResult<()> {
    sqlx::query!(
        r#"INSERT INTO schedulers (
               id, organization_id, created_by, updated_by, type, name, event_type, description,
               options, job, internal_id, channel_source, trigger_frequency_unit,
               trigger_frequency_value, trigger_time, triger_month_and_day, start_datetime,
               one_time_schedule_type, timezone, cron_expression, end_datetime, max_fires,
               misfire_policy, is_paused, is_finished, next_fire_at, last_fired_at, fire_count,
               created_at, updated_at, schedule_expression, flexible_time_window_minutes)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                   $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32)"#,
        s.id,
        s.organization_id,
        s.created_by,
        s.updated_by,
        s.kind,
        s.name,
        s.event_type,
        s.description,
        s.options,
        s.job,
        s.internal_id,
        s.channel_source,
        s.trigger_frequency_unit,
        s.trigger_frequency_value,
        s.trigger_time,
        s.triger_month_and_day,
        s.start_datetime,
        s.one_time_schedule_type,
        s.timezone,
        s.cron_expression,
        s.end_datetime,
        s.max_fires,
        s.misfire_policy,
        s.is_paused,
        s.is_finished,
        s.next_fire_at,
        s.last_fired_at,
        s.fire_count,
        s.created_at,
        s.updated_at,
        s.schedule_expression,
        s.flexible_time_window_minutes,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes every client-editable field and the run state of `s` (read-modify-write: the caller
/// read the row with [`get_for_update`] in the same transaction).
pub async fn update(tx: &mut Transaction<'_, Postgres>, s: &SchedulerRecord) -> StoreResult<()> {
    let updated = sqlx::query!(
        r#"UPDATE schedulers SET
               updated_by = $3, type = $4, name = $5, event_type = $6, description = $7,
               options = $8, job = $9, internal_id = $10, channel_source = $11,
               trigger_frequency_unit = $12, trigger_frequency_value = $13, trigger_time = $14,
               triger_month_and_day = $15, start_datetime = $16, one_time_schedule_type = $17,
               timezone = $18, cron_expression = $19, end_datetime = $20, max_fires = $21,
               misfire_policy = $22, is_paused = $23, is_finished = $24, next_fire_at = $25,
               updated_at = $26, schedule_expression = $27, flexible_time_window_minutes = $28
           WHERE id = $1 AND organization_id = $2"#,
        s.id,
        s.organization_id,
        s.updated_by,
        s.kind,
        s.name,
        s.event_type,
        s.description,
        s.options,
        s.job,
        s.internal_id,
        s.channel_source,
        s.trigger_frequency_unit,
        s.trigger_frequency_value,
        s.trigger_time,
        s.triger_month_and_day,
        s.start_datetime,
        s.one_time_schedule_type,
        s.timezone,
        s.cron_expression,
        s.end_datetime,
        s.max_fires,
        s.misfire_policy,
        s.is_paused,
        s.is_finished,
        s.next_fire_at,
        s.updated_at,
        s.schedule_expression,
        s.flexible_time_window_minutes,
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub async fn get(pool: &PgPool, owner: Owner<'_>, id: &str) -> StoreResult<SchedulerRecord> {
    let row = query_scheduler!(
        "WHERE id = $1 AND organization_id = $2 AND created_by = $3",
        id,
        owner.organization_id,
        owner.user_id
    )
    .fetch_one(pool)
    .await?;
    Ok(row)
}

/// Reads and locks the row until the transaction ends, so concurrent updates and the runner's
/// claim serialize on it.
pub async fn get_for_update(
    tx: &mut Transaction<'_, Postgres>,
    owner: Owner<'_>,
    id: &str,
) -> StoreResult<SchedulerRecord> {
    let row = query_scheduler!(
        "WHERE id = $1 AND organization_id = $2 AND created_by = $3 FOR UPDATE",
        id,
        owner.organization_id,
        owner.user_id
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(row)
}

/// Deletes the scheduler and cancels its open fires in the same transaction. Returns the
/// deleted row (its attachments are the caller's to clean up after commit).
pub async fn delete(
    tx: &mut Transaction<'_, Postgres>,
    owner: Owner<'_>,
    id: &str,
    now: DateTime<Utc>,
) -> StoreResult<SchedulerRecord> {
    let row = get_for_update(tx, owner, id).await?;
    sqlx::query!(
        r#"UPDATE fires SET status = 'cancelled', finished_at = $2, locked_until = NULL,
               locked_by = NULL,
               last_error = COALESCE(last_error, 'scheduler deleted'), available_at = $2
           WHERE scheduler_id = $1 AND status IN ('pending', 'retrying', 'delivering')"#,
        id,
        now
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!("DELETE FROM schedulers WHERE id = $1", id)
        .execute(&mut **tx)
        .await?;
    Ok(row)
}

/// One page of an owner's schedulers, newest first, with the exact `total` of the filter.
/// The total is read from the kept counts (migration 0009: folded counts plus the deltas not
/// folded yet, in one statement), so it costs a few index probes however many schedulers the
/// owner has. With an event-type filter the page is read through the
/// (owner, event_type, created_at) index, the filter an index condition.
pub async fn list(pool: &PgPool, q: &ListQuery<'_>) -> StoreResult<ListPage> {
    let event_types: Option<Vec<String>> = match &q.event_type {
        EventTypeFilter::Any => None,
        EventTypeFilter::OneOf(v) => Some(v.clone()),
    };
    let total = sqlx::query_scalar!(
        r#"SELECT (COALESCE((SELECT sum(n) FROM scheduler_counts
                             WHERE organization_id = $1 AND created_by = $2
                               AND ($3::text[] IS NULL OR event_type = ANY($3))), 0)
                 + COALESCE((SELECT sum(delta) FROM scheduler_count_deltas
                             WHERE organization_id = $1 AND created_by = $2
                               AND ($3::text[] IS NULL OR event_type = ANY($3))), 0)
                  )::int8 AS "total!""#,
        q.organization_id,
        q.user_id,
        event_types.as_deref(),
    )
    .fetch_one(pool)
    .await?;
    let items = match &event_types {
        None => {
            query_scheduler!(
                "WHERE organization_id = $1 AND created_by = $2
                 ORDER BY created_at DESC, id DESC
                 LIMIT $3 OFFSET $4",
                q.organization_id,
                q.user_id,
                q.limit,
                q.skip,
            )
            .fetch_all(pool)
            .await?
        }
        Some(types) => {
            query_scheduler!(
                "WHERE organization_id = $1 AND created_by = $2 AND event_type = ANY($3)
                 ORDER BY created_at DESC, id DESC
                 LIMIT $4 OFFSET $5",
                q.organization_id,
                q.user_id,
                types,
                q.limit,
                q.skip,
            )
            .fetch_all(pool)
            .await?
        }
    };
    Ok(ListPage { items, total })
}

/// Folds up to `limit` pending count deltas into `scheduler_counts` (one statement; rows
/// another runner is folding are skipped). Returns how many deltas were folded.
pub async fn fold_counts(pool: &PgPool, limit: i64) -> StoreResult<u64> {
    let n = sqlx::query_scalar!(
        r#"WITH moved AS (
               DELETE FROM scheduler_count_deltas
               WHERE ctid IN (SELECT ctid FROM scheduler_count_deltas LIMIT $1
                              FOR UPDATE SKIP LOCKED)
               RETURNING organization_id, created_by, event_type, delta
           ), folded AS (
               INSERT INTO scheduler_counts AS c (organization_id, created_by, event_type, n)
               SELECT organization_id, created_by, event_type, sum(delta)
               FROM moved GROUP BY organization_id, created_by, event_type
               ON CONFLICT (organization_id, created_by, event_type)
               DO UPDATE SET n = c.n + EXCLUDED.n
           )
           SELECT count(*) AS "n!" FROM moved"#,
        limit
    )
    .fetch_one(pool)
    .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Tells runners waiting on `LISTEN scheduler_due` that a scheduler is due at `at`.
/// Sent inside the caller's transaction, so it is delivered only if the change commits.
pub async fn notify_due(tx: &mut Transaction<'_, Postgres>, at: DateTime<Utc>) -> StoreResult<()> {
    sqlx::query!(
        "SELECT pg_notify($1, $2)",
        crate::DUE_CHANNEL,
        at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl SchedulerRecord {
    /// The timing fields of this row as a JSON document: what an update's body is merged
    /// into before the merged document is validated (the API's write path).
    pub fn timing_json(&self) -> serde_json::Map<String, Value> {
        fn ts(t: Option<DateTime<Utc>>) -> Value {
            t.map_or(Value::Null, |t| {
                Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            })
        }
        let mut m = serde_json::Map::new();
        m.insert("type".into(), Value::String(self.kind.clone()));
        m.insert(
            "one_time_schedule_type".into(),
            self.one_time_schedule_type
                .clone()
                .map_or(Value::Null, Value::String),
        );
        m.insert(
            "trigger_frequency_unit".into(),
            self.trigger_frequency_unit
                .clone()
                .map_or(Value::Null, Value::String),
        );
        m.insert(
            "trigger_frequency_value".into(),
            self.trigger_frequency_value
                .map_or(Value::Null, Value::from),
        );
        m.insert("trigger_time".into(), ts(self.trigger_time));
        m.insert("triger_month_and_day".into(), ts(self.triger_month_and_day));
        m.insert("start_datetime".into(), ts(Some(self.start_datetime)));
        m.insert("timezone".into(), Value::String(self.timezone.clone()));
        m.insert(
            "cron_expression".into(),
            self.cron_expression
                .clone()
                .map_or(Value::Null, Value::String),
        );
        m.insert(
            "schedule_expression".into(),
            self.schedule_expression
                .clone()
                .map_or(Value::Null, Value::String),
        );
        m.insert(
            "flexible_time_window_minutes".into(),
            Value::from(self.flexible_time_window_minutes),
        );
        m.insert("end_datetime".into(), ts(self.end_datetime));
        m.insert(
            "max_fires".into(),
            self.max_fires.map_or(Value::Null, Value::from),
        );
        m.insert(
            "misfire_policy".into(),
            Value::String(self.misfire_policy.clone()),
        );
        m
    }

    /// The timing columns of this row, typed.
    pub fn stored_timing(&self) -> scheduler_core::StoredTiming<'_> {
        scheduler_core::StoredTiming {
            kind: &self.kind,
            one_time_schedule_type: self.one_time_schedule_type.as_deref(),
            trigger_frequency_unit: self.trigger_frequency_unit.as_deref(),
            trigger_frequency_value: self.trigger_frequency_value.map(i64::from),
            trigger_time: self.trigger_time,
            triger_month_and_day: self.triger_month_and_day,
            start_datetime: self.start_datetime,
            timezone: &self.timezone,
            cron_expression: self.cron_expression.as_deref(),
            schedule_expression: self.schedule_expression.as_deref(),
            flexible_time_window_minutes: i64::from(self.flexible_time_window_minutes),
            end_datetime: self.end_datetime,
            max_fires: self.max_fires,
            misfire_policy: &self.misfire_policy,
        }
    }

    /// The validated schedule of this row, read from its typed columns (no JSON in between:
    /// the runner plans every fire through this).
    pub fn schedule(&self) -> Result<scheduler_core::Schedule, scheduler_core::ValidationError> {
        scheduler_core::Schedule::from_stored(&self.stored_timing())
    }
}
