//! The HTTP API of the scheduler service: the seed API's JSON routes (list, get, create, update,
//! delete) and multipart file routes (create and update with files, get a file) under
//! `/3rd/...` and `/v1/...`, the added `executions`, `run` and `preview` routes, the
//! `/admin/...` routes, and `/openapi.json`.
//!
//! Every response, errors included, is JSON; every error body is `{"message": ...}`
//! ([`error::ApiError`] is the one place statuses and messages are decided).

mod auth;
mod body;
mod console;
mod document;
mod error;
mod form;
mod middleware;
mod openapi;
mod query;
mod routes;
mod validate;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use axum::Router;
use chrono::{DateTime, SubsecRound as _, Utc};
use scheduler_files::FileStore;
use scheduler_store::PgPool;
use secrecy::SecretString;

pub use document::format_time;
pub use error::ApiError;

/// Where the API takes the current time from. Tests set it; production uses [`system_clock`].
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

#[derive(Clone)]
pub struct ApiConfig {
    /// The value the `x-admin-token` header must carry on `/admin/...` routes. `None` turns the
    /// admin routes off (they answer 404).
    pub admin_token: Option<SecretString>,
    /// Largest accepted JSON request body; larger ones are refused with 413.
    pub body_limit: usize,
    /// A scheduler created or changed to fire within this horizon wakes the runners with a
    /// `NOTIFY` (later ones are found by their regular poll).
    pub notify_horizon: Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            admin_token: None,
            body_limit: 1024 * 1024,
            notify_horizon: Duration::from_secs(5),
        }
    }
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "[redacted]"),
            )
            .field("body_limit", &self.body_limit)
            .field("notify_horizon", &self.notify_horizon)
            .finish()
    }
}

/// What every handler shares: the pool, the clock, the configuration and, when configured, the
/// attachment store.
#[derive(Clone)]
pub struct AppState {
    pool: PgPool,
    clock: Clock,
    config: Arc<ApiConfig>,
    openapi: Arc<serde_json::Value>,
    /// `None`: the file routes answer 503.
    files: Option<Arc<FileStore>>,
}

impl AppState {
    pub fn new(pool: PgPool, config: ApiConfig) -> Self {
        Self::with_clock(pool, config, system_clock())
    }

    pub fn with_clock(pool: PgPool, config: ApiConfig, clock: Clock) -> Self {
        Self {
            pool,
            clock,
            config: Arc::new(config),
            openapi: Arc::new(openapi::document()),
            files: None,
        }
    }

    /// Serves the file routes from this attachment store.
    #[must_use]
    pub fn with_files(mut self, files: Arc<FileStore>) -> Self {
        self.files = Some(files);
        self
    }

    pub fn files(&self) -> Option<&Arc<FileStore>> {
        self.files.as_ref()
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn config(&self) -> &ApiConfig {
        &self.config
    }

    /// The current time, truncated to the microsecond Postgres keeps, so a row read back equals
    /// the one written.
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)().trunc_subsecs(6)
    }
}

/// Room in a multipart request for the multipart framing and part headers.
const FORM_SLACK: usize = 64 * 1024;

/// The prefixes the tenant routes are served under (the seed document uses both).
pub(crate) const TENANT_PREFIXES: [&str; 2] = ["/3rd", "/v1"];

/// The API router. The caller adds its own routes (health, metrics) and serves it.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.body_limit;
    // The multipart routes read up to every file at its limit plus the payload (itself bounded
    // by `body_limit`) and the framing; the 1 MiB JSON limit does not apply to them.
    let form_limit = state.files.as_ref().map_or(body_limit, |f| {
        f.config()
            .max_request_bytes(body_limit.saturating_add(FORM_SLACK))
    });
    let mut app = Router::new();
    for prefix in TENANT_PREFIXES {
        let base =
            format!("{prefix}/organization/{{organization_id}}/users/{{user_id}}/schedulers");
        app = app
            .route(
                &base,
                get(routes::schedulers::list).post(routes::schedulers::create),
            )
            .route(
                &format!("{base}/{{scheduler_id}}"),
                get(routes::schedulers::get_one)
                    .put(routes::schedulers::update)
                    .delete(routes::schedulers::delete),
            )
            .route(
                &format!("{base}/{{scheduler_id}}/executions"),
                get(routes::schedulers::executions),
            )
            .route(
                &format!("{base}/{{scheduler_id}}/run"),
                post(routes::schedulers::run),
            )
            .route(
                &format!("{base}/{{scheduler_id}}/preview"),
                get(routes::schedulers::preview),
            )
            .route(
                &format!("{base}/preview"),
                post(routes::operations::preview_draft),
            )
            .route(
                &format!("{base}/{{scheduler_id}}/fires/{{fire_id}}/redrive"),
                post(routes::operations::redrive),
            )
            .route(
                &format!("{base}/files"),
                post(routes::files::create_with_files).layer(DefaultBodyLimit::max(form_limit)),
            )
            .route(
                &format!("{base}/files/{{scheduler_id}}"),
                put(routes::files::update_with_files).layer(DefaultBodyLimit::max(form_limit)),
            )
            .route(
                &format!("{base}/{{scheduler_id}}/files/{{file_id}}"),
                get(routes::files::get_file),
            );
    }
    app = app.merge(routes::secrets::router());
    app.route(
        "/admin/organizations",
        post(routes::admin::create_organization),
    )
    .route(
        "/admin/organizations/{organization_id}/users",
        post(routes::admin::create_user),
    )
    .route(
        "/admin/organizations/{organization_id}/tokens",
        post(routes::admin::create_token).get(routes::admin::list_tokens),
    )
    .route(
        "/admin/organizations/{organization_id}/tokens/{token_id}",
        axum::routing::delete(routes::admin::revoke_token),
    )
    .route("/admin/runners", get(routes::operations::admin_runners))
    .route("/admin/stats", get(routes::operations::admin_stats))
    .route(
        "/admin/dead-fires/redrive",
        post(routes::operations::admin_redrive_group),
    )
    .route("/openapi.json", get(routes::openapi_json))
    .merge(console::router())
    .fallback(routes::not_found)
    .method_not_allowed_fallback(routes::method_not_allowed)
    .layer(DefaultBodyLimit::max(body_limit))
    .layer(axum::middleware::from_fn(middleware::request_context))
    .with_state(state)
}
