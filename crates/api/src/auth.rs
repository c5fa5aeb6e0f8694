//! Who is asking: the tenant extractor of the `/3rd` and `/v1` routes, and the admin guard.
//!
//! Order of the tenant checks (each stops the request): the token must be live and issued for
//! the path's organization (401), the optional `x-organization-id`/`x-user-id` headers must
//! equal the path (400), the path's user must be registered in the organization (404). So an
//! organization's token learns nothing about another organization, not even whether its users
//! exist.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use scheduler_core::SchedulerId;
use scheduler_store::schedulers::Owner;
use scheduler_store::tenancy;
use secrecy::ExposeSecret as _;

use crate::error::USER_NOT_FOUND;
use crate::{ApiError, AppState};

pub(crate) const ACCESS_TOKEN: &str = "x-access-token";
pub(crate) const ORGANIZATION_HEADER: &str = "x-organization-id";
pub(crate) const USER_HEADER: &str = "x-user-id";
pub(crate) const ADMIN_TOKEN: &str = "x-admin-token";

/// Tokens are `api_<uuid>` (40 characters); anything much longer is not one of ours and is
/// refused without a database round trip.
const MAX_TOKEN_LEN: usize = 256;

/// An authenticated caller of a tenant route, with the path parameters.
#[derive(Debug, Clone)]
pub(crate) struct Tenant {
    pub organization_id: String,
    pub user_id: String,
    params: HashMap<String, String>,
}

impl Tenant {
    pub(crate) fn owner(&self) -> Owner<'_> {
        Owner {
            organization_id: &self.organization_id,
            user_id: &self.user_id,
        }
    }

    /// A path parameter as given (percent-decoded).
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// The `{scheduler_id}` of the path. A malformed id cannot name a scheduler: 404, as for
    /// one that does not exist.
    pub(crate) fn scheduler_id(&self) -> Result<SchedulerId, ApiError> {
        self.params
            .get("scheduler_id")
            .and_then(|s| SchedulerId::parse(s).ok())
            .ok_or_else(ApiError::scheduler_not_found)
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<Result<&'a str, ()>> {
    headers.get(name).map(|v| v.to_str().map_err(|_| ()))
}

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("invalid path: {}", e.body_text())))?;
        let organization_id = params
            .get("organization_id")
            .filter(|s| !s.is_empty())
            .cloned()
            .ok_or_else(|| ApiError::bad_request("organization_id is required"))?;
        let user_id = params
            .get("user_id")
            .filter(|s| !s.is_empty())
            .cloned()
            .ok_or_else(|| ApiError::bad_request("user_id is required"))?;

        let token = match header(&parts.headers, ACCESS_TOKEN) {
            Some(Ok(t)) if !t.is_empty() && t.len() <= MAX_TOKEN_LEN => t,
            _ => return Err(ApiError::Unauthorized),
        };
        // Ids the users table cannot hold (its CHECK allows 1 to 128 characters; Postgres text
        // no NUL) name no user, and must not reach the query.
        let storable = user_id.chars().count() <= 128 && !user_id.contains('\0');
        let lookup_user = if storable { user_id.as_str() } else { "" };
        // The token's organization and the user's existence in it, in one round trip; the
        // checks below still answer in the documented order (401, then 400, then 404).
        let (token_org, user_known) =
            match tenancy::authenticate_user(&state.pool, token, lookup_user).await? {
                Some((org, known)) => (Some(org), storable && known),
                None => (None, false),
            };
        if token_org.as_deref() != Some(organization_id.as_str()) {
            return Err(ApiError::Unauthorized);
        }

        if let Some(given) = header(&parts.headers, ORGANIZATION_HEADER) {
            if given != Ok(organization_id.as_str()) {
                return Err(ApiError::bad_request(
                    "x-organization-id does not match the path",
                ));
            }
        }
        if let Some(given) = header(&parts.headers, USER_HEADER) {
            if given != Ok(user_id.as_str()) {
                return Err(ApiError::bad_request("x-user-id does not match the path"));
            }
        }

        if !user_known {
            return Err(ApiError::NotFound(USER_NOT_FOUND.to_owned()));
        }
        Ok(Self {
            organization_id,
            user_id,
            params,
        })
    }
}

/// An authenticated caller of an organization-level route (`/3rd/organization/{organization_id}/
/// ...` without a user): the token must be live and the path's organization's (else 401), and
/// `x-organization-id`, when given, must equal the path (else 400).
#[derive(Debug, Clone)]
pub(crate) struct OrganizationCaller {
    pub organization_id: String,
}

impl FromRequestParts<AppState> for OrganizationCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("invalid path: {}", e.body_text())))?;
        let organization_id = params
            .get("organization_id")
            .filter(|s| !s.is_empty())
            .cloned()
            .ok_or_else(|| ApiError::bad_request("organization_id is required"))?;
        let token = match header(&parts.headers, ACCESS_TOKEN) {
            Some(Ok(t)) if !t.is_empty() && t.len() <= MAX_TOKEN_LEN => t,
            _ => return Err(ApiError::Unauthorized),
        };
        let token_org = tenancy::authenticate(&state.pool, token).await?;
        if token_org.as_deref() != Some(organization_id.as_str()) {
            return Err(ApiError::Unauthorized);
        }
        if let Some(given) = header(&parts.headers, ORGANIZATION_HEADER) {
            if given != Ok(organization_id.as_str()) {
                return Err(ApiError::bad_request(
                    "x-organization-id does not match the path",
                ));
            }
        }
        Ok(Self { organization_id })
    }
}

/// A caller of the `/admin/...` routes: the `x-admin-token` header equals the configured
/// admin token. With no admin token configured the admin API does not exist (404).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(expected) = &state.config.admin_token else {
            return Err(ApiError::NotFound("Not found".to_owned()));
        };
        let expected = expected.expose_secret();
        match header(&parts.headers, ADMIN_TOKEN) {
            Some(Ok(given)) if !expected.is_empty() && constant_time_eq(given, expected) => {
                Ok(Self)
            }
            _ => Err(ApiError::Unauthorized),
        }
    }
}

/// Compares without an early exit on the first differing byte, so response times do not
/// reveal how much of a guess was right.
fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

impl Tenant {
    /// The tenant a console page acts as, once the console checked its session may see the
    /// organization and that the user exists there.
    pub(crate) fn for_console(
        organization_id: &str,
        user_id: &str,
        params: HashMap<String, String>,
    ) -> Self {
        Self {
            organization_id: organization_id.to_owned(),
            user_id: user_id.to_owned(),
            params,
        }
    }
}

/// Compares two secrets without an early exit (for the console's token and CSRF checks).
pub(crate) fn secrets_equal(a: &str, b: &str) -> bool {
    constant_time_eq(a, b)
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn compares_whole_strings() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
        assert!(!constant_time_eq("", "a"));
        assert!(constant_time_eq("", ""));
    }
}
