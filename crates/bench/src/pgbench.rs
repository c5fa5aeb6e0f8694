//! The machine's ceilings: pgbench on the same Postgres with the statements the service runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use serde_json::{json, Value};

use crate::db::{API_BASE, ORG};

/// The runner's claim (crates/store/src/fires.rs `claim_due`) as one statement: lock a batch of
/// due schedulers (`FOR UPDATE SKIP LOCKED`), insert their fires leased to the claimer, advance
/// the schedulers, and return the rows the runner reads. The runner sends these as three
/// statements in one transaction with the planning in between; one statement is its ceiling.
/// Rows are advanced by an hour but stay in the past, so every run finds due work.
pub fn claim_script(batch: u32) -> String {
    format!(
        r#"WITH due AS (
    SELECT id, organization_id, next_fire_at FROM schedulers
    WHERE next_fire_at <= now() ORDER BY next_fire_at LIMIT {batch} FOR UPDATE SKIP LOCKED),
ins AS (
    INSERT INTO fires (id, scheduler_id, organization_id, scheduled_for, late, skipped_slots,
                       status, attempts, available_at, locked_until, locked_by, created_at)
    SELECT gen_random_uuid(), d.id, d.organization_id, d.next_fire_at, false, 0,
           'delivering', 1, now() + interval '30 seconds', now() + interval '30 seconds', 'pgbench', now()
    FROM due d
    ON CONFLICT (scheduler_id, scheduled_for) DO NOTHING
    RETURNING scheduler_id, scheduled_for)
UPDATE schedulers s
SET next_fire_at = s.next_fire_at + interval '1 hour', is_finished = false,
    fire_count = s.fire_count + 1, last_fired_at = ins.scheduled_for
FROM ins WHERE s.id = ins.scheduler_id
RETURNING s.*;
"#
    )
}

/// The lean reference for the claim: the same three steps on a lean schema (`lean_due`: id
/// and due instant, one index; `lean_fires`: scheduler and slot, its unique key), nothing
/// else. Next to [`claim_script`] it shows what the project's schema (wide rows, more
/// indexes, a non-HOT update of the scheduler) costs.
pub const LEAN_SCHEMA: &str = r#"
DROP TABLE IF EXISTS lean_due, lean_fires;
CREATE TABLE lean_due (id TEXT PRIMARY KEY, next_fire_at TIMESTAMPTZ NOT NULL);
CREATE INDEX lean_due_next ON lean_due (next_fire_at);
CREATE TABLE lean_fires (scheduler_id TEXT NOT NULL, scheduled_for TIMESTAMPTZ NOT NULL,
                         PRIMARY KEY (scheduler_id, scheduled_for));
"#;

/// Fills `lean_due` with `rows` due rows (in 2000, so every run finds due work).
pub fn lean_fill(rows: u64) -> String {
    format!(
        "INSERT INTO lean_due SELECT lpad(to_hex(g), 24, '0'),          '2000-01-01T00:00:00Z'::timestamptz + g * interval '1 millisecond'          FROM generate_series(1, {rows}) g"
    )
}

pub fn lean_claim_script(batch: u32) -> String {
    format!(
        r#"WITH due AS (
    SELECT id, next_fire_at FROM lean_due
    WHERE next_fire_at <= now() ORDER BY next_fire_at LIMIT {batch} FOR UPDATE SKIP LOCKED),
ins AS (
    INSERT INTO lean_fires SELECT id, next_fire_at FROM due
    ON CONFLICT DO NOTHING RETURNING scheduler_id)
UPDATE lean_due d SET next_fire_at = d.next_fire_at + interval '1 hour'
FROM ins WHERE d.id = ins.scheduler_id;
"#
    )
}

/// The API's get-by-id (`schedulers::get`) on the `api` owner's rows.
pub fn get_script(rows: u64) -> String {
    format!(
        r#"\set n random(1, {rows})
SELECT id, organization_id, created_by, updated_by, type AS kind, name, event_type,
       description, options, job, internal_id, channel_source, trigger_frequency_unit,
       trigger_frequency_value, trigger_time, triger_month_and_day, start_datetime,
       one_time_schedule_type, timezone, cron_expression, end_datetime, max_fires,
       misfire_policy, is_paused, is_finished, next_fire_at, last_fired_at, fire_count,
       created_at, updated_at
FROM schedulers
WHERE id = lpad(to_hex({API_BASE}::int8 + :n), 24, '0') AND organization_id = '{ORG}' AND created_by = 'api';
"#
    )
}

/// The insert a create makes (`schedulers::insert`), every column as the API writes them.
pub fn insert_script() -> String {
    format!(
        r#"INSERT INTO schedulers (
    id, organization_id, created_by, updated_by, type, name, event_type, description,
    options, job, internal_id, channel_source, trigger_frequency_unit,
    trigger_frequency_value, trigger_time, triger_month_and_day, start_datetime,
    one_time_schedule_type, timezone, cron_expression, end_datetime, max_fires,
    misfire_policy, is_paused, is_finished, next_fire_at, last_fired_at, fire_count,
    created_at, updated_at)
VALUES (substr(md5(random()::text || clock_timestamp()::text), 1, 24), '{ORG}', 'pgbench', 'pgbench',
    'non_recurring', 'bench create', 'bench', '', NULL,
    '{{"type":"kafka","topic":"bench-api","data":{{"n":1}}}}', NULL, '', NULL, NULL, NULL, NULL,
    '2100-01-01T00:00:00Z', NULL, 'UTC', NULL, NULL, NULL, 'fire_once', false, false,
    '2100-01-01T00:00:00Z', NULL, 0, now(), now())
ON CONFLICT (id) DO NOTHING;
"#
    )
}

pub struct Pgbench {
    pub bin: PathBuf,
    pub url: String,
    pub logs: PathBuf,
}

impl Pgbench {
    /// Runs `script` for `secs` with `clients` (prepared statements); transactions/s and mean
    /// latency.
    pub async fn run(
        &self,
        name: &str,
        script: &str,
        clients: u32,
        secs: u64,
    ) -> anyhow::Result<Value> {
        let file = self.logs.join(format!("pgbench-{name}.sql"));
        std::fs::write(&file, script)?;
        let mut cmd = Command::new(&self.bin);
        cmd.args(["-n", "-M", "prepared"])
            .args([
                "-c",
                &clients.to_string(),
                "-j",
                &clients.min(2).to_string(),
            ])
            .args(["-T", &secs.to_string(), "-f"])
            .arg(&file)
            .arg(&self.url);
        eprintln!("bench: pgbench {name}: {clients} clients, {secs} s");
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await?
            .context("cannot run pgbench")?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        std::fs::write(self.logs.join(format!("pgbench-{name}.log")), &stdout)?;
        anyhow::ensure!(
            out.status.success(),
            "pgbench {name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        parse(&stdout, clients).with_context(|| format!("pgbench {name} output: {stdout}"))
    }
}

fn number_after(text: &str, prefix: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.trim_start().starts_with(prefix))?;
    line.split('=')
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn parse(stdout: &str, clients: u32) -> anyhow::Result<Value> {
    let tps = number_after(stdout, "tps").context("no tps line")?;
    let lat = number_after(stdout, "latency average").unwrap_or(0.0);
    let failed = number_after(stdout, "number of failed transactions").unwrap_or(0.0);
    Ok(json!({
        "clients": clients,
        "tps": crate::stats::round1(tps),
        "latency_avg_ms": lat,
        "failed": failed,
    }))
}

pub fn logs_dir(out: &Path) -> PathBuf {
    out.join("tmp")
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_pgbench_output() {
        let v = super::parse(
            "number of failed transactions: 0 (0.000%)\nlatency average = 1.250 ms\ntps = 1600.123456 (without initial connection time)\n",
            2,
        )
        .unwrap();
        assert_eq!(v["tps"], 1600.1);
        assert_eq!(v["latency_avg_ms"], 1.25);
    }
}
