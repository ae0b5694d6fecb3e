//! `demo-shop`: reads orders from the demo storefront's sandbox API.
//!
//! - **Reads** stream `orders` from `GET {base_url}/api/orders`: one record per
//!   order, key = the order `id`, op = upsert (a cancelled order is an upsert
//!   whose payload says `"status":"cancelled"`), payload = the order JSON as the
//!   shop returns it, source time = `updated_at`.
//! - **Reads** stream `credit-memos` (canonical [`CreditMemo`]) from `GET
//!   {base_url}/api/refunds`: one record per refund, key = its `id`,
//!   `external_ref` = `shop:refund:<id>`, `order_ref` = `reference_prefix`
//!   (config, default `shop:`, as `order-to-sale`'s) + the order id: the
//!   `external_ref` the refunded order was booked with. Amounts go to minor
//!   units of the refund's currency exactly; a refund whose lines and
//!   shipping do not add up to its total is a permanent error.
//! - **Writes** stream `fulfilments` (canonical [`Fulfilment`]: a parcel with its
//!   tracking number) with `PUT {base_url}/api/orders/{order_id}/fulfilments/{tracking_number}`;
//!   the shop keys parcels by tracking number, so a record written twice is one
//!   parcel. The outcome is the shop's parcel id. Deletes are refused.
//! - **Reconciles** `fulfilments` from `GET {base_url}/api/fulfilments`: every
//!   parcel keyed by the shop's id, as its canonical payload (lines by SKU).
//! - **Config**: `base_url` (required), the shop's address (`http://127.0.0.1:8080`);
//!   `reference_prefix` (default `shop:`), before order ids in `order_ref`.
//! - **Secrets**: `api_token`, sent as `Authorization: Bearer <token>`;
//!   `webhook_secret` (optional) for webhooks.
//! - **Egress**: none declared, because the address is the operator's config: the
//!   operator grants the host of `base_url` (`tenon enable ... --grant 127.0.0.1:8080`).
//! - **Webhooks**: `order.updated` notifications (`X-Shop-Event`, optional), body =
//!   the order JSON, signed `X-Shop-Signature: sha256=<hex HMAC-SHA256 of the
//!   body>` with the tenant secret `webhook_secret` (checked by the host; a
//!   tenant without it takes no webhooks). Each gives one `orders` record, as `read` would.
//! - **Cursor** (both reads): a [`Watermark`] over `(updated_at, id)`, as
//!   `updated_at|id`. The shop filters and sorts both feeds by the same pair
//!   (`updated_after` + `after_id`), so a page that ends between two records
//!   updated in the same second resumes at the second one.

use serde::Deserialize;
use serde_json::Value;
use tenon_sdk::canonical::{CreditLine, CreditMemo, Fulfilment};
use tenon_sdk::prelude::*;

/// The stream read, in the canonical `orders` shape (the shop's own).
const ORDERS: &str = canonical::ORDERS;

/// The stream written.
const FULFILMENTS: &str = canonical::FULFILMENTS;

/// The refunds, read as canonical credit memos.
const CREDIT_MEMOS: &str = canonical::CREDIT_MEMOS;

/// Before an order id in a credit memo's `order_ref`, unless configured.
const DEFAULT_PREFIX: &str = "shop:";

/// The tenant secret the shop signs its webhooks with.
const WEBHOOK_SECRET: &str = "webhook_secret";

/// The header with the signature: `sha256=<hex HMAC-SHA256 of the body>`.
const SIGNATURE_HEADER: &str = "X-Shop-Signature";

/// The header naming the event, if the shop sends it.
const EVENT_HEADER: &str = "X-Shop-Event";

/// The only event taken.
const ORDER_UPDATED: &str = "order.updated";

/// The most orders the shop returns per request; larger limits are clamped.
const MAX_PAGE: u32 = 200;

/// One response of a feed: `GET /api/orders` (records under `orders`) or
/// `GET /api/refunds` (under `refunds`).
#[derive(Debug, Deserialize)]
struct FeedPage {
    #[serde(alias = "refunds")]
    orders: Vec<Value>,
    has_more: bool,
}

/// Where a record of a feed stands in it; an order's payload keeps its
/// other fields.
#[derive(Debug, Deserialize)]
struct OrderPosition {
    id: String,
    updated_at: String,
}

/// A refund as the shop publishes it; amounts are decimal strings.
#[derive(Debug, Deserialize)]
struct Refund {
    id: String,
    order_id: String,
    currency: String,
    lines: Vec<RefundLine>,
    shipping: String,
    total: String,
    #[serde(default)]
    reason: String,
}

#[derive(Debug, Deserialize)]
struct RefundLine {
    sku: String,
    quantity: i64,
    unit_price: String,
    total: String,
}

impl Refund {
    /// The canonical credit memo of this refund; `prefix` goes before the
    /// order id in `order_ref`.
    fn credit_memo(&self, prefix: &str) -> Result<CreditMemo, String> {
        let cents = |amount: &str| money::minor_units(amount, &self.currency);
        let lines = self
            .lines
            .iter()
            .map(|line| {
                Ok(CreditLine {
                    sku: line.sku.clone(),
                    quantity: line.quantity,
                    unit_price_cents: cents(&line.unit_price)?,
                    total_cents: cents(&line.total)?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let memo = CreditMemo {
            external_ref: format!("shop:refund:{}", self.id),
            order_ref: format!("{prefix}{}", self.order_id),
            currency: self.currency.clone(),
            lines,
            shipping_cents: cents(&self.shipping)?,
            adjustment_cents: 0,
            total_cents: cents(&self.total)?,
            reason: (!self.reason.is_empty()).then(|| self.reason.clone()),
        };
        if memo.sum_cents() != memo.total_cents {
            return Err(format!(
                "refund `{}`: its lines and shipping make {} but its total is {}",
                self.id,
                money::decimal(memo.sum_cents(), &self.currency),
                self.total
            ));
        }
        Ok(memo)
    }
}

/// The storefront connector.
struct Shop;

impl Connector for Shop {
    fn describe() -> Descriptor {
        Descriptor {
            name: "demo-shop".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: Kind::Commerce,
            description:
                "Orders and refunds from the demo storefront's sandbox API; parcels into it."
                    .to_owned(),
            streams: vec![
                canonical::readable(ORDERS, Some("updated_at"), canonical::ORDERS),
                canonical::readable(CREDIT_MEMOS, Some("updated_at"), canonical::CREDIT_MEMOS),
                canonical::writable(FULFILMENTS, canonical::FULFILMENTS),
            ],
            egress: Vec::new(),
            config: vec![
                ConfigKey::required(
                    "base_url",
                    "Address of the shop API, like http://127.0.0.1:8080; grant its host too.",
                ),
                ConfigKey::optional(
                    "reference_prefix",
                    "Put before the order id in a credit memo's order_ref: the prefix the orders were booked with (order-to-sale's).",
                    Some(DEFAULT_PREFIX),
                ),
            ],
            secrets: vec![
                SecretInfo::bearer("api_token", "The shop API's token, sent as a bearer token."),
                SecretInfo::hmac(
                    WEBHOOK_SECRET,
                    "The key the shop signs webhooks with (X-Shop-Signature); without it, webhooks are refused.",
                ),
            ],
        }
    }

    fn check() -> Result<(), Error> {
        shop()?.get("/api/health").send()?.error_for_status()?;
        Ok(())
    }

    fn read(stream: String, cursor: Option<String>, limit: u32) -> Result<Page, Error> {
        match stream.as_str() {
            ORDERS => read_feed(ORDERS, "/api/orders", cursor, limit, |order| {
                Ok(order.clone())
            }),
            CREDIT_MEMOS => {
                let prefix =
                    config::get("reference_prefix").unwrap_or_else(|| DEFAULT_PREFIX.to_owned());
                read_feed(CREDIT_MEMOS, "/api/refunds", cursor, limit, |refund| {
                    let refund = Refund::deserialize(refund).map_err(|e| {
                        Error::permanent(format!("the shop returned a malformed refund: {e}"))
                    })?;
                    let memo = refund.credit_memo(&prefix).map_err(Error::permanent)?;
                    serde_json::to_value(memo).map_err(|e| Error::permanent(e.to_string()))
                })
            }
            FULFILMENTS => Err(Error::permanent(format!("stream `{stream}` is write-only"))),
            _ => Err(Error::unknown_stream(&stream)),
        }
    }

    fn write(stream: String, batch: Vec<Delivery>) -> Result<Vec<Outcome>, Error> {
        match stream.as_str() {
            FULFILMENTS => {}
            ORDERS | CREDIT_MEMOS => {
                return Err(Error::permanent(format!("stream `{stream}` is read-only")));
            }
            _ => return Err(Error::unknown_stream(&stream)),
        }
        let shop = shop()?;
        Ok(record::apply_each(&batch, |delivery| {
            if delivery.envelope.op == Op::Delete {
                return Err(Error::permanent("the shop cannot delete a parcel"));
            }
            let parcel: Fulfilment = delivery.json()?;
            let path = format!(
                "/api/orders/{}/fulfilments/{}",
                http::path_segment(&parcel.order_id),
                http::path_segment(&parcel.tracking_number)
            );
            let body = serde_json::json!({"carrier": parcel.carrier, "lines": parcel.lines});
            let saved: Saved = shop
                .put(&path)
                .json(&body)?
                .send()?
                .error_for_status()?
                .json()?;
            Ok(Some(saved.id))
        }))
    }
}

impl Reconcile for Shop {
    fn reconcile(stream: String, cursor: Option<String>, limit: u32) -> Result<Page, Error> {
        if stream != FULFILMENTS {
            return Err(Error::permanent(format!(
                "stream `{stream}` cannot be reconciled; only `{FULFILMENTS}`"
            )));
        }
        // The shop lists every parcel at once, by id; page it here.
        let listed: Parcels = shop()?.get_json("/api/fulfilments", &[])?;
        let limit = limit.clamp(1, MAX_PAGE) as usize;
        let mut after: Vec<ListedParcel> = listed
            .fulfilments
            .into_iter()
            .filter(|p| cursor.as_deref().is_none_or(|c| p.id.as_str() > c))
            .collect();
        let more = after.len() > limit;
        after.truncate(limit);
        let records = after
            .iter()
            .map(|p| {
                let mut lines = p.parcel.lines.clone();
                lines.sort_by(|a, b| a.sku.cmp(&b.sku));
                let payload = Fulfilment {
                    lines,
                    ..p.parcel.clone()
                };
                Envelope::upsert(FULFILMENTS, &p.id, &payload, None)
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Page {
            next_cursor: after.last().map(|p| p.id.clone()),
            more,
            records,
        })
    }
}

/// One page of a feed of the shop after `cursor`: each record's payload is
/// `payload` of the record as the shop publishes it.
fn read_feed(
    stream: &str,
    path: &str,
    cursor: Option<String>,
    limit: u32,
    payload: impl Fn(&Value) -> Result<Value, Error>,
) -> Result<Page, Error> {
    let mut mark = Watermark::from_cursor(cursor.as_deref());
    let limit = limit.clamp(1, MAX_PAGE).to_string();
    let mut query = vec![("limit", limit.as_str())];
    if !mark.time.is_empty() {
        query.push(("updated_after", &mark.time));
    }
    if !mark.key.is_empty() {
        query.push(("after_id", &mark.key));
    }
    let page: FeedPage = shop()?.get_json(path, &query)?;

    let mut records = Vec::with_capacity(page.orders.len());
    for published in &page.orders {
        let position = OrderPosition::deserialize(published).map_err(|e| {
            Error::permanent(format!(
                "the shop returned a record of `{stream}` without id or updated_at: {e}"
            ))
        })?;
        records.push(Envelope::upsert(
            stream,
            &position.id,
            &payload(published)?,
            Some(&position.updated_at),
        )?);
        // The shop sorts by (updated_at, id): the last record is the newest.
        mark = Watermark::new(position.updated_at, position.id);
    }
    log::info(format!(
        "stream={stream} count={} more={} cursor={mark} Read the feed.",
        records.len(),
        page.has_more
    ));
    Ok(Page {
        next_cursor: (!records.is_empty()).then(|| mark.encode()),
        more: page.has_more && !records.is_empty(),
        records,
    })
}

/// The answer of `GET /api/fulfilments`.
#[derive(Debug, Deserialize)]
struct Parcels {
    fulfilments: Vec<ListedParcel>,
}

/// A parcel as the shop lists it: its id and the canonical fields.
#[derive(Debug, Deserialize)]
struct ListedParcel {
    id: String,
    #[serde(flatten)]
    parcel: Fulfilment,
}

/// The shop's answer to a parcel.
#[derive(Debug, Deserialize)]
struct Saved {
    id: String,
}

/// The shop API of this tenant, authenticated with its `api_token`.
fn shop() -> Result<Client, Error> {
    Ok(Client::new(config::require("base_url")?).credential("api_token"))
}

impl Webhook for Shop {
    fn handle(request: webhook::WebhookRequest) -> Result<Vec<Envelope>, Error> {
        if request.method != "POST" {
            return Err(Error::permanent("webhooks are POSTed"));
        }
        // The signature first: nothing of an unsigned body is looked at.
        webhook::require_hmac_signature(&request, SIGNATURE_HEADER, "sha256=", WEBHOOK_SECRET)?;
        if let Some(event) = webhook::header(&request, EVENT_HEADER)
            && event != ORDER_UPDATED
        {
            return Err(Error::permanent(format!(
                "event `{event}` is not taken; only `{ORDER_UPDATED}`"
            )));
        }
        let order: Value = serde_json::from_slice(&request.body)
            .map_err(|e| Error::permanent(format!("the body is not an order: {e}")))?;
        let position = OrderPosition::deserialize(&order)
            .map_err(|e| Error::permanent(format!("the order has no id or updated_at: {e}")))?;
        log::info(format!("order={} Order webhook verified.", position.id));
        Ok(vec![Envelope::upsert(
            ORDERS,
            &position.id,
            &order,
            Some(&position.updated_at),
        )?])
    }
}

export_reconciling_webhook_connector!(Shop);

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Refund;

    fn refund(total: &str) -> Refund {
        serde_json::from_value(json!({
            "id": "R-000001",
            "order_id": "1002",
            "currency": "EUR",
            "lines": [
                {"sku": "MUG-WHT", "quantity": 1, "unit_price": "9.50", "total": "9.50"},
                {"sku": "TEE-BLK-M", "quantity": 2, "unit_price": "19.90", "total": "39.80"},
            ],
            "shipping": "0.00",
            "total": total,
            "reason": "damaged",
            "updated_at": "2026-11-23T10:00:00Z",
        }))
        .unwrap()
    }

    #[test]
    fn a_refund_is_a_credit_memo_in_minor_units_against_the_booked_order() {
        let memo = refund("49.30").credit_memo("shop:").unwrap();
        assert_eq!(memo.external_ref, "shop:refund:R-000001");
        assert_eq!(memo.order_ref, "shop:1002");
        assert_eq!(memo.total_cents, 4930);
        assert_eq!(memo.lines[1].unit_price_cents, 1990);
        assert_eq!(memo.lines[1].total_cents, 3980);
        assert_eq!(memo.reason.as_deref(), Some("damaged"));
        assert_eq!(memo.sum_cents(), memo.total_cents);
    }

    #[test]
    fn a_refund_that_does_not_add_up_is_refused_with_both_figures() {
        let refused = refund("49.31").credit_memo("shop:").unwrap_err();
        assert!(
            refused.contains("make 49.30 but its total is 49.31"),
            "{refused}"
        );
        assert!(refund("49.301").credit_memo("shop:").is_err());
    }
}
