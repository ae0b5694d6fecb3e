//! The server's HTTP surface: composes the open routes (`GET /healthz`,
//! `/readyz`, `/metrics`, `/api/v1/openapi.json`, the webhooks
//! `POST /hooks/{tenant}/{plugin}`) with the admin API behind
//! bearer tokens ([`super::api`], [`super::auth`]), and answers the run-now
//! trigger `POST /api/v1/tenants/{tenant}/flows/{flow}/run`. Owns status codes
//! and error bodies; starting runs is the scheduler's.
//!
//! Errors answer `{"error": "<message>", "kind": "<kind>"}`, the kind one of
//! `not-found`, `invalid`, `unauthorized`, `forbidden`, `conflict`,
//! `too-many-requests`, `call-failed`, `unavailable`, `internal`.

use crate::Error;
use crate::server::auth::{self, Principal, Tokens};
use crate::server::metrics::{self, Metrics};
use crate::server::schedule::{Refusal, Scheduler};
use crate::server::{api, openapi, webhook};
use axum::Router;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::handler::Handler;
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use axum::{Extension, Json};
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
    /// The admin API's bearer tokens.
    pub tokens: Tokens,
    /// What webhooks are being handled, for their budget.
    pub ingress: Arc<webhook::Ingress>,
}

/// Routes built one method and path at a time, so that what is served can be
/// listed (the OpenAPI test compares the list with the document).
#[derive(Debug)]
pub struct Routes {
    router: Router<App>,
    /// (method, path) of every route, in the order added.
    pub listed: Vec<(&'static str, &'static str)>,
}

impl Default for Routes {
    fn default() -> Self {
        Routes {
            router: Router::new(),
            listed: Vec::new(),
        }
    }
}

impl Routes {
    /// Serves `method` (`GET`, `POST`, `PUT`, `DELETE`) on `path` with `handler`.
    pub fn at<H, T>(mut self, method: &'static str, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, App>,
        T: 'static,
    {
        let filter = match method {
            "GET" => MethodFilter::GET,
            "POST" => MethodFilter::POST,
            "PUT" => MethodFilter::PUT,
            "DELETE" => MethodFilter::DELETE,
            other => panic!("no route method {other}"),
        };
        self.router = self.router.route(path, on(filter, handler));
        self.listed.push((method, path));
        self
    }

    /// These routes answer only requests with a valid bearer token.
    fn behind(self, tokens: Tokens) -> Self {
        Routes {
            router: self
                .router
                .route_layer(middleware::from_fn_with_state(tokens, auth::require_token)),
            listed: self.listed,
        }
    }

    fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.listed.extend(other.listed);
        self
    }
}

/// Every route: the open ones (webhooks authenticate by their plugin's
/// signature check), then the admin API behind its tokens.
pub fn routes(tokens: Tokens) -> Routes {
    let open = Routes::default()
        .at("GET", "/healthz", healthz)
        .at("GET", "/readyz", readyz)
        .at("GET", "/api/v1/openapi.json", openapi::serve)
        .merge(webhook::routes());
    let admin = api::routes()
        .at("POST", "/api/v1/tenants/{tenant}/flows/{flow}/run", run_now)
        .at("GET", "/metrics", operator_metrics)
        .behind(tokens);
    open.merge(admin)
}

/// The routes, with request counting.
pub fn router(app: App) -> Router {
    let metrics = Arc::clone(&app.metrics);
    routes(app.tokens.clone())
        .router
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

/// 200 while the scheduler runs on open state, 503 before and while shutting
/// down, and while the state cannot be written (a full disk).
async fn readyz(State(app): State<App>) -> Response {
    if let Some(cause) = app.scheduler.tenon().storage_failure() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: the state cannot be written ({cause})"),
        );
    }
    if app.ready.load(Ordering::SeqCst) {
        Json(json!({ "status": "ready" })).into_response()
    } else {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: starting or shutting down",
        )
    }
}

/// The metrics, for an operator token: they name every tenant and flow.
async fn operator_metrics(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
) -> Response {
    match who.operator("read the metrics") {
        Ok(()) => render_metrics(State(app)).await,
        Err(refused) => refused.into_response(),
    }
}

/// The router of the token-less metrics listener (`metrics_listen`): `GET
/// /metrics` alone.
pub fn metrics_router(app: App) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(render_metrics))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .with_state(app)
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
    Extension(who): Extension<Principal>,
    Path((tenant, flow)): Path<(String, String)>,
    Query(query): Query<RunNowQuery>,
) -> Response {
    if let Err(refused) = who.reach(&tenant) {
        return refused.into_response();
    }
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

/// An error answer, as a handler's `Err` (boxed: a `Response` is large). A
/// failed [`crate::Tenon`] operation converts into one.
#[derive(Debug)]
pub struct Refused(Box<Response>);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        *self.0
    }
}

impl From<Response> for Refused {
    fn from(response: Response) -> Self {
        Refused(Box::new(response))
    }
}

impl From<Error> for Refused {
    fn from(e: Error) -> Self {
        Refused(Box::new(error_of(&e)))
    }
}

/// The answer to a failed [`crate::Tenon`] operation.
pub fn error_of(e: &Error) -> Response {
    let status = match e {
        Error::NotFound { .. } => StatusCode::NOT_FOUND,
        Error::Invalid(_) | Error::Load(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::Busy(_) => StatusCode::CONFLICT,
        Error::Call(_) => StatusCode::BAD_GATEWAY,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, e.to_string())
}

/// An error answer; its `kind` follows from the status.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let kind = match status.as_u16() {
        400 | 413 | 415 | 422 => "invalid",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not-found",
        409 => "conflict",
        429 => "too-many-requests",
        502 => "call-failed",
        503 => "unavailable",
        _ => "internal",
    };
    (
        status,
        Json(json!({ "error": message.into(), "kind": kind })),
    )
        .into_response()
}
