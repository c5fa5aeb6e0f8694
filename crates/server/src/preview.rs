//! `scheduler preview`: the timing engine on the command line.

use chrono::{DateTime, SecondsFormat, Utc};
use scheduler_core::Schedule;

/// The first `count` fire instants at or after `after` of the scheduler document `input`, as
/// RFC 3339 UTC with milliseconds. The error is a one-line message naming the bad field.
pub fn preview(input: &str, after: DateTime<Utc>, count: u32) -> Result<Vec<String>, String> {
    let value: serde_json::Value =
        serde_json::from_str(input).map_err(|e| format!("the document is not valid JSON: {e}"))?;
    let doc = value
        .as_object()
        .ok_or_else(|| "the document must be a JSON object".to_owned())?;
    let schedule = Schedule::from_json(doc).map_err(|e| e.to_string())?;
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    Ok(schedule
        .upcoming(after, 0, count)
        .into_iter()
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .collect())
}
