//! The `fulfilments` stream: parcels shipped for a Magento order, with
//! tracking, as canonical [`Fulfilment`]s; written as Magento shipments, and
//! listed for `reconcile`.
//!
//! A record becomes one shipment: `POST /V1/order/{order_id}/ship` with the
//! record's lines as `items` (each SKU's order item, from `GET
//! /V1/orders/{id}`: a top-level item, so a configurable line ships through
//! its parent) and one track `{track_number, title: carrier, carrier_code:
//! "custom"}`. Magento answers the shipment's id, the outcome id.
//!
//! Magento takes no idempotency key, and a shipment sent twice is shipped
//! twice. So before shipping, the order's shipments (`GET /V1/shipments`,
//! `order_id eq`) are looked up for one with the record's tracking number:
//! if there is one, the parcel is shipped already and its id is the outcome.
//! The look-up is made for every record, not only for repeats the host knows
//! of (`tenon:delivery`'s attempts): a parcel also comes again under a new
//! idempotency key when its source record changes (a corrected carrier), and
//! must not ship a second time then either.
//!
//! `reconcile` lists every shipment, keyed by its id, payload `{order_id,
//! tracking_number, carrier, lines}` from its first track (number, title)
//! and items, **lines sorted by SKU**; the row Magento adds under a
//! configurable line (same SKU, price 0) is left out.

use serde::Deserialize;
use serde_json::{Value, json};
use tenon_sdk::canonical::{Fulfilment, FulfilmentLine};
use tenon_sdk::prelude::*;

use crate::criteria::{self, SearchCriteria};
use crate::listing::{self, Row};
use crate::orders::{self, MagentoOrder};
use crate::rest::{Magento, Scope};
use crate::{FULFILMENTS, money};

/// A shipment as `GET /V1/shipments` lists it.
#[derive(Debug, Deserialize)]
struct Shipment {
    entity_id: u64,
    order_id: u64,
    #[serde(default)]
    items: Vec<ShipmentItem>,
    #[serde(default)]
    tracks: Vec<Track>,
}

impl listing::Item for Shipment {
    fn entity_id(&self) -> u64 {
        self.entity_id
    }
}

#[derive(Debug, Deserialize)]
struct ShipmentItem {
    #[serde(default)]
    sku: String,
    #[serde(default)]
    qty: Value,
    #[serde(default)]
    price: Value,
}

#[derive(Debug, Deserialize)]
struct Track {
    #[serde(default)]
    track_number: String,
    #[serde(default)]
    title: Option<String>,
}

/// Ships each parcel once; the outcome is the Magento shipment id.
pub fn write(api: &Magento, batch: &[Delivery]) -> Result<Vec<Outcome>, Error> {
    Ok(record::apply_each(batch, |delivery| {
        if delivery.envelope.op == Op::Delete {
            return Err(Error::permanent(
                "shipments cannot be deleted through Tenon",
            ));
        }
        let parcel: Fulfilment = delivery.json()?;
        check(&parcel)?;
        let (order_id, order): (u64, MagentoOrder) = orders::fetch(api, &parcel.order_id)?;
        if let Some(shipped) = shipped_already(api, order_id, &parcel.tracking_number)? {
            return Ok(Some(shipped.to_string()));
        }
        let body = shipment(&parcel, &order)?;
        let answer: Value = api.post(Scope::Store, &format!("/order/{order_id}/ship"), &body)?;
        let id = shipment_id(&answer).ok_or_else(|| {
            Error::permanent(format!(
                "Magento answered the shipment of order {order_id} with `{answer}`, not its id"
            ))
        })?;
        log::info(format!(
            "order={order_id} shipment={id} tracking={} Shipped a parcel in Magento.",
            parcel.tracking_number
        ));
        Ok(Some(id))
    }))
}

/// Why Magento cannot ship `parcel`, if it cannot.
fn check(parcel: &Fulfilment) -> Result<(), Error> {
    if parcel.tracking_number.trim().is_empty() {
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
    Ok(())
}

/// The id of the shipment of order `order_id` with tracking number
/// `tracking`, if Magento has one.
fn shipped_already(api: &Magento, order_id: u64, tracking: &str) -> Result<Option<u64>, Error> {
    let shipments: Vec<Shipment> = criteria::all(
        api,
        Scope::Store,
        "/shipments",
        &SearchCriteria::new()
            .filter("order_id", "eq", &order_id.to_string())
            .page_size(api.settings.page_size),
    )?;
    Ok(shipments
        .iter()
        .find(|s| s.tracks.iter().any(|t| t.track_number == tracking))
        .map(|s| s.entity_id))
}

/// The body of `POST /V1/order/{id}/ship` for `parcel` of `order`.
fn shipment(parcel: &Fulfilment, order: &MagentoOrder) -> Result<Value, Error> {
    let mut items: Vec<Value> = Vec::with_capacity(parcel.lines.len());
    for line in &parcel.lines {
        let candidates: Vec<&orders::Item> = order
            .items
            .iter()
            .filter(|i| i.parent_item_id.is_none() && i.sku == line.sku)
            .collect();
        // Of two items with one SKU, the first with enough left to ship.
        let item = candidates
            .iter()
            .find(|i| left_to_ship(i) >= line.quantity)
            .or(candidates.first())
            .ok_or_else(|| {
                Error::permanent(format!(
                    "order {} has no line with sku `{}`",
                    order.entity_id, line.sku
                ))
            })?;
        items.push(json!({"order_item_id": item.item_id, "qty": line.quantity}));
    }
    Ok(json!({
        "items": items,
        "notify": false,
        "tracks": [{
            "track_number": parcel.tracking_number,
            "title": parcel.carrier,
            "carrier_code": "custom",
        }],
    }))
}

/// What is left to ship of an order item (ordered less shipped and
/// cancelled).
fn left_to_ship(item: &orders::Item) -> i64 {
    let qty = |v: &Value| money::whole(v).unwrap_or(0);
    qty(&item.qty_ordered) - qty(&item.qty_shipped) - qty(&item.qty_canceled)
}

/// The shipment id Magento answers: a number, or a number as text.
fn shipment_id(answer: &Value) -> Option<String> {
    match answer {
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        Value::String(s) => s.trim().parse::<u64>().ok().map(|n| n.to_string()),
        _ => None,
    }
}

/// One page of every shipment, keyed by its id.
pub fn reconcile(api: &Magento, cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let page = listing::page(
        api,
        Scope::Store,
        "/shipments",
        SearchCriteria::new(),
        cursor,
        limit,
        |shipments: &[Shipment]| {
            shipments
                .iter()
                .map(|s| {
                    Ok(Row {
                        id: s.entity_id,
                        sub: String::new(),
                        envelope: Envelope::upsert(
                            FULFILMENTS,
                            &s.entity_id.to_string(),
                            &canonical(s),
                            None,
                        )?,
                    })
                })
                .collect()
        },
    )?;
    log::info(format!(
        "count={} more={} Listed Magento shipments.",
        page.records.len(),
        page.more
    ));
    Ok(page)
}

/// The canonical parcel of a shipment, lines sorted by SKU.
fn canonical(s: &Shipment) -> Fulfilment {
    let lines: Vec<(&ShipmentItem, i64)> = s
        .items
        .iter()
        .filter_map(|i| money::whole(&i.qty).filter(|q| *q > 0).map(|q| (i, q)))
        .collect();
    let priced = |(i, _): &(&ShipmentItem, i64)| money::nonzero(&i.price);
    let mut lines: Vec<FulfilmentLine> = orders::without_child_rows(lines, |(i, _)| &i.sku, priced)
        .into_iter()
        .map(|(i, quantity)| FulfilmentLine {
            sku: i.sku.clone(),
            quantity,
        })
        .collect();
    lines.sort_by(|a, b| (&a.sku, a.quantity).cmp(&(&b.sku, b.quantity)));
    let track = s.tracks.first();
    Fulfilment {
        order_id: s.order_id.to_string(),
        tracking_number: track.map(|t| t.track_number.clone()).unwrap_or_default(),
        carrier: track.and_then(|t| t.title.clone()).unwrap_or_default(),
        lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parcel() -> Fulfilment {
        serde_json::from_value(json!({
            "order_id": "1042", "tracking_number": "1Z999AA10123456784", "carrier": "UPS",
            "lines": [{"sku": "MUG", "quantity": 1}, {"sku": "TEE-M", "quantity": 2}]
        }))
        .unwrap()
    }

    fn order() -> MagentoOrder {
        serde_json::from_value(json!({
            "entity_id": 1042, "state": "processing", "status": "processing",
            "order_currency_code": "EUR", "updated_at": "2026-11-23 10:00:00",
            "items": [
                {"item_id": 1, "sku": "TEE-M", "product_type": "configurable", "qty_ordered": 2, "qty_shipped": 0, "price_incl_tax": 19.9},
                {"item_id": 2, "parent_item_id": 1, "sku": "TEE-M", "product_type": "simple", "qty_ordered": 2, "price_incl_tax": 0},
                {"item_id": 3, "sku": "MUG", "qty_ordered": 3, "qty_shipped": 3, "price_incl_tax": 10.3},
                {"item_id": 4, "sku": "MUG", "qty_ordered": 1, "qty_shipped": 0, "price_incl_tax": 10.3}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn a_parcel_ships_its_lines_by_order_item_with_one_track() {
        assert_eq!(
            shipment(&parcel(), &order()).unwrap(),
            json!({
                "items": [{"order_item_id": 4, "qty": 1}, {"order_item_id": 1, "qty": 2}],
                "notify": false,
                "tracks": [{"track_number": "1Z999AA10123456784", "title": "UPS", "carrier_code": "custom"}]
            }),
            "the configurable line through its parent; the mug line with something left to ship"
        );
        let mut stranger = parcel();
        stranger.lines[0].sku = "HAT".into();
        assert!(
            shipment(&stranger, &order())
                .unwrap_err()
                .message()
                .contains("no line with sku `HAT`")
        );
    }

    #[test]
    fn parcels_magento_cannot_ship_are_refused() {
        let mut empty = parcel();
        empty.tracking_number = " ".into();
        assert!(check(&empty).is_err());
        let mut none = parcel();
        none.lines[1].quantity = 0;
        assert!(
            check(&none)
                .unwrap_err()
                .message()
                .contains("`TEE-M`: quantity 0")
        );
    }

    #[test]
    fn a_shipment_reads_back_as_the_parcel_written() {
        let held: Shipment = serde_json::from_value(json!({
            "entity_id": 55, "order_id": 1042, "increment_id": "000000055",
            "items": [
                {"entity_id": 90, "order_item_id": 1, "sku": "TEE-M", "qty": 2, "price": 16.72},
                {"entity_id": 91, "order_item_id": 2, "sku": "TEE-M", "qty": 2, "price": 0},
                {"entity_id": 92, "order_item_id": 4, "sku": "MUG", "qty": 1, "price": 8.66}
            ],
            "tracks": [{"track_number": "1Z999AA10123456784", "title": "UPS", "carrier_code": "custom"}]
        }))
        .unwrap();
        assert_eq!(canonical(&held), parcel());
        assert_eq!(shipment_id(&json!(55)).as_deref(), Some("55"));
        assert_eq!(shipment_id(&json!("55")).as_deref(), Some("55"));
        assert_eq!(shipment_id(&json!({"id": 55})), None);
    }
}
