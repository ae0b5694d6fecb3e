//! The ledger sandbox: an ERP that takes sales orders.
//!
//! # API
//! Every request needs `Authorization: Bearer <token>`; without it the answer is
//! `401 {"error": "..."}`. Errors always have that shape.
//!
//! - `GET /api/health` answers `200 {"ok": true}`.
//! - `POST /api/sales-orders` with an optional `Idempotency-Key` header and a JSON
//!   body (see [`NewSalesOrder`]; unknown fields are refused):
//!
//!   ```json
//!   {"external_ref": "shop:1001", "customer_email": "ada@example.com",
//!    "customer_name": "Ada Lovelace", "currency": "EUR",
//!    "lines": [{"sku": "TEE-BLK-M", "quantity": 2, "unit_price_cents": 1990}],
//!    "total_cents": 3980, "status": "open"}
//!   ```
//!
//!   answers, in this order of precedence:
//!   - `200 {"id": "SO-000001"}` if the `Idempotency-Key` was accepted before:
//!     the first answer's id, and nothing changes (the body is not looked at);
//!   - `422 {"error": "..."}` if the body is malformed JSON, has an unknown field
//!     or status, no lines, a line with quantity 0, or a `total_cents` that is not
//!     the sum of `quantity * unit_price_cents`;
//!   - `200 {"id": ...}` if a sales order with this `external_ref` exists: it is
//!     updated in place and keeps its id;
//!   - `201 {"id": ...}` otherwise: a new sales order, ids `SO-000001`, `SO-000002`...
//! - `GET /api/sales-orders` answers `200 {"sales_orders": [SalesOrder, ...]}`
//!   sorted by id.
//! - `POST /api/credit-notes` with an optional `Idempotency-Key` and a JSON body
//!   (see [`NewCreditNote`]: a refund of a sales order's lines, shipping and an
//!   adjustment, in minor units) books a credit note against the sales order
//!   whose `external_ref` is the body's `order_ref`. It answers `200 {"id":
//!   "CN-000001"}` for a replayed key or an `external_ref` booked before
//!   (updated in place), `201` for a new one; `409` when no sales order has
//!   that `order_ref` yet (the order may still be on its way: try again);
//!   `422` when the currency differs from the order's, a line's SKU is not on
//!   the order, the order's credit notes together would credit more units of
//!   a SKU than were ordered, or `total_cents` is not the lines' `total_cents`
//!   plus `shipping_cents` plus `adjustment_cents`.
//! - `GET /api/credit-notes` answers `200 {"credit_notes": [CreditNote, ...]}`
//!   sorted by id.
//!
//! # For tests
//! - [`Ledger::script`] queues [`Fault`]s: each POST takes the next one, if any.
//!   A fault answers instead of the API above, changes nothing and records no
//!   key; only [`Fault::Slow`] delays the answer and then applies the POST as usual.
//!   [`Ledger::fail_next`] queues the same status several times.
//! - [`SalesOrder::applied`] counts the POSTs that created or updated a sales
//!   order, so a test can prove that nothing was applied twice.
//! - [`Ledger::remove_sales_order`] and [`Ledger::edit_sales_order`] change the
//!   books behind Tenon's back, as an ERP user would.
//! - [`Ledger::attempts`] lists every POST with its arrival time and answer, to
//!   measure retry delays.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Server, error, health, lock};

/// The header that makes a POST safe to repeat.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The body of `POST /api/sales-orders`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSalesOrder {
    /// The order's identity in the system it came from (`"shop:1001"`); a second
    /// POST with the same value updates that sales order.
    pub external_ref: String,
    pub customer_email: String,
    pub customer_name: String,
    /// ISO 4217 code (`"EUR"`).
    pub currency: String,
    /// At least one line.
    pub lines: Vec<SalesOrderLine>,
    /// Must equal the sum of `quantity * unit_price_cents` over the lines.
    pub total_cents: u64,
    pub status: SalesOrderStatus,
    /// Where to deliver: `{name, street, city, postal_code, country}`, kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_to: Option<serde_json::Value>,
}

/// One line of a sales order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalesOrderLine {
    pub sku: String,
    /// At least 1.
    pub quantity: u32,
    pub unit_price_cents: u64,
}

/// Whether the ERP should fulfil a sales order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SalesOrderStatus {
    Open,
    Cancelled,
}

/// A sales order as the ledger stores and lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesOrder {
    /// The ledger's id (`"SO-000001"`), fixed at creation.
    pub id: String,
    pub external_ref: String,
    pub customer_email: String,
    pub customer_name: String,
    pub currency: String,
    pub lines: Vec<SalesOrderLine>,
    pub total_cents: u64,
    pub status: SalesOrderStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_to: Option<serde_json::Value>,
    /// 1 at creation, plus one for every POST (or [`Ledger::edit_sales_order`])
    /// that changed it.
    pub revision: u64,
    /// How many POSTs created or updated it, counting a POST with its
    /// `external_ref` that changed nothing, but not a replayed `Idempotency-Key`.
    /// A record delivered once and replayed any number of times stays at 1.
    pub applied: u64,
}

/// The body of `POST /api/credit-notes`: the canonical `credit-memos` shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCreditNote {
    /// The refund's identity where it was made (`"shop:refund:R-000001"`).
    pub external_ref: String,
    /// The `external_ref` of the sales order it credits.
    pub order_ref: String,
    pub currency: String,
    pub lines: Vec<CreditNoteLine>,
    pub shipping_cents: i64,
    pub adjustment_cents: i64,
    pub total_cents: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One credited line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditNoteLine {
    pub sku: String,
    pub quantity: u32,
    pub unit_price_cents: i64,
    pub total_cents: i64,
}

/// A credit note as the ledger stores and lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditNote {
    /// The ledger's id (`"CN-000001"`), fixed at creation.
    pub id: String,
    /// The id of the sales order it credits.
    pub sales_order: String,
    #[serde(flatten)]
    pub note: NewCreditNote,
    /// How many POSTs created or updated it (replayed keys not counted).
    pub applied: u64,
}

/// What a scripted POST answers instead of applying the sales order.
///
/// None of them changes the books or records the `Idempotency-Key`, except
/// [`Fault::Slow`], which only delays a POST that is then applied as usual.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answers this status with `{"error": "injected failure"}` (and
    /// `Retry-After: 1` when it is `429`, as real vendors do).
    Status(u16),
    /// Answers `429` with `Retry-After: <retry_after_secs>`.
    RateLimited { retry_after_secs: u64 },
    /// Answers `200` with a JSON content type and a truncated body that does not
    /// parse, like a response cut by a proxy: the client cannot know the id.
    Malformed,
    /// Waits `ms` milliseconds, then processes the POST normally, even if the
    /// client gave up waiting meanwhile (a client timeout shorter than `ms`).
    Slow { ms: u64 },
    /// Answers `422 {"error": "rejected by script"}`.
    Reject,
}

/// The body [`Fault::Malformed`] answers.
const MALFORMED_BODY: &str = r#"{"id": "SO-0"#;

/// One POST as the ledger saw it; see [`Ledger::attempts`].
#[derive(Debug, Clone)]
struct Attempt {
    arrived: Instant,
    external_ref: String,
    status: u16,
}

/// A running ledger sandbox; dropping it stops the server too.
#[derive(Debug)]
pub struct Ledger {
    server: Server,
    books: Arc<Mutex<Books>>,
}

impl Ledger {
    /// Starts an empty ledger on `127.0.0.1` (port picked by the system) that
    /// accepts `token`.
    pub async fn start(token: &str) -> anyhow::Result<Ledger> {
        Self::start_on(super::ANY_LOOPBACK_PORT, token).await
    }

    /// As [`Ledger::start`], on the address `addr`.
    pub async fn start_on(addr: SocketAddr, token: &str) -> anyhow::Result<Ledger> {
        let books = Arc::new(Mutex::new(Books::default()));
        let routes = Router::new()
            .route("/api/health", get(health))
            .route(
                "/api/sales-orders",
                get(list_sales_orders).post(create_sales_order),
            )
            .route(
                "/api/credit-notes",
                get(list_credit_notes).post(create_credit_note),
            )
            .with_state(Arc::clone(&books));
        let server = Server::start("ledger", addr, token, routes).await?;
        Ok(Ledger { server, books })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// Every sales order, sorted by id.
    pub fn sales_orders(&self) -> Vec<SalesOrder> {
        lock(&self.books).sales_orders.values().cloned().collect()
    }

    /// Every credit note, sorted by id.
    pub fn credit_notes(&self) -> Vec<CreditNote> {
        lock(&self.books).credit_notes.values().cloned().collect()
    }

    /// How many authenticated `POST /api/sales-orders` arrived, whatever their
    /// answer: with [`Ledger::sales_orders`] it shows whether replays were absorbed.
    pub fn requests(&self) -> u64 {
        lock(&self.books).requests
    }

    /// Queues `count` times [`Fault::Status`]`(status)`: the next POSTs answer
    /// `status` (with `Retry-After: 1` when it is `429`) without applying anything.
    /// Reads are not affected.
    ///
    /// # Panics
    /// If `status` is not an HTTP status code (100 to 999).
    pub fn fail_next(&self, count: usize, status: u16) {
        self.script(std::iter::repeat_n(Fault::Status(status), count));
    }

    /// Appends `faults` to the script: each following POST takes the next fault,
    /// in order, and POSTs after the last one are answered normally. Reads are not
    /// affected.
    ///
    /// # Panics
    /// If a [`Fault::Status`] is not an HTTP status code (100 to 999).
    pub fn script(&self, faults: impl IntoIterator<Item = Fault>) {
        let faults: Vec<Fault> = faults.into_iter().collect();
        for fault in &faults {
            if let Fault::Status(status) = fault {
                assert!(
                    StatusCode::from_u16(*status).is_ok(),
                    "Fault::Status needs an HTTP status from 100 to 999, not {status}"
                );
            }
        }
        lock(&self.books).script.extend(faults);
    }

    /// Makes every `every`-th POST from now on (one in `every`, by arrival)
    /// [`Fault::Slow`] by `ms` when the script has no fault for it: a
    /// destination that is slow now and then, not down.
    ///
    /// # Panics
    /// If `every` is 0.
    pub fn slow_every(&self, every: u64, ms: u64) {
        assert!(every > 0, "slow_every needs a share of 1 in 1 or more");
        let mut books = lock(&self.books);
        books.slow_every = Some((every, ms, books.requests));
    }

    /// Every POST so far, in order of arrival: when it arrived, the
    /// `external_ref` of its body (`"?"` if the body has none) and the status
    /// it was answered. Unauthenticated requests never reach the ledger.
    pub fn attempts(&self) -> Vec<(Instant, String, u16)> {
        let mut attempts = lock(&self.books).attempts.clone();
        // Pushed when answered; a slow POST is answered after later arrivals.
        attempts.sort_by_key(|attempt| attempt.arrived);
        attempts
            .into_iter()
            .map(|attempt| (attempt.arrived, attempt.external_ref, attempt.status))
            .collect()
    }

    /// Deletes sales order `id` as an ERP user would, behind Tenon's back; false
    /// if there is none. Its `external_ref` and the idempotency keys that answered
    /// it are forgotten, so delivering the same record again creates a new sales
    /// order with a new id.
    pub fn remove_sales_order(&self, id: &str) -> bool {
        let mut books = lock(&self.books);
        let Some(removed) = books.sales_orders.remove(id) else {
            return false;
        };
        books.by_ref.remove(&removed.external_ref);
        books.keys.retain(|_, answered| answered != id);
        true
    }

    /// Changes sales order `id` with `f`, as an ERP user would, behind Tenon's
    /// back. Its id stays (a change of `f` to it is undone); a change of
    /// `external_ref` moves the reference; `revision` grows by one if anything
    /// changed, and `applied` is left as it is.
    ///
    /// # Panics
    /// If there is no sales order `id`, or if `f` gives it the `external_ref` of
    /// another sales order.
    pub fn edit_sales_order(&self, id: &str, f: impl FnOnce(&mut SalesOrder)) {
        let mut books = lock(&self.books);
        let books = &mut *books;
        let order = books
            .sales_orders
            .get_mut(id)
            .unwrap_or_else(|| panic!("the ledger has no sales order `{id}`"));
        let before = order.clone();
        f(order);
        order.id = before.id.clone();
        if *order == before {
            return;
        }
        order.revision = before.revision + 1;
        if order.external_ref != before.external_ref {
            assert!(
                !books.by_ref.contains_key(&order.external_ref),
                "external_ref `{}` belongs to another sales order",
                order.external_ref
            );
            books.by_ref.remove(&before.external_ref);
            books
                .by_ref
                .insert(order.external_ref.clone(), before.id.clone());
        }
    }

    /// Stops the server, letting open requests finish.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// The ledger's state behind the server.
#[derive(Debug, Default)]
struct Books {
    /// By id; ids are zero-padded, so this is also id order.
    sales_orders: BTreeMap<String, SalesOrder>,
    /// `external_ref` to id.
    by_ref: HashMap<String, String>,
    /// `Idempotency-Key` to the id it answered.
    keys: HashMap<String, String>,
    /// Sales orders ever created: the number of the next id, less one. Not the
    /// length of `sales_orders`, which shrinks when a test removes one.
    created: u64,
    requests: u64,
    /// Faults the next POSTs answer, first first.
    script: VecDeque<Fault>,
    /// From [`Ledger::slow_every`]: one in `.0` POSTs after the `.2`-th is
    /// slow by `.1` ms.
    slow_every: Option<(u64, u64, u64)>,
    attempts: Vec<Attempt>,
    /// By id, zero-padded.
    credit_notes: BTreeMap<String, CreditNote>,
    /// A credit note's `Idempotency-Key` to the id it answered.
    credit_keys: HashMap<String, String>,
}

/// `GET /api/sales-orders`.
async fn list_sales_orders(State(books): State<Arc<Mutex<Books>>>) -> Response {
    let books = lock(&books);
    let sales_orders: Vec<&SalesOrder> = books.sales_orders.values().collect();
    Json(json!({ "sales_orders": sales_orders })).into_response()
}

/// `POST /api/sales-orders`, on a task of its own: a POST whose client gave up
/// (timed out during a [`Fault::Slow`]) is still applied, as by a real server.
async fn create_sales_order(
    State(books): State<Arc<Mutex<Books>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    tokio::spawn(answer_post(books, headers, body))
        .await
        .unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "the ledger failed"))
}

/// One POST: the scripted fault, if any, then [`apply`]; recorded in `attempts`.
async fn answer_post(books: Arc<Mutex<Books>>, headers: HeaderMap, body: Bytes) -> Response {
    let arrived = Instant::now();
    let fault = {
        let mut books = lock(&books);
        books.requests += 1;
        let every = books.slow_every.and_then(|(every, ms, from)| {
            (books.requests - from)
                .is_multiple_of(every)
                .then_some(Fault::Slow { ms })
        });
        books.script.pop_front().or(every)
    };
    if let Some(Fault::Slow { ms }) = fault {
        // Not under the lock: other POSTs go on meanwhile.
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let response = match fault {
        None | Some(Fault::Slow { .. }) => apply(&mut lock(&books), &headers, &body),
        Some(fault) => fault_response(fault),
    };
    let external_ref = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|body| body.get("external_ref")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned());
    lock(&books).attempts.push(Attempt {
        arrived,
        external_ref,
        status: response.status().as_u16(),
    });
    response
}

/// The answer of a fault other than [`Fault::Slow`].
fn fault_response(fault: Fault) -> Response {
    let retry_after = |response: &mut Response, secs: u64| {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    };
    match fault {
        Fault::Status(status) => {
            let status = StatusCode::from_u16(status).expect("checked by Ledger::script");
            let mut response = error(status, "injected failure");
            if status == StatusCode::TOO_MANY_REQUESTS {
                retry_after(&mut response, 1);
            }
            response
        }
        Fault::RateLimited { retry_after_secs } => {
            let mut response = error(StatusCode::TOO_MANY_REQUESTS, "rate limited by script");
            retry_after(&mut response, retry_after_secs);
            response
        }
        Fault::Malformed => (
            StatusCode::OK,
            [(CONTENT_TYPE, "application/json")],
            MALFORMED_BODY,
        )
            .into_response(),
        Fault::Reject => error(StatusCode::UNPROCESSABLE_ENTITY, "rejected by script"),
        Fault::Slow { .. } => unreachable!("a slow POST is applied, not answered by its fault"),
    }
}

/// Applies one POST to the books: the API of the module documentation.
fn apply(books: &mut Books, headers: &HeaderMap, body: &[u8]) -> Response {
    let key = match idempotency_key(headers) {
        Ok(key) => key,
        Err(message) => return error(StatusCode::UNPROCESSABLE_ENTITY, message),
    };
    if let Some(id) = key.as_ref().and_then(|key| books.keys.get(key)) {
        return created(StatusCode::OK, id);
    }
    let new = match serde_json::from_slice::<NewSalesOrder>(body) {
        Ok(new) => new,
        Err(err) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("malformed sales order: {err}"),
            );
        }
    };
    if let Err(message) = validate(&new) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, message);
    }

    let (status, id) = match books.by_ref.get(&new.external_ref).cloned() {
        Some(id) => {
            let existing = books
                .sales_orders
                .get_mut(&id)
                .expect("every external_ref points at a sales order");
            let updated = sales_order(id.clone(), new, existing.revision, existing.applied);
            let changed = updated != *existing;
            *existing = SalesOrder {
                revision: existing.revision + u64::from(changed),
                applied: existing.applied + 1,
                ..updated
            };
            (StatusCode::OK, id)
        }
        None => {
            books.created += 1;
            let id = format!("SO-{:06}", books.created);
            books.by_ref.insert(new.external_ref.clone(), id.clone());
            books
                .sales_orders
                .insert(id.clone(), sales_order(id.clone(), new, 1, 1));
            (StatusCode::CREATED, id)
        }
    };
    if let Some(key) = key {
        books.keys.insert(key, id.clone());
    }
    created(status, &id)
}

/// `GET /api/credit-notes`.
async fn list_credit_notes(State(books): State<Arc<Mutex<Books>>>) -> Response {
    let books = lock(&books);
    let notes: Vec<&CreditNote> = books.credit_notes.values().collect();
    Json(json!({ "credit_notes": notes })).into_response()
}

/// `POST /api/credit-notes`: the API of the module documentation.
async fn create_credit_note(
    State(books): State<Arc<Mutex<Books>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut books = lock(&books);
    let key = match idempotency_key(&headers) {
        Ok(key) => key,
        Err(message) => return error(StatusCode::UNPROCESSABLE_ENTITY, message),
    };
    if let Some(id) = key.as_ref().and_then(|key| books.credit_keys.get(key)) {
        return created(StatusCode::OK, id);
    }
    let new = match serde_json::from_slice::<NewCreditNote>(&body) {
        Ok(new) => new,
        Err(err) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("malformed credit note: {err}"),
            );
        }
    };
    let Some(order) = books
        .by_ref
        .get(&new.order_ref)
        .and_then(|id| books.sales_orders.get(id))
    else {
        return error(
            StatusCode::CONFLICT,
            format!("no sales order `{}` to credit yet", new.order_ref),
        );
    };
    if let Err(message) = validate_credit(&new, order, books.credit_notes.values()) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, message);
    }
    let sales_order = order.id.clone();
    let existing = books
        .credit_notes
        .values()
        .find(|note| note.note.external_ref == new.external_ref)
        .map(|note| (note.id.clone(), note.applied));
    let (status, id, applied) = match existing {
        Some((id, applied)) => (StatusCode::OK, id, applied + 1),
        None => (
            StatusCode::CREATED,
            format!("CN-{:06}", books.credit_notes.len() + 1),
            1,
        ),
    };
    books.credit_notes.insert(
        id.clone(),
        CreditNote {
            id: id.clone(),
            sales_order,
            note: new,
            applied,
        },
    );
    if let Some(key) = key {
        books.credit_keys.insert(key, id.clone());
    }
    created(status, &id)
}

/// Checks a credit note against the sales order it credits and the order's
/// other credit notes (`notes`: every credit note; a new version of the same
/// `external_ref` replaces its old one).
fn validate_credit<'a>(
    new: &NewCreditNote,
    order: &SalesOrder,
    notes: impl Iterator<Item = &'a CreditNote>,
) -> Result<(), String> {
    if new.external_ref.trim().is_empty() {
        return Err("external_ref must not be empty".to_owned());
    }
    if new.currency != order.currency {
        return Err(format!(
            "currency `{}` is not the currency of sales order {} ({})",
            new.currency, order.id, order.currency
        ));
    }
    let others: Vec<&CreditNote> = notes
        .filter(|note| note.sales_order == order.id && note.note.external_ref != new.external_ref)
        .collect();
    for line in &new.lines {
        let ordered: u32 = order
            .lines
            .iter()
            .filter(|l| l.sku == line.sku)
            .map(|l| l.quantity)
            .sum();
        if ordered == 0 {
            return Err(format!(
                "sku `{}` is not on sales order {}",
                line.sku, order.id
            ));
        }
        let credited: u32 = others
            .iter()
            .flat_map(|note| &note.note.lines)
            .chain(new.lines.iter())
            .filter(|l| l.sku == line.sku)
            .map(|l| l.quantity)
            .sum();
        if credited > ordered {
            return Err(format!(
                "sku `{}`: {credited} credited in all, {ordered} ordered on sales order {}",
                line.sku, order.id
            ));
        }
    }
    let sum = new.lines.iter().map(|l| l.total_cents).sum::<i64>()
        + new.shipping_cents
        + new.adjustment_cents;
    if sum != new.total_cents {
        return Err(format!(
            "total_cents is {} but lines, shipping and adjustment sum to {sum}",
            new.total_cents
        ));
    }
    Ok(())
}

/// The request's `Idempotency-Key`, if any; the message of the `422` when it
/// is blank or not visible ASCII.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, &'static str> {
    match headers.get(IDEMPOTENCY_KEY).map(|value| value.to_str()) {
        None => Ok(None),
        Some(Ok(key)) if !key.trim().is_empty() => Ok(Some(key.to_owned())),
        Some(_) => Err("Idempotency-Key must be non-empty visible ASCII"),
    }
}

fn sales_order(id: String, new: NewSalesOrder, revision: u64, applied: u64) -> SalesOrder {
    SalesOrder {
        id,
        external_ref: new.external_ref,
        customer_email: new.customer_email,
        customer_name: new.customer_name,
        currency: new.currency,
        lines: new.lines,
        total_cents: new.total_cents,
        status: new.status,
        ship_to: new.ship_to,
        revision,
        applied,
    }
}

fn created(status: StatusCode, id: &str) -> Response {
    (status, Json(json!({ "id": id }))).into_response()
}

/// Checks what the types cannot; the error is the message of the `422`.
fn validate(new: &NewSalesOrder) -> Result<(), String> {
    if new.external_ref.trim().is_empty() {
        return Err("external_ref must not be empty".to_owned());
    }
    if !new.customer_email.contains('@') {
        return Err(format!(
            "customer_email `{}` is not an email address",
            new.customer_email
        ));
    }
    if new.currency.len() != 3 || !new.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(format!(
            "currency `{}` is not an ISO 4217 code",
            new.currency
        ));
    }
    if new.lines.is_empty() {
        return Err("a sales order needs at least one line".to_owned());
    }
    let mut sum: u64 = 0;
    for (index, line) in new.lines.iter().enumerate() {
        if line.sku.trim().is_empty() {
            return Err(format!("line {}: sku must not be empty", index + 1));
        }
        if line.quantity == 0 {
            return Err(format!("line {}: quantity must be at least 1", index + 1));
        }
        sum = u64::from(line.quantity)
            .checked_mul(line.unit_price_cents)
            .and_then(|amount| sum.checked_add(amount))
            .ok_or_else(|| format!("line {}: amount overflows", index + 1))?;
    }
    if sum != new.total_cents {
        return Err(format!(
            "total_cents is {} but the lines sum to {sum}",
            new.total_cents
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "ledger-test-token";

    fn order(external_ref: &str) -> serde_json::Value {
        json!({
            "external_ref": external_ref,
            "customer_email": "ada.lovelace@example.com",
            "customer_name": "Ada Lovelace",
            "currency": "EUR",
            "lines": [
                {"sku": "TEE-BLK-M", "quantity": 2, "unit_price_cents": 1990},
                {"sku": "MUG-WHT", "quantity": 1, "unit_price_cents": 950},
            ],
            "total_cents": 4930,
            "status": "open",
        })
    }

    async fn post(
        ledger: &Ledger,
        key: Option<&str>,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        post_to(ledger, "/api/sales-orders", key, body).await
    }

    /// POSTs `body` to `path` with the token and, if given, an `Idempotency-Key`.
    async fn post_to(
        ledger: &Ledger,
        path: &str,
        key: Option<&str>,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let mut request = reqwest::Client::new()
            .post(format!("{}{path}", ledger.base_url()))
            .bearer_auth(TOKEN)
            .header("Content-Type", "application/json")
            .body(body.to_string());
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.expect("ledger answers");
        let status = response.status().as_u16();
        (status, json_body(response).await)
    }

    /// The host's reqwest has no `json` feature; parse by hand.
    async fn json_body(response: reqwest::Response) -> serde_json::Value {
        let bytes = response.bytes().await.expect("ledger answers a body");
        serde_json::from_slice(&bytes).expect("ledger answers JSON")
    }

    async fn post_credit(
        ledger: &Ledger,
        key: Option<&str>,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        post_to(ledger, "/api/credit-notes", key, body).await
    }

    fn credit(external_ref: &str, mugs: u32, total_cents: i64) -> serde_json::Value {
        json!({
            "external_ref": external_ref,
            "order_ref": "shop:1001",
            "currency": "EUR",
            "lines": [{"sku": "MUG-WHT", "quantity": mugs, "unit_price_cents": 950, "total_cents": 950 * i64::from(mugs)}],
            "shipping_cents": 0,
            "adjustment_cents": 0,
            "total_cents": total_cents,
        })
    }

    #[tokio::test]
    async fn credit_notes_book_against_their_sales_order_once_and_never_credit_more_than_ordered() {
        let ledger = Ledger::start(TOKEN).await.unwrap();
        // Before its order is booked: 409, try again later.
        let (status, early) =
            post_credit(&ledger, Some("k1"), &credit("shop:refund:R-1", 1, 950)).await;
        assert_eq!(status, 409, "{early}");
        assert!(ledger.credit_notes().is_empty());

        assert_eq!(post(&ledger, None, &order("shop:1001")).await.0, 201);
        let (status, first) =
            post_credit(&ledger, Some("k1"), &credit("shop:refund:R-1", 1, 950)).await;
        assert_eq!(
            (status, &first["id"]),
            (201, &json!("CN-000001")),
            "{first}"
        );
        // The same key again, or the same refund again: still one credit note.
        assert_eq!(
            post_credit(&ledger, Some("k1"), &credit("shop:refund:R-1", 1, 950)).await,
            (200, first.clone())
        );
        assert_eq!(
            post_credit(&ledger, Some("k2"), &credit("shop:refund:R-1", 1, 950)).await,
            (200, first)
        );
        let notes = ledger.credit_notes();
        assert_eq!(notes.len(), 1);
        assert_eq!(
            (
                notes[0].sales_order.as_str(),
                notes[0].note.total_cents,
                notes[0].applied
            ),
            ("SO-000001", 950, 2)
        );

        // A second mug was never ordered; a wrong total; another currency.
        let (status, refused) =
            post_credit(&ledger, None, &credit("shop:refund:R-2", 1, 950)).await;
        assert_eq!(status, 422, "{refused}");
        assert!(
            refused["error"]
                .as_str()
                .unwrap()
                .contains("2 credited in all, 1 ordered"),
            "{refused}"
        );
        assert_eq!(
            post_credit(&ledger, None, &credit("shop:refund:R-1", 1, 951))
                .await
                .0,
            422
        );
        let mut usd = credit("shop:refund:R-1", 1, 950);
        usd["currency"] = json!("USD");
        assert_eq!(post_credit(&ledger, None, &usd).await.0, 422);
        assert_eq!(ledger.credit_notes().len(), 1);
        assert_eq!(ledger.credit_notes()[0].note.currency, "EUR");
    }

    #[tokio::test]
    async fn requests_without_the_token_are_refused() {
        let ledger = Ledger::start(TOKEN).await.unwrap();
        let client = reqwest::Client::new();
        let url = format!("{}/api/sales-orders", ledger.base_url());

        let missing = client
            .post(&url)
            .body(order("shop:1").to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 401);
        let body = json_body(missing).await;
        assert!(body["error"].is_string(), "{body}");
        let wrong = client
            .get(&url)
            .header("Authorization", "Basic bGVkZ2VyLXRlc3QtdG9rZW4=")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401);

        assert!(ledger.sales_orders().is_empty());
        assert_eq!(ledger.requests(), 0);
        ledger.stop().await;
    }

    #[tokio::test]
    async fn a_replayed_idempotency_key_changes_nothing() {
        let ledger = Ledger::start(TOKEN).await.unwrap();
        let (status, first) = post(&ledger, Some("k-1"), &order("shop:1001")).await;
        assert_eq!((status, &first), (201, &json!({ "id": "SO-000001" })));

        // Same key, even with another body: the first answer, nothing applied.
        let mut other = order("shop:1001");
        other["status"] = json!("cancelled");
        let (status, replay) = post(&ledger, Some("k-1"), &other).await;
        assert_eq!((status, replay), (200, first));

        assert_eq!(ledger.requests(), 2);
        let stored = ledger.sales_orders();
        assert_eq!(stored.len(), 1);
        assert_eq!(
            (stored[0].status, stored[0].revision, stored[0].applied),
            (SalesOrderStatus::Open, 1, 1)
        );
        ledger.stop().await;
    }

    #[tokio::test]
    async fn an_existing_external_ref_is_updated_in_place() {
        let ledger = Ledger::start(TOKEN).await.unwrap();
        let (status, _) = post(&ledger, None, &order("shop:1001")).await;
        assert_eq!(status, 201);
        let (status, second) = post(&ledger, None, &order("shop:1002")).await;
        assert_eq!((status, second), (201, json!({ "id": "SO-000002" })));

        // The same content again: same id, no new revision.
        let (status, same) = post(&ledger, None, &order("shop:1001")).await;
        assert_eq!((status, same), (200, json!({ "id": "SO-000001" })));
        assert_eq!(ledger.sales_orders()[0].revision, 1);

        let mut cancelled = order("shop:1001");
        cancelled["status"] = json!("cancelled");
        let (status, updated) = post(&ledger, Some("k-2"), &cancelled).await;
        assert_eq!((status, updated), (200, json!({ "id": "SO-000001" })));

        let stored = ledger.sales_orders();
        assert_eq!(stored.len(), 2);
        assert_eq!(stored[0].id, "SO-000001");
        assert_eq!(
            (stored[0].status, stored[0].revision),
            (SalesOrderStatus::Cancelled, 2)
        );

        let response = reqwest::Client::new()
            .get(format!("{}/api/sales-orders", ledger.base_url()))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let listed = json_body(response).await;
        let listed: Vec<SalesOrder> =
            serde_json::from_value(listed["sales_orders"].clone()).unwrap();
        assert_eq!(listed, stored);
        ledger.stop().await;
    }

    #[tokio::test]
    async fn invalid_sales_orders_are_a_422() {
        let ledger = Ledger::start(TOKEN).await.unwrap();
        let mut bad_total = order("shop:1");
        bad_total["total_cents"] = json!(4931);
        let mut no_lines = order("shop:2");
        no_lines["lines"] = json!([]);
        no_lines["total_cents"] = json!(0);
        let mut zero_quantity = order("shop:3");
        zero_quantity["lines"][1]["quantity"] = json!(0);
        zero_quantity["total_cents"] = json!(3980);
        let mut unknown_status = order("shop:4");
        unknown_status["status"] = json!("shipped");
        let mut unknown_field = order("shop:5");
        unknown_field["note"] = json!("rush");

        for (case, body) in [
            ("bad total", bad_total),
            ("no lines", no_lines),
            ("zero quantity", zero_quantity),
            ("unknown status", unknown_status),
            ("unknown field", unknown_field),
        ] {
            let (status, answer) = post(&ledger, Some(case), &body).await;
            assert_eq!(status, 422, "{case}: {answer}");
            assert!(answer["error"].is_string(), "{case}: {answer}");
        }
        let malformed = reqwest::Client::new()
            .post(format!("{}/api/sales-orders", ledger.base_url()))
            .bearer_auth(TOKEN)
            .body("{\"external_ref\":")
            .send()
            .await
            .unwrap();
        assert_eq!(malformed.status(), 422);
        assert!(ledger.sales_orders().is_empty());

        // A refused request records no key: the corrected retry is applied.
        let (status, _) = post(&ledger, Some("bad total"), &order("shop:1")).await;
        assert_eq!(status, 201);
        ledger.stop().await;
    }

    #[tokio::test]
    async fn injected_failures_apply_nothing() {
        let ledger = Ledger::start(TOKEN).await.unwrap();
        ledger.fail_next(2, 429);
        for _ in 0..2 {
            let response = reqwest::Client::new()
                .post(format!("{}/api/sales-orders", ledger.base_url()))
                .bearer_auth(TOKEN)
                .header("Idempotency-Key", "k-1")
                .body(order("shop:1").to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 429);
            assert_eq!(response.headers()["retry-after"], "1");
        }
        assert!(ledger.sales_orders().is_empty());
        let (status, _) = post(&ledger, Some("k-1"), &order("shop:1")).await;
        assert_eq!(status, 201);
        assert_eq!(ledger.requests(), 3);
        ledger.stop().await;
    }

    /// A POST whose answer may not be JSON: status, `Retry-After` and raw body.
    async fn post_raw(
        ledger: &Ledger,
        key: &str,
        body: &serde_json::Value,
    ) -> (u16, Option<String>, String) {
        let response = reqwest::Client::new()
            .post(format!("{}/api/sales-orders", ledger.base_url()))
            .bearer_auth(TOKEN)
            .header("Idempotency-Key", key)
            .body(body.to_string())
            .send()
            .await
            .expect("ledger answers");
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|value| value.to_str().unwrap().to_owned());
        (status, retry_after, response.text().await.unwrap())
    }

    #[tokio::test]
    async fn scripted_faults_answer_in_order_and_apply_nothing() {
        let ledger = Ledger::start(TOKEN).await.unwrap();
        ledger.script([
            Fault::Status(503),
            Fault::RateLimited {
                retry_after_secs: 7,
            },
            Fault::Malformed,
            Fault::Reject,
        ]);
        ledger.fail_next(1, 429);

        let (status, retry_after, body) = post_raw(&ledger, "k-1", &order("shop:1")).await;
        assert_eq!((status, retry_after), (503, None));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap()["error"],
            "injected failure"
        );

        let (status, retry_after, _) = post_raw(&ledger, "k-1", &order("shop:1")).await;
        assert_eq!((status, retry_after.as_deref()), (429, Some("7")));

        let (status, _, body) = post_raw(&ledger, "k-1", &order("shop:1")).await;
        assert_eq!(status, 200);
        assert!(
            serde_json::from_str::<serde_json::Value>(&body).is_err(),
            "{body}"
        );

        let (status, _, body) = post_raw(&ledger, "k-1", &order("shop:1")).await;
        assert_eq!(status, 422);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap(),
            json!({ "error": "rejected by script" })
        );

        let (status, retry_after, _) = post_raw(&ledger, "k-1", &order("shop:1")).await;
        assert_eq!((status, retry_after.as_deref()), (429, Some("1")));

        // Nothing applied and no key recorded: the script is spent, the same
        // delivery now creates the sales order.
        assert!(ledger.sales_orders().is_empty());
        let (status, _) = post(&ledger, Some("k-1"), &order("shop:1")).await;
        assert_eq!(status, 201);
        assert_eq!(ledger.sales_orders()[0].applied, 1);
        assert_eq!(ledger.requests(), 6);
        ledger.stop().await;
    }

    #[tokio::test]
    async fn a_slow_fault_delays_then_applies() {
        let ledger = Ledger::start(TOKEN).await.unwrap();
        ledger.script([Fault::Slow { ms: 300 }]);
        let started = Instant::now();
        let (status, answer) = post(&ledger, Some("k-1"), &order("shop:1")).await;
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!((status, answer), (201, json!({ "id": "SO-000001" })));
        assert_eq!(ledger.sales_orders()[0].applied, 1);
        ledger.stop().await;
    }

    #[tokio::test]
    async fn a_slow_post_is_applied_even_if_the_client_gave_up() {
        let ledger = Ledger::start(TOKEN).await.unwrap();
        ledger.script([Fault::Slow { ms: 300 }]);
        let gave_up = reqwest::Client::new()
            .post(format!("{}/api/sales-orders", ledger.base_url()))
            .bearer_auth(TOKEN)
            .timeout(Duration::from_millis(100))
            .body(order("shop:1").to_string())
            .send()
            .await;
        assert!(gave_up.unwrap_err().is_timeout());
        assert!(ledger.sales_orders().is_empty());

        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(ledger.sales_orders().len(), 1);
        assert_eq!(ledger.attempts()[0].2, 201);
        ledger.stop().await;
    }

    #[tokio::test]
    #[should_panic(expected = "HTTP status")]
    async fn a_scripted_status_must_be_an_http_status() {
        let ledger = Ledger::start(TOKEN).await.unwrap();
        ledger.script([Fault::Status(42)]);
    }

    #[tokio::test]
    async fn applied_counts_posts_but_not_replays() {
        let ledger = Ledger::start(TOKEN).await.unwrap();
        let applied = || {
            let stored = &ledger.sales_orders()[0];
            (stored.applied, stored.revision)
        };
        post(&ledger, Some("k-1"), &order("shop:1")).await;
        assert_eq!(applied(), (1, 1));
        post(&ledger, Some("k-1"), &order("shop:1")).await;
        assert_eq!(applied(), (1, 1), "a replayed key is not applied");
        post(&ledger, Some("k-2"), &order("shop:1")).await;
        assert_eq!(
            applied(),
            (2, 1),
            "a new key with the same content is applied"
        );
        let mut cancelled = order("shop:1");
        cancelled["status"] = json!("cancelled");
        post(&ledger, None, &cancelled).await;
        assert_eq!(applied(), (3, 2));

        let mut invalid = order("shop:1");
        invalid["total_cents"] = json!(1);
        post(&ledger, Some("k-3"), &invalid).await;
        assert_eq!(applied(), (3, 2), "a refused POST is not applied");

        let response = reqwest::Client::new()
            .get(format!("{}/api/sales-orders", ledger.base_url()))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let listed = json_body(response).await;
        assert_eq!(listed["sales_orders"][0]["applied"], 3);
        assert_eq!(listed["sales_orders"][0]["revision"], 2);
        ledger.stop().await;
    }

    #[tokio::test]
    async fn attempts_record_arrival_reference_and_answer() {
        let ledger = Ledger::start(TOKEN).await.unwrap();
        ledger.fail_next(1, 503);
        post(&ledger, Some("k-1"), &order("shop:1")).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        post(&ledger, Some("k-1"), &order("shop:1")).await;
        post(&ledger, Some("k-1"), &order("shop:1")).await;
        post(&ledger, Some("k-2"), &json!({ "lines": [] })).await;

        let attempts = ledger.attempts();
        let answers: Vec<(&str, u16)> = attempts
            .iter()
            .map(|(_, external_ref, status)| (external_ref.as_str(), *status))
            .collect();
        assert_eq!(
            answers,
            [
                ("shop:1", 503),
                ("shop:1", 201),
                ("shop:1", 200),
                ("?", 422)
            ]
        );
        assert!(attempts[1].0 - attempts[0].0 >= Duration::from_millis(50));
        assert!(attempts.windows(2).all(|pair| pair[0].0 <= pair[1].0));
        ledger.stop().await;
    }

    #[tokio::test]
    async fn sales_orders_change_behind_tenons_back() {
        let ledger = Ledger::start(TOKEN).await.unwrap();
        post(&ledger, Some("k-1"), &order("shop:1")).await;
        post(&ledger, Some("k-2"), &order("shop:2")).await;

        assert!(ledger.remove_sales_order("SO-000001"));
        assert!(!ledger.remove_sales_order("SO-000001"));
        assert_eq!(ledger.sales_orders().len(), 1);
        // The same delivery again creates it anew, under a new id.
        let (status, answer) = post(&ledger, Some("k-1"), &order("shop:1")).await;
        assert_eq!((status, answer), (201, json!({ "id": "SO-000003" })));

        ledger.edit_sales_order("SO-000002", |order| {
            order.status = SalesOrderStatus::Cancelled;
            order.id = "SO-999999".to_owned();
        });
        ledger.edit_sales_order("SO-000003", |_| {});
        let stored = ledger.sales_orders();
        let ids: Vec<&str> = stored.iter().map(|order| order.id.as_str()).collect();
        assert_eq!(ids, ["SO-000002", "SO-000003"]);
        assert_eq!(
            (stored[0].status, stored[0].revision, stored[0].applied),
            (SalesOrderStatus::Cancelled, 2, 1)
        );
        assert_eq!(stored[1].revision, 1, "an edit that changes nothing");

        // The shop's version wins again at the next POST.
        let (status, _) = post(&ledger, Some("k-3"), &order("shop:2")).await;
        assert_eq!(status, 200);
        let stored = &ledger.sales_orders()[0];
        assert_eq!(
            (stored.status, stored.revision, stored.applied),
            (SalesOrderStatus::Open, 3, 2)
        );
        ledger.stop().await;
    }
}
