//! The webhook signing secret routes: an organization sees and rotates its own secret, never
//! another's; operators do the same through `/admin/...`.

use chrono::TimeDelta;
use reqwest::Method;
use scheduler_api::ApiConfig;
use scheduler_store::{secrets, tenancy as store_tenancy};
use serde_json::{json, Value};

use crate::{at, TestApp};

const ADMIN: &str = "admin-secret-for-tests";

fn secret_path(prefix: &str, org: &str) -> String {
    format!("{prefix}/organization/{org}/webhook-secret")
}

fn rotate_path(prefix: &str, org: &str) -> String {
    format!("{prefix}/organization/{org}/webhook-secret/rotate")
}

#[tokio::test]
async fn an_organization_reads_its_own_secret_under_both_prefixes() {
    let app = TestApp::spawn().await;
    let token_a = app.tenant("org_a", "u1").await;
    let stored = store_tenancy::signing_secret(app.pool(), "org_a")
        .await
        .unwrap();
    for prefix in ["/3rd", "/v1"] {
        let r = app
            .call(Method::GET, &secret_path(prefix, "org_a"), &token_a, None)
            .await;
        assert_eq!(r.status, 200, "{prefix}: {r:?}");
        assert_eq!(r.body["organization_id"], "org_a");
        assert_eq!(r.body["secret"], stored.as_str());
        assert!(stored.starts_with("whsec_"));
        assert_eq!(r.body["previous_secret"], Value::Null);
        assert_eq!(r.body["previous_expires_at"], Value::Null);
        assert!(r.body["created_at"].is_string());
        assert_eq!(r.headers["cache-control"], "no-store");
    }
}

#[tokio::test]
async fn another_organizations_token_never_gets_the_secret() {
    let app = TestApp::spawn().await;
    let _token_a = app.tenant("org_a", "u1").await;
    let token_b = app.tenant("org_b", "u1").await;
    let secret_a = store_tenancy::signing_secret(app.pool(), "org_a")
        .await
        .unwrap();
    let before = app.dump().await;
    for prefix in ["/3rd", "/v1"] {
        for (method, path) in [
            (Method::GET, secret_path(prefix, "org_a")),
            (Method::POST, rotate_path(prefix, "org_a")),
            // An organization that does not exist: the same answer, so nothing is confirmed.
            (Method::GET, secret_path(prefix, "org_nope")),
        ] {
            for token in [
                token_b.as_str(),
                "api_00000000-0000-4000-8000-000000000000",
                "",
            ] {
                let r = app.call(method.clone(), &path, token, None).await;
                assert_eq!(r.status, 401, "{method} {path} with {token:?}: {r:?}");
                assert_eq!(r.message(), "Unauthorized");
                assert!(!r.body.to_string().contains(&secret_a));
            }
        }
    }
    // Header checks come after the token.
    let r = app
        .send(
            app.authed(Method::GET, &secret_path("/3rd", "org_b"), &token_b)
                .header("x-organization-id", "org_a"),
        )
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.message(), "x-organization-id does not match the path");
    // An empty organization segment names the missing parameter.
    let r = app
        .call(
            Method::GET,
            "/3rd/organization//webhook-secret",
            &token_b,
            None,
        )
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.message(), "organization_id is required");
    assert_eq!(app.dump().await, before, "nothing was rotated");
}

#[tokio::test]
async fn rotation_keeps_the_old_secret_for_the_overlap_and_a_second_rotation_drops_the_oldest() {
    let app = TestApp::spawn().await;
    let token = app.tenant("org_a", "u1").await;
    let t0 = at("2026-05-01T12:00:00Z");
    app.set_now(t0);
    let first = store_tenancy::signing_secret(app.pool(), "org_a")
        .await
        .unwrap();

    // No body: the default overlap of 24 hours.
    let r = app
        .call(Method::POST, &rotate_path("/3rd", "org_a"), &token, None)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let second = r.body["secret"].as_str().unwrap().to_owned();
    assert!(second.starts_with("whsec_") && second != first);
    assert_eq!(r.body["previous_secret"], first.as_str());
    assert_eq!(r.body["previous_expires_at"], "2026-05-02T12:00:00.000Z");
    assert_eq!(r.body["created_at"], "2026-05-01T12:00:00.000Z");
    // What the runner signs with from now on.
    assert_eq!(
        store_tenancy::signing_secret(app.pool(), "org_a")
            .await
            .unwrap(),
        second
    );
    let shown = app
        .call(Method::GET, &secret_path("/v1", "org_a"), &token, None)
        .await;
    assert_eq!(shown.body, r.body);

    // Rotating again during the overlap: the replaced (second) secret gets a fresh overlap and
    // the first stops at once.
    app.set_now(t0 + TimeDelta::hours(1));
    let r = app
        .call(
            Method::POST,
            &rotate_path("/v1", "org_a"),
            &token,
            Some(&json!({"overlap_secs": 600})),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let third = r.body["secret"].as_str().unwrap().to_owned();
    assert_eq!(r.body["previous_secret"], second.as_str());
    assert_eq!(r.body["previous_expires_at"], "2026-05-01T13:10:00.000Z");
    let view = secrets::get(app.pool(), "org_a", t0 + TimeDelta::hours(1))
        .await
        .unwrap();
    assert_ne!(view.previous_secret.as_deref(), Some(first.as_str()));

    // After the overlap only the current secret is shown.
    app.set_now(t0 + TimeDelta::hours(2));
    let r = app
        .call(Method::GET, &secret_path("/3rd", "org_a"), &token, None)
        .await;
    assert_eq!(r.body["secret"], third.as_str());
    assert_eq!(r.body["previous_secret"], Value::Null);
    assert_eq!(r.body["previous_expires_at"], Value::Null);

    // Overlap 0 (a leaked secret): the replaced one stops at once.
    let r = app
        .call(
            Method::POST,
            &rotate_path("/3rd", "org_a"),
            &token,
            Some(&json!({"overlap_secs": 0})),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["previous_secret"], Value::Null);
    assert_ne!(r.body["secret"], third.as_str());
}

#[tokio::test]
async fn rotation_bodies_out_of_bounds_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let token = app.tenant("org_a", "u1").await;
    let before = app.dump().await;
    let path = rotate_path("/3rd", "org_a");
    for (body, message) in [
        (
            json!({"overlap_secs": -1}),
            "overlap_secs must be a whole number of seconds from 0 to 604800",
        ),
        (
            json!({"overlap_secs": 604801}),
            "overlap_secs must be a whole number of seconds from 0 to 604800",
        ),
        (
            json!({"overlap_secs": 1.5}),
            "overlap_secs must be a whole number of seconds from 0 to 604800",
        ),
        (
            json!({"overlap_secs": "60"}),
            "overlap_secs must be a whole number of seconds from 0 to 604800",
        ),
        (
            json!({"overlap": 60}),
            "unknown field overlap: the body may only hold overlap_secs",
        ),
        (json!([]), "request body must be a JSON object"),
    ] {
        let r = app.call(Method::POST, &path, &token, Some(&body)).await;
        assert_eq!(r.status, 400, "{body}: {r:?}");
        assert_eq!(r.message(), message, "{body}");
    }
    let r = app
        .send(
            app.authed(Method::POST, &path, &token)
                .header("content-type", "text/plain")
                .body("overlap_secs=60"),
        )
        .await;
    assert_eq!(r.status, 415, "{r:?}");
    assert_eq!(app.dump().await, before);
    // The upper bound itself is accepted.
    let r = app
        .call(
            Method::POST,
            &path,
            &token,
            Some(&json!({"overlap_secs": 604800})),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
}

#[tokio::test]
async fn operators_read_and_rotate_through_the_admin_api() {
    let app = TestApp::spawn_with(ApiConfig {
        admin_token: Some(ADMIN.to_owned().into()),
        ..ApiConfig::default()
    })
    .await;
    let _ = app.tenant("org_a", "u1").await;
    let secret = store_tenancy::signing_secret(app.pool(), "org_a")
        .await
        .unwrap();
    let path = "/admin/organizations/org_a/webhook-secret";
    let r = app
        .send(
            app.request(Method::GET, path)
                .header("x-admin-token", ADMIN),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["secret"], secret.as_str());
    let r = app
        .send(
            app.request(Method::GET, path)
                .header("x-admin-token", "wrong-admin-token"),
        )
        .await;
    assert_eq!(r.status, 401, "{r:?}");
    let r = app
        .send(
            app.request(Method::GET, "/admin/organizations/org_nope/webhook-secret")
                .header("x-admin-token", ADMIN),
        )
        .await;
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(r.message(), "Organization not found");

    let r = app
        .send(
            app.request(Method::POST, &format!("{path}/rotate"))
                .header("x-admin-token", ADMIN)
                .json(&json!({"overlap_secs": 3600})),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["previous_secret"], secret.as_str());
    assert_ne!(r.body["secret"], secret.as_str());
    let r = app
        .send(
            app.request(
                Method::POST,
                "/admin/organizations/org_nope/webhook-secret/rotate",
            )
            .header("x-admin-token", ADMIN),
        )
        .await;
    assert_eq!(r.status, 404, "{r:?}");
}

#[tokio::test]
async fn the_admin_secret_routes_are_off_without_an_admin_token() {
    let app = TestApp::spawn().await;
    let _ = app.tenant("org_a", "u1").await;
    let r = app
        .send(
            app.request(Method::GET, "/admin/organizations/org_a/webhook-secret")
                .header("x-admin-token", ADMIN),
        )
        .await;
    assert_eq!(r.status, 404, "{r:?}");
}

#[tokio::test]
async fn the_openapi_document_lists_the_secret_routes() {
    let app = TestApp::spawn().await;
    let r = app.send(app.request(Method::GET, "/openapi.json")).await;
    assert_eq!(r.status, 200);
    let paths = &r.body["paths"];
    for (path, method) in [
        ("/3rd/organization/{organization_id}/webhook-secret", "get"),
        ("/v1/organization/{organization_id}/webhook-secret", "get"),
        (
            "/3rd/organization/{organization_id}/webhook-secret/rotate",
            "post",
        ),
        (
            "/v1/organization/{organization_id}/webhook-secret/rotate",
            "post",
        ),
        (
            "/admin/organizations/{organization_id}/webhook-secret",
            "get",
        ),
        (
            "/admin/organizations/{organization_id}/webhook-secret/rotate",
            "post",
        ),
    ] {
        assert!(
            paths[path][method].is_object(),
            "{path} {method} is missing"
        );
    }
    let schemas = &r.body["components"]["schemas"];
    assert!(schemas["WebhookSecret"]["properties"]["previous_secret"].is_object());
    assert_eq!(
        schemas["RotateRequest"]["properties"]["overlap_secs"]["maximum"],
        604800
    );
}
