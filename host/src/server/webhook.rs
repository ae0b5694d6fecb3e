//! Webhook ingress over HTTP: `POST /hooks/{tenant}/{plugin}`. The request goes to
//! [`Tenon::receive_webhook`](crate::Tenon::receive_webhook), which has the
//! plugin verify it and stores its records durably; only then is the answer 2xx.
//!
//! These routes take no bearer token: a vendor cannot send ours. The plugin's
//! verification (an HMAC signature made with the tenant's secret) is the
//! authentication, so a request it refuses stores nothing.
//!
//! Anyone can POST here, so the route tells nobody anything it was not
//! given: an unknown tenant or plugin, a plugin not enabled or without
//! `webhook-api`, and a signature the plugin refused all get the same `401`
//! (the reason is logged). Each (tenant, plugin) has its own budget of
//! requests in handling ([`MAX_WEBHOOKS_PER_PLUGIN`], and
//! [`MAX_WEBHOOKS_IN_FLIGHT`] in all), checked before anything else and
//! whatever the names, so a flood of unsigned POSTs is answered `503` without
//! taking the plugin call slots other tenants need; and the plugin's handler
//! runs without network, so it can never make the host call the vendor.
//!
//! | answer | when |
//! |---|---|
//! | `202 {"records": n}` | the plugin accepted it; its `n` records are stored for the flows that take them |
//! | `401` | unknown tenant or plugin, not enabled, no `webhook-api`, or the plugin answered `denied` (a bad or missing signature, no secret set) |
//! | `400` | the plugin answered `permanent` (a body it can never accept) |
//! | `413` | the body is larger than [`MAX_WEBHOOK_BYTES`] |
//! | `422` | no flow of the tenant takes a stream the records belong to |
//! | `503` | over the webhook budget, or the plugin answered `retryable` or `rate-limited`: send it again later |
//! | `502` | the plugin call failed (trap, limit, broken contract) |

use crate::Error;
use crate::GuestError;
use crate::record::WebhookRequest;
use crate::sandbox::CallError;
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

/// Webhook requests one (tenant, plugin) may have in handling at once; more
/// are answered `503` at once.
pub const MAX_WEBHOOKS_PER_PLUGIN: usize = 4;

/// Webhook requests in handling at once, over all tenants.
pub const MAX_WEBHOOKS_IN_FLIGHT: usize = 16;

/// The one answer to a webhook that is refused before or by its signature
/// check, whatever the reason.
const REFUSED: &str = "the webhook was refused: unknown tenant or plugin, not enabled, or its signature does not hold";

/// Requests in handling: in all, and per (tenant, plugin).
type InFlight = (usize, std::collections::HashMap<(String, String), usize>);

/// The webhook requests in handling: the budget.
#[derive(Debug, Default)]
pub struct Ingress {
    in_flight: std::sync::Mutex<InFlight>,
}

/// A request's place in the budget, given back when dropped.
struct Admitted<'a> {
    ingress: &'a Ingress,
    key: (String, String),
}

impl Ingress {
    /// A place for a request to (`tenant`, `plugin`), if the budget has one.
    fn admit(&self, tenant: &str, plugin: &str) -> Option<Admitted<'_>> {
        let mut guard = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let (total, per) = &mut *guard;
        let key = (tenant.to_owned(), plugin.to_owned());
        let mine = per.get(&key).copied().unwrap_or(0);
        if *total >= MAX_WEBHOOKS_IN_FLIGHT || mine >= MAX_WEBHOOKS_PER_PLUGIN {
            return None;
        }
        *total += 1;
        per.insert(key.clone(), mine + 1);
        Some(Admitted { ingress: self, key })
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        let mut guard = self
            .ingress
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let (total, per) = &mut *guard;
        *total = total.saturating_sub(1);
        if let Some(count) = per.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                per.remove(&self.key);
            }
        }
    }
}

fn busy() -> Response {
    let mut response = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "too many webhooks in handling: send it again later",
    );
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

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
    // Names are checked against nothing before this: an unknown tenant takes
    // its place in the budget like a known one.
    let Some(_admitted) = app.ingress.admit(&tenant, &plugin) else {
        return busy();
    };
    if app.scheduler.tenon().storage_failure().is_some() {
        return unavailable(
            "the webhook was not stored: the host cannot write its state now; send it again later",
        );
    }
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
                GuestError::Denied { .. } => error(StatusCode::UNAUTHORIZED, REFUSED),
                GuestError::Permanent { message } => error(StatusCode::BAD_REQUEST, message),
                GuestError::Retryable { message } | GuestError::RateLimited { message, .. } => {
                    unavailable(message)
                }
            }
        }
        Err(e @ Error::NotFound { .. }) => {
            tracing::info!(%tenant, %plugin, error = %e, "Webhook refused");
            error(StatusCode::UNAUTHORIZED, REFUSED)
        }
        Err(e @ Error::Internal(_)) => {
            // Nothing was stored: the sender's retry is what delivers it.
            tracing::warn!(%tenant, %plugin, error = %e, "Webhook not stored");
            unavailable(format!(
                "the webhook was not stored ({e}); send it again later"
            ))
        }
        Err(e) => {
            tracing::warn!(%tenant, %plugin, error = %e, "Webhook not taken");
            error_of(&e)
        }
    }
}

/// 503 with `Retry-After`: the sender should try again.
fn unavailable(message: impl Into<String>) -> Response {
    let mut response = error(StatusCode::SERVICE_UNAVAILABLE, message);
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("5"));
    response
}
