use crate::scheduler;

fn lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8(out.stdout.clone())
        .expect("utf-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn seed_minutes_example_keeps_milliseconds() {
    let doc = r#"{ "type": "recurring", "name": "testing schedule", "event_type": "whatsapp",
        "trigger_frequency_unit": "minutes", "trigger_frequency_value": 30,
        "start_datetime": "2024-10-16T17:30:15.463Z", "job": {"type": "webhook"} }"#;
    let out = scheduler(
        &["preview", "--count", "3", "--after", "2024-10-16T00:00:00Z"],
        doc,
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        lines(&out),
        [
            "2024-10-16T17:30:15.463Z",
            "2024-10-16T18:00:15.463Z",
            "2024-10-16T18:30:15.463Z"
        ]
    );
}

#[test]
fn seed_yearly_example_in_hong_kong() {
    let doc = r#"{ "type": "recurring", "trigger_frequency_unit": "years", "trigger_frequency_value": 1,
        "triger_month_and_day": "1969-12-31T16:32:00.000Z", "trigger_time": "1969-12-31T16:00:00.000Z",
        "start_datetime": "2024-09-11T14:35:00.000Z", "timezone": "Asia/Hong_Kong" }"#;
    let out = scheduler(
        &[
            "preview",
            "--count",
            "2",
            "--after",
            "2024-09-11T14:35:00.000Z",
        ],
        doc,
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    // Jan 1 00:00 in Hong Kong (UTC+8) is Dec 31 16:00 UTC.
    assert_eq!(
        lines(&out),
        ["2024-12-31T16:00:00.000Z", "2025-12-31T16:00:00.000Z"]
    );
}

#[test]
fn a_finished_schedule_prints_fewer_lines() {
    let doc = r#"{ "trigger_frequency_unit": "days", "trigger_frequency_value": 1,
        "start_datetime": "2030-01-01T09:00:00Z", "max_fires": 2 }"#;
    let out = scheduler(
        &["preview", "--count", "5", "--after", "2029-01-01T00:00:00Z"],
        doc,
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        lines(&out),
        ["2030-01-01T09:00:00.000Z", "2030-01-02T09:00:00.000Z"]
    );
}

#[test]
fn invalid_documents_exit_2_with_one_line_naming_the_field() {
    let cases = [
        (
            r#"{"trigger_frequency_unit": "fortnights", "trigger_frequency_value": 1, "start_datetime": "2024-01-01T00:00:00Z"}"#,
            "trigger_frequency_unit",
        ),
        (
            r#"{"trigger_frequency_unit": "days", "trigger_frequency_value": 0, "start_datetime": "2024-01-01T00:00:00Z"}"#,
            "trigger_frequency_value",
        ),
        (
            r#"{"trigger_frequency_unit": "days", "trigger_frequency_value": 1}"#,
            "start_datetime",
        ),
        (
            r#"{"trigger_frequency_unit": "days", "trigger_frequency_value": 1, "start_datetime": "yesterday"}"#,
            "start_datetime",
        ),
        (
            r#"{"trigger_frequency_unit": "days", "trigger_frequency_value": 1, "start_datetime": "2024-01-01T00:00:00Z", "timezone": "Mars/Olympus"}"#,
            "timezone",
        ),
        (
            r#"{"trigger_frequency_unit": "cron", "cron_expression": "61 * * * *", "start_datetime": "2024-01-01T00:00:00Z"}"#,
            "cron_expression",
        ),
        (r#"not json"#, "JSON"),
    ];
    for (doc, field) in cases {
        let out = scheduler(&["preview", "--count", "1"], doc, &[]);
        assert_eq!(out.status.code(), Some(2), "{doc}: {out:?}");
        assert!(out.stdout.is_empty(), "{doc}");
        let err = String::from_utf8(out.stderr).expect("utf-8");
        assert_eq!(err.trim_end().lines().count(), 1, "{doc}: {err}");
        assert!(err.contains(field), "{doc}: {err}");
    }
}
