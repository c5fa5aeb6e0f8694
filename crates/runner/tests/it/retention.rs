//! Retention with a settable clock: the runner prunes finished fires once the clock passes
//! their retention, and the counts that matter do not move.

use chrono::TimeDelta;
use scheduler_runner::Clock;
use scheduler_store::testing::fresh_db;

use crate::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruned_history_keeps_fire_count_and_max_fires() {
    let db = fresh_db().await;
    let rx = Receiver::start().await;
    let t0 = at("2026-03-01T00:00:00Z");
    let clock = Clock::manual(t0 - TimeDelta::seconds(1));
    insert(
        &db.pool,
        Sched {
            id: 1,
            job: webhook_job(&rx.url("/hook")),
            timing: json!({"type": "recurring", "trigger_frequency_unit": "minutes",
                "trigger_frequency_value": 1, "start_datetime": "2026-03-01T00:00:00Z",
                "max_fires": 2}),
        },
        clock.now(),
    )
    .await;
    let runner = start(
        &db.pool,
        RunnerConfig {
            prune_interval: Duration::from_millis(100),
            ..test_config()
        },
        &clock,
    );
    for m in 0..2 {
        clock.set(t0 + TimeDelta::minutes(m));
        wait_for(Duration::from_secs(10), "a delivery", || async {
            count(
                &db.pool,
                "SELECT count(*) FROM fires WHERE status = 'delivered'",
            )
            .await
                == m + 1
        })
        .await;
    }
    // Six days on: inside the retention, the history stays.
    clock.set(t0 + TimeDelta::days(6));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count(&db.pool, "SELECT count(*) FROM fires").await, 2);

    // Past it: the history goes, the scheduler still counts both fires and stays finished.
    clock.set(t0 + TimeDelta::days(8));
    wait_for(Duration::from_secs(10), "the history pruned", || async {
        count(&db.pool, "SELECT count(*) FROM fires").await == 0
    })
    .await;
    let (fire_count, finished, next): (i64, bool, Option<DateTime<Utc>>) = sqlx::query_as(
        "SELECT fire_count, is_finished, next_fire_at FROM schedulers WHERE id = $1",
    )
    .bind(hex_id(1))
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((fire_count, finished, next), (2, true, None));
    runner.shutdown().await;
    assert_eq!(
        rx.received(),
        2,
        "no slot fired again after its fire was pruned"
    );
}
