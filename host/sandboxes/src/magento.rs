//! The Magento sandbox: a loopback Adobe Commerce (Magento 2) instance that
//! follows the shape of its REST API: orders and the shipments, credit memos
//! and returns (RMAs) made against them, customers and their groups, the
//! category tree, the catalogue (simple and configurable products with their
//! links, media and stock), MSI sources and source items, tier and base
//! prices, and the asynchronous bulk API; and, for the tests, scripted faults,
//! a rate limit, a settable clock and counts of what clients wrote.
//!
//! It owns only this instance's state and its HTTP surface; it reuses the
//! crate's binding, rate window, lock and shutdown (`lib.rs`) and touches no
//! other sandbox.
//!
//! # API
//! [`Magento::url`] is the instance's base URL, up to and excluding `/rest`.
//! Every route is served under `/rest/V1/...` and, identically, under the
//! store codes `/rest/default/V1/...` and `/rest/all/V1/...`; another store
//! code answers `400` ("The store that was requested wasn't found..."), and a
//! method or path that is no route answers `404 {"message": "Request does not
//! match any route."}`, as Magento does. Bodies and answers are JSON.
//!
//! ## Authentication
//! `POST /rest/V1/integration/admin/token` with `{"username", "password"}` of an
//! admin user ([`AdminUser`]) answers the admin token as a JSON string; it opens
//! the API for four hours ([`ADMIN_TOKEN_TTL`], Magento's
//! `oauth/access_token_lifetime/admin`; see [`Magento::set_admin_token_ttl`]),
//! measured on the sandbox's clock. Wrong credentials answer `401` ("The
//! account sign-in was incorrect..."), missing ones `400` ("One or more input
//! exceptions have occurred." with an `errors` list). Every other route needs
//! `Authorization: Bearer <token>` with such an admin token or the integration
//! access token the sandbox started with (accepted as a bearer token as Magento
//! does once "Allow OAuth Access Tokens to be used as standalone Bearer tokens"
//! is on). Otherwise the answer is `401 {"message": "The consumer isn't
//! authorized to access %resources.", "parameters": {"resources": "<ACL
//! resource of the route>"}}`.
//!
//! ## Errors
//! Errors have Magento's shape: `{"message": "...", "parameters": [...] | {...}}`
//! (placeholders such as `%1` or `%fieldName` stay in `message`; `parameters`
//! only when there are some). An unknown order, shipment, credit memo or
//! return answers `404 {"message": "The entity that was requested doesn't
//! exist. Verify the entity and try again."}`; an unknown product `404 "The
//! product that was requested doesn't exist. Verify the product and try
//! again."`; an unknown customer, group or category `404 "No such entity with
//! %fieldName = %fieldValue"`. Validation errors answer `400`; messages are
//! Magento's where the sandbox mirrors a documented check, and its own, in the
//! same style, elsewhere.
//!
//! ## searchCriteria
//! List routes take Magento's bracket syntax in the query:
//! `searchCriteria[filter_groups][G][filters][F][field|value|condition_type]`,
//! `searchCriteria[sortOrders][S][field|direction]`, `searchCriteria[pageSize]`
//! and `searchCriteria[currentPage]` (camelCase and snake_case names both
//! work, as in Magento). Filters in one group are OR'ed, groups AND'ed. The
//! condition types are `eq` (the default), `neq`, `gt`, `gteq`, `moreq`, `lt`,
//! `lteq`, `from`, `to`, `in`, `nin` (comma-separated values), `like`, `nlike`
//! (SQL `%` and `_`), `null`, `notnull`, `finset` and `nfinset`; another one
//! answers `400`. Text compares case-insensitively, as MySQL's collation does;
//! times compare as times (a date alone means its midnight); a field an entity
//! does not have is SQL `NULL`, which only `null` matches (so `neq` leaves out
//! a guest order's missing `customer_id`, as MySQL would). A field is a
//! top-level key of the listed entity, else one of its `custom_attributes`;
//! products also filter on `category_id`. Sorting takes any such field; ties,
//! common on `updated_at` since several changes share a second, fall back to
//! the entity id, so paging is stable. Without `pageSize` every match is
//! listed; `currentPage` counts from 1. As Magento does, a `currentPage` past
//! the last page answers the **last page again** (not an empty one): clients
//! must stop by `total_count`. The answer is `{"items": [...],
//! "search_criteria": {<what was asked>}, "total_count": N}`. The searchCriteria
//! is required except on the inventory routes (where Magento makes it
//! optional). Times are `YYYY-MM-DD HH:MM:SS` in UTC, Magento's format.
//!
//! ## Routes
//! - Orders: `GET /V1/orders` (searchCriteria), `GET /V1/orders/{id}`.
//!   Amounts are JSON numbers (`19.9`), kept exact as cents ([`Cents`]).
//!   `total_refunded` is absent until a credit memo exists, as Magento leaves
//!   the column `NULL`. `status_histories` lists the newest first.
//! - `POST /V1/orders/{id}/comments` `{"statusHistory": {"comment", "status",
//!   "is_customer_notified", "is_visible_on_front"}}` appends to
//!   `status_histories` and sets the status when it belongs to the order's
//!   state (a custom status is taken to belong to it); answers `true`.
//!   `POST /V1/orders/{id}/hold` and `/unhold` answer `true` (state `holded`,
//!   then back to the state and status it had), or `400` ("A hold action is not
//!   available." / "You cannot remove the hold."). `POST /V1/orders/{id}/cancel`
//!   answers `true` when the order could be cancelled, `false` otherwise: as in
//!   Magento, only an order not invoiced yet (state `new`) can be.
//! - `POST /V1/order/{id}/ship` `{"items": [{"order_item_id", "qty"}], "tracks":
//!   [{"track_number", "title", "carrier_code"}], "comment", "notify"}` answers
//!   the new shipment's `entity_id` (a JSON number). No `items` ships every
//!   line's remaining quantity. It refuses (`400 "Shipment Document Validation
//!   Error(s):\n..."`) a held, cancelled or fully shipped order and more than a
//!   line's unshipped quantity (ordered minus the larger of shipped and
//!   refunded, as Magento counts it). `GET /V1/shipments` (searchCriteria),
//!   `GET /V1/shipment/{id}`.
//! - `POST /V1/order/{id}/refund` `{"items": [{"order_item_id", "qty"}],
//!   "notify", "arguments": {"shipping_amount", "adjustment_positive",
//!   "adjustment_negative"}}` (an offline refund) answers the credit memo's
//!   `entity_id`. As in Magento, no `items` refunds every line's remaining
//!   quantity and no `shipping_amount` refunds all the shipping not refunded
//!   yet. It refuses more than a line's ordered-minus-refunded quantity ("The
//!   quantity to refund must not be greater than the unrefunded quantity."),
//!   more shipping than is left ("Maximum shipping amount allowed to refund
//!   is: %1"), more money than was paid and not refunded ("The most money
//!   available to refund is €X."), a total that is not positive, and held,
//!   cancelled, closed or unpaid orders. The order's `qty_refunded`,
//!   `total_refunded` and `updated_at` follow; it is `closed` once all it was
//!   paid is refunded. `GET /V1/creditmemos` (searchCriteria),
//!   `GET /V1/creditmemo/{id}`; a credit memo's `state` is 2 (refunded).
//! - Returns (Adobe Commerce's RMAs, module Magento_Rma): `POST /V1/returns`
//!   `{"rmaDataObject": {"order_id", "customer_custom_email", "items":
//!   [{"order_item_id", "qty_requested", "qty_authorized", "qty_returned",
//!   "qty_approved", "reason", "condition", "resolution", "status"}],
//!   "comments": [{"comment", "visible_on_front", "customer_notified"}]}}`
//!   creates an RMA (a POST with the `entity_id` of one updates it, as
//!   Magento's repository saves); `PUT /V1/returns/{id}` updates one: items
//!   with an `entity_id` take the fields given, others are added; comments
//!   without an `entity_id` are added. Both answer the RMA (`entity_id`,
//!   `increment_id`, `order_id`, `order_increment_id`, `customer_id`,
//!   `date_requested`, `status`, `items`, `comments`, `tracks`). `GET
//!   /V1/returns/{id}`, `GET /V1/returns` (searchCriteria). Item statuses are
//!   `pending` (the default), `authorized`, `received`, `approved`,
//!   `rejected` and `denied`; the RMA's `status` follows them as Magento's
//!   `getStatusByItems` does (all authorized: `authorized`; all received:
//!   `received`; all final with one approved: `processed_closed`; all
//!   rejected or denied: `closed`; `partially_authorized`,
//!   `received_on_item`, `approved_on_item` and `rejected_on_item` between),
//!   a `status` sent is ignored, and each change adds Magento's system
//!   comment ("We received your Return request."). Refused: an unknown order
//!   (`404`); with `400`, an order item not in the order ("You cannot return
//!   %1."), a configurable's child item (name the parent), a status that is
//!   none of those, a quantity requested below 1, more of a line than was
//!   shipped and not claimed by the order's other RMAs ("A quantity of %1 is
//!   greater than you can return."; rejected and denied items claim
//!   nothing), and more authorized than requested, returned than authorized
//!   or approved than returned. An order item's `qty_returned` is the
//!   `qty_returned` of its RMA items received or approved.
//! - Customers: `GET /V1/customers/search` (searchCriteria),
//!   `GET /V1/customers/{id}`, `PUT /V1/customers/{id}` `{"customer": {...}}`.
//!   As in Magento, the PUT needs `email`, `firstname` and `lastname`; it
//!   updates `group_id`, merges `custom_attributes` by `attribute_code` (a
//!   `null` value removes one; values are kept as strings, as EAV renders them)
//!   and, when `addresses` is given, replaces the addresses (one with a known
//!   `id` keeps it).
//! - Customer groups: `GET /V1/customerGroups/search`, `GET
//!   /V1/customerGroups/{id}`, `POST /V1/customerGroups` `{"group": {"code",
//!   "tax_class_id"}}` (a duplicate code, compared case-insensitively, is a
//!   `400`). Seeded: 0 `NOT LOGGED IN`, 1 `General`, 2 `Wholesale`, 3
//!   `Retailer`.
//! - Categories: `GET /V1/categories?rootCategoryId=&depth=` answers the tree
//!   (`id`, `parent_id`, `name`, `is_active`, `position`, `level`,
//!   `product_count`, `children_data`) from the store's root, `Default
//!   Category` (2) under `Root Catalog` (1); `GET /V1/categories/list`
//!   (searchCriteria), `GET` and `PUT /V1/categories/{id}`, `POST
//!   /V1/categories` `{"category": {"parent_id", "name", "is_active",
//!   "position", "include_in_menu", "custom_attributes"}}` answer the category.
//! - Products: `POST /V1/products` `{"product": {...}}` creates the product, or
//!   updates the one with that sku (compared case-insensitively, as MySQL
//!   does), as Magento does; `PUT /V1/products/{sku}` updates (or creates) the
//!   product of the path's sku; `GET /V1/products/{sku}`, `GET /V1/products`
//!   (searchCriteria), `DELETE /V1/products/{sku}` (answers `true`, and drops
//!   the product's source items, tier prices and configurable links). Fields
//!   given replace the stored ones; `custom_attributes` merge by code; lists
//!   given (`category_links`, `configurable_product_options`,
//!   `configurable_product_links`, `product_links`, `media_gallery_entries`)
//!   replace the stored list. A new product needs a `name`, and a `price`
//!   unless it is configurable. Refused with `400`: a `category_link` to an
//!   unknown category, a configurable link or a product link to an unknown
//!   product. A product's `tier_prices` are those of the tier price routes.
//! - `POST /V1/async/bulk/V1/products` with a JSON array of `{"product": {...}}`
//!   answers `202 {"bulk_uuid", "request_items": [{"id", "data_hash",
//!   "status": "accepted" | "rejected"}], "errors"}` and applies the accepted
//!   operations in the background after [`DEFAULT_BULK_DELAY`] (see
//!   [`Magento::set_bulk_delay`]), so clients must poll
//!   `GET /V1/bulk/{bulkUuid}/status`: `{"operations_list": [{"id", "status",
//!   "result_message", "error_code"}], "user_type", "bulk_id", "description",
//!   "start_time", "user_id", "operation_count"}`, with Magento's status codes
//!   (1 complete, 2 failed and retriable, 3 failed, 4 open, 5 rejected) and
//!   `user_type` 1 for the integration, 2 for an admin. A bad product fails
//!   only its own operation (status 3, with the message a synchronous save
//!   would have answered); an entry without a `product` object is rejected.
//! - MSI: `GET /V1/inventory/sources` (seeded `default` and `eu-warehouse`),
//!   `GET /V1/inventory/source-items` (searchCriteria on `sku`, `source_code`,
//!   ...), `POST /V1/inventory/source-items` `{"sourceItems": [{"sku",
//!   "source_code", "quantity", "status"}]}` and `POST
//!   /V1/inventory/source-items-delete` answer `[]`. The save is all or
//!   nothing: an unknown sku answers `400 {"message": "Validation Failed",
//!   "errors": [...]}`, an unknown source `400 "Could not save Source Item"`.
//!   The `default` source's quantity is also the product's `stock_item`.
//! - Prices: `POST /V1/products/tier-prices` `{"prices": [{"price",
//!   "price_type": "fixed" | "discount", "website_id", "sku", "customer_group",
//!   "quantity"}]}` adds or updates the prices keyed by sku, website, customer
//!   group (its code, like `Wholesale`, or `ALL GROUPS`, compared
//!   case-insensitively) and quantity, and answers the items it refused, `[]`
//!   when none, as Magento's `PriceUpdateResultInterface[]`: `{"message",
//!   "parameters"}` with Magento's messages ("Invalid attribute SKU = %SKU. Row
//!   ID: ...", "No such entity with Customer Group = %customerGroup. ...").
//!   The others are applied. `PUT /V1/products/tier-prices` replaces every tier
//!   price of the skus in the body; `POST /V1/products/tier-prices-delete`
//!   deletes; `POST /V1/products/tier-prices-information` `{"skus": [...]}`
//!   lists. `POST /V1/products/base-prices` `{"prices": [{"price", "store_id",
//!   "sku"}]}` and `POST /V1/products/base-prices-information`. Price changes
//!   move the product's `updated_at`, as Magento's price storage does.
//!
//! # Faults and rate limit
//! [`Magento::script`] (and [`Magento::script_on`], for requests whose route
//! starts with a prefix such as `/V1/order/`) queues [`Fault`]s: each request
//! under `/rest` takes the first queued fault that applies to its route, the
//! token endpoint's included:
//! - [`Fault::Status`] answers that status without doing anything: `500` with
//!   Magento's "Internal Error. Details are available in Magento log file."
//!   JSON, `502`, `503` and `504` with the HTML page a gateway answers, `429`
//!   with `Retry-After: 1`;
//! - [`Fault::RateLimited`] answers `429` with `Retry-After: <secs>`;
//! - [`Fault::Slow`] waits, then serves the request on a task of its own: a
//!   write is applied even when the client gave up waiting, as by a real
//!   server;
//! - [`Fault::ShortBody`] serves the request (a write is applied) and sends
//!   half its answer under a `Content-Length` of the whole, then closes the
//!   connection;
//! - [`Fault::TruncatedJson`] serves the request (a write is applied) and
//!   answers `200` with the first half of its JSON;
//! - [`Fault::Pass`] serves the request as usual.
//!
//! A request the rate limit refuses takes no fault: the fault waits for the
//! next request that gets in.
//!
//! [`Magento::set_rate_limit`] allows `limit` requests per fixed window; past
//! it, `429 Too Many Requests` with `Retry-After` (whole seconds until the
//! window resets) and a plain-text body, as Adobe Commerce Cloud's Fastly
//! rate limiting answers before Magento sees the request. Without a set limit
//! there is none.
//!
//! # For tests
//! - [`MagentoSeed::demo`] seeds groups, categories, six products (simple ones
//!   and a configurable T-shirt with two children), two customers (one in
//!   `Wholesale`, with B2B attributes), sources and stock, a tier price and
//!   three paid EUR orders with two lines and shipping each, one of them
//!   partly shipped; [`MagentoSeed::empty`] only the groups, root categories,
//!   sources and the admin user.
//! - [`Magento::add_order`] places an order, [`Magento::edit_order`] changes
//!   one as the admin would (moving its `updated_at`),
//!   [`Magento::refund_in_admin`] refunds and [`Magento::ship_in_admin`] ships
//!   as a merchant does in the admin, with the API's checks.
//! - Tokens: [`Magento::set_admin_token_ttl`], [`Magento::revoke_admin_tokens`]
//!   and [`Magento::admin_tokens_issued`]; the seeded admin user is
//!   [`SEED_ADMIN_USERNAME`] / [`SEED_ADMIN_PASSWORD`].
//! - The clock: [`Magento::freeze_clock`], [`Magento::advance_clock`] and
//!   [`Magento::resume_clock`]; while frozen every change shares one second.
//! - Read back: [`Magento::orders`], [`Magento::shipments`],
//!   [`Magento::credit_memos`], [`Magento::returns`] (and
//!   [`Magento::qty_returned`], what an order shows as returned),
//!   [`Magento::products`], [`Magento::customers`],
//!   [`Magento::source_items`], [`Magento::tier_prices`] and more;
//!   [`Magento::writes`] counts the writes clients applied, per entity, to
//!   assert "applied exactly once"; [`Magento::requests`] lists every request
//!   with its answer's status.
//!
//! # Simplified
//! One website, one store view (`default`, id 1): the store code in the path
//! changes nothing, and values are global (names and descriptions are not kept
//! per store view). No taxes, discounts or invoices: orders are paid (invoiced)
//! in full when placed, unless placed unpaid, and prices include tax. Line
//! quantities are whole units. A configurable line is, as in Magento, a parent
//! item (carrying the price) and a child item (`parent_item_id`), both with the
//! child's sku; shipments and refunds name the parent, which the child follows,
//! and naming the child is refused. The price scope is global, Magento's
//! default: base prices are kept for store 0 and tier prices need website 0.
//! Admin tokens are opaque random strings, not JWTs. Returns: an RMA item's
//! `reason`, `condition` and `resolution` are kept as the text given (Adobe
//! Commerce takes the option ids of those Returns attributes); RMA tracks,
//! shipping labels, return addresses and the RMA rules of products are not
//! kept; any order can take an RMA once shipped. `fields=` filtering,
//! store-view overrides, invoices and the rest of Magento's API are not
//! served.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse as _, Response};
use axum::routing::any;
use serde_json::{Map, Value, json};

use super::{RateWindow, Server, TokenCheck, lock, scripted_status};

/// How long an admin token opens the API: Magento's default
/// `oauth/access_token_lifetime/admin`, four hours.
pub const ADMIN_TOKEN_TTL: Duration = Duration::from_secs(4 * 3600);

/// How long an accepted async bulk request waits before its operations run, so
/// a client sees them open first and must poll.
pub const DEFAULT_BULK_DELAY: Duration = Duration::from_millis(200);

/// Minor units (cents) of the order's currency: every amount is kept so, and
/// totals are sums of integers; the API renders them as JSON numbers (`19.9`).
pub type Cents = i64;

/// The customer group of a tier price for every group, as the API takes it.
pub const ALL_GROUPS: &str = "ALL GROUPS";

/// The id Magento gives [`ALL_GROUPS`] in a product's `tier_prices`.
const ALL_GROUPS_ID: u64 = 32000;

/// The integration's user id, as the bulk status reports it.
const INTEGRATION_USER_ID: u64 = 1;

/// Magento's answer for an unknown order, shipment or credit memo.
const ENTITY_NOT_FOUND: &str =
    "The entity that was requested doesn't exist. Verify the entity and try again.";

/// Magento's answer for an unknown product.
const PRODUCT_NOT_FOUND: &str =
    "The product that was requested doesn't exist. Verify the product and try again.";

/// What a successful async operation reports, as Magento's consumer writes it.
const BULK_SUCCESS: &str =
    "Service execution success Magento\\Catalog\\Model\\ProductRepository\\Interceptor::save";

/// The message queue topic of `POST /V1/async/bulk/V1/products`.
const BULK_TOPIC: &str = "async.magento.catalog.api.productrepositoryinterface.save.post";

/// The length of issued admin tokens.
const TOKEN_LEN: usize = 32;

/// More than hyper's write buffer holds (8 KiB + 400 KiB): see
/// `Reply::cut_short`.
const FLUSH_PADDING: usize = 420 * 1024;

// ---------------------------------------------------------------------------
// Money and time
// ---------------------------------------------------------------------------

/// `1990` as the JSON number `19.9`, `500` as `5`. One division of an exact
/// integer, never a sum of floats: the nearest `f64`, which serde_json writes
/// back as that decimal.
fn money(cents: Cents) -> Value {
    if cents % 100 == 0 {
        return Value::from(cents / 100);
    }
    serde_json::Number::from_f64(cents as f64 / 100.0).map_or(Value::Null, Value::Number)
}

/// The cents of a JSON amount (`19.9`, `"19.90"`, `5`), rounded half away from
/// zero to two decimals; `None` when it is not a decimal number.
fn cents_of(value: &Value) -> Option<Cents> {
    match value {
        Value::Number(number) => decimal_cents(&number.to_string()),
        Value::String(text) => decimal_cents(text.trim()),
        _ => None,
    }
}

/// The cents of a decimal text, from its digits (no float in between).
fn decimal_cents(text: &str) -> Option<Cents> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: Cents = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let digit = |i: usize| Cents::from(fraction.as_bytes().get(i).map_or(0, |b| b - b'0'));
    let mut cents = whole.checked_mul(100)? + digit(0) * 10 + digit(1);
    if digit(2) >= 5 {
        cents += 1;
    }
    Some(if negative { -cents } else { cents })
}

/// `€5.00`: an amount as Magento's `formatTxt` writes it in its messages.
fn format_price(currency: &str, cents: Cents) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let amount = format!("{}.{:02}", cents.abs() / 100, cents.abs() % 100);
    match currency {
        "EUR" => format!("{sign}€{amount}"),
        "USD" => format!("{sign}${amount}"),
        "GBP" => format!("{sign}£{amount}"),
        other => format!("{sign}{other} {amount}"),
    }
}

/// `2026-11-23 10:00:00`: Magento's date-time format, UTC, of Unix seconds.
pub fn magento_time(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Unix seconds of `2026-11-23 10:00:00`, `2026-11-23T10:00:00` (an offset or
/// fraction after it is ignored: UTC is assumed) or `2026-11-23` (midnight).
fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.len() == 10 {
        let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
        return Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp());
    }
    let head = text.get(..19)?.replacen('T', " ", 1);
    let parsed = chrono::NaiveDateTime::parse_from_str(&head, "%Y-%m-%d %H:%M:%S").ok()?;
    Some(parsed.and_utc().timestamp())
}

/// The system clock in Unix seconds.
fn system_secs() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// The instance's clock: the system's, or frozen at a second tests set.
#[derive(Debug, Default)]
struct Clock {
    frozen: Option<i64>,
}

impl Clock {
    fn now(&self) -> i64 {
        self.frozen.unwrap_or_else(system_secs)
    }
}

// ---------------------------------------------------------------------------
// Entities
// ---------------------------------------------------------------------------

/// A postal address of an order or a customer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    pub firstname: String,
    pub lastname: String,
    pub company: Option<String>,
    pub street: Vec<String>,
    pub city: String,
    pub postcode: String,
    /// ISO 3166-1 alpha-2.
    pub country_id: String,
    pub telephone: String,
}

impl Address {
    /// An address of `firstname lastname` at `street`, `postcode city`, in
    /// `country_id`.
    pub fn new(
        firstname: &str,
        lastname: &str,
        street: &str,
        postcode: &str,
        city: &str,
        country_id: &str,
    ) -> Self {
        Address {
            firstname: firstname.to_owned(),
            lastname: lastname.to_owned(),
            company: None,
            street: vec![street.to_owned()],
            city: city.to_owned(),
            postcode: postcode.to_owned(),
            country_id: country_id.to_owned(),
            telephone: "+0 000 000".to_owned(),
        }
    }

    fn json(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("firstname".into(), self.firstname.clone().into());
        map.insert("lastname".into(), self.lastname.clone().into());
        if let Some(company) = &self.company {
            map.insert("company".into(), company.clone().into());
        }
        map.insert("street".into(), self.street.clone().into());
        map.insert("city".into(), self.city.clone().into());
        map.insert("postcode".into(), self.postcode.clone().into());
        map.insert("country_id".into(), self.country_id.clone().into());
        map.insert("telephone".into(), self.telephone.clone().into());
        map
    }

    /// The address of a JSON object, with Magento's required fields.
    fn from_json(value: &Value) -> Result<Address, Failure> {
        let required = |name: &str| {
            value
                .get(name)
                .and_then(text)
                .filter(|text| !text.is_empty())
                .ok_or_else(|| Failure::required(name))
        };
        let street = match value.get("street") {
            Some(Value::Array(lines)) => lines.iter().filter_map(text).collect(),
            Some(line) => text(line).into_iter().collect(),
            None => Vec::new(),
        };
        if street.is_empty() {
            return Err(Failure::required("street"));
        }
        Ok(Address {
            firstname: required("firstname")?,
            lastname: required("lastname")?,
            company: value.get("company").and_then(text),
            street,
            city: required("city")?,
            postcode: value.get("postcode").and_then(text).unwrap_or_default(),
            country_id: required("country_id")?,
            telephone: required("telephone")?,
        })
    }
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderItem {
    pub item_id: u64,
    /// The configurable line a child line belongs to; `None` for other lines.
    pub parent_item_id: Option<u64>,
    pub sku: String,
    pub name: String,
    pub product_id: Option<u64>,
    /// `simple` or `configurable`.
    pub product_type: String,
    pub qty_ordered: u32,
    pub qty_shipped: u32,
    pub qty_refunded: u32,
    pub qty_canceled: u32,
    /// Units back from the customer: Magento_Rma's `sales_order_item`
    /// column, the `qty_returned` of the order's RMA items received or
    /// approved (a configurable's child line follows its parent).
    pub qty_returned: u32,
    /// The unit price; `0` on a configurable's child line (the parent has it).
    pub price_incl_tax: Cents,
}

impl OrderItem {
    pub fn row_total_incl_tax(&self) -> Cents {
        self.price_incl_tax * Cents::from(self.qty_ordered)
    }

    /// What can still be shipped: Magento's `getQtyToShip`, which takes the
    /// refunded units to be shipped ones first.
    pub fn qty_to_ship(&self) -> u32 {
        self.qty_ordered
            .saturating_sub(self.qty_shipped.max(self.qty_refunded))
            .saturating_sub(self.qty_canceled)
    }

    /// What can still be refunded of a paid line.
    pub fn qty_to_refund(&self) -> u32 {
        self.qty_ordered
            .saturating_sub(self.qty_refunded)
            .saturating_sub(self.qty_canceled)
    }
}

/// One entry of an order's `status_histories`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusHistory {
    pub entity_id: u64,
    pub comment: String,
    pub status: Option<String>,
    pub is_customer_notified: Option<bool>,
    pub is_visible_on_front: bool,
    /// Unix seconds, UTC.
    pub created_at: i64,
}

/// An order as the instance keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub entity_id: u64,
    pub increment_id: String,
    /// `new`, `processing`, `complete`, `closed`, `canceled` or `holded`.
    pub state: String,
    /// `pending`, `processing`, ... or a custom status.
    pub status: String,
    pub order_currency_code: String,
    pub base_currency_code: String,
    pub customer_email: String,
    pub customer_firstname: String,
    pub customer_lastname: String,
    /// `None` for a guest.
    pub customer_id: Option<u64>,
    pub customer_group_id: u64,
    pub items: Vec<OrderItem>,
    pub shipping_incl_tax: Cents,
    pub shipping_refunded: Cents,
    /// What was invoiced and paid: the grand total, or 0 for an unpaid order.
    pub total_paid: Cents,
    /// `None` until a credit memo exists.
    pub total_refunded: Option<Cents>,
    /// The credit memos' adjustments, summed.
    pub adjustment_positive: Cents,
    pub adjustment_negative: Cents,
    pub billing_address: Address,
    pub shipping_address: Address,
    pub shipping_description: String,
    /// Unix seconds, UTC.
    pub created_at: i64,
    pub updated_at: i64,
    /// Oldest first (the API lists the newest first).
    pub status_histories: Vec<StatusHistory>,
    /// The state and status a hold left; an unhold restores them.
    pub hold_before: Option<(String, String)>,
}

impl Order {
    /// The lines' totals (a configurable's child lines count 0).
    pub fn subtotal_incl_tax(&self) -> Cents {
        self.items.iter().map(OrderItem::row_total_incl_tax).sum()
    }

    pub fn grand_total(&self) -> Cents {
        self.subtotal_incl_tax() + self.shipping_incl_tax
    }

    fn paid(&self) -> bool {
        self.total_paid > 0
    }

    fn item_index(&self, item_id: u64) -> Option<usize> {
        self.items.iter().position(|item| item.item_id == item_id)
    }

    /// The state the quantities and money say, and its default status when it
    /// changed; a held or cancelled order stays so.
    fn settle_state(&mut self) {
        if matches!(self.state.as_str(), "holded" | "canceled") {
            return;
        }
        let top = || {
            self.items
                .iter()
                .filter(|item| item.parent_item_id.is_none())
        };
        let refunded = self.total_refunded.unwrap_or(0);
        let state = if self.paid() && self.total_paid - refunded - self.adjustment_negative <= 0 {
            "closed"
        } else if self.paid() && top().all(|item| item.qty_to_ship() == 0) {
            "complete"
        } else if self.paid() || top().any(|item| item.qty_shipped > 0) {
            "processing"
        } else {
            "new"
        };
        if state != self.state {
            state.clone_into(&mut self.state);
            default_status(state).clone_into(&mut self.status);
        }
    }
}

/// The status Magento gives a state by default.
fn default_status(state: &str) -> &'static str {
    match state {
        "new" => "pending",
        "processing" => "processing",
        "complete" => "complete",
        "closed" => "closed",
        "canceled" => "canceled",
        "holded" => "holded",
        _ => "pending",
    }
}

/// Statuses of Magento's core and the state each belongs to.
const CORE_STATUSES: [(&str, &str); 6] = [
    ("pending", "new"),
    ("processing", "processing"),
    ("complete", "complete"),
    ("closed", "closed"),
    ("canceled", "canceled"),
    ("holded", "holded"),
];

/// An order to place with [`Magento::add_order`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub customer_email: String,
    pub customer_firstname: String,
    pub customer_lastname: String,
    pub customer_id: Option<u64>,
    pub customer_group_id: u64,
    /// Order and base currency.
    pub currency: String,
    pub lines: Vec<NewOrderLine>,
    pub shipping_incl_tax: Cents,
    /// The shipping and billing address.
    pub address: Address,
    /// Invoiced and paid when placed (state `processing`), or not (`new`).
    pub paid: bool,
}

impl NewOrder {
    /// A paid EUR order of the guest `email` (group 0), without lines or
    /// shipping yet.
    pub fn guest(email: &str, firstname: &str, lastname: &str) -> Self {
        NewOrder {
            customer_email: email.to_owned(),
            customer_firstname: firstname.to_owned(),
            customer_lastname: lastname.to_owned(),
            customer_id: None,
            customer_group_id: 0,
            currency: "EUR".to_owned(),
            lines: Vec::new(),
            shipping_incl_tax: 0,
            address: Address::new(
                firstname,
                lastname,
                "1 Main Street",
                "10115",
                "Berlin",
                "DE",
            ),
            paid: true,
        }
    }

    /// A paid EUR order of `customer`, to their first address.
    pub fn for_customer(customer: &Customer) -> Self {
        let mut order = Self::guest(&customer.email, &customer.firstname, &customer.lastname);
        order.customer_id = Some(customer.id);
        order.customer_group_id = customer.group_id;
        if let Some(address) = customer.addresses.first() {
            order.address = address.address.clone();
        }
        order
    }

    /// The same order with one more line.
    pub fn line(mut self, line: NewOrderLine) -> Self {
        self.lines.push(line);
        self
    }

    /// The same order with this shipping amount.
    pub fn shipping(mut self, shipping_incl_tax: Cents) -> Self {
        self.shipping_incl_tax = shipping_incl_tax;
        self
    }

    /// The same order, not invoiced yet (state `new`, status `pending`).
    pub fn unpaid(mut self) -> Self {
        self.paid = false;
        self
    }
}

/// A line of a [`NewOrder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrderLine {
    pub sku: String,
    pub name: String,
    pub qty: u32,
    pub price_incl_tax: Cents,
    /// For a configurable product: the chosen child's sku and name.
    pub variant: Option<(String, String)>,
}

impl NewOrderLine {
    /// `qty` of the simple product `sku` at `price_incl_tax` each.
    pub fn simple(sku: &str, name: &str, qty: u32, price_incl_tax: Cents) -> Self {
        NewOrderLine {
            sku: sku.to_owned(),
            name: name.to_owned(),
            qty,
            price_incl_tax,
            variant: None,
        }
    }

    /// `qty` of the configurable product `name`, as its child `child_sku`
    /// (`child_name`), at `price_incl_tax` each.
    pub fn configurable(
        name: &str,
        child_sku: &str,
        child_name: &str,
        qty: u32,
        price_incl_tax: Cents,
    ) -> Self {
        NewOrderLine {
            sku: child_sku.to_owned(),
            name: name.to_owned(),
            qty,
            price_incl_tax,
            variant: Some((child_sku.to_owned(), child_name.to_owned())),
        }
    }
}

/// A shipment of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipment {
    pub entity_id: u64,
    pub increment_id: String,
    pub order_id: u64,
    pub items: Vec<ShipmentItem>,
    pub tracks: Vec<ShipmentTrack>,
    pub comment: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a shipment holds of one order line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentItem {
    pub entity_id: u64,
    pub order_item_id: u64,
    pub sku: String,
    pub name: String,
    pub qty: u32,
}

/// A tracking number of a shipment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentTrack {
    pub entity_id: u64,
    pub track_number: String,
    pub title: String,
    /// `dhl`, `ups`, `fedex`, `usps` or `custom`.
    pub carrier_code: String,
}

/// A credit memo (a refund) of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditMemo {
    pub entity_id: u64,
    pub increment_id: String,
    pub order_id: u64,
    pub order_currency_code: String,
    pub items: Vec<CreditMemoItem>,
    pub shipping_amount: Cents,
    pub adjustment_positive: Cents,
    pub adjustment_negative: Cents,
    pub comments: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl CreditMemo {
    pub fn subtotal_incl_tax(&self) -> Cents {
        self.items
            .iter()
            .map(CreditMemoItem::row_total_incl_tax)
            .sum()
    }

    /// Lines, shipping and the positive adjustment, less the negative one.
    pub fn grand_total(&self) -> Cents {
        self.subtotal_incl_tax() + self.shipping_amount + self.adjustment_positive
            - self.adjustment_negative
    }
}

/// What a credit memo refunds of one order line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditMemoItem {
    pub entity_id: u64,
    pub order_item_id: u64,
    pub sku: String,
    pub name: String,
    pub qty: u32,
    pub price_incl_tax: Cents,
}

impl CreditMemoItem {
    pub fn row_total_incl_tax(&self) -> Cents {
        self.price_incl_tax * Cents::from(self.qty)
    }
}

/// A refund as a merchant makes it in the admin ([`Magento::refund_in_admin`]):
/// the same choices as `POST /V1/order/{id}/refund`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminRefund {
    /// `(order_item_id, qty)`; empty refunds every line's remaining quantity.
    pub items: Vec<(u64, u32)>,
    /// `None` refunds all the shipping not refunded yet.
    pub shipping_amount: Option<Cents>,
    pub adjustment_positive: Cents,
    pub adjustment_negative: Cents,
}

/// A return (RMA, Adobe Commerce's Magento_Rma) of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rma {
    pub entity_id: u64,
    pub increment_id: String,
    pub order_id: u64,
    pub order_increment_id: String,
    /// The order's customer; `None` for a guest's order.
    pub customer_id: Option<u64>,
    pub customer_custom_email: Option<String>,
    /// Unix seconds, UTC.
    pub date_requested: i64,
    /// Follows the items' statuses, as Magento's `getStatusByItems`:
    /// `pending`, `authorized`, `partially_authorized`, `received`,
    /// `received_on_item`, `approved_on_item`, `rejected_on_item`, `closed`
    /// or `processed_closed`.
    pub status: String,
    pub items: Vec<RmaItem>,
    /// Oldest first.
    pub comments: Vec<RmaComment>,
    /// When a client last saved it (Unix seconds). Magento's `RmaInterface`
    /// has no such field, so the API does not render it.
    pub updated_at: i64,
}

/// What an RMA takes back of one order line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RmaItem {
    pub entity_id: u64,
    /// A top-level order item (a configurable's parent, not its child).
    pub order_item_id: u64,
    /// The order line's, as Magento copies them onto the item (not rendered
    /// by the API, whose `ItemInterface` has no sku).
    pub product_sku: String,
    pub product_name: String,
    pub qty_requested: u32,
    pub qty_authorized: u32,
    pub qty_returned: u32,
    pub qty_approved: u32,
    /// The Returns attributes, as the text given (see "Simplified").
    pub reason: Option<String>,
    pub condition: Option<String>,
    pub resolution: Option<String>,
    /// One of [`RMA_ITEM_STATUSES`].
    pub status: String,
}

/// A comment of an RMA's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RmaComment {
    pub entity_id: u64,
    pub comment: String,
    pub customer_notified: bool,
    pub visible_on_front: bool,
    /// Written by the merchant's side (the admin, the API, the system), not
    /// by the customer.
    pub admin: bool,
    /// The RMA's status when it was written.
    pub status: String,
    pub created_at: i64,
}

/// The statuses of an RMA item, as Magento's `Item\Attribute\Source\Status`.
pub const RMA_ITEM_STATUSES: [&str; 6] = [
    "pending",
    "authorized",
    "received",
    "approved",
    "rejected",
    "denied",
];

/// An EAV attribute value of a product, customer or category. Magento renders
/// them as strings, and so does the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomAttribute {
    pub attribute_code: String,
    pub value: String,
}

impl CustomAttribute {
    pub fn new(attribute_code: &str, value: &str) -> Self {
        CustomAttribute {
            attribute_code: attribute_code.to_owned(),
            value: value.to_owned(),
        }
    }
}

/// A customer account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: u64,
    pub group_id: u64,
    pub email: String,
    pub firstname: String,
    pub lastname: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// `erp_customer_code`, `payment_terms`, `credit_limit`, `on_hold`, ...
    pub custom_attributes: Vec<CustomAttribute>,
    pub addresses: Vec<CustomerAddress>,
}

impl Customer {
    /// The value of the custom attribute `code`, if set.
    pub fn attribute(&self, code: &str) -> Option<&str> {
        attribute(&self.custom_attributes, code)
    }
}

/// One address of a customer's address book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerAddress {
    pub id: u64,
    pub address: Address,
    pub default_billing: bool,
    pub default_shipping: bool,
}

/// A customer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerGroup {
    pub id: u64,
    pub code: String,
    pub tax_class_id: u64,
}

/// A category of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub id: u64,
    /// 0 for `Root Catalog`.
    pub parent_id: u64,
    pub name: String,
    pub is_active: bool,
    pub position: i64,
    pub include_in_menu: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub custom_attributes: Vec<CustomAttribute>,
}

/// A product's place in a category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryLink {
    pub category_id: u64,
    pub position: i64,
}

/// A configurable product's option (`Size`) and the values its children take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigurableOption {
    pub id: u64,
    /// The attribute's id, a string as Magento sends it.
    pub attribute_id: String,
    pub label: String,
    pub position: i64,
    /// The option ids (`value_index`) of the attribute's values.
    pub values: Vec<i64>,
}

/// A related, upsell or crosssell link of a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductLink {
    /// `related`, `upsell` or `crosssell`.
    pub link_type: String,
    pub linked_product_sku: String,
    pub linked_product_type: String,
    pub position: i64,
}

/// An image of a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaEntry {
    pub id: u64,
    pub label: Option<String>,
    pub position: i64,
    pub disabled: bool,
    /// `image`, `small_image`, `thumbnail`.
    pub types: Vec<String>,
    /// `/t/e/tee.jpg`.
    pub file: String,
}

/// A product of the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    pub id: u64,
    pub sku: String,
    pub name: String,
    pub attribute_set_id: u64,
    /// The base price (store 0); 0 for a configurable product.
    pub price: Cents,
    /// 1 enabled, 2 disabled.
    pub status: u8,
    /// 1 not visible individually, 2 catalog, 3 search, 4 both.
    pub visibility: u8,
    /// `simple`, `virtual`, `configurable` or `bundle`.
    pub type_id: String,
    pub weight: Option<f64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub category_links: Vec<CategoryLink>,
    pub configurable_options: Vec<ConfigurableOption>,
    /// Product ids of a configurable's children.
    pub configurable_links: Vec<u64>,
    /// The legacy stock item: the `default` source's quantity.
    pub stock_qty: f64,
    pub is_in_stock: bool,
    pub product_links: Vec<ProductLink>,
    /// `description`, `url_key`, `size`, ...
    pub custom_attributes: Vec<CustomAttribute>,
    pub media_gallery_entries: Vec<MediaEntry>,
}

impl Product {
    /// An enabled, visible simple product at `price`, out of stock, in no
    /// category; its `created_at` and `updated_at` are 0 (a seed sets them).
    pub fn simple(id: u64, sku: &str, name: &str, price: Cents) -> Self {
        Product {
            id,
            sku: sku.to_owned(),
            name: name.to_owned(),
            attribute_set_id: 4,
            price,
            status: 1,
            visibility: 4,
            type_id: "simple".to_owned(),
            weight: None,
            created_at: 0,
            updated_at: 0,
            category_links: Vec::new(),
            configurable_options: Vec::new(),
            configurable_links: Vec::new(),
            stock_qty: 0.0,
            is_in_stock: false,
            product_links: Vec::new(),
            custom_attributes: Vec::new(),
            media_gallery_entries: Vec::new(),
        }
    }

    /// The value of the custom attribute `code`, if set.
    pub fn attribute(&self, code: &str) -> Option<&str> {
        attribute(&self.custom_attributes, code)
    }
}

/// The value of the attribute `code` among `attributes`.
fn attribute<'a>(attributes: &'a [CustomAttribute], code: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|attribute| attribute.attribute_code == code)
        .map(|attribute| attribute.value.as_str())
}

/// An MSI source (a warehouse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub source_code: String,
    pub name: String,
    pub enabled: bool,
    pub country_id: String,
    pub postcode: String,
}

/// What one source holds of one sku.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceItem {
    pub sku: String,
    pub source_code: String,
    pub quantity: f64,
    /// 1 in stock, 0 out of stock.
    pub status: u8,
}

/// How a tier price is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceType {
    /// `price` is the unit price.
    Fixed,
    /// `price` is a percentage off the base price (in hundredths: 1050 is 10.5 %).
    Discount,
}

impl PriceType {
    fn code(self) -> &'static str {
        match self {
            PriceType::Fixed => "fixed",
            PriceType::Discount => "discount",
        }
    }
}

/// A tier price: `price` from `quantity` units for `customer_group` on
/// `website_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct TierPrice {
    pub sku: String,
    pub website_id: u64,
    /// The group's code, or [`ALL_GROUPS`].
    pub customer_group: String,
    pub quantity: f64,
    pub price_type: PriceType,
    pub price: Cents,
}

impl TierPrice {
    /// Whether `other` is the same price row: same sku, website, group and
    /// quantity.
    fn same_row(&self, other: &TierPrice) -> bool {
        self.sku.eq_ignore_ascii_case(&other.sku)
            && self.website_id == other.website_id
            && self
                .customer_group
                .eq_ignore_ascii_case(&other.customer_group)
            && self.quantity == other.quantity
    }
}

/// An admin user who can get an admin token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminUser {
    pub user_id: u64,
    pub username: String,
    pub password: String,
}

/// Writes clients applied through the API, per entity (what a merchant does in
/// the admin, or a test through the handle, is not counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Writes {
    /// Comments added to orders.
    pub order_comments: u64,
    /// Holds, unholds and cancellations that changed an order.
    pub order_actions: u64,
    pub shipments: u64,
    pub credit_memos: u64,
    /// RMAs created or updated (`POST` and `PUT /V1/returns`).
    pub returns: u64,
    pub customers: u64,
    pub customer_groups: u64,
    pub categories: u64,
    /// Products saved or deleted, synchronously or by an async bulk operation.
    pub products: u64,
    pub source_items: u64,
    /// Tier price rows added, updated, replaced or deleted.
    pub tier_prices: u64,
    pub base_prices: u64,
}

/// One request as the instance answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub arrived: Instant,
    pub method: String,
    /// The path as sent, without the query.
    pub path: String,
    pub status: u16,
}

/// What a scripted request answers instead of, or on top of, the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answers this status and does nothing (see the module documentation for
    /// the bodies).
    Status(u16),
    /// Answers `429` with `Retry-After: <retry_after_secs>` and does nothing.
    RateLimited { retry_after_secs: u64 },
    /// Waits `ms` milliseconds, then serves the request, also when the client
    /// gave up meanwhile.
    Slow { ms: u64 },
    /// Serves the request, then sends half of its answer under a
    /// `Content-Length` of the whole and closes the connection.
    ShortBody,
    /// Serves the request, then answers the first half of its JSON, with a
    /// `Content-Length` that matches what is sent.
    TruncatedJson,
    /// Serves the request as usual.
    Pass,
}

/// A queued fault and the routes it applies to.
#[derive(Debug, Clone)]
struct ScriptedFault {
    fault: Fault,
    /// `/V1/order/`: only routes that start so; `None` for any request.
    prefix: Option<String>,
}

/// What the instance starts with.
#[derive(Debug, Clone)]
pub struct MagentoSeed {
    pub admin_users: Vec<AdminUser>,
    pub customer_groups: Vec<CustomerGroup>,
    pub categories: Vec<Category>,
    pub products: Vec<Product>,
    pub customers: Vec<Customer>,
    pub sources: Vec<Source>,
    pub source_items: Vec<SourceItem>,
    pub tier_prices: Vec<TierPrice>,
    pub orders: Vec<Order>,
    pub shipments: Vec<Shipment>,
}

impl Default for MagentoSeed {
    fn default() -> Self {
        Self::empty()
    }
}

// ---------------------------------------------------------------------------
// Answers and errors
// ---------------------------------------------------------------------------

/// An error answer in Magento's shape.
#[derive(Debug, Clone)]
struct Failure {
    status: StatusCode,
    body: Value,
}

impl Failure {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Failure {
            status,
            body: json!({ "message": message.into() }),
        }
    }

    /// `message` with its placeholders' `parameters` (an object or a list).
    fn with(status: StatusCode, message: &str, parameters: Value) -> Self {
        Failure {
            status,
            body: json!({ "message": message, "parameters": parameters }),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn entity_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, ENTITY_NOT_FOUND)
    }

    fn product_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, PRODUCT_NOT_FOUND)
    }

    /// Magento's `NoSuchEntityException::singleField`.
    fn no_such_entity(field: &str, value: impl Into<Value>) -> Self {
        Self::with(
            StatusCode::NOT_FOUND,
            "No such entity with %fieldName = %fieldValue",
            json!({ "fieldName": field, "fieldValue": value.into() }),
        )
    }

    /// A required input is missing: Magento's `InputException::requiredField`.
    fn required(field: &str) -> Self {
        Self::with(
            StatusCode::BAD_REQUEST,
            "\"%fieldName\" is required. Enter and try again.",
            json!({ "fieldName": field }),
        )
    }

    /// Magento's `InputException::invalidFieldValue`.
    fn invalid(field: &str, value: impl Into<Value>) -> Self {
        Self::with(
            StatusCode::BAD_REQUEST,
            "Invalid value of \"%value\" provided for the %fieldName field.",
            json!({ "value": value.into(), "fieldName": field }),
        )
    }

    /// A sales document (`Shipment`, `Creditmemo`) its validators refused.
    fn document(kind: &str, messages: &[String]) -> Self {
        Self::bad_request(format!(
            "{kind} Document Validation Error(s):\n{}",
            messages.join("\n")
        ))
    }

    /// The message with its placeholders filled in, as the bulk status reports
    /// a failed operation.
    fn message(&self) -> String {
        let mut message = self.body["message"].as_str().unwrap_or_default().to_owned();
        match &self.body["parameters"] {
            Value::Object(parameters) => {
                for (name, value) in parameters {
                    message = message.replace(&format!("%{name}"), &plain(value));
                }
            }
            Value::Array(parameters) => {
                for (i, value) in parameters.iter().enumerate().rev() {
                    message = message.replace(&format!("%{}", i + 1), &plain(value));
                }
            }
            _ => {}
        }
        message
    }
}

/// What a route answers: the JSON of a success, or a [`Failure`].
type Answer = Result<Value, Failure>;

/// A JSON value as text: a string without quotes.
fn plain(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A string, or a number or boolean written as one (PHP takes both).
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(if *flag { "1" } else { "0" }.to_owned()),
        _ => None,
    }
}

/// A whole number, given as a JSON number (`2`, `2.0`) or a numeric string.
fn whole(value: &Value) -> Option<i64> {
    let cents = cents_of(value)?;
    (cents % 100 == 0).then_some(cents / 100)
}

/// A non-negative id or quantity.
fn unsigned(value: &Value) -> Option<u64> {
    whole(value).and_then(|n| u64::try_from(n).ok())
}

/// A decimal number (a quantity of stock or a tier's threshold).
fn decimal(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// A boolean as PHP reads one: `true`, `1`, `"1"`, `"true"`.
fn flag(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::Number(number) => number.as_f64().map(|n| n != 0.0),
        Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
            "1" | "true" => Some(true),
            "0" | "false" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// `{"custom_attributes": [{"attribute_code", "value"}]}` as attributes; a
/// `null` value is `None` (remove it).
fn custom_attributes(value: &Value) -> Result<Vec<(String, Option<String>)>, Failure> {
    let Some(entries) = value.as_array() else {
        return Err(Failure::invalid("custom_attributes", value.clone()));
    };
    entries
        .iter()
        .map(|entry| {
            let code = entry
                .get("attribute_code")
                .and_then(Value::as_str)
                .filter(|code| !code.is_empty())
                .ok_or_else(|| Failure::required("attribute_code"))?;
            let value = match entry.get("value") {
                None | Some(Value::Null) => None,
                Some(Value::Array(values)) => {
                    Some(values.iter().filter_map(text).collect::<Vec<_>>().join(","))
                }
                Some(value) => text(value),
            };
            Ok((code.to_owned(), value))
        })
        .collect()
}

/// Sets, replaces or (for `None`) removes attributes by code.
fn merge_attributes(target: &mut Vec<CustomAttribute>, changes: Vec<(String, Option<String>)>) {
    for (code, value) in changes {
        let at = target.iter().position(|a| a.attribute_code == code);
        match (at, value) {
            (Some(at), Some(value)) => target[at].value = value,
            (Some(at), None) => {
                target.remove(at);
            }
            (None, Some(value)) => target.push(CustomAttribute {
                attribute_code: code,
                value,
            }),
            (None, None) => {}
        }
    }
}

fn attributes_json(attributes: &[CustomAttribute]) -> Value {
    attributes
        .iter()
        .map(|a| json!({ "attribute_code": a.attribute_code, "value": a.value }))
        .collect()
}

/// The JSON body, or `400` when it does not parse.
fn body_json(body: &[u8]) -> Result<Value, Failure> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body)
        .map_err(|err| Failure::bad_request(format!("Decoding error: {err}")))
}

/// The member `name` of the object `body`, required.
fn member<'a>(body: &'a Value, name: &str) -> Result<&'a Value, Failure> {
    match body.get(name) {
        Some(value) if !value.is_null() => Ok(value),
        _ => Err(Failure::required(name)),
    }
}

/// An answer as sent: status, content type, body and, for a `429`, the
/// seconds of `Retry-After`.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    content_type: &'static str,
    body: Vec<u8>,
    retry_after: Option<u64>,
}

impl Reply {
    fn json(status: StatusCode, body: &Value) -> Self {
        Reply {
            status,
            content_type: "application/json; charset=utf-8",
            body: body.to_string().into_bytes(),
            retry_after: None,
        }
    }

    fn of(answer: Answer) -> Self {
        match answer {
            Ok(body) => Self::json(StatusCode::OK, &body),
            Err(failure) => Self::json(failure.status, &failure.body),
        }
    }

    /// `429`, as Fastly answers it in front of Adobe Commerce Cloud: plain text,
    /// with `Retry-After`.
    fn too_many(retry_after_secs: u64) -> Self {
        Reply {
            status: StatusCode::TOO_MANY_REQUESTS,
            content_type: "text/plain; charset=utf-8",
            body: b"Too Many Requests".to_vec(),
            retry_after: Some(retry_after_secs),
        }
    }

    /// The answer of [`Fault::Status`]: Magento's internal error for `500`, a
    /// gateway's HTML page for `502` to `504`, Magento's shape otherwise.
    fn scripted(status: StatusCode) -> Self {
        match status.as_u16() {
            429 => Self::too_many(1),
            500 => Self::json(
                status,
                &json!({ "message": format!(
                    "Internal Error. Details are available in Magento log file. Report ID: webapi-{}",
                    random_hex(13)
                ) }),
            ),
            502..=504 => {
                let title = format!(
                    "{} {}",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("Error")
                );
                Reply {
                    status,
                    content_type: "text/html; charset=utf-8",
                    body: format!(
                        "<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
                    )
                    .into_bytes(),
                    retry_after: None,
                }
            }
            _ => Self::json(
                status,
                &json!({ "message": status.canonical_reason().unwrap_or("Error") }),
            ),
        }
    }

    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        if let Some(secs) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        headers
    }

    fn into_response(self) -> Response {
        (self.status, self.headers(), self.body).into_response()
    }

    /// Half the body, sent under a `Content-Length` of the whole: hyper ends
    /// the connection when the body stops short, as a dropped proxy would.
    ///
    /// Hyper drops what it buffered when a body ends short, and flushes before
    /// it reads the body again only once its write buffer is full; so the half
    /// is led by [`FLUSH_PADDING`] bytes of JSON whitespace (which a parser
    /// skips), and the client receives the headers and what was sent.
    fn cut_short(self) -> Response {
        let mut sent = vec![b' '; FLUSH_PADDING];
        sent.extend_from_slice(&self.body[..self.body.len() / 2]);
        let declared = FLUSH_PADDING + self.body.len();
        // A stream has no known length, so hyper takes the declared one.
        let body = Body::from_stream(Body::from(sent).into_data_stream());
        let mut headers = self.headers();
        headers.insert(CONTENT_LENGTH, HeaderValue::from(declared));
        (self.status, headers, body).into_response()
    }

    /// The first half of the body, with a matching `Content-Length`.
    fn truncated(self) -> Response {
        let half = self.body.len() / 2;
        (self.status, self.headers(), self.body[..half].to_vec()).into_response()
    }
}

/// `count` random lowercase hex digits.
fn random_hex(count: usize) -> String {
    std::iter::repeat_with(|| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0'))
        .take(count)
        .collect()
}

/// A random RFC 4122 version 4 UUID, as Magento's bulk ids are.
fn random_uuid() -> String {
    let hex = random_hex(32);
    let variant = char::from_digit(8 + fastrand::u32(0..4), 16).unwrap_or('8');
    format!(
        "{}-{}-4{}-{variant}{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// The hex SHA-256 of `data`: an async request item's `data_hash`.
fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(data)
        .iter()
        .fold(String::with_capacity(64), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

// ---------------------------------------------------------------------------
// searchCriteria
// ---------------------------------------------------------------------------

/// The condition types the sandbox understands.
const CONDITION_TYPES: [&str; 17] = [
    "eq", "neq", "gt", "gteq", "moreq", "lt", "lteq", "from", "to", "in", "nin", "like", "nlike",
    "null", "notnull", "finset", "nfinset",
];

/// One filter of a filter group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Filter {
    field: String,
    value: String,
    condition_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SortOrder {
    field: String,
    descending: bool,
}

/// A parsed `searchCriteria`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct SearchCriteria {
    /// AND'ed groups of OR'ed filters.
    filter_groups: Vec<Vec<Filter>>,
    sort_orders: Vec<SortOrder>,
    page_size: Option<usize>,
    current_page: Option<usize>,
}

/// `pageSize` as `page_size`: Magento reads both spellings.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The bracketed segments of a `searchCriteria[...][...]` key, snake_cased;
/// `None` for another key.
fn criteria_path(key: &str) -> Option<Vec<String>> {
    let mut rest = key.strip_prefix("searchCriteria")?;
    let mut segments = Vec::new();
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let end = inner.find(']')?;
        segments.push(snake_case(&inner[..end]));
        rest = &inner[end + 1..];
    }
    Some(segments)
}

impl SearchCriteria {
    /// The criteria of a query; `required` answers `400` when there is none.
    fn parse(query: &[(String, String)], required: bool) -> Result<SearchCriteria, Failure> {
        let mut present = false;
        let mut groups: BTreeMap<usize, BTreeMap<usize, Filter>> = BTreeMap::new();
        let mut sorts: BTreeMap<usize, SortOrder> = BTreeMap::new();
        let mut criteria = SearchCriteria::default();
        let index = |text: &str| text.parse::<usize>().ok();
        for (key, value) in query {
            let Some(path) = criteria_path(key) else {
                continue;
            };
            present = true;
            let segments: Vec<&str> = path.iter().map(String::as_str).collect();
            match segments.as_slice() {
                ["filter_groups", group, "filters", filter, part] => {
                    let (Some(group), Some(filter)) = (index(group), index(filter)) else {
                        return Err(Failure::invalid("filter_groups", key.clone()));
                    };
                    let entry = groups.entry(group).or_default().entry(filter).or_default();
                    match *part {
                        "field" => entry.field.clone_from(value),
                        "value" => entry.value.clone_from(value),
                        "condition_type" => {
                            entry.condition_type = value.trim().to_ascii_lowercase()
                        }
                        _ => {}
                    }
                }
                ["sort_orders", sort, part] => {
                    let Some(sort) = index(sort) else {
                        return Err(Failure::invalid("sort_orders", key.clone()));
                    };
                    let entry = sorts.entry(sort).or_insert(SortOrder {
                        field: String::new(),
                        descending: false,
                    });
                    match *part {
                        "field" => entry.field.clone_from(value),
                        "direction" => match value.trim().to_ascii_uppercase().as_str() {
                            "ASC" => entry.descending = false,
                            "DESC" => entry.descending = true,
                            _ => return Err(Failure::invalid("direction", value.clone())),
                        },
                        _ => {}
                    }
                }
                ["page_size"] => {
                    let size = value
                        .trim()
                        .parse()
                        .map_err(|_| Failure::invalid("pageSize", value.clone()))?;
                    criteria.page_size = Some(size);
                }
                ["current_page"] => {
                    let page = value
                        .trim()
                        .parse()
                        .map_err(|_| Failure::invalid("currentPage", value.clone()))?;
                    criteria.current_page = Some(page);
                }
                _ => {}
            }
        }
        if required && !present {
            return Err(Failure::required("searchCriteria"));
        }
        for filters in groups.into_values() {
            let mut group = Vec::new();
            for mut filter in filters.into_values() {
                if filter.field.is_empty() {
                    continue;
                }
                if filter.condition_type.is_empty() {
                    "eq".clone_into(&mut filter.condition_type);
                }
                if !CONDITION_TYPES.contains(&filter.condition_type.as_str()) {
                    return Err(Failure::invalid("condition_type", filter.condition_type));
                }
                group.push(filter);
            }
            if !group.is_empty() {
                criteria.filter_groups.push(group);
            }
        }
        criteria.sort_orders = sorts
            .into_values()
            .filter(|sort| !sort.field.is_empty())
            .collect();
        Ok(criteria)
    }

    /// The `search_criteria` of the answer: what was asked.
    fn echo(&self) -> Value {
        let groups: Vec<Value> = self
            .filter_groups
            .iter()
            .map(|filters| {
                let filters: Vec<Value> = filters
                    .iter()
                    .map(|f| {
                        json!({ "field": f.field, "value": f.value, "condition_type": f.condition_type })
                    })
                    .collect();
                json!({ "filters": filters })
            })
            .collect();
        let mut echo = json!({ "filter_groups": groups });
        if !self.sort_orders.is_empty() {
            echo["sort_orders"] = self
                .sort_orders
                .iter()
                .map(|s| {
                    json!({ "field": s.field, "direction": if s.descending { "DESC" } else { "ASC" } })
                })
                .collect();
        }
        if let Some(size) = self.page_size {
            echo["page_size"] = size.into();
        }
        if let Some(page) = self.current_page {
            echo["current_page"] = page.into();
        }
        echo
    }

    /// Filters, sorts and pages `items` (in entity id order) into Magento's
    /// search result. Sorting is stable, so ties keep the id order; a page past
    /// the last one answers the last one, as Magento's collections do.
    fn search(&self, items: Vec<Value>) -> Value {
        let mut matching: Vec<Value> = items
            .into_iter()
            .filter(|item| {
                self.filter_groups
                    .iter()
                    .all(|group| group.iter().any(|filter| filter.matches(item)))
            })
            .collect();
        // Last key first: each stable sort keeps the order of the keys after it.
        for sort in self.sort_orders.iter().rev() {
            matching.sort_by(|a, b| {
                let order = compare_fields(
                    field_values(a, &sort.field).first(),
                    field_values(b, &sort.field).first(),
                );
                if sort.descending {
                    order.reverse()
                } else {
                    order
                }
            });
        }
        let total = matching.len();
        let items: Vec<Value> = match self.page_size.filter(|size| *size > 0) {
            None => matching,
            Some(size) => {
                let last = total.div_ceil(size).max(1);
                let page = self.current_page.unwrap_or(1).clamp(1, last);
                matching
                    .into_iter()
                    .skip((page - 1) * size)
                    .take(size)
                    .collect()
            }
        };
        json!({ "items": items, "search_criteria": self.echo(), "total_count": total })
    }
}

/// The values of `field` on a listed entity: a top-level key, else a custom
/// attribute; `category_id` is a product's category links. Empty is `NULL`.
fn field_values(item: &Value, field: &str) -> Vec<Value> {
    match item.get(field) {
        Some(Value::Null) => Vec::new(),
        Some(value) => vec![value.clone()],
        None if field == "category_id" => item["extension_attributes"]["category_links"]
            .as_array()
            .map(|links| links.iter().map(|l| l["category_id"].clone()).collect())
            .unwrap_or_default(),
        None => item["custom_attributes"]
            .as_array()
            .and_then(|attributes| {
                attributes
                    .iter()
                    .find(|a| a["attribute_code"] == field)
                    .map(|a| vec![a["value"].clone()])
            })
            .unwrap_or_default(),
    }
}

/// How a field's value compares to a filter's text: as numbers for a number,
/// as times when both are times, else as text, case-insensitively.
fn compare_value(field: &Value, filter: &str) -> Option<Ordering> {
    match field {
        Value::Number(number) => number.as_f64()?.partial_cmp(&filter.trim().parse().ok()?),
        Value::Bool(flag) => f64::from(u8::from(*flag)).partial_cmp(&filter.trim().parse().ok()?),
        Value::String(text) => match (parse_time(text), parse_time(filter)) {
            (Some(at), Some(bound)) if text.len() >= 10 => Some(at.cmp(&bound)),
            _ => Some(text.to_lowercase().cmp(&filter.to_lowercase())),
        },
        _ => None,
    }
}

/// SQL `LIKE`, case-insensitive: `%` any run, `_` one character.
fn like(text: &str, pattern: &str) -> bool {
    fn matches(text: &[char], pattern: &[char]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some(('%', rest)) => (0..=text.len()).any(|skip| matches(&text[skip..], rest)),
            Some(('_', rest)) => !text.is_empty() && matches(&text[1..], rest),
            Some((c, rest)) => text.first() == Some(c) && matches(&text[1..], rest),
        }
    }
    let text: Vec<char> = text.to_lowercase().chars().collect();
    let pattern: Vec<char> = pattern.to_lowercase().chars().collect();
    matches(&text, &pattern)
}

impl Filter {
    /// Whether `item` passes, with SQL's `NULL` semantics: a missing field
    /// passes `null` only.
    fn matches(&self, item: &Value) -> bool {
        let values = field_values(item, &self.field);
        let positive = |condition: &str| values.iter().any(|v| self.holds(v, condition));
        match self.condition_type.as_str() {
            "null" => values.is_empty(),
            "notnull" => !values.is_empty(),
            "neq" => !values.is_empty() && !positive("eq"),
            "nin" => !values.is_empty() && !positive("in"),
            "nlike" => !values.is_empty() && !positive("like"),
            "nfinset" => !values.is_empty() && !positive("finset"),
            condition => positive(condition),
        }
    }

    fn holds(&self, value: &Value, condition: &str) -> bool {
        let compared = |bound: &str| compare_value(value, bound);
        match condition {
            "eq" => compared(&self.value) == Some(Ordering::Equal),
            "gt" => compared(&self.value) == Some(Ordering::Greater),
            "gteq" | "moreq" | "from" => {
                matches!(
                    compared(&self.value),
                    Some(Ordering::Greater | Ordering::Equal)
                )
            }
            "lt" => compared(&self.value) == Some(Ordering::Less),
            "lteq" | "to" => matches!(
                compared(&self.value),
                Some(Ordering::Less | Ordering::Equal)
            ),
            "in" => self
                .value
                .split(',')
                .any(|part| compared(part.trim()) == Some(Ordering::Equal)),
            "like" => like(&plain(value), &self.value),
            "finset" => plain(value)
                .split(',')
                .any(|part| part.trim().eq_ignore_ascii_case(self.value.trim())),
            _ => false,
        }
    }
}

/// The sort order of two fields' values; `NULL` first, as MySQL sorts it.
fn compare_fields(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(Value::Number(a)), Some(Value::Number(b))) => a
            .as_f64()
            .partial_cmp(&b.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(a), Some(b)) => plain(a).to_lowercase().cmp(&plain(b).to_lowercase()),
    }
}

// ---------------------------------------------------------------------------
// The instance
// ---------------------------------------------------------------------------

/// Who a request acts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Principal {
    Integration,
    Admin(u64),
}

impl Principal {
    /// The bulk status's `user_type` and `user_id`.
    fn user(self) -> (u8, u64) {
        match self {
            Principal::Integration => (1, INTEGRATION_USER_ID),
            Principal::Admin(user_id) => (2, user_id),
        }
    }
}

/// An accepted async bulk request.
#[derive(Debug, Clone)]
struct Bulk {
    user_type: u8,
    user_id: u64,
    start_time: i64,
    operations: Vec<BulkOperation>,
}

#[derive(Debug, Clone)]
struct BulkOperation {
    id: u64,
    /// 1 complete, 3 failed, 4 open, 5 rejected.
    status: u8,
    result_message: Option<String>,
    error_code: Option<i64>,
    /// The `product` to save.
    product: Value,
}

/// The last id given per entity; the next is one more.
#[derive(Debug, Default)]
struct Ids {
    order: u64,
    order_item: u64,
    history: u64,
    shipment: u64,
    shipment_item: u64,
    track: u64,
    credit_memo: u64,
    credit_memo_item: u64,
    rma: u64,
    rma_item: u64,
    rma_comment: u64,
    address: u64,
    group: u64,
    category: u64,
    product: u64,
    media: u64,
    option: u64,
    operation: u64,
}

/// The largest of `ids`, 0 for none: where a seed's ids leave the counter.
fn max_id(ids: impl Iterator<Item = u64>) -> u64 {
    ids.max().unwrap_or(0)
}

fn next(counter: &mut u64) -> u64 {
    *counter += 1;
    *counter
}

/// Everything the instance holds.
#[derive(Debug)]
struct Instance {
    clock: Clock,
    integration_token: String,
    admin_users: Vec<AdminUser>,
    /// Issued admin tokens: user id and issue second.
    admin_tokens: HashMap<String, (u64, i64)>,
    admin_token_ttl: Duration,
    customer_groups: BTreeMap<u64, CustomerGroup>,
    customers: BTreeMap<u64, Customer>,
    categories: BTreeMap<u64, Category>,
    products: BTreeMap<u64, Product>,
    sources: Vec<Source>,
    /// In the order they were first saved.
    source_items: Vec<SourceItem>,
    tier_prices: Vec<TierPrice>,
    orders: BTreeMap<u64, Order>,
    shipments: BTreeMap<u64, Shipment>,
    credit_memos: BTreeMap<u64, CreditMemo>,
    returns: BTreeMap<u64, Rma>,
    bulks: HashMap<String, Bulk>,
    bulk_delay: Duration,
    ids: Ids,
    script: VecDeque<ScriptedFault>,
    rate: Option<RateWindow>,
    requests: Vec<RequestRecord>,
    writes: Writes,
}

type Shared = Arc<Mutex<Instance>>;

impl Instance {
    fn new(integration_token: &str, seed: MagentoSeed) -> Instance {
        let ids = Ids {
            order: max_id(seed.orders.iter().map(|o| o.entity_id)),
            order_item: max_id(
                seed.orders
                    .iter()
                    .flat_map(|o| o.items.iter().map(|i| i.item_id)),
            ),
            history: max_id(
                seed.orders
                    .iter()
                    .flat_map(|o| o.status_histories.iter().map(|h| h.entity_id)),
            ),
            shipment: max_id(seed.shipments.iter().map(|s| s.entity_id)),
            shipment_item: max_id(
                seed.shipments
                    .iter()
                    .flat_map(|s| s.items.iter().map(|i| i.entity_id)),
            ),
            track: max_id(
                seed.shipments
                    .iter()
                    .flat_map(|s| s.tracks.iter().map(|t| t.entity_id)),
            ),
            credit_memo: 0,
            credit_memo_item: 0,
            rma: 0,
            rma_item: 0,
            rma_comment: 0,
            address: max_id(
                seed.customers
                    .iter()
                    .flat_map(|c| c.addresses.iter().map(|a| a.id)),
            ),
            group: max_id(seed.customer_groups.iter().map(|g| g.id)),
            category: max_id(seed.categories.iter().map(|c| c.id)),
            product: max_id(seed.products.iter().map(|p| p.id)),
            media: max_id(
                seed.products
                    .iter()
                    .flat_map(|p| p.media_gallery_entries.iter().map(|m| m.id)),
            ),
            option: max_id(
                seed.products
                    .iter()
                    .flat_map(|p| p.configurable_options.iter().map(|o| o.id)),
            ),
            operation: 0,
        };
        Instance {
            clock: Clock::default(),
            integration_token: integration_token.to_owned(),
            admin_users: seed.admin_users,
            admin_tokens: HashMap::new(),
            admin_token_ttl: ADMIN_TOKEN_TTL,
            customer_groups: seed
                .customer_groups
                .into_iter()
                .map(|g| (g.id, g))
                .collect(),
            customers: seed.customers.into_iter().map(|c| (c.id, c)).collect(),
            categories: seed.categories.into_iter().map(|c| (c.id, c)).collect(),
            products: seed.products.into_iter().map(|p| (p.id, p)).collect(),
            sources: seed.sources,
            source_items: seed.source_items,
            tier_prices: seed.tier_prices,
            orders: seed.orders.into_iter().map(|o| (o.entity_id, o)).collect(),
            shipments: seed
                .shipments
                .into_iter()
                .map(|s| (s.entity_id, s))
                .collect(),
            credit_memos: BTreeMap::new(),
            returns: BTreeMap::new(),
            bulks: HashMap::new(),
            bulk_delay: DEFAULT_BULK_DELAY,
            ids,
            script: VecDeque::new(),
            rate: None,
            requests: Vec::new(),
            writes: Writes::default(),
        }
    }

    fn product_by_sku(&self, sku: &str) -> Option<&Product> {
        self.products
            .values()
            .find(|product| product.sku.eq_ignore_ascii_case(sku))
    }

    fn product_id_by_sku(&self, sku: &str) -> Option<u64> {
        self.product_by_sku(sku).map(|product| product.id)
    }

    fn group_by_code(&self, code: &str) -> Option<&CustomerGroup> {
        self.customer_groups
            .values()
            .find(|group| group.code.eq_ignore_ascii_case(code))
    }

    /// The first fault of the script that applies to `route`, taken off it.
    fn take_fault(&mut self, route: &str) -> Option<Fault> {
        let at = self.script.iter().position(|scripted| {
            scripted
                .prefix
                .as_deref()
                .is_none_or(|prefix| route.starts_with(prefix))
        })?;
        self.script.remove(at).map(|scripted| scripted.fault)
    }

    // --- Authentication -----------------------------------------------------

    /// Who `bearer` is: the integration, an admin whose token has not
    /// expired on the instance's clock, or nobody.
    fn authenticate(&self, bearer: Option<&str>) -> Option<Principal> {
        let token = bearer?;
        if token == self.integration_token {
            return Some(Principal::Integration);
        }
        let (user_id, issued_at) = self.admin_tokens.get(token)?;
        let ttl = i64::try_from(self.admin_token_ttl.as_secs()).unwrap_or(i64::MAX);
        (self.clock.now() - issued_at < ttl).then_some(Principal::Admin(*user_id))
    }

    /// `POST /V1/integration/admin/token`.
    fn issue_admin_token(&mut self, body: &[u8]) -> Answer {
        let body = body_json(body)?;
        let field = |name: &str| {
            body.get(name)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
        };
        let missing: Vec<Value> = ["username", "password"]
            .into_iter()
            .filter(|name| field(name).is_none())
            .map(|name| {
                json!({
                    "message": "\"%fieldName\" is required. Enter and try again.",
                    "parameters": { "fieldName": name },
                })
            })
            .collect();
        if !missing.is_empty() {
            return Err(Failure {
                status: StatusCode::BAD_REQUEST,
                body: json!({ "message": "One or more input exceptions have occurred.", "errors": missing }),
            });
        }
        let user = self
            .admin_users
            .iter()
            .find(|user| Some(user.username.as_str()) == field("username"))
            .filter(|user| Some(user.password.as_str()) == field("password"))
            .ok_or_else(|| {
                Failure::new(
                    StatusCode::UNAUTHORIZED,
                    "The account sign-in was incorrect or your account is disabled temporarily. \
                     Please wait and try again later.",
                )
            })?;
        let token: String =
            std::iter::repeat_with(|| fastrand::alphanumeric().to_ascii_lowercase())
                .take(TOKEN_LEN)
                .collect();
        self.admin_tokens
            .insert(token.clone(), (user.user_id, self.clock.now()));
        Ok(Value::String(token))
    }
}

/// The ACL resource Magento names in the `401` of a route.
fn acl_resource(route: &[&str]) -> &'static str {
    match route {
        ["V1", "order", _, "ship"] => "Magento_Sales::ship",
        ["V1", "order", _, "refund"] | ["V1", "creditmemo" | "creditmemos", ..] => {
            "Magento_Sales::sales_creditmemo"
        }
        ["V1", "orders", _, "comments"] => "Magento_Sales::comment",
        ["V1", "orders", _, "hold"] => "Magento_Sales::hold",
        ["V1", "orders", _, "unhold"] => "Magento_Sales::unhold",
        ["V1", "orders", _, "cancel"] => "Magento_Sales::cancel",
        ["V1", "shipment" | "shipments", ..] => "Magento_Sales::shipment",
        ["V1", "returns", ..] => "Magento_Rma::magento_rma",
        ["V1", "customerGroups", ..] => "Magento_Customer::group",
        ["V1", "customers", ..] => "Magento_Customer::customer",
        ["V1", "categories", ..] => "Magento_Catalog::categories",
        ["V1", "products", ..] | ["V1", "async", ..] => "Magento_Catalog::products",
        ["V1", "bulk", ..] => "Magento_Logging::system_magento_logging_bulk_operations",
        ["V1", "inventory", "sources", ..] => "Magento_InventoryApi::source",
        ["V1", "inventory", ..] => "Magento_InventoryApi::source_item",
        _ => "Magento_Sales::actions_view",
    }
}

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

/// `10` for `10.0`, else the decimal: how Magento renders quantities.
fn number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        Value::from(value as i64)
    } else {
        serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
    }
}

/// Adds the members of the object `more` to the object `target`.
fn extend(target: &mut Value, more: Value) {
    if let (Value::Object(target), Value::Object(more)) = (target, more) {
        target.extend(more);
    }
}

fn order_item_json(order: &Order, item: &OrderItem) -> Value {
    let price = money(item.price_incl_tax);
    let row = money(item.row_total_incl_tax());
    let mut json = json!({
        "item_id": item.item_id,
        "order_id": order.entity_id,
        "store_id": 1,
        "sku": item.sku,
        "name": item.name,
        "product_type": item.product_type,
        "is_virtual": 0,
        "qty_ordered": item.qty_ordered,
        "qty_invoiced": if order.paid() { item.qty_ordered } else { 0 },
        "qty_shipped": item.qty_shipped,
        "qty_refunded": item.qty_refunded,
        "qty_canceled": item.qty_canceled,
        "qty_returned": item.qty_returned,
        "price": price,
        "base_price": price,
        "original_price": price,
        "price_incl_tax": price,
        "base_price_incl_tax": price,
        "row_total": row,
        "base_row_total": row,
        "row_total_incl_tax": row,
        "base_row_total_incl_tax": row,
        "amount_refunded": money(item.price_incl_tax * Cents::from(item.qty_refunded)),
        "tax_amount": 0,
        "tax_percent": 0,
        "discount_amount": 0,
        "created_at": magento_time(order.created_at),
        "updated_at": magento_time(order.updated_at),
    });
    if let Some(product_id) = item.product_id {
        json["product_id"] = product_id.into();
    }
    if let Some(parent_id) = item.parent_item_id {
        json["parent_item_id"] = parent_id.into();
        if let Some(parent) = order.items.iter().find(|i| i.item_id == parent_id) {
            json["parent_item"] = order_item_json(order, parent);
        }
    }
    json
}

fn order_json(order: &Order) -> Value {
    let items: Vec<Value> = order
        .items
        .iter()
        .map(|item| order_item_json(order, item))
        .collect();
    let subtotal = money(order.subtotal_incl_tax());
    let grand_total = money(order.grand_total());
    let shipping = money(order.shipping_incl_tax);
    let address = |address: &Address, kind: &str, id: u64| {
        let mut json = address.json();
        json.insert("address_type".into(), kind.into());
        json.insert("entity_id".into(), id.into());
        json.insert("parent_id".into(), order.entity_id.into());
        json.insert("email".into(), order.customer_email.clone().into());
        Value::Object(json)
    };
    let histories: Vec<Value> = order
        .status_histories
        .iter()
        .rev()
        .map(|history| {
            json!({
                "entity_id": history.entity_id,
                "parent_id": order.entity_id,
                "entity_name": "order",
                "comment": history.comment,
                "status": history.status,
                "is_customer_notified": history.is_customer_notified.map(u8::from),
                "is_visible_on_front": u8::from(history.is_visible_on_front),
                "created_at": magento_time(history.created_at),
            })
        })
        .collect();
    let top = order
        .items
        .iter()
        .filter(|item| item.parent_item_id.is_none());
    let mut json = json!({
        "entity_id": order.entity_id,
        "increment_id": order.increment_id,
        "state": order.state,
        "status": order.status,
        "store_id": 1,
        "store_name": "Main Website\nMain Website Store\nDefault Store View",
        "order_currency_code": order.order_currency_code,
        "base_currency_code": order.base_currency_code,
        "global_currency_code": order.base_currency_code,
        "store_currency_code": order.base_currency_code,
        "customer_email": order.customer_email,
        "customer_firstname": order.customer_firstname,
        "customer_lastname": order.customer_lastname,
        "customer_group_id": order.customer_group_id,
        "customer_is_guest": u8::from(order.customer_id.is_none()),
        "grand_total": grand_total,
        "base_grand_total": grand_total,
        "subtotal": subtotal,
        "base_subtotal": subtotal,
        "subtotal_incl_tax": subtotal,
        "base_subtotal_incl_tax": subtotal,
        "shipping_amount": shipping,
        "base_shipping_amount": shipping,
        "shipping_incl_tax": shipping,
        "base_shipping_incl_tax": shipping,
        "shipping_description": order.shipping_description,
        "tax_amount": 0,
        "base_tax_amount": 0,
        "discount_amount": 0,
        "base_discount_amount": 0,
    });
    // Two objects: one `json!` of every key exceeds the macro's recursion limit.
    extend(
        &mut json,
        json!({
            "total_due": money(order.grand_total() - order.total_paid),
            "total_item_count": top.clone().count(),
            "total_qty_ordered": top.map(|item| item.qty_ordered).sum::<u32>(),
            "items": items,
            "billing_address": address(&order.billing_address, "billing", order.entity_id * 2 - 1),
            "payment": {
                "method": "checkmo",
                "amount_ordered": grand_total,
                "base_amount_ordered": grand_total,
                "additional_information": ["Check / Money order"],
            },
            "status_histories": histories,
            "extension_attributes": {
                "shipping_assignments": [{
                    "shipping": {
                        "address": address(&order.shipping_address, "shipping", order.entity_id * 2),
                        "method": "flatrate_flatrate",
                        "total": {
                            "shipping_amount": shipping,
                            "base_shipping_amount": shipping,
                            "shipping_incl_tax": shipping,
                            "base_shipping_incl_tax": shipping,
                        },
                    },
                    "items": items,
                }],
            },
            "created_at": magento_time(order.created_at),
            "updated_at": magento_time(order.updated_at),
        }),
    );
    if let Some(customer_id) = order.customer_id {
        json["customer_id"] = customer_id.into();
    }
    if order.paid() {
        let paid = money(order.total_paid);
        for key in [
            "total_paid",
            "base_total_paid",
            "total_invoiced",
            "base_total_invoiced",
        ] {
            json[key] = paid.clone();
        }
        json["payment"]["amount_paid"] = paid;
    }
    if let Some(refunded) = order.total_refunded {
        let refunded = money(refunded);
        for key in [
            "total_refunded",
            "base_total_refunded",
            "total_offline_refunded",
        ] {
            json[key] = refunded.clone();
        }
        json["payment"]["amount_refunded"] = refunded;
        json["shipping_refunded"] = money(order.shipping_refunded);
        json["base_shipping_refunded"] = money(order.shipping_refunded);
        json["adjustment_positive"] = money(order.adjustment_positive);
        json["adjustment_negative"] = money(order.adjustment_negative);
        let lines: Cents = order
            .items
            .iter()
            .map(|item| item.price_incl_tax * Cents::from(item.qty_refunded))
            .sum();
        json["subtotal_refunded"] = money(lines);
    }
    json
}

fn shipment_json(shipment: &Shipment) -> Value {
    let items: Vec<Value> = shipment
        .items
        .iter()
        .map(|item| {
            json!({
                "entity_id": item.entity_id,
                "parent_id": shipment.entity_id,
                "order_item_id": item.order_item_id,
                "sku": item.sku,
                "name": item.name,
                "qty": item.qty,
            })
        })
        .collect();
    let tracks: Vec<Value> = shipment
        .tracks
        .iter()
        .map(|track| {
            json!({
                "entity_id": track.entity_id,
                "parent_id": shipment.entity_id,
                "order_id": shipment.order_id,
                "track_number": track.track_number,
                "title": track.title,
                "carrier_code": track.carrier_code,
                "created_at": magento_time(shipment.created_at),
                "updated_at": magento_time(shipment.updated_at),
            })
        })
        .collect();
    let comments: Vec<Value> = shipment
        .comment
        .iter()
        .map(|comment| {
            json!({
                "parent_id": shipment.entity_id,
                "comment": comment,
                "is_customer_notified": 0,
                "is_visible_on_front": 0,
                "created_at": magento_time(shipment.created_at),
            })
        })
        .collect();
    json!({
        "entity_id": shipment.entity_id,
        "increment_id": shipment.increment_id,
        "order_id": shipment.order_id,
        "store_id": 1,
        "total_qty": shipment.items.iter().map(|item| item.qty).sum::<u32>(),
        "items": items,
        "tracks": tracks,
        "comments": comments,
        "packages": [],
        "created_at": magento_time(shipment.created_at),
        "updated_at": magento_time(shipment.updated_at),
    })
}

fn credit_memo_json(memo: &CreditMemo) -> Value {
    let items: Vec<Value> = memo
        .items
        .iter()
        .map(|item| {
            let price = money(item.price_incl_tax);
            let row = money(item.row_total_incl_tax());
            json!({
                "entity_id": item.entity_id,
                "parent_id": memo.entity_id,
                "order_item_id": item.order_item_id,
                "sku": item.sku,
                "name": item.name,
                "qty": item.qty,
                "price": price,
                "base_price": price,
                "price_incl_tax": price,
                "base_price_incl_tax": price,
                "row_total": row,
                "base_row_total": row,
                "row_total_incl_tax": row,
                "base_row_total_incl_tax": row,
                "tax_amount": 0,
                "discount_amount": 0,
            })
        })
        .collect();
    let comments: Vec<Value> = memo
        .comments
        .iter()
        .map(|comment| {
            json!({
                "parent_id": memo.entity_id,
                "comment": comment,
                "is_customer_notified": 0,
                "is_visible_on_front": 0,
                "created_at": magento_time(memo.created_at),
            })
        })
        .collect();
    let subtotal = money(memo.subtotal_incl_tax());
    let grand_total = money(memo.grand_total());
    let shipping = money(memo.shipping_amount);
    let adjustment = money(memo.adjustment_positive - memo.adjustment_negative);
    json!({
        "entity_id": memo.entity_id,
        "increment_id": memo.increment_id,
        "order_id": memo.order_id,
        "store_id": 1,
        "state": 2,
        "order_currency_code": memo.order_currency_code,
        "base_currency_code": memo.order_currency_code,
        "grand_total": grand_total,
        "base_grand_total": grand_total,
        "subtotal": subtotal,
        "base_subtotal": subtotal,
        "subtotal_incl_tax": subtotal,
        "base_subtotal_incl_tax": subtotal,
        "shipping_amount": shipping,
        "base_shipping_amount": shipping,
        "shipping_incl_tax": shipping,
        "base_shipping_incl_tax": shipping,
        "adjustment_positive": money(memo.adjustment_positive),
        "base_adjustment_positive": money(memo.adjustment_positive),
        "adjustment_negative": money(memo.adjustment_negative),
        "base_adjustment_negative": money(memo.adjustment_negative),
        "adjustment": adjustment,
        "base_adjustment": adjustment,
        "tax_amount": 0,
        "discount_amount": 0,
        "items": items,
        "comments": comments,
        "created_at": magento_time(memo.created_at),
        "updated_at": magento_time(memo.updated_at),
    })
}

/// An RMA as Magento's `RmaInterface`: items as its `ItemInterface`, without
/// the Returns attributes it does not have.
fn rma_json(rma: &Rma) -> Value {
    let items: Vec<Value> = rma
        .items
        .iter()
        .map(|item| {
            let mut json = json!({
                "entity_id": item.entity_id,
                "rma_entity_id": rma.entity_id,
                "order_item_id": item.order_item_id,
                "qty_requested": item.qty_requested,
                "qty_authorized": item.qty_authorized,
                "qty_approved": item.qty_approved,
                "qty_returned": item.qty_returned,
                "status": item.status,
            });
            for (key, value) in [
                ("reason", &item.reason),
                ("condition", &item.condition),
                ("resolution", &item.resolution),
            ] {
                if let Some(value) = value {
                    json[key] = value.clone().into();
                }
            }
            json
        })
        .collect();
    let comments: Vec<Value> = rma
        .comments
        .iter()
        .map(|comment| {
            json!({
                "comment": comment.comment,
                "rma_entity_id": rma.entity_id,
                "created_at": magento_time(comment.created_at),
                "entity_id": comment.entity_id,
                "customer_notified": comment.customer_notified,
                "visible_on_front": comment.visible_on_front,
                "status": comment.status,
                "admin": comment.admin,
            })
        })
        .collect();
    let mut json = json!({
        "increment_id": rma.increment_id,
        "entity_id": rma.entity_id,
        "order_id": rma.order_id,
        "order_increment_id": rma.order_increment_id,
        "store_id": 1,
        "date_requested": magento_time(rma.date_requested),
        "customer_custom_email": rma.customer_custom_email,
        "items": items,
        "status": rma.status,
        "comments": comments,
        "tracks": [],
    });
    if let Some(customer_id) = rma.customer_id {
        json["customer_id"] = customer_id.into();
    }
    json
}

fn customer_json(customer: &Customer) -> Value {
    let addresses: Vec<Value> = customer
        .addresses
        .iter()
        .map(|entry| {
            let mut json = entry.address.json();
            json.insert("id".into(), entry.id.into());
            json.insert("customer_id".into(), customer.id.into());
            json.insert(
                "region".into(),
                json!({ "region_code": null, "region": null, "region_id": 0 }),
            );
            json.insert("region_id".into(), 0.into());
            if entry.default_billing {
                json.insert("default_billing".into(), true.into());
            }
            if entry.default_shipping {
                json.insert("default_shipping".into(), true.into());
            }
            Value::Object(json)
        })
        .collect();
    let mut json = json!({
        "id": customer.id,
        "group_id": customer.group_id,
        "created_at": magento_time(customer.created_at),
        "updated_at": magento_time(customer.updated_at),
        "created_in": "Default Store View",
        "email": customer.email,
        "firstname": customer.firstname,
        "lastname": customer.lastname,
        "store_id": 1,
        "website_id": 1,
        "addresses": addresses,
        "disable_auto_group_change": 0,
        "extension_attributes": { "is_subscribed": false },
    });
    // Magento sends the default address ids as strings.
    if let Some(entry) = customer.addresses.iter().find(|a| a.default_billing) {
        json["default_billing"] = entry.id.to_string().into();
    }
    if let Some(entry) = customer.addresses.iter().find(|a| a.default_shipping) {
        json["default_shipping"] = entry.id.to_string().into();
    }
    if !customer.custom_attributes.is_empty() {
        json["custom_attributes"] = attributes_json(&customer.custom_attributes);
    }
    json
}

fn group_json(group: &CustomerGroup) -> Value {
    let tax_class_name = match group.tax_class_id {
        3 => "Retail Customer".to_owned(),
        id => format!("Customer Tax Class {id}"),
    };
    json!({
        "id": group.id,
        "code": group.code,
        "tax_class_id": group.tax_class_id,
        "tax_class_name": tax_class_name,
    })
}

fn source_json(source: &Source) -> Value {
    json!({
        "source_code": source.source_code,
        "name": source.name,
        "enabled": source.enabled,
        "country_id": source.country_id,
        "postcode": source.postcode,
        "use_default_carrier_config": true,
        "carrier_links": [],
    })
}

fn source_item_json(item: &SourceItem) -> Value {
    json!({
        "sku": item.sku,
        "source_code": item.source_code,
        "quantity": number(item.quantity),
        "status": item.status,
    })
}

fn tier_price_json(price: &TierPrice) -> Value {
    json!({
        "price": money(price.price),
        "price_type": price.price_type.code(),
        "website_id": price.website_id,
        "sku": price.sku,
        "customer_group": price.customer_group,
        "quantity": number(price.quantity),
        "extension_attributes": {},
    })
}

impl Instance {
    /// A category's level: 0 for `Root Catalog`, one more per ancestor.
    fn level(&self, id: u64) -> u64 {
        let mut level = 0;
        let mut at = id;
        while let Some(parent) = self.categories.get(&at).map(|c| c.parent_id) {
            if parent == 0 || level > 64 {
                break;
            }
            level += 1;
            at = parent;
        }
        level
    }

    /// `1/2/5`: a category's path of ids from the root.
    fn category_path(&self, id: u64) -> String {
        let mut ids = vec![id];
        let mut at = id;
        while let Some(parent) = self.categories.get(&at).map(|c| c.parent_id) {
            if parent == 0 || ids.len() > 64 {
                break;
            }
            ids.push(parent);
            at = parent;
        }
        ids.iter()
            .rev()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The children of `id`, by position then id.
    fn children(&self, id: u64) -> Vec<&Category> {
        let mut children: Vec<&Category> = self
            .categories
            .values()
            .filter(|c| c.parent_id == id && c.id != id)
            .collect();
        children.sort_by_key(|c| (c.position, c.id));
        children
    }

    fn category_json(&self, category: &Category) -> Value {
        let children: Vec<String> = self
            .children(category.id)
            .iter()
            .map(|c| c.id.to_string())
            .collect();
        let mut json = json!({
            "id": category.id,
            "parent_id": category.parent_id,
            "name": category.name,
            "is_active": category.is_active,
            "position": category.position,
            "level": self.level(category.id),
            "children": children.join(","),
            "created_at": magento_time(category.created_at),
            "updated_at": magento_time(category.updated_at),
            "path": self.category_path(category.id),
            "available_sort_by": [],
            "include_in_menu": category.include_in_menu,
        });
        if !category.custom_attributes.is_empty() {
            json["custom_attributes"] = attributes_json(&category.custom_attributes);
        }
        json
    }

    /// `GET /V1/categories`'s node of `category`, `depth` levels down.
    fn category_tree(&self, category: &Category, depth: Option<u64>) -> Value {
        let product_count = self
            .products
            .values()
            .filter(|p| {
                p.category_links
                    .iter()
                    .any(|l| l.category_id == category.id)
            })
            .count();
        let children: Vec<Value> = if depth == Some(0) {
            Vec::new()
        } else {
            self.children(category.id)
                .into_iter()
                .map(|child| self.category_tree(child, depth.map(|d| d - 1)))
                .collect()
        };
        json!({
            "id": category.id,
            "parent_id": category.parent_id,
            "name": category.name,
            "is_active": category.is_active,
            "position": category.position,
            "level": self.level(category.id),
            "product_count": product_count,
            "children_data": children,
        })
    }

    fn product_json(&self, product: &Product) -> Value {
        let tier_prices: Vec<Value> = self
            .tier_prices
            .iter()
            .filter(|t| t.sku.eq_ignore_ascii_case(&product.sku))
            .map(|t| {
                let group_id = self
                    .group_by_code(&t.customer_group)
                    .map_or(ALL_GROUPS_ID, |g| g.id);
                let (value, extension) = match t.price_type {
                    PriceType::Fixed => (t.price, json!({ "website_id": t.website_id })),
                    PriceType::Discount => (
                        // Integer cents: the base price less the percentage, rounded.
                        product.price - (product.price * t.price + 5_000) / 10_000,
                        json!({ "website_id": t.website_id, "percentage_value": money(t.price) }),
                    ),
                };
                json!({
                    "customer_group_id": group_id,
                    "qty": number(t.quantity),
                    "value": money(value),
                    "extension_attributes": extension,
                })
            })
            .collect();
        let category_links: Vec<Value> = product
            .category_links
            .iter()
            // Magento sends the category id as a string here.
            .map(|l| json!({ "position": l.position, "category_id": l.category_id.to_string() }))
            .collect();
        let mut extension = json!({
            "website_ids": [1],
            "category_links": category_links,
            "stock_item": {
                "item_id": product.id,
                "product_id": product.id,
                "stock_id": 1,
                "qty": number(product.stock_qty),
                "is_in_stock": product.is_in_stock,
                "is_qty_decimal": false,
                "manage_stock": true,
                "min_sale_qty": 1,
                "max_sale_qty": 10000,
            },
        });
        if product.type_id == "configurable" {
            extension["configurable_product_options"] = product
                .configurable_options
                .iter()
                .map(|o| {
                    let values: Vec<Value> = o
                        .values
                        .iter()
                        .map(|v| json!({ "value_index": v }))
                        .collect();
                    json!({
                        "id": o.id,
                        "attribute_id": o.attribute_id,
                        "label": o.label,
                        "position": o.position,
                        "values": values,
                        "product_id": product.id,
                    })
                })
                .collect();
            extension["configurable_product_links"] = product.configurable_links.clone().into();
        }
        let product_links: Vec<Value> = product
            .product_links
            .iter()
            .map(|l| {
                json!({
                    "sku": product.sku,
                    "link_type": l.link_type,
                    "linked_product_sku": l.linked_product_sku,
                    "linked_product_type": l.linked_product_type,
                    "position": l.position,
                })
            })
            .collect();
        let media: Vec<Value> = product
            .media_gallery_entries
            .iter()
            .map(|m| {
                json!({
                    "id": m.id,
                    "media_type": "image",
                    "label": m.label,
                    "position": m.position,
                    "disabled": m.disabled,
                    "types": m.types,
                    "file": m.file,
                })
            })
            .collect();
        let mut json = json!({
            "id": product.id,
            "sku": product.sku,
            "name": product.name,
            "attribute_set_id": product.attribute_set_id,
            "price": money(product.price),
            "status": product.status,
            "visibility": product.visibility,
            "type_id": product.type_id,
            "created_at": magento_time(product.created_at),
            "updated_at": magento_time(product.updated_at),
            "extension_attributes": extension,
            "product_links": product_links,
            "options": [],
            "media_gallery_entries": media,
            "tier_prices": tier_prices,
            "custom_attributes": attributes_json(&product.custom_attributes),
        });
        if let Some(weight) = product.weight {
            json["weight"] = number(weight);
        }
        json
    }
}

// ---------------------------------------------------------------------------
// Sales: orders, shipments, credit memos
// ---------------------------------------------------------------------------

/// `[{"order_item_id", "qty"}]` as `(order_item_id, qty)`; `None` is empty.
fn item_quantities(value: Option<&Value>) -> Result<Vec<(u64, u32)>, Failure> {
    let entries = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(entries)) => entries,
        Some(other) => return Err(Failure::invalid("items", other.clone())),
    };
    entries
        .iter()
        .map(|entry| {
            let item_id = entry
                .get("order_item_id")
                .and_then(unsigned)
                .ok_or_else(|| Failure::required("order_item_id"))?;
            let qty = member(entry, "qty")?;
            // The sandbox's lines hold whole units.
            let qty = unsigned(qty)
                .and_then(|qty| u32::try_from(qty).ok())
                .ok_or_else(|| Failure::invalid("qty", qty.clone()))?;
            Ok((item_id, qty))
        })
        .collect()
}

/// A comment of a sales document: `{"comment": "..."}` or a plain string.
fn document_comment(value: Option<&Value>) -> Option<String> {
    let value = value?;
    value
        .get("comment")
        .map_or_else(|| text(value), text)
        .filter(|comment| !comment.is_empty())
}

/// Which order lines a document takes, by index, for the quantities asked.
/// `None` asks for every line's `remaining` quantity; a configurable's child
/// line cannot be named (its parent is).
fn document_lines(
    order: &Order,
    asked: &[(u64, u32)],
    remaining: fn(&OrderItem) -> u32,
    unknown: &str,
    too_many: &dyn Fn(&OrderItem) -> String,
    messages: &mut Vec<String>,
) -> BTreeMap<usize, u32> {
    let mut lines = BTreeMap::new();
    if asked.is_empty() {
        for (at, item) in order.items.iter().enumerate() {
            if item.parent_item_id.is_none() && remaining(item) > 0 {
                lines.insert(at, remaining(item));
            }
        }
        return lines;
    }
    for (item_id, qty) in asked {
        match order.item_index(*item_id) {
            None => messages.push(unknown.to_owned()),
            Some(at) => match order.items[at].parent_item_id {
                Some(parent) => messages.push(format!(
                    "Order item {item_id} belongs to the configurable order item {parent}: name the parent."
                )),
                None => {
                    // As Magento's `qtys` map: a repeated item's last quantity counts.
                    lines.insert(at, *qty);
                }
            },
        }
    }
    for (&at, &qty) in &lines {
        if qty > remaining(&order.items[at]) {
            messages.push(too_many(&order.items[at]));
        }
    }
    lines.retain(|_, qty| *qty > 0);
    lines
}

impl Instance {
    fn order(&self, id: &str) -> Result<&Order, Failure> {
        id.parse::<u64>()
            .ok()
            .and_then(|id| self.orders.get(&id))
            .ok_or_else(Failure::entity_not_found)
    }

    fn order_mut(&mut self, id: &str) -> Result<&mut Order, Failure> {
        id.parse::<u64>()
            .ok()
            .and_then(|id| self.orders.get_mut(&id))
            .ok_or_else(Failure::entity_not_found)
    }

    /// `POST /V1/orders/{id}/comments`.
    fn add_comment(&mut self, id: &str, body: &Value) -> Answer {
        self.order(id)?;
        let history = member(body, "statusHistory")?;
        let status = history
            .get("status")
            .and_then(text)
            .filter(|status| !status.is_empty());
        let now = self.clock.now();
        let entity_id = next(&mut self.ids.history);
        let order = self.order_mut(id)?;
        if let Some(status) = &status {
            // Magento sets a status only within the order's state; a custom
            // status is taken to be assigned to it.
            let belongs = CORE_STATUSES
                .iter()
                .find(|(core, _)| core == status)
                .is_none_or(|(_, state)| *state == order.state);
            if belongs {
                order.status.clone_from(status);
            }
        }
        order.status_histories.push(StatusHistory {
            entity_id,
            comment: history.get("comment").and_then(text).unwrap_or_default(),
            status: status.or_else(|| Some(order.status.clone())),
            is_customer_notified: history.get("is_customer_notified").and_then(flag),
            is_visible_on_front: history
                .get("is_visible_on_front")
                .and_then(flag)
                .unwrap_or(false),
            created_at: now,
        });
        order.updated_at = now;
        self.writes.order_comments += 1;
        Ok(Value::Bool(true))
    }

    /// `POST /V1/orders/{id}/hold`.
    fn hold(&mut self, id: &str) -> Answer {
        let now = self.clock.now();
        let order = self.order_mut(id)?;
        if matches!(
            order.state.as_str(),
            "holded" | "canceled" | "complete" | "closed" | "payment_review"
        ) {
            return Err(Failure::bad_request("A hold action is not available."));
        }
        order.hold_before = Some((order.state.clone(), order.status.clone()));
        "holded".clone_into(&mut order.state);
        "holded".clone_into(&mut order.status);
        order.updated_at = now;
        self.writes.order_actions += 1;
        Ok(Value::Bool(true))
    }

    /// `POST /V1/orders/{id}/unhold`.
    fn unhold(&mut self, id: &str) -> Answer {
        let now = self.clock.now();
        let order = self.order_mut(id)?;
        if order.state != "holded" {
            return Err(Failure::bad_request("You cannot remove the hold."));
        }
        let (state, status) = order
            .hold_before
            .take()
            .unwrap_or_else(|| ("processing".to_owned(), "processing".to_owned()));
        order.state = state;
        order.status = status;
        order.updated_at = now;
        self.writes.order_actions += 1;
        Ok(Value::Bool(true))
    }

    /// `POST /V1/orders/{id}/cancel`: `false` when Magento's `canCancel` says
    /// no (an invoiced, held or finished order).
    fn cancel(&mut self, id: &str) -> Answer {
        let now = self.clock.now();
        let order = self.order_mut(id)?;
        if order.state != "new" {
            return Ok(Value::Bool(false));
        }
        for item in &mut order.items {
            item.qty_canceled = item.qty_ordered.saturating_sub(item.qty_shipped);
        }
        "canceled".clone_into(&mut order.state);
        "canceled".clone_into(&mut order.status);
        order.updated_at = now;
        self.writes.order_actions += 1;
        Ok(Value::Bool(true))
    }

    /// `POST /V1/order/{id}/ship`.
    fn ship(&mut self, id: &str, body: &Value) -> Answer {
        let order_id = self.order(id)?.entity_id;
        let items = item_quantities(body.get("items"))?;
        let tracks = match body.get("tracks") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(tracks)) => tracks
                .iter()
                .map(|track| {
                    let field = |name: &str| {
                        track
                            .get(name)
                            .and_then(text)
                            .filter(|value| !value.is_empty())
                            .ok_or_else(|| Failure::required(name))
                    };
                    Ok((
                        field("track_number")?,
                        field("title")?,
                        field("carrier_code")?,
                    ))
                })
                .collect::<Result<Vec<_>, Failure>>()?,
            Some(other) => return Err(Failure::invalid("tracks", other.clone())),
        };
        let shipment_id = self.create_shipment(
            order_id,
            &items,
            tracks,
            document_comment(body.get("comment")),
        )?;
        self.writes.shipments += 1;
        Ok(shipment_id.into())
    }

    /// Ships `items` of order `order_id` with `tracks` (number, title,
    /// carrier), after Magento's shipment validators.
    fn create_shipment(
        &mut self,
        order_id: u64,
        items: &[(u64, u32)],
        tracks: Vec<(String, String, String)>,
        comment: Option<String>,
    ) -> Result<u64, Failure> {
        let now = self.clock.now();
        let order = self
            .orders
            .get(&order_id)
            .ok_or_else(Failure::entity_not_found)?;
        let mut messages = Vec::new();
        if matches!(
            order.state.as_str(),
            "holded" | "canceled" | "payment_review"
        ) {
            messages.push(format!(
                "A shipment cannot be created when an order has a status of {}",
                order.status
            ));
        } else if !order
            .items
            .iter()
            .any(|item| item.parent_item_id.is_none() && item.qty_to_ship() > 0)
        {
            messages.push("The order does not allow a shipment to be created.".to_owned());
        }
        if !messages.is_empty() {
            return Err(Failure::document("Shipment", &messages));
        }
        let lines = document_lines(
            order,
            items,
            OrderItem::qty_to_ship,
            "The shipment contains product item that is not part of the original order.",
            &|item| {
                format!(
                    "The quantity to ship must not be greater than the unshipped quantity for product SKU \"{}\".",
                    item.sku
                )
            },
            &mut messages,
        );
        if messages.is_empty() && lines.is_empty() {
            messages.push("You can't create a shipment without products.".to_owned());
        }
        if !messages.is_empty() {
            return Err(Failure::document("Shipment", &messages));
        }
        let shipment_id = next(&mut self.ids.shipment);
        let shipment_items: Vec<ShipmentItem> = lines
            .iter()
            .map(|(&at, &qty)| ShipmentItem {
                entity_id: next(&mut self.ids.shipment_item),
                order_item_id: order.items[at].item_id,
                sku: order.items[at].sku.clone(),
                name: order.items[at].name.clone(),
                qty,
            })
            .collect();
        let tracks: Vec<ShipmentTrack> = tracks
            .into_iter()
            .map(|(track_number, title, carrier_code)| ShipmentTrack {
                entity_id: next(&mut self.ids.track),
                track_number,
                title,
                carrier_code,
            })
            .collect();
        let Some(order) = self.orders.get_mut(&order_id) else {
            return Err(Failure::entity_not_found());
        };
        for (&at, &qty) in &lines {
            let parent_id = order.items[at].item_id;
            for item in &mut order.items {
                if item.item_id == parent_id || item.parent_item_id == Some(parent_id) {
                    item.qty_shipped += qty;
                }
            }
        }
        order.updated_at = now;
        order.settle_state();
        self.shipments.insert(
            shipment_id,
            Shipment {
                entity_id: shipment_id,
                increment_id: format!("{shipment_id:09}"),
                order_id,
                items: shipment_items,
                tracks,
                comment,
                created_at: now,
                updated_at: now,
            },
        );
        Ok(shipment_id)
    }

    /// `POST /V1/order/{id}/refund`.
    fn refund(&mut self, id: &str, body: &Value) -> Answer {
        let order_id = self.order(id)?.entity_id;
        let items = item_quantities(body.get("items"))?;
        let arguments = body
            .get("arguments")
            .filter(|arguments| !arguments.is_null());
        let amount = |name: &str| match arguments.and_then(|arguments| arguments.get(name)) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => cents_of(value)
                .filter(|cents| *cents >= 0)
                .map(Some)
                .ok_or_else(|| Failure::invalid(name, value.clone())),
        };
        let refund = AdminRefund {
            items,
            shipping_amount: amount("shipping_amount")?,
            adjustment_positive: amount("adjustment_positive")?.unwrap_or(0),
            adjustment_negative: amount("adjustment_negative")?.unwrap_or(0),
        };
        let memo_id =
            self.create_credit_memo(order_id, &refund, document_comment(body.get("comment")))?;
        self.writes.credit_memos += 1;
        Ok(memo_id.into())
    }

    /// Refunds `refund` of order `order_id` offline, after Magento's checks.
    fn create_credit_memo(
        &mut self,
        order_id: u64,
        refund: &AdminRefund,
        comment: Option<String>,
    ) -> Result<u64, Failure> {
        let now = self.clock.now();
        let order = self
            .orders
            .get(&order_id)
            .ok_or_else(Failure::entity_not_found)?;
        let currency = order.order_currency_code.clone();
        // Magento checks the shipping while it collects the memo's totals,
        // before its validators run.
        let allowed_shipping = (order.shipping_incl_tax - order.shipping_refunded).max(0);
        let shipping = match refund.shipping_amount {
            None => allowed_shipping,
            Some(amount) if amount > allowed_shipping => {
                return Err(Failure::with(
                    StatusCode::BAD_REQUEST,
                    "Maximum shipping amount allowed to refund is: %1",
                    json!([format_price(&currency, allowed_shipping)]),
                ));
            }
            Some(amount) => amount,
        };
        let refunded = order.total_refunded.unwrap_or(0);
        let mut messages = Vec::new();
        if matches!(
            order.state.as_str(),
            "holded" | "canceled" | "closed" | "payment_review"
        ) {
            messages.push(format!(
                "A creditmemo can not be created when an order has a status of {}",
                order.status
            ));
        } else if !order.paid()
            || !order
                .items
                .iter()
                .any(|item| item.parent_item_id.is_none() && item.qty_to_refund() > 0)
        {
            messages.push("The order does not allow a creditmemo to be created.".to_owned());
        }
        if order.total_paid - refunded == 0 {
            messages.push("We can't create creditmemo for the order.".to_owned());
        }
        if !messages.is_empty() {
            return Err(Failure::document("Creditmemo", &messages));
        }
        let lines = document_lines(
            order,
            &refund.items,
            OrderItem::qty_to_refund,
            "The creditmemo contains product item that is not part of the original order.",
            &|_| {
                "The quantity to refund must not be greater than the unrefunded quantity."
                    .to_owned()
            },
            &mut messages,
        );
        let subtotal: Cents = lines
            .iter()
            .map(|(&at, &qty)| order.items[at].price_incl_tax * Cents::from(qty))
            .sum();
        let grand_total =
            subtotal + shipping + refund.adjustment_positive - refund.adjustment_negative;
        if messages.is_empty() {
            if grand_total <= 0 {
                messages.push("The credit memo's total must be positive.".to_owned());
            } else if refunded + grand_total > order.total_paid {
                messages.push(format!(
                    "The most money available to refund is {}.",
                    format_price(&currency, order.total_paid - refunded)
                ));
            }
        }
        if !messages.is_empty() {
            return Err(Failure::document("Creditmemo", &messages));
        }
        let memo_id = next(&mut self.ids.credit_memo);
        let memo_items: Vec<CreditMemoItem> = lines
            .iter()
            .map(|(&at, &qty)| CreditMemoItem {
                entity_id: next(&mut self.ids.credit_memo_item),
                order_item_id: order.items[at].item_id,
                sku: order.items[at].sku.clone(),
                name: order.items[at].name.clone(),
                qty,
                price_incl_tax: order.items[at].price_incl_tax,
            })
            .collect();
        let Some(order) = self.orders.get_mut(&order_id) else {
            return Err(Failure::entity_not_found());
        };
        for (&at, &qty) in &lines {
            let parent_id = order.items[at].item_id;
            for item in &mut order.items {
                if item.item_id == parent_id || item.parent_item_id == Some(parent_id) {
                    item.qty_refunded += qty;
                }
            }
        }
        order.total_refunded = Some(refunded + grand_total);
        order.shipping_refunded += shipping;
        order.adjustment_positive += refund.adjustment_positive;
        order.adjustment_negative += refund.adjustment_negative;
        order.updated_at = now;
        order.settle_state();
        self.credit_memos.insert(
            memo_id,
            CreditMemo {
                entity_id: memo_id,
                increment_id: format!("{memo_id:09}"),
                order_id,
                order_currency_code: currency,
                items: memo_items,
                shipping_amount: shipping,
                adjustment_positive: refund.adjustment_positive,
                adjustment_negative: refund.adjustment_negative,
                comments: comment.into_iter().collect(),
                created_at: now,
                updated_at: now,
            },
        );
        Ok(memo_id)
    }

    /// Places `new` as the storefront would: ids, increment id, state and
    /// addresses; its products are looked up by sku.
    fn place_order(&mut self, new: NewOrder) -> u64 {
        let now = self.clock.now();
        let entity_id = next(&mut self.ids.order);
        let mut items = Vec::new();
        for line in new.lines {
            let item_id = next(&mut self.ids.order_item);
            match line.variant {
                None => items.push(OrderItem {
                    item_id,
                    parent_item_id: None,
                    product_id: self.product_id_by_sku(&line.sku),
                    sku: line.sku,
                    name: line.name,
                    product_type: "simple".to_owned(),
                    qty_ordered: line.qty,
                    qty_shipped: 0,
                    qty_refunded: 0,
                    qty_canceled: 0,
                    qty_returned: 0,
                    price_incl_tax: line.price_incl_tax,
                }),
                Some((child_sku, child_name)) => {
                    let parent_product = self
                        .products
                        .values()
                        .find(|p| {
                            p.type_id == "configurable"
                                && self
                                    .product_id_by_sku(&child_sku)
                                    .is_some_and(|child| p.configurable_links.contains(&child))
                        })
                        .map(|p| p.id);
                    items.push(OrderItem {
                        item_id,
                        parent_item_id: None,
                        product_id: parent_product,
                        sku: child_sku.clone(),
                        name: line.name,
                        product_type: "configurable".to_owned(),
                        qty_ordered: line.qty,
                        qty_shipped: 0,
                        qty_refunded: 0,
                        qty_canceled: 0,
                        qty_returned: 0,
                        price_incl_tax: line.price_incl_tax,
                    });
                    items.push(OrderItem {
                        item_id: next(&mut self.ids.order_item),
                        parent_item_id: Some(item_id),
                        product_id: self.product_id_by_sku(&child_sku),
                        sku: child_sku,
                        name: child_name,
                        product_type: "simple".to_owned(),
                        qty_ordered: line.qty,
                        qty_shipped: 0,
                        qty_refunded: 0,
                        qty_canceled: 0,
                        qty_returned: 0,
                        price_incl_tax: 0,
                    });
                }
            }
        }
        let mut order = Order {
            entity_id,
            increment_id: format!("{entity_id:09}"),
            state: "new".to_owned(),
            status: "pending".to_owned(),
            order_currency_code: new.currency.clone(),
            base_currency_code: new.currency,
            customer_email: new.customer_email,
            customer_firstname: new.customer_firstname,
            customer_lastname: new.customer_lastname,
            customer_id: new.customer_id,
            customer_group_id: new.customer_group_id,
            items,
            shipping_incl_tax: new.shipping_incl_tax,
            shipping_refunded: 0,
            total_paid: 0,
            total_refunded: None,
            adjustment_positive: 0,
            adjustment_negative: 0,
            billing_address: new.address.clone(),
            shipping_address: new.address,
            shipping_description: "Flat Rate - Fixed".to_owned(),
            created_at: now,
            updated_at: now,
            status_histories: Vec::new(),
            hold_before: None,
        };
        if new.paid {
            order.total_paid = order.grand_total();
        }
        order.settle_state();
        self.orders.insert(entity_id, order);
        entity_id
    }
}

// ---------------------------------------------------------------------------
// Returns (RMA)
// ---------------------------------------------------------------------------

/// An RMA's status from its items' statuses, as Magento's `getStatusByItems`
/// derives it: all final (approved, rejected, denied) closes it, processed
/// when something was approved; else the most advanced open step, "partial"
/// when not every item is there. Denied items only make it partial.
fn rma_status<'a>(statuses: impl IntoIterator<Item = &'a str>) -> &'static str {
    let statuses: Vec<&str> = statuses.into_iter().collect();
    let has = |status: &str| statuses.contains(&status);
    let all = |status: &str| statuses.iter().all(|s| *s == status);
    if !has("pending") && !has("authorized") && !has("received") {
        if has("approved") {
            "processed_closed"
        } else {
            "closed"
        }
    } else if has("approved") {
        "approved_on_item"
    } else if has("rejected") {
        "rejected_on_item"
    } else if has("received") {
        if all("received") {
            "received"
        } else {
            "received_on_item"
        }
    } else if has("authorized") {
        if all("authorized") {
            "authorized"
        } else {
            "partially_authorized"
        }
    } else {
        "pending"
    }
}

/// What Magento adds to an RMA's history (shown to the customer) when its
/// status becomes `status`.
fn rma_system_comment(status: &str) -> &'static str {
    match status {
        "authorized" => "We authorized your Return request.",
        "partially_authorized" => "We partially authorized your Return request.",
        "received" => "We received your Return request.",
        "received_on_item" => "We partially received your Return request.",
        "approved_on_item" => "We partially approved your Return request.",
        "rejected_on_item" => "We partially rejected your Return request.",
        "closed" => "We closed your Return request.",
        "processed_closed" => "We processed and closed your Return request.",
        _ => "We placed your Return request.",
    }
}

/// Whether an item in `status` still claims its units of the order line
/// (a rejected or denied one gives them back to be returned again).
fn rma_item_claims(status: &str) -> bool {
    !matches!(status, "rejected" | "denied")
}

/// Sets the fields of an RMA item that `entry` (an `ItemInterface`) gives.
fn merge_rma_item(item: &mut RmaItem, entry: &Value) -> Result<(), Failure> {
    let quantity = |name: &str| match entry.get(name) {
        None | Some(Value::Null) => Ok(None),
        // The sandbox's lines hold whole units.
        Some(value) => unsigned(value)
            .and_then(|qty| u32::try_from(qty).ok())
            .map(Some)
            .ok_or_else(|| Failure::invalid(name, value.clone())),
    };
    for (name, target) in [
        ("qty_requested", &mut item.qty_requested),
        ("qty_authorized", &mut item.qty_authorized),
        ("qty_returned", &mut item.qty_returned),
        ("qty_approved", &mut item.qty_approved),
    ] {
        if let Some(qty) = quantity(name)? {
            *target = qty;
        }
    }
    for (name, target) in [
        ("reason", &mut item.reason),
        ("condition", &mut item.condition),
        ("resolution", &mut item.resolution),
    ] {
        if let Some(value) = entry.get(name).filter(|value| !value.is_null()) {
            *target = text(value).filter(|value| !value.is_empty());
        }
    }
    if let Some(status) = entry.get("status").and_then(text) {
        item.status = status.trim().to_ascii_lowercase();
    }
    Ok(())
}

impl Instance {
    fn rma(&self, id: &str) -> Result<&Rma, Failure> {
        id.parse::<u64>()
            .ok()
            .and_then(|id| self.returns.get(&id))
            .ok_or_else(Failure::entity_not_found)
    }

    /// `POST /V1/returns` (`path_id` `None`) and `PUT /V1/returns/{id}`:
    /// creates an RMA of the body's `order_id`, or updates the one of the
    /// path (or of a POST's `entity_id`), after Magento's checks. Items with
    /// an `entity_id` are updated, others added; comments without one are
    /// added. The status follows the items ([`rma_status`]).
    fn save_rma(&mut self, path_id: Option<&str>, body: &Value) -> Answer {
        let input = member(body, "rmaDataObject")?;
        let held = match path_id {
            Some(id) => Some(self.rma(id)?.clone()),
            None => match input
                .get("entity_id")
                .and_then(unsigned)
                .filter(|id| *id > 0)
            {
                Some(id) => Some(
                    self.returns
                        .get(&id)
                        .cloned()
                        .ok_or_else(Failure::entity_not_found)?,
                ),
                None => None,
            },
        };
        let order_id = match (&held, input.get("order_id").filter(|v| !v.is_null())) {
            (Some(rma), None) => rma.order_id,
            (Some(rma), Some(value)) if unsigned(value) == Some(rma.order_id) => rma.order_id,
            (Some(_), Some(value)) => return Err(Failure::invalid("order_id", value.clone())),
            (None, None) => return Err(Failure::required("order_id")),
            (None, Some(value)) => {
                unsigned(value).ok_or_else(|| Failure::invalid("order_id", value.clone()))?
            }
        };
        let order = self
            .orders
            .get(&order_id)
            .cloned()
            .ok_or_else(Failure::entity_not_found)?;
        let entries: &[Value] = match input.get("items") {
            None | Some(Value::Null) => &[],
            Some(Value::Array(entries)) => entries,
            Some(other) => return Err(Failure::invalid("items", other.clone())),
        };
        let mut items = held
            .as_ref()
            .map(|rma| rma.items.clone())
            .unwrap_or_default();
        for entry in entries {
            let known = entry
                .get("entity_id")
                .and_then(unsigned)
                .filter(|id| *id > 0);
            let at = match known {
                Some(id) => items
                    .iter()
                    .position(|item| item.entity_id == id)
                    .ok_or_else(|| Failure::invalid("entity_id", id))?,
                None => {
                    let order_item_id = entry
                        .get("order_item_id")
                        .and_then(unsigned)
                        .ok_or_else(|| Failure::required("order_item_id"))?;
                    items.push(RmaItem {
                        entity_id: 0,
                        order_item_id,
                        product_sku: String::new(),
                        product_name: String::new(),
                        qty_requested: 0,
                        qty_authorized: 0,
                        qty_returned: 0,
                        qty_approved: 0,
                        reason: None,
                        condition: None,
                        resolution: None,
                        status: "pending".to_owned(),
                    });
                    items.len() - 1
                }
            };
            if let Some(value) = entry.get("order_item_id").filter(|v| !v.is_null())
                && unsigned(value) != Some(items[at].order_item_id)
            {
                return Err(Failure::invalid("order_item_id", value.clone()));
            }
            merge_rma_item(&mut items[at], entry)?;
        }
        if items.is_empty() {
            return Err(Failure::required("items"));
        }
        let held_id = held.as_ref().map(|rma| rma.entity_id);
        self.check_rma_items(&order, &items, held_id)?;

        let now = self.clock.now();
        let status = rma_status(items.iter().map(|item| item.status.as_str()));
        for item in &mut items {
            if item.entity_id == 0 {
                item.entity_id = next(&mut self.ids.rma_item);
            }
            if let Some(line) = order.items.iter().find(|i| i.item_id == item.order_item_id) {
                item.product_sku.clone_from(&line.sku);
                item.product_name.clone_from(&line.name);
            }
        }
        let mut rma = held.unwrap_or_else(|| {
            let entity_id = next(&mut self.ids.rma);
            Rma {
                entity_id,
                increment_id: format!("{entity_id:09}"),
                order_id,
                order_increment_id: order.increment_id.clone(),
                customer_id: order.customer_id,
                customer_custom_email: None,
                date_requested: now,
                status: String::new(),
                items: Vec::new(),
                comments: Vec::new(),
                updated_at: now,
            }
        });
        if let Some(email) = input
            .get("customer_custom_email")
            .and_then(text)
            .filter(|email| !email.is_empty())
        {
            rma.customer_custom_email = Some(email);
        }
        rma.items = items;
        if rma.status != status {
            status.clone_into(&mut rma.status);
            rma.comments.push(RmaComment {
                entity_id: next(&mut self.ids.rma_comment),
                comment: rma_system_comment(status).to_owned(),
                customer_notified: false,
                visible_on_front: true,
                admin: true,
                status: status.to_owned(),
                created_at: now,
            });
        }
        let comments: &[Value] = match input.get("comments") {
            Some(Value::Array(comments)) => comments,
            _ => &[],
        };
        for comment in comments
            .iter()
            .filter(|c| c.get("entity_id").and_then(unsigned).is_none())
        {
            let text = comment
                .get("comment")
                .and_then(text)
                .filter(|text| !text.is_empty())
                .ok_or_else(|| Failure::required("comment"))?;
            let flag_of =
                |name: &str, default: bool| comment.get(name).and_then(flag).unwrap_or(default);
            rma.comments.push(RmaComment {
                entity_id: next(&mut self.ids.rma_comment),
                comment: text,
                customer_notified: flag_of("customer_notified", false),
                visible_on_front: flag_of("visible_on_front", false),
                admin: flag_of("admin", true),
                status: status.to_owned(),
                created_at: now,
            });
        }
        rma.updated_at = now;
        let entity_id = rma.entity_id;
        self.returns.insert(entity_id, rma);
        self.settle_returned(order_id);
        self.writes.returns += 1;
        Ok(rma_json(&self.returns[&entity_id]))
    }

    /// Magento's checks of an RMA's `items` of `order`; `held_id` is the RMA
    /// they replace the items of, if any.
    fn check_rma_items(
        &self,
        order: &Order,
        items: &[RmaItem],
        held_id: Option<u64>,
    ) -> Result<(), Failure> {
        for item in items {
            let Some(line) = order.items.iter().find(|i| i.item_id == item.order_item_id) else {
                return Err(Failure::with(
                    StatusCode::BAD_REQUEST,
                    "You cannot return %1.",
                    json!([item.order_item_id]),
                ));
            };
            if let Some(parent) = line.parent_item_id {
                return Err(Failure::bad_request(format!(
                    "Order item {} belongs to the configurable order item {parent}: name the parent.",
                    line.item_id
                )));
            }
            if !RMA_ITEM_STATUSES.contains(&item.status.as_str()) {
                return Err(Failure::bad_request("This is the wrong RMA item status."));
            }
            if item.qty_requested < 1 {
                return Err(Failure::bad_request(
                    "You cannot return less than 1 product.",
                ));
            }
            for (what, qty, bound_what, bound) in [
                (
                    "authorized",
                    item.qty_authorized,
                    "requested",
                    item.qty_requested,
                ),
                (
                    "returned",
                    item.qty_returned,
                    "authorized",
                    item.qty_authorized,
                ),
                ("approved", item.qty_approved, "returned", item.qty_returned),
            ] {
                if qty > bound {
                    return Err(Failure::bad_request(format!(
                        "The quantity {what} of {} ({qty}) must not be greater than the quantity {bound_what} ({bound}).",
                        line.name
                    )));
                }
            }
        }
        // What is left to return of a line: shipped, less what this and the
        // order's other RMAs claim (rejected and denied items claim nothing).
        for line in order.items.iter().filter(|i| i.parent_item_id.is_none()) {
            let claimed = |of: &[RmaItem]| -> u32 {
                of.iter()
                    .filter(|i| i.order_item_id == line.item_id && rma_item_claims(&i.status))
                    .map(|i| i.qty_requested)
                    .sum()
            };
            let others: u32 = self
                .returns
                .values()
                .filter(|rma| rma.order_id == order.entity_id && Some(rma.entity_id) != held_id)
                .map(|rma| claimed(&rma.items))
                .sum();
            if claimed(items) > 0 && claimed(items) + others > line.qty_shipped {
                return Err(Failure::with(
                    StatusCode::BAD_REQUEST,
                    "A quantity of %1 is greater than you can return.",
                    json!([line.name]),
                ));
            }
        }
        Ok(())
    }

    /// Sets the `qty_returned` of order `order_id`'s items from its RMAs: the
    /// units of the items received or approved. A configurable's child line
    /// follows its parent. The order's `updated_at` stays: only its items
    /// change.
    fn settle_returned(&mut self, order_id: u64) {
        let mut returned: HashMap<u64, u32> = HashMap::new();
        for rma in self.returns.values().filter(|rma| rma.order_id == order_id) {
            for item in &rma.items {
                if matches!(item.status.as_str(), "received" | "approved") {
                    *returned.entry(item.order_item_id).or_default() += item.qty_returned;
                }
            }
        }
        if let Some(order) = self.orders.get_mut(&order_id) {
            for item in &mut order.items {
                let line = item.parent_item_id.unwrap_or(item.item_id);
                item.qty_returned = returned.get(&line).copied().unwrap_or(0);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Customers, groups and categories
// ---------------------------------------------------------------------------

impl Instance {
    fn customer(&self, id: &str) -> Result<&Customer, Failure> {
        id.parse::<u64>()
            .ok()
            .and_then(|id| self.customers.get(&id))
            .ok_or_else(|| Failure::no_such_entity("customerId", id.to_owned()))
    }

    /// `PUT /V1/customers/{id}`: the body's account replaces the stored one's
    /// fields; see the module documentation.
    fn update_customer(&mut self, id: &str, body: &Value) -> Answer {
        let mut customer = self.customer(id)?.clone();
        let input = member(body, "customer")?;
        let field = |name: &str| input.get(name).and_then(text).filter(|v| !v.is_empty());
        let email = field("email").ok_or_else(|| {
            Failure::bad_request("The customer email is missing. Enter and try again.")
        })?;
        for name in ["firstname", "lastname"] {
            if field(name).is_none() {
                return Err(Failure::with(
                    StatusCode::BAD_REQUEST,
                    "\"%fieldName\" is a required value.",
                    json!({ "fieldName": name }),
                ));
            }
        }
        if self
            .customers
            .values()
            .any(|other| other.id != customer.id && other.email.eq_ignore_ascii_case(&email))
        {
            return Err(Failure::bad_request(
                "A customer with the same email address already exists in an associated website.",
            ));
        }
        if let Some(group) = input.get("group_id").filter(|g| !g.is_null()) {
            let group = unsigned(group)
                .filter(|id| self.customer_groups.contains_key(id))
                .ok_or_else(|| {
                    Failure::bad_request("The specified customer group id does not exist.")
                })?;
            customer.group_id = group;
        }
        if let Some(attributes) = input.get("custom_attributes").filter(|a| !a.is_null()) {
            merge_attributes(
                &mut customer.custom_attributes,
                custom_attributes(attributes)?,
            );
        }
        if let Some(addresses) = input.get("addresses").filter(|a| !a.is_null()) {
            let Some(addresses) = addresses.as_array() else {
                return Err(Failure::invalid("addresses", addresses.clone()));
            };
            let mut book = Vec::with_capacity(addresses.len());
            for entry in addresses {
                let address = Address::from_json(entry)?;
                let known = entry
                    .get("id")
                    .and_then(unsigned)
                    .filter(|id| customer.addresses.iter().any(|a| a.id == *id));
                book.push(CustomerAddress {
                    id: known.unwrap_or_else(|| next(&mut self.ids.address)),
                    address,
                    default_billing: entry.get("default_billing").and_then(flag).unwrap_or(false),
                    default_shipping: entry
                        .get("default_shipping")
                        .and_then(flag)
                        .unwrap_or(false),
                });
            }
            customer.addresses = book;
        }
        customer.email = email;
        customer.firstname = field("firstname").unwrap_or_default();
        customer.lastname = field("lastname").unwrap_or_default();
        customer.updated_at = self.clock.now();
        let json = customer_json(&customer);
        self.customers.insert(customer.id, customer);
        self.writes.customers += 1;
        Ok(json)
    }

    fn customer_group(&self, id: &str) -> Result<&CustomerGroup, Failure> {
        id.parse::<u64>()
            .ok()
            .and_then(|id| self.customer_groups.get(&id))
            .ok_or_else(|| Failure::no_such_entity("id", id.to_owned()))
    }

    /// `POST /V1/customerGroups`.
    fn create_customer_group(&mut self, body: &Value) -> Answer {
        let group = member(body, "group")?;
        let code = group
            .get("code")
            .and_then(text)
            .map(|code| code.trim().to_owned())
            .filter(|code| !code.is_empty())
            .ok_or_else(|| Failure::required("code"))?;
        if self.group_by_code(&code).is_some() {
            return Err(Failure::bad_request("Customer Group already exists."));
        }
        let group = CustomerGroup {
            id: next(&mut self.ids.group),
            code,
            tax_class_id: group.get("tax_class_id").and_then(unsigned).unwrap_or(3),
        };
        let json = group_json(&group);
        self.customer_groups.insert(group.id, group);
        self.writes.customer_groups += 1;
        Ok(json)
    }

    fn category(&self, id: &str) -> Result<&Category, Failure> {
        id.parse::<u64>()
            .ok()
            .and_then(|id| self.categories.get(&id))
            .ok_or_else(|| Failure::no_such_entity("id", id.to_owned()))
    }

    /// `GET /V1/categories`: the tree from `rootCategoryId` (the store's root,
    /// 2, by default), `depth` levels down.
    fn category_tree_answer(&self, query: &[(String, String)]) -> Answer {
        let param = |name: &str| query.iter().find(|(key, _)| key == name).map(|(_, v)| v);
        let root = param("rootCategoryId").map_or("2", String::as_str);
        let depth = match param("depth") {
            None => None,
            Some(depth) => Some(
                depth
                    .parse::<u64>()
                    .map_err(|_| Failure::invalid("depth", depth.clone()))?,
            ),
        };
        Ok(self.category_tree(self.category(root)?, depth))
    }

    /// `POST /V1/categories` (`existing` is `None`) and `PUT
    /// /V1/categories/{id}`.
    fn save_category(&mut self, existing: Option<&str>, body: &Value) -> Answer {
        let input = member(body, "category")?;
        let now = self.clock.now();
        let mut category = match existing {
            Some(id) => self.category(id)?.clone(),
            None => Category {
                id: 0,
                parent_id: 2,
                name: String::new(),
                is_active: true,
                position: 0,
                include_in_menu: true,
                created_at: now,
                updated_at: now,
                custom_attributes: Vec::new(),
            },
        };
        if let Some(parent) = input.get("parent_id").filter(|p| !p.is_null()) {
            let parent =
                unsigned(parent).ok_or_else(|| Failure::invalid("parent_id", parent.clone()))?;
            if !self.categories.contains_key(&parent) {
                return Err(Failure::no_such_entity("id", parent));
            }
            if existing.is_some()
                && self
                    .category_path(parent)
                    .split('/')
                    .any(|id| id == category.id.to_string())
            {
                return Err(Failure::bad_request(
                    "Operation do not allow to move a parent category to any of children category.",
                ));
            }
            category.parent_id = parent;
        }
        if let Some(name) = input.get("name").and_then(text) {
            category.name = name;
        }
        if category.name.trim().is_empty() {
            return Err(Failure::bad_request(
                "Could not save category: The \"Name\" attribute value is empty. Set the attribute and try again.",
            ));
        }
        if let Some(active) = input.get("is_active").and_then(flag) {
            category.is_active = active;
        }
        if let Some(menu) = input.get("include_in_menu").and_then(flag) {
            category.include_in_menu = menu;
        }
        if let Some(attributes) = input.get("custom_attributes").filter(|a| !a.is_null()) {
            merge_attributes(
                &mut category.custom_attributes,
                custom_attributes(attributes)?,
            );
        }
        match input.get("position").and_then(whole) {
            Some(position) => category.position = position,
            None if existing.is_none() => {
                // A new category goes after its siblings.
                category.position = self
                    .children(category.parent_id)
                    .iter()
                    .map(|c| c.position)
                    .max()
                    .unwrap_or(0)
                    + 1;
            }
            None => {}
        }
        if existing.is_none() {
            category.id = next(&mut self.ids.category);
        }
        category.updated_at = now;
        let id = category.id;
        self.categories.insert(id, category);
        self.writes.categories += 1;
        Ok(self.category_json(&self.categories[&id]))
    }
}

// ---------------------------------------------------------------------------
// Catalogue, prices, inventory and bulk
// ---------------------------------------------------------------------------

/// Magento's answer for a required EAV attribute left empty.
fn attribute_empty(name: &str) -> Failure {
    Failure::with(
        StatusCode::BAD_REQUEST,
        "The \"%1\" attribute value is empty. Set the attribute and try again.",
        json!([name]),
    )
}

/// The product types the sandbox takes.
const PRODUCT_TYPES: [&str; 6] = [
    "simple",
    "virtual",
    "configurable",
    "bundle",
    "downloadable",
    "grouped",
];

impl Instance {
    fn product(&self, sku: &str) -> Result<&Product, Failure> {
        self.product_by_sku(sku)
            .ok_or_else(Failure::product_not_found)
    }

    /// Saves `input` (a `product` object) as the product of `path_sku`, or of
    /// its own `sku`: creates it, or updates the product of that sku. Answers
    /// the product's id.
    fn save_product(&mut self, input: &Value, path_sku: Option<&str>) -> Result<u64, Failure> {
        if !input.is_object() {
            return Err(Failure::invalid("product", input.clone()));
        }
        let sku = match path_sku {
            Some(sku) => sku.to_owned(),
            None => input.get("sku").and_then(text).unwrap_or_default(),
        };
        let sku = sku.trim().to_owned();
        if sku.is_empty() {
            return Err(attribute_empty("sku"));
        }
        let now = self.clock.now();
        let existing = self.product_by_sku(&sku).cloned();
        let creating = existing.is_none();
        let mut product = existing.unwrap_or_else(|| {
            let mut product = Product::simple(0, &sku, "", 0);
            product.created_at = now;
            product
        });
        let get = |name: &str| input.get(name).filter(|value| !value.is_null());
        if let Some(type_id) = get("type_id") {
            let type_id = text(type_id).unwrap_or_default();
            if !PRODUCT_TYPES.contains(&type_id.as_str()) {
                return Err(Failure::invalid("type_id", type_id));
            }
            product.type_id = type_id;
        }
        if let Some(name) = get("name").and_then(text) {
            product.name = name;
        }
        if product.name.trim().is_empty() {
            return Err(attribute_empty("name"));
        }
        match get("price") {
            Some(price) => {
                product.price = cents_of(price)
                    .filter(|cents| *cents >= 0)
                    .ok_or_else(|| Failure::invalid("price", price.clone()))?;
            }
            None if creating && product.type_id != "configurable" => {
                return Err(attribute_empty("price"));
            }
            None => {}
        }
        if let Some(set) = get("attribute_set_id") {
            product.attribute_set_id =
                unsigned(set).ok_or_else(|| Failure::invalid("attribute_set_id", set.clone()))?;
        }
        if let Some(status) = get("status") {
            product.status = unsigned(status)
                .filter(|status| (1..=2).contains(status))
                .and_then(|status| u8::try_from(status).ok())
                .ok_or_else(|| Failure::invalid("status", status.clone()))?;
        }
        if let Some(visibility) = get("visibility") {
            product.visibility = unsigned(visibility)
                .filter(|visibility| (1..=4).contains(visibility))
                .and_then(|visibility| u8::try_from(visibility).ok())
                .ok_or_else(|| Failure::invalid("visibility", visibility.clone()))?;
        }
        if let Some(weight) = get("weight") {
            product.weight =
                Some(decimal(weight).ok_or_else(|| Failure::invalid("weight", weight.clone()))?);
        }
        if let Some(attributes) = get("custom_attributes") {
            merge_attributes(
                &mut product.custom_attributes,
                custom_attributes(attributes)?,
            );
        }
        let extension = get("extension_attributes").cloned().unwrap_or(Value::Null);
        if let Some(links) = extension.get("category_links").filter(|l| !l.is_null()) {
            let links = links
                .as_array()
                .ok_or_else(|| Failure::invalid("category_links", links.clone()))?;
            let mut parsed = Vec::with_capacity(links.len());
            for link in links {
                let position = link.get("position").and_then(whole).unwrap_or(0);
                let category = link
                    .get("category_id")
                    .and_then(unsigned)
                    .filter(|id| self.categories.contains_key(id))
                    .ok_or_else(|| {
                        Failure::with(
                            StatusCode::BAD_REQUEST,
                            "Could not save product \"%1\" with position %2 to category %3",
                            json!([
                                sku,
                                position,
                                link.get("category_id").cloned().unwrap_or(Value::Null)
                            ]),
                        )
                    })?;
                parsed.push(CategoryLink {
                    category_id: category,
                    position,
                });
            }
            product.category_links = parsed;
        }
        if let Some(stock) = extension.get("stock_item").filter(|s| !s.is_null()) {
            if let Some(qty) = stock.get("qty").and_then(decimal) {
                product.stock_qty = qty;
            }
            if let Some(in_stock) = stock.get("is_in_stock").and_then(flag) {
                product.is_in_stock = in_stock;
            }
        }
        if let Some(options) = extension
            .get("configurable_product_options")
            .filter(|o| !o.is_null())
        {
            let options = options
                .as_array()
                .ok_or_else(|| Failure::invalid("configurable_product_options", options.clone()))?;
            let mut parsed = Vec::with_capacity(options.len());
            for option in options {
                let attribute_id = option
                    .get("attribute_id")
                    .and_then(text)
                    .ok_or_else(|| Failure::required("attribute_id"))?;
                let known = product
                    .configurable_options
                    .iter()
                    .find(|o| o.attribute_id == attribute_id)
                    .map(|o| o.id);
                parsed.push(ConfigurableOption {
                    id: known.unwrap_or_else(|| next(&mut self.ids.option)),
                    label: option.get("label").and_then(text).unwrap_or_default(),
                    position: option.get("position").and_then(whole).unwrap_or(0),
                    values: option
                        .get("values")
                        .and_then(Value::as_array)
                        .map(|values| {
                            values
                                .iter()
                                .filter_map(|v| v.get("value_index").and_then(whole))
                                .collect()
                        })
                        .unwrap_or_default(),
                    attribute_id,
                });
            }
            product.configurable_options = parsed;
        }
        if let Some(links) = extension
            .get("configurable_product_links")
            .filter(|l| !l.is_null())
        {
            let links = links
                .as_array()
                .ok_or_else(|| Failure::invalid("configurable_product_links", links.clone()))?;
            let mut parsed = Vec::with_capacity(links.len());
            for link in links {
                let child = unsigned(link)
                    .filter(|id| *id != product.id && self.products.contains_key(id))
                    .ok_or_else(|| {
                        Failure::with(
                            StatusCode::BAD_REQUEST,
                            "The configurable product link to product ID %1 is invalid: the product doesn't exist.",
                            json!([link]),
                        )
                    })?;
                parsed.push(child);
            }
            product.configurable_links = parsed;
        }
        if let Some(links) = get("product_links") {
            let links = links
                .as_array()
                .ok_or_else(|| Failure::invalid("product_links", links.clone()))?;
            let mut parsed = Vec::with_capacity(links.len());
            for link in links {
                let link_type = link.get("link_type").and_then(text).unwrap_or_default();
                if !["related", "upsell", "crosssell", "associated"].contains(&link_type.as_str()) {
                    return Err(Failure::invalid("link_type", link_type));
                }
                let linked_sku = link
                    .get("linked_product_sku")
                    .and_then(text)
                    .unwrap_or_default();
                let linked = self.product_by_sku(&linked_sku).ok_or_else(|| {
                    Failure::with(
                        StatusCode::BAD_REQUEST,
                        "The linked product \"%1\" doesn't exist. Verify the product and try again.",
                        json!([linked_sku]),
                    )
                })?;
                parsed.push(ProductLink {
                    link_type,
                    linked_product_sku: linked.sku.clone(),
                    linked_product_type: link
                        .get("linked_product_type")
                        .and_then(text)
                        .unwrap_or_else(|| linked.type_id.clone()),
                    position: link.get("position").and_then(whole).unwrap_or(0),
                });
            }
            product.product_links = parsed;
        }
        if let Some(entries) = get("media_gallery_entries") {
            let entries = entries
                .as_array()
                .ok_or_else(|| Failure::invalid("media_gallery_entries", entries.clone()))?;
            let mut parsed = Vec::with_capacity(entries.len());
            for entry in entries {
                // A new image comes as `content` (base64 and a name); the sandbox
                // keeps only where Magento would file it.
                let file = entry.get("file").and_then(text).or_else(|| {
                    let name = entry.get("content")?.get("name").and_then(text)?;
                    let mut chars = name.chars().filter(char::is_ascii_alphanumeric);
                    let (a, b) = (chars.next().unwrap_or('x'), chars.next().unwrap_or('x'));
                    Some(format!("/{a}/{b}/{name}").to_lowercase())
                });
                let file = file.ok_or_else(|| Failure::required("file"))?;
                let known = entry
                    .get("id")
                    .and_then(unsigned)
                    .filter(|id| product.media_gallery_entries.iter().any(|m| m.id == *id));
                parsed.push(MediaEntry {
                    id: known.unwrap_or_else(|| next(&mut self.ids.media)),
                    label: entry.get("label").and_then(text),
                    position: entry.get("position").and_then(whole).unwrap_or(0),
                    disabled: entry.get("disabled").and_then(flag).unwrap_or(false),
                    types: entry
                        .get("types")
                        .and_then(Value::as_array)
                        .map(|types| types.iter().filter_map(text).collect())
                        .unwrap_or_default(),
                    file,
                });
            }
            product.media_gallery_entries = parsed;
        }
        if creating {
            product.id = next(&mut self.ids.product);
        }
        product.updated_at = now;
        let (id, stock) = (product.id, extension.get("stock_item").is_some());
        if stock {
            // MSI keeps the legacy stock item and the default source together.
            let item = SourceItem {
                sku: product.sku.clone(),
                source_code: "default".to_owned(),
                quantity: product.stock_qty,
                status: u8::from(product.is_in_stock),
            };
            self.put_source_item(item);
        }
        self.products.insert(id, product);
        Ok(id)
    }

    /// `DELETE /V1/products/{sku}`, with what hangs off the product.
    fn delete_product(&mut self, sku: &str) -> Answer {
        let product = self.product(sku)?.clone();
        self.products.remove(&product.id);
        self.tier_prices
            .retain(|t| !t.sku.eq_ignore_ascii_case(&product.sku));
        self.source_items.retain(|s| s.sku != product.sku);
        for other in self.products.values_mut() {
            other.configurable_links.retain(|id| *id != product.id);
            other
                .product_links
                .retain(|l| !l.linked_product_sku.eq_ignore_ascii_case(&product.sku));
        }
        self.writes.products += 1;
        Ok(Value::Bool(true))
    }

    /// Moves the `updated_at` of the products of `skus`.
    fn touch_products(&mut self, skus: &[String]) {
        let now = self.clock.now();
        for product in self.products.values_mut() {
            if skus
                .iter()
                .any(|sku| sku.eq_ignore_ascii_case(&product.sku))
            {
                product.updated_at = now;
            }
        }
    }

    /// The body's `skus`, each a known product's canonical sku, or `404` as
    /// Magento's price storage answers.
    fn known_skus(&self, body: &Value) -> Result<Vec<String>, Failure> {
        let skus = member(body, "skus")?;
        let skus: Vec<String> = skus
            .as_array()
            .ok_or_else(|| Failure::invalid("skus", skus.clone()))?
            .iter()
            .filter_map(text)
            .collect();
        let unknown: Vec<&str> = skus
            .iter()
            .filter(|sku| self.product_by_sku(sku).is_none())
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(Failure::with(
                StatusCode::NOT_FOUND,
                "Requested products don't exist: %sku",
                json!({ "sku": unknown.join(", ") }),
            ));
        }
        Ok(skus
            .iter()
            .filter_map(|sku| self.product_by_sku(sku).map(|p| p.sku.clone()))
            .collect())
    }

    /// The tier prices of a `{"prices": [...]}` body that pass Magento's
    /// `TierPriceValidator`, and its failed items for the others.
    fn tier_price_rows(&self, body: &Value) -> Result<(Vec<TierPrice>, Vec<Value>), Failure> {
        let prices = member(body, "prices")?;
        let prices = prices
            .as_array()
            .ok_or_else(|| Failure::invalid("prices", prices.clone()))?;
        let key = |entry: &Value| {
            (
                entry
                    .get("sku")
                    .and_then(text)
                    .unwrap_or_default()
                    .to_lowercase(),
                entry.get("website_id").and_then(text).unwrap_or_default(),
                entry
                    .get("customer_group")
                    .and_then(text)
                    .unwrap_or_default()
                    .to_lowercase(),
                entry.get("quantity").and_then(decimal).map(f64::to_bits),
            )
        };
        let keys: Vec<_> = prices.iter().map(key).collect();
        let mut valid = Vec::new();
        let mut failed = Vec::new();
        const ROW: &str = "Row ID: SKU = %SKU, Website ID: %websiteId, Customer Group: %customerGroup, Quantity: %qty.";
        for (at, entry) in prices.iter().enumerate() {
            let field = |name: &str| entry.get(name).and_then(text).unwrap_or_default();
            let parameters = |extra: Option<(&str, String)>| {
                let mut parameters = json!({
                    "SKU": field("sku"),
                    "websiteId": field("website_id"),
                    "customerGroup": field("customer_group"),
                    "qty": field("quantity"),
                });
                if let Some((name, value)) = extra {
                    parameters[name] = value.into();
                }
                parameters
            };
            let before = failed.len();
            let mut fail = |message: &str, extra: Option<(&str, String)>| {
                failed.push(json!({
                    "message": format!("{message} {ROW}"),
                    "parameters": parameters(extra),
                }));
            };
            let product = self.product_by_sku(&field("sku"));
            if product.is_none() {
                fail("Invalid attribute SKU = %SKU.", None);
            }
            let price_type = match field("price_type").to_ascii_lowercase().as_str() {
                "fixed" => Some(PriceType::Fixed),
                "discount" => Some(PriceType::Discount),
                _ => None,
            };
            let price = entry.get("price").and_then(cents_of);
            if price.is_none_or(|price| {
                price < 0 || price_type == Some(PriceType::Discount) && price > 10_000
            }) {
                fail(
                    "Invalid attribute Price = %price.",
                    Some(("price", field("price"))),
                );
            }
            if price_type.is_none()
                || product.is_some_and(|p| p.type_id == "bundle")
                    && price_type != Some(PriceType::Discount)
            {
                fail(
                    "Invalid attribute Price Type = %priceType.",
                    Some(("priceType", field("price_type"))),
                );
            }
            let quantity = entry.get("quantity").and_then(decimal);
            if product.is_some() && quantity.is_none_or(|qty| qty < 1.0) {
                fail("Invalid attribute Quantity = %qty.", None);
            }
            // The price scope is global (Magento's default): website 0 only.
            let website_id = entry.get("website_id").and_then(unsigned);
            if website_id != Some(0) {
                fail("Invalid attribute Website ID = %websiteId.", None);
            }
            if keys.iter().filter(|k| **k == keys[at]).count() > 1 {
                fail(
                    "We found a duplicate website, tier price, customer group and quantity: \
                     Customer Group = %customerGroup, Website ID = %websiteId, Quantity = %qty.",
                    None,
                );
            }
            let group = field("customer_group");
            let group = if group.eq_ignore_ascii_case(ALL_GROUPS) {
                Some(ALL_GROUPS.to_owned())
            } else {
                self.group_by_code(&group).map(|g| g.code.clone())
            };
            if group.is_none() {
                fail("No such entity with Customer Group = %customerGroup.", None);
            }
            if failed.len() > before {
                continue;
            }
            if let (Some(product), Some(group), Some(quantity), Some(price_type), Some(price)) =
                (product, group, quantity, price_type, price)
            {
                valid.push(TierPrice {
                    sku: product.sku.clone(),
                    website_id: 0,
                    customer_group: group,
                    quantity,
                    price_type,
                    price,
                });
            }
        }
        Ok((valid, failed))
    }

    /// `POST` (`replace` false) and `PUT` (`replace` true)
    /// `/V1/products/tier-prices`.
    fn save_tier_prices(&mut self, body: &Value, replace: bool) -> Answer {
        let (valid, failed) = self.tier_price_rows(body)?;
        let skus: Vec<String> = valid.iter().map(|t| t.sku.clone()).collect();
        if replace {
            self.tier_prices
                .retain(|t| !skus.iter().any(|sku| sku.eq_ignore_ascii_case(&t.sku)));
        }
        for price in valid {
            match self.tier_prices.iter_mut().find(|t| t.same_row(&price)) {
                Some(existing) => *existing = price,
                None => self.tier_prices.push(price),
            }
            self.writes.tier_prices += 1;
        }
        self.touch_products(&skus);
        Ok(failed.into())
    }

    /// `POST /V1/products/tier-prices-delete`.
    fn delete_tier_prices(&mut self, body: &Value) -> Answer {
        let (valid, failed) = self.tier_price_rows(body)?;
        let skus: Vec<String> = valid.iter().map(|t| t.sku.clone()).collect();
        for price in &valid {
            let before = self.tier_prices.len();
            self.tier_prices.retain(|t| !t.same_row(price));
            self.writes.tier_prices += (before - self.tier_prices.len()) as u64;
        }
        self.touch_products(&skus);
        Ok(failed.into())
    }

    /// `POST /V1/products/tier-prices-information`.
    fn tier_prices_of(&self, body: &Value) -> Answer {
        let skus = self.known_skus(body)?;
        Ok(self
            .tier_prices
            .iter()
            .filter(|t| skus.iter().any(|sku| sku.eq_ignore_ascii_case(&t.sku)))
            .map(tier_price_json)
            .collect())
    }

    /// `POST /V1/products/base-prices`: Magento's `BasePriceStorage::update`;
    /// global price scope, so every store's price is store 0's.
    fn save_base_prices(&mut self, body: &Value) -> Answer {
        let prices = member(body, "prices")?;
        let prices = prices
            .as_array()
            .ok_or_else(|| Failure::invalid("prices", prices.clone()))?;
        let mut failed = Vec::new();
        let mut valid = Vec::new();
        for entry in prices {
            let sku = entry.get("sku").and_then(text).unwrap_or_default();
            let before = failed.len();
            let product = self
                .product_by_sku(&sku)
                .filter(|p| p.type_id != "configurable");
            if product.is_none() {
                failed.push(json!({
                    "message": "Invalid attribute %fieldName = %fieldValue.",
                    "parameters": { "fieldName": "SKU", "fieldValue": sku },
                }));
            }
            let price = entry.get("price").and_then(cents_of).filter(|p| *p >= 0);
            if price.is_none() {
                failed.push(json!({
                    "message": "Invalid attribute %fieldName = %fieldValue.",
                    "parameters": {
                        "fieldName": "Price",
                        "fieldValue": entry.get("price").and_then(text).unwrap_or_default(),
                    },
                }));
            }
            let store_id = entry.get("store_id").and_then(unsigned);
            if !matches!(store_id, Some(0 | 1)) {
                failed.push(json!({
                    "message": "Requested store is not found. Row ID: SKU = %SKU, Store ID: %storeId.",
                    "parameters": {
                        "SKU": sku,
                        "storeId": entry.get("store_id").and_then(text).unwrap_or_default(),
                    },
                }));
            }
            if let (true, Some(product), Some(price)) = (failed.len() == before, product, price) {
                valid.push((product.id, price));
            }
        }
        let now = self.clock.now();
        for (id, price) in valid {
            if let Some(product) = self.products.get_mut(&id) {
                product.price = price;
                product.updated_at = now;
                self.writes.base_prices += 1;
            }
        }
        Ok(failed.into())
    }

    /// `POST /V1/products/base-prices-information`.
    fn base_prices_of(&self, body: &Value) -> Answer {
        let skus = self.known_skus(body)?;
        Ok(skus
            .iter()
            .filter_map(|sku| self.product_by_sku(sku))
            .map(|p| json!({ "price": money(p.price), "store_id": 0, "sku": p.sku }))
            .collect())
    }

    /// Saves `item` over the one of its sku and source, and keeps the legacy
    /// stock item of the `default` source.
    fn put_source_item(&mut self, item: SourceItem) {
        if item.source_code == "default"
            && let Some(product) = self
                .products
                .values_mut()
                .find(|p| p.sku.eq_ignore_ascii_case(&item.sku))
        {
            product.stock_qty = item.quantity;
            product.is_in_stock = item.status == 1;
        }
        match self
            .source_items
            .iter_mut()
            .find(|s| s.sku == item.sku && s.source_code == item.source_code)
        {
            Some(existing) => *existing = item,
            None => self.source_items.push(item),
        }
    }

    /// `POST /V1/inventory/source-items`: all or nothing, as MSI saves them.
    fn save_source_items(&mut self, body: &Value) -> Answer {
        let entries = member(body, "sourceItems")?;
        let entries = entries
            .as_array()
            .ok_or_else(|| Failure::invalid("sourceItems", entries.clone()))?;
        let mut errors = Vec::new();
        let mut items = Vec::with_capacity(entries.len());
        let mut unknown_source = false;
        for entry in entries {
            let sku = entry.get("sku").and_then(text).unwrap_or_default();
            let source_code = entry.get("source_code").and_then(text).unwrap_or_default();
            let product = self.product_by_sku(&sku);
            if product.is_none() {
                errors.push(json!({
                    "message": "Product with requested \"%field\": \"%value\" was not found.",
                    "parameters": { "field": "sku", "value": sku },
                }));
            }
            if source_code.is_empty() {
                errors.push(json!({
                    "message": "\"%field\" can not be empty.",
                    "parameters": { "field": "source_code" },
                }));
            } else if !self.sources.iter().any(|s| s.source_code == source_code) {
                unknown_source = true;
            }
            let quantity = entry.get("quantity").and_then(decimal);
            if quantity.is_none() {
                errors.push(json!({
                    "message": "\"%field\" should be numeric.",
                    "parameters": { "field": "quantity" },
                }));
            }
            let status = entry.get("status").and_then(unsigned).filter(|s| *s <= 1);
            if status.is_none() {
                errors.push(json!({
                    "message": "\"%field\" should a known status.",
                    "parameters": { "field": "status" },
                }));
            }
            if let (Some(product), Some(quantity), Some(status)) = (product, quantity, status) {
                items.push(SourceItem {
                    sku: product.sku.clone(),
                    source_code,
                    quantity,
                    status: u8::from(status == 1),
                });
            }
        }
        if !errors.is_empty() {
            return Err(Failure {
                status: StatusCode::BAD_REQUEST,
                body: json!({ "message": "Validation Failed", "errors": errors }),
            });
        }
        if unknown_source {
            // MSI validates the code's form; the database's foreign key refuses
            // a source that does not exist.
            return Err(Failure::bad_request("Could not save Source Item"));
        }
        for item in items {
            self.put_source_item(item);
            self.writes.source_items += 1;
        }
        Ok(json!([]))
    }

    /// `POST /V1/inventory/source-items-delete`.
    fn delete_source_items(&mut self, body: &Value) -> Answer {
        let entries = member(body, "sourceItems")?;
        let entries = entries
            .as_array()
            .ok_or_else(|| Failure::invalid("sourceItems", entries.clone()))?;
        for entry in entries {
            let sku = entry.get("sku").and_then(text).unwrap_or_default();
            let source = entry.get("source_code").and_then(text).unwrap_or_default();
            let before = self.source_items.len();
            self.source_items
                .retain(|s| !(s.sku.eq_ignore_ascii_case(&sku) && s.source_code == source));
            self.writes.source_items += (before - self.source_items.len()) as u64;
        }
        Ok(json!([]))
    }

    /// `POST /V1/async/bulk/V1/products`: accepts the request and schedules
    /// its operations on `shared` after the bulk delay.
    fn accept_bulk(&mut self, shared: &Shared, principal: Principal, body: &Value) -> Answer {
        let Some(entries) = body.as_array() else {
            return Err(Failure::bad_request(
                "The request body must be a list of operations: [{\"product\": {...}}, ...].",
            ));
        };
        let uuid = random_uuid();
        let mut request_items = Vec::with_capacity(entries.len());
        let mut operations = Vec::with_capacity(entries.len());
        for (at, entry) in entries.iter().enumerate() {
            let data_hash = sha256_hex(entry.to_string().as_bytes());
            let product = entry.get("product").filter(|p| p.is_object());
            let status = if product.is_some() { 4 } else { 5 };
            let mut item = json!({
                "id": at,
                "data_hash": data_hash,
                "status": if product.is_some() { "accepted" } else { "rejected" },
            });
            if product.is_none() {
                item["error_message"] = "\"product\" is required. Enter and try again.".into();
            }
            request_items.push(item);
            operations.push(BulkOperation {
                id: next(&mut self.ids.operation),
                status,
                result_message: product
                    .is_none()
                    .then(|| "\"product\" is required. Enter and try again.".to_owned()),
                error_code: product.is_none().then_some(0),
                product: product.cloned().unwrap_or(Value::Null),
            });
        }
        let (user_type, user_id) = principal.user();
        self.bulks.insert(
            uuid.clone(),
            Bulk {
                user_type,
                user_id,
                start_time: self.clock.now(),
                operations,
            },
        );
        let delay = self.bulk_delay;
        let shared = Arc::clone(shared);
        let scheduled = uuid.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            lock(&shared).run_bulk(&scheduled);
        });
        let errors = request_items
            .iter()
            .any(|item| item["status"] == "rejected");
        Ok(json!({ "bulk_uuid": uuid, "request_items": request_items, "errors": errors }))
    }

    /// Runs the open operations of bulk `uuid`, each on its own: a failure is
    /// that operation's only.
    fn run_bulk(&mut self, uuid: &str) {
        let Some(bulk) = self.bulks.get(uuid) else {
            return;
        };
        let open: Vec<(usize, Value)> = bulk
            .operations
            .iter()
            .enumerate()
            .filter(|(_, op)| op.status == 4)
            .map(|(at, op)| (at, op.product.clone()))
            .collect();
        for (at, product) in open {
            let outcome = self.save_product(&product, None);
            if outcome.is_ok() {
                self.writes.products += 1;
            }
            if let Some(operation) = self
                .bulks
                .get_mut(uuid)
                .and_then(|bulk| bulk.operations.get_mut(at))
            {
                match outcome {
                    Ok(_) => {
                        operation.status = 1;
                        operation.result_message = Some(BULK_SUCCESS.to_owned());
                    }
                    Err(failure) => {
                        operation.status = 3;
                        operation.result_message = Some(failure.message());
                        operation.error_code = Some(0);
                    }
                }
            }
        }
    }

    /// `GET /V1/bulk/{uuid}/status`.
    fn bulk_status(&self, uuid: &str) -> Answer {
        let bulk = self.bulks.get(uuid).ok_or_else(|| {
            Failure::with(
                StatusCode::NOT_FOUND,
                "Bulk uuid %bulkUuid not exist",
                json!({ "bulkUuid": uuid }),
            )
        })?;
        let operations: Vec<Value> = bulk
            .operations
            .iter()
            .map(|op| {
                json!({
                    "id": op.id,
                    "status": op.status,
                    "result_message": op.result_message,
                    "error_code": op.error_code,
                })
            })
            .collect();
        Ok(json!({
            "operations_list": operations,
            "user_type": bulk.user_type,
            "bulk_id": uuid,
            "description": format!("Topic {BULK_TOPIC}"),
            "start_time": magento_time(bulk.start_time),
            "user_id": bulk.user_id,
            "operation_count": bulk.operations.len(),
        }))
    }
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

/// Percent-decodes `text` (and `+` as a space in a query); a malformed escape
/// stays as it is.
fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' => {
                let decoded = bytes
                    .get(i + 1..i + 3)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok());
                match decoded {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The store codes the sandbox serves; `/rest/V1` is the default store.
const STORE_CODES: [&str; 2] = ["default", "all"];

/// One request, as the dispatcher sees it.
#[derive(Debug)]
struct Call {
    method: Method,
    /// Path segments after `/rest` and the store code, decoded: `["V1",
    /// "orders", "7"]`; or the answer for a path that is no route.
    route: Result<Vec<String>, Failure>,
    query: Vec<(String, String)>,
    bearer: Option<String>,
    body: Bytes,
}

impl Call {
    fn new(method: Method, uri: &Uri, headers: &HeaderMap, body: Bytes) -> Call {
        let segments: Vec<String> = uri
            .path()
            .split('/')
            .filter(|segment| !segment.is_empty())
            .map(|segment| percent_decode(segment, false))
            .collect();
        let route = match segments.split_first() {
            Some((rest, tail)) if rest == "rest" => match tail {
                [v1, ..] if v1 == "V1" => Ok(tail.to_vec()),
                [store, v1, ..] if v1 == "V1" && STORE_CODES.contains(&store.as_str()) => {
                    Ok(tail[1..].to_vec())
                }
                [_, v1, ..] if v1 == "V1" => Err(Failure::bad_request(
                    "The store that was requested wasn't found. Verify the store and try again.",
                )),
                _ => Err(no_route()),
            },
            _ => Err(no_route()),
        };
        let query = uri
            .query()
            .unwrap_or_default()
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(key, true), percent_decode(value, true))
            })
            .collect();
        let bearer = headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().to_owned());
        Call {
            method,
            route,
            query,
            bearer,
            body,
        }
    }

    /// `/V1/orders/7`, what a scripted fault's prefix is matched with; the raw
    /// path for a path that is no route.
    fn route_path(&self, raw: &str) -> String {
        match &self.route {
            Ok(segments) => format!("/{}", segments.join("/")),
            Err(_) => raw.to_owned(),
        }
    }
}

fn no_route() -> Failure {
    Failure::new(StatusCode::NOT_FOUND, "Request does not match any route.")
}

/// Answers one call against the instance: the token endpoint, the bearer
/// check, then the route.
fn dispatch(shared: &Shared, call: &Call) -> Reply {
    let route = match &call.route {
        Ok(route) => route,
        Err(failure) => return Reply::of(Err(failure.clone())),
    };
    let segments: Vec<&str> = route.iter().map(String::as_str).collect();
    let method = call.method.as_str();
    let mut instance = lock(shared);
    if let ("POST", ["V1", "integration", "admin", "token"]) = (method, segments.as_slice()) {
        return Reply::of(instance.issue_admin_token(&call.body));
    }
    let Some(principal) = instance.authenticate(call.bearer.as_deref()) else {
        return Reply::of(Err(Failure::with(
            StatusCode::UNAUTHORIZED,
            "The consumer isn't authorized to access %resources.",
            json!({ "resources": acl_resource(&segments) }),
        )));
    };
    let answer = instance.route(shared, principal, method, &segments, call);
    match (answer, segments.as_slice()) {
        // Magento answers accepted async requests `202`.
        (Ok(body), ["V1", "async", ..]) => Reply::json(StatusCode::ACCEPTED, &body),
        (answer, _) => Reply::of(answer),
    }
}

impl Instance {
    /// The route table.
    fn route(
        &mut self,
        shared: &Shared,
        principal: Principal,
        method: &str,
        segments: &[&str],
        call: &Call,
    ) -> Answer {
        let criteria = |required| SearchCriteria::parse(&call.query, required);
        let body = || body_json(&call.body);
        match (method, segments) {
            ("GET", ["V1", "orders"]) => {
                Ok(criteria(true)?.search(self.orders.values().map(order_json).collect()))
            }
            ("GET", ["V1", "orders", id]) => Ok(order_json(self.order(id)?)),
            ("POST", ["V1", "orders", id, "comments"]) => self.add_comment(id, &body()?),
            ("POST", ["V1", "orders", id, "hold"]) => self.hold(id),
            ("POST", ["V1", "orders", id, "unhold"]) => self.unhold(id),
            ("POST", ["V1", "orders", id, "cancel"]) => self.cancel(id),
            ("POST", ["V1", "order", id, "ship"]) => self.ship(id, &body()?),
            ("POST", ["V1", "order", id, "refund"]) => self.refund(id, &body()?),
            ("GET", ["V1", "shipments"]) => {
                Ok(criteria(true)?.search(self.shipments.values().map(shipment_json).collect()))
            }
            ("GET", ["V1", "shipment", id]) => id
                .parse::<u64>()
                .ok()
                .and_then(|id| self.shipments.get(&id))
                .map(shipment_json)
                .ok_or_else(Failure::entity_not_found),
            ("GET", ["V1", "creditmemos"]) => {
                Ok(criteria(true)?
                    .search(self.credit_memos.values().map(credit_memo_json).collect()))
            }
            ("GET", ["V1", "creditmemo", id]) => id
                .parse::<u64>()
                .ok()
                .and_then(|id| self.credit_memos.get(&id))
                .map(credit_memo_json)
                .ok_or_else(Failure::entity_not_found),
            ("POST", ["V1", "returns"]) => self.save_rma(None, &body()?),
            ("PUT", ["V1", "returns", id]) => self.save_rma(Some(id), &body()?),
            ("GET", ["V1", "returns"]) => {
                Ok(criteria(true)?.search(self.returns.values().map(rma_json).collect()))
            }
            ("GET", ["V1", "returns", id]) => Ok(rma_json(self.rma(id)?)),
            ("GET", ["V1", "customers", "search"]) => {
                Ok(criteria(true)?.search(self.customers.values().map(customer_json).collect()))
            }
            ("GET", ["V1", "customers", id]) => Ok(customer_json(self.customer(id)?)),
            ("PUT", ["V1", "customers", id]) => self.update_customer(id, &body()?),
            ("GET", ["V1", "customerGroups", "search"]) => {
                Ok(criteria(true)?.search(self.customer_groups.values().map(group_json).collect()))
            }
            ("POST", ["V1", "customerGroups"]) => self.create_customer_group(&body()?),
            ("GET", ["V1", "customerGroups", id]) => Ok(group_json(self.customer_group(id)?)),
            ("GET", ["V1", "categories"]) => self.category_tree_answer(&call.query),
            ("POST", ["V1", "categories"]) => self.save_category(None, &body()?),
            ("GET", ["V1", "categories", "list"]) => {
                let items = self
                    .categories
                    .values()
                    .map(|c| self.category_json(c))
                    .collect();
                Ok(criteria(true)?.search(items))
            }
            ("GET", ["V1", "categories", id]) => Ok(self.category_json(self.category(id)?)),
            ("PUT", ["V1", "categories", id]) => self.save_category(Some(id), &body()?),
            ("POST", ["V1", "products", "tier-prices"]) => self.save_tier_prices(&body()?, false),
            ("PUT", ["V1", "products", "tier-prices"]) => self.save_tier_prices(&body()?, true),
            ("POST", ["V1", "products", "tier-prices-information"]) => {
                self.tier_prices_of(&body()?)
            }
            ("POST", ["V1", "products", "tier-prices-delete"]) => self.delete_tier_prices(&body()?),
            ("POST", ["V1", "products", "base-prices"]) => self.save_base_prices(&body()?),
            ("POST", ["V1", "products", "base-prices-information"]) => {
                self.base_prices_of(&body()?)
            }
            ("POST", ["V1", "products"]) => {
                let body = body()?;
                let id = self.save_product(member(&body, "product")?, None)?;
                self.writes.products += 1;
                Ok(self.product_json(&self.products[&id]))
            }
            ("PUT", ["V1", "products", sku]) => {
                let body = body()?;
                let id = self.save_product(member(&body, "product")?, Some(sku))?;
                self.writes.products += 1;
                Ok(self.product_json(&self.products[&id]))
            }
            ("GET", ["V1", "products"]) => {
                let items = self
                    .products
                    .values()
                    .map(|p| self.product_json(p))
                    .collect();
                Ok(criteria(true)?.search(items))
            }
            ("GET", ["V1", "products", sku]) => Ok(self.product_json(self.product(sku)?)),
            ("DELETE", ["V1", "products", sku]) => self.delete_product(sku),
            ("POST", ["V1", "async", "bulk", "V1", "products"]) => {
                self.accept_bulk(shared, principal, &body()?)
            }
            ("GET", ["V1", "bulk", uuid, "status"]) => self.bulk_status(uuid),
            ("GET", ["V1", "inventory", "sources"]) => {
                Ok(criteria(false)?.search(self.sources.iter().map(source_json).collect()))
            }
            ("GET", ["V1", "inventory", "source-items"]) => {
                Ok(criteria(false)?
                    .search(self.source_items.iter().map(source_item_json).collect()))
            }
            ("POST", ["V1", "inventory", "source-items"]) => self.save_source_items(&body()?),
            ("POST", ["V1", "inventory", "source-items-delete"]) => {
                self.delete_source_items(&body()?)
            }
            _ => Err(no_route()),
        }
    }
}

/// Every request: the rate limit, the scripted fault, then the API; recorded
/// in [`Magento::requests`].
async fn serve(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let record = RequestRecord {
        arrived: Instant::now(),
        method: method.to_string(),
        path: uri.path().to_owned(),
        status: 0,
    };
    let call = Call::new(method, &uri, &headers, body);
    let (admission, fault) = {
        let mut instance = lock(&shared);
        let admission = instance
            .rate
            .as_mut()
            .map(|rate| rate.admit(record.arrived));
        // A refused request takes no fault: the fault waits for one that gets in.
        let fault = match admission {
            Some(refused) if !refused.admitted => None,
            _ => instance.take_fault(&call.route_path(uri.path())),
        };
        (admission, fault)
    };
    // How the reply goes out: whole, or cut by a fault after it was served.
    let mut send: fn(Reply) -> Response = Reply::into_response;
    let reply = match (admission, fault) {
        (Some(refused), _) if !refused.admitted => Reply::too_many(refused.reset_secs),
        (_, Some(Fault::Status(status))) => Reply::scripted(scripted_status(status)),
        (_, Some(Fault::RateLimited { retry_after_secs })) => Reply::too_many(retry_after_secs),
        (_, Some(Fault::Slow { ms })) => {
            // On a task of its own: a client that gave up does not cancel it,
            // so a write is applied (and recorded) after the wait, as by a
            // real server.
            let shared = Arc::clone(&shared);
            let served = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                let reply = dispatch(&shared, &call);
                let status = reply.status.as_u16();
                lock(&shared)
                    .requests
                    .push(RequestRecord { status, ..record });
                reply
            });
            return served
                .await
                .unwrap_or_else(|_| Reply::scripted(StatusCode::INTERNAL_SERVER_ERROR))
                .into_response();
        }
        (_, Some(Fault::ShortBody)) => {
            send = Reply::cut_short;
            dispatch(&shared, &call)
        }
        (_, Some(Fault::TruncatedJson)) => {
            send = Reply::truncated;
            dispatch(&shared, &call)
        }
        (_, Some(Fault::Pass) | None) => dispatch(&shared, &call),
    };
    let status = reply.status.as_u16();
    lock(&shared)
        .requests
        .push(RequestRecord { status, ..record });
    send(reply)
}

/// `/V1/order/` for `/rest/default/V1/order/`, `V1/order/` or `/V1/order/`:
/// the form routes are matched with.
fn route_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_start_matches('/');
    let trimmed = trimmed.strip_prefix("rest/").unwrap_or(trimmed);
    let trimmed = STORE_CODES
        .iter()
        .find_map(|store| trimmed.strip_prefix(&format!("{store}/")))
        .unwrap_or(trimmed);
    format!("/{trimmed}")
}

// ---------------------------------------------------------------------------
// The handle
// ---------------------------------------------------------------------------

/// A running Magento sandbox; dropping it stops the server too.
#[derive(Debug)]
pub struct Magento {
    server: Server,
    instance: Shared,
}

impl Magento {
    /// Starts an instance with `seed` on `127.0.0.1` (port picked by the
    /// system) that accepts the integration access token `integration_token`.
    pub async fn start(integration_token: &str, seed: MagentoSeed) -> anyhow::Result<Magento> {
        Self::start_on(super::ANY_LOOPBACK_PORT, integration_token, seed).await
    }

    /// As [`Magento::start`], on the address `addr`.
    pub async fn start_on(
        addr: SocketAddr,
        integration_token: &str,
        seed: MagentoSeed,
    ) -> anyhow::Result<Magento> {
        anyhow::ensure!(
            !integration_token.trim().is_empty(),
            "the magento sandbox needs a non-empty integration token"
        );
        let instance = Arc::new(Mutex::new(Instance::new(integration_token, seed)));
        // Magento answers `401` in its own shape, so it checks tokens itself:
        // every path is served by the public router, and the shared bearer
        // check (which answers `{"error"}`) guards nothing here.
        let none: TokenCheck = Arc::new(|_| false);
        let public = Router::new()
            .route("/", any(serve))
            .route("/{*path}", any(serve))
            .with_state(Arc::clone(&instance));
        let server = Server::start_with("magento", addr, none, Router::new(), public).await?;
        Ok(Magento { server, instance })
    }

    /// `http://127.0.0.1:PORT`, the instance's base URL up to and excluding
    /// `/rest`, without a trailing slash: the API is at `{url}/rest/V1/...`.
    pub fn url(&self) -> String {
        self.server.base_url()
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    // --- Clock --------------------------------------------------------------

    /// Stops the clock at `at` (`2026-11-23 10:00:00`, UTC): every change made
    /// until it moves shares that second.
    ///
    /// # Panics
    /// If `at` is not such a time.
    pub fn freeze_clock(&self, at: &str) {
        let secs = parse_time(at)
            .unwrap_or_else(|| panic!("freeze_clock needs `YYYY-MM-DD HH:MM:SS`, not `{at}`"));
        lock(&self.instance).clock.frozen = Some(secs);
    }

    /// Moves the clock `by` whole seconds forward, and leaves it frozen there
    /// (a running clock is frozen at its present second first).
    pub fn advance_clock(&self, by: Duration) {
        let mut instance = lock(&self.instance);
        let now = instance.clock.now();
        let by = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        instance.clock.frozen = Some(now.saturating_add(by));
    }

    /// Lets the clock follow the system's again.
    pub fn resume_clock(&self) {
        lock(&self.instance).clock.frozen = None;
    }

    /// The instance's present time, `2026-11-23 10:00:00`.
    pub fn now(&self) -> String {
        magento_time(lock(&self.instance).clock.now())
    }

    // --- Auth ---------------------------------------------------------------

    /// How long admin tokens issued from now on and before open the API.
    pub fn set_admin_token_ttl(&self, ttl: Duration) {
        lock(&self.instance).admin_token_ttl = ttl;
    }

    /// Revokes every admin token issued so far; the integration token stays.
    pub fn revoke_admin_tokens(&self) {
        lock(&self.instance).admin_tokens.clear();
    }

    /// How many admin tokens were issued and not revoked.
    pub fn admin_tokens_issued(&self) -> usize {
        lock(&self.instance).admin_tokens.len()
    }

    // --- Orders, as the storefront and the admin change them ---------------

    /// Places `order` now: as the storefront does, with ids and increment id
    /// given here; answers it.
    pub fn add_order(&self, order: NewOrder) -> Order {
        let mut instance = lock(&self.instance);
        let id = instance.place_order(order);
        instance.orders[&id].clone()
    }

    /// Changes order `entity_id` with `edit` as the admin would, and moves its
    /// `updated_at` to now; answers it.
    ///
    /// # Panics
    /// If there is no such order.
    pub fn edit_order(&self, entity_id: u64, edit: impl FnOnce(&mut Order)) -> Order {
        let mut instance = lock(&self.instance);
        let now = instance.clock.now();
        let order = instance
            .orders
            .get_mut(&entity_id)
            .unwrap_or_else(|| panic!("the Magento sandbox has no order {entity_id}"));
        edit(order);
        order.entity_id = entity_id;
        order.updated_at = now;
        order.clone()
    }

    /// Refunds as a merchant does in the admin (an offline credit memo, with
    /// the API's checks); answers the credit memo, or the message Magento
    /// would show. Not counted in [`Magento::writes`].
    pub fn refund_in_admin(
        &self,
        order_id: u64,
        refund: AdminRefund,
    ) -> Result<CreditMemo, String> {
        let mut instance = lock(&self.instance);
        let id = instance
            .create_credit_memo(order_id, &refund, None)
            .map_err(|failure| failure.message())?;
        Ok(instance.credit_memos[&id].clone())
    }

    /// Ships as a warehouse clerk does in the admin: `items` as
    /// `(order_item_id, qty)`, empty for everything left. Not counted in
    /// [`Magento::writes`].
    pub fn ship_in_admin(
        &self,
        order_id: u64,
        items: &[(u64, u32)],
        track: Option<(&str, &str, &str)>,
    ) -> Result<Shipment, String> {
        let mut instance = lock(&self.instance);
        let tracks = track
            .map(|(number, title, carrier)| {
                (number.to_owned(), title.to_owned(), carrier.to_owned())
            })
            .into_iter()
            .collect();
        let id = instance
            .create_shipment(order_id, items, tracks, None)
            .map_err(|failure| failure.message())?;
        Ok(instance.shipments[&id].clone())
    }

    // --- Reading back ---------------------------------------------------------

    /// Every order, by `entity_id`.
    pub fn orders(&self) -> Vec<Order> {
        lock(&self.instance).orders.values().cloned().collect()
    }

    pub fn order(&self, entity_id: u64) -> Option<Order> {
        lock(&self.instance).orders.get(&entity_id).cloned()
    }

    /// Every shipment, by `entity_id`.
    pub fn shipments(&self) -> Vec<Shipment> {
        lock(&self.instance).shipments.values().cloned().collect()
    }

    /// Every credit memo, by `entity_id`.
    pub fn credit_memos(&self) -> Vec<CreditMemo> {
        lock(&self.instance)
            .credit_memos
            .values()
            .cloned()
            .collect()
    }

    /// Every return (RMA), by `entity_id`.
    pub fn returns(&self) -> Vec<Rma> {
        lock(&self.instance).returns.values().cloned().collect()
    }

    pub fn rma(&self, entity_id: u64) -> Option<Rma> {
        lock(&self.instance).returns.get(&entity_id).cloned()
    }

    /// The units of `sku` (compared case-insensitively) that order
    /// `order_entity_id`'s lines show as returned (their `qty_returned`);
    /// `None` when the order has no line of that sku.
    pub fn qty_returned(&self, order_entity_id: u64, sku: &str) -> Option<u32> {
        let instance = lock(&self.instance);
        let lines: Vec<&OrderItem> = instance
            .orders
            .get(&order_entity_id)?
            .items
            .iter()
            .filter(|item| item.parent_item_id.is_none() && item.sku.eq_ignore_ascii_case(sku))
            .collect();
        (!lines.is_empty()).then(|| lines.iter().map(|item| item.qty_returned).sum())
    }

    /// Every product, by `id`.
    pub fn products(&self) -> Vec<Product> {
        lock(&self.instance).products.values().cloned().collect()
    }

    /// The product of `sku` (compared case-insensitively).
    pub fn product(&self, sku: &str) -> Option<Product> {
        lock(&self.instance).product_by_sku(sku).cloned()
    }

    /// Every customer, by `id`.
    pub fn customers(&self) -> Vec<Customer> {
        lock(&self.instance).customers.values().cloned().collect()
    }

    /// Every customer group, by `id`.
    pub fn customer_groups(&self) -> Vec<CustomerGroup> {
        lock(&self.instance)
            .customer_groups
            .values()
            .cloned()
            .collect()
    }

    /// Every category, by `id`.
    pub fn categories(&self) -> Vec<Category> {
        lock(&self.instance).categories.values().cloned().collect()
    }

    /// Every source item, in the order they were first saved.
    pub fn source_items(&self) -> Vec<SourceItem> {
        lock(&self.instance).source_items.clone()
    }

    /// Every tier price.
    pub fn tier_prices(&self) -> Vec<TierPrice> {
        lock(&self.instance).tier_prices.clone()
    }

    /// The unit price the storefront charges the customer of `email` (a guest
    /// for `None`: group `NOT LOGGED IN`) for `qty` of `sku`, as Magento's
    /// price resolution takes it: the lowest of the product's price and the
    /// tier prices of the customer's group or of all groups from at most
    /// `qty` units (a percentage one off the product's price). `None` for an
    /// unknown product or customer.
    pub fn price_for(&self, email: Option<&str>, sku: &str, qty: u32) -> Option<Cents> {
        let instance = lock(&self.instance);
        let product = instance.product_by_sku(sku)?;
        let group_id = match email {
            None => 0,
            Some(email) => {
                instance
                    .customers
                    .values()
                    .find(|c| c.email.eq_ignore_ascii_case(email))?
                    .group_id
            }
        };
        let group = instance.customer_groups.get(&group_id)?.code.clone();
        let tiers = instance.tier_prices.iter().filter(|tier| {
            tier.sku == sku
                && (tier.customer_group == group || tier.customer_group == ALL_GROUPS)
                && tier.quantity <= f64::from(qty)
        });
        let price = tiers
            .map(|tier| match tier.price_type {
                PriceType::Fixed => tier.price,
                PriceType::Discount => product.price * (10_000 - tier.price) / 10_000,
            })
            .fold(product.price, Cents::min);
        Some(price)
    }

    /// The writes clients applied so far, per entity.
    pub fn writes(&self) -> Writes {
        lock(&self.instance).writes
    }

    /// Every request answered so far, in the order they were answered (a
    /// scripted fault's and a rate-limited one's included).
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.instance).requests.clone()
    }

    // --- Faults and limits ----------------------------------------------------

    /// Appends `faults` for any request: each following request takes the
    /// first queued fault that applies to it.
    ///
    /// # Panics
    /// If a [`Fault::Status`] is not an HTTP status code (100 to 999).
    pub fn script(&self, faults: impl IntoIterator<Item = Fault>) {
        self.queue(None, faults);
    }

    /// Appends `faults` for requests whose route starts with `prefix`
    /// (`/V1/order/`, `/V1/products`; `/rest` and a store code may lead it).
    ///
    /// # Panics
    /// If a [`Fault::Status`] is not an HTTP status code (100 to 999).
    pub fn script_on(&self, prefix: &str, faults: impl IntoIterator<Item = Fault>) {
        self.queue(Some(route_prefix(prefix)), faults);
    }

    fn queue(&self, prefix: Option<String>, faults: impl IntoIterator<Item = Fault>) {
        let faults: Vec<ScriptedFault> = faults
            .into_iter()
            .map(|fault| {
                if let Fault::Status(status) = fault {
                    scripted_status(status);
                }
                ScriptedFault {
                    fault,
                    prefix: prefix.clone(),
                }
            })
            .collect();
        lock(&self.instance).script.extend(faults);
    }

    /// The next `count` requests answer `status` and do nothing.
    ///
    /// # Panics
    /// If `status` is not an HTTP status code (100 to 999).
    pub fn fail_next(&self, count: usize, status: u16) {
        self.script(std::iter::repeat_n(Fault::Status(status), count));
    }

    /// The next `count` requests under `prefix` answer `status` and do nothing.
    ///
    /// # Panics
    /// If `status` is not an HTTP status code (100 to 999).
    pub fn fail_next_on(&self, prefix: &str, count: usize, status: u16) {
        self.script_on(prefix, std::iter::repeat_n(Fault::Status(status), count));
    }

    /// The next `count` requests are served only after `delay` (writes are
    /// applied then, whether the client still waits or not).
    pub fn slow_next(&self, count: usize, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.script(std::iter::repeat_n(Fault::Slow { ms }, count));
    }

    /// Allows `limit` requests per `window` from now on (a fresh window), as
    /// Fastly's rate limiting in front of Adobe Commerce Cloud does.
    pub fn set_rate_limit(&self, limit: u32, window: Duration) {
        lock(&self.instance).rate = Some(RateWindow::new(limit, window));
    }

    /// Removes the limit [`Magento::set_rate_limit`] set.
    pub fn lift_rate_limit(&self) {
        lock(&self.instance).rate = None;
    }

    /// How long accepted async bulk requests wait before they run.
    pub fn set_bulk_delay(&self, delay: Duration) {
        lock(&self.instance).bulk_delay = delay;
    }

    /// Stops the server; open connections get a few seconds to finish.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

// ---------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------

/// The seeded admin user's name.
pub const SEED_ADMIN_USERNAME: &str = "admin";

/// The seeded admin user's password.
pub const SEED_ADMIN_PASSWORD: &str = "magento-sandbox-1";

/// A seed time, `2026-11-23 10:00:00`.
fn seed_time(text: &str) -> i64 {
    parse_time(text).unwrap_or_default()
}

impl MagentoSeed {
    /// What a fresh Magento has: the admin user, the four customer groups, the
    /// root categories (`Root Catalog` 1, `Default Category` 2) and the MSI
    /// sources `default` and `eu-warehouse`.
    pub fn empty() -> Self {
        let created = seed_time("2026-01-01 00:00:00");
        let group = |id: u64, code: &str| CustomerGroup {
            id,
            code: code.to_owned(),
            tax_class_id: 3,
        };
        let root = |id: u64, parent_id: u64, name: &str, position: i64| Category {
            id,
            parent_id,
            name: name.to_owned(),
            is_active: true,
            position,
            include_in_menu: true,
            created_at: created,
            updated_at: created,
            custom_attributes: Vec::new(),
        };
        MagentoSeed {
            admin_users: vec![AdminUser {
                user_id: 1,
                username: SEED_ADMIN_USERNAME.to_owned(),
                password: SEED_ADMIN_PASSWORD.to_owned(),
            }],
            customer_groups: vec![
                group(0, "NOT LOGGED IN"),
                group(1, "General"),
                group(2, "Wholesale"),
                group(3, "Retailer"),
            ],
            categories: vec![
                root(1, 0, "Root Catalog", 0),
                root(2, 1, "Default Category", 1),
            ],
            products: Vec::new(),
            customers: Vec::new(),
            sources: vec![
                Source {
                    source_code: "default".to_owned(),
                    name: "Default Source".to_owned(),
                    enabled: true,
                    country_id: "US".to_owned(),
                    postcode: "00000".to_owned(),
                },
                Source {
                    source_code: "eu-warehouse".to_owned(),
                    name: "EU Warehouse".to_owned(),
                    enabled: true,
                    country_id: "DE".to_owned(),
                    postcode: "10115".to_owned(),
                },
            ],
            source_items: Vec::new(),
            tier_prices: Vec::new(),
            orders: Vec::new(),
            shipments: Vec::new(),
        }
    }

    /// [`MagentoSeed::empty`] and a small shop:
    /// - categories `Apparel` (3) and `Home & Kitchen` (4) under `Default
    ///   Category`, `Posters` (5) under `Home & Kitchen`;
    /// - products (ids 1 to 6): `MUG-01` (12.90), the configurable `TEE-01`
    ///   (option `Size`, attribute 141) with its children `TEE-01-S` and
    ///   `TEE-01-M` (19.90 each, not visible individually), `POSTER-01` (24.90,
    ///   related to the mug) and `BAG-01` (9.50), updated a minute apart from
    ///   2026-11-01 09:01:00, with stock on `default` (and the mug on
    ///   `eu-warehouse` too) and a `Wholesale` tier price of 9.90 from 10 mugs;
    /// - customers Ada Lovelace (1, `General`) and Grace Hopper (2,
    ///   `Wholesale`, with `erp_customer_code` `C-1001`, `payment_terms`
    ///   `NET30`, `credit_limit` `5000.00`, `on_hold` `0`);
    /// - three paid EUR orders, two lines and shipping each: 1 (Ada, 2 mugs and
    ///   a poster + 5.00 = 55.70, placed 2026-11-23 09:00:00), 2 (Grace, 2
    ///   `TEE-01-M` as the configurable and a mug + 5.00 = 57.70, placed 09:30,
    ///   its mug shipped at 10:00:00 with a DHL track) and 3 (the guest Alan
    ///   Turing, a poster and 3 bags + 4.90 = 58.30, placed 09:45, a comment at
    ///   10:00:00). Orders 2 and 3 share the `updated_at` 2026-11-23 10:00:00.
    pub fn demo() -> Self {
        let mut seed = Self::empty();
        let created = seed_time("2026-01-01 00:00:00");
        for (id, name, parent_id, position) in [
            (3, "Apparel", 2, 1),
            (4, "Home & Kitchen", 2, 2),
            (5, "Posters", 4, 1),
        ] {
            seed.categories.push(Category {
                id,
                parent_id,
                name: name.to_owned(),
                is_active: true,
                position,
                include_in_menu: true,
                created_at: created,
                updated_at: created,
                custom_attributes: vec![CustomAttribute::new(
                    "url_key",
                    &name.to_lowercase().replace(" & ", "-"),
                )],
            });
        }
        let catalogue_start = seed_time("2026-11-01 09:00:00");
        let product = |id: u64, sku: &str, name: &str, price: Cents, category: u64, stock: f64| {
            let at = catalogue_start + 60 * i64::try_from(id).unwrap_or(0);
            let url_key = name.to_lowercase().replace(' ', "-");
            Product {
                weight: Some(0.5),
                created_at: at,
                updated_at: at,
                category_links: vec![CategoryLink {
                    category_id: category,
                    position: 0,
                }],
                stock_qty: stock,
                is_in_stock: stock > 0.0,
                custom_attributes: vec![
                    CustomAttribute::new("url_key", &url_key),
                    CustomAttribute::new("description", &format!("<p>{name}.</p>")),
                ],
                media_gallery_entries: vec![MediaEntry {
                    id,
                    label: Some(name.to_owned()),
                    position: 1,
                    disabled: false,
                    types: vec!["image".into(), "small_image".into(), "thumbnail".into()],
                    file: format!("/{}/{}/{url_key}.jpg", &url_key[..1], &url_key[1..2]),
                }],
                ..Product::simple(id, sku, name, price)
            }
        };
        let mut tee = product(2, "TEE-01", "Organic T-shirt", 0, 3, 0.0);
        tee.type_id = "configurable".to_owned();
        tee.weight = None;
        tee.is_in_stock = true;
        tee.configurable_options = vec![ConfigurableOption {
            id: 1,
            attribute_id: "141".to_owned(),
            label: "Size".to_owned(),
            position: 0,
            values: vec![5593, 5594],
        }];
        tee.configurable_links = vec![3, 4];
        let mut small = product(3, "TEE-01-S", "Organic T-shirt-S", 1990, 3, 40.0);
        let mut medium = product(4, "TEE-01-M", "Organic T-shirt-M", 1990, 3, 35.0);
        for (child, size) in [(&mut small, "5593"), (&mut medium, "5594")] {
            child.visibility = 1;
            child
                .custom_attributes
                .push(CustomAttribute::new("size", size));
        }
        let mut poster = product(5, "POSTER-01", "Harbour Poster", 2490, 5, 12.0);
        poster.product_links = vec![ProductLink {
            link_type: "related".to_owned(),
            linked_product_sku: "MUG-01".to_owned(),
            linked_product_type: "simple".to_owned(),
            position: 1,
        }];
        seed.products = vec![
            product(1, "MUG-01", "Stoneware Mug", 1290, 4, 100.0),
            tee,
            small,
            medium,
            poster,
            product(6, "BAG-01", "Canvas Tote", 950, 4, 60.0),
        ];
        for product in &seed.products {
            if product.type_id == "simple" {
                seed.source_items.push(SourceItem {
                    sku: product.sku.clone(),
                    source_code: "default".to_owned(),
                    quantity: product.stock_qty,
                    status: u8::from(product.is_in_stock),
                });
            }
        }
        seed.source_items.push(SourceItem {
            sku: "MUG-01".to_owned(),
            source_code: "eu-warehouse".to_owned(),
            quantity: 25.0,
            status: 1,
        });
        seed.tier_prices.push(TierPrice {
            sku: "MUG-01".to_owned(),
            website_id: 0,
            customer_group: "Wholesale".to_owned(),
            quantity: 10.0,
            price_type: PriceType::Fixed,
            price: 990,
        });
        let joined = seed_time("2026-10-01 08:00:00");
        let mut grace_address = Address::new(
            "Grace",
            "Hopper",
            "Friedrichstraße 100",
            "10117",
            "Berlin",
            "DE",
        );
        grace_address.company = Some("Hopper Industries GmbH".to_owned());
        let customer = |id: u64, group_id: u64, email: &str, address: Address| Customer {
            id,
            group_id,
            email: email.to_owned(),
            firstname: address.firstname.clone(),
            lastname: address.lastname.clone(),
            created_at: joined,
            updated_at: joined,
            custom_attributes: Vec::new(),
            addresses: vec![CustomerAddress {
                id,
                address,
                default_billing: true,
                default_shipping: true,
            }],
        };
        let ada = customer(
            1,
            1,
            "ada@example.com",
            Address::new(
                "Ada",
                "Lovelace",
                "12 St James's Square",
                "SW1Y 4JH",
                "London",
                "GB",
            ),
        );
        let mut grace = customer(2, 2, "grace@hopper-industries.example", grace_address);
        grace.custom_attributes = vec![
            CustomAttribute::new("erp_customer_code", "C-1001"),
            CustomAttribute::new("payment_terms", "NET30"),
            CustomAttribute::new("credit_limit", "5000.00"),
            CustomAttribute::new("on_hold", "0"),
        ];
        seed.customers = vec![ada.clone(), grace.clone()];

        // The orders are placed and shipped by the instance's own rules.
        let mut instance = Instance::new("seed", seed.clone());
        instance.clock.frozen = Some(seed_time("2026-11-23 09:00:00"));
        instance.place_order(
            NewOrder::for_customer(&ada)
                .line(NewOrderLine::simple("MUG-01", "Stoneware Mug", 2, 1290))
                .line(NewOrderLine::simple("POSTER-01", "Harbour Poster", 1, 2490))
                .shipping(500),
        );
        instance.clock.frozen = Some(seed_time("2026-11-23 09:30:00"));
        let second = instance.place_order(
            NewOrder::for_customer(&grace)
                .line(NewOrderLine::configurable(
                    "Organic T-shirt",
                    "TEE-01-M",
                    "Organic T-shirt-M",
                    2,
                    1990,
                ))
                .line(NewOrderLine::simple("MUG-01", "Stoneware Mug", 1, 1290))
                .shipping(500),
        );
        instance.clock.frozen = Some(seed_time("2026-11-23 09:45:00"));
        let mut alan = NewOrder::guest("alan@example.org", "Alan", "Turing")
            .line(NewOrderLine::simple("POSTER-01", "Harbour Poster", 1, 2490))
            .line(NewOrderLine::simple("BAG-01", "Canvas Tote", 3, 950))
            .shipping(490);
        alan.address = Address::new(
            "Alan",
            "Turing",
            "Bletchley Park",
            "MK3 6EB",
            "Milton Keynes",
            "GB",
        );
        let third = instance.place_order(alan);
        let ten = seed_time("2026-11-23 10:00:00");
        instance.clock.frozen = Some(ten);
        let mug = instance.orders[&second]
            .items
            .iter()
            .find(|item| item.sku == "MUG-01")
            .map_or(0, |item| item.item_id);
        let track = (
            "JD014600003828".to_owned(),
            "DHL".to_owned(),
            "dhl".to_owned(),
        );
        // Valid by construction: the order is paid and its mug unshipped.
        let _ = instance.create_shipment(second, &[(mug, 1)], vec![track], None);
        let history = next(&mut instance.ids.history);
        if let Some(order) = instance.orders.get_mut(&third) {
            order.status_histories.push(StatusHistory {
                entity_id: history,
                comment: "Customer asked for gift wrapping.".to_owned(),
                status: Some("processing".to_owned()),
                is_customer_notified: Some(false),
                is_visible_on_front: false,
                created_at: ten,
            });
            order.updated_at = ten;
        }
        seed.orders = instance.orders.into_values().collect();
        seed.shipments = instance.shipments.into_values().collect();
        seed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "integration-access-token";

    async fn demo() -> Magento {
        Magento::start(TOKEN, MagentoSeed::demo()).await.unwrap()
    }

    /// `method path` (`/V1/...`, under `/rest`) with the bearer `token`: the
    /// status and the body, as JSON or, when it is none, as a JSON string.
    async fn call_as(
        magento: &Magento,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = if path.starts_with("/rest") {
            format!("{}{path}", magento.url())
        } else {
            format!("{}/rest{path}", magento.url())
        };
        let mut request = reqwest::Client::new().request(method.parse().unwrap(), url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, body)
    }

    async fn call(
        magento: &Magento,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        call_as(magento, Some(TOKEN), method, path, body).await
    }

    async fn get(magento: &Magento, path: &str) -> (u16, Value) {
        call(magento, "GET", path, None).await
    }

    /// Query-encodes `text` as a client library would.
    fn encode(text: &str) -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }

    /// A `searchCriteria` query: AND'ed groups of OR'ed `(field, value,
    /// condition)`, sort orders `(field, direction)` and `(pageSize,
    /// currentPage)`.
    fn criteria(
        groups: &[&[(&str, &str, &str)]],
        sorts: &[(&str, &str)],
        page: Option<(usize, usize)>,
    ) -> String {
        let mut query = vec!["searchCriteria=".to_owned()];
        for (g, filters) in groups.iter().enumerate() {
            for (f, (field, value, condition)) in filters.iter().enumerate() {
                let key = format!("searchCriteria[filter_groups][{g}][filters][{f}]");
                query.push(format!("{}={field}", encode(&format!("{key}[field]"))));
                query.push(format!(
                    "{}={}",
                    encode(&format!("{key}[value]")),
                    encode(value)
                ));
                query.push(format!(
                    "{}={condition}",
                    encode(&format!("{key}[condition_type]"))
                ));
            }
        }
        for (s, (field, direction)) in sorts.iter().enumerate() {
            let key = format!("searchCriteria[sortOrders][{s}]");
            query.push(format!("{}={field}", encode(&format!("{key}[field]"))));
            query.push(format!(
                "{}={direction}",
                encode(&format!("{key}[direction]"))
            ));
        }
        if let Some((size, page)) = page {
            query.push(format!("{}={size}", encode("searchCriteria[pageSize]")));
            query.push(format!("{}={page}", encode("searchCriteria[currentPage]")));
        }
        query.join("&")
    }

    /// The values of `key` of a search answer's items.
    fn column(answer: &Value, key: &str) -> Vec<Value> {
        answer["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item[key].clone())
            .collect()
    }

    fn ids(answer: &Value) -> Vec<u64> {
        column(answer, "entity_id")
            .iter()
            .map(|id| id.as_u64().unwrap())
            .collect()
    }

    #[test]
    fn amounts_are_kept_in_cents_and_rendered_as_magento_numbers() {
        assert_eq!(cents_of(&json!(19.9)), Some(1990));
        assert_eq!(cents_of(&json!("19.90")), Some(1990));
        assert_eq!(cents_of(&json!(5)), Some(500));
        assert_eq!(cents_of(&json!(0.105)), Some(11), "half away from zero");
        assert_eq!(cents_of(&json!(-2.5)), Some(-250));
        assert_eq!(cents_of(&json!("abc")), None);
        assert_eq!(cents_of(&json!(".")), None);
        assert_eq!(money(1990).to_string(), "19.9");
        assert_eq!(money(500).to_string(), "5");
        assert_eq!(money(5570).to_string(), "55.7");
        assert_eq!(money(1).to_string(), "0.01");
        // Ten times 0.10 is 1, not 0.9999999999999999: cents are summed.
        assert_eq!(money((0..10).map(|_| 10).sum()).to_string(), "1");
        assert_eq!(format_price("EUR", 250), "€2.50");
        assert_eq!(format_price("CHF", 4030), "CHF 40.30");
    }

    #[test]
    fn times_use_magentos_format_in_utc() {
        let secs = parse_time("2026-11-23 10:00:00").unwrap();
        assert_eq!(magento_time(secs), "2026-11-23 10:00:00");
        assert_eq!(parse_time("2026-11-23T10:00:00+00:00"), Some(secs));
        assert_eq!(parse_time("2026-11-23"), Some(secs - 10 * 3600));
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn search_criteria_parse_both_spellings_and_refuse_unknown_conditions() {
        let query = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let parsed = SearchCriteria::parse(
            &query(&[
                ("searchCriteria[filterGroups][0][filters][0][field]", "sku"),
                ("searchCriteria[filterGroups][0][filters][0][value]", "MUG%"),
                (
                    "searchCriteria[filterGroups][0][filters][0][conditionType]",
                    "LIKE",
                ),
                (
                    "searchCriteria[filter_groups][1][filters][0][field]",
                    "status",
                ),
                ("searchCriteria[filter_groups][1][filters][0][value]", "1"),
                ("searchCriteria[sort_orders][0][field]", "id"),
                ("searchCriteria[sort_orders][0][direction]", "desc"),
                ("searchCriteria[page_size]", "5"),
            ]),
            true,
        )
        .unwrap();
        assert_eq!(parsed.filter_groups.len(), 2);
        assert_eq!(parsed.filter_groups[0][0].condition_type, "like");
        assert_eq!(
            parsed.filter_groups[1][0].condition_type, "eq",
            "the default"
        );
        assert!(parsed.sort_orders[0].descending);
        assert_eq!((parsed.page_size, parsed.current_page), (Some(5), None));
        let unknown = SearchCriteria::parse(
            &query(&[
                ("searchCriteria[filter_groups][0][filters][0][field]", "sku"),
                (
                    "searchCriteria[filter_groups][0][filters][0][condition_type]",
                    "between",
                ),
            ]),
            true,
        )
        .unwrap_err();
        assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
        assert!(SearchCriteria::parse(&[], true).is_err(), "required");
        assert_eq!(
            SearchCriteria::parse(&[], false).unwrap(),
            SearchCriteria::default()
        );
        assert!(like("Stoneware Mug", "stone%m_g"));
        assert!(!like("Stoneware Mug", "%cup%"));
    }

    #[tokio::test]
    async fn tokens_open_the_api_and_anything_else_is_refused_in_magentos_shape() {
        let magento = demo().await;
        let refused = json!({
            "message": "The consumer isn't authorized to access %resources.",
            "parameters": { "resources": "Magento_Sales::actions_view" },
        });
        assert_eq!(
            call_as(&magento, None, "GET", "/V1/orders/1", None).await,
            (401, refused.clone())
        );
        assert_eq!(
            call_as(&magento, Some("wrong"), "GET", "/V1/orders/1", None).await,
            (401, refused)
        );
        let (status, body) =
            call_as(&magento, None, "POST", "/V1/order/1/ship", Some(json!({}))).await;
        assert_eq!(
            (status, &body["parameters"]["resources"]),
            (401, &json!("Magento_Sales::ship"))
        );

        let token_path = "/V1/integration/admin/token";
        let (status, body) = call_as(
            &magento,
            None,
            "POST",
            token_path,
            Some(json!({ "username": "admin", "password": "wrong" })),
        )
        .await;
        assert_eq!(status, 401);
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .starts_with("The account sign-in was incorrect")
        );
        let (status, body) = call_as(
            &magento,
            None,
            "POST",
            token_path,
            Some(json!({ "username": "admin" })),
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(body["errors"][0]["parameters"]["fieldName"], "password");
        let credentials =
            json!({ "username": SEED_ADMIN_USERNAME, "password": SEED_ADMIN_PASSWORD });
        let (status, token) = call_as(&magento, None, "POST", token_path, Some(credentials)).await;
        assert_eq!(status, 200);
        let token = token
            .as_str()
            .expect("the token is a JSON string")
            .to_owned();
        assert_eq!(token.len(), TOKEN_LEN);
        let (status, order) = call_as(&magento, Some(&token), "GET", "/V1/orders/1", None).await;
        assert_eq!((status, &order["increment_id"]), (200, &json!("000000001")));

        for store in ["/rest/default/V1/orders/1", "/rest/all/V1/orders/1"] {
            assert_eq!(get(&magento, store).await.0, 200, "{store}");
        }
        let (status, body) = get(&magento, "/rest/fr/V1/orders/1").await;
        assert_eq!(status, 400);
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .starts_with("The store that was requested")
        );
        let no_route = json!({ "message": "Request does not match any route." });
        assert_eq!(get(&magento, "/V1/nothing").await, (404, no_route.clone()));
        assert_eq!(
            call(&magento, "DELETE", "/V1/orders/1", None).await,
            (404, no_route)
        );
        assert_eq!(
            get(&magento, "/V1/orders/99").await,
            (404, json!({ "message": ENTITY_NOT_FOUND }))
        );

        magento.advance_clock(ADMIN_TOKEN_TTL);
        assert_eq!(
            call_as(&magento, Some(&token), "GET", "/V1/orders/1", None)
                .await
                .0,
            401,
            "the admin token expired after four hours"
        );
        assert_eq!(
            get(&magento, "/V1/orders/1").await.0,
            200,
            "the integration token does not"
        );
        magento.stop().await;
    }

    #[tokio::test]
    async fn search_criteria_or_filters_within_a_group_and_and_across_groups() {
        let magento = demo().await;
        let search = |query: String| {
            let magento = &magento;
            async move {
                let (status, answer) = get(magento, &format!("/V1/orders?{query}")).await;
                assert_eq!(status, 200, "{answer}");
                answer
            }
        };
        let since = search(criteria(
            &[&[("updated_at", "2026-11-23 10:00:00", "gteq")]],
            &[("updated_at", "ASC")],
            None,
        ))
        .await;
        assert_eq!(
            (ids(&since), &since["total_count"]),
            (vec![2, 3], &json!(2))
        );
        assert_eq!(
            since["search_criteria"]["filter_groups"][0]["filters"][0],
            json!({ "field": "updated_at", "value": "2026-11-23 10:00:00", "condition_type": "gteq" })
        );
        assert_eq!(
            since["items"][0]["updated_at"], "2026-11-23 10:00:00",
            "Magento's time format"
        );
        let either = search(criteria(
            &[
                &[
                    ("customer_email", "%@example.%", "like"),
                    ("customer_group_id", "2", "eq"),
                ],
                &[("grand_total", "56", "gt")],
            ],
            &[],
            None,
        ))
        .await;
        assert_eq!(ids(&either), [2, 3]);
        assert_eq!(
            ids(&search(criteria(&[&[("customer_id", "", "null")]], &[], None)).await),
            [3]
        );
        assert_eq!(
            ids(&search(criteria(&[&[("customer_id", "1", "neq")]], &[], None)).await),
            [2],
            "NULL is not unequal to 1, as in SQL"
        );
        assert_eq!(
            ids(&search(criteria(
                &[&[("increment_id", "000000001,000000003", "in")]],
                &[],
                None
            ))
            .await),
            [1, 3]
        );
        assert_eq!(
            ids(&search(criteria(
                &[&[("customer_lastname", "HOPPER", "eq")]],
                &[],
                None
            ))
            .await),
            [2],
            "case-insensitive, as MySQL compares"
        );
        assert_eq!(
            ids(&search(criteria(
                &[&[("created_at", "2026-11-23", "gteq")]],
                &[("grand_total", "DESC")],
                None
            ))
            .await),
            [3, 2, 1]
        );
        let camel = "searchCriteria[filterGroups][0][filters][0][field]=status\
                     &searchCriteria[filterGroups][0][filters][0][value]=processing\
                     &searchCriteria[filterGroups][0][filters][0][conditionType]=eq";
        assert_eq!(search(camel.to_owned()).await["total_count"], 3);
        let (status, body) = get(&magento, "/V1/orders").await;
        assert_eq!(
            (status, &body["parameters"]["fieldName"]),
            (400, &json!("searchCriteria"))
        );
        let (status, _) = get(
            &magento,
            &format!(
                "/V1/orders?{}",
                criteria(&[&[("status", "x", "between")]], &[], None)
            ),
        )
        .await;
        assert_eq!(status, 400);
        magento.stop().await;
    }

    #[tokio::test]
    async fn paging_through_same_second_ties_is_stable_and_a_page_past_the_last_repeats_it() {
        let magento = demo().await;
        magento.freeze_clock("2026-11-24 08:00:00");
        for n in 0..5 {
            let order = magento.add_order(
                NewOrder::guest(&format!("buyer{n}@example.com"), "Buyer", "Same-Second")
                    .line(NewOrderLine::simple("MUG-01", "Stoneware Mug", 1, 1290))
                    .line(NewOrderLine::simple("BAG-01", "Canvas Tote", 1, 950))
                    .shipping(490),
            );
            assert_eq!(order.updated_at, parse_time("2026-11-24 08:00:00").unwrap());
        }
        let page = |page: usize| {
            let magento = &magento;
            async move {
                let query = criteria(
                    &[&[("updated_at", "2026-11-24 08:00:00", "gteq")]],
                    &[("updated_at", "ASC")],
                    Some((2, page)),
                );
                get(magento, &format!("/V1/orders?{query}")).await.1
            }
        };
        let mut seen = Vec::new();
        for number in 1..=3 {
            let answer = page(number).await;
            assert_eq!(answer["total_count"], 5);
            assert_eq!(answer["search_criteria"]["current_page"], number);
            seen.extend(ids(&answer));
        }
        assert_eq!(
            seen,
            [4, 5, 6, 7, 8],
            "ties in entity_id order: none lost, none twice"
        );
        let past = page(4).await;
        assert_eq!(ids(&past), [8], "Magento answers the last page again");
        assert_eq!(past["total_count"], 5, "clients must stop by total_count");

        // A change in the same second keeps the order; one a second later moves it last.
        magento.edit_order(4, |order| "exported".clone_into(&mut order.status));
        assert_eq!(ids(&page(1).await), [4, 5]);
        magento.advance_clock(Duration::from_secs(1));
        magento.edit_order(4, |order| "exported-again".clone_into(&mut order.status));
        assert_eq!(ids(&page(3).await), [4]);
        magento.stop().await;
    }

    #[tokio::test]
    async fn shipping_moves_quantities_and_refuses_over_shipping_and_held_orders() {
        let magento = demo().await;
        let ship = |order: u64, body: Value| {
            let magento = &magento;
            async move {
                call(
                    magento,
                    "POST",
                    &format!("/V1/order/{order}/ship"),
                    Some(body),
                )
                .await
            }
        };
        let track = json!([{ "track_number": "1Z999", "title": "UPS", "carrier_code": "ups" }]);
        let (status, id) = ship(1, json!({ "items": [{ "order_item_id": 1, "qty": 1 }], "tracks": track, "notify": false })).await;
        assert_eq!(
            (status, &id),
            (200, &json!(2)),
            "the new shipment's entity_id"
        );
        let (_, shipment) = get(&magento, "/V1/shipment/2").await;
        assert_eq!(shipment["items"][0]["qty"], 1);
        assert_eq!(shipment["items"][0]["sku"], "MUG-01");
        assert_eq!(shipment["tracks"][0]["track_number"], "1Z999");
        let (_, order) = get(&magento, "/V1/orders/1").await;
        assert_eq!(
            (&order["items"][0]["qty_shipped"], &order["state"]),
            (&json!(1), &json!("processing"))
        );

        let (status, body) = ship(1, json!({ "items": [{ "order_item_id": 1, "qty": 2 }] })).await;
        assert_eq!(status, 400);
        assert_eq!(
            body["message"],
            "Shipment Document Validation Error(s):\nThe quantity to ship must not be greater than the unshipped quantity for product SKU \"MUG-01\"."
        );
        let (status, _) = ship(1, json!({ "items": [{ "order_item_id": 99, "qty": 1 }] })).await;
        assert_eq!(status, 400);
        assert_eq!(
            call(&magento, "POST", "/V1/orders/1/hold", None).await,
            (200, json!(true))
        );
        let (status, body) = ship(1, json!({})).await;
        assert_eq!(status, 400);
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .ends_with("when an order has a status of holded")
        );
        assert_eq!(
            call(&magento, "POST", "/V1/orders/1/unhold", None).await,
            (200, json!(true))
        );
        assert_eq!(
            ship(1, json!({ "tracks": track })).await.0,
            200,
            "no items: all that is left"
        );
        let order = magento.order(1).unwrap();
        assert_eq!(
            (order.state.as_str(), order.status.as_str()),
            ("complete", "complete")
        );
        assert!(
            order
                .items
                .iter()
                .all(|item| item.qty_shipped == item.qty_ordered)
        );
        let (status, body) = ship(1, json!({})).await;
        assert_eq!(status, 400);
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .ends_with("The order does not allow a shipment to be created.")
        );

        // Order 2: the configurable line is shipped by its parent; the child follows.
        let (status, _) = ship(2, json!({ "items": [{ "order_item_id": 4, "qty": 1 }] })).await;
        assert_eq!(status, 400, "the child line is named through its parent");
        assert_eq!(
            ship(2, json!({ "items": [{ "order_item_id": 3, "qty": 2 }] }))
                .await
                .0,
            200
        );
        let order = magento.order(2).unwrap();
        assert_eq!(
            order
                .items
                .iter()
                .map(|i| i.qty_shipped)
                .collect::<Vec<_>>(),
            [2, 2, 1]
        );
        assert_eq!(order.state, "complete");
        let (_, listed) = get(
            &magento,
            &format!(
                "/V1/shipments?{}",
                criteria(&[&[("order_id", "2", "eq")]], &[], None)
            ),
        )
        .await;
        assert_eq!(ids(&listed), [1, 4]);
        assert_eq!(
            magento.writes().shipments,
            3,
            "only the shipments that were made"
        );
        magento.stop().await;
    }

    #[tokio::test]
    async fn refunds_are_exact_and_never_exceed_what_was_paid() {
        let magento = demo().await;
        let refund = |body: Value| {
            let magento = &magento;
            async move { call(magento, "POST", "/V1/order/1/refund", Some(body)).await }
        };
        magento.freeze_clock("2026-11-25 12:00:00");
        let (status, id) = refund(json!({
            "items": [{ "order_item_id": 1, "qty": 1 }],
            "notify": false,
            "arguments": { "shipping_amount": 2.5, "adjustment_positive": 0, "adjustment_negative": 0 },
        }))
        .await;
        assert_eq!((status, &id), (200, &json!(1)));
        let (_, memo) = get(&magento, "/V1/creditmemo/1").await;
        assert_eq!(
            memo["grand_total"],
            json!(15.4),
            "12.90 of one mug and 2.50 of shipping"
        );
        assert_eq!(memo["subtotal_incl_tax"], json!(12.9));
        assert_eq!(memo["shipping_amount"], json!(2.5));
        assert_eq!(memo["items"][0]["row_total_incl_tax"], json!(12.9));
        assert_eq!((&memo["state"], &memo["order_id"]), (&json!(2), &json!(1)));
        let (_, order) = get(&magento, "/V1/orders/1").await;
        assert_eq!(order["total_refunded"], json!(15.4));
        assert_eq!(order["items"][0]["qty_refunded"], 1);
        assert_eq!(order["updated_at"], "2026-11-25 12:00:00");
        assert_eq!(order["state"], "processing");

        let (status, body) = refund(json!({ "items": [{ "order_item_id": 1, "qty": 2 }] })).await;
        assert_eq!(status, 400);
        assert_eq!(
            body["message"],
            "Creditmemo Document Validation Error(s):\nThe quantity to refund must not be greater than the unrefunded quantity."
        );
        let (status, body) =
            refund(json!({ "items": [], "arguments": { "shipping_amount": 3 } })).await;
        assert_eq!(
            (status, body),
            (
                400,
                json!({ "message": "Maximum shipping amount allowed to refund is: %1", "parameters": ["€2.50"] })
            )
        );
        let (status, body) = refund(json!({ "arguments": { "adjustment_positive": 100 } })).await;
        assert_eq!(status, 400);
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .ends_with("The most money available to refund is €40.30."),
            "{body}"
        );
        assert_eq!(
            magento.credit_memos().len(),
            1,
            "refused refunds change nothing"
        );

        let (status, _) = refund(json!({})).await;
        assert_eq!(
            status, 200,
            "no items and no shipping_amount: everything left"
        );
        let order = magento.order(1).unwrap();
        assert_eq!(magento.credit_memos()[1].grand_total(), 4030);
        assert_eq!(order.total_refunded, Some(order.grand_total()));
        assert_eq!(
            (order.state.as_str(), order.status.as_str()),
            ("closed", "closed")
        );
        let (status, body) = refund(json!({})).await;
        assert_eq!(status, 400);
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("when an order has a status of closed")
        );

        // A merchant refunds one tote of order 3 in the admin; clients see it.
        magento.advance_clock(Duration::from_secs(60));
        let tote = magento.order(3).unwrap().items[1].item_id;
        let memo = magento
            .refund_in_admin(
                3,
                AdminRefund {
                    items: vec![(tote, 1)],
                    shipping_amount: Some(0),
                    ..AdminRefund::default()
                },
            )
            .unwrap();
        assert_eq!(memo.grand_total(), 950);
        let query = criteria(
            &[&[("updated_at", "2026-11-25 12:01:00", "gteq")]],
            &[],
            None,
        );
        assert_eq!(
            ids(&get(&magento, &format!("/V1/orders?{query}")).await.1),
            [3]
        );
        let (_, memos) = get(
            &magento,
            &format!(
                "/V1/creditmemos?{}",
                criteria(&[&[("order_id", "3", "eq")]], &[], None)
            ),
        )
        .await;
        assert_eq!(
            (&memos["total_count"], &memos["items"][0]["grand_total"]),
            (&json!(1), &json!(9.5))
        );
        assert_eq!(
            magento
                .refund_in_admin(
                    3,
                    AdminRefund {
                        items: vec![(tote, 3)],
                        ..AdminRefund::default()
                    }
                )
                .unwrap_err(),
            "Creditmemo Document Validation Error(s):\nThe quantity to refund must not be greater than the unrefunded quantity."
        );
        assert_eq!(
            magento.writes().credit_memos,
            2,
            "the admin's refund is not a client's write"
        );
        magento.stop().await;
    }

    #[tokio::test]
    async fn order_comments_holds_and_cancellations_follow_magentos_rules() {
        let magento = demo().await;
        magento.freeze_clock("2026-11-26 09:00:00");
        let comment = |status: &str| {
            json!({ "statusHistory": {
                "comment": format!("Exported to the ERP ({status})"),
                "status": status,
                "is_customer_notified": 0,
                "is_visible_on_front": 0,
            }})
        };
        let path = "/V1/orders/2/comments";
        assert_eq!(
            call(&magento, "POST", path, Some(comment("erp_exported"))).await,
            (200, json!(true))
        );
        let (_, order) = get(&magento, "/V1/orders/2").await;
        assert_eq!(order["status"], "erp_exported", "a custom status is set");
        assert_eq!(order["state"], "processing");
        assert_eq!(
            order["status_histories"][0]["comment"],
            "Exported to the ERP (erp_exported)"
        );
        assert_eq!(order["updated_at"], "2026-11-26 09:00:00");
        call(&magento, "POST", path, Some(comment("complete"))).await;
        assert_eq!(
            magento.order(2).unwrap().status,
            "erp_exported",
            "a core status of another state is not"
        );
        assert_eq!(magento.order(2).unwrap().status_histories.len(), 2);

        assert_eq!(
            call(&magento, "POST", "/V1/orders/2/cancel", None).await,
            (200, json!(false)),
            "invoiced"
        );
        let unpaid = magento.add_order(
            NewOrder::guest("late@example.com", "Late", "Payer")
                .line(NewOrderLine::simple("BAG-01", "Canvas Tote", 2, 950))
                .line(NewOrderLine::simple("MUG-01", "Stoneware Mug", 1, 1290))
                .shipping(490)
                .unpaid(),
        );
        assert_eq!(
            (unpaid.state.as_str(), unpaid.status.as_str()),
            ("new", "pending")
        );
        let cancel = format!("/V1/orders/{}/cancel", unpaid.entity_id);
        assert_eq!(
            call(&magento, "POST", &cancel, None).await,
            (200, json!(true))
        );
        assert_eq!(magento.order(unpaid.entity_id).unwrap().state, "canceled");
        let (status, body) = call(
            &magento,
            "POST",
            &format!("/V1/orders/{}/hold", unpaid.entity_id),
            None,
        )
        .await;
        assert_eq!(
            (status, body),
            (400, json!({ "message": "A hold action is not available." }))
        );
        let (status, body) = call(&magento, "POST", "/V1/orders/1/unhold", None).await;
        assert_eq!(
            (status, body),
            (400, json!({ "message": "You cannot remove the hold." }))
        );
        let (status, _) = call(
            &magento,
            "POST",
            &format!("/V1/order/{}/ship", unpaid.entity_id),
            Some(json!({})),
        )
        .await;
        assert_eq!(status, 400, "a cancelled order is not shipped");
        let writes = magento.writes();
        assert_eq!((writes.order_comments, writes.order_actions), (2, 1));
        magento.stop().await;
    }

    #[tokio::test]
    async fn async_bulk_runs_in_the_background_and_fails_only_the_bad_operation() {
        let magento = demo().await;
        magento.set_bulk_delay(Duration::from_millis(300));
        let (status, accepted) = call(
            &magento,
            "POST",
            "/V1/async/bulk/V1/products",
            Some(json!([
                { "product": { "sku": "CARD-01", "name": "Greeting Card", "price": 3.5, "type_id": "simple", "attribute_set_id": 4 } },
                { "product": { "sku": "CARD-02", "name": "Lost Card", "price": 3.5,
                    "extension_attributes": { "category_links": [{ "category_id": "999", "position": 0 }] } } },
                { "not_a_product": {} },
            ])),
        )
        .await;
        assert_eq!(status, 202, "{accepted}");
        let statuses: Vec<&str> = accepted["request_items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, ["accepted", "accepted", "rejected"]);
        assert_eq!(accepted["errors"], true);
        assert_eq!(
            accepted["request_items"][0]["data_hash"]
                .as_str()
                .unwrap()
                .len(),
            64
        );
        let uuid = accepted["bulk_uuid"].as_str().unwrap().to_owned();
        assert_eq!(uuid.len(), 36);
        let status_path = format!("/V1/bulk/{uuid}/status");
        let codes = |answer: &Value| -> Vec<u64> {
            answer["operations_list"]
                .as_array()
                .unwrap()
                .iter()
                .map(|op| op["status"].as_u64().unwrap())
                .collect()
        };
        let (_, open) = get(&magento, &status_path).await;
        assert_eq!(codes(&open), [4, 4, 5], "open until the consumer runs");
        assert_eq!(get(&magento, "/V1/products/CARD-01").await.0, 404);
        let started = Instant::now();
        let done = loop {
            let (_, answer) = get(&magento, &status_path).await;
            if !codes(&answer).contains(&4) {
                break answer;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the bulk never ran"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(codes(&done), [1, 3, 5]);
        assert_eq!(done["operations_list"][0]["result_message"], BULK_SUCCESS);
        assert_eq!(
            done["operations_list"][1]["result_message"],
            "Could not save product \"CARD-02\" with position 0 to category 999"
        );
        assert_eq!(
            (&done["user_type"], &done["operation_count"]),
            (&json!(1), &json!(3))
        );
        assert_eq!(done["bulk_id"], uuid);
        let (status, card) = get(&magento, "/V1/products/CARD-01").await;
        assert_eq!((status, &card["price"]), (200, &json!(3.5)));
        assert_eq!(get(&magento, "/V1/products/CARD-02").await.0, 404);
        assert_eq!(magento.writes().products, 1);
        let (status, body) = get(
            &magento,
            "/V1/bulk/00000000-0000-4000-8000-000000000000/status",
        )
        .await;
        assert_eq!(
            (status, &body["message"]),
            (404, &json!("Bulk uuid %bulkUuid not exist"))
        );
        magento.stop().await;
    }

    #[tokio::test]
    async fn source_items_save_all_or_nothing_and_search_by_sku_and_source() {
        let magento = demo().await;
        let save = |items: Value| {
            let magento = &magento;
            async move {
                call(
                    magento,
                    "POST",
                    "/V1/inventory/source-items",
                    Some(json!({ "sourceItems": items })),
                )
                .await
            }
        };
        let (status, body) = save(json!([
            { "sku": "MUG-01", "source_code": "eu-warehouse", "quantity": 40, "status": 1 },
            { "sku": "BAG-01", "source_code": "eu-warehouse", "quantity": 5.5, "status": 1 },
        ]))
        .await;
        assert_eq!((status, body), (200, json!([])));
        let search = |query: String| {
            let magento = &magento;
            async move {
                get(magento, &format!("/V1/inventory/source-items?{query}"))
                    .await
                    .1
            }
        };
        let mugs = search(criteria(&[&[("sku", "MUG-01", "eq")]], &[], None)).await;
        assert_eq!(
            column(&mugs, "source_code"),
            [json!("default"), json!("eu-warehouse")]
        );
        assert_eq!(mugs["items"][1]["quantity"], 40);
        let eu = search(criteria(
            &[&[("source_code", "eu-warehouse", "eq")]],
            &[],
            None,
        ))
        .await;
        assert_eq!(column(&eu, "sku"), [json!("MUG-01"), json!("BAG-01")]);
        assert_eq!(eu["items"][1]["quantity"], json!(5.5));

        let (status, body) = save(json!([
            { "sku": "MUG-01", "source_code": "eu-warehouse", "quantity": 1, "status": 1 },
            { "sku": "NOPE", "source_code": "eu-warehouse", "quantity": 1, "status": 1 },
        ]))
        .await;
        assert_eq!(
            (status, &body["message"]),
            (400, &json!("Validation Failed"))
        );
        assert_eq!(
            body["errors"][0]["parameters"],
            json!({ "field": "sku", "value": "NOPE" })
        );
        let (status, body) = save(
            json!([{ "sku": "MUG-01", "source_code": "moon-base", "quantity": 1, "status": 1 }]),
        )
        .await;
        assert_eq!(
            (status, body),
            (400, json!({ "message": "Could not save Source Item" }))
        );
        let unchanged = search(criteria(&[&[("sku", "MUG-01", "eq")]], &[], None)).await;
        assert_eq!(unchanged["items"][1]["quantity"], 40, "all or nothing");
        assert_eq!(magento.writes().source_items, 2);

        save(json!([{ "sku": "MUG-01", "source_code": "default", "quantity": 7, "status": 1 }]))
            .await;
        let (_, mug) = get(&magento, "/V1/products/MUG-01").await;
        assert_eq!(
            mug["extension_attributes"]["stock_item"]["qty"], 7,
            "the default source is the legacy stock"
        );
        let (_, sources) = get(&magento, "/V1/inventory/sources").await;
        assert_eq!(
            column(&sources, "source_code"),
            [json!("default"), json!("eu-warehouse")]
        );
        magento.stop().await;
    }

    #[tokio::test]
    async fn a_customer_pays_the_lowest_price_their_group_may_use() {
        let magento = demo().await;
        let grace = Some("grace@hopper-industries.example");
        // The demo's Wholesale tier: 9.90 from 10 mugs, for Grace's group only.
        assert_eq!(magento.price_for(grace, "MUG-01", 10), Some(990));
        assert_eq!(magento.price_for(grace, "MUG-01", 9), Some(1290));
        assert_eq!(
            magento.price_for(Some("ada@example.com"), "MUG-01", 10),
            Some(1290)
        );
        assert_eq!(magento.price_for(None, "MUG-01", 10), Some(1290));
        // For every group, 10 % off from 2: everyone from two, Grace still
        // her cheaper tier from ten.
        let (status, _) = call(
            &magento,
            "POST",
            "/V1/products/tier-prices",
            Some(
                json!({"prices": [{"price": 10, "price_type": "discount", "website_id": 0,
                "sku": "MUG-01", "customer_group": ALL_GROUPS, "quantity": 2}]}),
            ),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(magento.price_for(None, "MUG-01", 2), Some(1161));
        assert_eq!(magento.price_for(grace, "MUG-01", 10), Some(990));
        assert_eq!(magento.price_for(None, "NOPE", 1), None);
        assert_eq!(
            magento.price_for(Some("nobody@example.com"), "MUG-01", 1),
            None
        );
    }

    #[tokio::test]
    async fn tier_prices_are_kept_per_group_and_refused_item_by_item() {
        let magento = demo().await;
        let price = |sku: &str, group: &str, quantity: f64, price: f64| json!({ "price": price, "price_type": "fixed", "website_id": 0, "sku": sku, "customer_group": group, "quantity": quantity });
        let (status, failed) = call(
            &magento,
            "POST",
            "/V1/products/tier-prices",
            Some(json!({ "prices": [
                price("MUG-01", "Retailer", 5.0, 11.5),
                { "price": 10, "price_type": "discount", "website_id": 0, "sku": "BAG-01", "customer_group": "ALL GROUPS", "quantity": 2 },
                price("NOPE", "Wholesale", 5.0, 1.0),
                price("MUG-01", "VIP", 5.0, 1.0),
                { "price": 1, "price_type": "fixed", "website_id": 1, "sku": "BAG-01", "customer_group": "General", "quantity": 3 },
            ]})),
        )
        .await;
        assert_eq!(status, 200);
        let messages: Vec<&str> = failed
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["message"].as_str().unwrap())
            .collect();
        assert_eq!(messages.len(), 3, "{failed}");
        assert!(messages[0].starts_with("Invalid attribute SKU = %SKU. Row ID: SKU = %SKU"));
        assert_eq!(failed[0]["parameters"]["SKU"], "NOPE");
        assert!(messages[1].starts_with("No such entity with Customer Group = %customerGroup."));
        assert!(
            messages[2].starts_with("Invalid attribute Website ID = %websiteId."),
            "global price scope"
        );
        let information = |skus: Value| {
            let magento = &magento;
            async move {
                call(
                    magento,
                    "POST",
                    "/V1/products/tier-prices-information",
                    Some(json!({ "skus": skus })),
                )
                .await
            }
        };
        let (_, mugs) = information(json!(["MUG-01"])).await;
        let groups: Vec<&str> = mugs
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["customer_group"].as_str().unwrap())
            .collect();
        assert_eq!(groups, ["Wholesale", "Retailer"]);
        let (_, bags) = information(json!(["BAG-01"])).await;
        assert_eq!(
            (&bags[0]["customer_group"], &bags[0]["price_type"]),
            (&json!("ALL GROUPS"), &json!("discount"))
        );

        // The same row again updates it: sku, website, group and quantity are its key.
        call(
            &magento,
            "POST",
            "/V1/products/tier-prices",
            Some(json!({ "prices": [price("mug-01", "wholesale", 10.0, 9.5)] })),
        )
        .await;
        let (_, mugs) = information(json!(["MUG-01"])).await;
        assert_eq!(mugs.as_array().unwrap().len(), 2);
        assert_eq!(
            (&mugs[0]["customer_group"], &mugs[0]["price"]),
            (&json!("Wholesale"), &json!(9.5))
        );

        let (status, failed) = call(
            &magento,
            "PUT",
            "/V1/products/tier-prices",
            Some(json!({ "prices": [price("MUG-01", "Retailer", 3.0, 12.0)] })),
        )
        .await;
        assert_eq!((status, failed), (200, json!([])));
        let (_, mugs) = information(json!(["MUG-01"])).await;
        assert_eq!(
            mugs,
            json!([{ "price": 12, "price_type": "fixed", "website_id": 0, "sku": "MUG-01",
            "customer_group": "Retailer", "quantity": 3, "extension_attributes": {} }])
        );
        let (_, mug) = get(&magento, "/V1/products/MUG-01").await;
        assert_eq!(
            mug["tier_prices"],
            json!([{ "customer_group_id": 3, "qty": 3, "value": 12, "extension_attributes": { "website_id": 0 } }])
        );
        call(
            &magento,
            "POST",
            "/V1/products/tier-prices-delete",
            Some(json!({ "prices": [price("MUG-01", "Retailer", 3.0, 12.0)] })),
        )
        .await;
        assert_eq!(information(json!(["MUG-01"])).await.1, json!([]));
        let (status, body) = information(json!(["MUG-01", "NOPE"])).await;
        assert_eq!((status, &body["parameters"]["sku"]), (404, &json!("NOPE")));
        assert_eq!(
            magento.writes().tier_prices,
            5,
            "2 added, 1 updated, 1 replaced, 1 deleted"
        );

        let (status, failed) = call(
            &magento,
            "POST",
            "/V1/products/base-prices",
            Some(json!({ "prices": [
                { "price": 13.5, "store_id": 0, "sku": "MUG-01" },
                { "price": 13.5, "store_id": 7, "sku": "BAG-01" },
            ]})),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(failed.as_array().unwrap().len(), 1);
        assert_eq!(failed[0]["parameters"]["storeId"], "7");
        let (_, base) = call(
            &magento,
            "POST",
            "/V1/products/base-prices-information",
            Some(json!({ "skus": ["MUG-01", "BAG-01"] })),
        )
        .await;
        assert_eq!(
            base,
            json!([{ "price": 13.5, "store_id": 0, "sku": "MUG-01" }, { "price": 9.5, "store_id": 0, "sku": "BAG-01" }])
        );
        magento.stop().await;
    }

    #[tokio::test]
    async fn products_are_created_updated_by_sku_and_validated() {
        let magento = demo().await;
        let lamp = json!({ "product": {
            "sku": "LAMP-01", "name": "Desk Lamp", "price": 49.9, "type_id": "simple", "attribute_set_id": 4,
            "status": 1, "visibility": 4, "weight": 1.2,
            "extension_attributes": { "category_links": [{ "position": 2, "category_id": "4" }],
                "stock_item": { "qty": 8, "is_in_stock": true } },
            "product_links": [{ "sku": "LAMP-01", "link_type": "related", "linked_product_sku": "MUG-01", "linked_product_type": "simple", "position": 1 }],
            "custom_attributes": [{ "attribute_code": "description", "value": "<p>Warm light.</p>" }],
            "media_gallery_entries": [{ "media_type": "image", "label": "Lamp", "position": 1, "disabled": false,
                "types": ["image"], "content": { "base64_encoded_data": "AAAA", "type": "image/jpeg", "name": "lamp.jpg" } }],
        }});
        let (status, created) = call(&magento, "POST", "/V1/products", Some(lamp)).await;
        assert_eq!(status, 200, "{created}");
        assert_eq!(
            (&created["id"], &created["price"]),
            (&json!(7), &json!(49.9))
        );
        assert_eq!(
            created["extension_attributes"]["category_links"][0],
            json!({ "position": 2, "category_id": "4" })
        );
        assert_eq!(created["media_gallery_entries"][0]["file"], "/l/a/lamp.jpg");
        let (_, updated) = call(
            &magento,
            "POST",
            "/V1/products",
            Some(json!({ "product": { "sku": "lamp-01", "name": "Desk Lamp, brass" } })),
        )
        .await;
        assert_eq!(
            (
                &updated["id"],
                &updated["sku"],
                &updated["name"],
                &updated["price"]
            ),
            (
                &json!(7),
                &json!("LAMP-01"),
                &json!("Desk Lamp, brass"),
                &json!(49.9)
            ),
            "a POST for a known sku updates it"
        );
        assert_eq!(
            updated["custom_attributes"][0]["value"], "<p>Warm light.</p>",
            "kept"
        );
        let (_, put) = call(
            &magento,
            "PUT",
            "/V1/products/LAMP-01",
            Some(json!({ "product": { "price": "45.00" } })),
        )
        .await;
        assert_eq!(put["price"], 45);

        for (body, expected) in [
            (
                json!({ "product": { "sku": "X-1", "name": "X", "price": 1,
                    "extension_attributes": { "category_links": [{ "category_id": 999 }] } } }),
                "Could not save product \"%1\" with position %2 to category %3",
            ),
            (
                json!({ "product": { "sku": "X-2", "name": "X", "type_id": "configurable",
                    "extension_attributes": { "configurable_product_links": [3, 999] } } }),
                "The configurable product link to product ID %1 is invalid: the product doesn't exist.",
            ),
            (
                json!({ "product": { "sku": "X-3", "name": "X" } }),
                "The \"%1\" attribute value is empty. Set the attribute and try again.",
            ),
        ] {
            let (status, body) = call(&magento, "POST", "/V1/products", Some(body)).await;
            assert_eq!((status, body["message"].as_str().unwrap()), (400, expected));
        }
        assert_eq!(magento.writes().products, 3, "refused saves are not writes");
        assert!(magento.product("X-1").is_none());

        let (_, home) = get(
            &magento,
            &format!(
                "/V1/products?{}",
                criteria(&[&[("category_id", "4", "eq")]], &[("id", "ASC")], None)
            ),
        )
        .await;
        assert_eq!(
            column(&home, "sku"),
            [json!("MUG-01"), json!("BAG-01"), json!("LAMP-01")]
        );
        let (_, configurable) = get(
            &magento,
            &format!(
                "/V1/products?{}",
                criteria(&[&[("type_id", "configurable", "eq")]], &[], None)
            ),
        )
        .await;
        assert_eq!(
            configurable["items"][0]["extension_attributes"]["configurable_product_links"],
            json!([3, 4])
        );
        let (_, by_url) = get(
            &magento,
            &format!(
                "/V1/products?{}",
                criteria(&[&[("url_key", "harbour-%", "like")]], &[], None)
            ),
        )
        .await;
        assert_eq!(
            column(&by_url, "sku"),
            [json!("POSTER-01")],
            "custom attributes filter too"
        );

        assert_eq!(
            call(&magento, "DELETE", "/V1/products/LAMP-01", None).await,
            (200, json!(true))
        );
        assert_eq!(
            get(&magento, "/V1/products/LAMP-01").await,
            (404, json!({ "message": PRODUCT_NOT_FOUND }))
        );
        assert!(magento.source_items().iter().all(|s| s.sku != "LAMP-01"));
        magento.stop().await;
    }

    #[tokio::test]
    async fn customers_and_groups_change_as_magento_changes_them() {
        let magento = demo().await;
        let (status, group) = call(
            &magento,
            "POST",
            "/V1/customerGroups",
            Some(json!({ "group": { "code": "Distributor", "tax_class_id": 3 } })),
        )
        .await;
        assert_eq!(
            (status, &group["id"], &group["tax_class_name"]),
            (200, &json!(4), &json!("Retail Customer"))
        );
        let (status, body) = call(
            &magento,
            "POST",
            "/V1/customerGroups",
            Some(json!({ "group": { "code": "wholesale" } })),
        )
        .await;
        assert_eq!(
            (status, body),
            (400, json!({ "message": "Customer Group already exists." }))
        );
        let (_, groups) = get(
            &magento,
            &format!("/V1/customerGroups/search?{}", criteria(&[], &[], None)),
        )
        .await;
        assert_eq!(groups["total_count"], 5);
        let (status, body) = get(&magento, "/V1/customerGroups/99").await;
        assert_eq!(
            (status, &body["parameters"]["fieldValue"]),
            (404, &json!("99"))
        );

        let (status, ada) = call(
            &magento,
            "PUT",
            "/V1/customers/1",
            Some(json!({ "customer": {
                "id": 1, "email": "ada@example.com", "firstname": "Ada", "lastname": "Lovelace", "website_id": 1,
                "group_id": 4,
                "custom_attributes": [
                    { "attribute_code": "erp_customer_code", "value": "C-2002" },
                    { "attribute_code": "credit_limit", "value": 1000 },
                    { "attribute_code": "on_hold", "value": false },
                ],
            }})),
        )
        .await;
        assert_eq!(status, 200, "{ada}");
        assert_eq!(ada["group_id"], 4);
        assert_eq!(
            ada["addresses"][0]["city"], "London",
            "addresses not given are kept"
        );
        let ada = &magento.customers()[0];
        assert_eq!(
            (
                ada.attribute("erp_customer_code"),
                ada.attribute("credit_limit"),
                ada.attribute("on_hold")
            ),
            (Some("C-2002"), Some("1000"), Some("0")),
            "EAV values are strings"
        );
        let (status, body) = call(
            &magento,
            "PUT",
            "/V1/customers/1",
            Some(json!({ "customer": { "group_id": 2 } })),
        )
        .await;
        assert_eq!(
            (status, body),
            (
                400,
                json!({ "message": "The customer email is missing. Enter and try again." })
            )
        );
        let (status, _) = call(
            &magento,
            "PUT",
            "/V1/customers/1",
            Some(json!({ "customer": { "email": "ada@example.com", "firstname": "Ada", "lastname": "Lovelace", "group_id": 77 } })),
        )
        .await;
        assert_eq!(status, 400);
        let (_, wholesale) = get(
            &magento,
            &format!(
                "/V1/customers/search?{}",
                criteria(&[&[("group_id", "2", "eq")]], &[], None)
            ),
        )
        .await;
        assert_eq!(
            column(&wholesale, "email"),
            [json!("grace@hopper-industries.example")]
        );
        let (_, by_code) = get(
            &magento,
            &format!(
                "/V1/customers/search?{}",
                criteria(&[&[("erp_customer_code", "C-1001", "eq")]], &[], None)
            ),
        )
        .await;
        assert_eq!(column(&by_code, "id"), [json!(2)]);
        assert_eq!(by_code["items"][0]["default_billing"], "2");
        let (status, body) = get(&magento, "/V1/customers/9").await;
        assert_eq!(
            (status, &body["parameters"]["fieldName"]),
            (404, &json!("customerId"))
        );
        assert_eq!(
            (magento.writes().customers, magento.writes().customer_groups),
            (1, 1)
        );
        magento.stop().await;
    }

    #[tokio::test]
    async fn categories_form_a_tree_and_take_new_children() {
        let magento = demo().await;
        let (_, tree) = get(&magento, "/V1/categories").await;
        assert_eq!((&tree["id"], &tree["level"]), (&json!(2), &json!(1)));
        let children: Vec<&Value> = tree["children_data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["name"])
            .collect();
        assert_eq!(children, [&json!("Apparel"), &json!("Home & Kitchen")]);
        assert_eq!(
            tree["children_data"][1]["children_data"][0]["name"],
            "Posters"
        );
        assert_eq!(tree["children_data"][1]["product_count"], 2);
        let (status, tees) = call(
            &magento,
            "POST",
            "/V1/categories",
            Some(json!({ "category": { "parent_id": 3, "name": "T-shirts", "is_active": true } })),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            (
                &tees["id"],
                &tees["level"],
                &tees["position"],
                &tees["path"]
            ),
            (&json!(6), &json!(3), &json!(1), &json!("1/2/3/6"))
        );
        let (_, renamed) = call(
            &magento,
            "PUT",
            "/V1/categories/6",
            Some(json!({ "category": { "name": "Tees" } })),
        )
        .await;
        assert_eq!(
            (&renamed["name"], &renamed["parent_id"]),
            (&json!("Tees"), &json!(3))
        );
        let (status, _) = call(
            &magento,
            "POST",
            "/V1/categories",
            Some(json!({ "category": { "parent_id": 2 } })),
        )
        .await;
        assert_eq!(status, 400, "a category needs a name");
        let (status, _) = call(
            &magento,
            "POST",
            "/V1/categories",
            Some(json!({ "category": { "parent_id": 99, "name": "Lost" } })),
        )
        .await;
        assert_eq!(status, 404);
        let (_, top) = get(
            &magento,
            &format!(
                "/V1/categories/list?{}",
                criteria(&[&[("parent_id", "2", "eq")]], &[], None)
            ),
        )
        .await;
        assert_eq!(column(&top, "id"), [json!(3), json!(4)]);
        let (_, shallow) = get(&magento, "/V1/categories?rootCategoryId=4&depth=0").await;
        assert_eq!(shallow["children_data"], json!([]));
        assert_eq!(magento.writes().categories, 2);
        magento.stop().await;
    }

    #[test]
    fn an_rma_status_follows_its_items_as_magento_derives_it() {
        for (items, status) in [
            (&["pending", "pending"][..], "pending"),
            (&["authorized"], "authorized"),
            (&["denied"], "closed"),
            (&["denied", "pending"], "pending"),
            (&["pending", "authorized"], "partially_authorized"),
            (&["denied", "authorized"], "partially_authorized"),
            (&["received"], "received"),
            (&["received", "pending"], "received_on_item"),
            (&["approved"], "processed_closed"),
            (&["denied", "approved"], "processed_closed"),
            (&["pending", "approved"], "approved_on_item"),
            (&["rejected"], "closed"),
            (&["denied", "rejected"], "closed"),
            (&["pending", "rejected"], "rejected_on_item"),
            (&["approved", "rejected", "denied"], "processed_closed"),
            (&["approved", "rejected", "pending"], "approved_on_item"),
        ] {
            assert_eq!(rma_status(items.iter().copied()), status, "{items:?}");
        }
    }

    #[tokio::test]
    async fn returns_are_checked_against_the_order_and_show_on_its_lines() {
        let magento = demo().await;
        magento.freeze_clock("2026-11-30 08:00:00");
        let save = |method: &'static str, path: &'static str, rma: Value| {
            let magento = &magento;
            async move { call(magento, method, path, Some(json!({ "rmaDataObject": rma }))).await }
        };
        let mugs = |qty_requested: u32| {
            json!({
                "order_id": 1,
                "items": [{ "order_item_id": 1, "qty_requested": qty_requested,
                            "qty_authorized": qty_requested, "status": "authorized",
                            "reason": "too small" }],
                "comments": [{ "comment": "Tenon return 3pl:rma:R-1", "visible_on_front": false }],
            })
        };
        let (status, body) = save("POST", "/V1/returns", mugs(1)).await;
        assert_eq!(
            (status, body),
            (
                400,
                json!({ "message": "A quantity of %1 is greater than you can return.", "parameters": ["Stoneware Mug"] })
            ),
            "nothing of order 1 is shipped yet"
        );
        magento.ship_in_admin(1, &[], None).unwrap();
        let mut unknown_order = mugs(1);
        unknown_order["order_id"] = json!(99);
        assert_eq!(
            save("POST", "/V1/returns", unknown_order).await,
            (404, json!({ "message": ENTITY_NOT_FOUND }))
        );
        let mut stranger = mugs(1);
        stranger["items"][0]["order_item_id"] = json!(6);
        assert_eq!(
            save("POST", "/V1/returns", stranger).await,
            (
                400,
                json!({ "message": "You cannot return %1.", "parameters": [6] })
            ),
            "item 6 is order 3's"
        );
        assert_eq!(
            save("POST", "/V1/returns", mugs(3)).await.0,
            400,
            "2 were shipped"
        );
        let mut none = mugs(0);
        none["items"][0]["qty_authorized"] = json!(0);
        assert_eq!(
            save("POST", "/V1/returns", none).await.1["message"],
            "You cannot return less than 1 product."
        );

        let (status, rma) = save("POST", "/V1/returns", mugs(2)).await;
        assert_eq!(status, 200, "{rma}");
        assert_eq!(
            (
                &rma["entity_id"],
                &rma["increment_id"],
                &rma["order_increment_id"]
            ),
            (&json!(1), &json!("000000001"), &json!("000000001"))
        );
        assert_eq!(
            (&rma["status"], &rma["date_requested"], &rma["customer_id"]),
            (
                &json!("authorized"),
                &json!("2026-11-30 08:00:00"),
                &json!(1)
            )
        );
        assert_eq!(
            column(&json!({ "items": rma["comments"] }), "comment"),
            [
                json!("We authorized your Return request."),
                json!("Tenon return 3pl:rma:R-1")
            ]
        );
        assert_eq!(rma["items"][0]["reason"], "too small");
        assert_eq!(
            save("POST", "/V1/returns", mugs(1)).await.1["message"],
            "A quantity of %1 is greater than you can return.",
            "both shipped mugs are claimed by RMA 1"
        );
        let (_, listed) = get(
            &magento,
            &format!(
                "/V1/returns?{}",
                criteria(
                    &[
                        &[("order_id", "1", "eq")],
                        &[("status", "authorized", "eq")]
                    ],
                    &[],
                    None
                )
            ),
        )
        .await;
        assert_eq!(ids(&listed), [1]);
        assert_eq!(get(&magento, "/V1/returns/1").await.1, rma);
        assert_eq!(get(&magento, "/V1/returns/9").await.0, 404);

        // Received, then approved: the order shows the mugs as returned.
        let item = rma["items"][0]["entity_id"].clone();
        let (status, received) = save(
            "PUT",
            "/V1/returns/1",
            json!({ "items": [{ "entity_id": item, "qty_returned": 2, "status": "received" }] }),
        )
        .await;
        assert_eq!((status, &received["status"]), (200, &json!("received")));
        assert_eq!(
            received["items"][0]["reason"], "too small",
            "fields not given stay"
        );
        assert_eq!(magento.qty_returned(1, "mug-01"), Some(2));
        assert_eq!(
            get(&magento, "/V1/orders/1").await.1["items"][0]["qty_returned"],
            2
        );
        let (status, body) = save(
            "PUT",
            "/V1/returns/1",
            json!({ "items": [{ "entity_id": item, "qty_approved": 3, "status": "approved" }] }),
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(
            body["message"],
            "The quantity approved of Stoneware Mug (3) must not be greater than the quantity returned (2)."
        );
        let (_, approved) = save(
            "PUT",
            "/V1/returns/1",
            json!({ "order_id": 1, "items": [{ "entity_id": item, "qty_approved": 2,
                    "status": "approved", "resolution": "refund" }] }),
        )
        .await;
        assert_eq!(approved["status"], "processed_closed");
        assert_eq!(
            approved["comments"][3]["comment"],
            "We processed and closed your Return request."
        );
        let (status, moved) = save("PUT", "/V1/returns/1", json!({ "order_id": 2 })).await;
        assert_eq!(
            (status, &moved["parameters"]["fieldName"]),
            (400, &json!("order_id"))
        );
        assert_eq!(
            magento.returns()[0].items[0].resolution.as_deref(),
            Some("refund")
        );
        assert_eq!(magento.qty_returned(1, "MUG-01"), Some(2));
        assert_eq!(magento.qty_returned(1, "POSTER-01"), Some(0));
        assert_eq!(magento.qty_returned(1, "HAT"), None);
        assert_eq!(magento.writes().returns, 3, "refused saves are not writes");

        // A configurable line is returned through its parent; the child follows.
        magento.ship_in_admin(2, &[], None).unwrap();
        let tee = |order_item_id: u64| {
            json!({ "order_id": 2, "items": [{ "order_item_id": order_item_id, "qty_requested": 2,
                    "qty_authorized": 2, "qty_returned": 2, "status": "received" }] })
        };
        let (status, body) = save("POST", "/V1/returns", tee(4)).await;
        assert_eq!(status, 400);
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .ends_with("name the parent.")
        );
        assert_eq!(save("POST", "/V1/returns", tee(3)).await.0, 200);
        let order = magento.order(2).unwrap();
        assert_eq!(
            order
                .items
                .iter()
                .map(|i| i.qty_returned)
                .collect::<Vec<_>>(),
            [2, 2, 0]
        );
        assert_eq!(magento.qty_returned(2, "TEE-01-M"), Some(2));

        // A rejected item gives its units back: they can be returned again.
        magento.ship_in_admin(3, &[], None).unwrap();
        let poster = |status: &str| {
            json!({ "order_id": 3, "items": [{ "order_item_id": 6, "qty_requested": 1,
                    "qty_authorized": 1, "qty_returned": 1, "status": status }] })
        };
        let (_, rejected) = save("POST", "/V1/returns", poster("rejected")).await;
        assert_eq!(rejected["status"], "closed");
        assert_eq!(magento.qty_returned(3, "POSTER-01"), Some(0));
        let (_, again) = save("POST", "/V1/returns", poster("approved")).await;
        assert_eq!(again["status"], "processed_closed");
        assert_eq!(magento.qty_returned(3, "POSTER-01"), Some(1));
        assert_eq!(
            save("POST", "/V1/returns", poster("bogus")).await.1["message"],
            "This is the wrong RMA item status."
        );

        // Faults apply to the routes by prefix; a failed write saves nothing.
        magento.fail_next_on("/V1/returns", 1, 503);
        assert_eq!(save("POST", "/V1/returns", mugs(1)).await.0, 503);
        assert_eq!(magento.returns().len(), 4);
        magento.stop().await;
    }

    #[tokio::test]
    async fn scripted_faults_answer_what_a_client_would_notice() {
        let magento = demo().await;
        magento.script([
            Fault::Status(503),
            Fault::Status(500),
            Fault::RateLimited {
                retry_after_secs: 7,
            },
            Fault::Pass,
            Fault::TruncatedJson,
            Fault::ShortBody,
        ]);
        let url = format!("{}/rest/V1/orders/1", magento.url());
        let send = || reqwest::Client::new().get(&url).bearer_auth(TOKEN).send();
        let unavailable = send().await.unwrap();
        assert_eq!(unavailable.status(), 503);
        assert!(
            unavailable.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let (status, body) = get(&magento, "/V1/orders/1").await;
        assert_eq!(status, 500);
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .starts_with("Internal Error. Details are available in Magento log file.")
        );
        let limited = send().await.unwrap();
        assert_eq!(
            (
                limited.status().as_u16(),
                limited.headers()["retry-after"].to_str().unwrap()
            ),
            (429, "7")
        );
        assert_eq!(get(&magento, "/V1/orders/1").await.0, 200, "Pass");
        let truncated = send().await.unwrap();
        assert_eq!(truncated.status(), 200);
        assert!(serde_json::from_slice::<Value>(&truncated.bytes().await.unwrap()).is_err());
        let short = send().await.unwrap();
        assert_eq!(short.status(), 200);
        let declared: usize = short.headers()["content-length"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(declared > FLUSH_PADDING);
        assert!(
            short.bytes().await.is_err(),
            "the body ends before its Content-Length"
        );
        assert_eq!(
            get(&magento, "/V1/orders/1").await.0,
            200,
            "the script is used up"
        );

        // A fault for one route waits for it; a failed write applies nothing.
        magento.fail_next_on("/rest/default/V1/order/", 1, 502);
        assert_eq!(get(&magento, "/V1/orders/1").await.0, 200);
        let ship = json!({ "items": [{ "order_item_id": 2, "qty": 1 }] });
        let (status, body) = call(&magento, "POST", "/V1/order/1/ship", Some(ship.clone())).await;
        assert_eq!(status, 502);
        assert!(body.as_str().unwrap().contains("502 Bad Gateway"));
        assert_eq!(magento.shipments().len(), 1);
        assert_eq!(
            call(&magento, "POST", "/V1/order/1/ship", Some(ship))
                .await
                .0,
            200,
            "the retry"
        );
        assert_eq!(
            (magento.shipments().len(), magento.writes().shipments),
            (2, 1)
        );

        // Cut answers still applied their write: the client cannot know.
        magento.script_on(
            "/V1/orders/1/comments",
            [Fault::ShortBody, Fault::TruncatedJson],
        );
        let comment =
            json!({ "statusHistory": { "comment": "Synced", "is_customer_notified": 0 } });
        for _ in 0..2 {
            let cut = reqwest::Client::new()
                .post(format!("{}/rest/V1/orders/1/comments", magento.url()))
                .bearer_auth(TOKEN)
                .header("content-type", "application/json")
                .body(comment.to_string())
                .send()
                .await;
            let parsed = match cut {
                Ok(response) => response
                    .bytes()
                    .await
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok()),
                Err(_) => None,
            };
            assert_eq!(parsed, None, "the client cannot read the answer");
        }
        assert_eq!(magento.writes().order_comments, 2);
        let statuses: Vec<u16> = magento.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses[..6], [503, 500, 429, 200, 200, 200]);
        magento.stop().await;
    }

    #[tokio::test]
    async fn a_slow_write_is_applied_after_the_client_gave_up() {
        let magento = demo().await;
        magento.slow_next(1, Duration::from_millis(600));
        let ship = json!({ "items": [{ "order_item_id": 1, "qty": 2 }] });
        let started = Instant::now();
        let timed_out = reqwest::Client::new()
            .post(format!("{}/rest/V1/order/1/ship", magento.url()))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(ship.to_string())
            .timeout(Duration::from_millis(150))
            .send()
            .await;
        assert!(timed_out.unwrap_err().is_timeout());
        assert!(started.elapsed() < Duration::from_millis(600));
        assert_eq!(magento.shipments().len(), 1, "not yet");
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(
            (magento.shipments().len(), magento.writes().shipments),
            (2, 1),
            "applied once, late"
        );
        let late = magento.requests().into_iter().last().unwrap();
        assert_eq!(
            (late.path.as_str(), late.status),
            ("/rest/V1/order/1/ship", 200),
            "recorded when it was served"
        );
        let (status, body) = call(&magento, "POST", "/V1/order/1/ship", Some(ship)).await;
        assert_eq!(status, 400, "a blind retry ships nothing twice: {body}");
        assert_eq!(magento.order(1).unwrap().items[0].qty_shipped, 2);
        magento.stop().await;
    }

    #[tokio::test]
    async fn the_rate_limit_answers_429_with_retry_after_until_the_window_resets() {
        let magento = demo().await;
        magento.set_rate_limit(2, Duration::from_secs(30));
        for _ in 0..2 {
            assert_eq!(get(&magento, "/V1/orders/1").await.0, 200);
        }
        let limited = reqwest::Client::new()
            .get(format!("{}/rest/V1/orders/1", magento.url()))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(limited.status(), 429);
        assert_eq!(limited.headers()["retry-after"], "30");
        assert_eq!(limited.text().await.unwrap(), "Too Many Requests");
        magento.set_rate_limit(1, Duration::from_millis(200));
        assert_eq!(get(&magento, "/V1/orders/1").await.0, 200);
        assert_eq!(get(&magento, "/V1/orders/1").await.0, 429);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(get(&magento, "/V1/orders/1").await.0, 200, "a new window");
        magento.lift_rate_limit();
        for _ in 0..3 {
            assert_eq!(get(&magento, "/V1/orders/1").await.0, 200);
        }
        magento.stop().await;
    }

    #[tokio::test]
    async fn the_demo_seed_has_the_shop_the_documentation_describes() {
        let magento = demo().await;
        let orders = magento.orders();
        assert_eq!(
            orders.iter().map(Order::grand_total).collect::<Vec<_>>(),
            [5570, 5770, 5830]
        );
        assert!(
            orders
                .iter()
                .all(|o| o.order_currency_code == "EUR" && o.state == "processing")
        );
        assert_eq!(
            orders[1].updated_at, orders[2].updated_at,
            "a tie on updated_at"
        );
        assert_eq!(
            orders[1].items[1].parent_item_id,
            Some(orders[1].items[0].item_id)
        );
        let (_, order) = get(&magento, "/V1/orders/2").await;
        assert_eq!(order["items"][0]["product_type"], "configurable");
        assert_eq!(
            order["items"][0]["sku"], "TEE-01-M",
            "the child's sku, as Magento stores it"
        );
        assert_eq!(
            order["extension_attributes"]["shipping_assignments"][0]["shipping"]["address"]["city"],
            "Berlin"
        );
        assert!(
            order.get("total_refunded").is_none(),
            "NULL until a credit memo exists"
        );
        assert_eq!(order["grand_total"], json!(57.7));
        let (_, guest) = get(&magento, "/V1/orders/3").await;
        assert!(guest.get("customer_id").is_none());
        assert_eq!(guest["customer_is_guest"], 1);
        let customers = magento.customers();
        assert_eq!(customers[1].attribute("payment_terms"), Some("NET30"));
        assert_eq!(
            magento.product("TEE-01").unwrap().configurable_links,
            [3, 4]
        );
        assert_eq!(magento.customer_groups().len(), 4);
        magento.stop().await;
    }
}
