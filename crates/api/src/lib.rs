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
use axum::http::Method;
use axum::routing::{delete, get, post, put};
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

/// The routes of the API, each recorded as it is added, so the OpenAPI document can be checked
/// against what is really served ([`route_table`]). Add a route with [`Routes::add`] (never
/// `Router::route` directly) and document it; `openapi::tests` fails otherwise.
pub(crate) struct Routes {
    router: Router<AppState>,
    table: Vec<(Method, String)>,
}

impl Routes {
    fn new() -> Self {
        Self {
            router: Router::new(),
            table: Vec::new(),
        }
    }

    /// Serves `method` on `path` with `handler` (a method router for that one method, with its
    /// own layers if any).
    pub(crate) fn add(
        mut self,
        method: Method,
        path: &str,
        handler: axum::routing::MethodRouter<AppState>,
    ) -> Self {
        self.router = self.router.route(path, handler);
        self.table.push((method, path.to_owned()));
        self
    }
}

/// Every (method, path template) the API router serves, paths as OpenAPI writes them.
pub fn route_table() -> Vec<(Method, String)> {
    routes(0).table
}

/// The API router. The caller adds its own routes (health, metrics) and serves it.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.body_limit;
    // The multipart routes read up to every file at its limit plus the payload (itself bounded
    // by `body_limit`) and the framing; the 1 MiB JSON limit does not apply to them.
    let form_limit = state.files.as_ref().map_or(body_limit, |f| {
        f.config()
            .max_request_bytes(body_limit.saturating_add(FORM_SLACK))
    });
    routes(form_limit)
        .router
        .merge(console::router())
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(middleware::request_context))
        .with_state(state)
}

fn routes(form_limit: usize) -> Routes {
    let mut app = Routes::new();
    for prefix in TENANT_PREFIXES {
        let base =
            format!("{prefix}/organization/{{organization_id}}/users/{{user_id}}/schedulers");
        let one = format!("{base}/{{scheduler_id}}");
        app = app
            .add(Method::GET, &base, get(routes::schedulers::list))
            .add(Method::POST, &base, post(routes::schedulers::create))
            .add(Method::GET, &one, get(routes::schedulers::get_one))
            .add(Method::PUT, &one, put(routes::schedulers::update))
            .add(Method::DELETE, &one, delete(routes::schedulers::delete))
            .add(
                Method::GET,
                &format!("{one}/executions"),
                get(routes::schedulers::executions),
            )
            .add(
                Method::POST,
                &format!("{one}/run"),
                post(routes::schedulers::run),
            )
            .add(
                Method::GET,
                &format!("{one}/preview"),
                get(routes::schedulers::preview),
            )
            .add(
                Method::POST,
                &format!("{base}/preview"),
                post(routes::operations::preview_draft),
            )
            .add(
                Method::POST,
                &format!("{one}/fires/{{fire_id}}/redrive"),
                post(routes::operations::redrive),
            )
            .add(
                Method::POST,
                &format!("{base}/files"),
                post(routes::files::create_with_files).layer(DefaultBodyLimit::max(form_limit)),
            )
            .add(
                Method::PUT,
                &format!("{base}/files/{{scheduler_id}}"),
                put(routes::files::update_with_files).layer(DefaultBodyLimit::max(form_limit)),
            )
            .add(
                Method::GET,
                &format!("{one}/files/{{file_id}}"),
                get(routes::files::get_file),
            );
    }
    app = routes::secrets::routes(app);
    let org = "/admin/organizations/{organization_id}";
    app.add(
        Method::POST,
        "/admin/organizations",
        post(routes::admin::create_organization),
    )
    .add(
        Method::POST,
        &format!("{org}/users"),
        post(routes::admin::create_user),
    )
    .add(
        Method::POST,
        &format!("{org}/tokens"),
        post(routes::admin::create_token),
    )
    .add(
        Method::GET,
        &format!("{org}/tokens"),
        get(routes::admin::list_tokens),
    )
    .add(
        Method::DELETE,
        &format!("{org}/tokens/{{token_id}}"),
        delete(routes::admin::revoke_token),
    )
    .add(
        Method::GET,
        "/admin/runners",
        get(routes::operations::admin_runners),
    )
    .add(
        Method::GET,
        "/admin/stats",
        get(routes::operations::admin_stats),
    )
    .add(
        Method::POST,
        "/admin/dead-fires/redrive",
        post(routes::operations::admin_redrive_group),
    )
    .add(Method::GET, "/openapi.json", get(routes::openapi_json))
}
