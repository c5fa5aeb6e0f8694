//! The attachment store: scheduler attachments as objects in S3 (or any S3-compatible store)
//! through `aws-sdk-s3`, with their cleanup ledger in Postgres. Knows nothing of HTTP: the API
//! hands it a stream of bytes per file and gets back what to store and show.
//!
//! Invariants (see `scheduler_store::attachments` for the ledger):
//! - an object is written only under a key reserved in the ledger first, so no two uploads
//!   share a key and an upload whose request dies is cleaned up by [`FileStore::sweep_orphans`];
//! - objects are written before the database rows that own them; a caller whose database
//!   write fails gives them back with [`FileStore::discard`];
//! - objects are deleted only after the commit that stops referencing them
//!   ([`FileStore::delete_detached`]); a deletion that fails stays in the ledger for the sweep.
//!
//! Memory: an upload holds at most one part (`part_size`, 8 MiB by default) of a file.

mod naming;

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    StalledStreamProtectionConfig,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt as _};
use scheduler_store::attachments;
use scheduler_store::{PgPool, StoreError};
use secrecy::{ExposeSecret as _, SecretString};
use uuid::Uuid;

pub use naming::{display_name, file_extension, file_type, key_name, object_key, short_path};

/// S3's smallest part (all but the last part of a multipart upload).
const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// Everything the attachment store needs; the server fills it from `S3_*` and its limits.
#[derive(Clone)]
pub struct FileStoreConfig {
    /// `S3_BUCKET`.
    pub bucket: String,
    /// `S3_REGION`.
    pub region: String,
    /// `S3_ENDPOINT`: an S3-compatible store's URL (`http://127.0.0.1:9000`); `None` for AWS.
    pub endpoint: Option<String>,
    /// `S3_FORCE_PATH_STYLE`: `http://host/bucket/key` instead of `http://bucket.host/key`
    /// (what most S3-compatible stores need).
    pub force_path_style: bool,
    /// `S3_PUBLIC_BASE_URL`: when set, objects are public and `file_url` is this + `/` + key;
    /// when not, `file_url` is a presigned GET valid for `presign_ttl`.
    pub public_base_url: Option<String>,
    /// `S3_ACCESS_KEY_ID` / `S3_SECRET_ACCESS_KEY`. When absent, the AWS default chain
    /// (environment, profile, web identity, container and instance credentials) is used.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<SecretString>,
    /// Largest accepted file (25 MiB).
    pub max_file_bytes: u64,
    /// Most files in one request (10).
    pub max_files: usize,
    /// Lifetime of presigned URLs (1 h; at most 7 days, SigV4's limit).
    pub presign_ttl: Duration,
    /// Size of the parts of a multipart upload, and so the most of a file held in memory
    /// (8 MiB; at least 5 MiB, S3's minimum). Smaller files go up in one `PutObject`.
    pub part_size: usize,
    /// Bound on each S3 call (all attempts of it), so no request can hang on the store.
    pub operation_timeout: Duration,
    /// How long a reserved key may wait for its commit before the sweeper treats the upload
    /// as dead and deletes its object. Must exceed the longest request.
    pub upload_grace: Duration,
}

impl FileStoreConfig {
    /// The defaults for a bucket in a region (AWS endpoint, presigned URLs, default
    /// credentials chain).
    pub fn new(bucket: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            region: region.into(),
            endpoint: None,
            force_path_style: false,
            public_base_url: None,
            access_key_id: None,
            secret_access_key: None,
            max_file_bytes: 25 * 1024 * 1024,
            max_files: 10,
            presign_ttl: Duration::from_secs(3600),
            part_size: 8 * 1024 * 1024,
            operation_timeout: Duration::from_secs(120),
            upload_grace: Duration::from_secs(6 * 3600),
        }
    }

    /// The largest multipart request the file routes should read: every file at its limit,
    /// plus `slack` for the payload part and the multipart framing.
    pub fn max_request_bytes(&self, slack: usize) -> usize {
        let files = self.max_file_bytes.saturating_mul(self.max_files as u64);
        usize::try_from(files)
            .unwrap_or(usize::MAX)
            .saturating_add(slack)
    }

    fn validate(&self) -> Result<(), FilesError> {
        let bad = |m: &str| Err(FilesError::Config(m.to_owned()));
        if self.bucket.trim().is_empty() {
            return bad("S3_BUCKET must not be empty");
        }
        if self.region.trim().is_empty() {
            return bad("S3_REGION must not be empty");
        }
        if let Some(e) = &self.endpoint {
            if !(e.starts_with("http://") || e.starts_with("https://")) {
                return bad("S3_ENDPOINT must be an http:// or https:// URL");
            }
        }
        if let Some(b) = &self.public_base_url {
            if !(b.starts_with("http://") || b.starts_with("https://")) {
                return bad("S3_PUBLIC_BASE_URL must be an http:// or https:// URL");
            }
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return bad("S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must be given together");
        }
        if self.max_file_bytes == 0 || self.max_files == 0 {
            return bad("the file size and count limits must be positive");
        }
        if self.presign_ttl.is_zero() || self.presign_ttl > Duration::from_secs(7 * 24 * 3600) {
            return bad("the presigned URL lifetime must be between 1 s and 7 days");
        }
        if self.part_size < MIN_PART_SIZE {
            return bad("the multipart part size must be at least 5 MiB");
        }
        if self.operation_timeout.is_zero() {
            return bad("the S3 operation timeout must be positive");
        }
        Ok(())
    }
}

impl std::fmt::Debug for FileStoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStoreConfig")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("force_path_style", &self.force_path_style)
            .field("public_base_url", &self.public_base_url)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "[redacted]"),
            )
            .field("max_file_bytes", &self.max_file_bytes)
            .field("max_files", &self.max_files)
            .field("presign_ttl", &self.presign_ttl)
            .field("part_size", &self.part_size)
            .field("operation_timeout", &self.operation_timeout)
            .field("upload_grace", &self.upload_grace)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// The configuration cannot work (checked by [`FileStore::new`]).
    #[error("invalid file storage configuration: {0}")]
    Config(String),
    /// The object store failed or refused a call.
    #[error("object store error: {0}")]
    Storage(String),
    #[error(transparent)]
    Database(#[from] StoreError),
}

/// Why an upload did not happen. `E` is the error type of the caller's byte stream.
#[derive(Debug, thiserror::Error)]
pub enum UploadError<E> {
    /// The file is larger than `max_file_bytes`; nothing was kept.
    #[error("file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// Reading the body failed (the caller decides what that means for its client).
    #[error("reading the file failed: {0}")]
    Body(E),
    #[error(transparent)]
    Store(#[from] FilesError),
}

/// A file to store.
#[derive(Debug, Clone, Copy)]
pub struct NewFile<'a> {
    pub organization_id: &'a str,
    /// The client's file name (cleaned with [`display_name`] before use).
    pub name: &'a str,
    /// The content type the client gave for it, if any.
    pub content_type: Option<&'a str>,
}

/// A stored object and its metadata (the fields of `job.files[]` and of an attachment row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub file_id: Uuid,
    pub organization_id: String,
    pub name: String,
    /// The object key.
    pub file_path: String,
    pub size: u64,
    pub file_type: String,
    pub file_extension: String,
    pub is_public: bool,
    pub short_path: String,
    pub created_at: DateTime<Utc>,
}

/// What a sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub deleted: usize,
    pub failed: usize,
}

/// The attachment store. Cheap to share behind an `Arc`; the S3 client pools connections.
pub struct FileStore {
    client: aws_sdk_s3::Client,
    config: FileStoreConfig,
    /// The last epoch-millisecond given to a key: keys of this process never share one.
    last_ms: AtomicI64,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl FileStore {
    /// Checks the configuration and builds the S3 client (no network call: use
    /// [`FileStore::check`] to see the bucket answers).
    pub async fn new(config: FileStoreConfig) -> Result<Self, FilesError> {
        config.validate()?;
        // rustls on ring, with the platform's root certificates (see Cargo.toml for why not
        // the SDK's default client).
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let timeouts = aws_sdk_s3::config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_timeout(config.operation_timeout)
            .build();
        let region = Region::new(config.region.clone());
        let mut builder = match (&config.access_key_id, &config.secret_access_key) {
            (Some(id), Some(secret)) => aws_sdk_s3::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(region)
                .http_client(http)
                .credentials_provider(Credentials::new(
                    id.clone(),
                    secret.expose_secret().to_owned(),
                    None,
                    None,
                    "S3_ACCESS_KEY_ID",
                )),
            _ => {
                let shared = aws_config::defaults(BehaviorVersion::latest())
                    .region(region)
                    .http_client(http)
                    .load()
                    .await;
                aws_sdk_s3::config::Builder::from(&shared)
            }
        };
        builder = builder
            .timeout_config(timeouts)
            .force_path_style(config.force_path_style)
            // Checksums only where S3 requires them: S3-compatible stores vary in their support
            // of the newer (CRC, aws-chunked) ones.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            // A slow client makes our upload stream slow; the operation timeout bounds it.
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled());
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint_url(endpoint.trim_end_matches('/'));
        }
        Ok(Self {
            client: aws_sdk_s3::Client::from_conf(builder.build()),
            config,
            last_ms: AtomicI64::new(0),
        })
    }

    pub fn config(&self) -> &FileStoreConfig {
        &self.config
    }

    /// True when objects are served from `S3_PUBLIC_BASE_URL`.
    pub fn is_public(&self) -> bool {
        self.config.public_base_url.is_some()
    }

    /// The bucket answers with these credentials (for readiness checks).
    pub async fn check(&self) -> Result<(), FilesError> {
        self.client
            .head_bucket()
            .bucket(&self.config.bucket)
            .send()
            .await
            .map_err(|e| storage("HeadBucket", &e))?;
        Ok(())
    }

    /// The URL a client or a delivery gets for the object: the public URL when the store is
    /// public, else a presigned GET valid for `presign_ttl`.
    pub async fn file_url(&self, key: &str) -> Result<String, FilesError> {
        match &self.config.public_base_url {
            Some(base) => Ok(format!("{}/{key}", base.trim_end_matches('/'))),
            None => self.presign_get(key, self.config.presign_ttl).await,
        }
    }

    /// A presigned GET of the object, valid for `ttl`.
    pub async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String, FilesError> {
        let presigning = PresigningConfig::expires_in(ttl)
            .map_err(|e| FilesError::Config(format!("presigned URL lifetime: {e}")))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.config.bucket)
            .key(key)
            .presigned(presigning)
            .await
            .map_err(|e| storage("presign GetObject", &e))?;
        Ok(request.uri().to_owned())
    }

    /// Stores one file under a new key of its organization, streaming `body`. Files up to
    /// `part_size` go up in one `PutObject`, larger ones as a multipart upload; past
    /// `max_file_bytes` the upload is abandoned ([`UploadError::TooLarge`]) and nothing is kept.
    ///
    /// On success the key stays reserved until [`insert`](scheduler_store::attachments::insert)
    /// commits its row; a caller that does not get that far must [`discard`](Self::discard) it.
    pub async fn upload<S, E>(
        &self,
        pool: &PgPool,
        file: NewFile<'_>,
        body: S,
    ) -> Result<StoredFile, UploadError<E>>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
    {
        let name = display_name(file.name);
        let file_type = file_type(file.content_type, &name);
        let key = self.reserve(pool, file.organization_id, &name).await?;
        let created_at = Utc::now();
        match self.put_stream(&key, &file_type, body).await {
            Ok(size) => Ok(StoredFile {
                file_id: Uuid::new_v4(),
                organization_id: file.organization_id.to_owned(),
                file_extension: file_extension(&file_type, &name),
                short_path: short_path(&key),
                is_public: self.is_public(),
                name,
                file_path: key,
                size,
                file_type,
                created_at,
            }),
            Err(e) => {
                // Nothing was written, or a failed write may have been: delete to be sure.
                self.discard(pool, std::slice::from_ref(&key)).await;
                Err(e)
            }
        }
    }

    /// Reserves `{organization_id}/{epoch_ms}/{name}` with an epoch-ms this process has not
    /// used, moving to the next millisecond when the key is taken.
    async fn reserve(
        &self,
        pool: &PgPool,
        organization_id: &str,
        name: &str,
    ) -> Result<String, FilesError> {
        for _ in 0..20 {
            let key = object_key(organization_id, self.next_ms(), name);
            if attachments::reserve_key(pool, &key).await? {
                return Ok(key);
            }
        }
        Err(FilesError::Storage(
            "no free object key after 20 tries".to_owned(),
        ))
    }

    fn next_ms(&self) -> i64 {
        let now = Utc::now().timestamp_millis();
        let prev = self
            .last_ms
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                Some(now.max(last + 1))
            })
            .unwrap_or(now);
        now.max(prev + 1)
    }

    /// Writes the stream to `key`; returns its size.
    async fn put_stream<S, E>(
        &self,
        key: &str,
        content_type: &str,
        body: S,
    ) -> Result<u64, UploadError<E>>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
    {
        let limit = self.config.max_file_bytes;
        let part_size = self.config.part_size;
        let mut body = std::pin::pin!(body);
        let mut size: u64 = 0;
        let mut buf = BytesMut::new();
        let mut multipart: Option<Multipart> = None;

        let result: Result<(), UploadError<E>> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(UploadError::Body)?;
                size += chunk.len() as u64;
                if size > limit {
                    return Err(UploadError::TooLarge { limit });
                }
                buf.extend_from_slice(&chunk);
                while buf.len() >= part_size {
                    let part = buf.split_to(part_size).freeze();
                    let upload = match &mut multipart {
                        Some(m) => m,
                        None => multipart.insert(self.start_multipart(key, content_type).await?),
                    };
                    self.upload_part(key, upload, part).await?;
                }
            }
            Ok(())
        }
        .await;

        let result = match (result, &mut multipart) {
            (Ok(()), None) => self
                .client
                .put_object()
                .bucket(&self.config.bucket)
                .key(key)
                .content_type(content_type)
                .content_length(i64::try_from(buf.len()).unwrap_or(i64::MAX))
                .body(ByteStream::from(buf.freeze()))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| storage("PutObject", &e).into()),
            (Ok(()), Some(upload)) => {
                let done: Result<(), UploadError<E>> = async {
                    if !buf.is_empty() {
                        self.upload_part(key, upload, buf.freeze()).await?;
                    }
                    self.client
                        .complete_multipart_upload()
                        .bucket(&self.config.bucket)
                        .key(key)
                        .upload_id(&upload.id)
                        .multipart_upload(
                            CompletedMultipartUpload::builder()
                                .set_parts(Some(std::mem::take(&mut upload.parts)))
                                .build(),
                        )
                        .send()
                        .await
                        .map_err(|e| storage("CompleteMultipartUpload", &e))?;
                    Ok(())
                }
                .await;
                if done.is_err() {
                    self.abort_multipart(key, &upload.id).await;
                }
                done
            }
            (Err(e), Some(upload)) => {
                self.abort_multipart(key, &upload.id).await;
                Err(e)
            }
            (Err(e), None) => Err(e),
        };
        result.map(|()| size)
    }

    async fn start_multipart(
        &self,
        key: &str,
        content_type: &str,
    ) -> Result<Multipart, FilesError> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.config.bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .map_err(|e| storage("CreateMultipartUpload", &e))?;
        let id = out
            .upload_id
            .ok_or_else(|| FilesError::Storage("CreateMultipartUpload: no upload id".to_owned()))?;
        Ok(Multipart {
            id,
            parts: Vec::new(),
        })
    }

    async fn upload_part(
        &self,
        key: &str,
        upload: &mut Multipart,
        part: Bytes,
    ) -> Result<(), FilesError> {
        let number = i32::try_from(upload.parts.len() + 1).unwrap_or(i32::MAX);
        let out = self
            .client
            .upload_part()
            .bucket(&self.config.bucket)
            .key(key)
            .upload_id(&upload.id)
            .part_number(number)
            .content_length(i64::try_from(part.len()).unwrap_or(i64::MAX))
            .body(ByteStream::from(part))
            .send()
            .await
            .map_err(|e| storage("UploadPart", &e))?;
        upload.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag)
                .build(),
        );
        Ok(())
    }

    /// Best effort: a multipart upload left behind holds storage until the bucket's lifecycle
    /// rule (`AbortIncompleteMultipartUpload`) removes it, but is never visible as an object.
    async fn abort_multipart(&self, key: &str, upload_id: &str) {
        if let Err(e) = self
            .client
            .abort_multipart_upload()
            .bucket(&self.config.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
        {
            tracing::warn!(key, error = %DisplayErrorContext(&e), "could not abort a multipart upload");
        }
    }

    /// Deletes one object; a missing object counts as deleted.
    pub async fn delete_object(&self, key: &str) -> Result<(), FilesError> {
        match self
            .client
            .delete_object()
            .bucket(&self.config.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("NoSuchKey") => Ok(()),
            Err(e) => Err(storage("DeleteObject", &e)),
        }
    }

    /// Gives back objects uploaded for a request that did not commit: deletes them and their
    /// reservations. What cannot be deleted now stays in the ledger for the sweeper. Never
    /// fails (failures are logged).
    pub async fn discard(&self, pool: &PgPool, keys: &[String]) {
        self.delete_and_forget(pool, keys, "upload not committed")
            .await;
    }

    /// Deletes the objects of attachments a committed transaction detached
    /// (`scheduler_store::attachments::detach_all`) and clears their ledger entries. Never
    /// fails: what cannot be deleted now stays in the ledger for the sweeper.
    pub async fn delete_detached(&self, pool: &PgPool, keys: &[String]) {
        self.delete_and_forget(pool, keys, "detached").await;
    }

    async fn delete_and_forget(&self, pool: &PgPool, keys: &[String], why: &str) {
        let mut gone = Vec::new();
        let mut failed = Vec::new();
        for key in keys {
            match self.delete_object(key).await {
                Ok(()) => gone.push(key.clone()),
                Err(e) => {
                    tracing::warn!(key = %key, error = %e, "object deletion failed; left for the sweeper");
                    failed.push(key.clone());
                }
            }
        }
        if let Err(e) = attachments::forget(pool, &gone).await {
            // The entries stay; the sweeper deletes the (already gone) objects again, harmlessly.
            tracing::warn!(error = %e, "could not clear deleted objects from the ledger");
        }
        if !failed.is_empty() {
            let reason = format!("{why}: deletion failed");
            if let Err(e) = attachments::deletion_failed(pool, &failed, &reason).await {
                tracing::error!(keys = ?failed, error = %e, "could not record objects to delete; they are orphaned");
            }
        }
    }

    /// Deletes the objects the ledger says nobody owns: deletions that failed or were cut off
    /// after their commit, and uploads reserved longer than `upload_grace` ago that never
    /// committed. At most `limit` entries a call; run it periodically (every few minutes) from
    /// any number of processes (deleting twice is harmless).
    pub async fn sweep_orphans(
        &self,
        pool: &PgPool,
        limit: i64,
    ) -> Result<SweepReport, FilesError> {
        let grace = chrono::Duration::from_std(self.config.upload_grace)
            .unwrap_or_else(|_| chrono::Duration::hours(6));
        let due = attachments::due_orphans(pool, Utc::now() - grace, limit).await?;
        let mut report = SweepReport::default();
        let mut gone = Vec::new();
        for orphan in due {
            match self.delete_object(&orphan.file_path).await {
                Ok(()) => {
                    report.deleted += 1;
                    gone.push(orphan.file_path);
                }
                Err(e) => {
                    report.failed += 1;
                    tracing::warn!(key = %orphan.file_path, attempts = orphan.attempts + 1, error = %e, "sweep: object deletion failed");
                    attachments::deletion_failed(
                        pool,
                        std::slice::from_ref(&orphan.file_path),
                        &orphan.reason,
                    )
                    .await?;
                }
            }
        }
        attachments::forget(pool, &gone).await?;
        if report != SweepReport::default() {
            tracing::info!(
                deleted = report.deleted,
                failed = report.failed,
                "orphan objects swept"
            );
        }
        Ok(report)
    }

    /// The keys in the bucket under `prefix` (tests and diagnostics; at most 1000).
    pub async fn list_keys(&self, prefix: &str) -> Result<Vec<String>, FilesError> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.config.bucket)
            .prefix(prefix)
            .send()
            .await
            .map_err(|e| storage("ListObjectsV2", &e))?;
        Ok(out
            .contents
            .unwrap_or_default()
            .into_iter()
            .filter_map(|o| o.key)
            .collect())
    }
}

struct Multipart {
    id: String,
    parts: Vec<CompletedPart>,
}

fn storage<E>(operation: &str, err: &E) -> FilesError
where
    E: std::error::Error + 'static,
{
    FilesError::Storage(format!("{operation}: {}", DisplayErrorContext(err)))
}

/// The JSON description of an attachment, as `job.files[]` shows it (the seed's fields) and as
/// a delivery's envelope lists it. One builder for both, so they cannot drift apart.
/// `file_url` is null when none could be made.
pub fn descriptor(
    r: &attachments::AttachmentRecord,
    file_url: Option<String>,
) -> serde_json::Value {
    serde_json::json!({
        "organization_id": r.organization_id,
        "name": r.name,
        "file_path": r.file_path,
        "file_id": r.file_id.to_string(),
        "size": r.size,
        "file_type": r.file_type,
        "file_extension": r.file_extension,
        "file_url": file_url,
        "is_public": r.is_public,
        "short_path": r.short_path,
    })
}

#[cfg(feature = "test-support")]
pub mod testing;
