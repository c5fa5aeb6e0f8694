//! What users bring from EventBridge Scheduler and Quartz: the day operators, schedule
//! expressions and flexible time windows, as fixed cases from both systems' documentation and
//! DST cases in zones with a gap and an overlap.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};

use super::{invalid, sched, take, utc, utcs};
use scheduler_core::{Schedule, ScheduleKind};

fn cron(expr: &str, tz: &str) -> Schedule {
    sched(json!({
        "trigger_frequency_unit": "cron", "cron_expression": expr, "timezone": tz,
        "start_datetime": "1970-01-01T00:00:00Z"
    }))
}

fn expr(e: &str, tz: &str) -> Schedule {
    sched(json!({
        "schedule_expression": e, "timezone": tz, "start_datetime": "2024-01-01T00:00:00Z"
    }))
}

// ---------------------------------------------------------------- Quartz's documented examples

#[test]
fn quartz_documented_day_operators() {
    // Quartz's CronTrigger tutorial, in this grammar (same field order: second minute hour
    // day-of-month month day-of-week [year]; Quartz numbers days of week 1-7 from SUN, this
    // grammar 0-7, so Quartz's 6L and 6#3 are written 5L / FRIL and 5#3 / FRI#3 here).
    // "0 15 10 L * ?": 10:15 on the last day of every month.
    assert_eq!(
        take(&cron("0 15 10 L * ?", "UTC"), "2024-02-01T00:00:00Z", 3),
        utcs(&[
            "2024-02-29T10:15:00Z",
            "2024-03-31T10:15:00Z",
            "2024-04-30T10:15:00Z"
        ])
    );
    // "0 15 10 L-2 * ?": 10:15 two days before the last day of every month.
    assert_eq!(
        take(&cron("0 15 10 L-2 * ?", "UTC"), "2024-02-01T00:00:00Z", 2),
        utcs(&["2024-02-27T10:15:00Z", "2024-03-29T10:15:00Z"])
    );
    // "0 15 10 ? * 6L": 10:15 on the last Friday of every month.
    for e in ["0 15 10 ? * 5L", "0 15 10 ? * FRIL"] {
        assert_eq!(
            take(&cron(e, "UTC"), "2024-01-01T00:00:00Z", 3),
            utcs(&[
                "2024-01-26T10:15:00Z",
                "2024-02-23T10:15:00Z",
                "2024-03-29T10:15:00Z"
            ]),
            "{e}"
        );
    }
    // "0 15 10 ? * 6L 2002-2005": last Fridays during 2002 to 2005 (here from 2005 on).
    let s = cron("0 15 10 ? * 5L 2002-2005", "UTC");
    let all: Vec<_> = s.slots_from(utc("2005-11-01T00:00:00Z")).collect();
    assert_eq!(all, utcs(&["2005-11-25T10:15:00Z", "2005-12-30T10:15:00Z"]));
    // "0 15 10 ? * 6#3": 10:15 on the third Friday of every month.
    assert_eq!(
        take(&cron("0 15 10 ? * FRI#3", "UTC"), "2024-01-01T00:00:00Z", 2),
        utcs(&["2024-01-19T10:15:00Z", "2024-02-16T10:15:00Z"])
    );
    // "15W": the weekday nearest the 15th: 2024-06-15 is a Saturday -> Friday the 14th,
    // 2024-09-15 a Sunday -> Monday the 16th.
    let s = cron("0 0 12 15W * ?", "UTC");
    assert_eq!(
        take(&s, "2024-06-01T00:00:00Z", 4),
        utcs(&[
            "2024-06-14T12:00:00Z",
            "2024-07-15T12:00:00Z",
            "2024-08-15T12:00:00Z",
            "2024-09-16T12:00:00Z"
        ])
    );
    // "1W" on a Saturday (2022-01-01) is Monday the 3rd: never into the month before.
    assert_eq!(
        take(
            &cron("0 0 12 1W 1 ? 2022", "UTC"),
            "2021-12-01T00:00:00Z",
            1
        ),
        utcs(&["2022-01-03T12:00:00Z"])
    );
    // "LW": the last weekday of the month (2024-08-31 is a Saturday).
    assert_eq!(
        take(&cron("0 0 12 LW * ?", "UTC"), "2024-08-01T00:00:00Z", 2),
        utcs(&["2024-08-30T12:00:00Z", "2024-09-30T12:00:00Z"])
    );
}

// ---------------------------------------------------------------- EventBridge's examples

#[test]
fn eventbridge_documented_cron_examples() {
    // EventBridge's cron examples (UTC), from 2024-09-13 (a Friday), 12:00.
    let from = "2024-09-13T12:00:00Z";
    let cases: [(&str, [&str; 3]); 8] = [
        (
            "cron(0 10 * * ? *)",
            [
                "2024-09-14T10:00:00Z",
                "2024-09-15T10:00:00Z",
                "2024-09-16T10:00:00Z",
            ],
        ),
        (
            "cron(15 12 * * ? *)",
            [
                "2024-09-13T12:15:00Z",
                "2024-09-14T12:15:00Z",
                "2024-09-15T12:15:00Z",
            ],
        ),
        (
            "cron(0 18 ? * MON-FRI *)",
            [
                "2024-09-13T18:00:00Z",
                "2024-09-16T18:00:00Z",
                "2024-09-17T18:00:00Z",
            ],
        ),
        (
            "cron(0 8 1 * ? *)",
            [
                "2024-10-01T08:00:00Z",
                "2024-11-01T08:00:00Z",
                "2024-12-01T08:00:00Z",
            ],
        ),
        (
            "cron(0/15 * * * ? *)",
            [
                "2024-09-13T12:00:00Z",
                "2024-09-13T12:15:00Z",
                "2024-09-13T12:30:00Z",
            ],
        ),
        (
            "cron(0/10 * ? * MON-FRI *)",
            [
                "2024-09-13T12:00:00Z",
                "2024-09-13T12:10:00Z",
                "2024-09-13T12:20:00Z",
            ],
        ),
        (
            // Every 5 minutes 08:00-17:55 on weekdays: Friday's last, then Monday's first.
            "cron(0/5 8-17 ? * MON-FRI *)",
            [
                "2024-09-13T17:50:00Z",
                "2024-09-13T17:55:00Z",
                "2024-09-16T08:00:00Z",
            ],
        ),
        (
            // 09:00 on the first Monday of each month (EventBridge: 2 is Monday).
            "cron(0 9 ? * 2#1 *)",
            [
                "2024-10-07T09:00:00Z",
                "2024-11-04T09:00:00Z",
                "2024-12-02T09:00:00Z",
            ],
        ),
    ];
    for (e, want) in cases {
        let s = expr(e, "UTC");
        let from = if e.starts_with("cron(0/5 8-17") {
            "2024-09-13T17:46:00Z"
        } else {
            from
        };
        assert_eq!(take(&s, from, 3), utcs(&want), "{e}");
        assert_eq!(s.kind(), ScheduleKind::Recurring);
        assert_eq!(s.expression(), Some(e));
        assert!(s.frequency().is_none());
    }
    // EventBridge numbers days of week from SUN = 1: cron(0 12 ? * 1 *) is Sundays, 7 Saturdays.
    assert_eq!(
        take(&expr("cron(0 12 ? * 1 *)", "UTC"), from, 1),
        utcs(&["2024-09-15T12:00:00Z"])
    );
    assert_eq!(
        take(&expr("cron(0 12 ? * 7 *)", "UTC"), from, 1),
        utcs(&["2024-09-14T12:00:00Z"])
    );
    // ... and 6L is the last Friday, as in Quartz.
    assert_eq!(
        take(&expr("cron(0 12 ? * 6L *)", "UTC"), from, 1),
        utcs(&["2024-09-27T12:00:00Z"])
    );
}

#[test]
fn rate_counts_fixed_durations_from_the_start() {
    let s = sched(json!({
        "schedule_expression": "rate(5 minutes)", "start_datetime": "2024-01-01T00:00:07.250Z"
    }));
    assert_eq!(
        take(&s, "2024-01-01T00:07:00Z", 2),
        utcs(&["2024-01-01T00:10:07.250Z", "2024-01-01T00:15:07.250Z"])
    );
    let s = sched(json!({
        "schedule_expression": "rate(1 hour)", "start_datetime": "2024-01-01T00:30:00Z"
    }));
    assert_eq!(
        take(&s, "2024-01-01T00:00:00Z", 2),
        utcs(&["2024-01-01T00:30:00Z", "2024-01-01T01:30:00Z"])
    );
    // Days are 24 hours, as EventBridge documents ("days represents a 24-hour duration"): in
    // New York, 09:00 EST becomes 10:00 EDT after the spring change.
    let s = sched(json!({
        "schedule_expression": "rate(1 day)", "timezone": "America/New_York",
        "start_datetime": "2024-03-09T09:00:00-05:00"
    }));
    assert_eq!(
        take(&s, "2024-03-09T00:00:00Z", 3),
        utcs(&[
            "2024-03-09T09:00:00-05:00",
            "2024-03-10T10:00:00-04:00",
            "2024-03-11T10:00:00-04:00"
        ])
    );
    let s = sched(json!({
        "schedule_expression": "rate(3 days)", "start_datetime": "2024-01-01T06:00:00Z",
        "max_fires": 2
    }));
    assert_eq!(
        s.upcoming(utc("2024-01-01T00:00:00Z"), 0, 10),
        utcs(&["2024-01-01T06:00:00Z", "2024-01-04T06:00:00Z"])
    );
}

#[test]
fn at_is_a_one_shot_in_the_documents_timezone() {
    let s = sched(json!({
        "schedule_expression": "at(2027-03-01T09:00:00)", "timezone": "Asia/Hong_Kong"
    }));
    assert_eq!(s.kind(), ScheduleKind::NonRecurring);
    assert_eq!(s.start(), utc("2027-03-01T01:00:00Z"));
    assert_eq!(
        s.upcoming(utc("2027-01-01T00:00:00Z"), 0, 5),
        utcs(&["2027-03-01T01:00:00Z"])
    );
    assert_eq!(s.next_after(s.start()), None);
    // A start given beside it (a stored document's, on update) is replaced by the at() instant.
    let s = sched(json!({
        "schedule_expression": "at(2027-03-01T09:00:00)", "type": "non_recurring",
        "start_datetime": "2020-01-01T00:00:00Z"
    }));
    assert_eq!(s.start(), utc("2027-03-01T09:00:00Z"));
    // In a spring-forward gap it fires after the gap (SPEC 5), in an overlap at the first.
    let s = sched(json!({
        "schedule_expression": "at(2027-03-14T02:30:00)", "timezone": "America/New_York"
    }));
    assert_eq!(s.start(), utc("2027-03-14T03:30:00-04:00"));
    let s = sched(json!({
        "schedule_expression": "at(2027-11-07T01:30:00)", "timezone": "America/New_York"
    }));
    assert_eq!(s.start(), utc("2027-11-07T01:30:00-04:00"));
}

// ---------------------------------------------------------------- DST with the operators

#[test]
fn operators_in_new_york_gap_and_overlap() {
    // Second Sunday of March at 02:30: in the gap every year, so 03:30 EDT.
    let s = cron("0 30 2 ? 3 SUN#2", "America/New_York");
    assert_eq!(
        take(&s, "2024-01-01T00:00:00Z", 2),
        utcs(&["2024-03-10T03:30:00-04:00", "2025-03-09T03:30:00-04:00"])
    );
    // The same through EventBridge's numbering.
    let s = expr("cron(30 2 ? 3 1#2 *)", "America/New_York");
    assert_eq!(
        take(&s, "2024-01-01T00:00:00Z", 1),
        utcs(&["2024-03-10T03:30:00-04:00"])
    );
    // Every 30 minutes 01:00-03:59 on the second Sunday of March: the gap's 02:00 and 02:30
    // move onto 03:00 and 03:30, which the expression also has; each instant fires once.
    let s = cron("0,30 1-3 * 3 0#2", "America/New_York");
    assert_eq!(
        take(&s, "2024-03-10T00:00:00-05:00", 5),
        utcs(&[
            "2024-03-10T01:00:00-05:00",
            "2024-03-10T01:30:00-05:00",
            "2024-03-10T03:00:00-04:00",
            "2024-03-10T03:30:00-04:00",
            "2025-03-09T01:00:00-05:00",
        ])
    );
    // First Sunday of November at 01:30 occurs twice; it fires once, at the first (EDT).
    let s = cron("30 1 * 11 SUN#1", "America/New_York");
    assert_eq!(
        take(&s, "2024-10-01T00:00:00Z", 2),
        utcs(&["2024-11-03T01:30:00-04:00", "2025-11-02T01:30:00-04:00"])
    );
}

#[test]
fn operators_in_london_gap_and_overlap() {
    // The clocks change on the last Sunday of March (01:00 -> 02:00) and October (02:00 ->
    // 01:00): exactly what 0L picks.
    let s = cron("30 1 * 3 0L", "Europe/London");
    assert_eq!(
        take(&s, "2024-01-01T00:00:00Z", 1),
        utcs(&["2024-03-31T02:30:00+01:00"])
    );
    let s = cron("30 1 * 10 0L", "Europe/London");
    assert_eq!(
        take(&s, "2024-01-01T00:00:00Z", 2),
        utcs(&["2024-10-27T01:30:00+01:00", "2025-10-26T01:30:00+01:00"])
    );
    // Last day of the month at 01:30 in Lord Howe (half-hour changes): 2024-03-31 is ordinary.
    let s = cron("30 1 L * *", "Australia/Lord_Howe");
    assert_eq!(
        take(&s, "2024-03-01T00:00:00Z", 1),
        utcs(&["2024-03-31T01:30:00+11:00"])
    );
}

// ---------------------------------------------------------------- validation

#[test]
fn expressions_refuse_the_fields_they_replace_naming_both() {
    for (other, v) in [
        ("trigger_frequency_unit", json!("minutes")),
        ("trigger_frequency_value", json!(5)),
        ("cron_expression", json!("0 9 * * *")),
        ("trigger_time", json!("2024-01-01T09:00:00Z")),
        ("triger_month_and_day", json!("2024-01-01T09:00:00Z")),
    ] {
        let mut doc = json!({
            "schedule_expression": "rate(5 minutes)", "start_datetime": "2024-01-01T00:00:00Z"
        });
        doc[other] = v;
        let e = invalid(doc);
        assert_eq!(e.field, "schedule_expression");
        assert!(
            e.message.starts_with(&format!(
                "schedule_expression and {other} cannot both be given"
            )),
            "{e}"
        );
    }
    // null and "" count as absent, as for every field.
    sched(json!({
        "schedule_expression": "rate(5 minutes)", "start_datetime": "2024-01-01T00:00:00Z",
        "trigger_frequency_unit": null, "cron_expression": ""
    }));
    // A type that contradicts the expression names both.
    let e = invalid(json!({
        "schedule_expression": "at(2027-03-01T09:00:00)", "type": "recurring"
    }));
    assert_eq!(e.field, "type");
    assert!(
        e.message
            .contains("schedule_expression at(2027-03-01T09:00:00)"),
        "{e}"
    );
    let e = invalid(json!({
        "schedule_expression": "rate(5 minutes)", "type": "non_recurring",
        "start_datetime": "2024-01-01T00:00:00Z"
    }));
    assert_eq!(e.field, "type");
    // rate and cron need a start, as any recurring schedule.
    let e = invalid(json!({"schedule_expression": "rate(5 minutes)"}));
    assert_eq!(e.field, "start_datetime");
}

#[test]
fn invalid_expressions_say_what_and_where() {
    let cases = [
        (
            json!("cron(0 12 * * MON-FRI *)"),
            "schedule_expression is invalid at character 15: one of day-of-month and \
             day-of-week must be '?'",
        ),
        (
            json!("rate(1 minutes)"),
            "schedule_expression is invalid at character 8: rate unit 'minutes' must be \
             singular",
        ),
        (
            json!("at(2027-02-30T09:00:00)"),
            "schedule_expression is invalid at character 12: at day 30 does not exist",
        ),
        (
            json!("every 5 minutes"),
            "schedule_expression is invalid at character 1: it must be rate(value unit)",
        ),
        (
            json!("cron(0 12 ? * MON#6 *)"),
            "schedule_expression is invalid at character 15: day-of-week value 'MON#6'",
        ),
        (
            json!(5),
            "schedule_expression must be a string such as \"rate(5 minutes)\"",
        ),
    ];
    for (e, want) in cases {
        let err = invalid(json!({
            "schedule_expression": e, "start_datetime": "2024-01-01T00:00:00Z"
        }));
        assert_eq!(err.field, "schedule_expression");
        assert!(err.message.starts_with(want), "{e}: {}", err.message);
    }
}

// ---------------------------------------------------------------- flexible windows

fn windowed(minutes: Value) -> Result<Schedule, scheduler_core::ValidationError> {
    let doc = json!({
        "trigger_frequency_unit": "days", "trigger_frequency_value": 1,
        "start_datetime": "2024-01-01T09:00:00Z", "flexible_time_window_minutes": minutes
    });
    let Value::Object(m) = doc else {
        unreachable!()
    };
    Schedule::from_json(&m)
}

#[test]
fn flexible_window_is_validated() {
    assert_eq!(windowed(json!(0)).unwrap().flexible_window_minutes(), 0);
    assert_eq!(
        windowed(json!(1440)).unwrap().flexible_window_minutes(),
        1440
    );
    assert_eq!(windowed(json!(15.0)).unwrap().flexible_window_minutes(), 15);
    assert_eq!(windowed(Value::Null).unwrap().flexible_window_minutes(), 0);
    for bad in [json!(1441), json!(-1), json!(1.5), json!("15"), json!(true)] {
        let e = windowed(bad.clone()).unwrap_err();
        assert_eq!(e.field, "flexible_time_window_minutes", "{bad}");
        assert_eq!(
            e.message,
            "flexible_time_window_minutes must be an integer from 0 (off) to 1440"
        );
    }
}

#[test]
fn delivery_instant_is_the_slot_when_the_window_is_off() {
    let s = windowed(json!(0)).unwrap();
    let slot = utc("2024-01-01T09:00:00Z");
    assert_eq!(s.delivery_instant("66e1481283adbddb9ad6b8ff", slot), slot);
}

#[test]
fn delivery_instant_is_pinned() {
    // A fixed value: a change of the hash would move every runner's deliveries at once
    // (mixed versions during a rollout would disagree), so it must be deliberate.
    let s = windowed(json!(15)).unwrap();
    let slot = utc("2024-01-01T09:00:00Z");
    assert_eq!(
        s.delivery_instant("66e1481283adbddb9ad6b8ff", slot),
        utc(PINNED_DELIVERY)
    );
}

// Checked independently: SHA-256 in Python over the same bytes gives offset 465,997 ms.
const PINNED_DELIVERY: &str = "2024-01-01T09:07:45.997Z";

#[test]
fn delivery_instants_spread_uniformly_over_the_window() {
    // 100,000 schedulers due at the same minute with a 15-minute window: every delivery in
    // [slot, slot + 15 min), and each of the 15 one-minute buckets gets 1/15 of them (+-4%,
    // about 8 standard deviations for a uniform spread).
    let s = windowed(json!(15)).unwrap();
    let slot: DateTime<Utc> = utc("2024-01-01T09:00:00Z");
    let mut buckets = [0u32; 15];
    for i in 0..100_000u64 {
        let id = format!(
            "{:024x}",
            0x66e1_4812_83ad_0000_0000_0000u128 + u128::from(i)
        );
        let at = s.delivery_instant(&id, slot);
        assert!(
            at >= slot && at < slot + TimeDelta::minutes(15),
            "{id}: {at}"
        );
        assert_eq!(at, s.delivery_instant(&id, slot), "deterministic");
        buckets[((at - slot).num_milliseconds() / 60_000) as usize] += 1;
    }
    let expected = 100_000.0 / 15.0;
    for (i, n) in buckets.iter().enumerate() {
        let dev = (f64::from(*n) - expected).abs() / expected;
        assert!(dev < 0.04, "bucket {i}: {n} ({buckets:?})");
    }
    // The slots of one scheduler are spread too, not all at one offset.
    let id = "66e1481283adbddb9ad6b8ff";
    let offsets: std::collections::BTreeSet<i64> = s
        .slots_from(slot)
        .take(50)
        .map(|t| (s.delivery_instant(id, t) - t).num_milliseconds())
        .collect();
    assert!(offsets.len() > 45, "{offsets:?}");
}
