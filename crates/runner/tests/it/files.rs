//! The envelope's `files`: the scheduler's attachments (rows of `attachments`, never the stored
//! `job.files`), each with a URL made for the attempt, on a real S3-compatible server that
//! checks signatures (s3s-fs, `S3S_FS_BIN`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use chrono::{TimeDelta, Utc};
use scheduler_files::testing::S3Server;
use scheduler_files::{FileStore, NewFile, StoredFile};
use scheduler_runner::{Clock, Runner};
use scheduler_store::attachments::{self, AttachmentRecord};
use scheduler_store::testing::fresh_db;
use scheduler_store::PgPool;
use serde_json::json;
use uuid::Uuid;

use crate::*;

const OTHER_ORG: &str = "org_b";

fn every_minute(start: &str) -> Value {
    json!({"type": "recurring", "trigger_frequency_unit": "minutes", "trigger_frequency_value": 1,
           "start_datetime": start})
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(37).wrapping_add(11))
        .collect()
}

async fn upload(
    store: &FileStore,
    pool: &PgPool,
    org: &str,
    name: &str,
    data: &[u8],
) -> StoredFile {
    let pieces: Vec<Result<Bytes, Infallible>> = data
        .chunks(16 * 1024)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    store
        .upload(
            pool,
            NewFile {
                organization_id: org,
                name,
                content_type: Some("application/octet-stream"),
            },
            futures::stream::iter(pieces),
        )
        .await
        .expect("upload")
}

/// The row the API's file routes write for an uploaded file.
fn row(f: &StoredFile, scheduler_id: &str, position: i32) -> AttachmentRecord {
    AttachmentRecord {
        file_id: f.file_id,
        scheduler_id: scheduler_id.to_owned(),
        organization_id: f.organization_id.clone(),
        name: f.name.clone(),
        file_path: f.file_path.clone(),
        size: i64::try_from(f.size).unwrap(),
        file_type: f.file_type.clone(),
        file_extension: f.file_extension.clone(),
        is_public: f.is_public,
        short_path: f.short_path.clone(),
        position,
        created_at: f.created_at,
    }
}

async fn attach(pool: &PgPool, rows: &[AttachmentRecord]) {
    let mut tx = pool.begin().await.unwrap();
    attachments::insert(&mut tx, rows)
        .await
        .expect("attachment rows");
    tx.commit().await.unwrap();
}

/// The descriptor the envelope must carry for `f`, `file_url` aside.
fn descriptor(f: &StoredFile) -> Value {
    json!({
        "organization_id": f.organization_id, "name": f.name, "file_path": f.file_path,
        "file_id": f.file_id.to_string(), "size": f.size, "file_type": f.file_type,
        "file_extension": f.file_extension, "is_public": f.is_public, "short_path": f.short_path,
    })
}

/// Fires scheduler 1 once on `runner` and returns the delivered envelope.
async fn fire_once(pool: &PgPool, runner: Runner, clock: &Clock, rx: &Receiver) -> Value {
    let t0 = at("2026-05-01T12:00:00Z");
    let running = spawn(runner);
    clock.set(t0 + TimeDelta::milliseconds(250));
    wait_for(Duration::from_secs(10), "one request", || async {
        rx.received() == 1
    })
    .await;
    running.shutdown().await;
    let (status, attempts, _, _) = fires_of(pool, 1).await.pop().expect("a fire");
    assert_eq!((status.as_str(), attempts), ("delivered", 1));
    rx.requests()[0].json()
}

/// Uploaded through the FileStore and attached as the API does; the fire's envelope lists it
/// with a URL a plain HTTP client downloads byte for byte. What a client wrote into
/// `job.files` (another organization's object, a stale URL) is not delivered, and neither is
/// an attachment row of another organization.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelope_lists_attachments_with_fresh_urls_from_the_attachments_table() {
    let s3 = S3Server::start().await;
    let db = fresh_db().await;
    let store = Arc::new(s3.store().await);
    let rx = Receiver::start().await;
    let t0 = at("2026-05-01T12:00:00Z");
    let clock = Clock::manual(t0 - TimeDelta::seconds(1));

    // Another organization's object, which the bogus job.files entry points at.
    let secret = upload(&store, &db.pool, OTHER_ORG, "secret.bin", b"not yours").await;
    let mut job = webhook_job(&rx.url("/hook"));
    job["files"] = json!([{
        "organization_id": OTHER_ORG, "name": "secret.bin", "file_path": secret.file_path,
        "file_id": secret.file_id.to_string(), "size": 9, "file_type": "application/octet-stream",
        "file_extension": "bin", "file_url": "http://stale.example/expired", "is_public": false,
        "short_path": secret.short_path,
    }]);
    insert(
        &db.pool,
        Sched {
            id: 1,
            job,
            timing: every_minute("2026-05-01T12:00:00Z"),
        },
        clock.now(),
    )
    .await;
    let data = pattern(200_000);
    let first = upload(&store, &db.pool, ORG, "report.bin", &data).await;
    let second = upload(&store, &db.pool, ORG, "notes.txt", b"second file").await;
    let mut foreign = row(&secret, &hex_id(1), 2);
    foreign.file_id = Uuid::new_v4();
    attach(
        &db.pool,
        &[
            row(&first, &hex_id(1), 0),
            row(&second, &hex_id(1), 1),
            foreign,
        ],
    )
    .await;

    let runner = Runner::new(db.pool.clone(), test_config(), clock.clone())
        .expect("runner")
        .with_files(store.clone());
    let body = fire_once(&db.pool, runner, &clock, &rx).await;

    let files = body["files"].as_array().expect("files").clone();
    assert_eq!(files.len(), 2, "{files:#?}");
    for (item, f) in files.iter().zip([&first, &second]) {
        let mut without_url = item.clone();
        let url = without_url
            .as_object_mut()
            .unwrap()
            .remove("file_url")
            .expect("file_url");
        assert_eq!(without_url, descriptor(f));
        let url = url.as_str().expect("a URL").to_owned();
        assert!(url.starts_with(&s3.endpoint), "{url}");
        assert!(url.contains("X-Amz-Signature="), "{url}");
        // Made for this attempt (presigned now, by the runner), not read from anywhere.
        let signed_at = url
            .split("X-Amz-Date=")
            .nth(1)
            .and_then(|s| s.get(..16))
            .expect("X-Amz-Date");
        let signed_at = chrono::NaiveDateTime::parse_from_str(signed_at, "%Y%m%dT%H%M%SZ")
            .unwrap()
            .and_utc();
        assert!(
            (Utc::now() - signed_at).num_seconds().abs() < 120,
            "{signed_at}"
        );
    }
    let res = reqwest::get(files[0]["file_url"].as_str().unwrap())
        .await
        .expect("GET");
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.bytes().await.unwrap().as_ref(), &data[..]);
    let res = reqwest::get(files[1]["file_url"].as_str().unwrap())
        .await
        .expect("GET");
    assert_eq!(res.bytes().await.unwrap().as_ref(), b"second file");

    // Nothing of the other organization's object is in the envelope.
    let raw = String::from_utf8(rx.requests()[0].body.to_vec()).unwrap();
    assert!(!raw.contains(&secret.file_path), "{raw}");
    assert!(!raw.contains("stale.example"), "{raw}");
    assert!(!raw.contains(OTHER_ORG), "{raw}");
}

/// A runner without a file store lists the attachments with `file_url: null` (and still not
/// the stored `job.files`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_file_store_file_url_is_null() {
    let db = fresh_db().await;
    let rx = Receiver::start().await;
    let t0 = at("2026-05-01T12:00:00Z");
    let clock = Clock::manual(t0 - TimeDelta::seconds(1));
    let mut job = webhook_job(&rx.url("/hook"));
    job["files"] = json!([{"file_path": "org_b/1/x.bin", "file_url": "http://stale.example/x"}]);
    insert(
        &db.pool,
        Sched {
            id: 1,
            job,
            timing: every_minute("2026-05-01T12:00:00Z"),
        },
        clock.now(),
    )
    .await;
    // Rows only: no object store is involved.
    let f = StoredFile {
        file_id: Uuid::new_v4(),
        organization_id: ORG.into(),
        name: "a.txt".into(),
        file_path: format!("{ORG}/1777636800000/a.txt"),
        size: 5,
        file_type: "text/plain".into(),
        file_extension: "txt".into(),
        is_public: false,
        short_path: "abc123".into(),
        created_at: t0,
    };
    attach(&db.pool, &[row(&f, &hex_id(1), 0)]).await;

    let runner = Runner::new(db.pool.clone(), test_config(), clock.clone()).expect("runner");
    let body = fire_once(&db.pool, runner, &clock, &rx).await;
    let mut want = descriptor(&f);
    want["file_url"] = Value::Null;
    assert_eq!(body["files"], json!([want]));
}
