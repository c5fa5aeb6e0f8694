//! EventBridge schedule expressions and flexible time windows through the API (issue 14):
//! stored as given, returned, previewed; refusals name the field and the character; an update
//! switches between the expression and the seed's frequency fields; the executions show each
//! fire's planned delivery.

use reqwest::Method;
use serde_json::{json, Value};

use crate::*;

const ORG: &str = "org_x";
const USER: &str = "u1";

fn with(mut body: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

fn expression_doc(expression: &str) -> Value {
    json!({
        "name": "n",
        "event_type": "e",
        "job": {"type": "kafka", "topic": "T"},
        "schedule_expression": expression,
        "timezone": "Europe/Paris",
        "start_datetime": "2027-01-01T00:00:00.000Z"
    })
}

#[tokio::test]
async fn expressions_are_stored_returned_and_drive_the_preview() {
    let app = TestApp::spawn().await;
    let token = app.tenant(ORG, USER).await;
    app.set_now(at("2027-02-26T10:00:00Z"));
    let cases = [
        (
            "rate(5 minutes)",
            "recurring",
            vec!["2027-02-26T10:00:00.000Z", "2027-02-26T10:05:00.000Z"],
        ),
        // 12:00 in Paris, Monday to Friday (EventBridge's six fields).
        (
            "cron(0 12 ? * MON-FRI *)",
            "recurring",
            vec!["2027-02-26T11:00:00.000Z", "2027-03-01T11:00:00.000Z"],
        ),
        // The document's time zone applies to at(...).
        (
            "at(2027-03-01T09:00:00)",
            "non_recurring",
            vec!["2027-03-01T08:00:00.000Z"],
        ),
    ];
    for (expression, kind, slots) in cases {
        let doc = app
            .create(ORG, USER, &token, &expression_doc(expression))
            .await;
        assert_eq!(doc["schedule_expression"], expression, "{doc}");
        assert_eq!(doc["type"], kind, "{expression}");
        let id = doc["_id"].as_str().unwrap();
        let got = app
            .call(Method::GET, &scheduler(ORG, USER, id), &token, None)
            .await;
        assert_eq!(got.body["schedule_expression"], expression);
        let preview = app
            .call(
                Method::GET,
                &format!("{}/preview?count={}", scheduler(ORG, USER, id), slots.len()),
                &token,
                None,
            )
            .await;
        assert_eq!(preview.status, 200, "{preview:?}");
        assert_eq!(preview.body["data"], json!(slots), "{expression}");
    }
}

#[tokio::test]
async fn bad_expressions_and_mixed_forms_are_400s_that_say_where() {
    let app = TestApp::spawn().await;
    let token = app.tenant(ORG, USER).await;
    let before = app.dump().await;
    let cases: [(Value, &[&str]); 5] = [
        (
            expression_doc("rate(1 minutes)"),
            &["schedule_expression", "character 8"],
        ),
        (
            expression_doc("cron(0 12 * * MON-FRI *)"),
            &["schedule_expression", "?"],
        ),
        (
            expression_doc("at(2027-02-30T09:00:00)"),
            &["schedule_expression"],
        ),
        (
            expression_doc("every 5 minutes"),
            &["schedule_expression", "character 1"],
        ),
        (
            with(
                expression_doc("rate(5 minutes)"),
                json!({"trigger_frequency_unit": "minutes", "trigger_frequency_value": 5}),
            ),
            &["schedule_expression", "trigger_frequency_unit"],
        ),
    ];
    for (body, words) in cases {
        let r = app
            .call(Method::POST, &schedulers(ORG, USER), &token, Some(&body))
            .await;
        assert_eq!(r.status, 400, "{body}: {r:?}");
        for w in words {
            assert!(
                r.message().contains(w),
                "{body}: {:?} lacks {w:?}",
                r.message()
            );
        }
    }
    let window = |v: Value| {
        with(
            minutely("n", "e"),
            json!({"flexible_time_window_minutes": v}),
        )
    };
    for bad in [json!(-1), json!(1441), json!(2.5), json!("15")] {
        let r = app
            .call(
                Method::POST,
                &schedulers(ORG, USER),
                &token,
                Some(&window(bad.clone())),
            )
            .await;
        assert_eq!(r.status, 400, "window {bad}: {r:?}");
        assert!(
            r.message().contains("flexible_time_window_minutes"),
            "{r:?}"
        );
    }
    assert_eq!(app.dump().await, before, "refusals change nothing");
}

#[tokio::test]
async fn an_update_switches_between_an_expression_and_the_frequency_fields() {
    let app = TestApp::spawn().await;
    let token = app.tenant(ORG, USER).await;
    app.set_now(at("2027-02-26T10:00:00Z"));
    let doc = app.create(ORG, USER, &token, &minutely("n", "e")).await;
    let path = scheduler(ORG, USER, doc["_id"].as_str().unwrap());

    let r = app
        .call(
            Method::PUT,
            &path,
            &token,
            Some(&json!({"schedule_expression": "rate(2 hours)"})),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["schedule_expression"], "rate(2 hours)");
    assert_eq!(r.body["trigger_frequency_unit"], Value::Null, "{r:?}");

    let r = app
        .call(
            Method::PUT,
            &path,
            &token,
            Some(&json!({"trigger_frequency_unit": "days", "trigger_frequency_value": 1})),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["schedule_expression"], Value::Null, "{r:?}");
    assert_eq!(r.body["trigger_frequency_unit"], "days");

    let r = app
        .call(
            Method::PUT,
            &path,
            &token,
            Some(&json!({"schedule_expression": "rate(1 day)", "cron_expression": "0 9 * * *"})),
        )
        .await;
    assert_eq!(r.status, 400, "both forms at once: {r:?}");
    assert!(r.message().contains("cron_expression"), "{r:?}");
}

/// The executions show each fire's planned delivery: the slot without a window, the slot plus
/// the scheduler's offset with one (the same instant the preview promised).
#[tokio::test]
async fn executions_show_the_planned_delivery() {
    let app = TestApp::spawn().await;
    let token = app.tenant(ORG, USER).await;
    app.set_now(at("2027-02-26T09:59:00Z"));
    let body = with(
        minutely("n", "e"),
        json!({"trigger_frequency_unit": "hours", "start_datetime": "2027-02-26T10:00:00.000Z",
               "flexible_time_window_minutes": 30}),
    );
    let doc = app.create(ORG, USER, &token, &body).await;
    assert_eq!(doc["flexible_time_window_minutes"], 30);
    let id = doc["_id"].as_str().unwrap().to_owned();
    let base = scheduler(ORG, USER, &id);
    let preview = app
        .call(
            Method::GET,
            &format!("{base}/preview?count=1"),
            &token,
            None,
        )
        .await;
    let planned = preview.body["items"][0]["deliver_at"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(planned, "2027-02-26T10:00:00.000Z");

    // The claim the runner makes at the slot, as the runner makes it.
    let owner = scheduler_store::schedulers::Owner {
        organization_id: ORG,
        user_id: USER,
    };
    let record = scheduler_store::schedulers::get(app.pool(), owner, &id)
        .await
        .unwrap();
    let now = at("2027-02-26T10:00:00Z");
    let claim = scheduler_store::fires::claim_due(
        app.pool(),
        scheduler_store::fires::ClaimRequest {
            now,
            limit: 10,
            lease: scheduler_store::fires::Lease {
                owner: "test",
                until: now + chrono::TimeDelta::seconds(30),
            },
        },
        |r| {
            let s = r.schedule().map_err(|e| e.to_string())?;
            Ok(s.plan(scheduler_core::PlanInput {
                scheduler_id: &r.id,
                due: r.next_fire_at.unwrap(),
                fired: 0,
                now,
                grace: chrono::TimeDelta::seconds(60),
            }))
        },
    )
    .await
    .unwrap();
    assert_eq!((claim.fires.len(), claim.deferred), (0, 1), "{record:?}");
    let manual = app
        .call(Method::POST, &format!("{base}/run"), &token, None)
        .await;
    assert_eq!(manual.status, 202, "{manual:?}");
    assert_eq!(manual.body["deliver_at"], manual.body["scheduled_for"]);

    let r = app
        .call(Method::GET, &format!("{base}/executions"), &token, None)
        .await;
    let slot_fire = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["manual"] == false)
        .unwrap();
    assert_eq!(slot_fire["scheduled_for"], "2027-02-26T10:00:00.000Z");
    assert_eq!(slot_fire["deliver_at"], planned.as_str());
    assert_eq!(slot_fire["status"], "pending");
}
