//! `akeneo-catalog`: Akeneo's products (attribute values per locale and
//! channel, categories, images, associations) to canonical `products` (one
//! record per sellable variant, text per language, prices per currency,
//! category paths, media in gallery order, links).
//!
//! - **Takes** `products` records of `pim-akeneo` (the product as Akeneo's REST
//!   API gives it: `identifier`, `parent`, `enabled`, `values`, `categories`,
//!   `associations`, `quantified_associations`, and the connector's
//!   `category_paths`); records of other streams pass through.
//! - **Gives** one canonical `products` record per product, same key and source
//!   time: `sku` = `identifier`; `group` = the product model (`parent`) as a
//!   handle (lower case, dashes), or the identifier's for a product without a
//!   model, so that variants of one model become one storefront product;
//!   `name` and `description` per language from the localizable attributes;
//!   `prices` from the price collection, each amount normalised to its
//!   currency's decimals (`19.9` -> `"19.90"`); `enabled` as is;
//!   `categories`, `media` and `links` (see `categories.rs`, `media.rs`,
//!   `links.rs`).
//! - **Enrichment**: the connector reads only products complete enough (its
//!   `min_completeness`); this transform publishes what it is given.
//! - **Locales and channels**: a value counts when its `scope` is the configured
//!   channel or none (a scoped value wins over an unscoped one); its `locale` is
//!   mapped to the destination's language code by `locales`.
//! - **Refuses** (permanent, naming the record) a product with no name in any
//!   kept locale, a price with more decimals than its currency has, or a pack
//!   part whose quantity is not a whole number of at least 1.
//! - **Config**: `locales` (optional): `en_US=en, fr_FR=fr`, PIM locale to
//!   language code; locales not named are left out. Unset, every locale is kept
//!   as its language part (`en_US` -> `en`; when two share one, the first in
//!   alphabetical order wins). `scope` (default `ecommerce`): the PIM channel.
//!   `currencies` (optional): keep only these (`EUR, USD`), the currencies the
//!   storefront sells in. `name_attribute`, `description_attribute`,
//!   `price_attribute` (defaults `name`, `description`, `price`).
//!   `category_locale` (default `en_US`), `category_tree` (optional),
//!   `include_root` (default `false`); `media_attributes` (default `image,
//!   gallery_1, gallery_2, gallery_3`), `media_base_url` (optional);
//!   `association_kinds` (default `X_SELL=crosssell, UPSELL=upsell,
//!   SUBSTITUTION=related, PACK=bundle`).
//!
//! # Layout
//! - `categories.rs`: category codes to paths of names.
//! - `media.rs`: image values to media references.
//! - `links.rs`: associations to links.
//! - this file: the descriptor, the settings, text and prices, and the record.

mod categories;
mod links;
mod media;

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;
use tenon_sdk::canonical::Product;
use tenon_sdk::prelude::*;

/// The stream taken and given: the same name, PIM shape in, canonical out.
const PRODUCTS: &str = "products";

/// The image attributes of the gallery, in order, unless configured.
const DEFAULT_MEDIA_ATTRIBUTES: &str = "image, gallery_1, gallery_2, gallery_3";

/// Akeneo's standard association types to link kinds, unless configured.
const DEFAULT_ASSOCIATION_KINDS: &str =
    "X_SELL=crosssell, UPSELL=upsell, SUBSTITUTION=related, PACK=bundle";

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
    /// Category codes.
    #[serde(default)]
    categories: Vec<String>,
    /// Per category code, the categories from the root down (`pim-akeneo`).
    #[serde(default, deserialize_with = "map_or_empty_list")]
    category_paths: BTreeMap<String, Vec<categories::Step>>,
    #[serde(default, deserialize_with = "map_or_empty_list")]
    associations: BTreeMap<String, links::Association>,
    #[serde(default, deserialize_with = "map_or_empty_list")]
    quantified_associations: BTreeMap<String, links::Quantified>,
}

fn yes() -> bool {
    true
}

/// A PHP-made map: `{}`, `null` or, when empty, sometimes `[]`.
fn map_or_empty_list<'de, D, T>(deserializer: D) -> Result<BTreeMap<String, T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum MapOrList<T> {
        Map(BTreeMap<String, T>),
        List(Vec<Value>),
    }
    match Option::<MapOrList<T>>::deserialize(deserializer)? {
        Some(MapOrList::Map(map)) => Ok(map),
        Some(MapOrList::List(list)) if list.is_empty() => Ok(BTreeMap::new()),
        Some(MapOrList::List(_)) => Err(serde::de::Error::custom("expected a map")),
        None => Ok(BTreeMap::new()),
    }
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
    /// A media value's links: `{"download": {"href"}}`.
    #[serde(rename = "_links", default)]
    links: Value,
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
    categories: categories::Naming,
    /// Image attributes, the gallery's order.
    media: Vec<String>,
    media_base_url: Option<String>,
    /// Association type code to link kind.
    kinds: BTreeMap<String, String>,
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
            categories: categories::Naming {
                locale: or("category_locale", "en_US"),
                tree: config::get("category_tree").filter(|t| !t.trim().is_empty()),
                include_root: match or("include_root", "false").trim() {
                    "true" => true,
                    "false" => false,
                    other => {
                        return Err(Error::permanent(format!(
                            "config key `include_root`: `{other}` is neither `true` nor `false`"
                        )));
                    }
                },
            },
            media: config::list("media_attributes")
                .unwrap_or_else(|| config::parse_list(DEFAULT_MEDIA_ATTRIBUTES)),
            media_base_url: config::get("media_base_url").filter(|u| !u.trim().is_empty()),
            kinds: association_kinds(config::map("association_kinds")?)?,
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

/// The configured association kinds, or the defaults; a kind the canonical
/// stream does not have is refused.
fn association_kinds(
    configured: Option<BTreeMap<String, String>>,
) -> Result<BTreeMap<String, String>, Error> {
    let kinds = match configured {
        Some(kinds) => kinds,
        None => config::parse_map(DEFAULT_ASSOCIATION_KINDS).map_err(Error::permanent)?,
    };
    if let Some((code, kind)) = kinds
        .iter()
        .find(|(_, kind)| !links::KINDS.contains(&kind.as_str()))
    {
        return Err(Error::permanent(format!(
            "config key `association_kinds`: `{code}={kind}`: a kind is one of {}",
            links::KINDS.join(", ")
        )));
    }
    Ok(kinds)
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
                ConfigKey::optional(
                    "category_locale",
                    "The PIM locale of category names in paths; a category without a label in it is named by its code.",
                    Some("en_US"),
                ),
                ConfigKey::optional(
                    "category_tree",
                    "Keep only categories of this tree (the root's code, the channel's tree); unset keeps all.",
                    None,
                ),
                ConfigKey::optional(
                    "include_root",
                    "Whether paths start with the root (the tree itself): `true` or `false`.",
                    Some("false"),
                ),
                ConfigKey::optional(
                    "media_attributes",
                    "Image attributes in gallery order, the first the primary image.",
                    Some(DEFAULT_MEDIA_ATTRIBUTES),
                ),
                ConfigKey::optional(
                    "media_base_url",
                    "Where the storefront fetches media files by code (a CDN or public mirror); unset uses the PIM's download link.",
                    None,
                ),
                ConfigKey::optional(
                    "association_kinds",
                    "Association type to link kind (related, upsell, crosssell, bundle); types not named are left out.",
                    Some(DEFAULT_ASSOCIATION_KINDS),
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
        categories: categories::paths(
            &akeneo.categories,
            &akeneo.category_paths,
            &settings.categories,
        ),
        media: media::gallery(images(akeneo, settings), settings.media_base_url.as_deref()),
        links: links::links(
            &akeneo.identifier,
            &akeneo.associations,
            &akeneo.quantified_associations,
            &settings.kinds,
        )?,
    })
}

/// The image of each media attribute, in gallery order: its value in the
/// channel (or unscoped), one that is not localized first, else the first
/// kept locale's.
fn images<'a>(
    akeneo: &'a AkeneoProduct,
    settings: &'a Settings,
) -> impl Iterator<Item = media::Image<'a>> + 'a {
    settings.media.iter().filter_map(move |attribute| {
        let values = akeneo.values.get(attribute)?;
        let value = in_scope(values, settings)
            .filter(|value| {
                value
                    .data
                    .as_str()
                    .is_some_and(|code| !code.trim().is_empty())
            })
            .filter(|value| {
                value
                    .locale
                    .as_deref()
                    .is_none_or(|locale| settings.language(locale).is_some())
            })
            .min_by_key(|value| (value.scope.is_none(), value.locale.clone()))?;
        Some(media::Image {
            code: value.data.as_str()?,
            download: value
                .links
                .pointer("/download/href")
                .and_then(Value::as_str),
        })
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
            categories: categories::Naming {
                locale: "en_US".into(),
                tree: None,
                include_root: false,
            },
            media: config::parse_list(DEFAULT_MEDIA_ATTRIBUTES),
            media_base_url: None,
            kinds: association_kinds(None).unwrap(),
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

    /// A product as `pim-akeneo` delivers it: categories with their paths,
    /// images with download links, associations.
    fn enriched() -> AkeneoProduct {
        let download = |code: &str| json!({"download": {"href": format!("https://pim.example.com/api/rest/v1/media-files/{code}/download")}});
        serde_json::from_value(json!({
            "identifier": "SKU-0003",
            "parent": null,
            "categories": ["kitchen", "gifts"],
            "category_paths": {
                "kitchen": [
                    {"code": "master", "labels": {"en_US": "Master catalog"}},
                    {"code": "home", "labels": {"en_US": "Home", "fr_FR": "Maison"}},
                    {"code": "kitchen", "labels": {"en_US": "Kitchen", "fr_FR": "Cuisine"}}
                ]
            },
            "values": {
                "name": [{"locale": "en_US", "scope": null, "data": "Mug 1"}],
                "gallery_1": [{"locale": null, "scope": null, "data": "a/b/c/sku-0003_back.jpg",
                               "_links": download("a/b/c/sku-0003_back.jpg")}],
                "image": [
                    {"locale": "fr_FR", "scope": null, "data": "a/b/c/sku-0003_fr.jpg"},
                    {"locale": null, "scope": "print", "data": "a/b/c/sku-0003_print.jpg"},
                    {"locale": null, "scope": null, "data": "a/b/c/sku-0003_front.jpg",
                     "_links": download("a/b/c/sku-0003_front.jpg")}
                ],
                "gallery_3": [{"locale": "de_DE", "scope": null, "data": "a/b/c/de.jpg"}]
            },
            "associations": {
                "X_SELL": {"products": [], "product_models": ["tshirt-1"], "groups": []},
                "UPSELL": {"products": ["SKU-0006"], "product_models": [], "groups": []}
            },
            "quantified_associations": {
                "PACK": {"products": [{"identifier": "SKU-0001", "quantity": 2},
                                      {"identifier": "SKU-0002", "quantity": 1}],
                         "product_models": []}
            },
            "updated": "2026-11-01T09:03:00+00:00"
        }))
        .unwrap()
    }

    #[test]
    fn categories_media_and_associations_become_paths_a_gallery_and_links() {
        let settings = settings(Some("en_US=en, fr_FR=fr"), None);
        let product = map_product(&enriched(), &settings).unwrap();
        assert_eq!(product.categories, ["Home/Kitchen"], "`gifts` has no path");
        let urls: Vec<&str> = product.media.iter().map(|m| m.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://pim.example.com/api/rest/v1/media-files/a/b/c/sku-0003_front.jpg/download",
                "https://pim.example.com/api/rest/v1/media-files/a/b/c/sku-0003_back.jpg/download",
            ],
            "the unlocalized e-commerce image is the primary; German is not kept"
        );
        let links: Vec<(&str, &str, Option<i64>)> = product
            .links
            .iter()
            .map(|l| (l.kind.as_str(), l.sku.as_str(), l.quantity))
            .collect();
        assert_eq!(
            links,
            [
                ("bundle", "SKU-0001", Some(2)),
                ("bundle", "SKU-0002", Some(1)),
                ("upsell", "SKU-0006", None),
            ]
        );

        let french = Settings {
            categories: categories::Naming {
                locale: "fr_FR".into(),
                tree: Some("master".into()),
                include_root: true,
            },
            media_base_url: Some("https://cdn.example.com/pim".into()),
            media: vec!["gallery_1".into(), "image".into()],
            ..settings
        };
        let product = map_product(&enriched(), &french).unwrap();
        assert_eq!(product.categories, ["master/Maison/Cuisine"]);
        assert_eq!(
            product.media[0].url, "https://cdn.example.com/pim/a/b/c/sku-0003_back.jpg",
            "the configured order, from the media base URL"
        );
        let json = serde_json::to_value(&product).unwrap();
        assert_eq!(
            json["links"][0],
            json!({"kind": "bundle", "sku": "SKU-0001", "quantity": 2})
        );
    }

    #[test]
    fn a_product_without_categories_media_or_associations_keeps_the_old_shape() {
        let product = map_product(&tee(), &settings(None, None)).unwrap();
        assert!(product.categories.is_empty() && product.links.is_empty());
        assert_eq!(
            product
                .media
                .iter()
                .map(|m| m.url.as_str())
                .collect::<Vec<_>>(),
            ["a/b/tee.jpg"],
            "no link and no base URL: the code"
        );
        let mut plain = tee();
        plain.values.remove("image");
        let json =
            serde_json::to_value(map_product(&plain, &settings(None, None)).unwrap()).unwrap();
        for key in ["categories", "media", "links"] {
            assert!(json.get(key).is_none(), "{key} left out when empty");
        }
        let php: AkeneoProduct = serde_json::from_value(json!({
            "identifier": "X", "associations": [], "quantified_associations": [],
            "category_paths": [], "values": {"name": [{"locale": "en_US", "data": "X"}]}
        }))
        .unwrap();
        assert!(php.associations.is_empty() && php.category_paths.is_empty());
    }

    #[test]
    fn association_kinds_are_checked() {
        assert_eq!(association_kinds(None).unwrap()["PACK"], "bundle");
        let error = association_kinds(Some(BTreeMap::from([(
            "X_SELL".to_owned(),
            "cross-sell".to_owned(),
        )])))
        .unwrap_err();
        assert!(error.message().contains("`X_SELL=cross-sell`"), "{error:?}");
    }

    #[test]
    fn handles_are_lowercase_and_dashed() {
        assert_eq!(handle("Tee_Classic 2026"), "tee-classic-2026");
        assert_eq!(handle("--A--b--"), "a-b");
        assert_eq!(handle("ÄÖ"), "");
    }
}
