//! An S3-compatible store on local disk for `scheduler dev`: the `s3s` service over the
//! `s3s-fs` backend, served in-process, with signature checking on. The service talks to it
//! through the same aws-sdk-s3 code path as to AWS.

use std::path::Path;

use anyhow::Context as _;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Credentials of the dev store; it only listens on 127.0.0.1.
pub const ACCESS_KEY: &str = "scheduler-dev";
pub const SECRET_KEY: &str = "scheduler-dev-secret";

pub struct LocalS3 {
    pub endpoint: String,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl LocalS3 {
    /// Serves `dir/s3` (one sub-directory per bucket; `bucket` is created) on a free port.
    pub async fn start(dir: &Path, bucket: &str) -> anyhow::Result<Self> {
        let root = dir.join("s3");
        std::fs::create_dir_all(root.join(bucket))
            .with_context(|| format!("cannot create {}", root.display()))?;
        let fs = s3s_fs::FileSystem::new(&root)
            .map_err(|e| anyhow::anyhow!("cannot open the local S3 directory: {e:?}"))?;
        let service = {
            let mut b = S3ServiceBuilder::new(fs);
            b.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
            b.build()
        };
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            loop {
                let socket = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((socket, _)) => socket,
                        Err(e) => {
                            tracing::warn!(error = %e, "local S3: accept failed");
                            continue;
                        }
                    },
                    () = stopped.cancelled() => break,
                };
                let conn = http
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        });
        Ok(Self {
            endpoint,
            stop,
            task,
        })
    }

    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}
