//! `commerce-vendure`: a Vendure 3.x storefront through its Admin GraphQL API,
//! in Tenon's canonical shapes.
//!
//! # Layout
//! - this file: the descriptor, `check`, and dispatch by stream;
//! - `graphql.rs`: one Admin API request, GraphQL errors mapped to [`Error`]s;
//! - `channel.rs`: the active channel's languages, currencies and tax setting;
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
//! - `money.rs`: Vendure's hundredths to and from canonical decimal strings.
//!
//! - **Config**: `base_url` (required), the server's address; `admin_api_path`
//!   (default `admin-api`).
//! - **Secrets**: `api_token`, a Vendure session token sent as
//!   `Authorization: Bearer <token>`; the connector never sees a password.
//! - **Egress**: none declared; the operator grants the host of `base_url`.
//! - **Cursor** (`orders`, `customers`): a [`Watermark`] over `(updatedAt, id)`;
//!   ids are zero-padded in the cursor so that they compare as numbers.
//! - **Reconcile** (`products`, `inventory-levels`, `fulfilments`): keyed by the
//!   ids `write` returns (variant id; `<variant id>@<stock location id>`;
//!   fulfilment id), payloads in the canonical shape written; cursor
//!   `<skip>:<id>:<sub id>` (see `listing.rs`).

mod channel;
mod customers;
mod feed;
mod fulfilments;
mod graphql;
mod inventory;
mod listing;
mod money;
mod orders;
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

/// The Vendure connector.
struct Vendure;

impl Connector for Vendure {
    fn describe() -> Descriptor {
        Descriptor {
            name: "commerce-vendure".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: Kind::Commerce,
            description:
                "Orders and customers from a Vendure 3.x server; products, stock levels and fulfilments into it, and reconciled (Admin GraphQL API)."
                    .to_owned(),
            streams: vec![
                canonical::readable(ORDERS, Some("updated_at"), canonical::ORDERS),
                canonical::readable(CUSTOMERS, Some("updated_at"), canonical::CUSTOMERS),
                canonical::writable(PRODUCTS, canonical::PRODUCTS),
                canonical::writable(INVENTORY_LEVELS, canonical::INVENTORY_LEVELS),
                canonical::writable(FULFILMENTS, canonical::FULFILMENTS),
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
            PRODUCTS | INVENTORY_LEVELS | FULFILMENTS => Err(Error::permanent(format!(
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
            ORDERS | CUSTOMERS => Err(Error::permanent(format!("stream `{stream}` is read-only"))),
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
            ORDERS | CUSTOMERS => Err(Error::permanent(format!(
                "stream `{stream}` is read-only: there is nothing written to reconcile"
            ))),
            _ => Err(Error::unknown_stream(&stream)),
        }
    }
}

export_reconciling_connector!(Vendure);
