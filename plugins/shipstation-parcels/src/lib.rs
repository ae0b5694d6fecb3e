//! `shipstation-parcels`: ShipStation's shipments to canonical `fulfilments`,
//! the parcels a storefront shows its customer with their tracking numbers.
//!
//! - **Takes** `shipments` records of `wms-shipstation` (one per parcel: a
//!   shipment split in two parcels is two records), from polling or from the
//!   SHIP_NOTIFY webhook alike; records of other streams pass through.
//! - **Gives** one `fulfilments` record per parcel, same key (the shipment id)
//!   and source time: `order_id` = the storefront's order id, read from the
//!   order key the 3PL was given (`shop:1001` -> `1001`, after
//!   `reference_prefix`), `tracking_number`, `carrier` (ShipStation's carrier
//!   code), `lines` = the parcel's items, merged per SKU and sorted by SKU.
//! - **Drops** voided shipments (the label was cancelled; nothing left the
//!   warehouse) and logs them.
//! - **Refuses** (permanent, naming the record) a parcel without a tracking
//!   number or items, or whose order key lacks the prefix: the order did not
//!   come from this storefront.
//! - **Config**: `reference_prefix` (default `shop:`), the same as
//!   `order-to-sale`'s for the flow that sent the orders.

use std::collections::BTreeMap;

use serde::Deserialize;
use tenon_sdk::canonical::{Fulfilment, FulfilmentLine};
use tenon_sdk::prelude::*;

/// The stream taken.
const SHIPMENTS: &str = "shipments";

/// The default `reference_prefix`, `order-to-sale`'s.
const DEFAULT_PREFIX: &str = "shop:";

/// A `shipments` payload of `wms-shipstation`: the fields this transform reads.
#[derive(Debug, Deserialize)]
struct Parcel {
    shipment_id: String,
    order_key: String,
    tracking_number: String,
    #[serde(default)]
    carrier: String,
    #[serde(default)]
    voided: bool,
    #[serde(default)]
    items: Vec<Item>,
}

#[derive(Debug, Deserialize)]
struct Item {
    sku: String,
    quantity: i64,
}

struct ShipStationParcels;

impl Transform for ShipStationParcels {
    fn describe() -> Descriptor {
        Descriptor {
            name: "shipstation-parcels".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: Kind::Transform,
            description:
                "ShipStation shipments to storefront fulfilments with tracking, one per parcel."
                    .to_owned(),
            streams: vec![
                StreamInfo::writable(SHIPMENTS, tenon_sdk::describe::ANY_OBJECT_SCHEMA),
                canonical::readable(canonical::FULFILMENTS, None, canonical::FULFILMENTS),
            ],
            egress: Vec::new(),
            config: vec![ConfigKey::optional(
                "reference_prefix",
                "What precedes the storefront's order id in the 3PL's order key.",
                Some(DEFAULT_PREFIX),
            )],
            secrets: Vec::new(),
        }
    }

    fn transform(batch: Vec<Envelope>) -> Result<Vec<Envelope>, Error> {
        let prefix = config::get("reference_prefix").unwrap_or_else(|| DEFAULT_PREFIX.to_owned());
        let mut out = Vec::with_capacity(batch.len());
        for envelope in batch {
            if envelope.stream != SHIPMENTS {
                out.push(envelope);
                continue;
            }
            if let Some(record) = fulfilment(&envelope, &prefix)
                .map_err(|e| e.context(format!("record `{}`", envelope.key)))?
            {
                out.push(record);
            }
        }
        Ok(out)
    }
}

/// The `fulfilments` record of one parcel, `None` for a voided one.
fn fulfilment(envelope: &Envelope, prefix: &str) -> Result<Option<Envelope>, Error> {
    let time = envelope.source_time.as_deref();
    if envelope.op == Op::Delete {
        return Ok(Some(Envelope::delete(
            canonical::FULFILMENTS,
            &envelope.key,
            time,
        )));
    }
    let parcel: Parcel = envelope.json()?;
    if parcel.voided {
        log::info(format!(
            "shipment={} order={} Dropped a voided shipment.",
            parcel.shipment_id, parcel.order_key
        ));
        return Ok(None);
    }
    let fulfilment = map_parcel(&parcel, prefix).map_err(Error::permanent)?;
    Envelope::upsert(canonical::FULFILMENTS, &envelope.key, &fulfilment, time).map(Some)
}

fn map_parcel(parcel: &Parcel, prefix: &str) -> Result<Fulfilment, String> {
    let order_id = parcel
        .order_key
        .strip_prefix(prefix)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            format!(
                "order key `{}` does not start with `{prefix}`: not an order of this storefront",
                parcel.order_key
            )
        })?;
    if parcel.tracking_number.trim().is_empty() {
        return Err(format!(
            "shipment {} has no tracking number",
            parcel.shipment_id
        ));
    }
    let mut quantities: BTreeMap<&str, i64> = BTreeMap::new();
    for item in &parcel.items {
        if item.quantity < 1 {
            return Err(format!(
                "sku `{}`: quantity {} is not positive",
                item.sku, item.quantity
            ));
        }
        *quantities.entry(&item.sku).or_default() += item.quantity;
    }
    if quantities.is_empty() {
        return Err(format!("shipment {} has no items", parcel.shipment_id));
    }
    Ok(Fulfilment {
        order_id: order_id.to_owned(),
        tracking_number: parcel.tracking_number.trim().to_owned(),
        carrier: parcel.carrier.clone(),
        lines: quantities
            .into_iter()
            .map(|(sku, quantity)| FulfilmentLine {
                sku: sku.to_owned(),
                quantity,
            })
            .collect(),
    })
}

export_transform!(ShipStationParcels);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parcel(order_key: &str, tracking: &str, items: serde_json::Value) -> Parcel {
        serde_json::from_value(json!({
            "shipment_id": "7", "order_id": "3", "order_key": order_key,
            "order_number": order_key, "tracking_number": tracking, "carrier": "ups",
            "ship_date": "2026-11-23", "created_at": "2026-11-23T10:00:00.0000000",
            "voided": false, "items": items
        }))
        .unwrap()
    }

    #[test]
    fn a_parcel_becomes_a_fulfilment_of_the_storefront_order() {
        let items = json!([{"sku": "TEE", "quantity": 1}, {"sku": "MUG", "quantity": 2}, {"sku": "TEE", "quantity": 1}]);
        let fulfilment = map_parcel(&parcel("shop:42", " 1Z999 ", items), "shop:").unwrap();
        assert_eq!(fulfilment.order_id, "42");
        assert_eq!(fulfilment.tracking_number, "1Z999");
        assert_eq!(fulfilment.carrier, "ups");
        let lines: Vec<(&str, i64)> = fulfilment
            .lines
            .iter()
            .map(|l| (l.sku.as_str(), l.quantity))
            .collect();
        assert_eq!(lines, [("MUG", 2), ("TEE", 2)]);
    }

    #[test]
    fn foreign_orders_and_parcels_without_tracking_or_items_are_refused() {
        let items = json!([{"sku": "TEE", "quantity": 1}]);
        let error = map_parcel(&parcel("pos:42", "1Z", items.clone()), "shop:").unwrap_err();
        assert!(error.contains("does not start with `shop:`"), "{error}");
        let error = map_parcel(&parcel("shop:42", " ", items), "shop:").unwrap_err();
        assert!(error.contains("no tracking number"), "{error}");
        let error = map_parcel(&parcel("shop:42", "1Z", json!([])), "shop:").unwrap_err();
        assert!(error.contains("no items"), "{error}");
    }
}
