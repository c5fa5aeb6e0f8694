//! `scheduler dev` as a newcomer meets it: no DATABASE_URL, a fresh data directory, the seed
//! document's curl commands run unchanged but for the host.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::post;

use crate::serve::{free_port, Server};

const SEED_HOST: &str = "https://app-gateway.dev.imbrace.co";

// The seed document's examples, copied verbatim (its section numbers).
const LIST_1: &str = r#"curl --location 'https://app-gateway.dev.imbrace.co/3rd/organization/org_imbrace/users/u_imbrace_agent1/schedulers?event_type=contains%3Awhatsapp_outbound%2Ctelegram_outbound' \ --header 'x-access-token: api_2f576a7d-f7eb-4748-9ec0-b295d7204de1'"#;
const GET_3: &str = r#"curl --location 'https://app-gateway.dev.imbrace.co/3rd/organization/org_imbrace/users/u_imbrace_agent1/schedulers/671603c03297cd8cf64f7ebb' \ --header 'x-organization-id: org_imbrace' \ --header 'x-user-id: u_imbrace_agent1' \ --header 'x-access-token: api_2f576a7d-f7eb-4748-9ec0-b295d7204de1'"#;
const CREATE_4: &str = r#"curl --location 'https://app-gateway.dev.imbrace.co/v1/organization/org_imbrace/users/u_imbrace_agent1/schedulers' \ --header 'x-organization-id: org_imbrace' \ --header 'x-user-id: u_imbrace_agent1' \ --header 'x-access-token: api_2f576a7d-f7eb-4748-9ec0-b295d7204de1' \ --header 'Content-Type: application/json' \ --data '{ "type": "recurring", "name": "testing schedule", "event_type": "whatsapp", "channel_source": "", "description": "", "job": { "type": "kafka", "topic": "ROUTER.OUTGOING_MESSAGE", "data": {}, "workflow_id": "123" }, "trigger_frequency_unit": "years", "trigger_frequency_value": 1, "triger_month_and_day": "1969-12-31T16:32:00.000Z", "trigger_time": "1969-12-31T16:00:00.000Z", "start_datetime": "2024-09-11T14:35:00.000Z" }'"#;
const UPDATE_6: &str = r#"curl --location --request PUT 'https://app-gateway.dev.imbrace.co/3rd/organization/org_imbrace/users/u_imbrace_agent1/schedulers/66e6b637252463b567b080a2' \ --header 'x-organization-id: org_imbrace' \ --header 'x-user-id: u_imbrace_agent1' \ --header 'x-access-token: api_2f576a7d-f7eb-4748-9ec0-b295d7204de1' \ --header 'Content-Type: application/json' \ --data '{ "type": "recurring", "name": "testing schedule updated", "event_type": "facebook", "channel_source": "", "description": "", "trigger_frequency_unit": "minutes", "trigger_frequency_value": 1, "start_datetime": "2024-09-19T15:36:00.000Z", "job": { "type": "kafka", "topic": "ROUTER.OUTGOING_MESSAGE", "data": {}, "workflow_id": "456" }, "is_paused": false }'"#;
const DELETE_8: &str = r#"curl --location --request DELETE 'https://app-gateway.dev.imbrace.co/3rd/organization/org_imbrace/users/u_imbrace_agent1/schedulers/schedule_1' \ --header 'x-organization-id: org_imbrace' \ --header 'x-access-token: api_2f576a7d-f7eb-4748-9ec0-b295d7204de1' \ --header 'Content-Type: application/json' \ --data '{ "type": "non_recurring", "schedule_id": "schedule_1", "callback_url": "https://google.com", "start_date": "2024-04-29T16:00:00.000Z", "start_time": "1969-12-31T19:05:00.000Z" }'"#;

/// Runs a seed curl command with the host replaced (and, optionally, one id swapped for
/// another); returns the status and the body.
fn curl(example: &str, base: &str, swap: Option<(&str, &str)>) -> (u16, serde_json::Value) {
    // The document's line continuations were flattened to "\ "; a shell reads them as spaces.
    let mut cmd = example.replace(SEED_HOST, base).replace("\\ --", "--");
    if let Some((from, to)) = swap {
        cmd = cmd.replace(from, to);
    }
    let body = tempfile_path();
    let full =
        format!("{cmd} --silent --max-time 10 --output '{body}' --write-out '%{{http_code}}'");
    let out = Command::new("sh")
        .arg("-c")
        .arg(&full)
        .output()
        .expect("run curl");
    assert!(out.status.success(), "{full}: {out:?}");
    let status: u16 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("status");
    let text = std::fs::read_to_string(&body).unwrap_or_default();
    let _ = std::fs::remove_file(&body);
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

fn tempfile_path() -> String {
    std::env::temp_dir()
        .join(format!("scheduler-e2e-{}", uuid::Uuid::new_v4()))
        .display()
        .to_string()
}

fn delivered_fires(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("scheduler_fires_delivered_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_runs_the_seed_examples_fires_a_webhook_and_stops_cleanly() {
    let data_dir = std::env::temp_dir().join(format!("scheduler-dev-{}", uuid::Uuid::new_v4()));
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_scheduler"))
        .args(["dev", "--listen", &listen, "--data-dir"])
        .arg(&data_dir)
        .env_remove("DATABASE_URL")
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn scheduler dev");
    let mut server = Server {
        child,
        base: format!("http://{listen}"),
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    server.wait_ready(&client).await;
    let base = server.base.clone();

    // The seed's curl commands, as written: their ids name nothing here.
    let (status, _) = curl(LIST_1, &base, None);
    assert_eq!(status, 200);
    let (status, created) = curl(CREATE_4, &base, None);
    assert_eq!(status, 201, "{created}");
    let id = created["_id"].as_str().expect("_id").to_owned();
    assert_eq!(
        curl(GET_3, &base, None),
        (404, serde_json::json!({"message": "Scheduler not found"}))
    );
    assert_eq!(curl(UPDATE_6, &base, None).0, 404);
    assert_eq!(curl(DELETE_8, &base, None).0, 404);
    // The same commands on the scheduler just created.
    let (status, got) = curl(GET_3, &base, Some(("671603c03297cd8cf64f7ebb", &id)));
    assert_eq!(
        (status, got["name"].as_str()),
        (200, Some("testing schedule"))
    );
    let (status, updated) = curl(UPDATE_6, &base, Some(("66e6b637252463b567b080a2", &id)));
    assert_eq!(
        (status, updated["name"].as_str()),
        (200, Some("testing schedule updated"))
    );
    let (status, deleted) = curl(DELETE_8, &base, Some(("schedule_1", &id)));
    assert_eq!(status, 200);
    assert_eq!(
        deleted["message"],
        format!("schedule {id} is deleted successfully")
    );

    // A webhook schedule due in two seconds fires into a local receiver.
    let received: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |body: String| {
            let sink = sink.clone();
            async move {
                sink.lock()
                    .unwrap()
                    .push(serde_json::from_str(&body).unwrap_or_default());
                "ok"
            }
        }),
    );
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", receiver.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(receiver, app).await });
    let metrics_before = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = chrono::Utc::now() + chrono::Duration::seconds(2);
    let body = serde_json::json!({
        "type": "non_recurring", "name": "hello", "event_type": "tour",
        "start_datetime": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "job": {"type": "webhook", "url": hook, "data": {"greeting": "hi"}}
    });
    let r = client
        .post(format!(
            "{base}/3rd/organization/org_imbrace/users/u_imbrace_agent1/schedulers"
        ))
        .header("x-access-token", "api_2f576a7d-f7eb-4748-9ec0-b295d7204de1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let deadline = Instant::now() + Duration::from_secs(20);
    while received.lock().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the webhook did not fire within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let envelope = received.lock().unwrap()[0].clone();
    assert_eq!(envelope["data"]["greeting"], "hi");
    assert_eq!(envelope["organization_id"], "org_imbrace");
    let metrics_after = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        delivered_fires(&metrics_after) >= delivered_fires(&metrics_before) + 1.0,
        "delivered counter did not move:\n{metrics_after}"
    );

    let status = server.stop("-INT");
    assert!(status.success(), "exit status {status}");
    // Nothing left behind: the private Postgres of this data directory is stopped.
    let left = Command::new("pgrep")
        .args(["-f", &data_dir.display().to_string()])
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "processes left: {}",
        String::from_utf8_lossy(&left.stdout)
    );
    let _ = std::fs::remove_dir_all(&data_dir);
}
