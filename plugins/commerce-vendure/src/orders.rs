//! The `orders` stream: Vendure orders changed since the cursor, as canonical
//! [`Order`]s (so `order-to-sale` and any canonical destination take them
//! unchanged), plus three Vendure extras.
//!
//! Payload: the canonical order `{id, number, status, currency, customer,
//! lines, total, shipping_address?, updated_at}` with `vendure_state` (the
//! Vendure order state), `shipping` and `total_with_shipping` (decimals with
//! tax). `shipping_address` maps Vendure's `shippingAddress`: `fullName` ->
//! `name`, `streetLine1` and a non-empty `streetLine2` joined with `\n` ->
//! `street`, `city`, `postalCode` -> `postal_code`, `countryCode` upper-cased ->
//! `country`; it is left out when the order has no address with a country.
//! Amounts are [`money`](crate::money)'s decimals. The cursor and paging are
//! [`feed`](crate::feed)'s.

use serde::{Deserialize, Serialize};
use tenon_sdk::canonical::{Address, Order, OrderCustomer, OrderLine};
use tenon_sdk::prelude::*;

use crate::{ORDERS, feed, money};

const ORDERS_QUERY: &str = r#"query Orders($options: OrderListOptions) {
  orders(options: $options) {
    items {
      id code state currencyCode updatedAt
      subTotalWithTax shippingWithTax totalWithTax
      customer { emailAddress firstName lastName }
      lines { quantity orderPlacedQuantity unitPriceWithTax productVariant { sku name } }
      shippingAddress { fullName streetLine1 streetLine2 city postalCode countryCode }
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
    shipping_address: Option<VendureAddress>,
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
    /// The quantity when the order was placed: a cancelled line keeps it
    /// here while its `quantity` drops to 0.
    #[serde(default)]
    order_placed_quantity: i64,
    unit_price_with_tax: i64,
    product_variant: Variant,
}

#[derive(Deserialize)]
struct Variant {
    sku: String,
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct VendureAddress {
    full_name: Option<String>,
    street_line1: Option<String>,
    street_line2: Option<String>,
    city: Option<String>,
    postal_code: Option<String>,
    country_code: Option<String>,
}

/// An `orders` payload: the canonical order and Vendure's extras.
#[derive(Serialize)]
struct Payload {
    #[serde(flatten)]
    order: Order,
    /// Vendure's order state (`PaymentSettled`, `Shipped`...).
    vendure_state: String,
    /// Shipping with tax.
    shipping: String,
    /// Goods and shipping with tax.
    total_with_shipping: String,
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

/// The canonical address of Vendure's `shippingAddress`, if it has a country.
fn address(a: VendureAddress) -> Option<Address> {
    let country = a.country_code.filter(|c| !c.trim().is_empty())?;
    let mut street = a.street_line1.unwrap_or_default();
    if let Some(line2) = a.street_line2.filter(|l| !l.is_empty()) {
        street.push('\n');
        street.push_str(&line2);
    }
    Some(Address {
        name: a.full_name.unwrap_or_default(),
        street,
        city: a.city.unwrap_or_default(),
        postal_code: a.postal_code.unwrap_or_default(),
        country: country.trim().to_ascii_uppercase(),
    })
}

fn payload(order: VendureOrder) -> Payload {
    let customer = order.customer.map_or_else(
        || OrderCustomer {
            email: String::new(),
            first_name: String::new(),
            last_name: String::new(),
        },
        |c| OrderCustomer {
            email: c.email_address,
            first_name: c.first_name,
            last_name: c.last_name,
        },
    );
    let currency = order.currency_code;
    // Vendure cancels an order by setting its lines' quantities (and so its
    // totals) to 0. The canonical order keeps what was ordered, as a
    // cancelled ERP sale keeps its lines; a line cancelled from an order that
    // goes on is no longer part of it.
    let cancelled = order.state == "Cancelled";
    let lines: Vec<VendureLine> = order
        .lines
        .into_iter()
        .map(|mut l| {
            if cancelled && l.quantity == 0 {
                l.quantity = l.order_placed_quantity;
            }
            l
        })
        .filter(|l| l.quantity > 0)
        .collect();
    let goods = if cancelled {
        lines
            .iter()
            .map(|l| l.quantity * l.unit_price_with_tax)
            .sum()
    } else {
        order.sub_total_with_tax
    };
    Payload {
        order: Order {
            status: status(&order.state).to_owned(),
            number: Some(order.code),
            customer,
            lines: lines
                .into_iter()
                .map(|l| OrderLine {
                    sku: l.product_variant.sku,
                    name: l.product_variant.name,
                    quantity: l.quantity,
                    unit_price: money::decimal(l.unit_price_with_tax, &currency),
                })
                .collect(),
            total: money::decimal(goods, &currency),
            shipping_address: order.shipping_address.and_then(address),
            updated_at: order.updated_at,
            id: order.id,
            currency: currency.clone(),
        },
        vendure_state: order.state,
        shipping: money::decimal(order.shipping_with_tax, &currency),
        total_with_shipping: money::decimal(order.total_with_tax, &currency),
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

    #[test]
    fn addresses_join_street_lines_and_need_a_country() {
        let full = VendureAddress {
            full_name: Some("Ada Lovelace".into()),
            street_line1: Some("Main 1".into()),
            street_line2: Some("Hinterhaus".into()),
            city: Some("Berlin".into()),
            postal_code: Some("10115".into()),
            country_code: Some("de".into()),
        };
        assert_eq!(
            address(full),
            Some(Address {
                name: "Ada Lovelace".into(),
                street: "Main 1\nHinterhaus".into(),
                city: "Berlin".into(),
                postal_code: "10115".into(),
                country: "DE".into(),
            })
        );
        let one_line = VendureAddress {
            street_line1: Some("Main 1".into()),
            street_line2: Some(String::new()),
            country_code: Some("DE".into()),
            ..VendureAddress::default()
        };
        assert_eq!(address(one_line).unwrap().street, "Main 1");
        assert_eq!(address(VendureAddress::default()), None);
    }
}
