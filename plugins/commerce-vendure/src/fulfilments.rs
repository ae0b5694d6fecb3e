//! The `fulfilments` stream: parcels shipped for a Vendure order, with tracking,
//! as canonical [`Fulfilment`]s; written, and listed for `reconcile`.
//!
//! Each record becomes one Vendure fulfilment (`addFulfillmentToOrder` with the
//! `manual-fulfillment` handler, whose `method` argument is the record's
//! `carrier` and `trackingCode` its tracking number), moved to `Shipped`. A
//! parcel is known by its tracking number: if the order already has a
//! fulfilment (not cancelled) with that tracking code, the record is applied
//! already and its id is returned, so a record delivered twice creates one
//! fulfilment. A shipment split in two parcels is two records, hence two
//! fulfilments. The outcome id is the fulfilment id.
//!
//! `reconcile` lists every fulfilment of every order except cancelled ones,
//! keyed by fulfilment id, payload `{order_id, tracking_number, carrier, lines}`
//! with `carrier` = the fulfilment's `method` and `lines` `[{sku, quantity}]`
//! **sorted by sku**: canonical fulfilment lines are sorted by sku, and a
//! source whose transform keeps another order shows as `different`.

use serde::Deserialize;
use serde_json::{Value, json};
use tenon_sdk::canonical::{Fulfilment, FulfilmentLine};
use tenon_sdk::prelude::*;

use crate::{FULFILMENTS, graphql, listing};

#[derive(Deserialize)]
struct OrderData {
    order: Option<Order>,
}

#[derive(Deserialize)]
struct Order {
    id: String,
    fulfillments: Option<Vec<Fulfillment>>,
    lines: Vec<OrderLine>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Fulfillment {
    id: String,
    state: String,
    method: Option<String>,
    tracking_code: Option<String>,
    lines: Vec<FulfillmentLine>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FulfillmentLine {
    order_line_id: String,
    quantity: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderLine {
    id: String,
    product_variant: Sku,
}

#[derive(Deserialize)]
struct Sku {
    sku: String,
}

/// The fields of an order both the write and `reconcile` read.
const ORDER_FIELDS: &str = "id fulfillments { id state method trackingCode lines { orderLineId quantity } } lines { id productVariant { sku } }";

/// Applies each parcel; the outcome is the Vendure fulfilment id.
pub fn write(batch: &[Delivery]) -> Result<Vec<Outcome>, Error> {
    Ok(record::apply_each(batch, |delivery| {
        if delivery.envelope.op == Op::Delete {
            return Err(Error::permanent("fulfilments cannot be deleted"));
        }
        fulfil(&delivery.envelope.json()?)
    }))
}

fn fulfil(parcel: &Fulfilment) -> Result<Option<String>, Error> {
    if parcel.tracking_number.is_empty() {
        return Err(Error::permanent("the tracking number is empty"));
    }
    if parcel.lines.is_empty() {
        return Err(Error::permanent("the parcel has no lines"));
    }
    if let Some(line) = parcel.lines.iter().find(|l| l.quantity < 1) {
        return Err(Error::permanent(format!(
            "sku `{}`: quantity {} is not positive",
            line.sku, line.quantity
        )));
    }
    let data: OrderData = graphql::query(
        &format!("query Order($id: ID!) {{ order(id: $id) {{ {ORDER_FIELDS} }} }}"),
        json!({"id": parcel.order_id}),
    )?;
    let order = data.order.ok_or_else(|| {
        Error::permanent(format!("order `{}` is not in Vendure", parcel.order_id))
    })?;
    let existing = order
        .fulfillments
        .unwrap_or_default()
        .into_iter()
        .find(|f| {
            f.state != "Cancelled"
                && f.tracking_code.as_deref() == Some(parcel.tracking_number.as_str())
        });
    let id = match existing {
        Some(f) if f.state == "Shipped" || f.state == "Delivered" => return Ok(Some(f.id)),
        Some(f) => f.id,
        None => create(parcel, &order.lines)?,
    };
    ship(&id)?;
    Ok(Some(id))
}

/// Adds the fulfilment; returns its id.
fn create(parcel: &Fulfilment, lines: &[OrderLine]) -> Result<String, Error> {
    let mut wanted = Vec::with_capacity(parcel.lines.len());
    for line in &parcel.lines {
        let order_line = lines
            .iter()
            .find(|l| l.product_variant.sku == line.sku)
            .ok_or_else(|| {
                Error::permanent(format!(
                    "order `{}` has no line with sku `{}`",
                    parcel.order_id, line.sku
                ))
            })?;
        wanted.push(json!({"orderLineId": order_line.id, "quantity": line.quantity}));
    }
    let input = json!({
        "lines": wanted,
        "handler": {"code": "manual-fulfillment", "arguments": [
            {"name": "method", "value": parcel.carrier},
            {"name": "trackingCode", "value": parcel.tracking_number},
        ]},
    });
    let mut data: Value = graphql::query(
        "mutation Fulfil($input: FulfillOrderInput!) { addFulfillmentToOrder(input: $input) { ... on Fulfillment { id } ... on ErrorResult { errorCode message } } }",
        json!({ "input": input }),
    )?;
    let result = data["addFulfillmentToOrder"].take();
    result["id"].as_str().map(str::to_owned).ok_or_else(|| {
        Error::permanent(format!(
            "Vendure refused the fulfilment of order `{}` ({}): {}",
            parcel.order_id,
            result["errorCode"].as_str().unwrap_or("?"),
            result["message"].as_str().unwrap_or("no message")
        ))
    })
}

/// Moves a fulfilment to `Shipped`.
fn ship(id: &str) -> Result<(), Error> {
    let mut data: Value = graphql::query(
        "mutation Ship($id: ID!) { transitionFulfillmentToState(id: $id, state: \"Shipped\") { ... on Fulfillment { id state } ... on FulfillmentStateTransitionError { errorCode message transitionError } } }",
        json!({ "id": id }),
    )?;
    let result = data["transitionFulfillmentToState"].take();
    if result["state"].as_str() == Some("Shipped") {
        Ok(())
    } else {
        // `transitionError` says why (`order KP3R... is on hold`); `message`
        // is only the error's code.
        Err(Error::permanent(format!(
            "Vendure did not ship fulfilment `{id}`: {}",
            result["transitionError"]
                .as_str()
                .or(result["message"].as_str())
                .unwrap_or("no message")
        )))
    }
}

/// The canonical payload of fulfilment `f` of `order`, lines sorted by sku.
fn canonical(order: &Order, f: &Fulfillment) -> Fulfilment {
    let mut lines: Vec<FulfilmentLine> = f
        .lines
        .iter()
        .map(|l| FulfilmentLine {
            sku: order
                .lines
                .iter()
                .find(|o| o.id == l.order_line_id)
                .map_or_else(String::new, |o| o.product_variant.sku.clone()),
            quantity: l.quantity,
        })
        .collect();
    lines.sort_by(|a, b| (&a.sku, a.quantity).cmp(&(&b.sku, b.quantity)));
    Fulfilment {
        order_id: order.id.clone(),
        tracking_number: f.tracking_code.clone().unwrap_or_default(),
        carrier: f.method.clone().unwrap_or_default(),
        lines,
    }
}

/// One page of every fulfilment of every order (cancelled ones left out),
/// keyed by fulfilment id, in order id, then fulfilment id order.
pub fn reconcile(cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let query = format!(
        "query Orders($options: OrderListOptions) {{ orders(options: $options) {{ items {{ {ORDER_FIELDS} }} }} }}"
    );
    let page = listing::page(
        &listing::Listed::new(&query, "orders"),
        cursor,
        limit,
        |o: &Order| &o.id,
        |order| {
            order
                .fulfillments
                .iter()
                .flatten()
                .filter(|f| f.state != "Cancelled")
                .map(|f| {
                    Ok((
                        f.id.clone(),
                        Envelope::upsert(FULFILMENTS, &f.id, &canonical(order, f), None)?,
                    ))
                })
                .collect()
        },
    )?;
    log::info(format!(
        "count={} more={} Listed Vendure fulfilments.",
        page.records.len(),
        page.more
    ));
    Ok(page)
}
