//! From a request's JSON object to the validated fields of a scheduler. Create validates the
//! body; update validates the stored document with the body merged over it, by the same rules.

use chrono::{DateTime, Utc};
use scheduler_core::{Schedule, ScheduleKind};
use scheduler_store::schedulers::SchedulerRecord;
use serde_json::{Map, Value};

use crate::ApiError;
use scheduler_core::job::validate_job;

const MAX_NAME: usize = 512;
const MAX_EVENT_TYPE: usize = 256;
const MAX_DESCRIPTION: usize = 10_000;
const MAX_CHANNEL_SOURCE: usize = 256;
const MAX_INTERNAL_ID: usize = 512;

/// The timing fields, read by the core crate's `Schedule::from_json`.
pub(crate) const TIMING_KEYS: [&str; 14] = [
    "type",
    "one_time_schedule_type",
    "trigger_frequency_unit",
    "trigger_frequency_value",
    "trigger_time",
    "triger_month_and_day",
    "start_datetime",
    "timezone",
    "cron_expression",
    "end_datetime",
    "max_fires",
    "misfire_policy",
    "schedule_expression",
    "flexible_time_window_minutes",
];

/// The fields a `schedule_expression` stands instead of (the core crate refuses both at once).
const REPLACED_BY_EXPRESSION: [&str; 5] = [
    "trigger_frequency_unit",
    "trigger_frequency_value",
    "cron_expression",
    "trigger_time",
    "triger_month_and_day",
];

const UNITS: [&str; 7] = [
    "minutes", "hours", "days", "weeks", "months", "years", "cron",
];

/// The non-timing fields a client may set.
const DOCUMENT_KEYS: [&str; 8] = [
    "name",
    "event_type",
    "description",
    "options",
    "job",
    "internal_id",
    "channel_source",
    "is_paused",
];

/// The timing of a scheduler as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Timing {
    pub kind: String,
    pub one_time_schedule_type: Option<String>,
    pub trigger_frequency_unit: Option<String>,
    pub trigger_frequency_value: Option<i32>,
    pub trigger_time: Option<DateTime<Utc>>,
    pub triger_month_and_day: Option<DateTime<Utc>>,
    pub start_datetime: DateTime<Utc>,
    pub timezone: String,
    pub cron_expression: Option<String>,
    pub end_datetime: Option<DateTime<Utc>>,
    pub max_fires: Option<i64>,
    pub misfire_policy: String,
    pub schedule_expression: Option<String>,
    pub flexible_time_window_minutes: i32,
}

impl Timing {
    pub(crate) fn of(r: &SchedulerRecord) -> Self {
        Self {
            kind: r.kind.clone(),
            one_time_schedule_type: r.one_time_schedule_type.clone(),
            trigger_frequency_unit: r.trigger_frequency_unit.clone(),
            trigger_frequency_value: r.trigger_frequency_value,
            trigger_time: r.trigger_time,
            triger_month_and_day: r.triger_month_and_day,
            start_datetime: r.start_datetime,
            timezone: r.timezone.clone(),
            cron_expression: r.cron_expression.clone(),
            end_datetime: r.end_datetime,
            max_fires: r.max_fires,
            misfire_policy: r.misfire_policy.clone(),
            schedule_expression: r.schedule_expression.clone(),
            flexible_time_window_minutes: r.flexible_time_window_minutes,
        }
    }

    /// True when the fire instants differ (the misfire policy only says what to do with missed
    /// slots, and the flexible window only when each slot is delivered, so changing them alone
    /// does not move `next_fire_at`).
    pub(crate) fn moves_slots(&self, other: &Self) -> bool {
        let mut a = self.clone();
        a.misfire_policy.clone_from(&other.misfire_policy);
        a.flexible_time_window_minutes = other.flexible_time_window_minutes;
        a != *other
    }

    pub(crate) fn apply(self, r: &mut SchedulerRecord) {
        r.kind = self.kind;
        r.one_time_schedule_type = self.one_time_schedule_type;
        r.trigger_frequency_unit = self.trigger_frequency_unit;
        r.trigger_frequency_value = self.trigger_frequency_value;
        r.trigger_time = self.trigger_time;
        r.triger_month_and_day = self.triger_month_and_day;
        r.start_datetime = self.start_datetime;
        r.timezone = self.timezone;
        r.cron_expression = self.cron_expression;
        r.end_datetime = self.end_datetime;
        r.max_fires = self.max_fires;
        r.misfire_policy = self.misfire_policy;
        r.schedule_expression = self.schedule_expression;
        r.flexible_time_window_minutes = self.flexible_time_window_minutes;
    }
}

/// A validated scheduler document, not yet stored.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    pub name: String,
    pub event_type: String,
    pub description: String,
    pub options: Option<Value>,
    pub job: Value,
    pub internal_id: Option<String>,
    pub channel_source: String,
    pub is_paused: bool,
    pub timing: Timing,
}

impl Draft {
    /// Validates a whole document. `name`, `event_type` and `job` are checked first, in that
    /// order, with the seed API's messages.
    pub(crate) fn from_map(doc: &Map<String, Value>) -> Result<Self, ApiError> {
        let name = required_string(doc, "name", MAX_NAME)?;
        let event_type = required_string(doc, "event_type", MAX_EVENT_TYPE)?;
        let job = match doc.get("job") {
            None | Some(Value::Null) => return Err(ApiError::bad_request("job is required")),
            Some(job) => job,
        };
        let description = optional_string(doc, "description", MAX_DESCRIPTION)?.unwrap_or_default();
        let channel_source =
            optional_string(doc, "channel_source", MAX_CHANNEL_SOURCE)?.unwrap_or_default();
        let internal_id = optional_string(doc, "internal_id", MAX_INTERNAL_ID)?;
        let options = match doc.get("options") {
            None | Some(Value::Null) => None,
            Some(v) if scheduler_core::job::contains_nul(v) => {
                return Err(ApiError::bad_request(
                    "options must not contain NUL characters (\\u0000)",
                ))
            }
            Some(v) => Some(v.clone()),
        };
        let is_paused = match doc.get("is_paused") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(ApiError::bad_request("is_paused must be a boolean")),
        };
        let (job, _spec) = validate_job(job).map_err(|e| ApiError::BadRequest(e.message))?;
        let timing = timing(doc)?;
        Ok(Self {
            name,
            event_type,
            description,
            options,
            job,
            internal_id,
            channel_source,
            is_paused,
            timing,
        })
    }

    /// Writes the client-editable fields into `r` (the run state is the caller's).
    pub(crate) fn apply(self, r: &mut SchedulerRecord) {
        r.name = self.name;
        r.event_type = self.event_type;
        r.description = self.description;
        r.options = self.options;
        r.job = self.job;
        r.internal_id = self.internal_id;
        r.channel_source = self.channel_source;
        r.is_paused = self.is_paused;
        self.timing.apply(r);
    }
}

/// The seed's older documents give the start as `start_date` (`start_time` is not used: old
/// documents hold a bare time of day there); when `start_datetime` is absent, `start_date`
/// stands for it, as in the core crate.
pub(crate) fn start_alias(body: &Map<String, Value>) -> Option<&Value> {
    if body.contains_key("start_datetime") {
        return None;
    }
    body.get("start_date")
}

/// The document to validate on update: the stored one with the body's fields over it (a field
/// given as `null` falls back to its default).
pub(crate) fn merged(stored: &SchedulerRecord, body: &Map<String, Value>) -> Map<String, Value> {
    let mut doc = stored.timing_json();
    doc.insert("name".into(), Value::String(stored.name.clone()));
    doc.insert(
        "event_type".into(),
        Value::String(stored.event_type.clone()),
    );
    doc.insert(
        "description".into(),
        Value::String(stored.description.clone()),
    );
    doc.insert(
        "options".into(),
        stored.options.clone().unwrap_or(Value::Null),
    );
    doc.insert("job".into(), stored.job.clone());
    doc.insert(
        "internal_id".into(),
        stored
            .internal_id
            .clone()
            .map_or(Value::Null, Value::String),
    );
    doc.insert(
        "channel_source".into(),
        Value::String(stored.channel_source.clone()),
    );
    doc.insert("is_paused".into(), Value::Bool(stored.is_paused));
    switch_timing_form(&mut doc, body);
    for key in TIMING_KEYS.iter().chain(DOCUMENT_KEYS.iter()) {
        if let Some(v) = body.get(*key) {
            doc.insert((*key).to_owned(), v.clone());
        }
    }
    if let Some(start) = start_alias(body) {
        doc.insert("start_datetime".into(), start.clone());
    }
    // The file routes add `files` and `scheduler_id` to the job; a JSON update that replaces
    // the job keeps them, since the attachments themselves stay.
    if let (Some(Value::Object(new_job)), Value::Object(old_job)) =
        (doc.get_mut("job"), &stored.job)
    {
        for key in ["files", "scheduler_id"] {
            if let (false, Some(v)) = (new_job.contains_key(key), old_job.get(key)) {
                new_job.insert(key.to_owned(), v.clone());
            }
        }
    }
    doc
}

/// An update may switch between a `schedule_expression` and the frequency / cron fields: the
/// stored fields of the other form are dropped (with the stored `type`, which the expression
/// decided), so only a body that gives both forms at once is refused.
fn switch_timing_form(doc: &mut Map<String, Value>, body: &Map<String, Value>) {
    let given = |v: Option<&Value>| match v {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    };
    let body_expression = given(body.get("schedule_expression"));
    let body_frequency = REPLACED_BY_EXPRESSION.iter().any(|k| given(body.get(*k)));
    let stored_expression = given(doc.get("schedule_expression"));
    if body_expression && !body_frequency {
        for key in REPLACED_BY_EXPRESSION {
            doc.remove(key);
        }
        doc.remove("type");
    } else if body_frequency && !body_expression && stored_expression {
        doc.remove("schedule_expression");
        doc.remove("type");
    }
}

fn required_string(doc: &Map<String, Value>, field: &str, max: usize) -> Result<String, ApiError> {
    match doc.get(field) {
        None | Some(Value::Null) => Err(ApiError::bad_request(format!("{field} is required"))),
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(ApiError::bad_request(format!("{field} is required")))
        }
        Some(Value::String(s)) => {
            check_len(field, s, max)?;
            Ok(s.clone())
        }
        Some(_) => Err(ApiError::bad_request(format!("{field} must be a string"))),
    }
}

fn optional_string(
    doc: &Map<String, Value>,
    field: &str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match doc.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            check_len(field, s, max)?;
            Ok(Some(s.clone()))
        }
        Some(_) => Err(ApiError::bad_request(format!("{field} must be a string"))),
    }
}

fn check_len(field: &str, s: &str, max: usize) -> Result<(), ApiError> {
    if s.chars().count() > max {
        return Err(ApiError::bad_request(format!(
            "{field} must be at most {max} characters"
        )));
    }
    if s.contains('\0') {
        return Err(ApiError::bad_request(format!(
            "{field} must not contain NUL characters"
        )));
    }
    Ok(())
}

/// Validates the timing with the core crate, then reads the values to store: the normalized
/// ones from the validated schedule, the rest as given. For `non_recurring` documents the
/// recurrence fields are not checked (the seed API keeps stale ones there); they are stored
/// when readable and dropped when not.
fn timing(doc: &Map<String, Value>) -> Result<Timing, ApiError> {
    let mut input = Map::new();
    for key in TIMING_KEYS {
        if let Some(v) = doc.get(key) {
            input.insert(key.to_owned(), v.clone());
        }
    }
    if let Some(start) = start_alias(doc) {
        input.insert("start_datetime".into(), start.clone());
    }
    let schedule = Schedule::from_json(&input)?;
    let recurring = schedule.kind() == ScheduleKind::Recurring;

    // Only `exact` exists; the core crate checks it for one-shots, and it is refused for
    // recurring ones too rather than stored unchecked.
    let one_time_schedule_type = match input.get("one_time_schedule_type") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) if s == "exact" => Some(s.clone()),
        Some(_) => {
            return Err(ApiError::bad_request(
                "one_time_schedule_type must be one of: exact",
            ))
        }
    }
    .or_else(|| (!recurring).then(|| "exact".to_owned()));
    let (trigger_frequency_unit, trigger_frequency_value) = match schedule.frequency() {
        Some(f) => (
            Some(f.unit().to_owned()),
            match f.value() {
                Some(v) => Some(i32::try_from(v).map_err(|_| {
                    ApiError::bad_request(
                        "trigger_frequency_value must be an integer from 1 to 1000000",
                    )
                })?),
                // Ignored for cron: kept as given when it is a plain integer.
                None => stale_int(&input, "trigger_frequency_value"),
            },
        ),
        // Stale recurrence fields of a one-shot: kept only when they are valid values.
        None => (
            opt_str(&input, "trigger_frequency_unit")
                .ok()
                .flatten()
                .filter(|u| UNITS.contains(&u.as_str())),
            stale_int(&input, "trigger_frequency_value"),
        ),
    };
    let (trigger_time, triger_month_and_day) = if recurring {
        (
            opt_time(&input, "trigger_time")?,
            opt_time(&input, "triger_month_and_day")?,
        )
    } else {
        (
            opt_time(&input, "trigger_time").ok().flatten(),
            opt_time(&input, "triger_month_and_day").ok().flatten(),
        )
    };
    let cron_expression = match schedule.frequency().and_then(|f| f.cron()) {
        Some(c) => Some(c.as_str().to_owned()),
        // Ignored by this timing: kept only when it is a valid expression.
        None => opt_str(&input, "cron_expression")
            .ok()
            .flatten()
            .filter(|c| scheduler_core::CronExpr::parse(c).is_ok()),
    };
    // A schedule expression stands instead of the frequency and cron fields: they are stored
    // empty (the core crate refused a document giving both).
    let from_expression = schedule.expression().is_some();
    let (trigger_frequency_unit, trigger_frequency_value, cron_expression) = if from_expression {
        (None, None, None)
    } else {
        (
            trigger_frequency_unit,
            trigger_frequency_value,
            cron_expression,
        )
    };
    let (trigger_time, triger_month_and_day) = if from_expression {
        (None, None)
    } else {
        (trigger_time, triger_month_and_day)
    };
    let flexible_time_window_minutes =
        i32::try_from(schedule.flexible_window_minutes()).unwrap_or(i32::MAX);
    Ok(Timing {
        kind: schedule.kind().as_str().to_owned(),
        one_time_schedule_type,
        trigger_frequency_unit,
        trigger_frequency_value,
        trigger_time,
        triger_month_and_day,
        start_datetime: schedule.start(),
        timezone: schedule.timezone().name().to_owned(),
        cron_expression,
        end_datetime: schedule.end(),
        max_fires: schedule.max_fires().map(i64::from),
        misfire_policy: schedule.misfire_policy().as_str().to_owned(),
        schedule_expression: schedule.expression().map(str::to_owned),
        flexible_time_window_minutes,
    })
}

fn stale_int(doc: &Map<String, Value>, field: &str) -> Option<i32> {
    doc.get(field)
        .and_then(Value::as_i64)
        .and_then(|v| i32::try_from(v).ok())
}

fn opt_str(doc: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    match doc.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_request(format!("{field} must be a string"))),
    }
}

/// An optional RFC 3339 field; `""` counts as absent (form-built clients send it for blanks),
/// as in the core crate.
fn opt_time(doc: &Map<String, Value>, field: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    match doc.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s.trim())
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| {
                ApiError::bad_request(format!(
                    "{field} must be an RFC 3339 date-time such as 2024-09-11T14:35:00.000Z"
                ))
            }),
        Some(_) => Err(ApiError::bad_request(format!(
            "{field} must be an RFC 3339 date-time such as 2024-09-11T14:35:00.000Z"
        ))),
    }
}
