//! The `fulfilments` stream: parcels shipped for a Vendure order, with tracking.
//!
//! Each record becomes one Vendure fulfilment (`addFulfillmentToOrder` with the
//! `manual-fulfillment` handler), moved to `Shipped`. A parcel is known by its
//! tracking number: if the order already has a fulfilment with that tracking
//! code, the record is applied already and its id is returned, so a record
//! delivered twice creates one fulfilment. A shipment split in two parcels is two
//! records, hence two fulfilments.

use serde::Deserialize;
use serde_json::{Value, json};
use tenon_sdk::prelude::*;

use crate::graphql;

/// JSON Schema of a `fulfilments` payload.
pub const FULFILMENT_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["order_id", "tracking_number", "lines"],
  "properties": {
    "order_id": {"type": "string", "description": "Vendure order id"},
    "tracking_number": {"type": "string", "minLength": 1},
    "carrier": {"type": "string"},
    "lines": {
      "type": "array",
      "minItems": 1,
      "items": {
        "type": "object",
        "required": ["sku", "quantity"],
        "properties": {"sku": {"type": "string"}, "quantity": {"type": "integer", "minimum": 1}}
      }
    }
  }
}"#;

/// A `fulfilments` payload.
#[derive(Deserialize)]
struct Parcel {
    order_id: String,
    tracking_number: String,
    #[serde(default)]
    carrier: Option<String>,
    lines: Vec<ParcelLine>,
}

#[derive(Deserialize)]
struct ParcelLine {
    sku: String,
    quantity: i64,
}

#[derive(Deserialize)]
struct OrderData {
    order: Option<Order>,
}

#[derive(Deserialize)]
struct Order {
    fulfillments: Option<Vec<Fulfillment>>,
    lines: Vec<OrderLine>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Fulfillment {
    id: String,
    state: String,
    tracking_code: Option<String>,
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

/// Applies each parcel; the outcome is the Vendure fulfilment id.
pub fn write(batch: &[Delivery]) -> Result<Vec<Outcome>, Error> {
    Ok(record::apply_each(batch, |delivery| {
        if delivery.envelope.op == Op::Delete {
            return Err(Error::permanent("fulfilments cannot be deleted"));
        }
        fulfil(&delivery.envelope.json()?)
    }))
}

fn fulfil(parcel: &Parcel) -> Result<Option<String>, Error> {
    if parcel.tracking_number.is_empty() {
        return Err(Error::permanent("the tracking number is empty"));
    }
    let data: OrderData = graphql::query(
        "query Order($id: ID!) { order(id: $id) { fulfillments { id state trackingCode } lines { id productVariant { sku } } } }",
        json!({"id": parcel.order_id}),
    )?;
    let order = data.order.ok_or_else(|| {
        Error::permanent(format!("order `{}` is not in Vendure", parcel.order_id))
    })?;
    let existing = order
        .fulfillments
        .unwrap_or_default()
        .into_iter()
        .find(|f| f.tracking_code.as_deref() == Some(parcel.tracking_number.as_str()));
    let id = match existing {
        Some(f) if f.state == "Shipped" || f.state == "Delivered" => return Ok(Some(f.id)),
        Some(f) => f.id,
        None => create(parcel, &order.lines)?,
    };
    ship(&id)?;
    Ok(Some(id))
}

/// Adds the fulfilment; returns its id.
fn create(parcel: &Parcel, lines: &[OrderLine]) -> Result<String, Error> {
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
            {"name": "method", "value": parcel.carrier.as_deref().unwrap_or("")},
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
        "mutation Ship($id: ID!) { transitionFulfillmentToState(id: $id, state: \"Shipped\") { ... on Fulfillment { id state } ... on ErrorResult { errorCode message } } }",
        json!({ "id": id }),
    )?;
    let result = data["transitionFulfillmentToState"].take();
    if result["state"].as_str() == Some("Shipped") {
        Ok(())
    } else {
        Err(Error::permanent(format!(
            "Vendure did not ship fulfilment `{id}`: {}",
            result["message"].as_str().unwrap_or("no message")
        )))
    }
}
