//! The tenant routes: `/3rd/organization/{organization_id}/users/{user_id}/schedulers...` (and
//! the same under `/v1`).

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use scheduler_core::SchedulerId;
use scheduler_store::schedulers::{self, ListQuery, SchedulerRecord};
use scheduler_store::{attachments, fires, StoreError};
use sqlx::{Postgres, Transaction};

use crate::auth::Tenant;
use crate::body::JsonBody;
use crate::document::{FireItem, FirePage, MessageBody, Preview, SchedulerDocument, SchedulerPage};
use crate::error::ErrorBody;
use crate::query::Params;
use crate::routes::{TenantHeaders, TenantPath};
use crate::validate::{check_fields, merged, Draft, Timing};
use crate::{format_time, ApiError, AppState};

/// `NotFound` from the store means the scheduler is not this user's (or does not exist).
pub(crate) fn scheduler_error(err: StoreError) -> ApiError {
    match err {
        StoreError::NotFound => ApiError::scheduler_not_found(),
        other => other.into(),
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        ApiError::internal(err)
    }
}

/// A stored row whose timing no longer validates is a server-side fault, not the client's.
fn stored_schedule(r: &SchedulerRecord) -> Result<scheduler_core::Schedule, ApiError> {
    r.schedule()
        .map_err(|e| ApiError::internal(format!("stored scheduler {} is invalid: {e}", r.id)))
}

fn fired(r: &SchedulerRecord) -> u64 {
    u64::try_from(r.fire_count).unwrap_or(0)
}

/// Wakes the runners when the scheduler is due within the horizon. Inside the transaction, so
/// nothing is sent for a change that does not commit.
async fn notify_if_due(
    tx: &mut Transaction<'_, Postgres>,
    state: &AppState,
    next: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let horizon = chrono::Duration::from_std(state.config.notify_horizon)
        .unwrap_or_else(|_| chrono::Duration::seconds(5));
    if let Some(at) = next.filter(|at| *at <= now + horizon) {
        schedulers::notify_due(tx, at).await?;
    }
    Ok(())
}

#[utoipa::path(
    get,
    path = "/3rd/organization/{organization_id}/users/{user_id}/schedulers",
    tag = "schedulers",
    summary = "List the user's schedulers, newest first",
    params(
        TenantPath,
        ("event_type" = Option<String>, Query, description = "`contains:a,b` matches any of a, b; a bare value matches exactly"),
        ("limit" = Option<i64>, Query, description = "1 to 100, default 10"),
        ("skip" = Option<i64>, Query, description = "0 to 1000000, default 0"),
        TenantHeaders,
    ),
    security(("access_token" = [])),
    responses(
        (status = 200, description = "One page of schedulers", body = SchedulerPage),
        (status = 400, description = "Bad limit, skip or header", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked token, or another organization's", body = ErrorBody),
        (status = 404, description = "User not found", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    tenant: Tenant,
    RawQuery(raw): RawQuery,
) -> Result<Json<SchedulerPage>, ApiError> {
    let params = Params::parse(raw.as_deref())?;
    let page = params.page()?;
    let result = schedulers::list(
        &state.pool,
        &ListQuery {
            organization_id: &tenant.organization_id,
            user_id: &tenant.user_id,
            event_type: params.event_type(),
            limit: page.limit,
            skip: page.skip,
        },
    )
    .await?;
    let data: Vec<SchedulerDocument> = result.items.iter().map(SchedulerDocument::from).collect();
    Ok(Json(SchedulerPage {
        count: data.len(),
        total: result.total,
        has_more: page.has_more(data.len(), result.total),
        data,
    }))
}

#[utoipa::path(
    get,
    path = "/3rd/organization/{organization_id}/users/{user_id}/schedulers/{scheduler_id}",
    tag = "schedulers",
    summary = "Get one scheduler",
    params(
        TenantPath,
        ("scheduler_id" = String, Path, description = "24 lowercase hex characters"),
        TenantHeaders,
    ),
    security(("access_token" = [])),
    responses(
        (status = 200, description = "The scheduler", body = SchedulerDocument),
        (status = 400, description = "scheduler_id is required, or a header does not match the path", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 404, description = "Scheduler not found, or User not found", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
    )
)]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Json<SchedulerDocument>, ApiError> {
    let id = tenant.scheduler_id()?;
    let record = schedulers::get(&state.pool, tenant.owner(), id.as_str())
        .await
        .map_err(scheduler_error)?;
    Ok(Json(SchedulerDocument::from(&record)))
}

#[utoipa::path(
    post,
    path = "/3rd/organization/{organization_id}/users/{user_id}/schedulers",
    tag = "schedulers",
    summary = "Create a scheduler",
    description = "Required: `name`, `event_type`, `job` (checked in that order). Timing fields as in the seed API plus `timezone`, `cron_expression`, `end_datetime`, `max_fires`, `misfire_policy`. Unknown fields are ignored.",
    params(
        TenantPath,
        TenantHeaders,
    ),
    request_body(content = Object, content_type = "application/json", description = "The scheduler document (at most 1 MiB)"),
    security(("access_token" = [])),
    responses(
        (status = 201, description = "The stored scheduler", body = SchedulerDocument),
        (status = 400, description = "name is required / event_type is required / job is required, or an invalid field (the message names it)", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 404, description = "User not found", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
    )
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    tenant: Tenant,
    body: JsonBody,
) -> Result<(StatusCode, Json<SchedulerDocument>), ApiError> {
    let doc = body.object()?;
    let now = state.now();
    let record = new_scheduler(&tenant, &doc, now)?;
    let mut tx = state.pool.begin().await?;
    insert_scheduler(&mut tx, &state, &record, now).await?;
    tx.commit().await?;
    tracing::info!(scheduler_id = %record.id, "scheduler created");
    Ok((StatusCode::CREATED, Json(SchedulerDocument::from(&record))))
}

/// A new scheduler of the tenant from a create body: validated, with its first fire planned.
/// Not stored yet. Shared by the JSON and the multipart create.
pub(crate) fn new_scheduler(
    tenant: &Tenant,
    doc: &serde_json::Map<String, serde_json::Value>,
    now: DateTime<Utc>,
) -> Result<SchedulerRecord, ApiError> {
    let draft = Draft::from_map(doc)?;
    let mut record = new_record(tenant, SchedulerId::generate(now), now, draft);
    let schedule = record.schedule()?;
    record.next_fire_at = if record.is_paused {
        None
    } else {
        schedule.initial_next_fire(now, 0)
    };
    record.is_finished = record.next_fire_at.is_none() && !record.is_paused;
    Ok(record)
}

/// Stores a new scheduler in the caller's transaction (and wakes the runners on commit when it
/// is due soon).
pub(crate) async fn insert_scheduler(
    tx: &mut Transaction<'_, Postgres>,
    state: &AppState,
    record: &SchedulerRecord,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    schedulers::insert(tx, record).await?;
    notify_if_due(tx, state, record.next_fire_at, now).await
}

fn new_record(
    tenant: &Tenant,
    id: SchedulerId,
    now: DateTime<Utc>,
    draft: Draft,
) -> SchedulerRecord {
    let t = draft.timing.clone();
    let mut r = SchedulerRecord {
        id: id.to_string(),
        organization_id: tenant.organization_id.clone(),
        created_by: tenant.user_id.clone(),
        updated_by: Some(tenant.user_id.clone()),
        kind: t.kind,
        name: String::new(),
        event_type: String::new(),
        description: String::new(),
        options: None,
        job: serde_json::Value::Null,
        internal_id: None,
        channel_source: String::new(),
        trigger_frequency_unit: None,
        trigger_frequency_value: None,
        trigger_time: None,
        triger_month_and_day: None,
        start_datetime: t.start_datetime,
        one_time_schedule_type: None,
        timezone: t.timezone,
        cron_expression: None,
        schedule_expression: None,
        flexible_time_window_minutes: 0,
        end_datetime: None,
        max_fires: None,
        misfire_policy: t.misfire_policy,
        is_paused: false,
        is_finished: false,
        next_fire_at: None,
        last_fired_at: None,
        fire_count: 0,
        created_at: now,
        updated_at: now,
    };
    draft.apply(&mut r);
    r
}

#[utoipa::path(
    put,
    path = "/3rd/organization/{organization_id}/users/{user_id}/schedulers/{scheduler_id}",
    tag = "schedulers",
    summary = "Update a scheduler (partial)",
    description = "Only the fields given change; a field given as null falls back to its default. Changing the timing recomputes `next_fire_at`; `is_paused: true` pauses, `is_paused: false` resumes from now without catching up.",
    params(
        TenantPath,
        ("scheduler_id" = String, Path, description = "24 lowercase hex characters"),
        TenantHeaders,
    ),
    request_body(content = Object, content_type = "application/json", description = "The fields to change"),
    security(("access_token" = [])),
    responses(
        (status = 200, description = "The whole updated scheduler", body = SchedulerDocument),
        (status = 400, description = "scheduler_id is required, or a field of the body is invalid on its own (the message names it)", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 404, description = "Scheduler not found, or User not found", body = ErrorBody),
        (status = 409, description = "The body is valid on its own, but the scheduler it would make from this one's stored fields is not (a required timing field missing, end_datetime not after the start, ...); the message names the field", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
    )
)]
pub(crate) async fn update(
    State(state): State<AppState>,
    tenant: Tenant,
    body: JsonBody,
) -> Result<Json<SchedulerDocument>, ApiError> {
    let id = tenant.scheduler_id()?;
    let body = body.object()?;
    let now = state.now();
    let mut tx = state.pool.begin().await?;
    let stored = schedulers::get_for_update(&mut tx, tenant.owner(), id.as_str())
        .await
        .map_err(scheduler_error)?;
    let record = updated_scheduler(&tenant, &stored, &body, now)?;
    store_update(&mut tx, &state, &stored, &record, now).await?;
    tx.commit().await?;
    tracing::info!(scheduler_id = %record.id, "scheduler updated");
    Ok(Json(SchedulerDocument::from(&record)))
}

/// The stored scheduler with an update body applied: validated, its next fire replanned when
/// the timing or the pause state changed. Not stored yet. Shared by the JSON and the multipart
/// update.
pub(crate) fn updated_scheduler(
    tenant: &Tenant,
    stored: &SchedulerRecord,
    body: &serde_json::Map<String, serde_json::Value>,
    now: DateTime<Utc>,
) -> Result<SchedulerRecord, ApiError> {
    // The body on its own: a bad field is the request's fault (400). The scheduler it would
    // make: a body valid on its own that this scheduler's stored fields make invalid (a
    // frequency unit without its value, an end before the stored start) conflicts with the
    // scheduler's current state (409).
    check_fields(body)?;
    let draft = Draft::from_merged(&merged(stored, body)).map_err(|e| match e {
        ApiError::BadRequest(message) => ApiError::Conflict(message),
        other => other,
    })?;
    let mut record = stored.clone();
    draft.apply(&mut record);
    let schedule = record.schedule()?;

    let timing_moved = Timing::of(&record).moves_slots(&Timing::of(stored));
    if record.is_paused {
        record.next_fire_at = None;
        if timing_moved {
            // Whether the new timing has slots left is decided when it is resumed.
            record.is_finished = false;
        }
    } else if timing_moved {
        // A one-shot whose instant is changed is armed again, even if it fired before (the
        // claim fires an armed one-shot whatever its fire_count).
        let already = if record.kind == "non_recurring" {
            0
        } else {
            fired(&record)
        };
        // A slot that was due and not claimed yet stays when the edit did not move it.
        let due = if stored.is_paused {
            None
        } else {
            stored.next_fire_at
        };
        record.next_fire_at = schedule.next_fire_after_edit(due, now, already);
        record.is_finished = record.next_fire_at.is_none();
    } else if stored.is_paused {
        // Resume from now: the slots that passed while paused are not caught up.
        record.next_fire_at = schedule.initial_next_fire(now, fired(&record));
        record.is_finished = record.next_fire_at.is_none();
    }
    record.updated_by = Some(tenant.user_id.clone());
    record.updated_at = now;
    Ok(record)
}

/// Writes an updated scheduler in the caller's transaction, which read `stored` with
/// `get_for_update` (and wakes the runners on commit when its next fire moved to soon).
pub(crate) async fn store_update(
    tx: &mut Transaction<'_, Postgres>,
    state: &AppState,
    stored: &SchedulerRecord,
    record: &SchedulerRecord,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    schedulers::update(tx, record)
        .await
        .map_err(scheduler_error)?;
    if record.next_fire_at != stored.next_fire_at {
        notify_if_due(tx, state, record.next_fire_at, now).await?;
    }
    Ok(())
}

#[utoipa::path(
    delete,
    path = "/3rd/organization/{organization_id}/users/{user_id}/schedulers/{scheduler_id}",
    tag = "schedulers",
    summary = "Delete a scheduler",
    description = "Pending fires are cancelled and the attachments' objects deleted. A request body is accepted and ignored.",
    params(
        TenantPath,
        ("scheduler_id" = String, Path, description = "24 lowercase hex characters"),
        TenantHeaders,
    ),
    security(("access_token" = [])),
    responses(
        (status = 200, description = "`schedule <scheduler_id> is deleted successfully`", body = MessageBody),
        (status = 400, description = "scheduler_id is required", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 404, description = "Scheduler not found, or User not found", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
    )
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Json<MessageBody>, ApiError> {
    let id = tenant.scheduler_id()?;
    let now = state.now();
    let mut tx = state.pool.begin().await?;
    // The scheduler's row is locked before its attachments', in the order the file update
    // takes them, so the two cannot deadlock.
    schedulers::get_for_update(&mut tx, tenant.owner(), id.as_str())
        .await
        .map_err(scheduler_error)?;
    // Queued for deletion in this transaction: removed right after the commit, or by the
    // sweeper if that fails (or no attachment store is configured here).
    let detached = attachments::detach_all(
        &mut tx,
        &tenant.organization_id,
        id.as_str(),
        "scheduler deleted",
    )
    .await?;
    schedulers::delete(&mut tx, tenant.owner(), id.as_str(), now)
        .await
        .map_err(scheduler_error)?;
    tx.commit().await?;
    tracing::info!(scheduler_id = %id, files = detached.len(), "scheduler deleted");
    if let (Some(files), false) = (state.files(), detached.is_empty()) {
        let keys: Vec<String> = detached.into_iter().map(|a| a.file_path).collect();
        files.delete_detached(&state.pool, &keys).await;
    }
    Ok(Json(MessageBody {
        message: format!("schedule {id} is deleted successfully"),
    }))
}

#[utoipa::path(
    get,
    path = "/3rd/organization/{organization_id}/users/{user_id}/schedulers/{scheduler_id}/executions",
    tag = "schedulers",
    summary = "Fire history of a scheduler, newest first",
    params(
        TenantPath,
        ("scheduler_id" = String, Path, description = "24 lowercase hex characters"),
        ("limit" = Option<i64>, Query, description = "1 to 100, default 10"),
        ("skip" = Option<i64>, Query, description = "0 to 1000000, default 0"),
        TenantHeaders,
    ),
    security(("access_token" = [])),
    responses(
        (status = 200, description = "One page of fires", body = FirePage),
        (status = 400, description = "Bad limit or skip", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 404, description = "Scheduler not found, or User not found", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
    )
)]
pub(crate) async fn executions(
    State(state): State<AppState>,
    tenant: Tenant,
    RawQuery(raw): RawQuery,
) -> Result<Json<FirePage>, ApiError> {
    let id = tenant.scheduler_id()?;
    let page = Params::parse(raw.as_deref())?.page()?;
    schedulers::get(&state.pool, tenant.owner(), id.as_str())
        .await
        .map_err(scheduler_error)?;
    let result = fires::history(&state.pool, id.as_str(), page.limit, page.skip).await?;
    let data: Vec<FireItem> = result.items.iter().map(FireItem::from).collect();
    Ok(Json(FirePage {
        count: data.len(),
        total: result.total,
        has_more: page.has_more(data.len(), result.total),
        data,
    }))
}

#[utoipa::path(
    post,
    path = "/3rd/organization/{organization_id}/users/{user_id}/schedulers/{scheduler_id}/run",
    tag = "schedulers",
    summary = "Fire the scheduler now, once, outside its timing",
    params(
        TenantPath,
        ("scheduler_id" = String, Path, description = "24 lowercase hex characters"),
        TenantHeaders,
    ),
    security(("access_token" = [])),
    responses(
        (status = 202, description = "The new fire, pending delivery", body = FireItem),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 404, description = "Scheduler not found, or User not found", body = ErrorBody),
        (status = 409, description = "A fire for this instant already exists", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
    )
)]
pub(crate) async fn run(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<(StatusCode, Json<FireItem>), ApiError> {
    let id = tenant.scheduler_id()?;
    let record = schedulers::get(&state.pool, tenant.owner(), id.as_str())
        .await
        .map_err(scheduler_error)?;
    let now = state.now();
    let fire = fires::insert_manual(&state.pool, &record.id, &record.organization_id, now)
        .await
        .map_err(|e| match e {
            StoreError::AlreadyExists => ApiError::Conflict(format!(
                "a fire of scheduler {id} at {} already exists",
                format_time(now)
            )),
            other => other.into(),
        })?;
    // The fire is committed; waking the runners is only a hint (they poll anyway).
    let wake = async {
        let mut tx = state.pool.begin().await?;
        schedulers::notify_due(&mut tx, now).await?;
        tx.commit().await?;
        Ok::<(), ApiError>(())
    };
    if let Err(e) = wake.await {
        tracing::warn!(error = %e, "could not notify the runners of a manual fire");
    }
    tracing::info!(scheduler_id = %id, fire_id = %fire.id, "manual fire");
    Ok((StatusCode::ACCEPTED, Json(FireItem::from(&fire))))
}

#[utoipa::path(
    get,
    path = "/3rd/organization/{organization_id}/users/{user_id}/schedulers/{scheduler_id}/preview",
    tag = "schedulers",
    summary = "The next fire instants of a scheduler",
    description = "From `next_fire_at` (or from now when paused), at most `count` instants; fewer when the schedule ends.",
    params(
        TenantPath,
        ("scheduler_id" = String, Path, description = "24 lowercase hex characters"),
        ("count" = Option<i64>, Query, description = "1 to 100, default 10"),
        TenantHeaders,
    ),
    security(("access_token" = [])),
    responses(
        (status = 200, description = "The next instants", body = Preview),
        (status = 400, description = "Bad count", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 404, description = "Scheduler not found, or User not found", body = ErrorBody),
        (status = 500, description = "Internal server error", body = ErrorBody),
    )
)]
pub(crate) async fn preview(
    State(state): State<AppState>,
    tenant: Tenant,
    RawQuery(raw): RawQuery,
) -> Result<Json<Preview>, ApiError> {
    let id = tenant.scheduler_id()?;
    let count = Params::parse(raw.as_deref())?.preview_count()?;
    let record = schedulers::get(&state.pool, tenant.owner(), id.as_str())
        .await
        .map_err(scheduler_error)?;
    let schedule = stored_schedule(&record)?;
    let slots = if record.is_finished {
        Vec::new()
    } else {
        let from = record.next_fire_at.unwrap_or_else(|| state.now());
        schedule.upcoming(from, fired(&record), count)
    };
    Ok(Json(Preview::new(&schedule, Some(&record.id), slots)))
}
