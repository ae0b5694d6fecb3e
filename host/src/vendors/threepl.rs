//! The 3PL sandbox: a warehouse that follows the shape of ShipStation's public
//! API (v1), the orders it must fulfil and the shipments it sends.
//!
//! # API
//! Every request needs HTTP Basic auth `apiKey:apiSecret`; without it the answer is
//! `401 {"message": "..."}`. Errors always have that shape. Every authenticated
//! answer carries the rate-limit headers ShipStation sends:
//! `X-Rate-Limit-Limit` (requests per window, 40 by default), `X-Rate-Limit-Remaining`
//! and `X-Rate-Limit-Reset` (whole seconds until the window resets). A request over
//! the limit answers `429 {"message": "Too Many Requests"}` with the same headers
//! and no `Retry-After`: clients must read `X-Rate-Limit-Reset`.
//!
//! - `POST /orders/createorder` with an order (see [`NewOrder`], camelCase fields,
//!   unknown fields ignored) creates it, or updates in place the order with the
//!   same `orderKey`; answers `200` with the stored [`FulfilmentOrder`] (its
//!   `orderId` is fixed at creation). `422` when `orderKey`, `orderNumber` or
//!   `items` are missing or empty. As in ShipStation, `shipped` and `cancelled`
//!   orders are locked: a POST for one changes nothing and answers it as it is.
//! - `GET /orders?orderStatus=&orderNumber=&page=&pageSize=&sortBy=OrderId&sortDir=ASC`
//!   answers `200 {"orders": [FulfilmentOrder, ...], "total", "page", "pages"}`,
//!   sorted by `orderId`; `orderNumber` keeps the orders whose number starts
//!   with it, as ShipStation's does.
//! - `GET /shipments?createDateStart=&page=&pageSize=` (and `batchId=`) answers
//!   `200 {"shipments": [Shipment, ...], "total": n, "page": p, "pages": m}`:
//!   the shipments created at or after `createDateStart` (inclusive, compared as
//!   text in the fixed format `2026-11-23T10:00:00.0000000`), sorted by
//!   `(createDate, shipmentId)`, `pageSize` (default 100, at most 500) per page,
//!   pages counted from 1.
//! - `POST /webhooks/subscribe` `{"target_url": ..., "event": "SHIP_NOTIFY"}`
//!   registers a target: every [`ThreePl::ship`] then POSTs
//!   `{"resource_url": "<base>/shipments?batchId=<n>", "resource_type": "SHIP_NOTIFY"}`
//!   to it, unsigned, as ShipStation does.
//!
//! # For tests
//! - [`ThreePl::ship`] ships an order in one or several [`Parcel`]s (a split
//!   shipment): one shipment per parcel, and the notification it sent.
//! - [`ThreePl::script`] queues [`Fault`]s that the next API requests (orders and
//!   shipments alike) answer instead; [`ThreePl::set_rate_limit`] changes the window.
//! - [`FulfilmentOrder::applied`] counts the POSTs that created or updated an
//!   order; [`ThreePl::attempts`] lists every `createorder` with its arrival
//!   time and answer, to measure retry delays; [`ThreePl::requests`] counts every
//!   authenticated request.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::{Admission, RateWindow, Server, lock, scripted_status};

/// ShipStation's default: 40 requests per minute per API key.
pub const DEFAULT_RATE_LIMIT: u32 = 40;

/// The window the rate limit counts in.
pub const DEFAULT_RATE_WINDOW: Duration = Duration::from_secs(60);

/// The largest `pageSize` of `GET /shipments`.
const MAX_PAGE_SIZE: usize = 500;

/// The body of `POST /orders/createorder`: the fields the sandbox keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewOrder {
    pub order_number: String,
    /// The caller's identity of the order; a second POST with it updates the order.
    #[serde(default)]
    pub order_key: String,
    #[serde(default)]
    pub order_date: String,
    /// `awaiting_payment`, `awaiting_shipment`, `shipped`, `on_hold` or `cancelled`.
    pub order_status: String,
    #[serde(default)]
    pub customer_email: String,
    #[serde(default)]
    pub bill_to: Address,
    #[serde(default)]
    pub ship_to: Address,
    pub items: Vec<OrderItem>,
    #[serde(default)]
    pub amount_paid: f64,
    /// ShipStation's free fields for the seller's own data.
    #[serde(default)]
    pub advanced_options: AdvancedOptions,
}

/// The seller's custom fields of an order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AdvancedOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_field1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_field2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_field3: Option<String>,
}

/// An address as ShipStation takes it (the fields the sandbox keeps).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Address {
    pub name: String,
    pub street1: String,
    pub street2: String,
    pub city: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    pub sku: String,
    pub quantity: u32,
    #[serde(default)]
    pub unit_price: f64,
}

/// An order as the warehouse stores it and answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfilmentOrder {
    /// The warehouse's id, fixed at creation, from 1.
    pub order_id: u64,
    #[serde(flatten)]
    pub order: NewOrder,
    /// How many POSTs created or updated it: a record delivered once and retried
    /// after failures that applied nothing stays at 1.
    pub applied: u64,
}

/// One parcel of a shipment, for [`ThreePl::ship`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parcel {
    pub tracking: String,
    /// ShipStation's carrier code (`ups`, `fedex`, `stamps_com`).
    pub carrier: String,
    pub items: Vec<ShipmentItem>,
}

/// What a shipment holds of one order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipmentItem {
    pub sku: String,
    pub quantity: u32,
}

/// A shipment as `GET /shipments` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shipment {
    pub shipment_id: u64,
    pub order_id: u64,
    pub order_key: String,
    pub order_number: String,
    /// `2026-11-23T10:00:00.0000000`, fixed width, so it sorts as text.
    pub create_date: String,
    pub ship_date: String,
    pub tracking_number: String,
    pub carrier_code: String,
    pub batch_id: u64,
    pub voided: bool,
    pub shipment_items: Vec<ShipmentItem>,
}

/// The SHIP_NOTIFY webhook body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipNotify {
    pub resource_url: String,
    pub resource_type: String,
}

/// What a scripted request answers instead of the API. None changes anything,
/// except [`Fault::Slow`], which only delays a request that is then served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answers this status with `{"message": "injected failure"}`.
    Status(u16),
    /// Answers `429` with `X-Rate-Limit-Remaining: 0` and
    /// `X-Rate-Limit-Reset: <reset_secs>`.
    RateLimited { reset_secs: u64 },
    /// Waits `ms` milliseconds, then serves the request normally, also when
    /// the client gave up meanwhile.
    Slow { ms: u64 },
}

/// One `createorder` as the warehouse saw it.
#[derive(Debug, Clone)]
struct Attempt {
    arrived: Instant,
    order_key: String,
    status: u16,
}

/// Everything the warehouse holds.
#[derive(Debug)]
struct Warehouse {
    base_url: String,
    orders: BTreeMap<u64, FulfilmentOrder>,
    shipments: Vec<Shipment>,
    script: VecDeque<Fault>,
    attempts: Vec<Attempt>,
    webhooks: Vec<String>,
    rate: RateWindow,
    batches: u64,
    /// Authenticated API requests received.
    requests: u64,
}

type Shared = Arc<Mutex<Warehouse>>;

/// A running 3PL sandbox; dropping it stops the server too.
#[derive(Debug)]
pub struct ThreePl {
    server: Server,
    warehouse: Shared,
}

impl ThreePl {
    /// Starts an empty warehouse on `127.0.0.1` (port picked by the system) that
    /// accepts Basic auth `api_key:api_secret`.
    pub async fn start(api_key: &str, api_secret: &str) -> anyhow::Result<ThreePl> {
        Self::start_on(super::ANY_LOOPBACK_PORT, api_key, api_secret).await
    }

    /// As [`ThreePl::start`], on the address `addr`.
    pub async fn start_on(
        addr: SocketAddr,
        api_key: &str,
        api_secret: &str,
    ) -> anyhow::Result<ThreePl> {
        anyhow::ensure!(
            !api_key.is_empty() && !api_secret.is_empty(),
            "the 3PL sandbox needs a non-empty API key and secret"
        );
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("could not bind the 3PL sandbox to {addr}"))?;
        let addr = listener
            .local_addr()
            .context("could not read the address of the 3PL sandbox")?;
        let warehouse = Arc::new(Mutex::new(Warehouse {
            base_url: format!("http://{addr}"),
            orders: BTreeMap::new(),
            shipments: Vec::new(),
            script: VecDeque::new(),
            attempts: Vec::new(),
            webhooks: Vec::new(),
            rate: RateWindow::new(DEFAULT_RATE_LIMIT, DEFAULT_RATE_WINDOW),
            batches: 0,
            requests: 0,
        }));
        let expected: Arc<str> = Arc::from(format!(
            "Basic {}",
            base64(format!("{api_key}:{api_secret}").as_bytes())
        ));
        let router = Router::new()
            .route("/orders", get(list_orders))
            .route("/orders/createorder", post(create_order))
            .route("/shipments", get(list_shipments))
            .route("/webhooks/subscribe", post(subscribe))
            .fallback(|| async { message(StatusCode::NOT_FOUND, "no such endpoint") })
            .layer(middleware::from_fn_with_state(
                Arc::clone(&warehouse),
                limit_rate,
            ))
            .layer(middleware::from_fn_with_state(expected, require_basic))
            .with_state(Arc::clone(&warehouse));
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let signal = async {
                let _ = stopped.await;
            };
            if let Err(error) = axum::serve(listener, router)
                .with_graceful_shutdown(signal)
                .await
            {
                tracing::warn!(sandbox = "3pl", %error, "Sandbox server stopped with an error.");
            }
        });
        tracing::debug!(sandbox = "3pl", %addr, "Sandbox listening.");
        Ok(ThreePl {
            server: Server {
                addr,
                shutdown,
                task,
            },
            warehouse,
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// Every order, sorted by `orderId`.
    pub fn orders(&self) -> Vec<FulfilmentOrder> {
        lock(&self.warehouse).orders.values().cloned().collect()
    }

    /// Every shipment, sorted by `(createDate, shipmentId)`.
    pub fn shipments(&self) -> Vec<Shipment> {
        lock(&self.warehouse).shipments.clone()
    }

    /// How many authenticated API requests it received.
    pub fn requests(&self) -> u64 {
        lock(&self.warehouse).requests
    }

    /// Every `createorder` so far: arrival, `orderKey` (`"?"` if none) and status.
    pub fn attempts(&self) -> Vec<(Instant, String, u16)> {
        let mut attempts = lock(&self.warehouse).attempts.clone();
        attempts.sort_by_key(|attempt| attempt.arrived);
        attempts
            .into_iter()
            .map(|a| (a.arrived, a.order_key, a.status))
            .collect()
    }

    /// Queues faults: each API request takes the next one, if any.
    ///
    /// # Panics
    /// If a [`Fault::Status`] is not an HTTP status (100 to 999).
    pub fn script(&self, faults: impl IntoIterator<Item = Fault>) {
        let faults: Vec<Fault> = faults.into_iter().collect();
        for fault in &faults {
            if let Fault::Status(status) = fault {
                scripted_status(*status);
            }
        }
        lock(&self.warehouse).script.extend(faults);
    }

    /// Allows `limit` requests per `window` from now on (a fresh window).
    pub fn set_rate_limit(&self, limit: u32, window: Duration) {
        lock(&self.warehouse).rate = RateWindow::new(limit, window);
    }

    /// Ships the order `order_key` in `parcels`: one shipment per parcel, created
    /// now in one batch, the order's status `shipped`, and a SHIP_NOTIFY POSTed
    /// to every subscribed target.
    /// Returns that notification.
    ///
    /// # Panics
    /// If no order has this key, or `parcels` is empty.
    pub fn ship(&self, order_key: &str, parcels: Vec<Parcel>) -> ShipNotify {
        assert!(!parcels.is_empty(), "a shipment needs at least one parcel");
        let mut warehouse = lock(&self.warehouse);
        let order = warehouse
            .orders
            .values()
            .find(|o| o.order.order_key == order_key)
            .unwrap_or_else(|| panic!("the 3PL sandbox has no order `{order_key}`"))
            .clone();
        warehouse.batches += 1;
        let batch_id = warehouse.batches;
        let mut create_date = timestamp(SystemTime::now());
        // Never earlier than the last batch, even if the system clock stepped back.
        if let Some(last) = warehouse.shipments.last()
            && last.create_date >= create_date
        {
            create_date = last.create_date.clone();
        }
        for parcel in parcels {
            let shipment_id = warehouse.shipments.len() as u64 + 1;
            warehouse.shipments.push(Shipment {
                shipment_id,
                order_id: order.order_id,
                order_key: order.order.order_key.clone(),
                order_number: order.order.order_number.clone(),
                create_date: create_date.clone(),
                ship_date: create_date[..10].to_owned(),
                tracking_number: parcel.tracking,
                carrier_code: parcel.carrier,
                batch_id,
                voided: false,
                shipment_items: parcel.items,
            });
        }
        if let Some(stored) = warehouse.orders.get_mut(&order.order_id) {
            "shipped".clone_into(&mut stored.order.order_status);
        }
        let notify = ShipNotify {
            resource_url: format!("{}/shipments?batchId={batch_id}", warehouse.base_url),
            resource_type: "SHIP_NOTIFY".to_owned(),
        };
        for target in warehouse.webhooks.clone() {
            let body = serde_json::to_vec(&notify).expect("a notification serializes");
            tokio::spawn(async move {
                let sent = reqwest::Client::new()
                    .post(&target)
                    .header("Content-Type", "application/json")
                    .body(body)
                    .send()
                    .await;
                if let Err(error) = sent {
                    tracing::warn!(sandbox = "3pl", %error, "SHIP_NOTIFY not delivered.");
                }
            });
        }
        notify
    }

    /// Stops the server; see [`Server::stop`].
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// `2026-11-23T10:00:00.0000000`: ShipStation's date-time format.
fn timestamp(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
    let seconds = chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S");
    // Chrono has no 7-digit fraction: ticks of 100 ns, as .NET writes them.
    format!("{seconds}.{:07}", since.subsec_nanos() / 100)
}

/// The error body: `{"message": "<message>"}`.
fn message(status: StatusCode, text: impl Into<String>) -> Response {
    (status, Json(json!({ "message": text.into() }))).into_response()
}

/// Answers `401` unless the request carries the expected Basic credentials.
async fn require_basic(State(expected): State<Arc<str>>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    if presented == Some(&*expected) {
        return next.run(request).await;
    }
    let mut response = message(
        StatusCode::UNAUTHORIZED,
        "missing or wrong API key and secret",
    );
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"ShipStation\""),
    );
    response
}

/// Counts the request in the window, answers scripted faults and `429` over the
/// limit, and adds the `X-Rate-Limit-*` headers to every answer.
async fn limit_rate(State(warehouse): State<Shared>, request: Request, next: Next) -> Response {
    let now = Instant::now();
    let (fault, admission) = {
        let mut w = lock(&warehouse);
        w.requests += 1;
        let admission = w.rate.admit(now);
        (w.script.pop_front(), admission)
    };
    let Admission {
        admitted,
        limit,
        remaining,
        reset_secs: reset,
    } = admission;
    let over = !admitted;
    let is_order = request.uri().path() == "/orders/createorder";
    let served = match fault {
        Some(Fault::Slow { .. }) => true,
        None => !over,
        Some(_) => false,
    };
    let (mut response, remaining, reset) = match fault {
        Some(Fault::Status(status)) => (
            message(
                StatusCode::from_u16(status).expect("checked by script"),
                "injected failure",
            ),
            remaining,
            reset,
        ),
        Some(Fault::RateLimited { reset_secs }) => (too_many(), 0, reset_secs),
        Some(Fault::Slow { ms }) => {
            // On a task of its own: a request whose client gave up during the
            // wait is still served, as by a real server.
            let served = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                next.run(request).await
            });
            let response = served.await.unwrap_or_else(|_| {
                message(StatusCode::INTERNAL_SERVER_ERROR, "the warehouse failed")
            });
            (response, remaining, reset)
        }
        None if over => (too_many(), 0, reset),
        None => (next.run(request).await, remaining, reset),
    };
    if is_order && !served {
        // Answered here, not by the handler (which records its own answers).
        let status = response.status().as_u16();
        lock(&warehouse).attempts.push(Attempt {
            arrived: now,
            order_key: "?".to_owned(),
            status,
        });
    }
    let headers = response.headers_mut();
    for (name, value) in [
        ("x-rate-limit-limit", u64::from(limit)),
        ("x-rate-limit-remaining", u64::from(remaining)),
        ("x-rate-limit-reset", reset),
    ] {
        headers.insert(name, HeaderValue::from(value));
    }
    response
}

fn too_many() -> Response {
    message(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests")
}

/// `POST /orders/createorder`: upsert by `orderKey`.
async fn create_order(State(warehouse): State<Shared>, body: Bytes) -> Response {
    let arrived = Instant::now();
    let new = match serde_json::from_slice::<NewOrder>(&body) {
        Ok(new) => new,
        Err(err) => {
            lock(&warehouse).attempts.push(Attempt {
                arrived,
                order_key: "?".to_owned(),
                status: 422,
            });
            return message(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("malformed order: {err}"),
            );
        }
    };
    let mut w = lock(&warehouse);
    if new.order_key.trim().is_empty() || new.order_number.trim().is_empty() || new.items.is_empty()
    {
        w.attempts.push(Attempt {
            arrived,
            order_key: new.order_key.clone(),
            status: 422,
        });
        return message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "orderKey, orderNumber and items are required",
        );
    }
    let existing = w
        .orders
        .values()
        .find(|o| o.order.order_key == new.order_key)
        .cloned();
    // As ShipStation: shipped and cancelled orders are locked; a POST for one
    // changes nothing and answers the order as it is.
    if let Some(locked) = existing
        .as_ref()
        .filter(|o| LOCKED.contains(&o.order.order_status.as_str()))
    {
        w.attempts.push(Attempt {
            arrived,
            order_key: new.order_key.clone(),
            status: 200,
        });
        return (StatusCode::OK, Json(locked.clone())).into_response();
    }
    let (order_id, applied) = existing
        .map(|o| (o.order_id, o.applied))
        .unwrap_or((w.orders.len() as u64 + 1, 0));
    let stored = FulfilmentOrder {
        order_id,
        order: new,
        applied: applied + 1,
    };
    w.attempts.push(Attempt {
        arrived,
        order_key: stored.order.order_key.clone(),
        status: 200,
    });
    w.orders.insert(order_id, stored.clone());
    (StatusCode::OK, Json(stored)).into_response()
}

/// Order statuses a `createorder` cannot change.
const LOCKED: [&str; 2] = ["shipped", "cancelled"];

/// The query of `GET /orders`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderQuery {
    order_status: Option<String>,
    order_number: Option<String>,
    page: Option<usize>,
    page_size: Option<usize>,
    sort_by: Option<String>,
    sort_dir: Option<String>,
}

/// `GET /orders`: paged, sorted by `orderId` (ShipStation's `sortBy=OrderId`;
/// the sandbox sorts by id whatever is asked, ascending unless `sortDir=DESC`).
async fn list_orders(State(warehouse): State<Shared>, Query(query): Query<OrderQuery>) -> Response {
    let page_size = query.page_size.unwrap_or(100).clamp(1, MAX_PAGE_SIZE);
    let page = query.page.unwrap_or(1).max(1);
    let _ = query.sort_by;
    let w = lock(&warehouse);
    let mut matching: Vec<&FulfilmentOrder> = w
        .orders
        .values()
        .filter(|o| {
            query
                .order_status
                .as_deref()
                .is_none_or(|status| o.order.order_status == status)
                && query
                    .order_number
                    .as_deref()
                    .is_none_or(|number| o.order.order_number.starts_with(number))
        })
        .collect();
    matching.sort_by_key(|o| o.order_id);
    if query.sort_dir.as_deref() == Some("DESC") {
        matching.reverse();
    }
    let total = matching.len();
    let orders: Vec<&FulfilmentOrder> = matching
        .into_iter()
        .skip((page - 1) * page_size)
        .take(page_size)
        .collect();
    Json(json!({
        "orders": orders,
        "total": total,
        "page": page,
        "pages": total.div_ceil(page_size),
    }))
    .into_response()
}

/// The query of `GET /shipments`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShipmentQuery {
    create_date_start: Option<String>,
    batch_id: Option<u64>,
    page: Option<usize>,
    page_size: Option<usize>,
}

/// `GET /shipments`: paged, sorted by `(createDate, shipmentId)`.
async fn list_shipments(
    State(warehouse): State<Shared>,
    Query(query): Query<ShipmentQuery>,
) -> Response {
    let page_size = query.page_size.unwrap_or(100).clamp(1, MAX_PAGE_SIZE);
    let page = query.page.unwrap_or(1).max(1);
    let w = lock(&warehouse);
    let mut matching: Vec<&Shipment> = w
        .shipments
        .iter()
        .filter(|s| {
            query
                .create_date_start
                .as_deref()
                .is_none_or(|start| s.create_date.as_str() >= start)
        })
        .filter(|s| query.batch_id.is_none_or(|batch| s.batch_id == batch))
        .collect();
    matching.sort_by(|a, b| (&a.create_date, a.shipment_id).cmp(&(&b.create_date, b.shipment_id)));
    let total = matching.len();
    let shipments: Vec<&Shipment> = matching
        .into_iter()
        .skip((page - 1) * page_size)
        .take(page_size)
        .collect();
    Json(json!({
        "shipments": shipments,
        "total": total,
        "page": page,
        "pages": total.div_ceil(page_size),
    }))
    .into_response()
}

/// `POST /webhooks/subscribe`: a SHIP_NOTIFY target.
async fn subscribe(State(warehouse): State<Shared>, body: Bytes) -> Response {
    #[derive(Deserialize)]
    struct Subscription {
        target_url: String,
        event: String,
    }
    match serde_json::from_slice::<Subscription>(&body) {
        Ok(s) if s.event == "SHIP_NOTIFY" => {
            let mut w = lock(&warehouse);
            w.webhooks.push(s.target_url);
            let id = w.webhooks.len();
            (StatusCode::CREATED, Json(json!({ "id": id }))).into_response()
        }
        Ok(s) => message(
            StatusCode::BAD_REQUEST,
            format!("event `{}` is not supported", s.event),
        ),
        Err(err) => message(
            StatusCode::BAD_REQUEST,
            format!("malformed subscription: {err}"),
        ),
    }
}

/// Standard base64 with padding, for the Basic credentials.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let bytes = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(bytes[0]) << 16) | (u32::from(bytes[1]) << 8) | u32::from(bytes[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("key:secret", "a2V5OnNlY3JldA=="),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }

    async fn call(
        threepl: &ThreePl,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", threepl.base_url()))
            .basic_auth("key", Some("secret"));
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    fn order(key: &str, status: &str) -> serde_json::Value {
        json!({
            "orderNumber": key, "orderKey": key, "orderStatus": status,
            "customerEmail": "ada@example.com", "shipTo": {"name": "Ada"},
            "items": [{"sku": "TEE", "quantity": 2, "unitPrice": 19.9}],
            "advancedOptions": {"warehouseId": 1}
        })
    }

    #[tokio::test]
    async fn createorder_upserts_by_order_key() {
        let threepl = ThreePl::start("key", "secret").await.unwrap();
        let post = reqwest::Method::POST;
        let (status, first) = call(
            &threepl,
            post.clone(),
            "/orders/createorder",
            Some(order("shop:1", "awaiting_shipment")),
        )
        .await;
        assert_eq!((status, first["orderId"].as_u64()), (200, Some(1)));
        let (_, second) = call(
            &threepl,
            post.clone(),
            "/orders/createorder",
            Some(order("shop:2", "awaiting_shipment")),
        )
        .await;
        assert_eq!(second["orderId"], 2);
        let (_, again) = call(
            &threepl,
            post.clone(),
            "/orders/createorder",
            Some(order("shop:1", "cancelled")),
        )
        .await;
        assert_eq!(again["orderId"], 1, "same orderKey, same order");
        let orders = threepl.orders();
        assert_eq!(orders.len(), 2);
        assert_eq!(
            (orders[0].order.order_status.as_str(), orders[0].applied),
            ("cancelled", 2)
        );
        let (status, _) = call(
            &threepl,
            post,
            "/orders/createorder",
            Some(json!({"orderNumber": "x", "orderStatus": "awaiting_shipment", "items": []})),
        )
        .await;
        assert_eq!(status, 422);
        assert_eq!(threepl.orders().len(), 2);
        let statuses: Vec<u16> = threepl.attempts().iter().map(|a| a.2).collect();
        assert_eq!(statuses, [200, 200, 200, 422], "each POST recorded once");
        threepl.stop().await;
    }

    #[tokio::test]
    async fn shipments_page_and_filter_by_create_date() {
        let threepl = ThreePl::start("key", "secret").await.unwrap();
        call(
            &threepl,
            reqwest::Method::POST,
            "/orders/createorder",
            Some(order("shop:1", "awaiting_shipment")),
        )
        .await;
        let parcel = |tracking: &str| Parcel {
            tracking: tracking.into(),
            carrier: "ups".into(),
            items: vec![ShipmentItem {
                sku: "TEE".into(),
                quantity: 1,
            }],
        };
        threepl.ship("shop:1", vec![parcel("A"), parcel("B"), parcel("C")]);
        let get = reqwest::Method::GET;
        let (_, page) = call(&threepl, get.clone(), "/shipments?page=2&pageSize=2", None).await;
        assert_eq!(
            (page["total"].as_u64(), page["pages"].as_u64()),
            (Some(3), Some(2))
        );
        assert_eq!(page["shipments"][0]["trackingNumber"], "C");
        assert_eq!(page["shipments"][0]["orderKey"], "shop:1");

        tokio::time::sleep(Duration::from_millis(5)).await;
        let later = threepl.ship("shop:1", vec![parcel("D")]);
        let start = &threepl.shipments()[3].create_date;
        let (_, since) = call(
            &threepl,
            get.clone(),
            &format!("/shipments?createDateStart={start}"),
            None,
        )
        .await;
        assert_eq!(since["total"], 1, "createDateStart is inclusive");
        let path = later
            .resource_url
            .strip_prefix(&threepl.base_url())
            .unwrap();
        let (_, batch) = call(&threepl, get, path, None).await;
        assert_eq!(batch["shipments"][0]["trackingNumber"], "D");
        assert_eq!(batch["total"], 1);
        threepl.stop().await;
    }

    #[tokio::test]
    async fn ship_posts_ship_notify_to_subscribed_targets() {
        let threepl = ThreePl::start("key", "secret").await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = format!(
            "http://{}/hooks/acme/wms-shipstation",
            listener.local_addr().unwrap()
        );
        let (status, _) = call(
            &threepl,
            reqwest::Method::POST,
            "/webhooks/subscribe",
            Some(json!({"target_url": target, "event": "SHIP_NOTIFY"})),
        )
        .await;
        assert_eq!(status, 201);
        call(
            &threepl,
            reqwest::Method::POST,
            "/orders/createorder",
            Some(order("shop:1", "awaiting_shipment")),
        )
        .await;
        let received = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut buffer = [0u8; 4096];
            while !String::from_utf8_lossy(&seen).contains("SHIP_NOTIFY") {
                let n = socket.read(&mut buffer).await.unwrap();
                assert!(n > 0, "connection closed early");
                seen.extend_from_slice(&buffer[..n]);
            }
            let _ = socket
                .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
                .await;
            String::from_utf8_lossy(&seen).into_owned()
        });
        let notify = threepl.ship(
            "shop:1",
            vec![Parcel {
                tracking: "A".into(),
                carrier: "ups".into(),
                items: Vec::new(),
            }],
        );
        let request = tokio::time::timeout(Duration::from_secs(5), received)
            .await
            .expect("the notification arrives")
            .unwrap();
        assert!(
            request.starts_with("POST /hooks/acme/wms-shipstation"),
            "{request}"
        );
        assert!(request.contains(&notify.resource_url), "{request}");
        threepl.stop().await;
    }

    #[tokio::test]
    async fn wrong_credentials_are_refused_and_limits_answer_429_with_reset() {
        let threepl = ThreePl::start("key", "secret").await.unwrap();
        let client = reqwest::Client::new();
        let url = format!("{}/shipments", threepl.base_url());
        let refused = client
            .get(&url)
            .basic_auth("key", Some("wrong"))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);

        threepl.set_rate_limit(2, Duration::from_secs(30));
        for remaining in ["1", "0"] {
            let ok = client
                .get(&url)
                .basic_auth("key", Some("secret"))
                .send()
                .await
                .unwrap();
            assert_eq!(ok.status(), 200);
            assert_eq!(ok.headers()["x-rate-limit-limit"], "2");
            assert_eq!(ok.headers()["x-rate-limit-remaining"], remaining);
        }
        let limited = client
            .get(&url)
            .basic_auth("key", Some("secret"))
            .send()
            .await
            .unwrap();
        assert_eq!(limited.status(), 429);
        assert_eq!(limited.headers()["x-rate-limit-reset"], "30");
        threepl.stop().await;
    }
}
