//! HTML pieces of the console: escaping, times in a zone and UTC, the schedule in words, and
//! the scheduler form, both ways (document -> form values, form values -> document).

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{
    DateTime, Datelike as _, NaiveDate, NaiveDateTime, NaiveTime, TimeZone as _, Timelike as _, Utc,
};
use chrono_tz::Tz;
use scheduler_store::schedulers::SchedulerRecord;
use serde_json::{Map, Value};

/// Escapes text for HTML content and quoted attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes one path segment or query value.
pub(crate) fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn zone(tz: &str) -> Tz {
    tz.parse().unwrap_or(chrono_tz::UTC)
}

/// `2025-03-14 09:00` in the zone.
pub(crate) fn local(t: DateTime<Utc>, tz: &str) -> String {
    t.with_timezone(&zone(tz))
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// How far a planned delivery lies after its slot: `+7 min 13 s`, `+42 s`, `+350 ms`.
pub(crate) fn offset_words(d: chrono::TimeDelta) -> String {
    let ms = d.num_milliseconds().max(0);
    let secs = ms / 1000;
    if secs == 0 {
        format!("+{ms} ms")
    } else if secs < 60 {
        format!("+{secs} s")
    } else if secs < 3600 {
        format!("+{} min {} s", secs / 60, secs % 60)
    } else {
        format!("+{} h {} min", secs / 3600, secs % 3600 / 60)
    }
}

/// The planned delivery's time of day in the zone, with seconds (a delivery is rarely on a
/// minute), and with its date when that is not the slot's.
pub(crate) fn planned_clock(slot: DateTime<Utc>, at: DateTime<Utc>, tz: &str) -> String {
    let z = zone(tz);
    let (slot, at) = (slot.with_timezone(&z), at.with_timezone(&z));
    if slot.date_naive() == at.date_naive() {
        at.format("%H:%M:%S").to_string()
    } else {
        at.format("%Y-%m-%d %H:%M:%S").to_string()
    }
}

/// A planned delivery as the console shows it under its slot (in the slot's zone): `delivery
/// planned +7 min 13 s, at 09:07:13`, the exact instant in the `datetime` attribute.
pub(crate) fn planned(slot: DateTime<Utc>, at: DateTime<Utc>, tz: &str) -> String {
    format!(
        "<span class=\"planned\">delivery planned <strong>{}</strong>, at <time datetime=\"{}\">{}</time></span>",
        esc(&offset_words(at - slot)),
        crate::format_time(at),
        esc(&planned_clock(slot, at, tz))
    )
}

/// `2025-03-14 09:00:00 UTC`.
pub(crate) fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `in 5 min`, `3 h ago`.
pub(crate) fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (t - now).num_seconds();
    let a = secs.unsigned_abs();
    let span = if a < 60 {
        format!("{a} s")
    } else if a < 3600 {
        format!("{} min", a / 60)
    } else if a < 86_400 * 2 {
        format!("{} h", a / 3600)
    } else {
        format!("{} days", a / 86_400)
    };
    if secs >= 0 {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

/// A time as the console shows it: relative, in the zone, and in UTC (the zone's line is left
/// out when the zone is UTC).
pub(crate) fn when(t: DateTime<Utc>, tz: &str, now: DateTime<Utc>) -> String {
    let mut s = format!(
        "<time datetime=\"{}\"><strong>{}</strong><br>",
        crate::format_time(t),
        esc(&relative(t, now))
    );
    if tz != "UTC" {
        let _ = write!(s, "{} {}<br>", esc(&local(t, tz)), esc(tz));
    }
    let _ = write!(s, "<span class=\"muted\">{}</span></time>", esc(&utc(t)));
    s
}

fn plural(n: i32, one: &str, many: &str) -> String {
    if n == 1 {
        format!("every {one}")
    } else {
        format!("every {n} {many}")
    }
}

/// The schedule in words: "every 2 weeks on Monday at 09:00 Europe/London", "cron 0 9 * * MON-FRI
/// in America/New_York", "once at 2025-03-14 09:00 UTC", "rate(5 minutes) in Europe/Paris from
/// 2030-01-07 09:00", each followed by its end, its limit and its flexible window ("delivered
/// within a 15-minute window").
pub(crate) fn schedule_words(r: &SchedulerRecord) -> String {
    let mut s = timing_words(r);
    if r.kind != "non_recurring" {
        if let Some(end) = r.end_datetime {
            let _ = write!(s, ", until {} {}", local(end, &r.timezone), r.timezone);
        }
        if let Some(max) = r.max_fires {
            let _ = write!(s, ", at most {max} fires");
        }
    }
    if r.flexible_time_window_minutes > 0 {
        let _ = write!(
            s,
            ", delivered within a {}-minute window",
            r.flexible_time_window_minutes
        );
    }
    s
}

/// The timing alone: the expression as given, or the frequency fields in words.
fn timing_words(r: &SchedulerRecord) -> String {
    let tz = r.timezone.as_str();
    let z = zone(tz);
    if let Some(expression) = r.schedule_expression.as_deref() {
        // rate(...) counts from the start, which is worth showing; cron(...) and at(...) say
        // everything themselves (at's local time is read in the zone).
        return if expression.starts_with("rate(") {
            format!("{expression} in {tz} from {}", local(r.start_datetime, tz))
        } else {
            format!("{expression} in {tz}")
        };
    }
    if r.kind == "non_recurring" {
        return format!("once at {} {tz}", local(r.start_datetime, tz));
    }
    let start = r.start_datetime.with_timezone(&z);
    let time = r
        .trigger_time
        .map(|t| t.with_timezone(&z).time())
        .unwrap_or_else(|| start.time());
    let at = format!("at {:02}:{:02}", time.hour(), time.minute());
    let n = r.trigger_frequency_value.unwrap_or(1);
    let unit = r.trigger_frequency_unit.as_deref().unwrap_or("");
    let mut s = match unit {
        "cron" => {
            return format!(
                "cron {} in {tz}",
                r.cron_expression.as_deref().unwrap_or("?")
            )
        }
        "minutes" => plural(n, "minute", "minutes"),
        "hours" => plural(n, "hour", "hours"),
        "days" => format!("{} {at} {tz}", plural(n, "day", "days")),
        "weeks" => format!(
            "{} on {} {at} {tz}",
            plural(n, "week", "weeks"),
            weekday(start.weekday())
        ),
        "months" => format!(
            "{} on day {} {at} {tz}",
            plural(n, "month", "months"),
            start.day()
        ),
        "years" => {
            let md = r
                .triger_month_and_day
                .map(|t| t.with_timezone(&z).date_naive())
                .unwrap_or_else(|| start.date_naive());
            format!(
                "{} on {} {at} {tz}",
                plural(n, "year", "years"),
                md.format("%-d %B")
            )
        }
        other => format!("every {n} {other}"),
    };
    if matches!(unit, "minutes" | "hours") {
        let _ = write!(s, " from {} {tz}", local(r.start_datetime, tz));
    }
    s
}

fn weekday(d: chrono::Weekday) -> &'static str {
    match d {
        chrono::Weekday::Mon => "Monday",
        chrono::Weekday::Tue => "Tuesday",
        chrono::Weekday::Wed => "Wednesday",
        chrono::Weekday::Thu => "Thursday",
        chrono::Weekday::Fri => "Friday",
        chrono::Weekday::Sat => "Saturday",
        chrono::Weekday::Sun => "Sunday",
    }
}

/// The form's values, by field name.
pub(crate) type FormValues = HashMap<String, String>;

pub(crate) fn parse_form(body: &[u8]) -> FormValues {
    form_urlencoded::parse(body).into_owned().collect()
}

/// The form values of a stored scheduler (the edit form starts from them).
pub(crate) fn form_of(r: &SchedulerRecord) -> FormValues {
    let tz = r.timezone.as_str();
    let z = zone(tz);
    let mut v = FormValues::new();
    let mut put = |k: &str, s: String| {
        v.insert(k.to_owned(), s);
    };
    put("name", r.name.clone());
    put("event_type", r.event_type.clone());
    put("description", r.description.clone());
    put("internal_id", r.internal_id.clone().unwrap_or_default());
    put("channel_source", r.channel_source.clone());
    put("type", r.kind.clone());
    put("timezone", r.timezone.clone());
    put(
        "trigger_frequency_unit",
        r.trigger_frequency_unit.clone().unwrap_or_default(),
    );
    put(
        "trigger_frequency_value",
        r.trigger_frequency_value
            .map(|n| n.to_string())
            .unwrap_or_default(),
    );
    put(
        "cron_expression",
        r.cron_expression.clone().unwrap_or_default(),
    );
    put(
        "schedule_expression",
        r.schedule_expression.clone().unwrap_or_default(),
    );
    put(
        "flexible_time_window_minutes",
        r.flexible_time_window_minutes.to_string(),
    );
    put(
        "trigger_time",
        r.trigger_time
            .map(|t| t.with_timezone(&z).format("%H:%M").to_string())
            .unwrap_or_default(),
    );
    put(
        "triger_month_and_day",
        r.triger_month_and_day
            .map(|t| t.with_timezone(&z).format("%m-%d").to_string())
            .unwrap_or_default(),
    );
    put("start_datetime", local(r.start_datetime, tz));
    put(
        "end_datetime",
        r.end_datetime.map(|t| local(t, tz)).unwrap_or_default(),
    );
    put(
        "one_time_schedule_type",
        r.one_time_schedule_type.clone().unwrap_or_default(),
    );
    put(
        "max_fires",
        r.max_fires.map(|n| n.to_string()).unwrap_or_default(),
    );
    put("misfire_policy", r.misfire_policy.clone());
    if r.is_paused {
        put("is_paused", "on".to_owned());
    }
    put(
        "options",
        r.options
            .as_ref()
            .map(|o| serde_json::to_string_pretty(o).unwrap_or_default())
            .unwrap_or_default(),
    );
    let job = r.job.as_object().cloned().unwrap_or_default();
    let text = |k: &str| match job.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    put("job_type", text("type"));
    put("job_topic", text("topic"));
    put("job_url", text("url"));
    put("job_method", text("method"));
    put("job_timeout_ms", text("timeout_ms"));
    put("job_workflow_id", text("workflow_id"));
    let pretty = |k: &str| {
        job.get(k)
            .filter(|v| !v.is_null())
            .map(|v| serde_json::to_string_pretty(v).unwrap_or_default())
            .unwrap_or_default()
    };
    put("job_headers", pretty("headers"));
    put("job_data", pretty("data"));
    let retry = job.get("retry").and_then(Value::as_object);
    let retry_field = |k: &str| {
        retry
            .and_then(|r| r.get(k))
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    put("job_retry_max_attempts", retry_field("max_attempts"));
    put("job_retry_max_age_secs", retry_field("max_age_secs"));
    v
}

/// A form value refused before the API sees it: (form field, message).
pub(crate) type FieldError = (String, String);

/// `2025-03-14 09:00`, `2025-03-14T09:00[:ss]` (read in the zone) or RFC 3339 with an offset.
fn instant(field: &str, raw: &str, z: Tz) -> Result<Value, FieldError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(Value::String(crate::format_time(t.with_timezone(&Utc))));
    }
    let naive = [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(raw, f).ok());
    let bad = || {
        (
            field.to_owned(),
            format!("{field} must be a date and time like 2025-03-14 09:00 (in the time zone) or RFC 3339"),
        )
    };
    let naive = naive.ok_or_else(bad)?;
    let t = in_zone(naive, z).ok_or_else(bad)?;
    Ok(Value::String(crate::format_time(t)))
}

/// A local time in the zone; a time in a gap moves past it, a repeated one takes the first.
fn in_zone(naive: NaiveDateTime, z: Tz) -> Option<DateTime<Utc>> {
    (0..=120)
        .step_by(30)
        .find_map(|m| {
            z.from_local_datetime(&(naive + chrono::TimeDelta::minutes(m)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
}

fn json_field(field: &str, raw: &str) -> Result<Option<Value>, FieldError> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(raw)
        .map(Some)
        .map_err(|e| (field.to_owned(), format!("{field} is not valid JSON: {e}")))
}

fn int_field(field: &str, api_name: &str, raw: &str) -> Result<Option<Value>, FieldError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<i64>()
        .map(|n| Some(Value::from(n)))
        .map_err(|_| {
            (
                field.to_owned(),
                format!("{api_name} must be a whole number"),
            )
        })
}

/// The frequency and cron fields (the seed's timing form), into `d`.
fn frequency_fields(d: &mut Map<String, Value>, v: &FormValues, z: Tz) -> Result<(), FieldError> {
    let get = |k: &str| v.get(k).map(String::as_str).unwrap_or("");
    let text = |k: &str| {
        let s = get(k).trim();
        if s.is_empty() {
            Value::Null
        } else {
            Value::String(s.to_owned())
        }
    };
    d.insert(
        "trigger_frequency_unit".into(),
        text("trigger_frequency_unit"),
    );
    d.insert(
        "trigger_frequency_value".into(),
        int_field(
            "trigger_frequency_value",
            "trigger_frequency_value",
            get("trigger_frequency_value"),
        )?
        .unwrap_or(Value::Null),
    );
    d.insert("cron_expression".into(), text("cron_expression"));
    let tt = get("trigger_time").trim();
    let trigger_time = if tt.is_empty() {
        Value::Null
    } else {
        let time = NaiveTime::parse_from_str(tt, "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(tt, "%H:%M:%S"))
            .map_err(|_| {
                (
                    "trigger_time".to_owned(),
                    "trigger_time must be a time of day like 09:00".to_owned(),
                )
            })?;
        let day = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default();
        let t = in_zone(day.and_time(time), z).ok_or_else(|| {
            (
                "trigger_time".to_owned(),
                "trigger_time does not exist in the zone".to_owned(),
            )
        })?;
        Value::String(crate::format_time(t))
    };
    d.insert("trigger_time".into(), trigger_time);
    let md = get("triger_month_and_day").trim();
    let month_day = if md.is_empty() {
        Value::Null
    } else {
        let date = NaiveDate::parse_from_str(&format!("2000-{md}"), "%Y-%m-%d").map_err(|_| {
            (
                "triger_month_and_day".to_owned(),
                "triger_month_and_day must be a month and day like 03-14".to_owned(),
            )
        })?;
        let t = in_zone(date.and_time(NaiveTime::default()), z).unwrap_or_default();
        Value::String(crate::format_time(t))
    };
    d.insert("triger_month_and_day".into(), month_day);
    Ok(())
}

/// The scheduler document of the form's values, in the shape the API takes. Empty fields are
/// `null` (the API's default).
pub(crate) fn document_of(v: &FormValues) -> Result<Map<String, Value>, FieldError> {
    let get = |k: &str| v.get(k).map(String::as_str).unwrap_or("");
    let text = |k: &str| {
        let s = get(k).trim();
        if s.is_empty() {
            Value::Null
        } else {
            Value::String(s.to_owned())
        }
    };
    let tz_name = get("timezone").trim();
    let z = zone(if tz_name.is_empty() { "UTC" } else { tz_name });
    let mut d = Map::new();
    d.insert("name".into(), Value::String(get("name").to_owned()));
    d.insert(
        "event_type".into(),
        Value::String(get("event_type").to_owned()),
    );
    d.insert("description".into(), text("description"));
    d.insert("internal_id".into(), text("internal_id"));
    d.insert("channel_source".into(), text("channel_source"));
    d.insert("timezone".into(), text("timezone"));
    let expression = get("schedule_expression").trim();
    if expression.is_empty() {
        // Sent as null, so an edit that clears it drops the stored one (the API counts null
        // as absent, and the frequency fields below then stand).
        d.insert("schedule_expression".into(), Value::Null);
        d.insert("type".into(), text("type"));
        frequency_fields(&mut d, v, z)?;
    } else {
        // The expression stands instead of the frequency and cron fields, and decides the kind
        // (at(...) is a one-shot): those inputs are not sent at all, as the API refuses a
        // document giving both (and an edit then drops the stored ones).
        d.insert(
            "schedule_expression".into(),
            Value::String(expression.to_owned()),
        );
    }
    d.insert(
        "flexible_time_window_minutes".into(),
        int_field(
            "flexible_time_window_minutes",
            "flexible_time_window_minutes",
            get("flexible_time_window_minutes"),
        )?
        .unwrap_or_else(|| Value::from(0)),
    );
    d.insert(
        "start_datetime".into(),
        instant("start_datetime", get("start_datetime"), z)?,
    );
    d.insert(
        "end_datetime".into(),
        instant("end_datetime", get("end_datetime"), z)?,
    );
    d.insert(
        "one_time_schedule_type".into(),
        text("one_time_schedule_type"),
    );
    d.insert(
        "max_fires".into(),
        int_field("max_fires", "max_fires", get("max_fires"))?.unwrap_or(Value::Null),
    );
    d.insert("misfire_policy".into(), text("misfire_policy"));
    d.insert(
        "is_paused".into(),
        Value::Bool(!get("is_paused").is_empty()),
    );
    d.insert(
        "options".into(),
        json_field("options", get("options"))?.unwrap_or(Value::Null),
    );

    let mut job = Map::new();
    job.insert("type".into(), text("job_type"));
    for (field, key) in [
        ("job_topic", "topic"),
        ("job_url", "url"),
        ("job_method", "method"),
        ("job_workflow_id", "workflow_id"),
    ] {
        if let v @ Value::String(_) = text(field) {
            job.insert(key.into(), v);
        }
    }
    if let Some(n) = int_field("job_timeout_ms", "job.timeout_ms", get("job_timeout_ms"))? {
        job.insert("timeout_ms".into(), n);
    }
    if let Some(h) = json_field("job_headers", get("job_headers"))? {
        job.insert("headers".into(), h);
    }
    job.insert(
        "data".into(),
        json_field("job_data", get("job_data"))?.unwrap_or_else(|| Value::Object(Map::new())),
    );
    let mut retry = Map::new();
    if let Some(n) = int_field(
        "job_retry_max_attempts",
        "job.retry.max_attempts",
        get("job_retry_max_attempts"),
    )? {
        retry.insert("max_attempts".into(), n);
    }
    if let Some(n) = int_field(
        "job_retry_max_age_secs",
        "job.retry.max_age_secs",
        get("job_retry_max_age_secs"),
    )? {
        retry.insert("max_age_secs".into(), n);
    }
    if !retry.is_empty() {
        job.insert("retry".into(), Value::Object(retry));
    }
    d.insert("job".into(), Value::Object(job));
    Ok(d)
}

/// The form field an API message is about: the message names it (`name is required`,
/// `job.topic ...`, `trigger_frequency_value must be ...`). None: shown above the form.
pub(crate) fn field_of(message: &str) -> Option<&'static str> {
    const JOB: [(&str, &str); 8] = [
        ("job.retry.max_attempts", "job_retry_max_attempts"),
        ("job.retry.max_age_secs", "job_retry_max_age_secs"),
        ("job.retry", "job_retry_max_attempts"),
        ("job.topic", "job_topic"),
        ("job.url", "job_url"),
        ("job.method", "job_method"),
        ("job.headers", "job_headers"),
        ("job.timeout_ms", "job_timeout_ms"),
    ];
    for (name, field) in JOB {
        if message.contains(name) {
            return Some(field);
        }
    }
    if message.contains("job.data") {
        return Some("job_data");
    }
    if message.contains("job.workflow_id") {
        return Some("job_workflow_id");
    }
    if message.starts_with("job") || message.contains("job.type") {
        return Some("job_type");
    }
    // Longest first, so `start_datetime` wins over `start_date`.
    const FIELDS: [&str; 22] = [
        "flexible_time_window_minutes",
        "trigger_frequency_value",
        "trigger_frequency_unit",
        "one_time_schedule_type",
        "triger_month_and_day",
        "schedule_expression",
        "cron_expression",
        "start_datetime",
        "channel_source",
        "misfire_policy",
        "end_datetime",
        "trigger_time",
        "description",
        "internal_id",
        "event_type",
        "start_date",
        "start_time",
        "max_fires",
        "is_paused",
        "timezone",
        "options",
        "name",
    ];
    let first = FIELDS
        .iter()
        .filter_map(|f| message.find(f).map(|i| (i, *f)))
        .min_by_key(|(i, f)| (*i, std::cmp::Reverse(f.len())))?;
    Some(match first.1 {
        "start_date" | "start_time" => "start_datetime",
        "type" => "type",
        f => f,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_a_delivery_offset() {
        let ms = chrono::TimeDelta::milliseconds;
        assert_eq!(offset_words(ms(350)), "+350 ms");
        assert_eq!(offset_words(ms(42_999)), "+42 s");
        assert_eq!(offset_words(ms(433_219)), "+7 min 13 s");
        assert_eq!(offset_words(ms(86_399_999)), "+23 h 59 min");
    }

    #[test]
    fn escapes() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn finds_the_field_a_message_names() {
        assert_eq!(field_of("name is required"), Some("name"));
        assert_eq!(
            field_of("job.topic is required for kafka jobs"),
            Some("job_topic")
        );
        assert_eq!(
            field_of("trigger_frequency_value must be an integer from 1 to 1000000"),
            Some("trigger_frequency_value")
        );
        assert_eq!(
            field_of("start_datetime must be RFC 3339"),
            Some("start_datetime")
        );
        assert_eq!(field_of("something else"), None);
        assert_eq!(
            field_of("schedule_expression is invalid at character 10: rate(1 ...) takes minute"),
            Some("schedule_expression")
        );
        // The API's "both given" message names the expression first.
        assert_eq!(
            field_of("schedule_expression and cron_expression cannot both be given: the expression stands instead of trigger_frequency_unit"),
            Some("schedule_expression")
        );
        assert_eq!(
            field_of("flexible_time_window_minutes must be an integer from 0 (off) to 1440"),
            Some("flexible_time_window_minutes")
        );
    }

    fn form(pairs: &[(&str, &str)]) -> FormValues {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn an_expression_replaces_the_frequency_fields_and_the_kind() {
        let v = form(&[
            ("type", "recurring"),
            ("timezone", "Europe/Paris"),
            ("schedule_expression", " rate(5 minutes) "),
            ("flexible_time_window_minutes", "15"),
            ("trigger_frequency_unit", "days"),
            ("trigger_frequency_value", "1"),
            ("cron_expression", "0 9 * * *"),
            // Not even read: a stale value in a replaced input cannot refuse the form.
            ("trigger_time", "not a time"),
            ("triger_month_and_day", "03-14"),
        ]);
        let d = document_of(&v).unwrap();
        assert_eq!(d["schedule_expression"], "rate(5 minutes)");
        assert_eq!(d["flexible_time_window_minutes"], 15);
        for key in [
            "type",
            "trigger_frequency_unit",
            "trigger_frequency_value",
            "cron_expression",
            "trigger_time",
            "triger_month_and_day",
        ] {
            assert!(!d.contains_key(key), "{key} sent beside the expression");
        }
        assert_eq!(d["timezone"], "Europe/Paris");
    }

    #[test]
    fn without_an_expression_the_frequency_fields_are_sent() {
        let v = form(&[
            ("type", "recurring"),
            ("schedule_expression", "  "),
            ("flexible_time_window_minutes", ""),
            ("trigger_frequency_unit", "days"),
            ("trigger_frequency_value", "2"),
        ]);
        let d = document_of(&v).unwrap();
        assert_eq!(d["schedule_expression"], Value::Null);
        // Empty means off.
        assert_eq!(d["flexible_time_window_minutes"], 0);
        assert_eq!(d["type"], "recurring");
        assert_eq!(d["trigger_frequency_unit"], "days");
        assert_eq!(d["trigger_frequency_value"], 2);
        let bad = form(&[("flexible_time_window_minutes", "a quarter hour")]);
        assert_eq!(
            document_of(&bad).unwrap_err().0,
            "flexible_time_window_minutes"
        );
    }

    fn record_of(pairs: &[(&str, &str)], window: i64) -> SchedulerRecord {
        let mut v = form(&[
            ("name", "n"),
            ("event_type", "e"),
            ("job_type", "webhook"),
            ("job_url", "https://example.com/hook"),
            ("start_datetime", "2030-01-07 09:00"),
        ]);
        v.extend(form(pairs));
        v.insert("flexible_time_window_minutes".into(), window.to_string());
        let doc = document_of(&v).unwrap();
        let tenant = crate::auth::Tenant::for_console("org", "user", HashMap::new());
        let now = Utc.with_ymd_and_hms(2029, 1, 1, 0, 0, 0).unwrap();
        crate::routes::schedulers::new_scheduler(&tenant, &doc, now).unwrap()
    }

    #[test]
    fn says_the_schedule_and_its_window_in_words() {
        let r = record_of(
            &[
                ("timezone", "Europe/Paris"),
                ("schedule_expression", "rate(5 minutes)"),
            ],
            15,
        );
        assert_eq!(
            schedule_words(&r),
            "rate(5 minutes) in Europe/Paris from 2030-01-07 09:00, delivered within a 15-minute window"
        );
        let r = record_of(
            &[
                ("timezone", "Europe/Paris"),
                ("schedule_expression", "cron(0 12 ? * MON-FRI *)"),
                ("end_datetime", "2031-01-01 00:00"),
            ],
            0,
        );
        assert_eq!(
            schedule_words(&r),
            "cron(0 12 ? * MON-FRI *) in Europe/Paris, until 2031-01-01 00:00 Europe/Paris"
        );
        let r = record_of(&[("schedule_expression", "at(2030-03-01T09:00:00)")], 1);
        assert_eq!(
            schedule_words(&r),
            "at(2030-03-01T09:00:00) in UTC, delivered within a 1-minute window"
        );
        let r = record_of(
            &[
                ("type", "recurring"),
                ("timezone", "Europe/London"),
                ("trigger_frequency_unit", "weeks"),
                ("trigger_frequency_value", "2"),
                ("max_fires", "3"),
            ],
            30,
        );
        assert_eq!(
            schedule_words(&r),
            "every 2 weeks on Monday at 09:00 Europe/London, at most 3 fires, delivered within a 30-minute window"
        );
        // Back to the form: the stored expression and window, no frequency.
        let r = record_of(&[("schedule_expression", "rate(1 hour)")], 15);
        let v = form_of(&r);
        assert_eq!(v["schedule_expression"], "rate(1 hour)");
        assert_eq!(v["flexible_time_window_minutes"], "15");
        assert_eq!(v["trigger_frequency_unit"], "");
        assert_eq!(v["cron_expression"], "");
    }

    #[test]
    fn reads_local_times_in_the_zone() {
        let mut v = FormValues::new();
        v.insert("timezone".into(), "Europe/London".into());
        v.insert("start_datetime".into(), "2025-07-01 09:00".into());
        v.insert("trigger_time".into(), "09:30".into());
        let d = document_of(&v).unwrap();
        assert_eq!(d["start_datetime"], "2025-07-01T08:00:00.000Z");
        assert_eq!(d["trigger_time"], "2000-01-01T09:30:00.000Z");
    }
}
