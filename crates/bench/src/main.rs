//! `scheduler-bench` (run by `make bench`, scripts/bench.sh): fire throughput and lag (burst,
//! steady, steady with a million idle schedulers), API throughput, and pgbench ceilings on the
//! same Postgres, against the release `scheduler` binary run as subprocesses. Writes
//! `bench/results/<date>-<name>.json`, `<date>-summary.md` and PNG charts.

mod chart;
mod db;
mod pgbench;
mod procs;
mod report;
mod sink;
mod stats;

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use serde_json::{json, Value};
use sqlx::PgPool;

use procs::{cpu_snapshot, cpu_split, free_port, status_mib, Proc};
use sink::{Collector, KafkaSink, Receiver, Tansu};
use stats::{round1, Summary};

#[derive(Parser, Debug)]
#[command(about = "Benchmarks of the scheduler service (see `make bench`)")]
struct Args {
    /// The release `scheduler` binary.
    #[arg(long, env = "SCHEDULER_BIN")]
    scheduler_bin: PathBuf,
    /// The tansu broker binary.
    #[arg(long, env = "TANSU_BIN")]
    tansu_bin: PathBuf,
    #[arg(long, env = "PGBENCH_BIN")]
    pgbench_bin: PathBuf,
    /// A Postgres server; the bench creates a fresh database `bench_<time>` on it.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
    #[arg(
        long,
        default_value = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    )]
    font: PathBuf,
    /// The developer loop (under 3 minutes): ceilings, API, bursts and steady runs only, with a
    /// fifth of the fires, 10 s steady windows, 5 s API and 3 s pgbench runs. With `--only`,
    /// any part at the quick sizes (200,000 idle schedulers, a 1,000,000-fire backlog, 20,000
    /// fires in a 2-minute window). The defaults are the issues' sizes.
    #[arg(long)]
    quick: bool,
    /// Which parts to run (default: all of ceiling, api, burst, sweep, steady, scale,
    /// retention, window; with --quick: ceiling, api, burst, steady).
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// Partitions of each bench topic.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Keep the bench database afterwards (it is dropped at the next run).
    #[arg(long)]
    keep_db: bool,
}

struct Sizes {
    burst: u64,
    steady_secs: u64,
    rates: [u64; 2],
    idle: u64,
    api_secs: u64,
    api_rows: u64,
    api_concurrency: usize,
    pgbench_secs: u64,
    claim_rows: u64,
    /// Finished fires past retention in the history when the retention run starts.
    backlog: u64,
    /// One-shots due at the same instant with a flexible time window of `window_minutes`.
    window_fires: u64,
    window_minutes: u32,
}

impl Sizes {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                burst: 20_000,
                steady_secs: 10,
                rates: [2_000, 5_000],
                idle: 200_000,
                api_secs: 5,
                api_rows: 10_000,
                api_concurrency: 64,
                pgbench_secs: 3,
                claim_rows: 50_000,
                backlog: 1_000_000,
                window_fires: 20_000,
                window_minutes: 2,
            }
        } else {
            Self {
                burst: 100_000,
                steady_secs: 60,
                rates: [2_000, 5_000],
                idle: 1_000_000,
                api_secs: 30,
                api_rows: 10_000,
                api_concurrency: 64,
                pgbench_secs: 15,
                claim_rows: 100_000,
                backlog: 10_000_000,
                window_fires: 100_000,
                window_minutes: 15,
            }
        }
    }
}

struct Ctx {
    args: Args,
    sizes: Sizes,
    pool: PgPool,
    db_url: String,
    logs: PathBuf,
    tansu: Tansu,
    hook: Receiver,
    ticks: f64,
    http: reqwest::Client,
    token: String,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let sizes = Sizes::new(args.quick);
    let logs = pgbench::logs_dir(&args.out);
    std::fs::create_dir_all(&logs)?;
    let date = chrono::Utc::now().format("%Y-%m-%d").to_string();

    let db_url = db::fresh_database(&args.database_url, false).await?;
    eprintln!("bench: database {db_url}; logs in {}", logs.display());
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&db_url)
        .await?;
    scheduler(&args, &db_url, &["migrate"])?;
    for u in db::USERS {
        scheduler(
            &args,
            &db_url,
            &["admin", "user", "create", "--org", db::ORG, "--user", u],
        )?;
    }
    let token = scheduler(
        &args,
        &db_url,
        &["admin", "token", "create", "--org", db::ORG],
    )?
    .lines()
    .last()
    .unwrap_or_default()
    .trim()
    .to_owned();
    let tansu = Tansu::start(&args.tansu_bin, &logs).await?;
    let hook = Receiver::start().await?;
    let ctx = Ctx {
        pool,
        db_url,
        logs,
        tansu,
        hook,
        ticks: procs::ticks_per_sec(),
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(30))
            .build()?,
        token,
        sizes,
        args,
    };

    let mut results: Vec<(String, Value)> = Vec::new();
    let parts: Vec<String> = ctx.args.only.clone().unwrap_or_else(|| {
        let all = if ctx.args.quick {
            "ceiling,api,burst,steady"
        } else {
            "ceiling,api,burst,sweep,steady,scale,retention,window"
        };
        all.split(',').map(str::to_owned).collect()
    });
    let want = |p: &str| parts.iter().any(|o| o == p);
    let s = &ctx.sizes;
    if want("ceiling") {
        results.push(("ceiling".into(), run_ceiling(&ctx).await?));
    }
    if want("api") {
        results.push(("api".into(), run_api(&ctx).await?));
    }
    if want("burst") {
        results.push((
            "burst-kafka".into(),
            run_delivery(&ctx, Load::burst("burst-kafka", true, s.burst)).await?,
        ));
        results.push((
            "burst-webhook".into(),
            run_delivery(&ctx, Load::burst("burst-webhook", false, s.burst)).await?,
        ));
    }
    if want("sweep") {
        // The same Kafka burst through 1, 2 and 4 runner processes, back to back.
        for runners in [1, 2, 4] {
            let name = format!("sweep-{runners}");
            let load = Load {
                runners,
                ..Load::burst(&name, true, s.burst)
            };
            results.push((name.clone(), run_delivery(&ctx, load).await?));
        }
    }
    if want("steady") {
        for rate in s.rates {
            let name = format!("steady-{rate}");
            let r = run_delivery(&ctx, Load::steady(&name, rate, s.steady_secs)).await?;
            results.push((name, r));
        }
    }
    if want("scale") {
        eprintln!("bench: scale: storing {} idle schedulers", s.idle);
        let t = Instant::now();
        db::insert_recurring(
            &ctx.pool,
            "idle",
            db::IDLE_BASE,
            s.idle,
            "2100-01-01T00:00:00Z",
            1,
        )
        .await?;
        db::vacuum(&ctx.pool).await?;
        let setup = t.elapsed().as_secs_f64();
        let rate = s.rates[0];
        let name = format!("scale-{rate}");
        let mut r = run_delivery(&ctx, Load::steady(&name, rate, s.steady_secs)).await?;
        r["idle_schedulers"] = json!(s.idle);
        r["idle_insert_and_vacuum_secs"] = json!(round1(setup));
        results.push((name, r));
    }

    if want("retention") {
        results.push(("retention".into(), run_retention(&ctx).await?));
    }
    if want("window") {
        results.push(("window".into(), run_window(&ctx).await?));
    }

    let info = json!({
        "date": date,
        "quick": ctx.args.quick,
        "postgres": db::server_info(&ctx.pool).await?,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "runner_batch_size": batch_size(),
        "partitions": ctx.args.partitions,
        "total_secs": round1(started.elapsed().as_secs_f64()),
    });
    for (name, v) in &results {
        let mut v = v.clone();
        v["run"] = info.clone();
        let path = ctx.args.out.join(format!("{date}-{name}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&v)? + "\n")?;
        eprintln!("bench: wrote {}", path.display());
    }
    let charts = if chart::register_font(&ctx.args.font) {
        report::charts(&ctx.args.out, &date, &results)?
    } else {
        Vec::new()
    };
    let summary = report::summary(&date, &info, &results, &charts);
    let path = ctx.args.out.join(format!("{date}-summary.md"));
    std::fs::write(&path, &summary)?;
    eprintln!("bench: wrote {}", path.display());
    println!("{summary}");

    let Ctx {
        pool,
        db_url,
        tansu,
        args,
        ..
    } = ctx;
    pool.close().await;
    tansu.proc.stop(Duration::from_secs(5)).await;
    if !args.keep_db {
        db::drop_database(&args.database_url, &db_url).await?;
    }
    eprintln!("bench: done in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn batch_size() -> u32 {
    std::env::var("RUNNER_BATCH_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500)
}

/// Runs `scheduler <args>` against `db_url` and returns its stdout.
fn scheduler(args: &Args, db_url: &str, a: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(&args.scheduler_bin)
        .args(a)
        .env("DATABASE_URL", db_url)
        .env("RUST_LOG", "warn")
        .output()
        .with_context(|| format!("cannot run {}", args.scheduler_bin.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "scheduler {a:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Ctx {
    /// `scheduler serve --role <role>` on a free port, once `/healthz` answers.
    async fn serve(&self, role: &str, tag: &str) -> anyhow::Result<(Proc, u16)> {
        let port = free_port()?;
        let mut cmd = Command::new(&self.args.scheduler_bin);
        cmd.args(["serve", "--role", role])
            .env("DATABASE_URL", &self.db_url)
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("KAFKA_BROKERS", &self.tansu.brokers)
            .env("WEBHOOK_ALLOW_PRIVATE", "true")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "warn");
        let p = Proc::spawn(cmd, &format!("{role}-{tag}"), &self.logs)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = self
                .http
                .get(format!("http://127.0.0.1:{port}/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return Ok((p, port));
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "scheduler serve --role {role} did not answer /healthz (see {}/{role}-{tag}.log)",
                self.logs.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The `scheduler_fire_*` sums and counts of a process's /metrics.
    async fn fire_metrics(&self, port: u16) -> Value {
        let Ok(r) = self
            .http
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await
        else {
            return Value::Null;
        };
        let text = r.text().await.unwrap_or_default();
        let mut m = serde_json::Map::new();
        for l in text.lines() {
            if l.starts_with("scheduler_fire") && (l.contains("_sum") || l.contains("_count")) {
                if let Some((k, v)) = l.rsplit_once(' ') {
                    m.insert(k.to_owned(), json!(v.parse::<f64>().unwrap_or(0.0)));
                }
            }
        }
        Value::Object(m)
    }
}

/// One delivery run through a fresh runner process: `fires` one-shots due at once (`rate` 0)
/// or `rate` a second, with a flexible window of `window_minutes` (0: none), to Kafka or the
/// webhook receiver, over a history holding `backlog` finished fires past retention.
struct Load<'a> {
    name: &'a str,
    kafka: bool,
    fires: u64,
    rate: u64,
    backlog: u64,
    window_minutes: u32,
    /// Runner processes sharing the load.
    runners: usize,
}

impl<'a> Load<'a> {
    fn burst(name: &'a str, kafka: bool, fires: u64) -> Self {
        Self {
            name,
            kafka,
            fires,
            rate: 0,
            backlog: 0,
            window_minutes: 0,
            runners: 1,
        }
    }

    fn steady(name: &'a str, rate: u64, secs: u64) -> Self {
        Self {
            name,
            kafka: true,
            fires: rate * secs,
            rate,
            backlog: 0,
            window_minutes: 0,
            runners: 1,
        }
    }
}

async fn run_delivery(ctx: &Ctx, load: Load<'_>) -> anyhow::Result<Value> {
    let Load {
        name,
        kafka,
        fires: n,
        rate,
        backlog,
        window_minutes,
        runners,
    } = load;
    eprintln!(
        "bench: {name}: {n} fires{}",
        if rate > 0 {
            format!(", {rate}/s")
        } else {
            " due at once".into()
        }
    );
    db::reset_load(&ctx.pool).await?;
    let history_before = if backlog > 0 {
        eprintln!("bench: {name}: storing {backlog} finished fires past retention");
        let t = Instant::now();
        db::insert_finished_backlog(&ctx.pool, backlog).await?;
        db::vacuum(&ctx.pool).await?;
        let mut h = db::history_size(&ctx.pool).await?;
        h["insert_and_vacuum_secs"] = json!(round1(t.elapsed().as_secs_f64()));
        h
    } else {
        db::history_size(&ctx.pool).await?
    };
    let mut kafka_sink = None;
    let (got, job): (Collector, Value) = if kafka {
        let topic = format!("bench-{name}");
        ctx.tansu.create_topic(&topic, ctx.args.partitions).await?;
        let s = KafkaSink::start(&ctx.tansu.brokers, &topic, ctx.args.partitions)?;
        let got = s.got.clone();
        kafka_sink = Some(s);
        (
            got,
            json!({"type": "kafka", "topic": topic, "data": {"bench": name}}),
        )
    } else {
        ctx.hook.got.take();
        (
            ctx.hook.got.clone(),
            json!({"type": "webhook", "url": ctx.hook.url(), "data": {"bench": name}}),
        )
    };
    let mut procs = Vec::with_capacity(runners);
    for k in 0..runners.max(1) {
        procs.push(ctx.serve("runner", &format!("{name}-{k}")).await?);
    }
    let port = procs[0].1;

    // The fires fall due a little after the insert is done.
    let lead_ms = 3_000 + (n as i64) / 25;
    let t0 = chrono::Utc::now() + chrono::TimeDelta::milliseconds(lead_ms);
    let t0 = chrono::DateTime::from_timestamp(t0.timestamp() + 1, 0).unwrap_or(t0);
    let t0_ms = t0.timestamp_millis() as f64;
    let inserted_from = chrono::Utc::now();
    let ins = Instant::now();
    db::insert_one_shots(&ctx.pool, n, t0, rate, window_minutes, &job).await?;
    let insert_secs = ins.elapsed().as_secs_f64();
    let wait = t0_ms - sink::now_ms();
    let inserted_before_due = wait > 0.0;
    if !inserted_before_due {
        eprintln!(
            "bench: {name}: the insert ended {:.0} ms after the due instant",
            -wait
        );
    } else {
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }
    let mut named: Vec<(&str, u32)> = procs.iter().map(|(p, _)| ("runner", p.pid())).collect();
    named.push(("broker", ctx.tansu.proc.pid()));
    let cpu0 = cpu_snapshot(&named);
    let cpu_started = Instant::now();

    let span = n.checked_div(rate).unwrap_or(0) + u64::from(window_minutes) * 60;
    let deadline = Instant::now() + Duration::from_secs(span + 240);
    let mut last = (0, Instant::now());
    let mut rss_max: f64 = 0.0;
    loop {
        let len = got.len();
        if len as u64 >= n {
            break;
        }
        if len != last.0 {
            last = (len, Instant::now());
        }
        if last.1.elapsed() > Duration::from_secs(30) || Instant::now() > deadline {
            eprintln!("bench: {name}: stopped waiting with {len} of {n} received");
            break;
        }
        for (p, _) in &procs {
            rss_max = rss_max.max(status_mib(p.pid(), "VmRSS").unwrap_or(0.0));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cpu1 = cpu_snapshot(&named);
    let run_secs = cpu_started.elapsed().as_secs_f64();
    let history_after = db::history_size(&ctx.pool).await?;
    // Let late duplicates arrive and the last outcomes be written.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let hwm = procs
        .iter()
        .filter_map(|(p, _)| status_mib(p.pid(), "VmHWM"))
        .reduce(f64::max);
    let metrics = ctx.fire_metrics(port).await;
    for (p, _) in procs {
        p.stop(Duration::from_secs(30)).await;
    }
    drop(kafka_sink);
    let recs = got.take();
    let (fires, last_ack_ms) = db::fire_report(&ctx.pool, inserted_from).await?;

    let distinct: HashSet<&str> = recs.iter().map(|g| g.fire_id.as_str()).collect();
    // Lag from the planned delivery: the slot, or its instant in the flexible window.
    let mut lags: Vec<f64> = recs.iter().map(|g| g.received_ms - g.deliver_ms).collect();
    let lag = Summary::of(&mut lags);
    let last_rx = recs.iter().map(|g| g.received_ms).fold(f64::MIN, f64::max);
    let delivered_per_sec = stats::per_second(recs.iter().map(|g| g.received_ms), t0_ms);
    // Per second of the schedule (by scheduled_for): lag percentiles.
    let mut by_sec: Vec<Vec<f64>> = Vec::new();
    for g in &recs {
        let i = ((g.scheduled_ms - t0_ms) / 1000.0).floor().max(0.0) as usize;
        if by_sec.len() <= i {
            by_sec.resize(i + 1, Vec::new());
        }
        by_sec[i].push(g.received_ms - g.deliver_ms);
    }
    let lag_per_sec: Vec<Value> = by_sec
        .iter_mut()
        .enumerate()
        .map(|(i, v)| {
            let s = Summary::of(v);
            json!({"second": i, "n": s.n, "p50": round1(s.p50), "p99": round1(s.p99), "max": round1(s.max)})
        })
        .collect();
    let ack_secs = last_ack_ms.map(|a| (a - t0_ms) / 1000.0);
    let fires_per_sec = if rate == 0 {
        ack_secs.map(|s| round1(n as f64 / s.max(0.001)))
    } else {
        // Steady: what came out, over the window it was offered in plus the drain.
        ack_secs.map(|s| round1(distinct.len() as f64 / s.max(span as f64)))
    };
    let lag_cdf = stats::cdf(&lags, 100)
        .into_iter()
        .map(|(x, y)| json!([round1(x), y]))
        .collect::<Vec<_>>();
    Ok(json!({
        "name": name,
        "target": if kafka { "kafka" } else { "webhook" },
        "fires": n,
        "rate_per_sec": rate,
        "window_minutes": window_minutes,
        "runners": runners,
        "received": recs.len(),
        "distinct_fire_ids": distinct.len(),
        "duplicates": recs.len() - distinct.len(),
        "due_at": t0.to_rfc3339(),
        "insert_secs": round1(insert_secs),
        "inserted_before_due": inserted_before_due,
        "lag_ms": lag.json(),
        "fires_per_sec": fires_per_sec,
        "secs_due_to_last_ack": ack_secs.map(round1),
        "secs_due_to_last_receive": round1((last_rx - t0_ms) / 1000.0),
        "runner_vmhwm_mib": hwm.map(round1),
        "runner_vmrss_max_sampled_mib": round1(rss_max),
        "cpu": cpu_split(&cpu0, &cpu1, ctx.ticks),
        "db": fires,
        "runner_metrics": metrics,
        "delivered_per_sec": delivered_per_sec,
        "lag_per_sec": lag_per_sec,
        "lag_cdf_ms_pct": lag_cdf,
        "history": retention_report(backlog, &history_before, &history_after, run_secs),
        "window": (window_minutes > 0).then(|| window_report(&recs, t0_ms, window_minutes)),
    }))
}

/// How a flexible window spread one instant's fires: deliveries per second inside the window
/// (mean, min, max, coefficient of variation; the first and last seconds are partial and left
/// out), fires received before their planned instant or after the window's end, and how the
/// planned instants themselves spread (per minute, against the uniform expectation).
fn window_report(recs: &[sink::Got], t0_ms: f64, window_minutes: u32) -> Value {
    let window_ms = f64::from(window_minutes) * 60_000.0;
    let secs = (window_ms / 1000.0) as usize;
    let mut per_sec = stats::per_second(recs.iter().map(|g| g.received_ms), t0_ms);
    per_sec.resize(per_sec.len().max(secs + 1), 0);
    let inner: Vec<f64> = per_sec[1..secs - 1].iter().map(|&c| c as f64).collect();
    let mean = inner.iter().sum::<f64>() / inner.len().max(1) as f64;
    let var = inner.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / inner.len().max(1) as f64;
    let mut planned_per_min = vec![0u64; window_minutes as usize];
    for g in recs {
        let m = ((g.deliver_ms - g.scheduled_ms) / 60_000.0)
            .floor()
            .max(0.0) as usize;
        if let Some(c) = planned_per_min.get_mut(m) {
            *c += 1;
        }
    }
    let expected_per_min = recs.len() as f64 / f64::from(window_minutes);
    let worst_minute = planned_per_min
        .iter()
        .map(|&c| (c as f64 - expected_per_min).abs() / expected_per_min.max(1.0))
        .fold(0.0, f64::max);
    json!({
        "window_minutes": window_minutes,
        "expected_per_sec": round1(recs.len() as f64 / (window_ms / 1000.0)),
        "per_sec_mean": round1(mean),
        "per_sec_min": inner.iter().copied().fold(f64::INFINITY, f64::min),
        "per_sec_max": inner.iter().copied().fold(0.0, f64::max),
        "per_sec_cv": round1(var.sqrt() / mean.max(1e-9) * 100.0) / 100.0,
        "before_planned": recs.iter().filter(|g| g.received_ms < g.deliver_ms).count(),
        "planned_before_slot": recs.iter().filter(|g| g.deliver_ms < g.scheduled_ms).count(),
        "planned_past_window": recs.iter().filter(|g| g.deliver_ms >= g.scheduled_ms + window_ms).count(),
        "received_past_window_secs": round1(
            (recs.iter().map(|g| g.received_ms).fold(f64::MIN, f64::max) - t0_ms - window_ms) / 1000.0
        ),
        "planned_per_minute": planned_per_min,
        "planned_worst_minute_deviation": round1(worst_minute * 1000.0) / 1000.0,
    })
}

/// The history's size before and after a run and, with a backlog, how much of it the runner
/// pruned meanwhile and at what rate.
fn retention_report(backlog: u64, before: &Value, after: &Value, secs: f64) -> Value {
    let left = after["past_retention"].as_i64().unwrap_or(0);
    let pruned = before["past_retention"].as_i64().unwrap_or(0) - left;
    json!({
        "backlog": backlog,
        "before": before,
        "after": after,
        "pruned": pruned,
        "pruned_per_sec": round1(pruned as f64 / secs.max(0.001)),
        "backlog_left": left,
    })
}

/// Steady 2,000 fires/s twice: on an empty history, then with `backlog` finished fires past
/// their retention that the runner prunes meanwhile. Reports both lags, how much of the
/// backlog went (and at what rate), and the size of `fires` with its indexes before and after.
async fn run_retention(ctx: &Ctx) -> anyhow::Result<Value> {
    let s = &ctx.sizes;
    let rate = s.rates[0];
    let n = rate * s.steady_secs;
    let load = |name, backlog| Load {
        name,
        kafka: true,
        fires: n,
        rate,
        backlog,
        window_minutes: 0,
        runners: 1,
    };
    let base = run_delivery(ctx, load("retention-base", 0)).await?;
    let with = run_delivery(ctx, load("retention-backlog", s.backlog)).await?;
    Ok(json!({
        "name": "retention",
        "backlog": s.backlog,
        "rate_per_sec": rate,
        "without_backlog": base,
        "with_backlog": with,
    }))
}

/// `window_fires` one-shots all due at the same instant with a flexible window of
/// `window_minutes`: the herd the window is for. Delivered to Kafka; the report shows the
/// per-second rate over the window (flat, no burst at the slot).
async fn run_window(ctx: &Ctx) -> anyhow::Result<Value> {
    let s = &ctx.sizes;
    run_delivery(
        ctx,
        Load {
            name: "window",
            kafka: true,
            fires: s.window_fires,
            rate: 0,
            backlog: 0,
            window_minutes: s.window_minutes,
            runners: 1,
        },
    )
    .await
}

/// pgbench with the runner's claim, the API's get-by-id and a create's insert.
async fn run_ceiling(ctx: &Ctx) -> anyhow::Result<Value> {
    let s = &ctx.sizes;
    let pg = pgbench::Pgbench {
        bin: ctx.args.pgbench_bin.clone(),
        url: ctx.db_url.clone(),
        logs: ctx.logs.clone(),
    };
    let batch = batch_size();
    eprintln!(
        "bench: ceiling: {} due schedulers for the claim",
        s.claim_rows
    );
    db::reset_load(&ctx.pool).await?;
    db::insert_recurring(
        &ctx.pool,
        "pgbench",
        db::PGBENCH_BASE,
        s.claim_rows,
        "2000-01-01T00:00:00Z",
        1,
    )
    .await?;
    db::vacuum(&ctx.pool).await?;
    let script = pgbench::claim_script(batch);
    let mut claim1 = pg.run("claim-c1", &script, 1, s.pgbench_secs).await?;
    let mut claim2 = pg.run("claim-c2", &script, 2, s.pgbench_secs).await?;
    sqlx::raw_sql(pgbench::LEAN_SCHEMA)
        .execute(&ctx.pool)
        .await?;
    sqlx::raw_sql(&pgbench::lean_fill(s.claim_rows))
        .execute(&ctx.pool)
        .await?;
    sqlx::raw_sql("VACUUM ANALYZE lean_due")
        .execute(&ctx.pool)
        .await?;
    let lean = pgbench::lean_claim_script(batch);
    let mut lean1 = pg.run("claim-lean-c1", &lean, 1, s.pgbench_secs).await?;
    let mut lean2 = pg.run("claim-lean-c2", &lean, 2, s.pgbench_secs).await?;
    sqlx::raw_sql("DROP TABLE lean_due, lean_fires")
        .execute(&ctx.pool)
        .await?;
    for c in [&mut claim1, &mut claim2, &mut lean1, &mut lean2] {
        c["fires_per_sec"] = json!(round1(c["tps"].as_f64().unwrap_or(0.0) * f64::from(batch)));
    }
    db::reset_load(&ctx.pool).await?;
    db::ensure_api_rows(&ctx.pool, s.api_rows).await?;
    let get = pg
        .run("get", &pgbench::get_script(s.api_rows), 16, s.pgbench_secs)
        .await?;
    let insert = pg
        .run("insert", &pgbench::insert_script(), 16, s.pgbench_secs)
        .await?;
    db::reset_load(&ctx.pool).await?;
    Ok(json!({
        "name": "ceiling",
        "batch_size": batch,
        "claim_rows": s.claim_rows,
        "claim_1_client": claim1,
        "claim_2_clients": claim2,
        "claim_lean_1_client": lean1,
        "claim_lean_2_clients": lean2,
        "get_by_id": get,
        "insert": insert,
    }))
}

#[derive(Clone, Copy)]
enum Call {
    Get,
    List,
    Create,
}

/// Fixed concurrency against `scheduler serve --role api` for each of get, list, create.
async fn run_api(ctx: &Ctx) -> anyhow::Result<Value> {
    let s = &ctx.sizes;
    db::ensure_api_rows(&ctx.pool, s.api_rows).await?;
    let (api, port) = ctx.serve("api", "api").await?;
    let base = format!(
        "http://127.0.0.1:{port}/3rd/organization/{}/users/api/schedulers",
        db::ORG
    );
    let mut out = serde_json::Map::new();
    for (name, call) in [
        ("get_by_id", Call::Get),
        ("list", Call::List),
        ("create", Call::Create),
    ] {
        eprintln!(
            "bench: api {name}: {} concurrent for {} s",
            s.api_concurrency, s.api_secs
        );
        let named = [("service", api.pid())];
        let cpu0 = cpu_snapshot(&named);
        let t = Instant::now();
        let stop_at = t + Duration::from_secs(s.api_secs);
        let mut tasks = Vec::new();
        for w in 0..s.api_concurrency {
            let http = ctx.http.clone();
            let base = base.clone();
            let token = ctx.token.clone();
            let rows = s.api_rows;
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0u64;
                let mut i: u64 = w as u64;
                while Instant::now() < stop_at {
                    i += 1;
                    let req = match call {
                        Call::Get => {
                            let n = (i.wrapping_mul(2_654_435_761) % rows) + 1;
                            http.get(format!("{base}/{:024x}", db::API_BASE as u64 + n))
                        }
                        Call::List => http.get(format!("{base}?limit=10")),
                        Call::Create => http
                            .post(&base)
                            .header("content-type", "application/json")
                            .body(
                                json!({
                                    "type": "non_recurring", "name": format!("bench create {w}-{i}"),
                                    "event_type": "bench", "start_datetime": "2100-01-01T00:00:00.000Z",
                                    "job": {"type": "kafka", "topic": "bench-api", "data": {"n": i}}
                                })
                                .to_string(),
                            ),
                    };
                    let t = Instant::now();
                    let ok = match req.header("x-access-token", &token).send().await {
                        Ok(r) => {
                            let good = r.status().is_success();
                            good && r.bytes().await.is_ok()
                        }
                        Err(_) => false,
                    };
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    if !ok {
                        errors += 1;
                    }
                }
                (lat, errors)
            }));
        }
        let mut lat = Vec::new();
        let mut errors = 0;
        for t in tasks {
            let (l, e) = t.await?;
            lat.extend(l);
            errors += e;
        }
        let secs = t.elapsed().as_secs_f64();
        let cpu1 = cpu_snapshot(&named);
        let l = Summary::of(&mut lat);
        out.insert(
            name.into(),
            json!({
                "requests": l.n,
                "errors": errors,
                "requests_per_sec": round1(l.n as f64 / secs),
                "latency_ms": l.json(),
                "cpu": cpu_split(&cpu0, &cpu1, ctx.ticks),
            }),
        );
    }
    out.insert(
        "service_vmhwm_mib".into(),
        json!(status_mib(api.pid(), "VmHWM").map(round1)),
    );
    out.insert(
        "service_vmrss_mib".into(),
        json!(status_mib(api.pid(), "VmRSS").map(round1)),
    );
    out.insert("concurrency".into(), json!(s.api_concurrency));
    out.insert("seconds_each".into(), json!(s.api_secs));
    out.insert("stored_rows_of_user".into(), json!(s.api_rows));
    out.insert("name".into(), json!("api"));
    api.stop(Duration::from_secs(30)).await;
    sqlx::query("DELETE FROM schedulers WHERE created_by = 'api' AND id NOT LIKE '0000%'")
        .execute(&ctx.pool)
        .await?;
    Ok(Value::Object(out))
}
