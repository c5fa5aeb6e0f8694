//! Handlers. Each module is one group of routes; `lib.rs` wires the paths.

pub(crate) mod admin;
pub(crate) mod files;
pub(crate) mod operations;
pub(crate) mod schedulers;
pub(crate) mod secrets;

use axum::extract::State;
use axum::http::{header, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};

use crate::{ApiError, AppState, TENANT_PREFIXES};

/// The path parameters every tenant route has, for the OpenAPI document (the handlers read
/// them through the `Tenant` extractor).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct TenantPath {
    /// Organization id
    organization_id: String,
    /// User id
    user_id: String,
}

/// The optional headers every tenant route checks against its path, for the OpenAPI document.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub(crate) struct TenantHeaders {
    /// Must equal the path's organization_id when given
    #[param(rename = "x-organization-id")]
    x_organization_id: Option<String>,
    /// Must equal the path's user_id when given
    #[param(rename = "x-user-id")]
    x_user_id: Option<String>,
}

/// `GET /openapi.json`: the OpenAPI 3 document of every route, generated from the code.
pub(crate) async fn openapi_json(State(state): State<AppState>) -> Response {
    let mut response = axum::Json(state.openapi.as_ref().clone()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// Unknown routes. A tenant path with an empty segment (`/organization//users/...`,
/// `.../schedulers/`) gets the seed API's "`<param>` is required" instead of a bare 404.
pub(crate) async fn not_found(uri: Uri) -> ApiError {
    match missing_param(uri.path()) {
        Some(param) => ApiError::bad_request(format!("{param} is required")),
        None => ApiError::NotFound("Not found".to_owned()),
    }
}

/// Methods a route does not serve. `PUT .../schedulers/files` is the seed's update with files
/// without its id: `400 scheduler_id is required`, as the seed document answers.
pub(crate) async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    if method == Method::PUT && is_files_collection(uri.path()) {
        return ApiError::bad_request("scheduler_id is required");
    }
    ApiError::MethodNotAllowed("Method not allowed".to_owned())
}

/// `{prefix}/organization/{org}/users/{user}/schedulers/files`.
fn is_files_collection(path: &str) -> bool {
    let segs: Vec<&str> = path.split('/').collect();
    segs.len() == 8
        && TENANT_PREFIXES.contains(&format!("/{}", segs[1]).as_str())
        && segs[2] == "organization"
        && segs[4] == "users"
        && segs[6] == "schedulers"
        && segs[7] == "files"
}

fn missing_param(path: &str) -> Option<&'static str> {
    let segs: Vec<&str> = path.split('/').collect();
    // ["", "3rd", "organization", org, "users", user, "schedulers", id, ...]
    let prefix = format!("/{}", segs.get(1)?);
    if !TENANT_PREFIXES.contains(&prefix.as_str()) || segs.get(2) != Some(&"organization") {
        return None;
    }
    if segs.get(3).is_some_and(|s| s.is_empty()) {
        return Some("organization_id");
    }
    if segs.get(4) != Some(&"users") {
        return None;
    }
    if segs.get(5).is_some_and(|s| s.is_empty()) {
        return Some("user_id");
    }
    if segs.get(6) != Some(&"schedulers") {
        return None;
    }
    if segs.get(7).is_some_and(|s| s.is_empty()) {
        return Some("scheduler_id");
    }
    // `.../schedulers/files/` (update with files) and `.../schedulers/{id}/files/` (get a file).
    if segs.len() == 9 && segs[7] == "files" && segs[8].is_empty() {
        return Some("scheduler_id");
    }
    if segs.get(8) == Some(&"files") && segs.get(9).is_some_and(|s| s.is_empty()) {
        return Some("file_id");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::missing_param;

    #[test]
    fn the_files_collection() {
        assert!(super::is_files_collection(
            "/3rd/organization/o/users/u/schedulers/files"
        ));
        assert!(super::is_files_collection(
            "/v1/organization/o/users/u/schedulers/files"
        ));
        assert!(!super::is_files_collection(
            "/v1/organization/o/users/u/schedulers/x"
        ));
        assert!(!super::is_files_collection(
            "/admin/organization/o/users/u/schedulers/files"
        ));
    }

    #[test]
    fn names_the_empty_segment() {
        assert_eq!(
            missing_param("/3rd/organization//users/u/schedulers"),
            Some("organization_id")
        );
        assert_eq!(
            missing_param("/v1/organization/o/users//schedulers"),
            Some("user_id")
        );
        assert_eq!(
            missing_param("/3rd/organization/o/users/u/schedulers/"),
            Some("scheduler_id")
        );
        assert_eq!(
            missing_param("/3rd/organization/o/users/u/schedulers//run"),
            Some("scheduler_id")
        );
        assert_eq!(
            missing_param("/3rd/organization/o/users/u/schedulers/x/nope"),
            None
        );
        assert_eq!(
            missing_param("/3rd/organization/o/users/u/schedulers/files/"),
            Some("scheduler_id")
        );
        assert_eq!(
            missing_param("/3rd/organization/o/users/u/schedulers/x/files/"),
            Some("file_id")
        );
        assert_eq!(
            missing_param("/3rd/organization/o/users/u/schedulers/x/files/y"),
            None
        );
        assert_eq!(missing_param("/nope"), None);
        assert_eq!(missing_param("/"), None);
    }
}
