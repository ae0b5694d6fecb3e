//! `tryton-stock`: Tryton's `stock-levels` (per product and warehouse, in the
//! product's unit, as decimals) to canonical `inventory-levels` (whole units per
//! SKU and storefront location).
//!
//! - **Takes** `stock-levels` records of `erp-tryton` (`code`, `warehouse`,
//!   `quantity`, `forecast_quantity`); records of other streams pass through.
//! - **Gives** one `inventory-levels` record per taken record, same key and
//!   source time: `sku` = the product's code, `location` = the warehouse's code
//!   mapped through `locations`, `quantity` = the chosen Tryton quantity rounded
//!   down to whole units (a storefront cannot sell 2.5 of a thing; negative stock,
//!   from oversold forecasts, becomes 0).
//! - **Drops** the levels of warehouses `locations` does not name, when it is
//!   set: the operator chooses which warehouses feed the storefront.
//! - **Refuses** (permanent, naming the record) a product without a code (the
//!   storefront knows variants by SKU only) or a quantity that is not a number.
//! - **Config**: `locations` (optional): `WAREHOUSE=Location, ...` from Tryton
//!   warehouse codes to the storefront's stock location names; unset, the
//!   location is the warehouse code. `quantity` (default `quantity`): which
//!   Tryton figure to publish, `quantity` (on hand) or `forecast_quantity`
//!   (on hand minus what is already promised to confirmed sales).

use std::collections::BTreeMap;

use serde::Deserialize;
use tenon_sdk::canonical::InventoryLevel;
use tenon_sdk::prelude::*;

/// The stream taken.
const STOCK_LEVELS: &str = "stock-levels";

/// A `stock-levels` payload of `erp-tryton`: the fields this transform reads.
#[derive(Debug, Deserialize)]
struct TrytonLevel {
    product_id: i64,
    code: Option<String>,
    warehouse: Option<String>,
    warehouse_id: i64,
    quantity: f64,
    forecast_quantity: f64,
}

/// Which Tryton figure becomes the storefront's stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Figure {
    OnHand,
    Forecast,
}

/// The transform's settings for one batch.
#[derive(Debug)]
struct Settings {
    locations: Option<BTreeMap<String, String>>,
    figure: Figure,
}

impl Settings {
    fn from_config() -> Result<Self, Error> {
        let figure = match config::get("quantity").as_deref() {
            None | Some("quantity") => Figure::OnHand,
            Some("forecast_quantity") => Figure::Forecast,
            Some(other) => {
                return Err(Error::permanent(format!(
                    "config key `quantity`: `{other}` is neither `quantity` nor `forecast_quantity`"
                )));
            }
        };
        Ok(Self {
            locations: config::map("locations")?,
            figure,
        })
    }
}

struct TrytonStock;

impl Transform for TrytonStock {
    fn describe() -> Descriptor {
        Descriptor {
            name: "tryton-stock".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: Kind::Transform,
            description:
                "Tryton stock per warehouse to whole-unit inventory levels per storefront location."
                    .to_owned(),
            streams: vec![
                StreamInfo::writable(STOCK_LEVELS, tenon_sdk::describe::ANY_OBJECT_SCHEMA),
                canonical::readable(
                    canonical::INVENTORY_LEVELS,
                    None,
                    canonical::INVENTORY_LEVELS,
                ),
            ],
            egress: Vec::new(),
            config: vec![
                ConfigKey::optional(
                    "locations",
                    "Tryton warehouse code to storefront stock location name, `WH=Main, WH2=Berlin`; unset keeps the codes, set drops unnamed warehouses.",
                    None,
                ),
                ConfigKey::optional(
                    "quantity",
                    "`quantity` (on hand) or `forecast_quantity` (on hand minus promised).",
                    Some("quantity"),
                ),
            ],
            secrets: Vec::new(),
        }
    }

    fn transform(batch: Vec<Envelope>) -> Result<Vec<Envelope>, Error> {
        let settings = Settings::from_config()?;
        let mut out = Vec::with_capacity(batch.len());
        let mut dropped = 0;
        for envelope in batch {
            if envelope.stream != STOCK_LEVELS {
                out.push(envelope);
                continue;
            }
            match level(&envelope, &settings)
                .map_err(|e| e.context(format!("record `{}`", envelope.key)))?
            {
                Some(level) => out.push(level),
                None => dropped += 1,
            }
        }
        if dropped > 0 {
            log::debug(format!(
                "dropped={dropped} Dropped the levels of warehouses `locations` does not name."
            ));
        }
        Ok(out)
    }
}

/// The `inventory-levels` record of one `stock-levels` record, or `None` when
/// its warehouse is not published.
fn level(envelope: &Envelope, settings: &Settings) -> Result<Option<Envelope>, Error> {
    let time = envelope.source_time.as_deref();
    if envelope.op == Op::Delete {
        return Ok(Some(Envelope::delete(
            canonical::INVENTORY_LEVELS,
            &envelope.key,
            time,
        )));
    }
    let tryton: TrytonLevel = envelope.json()?;
    let Some(level) = map_level(&tryton, settings).map_err(Error::permanent)? else {
        return Ok(None);
    };
    Envelope::upsert(canonical::INVENTORY_LEVELS, &envelope.key, &level, time).map(Some)
}

fn map_level(tryton: &TrytonLevel, settings: &Settings) -> Result<Option<InventoryLevel>, String> {
    let sku = tryton
        .code
        .as_deref()
        .map(str::trim)
        .filter(|code| !code.is_empty())
        .ok_or_else(|| {
            format!(
                "Tryton product {} has no code; the storefront knows variants by SKU",
                tryton.product_id
            )
        })?;
    let warehouse = tryton
        .warehouse
        .clone()
        .unwrap_or_else(|| tryton.warehouse_id.to_string());
    let location = match &settings.locations {
        None => warehouse,
        Some(map) => match map.get(&warehouse) {
            Some(location) => location.clone(),
            None => return Ok(None),
        },
    };
    let figure = match settings.figure {
        Figure::OnHand => tryton.quantity,
        Figure::Forecast => tryton.forecast_quantity,
    };
    if !figure.is_finite() {
        return Err(format!("quantity {figure} is not a number"));
    }
    // Whole units only, never negative; `as` saturates beyond i64.
    let quantity = figure.floor().max(0.0) as i64;
    Ok(Some(InventoryLevel {
        sku: sku.to_owned(),
        location,
        quantity,
    }))
}

export_transform!(TrytonStock);

#[cfg(test)]
mod tests {
    use super::*;

    fn tryton(code: Option<&str>, warehouse: &str, quantity: f64, forecast: f64) -> TrytonLevel {
        TrytonLevel {
            product_id: 7,
            code: code.map(str::to_owned),
            warehouse: Some(warehouse.to_owned()),
            warehouse_id: 3,
            quantity,
            forecast_quantity: forecast,
        }
    }

    fn settings(locations: Option<&str>, figure: Figure) -> Settings {
        Settings {
            locations: locations.map(|text| config::parse_map(text).unwrap()),
            figure,
        }
    }

    #[test]
    fn warehouses_map_to_locations_and_quantities_to_whole_units() {
        let map = settings(Some("WH=Main, WH2=Berlin"), Figure::OnHand);
        let level = map_level(&tryton(Some("MUG"), "WH2", 12.75, 3.0), &map)
            .unwrap()
            .unwrap();
        assert_eq!(
            level,
            InventoryLevel {
                sku: "MUG".into(),
                location: "Berlin".into(),
                quantity: 12
            }
        );
        let forecast = settings(None, Figure::Forecast);
        let level = map_level(&tryton(Some("MUG"), "WH", 5.0, -2.0), &forecast)
            .unwrap()
            .unwrap();
        assert_eq!((level.location.as_str(), level.quantity), ("WH", 0));
    }

    #[test]
    fn unnamed_warehouses_are_dropped_and_products_without_code_refused() {
        let map = settings(Some("WH=Main"), Figure::OnHand);
        assert_eq!(
            map_level(&tryton(Some("MUG"), "WH9", 1.0, 1.0), &map),
            Ok(None)
        );
        let error = map_level(&tryton(None, "WH", 1.0, 1.0), &map).unwrap_err();
        assert!(error.contains("product 7 has no code"), "{error}");
        let error = map_level(&tryton(Some("MUG"), "WH", f64::NAN, 1.0), &map).unwrap_err();
        assert!(error.contains("not a number"), "{error}");
    }
}
