//! The server's HTTP surface: `GET /healthz`, `GET /readyz`, `GET /metrics` and
//! the run-now trigger `POST /api/v1/tenants/{tenant}/flows/{flow}/run`. Owns
//! routes, status codes and bodies; starting runs is the scheduler's.
//!
//! Errors answer `{"error": "<message>"}`.

use crate::Error;
use crate::server::metrics::{self, Metrics};
use crate::server::schedule::{Refusal, Scheduler};
use axum::Json;
use axum::Router;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct App {
    pub scheduler: Arc<Scheduler>,
    pub metrics: Arc<Metrics>,
    /// True once the scheduler runs on open state; false again when shutting down.
    pub ready: Arc<AtomicBool>,
}

/// The routes, with request counting.
pub fn router(app: App) -> Router {
    let metrics = Arc::clone(&app.metrics);
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        // No authentication yet: it arrives with the admin API. Until then the
        // trigger is only as private as the listen address (loopback by default).
        .route("/api/v1/tenants/{tenant}/flows/{flow}/run", post(run_now))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .with_state(app)
        .layer(middleware::from_fn_with_state(metrics, count_request))
}

/// Counts every answered request by method, route pattern and status.
async fn count_request(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("(unmatched)", MatchedPath::as_str)
        .to_owned();
    let response = next.run(request).await;
    metrics.record_request(&method, &route, response.status().as_u16());
    response
}

/// The process is alive.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// 200 while the scheduler runs on open state, 503 before and while shutting down.
async fn readyz(State(app): State<App>) -> Response {
    if app.ready.load(Ordering::SeqCst) {
        Json(json!({ "status": "ready" })).into_response()
    } else {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: starting or shutting down",
        )
    }
}

async fn render_metrics(State(app): State<App>) -> Response {
    (
        [(
            CONTENT_TYPE,
            HeaderValue::from_static(metrics::CONTENT_TYPE),
        )],
        app.metrics.render(),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct RunNowQuery {
    /// Answer when the run has ended, with its record, instead of at once.
    #[serde(default)]
    wait: bool,
}

/// Starts a run of the flow now: `202` at once, or with `?wait=true` `200` and
/// the run record when it has ended (whatever its status). `404` for an unknown
/// tenant or flow, `409` if the flow is running, `429` (with `Retry-After`) if a
/// concurrency limit is reached, `503` when shutting down.
async fn run_now(
    State(app): State<App>,
    Path((tenant, flow)): Path<(String, String)>,
    Query(query): Query<RunNowQuery>,
) -> Response {
    if let Err(e) = app.scheduler.tenon().flow(&tenant, &flow) {
        return error_of(&e);
    }
    let receiver = match app.scheduler.run_now(&tenant, &flow) {
        Ok(receiver) => receiver,
        Err(refusal) => {
            let status = match refusal {
                Refusal::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
                Refusal::AlreadyRunning(..) => StatusCode::CONFLICT,
                Refusal::GlobalLimit(_) | Refusal::TenantLimit(..) => StatusCode::TOO_MANY_REQUESTS,
            };
            let mut response = error(status, refusal.to_string());
            if status == StatusCode::TOO_MANY_REQUESTS {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            return response;
        }
    };
    if !query.wait {
        return (
            StatusCode::ACCEPTED,
            Json(json!({ "tenant": tenant, "flow": flow, "status": "started" })),
        )
            .into_response();
    }
    match receiver.await {
        Ok(Ok(run)) => Json(run).into_response(),
        Ok(Err(e)) => error_of(&e),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the run task ended without an answer",
        ),
    }
}

fn error_of(e: &Error) -> Response {
    let status = match e {
        Error::NotFound { .. } => StatusCode::NOT_FOUND,
        Error::Invalid(_) | Error::Load(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Error::Call(_) => StatusCode::BAD_GATEWAY,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, e.to_string())
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}
