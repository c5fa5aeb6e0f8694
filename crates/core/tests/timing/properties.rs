//! Property tests: the engine against the models in `model.rs`, plus invariants.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use chrono::{
    DateTime, Datelike, Days, Months, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat,
    TimeDelta, TimeZone, Utc,
};
use chrono_tz::Tz;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use scheduler_core::{MisfirePolicy, PlanInput, Schedule, StoredTiming};
use serde_json::{json, Value};

use super::model::{self, CalendarCase, Unit, ZONES};

/// Slots compared per case.
const N: usize = 6;
const DAY_MS: f64 = 86_400_000.0;

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn ms(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t).unwrap()
}

/// An RFC 3339 string, with `tz`'s offset, whose wall-clock reading in `tz` is one of
/// `candidates` (the first that exists).
fn local_rfc(tz: Tz, candidates: &[NaiveDateTime]) -> String {
    candidates
        .iter()
        .find_map(|l| tz.from_local_datetime(l).earliest())
        .expect("one of the candidate local times exists")
        .to_rfc3339_opts(SecondsFormat::Millis, false)
}

fn zone() -> impl Strategy<Value = (String, Tz)> {
    prop::sample::select(ZONES).prop_map(|name| (name.to_string(), name.parse::<Tz>().unwrap()))
}

fn millis() -> impl Strategy<Value = i64> {
    prop_oneof![3 => Just(0i64), 1 => 0i64..1000]
}

type TransitionCache = HashMap<(String, i32), Vec<DateTime<Utc>>>;

/// The instants in `year` at which `tz` changes its offset, found by scanning the tz database
/// every 12 hours (no zone changes twice within 12 hours) and bisecting to the second.
/// Cached across tests: the same few thousand (zone, year) pairs come up again and again.
fn transitions(tz: Tz, year: i32) -> Vec<DateTime<Utc>> {
    static CACHE: OnceLock<Mutex<TransitionCache>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (tz.name().to_string(), year);
    if let Some(found) = cache.lock().unwrap().get(&key) {
        return found.clone();
    }
    let step = TimeDelta::hours(12);
    let mut t = Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).unwrap();
    let end = Utc.with_ymd_and_hms(year + 1, 1, 1, 0, 0, 0).unwrap();
    let mut found = Vec::new();
    let mut current = model::offset(tz, t);
    while t < end {
        let next = model::offset(tz, t + step);
        if next != current {
            let (mut lo, mut hi) = (t.timestamp(), (t + step).timestamp());
            while hi - lo > 1 {
                let mid = (lo + hi) / 2;
                if model::offset(tz, ms(mid * 1000)) == current {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            found.push(ms(hi * 1000));
            current = next;
        }
        t += step;
    }
    cache.lock().unwrap().insert(key, found.clone());
    found
}

/// Starts from 1970 to 2100: uniform, in DST-change months, or around Apia's skipped day.
fn start() -> BoxedStrategy<DateTime<Utc>> {
    let uniform = (0i64..4_102_444_800, millis()).prop_map(|(s, m)| ms(s * 1000 + m));
    let transitions = (
        1970i32..2100,
        prop::sample::select(vec![3u32, 4, 9, 10, 11]),
        1u32..=28,
        0u32..24,
        prop::sample::select(vec![0u32, 15, 30, 45, 59]),
        millis(),
    )
        .prop_map(|(y, mo, d, h, mi, m)| {
            Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap() + TimeDelta::milliseconds(m)
        });
    let apia = (0i64..10 * 86_400).prop_map(|s| ms((1_324_771_200 + s) * 1000)); // from 2011-12-25
    prop_oneof![5 => uniform, 4 => transitions, 1 => apia].boxed()
}

/// Local time of day for trigger_time, biased to the small hours where DST changes happen.
fn time_of_day() -> impl Strategy<Value = Option<NaiveTime>> {
    let hour = prop_oneof![0u32..24, 0u32..4];
    let minute = prop_oneof![prop::sample::select(vec![0u32, 15, 30, 45]), 0u32..60];
    let second = prop_oneof![3 => Just(0u32), 1 => 0u32..60];
    prop_oneof![
        1 => Just(None),
        2 => (hour, minute, second, millis()).prop_map(|(h, m, s, ms)| {
            NaiveTime::from_hms_milli_opt(h, m, s, ms as u32)
        }),
    ]
}

fn month_day() -> impl Strategy<Value = Option<(u32, u32)>> {
    prop_oneof![
        2 => Just(None),
        1 => Just(Some((2, 29))),
        3 => (1u32..=12, 1u32..=31)
            .prop_filter_map("real date", |(m, d)| {
                NaiveDate::from_ymd_opt(2000, m, d).map(|_| Some((m, d)))
            }),
    ]
}

fn value() -> impl Strategy<Value = u32> {
    prop_oneof![6 => 1u32..=3, 3 => 1u32..=40, 1 => 1u32..=1_000_000]
}

fn end_periods() -> impl Strategy<Value = Option<u32>> {
    prop_oneof![3 => Just(None), 1 => (0u32..8).prop_map(Some)]
}

/// Where the slots are asked from.
#[derive(Debug, Clone, Copy)]
enum From {
    /// `start` plus a fraction of the span the model can afford, plus a jitter.
    Relative {
        frac: f64,
        jitter_ms: i64,
    },
    At(DateTime<Utc>),
}

#[derive(Debug, Clone)]
struct Case {
    value: u32,
    zone: (String, Tz),
    start: DateTime<Utc>,
    time: Option<NaiveTime>,
    month_day: Option<(u32, u32)>,
    from: From,
    end_periods: Option<u32>,
}

/// Random schedules over all zones, dates and values.
fn general_case() -> impl Strategy<Value = Case> {
    (
        value(),
        zone(),
        start(),
        time_of_day(),
        month_day(),
        (0.0f64..1.0, -3 * 86_400_000i64..3 * 86_400_000),
        end_periods(),
    )
        .prop_map(
            |(value, zone, start, time, month_day, (frac, jitter_ms), end_periods)| Case {
                value,
                zone,
                start,
                time,
                month_day,
                from: From::Relative { frac, jitter_ms },
                end_periods,
            },
        )
}

/// Schedules aimed at a DST change: a transition of a random zone and year is picked, the
/// time of day is put inside (or at the edge of) its gap or overlap, the start is a whole
/// number of periods before that date, and the slots are asked for from just before it.
fn dst_case(unit: Unit) -> impl Strategy<Value = Case> {
    (
        zone(),
        // 2011: Apia's skipped day; 1994-95: Kiritimati's.
        prop_oneof![8 => 1971i32..2099, 1 => Just(2011), 1 => 1994i32..=1995],
        any::<prop::sample::Index>(),
        0u32..4,
        1u32..=3,
        (0u32..6, 0.0f64..1.0),
        (0u32..(N as u32 - 1), 0i64..6 * 3_600_000),
        end_periods(),
    )
        .prop_map(
            move |(zone, year, pick, j, value, (edge, frac), (r, jitter_ms), end_periods)| {
                let tz = zone.1;
                let ts = transitions(tz, year);
                if ts.is_empty() {
                    let start = Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).unwrap();
                    return Case {
                        value,
                        zone,
                        start,
                        time: None,
                        month_day: None,
                        from: From::Relative { frac, jitter_ms },
                        end_periods,
                    };
                }
                let t = ts[pick.index(ts.len())];
                let before = model::offset(tz, t - TimeDelta::seconds(1));
                let after = model::offset(tz, t);
                // Gap: local [t+before, t+after); overlap: local [t+after, t+before).
                let range_start = t.naive_utc() + TimeDelta::seconds(before.min(after));
                let width = (after - before).abs();
                let inside = match edge {
                    0 => 0,
                    1 => width - 1,
                    2 => -60,
                    3 => width,
                    _ => (frac * width as f64) as i64 / 60 * 60,
                };
                let target = range_start + TimeDelta::seconds(inside);
                let date = target.date();
                let v = u64::from(value);
                let (start_date, period_days) = match unit {
                    Unit::Days => (date.checked_sub_days(Days::new(u64::from(j) * v)), v),
                    Unit::Weeks => (
                        date.checked_sub_days(Days::new(7 * u64::from(j) * v)),
                        7 * v,
                    ),
                    Unit::Months => (date.checked_sub_months(Months::new(j * value)), 31 * v),
                    _ => (
                        NaiveDate::from_ymd_opt(date.year() - (j * value) as i32, 1, 1),
                        366 * v,
                    ),
                };
                let start_date = start_date.unwrap();
                // The first instant of the start date (midnight may not exist there).
                let start = [0, 1, 2, 3, 12]
                    .iter()
                    .find_map(|&h| {
                        tz.from_local_datetime(&start_date.and_hms_opt(h, 0, 0).unwrap())
                            .earliest()
                    })
                    .map(|t| t.to_utc())
                    .unwrap_or_else(|| start_date.and_hms_opt(12, 0, 0).unwrap().and_utc());
                let from =
                    t - TimeDelta::days(i64::from(r) * period_days as i64) - TimeDelta::hours(3)
                        + TimeDelta::milliseconds(jitter_ms);
                Case {
                    value,
                    zone,
                    start,
                    time: Some(target.time()),
                    month_day: (unit == Unit::Years).then(|| (date.month(), date.day())),
                    from: From::At(from),
                    end_periods,
                }
            },
        )
}

fn calendar_case(unit: Unit) -> impl Strategy<Value = Case> {
    prop_oneof![3 => general_case(), 2 => dst_case(unit)]
}

struct Built {
    schedule: Schedule,
    from: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
}

/// Builds the schedule through `Schedule::from_json`, as the API does; `extra` fields are
/// added to the document.
fn build(unit: Unit, case: &Case, extra: Value) -> Built {
    let (zone_name, tz) = (&case.zone.0, case.zone.1);
    let v = f64::from(case.value);
    let (period_ms, span_ms) = match unit {
        Unit::Minutes => (60_000.0 * v, 2000.0 * 60_000.0 * v),
        Unit::Hours => (3_600_000.0 * v, 2000.0 * 3_600_000.0 * v),
        Unit::Days => (DAY_MS * v, DAY_MS * (40.0 * v).min(1500.0)),
        Unit::Weeks => (7.0 * DAY_MS * v, DAY_MS * (280.0 * v).min(1500.0)),
        Unit::Months => (30.44 * DAY_MS * v, 30.44 * DAY_MS * (40.0 * v).min(1500.0)),
        Unit::Years => (
            365.25 * DAY_MS * v,
            365.25 * DAY_MS * (40.0 * v).min(1500.0),
        ),
    };
    let limit = model::max_instant().timestamp_millis();
    let from_ms = match case.from {
        From::Relative { frac, jitter_ms } => {
            (case.start.timestamp_millis() as f64 + frac * span_ms) as i64 + jitter_ms
        }
        From::At(t) => t.timestamp_millis(),
    };
    let from = ms(from_ms.min(limit));
    let end = case
        .end_periods
        .map(|k| ms(((from_ms as f64 + f64::from(k) * period_ms) as i64).min(limit)))
        .filter(|e| *e > case.start);

    let mut doc = json!({
        "type": "recurring",
        "trigger_frequency_unit": unit.as_str(),
        "trigger_frequency_value": case.value,
        "start_datetime": rfc(case.start),
        "timezone": zone_name,
    });
    if let Some(t) = case.time {
        let dates = [(2001, 1, 15), (2001, 7, 15), (1999, 5, 5)];
        let locals: Vec<_> = dates
            .iter()
            .map(|&(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).unwrap().and_time(t))
            .collect();
        doc["trigger_time"] = json!(local_rfc(tz, &locals));
    }
    if let Some((m, d)) = case.month_day {
        let date = NaiveDate::from_ymd_opt(2000, m, d).unwrap();
        let locals = [
            date.and_hms_opt(12, 0, 0).unwrap(),
            date.and_hms_opt(15, 0, 0).unwrap(),
        ];
        doc["triger_month_and_day"] = json!(local_rfc(tz, &locals));
    }
    if let Some(e) = end {
        doc["end_datetime"] = json!(rfc(e));
    }
    if let (Value::Object(doc), Value::Object(extra)) = (&mut doc, extra) {
        doc.extend(extra);
    }
    let schedule = match &doc {
        Value::Object(map) => Schedule::from_json(map).unwrap_or_else(|e| panic!("{doc}: {e}")),
        _ => unreachable!(),
    };
    assert_eq!(
        Schedule::from_stored(&stored_timing(&doc)).as_ref(),
        Ok(&schedule),
        "a stored row and its document give the same schedule: {doc}"
    );
    Built {
        schedule,
        from,
        end,
    }
}

/// The typed columns a stored row of `doc` holds (what the API writes for it).
fn stored_timing(doc: &Value) -> StoredTiming<'_> {
    let time = |k: &str| {
        doc[k]
            .as_str()
            .map(|s| DateTime::parse_from_rfc3339(s).unwrap().to_utc())
    };
    StoredTiming {
        kind: doc["type"].as_str().unwrap_or("recurring"),
        one_time_schedule_type: doc["one_time_schedule_type"].as_str(),
        trigger_frequency_unit: doc["trigger_frequency_unit"].as_str(),
        trigger_frequency_value: doc["trigger_frequency_value"].as_i64(),
        trigger_time: time("trigger_time"),
        triger_month_and_day: time("triger_month_and_day"),
        start_datetime: time("start_datetime").unwrap(),
        timezone: doc["timezone"].as_str().unwrap_or("UTC"),
        cron_expression: doc["cron_expression"].as_str(),
        schedule_expression: doc["schedule_expression"].as_str(),
        flexible_time_window_minutes: doc["flexible_time_window_minutes"].as_i64().unwrap_or(0),
        end_datetime: time("end_datetime"),
        max_fires: doc["max_fires"].as_i64(),
        misfire_policy: doc["misfire_policy"].as_str().unwrap_or("fire_once"),
    }
}

/// Compares the engine with the model and checks the invariants.
fn check(built: &Built, expected: &[DateTime<Utc>]) -> Result<(), TestCaseError> {
    let s = &built.schedule;
    let from = built.from;
    let got: Vec<_> = s.slots_from(from).take(N).collect();
    prop_assert_eq!(&got, expected, "slots_from({}) of {:?}", rfc(from), s);
    prop_assert!(got.windows(2).all(|w| w[0] < w[1]), "strictly increasing");
    prop_assert!(got.iter().all(|t| *t >= s.start() && *t >= from));
    prop_assert!(got.iter().all(|t| built.end.is_none_or(|e| *t <= e)));
    prop_assert_eq!(s.first_at_or_after(from), expected.first().copied());
    let after = expected.iter().copied().find(|t| *t > from);
    if after.is_some() || expected.len() < N {
        prop_assert_eq!(s.next_after(from), after, "next_after({})", rfc(from));
    }
    if let Some(&first) = expected.first() {
        // Asking again from each slot gives that slot (the runner's path: next_after(fire)).
        prop_assert_eq!(s.first_at_or_after(first), Some(first));
        for w in expected.windows(2) {
            prop_assert_eq!(s.next_after(w[0]), Some(w[1]));
        }
    }
    Ok(())
}

fn check_calendar(unit: Unit, case: Case) -> Result<(), TestCaseError> {
    let built = build(unit, &case, json!({}));
    let expected = model::calendar_slots(
        &CalendarCase {
            unit,
            value: case.value,
            tz: case.zone.1,
            start: built.schedule.start(),
            time: case.time,
            month_day: if unit == Unit::Years {
                case.month_day
            } else {
                None
            },
            from: built.from,
            end: built.end,
        },
        N,
    );
    check(&built, &expected)
}

fn check_fixed(unit: Unit, case: Case) -> Result<(), TestCaseError> {
    let built = build(unit, &case, json!({}));
    let step = match unit {
        Unit::Minutes => TimeDelta::minutes(i64::from(case.value)),
        _ => TimeDelta::hours(i64::from(case.value)),
    };
    let expected = model::fixed_slots(step, built.schedule.start(), built.from, built.end, N);
    check(&built, &expected)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn minutes_match_the_model(case in general_case()) {
        check_fixed(Unit::Minutes, case)?;
    }

    #[test]
    fn hours_match_the_model(case in general_case()) {
        check_fixed(Unit::Hours, case)?;
    }

    #[test]
    fn days_match_the_model(case in calendar_case(Unit::Days)) {
        check_calendar(Unit::Days, case)?;
    }

    #[test]
    fn weeks_match_the_model(case in calendar_case(Unit::Weeks)) {
        check_calendar(Unit::Weeks, case)?;
    }

    #[test]
    fn months_match_the_model(case in calendar_case(Unit::Months)) {
        check_calendar(Unit::Months, case)?;
    }

    #[test]
    fn years_match_the_model(case in calendar_case(Unit::Years)) {
        check_calendar(Unit::Years, case)?;
    }
}

// ---------------------------------------------------------------- cron

fn cron_field(options: &'static [&'static str], max: u32) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(options).prop_map(str::to_string),
        1 => (0..=max).prop_map(|v| v.to_string()),
    ]
}

fn cron_expression() -> impl Strategy<Value = String> {
    let second = cron_field(&["0", "30", "0,30", "*/20", "15-16", "59"], 59);
    let minute = cron_field(
        &[
            "0", "30", "0,30", "*/15", "5-10", "*/7", "59", "*", "15,45", "10-50/20",
        ],
        59,
    );
    let hour = cron_field(
        &[
            "*", "2", "1-3", "*/6", "0,12", "2,3", "23", "0-4", "1", "*/2",
        ],
        23,
    );
    let dom = prop_oneof![
        6 => Just("*".to_string()),
        1 => cron_field(&["*/2", "1", "15", "31", "1-7", "10,20", "29", "*/10"], 31)
            .prop_map(|s| if s == "0" { "1".to_string() } else { s }),
    ];
    let month = prop_oneof![
        6 => Just("*".to_string()),
        1 => prop::sample::select(vec!["3,10,11", "JAN-JUN", "mar,apr,oct,nov", "*/2", "9-12"])
            .prop_map(str::to_string),
    ];
    let dow = prop_oneof![
        5 => Just("*".to_string()),
        1 => prop::sample::select(vec![
            "MON-FRI", "0", "7", "SUN", "6,7", "1-5/2", "*/2", "sat,sun", "FRI-SUN", "3",
        ])
            .prop_map(str::to_string),
    ];
    let year = prop_oneof![
        3 => Just(None),
        1 => prop::sample::select(vec!["*", "1970-2099", "2000-2050/2", "1990,2024,2038"])
            .prop_map(Some),
    ];
    (
        prop_oneof![3 => Just(5usize), 1 => Just(6usize)],
        second,
        minute,
        hour,
        dom,
        month,
        dow,
        year,
    )
        .prop_map(|(fields, s, mi, h, dom, mo, dow, y)| match (fields, y) {
            (5, None) => format!("{mi} {h} {dom} {mo} {dow}"),
            (_, None) => format!("{s} {mi} {h} {dom} {mo} {dow}"),
            (_, Some(y)) => format!("{s} {mi} {h} {dom} {mo} {dow} {y}"),
        })
}

/// A zone and an instant: anywhere, or from 20 hours before to 2 hours after one of the
/// zone's offset changes.
fn zone_and_from() -> impl Strategy<Value = ((String, Tz), DateTime<Utc>)> {
    let near_change = (
        zone(),
        1971i32..2099,
        any::<prop::sample::Index>(),
        -2 * 3_600_000i64..20 * 3_600_000,
    )
        .prop_map(|(zone, year, pick, back)| {
            let ts = transitions(zone.1, year);
            let t = if ts.is_empty() {
                Utc.with_ymd_and_hms(year, 3, 1, 0, 0, 0).unwrap()
            } else {
                ts[pick.index(ts.len())]
            };
            (zone, t - TimeDelta::milliseconds(back))
        });
    prop_oneof![(zone(), start()), near_change]
}

fn check_cron(
    expr: String,
    (zone_name, tz): (String, Tz),
    from: DateTime<Utc>,
    start: DateTime<Utc>,
) -> Result<(), TestCaseError> {
    let doc = json!({
        "trigger_frequency_unit": "cron", "cron_expression": expr,
        "start_datetime": rfc(start), "timezone": zone_name,
    });
    let Value::Object(map) = &doc else {
        unreachable!()
    };
    // Every generated expression matches some date (each day of month the generator picks
    // exists in a month it pairs it with, and every year field holds years after 1970), so a
    // refusal is an engine bug, not a case to skip.
    let schedule = Schedule::from_json(map)
        .map_err(|e| TestCaseError::fail(format!("{expr} refused: {e}")))?;
    let from_row = Schedule::from_stored(&stored_timing(&doc));
    prop_assert_eq!(from_row.as_ref(), Ok(&schedule), "stored row of {}", doc);
    let to = from + TimeDelta::days(1);
    let expected = model::cron_slots(&expr, tz, schedule.start(), from, to);
    let got: Vec<_> = schedule.slots_from(from).take_while(|t| *t <= to).collect();
    prop_assert_eq!(&got, &expected, "{} in {} from {}", expr, tz, rfc(from));
    let first = schedule.first_at_or_after(from);
    if let Some(&e) = expected.first() {
        prop_assert_eq!(first, Some(e));
    } else {
        prop_assert!(first.is_none_or(|t| t > to));
    }
    for w in expected.windows(2) {
        prop_assert_eq!(schedule.next_after(w[0]), Some(w[1]));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn cron_matches_a_minute_by_minute_scan(
        expr in cron_expression(),
        (zone, from) in zone_and_from(),
        start_offset in prop_oneof![3 => Just(-30 * 86_400_000i64), 1 => 0i64..86_400_000],
    ) {
        check_cron(expr, zone, from, from + TimeDelta::milliseconds(start_offset))?;
    }
}

/// Expressions whose day fields use the Quartz operators, alone, in lists, beside plain
/// values, under both the AND and the OR rule; months and years chosen so that every one
/// matches some day.
fn operator_cron_expression() -> impl Strategy<Value = String> {
    let second = prop::sample::select(vec!["0", "30", "0,30"]);
    let minute = prop::sample::select(vec!["0", "30", "0,30", "*/15", "59", "*"]);
    let hour = prop::sample::select(vec!["*", "2", "1-3", "0,12", "2,3", "23", "*/6"]);
    let dom = prop::sample::select(vec![
        "*",
        "?",
        "L",
        "L-1",
        "L-3",
        "L-27",
        "LW",
        "lw",
        "1W",
        "15W",
        "30W",
        "31W",
        "1,L",
        "L,15W",
        "10-12,L-2",
        "*/2",
        "15",
        "?",
    ]);
    let month = prop::sample::select(vec!["*", "*", "*", "2", "2,3", "JAN-JUN", "*/2", "11"]);
    let dow = prop::sample::select(vec![
        "*", "?", "5L", "FRIL", "7L", "0L", "L", "MON#2", "1#1", "0#5", "sat#5", "5#3,1",
        "MON-FRI", "6,0#2", "3L,3#1", "*",
    ]);
    let year = prop::sample::select(vec![None, None, Some("*"), Some("2000-2050/2")]);
    (
        prop_oneof![2 => Just(5usize), 1 => Just(6usize)],
        second,
        minute,
        hour,
        dom,
        month,
        dow,
        year,
    )
        .prop_map(|(fields, s, mi, h, dom, mo, dow, y)| match (fields, y) {
            (5, _) => format!("{mi} {h} {dom} {mo} {dow}"),
            (_, None) => format!("{s} {mi} {h} {dom} {mo} {dow}"),
            (_, Some(y)) => format!("{s} {mi} {h} {dom} {mo} {dow} {y}"),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn cron_day_operators_match_a_calendar_model(
        expr in operator_cron_expression(),
        ((zone_name, tz), from) in zone_and_from(),
    ) {
        let doc = json!({
            "trigger_frequency_unit": "cron", "cron_expression": expr,
            "start_datetime": "1970-01-01T00:00:00.000Z", "timezone": zone_name,
        });
        let Value::Object(map) = &doc else { unreachable!() };
        let schedule = match Schedule::from_json(map) {
            Ok(s) => s,
            // Only combinations that can never match may be refused (L-27 in February with
            // 31W, ...); the model must then agree that nothing matches in the window.
            Err(e) => {
                prop_assert!(e.message.contains("never matches"), "{} refused: {}", expr, e);
                let to = from + TimeDelta::days(1);
                let none = model::operator_cron_slots(&expr, tz, ms(0), from, to);
                prop_assert!(none.is_empty(), "{} refused but matches {:?}", expr, none);
                return Ok(());
            }
        };
        // Two days, so month ends and the operators' days are crossed often enough.
        let to = from + TimeDelta::days(2);
        let expected = model::operator_cron_slots(&expr, tz, schedule.start(), from, to);
        let got: Vec<_> = schedule.slots_from(from).take_while(|t| *t <= to).collect();
        prop_assert_eq!(&got, &expected, "{} in {} from {}", expr, tz, rfc(from));
        for w in expected.windows(2) {
            prop_assert_eq!(schedule.next_after(w[0]), Some(w[1]));
        }
    }

    #[test]
    fn delivery_instants_stay_in_their_window(
        id in "[0-9a-f]{24}",
        slot in 0i64..253_402_000_000_000,
        minutes in 0u32..=1440,
    ) {
        let doc = json!({
            "trigger_frequency_unit": "minutes", "trigger_frequency_value": 1,
            "start_datetime": "1970-01-01T00:00:00.000Z",
            "flexible_time_window_minutes": minutes,
        });
        let Value::Object(map) = &doc else { unreachable!() };
        let schedule = Schedule::from_json(map).unwrap();
        let slot = ms(slot);
        let at = schedule.delivery_instant(&id, slot);
        prop_assert!(at >= slot);
        if minutes == 0 {
            prop_assert_eq!(at, slot);
        } else {
            prop_assert!(at < slot + TimeDelta::minutes(i64::from(minutes)));
        }
        prop_assert_eq!(at, schedule.delivery_instant(&id, slot));
    }
}

// ---------------------------------------------------------------- plan and validation

#[derive(Debug, Clone)]
struct PlanCase {
    unit: Unit,
    policy: &'static str,
    max_fires: Option<u32>,
    fired: u64,
    /// Slots between `due` and `now`.
    missed_periods: usize,
    /// Where `now` falls between the last missed slot and the next one.
    extra: f64,
    grace: TimeDelta,
}

fn plan_case() -> impl Strategy<Value = PlanCase> {
    let units = vec![
        Unit::Minutes,
        Unit::Hours,
        Unit::Days,
        Unit::Weeks,
        Unit::Months,
        Unit::Years,
    ];
    (
        prop::sample::select(units),
        prop::sample::select(vec!["fire_once", "skip", "fire_all"]),
        prop_oneof![2 => Just(None), 1 => (1u32..8).prop_map(Some)],
        0u64..5,
        prop_oneof![Just(0usize), 0usize..150],
        0.0f64..1.0,
        prop_oneof![3 => Just(60i64), 1 => Just(0i64), 1 => 0i64..10_000_000],
    )
        .prop_map(
            |(unit, policy, max_fires, fired, missed_periods, extra, grace)| PlanCase {
                unit,
                policy,
                max_fires,
                fired,
                missed_periods,
                extra,
                grace: TimeDelta::seconds(grace),
            },
        )
}

/// The first `n` slots of the schedule `build` made from `case`, at or after `from`, by the
/// independent model (not the engine under test).
fn model_slots(
    unit: Unit,
    case: &Case,
    start: DateTime<Utc>,
    from: DateTime<Utc>,
    n: usize,
) -> Vec<DateTime<Utc>> {
    match unit {
        Unit::Minutes | Unit::Hours => {
            let v = i64::from(case.value);
            let step = if unit == Unit::Minutes {
                TimeDelta::minutes(v)
            } else {
                TimeDelta::hours(v)
            };
            model::fixed_slots(step, start, from, None, n)
        }
        _ => model::calendar_slots(
            &CalendarCase {
                unit,
                value: case.value,
                tz: case.zone.1,
                start,
                time: case.time,
                month_day: if unit == Unit::Years {
                    case.month_day
                } else {
                    None
                },
                from,
                end: None,
            },
            n,
        ),
    }
}

fn check_plan(c: PlanCase, schedule_case: Case) -> Result<(), TestCaseError> {
    let fields = json!({"misfire_policy": c.policy, "max_fires": c.max_fires});
    let schedule = build(c.unit, &schedule_case, fields).schedule;
    let start = schedule.start();
    // The slots come from the model: due, the missed ones, and the one after `now`.
    let slots = model_slots(c.unit, &schedule_case, start, start, c.missed_periods + 2);
    let Some(&due) = slots.first() else {
        // No slot at all (a start near year 9999): the engine must agree.
        prop_assert_eq!(schedule.first_at_or_after(start), None);
        return Ok(());
    };
    let Some(&last) = slots.get(c.missed_periods) else {
        // Fewer slots than the case wants to miss before the end of time: nothing to plan.
        return Ok(());
    };
    let following = slots.get(c.missed_periods + 1).copied();
    let gap = following.map_or(TimeDelta::hours(1), |n| n - last);
    let now =
        last + TimeDelta::milliseconds((gap.num_milliseconds() as f64 * c.extra * 0.999) as i64);
    let plan = schedule.plan(PlanInput {
        scheduler_id: "66e1481283adbddb9ad6b8ff",
        due,
        fired: c.fired,
        now,
        grace: c.grace,
    });

    let remaining = c
        .max_fires
        .map_or(u64::MAX, |m| u64::from(m).saturating_sub(c.fired));
    if remaining == 0 {
        prop_assert!(plan.fires.is_empty() && plan.next_fire_at.is_none());
        return Ok(());
    }
    if now - due <= c.grace {
        prop_assert_eq!(plan.fires.len(), 1);
        prop_assert_eq!(plan.fires[0].scheduled_for, due);
        let next = if remaining == 1 {
            None
        } else {
            slots.get(1).copied()
        };
        prop_assert_eq!(plan.next_fire_at, next, "on time at {}", rfc(now));
        return Ok(());
    }
    // `now` is before the slot after `last`, so the missed slots are exactly due..=last.
    let missed = &slots[..=c.missed_periods];
    prop_assert!(missed.iter().all(|t| *t <= now) && following.is_none_or(|n| n > now));
    let count = match c.policy.parse::<MisfirePolicy>().unwrap() {
        MisfirePolicy::Skip => 0,
        MisfirePolicy::FireOnce => 1,
        MisfirePolicy::FireAll => missed.len().min(100).min(remaining.min(1000) as usize),
    };
    let expected = &missed[missed.len() - count..];
    let got: Vec<_> = plan.fires.iter().map(|f| f.scheduled_for).collect();
    prop_assert_eq!(
        &got[..],
        expected,
        "missed {} by {}",
        missed.len(),
        rfc(now)
    );
    prop_assert!(plan.fires.iter().all(|f| f.late));
    if let Some(first) = plan.fires.first() {
        prop_assert_eq!(first.skipped_slots as usize, missed.len() - count);
        prop_assert!(plan.fires[1..].iter().all(|f| f.skipped_slots == 0));
    }
    let next = if count as u64 >= remaining {
        None
    } else {
        following
    };
    prop_assert_eq!(plan.next_fire_at, next, "next after {}", rfc(now));
    Ok(())
}

/// A valid document with a few fields replaced by odd values, so that both the rejections
/// and the odd-but-valid schedules get exercised. Whatever it is, from_json must answer
/// without panicking, and what it accepts must be usable.
fn check_odd_document(
    unit: &str,
    kind: &str,
    fields: Vec<(&'static str, Value)>,
) -> Result<(), TestCaseError> {
    let mut doc = serde_json::Map::new();
    doc.insert("type".into(), json!(kind));
    doc.insert("trigger_frequency_unit".into(), json!(unit));
    doc.insert("trigger_frequency_value".into(), json!(7));
    doc.insert("cron_expression".into(), json!("*/5 * * * *"));
    doc.insert("start_datetime".into(), json!("2024-09-11T14:35:00.000Z"));
    for (k, v) in fields {
        doc.insert(k.to_string(), v);
    }
    if let Ok(s) = Schedule::from_json(&doc) {
        let t = s.start();
        let slots: Vec<_> = s.slots_from(t - TimeDelta::days(400)).take(3).collect();
        prop_assert!(slots.windows(2).all(|w| w[0] < w[1]));
        prop_assert!(s.next_after(t).is_none_or(|n| n > t));
        let _ = s.upcoming(t, 0, 3);
        let _ = s.plan(PlanInput {
            scheduler_id: "66e1481283adbddb9ad6b8ff",
            due: t,
            fired: 0,
            now: t + TimeDelta::days(3),
            grace: TimeDelta::seconds(60),
        });
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// plan() counts missed slots arithmetically; it must agree with walking the slots.
    #[test]
    fn plan_agrees_with_walking_the_slots(c in plan_case(), schedule in general_case()) {
        let schedule = Case { value: schedule.value.min(20), end_periods: None, ..schedule };
        check_plan(c, schedule)?;
    }

    #[test]
    fn from_json_never_panics(
        unit in prop::sample::select(
            vec!["minutes", "hours", "days", "weeks", "months", "years", "cron"],
        ),
        kind in prop::sample::select(vec!["recurring", "non_recurring"]),
        fields in prop::collection::vec((field_name(), json_value()), 0..6),
    ) {
        check_odd_document(unit, kind, fields)?;
    }
}

fn field_name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "type",
        "one_time_schedule_type",
        "trigger_frequency_unit",
        "trigger_frequency_value",
        "trigger_time",
        "triger_month_and_day",
        "start_datetime",
        "start_date",
        "timezone",
        "cron_expression",
        "end_datetime",
        "max_fires",
        "misfire_policy",
        "name",
    ])
}

fn json_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        (0i64..100).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "recurring",
            "non_recurring",
            "exact",
            "minutes",
            "hours",
            "days",
            "weeks",
            "months",
            "years",
            "cron",
            "UTC",
            "Asia/Hong_Kong",
            "Pacific/Apia",
            "fire_all",
            "skip",
            "2024-09-11T14:35:00.000Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999Z",
            "9999-12-31T23:59:59-14:00",
            "0000-01-01T00:00:00+14:00",
            "1969-12-31T16:32:00.000Z",
            "* * * * * *",
            "0 0 29 2 *",
            "0 0 0 1 1 * 2099",
            "@yearly",
            "0 0 L * *",
            "",
        ])
        .prop_map(Value::from),
        Just(json!([1, 2])),
        Just(json!({"a": 1})),
    ]
}
