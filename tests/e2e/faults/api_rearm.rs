//! Case 7: timing edits through the API process, fired by a runner process.
//!
//! - A `PUT {"max_fires": 5}` on a recurring scheduler whose slot is due and not yet claimed
//!   (no runner running) keeps that slot: a runner started afterwards fires it.
//! - A fired one-shot re-armed by `PUT {"start_datetime": ...}` fires again at that instant:
//!   twice in all.
//! - A recurring scheduler that has fired, switched to `non_recurring` with a new start, fires
//!   once at that instant.

use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound as _, Utc};
use scheduler_store::testing::fresh_db;
use serde_json::Value;

use super::*;

fn instant(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s:?}: {e}"))
        .with_timezone(&Utc)
}

/// A whole second at least `secs` from now.
fn soon(secs: i64) -> DateTime<Utc> {
    (Utc::now() + chrono::Duration::seconds(secs + 1)).trunc_subsecs(0)
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

struct Api {
    base: String,
    token: String,
    client: reqwest::Client,
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, body: &Value) -> Value {
        let r = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .header("x-access-token", &self.token)
            .json(body)
            .send()
            .await
            .expect("API request");
        let status = r.status();
        let doc: Value = r.json().await.unwrap_or(Value::Null);
        assert!(
            status.is_success(),
            "{method} {path} {body}: {status} {doc}"
        );
        doc
    }

    async fn create(&self, body: Value) -> Value {
        self.call(reqwest::Method::POST, "", &body).await
    }

    async fn put(&self, id: &str, body: Value) -> Value {
        self.call(reqwest::Method::PUT, &format!("/{id}"), &body)
            .await
    }
}

fn hits_of(rx: &Receiver, id: &str) -> Vec<Hit> {
    rx.hits()
        .into_iter()
        .filter(|h| h.scheduler_id == id)
        .collect()
}

async fn wait_hits(rx: &Receiver, id: &str, n: usize, limit: Duration, what: &str) {
    let ok = until(limit, || async { hits_of(rx, id).len() >= n }).await;
    assert!(
        ok,
        "{what}: {} of {n} requests within {limit:?}",
        hits_of(rx, id).len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rearm_switch_and_max_fires_edits() {
    let db = fresh_db().await;
    tenant(&db.pool).await;
    let token = scheduler_store::tenancy::issue_token(&db.pool, ORG)
        .await
        .expect("token")
        .token;
    let rx = Receiver::start().await;
    let mut api_proc = Proc::serve("api", "api", &db.url, &[]);
    api_proc.wait_ready().await;
    let api = Api {
        base: format!(
            "{}/v1/organization/{ORG}/users/{USER}/schedulers",
            api_proc.base
        ),
        token,
        client: http(),
    };
    let job = webhook_job(&rx.url);
    let started = Instant::now();

    // 1. max_fires while a slot is due and unclaimed: no runner yet.
    let slot = soon(1);
    let doc = api
        .create(
            json!({"type": "recurring", "name": "capped", "event_type": "e", "job": job,
            "trigger_frequency_unit": "minutes", "trigger_frequency_value": 1,
            "start_datetime": rfc(slot)}),
        )
        .await;
    let capped = doc["_id"].as_str().expect("_id").to_owned();
    assert_eq!(instant(doc["next_fire_at"].as_str().unwrap()), slot);
    let due = until(Duration::from_secs(5), || async {
        Utc::now() > slot + chrono::Duration::milliseconds(500)
    })
    .await;
    assert!(due);
    let doc = api.put(&capped, json!({"max_fires": 5})).await;
    println!(
        "api_rearm: PUT max_fires 5 with the slot {} due and unclaimed: next_fire_at {}",
        rfc(slot),
        doc["next_fire_at"]
    );
    let mut runner = Proc::serve("runner", "runner", &db.url, &[]);
    runner.wait_ready().await;

    // 2. and 3. start now, with the runner running.
    let t1 = soon(2);
    let doc = api
        .create(
            json!({"type": "non_recurring", "name": "one-shot", "event_type": "e",
            "job": job, "start_datetime": rfc(t1)}),
        )
        .await;
    let one_shot = doc["_id"].as_str().expect("_id").to_owned();
    let s0 = soon(1);
    let doc = api
        .create(
            json!({"type": "recurring", "name": "switched", "event_type": "e", "job": job,
            "trigger_frequency_unit": "hours", "trigger_frequency_value": 1,
            "start_datetime": rfc(s0)}),
        )
        .await;
    let switched = doc["_id"].as_str().expect("_id").to_owned();

    // The capped scheduler's slot, fired by the runner that started after the PUT.
    let capped_ok = until(Duration::from_secs(5), || async {
        !hits_of(&rx, &capped).is_empty()
    })
    .await;
    let capped_fired: Vec<String> = hits_of(&rx, &capped)
        .iter()
        .map(|h| h.scheduled_for.clone())
        .collect();
    println!(
        "api_rearm: capped scheduler fired for {capped_fired:?} (slot {})",
        rfc(slot)
    );

    // The one-shot fires, is re-armed, fires again.
    wait_hits(
        &rx,
        &one_shot,
        1,
        Duration::from_secs(8),
        "one-shot first fire",
    )
    .await;
    let t2 = soon(2);
    let doc = api.put(&one_shot, json!({"start_datetime": rfc(t2)})).await;
    println!(
        "api_rearm: one-shot re-armed for {}: next_fire_at {}, is_finished {}",
        rfc(t2),
        doc["next_fire_at"],
        doc["is_finished"]
    );
    // The recurring one fired its first slot; switch it to a one-shot.
    wait_hits(
        &rx,
        &switched,
        1,
        Duration::from_secs(5),
        "recurring first fire",
    )
    .await;
    let t3 = soon(2);
    let doc = api
        .put(
            &switched,
            json!({"type": "non_recurring", "start_datetime": rfc(t3)}),
        )
        .await;
    println!(
        "api_rearm: recurring switched to a one-shot at {}: next_fire_at {}, is_finished {}",
        rfc(t3),
        doc["next_fire_at"],
        doc["is_finished"]
    );
    let both = until(Duration::from_secs(8), || async {
        hits_of(&rx, &one_shot).len() >= 2 && hits_of(&rx, &switched).len() >= 2
    })
    .await;
    // Anything extra would arrive at once.
    tokio::time::sleep(Duration::from_secs(if both { 1 } else { 0 })).await;
    let one_shot_hits = hits_of(&rx, &one_shot);
    let switched_hits = hits_of(&rx, &switched);
    let slots =
        |hs: &[Hit]| -> Vec<String> { hs.iter().map(|h| h.scheduled_for.clone()).collect() };
    println!(
        "api_rearm: one-shot fired for {:?} (armed {}, re-armed {}); switched fired for {:?} \
         (first {}, one-shot {}); {:?} in all",
        slots(&one_shot_hits),
        rfc(t1),
        rfc(t2),
        slots(&switched_hits),
        rfc(s0),
        rfc(t3),
        started.elapsed()
    );
    assert!(runner.exited().is_none(), "{}", runner.log_tail(20));

    assert!(
        capped_ok,
        "the due slot kept across PUT max_fires was never fired"
    );
    assert_eq!(
        instant(&capped_fired[0]),
        slot,
        "the capped scheduler fired another slot than the one due before the PUT"
    );
    assert_eq!(
        one_shot_hits.len(),
        2,
        "the re-armed one-shot fires exactly twice"
    );
    assert_eq!(instant(&one_shot_hits[0].scheduled_for), t1);
    assert_eq!(instant(&one_shot_hits[1].scheduled_for), t2);
    assert_eq!(
        switched_hits.len(),
        2,
        "the switched scheduler fires its first slot, then once as a one-shot"
    );
    assert_eq!(instant(&switched_hits[0].scheduled_for), s0);
    assert_eq!(instant(&switched_hits[1].scheduled_for), t3);
}
