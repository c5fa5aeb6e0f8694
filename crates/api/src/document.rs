//! What the API sends back: scheduler documents, fires, pages.

use chrono::{DateTime, SecondsFormat, Utc};
use scheduler_store::fires::FireRecord;
use scheduler_store::schedulers::SchedulerRecord;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// Every instant the API shows: RFC 3339, UTC, milliseconds (`2024-09-11T14:35:00.000Z`).
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn opt_time(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(format_time)
}

/// A scheduler as the seed API shows it, plus this service's timing and run-state fields.
/// Absent optional values are `null`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SchedulerDocument {
    /// 24 lowercase hex characters, time-ordered.
    #[serde(rename = "_id")]
    #[schema(example = "66e1481283adbddb9ad6b8ff")]
    pub id: String,
    /// `recurring` or `non_recurring`.
    #[serde(rename = "type")]
    #[schema(example = "recurring")]
    pub kind: String,
    pub name: String,
    pub event_type: String,
    pub description: String,
    #[schema(value_type = Option<Object>)]
    pub options: Option<Value>,
    /// The job as given (`type` kafka with `topic`, or webhook with `url`).
    #[schema(value_type = Object)]
    pub job: Value,
    pub organization_id: String,
    pub internal_id: Option<String>,
    /// minutes, hours, days, weeks, months, years or cron.
    pub trigger_frequency_unit: Option<String>,
    pub trigger_frequency_value: Option<i32>,
    pub trigger_time: Option<String>,
    /// (sic) the seed API's spelling.
    pub triger_month_and_day: Option<String>,
    /// Same instant as `start_datetime`.
    pub start_date: String,
    /// Same instant as `start_datetime`.
    pub start_time: String,
    #[schema(example = "2024-09-11T14:35:00.000Z")]
    pub start_datetime: String,
    pub one_time_schedule_type: Option<String>,
    pub is_paused: bool,
    pub is_finished: bool,
    pub channel_source: String,
    pub created_by: Option<String>,
    pub updated_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// IANA time zone name the calendar arithmetic runs in.
    pub timezone: String,
    pub cron_expression: Option<String>,
    /// EventBridge form, as given: `rate(5 minutes)` (minute(s), hour(s), day(s); fixed
    /// durations from `start_datetime`), `cron(0 12 ? * MON-FRI *)` (six fields, exactly one
    /// of the day fields `?`, days of week 1-7 from SUN) or `at(2027-03-01T09:00:00)` (in
    /// `timezone`, a one-shot). Stands instead of `trigger_frequency_unit`,
    /// `trigger_frequency_value`, `cron_expression`, `trigger_time` and `triger_month_and_day`,
    /// never beside them (400).
    #[schema(example = "rate(5 minutes)")]
    pub schedule_expression: Option<String>,
    /// 0 (off, the default) to 1440: each slot is delivered at a point of
    /// `[slot, slot + window)` fixed by the scheduler id and the slot; `scheduled_for` stays the
    /// slot.
    #[schema(minimum = 0, maximum = 1440, example = 15)]
    pub flexible_time_window_minutes: i32,
    pub end_datetime: Option<String>,
    pub max_fires: Option<i64>,
    /// fire_once, skip or fire_all.
    pub misfire_policy: String,
    /// Null when paused or finished.
    pub next_fire_at: Option<String>,
    pub last_fired_at: Option<String>,
    pub fire_count: i64,
}

impl From<&SchedulerRecord> for SchedulerDocument {
    fn from(r: &SchedulerRecord) -> Self {
        let start = format_time(r.start_datetime);
        Self {
            id: r.id.clone(),
            kind: r.kind.clone(),
            name: r.name.clone(),
            event_type: r.event_type.clone(),
            description: r.description.clone(),
            options: r.options.clone(),
            job: r.job.clone(),
            organization_id: r.organization_id.clone(),
            internal_id: r.internal_id.clone(),
            trigger_frequency_unit: r.trigger_frequency_unit.clone(),
            trigger_frequency_value: r.trigger_frequency_value,
            trigger_time: opt_time(r.trigger_time),
            triger_month_and_day: opt_time(r.triger_month_and_day),
            start_date: start.clone(),
            start_time: start.clone(),
            start_datetime: start,
            one_time_schedule_type: r.one_time_schedule_type.clone(),
            is_paused: r.is_paused,
            is_finished: r.is_finished,
            channel_source: r.channel_source.clone(),
            created_by: Some(r.created_by.clone()),
            updated_by: r.updated_by.clone(),
            created_at: format_time(r.created_at),
            updated_at: format_time(r.updated_at),
            timezone: r.timezone.clone(),
            cron_expression: r.cron_expression.clone(),
            schedule_expression: r.schedule_expression.clone(),
            flexible_time_window_minutes: r.flexible_time_window_minutes,
            end_datetime: opt_time(r.end_datetime),
            max_fires: r.max_fires,
            misfire_policy: r.misfire_policy.clone(),
            next_fire_at: opt_time(r.next_fire_at),
            last_fired_at: opt_time(r.last_fired_at),
            fire_count: r.fire_count,
        }
    }
}

/// One page of schedulers, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SchedulerPage {
    pub data: Vec<SchedulerDocument>,
    /// Items in `data`.
    pub count: usize,
    /// All matches.
    pub total: i64,
    /// `skip + count < total`.
    pub has_more: bool,
}

/// One fire of a scheduler: a slot of its timing or a manual run.
#[derive(Debug, Serialize, ToSchema)]
pub struct FireItem {
    #[schema(example = "01920b6e-8c5a-7d4e-9f1a-2b3c4d5e6f70")]
    pub fire_id: String,
    pub scheduled_for: String,
    /// When the fire is planned to be delivered: `scheduled_for` plus the scheduler's flexible
    /// window offset (equal to `scheduled_for` without a window, and for manual runs).
    pub deliver_at: String,
    /// pending, delivering, delivered, retrying, dead or cancelled.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub delivered_at: Option<String>,
    /// Fired after its slot (downtime, or a one-shot whose instant had passed).
    pub late: bool,
    /// Slots folded into this late fire (misfire policy `fire_once`).
    pub skipped_slots: i32,
    /// Started by `POST .../run`.
    pub manual: bool,
    pub created_at: String,
    /// For a dead fire when a dead-letter topic is set: `pending` until it was produced to the
    /// topic, then `sent`; null when no dead letter is owed.
    pub dead_letter: Option<String>,
}

impl From<&FireRecord> for FireItem {
    fn from(f: &FireRecord) -> Self {
        Self {
            fire_id: f.id.to_string(),
            scheduled_for: format_time(f.scheduled_for),
            deliver_at: format_time(f.deliver_at.unwrap_or(f.scheduled_for)),
            status: f.status.clone(),
            attempts: f.attempts,
            last_error: f.last_error.clone(),
            delivered_at: opt_time(f.delivered_at),
            late: f.late,
            skipped_slots: f.skipped_slots,
            manual: f.manual,
            created_at: format_time(f.created_at),
            dead_letter: f.dead_letter.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FirePage {
    pub data: Vec<FireItem>,
    pub count: usize,
    pub total: i64,
    pub has_more: bool,
}

/// The next fire instants of a scheduler.
#[derive(Debug, Serialize, ToSchema)]
pub struct Preview {
    /// The slots (`scheduled_for`), as before flexible windows existed.
    #[schema(example = json!(["2024-09-11T14:35:00.000Z"]))]
    pub data: Vec<String>,
    /// The same slots with their planned delivery, in the same order.
    pub items: Vec<PreviewItem>,
}

/// One upcoming slot and when it is planned to be delivered.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewItem {
    #[schema(example = "2024-09-11T14:35:00.000Z")]
    pub scheduled_for: String,
    /// `scheduled_for` plus the flexible window's offset for this scheduler and slot (equal to
    /// it when the window is 0). Null in the preview of an unsaved document with a window: the
    /// offset depends on the id the scheduler gets when it is created.
    #[schema(example = "2024-09-11T14:41:07.219Z")]
    pub deliver_at: Option<String>,
}

impl Preview {
    /// The preview of `slots` of `schedule`; `scheduler_id` is `None` for an unsaved document.
    pub fn new(
        schedule: &scheduler_core::Schedule,
        scheduler_id: Option<&str>,
        slots: Vec<DateTime<Utc>>,
    ) -> Self {
        let windowed = schedule.flexible_window_minutes() > 0;
        let items = slots
            .iter()
            .map(|&slot| PreviewItem {
                scheduled_for: format_time(slot),
                deliver_at: match scheduler_id {
                    _ if !windowed => Some(format_time(slot)),
                    Some(id) => Some(format_time(schedule.delivery_instant(id, slot))),
                    None => None,
                },
            })
            .collect();
        Self {
            data: slots.into_iter().map(format_time).collect(),
            items,
        }
    }
}

/// `{"message": ...}` on success, as the seed's delete answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageBody {
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_have_milliseconds_and_z() {
        let t = DateTime::parse_from_rfc3339("2024-09-11T14:35:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(format_time(t), "2024-09-11T14:35:00.000Z");
        let t = DateTime::parse_from_rfc3339("2024-10-16T17:30:15.463789+08:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(format_time(t), "2024-10-16T09:30:15.463Z");
    }
}
