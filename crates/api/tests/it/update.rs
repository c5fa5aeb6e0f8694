//! Update semantics with a settable clock, and the NOTIFY that wakes the runners.

use std::time::Duration;

use chrono::Duration as TimeDelta;
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::postgres::PgListener;

use crate::{at, minutely, scheduler, TestApp};

const ORG: &str = "org_u";
const USER: &str = "u1";

async fn put(app: &TestApp, token: &str, id: &str, body: Value) -> Value {
    let r = app
        .call(Method::PUT, &scheduler(ORG, USER, id), token, Some(&body))
        .await;
    assert_eq!(r.status, 200, "{body}: {r:?}");
    r.body
}

fn without(doc: &Value, keys: &[&str]) -> Value {
    let mut d = doc.clone();
    for k in keys {
        d.as_object_mut().unwrap().remove(*k);
    }
    d
}

#[tokio::test]
async fn partial_update_pause_resume_and_timing_change() {
    let app = TestApp::spawn().await;
    let token = app.tenant(ORG, USER).await;
    app.tenant(ORG, "u2").await;
    // Every minute from 14:35:00.
    app.set_now(at("2026-02-01T10:00:30Z"));
    let mut body = minutely("n", "e");
    body["description"] = json!("d");
    body["internal_id"] = json!("ext-1");
    let created = app.create(ORG, USER, &token, &body).await;
    let id = created["_id"].as_str().unwrap();
    assert_eq!(created["next_fire_at"], "2026-02-01T10:01:00.000Z");
    assert_eq!(created["is_finished"], false);

    // Partial: only the name changes (and the update stamps).
    app.set_now(at("2026-02-01T10:00:40Z"));
    let renamed = put(&app, &token, id, json!({"name": "renamed"})).await;
    assert_eq!(renamed["name"], "renamed");
    assert_eq!(renamed["updated_at"], "2026-02-01T10:00:40.000Z");
    assert_eq!(
        without(&renamed, &["name", "updated_at"]),
        without(&created, &["name", "updated_at"])
    );

    // An empty object changes nothing but the stamps; null resets optional fields.
    let reset = put(
        &app,
        &token,
        id,
        json!({"description": null, "internal_id": null, "unknown": 1}),
    )
    .await;
    assert_eq!(reset["description"], "");
    assert_eq!(reset["internal_id"], Value::Null);
    assert!(reset.get("unknown").is_none());

    // Pause: next_fire_at goes null.
    let paused = put(&app, &token, id, json!({"is_paused": true})).await;
    assert_eq!(paused["is_paused"], true);
    assert_eq!(paused["next_fire_at"], Value::Null);
    assert_eq!(paused["is_finished"], false);

    // Resume an hour later: from the clock, no catch-up.
    app.set_now(at("2026-02-01T11:07:10Z"));
    let resumed = put(&app, &token, id, json!({"is_paused": false})).await;
    assert_eq!(resumed["is_paused"], false);
    assert_eq!(resumed["next_fire_at"], "2026-02-01T11:08:00.000Z");

    // Timing change: every 5 minutes, recomputed from now (slots at 14:35 + 5k min).
    let retimed = put(&app, &token, id, json!({"trigger_frequency_value": 5})).await;
    assert_eq!(retimed["trigger_frequency_value"], 5);
    assert_eq!(retimed["next_fire_at"], "2026-02-01T11:10:00.000Z");

    // A change that does not touch the timing keeps next_fire_at even if the clock moved.
    app.set_now(at("2026-02-01T11:30:00Z"));
    let same = put(
        &app,
        &token,
        id,
        json!({"event_type": "other", "misfire_policy": "skip"}),
    )
    .await;
    assert_eq!(same["next_fire_at"], "2026-02-01T11:10:00.000Z");
    assert_eq!(same["misfire_policy"], "skip");

    // Switch to a one-shot in the past: armed at its instant (fires at once, late).
    let one_shot = put(
        &app,
        &token,
        id,
        json!({"type": "non_recurring", "start_datetime": "2026-02-01T11:00:00.000Z"}),
    )
    .await;
    assert_eq!(one_shot["type"], "non_recurring");
    assert_eq!(one_shot["one_time_schedule_type"], "exact");
    assert_eq!(one_shot["next_fire_at"], "2026-02-01T11:00:00.000Z");
    assert_eq!(one_shot["start_date"], "2026-02-01T11:00:00.000Z");

    // A body valid on its own that makes this scheduler invalid conflicts with it (409; on a
    // scheduler with a schedule_expression the same body is fine), and changes nothing.
    let before = app.dump().await;
    let r = app
        .call(
            Method::PUT,
            &scheduler(ORG, USER, id),
            &token,
            Some(&json!({"type": "recurring", "trigger_frequency_unit": null})),
        )
        .await;
    assert_eq!(r.status, 409, "{r:?}");
    assert!(
        r.message().contains("trigger_frequency_unit"),
        "{}",
        r.message()
    );
    assert_eq!(app.dump().await, before);
    // A field bad on its own is the request's fault.
    let r = app
        .call(
            Method::PUT,
            &scheduler(ORG, USER, id),
            &token,
            Some(&json!({"trigger_frequency_unit": "fortnights"})),
        )
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(app.dump().await, before);

    // updated_by is the path user; another user of the organization cannot see it.
    let r = app
        .call(
            Method::PUT,
            &scheduler(ORG, "u2", id),
            &token,
            Some(&json!({"name": "x"})),
        )
        .await;
    assert_eq!((r.status, r.message()), (404, "Scheduler not found"));
}

#[tokio::test]
async fn end_and_max_fires_finish_the_scheduler() {
    let app = TestApp::spawn().await;
    let token = app.tenant(ORG, USER).await;
    app.set_now(at("2026-02-01T10:00:30Z"));
    let mut body = minutely("n", "e");
    body["end_datetime"] = json!("2025-01-01T00:00:00Z");
    let doc = app.create(ORG, USER, &token, &body).await;
    assert_eq!(doc["next_fire_at"], Value::Null);
    assert_eq!(doc["is_finished"], true);
    assert_eq!(doc["end_datetime"], "2025-01-01T00:00:00.000Z");
    // Moving the end into the future re-arms it.
    let id = doc["_id"].as_str().unwrap();
    let doc = put(
        &app,
        &token,
        id,
        json!({"end_datetime": "2027-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(doc["next_fire_at"], "2026-02-01T10:01:00.000Z");
    assert_eq!(doc["is_finished"], false);
}

async fn next_notification(listener: &mut PgListener, within: Duration) -> Option<String> {
    match tokio::time::timeout(within, listener.recv()).await {
        Ok(Ok(n)) => Some(n.payload().to_owned()),
        Ok(Err(e)) => panic!("listener: {e}"),
        Err(_) => None,
    }
}

#[tokio::test]
async fn runners_are_notified_of_schedulers_due_within_the_horizon() {
    let app = TestApp::spawn().await;
    let token = app.tenant(ORG, USER).await;
    let mut listener = PgListener::connect_with(app.pool()).await.unwrap();
    listener.listen(scheduler_store::DUE_CHANNEL).await.unwrap();

    let now = at("2026-03-01T08:59:58Z");
    app.set_now(now);
    // Due in 2 s: notified with its instant.
    let mut body = minutely("soon", "e");
    body["start_datetime"] = json!("2026-03-01T09:00:00.000Z");
    let soon = app.create(ORG, USER, &token, &body).await;
    assert_eq!(soon["next_fire_at"], "2026-03-01T09:00:00.000Z");
    assert_eq!(
        next_notification(&mut listener, Duration::from_secs(5))
            .await
            .as_deref(),
        Some("2026-03-01T09:00:00.000Z")
    );

    // Due in an hour: no notification (the runners' poll finds it).
    body["start_datetime"] = json!("2026-03-01T10:00:00.000Z");
    let later = app.create(ORG, USER, &token, &body).await;
    assert_eq!(
        next_notification(&mut listener, Duration::from_millis(500)).await,
        None
    );

    // Paused at creation: nothing to notify.
    body["start_datetime"] = json!("2026-03-01T09:00:00.000Z");
    body["is_paused"] = json!(true);
    app.create(ORG, USER, &token, &body).await;
    assert_eq!(
        next_notification(&mut listener, Duration::from_millis(500)).await,
        None
    );

    // An update that moves it into the horizon notifies.
    let id = later["_id"].as_str().unwrap();
    put(
        &app,
        &token,
        id,
        json!({"start_datetime": "2026-03-01T09:00:01.000Z"}),
    )
    .await;
    assert_eq!(
        next_notification(&mut listener, Duration::from_secs(5))
            .await
            .as_deref(),
        Some("2026-03-01T09:00:01.000Z")
    );

    // A one-shot created in the past is due at once.
    app.set_now(now + TimeDelta::hours(1));
    let past = json!({"type": "non_recurring", "name": "p", "event_type": "e",
        "job": {"type": "kafka", "topic": "t"}, "start_datetime": "2026-03-01T09:30:00Z"});
    let doc = app.create(ORG, USER, &token, &past).await;
    assert_eq!(doc["next_fire_at"], "2026-03-01T09:30:00.000Z");
    assert_eq!(
        next_notification(&mut listener, Duration::from_secs(5))
            .await
            .as_deref(),
        Some("2026-03-01T09:30:00.000Z")
    );
}

/// An edit that does not move the slots keeps a slot that is due and not claimed yet; one that
/// moves them starts from now; a fired one-shot given a new instant is armed again.
#[tokio::test]
async fn edits_keep_a_due_slot_and_rearm_a_one_shot() {
    let app = TestApp::spawn().await;
    let token = app.tenant(ORG, USER).await;
    app.set_now(at("2026-02-01T10:00:30Z"));
    let created = app.create(ORG, USER, &token, &minutely("n", "e")).await;
    let id = created["_id"].as_str().unwrap();
    assert_eq!(created["next_fire_at"], "2026-02-01T10:01:00.000Z");

    // 10:01:00 is due (no runner claimed it yet) when max_fires and end_datetime change.
    app.set_now(at("2026-02-01T10:01:20Z"));
    let capped = put(&app, &token, id, json!({"max_fires": 5})).await;
    assert_eq!(capped["next_fire_at"], "2026-02-01T10:01:00.000Z");
    let ended = put(
        &app,
        &token,
        id,
        json!({"end_datetime": "2026-03-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(ended["next_fire_at"], "2026-02-01T10:01:00.000Z");
    // An end before the due slot drops it: nothing is left.
    let over = put(
        &app,
        &token,
        id,
        json!({"end_datetime": "2026-02-01T10:00:50Z"}),
    )
    .await;
    assert_eq!(
        (over["next_fire_at"].clone(), over["is_finished"].clone()),
        (Value::Null, json!(true))
    );

    // A one-shot that fired (as the runner leaves it) gets a new instant: armed again.
    let once = app
        .create(
            ORG,
            USER,
            &token,
            &json!({"type": "non_recurring", "name": "once", "event_type": "e",
                "start_datetime": "2026-02-01T10:02:00Z",
                "job": {"type": "webhook", "url": "https://example.com/h"}}),
        )
        .await;
    let once_id = once["_id"].as_str().unwrap();
    sqlx::query(
        "UPDATE schedulers SET next_fire_at = NULL, is_finished = true, fire_count = 1 WHERE id = $1",
    )
    .bind(once_id)
    .execute(&app.db.pool)
    .await
    .unwrap();
    let rearmed = put(
        &app,
        &token,
        once_id,
        json!({"start_datetime": "2026-02-01T10:05:00Z"}),
    )
    .await;
    assert_eq!(rearmed["next_fire_at"], "2026-02-01T10:05:00.000Z");
    assert_eq!(rearmed["is_finished"], false);
}
