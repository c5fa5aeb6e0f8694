//! The JSON every delivery carries (SPEC 6), the same for Kafka and webhooks.

use chrono::{DateTime, SecondsFormat, Utc};
use scheduler_store::attachments::AttachmentRecord;
use scheduler_store::fires::{DeliveryContext, LeasedFire};
use serde::Serialize;
use serde_json::Value;

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

/// The envelope of one attempt, borrowing from the fire and its context: serialized straight
/// to bytes, with no intermediate JSON map and no copy of `job.data`.
#[derive(Debug, Serialize)]
pub struct Envelope<'a> {
    fire_id: String,
    scheduler_id: &'a str,
    organization_id: &'a str,
    user_id: &'a str,
    event_type: &'a str,
    name: &'a str,
    scheduled_for: String,
    /// Only with a flexible window: the planned delivery instant inside it.
    #[serde(skip_serializing_if = "Option::is_none")]
    deliver_at: Option<String>,
    fired_at: String,
    attempt: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    workflow_id: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    manual: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    late: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped_slots: Option<i32>,
    /// `job.data`, `{}` when absent or not an object.
    data: &'a Value,
    files: Vec<Value>,
    /// Dead letters only: why the fire went dead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<&'a str>,
}

impl Envelope<'_> {
    pub fn to_bytes(&self) -> Vec<u8> {
        // Strings, numbers and JSON values only: serializing cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

static EMPTY_OBJECT: std::sync::LazyLock<Value> =
    std::sync::LazyLock::new(|| Value::Object(serde_json::Map::new()));

/// Builds the envelope of one attempt. `data` is `job.data` (`{}` when absent); `files` the
/// scheduler's attachments as [`file_item`]s, in order (`job.files` is not read).
pub fn envelope<'a>(
    fire: &'a LeasedFire,
    ctx: &'a DeliveryContext,
    workflow_id: Option<&'a str>,
    files: Vec<Value>,
    fired_at: DateTime<Utc>,
) -> Envelope<'a> {
    let data = match ctx.job.get("data") {
        Some(d @ Value::Object(_)) => d,
        _ => &EMPTY_OBJECT,
    };
    Envelope {
        fire_id: fire.id.to_string(),
        scheduler_id: &fire.scheduler_id,
        organization_id: &fire.organization_id,
        user_id: &ctx.created_by,
        event_type: &ctx.event_type,
        name: &ctx.name,
        scheduled_for: rfc3339_ms(fire.scheduled_for),
        deliver_at: fire.deliver_at.map(rfc3339_ms),
        fired_at: rfc3339_ms(fired_at),
        attempt: fire.attempts,
        workflow_id,
        manual: fire.manual,
        late: fire.late,
        skipped_slots: fire.late.then_some(fire.skipped_slots),
        data,
        files,
        last_error: None,
    }
}
