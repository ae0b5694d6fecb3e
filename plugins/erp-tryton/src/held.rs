//! What Tryton holds: `sale.sale`s rebuilt as canonical
//! [`SaleOrder`](canonical::SaleOrder)s, for `reconcile` and for `write` to see
//! whether a record changes anything.
//!
//! The rebuild is the inverse of [`sale`](crate::sale)'s write: `external_ref`
//! is the sale's `reference`; `customer_email` and `customer_name` are its
//! party's first e-mail and name; `currency` the currency's code; the lines of
//! type `line` in sale-line order (`sequence`, then id), with the product's code
//! as `sku`, the quantity as a whole number and the unit price in minor units
//! of the currency; `total_cents` their sum (Tryton's `total_amount` instead,
//! with a warning, when Tryton's differs: taxes added in Tryton, say); `status`
//! `cancelled` for a cancelled sale, else `open`; `ship_to` from the shipment
//! address unless it is empty or blank. Reads only; never writes.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tenon_sdk::canonical::{Address, SaleLine, SaleOrder};
use tenon_sdk::prelude::*;

use crate::rpc::Tryton;
use crate::value;

/// The most records one `reconcile` page holds.
const MAX_PAGE: u32 = 200;

/// One Tryton sale as a canonical order, with its workflow state.
#[derive(Debug)]
pub struct HeldSale {
    pub id: i64,
    /// `draft`, `quotation`, `confirmed`, `processing`, `done` or `cancelled`.
    pub state: String,
    /// The sale's number, once quoted.
    pub number: Option<String>,
    pub order: SaleOrder,
    /// The ids of its lines (all types), for a rewrite.
    pub line_ids: Vec<i64>,
}

/// The sales `ids`, in that order (ids Tryton does not have are left out).
pub fn load(tryton: &Tryton, ids: &[i64]) -> Result<Vec<HeldSale>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = tryton.model(
        "sale.sale",
        "read",
        vec![
            json!(ids),
            json!([
                "reference",
                "state",
                "number",
                "party.name",
                "party.email",
                "currency.code",
                "total_amount",
                "shipment_address.party_name",
                "shipment_address.street_unstructured",
                "shipment_address.city",
                "shipment_address.postal_code",
                "shipment_address.country.code",
            ]),
        ],
    )?;
    let lines = tryton.search_read(
        "sale.line",
        json!([["sale", "in", ids]]),
        None,
        json!([["sale", "ASC"], ["sequence", "ASC"], ["id", "ASC"]]),
        &["sale", "type", "product.code", "quantity", "unit_price"],
    )?;
    let mut lines_of: BTreeMap<i64, Vec<&Value>> = BTreeMap::new();
    for line in &lines {
        if let Some(sale) = line["sale"].as_i64() {
            lines_of.entry(sale).or_default().push(line);
        }
    }

    let mut held = Vec::with_capacity(ids.len());
    for row in rows.as_array().into_iter().flatten() {
        let Some(id) = row["id"].as_i64() else {
            continue;
        };
        let currency = text(&row["currency."]["code"]);
        let sale_lines = lines_of.remove(&id).unwrap_or_default();
        let mut order_lines = Vec::with_capacity(sale_lines.len());
        for line in &sale_lines {
            if line["type"].as_str().is_some_and(|kind| kind != "line") {
                continue;
            }
            let unit_price_cents = value::minor_from_decimal(&line["unit_price"], &currency)
                .ok_or_else(|| {
                    Error::permanent(format!(
                        "sale {id}: line {} has no readable unit price",
                        line["id"]
                    ))
                })?;
            order_lines.push(SaleLine {
                sku: text(&line["product."]["code"]),
                quantity: line["quantity"].as_f64().unwrap_or(0.0).round() as i64,
                unit_price_cents,
            });
        }
        let sum: i64 = order_lines
            .iter()
            .map(|line| line.quantity * line.unit_price_cents)
            .sum();
        let total_cents = match value::minor_from_decimal(&row["total_amount"], &currency) {
            Some(total) if total != sum => {
                log::warn(format!(
                    "sale={id} lines={sum} total={total} Tryton's total differs from the sum \
                     of the lines; reporting Tryton's."
                ));
                total
            }
            _ => sum,
        };
        let state = text(&row["state"]);
        held.push(HeldSale {
            id,
            number: row["number"].as_str().map(str::to_owned),
            order: SaleOrder {
                external_ref: text(&row["reference"]),
                customer_email: text(&row["party."]["email"]),
                customer_name: text(&row["party."]["name"]),
                currency,
                lines: order_lines,
                total_cents,
                status: if state == "cancelled" {
                    "cancelled"
                } else {
                    "open"
                }
                .to_owned(),
                ship_to: address(&row["shipment_address."]),
            },
            state,
            line_ids: sale_lines
                .iter()
                .filter_map(|line| line["id"].as_i64())
                .collect(),
        });
    }
    held.sort_by_key(|sale| ids.iter().position(|id| *id == sale.id));
    Ok(held)
}

/// One page of `reconcile` for `sale-orders`: the sales with a reference (the
/// ones Tenon may have written; sales entered in Tryton without one are not
/// Tenon's), by id, after the id in `cursor`.
pub fn reconcile(tryton: &Tryton, cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let listing = Listing {
        stream: crate::SALE_ORDERS,
        model: "sale.sale",
        what: "sales",
    };
    let domain = vec![
        json!(["reference", "!=", null]),
        json!(["reference", "!=", ""]),
    ];
    listing.page(tryton, domain, cursor, limit, |ids| {
        Ok(load(tryton, ids)?
            .into_iter()
            .map(|sale| (sale.id, sale.order))
            .collect())
    })
}

/// A `reconcile` export of what a write stream booked: records of `model`,
/// by id, a page at a time; the cursor is the last id of the page.
#[derive(Debug)]
pub struct Listing {
    pub stream: &'static str,
    pub model: &'static str,
    /// What the records are, for the log (`credit notes`).
    pub what: &'static str,
}

impl Listing {
    /// The records matching `domain` after the id in `cursor`, at most
    /// `limit` (and [`MAX_PAGE`]), each `(id, payload)` as `load` reads them.
    pub fn page<T: serde::Serialize>(
        &self,
        tryton: &Tryton,
        mut domain: Vec<Value>,
        cursor: Option<&str>,
        limit: u32,
        load: impl FnOnce(&[i64]) -> Result<Vec<(i64, T)>, Error>,
    ) -> Result<Page, Error> {
        let after = after_id(cursor)?;
        let limit = limit.clamp(1, MAX_PAGE);
        domain.push(json!(["id", ">", after]));
        let mut ids = tryton.search_ordered(
            self.model,
            Value::Array(domain),
            limit + 1,
            json!([["id", "ASC"]]),
        )?;
        let more = ids.len() > limit as usize;
        ids.truncate(limit as usize);
        let mut records = Vec::with_capacity(ids.len());
        for (id, payload) in load(&ids)? {
            records.push(Envelope::upsert(
                self.stream,
                &id.to_string(),
                &payload,
                None,
            )?);
        }
        log::info(format!(
            "stream={} count={} more={more} Listed {} for reconciliation.",
            self.stream,
            records.len(),
            self.what
        ));
        Ok(Page {
            next_cursor: ids.last().map(i64::to_string),
            more,
            records,
        })
    }
}

/// The id a `reconcile` cursor holds (the last id of the previous page); 0 for none.
pub fn after_id(cursor: Option<&str>) -> Result<i64, Error> {
    match cursor {
        None => Ok(0),
        Some(cursor) => cursor.parse::<i64>().map_err(|_| {
            Error::permanent(format!("reconcile cursor `{cursor}` is not a Tryton id"))
        }),
    }
}

/// The canonical address of a Tryton `party.address` read with the fields
/// above; `None` for no address or a blank one (no name, street, city, postal
/// code nor country).
fn address(row: &Value) -> Option<Address> {
    if !row.is_object() {
        return None;
    }
    let address = Address {
        name: text(&row["party_name"]),
        street: text(&row["street_unstructured"]),
        city: text(&row["city"]),
        postal_code: text(&row["postal_code"]),
        country: text(&row["country."]["code"]),
    };
    (address != Address::default()).then_some(address)
}

/// A string field as text; null (Tryton's empty) as `""`.
fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}
