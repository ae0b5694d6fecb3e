//! The OpenAPI 3.1 document of the server's routes, served without a token at
//! `GET /api/v1/openapi.json`. Hand-written; a test compares its paths and
//! methods with the routes [`super::http::routes`] serves, both ways, so a route
//! added without its description (or the reverse) fails the build's tests.

use axum::Json;
use serde_json::{Value, json};

/// Serves the document.
pub async fn serve() -> Json<Value> {
    Json(document())
}

/// One operation: a summary, its path parameters, an optional request body and
/// the success status with its answer.
fn op(summary: &str, params: &[&str], body: Option<Value>, ok: (&str, Value)) -> Value {
    let mut operation = json!({
        "summary": summary,
        "parameters": params.iter().map(|p| json!({
            "name": p, "in": "path", "required": true,
            "schema": if *p == "id" { json!({"type": "integer"}) } else { json!({"type": "string"}) },
        })).collect::<Vec<_>>(),
        "responses": {
            ok.0: { "description": "success", "content": { "application/json": { "schema": ok.1 } } },
            "default": { "description": "an error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
        },
    });
    if let Some(body) = body {
        operation["requestBody"] = body;
    }
    operation
}

fn json_body(schema: Value) -> Option<Value> {
    Some(json!({ "required": true, "content": { "application/json": { "schema": schema } } }))
}

fn object() -> Value {
    json!({ "type": "object" })
}

fn list() -> Value {
    json!({ "type": "array", "items": { "type": "object" } })
}

fn open(summary: &str) -> Value {
    let mut operation = op(summary, &[], None, ("200", object()));
    operation["security"] = json!([]);
    operation
}

/// `POST /hooks/{tenant}/{plugin}`: no bearer token (a vendor cannot send ours);
/// the plugin authenticates the request, e.g. by an HMAC signature with the
/// tenant's secret. The answers are [`super::webhook`]'s.
fn webhook() -> Value {
    let error = |description: &str| {
        json!({ "description": description,
                "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
    };
    json!({
        "summary": "A vendor's webhook, handed to the plugin, which verifies it (e.g. an HMAC signature \
            with the tenant's secret) and turns it into records, stored durably before the answer is 202. \
            No bearer token: the plugin's verification authenticates it.",
        "security": [],
        "parameters": [
            { "name": "tenant", "in": "path", "required": true, "schema": { "type": "string" } },
            { "name": "plugin", "in": "path", "required": true, "schema": { "type": "string" } },
        ],
        "requestBody": {
            "required": true,
            "description": "the vendor's body, as sent, at most 1 MiB",
            "content": { "*/*": { "schema": { "type": "string", "format": "binary" } } },
        },
        "responses": {
            "202": { "description": "accepted and stored for the flows that take its records",
                "content": { "application/json": { "schema": { "type": "object",
                    "required": ["tenant", "plugin", "records"],
                    "properties": {
                        "tenant": { "type": "string" },
                        "plugin": { "type": "string" },
                        "records": { "type": "integer" },
                    } } } } },
            "400": error("the plugin refused the body for good (`permanent`)"),
            "401": error("the plugin denied it: a bad or missing signature, or no secret set"),
            "404": error("unknown tenant or plugin, not enabled for the tenant, or no `webhook-api` export"),
            "413": error("the body is larger than 1 MiB"),
            "422": error("no flow of the tenant takes the records' stream; nothing stored"),
            "502": error("the plugin call failed (trap, limit, broken contract)"),
            "503": error("the plugin answered `retryable` or `rate-limited`: send it again later (Retry-After)"),
        },
    })
}

/// The whole document.
pub fn document() -> Value {
    let tf = &["tenant", "flow"];
    let tp = &["tenant", "plugin"];
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Tenon admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Every /api/v1/ route but this document needs `Authorization: Bearer <token>`; \
                /hooks/ routes take none (their plugin verifies each request). \
                An operator token reaches everything; a tenant token reaches its own tenant only: \
                other tenants' resources answer 404, installing or removing plugins and creating tenants 403. \
                Changes are recorded in the audit log under the token's name. Secret values are never answered.",
        },
        "security": [{ "bearer": [] }],
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "kind"],
                    "properties": {
                        "error": { "type": "string" },
                        "kind": { "enum": ["not-found", "invalid", "unauthorized", "forbidden", "conflict",
                                            "too-many-requests", "call-failed", "unavailable", "internal"] },
                    },
                },
                "Enable": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "config": { "type": "object", "additionalProperties": { "type": "string" } },
                        "secrets": { "type": "object", "description": "secret name -> its value and the hosts it may be sent to",
                            "additionalProperties": { "type": "object", "additionalProperties": false, "required": ["value"],
                                "properties": {
                                    "value": { "type": "string", "minLength": 8 },
                                    "hosts": { "type": "array", "items": { "type": "string" }, "description": "host or host:port; none for a secret only verified with" },
                                    "allow_http": { "type": "boolean", "description": "may go over plain http to a non-loopback host" },
                                } } },
                        "grants": { "type": "array", "items": { "type": "string" }, "description": "host or host:port" },
                        "limits": { "type": "object" },
                    },
                },
                "FlowDefinition": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["source", "destination"],
                    "properties": {
                        "source": { "type": "string", "description": "plugin:stream" },
                        "transforms": { "type": "array", "items": { "type": "string" } },
                        "destination": { "type": "string", "description": "plugin:stream" },
                        "batch_size": { "type": "integer" },
                        "max_attempts": { "type": "integer" },
                        "retry_base_ms": { "type": "integer" },
                        "max_run_ms": { "type": "integer", "description": "how long one run may take" },
                        "every": { "type": "string", "description": "30s, 5m, 1h" },
                        "cron": { "type": "string", "description": "UTC, five or six fields" },
                        "pins": { "type": "object", "additionalProperties": { "type": "string" },
                                  "description": "plugin -> installed version the flow runs it at" },
                    },
                },
            },
        },
        "paths": {
            "/healthz": { "get": open("The process is alive") },
            "/readyz": { "get": open("200 once ready, 503 while starting or shutting down") },
            "/metrics": { "get": {
                "summary": "Prometheus text exposition (operator token; or token-less on `metrics_listen`)",
                "responses": { "200": { "description": "metrics", "content": { "text/plain": {} } } },
            } },
            "/api/v1/openapi.json": { "get": open("This document") },
            "/hooks/{tenant}/{plugin}": { "post": webhook() },
            "/api/v1/plugins": {
                "get": op("Installed plugins", &[], None, ("200", list())),
                "post": op("Install (upload) a component, signed by a trusted publisher; query: fuel, timeout_ms, memory_mib, ..., \
                    allow_unsigned, allow_downgrade (operator)", &[],
                    Some(json!({ "required": true, "content": { "application/wasm": { "schema": { "type": "string", "format": "binary" } } } })),
                    ("201", object())),
            },
            "/api/v1/plugins/{plugin}": {
                "get": op("A plugin's description", &["plugin"], None, ("200", object())),
                "delete": op("Remove a plugin no tenant has enabled (operator)", &["plugin"], None, ("200", object())),
            },
            "/api/v1/plugins/{plugin}/versions": {
                "get": op("Every installed version, oldest first, each with `current` (the version flows run unless they pin one)",
                    &["plugin"], None, ("200", list())),
            },
            "/api/v1/plugins/{plugin}/rollback": {
                "post": op("Make the version installed before the current one current again; flows that pin a version keep it; \
                    answers the now current version; 422 when there is none (operator)",
                    &["plugin"], None, ("200", object())),
            },
            "/api/v1/tenants": {
                "get": op("Tenants and their enabled plugins", &[], None, ("200", list())),
                "post": op("Create a tenant (operator)", &[],
                    json_body(json!({ "type": "object", "required": ["id"], "properties": { "id": { "type": "string" } } })),
                    ("201", object())),
            },
            "/api/v1/tenants/{tenant}": {
                "get": op("A tenant and its enablements (secret names only)", &["tenant"], None, ("200", object())),
            },
            "/api/v1/publishers": {
                "get": op("Trusted publishers, and whose each plugin name is (operator)", &[], None, ("200", object())),
                "post": op("Trust a publisher's key: components it signs may install (operator)", &[],
                    json_body(json!({ "type": "object", "additionalProperties": false, "required": ["name", "key"],
                        "properties": { "name": { "type": "string" }, "key": { "type": "string", "description": "tenon-ed25519:<base64>" } } })),
                    ("201", object())),
            },
            "/api/v1/publishers/{name}": {
                "delete": op("Stop trusting a publisher (operator)", &["name"], None, ("200", object())),
            },
            "/api/v1/tenants/{tenant}/policy": {
                "get": op("A tenant with the operator's policy for it", &["tenant"], None, ("200", object())),
                "put": op("Replace what the operator allows a tenant: hosts a tenant token may grant, \
                    non-public networks its plugins may reach, limits a tenant token may not exceed (operator)", &["tenant"],
                    json_body(json!({ "type": "object", "additionalProperties": false, "properties": {
                        "egress": { "type": "array", "items": { "type": "string" } },
                        "networks": { "type": "array", "items": { "type": "string" }, "description": "CIDR" },
                        "limits": { "type": "object" },
                    } })), ("200", object())),
            },
            "/api/v1/tenants/{tenant}/plugins": {
                "get": op("A tenant's enablements (secret names only)", &["tenant"], None, ("200", list())),
            },
            "/api/v1/tenants/{tenant}/plugins/{plugin}": {
                "put": op("Enable (or re-configure) a plugin for a tenant; takes effect at its next call", tp,
                    json_body(json!({ "$ref": "#/components/schemas/Enable" })), ("200", object())),
                "delete": op("Disable a plugin for a tenant; its next call is refused", tp, None, ("200", object())),
            },
            "/api/v1/flows": {
                "get": op("Flows with their cursors; query: tenant", &[], None, ("200", list())),
            },
            "/api/v1/tenants/{tenant}/flows": {
                "get": op("A tenant's flows with their cursors", &["tenant"], None, ("200", list())),
            },
            "/api/v1/tenants/{tenant}/flows/{flow}": {
                "get": op("A flow with its cursor", tf, None, ("200", object())),
                "put": op("Define (or redefine) a flow; its cursor is kept", tf,
                    json_body(json!({ "$ref": "#/components/schemas/FlowDefinition" })), ("200", object())),
                "delete": op("Remove the flow with its cursor, retry queue and inbox (runs and dead letters stay); 409 while it runs; audited", tf,
                    None, ("200", object())),
            },
            "/api/v1/tenants/{tenant}/flows/{flow}/run": {
                "post": op("Run the flow now: 202, or with ?wait=true 200 and the run record; 409 running, 429 limit reached", tf,
                    None, ("202", object())),
            },
            "/api/v1/tenants/{tenant}/flows/{flow}/cursor": {
                "get": op("The flow's cursor: where its next read of the source starts", tf, None, ("200", object())),
                "put": op("Set the flow's cursor (`null`: read from the start, a backfill); 409 while it runs; audited", tf,
                    json_body(json!({ "type": "object", "required": ["cursor"], "properties": {
                        "cursor": { "type": ["string", "null"] } } })),
                    ("200", object())),
            },
            "/api/v1/tenants/{tenant}/flows/{flow}/retries": {
                "get": op("The flow's retry queue", tf, None, ("200", list())),
            },
            "/api/v1/tenants/{tenant}/flows/{flow}/reconcile": {
                "post": op("Compare the flow's source (after its transforms) with the records it wrote to its destination; ?whole=true compares every destination record", tf, None, ("200", object())),
            },
            "/api/v1/runs": {
                "get": op("Runs, newest first; query: tenant, flow, limit (default 20)", &[], None, ("200", list())),
            },
            "/api/v1/dead-letters": {
                "get": op("Dead letters, oldest first; query: tenant, flow", &[], None, ("200", list())),
            },
            "/api/v1/dead-letters/{id}": {
                "get": op("A dead letter with every failed attempt", &["id"], None, ("200", object())),
            },
            "/api/v1/dead-letters/{id}/replay": {
                "post": op("Deliver a dead letter again (reread: the record read again from the source, not the stored payload)", &["id"],
                    json_body(json!({ "type": "object", "properties": {
                        "plugin_version": { "type": "string" }, "force": { "type": "boolean" },
                        "reread": { "type": "boolean" } } })),
                    ("200", object())),
            },
            "/api/v1/dead-letters/{id}/discard": {
                "post": op("Drop a dead letter for good", &["id"],
                    json_body(json!({ "type": "object", "properties": { "reason": { "type": "string" } } })),
                    ("200", object())),
            },
            "/api/v1/audit": {
                "get": op("The audit log, oldest first (a tenant token: its own tenant's entries)", &[], None, ("200", list())),
            },
            "/api/v1/state/backup": {
                "get": op("A backup of the data folder, the state of one instant (JSON lines, as `tenon state backup` writes; it holds the keys of the secrets). Operator only, audited", &[], None, ("200", object())),
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::auth::Tokens;
    use std::collections::BTreeSet;

    #[test]
    fn the_document_describes_exactly_the_served_routes() {
        let served: BTreeSet<(String, String)> = crate::server::http::routes(Tokens::default())
            .listed
            .into_iter()
            .map(|(method, path)| (method.to_lowercase(), path.to_owned()))
            .collect();
        let document = document();
        let mut described = BTreeSet::new();
        for (path, operations) in document["paths"].as_object().unwrap() {
            for (method, operation) in operations.as_object().unwrap() {
                described.insert((method.clone(), path.clone()));
                // Every `{param}` of the path is declared.
                for segment in path.split('/').filter(|s| s.starts_with('{')) {
                    let name = segment.trim_matches(['{', '}']);
                    let declared = operation["parameters"]
                        .as_array()
                        .is_some_and(|ps| ps.iter().any(|p| p["name"] == name));
                    assert!(declared, "{method} {path} does not declare `{name}`");
                }
            }
        }
        let undocumented: Vec<_> = served.difference(&described).collect();
        let unserved: Vec<_> = described.difference(&served).collect();
        assert!(
            undocumented.is_empty(),
            "served, not in the document: {undocumented:?}"
        );
        assert!(
            unserved.is_empty(),
            "in the document, not served: {unserved:?}"
        );
        assert_eq!(document["openapi"], "3.1.0");
    }

    #[test]
    fn webhooks_are_documented_without_a_bearer_token_with_every_answer() {
        let webhook = &document()["paths"]["/hooks/{tenant}/{plugin}"]["post"];
        assert_eq!(webhook["security"], json!([]));
        let answers: Vec<&String> = webhook["responses"].as_object().unwrap().keys().collect();
        assert_eq!(
            answers,
            ["202", "400", "401", "404", "413", "422", "502", "503"]
        );
    }
}
