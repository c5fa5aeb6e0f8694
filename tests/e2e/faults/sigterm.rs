//! Case 6: SIGTERM while 2,000 deliveries hang on a slow receiver (it holds every request far
//! longer than the shutdown deadline) and more fires wait for a free slot. The process exits 0
//! within its deadline, leaves no lease behind, gives every unsent fire back at once with its
//! attempt count unchanged, and a second runner then delivers them all.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use scheduler_store::testing::fresh_db;
use uuid::Uuid;

use super::*;

const FIRES: u64 = 2_500;
const IN_FLIGHT: usize = 2_000;
const SHUTDOWN_SECS: u64 = 5;
/// What the process may take beyond SHUTDOWN_TIMEOUT_SECS to write outcomes and release leases.
const MARGIN: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_2000_deliveries_in_flight() {
    let db = fresh_db().await;
    let obs = observer(&db.url).await;
    // Every request is held for a minute (the job's timeout is a minute too).
    let rx =
        Receiver::with_policy(Arc::new(|_, _| Reply::after(200, Duration::from_secs(60)))).await;
    tenant(&db.pool).await;
    let mut job = webhook_job(&rx.url);
    job["timeout_ms"] = json!(60_000);
    let mut runner = Proc::serve(
        "runner",
        "runner",
        &db.url,
        &[
            ("RUNNER_CONCURRENCY", IN_FLIGHT.to_string()),
            ("SHUTDOWN_TIMEOUT_SECS", SHUTDOWN_SECS.to_string()),
        ],
    );
    runner.wait_ready().await;
    bulk_due(&db.pool, 1, FIRES, Utc::now(), &job).await;
    let filled = until(Duration::from_secs(30), || async { rx.open() >= IN_FLIGHT }).await;
    assert!(
        filled,
        "only {} requests in flight at the receiver ({})",
        rx.open(),
        statuses(&obs).await
    );
    // Let the runner settle (claims of the fires beyond its concurrency).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = statuses(&obs).await;
    let open_at_term = rx.open();

    let termed = Instant::now();
    runner.signal("-TERM");
    let deadline = Duration::from_secs(SHUTDOWN_SECS) + MARGIN;
    let status = runner.wait_exit(deadline + Duration::from_secs(10));
    let took = termed.elapsed();
    println!(
        "sigterm: {open_at_term} requests held at SIGTERM ({before}); exit {status:?} after \
         {took:?} (deadline {SHUTDOWN_SECS} s + {MARGIN:?})"
    );
    let status =
        status.unwrap_or_else(|| panic!("no exit within {:?}", deadline + Duration::from_secs(10)));
    assert!(status.success(), "exit status {status}");
    assert!(took <= deadline, "exit after {took:?}, beyond {deadline:?}");

    // The history right after the exit.
    let after = statuses(&obs).await;
    let rows: Vec<(Uuid, String, i32, bool)> =
        sqlx::query_as("SELECT id, status, attempts, available_at <= now() FROM fires")
            .fetch_all(&obs)
            .await
            .expect("fires");
    let seen = rx.per_fire();
    let mut wrong_status = Vec::new();
    let mut not_available = 0;
    let mut wrong_attempts = Vec::new();
    let mut by_seen: HashMap<(usize, i32), usize> = HashMap::new();
    for (id, st, attempts, available) in &rows {
        let k = seen.get(&id.to_string()).copied().unwrap_or(0);
        *by_seen.entry((k, *attempts)).or_default() += 1;
        if st == "delivered" {
            continue;
        }
        if st != "retrying" {
            wrong_status.push(format!("{id} {st}"));
            continue;
        }
        if !available {
            not_available += 1;
        }
        let ok = if k == 0 {
            *attempts == 0
        } else {
            *attempts as usize == k || *attempts as usize == k + 1
        };
        if !ok {
            wrong_attempts.push(format!("{id}: {k} requests seen, attempts {attempts}"));
        }
    }
    let mut table: Vec<_> = by_seen.into_iter().collect();
    table.sort();
    println!("sigterm: after the exit {after}; (requests seen, attempts) -> fires: {table:?}");
    assert_eq!(rows.len() as u64, FIRES);
    assert!(
        wrong_status.is_empty(),
        "{} fires neither delivered nor retrying (a lease left behind?), e.g. {:?}",
        wrong_status.len(),
        &wrong_status[..wrong_status.len().min(5)]
    );
    assert_eq!(not_available, 0, "retrying fires not available at once");
    assert!(
        wrong_attempts.is_empty(),
        "{} fires with attempts other than the sends that started, e.g. {:?}",
        wrong_attempts.len(),
        &wrong_attempts[..wrong_attempts.len().min(5)]
    );

    // A second runner, the receiver now fast, delivers everything.
    rx.set_policy(Arc::new(|_, _| Reply::OK));
    let again = Instant::now();
    let mut second = Proc::serve("runner2", "runner", &db.url, &[]);
    second.wait_ready().await;
    wait_delivered(&obs, FIRES, Duration::from_secs(30)).await;
    println!(
        "sigterm: a second runner delivered them all in {:?}",
        again.elapsed()
    );
    let per_fire = rx.per_fire();
    assert_eq!(
        per_fire.len() as u64,
        FIRES,
        "every fire reached the receiver"
    );
}
