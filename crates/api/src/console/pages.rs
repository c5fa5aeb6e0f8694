//! The console's pages and actions.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Json;
use scheduler_store::schedulers::{self, ListQuery, SchedulerRecord};
use scheduler_store::{attachments, console as store, fires, operations as ops};
use serde_json::{json, Map, Value};

use super::view::{self, enc, esc, when, FormValues};
use super::{check_csrf, scope, Checked, Session};
use crate::auth::Tenant;
use crate::query::Params;
use crate::routes::operations as api_ops;
use crate::routes::schedulers as api;
use crate::{ApiError, AppState};

type Page = Result<Response, Response>;

/// The whole page around `body`.
fn layout(session: Option<&Session>, title: &str, body: &str) -> String {
    let mut nav = String::new();
    if let Some(s) = session {
        nav.push_str("<nav aria-label=\"Main\"><a href=\"/ui\">Schedulers</a>");
        if s.is_operator() {
            nav.push_str("<a href=\"/ui/operations\">Operations</a>");
        }
        let who = s
            .organization_id
            .as_deref()
            .map_or("operator (every organization)".to_owned(), |o| {
                format!("organization {o}")
            });
        let _ = write!(
            nav,
            "<span class=\"who\">{}</span><form method=\"post\" action=\"/ui/logout\" class=\"inline\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\" class=\"link\">Sign out</button></form></nav>",
            esc(&who),
            esc(&s.csrf)
        );
    }
    let csrf = session.map(|s| s.csrf.as_str()).unwrap_or("");
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"csrf-token\" content=\"{}\">\
         <title>{} · Scheduler console</title>\
         <link rel=\"stylesheet\" href=\"/ui/assets/console.css\">\
         <link rel=\"stylesheet\" href=\"/ui/assets/uplot.css\">\
         <script src=\"/ui/assets/uplot.js\" defer></script>\
         <script src=\"/ui/assets/console.js\" defer></script></head><body>\
         <a class=\"skip\" href=\"#main\">Skip to content</a>\
         <header><a class=\"brand\" href=\"/ui\">Scheduler console</a>{nav}</header>\
         <main id=\"main\">{body}</main></body></html>",
        esc(csrf),
        esc(title)
    )
}

fn html(session: Option<&Session>, title: &str, body: &str) -> Response {
    Html(layout(session, title, body)).into_response()
}

/// An error as a page, with its status. Internal details are logged, never shown.
pub(crate) fn error_page(session: Option<&Session>, err: &ApiError) -> Response {
    let status = err.status();
    let message = match err {
        ApiError::Internal(detail) => {
            tracing::error!(error = %detail, "internal error");
            "Internal server error".to_owned()
        }
        ApiError::Unauthorized => "You are not signed in, or your session has ended.".to_owned(),
        other => other.to_string(),
    };
    let body = format!(
        "<h1>{}</h1><p class=\"error\" role=\"alert\">{}</p><p><a href=\"/ui\">Back to the console</a></p>",
        status.canonical_reason().unwrap_or("Error"),
        esc(&message)
    );
    (status, Html(layout(session, "Error", &body))).into_response()
}

fn fail(session: &Session) -> impl Fn(ApiError) -> Response + '_ {
    move |e| error_page(Some(session), &e)
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

// ----- sign-in -----

pub(crate) async fn login_form(headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    login_page(&headers, raw.as_deref(), None, StatusCode::OK)
}

fn next_of(raw: Option<&str>) -> String {
    raw.map(|q| view::parse_form(q.as_bytes()))
        .and_then(|q| q.get("next").cloned())
        .filter(|n| n.starts_with("/ui") && !n.starts_with("//"))
        .unwrap_or_else(|| "/ui".to_owned())
}

fn login_page(
    headers: &HeaderMap,
    raw: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let (csrf, cookie) = super::login_csrf(headers);
    let next = next_of(raw);
    let error = error.map_or(String::new(), |e| {
        format!(
            "<p class=\"error\" role=\"alert\" id=\"login-error\">{}</p>",
            esc(e)
        )
    });
    let body = format!(
        "<h1>Sign in</h1>{error}<form method=\"post\" action=\"/ui/login?next={}\" class=\"card narrow\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label for=\"token\">API token or ADMIN_TOKEN</label>\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" required autofocus \
          aria-describedby=\"token-help\">\
         <p id=\"token-help\" class=\"muted\">An organization's API token (<code>api_…</code>) shows that organization's schedulers; \
          the operator's ADMIN_TOKEN shows every organization and the operations page.</p>\
         <button type=\"submit\">Sign in</button></form>",
        esc(&enc(&next)),
        esc(&csrf)
    );
    let mut res = (status, html(None, "Sign in", &body)).into_response();
    res.headers_mut().append(header::SET_COOKIE, cookie);
    res
}

pub(crate) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let form = view::parse_form(&body);
    let csrf = form.get("csrf").map(String::as_str).unwrap_or("");
    if !super::login_csrf_ok(&headers, csrf) {
        return login_page(
            &headers,
            raw.as_deref(),
            Some("The sign-in form expired. Please try again."),
            StatusCode::BAD_REQUEST,
        );
    }
    let token = form.get("token").map(String::as_str).unwrap_or("");
    match super::sign_in(&state, &headers, token).await {
        Ok(Some((cookie, _))) => {
            tracing::info!("console sign-in");
            let mut res = see_other(&next_of(raw.as_deref()));
            res.headers_mut().append(header::SET_COOKIE, cookie);
            res
        }
        Ok(None) => login_page(
            &headers,
            raw.as_deref(),
            Some("That token was refused: it is not a live API token (unknown or revoked) nor the ADMIN_TOKEN."),
            StatusCode::UNAUTHORIZED,
        ),
        Err(e) => error_page(None, &e),
    }
}

pub(crate) async fn logout(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    check_csrf(&session, &headers, &body)?;
    let cookie = super::sign_out(&state, &headers)
        .await
        .map_err(fail(&session))?;
    let mut res = see_other("/ui/login");
    res.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(res)
}

// ----- organizations and users -----

pub(crate) async fn home(
    State(state): State<AppState>,
    session: Session,
    RawQuery(raw): RawQuery,
) -> Page {
    if let Some(org) = &session.organization_id {
        return Ok(see_other(&format!("/ui/o/{}", enc(org))));
    }
    let page = Params::parse(raw.as_deref())
        .and_then(|p| p.page())
        .map_err(fail(&session))?;
    let limit = 50;
    let mut orgs = store::organizations(&state.pool, limit + 1, page.skip)
        .await
        .map_err(|e| fail(&session)(e.into()))?;
    let more = orgs.len() > usize::try_from(limit).unwrap_or(50);
    orgs.truncate(50);
    let mut rows = String::new();
    for o in &orgs {
        let _ = write!(
            rows,
            "<tr><td><a href=\"/ui/o/{}\">{}</a></td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&enc(&o.id)),
            esc(&o.id),
            o.users,
            o.schedulers
        );
    }
    let body = format!(
        "<h1>Organizations</h1><div class=\"scroll\"><table><caption class=\"sr\">Organizations</caption>\
         <thead><tr><th scope=\"col\">Organization</th><th scope=\"col\">Users</th><th scope=\"col\">Schedulers</th></tr></thead>\
         <tbody>{rows}</tbody></table></div>{}",
        pager("/ui?", page.skip, limit, more)
    );
    Ok(html(Some(&session), "Organizations", &body))
}

fn pager(base: &str, skip: i64, limit: i64, more: bool) -> String {
    let mut s = String::from("<nav class=\"pager\" aria-label=\"Pages\">");
    if skip > 0 {
        let _ = write!(
            s,
            "<a href=\"{}skip={}&amp;limit={limit}\" rel=\"prev\">← Newer</a>",
            esc(base),
            (skip - limit).max(0)
        );
    }
    if more {
        let _ = write!(
            s,
            "<a href=\"{}skip={}&amp;limit={limit}\" rel=\"next\">Older →</a>",
            esc(base),
            skip + limit
        );
    }
    s.push_str("</nav>");
    s
}

pub(crate) async fn organization(
    State(state): State<AppState>,
    session: Session,
    Path(org): Path<String>,
) -> Page {
    let not_found = || error_page(Some(&session), &ApiError::NotFound("Not found".to_owned()));
    if !session.sees(&org) {
        return Err(not_found());
    }
    let users = store::users(&state.pool, &org)
        .await
        .map_err(|e| fail(&session)(e.into()))?;
    if users.is_empty()
        && !scheduler_store::tenancy::organization_exists(&state.pool, &org)
            .await
            .map_err(|e| fail(&session)(e.into()))?
    {
        return Err(not_found());
    }
    if users.len() == 1 && !session.is_operator() {
        return Ok(see_other(&format!(
            "/ui/o/{}/u/{}",
            enc(&org),
            enc(&users[0].id)
        )));
    }
    let mut rows = String::new();
    for u in &users {
        let _ = write!(
            rows,
            "<tr><td><a href=\"/ui/o/{}/u/{}\">{}</a></td><td class=\"num\">{}</td></tr>",
            esc(&enc(&org)),
            esc(&enc(&u.id)),
            esc(&u.id),
            u.schedulers
        );
    }
    let body = format!(
        "<p class=\"crumbs\"><a href=\"/ui\">Console</a> / {}</p><h1>Users of {}</h1>\
         <div class=\"scroll\"><table><thead><tr><th scope=\"col\">User</th><th scope=\"col\">Schedulers</th></tr></thead>\
         <tbody>{rows}</tbody></table></div>",
        esc(&org),
        esc(&org)
    );
    Ok(html(Some(&session), &format!("Users of {org}"), &body))
}

// ----- schedulers -----

fn base_url(org: &str, user: &str) -> String {
    format!("/ui/o/{}/u/{}", enc(org), enc(user))
}

fn crumbs(org: &str, user: &str, last: &str) -> String {
    format!(
        "<p class=\"crumbs\"><a href=\"/ui\">Console</a> / <a href=\"/ui/o/{}\">{}</a> / <a href=\"{}\">{}</a>{}</p>",
        esc(&enc(org)),
        esc(org),
        esc(&base_url(org, user)),
        esc(user),
        if last.is_empty() { String::new() } else { format!(" / {}", esc(last)) }
    )
}

fn status_badge(status: &str) -> String {
    format!("<span class=\"badge s-{0}\">{0}</span>", esc(status))
}

fn state_of(r: &SchedulerRecord) -> &'static str {
    if r.is_paused {
        "paused"
    } else if r.is_finished {
        "finished"
    } else {
        "active"
    }
}

pub(crate) async fn list(
    State(state): State<AppState>,
    session: Session,
    Path(params): Path<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> Page {
    let (org, user) = scope(&state, &session, &params)
        .await
        .map_err(fail(&session))?;
    let q = Params::parse(raw.as_deref()).map_err(fail(&session))?;
    let page = q.page().map_err(fail(&session))?;
    let form = raw
        .as_deref()
        .map(|r| view::parse_form(r.as_bytes()))
        .unwrap_or_default();
    let name = form
        .get("q")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let event_type = form.get("event_type").cloned().unwrap_or_default();
    let query = ListQuery {
        organization_id: &org,
        user_id: &user,
        event_type: q.event_type(),
        limit: page.limit,
        skip: page.skip,
    };
    let result = if name.is_empty() {
        schedulers::list(&state.pool, &query).await
    } else {
        store::search(&state.pool, &query, &name).await
    }
    .map_err(|e| fail(&session)(e.into()))?;
    let ids: Vec<String> = result.items.iter().map(|r| r.id.clone()).collect();
    let last: HashMap<String, fires::FireRecord> = ops::last_fires(&state.pool, &ids)
        .await
        .map_err(|e| fail(&session)(e.into()))?
        .into_iter()
        .map(|f| (f.scheduler_id.clone(), f))
        .collect();
    let now = state.now();
    let base = base_url(&org, &user);
    let mut rows = String::new();
    for r in &result.items {
        let next = r
            .next_fire_at
            .map_or("<span class=\"muted\">none</span>".to_owned(), |t| {
                when(t, &r.timezone, now)
            });
        let last_fire =
            last.get(&r.id)
                .map_or("<span class=\"muted\">never</span>".to_owned(), |f| {
                    format!(
                        "{}<br>{}",
                        status_badge(&f.status),
                        when(f.scheduled_for, &r.timezone, now)
                    )
                });
        let _ = write!(
            rows,
            "<tr><td><a href=\"{}/s/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&base),
            esc(&r.id),
            esc(&r.name),
            esc(&r.event_type),
            esc(&view::schedule_words(r)),
            next,
            last_fire,
            status_badge(state_of(r))
        );
    }
    if rows.is_empty() {
        rows = "<tr><td colspan=\"6\" class=\"muted\">No schedulers match.</td></tr>".to_owned();
    }
    let more = page.has_more(result.items.len(), result.total);
    let paging = format!("{base}?q={}&event_type={}&", enc(&name), enc(&event_type));
    let body = format!(
        "{}<div class=\"title\"><h1>Schedulers of {}</h1><a class=\"button\" href=\"{}/new\">New scheduler</a></div>\
         <form method=\"get\" action=\"{}\" class=\"filters\" role=\"search\">\
         <div><label for=\"q\">Name contains</label><input id=\"q\" name=\"q\" type=\"search\" value=\"{}\"></div>\
         <div><label for=\"event_type\">Event type</label><input id=\"event_type\" name=\"event_type\" type=\"text\" value=\"{}\" \
          aria-describedby=\"et-help\"><small id=\"et-help\" class=\"muted\">exact, or <code>contains:a,b</code> for any of a, b</small></div>\
         <div><label for=\"limit\">Per page</label><select id=\"limit\" name=\"limit\">{}</select></div>\
         <button type=\"submit\">Filter</button></form>\
         <p class=\"muted\" id=\"count\">{} of {} schedulers (from {})</p>\
         <div class=\"scroll\"><table id=\"schedulers\"><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Event type</th>\
         <th scope=\"col\">Schedule</th><th scope=\"col\">Next fire</th><th scope=\"col\">Last fire</th><th scope=\"col\">State</th></tr></thead>\
         <tbody>{rows}</tbody></table></div>{}",
        crumbs(&org, &user, ""),
        esc(&user),
        esc(&base),
        esc(&base),
        esc(&name),
        esc(&event_type),
        [10, 25, 50, 100]
            .iter()
            .map(|n| format!(
                "<option value=\"{n}\"{}>{n}</option>",
                if *n == page.limit { " selected" } else { "" }
            ))
            .collect::<String>(),
        result.items.len(),
        result.total,
        page.skip + 1,
        pager(&paging, page.skip, page.limit, more)
    );
    Ok(html(
        Some(&session),
        &format!("Schedulers of {user}"),
        &body,
    ))
}

struct One {
    org: String,
    user: String,
    tenant: Tenant,
    record: SchedulerRecord,
}

async fn one(
    state: &AppState,
    session: &Session,
    params: HashMap<String, String>,
) -> Result<One, Response> {
    let (org, user) = scope(state, session, &params)
        .await
        .map_err(fail(session))?;
    let tenant = Tenant::for_console(&org, &user, params);
    let id = tenant.scheduler_id().map_err(fail(session))?;
    let record = schedulers::get(&state.pool, tenant.owner(), id.as_str())
        .await
        .map_err(|e| fail(session)(api::scheduler_error(e)))?;
    Ok(One {
        org,
        user,
        tenant,
        record,
    })
}

fn csrf_field(session: &Session) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(&session.csrf)
    )
}

pub(crate) async fn scheduler(
    State(state): State<AppState>,
    session: Session,
    Path(params): Path<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> Page {
    let o = one(&state, &session, params).await?;
    let r = &o.record;
    let now = state.now();
    let url = format!("{}/s/{}", base_url(&o.org, &o.user), r.id);
    let csrf = csrf_field(&session);
    let pause = if r.is_paused {
        format!("<form method=\"post\" action=\"{0}/resume\">{csrf}<button type=\"submit\">Resume</button></form>", esc(&url))
    } else {
        format!("<form method=\"post\" action=\"{0}/pause\">{csrf}<button type=\"submit\">Pause</button></form>", esc(&url))
    };
    let actions = format!(
        "<div class=\"actions\">{pause}<form method=\"post\" action=\"{0}/run\">{csrf}<button type=\"submit\">Run now</button></form>\
         <a class=\"button secondary\" href=\"{0}/edit\">Edit</a><a class=\"button danger\" href=\"{0}/delete\">Delete…</a></div>",
        esc(&url)
    );
    // The next 10 fires, as the preview route gives them.
    let schedule = r
        .schedule()
        .map_err(|e| fail(&session)(ApiError::internal(e)))?;
    let upcoming = if r.is_finished {
        Vec::new()
    } else {
        schedule.upcoming(
            r.next_fire_at.unwrap_or(now),
            u64::try_from(r.fire_count).unwrap_or(0),
            10,
        )
    };
    let mut next = String::new();
    for &t in &upcoming {
        let _ = write!(next, "<li>{}", when(t, &r.timezone, now));
        if schedule.flexible_window_minutes() > 0 {
            let at = schedule.delivery_instant(&r.id, t);
            let _ = write!(next, "<br>{}", view::planned(t, at, &r.timezone));
        }
        next.push_str("</li>");
    }
    if next.is_empty() {
        next = "<li class=\"muted none\">No fires ahead.</li>".to_owned();
    }
    let files = attachments::list(&state.pool, &r.id)
        .await
        .map_err(|e| fail(&session)(e.into()))?;
    let mut file_list = String::new();
    for f in &files {
        let _ = write!(
            file_list,
            "<li><a href=\"{}/files/{}\">{}</a> <span class=\"muted\">{} · {} bytes</span></li>",
            esc(&url),
            f.file_id,
            esc(&f.name),
            esc(&f.file_type),
            f.size
        );
    }
    if file_list.is_empty() {
        file_list = "<li class=\"muted\">No attachments.</li>".to_owned();
    }
    let skip = history_skip(raw.as_deref()).map_err(fail(&session))?;
    let history = history_html(&state, &session, &o, skip).await?;
    let doc = serde_json::to_string_pretty(&crate::document::SchedulerDocument::from(r))
        .unwrap_or_default();
    let body = format!(
        "{}<div class=\"title\"><h1>{}</h1>{}</div>{actions}\
         <dl class=\"facts\"><dt>Schedule</dt><dd>{}</dd><dt>Event type</dt><dd>{}</dd><dt>Job</dt><dd>{}</dd>\
         <dt>Next fire</dt><dd>{}</dd><dt>Fires so far</dt><dd>{}</dd></dl>\
         <div class=\"grid\"><section aria-labelledby=\"next-h\"><h2 id=\"next-h\">Next 10 fires</h2><ol class=\"fires\" id=\"next-fires\">{next}</ol></section>\
         <section aria-labelledby=\"files-h\"><h2 id=\"files-h\">Attachments</h2><ul>{file_list}</ul></section></div>\
         <section aria-labelledby=\"hist-h\"><h2 id=\"hist-h\">Fire history</h2>\
         <div id=\"history\" data-refresh=\"{}/history?skip={skip}\" aria-live=\"polite\">{history}</div></section>\
         <section aria-labelledby=\"doc-h\"><h2 id=\"doc-h\">Document</h2><pre class=\"doc\" tabindex=\"0\">{}</pre></section>",
        crumbs(&o.org, &o.user, &r.name),
        esc(&r.name),
        status_badge(state_of(r)),
        esc(&view::schedule_words(r)),
        esc(&r.event_type),
        esc(&job_words(&r.job)),
        r.next_fire_at.map_or("none".to_owned(), |t| {
            let mut s = when(t, &r.timezone, now);
            if schedule.flexible_window_minutes() > 0 {
                let at = schedule.delivery_instant(&r.id, t);
                let _ = write!(s, "<br>{}", view::planned(t, at, &r.timezone));
            }
            s
        }),
        r.fire_count,
        esc(&url),
        esc(&doc)
    );
    Ok(html(Some(&session), &r.name, &body))
}

fn job_words(job: &Value) -> String {
    match job.get("type").and_then(Value::as_str) {
        Some("kafka") => format!(
            "Kafka topic {}",
            job.get("topic").and_then(Value::as_str).unwrap_or("?")
        ),
        Some("webhook") => format!(
            "webhook {} {}",
            job.get("method")
                .and_then(Value::as_str)
                .unwrap_or("POST")
                .to_uppercase(),
            job.get("url").and_then(Value::as_str).unwrap_or("?")
        ),
        _ => "?".to_owned(),
    }
}

fn history_skip(raw: Option<&str>) -> Result<i64, ApiError> {
    let form = raw
        .map(|r| view::parse_form(r.as_bytes()))
        .unwrap_or_default();
    match form.get("skip") {
        None => Ok(0),
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=1_000_000).contains(n))
            .ok_or_else(|| ApiError::bad_request("skip must be an integer from 0 to 1000000")),
    }
}

const HISTORY_PAGE: i64 = 20;

async fn history_html(
    state: &AppState,
    session: &Session,
    o: &One,
    skip: i64,
) -> Result<String, Response> {
    let r = &o.record;
    let page = fires::history(&state.pool, &r.id, HISTORY_PAGE, skip)
        .await
        .map_err(|e| fail(session)(e.into()))?;
    let now = state.now();
    let url = format!("{}/s/{}", base_url(&o.org, &o.user), r.id);
    let mut rows = String::new();
    for f in &page.items {
        let mut notes = Vec::new();
        if f.manual {
            notes.push("manual run".to_owned());
        }
        if f.late {
            notes.push("late".to_owned());
        }
        if f.skipped_slots > 0 {
            notes.push(format!("{} slots skipped", f.skipped_slots));
        }
        if let Some(d) = &f.dead_letter {
            notes.push(format!("dead letter {d}"));
        }
        let action = if f.status == "dead" {
            format!(
                "<form method=\"post\" action=\"{}/fires/{}/redrive\">{}<button type=\"submit\" class=\"small\" \
                 aria-label=\"Redrive fire of {}\">Redrive</button></form>",
                esc(&url),
                f.id,
                csrf_field(session),
                esc(&view::utc(f.scheduled_for))
            )
        } else {
            String::new()
        };
        // A flexible window moved the delivery: the planned instant under the slot, and the
        // delivery's lag counted from it (as the bench does), not from the slot.
        let deliver_at = f.deliver_at.filter(|at| *at != f.scheduled_for);
        let mut slot = when(f.scheduled_for, &r.timezone, now);
        if let Some(at) = deliver_at {
            let _ = write!(
                slot,
                "<br>{}",
                view::planned(f.scheduled_for, at, &r.timezone)
            );
        }
        let due = deliver_at.unwrap_or(f.scheduled_for);
        let _ = write!(
            rows,
            "<tr data-fire=\"{}\"><td>{slot}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"err\">{}</td><td>{}</td><td>{}</td></tr>",
            f.id,
            f.delivered_at.map_or("<span class=\"muted\">-</span>".to_owned(), |t| {
                format!(
                    "{}<br><span class=\"muted\">+{} ms{}</span>",
                    esc(&view::utc(t)),
                    (t - due).num_milliseconds(),
                    if deliver_at.is_some() { " after the plan" } else { "" }
                )
            }),
            status_badge(&f.status),
            f.attempts,
            esc(f.last_error.as_deref().unwrap_or("")),
            esc(&notes.join(", ")),
            action
        );
    }
    if rows.is_empty() {
        rows = "<tr><td colspan=\"7\" class=\"muted\">No fires yet.</td></tr>".to_owned();
    }
    let more = skip + i64::try_from(page.items.len()).unwrap_or(0) < page.total;
    let mut pager = String::from("<nav class=\"pager\" aria-label=\"History pages\">");
    if skip > 0 {
        let _ = write!(
            pager,
            "<a href=\"{}?skip={}\">← Newer</a>",
            esc(&url),
            (skip - HISTORY_PAGE).max(0)
        );
    }
    if more {
        let _ = write!(
            pager,
            "<a href=\"{}?skip={}\">Older →</a>",
            esc(&url),
            skip + HISTORY_PAGE
        );
    }
    pager.push_str("</nav>");
    Ok(format!(
        "<p class=\"muted\">{} in the history, newest first{}.</p>\
         <div class=\"scroll\"><table id=\"history-table\"><thead><tr><th scope=\"col\">Scheduled for</th><th scope=\"col\">Delivered</th>\
         <th scope=\"col\">Status</th><th scope=\"col\">Attempts</th><th scope=\"col\">Last error</th><th scope=\"col\">Notes</th>\
         <th scope=\"col\"><span class=\"sr\">Action</span></th></tr></thead><tbody>{rows}</tbody></table></div>{pager}",
        if page.total == 1 {
            "1 fire".to_owned()
        } else {
            format!("{} fires", page.total)
        },
        if skip == 0 { "; updates by itself" } else { "" }
    ))
}

pub(crate) async fn history(
    State(state): State<AppState>,
    session: Session,
    Path(params): Path<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> Page {
    let o = one(&state, &session, params).await?;
    let skip = history_skip(raw.as_deref()).map_err(fail(&session))?;
    let fragment = history_html(&state, &session, &o, skip).await?;
    Ok(Html(fragment).into_response())
}

async fn update_with(
    state: &AppState,
    session: &Session,
    o: &One,
    body: &Map<String, Value>,
) -> Result<SchedulerRecord, ApiError> {
    let now = state.now();
    let mut tx = state.pool.begin().await?;
    let stored = schedulers::get_for_update(&mut tx, o.tenant.owner(), &o.record.id)
        .await
        .map_err(api::scheduler_error)?;
    let record = api::updated_scheduler(&o.tenant, &stored, body, now)?;
    api::store_update(&mut tx, state, &stored, &record, now).await?;
    tx.commit().await?;
    let _ = session;
    Ok(record)
}

async fn set_paused(
    state: AppState,
    session: Session,
    params: HashMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
    paused: bool,
) -> Page {
    check_csrf(&session, &headers, &body)?;
    let o = one(&state, &session, params).await?;
    let mut change = Map::new();
    change.insert("is_paused".into(), Value::Bool(paused));
    update_with(&state, &session, &o, &change)
        .await
        .map_err(fail(&session))?;
    tracing::info!(scheduler_id = %o.record.id, paused, "console: pause state changed");
    Ok(see_other(&format!(
        "{}/s/{}",
        base_url(&o.org, &o.user),
        o.record.id
    )))
}

pub(crate) async fn pause(
    State(state): State<AppState>,
    session: Session,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    set_paused(state, session, params, headers, body, true).await
}

pub(crate) async fn resume(
    State(state): State<AppState>,
    session: Session,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    set_paused(state, session, params, headers, body, false).await
}

pub(crate) async fn run(
    State(state): State<AppState>,
    session: Session,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    check_csrf(&session, &headers, &body)?;
    let o = one(&state, &session, params).await?;
    let _fire = api::run(State(state.clone()), o.tenant.clone())
        .await
        .map_err(fail(&session))?;
    Ok(see_other(&format!(
        "{}/s/{}",
        base_url(&o.org, &o.user),
        o.record.id
    )))
}

pub(crate) async fn redrive(
    State(state): State<AppState>,
    session: Session,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    check_csrf(&session, &headers, &body)?;
    let fire_id = params.get("fire_id").cloned().unwrap_or_default();
    let o = one(&state, &session, params).await?;
    api_ops::redrive_fire(&state, &o.tenant, &fire_id)
        .await
        .map_err(fail(&session))?;
    Ok(see_other(&format!(
        "{}/s/{}",
        base_url(&o.org, &o.user),
        o.record.id
    )))
}

pub(crate) async fn delete_form(
    State(state): State<AppState>,
    session: Session,
    Path(params): Path<HashMap<String, String>>,
) -> Page {
    let o = one(&state, &session, params).await?;
    let url = format!("{}/s/{}", base_url(&o.org, &o.user), o.record.id);
    let body = format!(
        "{}<h1>Delete {}?</h1><p>The scheduler stops at once: its pending fires are cancelled and its attachments deleted. \
         Its fire history stays until retention removes it. This cannot be undone.</p>\
         <form method=\"post\" action=\"{1}/delete\" class=\"actions\">{}<button type=\"submit\" class=\"danger\" autofocus>Delete scheduler</button>\
         <a class=\"button secondary\" href=\"{1}\">Cancel</a></form>",
        crumbs(&o.org, &o.user, &o.record.name),
        esc(&o.record.name),
        csrf_field(&session),
    )
    .replace("{1}", &esc(&url));
    Ok(html(Some(&session), "Delete", &body))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    session: Session,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    check_csrf(&session, &headers, &body)?;
    let o = one(&state, &session, params).await?;
    let _message = api::delete(State(state.clone()), o.tenant.clone())
        .await
        .map_err(fail(&session))?;
    Ok(see_other(&base_url(&o.org, &o.user)))
}

pub(crate) async fn file(
    State(state): State<AppState>,
    session: Session,
    Path(params): Path<HashMap<String, String>>,
) -> Page {
    let file_id = params.get("file_id").cloned().unwrap_or_default();
    let o = one(&state, &session, params).await?;
    let not_found = || {
        error_page(
            Some(&session),
            &ApiError::NotFound("File not found".to_owned()),
        )
    };
    let Ok(file_id) = uuid::Uuid::parse_str(&file_id) else {
        return Err(not_found());
    };
    let Some(store) = state.files() else {
        return Err(error_page(
            Some(&session),
            &ApiError::ServiceUnavailable("file storage is not configured".to_owned()),
        ));
    };
    let row = attachments::get(&state.pool, &o.org, &o.record.id, file_id)
        .await
        .map_err(|_| not_found())?;
    let url = store
        .file_url(&row.file_path)
        .await
        .map_err(|e| fail(&session)(e.into()))?;
    Ok(Redirect::to(&url).into_response())
}

// ----- create and edit -----

const FIELD_HELP: [(&str, &str); 8] = [
    (
        "schedule_expression",
        "EventBridge form: `rate(5 minutes)`, `cron(0 12 ? * MON-FRI *)` or \
         `at(2027-03-01T09:00:00)` (in the time zone). When given, it stands instead of Kind, \
         Every, How many units, Cron expression, Time of day and Month and day, which are not sent.",
    ),
    (
        "flexible_time_window_minutes",
        "0-1440; 0 or empty: off. Spreads each fire's delivery over this many minutes after its slot.",
    ),
    (
        "start_datetime",
        "In the time zone: 2025-03-14 09:00 (or RFC 3339 with an offset).",
    ),
    (
        "trigger_time",
        "Time of day in the zone, e.g. 09:00 (optional; else the start's).",
    ),
    (
        "triger_month_and_day",
        "Month and day, e.g. 03-14 (years only; optional).",
    ),
    (
        "cron_expression",
        "5 fields (or 6-7 with seconds, year), e.g. `0 9 * * MON-FRI`; unit cron.",
    ),
    ("job_headers", "JSON object of extra headers (webhook)."),
    ("job_data", "JSON object sent as data in every envelope."),
];

/// `` `x` `` in (escaped) help text as `<code>x</code>`.
fn code_spans(escaped: &str) -> String {
    let mut out = String::with_capacity(escaped.len());
    for (i, part) in escaped.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

fn scheduler_form(
    session: &Session,
    action: &str,
    v: &FormValues,
    error: Option<(&str, &str)>,
    cancel: &str,
) -> String {
    let get = |k: &str| v.get(k).map(String::as_str).unwrap_or("");
    let (err_field, err_msg) = error.unwrap_or(("", ""));
    let field_error = |k: &str| -> String {
        if err_field == k {
            format!(
                "<p class=\"field-error\" id=\"{k}-error\" role=\"alert\">{}</p>",
                esc(err_msg)
            )
        } else {
            String::new()
        }
    };
    let described = |k: &str| -> String {
        let mut ids = Vec::new();
        if FIELD_HELP.iter().any(|(f, _)| *f == k) {
            ids.push(format!("{k}-help"));
        }
        if err_field == k {
            ids.push(format!("{k}-error"));
        }
        let invalid = if err_field == k {
            " aria-invalid=\"true\""
        } else {
            ""
        };
        if ids.is_empty() {
            invalid.to_owned()
        } else {
            format!(" aria-describedby=\"{}\"{invalid}", ids.join(" "))
        }
    };
    let help = |k: &str| -> String {
        FIELD_HELP
            .iter()
            .find(|(f, _)| *f == k)
            .map_or(String::new(), |(_, h)| {
                format!(
                    "<small id=\"{k}-help\" class=\"muted\">{}</small>",
                    code_spans(&esc(h))
                )
            })
    };
    // `extra`: more attributes, already escaped; `class`: more classes of the field.
    let input_with = |k: &str, label: &str, kind: &str, class: &str, extra: &str| -> String {
        format!(
            "<div class=\"field{class}\" data-field=\"{k}\"><label for=\"{k}\">{}</label><input id=\"{k}\" name=\"{k}\" type=\"{kind}\" value=\"{}\"{extra}{}>{}{}</div>",
            esc(label),
            esc(get(k)),
            described(k),
            help(k),
            field_error(k)
        )
    };
    let input = |k: &str, label: &str, kind: &str| -> String { input_with(k, label, kind, "", "") };
    let textarea = |k: &str, label: &str| -> String {
        format!(
            "<div class=\"field wide\" data-field=\"{k}\"><label for=\"{k}\">{}</label><textarea id=\"{k}\" name=\"{k}\" rows=\"3\"{}>{}</textarea>{}{}</div>",
            esc(label),
            described(k),
            esc(get(k)),
            help(k),
            field_error(k)
        )
    };
    let select = |k: &str, label: &str, options: &[(&str, &str)]| -> String {
        let mut opts = String::new();
        for (value, text) in options {
            let _ = write!(
                opts,
                "<option value=\"{}\"{}>{}</option>",
                esc(value),
                if get(k) == *value { " selected" } else { "" },
                esc(text)
            );
        }
        format!(
            "<div class=\"field\" data-field=\"{k}\"><label for=\"{k}\">{}</label><select id=\"{k}\" name=\"{k}\"{}>{opts}</select>{}</div>",
            esc(label),
            described(k),
            field_error(k)
        )
    };
    // `form-error`: the page's script removes it once the draft validates.
    let top_error = if !err_msg.is_empty() && err_field.is_empty() {
        format!(
            "<p class=\"error\" role=\"alert\" id=\"form-error\">{}</p>",
            esc(err_msg)
        )
    } else if !err_msg.is_empty() {
        format!(
            "<p class=\"error\" role=\"alert\" id=\"form-error\">Not saved: {}</p>",
            esc(err_msg)
        )
    } else {
        String::new()
    };
    let paused = if get("is_paused").is_empty() {
        ""
    } else {
        " checked"
    };
    // The preview of a new scheduler is the organization's; an existing one's knows its id,
    // and with it each fire's planned delivery in a flexible window.
    let preview = action
        .strip_suffix("/edit")
        .or_else(|| action.strip_suffix("/new"))
        .unwrap_or(action);
    format!(
        "{top_error}<form method=\"post\" action=\"{}\" id=\"scheduler-form\" data-preview=\"{}/preview\" novalidate>{}\
         <div class=\"form-grid\"><div class=\"form-main\">\
         <fieldset><legend>What</legend>{}{}{}{}{}{}</fieldset>\
         <fieldset><legend>When</legend>{}{}{}{}{}{}{}{}{}{}{}{}{}{}\
         <div class=\"field\"><input id=\"is_paused\" name=\"is_paused\" type=\"checkbox\"{paused}><label for=\"is_paused\" class=\"inline-label\">Paused</label></div></fieldset>\
         <fieldset><legend>Job</legend>{}{}{}{}{}{}{}{}{}{}</fieldset>\
         <div class=\"actions\"><button type=\"submit\">Save</button><a class=\"button secondary\" href=\"{}\">Cancel</a></div></div>\
         <aside class=\"preview card\" aria-labelledby=\"preview-h\"><h2 id=\"preview-h\">Next fires of this draft</h2>\
         <div id=\"preview\" aria-live=\"polite\"><p class=\"muted\">Fill in the form to see the next fires.</p></div></aside></div></form>",
        esc(action),
        esc(preview),
        csrf_field(session),
        input("name", "Name", "text"),
        input("event_type", "Event type", "text"),
        textarea("description", "Description"),
        input("internal_id", "Internal id", "text"),
        input("channel_source", "Channel source", "text"),
        textarea("options", "Options (JSON)"),
        input_with("schedule_expression", "Schedule expression (optional)", "text", " wide expression",
            " placeholder=\"rate(5 minutes)\" autocomplete=\"off\" autocapitalize=\"off\" spellcheck=\"false\""),
        select("type", "Kind", &[("recurring", "recurring"), ("non_recurring", "non recurring (once)")]),
        input("timezone", "Time zone (IANA)", "text"),
        select("trigger_frequency_unit", "Every", &[("", "(none)"), ("minutes", "minutes"), ("hours", "hours"), ("days", "days"), ("weeks", "weeks"), ("months", "months"), ("years", "years"), ("cron", "cron expression")]),
        input("trigger_frequency_value", "How many units", "number"),
        input("cron_expression", "Cron expression", "text"),
        input("start_datetime", "Start", "text"),
        input("trigger_time", "Time of day", "text"),
        input("triger_month_and_day", "Month and day", "text"),
        input("end_datetime", "End (optional)", "text"),
        input("max_fires", "At most this many fires", "number"),
        select("misfire_policy", "Missed slots", &[("fire_once", "fire once (default)"), ("skip", "skip"), ("fire_all", "fire all (at most 100)")]),
        select("one_time_schedule_type", "One-time kind", &[("", "exact (default)"), ("exact", "exact")]),
        input_with("flexible_time_window_minutes", "Flexible window (minutes)", "number", "",
            " min=\"0\" max=\"1440\" step=\"1\" inputmode=\"numeric\" placeholder=\"0 (off)\""),
        select("job_type", "Job type", &[("webhook", "webhook"), ("kafka", "Kafka")]),
        input("job_url", "Webhook URL", "url"),
        select("job_method", "Method", &[("", "POST (default)"), ("POST", "POST"), ("PUT", "PUT"), ("PATCH", "PATCH"), ("GET", "GET"), ("DELETE", "DELETE")]),
        textarea("job_headers", "Headers (JSON)"),
        input("job_timeout_ms", "Timeout (ms)", "number"),
        input("job_topic", "Kafka topic", "text"),
        textarea("job_data", "Data (JSON)"),
        input("job_workflow_id", "Workflow id", "text"),
        input("job_retry_max_attempts", "Retry: max attempts", "number"),
        input("job_retry_max_age_secs", "Retry: max age (s)", "number"),
        esc(cancel)
    )
}

fn new_defaults(now: chrono::DateTime<chrono::Utc>) -> FormValues {
    let mut v = FormValues::new();
    for (k, val) in [
        ("type", "recurring"),
        ("timezone", "UTC"),
        ("trigger_frequency_unit", "days"),
        ("trigger_frequency_value", "1"),
        ("misfire_policy", "fire_once"),
        ("flexible_time_window_minutes", "0"),
        ("job_type", "webhook"),
    ] {
        v.insert(k.to_owned(), val.to_owned());
    }
    v.insert("start_datetime".to_owned(), view::local(now, "UTC"));
    v
}

pub(crate) async fn new_form(
    State(state): State<AppState>,
    session: Session,
    Path(params): Path<HashMap<String, String>>,
) -> Page {
    let (org, user) = scope(&state, &session, &params)
        .await
        .map_err(fail(&session))?;
    let base = base_url(&org, &user);
    let form = scheduler_form(
        &session,
        &format!("{base}/new"),
        &new_defaults(state.now()),
        None,
        &base,
    );
    let body = format!("{}<h1>New scheduler</h1>{form}", crumbs(&org, &user, "new"));
    Ok(html(Some(&session), "New scheduler", &body))
}

/// The message of a refused form and the field it is about.
/// An update whose body is valid on its own but makes the stored scheduler invalid (say, the
/// expression cleared with no frequency given) is a 409 in the API; the form is shown again
/// with its message all the same, so nothing typed is lost.
fn refusal(e: &ApiError) -> Option<(String, String)> {
    match e {
        ApiError::BadRequest(m) | ApiError::Conflict(m) => {
            Some((view::field_of(m).unwrap_or("").to_owned(), m.clone()))
        }
        _ => None,
    }
}

/// Where a refused form is shown again.
struct FormPage<'a> {
    title: &'a str,
    head: &'a str,
    action: &'a str,
    cancel: &'a str,
}

fn form_error_page(
    session: &Session,
    p: &FormPage<'_>,
    v: &FormValues,
    field: &str,
    message: &str,
) -> Response {
    let form = scheduler_form(session, p.action, v, Some((field, message)), p.cancel);
    let body = format!("{}<h1>{}</h1>{form}", p.head, esc(p.title));
    (StatusCode::BAD_REQUEST, html(Some(session), p.title, &body)).into_response()
}

pub(crate) async fn create(
    State(state): State<AppState>,
    session: Session,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    let Checked(v) = check_csrf(&session, &headers, &body)?;
    let (org, user) = scope(&state, &session, &params)
        .await
        .map_err(fail(&session))?;
    let tenant = Tenant::for_console(&org, &user, params);
    let base = base_url(&org, &user);
    let action = format!("{base}/new");
    let head = crumbs(&org, &user, "new");
    let page = FormPage {
        title: "New scheduler",
        head: &head,
        action: &action,
        cancel: &base,
    };
    let doc = match view::document_of(&v) {
        Ok(d) => d,
        Err((f, m)) => return Err(form_error_page(&session, &page, &v, &f, &m)),
    };
    let now = state.now();
    let record = match api::new_scheduler(&tenant, &doc, now) {
        Ok(r) => r,
        Err(e) => {
            return Err(match refusal(&e) {
                Some((f, m)) => form_error_page(&session, &page, &v, &f, &m),
                None => error_page(Some(&session), &e),
            })
        }
    };
    let saved = async {
        let mut tx = state.pool.begin().await?;
        api::insert_scheduler(&mut tx, &state, &record, now).await?;
        tx.commit().await?;
        Ok::<(), ApiError>(())
    };
    saved.await.map_err(fail(&session))?;
    tracing::info!(scheduler_id = %record.id, "console: scheduler created");
    Ok(see_other(&format!("{base}/s/{}", record.id)))
}

pub(crate) async fn edit_form(
    State(state): State<AppState>,
    session: Session,
    Path(params): Path<HashMap<String, String>>,
) -> Page {
    let o = one(&state, &session, params).await?;
    let url = format!("{}/s/{}", base_url(&o.org, &o.user), o.record.id);
    let form = scheduler_form(
        &session,
        &format!("{url}/edit"),
        &view::form_of(&o.record),
        None,
        &url,
    );
    let body = format!(
        "{}<h1>Edit {}</h1>{form}",
        crumbs(&o.org, &o.user, &o.record.name),
        esc(&o.record.name)
    );
    Ok(html(Some(&session), "Edit", &body))
}

pub(crate) async fn edit(
    State(state): State<AppState>,
    session: Session,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    let Checked(v) = check_csrf(&session, &headers, &body)?;
    let o = one(&state, &session, params).await?;
    let url = format!("{}/s/{}", base_url(&o.org, &o.user), o.record.id);
    let action = format!("{url}/edit");
    let head = crumbs(&o.org, &o.user, &o.record.name);
    let title = format!("Edit {}", o.record.name);
    let page = FormPage {
        title: &title,
        head: &head,
        action: &action,
        cancel: &url,
    };
    let doc = match view::document_of(&v) {
        Ok(d) => d,
        Err((f, m)) => return Err(form_error_page(&session, &page, &v, &f, &m)),
    };
    match update_with(&state, &session, &o, &doc).await {
        Ok(_) => Ok(see_other(&url)),
        Err(e) => Err(match refusal(&e) {
            Some((f, m)) => form_error_page(&session, &page, &v, &f, &m),
            None => error_page(Some(&session), &e),
        }),
    }
}

/// The live preview of the new-scheduler form: the next fires of the draft, or the API's
/// message and the field it is about. JSON for the page's script.
pub(crate) async fn preview(
    State(state): State<AppState>,
    session: Session,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    let Checked(v) = check_csrf(&session, &headers, &body)?;
    let (org, user) = scope(&state, &session, &params)
        .await
        .map_err(fail(&session))?;
    let tenant = Tenant::for_console(&org, &user, params);
    draft_preview(&state, &session, &tenant, &v, None)
}

/// The live preview of the edit form: as [`preview`], and since the scheduler keeps its id,
/// with each fire's planned delivery in a flexible window.
pub(crate) async fn preview_one(
    State(state): State<AppState>,
    session: Session,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    let Checked(v) = check_csrf(&session, &headers, &body)?;
    let o = one(&state, &session, params).await?;
    draft_preview(&state, &session, &o.tenant, &v, Some(&o.record.id))
}

/// `{"data": [{"local", "utc", "deliver_at", "deliver_clock", "deliver_offset"}], "window"}`
/// (the `deliver_` keys only with a window and a known id: an unsaved draft's delivery is only
/// known to lie within the window), or `{"field", "message"}`. Validated and planned by the
/// same functions as the API's preview of a document.
fn draft_preview(
    state: &AppState,
    session: &Session,
    tenant: &Tenant,
    v: &FormValues,
    scheduler_id: Option<&str>,
) -> Page {
    let zone = v
        .get("timezone")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .unwrap_or("UTC")
        .to_owned();
    let doc = match view::document_of(v) {
        Ok(doc) => doc,
        Err((field, message)) => {
            return Ok(Json(json!({"field": field, "message": message})).into_response())
        }
    };
    let now = state.now();
    let planned = api_ops::preview_document(tenant, &doc, now, 10).and_then(|slots| {
        // The same record the preview planned from; its schedule knows the window.
        let schedule = api::new_scheduler(tenant, &doc, now)?.schedule()?;
        Ok((slots, schedule))
    });
    let (slots, schedule) = match planned {
        Ok(p) => p,
        Err(e) => {
            return match refusal(&e) {
                Some((field, message)) => {
                    Ok(Json(json!({"field": field, "message": message})).into_response())
                }
                None => Err(error_page(Some(session), &e)),
            }
        }
    };
    let window = schedule.flexible_window_minutes();
    let data: Vec<Value> = slots
        .iter()
        .map(|&t| {
            let mut item = json!({
                "utc": view::utc(t),
                "local": format!("{} {}", view::local(t, &zone), zone),
            });
            if let (true, Some(id)) = (window > 0, scheduler_id) {
                let at = schedule.delivery_instant(id, t);
                item["deliver_at"] = json!(crate::format_time(at));
                item["deliver_clock"] = json!(view::planned_clock(t, at, &zone));
                item["deliver_offset"] = json!(view::offset_words(at - t));
            }
            item
        })
        .collect();
    Ok(Json(json!({"data": data, "window": window})).into_response())
}

// ----- operations -----

fn operator_only(session: &Session) -> Result<(), Response> {
    if session.is_operator() {
        Ok(())
    } else {
        Err(error_page(
            Some(session),
            &ApiError::NotFound("Not found".to_owned()),
        ))
    }
}

pub(crate) async fn operations(State(state): State<AppState>, session: Session) -> Page {
    operator_only(&session)?;
    let tables = operations_html(&state, &session).await?;
    let body = format!(
        "<h1>Operations</h1><p class=\"muted\">Every organization. Updates by itself every 5 seconds.</p>\
         <section aria-labelledby=\"chart-h\"><h2 id=\"chart-h\">Deliveries over the last hour</h2>\
         <p class=\"muted\" id=\"chart-help\">Fires delivered per minute (bars, left axis) and lag p50 / p99 in ms (lines, right axis).</p>\
         <div id=\"chart\" class=\"chart\" role=\"img\" aria-describedby=\"chart-help\" data-stats=\"/ui/operations/stats.json\"></div></section>\
         <div id=\"ops-tables\" data-refresh=\"/ui/operations/tables\" aria-live=\"polite\">{tables}</div>"
    );
    Ok(html(Some(&session), "Operations", &body))
}

pub(crate) async fn operations_stats(State(state): State<AppState>, session: Session) -> Page {
    operator_only(&session)?;
    let stats = api_ops::delivery_stats(&state)
        .await
        .map_err(fail(&session))?;
    Ok(Json(stats).into_response())
}

pub(crate) async fn operations_tables(State(state): State<AppState>, session: Session) -> Page {
    operator_only(&session)?;
    Ok(Html(operations_html(&state, &session).await?).into_response())
}

async fn operations_html(state: &AppState, session: &Session) -> Result<String, Response> {
    let stats = api_ops::delivery_stats(state)
        .await
        .map_err(fail(session))?;
    let runners = api_ops::runner_list(state).await.map_err(fail(session))?;
    let b = &stats.backlog;
    let delivered: i64 = stats.minutes.iter().map(|m| m.delivered).sum();
    let mut s = format!(
        "<section aria-labelledby=\"backlog-h\"><h2 id=\"backlog-h\">Now</h2><dl class=\"facts\" id=\"backlog\">\
         <dt>Due schedulers not claimed</dt><dd>{}</dd><dt>Due fires not taken</dt><dd>{}</dd>\
         <dt>Oldest due</dt><dd>{}</dd><dt>Delivered in the last hour</dt><dd>{delivered}</dd></dl></section>",
        b.due_schedulers,
        b.due_fires,
        esc(b.oldest_due_at.as_deref().unwrap_or("-"))
    );
    s.push_str("<section aria-labelledby=\"dead-h\"><h2 id=\"dead-h\">Dead fires of the last 24 hours, by error</h2><div class=\"scroll\"><table id=\"dead-groups\"><thead><tr>\
        <th scope=\"col\">Error</th><th scope=\"col\">Fires</th><th scope=\"col\">Schedulers</th><th scope=\"col\">Last died</th><th scope=\"col\">Example</th><th scope=\"col\"><span class=\"sr\">Action</span></th></tr></thead><tbody>");
    if stats.dead_groups.is_empty() {
        s.push_str("<tr><td colspan=\"6\" class=\"muted\">No dead fires.</td></tr>");
    }
    for (i, g) in stats.dead_groups.iter().enumerate() {
        let error_value = g.last_error.clone().unwrap_or_default();
        let _ = write!(
            s,
            "<tr><td class=\"err\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td><a href=\"/ui/o/{}\">{}</a></td>\
             <td><form method=\"post\" action=\"/ui/operations/redrive-group\">{}\
             <input type=\"hidden\" name=\"last_error\" value=\"{}\"><input type=\"hidden\" name=\"null_error\" value=\"{}\">\
             <button type=\"submit\" class=\"small\" aria-label=\"Redrive group {}\">Redrive {} fires</button></form></td></tr>",
            esc(g.last_error.as_deref().unwrap_or("(no error)")),
            g.fires,
            g.schedulers,
            esc(&g.last_at),
            esc(&enc(&g.sample_organization_id)),
            esc(&format!("{} / {}", g.sample_organization_id, g.sample_scheduler_id)),
            csrf_field(session),
            esc(&error_value),
            if g.last_error.is_none() { "1" } else { "" },
            i + 1,
            g.fires
        );
    }
    s.push_str("</tbody></table></div></section>");
    s.push_str("<section aria-labelledby=\"runners-h\"><h2 id=\"runners-h\">Runners</h2><div class=\"scroll\"><table id=\"runners\"><thead><tr>\
        <th scope=\"col\">Owner</th><th scope=\"col\">State</th><th scope=\"col\">Last heartbeat</th><th scope=\"col\">Fires in flight</th><th scope=\"col\">Started</th></tr></thead><tbody>");
    if runners.data.is_empty() {
        s.push_str("<tr><td colspan=\"5\" class=\"muted\">No runner has reported.</td></tr>");
    }
    for r in &runners.data {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{} ({:.0} s ago)</td><td class=\"num\">{}</td><td>{}</td></tr>",
            esc(&r.owner),
            status_badge(if r.alive { "alive" } else { "silent" }),
            esc(&r.last_heartbeat_at),
            r.heartbeat_age_secs,
            r.in_flight,
            esc(&r.started_at)
        );
    }
    s.push_str("</tbody></table></div></section>");
    Ok(s)
}

pub(crate) async fn redrive_group(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    let Checked(v) = check_csrf(&session, &headers, &body)?;
    operator_only(&session)?;
    let last_error = if v.get("null_error").is_some_and(|s| !s.is_empty()) {
        None
    } else {
        Some(v.get("last_error").map(String::as_str).unwrap_or(""))
    };
    api_ops::redrive_dead_group(&state, last_error)
        .await
        .map_err(fail(&session))?;
    Ok(see_other("/ui/operations"))
}
