//! `shipstation-returns`: ShipStation's return labels, with what the warehouse
//! made of each return, to canonical `returns`.
//!
//! - **Takes** `return-labels` records of `wms-shipstation` (one per return
//!   label, again each time its return moves on); records of other streams
//!   pass through.
//! - **Gives** one `returns` record per taken record, same key (the label's
//!   shipment id) and source time: `external_ref` = `shipstation:return:<id>`,
//!   `order_id` = the storefront's order id, read from the order key the 3PL
//!   was given (`shop:1001` -> `1001`, after `reference_prefix`), `state` from
//!   the RMA's status (`awaiting_return` -> `requested`; `received`,
//!   `approved`, `rejected` as they are), `lines` = the label's items merged
//!   per SKU, disposition and reason, sorted so, each with its disposition
//!   (`restock`, `dispose`) once the warehouse decided it, and `location` =
//!   the warehouse the parcel came back to, named through `locations`.
//! - **Drops** voided return labels (the label was cancelled: nothing comes
//!   back on it) and logs them.
//! - **Refuses** (permanent, naming the record) a return without items, with a
//!   quantity below 1, an unknown status or disposition, an order key without
//!   the prefix (not this storefront's order), or, when `locations` is set, a
//!   warehouse it does not name (a return must not be lost to a missing
//!   mapping; the operator adds it and replays the dead letter).
//! - **Config**: `reference_prefix` (default `shop:`, as `order-to-sale`'s for
//!   the flow that sent the orders); `locations` (optional): `1=Main, 2=Berlin`
//!   from ShipStation `warehouseId`s to the destination's stock location
//!   names; unset, returns carry no location and the destination uses its
//!   default.
//! - **Secrets**, **egress**, **cursor**: none; a transform has no network and no state.

use std::collections::BTreeMap;

use serde::Deserialize;
use tenon_sdk::canonical::{Return, ReturnLine};
use tenon_sdk::prelude::*;

/// The stream taken.
const RETURN_LABELS: &str = "return-labels";

/// The default `reference_prefix`, `order-to-sale`'s.
const DEFAULT_PREFIX: &str = "shop:";

/// A `return-labels` payload of `wms-shipstation`: the fields this transform reads.
#[derive(Debug, Deserialize)]
struct Label {
    shipment_id: String,
    order_key: String,
    status: String,
    #[serde(default)]
    warehouse_id: Option<String>,
    #[serde(default)]
    voided: bool,
    #[serde(default)]
    items: Vec<Item>,
}

#[derive(Debug, Deserialize)]
struct Item {
    sku: String,
    quantity: i64,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    disposition: Option<String>,
}

/// The transform's settings for one batch.
#[derive(Debug)]
struct Settings {
    prefix: String,
    locations: Option<BTreeMap<String, String>>,
}

impl Settings {
    fn from_config() -> Result<Self, Error> {
        Ok(Self {
            prefix: config::get("reference_prefix").unwrap_or_else(|| DEFAULT_PREFIX.to_owned()),
            locations: config::map("locations")?,
        })
    }
}

struct ShipStationReturns;

impl Transform for ShipStationReturns {
    fn describe() -> Descriptor {
        Descriptor {
            name: "shipstation-returns".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: Kind::Transform,
            description:
                "ShipStation return labels and what the warehouse made of them, as canonical returns."
                    .to_owned(),
            streams: vec![
                StreamInfo::writable(RETURN_LABELS, tenon_sdk::describe::ANY_OBJECT_SCHEMA),
                canonical::readable(canonical::RETURNS, None, canonical::RETURNS),
            ],
            egress: Vec::new(),
            config: vec![
                ConfigKey::optional(
                    "reference_prefix",
                    "What precedes the storefront's order id in the 3PL's order key.",
                    Some(DEFAULT_PREFIX),
                ),
                ConfigKey::optional(
                    "locations",
                    "ShipStation warehouseId to the destination's stock location name, `1=Main, 2=Berlin`; unset, returns carry no location.",
                    None,
                ),
            ],
            secrets: Vec::new(),
        }
    }

    fn transform(batch: Vec<Envelope>) -> Result<Vec<Envelope>, Error> {
        let settings = Settings::from_config()?;
        let mut out = Vec::with_capacity(batch.len());
        for envelope in batch {
            if envelope.stream != RETURN_LABELS {
                out.push(envelope);
                continue;
            }
            match canonical_return(&envelope, &settings)
                .map_err(|e| e.context(format!("record `{}`", envelope.key)))?
            {
                Mapped::Return(record) => out.push(record),
                Mapped::Voided { shipment, order } => log::info(format!(
                    "shipment={shipment} order={order} Dropped a voided return label."
                )),
            }
        }
        Ok(out)
    }
}

/// What became of one taken record.
#[derive(Debug, PartialEq)]
enum Mapped {
    Return(Envelope),
    /// A voided label, dropped: its shipment id and order key, for the log.
    Voided {
        shipment: String,
        order: String,
    },
}

/// The `returns` record of one return label.
fn canonical_return(envelope: &Envelope, settings: &Settings) -> Result<Mapped, Error> {
    let time = envelope.source_time.as_deref();
    if envelope.op == Op::Delete {
        return Ok(Mapped::Return(Envelope::delete(
            canonical::RETURNS,
            &envelope.key,
            time,
        )));
    }
    let label: Label = envelope.json()?;
    if label.voided {
        return Ok(Mapped::Voided {
            shipment: label.shipment_id,
            order: label.order_key,
        });
    }
    let back = map_label(&label, settings).map_err(Error::permanent)?;
    Envelope::upsert(canonical::RETURNS, &envelope.key, &back, time).map(Mapped::Return)
}

fn map_label(label: &Label, settings: &Settings) -> Result<Return, String> {
    let prefix = settings.prefix.as_str();
    let order_id = label
        .order_key
        .strip_prefix(prefix)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            format!(
                "order key `{}` does not start with `{prefix}`: not an order of this storefront",
                label.order_key
            )
        })?;
    let state = match label.status.as_str() {
        "awaiting_return" => "requested",
        "received" => "received",
        "approved" => "approved",
        "rejected" => "rejected",
        other => return Err(format!("RMA status `{other}` is not known")),
    };
    let mut quantities: BTreeMap<(&str, Option<&str>, Option<&str>), i64> = BTreeMap::new();
    for item in &label.items {
        if item.quantity < 1 {
            return Err(format!(
                "sku `{}`: quantity {} is not positive",
                item.sku, item.quantity
            ));
        }
        let disposition = item.disposition.as_deref();
        if let Some(other) = disposition.filter(|d| !matches!(*d, "restock" | "dispose")) {
            return Err(format!(
                "sku `{}`: disposition `{other}` is neither `restock` nor `dispose`",
                item.sku
            ));
        }
        *quantities
            .entry((&item.sku, disposition, item.reason.as_deref()))
            .or_default() += item.quantity;
    }
    if quantities.is_empty() {
        return Err(format!("return label {} has no items", label.shipment_id));
    }
    let location = match &settings.locations {
        None => None,
        Some(map) => {
            let warehouse = label.warehouse_id.as_deref().ok_or_else(|| {
                format!(
                    "return label {} names no warehouse, and `locations` maps warehouses",
                    label.shipment_id
                )
            })?;
            let name = map.get(warehouse).ok_or_else(|| {
                format!("warehouse {warehouse} is not in `locations`; add it and replay")
            })?;
            Some(name.clone())
        }
    };
    Ok(Return {
        external_ref: format!("shipstation:return:{}", label.shipment_id),
        order_id: order_id.to_owned(),
        state: state.to_owned(),
        lines: quantities
            .into_iter()
            .map(|((sku, disposition, reason), quantity)| ReturnLine {
                sku: sku.to_owned(),
                quantity,
                disposition: disposition.map(str::to_owned),
                reason: reason.map(str::to_owned),
            })
            .collect(),
        location,
    })
}

export_transform!(ShipStationReturns);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn label(status: &str, warehouse: Option<&str>, items: serde_json::Value) -> Label {
        serde_json::from_value(json!({
            "shipment_id": "7", "order_id": "3", "order_key": "shop:42",
            "order_number": "shop:42", "rma_number": "RMA-shop:42-1", "status": status,
            "tracking_number": "RET-1", "carrier": "ups", "warehouse_id": warehouse,
            "created_at": "2026-11-23T10:00:00.0000000",
            "modified_at": "2026-11-25T10:00:00.0000000", "voided": false, "items": items
        }))
        .unwrap()
    }

    fn settings(locations: Option<&str>) -> Settings {
        Settings {
            prefix: DEFAULT_PREFIX.to_owned(),
            locations: locations.map(|text| config::parse_map(text).unwrap()),
        }
    }

    #[test]
    fn an_approved_return_restocks_its_restocked_lines_at_the_mapped_location() {
        let items = json!([
            {"sku": "TEE", "quantity": 1, "disposition": "restock"},
            {"sku": "MUG", "quantity": 1, "reason": "chipped", "disposition": "dispose"},
            {"sku": "TEE", "quantity": 2, "disposition": "restock"}
        ]);
        let back = map_label(
            &label("approved", Some("2"), items),
            &settings(Some("1=Main, 2=Berlin")),
        )
        .unwrap();
        assert_eq!(back.external_ref, "shipstation:return:7");
        assert_eq!(back.order_id, "42");
        assert_eq!(back.state, "approved");
        assert_eq!(back.location.as_deref(), Some("Berlin"));
        assert_eq!(
            back.lines,
            [
                ReturnLine {
                    sku: "MUG".into(),
                    quantity: 1,
                    disposition: Some("dispose".into()),
                    reason: Some("chipped".into())
                },
                ReturnLine {
                    sku: "TEE".into(),
                    quantity: 3,
                    disposition: Some("restock".into()),
                    reason: None
                }
            ]
        );
        assert_eq!(back.restocked(), BTreeMap::from([("TEE", 3)]));
    }

    #[test]
    fn statuses_map_to_canonical_states_and_undecided_lines_have_no_disposition() {
        let items = json!([{"sku": "TEE", "quantity": 1, "reason": "too small"}]);
        for (status, state) in [
            ("awaiting_return", "requested"),
            ("received", "received"),
            ("rejected", "rejected"),
        ] {
            let back = map_label(&label(status, None, items.clone()), &settings(None)).unwrap();
            assert_eq!(back.state, state);
            assert_eq!(back.location, None, "no `locations`, no location");
            assert_eq!(back.lines[0].disposition, None);
            assert!(back.restocked().is_empty());
        }
        let error = map_label(&label("lost", None, items), &settings(None)).unwrap_err();
        assert!(error.contains("`lost` is not known"), "{error}");
    }

    #[test]
    fn foreign_orders_unmapped_warehouses_and_bad_lines_are_refused() {
        let items = json!([{"sku": "TEE", "quantity": 1}]);
        let mut foreign = label("received", Some("1"), items.clone());
        foreign.order_key = "pos:42".into();
        let error = map_label(&foreign, &settings(None)).unwrap_err();
        assert!(error.contains("does not start with `shop:`"), "{error}");

        let map = settings(Some("1=Main"));
        let error = map_label(&label("received", Some("9"), items.clone()), &map).unwrap_err();
        assert!(
            error.contains("warehouse 9 is not in `locations`"),
            "{error}"
        );
        let error = map_label(&label("received", None, items), &map).unwrap_err();
        assert!(error.contains("names no warehouse"), "{error}");

        let none = map_label(&label("received", None, json!([])), &settings(None)).unwrap_err();
        assert!(none.contains("no items"), "{none}");
        let zero = json!([{"sku": "TEE", "quantity": 0}]);
        let error = map_label(&label("received", None, zero), &settings(None)).unwrap_err();
        assert!(error.contains("not positive"), "{error}");
        let odd = json!([{"sku": "TEE", "quantity": 1, "disposition": "resell"}]);
        let error = map_label(&label("approved", None, odd), &settings(None)).unwrap_err();
        assert!(error.contains("`resell`"), "{error}");
    }

    #[test]
    fn a_voided_label_is_dropped_and_the_record_keeps_its_key_and_time() {
        let envelope = |voided: bool| Envelope {
            stream: RETURN_LABELS.into(),
            key: "7".into(),
            op: Op::Upsert,
            payload: json!({
                "shipment_id": "7", "order_key": "shop:42", "status": "received",
                "voided": voided, "items": [{"sku": "TEE", "quantity": 1}]
            })
            .to_string(),
            source_time: Some("2026-11-25T10:00:00.0000000Z".into()),
        };
        assert_eq!(
            canonical_return(&envelope(true), &settings(None)).unwrap(),
            Mapped::Voided {
                shipment: "7".into(),
                order: "shop:42".into()
            }
        );
        let Mapped::Return(out) = canonical_return(&envelope(false), &settings(None)).unwrap()
        else {
            panic!("a received return is not dropped");
        };
        assert_eq!(
            (out.stream.as_str(), out.key.as_str()),
            (canonical::RETURNS, "7")
        );
        assert_eq!(
            out.source_time.as_deref(),
            Some("2026-11-25T10:00:00.0000000Z")
        );
        let back: Return = out.json().unwrap();
        assert_eq!(back.state, "received");
    }
}
