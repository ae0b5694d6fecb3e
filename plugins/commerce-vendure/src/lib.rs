//! `commerce-vendure`: a Vendure 3.x storefront through its Admin GraphQL API,
//! in Tenon's canonical shapes, B2B price lists and accounts included.
//!
//! # Layout
//! - this file: the descriptor, `check`, and dispatch by stream;
//! - `graphql.rs`: one Admin API request (in the default channel or one named
//!   by its token), GraphQL errors mapped to [`Error`]s;
//! - `channel.rs`: the active channel's languages, currencies and tax setting;
//! - `audience.rs`: the channel that holds a price-list audience's prices (the
//!   default one, or a B2B channel per account or customer group);
//! - `feed.rs`: changed-since reads and their cursor, shared by the read streams;
//! - `listing.rs`: whole-store listings in id order, paged, for `reconcile`;
//! - `orders.rs`: the `orders` stream (read), canonical `Order` plus extras;
//! - `customers.rs`: the `customers` stream (read), canonical `Customer`;
//! - `products.rs`: the `products` stream (write, reconcile), canonical
//!   `Product`, one record per variant;
//! - `inventory.rs`: the `inventory-levels` stream (write, reconcile),
//!   canonical `InventoryLevel` per SKU and stock location name;
//! - `fulfilments.rs`: the `fulfilments` stream (write, reconcile), canonical
//!   `Fulfilment`, parcels with tracking;
//! - `prices.rs`: the `price-lists` stream (write, reconcile), canonical
//!   `ListPrice`, a variant price per audience channel;
//! - `accounts.rs`: the `customer-accounts` stream (write, reconcile),
//!   canonical `CustomerAccount` on customer custom fields and groups;
//! - `order_states.rs`: the `order-states` stream (write, reconcile),
//!   canonical `OrderState` as order transitions;
//! - `credit_memos.rs`: the `credit-memos` stream (read), settled refunds as
//!   canonical `CreditMemo`s;
//! - `money.rs`: Vendure's hundredths to and from canonical decimal strings
//!   and minor units.
//!
//! - **Config**: `base_url` (required), the server's address; `admin_api_path`
//!   (default `admin-api`); `order_ref_prefix` (default `shop:`), before the
//!   order id in a credit memo's `order_ref`.
//! - **Server**: the B2B streams (`price-lists`, `customer-accounts`,
//!   `order-states`) need custom fields, an order state and a channel gate
//!   configured in Vendure (`tests/servers/vendure/b2b.js`, documented in
//!   `docs/connectors/commerce-vendure.md`).
//! - **Secrets**: `api_token`, a Vendure session token sent as
//!   `Authorization: Bearer <token>`; the connector never sees a password.
//! - **Egress**: none declared; the operator grants the host of `base_url`.
//! - **Cursor** (`orders`, `customers`, `credit-memos`): a [`Watermark`] over
//!   `(updatedAt, id)` (the refund's for `credit-memos`); ids are zero-padded
//!   in the cursor so that they compare as numbers.
//! - **Reconcile** (every writable stream): keyed by the ids `write` returns
//!   (variant id; `<variant id>@<stock location id>`; fulfilment id;
//!   `<channel code>/<variant id>/<currency>`; customer id; order id),
//!   payloads in the canonical shape written; cursor `<skip>:<id>:<sub id>`
//!   (see `listing.rs`), for `price-lists` after `<channel id>|`.

mod accounts;
mod audience;
mod channel;
mod credit_memos;
mod customers;
mod feed;
mod fulfilments;
mod graphql;
mod inventory;
mod listing;
mod money;
mod order_states;
mod orders;
mod prices;
mod products;

use tenon_sdk::canonical;
use tenon_sdk::prelude::*;

/// The readable stream of orders.
const ORDERS: &str = "orders";

/// The readable stream of customers.
const CUSTOMERS: &str = "customers";

/// The writable stream of catalogue variants.
const PRODUCTS: &str = "products";

/// The writable stream of shipped parcels.
const FULFILMENTS: &str = "fulfilments";

/// The writable stream of stock levels.
const INVENTORY_LEVELS: &str = "inventory-levels";

/// The writable stream of list, group and contract prices.
const PRICE_LISTS: &str = canonical::PRICE_LISTS;

/// The writable stream of B2B accounts.
const CUSTOMER_ACCOUNTS: &str = canonical::CUSTOMER_ACCOUNTS;

/// The writable stream of what the ERP or the 3PL says of orders.
const ORDER_STATES: &str = canonical::ORDER_STATES;

/// The readable stream of settled refunds.
const CREDIT_MEMOS: &str = canonical::CREDIT_MEMOS;

/// The Vendure connector.
struct Vendure;

impl Connector for Vendure {
    fn describe() -> Descriptor {
        Descriptor {
            name: "commerce-vendure".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: Kind::Commerce,
            description:
                "Orders, customers and refunds from a Vendure 3.x server; products, stock levels, fulfilments, B2B price lists, customer accounts and order states into it, and reconciled (Admin GraphQL API)."
                    .to_owned(),
            streams: vec![
                canonical::readable(ORDERS, Some("updated_at"), canonical::ORDERS),
                canonical::readable(CUSTOMERS, Some("updated_at"), canonical::CUSTOMERS),
                canonical::readable(CREDIT_MEMOS, None, canonical::CREDIT_MEMOS),
                canonical::writable(PRODUCTS, canonical::PRODUCTS),
                canonical::writable(INVENTORY_LEVELS, canonical::INVENTORY_LEVELS),
                canonical::writable(FULFILMENTS, canonical::FULFILMENTS),
                canonical::writable(PRICE_LISTS, canonical::PRICE_LISTS),
                canonical::writable(CUSTOMER_ACCOUNTS, canonical::CUSTOMER_ACCOUNTS),
                canonical::writable(ORDER_STATES, canonical::ORDER_STATES),
            ],
            egress: Vec::new(),
            config: vec![
                ConfigKey::required(
                    "base_url",
                    "Address of the Vendure server, like http://127.0.0.1:3000; grant its host too.",
                ),
                ConfigKey::optional(
                    "admin_api_path",
                    "Path of the Admin API on that server.",
                    Some(graphql::DEFAULT_ADMIN_API_PATH),
                ),
                ConfigKey::optional(
                    "order_ref_prefix",
                    "Put before the order id in a credit memo's order_ref: the prefix the orders were booked with (order-to-sale's reference_prefix).",
                    Some(credit_memos::DEFAULT_ORDER_REF_PREFIX),
                ),
            ],
            secrets: vec![SecretInfo::bearer(
                graphql::TOKEN_SECRET,
                "A Vendure Admin API token (a channel token of an administrator), sent as a bearer token.",
            )],
        }
    }

    fn check() -> Result<(), Error> {
        let me: serde_json::Value =
            graphql::query("{ me { id identifier } }", serde_json::json!({}))?;
        if me["me"].is_null() {
            return Err(Error::permanent(
                "Vendure does not accept the `api_token`: `me` is null (expired or wrong session token)",
            ));
        }
        Ok(())
    }

    fn read(stream: String, cursor: Option<String>, limit: u32) -> Result<Page, Error> {
        match stream.as_str() {
            ORDERS => orders::read(cursor.as_deref(), limit),
            CUSTOMERS => customers::read(cursor.as_deref(), limit),
            CREDIT_MEMOS => credit_memos::read(cursor.as_deref(), limit),
            PRODUCTS | INVENTORY_LEVELS | FULFILMENTS | PRICE_LISTS | CUSTOMER_ACCOUNTS
            | ORDER_STATES => Err(Error::permanent(format!(
                "stream `{stream}` is write-only (its records are listed by `reconcile`)"
            ))),
            _ => Err(Error::unknown_stream(&stream)),
        }
    }

    fn write(stream: String, batch: Vec<Delivery>) -> Result<Vec<Outcome>, Error> {
        match stream.as_str() {
            PRODUCTS => products::write(&batch),
            INVENTORY_LEVELS => inventory::write(&batch),
            FULFILMENTS => fulfilments::write(&batch),
            PRICE_LISTS => prices::write(&batch),
            CUSTOMER_ACCOUNTS => accounts::write(&batch),
            ORDER_STATES => order_states::write(&batch),
            ORDERS | CUSTOMERS | CREDIT_MEMOS => {
                Err(Error::permanent(format!("stream `{stream}` is read-only")))
            }
            _ => Err(Error::unknown_stream(&stream)),
        }
    }
}

impl Reconcile for Vendure {
    fn reconcile(stream: String, cursor: Option<String>, limit: u32) -> Result<Page, Error> {
        match stream.as_str() {
            PRODUCTS => products::reconcile(cursor.as_deref(), limit),
            INVENTORY_LEVELS => inventory::reconcile(cursor.as_deref(), limit),
            FULFILMENTS => fulfilments::reconcile(cursor.as_deref(), limit),
            PRICE_LISTS => prices::reconcile(cursor.as_deref(), limit),
            CUSTOMER_ACCOUNTS => accounts::reconcile(cursor.as_deref(), limit),
            ORDER_STATES => order_states::reconcile(cursor.as_deref(), limit),
            ORDERS | CUSTOMERS | CREDIT_MEMOS => Err(Error::permanent(format!(
                "stream `{stream}` is read-only: there is nothing written to reconcile"
            ))),
            _ => Err(Error::unknown_stream(&stream)),
        }
    }
}

export_reconciling_connector!(Vendure);
