//! Two organizations, two users each: no access across organizations or users.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::json;

use crate::{minutely, schedulers, TestApp};

#[tokio::test]
async fn no_access_across_organizations_or_users() {
    let app = TestApp::spawn().await;
    let users = [
        ("org_a", "a1"),
        ("org_a", "a2"),
        ("org_b", "b1"),
        ("org_b", "b2"),
    ];
    let mut tokens = HashMap::new();
    let mut ids = HashMap::new();
    for (org, user) in users {
        let token = app.tenant(org, user).await;
        tokens.entry(org).or_insert(token);
        let token = &tokens[org];
        let doc = app
            .create(org, user, token, &minutely(&format!("{user}'s"), "e"))
            .await;
        ids.insert(user, doc["_id"].as_str().unwrap().to_owned());
        // Give each scheduler a fire so executions have something to leak.
        let r = app
            .call(
                Method::POST,
                &format!("{}/{}/run", schedulers(org, user), ids[user]),
                token,
                None,
            )
            .await;
        assert_eq!(r.status, 202, "{r:?}");
    }
    let before = app.dump().await;

    let update = json!({"name": "taken over", "is_paused": true});
    let mut checked = 0;
    // The actor: an organization's token, on some path org/user, aiming at another user's
    // scheduler.
    for (actor_org, actor_token) in &tokens {
        for (path_org, path_user) in users {
            for (owner_org, owner) in users {
                let same_org_and_user =
                    *actor_org == path_org && path_org == owner_org && path_user == owner;
                if same_org_and_user {
                    continue;
                }
                let id = &ids[owner];
                for prefix in ["/3rd", "/v1"] {
                    let base =
                        format!("{prefix}/organization/{path_org}/users/{path_user}/schedulers");
                    let requests = [
                        (Method::GET, format!("{base}/{id}"), None),
                        (Method::PUT, format!("{base}/{id}"), Some(&update)),
                        (Method::DELETE, format!("{base}/{id}"), None),
                        (Method::GET, format!("{base}/{id}/executions"), None),
                        (Method::POST, format!("{base}/{id}/run"), None),
                        (Method::GET, format!("{base}/{id}/preview"), None),
                    ];
                    for (method, path, body) in requests {
                        let r = app.call(method.clone(), &path, actor_token, body).await;
                        let expected = if *actor_org != path_org {
                            (401, "Unauthorized")
                        } else if !users.contains(&(path_org, path_user)) {
                            (404, "User not found")
                        } else {
                            (404, "Scheduler not found")
                        };
                        assert_eq!(
                            (r.status, r.message()),
                            expected,
                            "{actor_org} token: {method} {path}"
                        );
                        checked += 1;
                    }
                }
            }
            // Listing another organization's user is 401; the own user's list holds only
            // their own scheduler.
            let r = app
                .call(
                    Method::GET,
                    &schedulers(path_org, path_user),
                    actor_token,
                    None,
                )
                .await;
            if *actor_org == path_org {
                assert_eq!(r.status, 200);
                assert_eq!(r.body["total"], 1);
                assert_eq!(r.body["data"][0]["_id"], ids[path_user].as_str());
            } else {
                assert_eq!((r.status, r.message()), (401, "Unauthorized"));
            }
        }
    }
    // A user id of organization B on A's path, with A's token: B's users do not exist in A.
    for (org, user) in [("org_a", "b1"), ("org_b", "a1")] {
        let r = app
            .call(Method::GET, &schedulers(org, user), &tokens[org], None)
            .await;
        assert_eq!((r.status, r.message()), (404, "User not found"));
    }
    assert!(checked > 300, "{checked}");
    assert_eq!(
        app.dump().await,
        before,
        "cross-tenant requests changed something"
    );
}

#[tokio::test]
async fn revoked_tokens_and_other_orgs_tokens_are_unauthorized() {
    let app = TestApp::spawn().await;
    let token = app.tenant("org_a", "a1").await;
    let other = app.tenant("org_b", "b1").await;
    let path = schedulers("org_a", "a1");
    assert_eq!(app.call(Method::GET, &path, &token, None).await.status, 200);
    assert_eq!(app.call(Method::GET, &path, &other, None).await.status, 401);
    let tokens = scheduler_store::tenancy::list_tokens(app.pool(), "org_a")
        .await
        .unwrap();
    scheduler_store::tenancy::revoke_token(app.pool(), tokens[0].id)
        .await
        .unwrap();
    let r = app.call(Method::GET, &path, &token, None).await;
    assert_eq!((r.status, r.message()), (401, "Unauthorized"));
}
