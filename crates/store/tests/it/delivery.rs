//! The queries the runner's delivery side uses.

use chrono::Duration;
use scheduler_store::fires::{self, ClaimRequest, Lease};
use scheduler_store::schedulers;
use scheduler_store::tenancy;
use scheduler_store::testing::fresh_db;

use crate::{at, hex_id, record};

#[tokio::test]
async fn contexts_batched_outcomes_lease_renewal_and_next_wakeup() {
    let db = fresh_db().await;
    tenancy::ensure_user(&db.pool, "org_a", "u1").await.unwrap();
    let t0 = at("2026-01-01T00:00:00Z");
    assert_eq!(fires::next_wakeup(&db.pool).await.unwrap(), None);
    let mut tx = db.pool.begin().await.unwrap();
    for n in 1..=3 {
        let mut r = record("org_a", "u1", &hex_id(n), t0);
        r.next_fire_at = Some(t0 + Duration::minutes(n as i64));
        schedulers::insert(&mut tx, &r).await.unwrap();
    }
    tx.commit().await.unwrap();
    assert_eq!(
        fires::next_wakeup(&db.pool).await.unwrap(),
        Some(t0 + Duration::minutes(1))
    );

    let ctx = fires::delivery_contexts(&db.pool, &[hex_id(1), hex_id(2), "missing".into()])
        .await
        .unwrap();
    assert_eq!(ctx.len(), 2);
    let secret = tenancy::signing_secret(&db.pool, "org_a").await.unwrap();
    assert!(ctx
        .iter()
        .all(|c| c.signing_secret.current == secret && c.created_by == "u1"));
    assert_eq!(ctx[0].job["type"], "kafka");

    let now = t0 + Duration::minutes(2);
    let lease = Lease {
        owner: "r1",
        until: now + Duration::seconds(30),
    };
    let claimed = fires::claim_due(
        &db.pool,
        ClaimRequest {
            now,
            limit: 10,
            lease,
        },
        |r| {
            Ok(scheduler_core::Plan {
                fires: vec![scheduler_core::PlannedFire {
                    scheduled_for: r.next_fire_at.unwrap(),
                    late: false,
                    skipped_slots: 0,
                    deliver_at: r.next_fire_at.unwrap(),
                }],
                next_fire_at: None,
            })
        },
    )
    .await
    .unwrap();
    assert_eq!(claimed.fires.len(), 2);
    let ids: Vec<_> = claimed.fires.iter().map(|f| f.id).collect();
    let tokens: Vec<_> = claimed.fires.iter().map(|f| f.token()).collect();

    // Renewal only touches live leases under their own token; the lease expiry is the next
    // wake-up.
    assert_eq!(
        fires::extend_leases(&db.pool, &tokens, now + Duration::seconds(90))
            .await
            .unwrap(),
        2
    );
    let wrong: Vec<_> = tokens
        .iter()
        .map(|t| fires::LeaseToken {
            fire_id: t.fire_id,
            seq: t.seq + 1,
        })
        .collect();
    assert_eq!(
        fires::extend_leases(&db.pool, &wrong, now + Duration::seconds(300))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        fires::next_wakeup(&db.pool).await.unwrap(),
        Some(t0 + Duration::minutes(3))
    );

    let done = fires::mark_delivered_many(&db.pool, &tokens, &[now, now + Duration::seconds(1)])
        .await
        .unwrap();
    assert_eq!(done, 2);
    let f = fires::get(&db.pool, ids[1]).await.unwrap();
    assert_eq!(
        (f.status.as_str(), f.delivered_at),
        ("delivered", Some(now + Duration::seconds(1)))
    );
    // Already delivered: a second write changes nothing.
    assert_eq!(
        fires::mark_delivered_many(&db.pool, &tokens, &[now, now])
            .await
            .unwrap(),
        0
    );
}

/// A dead letter owed by a dead fire: held by the runner that marked the fire dead, taken by
/// any runner once that lease lapses, and recorded `sent` only under the current lease.
#[tokio::test]
async fn a_pending_dead_letter_is_taken_again_until_it_is_sent() {
    let db = fresh_db().await;
    tenancy::ensure_user(&db.pool, "org_a", "u1").await.unwrap();
    let t0 = at("2026-01-01T00:00:00Z");
    let mut tx = db.pool.begin().await.unwrap();
    let mut r = record("org_a", "u1", &hex_id(1), t0);
    r.next_fire_at = Some(t0);
    schedulers::insert(&mut tx, &r).await.unwrap();
    tx.commit().await.unwrap();
    let lease = Lease {
        owner: "r1",
        until: t0 + Duration::seconds(30),
    };
    let claimed = fires::claim_due(
        &db.pool,
        ClaimRequest {
            now: t0,
            limit: 10,
            lease,
        },
        |r| {
            Ok(scheduler_core::Plan {
                fires: vec![scheduler_core::PlannedFire {
                    scheduled_for: r.next_fire_at.unwrap(),
                    late: false,
                    skipped_slots: 0,
                    deliver_at: r.next_fire_at.unwrap(),
                }],
                next_fire_at: None,
            })
        },
    )
    .await
    .unwrap();
    let fire = &claimed.fires[0];
    let failure = fires::Failure {
        token: fire.token(),
        error: "400",
        sent: true,
    };
    let hold = t0 + Duration::seconds(30);
    assert!(fires::mark_dead(&db.pool, &failure, t0, Some(hold))
        .await
        .unwrap());
    let row = fires::get(&db.pool, fire.id).await.unwrap();
    assert_eq!(
        (row.status.as_str(), row.dead_letter.as_deref()),
        ("dead", Some("pending"))
    );
    // Held by its runner: nobody else takes it before the hold ends.
    let r2 = Lease {
        owner: "r2",
        until: hold + Duration::seconds(60),
    };
    assert!(
        fires::lease_dead_letters(&db.pool, t0 + Duration::seconds(1), 10, r2)
            .await
            .unwrap()
            .is_empty()
    );
    // The produce failed: any runner may try again from the retry time.
    assert!(
        fires::retry_dead_letter(&db.pool, fire.token(), t0 + Duration::seconds(5))
            .await
            .unwrap()
    );
    let taken = fires::lease_dead_letters(&db.pool, t0 + Duration::seconds(5), 10, r2)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].last_error.as_deref(), Some("400"));
    // The first holder's token is stale now; the new holder's confirms it.
    assert!(!fires::mark_dead_letter_sent(&db.pool, fire.token())
        .await
        .unwrap());
    assert!(fires::mark_dead_letter_sent(&db.pool, taken[0].token())
        .await
        .unwrap());
    let row = fires::get(&db.pool, fire.id).await.unwrap();
    assert_eq!(
        (row.status.as_str(), row.dead_letter.as_deref()),
        ("dead", Some("sent"))
    );
    assert!(
        fires::lease_dead_letters(&db.pool, t0 + Duration::hours(1), 10, r2)
            .await
            .unwrap()
            .is_empty()
    );
}

/// The runner retries a write until the database takes it, but only while another try may
/// succeed: an error the statement itself causes is not transient, a lost server is.
#[tokio::test]
async fn transient_errors_are_told_from_refusals() {
    let db = fresh_db().await;
    let token = fires::LeaseToken {
        fire_id: uuid::Uuid::now_v7(),
        seq: 1,
    };
    let refused = fires::mark_retrying(
        &db.pool,
        &fires::Failure {
            token,
            error: "a NUL \0 byte Postgres text cannot hold",
            sent: true,
        },
        at("2026-01-01T00:00:00Z"),
    )
    .await
    .expect_err("Postgres refuses a NUL in text");
    assert!(!refused.is_transient(), "{refused}");

    let pool = db.pool.clone();
    pool.close().await;
    let lost = fires::mark_dead_letter_sent(&pool, token)
        .await
        .expect_err("the pool is closed");
    assert!(lost.is_transient(), "{lost}");
}
