//! The `inventory-levels` stream: absolute stock of a SKU at a location, as
//! canonical [`InventoryLevel`]s, written as Magento MSI source items and
//! listed for `reconcile`.
//!
//! `location` is the **source code** of a Magento inventory source (`default`
//! in a store with one). A batch is one `POST /V1/inventory/source-items`
//! with `{"sourceItems": [{sku, source_code, quantity, status}]}`, `status` 1
//! (in stock) when the quantity is above 0, else 0. The quantity is absolute,
//! so a record written twice changes nothing. Magento refuses such a request
//! whole when one item is wrong (an unknown SKU or source); the connector then
//! sends the items one by one, so each record gets its own outcome. The
//! outcome id is `<sku>@<source code>`.
//!
//! `reconcile` lists the source items of every product (`GET
//! /V1/inventory/source-items` for each page of products), keyed
//! `<sku>@<source code>`, payload `{sku, location: <source code>, quantity}`,
//! in product id, then source code order. A quantity with a fraction (a
//! product sold by weight) has no canonical form and is left out, with a
//! warning.

use serde::Deserialize;
use serde_json::{Value, json};
use tenon_sdk::canonical::InventoryLevel;
use tenon_sdk::prelude::*;

use crate::criteria::{self, SearchCriteria};
use crate::listing::{self, Row};
use crate::rest::{Magento, Scope};
use crate::{INVENTORY_LEVELS, money};

/// A source item as `GET /V1/inventory/source-items` lists it.
#[derive(Debug, Deserialize)]
struct SourceItem {
    sku: String,
    source_code: String,
    #[serde(default)]
    quantity: Value,
}

/// A product as listings need it.
#[derive(Debug, Deserialize)]
struct Listed {
    id: u64,
    sku: String,
}

impl listing::Item for Listed {
    fn entity_id(&self) -> u64 {
        self.id
    }
}

/// Sets each record's source item; the outcome is `<sku>@<source code>`.
pub fn write(api: &Magento, batch: &[Delivery]) -> Result<Vec<Outcome>, Error> {
    let levels: Vec<Result<InventoryLevel, Error>> = batch
        .iter()
        .map(|d| {
            if d.envelope.op == Op::Delete {
                return Err(Error::permanent(
                    "stock levels cannot be deleted; send quantity 0",
                ));
            }
            let level: InventoryLevel = d.json()?;
            check(&level)?;
            Ok(level)
        })
        .collect();
    let valid: Vec<&InventoryLevel> = levels.iter().filter_map(|l| l.as_ref().ok()).collect();
    // One request for the batch; one per record when Magento refuses it whole.
    let whole = if valid.is_empty() {
        Ok(())
    } else {
        save(api, &valid)
    };
    let apart = matches!(whole, Err(Error::Permanent(_))) && valid.len() > 1;
    if apart {
        log::warn(format!(
            "count={} Magento refused the batch of source items; sending them one by one.",
            valid.len()
        ));
    }
    let mut levels = levels.into_iter();
    Ok(record::apply_each(batch, |_| {
        let level = levels.next().expect("one level per delivery")?;
        if apart {
            save(api, &[&level])?;
        } else {
            whole.clone()?;
        }
        Ok(Some(key(&level.sku, &level.location)))
    }))
}

/// Why Magento cannot take `level`, if it cannot.
fn check(level: &InventoryLevel) -> Result<(), Error> {
    if level.sku.is_empty() {
        return Err(Error::permanent("the sku is empty"));
    }
    if level.location.trim().is_empty() {
        return Err(Error::permanent(format!(
            "sku `{}`: the location (a Magento source code) is empty",
            level.sku
        )));
    }
    if level.quantity < 0 {
        return Err(Error::permanent(format!(
            "sku `{}`: quantity {} is negative",
            level.sku, level.quantity
        )));
    }
    Ok(())
}

/// The source items of `levels`.
fn source_items(levels: &[&InventoryLevel]) -> Value {
    let items: Vec<Value> = levels
        .iter()
        .map(|l| {
            json!({
                "sku": l.sku,
                "source_code": l.location,
                "quantity": l.quantity,
                "status": i32::from(l.quantity > 0),
            })
        })
        .collect();
    json!({ "sourceItems": items })
}

fn save(api: &Magento, levels: &[&InventoryLevel]) -> Result<(), Error> {
    api.post_only(
        Scope::Store,
        "/inventory/source-items",
        &source_items(levels),
    )
}

/// The id of a level: `<sku>@<source code>`.
fn key(sku: &str, source: &str) -> String {
    format!("{sku}@{source}")
}

/// One page of every product's source items, keyed `<sku>@<source code>`.
pub fn reconcile(api: &Magento, cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let page = listing::page(
        api,
        Scope::All,
        "/products",
        SearchCriteria::new(),
        cursor,
        limit,
        |products: &[Listed]| {
            if products.is_empty() {
                return Ok(Vec::new());
            }
            let skus: Vec<&str> = products.iter().map(|p| p.sku.as_str()).collect();
            let items: Vec<SourceItem> = criteria::all(
                api,
                Scope::Store,
                "/inventory/source-items",
                &SearchCriteria::new()
                    .filter("sku", "in", &criteria::list(&skus))
                    .page_size(api.settings.page_size),
            )?;
            let (rows, fractions) = rows(products, items)?;
            for left_out in fractions {
                log::warn(format!(
                    "level={left_out} A stock level with a fraction has no canonical form; left out."
                ));
            }
            Ok(rows)
        },
    )?;
    log::info(format!(
        "count={} more={} Listed Magento source items.",
        page.records.len(),
        page.more
    ));
    Ok(page)
}

/// The records of `items`, each under the product of its SKU, and the keys
/// of those left out for a fraction.
fn rows(products: &[Listed], items: Vec<SourceItem>) -> Result<(Vec<Row>, Vec<String>), Error> {
    let mut rows = Vec::with_capacity(items.len());
    let mut fractions = Vec::new();
    for item in items {
        let Some(product) = products.iter().find(|p| p.sku == item.sku) else {
            continue;
        };
        let Some(quantity) = money::whole(&item.quantity) else {
            fractions.push(key(&item.sku, &item.source_code));
            continue;
        };
        let payload = InventoryLevel {
            sku: item.sku,
            location: item.source_code,
            quantity,
        };
        rows.push(Row {
            id: product.id,
            sub: payload.location.clone(),
            envelope: Envelope::upsert(
                INVENTORY_LEVELS,
                &key(&payload.sku, &payload.location),
                &payload,
                None,
            )?,
        });
    }
    Ok((rows, fractions))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(sku: &str, location: &str, quantity: i64) -> InventoryLevel {
        InventoryLevel {
            sku: sku.into(),
            location: location.into(),
            quantity,
        }
    }

    #[test]
    fn levels_become_source_items_in_stock_above_zero() {
        let (tee, mug) = (level("TEE-M", "berlin", 17), level("MUG", "default", 0));
        assert_eq!(
            source_items(&[&tee, &mug]),
            json!({"sourceItems": [
                {"sku": "TEE-M", "source_code": "berlin", "quantity": 17, "status": 1},
                {"sku": "MUG", "source_code": "default", "quantity": 0, "status": 0}
            ]})
        );
        assert_eq!(key("TEE-M", "berlin"), "TEE-M@berlin");
    }

    #[test]
    fn levels_magento_cannot_take_are_refused_by_name() {
        assert!(
            check(&level("TEE-M", "berlin", -1))
                .unwrap_err()
                .message()
                .contains("-1 is negative")
        );
        assert!(
            check(&level("TEE-M", " ", 1))
                .unwrap_err()
                .message()
                .contains("location")
        );
        assert!(check(&level("TEE-M", "berlin", 0)).is_ok());
    }

    #[test]
    fn source_items_read_back_as_levels_under_their_product() {
        let products = vec![Listed {
            id: 31,
            sku: "TEE-M".into(),
        }];
        let items: Vec<SourceItem> = serde_json::from_value(json!([
            {"sku": "TEE-M", "source_code": "berlin", "quantity": 17, "status": 1},
            {"sku": "TEE-M", "source_code": "hamburg", "quantity": 2.5, "status": 1},
            {"sku": "OTHER", "source_code": "berlin", "quantity": 1, "status": 1}
        ]))
        .unwrap();
        let (rows, fractions) = rows(&products, items).unwrap();
        assert_eq!(
            rows.len(),
            1,
            "the fraction and the other product's item are left out"
        );
        assert_eq!(fractions, ["TEE-M@hamburg"]);
        assert_eq!((rows[0].id, rows[0].sub.as_str()), (31, "berlin"));
        assert_eq!(rows[0].envelope.key, "TEE-M@berlin");
        assert_eq!(
            serde_json::from_str::<Value>(&rows[0].envelope.payload).unwrap(),
            json!({"sku": "TEE-M", "location": "berlin", "quantity": 17})
        );
    }
}
