use std::collections::HashSet;
use std::time::Duration;

use chrono::TimeDelta;
use rdkafka::mocking::MockCluster;
use scheduler_runner::{Clock, KafkaConfig, RunnerConfig};
use scheduler_store::testing::fresh_db;
use serde_json::json;

use crate::*;

pub fn mock_cluster(
    topics: &[&str],
) -> MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
    let cluster = MockCluster::new(1).expect("mock cluster");
    for t in topics {
        cluster.create_topic(t, 1, 1).expect("create topic");
    }
    cluster
}

pub fn kafka_config(brokers: &str) -> RunnerConfig {
    RunnerConfig {
        kafka: Some(KafkaConfig {
            message_timeout: Duration::from_secs(5),
            ..KafkaConfig::new(brokers)
        }),
        ..test_config()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_message_has_key_headers_and_envelope() {
    let db = fresh_db().await;
    let cluster = mock_cluster(&["ROUTER.OUTGOING_MESSAGE"]);
    let t0 = at("2026-05-01T12:00:00Z");
    let clock = Clock::manual(t0 - TimeDelta::seconds(1));
    let timing = json!({"type": "recurring", "trigger_frequency_unit": "minutes",
        "trigger_frequency_value": 1, "start_datetime": "2026-05-01T12:00:00Z"});
    insert(
        &db.pool,
        Sched {
            id: 7,
            job: kafka_job("ROUTER.OUTGOING_MESSAGE"),
            timing,
        },
        clock.now(),
    )
    .await;
    let runner = start(&db.pool, kafka_config(&cluster.bootstrap_servers()), &clock);
    clock.set(t0);
    let c = consumer(&cluster.bootstrap_servers(), "ROUTER.OUTGOING_MESSAGE", 1);
    let got = consume(&c, 1, Duration::from_secs(10)).await;
    wait_for(Duration::from_secs(5), "delivered", || async {
        fires_of(&db.pool, 7)
            .await
            .first()
            .is_some_and(|f| f.0 == "delivered")
    })
    .await;
    runner.shutdown().await;
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m.key, hex_id(7));
    let fire_id = m.value["fire_id"].as_str().unwrap();
    assert_eq!(m.header("fire-id"), Some(fire_id));
    assert_eq!(m.header("event-type"), Some("whatsapp"));
    assert_eq!(m.header("organization-id"), Some(ORG));
    assert_eq!(
        m.value,
        json!({"fire_id": fire_id, "scheduler_id": hex_id(7), "organization_id": ORG,
               "user_id": USER, "event_type": "whatsapp", "name": "scheduler 7",
               "scheduled_for": "2026-05-01T12:00:00.000Z", "fired_at": "2026-05-01T12:00:00.000Z",
               "attempt": 1, "workflow_id": "wf-1", "data": {"message": "hello"}, "files": []})
    );
}

/// The (mock) broker goes down during a burst and comes back: every fire is delivered, the
/// ones that timed out on a later attempt with the same fire id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_broker_down_then_up_loses_nothing() {
    let db = fresh_db().await;
    let cluster = mock_cluster(&["t"]);
    let brokers = cluster.bootstrap_servers();
    let t0 = at("2026-05-01T12:00:00Z");
    let clock = Clock::manual(t0);
    bulk_due(&db.pool, 1, 500, t0, &kafka_job("t")).await;
    cluster.broker_down(1).unwrap();
    let mut cfg = kafka_config(&brokers);
    cfg.kafka.as_mut().unwrap().message_timeout = Duration::from_secs(1);
    let runner = start(&db.pool, cfg, &clock);
    wait_for(Duration::from_secs(15), "failed attempts", || async {
        count(
            &db.pool,
            "SELECT count(*) FROM fires WHERE status = 'retrying'",
        )
        .await
            == 500
    })
    .await;
    cluster.broker_up(1).unwrap();
    // Retry times come from the set clock, so it must keep moving: the producer may need more
    // than one attempt to reconnect (slow on a loaded machine), and each failed attempt sets a
    // later retry time. Two clock seconds per half real second keeps the backoff far from the
    // attempt limit.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        clock.advance(TimeDelta::seconds(2));
        let delivered = count(
            &db.pool,
            "SELECT count(*) FROM fires WHERE status = 'delivered'",
        )
        .await;
        if delivered == 500 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for all delivered ({delivered} of 500)"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let dead = count(&db.pool, "SELECT count(*) FROM fires WHERE status = 'dead'").await;
    assert_eq!(dead, 0);
    runner.shutdown().await;
    let c = consumer(&brokers, "t", 1);
    let got = consume(&c, 10_000, Duration::from_secs(3)).await;
    let ids: HashSet<&str> = got
        .iter()
        .map(|m| m.value["fire_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 500, "every fire reached the broker");
    assert!(got
        .iter()
        .all(|m| m.value["attempt"].as_i64().unwrap() >= 2));
}

/// A dead fire is also produced to the dead-letter topic, with its last error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_fires_go_to_the_dead_letter_topic() {
    let db = fresh_db().await;
    let cluster = mock_cluster(&["dlt"]);
    let rx = Receiver::start().await;
    rx.script(&[(400, Duration::ZERO)]);
    let t0 = at("2026-05-01T12:00:00Z");
    let clock = Clock::manual(t0);
    bulk_due(&db.pool, 1, 1, t0, &webhook_job(&rx.url("/x"))).await;
    let cfg = RunnerConfig {
        dead_letter_topic: Some("dlt".into()),
        ..kafka_config(&cluster.bootstrap_servers())
    };
    let runner = start(&db.pool, cfg, &clock);
    let c = consumer(&cluster.bootstrap_servers(), "dlt", 1);
    let got = consume(&c, 1, Duration::from_secs(10)).await;
    runner.shutdown().await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].key, hex_id(1));
    assert!(got[0].value["last_error"]
        .as_str()
        .unwrap()
        .contains("HTTP 400"));
    assert_eq!(fires_of(&db.pool, 1).await[0].0, "dead");
}
