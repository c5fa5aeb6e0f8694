//! The file routes: create and update a scheduler with attachments (multipart), and get one
//! attachment's URL. The JSON logic is the JSON routes' own (`schedulers::new_scheduler`,
//! `schedulers::updated_scheduler`); this module adds the files around it.
//!
//! Ordering: objects are uploaded while the form is read, before any row is written; the rows
//! go in one transaction with the scheduler; a failed transaction discards the new objects;
//! objects the commit detached (replaced on update) are deleted only after it.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use scheduler_core::SchedulerId;
use scheduler_files::{FileStore, StoredFile};
use scheduler_store::attachments::{self, AttachmentRecord};
use scheduler_store::{schedulers, StoreError};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::Tenant;
use crate::document::SchedulerDocument;
use crate::error::ErrorBody;
use crate::form::{read_form, FormBody};
use crate::routes::schedulers::{
    insert_scheduler, new_scheduler, scheduler_error, store_update, updated_scheduler,
};
use crate::routes::{TenantHeaders, TenantPath};
use crate::{format_time, ApiError, AppState};

/// The multipart form of the file routes (for the OpenAPI document).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct SchedulerForm {
    /// The scheduler document as a JSON string (the body of the JSON route).
    payload: String,
    /// Zero or more files (25 MiB each, 10 a request, by default).
    #[schema(value_type = Option<Vec<String>>, format = Binary)]
    files: Option<Vec<String>>,
}

/// One attachment, as `GET .../files/{file_id}` returns it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FileInfo {
    /// Presigned GET (expires, 1 h by default), or the public URL when the store is public.
    pub file_url: String,
    #[schema(example = "document.pdf")]
    pub file_name: String,
    #[schema(example = "application/pdf")]
    pub file_type: String,
    /// Bytes.
    pub file_size: i64,
    #[schema(example = "2024-10-16T08:30:00.000Z")]
    pub created_at: String,
}

fn file_store(state: &AppState) -> Result<Arc<FileStore>, ApiError> {
    state
        .files()
        .cloned()
        .ok_or_else(|| ApiError::ServiceUnavailable("file storage is not configured".to_owned()))
}

fn records(files: &[StoredFile], scheduler_id: &str) -> Vec<AttachmentRecord> {
    files
        .iter()
        .enumerate()
        .map(|(i, f)| AttachmentRecord {
            file_id: f.file_id,
            scheduler_id: scheduler_id.to_owned(),
            organization_id: f.organization_id.clone(),
            name: f.name.clone(),
            file_path: f.file_path.clone(),
            size: i64::try_from(f.size).unwrap_or(i64::MAX),
            file_type: f.file_type.clone(),
            file_extension: f.file_extension.clone(),
            is_public: f.is_public,
            short_path: f.short_path.clone(),
            position: i32::try_from(i).unwrap_or(i32::MAX),
            created_at: f.created_at,
        })
        .collect()
}

/// Sets `job.files` (the attachment set, described as the seed API does) and
/// `job.scheduler_id`.
async fn describe_files(
    store: &FileStore,
    job: &mut Value,
    scheduler_id: &str,
    rows: &[AttachmentRecord],
) -> Result<(), ApiError> {
    let mut files = Vec::with_capacity(rows.len());
    for r in rows {
        let url = store.file_url(&r.file_path).await?;
        files.push(scheduler_files::descriptor(r, Some(url)));
    }
    if let Value::Object(job) = job {
        job.insert("files".into(), Value::Array(files));
        job.insert(
            "scheduler_id".into(),
            Value::String(scheduler_id.to_owned()),
        );
    }
    Ok(())
}

#[utoipa::path(
    post,
    path = "/3rd/organization/{organization_id}/users/{user_id}/schedulers/files",
    tag = "schedulers",
    summary = "Create a scheduler with files",
    description = "`payload` is the JSON document of the JSON create, as a string; each `files` part is stored in S3 and described in `job.files[]`; `job.scheduler_id` is set.",
    params(
        TenantPath,
        TenantHeaders,
    ),
    request_body(content = SchedulerForm, content_type = "multipart/form-data"),
    security(("access_token" = [])),
    responses(
        (status = 201, description = "The stored scheduler", body = SchedulerDocument),
        (status = 400, description = "payload is required / Invalid JSON in payload, or an invalid field", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 404, description = "User not found", body = ErrorBody),
        (status = 413, description = "A file over the size limit, too many files, or a payload over 1 MiB", body = ErrorBody),
        (status = 415, description = "Content-Type is not multipart/form-data", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "file storage is not configured", body = ErrorBody),
    )
)]
pub(crate) async fn create_with_files(
    State(state): State<AppState>,
    tenant: Tenant,
    body: FormBody,
) -> Result<(StatusCode, Json<SchedulerDocument>), ApiError> {
    let store = file_store(&state)?;
    let now = state.now();
    let form = read_form(&state, &store, &tenant.organization_id, body, |payload| {
        new_scheduler(&tenant, payload, now).map(drop)
    })
    .await?;
    let result = async {
        let mut record = new_scheduler(&tenant, &form.payload, now)?;
        let rows = records(&form.files, &record.id);
        describe_files(&store, &mut record.job, &record.id.clone(), &rows).await?;
        let mut tx = state.pool.begin().await?;
        insert_scheduler(&mut tx, &state, &record, now).await?;
        attachments::insert(&mut tx, &rows).await?;
        tx.commit().await?;
        Ok::<_, ApiError>(record)
    }
    .await;
    match result {
        Ok(record) => {
            tracing::info!(scheduler_id = %record.id, files = form.files.len(), "scheduler created with files");
            Ok((StatusCode::CREATED, Json(SchedulerDocument::from(&record))))
        }
        Err(e) => {
            store.discard(&state.pool, &form.keys()).await;
            Err(e)
        }
    }
}

#[utoipa::path(
    put,
    path = "/3rd/organization/{organization_id}/users/{user_id}/schedulers/files/{scheduler_id}",
    tag = "schedulers",
    summary = "Update a scheduler with files",
    description = "`payload` is the JSON of the JSON update (partial), as a string. When `files` parts are given they replace the attachment set (the old objects are deleted after the commit); when none are given the attachments stay.",
    params(
        TenantPath,
        ("scheduler_id" = String, Path, description = "24 lowercase hex characters"),
        TenantHeaders,
    ),
    request_body(content = SchedulerForm, content_type = "multipart/form-data"),
    security(("access_token" = [])),
    responses(
        (status = 200, description = "The whole updated scheduler", body = SchedulerDocument),
        (status = 400, description = "scheduler_id is required / payload is required / Invalid JSON in payload, or an invalid field", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 404, description = "Scheduler not found, or User not found", body = ErrorBody),
        (status = 409, description = "The payload is valid on its own, but the scheduler it would make from this one's stored fields is not; the message names the field", body = ErrorBody),
        (status = 413, description = "A file over the size limit, too many files, or a payload over 1 MiB", body = ErrorBody),
        (status = 415, description = "Content-Type is not multipart/form-data", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "file storage is not configured", body = ErrorBody),
    )
)]
pub(crate) async fn update_with_files(
    State(state): State<AppState>,
    tenant: Tenant,
    body: FormBody,
) -> Result<Json<SchedulerDocument>, ApiError> {
    let id = tenant.scheduler_id()?;
    let store = file_store(&state)?;
    let now = state.now();
    // Checked before the body is read, so no file is uploaded for a scheduler that is not there.
    let before = schedulers::get(&state.pool, tenant.owner(), id.as_str())
        .await
        .map_err(scheduler_error)?;
    let form = read_form(&state, &store, &tenant.organization_id, body, |payload| {
        updated_scheduler(&tenant, &before, payload, now).map(drop)
    })
    .await?;
    let result = async {
        let mut tx = state.pool.begin().await?;
        let stored = schedulers::get_for_update(&mut tx, tenant.owner(), id.as_str())
            .await
            .map_err(scheduler_error)?;
        let mut record = updated_scheduler(&tenant, &stored, &form.payload, now)?;
        let (rows, detached) = if form.files.is_empty() {
            (attachments::list(&mut *tx, id.as_str()).await?, Vec::new())
        } else {
            let old =
                attachments::detach_all(&mut tx, &tenant.organization_id, id.as_str(), "replaced")
                    .await?;
            let rows = records(&form.files, id.as_str());
            attachments::insert(&mut tx, &rows).await?;
            (rows, old)
        };
        describe_files(&store, &mut record.job, id.as_str(), &rows).await?;
        store_update(&mut tx, &state, &stored, &record, now).await?;
        tx.commit().await?;
        Ok::<_, ApiError>((record, detached))
    }
    .await;
    match result {
        Ok((record, detached)) => {
            tracing::info!(scheduler_id = %record.id, files = form.files.len(), replaced = detached.len(), "scheduler updated with files");
            let keys: Vec<String> = detached.into_iter().map(|a| a.file_path).collect();
            store.delete_detached(&state.pool, &keys).await;
            Ok(Json(SchedulerDocument::from(&record)))
        }
        Err(e) => {
            store.discard(&state.pool, &form.keys()).await;
            Err(e)
        }
    }
}

#[utoipa::path(
    get,
    path = "/3rd/organization/{organization_id}/users/{user_id}/schedulers/{scheduler_id}/files/{file_id}",
    tag = "schedulers",
    summary = "Get a scheduler's file",
    params(
        TenantPath,
        ("scheduler_id" = String, Path, description = "24 lowercase hex characters"),
        ("file_id" = String, Path, description = "The file's UUID (`job.files[].file_id`)"),
        TenantHeaders,
    ),
    security(("access_token" = [])),
    responses(
        (status = 200, description = "The file's URL and metadata", body = FileInfo),
        (status = 400, description = "scheduler_id is required / file_id is required", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 404, description = "Scheduler with id <id> not found in the organization <org> / File not found / User not found", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
        (status = 503, description = "file storage is not configured", body = ErrorBody),
    )
)]
pub(crate) async fn get_file(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Json<FileInfo>, ApiError> {
    let raw_id = tenant.param("scheduler_id").unwrap_or_default();
    let not_found = || {
        let shown: String = raw_id.chars().take(64).collect();
        ApiError::NotFound(format!(
            "Scheduler with id {shown} not found in the organization {}",
            tenant.organization_id
        ))
    };
    let store = file_store(&state)?;
    let id = SchedulerId::parse(raw_id).map_err(|_| not_found())?;
    schedulers::get(&state.pool, tenant.owner(), id.as_str())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => not_found(),
            other => other.into(),
        })?;
    let file_not_found = || ApiError::NotFound("File not found".to_owned());
    let file_id = tenant
        .param("file_id")
        .and_then(|f| uuid::Uuid::parse_str(f).ok())
        .ok_or_else(file_not_found)?;
    let row = attachments::get(&state.pool, &tenant.organization_id, id.as_str(), file_id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => file_not_found(),
            other => other.into(),
        })?;
    Ok(Json(FileInfo {
        file_url: store.file_url(&row.file_path).await?,
        file_name: row.name,
        file_type: row.file_type,
        file_size: row.size,
        created_at: format_time(row.created_at),
    }))
}
