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
//! | `price-lists` | [`ListPrice`] | decimal strings |
//! | `customer-accounts` | [`CustomerAccount`] | decimal strings |
//! | `credit-memos` | [`CreditMemo`] | integer minor units (`*_cents`) |
//! | `returns` | [`Return`] | |
//! | `order-states` | [`OrderState`] | |
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
/// The prices of a SKU on a price list: for everyone, a customer group or one
/// B2B account, with quantity breaks and validity.
pub const PRICE_LISTS: &str = "price-lists";
/// B2B customer accounts as the ERP keeps them: code, terms, credit.
pub const CUSTOMER_ACCOUNTS: &str = "customer-accounts";
/// Money given back on an order after payment: refunds as credit memos.
pub const CREDIT_MEMOS: &str = "credit-memos";
/// Goods coming back from a customer, and what became of them.
pub const RETURNS: &str = "returns";
/// What the ERP or the 3PL says of a storefront order: held, released,
/// invoiced, shipped, cancelled.
pub const ORDER_STATES: &str = "order-states";

/// Every canonical stream with the name of its type in this module, in the
/// order the guide lists them.
pub const STREAMS: [(&str, &str); 11] = [
    (ORDERS, "Order"),
    (CUSTOMERS, "Customer"),
    (SALE_ORDERS, "SaleOrder"),
    (PRODUCTS, "Product"),
    (INVENTORY_LEVELS, "InventoryLevel"),
    (FULFILMENTS, "Fulfilment"),
    (PRICE_LISTS, "ListPrice"),
    (CUSTOMER_ACCOUNTS, "CustomerAccount"),
    (CREDIT_MEMOS, "CreditMemo"),
    (RETURNS, "Return"),
    (ORDER_STATES, "OrderState"),
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
    /// Categories the product is in, each a path of names from the root
    /// joined with `/` (`Clothing/Tees`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Images in gallery order; the first is the primary image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<MediaRef>,
    /// Other products shown with this one, or (`bundle`) sold in it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<ProductLink>,
}

/// An image of a [`Product`], by reference: the destination fetches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaRef {
    /// Where the file is (`https://pim.example.com/media/tee.jpg`), or the
    /// source's file code when the destination resolves it.
    pub url: String,
    /// Alternative text per language code.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub label: BTreeMap<String, String>,
}

/// A relation from one [`Product`] to another, by SKU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductLink {
    /// `related`, `upsell`, `crosssell` or `bundle` (a component of a kit).
    pub kind: String,
    pub sku: String,
    /// Units of `sku` in one kit (`bundle` links only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<i64>,
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
    "enabled": {"type": "boolean"},
    "categories": {"type": "array", "items": {"type": "string", "minLength": 1}, "description": "paths of category names joined with /"},
    "media": {
      "type": "array",
      "description": "images in gallery order, the first the primary",
      "items": {
        "type": "object",
        "required": ["url"],
        "properties": {
          "url": {"type": "string", "minLength": 1},
          "label": {"type": "object", "additionalProperties": {"type": "string"}}
        }
      }
    },
    "links": {
      "type": "array",
      "items": {
        "type": "object",
        "required": ["kind", "sku"],
        "properties": {
          "kind": {"enum": ["related", "upsell", "crosssell", "bundle"]},
          "sku": {"type": "string", "minLength": 1},
          "quantity": {"type": "integer", "minimum": 1}
        }
      }
    }
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

/// The prices one price list gives one SKU in one currency (stream
/// `price-lists`): a list price for everyone, a customer group's, or a
/// contract price for one B2B account. Its key is `list`, `sku` and
/// `currency` together (see [`ListPrice::key`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListPrice {
    /// The list's code in the source (`retail`, `contract-C0042`).
    pub list: String,
    pub sku: String,
    pub currency: String,
    /// Who pays these prices.
    pub audience: Audience,
    /// Unit prices with tax by the quantity they start at, ascending; the
    /// first starts at 1.
    pub breaks: Vec<PriceBreak>,
    /// First day the prices hold (`YYYY-MM-DD`), if they start later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    /// Last day the prices hold, if they end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
}

impl ListPrice {
    /// `list/sku/currency`: what keys a record of this stream.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.list, self.sku, self.currency)
    }

    /// The unit price for `quantity` units: the break with the largest
    /// starting quantity not above it.
    pub fn unit_price(&self, quantity: i64) -> Option<&str> {
        self.breaks
            .iter()
            .filter(|b| b.min_quantity <= quantity)
            .max_by_key(|b| b.min_quantity)
            .map(|b| b.unit_price.as_str())
    }
}

/// Who a [`ListPrice`] is for: `{"kind": "all"}`, `{"kind": "group", "code":
/// "Wholesale"}` (a customer group, by the destination's name of it) or
/// `{"kind": "customer", "code": "C0042"}` (one account, by its ERP code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "code", rename_all = "snake_case")]
pub enum Audience {
    All,
    Group(String),
    Customer(String),
}

/// One quantity break of a [`ListPrice`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceBreak {
    /// The smallest quantity this price applies to, 1 or more.
    pub min_quantity: i64,
    /// Decimal string with tax (`"17.50"`).
    pub unit_price: String,
}

/// JSON Schema of a `price-lists` payload.
pub const LIST_PRICE_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["list", "sku", "currency", "audience", "breaks"],
  "properties": {
    "list": {"type": "string", "minLength": 1, "description": "the price list's code in the source"},
    "sku": {"type": "string", "minLength": 1},
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
    "audience": {
      "type": "object",
      "required": ["kind"],
      "description": "all, a customer group (code: its name) or one account (code: its ERP code)",
      "oneOf": [
        {"properties": {"kind": {"const": "all"}}, "not": {"required": ["code"]}},
        {"properties": {"kind": {"enum": ["group", "customer"]}}, "required": ["code"]}
      ],
      "properties": {
        "kind": {"enum": ["all", "group", "customer"]},
        "code": {"type": "string", "minLength": 1}
      }
    },
    "breaks": {
      "type": "array",
      "minItems": 1,
      "items": {
        "type": "object",
        "required": ["min_quantity", "unit_price"],
        "properties": {
          "min_quantity": {"type": "integer", "minimum": 1},
          "unit_price": {"type": "string", "pattern": "^[0-9]+(\\.[0-9]{1,3})?$", "description": "decimal amount with tax"}
        }
      }
    },
    "valid_from": {"type": "string", "format": "date"},
    "valid_until": {"type": "string", "format": "date"}
  }
}"#;

/// A B2B customer account as the ERP keeps it (stream `customer-accounts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerAccount {
    /// The ERP's customer code (`C0042`): what a contract price's audience
    /// names and what the storefront keeps on the account.
    pub code: String,
    /// The company's or person's name.
    pub name: String,
    /// Where the storefront finds the account's login.
    pub email: String,
    /// The customer group the storefront prices it by, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The payment terms' name in the ERP (`Net 30`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_terms: Option<String>,
    /// Credit granted, a decimal string in `currency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_limit: Option<String>,
    pub currency: String,
    /// Orders are held for review (credit block).
    pub on_hold: bool,
}

/// JSON Schema of a `customer-accounts` payload.
pub const CUSTOMER_ACCOUNT_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["code", "name", "email", "currency", "on_hold"],
  "properties": {
    "code": {"type": "string", "minLength": 1, "description": "the ERP's customer code"},
    "name": {"type": "string"},
    "email": {"type": "string"},
    "group": {"type": "string", "description": "the storefront's customer group"},
    "payment_terms": {"type": "string"},
    "credit_limit": {"type": "string", "pattern": "^[0-9]+(\\.[0-9]{1,3})?$", "description": "decimal amount in currency"},
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
    "on_hold": {"type": "boolean", "description": "orders held for review"}
  }
}"#;

/// Money given back on a paid order (stream `credit-memos`): refunded
/// lines, shipping and adjustments, in minor units of the order's currency.
/// `total_cents` is the lines' totals plus shipping plus the adjustment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditMemo {
    /// The credit memo's reference in its source (`magento:creditmemo:7`).
    pub external_ref: String,
    /// The `external_ref` of the sale order it refunds (`magento:000000012`).
    pub order_ref: String,
    pub currency: String,
    /// Refunded lines; empty for a refund of shipping or an adjustment only.
    pub lines: Vec<CreditLine>,
    /// Shipping refunded.
    pub shipping_cents: i64,
    /// Refunded beyond lines and shipping, less fees kept (may be negative).
    pub adjustment_cents: i64,
    pub total_cents: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl CreditMemo {
    /// Lines, shipping and adjustment added up: what `total_cents` must be.
    pub fn sum_cents(&self) -> i64 {
        self.lines.iter().map(|line| line.total_cents).sum::<i64>()
            + self.shipping_cents
            + self.adjustment_cents
    }
}

/// One refunded line of a [`CreditMemo`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditLine {
    pub sku: String,
    pub quantity: i64,
    /// With tax, in minor units.
    pub unit_price_cents: i64,
    /// What this line gives back, in minor units (the storefront's rounding
    /// of quantity times unit price).
    pub total_cents: i64,
}

/// JSON Schema of a `credit-memos` payload.
pub const CREDIT_MEMO_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["external_ref", "order_ref", "currency", "lines", "shipping_cents", "adjustment_cents", "total_cents"],
  "properties": {
    "external_ref": {"type": "string", "minLength": 1},
    "order_ref": {"type": "string", "minLength": 1, "description": "the refunded sale order's external_ref"},
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
    "lines": {
      "type": "array",
      "items": {
        "type": "object",
        "required": ["sku", "quantity", "unit_price_cents", "total_cents"],
        "properties": {
          "sku": {"type": "string"},
          "quantity": {"type": "integer", "minimum": 1},
          "unit_price_cents": {"type": "integer", "minimum": 0, "description": "minor units, with tax"},
          "total_cents": {"type": "integer", "minimum": 0, "description": "minor units"}
        }
      }
    },
    "shipping_cents": {"type": "integer", "minimum": 0},
    "adjustment_cents": {"type": "integer", "description": "refunded beyond lines and shipping, less fees kept"},
    "total_cents": {"type": "integer", "minimum": 0, "description": "lines + shipping + adjustment"},
    "reason": {"type": "string"}
  }
}"#;

/// Goods a customer sends back (stream `returns`), as the 3PL or the
/// storefront handles them: requested, received, then approved or rejected;
/// each approved line restocked or disposed of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Return {
    /// The return's reference in its source (`3pl:rma:RMA-1001-1`).
    pub external_ref: String,
    /// The storefront's id of the order the goods came from.
    pub order_id: String,
    /// `requested`, `received`, `approved` or `rejected`.
    pub state: String,
    pub lines: Vec<ReturnLine>,
    /// Where restocked goods went, by the destination's name of the location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// One line of a [`Return`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnLine {
    pub sku: String,
    pub quantity: i64,
    /// `restock` or `dispose`, once decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Return {
    /// Units of each SKU that go back on the shelf: the restocked lines of
    /// an approved return.
    pub fn restocked(&self) -> BTreeMap<&str, i64> {
        let mut units = BTreeMap::new();
        if self.state == "approved" {
            for line in &self.lines {
                if line.disposition.as_deref() == Some("restock") {
                    *units.entry(line.sku.as_str()).or_default() += line.quantity;
                }
            }
        }
        units
    }
}

/// JSON Schema of a `returns` payload.
pub const RETURN_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["external_ref", "order_id", "state", "lines"],
  "properties": {
    "external_ref": {"type": "string", "minLength": 1},
    "order_id": {"type": "string", "description": "the storefront's order id"},
    "state": {"enum": ["requested", "received", "approved", "rejected"]},
    "lines": {
      "type": "array",
      "minItems": 1,
      "items": {
        "type": "object",
        "required": ["sku", "quantity"],
        "properties": {
          "sku": {"type": "string"},
          "quantity": {"type": "integer", "minimum": 1},
          "disposition": {"enum": ["restock", "dispose"]},
          "reason": {"type": "string"}
        }
      }
    },
    "location": {"type": "string", "description": "the destination's name of the stock location"}
  }
}"#;

/// What the system that owns an order's fulfilment or finance says of it
/// (stream `order-states`), for the storefront to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderState {
    /// The storefront's id of the order.
    pub order_id: String,
    /// `on_hold`, `released`, `invoiced`, `shipped` or `cancelled`.
    pub state: String,
    /// Why, for the order's history (`credit limit exceeded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// JSON Schema of an `order-states` payload.
pub const ORDER_STATE_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["order_id", "state"],
  "properties": {
    "order_id": {"type": "string", "minLength": 1, "description": "the storefront's order id"},
    "state": {"enum": ["on_hold", "released", "invoiced", "shipped", "cancelled"]},
    "note": {"type": "string"}
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
        PRICE_LISTS => LIST_PRICE_SCHEMA,
        CUSTOMER_ACCOUNTS => CUSTOMER_ACCOUNT_SCHEMA,
        CREDIT_MEMOS => CREDIT_MEMO_SCHEMA,
        RETURNS => RETURN_SCHEMA,
        ORDER_STATES => ORDER_STATE_SCHEMA,
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
    fn an_audience_is_tagged_by_kind() {
        let all = serde_json::to_value(Audience::All).unwrap();
        assert_eq!(all, serde_json::json!({"kind": "all"}));
        let one = serde_json::to_value(Audience::Customer("C0042".into())).unwrap();
        assert_eq!(
            one,
            serde_json::json!({"kind": "customer", "code": "C0042"})
        );
        let back: Audience =
            serde_json::from_value(serde_json::json!({"kind": "group", "code": "Wholesale"}))
                .unwrap();
        assert_eq!(back, Audience::Group("Wholesale".into()));
    }

    #[test]
    fn a_quantity_takes_the_largest_break_it_reaches() {
        let price = ListPrice {
            list: "contract-C0042".into(),
            sku: "MUG".into(),
            currency: "EUR".into(),
            audience: Audience::Customer("C0042".into()),
            breaks: vec![
                PriceBreak {
                    min_quantity: 10,
                    unit_price: "9.00".into(),
                },
                PriceBreak {
                    min_quantity: 1,
                    unit_price: "10.00".into(),
                },
            ],
            valid_from: None,
            valid_until: None,
        };
        assert_eq!(price.unit_price(1), Some("10.00"));
        assert_eq!(price.unit_price(9), Some("10.00"));
        assert_eq!(price.unit_price(10), Some("9.00"));
        assert_eq!(price.unit_price(0), None);
        assert_eq!(price.key(), "contract-C0042/MUG/EUR");
    }

    #[test]
    fn only_approved_restocked_lines_go_back_on_the_shelf() {
        let line = |sku: &str, quantity, disposition: Option<&str>| ReturnLine {
            sku: sku.into(),
            quantity,
            disposition: disposition.map(Into::into),
            reason: None,
        };
        let mut back = Return {
            external_ref: "3pl:rma:1".into(),
            order_id: "1001".into(),
            state: "received".into(),
            lines: vec![
                line("MUG", 2, Some("restock")),
                line("TEE", 1, Some("dispose")),
                line("MUG", 1, Some("restock")),
            ],
            location: None,
        };
        assert!(back.restocked().is_empty());
        back.state = "approved".into();
        assert_eq!(back.restocked(), BTreeMap::from([("MUG", 3)]));
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
