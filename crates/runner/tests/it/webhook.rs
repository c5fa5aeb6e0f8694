use std::time::Duration;

use base64::Engine as _;
use chrono::TimeDelta;
use hmac::{Hmac, Mac};
use scheduler_runner::{Clock, RunnerConfig};
use scheduler_store::testing::fresh_db;
use scheduler_store::{tenancy, PgPool};
use serde_json::json;
use sha2::Sha256;

use crate::*;

fn every_minute(start: &str) -> Value {
    json!({"type": "recurring", "trigger_frequency_unit": "minutes", "trigger_frequency_value": 1,
           "start_datetime": start})
}

async fn status_of(pool: &PgPool, id: u64) -> (String, i32, Option<String>) {
    let f = fires_of(pool, id).await;
    f.last()
        .cloned()
        .map_or(("none".into(), 0, None), |(s, a, e, _)| (s, a, e))
}

/// The envelope has every SPEC field, and the signature verifies with an implementation written
/// here from the Standard Webhooks text (not the runner's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelope_and_signature_verify_independently() {
    let db = fresh_db().await;
    let rx = Receiver::start().await;
    let t0 = at("2026-05-01T12:00:00Z");
    let clock = Clock::manual(t0 - TimeDelta::seconds(1));
    let mut job = webhook_job(&rx.url("/hook"));
    job["workflow_id"] = json!("wf-7");
    job["headers"] = json!({"x-api-key": "k1"});
    // Written by a client through the JSON routes: not what is delivered (the envelope's
    // files come from the attachments table; this scheduler has none).
    job["files"] = json!([{"file_id": "f1", "name": "a.png", "file_path": "org_b/1/a.png"}]);
    insert(
        &db.pool,
        Sched {
            id: 1,
            job,
            timing: every_minute("2026-05-01T12:00:00Z"),
        },
        clock.now(),
    )
    .await;
    let runner = start(&db.pool, test_config(), &clock);
    clock.set(t0 + TimeDelta::milliseconds(250));
    wait_for(Duration::from_secs(10), "one request", || async {
        rx.received() == 1
    })
    .await;
    runner.shutdown().await;

    let req = &rx.requests()[0];
    assert_eq!(req.method, Method::POST);
    assert_eq!(req.path, "/hook");
    assert_eq!(req.header("content-type"), "application/json");
    assert_eq!(req.header("x-api-key"), "k1");
    let body = req.json();
    let fire_id = body["fire_id"].as_str().unwrap().to_owned();
    assert_eq!(
        body,
        json!({
            "fire_id": fire_id, "scheduler_id": hex_id(1), "organization_id": ORG, "user_id": USER,
            "event_type": "whatsapp", "name": "scheduler 1",
            "scheduled_for": "2026-05-01T12:00:00.000Z", "fired_at": "2026-05-01T12:00:00.250Z",
            "attempt": 1, "workflow_id": "wf-7", "data": {"message": "hello"},
            "files": []
        })
    );

    // Standard Webhooks, by hand (see `standard_webhooks_sign`, itself checked against the
    // specification's published vector below).
    let secret = tenancy::signing_secret(&db.pool, ORG).await.unwrap();
    assert_eq!(req.header("webhook-id"), fire_id);
    let ts = req.header("webhook-timestamp");
    assert_eq!(ts, t0.timestamp().to_string());
    let expected = standard_webhooks_sign(&secret, &fire_id, ts, &req.body);
    let sigs: Vec<&str> = req.header("webhook-signature").split(' ').collect();
    assert!(sigs.contains(&expected.as_str()), "{sigs:?} vs {expected}");
    // What was signed is this body, id and timestamp: changing any one gives a signature the
    // header does not hold.
    for (what, id, ts, body) in [
        ("body", fire_id.as_str(), ts, &b"{}"[..]),
        ("id", "another-id", ts, &req.body[..]),
        ("timestamp", fire_id.as_str(), "0", &req.body[..]),
    ] {
        let tampered = standard_webhooks_sign(&secret, id, ts, body);
        assert!(
            !sigs.contains(&tampered.as_str()),
            "the signature does not cover the {what}"
        );
    }

    let (status, attempts, _) = status_of(&db.pool, 1).await;
    assert_eq!((status.as_str(), attempts), ("delivered", 1));
}

/// Standard Webhooks signing, written here from the specification's text (not the runner's
/// code): HMAC-SHA256 over "id.timestamp.body" keyed with the base64-decoded part of the
/// `whsec_` secret, as "v1,<base64>".
fn standard_webhooks_sign(secret: &str, id: &str, ts: &str, body: &[u8]) -> String {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .expect("base64 secret");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// The hand-written signer reproduces the Standard Webhooks specification's test vector, so
/// the comparison above is against a correct signature, not just a second opinion.
#[test]
fn the_hand_written_signer_matches_the_specification_vector() {
    assert_eq!(
        standard_webhooks_sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            br#"{"test": 2432232314}"#,
        ),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
}

/// 503, 503, 200: delivered on attempt 3; each retry waits a random delay under a ceiling that
/// doubles (1 s, then 2 s), and the clock is moved to each retry time instead of sleeping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_503_twice_then_delivers_on_attempt_3() {
    let db = fresh_db().await;
    let rx = Receiver::start().await;
    rx.script(&[(503, Duration::ZERO), (503, Duration::ZERO)]);
    let t0 = at("2026-05-01T12:00:00Z");
    let clock = Clock::manual(t0 - TimeDelta::seconds(1));
    insert(
        &db.pool,
        Sched {
            id: 1,
            job: webhook_job(&rx.url("/h")),
            timing: every_minute("2026-05-01T12:00:00Z"),
        },
        clock.now(),
    )
    .await;
    // A long poll: only the clock and the retry times drive this runner.
    let cfg = RunnerConfig {
        poll_interval: Duration::from_secs(30),
        ..test_config()
    };
    let runner = start(&db.pool, cfg, &clock);
    clock.set(t0);

    let mut delays = Vec::new();
    for n in 1..=2 {
        wait_for(Duration::from_secs(10), "a retrying fire", || async {
            let (s, a, _) = status_of(&db.pool, 1).await;
            s == "retrying" && a == n
        })
        .await;
        let (retry_at, attempts, err): (DateTime<Utc>, i32, Option<String>) = sqlx::query_as(
            "SELECT available_at, attempts, last_error FROM fires WHERE scheduler_id = $1",
        )
        .bind(hex_id(1))
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!(attempts, n);
        assert!(err.unwrap().contains("503"));
        let delay = retry_at - clock.now();
        let ceiling = TimeDelta::seconds(1 << (n - 1));
        assert!(
            delay >= TimeDelta::zero() && delay <= ceiling,
            "attempt {n}: {delay} over {ceiling}"
        );
        delays.push(delay);
        // Nothing happens before the retry time...
        assert_eq!(rx.received(), n as usize);
        clock.set(retry_at);
    }
    wait_for(Duration::from_secs(10), "delivered", || async {
        status_of(&db.pool, 1).await.0 == "delivered"
    })
    .await;
    runner.shutdown().await;
    let (_, attempts, err) = status_of(&db.pool, 1).await;
    assert_eq!((attempts, err), (3, None));
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 3);
    let ids: Vec<&str> = reqs.iter().map(|r| r.header("webhook-id")).collect();
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "one fire id on every attempt"
    );
    let attempts: Vec<i64> = reqs
        .iter()
        .map(|r| r.json()["attempt"].as_i64().unwrap())
        .collect();
    assert_eq!(attempts, [1, 2, 3]);
    eprintln!("retry delays (full jitter under 1 s, 2 s): {delays:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_and_redirects_are_dead_at_once_timeouts_are_retried() {
    let db = fresh_db().await;
    // Answers by path: four fires arrive at once, so answers by arrival order would be racy.
    let path_rx = PathReceiver::start().await;
    let t0 = at("2026-05-01T12:00:00Z");
    let clock = Clock::manual(t0 - TimeDelta::seconds(1));
    for (id, path) in [(1, "/400"), (2, "/slow"), (3, "/302"), (4, "/429")] {
        let mut job = webhook_job(&path_rx.url(path));
        if id == 2 {
            job["timeout_ms"] = json!(300);
        }
        insert(
            &db.pool,
            Sched {
                id,
                job,
                timing: every_minute("2026-05-01T12:00:00Z"),
            },
            clock.now(),
        )
        .await;
    }
    let runner = start(&db.pool, test_config(), &clock);
    clock.set(t0);
    wait_for(Duration::from_secs(10), "four outcomes", || async {
        count(
            &db.pool,
            "SELECT count(*) FROM fires WHERE status IN ('dead', 'retrying')",
        )
        .await
            == 4
    })
    .await;
    runner.shutdown().await;

    let (s, a, e) = status_of(&db.pool, 1).await;
    assert_eq!((s.as_str(), a), ("dead", 1));
    assert!(e.unwrap().contains("HTTP 400"));
    let (s, a, e) = status_of(&db.pool, 2).await;
    assert_eq!((s.as_str(), a), ("retrying", 1));
    assert!(e.unwrap().contains("timed out"));
    let (s, _, e) = status_of(&db.pool, 3).await;
    assert_eq!(s, "dead");
    assert!(e.unwrap().contains("redirects are not followed"));
    let (s, _, e) = status_of(&db.pool, 4).await;
    assert_eq!(s, "retrying");
    assert!(e.unwrap().contains("429"));
    assert_eq!(path_rx.hits("/302"), 1, "the redirect was not followed");
    assert_eq!(path_rx.hits("/elsewhere"), 0);
}

/// 127.0.0.1 (literal) and localhost (resolved) are refused, dead at once with a clear error,
/// unless private destinations are allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_destinations_are_refused_unless_allowed() {
    let db = fresh_db().await;
    let rx = Receiver::start().await;
    let port = rx.base.rsplit(':').next().unwrap().to_owned();
    let t0 = at("2026-05-01T12:00:00Z");
    let clock = Clock::manual(t0 - TimeDelta::seconds(1));
    let timing = every_minute("2026-05-01T12:00:00Z");
    insert(
        &db.pool,
        Sched {
            id: 1,
            job: webhook_job(&rx.url("/literal")),
            timing: timing.clone(),
        },
        clock.now(),
    )
    .await;
    let by_name = webhook_job(&format!("http://localhost:{port}/name"));
    insert(
        &db.pool,
        Sched {
            id: 2,
            job: by_name,
            timing: timing.clone(),
        },
        clock.now(),
    )
    .await;
    let cfg = RunnerConfig {
        webhook_allow_private: false,
        ..test_config()
    };
    let runner = start(&db.pool, cfg, &clock);
    clock.set(t0);
    wait_for(Duration::from_secs(10), "two dead fires", || async {
        count(&db.pool, "SELECT count(*) FROM fires WHERE status = 'dead'").await == 2
    })
    .await;
    runner.shutdown().await;
    for id in [1, 2] {
        let (s, a, e) = status_of(&db.pool, id).await;
        assert_eq!((s.as_str(), a), ("dead", 1));
        let e = e.unwrap();
        assert!(
            e.contains("webhook destination refused") && e.contains("non-public address"),
            "{e}"
        );
        assert!(e.contains("127.0.0.1") || e.contains("::1"), "{e}");
    }
    assert_eq!(rx.received(), 0, "nothing reached the private receiver");

    // Allowed: the next slot of both is delivered.
    let runner = start(&db.pool, test_config(), &clock);
    clock.set(t0 + TimeDelta::minutes(1));
    wait_for(Duration::from_secs(10), "two deliveries", || async {
        rx.received() == 2
    })
    .await;
    runner.shutdown().await;
}

/// A receiver answering by path: /400, /302 (to /elsewhere), /429, /slow (2 s), else 200.
struct PathReceiver {
    base: String,
    hits: Arc<Mutex<Vec<String>>>,
}

impl PathReceiver {
    async fn start() -> Self {
        let hits = Arc::new(Mutex::new(Vec::new()));
        let h = hits.clone();
        let app = axum::Router::new().fallback(move |uri: Uri| {
            let h = h.clone();
            async move {
                let path = uri.path().to_owned();
                h.lock().unwrap().push(path.clone());
                match path.as_str() {
                    "/400" => (StatusCode::BAD_REQUEST, HeaderMap::new()),
                    "/429" => (StatusCode::TOO_MANY_REQUESTS, HeaderMap::new()),
                    "/302" => {
                        let mut hm = HeaderMap::new();
                        hm.insert("location", "/elsewhere".parse().unwrap());
                        (StatusCode::FOUND, hm)
                    }
                    "/slow" => {
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        (StatusCode::OK, HeaderMap::new())
                    }
                    _ => (StatusCode::OK, HeaderMap::new()),
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base: format!("http://{addr}"),
            hits,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn hits(&self, path: &str) -> usize {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|p| *p == path)
            .count()
    }
}
