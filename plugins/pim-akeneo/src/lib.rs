//! `pim-akeneo`: reads the products and the category tree of a PIM that
//! follows Akeneo's REST API.
//!
//! - **Reads** stream `products` from `GET /api/rest/v1/products`: one record
//!   per product, key = `identifier`, op = upsert, payload = the product as the
//!   PIM returns it (`identifier`, `family`, `categories` (codes), `enabled`,
//!   `parent` (the product model of a variant product, `null` for a simple
//!   one), `values` with every locale and scope: `{"name": [{"locale":
//!   "en_US", "scope": null, "data": "..."}, ...]}`, price collections as
//!   `{"data": [{"amount": "19.90", "currency": "EUR"}, ...]}`, image values
//!   (the media file's code) with their `_links.download.href`,
//!   `associations`, `quantified_associations`, `completenesses`, `created`,
//!   `updated`) plus `category_paths`: for each of its category codes the
//!   tree is known for, the categories from the root down to it, each `{"code",
//!   "labels"}`. Source time = `updated`, or the `updated` of a category on
//!   those paths when later (a rename is a change of the record).
//! - **Reads** stream `categories` from `GET /api/rest/v1/categories`: one
//!   record per category (`code`, `parent`, `labels`, `updated`), key =
//!   `code`, changed since the cursor.
//! - **Enrichment filter**: only products complete enough are read at all:
//!   `completeness` in the search, at least `min_completeness` (default 100)
//!   in the channel `completeness_scope` (default `ecommerce`), on at least one
//!   of the channel's locales, or on every one of `completeness_locales` when
//!   set. `min_completeness=0` reads every product. A product that falls below
//!   is not read again, so the destination keeps its last complete version;
//!   once complete again (an edit moves its `updated`), it is read.
//! - **Writes** nothing.
//! - **Secrets**: `api_token`, sent as `Authorization: Bearer <token>`. The
//!   tenant stores Akeneo's password grant in it (`{"oauth2": {...}}`) and the
//!   host obtains and renews the access token; the plugin never sees the
//!   password or the token (a plain token works too).
//! - **Egress**: none declared: the operator grants the host of `base_url`.
//! - **Cursors**: see [`products`] and [`categories`]; Akeneo's search by
//!   `updated` is strict (`>`) and in whole seconds, so the connector asks for
//!   everything after the second *before* its watermark and skips what it
//!   already delivered.
//! - **Failures** fail the whole read, so a cursor never passes a record that
//!   was not delivered: `429` is `rate-limited` after the PIM's `Retry-After`,
//!   408 and 5xx and transport failures (timeouts) are `retryable`, other
//!   statuses `permanent` (the SDK's mapping). A page whose body is cut short is
//!   `retryable` (reading it again is harmless); a body that is not JSON at
//!   all, or JSON that is not a page, is `permanent`: `base_url` is probably
//!   not an Akeneo API.
//!
//! # Layout
//! - `listing.rs`: Akeneo's paged lists: decoding a page, following
//!   `_links.next` under `base_url`, the records after a watermark.
//! - `categories.rs`: the category tree (paths from the root) and the
//!   `categories` stream.
//! - `products.rs`: the `products` stream: the enrichment filter, category
//!   paths, and re-reading the products of renamed or moved categories.
//! - this file: the descriptor, the settings and the dispatch.

mod categories;
mod listing;
mod products;

use tenon_sdk::config::Config;
use tenon_sdk::prelude::*;

/// The product stream.
const PRODUCTS: &str = "products";

/// The category stream.
const CATEGORIES: &str = "categories";

/// The connector's configuration.
#[derive(Debug, Config)]
struct Settings {
    /// Address of the PIM, like https://pim.example.com; grant its host too.
    base_url: String,
    /// The channel whose completeness decides which products are read.
    #[config(default = "ecommerce")]
    completeness_scope: String,
    /// Read only products at least this complete (percent) in the channel;
    /// 0 reads every product.
    #[config(default = "100")]
    min_completeness: u32,
    /// Require the completeness on every one of these locales (`en_US, fr_FR`);
    /// unset, on at least one locale of the channel.
    completeness_locales: Vec<String>,
}

impl Settings {
    /// The PIM of this tenant, with its bearer `api_token`.
    fn client(&self) -> Client {
        Client::new(self.base_url.trim_end_matches('/')).credential("api_token")
    }

    /// The `completeness` condition of the product search, if the filter is on.
    fn completeness_condition(&self) -> Result<Option<serde_json::Value>, Error> {
        if self.min_completeness > 100 {
            return Err(Error::permanent(format!(
                "min_completeness is a percentage from 0 to 100, not {}",
                self.min_completeness
            )));
        }
        if self.min_completeness == 0 {
            return Ok(None);
        }
        let (value, scope) = (self.min_completeness, &self.completeness_scope);
        Ok(Some(if self.completeness_locales.is_empty() {
            serde_json::json!({"operator": ">=", "value": value, "scope": scope})
        } else {
            serde_json::json!({"operator": "GREATER OR EQUALS THAN ON ALL LOCALES",
                "value": value, "scope": scope, "locales": self.completeness_locales})
        }))
    }
}

struct Akeneo;

impl Connector for Akeneo {
    fn describe() -> Descriptor {
        Descriptor {
            name: "pim-akeneo".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: Kind::Pim,
            description:
                "Products with localized values, categories, media and associations from an Akeneo-style PIM."
                    .to_owned(),
            streams: vec![
                StreamInfo::readable(PRODUCTS, Some("updated"), products::SCHEMA),
                StreamInfo::readable(CATEGORIES, Some("updated"), categories::SCHEMA),
            ],
            egress: Vec::new(),
            config: Settings::keys(),
            secrets: vec![SecretInfo::bearer(
                "api_token",
                "An API token, or an OAuth 2 grant the host runs (see the README), sent as a bearer token.",
            )],
        }
    }

    fn check() -> Result<(), Error> {
        Settings::load()?
            .client()
            .get(products::LIST)
            .query("limit", "1")
            .send()?
            .error_for_status()?;
        Ok(())
    }

    fn read(stream: String, cursor: Option<String>, limit: u32) -> Result<Page, Error> {
        let settings = Settings::load()?;
        match stream.as_str() {
            PRODUCTS => products::read(&settings, cursor.as_deref(), limit),
            CATEGORIES => categories::read(&settings.client(), cursor.as_deref(), limit),
            _ => Err(Error::unknown_stream(&stream)),
        }
    }

    fn write(stream: String, _batch: Vec<Delivery>) -> Result<Vec<Outcome>, Error> {
        if stream != PRODUCTS && stream != CATEGORIES {
            return Err(Error::unknown_stream(&stream));
        }
        Err(Error::permanent(format!("stream `{stream}` is read-only")))
    }
}

export_connector!(Akeneo);

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(min: u32, locales: &[&str]) -> Settings {
        Settings {
            base_url: "http://127.0.0.1:9000/".into(),
            completeness_scope: "ecommerce".into(),
            min_completeness: min,
            completeness_locales: locales.iter().map(|&l| l.to_owned()).collect(),
        }
    }

    #[test]
    fn the_enrichment_filter_asks_akeneo_for_complete_products() {
        assert_eq!(
            settings(100, &[]).completeness_condition().unwrap(),
            Some(serde_json::json!({"operator": ">=", "value": 100, "scope": "ecommerce"}))
        );
        assert_eq!(
            settings(90, &["en_US", "fr_FR"])
                .completeness_condition()
                .unwrap(),
            Some(
                serde_json::json!({"operator": "GREATER OR EQUALS THAN ON ALL LOCALES",
                "value": 90, "scope": "ecommerce", "locales": ["en_US", "fr_FR"]})
            )
        );
        assert_eq!(
            settings(0, &["en_US"]).completeness_condition().unwrap(),
            None
        );
        let error = settings(101, &[]).completeness_condition().unwrap_err();
        assert!(error.message().contains("0 to 100"), "{error:?}");
    }

    #[test]
    fn the_descriptor_declares_both_streams_and_the_filter_keys() {
        let descriptor = Akeneo::describe();
        let streams: Vec<&str> = descriptor.streams.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(streams, [PRODUCTS, CATEGORIES]);
        let keys: Vec<(&str, bool, Option<&str>)> = descriptor
            .config
            .iter()
            .map(|k| (k.name.as_str(), k.required, k.default.as_deref()))
            .collect();
        assert_eq!(
            keys,
            [
                ("base_url", true, None),
                ("completeness_scope", false, Some("ecommerce")),
                ("min_completeness", false, Some("100")),
                ("completeness_locales", false, None),
            ]
        );
        for stream in &descriptor.streams {
            serde_json::from_str::<serde_json::Value>(&stream.schema).unwrap();
        }
    }
}
