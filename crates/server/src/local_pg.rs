//! A private Postgres cluster for `scheduler dev`, run from the installed Postgres binaries.
//! initdb and postgres refuse to run as root, so as root they run as the `postgres` user.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context as _};

pub struct LocalPostgres {
    bindir: PathBuf,
    data: PathBuf,
    as_postgres: bool,
    pub url: String,
}

impl LocalPostgres {
    /// Initializes `dir/pg` on first use and starts the server on a free port of 127.0.0.1.
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        let bindir = find_bindir().context(
            "no Postgres server binaries found under /usr/lib/postgresql (install the \
             `postgresql` package, or set DATABASE_URL to use an existing server)",
        )?;
        let root = dir.join("pg");
        let data = root.join("data");
        std::fs::create_dir_all(&root)
            .with_context(|| format!("cannot create {}", root.display()))?;
        let as_postgres = is_root();
        if as_postgres {
            // The cluster's files belong to `postgres`, who must be able to reach them.
            run(Command::new("chown").arg("-R").arg("postgres").arg(&root))?;
            let mut d = root.clone();
            while let Some(parent) = d.parent() {
                let _ = Command::new("chmod").arg("o+x").arg(parent).status();
                d = parent.to_path_buf();
            }
        }
        let port = free_port()?;
        let this = Self {
            bindir,
            data,
            as_postgres,
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        };
        if !this.data.join("PG_VERSION").exists() {
            tracing::info!(data = %this.data.display(), "initializing a private Postgres cluster");
            run(this.pg_command("initdb").arg("-D").arg(&this.data).args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
            ]))?;
        }
        let log = root.join("server.log");
        run(this
            .pg_command("pg_ctl")
            .arg("-D")
            .arg(&this.data)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "-o"])
            .arg(format!(
                "-p {port} -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=200"
            ))
            .arg("start"))
        .with_context(|| format!("Postgres did not start; see {}", log.display()))?;
        Ok(this)
    }

    fn pg_command(&self, program: &str) -> Command {
        let path = self.bindir.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// Stops the server (fast shutdown), waiting at most a minute.
    pub fn stop(&self) -> anyhow::Result<()> {
        run(self
            .pg_command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "-t", "60", "stop"]))
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!(error = %e, "stopping the private Postgres failed");
        }
    }
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{:?} failed ({}): {}",
            cmd.get_program(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn find_bindir() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    // /proc/self belongs to the process's effective user.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("no free port")?;
    Ok(l.local_addr()?.port())
}

/// Waits until the server accepts connections (pg_ctl -w already waits; this covers the
/// socket being ready for TCP).
pub async fn wait_ready(url: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let cfg = scheduler_store::PoolConfig {
            max_connections: 1,
            acquire_timeout: Duration::from_secs(2),
            ..Default::default()
        };
        match scheduler_store::connect(url, &cfg).await {
            Ok(pool) => {
                pool.close().await;
                return Ok(());
            }
            Err(e) if tokio::time::Instant::now() > deadline => {
                return Err(e).context("the private Postgres does not answer");
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
