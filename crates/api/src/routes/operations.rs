//! The second-wave routes: preview of an unsaved document and redrive of a dead fire (tenant),
//! runners alive, delivery statistics and dead fires by error (admin). The console shows the
//! same figures; these routes make them usable without it.

use axum::extract::{RawQuery, State};
use axum::Json;
use chrono::{DateTime, Utc};
use scheduler_store::operations::{self, Redrive};
use scheduler_store::{runners, schedulers};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Admin, Tenant};
use crate::body::JsonBody;
use crate::document::{FireItem, Preview};
use crate::error::ErrorBody;
use crate::query::Params;
use crate::routes::schedulers::{new_scheduler, scheduler_error};
use crate::routes::{TenantHeaders, TenantPath};
use crate::{format_time, ApiError, AppState};

/// The OpenAPI part of these routes, merged into the document by `openapi::document`.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        preview_draft,
        redrive,
        admin_runners,
        admin_stats,
        admin_redrive_group
    ),
    components(schemas(
        RunnerItem,
        RunnerList,
        MinuteItem,
        BacklogItem,
        DeadGroupItem,
        DeliveryStats,
        GroupRedriven
    ))
)]
pub(crate) struct OperationsDoc;

/// The next `count` fires of an unsaved document, validated as a create is; nothing stored.
pub(crate) fn preview_document(
    tenant: &Tenant,
    doc: &serde_json::Map<String, serde_json::Value>,
    now: DateTime<Utc>,
    count: usize,
) -> Result<Vec<DateTime<Utc>>, ApiError> {
    Ok(preview_of_document(tenant, doc, now, count)?.data_instants)
}

/// As [`preview_document`], with the planned delivery of each slot.
pub(crate) struct DocumentPreview {
    pub data_instants: Vec<DateTime<Utc>>,
    pub preview: Preview,
}

pub(crate) fn preview_of_document(
    tenant: &Tenant,
    doc: &serde_json::Map<String, serde_json::Value>,
    now: DateTime<Utc>,
    count: usize,
) -> Result<DocumentPreview, ApiError> {
    let record = new_scheduler(tenant, doc, now)?;
    let schedule = record.schedule()?;
    let slots = if record.is_finished {
        Vec::new()
    } else {
        schedule.upcoming(record.next_fire_at.unwrap_or(now), 0, count)
    };
    // No id yet: the flexible offset is only known once the scheduler is created.
    let preview = Preview::new(&schedule, None, slots.clone());
    Ok(DocumentPreview {
        data_instants: slots,
        preview,
    })
}

#[utoipa::path(
    post,
    path = "/3rd/organization/{organization_id}/users/{user_id}/schedulers/preview",
    tag = "schedulers",
    summary = "The next fire instants of an unsaved scheduler document",
    description = "The body is validated exactly as a create (`POST .../schedulers`) is, and the answer is the fires the scheduler would make if it were created now (from now when `is_paused` is true; none when it would be finished). Nothing is stored.",
    params(
        TenantPath,
        ("count" = Option<i64>, Query, description = "1 to 100, default 10"),
        TenantHeaders,
    ),
    request_body(content = Object, content_type = "application/json", description = "A scheduler document, as for create (at most 1 MiB)"),
    security(("access_token" = [])),
    responses(
        (status = 200, description = "The next instants", body = Preview),
        (status = 400, description = "Bad count, or the document is refused as a create would be (the message names the field)", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 404, description = "User not found", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
    )
)]
pub(crate) async fn preview_draft(
    State(state): State<AppState>,
    tenant: Tenant,
    RawQuery(raw): RawQuery,
    body: JsonBody,
) -> Result<Json<Preview>, ApiError> {
    let count = Params::parse(raw.as_deref())?.preview_count()?;
    let doc = body.object()?;
    let preview = preview_of_document(&tenant, &doc, state.now(), count)?.preview;
    Ok(Json(preview))
}

/// Redrives a dead fire of one of the tenant's schedulers (the console's action too).
pub(crate) async fn redrive_fire(
    state: &AppState,
    tenant: &Tenant,
    fire_id: &str,
) -> Result<FireItem, ApiError> {
    let id = tenant.scheduler_id()?;
    schedulers::get(&state.pool, tenant.owner(), id.as_str())
        .await
        .map_err(scheduler_error)?;
    let fire_not_found = || ApiError::NotFound("Fire not found".to_owned());
    let fire_id = Uuid::parse_str(fire_id).map_err(|_| fire_not_found())?;
    let now = state.now();
    let fire = match operations::redrive(&state.pool, id.as_str(), fire_id, now).await? {
        Redrive::Done(fire) => fire,
        Redrive::NotDead(status) => {
            return Err(ApiError::Conflict(format!(
                "fire {fire_id} is {status}; only a dead fire can be redriven"
            )))
        }
        Redrive::NotFound => return Err(fire_not_found()),
    };
    wake_runners(state, now).await;
    tracing::info!(scheduler_id = %id, fire_id = %fire_id, "fire redriven");
    Ok(FireItem::from(&fire))
}

/// The fire is committed; waking the runners is only a hint (they poll anyway).
async fn wake_runners(state: &AppState, now: DateTime<Utc>) {
    let wake = async {
        let mut tx = state.pool.begin().await?;
        schedulers::notify_due(&mut tx, now).await?;
        tx.commit().await?;
        Ok::<(), ApiError>(())
    };
    if let Err(e) = wake.await {
        tracing::warn!(error = %e, "could not notify the runners of a redrive");
    }
}

#[utoipa::path(
    post,
    path = "/3rd/organization/{organization_id}/users/{user_id}/schedulers/{scheduler_id}/fires/{fire_id}/redrive",
    tag = "schedulers",
    summary = "Give a dead fire a new cycle of attempts",
    description = "The fire keeps its id (receivers still drop duplicates by it) and becomes `retrying`, available at once, with `attempts` 0, `created_at` the redrive time (the retry `max_age` counts from it), `dead_letter` null; `last_error` stays until the next outcome. A request body is ignored.",
    params(
        TenantPath,
        ("scheduler_id" = String, Path, description = "24 lowercase hex characters"),
        ("fire_id" = String, Path, description = "The fire's id (a UUID)"),
        TenantHeaders,
    ),
    security(("access_token" = [])),
    responses(
        (status = 200, description = "The fire, retrying", body = FireItem),
        (status = 400, description = "A header does not match the path", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 404, description = "Scheduler not found, Fire not found (also for a malformed id), or User not found", body = ErrorBody),
        (status = 409, description = "The fire is not dead", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
    )
)]
pub(crate) async fn redrive(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Json<FireItem>, ApiError> {
    let fire_id = tenant.param("fire_id").unwrap_or_default().to_owned();
    Ok(Json(redrive_fire(&state, &tenant, &fire_id).await?))
}

/// A runner as its last heartbeat recorded it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunnerItem {
    /// `hostname-pid-random`
    pub owner: String,
    pub started_at: String,
    pub last_heartbeat_at: String,
    /// Seconds since the last heartbeat (by the API's clock).
    pub heartbeat_age_secs: f64,
    /// True when the last heartbeat is at most 60 s old (runners beat every 10 s by default).
    pub alive: bool,
    /// Fires it held a lease on at its last heartbeat.
    pub in_flight: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunnerList {
    pub data: Vec<RunnerItem>,
}

/// A heartbeat older than this says the runner is gone (killed; a stopped one removes its row).
pub(crate) const ALIVE_WITHIN_SECS: i64 = 60;

pub(crate) async fn runner_list(state: &AppState) -> Result<RunnerList, ApiError> {
    let now = state.now();
    let data = runners::list(&state.pool)
        .await?
        .into_iter()
        .map(|r| {
            let age = (now - r.last_heartbeat_at).num_milliseconds().max(0);
            RunnerItem {
                owner: r.owner,
                started_at: format_time(r.started_at),
                last_heartbeat_at: format_time(r.last_heartbeat_at),
                heartbeat_age_secs: age as f64 / 1000.0,
                alive: age <= ALIVE_WITHIN_SECS * 1000,
                in_flight: r.in_flight,
            }
        })
        .collect();
    Ok(RunnerList { data })
}

#[utoipa::path(
    get,
    path = "/admin/runners",
    tag = "admin",
    summary = "Runners alive",
    description = "Every runner that recorded a heartbeat within the last day, latest first. Runners record one every third of their lease (10 s by default) and remove theirs when they stop; a killed runner's row stays, with `alive` false after 60 s.",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The runners", body = RunnerList),
        (status = 401, description = "Missing or wrong x-admin-token", body = ErrorBody),
        (status = 404, description = "The admin API is off (no ADMIN_TOKEN)", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
    )
)]
pub(crate) async fn admin_runners(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<RunnerList>, ApiError> {
    Ok(Json(runner_list(&state).await?))
}

/// One minute of deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub struct MinuteItem {
    /// The minute's start.
    pub minute: String,
    pub delivered: i64,
    /// Median of delivered_at - scheduled_for over the minute's deliveries, milliseconds.
    pub lag_p50_ms: f64,
    pub lag_p99_ms: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BacklogItem {
    /// Schedulers whose next fire is due and not claimed yet.
    pub due_schedulers: i64,
    /// Fires pending or retrying whose time has come.
    pub due_fires: i64,
    pub oldest_due_at: Option<String>,
}

/// Dead fires sharing one error.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadGroupItem {
    /// The fires' `last_error` (null for none); pass it to the group redrive.
    pub last_error: Option<String>,
    pub fires: i64,
    pub schedulers: i64,
    pub first_at: String,
    pub last_at: String,
    pub sample_fire_id: String,
    pub sample_scheduler_id: String,
    pub sample_organization_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryStats {
    /// When the figures were taken.
    pub now: String,
    pub backlog: BacklogItem,
    /// Each minute of the last hour with deliveries, oldest first.
    pub minutes: Vec<MinuteItem>,
    /// Fires that died in the last 24 hours, grouped by error, the largest groups first.
    pub dead_groups: Vec<DeadGroupItem>,
}

pub(crate) async fn delivery_stats(state: &AppState) -> Result<DeliveryStats, ApiError> {
    let now = state.now();
    let backlog = operations::backlog(&state.pool, now).await?;
    let minutes = operations::delivery_stats(&state.pool, now - chrono::TimeDelta::hours(1))
        .await?
        .into_iter()
        .map(|m| MinuteItem {
            minute: format_time(m.minute),
            delivered: m.delivered,
            lag_p50_ms: m.lag_p50_ms,
            lag_p99_ms: m.lag_p99_ms,
        })
        .collect();
    let dead_groups =
        operations::dead_groups(&state.pool, now - chrono::TimeDelta::hours(24), None)
            .await?
            .into_iter()
            .map(|g| DeadGroupItem {
                last_error: g.last_error,
                fires: g.fires,
                schedulers: g.schedulers,
                first_at: format_time(g.first_at),
                last_at: format_time(g.last_at),
                sample_fire_id: g.sample_fire_id.to_string(),
                sample_scheduler_id: g.sample_scheduler_id,
                sample_organization_id: g.sample_organization_id,
            })
            .collect();
    Ok(DeliveryStats {
        now: format_time(now),
        backlog: BacklogItem {
            due_schedulers: backlog.due_schedulers,
            due_fires: backlog.due_fires,
            oldest_due_at: backlog.oldest_due_at.map(format_time),
        },
        minutes,
        dead_groups,
    })
}

#[utoipa::path(
    get,
    path = "/admin/stats",
    tag = "admin",
    summary = "Delivery statistics",
    description = "The due backlog now, fires delivered per minute and their lag (p50, p99 of `delivered_at - scheduled_for`) over the last hour, and the fires that died in the last 24 hours grouped by error. Computed from the fire history, so fires already removed by retention are not counted.",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The figures", body = DeliveryStats),
        (status = 401, description = "Missing or wrong x-admin-token", body = ErrorBody),
        (status = 404, description = "The admin API is off (no ADMIN_TOKEN)", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
    )
)]
pub(crate) async fn admin_stats(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<DeliveryStats>, ApiError> {
    Ok(Json(delivery_stats(&state).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupRedriven {
    /// How many dead fires got a new cycle of attempts (at most 10,000 a call).
    pub redriven: u64,
}

/// Redrives the dead fires of the last 24 h with this exact error (None: without one).
pub(crate) async fn redrive_dead_group(
    state: &AppState,
    last_error: Option<&str>,
) -> Result<u64, ApiError> {
    let now = state.now();
    let n = operations::redrive_group(
        &state.pool,
        last_error,
        now - chrono::TimeDelta::hours(24),
        None,
        now,
    )
    .await?;
    if n > 0 {
        wake_runners(state, now).await;
    }
    tracing::info!(redriven = n, "dead group redriven");
    Ok(n)
}

#[utoipa::path(
    post,
    path = "/admin/dead-fires/redrive",
    tag = "admin",
    summary = "Redrive the dead fires of the last 24 hours that share an error",
    description = "Body `{\"last_error\": \"<error>\"}` (exactly as `/admin/stats` shows it; null for fires dead without an error). Each fire is redriven as the tenant route does; fires of deleted schedulers are left dead. At most 10,000 a call.",
    request_body(content = Object, content_type = "application/json", description = "`{\"last_error\": string | null}`"),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "How many were redriven", body = GroupRedriven),
        (status = 400, description = "last_error missing, not a string or null, or holding NUL", body = ErrorBody),
        (status = 401, description = "Missing or wrong x-admin-token", body = ErrorBody),
        (status = 404, description = "The admin API is off (no ADMIN_TOKEN)", body = ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
    )
)]
pub(crate) async fn admin_redrive_group(
    State(state): State<AppState>,
    _admin: Admin,
    body: JsonBody,
) -> Result<Json<GroupRedriven>, ApiError> {
    let doc = body.object()?;
    let last_error = match doc.get("last_error") {
        None => return Err(ApiError::bad_request("last_error is required")),
        Some(serde_json::Value::Null) => None,
        // No stored error holds U+0000 (Postgres text cannot), and it cannot be a parameter.
        Some(serde_json::Value::String(s)) if s.contains('\0') => {
            return Err(ApiError::bad_request(
                "last_error must not contain NUL characters (\\u0000)",
            ))
        }
        Some(serde_json::Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(ApiError::bad_request("last_error must be a string or null")),
    };
    let redriven = redrive_dead_group(&state, last_error).await?;
    Ok(Json(GroupRedriven { redriven }))
}
