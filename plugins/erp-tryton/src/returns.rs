//! Writes of `returns` (canonical [`Return`]s) as Tryton customer return
//! shipments (`stock.shipment.out.return`), and their reconciliation.
//!
//! Only an **approved** return changes Tryton. One return shipment per
//! return, found again by `reference` = the return's `external_ref`, for the
//! customer of the sale whose reference is `order_ref_prefix` + `order_id`:
//! one incoming move per line, from the customer's location to the
//! warehouse's input zone, whose `origin` is the sale's delivery move of that
//! SKU (Tryton wants an origin on moves from customers) and whose unit price
//! is that move's; a line's `reason` becomes a note (`ir.note`) on its move.
//! The shipment is received, the put-away move of each disposed line is sent
//! to the warehouse's waste location instead of its storage zone, and the
//! shipment is done: stock rises by the restocked units only; disposed units
//! end in the waste (lost and found) location, outside the warehouse.
//!
//! - Requested, received or rejected returns book nothing (`None`); an
//!   unfinished shipment of an earlier attempt is cancelled and deleted, and
//!   a done one is a permanent error (it was booked as approved).
//! - A done shipment that equals the return (rebuilt by [`load`]) is the
//!   outcome: nothing is booked twice. One that differs, or a cancelled one,
//!   is a permanent error. A draft one (an attempt that stopped) is deleted
//!   and booked anew; a received one is finished.
//! - No sale yet, or a sale not confirmed yet: retryable. A SKU the sale did
//!   not deliver, more units than it delivered and were not returned yet, a
//!   line of an approved return without disposition, a disposed line in a
//!   warehouse without waste location: permanent.
//! - Warehouse: the one whose name is the return's `location`, else
//!   `return_warehouse` (a code), else the first.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tenon_sdk::canonical::{Return, ReturnLine};
use tenon_sdk::prelude::*;

use crate::rpc::Tryton;
use crate::settings::Settings;

const SHIPMENT: &str = "stock.shipment.out.return";

/// Checks what an approved return must satisfy.
pub fn check(ret: &Return) -> Result<(), Error> {
    if ret.external_ref.is_empty() || ret.order_id.is_empty() {
        return Err(Error::permanent(
            "`external_ref` and `order_id` are required",
        ));
    }
    if ret.lines.is_empty() {
        return Err(Error::permanent("the return has no lines"));
    }
    for (index, line) in ret.lines.iter().enumerate() {
        if line.quantity < 1 {
            return Err(Error::permanent(format!(
                "line {} `{}`: quantity {} is not 1 or more",
                index + 1,
                line.sku,
                line.quantity
            )));
        }
        if ret.state == "approved"
            && !matches!(line.disposition.as_deref(), Some("restock" | "dispose"))
        {
            return Err(Error::permanent(format!(
                "line {} `{}` of an approved return has no disposition (`restock` or `dispose`)",
                index + 1,
                line.sku
            )));
        }
    }
    Ok(())
}

/// The lines a done return shipment holds: its incoming moves in id order,
/// each disposed if its put-away move went to a waste (lost and found)
/// location, restocked otherwise, with the note on the move as its reason.
/// `moves` are the shipment's moves with `from_location.type`,
/// `to_location.type`, `product.code`, `quantity` and `origin`.
pub fn lines_of(moves: &[Value], notes: &BTreeMap<i64, String>) -> Vec<ReturnLine> {
    let mut incoming: Vec<&Value> = moves
        .iter()
        .filter(|mv| mv["from_location."]["type"].as_str() == Some("customer"))
        .collect();
    incoming.sort_by_key(|mv| mv["id"].as_i64());
    incoming
        .iter()
        .map(|mv| {
            let id = mv["id"].as_i64().unwrap_or_default();
            let origin = format!("stock.move,{id}");
            let put_away = moves
                .iter()
                .find(|other| other["origin"].as_str() == Some(origin.as_str()));
            let disposed = put_away
                .is_some_and(|other| other["to_location."]["type"].as_str() == Some("lost_found"));
            ReturnLine {
                sku: mv["product."]["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                quantity: mv["quantity"].as_f64().unwrap_or(0.0).round() as i64,
                disposition: Some(if disposed { "dispose" } else { "restock" }.to_owned()),
                reason: notes.get(&id).cloned(),
            }
        })
        .collect()
}

/// A return shipment with its state and canonical return.
struct Held {
    id: i64,
    state: String,
    number: Option<String>,
    ret: Return,
    /// Its incoming moves, in id order.
    incoming: Vec<i64>,
}

/// The warehouse returns go to and what it needs.
struct Warehouse {
    id: i64,
    name: String,
    input: i64,
    storage: i64,
    waste: Option<i64>,
}

/// The warehouse `return_warehouse` names, else the first.
fn default_warehouse(tryton: &Tryton, settings: &Settings) -> Result<Warehouse, Error> {
    match &settings.return_warehouse {
        Some(code) => warehouse(tryton, json!(["code", "=", code]))?.ok_or_else(|| {
            Error::permanent(format!(
                "config key `return_warehouse`: no Tryton warehouse `{code}`"
            ))
        }),
        None => {
            warehouse(tryton, json!([]))?.ok_or_else(|| Error::permanent("Tryton has no warehouse"))
        }
    }
}

/// The first warehouse matching `clause`.
fn warehouse(tryton: &Tryton, clause: Value) -> Result<Option<Warehouse>, Error> {
    let mut domain = vec![json!(["type", "=", "warehouse"])];
    if clause.as_array().is_some_and(|c| !c.is_empty()) {
        domain.push(clause);
    }
    let rows = tryton.search_read(
        "stock.location",
        Value::Array(domain),
        Some(1),
        json!([["id", "ASC"]]),
        &[
            "name",
            "input_location",
            "storage_location",
            "waste_locations",
        ],
    )?;
    Ok(rows.first().map(|row| Warehouse {
        id: row["id"].as_i64().unwrap_or_default(),
        name: row["name"].as_str().unwrap_or_default().to_owned(),
        input: row["input_location"].as_i64().unwrap_or_default(),
        storage: row["storage_location"].as_i64().unwrap_or_default(),
        waste: row["waste_locations"]
            .as_array()
            .and_then(|w| w.first())
            .and_then(Value::as_i64),
    }))
}

/// Books one delivery as its return shipment; the shipment's id.
pub fn save(tryton: &Tryton, settings: &Settings, delivery: &Delivery) -> Outcome {
    if delivery.envelope.op == Op::Delete {
        return Err(Error::permanent(
            "Tryton return shipments are not deleted by Tenon",
        ));
    }
    let ret: Return = delivery.json()?;
    check(&ret)?;
    let existing = tryton.search_ordered(
        SHIPMENT,
        json!([
            ["reference", "=", ret.external_ref],
            ["company", "=", tryton.company()]
        ]),
        10,
        json!([["id", "ASC"]]),
    )?;
    let held = load(tryton, settings, &existing)?;
    if ret.state != "approved" {
        for shipment in &held {
            match shipment.state.as_str() {
                "done" => {
                    return Err(Error::permanent(format!(
                        "Tryton return shipment {} is done (booked as approved) but the return \
                         is now `{}`: cancel the shipment in Tryton if it was not approved",
                        shipment.id, ret.state
                    )));
                }
                "draft" | "received" => discard(tryton, shipment)?,
                _ => {}
            }
        }
        log::info(format!(
            "ref={} state={} Return not approved: nothing booked.",
            ret.external_ref, ret.state
        ));
        return Ok(None);
    }
    for shipment in &held {
        let name = shipment.number.as_deref().unwrap_or("(no number)");
        match shipment.state.as_str() {
            "done" if shipment.ret == ret => return Ok(Some(shipment.id.to_string())),
            "done" => {
                return Err(Error::permanent(format!(
                    "Tryton return shipment {} {name} is done and differs from the return: \
                     change it in Tryton",
                    shipment.id
                )));
            }
            "received" if shipment.incoming.len() == ret.lines.len() => {
                let warehouse = target(tryton, settings, &ret)?;
                finish(tryton, shipment.id, &shipment.incoming, &ret, &warehouse)?;
                return Ok(Some(shipment.id.to_string()));
            }
            "draft" | "received" => discard(tryton, shipment)?,
            _ => {
                return Err(Error::permanent(format!(
                    "Tryton return shipment {} {name} for this return is {}: not booked again",
                    shipment.id, shipment.state
                )));
            }
        }
    }
    book(tryton, settings, &ret).map(|id| Some(id.to_string()))
}

/// The warehouse `ret` goes to: the one named by its `location`, else the default.
fn target(tryton: &Tryton, settings: &Settings, ret: &Return) -> Result<Warehouse, Error> {
    let warehouse = match &ret.location {
        Some(name) => warehouse(tryton, json!(["name", "=", name]))?
            .ok_or_else(|| Error::permanent(format!("no Tryton warehouse named `{name}`")))?,
        None => default_warehouse(tryton, settings)?,
    };
    let disposes = ret
        .lines
        .iter()
        .any(|line| line.disposition.as_deref() == Some("dispose"));
    if disposes && (warehouse.waste.is_none() || warehouse.input == warehouse.storage) {
        return Err(Error::permanent(format!(
            "Tryton warehouse `{}` has no waste location (or no input zone apart from its \
             storage) for the disposed lines: add one to its waste locations",
            warehouse.name
        )));
    }
    Ok(warehouse)
}

/// Creates, receives and finishes the return shipment of `ret`; its id.
fn book(tryton: &Tryton, settings: &Settings, ret: &Return) -> Result<i64, Error> {
    let reference = format!("{}{}", settings.prefix(), ret.order_id);
    let sales = tryton.search_read(
        "sale.sale",
        json!([["reference", "=", reference]]),
        Some(1),
        json!([["id", "ASC"]]),
        &["state", "party", "party.customer_location"],
    )?;
    let sale = sales.first().ok_or_else(|| {
        Error::retryable(format!("no Tryton sale with reference `{reference}` yet"))
    })?;
    match sale["state"].as_str() {
        Some("draft" | "quotation") => {
            return Err(Error::retryable(format!(
                "Tryton sale {} `{reference}` is not confirmed yet: nothing delivered to return",
                sale["id"]
            )));
        }
        Some("cancelled") => {
            return Err(Error::permanent(format!(
                "Tryton sale {} `{reference}` is cancelled",
                sale["id"]
            )));
        }
        _ => {}
    }
    let warehouse = target(tryton, settings, ret)?;
    let delivered = tryton.search_read(
        "stock.move",
        json!([
            ["origin.sale", "=", sale["id"], "sale.line"],
            ["to_location.type", "=", "customer"],
            ["state", "!=", "cancelled"]
        ]),
        None,
        json!([["id", "ASC"]]),
        &[
            "product",
            "product.code",
            "quantity",
            "unit",
            "unit_price",
            "currency",
            "state",
        ],
    )?;
    let returned = tryton.search_read(
        "stock.move",
        json!([
            [
                "origin",
                "in",
                delivered
                    .iter()
                    .map(|mv| format!("stock.move,{}", mv["id"]))
                    .collect::<Vec<_>>()
            ],
            ["from_location.type", "=", "customer"],
            ["state", "!=", "cancelled"]
        ]),
        None,
        Value::Null,
        &["origin", "quantity"],
    )?;
    // Units of each SKU delivered and not returned yet.
    let mut left: BTreeMap<&str, f64> = BTreeMap::new();
    for mv in &delivered {
        let sku = mv["product."]["code"].as_str().unwrap_or_default();
        *left.entry(sku).or_default() += mv["quantity"].as_f64().unwrap_or(0.0);
        let origin = format!("stock.move,{}", mv["id"]);
        for back in returned
            .iter()
            .filter(|b| b["origin"].as_str() == Some(&origin))
        {
            *left.entry(sku).or_default() -= back["quantity"].as_f64().unwrap_or(0.0);
        }
    }
    let customer_location = match sale["party."]["customer_location"].as_i64() {
        Some(location) => location,
        None => *tryton
            .search("stock.location", json!([["type", "=", "customer"]]), 1)?
            .first()
            .ok_or_else(|| Error::permanent("Tryton has no customer location"))?,
    };
    let mut moves = Vec::with_capacity(ret.lines.len());
    for line in &ret.lines {
        // The delivery it comes back from: a done one if there is one.
        let origin = delivered
            .iter()
            .filter(|mv| mv["product."]["code"].as_str() == Some(line.sku.as_str()))
            .max_by_key(|mv| mv["state"].as_str() == Some("done"))
            .ok_or_else(|| {
                Error::permanent(format!(
                    "Tryton sale {} `{reference}` delivers no `{}`",
                    sale["id"], line.sku
                ))
            })?;
        let remaining = left.entry(line.sku.as_str()).or_default();
        if line.quantity as f64 > *remaining + 1e-9 {
            return Err(Error::permanent(format!(
                "`{}`: {} returned but only {remaining} delivered and not returned yet",
                line.sku, line.quantity
            )));
        }
        *remaining -= line.quantity as f64;
        moves.push(json!({
            "product": origin["product"],
            "unit": origin["unit"],
            "quantity": line.quantity,
            "from_location": customer_location,
            "to_location": warehouse.input,
            "origin": format!("stock.move,{}", origin["id"]),
            "unit_price": origin["unit_price"],
            "currency": origin["currency"],
            "company": tryton.company(),
        }));
    }
    let shipment = tryton.create(
        SHIPMENT,
        json!({
            "customer": sale["party"],
            "company": tryton.company(),
            "warehouse": warehouse.id,
            "warehouse_input": warehouse.input,
            "warehouse_storage": warehouse.storage,
            "reference": ret.external_ref,
            "incoming_moves": [["create", moves]],
        }),
    )?;
    let incoming = tryton.search_ordered(
        "stock.move",
        json!([["shipment", "=", format!("{SHIPMENT},{shipment}")]]),
        ret.lines.len() as u32 + 1,
        json!([["id", "ASC"]]),
    )?;
    if incoming.len() != ret.lines.len() {
        return Err(Error::retryable(format!(
            "Tryton return shipment {shipment} has {} moves for {} lines",
            incoming.len(),
            ret.lines.len()
        )));
    }
    let notes: Vec<Value> = ret
        .lines
        .iter()
        .zip(&incoming)
        .filter_map(|(line, mv)| {
            let reason = line.reason.as_deref().filter(|r| !r.is_empty())?;
            Some(json!({"resource": format!("stock.move,{mv}"), "message": reason}))
        })
        .collect();
    if !notes.is_empty() {
        tryton.model("ir.note", "create", vec![json!(notes)])?;
    }
    tryton.button(SHIPMENT, "receive", &[shipment])?;
    finish(tryton, shipment, &incoming, ret, &warehouse)?;
    log::info(format!(
        "shipment={shipment} ref={} order={reference} Booked a return shipment.",
        ret.external_ref
    ));
    Ok(shipment)
}

/// Sends the put-away moves of the disposed lines of the received shipment
/// to the waste location and finishes it.
fn finish(
    tryton: &Tryton,
    shipment: i64,
    incoming: &[i64],
    ret: &Return,
    warehouse: &Warehouse,
) -> Result<(), Error> {
    let origins: Vec<String> = incoming
        .iter()
        .map(|id| format!("stock.move,{id}"))
        .collect();
    let put_away = tryton.search_read(
        "stock.move",
        json!([
            ["shipment", "=", format!("{SHIPMENT},{shipment}")],
            ["origin", "in", origins]
        ]),
        None,
        Value::Null,
        &["origin"],
    )?;
    let mut disposed = Vec::new();
    for (line, mv) in ret.lines.iter().zip(incoming) {
        if line.disposition.as_deref() != Some("dispose") {
            continue;
        }
        let origin = format!("stock.move,{mv}");
        disposed.extend(
            put_away
                .iter()
                .filter(|p| p["origin"].as_str() == Some(origin.as_str()))
                .filter_map(|p| p["id"].as_i64()),
        );
    }
    if let (false, Some(waste)) = (disposed.is_empty(), warehouse.waste) {
        tryton.write("stock.move", &disposed, json!({"to_location": waste}))?;
    }
    tryton.button(SHIPMENT, "do", &[shipment])
}

/// Cancels and deletes an unfinished shipment of an earlier attempt, with
/// the notes on its moves.
fn discard(tryton: &Tryton, shipment: &Held) -> Result<(), Error> {
    let resources: Vec<String> = shipment
        .incoming
        .iter()
        .map(|id| format!("stock.move,{id}"))
        .collect();
    let notes = tryton.search("ir.note", json!([["resource", "in", resources]]), 1000)?;
    tryton.delete("ir.note", &notes)?;
    tryton.button(SHIPMENT, "cancel", &[shipment.id])?;
    tryton.delete(SHIPMENT, &[shipment.id])?;
    log::info(format!(
        "shipment={} was={} Discarded an unfinished return shipment.",
        shipment.id, shipment.state
    ));
    Ok(())
}

/// The return shipments `ids`, rebuilt as canonical returns.
fn load(tryton: &Tryton, settings: &Settings, ids: &[i64]) -> Result<Vec<Held>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let shipments = tryton.read(
        SHIPMENT,
        ids,
        &[
            "reference",
            "state",
            "number",
            "warehouse",
            "warehouse.name",
        ],
    )?;
    let refs: Vec<String> = ids.iter().map(|id| format!("{SHIPMENT},{id}")).collect();
    let moves = tryton.search_read(
        "stock.move",
        json!([["shipment", "in", refs]]),
        None,
        json!([["id", "ASC"]]),
        &[
            "shipment",
            "from_location.type",
            "to_location.type",
            "product.code",
            "quantity",
            "origin",
        ],
    )?;
    let incoming: Vec<&Value> = moves
        .iter()
        .filter(|mv| mv["from_location."]["type"].as_str() == Some("customer"))
        .collect();
    let resources: Vec<String> = incoming
        .iter()
        .map(|mv| format!("stock.move,{}", mv["id"]))
        .collect();
    let notes: BTreeMap<i64, String> = tryton
        .search_read(
            "ir.note",
            json!([["resource", "in", resources]]),
            None,
            json!([["id", "ASC"]]),
            &["resource", "message"],
        )?
        .iter()
        .filter_map(|note| {
            let id = note["resource"]
                .as_str()?
                .strip_prefix("stock.move,")?
                .parse()
                .ok()?;
            Some((id, note["message"].as_str()?.to_owned()))
        })
        .collect();
    // Order ids through the deliveries the incoming moves come from.
    let deliveries: Vec<i64> = incoming
        .iter()
        .filter_map(|mv| {
            mv["origin"]
                .as_str()?
                .strip_prefix("stock.move,")?
                .parse()
                .ok()
        })
        .collect();
    let delivery_origin: BTreeMap<i64, i64> = tryton
        .read("stock.move", &dedup(deliveries), &["origin"])?
        .iter()
        .filter_map(|mv| {
            let line = mv["origin"]
                .as_str()?
                .strip_prefix("sale.line,")?
                .parse()
                .ok()?;
            Some((mv["id"].as_i64()?, line))
        })
        .collect();
    let sale_reference: BTreeMap<i64, String> = tryton
        .read(
            "sale.line",
            &dedup(delivery_origin.values().copied().collect()),
            &["sale.reference"],
        )?
        .iter()
        .filter_map(|line| {
            Some((
                line["id"].as_i64()?,
                line["sale."]["reference"].as_str()?.to_owned(),
            ))
        })
        .collect();
    let default = default_warehouse(tryton, settings).ok().map(|w| w.id);

    let mut held = Vec::with_capacity(shipments.len());
    for shipment in &shipments {
        let id = shipment["id"].as_i64().unwrap_or_default();
        let reference = format!("{SHIPMENT},{id}");
        let own: Vec<Value> = moves
            .iter()
            .filter(|mv| mv["shipment"].as_str() == Some(reference.as_str()))
            .cloned()
            .collect();
        let lines = lines_of(&own, &notes);
        let order_id = own
            .iter()
            .filter(|mv| mv["from_location."]["type"].as_str() == Some("customer"))
            .filter_map(|mv| {
                mv["origin"]
                    .as_str()?
                    .strip_prefix("stock.move,")?
                    .parse::<i64>()
                    .ok()
            })
            .filter_map(|delivery| sale_reference.get(delivery_origin.get(&delivery)?))
            .next()
            .map(|reference| {
                reference
                    .strip_prefix(settings.prefix())
                    .unwrap_or(reference)
                    .to_owned()
            })
            .unwrap_or_default();
        let warehouse = shipment["warehouse"].as_i64();
        let state = shipment["state"].as_str().unwrap_or_default().to_owned();
        let mut incoming: Vec<i64> = own
            .iter()
            .filter(|mv| mv["from_location."]["type"].as_str() == Some("customer"))
            .filter_map(|mv| mv["id"].as_i64())
            .collect();
        incoming.sort_unstable();
        held.push(Held {
            id,
            number: shipment["number"].as_str().map(str::to_owned),
            ret: Return {
                external_ref: shipment["reference"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                order_id,
                state: if state == "done" {
                    "approved"
                } else {
                    "received"
                }
                .to_owned(),
                lines,
                location: (warehouse != default)
                    .then(|| shipment["warehouse."]["name"].as_str().map(str::to_owned))
                    .flatten(),
            },
            state,
            incoming,
        });
    }
    held.sort_by_key(|shipment| ids.iter().position(|id| *id == shipment.id));
    Ok(held)
}

/// One page of `reconcile` for `returns`: the done return shipments with a
/// reference, by id, after the id in `cursor`.
pub fn reconcile(
    tryton: &Tryton,
    settings: &Settings,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page, Error> {
    let listing = crate::held::Listing {
        stream: crate::RETURNS,
        model: SHIPMENT,
        what: "return shipments",
    };
    let domain = vec![
        json!(["company", "=", tryton.company()]),
        json!(["reference", "!=", null]),
        json!(["reference", "!=", ""]),
        json!(["state", "=", "done"]),
    ];
    listing.page(tryton, domain, cursor, limit, |ids| {
        Ok(load(tryton, settings, ids)?
            .into_iter()
            .map(|held| (held.id, held.ret))
            .collect())
    })
}

fn dedup(mut ids: Vec<i64>) -> Vec<i64> {
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(
        sku: &str,
        quantity: i64,
        disposition: Option<&str>,
        reason: Option<&str>,
    ) -> ReturnLine {
        ReturnLine {
            sku: sku.into(),
            quantity,
            disposition: disposition.map(Into::into),
            reason: reason.map(Into::into),
        }
    }

    fn approved() -> Return {
        Return {
            external_ref: "3pl:rma:RMA-1001-1".into(),
            order_id: "1001".into(),
            state: "approved".into(),
            lines: vec![
                line("MUG-WHT", 1, Some("restock"), None),
                line("TEE-BLK-M", 1, Some("dispose"), Some("damaged")),
            ],
            location: None,
        }
    }

    #[test]
    fn approved_lines_need_a_disposition() {
        assert!(check(&approved()).is_ok());
        let mut undecided = approved();
        undecided.lines[1].disposition = None;
        assert!(
            check(&undecided)
                .unwrap_err()
                .message()
                .contains("line 2 `TEE-BLK-M`")
        );
        undecided.state = "received".into();
        assert!(check(&undecided).is_ok());
        let mut empty = approved();
        empty.lines.clear();
        assert!(check(&empty).is_err());
    }

    #[test]
    fn a_done_shipment_rebuilds_its_lines() {
        // The moves of a return shipment as Tryton 8.2 answers them: incoming
        // moves from the customer, put-away moves from the input zone whose
        // origin is the incoming move, to storage or to lost and found.
        let mv = |id: i64, from: &str, to: &str, sku: &str, origin: &str| {
            json!({"id": id, "from_location.": {"type": from}, "to_location.": {"type": to},
                "product.": {"code": sku}, "quantity": 1.0, "origin": origin})
        };
        let moves = [
            mv(8, "storage", "lost_found", "TEE-BLK-M", "stock.move,6"),
            mv(7, "storage", "storage", "MUG-WHT", "stock.move,5"),
            mv(6, "customer", "storage", "TEE-BLK-M", "stock.move,2"),
            mv(5, "customer", "storage", "MUG-WHT", "stock.move,1"),
        ];
        let notes = BTreeMap::from([(6, "damaged".to_owned())]);
        assert_eq!(lines_of(&moves, &notes), approved().lines);
    }
}
