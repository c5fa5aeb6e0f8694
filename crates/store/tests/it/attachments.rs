//! Attachment listing as the runner reads it: one query for a batch of schedulers.

use chrono::Duration;
use scheduler_store::attachments::{self, AttachmentRecord};
use scheduler_store::schedulers;
use scheduler_store::tenancy;
use scheduler_store::testing::fresh_db;
use uuid::Uuid;

use crate::{at, hex_id, record};

fn row(scheduler: u64, position: i32, name: &str) -> AttachmentRecord {
    AttachmentRecord {
        file_id: Uuid::new_v4(),
        scheduler_id: hex_id(scheduler),
        organization_id: "org_a".into(),
        name: name.into(),
        file_path: format!("org_a/{}/{name}", 1_000 + u64::try_from(position).unwrap()),
        size: 3,
        file_type: "text/plain".into(),
        file_extension: "txt".into(),
        is_public: false,
        short_path: format!("sp{scheduler}{position}"),
        position,
        created_at: at("2026-01-01T00:00:00Z"),
    }
}

#[tokio::test]
async fn list_many_reads_a_batch_in_scheduler_and_position_order() {
    let db = fresh_db().await;
    tenancy::ensure_user(&db.pool, "org_a", "u1").await.unwrap();
    let t0 = at("2026-01-01T00:00:00Z");
    let mut tx = db.pool.begin().await.unwrap();
    for n in 1..=3 {
        let mut r = record("org_a", "u1", &hex_id(n), t0);
        r.next_fire_at = Some(t0 + Duration::minutes(1));
        schedulers::insert(&mut tx, &r).await.unwrap();
    }
    // Inserted out of order: scheduler 2 first, positions reversed.
    let rows = vec![
        row(2, 1, "b2.txt"),
        row(2, 0, "a2.txt"),
        row(1, 1, "b1.txt"),
        row(1, 0, "a1.txt"),
        row(3, 0, "a3.txt"),
    ];
    attachments::insert(&mut tx, &rows).await.unwrap();
    tx.commit().await.unwrap();

    let got = attachments::list_many(&db.pool, &[hex_id(2), hex_id(1), "missing".into()])
        .await
        .unwrap();
    let names: Vec<(&str, &str)> = got
        .iter()
        .map(|r| (r.scheduler_id.as_str(), r.name.as_str()))
        .collect();
    let (s1, s2) = (hex_id(1), hex_id(2));
    assert_eq!(
        names,
        vec![
            (s1.as_str(), "a1.txt"),
            (s1.as_str(), "b1.txt"),
            (s2.as_str(), "a2.txt"),
            (s2.as_str(), "b2.txt"),
        ]
    );
    // The same rows, field for field, as the single-scheduler listing.
    let one = attachments::list(&db.pool, &hex_id(1)).await.unwrap();
    assert_eq!(&got[..2], &one[..]);
    assert!(attachments::list_many(&db.pool, &[])
        .await
        .unwrap()
        .is_empty());
}
