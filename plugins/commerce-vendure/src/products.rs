//! The `products` stream: canonical [`Product`]s (one record per variant)
//! written into Vendure's catalogue, and listed for `reconcile`.
//!
//! A record's `group` is a Vendure product's slug and its `sku` a variant's.
//! Writing one:
//! 1. checks it against the channel (read once per batch): every language code
//!    of `name` and `description` must be one of the channel's languages, every
//!    currency of `prices` one of its currencies, the channel's default currency
//!    must be priced (Vendure gives every variant a price in it), and the
//!    channel's prices must include tax (canonical prices do). Anything else is
//!    a permanent error naming the language, currency or setting;
//! 2. finds the product by slug, or creates it: a translation per language of
//!    the record (name = the record's name in that language, or its first one;
//!    slug = `group`; description), and an option group `<group>-sku` (name
//!    `SKU`), since Vendure tells a product's variants apart by their options;
//! 3. keeps the product's descriptions equal to the record's `description`
//!    (languages the record has none for get an empty one); the product's names
//!    are set when a translation is created and left alone after, as the
//!    record's `name` is the variant's;
//! 4. finds the variant by SKU, or creates it with an option of that group
//!    (code = the SKU in lower case, name = the SKU), its translations,
//!    `enabled` and its prices; an existing one is updated only where it differs
//!    (translations, `enabled`, a price per currency; prices in currencies the
//!    record no longer has are deleted).
//!
//! So a record written twice changes nothing the second time. The outcome id is
//! the variant id. Amounts go through [`money`](crate::money) (Vendure keeps
//! hundredths). A variant that belongs to another product than `group` is a
//! permanent error (Vendure cannot move variants). Deletes are a permanent
//! error: send `enabled: false`.
//!
//! `reconcile` lists every variant, keyed by variant id, payload the canonical
//! product: `sku`, `group` = the product's slug, `name` = the variant's
//! translations, `description` = the product's non-empty descriptions, `prices`
//! = the variant's prices in the channel as decimals, `enabled`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::{Value, json};
use tenon_sdk::canonical::Product;
use tenon_sdk::prelude::*;

use crate::channel::{self, Channel};
use crate::{PRODUCTS, graphql, listing, money};

/// The fields of a variant that write and `reconcile` compare.
const VARIANT_FIELDS: &str = "id sku enabled translations { languageCode name } prices { currencyCode price } product { id slug translations { languageCode description } }";

/// The fields of a product that write needs.
const PRODUCT_FIELDS: &str = "id slug translations { languageCode name slug description } optionGroups { id code options { id code } }";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Variant {
    id: String,
    sku: String,
    enabled: bool,
    translations: Vec<VariantTranslation>,
    prices: Vec<Price>,
    product: VariantProduct,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VariantTranslation {
    language_code: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Price {
    currency_code: String,
    price: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VariantProduct {
    id: String,
    slug: String,
    translations: Vec<Description>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Description {
    language_code: String,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VendureProduct {
    id: String,
    translations: Vec<ProductTranslation>,
    option_groups: Vec<OptionGroup>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProductTranslation {
    language_code: String,
    name: String,
    slug: String,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
struct OptionGroup {
    id: String,
    code: String,
    options: Vec<ProductOption>,
}

#[derive(Deserialize)]
struct ProductOption {
    id: String,
    code: String,
}

/// A checked record: what Vendure should hold for one variant.
struct Wanted {
    sku: String,
    group: String,
    name: BTreeMap<String, String>,
    description: BTreeMap<String, String>,
    /// Hundredths per currency.
    prices: BTreeMap<String, i64>,
    enabled: bool,
}

/// Writes each record; the outcome is the variant id.
pub fn write(batch: &[Delivery]) -> Result<Vec<Outcome>, Error> {
    let channel = channel::active()?;
    Ok(record::apply_each(batch, |delivery| {
        if delivery.envelope.op == Op::Delete {
            return Err(Error::permanent(
                "products cannot be deleted through Tenon; send `enabled: false`",
            ));
        }
        let wanted = check(delivery.envelope.json()?, &channel)?;
        save(&wanted, &channel).map(Some)
    }))
}

/// What the record asks of Vendure, if the channel can hold it.
fn check(product: Product, channel: &Channel) -> Result<Wanted, Error> {
    let sku = &product.sku;
    if sku.is_empty() {
        return Err(Error::permanent("the sku is empty"));
    }
    if product.group.is_empty() {
        return Err(Error::permanent(format!("sku `{sku}`: the group is empty")));
    }
    if product.name.is_empty() {
        return Err(Error::permanent(format!("sku `{sku}` has no name")));
    }
    for language in product.name.keys().chain(product.description.keys()) {
        if !channel.available_language_codes.contains(language) {
            return Err(Error::permanent(format!(
                "sku `{sku}`: language `{language}` is not one of the Vendure channel's languages ({})",
                channel.available_language_codes.join(", ")
            )));
        }
    }
    if !channel.prices_include_tax {
        return Err(Error::permanent(
            "the Vendure channel's prices exclude tax (`pricesIncludeTax` is false) but canonical prices include it; set the channel's prices to include tax",
        ));
    }
    let mut prices = BTreeMap::new();
    for (currency, amount) in &product.prices {
        if !channel.available_currency_codes.contains(currency) {
            return Err(Error::permanent(format!(
                "sku `{sku}`: currency `{currency}` is not offered by the Vendure channel ({})",
                channel.available_currency_codes.join(", ")
            )));
        }
        let hundredths = money::hundredths(amount, currency)
            .map_err(|e| Error::permanent(format!("sku `{sku}`: price {e}")))?;
        prices.insert(currency.clone(), hundredths);
    }
    if !prices.contains_key(&channel.default_currency_code) {
        return Err(Error::permanent(format!(
            "sku `{sku}` has no price in `{}`, the Vendure channel's default currency, which every variant has",
            channel.default_currency_code
        )));
    }
    Ok(Wanted {
        sku: product.sku,
        group: product.group,
        name: product.name,
        description: product.description,
        prices,
        enabled: product.enabled,
    })
}

/// Creates or updates the product and the variant; returns the variant id.
fn save(wanted: &Wanted, channel: &Channel) -> Result<String, Error> {
    let variant = variant_by_sku(&wanted.sku)?;
    let product = match product_by_slug(&wanted.group)? {
        Some(product) => {
            update_product(&product, wanted)?;
            product
        }
        None if variant.is_some() => {
            return Err(Error::permanent(format!(
                "sku `{}` belongs to the Vendure product `{}`, not to `{}`; Vendure cannot move variants",
                wanted.sku,
                variant.map(|v| v.product.slug).unwrap_or_default(),
                wanted.group
            )));
        }
        None => create_product(wanted, channel)?,
    };
    match variant {
        Some(v) if v.product.id != product.id => Err(Error::permanent(format!(
            "sku `{}` belongs to the Vendure product `{}`, not to `{}`; Vendure cannot move variants",
            wanted.sku, v.product.slug, wanted.group
        ))),
        Some(v) => {
            update_variant(&v, wanted)?;
            Ok(v.id)
        }
        None => create_variant(&product, wanted, channel),
    }
}

fn variant_by_sku(sku: &str) -> Result<Option<Variant>, Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Data {
        product_variants: Items,
    }
    #[derive(Deserialize)]
    struct Items {
        items: Vec<Variant>,
    }
    let data: Data = graphql::query(
        &format!(
            "query Variant($options: ProductVariantListOptions) {{ productVariants(options: $options) {{ items {{ {VARIANT_FIELDS} }} }} }}"
        ),
        json!({"options": {"filter": {"sku": {"eq": sku}}, "sort": {"id": "ASC"}, "take": 2}}),
    )?;
    // `eq` on strings may be case-insensitive in some databases: keep exact matches.
    Ok(data
        .product_variants
        .items
        .into_iter()
        .find(|v| v.sku == sku))
}

fn product_by_slug(slug: &str) -> Result<Option<VendureProduct>, Error> {
    #[derive(Deserialize)]
    struct Data {
        product: Option<VendureProduct>,
    }
    let data: Data = graphql::query(
        &format!("query Product($slug: String!) {{ product(slug: $slug) {{ {PRODUCT_FIELDS} }} }}"),
        json!({ "slug": slug }),
    )?;
    Ok(data.product)
}

/// Every language the record has text in, names first.
fn languages(wanted: &Wanted) -> BTreeSet<&str> {
    wanted
        .name
        .keys()
        .chain(wanted.description.keys())
        .map(String::as_str)
        .collect()
}

/// The record's name in `language`, or its first one.
fn name_in<'a>(wanted: &'a Wanted, language: &str) -> &'a str {
    wanted
        .name
        .get(language)
        .or_else(|| wanted.name.values().next())
        .map_or("", String::as_str)
}

fn description_in<'a>(wanted: &'a Wanted, language: &str) -> &'a str {
    wanted.description.get(language).map_or("", String::as_str)
}

/// The code of the option group the connector tells `group`'s variants apart by.
fn option_group_code(group: &str) -> String {
    format!("{group}-sku")
}

/// The code of `sku`'s option: lower case letters, digits and dashes.
fn option_code(sku: &str) -> String {
    sku.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

fn create_product(wanted: &Wanted, channel: &Channel) -> Result<VendureProduct, Error> {
    let translations: Vec<Value> = languages(wanted)
        .into_iter()
        .map(|language| {
            json!({
                "languageCode": language,
                "name": name_in(wanted, language),
                "slug": wanted.group,
                "description": description_in(wanted, language),
            })
        })
        .collect();
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Data {
        create_product: VendureProduct,
    }
    let data: Data = graphql::query(
        &format!(
            "mutation Product($input: CreateProductInput!) {{ createProduct(input: $input) {{ {PRODUCT_FIELDS} }} }}"
        ),
        json!({"input": {"translations": translations}}),
    )?;
    let mut product = data.create_product;
    let group = create_option_group(&wanted.group, channel)?;
    add_option_group(&product.id, &group.id)?;
    product.option_groups.push(group);
    log::info(format!(
        "product={} slug={} Created a Vendure product.",
        product.id, wanted.group
    ));
    Ok(product)
}

fn create_option_group(group: &str, channel: &Channel) -> Result<OptionGroup, Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Data {
        create_product_option_group: OptionGroup,
    }
    let data: Data = graphql::query(
        "mutation Group($input: CreateProductOptionGroupInput!) { createProductOptionGroup(input: $input) { id code options { id code } } }",
        json!({"input": {
            "code": option_group_code(group),
            "translations": [{"languageCode": channel.default_language_code, "name": "SKU"}],
            "options": [],
        }}),
    )?;
    Ok(data.create_product_option_group)
}

fn add_option_group(product: &str, group: &str) -> Result<(), Error> {
    let _: Value = graphql::query(
        "mutation Add($p: ID!, $g: ID!) { addOptionGroupToProduct(productId: $p, optionGroupId: $g) { id } }",
        json!({"p": product, "g": group}),
    )?;
    Ok(())
}

/// Keeps the product's descriptions equal to the record's, and gives it a
/// translation in each language of the record.
fn update_product(product: &VendureProduct, wanted: &Wanted) -> Result<(), Error> {
    let mut translations = Vec::new();
    for language in languages(wanted) {
        let description = description_in(wanted, language);
        match product
            .translations
            .iter()
            .find(|t| t.language_code == language)
        {
            None => translations.push(json!({
                "languageCode": language,
                "name": name_in(wanted, language),
                "slug": wanted.group,
                "description": description,
            })),
            Some(t) if t.description.as_deref().unwrap_or("") != description => {
                translations.push(json!({
                    "languageCode": language,
                    "name": t.name,
                    "slug": t.slug,
                    "description": description,
                }));
            }
            Some(_) => {}
        }
    }
    for t in &product.translations {
        if !wanted.description.contains_key(&t.language_code)
            && !wanted.name.contains_key(&t.language_code)
            && !t.description.as_deref().unwrap_or("").is_empty()
        {
            translations.push(json!({
                "languageCode": t.language_code,
                "name": t.name,
                "slug": t.slug,
                "description": "",
            }));
        }
    }
    if translations.is_empty() {
        return Ok(());
    }
    let _: Value = graphql::query(
        "mutation Product($input: UpdateProductInput!) { updateProduct(input: $input) { id } }",
        json!({"input": {"id": product.id, "translations": translations}}),
    )?;
    log::info(format!(
        "product={} languages={} Updated a Vendure product's translations.",
        product.id,
        translations.len()
    ));
    Ok(())
}

/// The id of the option `sku`'s variant gets, created (with its group) if
/// missing.
fn option_for(
    product: &VendureProduct,
    wanted: &Wanted,
    channel: &Channel,
) -> Result<String, Error> {
    let code = option_code(&wanted.sku);
    let group_code = option_group_code(&wanted.group);
    let group_id = match product.option_groups.iter().find(|g| g.code == group_code) {
        Some(group) => {
            if let Some(option) = group.options.iter().find(|o| o.code == code) {
                return Ok(option.id.clone());
            }
            group.id.clone()
        }
        None => {
            let group = create_option_group(&wanted.group, channel)?;
            add_option_group(&product.id, &group.id)?;
            group.id
        }
    };
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Data {
        create_product_option: Created,
    }
    #[derive(Deserialize)]
    struct Created {
        id: String,
    }
    let data: Data = graphql::query(
        "mutation Option($input: CreateProductOptionInput!) { createProductOption(input: $input) { id } }",
        json!({"input": {
            "productOptionGroupId": group_id,
            "code": code,
            "translations": [{"languageCode": channel.default_language_code, "name": wanted.sku}],
        }}),
    )?;
    Ok(data.create_product_option.id)
}

fn create_variant(
    product: &VendureProduct,
    wanted: &Wanted,
    channel: &Channel,
) -> Result<String, Error> {
    let option = option_for(product, wanted, channel)?;
    let translations: Vec<Value> = wanted
        .name
        .iter()
        .map(|(language, name)| json!({"languageCode": language, "name": name}))
        .collect();
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Data {
        create_product_variants: Vec<Option<Created>>,
    }
    #[derive(Deserialize)]
    struct Created {
        id: String,
    }
    // Vendure prices a new variant in the default currency only; the others follow.
    let data: Data = graphql::query(
        "mutation Variant($input: [CreateProductVariantInput!]!) { createProductVariants(input: $input) { id } }",
        json!({"input": [{
            "productId": product.id,
            "sku": wanted.sku,
            "enabled": wanted.enabled,
            "price": wanted.prices[&channel.default_currency_code],
            "optionIds": [option],
            "translations": translations,
        }]}),
    )?;
    let id = data
        .create_product_variants
        .into_iter()
        .next()
        .flatten()
        .map(|c| c.id)
        .ok_or_else(|| {
            Error::permanent(format!(
                "Vendure created no variant for sku `{}`",
                wanted.sku
            ))
        })?;
    let others: Vec<Value> = wanted
        .prices
        .iter()
        .filter(|(currency, _)| **currency != channel.default_currency_code)
        .map(|(currency, price)| json!({"currencyCode": currency, "price": price}))
        .collect();
    if !others.is_empty() {
        let _: Value = graphql::query(
            "mutation Prices($input: [UpdateProductVariantInput!]!) { updateProductVariants(input: $input) { id } }",
            json!({"input": [{"id": id, "prices": others}]}),
        )?;
    }
    log::info(format!(
        "variant={id} sku={} Created a Vendure variant.",
        wanted.sku
    ));
    Ok(id)
}

/// Updates what differs between the variant and the record, if anything.
fn update_variant(variant: &Variant, wanted: &Wanted) -> Result<(), Error> {
    let mut input = serde_json::Map::new();
    let translations: Vec<Value> = wanted
        .name
        .iter()
        .filter(|(language, name)| {
            !variant
                .translations
                .iter()
                .any(|t| &t.language_code == *language && &t.name == *name)
        })
        .map(|(language, name)| json!({"languageCode": language, "name": name}))
        .collect();
    if !translations.is_empty() {
        input.insert("translations".into(), translations.into());
    }
    if variant.enabled != wanted.enabled {
        input.insert("enabled".into(), wanted.enabled.into());
    }
    let mut prices: Vec<Value> = wanted
        .prices
        .iter()
        .filter(|(currency, price)| {
            !variant
                .prices
                .iter()
                .any(|p| &p.currency_code == *currency && p.price == **price)
        })
        .map(|(currency, price)| json!({"currencyCode": currency, "price": price}))
        .collect();
    prices.extend(
        variant
            .prices
            .iter()
            .filter(|p| !wanted.prices.contains_key(&p.currency_code))
            .map(|p| json!({"currencyCode": p.currency_code, "price": p.price, "delete": true})),
    );
    if !prices.is_empty() {
        input.insert("prices".into(), prices.into());
    }
    if input.is_empty() {
        return Ok(());
    }
    let changed: Vec<String> = input.keys().cloned().collect();
    input.insert("id".into(), variant.id.clone().into());
    let _: Value = graphql::query(
        "mutation Variant($input: [UpdateProductVariantInput!]!) { updateProductVariants(input: $input) { id } }",
        json!({ "input": [input] }),
    )?;
    log::info(format!(
        "variant={} sku={} changed={} Updated a Vendure variant.",
        variant.id,
        wanted.sku,
        changed.join(",")
    ));
    Ok(())
}

/// The canonical payload of a variant as Vendure holds it.
fn canonical(v: &Variant) -> Product {
    Product {
        sku: v.sku.clone(),
        group: v.product.slug.clone(),
        name: v
            .translations
            .iter()
            .map(|t| (t.language_code.clone(), t.name.clone()))
            .collect(),
        description: v
            .product
            .translations
            .iter()
            .filter_map(|t| {
                let text = t.description.as_deref().unwrap_or("");
                (!text.is_empty()).then(|| (t.language_code.clone(), text.to_owned()))
            })
            .collect(),
        prices: v
            .prices
            .iter()
            .map(|p| {
                (
                    p.currency_code.clone(),
                    money::decimal(p.price, &p.currency_code),
                )
            })
            .collect(),
        enabled: v.enabled,
        // Vendure holds these in facets and assets this connector does not
        // write yet.
        categories: Vec::new(),
        media: Vec::new(),
        links: Vec::new(),
    }
}

/// One page of every variant as a canonical product, keyed by variant id, in
/// id order.
pub fn reconcile(cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let query = format!(
        "query Variants($options: ProductVariantListOptions) {{ productVariants(options: $options) {{ items {{ {VARIANT_FIELDS} }} }} }}"
    );
    let page = listing::page(
        &listing::Listed::new(&query, "productVariants"),
        cursor,
        limit,
        |v: &Variant| &v.id,
        |v| {
            Ok(vec![(
                String::new(),
                Envelope::upsert(PRODUCTS, &v.id, &canonical(v), None)?,
            )])
        },
    )?;
    log::info(format!(
        "count={} more={} Listed Vendure variants.",
        page.records.len(),
        page.more
    ));
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel() -> Channel {
        Channel {
            default_language_code: "en".into(),
            available_language_codes: vec!["en".into(), "de".into()],
            default_currency_code: "USD".into(),
            available_currency_codes: vec!["USD".into(), "EUR".into()],
            prices_include_tax: true,
        }
    }

    fn product(prices: &[(&str, &str)], languages: &[&str]) -> Product {
        Product {
            sku: "TEE-S".into(),
            group: "tee".into(),
            name: languages
                .iter()
                .map(|l| ((*l).to_owned(), format!("Tee {l}")))
                .collect(),
            description: BTreeMap::new(),
            prices: prices
                .iter()
                .map(|(c, a)| ((*c).to_owned(), (*a).to_owned()))
                .collect(),
            enabled: true,
            categories: Vec::new(),
            media: Vec::new(),
            links: Vec::new(),
        }
    }

    #[test]
    fn records_the_channel_cannot_hold_are_refused_by_name() {
        let ok = check(
            product(&[("USD", "21.00"), ("EUR", "19.90")], &["en", "de"]),
            &channel(),
        )
        .unwrap();
        assert_eq!(ok.prices["EUR"], 1990);
        let refused = |p: Product| check(p, &channel()).err().unwrap().message().to_owned();
        assert!(refused(product(&[("USD", "1"), ("JPY", "100")], &["en"])).contains("`JPY`"));
        assert!(refused(product(&[("USD", "1")], &["en", "fr"])).contains("`fr`"));
        assert!(refused(product(&[("EUR", "1")], &["en"])).contains("`USD`"));
        assert!(refused(product(&[("USD", "1.999")], &["en"])).contains("1.999"));
        assert!(refused(product(&[("USD", "1")], &[])).contains("no name"));
        let mut net = channel();
        net.prices_include_tax = false;
        assert!(
            check(product(&[("USD", "1")], &["en"]), &net)
                .err()
                .unwrap()
                .message()
                .contains("pricesIncludeTax")
        );
    }

    #[test]
    fn option_codes_are_slugs_of_the_sku() {
        assert_eq!(option_code("TEE-M"), "tee-m");
        assert_eq!(option_code("A_1 b"), "a-1-b");
    }
}
