//! Due-ness and lease expiry are judged on the database's clock: a runner whose machine clock
//! runs ahead (or behind) follows Postgres' once it has synced, so it neither takes a live
//! lease nor delivers a slot early.

use chrono::TimeDelta;
use scheduler_runner::Clock;
use scheduler_store::testing::fresh_db;

use crate::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_ten_minutes_ahead_takes_no_live_lease_and_fires_nothing_early() {
    let db = fresh_db().await;
    let rx = Receiver::start().await;
    let db_now: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    // A fire another runner holds under a live 60 s lease (by the database's clock)...
    let held = insert(
        &db.pool,
        Sched {
            id: 1,
            job: webhook_job(&rx.url("/held")),
            timing: json!({"type": "non_recurring",
                "start_datetime": (db_now + TimeDelta::hours(1)).to_rfc3339()}),
        },
        db_now,
    )
    .await;
    sqlx::query(
        "INSERT INTO fires (id, scheduler_id, organization_id, scheduled_for, status, attempts,
             lease_seq, available_at, locked_until, locked_by, created_at)
         VALUES (gen_random_uuid(), $1, $2, $3, 'delivering', 1, 1, $4, $4, 'other-runner', $3)",
    )
    .bind(&held.id)
    .bind(ORG)
    .bind(db_now)
    .bind(db_now + TimeDelta::seconds(60))
    .execute(&db.pool)
    .await
    .unwrap();
    // ...and a one-shot due in five minutes.
    insert(
        &db.pool,
        Sched {
            id: 2,
            job: webhook_job(&rx.url("/later")),
            timing: json!({"type": "non_recurring",
                "start_datetime": (db_now + TimeDelta::minutes(5)).to_rfc3339()}),
        },
        db_now,
    )
    .await;

    // Its machine clock is ten minutes ahead: unsynced, it would see the lease expired and the
    // one-shot due.
    let skewed = Clock::system_skewed(TimeDelta::minutes(10));
    assert!((skewed.now() - Utc::now()) > TimeDelta::minutes(9));
    let runner = start(&db.pool, test_config(), &skewed);
    // A little over two poll intervals and a heartbeat: time for it to have taken both.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let offset = skewed.offset();
    runner.shutdown().await;

    assert!(
        offset.num_seconds().abs() < 5,
        "the runner's clock follows the database's (offset now {offset})"
    );
    assert_eq!(rx.received(), 0, "nothing delivered early or taken over");
    let (status, owner): (String, String) =
        sqlx::query_as("SELECT status, locked_by FROM fires WHERE scheduler_id = $1")
            .bind(&held.id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), owner.as_str()),
        ("delivering", "other-runner")
    );
    assert_eq!(
        fires_of(&db.pool, 2).await.len(),
        0,
        "the one-shot is not due yet"
    );
}
