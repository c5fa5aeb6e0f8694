//! The attachment store against a real S3-compatible server that checks signatures (s3s-fs,
//! `S3S_FS_BIN`) and a real Postgres (a fresh database per test).

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures::stream;
use scheduler_files::testing::{S3Server, BUCKET};
use scheduler_files::{FileStore, FilesError, NewFile, StoredFile, UploadError};
use scheduler_store::attachments;
use scheduler_store::testing::fresh_db;
use scheduler_store::PgPool;
use secrecy::SecretString;

const ORG: &str = "org_files";

/// Bytes that look like a JPEG (SOI marker, JFIF header) followed by a pattern.
fn jpeg_bytes(len: usize, seed: u8) -> Vec<u8> {
    let mut v = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00,
    ];
    v.extend(
        (0..len.saturating_sub(v.len())).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)),
    );
    v.truncate(len);
    v
}

/// The bytes as a stream of `chunk`-sized pieces, like a request body.
fn chunks(
    data: &[u8],
    chunk: usize,
) -> impl futures::Stream<Item = Result<Bytes, Infallible>> + Send {
    let pieces: Vec<Result<Bytes, Infallible>> = data
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    stream::iter(pieces)
}

async fn upload(
    store: &FileStore,
    pool: &PgPool,
    name: &str,
    content_type: Option<&str>,
    data: &[u8],
) -> Result<StoredFile, UploadError<Infallible>> {
    store
        .upload(
            pool,
            NewFile {
                organization_id: ORG,
                name,
                content_type,
            },
            chunks(data, 64 * 1024),
        )
        .await
}

async fn download(url: &str) -> (u16, Vec<u8>) {
    let res = reqwest::get(url).await.expect("GET");
    let status = res.status().as_u16();
    (status, res.bytes().await.expect("body").to_vec())
}

async fn ledger(pool: &PgPool) -> Vec<(String, String)> {
    attachments::all_orphans(pool)
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.file_path, o.reason))
        .collect()
}

#[tokio::test]
async fn upload_then_download_through_a_presigned_url() {
    let s3 = S3Server::start().await;
    let db = fresh_db().await;
    let store = s3.store().await;
    store.check().await.expect("bucket answers");
    let data = jpeg_bytes(15_030, 1);
    let f = upload(&store, &db.pool, "iphone13.jpg", Some("image/jpeg"), &data)
        .await
        .unwrap();
    assert_eq!(f.size, 15_030);
    assert_eq!(f.name, "iphone13.jpg");
    assert_eq!(f.file_type, "image/jpeg");
    assert_eq!(f.file_extension, "jpeg");
    assert!(!f.is_public);
    assert_eq!(f.short_path, scheduler_files::short_path(&f.file_path));
    let parts: Vec<&str> = f.file_path.split('/').collect();
    assert_eq!(parts.len(), 3, "{}", f.file_path);
    assert_eq!(parts[0], ORG);
    assert!(parts[1].parse::<i64>().unwrap() > 1_700_000_000_000);
    assert_eq!(parts[2], "iphone13.jpg");
    assert_eq!(s3.keys(), vec![f.file_path.clone()]);
    // Reserved until a row owns it.
    assert_eq!(
        ledger(&db.pool).await,
        vec![(f.file_path.clone(), attachments::RESERVED.to_owned())]
    );

    let url = store.file_url(&f.file_path).await.unwrap();
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let (status, body) = download(&url).await;
    assert_eq!(status, 200);
    assert_eq!(body, data);
    // A tampered signature is refused: the server checks it.
    let (status, _) = download(&url.replace("X-Amz-Expires=3600", "X-Amz-Expires=3601")).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn type_is_guessed_from_the_name_when_not_given() {
    let s3 = S3Server::start().await;
    let db = fresh_db().await;
    let store = s3.store().await;
    let f = upload(&store, &db.pool, "scan.pdf", None, b"%PDF-1.4\n")
        .await
        .unwrap();
    assert_eq!(
        (f.file_type.as_str(), f.file_extension.as_str()),
        ("application/pdf", "pdf")
    );
    let f = upload(
        &store,
        &db.pool,
        "C:\\Users\\me\\My Photo (1).JPG",
        Some("application/octet-stream"),
        b"x",
    )
    .await
    .unwrap();
    assert_eq!(f.name, "My Photo (1).JPG");
    assert!(f.file_path.ends_with("/My_Photo_1_.JPG"), "{}", f.file_path);
    assert_eq!(
        (f.file_type.as_str(), f.file_extension.as_str()),
        ("image/jpeg", "jpeg")
    );
    let f = upload(&store, &db.pool, "blob", None, b"").await.unwrap();
    assert_eq!(f.size, 0);
    assert_eq!(
        (f.file_type.as_str(), f.file_extension.as_str()),
        ("application/octet-stream", "bin")
    );
}

#[tokio::test]
async fn same_name_twice_gets_two_keys() {
    let s3 = S3Server::start().await;
    let db = fresh_db().await;
    let store = s3.store().await;
    let a = upload(&store, &db.pool, "a.txt", None, b"one")
        .await
        .unwrap();
    let b = upload(&store, &db.pool, "a.txt", None, b"two")
        .await
        .unwrap();
    assert_ne!(a.file_path, b.file_path);
    assert_ne!(a.short_path, b.short_path);
    assert_eq!(s3.keys().len(), 2);
}

#[tokio::test]
async fn large_file_goes_up_in_parts_and_comes_back_whole() {
    let s3 = S3Server::start().await;
    let db = fresh_db().await;
    let mut config = s3.config();
    config.part_size = 5 * 1024 * 1024;
    let store = FileStore::new(config).await.unwrap();
    // 12 MiB in 64 KiB chunks: three parts (5 + 5 + 2 MiB).
    let data = jpeg_bytes(12 * 1024 * 1024 + 7, 9);
    let f = upload(&store, &db.pool, "big.jpg", Some("image/jpeg"), &data)
        .await
        .unwrap();
    assert_eq!(f.size, data.len() as u64);
    let (status, body) = download(&store.file_url(&f.file_path).await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body.len(), data.len());
    assert!(body == data, "content differs");
    // The upload is complete: one object, and no upload or part left on the server.
    assert_eq!(s3.keys(), vec![f.file_path]);
    assert_eq!(s3.uploads_in_progress(), Vec::<String>::new());
}

#[tokio::test]
async fn oversize_file_leaves_nothing() {
    let s3 = S3Server::start().await;
    let db = fresh_db().await;
    let mut config = s3.config();
    config.max_file_bytes = 6 * 1024 * 1024;
    config.part_size = 5 * 1024 * 1024;
    let store = FileStore::new(config).await.unwrap();
    // Over the limit after a part has already gone up: the multipart upload is aborted.
    let data = jpeg_bytes(6 * 1024 * 1024 + 1, 3);
    let err = upload(&store, &db.pool, "big.jpg", None, &data)
        .await
        .unwrap_err();
    assert!(
        matches!(err, UploadError::TooLarge { limit } if limit == 6 * 1024 * 1024),
        "{err:?}"
    );
    assert_eq!(
        s3.uploads_in_progress(),
        Vec::<String>::new(),
        "the multipart upload was not aborted"
    );
    // Under the part size: never sent.
    let mut config = s3.config();
    config.max_file_bytes = 1000;
    let small = FileStore::new(config).await.unwrap();
    let err = upload(&small, &db.pool, "b.jpg", None, &jpeg_bytes(1001, 1))
        .await
        .unwrap_err();
    assert!(matches!(err, UploadError::TooLarge { .. }), "{err:?}");
    // Exactly at the limit is fine.
    upload(&small, &db.pool, "c.jpg", None, &jpeg_bytes(1000, 1))
        .await
        .unwrap();
    assert_eq!(s3.keys().len(), 1, "{:?}", s3.keys());
    assert_eq!(s3.uploads_in_progress(), Vec::<String>::new());
    assert_eq!(ledger(&db.pool).await.len(), 1);
}

/// The check above can see an unfinished upload: one begun with a part sent and left open is
/// listed, and gone once aborted.
#[tokio::test]
async fn an_unfinished_multipart_upload_is_seen_until_aborted() {
    let s3 = S3Server::start().await;
    let client = s3.client().await;
    assert_eq!(s3.uploads_in_progress(), Vec::<String>::new());
    let upload = client
        .create_multipart_upload()
        .bucket(BUCKET)
        .key("org_a/1/open.bin")
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap();
    client
        .upload_part()
        .bucket(BUCKET)
        .key("org_a/1/open.bin")
        .upload_id(id)
        .part_number(1)
        .body(vec![7u8; 1024].into())
        .send()
        .await
        .unwrap();
    let open = s3.uploads_in_progress();
    assert!(!open.is_empty(), "an open upload is not seen");
    assert!(s3.keys().is_empty(), "{:?}", s3.keys());
    client
        .abort_multipart_upload()
        .bucket(BUCKET)
        .key("org_a/1/open.bin")
        .upload_id(id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        s3.uploads_in_progress(),
        Vec::<String>::new(),
        "was {open:?}"
    );
}

#[tokio::test]
async fn presigned_url_expires() {
    let s3 = S3Server::start().await;
    let db = fresh_db().await;
    let mut config = s3.config();
    config.presign_ttl = Duration::from_secs(2);
    let store = FileStore::new(config).await.unwrap();
    let data = jpeg_bytes(2048, 5);
    let f = upload(&store, &db.pool, "x.jpg", None, &data)
        .await
        .unwrap();
    let url = store.file_url(&f.file_path).await.unwrap();
    assert!(url.contains("X-Amz-Expires=2"), "{url}");
    assert_eq!(download(&url).await, (200, data));
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let (status, body) = download(&url).await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("AccessDenied"));
}

#[tokio::test]
async fn a_wrong_secret_key_is_refused_by_the_server() {
    let s3 = S3Server::start().await;
    let db = fresh_db().await;
    let mut config = s3.config();
    config.secret_access_key = Some(SecretString::from("not-the-secret"));
    let store = FileStore::new(config).await.unwrap();
    assert!(matches!(store.check().await, Err(FilesError::Storage(_))));
    let err = upload(&store, &db.pool, "x.jpg", None, b"data")
        .await
        .unwrap_err();
    let UploadError::Store(FilesError::Storage(message)) = err else {
        panic!("{err:?}")
    };
    assert!(message.contains("PutObject"), "{message}");
    assert!(s3.keys().is_empty());
    // Its presigned URLs are refused too.
    let good = s3.store().await;
    let f = upload(&good, &db.pool, "y.jpg", None, b"data")
        .await
        .unwrap();
    let (status, _) = download(
        &store
            .presign_get(&f.file_path, Duration::from_secs(60))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn public_store_urls_are_the_base_plus_the_key() {
    let s3 = S3Server::start().await;
    let db = fresh_db().await;
    let mut config = s3.config();
    config.public_base_url = Some(format!("{}/{BUCKET}/", s3.endpoint));
    let store = FileStore::new(config).await.unwrap();
    assert!(store.is_public());
    let f = upload(&store, &db.pool, "p.png", None, b"png")
        .await
        .unwrap();
    assert!(f.is_public);
    assert_eq!(
        store.file_url(&f.file_path).await.unwrap(),
        format!("{}/{BUCKET}/{}", s3.endpoint, f.file_path)
    );
}

#[tokio::test]
async fn discard_and_detached_deletion_clear_objects_and_ledger() {
    let s3 = S3Server::start().await;
    let db = fresh_db().await;
    let store = s3.store().await;
    let a = upload(&store, &db.pool, "a.txt", None, b"a").await.unwrap();
    let b = upload(&store, &db.pool, "b.txt", None, b"b").await.unwrap();
    store
        .discard(&db.pool, std::slice::from_ref(&a.file_path))
        .await;
    assert_eq!(s3.keys(), vec![b.file_path.clone()]);
    assert_eq!(ledger(&db.pool).await.len(), 1);
    // Deleting an object that is already gone is fine.
    store.delete_object(&a.file_path).await.unwrap();
    store
        .delete_detached(&db.pool, std::slice::from_ref(&b.file_path))
        .await;
    assert!(s3.keys().is_empty());
    assert!(ledger(&db.pool).await.is_empty());
}

#[tokio::test]
async fn failed_deletions_stay_in_the_ledger_until_a_sweep_succeeds() {
    let s3 = S3Server::start().await;
    let db = fresh_db().await;
    let store = s3.store().await;
    let a = upload(&store, &db.pool, "a.txt", None, b"a").await.unwrap();
    // A store that cannot delete (wrong secret): the entry stays, marked for the sweeper.
    let mut config = s3.config();
    config.secret_access_key = Some(SecretString::from("wrong"));
    let broken = FileStore::new(config).await.unwrap();
    broken
        .discard(&db.pool, std::slice::from_ref(&a.file_path))
        .await;
    assert_eq!(s3.keys(), vec![a.file_path.clone()]);
    let entries = attachments::all_orphans(&db.pool).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].attempts, 1);
    assert_ne!(entries[0].reason, attachments::RESERVED);
    let report = broken.sweep_orphans(&db.pool, 100).await.unwrap();
    assert_eq!((report.deleted, report.failed), (0, 1));
    assert_eq!(
        attachments::all_orphans(&db.pool).await.unwrap()[0].attempts,
        2
    );
    // The working store sweeps it.
    let report = store.sweep_orphans(&db.pool, 100).await.unwrap();
    assert_eq!((report.deleted, report.failed), (1, 0));
    assert!(s3.keys().is_empty());
    assert!(ledger(&db.pool).await.is_empty());
}

#[tokio::test]
async fn sweep_deletes_abandoned_uploads_after_the_grace_only() {
    let s3 = S3Server::start().await;
    let db = fresh_db().await;
    let store = s3.store().await;
    // An upload whose request died before its commit: reserved, never owned.
    let f = upload(&store, &db.pool, "lost.txt", None, b"x")
        .await
        .unwrap();
    assert_eq!(store.sweep_orphans(&db.pool, 100).await.unwrap().deleted, 0);
    assert_eq!(s3.keys(), vec![f.file_path.clone()]);
    let mut config = s3.config();
    config.upload_grace = Duration::ZERO;
    let impatient = FileStore::new(config).await.unwrap();
    assert_eq!(
        impatient
            .sweep_orphans(&db.pool, 100)
            .await
            .unwrap()
            .deleted,
        1
    );
    assert!(s3.keys().is_empty());
    assert!(ledger(&db.pool).await.is_empty());
}

#[tokio::test]
async fn bad_configuration_is_refused() {
    let s3 = S3Server::start().await;
    type Change = Box<dyn Fn(&mut scheduler_files::FileStoreConfig)>;
    let cases: Vec<(&str, Change)> = vec![
        ("empty bucket", Box::new(|c| c.bucket = String::new())),
        (
            "endpoint not a URL",
            Box::new(|c| c.endpoint = Some("localhost:9000".into())),
        ),
        (
            "key without secret",
            Box::new(|c| c.secret_access_key = None),
        ),
        ("tiny parts", Box::new(|c| c.part_size = 1024)),
        ("zero ttl", Box::new(|c| c.presign_ttl = Duration::ZERO)),
        (
            "ttl over 7 days",
            Box::new(|c| c.presign_ttl = Duration::from_secs(8 * 24 * 3600)),
        ),
    ];
    for (name, change) in cases {
        let mut config = s3.config();
        change(&mut config);
        let err = FileStore::new(config).await.unwrap_err();
        assert!(matches!(err, FilesError::Config(_)), "{name}: {err:?}");
    }
}
