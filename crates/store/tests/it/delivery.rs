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
        .all(|c| c.signing_secret == secret && c.created_by == "u1"));
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
                }],
                next_fire_at: None,
            })
        },
    )
    .await
    .unwrap();
    assert_eq!(claimed.fires.len(), 2);
    let ids: Vec<_> = claimed.fires.iter().map(|f| f.id).collect();

    // Renewal only touches this owner's live leases; the lease expiry is the next wake-up.
    let later = Lease {
        owner: "r1",
        until: now + Duration::seconds(90),
    };
    assert_eq!(
        fires::extend_leases(&db.pool, &ids, later).await.unwrap(),
        2
    );
    let other = Lease {
        owner: "r2",
        until: now + Duration::seconds(300),
    };
    assert_eq!(
        fires::extend_leases(&db.pool, &ids, other).await.unwrap(),
        0
    );
    assert_eq!(
        fires::next_wakeup(&db.pool).await.unwrap(),
        Some(t0 + Duration::minutes(3))
    );

    let done = fires::mark_delivered_many(&db.pool, &ids, &[now, now + Duration::seconds(1)])
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
        fires::mark_delivered_many(&db.pool, &ids, &[now, now])
            .await
            .unwrap(),
        0
    );
}
