//! The file routes (seed endpoints 2, 5, 7, and 8's object cleanup) against a real
//! S3-compatible server that checks signatures (s3s-fs, `S3S_FS_BIN`) and a real Postgres.

use std::time::Duration;

use reqwest::multipart::{Form, Part};
use reqwest::Method;
use scheduler_files::testing::{S3Server, BUCKET};
use scheduler_files::FileStoreConfig;
use serde_json::{json, Value};

use crate::{
    assert_document, assert_fields, assert_time_format, minutely, scheduler, schedulers, Resp,
    TestApp, ORG, TOKEN, USER,
};

/// Seed 5's payload, copied.
const SEED_CREATE_PAYLOAD: &str = r#"{ "type": "recurring", "name": "testing schedule", "event_type": "whatsapp", "channel_source": "", "description": "", "trigger_frequency_unit": "minutes", "trigger_frequency_value": 30, "start_datetime": "2024-10-16T17:30:15.463Z", "job": { "type": "webhook", "data": { "topicToSend": "", "segmentationGroup": "", "groupToSend": "", "outboundTags": "Marketing", "outboundType": "sendToAllGroups", "message": "sdsdsds", "files": [ { "id": "imbrace-upload1 - 0", "file": {}, "name": "20200526110944-Bank-Statement_1.jpg", "isValid": true, "status": "ok" } ], "topic": "", "sender": { "name": "Austina Engelhardt", "id": "u_ed1ffffc-73ca-4dc3-85fc-2c7da6c87b7a", "email": "agent01@imbrace.co" }, "appId": "app_a730320f-bc56-4857-b488-300f15bcdf8f" }, "method": "POST", "url": "https://org-imbrace.dev.imbrace.co/webhook/webhook_79893fd6-aa7c-483b-8ecb-7d0a20451c90" } }"#;

/// Seed 5's response, copied.
fn seed_create_response() -> Value {
    json!({ "type": "recurring", "name": "testing schedule", "event_type": "whatsapp", "description": "", "options": null, "job": { "type": "webhook", "data": { "topicToSend": "", "segmentationGroup": "", "groupToSend": "", "outboundTags": "Marketing", "outboundType": "sendToAllGroups", "message": "sdsdsds", "files": [ { "id": "imbrace-upload1 - 0", "name": "20200526110944-Bank-Statement_1.jpg", "isValid": true, "status": "ok" } ], "topic": "", "sender": { "name": "Austina Engelhardt", "id": "u_ed1ffffc-73ca-4dc3-85fc-2c7da6c87b7a", "email": "agent01@imbrace.co" }, "appId": "app_a730320f-bc56-4857-b488-300f15bcdf8f" }, "method": "POST", "url": "https://org-imbrace.dev.imbrace.co/webhook/webhook_79893fd6-aa7c-483b-8ecb-7d0a20451c90", "files": [ { "organization_id": "org_imbrace", "name": "iphone13.jpg", "file_path": "org_imbrace/1729074985051/iphone13.jpg", "file_id": "514506ab-c018-4361-8f85-011b55c7cfbb", "size": 15030, "file_type": "image/jpeg", "file_extension": "jpeg", "file_url": "https://imbrace-marketplace-dev.s3.ap-east-1.amazonaws.com/org_imbrace/1729074985051/iphone13.jpg", "is_public": true, "short_path": "c8ddc9" }, { "organization_id": "org_imbrace", "name": "logitech_mouse.jpg", "file_path": "org_imbrace/1729074985052/logitech_mouse.jpg", "file_id": "4194040e-0631-4327-81d3-1c6166492291", "size": 61165, "file_type": "image/jpeg", "file_extension": "jpeg", "file_url": "https://imbrace-marketplace-dev.s3.ap-east-1.amazonaws.com/org_imbrace/1729074985052/logitech_mouse.jpg", "is_public": true, "short_path": "d546cc" } ], "scheduler_id": "670f972990e5ee13019669cc" }, "organization_id": "org_imbrace", "trigger_frequency_unit": "minutes", "trigger_frequency_value": 30, "start_date": "2024-10-16T17:30:15.463Z", "start_time": "2024-10-16T17:30:15.463Z", "start_datetime": "2024-10-16T17:30:15.463Z", "is_paused": false, "is_finished": false, "channel_source": "", "created_by": "u_ed1ffffc-73ca-4dc3-85fc-2c7da6c87b7a", "updated_by": "u_ed1ffffc-73ca-4dc3-85fc-2c7da6c87b7a", "_id": "670f972990e5ee13019669cc", "created_at": "2024-10-16T10:36:25.116Z", "updated_at": "2024-10-16T10:36:25.116Z" })
}

/// Seed 7's payload, copied.
const SEED_UPDATE_PAYLOAD: &str = r#"{ "type": "non_recurring", "name": "testing schedule", "event_type": "whatsapp", "channel_source": "", "description": "", "one_time_schedule_type": "exact", "start_datetime": "2024-10-16T14:45:15.463Z", "job": { "type": "webhook", "data": { "topicToSend": "", "segmentationGroup": "", "groupToSend": "", "outboundTags": "Marketing", "outboundType": "sendToAllGroups", "message": "sdsdsds", "files": [ { "id": "imbrace-upload1 - 0", "file": {}, "name": "20200526110944-Bank-Statement_1.jpg", "isValid": true, "status": "ok" } ], "topic": "", "sender": { "name": "Austina Engelhardt", "id": "u_ed1ffffc-73ca-4dc3-85fc-2c7da6c87b7a", "email": "agent01@imbrace.co" }, "appId": "app_a730320f-bc56-4857-b488-300f15bcdf8f" }, "method": "POST", "url": "https://org-imbrace.dev.imbrace.co/webhook/webhook_79893fd6-aa7c-483b-8ecb-7d0a20451c90" } }"#;

/// Seed 7's response, copied.
fn seed_update_response() -> Value {
    json!({ "_id": "670f981690e5ee13019669e1", "type": "non_recurring", "name": "testing schedule", "event_type": "whatsapp", "description": "", "options": null, "job": { "type": "webhook", "data": { "topicToSend": "", "segmentationGroup": "", "groupToSend": "", "outboundTags": "Marketing", "outboundType": "sendToAllGroups", "message": "sdsdsds", "files": [ { "id": "imbrace-upload1 - 0", "name": "20200526110944-Bank-Statement_1.jpg", "isValid": true, "status": "ok" } ], "topic": "", "sender": { "name": "Austina Engelhardt", "id": "u_ed1ffffc-73ca-4dc3-85fc-2c7da6c87b7a", "email": "agent01@imbrace.co" }, "appId": "app_a730320f-bc56-4857-b488-300f15bcdf8f" }, "method": "POST", "url": "https://org-imbrace.dev.imbrace.co/webhook/webhook_79893fd6-aa7c-483b-8ecb-7d0a20451c90", "files": [ { "organization_id": "org_imbrace", "name": "iphone13.jpg", "file_id": "1d1e5bf5-9c70-4138-854b-bbcc15b9cb09", "file_path": "org_imbrace/1729075265762/iphone13.jpg", "size": 15030, "file_type": "image/jpeg", "file_extension": "jpeg", "file_url": "https://imbrace-marketplace-dev.s3.ap-east-1.amazonaws.com/org_imbrace/1729075265762/iphone13.jpg", "is_public": true, "short_path": "3c13c6" } ] }, "organization_id": "org_imbrace", "trigger_frequency_unit": "minutes", "trigger_frequency_value": 30, "start_date": "2024-10-16T14:45:15.463Z", "start_time": "2024-10-16T14:45:15.463Z", "start_datetime": "2024-10-16T14:45:15.463Z", "is_paused": false, "is_finished": false, "channel_source": "", "created_by": "u_ed1ffffc-73ca-4dc3-85fc-2c7da6c87b7a", "updated_by": "u_ed1ffffc-73ca-4dc3-85fc-2c7da6c87b7a", "created_at": "2024-10-16T10:40:22.424Z", "updated_at": "2024-10-16T10:41:05.822Z", "one_time_schedule_type": "exact" })
}

/// Fields that differ by nature from the seed's samples (ids, times of the call, the seed's
/// user) or are checked one by one (`job`, whose `files` carry per-upload keys and ids).
const PER_CALL: &[&str] = &[
    "_id",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
    "job",
];

/// Bytes that look like a JPEG (SOI marker, JFIF header) followed by a pattern.
fn jpeg(len: usize, seed: u8) -> Vec<u8> {
    let mut v = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00,
    ];
    v.extend(
        (0..len.saturating_sub(v.len())).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)),
    );
    v.truncate(len);
    v
}

fn form(payload: Option<&str>, files: &[(&str, &[u8])]) -> Form {
    let mut f = Form::new();
    if let Some(p) = payload {
        f = f.text("payload", p.to_owned());
    }
    for (name, data) in files {
        f = f.part(
            "files",
            Part::bytes(data.to_vec())
                .file_name((*name).to_owned())
                .mime_str("image/jpeg")
                .unwrap(),
        );
    }
    f
}

fn files_path(org: &str, user: &str) -> String {
    format!("{}/files", schedulers(org, user))
}

fn file_path(org: &str, user: &str, id: &str, file_id: &str) -> String {
    format!("{}/files/{file_id}", scheduler(org, user, id))
}

impl TestApp {
    async fn post_form(&self, org: &str, user: &str, token: &str, form: Form) -> Resp {
        self.send(
            self.authed(Method::POST, &files_path(org, user), token)
                .multipart(form),
        )
        .await
    }

    async fn put_form(&self, org: &str, user: &str, token: &str, id: &str, form: Form) -> Resp {
        self.send(
            self.authed(
                Method::PUT,
                &format!("{}/{id}", files_path(org, user)),
                token,
            )
            .multipart(form),
        )
        .await
    }

    async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(self.pool())
            .await
            .unwrap()
    }
}

async fn download(url: &str) -> (u16, Vec<u8>) {
    let res = reqwest::get(url).await.expect("GET");
    let status = res.status().as_u16();
    (status, res.bytes().await.expect("body").to_vec())
}

/// Checks one `job.files[]` entry against the upload and the seed's shape.
fn check_entry(entry: &Value, name: &str, size: usize, s3: &S3Server) {
    let keys: Vec<&str> = entry
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = [
        "organization_id",
        "name",
        "file_path",
        "file_id",
        "size",
        "file_type",
        "file_extension",
        "file_url",
        "is_public",
        "short_path",
    ];
    expected.sort_unstable();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(entry["organization_id"], ORG);
    assert_eq!(entry["name"], name);
    assert_eq!(entry["size"], size);
    assert_eq!(entry["file_type"], "image/jpeg");
    assert_eq!(entry["file_extension"], "jpeg");
    let path = entry["file_path"].as_str().unwrap();
    let segs: Vec<&str> = path.split('/').collect();
    assert_eq!(segs.len(), 3, "{path}");
    assert_eq!(segs[0], ORG);
    assert!(
        segs[1].parse::<i64>().unwrap() > 1_700_000_000_000,
        "{path}"
    );
    assert_eq!(segs[2], name);
    assert!(uuid::Uuid::parse_str(entry["file_id"].as_str().unwrap())
        .is_ok_and(|u| u.get_version_num() == 4));
    let short = entry["short_path"].as_str().unwrap();
    assert!(
        short.len() == 6 && short.bytes().all(|b| b.is_ascii_hexdigit()),
        "{short}"
    );
    assert!(s3.keys().contains(&path.to_owned()), "{path} not stored");
}

#[tokio::test]
async fn create_with_files_as_in_the_seed_example() {
    let s3 = S3Server::start().await;
    let mut config = s3.config();
    // Public as in the seed's response.
    let base = format!("{}/{BUCKET}", s3.endpoint);
    config.public_base_url = Some(base.clone());
    let app = TestApp::spawn_with_files(config).await;
    app.seed_tenant().await;
    let iphone = jpeg(15_030, 1);
    let mouse = jpeg(61_165, 2);
    // The seed's curl, with both files.
    let r = app
        .post_form(
            ORG,
            USER,
            TOKEN,
            form(
                Some(SEED_CREATE_PAYLOAD),
                &[("iphone13.jpg", &iphone), ("logitech_mouse.jpg", &mouse)],
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let expected = seed_create_response();
    assert_fields(&expected, &r.body, PER_CALL);
    assert_document(&r.body);
    let id = r.body["_id"].as_str().unwrap();
    let job = &r.body["job"];
    // The job as in the seed: data (without the browser's `file` objects), method, url...
    let mut expected_job = expected["job"].clone();
    let seed_files = expected_job["files"].take();
    expected_job.as_object_mut().unwrap().remove("files");
    expected_job.as_object_mut().unwrap().remove("scheduler_id");
    assert_fields(&expected_job, job, &[]);
    assert!(job["data"]["files"][0].get("file").is_none());
    assert_eq!(job["scheduler_id"], id);
    // ... and the files described with the seed's fields.
    let files = job["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    for (entry, (seed, (name, data))) in files.iter().zip(
        seed_files
            .as_array()
            .unwrap()
            .iter()
            .zip([("iphone13.jpg", &iphone), ("logitech_mouse.jpg", &mouse)]),
    ) {
        check_entry(entry, name, data.len(), &s3);
        assert_eq!(entry["size"], seed["size"]);
        assert_eq!(entry["is_public"], true);
        assert_eq!(
            entry["file_url"],
            format!("{base}/{}", entry["file_path"].as_str().unwrap())
        );
    }
    assert_ne!(files[0]["file_path"], files[1]["file_path"]);
    assert_eq!(app.count("attachments").await, 2);
    assert_eq!(app.count("orphan_objects").await, 0, "reservations left");
    assert_eq!(s3.keys().len(), 2);

    // Stored: the get route returns the same document.
    let got = app
        .call(Method::GET, &scheduler(ORG, USER, id), TOKEN, None)
        .await;
    assert_eq!(got.body, r.body);
}

#[tokio::test]
async fn update_with_files_as_in_the_seed_example_replaces_the_set() {
    let s3 = S3Server::start().await;
    let mut config = s3.config();
    let base = format!("{}/{BUCKET}", s3.endpoint);
    config.public_base_url = Some(base.clone());
    let app = TestApp::spawn_with_files(config).await;
    app.seed_tenant().await;
    let created = app
        .post_form(
            ORG,
            USER,
            TOKEN,
            form(
                Some(SEED_CREATE_PAYLOAD),
                &[
                    ("iphone13.jpg", &jpeg(100, 1)),
                    ("logitech_mouse.jpg", &jpeg(200, 2)),
                ],
            ),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.body["_id"].as_str().unwrap();
    let old_keys = s3.keys();
    assert_eq!(old_keys.len(), 2);

    // The seed's curl: x-organization-id and x-user-id headers, one new file.
    let perfume = jpeg(15_030, 3);
    let r = app
        .send(
            app.authed(
                Method::PUT,
                &format!("{}/{id}", files_path(ORG, USER)),
                TOKEN,
            )
            .header("x-organization-id", ORG)
            .header("x-user-id", USER)
            .multipart(form(
                Some(SEED_UPDATE_PAYLOAD),
                &[("tommy_perfume.jpg", &perfume)],
            )),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let expected = seed_update_response();
    assert_fields(&expected, &r.body, PER_CALL);
    assert_document(&r.body);
    assert_eq!(r.body["_id"], id);
    assert_eq!(r.body["created_at"], created.body["created_at"]);
    let job = &r.body["job"];
    let mut expected_job = expected["job"].clone();
    expected_job.as_object_mut().unwrap().remove("files");
    assert_fields(&expected_job, job, &[]);
    assert!(job["data"]["files"][0].get("file").is_none());
    assert_eq!(job["scheduler_id"], id);
    let files = job["files"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    check_entry(&files[0], "tommy_perfume.jpg", 15_030, &s3);
    assert_eq!(files[0]["is_public"], true);

    // The old objects are gone, the new one is the only one left; no ledger entries remain.
    assert_eq!(
        s3.keys(),
        vec![files[0]["file_path"].as_str().unwrap().to_owned()]
    );
    assert_eq!(app.count("attachments").await, 1);
    assert_eq!(app.count("orphan_objects").await, 0);
}

#[tokio::test]
async fn update_without_files_keeps_the_attachments() {
    let s3 = S3Server::start().await;
    let app = TestApp::spawn_with_files(s3.config()).await;
    app.seed_tenant().await;
    let created = app
        .post_form(
            ORG,
            USER,
            TOKEN,
            form(Some(SEED_CREATE_PAYLOAD), &[("a.jpg", &jpeg(10, 1))]),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.body["_id"].as_str().unwrap();
    let keys = s3.keys();
    let file_id = created.body["job"]["files"][0]["file_id"].clone();

    // A payload only: the attachments stay, even though the job is replaced.
    let r = app
        .put_form(
            ORG,
            USER,
            TOKEN,
            id,
            form(
                Some(r#"{"name": "renamed", "job": {"type": "webhook", "url": "https://example.com/h"}}"#),
                &[],
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["name"], "renamed");
    assert_eq!(r.body["job"]["url"], "https://example.com/h");
    assert_eq!(r.body["job"]["files"][0]["file_id"], file_id);
    assert_eq!(r.body["job"]["files"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["job"]["scheduler_id"], id);
    assert_eq!(s3.keys(), keys);
    assert_eq!(app.count("attachments").await, 1);

    // A JSON update keeps them too.
    let r = app
        .call(
            Method::PUT,
            &scheduler(ORG, USER, id),
            TOKEN,
            Some(&json!({"job": {"type": "kafka", "topic": "t"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["job"]["files"][0]["file_id"], file_id);
    assert_eq!(s3.keys(), keys);
}

#[tokio::test]
async fn get_file_gives_a_url_that_downloads_the_bytes_and_expires() {
    let s3 = S3Server::start().await;
    let mut config = s3.config();
    config.presign_ttl = Duration::from_secs(2);
    let app = TestApp::spawn_with_files(config).await;
    app.seed_tenant().await;
    let data = jpeg(61_165, 7);
    let created = app
        .post_form(
            ORG,
            USER,
            TOKEN,
            form(Some(SEED_CREATE_PAYLOAD), &[("logitech_mouse.jpg", &data)]),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.body["_id"].as_str().unwrap();
    let entry = &created.body["job"]["files"][0];
    assert_eq!(entry["is_public"], false);
    let file_id = entry["file_id"].as_str().unwrap();

    // The seed's curl (token only).
    let r = app
        .call(Method::GET, &file_path(ORG, USER, id, file_id), TOKEN, None)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let mut keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "created_at",
            "file_name",
            "file_size",
            "file_type",
            "file_url"
        ]
    );
    assert_eq!(r.body["file_name"], "logitech_mouse.jpg");
    assert_eq!(r.body["file_type"], "image/jpeg");
    assert_eq!(r.body["file_size"], 61_165);
    assert_time_format(&r.body["created_at"]);
    let url = r.body["file_url"].as_str().unwrap();
    assert!(url.contains("X-Amz-Expires=2&"), "{url}");
    // A plain HTTP client downloads it, byte for byte.
    let (status, body) = download(url).await;
    assert_eq!(status, 200);
    assert!(body == data, "downloaded bytes differ");
    // ... until it expires.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let (status, _) = download(url).await;
    assert_eq!(status, 403);
    // A new GET gives a fresh URL.
    let r = app
        .call(Method::GET, &file_path(ORG, USER, id, file_id), TOKEN, None)
        .await;
    assert_eq!(download(r.body["file_url"].as_str().unwrap()).await.0, 200);
}

#[tokio::test]
async fn seed_errors_with_their_messages() {
    let s3 = S3Server::start().await;
    let app = TestApp::spawn_with_files(s3.config()).await;
    app.seed_tenant().await;
    let before = app.dump().await;

    // No payload (files only): nothing stays behind.
    let r = app
        .post_form(ORG, USER, TOKEN, form(None, &[("a.jpg", &jpeg(100, 1))]))
        .await;
    assert_eq!((r.status, r.message()), (400, "payload is required"));
    let r = app.post_form(ORG, USER, TOKEN, form(Some("  "), &[])).await;
    assert_eq!((r.status, r.message()), (400, "payload is required"));
    // Files first, then a bad payload: the uploaded file is discarded.
    let late_payload = Form::new()
        .part(
            "files",
            Part::bytes(jpeg(100, 1))
                .file_name("a.jpg")
                .mime_str("image/jpeg")
                .unwrap(),
        )
        .text("payload", r#"{"name": "#);
    let r = app.post_form(ORG, USER, TOKEN, late_payload).await;
    assert_eq!((r.status, r.message()), (400, "Invalid JSON in payload"));
    let r = app
        .post_form(
            ORG,
            USER,
            TOKEN,
            form(Some("{not json"), &[("a.jpg", &jpeg(10, 1))]),
        )
        .await;
    assert_eq!((r.status, r.message()), (400, "Invalid JSON in payload"));
    // A payload that parses but does not validate: the JSON route's messages.
    let r = app
        .post_form(
            ORG,
            USER,
            TOKEN,
            form(Some(r#"{"event_type": "e"}"#), &[("a.jpg", &jpeg(10, 1))]),
        )
        .await;
    assert_eq!((r.status, r.message()), (400, "name is required"));
    // Not a form.
    let r = app
        .call(
            Method::POST,
            &files_path(ORG, USER),
            TOKEN,
            Some(&minutely("n", "e")),
        )
        .await;
    assert_eq!(r.status, 415, "{r:?}");
    // Update of a scheduler that is not there.
    let r = app
        .put_form(
            ORG,
            USER,
            TOKEN,
            "0123456789abcdef01234567",
            form(Some("{}"), &[("a.jpg", &jpeg(10, 1))]),
        )
        .await;
    assert_eq!((r.status, r.message()), (404, "Scheduler not found"));
    let r = app
        .send(
            app.authed(Method::PUT, &format!("{}/", files_path(ORG, USER)), TOKEN)
                .multipart(form(Some("{}"), &[])),
        )
        .await;
    assert_eq!((r.status, r.message()), (400, "scheduler_id is required"));
    assert_eq!(
        app.dump().await,
        before,
        "a rejected request changed the database"
    );
    assert!(s3.keys().is_empty(), "{:?}", s3.keys());

    // Get file: the scheduler, then the file.
    let missing = "670f990290e5ee13019669f4";
    let r = app
        .call(
            Method::GET,
            &file_path(ORG, USER, missing, "ab014eec-3b7f-4e67-8164-27ca344b6556"),
            TOKEN,
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.message()),
        (
            404,
            "Scheduler with id 670f990290e5ee13019669f4 not found in the organization org_imbrace"
        )
    );
    let created = app
        .post_form(
            ORG,
            USER,
            TOKEN,
            form(Some(SEED_CREATE_PAYLOAD), &[("a.jpg", &jpeg(10, 1))]),
        )
        .await;
    let id = created.body["_id"].as_str().unwrap();
    for file_id in ["ab014eec-3b7f-4e67-8164-27ca344b6556", "not-a-uuid"] {
        let r = app
            .call(Method::GET, &file_path(ORG, USER, id, file_id), TOKEN, None)
            .await;
        assert_eq!((r.status, r.message()), (404, "File not found"));
    }
    let r = app
        .call(
            Method::GET,
            &format!("{}/files/", scheduler(ORG, USER, id)),
            TOKEN,
            None,
        )
        .await;
    assert_eq!((r.status, r.message()), (400, "file_id is required"));
}

#[tokio::test]
async fn over_the_limits_is_413_and_leaves_nothing() {
    let s3 = S3Server::start().await;
    let mut config = s3.config();
    config.max_file_bytes = 64 * 1024;
    config.max_files = 2;
    let app = TestApp::spawn_with_files(config).await;
    app.seed_tenant().await;
    let before = app.dump().await;

    // The second file is over the size limit (the first was already stored: it goes too).
    let r = app
        .post_form(
            ORG,
            USER,
            TOKEN,
            form(
                Some(SEED_CREATE_PAYLOAD),
                &[
                    ("ok.jpg", &jpeg(1000, 1)),
                    ("big.jpg", &jpeg(64 * 1024 + 1, 2)),
                ],
            ),
        )
        .await;
    assert_eq!(r.status, 413, "{r:?}");
    assert_eq!(
        r.message(),
        "file big.jpg is larger than the limit of 65536 bytes"
    );
    // Three files where two are allowed.
    let small = jpeg(10, 1);
    let r = app
        .post_form(
            ORG,
            USER,
            TOKEN,
            form(
                Some(SEED_CREATE_PAYLOAD),
                &[("a.jpg", &small), ("b.jpg", &small), ("c.jpg", &small)],
            ),
        )
        .await;
    assert_eq!(r.status, 413, "{r:?}");
    assert_eq!(r.message(), "too many files: at most 2 files a request");
    assert_eq!(app.dump().await, before);
    assert!(s3.keys().is_empty(), "{:?}", s3.keys());

    // At the limits it works, and the 1 MiB JSON body limit does not apply to forms.
    let mut config = s3.config();
    config.max_files = 2;
    let app = TestApp::spawn_with_files(config).await;
    app.seed_tenant().await;
    let two_mib = jpeg(2 * 1024 * 1024, 5);
    let r = app
        .post_form(
            ORG,
            USER,
            TOKEN,
            form(
                Some(SEED_CREATE_PAYLOAD),
                &[("a.jpg", &two_mib), ("b.jpg", &small)],
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["job"]["files"][0]["size"], 2 * 1024 * 1024);
}

/// Makes every insert into `attachments` fail, as a database failure between the upload and
/// the commit would.
async fn break_attachments(app: &TestApp) {
    for sql in [
        "CREATE FUNCTION fail_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$",
        "CREATE TRIGGER fail_insert BEFORE INSERT ON attachments FOR EACH ROW EXECUTE FUNCTION fail_insert()",
    ] {
        sqlx::query(sql).execute(app.pool()).await.unwrap();
    }
}

#[tokio::test]
async fn a_database_failure_leaves_no_object_behind() {
    let s3 = S3Server::start().await;
    let app = TestApp::spawn_with_files(s3.config()).await;
    app.seed_tenant().await;
    let created = app
        .post_form(
            ORG,
            USER,
            TOKEN,
            form(Some(SEED_CREATE_PAYLOAD), &[("old.jpg", &jpeg(10, 1))]),
        )
        .await;
    assert_eq!(created.status, 201);
    let id = created.body["_id"].as_str().unwrap();
    let keys = s3.keys();
    break_attachments(&app).await;
    let before = app.dump().await;

    let r = app
        .post_form(
            ORG,
            USER,
            TOKEN,
            form(
                Some(SEED_CREATE_PAYLOAD),
                &[("a.jpg", &jpeg(10, 1)), ("b.jpg", &jpeg(20, 2))],
            ),
        )
        .await;
    assert_eq!((r.status, r.message()), (500, "Internal server error"));
    let r = app
        .put_form(
            ORG,
            USER,
            TOKEN,
            id,
            form(Some(r#"{"name": "x"}"#), &[("new.jpg", &jpeg(10, 1))]),
        )
        .await;
    assert_eq!((r.status, r.message()), (500, "Internal server error"));
    // The new objects were deleted, the old attachment is untouched, no ledger entry is left.
    assert_eq!(s3.keys(), keys);
    assert_eq!(app.dump().await, before);
    assert_eq!(app.count("orphan_objects").await, 0);
}

#[tokio::test]
async fn delete_removes_the_objects() {
    let s3 = S3Server::start().await;
    let app = TestApp::spawn_with_files(s3.config()).await;
    app.seed_tenant().await;
    let keep = app
        .post_form(
            ORG,
            USER,
            TOKEN,
            form(Some(SEED_CREATE_PAYLOAD), &[("keep.jpg", &jpeg(10, 1))]),
        )
        .await;
    let created = app
        .post_form(
            ORG,
            USER,
            TOKEN,
            form(
                Some(SEED_CREATE_PAYLOAD),
                &[("a.jpg", &jpeg(10, 1)), ("b.jpg", &jpeg(20, 2))],
            ),
        )
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(s3.keys().len(), 3);
    let id = created.body["_id"].as_str().unwrap();
    let r = app
        .call(Method::DELETE, &scheduler(ORG, USER, id), TOKEN, None)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        s3.keys(),
        vec![keep.body["job"]["files"][0]["file_path"]
            .as_str()
            .unwrap()
            .to_owned()]
    );
    assert_eq!(app.count("attachments").await, 1);
    assert_eq!(app.count("orphan_objects").await, 0);
}

/// A refused cross-tenant read answers `{"message"}` only, and nothing in it (body or
/// headers) carries anything of the owner's: its organization, scheduler name, file name,
/// object key, short path, URL or the file's bytes.
fn assert_nothing_leaks(r: &Resp, secrets: &[&str], what: &str) {
    let keys: Vec<&String> = r
        .body
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    assert_eq!(keys, ["message"], "{what}: {r:?}");
    assert!(
        !(300..400).contains(&r.status) && r.headers.get("location").is_none(),
        "{what}: redirected: {r:?}"
    );
    let body = r.body.to_string();
    let headers: Vec<String> = r
        .headers
        .iter()
        .map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(v.as_bytes())))
        .collect();
    for secret in secrets {
        assert!(
            !body.contains(secret),
            "{what}: body leaks {secret:?}: {body}"
        );
        for h in &headers {
            assert!(!h.contains(secret), "{what}: header leaks {secret:?}: {h}");
        }
    }
}

#[tokio::test]
async fn an_organization_cannot_read_another_organizations_file() {
    let s3 = S3Server::start().await;
    let app = TestApp::spawn_with_files(s3.config()).await;
    app.seed_tenant().await;
    let other = app.tenant("org_other", "u_other").await;
    // Bytes that would be recognisable in a response.
    const CONTENT: &str = "org-imbrace-confidential-bytes";
    let mut data = jpeg(10, 1);
    data.extend_from_slice(CONTENT.as_bytes());
    let created = app
        .post_form(
            ORG,
            USER,
            TOKEN,
            form(Some(SEED_CREATE_PAYLOAD), &[("secret.jpg", &data)]),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.body["_id"].as_str().unwrap();
    let entry = &created.body["job"]["files"][0];
    let file_id = entry["file_id"].as_str().unwrap();
    let object_key = entry["file_path"].as_str().unwrap();
    let short_path = entry["short_path"].as_str().unwrap();
    let secrets = [
        ORG,
        "testing schedule",
        "secret.jpg",
        object_key,
        short_path,
        CONTENT,
        "X-Amz-",
        BUCKET,
    ];
    // Through the owner's path with the other token: 401.
    let r = app
        .call(
            Method::GET,
            &file_path(ORG, USER, id, file_id),
            &other,
            None,
        )
        .await;
    assert_eq!(r.status, 401);
    assert_nothing_leaks(&r, &secrets, "owner's path, other token");
    // Through its own path: the scheduler is not in its organization.
    let r = app
        .call(
            Method::GET,
            &file_path("org_other", "u_other", id, file_id),
            &other,
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.message()),
        (
            404,
            format!("Scheduler with id {id} not found in the organization org_other").as_str()
        )
    );
    assert_nothing_leaks(&r, &secrets, "own path, other's scheduler");
    // With a scheduler of its own and the other's file id: not found.
    let mine = app
        .call(
            Method::POST,
            &schedulers("org_other", "u_other"),
            &other,
            Some(&minutely("m", "e")),
        )
        .await;
    let mine = mine.body["_id"].as_str().unwrap();
    let r = app
        .call(
            Method::GET,
            &file_path("org_other", "u_other", mine, file_id),
            &other,
            None,
        )
        .await;
    assert_eq!((r.status, r.message()), (404, "File not found"));
    assert_nothing_leaks(&r, &secrets, "own scheduler, other's file id");
    // Another user of the same organization does not see it either.
    app.tenant(ORG, "u_second").await;
    let r = app
        .call(
            Method::GET,
            &file_path(ORG, "u_second", id, file_id),
            TOKEN,
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    // Same organization: its name may be echoed, nothing else of the file.
    assert_nothing_leaks(&r, &secrets[1..], "another user of the organization");
    // The owner still reads it: the secrets above are what a leak would show.
    let r = app
        .call(Method::GET, &file_path(ORG, USER, id, file_id), TOKEN, None)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["file_name"], "secret.jpg");
    assert!(r.body["file_url"].as_str().unwrap().contains(object_key));
}

#[tokio::test]
async fn without_a_store_the_file_routes_answer_503() {
    let app = TestApp::spawn().await;
    app.seed_tenant().await;
    let r = app
        .post_form(ORG, USER, TOKEN, form(Some(SEED_CREATE_PAYLOAD), &[]))
        .await;
    assert_eq!(
        (r.status, r.message()),
        (503, "file storage is not configured")
    );
    let doc = app.create(ORG, USER, TOKEN, &minutely("n", "e")).await;
    let id = doc["_id"].as_str().unwrap();
    let r = app
        .put_form(ORG, USER, TOKEN, id, form(Some("{}"), &[]))
        .await;
    assert_eq!(r.status, 503);
    let r = app
        .call(
            Method::GET,
            &file_path(ORG, USER, id, "ab014eec-3b7f-4e67-8164-27ca344b6556"),
            TOKEN,
            None,
        )
        .await;
    assert_eq!(r.status, 503);
    // Deleting still works.
    let r = app
        .call(Method::DELETE, &scheduler(ORG, USER, id), TOKEN, None)
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn a_store_with_a_wrong_secret_fails_cleanly() {
    let s3 = S3Server::start().await;
    let mut config: FileStoreConfig = s3.config();
    config.secret_access_key = Some("wrong".to_owned().into());
    let app = TestApp::spawn_with_files(config).await;
    app.seed_tenant().await;
    let r = app
        .post_form(
            ORG,
            USER,
            TOKEN,
            form(Some(SEED_CREATE_PAYLOAD), &[("a.jpg", &jpeg(10, 1))]),
        )
        .await;
    assert_eq!((r.status, r.message()), (500, "Internal server error"));
    assert!(s3.keys().is_empty());
    assert_eq!(app.count("schedulers").await, 0);
    assert_eq!(app.count("attachments").await, 0);
    // The failed upload's key stays in the ledger (deleting it failed too): the sweeper
    // retries it, harmlessly.
    assert_eq!(app.count("orphan_objects").await, 1);
}

#[tokio::test]
async fn a_large_file_streams_through_in_parts() {
    let s3 = S3Server::start().await;
    // Default limits: 25 MiB a file, 8 MiB parts, so 12 MiB goes up as a multipart upload.
    let app = TestApp::spawn_with_files(s3.config()).await;
    app.seed_tenant().await;
    let data = jpeg(12 * 1024 * 1024 + 3, 11);
    let r = app
        .post_form(
            ORG,
            USER,
            TOKEN,
            form(Some(SEED_CREATE_PAYLOAD), &[("big.jpg", &data)]),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let entry = &r.body["job"]["files"][0];
    assert_eq!(entry["size"], data.len());
    let id = r.body["_id"].as_str().unwrap();
    let got = app
        .call(
            Method::GET,
            &file_path(ORG, USER, id, entry["file_id"].as_str().unwrap()),
            TOKEN,
            None,
        )
        .await;
    let (status, body) = download(got.body["file_url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert!(body == data, "downloaded bytes differ");
}
