//! Case 3: every database connection of the runner is cut (`pg_terminate_backend`), again and
//! again for several seconds, while it writes the outcomes of a burst. Nothing is lost and
//! nothing is delivered twice: an outcome write that fails is retried until the database
//! answers, and the fire stays leased (renewed) until it is durable.

use std::time::{Duration, Instant};

use chrono::Utc;
use scheduler_store::testing::fresh_db;

use super::*;

const FIRES: u64 = 15_000;
const CUT_FOR: Duration = Duration::from_secs(6);
const CUT_EVERY: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_connections_cut_while_writing_outcomes() {
    let db = fresh_db().await;
    let obs = observer(&db.url).await;
    let rx = Receiver::start().await;
    tenant(&db.pool).await;
    let mut runner = Proc::serve(
        "runner",
        "runner",
        &db.url,
        &[("RUNNER_LEASE_SECS", "10".to_owned())],
    );
    runner.wait_ready().await;

    let started = Instant::now();
    bulk_due(&db.pool, 1, FIRES, Utc::now(), &webhook_job(&rx.url)).await;
    wait_for(Duration::from_secs(60), "the burst under way", || async {
        rx.distinct() as u64 >= FIRES / 10
    })
    .await;

    // Cut every connection to the test database but the observer's and the killer's own.
    let kill_sql = format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = '{}' AND pid <> pg_backend_pid() \
         AND application_name <> 'faults-observer'",
        db.name
    );
    let at_cut = rx.distinct();
    let delivered_at_cut = count(
        &obs,
        "SELECT count(*) FROM fires WHERE status = 'delivered'",
    )
    .await;
    let cut_started = Instant::now();
    let mut cut = 0i64;
    let mut rounds = 0;
    while cut_started.elapsed() < CUT_FOR {
        cut += count(&obs, &kill_sql).await;
        rounds += 1;
        tokio::time::sleep(CUT_EVERY).await;
    }
    let after_cut = rx.distinct();
    println!(
        "conn_cut: {rounds} rounds over {CUT_FOR:?} terminated {cut} backends; \
         {at_cut} fires had arrived ({delivered_at_cut} recorded delivered) at the first cut, \
         {after_cut} at the last"
    );

    wait_delivered(&obs, FIRES, Duration::from_secs(60)).await;
    let all_in = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let hits = rx.hits();
    let repeats = check_ids(&hits);
    let per_fire = rx.per_fire();
    let most = per_fire.values().copied().max().unwrap_or(0);
    println!(
        "conn_cut: all {FIRES} delivered in {all_in:?}; {} requests, {} distinct, {repeats} \
         repeats (most requests for one fire: {most}); outcome write failures logged: {}",
        hits.len(),
        per_fire.len(),
        runner.log_count("cannot")
    );
    assert!(
        runner.exited().is_none(),
        "the runner exited\n{}",
        runner.log_tail(30)
    );
    assert_eq!(per_fire.len() as u64, FIRES, "lost fires");
    assert_eq!(repeats, 0, "fires delivered more than once");
}
