//! EventBridge Scheduler's schedule expressions: `rate(...)`, `cron(...)` and `at(...)`.
//!
//! Parsed into the engine's own rules, so the slots follow SPEC 5 like every other timing:
//! - `rate(n unit)`: fixed durations from `start_datetime` (EventBridge: "days represents a
//!   24-hour duration"), so `rate(1 day)` in a DST zone moves by the DST hour on the wall
//!   clock, as in EventBridge; units `minute(s)`, `hour(s)`, `day(s)`, singular exactly when
//!   the value is 1.
//! - `cron(min hour dom month dow year)`: EventBridge's six fields, exactly one of the two day
//!   fields `?`, day of week numbered 1-7 from Sunday (translated to this crate's 0-6), the
//!   Quartz day operators as in [`CronExpr`]; always at second 0.
//! - `at(yyyy-mm-ddThh:mm:ss)`: one local date-time in the document's `timezone`, a one-shot.
//!
//! Every error names the character (1-based, in the expression as given) where the problem is.

use chrono::{NaiveDate, NaiveDateTime};

use crate::cron::CronExpr;

/// A parsed schedule expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleExpression {
    /// `rate(value unit)`: every `step_ms` milliseconds from the start.
    Rate { value: u32, unit: RateUnit },
    /// `cron(...)`, translated to this crate's 7-field grammar (seconds 0).
    Cron(CronExpr),
    /// `at(...)`: a local date-time, read in the schedule's time zone.
    At(NaiveDateTime),
}

/// Units of a `rate(...)` expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateUnit {
    Minutes,
    Hours,
    Days,
}

impl RateUnit {
    pub(crate) fn millis(self) -> i64 {
        match self {
            RateUnit::Minutes => 60_000,
            RateUnit::Hours => 3_600_000,
            RateUnit::Days => 86_400_000,
        }
    }
}

/// Why a schedule expression was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at character {position}: {message}")]
pub struct ExpressionError {
    /// 1-based character position in the expression as given.
    pub position: usize,
    pub message: String,
}

/// Largest `rate(...)` value, as for `trigger_frequency_value`.
const MAX_RATE: u32 = 1_000_000;
const MAX_LEN: usize = 1024;

fn fail<T>(position: usize, message: impl Into<String>) -> Result<T, ExpressionError> {
    Err(ExpressionError {
        position,
        message: message.into(),
    })
}

/// Whitespace-separated words of `text` with their 0-based char offsets within it.
fn words(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (i, &(byte, c)) in chars.iter().enumerate() {
        if c.is_whitespace() {
            if let Some(s) = start.take() {
                let from = chars[s].0;
                out.push((s, &text[from..byte]));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        out.push((s, &text[chars[s].0..]));
    }
    out
}

impl ScheduleExpression {
    /// Parses an expression in EventBridge's syntax (keywords and units lower-case, as
    /// EventBridge writes them; month and day names in any case).
    pub fn parse(text: &str) -> Result<Self, ExpressionError> {
        if text.len() > MAX_LEN {
            return fail(
                MAX_LEN + 1,
                format!("it is longer than {MAX_LEN} characters"),
            );
        }
        let (kind, open) = if text.starts_with("rate(") {
            ("rate", 5)
        } else if text.starts_with("cron(") {
            ("cron", 5)
        } else if text.starts_with("at(") {
            ("at", 3)
        } else {
            return fail(
                1,
                "it must be rate(value unit), cron(minutes hours day-of-month month \
                 day-of-week year) or at(yyyy-mm-ddThh:mm:ss)",
            );
        };
        let Some(inner) = text[open..].strip_suffix(')') else {
            return fail(
                text.chars().count() + 1,
                format!("{kind}(...) must end with ')'"),
            );
        };
        // Characters before `inner` (all ASCII), to turn offsets into positions.
        let base = open + 1;
        match kind {
            "rate" => parse_rate(inner, base),
            "cron" => parse_cron(inner, base).map(ScheduleExpression::Cron),
            _ => parse_at(inner, base).map(ScheduleExpression::At),
        }
    }
}

fn parse_rate(inner: &str, base: usize) -> Result<ScheduleExpression, ExpressionError> {
    let w = words(inner);
    if w.len() != 2 {
        return fail(
            base,
            format!(
                "rate(...) takes a value and a unit, such as rate(5 minutes); got {} word(s)",
                w.len()
            ),
        );
    }
    let ((vat, value), (uat, unit)) = (w[0], w[1]);
    let value = match value.parse::<u32>() {
        Ok(v) if (1..=MAX_RATE).contains(&v) && value.bytes().all(|b| b.is_ascii_digit()) => v,
        _ => {
            return fail(
                base + vat,
                format!("rate value '{value}' must be an integer from 1 to {MAX_RATE}"),
            )
        }
    };
    let (singular, unit_kind) = match unit {
        "minute" => (true, RateUnit::Minutes),
        "minutes" => (false, RateUnit::Minutes),
        "hour" => (true, RateUnit::Hours),
        "hours" => (false, RateUnit::Hours),
        "day" => (true, RateUnit::Days),
        "days" => (false, RateUnit::Days),
        _ => {
            return fail(
                base + uat,
                format!("rate unit '{unit}' must be minute(s), hour(s) or day(s)"),
            )
        }
    };
    if singular != (value == 1) {
        let want = if value == 1 { "singular" } else { "plural" };
        return fail(
            base + uat,
            format!(
                "rate unit '{unit}' must be {want} with the value {value} (rate(1 minute), \
                 rate(5 minutes))"
            ),
        );
    }
    Ok(ScheduleExpression::Rate {
        value,
        unit: unit_kind,
    })
}

const CRON_FIELDS: [&str; 6] = [
    "minutes",
    "hours",
    "day-of-month",
    "month",
    "day-of-week",
    "year",
];

fn parse_cron(inner: &str, base: usize) -> Result<CronExpr, ExpressionError> {
    let w = words(inner);
    if w.len() != 6 {
        return fail(
            base,
            format!(
                "cron(...) takes six fields (minutes hours day-of-month month day-of-week \
                 year), got {}",
                w.len()
            ),
        );
    }
    let (dom, dow) = (w[2], w[4]);
    match (dom.1 == "?", dow.1 == "?") {
        (true, true) => {
            return fail(
                base + dow.0,
                "only one of day-of-month and day-of-week may be '?'",
            )
        }
        (false, false) => {
            return fail(
                base + dow.0,
                "one of day-of-month and day-of-week must be '?' (cron(0 12 ? * MON-FRI *) or \
                 cron(0 12 1 * ? *))",
            )
        }
        _ => {}
    }
    for (i, &(at, field)) in w.iter().enumerate() {
        if field.contains('?') && field != "?" || (field == "?" && i != 2 && i != 4) {
            return fail(
                base + at,
                format!(
                    "{} field '{field}': '?' may only stand alone in day-of-month or day-of-week",
                    CRON_FIELDS[i]
                ),
            );
        }
    }
    let dow_translated = translate_day_of_week(dow.1, base + dow.0)?;
    let canonical = format!(
        "0 {} {} {} {} {} {}",
        w[0].1, w[1].1, dom.1, w[3].1, dow_translated, w[5].1
    );
    CronExpr::parse(&canonical).map_err(|e| {
        // Field 0 of the canonical form is the seconds this translation added.
        let (position, field) = match e.field_index() {
            Some(i) if (1..=6).contains(&i) => (base + w[i - 1].0, Some(CRON_FIELDS[i - 1])),
            _ => (base, None),
        };
        let message = e.to_string();
        let message = match field {
            // The engine numbers days of week 0-7; say it in EventBridge's terms.
            Some("day-of-week") => format!(
                "{message} (EventBridge numbers days of week 1-7 from SUN; the field was \
                 '{}')",
                dow.1
            ),
            _ => message,
        };
        ExpressionError { position, message }
    })
}

/// EventBridge's day-of-week numbers 1-7 (SUN-SAT) to this crate's 0-6. Numbers after `/`
/// (steps) and `#` (the k of `n#k`) are not days and stay.
fn translate_day_of_week(field: &str, position: usize) -> Result<String, ExpressionError> {
    let mut out = String::with_capacity(field.len());
    let chars: Vec<char> = field.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if !c.is_ascii_digit() {
            out.push(c);
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        let digits: String = chars[start..i].iter().collect();
        if start > 0 && matches!(chars[start - 1], '/' | '#') {
            out.push_str(&digits);
            continue;
        }
        match digits.parse::<u32>() {
            Ok(n) if (1..=7).contains(&n) => out.push_str(&(n - 1).to_string()),
            _ => {
                return fail(
                    position + start,
                    format!(
                        "day-of-week value '{digits}' is out of range 1-7 (EventBridge numbers \
                         days of week 1-7 from SUN to SAT)"
                    ),
                )
            }
        }
    }
    Ok(out)
}

fn parse_at(inner: &str, base: usize) -> Result<NaiveDateTime, ExpressionError> {
    const PATTERN: &[u8] = b"dddd-dd-ddTdd:dd:dd";
    let shape = "at(...) takes a local date-time yyyy-mm-ddThh:mm:ss, such as \
                 at(2027-03-01T09:00:00)";
    for (i, c) in inner.chars().enumerate() {
        let ok = match PATTERN.get(i) {
            None => false,
            Some(b'd') => c.is_ascii_digit(),
            Some(&p) => c == char::from(p),
        };
        if !ok {
            return fail(base + i, shape);
        }
    }
    if inner.len() < PATTERN.len() {
        return fail(base + inner.len(), shape);
    }
    let num = |from: usize, to: usize| inner[from..to].parse::<u32>().unwrap_or(u32::MAX);
    let (year, month, day) = (num(0, 4), num(5, 7), num(8, 10));
    let (hour, minute, second) = (num(11, 13), num(14, 16), num(17, 19));
    if !(1970..=9999).contains(&year) {
        return fail(base, format!("at year {year} must be from 1970 to 9999"));
    }
    if !(1..=12).contains(&month) {
        return fail(
            base + 5,
            format!("at month {month:02} must be from 01 to 12"),
        );
    }
    let Some(date) = NaiveDate::from_ymd_opt(year as i32, month, day) else {
        return fail(
            base + 8,
            format!("at day {day:02} does not exist in {year}-{month:02}"),
        );
    };
    if hour > 23 {
        return fail(
            base + 11,
            format!("at hour {hour:02} must be from 00 to 23"),
        );
    }
    if minute > 59 {
        return fail(
            base + 14,
            format!("at minute {minute:02} must be from 00 to 59"),
        );
    }
    if second > 59 {
        return fail(
            base + 17,
            format!("at second {second:02} must be from 00 to 59"),
        );
    }
    date.and_hms_opt(hour, minute, second)
        .map_or_else(|| fail(base, shape), Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(text: &str) -> ExpressionError {
        ScheduleExpression::parse(text).unwrap_err()
    }

    #[test]
    fn rates() {
        assert_eq!(
            ScheduleExpression::parse("rate(5 minutes)"),
            Ok(ScheduleExpression::Rate {
                value: 5,
                unit: RateUnit::Minutes
            })
        );
        assert!(ScheduleExpression::parse("rate(1 hour)").is_ok());
        assert!(ScheduleExpression::parse("rate(1 day)").is_ok());
        assert!(ScheduleExpression::parse("rate(12 days)").is_ok());
        assert_eq!(bad("rate(1 minutes)").position, 8);
        assert!(bad("rate(1 minutes)").message.contains("singular"));
        assert!(bad("rate(2 hour)").message.contains("plural"));
        assert_eq!(bad("rate(0 minutes)").position, 6);
        assert_eq!(bad("rate(5 weeks)").position, 8);
        assert!(bad("rate(5 weeks)")
            .message
            .contains("minute(s), hour(s) or day(s)"));
        assert_eq!(bad("rate(5 minutes").position, 15);
        assert!(bad("rate(5)").message.contains("value and a unit"));
        assert_eq!(bad("Rate(5 minutes)").position, 1);
        assert!(bad("rate(-5 minutes)").message.contains("integer"));
        assert!(bad("rate(1000001 minutes)").message.contains("1000000"));
    }

    #[test]
    fn ats() {
        assert_eq!(
            ScheduleExpression::parse("at(2027-03-01T09:00:00)"),
            Ok(ScheduleExpression::At(
                NaiveDate::from_ymd_opt(2027, 3, 1)
                    .unwrap()
                    .and_hms_opt(9, 0, 0)
                    .unwrap()
            ))
        );
        // The character at fault, 1-based in the whole expression.
        assert_eq!(bad("at(2027-03-01 09:00:00)").position, 14);
        assert_eq!(bad("at(2027-13-01T09:00:00)").position, 9);
        assert_eq!(bad("at(2027-02-30T09:00:00)").position, 12);
        assert_eq!(bad("at(2027-02-28T24:00:00)").position, 15);
        assert_eq!(bad("at(2027-02-28T23:60:00)").position, 18);
        assert_eq!(bad("at(2027-02-28T23:59:60)").position, 21);
        assert_eq!(bad("at(2027-02-28T23:59)").position, 20);
        assert_eq!(bad("at(2027-02-28T23:59:00Z)").position, 23);
        assert_eq!(bad("at(1969-12-31T23:59:00)").position, 4);
    }

    #[test]
    fn crons_follow_eventbridge() {
        let ScheduleExpression::Cron(c) =
            ScheduleExpression::parse("cron(0 12 ? * MON-FRI *)").unwrap()
        else {
            panic!()
        };
        assert_eq!(c.as_str(), "0 0 12 ? * MON-FRI *");
        // Days of week 1-7 from Sunday become 0-6; steps and # counts stay.
        let ScheduleExpression::Cron(c) =
            ScheduleExpression::parse("cron(0/15 * ? * 2-6,1/2,6#3,7L *)").unwrap()
        else {
            panic!()
        };
        assert_eq!(c.as_str(), "0 0/15 * ? * 1-5,0/2,5#3,6L *");
        for ok in [
            "cron(0 10 * * ? *)",
            "cron(15 12 * * ? *)",
            "cron(0 18 ? * MON-FRI *)",
            "cron(0 8 1 * ? *)",
            "cron(0/10 * ? * MON-FRI *)",
            "cron(0/5 8-17 ? * MON-FRI *)",
            "cron(0 9 ? * 2#1 *)",
            "cron(0 0 L * ? *)",
            "cron(0 0 LW * ? 2030)",
            "cron(0 0 3W * ? *)",
            "cron(0 0 ? * 6L *)",
            "cron(0 0 L-2 * ? *)",
        ] {
            assert!(ScheduleExpression::parse(ok).is_ok(), "{ok}");
        }
        let e = bad("cron(0 12 * * MON-FRI *)");
        assert!(e.message.contains("must be '?'"), "{e}");
        assert_eq!(e.position, 15);
        assert!(bad("cron(0 12 ? * ? *)").message.contains("only one"));
        assert!(bad("cron(0 12 ? * MON)").message.contains("six fields"));
        let e = bad("cron(0 12 ? * 8 *)");
        assert_eq!(e.position, 15);
        assert!(e.message.contains("out of range 1-7"), "{e}");
        let e = bad("cron(0 12 ? * 0 *)");
        assert_eq!(e.position, 15);
        let e = bad("cron(0 25 ? * MON *)");
        assert_eq!(e.position, 8);
        assert!(e.message.contains("hour value '25'"), "{e}");
        let e = bad("cron(0 12 ? * 2#6 *)");
        assert_eq!(e.position, 15);
        assert!(e.message.contains("EventBridge numbers"), "{e}");
        let e = bad("cron(0 12 32 * ? *)");
        assert_eq!(e.position, 11);
        let e = bad("cron(? 12 1 * ? *)");
        assert_eq!(e.position, 6);
        let e = bad("cron(0 12 30 2 ? *)");
        assert!(e.message.contains("never matches"), "{e}");
    }
}
