//! The shop sandbox: a commerce platform that publishes its orders as a feed.
//!
//! # API
//! Every request needs `Authorization: Bearer <token>`; without it the answer is
//! `401 {"error": "..."}`. Errors always have that shape.
//!
//! - `GET /api/health` answers `200 {"ok": true}`.
//! - `GET /api/orders?updated_after=<time>&after_id=<id>&limit=<n>` answers
//!   `200 {"orders": [Order, ...], "has_more": bool}`.
//! - `PUT /api/orders/{id}/fulfilments/{tracking_number}` with
//!   `{"carrier": "ups", "lines": [{"sku": "TEE-BLK-M", "quantity": 1}]}`
//!   records a parcel shipped for the order (see [`Fulfilment`]): `201 {"id":
//!   "F-000001"}` when new, `200` with the same id when that tracking number was
//!   recorded already (it is replaced). `404` for an unknown order; `422` when a
//!   line's SKU is not in the order or the order's parcels would hold more of a
//!   SKU than was ordered.
//! - `GET /api/orders/{id}/fulfilments` answers `200 {"fulfilments": [...]}`,
//!   and `GET /api/fulfilments` every order's, by id.
//! - `GET /api/refunds?updated_after=<time>&after_id=<id>&limit=<n>` answers
//!   `200 {"refunds": [Refund, ...], "has_more": bool}`: money given back on
//!   paid orders (see [`Refund`]), a feed like the orders' (below). A refund
//!   never changes once made, so its `updated_at` is when it was made. The
//!   merchant refunds in the shop's back office ([`Shop::refund`]).
//!
//! An order (see [`Order`]) looks like this; prices are decimal strings and times
//! are RFC 3339 in UTC with whole seconds:
//!
//! ```json
//! {"id": "1001", "number": "SO-1001", "status": "paid", "currency": "EUR",
//!  "customer": {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"},
//!  "lines": [{"sku": "TEE-BLK-M", "name": "T-shirt black M", "quantity": 2, "unit_price": "19.90"}],
//!  "total": "39.80", "updated_at": "2026-11-23T10:00:00Z"}
//! ```
//!
//! # Feed order and cursor
//! The feed is sorted by `(updated_at, id)` ascending. Ids are ordered shortest
//! first, then byte by byte: for the decimal ids the shop issues (no leading
//! zeros) that is numeric order, so `"999"` comes before `"1000"`.
//!
//! A read returns the orders whose `(updated_at, id)` is strictly greater than
//! `(updated_after, after_id)`:
//! - neither parameter: the feed from its start;
//! - `updated_after` alone: `after_id` counts as the smallest id, so orders
//!   updated exactly at `updated_after` are included (`updated_at >= updated_after`);
//! - both: orders updated after `updated_after`, and those updated exactly then
//!   whose id comes after `after_id`. Passing the `updated_at` and `id` of the last
//!   order of a page resumes right after it, even when several orders share that
//!   `updated_at` across the page boundary;
//! - `after_id` alone is a `400`.
//!
//! `updated_after` is any RFC 3339 time (offsets and fractional seconds allowed).
//! `limit` is 1 or more, default [`DEFAULT_LIMIT`]; above [`MAX_LIMIT`] it counts
//! as [`MAX_LIMIT`]. `has_more` says whether orders follow the last one returned.
//! A malformed value, an empty `after_id` or an unknown parameter is a `400`.
//!
//! Changing an order (`Shop::upsert_order`) moves it to the end of the feed, so a
//! reader that resumes from its cursor sees it again.
//!
//! # Webhooks
//! [`Shop::notify`] POSTs an order's `order.updated` notification to a URL, as the
//! shop would when it changes: body = the order JSON, headers `X-Shop-Event:
//! order.updated` and `X-Shop-Signature: sha256=<hex HMAC-SHA256 of the body>`
//! keyed with the tenant's webhook secret. [`Shop::order_webhook`] gives the
//! body and signature without sending them.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, put};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{InjectedFailures, Server, error, health, hmac_sha256_hex, lock};

/// Orders per page when the request gives no `limit`.
pub const DEFAULT_LIMIT: usize = 50;
/// The most orders one page holds; a larger `limit` is lowered to this.
pub const MAX_LIMIT: usize = 200;

/// An order as the shop publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The shop's id: a decimal number as a string (`"1001"`).
    pub id: String,
    /// The number shown to the customer (`"SO-1001"`).
    pub number: String,
    pub status: OrderStatus,
    /// ISO 4217 code (`"EUR"`).
    pub currency: String,
    pub customer: Customer,
    pub lines: Vec<OrderLine>,
    /// Sum of the lines, a decimal string with two decimals (`"39.80"`).
    pub total: String,
    /// When the order last changed: RFC 3339, UTC, whole seconds
    /// (`"2026-11-23T10:00:00Z"`).
    pub updated_at: String,
}

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    /// Placed, not paid yet.
    Placed,
    Paid,
    Cancelled,
}

/// Who placed an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

/// One product line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub sku: String,
    /// The product's display name.
    pub name: String,
    pub quantity: u32,
    /// Price of one unit, a decimal string with two decimals (`"19.90"`).
    pub unit_price: String,
}

/// A parcel shipped for an order, as the shop shows it to its customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fulfilment {
    /// The shop's id (`"F-000001"`), fixed at creation.
    pub id: String,
    pub order_id: String,
    pub tracking_number: String,
    pub carrier: String,
    pub lines: Vec<FulfilmentLine>,
}

/// What a parcel holds of one order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FulfilmentLine {
    pub sku: String,
    pub quantity: u32,
}

/// Money given back on a paid order: some of its lines, in part or whole.
/// Amounts are decimal strings with two decimals, like the order's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// The shop's id (`"R-000001"`), in the order refunds were made.
    pub id: String,
    pub order_id: String,
    pub currency: String,
    pub lines: Vec<RefundLine>,
    /// Shipping given back: the demo shop charges none, so always `"0.00"`.
    pub shipping: String,
    /// Lines plus shipping.
    pub total: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// When the refund was made: RFC 3339, UTC, whole seconds.
    pub updated_at: String,
}

impl Refund {
    /// `total` in cents.
    pub fn total_cents(&self) -> i64 {
        parse_cents(&self.total).map_or(0, |cents| cents as i64)
    }
}

/// What a [`Refund`] gives back for one order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundLine {
    pub sku: String,
    pub quantity: u32,
    /// The order line's unit price.
    pub unit_price: String,
    /// `quantity` times `unit_price`.
    pub total: String,
}

/// The body of `PUT /api/orders/{id}/fulfilments/{tracking_number}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewFulfilment {
    #[serde(default)]
    carrier: String,
    lines: Vec<FulfilmentLine>,
}

/// A running shop sandbox; dropping it stops the server too.
#[derive(Debug)]
pub struct Shop {
    server: Server,
    catalog: Arc<Mutex<Catalog>>,
}

impl Shop {
    /// Starts a shop on `127.0.0.1` (port picked by the system) that accepts
    /// `token` and publishes `orders`, whose `updated_at` are kept as given.
    pub async fn start(token: &str, orders: Vec<Order>) -> anyhow::Result<Shop> {
        Self::start_on(super::ANY_LOOPBACK_PORT, token, orders).await
    }

    /// As [`Shop::start`], on the address `addr`.
    pub async fn start_on(
        addr: SocketAddr,
        token: &str,
        orders: Vec<Order>,
    ) -> anyhow::Result<Shop> {
        let mut catalog = Catalog::default();
        for order in orders {
            let updated_at = Timestamp::parse(&order.updated_at).with_context(|| {
                format!(
                    "order `{}` has updated_at `{}`, not an RFC 3339 time",
                    order.id, order.updated_at
                )
            })?;
            anyhow::ensure!(
                updated_at.nanos == 0,
                "order `{}` has updated_at `{}`: the shop keeps whole seconds",
                order.id,
                order.updated_at
            );
            anyhow::ensure!(
                !catalog.orders.contains_key(&order.id),
                "order id `{}` appears twice",
                order.id
            );
            catalog.put(order, updated_at.secs);
        }
        let catalog = Arc::new(Mutex::new(catalog));
        let routes = Router::new()
            .route("/api/health", get(health))
            .route("/api/orders", get(list_orders))
            .route("/api/fulfilments", get(all_fulfilments))
            .route("/api/refunds", get(list_refunds))
            .route("/api/orders/{id}/fulfilments", get(list_fulfilments))
            .route(
                "/api/orders/{id}/fulfilments/{tracking}",
                put(put_fulfilment),
            )
            .with_state(Arc::clone(&catalog));
        let server = Server::start("shop", addr, token, routes).await?;
        Ok(Shop { server, catalog })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// Inserts `order`, or replaces the order with its id, and stamps it with the
    /// current time: strictly later than every `updated_at` already in the shop,
    /// so the change lands at the end of the feed.
    pub fn upsert_order(&self, order: Order) {
        let mut catalog = lock(&self.catalog);
        let at = later_than(catalog.latest());
        catalog.put(order, at);
    }

    /// Refunds `lines` (`(sku, quantity)`) of paid order `order_id`, as the
    /// merchant does in the back office, at their unit prices; the refund is
    /// stamped later than every refund before it, at the end of the feed.
    ///
    /// # Errors
    /// An unknown or unpaid order, no lines, a SKU not on the order, or more
    /// units than were ordered and not refunded yet: nothing changes.
    pub fn refund(
        &self,
        order_id: &str,
        lines: &[(&str, u32)],
        reason: &str,
    ) -> anyhow::Result<Refund> {
        let mut catalog = lock(&self.catalog);
        let order = &catalog
            .orders
            .get(order_id)
            .with_context(|| format!("no order `{order_id}`"))?
            .order;
        anyhow::ensure!(
            order.status == OrderStatus::Paid,
            "order `{order_id}` is {:?}: only paid orders are refunded",
            order.status
        );
        anyhow::ensure!(!lines.is_empty(), "a refund needs at least one line");
        let mut refunded = Vec::new();
        let mut total = 0;
        for &(sku, quantity) in lines {
            let line = order
                .lines
                .iter()
                .find(|line| line.sku == sku)
                .with_context(|| format!("order `{order_id}` has no line `{sku}`"))?;
            let before: u32 = catalog
                .refunds
                .values()
                .filter(|(_, refund)| refund.order_id == order_id)
                .flat_map(|(_, refund)| &refund.lines)
                .chain(refunded.iter())
                .filter(|refunded| refunded.sku == sku)
                .map(|refunded| refunded.quantity)
                .sum();
            anyhow::ensure!(
                quantity >= 1 && before + quantity <= line.quantity,
                "order `{order_id}` line `{sku}`: {quantity} more refunded would make {} of {} ordered",
                before + quantity,
                line.quantity
            );
            let unit = parse_cents(&line.unit_price)
                .with_context(|| format!("unit price `{}` is not an amount", line.unit_price))?;
            let cents = unit * u64::from(quantity);
            total += cents;
            refunded.push(RefundLine {
                sku: sku.to_owned(),
                quantity,
                unit_price: line.unit_price.clone(),
                total: format_cents(cents),
            });
        }
        let currency = order.currency.clone();
        let at = later_than(catalog.refunds.values().map(|(at, _)| *at).max());
        let refund = Refund {
            id: format!("R-{:06}", catalog.refunds.len() + 1),
            order_id: order_id.to_owned(),
            currency,
            lines: refunded,
            shipping: format_cents(0),
            total: format_cents(total),
            reason: reason.to_owned(),
            updated_at: format_rfc3339(at),
        };
        catalog
            .refunds
            .insert(refund.id.clone(), (at, refund.clone()));
        Ok(refund)
    }

    /// Every refund, in the order they were made.
    pub fn refunds(&self) -> Vec<Refund> {
        lock(&self.catalog)
            .refunds
            .values()
            .map(|(_, refund)| refund.clone())
            .collect()
    }

    /// Inserts `order`, or replaces the order with its id, stamped with
    /// `updated_at` exactly: lets tests make ties and go back in time.
    ///
    /// # Panics
    /// If `updated_at` is not an RFC 3339 time with whole seconds.
    pub fn upsert_order_at(&self, order: Order, updated_at: &str) {
        let at = Timestamp::parse(updated_at)
            .filter(|at| at.nanos == 0)
            .unwrap_or_else(|| panic!("`{updated_at}` is not an RFC 3339 time with whole seconds"));
        lock(&self.catalog).put(order, at.secs);
    }

    /// Every order, in feed order.
    pub fn orders(&self) -> Vec<Order> {
        let catalog = lock(&self.catalog);
        catalog
            .feed()
            .into_iter()
            .map(|entry| entry.order.clone())
            .collect()
    }

    /// Every parcel recorded, by id.
    pub fn fulfilments(&self) -> Vec<Fulfilment> {
        lock(&self.catalog).fulfilments.values().cloned().collect()
    }

    /// Makes the next `count` order reads answer `status` (with `Retry-After: 1`
    /// when it is `429`) instead of orders. Health checks are not affected.
    ///
    /// # Panics
    /// If `status` is not an HTTP status code (100 to 999).
    pub fn fail_next(&self, count: usize, status: u16) {
        lock(&self.catalog).failures.arm(count, status);
    }

    /// The `order.updated` webhook the shop sends for order `id`: the order's JSON
    /// as the API publishes it, and the `X-Shop-Signature` value for it,
    /// `sha256=<hex HMAC-SHA256 of the body>` keyed with `secret`. `None` for an
    /// unknown order.
    pub fn order_webhook(&self, id: &str, secret: &str) -> Option<(Vec<u8>, String)> {
        let catalog = lock(&self.catalog);
        let order = &catalog.orders.get(id)?.order;
        let body = serde_json::to_vec(order).expect("orders serialise");
        let signature = format!("sha256={}", hmac_sha256_hex(secret, &body));
        Some((body, signature))
    }

    /// Signs and POSTs the `order.updated` webhook of order `id` to `url`, as the
    /// shop does when an order changes; answers the HTTP status.
    pub async fn notify(&self, url: &str, id: &str, secret: &str) -> anyhow::Result<u16> {
        let (body, signature) = self
            .order_webhook(id, secret)
            .with_context(|| format!("the shop has no order `{id}`"))?;
        let response = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .header("x-shop-event", "order.updated")
            .header("x-shop-signature", signature)
            .body(body)
            .send()
            .await
            .with_context(|| format!("could not POST the webhook to {url}"))?;
        Ok(response.status().as_u16())
    }

    /// Stops the server, letting open requests finish.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// The shop's state behind the server.
#[derive(Debug, Default)]
struct Catalog {
    orders: HashMap<String, Entry>,
    failures: InjectedFailures,
    /// By id; ids sort in creation order.
    fulfilments: BTreeMap<String, Fulfilment>,
    /// By id (creation order), with when each was made in Unix seconds.
    refunds: BTreeMap<String, (i64, Refund)>,
}

/// An order and its `updated_at` in seconds since the Unix epoch.
#[derive(Debug)]
struct Entry {
    updated_at: i64,
    order: Order,
}

impl Catalog {
    /// Stores `order` as updated at `updated_at`, rewriting its `updated_at` field.
    fn put(&mut self, mut order: Order, updated_at: i64) {
        order.updated_at = format_rfc3339(updated_at);
        self.orders
            .insert(order.id.clone(), Entry { updated_at, order });
    }

    fn latest(&self) -> Option<i64> {
        self.orders.values().map(|entry| entry.updated_at).max()
    }

    /// Every entry sorted by `(updated_at, id)`.
    fn feed(&self) -> Vec<&Entry> {
        let mut feed: Vec<&Entry> = self.orders.values().collect();
        feed.sort_by(|a, b| {
            a.updated_at
                .cmp(&b.updated_at)
                .then_with(|| compare_ids(&a.order.id, &b.order.id))
        });
        feed
    }
}

/// Shortest first, then bytewise: numeric order for decimal ids.
fn compare_ids(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Where a read starts: strictly after `(updated_after, after_id)`.
#[derive(Debug)]
struct FeedPosition {
    updated_after: Timestamp,
    /// `""` sorts before every id.
    after_id: String,
}

impl FeedPosition {
    /// Whether what was updated at `secs` with `id` comes after this position.
    fn is_before(&self, secs: i64, id: &str) -> bool {
        let at = Timestamp { secs, nanos: 0 };
        match at.cmp(&self.updated_after) {
            Ordering::Greater => true,
            Ordering::Less => false,
            Ordering::Equal => compare_ids(id, &self.after_id) == Ordering::Greater,
        }
    }
}

/// Now in Unix seconds, or one second after `latest` if that is not before
/// now: so that a change stamped with it lands at the end of its feed.
fn later_than(latest: Option<i64>) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        });
    match latest {
        Some(latest) if latest >= now => latest + 1,
        _ => now,
    }
}

/// `GET /api/orders`.
async fn list_orders(
    State(catalog): State<Arc<Mutex<Catalog>>>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let Ok(Query(params)) = query else {
        return error(StatusCode::BAD_REQUEST, "malformed query string");
    };
    let (position, limit) = match parse_feed_query(&params) {
        Ok(parsed) => parsed,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let mut catalog = lock(&catalog);
    if let Some(failure) = catalog.failures.take() {
        return failure;
    }
    let mut after: Vec<&Entry> = catalog
        .feed()
        .into_iter()
        .filter(|entry| {
            position
                .as_ref()
                .is_none_or(|p| p.is_before(entry.updated_at, &entry.order.id))
        })
        .collect();
    let has_more = after.len() > limit;
    after.truncate(limit);
    let orders: Vec<&Order> = after.iter().map(|entry| &entry.order).collect();
    Json(json!({ "orders": orders, "has_more": has_more })).into_response()
}

/// `GET /api/refunds`: the refunds feed, sorted by `(updated_at, id)`.
async fn list_refunds(
    State(catalog): State<Arc<Mutex<Catalog>>>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let Ok(Query(params)) = query else {
        return error(StatusCode::BAD_REQUEST, "malformed query string");
    };
    let (position, limit) = match parse_feed_query(&params) {
        Ok(parsed) => parsed,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let mut catalog = lock(&catalog);
    if let Some(failure) = catalog.failures.take() {
        return failure;
    }
    let mut after: Vec<&(i64, Refund)> = catalog
        .refunds
        .values()
        .filter(|(at, refund)| {
            position
                .as_ref()
                .is_none_or(|p| p.is_before(*at, &refund.id))
        })
        .collect();
    // Made in id order, so (updated_at, id) order is id order.
    let has_more = after.len() > limit;
    after.truncate(limit);
    let refunds: Vec<&Refund> = after.iter().map(|(_, refund)| refund).collect();
    Json(json!({ "refunds": refunds, "has_more": has_more })).into_response()
}

/// `GET /api/fulfilments`.
async fn all_fulfilments(State(catalog): State<Arc<Mutex<Catalog>>>) -> Response {
    let catalog = lock(&catalog);
    let parcels: Vec<&Fulfilment> = catalog.fulfilments.values().collect();
    Json(json!({ "fulfilments": parcels })).into_response()
}

/// `GET /api/orders/{id}/fulfilments`.
async fn list_fulfilments(
    State(catalog): State<Arc<Mutex<Catalog>>>,
    Path(id): Path<String>,
) -> Response {
    let catalog = lock(&catalog);
    if !catalog.orders.contains_key(&id) {
        return error(StatusCode::NOT_FOUND, format!("no order `{id}`"));
    }
    let parcels: Vec<&Fulfilment> = catalog
        .fulfilments
        .values()
        .filter(|f| f.order_id == id)
        .collect();
    Json(json!({ "fulfilments": parcels })).into_response()
}

/// `PUT /api/orders/{id}/fulfilments/{tracking}`: idempotent by tracking number.
async fn put_fulfilment(
    State(catalog): State<Arc<Mutex<Catalog>>>,
    Path((id, tracking)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let new: NewFulfilment = match serde_json::from_slice(&body) {
        Ok(new) => new,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("malformed fulfilment: {e}"),
            );
        }
    };
    let mut catalog = lock(&catalog);
    let Some(entry) = catalog.orders.get(&id) else {
        return error(StatusCode::NOT_FOUND, format!("no order `{id}`"));
    };
    if tracking.trim().is_empty() || new.lines.is_empty() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "a parcel needs a tracking number and at least one line",
        );
    }
    let existing = catalog
        .fulfilments
        .values()
        .find(|f| f.order_id == id && f.tracking_number == tracking)
        .map(|f| f.id.clone());
    // What the order's other parcels hold already, per SKU.
    let mut shipped: HashMap<&str, u64> = HashMap::new();
    for parcel in catalog.fulfilments.values() {
        if parcel.order_id == id && Some(&parcel.id) != existing.as_ref() {
            for line in &parcel.lines {
                *shipped.entry(&line.sku).or_default() += u64::from(line.quantity);
            }
        }
    }
    for line in &new.lines {
        let ordered: u64 = entry
            .order
            .lines
            .iter()
            .filter(|l| l.sku == line.sku)
            .map(|l| u64::from(l.quantity))
            .sum();
        if ordered == 0 || line.quantity == 0 {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("order `{id}` has no line with sku `{}` to ship", line.sku),
            );
        }
        let total = shipped.get(line.sku.as_str()).copied().unwrap_or(0) + u64::from(line.quantity);
        if total > ordered {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "order `{id}` has {ordered} of sku `{}`; its parcels would hold {total}",
                    line.sku
                ),
            );
        }
    }
    let (status, parcel_id) = match existing {
        Some(parcel_id) => (StatusCode::OK, parcel_id),
        None => (
            StatusCode::CREATED,
            format!("F-{:06}", catalog.fulfilments.len() + 1),
        ),
    };
    let parcel = Fulfilment {
        id: parcel_id.clone(),
        order_id: id,
        tracking_number: tracking,
        carrier: new.carrier,
        lines: new.lines,
    };
    catalog.fulfilments.insert(parcel_id.clone(), parcel);
    (status, Json(json!({ "id": parcel_id }))).into_response()
}

/// Reads the feed query; the error is the message of the `400`.
fn parse_feed_query(
    params: &HashMap<String, String>,
) -> Result<(Option<FeedPosition>, usize), String> {
    if let Some(unknown) = params
        .keys()
        .find(|name| !matches!(name.as_str(), "updated_after" | "after_id" | "limit"))
    {
        return Err(format!(
            "unknown parameter `{unknown}`: expected updated_after, after_id or limit"
        ));
    }
    let limit = match params.get("limit") {
        None => DEFAULT_LIMIT,
        Some(raw) => match raw.parse::<usize>() {
            Ok(0) | Err(_) => return Err(format!("limit `{raw}` is not a positive integer")),
            Ok(limit) => limit.min(MAX_LIMIT),
        },
    };
    let updated_after = params
        .get("updated_after")
        .map(|raw| {
            Timestamp::parse(raw)
                .ok_or_else(|| format!("updated_after `{raw}` is not an RFC 3339 time"))
        })
        .transpose()?;
    let after_id = params.get("after_id");
    if after_id.is_some_and(|id| id.is_empty()) {
        return Err("after_id must not be empty".to_owned());
    }
    let position = match (updated_after, after_id) {
        (None, None) => None,
        (None, Some(_)) => return Err("after_id needs updated_after".to_owned()),
        (Some(updated_after), after_id) => Some(FeedPosition {
            updated_after,
            after_id: after_id.cloned().unwrap_or_default(),
        }),
    };
    Ok((position, limit))
}

/// A point in time, to the nanosecond, as seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Timestamp {
    secs: i64,
    nanos: u32,
}

impl Timestamp {
    /// Parses RFC 3339: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
    fn parse(text: &str) -> Option<Timestamp> {
        let bytes = text.as_bytes();
        let digits = |range: std::ops::Range<usize>| -> Option<i64> {
            let part = bytes.get(range)?;
            part.iter().all(u8::is_ascii_digit).then(|| {
                part.iter()
                    .fold(0, |value, digit| value * 10 + i64::from(digit - b'0'))
            })
        };
        let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
        if separators
            .iter()
            .any(|&(at, sep)| bytes.get(at) != Some(&sep))
            || !matches!(bytes.get(10), Some(b'T' | b't'))
        {
            return None;
        }
        let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
        let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return None;
        }

        let mut rest = &text[19..];
        let mut nanos = 0u32;
        if let Some(fraction) = rest.strip_prefix('.') {
            let len = fraction.bytes().take_while(u8::is_ascii_digit).count();
            if len == 0 {
                return None;
            }
            for (place, digit) in fraction.bytes().take(len).enumerate() {
                if place < 9 {
                    nanos += u32::from(digit - b'0') * 10u32.pow(8 - place as u32);
                }
            }
            rest = &fraction[len..];
        }
        let offset = match rest.as_bytes() {
            [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let field = [*h1, *h2, *m1, *m2];
                if !field.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                let hours = i64::from((h1 - b'0') * 10 + (h2 - b'0'));
                let minutes = i64::from((m1 - b'0') * 10 + (m2 - b'0'));
                if hours > 23 || minutes > 59 {
                    return None;
                }
                let offset = hours * 3600 + minutes * 60;
                if *sign == b'-' { -offset } else { offset }
            }
            _ => return None,
        };
        let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
            - offset;
        Some(Timestamp { secs, nanos })
    }
}

/// Formats seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
fn format_rfc3339(secs: i64) -> String {
    let (days, of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date `days` after 1970-01-01, the inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Products of the demo catalogue: sku, name, unit price in cents.
const DEMO_PRODUCTS: [(&str, &str, u64); 6] = [
    ("TEE-BLK-M", "T-shirt black M", 1990),
    ("TEE-WHT-L", "T-shirt white L", 1990),
    ("MUG-WHT", "Mug white", 950),
    ("CAP-NVY", "Cap navy", 1400),
    ("SOCK-GRY-L", "Socks grey L", 650),
    ("HOOD-GRN-S", "Hoodie green S", 4900),
];

/// Customers of the demo data: first name, last name.
const DEMO_CUSTOMERS: [(&str, &str); 5] = [
    ("Ada", "Lovelace"),
    ("Grace", "Hopper"),
    ("Alan", "Turing"),
    ("Edsger", "Dijkstra"),
    ("Barbara", "Liskov"),
];

/// When the first demo order was last updated; see [`demo_orders`].
const DEMO_EPOCH: &str = "2026-11-23T09:00:00Z";

/// `n` deterministic orders with ids from `1001`, for the demo and the tests.
///
/// Orders come in groups of three that share one `updated_at`
/// (`2026-11-23T09:00:00Z`, then a minute later per group), so paging through
/// them meets cursor ties at page boundaries. Most are `paid`; every fifth is
/// `placed` and every seventh `cancelled`. Each has one to three lines.
pub fn demo_orders(n: usize) -> Vec<Order> {
    let epoch = Timestamp::parse(DEMO_EPOCH).map_or(0, |at| at.secs);
    (0..n)
        .map(|i| {
            let id = 1001 + i;
            let (first_name, last_name) = DEMO_CUSTOMERS[i % DEMO_CUSTOMERS.len()];
            let status = if i % 7 == 6 {
                OrderStatus::Cancelled
            } else if i % 5 == 4 {
                OrderStatus::Placed
            } else {
                OrderStatus::Paid
            };
            let lines: Vec<(OrderLine, u64)> = (0..1 + i % 3)
                .map(|j| {
                    let (sku, name, cents) = DEMO_PRODUCTS[(i * 2 + j) % DEMO_PRODUCTS.len()];
                    let quantity = 1 + ((i + j) % 3) as u32;
                    let line = OrderLine {
                        sku: sku.to_owned(),
                        name: name.to_owned(),
                        quantity,
                        unit_price: format_cents(cents),
                    };
                    (line, cents * u64::from(quantity))
                })
                .collect();
            let total = lines.iter().map(|(_, cents)| cents).sum();
            Order {
                id: id.to_string(),
                number: format!("SO-{id}"),
                status,
                currency: "EUR".to_owned(),
                customer: Customer {
                    email: format!(
                        "{}.{}@example.com",
                        first_name.to_lowercase(),
                        last_name.to_lowercase()
                    ),
                    first_name: first_name.to_owned(),
                    last_name: last_name.to_owned(),
                },
                lines: lines.into_iter().map(|(line, _)| line).collect(),
                total: format_cents(total),
                updated_at: format_rfc3339(epoch + (i / 3) as i64 * 60),
            }
        })
        .collect()
}

/// `1990` -> `"19.90"`.
fn format_cents(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// `"19.90"` -> `1990`: the shop's own amounts, two decimals always.
fn parse_cents(amount: &str) -> Option<u64> {
    let (units, hundredths) = amount.split_once('.')?;
    if hundredths.len() != 2 || !hundredths.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(units.parse::<u64>().ok()? * 100 + hundredths.parse::<u64>().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "shop-test-token";

    async fn get(shop: &Shop, path_and_query: &str) -> (u16, serde_json::Value) {
        let response = reqwest::Client::new()
            .get(format!("{}{path_and_query}", shop.base_url()))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("shop answers");
        let status = response.status().as_u16();
        (status, json_body(response).await)
    }

    /// The host's reqwest has no `json` feature; parse by hand.
    async fn json_body(response: reqwest::Response) -> serde_json::Value {
        let bytes = response.bytes().await.expect("shop answers a body");
        serde_json::from_slice(&bytes).expect("shop answers JSON")
    }

    fn ids(page: &serde_json::Value) -> Vec<String> {
        page["orders"]
            .as_array()
            .expect("orders is an array")
            .iter()
            .map(|order| order["id"].as_str().expect("id is a string").to_owned())
            .collect()
    }

    /// Reads the whole feed from `start` page by page the way a connector does,
    /// resuming after the last order of each page.
    async fn read_all(shop: &Shop, limit: usize) -> Vec<String> {
        let mut seen = Vec::new();
        let mut cursor: Option<(String, String)> = None;
        for _ in 0..100 {
            let query = match &cursor {
                None => format!("/api/orders?limit={limit}"),
                Some((at, id)) => {
                    format!("/api/orders?limit={limit}&updated_after={at}&after_id={id}")
                }
            };
            let (status, page) = get(shop, &query).await;
            assert_eq!(status, 200, "{page}");
            let orders = page["orders"].as_array().expect("orders").clone();
            assert!(orders.len() <= limit);
            seen.extend(ids(&page));
            if let Some(last) = orders.last() {
                cursor = Some((
                    last["updated_at"].as_str().expect("updated_at").to_owned(),
                    last["id"].as_str().expect("id").to_owned(),
                ));
            }
            if page["has_more"] == false {
                return seen;
            }
        }
        panic!("the feed never ended");
    }

    #[tokio::test]
    async fn requests_without_the_token_are_refused() {
        let shop = Shop::start(TOKEN, demo_orders(3)).await.unwrap();
        let client = reqwest::Client::new();
        let url = format!("{}/api/orders", shop.base_url());

        let missing = client.get(&url).send().await.unwrap();
        assert_eq!(missing.status(), 401);
        let body = json_body(missing).await;
        assert!(body["error"].is_string(), "{body}");

        let wrong = client.get(&url).bearer_auth("nope").send().await.unwrap();
        assert_eq!(wrong.status(), 401);
        let health = client
            .get(format!("{}/api/health", shop.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 401);

        let (status, body) = get(&shop, "/api/health").await;
        assert_eq!((status, body), (200, json!({ "ok": true })));
        shop.stop().await;
    }

    #[tokio::test]
    async fn paging_resumes_inside_a_tie_across_the_page_boundary() {
        // Five orders share one updated_at; pages of two split them 2/2/1, and
        // the sixth (09:01) follows.
        let mut orders = demo_orders(6);
        for order in &mut orders[..5] {
            order.updated_at = "2026-11-23T08:00:00Z".to_owned();
        }
        let shop = Shop::start(TOKEN, orders).await.unwrap();

        let (_, first) = get(&shop, "/api/orders?limit=2").await;
        assert_eq!(ids(&first), ["1001", "1002"]);
        assert_eq!(first["has_more"], true);
        let (_, second) = get(
            &shop,
            "/api/orders?limit=2&updated_after=2026-11-23T08:00:00Z&after_id=1002",
        )
        .await;
        assert_eq!(ids(&second), ["1003", "1004"]);

        assert_eq!(
            read_all(&shop, 2).await,
            ["1001", "1002", "1003", "1004", "1005", "1006"]
        );
        shop.stop().await;
    }

    #[tokio::test]
    async fn demo_orders_page_without_loss_or_duplicates() {
        let shop = Shop::start(TOKEN, demo_orders(20)).await.unwrap();
        let expected: Vec<String> = (1001..1021).map(|id| id.to_string()).collect();
        for limit in [1, 2, 4, 7, 50] {
            assert_eq!(read_all(&shop, limit).await, expected, "limit {limit}");
        }
        shop.stop().await;
    }

    #[tokio::test]
    async fn updated_after_alone_includes_orders_at_that_time() {
        let shop = Shop::start(TOKEN, demo_orders(6)).await.unwrap();
        // 1001..1003 at 09:00, 1004..1006 at 09:01.
        let (_, page) = get(&shop, "/api/orders?updated_after=2026-11-23T09:01:00Z").await;
        assert_eq!(ids(&page), ["1004", "1005", "1006"]);
        assert_eq!(page["has_more"], false);
        let (_, page) = get(
            &shop,
            "/api/orders?updated_after=2026-11-23T10:00:30%2B01:00&after_id=1005",
        )
        .await;
        assert_eq!(
            ids(&page),
            ["1004", "1005", "1006"],
            "09:00:30Z is before 09:01"
        );
        shop.stop().await;
    }

    #[tokio::test]
    async fn ids_sort_numerically_within_a_tie() {
        let mut orders = demo_orders(2);
        orders[0].id = "1000".to_owned();
        orders[1].id = "999".to_owned();
        orders[1].updated_at = orders[0].updated_at.clone();
        let shop = Shop::start(TOKEN, orders).await.unwrap();
        let (_, page) = get(&shop, "/api/orders").await;
        assert_eq!(ids(&page), ["999", "1000"]);
        shop.stop().await;
    }

    #[tokio::test]
    async fn an_upserted_order_moves_to_the_end_of_the_feed() {
        let shop = Shop::start(TOKEN, demo_orders(4)).await.unwrap();
        let mut changed = shop.orders()[0].clone();
        changed.status = OrderStatus::Cancelled;
        shop.upsert_order(changed);

        let orders = shop.orders();
        assert_eq!(orders.len(), 4);
        let last = orders.last().unwrap();
        assert_eq!(
            (last.id.as_str(), last.status),
            ("1001", OrderStatus::Cancelled)
        );
        assert!(last.updated_at > orders[2].updated_at, "{orders:?}");

        // A reader positioned after the old last order sees the change.
        let (_, page) = get(
            &shop,
            &format!(
                "/api/orders?updated_after={}&after_id=1004",
                orders[2].updated_at
            ),
        )
        .await;
        assert_eq!(ids(&page), ["1001"]);

        shop.upsert_order_at(demo_orders(1).remove(0), "2026-11-23T09:00:00Z");
        assert_eq!(shop.orders()[0].id, "1001");
        shop.stop().await;
    }

    #[tokio::test]
    async fn bad_parameters_are_a_400() {
        let shop = Shop::start(TOKEN, demo_orders(3)).await.unwrap();
        for query in [
            "limit=0",
            "limit=ten",
            "updated_after=yesterday",
            "updated_after=2026-02-30T00:00:00Z",
            "after_id=1001",
            "updated_after=2026-11-23T09:00:00Z&after_id=",
            "cursor=abc",
        ] {
            let (status, body) = get(&shop, &format!("/api/orders?{query}")).await;
            assert_eq!(status, 400, "{query}: {body}");
            assert!(body["error"].is_string(), "{query}: {body}");
        }
        let (status, page) = get(&shop, "/api/orders?limit=100000").await;
        assert_eq!((status, ids(&page).len()), (200, 3));
        shop.stop().await;
    }

    #[tokio::test]
    async fn injected_failures_answer_before_the_feed() {
        let shop = Shop::start(TOKEN, demo_orders(1)).await.unwrap();
        shop.fail_next(1, 429);
        let response = reqwest::Client::new()
            .get(format!("{}/api/orders", shop.base_url()))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "1");
        let (status, _) = get(&shop, "/api/orders").await;
        assert_eq!(status, 200);
        shop.stop().await;
    }

    #[tokio::test]
    async fn refunds_are_a_feed_and_never_exceed_what_was_ordered() {
        // 1001 is paid with one line of 1 x 19.90; 1002 paid with two lines.
        let orders = demo_orders(2);
        let line = orders[1].lines[1].clone();
        let shop = Shop::start(TOKEN, orders.clone()).await.unwrap();
        let refund = shop.refund("1002", &[(&line.sku, 1)], "damaged").unwrap();
        assert_eq!(refund.id, "R-000001");
        assert_eq!(refund.lines[0].total, line.unit_price);
        assert_eq!(refund.total, line.unit_price);
        assert_eq!(refund.shipping, "0.00");

        // More than was ordered, an unknown SKU or order: refused, nothing made.
        let too_many = shop
            .refund("1002", &[(&line.sku, line.quantity)], "")
            .unwrap_err();
        assert!(too_many.to_string().contains("would make"), "{too_many}");
        assert!(shop.refund("1002", &[("NOPE", 1)], "").is_err());
        assert!(shop.refund("404", &[(&line.sku, 1)], "").is_err());
        assert_eq!(shop.refunds().len(), 1);

        let second = shop
            .refund("1001", &[(&orders[0].lines[0].sku, 1)], "")
            .unwrap();
        let (status, page) = get(&shop, "/api/refunds?limit=1").await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["refunds"][0]["id"], "R-000001");
        assert_eq!(page["has_more"], true);
        let (_, rest) = get(
            &shop,
            &format!(
                "/api/refunds?updated_after={}&after_id=R-000001",
                refund.updated_at
            ),
        )
        .await;
        let ids: Vec<&str> = rest["refunds"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["id"].as_str())
            .collect();
        assert_eq!(ids, [second.id.as_str()]);
        assert_eq!(rest["has_more"], false);
    }

    #[tokio::test]
    async fn parcels_are_idempotent_by_tracking_number_and_never_exceed_the_order() {
        let orders = demo_orders(1);
        let order = &orders[0];
        let sku = order.lines[0].sku.clone();
        let ordered = order.lines[0].quantity;
        let shop = Shop::start(TOKEN, orders.clone()).await.unwrap();
        let put = |tracking: &str, quantity: u32| {
            let url = format!(
                "{}/api/orders/{}/fulfilments/{tracking}",
                shop.base_url(),
                order.id
            );
            let body = json!({"carrier": "ups", "lines": [{"sku": sku, "quantity": quantity}]});
            async move {
                let response = reqwest::Client::new()
                    .put(url)
                    .bearer_auth(TOKEN)
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await
                    .unwrap();
                (response.status().as_u16(), json_body(response).await)
            }
        };
        let (status, first) = put("1Z-A", 1).await;
        assert_eq!(status, 201, "{first}");
        let (status, again) = put("1Z-A", 1).await;
        assert_eq!((status, &again), (200, &first));
        let (status, refused) = put("1Z-B", ordered).await;
        assert_eq!(status, 422, "{refused}");
        assert!(refused["error"].as_str().unwrap().contains("would hold"));
        if ordered > 1 {
            assert_eq!(put("1Z-B", ordered - 1).await.0, 201);
        }
        let (status, listed) = get(&shop, &format!("/api/orders/{}/fulfilments", order.id)).await;
        assert_eq!(status, 200);
        let expected = if ordered > 1 { 2 } else { 1 };
        assert_eq!(listed["fulfilments"].as_array().unwrap().len(), expected);
        assert_eq!(shop.fulfilments().len(), expected);
        let (status, all) = get(&shop, "/api/fulfilments").await;
        assert_eq!(
            (status, all["fulfilments"].as_array().unwrap().len()),
            (200, expected)
        );
        assert_eq!(get(&shop, "/api/orders/nope/fulfilments").await.0, 404);
    }

    #[test]
    fn times_round_trip() {
        for text in [
            "1970-01-01T00:00:00Z",
            "2000-02-29T23:59:59Z",
            "2026-11-23T10:00:00Z",
            "2100-03-01T00:00:00Z",
        ] {
            let at = Timestamp::parse(text).unwrap();
            assert_eq!(format_rfc3339(at.secs), text);
        }
        assert_eq!(
            Timestamp::parse("2026-11-23T10:00:00Z").unwrap().secs,
            1_795_428_000
        );
        let offset = Timestamp::parse("2026-11-23T11:30:00.25+01:30").unwrap();
        assert_eq!((offset.secs, offset.nanos), (1_795_428_000, 250_000_000));
        for bad in [
            "2026-11-23 10:00:00Z",
            "2026-11-23T10:00:00",
            "2026-13-01T00:00:00Z",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad}");
        }
    }
}
