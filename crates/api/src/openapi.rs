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
            if method == "post" && path.ends_with("/schedulers") {
                if let Some(Value::Object(body)) = op.get_mut("requestBody") {
                    body.insert("required".into(), Value::Bool(true));
                    body.insert(
                        "content".into(),
                        json!({"application/json": {"schema": {"$ref": "#/components/schemas/SchedulerCreate"}}}),
                    );
                }
            }
            if method == "put" && path.ends_with("/schedulers/{scheduler_id}") {
                if let Some(Value::Object(body)) = op.get_mut("requestBody") {
                    body.insert("required".into(), Value::Bool(true));
                    body.insert(
                        "content".into(),
                        json!({"application/json": {"schema": {"$ref": "#/components/schemas/SchedulerUpdate"}}}),
                    );
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
                {"type": "string", "pattern": "^[^\\u0000]*$"},
                {"type": "array", "items": {"$ref": "#/components/schemas/JsonWithoutNul"}},
                {"type": "object", "propertyNames": {"pattern": "^[^\\u0000]*$"},
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
        if let Some(Value::Object(form)) = schemas.get_mut("SchedulerForm") {
            form.insert("required".into(), json!(["payload"]));
            if let Some(Value::Object(props)) = form.get_mut("properties") {
                props.insert(
                    "payload".into(),
                    json!({"$ref": "#/components/schemas/SchedulerCreate", "description": "The scheduler document, as the JSON route's body, in a part of type application/json"}),
                );
            }
            if let Some(Value::Object(files)) =
                form.get_mut("properties").and_then(|p| p.get_mut("files"))
            {
                files.insert("maxItems".into(), Value::from(DEFAULT_MAX_FILES));
            }
        }
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

/// The body of a create (`required`) or an update (every field optional): the fields a client
/// sets, with what the server checks of them. Unknown fields are ignored.
fn scheduler_input(create: bool) -> Value {
    let nullable_text = |max: usize| json!({"type": ["string", "null"], "maxLength": max, "pattern": "^[^\\u0000]*$"});
    let required_text = |max: usize| json!({"type": "string", "minLength": 1, "maxLength": max, "pattern": "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"});
    let instant = json!({"type": ["string", "null"], "format": "date-time"});
    let mut schema = json!({
        "type": "object",
        "description": "A scheduler as the client writes it. Timing: `type` recurring (a `trigger_frequency_unit`, its `trigger_frequency_value` unless cron, and `start_datetime`) or non_recurring (`start_datetime`). Unknown fields are ignored.",
        "properties": {
            "name": required_text(512),
            "event_type": required_text(256),
            "description": nullable_text(10_000),
            "channel_source": nullable_text(256),
            "internal_id": nullable_text(512),
            "options": {"$ref": "#/components/schemas/JsonWithoutNul"},
            "is_paused": {"type": ["boolean", "null"]},
            "job": {"$ref": "#/components/schemas/Job"},
            "type": {"type": ["string", "null"], "enum": ["recurring", "non_recurring", null], "default": "recurring"},
            "one_time_schedule_type": {"type": ["string", "null"], "enum": ["exact", "", null]},
            "trigger_frequency_unit": {"type": ["string", "null"], "enum": ["minutes", "hours", "days", "weeks", "months", "years", "cron", null]},
            "trigger_frequency_value": {"type": ["integer", "null"], "minimum": 1, "maximum": 1_000_000},
            "trigger_time": instant,
            "triger_month_and_day": instant,
            "start_datetime": {"type": "string", "format": "date-time"},
            "end_datetime": instant,
            "timezone": {"type": ["string", "null"], "description": "An IANA time zone name", "default": "UTC"},
            "cron_expression": {"type": ["string", "null"], "description": "5 fields, or 6-7 with seconds (and year)"},
            "max_fires": {"type": ["integer", "null"], "minimum": 1},
            "misfire_policy": {"type": ["string", "null"], "enum": ["fire_once", "skip", "fire_all", null], "default": "fire_once"}
        }
    });
    if create {
        schema["required"] = json!(["name", "event_type", "job"]);
        // Recurring (the default type) needs a unit and a start; a value unless the unit is
        // cron, which needs its expression. A one-shot needs its instant.
        schema["allOf"] = json!([
            {"if": {"properties": {"type": {"const": "non_recurring"}}, "required": ["type"]},
             "then": {"required": ["start_datetime"]},
             "else": {"required": ["trigger_frequency_unit", "start_datetime"],
                      "properties": {"trigger_frequency_unit": {"type": "string"}}}},
            {"if": {"properties": {"trigger_frequency_unit": {"const": "cron"}}, "required": ["trigger_frequency_unit"]},
             "then": {"required": ["cron_expression"]},
             "else": {"if": {"properties": {"type": {"const": "non_recurring"}}, "required": ["type"]},
                      "else": {"required": ["trigger_frequency_value"],
                               "properties": {"trigger_frequency_value": {"type": "integer"}}}}}
        ]);
    }
    schema
}

/// `job`: a Kafka topic or a webhook, as `scheduler_core::job::validate_job` checks it.
fn job_schema() -> Value {
    use scheduler_core::job::{MAX_RETRY_AGE_SECS, MAX_RETRY_ATTEMPTS, MAX_TIMEOUT_MS};
    let common = json!({
        "data": {"anyOf": [{"type": "null"}, {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/JsonWithoutNul"}, "propertyNames": {"pattern": "^[^\\u0000]*$"}}], "description": "Any JSON object without NUL characters, at most 256 KiB serialized; sent as the envelope's `data`"},
        "workflow_id": {"type": ["string", "null"], "pattern": "^[^\\u0000]*$"},
        "retry": {
            "type": ["object", "null"],
            "properties": {
                "max_attempts": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_RETRY_ATTEMPTS},
                "max_age_secs": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_RETRY_AGE_SECS}
            }
        }
    });
    let mut kafka = json!({
        "type": "object",
        "required": ["type", "topic"],
        "properties": {
            "type": {"type": "string", "enum": ["kafka"]},
            "topic": {"type": "string", "pattern": "^(?!\\.{1,2}$)[a-zA-Z0-9._-]{1,249}$"}
        }
    });
    let mut webhook = json!({
        "type": "object",
        "required": ["type", "url"],
        "properties": {
            "type": {"type": "string", "enum": ["webhook"]},
            "url": {"type": "string", "format": "uri", "maxLength": 2048, "pattern": "^https?://[^\\s/?#@]+([/?#][^\\s]*)?$"},
            "method": {"type": ["string", "null"], "enum": ["GET", "POST", "PUT", "PATCH", "DELETE", null], "default": "POST"},
            "timeout_ms": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_TIMEOUT_MS, "default": 10_000},
            "headers": {
                "type": ["object", "null"],
                "maxProperties": 50,
                "propertyNames": {"pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"},
                "additionalProperties": {"type": "string", "maxLength": 4096}
            }
        }
    });
    for variant in [&mut kafka, &mut webhook] {
        if let (Some(Value::Object(props)), Value::Object(more)) =
            (variant.get_mut("properties"), common.clone())
        {
            props.extend(more);
        }
    }
    json!({
        "description": "Where each fire is delivered. Kept as given; the file routes add `files` and `scheduler_id`.",
        "oneOf": [kafka, webhook],
        "discriminator": {"propertyName": "type"}
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
        ("UpdateSchedulerWithFiles", "update_with_files"),
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
        assert_eq!(form["properties"]["files"]["maxItems"], 10);
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
