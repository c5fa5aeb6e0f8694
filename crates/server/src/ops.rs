//! Operations endpoints: `/healthz` (alive), `/readyz` (dependencies reachable) and `/metrics`
//! (Prometheus text), plus the HTTP request metrics middleware.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use scheduler_store::PgPool;

/// A readiness check of one dependency beyond Postgres (e.g. the Kafka broker).
pub type ReadinessCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

type DurationFamily = Family<HttpLabels, Histogram, fn() -> Histogram>;

/// HTTP request counters and durations, by method, matched route and status.
#[derive(Clone)]
pub struct HttpMetrics {
    requests: Family<HttpLabels, Counter>,
    duration: DurationFamily,
}

fn http_histogram() -> Histogram {
    Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

impl HttpMetrics {
    pub fn new(registry: &mut Registry) -> Self {
        let this = Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(http_histogram),
        };
        let r = registry.sub_registry_with_prefix("scheduler");
        r.register(
            "http_requests",
            "HTTP requests answered, by method, route and status",
            this.requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "HTTP request durations, by method, route and status",
            this.duration.clone(),
        );
        this
    }
}

/// Middleware recording every request. The route label is the matched route template (never
/// the raw path, whose ids would explode the label set); unmatched requests are "unmatched".
pub async fn track_http(State(m): State<HttpMetrics>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    let labels = HttpLabels {
        method,
        route,
        status: response.status().as_u16(),
    };
    m.requests.get_or_create(&labels).inc();
    m.duration
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Connection pool gauges, read at each scrape.
#[derive(Clone, Default)]
struct PoolGauges {
    size: Gauge,
    idle: Gauge,
}

#[derive(Clone)]
pub struct Ops {
    pool: PgPool,
    registry: Arc<Registry>,
    pool_gauges: PoolGauges,
    extra_readiness: Vec<(&'static str, ReadinessCheck)>,
}

impl Ops {
    /// `registry` already holds the metrics of the roles this process runs.
    pub fn new(
        pool: PgPool,
        mut registry: Registry,
        extra_readiness: Vec<(&'static str, ReadinessCheck)>,
    ) -> Self {
        let pool_gauges = PoolGauges::default();
        let r = registry.sub_registry_with_prefix("scheduler");
        r.register(
            "db_pool_connections",
            "Open database connections in the pool",
            pool_gauges.size.clone(),
        );
        r.register(
            "db_pool_idle_connections",
            "Idle database connections in the pool",
            pool_gauges.idle.clone(),
        );
        Self {
            pool,
            registry: Arc::new(registry),
            pool_gauges,
            extra_readiness,
        }
    }

    pub fn routes(self) -> Router {
        Router::new()
            .route(
                "/healthz",
                get(|| async { Json(serde_json::json!({"status": "ok"})) }),
            )
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .with_state(self)
    }
}

async fn readyz(State(ops): State<Ops>) -> (StatusCode, Json<serde_json::Value>) {
    let timeout = Duration::from_secs(2);
    let db = tokio::time::timeout(timeout, scheduler_store::ping(&ops.pool)).await;
    if !matches!(db, Ok(true)) {
        return unavailable("database unreachable".to_owned());
    }
    for (name, check) in &ops.extra_readiness {
        match tokio::time::timeout(timeout, check()).await {
            Ok(Ok(())) => {}
            Ok(Err(why)) => return unavailable(format!("{name} unreachable: {why}")),
            Err(_) => return unavailable(format!("{name} unreachable: timed out")),
        }
    }
    (StatusCode::OK, Json(serde_json::json!({"status": "ready"})))
}

fn unavailable(message: String) -> (StatusCode, Json<serde_json::Value>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({ "message": message })),
    )
}

async fn metrics(State(ops): State<Ops>) -> Response {
    ops.pool_gauges.size.set(i64::from(ops.pool.size()));
    ops.pool_gauges
        .idle
        .set(i64::try_from(ops.pool.num_idle()).unwrap_or(i64::MAX));
    let mut body = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut body, &ops.registry) {
        tracing::error!(error = %e, "encoding metrics failed");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
