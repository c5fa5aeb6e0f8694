//! The bench's own SQL: bulk rows straight into the service's tables (the API would be the
//! bottleneck of the setup, not what is measured), cleanup, and what the runs left behind.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection, PgPool, Row};

use crate::stats::Summary;

pub const ORG: &str = "bench";
/// Owners: `load` (fires of the runs), `api` (rows the API reads), `idle` (never due),
/// `pgbench` (ceiling runs).
pub const USERS: [&str; 4] = ["load", "api", "idle", "pgbench"];
/// Id ranges (24 hex digits, `lpad(to_hex(base + n))`) per owner.
pub const LOAD_BASE: i64 = 0x2_0000_0000;
pub const API_BASE: i64 = 0x1_0000_0000;
pub const IDLE_BASE: i64 = 0x3_0000_0000;
pub const PGBENCH_BASE: i64 = 0x4_0000_0000;

/// Creates `bench_<stamp>` on the server of `server_url` (dropping the databases earlier runs
/// left) and returns its URL.
pub async fn fresh_database(server_url: &str, keep_old: bool) -> anyhow::Result<String> {
    let mut admin = PgConnection::connect(server_url).await?;
    if !keep_old {
        let old: Vec<String> =
            sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'bench\\_%'")
                .fetch_all(&mut admin)
                .await?;
        for d in old {
            eprintln!("bench: dropping the database {d} of an earlier run");
            sqlx::raw_sql(&format!(r#"DROP DATABASE IF EXISTS "{d}" WITH (FORCE)"#))
                .execute(&mut admin)
                .await?;
        }
    }
    let name = format!("bench_{}", Utc::now().format("%Y%m%d_%H%M%S"));
    sqlx::raw_sql(&format!(r#"CREATE DATABASE "{name}""#))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(with_database(server_url, &name))
}

pub async fn drop_database(server_url: &str, db_url: &str) -> anyhow::Result<()> {
    let name = db_url
        .split('?')
        .next()
        .unwrap_or_default()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let mut admin = PgConnection::connect(server_url).await?;
    sqlx::raw_sql(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
        .execute(&mut admin)
        .await?;
    Ok(())
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{}", &base[..path_start], db);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

pub async fn vacuum(pool: &PgPool) -> anyhow::Result<()> {
    // One statement a query: several would make one transaction, where VACUUM cannot run.
    for t in ["schedulers", "fires"] {
        sqlx::raw_sql(&format!("VACUUM ANALYZE {t}"))
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// Removes the rows of earlier runs (the `load` owner's schedulers and every fire).
pub async fn reset_load(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::raw_sql("DELETE FROM schedulers WHERE created_by IN ('load', 'pgbench'); TRUNCATE fires")
        .execute(pool)
        .await?;
    vacuum(pool).await
}

/// `n` one-shot schedulers of the `load` owner: all due at `t0` when `rate` is 0, else spread
/// evenly, `rate` a second (whole milliseconds) from `t0`.
pub async fn insert_one_shots(
    pool: &PgPool,
    n: u64,
    t0: DateTime<Utc>,
    rate: u64,
    window_minutes: u32,
    job: &Value,
) -> anyhow::Result<()> {
    sqlx::query(
        r#"INSERT INTO schedulers (id, organization_id, created_by, type, name, event_type, job,
               start_datetime, next_fire_at, created_at, updated_at, flexible_time_window_minutes)
           SELECT lpad(to_hex($1::int8 + g), 24, '0'), $2, 'load', 'non_recurring',
                  'bench ' || g, 'bench', $3::jsonb, s, s, now(), now(), $7
           FROM (SELECT g, $4::timestamptz
                        + (CASE WHEN $5::int8 > 0 THEN g * 1000 / $5::int8 ELSE 0 END)
                          * interval '1 millisecond' AS s
                 FROM generate_series(0::int8, $6::int8 - 1) g) x"#,
    )
    .bind(LOAD_BASE)
    .bind(ORG)
    .bind(job)
    .bind(t0)
    .bind(rate as i64)
    .bind(n as i64)
    .bind(window_minutes as i32)
    .execute(pool)
    .await?;
    Ok(())
}

/// `n` recurring (hourly) schedulers of `owner` with ids from `base`, first due at `first`
/// plus `step_ms` per row.
pub async fn insert_recurring(
    pool: &PgPool,
    owner: &str,
    base: i64,
    n: u64,
    first: &str,
    step_ms: i64,
) -> anyhow::Result<()> {
    let job = json!({"type": "kafka", "topic": "bench-idle", "data": {"bench": true}});
    sqlx::query(
        r#"INSERT INTO schedulers (id, organization_id, created_by, type, name, event_type, job,
               trigger_frequency_unit, trigger_frequency_value, start_datetime, next_fire_at,
               created_at, updated_at)
           SELECT lpad(to_hex($1::int8 + g), 24, '0'), $2, $3, 'recurring', 'bench ' || g,
                  'bench', $4::jsonb, 'hours', 1, s, s, now(), now()
           FROM (SELECT g, $5::timestamptz + g * $6::int8 * interval '1 millisecond' AS s
                 FROM generate_series(1::int8, $7::int8) g) x"#,
    )
    .bind(base)
    .bind(ORG)
    .bind(owner)
    .bind(&job)
    .bind(first)
    .bind(step_ms)
    .bind(n as i64)
    .execute(pool)
    .await?;
    Ok(())
}

/// `n` delivered fires that finished ten days ago (past the default 7-day retention), as a
/// history that has not been pruned for a while would hold.
pub async fn insert_finished_backlog(pool: &PgPool, n: u64) -> anyhow::Result<()> {
    // In slices, so one statement's WAL and memory stay bounded.
    const SLICE: i64 = 1_000_000;
    let n = n as i64;
    let mut from = 0;
    while from < n {
        let to = (from + SLICE).min(n);
        sqlx::query(
            r#"INSERT INTO fires (id, scheduler_id, organization_id, scheduled_for, status,
                   attempts, available_at, created_at, delivered_at, finished_at)
               SELECT gen_random_uuid(), lpad(to_hex(g % 100000), 24, '0'), $1, t, 'delivered',
                      1, t, t, t, t
               FROM (SELECT g, now() - interval '10 days' + g * interval '1 millisecond' AS t
                     FROM generate_series($2::int8, $3::int8 - 1) g) x"#,
        )
        .bind(ORG)
        .bind(from)
        .bind(to)
        .execute(pool)
        .await?;
        from = to;
    }
    Ok(())
}

/// Rows of `fires` past the default retention, all rows, and the table's size with its
/// indexes.
pub async fn history_size(pool: &PgPool) -> anyhow::Result<Value> {
    let (past, rows, bytes): (i64, i64, i64) = sqlx::query_as(
        r#"SELECT (SELECT count(*) FROM fires
                   WHERE status IN ('delivered', 'cancelled')
                     AND finished_at < now() - interval '7 days'),
                  (SELECT count(*) FROM fires),
                  pg_total_relation_size('fires')"#,
    )
    .fetch_one(pool)
    .await?;
    Ok(json!({
        "past_retention": past,
        "rows": rows,
        "total_mib": (bytes as f64 / 1048576.0 * 10.0).round() / 10.0,
    }))
}

/// The `api` owner's rows (ids `API_BASE + 1..=n`), inserted once.
pub async fn ensure_api_rows(pool: &PgPool, n: u64) -> anyhow::Result<()> {
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM schedulers WHERE created_by = 'api'")
        .fetch_one(pool)
        .await?;
    if have == 0 {
        insert_recurring(pool, "api", API_BASE, n, "2100-01-01T00:00:00Z", 1000).await?;
        vacuum(pool).await?;
    }
    Ok(())
}

pub async fn server_info(pool: &PgPool) -> anyhow::Result<Value> {
    let r = sqlx::query(
        "SELECT version(), current_setting('fsync'), current_setting('synchronous_commit'),
                current_setting('shared_buffers'), current_setting('max_connections')",
    )
    .fetch_one(pool)
    .await?;
    Ok(json!({
        "version": r.get::<String, _>(0),
        "fsync": r.get::<String, _>(1),
        "synchronous_commit": r.get::<String, _>(2),
        "shared_buffers": r.get::<String, _>(3),
        "max_connections": r.get::<String, _>(4),
    }))
}

/// What the fires table says after a delivery run: counts, the last acknowledgement, and the
/// claim batches (fires created by one claim share its `created_at`). Only the fires created
/// from `since` on: a history backlog the run started with is not the run's.
pub async fn fire_report(
    pool: &PgPool,
    since: DateTime<Utc>,
) -> anyhow::Result<(Value, Option<f64>)> {
    let r = sqlx::query(
        "SELECT count(*), count(DISTINCT (scheduler_id, scheduled_for)),
                count(*) FILTER (WHERE status <> 'delivered'), count(*) FILTER (WHERE attempts > 1),
                (extract(epoch FROM max(delivered_at)) * 1000)::float8
         FROM fires WHERE created_at >= $1",
    )
    .bind(since)
    .fetch_one(pool)
    .await?;
    let last_ack: Option<f64> = r.get(4);
    let batches: Vec<(f64, i64, Option<f64>)> = sqlx::query_as(
        "SELECT (extract(epoch FROM created_at) * 1000)::float8, count(*),
                (extract(epoch FROM max(delivered_at)) * 1000)::float8
         FROM fires WHERE created_at >= $1 GROUP BY created_at ORDER BY created_at",
    )
    .bind(since)
    .fetch_all(pool)
    .await?;
    let mut sizes: Vec<f64> = batches.iter().map(|b| b.1 as f64).collect();
    let mut gaps: Vec<f64> = batches.windows(2).map(|w| w[1].0 - w[0].0).collect();
    let mut turnaround: Vec<f64> = batches
        .iter()
        .filter_map(|b| b.2.map(|d| d - b.0))
        .collect();
    Ok((
        json!({
            "fires": r.get::<i64, _>(0),
            "distinct_slots": r.get::<i64, _>(1),
            "not_delivered": r.get::<i64, _>(2),
            "retried": r.get::<i64, _>(3),
            "claims": {
                "batches": batches.len(),
                "size": Summary::of(&mut sizes).json(),
                "ms_between_claim_starts": Summary::of(&mut gaps).json(),
                "ms_claim_to_last_ack_of_batch": Summary::of(&mut turnaround).json(),
            },
        }),
        last_ack,
    ))
}
