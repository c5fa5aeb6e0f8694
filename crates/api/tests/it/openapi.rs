//! `/openapi.json`: an OpenAPI 3 document listing every route the router serves.

use reqwest::Method;

use crate::TestApp;

/// Every route the router serves, as (method, OpenAPI path): the router's own table, so a
/// route added to the router is checked here without editing this file.
fn served_routes() -> Vec<(&'static str, String)> {
    scheduler_api::route_table()
        .into_iter()
        .map(|(m, p)| {
            let m: &'static str = match m.as_str() {
                "GET" => "get",
                "POST" => "post",
                "PUT" => "put",
                "DELETE" => "delete",
                other => panic!("unexpected method {other}"),
            };
            (m, p)
        })
        .collect()
}

#[tokio::test]
async fn openapi_document_lists_every_route() {
    let app = TestApp::spawn().await;
    let r = app.send(app.request(Method::GET, "/openapi.json")).await;
    assert_eq!(r.status, 200);
    let doc = r.body;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string());
    let paths = doc["paths"].as_object().unwrap();
    let served = served_routes();
    let mut operation_ids = std::collections::HashSet::new();
    for (method, path) in &served {
        let op = &paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing from the document"))[*method];
        assert!(op.is_object(), "{method} {path} missing");
        assert!(
            operation_ids.insert(op["operationId"].as_str().unwrap().to_owned()),
            "duplicate operationId at {method} {path}"
        );
        let responses = op["responses"].as_object().unwrap();
        assert!(!responses.is_empty());
        if path.contains("/schedulers") {
            for status in ["401", "404"] {
                let schema = &responses[status]["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(
                    schema, "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
        }
    }
    // Nothing documented that is not served.
    let documented: usize = paths
        .values()
        .map(|item| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "post", "put", "delete", "patch"].contains(&k.as_str()))
                .count()
        })
        .sum();
    assert_eq!(documented, served.len());
    for schema in [
        "SchedulerDocument",
        "SchedulerPage",
        "FireItem",
        "FirePage",
        "Preview",
        "ErrorBody",
        "MessageBody",
        "TokenCreated",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
    let props = doc["components"]["schemas"]["SchedulerDocument"]["properties"]
        .as_object()
        .unwrap();
    for field in [
        "_id",
        "type",
        "triger_month_and_day",
        "start_date",
        "start_time",
        "start_datetime",
        "next_fire_at",
    ] {
        assert!(props.contains_key(field), "{field}");
    }
    assert!(doc["components"]["securitySchemes"]["access_token"].is_object());
}

/// Every documented route answers something other than the router's 404/405, so the document
/// does not describe routes the router lacks.
#[tokio::test]
async fn every_documented_route_is_routed() {
    let app = TestApp::spawn().await;
    for (method, path) in served_routes() {
        let concrete = path
            .replace("{organization_id}", "o")
            .replace("{user_id}", "u")
            .replace("{scheduler_id}", "0123456789abcdef01234567")
            .replace("{token_id}", "t")
            .replace("{fire_id}", "00000000-0000-0000-0000-000000000000")
            .replace("{file_id}", "00000000-0000-0000-0000-000000000000");
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let r = app
            .send(
                app.request(m, &concrete)
                    .header("content-type", "application/json")
                    .body("{}"),
            )
            .await;
        let routed = !(r.status == 405 || (r.status == 404 && r.body["message"] == "Not found"))
            || path.starts_with("/admin");
        assert!(routed, "{method} {concrete}: {r:?}");
    }
}
