use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use scheduler_core::{Plan, PlanInput};
use scheduler_store::fires::{self, ClaimRequest, Lease};
use scheduler_store::schedulers::SchedulerRecord;
use scheduler_store::testing::fresh_db;
use scheduler_store::{tenancy, PgPool};

use crate::at;

fn planner(now: DateTime<Utc>) -> impl FnMut(&SchedulerRecord) -> Result<Plan, String> {
    move |r| {
        let schedule = r.schedule().map_err(|e| e.to_string())?;
        Ok(schedule.plan(PlanInput {
            scheduler_id: &r.id,
            due: r.next_fire_at.ok_or("not due")?,
            fired: u64::try_from(r.fire_count).unwrap_or(0),
            now,
            grace: Duration::seconds(60),
        }))
    }
}

/// `n` every-minute schedulers of org_a/u1 starting at `start`, due at `next_fire_at`.
async fn bulk_schedulers(
    pool: &PgPool,
    n: i64,
    start: DateTime<Utc>,
    next_fire_at: DateTime<Utc>,
    offset: i64,
) {
    sqlx::query(
        r#"INSERT INTO schedulers (id, organization_id, created_by, type, name, event_type, job,
               trigger_frequency_unit, trigger_frequency_value, start_datetime, next_fire_at,
               created_at, updated_at)
           SELECT lpad(to_hex(g), 24, '0'), 'org_a', 'u1', 'recurring', 'n' || g, 'e',
                  '{"type":"kafka","topic":"t"}', 'minutes', 1, $1, $2, $1, $1
           FROM generate_series($3::int8, $3::int8 + $4::int8 - 1) g"#,
    )
    .bind(start)
    .bind(next_fire_at)
    .bind(offset)
    .bind(n)
    .execute(pool)
    .await
    .expect("bulk insert");
}

#[tokio::test]
async fn four_concurrent_claimers_take_every_due_slot_exactly_once() {
    let db = fresh_db().await;
    tenancy::ensure_user(&db.pool, "org_a", "u1").await.unwrap();
    let t0 = at("2026-03-08T06:00:00Z");
    const N: i64 = 20_000;
    bulk_schedulers(&db.pool, N, t0, t0, 1).await;
    let now = t0 + Duration::seconds(1);

    let mut tasks = Vec::new();
    for worker in 0..4 {
        let pool = db.pool.clone();
        tasks.push(tokio::spawn(async move {
            let owner = format!("runner-{worker}");
            let mut mine = Vec::new();
            loop {
                let outcome = fires::claim_due(
                    &pool,
                    ClaimRequest {
                        now,
                        limit: 500,
                        lease: Lease {
                            owner: &owner,
                            until: now + Duration::seconds(30),
                        },
                    },
                    planner(now),
                )
                .await
                .expect("claim");
                if outcome.schedulers == 0 {
                    // Empty can mean "others hold the rest": stop only when nothing is due.
                    let left: i64 = sqlx::query_scalar(
                        "SELECT count(*) FROM schedulers WHERE next_fire_at <= $1",
                    )
                    .bind(now)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                    if left == 0 {
                        break;
                    }
                    tokio::task::yield_now().await;
                    continue;
                }
                assert!(outcome.broken.is_empty());
                mine.extend(outcome.fires);
            }
            mine
        }));
    }
    let mut all = Vec::new();
    let mut per_worker = Vec::new();
    for t in tasks {
        let mine = t.await.unwrap();
        per_worker.push(mine.len());
        all.extend(mine);
    }
    assert_eq!(all.len() as i64, N, "per worker: {per_worker:?}");
    let slots: HashSet<_> = all
        .iter()
        .map(|f| (f.scheduler_id.clone(), f.scheduled_for))
        .collect();
    assert_eq!(slots.len() as i64, N, "no slot claimed twice");
    assert!(all
        .iter()
        .all(|f| f.scheduled_for == t0 && !f.late && f.attempts == 1));

    let (fires_total, fires_distinct): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT (scheduler_id, scheduled_for)) FROM fires")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((fires_total, fires_distinct), (N, N));
    let (advanced, counted): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE next_fire_at = $1), count(*) FILTER (WHERE fire_count = 1 AND last_fired_at = $2) FROM schedulers",
    )
    .bind(t0 + Duration::minutes(1))
    .bind(t0)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((advanced, counted), (N, N));
}

#[tokio::test]
async fn a_claim_takes_only_due_schedulers_and_leases_their_fires() {
    let db = fresh_db().await;
    tenancy::ensure_user(&db.pool, "org_a", "u1").await.unwrap();
    let t0 = at("2026-01-01T00:00:00Z");
    bulk_schedulers(&db.pool, 5, t0, t0, 1).await;
    bulk_schedulers(&db.pool, 5, t0, t0 + Duration::minutes(10), 100).await;
    let now = t0 + Duration::seconds(2);
    let lease_until = now + Duration::seconds(30);
    let outcome = fires::claim_due(
        &db.pool,
        ClaimRequest {
            now,
            limit: 100,
            lease: Lease {
                owner: "r1",
                until: lease_until,
            },
        },
        planner(now),
    )
    .await
    .unwrap();
    assert_eq!((outcome.schedulers, outcome.fires.len()), (5, 5));

    // Leased to the claimer: nobody else can take them before the lease expires...
    let other = Lease {
        owner: "r2",
        until: now + Duration::minutes(5),
    };
    assert!(fires::lease_available(&db.pool, now, 100, other)
        .await
        .unwrap()
        .is_empty());
    // ...and once it has expired (the claimer died), anyone can, as attempt 2.
    let after_expiry = lease_until + Duration::milliseconds(1);
    let retaken = fires::lease_available(
        &db.pool,
        after_expiry,
        100,
        Lease {
            owner: "r2",
            until: after_expiry + Duration::seconds(30),
        },
    )
    .await
    .unwrap();
    assert_eq!(retaken.len(), 5);
    assert!(retaken.iter().all(|f| f.attempts == 2));
    let ids: HashSet<_> = outcome.fires.iter().map(|f| f.id).collect();
    assert!(
        retaken.iter().all(|f| ids.contains(&f.id)),
        "same fire ids on redelivery"
    );

    // The first holder's lease moved on: everything it writes is fenced off.
    let stale = outcome.fires[0].token();
    let stale_failure = fires::Failure {
        token: stale,
        error: "400 from a stale holder",
        sent: true,
    };
    assert_eq!(stale.seq + 1, retaken[0].lease_seq);
    assert!(
        !fires::mark_retrying(&db.pool, &stale_failure, after_expiry)
            .await
            .unwrap()
    );
    assert!(
        !fires::mark_dead(&db.pool, &stale_failure, after_expiry, None)
            .await
            .unwrap()
    );
    assert_eq!(
        fires::mark_delivered_many(&db.pool, &[stale], &[after_expiry])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        fires::extend_leases(&db.pool, &[stale], after_expiry + Duration::hours(1))
            .await
            .unwrap(),
        0
    );
    let stale_release = fires::Release {
        token: stale,
        sent: false,
    };
    assert_eq!(
        fires::release(&db.pool, &[stale_release], after_expiry)
            .await
            .unwrap(),
        0
    );
    let row = fires::get(&db.pool, stale.fire_id).await.unwrap();
    assert_eq!((row.status.as_str(), row.attempts), ("delivering", 2));

    // Outcomes under the current leases.
    let [a, b, c, d, e] = &retaken[..] else {
        panic!()
    };
    assert_eq!(
        fires::mark_delivered_many(&db.pool, &[a.token()], &[after_expiry])
            .await
            .unwrap(),
        1
    );
    let failure = |f: &fires::LeasedFire, error: &'static str, sent| fires::Failure {
        token: f.token(),
        error,
        sent,
    };
    assert!(fires::mark_retrying(
        &db.pool,
        &failure(b, "503", true),
        after_expiry + Duration::seconds(4)
    )
    .await
    .unwrap());
    assert!(
        fires::mark_dead(&db.pool, &failure(c, "400", true), after_expiry, None)
            .await
            .unwrap()
    );
    assert_eq!(
        fires::get(&db.pool, a.id).await.unwrap().status,
        "delivered"
    );
    let b_row = fires::get(&db.pool, b.id).await.unwrap();
    assert_eq!(
        (
            b_row.status.as_str(),
            b_row.last_error.as_deref(),
            b_row.attempts
        ),
        ("retrying", Some("503"), 2)
    );
    let c_row = fires::get(&db.pool, c.id).await.unwrap();
    assert_eq!(
        (c_row.status.as_str(), c_row.dead_letter.as_deref()),
        ("dead", None)
    );
    // The retry is not available before its time.
    let early = fires::lease_available(&db.pool, after_expiry + Duration::seconds(3), 100, other)
        .await
        .unwrap();
    assert!(early.iter().all(|f| f.id != b.id));

    // Giving leases back makes in-flight fires available at once; one never sent gets its
    // attempt back, one sent keeps it.
    let released = fires::release(
        &db.pool,
        &[
            fires::Release {
                token: d.token(),
                sent: false,
            },
            fires::Release {
                token: e.token(),
                sent: true,
            },
        ],
        after_expiry,
    )
    .await
    .unwrap();
    assert_eq!(released, 2);
    let d_row = fires::get(&db.pool, d.id).await.unwrap();
    let e_row = fires::get(&db.pool, e.id).await.unwrap();
    assert_eq!((d_row.status.as_str(), d_row.attempts), ("retrying", 1));
    assert_eq!((e_row.status.as_str(), e_row.attempts), ("retrying", 2));

    let history = fires::history(&db.pool, &a.scheduler_id, 10, 0)
        .await
        .unwrap();
    assert_eq!(history.total, 1);
}

#[tokio::test]
async fn the_claim_uses_the_due_index_at_100k_schedulers() {
    let db = fresh_db().await;
    tenancy::ensure_user(&db.pool, "org_a", "u1").await.unwrap();
    let t0 = at("2026-01-01T00:00:00Z");
    // 100,000 stored, 200 due, the rest due far in the future.
    bulk_schedulers(&db.pool, 200, t0, t0, 1).await;
    bulk_schedulers(&db.pool, 99_800, t0, t0 + Duration::days(30), 1_000).await;
    sqlx::query("ANALYZE schedulers")
        .execute(&db.pool)
        .await
        .unwrap();
    // The plan of the statement the claim really sends, not of a copy of it.
    let claim =
        scheduler_store::testing::explain_claim(&db.pool, t0 + Duration::seconds(1), 500).await;
    assert!(claim.plan.contains("schedulers_due"), "{claim:#?}");
    assert!(!claim.plan.contains("Seq Scan"), "{claim:#?}");
    // Explaining changed nothing: the claim was cancelled before it claimed.
    let fires: i64 = sqlx::query_scalar("SELECT count(*) FROM fires")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(fires, 0);
}
