//! The API over real HTTP against a real Postgres: each test starts the router on
//! 127.0.0.1:0 with a fresh database.

mod admin;
mod expressions;
mod files;
mod hostile;
mod list;
mod openapi;
mod operations;
mod routes;
mod secrets;
mod seed;
mod tenancy;
mod update;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use reqwest::{Method, RequestBuilder};
use scheduler_api::{router, ApiConfig, AppState, Clock};
use scheduler_files::{FileStore, FileStoreConfig};
use scheduler_store::testing::{fresh_db, TestDb};
use scheduler_store::{tenancy as store_tenancy, PgPool};
use serde_json::Value;

/// The organization, user and token of the seed document's examples.
pub const ORG: &str = "org_imbrace";
pub const USER: &str = "u_imbrace_agent1";
pub const TOKEN: &str = "api_2f576a7d-f7eb-4748-9ec0-b295d7204de1";

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("rfc3339")
        .with_timezone(&Utc)
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: TestDb,
    /// The attachment store the app serves files from, when it has one.
    pub files: Option<Arc<FileStore>>,
    /// `None`: the wall clock.
    now: Arc<Mutex<Option<DateTime<Utc>>>>,
}

pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl std::fmt::Debug for Resp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.body)
    }
}

impl Resp {
    pub fn message(&self) -> &str {
        self.body["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no message in {self:?}"))
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(ApiConfig::default()).await
    }

    pub async fn spawn_with(config: ApiConfig) -> Self {
        let db = fresh_db().await;
        Self::serve(db, config).await
    }

    pub async fn serve(db: TestDb, config: ApiConfig) -> Self {
        Self::serve_with_files(db, config, None).await
    }

    /// An app whose file routes store into `s3` (configured by `files`, e.g. from
    /// `s3.config()` with other limits).
    pub async fn spawn_with_files(files: FileStoreConfig) -> Self {
        let store = Arc::new(FileStore::new(files).await.expect("file store"));
        Self::serve_with_files(fresh_db().await, ApiConfig::default(), Some(store)).await
    }

    pub async fn serve_with_files(
        db: TestDb,
        config: ApiConfig,
        files: Option<Arc<FileStore>>,
    ) -> Self {
        let now: Arc<Mutex<Option<DateTime<Utc>>>> = Arc::new(Mutex::new(None));
        let shared = now.clone();
        let clock: Clock = Arc::new(move || shared.lock().unwrap().unwrap_or_else(Utc::now));
        let mut state = AppState::with_clock(db.pool.clone(), config, clock);
        if let Some(f) = &files {
            state = state.with_files(f.clone());
        }
        let app = router(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .unwrap(),
            db,
            files,
            now,
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.db.pool
    }

    pub fn set_now(&self, t: DateTime<Utc>) {
        *self.now.lock().unwrap() = Some(t);
    }

    /// Registers the user (and the organization) and returns a new token of the organization.
    pub async fn tenant(&self, org: &str, user: &str) -> String {
        store_tenancy::ensure_user(self.pool(), org, user)
            .await
            .unwrap();
        store_tenancy::issue_token(self.pool(), org)
            .await
            .unwrap()
            .token
    }

    /// The seed's organization, user and token.
    pub async fn seed_tenant(&self) {
        store_tenancy::ensure_user(self.pool(), ORG, USER)
            .await
            .unwrap();
        store_tenancy::store_token(self.pool(), ORG, TOKEN)
            .await
            .unwrap();
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.base, path))
    }

    pub async fn send(&self, rb: RequestBuilder) -> Resp {
        let res = rb.send().await.expect("request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "{status}: body is not JSON ({e}): {:?}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    /// A request with the token.
    pub fn authed(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.request(method, path).header("x-access-token", token)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Resp {
        let mut rb = self.authed(method, path, token);
        if let Some(b) = body {
            rb = rb.json(b);
        }
        self.send(rb).await
    }

    /// Creates a scheduler and returns its document.
    pub async fn create(&self, org: &str, user: &str, token: &str, body: &Value) -> Value {
        let r = self
            .call(Method::POST, &schedulers(org, user), token, Some(body))
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        r.body
    }

    /// Every row of the tables a request could change, for before/after comparisons.
    pub async fn dump(&self) -> String {
        let mut out = String::new();
        for table in [
            "schedulers",
            "attachments",
            "orphan_objects",
            "fires",
            "users",
            "organizations",
            "api_tokens",
        ] {
            let rows: Option<Value> = sqlx::query_scalar(&format!(
                "SELECT json_agg(t ORDER BY t::text) FROM {table} t"
            ))
            .fetch_one(self.pool())
            .await
            .unwrap();
            out.push_str(&format!("{table}: {}\n", rows.unwrap_or(Value::Null)));
        }
        out
    }
}

pub fn schedulers(org: &str, user: &str) -> String {
    format!("/3rd/organization/{org}/users/{user}/schedulers")
}

pub fn scheduler(org: &str, user: &str, id: &str) -> String {
    format!("/3rd/organization/{org}/users/{user}/schedulers/{id}")
}

/// A valid every-minute kafka scheduler.
pub fn minutely(name: &str, event_type: &str) -> Value {
    serde_json::json!({
        "type": "recurring",
        "name": name,
        "event_type": event_type,
        "job": {"type": "kafka", "topic": "ROUTER.OUTGOING_MESSAGE", "data": {}},
        "trigger_frequency_unit": "minutes",
        "trigger_frequency_value": 1,
        "start_datetime": "2024-09-11T14:35:00.000Z"
    })
}

/// Asserts every field of `expected` is in `actual` with the same value (objects recursively,
/// so extra fields in `actual` are allowed), except the `ignored` top-level keys.
pub fn assert_fields(expected: &Value, actual: &Value, ignored: &[&str]) {
    fn walk(path: &str, e: &Value, a: &Value) {
        match (e, a) {
            (Value::Object(em), Value::Object(am)) => {
                for (k, ev) in em {
                    let av = am
                        .get(k)
                        .unwrap_or_else(|| panic!("{path}.{k} missing in {a}"));
                    walk(&format!("{path}.{k}"), ev, av);
                }
            }
            _ => assert_eq!(e, a, "at {path}"),
        }
    }
    let (Value::Object(em), Value::Object(am)) = (expected, actual) else {
        panic!("objects expected")
    };
    for (k, ev) in em {
        if ignored.contains(&k.as_str()) {
            continue;
        }
        let av = am
            .get(k)
            .unwrap_or_else(|| panic!("{k} missing in {actual}"));
        walk(k, ev, av);
    }
}

/// `2024-09-11T14:35:00.000Z`: RFC 3339, UTC, milliseconds.
pub fn assert_time_format(v: &Value) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("time expected, got {v}"));
    assert_eq!(s.len(), 24, "{s}");
    assert!(s.ends_with('Z') && s.as_bytes()[19] == b'.', "{s}");
    DateTime::parse_from_rfc3339(s).unwrap();
}

/// The checks every scheduler document passes.
pub fn assert_document(doc: &Value) {
    let id = doc["_id"].as_str().unwrap();
    assert!(
        id.len() == 24
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{id}"
    );
    assert_eq!(doc["start_date"], doc["start_datetime"]);
    assert_eq!(doc["start_time"], doc["start_datetime"]);
    for key in ["start_datetime", "created_at", "updated_at"] {
        assert_time_format(&doc[key]);
    }
    for key in [
        "trigger_time",
        "triger_month_and_day",
        "end_datetime",
        "next_fire_at",
        "last_fired_at",
    ] {
        let v = doc.get(key).unwrap_or_else(|| panic!("{key} missing"));
        if !v.is_null() {
            assert_time_format(v);
        }
    }
    for key in [
        "type",
        "name",
        "event_type",
        "description",
        "options",
        "job",
        "organization_id",
        "internal_id",
        "trigger_frequency_unit",
        "trigger_frequency_value",
        "one_time_schedule_type",
        "is_paused",
        "is_finished",
        "channel_source",
        "created_by",
        "updated_by",
        "timezone",
        "cron_expression",
        "max_fires",
        "misfire_policy",
        "fire_count",
    ] {
        assert!(doc.get(key).is_some(), "{key} missing in {doc}");
    }
}
