//! The operator console in a real browser: headless Chromium driven through chromedriver
//! against `scheduler serve`, a real Postgres and an in-process webhook receiver. Saves a
//! screenshot of each page at 1280 and 390 px under `$CARGO_TARGET_TMPDIR/console-screenshots`.

mod webdriver;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::post;
use scheduler_store::tenancy;
use scheduler_store::testing::fresh_db;
use serde_json::{json, Value};
use webdriver::{Browser, Driver};

use crate::serve::{free_port, Server};

const ADMIN: &str = "console-test-admin-token-0123456789";

/// Answers 204 on `/ok`; on `/flaky` 400 (dead at once) until `healthy` is set.
async fn receiver(healthy: Arc<AtomicBool>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/ok", post(|| async { StatusCode::NO_CONTENT }))
        .route(
            "/flaky",
            post(move || {
                let healthy = healthy.clone();
                async move {
                    if healthy.load(Ordering::SeqCst) {
                        StatusCode::NO_CONTENT
                    } else {
                        StatusCode::BAD_REQUEST
                    }
                }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn shots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shoot(b: &Browser, name: &str) {
    let dir = shots_dir();
    for width in [1280, 390] {
        b.screenshot(&dir.join(format!("{name}-{width}.png")), width)
            .await;
    }
}

/// The `datetime` of the first planned delivery under `css` (the exact instant, to the ms).
async fn planned_at(b: &Browser, css: &str) -> Value {
    b.wait_text(css, "delivery planned", 10).await;
    b.execute(&format!(
        "return document.querySelector({:?}).querySelector('.planned time').getAttribute('datetime')",
        css
    ))
    .await
}

async fn api(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Value,
) -> Value {
    let mut request = client.request(method, url).header("x-access-token", token);
    if !body.is_null() {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let r = request.send().await.unwrap();
    r.json().await.unwrap()
}

#[tokio::test]
async fn the_console_in_a_browser() {
    let db = fresh_db().await;
    let (org, user, other_org, other_user) = ("org_acme", "alice", "org_other", "bob");
    tenancy::ensure_user(&db.pool, org, user).await.unwrap();
    tenancy::ensure_user(&db.pool, other_org, other_user)
        .await
        .unwrap();
    let token = tenancy::issue_token(&db.pool, org).await.unwrap().token;
    let other_token = tenancy::issue_token(&db.pool, other_org)
        .await
        .unwrap()
        .token;
    let healthy = Arc::new(AtomicBool::new(false));
    let hooks = receiver(healthy.clone()).await;

    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_scheduler"))
        .args(["serve", "--migrate", "--listen", &listen])
        .env("DATABASE_URL", &db.url)
        .env("ADMIN_TOKEN", ADMIN)
        .env("WEBHOOK_ALLOW_PRIVATE", "true")
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn scheduler serve");
    let mut server = Server {
        child,
        base: format!("http://{listen}"),
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    server.wait_ready(&client).await;
    let base = server.base.clone();

    // Another organization's scheduler, for the cross-tenant check.
    let other = api(
        &client,
        reqwest::Method::POST,
        &format!("{base}/v1/organization/{other_org}/users/{other_user}/schedulers"),
        &other_token,
        json!({"name": "theirs", "event_type": "x", "start_datetime": "2030-01-01T00:00:00Z",
               "trigger_frequency_unit": "days", "trigger_frequency_value": 1,
               "job": {"type": "webhook", "url": format!("{hooks}/ok")}}),
    )
    .await;
    let other_id = other["_id"].as_str().unwrap().to_owned();

    let driver = Driver::start(&client).await;
    let b = Browser::new(&client, &driver).await;
    let started = Instant::now();

    // Sign-in: a refused token first, with the page's message; then the organization's token,
    // typed and submitted with the keyboard (Enter).
    b.goto(&format!("{base}/ui")).await;
    b.wait_text("h1", "Sign in", 10).await;
    shoot(&b, "01-sign-in").await;
    b.type_into("#token", "api_00000000-0000-4000-8000-000000000000\u{E007}")
        .await;
    b.wait_text("#login-error", "That token was refused", 10)
        .await;
    b.type_into("#token", &format!("{token}\u{E007}")).await;
    b.wait_text("h1", &format!("Schedulers of {user}"), 10)
        .await;

    // Create through the form; the preview shows the draft's next fires as it is typed.
    b.click("a.button[href$=\"/new\"]").await;
    b.wait_text("h1", "New scheduler", 10).await;
    b.type_into("#name", "Daily report").await;
    b.type_into("#event_type", "report").await;
    b.type_into("#timezone", "Europe/London").await;
    b.select("#trigger_frequency_unit", "weeks").await;
    b.type_into("#trigger_frequency_value", "2").await;
    b.type_into("#start_datetime", "2030-01-07 09:00").await;
    b.type_into("#job_url", "not a url").await;
    // The API's own message, beside the field at fault, as the user types.
    b.wait_text(
        "#job_url ~ .field-error, [data-field=job_url] .field-error",
        "job.url",
        10,
    )
    .await;
    b.type_into("#job_url", &format!("{hooks}/ok")).await;
    b.wait_text("#preview-list li", "2030-01-07 09:00 Europe/London", 10)
        .await;
    let preview = b.text(&b.find("#preview-list").await).await;
    assert!(
        preview.contains("2030-01-21 09:00 Europe/London"),
        "{preview}"
    );
    shoot(&b, "03-create-form").await;
    b.click("#scheduler-form button[type=submit]").await;
    b.wait_text("h1", "Daily report", 10).await;
    b.wait_text(
        ".facts dd",
        "every 2 weeks on Monday at 09:00 Europe/London",
        5,
    )
    .await;
    let url = b.url().await;
    let id = url.rsplit('/').next().unwrap().to_owned();

    // Run now: the fire appears in the history by itself (no reload), delivered.
    b.click("form[action$=\"/run\"] button").await;
    b.wait_text("#history-table tbody tr", "delivered", 30)
        .await;
    b.wait_text("#history-table tbody tr", "manual run", 5)
        .await;

    // Pause, then resume.
    b.click("form[action$=\"/pause\"] button").await;
    b.wait_text(".title .badge", "paused", 10).await;
    b.click("form[action$=\"/resume\"] button").await;
    b.wait_text(".title .badge", "active", 10).await;
    shoot(&b, "04-scheduler").await;

    // A fire that dies (400 from the receiver), redriven once the receiver is fixed.
    let dead = api(
        &client,
        reqwest::Method::POST,
        &format!("{base}/v1/organization/{org}/users/{user}/schedulers"),
        &token,
        json!({"name": "Flaky hook", "event_type": "billing", "start_datetime": "2030-01-01T00:00:00Z",
               "trigger_frequency_unit": "days", "trigger_frequency_value": 1,
               "job": {"type": "webhook", "url": format!("{hooks}/flaky")}}),
    )
    .await;
    let dead_id = dead["_id"].as_str().unwrap().to_owned();
    let one = format!("{base}/v1/organization/{org}/users/{user}/schedulers/{dead_id}");
    api(
        &client,
        reqwest::Method::POST,
        &format!("{one}/run"),
        &token,
        json!({}),
    )
    .await;
    b.goto(&format!("{base}/ui/o/{org}/u/{user}/s/{dead_id}"))
        .await;
    b.wait_text("#history-table tbody tr", "dead", 30).await;
    b.wait_text("#history-table tbody tr", "400", 5).await;
    shoot(&b, "05-dead-fire").await;
    healthy.store(true, Ordering::SeqCst);
    b.click("#history-table form[action$=\"/redrive\"] button")
        .await;
    b.wait_text("#history-table tbody tr", "delivered", 30)
        .await;

    // The list: schedule in words, next and last fire, search and the event_type filter.
    b.goto(&format!(
        "{base}/ui/o/{org}/u/{user}?event_type=contains:report,nothing"
    ))
    .await;
    b.wait_text("#schedulers tbody", "Daily report", 10).await;
    let table = b.text(&b.find("#schedulers tbody").await).await;
    assert!(!table.contains("Flaky hook"), "{table}");
    b.goto(&format!("{base}/ui/o/{org}/u/{user}?q=flaky")).await;
    b.wait_text("#schedulers tbody", "Flaky hook", 10).await;
    b.goto(&format!("{base}/ui/o/{org}/u/{user}")).await;
    b.wait_text("#schedulers tbody", "delivered", 10).await;
    shoot(&b, "02-schedulers").await;

    // Another organization's data by editing the URL: not found, nothing of it shown.
    for path in [
        format!("/ui/o/{other_org}/u/{other_user}"),
        format!("/ui/o/{other_org}/u/{other_user}/s/{other_id}"),
        format!("/ui/o/{org}/u/{user}/s/{other_id}"),
        "/ui/operations".to_owned(),
    ] {
        b.goto(&format!("{base}{path}")).await;
        b.wait_text("h1", "Not Found", 10).await;
        let body = b.text(&b.find("body").await).await;
        assert!(!body.contains("theirs"), "{path}: {body}");
    }

    // The edit form, filled from the stored document.
    b.goto(&format!("{base}/ui/o/{org}/u/{user}/s/{id}/edit"))
        .await;
    b.wait_text("#preview-list li", "Europe/London", 10).await;
    shoot(&b, "06-edit-form").await;

    // EventBridge timing and a flexible window, through the form. An invalid expression first:
    // the API's message beside the expression input, live and after a submit.
    b.goto(&format!("{base}/ui/o/{org}/u/{user}/new")).await;
    b.wait_text("h1", "New scheduler", 10).await;
    b.type_into("#name", "Every five minutes").await;
    b.type_into("#event_type", "tick").await;
    b.type_into("#timezone", "Europe/Paris").await;
    b.type_into("#start_datetime", "2030-01-07 09:00").await;
    b.type_into("#job_url", &format!("{hooks}/ok")).await;
    b.type_into("#flexible_time_window_minutes", "15").await;
    b.type_into("#schedule_expression", "rate(1 minutes)").await;
    b.wait_text(
        "[data-field=schedule_expression] .field-error",
        "schedule_expression is invalid",
        10,
    )
    .await;
    // The inputs the expression stands instead of are disabled while it is given.
    let disabled = b
        .execute(
            "return ['type', 'trigger_frequency_unit', 'trigger_frequency_value', 'cron_expression', \
             'trigger_time', 'triger_month_and_day'].map(function (id) { \
             return document.getElementById(id).disabled; })",
        )
        .await;
    assert_eq!(disabled, json!([true, true, true, true, true, true]));
    shoot(&b, "09-expression-error").await;
    b.click("#scheduler-form button[type=submit]").await;
    let shown = b
        .wait_text(
            "[data-field=schedule_expression] #schedule_expression-error",
            "schedule_expression is invalid",
            10,
        )
        .await;
    let message = b.text(&shown).await;
    assert!(message.contains("character"), "{message}");
    let invalid = b
        .execute(
            "return document.getElementById('schedule_expression').getAttribute('aria-invalid')",
        )
        .await;
    assert_eq!(invalid, json!("true"));
    // Fixed: the preview shows the slots, spread over the window (an unsaved draft has no id,
    // so the instant in the window is not known yet), and the stale errors are gone.
    b.type_into("#schedule_expression", "rate(5 minutes)").await;
    b.wait_text("#preview .note", "spread over the 15-minute window", 10)
        .await;
    let preview = b.text(&b.find("#preview-list").await).await;
    assert!(
        preview.contains("2030-01-07 09:00 Europe/Paris")
            && preview.contains("2030-01-07 09:05 Europe/Paris"),
        "{preview}"
    );
    let stale = b
        .execute(
            "return document.querySelectorAll('.field-error, #form-error, [aria-invalid]').length",
        )
        .await;
    assert_eq!(stale, json!(0));
    shoot(&b, "10-expression-form").await;
    b.click("#scheduler-form button[type=submit]").await;
    b.wait_text("h1", "Every five minutes", 10).await;
    b.wait_text(
        ".facts dd",
        "rate(5 minutes) in Europe/Paris from 2030-01-07 09:00, delivered within a 15-minute window",
        5,
    )
    .await;
    let url = b.url().await;
    let windowed = url.rsplit('/').next().unwrap().to_owned();

    // Stored as the API takes it: the expression and the window, no frequency fields.
    let one = format!("{base}/v1/organization/{org}/users/{user}/schedulers/{windowed}");
    let doc = api(&client, reqwest::Method::GET, &one, &token, Value::Null).await;
    assert_eq!(doc["schedule_expression"], "rate(5 minutes)", "{doc}");
    assert_eq!(doc["flexible_time_window_minutes"], 15, "{doc}");
    assert_eq!(doc["type"], "recurring", "{doc}");
    assert_eq!(doc["timezone"], "Europe/Paris", "{doc}");
    for key in [
        "trigger_frequency_unit",
        "trigger_frequency_value",
        "cron_expression",
        "trigger_time",
        "triger_month_and_day",
    ] {
        assert_eq!(doc[key], Value::Null, "{key}: {doc}");
    }

    // The page's next fires carry their planned delivery, the one the API's preview plans.
    let planned = api(
        &client,
        reqwest::Method::GET,
        &format!("{one}/preview"),
        &token,
        Value::Null,
    )
    .await;
    let first = &planned["items"][0]["deliver_at"];
    assert!(first.is_string(), "{planned}");
    assert_eq!(&planned_at(&b, "#next-fires li").await, first);
    shoot(&b, "11-expression-scheduler").await;

    // The edit form: filled from the stored expression and window; the scheduler has its id,
    // so the preview shows each fire's planned delivery.
    b.goto(&format!("{url}/edit")).await;
    assert_eq!(&planned_at(&b, "#preview-list li").await, first);
    let values = b
        .execute(
            "return ['schedule_expression', 'flexible_time_window_minutes', 'trigger_frequency_unit']\
             .map(function (id) { return document.getElementById(id).value; })",
        )
        .await;
    assert_eq!(values, json!(["rate(5 minutes)", "15", ""]));
    shoot(&b, "12-expression-edit-form").await;

    // Back to the frequency fields: clearing the expression enables them again, and the saved
    // scheduler has no expression (the window stays).
    b.type_into("#schedule_expression", "x\u{E003}").await;
    b.select("#trigger_frequency_unit", "minutes").await;
    b.type_into("#trigger_frequency_value", "30").await;
    b.wait_text("#preview-list li", "2030-01-07 09:30 Europe/Paris", 10)
        .await;
    b.click("#scheduler-form button[type=submit]").await;
    b.wait_text(
        ".facts dd",
        "every 30 minutes from 2030-01-07 09:00 Europe/Paris, delivered within a 15-minute window",
        10,
    )
    .await;
    let doc = api(&client, reqwest::Method::GET, &one, &token, Value::Null).await;
    assert_eq!(doc["schedule_expression"], Value::Null, "{doc}");
    assert_eq!(doc["trigger_frequency_unit"], "minutes", "{doc}");
    assert_eq!(doc["trigger_frequency_value"], 30, "{doc}");
    assert_eq!(doc["flexible_time_window_minutes"], 15, "{doc}");

    // A fire the window deferred: in the history at once, with its planned delivery.
    let soon = (chrono::Utc::now() + chrono::TimeDelta::seconds(2)).format("%Y-%m-%dT%H:%M:%S");
    let once = api(
        &client,
        reqwest::Method::POST,
        &format!("{base}/v1/organization/{org}/users/{user}/schedulers"),
        &token,
        json!({"name": "Spread one-shot", "event_type": "tick",
               "schedule_expression": format!("at({soon})"), "flexible_time_window_minutes": 15,
               "job": {"type": "webhook", "url": format!("{hooks}/ok")}}),
    )
    .await;
    let once_id = once["_id"].as_str().unwrap_or_else(|| panic!("{once}"));
    b.goto(&format!("{base}/ui/o/{org}/u/{user}/s/{once_id}"))
        .await;
    b.wait_text(".facts dd", "delivered within a 15-minute window", 5)
        .await;
    b.wait_text("#history-table tbody tr", "delivery planned", 30)
        .await;
    // Reloaded, so the page shows the scheduler after its claim (no next fire, one so far).
    b.goto(&format!("{base}/ui/o/{org}/u/{user}/s/{once_id}"))
        .await;
    let history = api(
        &client,
        reqwest::Method::GET,
        &format!("{base}/v1/organization/{org}/users/{user}/schedulers/{once_id}/executions"),
        &token,
        Value::Null,
    )
    .await;
    let deliver_at = &history["data"][0]["deliver_at"];
    assert!(deliver_at.is_string(), "{history}");
    assert_ne!(
        deliver_at, &history["data"][0]["scheduled_for"],
        "{history}"
    );
    assert_eq!(&planned_at(&b, "#history-table tbody tr").await, deliver_at);
    shoot(&b, "13-deferred-fire").await;

    // The operator: every organization and the operations page.
    b.click("header form[action=\"/ui/logout\"] button").await;
    b.wait_text("h1", "Sign in", 10).await;
    b.type_into("#token", &format!("{ADMIN}\u{E007}")).await;
    b.wait_text("h1", "Organizations", 10).await;
    b.wait_text("table", other_org, 5).await;
    shoot(&b, "07-organizations").await;
    b.goto(&format!("{base}/ui/operations")).await;
    b.wait_text("#dead-groups", "No dead fires", 10).await;
    b.wait_text("#runners tbody", "alive", 30).await;
    b.find(".uplot canvas").await;
    shoot(&b, "08-operations").await;

    b.quit().await;
    eprintln!(
        "console: browser run took {:?}; screenshots in {}",
        started.elapsed(),
        shots_dir().display()
    );
}
