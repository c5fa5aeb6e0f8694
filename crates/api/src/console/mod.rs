//! The operator console at `/ui`: server-rendered pages over the same logic as the JSON API.
//!
//! Sign-in exchanges an API token (the organization's schedulers) or `ADMIN_TOKEN` (every
//! organization, and the operations page) for a session cookie (`HttpOnly`, `SameSite=Strict`,
//! `Secure` behind https, 8 hours). Every state-changing request carries the session's CSRF
//! token (a form field, or `x-csrf-token` from the page's script) and, when the browser sends
//! one, an `Origin` of this host. Pages send a Content-Security-Policy that allows only this
//! origin's scripts and styles (no inline script). Every asset is compiled into the binary.

// Handlers answer with a page on both paths; a boxed error would only move the allocation.
#![allow(clippy::result_large_err)]

mod pages;
mod view;

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use rand::RngCore as _;
use scheduler_store::console::{self as store, SessionKind};
use scheduler_store::tenancy;
use secrecy::ExposeSecret as _;
use sha2::{Digest as _, Sha256};

use crate::auth::secrets_equal;
use crate::{ApiError, AppState};

pub(crate) const SESSION_COOKIE: &str = "scheduler_session";
const LOGIN_COOKIE: &str = "scheduler_login";
/// How long a session lasts (also the cookie's Max-Age).
const SESSION_SECS: i64 = 8 * 3600;

/// The console's routes, merged into the API router.
pub(crate) fn router() -> Router<AppState> {
    let user = "/ui/o/{organization_id}/u/{user_id}";
    let one = format!("{user}/s/{{scheduler_id}}");
    Router::new()
        .route("/ui", get(pages::home))
        .route("/ui/", get(pages::home))
        .route("/ui/login", get(pages::login_form).post(pages::login))
        .route("/ui/logout", post(pages::logout))
        .route("/ui/assets/{name}", get(asset))
        .route("/ui/operations", get(pages::operations))
        .route("/ui/operations/stats.json", get(pages::operations_stats))
        .route("/ui/operations/tables", get(pages::operations_tables))
        .route("/ui/operations/redrive-group", post(pages::redrive_group))
        .route("/ui/o/{organization_id}", get(pages::organization))
        .route(user, get(pages::list))
        .route(
            &format!("{user}/new"),
            get(pages::new_form).post(pages::create),
        )
        .route(&format!("{user}/preview"), post(pages::preview))
        .route(&one, get(pages::scheduler))
        .route(&format!("{one}/preview"), post(pages::preview_one))
        .route(&format!("{one}/history"), get(pages::history))
        .route(
            &format!("{one}/edit"),
            get(pages::edit_form).post(pages::edit),
        )
        .route(
            &format!("{one}/delete"),
            get(pages::delete_form).post(pages::delete),
        )
        .route(&format!("{one}/pause"), post(pages::pause))
        .route(&format!("{one}/resume"), post(pages::resume))
        .route(&format!("{one}/run"), post(pages::run))
        .route(
            &format!("{one}/fires/{{fire_id}}/redrive"),
            post(pages::redrive),
        )
        .route(&format!("{one}/files/{{file_id}}"), get(pages::file))
        .layer(axum::middleware::map_response(security_headers))
}

/// What every console response carries.
async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}

const ASSETS: [(&str, &str, &str); 4] = [
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("assets/console.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/console.js"),
    ),
    (
        "uplot.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/uplot.iife.min.js"),
    ),
    (
        "uplot.css",
        "text/css; charset=utf-8",
        include_str!("assets/uplot.min.css"),
    ),
];

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, body)) => (
            [
                (header::CONTENT_TYPE, *kind),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "Not found").into_response(),
    }
}

/// A signed-in console user.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// None: an operator, who sees every organization.
    pub organization_id: Option<String>,
    pub csrf: String,
}

impl Session {
    pub(crate) fn is_operator(&self) -> bool {
        self.organization_id.is_none()
    }

    /// Whether this session may see the organization (the same answer, "not found", for
    /// another organization's and for one that does not exist).
    pub(crate) fn sees(&self, organization_id: &str) -> bool {
        self.organization_id
            .as_deref()
            .is_none_or(|own| own == organization_id)
    }
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

fn sha256(s: &str) -> Vec<u8> {
    Sha256::digest(s.as_bytes()).to_vec()
}

pub(crate) fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Whether the request came over https (directly or through a proxy that says so).
fn https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

pub(crate) fn set_cookie(
    headers: &HeaderMap,
    name: &str,
    value: &str,
    max_age: i64,
) -> HeaderValue {
    let secure = if https(headers) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

async fn current(state: &AppState, headers: &HeaderMap) -> Result<Option<Session>, ApiError> {
    let Some(value) = cookie(headers, SESSION_COOKIE).filter(|v| v.len() == 64) else {
        return Ok(None);
    };
    let Some(s) = store::session(&state.pool, value, state.now()).await? else {
        return Ok(None);
    };
    let organization_id = match s.kind {
        SessionKind::Tenant {
            organization_id, ..
        } => Some(organization_id),
        SessionKind::Operator { admin_token_hash } => {
            // An operator session ends when ADMIN_TOKEN changes or is removed.
            let configured = state
                .config
                .admin_token
                .as_ref()
                .map(|t| sha256(t.expose_secret()));
            if configured.as_deref() != Some(admin_token_hash.as_slice()) {
                return Ok(None);
            }
            None
        }
    };
    Ok(Some(Session {
        organization_id,
        csrf: s.csrf_token,
    }))
}

/// Pages need a session: without one, the sign-in page (then back here).
impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match current(state, &parts.headers).await {
            Ok(Some(s)) => Ok(s),
            Ok(None) => {
                if parts.method == axum::http::Method::GET && !parts.uri.path().ends_with(".json") {
                    let next = parts
                        .uri
                        .path_and_query()
                        .map_or("/ui", |p| p.as_str())
                        .to_owned();
                    Err(
                        Redirect::to(&format!("/ui/login?next={}", view::enc(&next)))
                            .into_response(),
                    )
                } else {
                    Err(pages::error_page(None, &ApiError::Unauthorized))
                }
            }
            Err(e) => Err(pages::error_page(None, &e)),
        }
    }
}

/// The body of a state-changing request, once its CSRF token and origin were checked.
pub(crate) struct Checked(pub view::FormValues);

pub(crate) fn check_csrf(
    session: &Session,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Checked, Response> {
    let values = view::parse_form(body);
    let given = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .or_else(|| values.get("csrf").map(String::as_str))
        .unwrap_or("");
    if !same_origin(headers) || !secrets_equal(given, &session.csrf) {
        return Err(pages::error_page(
            Some(session),
            &ApiError::bad_request(
                "This form has expired or did not come from this console. Reload the page and try again.",
            ),
        ));
    }
    Ok(Checked(values))
}

/// A browser's `Origin` (when sent) must be this host.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest == host)
}

/// What a token given at sign-in is: ADMIN_TOKEN, a live API token, or neither.
pub(crate) async fn sign_in(
    state: &AppState,
    headers: &HeaderMap,
    token: &str,
) -> Result<Option<(HeaderValue, Session)>, ApiError> {
    let token = token.trim();
    if token.is_empty() || token.len() > 256 {
        return Ok(None);
    }
    let kind = match &state.config.admin_token {
        Some(admin)
            if !admin.expose_secret().is_empty() && secrets_equal(token, admin.expose_secret()) =>
        {
            SessionKind::Operator {
                admin_token_hash: sha256(token),
            }
        }
        _ => match store::token_identity(&state.pool, token).await? {
            Some((token_id, organization_id)) => SessionKind::Tenant {
                organization_id,
                token_id,
            },
            None => return Ok(None),
        },
    };
    let now = state.now();
    let value = random_token();
    let session = store::Session {
        kind: kind.clone(),
        csrf_token: random_token(),
        expires_at: now + chrono::TimeDelta::seconds(SESSION_SECS),
    };
    store::create_session(&state.pool, &value, &session, now).await?;
    let organization_id = match kind {
        SessionKind::Tenant {
            organization_id, ..
        } => Some(organization_id),
        SessionKind::Operator { .. } => None,
    };
    Ok(Some((
        set_cookie(headers, SESSION_COOKIE, &value, SESSION_SECS),
        Session {
            organization_id,
            csrf: session.csrf_token,
        },
    )))
}

pub(crate) async fn sign_out(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<HeaderValue, ApiError> {
    if let Some(value) = cookie(headers, SESSION_COOKIE) {
        store::delete_session(&state.pool, value).await?;
    }
    Ok(set_cookie(headers, SESSION_COOKIE, "", 0))
}

/// The login form's own CSRF defence (no session yet): a random value in a cookie and in the
/// form, which must match.
pub(crate) fn login_csrf(headers: &HeaderMap) -> (String, HeaderValue) {
    // The value the browser holds already is kept, so two tabs (or a reload racing a submit)
    // show forms that both work.
    let value = cookie(headers, LOGIN_COOKIE)
        .filter(|c| c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit()))
        .map_or_else(random_token, str::to_owned);
    (
        value.clone(),
        set_cookie(headers, LOGIN_COOKIE, &value, 3600),
    )
}

pub(crate) fn login_csrf_ok(headers: &HeaderMap, given: &str) -> bool {
    same_origin(headers)
        && cookie(headers, LOGIN_COOKIE).is_some_and(|c| !c.is_empty() && secrets_equal(c, given))
}

/// The organization and user of a page's path, once the session may see them; otherwise the
/// same "not found" whether the organization is another's or does not exist.
pub(crate) async fn scope(
    state: &AppState,
    session: &Session,
    params: &HashMap<String, String>,
) -> Result<(String, String), ApiError> {
    let org = params.get("organization_id").cloned().unwrap_or_default();
    let user = params.get("user_id").cloned().unwrap_or_default();
    let not_found = || ApiError::NotFound("Not found".to_owned());
    if !session.sees(&org)
        || user.chars().count() > 128
        || user.contains('\0')
        || org.contains('\0')
    {
        return Err(not_found());
    }
    if !tenancy::user_exists(&state.pool, &org, &user).await? {
        return Err(not_found());
    }
    Ok((org, user))
}
