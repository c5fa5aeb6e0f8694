//! Real deliveries verified by a third party: the official Standard Webhooks library for Python
//! (PyPI `standardwebhooks`, installed by `scripts/ensure-python.sh`), as a receiver would use
//! it, before a secret rotation, during its overlap (with the old and with the new secret) and
//! after it (with the new one only). A tampered body and a stale timestamp must fail.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, SubsecRound as _, TimeDelta, Utc};
use scheduler_runner::Clock;
use scheduler_store::testing::fresh_db;
use scheduler_store::{secrets, tenancy};
use serde_json::json;

use crate::*;

/// The interpreter of the virtualenv that holds `standardwebhooks`: `SCHEDULER_PYTHON` (what
/// `scripts/test.sh` exports), else the venv `scripts/ensure-python.sh` makes in the cache.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("SCHEDULER_PYTHON") {
        return p.into();
    }
    let cache = std::env::var_os("SCHEDULER_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/scheduler")))
        .unwrap_or_default();
    let venv = cache.join("python/venv/bin/python");
    assert!(
        venv.exists(),
        "SCHEDULER_PYTHON is not set and {} does not exist: these tests need the official \
         Standard Webhooks library. Run `eval \"$(scripts/ensure-python.sh)\"` (installs it \
         once and prints the export) or `make test`",
        venv.display()
    );
    venv
}

/// What the library says of one delivery checked with `secret`: Ok on success, else its
/// error ("No matching signature found", "Message timestamp too old", ...).
fn verify(secret: &str, req: &Received, body: &[u8]) -> Result<(), String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/verify_webhook.py");
    let input = json!({
        "secret": secret,
        "headers": {
            "webhook-id": req.header("webhook-id"),
            "webhook-timestamp": req.header("webhook-timestamp"),
            "webhook-signature": req.header("webhook-signature"),
        },
        "body": String::from_utf8(body.to_vec()).expect("a UTF-8 body"),
    });
    let mut child = Command::new(python())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the Python verifier");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().expect("the Python verifier");
    let said = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    match out.status.code() {
        Some(0) => Ok(()),
        Some(1) => Err(said),
        _ => panic!(
            "the verifier failed to run: {said} {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn one_minute(start: DateTime<Utc>, max_fires: Option<i64>) -> Value {
    let mut t = json!({"type": "recurring", "trigger_frequency_unit": "minutes",
                       "trigger_frequency_value": 1, "start_datetime": start.to_rfc3339()});
    if let Some(n) = max_fires {
        t["max_fires"] = json!(n);
    }
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_library_verifies_deliveries_across_a_secret_rotation() {
    let db = fresh_db().await;
    let rx = Receiver::start().await;
    // The library checks timestamps against the wall clock (5 minutes either way), so the test
    // clock runs near it: t0 is the next whole minute, and the last delivery is at t0 + 2 min.
    let now = Utc::now().trunc_subsecs(0);
    let t0 = now + TimeDelta::seconds(60 - now.timestamp() % 60);
    let stale = t0 - TimeDelta::minutes(10);
    let clock = Clock::manual(stale - TimeDelta::seconds(1));
    // Scheduler 1 fires once, ten minutes ago (a delivery with a stale timestamp); scheduler 2
    // every minute from t0.
    for (id, start, max) in [(1, stale, Some(1)), (2, t0, None)] {
        insert(
            &db.pool,
            Sched {
                id,
                job: webhook_job(&rx.url(&format!("/hook{id}"))),
                timing: one_minute(start, max),
            },
            clock.now(),
        )
        .await;
    }
    let old = tenancy::signing_secret(&db.pool, ORG).await.unwrap();
    let runner = start(&db.pool, test_config(), &clock);
    let deliver = |n: usize, at: DateTime<Utc>| {
        clock.set(at);
        let rx = rx.clone();
        async move {
            wait_for(
                Duration::from_secs(15),
                &format!("delivery {n}"),
                || async { rx.received() >= n },
            )
            .await;
            rx.requests()[n - 1].clone()
        }
    };

    // A stale timestamp: correctly signed, refused for its age.
    let r = deliver(1, stale).await;
    assert_eq!(
        verify(&old, &r, &r.body),
        Err("refused: Message timestamp too old".into())
    );

    // Before the rotation: the one secret verifies; a tampered body does not.
    let r = deliver(2, t0).await;
    assert_eq!(r.path, "/hook2");
    assert_eq!(verify(&old, &r, &r.body), Ok(()));
    let mut tampered = r.json();
    tampered["data"]["message"] = json!("hello!");
    assert_eq!(
        verify(&old, &r, tampered.to_string().as_bytes()),
        Err("refused: No matching signature found".into())
    );
    assert_eq!(r.header("webhook-signature").split(' ').count(), 1);

    // Rotated at t0 + 30 s with a 60 s overlap: the old secret signs until t0 + 90 s.
    let rotated = secrets::rotate(
        &db.pool,
        ORG,
        TimeDelta::seconds(60),
        t0 + TimeDelta::seconds(30),
    )
    .await
    .unwrap();
    let new = rotated.secret;
    assert_ne!(new, old);
    assert_eq!(rotated.previous_secret.as_deref(), Some(old.as_str()));

    // During the overlap: both signatures, so a receiver holding either secret verifies.
    let r = deliver(3, t0 + TimeDelta::minutes(1)).await;
    assert_eq!(r.header("webhook-signature").split(' ').count(), 2);
    assert_eq!(
        verify(&old, &r, &r.body),
        Ok(()),
        "old secret in the overlap"
    );
    assert_eq!(
        verify(&new, &r, &r.body),
        Ok(()),
        "new secret in the overlap"
    );
    assert!(verify(&new, &r, b"{}").is_err());

    // After the overlap: the new secret only.
    let r = deliver(4, t0 + TimeDelta::minutes(2)).await;
    assert_eq!(r.header("webhook-signature").split(' ').count(), 1);
    assert_eq!(
        verify(&new, &r, &r.body),
        Ok(()),
        "new secret after the overlap"
    );
    assert_eq!(
        verify(&old, &r, &r.body),
        Err("refused: No matching signature found".into()),
        "the old secret no longer verifies"
    );
    runner.shutdown().await;
}
