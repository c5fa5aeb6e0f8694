//! A real S3-compatible server for tests: `s3s-fs` (which checks request signatures), one
//! process per [`S3Server`], on a free port, over a fresh temporary directory, killed and
//! removed on drop. The binary is taken from `S3S_FS_BIN`; without it the tests fail (they
//! are not skipped): `eval "$(scripts/ensure-tools.sh s3s-fs)"` installs it and prints the
//! export, and `make test` sets it.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use secrecy::SecretString;

use crate::{FileStore, FileStoreConfig};

pub const BUCKET: &str = "attachments";
pub const ACCESS_KEY: &str = "test-access-key";
pub const SECRET_KEY: &str = "test-secret-key-0123456789";

pub struct S3Server {
    pub endpoint: String,
    /// The server's data directory: objects are files under `dir/BUCKET/`.
    pub dir: PathBuf,
    child: Child,
}

impl S3Server {
    /// Starts `s3s-fs` with the bucket [`BUCKET`] and the keys [`ACCESS_KEY`] / [`SECRET_KEY`].
    pub async fn start() -> Self {
        let bin = std::env::var("S3S_FS_BIN").unwrap_or_else(|_| {
            panic!(
                "S3S_FS_BIN is not set: these tests need the s3s-fs server. Run \
                 `eval \"$(scripts/ensure-tools.sh s3s-fs)\"` (installs it once and prints the \
                 export) or `make test`"
            )
        });
        let dir = std::env::temp_dir().join(format!("s3s-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(dir.join(BUCKET)).expect("create the s3s-fs data directory");
        // Ask the OS for a free port, then hand it to the server (a small race with other
        // processes, retried below).
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let mut child = Command::new(&bin)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                .arg(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start s3s-fs ({bin}): {e}"));
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited (port taken?): try another port
                }
                if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                    return Self {
                        endpoint: format!("http://{addr}"),
                        dir,
                        child,
                    };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("s3s-fs did not listen on {addr} within 10 s");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        panic!("s3s-fs could not be started on a free port");
    }

    /// A configuration for this server (path style, presigned URLs, the right keys).
    pub fn config(&self) -> FileStoreConfig {
        let mut c = FileStoreConfig::new(BUCKET, "us-east-1");
        c.endpoint = Some(self.endpoint.clone());
        c.force_path_style = true;
        c.access_key_id = Some(ACCESS_KEY.to_owned());
        c.secret_access_key = Some(SecretString::from(SECRET_KEY));
        c.operation_timeout = Duration::from_secs(30);
        c
    }

    pub async fn store(&self) -> FileStore {
        FileStore::new(self.config()).await.expect("file store")
    }

    /// Every object key in the bucket, read from the server's directory (independent of the
    /// S3 client under test).
    pub fn keys(&self) -> Vec<String> {
        fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for e in entries.flatten() {
                let path = e.path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else if let Ok(rel) = path.strip_prefix(root) {
                    out.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        let root = self.dir.join(BUCKET);
        let mut out = Vec::new();
        walk(&root, &root, &mut out);
        // s3s-fs keeps its own metadata and in-progress uploads in dot-files.
        out.retain(|k| !k.split('/').any(|seg| seg.starts_with('.')));
        out.sort();
        out
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
