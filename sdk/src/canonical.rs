//! Tenon's canonical streams: the shapes records take between vendors.
//!
//! A connector reads in its vendor's shape or in a canonical one; transforms map
//! vendor shapes to canonical ones (`order-to-sale`, `tryton-stock`,
//! `akeneo-catalog`, `shipstation-parcels`); a connector's writable stream takes
//! a canonical shape, so any source that reaches that shape can feed it. Each
//! shape is a serde type (what plugins build and decode) and a JSON Schema
//! (what `describe` declares), kept side by side here so they cannot drift.
//!
//! | Stream | Type | Amounts |
//! |---|---|---|
//! | `orders` | [`Order`] | decimal strings |
//! | `customers` | [`Customer`] | |
//! | `sale-orders` | [`SaleOrder`] | integer minor units (`*_cents`) |
//! | `products` | [`Product`] | decimal strings per currency |
//! | `inventory-levels` | [`InventoryLevel`] | whole units |
//! | `fulfilments` | [`Fulfilment`] | |
//!
//! Conventions: currencies are ISO 4217 codes and amounts follow
//! [`money`](crate::money); countries are ISO 3166-1 alpha-2 codes; a street is
//! one string, its lines joined with `\n`; localized text is a map from
//! language code (`en`, `fr`, `pt_BR`: the destination's codes, chosen by the
//! transform) to text. Every type changes by adding optional fields only; a
//! breaking change is a new stream name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::StreamInfo;

/// Storefront orders.
pub const ORDERS: &str = "orders";
/// Storefront customers.
pub const CUSTOMERS: &str = "customers";
/// Orders as an ERP or a 3PL takes them, amounts in minor units.
pub const SALE_ORDERS: &str = "sale-orders";
/// Sellable products (one record per variant).
pub const PRODUCTS: &str = "products";
/// Absolute stock on hand per SKU and location.
pub const INVENTORY_LEVELS: &str = "inventory-levels";
/// Parcels shipped for an order, with tracking.
pub const FULFILMENTS: &str = "fulfilments";

/// Every canonical stream with the name of its type in this module, in the
/// order the guide lists them.
pub const STREAMS: [(&str, &str); 6] = [
    (ORDERS, "Order"),
    (CUSTOMERS, "Customer"),
    (SALE_ORDERS, "SaleOrder"),
    (PRODUCTS, "Product"),
    (INVENTORY_LEVELS, "InventoryLevel"),
    (FULFILMENTS, "Fulfilment"),
];

/// A postal address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Who receives the parcel.
    pub name: String,
    /// Street lines joined with `\n`.
    pub street: String,
    pub city: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, upper case (`DE`).
    pub country: String,
}

/// JSON Schema of an [`Address`], embedded in the schemas below.
const ADDRESS_SCHEMA: &str = r#"{
      "type": "object",
      "required": ["name", "street", "city", "postal_code", "country"],
      "properties": {
        "name": {"type": "string"},
        "street": {"type": "string", "description": "lines joined with \\n"},
        "city": {"type": "string"},
        "postal_code": {"type": "string"},
        "country": {"type": "string", "pattern": "^[A-Z]{2}$"}
      }
    }"#;

/// A storefront order (stream `orders`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The storefront's id of the order.
    pub id: String,
    /// The number the customer sees, if the storefront has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// `placed`, `paid` or `cancelled`.
    pub status: String,
    pub currency: String,
    pub customer: OrderCustomer,
    pub lines: Vec<OrderLine>,
    /// Goods with tax, without shipping: the sum of the lines.
    pub total: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_address: Option<Address>,
    /// RFC 3339.
    pub updated_at: String,
}

/// The buyer of an [`Order`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCustomer {
    pub email: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
}

impl OrderCustomer {
    /// First and last name joined by a space, either omitted when empty.
    pub fn full_name(&self) -> String {
        [self.first_name.trim(), self.last_name.trim()]
            .into_iter()
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One line of an [`Order`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub sku: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub quantity: i64,
    /// Decimal string with tax (`"19.90"`).
    pub unit_price: String,
}

/// JSON Schema of an `orders` payload.
pub const ORDER_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["id", "status", "currency", "customer", "lines", "total", "updated_at"],
  "properties": {
    "id": {"type": "string"},
    "number": {"type": "string"},
    "status": {"enum": ["placed", "paid", "cancelled"]},
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
    "customer": {
      "type": "object",
      "required": ["email"],
      "properties": {
        "email": {"type": "string"},
        "first_name": {"type": "string"},
        "last_name": {"type": "string"}
      }
    },
    "lines": {
      "type": "array",
      "items": {
        "type": "object",
        "required": ["sku", "quantity", "unit_price"],
        "properties": {
          "sku": {"type": "string"},
          "name": {"type": "string"},
          "quantity": {"type": "integer", "minimum": 1},
          "unit_price": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,3})?$"}
        }
      }
    },
    "total": {"type": "string", "description": "goods with tax, without shipping"},
    "shipping_address": ADDRESS,
    "updated_at": {"type": "string", "format": "date-time"}
  }
}"#;

/// A storefront customer (stream `customers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// The storefront's id of the customer.
    pub id: String,
    pub email: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// RFC 3339.
    pub updated_at: String,
}

/// JSON Schema of a `customers` payload.
pub const CUSTOMER_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["id", "email", "updated_at"],
  "properties": {
    "id": {"type": "string"},
    "email": {"type": "string"},
    "first_name": {"type": "string"},
    "last_name": {"type": "string"},
    "phone": {"type": ["string", "null"]},
    "updated_at": {"type": "string", "format": "date-time"}
  }
}"#;

/// An order as an ERP or a 3PL takes it (stream `sale-orders`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleOrder {
    /// The order's reference in its source (`shop:1001`): what makes writes
    /// idempotent at the destination and what a 3PL's parcels point back to.
    pub external_ref: String,
    pub customer_email: String,
    pub customer_name: String,
    pub currency: String,
    pub lines: Vec<SaleLine>,
    /// Sum of the lines, in minor units of `currency`.
    pub total_cents: i64,
    /// `open` or `cancelled`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_to: Option<Address>,
}

/// One line of a [`SaleOrder`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleLine {
    pub sku: String,
    pub quantity: i64,
    /// In minor units of the order's currency.
    pub unit_price_cents: i64,
}

/// JSON Schema of a `sale-orders` payload.
pub const SALE_ORDER_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["external_ref", "customer_email", "customer_name", "currency", "lines", "total_cents", "status"],
  "properties": {
    "external_ref": {"type": "string", "minLength": 1},
    "customer_email": {"type": "string"},
    "customer_name": {"type": "string"},
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
    "lines": {
      "type": "array",
      "minItems": 1,
      "items": {
        "type": "object",
        "required": ["sku", "quantity", "unit_price_cents"],
        "properties": {
          "sku": {"type": "string"},
          "quantity": {"type": "integer", "minimum": 1},
          "unit_price_cents": {"type": "integer", "description": "minor units of the currency"}
        }
      }
    },
    "total_cents": {"type": "integer", "description": "minor units of the currency"},
    "status": {"enum": ["open", "cancelled"]},
    "ship_to": ADDRESS
  }
}"#;

/// A sellable product: one record per variant (stream `products`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub sku: String,
    /// Handle of the product the variant belongs to, lower case letters,
    /// digits and dashes (`tee-classic`); variants with the same group are one
    /// product with options. A product without variants is its own group.
    pub group: String,
    /// Name per language code.
    pub name: BTreeMap<String, String>,
    /// Description per language code (of the group: its variants share it).
    #[serde(default)]
    pub description: BTreeMap<String, String>,
    /// Price per currency, as a decimal string with tax (`{"EUR": "19.90"}`).
    pub prices: BTreeMap<String, String>,
    pub enabled: bool,
}

/// JSON Schema of a `products` payload.
pub const PRODUCT_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["sku", "group", "name", "prices", "enabled"],
  "properties": {
    "sku": {"type": "string", "minLength": 1},
    "group": {"type": "string", "pattern": "^[a-z0-9]+(-[a-z0-9]+)*$"},
    "name": {"type": "object", "additionalProperties": {"type": "string"}, "description": "per language code"},
    "description": {"type": "object", "additionalProperties": {"type": "string"}},
    "prices": {
      "type": "object",
      "additionalProperties": {"type": "string", "pattern": "^[0-9]+(\\.[0-9]{1,3})?$"},
      "description": "decimal amount per ISO 4217 currency"
    },
    "enabled": {"type": "boolean"}
  }
}"#;

/// Absolute stock on hand of a SKU at a location (stream `inventory-levels`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryLevel {
    pub sku: String,
    /// The location's name as the destination knows it (a Vendure stock
    /// location's name); the transform maps the source's warehouses to it.
    pub location: String,
    /// Whole sellable units, never negative.
    pub quantity: i64,
}

/// JSON Schema of an `inventory-levels` payload.
pub const INVENTORY_LEVEL_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["sku", "location", "quantity"],
  "properties": {
    "sku": {"type": "string"},
    "location": {"type": "string", "description": "the destination's name of the stock location"},
    "quantity": {"type": "integer", "minimum": 0}
  }
}"#;

/// One parcel shipped for an order, with its tracking number (stream
/// `fulfilments`). A shipment in two parcels is two records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fulfilment {
    /// The storefront's id of the order.
    pub order_id: String,
    pub tracking_number: String,
    #[serde(default)]
    pub carrier: String,
    pub lines: Vec<FulfilmentLine>,
}

/// What one [`Fulfilment`] holds of one order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FulfilmentLine {
    pub sku: String,
    pub quantity: i64,
}

/// JSON Schema of a `fulfilments` payload.
pub const FULFILMENT_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["order_id", "tracking_number", "lines"],
  "properties": {
    "order_id": {"type": "string", "description": "the storefront's order id"},
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

/// The schema of a canonical stream, with the address schema spliced in.
///
/// `describe` needs a `&str`; the schemas are small and built once per
/// `describe`, so this returns an owned string.
pub fn schema(stream: &str) -> Option<String> {
    let template = match stream {
        ORDERS => ORDER_SCHEMA,
        CUSTOMERS => CUSTOMER_SCHEMA,
        SALE_ORDERS => SALE_ORDER_SCHEMA,
        PRODUCTS => PRODUCT_SCHEMA,
        INVENTORY_LEVELS => INVENTORY_LEVEL_SCHEMA,
        FULFILMENTS => FULFILMENT_SCHEMA,
        _ => return None,
    };
    Some(template.replace("ADDRESS", ADDRESS_SCHEMA))
}

/// A readable stream `name` whose records are in the canonical `shape`
/// (a stream name above). Panics on an unknown shape: a plugin bug.
pub fn readable(name: &str, cursor_field: Option<&str>, shape: &str) -> StreamInfo {
    StreamInfo::readable(name, cursor_field, &known(shape))
}

/// A writable stream `name` that takes records in the canonical `shape`.
/// Panics on an unknown shape: a plugin bug.
pub fn writable(name: &str, shape: &str) -> StreamInfo {
    StreamInfo::writable(name, &known(shape))
}

fn known(shape: &str) -> String {
    schema(shape).unwrap_or_else(|| panic!("`{shape}` is not a canonical stream"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_is_json() {
        for (stream, _) in STREAMS {
            let schema = schema(stream).unwrap();
            let value: serde_json::Value = serde_json::from_str(&schema)
                .unwrap_or_else(|e| panic!("`{stream}` schema: {e}\n{schema}"));
            assert_eq!(value["type"], "object", "{stream}");
        }
        assert!(schema("nope").is_none());
    }

    #[test]
    fn optional_fields_stay_out_of_payloads_when_absent() {
        let sale = SaleOrder {
            external_ref: "shop:1".into(),
            customer_email: "ada@example.com".into(),
            customer_name: "Ada".into(),
            currency: "EUR".into(),
            lines: vec![SaleLine {
                sku: "MUG".into(),
                quantity: 1,
                unit_price_cents: 1250,
            }],
            total_cents: 1250,
            status: "open".into(),
            ship_to: None,
        };
        let json = serde_json::to_value(&sale).unwrap();
        assert!(json.get("ship_to").is_none(), "{json}");
        let back: SaleOrder = serde_json::from_value(json).unwrap();
        assert_eq!(back, sale);
    }

    #[test]
    fn a_full_name_skips_empty_parts() {
        let customer = |first: &str, last: &str| OrderCustomer {
            email: String::new(),
            first_name: first.into(),
            last_name: last.into(),
        };
        assert_eq!(customer("Ada", "Lovelace").full_name(), "Ada Lovelace");
        assert_eq!(customer(" ", "Lovelace").full_name(), "Lovelace");
        assert_eq!(customer("", "").full_name(), "");
    }
}
