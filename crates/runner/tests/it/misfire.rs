use std::time::Duration;

use chrono::TimeDelta;
use scheduler_runner::Clock;
use scheduler_store::testing::fresh_db;
use serde_json::json;

use crate::*;

/// Every-minute schedulers due at t0; the runners are down until t0 + 10 min 30 s. Eleven
/// slots were missed (t0 ... t0 + 10 min).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misfire_policies_after_downtime() {
    let db = fresh_db().await;
    let rx = Receiver::start().await;
    let t0 = at("2026-06-01T00:00:00Z");
    let clock = Clock::manual(t0 - TimeDelta::seconds(5));
    for (id, policy) in [(1, "fire_once"), (2, "skip"), (3, "fire_all")] {
        let timing = json!({"type": "recurring", "trigger_frequency_unit": "minutes",
            "trigger_frequency_value": 1, "start_datetime": "2026-06-01T00:00:00Z",
            "misfire_policy": policy});
        insert(
            &db.pool,
            Sched {
                id,
                job: webhook_job(&rx.url(&format!("/{policy}"))),
                timing,
            },
            clock.now(),
        )
        .await;
    }
    let back = t0 + TimeDelta::seconds(630);
    clock.set(back);
    let runner = start(&db.pool, test_config(), &clock);
    wait_for(Duration::from_secs(15), "1 + 11 deliveries", || async {
        count(
            &db.pool,
            "SELECT count(*) FROM fires WHERE status = 'delivered'",
        )
        .await
            == 12
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    runner.shutdown().await;

    let once = fires_of(&db.pool, 1).await;
    assert_eq!(once.len(), 1);
    assert_eq!(
        once[0].3,
        t0 + TimeDelta::minutes(10),
        "the most recent missed slot"
    );
    let (late, skipped): (bool, i32) =
        sqlx::query_as("SELECT late, skipped_slots FROM fires WHERE scheduler_id = $1")
            .bind(hex_id(1))
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((late, skipped), (true, 10));
    let body = rx
        .requests()
        .into_iter()
        .find(|r| r.path == "/fire_once")
        .unwrap()
        .json();
    assert_eq!(
        (body["late"].clone(), body["skipped_slots"].clone()),
        (json!(true), json!(10))
    );

    assert!(fires_of(&db.pool, 2).await.is_empty(), "skip fires nothing");

    let all = fires_of(&db.pool, 3).await;
    let want: Vec<DateTime<Utc>> = (0..=10).map(|m| t0 + TimeDelta::minutes(m)).collect();
    assert_eq!(all.iter().map(|f| f.3).collect::<Vec<_>>(), want);
    assert!(all.iter().all(|f| f.0 == "delivered"));

    // All three go on from the first slot after "now".
    let next: Vec<Option<DateTime<Utc>>> =
        sqlx::query_scalar("SELECT next_fire_at FROM schedulers ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(next, vec![Some(t0 + TimeDelta::minutes(11)); 3]);
}

/// A paused scheduler (next_fire_at NULL, as the API leaves it) is never claimed; resumed, it
/// fires from the next slot with no catch-up. A one-shot fires once and finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_one_shot() {
    let db = fresh_db().await;
    let rx = Receiver::start().await;
    let t0 = at("2026-06-01T00:00:00Z");
    let clock = Clock::manual(t0 - TimeDelta::seconds(5));
    let every_minute = json!({"type": "recurring", "trigger_frequency_unit": "minutes",
        "trigger_frequency_value": 1, "start_datetime": "2026-06-01T00:00:00Z"});
    let rec = insert(
        &db.pool,
        Sched {
            id: 1,
            job: webhook_job(&rx.url("/r")),
            timing: every_minute,
        },
        clock.now(),
    )
    .await;
    let one_shot = json!({"type": "non_recurring", "one_time_schedule_type": "exact",
        "start_datetime": "2026-06-01T00:00:30Z"});
    insert(
        &db.pool,
        Sched {
            id: 2,
            job: webhook_job(&rx.url("/once")),
            timing: one_shot,
        },
        clock.now(),
    )
    .await;
    let runner = start(&db.pool, test_config(), &clock);

    clock.set(t0);
    wait_for(Duration::from_secs(10), "first slot", || async {
        fires_of(&db.pool, 1).await.len() == 1
    })
    .await;
    // Pause, as the API does.
    sqlx::query("UPDATE schedulers SET is_paused = true, next_fire_at = NULL WHERE id = $1")
        .bind(hex_id(1))
        .execute(&db.pool)
        .await
        .unwrap();

    clock.set(t0 + TimeDelta::seconds(30));
    wait_for(Duration::from_secs(10), "one-shot", || async {
        fires_of(&db.pool, 2)
            .await
            .first()
            .is_some_and(|f| f.0 == "delivered")
    })
    .await;
    let (finished, next): (bool, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT is_finished, next_fire_at FROM schedulers WHERE id = $1")
            .bind(hex_id(2))
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((finished, next), (true, None));

    for m in 1..=5 {
        clock.set(t0 + TimeDelta::minutes(m));
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fires_of(&db.pool, 1).await.len(), 1, "paused: no fires");
    assert_eq!(
        fires_of(&db.pool, 2).await.len(),
        1,
        "finished: no more fires"
    );

    // Resume at t0 + 5 min 10 s: next slot t0 + 6 min, nothing for the paused minutes.
    let now = t0 + TimeDelta::seconds(310);
    clock.set(now);
    let next = rec.schedule().unwrap().initial_next_fire(now, 1).unwrap();
    assert_eq!(next, t0 + TimeDelta::minutes(6));
    sqlx::query("UPDATE schedulers SET is_paused = false, next_fire_at = $2 WHERE id = $1")
        .bind(hex_id(1))
        .bind(next)
        .execute(&db.pool)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fires_of(&db.pool, 1).await.len(), 1);
    clock.set(next);
    wait_for(Duration::from_secs(10), "resumed slot", || async {
        fires_of(&db.pool, 1).await.len() == 2
    })
    .await;
    runner.shutdown().await;
    let slots: Vec<DateTime<Utc>> = fires_of(&db.pool, 1)
        .await
        .into_iter()
        .map(|f| f.3)
        .collect();
    assert_eq!(slots, vec![t0, t0 + TimeDelta::minutes(6)]);
    assert_eq!(
        rx.requests().iter().filter(|r| r.path == "/once").count(),
        1
    );
}
