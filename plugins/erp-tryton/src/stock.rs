//! Changed-since reads of `stock-levels`: on-hand and forecast quantity of each
//! product per warehouse, for the products whose stock moves changed since the
//! cursor.
//!
//! Quantities have no write date of their own; a product's stock changes when
//! one of its `stock.move`s is created or written (done, cancelled...), so the
//! read finds the moves changed since the cursor's second, takes per product the
//! newest move time, and reads the quantities of those products in every
//! warehouse (`product.product` `quantity` / `forecast_quantity` with the context
//! `locations: [warehouse]`). Positions are `(time, product@warehouse)`.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tenon_sdk::prelude::*;

use crate::rpc::Tryton;
use crate::value;

/// The most records one read returns.
const MAX_PAGE: u32 = 500;

/// One page of `stock-levels` after `cursor`, at most `limit` records.
pub fn changed_since(tryton: &Tryton, cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let mut mark = Watermark::from_cursor(cursor);
    let domain = crate::read::changed_domain(&mark, &["create_date", "write_date"])?;
    let moves = tryton.search_read(
        "stock.move",
        domain,
        None,
        Value::Null,
        &["product", "create_date", "write_date"],
    )?;
    // Product id -> the time of its newest changed move.
    let mut changed: BTreeMap<i64, String> = BTreeMap::new();
    for mv in &moves {
        let Some(product) = mv["product"].as_i64() else {
            continue;
        };
        let time = [&mv["create_date"], &mv["write_date"]]
            .into_iter()
            .filter_map(value::datetime)
            .max();
        if let Some(time) = time {
            let newest = changed.entry(product).or_default();
            if time > *newest {
                *newest = time;
            }
        }
    }
    let warehouses = tryton.search_read(
        "stock.location",
        json!([["type", "=", "warehouse"]]),
        None,
        json!([["id", "ASC"]]),
        &["code", "name"],
    )?;

    let mut fresh = Vec::new();
    if !changed.is_empty() {
        let ids: Vec<i64> = changed.keys().copied().collect();
        for warehouse in &warehouses {
            let Some(wh) = warehouse["id"].as_i64() else {
                continue;
            };
            let mut context = tryton.context.clone();
            context["locations"] = json!([wh]);
            let rows = tryton.call(
                "model.product.product.read",
                json!([ids, ["code", "quantity", "forecast_quantity"], context]),
            )?;
            for row in rows.as_array().into_iter().flatten() {
                let Some(product) = row["id"].as_i64() else {
                    continue;
                };
                let time = changed[&product].clone();
                let key = format!("{product:012}@{wh:012}");
                if mark.is_new(&time, &key) {
                    let payload = json!({
                        "product_id": product,
                        "code": row["code"],
                        "warehouse_id": wh,
                        "warehouse": warehouse["code"],
                        "quantity": row["quantity"],
                        "forecast_quantity": row["forecast_quantity"],
                        "updated_at": time,
                    });
                    fresh.push((time, key, format!("{product}@{wh}"), payload));
                }
            }
        }
    }
    fresh.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let limit = limit.clamp(1, MAX_PAGE) as usize;
    let more = fresh.len() > limit;
    fresh.truncate(limit);
    let mut records = Vec::with_capacity(fresh.len());
    for (time, key, record_key, payload) in &fresh {
        records.push(Envelope::upsert(
            crate::STOCK_LEVELS,
            record_key,
            payload,
            Some(time),
        )?);
        mark.advance(time, key);
    }
    log::info(format!(
        "stream={} count={} more={more} cursor={mark} Read changed records.",
        crate::STOCK_LEVELS,
        records.len()
    ));
    Ok(Page {
        next_cursor: (!records.is_empty()).then(|| mark.encode()),
        more,
        records,
    })
}
