//! `commerce-magento`: a Magento 2 / Adobe Commerce store through its REST API
//! (`{base_url}/rest/<store>/V1/...`), in Tenon's canonical shapes.
//!
//! # Layout
//! - this file: the configuration, the descriptor, `check`, and dispatch by
//!   stream;
//! - `rest.rs`: one REST request, the bearer token, Magento's errors (their
//!   `%` placeholders filled) mapped to [`Error`]s;
//! - `criteria.rs`: `searchCriteria` query parameters and paging by
//!   `total_count`;
//! - `money.rs`: Magento's float amounts to exact minor units and back;
//! - `feed.rs`: changed-since reads and their tie-safe cursor, shared by the
//!   read streams;
//! - `listing.rs`: whole-store listings in `entity_id` order, for `reconcile`;
//! - `orders.rs`, `customers.rs`, `credit_memos.rs`: the read streams
//!   `orders`, `customers`, `credit-memos`;
//! - `products.rs` (with `categories.rs` and `bulk.rs`): `products`, simple
//!   and configurable products, through the async bulk API for large batches;
//! - `inventory.rs`: `inventory-levels`, MSI source items;
//! - `prices.rs`: `price-lists`, tier prices per customer group;
//! - `accounts.rs`: `customer-accounts`, B2B accounts on customers and groups;
//! - `fulfilments.rs`: `fulfilments`, shipments with tracking;
//! - `order_states.rs`: `order-states`, hold, release, cancel and history;
//! - `returns.rs`: `returns`, Adobe Commerce RMAs keyed by a comment.
//!
//! - **Config**: see [`Settings`]; `base_url` is required.
//! - **Secrets**: `access_token`, an integration's access token sent as
//!   `Authorization: Bearer <token>`.
//! - **Egress**: none declared; the operator grants the host of `base_url`.
//! - **Cursor** (read streams): a [`Watermark`] over `(updated_at, entity_id)`,
//!   see `feed.rs`.
//! - **Reconcile** (every write stream): keyed by the ids `write` returns,
//!   payloads in the canonical shape written, cursor `<entity id>:<sub id>`
//!   (see `listing.rs`).

mod accounts;
mod bulk;
mod categories;
mod credit_memos;
mod criteria;
mod customers;
mod feed;
mod fulfilments;
mod inventory;
mod listing;
mod money;
mod order_states;
mod orders;
mod prices;
mod products;
mod rest;
mod returns;

use serde::Deserialize;
use tenon_sdk::canonical;
use tenon_sdk::config::Config;
use tenon_sdk::prelude::*;

use crate::rest::{Magento, Scope};

const ORDERS: &str = canonical::ORDERS;
const CUSTOMERS: &str = canonical::CUSTOMERS;
const CREDIT_MEMOS: &str = canonical::CREDIT_MEMOS;
const PRODUCTS: &str = canonical::PRODUCTS;
const INVENTORY_LEVELS: &str = canonical::INVENTORY_LEVELS;
const PRICE_LISTS: &str = canonical::PRICE_LISTS;
const CUSTOMER_ACCOUNTS: &str = canonical::CUSTOMER_ACCOUNTS;
const FULFILMENTS: &str = canonical::FULFILMENTS;
const ORDER_STATES: &str = canonical::ORDER_STATES;
const RETURNS: &str = canonical::RETURNS;

/// The streams read.
const READ: [&str; 3] = [ORDERS, CUSTOMERS, CREDIT_MEMOS];

/// The operator's configuration of the connector, per tenant.
#[derive(Debug, Config)]
pub struct Settings {
    /// Address of the Magento server, like `https://shop.example.com` (the REST API is under `/rest`); grant its host too.
    pub base_url: String,
    /// The store view whose REST API the connector uses (`/rest/<store_code>/V1`); catalogue writes go to `all`.
    #[config(default = "default")]
    pub store_code: String,
    /// The language code of the product names, descriptions and image labels written and read back (the store view's language).
    #[config(default = "en")]
    pub language: String,
    /// The catalogue's base currency: products and tier prices are written in it, other currencies are left out.
    #[config(default = "EUR")]
    pub currency: String,
    /// The website of tier prices and new products (0: all websites, Magento's global price scope).
    #[config(default = "0")]
    pub website_id: u32,
    /// Put before the order id in a credit memo's order_ref: the `reference_prefix` that `order-to-sale` books Magento's orders with.
    #[config(default = "magento:")]
    pub order_ref_prefix: String,
    /// Product batches larger than this go through Magento's asynchronous bulk API (its consumer `async.operations.all` must run).
    #[config(default = "50")]
    pub bulk_threshold: u32,
    /// Records per Magento search request (Magento's own limit is often 300).
    #[config(default = "100")]
    pub page_size: u32,
}

/// The Magento connector.
struct MagentoStore;

impl Connector for MagentoStore {
    fn describe() -> Descriptor {
        Descriptor {
            description: "Orders, customers and credit memos from a Magento 2 / Adobe Commerce store; products, stock levels, tier prices, B2B customer accounts, shipments, order states and returns (Adobe Commerce RMAs) into it, and reconciled (REST API)."
                .to_owned(),
            streams: vec![
                canonical::readable(ORDERS, Some("updated_at"), canonical::ORDERS),
                canonical::readable(CUSTOMERS, Some("updated_at"), canonical::CUSTOMERS),
                canonical::readable(CREDIT_MEMOS, Some("updated_at"), canonical::CREDIT_MEMOS),
                canonical::writable(PRODUCTS, canonical::PRODUCTS),
                canonical::writable(INVENTORY_LEVELS, canonical::INVENTORY_LEVELS),
                canonical::writable(PRICE_LISTS, canonical::PRICE_LISTS),
                canonical::writable(CUSTOMER_ACCOUNTS, canonical::CUSTOMER_ACCOUNTS),
                canonical::writable(FULFILMENTS, canonical::FULFILMENTS),
                canonical::writable(ORDER_STATES, canonical::ORDER_STATES),
                canonical::writable(RETURNS, canonical::RETURNS),
            ],
            config: Settings::keys(),
            secrets: vec![SecretInfo::bearer(
                rest::TOKEN_SECRET,
                "The access token of a Magento integration (System > Integrations) allowed the resources the streams use, sent as a bearer token.",
            )],
            ..descriptor!(Kind::Commerce)
        }
    }

    fn check() -> Result<(), Error> {
        let api = Magento::connect()?;
        // Cheap and authenticated: a wrong token or store code shows here.
        let one = criteria::SearchCriteria::new().page_size(1).query();
        let _: serde_json::Value = api.get(Scope::Store, "/customerGroups/search", &one)?;
        let stores = api
            .request(http::Method::Get, Scope::Store, "/store/storeConfigs")
            .send()?;
        if stores.status() == 404 {
            log::warn(
                "Magento lists no store configurations; store view and currency not checked.",
            );
            return Ok(());
        }
        let stores: Vec<StoreConfig> = rest::send_checked(stores)?.json()?;
        store_fits(&stores, &api.settings).map_err(Error::permanent)
    }

    fn read(stream: String, cursor: Option<String>, limit: u32) -> Result<Page, Error> {
        let api = Magento::connect()?;
        match stream.as_str() {
            ORDERS => orders::read(&api, cursor.as_deref(), limit),
            CUSTOMERS => customers::read(&api, cursor.as_deref(), limit),
            CREDIT_MEMOS => credit_memos::read(&api, cursor.as_deref(), limit),
            _ => Err(Error::unknown_stream(&stream)),
        }
    }

    fn write(stream: String, batch: Vec<Delivery>) -> Result<Vec<Outcome>, Error> {
        let api = Magento::connect()?;
        match stream.as_str() {
            PRODUCTS => products::write(&api, &batch),
            INVENTORY_LEVELS => inventory::write(&api, &batch),
            PRICE_LISTS => prices::write(&api, &batch),
            CUSTOMER_ACCOUNTS => accounts::write(&api, &batch),
            FULFILMENTS => fulfilments::write(&api, &batch),
            ORDER_STATES => order_states::write(&api, &batch),
            RETURNS => returns::write(&api, &batch),
            _ => Err(Error::unknown_stream(&stream)),
        }
    }
}

impl Reconcile for MagentoStore {
    fn reconcile(stream: String, cursor: Option<String>, limit: u32) -> Result<Page, Error> {
        let api = Magento::connect()?;
        let cursor = cursor.as_deref();
        match stream.as_str() {
            PRODUCTS => products::reconcile(&api, cursor, limit),
            INVENTORY_LEVELS => inventory::reconcile(&api, cursor, limit),
            PRICE_LISTS => prices::reconcile(&api, cursor, limit),
            CUSTOMER_ACCOUNTS => accounts::reconcile(&api, cursor, limit),
            FULFILMENTS => fulfilments::reconcile(&api, cursor, limit),
            ORDER_STATES => order_states::reconcile(&api, cursor, limit),
            RETURNS => returns::reconcile(&api, cursor, limit),
            _ if READ.contains(&stream.as_str()) => Err(Error::permanent(format!(
                "stream `{stream}` is read-only: there is nothing written to reconcile"
            ))),
            _ => Err(Error::unknown_stream(&stream)),
        }
    }
}

/// A store view as `GET /V1/store/storeConfigs` lists it.
#[derive(Debug, Deserialize)]
struct StoreConfig {
    code: String,
    #[serde(default)]
    base_currency_code: String,
}

/// Whether the configured store view is among `stores` and has the
/// configured currency as its base currency; else what is wrong.
fn store_fits(stores: &[StoreConfig], settings: &Settings) -> Result<(), String> {
    let codes = || {
        stores
            .iter()
            .map(|s| format!("`{}`", s.code))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let store = stores
        .iter()
        .find(|s| s.code == settings.store_code)
        .ok_or_else(|| {
            format!(
                "Magento has no store view `{}` (config `store_code`); it has {}",
                settings.store_code,
                codes()
            )
        })?;
    if !store.base_currency_code.is_empty() && store.base_currency_code != settings.currency {
        return Err(format!(
            "the base currency of store view `{}` is {}, but config `currency` is {}: prices would be written in the wrong currency",
            store.code, store.base_currency_code, settings.currency
        ));
    }
    Ok(())
}

export_reconciling_connector!(MagentoStore);

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(store_code: &str, currency: &str) -> Settings {
        Settings {
            base_url: "http://127.0.0.1:8089".into(),
            store_code: store_code.into(),
            language: "en".into(),
            currency: currency.into(),
            website_id: 0,
            order_ref_prefix: "magento:".into(),
            bulk_threshold: 50,
            page_size: 100,
        }
    }

    #[test]
    fn check_names_a_store_view_or_currency_that_does_not_fit() {
        let stores: Vec<StoreConfig> = serde_json::from_value(serde_json::json!([
            {"id": 1, "code": "default", "website_id": 1, "base_currency_code": "EUR",
             "default_display_currency_code": "EUR", "locale": "en_US"}
        ]))
        .unwrap();
        assert_eq!(store_fits(&stores, &settings("default", "EUR")), Ok(()));
        let wrong_store = store_fits(&stores, &settings("de", "EUR")).unwrap_err();
        assert!(wrong_store.contains("no store view `de`") && wrong_store.contains("`default`"));
        let wrong_currency = store_fits(&stores, &settings("default", "USD")).unwrap_err();
        assert!(wrong_currency.contains("is EUR, but config `currency` is USD"));
    }

    #[test]
    fn the_descriptor_declares_every_key_and_the_bearer_secret() {
        let d = MagentoStore::describe();
        assert_eq!(d.name, "commerce-magento");
        let keys: Vec<(&str, bool)> = d
            .config
            .iter()
            .map(|k| (k.name.as_str(), k.required))
            .collect();
        assert_eq!(
            keys,
            [
                ("base_url", true),
                ("store_code", false),
                ("language", false),
                ("currency", false),
                ("website_id", false),
                ("order_ref_prefix", false),
                ("bulk_threshold", false),
                ("page_size", false),
            ]
        );
        assert!(d.config.iter().all(|k| !k.description.is_empty()));
        assert_eq!(d.secrets[0].name, "access_token");
        assert!(matches!(
            d.secrets[0].scheme,
            tenon_sdk::SecretScheme::Bearer
        ));
        let writable = d.streams.iter().filter(|s| s.writable).count();
        let readable = d.streams.iter().filter(|s| s.readable).count();
        assert_eq!((readable, writable), (3, 7));
    }
}
