//! Case 1: three runner processes share a burst of 20,000 webhook fires due at once; one is
//! SIGKILLed when a third of them has arrived. Nothing is lost, a repeat always carries the
//! fire id of its slot, and there are no more repeats than the killed runner had in flight.

use std::time::{Duration, Instant};

use chrono::Utc;
use scheduler_store::testing::fresh_db;

use super::*;

const FIRES: u64 = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_one_of_three_runners_mid_burst() {
    let db = fresh_db().await;
    let obs = observer(&db.url).await;
    let rx = Receiver::start().await;
    tenant(&db.pool).await;
    let envs = [
        ("RUNNER_LEASE_SECS", "5".to_owned()),
        ("DATABASE_MAX_CONNECTIONS", "8".to_owned()),
    ];
    let mut runners: Vec<Proc> = (0..3)
        .map(|i| Proc::serve(&format!("runner{i}"), "runner", &db.url, &envs))
        .collect();
    for r in &mut runners {
        r.wait_ready().await;
    }

    let started = Instant::now();
    bulk_due(&db.pool, 1, FIRES, Utc::now(), &webhook_job(&rx.url)).await;
    wait_for(
        Duration::from_secs(60),
        "a third of the fires arrived",
        || async { rx.distinct() as u64 >= FIRES / 3 },
    )
    .await;
    let victim = runners.remove(0);
    let pid = victim.pid();
    let mut victim = victim;
    victim.signal("-KILL");
    victim
        .wait_exit(Duration::from_secs(5))
        .expect("the killed runner is gone");
    let arrived_at_kill = rx.distinct();
    let in_flight = count(
        &obs,
        &format!(
            "SELECT count(*) FROM fires WHERE status = 'delivering' AND locked_by LIKE '%-{pid}-%'"
        ),
    )
    .await;
    let killed_at = Instant::now();
    println!(
        "runner_kill: SIGKILL of pid {pid} after {:?} with {arrived_at_kill} of {FIRES} arrived; \
         it held {in_flight} fires in flight",
        started.elapsed()
    );

    wait_delivered(&obs, FIRES, Duration::from_secs(60)).await;
    let all_in = Instant::now();
    // Late repeats (a redelivery racing its own outcome) would arrive within moments.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let hits = rx.hits();
    let repeats = check_ids(&hits);
    let distinct = rx.distinct();
    println!(
        "runner_kill: all {FIRES} delivered {:?} after the start ({:?} after the kill); \
         {} requests, {distinct} distinct fire ids, {repeats} repeats (bound: {in_flight} in flight)",
        all_in - started,
        all_in - killed_at,
        hits.len()
    );
    for r in &mut runners {
        assert!(
            r.exited().is_none(),
            "{} exited\n{}",
            r.name,
            r.log_tail(20)
        );
    }
    assert_eq!(
        count(&obs, "SELECT count(*) FROM fires").await,
        FIRES as i64,
        "one fire per slot"
    );
    assert_eq!(
        distinct as u64,
        FIRES,
        "lost fires: {}",
        FIRES - distinct as u64
    );
    assert!(
        repeats as i64 <= in_flight,
        "{repeats} repeats, more than the {in_flight} fires the killed runner had in flight"
    );
}
