//! The charts and the markdown summary of one run.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::chart::{self, Series};

fn get<'a>(results: &'a [(String, Value)], name: &str) -> Option<&'a Value> {
    results.iter().find(|(n, _)| n == name).map(|(_, v)| v)
}

fn deliveries(results: &[(String, Value)]) -> impl Iterator<Item = &(String, Value)> {
    results.iter().filter(|(_, v)| v.get("lag_ms").is_some())
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// Writes the PNG charts; returns (title, file name) of each.
pub fn charts(
    out: &Path,
    date: &str,
    results: &[(String, Value)],
) -> anyhow::Result<Vec<(String, String)>> {
    let mut made = Vec::new();
    let lag: Vec<Series> = deliveries(results)
        .map(|(n, v)| {
            let pts = v["lag_cdf_ms_pct"]
                .as_array()
                .map(|a| a.iter().map(|p| (f(&p[0]), f(&p[1]))).collect())
                .unwrap_or_default();
            (n.clone(), pts)
        })
        .collect();
    if !lag.is_empty() {
        let file = format!("{date}-lag.png");
        chart::lines(
            &out.join(&file),
            "Lag distribution (planned delivery to receipt)",
            "lag, ms (log scale)",
            "% of fires at or below",
            &lag,
            true,
        )?;
        made.push(("Lag distribution".to_owned(), file));
    }
    let per_sec: Vec<Series> = deliveries(results)
        .filter(|(_, v)| f(&v["window_minutes"]) == 0.0)
        .map(|(n, v)| {
            let pts = v["delivered_per_sec"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .enumerate()
                        .map(|(i, c)| (i as f64, f(c)))
                        .collect()
                })
                .unwrap_or_default();
            (n.clone(), pts)
        })
        .collect();
    if !per_sec.is_empty() {
        let file = format!("{date}-delivered.png");
        chart::lines(
            &out.join(&file),
            "Delivered per second",
            "seconds since the first fire was due",
            "fires received per second",
            &per_sec,
            false,
        )?;
        made.push(("Delivered per second".to_owned(), file));
    }
    if let Some(w) = get(results, "window") {
        let per_sec: Vec<(f64, f64)> = w["delivered_per_sec"]
            .as_array()
            .map(|a| {
                a.iter()
                    .enumerate()
                    .map(|(i, c)| (i as f64, f(c)))
                    .collect()
            })
            .unwrap_or_default();
        let expected = f(&w["window"]["expected_per_sec"]);
        let flat: Vec<(f64, f64)> =
            vec![(0.0, expected), (f(&w["window_minutes"]) * 60.0, expected)];
        let file = format!("{date}-window.png");
        chart::lines(
            &out.join(&file),
            &format!(
                "{} fires due at one instant, {}-minute flexible window",
                num(f(&w["fires"])),
                w["window_minutes"]
            ),
            "seconds since the slot",
            "fires received per second",
            &[
                ("received".to_owned(), per_sec),
                ("uniform over the window".to_owned(), flat),
            ],
            false,
        )?;
        made.push(("Flexible window: delivered per second".to_owned(), file));
    }
    let steady: Vec<Series> = deliveries(results)
        .filter(|(_, v)| f(&v["rate_per_sec"]) > 0.0)
        .map(|(n, v)| {
            let pts = v["lag_per_sec"]
                .as_array()
                .map(|a| a.iter().map(|s| (f(&s["second"]), f(&s["p99"]))).collect())
                .unwrap_or_default();
            (format!("{n} p99"), pts)
        })
        .collect();
    if !steady.is_empty() {
        let file = format!("{date}-steady-lag.png");
        chart::lines(
            &out.join(&file),
            "Steady load: lag p99 per second",
            "second of the schedule",
            "lag p99, ms",
            &steady,
            false,
        )?;
        made.push(("Steady lag p99 per second".to_owned(), file));
    }
    Ok(made)
}

fn num(x: f64) -> String {
    if x >= 100.0 {
        let s = format!("{:.0}", x);
        // Thousands separators.
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else {
        format!("{x:.1}")
    }
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

fn cpu_line(cpu: &Value) -> String {
    let mut parts: Vec<(String, f64)> = cpu
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| k.strip_suffix("_pct_of_core").map(|g| (g.to_owned(), f(v))))
                .collect()
        })
        .unwrap_or_default();
    parts.sort_by(|a, b| b.1.total_cmp(&a.1));
    let list: Vec<String> = parts.iter().map(|(g, v)| format!("{g} {v:.0}%")).collect();
    let m = &cpu["machine"];
    format!(
        "{} (of one core); machine {:.0}% busy: user {:.0}%, system {:.0}%, softirq {:.0}%, iowait {:.0}%, steal {:.0}%, outside these processes {:.0}%",
        list.join(", "),
        f(&cpu["machine_busy_pct"]),
        f(&m["user_pct"]) + f(&m["nice_pct"]),
        f(&m["system_pct"]),
        f(&m["softirq_pct"]) + f(&m["irq_pct"]),
        f(&m["iowait_pct"]),
        f(&m["steal_pct"]),
        f(&m["other_pct_of_machine"]),
    )
}

/// What the profile says about a delivery run, for a missed target.
fn profile(v: &Value) -> String {
    let cpu = &v["cpu"];
    let busy = f(&cpu["machine_busy_pct"]);
    let claims = &v["db"]["claims"];
    let mut s = format!(
        "CPU: {}. Claims: {} batches of {:.0} fires on average, {:.0} ms between claim starts (p50; p99 {:.0} ms), {:.0} ms from a claim to its batch's last ack (p50). ",
        cpu_line(cpu),
        claims["batches"],
        f(&claims["size"]["mean"]),
        f(&claims["ms_between_claim_starts"]["p50"]),
        f(&claims["ms_between_claim_starts"]["p99"]),
        f(&claims["ms_claim_to_last_ack_of_batch"]["p50"]),
    );
    if busy >= 90.0 {
        let top = cpu
            .as_object()
            .and_then(|m| {
                m.iter()
                    .filter(|(k, _)| k.ends_with("_pct_of_core"))
                    .max_by(|a, b| f(a.1).total_cmp(&f(b.1)))
                    .map(|(k, _)| k.trim_end_matches("_pct_of_core").to_owned())
            })
            .unwrap_or_default();
        let _ = write!(
            s,
            "The machine's CPUs are saturated; the largest consumer is {top}."
        );
    } else {
        let _ = write!(
            s,
            "The CPUs are not saturated: the time goes to waiting (round trips, the in-flight limit, the broker's acks)."
        );
    }
    s
}

pub fn summary(
    date: &str,
    info: &Value,
    results: &[(String, Value)],
    charts: &[(String, String)],
) -> String {
    let mut md = String::new();
    let pg = &info["postgres"];
    let _ = writeln!(md, "# Benchmark summary, {date}\n");
    let _ = writeln!(
        md,
        "`make bench{}` on {} CPUs; {}; fsync={}, synchronous_commit={}, shared_buffers={}. Runner batch size {}, {} partitions per topic. The whole run took {:.0} s.\n",
        if info["quick"].as_bool() == Some(true) { " ARGS=--quick" } else { "" },
        info["cpus"],
        pg["version"].as_str().unwrap_or("").split(" on ").next().unwrap_or(""),
        pg["fsync"].as_str().unwrap_or("?"),
        pg["synchronous_commit"].as_str().unwrap_or("?"),
        pg["shared_buffers"].as_str().unwrap_or("?"),
        info["runner_batch_size"],
        info["partitions"],
        f(&info["total_secs"]),
    );

    let ceiling = get(results, "ceiling");
    let claim_ceiling = ceiling.map(|c| {
        f(&c["claim_1_client"]["fires_per_sec"]).max(f(&c["claim_2_clients"]["fires_per_sec"]))
    });
    let get_ceiling = ceiling.map(|c| f(&c["get_by_id"]["tps"]));
    let insert_ceiling = ceiling.map(|c| f(&c["insert"]["tps"]));
    let ratio = |x: f64, c: Option<f64>| match c {
        Some(c) if c > 0.0 => pct(x / c),
        _ => "-".to_owned(),
    };

    // Targets.
    let mut rows: Vec<(String, String, String, Option<bool>, String)> = Vec::new();
    let mut missed: Vec<String> = Vec::new();
    let burst = |name: &str, target: f64, rows: &mut Vec<_>, missed: &mut Vec<String>| {
        if let Some(v) = get(results, name) {
            let fps = f(&v["fires_per_sec"]);
            let complete = v["distinct_fire_ids"] == v["fires"] && v["duplicates"] == 0;
            let ok = fps >= target && complete;
            rows.push((
                format!("{name} >= {} fires/s", num(target)),
                format!(
                    "{} fires/s ({} distinct of {}, {} duplicates)",
                    num(fps),
                    v["distinct_fire_ids"],
                    v["fires"],
                    v["duplicates"]
                ),
                ratio(fps, claim_ceiling),
                Some(ok),
                "claim".into(),
            ));
            if !ok {
                missed.push(format!(
                    "**{name}**: {} fires/s, {} below the target of {} ({}). {}",
                    num(fps),
                    pct(1.0 - fps / target),
                    num(target),
                    if complete {
                        "all fires arrived once"
                    } else {
                        "not every fire arrived exactly once"
                    },
                    profile(v)
                ));
            }
        }
    };
    burst("burst-kafka", 15_000.0, &mut rows, &mut missed);
    burst("burst-webhook", 8_000.0, &mut rows, &mut missed);
    let steady_p99 = get(results, "steady-2000").map(|v| f(&v["lag_ms"]["p99"]));
    for name in ["steady-2000", "scale-2000"] {
        if let Some(v) = get(results, name) {
            let p99 = f(&v["lag_ms"]["p99"]);
            let max = f(&v["lag_ms"]["max"]);
            let mut ok = p99 <= 100.0 && max <= 1000.0 && v["distinct_fire_ids"] == v["fires"];
            let mut note = String::new();
            if name.starts_with("scale") {
                if let Some(base) = steady_p99 {
                    let unchanged = p99 <= (base * 1.25).max(base + 10.0);
                    ok &= unchanged;
                    note = format!(" (steady-2000 p99 {base:.1} ms)");
                }
            }
            rows.push((
                format!(
                    "{name}: lag p99 <= 100 ms, max <= 1 s{}",
                    if name.starts_with("scale") {
                        ", unchanged by idle rows"
                    } else {
                        ""
                    }
                ),
                format!("p99 {p99:.1} ms, max {max:.1} ms{note}"),
                ratio(f(&v["rate_per_sec"]), claim_ceiling),
                Some(ok),
                "claim (offered load)".into(),
            ));
            if !ok {
                missed.push(format!(
                    "**{name}**: p99 {p99:.1} ms (target 100 ms), max {max:.1} ms (target 1,000 ms){note}. {}",
                    profile(v)
                ));
            }
        }
    }
    if let Some(r) = get(results, "retention") {
        let base = &r["without_backlog"];
        let with = &r["with_backlog"];
        let (p99_base, p99_with) = (f(&base["lag_ms"]["p99"]), f(&with["lag_ms"]["p99"]));
        let h = &with["history"];
        let ok = p99_with <= p99_base * 1.1
            && with["distinct_fire_ids"] == with["fires"]
            && with["duplicates"] == 0;
        rows.push((
            format!(
                "retention: steady {}/s over {} fires past retention, lag p99 within 10% of the run without",
                num(f(&r["rate_per_sec"])),
                num(f(&r["backlog"]))
            ),
            format!(
                "p99 {p99_with:.1} ms vs {p99_base:.1} ms; pruned {} ({}/s), {} left; fires {} -> {} MiB",
                num(f(&h["pruned"])),
                num(f(&h["pruned_per_sec"])),
                num(f(&h["backlog_left"])),
                f(&h["before"]["total_mib"]),
                f(&h["after"]["total_mib"]),
            ),
            "-".into(),
            Some(ok),
            "claim (offered load)".into(),
        ));
        if !ok {
            missed.push(format!(
                "**retention**: p99 {p99_with:.1} ms with the backlog vs {p99_base:.1} ms without. {}",
                profile(with)
            ));
        }
    }
    if let (Some(one), Some(two)) = (get(results, "sweep-1"), get(results, "sweep-2")) {
        let (r1, r2) = (f(&one["fires_per_sec"]), f(&two["fires_per_sec"]));
        let four = get(results, "sweep-4").map(|v| f(&v["fires_per_sec"]));
        let exact = [Some(one), Some(two), get(results, "sweep-4")]
            .into_iter()
            .flatten()
            .all(|v| v["distinct_fire_ids"] == v["fires"] && v["duplicates"] == 0);
        let ok = r2 >= r1 && exact;
        rows.push((
            "two runner processes on one burst >= one runner's rate (sweep 1 / 2 / 4 runners)"
                .into(),
            format!(
                "{} / {} / {} fires/s{}",
                num(r1),
                num(r2),
                four.map_or("-".to_owned(), num),
                if exact {
                    ", every fire once"
                } else {
                    ", NOT every fire exactly once"
                }
            ),
            ratio(r2, claim_ceiling),
            Some(ok),
            "claim".into(),
        ));
        if !ok {
            missed.push(format!(
                "**two runners**: {} fires/s against {} with one. {}",
                num(r2),
                num(r1),
                profile(two)
            ));
        }
    }
    if let Some(v) = get(results, "window") {
        let w = &v["window"];
        let burst_peak = get(results, "burst-kafka")
            .and_then(|b| b["delivered_per_sec"].as_array())
            .map(|a| a.iter().map(f).fold(0.0, f64::max));
        // Flat: no second inside the window above twice the uniform rate, nothing delivered
        // before its planned instant, every planned instant inside the window, all once.
        let ok = f(&w["per_sec_max"]) <= 2.0 * f(&w["expected_per_sec"])
            && w["before_planned"] == 0
            && w["planned_before_slot"] == 0
            && w["planned_past_window"] == 0
            && v["distinct_fire_ids"] == v["fires"]
            && v["duplicates"] == 0;
        rows.push((
            format!(
                "window: {} fires due at once, {}-minute flexible window, delivered flat",
                num(f(&v["fires"])),
                w["window_minutes"]
            ),
            format!(
                "{} fires/s mean (uniform {}), min {} max {} per second, CV {}; {} before their planned instant; lag from it p99 {:.1} ms{}",
                num(f(&w["per_sec_mean"])),
                num(f(&w["expected_per_sec"])),
                num(f(&w["per_sec_min"])),
                num(f(&w["per_sec_max"])),
                f(&w["per_sec_cv"]),
                w["before_planned"],
                f(&v["lag_ms"]["p99"]),
                burst_peak.map_or(String::new(), |p| format!(
                    "; without a window the same instant peaks at {} fires/s (burst-kafka)",
                    num(p)
                )),
            ),
            "-".into(),
            Some(ok),
            "-".into(),
        ));
        if !ok {
            missed.push(format!("**window**: {w}"));
        }
    }
    if let Some(api) = get(results, "api") {
        for (call, c, what) in [
            ("get_by_id", get_ceiling, "select"),
            ("create", insert_ceiling, "insert"),
        ] {
            let rps = f(&api[call]["requests_per_sec"]);
            let r = c.map(|c| rps / c.max(1e-9));
            let ok = r.map(|r| r >= 0.5);
            rows.push((
                format!("API {call} >= 50% of pgbench's {what}"),
                format!("{} req/s", num(rps)),
                ratio(rps, c),
                ok,
                what.into(),
            ));
            if ok == Some(false) {
                missed.push(format!(
                    "**API {call}**: {} req/s is {} of pgbench's {what} ({} tps), {} short of 50%. CPU: {}.",
                    num(rps),
                    pct(r.unwrap_or(0.0)),
                    num(c.unwrap_or(0.0)),
                    pct(0.5 - r.unwrap_or(0.0)),
                    cpu_line(&api[call]["cpu"])
                ));
            }
        }
    }
    for name in ["burst-kafka", "burst-webhook"] {
        if let Some(v) = get(results, name) {
            let rss = f(&v["runner_vmhwm_mib"]);
            let ok = rss <= 100.0 && rss > 0.0;
            rows.push((
                format!("runner RSS <= 100 MiB ({name})"),
                format!("{rss:.1} MiB peak (VmHWM)"),
                "-".into(),
                Some(ok),
                "-".into(),
            ));
            if !ok {
                missed.push(format!(
                    "**runner RSS ({name})**: {rss:.1} MiB peak, {:.1} MiB over 100 MiB.",
                    rss - 100.0
                ));
            }
        }
    }
    let _ = writeln!(md, "## Targets\n");
    let _ = writeln!(
        md,
        "| target | measured | ratio of ceiling | ceiling | met |"
    );
    let _ = writeln!(md, "| --- | --- | --- | --- | --- |");
    for (t, m, r, ok, c) in &rows {
        let ok = match ok {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "-",
        };
        let _ = writeln!(md, "| {t} | {m} | {r} | {c} | {ok} |");
    }
    if !missed.is_empty() {
        let _ = writeln!(md, "\n### Missed, and what the profile shows\n");
        for m in &missed {
            let _ = writeln!(md, "- {m}");
        }
    }

    // Deliveries.
    let d: Vec<&(String, Value)> = deliveries(results).collect();
    if !d.is_empty() {
        let _ = writeln!(md, "\n## Deliveries\n");
        let _ = writeln!(md, "Lag is receive time at the consumer (or receiver) minus the planned delivery: `scheduled_for`, or `deliver_at` for a fire with a flexible window. Fires/s: bursts, fires over the time from the due instant to the last acknowledgement; steady runs, fires over the window.\n");
        let _ = writeln!(md, "| run | fires | fires/s | ratio of claim ceiling | lag p50 | p99 | max | duplicates | runner peak RSS | CPU |");
        let _ = writeln!(
            md,
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
        );
        for (n, v) in &d {
            let fps = f(&v["fires_per_sec"]);
            let _ = writeln!(
                md,
                "| {n} | {} | {} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {} | {:.1} MiB | {} |",
                num(f(&v["fires"])),
                num(fps),
                ratio(fps, claim_ceiling),
                f(&v["lag_ms"]["p50"]),
                f(&v["lag_ms"]["p99"]),
                f(&v["lag_ms"]["max"]),
                v["duplicates"],
                f(&v["runner_vmhwm_mib"]),
                cpu_line(&v["cpu"]),
            );
        }
        let _ = writeln!(
            md,
            "\nClaim batches (from the fires table: one claim's fires share its `created_at`):\n"
        );
        let _ = writeln!(md, "| run | batches | mean size | ms between claims p50 / p99 / max | ms claim to batch's last ack p50 / max |");
        let _ = writeln!(md, "| --- | --- | --- | --- | --- |");
        for (n, v) in &d {
            let c = &v["db"]["claims"];
            let g = &c["ms_between_claim_starts"];
            let t = &c["ms_claim_to_last_ack_of_batch"];
            let _ = writeln!(
                md,
                "| {n} | {} | {:.0} | {:.0} / {:.0} / {:.0} | {:.0} / {:.0} |",
                c["batches"],
                f(&c["size"]["mean"]),
                f(&g["p50"]),
                f(&g["p99"]),
                f(&g["max"]),
                f(&t["p50"]),
                f(&t["max"]),
            );
        }
    }
    if let Some(api) = get(results, "api") {
        let _ = writeln!(
            md,
            "\n## API\n\n{} concurrent clients for {} s per call, over HTTP/1.1 on loopback (the load generator shares the machine). Service peak RSS {:.1} MiB.\n",
            api["concurrency"], api["seconds_each"], f(&api["service_vmhwm_mib"])
        );
        let _ = writeln!(
            md,
            "| call | requests/s | p50 | p99 | errors | ratio of ceiling | CPU |"
        );
        let _ = writeln!(md, "| --- | --- | --- | --- | --- | --- | --- |");
        for (call, c) in [
            ("get_by_id", get_ceiling),
            ("list", get_ceiling),
            ("create", insert_ceiling),
        ] {
            let v = &api[call];
            let rps = f(&v["requests_per_sec"]);
            let _ = writeln!(
                md,
                "| {call} | {} | {:.1} ms | {:.1} ms | {} | {}{} | {} |",
                num(rps),
                f(&v["latency_ms"]["p50"]),
                f(&v["latency_ms"]["p99"]),
                v["errors"],
                ratio(rps, c),
                if call == "list" {
                    " (of get's select)"
                } else {
                    ""
                },
                cpu_line(&v["cpu"]),
            );
        }
    }
    if let Some(c) = ceiling {
        let _ = writeln!(
            md,
            "\n## Ceilings (pgbench, same Postgres, prepared statements)\n"
        );
        let _ = writeln!(
            md,
            "| statement | clients | tps | per second | latency avg |"
        );
        let _ = writeln!(md, "| --- | --- | --- | --- | --- |");
        for (label, k, unit) in [
            (
                "claim (one statement: lock, insert fires, advance)",
                "claim_1_client",
                "fires",
            ),
            ("claim", "claim_2_clients", "fires"),
            (
                "lean claim (lean schema: lock, insert a narrow fire, advance; nothing else)",
                "claim_lean_1_client",
                "fires",
            ),
            ("lean claim", "claim_lean_2_clients", "fires"),
            ("get-by-id select", "get_by_id", "rows"),
            ("create's insert", "insert", "rows"),
        ] {
            let v = &c[k];
            let per = if unit == "fires" {
                f(&v["fires_per_sec"])
            } else {
                f(&v["tps"])
            };
            let _ = writeln!(
                md,
                "| {label} | {} | {} | {} {unit} | {:.2} ms |",
                v["clients"],
                num(f(&v["tps"])),
                num(per),
                f(&v["latency_avg_ms"]),
            );
        }
    }
    if !charts.is_empty() {
        let _ = writeln!(md, "\n## Charts\n");
        for (t, file) in charts {
            let _ = writeln!(md, "![{t}]({file})\n");
        }
    }
    md
}
