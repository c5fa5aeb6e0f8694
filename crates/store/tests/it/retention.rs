//! Fire history retention: what goes, what stays, concurrent pruners, and the upgrade from the
//! schema before retention.

use std::borrow::Cow;

use chrono::{DateTime, Duration, Utc};
use scheduler_store::fires::{self, Retention};
use scheduler_store::testing::fresh_db;
use scheduler_store::{tenancy, PgPool};

use crate::at;

/// Inserts one fire row as it stands after its life: `status`, finished at `finished`.
async fn fire(
    pool: &PgPool,
    slot: DateTime<Utc>,
    status: &str,
    finished: Option<DateTime<Utc>>,
    dead_letter: Option<&str>,
) -> uuid::Uuid {
    sqlx::query_scalar(
        "INSERT INTO fires (id, scheduler_id, organization_id, scheduled_for, status,
             available_at, created_at, finished_at, dead_letter)
         VALUES (gen_random_uuid(), $1, 'org_a', $2, $3, $2, $2, $4, $5) RETURNING id",
    )
    .bind(format!("{:024x}", slot.timestamp_micros()))
    .bind(slot)
    .bind(status)
    .bind(finished)
    .bind(dead_letter)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn exists(pool: &PgPool, id: uuid::Uuid) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM fires WHERE id = $1)")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn finished_fires_go_after_their_retention_open_ones_never() {
    let db = fresh_db().await;
    let now = at("2026-06-01T00:00:00Z");
    let r = Retention::default();
    let old = now - Duration::days(8);
    let recent = now - Duration::days(6);
    let ancient = now - Duration::days(400);
    let delivered_old = fire(&db.pool, old, "delivered", Some(old), None).await;
    let cancelled_old = fire(
        &db.pool,
        old - Duration::seconds(1),
        "cancelled",
        Some(old),
        None,
    )
    .await;
    let delivered_recent = fire(&db.pool, recent, "delivered", Some(recent), None).await;
    // Dead fires stay 30 days; one still owing its dead letter stays until it is sent.
    let dead_8d = fire(
        &db.pool,
        old - Duration::seconds(2),
        "dead",
        Some(old),
        Some("sent"),
    )
    .await;
    let dead_31d = fire(
        &db.pool,
        now - Duration::days(31),
        "dead",
        Some(now - Duration::days(31)),
        None,
    )
    .await;
    let dead_owing = fire(&db.pool, ancient, "dead", Some(ancient), Some("pending")).await;
    // Open fires stay whatever their age.
    let mut open = Vec::new();
    for (i, status) in ["pending", "delivering", "retrying"]
        .into_iter()
        .enumerate()
    {
        open.push(
            fire(
                &db.pool,
                ancient + Duration::seconds(i as i64 + 1),
                status,
                None,
                None,
            )
            .await,
        );
    }

    let removed = fires::prune(&db.pool, now, r, 100).await.unwrap();
    assert_eq!(removed, 3);
    assert!(!exists(&db.pool, delivered_old).await);
    assert!(!exists(&db.pool, cancelled_old).await);
    assert!(!exists(&db.pool, dead_31d).await);
    for kept in [delivered_recent, dead_8d, dead_owing]
        .into_iter()
        .chain(open)
    {
        assert!(exists(&db.pool, kept).await, "{kept} was removed");
    }
    // Nothing more to do; two days later the six-day-old one has gone too.
    assert_eq!(fires::prune(&db.pool, now, r, 100).await.unwrap(), 0);
    assert_eq!(
        fires::prune(&db.pool, now + Duration::days(2), r, 100)
            .await
            .unwrap(),
        1
    );
    assert!(!exists(&db.pool, delivered_recent).await);
}

/// Two pruners over one backlog: both succeed, and together they remove each row once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pruners_share_a_backlog_without_failing() {
    const N: i64 = 20_000;
    let db = fresh_db().await;
    let now = at("2026-06-01T00:00:00Z");
    sqlx::query(
        "INSERT INTO fires (id, scheduler_id, organization_id, scheduled_for, status,
             available_at, created_at, finished_at)
         SELECT gen_random_uuid(), lpad(to_hex(g), 24, '0'), 'org_a', $1, 'delivered', $1, $1, $1
         FROM generate_series(1, $2::int8) g",
    )
    .bind(now - Duration::days(10))
    .bind(N)
    .execute(&db.pool)
    .await
    .unwrap();
    let pruner = |pool: PgPool| async move {
        let mut total = 0u64;
        loop {
            let n = fires::prune(&pool, now, Retention::default(), 500)
                .await
                .expect("a pruner never fails because of another");
            if n == 0 {
                return total;
            }
            total += n;
        }
    };
    let (a, b) = tokio::join!(
        tokio::spawn(pruner(db.pool.clone())),
        tokio::spawn(pruner(db.pool.clone()))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    println!("pruners removed {a} + {b}");
    assert_eq!(a + b, N as u64);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM fires")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

/// A database on the schema before retention (migrations 1 to 3) with history in it: the
/// upgrade keeps every row and dates the finished ones.
#[tokio::test]
async fn the_upgrade_keeps_every_fire_and_dates_the_finished_ones() {
    let db = fresh_db().await;
    let pool = db.pool.clone();
    // Back to an empty database, then only the migrations before retention.
    sqlx::raw_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        .execute(&pool)
        .await
        .unwrap();
    let before = sqlx::migrate::Migrator {
        migrations: Cow::Owned(
            scheduler_store::MIGRATOR
                .iter()
                .filter(|m| m.version < 4)
                .cloned()
                .collect(),
        ),
        ignore_missing: false,
        locking: true,
        no_tx: false,
    };
    before.run(&pool).await.unwrap();
    tenancy::ensure_user(&pool, "org_a", "u1").await.unwrap();
    let t = at("2026-01-01T00:00:00Z");
    for (i, status) in [
        "pending",
        "delivering",
        "delivered",
        "retrying",
        "dead",
        "cancelled",
    ]
    .into_iter()
    .enumerate()
    {
        let delivered = (status == "delivered").then_some(t + Duration::seconds(5));
        sqlx::query(
            "INSERT INTO fires (id, scheduler_id, organization_id, scheduled_for, status,
                 available_at, created_at, delivered_at)
             VALUES (gen_random_uuid(), 'aaaaaaaaaaaaaaaaaaaaaaaa', 'org_a', $1, $2, $1, $1, $3)",
        )
        .bind(t + Duration::minutes(i as i64))
        .bind(status)
        .bind(delivered)
        .execute(&pool)
        .await
        .unwrap();
    }

    scheduler_store::migrate(&pool).await.unwrap();
    let rows: Vec<(String, Option<DateTime<Utc>>, DateTime<Utc>)> =
        sqlx::query_as("SELECT status, finished_at, created_at FROM fires ORDER BY scheduled_for")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), 6, "every row kept");
    for (status, finished, created) in rows {
        let expect = match status.as_str() {
            "delivered" => Some(t + Duration::seconds(5)),
            "dead" | "cancelled" => Some(created),
            _ => None,
        };
        assert_eq!(finished, expect, "{status}");
    }
}
