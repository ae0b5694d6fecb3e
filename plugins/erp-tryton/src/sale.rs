//! Writes of `sale-orders` (canonical [`SaleOrder`]s): one `sale.sale` per
//! record, found again by its `reference` (the record's `external_ref`), kept
//! equal to the record while Tryton still lets it change.
//!
//! - No sale with that reference: a draft sale is created with the configured
//!   `invoice_method` (`manual` unless set: `order` needs a chart of accounts
//!   and a fiscal year when the sale is confirmed), and cancelled at once if
//!   the record says `cancelled`.
//! - A sale that already equals the record, as [`held`] rebuilds it: nothing
//!   is written (a retry, a replay, the same record again).
//! - A draft, quotation or cancelled sale that differs: it is put back to draft
//!   (Tryton edits lines of drafts only), its party, addresses, currency and
//!   lines are rewritten, then it returns to where the record says: cancelled
//!   if `cancelled`; a quotation again if it was one; a draft otherwise (a
//!   cancelled sale whose record is `open` again is reopened as a draft).
//! - A confirmed, processing or done sale that differs: a permanent error; the
//!   change must be made in Tryton (shipments and invoices hang on it).
//!
//! Customers are matched through the id map `customer:email->tryton-party`, by
//! e-mail, or created, and renamed to the record's `customer_name` when it
//! differs (Tryton keeps the name on the party, not on the sale). A `ship_to`
//! is found among the party's addresses or created (its country created by
//! code when Tryton has none) and becomes the shipment address.

use serde_json::{Value, json};
use tenon_sdk::canonical::{Address, SaleOrder};
use tenon_sdk::prelude::*;

use crate::held::{self, HeldSale};
use crate::rpc::Tryton;
use crate::settings::Settings;
use crate::value;

/// The id map from a customer's e-mail to its Tryton party.
pub const CUSTOMER_MAP: &str = "customer:email->tryton-party";

/// Saves one delivery as its Tryton sale; the sale's id.
pub fn save(tryton: &Tryton, settings: &Settings, delivery: &Delivery) -> Outcome {
    if delivery.envelope.op == Op::Delete {
        return Err(Error::permanent("Tryton sales are not deleted by Tenon"));
    }
    let mut order: SaleOrder = delivery.json()?;
    if order.external_ref.is_empty() {
        return Err(Error::permanent("`external_ref` is empty"));
    }
    if !matches!(order.status.as_str(), "open" | "cancelled") {
        return Err(Error::permanent(format!(
            "`status` is `{}`, not `open` or `cancelled`",
            order.status
        )));
    }
    // What Tryton will hold: the e-mail as stored, the total as the lines add up.
    order.customer_email = order.customer_email.trim().to_lowercase();
    let sum: i64 = order
        .lines
        .iter()
        .map(|line| line.quantity * line.unit_price_cents)
        .sum();
    if sum != order.total_cents {
        log::warn(format!(
            "ref={} total={} lines={sum} The record's total is not the sum of its lines; \
             Tryton's will be.",
            order.external_ref, order.total_cents
        ));
        order.total_cents = sum;
    }

    let existing = tryton.search_ordered(
        "sale.sale",
        json!([["reference", "=", order.external_ref]]),
        2,
        json!([["id", "ASC"]]),
    )?;
    if existing.len() > 1 {
        log::warn(format!(
            "ref={} sales={existing:?} Several Tryton sales have this reference; keeping the first.",
            order.external_ref
        ));
    }
    let Some(&id) = existing.first() else {
        return create(tryton, settings, &order).map(|id| Some(id.to_string()));
    };
    let held = held::load(tryton, &[id])?
        .pop()
        .ok_or_else(|| Error::retryable(format!("sale {id} vanished while being read")))?;
    update(tryton, &held, &order)?;
    Ok(Some(id.to_string()))
}

/// Creates the draft sale of `order` (cancelled at once if it says so).
fn create(tryton: &Tryton, settings: &Settings, order: &SaleOrder) -> Result<i64, Error> {
    let mut values = header(tryton, order)?;
    values["reference"] = json!(order.external_ref);
    values["description"] = json!(format!("Tenon {}", order.external_ref));
    values["company"] = tryton.context["company"].clone();
    // `manual` by default: invoices on demand, no chart of accounts needed.
    values["invoice_method"] = json!(settings.invoice_method);
    values["lines"] = json!([["create", lines(tryton, order)?]]);
    let sale = tryton.create("sale.sale", values)?;
    if order.status == "cancelled" {
        tryton.button("sale.sale", "cancel", &[sale])?;
    }
    log::info(format!(
        "sale={sale} ref={} status={} invoice_method={} Created sale.",
        order.external_ref, order.status, settings.invoice_method
    ));
    Ok(sale)
}

/// Brings the existing sale `held` to `order`, or says why it cannot.
fn update(tryton: &Tryton, held: &HeldSale, order: &SaleOrder) -> Result<(), Error> {
    if held.order == *order {
        return Ok(());
    }
    let sale = held.id;
    let name = held.number.as_deref().unwrap_or("(no number)");
    if !matches!(held.state.as_str(), "draft" | "quotation" | "cancelled") {
        return Err(Error::permanent(format!(
            "Tryton sale {sale} {name} is {} and differs from the record: change it in Tryton",
            held.state
        )));
    }
    let content_differs = SaleOrder {
        status: order.status.clone(),
        ..held.order.clone()
    } != *order;
    let mut state = held.state.as_str();
    if content_differs {
        if state != "draft" {
            tryton.button("sale.sale", "draft", &[sale])?;
            state = "draft";
        }
        let mut values = header(tryton, order)?;
        values["lines"] = json!([["delete", held.line_ids], ["create", lines(tryton, order)?]]);
        tryton.write("sale.sale", &[sale], values)?;
    }
    if order.status == "cancelled" {
        if state != "cancelled" {
            tryton.button("sale.sale", "cancel", &[sale])?;
        }
    } else if state == "cancelled" {
        tryton.button("sale.sale", "draft", &[sale])?;
    } else if held.state == "quotation" && state == "draft" {
        tryton.button("sale.sale", "quote", &[sale])?;
    }
    log::info(format!(
        "sale={sale} ref={} was={} status={} content_changed={content_differs} Updated sale.",
        order.external_ref, held.state, order.status
    ));
    Ok(())
}

/// The sale's party, addresses and currency for `order`.
fn header(tryton: &Tryton, order: &SaleOrder) -> Result<Value, Error> {
    let currency = *tryton
        .search(
            "currency.currency",
            json!([["code", "=", order.currency]]),
            1,
        )?
        .first()
        .ok_or_else(|| Error::permanent(format!("no currency `{}` in Tryton", order.currency)))?;
    let party = customer(tryton, &order.customer_email, &order.customer_name)?;
    let shipment = match &order.ship_to {
        Some(ship_to) => Some(address(tryton, party, ship_to)?),
        None => None,
    };
    let invoice = match tryton
        .search_ordered(
            "party.address",
            json!([["party", "=", party]]),
            1,
            json!([["sequence", "ASC"], ["id", "ASC"]]),
        )?
        .first()
    {
        Some(&address) => address,
        None => tryton.create("party.address", json!({"party": party}))?,
    };
    Ok(json!({
        "party": party,
        "invoice_address": invoice,
        // No ship-to, no shipment address: Tryton asks for one before quoting.
        "shipment_address": shipment,
        "currency": currency,
    }))
}

/// The `create` values of the sale lines of `order`, in its order.
fn lines(tryton: &Tryton, order: &SaleOrder) -> Result<Vec<Value>, Error> {
    let mut lines = Vec::with_capacity(order.lines.len());
    for (index, line) in order.lines.iter().enumerate() {
        let (product, unit) = product(tryton, &line.sku)?;
        lines.push(json!({
            "type": "line",
            "sequence": index + 1,
            "product": product,
            "unit": unit,
            "quantity": line.quantity,
            "unit_price": value::decimal_from_minor(line.unit_price_cents, &order.currency),
        }));
    }
    Ok(lines)
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

/// The party of the customer with `email` (lower case): through the id map,
/// else by e-mail, else created; renamed to `name` if it has another; the id
/// map links it either way.
fn customer(tryton: &Tryton, email: &str, name: &str) -> Result<i64, Error> {
    let mut party = idmap::resolve(CUSTOMER_MAP, email).and_then(|id| id.parse::<i64>().ok());
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
        Some(party) => {
            let rows =
                tryton.model("party.party", "read", vec![json!([party]), json!(["name"])])?;
            if !name.is_empty() && rows[0]["name"].as_str() != Some(name) {
                tryton.write("party.party", &[party], json!({"name": name}))?;
                log::info(format!(
                    "party={party} Renamed party to the record's customer name."
                ));
            }
            party
        }
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
        idmap::link(CUSTOMER_MAP, email, &party.to_string())?;
    }
    Ok(party)
}

/// The address of `party` equal to `ship_to`, found or created.
fn address(tryton: &Tryton, party: i64, ship_to: &Address) -> Result<i64, Error> {
    let country = match ship_to.country.trim() {
        "" => None,
        code => Some(country(tryton, &code.to_uppercase())?),
    };
    let existing = tryton.search_ordered(
        "party.address",
        json!([
            ["party", "=", party],
            ["party_name", "=", blank_null(&ship_to.name)],
            ["street_unstructured", "=", blank_null(&ship_to.street)],
            ["city", "=", blank_null(&ship_to.city)],
            ["postal_code", "=", blank_null(&ship_to.postal_code)],
            ["country", "=", country],
        ]),
        1,
        json!([["id", "ASC"]]),
    )?;
    if let Some(&address) = existing.first() {
        return Ok(address);
    }
    tryton.create(
        "party.address",
        json!({
            "party": party,
            "party_name": blank_null(&ship_to.name),
            "street_unstructured": blank_null(&ship_to.street),
            "city": blank_null(&ship_to.city),
            "postal_code": blank_null(&ship_to.postal_code),
            "country": country,
        }),
    )
}

/// The `country.country` with ISO code `code`. Tryton databases start without
/// countries (`trytond_import_countries` loads them from `pycountry`); when the
/// code is missing, the country is created with the code as its name, so that
/// the address keeps it, and a warning says so.
fn country(tryton: &Tryton, code: &str) -> Result<i64, Error> {
    if let Some(&id) = tryton
        .search("country.country", json!([["code", "=", code]]), 1)?
        .first()
    {
        return Ok(id);
    }
    let id = tryton.create("country.country", json!({"name": code, "code": code}))?;
    log::warn(format!(
        "country={code} id={id} Created a missing Tryton country named by its code; import \
         countries with trytond_import_countries for their names."
    ));
    Ok(id)
}

/// Tryton stores an empty text field as null: search and write it so.
fn blank_null(text: &str) -> Value {
    if text.is_empty() {
        Value::Null
    } else {
        json!(text)
    }
}
