//! Which real services the tests run against: local processes (the Postgres server at
//! `DATABASE_URL`, the tansu broker from `TANSU_BIN`, s3s-fs from `S3S_FS_BIN`), or containers
//! started through testcontainers (Postgres, Kafka, MinIO) where a Docker engine answers.
//!
//! `SCHEDULER_TEST_TIER=local|containers|auto` (default `auto`: containers when an engine
//! answers a ping within 3 s, else local processes). The choice is made once per test process
//! and printed once to stderr, as `test services: ...`. Each crate starts its own service for
//! the tier (Postgres in [`crate::testing`], S3 in `scheduler_files::testing`, Kafka in the
//! runner's tests); this module only chooses, and holds what the containers have in common.

use std::io::{Read, Write};
use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

pub use testcontainers;
use testcontainers::{ContainerAsync, Image};

/// Where the tests' services come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Local processes: `DATABASE_URL`'s server, `TANSU_BIN`, `S3S_FS_BIN` (what `make test`
    /// sets up).
    Local,
    /// Containers through testcontainers: Postgres, Kafka and MinIO images.
    Containers,
}

/// The environment variable that overrides the automatic choice.
pub const TIER_VAR: &str = "SCHEDULER_TEST_TIER";

/// How long the Docker engine has to answer its ping.
const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// The tier of this test process: chosen on the first call (from [`TIER_VAR`], else from
/// [`docker_available`]) and printed once to stderr. Panics on an unknown value of the
/// variable, and when it asks for containers while no engine answers (both would only make
/// every test fail later, less clearly).
pub fn tier() -> Tier {
    static TIER: OnceLock<Tier> = OnceLock::new();
    *TIER.get_or_init(|| {
        let asked = std::env::var(TIER_VAR).unwrap_or_default();
        let (tier, line) = match asked.trim() {
            "local" => (
                Tier::Local,
                "test services: local processes (SCHEDULER_TEST_TIER=local)",
            ),
            "containers" => {
                assert!(
                    docker_available(),
                    "{TIER_VAR}=containers, but no Docker engine answered at {} within {PING_TIMEOUT:?}",
                    docker_endpoint().unwrap_or_else(|| "the default socket".into())
                );
                (Tier::Containers, "test services: containers (testcontainers)")
            }
            "" | "auto" => {
                if docker_available() {
                    (Tier::Containers, "test services: containers (testcontainers)")
                } else {
                    (
                        Tier::Local,
                        "test services: local processes (no Docker engine answered)",
                    )
                }
            }
            other => panic!("{TIER_VAR}={other:?}: expected local, containers or auto"),
        };
        eprintln!("{line}");
        tier
    })
}

/// Whether a Docker engine answers `GET /_ping` within 3 s, at `DOCKER_HOST` or else at the
/// first socket testcontainers would use (`/var/run/docker.sock`, then the rootless and Docker
/// Desktop ones). Asked once per process; never hangs (the probe runs on its own thread). Only
/// `unix://` and plain `tcp://` engines count: testcontainers is built without TLS.
pub fn docker_available() -> bool {
    static ANSWER: OnceLock<bool> = OnceLock::new();
    *ANSWER.get_or_init(|| {
        let Some(endpoint) = docker_endpoint() else {
            return false;
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(ping(&endpoint));
        });
        rx.recv_timeout(PING_TIMEOUT).unwrap_or(false)
    })
}

/// `DOCKER_HOST`, else the first Docker socket that exists (as testcontainers looks for it).
fn docker_endpoint() -> Option<String> {
    if let Some(host) = std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.trim().is_empty())
    {
        return Some(host);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    let candidates = [
        Some(PathBuf::from("/var/run/docker.sock")),
        runtime.map(|d| d.join(".docker/run/docker.sock")),
        home.as_ref().map(|d| d.join(".docker/run/docker.sock")),
        home.as_ref().map(|d| d.join(".docker/desktop/docker.sock")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.exists())
        .map(|p| format!("unix://{}", p.display()))
}

fn ping(endpoint: &str) -> bool {
    let timeout = Some(PING_TIMEOUT);
    if let Some(path) = endpoint.strip_prefix("unix://") {
        #[cfg(unix)]
        {
            let Ok(s) = std::os::unix::net::UnixStream::connect(path) else {
                return false;
            };
            if s.set_read_timeout(timeout).is_err() || s.set_write_timeout(timeout).is_err() {
                return false;
            }
            return answers(s);
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            return false;
        }
    }
    if let Some(addr) = endpoint.strip_prefix("tcp://") {
        let addr = addr.trim_end_matches('/');
        let Ok(addrs) = std::net::ToSocketAddrs::to_socket_addrs(addr) else {
            return false;
        };
        for a in addrs {
            if let Ok(s) = std::net::TcpStream::connect_timeout(&a, PING_TIMEOUT) {
                if s.set_read_timeout(timeout).is_ok() && s.set_write_timeout(timeout).is_ok() {
                    return answers(s);
                }
            }
        }
    }
    false
}

/// Sends the engine's ping and looks for a 200 answer.
fn answers(mut s: impl Read + Write) -> bool {
    if s.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        match s.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    let head = String::from_utf8_lossy(&buf[..got]);
    head.starts_with("HTTP/1.") && head.get(8..).unwrap_or("").trim_start().starts_with("200")
}

/// The host to reach a container's published ports on: the engine's host, with `localhost`
/// made `127.0.0.1` (ports are published on IPv4; `localhost` may resolve to `::1` first).
pub async fn host_of<I: Image>(c: &ContainerAsync<I>) -> String {
    let host = c
        .get_host()
        .await
        .expect("the host of a test container")
        .to_string();
    if host == "localhost" {
        "127.0.0.1".to_owned()
    } else {
        host
    }
}

/// A test container, removed when dropped. testcontainers removes a container from `Drop`
/// through the current tokio runtime; this guard gives it one (on a thread of its own) when it
/// is dropped outside any, instead of panicking.
pub struct Container<I: Image>(Option<ContainerAsync<I>>);

impl<I: Image> Container<I> {
    pub fn new(c: ContainerAsync<I>) -> Self {
        Self(Some(c))
    }

    /// Removes the container now (e.g. to kill a service mid-test).
    pub async fn remove(mut self) {
        if let Some(c) = self.0.take() {
            c.rm().await.expect("remove the test container");
        }
    }
}

impl<I: Image> Deref for Container<I> {
    type Target = ContainerAsync<I>;
    fn deref(&self) -> &Self::Target {
        self.0.as_ref().expect("container present until dropped")
    }
}

impl<I: Image> DerefMut for Container<I> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.0.as_mut().expect("container present until dropped")
    }
}

impl<I: Image> Drop for Container<I> {
    fn drop(&mut self) {
        let Some(c) = self.0.take() else { return };
        if tokio::runtime::Handle::try_current().is_ok() {
            drop(c);
            return;
        }
        std::thread::scope(|s| {
            s.spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(async move { drop(c) });
                }
            });
        });
    }
}

#[cfg(test)]
mod tests {
    use super::answers;
    use std::io::{Cursor, Read, Write};

    struct Fake(Cursor<Vec<u8>>);
    impl Read for Fake {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.0.read(buf)
        }
    }
    impl Write for Fake {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn ping_answers() {
        let ok = |s: &str| answers(Fake(Cursor::new(s.as_bytes().to_vec())));
        assert!(ok("HTTP/1.1 200 OK\r\nApi-Version: 1.45\r\n\r\nOK"));
        assert!(!ok("HTTP/1.1 404 Not Found\r\n\r\n"));
        assert!(!ok("SSH-2.0-OpenSSH\r\n"));
        assert!(!ok(""));
    }
}
