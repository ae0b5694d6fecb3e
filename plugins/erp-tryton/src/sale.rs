//! Writes of `sale-orders`: one draft `sale.sale` per record, idempotent on its
//! `reference` (the record's `external_ref`), with the customer matched through
//! the id map `customer:email->tryton-party`, by e-mail, or created.

use serde::Deserialize;
use serde_json::{Value, json};
use tenon_sdk::prelude::*;

use crate::rpc::Tryton;
use crate::value;

/// The id map from a customer's e-mail to its Tryton party.
pub const CUSTOMER_MAP: &str = "customer:email->tryton-party";

/// A `sale-orders` payload, as `order-to-sale` produces it.
#[derive(Debug, Deserialize)]
struct SaleOrder {
    external_ref: String,
    customer_email: String,
    customer_name: String,
    currency: String,
    lines: Vec<SaleLine>,
    #[serde(default)]
    status: Option<String>,
}

/// One line of a [`SaleOrder`].
#[derive(Debug, Deserialize)]
struct SaleLine {
    sku: String,
    quantity: i64,
    unit_price_cents: i64,
}

/// Creates the sale of one delivery unless a sale with its reference exists;
/// the sale's id either way.
pub fn save(tryton: &Tryton, delivery: &Delivery) -> Outcome {
    if delivery.envelope.op == Op::Delete {
        return Err(Error::permanent("Tryton sales are not deleted by Tenon"));
    }
    let order: SaleOrder = delivery.json()?;
    if order.external_ref.is_empty() {
        return Err(Error::permanent("`external_ref` is empty"));
    }
    let cancelled = order.status.as_deref() == Some("cancelled");
    let existing = tryton.search(
        "sale.sale",
        json!([["reference", "=", order.external_ref]]),
        1,
    )?;
    if let Some(&sale) = existing.first() {
        if cancelled {
            cancel(tryton, sale)?;
        }
        return Ok(Some(sale.to_string()));
    }

    let currency = *tryton
        .search(
            "currency.currency",
            json!([["code", "=", order.currency]]),
            1,
        )?
        .first()
        .ok_or_else(|| Error::permanent(format!("no currency `{}` in Tryton", order.currency)))?;
    let mut lines = Vec::with_capacity(order.lines.len());
    for line in &order.lines {
        let (product, unit) = product(tryton, &line.sku)?;
        lines.push(json!({
            "type": "line",
            "product": product,
            "unit": unit,
            "quantity": line.quantity,
            "unit_price": value::decimal_from_cents(line.unit_price_cents),
        }));
    }
    let (party, address) = customer(tryton, &order.customer_email, &order.customer_name)?;
    let sale = tryton.create(
        "sale.sale",
        json!({
            "party": party,
            "invoice_address": address,
            "shipment_address": address,
            "company": tryton.context["company"],
            "currency": currency,
            "reference": order.external_ref,
            "description": format!("Tenon {}", order.external_ref),
            // Invoices on demand: the default needs a chart of accounts.
            "invoice_method": "manual",
            "lines": [["create", lines]],
        }),
    )?;
    if cancelled {
        cancel(tryton, sale)?;
    }
    Ok(Some(sale.to_string()))
}

/// Cancels a sale that is still a draft or a quotation; others are left alone.
fn cancel(tryton: &Tryton, sale: i64) -> Result<(), Error> {
    let rows = tryton.model("sale.sale", "read", vec![json!([sale]), json!(["state"])])?;
    let state = rows[0]["state"].as_str().unwrap_or("");
    if matches!(state, "draft" | "quotation") {
        tryton.model("sale.sale", "cancel", vec![json!([sale])])?;
    } else if state != "cancelled" {
        log::warn(format!(
            "sale={sale} state={state} Sale not cancelled: it is past quotation."
        ));
    }
    Ok(())
}

/// The product with code `sku` and its unit; a permanent error naming the sku
/// if Tryton has none.
fn product(tryton: &Tryton, sku: &str) -> Result<(i64, Value), Error> {
    let rows = tryton.search_read(
        "product.product",
        json!([["code", "=", sku]]),
        Some(1),
        Value::Null,
        &["default_uom"],
    )?;
    let row = rows
        .first()
        .ok_or_else(|| Error::permanent(format!("no product with code `{sku}` in Tryton")))?;
    let id = row["id"].as_i64().unwrap_or_default();
    Ok((id, row["default_uom"].clone()))
}

/// The party of the customer with `email` and one of its addresses: through
/// the id map, else by e-mail, else created; the id map links it either way.
fn customer(tryton: &Tryton, email: &str, name: &str) -> Result<(i64, i64), Error> {
    let email = email.trim().to_lowercase();
    let mut party = idmap::resolve(CUSTOMER_MAP, &email).and_then(|id| id.parse::<i64>().ok());
    if let Some(id) = party {
        // The party may have been deleted in Tryton since.
        if tryton
            .search("party.party", json!([["id", "=", id]]), 1)?
            .is_empty()
        {
            party = None;
        }
    }
    if party.is_none() && !email.is_empty() {
        let rows = tryton.search_read(
            "party.contact_mechanism",
            json!([["type", "=", "email"], ["value", "=", email]]),
            Some(1),
            Value::Null,
            &["party"],
        )?;
        party = rows.first().and_then(|row| row["party"].as_i64());
    }
    let party = match party {
        Some(party) => party,
        None => {
            let mechanisms = if email.is_empty() {
                json!([])
            } else {
                json!([["create", [{"type": "email", "value": email}]]])
            };
            tryton.create(
                "party.party",
                json!({"name": name, "contact_mechanisms": mechanisms}),
            )?
        }
    };
    if !email.is_empty() {
        idmap::link(CUSTOMER_MAP, &email, &party.to_string())?;
    }
    let address = match tryton
        .search("party.address", json!([["party", "=", party]]), 1)?
        .first()
    {
        Some(&address) => address,
        None => tryton.create("party.address", json!({"party": party}))?,
    };
    Ok((party, address))
}
