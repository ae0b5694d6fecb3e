//! The `orders` stream: Magento orders changed since the cursor (`GET
//! /V1/orders`), as canonical [`Order`]s (so `order-to-sale` takes them
//! unchanged), plus three Magento extras.
//!
//! - `id` = `entity_id`, `number` = `increment_id` (what the customer sees);
//! - `status` from Magento's `state`: `canceled` -> `cancelled`; `processing`,
//!   `complete`, `closed` -> `paid`; `new`, `pending_payment`, `holded`,
//!   `payment_review` and any other -> `placed`;
//! - `currency` = `order_currency_code`; `customer` from `customer_email`,
//!   `customer_firstname`, `customer_lastname` (a guest's names from the
//!   billing address);
//! - `lines`: the items without a `parent_item_id`. A configurable product's
//!   line is its parent item, which carries the price and, in Magento, the
//!   chosen child's SKU; the child item under it (price 0) is left out.
//!   `quantity` = `qty_ordered` (a cancelled order keeps it), `unit_price` =
//!   `price_incl_tax`;
//! - `total` = the sum of the lines (goods with tax, without shipping), which
//!   `order-to-sale` checks; an order-level discount is in `grand_total` only;
//! - `shipping_address` from `extension_attributes.shipping_assignments[0]
//!   .shipping.address`: first and last name, street lines joined with `\n`,
//!   `city`, `postcode`, `country_id`; left out without a country (a virtual
//!   order).
//!
//! Extras: `magento_status` (the order's status label code), `shipping`
//! (`shipping_incl_tax`) and `grand_total`, decimals in the order's currency.
//! Amounts are [`money`](crate::money)'s; the cursor and paging are
//! [`feed`](crate::feed)'s.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tenon_sdk::canonical::{Address, Order, OrderCustomer, OrderLine};
use tenon_sdk::prelude::*;

use crate::rest::{Magento, Scope};
use crate::{ORDERS, feed, money};

/// An order as `GET /V1/orders` lists it (the fields the stream needs).
#[derive(Debug, Deserialize)]
pub struct MagentoOrder {
    pub entity_id: u64,
    #[serde(default)]
    increment_id: Option<String>,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    order_currency_code: String,
    #[serde(default)]
    customer_email: Option<String>,
    #[serde(default)]
    customer_firstname: Option<String>,
    #[serde(default)]
    customer_lastname: Option<String>,
    #[serde(default)]
    pub items: Vec<Item>,
    #[serde(default)]
    billing_address: Option<MagentoAddress>,
    #[serde(default)]
    extension_attributes: OrderExtension,
    pub updated_at: String,
    #[serde(default)]
    shipping_incl_tax: Value,
    #[serde(default)]
    grand_total: Value,
}

/// One item of an order.
#[derive(Debug, Deserialize)]
pub struct Item {
    #[serde(default)]
    pub item_id: u64,
    #[serde(default)]
    pub parent_item_id: Option<u64>,
    #[serde(default)]
    pub sku: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    pub qty_ordered: Value,
    #[serde(default)]
    pub qty_shipped: Value,
    #[serde(default)]
    pub qty_canceled: Value,
    #[serde(default)]
    price_incl_tax: Value,
}

#[derive(Debug, Default, Deserialize)]
struct OrderExtension {
    #[serde(default)]
    shipping_assignments: Vec<ShippingAssignment>,
}

#[derive(Debug, Deserialize)]
struct ShippingAssignment {
    #[serde(default)]
    shipping: Shipping,
}

#[derive(Debug, Default, Deserialize)]
struct Shipping {
    #[serde(default)]
    address: Option<MagentoAddress>,
}

/// An order address.
#[derive(Debug, Default, Deserialize)]
pub struct MagentoAddress {
    #[serde(default)]
    firstname: Option<String>,
    #[serde(default)]
    lastname: Option<String>,
    #[serde(default)]
    street: Vec<String>,
    #[serde(default)]
    city: Option<String>,
    #[serde(default)]
    postcode: Option<String>,
    #[serde(default)]
    country_id: Option<String>,
}

impl feed::Changed for MagentoOrder {
    fn updated_at(&self) -> &str {
        &self.updated_at
    }
    fn entity_id(&self) -> u64 {
        self.entity_id
    }
}

/// An `orders` payload: the canonical order and Magento's extras.
#[derive(Debug, Serialize)]
struct Payload {
    #[serde(flatten)]
    order: Order,
    /// Magento's order status (`processing`, `complete`, a custom one).
    magento_status: String,
    /// Shipping with tax.
    shipping: String,
    /// What the customer pays: goods, shipping, discounts, with tax.
    grand_total: String,
}

/// The order whose `entity_id` is the text `order_id` (a write stream's
/// canonical `order_id`), as `T` reads it, with that id.
pub fn fetch<T: serde::de::DeserializeOwned>(
    api: &Magento,
    order_id: &str,
) -> Result<(u64, T), Error> {
    let id: u64 = order_id.trim().parse().map_err(|_| {
        Error::permanent(format!(
            "order id `{order_id}` is not a Magento order id (its entity_id)"
        ))
    })?;
    let order = api
        .get(Scope::Store, &format!("/orders/{id}"), &[])
        .map_err(|e| e.context(format!("order {id}")))?;
    Ok((id, order))
}

/// One page of orders after `cursor`.
pub fn read(api: &Magento, cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let changes = feed::changed_since::<MagentoOrder>(api, "/orders", cursor, limit)?;
    let mut records = Vec::with_capacity(changes.records.len());
    for held in changes.records {
        let payload = payload(held.record, &held.time)
            .map_err(|e| Error::permanent(feed::refusal(&e, &held.time, &held.key)))?;
        records.push(Envelope::upsert(
            ORDERS,
            &payload.order.id,
            &payload,
            Some(&held.time),
        )?);
    }
    log::info(format!(
        "count={} more={} cursor={} Read Magento orders.",
        records.len(),
        changes.more,
        changes.mark
    ));
    Ok(feed::page(records, &changes.mark, changes.more))
}

/// `rows` of a credit memo or a shipment without those Magento adds under a
/// configurable line: a row without an amount (`priced` false) whose SKU a
/// priced row has too (in Magento the parent line carries the child's SKU).
/// Such documents have no `parent_item_id` to tell them apart by.
pub fn without_child_rows<T>(
    rows: Vec<T>,
    sku: impl Fn(&T) -> &str,
    priced: impl Fn(&T) -> bool,
) -> Vec<T> {
    let priced_skus: Vec<String> = rows
        .iter()
        .filter(|r| priced(r))
        .map(|r| sku(r).to_owned())
        .collect();
    rows.into_iter()
        .filter(|r| priced(r) || !priced_skus.iter().any(|s| s == sku(r)))
        .collect()
}

/// The storefront status of a Magento order state.
fn status(state: &str) -> &'static str {
    match state {
        "canceled" => "cancelled",
        "processing" | "complete" | "closed" => "paid",
        _ => "placed",
    }
}

/// Non-empty text, trimmed.
fn text(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// First and last name joined by a space, either left out when empty.
fn full_name(first: Option<&str>, last: Option<&str>) -> String {
    [text(first), text(last)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The canonical address of a Magento one, if it has a country.
fn address(a: &MagentoAddress) -> Option<Address> {
    let country = text(a.country_id.as_deref())?;
    Some(Address {
        name: full_name(a.firstname.as_deref(), a.lastname.as_deref()),
        street: a
            .street
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\n"),
        city: a.city.clone().unwrap_or_default(),
        postal_code: a.postcode.clone().unwrap_or_default(),
        country: country.to_ascii_uppercase(),
    })
}

/// The payload of an order updated at `time` (RFC 3339), or why it cannot
/// be one.
fn payload(order: MagentoOrder, time: &str) -> Result<Payload, String> {
    let id = order.entity_id.to_string();
    let currency = order.order_currency_code.clone();
    if currency.is_empty() {
        return Err(format!("order {id} has no `order_currency_code`"));
    }
    let mut lines = Vec::new();
    let mut total: i64 = 0;
    for item in order.items.iter().filter(|i| i.parent_item_id.is_none()) {
        let quantity = money::whole(&item.qty_ordered).ok_or_else(|| {
            format!(
                "order {id}: sku `{}` has quantity `{}`, not a whole number",
                item.sku, item.qty_ordered
            )
        })?;
        if quantity < 1 {
            continue;
        }
        let unit = money::minor(&item.price_incl_tax, &currency)
            .map_err(|e| format!("order {id}: sku `{}`: price_incl_tax {e}", item.sku))?;
        total = unit
            .checked_mul(quantity)
            .and_then(|line| total.checked_add(line))
            .ok_or_else(|| format!("order {id}: its total overflows"))?;
        lines.push(OrderLine {
            sku: item.sku.clone(),
            name: item.name.clone().unwrap_or_default(),
            quantity,
            unit_price: money::decimal(unit, &currency),
        });
    }
    let billing = order.billing_address.as_ref();
    let first = text(order.customer_firstname.as_deref())
        .or_else(|| billing.and_then(|b| text(b.firstname.as_deref())));
    let last = text(order.customer_lastname.as_deref())
        .or_else(|| billing.and_then(|b| text(b.lastname.as_deref())));
    let shipping = money::minor_or_zero(&order.shipping_incl_tax, &currency)
        .map_err(|e| format!("order {id}: shipping_incl_tax {e}"))?;
    let grand_total = money::minor_or_zero(&order.grand_total, &currency)
        .map_err(|e| format!("order {id}: grand_total {e}"))?;
    Ok(Payload {
        order: Order {
            status: status(&order.state).to_owned(),
            number: order.increment_id.clone().filter(|n| !n.is_empty()),
            currency: currency.clone(),
            customer: OrderCustomer {
                email: order.customer_email.clone().unwrap_or_default(),
                first_name: first.unwrap_or_default().to_owned(),
                last_name: last.unwrap_or_default().to_owned(),
            },
            lines,
            total: money::decimal(total, &currency),
            shipping_address: order
                .extension_attributes
                .shipping_assignments
                .first()
                .and_then(|a| a.shipping.address.as_ref())
                .and_then(address),
            updated_at: time.to_owned(),
            id,
        },
        magento_status: order.status,
        shipping: money::decimal(shipping, &currency),
        grand_total: money::decimal(grand_total, &currency),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An order as Magento 2.4 lists it: a configurable tee (parent line with
    /// the price and the child's sku, child line at 0), a simple mug, amounts
    /// as float numbers.
    fn magento_order() -> Value {
        json!({
            "entity_id": 1042, "increment_id": "000000042", "state": "processing",
            "status": "processing", "order_currency_code": "EUR",
            "base_currency_code": "EUR",
            "customer_email": "ada@example.com", "customer_firstname": "Ada",
            "customer_lastname": "Lovelace",
            "created_at": "2026-11-23 09:58:12", "updated_at": "2026-11-23 10:00:00",
            "subtotal_incl_tax": 50.1, "shipping_incl_tax": 4.9, "grand_total": 55.0,
            "items": [
                {"item_id": 1, "sku": "TEE-M", "name": "Tee", "product_type": "configurable",
                 "qty_ordered": 2, "price": 16.72, "price_incl_tax": 19.9, "row_total_incl_tax": 39.8},
                {"item_id": 2, "parent_item_id": 1, "sku": "TEE-M", "name": "Tee M",
                 "product_type": "simple", "qty_ordered": 2, "price": 0, "price_incl_tax": 0},
                {"item_id": 3, "sku": "MUG", "name": "Mug", "product_type": "simple",
                 "qty_ordered": 1.0, "price_incl_tax": 0.1 + 0.2 + 10.0}
            ],
            "billing_address": {"firstname": "Ada", "lastname": "Lovelace", "street": ["Main 1"],
                                "city": "Berlin", "postcode": "10115", "country_id": "DE"},
            "extension_attributes": {"shipping_assignments": [{"shipping": {
                "address": {"firstname": "Ada", "lastname": "Lovelace",
                            "street": ["Main 1", "Hinterhaus"], "city": "Berlin",
                            "postcode": "10115", "country_id": "de"},
                "method": "flatrate_flatrate"}}]}
        })
    }

    fn mapped(order: Value) -> Result<Value, String> {
        let order: MagentoOrder = serde_json::from_value(order).unwrap();
        let time = feed::rfc3339(&order.updated_at).unwrap();
        payload(order, &time).map(|p| serde_json::to_value(p).unwrap())
    }

    #[test]
    fn a_magento_order_becomes_a_canonical_order_with_exact_amounts() {
        let payload = mapped(magento_order()).unwrap();
        assert_eq!(payload["id"], "1042");
        assert_eq!(payload["number"], "000000042");
        assert_eq!(payload["status"], "paid");
        assert_eq!(payload["updated_at"], "2026-11-23T10:00:00Z");
        assert_eq!(
            payload["lines"],
            json!([
                {"sku": "TEE-M", "name": "Tee", "quantity": 2, "unit_price": "19.90"},
                {"sku": "MUG", "name": "Mug", "quantity": 1, "unit_price": "10.30"}
            ])
        );
        assert_eq!(payload["total"], "50.10", "the sum of the lines");
        assert_eq!(payload["shipping"], "4.90");
        assert_eq!(payload["grand_total"], "55.00");
        assert_eq!(
            payload["shipping_address"],
            json!({"name": "Ada Lovelace", "street": "Main 1\nHinterhaus", "city": "Berlin",
                   "postal_code": "10115", "country": "DE"})
        );
        // What order-to-sale reads back.
        let order: Order = serde_json::from_value(payload).unwrap();
        assert_eq!(order.customer.full_name(), "Ada Lovelace");
    }

    #[test]
    fn states_map_to_storefront_statuses() {
        for (state, expected) in [
            ("new", "placed"),
            ("pending_payment", "placed"),
            ("holded", "placed"),
            ("processing", "paid"),
            ("complete", "paid"),
            ("closed", "paid"),
            ("canceled", "cancelled"),
        ] {
            assert_eq!(status(state), expected, "{state}");
        }
    }

    #[test]
    fn a_guest_order_without_shipping_takes_the_billing_names() {
        let mut order = magento_order();
        order["customer_firstname"] = Value::Null;
        order["customer_lastname"] = Value::Null;
        order["extension_attributes"] = json!({});
        order["shipping_incl_tax"] = Value::Null;
        let payload = mapped(order).unwrap();
        assert_eq!(payload["customer"]["first_name"], "Ada");
        assert!(payload.get("shipping_address").is_none());
        assert_eq!(payload["shipping"], "0.00");
    }

    #[test]
    fn an_order_that_cannot_be_mapped_says_why() {
        let mut order = magento_order();
        order["items"][2]["qty_ordered"] = json!(1.5);
        assert!(
            mapped(order)
                .unwrap_err()
                .contains("sku `MUG` has quantity `1.5`")
        );
    }
}
