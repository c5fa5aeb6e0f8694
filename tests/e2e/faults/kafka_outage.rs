//! Case 4: the Kafka broker (tansu) is killed in the middle of a Kafka burst and started again
//! on the same port 20 s later. Every fire reaches the broker (0 lost), and fires due at the kill
//! whose `job.retry.max_age_secs` (5 s) runs out while it is down end `dead` with their
//! dead letter produced once it is back (`dead_letter` 'pending' -> 'sent').
//!
//! The broker keeps its data in memory, so a killed broker forgets what it held. To tell the
//! runner's losses from the broker's, the runner is frozen (SIGSTOP) for a moment before the
//! kill while a consumer reads everything the broker has; then the broker is killed and the
//! runner thawed, its produce requests still in flight. After the restart the topics are created
//! again and a second consumer reads the new broker. Lost = fires read from neither.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::Utc;
use scheduler_store::testing::fresh_db;
use uuid::Uuid;

use super::*;

const FIRES: u64 = 6_000;
/// Fires with a short `max_age_secs`, to run out while the broker is down.
const SHORT: u64 = 300;
const SHORT_AGE_SECS: u64 = 5;
const TOPIC: &str = "faults-fires";
const DLT: &str = "faults-dead-letters";
const DOWN: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_20s_mid_burst() {
    let mut broker = Tansu::start();
    let port = broker.port;
    broker.create_topics(&[TOPIC, DLT]).await;
    let db = fresh_db().await;
    let obs = observer(&db.url).await;
    tenant(&db.pool).await;
    let mut runner = Proc::serve(
        "runner",
        "runner",
        &db.url,
        &[
            ("KAFKA_BROKERS", broker.brokers()),
            ("DEAD_LETTER_TOPIC", DLT.to_owned()),
            ("KAFKA_MESSAGE_TIMEOUT_MS", "3000".to_owned()),
            // The outage is tested, not the attempt limit.
            ("RETRY_MAX_ATTEMPTS", "100".to_owned()),
            ("RUNNER_LEASE_SECS", "10".to_owned()),
            // Room for new claims while every send waits out its timeout.
            ("RUNNER_CONCURRENCY", "2000".to_owned()),
        ],
    );
    runner.wait_ready().await;
    let fires1 = Collector::start(&broker, TOPIC);
    let dlt1 = Collector::start(&broker, DLT);

    let due = Utc::now();
    bulk_due(&db.pool, 1, FIRES, due, &kafka_job(TOPIC)).await;
    let started = Instant::now();
    wait_for(
        Duration::from_secs(60),
        "a quarter of the burst",
        || async { fires1.len() as u64 >= FIRES / 4 },
    )
    .await;

    // Freeze the runner, let the consumer read all the broker holds, kill the broker, thaw.
    runner.signal("-STOP");
    let frozen = Instant::now();
    let settled = until(Duration::from_secs(10), || async {
        fires1.idle() > Duration::from_millis(1500)
    })
    .await;
    assert!(settled, "the consumer kept reading with the runner frozen");
    let read_before = fires1.ids();
    let dead_before = dlt1.ids();
    drop(fires1);
    drop(dlt1);
    broker.kill();
    runner.signal("-CONT");
    let killed = Instant::now();
    // Fires that will run out of age before the broker is back: due before the burst's (so
    // claimed ahead of anything left of it, with room under RUNNER_CONCURRENCY), their first
    // attempt fails only after the producer's timeouts, older than max_age_secs.
    let mut short_job = kafka_job(TOPIC);
    short_job["retry"] = json!({"max_age_secs": SHORT_AGE_SECS});
    bulk_due(
        &db.pool,
        1_000_001,
        SHORT,
        due - chrono::Duration::seconds(1),
        &short_job,
    )
    .await;
    let at_kill = statuses(&obs).await;
    println!(
        "kafka_outage: broker killed {:?} into the burst ({:?} frozen); {} messages read from it; {at_kill}",
        killed - started,
        killed - frozen,
        read_before.len()
    );
    tokio::time::sleep(DOWN).await;
    let during = statuses(&obs).await;
    broker = Tansu::start_on(port);
    broker.create_topics(&[TOPIC, DLT]).await;
    let restarted = Instant::now();
    println!("kafka_outage: after {DOWN:?} down: {during}; broker restarted");
    let fires2 = Collector::start(&broker, TOPIC);
    let dlt2 = Collector::start(&broker, DLT);

    let total = (FIRES + SHORT) as i64;
    let settled = until(Duration::from_secs(75), || async {
        count(
            &obs,
            "SELECT count(*) FROM fires WHERE status IN ('delivered', 'dead')",
        )
        .await
            == total
            && count(
                &obs,
                "SELECT count(*) FROM fires WHERE status = 'dead' AND dead_letter IS DISTINCT FROM 'sent'",
            )
            .await
                == 0
    })
    .await;
    let took = restarted.elapsed();
    // What was acknowledged last is read within moments.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let on_broker: HashSet<String> = read_before.into_iter().chain(fires2.ids()).collect();
    let dead_letters: HashSet<String> = dead_before.into_iter().chain(dlt2.ids()).collect();
    let rows: Vec<(Uuid, String, bool, Option<String>)> = sqlx::query_as(
        "SELECT f.id, f.status, s.job ? 'retry', f.dead_letter FROM fires f
         JOIN schedulers s ON s.id = f.scheduler_id",
    )
    .fetch_all(&obs)
    .await
    .expect("fires");
    let (mut lost, mut dead_long, mut dead_short, mut dead_missing, mut delivered_short) =
        (0, 0, 0, 0, 0);
    let mut not_sent = 0;
    for (id, status, short, dead_letter) in &rows {
        let id = id.to_string();
        match status.as_str() {
            "delivered" => {
                if !on_broker.contains(&id) {
                    lost += 1;
                }
                if *short {
                    delivered_short += 1;
                }
            }
            "dead" => {
                if *short {
                    dead_short += 1;
                } else {
                    dead_long += 1;
                }
                if !dead_letters.contains(&id) {
                    dead_missing += 1;
                }
                if dead_letter.as_deref() != Some("sent") {
                    not_sent += 1;
                }
            }
            _ => {}
        }
    }
    println!(
        "kafka_outage: {:?} after the restart: {}; {} fire ids on the broker, {lost} delivered \
         fires missing there; {delivered_short} short-lived fires delivered, {dead_short} dead \
         ({dead_long} dead long-lived); {} dead letters read, {dead_missing} dead fires without \
         one, {not_sent} not recorded 'sent'",
        took,
        statuses(&obs).await,
        on_broker.len(),
        dead_letters.len()
    );
    assert!(runner.exited().is_none(), "{}", runner.log_tail(30));
    assert!(settled, "not settled within 75 s of the restart");
    assert_eq!(rows.len() as i64, total);
    assert_eq!(dead_long, 0, "fires with the default max_age died");
    assert_eq!(lost, 0, "fires recorded delivered but on neither broker");
    assert!(
        dead_short > 0,
        "no fire ran out of age while the broker was down"
    );
    assert_eq!(
        dead_missing, 0,
        "dead fires missing from the dead-letter topic"
    );
    assert_eq!(
        not_sent, 0,
        "dead fires whose dead letter is not recorded 'sent'"
    );
}
