//! Case 5: a stale lease holder. Runner A (a 2 s lease) sends a few fires to a receiver that
//! holds its requests; A is frozen (SIGSTOP) past its lease; runner B takes the fires over and
//! delivers them (the receiver answers second requests 200). Then the receiver answers A's held
//! requests 503 (retryable) or 400 (permanent) and A is thawed (SIGCONT). A's outcomes come from
//! a lease that has moved on: they change nothing. Every fire stays `delivered`, none is sent a
//! third time, and nothing reaches the dead-letter topic.

use std::time::{Duration, Instant};

use chrono::Utc;
use scheduler_store::testing::fresh_db;

use super::*;

const FIRES: u64 = 20;
const DLT: &str = "faults-dead-letters";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_holder_outcomes_change_nothing() {
    let broker = Tansu::start();
    broker.create_topics(&[DLT]).await;
    let db = fresh_db().await;
    let obs = observer(&db.url).await;
    tenant(&db.pool).await;
    // First request of a fire: held, then 503 (even scheduler ids) or 400 (odd); later: 200.
    let rx = Receiver::with_policy(Arc::new(|h: &Hit, nth| {
        if nth > 1 {
            return Reply::OK;
        }
        let n = u64::from_str_radix(&h.scheduler_id, 16).unwrap_or(0);
        Reply::held(if n.is_multiple_of(2) { 503 } else { 400 })
    }))
    .await;
    let kafka = [
        ("KAFKA_BROKERS", broker.brokers()),
        ("DEAD_LETTER_TOPIC", DLT.to_owned()),
    ];
    let mut a_env = kafka.to_vec();
    a_env.push(("RUNNER_LEASE_SECS", "2".to_owned()));
    let mut a = Proc::serve("runner-a", "runner", &db.url, &a_env);
    a.wait_ready().await;
    let mut job = webhook_job(&rx.url);
    job["timeout_ms"] = json!(60_000);
    bulk_due(&db.pool, 1, FIRES, Utc::now(), &job).await;
    wait_for(Duration::from_secs(10), "A's requests held", || async {
        rx.open() as u64 >= FIRES
    })
    .await;

    a.signal("-STOP");
    let stopped = Instant::now();
    wait_for(Duration::from_secs(15), "A's leases expired", || async {
        count(
            &obs,
            "SELECT count(*) FROM fires WHERE status = 'delivering' AND locked_until > now()",
        )
        .await
            == 0
    })
    .await;
    let expired = stopped.elapsed();
    let mut b = Proc::serve("runner-b", "runner", &db.url, &kafka);
    b.wait_ready().await;
    wait_delivered(&obs, FIRES, Duration::from_secs(15)).await;
    let taken_over = stopped.elapsed();

    // A's held requests are answered while it is frozen; it reads the answers when thawed.
    rx.release();
    a.signal("-CONT");
    let thawed = Instant::now();
    // Give A time to record its outcomes (and a wrongly retried fire time to go out again).
    tokio::time::sleep(Duration::from_secs(5)).await;

    let after = statuses(&obs).await;
    let per_fire = rx.per_fire();
    let mut sends: Vec<usize> = per_fire.values().copied().collect();
    sends.sort_unstable();
    let dlt = broker.consumer(DLT);
    let dead_letters = consume_ids(&dlt, 1000, Duration::from_secs(3)).await;
    println!(
        "stale_holder: A frozen; its leases expired after {expired:?}, B delivered all {FIRES} \
         after {taken_over:?}; {:?} after A was thawed: {after}; requests per fire {sends:?}; \
         {} dead letters; A logged {} stale-lease lines",
        thawed.elapsed(),
        dead_letters.len(),
        a.log_count("stale") + a.log_count("lease moved") + a.log_count("fenced"),
    );
    for p in [&mut a, &mut b] {
        assert!(
            p.exited().is_none(),
            "{} exited\n{}",
            p.name,
            p.log_tail(20)
        );
    }
    assert_eq!(
        count(
            &obs,
            "SELECT count(*) FROM fires WHERE status = 'delivered'"
        )
        .await,
        FIRES as i64,
        "the history must say delivered for every fire: {after}"
    );
    assert!(
        sends.iter().all(|&n| n == 2),
        "each fire sent by A once and by B once, no third send: {sends:?}"
    );
    assert!(
        dead_letters.is_empty(),
        "{} dead letters produced for delivered fires",
        dead_letters.len()
    );
    assert_eq!(
        count(
            &obs,
            "SELECT count(*) FROM fires WHERE dead_letter IS NOT NULL"
        )
        .await,
        0,
        "no dead-letter bookkeeping on delivered fires"
    );
}
