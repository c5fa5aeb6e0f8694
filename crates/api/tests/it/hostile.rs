//! Hostile requests: each gets a 4xx with a JSON `{"message"}`, never a 5xx, and the database
//! is unchanged afterwards.

use reqwest::Method;
use serde_json::{json, Value};

use crate::{minutely, scheduler, schedulers, TestApp};

const ORG: &str = "org_h";
const USER: &str = "u_h";

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    /// The expected status, or 0 for "any 4xx".
    status: u16,
}

fn with(mut base: Value, key: &str, value: Value) -> Vec<u8> {
    base[key] = value;
    base.to_string().into_bytes()
}

fn job_with(key: &str, value: Value) -> Vec<u8> {
    let mut base = minutely("n", "e");
    base["job"] = json!({"type": "webhook", "url": "https://example.com/hook"});
    base["job"][key] = value;
    base.to_string().into_bytes()
}

#[tokio::test]
async fn hostile_requests_get_a_4xx_message_and_change_nothing() {
    let app = TestApp::spawn().await;
    let token = app.tenant(ORG, USER).await;
    let doc = app
        .create(ORG, USER, &token, &minutely("target", "e"))
        .await;
    let id = doc["_id"].as_str().unwrap().to_owned();
    let list = schedulers(ORG, USER);
    let one = scheduler(ORG, USER, &id);
    let good = minutely("n", "e");
    let json_ct = ("content-type", "application/json".to_owned());
    let tok = ("x-access-token", token.clone());
    let std_headers = || vec![tok.clone(), json_ct.clone()];
    let post = |name, body: Vec<u8>, status| Case {
        name,
        method: Method::POST,
        path: list.clone(),
        headers: std_headers(),
        body: Some(body),
        status,
    };
    let put = |name, body: Vec<u8>, status| Case {
        name,
        method: Method::PUT,
        path: one.clone(),
        headers: std_headers(),
        body: Some(body),
        status,
    };
    let get = |name, path: String, status| Case {
        name,
        method: Method::GET,
        path,
        headers: vec![tok.clone()],
        body: None,
        status,
    };
    let deep = |n: usize| {
        format!(
            r#"{{"name":"n","event_type":"e","job":{{"type":"kafka","topic":"t","data":{{"d":{}{}}}}}}}"#,
            "[".repeat(n),
            "]".repeat(n)
        )
        .into_bytes()
    };
    let big_string = "x".repeat(1024 * 1024 + 10);

    let cases = vec![
        // Malformed bodies.
        post("truncated JSON", br#"{"name":"#.to_vec(), 400),
        post("trailing garbage", br#"{"name":"n"} x"#.to_vec(), 400),
        post("array body", b"[]".to_vec(), 400),
        post("string body", br#""str""#.to_vec(), 400),
        post("null body", b"null".to_vec(), 400),
        post("empty body", Vec::new(), 400),
        post("whitespace body", b"  \n ".to_vec(), 400),
        post("non-UTF-8 bytes", b"{\"name\":\"\xff\xfe\",\"event_type\":\"e\"}".to_vec(), 400),
        post("lone surrogate escape", br#"{"name":"\ud800","event_type":"e","job":{}}"#.to_vec(), 400),
        post("single quotes", b"{'name':'n'}".to_vec(), 400),
        post("NaN literal", br#"{"name":"n","event_type":"e","job":{"type":"kafka","topic":"t"},"max_fires":NaN}"#.to_vec(), 400),
        post("number out of range", br#"{"name":"n","event_type":"e","job":{"type":"kafka","topic":"t"},"max_fires":1e400}"#.to_vec(), 400),
        post("duplicate top-level key", br#"{"name":"a","name":"b","event_type":"e","job":{"type":"kafka","topic":"t"},"trigger_frequency_unit":"minutes","trigger_frequency_value":1,"start_datetime":"2024-09-11T14:35:00.000Z"}"#.to_vec(), 400),
        post("duplicate nested key", br#"{"name":"a","event_type":"e","job":{"type":"kafka","topic":"t","topic":"u"},"trigger_frequency_unit":"minutes","trigger_frequency_value":1,"start_datetime":"2024-09-11T14:35:00.000Z"}"#.to_vec(), 400),
        post("nesting past the limit", deep(200), 400),
        post("nesting 100k deep", deep(100_000), 400),
        post("body over 1 MiB", with(good.clone(), "description", json!(big_string)), 413),
        // Wrong types and values.
        post("name is a number", with(good.clone(), "name", json!(5)), 400),
        post("name is blank", with(good.clone(), "name", json!("   ")), 400),
        post("name too long", with(good.clone(), "name", json!("n".repeat(600))), 400),
        post("name with NUL", with(good.clone(), "name", json!("a\u{0}b")), 400),
        post("event_type is an array", with(good.clone(), "event_type", json!(["a"])), 400),
        post("job is a string", with(good.clone(), "job", json!("kafka")), 400),
        post("job type unknown", with(good.clone(), "job", json!({"type": "sqs"})), 400),
        post("kafka without topic", with(good.clone(), "job", json!({"type": "kafka"})), 400),
        post("kafka topic with spaces", with(good.clone(), "job", json!({"type": "kafka", "topic": "a b"})), 400),
        post("webhook ftp url", with(good.clone(), "job", json!({"type": "webhook", "url": "ftp://x/y"})), 400),
        post("webhook method TRACE", job_with("method", json!("TRACE")), 400),
        post("webhook headers not strings", job_with("headers", json!({"a": 1})), 400),
        post("webhook timeout huge", job_with("timeout_ms", json!(1e30)), 400),
        post("webhook retry negative", job_with("retry", json!({"max_attempts": -1})), 400),
        post("job data too big", job_with("data", json!({"x": "y".repeat(300 * 1024)})), 400),
        post("description is an object", with(good.clone(), "description", json!({})), 400),
        post("is_paused is a string", with(good.clone(), "is_paused", json!("yes")), 400),
        post("type unknown", with(good.clone(), "type", json!("sometimes")), 400),
        post("unit unknown", with(good.clone(), "trigger_frequency_unit", json!("fortnights")), 400),
        post("value huge", with(good.clone(), "trigger_frequency_value", json!(1e20)), 400),
        post("value u64 max", with(good.clone(), "trigger_frequency_value", json!(u64::MAX)), 400),
        post("value negative", with(good.clone(), "trigger_frequency_value", json!(-1)), 400),
        post("value zero", with(good.clone(), "trigger_frequency_value", json!(0)), 400),
        post("value fractional", with(good.clone(), "trigger_frequency_value", json!(1.5)), 400),
        post("start not a date", with(good.clone(), "start_datetime", json!("yesterday")), 400),
        post("start a number", with(good.clone(), "start_datetime", json!(1_726_065_300_000_i64)), 400),
        post("timezone unknown", with(good.clone(), "timezone", json!("Mars/Olympus_Mons")), 400),
        post("cron invalid", with(with_unit_cron(&good), "cron_expression", json!("99 * * * *")), 400),
        post("misfire policy unknown", with(good.clone(), "misfire_policy", json!("never")), 400),
        post("max_fires zero", with(good.clone(), "max_fires", json!(0)), 400),
        post("end before start", with(good.clone(), "end_datetime", json!("2020-01-01T00:00:00.000Z")), 400),
        post("one-shot type unknown", with(json!({"type": "non_recurring", "name": "n", "event_type": "e", "job": {"type": "kafka", "topic": "t"}, "start_datetime": "2030-01-01T00:00:00Z"}), "one_time_schedule_type", json!("fuzzy")), 400),
        post("NUL in job data", with(good.clone(), "job", json!({"type": "kafka", "topic": "t", "data": {"x": "a\u{0}"}})), 400),
        post("NUL in a job key", with(good.clone(), "job", json!({"type": "kafka", "topic": "t", "w\u{0}": 1})), 400),
        post("NUL in options", with(good.clone(), "options", json!({"o": ["\u{0}"]})), 400),
        post("NUL in description", with(good.clone(), "description", json!("\u{0}")), 400),
        post("one-shot type on a recurring", with(good.clone(), "one_time_schedule_type", json!("a\u{0}")), 400),
        // Content type.
        Case { name: "text/plain body", method: Method::POST, path: list.clone(), headers: vec![tok.clone(), ("content-type", "text/plain".into())], body: Some(good.to_string().into_bytes()), status: 415 },
        Case { name: "form body", method: Method::POST, path: list.clone(), headers: vec![tok.clone(), ("content-type", "application/x-www-form-urlencoded".into())], body: Some(b"name=n".to_vec()), status: 415 },
        Case { name: "no content type", method: Method::POST, path: list.clone(), headers: vec![tok.clone()], body: Some(good.to_string().into_bytes()), status: 415 },
        // Updates.
        put("update with malformed JSON", b"{".to_vec(), 400),
        put("update with name null", br#"{"name":null}"#.to_vec(), 400),
        put("update with bad unit", br#"{"trigger_frequency_unit":"eons"}"#.to_vec(), 400),
        put("update with duplicate keys", br#"{"is_paused":true,"is_paused":false}"#.to_vec(), 400),
        put("update with bad job", br#"{"job":{"type":"webhook","url":"javascript:alert(1)"}}"#.to_vec(), 400),
        put("update over 1 MiB", with(json!({}), "description", json!(big_string)), 413),
        Case { name: "update of an unknown id", method: Method::PUT, path: scheduler(ORG, USER, "0123456789abcdef01234567"), headers: std_headers(), body: Some(br#"{"name":"x"}"#.to_vec()), status: 404 },
        // Paging and query parameters.
        get("limit zero", format!("{list}?limit=0"), 400),
        get("limit 101", format!("{list}?limit=101"), 400),
        get("limit not numeric", format!("{list}?limit=abc"), 400),
        get("limit huge", format!("{list}?limit=99999999999999999999999"), 400),
        get("limit negative", format!("{list}?limit=-5"), 400),
        get("skip negative", format!("{list}?skip=-1"), 400),
        get("skip exponent", format!("{list}?skip=1e3"), 400),
        get("skip twice", format!("{list}?skip=1&skip=2"), 400),
        get("NUL in the event_type filter", format!("{list}?event_type=%00"), 400),
        get("NUL in a contains filter", format!("{list}?event_type=contains%3Aa%2C%00"), 400),
        get("preview count zero", format!("{one}/preview?count=0"), 400),
        get("preview count 101", format!("{one}/preview?count=101"), 400),
        get("executions limit zero", format!("{one}/executions?limit=0"), 400),
        // Ids and paths.
        get("id too short", scheduler(ORG, USER, "abc"), 404),
        get("id uppercase", scheduler(ORG, USER, &id.to_uppercase()), 404),
        get("id non-ASCII", scheduler(ORG, USER, "%C3%A9%C3%A9"), 404),
        get("id invalid UTF-8 escape", scheduler(ORG, USER, "%FF%FE"), 400),
        get("id path traversal", format!("{list}/..%2F..%2Fadmin"), 404),
        get("id SQL-ish", scheduler(ORG, USER, "'%20OR%201=1--"), 404),
        Case { name: "run on a bad id", method: Method::POST, path: format!("{list}/nope/run"), headers: vec![tok.clone()], body: None, status: 404 },
        Case { name: "delete a bad id", method: Method::DELETE, path: scheduler(ORG, USER, "zzzzzzzzzzzzzzzzzzzzzzzz"), headers: vec![tok.clone()], body: None, status: 404 },
        get("unknown route", format!("{list}/{id}/nope"), 404),
        get("unknown top-level route", "/nope".to_owned(), 404),
        Case { name: "POST on a scheduler", method: Method::POST, path: one.clone(), headers: std_headers(), body: Some(b"{}".to_vec()), status: 405 },
        Case { name: "PATCH on a scheduler", method: Method::PATCH, path: one.clone(), headers: std_headers(), body: Some(b"{}".to_vec()), status: 405 },
        Case { name: "files route with a JSON body", method: Method::PUT, path: format!("{list}/files/{id}"), headers: std_headers(), body: Some(b"{}".to_vec()), status: 415 },
        // Headers.
        Case { name: "no token", method: Method::GET, path: list.clone(), headers: vec![], body: None, status: 401 },
        Case { name: "empty token", method: Method::GET, path: list.clone(), headers: vec![("x-access-token", String::new())], body: None, status: 401 },
        Case { name: "unknown token", method: Method::GET, path: list.clone(), headers: vec![("x-access-token", "api_nope".into())], body: None, status: 401 },
        Case { name: "huge token", method: Method::GET, path: list.clone(), headers: vec![("x-access-token", "a".repeat(10_000))], body: None, status: 401 },
        Case { name: "token as Authorization", method: Method::GET, path: list.clone(), headers: vec![("authorization", format!("Bearer {token}"))], body: None, status: 401 },
        Case { name: "no token on create", method: Method::POST, path: list.clone(), headers: vec![json_ct.clone()], body: Some(good.to_string().into_bytes()), status: 401 },
        Case { name: "org header mismatch", method: Method::GET, path: list.clone(), headers: vec![tok.clone(), ("x-organization-id", "org_x".into())], body: None, status: 400 },
        Case { name: "user header mismatch", method: Method::POST, path: list.clone(), headers: vec![tok.clone(), json_ct.clone(), ("x-user-id", "u_x".into())], body: Some(good.to_string().into_bytes()), status: 400 },
        get("unknown user", schedulers(ORG, "u_nobody"), 404),
        get("NUL user id", format!("/3rd/organization/{ORG}/users/%00/schedulers"), 404),
        get("user id over 128 characters", schedulers(ORG, &"u".repeat(300)), 404),
        get("NUL organization id", format!("/3rd/organization/%00/users/{USER}/schedulers"), 401),
        get("user id with invalid UTF-8", format!("/3rd/organization/{ORG}/users/%FF/schedulers"), 400),
        Case { name: "admin route without admin token configured", method: Method::POST, path: "/admin/organizations".into(), headers: std_headers(), body: Some(br#"{"organization_id":"org_new"}"#.to_vec()), status: 404 },
    ];
    assert!(cases.len() >= 40, "{}", cases.len());

    let before = app.dump().await;
    for case in cases {
        let mut rb = app.request(case.method.clone(), &case.path);
        for (k, v) in &case.headers {
            rb = rb.header(*k, v.as_str());
        }
        if let Some(b) = case.body {
            rb = rb.body(b);
        }
        let res = rb
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let status = res.status().as_u16();
        let ct = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        assert!(res.headers().contains_key("x-request-id"), "{}", case.name);
        let text = res.text().await.unwrap();
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: {status} not JSON ({e}): {text:?}", case.name));
        assert_eq!(ct.as_deref(), Some("application/json"), "{}", case.name);
        let message = body["message"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no message in {body}", case.name));
        assert!(!message.is_empty(), "{}", case.name);
        if case.status == 0 {
            assert!(
                (400..500).contains(&status),
                "{}: {status} {message}",
                case.name
            );
        } else {
            assert_eq!(status, case.status, "{}: {message}", case.name);
        }
    }
    assert_eq!(
        app.dump().await,
        before,
        "a rejected request changed the database"
    );
}

fn with_unit_cron(base: &Value) -> Value {
    let mut b = base.clone();
    b["trigger_frequency_unit"] = json!("cron");
    b
}

#[tokio::test]
async fn messages_say_what_is_wrong() {
    let app = TestApp::spawn().await;
    let token = app.tenant(ORG, USER).await;
    let good = minutely("n", "e");
    let send = |body: Vec<u8>| {
        let app = &app;
        let token = token.clone();
        async move {
            app.send(
                app.authed(Method::POST, &schedulers(ORG, USER), &token)
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await
        }
    };
    for (body, needle) in [
        (
            with(good.clone(), "name", json!(5)),
            "name must be a string",
        ),
        (
            with(good.clone(), "trigger_frequency_unit", json!("eons")),
            "trigger_frequency_unit",
        ),
        (
            with(good.clone(), "trigger_frequency_value", json!(0)),
            "trigger_frequency_value",
        ),
        (with(good.clone(), "timezone", json!("Nowhere")), "timezone"),
        (
            with(good.clone(), "job", json!({"type": "kafka"})),
            "job.topic",
        ),
        (
            with(good.clone(), "job", json!({"type": "webhook", "url": "x"})),
            "job.url",
        ),
        (br#"{"a":1,"a":2}"#.to_vec(), "duplicate key \"a\""),
        (b"{\"a\":\"\xff\"}".to_vec(), "UTF-8"),
        (b"[1]".to_vec(), "JSON object"),
    ] {
        let r = send(body).await;
        assert_eq!(r.status, 400, "{r:?}");
        assert!(r.message().contains(needle), "{needle}: {}", r.message());
    }
}

/// Values at the edges of what the types allow: accepted or refused, never a 5xx, and what is
/// accepted can be read and previewed.
#[tokio::test]
async fn extreme_values_are_accepted_or_refused_never_a_5xx() {
    let app = TestApp::spawn().await;
    let token = app.tenant(ORG, USER).await;
    let mut bodies = Vec::new();
    let mut impossible = Vec::new();
    for start in [
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "1969-12-31T23:59:59.999Z",
        "9999-12-31T23:59:59.999Z",
        "9999-12-31T23:59:59.999-23:59",
        "2024-02-29T02:30:00+14:00",
    ] {
        for (unit, value) in [
            ("minutes", json!(1)),
            ("hours", json!(1_000_000)),
            ("days", json!(1)),
            ("weeks", json!(1_000_000)),
            ("months", json!(1)),
            ("years", json!(1_000_000)),
            ("years", json!(1)),
        ] {
            let mut b = minutely("x", "e");
            b["start_datetime"] = json!(start);
            b["trigger_frequency_unit"] = json!(unit);
            b["trigger_frequency_value"] = value;
            b["timezone"] = json!("Pacific/Kiritimati");
            bodies.push(b);
        }
        let mut b = minutely("x", "e");
        b["start_datetime"] = json!(start);
        b["trigger_frequency_unit"] = json!("cron");
        // February 30th: never matches, whatever the start. Refused, never stored.
        b["cron_expression"] = json!("0 0 30 2 *");
        impossible.push(b.clone());
        b["cron_expression"] = json!("59 23 31 12 * 9999");
        bodies.push(b.clone());
        bodies.push(
            json!({"type": "non_recurring", "name": "o", "event_type": "e",
            "job": {"type": "kafka", "topic": "t"}, "start_datetime": start}),
        );
    }
    let mut b = minutely("x", "e");
    b["max_fires"] = json!(u32::MAX);
    b["end_datetime"] = json!("9999-12-31T23:59:59.999Z");
    bodies.push(b);
    for body in &impossible {
        let r = app
            .call(Method::POST, &schedulers(ORG, USER), &token, Some(body))
            .await;
        assert_eq!(r.status, 400, "{body}: {r:?}");
        assert!(r.message().contains("never matches"), "{body}: {r:?}");
    }
    let listed = app
        .call(Method::GET, &schedulers(ORG, USER), &token, None)
        .await;
    assert_eq!(listed.body["total"], 0, "{listed:?}");
    // Edges of the representable range: accepted or refused with a message, never a 5xx.
    for body in bodies {
        let r = app
            .call(Method::POST, &schedulers(ORG, USER), &token, Some(&body))
            .await;
        assert!(r.status == 201 || r.status == 400, "{body}: {r:?}");
        if r.status == 201 {
            let one = scheduler(ORG, USER, r.body["_id"].as_str().unwrap());
            for path in [one.clone(), format!("{one}/preview?count=100")] {
                let r = app.call(Method::GET, &path, &token, None).await;
                assert_eq!(r.status, 200, "{body} {path}: {r:?}");
            }
            let r = app
                .call(Method::PUT, &one, &token, Some(&json!({"is_paused": true})))
                .await;
            assert_eq!(r.status, 200, "{body}: {r:?}");
            let r = app
                .call(
                    Method::PUT,
                    &one,
                    &token,
                    Some(&json!({"is_paused": false})),
                )
                .await;
            assert_eq!(r.status, 200, "{body}: {r:?}");
        }
    }
}
