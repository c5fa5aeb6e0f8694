//! The added routes (executions, run, preview), request ids, and the 500 answer.

use reqwest::Method;
use scheduler_api::ApiConfig;
use serde_json::{json, Value};

use crate::{assert_time_format, at, minutely, scheduler, TestApp};

const ORG: &str = "org_r";
const USER: &str = "u1";

#[tokio::test]
async fn run_executions_and_preview() {
    let app = TestApp::spawn().await;
    let token = app.tenant(ORG, USER).await;
    app.set_now(at("2026-04-01T12:00:30Z"));
    let doc = app.create(ORG, USER, &token, &minutely("n", "e")).await;
    let id = doc["_id"].as_str().unwrap();
    let base = scheduler(ORG, USER, id);

    let r = app
        .call(Method::GET, &format!("{base}/executions"), &token, None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        json!({"data": [], "count": 0, "total": 0, "has_more": false})
    );

    // Three manual runs at three instants; a fourth at the same instant conflicts.
    let mut fire_ids = Vec::new();
    for s in [31, 32, 33] {
        app.set_now(at(&format!("2026-04-01T12:00:{s}Z")));
        let r = app
            .call(Method::POST, &format!("{base}/run"), &token, None)
            .await;
        assert_eq!(r.status, 202, "{r:?}");
        assert_eq!(r.body["manual"], true);
        assert_eq!(r.body["status"], "pending");
        assert_eq!(r.body["attempts"], 0);
        assert_eq!(r.body["late"], false);
        assert_eq!(r.body["skipped_slots"], 0);
        assert_eq!(r.body["last_error"], Value::Null);
        assert_eq!(r.body["delivered_at"], Value::Null);
        assert_eq!(
            r.body["scheduled_for"],
            format!("2026-04-01T12:00:{s}.000Z")
        );
        fire_ids.push(r.body["fire_id"].as_str().unwrap().to_owned());
    }
    let r = app
        .call(Method::POST, &format!("{base}/run"), &token, None)
        .await;
    assert_eq!(r.status, 409, "{r:?}");

    let r = app
        .call(
            Method::GET,
            &format!("{base}/executions?limit=2"),
            &token,
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        (
            r.body["count"].clone(),
            r.body["total"].clone(),
            r.body["has_more"].clone()
        ),
        (2.into(), 3.into(), true.into())
    );
    let got: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fire_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        got,
        [fire_ids[2].as_str(), fire_ids[1].as_str()],
        "newest first"
    );
    for f in r.body["data"].as_array().unwrap() {
        assert_time_format(&f["scheduled_for"]);
        for k in [
            "status",
            "attempts",
            "last_error",
            "delivered_at",
            "late",
            "skipped_slots",
            "manual",
        ] {
            assert!(f.get(k).is_some(), "{k}");
        }
    }
    let r = app
        .call(
            Method::GET,
            &format!("{base}/executions?limit=2&skip=2"),
            &token,
            None,
        )
        .await;
    assert_eq!(
        (r.body["count"].clone(), r.body["has_more"].clone()),
        (1.into(), false.into())
    );

    // Preview: from next_fire_at, default 10, count bounded.
    let r = app
        .call(
            Method::GET,
            &format!("{base}/preview?count=3"),
            &token,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    // No flexible window: each item is delivered at its slot.
    let item = |t: &str| json!({"scheduled_for": t, "deliver_at": t});
    assert_eq!(
        r.body,
        json!({"data": ["2026-04-01T12:01:00.000Z", "2026-04-01T12:02:00.000Z", "2026-04-01T12:03:00.000Z"],
               "items": [item("2026-04-01T12:01:00.000Z"), item("2026-04-01T12:02:00.000Z"),
                         item("2026-04-01T12:03:00.000Z")]})
    );
    let r = app
        .call(Method::GET, &format!("{base}/preview"), &token, None)
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 10);
    let r = app
        .call(
            Method::GET,
            &format!("{base}/preview?count=100"),
            &token,
            None,
        )
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 100);

    // Deleting cancels the pending fires; the scheduler's routes are then 404.
    let r = app.call(Method::DELETE, &base, &token, None).await;
    assert_eq!(r.status, 200);
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT status FROM fires WHERE scheduler_id = $1")
            .bind(id)
            .fetch_all(app.pool())
            .await
            .unwrap();
    assert_eq!(statuses, ["cancelled", "cancelled", "cancelled"]);
    for (m, p) in [
        (Method::GET, format!("{base}/executions")),
        (Method::POST, format!("{base}/run")),
        (Method::GET, format!("{base}/preview")),
    ] {
        let r = app.call(m, &p, &token, None).await;
        assert_eq!((r.status, r.message()), (404, "Scheduler not found"), "{p}");
    }
}

#[tokio::test]
async fn preview_of_max_fires_and_one_shots() {
    let app = TestApp::spawn().await;
    let token = app.tenant(ORG, USER).await;
    app.set_now(at("2026-04-01T12:00:30Z"));
    let mut body = minutely("n", "e");
    body["start_datetime"] = json!("2026-04-01T12:10:00Z");
    body["max_fires"] = json!(2);
    body["timezone"] = json!("Asia/Hong_Kong");
    let doc = app.create(ORG, USER, &token, &body).await;
    assert_eq!(doc["timezone"], "Asia/Hong_Kong");
    let r = app
        .call(
            Method::GET,
            &format!(
                "{}/preview",
                scheduler(ORG, USER, doc["_id"].as_str().unwrap())
            ),
            &token,
            None,
        )
        .await;
    assert_eq!(
        r.body["data"],
        json!(["2026-04-01T12:10:00.000Z", "2026-04-01T12:11:00.000Z"])
    );
    assert_eq!(
        r.body["items"][1],
        json!({"scheduled_for": "2026-04-01T12:11:00.000Z", "deliver_at": "2026-04-01T12:11:00.000Z"})
    );

    let one = json!({"type": "non_recurring", "name": "o", "event_type": "e",
        "job": {"type": "webhook", "url": "https://example.com/x", "method": "PUT",
                "headers": {"x-k": "v"}, "timeout_ms": 5000, "retry": {"max_attempts": 3}},
        "start_datetime": "2026-05-01T00:00:00+08:00"});
    let doc = app.create(ORG, USER, &token, &one).await;
    assert_eq!(doc["start_datetime"], "2026-04-30T16:00:00.000Z");
    assert_eq!(doc["job"], one["job"]);
    let r = app
        .call(
            Method::GET,
            &format!(
                "{}/preview",
                scheduler(ORG, USER, doc["_id"].as_str().unwrap())
            ),
            &token,
            None,
        )
        .await;
    assert_eq!(r.body["data"], json!(["2026-04-30T16:00:00.000Z"]));
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = TestApp::spawn().await;
    let r = app.send(app.request(Method::GET, "/nope")).await;
    let id = r.headers["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    let r = app
        .send(
            app.request(Method::GET, "/nope")
                .header("x-request-id", "abc-123"),
        )
        .await;
    assert_eq!(r.headers["x-request-id"], "abc-123");
    let r = app
        .send(
            app.request(Method::GET, "/nope")
                .header("x-request-id", "bad id with spaces"),
        )
        .await;
    let id = r.headers["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
}

#[tokio::test]
async fn internal_errors_say_nothing_internal() {
    let db = scheduler_store::testing::fresh_db().await;
    let token = scheduler_store::tenancy::issue_token(&db.pool, ORG)
        .await
        .unwrap()
        .token;
    let pool = db.pool.clone();
    let app = TestApp::serve(db, ApiConfig::default()).await;
    pool.close().await;
    let r = app
        .call(Method::GET, &crate::schedulers(ORG, USER), &token, None)
        .await;
    assert_eq!(r.status, 500);
    assert_eq!(r.body, json!({"message": "Internal server error"}));
    assert!(r.headers.contains_key("x-request-id"));
}

/// The seed's "Update Scheduler with Files" without its id: `400 scheduler_id is required`
/// (not a 405), under both prefixes; other methods the route lacks stay 405.
#[tokio::test]
async fn update_with_files_without_an_id_is_400() {
    let app = TestApp::spawn().await;
    app.seed_tenant().await;
    for prefix in ["/3rd", "/v1"] {
        let path = format!(
            "{prefix}/organization/{}/users/{}/schedulers/files",
            crate::ORG,
            crate::USER
        );
        let r = app
            .send(
                app.request(Method::PUT, &path)
                    .header("x-access-token", crate::TOKEN)
                    .header("content-type", "multipart/form-data; boundary=x")
                    .body("--x--\r\n"),
            )
            .await;
        assert_eq!(r.status, 400, "{path}: {r:?}");
        assert_eq!(r.message(), "scheduler_id is required");
        let r = app.send(app.request(Method::PATCH, &path)).await;
        assert_eq!(r.status, 405, "{path}: {r:?}");
    }
}
