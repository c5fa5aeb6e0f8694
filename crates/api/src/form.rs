//! Multipart forms of the file routes: a `payload` part (the JSON document of the JSON routes,
//! as a string) and zero or more `files` parts, each streamed to the attachment store as it
//! arrives, so no file and no request is ever held whole in memory.

use axum::extract::multipart::{Multipart, MultipartError};
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use scheduler_files::{FileStore, NewFile, StoredFile, UploadError};
use serde_json::{Map, Value};

use crate::body::parse_payload;
use crate::{ApiError, AppState};

/// The body of a file route: `multipart/form-data`, else 415.
pub(crate) struct FormBody(Multipart);

impl FromRequest<AppState> for FormBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("multipart/form-data"));
        if !is_form {
            return Err(ApiError::UnsupportedMediaType(
                "Content-Type must be multipart/form-data".to_owned(),
            ));
        }
        Multipart::from_request(req, state)
            .await
            .map(Self)
            .map_err(|e| {
                ApiError::bad_request(format!("malformed multipart body: {}", e.body_text()))
            })
    }
}

/// A form read whole: the payload, and the files already in the store (their keys reserved,
/// their rows not yet written).
pub(crate) struct Form {
    pub payload: Map<String, Value>,
    pub files: Vec<StoredFile>,
}

impl Form {
    pub(crate) fn keys(&self) -> Vec<String> {
        self.files.iter().map(|f| f.file_path.clone()).collect()
    }
}

/// Reads the form, uploading each file as it comes. `check` validates the payload as soon as
/// it is read, so a bad payload sent first costs no upload. On any error the files uploaded so
/// far are discarded before returning.
pub(crate) async fn read_form(
    state: &AppState,
    store: &FileStore,
    organization_id: &str,
    FormBody(multipart): FormBody,
    check: impl Fn(&Map<String, Value>) -> Result<(), ApiError>,
) -> Result<Form, ApiError> {
    let mut files = Vec::new();
    match read_parts(state, store, organization_id, multipart, &check, &mut files).await {
        Ok(payload) => Ok(Form { payload, files }),
        Err(e) => {
            let keys: Vec<String> = files.into_iter().map(|f| f.file_path).collect();
            store.discard(&state.pool, &keys).await;
            Err(e)
        }
    }
}

async fn read_parts(
    state: &AppState,
    store: &FileStore,
    organization_id: &str,
    mut multipart: Multipart,
    check: &impl Fn(&Map<String, Value>) -> Result<(), ApiError>,
    files: &mut Vec<StoredFile>,
) -> Result<Map<String, Value>, ApiError> {
    let max_files = store.config().max_files;
    let mut payload = None;
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("payload") => {
                if payload.is_some() {
                    return Err(ApiError::bad_request("payload must be given once"));
                }
                let limit = state.config().body_limit;
                let mut bytes = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    if bytes.len() + chunk.len() > limit {
                        return Err(ApiError::PayloadTooLarge(format!(
                            "payload is larger than {limit} bytes"
                        )));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                let map = parse_payload(&bytes)?;
                check(&map)?;
                payload = Some(map);
            }
            Some("files" | "files[]") => {
                if files.len() == max_files {
                    return Err(ApiError::PayloadTooLarge(format!(
                        "too many files: at most {max_files} files a request"
                    )));
                }
                let name = field.file_name().map(str::to_owned);
                let content_type = field.content_type().map(str::to_owned);
                let stored = store
                    .upload(
                        &state.pool,
                        NewFile {
                            organization_id,
                            name: name.as_deref().unwrap_or_default(),
                            content_type: content_type.as_deref(),
                        },
                        field,
                    )
                    .await
                    .map_err(|e| match e {
                        UploadError::TooLarge { limit } => ApiError::PayloadTooLarge(format!(
                            "file {} is larger than the limit of {limit} bytes",
                            scheduler_files::display_name(name.as_deref().unwrap_or_default())
                        )),
                        UploadError::Body(e) => multipart_error(e),
                        UploadError::Store(e) => e.into(),
                    })?;
                // A browser form with no file chosen sends an empty part without a name.
                if stored.size == 0 && name.as_deref().is_none_or(str::is_empty) {
                    store
                        .discard(&state.pool, std::slice::from_ref(&stored.file_path))
                        .await;
                    continue;
                }
                files.push(stored);
            }
            // Unknown parts are ignored (skipped unread), like unknown JSON fields.
            _ => {}
        }
    }
    payload.ok_or_else(|| ApiError::bad_request("payload is required"))
}

fn multipart_error(e: MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge("request body is too large".to_owned())
    } else {
        ApiError::bad_request(format!("malformed multipart body: {}", e.body_text()))
    }
}
