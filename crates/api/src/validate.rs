//! From a request's JSON object to the validated fields of a scheduler. Create validates the
//! body; update validates the stored document with the body merged over it, by the same rules.

use chrono::{DateTime, Datelike as _, Utc};
use scheduler_core::{Schedule, ScheduleKind};
use scheduler_store::schedulers::SchedulerRecord;
use serde_json::{Map, Value};

use crate::ApiError;
use scheduler_core::job::validate_job;
use scheduler_core::{CronExpr, ScheduleExpression, MAX_FLEXIBLE_WINDOW_MINUTES};

pub(crate) const MAX_NAME: usize = 512;
pub(crate) const MAX_EVENT_TYPE: usize = 256;
pub(crate) const MAX_DESCRIPTION: usize = 10_000;
pub(crate) const MAX_CHANNEL_SOURCE: usize = 256;
pub(crate) const MAX_INTERNAL_ID: usize = 512;

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
pub(crate) const REPLACED_BY_EXPRESSION: [&str; 5] = [
    "trigger_frequency_unit",
    "trigger_frequency_value",
    "cron_expression",
    "trigger_time",
    "triger_month_and_day",
];

pub(crate) const UNITS: [&str; 7] = [
    "minutes", "hours", "days", "weeks", "months", "years", "cron",
];

pub(crate) const KINDS: [&str; 2] = ["recurring", "non_recurring"];
pub(crate) const MISFIRE_POLICIES: [&str; 3] = ["fire_once", "skip", "fire_all"];
/// `trigger_frequency_value` (and a `rate(...)` value): 1 to this.
pub(crate) const MAX_FREQUENCY_VALUE: u64 = 1_000_000;
/// `max_fires`: 1 to this.
pub(crate) const MAX_FIRES: u64 = u32::MAX as u64;

/// The date-time fields of a scheduler body: RFC 3339 (`""` counts as absent).
pub(crate) const DATETIME_KEYS: [&str; 5] = [
    "trigger_time",
    "triger_month_and_day",
    "start_datetime",
    "start_date",
    "end_datetime",
];

/// The non-timing fields a client may set.
pub(crate) const DOCUMENT_KEYS: [&str; 8] = [
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
    /// Validates a whole document (a create's body): `name`, `event_type` and `job` first, in
    /// that order, with the seed API's messages, then every field on its own
    /// ([`check_fields`]), then the scheduler they make.
    pub(crate) fn from_map(doc: &Map<String, Value>) -> Result<Self, ApiError> {
        Self::read(doc, true)
    }

    /// Validates the scheduler an update makes ([`merged`]): its body was checked on its own
    /// already ([`check_fields`]), and the stored fields were when they were written (a stored
    /// instant past year 9999 is not an RFC 3339 string any more, and stays valid).
    pub(crate) fn from_merged(doc: &Map<String, Value>) -> Result<Self, ApiError> {
        Self::read(doc, false)
    }

    fn read(doc: &Map<String, Value>, each_field: bool) -> Result<Self, ApiError> {
        let name = required_string(doc, "name", MAX_NAME)?;
        let event_type = required_string(doc, "event_type", MAX_EVENT_TYPE)?;
        let job = match doc.get("job") {
            None | Some(Value::Null) => return Err(ApiError::bad_request("job is required")),
            Some(job) => job,
        };
        let job = prepare_job(job)?;
        if each_field {
            check_fields(doc)?;
        }
        let description = optional_string(doc, "description", MAX_DESCRIPTION)?.unwrap_or_default();
        let channel_source =
            optional_string(doc, "channel_source", MAX_CHANNEL_SOURCE)?.unwrap_or_default();
        let internal_id = optional_string(doc, "internal_id", MAX_INTERNAL_ID)?;
        let options = doc.get("options").filter(|v| !v.is_null()).cloned();
        let is_paused = match doc.get("is_paused") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(ApiError::bad_request("is_paused must be a boolean")),
        };
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
/// documents hold a bare time of day there); when `start_datetime` is absent, null or `""`,
/// `start_date` stands for it, as in the core crate.
pub(crate) fn start_alias(body: &Map<String, Value>) -> Option<&Value> {
    match body.get("start_datetime") {
        None | Some(Value::Null) => body.get("start_date"),
        Some(Value::String(s)) if s.is_empty() => body.get("start_date"),
        Some(_) => None,
    }
}

/// The document to validate on update: the stored one with the body's fields over it (a field
/// given as `null` falls back to its default).
pub(crate) fn merged(stored: &SchedulerRecord, body: &Map<String, Value>) -> Map<String, Value> {
    let mut doc = stored.timing_json();
    // A start given as 9999-12-31T23:59:59.999-23:59 is stored as an instant in year 10000,
    // which UTC's RFC 3339 cannot write (and 0000-01-01T00:00:00+23:59 one in year -1): such
    // instants are written back with the offset that brings them into years 0000-9999.
    for (key, instant) in [
        ("start_datetime", Some(stored.start_datetime)),
        ("end_datetime", stored.end_datetime),
        ("trigger_time", stored.trigger_time),
        ("triger_month_and_day", stored.triger_month_and_day),
    ] {
        if let Some(t) = instant.filter(|t| !(0..=9999).contains(&t.year())) {
            doc.insert(key.to_owned(), Value::String(rfc3339_in_range(t)));
        }
    }
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

/// `t` in RFC 3339 with a four-digit year: UTC when it has one, else at the offset (±23:59)
/// that gives it one; the nearest such writing for instants further out.
fn rfc3339_in_range(t: DateTime<Utc>) -> String {
    let offset = if t.year() > 9999 {
        -(23 * 3600 + 59 * 60)
    } else {
        23 * 3600 + 59 * 60
    };
    let zone = chrono::FixedOffset::east_opt(offset)
        .unwrap_or(chrono::FixedOffset::east_opt(0).expect("UTC"));
    t.with_timezone(&zone)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
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

/// Checks each field of a scheduler body on its own, as the document's `SchedulerUpdate` schema
/// states it: types, enums, bounds, formats, and the pairs one body cannot give together (a
/// `schedule_expression` beside the fields it stands for, or beside a `type` of the other
/// kind). Whether the fields make a whole scheduler (required ones, `end_datetime` after the
/// start) is the caller's next step: [`Draft::from_map`]. An update is refused with 400 here,
/// and with 409 when only the scheduler it would produce is invalid.
pub(crate) fn check_fields(doc: &Map<String, Value>) -> Result<(), ApiError> {
    for (field, max) in [("name", MAX_NAME), ("event_type", MAX_EVENT_TYPE)] {
        if doc.contains_key(field) {
            required_string(doc, field, max)?;
        }
    }
    match doc.get("job") {
        None => {}
        Some(Value::Null) => return Err(ApiError::bad_request("job is required")),
        Some(job) => {
            prepare_job(job)?;
        }
    }
    optional_string(doc, "description", MAX_DESCRIPTION)?;
    optional_string(doc, "channel_source", MAX_CHANNEL_SOURCE)?;
    optional_string(doc, "internal_id", MAX_INTERNAL_ID)?;
    if doc
        .get("options")
        .is_some_and(scheduler_core::job::contains_nul)
    {
        return Err(ApiError::bad_request(
            "options must not contain NUL characters (\\u0000)",
        ));
    }
    if !matches!(
        doc.get("is_paused"),
        None | Some(Value::Null | Value::Bool(_))
    ) {
        return Err(ApiError::bad_request("is_paused must be a boolean"));
    }
    check_timing_fields(doc)
}

fn one_of(doc: &Map<String, Value>, field: &str, allowed: &[&str]) -> Result<(), ApiError> {
    match doc.get(field) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(()),
        Some(_) => {
            let shown: Vec<&str> = allowed.iter().copied().filter(|a| !a.is_empty()).collect();
            Err(ApiError::bad_request(format!(
                "{field} must be one of: {}",
                shown.join(", ")
            )))
        }
    }
}

/// A JSON integer, or a float without a fraction (`30.0`), within `min..=max`: what JSON
/// Schema's `integer` admits.
pub(crate) fn whole_number(v: &Value, min: u64, max: u64) -> Option<u64> {
    let Value::Number(n) = v else {
        return None;
    };
    let value = if let Some(u) = n.as_u64() {
        u
    } else if n.is_i64() {
        return None;
    } else {
        let f = n.as_f64()?;
        if !(f.is_finite() && f.fract() == 0.0 && f >= 0.0 && f <= max as f64) {
            return None;
        }
        f as u64
    };
    (min..=max).contains(&value).then_some(value)
}

fn integer(doc: &Map<String, Value>, field: &str, min: u64, max: u64) -> Result<(), ApiError> {
    match doc.get(field) {
        None | Some(Value::Null) => Ok(()),
        Some(v) if whole_number(v, min, max).is_some() => Ok(()),
        Some(_) => Err(ApiError::bad_request(format!(
            "{field} must be an integer from {min} to {max}"
        ))),
    }
}

/// `""` counts as absent; any other string must be what `check` accepts.
fn string_or_blank(
    doc: &Map<String, Value>,
    field: &str,
    check: impl Fn(&str) -> Result<(), String>,
) -> Result<(), ApiError> {
    match doc.get(field) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if s.is_empty() => Ok(()),
        Some(Value::String(s)) => check(s).map_err(ApiError::BadRequest),
        Some(_) => Err(ApiError::bad_request(format!("{field} must be a string"))),
    }
}

/// The timing fields one by one (see [`check_fields`]). Stricter than the core crate for a
/// one-shot's recurrence fields, which it skips: the document states one rule per field.
fn check_timing_fields(doc: &Map<String, Value>) -> Result<(), ApiError> {
    one_of(doc, "type", &KINDS)?;
    one_of(doc, "one_time_schedule_type", &["exact", ""])?;
    let mut units = UNITS.to_vec();
    units.push("");
    one_of(doc, "trigger_frequency_unit", &units)?;
    integer(doc, "trigger_frequency_value", 1, MAX_FREQUENCY_VALUE)?;
    for field in DATETIME_KEYS {
        string_or_blank(doc, field, |s| {
            if is_rfc3339(s) {
                Ok(())
            } else {
                Err(format!(
                    "{field} must be an RFC 3339 date-time such as 2024-09-11T14:35:00.000Z"
                ))
            }
        })?;
    }
    match doc.get("timezone") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.parse::<chrono_tz::Tz>().is_ok() => {}
        Some(_) => {
            return Err(ApiError::bad_request(
                "timezone must be an IANA time zone name (e.g. UTC, Asia/Hong_Kong)",
            ))
        }
    }
    string_or_blank(doc, "cron_expression", |s| {
        CronExpr::parse(s)
            .map(drop)
            .map_err(|e| format!("cron_expression is invalid: {e}"))
    })?;
    string_or_blank(doc, "schedule_expression", |s| {
        ScheduleExpression::parse(s)
            .map(drop)
            .map_err(|e| format!("schedule_expression is invalid {e}"))
    })?;
    integer(doc, "max_fires", 1, MAX_FIRES)?;
    one_of(doc, "misfire_policy", &MISFIRE_POLICIES)?;
    integer(
        doc,
        "flexible_time_window_minutes",
        0,
        u64::from(MAX_FLEXIBLE_WINDOW_MINUTES),
    )?;
    check_expression_alone(doc)
}

/// A value that counts as given (as the core crate reads it): not null, not `""`.
fn given(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

/// A `schedule_expression` stands instead of the frequency fields, and decides the kind:
/// `at(...)` is a one-shot, `rate(...)` and `cron(...)` recur.
fn check_expression_alone(doc: &Map<String, Value>) -> Result<(), ApiError> {
    let Some(Value::String(expression)) = doc.get("schedule_expression") else {
        return Ok(());
    };
    if expression.is_empty() {
        return Ok(());
    }
    if let Some(other) = REPLACED_BY_EXPRESSION.iter().find(|k| given(doc.get(**k))) {
        return Err(ApiError::bad_request(format!(
            "schedule_expression and {other} cannot both be given: the expression stands \
             instead of trigger_frequency_unit, trigger_frequency_value, cron_expression, \
             trigger_time and triger_month_and_day"
        )));
    }
    let implied = if expression.starts_with("at(") {
        "non_recurring"
    } else {
        "recurring"
    };
    match doc.get("type") {
        Some(Value::String(kind)) if kind != implied => Err(ApiError::bad_request(format!(
            "type {kind} does not match schedule_expression {expression}, which is {} \
             (give type {implied} or leave it out)",
            if implied == "recurring" {
                "recurring"
            } else {
                "a one-time schedule"
            }
        ))),
        _ => Ok(()),
    }
}

/// An RFC 3339 date-time exactly as JSON Schema's `date-time` format reads it (the format the
/// document states): `T` or `t` between date and time, seconds `.fraction` optional, `Z` /
/// `z` or `+hh:mm` / `-hh:mm`, a leap second only at 23:59:60 UTC. chrono's parser, which
/// reads the value afterwards, also takes a space instead of `T` and a leap second at any
/// minute; those are refused here so that the document is exact.
pub(crate) fn is_rfc3339(s: &str) -> bool {
    let Some(t) = s.bytes().position(|b| b == b'T' || b == b't') else {
        return false;
    };
    let (date, time) = (&s.as_bytes()[..t], &s.as_bytes()[t + 1..]);
    valid_date(date) && valid_time(time) && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

fn valid_date(b: &[u8]) -> bool {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Some(year), Some(month), Some(day)) = (digits(&b[..4]), digits(&b[5..7]), digits(&b[8..]))
    else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let last = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=last).contains(&day)
}

fn valid_time(b: &[u8]) -> bool {
    if b.len() < 9 || b[2] != b':' || b[5] != b':' {
        return false;
    }
    let (Some(hour), Some(minute), Some(second)) =
        (digits(&b[..2]), digits(&b[3..5]), digits(&b[6..8]))
    else {
        return false;
    };
    if hour > 23 || minute > 59 || second > 60 {
        return false;
    }
    let mut i = 8;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    let hm = i64::from(hour) * 60 + i64::from(minute);
    match b.get(i) {
        Some(b'Z' | b'z') => i + 1 == b.len() && (second != 60 || hm == 23 * 60 + 59),
        Some(&sign @ (b'+' | b'-')) => {
            let offset = &b[i + 1..];
            if offset.len() != 5 || offset[2] != b':' {
                return false;
            }
            let (Some(oh), Some(om)) = (digits(&offset[..2]), digits(&offset[3..])) else {
                return false;
            };
            if oh > 23 || om > 59 {
                return false;
            }
            if second != 60 {
                return true;
            }
            let offset = i64::from(oh) * 60 + i64::from(om);
            let utc = if sign == b'+' {
                hm - offset
            } else {
                hm + offset
            };
            utc.rem_euclid(24 * 60) == 23 * 60 + 59
        }
        _ => false,
    }
}

/// `job` as it is stored: the core crate's checks, with what the document adds made exact.
/// Whole numbers written as floats (`2035.0`, which JSON Schema's `integer` admits) become
/// integers in `timeout_ms` and `retry`; a webhook's `url` must be [`is_webhook_url`].
pub(crate) fn prepare_job(job: &Value) -> Result<Value, ApiError> {
    let mut job = job.clone();
    if let Value::Object(obj) = &mut job {
        let whole = |v: &mut Value| {
            if let Some(n) = whole_number(v, 0, u64::MAX >> 11) {
                *v = Value::from(n);
            }
        };
        if let Some(v) = obj.get_mut("timeout_ms") {
            whole(v);
        }
        if let Some(Value::Object(retry)) = obj.get_mut("retry") {
            for key in ["max_attempts", "max_age_secs"] {
                if let Some(v) = retry.get_mut(key) {
                    whole(v);
                }
            }
        }
        if obj.get("type").and_then(Value::as_str) == Some("webhook") {
            // Visible ASCII, spaces and tabs (RFC 9110's field values without the obsolete
            // non-ASCII bytes), so that the 4096 limit counts characters and bytes alike.
            if let Some(Value::Object(headers)) = obj.get("headers") {
                let ascii = |v: &str| v.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b));
                if headers
                    .values()
                    .any(|v| v.as_str().is_some_and(|v| !ascii(v)))
                {
                    return Err(ApiError::bad_request(
                        "job.headers values must be visible ASCII characters, spaces and tabs \
                         (at most 4096)",
                    ));
                }
            }
            if let Some(Value::String(url)) = obj.get("url") {
                if !url.trim().is_empty() && !is_webhook_url(url) {
                    return Err(ApiError::bad_request(
                        "job.url must be an absolute http or https URL: a host name (letters, \
                         digits, inner hyphens, the last label starting with a letter) or an \
                         IPv4 address, an optional port, then a path, query and fragment of \
                         URL characters (RFC 3986) and %-escapes",
                    ));
                }
            }
        }
    }
    let (job, _spec) = validate_job(&job).map_err(|e| ApiError::BadRequest(e.message))?;
    Ok(job)
}

/// The longest `job.url`.
pub(crate) const MAX_URL_LEN: usize = 2048;

/// The webhook URLs the service takes, as the document's pattern states them (every one of
/// them is a valid URL to `url::Url` too): `http://` or `https://`, a host name whose labels
/// are letters and digits with inner single hyphens and whose last label starts with a letter
/// (so it is never read as an IPv4 number), or a dotted IPv4 address, an optional port 0 to
/// 65535, then any of RFC 3986's path, query and fragment characters and %-escapes.
pub(crate) fn is_webhook_url(url: &str) -> bool {
    if url.len() > MAX_URL_LEN {
        return false;
    }
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return false;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if let Some(port) = port {
        let canonical =
            port == "0" || (!port.is_empty() && !port.starts_with('0') && port.len() <= 5);
        if !(canonical && digits(port.as_bytes()).is_some_and(|p| p <= 65_535)) {
            return false;
        }
    }
    (is_ipv4(host) || is_host_name(host)) && url_tail(tail)
}

fn is_ipv4(host: &str) -> bool {
    let octets: Vec<&str> = host.split('.').collect();
    octets.len() == 4
        && octets.iter().all(|o| {
            (o.len() == 1 || (!o.starts_with('0') && o.len() <= 3))
                && digits(o.as_bytes()).is_some_and(|n| n <= 255)
        })
}

fn is_host_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    let labels: Vec<&str> = host.split('.').collect();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.split('-')
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()))
    };
    labels.iter().all(|l| label_ok(l))
        && labels
            .last()
            .is_some_and(|l| l.starts_with(|c: char| c.is_ascii_alphabetic()))
}

fn url_tail(tail: &str) -> bool {
    let b = tail.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
            continue;
        }
        if !(c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?#".contains(&c)) {
            return false;
        }
        i += 1;
    }
    true
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
    // `""` is no type at all (as for the date-times); the core crate would read it as a value
    // for a one-shot.
    if input.get("one_time_schedule_type") == Some(&Value::String(String::new())) {
        input.remove("one_time_schedule_type");
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn date_times_as_json_schema_reads_them() {
        for ok in [
            "2024-09-11T14:35:00.000Z",
            "2024-09-11t14:35:00z",
            "2024-02-29T00:00:00+05:30",
            "0000-01-01T00:00:00Z",
            "2024-09-11T14:35:00.123456789123Z",
            "2016-12-31T23:59:60Z",
            "2016-12-31T22:59:60-01:00",
        ] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in [
            "2024-09-11 14:35:00Z",
            "2024-09-11T10:30:60Z",
            "2023-02-29T00:00:00Z",
            "2024-09-11T14:35:00",
            "2024-09-11T14:35:00.Z",
            "2024-09-11T14:35:00+24:00",
            "2024-09-11T14:35:00+0100",
            "2024-9-11T14:35:00Z",
            "",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }

    #[test]
    fn webhook_urls_are_the_patterns_and_valid_to_the_core_crate() {
        for ok in [
            "https://example.com",
            "http://a.b.c:8080/path?q=1&r=%2F#frag",
            "https://org-imbrace.dev.imbrace.co/webhook/webhook_79893fd6",
            "http://127.0.0.1:0/x",
            "http://255.255.255.255:65535",
            "https://localhost.",
            "https://a1.b-2.c3d/~user/(x)*+,;=:@!$'",
        ] {
            assert!(is_webhook_url(ok), "{ok}");
            let job = json!({"type": "webhook", "url": ok});
            assert!(prepare_job(&job).is_ok(), "{ok}");
        }
        for bad in [
            "ftp://example.com",
            "HTTPS://example.com",
            "https://",
            "https://example.123",
            "https://xn--a.com",
            "https://a-.com",
            "https://256.1.1.1",
            "https://01.1.1.1",
            "https://a.com:65536",
            "https://a.com:080",
            "https://a.com:",
            "https://user@a.com",
            "https://a.com/%zz",
            "https://a.com/ space",
            "https://[::1]/",
            " https://a.com",
        ] {
            assert!(!is_webhook_url(bad), "{bad}");
        }
        assert!(!is_webhook_url(&format!(
            "https://a.com/{}",
            "x".repeat(2048)
        )));
    }

    #[test]
    fn whole_numbers_written_as_floats() {
        assert_eq!(whole_number(&json!(30), 1, 60), Some(30));
        assert_eq!(whole_number(&json!(30.0), 1, 60), Some(30));
        assert_eq!(whole_number(&json!(-0.0), 0, 60), Some(0));
        assert_eq!(whole_number(&json!(30.5), 1, 60), None);
        assert_eq!(whole_number(&json!(61.0), 1, 60), None);
        assert_eq!(whole_number(&json!(-1), 0, 60), None);
        assert_eq!(whole_number(&json!("30"), 1, 60), None);
        let job = prepare_job(&json!({
            "type": "webhook", "url": "https://a.com", "timeout_ms": 2035.0,
            "retry": {"max_attempts": 3.0, "max_age_secs": 60}
        }))
        .unwrap();
        assert_eq!(job["timeout_ms"], json!(2035));
        assert!(job["timeout_ms"].is_u64());
        assert!(job["retry"]["max_attempts"].is_u64());
    }

    #[test]
    fn header_values_are_visible_ascii() {
        let job =
            |v: &str| json!({"type": "webhook", "url": "https://a.com", "headers": {"x-a": v}});
        assert!(prepare_job(&job("a b\tc~")).is_ok());
        assert!(prepare_job(&job("é")).is_err());
        assert!(prepare_job(&job("a\u{7f}")).is_err());
    }

    fn fields(doc: serde_json::Value) -> Result<(), ApiError> {
        check_fields(doc.as_object().unwrap())
    }

    #[test]
    fn each_field_on_its_own() {
        assert!(fields(json!({})).is_ok());
        assert!(
            fields(json!({"trigger_frequency_unit": "", "one_time_schedule_type": ""})).is_ok()
        );
        assert!(fields(json!({"trigger_frequency_value": 5.0, "max_fires": 1})).is_ok());
        assert!(fields(json!({"trigger_frequency_value": 0})).is_err());
        assert!(fields(json!({"trigger_frequency_unit": "fortnights"})).is_err());
        assert!(fields(json!({"cron_expression": "0 0 30 2 *"})).is_err());
        assert!(fields(json!({"cron_expression": ""})).is_ok());
        assert!(fields(json!({"timezone": "utc"})).is_err());
        assert!(fields(json!({"timezone": "Asia/Hong_Kong"})).is_ok());
        assert!(fields(json!({"name": null})).is_err());
        assert!(fields(json!({"name": " \u{85}"})).is_err());
        assert!(fields(json!({"job": null})).is_err());
        assert!(fields(json!({"start_datetime": "2024-01-01 00:00:00Z"})).is_err());
        assert!(fields(json!({"flexible_time_window_minutes": 1441})).is_err());
        // One body cannot give an expression beside the fields it stands for, or beside a type
        // of the other kind.
        assert!(
            fields(json!({"schedule_expression": "rate(5 minutes)", "trigger_time": ""})).is_ok()
        );
        assert!(fields(
            json!({"schedule_expression": "rate(5 minutes)", "trigger_frequency_value": 5})
        )
        .is_err());
        assert!(fields(
            json!({"schedule_expression": "at(2027-03-01T09:00:00)", "type": "recurring"})
        )
        .is_err());
        assert!(fields(
            json!({"schedule_expression": "at(2027-03-01T09:00:00)", "type": "non_recurring"})
        )
        .is_ok());
    }

    #[test]
    fn a_blank_one_time_type_and_start_date_for_a_null_start() {
        let doc = json!({
            "name": "n", "event_type": "e", "job": {"type": "kafka", "topic": "t"},
            "type": "non_recurring", "one_time_schedule_type": "",
            "start_datetime": null, "start_date": "2024-01-01T00:00:00Z"
        });
        let draft = Draft::from_map(doc.as_object().unwrap()).unwrap();
        assert_eq!(
            draft.timing.one_time_schedule_type.as_deref(),
            Some("exact")
        );
        assert_eq!(
            draft.timing.start_datetime.to_rfc3339(),
            "2024-01-01T00:00:00+00:00"
        );
    }
}
