//! `erp-tryton`: a Tryton ERP (8.x) over its JSON-RPC API.
//!
//! - **Reads** `products` (`product.product` with its template's name and list
//!   price), `customers` (`party.party`), `stock-levels` (quantities per
//!   product and warehouse, for products whose stock moves changed) and `sales`
//!   (`sale.sale` with its state, shipment and invoice states) changed since a
//!   cursor, in Tryton's shape; and, canonical, `price-lists` (the products'
//!   list prices as list `retail`, and the price lists published to a customer
//!   group or one customer, with quantity breaks: [`prices`]),
//!   `customer-accounts` (customers with payment terms, credit limit and
//!   credit hold: [`accounts`]) and `order-states` (what Tryton says of the
//!   storefront's orders: [`states`]).
//! - **Writes** `sale-orders`, canonical
//!   [`SaleOrder`](tenon_sdk::canonical::SaleOrder)s (amounts in minor units of
//!   their currency), as `sale.sale`s with the configured `invoice_method`
//!   (`manual` unless set), found again by `reference` = the record's
//!   `external_ref`: created as drafts; a changed record rewrites a draft or
//!   quotation (party, addresses, lines); `cancelled` cancels it; a confirmed,
//!   processing or done sale that differs is a permanent error (change it in
//!   Tryton). Customers are matched through the id map
//!   `customer:email->tryton-party`, then by e-mail, else created; a `ship_to`
//!   becomes the sale's shipment address (its country created by code if
//!   Tryton has none). `credit-memos`: posted credit notes against the sale's
//!   posted invoices, once per memo ([`credit`]). `returns`: approved returns
//!   as done customer return shipments, restocked lines into the warehouse's
//!   storage, disposed ones into its waste location, once per return
//!   ([`returns`]).
//! - **Reconciles** `sale-orders` (every `sale.sale` with a reference, keyed
//!   by its id, rebuilt as the canonical record that would have written it:
//!   [`held`]), `credit-memos` (the credit notes it books) and `returns` (the
//!   done return shipments with a reference). Records entered in Tryton
//!   without a reference are not Tenon's and are left out.
//! - **Config**: [`Settings`](settings::Settings): `base_url`, `database`,
//!   `invoice_method`, `order_ref_prefix`, `group_lists`, `refund_account`,
//!   `retail_prices`, `return_warehouse`.
//! - **Secrets**: `session`, the whole value of the `Authorization` header
//!   (`Session base64(login:user_id:token)`, what `common.db.login` gives): the
//!   plugin never sees a password.
//! - **Egress**: none declared; the operator grants the host of `base_url`.
//! - **Cursor**: a watermark `(time, key)`: time is the newest of the dates of
//!   what the record is made of (its create and write dates; for products
//!   also the template's; for prices also the list's, its lines' and its
//!   party's), as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (naive UTC as Tryton stores
//!   it); the key is the id zero-padded to 12 digits so that ids compare as
//!   text, or the record's key (`list/sku/currency`, a party code, an order
//!   id). `reconcile` pages by id: its cursor is the last id of the previous
//!   page.
//!
//! Layout: [`rpc`] is the JSON-RPC client; [`settings`] the configuration;
//! [`value`] converts Tryton's typed JSON (`Decimal`, `datetime`) and amounts;
//! [`formula`] exact decimals and price-list formulas; [`read`] the
//! changed-since reads in Tryton's shape; [`stock`] the stock levels;
//! [`prices`], [`accounts`] and [`states`] the canonical reads; [`sale`] the
//! sale writes and [`held`] Tryton's sales as canonical orders; [`credit`]
//! the credit notes; [`returns`] the return shipments.

mod accounts;
mod credit;
mod formula;
mod held;
mod prices;
mod read;
mod returns;
mod rpc;
mod sale;
mod settings;
mod states;
mod stock;
mod value;

use tenon_sdk::config::Config;
use tenon_sdk::prelude::*;

use settings::Settings;

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
/// Stream of list and contract prices (canonical), read-only.
const PRICE_LISTS: &str = canonical::PRICE_LISTS;
/// Stream of B2B customer accounts (canonical), read-only.
const CUSTOMER_ACCOUNTS: &str = canonical::CUSTOMER_ACCOUNTS;
/// Stream of what Tryton says of storefront orders (canonical), read-only.
const ORDER_STATES: &str = canonical::ORDER_STATES;
/// Stream of refunds booked as credit notes (canonical), write-only.
const CREDIT_MEMOS: &str = canonical::CREDIT_MEMOS;
/// Stream of customer returns booked as return shipments (canonical), write-only.
const RETURNS: &str = canonical::RETURNS;

/// The streams that can be read.
const READABLE: [&str; 7] = [
    PRODUCTS,
    CUSTOMERS,
    STOCK_LEVELS,
    SALES,
    PRICE_LISTS,
    CUSTOMER_ACCOUNTS,
    ORDER_STATES,
];
/// The streams that can be written, all reconciled.
const WRITABLE: [&str; 3] = [SALE_ORDERS, CREDIT_MEMOS, RETURNS];

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
                          changed since a cursor; price lists, customer accounts and order states, \
                          canonical; sale orders in, kept equal to the record while still drafts \
                          or quotations; refunds as posted credit notes and approved returns as \
                          return shipments, once each; all three reconciled."
                .to_owned(),
            streams: vec![
                StreamInfo::readable(PRODUCTS, Some("updated_at"), PRODUCT_SCHEMA),
                StreamInfo::readable(CUSTOMERS, Some("updated_at"), CUSTOMER_SCHEMA),
                StreamInfo::readable(STOCK_LEVELS, Some("updated_at"), STOCK_LEVEL_SCHEMA),
                StreamInfo::readable(SALES, Some("updated_at"), SALE_SCHEMA),
                canonical::readable(PRICE_LISTS, None, canonical::PRICE_LISTS),
                canonical::readable(CUSTOMER_ACCOUNTS, None, canonical::CUSTOMER_ACCOUNTS),
                canonical::readable(ORDER_STATES, None, canonical::ORDER_STATES),
                canonical::writable(SALE_ORDERS, canonical::SALE_ORDERS),
                canonical::writable(CREDIT_MEMOS, canonical::CREDIT_MEMOS),
                canonical::writable(RETURNS, canonical::RETURNS),
            ],
            egress: Vec::new(),
            config: Settings::keys(),
            secrets: vec![SecretInfo::header(
                rpc::SESSION_SECRET,
                "The Authorization header of a Tryton session: `Session <base64 of login:user-id:session>`.",
                "Authorization",
                None,
            )],
        }
    }

    fn check() -> Result<(), Error> {
        rpc::Tryton::connect(&Settings::current()?)?;
        Ok(())
    }

    fn read(stream: String, cursor: Option<String>, limit: u32) -> Result<Page, Error> {
        if WRITABLE.contains(&stream.as_str()) {
            return Err(Error::permanent(format!("stream `{stream}` is write-only")));
        }
        if !READABLE.contains(&stream.as_str()) {
            return Err(Error::unknown_stream(&stream));
        }
        let settings = Settings::current()?;
        let tryton = rpc::Tryton::connect(&settings)?;
        let cursor = cursor.as_deref();
        let source = match stream.as_str() {
            PRODUCTS => &read::PRODUCT_SOURCE,
            CUSTOMERS => &read::CUSTOMER_SOURCE,
            SALES => &read::SALE_SOURCE,
            STOCK_LEVELS => return stock::changed_since(&tryton, cursor, limit),
            PRICE_LISTS => return prices::changed_since(&tryton, &settings, cursor, limit),
            CUSTOMER_ACCOUNTS => {
                return accounts::changed_since(&tryton, &settings, cursor, limit);
            }
            _ => return states::changed_since(&tryton, &settings, cursor, limit),
        };
        read::changed_since(&tryton, source, cursor, limit)
    }

    fn write(stream: String, batch: Vec<Delivery>) -> Result<Vec<Outcome>, Error> {
        if READABLE.contains(&stream.as_str()) {
            return Err(Error::permanent(format!("stream `{stream}` is read-only")));
        }
        if !WRITABLE.contains(&stream.as_str()) {
            return Err(Error::unknown_stream(&stream));
        }
        let settings = Settings::current()?;
        let tryton = rpc::Tryton::connect(&settings)?;
        let outcomes = record::apply_each(&batch, |delivery| match stream.as_str() {
            SALE_ORDERS => sale::save(&tryton, &settings, delivery),
            CREDIT_MEMOS => credit::save(&tryton, &settings, delivery),
            _ => returns::save(&tryton, &settings, delivery),
        });
        let failed = outcomes.iter().filter(|outcome| outcome.is_err()).count();
        log::info(format!(
            "stream={stream} count={} failed={failed} Wrote records.",
            outcomes.len()
        ));
        Ok(outcomes)
    }
}

impl Reconcile for Tryton {
    fn reconcile(stream: String, cursor: Option<String>, limit: u32) -> Result<Page, Error> {
        if READABLE.contains(&stream.as_str()) {
            return Err(Error::permanent(format!(
                "stream `{stream}` cannot be reconciled: only {} are written by Tenon",
                WRITABLE.join(", ")
            )));
        }
        if !WRITABLE.contains(&stream.as_str()) {
            return Err(Error::unknown_stream(&stream));
        }
        let settings = Settings::current()?;
        let tryton = rpc::Tryton::connect(&settings)?;
        let cursor = cursor.as_deref();
        match stream.as_str() {
            SALE_ORDERS => held::reconcile(&tryton, cursor, limit),
            CREDIT_MEMOS => credit::reconcile(&tryton, cursor, limit),
            _ => returns::reconcile(&tryton, &settings, cursor, limit),
        }
    }
}

export_reconciling_connector!(Tryton);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_descriptor_declares_every_stream_and_config_key() {
        let descriptor = Tryton::describe();
        let streams: Vec<(&str, bool, bool)> = descriptor
            .streams
            .iter()
            .map(|s| (s.name.as_str(), s.readable, s.writable))
            .collect();
        for name in READABLE {
            assert!(
                streams.contains(&(name, true, false)),
                "{name}: {streams:?}"
            );
        }
        for name in WRITABLE {
            assert!(
                streams.contains(&(name, false, true)),
                "{name}: {streams:?}"
            );
        }
        assert_eq!(streams.len(), READABLE.len() + WRITABLE.len());
        // The canonical streams carry the canonical schemas.
        let schema = |name: &str| {
            descriptor
                .streams
                .iter()
                .find(|s| s.name == name)
                .map(|s| s.schema.clone())
        };
        for name in [
            PRICE_LISTS,
            CUSTOMER_ACCOUNTS,
            ORDER_STATES,
            CREDIT_MEMOS,
            RETURNS,
        ] {
            assert_eq!(schema(name), canonical::schema(name), "{name}");
        }
        let keys: Vec<(&str, bool)> = descriptor
            .config
            .iter()
            .map(|k| (k.name.as_str(), k.required))
            .collect();
        assert_eq!(
            keys,
            [
                ("base_url", true),
                ("database", true),
                ("invoice_method", false),
                ("order_ref_prefix", false),
                ("group_lists", false),
                ("refund_account", false),
                ("retail_prices", false),
                ("return_warehouse", false),
            ]
        );
        let invoice_method = &descriptor.config[2];
        assert_eq!(invoice_method.default.as_deref(), Some("manual"));
        assert_eq!(descriptor.config[6].default.as_deref(), Some("true"));
    }
}
