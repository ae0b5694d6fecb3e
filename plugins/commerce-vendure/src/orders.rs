//! The `orders` stream: Vendure orders changed since the cursor, in the order
//! shape of `demo-shop` so that `order-to-sale` transforms them unchanged.
//!
//! The cursor and paging are [`feed`](crate::feed)'s.

use serde::{Deserialize, Serialize};
use tenon_sdk::prelude::*;

use crate::{ORDERS, feed, money};

/// JSON Schema of an `orders` payload (as `demo-shop`'s, plus Vendure extras).
pub const ORDER_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["id", "number", "status", "currency", "customer", "lines", "total", "updated_at"],
  "properties": {
    "id": {"type": "string"},
    "number": {"type": "string", "description": "Vendure's order code"},
    "status": {"enum": ["placed", "paid", "cancelled"]},
    "vendure_state": {"type": "string"},
    "currency": {"type": "string"},
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
          "quantity": {"type": "integer"},
          "unit_price": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,2})?$"}
        }
      }
    },
    "total": {"type": "string", "description": "goods with tax, without shipping"},
    "shipping": {"type": "string"},
    "total_with_shipping": {"type": "string"},
    "updated_at": {"type": "string", "format": "date-time"}
  }
}"#;

const ORDERS_QUERY: &str = r#"query Orders($options: OrderListOptions) {
  orders(options: $options) {
    items {
      id code state currencyCode updatedAt
      subTotalWithTax shippingWithTax totalWithTax
      customer { emailAddress firstName lastName }
      lines { quantity unitPriceWithTax productVariant { sku name } }
    }
  }
}"#;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VendureOrder {
    id: String,
    code: String,
    state: String,
    currency_code: String,
    updated_at: String,
    sub_total_with_tax: i64,
    shipping_with_tax: i64,
    total_with_tax: i64,
    customer: Option<VendureCustomer>,
    lines: Vec<VendureLine>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VendureCustomer {
    email_address: String,
    first_name: String,
    last_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VendureLine {
    quantity: i64,
    unit_price_with_tax: i64,
    product_variant: Variant,
}

#[derive(Deserialize)]
struct Variant {
    sku: String,
    name: String,
}

/// An `orders` payload.
#[derive(Serialize)]
struct Order {
    id: String,
    number: String,
    status: &'static str,
    vendure_state: String,
    currency: String,
    customer: Customer,
    lines: Vec<Line>,
    total: String,
    shipping: String,
    total_with_shipping: String,
    updated_at: String,
}

#[derive(Serialize)]
struct Customer {
    email: String,
    first_name: String,
    last_name: String,
}

#[derive(Serialize)]
struct Line {
    sku: String,
    name: String,
    quantity: i64,
    unit_price: String,
}

/// One page of orders after `cursor`.
pub fn read(cursor: Option<&str>, limit: u32) -> Result<Page, Error> {
    let (orders, mut mark, more) =
        feed::changed_since::<VendureOrder>(ORDERS_QUERY, "orders", cursor, limit)?;
    let mut records = Vec::with_capacity(orders.len());
    for order in orders {
        mark.advance(&order.updated_at, &feed::padded(&order.id));
        let key = order.id.clone();
        let time = order.updated_at.clone();
        records.push(Envelope::upsert(
            ORDERS,
            &key,
            &payload(order),
            Some(&time),
        )?);
    }
    log::info(format!(
        "count={} more={more} cursor={mark} Read Vendure orders.",
        records.len()
    ));
    Ok(feed::page(records, &mark, more))
}

impl feed::Changed for VendureOrder {
    fn position(&self) -> (&str, &str) {
        (&self.updated_at, &self.id)
    }
}

/// The storefront status of a Vendure order state.
fn status(state: &str) -> &'static str {
    match state {
        "Cancelled" => "cancelled",
        "PaymentSettled" | "PartiallyShipped" | "Shipped" | "PartiallyDelivered" | "Delivered" => {
            "paid"
        }
        _ => "placed",
    }
}

fn payload(order: VendureOrder) -> Order {
    let customer = order.customer.map_or_else(
        || Customer {
            email: String::new(),
            first_name: String::new(),
            last_name: String::new(),
        },
        |c| Customer {
            email: c.email_address,
            first_name: c.first_name,
            last_name: c.last_name,
        },
    );
    Order {
        status: status(&order.state),
        vendure_state: order.state,
        number: order.code,
        currency: order.currency_code,
        customer,
        lines: order
            .lines
            .into_iter()
            .map(|l| Line {
                sku: l.product_variant.sku,
                name: l.product_variant.name,
                quantity: l.quantity,
                unit_price: money::decimal(l.unit_price_with_tax),
            })
            .collect(),
        total: money::decimal(order.sub_total_with_tax),
        shipping: money::decimal(order.shipping_with_tax),
        total_with_shipping: money::decimal(order.total_with_tax),
        updated_at: order.updated_at,
        id: order.id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_map_to_storefront_statuses() {
        assert_eq!(status("Draft"), "placed");
        assert_eq!(status("ArrangingPayment"), "placed");
        assert_eq!(status("PaymentSettled"), "paid");
        assert_eq!(status("Shipped"), "paid");
        assert_eq!(status("Cancelled"), "cancelled");
    }
}
