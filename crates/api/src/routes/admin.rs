//! `/admin/...`: organizations, users and API tokens, for operators holding `ADMIN_TOKEN`.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Admin;
use crate::body::JsonBody;
use crate::document::MessageBody;
use crate::error::ErrorBody;
use crate::{format_time, ApiError, AppState};

/// The path parameters, with a rejection that is a `{"message"}`.
pub(crate) struct PathParams(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for PathParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("invalid path: {}", e.body_text())))?;
        Ok(Self(params))
    }
}

impl PathParams {
    pub(crate) fn get(&self, name: &str) -> Result<&str, ApiError> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::bad_request(format!("{name} is required")))
    }
}

pub(crate) fn check_id(field: &str, id: &str) -> Result<(), ApiError> {
    scheduler_core::validate_tenant_id(field, id).map_err(|e| ApiError::bad_request(e.message))
}

fn body_id(doc: &Map<String, Value>, field: &str) -> Result<String, ApiError> {
    match doc.get(field) {
        None | Some(Value::Null) => Err(ApiError::bad_request(format!("{field} is required"))),
        Some(Value::String(s)) => {
            check_id(field, s)?;
            Ok(s.clone())
        }
        Some(_) => Err(ApiError::bad_request(format!("{field} must be a string"))),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationCreated {
    pub organization_id: String,
    /// False when it existed already (the call is idempotent).
    pub created: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserCreated {
    pub organization_id: String,
    pub user_id: String,
    pub created: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenCreated {
    pub id: String,
    pub organization_id: String,
    /// The token itself, shown this once; only its hash is stored.
    #[schema(example = "api_2f576a7d-f7eb-4748-9ec0-b295d7204de1")]
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenSummary {
    pub id: String,
    pub organization_id: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    pub data: Vec<TokenSummary>,
}

fn created_status(created: bool) -> StatusCode {
    if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

#[utoipa::path(
    post,
    path = "/admin/organizations",
    tag = "admin",
    summary = "Create an organization (idempotent)",
    request_body(content = Object, content_type = "application/json", description = r#"{"organization_id": "org_imbrace"}"#),
    security(("admin_token" = [])),
    responses(
        (status = 201, description = "Created", body = OrganizationCreated),
        (status = 200, description = "Existed already", body = OrganizationCreated),
        (status = 400, description = "Bad organization_id", body = ErrorBody),
        (status = 401, description = "Missing or wrong x-admin-token", body = ErrorBody),
        (status = 404, description = "The admin API is off (no ADMIN_TOKEN configured)", body = ErrorBody),
    )
)]
pub(crate) async fn create_organization(
    _admin: Admin,
    State(state): State<AppState>,
    body: JsonBody,
) -> Result<(StatusCode, Json<OrganizationCreated>), ApiError> {
    let doc = body.object()?;
    let organization_id = body_id(&doc, "organization_id")?;
    let created =
        scheduler_store::tenancy::ensure_organization(&state.pool, &organization_id).await?;
    tracing::info!(%organization_id, created, "admin: organization");
    Ok((
        created_status(created),
        Json(OrganizationCreated {
            organization_id,
            created,
        }),
    ))
}

#[utoipa::path(
    post,
    path = "/admin/organizations/{organization_id}/users",
    tag = "admin",
    summary = "Register a user in an organization (created on first use; idempotent)",
    params(("organization_id" = String, Path, description = "Organization id")),
    request_body(content = Object, content_type = "application/json", description = r#"{"user_id": "u_imbrace_agent1"}"#),
    security(("admin_token" = [])),
    responses(
        (status = 201, description = "Created", body = UserCreated),
        (status = 200, description = "Existed already", body = UserCreated),
        (status = 400, description = "Bad organization_id or user_id", body = ErrorBody),
        (status = 401, description = "Missing or wrong x-admin-token", body = ErrorBody),
        (status = 404, description = "The admin API is off", body = ErrorBody),
    )
)]
pub(crate) async fn create_user(
    _admin: Admin,
    State(state): State<AppState>,
    path: PathParams,
    body: JsonBody,
) -> Result<(StatusCode, Json<UserCreated>), ApiError> {
    let organization_id = path.get("organization_id")?.to_owned();
    check_id("organization_id", &organization_id)?;
    let doc = body.object()?;
    let user_id = body_id(&doc, "user_id")?;
    let created =
        scheduler_store::tenancy::ensure_user(&state.pool, &organization_id, &user_id).await?;
    tracing::info!(%organization_id, %user_id, created, "admin: user");
    Ok((
        created_status(created),
        Json(UserCreated {
            organization_id,
            user_id,
            created,
        }),
    ))
}

#[utoipa::path(
    post,
    path = "/admin/organizations/{organization_id}/tokens",
    tag = "admin",
    summary = "Issue an API token for an organization (created on first use)",
    params(("organization_id" = String, Path, description = "Organization id")),
    security(("admin_token" = [])),
    responses(
        (status = 201, description = "The token, shown once", body = TokenCreated),
        (status = 400, description = "Bad organization_id", body = ErrorBody),
        (status = 401, description = "Missing or wrong x-admin-token", body = ErrorBody),
        (status = 404, description = "The admin API is off", body = ErrorBody),
    )
)]
pub(crate) async fn create_token(
    _admin: Admin,
    State(state): State<AppState>,
    path: PathParams,
) -> Result<(StatusCode, Json<TokenCreated>), ApiError> {
    let organization_id = path.get("organization_id")?.to_owned();
    check_id("organization_id", &organization_id)?;
    let issued = scheduler_store::tenancy::issue_token(&state.pool, &organization_id).await?;
    tracing::info!(%organization_id, token_id = %issued.id, "admin: token issued");
    Ok((
        StatusCode::CREATED,
        Json(TokenCreated {
            id: issued.id.to_string(),
            organization_id,
            token: issued.token,
        }),
    ))
}

#[utoipa::path(
    get,
    path = "/admin/organizations/{organization_id}/tokens",
    tag = "admin",
    summary = "List an organization's tokens (ids and dates, never the tokens)",
    params(("organization_id" = String, Path, description = "Organization id")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The tokens", body = TokenList),
        (status = 401, description = "Missing or wrong x-admin-token", body = ErrorBody),
        (status = 404, description = "Organization not found, or the admin API is off", body = ErrorBody),
    )
)]
pub(crate) async fn list_tokens(
    _admin: Admin,
    State(state): State<AppState>,
    path: PathParams,
) -> Result<Json<TokenList>, ApiError> {
    let organization_id = path.get("organization_id")?;
    check_id("organization_id", organization_id)?;
    if !scheduler_store::tenancy::organization_exists(&state.pool, organization_id).await? {
        return Err(ApiError::NotFound("Organization not found".to_owned()));
    }
    let tokens = scheduler_store::tenancy::list_tokens(&state.pool, organization_id).await?;
    Ok(Json(TokenList {
        data: tokens
            .into_iter()
            .map(|t| TokenSummary {
                id: t.id.to_string(),
                organization_id: t.organization_id,
                created_at: format_time(t.created_at),
                revoked_at: t.revoked_at.map(format_time),
            })
            .collect(),
    }))
}

#[utoipa::path(
    delete,
    path = "/admin/organizations/{organization_id}/tokens/{token_id}",
    tag = "admin",
    summary = "Revoke a token (idempotent)",
    params(
        ("organization_id" = String, Path, description = "Organization id"),
        ("token_id" = String, Path, description = "The token's id (not the token)"),
    ),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Revoked", body = MessageBody),
        (status = 401, description = "Missing or wrong x-admin-token", body = ErrorBody),
        (status = 404, description = "Token not found in this organization, or the admin API is off", body = ErrorBody),
    )
)]
pub(crate) async fn revoke_token(
    _admin: Admin,
    State(state): State<AppState>,
    path: PathParams,
) -> Result<Json<MessageBody>, ApiError> {
    let organization_id = path.get("organization_id")?;
    check_id("organization_id", organization_id)?;
    let not_found = || ApiError::NotFound("Token not found".to_owned());
    let token_id = Uuid::parse_str(path.get("token_id")?).map_err(|_| not_found())?;
    let tokens = scheduler_store::tenancy::list_tokens(&state.pool, organization_id).await?;
    let token = tokens
        .iter()
        .find(|t| t.id == token_id)
        .ok_or_else(not_found)?;
    if token.revoked_at.is_none() {
        match scheduler_store::tenancy::revoke_token(&state.pool, token_id).await {
            // Revoked concurrently: the outcome the caller asked for.
            Ok(()) | Err(scheduler_store::StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        tracing::info!(%organization_id, %token_id, "admin: token revoked");
    }
    Ok(Json(MessageBody {
        message: format!("token {token_id} is revoked"),
    }))
}
