//! A real S3-compatible server for tests, one per [`S3Server`], with the bucket [`BUCKET`]
//! empty, removed on drop. Which one follows the test tier
//! ([`scheduler_store::test_services::tier`]):
//! - local processes: `s3s-fs` (which checks request signatures), on a free port, over a fresh
//!   temporary directory. The binary is taken from `S3S_FS_BIN`; without it the tests fail
//!   (they are not skipped): `eval "$(scripts/ensure-tools.sh s3s-fs)"` installs it and prints
//!   the export, and `make test` sets it.
//! - containers: a MinIO container with the same keys.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use scheduler_store::test_services::{self, Container, Tier};
use secrecy::SecretString;
use testcontainers::runners::AsyncRunner as _;
use testcontainers::ImageExt as _;
use testcontainers_modules::minio::MinIO;

use crate::{FileStore, FileStoreConfig};

pub const BUCKET: &str = "attachments";
pub const ACCESS_KEY: &str = "test-access-key";
pub const SECRET_KEY: &str = "test-secret-key-0123456789";

pub struct S3Server {
    pub endpoint: String,
    /// The local tier's data directory: objects are files under `dir/BUCKET/` (None in the
    /// container tier).
    pub dir: Option<PathBuf>,
    server: Server,
}

enum Server {
    Process(Child),
    /// Removed when dropped.
    Container {
        _minio: Container<MinIO>,
    },
}

impl S3Server {
    /// Starts the tier's server with the bucket [`BUCKET`] and the keys [`ACCESS_KEY`] /
    /// [`SECRET_KEY`].
    pub async fn start() -> Self {
        match test_services::tier() {
            Tier::Local => Self::start_s3s_fs().await,
            Tier::Containers => Self::start_minio().await,
        }
    }

    async fn start_minio() -> Self {
        let c = MinIO::default()
            .with_env_var("MINIO_ROOT_USER", ACCESS_KEY)
            .with_env_var("MINIO_ROOT_PASSWORD", SECRET_KEY)
            .start()
            .await
            .unwrap_or_else(|e| panic!("cannot start the MinIO container: {e}"));
        let host = test_services::host_of(&c).await;
        let port = c
            .get_host_port_ipv4(9000)
            .await
            .expect("the MinIO container's port");
        let s3 = Self {
            endpoint: format!("http://{host}:{port}"),
            dir: None,
            server: Server::Container {
                _minio: Container::new(c),
            },
        };
        // MinIO starts with no bucket; the readiness line can come a moment before it takes
        // requests.
        let store = s3.store().await;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match store.client.create_bucket().bucket(BUCKET).send().await {
                Ok(_) => return s3,
                Err(e) if Instant::now() > deadline => {
                    panic!("cannot create the bucket {BUCKET} on MinIO: {e:?}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    async fn start_s3s_fs() -> Self {
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
                        dir: Some(dir),
                        server: Server::Process(child),
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

    /// Every object key in the bucket, sorted (unfinished multipart uploads are not objects:
    /// see [`Self::uploads_in_progress`]). Local tier: read from the server's directory
    /// (independent of the S3 client under test). Container tier: MinIO's files are not the
    /// objects, so a ListObjectsV2 through a client of its own (on a thread of its own, so this
    /// stays callable from async tests).
    pub fn keys(&self) -> Vec<String> {
        let Some(dir) = &self.dir else {
            return std::thread::scope(|s| {
                s.spawn(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a runtime to list the bucket")
                        .block_on(self.list_bucket())
                })
                .join()
                .expect("listing the bucket")
            });
        };
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
        let root = dir.join(BUCKET);
        let mut out = Vec::new();
        walk(&root, &root, &mut out);
        // s3s-fs keeps its own metadata and in-progress uploads in dot-files.
        out.retain(|k| !k.split('/').any(|seg| seg.starts_with('.')));
        out.sort();
        out
    }

    /// A raw S3 client for this server, for tests that drive the protocol by hand.
    pub async fn client(&self) -> aws_sdk_s3::Client {
        self.store().await.client.clone()
    }

    /// Multipart uploads begun and neither completed nor aborted, with their parts, sorted.
    /// `keys()` cannot see them (they are not objects), so a test of "nothing left behind"
    /// must check both. Local tier: s3s-fs keeps an upload as `.upload-<id>.json` and its parts
    /// as `.upload_id-<id>.part-<n>` in its root directory, removed on completion or abort; every
    /// such file is listed. Container tier: ListMultipartUploads.
    pub fn uploads_in_progress(&self) -> Vec<String> {
        let Some(dir) = &self.dir else {
            return std::thread::scope(|s| {
                s.spawn(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a runtime to list the uploads")
                        .block_on(self.list_uploads())
                })
                .join()
                .expect("listing the uploads")
            });
        };
        let mut out: Vec<String> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("read the s3s-fs directory {}: {e}", dir.display()))
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| name.starts_with(".upload-") || name.starts_with(".upload_id-"))
            .collect();
        out.sort();
        out
    }

    async fn list_uploads(&self) -> Vec<String> {
        let store = self.store().await;
        let out = store
            .client
            .list_multipart_uploads()
            .bucket(BUCKET)
            .send()
            .await
            .unwrap_or_else(|e| panic!("list the multipart uploads: {e:?}"));
        let mut uploads: Vec<String> = out
            .uploads()
            .iter()
            .map(|u| {
                format!(
                    "{} ({})",
                    u.key().unwrap_or("?"),
                    u.upload_id().unwrap_or("?")
                )
            })
            .collect();
        uploads.sort();
        uploads
    }

    async fn list_bucket(&self) -> Vec<String> {
        let store = self.store().await;
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let out = store
                .client
                .list_objects_v2()
                .bucket(BUCKET)
                .set_continuation_token(token)
                .send()
                .await
                .unwrap_or_else(|e| panic!("list the bucket: {e:?}"));
            keys.extend(
                out.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
            token = out.next_continuation_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        keys.sort();
        keys
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        // A container is removed by its own guard.
        if let Server::Process(child) = &mut self.server {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
