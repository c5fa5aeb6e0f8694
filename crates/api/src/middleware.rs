//! The layer around every request: request id, tracing span, panic guard, and the last
//! check that an error response is JSON.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::FutureExt as _;
use tracing::Instrument as _;

use crate::ApiError;

pub(crate) const REQUEST_ID: &str = "x-request-id";

/// A client's request id is echoed when it is short and plain (it ends up in logs and headers);
/// otherwise a fresh UUID stands in.
fn sane_request_id(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/' | b'+' | b'=')
        });
    ok.then(|| s.to_owned())
}

pub(crate) async fn request_context(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(sane_request_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let span = tracing::info_span!(
        "http_request",
        request_id = %id,
        method = %req.method(),
        route = %route,
        status = tracing::field::Empty,
    );
    async move {
        let started = Instant::now();
        let response = match AssertUnwindSafe(next.run(req)).catch_unwind().await {
            Ok(response) => json_errors(response),
            Err(panic) => {
                let detail = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".to_owned());
                ApiError::internal(format!("handler panicked: {detail}")).into_response()
            }
        };
        let mut response = response;
        let status = response.status();
        tracing::Span::current().record("status", status.as_u16());
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), latency_ms, "request failed");
        } else {
            tracing::info!(status = status.as_u16(), latency_ms, "request");
        }
        if let Ok(v) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(REQUEST_ID, v);
        }
        response
    }
    .instrument(span)
    .await
}

/// Error responses not made by [`ApiError`] (axum's own: 405 without a body, a rejection
/// written as text) get a `{"message"}` body, so clients can rely on the shape. The console's
/// pages (HTML) keep theirs.
fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let kept = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if kept {
        return response;
    }
    let message = match status {
        StatusCode::INTERNAL_SERVER_ERROR => crate::error::INTERNAL.to_owned(),
        StatusCode::NOT_FOUND => "Not found".to_owned(),
        StatusCode::METHOD_NOT_ALLOWED => "Method not allowed".to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => "request body is too large".to_owned(),
        s => s.canonical_reason().unwrap_or("Error").to_owned(),
    };
    let (mut parts, _) = response.into_parts();
    let body = serde_json::json!({ "message": message }).to_string();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}
