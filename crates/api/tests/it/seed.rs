//! The seed API document's request examples and listed errors for endpoints 1, 3, 4, 6, 8.

use reqwest::Method;
use serde_json::{json, Value};

use crate::{assert_document, assert_fields, scheduler, schedulers, TestApp, ORG, TOKEN, USER};

/// Seed 4's body, copied.
fn seed_create_body() -> Value {
    json!({ "type": "recurring", "name": "testing schedule", "event_type": "whatsapp", "channel_source": "", "description": "", "job": { "type": "kafka", "topic": "ROUTER.OUTGOING_MESSAGE", "data": {}, "workflow_id": "123" }, "trigger_frequency_unit": "years", "trigger_frequency_value": 1, "triger_month_and_day": "1969-12-31T16:32:00.000Z", "trigger_time": "1969-12-31T16:00:00.000Z", "start_datetime": "2024-09-11T14:35:00.000Z" })
}

/// Seed 4's response, copied.
fn seed_create_response() -> Value {
    json!({ "type": "recurring", "name": "testing schedule", "event_type": "whatsapp", "description": "", "options": null, "job": { "type": "kafka", "topic": "ROUTER.OUTGOING_MESSAGE", "workflow_id": "123" }, "organization_id": "org_imbrace", "trigger_frequency_unit": "years", "trigger_frequency_value": 1, "trigger_time": "1969-12-31T16:00:00.000Z", "triger_month_and_day": "1969-12-31T16:32:00.000Z", "start_date": "2024-09-11T14:35:00.000Z", "start_time": "2024-09-11T14:35:00.000Z", "is_paused": false, "is_finished": false, "channel_source": "", "created_by": "u_ed1ffffc-73ca-4dc3-85fc-2c7da6c87b7a", "updated_by": "u_ed1ffffc-73ca-4dc3-85fc-2c7da6c87b7a", "_id": "66e1481283adbddb9ad6b8ff", "created_at": "2024-09-11T07:34:42.158Z", "updated_at": "2024-09-11T07:34:42.158Z" })
}

/// Fields that differ by nature from the seed's sample: ids, times of the call, and the
/// seed's own user id (ours is the path's user).
const PER_CALL: &[&str] = &[
    "_id",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
];

#[tokio::test]
async fn create_as_in_the_seed_example() {
    let app = TestApp::spawn().await;
    app.seed_tenant().await;
    // The seed's curl: /v1 path, both optional headers, JSON content type.
    let r = app
        .send(
            app.request(
                Method::POST,
                &format!("/v1/organization/{ORG}/users/{USER}/schedulers"),
            )
            .header("x-organization-id", ORG)
            .header("x-user-id", USER)
            .header("x-access-token", TOKEN)
            .header("Content-Type", "application/json")
            .body(seed_create_body().to_string()),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_fields(&seed_create_response(), &r.body, PER_CALL);
    assert_document(&r.body);
    assert_eq!(r.body["start_datetime"], "2024-09-11T14:35:00.000Z");
    assert_eq!(r.body["created_by"], USER);
    assert_eq!(r.body["updated_by"], USER);
    assert_eq!(r.body["timezone"], "UTC");
    assert_eq!(r.body["misfire_policy"], "fire_once");
    assert_eq!(r.body["fire_count"], 0);
    // Yearly on Dec 31 at 16:00 UTC (the month/day and time of the two trigger fields).
    let next = r.body["next_fire_at"].as_str().unwrap();
    assert!(next.ends_with("-12-31T16:00:00.000Z"), "{next}");

    // And it is stored: the get route returns the same document.
    let id = r.body["_id"].as_str().unwrap();
    let got = app
        .call(Method::GET, &scheduler(ORG, USER, id), TOKEN, None)
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, r.body);
}

#[tokio::test]
async fn get_as_in_the_seed_example() {
    let app = TestApp::spawn().await;
    app.seed_tenant().await;
    let created = app
        .create(
            ORG,
            USER,
            TOKEN,
            &json!({"type": "recurring", "name": "testing schedule", "event_type": "whatsapp",
                "description": "", "job": {"type": "kafka", "topic": "ROUTER.OUTGOING_MESSAGE", "workflow_id": "123"},
                "trigger_frequency_unit": "minutes", "trigger_frequency_value": 1,
                "start_datetime": "2024-09-11T17:50:00.000Z", "channel_source": ""}),
        )
        .await;
    let id = created["_id"].as_str().unwrap();
    // Seed 3's curl headers.
    let r = app
        .send(
            app.request(Method::GET, &scheduler(ORG, USER, id))
                .header("x-organization-id", ORG)
                .header("x-user-id", USER)
                .header("x-access-token", TOKEN),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let seed_response = json!({ "_id": "66e17484412c29cf84c39898", "type": "recurring", "name": "testing schedule", "event_type": "whatsapp", "description": "", "options": null, "job": { "type": "kafka", "topic": "ROUTER.OUTGOING_MESSAGE", "workflow_id": "123" }, "organization_id": "org_imbrace", "trigger_frequency_unit": "minutes", "trigger_frequency_value": 1, "start_date": "2024-09-11T17:50:00.000Z", "start_time": "2024-09-11T17:50:00.000Z", "is_paused": false, "is_finished": false, "channel_source": "", "created_by": "u_ed1ffffc-73ca-4dc3-85fc-2c7da6c87b7a", "updated_by": "u_ed1ffffc-73ca-4dc3-85fc-2c7da6c87b7a", "created_at": "2024-09-11T10:44:20.637Z", "updated_at": "2024-09-11T10:44:20.637Z" });
    assert_fields(&seed_response, &r.body, PER_CALL);
    assert_document(&r.body);
    assert_eq!(r.body["_id"], id);
}

#[tokio::test]
async fn list_as_in_the_seed_example() {
    let app = TestApp::spawn().await;
    app.seed_tenant().await;
    // The seed's list item, created through the API.
    let item = json!({ "type": "recurring", "name": "Board Automation - Jane - Facebook 16 days ", "event_type": "board_automation", "description": "", "options": null, "job": { "type": "kafka", "topic": "ROUTER.OUTGOING_CRM_EVENT", "data": { "board_id": "brd_67c3766a-bedc-48dc-9a17-84551435cea6", "id": "662f175874c8ca8d00a1d30d" }, "workflow_id": "1336" }, "organization_id": "org_imbrace", "internal_id": "662f175874c8ca8d00a1d30d", "trigger_frequency_unit": "days", "trigger_frequency_value": 1, "trigger_time": "2024-04-29T01:00:00.000Z", "start_date": "2024-04-29T01:30:00.000Z", "start_time": "2024-04-29T01:30:00.000Z", "start_datetime": "2024-04-29T01:30:00.000Z", "is_paused": true, "is_finished": false, "channel_source": "", "created_by": null, "updated_by": null, "created_at": "2024-09-13T09:05:36.286Z", "updated_at": "2024-09-13T09:05:36.286Z" });
    app.create(ORG, USER, TOKEN, &item).await;
    for (name, et) in [
        ("w", "whatsapp_outbound"),
        ("t", "telegram_outbound"),
        ("f", "facebook_outbound"),
    ] {
        app.create(ORG, USER, TOKEN, &crate::minutely(name, et))
            .await;
    }

    // Seed 1's curl, verbatim query.
    let r = app
        .call(
            Method::GET,
            &format!(
                "{}?event_type=contains%3Awhatsapp_outbound%2Ctelegram_outbound",
                schedulers(ORG, USER)
            ),
            TOKEN,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let names: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["t", "w"]);
    assert_eq!(r.body["count"], 2);
    assert_eq!(r.body["total"], 2);
    assert_eq!(r.body["has_more"], false);

    let r = app
        .call(
            Method::GET,
            &format!("{}?event_type=board_automation", schedulers(ORG, USER)),
            TOKEN,
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["count"], 1);
    let doc = &r.body["data"][0];
    assert_fields(
        &item,
        doc,
        &[
            "_id",
            "created_at",
            "updated_at",
            "created_by",
            "updated_by",
            "options",
        ],
    );
    assert_document(doc);
    assert_eq!(doc["is_paused"], true);
    assert_eq!(doc["next_fire_at"], Value::Null, "paused at creation");
    assert_eq!(doc["created_by"], USER);
}

#[tokio::test]
async fn update_as_in_the_seed_example() {
    let app = TestApp::spawn().await;
    app.seed_tenant().await;
    let created = app.create(ORG, USER, TOKEN, &seed_create_body()).await;
    let id = created["_id"].as_str().unwrap();
    // Seed 6's body, copied.
    let body = json!({ "type": "recurring", "name": "testing schedule updated", "event_type": "facebook", "channel_source": "", "description": "", "trigger_frequency_unit": "minutes", "trigger_frequency_value": 1, "start_datetime": "2024-09-19T15:36:00.000Z", "job": { "type": "kafka", "topic": "ROUTER.OUTGOING_MESSAGE", "data": {}, "workflow_id": "456" }, "is_paused": false });
    let r = app
        .send(
            app.request(Method::PUT, &scheduler(ORG, USER, id))
                .header("x-organization-id", ORG)
                .header("x-user-id", USER)
                .header("x-access-token", TOKEN)
                .header("Content-Type", "application/json")
                .body(body.to_string()),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    // The whole updated document (the seed's sample response is stale; SPEC 4.6).
    assert_fields(&body, &r.body, &[]);
    assert_document(&r.body);
    assert_eq!(r.body["_id"], id);
    assert_eq!(r.body["start_date"], "2024-09-19T15:36:00.000Z");
    assert_eq!(r.body["created_at"], created["created_at"]);
    assert_eq!(r.body["updated_by"], USER);
    // Fields the body did not name are kept.
    assert_eq!(r.body["trigger_time"], created["trigger_time"]);
    let got = app
        .call(Method::GET, &scheduler(ORG, USER, id), TOKEN, None)
        .await;
    assert_eq!(got.body, r.body);
}

#[tokio::test]
async fn delete_as_in_the_seed_example() {
    let app = TestApp::spawn().await;
    app.seed_tenant().await;
    let created = app.create(ORG, USER, TOKEN, &seed_create_body()).await;
    let id = created["_id"].as_str().unwrap();
    // Seed 8's body (ignored) and headers.
    let seed_body = r#"{ "type": "non_recurring", "schedule_id": "schedule_1", "callback_url": "https://google.com", "start_date": "2024-04-29T16:00:00.000Z", "start_time": "1969-12-31T19:05:00.000Z" }"#;
    let r = app
        .send(
            app.request(Method::DELETE, &scheduler(ORG, USER, id))
                .header("x-organization-id", ORG)
                .header("x-access-token", TOKEN)
                .header("Content-Type", "application/json")
                .body(seed_body),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.body,
        json!({"message": format!("schedule {id} is deleted successfully")})
    );
    let again = app
        .call(Method::GET, &scheduler(ORG, USER, id), TOKEN, None)
        .await;
    assert_eq!(again.status, 404);
    assert_eq!(again.message(), "Scheduler not found");
    // Deleting again, or with the seed's own (malformed) id: 404.
    for target in [id, "schedule_1"] {
        let r = app
            .send(
                app.request(Method::DELETE, &scheduler(ORG, USER, target))
                    .header("x-access-token", TOKEN)
                    .header("Content-Type", "application/json")
                    .body("{not json"),
            )
            .await;
        assert_eq!(r.status, 404, "{r:?}");
        assert_eq!(r.message(), "Scheduler not found");
    }
}

/// Every error the seed lists for endpoints 1, 3, 4, 6 and 8, with its exact message.
#[tokio::test]
async fn errors_listed_by_the_seed() {
    let app = TestApp::spawn().await;
    app.seed_tenant().await;
    let created = app.create(ORG, USER, TOKEN, &seed_create_body()).await;
    let id = created["_id"].as_str().unwrap().to_owned();
    let good = seed_create_body();
    let without = |field: &str| {
        let mut b = good.clone();
        b.as_object_mut().unwrap().remove(field);
        b
    };
    let list = schedulers(ORG, USER);
    let one = scheduler(ORG, USER, &id);
    let unknown_id = "66e17484412c29cf84c39898";
    // (method, path, token, body, status, message)
    type Case<'a> = (Method, String, Option<&'a str>, Option<Value>, u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        // 1. list
        (
            Method::GET,
            format!("/3rd/organization//users/{USER}/schedulers"),
            Some(TOKEN),
            None,
            400,
            "organization_id is required",
        ),
        (
            Method::GET,
            format!("/3rd/organization/{ORG}/users//schedulers"),
            Some(TOKEN),
            None,
            400,
            "user_id is required",
        ),
        (Method::GET, list.clone(), None, None, 401, "Unauthorized"),
        (
            Method::GET,
            list.clone(),
            Some("api_00000000-0000-0000-0000-000000000000"),
            None,
            401,
            "Unauthorized",
        ),
        (
            Method::GET,
            schedulers(ORG, "u_nobody"),
            Some(TOKEN),
            None,
            404,
            "User not found",
        ),
        // 3. get
        (
            Method::GET,
            format!("{list}/"),
            Some(TOKEN),
            None,
            400,
            "scheduler_id is required",
        ),
        (Method::GET, one.clone(), None, None, 401, "Unauthorized"),
        (
            Method::GET,
            scheduler(ORG, USER, unknown_id),
            Some(TOKEN),
            None,
            404,
            "Scheduler not found",
        ),
        // 4. create
        (
            Method::POST,
            list.clone(),
            Some(TOKEN),
            Some(without("name")),
            400,
            "name is required",
        ),
        (
            Method::POST,
            list.clone(),
            Some(TOKEN),
            Some(without("event_type")),
            400,
            "event_type is required",
        ),
        (
            Method::POST,
            list.clone(),
            Some(TOKEN),
            Some(without("job")),
            400,
            "job is required",
        ),
        (
            Method::POST,
            list.clone(),
            Some(TOKEN),
            Some(json!({})),
            400,
            "name is required",
        ),
        (
            Method::POST,
            list.clone(),
            Some(TOKEN),
            Some(json!({"name": "n"})),
            400,
            "event_type is required",
        ),
        (
            Method::POST,
            list.clone(),
            Some(TOKEN),
            Some(json!({"name": "n", "event_type": "e"})),
            400,
            "job is required",
        ),
        (
            Method::POST,
            list.clone(),
            None,
            Some(good.clone()),
            401,
            "Unauthorized",
        ),
        (
            Method::POST,
            schedulers(ORG, "u_nobody"),
            Some(TOKEN),
            Some(good.clone()),
            404,
            "User not found",
        ),
        (
            Method::POST,
            format!("/v1/organization/{ORG}/users/u_nobody/schedulers"),
            Some(TOKEN),
            Some(good.clone()),
            404,
            "User not found",
        ),
        // 6. update
        (
            Method::PUT,
            format!("{list}/"),
            Some(TOKEN),
            Some(json!({"name": "x"})),
            400,
            "scheduler_id is required",
        ),
        (
            Method::PUT,
            one.clone(),
            None,
            Some(json!({"name": "x"})),
            401,
            "Unauthorized",
        ),
        (
            Method::PUT,
            scheduler(ORG, USER, unknown_id),
            Some(TOKEN),
            Some(json!({"name": "x"})),
            404,
            "Scheduler not found",
        ),
        // 8. delete
        (
            Method::DELETE,
            format!("{list}/"),
            Some(TOKEN),
            None,
            400,
            "scheduler_id is required",
        ),
        (Method::DELETE, one.clone(), None, None, 401, "Unauthorized"),
        (
            Method::DELETE,
            scheduler(ORG, USER, unknown_id),
            Some(TOKEN),
            None,
            404,
            "Scheduler not found",
        ),
        // Header checks (SPEC 2).
    ];
    let before = app.dump().await;
    for (method, path, token, body, status, message) in cases {
        let mut rb = app.request(method.clone(), &path);
        if let Some(t) = token {
            rb = rb.header("x-access-token", t);
        }
        if let Some(b) = &body {
            rb = rb.json(b);
        }
        let r = app.send(rb).await;
        assert_eq!(
            (r.status, r.message()),
            (status, message),
            "{method} {path}"
        );
    }
    // x-organization-id / x-user-id must match the path.
    for (h, v, message) in [
        (
            "x-organization-id",
            "org_other",
            "x-organization-id does not match the path",
        ),
        ("x-user-id", "u_other", "x-user-id does not match the path"),
    ] {
        let r = app
            .send(app.authed(Method::GET, &one, TOKEN).header(h, v))
            .await;
        assert_eq!((r.status, r.message()), (400, message));
    }
    assert_eq!(app.dump().await, before, "errors change nothing");
}
