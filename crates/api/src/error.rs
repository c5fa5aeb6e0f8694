//! The one error type of the HTTP layer, mapped once to a status and a `{"message"}` body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use scheduler_store::StoreError;
use serde::Serialize;

pub(crate) const SCHEDULER_NOT_FOUND: &str = "Scheduler not found";
pub(crate) const USER_NOT_FOUND: &str = "User not found";
pub(crate) const INTERNAL: &str = "Internal server error";

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for the client (never internal details).
    #[schema(example = "name is required")]
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or a value is invalid; the message names the field.
    #[error("{0}")]
    BadRequest(String),
    /// 401: missing, unknown or revoked token, or a token of another organization.
    #[error("Unauthorized")]
    Unauthorized,
    /// 404 with a message saying what was not found.
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 409: the change conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 503: a dependency the route needs is not configured or not answering.
    #[error("{0}")]
    ServiceUnavailable(String),
    /// 500: logged with its detail inside the request's span; the client sees a fixed message.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }

    pub(crate) fn scheduler_not_found() -> Self {
        Self::NotFound(SCHEDULER_NOT_FOUND.to_owned())
    }

    pub(crate) fn internal(detail: impl std::fmt::Display) -> Self {
        Self::Internal(detail.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Store errors that reach here unmapped are internal: a handler that expects `NotFound` or
/// `AlreadyExists` maps them itself, with the message that fits the route.
impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        Self::internal(err)
    }
}

/// Object store failures are internal: the client only learns that the request failed.
impl From<scheduler_files::FilesError> for ApiError {
    fn from(err: scheduler_files::FilesError) -> Self {
        Self::internal(err)
    }
}

impl From<scheduler_core::ValidationError> for ApiError {
    fn from(err: scheduler_core::ValidationError) -> Self {
        Self::BadRequest(err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match self {
            Self::Internal(detail) => {
                // Runs inside the request span, so the log line carries the request id.
                tracing::error!(error = %detail, "internal error");
                INTERNAL.to_owned()
            }
            Self::Unauthorized => "Unauthorized".to_owned(),
            Self::BadRequest(m)
            | Self::NotFound(m)
            | Self::MethodNotAllowed(m)
            | Self::Conflict(m)
            | Self::PayloadTooLarge(m)
            | Self::UnsupportedMediaType(m)
            | Self::ServiceUnavailable(m) => m,
        };
        (status, Json(ErrorBody { message })).into_response()
    }
}
