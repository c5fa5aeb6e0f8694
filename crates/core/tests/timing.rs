//! Timing engine tests: the seed's examples, DST and month-end cases, cron, plans, validation,
//! and property tests against independent slow models (see `model`).

use chrono::{DateTime, TimeDelta, Utc};
use scheduler_core::{MisfirePolicy, PlanInput, Schedule, ScheduleKind, ValidationError};
use serde_json::{json, Map, Value};

// Submodules live in tests/timing/ so that cargo builds one test binary, not three.
#[path = "timing/eventbridge.rs"]
mod eventbridge;
#[path = "timing/model.rs"]
mod model;
#[path = "timing/properties.rs"]
mod properties;

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn sched(v: Value) -> Schedule {
    Schedule::from_json(&obj(v.clone())).unwrap_or_else(|e| panic!("{v}: {e}"))
}

fn invalid(v: Value) -> ValidationError {
    match Schedule::from_json(&obj(v.clone())) {
        Ok(s) => panic!("accepted {v}: {s:?}"),
        Err(e) => e,
    }
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .to_utc()
}

fn utcs(list: &[&str]) -> Vec<DateTime<Utc>> {
    list.iter().map(|s| utc(s)).collect()
}

fn take(s: &Schedule, from: &str, n: usize) -> Vec<DateTime<Utc>> {
    s.slots_from(utc(from)).take(n).collect()
}

// ---------------------------------------------------------------- seed examples

#[test]
fn seed_every_30_minutes_keeps_milliseconds() {
    let s = sched(json!({
        "type": "recurring", "trigger_frequency_unit": "minutes", "trigger_frequency_value": 30,
        "start_datetime": "2024-10-16T17:30:15.463Z"
    }));
    assert_eq!(s.kind(), ScheduleKind::Recurring);
    assert_eq!(
        s.upcoming(utc("2024-10-16T10:36:25.116Z"), 0, 3),
        utcs(&[
            "2024-10-16T17:30:15.463Z",
            "2024-10-16T18:00:15.463Z",
            "2024-10-16T18:30:15.463Z"
        ])
    );
    assert_eq!(
        s.next_after(utc("2024-10-16T17:30:15.463Z")),
        Some(utc("2024-10-16T18:00:15.463Z"))
    );
    assert_eq!(
        s.first_at_or_after(utc("2024-10-16T18:00:15.463Z")),
        Some(utc("2024-10-16T18:00:15.463Z"))
    );
    assert_eq!(
        s.first_at_or_after(utc("2024-10-16T18:00:15.464Z")),
        Some(utc("2024-10-16T18:30:15.463Z"))
    );
    // Far in the future: computed, not walked (a 30-minute walk over 70 years is 1.2M steps).
    assert_eq!(
        s.first_at_or_after(utc("2094-01-01T00:00:00Z")),
        Some(utc("2094-01-01T00:00:15.463Z"))
    );
}

fn seed_yearly(timezone: &str) -> Schedule {
    sched(json!({
        "type": "recurring", "trigger_frequency_unit": "years", "trigger_frequency_value": 1,
        "triger_month_and_day": "1969-12-31T16:32:00.000Z",
        "trigger_time": "1969-12-31T16:00:00.000Z",
        "start_datetime": "2024-09-11T14:35:00.000Z", "timezone": timezone
    }))
}

#[test]
fn seed_yearly_in_utc_fires_dec_31_16_00() {
    let s = seed_yearly("UTC");
    let now = utc("2024-09-11T07:34:42.158Z");
    assert_eq!(
        s.initial_next_fire(now, 0),
        Some(utc("2024-12-31T16:00:00Z"))
    );
    assert_eq!(
        s.upcoming(now, 0, 3),
        utcs(&[
            "2024-12-31T16:00:00Z",
            "2025-12-31T16:00:00Z",
            "2026-12-31T16:00:00Z"
        ])
    );
}

#[test]
fn seed_yearly_in_hong_kong_fires_jan_1_midnight_local() {
    let s = seed_yearly("Asia/Hong_Kong");
    assert_eq!(s.timezone(), chrono_tz::Asia::Hong_Kong);
    // 1969-12-31T16:00Z is 1970-01-01 00:00 in Hong Kong (+08:00), and 16:32Z is Jan 1 too.
    assert_eq!(
        s.upcoming(utc("2024-09-11T07:34:42.158Z"), 0, 2),
        utcs(&["2025-01-01T00:00:00+08:00", "2026-01-01T00:00:00+08:00"])
    );
}

#[test]
fn seed_daily_trigger_time_before_start_time_starts_next_day() {
    let s = sched(json!({
        "trigger_frequency_unit": "days", "trigger_frequency_value": 1,
        "trigger_time": "2024-04-29T01:00:00.000Z", "start_date": "2024-04-29T01:30:00.000Z",
        "start_time": "2024-04-29T01:30:00.000Z", "start_datetime": "2024-04-29T01:30:00.000Z"
    }));
    assert_eq!(
        s.upcoming(utc("2024-04-01T00:00:00Z"), 0, 2),
        utcs(&["2024-04-30T01:00:00Z", "2024-05-01T01:00:00Z"])
    );
}

#[test]
fn start_date_is_used_when_start_datetime_is_missing() {
    // The seed's stored recurring document has start_date/start_time but no start_datetime.
    let s = sched(json!({
        "trigger_frequency_unit": "minutes", "trigger_frequency_value": 1,
        "start_date": "2024-09-11T17:50:00.000Z", "start_time": "2024-09-11T17:50:00.000Z"
    }));
    assert_eq!(s.start(), utc("2024-09-11T17:50:00Z"));
}

// ---------------------------------------------------------------- calendar units

#[test]
fn monthly_on_the_31st_clamps_without_drift() {
    let s = sched(json!({
        "trigger_frequency_unit": "months", "trigger_frequency_value": 1,
        "start_datetime": "2024-01-31T10:00:00.000Z"
    }));
    assert_eq!(
        take(&s, "2024-01-01T00:00:00Z", 14),
        utcs(&[
            "2024-01-31T10:00:00Z",
            "2024-02-29T10:00:00Z",
            "2024-03-31T10:00:00Z",
            "2024-04-30T10:00:00Z",
            "2024-05-31T10:00:00Z",
            "2024-06-30T10:00:00Z",
            "2024-07-31T10:00:00Z",
            "2024-08-31T10:00:00Z",
            "2024-09-30T10:00:00Z",
            "2024-10-31T10:00:00Z",
            "2024-11-30T10:00:00Z",
            "2024-12-31T10:00:00Z",
            "2025-01-31T10:00:00Z",
            "2025-02-28T10:00:00Z",
        ])
    );
    // Every 3 months from Nov 30: Feb 28, May 30 (not May 28).
    let s = sched(json!({
        "trigger_frequency_unit": "months", "trigger_frequency_value": 3,
        "start_datetime": "2024-11-30T10:00:00.000Z"
    }));
    assert_eq!(
        take(&s, "2024-01-01T00:00:00Z", 3),
        utcs(&[
            "2024-11-30T10:00:00Z",
            "2025-02-28T10:00:00Z",
            "2025-05-30T10:00:00Z"
        ])
    );
}

#[test]
fn yearly_on_feb_29_falls_on_feb_28_in_common_years() {
    let s = sched(json!({
        "trigger_frequency_unit": "years", "trigger_frequency_value": 1,
        "start_datetime": "2024-02-29T12:00:00.000Z"
    }));
    assert_eq!(
        take(&s, "2024-01-01T00:00:00Z", 5),
        utcs(&[
            "2024-02-29T12:00:00Z",
            "2025-02-28T12:00:00Z",
            "2026-02-28T12:00:00Z",
            "2027-02-28T12:00:00Z",
            "2028-02-29T12:00:00Z",
        ])
    );
    // Every 4 years from a month/day given separately.
    let s = sched(json!({
        "trigger_frequency_unit": "years", "trigger_frequency_value": 4,
        "triger_month_and_day": "2000-02-29T00:00:00Z", "trigger_time": "2000-01-01T08:15:00Z",
        "start_datetime": "2021-06-01T00:00:00.000Z"
    }));
    assert_eq!(
        take(&s, "2000-01-01T00:00:00Z", 3),
        utcs(&[
            "2025-02-28T08:15:00Z",
            "2029-02-28T08:15:00Z",
            "2033-02-28T08:15:00Z"
        ])
    );
}

#[test]
fn weekly_keeps_the_start_weekday() {
    // 2024-09-11 is a Wednesday.
    let s = sched(json!({
        "trigger_frequency_unit": "weeks", "trigger_frequency_value": 2,
        "trigger_time": "2024-01-01T09:00:00Z", "start_datetime": "2024-09-11T14:35:00.000Z"
    }));
    assert_eq!(
        take(&s, "2024-09-01T00:00:00Z", 2),
        utcs(&["2024-09-25T09:00:00Z", "2024-10-09T09:00:00Z"])
    );
}

fn daily_at(local_time_rfc3339: &str, timezone: &str, start: &str) -> Schedule {
    sched(json!({
        "trigger_frequency_unit": "days", "trigger_frequency_value": 1,
        "trigger_time": local_time_rfc3339, "start_datetime": start, "timezone": timezone
    }))
}

#[test]
fn daily_time_in_new_york_spring_forward_gap_moves_to_after_the_gap() {
    // 02:30 EST; on 2024-03-10 02:00-03:00 does not exist, so it fires at 03:30 EDT.
    let s = daily_at(
        "2024-01-01T02:30:00-05:00",
        "America/New_York",
        "2024-03-08T00:00:00Z",
    );
    assert_eq!(
        take(&s, "2024-03-08T00:00:00Z", 4),
        utcs(&[
            "2024-03-08T02:30:00-05:00",
            "2024-03-09T02:30:00-05:00",
            "2024-03-10T03:30:00-04:00",
            "2024-03-11T02:30:00-04:00",
        ])
    );
}

#[test]
fn daily_time_in_new_york_fall_back_overlap_fires_once_at_the_first() {
    let s = daily_at(
        "2024-01-01T01:30:00-05:00",
        "America/New_York",
        "2024-11-01T12:00:00Z",
    );
    assert_eq!(
        take(&s, "2024-11-01T00:00:00Z", 3),
        utcs(&[
            "2024-11-02T01:30:00-04:00",
            "2024-11-03T01:30:00-04:00",
            "2024-11-04T01:30:00-05:00",
        ])
    );
}

#[test]
fn daily_time_in_lord_howe_half_hour_gap_and_overlap() {
    // Lord Howe: +10:30 standard, +11:00 summer; the clock moves by 30 minutes at 02:00.
    let gap = daily_at(
        "2024-07-01T02:15:00+10:30",
        "Australia/Lord_Howe",
        "2024-10-01T00:00:00Z",
    );
    assert_eq!(
        take(&gap, "2024-10-04T00:00:00Z", 3),
        utcs(&[
            "2024-10-05T02:15:00+10:30",
            "2024-10-06T02:45:00+11:00", // 02:15 does not exist on 2024-10-06
            "2024-10-07T02:15:00+11:00",
        ])
    );
    let overlap = daily_at(
        "2024-07-01T01:45:00+10:30",
        "Australia/Lord_Howe",
        "2024-04-01T00:00:00Z",
    );
    assert_eq!(
        take(&overlap, "2024-04-05T00:00:00Z", 3),
        utcs(&[
            "2024-04-06T01:45:00+11:00",
            "2024-04-07T01:45:00+11:00", // 01:30-02:00 happens twice on 2024-04-07
            "2024-04-08T01:45:00+10:30",
        ])
    );
}

#[test]
fn daily_across_apias_skipped_day_fires_each_instant_once() {
    // Samoa skipped 2011-12-30: noon that day resolves to the same instant as noon on the 31st.
    let s = daily_at(
        "2011-06-01T12:00:00-11:00",
        "Pacific/Apia",
        "2011-12-27T00:00:00Z",
    );
    assert_eq!(
        take(&s, "2011-12-29T00:00:00Z", 3),
        utcs(&[
            "2011-12-29T12:00:00-10:00",
            "2011-12-30T22:00:00Z",
            "2012-01-01T12:00:00+14:00",
        ])
    );
    assert_eq!(
        s.next_after(utc("2011-12-30T22:00:00Z")),
        Some(utc("2011-12-31T22:00:00Z"))
    );
}

#[test]
fn hours_are_fixed_durations_across_dst() {
    let s = sched(json!({
        "trigger_frequency_unit": "hours", "trigger_frequency_value": 24,
        "start_datetime": "2024-03-09T12:00:00-05:00", "timezone": "America/New_York"
    }));
    // 24 hours after 12:00 EST is 13:00 EDT: hours are durations, not wall-clock times.
    assert_eq!(
        take(&s, "2024-03-01T00:00:00Z", 2),
        utcs(&["2024-03-09T12:00:00-05:00", "2024-03-10T13:00:00-04:00"])
    );
    let s = sched(json!({
        "trigger_frequency_unit": "hours", "trigger_frequency_value": 1,
        "start_datetime": "2024-11-03T04:00:00Z", "timezone": "America/New_York"
    }));
    // 00:00 EDT, 01:00 EDT, 01:00 EST, 02:00 EST: both 01:00s fire.
    assert_eq!(
        take(&s, "2024-11-03T04:00:00Z", 4),
        utcs(&[
            "2024-11-03T04:00:00Z",
            "2024-11-03T05:00:00Z",
            "2024-11-03T06:00:00Z",
            "2024-11-03T07:00:00Z"
        ])
    );
}

// ---------------------------------------------------------------- bounds

#[test]
fn end_datetime_is_inclusive_and_final() {
    let s = sched(json!({
        "trigger_frequency_unit": "minutes", "trigger_frequency_value": 10,
        "start_datetime": "2024-01-01T10:00:00Z", "end_datetime": "2024-01-01T10:30:00Z"
    }));
    assert_eq!(
        take(&s, "2024-01-01T00:00:00Z", 10),
        utcs(&[
            "2024-01-01T10:00:00Z",
            "2024-01-01T10:10:00Z",
            "2024-01-01T10:20:00Z",
            "2024-01-01T10:30:00Z"
        ])
    );
    assert_eq!(s.next_after(utc("2024-01-01T10:30:00Z")), None);
    assert_eq!(s.initial_next_fire(utc("2024-01-01T10:30:01Z"), 0), None);
    assert_eq!(s.end(), Some(utc("2024-01-01T10:30:00Z")));
}

#[test]
fn max_fires_limits_upcoming_and_initial_next_fire() {
    let s = sched(json!({
        "trigger_frequency_unit": "days", "trigger_frequency_value": 1,
        "start_datetime": "2024-01-01T10:00:00Z", "max_fires": 3
    }));
    assert_eq!(s.max_fires(), Some(3));
    let from = utc("2024-01-01T00:00:00Z");
    assert_eq!(s.upcoming(from, 0, 10).len(), 3);
    assert_eq!(
        s.upcoming(from, 2, 10),
        utcs(&["2024-01-01T10:00:00Z"]),
        "fired counts against max_fires"
    );
    assert!(s.upcoming(from, 3, 10).is_empty());
    assert!(s.upcoming(from, 4, 10).is_empty());
    assert_eq!(
        s.initial_next_fire(from, 2),
        Some(utc("2024-01-01T10:00:00Z"))
    );
    assert_eq!(s.initial_next_fire(from, 3), None);
}

#[test]
fn slots_end_at_year_9999() {
    let s = sched(json!({
        "trigger_frequency_unit": "years", "trigger_frequency_value": 1000,
        "start_datetime": "2024-05-01T00:00:00Z"
    }));
    let all: Vec<_> = s.slots_from(utc("2000-01-01T00:00:00Z")).collect();
    assert_eq!(all.len(), 8);
    assert_eq!(all[7], utc("9024-05-01T00:00:00Z"));
    let s = sched(json!({
        "trigger_frequency_unit": "hours", "trigger_frequency_value": 1000000,
        "start_datetime": "9000-01-01T00:00:00Z"
    }));
    assert_eq!(s.slots_from(utc("9000-01-01T00:00:00Z")).count(), 9);
    assert_eq!(s.next_after(DateTime::<Utc>::MAX_UTC), None);
    assert_eq!(
        s.first_at_or_after(DateTime::<Utc>::MIN_UTC),
        Some(s.start())
    );
}

// ---------------------------------------------------------------- one-shot

#[test]
fn non_recurring_exact_fires_once_at_start() {
    let s = sched(json!({
        "type": "non_recurring", "one_time_schedule_type": "exact",
        "start_datetime": "2024-10-16T14:45:15.463Z",
        // Stale recurrence fields from the seed's documents are ignored.
        "trigger_frequency_unit": "minutes", "trigger_frequency_value": 30
    }));
    assert_eq!(s.kind(), ScheduleKind::NonRecurring);
    let start = utc("2024-10-16T14:45:15.463Z");
    let before = utc("2024-10-16T10:40:22.424Z");
    assert_eq!(s.initial_next_fire(before, 0), Some(start));
    assert_eq!(s.initial_next_fire(before, 1), None);
    assert_eq!(s.upcoming(before, 0, 5), vec![start]);
    assert!(s.upcoming(before, 1, 5).is_empty());
    assert_eq!(s.slots_from(before).collect::<Vec<_>>(), vec![start]);
    assert_eq!(s.next_after(start), None);

    let plan = s.plan(PlanInput {
        scheduler_id: "66e1481283adbddb9ad6b8ff",
        due: start,
        fired: 0,
        now: start + TimeDelta::milliseconds(300),
        grace: TimeDelta::seconds(60),
    });
    assert_eq!(plan.fires.len(), 1);
    assert_eq!(plan.fires[0].scheduled_for, start);
    assert!(!plan.fires[0].late);
    assert_eq!(plan.next_fire_at, None);
    // Re-armed after it fired (the API gave it a `next_fire_at` again): it fires once more,
    // whatever it fired before.
    let rearmed = start + TimeDelta::hours(1);
    let again = s.plan(PlanInput {
        scheduler_id: "66e1481283adbddb9ad6b8ff",
        due: rearmed,
        fired: 1,
        now: rearmed,
        grace: TimeDelta::seconds(60),
    });
    assert_eq!(again.fires.len(), 1);
    assert_eq!(again.fires[0].scheduled_for, rearmed);
    assert_eq!(again.next_fire_at, None);
}

#[test]
fn an_edit_keeps_a_due_slot_it_does_not_move() {
    let s = sched(json!({
        "trigger_frequency_unit": "minutes", "trigger_frequency_value": 5,
        "start_datetime": "2026-01-01T00:00:00Z", "max_fires": 10
    }));
    let due = utc("2026-01-01T00:10:00Z");
    let now = utc("2026-01-01T00:10:02Z");
    // Due and unclaimed: kept, not replaced by the next slot from now.
    assert_eq!(s.next_fire_after_edit(Some(due), now, 2), Some(due));
    // No fire left under the new max_fires: finished.
    assert_eq!(s.next_fire_after_edit(Some(due), now, 10), None);
    // Not a slot of the edited schedule (it moved): the first slot from now.
    let off = utc("2026-01-01T00:09:00Z");
    assert_eq!(
        s.next_fire_after_edit(Some(off), now, 2),
        Some(utc("2026-01-01T00:15:00Z"))
    );
    // Not due yet: the first slot from now, as for any edit.
    let later = utc("2026-01-01T00:20:00Z");
    assert_eq!(
        s.next_fire_after_edit(Some(later), now, 2),
        Some(utc("2026-01-01T00:15:00Z"))
    );
}

#[test]
fn non_recurring_in_the_past_fires_at_once_late_unless_skip() {
    let now = utc("2024-10-17T00:00:00Z");
    let start = utc("2024-10-16T14:45:15.463Z");
    for (policy, fires) in [("fire_once", 1), ("fire_all", 1), ("skip", 0)] {
        let s = sched(json!({
            "type": "non_recurring", "start_datetime": "2024-10-16T14:45:15.463Z",
            "misfire_policy": policy
        }));
        assert_eq!(s.initial_next_fire(now, 0), Some(start), "{policy}");
        assert!(
            s.upcoming(now, 0, 5).is_empty(),
            "{policy}: past is not upcoming"
        );
        let plan = s.plan(PlanInput {
            scheduler_id: "66e1481283adbddb9ad6b8ff",
            due: start,
            fired: 0,
            now,
            grace: TimeDelta::seconds(60),
        });
        assert_eq!(plan.fires.len(), fires, "{policy}");
        assert!(plan
            .fires
            .iter()
            .all(|f| f.late && f.scheduled_for == start && f.skipped_slots == 0));
        assert_eq!(plan.next_fire_at, None, "{policy}");
    }
}

// ---------------------------------------------------------------- cron

fn cron(expr: &str, timezone: &str) -> Schedule {
    sched(json!({
        "trigger_frequency_unit": "cron", "cron_expression": expr, "timezone": timezone,
        "start_datetime": "1970-01-01T00:00:00Z"
    }))
}

#[test]
fn cron_weekday_range_and_names() {
    // 2024-09-14 is a Saturday.
    let s = cron("0 9 * * MON-FRI", "UTC");
    assert_eq!(
        take(&s, "2024-09-13T09:00:01Z", 3),
        utcs(&[
            "2024-09-16T09:00:00Z",
            "2024-09-17T09:00:00Z",
            "2024-09-18T09:00:00Z"
        ])
    );
    let s = cron("30 8 * jan,Jul sat", "UTC");
    assert_eq!(
        take(&s, "2024-02-01T00:00:00Z", 2),
        utcs(&["2024-07-06T08:30:00Z", "2024-07-13T08:30:00Z"])
    );
    // The frequency value is ignored for cron.
    assert_eq!(s.frequency().and_then(|f| f.value()), None);
    assert_eq!(s.frequency().map(|f| f.unit()), Some("cron"));
}

#[test]
fn cron_sunday_is_0_and_7() {
    for expr in [
        "0 12 * * 0",
        "0 12 * * 7",
        "0 12 * * SUN",
        "0 12 * * 6-7",
        "0 12 * * FRI-SUN",
    ] {
        let s = cron(expr, "UTC");
        let got = take(&s, "2024-09-14T13:00:00Z", 1);
        assert_eq!(got, utcs(&["2024-09-15T12:00:00Z"]), "{expr}");
    }
}

#[test]
fn cron_day_of_month_or_day_of_week() {
    // Both restricted: the 1st OR a Monday.
    let s = cron("0 0 1 * MON", "UTC");
    assert_eq!(
        take(&s, "2024-09-25T00:00:00Z", 3),
        utcs(&[
            "2024-09-30T00:00:00Z",
            "2024-10-01T00:00:00Z",
            "2024-10-07T00:00:00Z"
        ])
    );
}

#[test]
fn cron_six_fields_have_seconds_and_seven_have_a_year() {
    let s = cron("*/20 * * * * *", "UTC");
    assert_eq!(
        take(&s, "2024-01-01T00:00:01Z", 3),
        utcs(&[
            "2024-01-01T00:00:20Z",
            "2024-01-01T00:00:40Z",
            "2024-01-01T00:01:00Z"
        ])
    );
    let s = cron("0 0 12 1 JAN * 2030", "Europe/London");
    assert_eq!(
        s.slots_from(utc("2024-01-01T00:00:00Z"))
            .collect::<Vec<_>>(),
        utcs(&["2030-01-01T12:00:00Z"])
    );
}

#[test]
fn cron_daily_0230_fires_every_day_once_in_new_york() {
    let s = cron("30 2 * * *", "America/New_York");
    let slots: Vec<_> = s
        .slots_from(utc("2024-01-01T00:00:00-05:00"))
        .take_while(|t| *t < utc("2025-01-01T00:00:00-05:00"))
        .collect();
    assert_eq!(slots.len(), 366);
    let ny = chrono_tz::America::New_York;
    let mut dates: Vec<_> = slots
        .iter()
        .map(|t| t.with_timezone(&ny).date_naive())
        .collect();
    dates.dedup();
    assert_eq!(dates.len(), 366, "one fire per local date");
    assert!(slots.contains(&utc("2024-03-10T03:30:00-04:00")));
    assert!(slots.contains(&utc("2024-11-03T02:30:00-05:00")));
}

#[test]
fn cron_around_the_new_york_gap_fires_each_instant_once_sorted() {
    let s = cron("0,30 2-3 * * *", "America/New_York");
    assert_eq!(
        take(&s, "2024-03-09T00:00:00-05:00", 10),
        utcs(&[
            "2024-03-09T02:00:00-05:00",
            "2024-03-09T02:30:00-05:00",
            "2024-03-09T03:00:00-05:00",
            "2024-03-09T03:30:00-05:00",
            // 02:00 and 02:30 move to 03:00 and 03:30, which the expression matches anyway.
            "2024-03-10T03:00:00-04:00",
            "2024-03-10T03:30:00-04:00",
            "2024-03-11T02:00:00-04:00",
            "2024-03-11T02:30:00-04:00",
            "2024-03-11T03:00:00-04:00",
            "2024-03-11T03:30:00-04:00",
        ])
    );
    // Starting inside the gap's image still finds the shifted times.
    assert_eq!(
        take(&s, "2024-03-10T07:10:00Z", 2),
        utcs(&["2024-03-10T03:30:00-04:00", "2024-03-11T02:00:00-04:00"])
    );
}

#[test]
fn cron_candidates_shifted_past_later_ones_come_out_sorted() {
    // Lord Howe 2024-10-06: 02:00-02:30 does not exist. 02:15 moves to 02:45, after 02:40.
    let s = cron("15,40 2 * * *", "Australia/Lord_Howe");
    assert_eq!(
        take(&s, "2024-10-05T12:00:00Z", 3),
        utcs(&[
            "2024-10-06T02:40:00+11:00",
            "2024-10-06T02:45:00+11:00",
            "2024-10-07T02:15:00+11:00"
        ])
    );
    assert_eq!(
        s.next_after(utc("2024-10-06T02:40:00+11:00")),
        Some(utc("2024-10-06T02:45:00+11:00"))
    );
}

#[test]
fn cron_in_the_fall_back_overlap_fires_local_times_once() {
    let s = cron("*/30 * * * *", "America/New_York");
    assert_eq!(
        take(&s, "2024-11-03T00:30:00-04:00", 4),
        utcs(&[
            "2024-11-03T00:30:00-04:00",
            "2024-11-03T01:00:00-04:00",
            "2024-11-03T01:30:00-04:00",
            "2024-11-03T02:00:00-05:00",
        ])
    );
    // Asked from inside the repeated hour, the repeated local times are not fired again.
    assert_eq!(
        s.first_at_or_after(utc("2024-11-03T01:10:00-05:00")),
        Some(utc("2024-11-03T02:00:00-05:00"))
    );
}

// ---------------------------------------------------------------- plan

fn every_minute(policy: &str, max_fires: Option<u32>) -> Schedule {
    let mut doc = json!({
        "trigger_frequency_unit": "minutes", "trigger_frequency_value": 1,
        "start_datetime": "2024-01-01T10:00:00Z", "misfire_policy": policy
    });
    if let Some(m) = max_fires {
        doc["max_fires"] = json!(m);
    }
    sched(doc)
}

fn input(due: &str, fired: u64, now: &str) -> PlanInput<'static> {
    PlanInput {
        scheduler_id: "66e1481283adbddb9ad6b8ff",
        due: utc(due),
        fired,
        now: utc(now),
        grace: TimeDelta::seconds(60),
    }
}

#[test]
fn plan_on_time_fires_due_and_moves_on() {
    for policy in ["fire_once", "skip", "fire_all"] {
        let s = every_minute(policy, None);
        let plan = s.plan(input("2024-01-01T10:05:00Z", 5, "2024-01-01T10:06:00Z"));
        assert_eq!(plan.fires.len(), 1, "{policy}");
        assert_eq!(plan.fires[0].scheduled_for, utc("2024-01-01T10:05:00Z"));
        assert!(!plan.fires[0].late);
        assert_eq!(plan.fires[0].skipped_slots, 0);
        // Within the grace the runner catches up slot by slot.
        assert_eq!(plan.next_fire_at, Some(utc("2024-01-01T10:06:00Z")));
    }
}

#[test]
fn plan_fire_once_fires_the_most_recent_missed_slot() {
    let s = every_minute("fire_once", None);
    assert_eq!(s.misfire_policy(), MisfirePolicy::FireOnce);
    let plan = s.plan(input("2024-01-01T10:00:00Z", 0, "2024-01-01T10:10:30Z"));
    assert_eq!(plan.fires.len(), 1);
    let fire = plan.fires[0];
    assert_eq!(fire.scheduled_for, utc("2024-01-01T10:10:00Z"));
    assert!(fire.late);
    assert_eq!(fire.skipped_slots, 10);
    assert_eq!(plan.next_fire_at, Some(utc("2024-01-01T10:11:00Z")));
    // A slot equal to now is missed (fired now), not fired again next.
    let plan = s.plan(input("2024-01-01T10:00:00Z", 0, "2024-01-01T10:05:00Z"));
    assert_eq!(plan.fires[0].scheduled_for, utc("2024-01-01T10:05:00Z"));
    assert_eq!(plan.fires[0].skipped_slots, 5);
    assert_eq!(plan.next_fire_at, Some(utc("2024-01-01T10:06:00Z")));
}

#[test]
fn plan_skip_fires_nothing_and_goes_to_the_next_future_slot() {
    let s = every_minute("skip", None);
    let plan = s.plan(input("2024-01-01T10:00:00Z", 0, "2024-01-01T10:10:30Z"));
    assert!(plan.fires.is_empty());
    assert_eq!(plan.next_fire_at, Some(utc("2024-01-01T10:11:00Z")));
}

#[test]
fn plan_fire_all_fires_every_missed_slot_up_to_100() {
    let s = every_minute("fire_all", None);
    let plan = s.plan(input("2024-01-01T10:00:00Z", 0, "2024-01-01T10:10:30Z"));
    assert_eq!(plan.fires.len(), 11);
    assert!(plan.fires.iter().all(|f| f.late));
    assert_eq!(plan.fires[0].scheduled_for, utc("2024-01-01T10:00:00Z"));
    assert_eq!(plan.fires[10].scheduled_for, utc("2024-01-01T10:10:00Z"));
    assert!(plan.fires.iter().all(|f| f.skipped_slots == 0));
    assert_eq!(plan.next_fire_at, Some(utc("2024-01-01T10:11:00Z")));

    // 500 missed: the most recent 100 fire, the earliest of them records the other 400.
    let plan = s.plan(input("2024-01-01T10:00:00Z", 0, "2024-01-01T18:19:00Z"));
    assert_eq!(plan.fires.len(), 100);
    assert_eq!(plan.fires[0].scheduled_for, utc("2024-01-01T16:40:00Z"));
    assert_eq!(plan.fires[0].skipped_slots, 400);
    assert_eq!(plan.fires[99].scheduled_for, utc("2024-01-01T18:19:00Z"));
    assert!(plan.fires[1..].iter().all(|f| f.skipped_slots == 0));
    assert!(plan
        .fires
        .windows(2)
        .all(|w| w[0].scheduled_for < w[1].scheduled_for));
}

#[test]
fn plan_respects_max_fires() {
    // fire_all with 3 fires left out of 5 missed: the most recent 3, then finished.
    let s = every_minute("fire_all", Some(5));
    let plan = s.plan(input("2024-01-01T10:00:00Z", 2, "2024-01-01T10:04:30Z"));
    assert_eq!(
        plan.fires
            .iter()
            .map(|f| f.scheduled_for)
            .collect::<Vec<_>>(),
        utcs(&[
            "2024-01-01T10:02:00Z",
            "2024-01-01T10:03:00Z",
            "2024-01-01T10:04:00Z"
        ])
    );
    assert_eq!(plan.fires[0].skipped_slots, 2);
    assert_eq!(plan.next_fire_at, None);
    // On time, the last allowed fire finishes the scheduler.
    let s = every_minute("fire_once", Some(3));
    let plan = s.plan(input("2024-01-01T10:02:00Z", 2, "2024-01-01T10:02:01Z"));
    assert_eq!(plan.fires.len(), 1);
    assert_eq!(plan.next_fire_at, None);
    let plan = s.plan(input("2024-01-01T10:01:00Z", 1, "2024-01-01T10:01:01Z"));
    assert_eq!(plan.next_fire_at, Some(utc("2024-01-01T10:02:00Z")));
    // Late fire_once with one fire left also finishes it.
    let plan = s.plan(input("2024-01-01T10:02:00Z", 2, "2024-01-01T11:00:00Z"));
    assert_eq!(plan.fires.len(), 1);
    assert_eq!(plan.next_fire_at, None);
    // Already used up: nothing.
    let plan = s.plan(input("2024-01-01T10:02:00Z", 3, "2024-01-01T11:00:00Z"));
    assert!(plan.fires.is_empty() && plan.next_fire_at.is_none());
    // skip with fires left keeps going.
    let s = every_minute("skip", Some(3));
    let plan = s.plan(input("2024-01-01T10:02:00Z", 2, "2024-01-01T11:00:00Z"));
    assert!(plan.fires.is_empty());
    assert_eq!(plan.next_fire_at, Some(utc("2024-01-01T11:01:00Z")));
}

#[test]
fn plan_after_end_finishes() {
    let s = sched(json!({
        "trigger_frequency_unit": "hours", "trigger_frequency_value": 1,
        "start_datetime": "2024-01-01T00:00:00Z", "end_datetime": "2024-01-01T05:00:00Z"
    }));
    let plan = s.plan(input("2024-01-01T03:00:00Z", 3, "2024-01-02T00:00:00Z"));
    assert_eq!(plan.fires.len(), 1);
    assert_eq!(plan.fires[0].scheduled_for, utc("2024-01-01T05:00:00Z"));
    assert_eq!(plan.fires[0].skipped_slots, 2);
    assert_eq!(plan.next_fire_at, None);
    let plan = s.plan(input("2024-01-01T05:00:00Z", 5, "2024-01-01T05:00:10Z"));
    assert_eq!(plan.fires.len(), 1);
    assert_eq!(plan.next_fire_at, None);
}

#[test]
fn plan_counts_years_of_missed_slots_arithmetically() {
    // Ten years of daily slots in a DST zone: 3653 missed, counted without walking them.
    let s = daily_at(
        "2024-01-01T02:30:00-05:00",
        "America/New_York",
        "2014-01-01T00:00:00Z",
    );
    let due = s.first_at_or_after(utc("2014-01-01T00:00:00Z")).unwrap();
    let now = utc("2024-01-01T12:00:00Z");
    let plan = s.plan(PlanInput {
        scheduler_id: "66e1481283adbddb9ad6b8ff",
        due,
        fired: 0,
        now,
        grace: TimeDelta::seconds(60),
    });
    let expected = s.slots_from(due).take_while(|t| *t <= now).count() as u32;
    assert_eq!(expected, 3653);
    assert_eq!(plan.fires[0].skipped_slots, expected - 1);
    assert_eq!(
        plan.fires[0].scheduled_for,
        utc("2024-01-01T02:30:00-05:00")
    );
    assert_eq!(plan.next_fire_at, Some(utc("2024-01-02T02:30:00-05:00")));

    let s = sched(json!({
        "trigger_frequency_unit": "months", "trigger_frequency_value": 1,
        "start_datetime": "1990-01-31T09:00:00Z", "misfire_policy": "fire_all"
    }));
    let plan = s.plan(input("1990-01-31T09:00:00Z", 0, "2024-01-01T00:00:00Z"));
    assert_eq!(plan.fires.len(), 100);
    assert_eq!(plan.fires[0].skipped_slots, 408 - 100);
    assert_eq!(plan.fires[99].scheduled_for, utc("2023-12-31T09:00:00Z"));
}

#[test]
fn plan_for_cron_counts_with_a_cap() {
    let s = cron("0 */15 * * * *", "Europe/Berlin");
    let plan = s.plan(input("2024-01-01T00:00:00Z", 0, "2024-01-02T00:00:00Z"));
    assert_eq!(plan.fires[0].scheduled_for, utc("2024-01-02T00:00:00Z"));
    assert_eq!(plan.fires[0].skipped_slots, 96);
    // A per-second expression missed for two weeks: the count saturates at one million.
    let s = cron("* * * * * *", "UTC");
    let plan = s.plan(input("2024-01-01T00:00:00Z", 0, "2024-01-15T00:00:00Z"));
    assert_eq!(plan.fires[0].scheduled_for, utc("2024-01-15T00:00:00Z"));
    assert_eq!(plan.fires[0].skipped_slots, 999_999);
    assert_eq!(plan.next_fire_at, Some(utc("2024-01-15T00:00:01Z")));
}

// ---------------------------------------------------------------- validation

fn base() -> Value {
    json!({
        "type": "recurring", "trigger_frequency_unit": "minutes", "trigger_frequency_value": 5,
        "start_datetime": "2024-09-11T14:35:00.000Z"
    })
}

fn with(field: &str, value: Value) -> Value {
    let mut doc = base();
    doc[field] = value;
    doc
}

fn without(field: &str) -> Value {
    let mut doc = base();
    doc.as_object_mut().unwrap().remove(field);
    doc
}

#[track_caller]
fn assert_invalid(doc: Value, field: &str, message: &str) {
    let e = invalid(doc);
    assert_eq!(e.field, field);
    assert_eq!(e.message, message);
    assert_eq!(e.to_string(), message);
}

#[test]
fn validation_messages_name_the_field_and_what_is_allowed() {
    let unit =
        "trigger_frequency_unit must be one of: minutes, hours, days, weeks, months, years, cron";
    let value = "trigger_frequency_value must be an integer from 1 to 1000000";
    let start = "start_datetime must be an RFC 3339 date-time (e.g. 2024-09-11T14:35:00.000Z)";
    let tz = "timezone must be an IANA time zone name (e.g. UTC, Asia/Hong_Kong)";

    assert_invalid(
        with("type", json!("sometimes")),
        "type",
        "type must be one of: recurring, non_recurring",
    );
    assert_invalid(
        with("type", json!(1)),
        "type",
        "type must be one of: recurring, non_recurring",
    );
    assert_invalid(
        json!({"type": "non_recurring", "one_time_schedule_type": "relative",
               "start_datetime": "2024-09-11T14:35:00Z"}),
        "one_time_schedule_type",
        "one_time_schedule_type must be one of: exact",
    );
    assert_invalid(
        without("trigger_frequency_unit"),
        "trigger_frequency_unit",
        "trigger_frequency_unit is required",
    );
    assert_invalid(
        with("trigger_frequency_unit", Value::Null),
        "trigger_frequency_unit",
        "trigger_frequency_unit is required",
    );
    for bad in [
        json!("seconds"),
        json!("Minutes"),
        json!(""),
        json!(5),
        json!(["days"]),
    ] {
        assert_invalid(
            with("trigger_frequency_unit", bad),
            "trigger_frequency_unit",
            unit,
        );
    }
    assert_invalid(
        without("trigger_frequency_value"),
        "trigger_frequency_value",
        "trigger_frequency_value is required",
    );
    for bad in [
        json!(0),
        json!(-1),
        json!(1.5),
        json!("30"),
        json!(1_000_001),
        json!(1e300),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(true),
        json!({}),
        json!(-0.0),
    ] {
        assert_invalid(
            with("trigger_frequency_value", bad),
            "trigger_frequency_value",
            value,
        );
    }
    assert_invalid(
        without("start_datetime"),
        "start_datetime",
        "start_datetime is required",
    );
    assert_invalid(
        with("start_datetime", json!("")),
        "start_datetime",
        "start_datetime is required",
    );
    for bad in [
        json!("2024-09-11"),
        json!("yesterday"),
        json!("2024-09-11T14:35:00"),
        json!(1726065300),
        json!("2024-02-30T00:00:00Z"),
    ] {
        assert_invalid(with("start_datetime", bad), "start_datetime", start);
    }
    assert_invalid(
        json!({"trigger_frequency_unit": "days", "trigger_frequency_value": 1,
               "start_date": "soon"}),
        "start_date",
        "start_date must be an RFC 3339 date-time (e.g. 2024-09-11T14:35:00.000Z)",
    );
    for bad in [
        json!("Mars/Olympus_Mons"),
        json!("utc"),
        json!(""),
        json!(8),
    ] {
        assert_invalid(with("timezone", bad), "timezone", tz);
    }
    assert_invalid(
        with("trigger_time", json!("4pm")),
        "trigger_time",
        "trigger_time must be an RFC 3339 date-time (e.g. 1969-12-31T16:00:00.000Z)",
    );
    assert_invalid(
        with("triger_month_and_day", json!("Dec 31")),
        "triger_month_and_day",
        "triger_month_and_day must be an RFC 3339 date-time (e.g. 1969-12-31T16:00:00.000Z)",
    );
    assert_invalid(
        with("end_datetime", json!("2024-09-11T14:35:00.000Z")),
        "end_datetime",
        "end_datetime must be after start_datetime",
    );
    assert_invalid(
        with("end_datetime", json!("never")),
        "end_datetime",
        "end_datetime must be an RFC 3339 date-time (e.g. 2024-09-11T14:35:00.000Z)",
    );
    for bad in [
        json!(0),
        json!(-3),
        json!(2.5),
        json!("3"),
        json!(4_294_967_296u64),
    ] {
        assert_invalid(
            with("max_fires", bad),
            "max_fires",
            "max_fires must be an integer from 1 to 4294967295",
        );
    }
    for bad in [json!("fire_twice"), json!("FIRE_ONCE"), json!(0)] {
        assert_invalid(
            with("misfire_policy", bad),
            "misfire_policy",
            "misfire_policy must be one of: fire_once, skip, fire_all",
        );
    }
    let cron_doc = |expr: Value| {
        json!({"trigger_frequency_unit": "cron", "cron_expression": expr,
               "start_datetime": "2024-09-11T14:35:00Z"})
    };
    assert_invalid(
        json!({"trigger_frequency_unit": "cron", "start_datetime": "2024-09-11T14:35:00Z"}),
        "cron_expression",
        "cron_expression is required when trigger_frequency_unit is cron",
    );
    assert_invalid(
        cron_doc(json!(5)),
        "cron_expression",
        "cron_expression must be a string (e.g. \"0 9 * * MON-FRI\")",
    );
    let e = invalid(cron_doc(json!("0 25 * * *")));
    assert_eq!(e.field, "cron_expression");
    assert_eq!(
        e.message,
        "cron_expression is invalid: hour value '25' is out of range 0-23"
    );
    let e = invalid(cron_doc(json!("every day")));
    assert!(
        e.message
            .starts_with("cron_expression is invalid: expected 5 fields"),
        "{e}"
    );
}

#[test]
fn validation_accepts_defaults_integral_floats_and_ignores_unknown_fields() {
    let s = sched(json!({
        "trigger_frequency_unit": "minutes", "trigger_frequency_value": 30.0,
        "start_datetime": "2024-10-16T17:30:15.463789Z", "name": "x", "job": {"type": "kafka"},
        "timezone": null, "end_datetime": null, "max_fires": 7.0, "misfire_policy": null,
        "trigger_time": "", "surprise": [1, 2, 3]
    }));
    assert_eq!(s.kind(), ScheduleKind::Recurring);
    assert_eq!(s.timezone(), chrono_tz::UTC);
    assert_eq!(s.frequency().and_then(|f| f.value()), Some(30));
    assert_eq!(s.max_fires(), Some(7));
    assert_eq!(s.misfire_policy(), MisfirePolicy::FireOnce);
    // Sub-millisecond digits are dropped.
    assert_eq!(s.start(), utc("2024-10-16T17:30:15.463Z"));
    assert_eq!(s.end(), None);
    // Cron ignores trigger_frequency_value entirely.
    let s = sched(json!({
        "trigger_frequency_unit": "cron", "trigger_frequency_value": "whatever",
        "cron_expression": "@hourly", "start_datetime": "2024-10-16T17:30:00Z"
    }));
    assert_eq!(
        s.frequency().and_then(|f| f.cron()).map(|c| c.as_str()),
        Some("@hourly")
    );
    assert_eq!(
        s.next_after(utc("2024-10-16T17:30:00Z")),
        Some(utc("2024-10-16T18:00:00Z"))
    );
    assert_eq!("skip".parse::<MisfirePolicy>(), Ok(MisfirePolicy::Skip));
    assert_eq!(MisfirePolicy::FireAll.as_str(), "fire_all");
    assert!("Skip".parse::<MisfirePolicy>().is_err());
}

// ---------------------------------------------------------------- speed

/// The runner calls next_after for every fire (up to ~15,000 a second); each call must be
/// a jump, not a walk. Generous bounds: this runs unoptimised, next to other tests.
#[test]
fn next_after_is_cheap() {
    let cases = [
        sched(
            json!({"trigger_frequency_unit": "minutes", "trigger_frequency_value": 1,
                     "start_datetime": "1970-01-01T00:00:00Z"}),
        ),
        daily_at(
            "2024-01-01T02:30:00-05:00",
            "America/New_York",
            "1970-01-01T00:00:00Z",
        ),
        sched(
            json!({"trigger_frequency_unit": "months", "trigger_frequency_value": 1,
                     "start_datetime": "1970-01-31T09:00:00Z", "timezone": "Europe/London"}),
        ),
        cron("*/5 9-17 * * MON-FRI", "America/New_York"),
        cron("0 0 29 2 *", "Australia/Lord_Howe"),
    ];
    let mut t = utc("2024-01-01T00:00:00Z");
    let started = std::time::Instant::now();
    let calls = 5_000;
    for i in 0..calls {
        let s = &cases[i % cases.len()];
        let next = s.next_after(t).unwrap();
        assert!(next > t);
        t += TimeDelta::minutes(7 * 24 * 60 + 13);
    }
    let elapsed = started.elapsed();
    println!("{calls} next_after calls in {elapsed:?}");
    assert!(
        elapsed.as_secs_f64() < 5.0,
        "{calls} calls took {elapsed:?}"
    );
}

/// A stored row is refused with the very message its document gets (a row changed behind
/// the API's back is taken off the due index with a reason that names the field).
#[test]
fn a_stored_row_is_refused_like_its_document() {
    use scheduler_core::StoredTiming;
    let row = StoredTiming {
        kind: "recurring",
        one_time_schedule_type: None,
        trigger_frequency_unit: Some("fortnights"),
        trigger_frequency_value: Some(2),
        trigger_time: None,
        triger_month_and_day: None,
        start_datetime: utc("2024-09-11T14:35:00Z"),
        timezone: "UTC",
        cron_expression: None,
        schedule_expression: None,
        flexible_time_window_minutes: 0,
        end_datetime: None,
        max_fires: None,
        misfire_policy: "fire_once",
    };
    let doc = json!({"type": "recurring", "trigger_frequency_unit": "fortnights",
                     "trigger_frequency_value": 2, "start_datetime": "2024-09-11T14:35:00Z"});
    let from_row = Schedule::from_stored(&row).unwrap_err();
    assert_eq!(from_row, invalid(doc));
    for (row, field) in [
        (
            StoredTiming {
                trigger_frequency_value: Some(0),
                trigger_frequency_unit: Some("days"),
                ..row
            },
            "trigger_frequency_value",
        ),
        (
            StoredTiming {
                flexible_time_window_minutes: 1441,
                trigger_frequency_unit: Some("days"),
                ..row
            },
            "flexible_time_window_minutes",
        ),
        (
            StoredTiming {
                timezone: "Mars/Olympus",
                trigger_frequency_unit: Some("days"),
                ..row
            },
            "timezone",
        ),
        (
            StoredTiming {
                schedule_expression: Some("rate(1 minutes)"),
                trigger_frequency_unit: None,
                trigger_frequency_value: None,
                ..row
            },
            "schedule_expression",
        ),
        (
            StoredTiming {
                end_datetime: Some(utc("2024-01-01T00:00:00Z")),
                trigger_frequency_unit: Some("days"),
                ..row
            },
            "end_datetime",
        ),
    ] {
        let e = Schedule::from_stored(&row).unwrap_err();
        assert!(e.to_string().contains(field), "{field}: {e}");
    }
}
