//! The `inventory-levels` stream: absolute stock on hand per variant, by SKU.
//!
//! One lookup of all the batch's SKUs, then one `updateProductVariants` per
//! record. Setting an absolute level is idempotent, so a record delivered twice
//! changes nothing the second time.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::json;
use tenon_sdk::prelude::*;

use crate::graphql;

/// JSON Schema of an `inventory-levels` payload.
pub const LEVEL_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["sku", "quantity"],
  "properties": {
    "sku": {"type": "string"},
    "quantity": {"type": "integer", "minimum": 0},
    "location": {"type": "string", "description": "Vendure stock location id; the variant's default level if absent"}
  }
}"#;

/// An `inventory-levels` payload.
#[derive(Deserialize)]
struct Level {
    sku: String,
    quantity: i64,
    #[serde(default)]
    location: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VariantsData {
    product_variants: VariantList,
}

#[derive(Deserialize)]
struct VariantList {
    items: Vec<VariantRef>,
}

#[derive(Deserialize)]
struct VariantRef {
    id: String,
    sku: String,
}

/// Sets the stock of each record's variant; the outcome is the variant id.
pub fn write(batch: &[Delivery]) -> Result<Vec<Outcome>, Error> {
    let levels: Vec<Result<Level, Error>> = batch
        .iter()
        .map(|d| match d.envelope.op {
            Op::Delete => Err(Error::permanent(
                "stock levels cannot be deleted; send quantity 0",
            )),
            _ => d.envelope.json::<Level>(),
        })
        .collect();
    let skus: Vec<&str> = levels
        .iter()
        .filter_map(|l| l.as_ref().ok().map(|l| l.sku.as_str()))
        .collect();
    let ids = variant_ids(&skus)?;

    let mut levels = levels.into_iter();
    Ok(record::apply_each(batch, |_| {
        let level = levels.next().expect("one level per delivery")?;
        if level.quantity < 0 {
            return Err(Error::permanent(format!(
                "sku `{}`: quantity {} is negative",
                level.sku, level.quantity
            )));
        }
        let id = ids.get(&level.sku).ok_or_else(|| {
            Error::permanent(format!(
                "sku `{}` is not a Vendure product variant",
                level.sku
            ))
        })?;
        let input = match &level.location {
            Some(location) => json!({"id": id, "stockLevels": [
                {"stockLocationId": location, "stockOnHand": level.quantity}
            ]}),
            None => json!({"id": id, "stockOnHand": level.quantity}),
        };
        let _: serde_json::Value = graphql::query(
            "mutation Stock($input: [UpdateProductVariantInput!]!) { updateProductVariants(input: $input) { id } }",
            json!({ "input": [input] }),
        )?;
        Ok(Some(id.clone()))
    }))
}

/// The variant id of each of `skus` that Vendure knows.
fn variant_ids(skus: &[&str]) -> Result<HashMap<String, String>, Error> {
    if skus.is_empty() {
        return Ok(HashMap::new());
    }
    let data: VariantsData = graphql::query(
        "query Variants($options: ProductVariantListOptions) { productVariants(options: $options) { items { id sku } } }",
        json!({"options": {"filter": {"sku": {"in": skus}}, "take": skus.len().max(1)}}),
    )?;
    Ok(data
        .product_variants
        .items
        .into_iter()
        .map(|v| (v.sku, v.id))
        .collect())
}
