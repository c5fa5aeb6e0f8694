//! Cron expressions, parsed and matched over naive local date-times.
//!
//! Why not the `croner` crate (which the workspace also lists): this module has to
//! enumerate matches over *naive* local time so that the schedule can resolve daylight-saving
//! gaps and overlaps itself (see `local.rs`), and croner walks zoned time with its own DST
//! rules. It also treats only a literal `*` as "unrestricted" when combining day-of-month and
//! day-of-week, while Vixie cron (the "standard Unix meaning" the contract asks for) looks at
//! the first character, so `0 0 */2 * MON` fires on odd days that are Mondays, as in cron(8).
//! A bitset per field gives an O(1)-per-field search, which matters because the runner asks
//! for the next slot after every fire. croner is still used by the tests, as an independent
//! oracle for field matching.
//!
//! The accepted grammar is documented on [`CronExpr`].

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

/// Largest year the engine produces slots in (RFC 3339 has four-digit years).
pub(crate) const MAX_YEAR: i32 = 9999;
const YEAR_MIN: u32 = 1970;
const YEAR_MAX: u32 = 2099;
const MAX_EXPRESSION_LEN: usize = 1024;

/// A parsed, validated cron expression, evaluated on local wall-clock time (the schedule's
/// timezone supplies the DST handling).
///
/// Grammar (fields separated by whitespace):
/// - 5 fields: `minute hour day-of-month month day-of-week` (seconds are 0);
/// - 6 fields: a leading `second` field;
/// - 7 fields: leading `second` and trailing `year` (1970-2099, as in Quartz).
///
/// Each field is a comma list of `*`, `N`, `N-M`, optionally followed by `/STEP`
/// (`N/STEP` means `N-max/STEP`). Months accept `JAN`-`DEC`, days of week `SUN`-`SAT`, both
/// case-insensitive; day of week is 0-7 with 0 and 7 both Sunday (`FRI-SUN` works). `?` is
/// accepted as `*` in the two day fields because Quartz users write it. When both day fields
/// are restricted (neither starts with `*` or `?`) a day matching either fires (Vixie OR);
/// otherwise both must match. Nicknames `@yearly`, `@annually`, `@monthly`, `@weekly`,
/// `@daily`, `@midnight`, `@hourly` are accepted. Quartz's `L`, `W` and `#` are rejected with
/// a clear message rather than half-supported. An expression that can never match (such as
/// `0 0 30 2 *`) is rejected too, so that searches always terminate quickly.
#[derive(Clone, PartialEq, Eq)]
pub struct CronExpr {
    source: String,
    seconds: u64,
    minutes: u64,
    hours: u32,
    /// Bits 1..=31.
    days_of_month: u32,
    /// Bits 1..=12.
    months: u16,
    /// Bits 0..=6, Sunday = 0.
    days_of_week: u8,
    /// Bits for years 1970..=2099 (index 0 = 1970); `None` when there is no year field.
    years: Option<[u64; 3]>,
    /// Vixie rule: if either day field starts with `*`, a day must match both fields.
    days_and: bool,
    /// For each weekday of the 1st of a month, the days of that month whose weekday is in
    /// `days_of_week`. Precomputed so that matching a month is two bit operations.
    dow_days_by_first: [u32; 7],
}

/// Why a cron expression was refused; the text completes "cron_expression is invalid: ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CronError(String);

#[derive(Clone, Copy)]
struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// Value of a name used as the end of a range, when it differs (SUN = 7 in `FRI-SUN`).
    day_field: bool,
}

const SECOND: FieldSpec = FieldSpec {
    name: "second",
    min: 0,
    max: 59,
    names: &[],
    day_field: false,
};
const MINUTE: FieldSpec = FieldSpec {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
    day_field: false,
};
const HOUR: FieldSpec = FieldSpec {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
    day_field: false,
};
const DAY_OF_MONTH: FieldSpec = FieldSpec {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
    day_field: true,
};
const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
    day_field: false,
};
const DAY_OF_WEEK: FieldSpec = FieldSpec {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    day_field: true,
};
const YEAR: FieldSpec = FieldSpec {
    name: "year",
    min: YEAR_MIN,
    max: YEAR_MAX,
    names: &[],
    day_field: false,
};

fn err(msg: impl Into<String>) -> CronError {
    CronError(msg.into())
}

impl CronExpr {
    /// Parses and validates `expr` (see the module documentation for the grammar).
    pub fn parse(expr: &str) -> Result<Self, CronError> {
        if expr.len() > MAX_EXPRESSION_LEN {
            return Err(err(format!(
                "it is longer than {MAX_EXPRESSION_LEN} characters"
            )));
        }
        let trimmed = expr.trim();
        if trimmed.is_empty() {
            return Err(err("it is empty"));
        }
        let expanded = if trimmed.starts_with('@') {
            match trimmed.to_ascii_lowercase().as_str() {
                "@yearly" | "@annually" => "0 0 1 1 *",
                "@monthly" => "0 0 1 * *",
                "@weekly" => "0 0 * * 0",
                "@daily" | "@midnight" => "0 0 * * *",
                "@hourly" => "0 * * * *",
                _ => {
                    return Err(err(
                        "unknown nickname (use @yearly, @annually, @monthly, @weekly, @daily, \
                         @midnight or @hourly)",
                    ))
                }
            }
        } else {
            trimmed
        };
        let fields: Vec<&str> = expanded.split_ascii_whitespace().collect();
        let (second, rest, year) = match fields.len() {
            5 => ("0", &fields[..], None),
            6 => (fields[0], &fields[1..], None),
            7 => (fields[0], &fields[1..6], Some(fields[6])),
            n => {
                return Err(err(format!(
                    "expected 5 fields (minute hour day-of-month month day-of-week), 6 (with a \
                     leading second) or 7 (with a leading second and a trailing year), got {n}"
                )))
            }
        };
        let (minute, hour, dom, month, dow) = (rest[0], rest[1], rest[2], rest[3], rest[4]);

        let seconds = parse_field(second, SECOND)?;
        let minutes = parse_field(minute, MINUTE)?;
        let hours = parse_field(hour, HOUR)? as u32;
        let days_of_month = parse_field(dom, DAY_OF_MONTH)? as u32;
        let months = parse_field(month, MONTH)? as u16;
        let dow_bits = parse_field(dow, DAY_OF_WEEK)?;
        // 7 is Sunday too.
        let days_of_week = ((dow_bits | (dow_bits >> 7)) & 0x7f) as u8;
        let years = match year {
            None => None,
            Some(text) => Some(parse_year_field(text)?),
        };
        let starts_unrestricted = |f: &str| f.starts_with('*') || f.starts_with('?');
        let days_and = starts_unrestricted(dom) || starts_unrestricted(dow);

        let mut dow_days_by_first = [0u32; 7];
        for (first, mask) in dow_days_by_first.iter_mut().enumerate() {
            for day in 1..=31u32 {
                let weekday = (first as u32 + day - 1) % 7;
                if days_of_week & (1 << weekday) != 0 {
                    *mask |= 1 << day;
                }
            }
        }

        let cron = CronExpr {
            source: trimmed.to_owned(),
            seconds,
            minutes,
            hours,
            days_of_month,
            months,
            days_of_week,
            years,
            days_and,
            dow_days_by_first,
        };
        let epoch = NaiveDate::from_ymd_opt(YEAR_MIN as i32, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .ok_or_else(|| err("internal date error"))?;
        if cron.next_match(epoch).is_none() {
            return Err(err(
                "it never matches (no date satisfies its day, month and year fields)",
            ));
        }
        Ok(cron)
    }

    /// The expression as given (trimmed).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The first naive date-time >= `from` (rounded up to a whole second) that matches, or
    /// `None` if there is none up to the end of year 9999.
    pub(crate) fn next_match(&self, from: NaiveDateTime) -> Option<NaiveDateTime> {
        let mut y = from.year();
        let mut mo = from.month();
        let mut d = from.day();
        let mut h = from.hour();
        let mut mi = from.minute();
        let mut s = from.second();
        if from.nanosecond() > 0 {
            s += 1; // carried by the loop below
        }
        // Every `continue` moves the position strictly forward and each pass is O(1), so the
        // loop is bounded by the number of months up to MAX_YEAR even for sparse expressions.
        loop {
            if y > MAX_YEAR {
                return None;
            }
            if let Some(years) = &self.years {
                let ny = next_year(years, y)?;
                if ny != y {
                    (y, mo, d, h, mi, s) = (ny, 1, 1, 0, 0, 0);
                }
            }
            match next_bit(u64::from(self.months), mo) {
                None => {
                    (y, mo, d, h, mi, s) = (y + 1, 1, 1, 0, 0, 0);
                    continue;
                }
                Some(m) if m != mo => (mo, d, h, mi, s) = (m, 1, 0, 0, 0),
                Some(_) => {}
            }
            match next_bit(u64::from(self.day_mask(y, mo)), d) {
                None => {
                    if mo == 12 {
                        (y, mo) = (y + 1, 1);
                    } else {
                        mo += 1;
                    }
                    (d, h, mi, s) = (1, 0, 0, 0);
                    continue;
                }
                Some(nd) if nd != d => (d, h, mi, s) = (nd, 0, 0, 0),
                Some(_) => {}
            }
            match next_bit(u64::from(self.hours), h) {
                None => {
                    (d, h, mi, s) = (d + 1, 0, 0, 0);
                    continue;
                }
                Some(nh) if nh != h => (h, mi, s) = (nh, 0, 0),
                Some(_) => {}
            }
            match next_bit(self.minutes, mi) {
                None => {
                    (h, mi, s) = (h + 1, 0, 0);
                    continue;
                }
                Some(nm) if nm != mi => (mi, s) = (nm, 0),
                Some(_) => {}
            }
            match next_bit(self.seconds, s) {
                None => {
                    (mi, s) = (mi + 1, 0);
                    continue;
                }
                Some(ns) => s = ns,
            }
            return NaiveDate::from_ymd_opt(y, mo, d)?.and_hms_opt(h, mi, s);
        }
    }

    /// Days of month `mo` of year `y` (bits 1..=31) on which the expression fires.
    fn day_mask(&self, y: i32, mo: u32) -> u32 {
        let dim = days_in_month(y, mo);
        let valid = ((1u64 << (dim + 1)) - 2) as u32;
        let first = NaiveDate::from_ymd_opt(y, mo, 1)
            .map(|d| d.weekday().num_days_from_sunday())
            .unwrap_or(0);
        let dow = self.dow_days_by_first[first as usize];
        let days = if self.days_and {
            self.days_of_month & dow
        } else {
            self.days_of_month | dow
        };
        days & valid
    }
}

pub(crate) fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

pub(crate) fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Lowest set bit of `bits` at position >= `from`.
fn next_bit(bits: u64, from: u32) -> Option<u32> {
    let rest = bits.checked_shr(from).unwrap_or(0);
    (rest != 0).then(|| from + rest.trailing_zeros())
}

fn next_year(years: &[u64; 3], y: i32) -> Option<i32> {
    let lo = YEAR_MIN as i32;
    let start = u32::try_from((y - lo).max(0)).ok()?;
    (start..=(YEAR_MAX - YEAR_MIN))
        .find(|&i| years[(i / 64) as usize] & (1 << (i % 64)) != 0)
        .map(|i| lo + i as i32)
}

fn parse_year_field(text: &str) -> Result<[u64; 3], CronError> {
    let mut bits = [0u64; 3];
    for (lo, hi, step) in parse_items(text, YEAR)? {
        let mut v = lo;
        while v <= hi {
            let i = v - YEAR_MIN;
            bits[(i / 64) as usize] |= 1 << (i % 64);
            v += step;
        }
    }
    Ok(bits)
}

/// Parses a field into a bitmask (bit n = value n).
fn parse_field(text: &str, spec: FieldSpec) -> Result<u64, CronError> {
    let mut bits = 0u64;
    for (lo, hi, step) in parse_items(text, spec)? {
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

/// Parses a comma list into inclusive `(low, high, step)` ranges within the field's bounds.
fn parse_items(text: &str, spec: FieldSpec) -> Result<Vec<(u32, u32, u32)>, CronError> {
    let name = spec.name;
    let mut out = Vec::new();
    for item in text.split(',') {
        if item.is_empty() {
            return Err(err(format!("{name} field '{text}' has an empty list item")));
        }
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => (base, Some(parse_step(step, spec)?)),
            None => (item, None),
        };
        let (lo, hi) = if base == "*" || (spec.day_field && base == "?") {
            (spec.min, spec.max)
        } else if let Some((a, b)) = base.split_once('-') {
            let lo = parse_value(a, spec, false)?;
            let mut hi = parse_value(b, spec, true)?;
            if lo == 0 && hi == 7 && spec.names.len() == 7 && !b.starts_with('7') {
                hi = 0; // SUN-SUN is Sunday, not the whole week
            }
            if lo > hi {
                return Err(err(format!(
                    "{name} range '{base}' goes backwards (write the lower value first)"
                )));
            }
            (lo, hi)
        } else {
            let v = parse_value(base, spec, false)?;
            // `N/STEP` means "from N to the end of the range, every STEP".
            (v, if step.is_some() { spec.max } else { v })
        };
        out.push((lo, hi, step.unwrap_or(1)));
    }
    Ok(out)
}

fn parse_step(text: &str, spec: FieldSpec) -> Result<u32, CronError> {
    let name = spec.name;
    match text.parse::<u32>() {
        Ok(step) if step >= 1 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(step),
        _ => Err(err(format!(
            "{name} step '{text}' must be a positive integer"
        ))),
    }
}

fn parse_value(text: &str, spec: FieldSpec, range_end: bool) -> Result<u32, CronError> {
    let name = spec.name;
    let (min, max) = (spec.min, spec.max);
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<u32>() {
            Ok(v) if (min..=max).contains(&v) => Ok(v),
            _ => Err(err(format!(
                "{name} value '{text}' is out of range {min}-{max}"
            ))),
        };
    }
    if let Some(i) = spec.names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        let v = i as u32 + u32::from(spec.names.len() == 12);
        // SUN closing a range means 7, so FRI-SUN is Friday to Sunday.
        return Ok(if range_end && spec.min == 0 && v == 0 {
            7
        } else {
            v
        });
    }
    if spec.day_field && text.contains(['L', 'W', '#', 'l', 'w']) {
        return Err(err(format!(
            "{name} value '{text}': the Quartz extensions L, W and # are not supported"
        )));
    }
    let hint = if spec.names.is_empty() {
        String::new()
    } else {
        format!(
            " or a name ({}-{})",
            spec.names[0],
            spec.names[spec.names.len() - 1]
        )
    };
    Err(err(format!(
        "{name} value '{text}' is not a number from {min} to {max}{hint}"
    )))
}

impl FromStr for CronExpr {
    type Err = CronError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl fmt::Debug for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronExpr({:?})", self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn next(expr: &str, from: &str) -> Option<NaiveDateTime> {
        CronExpr::parse(expr).unwrap().next_match(at(from))
    }

    fn msg(expr: &str) -> String {
        CronExpr::parse(expr).unwrap_err().to_string()
    }

    #[test]
    fn basic_fields() {
        assert_eq!(
            next("*/15 * * * *", "2024-01-01 10:07:00"),
            Some(at("2024-01-01 10:15:00"))
        );
        assert_eq!(
            next("0 9 * * *", "2024-01-01 09:00:00"),
            Some(at("2024-01-01 09:00:00"))
        );
        assert_eq!(
            next("0 9 * * *", "2024-01-01 09:00:01"),
            Some(at("2024-01-02 09:00:00"))
        );
        assert_eq!(
            next("0 0 1 1 *", "2024-06-01 00:00:00"),
            Some(at("2025-01-01 00:00:00"))
        );
        assert_eq!(
            next("0 0 29 2 *", "2025-01-01 00:00:00"),
            Some(at("2028-02-29 00:00:00"))
        );
        assert_eq!(
            next("0 0 31 * *", "2024-04-01 00:00:00"),
            Some(at("2024-05-31 00:00:00"))
        );
    }

    #[test]
    fn sub_second_start_rounds_up() {
        let from = at("2024-01-01 10:00:00") + chrono::Duration::milliseconds(1);
        let cron = CronExpr::parse("* * * * * *").unwrap();
        assert_eq!(cron.next_match(from), Some(at("2024-01-01 10:00:01")));
        let cron = CronExpr::parse("59 59 23 31 12 * *").unwrap();
        let from = at("2024-12-31 23:59:59") + chrono::Duration::milliseconds(1);
        assert_eq!(cron.next_match(from), Some(at("2025-12-31 23:59:59")));
    }

    #[test]
    fn weekdays_names_and_sunday() {
        // 2024-09-14 is a Saturday.
        assert_eq!(
            next("0 9 * * MON-FRI", "2024-09-14 00:00:00"),
            Some(at("2024-09-16 09:00:00"))
        );
        assert_eq!(
            next("0 9 * * mon-fri", "2024-09-14 00:00:00"),
            Some(at("2024-09-16 09:00:00"))
        );
        assert_eq!(
            next("0 9 * * 0", "2024-09-14 00:00:00"),
            Some(at("2024-09-15 09:00:00"))
        );
        assert_eq!(
            next("0 9 * * 7", "2024-09-14 00:00:00"),
            Some(at("2024-09-15 09:00:00"))
        );
        assert_eq!(
            next("0 9 * * SUN", "2024-09-14 00:00:00"),
            Some(at("2024-09-15 09:00:00"))
        );
        assert_eq!(
            next("0 9 * * 5-7", "2024-09-14 10:00:00"),
            Some(at("2024-09-15 09:00:00"))
        );
        assert_eq!(
            next("0 9 * * FRI-SUN", "2024-09-16 10:00:00"),
            Some(at("2024-09-20 09:00:00"))
        );
        assert_eq!(
            next("0 9 * JAN,jul *", "2024-02-01 00:00:00"),
            Some(at("2024-07-01 09:00:00"))
        );
        assert_eq!(CronExpr::parse("0 0 * * SUN-SUN").unwrap().days_of_week, 1);
        assert_eq!(CronExpr::parse("0 0 * * 0-7").unwrap().days_of_week, 0x7f);
        assert_eq!(CronExpr::parse("0 0 * * 0-SUN").unwrap().days_of_week, 1);
    }

    #[test]
    fn day_fields_or_and_and() {
        // Both restricted: the 13th OR a Friday. 2024-09-14 Sat -> Fri 2024-09-20, then 13th Oct.
        assert_eq!(
            next("0 0 13 * FRI", "2024-09-14 00:00:00"),
            Some(at("2024-09-20 00:00:00"))
        );
        assert_eq!(
            next("0 0 13 * FRI", "2024-10-05 00:00:00"),
            Some(at("2024-10-11 00:00:00"))
        );
        assert_eq!(
            next("0 0 13 * 3", "2024-11-07 00:00:00"),
            Some(at("2024-11-13 00:00:00"))
        );
        // Day of month starts with '*': AND (odd days that are Mondays), as in Vixie cron.
        assert_eq!(
            next("0 0 */2 * MON", "2024-09-01 00:00:00"),
            Some(at("2024-09-09 00:00:00"))
        );
        // '?' behaves like '*'.
        assert_eq!(
            next("0 0 ? * MON", "2024-09-01 00:00:00"),
            Some(at("2024-09-02 00:00:00"))
        );
    }

    #[test]
    fn seconds_and_years() {
        assert_eq!(
            next("30 */5 * * * *", "2024-01-01 10:01:00"),
            Some(at("2024-01-01 10:05:30"))
        );
        assert_eq!(
            next("0 0 12 1 1 * 2030", "2024-01-01 00:00:00"),
            Some(at("2030-01-01 12:00:00"))
        );
        assert_eq!(
            next("0 0 12 1 1 * 2030-2031", "2030-06-01 00:00:00"),
            Some(at("2031-01-01 12:00:00"))
        );
        assert_eq!(next("0 0 12 1 1 * 2030", "2030-06-01 00:00:00"), None);
        assert_eq!(
            next("0 0 0 1 1 * */10", "2024-01-01 00:00:01"),
            Some(at("2030-01-01 00:00:00"))
        );
    }

    #[test]
    fn steps_ranges_and_nicknames() {
        let c = CronExpr::parse("5/20 1-10/3 * * *").unwrap();
        assert_eq!(c.minutes, (1 << 5) | (1 << 25) | (1 << 45));
        assert_eq!(c.hours, (1 << 1) | (1 << 4) | (1 << 7) | (1 << 10));
        assert_eq!(CronExpr::parse("@daily").unwrap().hours, 1);
        assert_eq!(CronExpr::parse("@WEEKLY").unwrap().days_of_week, 1);
        assert_eq!(
            CronExpr::parse(" 0 0 * * * ").unwrap().as_str(),
            "0 0 * * *"
        );
    }

    #[test]
    fn rejections_say_why() {
        assert!(msg("").contains("empty"));
        assert!(msg("* * * *").contains("got 4"));
        assert!(msg("* * * * * * * *").contains("got 8"));
        assert!(msg("60 * * * *").contains("minute value '60' is out of range 0-59"));
        assert!(msg("* 24 * * *").contains("hour"));
        assert!(msg("* * 0 * *").contains("day-of-month"));
        assert!(msg("* * * 13 *").contains("month"));
        assert!(msg("* * * * 8").contains("day-of-week"));
        assert!(msg("* * * * FOO").contains("SUN-SAT"));
        assert!(msg("5-1 * * * *").contains("backwards"));
        assert!(msg("*/0 * * * *").contains("step"));
        assert!(msg("*/-1 * * * *").contains("step"));
        assert!(msg("1,,2 * * * *").contains("empty list item"));
        assert!(msg("0 0 L * *").contains("Quartz"));
        assert!(msg("0 0 * * 5#2").contains("Quartz"));
        assert!(msg("0 0 15W * *").contains("Quartz"));
        assert!(msg("0 0 0 1 1 * 1969").contains("year"));
        assert!(msg("0 0 0 1 1 * 2100").contains("year"));
        assert!(msg("0 0 30 2 *").contains("never matches"));
        assert!(msg("0 0 0 29 2 * 2025-2027").contains("never matches"));
        assert!(msg("@reboot").contains("nickname"));
        assert!(msg("* * * * * 99999999999999999999").contains("day-of-week"));
        assert!(msg(&"1,".repeat(600)).contains("longer"));
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in [
            "-",
            "*/",
            "/5 * * * *",
            "1-",
            "-1",
            "*-*",
            "**",
            "1/2/3 * * * *",
            "\u{0}",
            "é * * * *",
            "1 2 3 4 5 6 7",
            "0 0 0 * * * *",
            "? ? ? ? ?",
            "@",
            "@ daily",
            "4294967296 * * * *",
            "* * * * SUN-",
            "MON * * * *",
        ] {
            let _ = CronExpr::parse(s);
        }
    }
}
