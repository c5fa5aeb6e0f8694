//! The second-wave routes: preview of an unsaved document, redrive of a dead fire, and the
//! admin figures (runners alive, delivery statistics, dead fires by error and their redrive).

use reqwest::Method;
use scheduler_api::ApiConfig;
use serde_json::{json, Value};

use crate::{at, minutely, scheduler, schedulers, TestApp};

const ADMIN: &str = "admin-secret-for-operations";

async fn app() -> TestApp {
    TestApp::spawn_with(ApiConfig {
        admin_token: Some(ADMIN.to_owned().into()),
        ..ApiConfig::default()
    })
    .await
}

/// A manual fire of the scheduler, then made dead as a runner that ran out of attempts would.
async fn dead_fire(
    app: &TestApp,
    org: &str,
    user: &str,
    token: &str,
    id: &str,
    error: &str,
) -> String {
    let r = app
        .call(
            Method::POST,
            &format!("{}/run", scheduler(org, user, id)),
            token,
            None,
        )
        .await;
    assert_eq!(r.status, 202, "{r:?}");
    let fire_id = r.body["fire_id"].as_str().unwrap().to_owned();
    sqlx::query(
        "UPDATE fires SET status = 'dead', attempts = 8, last_error = $2, finished_at = now(),
                dead_letter = 'sent', locked_until = NULL, locked_by = NULL
         WHERE id = $1::uuid",
    )
    .bind(&fire_id)
    .bind(error)
    .execute(app.pool())
    .await
    .unwrap();
    fire_id
}

#[tokio::test]
async fn preview_of_an_unsaved_document_validates_like_create_and_stores_nothing() {
    let app = app().await;
    let token = app.tenant("org_p", "u").await;
    app.set_now(at("2025-01-01T00:00:00Z"));
    let url = format!("{}/preview?count=3", schedulers("org_p", "u"));
    let doc = json!({"name": "n", "event_type": "e", "timezone": "Europe/London",
        "trigger_frequency_unit": "weeks", "trigger_frequency_value": 2,
        "start_datetime": "2025-01-06T09:00:00Z",
        "job": {"type": "webhook", "url": "https://example.com/hook"}});
    let before = app.dump().await;
    let r = app.call(Method::POST, &url, &token, Some(&doc)).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.body["data"],
        json!({"data": ["2025-01-06T09:00:00.000Z", "2025-01-20T09:00:00.000Z", "2025-02-03T09:00:00.000Z"]})
            ["data"]
    );
    // The create's checks and messages, in its order.
    let mut no_name = doc.clone();
    no_name.as_object_mut().unwrap().remove("name");
    let r = app.call(Method::POST, &url, &token, Some(&no_name)).await;
    assert_eq!((r.status, r.message()), (400, "name is required"));
    let mut bad = doc.clone();
    bad["trigger_frequency_value"] = json!(0);
    let r = app.call(Method::POST, &url, &token, Some(&bad)).await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.message().contains("trigger_frequency_value"), "{r:?}");
    let r = app
        .call(
            Method::POST,
            &format!("{}/preview?count=101", schedulers("org_p", "u")),
            &token,
            Some(&doc),
        )
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    // Default count 10; paused previews from now; nothing was stored by any of it.
    let mut paused = doc.clone();
    paused["is_paused"] = json!(true);
    let r = app
        .call(
            Method::POST,
            &format!("{}/preview", schedulers("org_p", "u")),
            &token,
            Some(&paused),
        )
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 10, "{r:?}");
    assert_eq!(app.dump().await, before);
    let r = app.call(Method::POST, &url, "api_wrong", Some(&doc)).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn redrive_gives_a_dead_fire_a_new_cycle_under_the_same_id() {
    let app = app().await;
    let token = app.tenant("org_r", "u").await;
    let other = app.tenant("org_x", "v").await;
    let id = app.create("org_r", "u", &token, &minutely("a", "e")).await["_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let fire = dead_fire(&app, "org_r", "u", &token, &id, "HTTP 500: boom").await;
    let url = format!("{}/fires/{fire}/redrive", scheduler("org_r", "u", &id));

    let r = app.call(Method::POST, &url, &token, None).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["fire_id"], json!(fire));
    assert_eq!(r.body["status"], "retrying");
    assert_eq!(r.body["attempts"], 0);
    assert_eq!(r.body["dead_letter"], Value::Null);
    assert_eq!(r.body["last_error"], "HTTP 500: boom");
    let row: (String, bool, Option<chrono::DateTime<chrono::Utc>>) = sqlx::query_as(
        "SELECT status, available_at <= now(), finished_at FROM fires WHERE id = $1::uuid",
    )
    .bind(&fire)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(row, ("retrying".to_owned(), true, None));

    // Not dead any more: 409, and nothing changes.
    let before = app.dump().await;
    let r = app.call(Method::POST, &url, &token, None).await;
    assert_eq!(r.status, 409, "{r:?}");
    assert!(r.message().contains("only a dead fire"), "{r:?}");
    assert_eq!(app.dump().await, before);

    // Unknown or malformed fire ids, another scheduler's path, another organization's token.
    for bad in ["00000000-0000-4000-8000-000000000000", "nope"] {
        let r = app
            .call(
                Method::POST,
                &format!("{}/fires/{bad}/redrive", scheduler("org_r", "u", &id)),
                &token,
                None,
            )
            .await;
        assert_eq!((r.status, r.message()), (404, "Fire not found"), "{bad}");
    }
    let id2 = app.create("org_r", "u", &token, &minutely("b", "e")).await["_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .call(
            Method::POST,
            &format!("{}/fires/{fire}/redrive", scheduler("org_r", "u", &id2)),
            &token,
            None,
        )
        .await;
    assert_eq!((r.status, r.message()), (404, "Fire not found"));
    let r = app.call(Method::POST, &url, &other, None).await;
    assert_eq!(r.status, 401);
    let r = app
        .call(
            Method::POST,
            &format!("/v1/organization/org_x/users/v/schedulers/{id}/fires/{fire}/redrive"),
            &other,
            None,
        )
        .await;
    assert_eq!((r.status, r.message()), (404, "Scheduler not found"));
}

#[tokio::test]
async fn admin_sees_runners_statistics_and_redrives_a_dead_group() {
    let app = app().await;
    let token = app.tenant("org_s", "u").await;
    let id = app.create("org_s", "u", &token, &minutely("a", "e")).await["_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let now = chrono::Utc::now();
    scheduler_store::runners::heartbeat(app.pool(), "host-1-abc", now, 3)
        .await
        .unwrap();
    scheduler_store::runners::heartbeat(
        app.pool(),
        "host-2-old",
        now - chrono::TimeDelta::minutes(5),
        0,
    )
    .await
    .unwrap();
    // One delivered fire with 250 ms of lag, two dead with one error, one with another.
    sqlx::query(
        "INSERT INTO fires (id, scheduler_id, organization_id, scheduled_for, status, attempts,
                            available_at, created_at, delivered_at, finished_at)
         VALUES (gen_random_uuid(), $1, 'org_s', now() - interval '250 ms', 'delivered', 1,
                 now(), now(), now(), now())",
    )
    .bind(&id)
    .execute(app.pool())
    .await
    .unwrap();
    dead_fire(&app, "org_s", "u", &token, &id, "HTTP 503").await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    dead_fire(&app, "org_s", "u", &token, &id, "HTTP 503").await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    dead_fire(&app, "org_s", "u", &token, &id, "HTTP 404").await;

    let admin =
        |method: Method, path: &str| app.request(method, path).header("x-admin-token", ADMIN);
    let r = app.send(admin(Method::GET, "/admin/runners")).await;
    assert_eq!(r.status, 200, "{r:?}");
    let runners = r.body["data"].as_array().unwrap();
    assert_eq!(runners.len(), 2);
    assert_eq!(
        (
            runners[0]["owner"].as_str(),
            runners[0]["alive"].as_bool(),
            runners[0]["in_flight"].as_i64()
        ),
        (Some("host-1-abc"), Some(true), Some(3))
    );
    assert_eq!(
        (runners[1]["owner"].as_str(), runners[1]["alive"].as_bool()),
        (Some("host-2-old"), Some(false))
    );

    let r = app.send(admin(Method::GET, "/admin/stats")).await;
    assert_eq!(r.status, 200, "{r:?}");
    let minutes = r.body["minutes"].as_array().unwrap();
    assert_eq!(
        minutes
            .iter()
            .map(|m| m["delivered"].as_i64().unwrap())
            .sum::<i64>(),
        1,
        "{r:?}"
    );
    let p50 = minutes[0]["lag_p50_ms"].as_f64().unwrap();
    assert!((240.0..1000.0).contains(&p50), "{p50}");
    let groups = r.body["dead_groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{r:?}");
    assert_eq!(
        (
            groups[0]["last_error"].as_str(),
            groups[0]["fires"].as_i64()
        ),
        (Some("HTTP 503"), Some(2))
    );
    assert_eq!(r.body["backlog"]["due_fires"].as_i64(), Some(0), "{r:?}");

    let r = app
        .send(
            admin(Method::POST, "/admin/dead-fires/redrive")
                .json(&json!({"last_error": "HTTP 503"})),
        )
        .await;
    assert_eq!(
        (r.status, r.body["redriven"].as_u64()),
        (200, Some(2)),
        "{r:?}"
    );
    let r = app.send(admin(Method::GET, "/admin/stats")).await;
    assert_eq!(r.body["dead_groups"].as_array().unwrap().len(), 1, "{r:?}");
    assert_eq!(r.body["backlog"]["due_fires"].as_i64(), Some(2), "{r:?}");
    let r = app
        .send(admin(Method::POST, "/admin/dead-fires/redrive").json(&json!({"last_error": 5})))
        .await;
    assert_eq!(
        (r.status, r.message()),
        (400, "last_error must be a string or null")
    );

    // The guard.
    for path in ["/admin/runners", "/admin/stats"] {
        let r = app
            .send(
                app.request(Method::GET, path)
                    .header("x-admin-token", "wrong"),
            )
            .await;
        assert_eq!(r.status, 401, "{path}");
    }
    let r = app
        .send(app.authed(Method::GET, "/admin/stats", &token))
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn the_new_routes_are_in_the_openapi_document() {
    let app = app().await;
    let r = app.send(app.request(Method::GET, "/openapi.json")).await;
    let paths = r.body["paths"].as_object().unwrap();
    for (path, method) in [
        ("/3rd/organization/{organization_id}/users/{user_id}/schedulers/preview", "post"),
        ("/v1/organization/{organization_id}/users/{user_id}/schedulers/preview", "post"),
        (
            "/3rd/organization/{organization_id}/users/{user_id}/schedulers/{scheduler_id}/fires/{fire_id}/redrive",
            "post",
        ),
        ("/admin/runners", "get"),
        ("/admin/stats", "get"),
        ("/admin/dead-fires/redrive", "post"),
    ] {
        let op = &paths.get(path).unwrap_or_else(|| panic!("{path} missing"))[method];
        assert!(op.is_object(), "{method} {path}");
    }
    let redrive = &paths["/3rd/organization/{organization_id}/users/{user_id}/schedulers/{scheduler_id}/fires/{fire_id}/redrive"]["post"];
    assert!(redrive["responses"]["409"].is_object());
}
