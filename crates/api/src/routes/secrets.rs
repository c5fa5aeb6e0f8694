//! The organization's webhook signing secret: shown to the organization's own token
//! (`/3rd/organization/{organization_id}/webhook-secret`, also under `/v1`) and to operators
//! (`/admin/organizations/{organization_id}/webhook-secret`), and rotated with an overlap in
//! which deliveries carry the signatures of both the new and the replaced secret.

use axum::extract::State;
use axum::http::{header, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use chrono::TimeDelta;
use scheduler_store::secrets::{self, SecretView, DEFAULT_OVERLAP, MAX_OVERLAP};
use scheduler_store::StoreError;
use serde::Serialize;
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

use crate::auth::{Admin, OrganizationCaller};
use crate::body::OptionalJsonObject;
use crate::error::ErrorBody;
use crate::routes::admin::{check_id, PathParams};
use crate::{format_time, ApiError, AppState, Routes, TENANT_PREFIXES};

/// Adds the routes of this module to the API's.
pub(crate) fn routes(mut app: Routes) -> Routes {
    for prefix in TENANT_PREFIXES {
        let base = format!("{prefix}/organization/{{organization_id}}/webhook-secret");
        app = app.add(Method::GET, &base, get(get_secret)).add(
            Method::POST,
            &format!("{base}/rotate"),
            post(rotate_secret),
        );
    }
    let admin = "/admin/organizations/{organization_id}/webhook-secret";
    app.add(Method::GET, admin, get(admin_get_secret)).add(
        Method::POST,
        &format!("{admin}/rotate"),
        post(admin_rotate_secret),
    )
}

/// The OpenAPI entries of these routes (merged into the document in `openapi.rs`).
#[derive(OpenApi)]
#[openapi(
    paths(get_secret, rotate_secret, admin_get_secret, admin_rotate_secret),
    components(schemas(WebhookSecret, RotateRequest)),
    tags((name = "webhook-secret", description = "The organization's webhook signing secret (Standard Webhooks); also served under /v1/organization/..."))
)]
pub(crate) struct SecretsDoc;

/// An organization's signing secret, and the one it replaced while that still signs.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookSecret {
    pub organization_id: String,
    /// The current secret: `whsec_` + the base64 of the HMAC-SHA256 key (Standard Webhooks).
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
    /// When the current secret was made (the organization's creation or the last rotation).
    pub created_at: String,
    /// The secret the last rotation replaced, while deliveries are still signed with it too;
    /// null once its overlap has ended.
    pub previous_secret: Option<String>,
    /// When `previous_secret` stops signing.
    pub previous_expires_at: Option<String>,
}

/// The optional body of a rotation.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct RotateRequest {
    /// How long the replaced secret keeps signing deliveries, in seconds: 0 (at once, for a
    /// leaked secret) to 604800 (7 days); default 86400 (24 hours).
    #[schema(minimum = 0, maximum = 604800, default = 86400)]
    overlap_secs: Option<i64>,
}

fn view(v: SecretView) -> Response {
    let body = WebhookSecret {
        organization_id: v.organization_id,
        secret: v.secret,
        created_at: format_time(v.created_at),
        previous_secret: v.previous_secret,
        previous_expires_at: v.previous_expires_at.map(format_time),
    };
    let mut response = Json(body).into_response();
    // A secret must not linger in shared or browser caches.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The overlap a rotation asks for: `overlap_secs` from 0 to 7 days, default 24 hours. Any
/// other field is refused, so a misspelt one is not silently ignored.
fn overlap_of(body: OptionalJsonObject) -> Result<TimeDelta, ApiError> {
    let Some(doc) = body.0 else {
        return Ok(DEFAULT_OVERLAP);
    };
    if let Some(unknown) = doc.keys().find(|k| k.as_str() != "overlap_secs") {
        return Err(ApiError::bad_request(format!(
            "unknown field {unknown}: the body may only hold overlap_secs"
        )));
    }
    let max = MAX_OVERLAP.num_seconds();
    match doc.get("overlap_secs") {
        None | Some(Value::Null) => Ok(DEFAULT_OVERLAP),
        // A whole number, also when written as a float (`3600.0`), as JSON Schema's integer.
        Some(v) => crate::validate::whole_number(v, 0, max.unsigned_abs())
            .and_then(|s| i64::try_from(s).ok())
            .map(TimeDelta::seconds)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "overlap_secs must be a whole number of seconds from 0 to {max}"
                ))
            }),
    }
}

fn organization_error(err: StoreError) -> ApiError {
    match err {
        StoreError::NotFound => ApiError::NotFound("Organization not found".to_owned()),
        other => other.into(),
    }
}

async fn rotate(
    state: &AppState,
    organization_id: &str,
    overlap: TimeDelta,
    by: &str,
) -> Result<Response, ApiError> {
    let rotated = secrets::rotate(state.pool(), organization_id, overlap, state.now())
        .await
        .map_err(organization_error)?;
    tracing::info!(
        %organization_id,
        overlap_secs = overlap.num_seconds(),
        by,
        "webhook signing secret rotated"
    );
    Ok(view(rotated))
}

#[utoipa::path(
    get,
    path = "/3rd/organization/{organization_id}/webhook-secret",
    tag = "webhook-secret",
    summary = "The organization's webhook signing secret",
    description = "Every webhook delivery carries `webhook-id`, `webhook-timestamp` and `webhook-signature` (Standard Webhooks): `v1,<base64 HMAC-SHA256 of \"id.timestamp.body\">` keyed with the base64 after `whsec_`. During a rotation's overlap the header holds two space-separated signatures, one per secret.",
    params(
        ("organization_id" = String, Path, description = "Organization id"),
        ("x-organization-id" = Option<String>, Header, description = "Must equal the path's organization_id when given"),
    ),
    security(("access_token" = [])),
    responses(
        (status = 200, description = "The secret (and the replaced one during an overlap)", body = WebhookSecret),
        (status = 400, description = "x-organization-id does not match the path", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked token, or another organization's", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
    )
)]
pub(crate) async fn get_secret(
    caller: OrganizationCaller,
    State(state): State<AppState>,
) -> Result<Response, ApiError> {
    let v = secrets::get(state.pool(), &caller.organization_id, state.now())
        .await
        .map_err(organization_error)?;
    Ok(view(v))
}

#[utoipa::path(
    post,
    path = "/3rd/organization/{organization_id}/webhook-secret/rotate",
    tag = "webhook-secret",
    summary = "Replace the signing secret; the old one keeps signing for an overlap",
    description = "Makes a new secret at once. The replaced secret keeps signing deliveries (both signatures in `webhook-signature`) for `overlap_secs` (default 24 h, 0 to 7 days). At most two secrets are valid: rotating again during an overlap ends the older one at once and gives the secret being replaced a fresh overlap. The body is optional.",
    params(
        ("organization_id" = String, Path, description = "Organization id"),
        ("x-organization-id" = Option<String>, Header, description = "Must equal the path's organization_id when given"),
    ),
    request_body(content = RotateRequest, content_type = "application/json", description = "Optional"),
    security(("access_token" = [])),
    responses(
        (status = 200, description = "The new secret, with the replaced one and its end", body = WebhookSecret),
        (status = 400, description = "Bad overlap_secs, unknown field, or header mismatch", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked token, or another organization's", body = ErrorBody),
        (status = 415, description = "A body that is not JSON", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
    )
)]
pub(crate) async fn rotate_secret(
    caller: OrganizationCaller,
    State(state): State<AppState>,
    body: OptionalJsonObject,
) -> Result<Response, ApiError> {
    let overlap = overlap_of(body)?;
    rotate(&state, &caller.organization_id, overlap, "tenant").await
}

#[utoipa::path(
    get,
    path = "/admin/organizations/{organization_id}/webhook-secret",
    tag = "admin",
    summary = "An organization's webhook signing secret",
    params(("organization_id" = String, Path, description = "Organization id")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The secret (and the replaced one during an overlap)", body = WebhookSecret),
        (status = 400, description = "Bad organization_id", body = ErrorBody),
        (status = 401, description = "Missing or wrong x-admin-token", body = ErrorBody),
        (status = 404, description = "Organization not found, or the admin API is off", body = ErrorBody),
    )
)]
pub(crate) async fn admin_get_secret(
    _admin: Admin,
    State(state): State<AppState>,
    path: PathParams,
) -> Result<Response, ApiError> {
    let organization_id = path.get("organization_id")?;
    check_id("organization_id", organization_id)?;
    let v = secrets::get(state.pool(), organization_id, state.now())
        .await
        .map_err(organization_error)?;
    Ok(view(v))
}

#[utoipa::path(
    post,
    path = "/admin/organizations/{organization_id}/webhook-secret/rotate",
    tag = "admin",
    summary = "Replace an organization's signing secret (as the tenant route)",
    params(("organization_id" = String, Path, description = "Organization id")),
    request_body(content = RotateRequest, content_type = "application/json", description = "Optional"),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The new secret, with the replaced one and its end", body = WebhookSecret),
        (status = 400, description = "Bad organization_id or overlap_secs", body = ErrorBody),
        (status = 401, description = "Missing or wrong x-admin-token", body = ErrorBody),
        (status = 404, description = "Organization not found, or the admin API is off", body = ErrorBody),
        (status = 415, description = "A body that is not JSON", body = ErrorBody),
    )
)]
pub(crate) async fn admin_rotate_secret(
    _admin: Admin,
    State(state): State<AppState>,
    path: PathParams,
    body: OptionalJsonObject,
) -> Result<Response, ApiError> {
    let organization_id = path.get("organization_id")?.to_owned();
    check_id("organization_id", &organization_id)?;
    let overlap = overlap_of(body)?;
    rotate(&state, &organization_id, overlap, "admin").await
}
