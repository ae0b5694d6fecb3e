//! `demo-ledger`: writes sales orders to the demo ERP's sandbox API.
//!
//! - **Writes** stream `sale-orders` with `POST {base_url}/api/sales-orders`, one
//!   request per record, sending the delivery's idempotency key as
//!   `Idempotency-Key`. The ledger upserts by `external_ref`, so a record written
//!   twice updates the same sales order. Each record gets its own outcome (the
//!   ledger's id, or the mapped error): one failing record never stops the others.
//!   Deletes are refused with a permanent error: the ledger cannot delete.
//! - **Reads** nothing: `read` fails with a permanent error.
//! - **Config**: `base_url` (required), the ledger's address (`http://127.0.0.1:8081`).
//! - **Secrets**: `api_token`, sent as `Authorization: Bearer <token>`.
//! - **Egress**: none declared, because the address is the operator's config: the
//!   operator grants the host of `base_url` (`tenon enable ... --grant 127.0.0.1:8081`).
//! - **Cursor**: none; the stream is write-only.

use serde::{Deserialize, Serialize};
use tenon_sdk::prelude::*;

/// The only stream.
const SALE_ORDERS: &str = "sale-orders";

/// JSON Schema of a `sale-orders` payload (amounts in integer cents).
const SALE_ORDER_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["external_ref", "customer_email", "customer_name", "currency", "lines", "total_cents", "status"],
  "properties": {
    "external_ref": {"type": "string"},
    "customer_email": {"type": "string"},
    "customer_name": {"type": "string"},
    "currency": {"type": "string"},
    "lines": {
      "type": "array",
      "minItems": 1,
      "items": {
        "type": "object",
        "required": ["sku", "quantity", "unit_price_cents"],
        "properties": {
          "sku": {"type": "string"},
          "quantity": {"type": "integer"},
          "unit_price_cents": {"type": "integer"}
        }
      }
    },
    "total_cents": {"type": "integer"},
    "status": {"enum": ["open", "cancelled"]}
  }
}"#;

/// A `sale-orders` payload, exactly the body the ledger accepts.
#[derive(Debug, Serialize, Deserialize)]
struct SaleOrder {
    external_ref: String,
    customer_email: String,
    customer_name: String,
    currency: String,
    lines: Vec<SaleLine>,
    total_cents: i64,
    status: String,
}

/// One line of a [`SaleOrder`].
#[derive(Debug, Serialize, Deserialize)]
struct SaleLine {
    sku: String,
    quantity: i64,
    unit_price_cents: i64,
}

/// The ledger's answer to a create or update.
#[derive(Debug, Deserialize)]
struct Saved {
    id: String,
}

/// The ERP connector.
struct Ledger;

impl Connector for Ledger {
    fn describe() -> Descriptor {
        Descriptor {
            name: "demo-ledger".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: Kind::Erp,
            description: "Sales orders into the demo ERP's sandbox API.".to_owned(),
            streams: vec![StreamInfo::writable(SALE_ORDERS, SALE_ORDER_SCHEMA)],
            egress: Vec::new(),
            config: vec![ConfigKey::required(
                "base_url",
                "Address of the ledger API, like http://127.0.0.1:8081; grant its host too.",
            )],
            secrets: vec!["api_token".to_owned()],
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

/// Creates or updates the sales order of one delivery; the ledger's id on success.
fn save(ledger: &Client, delivery: &Delivery) -> Outcome {
    if delivery.envelope.op == Op::Delete {
        return Err(Error::permanent("the ledger cannot delete sales orders"));
    }
    let order: SaleOrder = delivery.json()?;
    let saved: Saved =
        ledger.post_json("/api/sales-orders", &order, Some(&delivery.idempotency_key))?;
    Ok(Some(saved.id))
}

/// The ledger API of this tenant, authenticated with its `api_token`.
fn ledger() -> Result<Client, Error> {
    Ok(Client::new(config::require("base_url")?).credential(Credential::bearer("api_token")))
}

export_connector!(Ledger);
