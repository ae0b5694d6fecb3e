//! The `return-labels` stream: customers' parcels coming back, as ShipStation
//! has them, and what the warehouse made of them.
//!
//! ShipStation's API shows a return only as its return label, a shipment with
//! `isReturnLabel: true`; what happens to it after (received, approved or
//! rejected, each item restocked or disposed of) has no field of its own in
//! either API version. The warehouse records it on the label in fields v1
//! documents for the seller's own data: `advancedOptions.customField1` the
//! RMA's status, `customField2` its RMA number, and per item the options
//! `Reason` and `Disposition` (see `docs/connectors/wms-shipstation.md`). The
//! label's `warehouseId` is where the parcel comes back to.
//!
//! Read from `GET /shipments?modifyDateStart=&sortBy=ModifyDate` (a label
//! changes as its return moves on), keeping the return labels; the cursor is a
//! watermark over `(modifyDate, shipmentId)`, advanced over the outbound
//! shipments of a page too, so a page of them only moves the cursor. This
//! module reads only; `shipments` (in `lib.rs`) skips return labels.

use serde::{Deserialize, Serialize};
use tenon_sdk::prelude::*;

use crate::{RETURN_LABELS, Sort, changed_shipments, position, rfc3339};

/// JSON Schema of a `return-labels` payload.
pub const RETURN_LABEL_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["shipment_id", "order_key", "status", "items", "modified_at"],
  "properties": {
    "shipment_id": {"type": "string"},
    "order_id": {"type": "string"},
    "order_key": {"type": "string"},
    "order_number": {"type": "string"},
    "rma_number": {"type": "string"},
    "status": {"enum": ["awaiting_return", "received", "approved", "rejected"]},
    "tracking_number": {"type": "string"},
    "carrier": {"type": "string"},
    "warehouse_id": {"type": ["string", "null"]},
    "created_at": {"type": "string"},
    "modified_at": {"type": "string"},
    "voided": {"type": "boolean"},
    "items": {
      "type": "array",
      "items": {
        "type": "object",
        "required": ["sku", "quantity"],
        "properties": {
          "sku": {"type": "string"},
          "quantity": {"type": "integer"},
          "reason": {"type": "string"},
          "disposition": {"enum": ["restock", "dispose"]}
        }
      }
    }
  }
}"#;

/// The RMA status of a label without one in `customField1`.
const AWAITING_RETURN: &str = "awaiting_return";

/// A shipment as ShipStation lists it: the fields of a return label.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Label {
    shipment_id: u64,
    #[serde(default)]
    order_id: u64,
    #[serde(default)]
    order_key: String,
    #[serde(default)]
    order_number: String,
    create_date: String,
    /// Absent from an account that does not write it: the `createDate` then.
    #[serde(default)]
    modify_date: Option<String>,
    #[serde(default)]
    tracking_number: String,
    #[serde(default)]
    carrier_code: String,
    #[serde(default)]
    is_return_label: bool,
    #[serde(default)]
    warehouse_id: Option<u64>,
    #[serde(default)]
    voided: bool,
    #[serde(default)]
    advanced_options: Option<Options>,
    #[serde(default)]
    shipment_items: Option<Vec<LabelItem>>,
}

impl Label {
    fn modified(&self) -> &str {
        self.modify_date.as_deref().unwrap_or(&self.create_date)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Options {
    custom_field1: Option<String>,
    custom_field2: Option<String>,
}

#[derive(Debug, Deserialize)]
struct LabelItem {
    sku: String,
    quantity: i64,
    #[serde(default)]
    options: Option<Vec<ItemOption>>,
}

/// ShipStation's `{"name": ..., "value": ...}` item option.
#[derive(Debug, Deserialize)]
struct ItemOption {
    name: String,
    #[serde(default)]
    value: Option<String>,
}

/// A `return-labels` payload: one return label and its RMA's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReturnLabel {
    pub shipment_id: String,
    pub order_id: String,
    pub order_key: String,
    pub order_number: String,
    pub rma_number: String,
    /// `awaiting_return`, `received`, `approved` or `rejected`.
    pub status: String,
    pub tracking_number: String,
    pub carrier: String,
    /// Where the parcel comes back to; `None` when ShipStation names no warehouse.
    pub warehouse_id: Option<String>,
    pub created_at: String,
    pub modified_at: String,
    pub voided: bool,
    pub items: Vec<ReturnItem>,
}

/// One item of a [`ReturnLabel`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReturnItem {
    pub sku: String,
    pub quantity: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disposition: Option<String>,
}

/// One page of return labels changed after `cursor`.
pub fn read(cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let mut mark = Watermark::from_cursor(cursor);
    let changed = changed_shipments(Sort::Modified, &mark, limit, |l: &Label| {
        (l.modified(), l.shipment_id)
    })?;
    let start = mark.clone();
    let mut records = Vec::new();
    for label in changed.shipments {
        mark.advance(label.modified(), &position(label.shipment_id));
        if !label.is_return_label {
            continue;
        }
        let key = label.shipment_id.to_string();
        let record = return_label(label);
        let time = rfc3339(&record.modified_at);
        records.push(Envelope::upsert(RETURN_LABELS, &key, &record, Some(&time))?);
    }
    let moved = mark != start;
    log::info(format!(
        "count={} more={} cursor={mark} Read return labels.",
        records.len(),
        changed.more
    ));
    Ok(Page {
        next_cursor: moved.then(|| mark.encode()),
        more: changed.more && moved,
        records,
    })
}

/// The payload of a listed return label. A status the warehouse did not
/// write (a label made in ShipStation without the RMA fields) is
/// `awaiting_return`; any other text is kept as it is, so that the record
/// fails the stream's schema on its own (a dead letter for a person) and the
/// stream moves on.
fn return_label(label: Label) -> ReturnLabel {
    let modified_at = label.modified().to_owned();
    let options = label.advanced_options.unwrap_or_default();
    let status = options
        .custom_field1
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| AWAITING_RETURN.to_owned());
    let items = label
        .shipment_items
        .unwrap_or_default()
        .into_iter()
        .map(|item| {
            let option = |name: &str| {
                item.options
                    .iter()
                    .flatten()
                    .find(|o| o.name.trim().eq_ignore_ascii_case(name))
                    .and_then(|o| o.value.as_deref())
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
            };
            ReturnItem {
                reason: option("Reason"),
                disposition: option("Disposition").map(|d| d.to_ascii_lowercase()),
                sku: item.sku,
                quantity: item.quantity,
            }
        })
        .collect();
    ReturnLabel {
        shipment_id: label.shipment_id.to_string(),
        order_id: label.order_id.to_string(),
        order_key: label.order_key,
        order_number: label.order_number,
        rma_number: options.custom_field2.unwrap_or_default(),
        status,
        tracking_number: label.tracking_number,
        carrier: label.carrier_code,
        warehouse_id: label.warehouse_id.map(|id| id.to_string()),
        created_at: label.create_date,
        modified_at,
        voided: label.voided,
        items,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn label(value: serde_json::Value) -> Label {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_listed_return_label_carries_its_rma() {
        let listed = label(json!({
            "shipmentId": 7, "orderId": 3, "orderKey": "shop:1001", "orderNumber": "shop:1001",
            "createDate": "2026-11-23T10:00:00.0000000", "modifyDate": "2026-11-25T08:00:00.0000000",
            "shipDate": "2026-11-23", "trackingNumber": "RET-1", "carrierCode": "ups",
            "batchId": 0, "isReturnLabel": true, "warehouseId": 2, "voided": false,
            "advancedOptions": {"warehouseId": 2, "customField1": "Approved", "customField2": "RMA-shop:1001-1", "customField3": null},
            "shipmentItems": [
                {"sku": "TEE", "quantity": 1, "options": [{"name": "reason", "value": " too small "}, {"name": "Disposition", "value": "RESTOCK"}]},
                {"sku": "MUG", "quantity": 2, "options": []}
            ]
        }));
        let record = return_label(listed);
        assert_eq!(record.status, "approved");
        assert_eq!(record.rma_number, "RMA-shop:1001-1");
        assert_eq!(record.warehouse_id.as_deref(), Some("2"));
        assert_eq!(record.modified_at, "2026-11-25T08:00:00.0000000");
        assert_eq!(
            record.items,
            [
                ReturnItem {
                    sku: "TEE".into(),
                    quantity: 1,
                    reason: Some("too small".into()),
                    disposition: Some("restock".into())
                },
                ReturnItem {
                    sku: "MUG".into(),
                    quantity: 2,
                    reason: None,
                    disposition: None
                }
            ]
        );
    }

    #[test]
    fn a_label_without_rma_fields_awaits_its_return_and_unknown_statuses_stay_as_written() {
        let bare = label(json!({
            "shipmentId": 8, "createDate": "2026-11-23T10:00:00.0000000",
            "isReturnLabel": true, "shipmentItems": null
        }));
        let record = return_label(bare);
        assert_eq!(record.status, "awaiting_return");
        assert_eq!(
            record.modified_at, "2026-11-23T10:00:00.0000000",
            "createDate stands in"
        );
        assert!(record.items.is_empty());
        let odd = label(json!({
            "shipmentId": 9, "createDate": "2026-11-23T10:00:00.0000000",
            "isReturnLabel": true, "advancedOptions": {"customField1": "lost"}
        }));
        assert_eq!(
            return_label(odd).status,
            "lost",
            "the schema refuses it, alone"
        );
        assert!(!RETURN_LABEL_SCHEMA.contains("\"lost\""));
    }
}
