//! Subprocesses (the service, tansu, pgbench) and what /proc says about them.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// A child process that is stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Proc {
    pub name: String,
    child: Child,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr appended to `<logs>/<name>.log`.
    pub fn spawn(mut cmd: Command, name: &str, logs: &Path) -> anyhow::Result<Self> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(logs.join(format!("{name}.log")))?;
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {name} ({:?})", cmd.get_program()))?;
        Ok(Self {
            name: name.to_owned(),
            child,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then up to `grace` for it to exit, then SIGKILL.
    pub async fn stop(mut self, grace: Duration) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        eprintln!(
            "bench: {} did not stop within {grace:?}; killing it",
            self.name
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A `kB` field of /proc/<pid>/status (`VmHWM`, `VmRSS`), in MiB.
pub fn status_mib(pid: u32, field: &str) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn comm(pid: &str) -> Option<String> {
    Some(
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .ok()?
            .trim()
            .to_owned(),
    )
}

/// The fields of /proc/stat's first line, in order (jiffies summed over all cores).
const MACHINE_FIELDS: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

/// The whole machine's jiffies by kind (first line of /proc/stat; guest time is already
/// counted in user).
fn machine_ticks() -> [u64; 8] {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let mut out = [0u64; 8];
    for (i, x) in s
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .take(8)
        .enumerate()
    {
        out[i] = x.parse().unwrap_or(0);
    }
    out
}

/// CPU ticks of the processes of interest at one instant.
pub struct CpuSnapshot {
    at: Instant,
    /// Per pid: (group, ticks).
    procs: HashMap<String, (String, u64)>,
    machine: [u64; 8],
}

/// Groups: named pids (the service, the broker), `postgres` (every process named so), and
/// `bench` (this process: consumer, receiver, load generator).
pub fn cpu_snapshot(named: &[(&str, u32)]) -> CpuSnapshot {
    let mut procs = HashMap::new();
    for (group, pid) in named {
        let pid = pid.to_string();
        if let Some(t) = cpu_ticks(&pid) {
            procs.insert(pid, ((*group).to_owned(), t));
        }
    }
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let pid = e.file_name().to_string_lossy().into_owned();
            if !pid.bytes().all(|b| b.is_ascii_digit()) || procs.contains_key(&pid) {
                continue;
            }
            if comm(&pid).as_deref() == Some("postgres") {
                if let Some(t) = cpu_ticks(&pid) {
                    procs.insert(pid, ("postgres".to_owned(), t));
                }
            }
        }
    }
    let me = std::process::id().to_string();
    if let Some(t) = cpu_ticks(&me) {
        procs.insert(me, ("bench".to_owned(), t));
    }
    CpuSnapshot {
        at: Instant::now(),
        procs,
        machine: machine_ticks(),
    }
}

/// CPU used between two snapshots: per group, in percent of one core, plus the machine's busy
/// share of all its cores. Processes that started in between count from zero.
pub fn cpu_split(a: &CpuSnapshot, b: &CpuSnapshot, ticks_per_sec: f64) -> serde_json::Value {
    let wall = (b.at - a.at).as_secs_f64().max(0.001);
    let mut groups: HashMap<String, u64> = HashMap::new();
    for (pid, (group, t)) in &b.procs {
        let before = a.procs.get(pid).map_or(0, |x| x.1);
        *groups.entry(group.clone()).or_default() += t.saturating_sub(before);
    }
    let mut out = serde_json::Map::new();
    for (g, t) in &groups {
        out.insert(
            format!("{g}_pct_of_core"),
            serde_json::json!(crate::stats::round1(
                *t as f64 / ticks_per_sec / wall * 100.0
            )),
        );
    }
    // The whole machine, every core, by kind: nothing the processes above do not explain
    // goes unseen (`other_pct_of_machine` is busy time outside the named groups: other
    // processes, kernel threads, interrupts).
    let delta: Vec<f64> = (0..8)
        .map(|i| b.machine[i].saturating_sub(a.machine[i]) as f64)
        .collect();
    let total = delta.iter().sum::<f64>().max(1.0);
    let idle = delta[3] + delta[4];
    let mut machine = serde_json::Map::new();
    for (name, d) in MACHINE_FIELDS.iter().zip(&delta) {
        machine.insert(
            format!("{name}_pct"),
            serde_json::json!(crate::stats::round1(d / total * 100.0)),
        );
    }
    let named: f64 = groups.values().sum::<u64>() as f64;
    let cores = total / (ticks_per_sec * wall);
    machine.insert(
        "other_pct_of_machine".into(),
        serde_json::json!(crate::stats::round1(
            ((total - idle) - named).max(0.0) / total * 100.0
        )),
    );
    machine.insert(
        "cores".into(),
        serde_json::json!(crate::stats::round1(cores)),
    );
    out.insert(
        "machine_busy_pct".into(),
        serde_json::json!(crate::stats::round1((total - idle) / total * 100.0)),
    );
    out.insert("machine".into(), serde_json::Value::Object(machine));
    out.insert(
        "seconds".into(),
        serde_json::json!(crate::stats::round1(wall)),
    );
    serde_json::Value::Object(out)
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 when unknown).
pub fn ticks_per_sec() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// A free loopback port (bound, then released).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
