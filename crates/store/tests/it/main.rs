//! Store tests on a real Postgres, a fresh database each.

mod attachments;
mod claim;
mod delivery;
mod retention;
mod schedulers;
mod tenancy;

use chrono::{DateTime, TimeZone as _, Utc};
use scheduler_store::schedulers::SchedulerRecord;

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("rfc3339")
        .with_timezone(&Utc)
}

pub fn epoch() -> DateTime<Utc> {
    Utc.timestamp_opt(0, 0).single().expect("epoch")
}

/// A valid every-minute scheduler owned by `org`/`user`.
pub fn record(org: &str, user: &str, id: &str, created_at: DateTime<Utc>) -> SchedulerRecord {
    SchedulerRecord {
        id: id.to_owned(),
        organization_id: org.to_owned(),
        created_by: user.to_owned(),
        updated_by: Some(user.to_owned()),
        kind: "recurring".into(),
        name: format!("scheduler {id}"),
        event_type: "whatsapp".into(),
        description: String::new(),
        options: None,
        job: serde_json::json!({"type": "kafka", "topic": "ROUTER.OUTGOING_MESSAGE", "data": {}}),
        internal_id: None,
        channel_source: String::new(),
        trigger_frequency_unit: Some("minutes".into()),
        trigger_frequency_value: Some(1),
        trigger_time: None,
        triger_month_and_day: None,
        start_datetime: created_at,
        one_time_schedule_type: None,
        timezone: "UTC".into(),
        cron_expression: None,
        schedule_expression: None,
        flexible_time_window_minutes: 0,
        end_datetime: None,
        max_fires: None,
        misfire_policy: "fire_once".into(),
        is_paused: false,
        is_finished: false,
        next_fire_at: Some(created_at),
        last_fired_at: None,
        fire_count: 0,
        created_at,
        updated_at: created_at,
    }
}

pub fn hex_id(n: u64) -> String {
    format!("{n:024x}")
}
