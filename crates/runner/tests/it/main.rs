//! Runner tests on the real things: Postgres (a fresh database each), HTTP receivers on
//! 127.0.0.1:0, librdkafka's in-process mock cluster, the tansu broker process, and the runner
//! as a separate process where one is killed or signalled.

mod burst;
mod clock_skew;
mod files;
mod kafka;
mod misfire;
mod retention;
mod standard_webhooks;
mod tansu;
mod timing;
mod webhook;

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use chrono::{DateTime, Utc};
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::{Headers as _, Message as _};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use scheduler_runner::{Clock, Runner, RunnerConfig};
use scheduler_store::schedulers::{self, SchedulerRecord};
use scheduler_store::{tenancy, PgPool};
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const ORG: &str = "org_a";
pub const USER: &str = "u1";

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("rfc3339")
        .with_timezone(&Utc)
}

pub fn hex_id(n: u64) -> String {
    format!("{n:024x}")
}

/// A scheduler to insert; `timing` holds the timing fields as the API would store them.
pub struct Sched {
    pub id: u64,
    pub job: Value,
    pub timing: Value,
}

/// Inserts the scheduler with `next_fire_at` computed as the API does at `now`.
pub async fn insert(pool: &PgPool, s: Sched, now: DateTime<Utc>) -> SchedulerRecord {
    tenancy::ensure_user(pool, ORG, USER).await.expect("user");
    let t = |k: &str| s.timing.get(k).and_then(Value::as_str).map(at);
    let st = |k: &str| s.timing.get(k).and_then(Value::as_str).map(str::to_owned);
    let mut r = SchedulerRecord {
        id: hex_id(s.id),
        organization_id: ORG.into(),
        created_by: USER.into(),
        updated_by: None,
        kind: st("type").unwrap_or_else(|| "recurring".into()),
        name: format!("scheduler {}", s.id),
        event_type: "whatsapp".into(),
        description: String::new(),
        options: None,
        job: s.job,
        internal_id: None,
        channel_source: String::new(),
        trigger_frequency_unit: st("trigger_frequency_unit"),
        trigger_frequency_value: s
            .timing
            .get("trigger_frequency_value")
            .and_then(Value::as_i64)
            .map(|v| v as i32),
        trigger_time: t("trigger_time"),
        triger_month_and_day: None,
        start_datetime: t("start_datetime").expect("start_datetime"),
        one_time_schedule_type: st("one_time_schedule_type"),
        timezone: st("timezone").unwrap_or_else(|| "UTC".into()),
        cron_expression: st("cron_expression"),
        schedule_expression: None,
        flexible_time_window_minutes: s
            .timing
            .get("flexible_time_window_minutes")
            .and_then(Value::as_i64)
            .map_or(0, |v| v as i32),
        end_datetime: None,
        max_fires: s.timing.get("max_fires").and_then(Value::as_i64),
        misfire_policy: st("misfire_policy").unwrap_or_else(|| "fire_once".into()),
        is_paused: false,
        is_finished: false,
        next_fire_at: None,
        last_fired_at: None,
        fire_count: 0,
        created_at: now,
        updated_at: now,
    };
    let schedule = r.schedule().expect("valid timing");
    r.next_fire_at = schedule.initial_next_fire(now, 0);
    let mut tx = pool.begin().await.unwrap();
    schedulers::insert(&mut tx, &r)
        .await
        .expect("insert scheduler");
    tx.commit().await.unwrap();
    r
}

/// `n` hourly schedulers due at `due` (ids from `first`), all with the same job.
pub async fn bulk_due(pool: &PgPool, first: u64, n: u64, due: DateTime<Utc>, job: &Value) {
    scheduler_store::testing::bulk_due(pool, ORG, USER, first, n, due, job).await;
}

pub fn webhook_job(url: &str) -> Value {
    json!({"type": "webhook", "url": url, "data": {"message": "hello"}})
}

pub fn kafka_job(topic: &str) -> Value {
    json!({"type": "kafka", "topic": topic, "data": {"message": "hello"}, "workflow_id": "wf-1"})
}

/// A runner configuration for tests: short lease and poll, private webhooks allowed.
pub fn test_config() -> RunnerConfig {
    RunnerConfig {
        poll_interval: Duration::from_millis(200),
        lease: Duration::from_secs(2),
        webhook_allow_private: true,
        shutdown_deadline: Duration::from_secs(5),
        ..RunnerConfig::default()
    }
}

pub struct Running {
    pub stop: CancellationToken,
    pub handle: JoinHandle<()>,
    pub owner: String,
}

impl Running {
    pub async fn shutdown(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(15), self.handle)
            .await
            .expect("runner stops within its deadline")
            .expect("runner task");
    }
}

pub fn start(pool: &PgPool, cfg: RunnerConfig, clock: &Clock) -> Running {
    spawn(Runner::new(pool.clone(), cfg, clock.clone()).expect("runner"))
}

/// Runs a runner built by the caller (e.g. with a file store) on a task.
pub fn spawn(runner: Runner) -> Running {
    let owner = runner.owner().to_owned();
    let stop = CancellationToken::new();
    let token = stop.clone();
    let handle = tokio::spawn(async move {
        runner.run(token).await.expect("runner run");
    });
    Running {
        stop,
        handle,
        owner,
    }
}

/// Polls `cond` every 20 ms until it holds; panics with `what` after `limit`.
pub async fn wait_for<F, Fut>(limit: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if cond().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.expect(sql)
}

/// (status, attempts, last_error, scheduled_for) of every fire of a scheduler, oldest first.
pub async fn fires_of(pool: &PgPool, id: u64) -> Vec<(String, i32, Option<String>, DateTime<Utc>)> {
    sqlx::query_as(
        "SELECT status, attempts, last_error, scheduled_for FROM fires
         WHERE scheduler_id = $1 ORDER BY scheduled_for",
    )
    .bind(hex_id(id))
    .fetch_all(pool)
    .await
    .unwrap()
}

// --- An HTTP receiver that records requests and answers as scripted. ---

#[derive(Debug, Clone)]
pub struct Received {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct ReceiverState {
    requests: Mutex<Vec<Received>>,
    /// Answers for the next requests (status, delay); afterwards `default`.
    script: Mutex<VecDeque<(u16, Duration)>>,
    /// None: 200 at once.
    default: Mutex<Option<(u16, Duration)>>,
}

#[derive(Clone)]
pub struct Receiver {
    pub base: String,
    state: Arc<ReceiverState>,
}

impl Receiver {
    pub async fn start() -> Self {
        let state = Arc::new(ReceiverState::default());
        let app = axum::Router::new()
            .fallback(record)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            base: format!("http://{addr}"),
            state,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn script(&self, answers: &[(u16, Duration)]) {
        self.state
            .script
            .lock()
            .unwrap()
            .extend(answers.iter().copied());
    }

    pub fn set_default(&self, status: u16, delay: Duration) {
        *self.state.default.lock().unwrap() = Some((status, delay));
    }

    pub fn requests(&self) -> Vec<Received> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn received(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }
}

async fn record(
    State(state): State<Arc<ReceiverState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    state.requests.lock().unwrap().push(Received {
        method,
        path: uri.path().to_owned(),
        headers,
        body,
        at: Instant::now(),
    });
    let (status, delay) = state
        .script
        .lock()
        .unwrap()
        .pop_front()
        .or(*state.default.lock().unwrap())
        .unwrap_or((200, Duration::ZERO));
    tokio::time::sleep(delay).await;
    StatusCode::from_u16(status).unwrap()
}

// --- Kafka consumption with explicit partition assignment (no group join). ---

#[derive(Debug, Clone)]
pub struct Consumed {
    pub key: String,
    pub headers: Vec<(String, String)>,
    pub value: Value,
}

impl Consumed {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub fn consumer(brokers: &str, topic: &str, partitions: i32) -> StreamConsumer {
    let c: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "runner-tests")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).expect("assign");
    c
}

/// Reads messages until `n` have arrived or `idle` passes without one.
pub async fn consume(c: &StreamConsumer, n: usize, idle: Duration) -> Vec<Consumed> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(idle, c.recv()).await {
            Ok(Ok(m)) => {
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| {
                                (
                                    h.key.to_owned(),
                                    String::from_utf8_lossy(h.value.unwrap_or_default())
                                        .into_owned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(Consumed {
                    key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                    headers,
                    value: serde_json::from_slice(m.payload().unwrap_or_default())
                        .expect("JSON value"),
                });
            }
            Ok(Err(e)) => panic!("consume: {e}"),
            Err(_) => break,
        }
    }
    out
}
