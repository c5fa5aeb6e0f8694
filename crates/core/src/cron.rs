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
/// `@daily`, `@midnight`, `@hourly` are accepted. An expression that can never match (such as
/// `0 0 30 2 *`) is rejected, so that searches always terminate quickly.
///
/// Quartz's and EventBridge's day operators, case-insensitive, each a list item of its own:
/// - day of month: `L` (last day), `L-n` (n days before it, n 0-30), `LW` (last weekday),
///   `nW` (the weekday nearest day n: Saturday moves to Friday, Sunday to Monday, never into
///   another month, so `1W` on a Saturday is Monday the 3rd; no fire in a month without day n);
/// - day of week: `nL` (the last weekday n of the month: `5L`, `FRIL`), `n#k` (the k-th,
///   k 1-5: `MON#2`; none in a month without a k-th), and `L` alone (Saturday, as in Quartz).
///   Weekday numbers keep this grammar's 0-7 (Sunday 0 or 7), unlike Quartz's 1-7.
///
/// Operators count as restrictions for the Vixie rule, like any value not starting with `*`
/// or `?`: `0 0 L * 5L` fires on the last day of the month OR its last Friday, `0 0 L * *` on
/// the last day only. A list mixing operators and values matches any of its items (`1,15,L`).
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
    /// Quartz/EventBridge day-of-month operators (`L`, `L-n`, `LW`, `nW`), one per list item.
    dom_ops: Vec<DomOp>,
    /// Quartz/EventBridge day-of-week operators (`nL`, `n#k`), one per list item.
    dow_ops: Vec<DowOp>,
    /// Vixie rule: if either day field starts with `*`, a day must match both fields.
    days_and: bool,
    /// For each weekday of the 1st of a month, the days of that month whose weekday is in
    /// `days_of_week`. Precomputed so that matching a month is two bit operations.
    dow_days_by_first: [u32; 7],
}

/// Why a cron expression was refused; the text completes "cron_expression is invalid: ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CronError {
    message: String,
    /// Index (0-based) of the offending whitespace-separated field, when one field is at fault.
    field: Option<usize>,
}

impl CronError {
    /// Index (0-based) of the whitespace-separated field at fault, counted in the expression
    /// as given (after a nickname is expanded), when the problem lies in one field.
    pub fn field_index(&self) -> Option<usize> {
        self.field
    }

    fn in_field(mut self, index: usize) -> Self {
        self.field.get_or_insert(index);
        self
    }
}

/// A day-of-month operator, evaluated month by month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DomOp {
    /// `L` (n = 0) and `L-n`: n days before the last day of the month.
    Last(u32),
    /// `LW`: the last weekday (Monday to Friday) of the month.
    LastWeekday,
    /// `nW`: the weekday nearest day n, never crossing into another month; no fire in a
    /// month without day n (as plain `31` in April).
    NearestWeekday(u32),
}

/// A day-of-week operator, evaluated month by month (weekday: Sunday = 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DowOp {
    /// `L` alone: Quartz's "7 or SAT", every such weekday.
    Every(u32),
    /// `nL`: the last such weekday of the month.
    Last(u32),
    /// `n#k`: the k-th (1..=5) such weekday of the month; none when the month has fewer.
    Nth(u32, u32),
}

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
    CronError {
        message: msg.into(),
        field: None,
    }
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

        // Index of each field among those given, for error positions.
        let offset = fields.len() - 5 - usize::from(year.is_some());
        let at = move |i: usize| move |e: CronError| e.in_field(i + offset);
        let seconds = parse_field(second, SECOND).map_err(|e| e.in_field(0))?;
        let minutes = parse_field(minute, MINUTE).map_err(at(0))?;
        let hours = parse_field(hour, HOUR).map_err(at(1))? as u32;
        let (dom_bits, dom_ops) = split_day_ops(dom, DAY_OF_MONTH, parse_dom_op).map_err(at(2))?;
        let days_of_month = dom_bits as u32;
        let months = parse_field(month, MONTH).map_err(at(3))? as u16;
        let (dow_bits, dow_ops) = split_day_ops(dow, DAY_OF_WEEK, parse_dow_op).map_err(at(4))?;
        // 7 is Sunday too.
        let days_of_week = ((dow_bits | (dow_bits >> 7)) & 0x7f) as u8;
        let years = match year {
            None => None,
            Some(text) => Some(parse_year_field(text).map_err(|e| e.in_field(6))?),
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
            dom_ops,
            dow_ops,
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
        let mut dom = self.days_of_month;
        for op in &self.dom_ops {
            dom |= op.days(dim, first);
        }
        let mut dow = self.dow_days_by_first[first as usize];
        for op in &self.dow_ops {
            dow |= op.days(dim, first);
        }
        let days = if self.days_and { dom & dow } else { dom | dow };
        days & valid
    }
}

/// Weekday (Sunday = 0) of day `d` of a month whose 1st is on weekday `first`.
fn weekday_of(first: u32, d: u32) -> u32 {
    (first + d - 1) % 7
}

impl DomOp {
    /// The day (as bit 1..=31) this operator selects in a month of `dim` days whose 1st falls
    /// on weekday `first`; 0 when it selects none.
    fn days(self, dim: u32, first: u32) -> u32 {
        let day = match self {
            DomOp::Last(n) => dim.checked_sub(n).filter(|d| *d >= 1),
            DomOp::LastWeekday => Some(match weekday_of(first, dim) {
                6 => dim - 1,
                0 => dim - 2,
                _ => dim,
            }),
            DomOp::NearestWeekday(n) if n > dim => None,
            DomOp::NearestWeekday(n) => Some(match weekday_of(first, n) {
                // Saturday: the Friday before, unless that is in the previous month.
                6 if n == 1 => 3,
                6 => n - 1,
                // Sunday: the Monday after, unless that is in the next month.
                0 if n == dim => n - 2,
                0 => n + 1,
                _ => n,
            }),
        };
        day.map_or(0, |d| 1 << d)
    }
}

impl DowOp {
    /// As [`DomOp::days`].
    fn days(self, dim: u32, first: u32) -> u32 {
        let day = match self {
            DowOp::Every(w) => {
                let mut days = 0;
                let mut d = 1 + (w + 7 - first) % 7;
                while d <= dim {
                    days |= 1 << d;
                    d += 7;
                }
                return days;
            }
            DowOp::Last(w) => Some(dim - (weekday_of(first, dim) + 7 - w) % 7),
            DowOp::Nth(w, k) => Some(1 + (w + 7 - first) % 7 + 7 * (k - 1)).filter(|d| *d <= dim),
        };
        day.map_or(0, |d| 1 << d)
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

/// Splits a day field's list into its plain items (parsed as a bitmask, as before) and its
/// operator items (`parse_op` returns `None` for a plain item).
fn split_day_ops<T>(
    text: &str,
    spec: FieldSpec,
    parse_op: fn(&str) -> Result<Option<T>, CronError>,
) -> Result<(u64, Vec<T>), CronError> {
    let mut plain = Vec::new();
    let mut ops = Vec::new();
    for item in text.split(',') {
        match parse_op(item)? {
            Some(op) => ops.push(op),
            None => plain.push(item),
        }
    }
    if plain.is_empty() {
        return Ok((0, ops));
    }
    if ops.is_empty() {
        return Ok((parse_field(text, spec)?, ops));
    }
    Ok((parse_field(&plain.join(","), spec)?, ops))
}

fn small_number(text: &str, lo: u32, hi: u32) -> Option<u32> {
    if text.is_empty() || text.len() > 2 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|n| (lo..=hi).contains(n))
}

/// `L`, `L-n` (n 0-30), `LW`, `nW` (n 1-31); `None` for an item without `L` or `W`.
fn parse_dom_op(item: &str) -> Result<Option<DomOp>, CronError> {
    let upper = item.to_ascii_uppercase();
    if upper.contains('#') {
        return Err(err(format!(
            "day-of-month value '{item}': # belongs in the day-of-week field (MON#2)"
        )));
    }
    if !upper.contains(['L', 'W']) {
        return Ok(None);
    }
    let op = if upper == "L" {
        Some(DomOp::Last(0))
    } else if upper == "LW" {
        Some(DomOp::LastWeekday)
    } else if let Some(n) = upper.strip_prefix("L-") {
        small_number(n, 0, 30).map(DomOp::Last)
    } else if let Some(n) = upper.strip_suffix('W') {
        small_number(n, 1, 31).map(DomOp::NearestWeekday)
    } else {
        None
    };
    op.map(Some).ok_or_else(|| {
        err(format!(
            "day-of-month value '{item}' is not a valid L or W operator (write L, L-n with n \
             from 0 to 30, LW, or nW with n from 1 to 31)"
        ))
    })
}

/// `L` (Saturday, as in Quartz), `nL` and `n#k` (n a day of week 0-7 or a name, k 1-5);
/// `None` for an item without `L` or `#`.
fn parse_dow_op(item: &str) -> Result<Option<DowOp>, CronError> {
    let upper = item.to_ascii_uppercase();
    if !upper.contains(['L', '#']) {
        return Ok(None);
    }
    let bad = || {
        err(format!(
            "day-of-week value '{item}' is not a valid L or # operator (write nL for the last \
             such weekday of the month, such as 5L or FRIL, or n#k for the k-th, k from 1 to \
             5, such as MON#2)"
        ))
    };
    let weekday = |text: &str| -> Result<u32, CronError> {
        if text.contains('/') || text.contains('-') || text == "*" || text == "?" {
            return Err(bad());
        }
        parse_value(text, DAY_OF_WEEK, false).map(|v| v % 7)
    };
    if upper == "L" {
        return Ok(Some(DowOp::Every(6)));
    }
    if let Some((day, k)) = upper.split_once('#') {
        let k = small_number(k, 1, 5).ok_or_else(bad)?;
        return Ok(Some(DowOp::Nth(weekday(day)?, k)));
    }
    match upper.strip_suffix('L') {
        Some(day) if !day.is_empty() => Ok(Some(DowOp::Last(weekday(day)?))),
        _ => Err(bad()),
    }
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
        assert!(msg("0 0 L-31 * *").contains("day-of-month value 'L-31'"));
        assert!(msg("0 0 32W * *").contains("nW with n from 1 to 31"));
        assert!(msg("0 0 0W * *").contains("day-of-month"));
        assert!(msg("0 0 W * *").contains("day-of-month"));
        assert!(msg("0 0 1#2 * *").contains("belongs in the day-of-week"));
        assert!(msg("0 0 * * 5#6").contains("day-of-week value '5#6'"));
        assert!(msg("0 0 * * 5#0").contains("day-of-week"));
        assert!(msg("0 0 * * 8L").contains("day-of-week value '8' is out of range"));
        assert!(msg("0 0 * * 1-5L").contains("day-of-week value '1-5L'"));
        assert!(msg("0 0 * * #2").contains("day-of-week"));
        assert!(msg("0 0 L-29 2 *").contains("never matches"));
        assert!(msg("0 0 30W 2 *").contains("never matches"));
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

#[cfg(test)]
mod operator_tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    /// The days (as "YYYY-MM-DD") the expression fires on from `from`, `n` of them.
    fn days(expr: &str, from: &str, n: usize) -> Vec<String> {
        let c = CronExpr::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        let mut t = at(from);
        let mut out = Vec::new();
        while out.len() < n {
            let m = c.next_match(t).unwrap();
            out.push(m.format("%Y-%m-%d").to_string());
            t = m.date().succ_opt().unwrap().and_hms_opt(0, 0, 0).unwrap();
        }
        out
    }

    #[test]
    fn last_day_and_days_before_it() {
        assert_eq!(
            days("0 0 L * *", "2024-01-15 00:00:00", 3),
            ["2024-01-31", "2024-02-29", "2024-03-31"]
        );
        assert_eq!(
            days("0 0 L-3 * *", "2025-02-01 00:00:00", 2),
            ["2025-02-25", "2025-03-28"]
        );
        // L-30 exists only in 31-day months.
        assert_eq!(
            days("0 0 L-30 * *", "2025-02-01 00:00:00", 2),
            ["2025-03-01", "2025-05-01"]
        );
        assert_eq!(
            days("0 0 1,15,L * *", "2024-04-02 00:00:00", 3),
            ["2024-04-15", "2024-04-30", "2024-05-01"]
        );
    }

    #[test]
    fn nearest_weekday_never_crosses_the_month() {
        // 2022-01-01 is a Saturday: 1W is Monday the 3rd, not Friday Dec 31.
        assert_eq!(days("0 0 1W * *", "2022-01-01 00:00:00", 1), ["2022-01-03"]);
        // 2022-01-15 is a Saturday: 15W is Friday the 14th; 2022-05-15 a Sunday: Monday 16th.
        assert_eq!(
            days("0 0 15W 1 *", "2022-01-01 00:00:00", 1),
            ["2022-01-14"]
        );
        assert_eq!(
            days("0 0 15W 5 *", "2022-01-01 00:00:00", 1),
            ["2022-05-16"]
        );
        // 2022-07-31 is a Sunday: 31W is Friday the 29th, not Monday Aug 1.
        assert_eq!(
            days("0 0 31W 7 *", "2022-01-01 00:00:00", 1),
            ["2022-07-29"]
        );
        // 31W skips months without a 31st.
        assert_eq!(
            days("0 0 31W * *", "2022-04-01 00:00:00", 2),
            ["2022-05-31", "2022-07-29"]
        );
        // A weekday stays put (2022-03-10 is a Thursday).
        assert_eq!(
            days("0 0 10W 3 *", "2022-01-01 00:00:00", 1),
            ["2022-03-10"]
        );
    }

    #[test]
    fn last_weekday_of_the_month() {
        // 2022-04-30 Sat -> Fri 29th; 2022-07-31 Sun -> Fri 29th; 2022-08-31 Wed.
        assert_eq!(days("0 0 LW 4 *", "2022-01-01 00:00:00", 1), ["2022-04-29"]);
        assert_eq!(days("0 0 LW 7 *", "2022-01-01 00:00:00", 1), ["2022-07-29"]);
        assert_eq!(days("0 0 lw 8 *", "2022-01-01 00:00:00", 1), ["2022-08-31"]);
    }

    #[test]
    fn last_and_nth_weekday() {
        // Last Fridays of 2024: Jan 26, Feb 23, Mar 29.
        for expr in ["0 0 * * 5L", "0 0 * * FRIL", "0 0 ? * fril"] {
            assert_eq!(
                days(expr, "2024-01-01 00:00:00", 3),
                ["2024-01-26", "2024-02-23", "2024-03-29"],
                "{expr}"
            );
        }
        // Last Sunday, 0 or 7.
        assert_eq!(days("0 0 * * 7L", "2024-03-01 00:00:00", 1), ["2024-03-31"]);
        assert_eq!(days("0 0 * * 0L", "2024-03-01 00:00:00", 1), ["2024-03-31"]);
        // L alone in day of week is Quartz's "7 or SAT": every Saturday.
        assert_eq!(
            days("0 0 * * L", "2024-03-01 00:00:00", 2),
            ["2024-03-02", "2024-03-09"]
        );
        // Second Mondays: 2024-01-08, 2024-02-12.
        assert_eq!(
            days("0 0 * * MON#2", "2024-01-01 00:00:00", 2),
            ["2024-01-08", "2024-02-12"]
        );
        assert_eq!(
            days("0 0 * * 1#1", "2024-01-01 00:00:00", 1),
            ["2024-01-01"]
        );
        // January and February 2024 have four Fridays; March has a fifth, the 29th.
        assert_eq!(
            days("0 0 * * 5#5", "2024-01-01 00:00:00", 1),
            ["2024-03-29"]
        );
    }

    #[test]
    fn operators_follow_the_vixie_or_rule() {
        // Both restricted: the last day of the month OR its last Friday.
        assert_eq!(
            days("0 0 L * 5L", "2024-01-01 00:00:00", 4),
            ["2024-01-26", "2024-01-31", "2024-02-23", "2024-02-29"]
        );
        // The 1st OR the second Monday.
        assert_eq!(
            days("0 0 1 * MON#2", "2024-01-02 00:00:00", 2),
            ["2024-01-08", "2024-02-01"]
        );
        // Day of month starts with '*': AND, the second Monday only when it is odd.
        // (Jan 8, Feb 12 and Apr 8 are even.)
        assert_eq!(
            days("0 0 */2 * MON#2", "2024-01-01 00:00:00", 2),
            ["2024-03-11", "2024-05-13"]
        );
    }

    #[test]
    fn error_names_the_field_index() {
        let e = CronExpr::parse("0 0 15X * *").unwrap_err();
        assert_eq!(e.field_index(), Some(2));
        let e = CronExpr::parse("0 0 0 15 * 5#9").unwrap_err();
        assert_eq!(e.field_index(), Some(5));
        let e = CronExpr::parse("0 0 0 1 1 * 1969").unwrap_err();
        assert_eq!(e.field_index(), Some(6));
        let e = CronExpr::parse("0 0 30 2 *").unwrap_err();
        assert_eq!(e.field_index(), None);
    }
}
