//! Case 2: Postgres crash-restarted (`pg_ctl restart -m immediate`: no checkpoint, crash
//! recovery on start) in the middle of a burst, under an API process and a runner process.
//! Nothing is lost, neither process exits, and the API answers 200 again within 10 s.
//!
//! The cluster is private to this test (initdb into a temporary directory, a free port), so the
//! crash hurts nobody else; as root, initdb and pg_ctl run as `postgres` (scripts/ensure-postgres.sh).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::*;

const FIRES: u64 = 10_000;

struct Cluster {
    bindir: PathBuf,
    dir: PathBuf,
    port: u16,
    as_root: bool,
}

impl Cluster {
    fn pg(&self, tool: &str) -> Command {
        let bin = self.bindir.join(tool);
        if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(bin);
            c
        } else {
            Command::new(bin)
        }
    }

    fn run(&self, what: &str, cmd: &mut Command) {
        let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            out.status.success(),
            "{what}: {}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn start() -> Cluster {
        let bindir = std::fs::read_dir("/usr/lib/postgresql")
            .expect("Postgres binaries in /usr/lib/postgresql (scripts/ensure-postgres.sh installs them)")
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("initdb").exists())
            .max_by_key(|p| {
                p.parent()
                    .and_then(|v| v.file_name())
                    .and_then(|v| v.to_str())
                    .and_then(|v| v.parse::<u32>().ok())
                    .unwrap_or(0)
            })
            .expect("an installed Postgres with initdb");
        let uid = Command::new("id").arg("-u").output().expect("id -u");
        let as_root = String::from_utf8_lossy(&uid.stdout).trim() == "0";
        let dir = std::env::temp_dir().join(format!("faults-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("cluster directory");
        let c = Cluster {
            bindir,
            dir,
            port: free_port(),
            as_root,
        };
        if as_root {
            c.run(
                "chown the cluster directory",
                Command::new("chown").arg("postgres").arg(&c.dir),
            );
        }
        c.run(
            "initdb",
            c.pg("initdb").arg("-D").arg(c.dir.join("data")).args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ]),
        );
        c.run("pg_ctl start", &mut c.ctl("start"));
        c
    }

    fn ctl(&self, action: &str) -> Command {
        let mut cmd = self.pg("pg_ctl");
        cmd.arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", "60", "-o"])
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=100 -c fsync=off",
                self.port,
                self.dir.display()
            ));
        if action == "restart" {
            cmd.args(["-m", "immediate"]);
        }
        cmd.arg(action);
        cmd
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .pg("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_crash_restart_mid_burst() {
    let cluster = Cluster::start();
    let url = cluster.url();
    let pool = scheduler_store::connect(&url, &scheduler_store::PoolConfig::default())
        .await
        .expect("connect the private cluster");
    scheduler_store::migrate(&pool).await.expect("migrate");
    tenant(&pool).await;
    let token = scheduler_store::tenancy::issue_token(&pool, ORG)
        .await
        .expect("token")
        .token;
    let obs = observer(&url).await;
    let rx = Receiver::start().await;

    let mut api = Proc::serve("api", "api", &url, &[]);
    let mut runner = Proc::serve(
        "runner",
        "runner",
        &url,
        &[("RUNNER_LEASE_SECS", "10".to_owned())],
    );
    api.wait_ready().await;
    runner.wait_ready().await;
    let list = format!("{}/v1/organization/{ORG}/users/{USER}/schedulers", api.base);
    let client = http();
    let api_ok = || async {
        client
            .get(&list)
            .header("x-access-token", &token)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    };
    assert!(api_ok().await, "the API answers before the crash");

    let started = Instant::now();
    bulk_due(&pool, 1, FIRES, Utc::now(), &webhook_job(&rx.url)).await;
    wait_for(Duration::from_secs(60), "a third of the burst", || async {
        rx.distinct() as u64 >= FIRES / 3
    })
    .await;
    let at_crash = rx.distinct();
    let crashed = Instant::now();
    cluster.run("pg_ctl restart -m immediate", &mut cluster.ctl("restart"));
    let back = crashed.elapsed();
    let api_back = until(Duration::from_secs(10), api_ok).await;
    let api_took = crashed.elapsed();
    println!(
        "pg_restart: crash-restart with {at_crash} of {FIRES} arrived ({:?} into the burst); \
         Postgres back after {back:?}; the API answered 200 {} {api_took:?} after the crash",
        crashed - started,
        if api_back {
            "again"
        } else {
            "NOT, still failing"
        },
    );
    assert!(
        api_back,
        "the API did not answer 200 within 10 s of the crash"
    );

    wait_delivered(&obs, FIRES, Duration::from_secs(60)).await;
    let all_in = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hits = rx.hits();
    let repeats = check_ids(&hits);
    println!(
        "pg_restart: all {FIRES} delivered {all_in:?} after the start; {} requests, {} distinct, \
         {repeats} repeats",
        hits.len(),
        rx.distinct()
    );
    for p in [&mut api, &mut runner] {
        assert!(
            p.exited().is_none(),
            "{} exited\n{}",
            p.name,
            p.log_tail(30)
        );
    }
    assert_eq!(rx.distinct() as u64, FIRES, "lost fires");
    assert_eq!(
        count(&obs, "SELECT count(*) FROM fires").await,
        FIRES as i64
    );
}
