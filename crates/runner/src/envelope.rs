//! The JSON every delivery carries (SPEC 6), the same for Kafka and webhooks.

use chrono::{DateTime, SecondsFormat, Utc};
use scheduler_store::attachments::AttachmentRecord;
use scheduler_store::fires::{DeliveryContext, LeasedFire};
use serde_json::{Map, Value};

pub fn rfc3339_ms(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// One item of the envelope's `files`: the descriptor the API shows in `job.files`, built from
/// the scheduler's row in `attachments` (never from the stored `job.files`, which a client can
/// write through the JSON routes), with `file_url` made for this attempt. `file_url` is null
/// when the runner has no file store (`Runner::with_files` not called).
pub fn file_item(r: &AttachmentRecord, file_url: Option<String>) -> Value {
    scheduler_files::descriptor(r, file_url)
}

/// Builds the envelope of one attempt. `data` is `job.data` (`{}` when absent); `files` the
/// scheduler's attachments as [`file_item`]s, in order (`job.files` is not read).
pub fn envelope(
    fire: &LeasedFire,
    ctx: &DeliveryContext,
    workflow_id: Option<&str>,
    files: Vec<Value>,
    fired_at: DateTime<Utc>,
) -> Value {
    let mut m = Map::new();
    m.insert("fire_id".into(), Value::String(fire.id.to_string()));
    m.insert(
        "scheduler_id".into(),
        Value::String(fire.scheduler_id.clone()),
    );
    m.insert(
        "organization_id".into(),
        Value::String(fire.organization_id.clone()),
    );
    m.insert("user_id".into(), Value::String(ctx.created_by.clone()));
    m.insert("event_type".into(), Value::String(ctx.event_type.clone()));
    m.insert("name".into(), Value::String(ctx.name.clone()));
    m.insert(
        "scheduled_for".into(),
        Value::String(rfc3339_ms(fire.scheduled_for)),
    );
    // Only with a flexible window: the planned delivery instant inside it.
    if let Some(at) = fire.deliver_at {
        m.insert("deliver_at".into(), Value::String(rfc3339_ms(at)));
    }
    m.insert("fired_at".into(), Value::String(rfc3339_ms(fired_at)));
    m.insert("attempt".into(), Value::from(fire.attempts));
    if let Some(w) = workflow_id {
        m.insert("workflow_id".into(), Value::String(w.to_owned()));
    }
    if fire.manual {
        m.insert("manual".into(), Value::Bool(true));
    }
    if fire.late {
        m.insert("late".into(), Value::Bool(true));
        m.insert("skipped_slots".into(), Value::from(fire.skipped_slots));
    }
    let data = match ctx.job.get("data") {
        Some(Value::Object(d)) => Value::Object(d.clone()),
        _ => Value::Object(Map::new()),
    };
    m.insert("data".into(), data);
    m.insert("files".into(), Value::Array(files));
    Value::Object(m)
}
