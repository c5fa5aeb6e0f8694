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
