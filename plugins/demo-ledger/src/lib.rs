//! `demo-ledger`: writes sales orders to the demo ERP's sandbox API, and lists
//! them back for reconciliation (a `reconciling-connector`).
//!
//! - **Writes** stream `sale-orders` with `POST {base_url}/api/sales-orders`, one
//!   request per record, sending the delivery's idempotency key as
//!   `Idempotency-Key`. The ledger upserts by `external_ref`, so a record written
//!   twice updates the same sales order. Each record gets its own outcome: the
//!   ledger's id (`SO-000001`) on 200/201, or the error of the answer: 429 is
//!   `rate-limited` after `Retry-After`, 408 and 5xx are `retryable`, other
//!   statuses `permanent`. A 2xx whose body does not parse is `retryable`: the
//!   id is unknown, and the same idempotency key makes the resend harmless. One
//!   failing record never stops the others. Deletes are refused with a permanent
//!   error: the ledger cannot delete.
//! - **Reconciles** `sale-orders` from `GET {base_url}/api/sales-orders`: every
//!   sales order, keyed by the ledger's id, with exactly the payload
//!   `order-to-sale` produces (the POST body's fields), no source time. The
//!   cursor is the last id returned; ids sort as text.
//! - **Reads** nothing: `read` fails with a permanent error.
//! - **Config**: `base_url` (required), the ledger's address (`http://127.0.0.1:8081`).
//! - **Secrets**: `api_token`, sent as `Authorization: Bearer <token>`.
//! - **Egress**: none declared, because the address is the operator's config: the
//!   operator grants the host of `base_url` (`tenon enable ... --grant 127.0.0.1:8081`).
//! - **Cursor**: none for `read`; the stream is write-only.

use serde::Deserialize;
use tenon_sdk::canonical::SaleOrder;
use tenon_sdk::prelude::*;

/// The only stream, in the canonical `sale-orders` shape.
const SALE_ORDERS: &str = canonical::SALE_ORDERS;

/// The ledger's answer to a create or update.
#[derive(Debug, Deserialize)]
struct Saved {
    id: String,
}

/// The answer of `GET /api/sales-orders`.
#[derive(Debug, Deserialize)]
struct SalesOrders {
    sales_orders: Vec<Listed>,
}

/// A sales order as the ledger lists it: its id and the fields of the POST body;
/// the ledger's own bookkeeping (`revision`, ...) is left out.
#[derive(Debug, Deserialize)]
struct Listed {
    id: String,
    #[serde(flatten)]
    order: SaleOrder,
}

/// The most sales orders one `reconcile` call returns.
const MAX_PAGE: u32 = 500;

/// The ERP connector.
struct Ledger;

impl Connector for Ledger {
    fn describe() -> Descriptor {
        Descriptor {
            name: "demo-ledger".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: Kind::Erp,
            description:
                "Sales orders into the demo ERP's sandbox API, and back for reconciliation."
                    .to_owned(),
            streams: vec![canonical::writable(SALE_ORDERS, SALE_ORDERS)],
            egress: Vec::new(),
            config: vec![ConfigKey::required(
                "base_url",
                "Address of the ledger API, like http://127.0.0.1:8081; grant its host too.",
            )],
            secrets: vec![SecretInfo::bearer(
                "api_token",
                "The ledger API's token, sent as a bearer token.",
            )],
        }
    }

    fn check() -> Result<(), Error> {
        ledger()?.get("/api/health").send()?.error_for_status()?;
        Ok(())
    }

    fn read(stream: String, _cursor: Option<String>, _limit: u32) -> Result<Page, Error> {
        if stream != SALE_ORDERS {
            return Err(Error::unknown_stream(&stream));
        }
        Err(Error::permanent(format!("stream `{stream}` is write-only")))
    }

    fn write(stream: String, batch: Vec<Delivery>) -> Result<Vec<Outcome>, Error> {
        if stream != SALE_ORDERS {
            return Err(Error::unknown_stream(&stream));
        }
        let ledger = ledger()?;
        let outcomes = record::apply_each(&batch, |delivery| save(&ledger, delivery));
        let failed = outcomes.iter().filter(|outcome| outcome.is_err()).count();
        log::info(format!(
            "count={} failed={failed} Wrote sales orders.",
            outcomes.len()
        ));
        Ok(outcomes)
    }
}

impl Reconcile for Ledger {
    fn reconcile(stream: String, cursor: Option<String>, limit: u32) -> Result<Page, Error> {
        if stream != SALE_ORDERS {
            return Err(Error::unknown_stream(&stream));
        }
        // The ledger lists everything at once; page it here.
        let listed: SalesOrders = ledger()?.get_json("/api/sales-orders", &[])?;
        let page = page(listed.sales_orders, cursor.as_deref(), limit)?;
        log::info(format!(
            "count={} more={} Listed sales orders.",
            page.records.len(),
            page.more
        ));
        Ok(page)
    }
}

/// The page of `sales_orders` (sorted by id, as the ledger lists them) after
/// the id `cursor`, at most `limit` long.
fn page(sales_orders: Vec<Listed>, cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let limit = limit.clamp(1, MAX_PAGE) as usize;
    let mut after: Vec<Listed> = sales_orders
        .into_iter()
        .filter(|listed| cursor.is_none_or(|cursor| listed.id.as_str() > cursor))
        .collect();
    let more = after.len() > limit;
    after.truncate(limit);
    let records = after
        .iter()
        .map(|listed| Envelope::upsert(SALE_ORDERS, &listed.id, &listed.order, None))
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Page {
        next_cursor: after.last().map(|listed| listed.id.clone()),
        more,
        records,
    })
}

/// Creates or updates the sales order of one delivery; the ledger's id on success.
fn save(ledger: &Client, delivery: &Delivery) -> Outcome {
    if delivery.envelope.op == Op::Delete {
        return Err(Error::permanent("the ledger cannot delete sales orders"));
    }
    let order: SaleOrder = delivery.json()?;
    let response = ledger
        .post("/api/sales-orders")
        .idempotency_key(Some(&delivery.idempotency_key))
        .json(&order)?
        .send()?
        .error_for_status()?;
    // The ledger answered 2xx, so it may have applied the order, but without an id
    // we cannot report it: resend; the idempotency key makes that harmless.
    let saved: Saved = response.json().map_err(|e| Error::retryable(e.message()))?;
    Ok(Some(saved.id))
}

/// The ledger API of this tenant, authenticated with its `api_token`.
fn ledger() -> Result<Client, Error> {
    Ok(Client::new(config::require("base_url")?).credential("api_token"))
}

export_reconciling_connector!(Ledger);

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use tenon_sdk::Envelope;

    use super::{Listed, SalesOrders, page};

    /// Three sales orders as `GET /api/sales-orders` answers them.
    fn listed() -> Vec<Listed> {
        let orders: Vec<Value> = (1..=3)
            .map(|n| {
                json!({
                    "id": format!("SO-00000{n}"),
                    "external_ref": format!("shop:100{n}"),
                    "customer_email": "ada@example.com",
                    "customer_name": "Ada Lovelace",
                    "currency": "EUR",
                    "lines": [{"sku": "TEE-BLK-M", "quantity": 2, "unit_price_cents": 1990}],
                    "total_cents": 3980,
                    "status": "open",
                    "revision": 2,
                    "applied": 3,
                })
            })
            .collect();
        let answer: SalesOrders =
            serde_json::from_value(json!({ "sales_orders": orders })).unwrap();
        answer.sales_orders
    }

    #[test]
    fn a_listed_sales_order_becomes_the_payload_order_to_sale_produces() {
        let page = page(listed(), None, 10).unwrap();
        let record = &page.records[0];
        assert_eq!(record.key, "SO-000001");
        assert_eq!(record.source_time, None);
        let payload: Value = serde_json::from_str(&record.payload).unwrap();
        // The fields and types of order-to-sale's `SaleOrder`, nothing else.
        assert_eq!(
            payload,
            json!({
                "external_ref": "shop:1001",
                "customer_email": "ada@example.com",
                "customer_name": "Ada Lovelace",
                "currency": "EUR",
                "lines": [{"sku": "TEE-BLK-M", "quantity": 2, "unit_price_cents": 1990}],
                "total_cents": 3980,
                "status": "open",
            })
        );
    }

    #[test]
    fn the_payload_equals_order_to_sales_output_as_json() {
        let order = json!({
            "id": "1001",
            "status": "paid",
            "currency": "EUR",
            "customer": {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"},
            "lines": [
                {"sku": "TEE-BLK-M", "quantity": 2, "unit_price": "19.90"},
                {"sku": "MUG-WHT", "quantity": 1, "unit_price": "9.50"},
            ],
            "total": "49.30",
            "updated_at": "2026-11-23T10:00:00Z",
        });
        let envelope = Envelope::upsert("orders", "1001", &order, None).unwrap();
        let produced =
            order_to_sale::map_batch(vec![envelope], Some("EUR"), order_to_sale::DEFAULT_PREFIX)
                .unwrap();
        let produced: Value = serde_json::from_str(&produced[0].payload).unwrap();

        // The ledger stores the POST body and lists it with its bookkeeping.
        let mut stored = produced.clone();
        stored["id"] = json!("SO-000001");
        stored["revision"] = json!(1);
        stored["applied"] = json!(1);
        let answer: SalesOrders =
            serde_json::from_value(json!({ "sales_orders": [stored] })).unwrap();
        let page = page(answer.sales_orders, None, 10).unwrap();
        let listed: Value = serde_json::from_str(&page.records[0].payload).unwrap();
        assert_eq!(listed, produced);
    }

    #[test]
    fn pages_follow_the_last_id() {
        let first = page(listed(), None, 2).unwrap();
        let keys: Vec<&str> = first.records.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["SO-000001", "SO-000002"]);
        assert!(first.more);
        assert_eq!(first.next_cursor.as_deref(), Some("SO-000002"));

        let second = page(listed(), first.next_cursor.as_deref(), 2).unwrap();
        let keys: Vec<&str> = second.records.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["SO-000003"]);
        assert!(!second.more);

        let empty = page(listed(), Some("SO-000003"), 2).unwrap();
        assert!(empty.records.is_empty() && !empty.more);
        assert_eq!(empty.next_cursor, None);
    }
}
