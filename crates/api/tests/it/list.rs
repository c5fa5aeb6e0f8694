//! Listing: filters, paging edges, order.

use reqwest::Method;
use serde_json::Value;

use crate::{at, minutely, schedulers, TestApp};

fn names(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn filters_paging_and_order() {
    let app = TestApp::spawn().await;
    let token = app.tenant("org_a", "u1").await;
    let t0 = at("2026-01-01T00:00:00Z");
    // 25 schedulers, one second apart, event types cycling a, b, c.
    for i in 0..25 {
        app.set_now(t0 + chrono::Duration::seconds(i));
        let et = ["a", "b", "c"][usize::try_from(i).unwrap() % 3];
        app.create("org_a", "u1", &token, &minutely(&format!("s{i:02}"), et))
            .await;
    }
    let list = |q: &str| {
        let path = format!("{}?{q}", schedulers("org_a", "u1"));
        let app = &app;
        let token = token.clone();
        async move { app.call(Method::GET, &path, &token, None).await }
    };

    // Defaults: 10 newest.
    let r = list("").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        names(&r.body),
        (15..25)
            .rev()
            .map(|i| format!("s{i:02}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        (
            r.body["count"].clone(),
            r.body["total"].clone(),
            r.body["has_more"].clone()
        ),
        (10.into(), 25.into(), true.into())
    );

    // Page edges: the last full page, the partial one, past the end.
    for (q, count, has_more, first) in [
        ("limit=10&skip=10", 10, true, Some("s14")),
        ("limit=10&skip=15", 10, false, Some("s09")),
        ("limit=10&skip=20", 5, false, Some("s04")),
        ("limit=5&skip=20", 5, false, Some("s04")),
        ("limit=5&skip=19", 5, true, Some("s05")),
        ("limit=100", 25, false, Some("s24")),
        ("limit=1&skip=24", 1, false, Some("s00")),
        ("limit=1&skip=25", 0, false, None),
        ("skip=1000000", 0, false, None),
    ] {
        let r = list(q).await;
        assert_eq!(r.status, 200, "{q}");
        assert_eq!(r.body["count"], count, "{q}");
        assert_eq!(r.body["total"], 25, "{q}");
        assert_eq!(r.body["has_more"], has_more, "{q}");
        assert_eq!(names(&r.body).first().map(String::as_str), first, "{q}");
        assert_eq!(r.body["data"].as_array().unwrap().len(), count, "{q}");
    }

    // Exact filter and contains: filter.
    let r = list("event_type=a&limit=100").await;
    assert_eq!(r.body["total"], 9);
    assert!(r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["event_type"] == "a"));
    let r = list("event_type=contains%3Aa%2Cc&limit=100").await;
    assert_eq!(r.body["total"], 17);
    assert!(r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["event_type"] != "b"));
    let r = list("event_type=contains:b,zzz&limit=3").await;
    assert_eq!(
        (
            r.body["total"].clone(),
            r.body["count"].clone(),
            r.body["has_more"].clone()
        ),
        (8.into(), 3.into(), true.into())
    );
    assert_eq!(names(&r.body), ["s22", "s19", "s16"]);
    // A bare value is exact, not a substring; a prefix without values and an empty value
    // mean no filter.
    assert_eq!(list("event_type=contains").await.body["total"], 0);
    assert_eq!(list("event_type=").await.body["total"], 25);
    assert_eq!(list("event_type=contains%3A").await.body["total"], 25);

    // Bad paging names the parameter.
    for (q, message) in [
        ("limit=0", "limit must be an integer from 1 to 100"),
        ("limit=101", "limit must be an integer from 1 to 100"),
        ("limit=ten", "limit must be an integer from 1 to 100"),
        ("skip=-1", "skip must be an integer from 0 to 1000000"),
        ("skip=1.5", "skip must be an integer from 0 to 1000000"),
    ] {
        let r = list(q).await;
        assert_eq!((r.status, r.message()), (400, message), "{q}");
    }
}

#[tokio::test]
async fn same_second_ties_break_on_id_newest_first() {
    let app = TestApp::spawn().await;
    let token = app.tenant("org_a", "u1").await;
    app.set_now(at("2026-01-01T00:00:00Z"));
    for i in 0..3 {
        app.create("org_a", "u1", &token, &minutely(&format!("n{i}"), "e"))
            .await;
    }
    let r = app
        .call(Method::GET, &schedulers("org_a", "u1"), &token, None)
        .await;
    assert_eq!(names(&r.body), ["n2", "n1", "n0"]);
}
