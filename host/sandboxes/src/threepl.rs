//! The 3PL sandbox: a warehouse that follows the shape of ShipStation's public
//! API (v1), the orders it must fulfil, the shipments it sends, the orders it
//! holds and the parcels that come back.
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
//! Dates and times are ShipStation's: `2026-11-23T10:00:00.0000000`, fixed
//! width and without a zone, so they compare as text (the sandbox writes UTC
//! where ShipStation writes US Pacific time). Every date filter below is
//! inclusive (`createDateStart=T` keeps what was created at `T`).
//!
//! - `POST /orders/createorder` with an order (see [`NewOrder`], camelCase fields,
//!   unknown fields ignored) creates it, or updates in place the order with the
//!   same `orderKey`; answers `200` with the stored [`FulfilmentOrder`] (its
//!   `orderId` and `createDate` are fixed at creation, its `modifyDate` moves with
//!   every change). `422` when `orderKey`, `orderNumber` or `items` are missing
//!   or empty. As in ShipStation, `shipped` and `cancelled` orders are locked: a
//!   POST for one changes nothing and answers it as it is. An update takes the
//!   status it is given, as ShipStation's does: an update of an `on_hold` order
//!   with `awaiting_shipment` lifts the hold.
//! - `GET /orders?orderStatus=&orderNumber=&modifyDateStart=&page=&pageSize=&sortBy=&sortDir=`
//!   answers `200 {"orders": [FulfilmentOrder, ...], "total", "page", "pages"}`;
//!   `orderNumber` keeps the orders whose number starts with it, as
//!   ShipStation's does; `modifyDateStart` those modified at or after it.
//!   Sorted by `(modifyDate, orderId)` for `sortBy=ModifyDate`, `(createDate,
//!   orderId)` for `CreateDate`, else by `orderId`; descending for `sortDir=DESC`.
//! - `POST /orders/holduntil` `{"orderId": n, "holdUntilDate": "2026-12-01"}`
//!   puts the order `on_hold` until that date (a date: a time part is ignored;
//!   it must be later than today, ShipStation v2's rule), answering `200
//!   {"success": true, "message": "Order held successfully."}`; holding a held
//!   order replaces its date. `400` for an unknown order, a date that is not
//!   later than today, or a `shipped` or `cancelled` order. The order's
//!   `holdUntilDate` is then `2026-12-01T00:00:00.0000000`. **On that date the
//!   order is released** by itself: `awaiting_shipment`, `holdUntilDate` null
//!   (the sandbox notices at the next request or handle call, and that moment
//!   is the release's `modifyDate`).
//! - `POST /orders/restorefromhold` `{"orderId": n}` releases a held order now
//!   (`awaiting_shipment`, as ShipStation moves even unpaid orders), answering
//!   `200 {"success": true, "message": "The requested order has been restored"}`;
//!   `400` for an unknown order or one that is not `on_hold`.
//! - `GET /shipments?createDateStart=&modifyDateStart=&batchId=&includeShipmentItems=&sortBy=&page=&pageSize=`
//!   answers `200 {"shipments": [Shipment, ...], "total": n, "page": p, "pages": m}`:
//!   outbound shipments and return labels (`isReturnLabel: true`) alike, the
//!   ones created (`createDateStart`) or modified (`modifyDateStart`) at or
//!   after the time given, sorted by `(createDate, shipmentId)`, or by
//!   `(modifyDate, shipmentId)` for `sortBy=ModifyDate`, `pageSize` (default
//!   100, at most 500) per page, pages counted from 1. As in ShipStation,
//!   `shipmentItems` is `null` unless `includeShipmentItems=true`.
//! - `POST /webhooks/subscribe` `{"target_url": ..., "event": "SHIP_NOTIFY"}`
//!   registers a target: every [`ThreePl::ship`] then POSTs
//!   `{"resource_url": "<base>/shipments?batchId=<n>", "resource_type": "SHIP_NOTIFY"}`
//!   to it, unsigned, as ShipStation does. Return labels notify nobody:
//!   ShipStation's SHIP_NOTIFY is for outbound labels only, and v1 has no
//!   event for returns.
//!
//! # Returns: where the sandbox had to choose
//! ShipStation's public APIs expose a return only as its **return label**: a
//! shipment with `isReturnLabel: true` (v1's `GET /shipments`; v2 makes them
//! with `POST /v2/labels` and `is_return_label`, or `POST
//! /v2/labels/{label_id}/return` with an `rma_number`). The rest of a return's
//! life (ShipStation's Returns tab: the RMA record, "Mark As Received",
//! refunds) is in its web app only, and neither API says whether a return was
//! approved or what became of each item. The sandbox's warehouse therefore
//! keeps an RMA's progress on its return label, in fields v1 documents for
//! the seller's own data:
//!
//! | what | where |
//! |---|---|
//! | the RMA's status: `awaiting_return` (label made), `received`, `approved`, `rejected` | `advancedOptions.customField1` |
//! | the RMA number, `RMA-<orderNumber>-<n>` | `advancedOptions.customField2` |
//! | the warehouse the parcel comes back to | `warehouseId` |
//! | per item, why it came back and what became of it (`restock`, `dispose`) | `shipmentItems[].options`: `{"name": "Reason", "value": ...}`, `{"name": "Disposition", "value": ...}` |
//!
//! and, since a return changes after its label is made, every shipment has a
//! `modifyDate` (its `createDate` until it changes) and `GET /shipments` takes
//! `modifyDateStart` and `sortBy=ModifyDate`: v1 lists orders that way, v2
//! shipments (`modified_at_start`); v1's shipment listing has no such filter.
//!
//! # For tests
//! - [`ThreePl::ship`] ships an order in one or several [`Parcel`]s (a split
//!   shipment): one shipment per parcel, and the notification it sent.
//!   [`ThreePl::try_ship`] does the same but answers a [`ShipRefusal`] for an
//!   order `on_hold` or `cancelled`, which the warehouse does not ship
//!   (ShipStation v2 buys no label for a held shipment; `ship` panics there).
//! - [`ThreePl::return_parcel`] is a customer's parcel on its way back: a
//!   return label for a shipped order, with its [`Rma`]; then
//!   [`ThreePl::receive_return`], and [`ThreePl::approve_return`] (with a
//!   [`Disposition`] per SKU) or [`ThreePl::reject_return`]. [`ThreePl::returns`]
//!   lists the RMAs.
//! - [`ThreePl::advance_clock`] moves the warehouse's clock forward (dates,
//!   timestamps and hold releases alike).
//! - [`ThreePl::script`] queues [`Fault`]s that the next API requests (every
//!   route alike) answer instead; [`ThreePl::set_rate_limit`] changes the window.
//! - [`FulfilmentOrder::applied`] counts the POSTs that created or updated an
//!   order; [`ThreePl::attempts`] lists every `createorder` with its arrival
//!   time and answer, to measure retry delays; [`ThreePl::requests`] counts every
//!   authenticated request.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
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
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::{Admission, RateWindow, Server, lock, scripted_status};

/// ShipStation's default: 40 requests per minute per API key.
pub const DEFAULT_RATE_LIMIT: u32 = 40;

/// The window the rate limit counts in.
pub const DEFAULT_RATE_WINDOW: Duration = Duration::from_secs(60);

/// The largest `pageSize` of `GET /orders` and `GET /shipments`.
const MAX_PAGE_SIZE: usize = 500;

/// The time of day ShipStation gives a date-only value: `holdUntilDate`
/// `2026-12-01` reads back as `2026-12-01T00:00:00.0000000`.
const MIDNIGHT: &str = "T00:00:00.0000000";

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
    /// When the warehouse created it.
    #[serde(default)]
    pub create_date: String,
    /// When it last changed (created, updated, held, released, shipped).
    #[serde(default)]
    pub modify_date: String,
    /// Until when an `on_hold` order is held (`2026-12-01T00:00:00.0000000`);
    /// `None` for every other order.
    #[serde(default)]
    pub hold_until_date: Option<String>,
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

/// A shipment as `GET /shipments` lists it: an outbound parcel, or a return
/// label (then the listing adds its [`Rma`]'s fields, see the module).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shipment {
    pub shipment_id: u64,
    pub order_id: u64,
    pub order_key: String,
    pub order_number: String,
    /// `2026-11-23T10:00:00.0000000`, fixed width, so it sorts as text.
    pub create_date: String,
    /// When it last changed: its `createDate`, or the last step of its RMA.
    pub modify_date: String,
    pub ship_date: String,
    pub tracking_number: String,
    pub carrier_code: String,
    /// The batch of [`ThreePl::ship`] that made it; 0 for a return label.
    pub batch_id: u64,
    /// A label for a parcel coming back from the customer.
    pub is_return_label: bool,
    /// The warehouse a return comes back to; `None` for outbound parcels.
    pub warehouse_id: Option<u64>,
    pub voided: bool,
    pub shipment_items: Vec<ShipmentItem>,
}

/// The SHIP_NOTIFY webhook body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipNotify {
    pub resource_url: String,
    pub resource_type: String,
}

/// Why the warehouse does not ship an order ([`ThreePl::try_ship`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShipRefusal {
    /// The order is `on_hold`, until this `holdUntilDate` if it has one.
    OnHold { until: Option<String> },
    /// The order is `cancelled`.
    Cancelled,
}

impl fmt::Display for ShipRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShipRefusal::OnHold { until: Some(until) } => {
                write!(f, "the order is on hold until {until}")
            }
            ShipRefusal::OnHold { until: None } => f.write_str("the order is on hold"),
            ShipRefusal::Cancelled => f.write_str("the order is cancelled"),
        }
    }
}

impl std::error::Error for ShipRefusal {}

/// A customer's parcel on its way back, for [`ThreePl::return_parcel`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnParcel {
    /// The return label's tracking number.
    pub tracking: String,
    pub carrier: String,
    /// The warehouse it comes back to (ShipStation's `warehouseId`).
    pub warehouse_id: u64,
    pub items: Vec<ReturnedItem>,
}

/// What the customer sends back of one order line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnedItem {
    pub sku: String,
    pub quantity: u32,
    /// Why, as the customer said.
    pub reason: Option<String>,
}

/// Where an RMA stands (`advancedOptions.customField1` of its return label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RmaStatus {
    /// The label is made; the parcel has not arrived.
    AwaitingReturn,
    /// The parcel arrived; nobody has decided yet.
    Received,
    Approved,
    Rejected,
}

impl RmaStatus {
    /// The text the listing carries: `awaiting_return`, `received`, `approved`, `rejected`.
    pub fn as_str(self) -> &'static str {
        match self {
            RmaStatus::AwaitingReturn => "awaiting_return",
            RmaStatus::Received => "received",
            RmaStatus::Approved => "approved",
            RmaStatus::Rejected => "rejected",
        }
    }
}

/// What became of a returned item (its `Disposition` item option).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Back on the shelf, sellable.
    Restock,
    /// Written off.
    Dispose,
}

impl Disposition {
    /// `restock` or `dispose`.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Restock => "restock",
            Disposition::Dispose => "dispose",
        }
    }
}

/// A Return Merchandise Authorization: the warehouse's record of one return
/// label and what became of what came back in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rma {
    /// The return label's `shipmentId`.
    pub shipment_id: u64,
    /// `RMA-<orderNumber>-<n>`, `n` counting the order's returns from 1.
    pub rma_number: String,
    pub status: RmaStatus,
    pub lines: Vec<RmaLine>,
}

/// One item of an [`Rma`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RmaLine {
    pub sku: String,
    pub quantity: u32,
    pub reason: Option<String>,
    /// Decided when the return is approved.
    pub disposition: Option<Disposition>,
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
    /// Outbound shipments and return labels, sorted by `(createDate, shipmentId)`.
    shipments: Vec<Shipment>,
    /// The RMA of every return label, by `shipmentId`.
    rmas: BTreeMap<u64, Rma>,
    script: VecDeque<Fault>,
    attempts: Vec<Attempt>,
    webhooks: Vec<String>,
    rate: RateWindow,
    batches: u64,
    /// Authenticated API requests received.
    requests: u64,
    /// How far [`ThreePl::advance_clock`] moved the clock ahead of the system's.
    clock_ahead: Duration,
    /// The last timestamp given out: none is ever earlier, even if the system
    /// clock steps back.
    last_stamp: String,
}

impl Warehouse {
    fn now(&self) -> SystemTime {
        SystemTime::now() + self.clock_ahead
    }

    /// The warehouse's date (UTC).
    fn today(&self) -> NaiveDate {
        date_of(self.now())
    }

    /// A timestamp for a change made now, never earlier than the last one.
    fn stamp(&mut self) -> String {
        let now = timestamp(self.now());
        if now > self.last_stamp {
            self.last_stamp = now;
        }
        self.last_stamp.clone()
    }

    /// Releases every held order whose `holdUntilDate` has come.
    fn release_due(&mut self) {
        let today = self.today();
        let due: Vec<u64> = self
            .orders
            .values()
            .filter(|o| o.order.order_status == "on_hold")
            .filter(|o| {
                o.hold_until_date
                    .as_deref()
                    .and_then(date_part)
                    .is_some_and(|until| until <= today)
            })
            .map(|o| o.order_id)
            .collect();
        for order_id in due {
            let stamp = self.stamp();
            if let Some(order) = self.orders.get_mut(&order_id) {
                release(order, stamp);
                tracing::debug!(
                    sandbox = "3pl",
                    order_id,
                    "Hold date reached; order released."
                );
            }
        }
    }

    fn order_by_key(&self, order_key: &str) -> &FulfilmentOrder {
        self.orders
            .values()
            .find(|o| o.order.order_key == order_key)
            .unwrap_or_else(|| panic!("the 3PL sandbox has no order `{order_key}`"))
    }

    /// The RMA of return label `shipment_id`, and that label, for a change.
    fn rma_mut(&mut self, shipment_id: u64) -> (&mut Rma, &mut Shipment) {
        let rma = self
            .rmas
            .get_mut(&shipment_id)
            .unwrap_or_else(|| panic!("the 3PL sandbox has no return label {shipment_id}"));
        let label = self
            .shipments
            .iter_mut()
            .find(|s| s.shipment_id == shipment_id)
            .expect("every RMA has its return label");
        (rma, label)
    }
}

/// An order back to `awaiting_shipment`, its hold gone.
fn release(order: &mut FulfilmentOrder, stamp: String) {
    "awaiting_shipment".clone_into(&mut order.order.order_status);
    order.hold_until_date = None;
    order.modify_date = stamp;
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
            rmas: BTreeMap::new(),
            script: VecDeque::new(),
            attempts: Vec::new(),
            webhooks: Vec::new(),
            rate: RateWindow::new(DEFAULT_RATE_LIMIT, DEFAULT_RATE_WINDOW),
            batches: 0,
            requests: 0,
            clock_ahead: Duration::ZERO,
            last_stamp: String::new(),
        }));
        let expected: Arc<str> = Arc::from(format!(
            "Basic {}",
            base64(format!("{api_key}:{api_secret}").as_bytes())
        ));
        let router = Router::new()
            .route("/orders", get(list_orders))
            .route("/orders/createorder", post(create_order))
            .route("/orders/holduntil", post(hold_until))
            .route("/orders/restorefromhold", post(restore_from_hold))
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

    /// Every order, sorted by `orderId` (held orders whose date has come
    /// released first).
    pub fn orders(&self) -> Vec<FulfilmentOrder> {
        let mut warehouse = lock(&self.warehouse);
        warehouse.release_due();
        warehouse.orders.values().cloned().collect()
    }

    /// Every shipment, return labels included, sorted by `(createDate, shipmentId)`.
    pub fn shipments(&self) -> Vec<Shipment> {
        lock(&self.warehouse).shipments.clone()
    }

    /// Every RMA, by the `shipmentId` of its return label.
    pub fn returns(&self) -> Vec<Rma> {
        lock(&self.warehouse).rmas.values().cloned().collect()
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

    /// Moves the warehouse's clock `by` ahead: its dates and timestamps, and
    /// so the release of held orders whose date comes meanwhile (released at
    /// once, stamped with the new time).
    pub fn advance_clock(&self, by: Duration) {
        let mut warehouse = lock(&self.warehouse);
        warehouse.clock_ahead += by;
        warehouse.release_due();
    }

    /// The warehouse's date, `2026-11-23` (UTC, its clock advanced).
    pub fn today(&self) -> String {
        lock(&self.warehouse).today().to_string()
    }

    /// Ships the order `order_key` in `parcels`: see [`ThreePl::try_ship`].
    ///
    /// # Panics
    /// If no order has this key, `parcels` is empty, or the warehouse does
    /// not ship the order (on hold, cancelled).
    pub fn ship(&self, order_key: &str, parcels: Vec<Parcel>) -> ShipNotify {
        self.try_ship(order_key, parcels)
            .unwrap_or_else(|refusal| panic!("the 3PL does not ship `{order_key}`: {refusal}"))
    }

    /// Ships the order `order_key` in `parcels`: one shipment per parcel,
    /// created now in one batch, the order's status `shipped`, and a
    /// SHIP_NOTIFY POSTed to every subscribed target. Returns that
    /// notification, or why the warehouse does not ship the order: it is
    /// `on_hold` (until its date) or `cancelled`. A `shipped` order may ship
    /// again (a second label, as in ShipStation).
    ///
    /// # Panics
    /// If no order has this key, or `parcels` is empty.
    pub fn try_ship(
        &self,
        order_key: &str,
        parcels: Vec<Parcel>,
    ) -> Result<ShipNotify, ShipRefusal> {
        assert!(!parcels.is_empty(), "a shipment needs at least one parcel");
        let mut warehouse = lock(&self.warehouse);
        warehouse.release_due();
        let order = warehouse.order_by_key(order_key).clone();
        match order.order.order_status.as_str() {
            "on_hold" => {
                return Err(ShipRefusal::OnHold {
                    until: order.hold_until_date,
                });
            }
            "cancelled" => return Err(ShipRefusal::Cancelled),
            _ => {}
        }
        warehouse.batches += 1;
        let batch_id = warehouse.batches;
        let create_date = warehouse.stamp();
        for parcel in parcels {
            let shipment_id = warehouse.shipments.len() as u64 + 1;
            warehouse.shipments.push(Shipment {
                shipment_id,
                order_id: order.order_id,
                order_key: order.order.order_key.clone(),
                order_number: order.order.order_number.clone(),
                create_date: create_date.clone(),
                modify_date: create_date.clone(),
                ship_date: create_date[..10].to_owned(),
                tracking_number: parcel.tracking,
                carrier_code: parcel.carrier,
                batch_id,
                is_return_label: false,
                warehouse_id: None,
                voided: false,
                shipment_items: parcel.items,
            });
        }
        if let Some(stored) = warehouse.orders.get_mut(&order.order_id) {
            "shipped".clone_into(&mut stored.order.order_status);
            stored.modify_date = create_date;
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
        Ok(notify)
    }

    /// A customer sends back part of the shipped order `order_key`: a return
    /// label (a shipment with `isReturnLabel: true`, created now, its items
    /// what comes back) and its [`Rma`], `awaiting_return`. Notifies nobody.
    /// Returns the label's `shipmentId`, which names the return from then on.
    ///
    /// # Panics
    /// If no order has this key, it has not shipped (ShipStation makes returns
    /// for shipped orders only), or `parcel` has no items.
    pub fn return_parcel(&self, order_key: &str, parcel: ReturnParcel) -> u64 {
        assert!(!parcel.items.is_empty(), "a return needs at least one item");
        let mut warehouse = lock(&self.warehouse);
        let order = warehouse.order_by_key(order_key).clone();
        assert_eq!(
            order.order.order_status, "shipped",
            "only shipped orders can be returned; `{order_key}` is not"
        );
        let earlier = warehouse
            .shipments
            .iter()
            .filter(|s| s.is_return_label && s.order_id == order.order_id)
            .count();
        let shipment_id = warehouse.shipments.len() as u64 + 1;
        let stamp = warehouse.stamp();
        warehouse.shipments.push(Shipment {
            shipment_id,
            order_id: order.order_id,
            order_key: order.order.order_key.clone(),
            order_number: order.order.order_number.clone(),
            create_date: stamp.clone(),
            modify_date: stamp.clone(),
            ship_date: stamp[..10].to_owned(),
            tracking_number: parcel.tracking,
            carrier_code: parcel.carrier,
            batch_id: 0,
            is_return_label: true,
            warehouse_id: Some(parcel.warehouse_id),
            voided: false,
            shipment_items: parcel
                .items
                .iter()
                .map(|item| ShipmentItem {
                    sku: item.sku.clone(),
                    quantity: item.quantity,
                })
                .collect(),
        });
        warehouse.rmas.insert(
            shipment_id,
            Rma {
                shipment_id,
                rma_number: format!("RMA-{}-{}", order.order.order_number, earlier + 1),
                status: RmaStatus::AwaitingReturn,
                lines: parcel
                    .items
                    .into_iter()
                    .map(|item| RmaLine {
                        sku: item.sku,
                        quantity: item.quantity,
                        reason: item.reason,
                        disposition: None,
                    })
                    .collect(),
            },
        );
        shipment_id
    }

    /// The parcel of return label `shipment_id` arrived ("Mark As Received").
    ///
    /// # Panics
    /// If there is no such return, or it is not `awaiting_return`.
    pub fn receive_return(&self, shipment_id: u64) {
        self.step_return(
            shipment_id,
            RmaStatus::AwaitingReturn,
            RmaStatus::Received,
            &[],
        );
    }

    /// Approves a received return: each SKU of `dispositions` restocked or
    /// disposed of (every line of that SKU); lines of other SKUs stay
    /// undecided.
    ///
    /// # Panics
    /// If there is no such return, it is not `received`, or a SKU is not in it.
    pub fn approve_return(&self, shipment_id: u64, dispositions: &[(&str, Disposition)]) {
        self.step_return(
            shipment_id,
            RmaStatus::Received,
            RmaStatus::Approved,
            dispositions,
        );
    }

    /// Rejects a received return (the goods go back to the customer).
    ///
    /// # Panics
    /// If there is no such return, or it is not `received`.
    pub fn reject_return(&self, shipment_id: u64) {
        self.step_return(shipment_id, RmaStatus::Received, RmaStatus::Rejected, &[]);
    }

    fn step_return(
        &self,
        shipment_id: u64,
        from: RmaStatus,
        to: RmaStatus,
        dispositions: &[(&str, Disposition)],
    ) {
        let mut warehouse = lock(&self.warehouse);
        let stamp = warehouse.stamp();
        let (rma, label) = warehouse.rma_mut(shipment_id);
        assert_eq!(
            rma.status,
            from,
            "return {shipment_id} is {}, not {}",
            rma.status.as_str(),
            from.as_str()
        );
        for (sku, disposition) in dispositions {
            let mut found = false;
            for line in rma.lines.iter_mut().filter(|l| l.sku == *sku) {
                line.disposition = Some(*disposition);
                found = true;
            }
            assert!(found, "return {shipment_id} has no item `{sku}`");
        }
        rma.status = to;
        label.modify_date = stamp;
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

/// The UTC date of `time`.
fn date_of(time: SystemTime) -> NaiveDate {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .date_naive()
}

/// The date of a date-only value as ShipStation takes it: `2026-12-01`, or
/// with a time part that is ignored (`2026-12-01T10:00:00`, `2026-12-01 10:00`).
fn date_part(value: &str) -> Option<NaiveDate> {
    let date = value.trim().split(['T', ' ']).next()?;
    NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()
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
        // A hold whose date has come is over before anything reads it.
        w.release_due();
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
    let stamp = w.stamp();
    let order_id = existing
        .as_ref()
        .map_or(w.orders.len() as u64 + 1, |o| o.order_id);
    // The status given is the status; a hold stays only with `on_hold`.
    let hold_until_date = existing
        .as_ref()
        .filter(|_| new.order_status == "on_hold")
        .and_then(|o| o.hold_until_date.clone());
    let stored = FulfilmentOrder {
        order_id,
        order: new,
        applied: existing.as_ref().map_or(0, |o| o.applied) + 1,
        create_date: existing.map_or_else(|| stamp.clone(), |o| o.create_date),
        modify_date: stamp,
        hold_until_date,
    };
    w.attempts.push(Attempt {
        arrived,
        order_key: stored.order.order_key.clone(),
        status: 200,
    });
    w.orders.insert(order_id, stored.clone());
    (StatusCode::OK, Json(stored)).into_response()
}

/// Order statuses a `createorder` cannot change, and `holduntil` cannot hold.
const LOCKED: [&str; 2] = ["shipped", "cancelled"];

/// The query of `GET /orders`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderQuery {
    order_status: Option<String>,
    order_number: Option<String>,
    modify_date_start: Option<String>,
    page: Option<usize>,
    page_size: Option<usize>,
    sort_by: Option<String>,
    sort_dir: Option<String>,
}

/// `GET /orders`: filtered, sorted and paged (see the module).
async fn list_orders(State(warehouse): State<Shared>, Query(query): Query<OrderQuery>) -> Response {
    let page_size = query.page_size.unwrap_or(100).clamp(1, MAX_PAGE_SIZE);
    let page = query.page.unwrap_or(1).max(1);
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
                && query
                    .modify_date_start
                    .as_deref()
                    .is_none_or(|start| o.modify_date.as_str() >= start)
        })
        .collect();
    match query.sort_by.as_deref() {
        Some("ModifyDate") => {
            matching.sort_by(|a, b| (&a.modify_date, a.order_id).cmp(&(&b.modify_date, b.order_id)))
        }
        Some("CreateDate") => {
            matching.sort_by(|a, b| (&a.create_date, a.order_id).cmp(&(&b.create_date, b.order_id)))
        }
        _ => matching.sort_by_key(|o| o.order_id),
    }
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

/// The body of `POST /orders/holduntil`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HoldUntil {
    order_id: u64,
    hold_until_date: String,
}

/// `POST /orders/holduntil`: holds an open order until a later date.
async fn hold_until(State(warehouse): State<Shared>, body: Bytes) -> Response {
    let hold = match serde_json::from_slice::<HoldUntil>(&body) {
        Ok(hold) => hold,
        Err(err) => return message(StatusCode::BAD_REQUEST, format!("malformed request: {err}")),
    };
    let mut w = lock(&warehouse);
    let Some(until) = date_part(&hold.hold_until_date) else {
        return message(
            StatusCode::BAD_REQUEST,
            format!(
                "holdUntilDate `{}` is not a date (YYYY-MM-DD)",
                hold.hold_until_date
            ),
        );
    };
    if until <= w.today() {
        return message(
            StatusCode::BAD_REQUEST,
            format!("holdUntilDate {until} must be later than today"),
        );
    }
    let stamp = w.stamp();
    let Some(order) = w.orders.get_mut(&hold.order_id) else {
        return message(
            StatusCode::BAD_REQUEST,
            format!("order {} not found", hold.order_id),
        );
    };
    if LOCKED.contains(&order.order.order_status.as_str()) {
        return message(
            StatusCode::BAD_REQUEST,
            format!(
                "order {} is {} and cannot be held",
                hold.order_id, order.order.order_status
            ),
        );
    }
    "on_hold".clone_into(&mut order.order.order_status);
    order.hold_until_date = Some(format!("{until}{MIDNIGHT}"));
    order.modify_date = stamp;
    Json(json!({"success": true, "message": "Order held successfully."})).into_response()
}

/// The body of `POST /orders/restorefromhold`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RestoreFromHold {
    order_id: u64,
}

/// `POST /orders/restorefromhold`: releases a held order now.
async fn restore_from_hold(State(warehouse): State<Shared>, body: Bytes) -> Response {
    let restore = match serde_json::from_slice::<RestoreFromHold>(&body) {
        Ok(restore) => restore,
        Err(err) => return message(StatusCode::BAD_REQUEST, format!("malformed request: {err}")),
    };
    let mut w = lock(&warehouse);
    let stamp = w.stamp();
    let Some(order) = w.orders.get_mut(&restore.order_id) else {
        return message(
            StatusCode::BAD_REQUEST,
            format!("order {} not found", restore.order_id),
        );
    };
    if order.order.order_status != "on_hold" {
        return message(
            StatusCode::BAD_REQUEST,
            format!(
                "order {} is {}, not on_hold",
                restore.order_id, order.order.order_status
            ),
        );
    }
    release(order, stamp);
    Json(json!({"success": true, "message": "The requested order has been restored"}))
        .into_response()
}

/// The query of `GET /shipments`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShipmentQuery {
    create_date_start: Option<String>,
    modify_date_start: Option<String>,
    batch_id: Option<u64>,
    include_shipment_items: Option<bool>,
    sort_by: Option<String>,
    page: Option<usize>,
    page_size: Option<usize>,
}

/// `GET /shipments`: filtered, sorted and paged (see the module).
async fn list_shipments(
    State(warehouse): State<Shared>,
    Query(query): Query<ShipmentQuery>,
) -> Response {
    let page_size = query.page_size.unwrap_or(100).clamp(1, MAX_PAGE_SIZE);
    let page = query.page.unwrap_or(1).max(1);
    let with_items = query.include_shipment_items == Some(true);
    let w = lock(&warehouse);
    let mut matching: Vec<&Shipment> = w
        .shipments
        .iter()
        .filter(|s| {
            query
                .create_date_start
                .as_deref()
                .is_none_or(|start| s.create_date.as_str() >= start)
                && query
                    .modify_date_start
                    .as_deref()
                    .is_none_or(|start| s.modify_date.as_str() >= start)
        })
        .filter(|s| query.batch_id.is_none_or(|batch| s.batch_id == batch))
        .collect();
    if query.sort_by.as_deref() == Some("ModifyDate") {
        matching
            .sort_by(|a, b| (&a.modify_date, a.shipment_id).cmp(&(&b.modify_date, b.shipment_id)));
    } else {
        matching
            .sort_by(|a, b| (&a.create_date, a.shipment_id).cmp(&(&b.create_date, b.shipment_id)));
    }
    let total = matching.len();
    let shipments: Vec<serde_json::Value> = matching
        .into_iter()
        .skip((page - 1) * page_size)
        .take(page_size)
        .map(|s| listed_shipment(s, w.rmas.get(&s.shipment_id), with_items))
        .collect();
    Json(json!({
        "shipments": shipments,
        "total": total,
        "page": page,
        "pages": total.div_ceil(page_size),
    }))
    .into_response()
}

/// A shipment as the listing answers it: its items only when asked for, and a
/// return label's RMA in its `advancedOptions` and item options.
fn listed_shipment(shipment: &Shipment, rma: Option<&Rma>, with_items: bool) -> serde_json::Value {
    let mut listed = serde_json::to_value(shipment).expect("a shipment serializes");
    listed["advancedOptions"] = match rma {
        Some(rma) => json!({
            "warehouseId": shipment.warehouse_id,
            "customField1": rma.status.as_str(),
            "customField2": rma.rma_number,
            "customField3": null,
        }),
        None => json!({
            "warehouseId": shipment.warehouse_id,
            "customField1": null,
            "customField2": null,
            "customField3": null,
        }),
    };
    listed["shipmentItems"] = match (with_items, rma) {
        (false, _) => serde_json::Value::Null,
        (true, None) => json!(shipment.shipment_items),
        (true, Some(rma)) => rma
            .lines
            .iter()
            .map(|line| {
                let mut options = Vec::new();
                if let Some(reason) = &line.reason {
                    options.push(json!({"name": "Reason", "value": reason}));
                }
                if let Some(disposition) = line.disposition {
                    options.push(json!({"name": "Disposition", "value": disposition.as_str()}));
                }
                json!({"sku": line.sku, "quantity": line.quantity, "options": options})
            })
            .collect(),
    };
    listed
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

    const DAY: Duration = Duration::from_secs(24 * 60 * 60);

    /// `n` days after the sandbox's today, as `2026-11-23`.
    fn in_days(threepl: &ThreePl, n: i64) -> String {
        let today = NaiveDate::parse_from_str(&threepl.today(), "%Y-%m-%d").unwrap();
        (today + chrono::TimeDelta::days(n)).to_string()
    }

    async fn create(threepl: &ThreePl, key: &str) -> u64 {
        let (status, created) = call(
            threepl,
            reqwest::Method::POST,
            "/orders/createorder",
            Some(order(key, "awaiting_shipment")),
        )
        .await;
        assert_eq!(status, 200, "{created}");
        created["orderId"].as_u64().unwrap()
    }

    async fn hold(threepl: &ThreePl, order_id: u64, date: &str) -> (u16, serde_json::Value) {
        call(
            threepl,
            reqwest::Method::POST,
            "/orders/holduntil",
            Some(json!({"orderId": order_id, "holdUntilDate": date})),
        )
        .await
    }

    async fn restore(threepl: &ThreePl, order_id: u64) -> (u16, serde_json::Value) {
        call(
            threepl,
            reqwest::Method::POST,
            "/orders/restorefromhold",
            Some(json!({"orderId": order_id})),
        )
        .await
    }

    fn parcel(tracking: &str) -> Parcel {
        Parcel {
            tracking: tracking.into(),
            carrier: "ups".into(),
            items: vec![ShipmentItem {
                sku: "TEE".into(),
                quantity: 2,
            }],
        }
    }

    #[tokio::test]
    async fn holduntil_holds_an_open_order_and_restorefromhold_releases_it() {
        let threepl = ThreePl::start("key", "secret").await.unwrap();
        let id = create(&threepl, "shop:1").await;
        let created = threepl.orders()[0].modify_date.clone();
        let until = in_days(&threepl, 7);

        let (status, answer) = hold(&threepl, id, &format!("{until}T15:30:00")).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["success"], true);
        let (_, listed) = call(
            &threepl,
            reqwest::Method::GET,
            "/orders?orderStatus=on_hold",
            None,
        )
        .await;
        assert_eq!(listed["total"], 1);
        let held = &listed["orders"][0];
        assert_eq!(held["holdUntilDate"], format!("{until}T00:00:00.0000000"));
        assert!(held["modifyDate"].as_str().unwrap() >= created.as_str());
        assert_eq!(
            threepl.try_ship("shop:1", vec![parcel("A")]),
            Err(ShipRefusal::OnHold {
                until: Some(format!("{until}T00:00:00.0000000"))
            }),
            "a held order does not ship"
        );
        assert!(threepl.shipments().is_empty());

        // Dates that are not later than today, unknown orders: 400, nothing held.
        for date in [threepl.today(), in_days(&threepl, -1), "soon".to_owned()] {
            let (status, answer) = hold(&threepl, id, &date).await;
            assert_eq!(status, 400, "{date}: {answer}");
            assert!(answer["message"].is_string());
        }
        assert_eq!(hold(&threepl, 99, &until).await.0, 400);

        let (status, answer) = restore(&threepl, id).await;
        assert_eq!((status, answer["success"].as_bool()), (200, Some(true)));
        let order = &threepl.orders()[0];
        assert_eq!(order.order.order_status, "awaiting_shipment");
        assert_eq!(order.hold_until_date, None);
        assert_eq!(restore(&threepl, id).await.0, 400, "not on hold any more");

        threepl.ship("shop:1", vec![parcel("A")]);
        assert_eq!(
            hold(&threepl, id, &until).await.0,
            400,
            "a shipped order cannot be held"
        );
        threepl.stop().await;
    }

    #[tokio::test]
    async fn a_held_order_is_released_when_its_date_comes_and_lists_as_modified() {
        let threepl = ThreePl::start("key", "secret").await.unwrap();
        let id = create(&threepl, "shop:1").await;
        create(&threepl, "shop:2").await;
        assert_eq!(hold(&threepl, id, &in_days(&threepl, 2)).await.0, 200);
        let held_at = threepl.orders()[0].modify_date.clone();

        threepl.advance_clock(DAY);
        assert_eq!(threepl.orders()[0].order.order_status, "on_hold");
        let get = reqwest::Method::GET;
        let (_, since) = call(
            &threepl,
            get.clone(),
            &format!("/orders?modifyDateStart={held_at}&sortBy=ModifyDate&sortDir=ASC"),
            None,
        )
        .await;
        assert_eq!(since["total"], 1, "modifyDateStart is inclusive: {since}");
        assert_eq!(since["orders"][0]["orderId"], id);

        threepl.advance_clock(DAY);
        let (_, listed) = call(&threepl, get.clone(), "/orders?orderStatus=on_hold", None).await;
        assert_eq!(listed["total"], 0, "released on its date: {listed}");
        let released = threepl.orders()[0].clone();
        assert_eq!(released.order.order_status, "awaiting_shipment");
        assert_eq!(released.hold_until_date, None);
        assert!(released.modify_date > held_at);
        // Only the release is new since the hold; the other order is older.
        let (_, since) = call(
            &threepl,
            get,
            &format!(
                "/orders?modifyDateStart={}&sortBy=ModifyDate",
                released.modify_date
            ),
            None,
        )
        .await;
        assert_eq!(since["total"], 1);
        assert!(threepl.try_ship("shop:1", vec![parcel("A")]).is_ok());
        threepl.stop().await;
    }

    #[tokio::test]
    async fn faults_answer_the_hold_routes_too_and_change_nothing() {
        let threepl = ThreePl::start("key", "secret").await.unwrap();
        let id = create(&threepl, "shop:1").await;
        threepl.script([Fault::Status(503), Fault::RateLimited { reset_secs: 9 }]);
        let until = in_days(&threepl, 3);
        assert_eq!(hold(&threepl, id, &until).await.0, 503);
        assert_eq!(hold(&threepl, id, &until).await.0, 429);
        assert_eq!(threepl.orders()[0].order.order_status, "awaiting_shipment");
        assert_eq!(hold(&threepl, id, &until).await.0, 200);
        threepl.stop().await;
    }

    #[tokio::test]
    async fn a_returned_parcel_is_a_return_label_whose_rma_lists_by_modify_date() {
        let threepl = ThreePl::start("key", "secret").await.unwrap();
        create(&threepl, "shop:1").await;
        threepl.ship("shop:1", vec![parcel("OUT-1")]);
        let label = threepl.return_parcel(
            "shop:1",
            ReturnParcel {
                tracking: "RET-1".into(),
                carrier: "ups".into(),
                warehouse_id: 3,
                items: vec![
                    ReturnedItem {
                        sku: "TEE".into(),
                        quantity: 1,
                        reason: Some("too small".into()),
                    },
                    ReturnedItem {
                        sku: "MUG".into(),
                        quantity: 1,
                        reason: None,
                    },
                ],
            },
        );
        assert_eq!(label, 2, "return labels are shipments");
        let get = reqwest::Method::GET;
        let (_, listed) = call(&threepl, get.clone(), "/shipments", None).await;
        assert_eq!(listed["total"], 2);
        let ret = &listed["shipments"][1];
        assert_eq!(ret["isReturnLabel"], true);
        assert_eq!(ret["warehouseId"], 3);
        assert_eq!(ret["orderKey"], "shop:1");
        assert_eq!(ret["advancedOptions"]["customField1"], "awaiting_return");
        assert_eq!(ret["advancedOptions"]["customField2"], "RMA-shop:1-1");
        assert_eq!(
            ret["shipmentItems"],
            serde_json::Value::Null,
            "not asked for"
        );
        assert_eq!(listed["shipments"][0]["isReturnLabel"], false);

        let created = threepl.shipments()[1].modify_date.clone();
        tokio::time::sleep(Duration::from_millis(5)).await;
        threepl.receive_return(label);
        threepl.approve_return(
            label,
            &[("TEE", Disposition::Restock), ("MUG", Disposition::Dispose)],
        );
        let modified = threepl.shipments()[1].modify_date.clone();
        assert!(modified > created);
        assert_eq!(threepl.shipments()[1].create_date, created);
        let (_, since) = call(
            &threepl,
            get,
            &format!(
                "/shipments?modifyDateStart={modified}&sortBy=ModifyDate&includeShipmentItems=true"
            ),
            None,
        )
        .await;
        assert_eq!(since["total"], 1, "only the changed return: {since}");
        let ret = &since["shipments"][0];
        assert_eq!(ret["advancedOptions"]["customField1"], "approved");
        assert_eq!(
            ret["shipmentItems"],
            json!([
                {"sku": "TEE", "quantity": 1, "options": [
                    {"name": "Reason", "value": "too small"},
                    {"name": "Disposition", "value": "restock"}]},
                {"sku": "MUG", "quantity": 1, "options": [
                    {"name": "Disposition", "value": "dispose"}]}
            ])
        );
        assert_eq!(threepl.returns()[0].status, RmaStatus::Approved);
        threepl.stop().await;
    }

    #[tokio::test]
    #[should_panic(expected = "is awaiting_return, not received")]
    async fn a_return_is_decided_only_once_received() {
        let threepl = ThreePl::start("key", "secret").await.unwrap();
        create(&threepl, "shop:1").await;
        threepl.ship("shop:1", vec![parcel("OUT-1")]);
        let label = threepl.return_parcel(
            "shop:1",
            ReturnParcel {
                tracking: "RET-1".into(),
                carrier: "ups".into(),
                warehouse_id: 1,
                items: vec![ReturnedItem {
                    sku: "TEE".into(),
                    quantity: 1,
                    reason: None,
                }],
            },
        );
        threepl.reject_return(label);
    }

    #[test]
    fn date_only_values_ignore_their_time_part() {
        let date = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        for value in [
            "2026-12-01",
            "2026-12-01T15:00:00",
            "2026-12-01 15:00",
            " 2026-12-01",
        ] {
            assert_eq!(date_part(value), Some(date), "{value}");
        }
        assert_eq!(date_part("12/01/2026"), None);
    }
}
