//! The `inventory-levels` stream: absolute stock on hand of a variant (by SKU)
//! at a stock location (by name), as canonical [`InventoryLevel`]s, written and
//! listed for `reconcile`.
//!
//! A write looks up the batch's SKUs (with their stock levels) and the stock
//! locations once, then sets each record's level with `updateProductVariants`
//! (`stockLevels`), only when it differs: a record delivered twice changes
//! nothing, not even a stock movement. The outcome id is
//! `<variant id>@<stock location id>`, the key `reconcile` lists the level
//! under. A location name Vendure does not have, or has twice, is a permanent
//! error naming it; so is a SKU no variant has, and a negative quantity.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::json;
use tenon_sdk::canonical::InventoryLevel;
use tenon_sdk::prelude::*;

use crate::{INVENTORY_LEVELS, graphql, listing};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VariantsData {
    product_variants: VariantList,
}

#[derive(Deserialize)]
struct VariantList {
    items: Vec<Variant>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Variant {
    id: String,
    sku: String,
    stock_levels: Vec<StockLevel>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StockLevel {
    stock_location_id: String,
    stock_on_hand: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LocationsData {
    stock_locations: LocationList,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LocationList {
    items: Vec<Location>,
    total_items: usize,
}

#[derive(Deserialize)]
struct Location {
    id: String,
    name: String,
}

/// Sets each record's level; the outcome is `<variant id>@<stock location id>`.
pub fn write(batch: &[Delivery]) -> Result<Vec<Outcome>, Error> {
    let levels: Vec<Result<InventoryLevel, Error>> = batch
        .iter()
        .map(|d| match d.envelope.op {
            Op::Delete => Err(Error::permanent(
                "stock levels cannot be deleted; send quantity 0",
            )),
            _ => d.envelope.json::<InventoryLevel>(),
        })
        .collect();
    let skus: Vec<&str> = levels
        .iter()
        .filter_map(|l| l.as_ref().ok().map(|l| l.sku.as_str()))
        .collect();
    let mut variants = variants(&skus)?;
    let locations = locations()?;

    let mut levels = levels.into_iter();
    Ok(record::apply_each(batch, |_| {
        let level = levels.next().expect("one level per delivery")?;
        if level.quantity < 0 {
            return Err(Error::permanent(format!(
                "sku `{}`: quantity {} is negative",
                level.sku, level.quantity
            )));
        }
        let variant = variants.get_mut(&level.sku).ok_or_else(|| {
            Error::permanent(format!(
                "sku `{}` is not a Vendure product variant",
                level.sku
            ))
        })?;
        let location = location_id(&locations, &level.location)?;
        let id = format!("{}@{location}", variant.id);
        let now = variant
            .stock_levels
            .iter()
            .find(|s| s.stock_location_id == location)
            .map(|s| s.stock_on_hand);
        if now == Some(level.quantity) {
            return Ok(Some(id));
        }
        let _: serde_json::Value = graphql::query(
            "mutation Stock($input: [UpdateProductVariantInput!]!) { updateProductVariants(input: $input) { id } }",
            json!({"input": [{"id": variant.id, "stockLevels": [
                {"stockLocationId": location, "stockOnHand": level.quantity}
            ]}]}),
        )?;
        // A later record of the batch for the same level compares with this one.
        match variant
            .stock_levels
            .iter_mut()
            .find(|s| s.stock_location_id == location)
        {
            Some(s) => s.stock_on_hand = level.quantity,
            None => variant.stock_levels.push(StockLevel {
                stock_location_id: location.to_owned(),
                stock_on_hand: level.quantity,
            }),
        }
        Ok(Some(id))
    }))
}

/// The id of the stock location named `name`.
fn location_id<'a>(locations: &'a [Location], name: &str) -> Result<&'a str, Error> {
    let mut named = locations.iter().filter(|l| l.name == name);
    match (named.next(), named.next()) {
        (Some(l), None) => Ok(&l.id),
        (Some(_), Some(_)) => Err(Error::permanent(format!(
            "Vendure has several stock locations named `{name}`; rename them apart"
        ))),
        (None, _) => Err(Error::permanent(format!(
            "Vendure has no stock location named `{name}` (it has: {})",
            locations
                .iter()
                .map(|l| format!("`{}`", l.name))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The variants (with their stock levels) of each of `skus` that Vendure knows.
fn variants(skus: &[&str]) -> Result<HashMap<String, Variant>, Error> {
    if skus.is_empty() {
        return Ok(HashMap::new());
    }
    let data: VariantsData = graphql::query(
        "query Variants($options: ProductVariantListOptions) { productVariants(options: $options) { items { id sku stockLevels { stockLocationId stockOnHand } } } }",
        json!({"options": {"filter": {"sku": {"in": skus}}, "take": skus.len()}}),
    )?;
    Ok(data
        .product_variants
        .items
        .into_iter()
        .map(|v| (v.sku.clone(), v))
        .collect())
}

/// Every stock location of the channel.
fn locations() -> Result<Vec<Location>, Error> {
    const TAKE: usize = 100;
    let mut all = Vec::new();
    loop {
        let data: LocationsData = graphql::query(
            "query Locations($options: StockLocationListOptions) { stockLocations(options: $options) { items { id name } totalItems } }",
            json!({"options": {"sort": {"id": "ASC"}, "skip": all.len(), "take": TAKE}}),
        )?;
        let fetched = data.stock_locations.items.len();
        all.extend(data.stock_locations.items);
        if fetched < TAKE || all.len() >= data.stock_locations.total_items {
            return Ok(all);
        }
    }
}

/// One page of every variant's level at every stock location it has one at,
/// keyed `<variant id>@<stock location id>`, payload `{sku, location (name),
/// quantity}`; in variant id, then location id order.
pub fn reconcile(cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let names: HashMap<String, String> = locations()?.into_iter().map(|l| (l.id, l.name)).collect();
    let page = listing::page(
        &listing::Listed::new(
            "query Variants($options: ProductVariantListOptions) { productVariants(options: $options) { items { id sku stockLevels { stockLocationId stockOnHand } } } }",
            "productVariants",
        ),
        cursor,
        limit,
        |v: &Variant| &v.id,
        |v| {
            v.stock_levels
                .iter()
                .map(|s| {
                    let payload = InventoryLevel {
                        sku: v.sku.clone(),
                        location: names
                            .get(&s.stock_location_id)
                            .cloned()
                            .unwrap_or_else(|| s.stock_location_id.clone()),
                        quantity: s.stock_on_hand,
                    };
                    let key = format!("{}@{}", v.id, s.stock_location_id);
                    Ok((
                        s.stock_location_id.clone(),
                        Envelope::upsert(INVENTORY_LEVELS, &key, &payload, None)?,
                    ))
                })
                .collect()
        },
    )?;
    log::info(format!(
        "count={} more={} Listed Vendure stock levels.",
        page.records.len(),
        page.more
    ));
    Ok(page)
}
