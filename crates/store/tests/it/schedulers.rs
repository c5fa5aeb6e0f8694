use chrono::Duration;
use scheduler_store::schedulers::{self, EventTypeFilter, ListQuery, Owner};
use scheduler_store::testing::fresh_db;
use scheduler_store::{fires, tenancy, StoreError};

use crate::{at, hex_id, record};

const A: Owner<'static> = Owner {
    organization_id: "org_a",
    user_id: "u1",
};

async fn seed_users(pool: &sqlx::PgPool) {
    for (org, user) in [("org_a", "u1"), ("org_a", "u2"), ("org_b", "u1")] {
        tenancy::ensure_user(pool, org, user).await.unwrap();
    }
}

#[tokio::test]
async fn create_get_update_delete_round_trip() {
    let db = fresh_db().await;
    seed_users(&db.pool).await;
    let t0 = at("2024-09-11T07:34:42.158Z");
    let mut rec = record("org_a", "u1", &hex_id(1), t0);
    rec.options = Some(serde_json::json!({"k": [1, 2]}));
    rec.trigger_time = Some(at("1969-12-31T16:00:00.000Z"));
    rec.internal_id = Some("662f175874c8ca8d00a1d30d".into());

    let mut tx = db.pool.begin().await.unwrap();
    schedulers::insert(&mut tx, &rec).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(schedulers::get(&db.pool, A, &rec.id).await.unwrap(), rec);

    // The same id again is a conflict, not a silent overwrite.
    let mut tx = db.pool.begin().await.unwrap();
    assert!(matches!(
        schedulers::insert(&mut tx, &rec).await,
        Err(StoreError::AlreadyExists)
    ));
    tx.rollback().await.unwrap();

    let mut tx = db.pool.begin().await.unwrap();
    let mut row = schedulers::get_for_update(&mut tx, A, &rec.id)
        .await
        .unwrap();
    row.name = "renamed".into();
    row.is_paused = true;
    row.next_fire_at = None;
    row.updated_at = t0 + Duration::seconds(5);
    schedulers::update(&mut tx, &row).await.unwrap();
    tx.commit().await.unwrap();
    let got = schedulers::get(&db.pool, A, &rec.id).await.unwrap();
    assert_eq!(got, row);
    assert_eq!(got.created_at, t0, "created_at never changes");

    let mut tx = db.pool.begin().await.unwrap();
    let deleted = schedulers::delete(&mut tx, A, &rec.id, t0).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(deleted.id, rec.id);
    assert!(matches!(
        schedulers::get(&db.pool, A, &rec.id).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn reads_and_writes_are_scoped_to_organization_and_user() {
    let db = fresh_db().await;
    seed_users(&db.pool).await;
    let rec = record("org_a", "u1", &hex_id(7), at("2024-01-01T00:00:00Z"));
    let mut tx = db.pool.begin().await.unwrap();
    schedulers::insert(&mut tx, &rec).await.unwrap();
    tx.commit().await.unwrap();

    for other in [
        Owner {
            organization_id: "org_a",
            user_id: "u2",
        },
        Owner {
            organization_id: "org_b",
            user_id: "u1",
        },
    ] {
        assert!(matches!(
            schedulers::get(&db.pool, other, &rec.id).await,
            Err(StoreError::NotFound)
        ));
        let mut tx = db.pool.begin().await.unwrap();
        assert!(matches!(
            schedulers::delete(&mut tx, other, &rec.id, rec.created_at).await,
            Err(StoreError::NotFound)
        ));
        tx.rollback().await.unwrap();
        let page = schedulers::list(
            &db.pool,
            &ListQuery {
                organization_id: other.organization_id,
                user_id: other.user_id,
                event_type: EventTypeFilter::Any,
                limit: 10,
                skip: 0,
            },
        )
        .await
        .unwrap();
        assert_eq!((page.items.len(), page.total), (0, 0));
    }
    assert_eq!(schedulers::get(&db.pool, A, &rec.id).await.unwrap(), rec);
}

#[tokio::test]
async fn list_filters_pages_and_orders_newest_first() {
    let db = fresh_db().await;
    seed_users(&db.pool).await;
    let base = at("2024-09-13T09:05:36.286Z");
    let types = ["whatsapp_outbound", "telegram_outbound", "board_automation"];
    let mut tx = db.pool.begin().await.unwrap();
    for i in 0..23u64 {
        let mut r = record(
            "org_a",
            "u1",
            &hex_id(100 + i),
            base + Duration::seconds(i as i64 / 2),
        );
        r.event_type = types[(i % 3) as usize].into();
        schedulers::insert(&mut tx, &r).await.unwrap();
    }
    // Another user's scheduler never shows.
    schedulers::insert(&mut tx, &record("org_a", "u2", &hex_id(999), base))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let q = |event_type, limit, skip| ListQuery {
        organization_id: "org_a",
        user_id: "u1",
        event_type,
        limit,
        skip,
    };
    let page = schedulers::list(&db.pool, &q(EventTypeFilter::Any, 10, 0))
        .await
        .unwrap();
    assert_eq!((page.items.len(), page.total), (10, 23));
    // Newest first: created_at descending, then id descending for equal created_at.
    let keys: Vec<_> = page
        .items
        .iter()
        .map(|r| (r.created_at, r.id.clone()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(keys, sorted);
    assert_eq!(page.items[0].id, hex_id(122));

    let last = schedulers::list(&db.pool, &q(EventTypeFilter::Any, 10, 20))
        .await
        .unwrap();
    assert_eq!((last.items.len(), last.total), (3, 23));
    let beyond = schedulers::list(&db.pool, &q(EventTypeFilter::Any, 10, 30))
        .await
        .unwrap();
    assert_eq!((beyond.items.len(), beyond.total), (0, 23));

    let exact = schedulers::list(
        &db.pool,
        &q(
            EventTypeFilter::OneOf(vec!["board_automation".into()]),
            100,
            0,
        ),
    )
    .await
    .unwrap();
    assert_eq!(exact.total, 7);
    assert!(exact
        .items
        .iter()
        .all(|r| r.event_type == "board_automation"));

    let any_of =
        EventTypeFilter::OneOf(vec!["whatsapp_outbound".into(), "telegram_outbound".into()]);
    let both = schedulers::list(&db.pool, &q(any_of, 100, 0))
        .await
        .unwrap();
    assert_eq!(both.total, 16);
    assert!(both
        .items
        .iter()
        .all(|r| r.event_type != "board_automation"));

    let none = schedulers::list(
        &db.pool,
        &q(EventTypeFilter::OneOf(vec!["whats".into()]), 100, 0),
    )
    .await
    .unwrap();
    assert_eq!(none.total, 0, "exact match, not a substring match");
}

#[tokio::test]
async fn deleting_cancels_open_fires_and_keeps_the_history() {
    let db = fresh_db().await;
    seed_users(&db.pool).await;
    let t0 = at("2024-01-01T00:00:00Z");
    let rec = record("org_a", "u1", &hex_id(3), t0);
    let mut tx = db.pool.begin().await.unwrap();
    schedulers::insert(&mut tx, &rec).await.unwrap();
    tx.commit().await.unwrap();
    let fire = fires::insert_manual(&db.pool, &rec.id, "org_a", t0)
        .await
        .unwrap();
    assert_eq!(fire.status, "pending");

    let mut tx = db.pool.begin().await.unwrap();
    schedulers::delete(&mut tx, A, &rec.id, t0).await.unwrap();
    tx.commit().await.unwrap();
    let after = fires::get(&db.pool, fire.id).await.unwrap();
    assert_eq!(after.status, "cancelled");
    // A cancelled fire cannot be leased or completed any more.
    let leased = fires::lease_available(
        &db.pool,
        t0 + Duration::hours(1),
        10,
        fires::Lease {
            owner: "r1",
            until: t0 + Duration::hours(2),
        },
    )
    .await
    .unwrap();
    assert!(leased.is_empty());
    let token = fires::LeaseToken {
        fire_id: fire.id,
        seq: 0,
    };
    assert_eq!(
        fires::mark_delivered_many(&db.pool, &[token], &[t0])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        fires::get(&db.pool, fire.id).await.unwrap().status,
        "cancelled"
    );
}

#[tokio::test]
async fn a_stored_row_round_trips_through_the_timing_engine() {
    let db = fresh_db().await;
    seed_users(&db.pool).await;
    let mut rec = record("org_a", "u1", &hex_id(4), at("2024-09-11T14:35:00.000Z"));
    rec.trigger_frequency_unit = Some("years".into());
    rec.triger_month_and_day = Some(at("1969-12-31T16:32:00.000Z"));
    rec.trigger_time = Some(at("1969-12-31T16:00:00.000Z"));
    rec.timezone = "Asia/Hong_Kong".into();
    let mut tx = db.pool.begin().await.unwrap();
    schedulers::insert(&mut tx, &rec).await.unwrap();
    tx.commit().await.unwrap();
    let stored = schedulers::get(&db.pool, A, &rec.id).await.unwrap();
    let schedule = stored.schedule().expect("stored timing is valid");
    assert_eq!(
        schedule.first_at_or_after(rec.start_datetime),
        Some(at("2024-12-31T16:00:00Z"))
    );
}

/// The list's `total` comes from kept counts (migration 0009): it must equal a real count of
/// the owner's rows after every kind of write (single and bulk inserts, deletes, event-type
/// changes, a rollback), whether the deltas are folded or not, and while several folders run
/// at once against concurrent writers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_totals_stay_exact_through_writes_and_concurrent_folds() {
    let db = fresh_db().await;
    seed_users(&db.pool).await;
    let pool = &db.pool;
    let types = ["a", "b", "c"];
    let filters: Vec<EventTypeFilter> = vec![
        EventTypeFilter::Any,
        EventTypeFilter::OneOf(vec!["a".into()]),
        EventTypeFilter::OneOf(vec!["b".into(), "c".into()]),
        EventTypeFilter::OneOf(vec!["none".into()]),
    ];
    let check = |what: &'static str| {
        let filters = filters.clone();
        async move {
            for (org, user) in [("org_a", "u1"), ("org_a", "u2"), ("org_b", "u1")] {
                for f in &filters {
                    let types: Option<Vec<String>> = match f {
                        EventTypeFilter::Any => None,
                        EventTypeFilter::OneOf(v) => Some(v.clone()),
                    };
                    let real: i64 = sqlx::query_scalar(
                        "SELECT count(*) FROM schedulers WHERE organization_id = $1
                         AND created_by = $2 AND ($3::text[] IS NULL OR event_type = ANY($3))",
                    )
                    .bind(org)
                    .bind(user)
                    .bind(&types)
                    .fetch_one(pool)
                    .await
                    .unwrap();
                    let q = ListQuery {
                        organization_id: org,
                        user_id: user,
                        event_type: f.clone(),
                        limit: 1,
                        skip: 0,
                    };
                    let page = schedulers::list(pool, &q).await.unwrap();
                    assert_eq!(page.total, real, "{what}: {org}/{user} {f:?}");
                }
            }
        }
    };
    let t0 = at("2024-09-13T09:05:36.286Z");

    // Single inserts, one aborted.
    for i in 0..30u64 {
        let mut tx = pool.begin().await.unwrap();
        let (org, user) = [("org_a", "u1"), ("org_a", "u2"), ("org_b", "u1")][(i % 3) as usize];
        let mut r = record(org, user, &hex_id(i + 1), t0 + Duration::seconds(i as i64));
        r.event_type = types[(i / 3 % 3) as usize].into();
        schedulers::insert(&mut tx, &r).await.unwrap();
        if i == 7 {
            tx.rollback().await.unwrap();
        } else {
            tx.commit().await.unwrap();
        }
    }
    check("single inserts").await;
    // A bulk insert in one statement, then a delete of several rows, then an event-type move.
    sqlx::query(
        "INSERT INTO schedulers (id, organization_id, created_by, type, name, event_type, job,
             start_datetime, created_at, updated_at)
         SELECT lpad(to_hex(1000 + g), 24, '0'), 'org_a', 'u1', 'recurring', 'bulk', 'b',
                '{}'::jsonb, now(), now(), now()
         FROM generate_series(1, 500) g",
    )
    .execute(pool)
    .await
    .unwrap();
    check("bulk insert").await;
    sqlx::query(
        "DELETE FROM schedulers WHERE event_type = 'b' AND id > lpad(to_hex(1200), 24, '0')",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("UPDATE schedulers SET event_type = 'c' WHERE event_type = 'a'")
        .execute(pool)
        .await
        .unwrap();
    // An update that does not change the event type leaves the counts alone.
    sqlx::query("UPDATE schedulers SET next_fire_at = now()")
        .execute(pool)
        .await
        .unwrap();
    check("deletes and moves, unfolded").await;
    let deltas: i64 = sqlx::query_scalar("SELECT count(*) FROM scheduler_count_deltas")
        .fetch_one(pool)
        .await
        .unwrap();
    assert!(
        deltas > 0 && deltas < 60,
        "one delta per statement and group: {deltas}"
    );
    while schedulers::fold_counts(pool, 7).await.unwrap() > 0 {}
    check("folded").await;

    // Writers and three folders at once; totals are exact whenever they are read.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut folders = Vec::new();
    for _ in 0..3 {
        let (pool, stop) = (pool.clone(), stop.clone());
        folders.push(tokio::spawn(async move {
            let mut folded = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                folded += schedulers::fold_counts(&pool, 5).await.unwrap();
            }
            folded
        }));
    }
    for i in 0..200u64 {
        let mut tx = pool.begin().await.unwrap();
        let mut r = record("org_a", "u1", &hex_id(5000 + i), t0);
        r.event_type = types[(i % 3) as usize].into();
        schedulers::insert(&mut tx, &r).await.unwrap();
        if i % 4 == 0 {
            sqlx::query("DELETE FROM schedulers WHERE id = $1")
                .bind(hex_id(5000 + i - 1))
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        if i % 25 == 0 {
            check("during concurrent folds").await;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut folded = 0;
    for f in folders {
        folded += f.await.unwrap();
    }
    assert!(folded > 0, "the folders folded something");
    check("after concurrent folds").await;
    while schedulers::fold_counts(pool, 1000).await.unwrap() > 0 {}
    check("all folded").await;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM scheduler_count_deltas")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}
