//! `/admin/...`: guarded by x-admin-token; organizations, users, tokens.

use reqwest::Method;
use scheduler_api::ApiConfig;
use serde_json::{json, Value};

use crate::{schedulers, TestApp};

const ADMIN: &str = "admin-secret-for-tests";

async fn admin(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> crate::Resp {
    let mut rb = app.request(method, path).header("x-admin-token", ADMIN);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    app.send(rb).await
}

#[tokio::test]
async fn admin_api_manages_organizations_users_and_tokens() {
    let app = TestApp::spawn_with(ApiConfig {
        admin_token: Some(ADMIN.to_owned().into()),
        ..ApiConfig::default()
    })
    .await;

    // The guard.
    for token in [None, Some("wrong"), Some("")] {
        let mut rb = app
            .request(Method::POST, "/admin/organizations")
            .json(&json!({"organization_id": "org_n"}));
        if let Some(t) = token {
            rb = rb.header("x-admin-token", t);
        }
        let r = app.send(rb).await;
        assert_eq!((r.status, r.message()), (401, "Unauthorized"), "{token:?}");
    }

    let r = admin(
        &app,
        Method::POST,
        "/admin/organizations",
        Some(json!({"organization_id": "org_n"})),
    )
    .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (201, json!({"organization_id": "org_n", "created": true}))
    );
    let r = admin(
        &app,
        Method::POST,
        "/admin/organizations",
        Some(json!({"organization_id": "org_n"})),
    )
    .await;
    assert_eq!((r.status, r.body["created"].clone()), (200, false.into()));
    for bad in [
        json!({}),
        json!({"organization_id": ""}),
        json!({"organization_id": "a b"}),
        json!({"organization_id": 5}),
        json!({"organization_id": "x".repeat(129)}),
    ] {
        let r = admin(
            &app,
            Method::POST,
            "/admin/organizations",
            Some(bad.clone()),
        )
        .await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.message().contains("organization_id"), "{}", r.message());
    }

    // Users (the organization is created on first use).
    let r = admin(
        &app,
        Method::POST,
        "/admin/organizations/org_m/users",
        Some(json!({"user_id": "u1"})),
    )
    .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (
            201,
            json!({"organization_id": "org_m", "user_id": "u1", "created": true})
        )
    );

    // Tokens: shown once, then they work on the tenant routes until revoked.
    let r = admin(
        &app,
        Method::POST,
        "/admin/organizations/org_m/tokens",
        None,
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    let token = r.body["token"].as_str().unwrap().to_owned();
    let token_id = r.body["id"].as_str().unwrap().to_owned();
    assert!(token.starts_with("api_"));
    let list = app
        .call(Method::GET, &schedulers("org_m", "u1"), &token, None)
        .await;
    assert_eq!(list.status, 200);

    let r = admin(&app, Method::GET, "/admin/organizations/org_m/tokens", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["data"][0]["id"], token_id.as_str());
    assert_eq!(r.body["data"][0]["revoked_at"], Value::Null);
    assert!(
        !r.body.to_string().contains(&token),
        "the token itself is never listed"
    );
    let r = admin(
        &app,
        Method::GET,
        "/admin/organizations/org_nope/tokens",
        None,
    )
    .await;
    assert_eq!(r.status, 404);

    // A token id of another organization is not found there.
    let r = admin(
        &app,
        Method::DELETE,
        &format!("/admin/organizations/org_n/tokens/{token_id}"),
        None,
    )
    .await;
    assert_eq!(r.status, 404);
    let r = admin(
        &app,
        Method::DELETE,
        "/admin/organizations/org_m/tokens/not-a-uuid",
        None,
    )
    .await;
    assert_eq!(r.status, 404);
    let r = admin(
        &app,
        Method::DELETE,
        &format!("/admin/organizations/org_m/tokens/{token_id}"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = admin(
        &app,
        Method::DELETE,
        &format!("/admin/organizations/org_m/tokens/{token_id}"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "idempotent");
    let list = app
        .call(Method::GET, &schedulers("org_m", "u1"), &token, None)
        .await;
    assert_eq!((list.status, list.message()), (401, "Unauthorized"));
    let r = admin(&app, Method::GET, "/admin/organizations/org_m/tokens", None).await;
    assert!(r.body["data"][0]["revoked_at"].is_string());
}

#[tokio::test]
async fn admin_api_is_off_without_an_admin_token() {
    let app = TestApp::spawn().await;
    let r = admin(
        &app,
        Method::POST,
        "/admin/organizations",
        Some(json!({"organization_id": "org_n"})),
    )
    .await;
    assert_eq!(r.status, 404);
    let r = admin(&app, Method::GET, "/admin/organizations/org_n/tokens", None).await;
    assert_eq!(r.status, 404);
}
