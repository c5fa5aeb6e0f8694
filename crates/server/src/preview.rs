//! `scheduler preview`: the timing engine on the command line.

use chrono::{DateTime, SecondsFormat, Utc};
use scheduler_core::Schedule;

/// The first `count` fire instants at or after `after` of the scheduler document `input`, as
/// RFC 3339 UTC with milliseconds, one line each. With a flexible time window each line also
/// gives the planned delivery: `<slot> deliver_at <instant>` when the document has its `_id`
/// (a stored document), else `<slot> deliver_at unknown` (the spread depends on the id a
/// scheduler gets when it is created). Without a window the lines are the bare slots, as
/// before. The error is a one-line message naming the bad field.
pub fn preview(input: &str, after: DateTime<Utc>, count: u32) -> Result<Vec<String>, String> {
    let value: serde_json::Value =
        serde_json::from_str(input).map_err(|e| format!("the document is not valid JSON: {e}"))?;
    let doc = value
        .as_object()
        .ok_or_else(|| "the document must be a JSON object".to_owned())?;
    let schedule = Schedule::from_json(doc).map_err(|e| e.to_string())?;
    let id = doc.get("_id").and_then(serde_json::Value::as_str);
    let windowed = schedule.flexible_window_minutes() > 0;
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    let fmt = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    Ok(schedule
        .upcoming(after, 0, count)
        .into_iter()
        .map(|slot| match (windowed, id) {
            (false, _) => fmt(slot),
            (true, Some(id)) => format!(
                "{} deliver_at {}",
                fmt(slot),
                fmt(schedule.delivery_instant(id, slot))
            ),
            (true, None) => format!("{} deliver_at unknown", fmt(slot)),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn expressions_and_windows() {
        let lines = preview(
            r#"{"schedule_expression": "rate(5 minutes)",
                "start_datetime": "2024-01-01T00:00:00Z"}"#,
            t("2024-01-01T00:01:00Z"),
            2,
        )
        .unwrap();
        assert_eq!(
            lines,
            ["2024-01-01T00:05:00.000Z", "2024-01-01T00:10:00.000Z"]
        );
        let lines = preview(
            r#"{"_id": "66e1481283adbddb9ad6b8ff", "trigger_frequency_unit": "days",
                "trigger_frequency_value": 1, "start_datetime": "2024-01-01T09:00:00Z",
                "flexible_time_window_minutes": 15}"#,
            t("2024-01-01T00:00:00Z"),
            1,
        )
        .unwrap();
        // The core crate's pinned value for this id and slot.
        assert_eq!(
            lines,
            ["2024-01-01T09:00:00.000Z deliver_at 2024-01-01T09:07:45.997Z"]
        );
        let lines = preview(
            r#"{"schedule_expression": "at(2027-03-01T09:00:00)", "timezone": "Asia/Hong_Kong",
                "flexible_time_window_minutes": 5}"#,
            t("2024-01-01T00:00:00Z"),
            3,
        )
        .unwrap();
        assert_eq!(lines, ["2027-03-01T01:00:00.000Z deliver_at unknown"]);
        let e = preview(
            r#"{"schedule_expression": "cron(0 12 * * MON *)",
                "start_datetime": "2024-01-01T00:00:00Z"}"#,
            t("2024-01-01T00:00:00Z"),
            1,
        )
        .unwrap_err();
        assert!(e.contains("at character 15"), "{e}");
    }
}
