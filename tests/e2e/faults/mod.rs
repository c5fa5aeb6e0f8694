//! The fault suite (issue 10): real `scheduler` processes against real services (Postgres, the
//! tansu broker, webhook receivers in this process), broken for real: SIGKILL, SIGSTOP, SIGTERM,
//! a Postgres crash-restart, cut database connections, a broker killed and restarted. Each case
//! prints its figures and stops by itself within about a minute; nextest runs them one at a time.
//!
//! Shared here: child processes killed on drop, a scripted webhook receiver that records every
//! request, data setup in SQL, bounded polling, and the tansu broker.

mod api_rearm;
mod conn_cut;
mod kafka_outage;
mod pg_restart;
mod runner_kill;
mod sigterm;
mod stale_holder;

use std::collections::HashMap;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::{Headers as _, Message as _};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

pub const ORG: &str = "org_faults";
pub const USER: &str = "u_faults";

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Sends `sig` (`-STOP`, `-CONT`, `-TERM`, `-KILL`) to `pid`.
pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .expect("run kill");
    assert!(ok.success(), "kill {sig} {pid} failed");
}

// --- Child processes ---

/// A child process, its output in a log file, killed (after a SIGCONT) on drop.
pub struct Proc {
    pub name: String,
    child: Child,
    log: PathBuf,
    /// `http://127.0.0.1:PORT` for `scheduler serve` processes.
    pub base: String,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        let log = std::env::temp_dir().join(format!(
            "faults-{name}-{}-{}.log",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let file = std::fs::File::create(&log).expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            name: name.to_owned(),
            child,
            log,
            base: String::new(),
        }
    }

    /// `scheduler serve --role <role>` on a free port, with `envs` over the test defaults
    /// (private webhooks allowed, a 200 ms poll, JSON logs).
    pub fn serve(name: &str, role: &str, database_url: &str, envs: &[(&str, String)]) -> Proc {
        let listen = format!("127.0.0.1:{}", free_port());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_scheduler"));
        cmd.args(["serve", "--role", role]);
        for k in [
            "KAFKA_BROKERS",
            "DEAD_LETTER_TOPIC",
            "ADMIN_TOKEN",
            "MIGRATE_ON_START",
            "S3_BUCKET",
        ] {
            cmd.env_remove(k);
        }
        cmd.env("DATABASE_URL", database_url)
            .env("LISTEN_ADDR", &listen)
            .env("WEBHOOK_ALLOW_PRIVATE", "true")
            .env("RUNNER_POLL_INTERVAL_MS", "200")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut p = Proc::spawn(name, &mut cmd);
        p.base = format!("http://{listen}");
        p
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: &str) {
        signal(self.pid(), sig);
    }

    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// Waits up to `limit` for the exit status.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.exited() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The last `n` lines of its output, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(n);
        format!(
            "--- last lines of {} ({}) ---\n{}",
            self.name,
            self.log.display(),
            lines[from..]
                .iter()
                .map(|l| l.chars().take(400).collect::<String>())
                .collect::<Vec<_>>()
                .join("\n")
        )
    }

    /// Lines of its output containing `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Waits (bounded) until `/readyz` answers 200; panics if the process exits first.
    pub async fn wait_ready(&mut self) {
        let client = http();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(format!("{}/readyz", self.base)).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            if let Some(status) = self.exited() {
                panic!(
                    "{} exited early: {status}\n{}",
                    self.name,
                    self.log_tail(30)
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready within 30 s\n{}",
                self.name,
                self.log_tail(30)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill")
                .args(["-CONT", &self.child.id().to_string()])
                .stderr(Stdio::null())
                .status();
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        } else {
            eprintln!("{}", self.log_tail(15));
        }
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("http client")
}

// --- Polling ---

/// Polls `cond` every 50 ms until it holds; panics with `what` after `limit`.
pub async fn wait_for<F, Fut>(limit: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
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
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `cond` every 50 ms until it holds (true) or `limit` passes (false).
pub async fn until<F, Fut>(limit: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits up to `limit` until `n` fires are `delivered`; panics with the status counts if not.
pub async fn wait_delivered(pool: &PgPool, n: u64, limit: Duration) {
    let done = until(limit, || async {
        count(
            pool,
            "SELECT count(*) FROM fires WHERE status = 'delivered'",
        )
        .await
            >= n as i64
    })
    .await;
    assert!(
        done,
        "not all {n} fires delivered within {limit:?}: {}",
        statuses(pool).await
    );
}

// --- The database ---

/// A small pool for the test's own reads, named so that a case cutting connections can spare
/// it (`application_name = 'faults-observer'`).
pub async fn observer(url: &str) -> PgPool {
    let opts: PgConnectOptions = url.parse().expect("database URL");
    PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(opts.application_name("faults-observer"))
        .await
        .expect("connect the observer pool")
}

/// One number from `sql`, retried for up to 30 s while the database is unreachable.
pub async fn count(pool: &PgPool, sql: &str) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await {
            Ok(n) => return n,
            // A statement the database refuses (a missing column) will not pass on retry.
            Err(e @ sqlx::Error::Database(_)) if !e.to_string().contains("terminat") => {
                panic!("{sql}: {e}")
            }
            Err(e) => {
                assert!(Instant::now() < deadline, "{sql}: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Fire counts by status, e.g. `delivered=19000 delivering=1000`.
pub async fn statuses(pool: &PgPool) -> String {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM fires GROUP BY status ORDER BY status")
            .fetch_all(pool)
            .await
            .unwrap_or_default();
    rows.iter()
        .map(|(s, n)| format!("{s}={n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn tenant(pool: &PgPool) {
    scheduler_store::tenancy::ensure_user(pool, ORG, USER)
        .await
        .expect("tenant");
}

/// `n` hourly schedulers due at `due` (ids `first..first+n`, hex), all with the same job.
pub async fn bulk_due(pool: &PgPool, first: u64, n: u64, due: DateTime<Utc>, job: &Value) {
    scheduler_store::testing::bulk_due(pool, ORG, USER, first, n, due, job).await;
}

pub fn webhook_job(url: &str) -> Value {
    json!({"type": "webhook", "url": url, "data": {"case": "faults"}})
}

pub fn kafka_job(topic: &str) -> Value {
    json!({"type": "kafka", "topic": topic, "data": {"case": "faults"}})
}

// --- A webhook receiver ---

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The `webhook-id` header.
    pub header_id: String,
    pub fire_id: String,
    pub scheduler_id: String,
    pub scheduled_for: String,
    /// The envelope's `attempt` (-1 when missing).
    pub attempt: i64,
}

/// How to answer one request: `status` after `delay`, or (with `hold`) only once
/// [`Receiver::release`] is called.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    pub status: u16,
    pub delay: Duration,
    pub hold: bool,
}

impl Reply {
    pub const OK: Reply = Reply {
        status: 200,
        delay: Duration::ZERO,
        hold: false,
    };
    pub fn after(status: u16, delay: Duration) -> Reply {
        Reply {
            status,
            delay,
            hold: false,
        }
    }
    pub fn held(status: u16) -> Reply {
        Reply {
            status,
            delay: Duration::ZERO,
            hold: true,
        }
    }
}

/// Decides the answer from the request and how many requests of its fire id arrived so far
/// (this one included).
pub type Policy = Arc<dyn Fn(&Hit, usize) -> Reply + Send + Sync>;

struct RxState {
    hits: Mutex<Vec<Hit>>,
    per_fire: Mutex<HashMap<String, usize>>,
    policy: RwLock<Policy>,
    release: tokio::sync::watch::Sender<bool>,
    open: AtomicUsize,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    state: Arc<RxState>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Receiver {
    /// Answers 200 at once until told otherwise.
    pub async fn start() -> Receiver {
        Self::with_policy(Arc::new(|_, _| Reply::OK)).await
    }

    pub async fn with_policy(policy: Policy) -> Receiver {
        let (release, _) = tokio::sync::watch::channel(false);
        let state = Arc::new(RxState {
            hits: Mutex::new(Vec::new()),
            per_fire: Mutex::new(HashMap::new()),
            policy: RwLock::new(policy),
            release,
            open: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver {
            url: format!("http://{addr}/hook"),
            state,
        }
    }

    pub fn set_policy(&self, policy: Policy) {
        *self
            .state
            .policy
            .write()
            .unwrap_or_else(PoisonError::into_inner) = policy;
    }

    /// Answers every held request (each with the status decided when it arrived).
    pub fn release(&self) {
        self.state.release.send_replace(true);
    }

    pub fn hits(&self) -> Vec<Hit> {
        lock(&self.state.hits).clone()
    }

    /// Distinct fire ids received.
    pub fn distinct(&self) -> usize {
        lock(&self.state.per_fire).len()
    }

    /// Requests per fire id.
    pub fn per_fire(&self) -> HashMap<String, usize> {
        lock(&self.state.per_fire).clone()
    }

    /// Requests not answered yet.
    pub fn open(&self) -> usize {
        self.state.open.load(Ordering::SeqCst)
    }
}

async fn receive(State(state): State<Arc<RxState>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let hit = Hit {
        header_id: headers
            .get("webhook-id")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_owned(),
        fire_id: s("fire_id"),
        scheduler_id: s("scheduler_id"),
        scheduled_for: s("scheduled_for"),
        attempt: v.get("attempt").and_then(Value::as_i64).unwrap_or(-1),
    };
    // Counted down on drop too: a request whose sender went away is no longer open.
    struct Open<'a>(&'a AtomicUsize);
    impl Drop for Open<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    state.open.fetch_add(1, Ordering::SeqCst);
    let _open = Open(&state.open);
    let nth = {
        let mut per = lock(&state.per_fire);
        let n = per.entry(hit.header_id.clone()).or_insert(0);
        *n += 1;
        *n
    };
    let policy = state
        .policy
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let reply = policy(&hit, nth);
    lock(&state.hits).push(hit);
    if reply.hold {
        let mut rx = state.release.subscribe();
        let _ = rx.wait_for(|released| *released).await;
    }
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Checks what every repeat must satisfy: the body's `fire_id` is the `webhook-id` header, its
/// `attempt` is at least 1, and one slot (scheduler, scheduled_for) never arrives under two fire ids. Returns the repeats
/// (requests beyond the first of their fire id).
pub fn check_ids(hits: &[Hit]) -> usize {
    let mut by_slot: HashMap<(&str, &str), &str> = HashMap::new();
    let mut per_fire: HashMap<&str, usize> = HashMap::new();
    for h in hits {
        assert_eq!(
            h.fire_id, h.header_id,
            "the envelope's fire_id differs from the webhook-id header"
        );
        assert!(
            h.attempt >= 1,
            "envelope attempt {} of {}",
            h.attempt,
            h.fire_id
        );
        let first = by_slot
            .entry((h.scheduler_id.as_str(), h.scheduled_for.as_str()))
            .or_insert(h.fire_id.as_str());
        assert_eq!(
            *first, h.fire_id,
            "slot {} {} arrived under two fire ids",
            h.scheduler_id, h.scheduled_for
        );
        *per_fire.entry(h.fire_id.as_str()).or_insert(0) += 1;
    }
    hits.len() - per_fire.len()
}

// --- The tansu broker ---

/// A tansu broker on a fixed port (so a restarted one is found where the old one was), with
/// in-memory storage: a restart forgets topics and messages.
pub struct Tansu {
    pub port: u16,
    proc: Option<Proc>,
}

impl Tansu {
    pub fn start() -> Tansu {
        Self::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Tansu {
        let bin = std::env::var("TANSU_BIN").unwrap_or_else(|_| {
            panic!(
                "TANSU_BIN is not set: this case needs the tansu broker. Run it with `make test`, \
                 or eval \"$(scripts/ensure-tools.sh tansu)\" first"
            )
        });
        let url = format!("tcp://127.0.0.1:{port}");
        let mut cmd = Command::new(&bin);
        cmd.args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
            "--storage-engine",
            "memory://tansu/",
        ])
        .env("RUST_LOG", "warn");
        let proc = Proc::spawn("tansu", &mut cmd);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Tansu {
            port,
            proc: Some(proc),
        }
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// SIGKILL: the broker and everything it held are gone.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.signal("-KILL");
            p.wait_exit(Duration::from_secs(5));
        }
    }

    pub async fn create_topics(&self, topics: &[&str]) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", self.brokers())
            .create()
            .expect("admin client");
        let new: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|t| NewTopic::new(t, 1, TopicReplication::Fixed(1)))
            .collect();
        let res = admin
            .create_topics(
                &new,
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
            )
            .await
            .expect("create topics");
        for r in res {
            r.unwrap_or_else(|(t, e)| panic!("create topic {t}: {e}"));
        }
    }

    /// A consumer of partition 0 of `topic` from the beginning (no group join).
    pub fn consumer(&self, topic: &str) -> StreamConsumer {
        let c: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.brokers())
            .set("group.id", "faults")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Beginning)
            .unwrap();
        c.assign(&tpl).expect("assign");
        c
    }
}

/// The `fire-id` headers of the messages read until `idle` passes without one (or `max`).
pub async fn consume_ids(c: &StreamConsumer, max: usize, idle: Duration) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < max {
        match tokio::time::timeout(idle, c.recv()).await {
            Ok(Ok(m)) => {
                let id = m
                    .headers()
                    .and_then(|h| {
                        h.iter()
                            .find(|h| h.key == "fire-id")
                            .and_then(|h| h.value)
                            .map(|v| String::from_utf8_lossy(v).into_owned())
                    })
                    .unwrap_or_default();
                out.push(id);
            }
            Ok(Err(e)) => {
                eprintln!("consume: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(_) => break,
        }
    }
    out
}

/// Reads `topic` in the background, from the beginning, collecting the `fire-id` headers.
pub struct Collector {
    ids: Arc<Mutex<Vec<String>>>,
    last: Arc<Mutex<Instant>>,
    task: tokio::task::JoinHandle<()>,
}

impl Collector {
    pub fn start(broker: &Tansu, topic: &str) -> Collector {
        let consumer = broker.consumer(topic);
        let ids = Arc::new(Mutex::new(Vec::new()));
        let last = Arc::new(Mutex::new(Instant::now()));
        let (i, l) = (ids.clone(), last.clone());
        let task = tokio::spawn(async move {
            loop {
                let got = consume_ids(&consumer, 100, Duration::from_millis(100)).await;
                if !got.is_empty() {
                    lock(&i).extend(got);
                    *lock(&l) = Instant::now();
                }
            }
        });
        Collector { ids, last, task }
    }

    pub fn ids(&self) -> Vec<String> {
        lock(&self.ids).clone()
    }

    pub fn len(&self) -> usize {
        lock(&self.ids).len()
    }

    /// How long since the last message arrived.
    pub fn idle(&self) -> Duration {
        lock(&self.last).elapsed()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}
