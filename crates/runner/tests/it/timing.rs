use std::time::Duration;

use chrono::TimeDelta;
use scheduler_runner::Clock;
use scheduler_store::testing::fresh_db;
use serde_json::json;

use crate::*;

/// One scheduler per unit; the clock is moved to just before each expected instant (nothing
/// fires) and then onto it (exactly that slot fires, on time). Instants are written out by hand
/// here, across a DST change and month ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_unit_fires_at_the_right_instants() {
    let db = fresh_db().await;
    let rx = Receiver::start().await;
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        (
            "minutes",
            json!({"trigger_frequency_unit": "minutes", "trigger_frequency_value": 15,
                   "start_datetime": "2026-03-07T10:00:00Z"}),
            vec![
                "2026-03-07T10:00:00Z",
                "2026-03-07T10:15:00Z",
                "2026-03-07T10:30:00Z",
            ],
        ),
        (
            "hours",
            json!({"trigger_frequency_unit": "hours", "trigger_frequency_value": 2,
                   "start_datetime": "2026-03-07T23:00:00Z"}),
            vec![
                "2026-03-07T23:00:00Z",
                "2026-03-08T01:00:00Z",
                "2026-03-08T03:00:00Z",
            ],
        ),
        (
            // 09:30 in New York across the spring-forward night of 2026-03-08.
            "days",
            json!({"trigger_frequency_unit": "days", "trigger_frequency_value": 1,
                   "timezone": "America/New_York", "start_datetime": "2026-03-07T14:30:00Z"}),
            vec![
                "2026-03-07T14:30:00Z",
                "2026-03-08T13:30:00Z",
                "2026-03-09T13:30:00Z",
            ],
        ),
        (
            "weeks",
            json!({"trigger_frequency_unit": "weeks", "trigger_frequency_value": 1,
                   "start_datetime": "2026-02-20T08:00:00Z"}),
            vec![
                "2026-02-20T08:00:00Z",
                "2026-02-27T08:00:00Z",
                "2026-03-06T08:00:00Z",
            ],
        ),
        (
            // The 31st, clamped to February's end without drifting.
            "months",
            json!({"trigger_frequency_unit": "months", "trigger_frequency_value": 1,
                   "start_datetime": "2026-01-31T12:00:00Z"}),
            vec![
                "2026-01-31T12:00:00Z",
                "2026-02-28T12:00:00Z",
                "2026-03-31T12:00:00Z",
            ],
        ),
        (
            // Feb 29 falls on Feb 28 in common years.
            "years",
            json!({"trigger_frequency_unit": "years", "trigger_frequency_value": 1,
                   "start_datetime": "2024-02-29T00:00:00Z"}),
            vec![
                "2024-02-29T00:00:00Z",
                "2025-02-28T00:00:00Z",
                "2026-02-28T00:00:00Z",
            ],
        ),
        (
            // Weekdays at 09:30 London time; BST starts on Sunday 2026-03-29.
            "cron",
            json!({"trigger_frequency_unit": "cron", "cron_expression": "30 9 * * MON-FRI",
                   "timezone": "Europe/London", "start_datetime": "2026-03-27T00:00:00Z"}),
            vec![
                "2026-03-27T09:30:00Z",
                "2026-03-30T08:30:00Z",
                "2026-03-31T08:30:00Z",
            ],
        ),
    ];

    let clock = Clock::manual(at("2024-01-01T00:00:00Z"));
    let runner = start(&db.pool, test_config(), &clock);
    for (n, (unit, mut timing, expected)) in cases.into_iter().enumerate() {
        let id = n as u64 + 1;
        timing["type"] = json!("recurring");
        let first = at(expected[0]);
        clock.set(first - TimeDelta::minutes(1));
        insert(
            &db.pool,
            Sched {
                id,
                job: webhook_job(&rx.url(&format!("/{unit}"))),
                timing,
            },
            clock.now(),
        )
        .await;
        for (k, e) in expected.iter().enumerate() {
            let e = at(e);
            clock.set(e - TimeDelta::milliseconds(1));
            tokio::time::sleep(Duration::from_millis(120)).await;
            assert_eq!(
                fires_of(&db.pool, id).await.len(),
                k,
                "{unit}: nothing before {e}"
            );
            clock.set(e);
            wait_for(Duration::from_secs(10), unit, || async {
                fires_of(&db.pool, id)
                    .await
                    .iter()
                    .filter(|f| f.0 == "delivered")
                    .count()
                    == k + 1
            })
            .await;
        }
        let got: Vec<DateTime<Utc>> = fires_of(&db.pool, id)
            .await
            .into_iter()
            .map(|f| f.3)
            .collect();
        let want: Vec<DateTime<Utc>> = expected.iter().map(|e| at(e)).collect();
        assert_eq!(got, want, "{unit}");
        let late: i64 = count(
            &db.pool,
            &format!(
                "SELECT count(*) FROM fires WHERE late AND scheduler_id = '{}'",
                hex_id(id)
            ),
        )
        .await;
        assert_eq!(late, 0, "{unit}: on time");
        let path = format!("/{unit}");
        let bodies: Vec<Value> = rx
            .requests()
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.json())
            .collect();
        let sent: Vec<&str> = bodies
            .iter()
            .map(|b| b["scheduled_for"].as_str().unwrap())
            .collect();
        let want_ms: Vec<String> = want
            .iter()
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .collect();
        assert_eq!(sent, want_ms, "{unit}: envelopes");
        // This case is done: out of the way of the next one's clock.
        sqlx::query("DELETE FROM schedulers WHERE id = $1")
            .bind(hex_id(id))
            .execute(&db.pool)
            .await
            .unwrap();
    }
    runner.shutdown().await;
}

/// A flexible window: each slot is claimed at the slot (counted, next slot planned) but
/// delivered at its planned instant, the one `Schedule::delivery_instant` gives for the
/// scheduler's id and the slot, never a millisecond before it; the envelope carries it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flexible_window_delivers_each_slot_at_its_planned_instant() {
    let db = fresh_db().await;
    let rx = Receiver::start().await;
    let slot = at("2026-06-01T09:00:00Z");
    let clock = Clock::manual(slot - TimeDelta::minutes(1));
    let mut planned = Vec::new();
    for id in 1..=4u64 {
        let r = insert(
            &db.pool,
            Sched {
                id,
                job: webhook_job(&rx.url(&format!("/{id}"))),
                timing: json!({"type": "recurring", "trigger_frequency_unit": "days",
                               "trigger_frequency_value": 1, "start_datetime": "2026-06-01T09:00:00Z",
                               "flexible_time_window_minutes": 15}),
            },
            clock.now(),
        )
        .await;
        let deliver_at = r.schedule().unwrap().delivery_instant(&r.id, slot);
        assert!(deliver_at > slot && deliver_at < slot + TimeDelta::minutes(15));
        planned.push((id, deliver_at));
    }
    planned.sort_by_key(|p| p.1);
    let runner = start(&db.pool, test_config(), &clock);

    // The slot comes: every scheduler is claimed and advanced, nothing is delivered.
    clock.set(slot);
    wait_for(Duration::from_secs(10), "the claim", || async {
        count(
            &db.pool,
            "SELECT count(*) FROM fires WHERE status = 'pending'",
        )
        .await
            == 4
    })
    .await;
    assert_eq!(
        count(
            &db.pool,
            "SELECT count(*) FROM schedulers
             WHERE fire_count = 1 AND next_fire_at = '2026-06-02T09:00:00Z'"
        )
        .await,
        4,
        "claimed and advanced at the slot"
    );

    for (k, (id, deliver_at)) in planned.iter().enumerate() {
        clock.set(*deliver_at - TimeDelta::milliseconds(1));
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(
            rx.received(),
            k,
            "scheduler {id}: nothing before {deliver_at}"
        );
        clock.set(*deliver_at);
        wait_for(Duration::from_secs(10), "the planned delivery", || async {
            rx.received() == k + 1
        })
        .await;
        let body = rx.requests()[k].json();
        assert_eq!(rx.requests()[k].path, format!("/{id}"));
        assert_eq!(body["scheduled_for"], "2026-06-01T09:00:00.000Z");
        assert_eq!(
            body["deliver_at"],
            deliver_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        );
        assert_eq!(body["attempt"], 1);
    }
    wait_for(Duration::from_secs(10), "all delivered", || async {
        count(
            &db.pool,
            "SELECT count(*) FROM fires WHERE status = 'delivered'",
        )
        .await
            == 4
    })
    .await;
    assert_eq!(
        count(&db.pool, "SELECT count(*) FROM fires WHERE late").await,
        0,
        "claimed at the slot: on time"
    );
    runner.shutdown().await;
}
