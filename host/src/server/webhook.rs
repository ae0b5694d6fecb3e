//! Webhook ingress over HTTP: `POST /hooks/{tenant}/{plugin}`. The request goes to
//! [`Tenon::receive_webhook`](crate::Tenon::receive_webhook), which has the
//! plugin verify it and stores its records durably; only then is the answer 2xx.
//!
//! These routes take no bearer token: a vendor cannot send ours. The plugin's
//! verification (an HMAC signature made with the tenant's secret) is the
//! authentication, so a request it refuses stores nothing.
//!
//! | answer | when |
//! |---|---|
//! | `202 {"records": n}` | the plugin accepted it; its `n` records are stored for the flows that take them |
//! | `401` | the plugin answered `denied` (a bad or missing signature, no secret set) |
//! | `400` | the plugin answered `permanent` (a body it can never accept) |
//! | `404` | unknown tenant or plugin, the plugin is not enabled for the tenant, or it exports no `webhook-api` |
//! | `413` | the body is larger than [`MAX_WEBHOOK_BYTES`] |
//! | `422` | no flow of the tenant takes a stream the records belong to |
//! | `503` | the plugin answered `retryable` or `rate-limited`: send it again later |
//! | `502` | the plugin call failed (trap, limit, broken contract) |

use crate::Error;
use crate::GuestError;
use crate::sandbox::{CallError, WebhookRequest};
use crate::server::http::{App, Routes, error, error_of};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::handler::Handler as _;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The largest webhook body taken, 1 MiB: vendors' notifications are small, and
/// the whole body is held in memory and copied into the plugin's.
pub const MAX_WEBHOOK_BYTES: usize = 1 << 20;

/// The webhook routes, open (no bearer token), with the body cap.
pub fn routes() -> Routes {
    Routes::default().at(
        "POST",
        "/hooks/{tenant}/{plugin}",
        receive.layer(DefaultBodyLimit::max(MAX_WEBHOOK_BYTES)),
    )
}

async fn receive(
    State(app): State<App>,
    Path((tenant, plugin)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = WebhookRequest {
        method: "POST".into(),
        path: uri.path().to_owned(),
        headers: headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    };
    match app
        .scheduler
        .tenon()
        .receive_webhook(&tenant, &plugin, request)
        .await
    {
        Ok(records) => (
            StatusCode::ACCEPTED,
            Json(json!({ "tenant": tenant, "plugin": plugin, "records": records })),
        )
            .into_response(),
        Err(Error::Call(CallError::Guest { error: refusal, .. })) => {
            tracing::info!(%tenant, %plugin, %refusal, "Webhook refused by the plugin");
            match refusal {
                GuestError::Denied { message } => error(StatusCode::UNAUTHORIZED, message),
                GuestError::Permanent { message } => error(StatusCode::BAD_REQUEST, message),
                GuestError::Retryable { message } | GuestError::RateLimited { message, .. } => {
                    let mut response = error(StatusCode::SERVICE_UNAVAILABLE, message);
                    response
                        .headers_mut()
                        .insert(RETRY_AFTER, HeaderValue::from_static("5"));
                    response
                }
            }
        }
        Err(e) => {
            tracing::warn!(%tenant, %plugin, error = %e, "Webhook not taken");
            error_of(&e)
        }
    }
}
