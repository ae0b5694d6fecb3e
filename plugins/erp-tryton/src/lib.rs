//! `erp-tryton`: a Tryton ERP (8.x) over its JSON-RPC API.
//!
//! - **Reads** `products` (`product.product` with its template's name and list
//!   price), `customers` (`party.party`) and `stock-levels` (quantities per
//!   product and warehouse, for products whose stock moves changed) and `sales`
//!   (`sale.sale` with its state, shipment and invoice states) changed since a
//!   cursor.
//! - **Writes** `sale-orders`, canonical
//!   [`SaleOrder`](tenon_sdk::canonical::SaleOrder)s (amounts in minor units of
//!   their currency), as `sale.sale`s with `invoice_method: manual`, found again
//!   by `reference` = the record's `external_ref`: created as drafts; a changed
//!   record rewrites a draft or quotation (party, addresses, lines); `cancelled`
//!   cancels it; a confirmed, processing or done sale that differs is a
//!   permanent error (change it in Tryton). Customers are matched through the id
//!   map `customer:email->tryton-party`, then by e-mail, else created; a
//!   `ship_to` becomes the sale's shipment address (its country created by code
//!   if Tryton has none).
//! - **Reconciles** `sale-orders`: every `sale.sale` with a reference, keyed by
//!   its id (what `write` returns), rebuilt as the canonical record that would
//!   have written it ([`held`]). Sales entered in Tryton without a reference are
//!   not Tenon's and are left out.
//! - **Config**: `base_url` (`http://127.0.0.1:8000`), `database` (the Tryton
//!   database name).
//! - **Secrets**: `session`, the whole value of the `Authorization` header
//!   (`Session base64(login:user_id:token)`, what `common.db.login` gives): the
//!   plugin never sees a password.
//! - **Egress**: none declared; the operator grants the host of `base_url`.
//! - **Cursor**: a watermark `(time, id)`: time is the newest of the record's
//!   create and write dates (for products also the template's), as
//!   `YYYY-MM-DDTHH:MM:SS.ffffffZ` (naive UTC as Tryton stores it), and the id
//!   zero-padded to 12 digits so that ids compare as text. `reconcile` pages
//!   by sale id: its cursor is the last id of the previous page.
//!
//! Layout: [`rpc`] is the JSON-RPC client; [`value`] converts Tryton's typed JSON
//! (`Decimal`, `datetime`) and amounts; [`read`] the changed-since reads;
//! [`stock`] the stock levels; [`sale`] the writes; [`held`] Tryton's sales as
//! canonical orders, for reconciliation and for writes to compare with.

mod held;
mod read;
mod rpc;
mod sale;
mod stock;
mod value;

use tenon_sdk::prelude::*;

/// Stream of products, read-only.
const PRODUCTS: &str = "products";
/// Stream of customers (parties), read-only.
const CUSTOMERS: &str = "customers";
/// Stream of stock quantities per product and warehouse, read-only.
const STOCK_LEVELS: &str = "stock-levels";
/// Stream of Tryton sales with their states, read-only.
const SALES: &str = "sales";
/// Stream of sales orders, write-only.
const SALE_ORDERS: &str = "sale-orders";

/// JSON Schema of a `products` payload.
const PRODUCT_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["id", "code", "name", "list_price", "updated_at"],
  "properties": {
    "id": {"type": "integer"},
    "code": {"type": ["string", "null"]},
    "name": {"type": "string"},
    "list_price": {"type": ["string", "null"], "description": "decimal, like 9.99"},
    "active": {"type": "boolean"},
    "updated_at": {"type": "string"}
  }
}"#;

/// JSON Schema of a `customers` payload.
const CUSTOMER_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["id", "code", "name", "updated_at"],
  "properties": {
    "id": {"type": "integer"},
    "code": {"type": ["string", "null"]},
    "name": {"type": "string"},
    "email": {"type": ["string", "null"]},
    "updated_at": {"type": "string"}
  }
}"#;

/// JSON Schema of a `stock-levels` payload.
const STOCK_LEVEL_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["product_id", "code", "warehouse_id", "quantity", "forecast_quantity", "updated_at"],
  "properties": {
    "product_id": {"type": "integer"},
    "code": {"type": ["string", "null"]},
    "warehouse_id": {"type": "integer"},
    "warehouse": {"type": ["string", "null"]},
    "quantity": {"type": "number"},
    "forecast_quantity": {"type": "number"},
    "updated_at": {"type": "string"}
  }
}"#;

/// JSON Schema of a `sales` payload.
const SALE_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["id", "reference", "state", "shipment_state", "invoice_state", "updated_at"],
  "properties": {
    "id": {"type": "integer"},
    "number": {"type": ["string", "null"]},
    "reference": {"type": ["string", "null"]},
    "state": {"type": "string"},
    "shipment_state": {"type": "string"},
    "invoice_state": {"type": "string"},
    "total_amount": {"type": ["string", "null"]},
    "party_id": {"type": ["integer", "null"]},
    "updated_at": {"type": "string"}
  }
}"#;

/// The Tryton connector.
struct Tryton;

impl Connector for Tryton {
    fn describe() -> Descriptor {
        Descriptor {
            name: "erp-tryton".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: Kind::Erp,
            description: "Tryton ERP over JSON-RPC: products, customers, stock levels and sales \
                          changed since a cursor; sale orders in, kept equal to the record while still \
                          drafts or quotations, and reconciled."
                .to_owned(),
            streams: vec![
                StreamInfo::readable(PRODUCTS, Some("updated_at"), PRODUCT_SCHEMA),
                StreamInfo::readable(CUSTOMERS, Some("updated_at"), CUSTOMER_SCHEMA),
                StreamInfo::readable(STOCK_LEVELS, Some("updated_at"), STOCK_LEVEL_SCHEMA),
                StreamInfo::readable(SALES, Some("updated_at"), SALE_SCHEMA),
                canonical::writable(SALE_ORDERS, canonical::SALE_ORDERS),
            ],
            egress: Vec::new(),
            config: vec![
                ConfigKey::required(
                    "base_url",
                    "Address of the Tryton server, like http://127.0.0.1:8000; grant its host too.",
                ),
                ConfigKey::required("database", "Name of the Tryton database."),
            ],
            secrets: vec![SecretInfo::header(
                rpc::SESSION_SECRET,
                "The Authorization header of a Tryton session: `Session <base64 of login:user-id:session>`.",
                "Authorization",
                None,
            )],
        }
    }

    fn check() -> Result<(), Error> {
        rpc::Tryton::connect()?;
        Ok(())
    }

    fn read(stream: String, cursor: Option<String>, limit: u32) -> Result<Page, Error> {
        if stream == STOCK_LEVELS {
            return stock::changed_since(&rpc::Tryton::connect()?, cursor.as_deref(), limit);
        }
        let source = match stream.as_str() {
            PRODUCTS => &read::PRODUCT_SOURCE,
            CUSTOMERS => &read::CUSTOMER_SOURCE,
            SALES => &read::SALE_SOURCE,
            SALE_ORDERS => {
                return Err(Error::permanent(format!("stream `{stream}` is write-only")));
            }
            _ => return Err(Error::unknown_stream(&stream)),
        };
        let tryton = rpc::Tryton::connect()?;
        read::changed_since(&tryton, source, cursor.as_deref(), limit)
    }

    fn write(stream: String, batch: Vec<Delivery>) -> Result<Vec<Outcome>, Error> {
        match stream.as_str() {
            SALE_ORDERS => {}
            PRODUCTS | CUSTOMERS | STOCK_LEVELS | SALES => {
                return Err(Error::permanent(format!("stream `{stream}` is read-only")));
            }
            _ => return Err(Error::unknown_stream(&stream)),
        }
        let tryton = rpc::Tryton::connect()?;
        let outcomes = record::apply_each(&batch, |delivery| sale::save(&tryton, delivery));
        let failed = outcomes.iter().filter(|outcome| outcome.is_err()).count();
        log::info(format!(
            "count={} failed={failed} Wrote sale orders.",
            outcomes.len()
        ));
        Ok(outcomes)
    }
}

impl Reconcile for Tryton {
    fn reconcile(stream: String, cursor: Option<String>, limit: u32) -> Result<Page, Error> {
        match stream.as_str() {
            SALE_ORDERS => held::reconcile(&rpc::Tryton::connect()?, cursor.as_deref(), limit),
            PRODUCTS | CUSTOMERS | STOCK_LEVELS | SALES => Err(Error::permanent(format!(
                "stream `{stream}` cannot be reconciled: only `{SALE_ORDERS}` is written by Tenon"
            ))),
            _ => Err(Error::unknown_stream(&stream)),
        }
    }
}

export_reconciling_connector!(Tryton);
