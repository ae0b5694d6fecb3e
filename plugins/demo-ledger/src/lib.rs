//! `demo-ledger`: writes sales orders and credit notes to the demo ERP's
//! sandbox API, and lists them back for reconciliation (a
//! `reconciling-connector`).
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
//! - **Writes** stream `credit-memos` (canonical `CreditMemo`) with `POST
//!   {base_url}/api/credit-notes`, the same way: the delivery's idempotency
//!   key, one outcome per record (the ledger's `CN-000001`). The ledger upserts
//!   by `external_ref`. A `409` (the refunded sales order is not booked yet:
//!   its flow may not have run) is `retryable`, so the credit memo waits in
//!   the retry queue rather than being lost or dead-lettered; a `422` (more
//!   credited than ordered, another currency, parts not adding up) is
//!   `permanent`.
//! - **Reconciles** `credit-memos` from `GET {base_url}/api/credit-notes`
//!   like `sale-orders`: keyed by the ledger's id, the POST body's fields.
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
use serde::Serialize;
use serde::de::DeserializeOwned;
use tenon_sdk::canonical::{CreditMemo, SaleOrder};
use tenon_sdk::prelude::*;

/// Sales orders, in the canonical `sale-orders` shape.
const SALE_ORDERS: &str = canonical::SALE_ORDERS;

/// Credit notes, in the canonical `credit-memos` shape.
const CREDIT_MEMOS: &str = canonical::CREDIT_MEMOS;

/// A writable stream of the ledger: where its records go and how they are
/// listed.
#[derive(Debug, Clone, Copy)]
struct Book {
    stream: &'static str,
    /// The POST and GET path.
    path: &'static str,
    /// What a record is called in log lines.
    noun: &'static str,
}

const BOOKS: [Book; 2] = [
    Book {
        stream: SALE_ORDERS,
        path: "/api/sales-orders",
        noun: "sales orders",
    },
    Book {
        stream: CREDIT_MEMOS,
        path: "/api/credit-notes",
        noun: "credit notes",
    },
];

/// The ledger's book of `stream`.
fn book(stream: &str) -> Result<Book, Error> {
    BOOKS
        .into_iter()
        .find(|book| book.stream == stream)
        .ok_or_else(|| Error::unknown_stream(stream))
}

/// The ledger's answer to a create or update.
#[derive(Debug, Deserialize)]
struct Saved {
    id: String,
}

/// The answer of `GET /api/sales-orders` or `GET /api/credit-notes`.
#[derive(Debug, Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
struct Listing<T> {
    #[serde(alias = "credit_notes")]
    sales_orders: Vec<Listed<T>>,
}

/// A record as the ledger lists it: its id and the fields of the POST body;
/// the ledger's own bookkeeping (`revision`, `applied`, ...) is left out.
#[derive(Debug, Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
struct Listed<T> {
    id: String,
    #[serde(flatten)]
    order: T,
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
                "Sales orders and credit notes into the demo ERP's sandbox API, and back for reconciliation."
                    .to_owned(),
            streams: vec![
                canonical::writable(SALE_ORDERS, SALE_ORDERS),
                canonical::writable(CREDIT_MEMOS, CREDIT_MEMOS),
            ],
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
        book(&stream)?;
        Err(Error::permanent(format!("stream `{stream}` is write-only")))
    }

    fn write(stream: String, batch: Vec<Delivery>) -> Result<Vec<Outcome>, Error> {
        let book = book(&stream)?;
        let ledger = ledger()?;
        let outcomes = record::apply_each(&batch, |delivery| match book.stream {
            SALE_ORDERS => save::<SaleOrder>(&ledger, book, delivery),
            _ => save::<CreditMemo>(&ledger, book, delivery),
        });
        let failed = outcomes.iter().filter(|outcome| outcome.is_err()).count();
        log::info(format!(
            "count={} failed={failed} Wrote {}.",
            outcomes.len(),
            book.noun
        ));
        Ok(outcomes)
    }
}

impl Reconcile for Ledger {
    fn reconcile(stream: String, cursor: Option<String>, limit: u32) -> Result<Page, Error> {
        let book = book(&stream)?;
        // The ledger lists everything at once; page it here.
        let page = match book.stream {
            SALE_ORDERS => listed_page::<SaleOrder>(book, cursor.as_deref(), limit),
            _ => listed_page::<CreditMemo>(book, cursor.as_deref(), limit),
        }?;
        log::info(format!(
            "count={} more={} Listed {}.",
            page.records.len(),
            page.more,
            book.noun
        ));
        Ok(page)
    }
}

/// A page of what `book` lists, its records of type `T`.
fn listed_page<T: DeserializeOwned + Serialize>(
    book: Book,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page, Error> {
    let listed: Listing<T> = ledger()?.get_json(book.path, &[])?;
    page(book.stream, listed.sales_orders, cursor, limit)
}

/// The page of `listed` (sorted by id, as the ledger lists them) after the id
/// `cursor`, at most `limit` long, as records of `stream`.
fn page<T: Serialize>(
    stream: &str,
    listed: Vec<Listed<T>>,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page, Error> {
    let limit = limit.clamp(1, MAX_PAGE) as usize;
    let mut after: Vec<Listed<T>> = listed
        .into_iter()
        .filter(|listed| cursor.is_none_or(|cursor| listed.id.as_str() > cursor))
        .collect();
    let more = after.len() > limit;
    after.truncate(limit);
    let records = after
        .iter()
        .map(|listed| Envelope::upsert(stream, &listed.id, &listed.order, None))
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Page {
        next_cursor: after.last().map(|listed| listed.id.clone()),
        more,
        records,
    })
}

/// Creates or updates the record of one delivery in `book`, decoded as `T`;
/// the ledger's id on success.
fn save<T: DeserializeOwned + Serialize>(
    ledger: &Client,
    book: Book,
    delivery: &Delivery,
) -> Outcome {
    if delivery.envelope.op == Op::Delete {
        return Err(Error::permanent(format!(
            "the ledger cannot delete {}",
            book.noun
        )));
    }
    let body: T = delivery.json()?;
    let response = ledger
        .post(book.path)
        .idempotency_key(Some(&delivery.idempotency_key))
        .json(&body)?
        .send()?;
    if book.stream == CREDIT_MEMOS && response.status() == 409 {
        // The sales order it credits is not booked yet: its flow may still
        // bring it. Wait in the retry queue rather than fail for good.
        return Err(Error::retryable(format!(
            "the ledger has not booked the refunded order yet: {}",
            response.text()
        )));
    }
    let response = response.error_for_status()?;
    // The ledger answered 2xx, so it may have applied the record, but without
    // an id we cannot report it: resend; the idempotency key makes that harmless.
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

    use super::{CREDIT_MEMOS, Listed, Listing, SALE_ORDERS, page};
    use tenon_sdk::canonical::{CreditMemo, SaleOrder};

    /// The answer of `GET /api/sales-orders`.
    type SalesOrders = Listing<SaleOrder>;

    /// Three sales orders as `GET /api/sales-orders` answers them.
    fn listed() -> Vec<Listed<SaleOrder>> {
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
        let page = page(SALE_ORDERS, listed(), None, 10).unwrap();
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
        let page = page(SALE_ORDERS, answer.sales_orders, None, 10).unwrap();
        let listed: Value = serde_json::from_str(&page.records[0].payload).unwrap();
        assert_eq!(listed, produced);
    }

    #[test]
    fn a_listed_credit_note_is_the_credit_memo_it_was_written_with() {
        let memo = json!({
            "external_ref": "shop:refund:R-000001",
            "order_ref": "shop:1002",
            "currency": "EUR",
            "lines": [{"sku": "MUG-WHT", "quantity": 1, "unit_price_cents": 950, "total_cents": 950}],
            "shipping_cents": 0,
            "adjustment_cents": 0,
            "total_cents": 950,
            "reason": "damaged",
        });
        let mut stored = memo.clone();
        stored["id"] = json!("CN-000001");
        stored["sales_order"] = json!("SO-000002");
        stored["applied"] = json!(1);
        let answer: Listing<CreditMemo> =
            serde_json::from_value(json!({ "credit_notes": [stored] })).unwrap();
        let page = page(CREDIT_MEMOS, answer.sales_orders, None, 10).unwrap();
        assert_eq!(page.records[0].key, "CN-000001");
        assert_eq!(page.records[0].stream, CREDIT_MEMOS);
        let listed: Value = serde_json::from_str(&page.records[0].payload).unwrap();
        assert_eq!(listed, memo);
    }

    #[test]
    fn pages_follow_the_last_id() {
        let first = page(SALE_ORDERS, listed(), None, 2).unwrap();
        let keys: Vec<&str> = first.records.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["SO-000001", "SO-000002"]);
        assert!(first.more);
        assert_eq!(first.next_cursor.as_deref(), Some("SO-000002"));

        let second = page(SALE_ORDERS, listed(), first.next_cursor.as_deref(), 2).unwrap();
        let keys: Vec<&str> = second.records.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["SO-000003"]);
        assert!(!second.more);

        let empty = page(SALE_ORDERS, listed(), Some("SO-000003"), 2).unwrap();
        assert!(empty.records.is_empty() && !empty.more);
        assert_eq!(empty.next_cursor, None);
    }
}
