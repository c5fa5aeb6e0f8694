//! The OpenAPI 3 document, generated from the handlers' annotations. The tenant routes are
//! annotated once, under `/3rd`; their `/v1` twins are added here with distinct operation ids.

use serde_json::{json, Value};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::document::{FireItem, FirePage, MessageBody, Preview, SchedulerDocument, SchedulerPage};
use crate::error::ErrorBody;
use crate::query::{DEFAULT_LIMIT, DEFAULT_PREVIEW, MAX_LIMIT, MAX_PREVIEW, MAX_SKIP};
use crate::routes::admin::{
    OrganizationCreated, TokenCreated, TokenList, TokenSummary, UserCreated,
};
use crate::routes::files::{FileInfo, SchedulerForm};
use crate::routes::{admin, files, schedulers};
use crate::ApiConfig;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Scheduler API",
        description = "Schedulers that fire Kafka messages and webhooks on a timing. Every error is `{\"message\": ...}`; every response carries `x-request-id`.",
    ),
    paths(
        schedulers::list,
        schedulers::create,
        schedulers::get_one,
        schedulers::update,
        schedulers::delete,
        schedulers::executions,
        schedulers::run,
        schedulers::preview,
        files::create_with_files,
        files::update_with_files,
        files::get_file,
        admin::create_organization,
        admin::create_user,
        admin::create_token,
        admin::list_tokens,
        admin::revoke_token,
        openapi_json,
    ),
    components(schemas(
        SchedulerDocument,
        SchedulerPage,
        FireItem,
        FirePage,
        Preview,
        MessageBody,
        ErrorBody,
        FileInfo,
        SchedulerForm,
        OrganizationCreated,
        UserCreated,
        TokenCreated,
        TokenSummary,
        TokenList,
    )),
    modifiers(&SecuritySchemes),
    tags(
        (name = "schedulers", description = "A user's schedulers (also served under /v1/organization/...)"),
        (name = "admin", description = "Organizations, users and tokens; needs x-admin-token"),
        (name = "meta", description = "This document"),
    )
)]
struct ApiDoc;

/// Documents `GET /openapi.json` itself (the handler is in `routes`).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    summary = "This OpenAPI document",
    responses((status = 200, description = "OpenAPI 3 document", content_type = "application/json", body = Object))
)]
#[allow(dead_code)]
fn openapi_json() {}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "access_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-access-token",
                "The organization's API token (api_<uuid>)",
            ))),
        );
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-admin-token",
                "The operator's ADMIN_TOKEN",
            ))),
        );
    }
}

/// The document as JSON: the annotations, made exact ([`constrain`]), with the response links
/// ([`link`]) and the `/v1` copies of the tenant routes.
pub(crate) fn document() -> Value {
    let api = ApiDoc::openapi()
        .merge_from(crate::routes::secrets::SecretsDoc::openapi())
        .merge_from(crate::routes::operations::OperationsDoc::openapi());
    let mut doc = serde_json::to_value(api).unwrap_or_else(|e| {
        // Serializing a derived document cannot fail; an empty document beats a crash.
        tracing::error!(error = %e, "cannot serialize the OpenAPI document");
        Value::Null
    });
    constrain(&mut doc);
    link(&mut doc);
    if let Some(Value::Object(paths)) = doc.get_mut("paths") {
        let copies: Vec<(String, Value)> = paths
            .iter()
            .filter_map(|(path, item)| {
                let rest = path.strip_prefix("/3rd/")?;
                let mut item = item.clone();
                if let Value::Object(ops) = &mut item {
                    for op in ops.values_mut() {
                        if let Some(Value::String(id)) = op.get_mut("operationId") {
                            id.push_str("_v1");
                        }
                        for response in op
                            .get_mut("responses")
                            .and_then(Value::as_object_mut)
                            .into_iter()
                            .flat_map(|r| r.values_mut())
                        {
                            for l in response
                                .get_mut("links")
                                .and_then(Value::as_object_mut)
                                .into_iter()
                                .flat_map(|l| l.values_mut())
                            {
                                if let Some(Value::String(id)) = l.get_mut("operationId") {
                                    id.push_str("_v1");
                                }
                            }
                        }
                    }
                }
                Some((format!("/v1/{rest}"), item))
            })
            .collect();
        paths.extend(copies);
    }
    doc
}

/// `scheduler_core::validate_tenant_id`: what an organization or user id may be.
const TENANT_ID_PATTERN: &str = "^[A-Za-z0-9_.:@-]{1,128}$";

const ERROR_REF: &str = "#/components/schemas/ErrorBody";

/// What the shared extractors and limits enforce, written into every operation they guard, so
/// each handler's annotation only has to say what is its own:
/// - parameters: `limit`, `skip`, `count` with their bounds and defaults (`query.rs`); ids with
///   their formats; `x-organization-id` / `x-user-id`, which must equal the path (`auth.rs`);
/// - statuses: the tenant extractor's 400 (header mismatch, empty path segment) / 401 / 404
///   (user) and any route's 500; a JSON body's 400 / 413 / 415; a form's 413 / 415 / 503;
/// - request bodies: the create body's required fields and the form's required `payload`.
fn constrain(doc: &mut Value) {
    let max_body = ApiConfig::default().body_limit;
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let tenant = path.starts_with("/3rd/");
        let admin = path.starts_with("/admin/");
        let Some(ops) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in ops.iter_mut() {
            for p in op
                .get_mut("parameters")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                constrain_parameter(p);
            }
            let body_type = op
                .pointer("/requestBody/content")
                .and_then(Value::as_object)
                .and_then(|c| c.keys().next().cloned());
            if let Some(Value::Object(body)) = op.get_mut("requestBody") {
                match body_type.as_deref() {
                    Some("application/json") => {
                        body.insert("x-max-body-bytes".into(), Value::from(max_body));
                        // A rotation's body may be left out; every other JSON body is needed.
                        let required = !path.ends_with("/rotate");
                        body.insert("required".into(), Value::Bool(required));
                        let id_field = match path.as_str() {
                            "/admin/organizations" => Some("organization_id"),
                            "/admin/organizations/{organization_id}/users" => Some("user_id"),
                            _ => None,
                        };
                        if let Some(field) = id_field {
                            body.insert(
                                "content".into(),
                                json!({"application/json": {"schema": {
                                    "type": "object",
                                    "required": [field],
                                    "properties": {field: {"type": "string", "pattern": TENANT_ID_PATTERN}}
                                }}}),
                            );
                        }
                    }
                    Some("multipart/form-data") => {
                        body.insert("required".into(), Value::Bool(true));
                        if let Some(Value::Object(form)) = body
                            .get_mut("content")
                            .and_then(|c| c.get_mut("multipart/form-data"))
                        {
                            form.insert(
                                "encoding".into(),
                                json!({"payload": {"contentType": "application/json"}}),
                            );
                        }
                    }
                    _ => {}
                }
            }
            // The bodies whose schema is written here rather than derived.
            let body_schema = match (method.as_str(), path.as_str()) {
                ("post", p) if p.ends_with("/schedulers") || p.ends_with("/schedulers/preview") => {
                    Some(("application/json", ref_to("SchedulerCreate")))
                }
                ("put", p) if p.ends_with("/schedulers/{scheduler_id}") => {
                    Some(("application/json", ref_to("SchedulerUpdate")))
                }
                ("post", p) if p.ends_with("/schedulers/files") => {
                    Some(("multipart/form-data", ref_to("SchedulerForm")))
                }
                ("put", p) if p.ends_with("/schedulers/files/{scheduler_id}") => {
                    Some(("multipart/form-data", ref_to("SchedulerUpdateForm")))
                }
                ("post", "/admin/dead-fires/redrive") => Some((
                    "application/json",
                    json!({
                        "type": "object",
                        "required": ["last_error"],
                        "properties": {"last_error": {"type": ["string", "null"], "pattern": NO_NUL}}
                    }),
                )),
                _ => None,
            };
            if let (Some((media_type, schema)), Some(Value::Object(body))) =
                (body_schema, op.get_mut("requestBody"))
            {
                body.insert("required".into(), Value::Bool(true));
                if let Some(Value::Object(content)) =
                    body.get_mut("content").and_then(|c| c.get_mut(media_type))
                {
                    content.insert("schema".into(), schema);
                }
            }
            let mut statuses: Vec<(&str, &str)> = Vec::new();
            if tenant {
                statuses.extend([
                    ("400", "x-organization-id / x-user-id does not equal the path, or a required path segment is empty"),
                    ("401", "Unauthorized: missing, unknown or revoked token, or another organization's"),
                    ("500", "Internal server error"),
                ]);
                if path.contains("/users/") {
                    statuses.push(("404", "User not found"));
                }
            }
            if admin {
                statuses.extend([
                    ("400", "A bad organization_id (or other id)"),
                    ("401", "Missing or wrong x-admin-token"),
                    (
                        "404",
                        "The admin API is off (no ADMIN_TOKEN configured), or not found",
                    ),
                    ("500", "Internal server error"),
                ]);
            }
            match body_type.as_deref() {
                Some("application/json") => statuses.extend([
                    ("400", "The body is not a JSON object (malformed, duplicate key), or a field is invalid; the message names it"),
                    ("413", "The body is larger than 1 MiB"),
                    ("415", "Content-Type is not application/json"),
                ]),
                Some("multipart/form-data") => statuses.extend([
                    ("400", "payload is required / Invalid JSON in payload / a malformed form, or an invalid field"),
                    ("413", "A file over its size limit (25 MiB), more than 10 files, or a payload over 1 MiB"),
                    ("415", "Content-Type is not multipart/form-data"),
                    ("503", "file storage is not configured"),
                ]),
                _ => {}
            }
            if let Some(Value::Object(responses)) = op.get_mut("responses") {
                for (status, description) in statuses {
                    responses.entry(status.to_owned()).or_insert_with(|| {
                        json!({
                            "description": description,
                            "content": {"application/json": {"schema": {"$ref": ERROR_REF}}}
                        })
                    });
                }
            }
        }
    }
    if let Some(Value::Object(schemas)) = doc.pointer_mut("/components/schemas") {
        schemas.insert("SchedulerCreate".into(), scheduler_input(true));
        schemas.insert("SchedulerUpdate".into(), scheduler_input(false));
        schemas.insert("Job".into(), job_schema());
        // Postgres cannot store U+0000: any JSON value, without it in any string or key.
        schemas.insert(
            "JsonWithoutNul".into(),
            json!({"anyOf": [
                {"type": ["null", "boolean", "number"]},
                {"type": "string", "pattern": NO_NUL},
                {"type": "array", "items": {"$ref": "#/components/schemas/JsonWithoutNul"}},
                {"type": "object", "propertyNames": {"pattern": NO_NUL},
                 "additionalProperties": {"$ref": "#/components/schemas/JsonWithoutNul"}}
            ]}),
        );
        if let Some(Value::Object(document)) = schemas.get_mut("SchedulerDocument") {
            if let Some(Value::Object(props)) = document.get_mut("properties") {
                props.insert(
                    "options".into(),
                    json!({"description": "Any JSON value, as given (null when none)"}),
                );
            }
        }
        // A rotation names only overlap_secs; another field is refused (routes/secrets.rs).
        if let Some(Value::Object(rotate)) = schemas.get_mut("RotateRequest") {
            rotate.insert("additionalProperties".into(), Value::Bool(false));
        }
        schemas.insert("SchedulerForm".into(), form_schema("SchedulerCreate"));
        schemas.insert("SchedulerUpdateForm".into(), form_schema("SchedulerUpdate"));
    }
}

/// The default of `S3_MAX_FILES` (the files a form may carry; the 11th is a 413).
const DEFAULT_MAX_FILES: usize = 10;

fn constrain_parameter(p: &mut Value) {
    let name = p["name"].as_str().unwrap_or_default().to_owned();
    let location = p["in"].as_str().unwrap_or_default().to_owned();
    let no_nul = "^[^\\u0000]*$";
    let (schema, extra): (Value, Option<(&str, Value)>) = match (location.as_str(), name.as_str()) {
        ("query", "limit") => (
            json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}),
            None,
        ),
        ("query", "skip") => (
            json!({"type": "integer", "format": "int64", "minimum": 0, "maximum": MAX_SKIP, "default": 0}),
            None,
        ),
        ("query", "count") => (
            json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_PREVIEW, "default": DEFAULT_PREVIEW}),
            None,
        ),
        ("query", "event_type") => (json!({"type": "string", "pattern": no_nul}), None),
        ("header", "x-organization-id") => (
            json!({"type": "string"}),
            Some(("x-must-equal-path-parameter", json!("organization_id"))),
        ),
        ("header", "x-user-id") => (
            json!({"type": "string"}),
            Some(("x-must-equal-path-parameter", json!("user_id"))),
        ),
        ("path", "scheduler_id") => (json!({"type": "string", "pattern": "^[0-9a-f]{24}$"}), None),
        ("path", "file_id" | "token_id") => (json!({"type": "string", "format": "uuid"}), None),
        _ => return,
    };
    if let Value::Object(p) = p {
        p.insert("schema".into(), schema);
        if let Some((key, value)) = extra {
            p.insert(key.into(), value);
            let description = format!(
                "When given, must equal the path's {}, else 400 `{name} does not match the path`",
                p[key].as_str().unwrap_or_default()
            );
            p.insert("description".into(), Value::String(description));
        }
    }
}

/// No U+0000 anywhere (Postgres text and jsonb cannot hold it).
const NO_NUL: &str = "^[^\\u0000]*$";

/// A string with a character that is not white space (Rust's `char::is_whitespace`, which the
/// server trims by: the set is spelled out, since `\s` differs between regex engines).
const NOT_BLANK: &str = "^[^\\u0000]*[^\\u0000\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000]*$";

/// `validate::is_webhook_url`, as a pattern.
const WEBHOOK_URL: &str = concat!(
    "^https?://",
    "(((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])",
    "|([A-Za-z0-9]+(-[A-Za-z0-9]+)*\\.)*[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*\\.?)",
    "(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0))?",
    "([/?#]([A-Za-z0-9._~!$&'()*+,;=:@/?#-]|%[0-9A-Fa-f]{2})*)?$",
);

/// Names a browser's form encoding can put in a part's header (it percent-encodes CR, LF and
/// `"`; the other control characters would break the header, and the form is refused).
const PART_NAME: &str = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$";

/// A pattern matching `words` in any letter case.
fn any_case(words: &[&str]) -> String {
    format!("^{}$", any_case_words(words))
}

/// `(word|word...)` in any letter case, unanchored.
fn any_case_words(words: &[&str]) -> String {
    let alternatives: Vec<String> = words
        .iter()
        .map(|w| {
            w.chars()
                .map(|c| {
                    if c.is_ascii_alphabetic() {
                        format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase())
                    } else if c == '.' {
                        "\\.".to_owned()
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        })
        .collect();
    format!("({})", alternatives.join("|"))
}

fn ref_to(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// A date-time field: RFC 3339 as JSON Schema's `date-time` reads it (`validate::is_rfc3339`),
/// or `""` / null for none.
fn date_time(description: &str) -> Value {
    json!({
        "description": description,
        "anyOf": [{"type": "string", "format": "date-time"}, {"enum": ["", null]}]
    })
}

/// The fields of a scheduler as a client writes them, each with what the server checks of it
/// on its own (`validate::check_fields`): the whole of an update's schema, and the properties
/// of a create's.
fn scheduler_fields() -> Value {
    use crate::validate::{
        KINDS, MAX_CHANNEL_SOURCE, MAX_DESCRIPTION, MAX_EVENT_TYPE, MAX_FIRES, MAX_FREQUENCY_VALUE,
        MAX_INTERNAL_ID, MAX_NAME, MISFIRE_POLICIES, UNITS,
    };
    let nullable_text =
        |max: usize| json!({"type": ["string", "null"], "maxLength": max, "pattern": NO_NUL});
    let required_text = |max: usize| json!({"type": "string", "minLength": 1, "maxLength": max, "pattern": NOT_BLANK});
    let with_null = |values: &[&str], extra: &[&str]| {
        let mut v: Vec<Value> = values.iter().chain(extra).map(|s| json!(s)).collect();
        v.push(Value::Null);
        Value::Array(v)
    };
    let zones: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
    json!({
        "name": required_text(MAX_NAME),
        "event_type": required_text(MAX_EVENT_TYPE),
        "description": nullable_text(MAX_DESCRIPTION),
        "channel_source": nullable_text(MAX_CHANNEL_SOURCE),
        "internal_id": nullable_text(MAX_INTERNAL_ID),
        "options": {"$ref": "#/components/schemas/JsonWithoutNul", "description": "Any JSON value, stored and returned as given"},
        "is_paused": {"type": ["boolean", "null"]},
        "job": ref_to("Job"),
        "type": {"enum": with_null(&KINDS, &[]), "default": "recurring"},
        "one_time_schedule_type": {"enum": with_null(&["exact", ""], &[]), "description": "A one-shot's kind: exact (the only one, the default)"},
        "trigger_frequency_unit": {"enum": with_null(&UNITS, &[""])},
        "trigger_frequency_value": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_FREQUENCY_VALUE},
        "trigger_time": date_time("Only its time of day counts, read in `timezone`"),
        "triger_month_and_day": date_time("(sic) Only its month and day count, read in `timezone` (years)"),
        "start_datetime": date_time("The first slot is the first one at or after it"),
        "start_date": date_time("The seed's older name of the start: read when `start_datetime` is absent, null or empty"),
        "end_datetime": date_time("No fire after it. Must be after the start (`start_datetime`, else `start_date`, or the instant of an `at(...)` expression)"),
        "timezone": {"enum": zones.iter().map(|z| json!(z)).chain([Value::Null]).collect::<Vec<_>>(), "default": "UTC", "description": "An IANA time zone name (the tz database's, exact case)"},
        "cron_expression": {
            "description": "With trigger_frequency_unit cron: 5 fields (minute hour day-of-month month day-of-week), 6 (a leading second) or 7 (and a trailing year 1970-2099), or @yearly / @annually / @monthly / @weekly / @daily / @midnight / @hourly; values, names (JAN, MON), ranges written low to high, lists, steps, `?` in a day field, and the Quartz day operators L, L-n, LW, nW, nL, n#k. It must match some date (`0 0 30 2 *` is refused). At most 1024 characters.",
            "anyOf": [{"type": "string", "format": "cron", "maxLength": 1024}, {"enum": ["", null]}]
        },
        "schedule_expression": {
            "description": "EventBridge form, instead of the frequency fields: rate(value unit) (minute(s), hour(s), day(s), singular exactly when the value is 1; value 1-1000000), cron(minutes hours day-of-month month day-of-week year) (exactly one day field `?`, days of week 1-7 from SUN) or at(yyyy-mm-ddThh:mm:ss) (a one-shot, in `timezone`, years 1970-9999). At most 1024 characters.",
            "anyOf": [{"type": "string", "format": "schedule-expression", "maxLength": 1024}, {"enum": ["", null]}]
        },
        "flexible_time_window_minutes": {"type": ["integer", "null"], "minimum": 0, "maximum": scheduler_core::MAX_FLEXIBLE_WINDOW_MINUTES, "default": 0},
        "max_fires": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_FIRES},
        "misfire_policy": {"enum": with_null(&MISFIRE_POLICIES, &[]), "default": "fire_once"}
    })
}

// The rules between fields are written with `anyOf` alone (no `if` / `then` / `else` / `not`):
// each reads the same, and schemathesis judges multipart bodies (whose files it cannot
// validate) only around conditional keywords.

/// No `schedule_expression` (absent, null or `""`).
fn no_expression() -> Value {
    json!({"properties": {"schedule_expression": {"enum": ["", null]}}})
}

/// A `schedule_expression` is given (a string other than `""`).
fn expression_given() -> Value {
    json!({"required": ["schedule_expression"], "properties": {"schedule_expression": {"type": "string", "minLength": 1}}})
}

/// The expression is an `at(...)` (a one-shot) or a `rate(...)` / `cron(...)` (recurring).
fn expression_matching(pattern: &str) -> Value {
    json!({"required": ["schedule_expression"], "properties": {"schedule_expression": {"type": "string", "pattern": pattern}}})
}

/// What one body cannot give together (create and update alike): an expression beside the
/// fields it stands for, or beside a `type` of the other kind.
fn expression_rules() -> Vec<Value> {
    use crate::validate::REPLACED_BY_EXPRESSION;
    let absent: serde_json::Map<String, Value> = REPLACED_BY_EXPRESSION
        .iter()
        .map(|k| ((*k).to_owned(), json!({"enum": ["", null]})))
        .collect();
    let of_type = |kind: &str| json!({"properties": {"type": {"enum": [kind, null]}}});
    vec![
        json!({"anyOf": [no_expression(), {"properties": absent}]}),
        json!({"anyOf": [
            no_expression(),
            {"allOf": [expression_matching("^at\\("), of_type("non_recurring")]},
            {"allOf": [expression_matching("^(rate|cron)\\("), of_type("recurring")]}
        ]}),
    ]
}

/// The body of a create (the fields of a whole scheduler, which must make one) or of an update
/// (each field on its own; what the stored fields make of it is a 409).
fn scheduler_input(create: bool) -> Value {
    let mut all_of = expression_rules();
    let mut schema = json!({
        "type": "object",
        "properties": scheduler_fields(),
    });
    if create {
        schema["description"] = json!("A scheduler as the client writes it. Timing: `type` recurring (the default: a `trigger_frequency_unit`, then its `cron_expression` for cron or its `trigger_frequency_value` otherwise) or non_recurring, and a start (`start_datetime` or `start_date`); or a `schedule_expression` instead of the frequency fields (`at(...)` carries its own start). `end_datetime` must be after the start (`x-after`). Unknown fields are ignored.");
        schema["required"] = json!(["name", "event_type", "job"]);
        let given = |field: &str| json!({"required": [field], "properties": {field: {"type": "string", "minLength": 1}}});
        // A start: its own field, the seed's start_date, or the instant of an at(...).
        all_of.push(json!({"anyOf": [
            given("start_datetime"),
            given("start_date"),
            expression_matching("^at\\(")
        ]}));
        // A frequency: unless an expression or a one-shot, a unit, and then a cron expression
        // for cron or a value for the others.
        let others: Vec<&str> = crate::validate::UNITS
            .iter()
            .copied()
            .filter(|u| *u != "cron")
            .collect();
        all_of.push(json!({"anyOf": [
            expression_given(),
            {"required": ["type"], "properties": {"type": {"const": "non_recurring"}}},
            {"required": ["trigger_frequency_unit", "cron_expression"], "properties": {
                "trigger_frequency_unit": {"const": "cron"},
                "cron_expression": {"type": "string", "minLength": 1}
            }},
            {"required": ["trigger_frequency_unit", "trigger_frequency_value"], "properties": {
                "trigger_frequency_unit": {"enum": others},
                "trigger_frequency_value": {"type": "integer"}
            }}
        ]}));
        schema["x-after"] = json!({"end_datetime": "the start: start_datetime, else start_date, or the instant of an at(...) schedule_expression"});
    } else {
        schema["description"] = json!("The fields to change, each checked on its own (400). A field given as null falls back to its default. When the scheduler the stored fields and these make is not valid (a required timing field missing, `end_datetime` not after the start), the answer is 409. Unknown fields are ignored.");
    }
    schema["allOf"] = Value::Array(all_of);
    schema
}

/// `job`: a Kafka topic or a webhook, as `validate::prepare_job` (and the core crate's
/// `validate_job`) check it.
fn job_schema() -> Value {
    use scheduler_core::job::{MAX_RETRY_AGE_SECS, MAX_RETRY_ATTEMPTS, MAX_TIMEOUT_MS};
    let any = ref_to("JsonWithoutNul");
    let common = json!({
        "data": {"anyOf": [{"type": "null"}, {"type": "object", "additionalProperties": any, "propertyNames": {"pattern": NO_NUL}}], "description": "Any JSON object, at most 256 KiB serialized; sent as the envelope's `data`"},
        "workflow_id": {"anyOf": [{"type": "string", "pattern": NO_NUL}, {"type": ["number", "null"]}]},
        "retry": {
            "type": ["object", "null"],
            "properties": {
                "max_attempts": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_RETRY_ATTEMPTS},
                "max_age_secs": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_RETRY_AGE_SECS}
            },
            "additionalProperties": any,
            "propertyNames": {"pattern": NO_NUL}
        }
    });
    let reserved = any_case_words(&[
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "proxy-connection",
    ]);
    let mut kafka = json!({
        "type": "object",
        "required": ["type", "topic"],
        "properties": {
            "type": {"type": "string", "enum": ["kafka"]},
            "topic": {"type": "string", "pattern": "^(?!\\.{1,2}$)[a-zA-Z0-9._-]{1,249}$", "description": "A Kafka topic name"}
        }
    });
    let mut webhook = json!({
        "type": "object",
        "required": ["type", "url"],
        "properties": {
            "type": {"type": "string", "enum": ["webhook"]},
            "url": {"type": "string", "maxLength": crate::validate::MAX_URL_LEN, "pattern": WEBHOOK_URL, "description": "http or https; a host name whose last label starts with a letter, or an IPv4 address; an optional port; a path, query and fragment of RFC 3986 characters and %-escapes"},
            "method": {"type": ["string", "null"], "pattern": any_case(&["GET", "POST", "PUT", "PATCH", "DELETE"]), "default": "POST", "description": "GET, POST, PUT, PATCH or DELETE, in any letter case"},
            "timeout_ms": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_TIMEOUT_MS, "default": 10_000},
            "headers": {
                "type": ["object", "null"],
                "maxProperties": 50,
                "propertyNames": {
                    "pattern": format!("^(?![Ww][Ee][Bb][Hh][Oo][Oo][Kk]-)(?!{reserved}$)[A-Za-z0-9!#$%&'*+.^_`|~-]{{1,256}}$")
                },
                "additionalProperties": {"type": "string", "maxLength": 4096, "pattern": "^[\\t\\u0020-\\u007e]*$"},
                "description": "At most 50; names are HTTP tokens other than the ones the delivery sets (webhook-*, host, content-length, ...); values visible ASCII, spaces and tabs"
            }
        }
    });
    for variant in [&mut kafka, &mut webhook] {
        if let (Some(Value::Object(props)), Value::Object(more)) =
            (variant.get_mut("properties"), common.clone())
        {
            props.extend(more);
        }
        variant["additionalProperties"] = any.clone();
        variant["propertyNames"] = json!({"pattern": NO_NUL});
    }
    json!({
        "description": "Where each fire is delivered. Kept as given (whole numbers written as floats are stored as integers); the file routes add `files` and `scheduler_id`. No U+0000 in any string or key.",
        "oneOf": [kafka, webhook],
        "discriminator": {"propertyName": "type"}
    })
}

/// A multipart form of the file routes: `payload` (the JSON body of the matching JSON route, in
/// a part of type application/json) and up to 10 `files` parts; other parts are ignored.
fn form_schema(payload: &str) -> Value {
    json!({
        "type": "object",
        "required": ["payload"],
        "properties": {
            "payload": ref_to(payload),
            "files": {
                "anyOf": [
                    {"type": "array", "items": {"type": "string", "contentMediaType": "application/octet-stream"}, "maxItems": DEFAULT_MAX_FILES},
                    {"type": "string", "contentMediaType": "application/octet-stream"}
                ],
                "description": "Zero or more files (25 MiB each, 10 a request, by default), each a part named files (one part reads the same as an array of one); the 11th is a 413"
            }
        },
        "propertyNames": {"pattern": PART_NAME},
        "description": "Parts other than payload and files are ignored; part names cannot hold the control characters a part header cannot carry"
    })
}

/// Links from a created scheduler to what can be done with it, for clients (and stateful
/// testers) that follow `_id`.
fn link(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let targets = [
        ("GetScheduler", "get_one"),
        ("UpdateScheduler", "update"),
        ("DeleteScheduler", "delete"),
        ("GetExecutions", "executions"),
        ("GetPreview", "preview"),
        ("RunScheduler", "run"),
        // No link to the seed's update with files (PUT .../schedulers/files/{id}): a stateful
        // tester that deleted the scheduler through DELETE .../schedulers/{id} does not see that
        // path below the deleted one, and takes the correct 404 that follows for a lost
        // resource.
    ];
    let mut links = serde_json::Map::new();
    for (name, operation) in targets {
        links.insert(
            name.into(),
            json!({
                "operationId": operation,
                "parameters": {
                    "organization_id": "$request.path.organization_id",
                    "user_id": "$request.path.user_id",
                    "scheduler_id": "$response.body#/_id"
                }
            }),
        );
    }
    for (path, method) in [
        (
            "/3rd/organization/{organization_id}/users/{user_id}/schedulers",
            "post",
        ),
        (
            "/3rd/organization/{organization_id}/users/{user_id}/schedulers/files",
            "post",
        ),
    ] {
        if let Some(Value::Object(created)) = paths
            .get_mut(path)
            .and_then(|item| item.get_mut(method))
            .and_then(|op| op.pointer_mut("/responses/201"))
        {
            created.insert("links".into(), Value::Object(links.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

    /// Every route the router serves is documented, and nothing else is: a route added or
    /// moved without its document (or a document entry without its route) fails here, naming it.
    #[test]
    fn the_document_lists_exactly_the_served_routes() {
        let served: BTreeSet<(String, String)> = crate::route_table()
            .into_iter()
            .map(|(m, p)| (m.as_str().to_ascii_lowercase(), p))
            .collect();
        let doc = super::document();
        let documented: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| METHODS.contains(&k.as_str()))
                    .map(move |m| (m.clone(), path.clone()))
            })
            .collect();
        let undocumented: Vec<_> = served.difference(&documented).collect();
        let unserved: Vec<_> = documented.difference(&served).collect();
        assert!(
            undocumented.is_empty() && unserved.is_empty(),
            "served but not documented: {undocumented:?}; documented but not served: {unserved:?}"
        );
    }

    /// The statuses every operation can answer, from what guards it: any route can fail (500);
    /// a tenant route checks the token (401), the headers against the path (400) and, under
    /// /users/, the user (404); an admin route its token (401, 404 when the admin API is off);
    /// a JSON body can be malformed (400), too large (413) or not JSON (415); a form likewise,
    /// and the file store may be missing (503). Each with the `{"message"}` body.
    #[test]
    fn every_operation_declares_the_statuses_it_can_answer() {
        let doc = super::document();
        let mut missing = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if !METHODS.contains(&method.as_str()) || path == "/openapi.json" {
                    continue;
                }
                let mut expected = vec!["500"];
                if path.starts_with("/3rd/") || path.starts_with("/v1/") {
                    expected.extend(["400", "401"]);
                    if path.contains("/users/") {
                        expected.push("404");
                    }
                }
                if path.starts_with("/admin/") {
                    expected.extend(["401", "404"]);
                }
                let body = op
                    .pointer("/requestBody/content")
                    .and_then(Value::as_object);
                if body.is_some_and(|c| c.contains_key("application/json")) {
                    expected.extend(["400", "413", "415"]);
                }
                if body.is_some_and(|c| c.contains_key("multipart/form-data")) {
                    expected.extend(["400", "413", "415", "503"]);
                }
                for status in expected {
                    let response = &op["responses"][status];
                    let schema = response
                        .pointer("/content/application~1json/schema/$ref")
                        .and_then(Value::as_str);
                    if schema != Some("#/components/schemas/ErrorBody") {
                        missing.push(format!("{method} {path} {status}"));
                    }
                }
            }
        }
        assert!(missing.is_empty(), "undeclared statuses: {missing:#?}");
    }

    /// What the server enforces is in the document: bounds, required fields, header rules.
    #[test]
    fn constraints_are_stated() {
        let doc = super::document();
        let list = &doc["paths"]["/v1/organization/{organization_id}/users/{user_id}/schedulers"];
        let params = list["get"]["parameters"].as_array().unwrap();
        let param = |name: &str| params.iter().find(|p| p["name"] == name).unwrap().clone();
        assert_eq!(param("limit")["schema"]["minimum"], 1);
        assert_eq!(param("limit")["schema"]["maximum"], 100);
        assert_eq!(param("skip")["schema"]["maximum"], 1_000_000);
        assert_eq!(
            param("x-organization-id")["x-must-equal-path-parameter"],
            "organization_id"
        );
        assert_eq!(param("x-user-id")["x-must-equal-path-parameter"], "user_id");
        let create = &doc["components"]["schemas"]["SchedulerCreate"];
        assert_eq!(
            create["required"],
            serde_json::json!(["name", "event_type", "job"])
        );
        assert_eq!(list["post"]["requestBody"]["required"], true);
        let form = &doc["components"]["schemas"]["SchedulerForm"];
        assert_eq!(form["required"], serde_json::json!(["payload"]));
        assert_eq!(form["properties"]["files"]["anyOf"][0]["maxItems"], 10);
        let links = list["post"]["responses"]["201"]["links"]
            .as_object()
            .unwrap();
        for l in [
            "GetScheduler",
            "UpdateScheduler",
            "DeleteScheduler",
            "GetExecutions",
            "GetPreview",
            "RunScheduler",
        ] {
            assert_eq!(
                links[l]["parameters"]["scheduler_id"], "$response.body#/_id",
                "{l}"
            );
            assert!(
                links[l]["operationId"].as_str().unwrap().ends_with("_v1"),
                "{l}"
            );
        }
    }

    /// Every time zone the document lists is one the server takes, and the document's date-time,
    /// URL and name patterns are the ones the server checks.
    #[test]
    fn the_timing_fields_are_stated() {
        let doc = super::document();
        let create = &doc["components"]["schemas"]["SchedulerCreate"];
        let zones = create["properties"]["timezone"]["enum"].as_array().unwrap();
        assert!(zones.len() > 400);
        for zone in zones.iter().filter_map(Value::as_str) {
            assert!(zone.parse::<chrono_tz::Tz>().is_ok(), "{zone}");
        }
        assert_eq!(
            create["properties"]["cron_expression"]["anyOf"][0]["format"],
            "cron"
        );
        assert!(create["x-after"]["end_datetime"].is_string());
        let update = &doc["components"]["schemas"]["SchedulerUpdate"];
        assert!(update.get("required").is_none());
        let put = &doc["paths"]
            ["/3rd/organization/{organization_id}/users/{user_id}/schedulers/{scheduler_id}"]
            ["put"];
        assert_eq!(
            put["responses"]["409"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody"
        );
        let url = &doc["components"]["schemas"]["Job"]["oneOf"][1]["properties"]["url"];
        assert_eq!(url["pattern"], super::WEBHOOK_URL);
    }

    #[test]
    fn every_tenant_route_has_a_v1_twin() {
        let doc = super::document();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let paths = doc["paths"].as_object().unwrap();
        for p in paths.keys().filter(|p| p.starts_with("/3rd/")) {
            let twin = format!("/v1/{}", &p[5..]);
            assert!(paths.contains_key(&twin), "{twin}");
        }
    }
}
