//! `wms-shipstation`: a 3PL that follows ShipStation's public API (v1): orders to
//! fulfil and holds go in, shipments with tracking numbers and returns come out.
//!
//! # Layout
//! - `orders.rs`: stream `fulfilment-orders` (write, reconcile).
//! - `holds.rs`: stream `order-states` (write, reconcile): holds and releases.
//! - `returns.rs`: stream `return-labels` (read): parcels coming back.
//! - this file: the descriptor, stream `shipments` (read), the SHIP_NOTIFY
//!   webhook and what the streams share (client, rate limits, positions).
//!
//! - **Writes** stream `fulfilment-orders`: each record is a canonical
//!   `sale-orders` payload ([`SaleOrder`], what `order-to-sale` produces),
//!   POSTed to `/orders/createorder` with `orderKey` = `orderNumber` =
//!   `external_ref`, `ship_to` as `shipTo` (street lines as `street1`/`street2`,
//!   more lines joined into `street2`), amounts from minor units of the order's
//!   currency. ShipStation upserts by `orderKey` and takes no idempotency
//!   key, so a retried record would update the same order again: a record the
//!   host attempted before without learning the answer (`tenon:delivery`'s
//!   `attempts`) is first looked up with `GET /orders?orderNumber=`, and not
//!   sent when ShipStation holds that very version. The outcome is its
//!   `orderId`. See [`orders`].
//! - **Writes** stream `order-states` (canonical `OrderState`): `on_hold` as
//!   `POST /orders/holduntil`, `released` as `POST /orders/restorefromhold`;
//!   see [`holds`] for the other states.
//! - **Reconciles** `fulfilment-orders` from `GET /orders`: every order keyed by
//!   `orderId`, as the canonical payload it was written from; and
//!   `order-states`: every order of the storefront as held, released or
//!   cancelled.
//! - **Reads** stream `shipments` from `GET /shipments`: one record per
//!   outbound shipment (a split shipment is several; return labels are not
//!   shipments to the customer and are left to `return-labels`), key =
//!   `shipmentId`, payload = see [`ShipmentRecord`], source time = `createDate`.
//! - **Reads** stream `return-labels`: return labels and their RMA's progress,
//!   changed since the cursor; see [`returns`].
//! - **Config**: `base_url` (required), `api_key` (required, the Basic user),
//!   `reference_prefix` (default `shop:`: what precedes the storefront's order
//!   id in the `orderKey`, for `order-states`), `hold_days` (optional: how long
//!   an `on_hold` holds; unset, until released).
//! - **Secrets**: `api_secret`, the Basic password (the host adds
//!   `Authorization: Basic base64(api_key:api_secret)`).
//! - **Egress**: none declared: the operator grants the host of `base_url`.
//! - **Rate limits**: a `429` is `rate-limited` after `X-Rate-Limit-Reset`
//!   seconds (ShipStation sends no `Retry-After`).
//! - **Webhooks**: SHIP_NOTIFY, `{"resource_url": ..., "resource_type":
//!   "SHIP_NOTIFY"}`. ShipStation neither signs them nor puts data in them, and
//!   a webhook handler has no network, so the connector only checks the shape
//!   (`resource_url` under `{base_url}/shipments`) and brings no records: the
//!   flow's next run reads the new shipments by cursor.
//! - **Cursor** of `shipments`: a [`Watermark`] over `(createDate,
//!   shipmentId)`, the id zero-padded to 20 digits so that it compares as
//!   text. `createDateStart` is inclusive; shipments at or before the
//!   watermark are skipped. The watermark moves over the return labels of a
//!   page too, so a page of them alone moves only the cursor.

mod holds;
mod orders;
mod returns;

use serde::{Deserialize, Serialize};
use tenon_sdk::prelude::*;

/// The stream written.
const FULFILMENT_ORDERS: &str = "fulfilment-orders";

/// The holds written.
const ORDER_STATES: &str = canonical::ORDER_STATES;

/// The outbound parcels read.
const SHIPMENTS: &str = "shipments";

/// The returns read.
const RETURN_LABELS: &str = "return-labels";

/// ShipStation's largest `pageSize`.
const MAX_PAGE: u32 = 500;

/// The most vendor pages one `read` walks through (pages of skipped ties count).
const MAX_PAGES_PER_READ: u32 = 20;

/// Used when a `429` has no usable `X-Rate-Limit-Reset`.
const DEFAULT_RESET_MS: u64 = 60_000;

/// JSON Schema of a `shipments` payload.
const SHIPMENT_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["shipment_id", "order_key", "tracking_number", "carrier", "items", "created_at"],
  "properties": {
    "shipment_id": {"type": "string"},
    "order_id": {"type": "string"},
    "order_key": {"type": "string"},
    "order_number": {"type": "string"},
    "tracking_number": {"type": "string"},
    "carrier": {"type": "string"},
    "ship_date": {"type": "string"},
    "created_at": {"type": "string"},
    "voided": {"type": "boolean"},
    "items": {
      "type": "array",
      "items": {
        "type": "object",
        "required": ["sku", "quantity"],
        "properties": {"sku": {"type": "string"}, "quantity": {"type": "integer"}}
      }
    }
  }
}"#;

/// One answer of `GET /shipments`, each shipment as `T` reads it.
#[derive(Debug, Deserialize)]
#[serde(bound = "T: serde::de::DeserializeOwned")]
struct ShipmentPage<T> {
    shipments: Vec<T>,
    #[serde(default)]
    page: u32,
    #[serde(default)]
    pages: u32,
}

/// The order `GET /shipments` lists by, and the filter that starts it at a
/// watermark's time.
#[derive(Debug, Clone, Copy)]
enum Sort {
    /// `CreateDate`, from `createDateStart`: new parcels.
    Created,
    /// `ModifyDate`, from `modifyDateStart`: parcels that changed.
    Modified,
}

/// What one changed-since listing of `/shipments` found: at most `limit`
/// shipments after the watermark, in watermark order.
#[derive(Debug)]
struct Changed<T> {
    shipments: Vec<T>,
    /// Whether more may follow (more than `limit` found, or pages left unread).
    more: bool,
}

/// The shipments after `mark` in `sort` order, at most `limit` (and
/// [`MAX_PAGE`]), paging at most [`MAX_PAGES_PER_READ`]; `place` gives a
/// shipment's watermark time and id.
fn changed_shipments<T: serde::de::DeserializeOwned>(
    sort: Sort,
    mark: &Watermark,
    limit: u32,
    place: impl Fn(&T) -> (&str, u64),
) -> Result<Changed<T>, Error> {
    let api = api()?;
    let limit = limit.clamp(1, MAX_PAGE);
    let page_size = limit.to_string();
    let (sort_by, since) = match sort {
        Sort::Created => ("CreateDate", "createDateStart"),
        Sort::Modified => ("ModifyDate", "modifyDateStart"),
    };
    let mut fresh: Vec<T> = Vec::new();
    let mut exhausted = false;
    for page in 1..=MAX_PAGES_PER_READ {
        let page_number = page.to_string();
        let mut request = api
            .get("/shipments")
            .query("sortBy", sort_by)
            .query("sortDir", "ASC")
            .query("includeShipmentItems", "true")
            .query("page", &page_number)
            .query("pageSize", &page_size);
        if !mark.is_start() {
            request = request.query(since, &mark.time);
        }
        let answer: ShipmentPage<T> = send(request)?.json()?;
        let last_page = answer.shipments.is_empty() || answer.page >= answer.pages;
        fresh.extend(answer.shipments.into_iter().filter(|s| {
            let (time, id) = place(s);
            mark.is_new(time, &position(id))
        }));
        if last_page {
            exhausted = true;
            break;
        }
        if fresh.len() > limit as usize {
            break;
        }
    }
    fresh.sort_by(|a, b| place(a).cmp(&place(b)));
    let more = fresh.len() > limit as usize || !exhausted;
    fresh.truncate(limit as usize);
    Ok(Changed {
        shipments: fresh,
        more,
    })
}

/// A shipment as ShipStation lists it (the fields the connector keeps).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Shipment {
    shipment_id: u64,
    #[serde(default)]
    order_id: u64,
    #[serde(default)]
    order_key: String,
    #[serde(default)]
    order_number: String,
    create_date: String,
    #[serde(default)]
    ship_date: String,
    #[serde(default)]
    tracking_number: String,
    #[serde(default)]
    carrier_code: String,
    #[serde(default)]
    is_return_label: bool,
    #[serde(default)]
    voided: bool,
    #[serde(default)]
    shipment_items: Option<Vec<Item>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Item {
    sku: String,
    quantity: u32,
}

/// A `shipments` payload: one parcel with its tracking number.
#[derive(Debug, Serialize)]
struct ShipmentRecord {
    shipment_id: String,
    order_id: String,
    order_key: String,
    order_number: String,
    tracking_number: String,
    carrier: String,
    ship_date: String,
    created_at: String,
    voided: bool,
    items: Vec<Item>,
}

/// The SHIP_NOTIFY body.
#[derive(Debug, Deserialize)]
struct ShipNotify {
    resource_url: String,
    resource_type: String,
}

struct ShipStation;

impl Connector for ShipStation {
    fn describe() -> Descriptor {
        Descriptor {
            name: "wms-shipstation".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: Kind::Wms,
            description:
                "Orders to fulfil, holds, shipments and returns of a ShipStation-style 3PL."
                    .to_owned(),
            streams: vec![
                StreamInfo::readable(SHIPMENTS, Some("created_at"), SHIPMENT_SCHEMA),
                StreamInfo::readable(
                    RETURN_LABELS,
                    Some("modified_at"),
                    returns::RETURN_LABEL_SCHEMA,
                ),
                canonical::writable(FULFILMENT_ORDERS, canonical::SALE_ORDERS),
                canonical::writable(ORDER_STATES, canonical::ORDER_STATES),
            ],
            egress: Vec::new(),
            config: vec![
                ConfigKey::required(
                    "base_url",
                    "Address of the ShipStation API, like https://ssapi.shipstation.com; grant its host too.",
                ),
                ConfigKey::required("api_key", "The API key, the user of HTTP Basic auth."),
                ConfigKey::optional(
                    "reference_prefix",
                    "What precedes the storefront's order id in the orderKey (`order-states`).",
                    Some(holds::DEFAULT_PREFIX),
                ),
                ConfigKey::optional(
                    "hold_days",
                    "Days an `on_hold` holds an order (its holdUntilDate); unset, until released.",
                    None,
                ),
            ],
            secrets: vec![SecretInfo::basic_password(
                "api_secret",
                "The API secret, the password of HTTP Basic auth (the user is config `api_key`).",
                Some("api_key"),
            )],
        }
    }

    fn check() -> Result<(), Error> {
        send(api()?.get("/shipments").query("pageSize", "1"))?;
        Ok(())
    }

    fn read(stream: String, cursor: Option<String>, limit: u32) -> Result<Page, Error> {
        match stream.as_str() {
            SHIPMENTS => read_shipments(cursor.as_deref(), limit),
            RETURN_LABELS => returns::read(cursor.as_deref(), limit),
            FULFILMENT_ORDERS | ORDER_STATES => {
                Err(Error::permanent(format!("stream `{stream}` is write-only")))
            }
            _ => Err(Error::unknown_stream(&stream)),
        }
    }

    fn write(stream: String, batch: Vec<Delivery>) -> Result<Vec<Outcome>, Error> {
        match stream.as_str() {
            FULFILMENT_ORDERS => orders::write(&batch),
            ORDER_STATES => holds::write(&batch),
            SHIPMENTS | RETURN_LABELS => {
                Err(Error::permanent(format!("stream `{stream}` is read-only")))
            }
            _ => Err(Error::unknown_stream(&stream)),
        }
    }
}

/// One page of outbound shipments after `cursor`.
fn read_shipments(cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let mut mark = Watermark::from_cursor(cursor);
    let changed = changed_shipments(Sort::Created, &mark, limit, |s: &Shipment| {
        (s.create_date.as_str(), s.shipment_id)
    })?;
    let start = mark.clone();
    let mut records = Vec::with_capacity(changed.shipments.len());
    for shipment in changed.shipments {
        mark.advance(&shipment.create_date, &position(shipment.shipment_id));
        if !shipment.is_return_label {
            records.push(envelope(shipment)?);
        }
    }
    let moved = mark != start;
    log::info(format!(
        "count={} more={} cursor={mark} Read shipments.",
        records.len(),
        changed.more
    ));
    Ok(Page {
        next_cursor: moved.then(|| mark.encode()),
        more: changed.more && moved,
        records,
    })
}

impl Reconcile for ShipStation {
    fn reconcile(stream: String, cursor: Option<String>, limit: u32) -> Result<Page, Error> {
        match stream.as_str() {
            FULFILMENT_ORDERS => orders::reconcile(cursor.as_deref(), limit),
            ORDER_STATES => holds::reconcile(cursor.as_deref(), limit),
            _ => Err(Error::permanent(format!(
                "stream `{stream}` cannot be reconciled; only `{FULFILMENT_ORDERS}` and `{ORDER_STATES}`"
            ))),
        }
    }
}

impl Webhook for ShipStation {
    fn handle(request: webhook::WebhookRequest) -> Result<Vec<Envelope>, Error> {
        if request.method != "POST" {
            return Err(Error::permanent("webhooks are POSTed"));
        }
        let notify: ShipNotify = serde_json::from_slice(&request.body)
            .map_err(|e| Error::permanent(format!("the body is not a notification: {e}")))?;
        if notify.resource_type != "SHIP_NOTIFY" {
            return Err(Error::permanent(format!(
                "resource type `{}` is not taken; only `SHIP_NOTIFY`",
                notify.resource_type
            )));
        }
        // The notification carries no data and no signature, and a webhook
        // handler has no network: fetching `resource_url` here would let anyone
        // make the host call the vendor with the tenant's credentials. It only
        // checks the shape; the flow's next run reads the shipments by cursor.
        let base_url = config::require("base_url")?;
        let under_base = notify
            .resource_url
            .strip_prefix(base_url.trim_end_matches('/'))
            .is_some_and(|path| path.starts_with("/shipments?") || path == "/shipments");
        if !under_base {
            return Err(Error::permanent(format!(
                "resource_url `{}` is not a shipment listing under the configured base_url",
                notify.resource_url
            )));
        }
        log::info("SHIP_NOTIFY noted; the next run reads the shipments.");
        Ok(Vec::new())
    }
}

/// The ShipStation API of this tenant, with Basic auth `api_key:api_secret`
/// (the host takes the user name from config `api_key`, as declared).
fn api() -> Result<Client, Error> {
    let base_url = config::require("base_url")?;
    config::require("api_key")?;
    Ok(Client::new(base_url.trim_end_matches('/')).credential("api_secret"))
}

/// Sends `request`; a `429` waits `X-Rate-Limit-Reset` seconds, other statuses
/// map as the SDK maps them.
fn send(request: http::Request) -> Result<http::Response, Error> {
    let response = request.send()?;
    if response.status() == 429 {
        let after_ms = rate_limit_reset_ms(response.header("X-Rate-Limit-Reset"));
        log::warn(format!("after_ms={after_ms} Rate limited by the 3PL."));
        return Err(Error::rate_limited(
            after_ms,
            format!("the 3PL answered 429; its rate limit resets in {after_ms} ms"),
        ));
    }
    response.error_for_status()
}

/// `X-Rate-Limit-Reset` (whole seconds) in milliseconds, at least one second.
fn rate_limit_reset_ms(header: Option<&str>) -> u64 {
    header
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map_or(DEFAULT_RESET_MS, |secs| secs.max(1).saturating_mul(1000))
}

/// The watermark key of a shipment: its id, zero-padded to sort as text.
fn position(shipment_id: u64) -> String {
    format!("{shipment_id:020}")
}

/// The `shipments` record of a vendor shipment.
fn envelope(shipment: Shipment) -> Result<Envelope, Error> {
    let source_time = rfc3339(&shipment.create_date);
    let record = ShipmentRecord {
        shipment_id: shipment.shipment_id.to_string(),
        order_id: shipment.order_id.to_string(),
        order_key: shipment.order_key,
        order_number: shipment.order_number,
        tracking_number: shipment.tracking_number,
        carrier: shipment.carrier_code,
        ship_date: shipment.ship_date,
        created_at: shipment.create_date,
        voided: shipment.voided,
        items: shipment.shipment_items.unwrap_or_default(),
    };
    Envelope::upsert(SHIPMENTS, &record.shipment_id, &record, Some(&source_time))
}

/// ShipStation's `2026-11-23T10:00:00.0000000` (no zone) as RFC 3339 in UTC.
fn rfc3339(create_date: &str) -> String {
    if create_date.ends_with('Z') || create_date.contains('+') {
        create_date.to_owned()
    } else {
        format!("{create_date}Z")
    }
}

export_reconciling_webhook_connector!(ShipStation);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_header_gives_the_delay() {
        assert_eq!(rate_limit_reset_ms(Some("7")), 7_000);
        assert_eq!(rate_limit_reset_ms(Some("0")), 1_000);
        assert_eq!(rate_limit_reset_ms(None), DEFAULT_RESET_MS);
        assert_eq!(rate_limit_reset_ms(Some("soon")), DEFAULT_RESET_MS);
    }

    #[test]
    fn positions_compare_as_numbers() {
        assert!(position(9) < position(10));
    }
}
