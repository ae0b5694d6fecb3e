//! `akeneo-catalog`: Akeneo's products (attribute values per locale and
//! channel) to canonical `products` (one record per sellable variant, text per
//! language, prices per currency).
//!
//! - **Takes** `products` records of `pim-akeneo` (the product as Akeneo's REST
//!   API gives it: `identifier`, `parent`, `enabled`, `values`); records of
//!   other streams pass through.
//! - **Gives** one canonical `products` record per product, same key and source
//!   time: `sku` = `identifier`; `group` = the product model (`parent`) as a
//!   handle (lower case, dashes), or the identifier's for a product without a
//!   model, so that variants of one model become one storefront product;
//!   `name` and `description` per language from the localizable attributes;
//!   `prices` from the price collection, each amount normalised to its
//!   currency's decimals (`19.9` -> `"19.90"`); `enabled` as is.
//! - **Locales and channels**: a value counts when its `scope` is the configured
//!   channel or none (a scoped value wins over an unscoped one); its `locale` is
//!   mapped to the destination's language code by `locales`.
//! - **Refuses** (permanent, naming the record) a product with no name in any
//!   kept locale, or a price with more decimals than its currency has.
//! - **Config**: `locales` (optional): `en_US=en, fr_FR=fr`, PIM locale to
//!   language code; locales not named are left out. Unset, every locale is kept
//!   as its language part (`en_US` -> `en`; when two share one, the first in
//!   alphabetical order wins). `scope` (default `ecommerce`): the PIM channel.
//!   `currencies` (optional): keep only these (`EUR, USD`), the currencies the
//!   storefront sells in. `name_attribute`, `description_attribute`,
//!   `price_attribute` (defaults `name`, `description`, `price`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use tenon_sdk::canonical::Product;
use tenon_sdk::prelude::*;

/// The stream taken and given: the same name, PIM shape in, canonical out.
const PRODUCTS: &str = "products";

/// An Akeneo product: the fields this transform reads.
#[derive(Debug, Deserialize)]
struct AkeneoProduct {
    identifier: String,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    values: BTreeMap<String, Vec<AkeneoValue>>,
}

fn yes() -> bool {
    true
}

/// One value of an attribute.
#[derive(Debug, Deserialize)]
struct AkeneoValue {
    #[serde(default)]
    locale: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    data: Value,
}

/// The transform's settings for one batch.
#[derive(Debug)]
struct Settings {
    /// PIM locale -> language; `None`: every locale, as its language part.
    locales: Option<BTreeMap<String, String>>,
    scope: String,
    currencies: Option<Vec<String>>,
    name: String,
    description: String,
    price: String,
}

impl Settings {
    fn from_config() -> Result<Self, Error> {
        let or = |key: &str, default: &str| config::get(key).unwrap_or_else(|| default.to_owned());
        Ok(Self {
            locales: config::map("locales")?,
            scope: or("scope", "ecommerce"),
            currencies: config::list("currencies")
                .map(|list| list.iter().map(|c| c.to_ascii_uppercase()).collect()),
            name: or("name_attribute", "name"),
            description: or("description_attribute", "description"),
            price: or("price_attribute", "price"),
        })
    }

    /// The language a PIM locale becomes, if it is kept.
    fn language(&self, locale: &str) -> Option<String> {
        match &self.locales {
            Some(map) => map.get(locale).cloned(),
            None => Some(
                locale
                    .split(['_', '-'])
                    .next()
                    .unwrap_or(locale)
                    .to_ascii_lowercase(),
            ),
        }
    }
}

struct AkeneoCatalog;

impl Transform for AkeneoCatalog {
    fn describe() -> Descriptor {
        Descriptor {
            name: "akeneo-catalog".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: Kind::Transform,
            description:
                "Akeneo products with localized, scoped values to canonical products and variants."
                    .to_owned(),
            // One name in and out: PIM products are taken, canonical ones given.
            streams: vec![StreamInfo {
                writable: true,
                ..canonical::readable(PRODUCTS, None, canonical::PRODUCTS)
            }],
            egress: Vec::new(),
            config: vec![
                ConfigKey::optional(
                    "locales",
                    "PIM locale to language code, `en_US=en, fr_FR=fr`; unset keeps every locale as its language.",
                    None,
                ),
                ConfigKey::optional(
                    "scope",
                    "The PIM channel to take values of.",
                    Some("ecommerce"),
                ),
                ConfigKey::optional(
                    "currencies",
                    "Keep only prices in these currencies, `EUR, USD`; unset keeps all.",
                    None,
                ),
                ConfigKey::optional("name_attribute", "Attribute of the name.", Some("name")),
                ConfigKey::optional(
                    "description_attribute",
                    "Attribute of the description.",
                    Some("description"),
                ),
                ConfigKey::optional(
                    "price_attribute",
                    "Price collection attribute.",
                    Some("price"),
                ),
            ],
            secrets: Vec::new(),
        }
    }

    fn transform(batch: Vec<Envelope>) -> Result<Vec<Envelope>, Error> {
        let settings = Settings::from_config()?;
        batch
            .into_iter()
            .map(|envelope| {
                if envelope.stream != PRODUCTS {
                    return Ok(envelope);
                }
                product(&envelope, &settings)
                    .map_err(|e| e.context(format!("record `{}`", envelope.key)))
            })
            .collect()
    }
}

/// The canonical record of one PIM record.
fn product(envelope: &Envelope, settings: &Settings) -> Result<Envelope, Error> {
    let time = envelope.source_time.as_deref();
    if envelope.op == Op::Delete {
        return Ok(Envelope::delete(canonical::PRODUCTS, &envelope.key, time));
    }
    let akeneo: AkeneoProduct = envelope.json()?;
    let product = map_product(&akeneo, settings).map_err(Error::permanent)?;
    Envelope::upsert(canonical::PRODUCTS, &envelope.key, &product, time)
}

fn map_product(akeneo: &AkeneoProduct, settings: &Settings) -> Result<Product, String> {
    let name = localized(akeneo, &settings.name, settings);
    if name.is_empty() {
        return Err(format!(
            "product `{}` has no `{}` in any kept locale",
            akeneo.identifier, settings.name
        ));
    }
    let group = handle(akeneo.parent.as_deref().unwrap_or(&akeneo.identifier));
    if group.is_empty() {
        return Err(format!(
            "product `{}`: its model code gives an empty handle",
            akeneo.identifier
        ));
    }
    Ok(Product {
        sku: akeneo.identifier.clone(),
        group,
        name,
        description: localized(akeneo, &settings.description, settings),
        prices: prices(akeneo, settings)?,
        enabled: akeneo.enabled,
    })
}

/// The values in the configured channel, then the unscoped ones.
fn in_scope<'a>(
    values: &'a [AkeneoValue],
    settings: &Settings,
) -> impl Iterator<Item = &'a AkeneoValue> {
    let scoped = values
        .iter()
        .filter(|v| v.scope.as_deref() == Some(settings.scope.as_str()));
    let unscoped = values.iter().filter(|v| v.scope.is_none());
    scoped.chain(unscoped)
}

/// Non-empty text per language of a localizable text attribute.
fn localized(
    akeneo: &AkeneoProduct,
    attribute: &str,
    settings: &Settings,
) -> BTreeMap<String, String> {
    // Per language: the text with the best rank, (unscoped, locale): a scoped
    // value wins, then the first locale in alphabetical order.
    let mut by_language: BTreeMap<String, ((bool, String), String)> = BTreeMap::new();
    let Some(values) = akeneo.values.get(attribute) else {
        return BTreeMap::new();
    };
    for value in in_scope(values, settings) {
        let (Some(locale), Some(text)) = (value.locale.as_deref(), value.data.as_str()) else {
            continue;
        };
        let text = text.trim();
        let Some(language) = settings.language(locale) else {
            continue;
        };
        if text.is_empty() {
            continue;
        }
        let rank = (value.scope.is_none(), locale.to_owned());
        if by_language
            .get(&language)
            .is_none_or(|(best, _)| rank < *best)
        {
            by_language.insert(language, (rank, text.to_owned()));
        }
    }
    by_language
        .into_iter()
        .map(|(language, (_, text))| (language, text))
        .collect()
}

/// Amount per currency of the price collection, normalised to each currency's
/// decimals, filtered to the configured currencies.
fn prices(akeneo: &AkeneoProduct, settings: &Settings) -> Result<BTreeMap<String, String>, String> {
    let mut prices = BTreeMap::new();
    let Some(values) = akeneo.values.get(&settings.price) else {
        return Ok(prices);
    };
    let Some(value) = in_scope(values, settings).next() else {
        return Ok(prices);
    };
    for price in value.data.as_array().into_iter().flatten() {
        let Some(currency) = price["currency"].as_str() else {
            continue;
        };
        let currency = currency.to_ascii_uppercase();
        if settings
            .currencies
            .as_ref()
            .is_some_and(|keep| !keep.contains(&currency))
        {
            continue;
        }
        let amount = match &price["amount"] {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            _ => continue,
        };
        let minor = money::minor_units(amount.trim(), &currency)
            .map_err(|e| format!("price of `{}`: {e}", akeneo.identifier))?;
        prices.insert(currency.clone(), money::decimal(minor, &currency));
    }
    Ok(prices)
}

/// `Tee Classic_2026` -> `tee-classic-2026`: lower-case letters and digits,
/// other runs as one dash, none at the ends.
fn handle(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    for c in code.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

export_transform!(AkeneoCatalog);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(locales: Option<&str>, currencies: Option<&str>) -> Settings {
        Settings {
            locales: locales.map(|text| config::parse_map(text).unwrap()),
            scope: "ecommerce".into(),
            currencies: currencies.map(|c| config::parse_list(&c.to_ascii_uppercase())),
            name: "name".into(),
            description: "description".into(),
            price: "price".into(),
        }
    }

    fn tee() -> AkeneoProduct {
        serde_json::from_value(json!({
            "identifier": "TEE-BLK-M",
            "family": "clothing",
            "parent": "Tee_Classic",
            "enabled": true,
            "values": {
                "name": [
                    {"locale": "en_US", "scope": null, "data": "Classic tee, black, M"},
                    {"locale": "fr_FR", "scope": null, "data": "T-shirt classique, noir, M"},
                    {"locale": "en_GB", "scope": null, "data": "Classic T-shirt"},
                    {"locale": "de_DE", "scope": null, "data": "  "}
                ],
                "description": [
                    {"locale": "en_US", "scope": "print", "data": "Print text"},
                    {"locale": "en_US", "scope": "ecommerce", "data": "Soft cotton."},
                    {"locale": "fr_FR", "scope": null, "data": "Coton doux."}
                ],
                "price": [{"locale": null, "scope": null, "data": [
                    {"amount": "19.9", "currency": "EUR"},
                    {"amount": "21.00", "currency": "USD"},
                    {"amount": "2500", "currency": "JPY"}
                ]}],
                "image": [{"locale": null, "scope": null, "data": "a/b/tee.jpg"}]
            },
            "updated": "2026-11-23T10:00:00+00:00"
        }))
        .unwrap()
    }

    #[test]
    fn a_variant_product_becomes_a_canonical_product_of_its_model() {
        let product = map_product(&tee(), &settings(None, None)).unwrap();
        assert_eq!(product.sku, "TEE-BLK-M");
        assert_eq!(product.group, "tee-classic");
        // en_GB sorts before en_US: it wins `en`; blank German is left out.
        assert_eq!(
            product.name,
            BTreeMap::from([
                ("en".to_owned(), "Classic T-shirt".to_owned()),
                ("fr".to_owned(), "T-shirt classique, noir, M".to_owned()),
            ])
        );
        // The e-commerce channel's text, not the print channel's.
        assert_eq!(product.description["en"], "Soft cotton.");
        assert_eq!(product.description["fr"], "Coton doux.");
        assert_eq!(product.prices["EUR"], "19.90");
        assert_eq!(product.prices["USD"], "21.00");
        assert_eq!(product.prices["JPY"], "2500");
        assert!(product.enabled);
    }

    #[test]
    fn locales_and_currencies_follow_the_config() {
        let product = map_product(
            &tee(),
            &settings(Some("en_US=en_US, fr_FR=fr"), Some("eur")),
        )
        .unwrap();
        assert_eq!(
            product.name.keys().collect::<Vec<_>>(),
            ["en_US", "fr"],
            "only the mapped locales, under their mapped codes"
        );
        assert_eq!(product.name["en_US"], "Classic tee, black, M");
        assert_eq!(product.prices.keys().collect::<Vec<_>>(), ["EUR"]);
    }

    #[test]
    fn a_product_without_model_is_its_own_group() {
        let mut mug = tee();
        mug.identifier = "MUG 01".into();
        mug.parent = None;
        assert_eq!(
            map_product(&mug, &settings(None, None)).unwrap().group,
            "mug-01"
        );
    }

    #[test]
    fn no_name_or_a_bad_price_is_refused() {
        let error = map_product(&tee(), &settings(Some("de_DE=de"), None)).unwrap_err();
        assert!(error.contains("no `name` in any kept locale"), "{error}");
        let mut bad = tee();
        bad.values.get_mut("price").unwrap()[0].data =
            json!([{"amount": "19.999", "currency": "EUR"}]);
        let error = map_product(&bad, &settings(None, None)).unwrap_err();
        assert!(error.contains("at most 2 decimals"), "{error}");
    }

    #[test]
    fn handles_are_lowercase_and_dashed() {
        assert_eq!(handle("Tee_Classic 2026"), "tee-classic-2026");
        assert_eq!(handle("--A--b--"), "a-b");
        assert_eq!(handle("ÄÖ"), "");
    }
}
