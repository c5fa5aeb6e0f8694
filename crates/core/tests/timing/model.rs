//! Independent slow models of SPEC 5, for the property tests. Nothing here uses engine code:
//! local times are resolved by brute force over the tz database's offsets, calendar dates are
//! found by stepping through months and days one at a time, and cron matching is croner's.

use chrono::{
    DateTime, Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone,
    Timelike, Utc,
};
use chrono_tz::Tz;

/// Zones with the awkward cases: 30-minute DST (Lord Howe), a skipped day (Apia), 2-hour DST
/// (Troll), Ramadan DST breaks (Casablanca), odd offsets (Kathmandu, Chatham, St Johns),
/// midnight transitions (Sao Paulo, Havana, Santiago), the date line (Kiritimati).
pub const ZONES: &[&str] = &[
    "UTC",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Pacific/Apia",
    "America/Sao_Paulo",
    "Africa/Casablanca",
    "Europe/Berlin",
    "America/Los_Angeles",
    "Australia/Sydney",
    "Asia/Tokyo",
    "America/Santiago",
    "Asia/Tehran",
    "Pacific/Chatham",
    "America/St_Johns",
    "Europe/Moscow",
    "Asia/Kathmandu",
    "America/Havana",
    "Pacific/Kiritimati",
    "Antarctica/Troll",
    "Asia/Hong_Kong",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Minutes,
    Hours,
    Days,
    Weeks,
    Months,
    Years,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Minutes => "minutes",
            Unit::Hours => "hours",
            Unit::Days => "days",
            Unit::Weeks => "weeks",
            Unit::Months => "months",
            Unit::Years => "years",
        }
    }
}

pub fn max_instant() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("9999-12-31T23:59:59.999Z")
        .unwrap()
        .to_utc()
}

/// Seconds east of UTC at instant `t`, straight from the tz database.
pub fn offset(tz: Tz, t: DateTime<Utc>) -> i64 {
    i64::from(
        tz.offset_from_utc_datetime(&t.naive_utc())
            .fix()
            .local_minus_utc(),
    )
}

fn wall(tz: Tz, t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc() + TimeDelta::seconds(offset(tz, t))
}

/// The instant at which `local` is fired, by brute force: every offset in force within 18
/// hours either side (sampled every 2 hours; no zone changes offset twice within 2 hours) is
/// tried, and the earliest instant showing `local` wins. If none does, the clock jumped over
/// it, and it is read with the offset in force just before the jump.
pub fn resolve(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let base = local.and_utc();
    let samples: Vec<(DateTime<Utc>, i64)> = (-9..=9)
        .map(|i| base + TimeDelta::hours(2 * i))
        .map(|s| (s, offset(tz, s)))
        .collect();
    let mut offsets: Vec<i64> = samples.iter().map(|&(_, o)| o).collect();
    offsets.sort_unstable();
    offsets.dedup();
    let earliest = offsets
        .iter()
        .map(|&o| base - TimeDelta::seconds(o))
        .filter(|&u| wall(tz, u) == local)
        .min();
    if let Some(t) = earliest {
        return t;
    }
    let wall_at = |(s, o): (DateTime<Utc>, i64)| s.naive_utc() + TimeDelta::seconds(o);
    let jump = samples
        .windows(2)
        .find(|w| wall_at(w[0]) < local && wall_at(w[1]) > local)
        .unwrap_or_else(|| panic!("{local} in {tz} neither exists nor is in a gap"));
    base - TimeDelta::seconds(jump[0].1)
}

pub struct CalendarCase {
    pub unit: Unit,
    pub value: u32,
    pub tz: Tz,
    pub start: DateTime<Utc>,
    /// Local time of day from trigger_time, if given.
    pub time: Option<NaiveTime>,
    /// Local month and day from triger_month_and_day, if given.
    pub month_day: Option<(u32, u32)>,
    pub from: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
}

fn last_valid_day(y: i32, m: u32, day: u32) -> NaiveDate {
    (1..=day)
        .rev()
        .find_map(|d| NaiveDate::from_ymd_opt(y, m, d))
        .unwrap()
}

/// The first `n` slots >= `from` of a days/weeks/months/years schedule.
pub fn calendar_slots(c: &CalendarCase, n: usize) -> Vec<DateTime<Utc>> {
    let local_start = c.start.with_timezone(&c.tz).naive_local();
    let time = c.time.unwrap_or(local_start.time());
    let d0 = local_start.date();
    // A local date more than 3 days before `from`'s cannot resolve at or after `from`.
    let skip_before = c.from.with_timezone(&c.tz).date_naive() - Days::new(3);
    let v = i64::from(c.value);
    let mut found = Vec::new();
    let mut visit = |date: NaiveDate| -> bool {
        if date.year() > 10000 {
            return false;
        }
        if date >= skip_before {
            found.push(resolve(c.tz, date.and_time(time)));
        }
        // Candidates resolve within a day of their local time and are a day or more apart,
        // so two spare ones past the n-th are enough.
        found.iter().filter(|t| **t >= c.from).count() < n + 2
    };
    match c.unit {
        Unit::Days | Unit::Weeks => {
            let period = if c.unit == Unit::Days { v } else { 7 * v };
            // Day by day for the usual periods; for huge ones (values up to 1,000,000) a day
            // walk would take millions of steps, so chrono adds k * period days instead.
            if period <= 400 {
                let mut date = d0;
                let mut i = 0;
                loop {
                    if i % period == 0 && !visit(date) {
                        break;
                    }
                    match date.succ_opt() {
                        Some(d) => date = d,
                        None => break,
                    }
                    i += 1;
                }
            } else {
                for k in 0.. {
                    match d0.checked_add_days(Days::new((k * period) as u64)) {
                        Some(date) if visit(date) => {}
                        _ => break,
                    }
                }
            }
        }
        Unit::Months => {
            let (mut y, mut m) = (d0.year(), d0.month());
            // Month by month, except for periods of over a century (see days).
            if v <= 1200 {
                let mut i = 0;
                loop {
                    if i % v == 0 && !visit(last_valid_day(y, m, d0.day())) {
                        break;
                    }
                    m += 1;
                    if m == 13 {
                        (y, m) = (y + 1, 1);
                    }
                    if y > 10000 {
                        break;
                    }
                    i += 1;
                }
            } else {
                for k in 0.. {
                    let total = i64::from(y) * 12 + i64::from(m - 1) + k * v;
                    let (yy, mm) = ((total / 12) as i32, (total % 12) as u32 + 1);
                    if yy > 10000 || !visit(last_valid_day(yy, mm, d0.day())) {
                        break;
                    }
                }
            }
        }
        Unit::Years => {
            let (month, day) = c.month_day.unwrap_or((d0.month(), d0.day()));
            let mut y = d0.year();
            loop {
                if i64::from(y - d0.year()) % v == 0 {
                    let date = NaiveDate::from_ymd_opt(y, month, day)
                        .or_else(|| NaiveDate::from_ymd_opt(y, month, 28))
                        .unwrap();
                    if !visit(date) {
                        break;
                    }
                }
                y += 1;
                if y > 10000 {
                    break;
                }
            }
        }
        Unit::Minutes | Unit::Hours => unreachable!("fixed units use fixed_slots"),
    }
    finish(found, c.start, c.from, c.end, n)
}

fn finish(
    mut found: Vec<DateTime<Utc>>,
    start: DateTime<Utc>,
    from: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    n: usize,
) -> Vec<DateTime<Utc>> {
    let max = max_instant();
    found.retain(|t| *t >= start && *t >= from && end.is_none_or(|e| *t <= e) && *t <= max);
    found.sort();
    found.dedup();
    found.truncate(n);
    found
}

/// The first `n` slots >= `from` of a minutes/hours schedule: start, start + step, ...
pub fn fixed_slots(
    step: TimeDelta,
    start: DateTime<Utc>,
    from: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    n: usize,
) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let mut t = start;
    let max = max_instant();
    while out.len() < n && t <= max && end.is_none_or(|e| t <= e) {
        if t >= from {
            out.push(t);
        }
        t += step;
    }
    out
}

/// All slots in `[from, to]` of a cron schedule, by scanning every local minute (and, for
/// expressions with seconds, every second of matching minutes) and resolving each match.
pub fn cron_slots(
    expr: &str,
    tz: Tz,
    start: DateTime<Utc>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    use croner::parser::{CronParser, Seconds, Year};
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let (dom, dow) = if fields.len() == 5 {
        (fields[2], fields[4])
    } else {
        (fields[3], fields[5])
    };
    // Vixie cron: a day field starting with '*' makes the two day fields an AND. croner only
    // treats a literal '*' that way, so it is told explicitly.
    let and = dom.starts_with('*') || dow.starts_with('*');
    let parser = CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Optional)
        .dom_and_dow(and)
        .build();
    let full = parser.parse(expr).unwrap();
    let per_minute = if fields.len() == 5 {
        None
    } else {
        let mut any_second = fields.clone();
        any_second[0] = "*";
        Some(parser.parse(&any_second.join(" ")).unwrap())
    };

    let first = from.with_timezone(&tz).naive_local() - TimeDelta::hours(26);
    let first = first
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap();
    let last = to.with_timezone(&tz).naive_local() + TimeDelta::hours(3);
    let mut found = Vec::new();
    let mut minute = first;
    while minute <= last {
        match &per_minute {
            None => {
                if full.is_time_matching(&minute).unwrap() {
                    found.push(resolve(tz, minute));
                }
            }
            Some(per_minute) => {
                if per_minute.is_time_matching(&minute).unwrap() {
                    for s in 0..60 {
                        let t = minute + TimeDelta::seconds(s);
                        if full.is_time_matching(&t).unwrap() {
                            found.push(resolve(tz, t));
                        }
                    }
                }
            }
        }
        minute += TimeDelta::minutes(1);
    }
    found.retain(|t| *t <= to);
    finish(found, start, from, None, usize::MAX)
}

/// Whether `date` matches one item of a day field of the generator in `properties.rs`
/// (`N`, `N-M`, `*/S`, names, and the Quartz operators), found by looking at the calendar:
/// the whole month is listed and searched, nothing is computed from weekday arithmetic.
fn day_item_matches(item: &str, dom_field: bool, date: NaiveDate) -> bool {
    const NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    let month: Vec<NaiveDate> = (1..=31)
        .filter_map(|d| NaiveDate::from_ymd_opt(date.year(), date.month(), d))
        .collect();
    let weekday = |d: &NaiveDate| d.weekday().num_days_from_sunday();
    let is_weekday = |d: &&NaiveDate| (1..=5).contains(&weekday(d));
    let day_of_week = |s: &str| -> u32 {
        NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(s))
            .map_or_else(|| s.parse::<u32>().unwrap() % 7, |i| i as u32)
    };
    let item = item.to_ascii_uppercase();
    let plain_value = |s: &str| -> u32 {
        if dom_field {
            s.parse().unwrap()
        } else {
            day_of_week(s)
        }
    };
    let here = if dom_field {
        date.day()
    } else {
        weekday(&date)
    };
    if dom_field {
        let last = *month.last().unwrap();
        if item == "L" {
            return date == last;
        }
        if let Some(n) = item.strip_prefix("L-") {
            return last.day().checked_sub(n.parse().unwrap()) == Some(date.day());
        }
        if item == "LW" {
            return Some(&date) == month.iter().rfind(is_weekday);
        }
        if let Some(n) = item.strip_suffix('W') {
            let n: u32 = n.parse().unwrap();
            if n > last.day() {
                return false;
            }
            // The nearest Monday-Friday of this month (never a tie: see the docs).
            let nearest = month
                .iter()
                .filter(is_weekday)
                .min_by_key(|d| (i64::from(d.day()) - i64::from(n)).abs())
                .unwrap();
            return *nearest == date;
        }
    } else {
        if item == "L" {
            return weekday(&date) == 6;
        }
        if let Some((w, k)) = item.split_once('#') {
            let w = day_of_week(w);
            let k: usize = k.parse().unwrap();
            return month.iter().filter(|d| weekday(d) == w).nth(k - 1) == Some(&date);
        }
        if let Some(w) = item.strip_suffix('L') {
            let w = day_of_week(w);
            return month.iter().rfind(|d| weekday(d) == w) == Some(&date);
        }
    }
    let (range, step) = match item.split_once('/') {
        Some((r, s)) => (r, s.parse::<u32>().unwrap()),
        None => (item.as_str(), 1),
    };
    let (lo, hi) = match range {
        "*" | "?" if dom_field => (1, 31),
        "*" | "?" => (0, 6),
        r => match r.split_once('-') {
            Some((a, b)) => (plain_value(a), plain_value(b)),
            None => (plain_value(r), plain_value(r)),
        },
    };
    let mut v = lo;
    while v <= hi {
        if v == here {
            return true;
        }
        v += step;
    }
    false
}

/// All slots in `[from, to]` of a cron schedule whose day fields may hold Quartz operators:
/// the day fields are judged by [`day_item_matches`] with the Vixie rule, the others by
/// croner with both day fields `*`, every local minute (and second) being scanned.
pub fn operator_cron_slots(
    expr: &str,
    tz: Tz,
    start: DateTime<Utc>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    use croner::parser::{CronParser, Seconds, Year};
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let (di, wi) = if fields.len() == 5 { (2, 4) } else { (3, 5) };
    let (dom, dow) = (fields[di], fields[wi]);
    let and = dom.starts_with(['*', '?']) || dow.starts_with(['*', '?']);
    let day_matches = |date: NaiveDate| {
        let d = dom.split(',').any(|i| day_item_matches(i, true, date));
        let w = dow.split(',').any(|i| day_item_matches(i, false, date));
        if and {
            d && w
        } else {
            d || w
        }
    };
    let mut time_fields = fields.clone();
    time_fields[di] = "*";
    time_fields[wi] = "*";
    let parser = CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Optional)
        .build();
    let time = parser.parse(&time_fields.join(" ")).unwrap();
    let first = from.with_timezone(&tz).naive_local() - TimeDelta::hours(26);
    let first = first
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap();
    let last = to.with_timezone(&tz).naive_local() + TimeDelta::hours(3);
    let mut found = Vec::new();
    let mut minute = first;
    let mut day_cache: Option<(NaiveDate, bool)> = None;
    while minute <= last {
        let date = minute.date();
        let ok = match day_cache {
            Some((d, ok)) if d == date => ok,
            _ => {
                let ok = day_matches(date);
                day_cache = Some((date, ok));
                ok
            }
        };
        if ok {
            let seconds: Vec<i64> = if fields.len() == 5 {
                vec![0]
            } else {
                (0..60).collect()
            };
            for s in seconds {
                let t = minute + TimeDelta::seconds(s);
                if time.is_time_matching(&t).unwrap() {
                    found.push(resolve(tz, t));
                }
            }
        }
        minute += TimeDelta::minutes(1);
    }
    found.retain(|t| *t <= to);
    finish(found, start, from, None, usize::MAX)
}
