//! The OpenAPI 3 document, generated from the handlers' annotations. The tenant routes are
//! annotated once, under `/3rd`; their `/v1` twins are added here with distinct operation ids.

use serde_json::Value;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::document::{FireItem, FirePage, MessageBody, Preview, SchedulerDocument, SchedulerPage};
use crate::error::ErrorBody;
use crate::routes::admin::{
    OrganizationCreated, TokenCreated, TokenList, TokenSummary, UserCreated,
};
use crate::routes::files::{FileInfo, SchedulerForm};
use crate::routes::{admin, files, schedulers};

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

/// The document as JSON, with the `/v1` copies of the tenant routes.
pub(crate) fn document() -> Value {
    let api = ApiDoc::openapi()
        .merge_from(crate::routes::secrets::SecretsDoc::openapi())
        .merge_from(crate::routes::operations::OperationsDoc::openapi());
    let mut doc = serde_json::to_value(api).unwrap_or_else(|e| {
        // Serializing a derived document cannot fail; an empty document beats a crash.
        tracing::error!(error = %e, "cannot serialize the OpenAPI document");
        Value::Null
    });
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
                    }
                }
                Some((format!("/v1/{rest}"), item))
            })
            .collect();
        paths.extend(copies);
    }
    doc
}

#[cfg(test)]
mod tests {
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
